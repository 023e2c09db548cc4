// escape_insnwrite: another process writes over the syscall instruction
// the guard runs its calls from, between the guard's SETREGS and the
// call, so that the task runs the program's code with the guard's
// registers instead. Resumed with PTRACE_SYSCALL, the task stops at its
// next call of any kind, which the guard checks (checkInjected);
// resumed with PTRACE_CONT (as for a seccomp stop taken for certain),
// nothing stops it before its next trapped call, and its untrapped
// calls meanwhile see what the skipped call was to reserve unreserved.
// argv[1] says how:
//
//   exec VICTIM LO HI  (exec-entry-rewritten) 10 times: fork a child that
//        execs VICTIM (insnwrite_victim.c) with LO HI, the protected range;
//        once the exec is done (a close-on-exec pipe), open the child's
//        /proc/PID/mem and, as soon as the guard's syscall instruction
//        shows at the child's entry point, write the victim's own bytes
//        (two nops) back over it (FOLL_FORCE). The victim reports
//        whether the range is reserved at its start; killed (fail
//        closed) is fine too.
//   exec VICTIM LO HI int80  the same, writing int $0x80 instead: the
//        guard's call made through the i386 entry, where its number is
//        another call's (mmap's 9 is link's).
//   exec VICTIM LO HI jmpself  the same, writing a jump to itself.
//   putback  (putback-insn-rewritten) in a child, up to 300 times: map
//        0x40000000 (in the range), then move it out of the range with
//        mremap(MREMAP_FIXED) made from a syscall instruction in a page
//        of a memfd mapped shared, whose other mapping a forked helper
//        writes two nops over as soon as it sees the child stopped (in
//        the mremap's stops): the guard's reservation put back over the
//        hole runs from that instruction. The mremap "returning" 9 (the
//        guard's mmap's number) says the program's code ran in its
//        place: the hole must not be there then. Killed is fine too.
#include "escape.h"

#include <elf.h>
#include <sys/wait.h>

static void exec_mode(const char *victim, const char *lo, const char *hi, const char *with) {
	Elf64_Ehdr eh;
	int vf = open(victim, O_RDONLY | O_CLOEXEC);
	if (vf < 0 || read(vf, &eh, sizeof eh) != sizeof eh) {
		verdict("exec-entry-rewritten", 0, "reading %s: %s", victim, ename(errno));
		return;
	}
	close(vf);
	int wrote = 0;
	for (int i = 0; i < 10; i++) {
		int p[2];
		if (pipe2(p, O_CLOEXEC)) {
			verdict("exec-entry-rewritten", 0, "pipe2: %s", ename(errno));
			return;
		}
		pid_t c = fork();
		if (c == 0) {
			close(p[0]);
			execl(victim, victim, lo, hi, (char *)0);
			_exit(127);
		}
		close(p[1]);
		char b;
		while (read(p[0], &b, 1) > 0) {}
		close(p[0]);
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/mem", c);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		int done = 0;
		for (long k = 0; fd >= 0 && k < 5000000 && !done; k++) {
			unsigned char got[2];
			if (pread(fd, got, 2, eh.e_entry) != 2) break; // gone
			if (got[0] == 0x0f && got[1] == 0x05) done = pwrite(fd, with, 2, eh.e_entry) == 2;
		}
		if (fd >= 0) close(fd);
		wrote += done;
		int st;
		if (waitpid(c, &st, 0) != c) {
			verdict("exec-entry-rewritten", 0, "waitpid: %s", ename(errno));
			return;
		}
		if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
			verdict("exec-entry-rewritten", 1, "the child was killed (fail closed), its entry point %s",
			        done ? "rewritten" : "not rewritten");
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			verdict("exec-entry-rewritten", 0, "the child ended with status %#x", st);
	}
	say("exec-entry-rewritten info: the entry point rewritten in %d of 10 execs", wrote);
}

// The code in the memfd: sys(nr, a, b, c, d, e) makes the call from the
// syscall instruction at offset 18 and returns.
static const unsigned char code[] = {
	0x48, 0x89, 0xf8, // mov %rdi, %rax
	0x48, 0x89, 0xf7, // mov %rsi, %rdi
	0x48, 0x89, 0xd6, // mov %rdx, %rsi
	0x48, 0x89, 0xca, // mov %rcx, %rdx
	0x4d, 0x89, 0xc2, // mov %r8, %r10
	0x4d, 0x89, 0xc8, // mov %r9, %r8
	0x0f, 0x05,       // syscall
	0xc3,             // ret
};
enum { insnAt = 18 };

struct shared {
	volatile int armed, quit;
};

// helper writes nops over the instruction (through w) whenever child,
// armed, is seen in a ptrace stop.
static void helper(struct shared *sh, unsigned char *w, pid_t child) {
	char path[64], st[512];
	snprintf(path, sizeof path, "/proc/%d/stat", child);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) _exit(1);
	int seen = 0;
	while (!sh->quit && getppid() == child) {
		if (sh->armed == seen) continue;
		ssize_t n = pread(fd, st, sizeof st - 1, 0);
		if (n <= 0) break;
		st[n] = 0;
		char *r = strrchr(st, ')');
		if (r && r[1] == ' ' && r[2] == 't') {
			w[insnAt] = 0x90;
			w[insnAt + 1] = 0x90;
			seen = sh->armed;
		}
	}
	_exit(0);
}

static void putback_child(void) {
	const unsigned long at = 0x40000000, n = 16 * PAGE;
	int mfd = memfd_create("insnwrite", MFD_CLOEXEC);
	if (mfd < 0 || ftruncate(mfd, PAGE)) {
		verdict("putback-insn-rewritten", 0, "memfd: %s", ename(errno));
		return;
	}
	unsigned char *w = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	void *x = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, mfd, 0);
	struct shared *sh = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED || x == MAP_FAILED || sh == MAP_FAILED) {
		verdict("putback-insn-rewritten", 0, "mmap: %s", ename(errno));
		return;
	}
	memcpy(w, code, sizeof code);
	long (*sys)(long, long, long, long, long, long) = (long (*)(long, long, long, long, long, long))x;
	pid_t me = getpid(), h = fork();
	if (h == 0) helper(sh, w, me);
	int tries = 0, hits = 0;
	for (; tries < 300 && !hits; tries++) {
		void *p = mmap((void *)at, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		void *dest = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != (void *)at || dest == MAP_FAILED) {
			verdict("putback-insn-rewritten", 0, "mmap(%#lx, MAP_FIXED) = %p, mmap(NULL) = %p: %s", at, p, dest,
			        ename(errno));
			break;
		}
		memset(p, 1, n);
		allow(at, n);
		w[insnAt] = 0x0f;
		w[insnAt + 1] = 0x05;
		sh->armed = tries + 1;
		long r = sys(SYS_mremap, at, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, (long)dest);
		if (r == SYS_mmap) {
			// The program's code ran where the guard's mmap was to.
			hits++;
			pthread_mutex_lock(&maps_lock);
			nokv = 0; // the range's mapping at 0x40000000 is gone: nothing there is asked for now
			pthread_mutex_unlock(&maps_lock);
			int res = reserved(at, n);
			verdict("putback-insn-rewritten", res, "the guard's reservation at %#lx skipped: %s", at,
			        res ? "reserved all the same" : "a HOLE in the protected range");
		} else if (r != (long)dest) {
			verdict("putback-insn-rewritten", 0, "mremap = %#lx, want %p", r, dest);
			break;
		} else {
			munmap(dest, n);
		}
	}
	sh->quit = 1;
	waitpid(h, NULL, 0);
	say("putback-insn-rewritten info: %d tries, %d with the program's code in the guard's call", tries, hits);
	if (!hits) verdict("putback-insn-rewritten", 1, "no try had the program's code in the guard's call");
}

static void putback_mode(void) {
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		putback_child();
		_exit(failures ? 1 : 0);
	}
	int st;
	if (waitpid(c, &st, 0) != c) {
		verdict("putback-insn-rewritten", 0, "waitpid: %s", ename(errno));
		return;
	}
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL)
		verdict("putback-insn-rewritten", 1, "the child was killed (fail closed)");
	else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		say("putback-insn-rewritten FAIL: the child ended with status %#x", st);
		failures++;
	}
}

int main(int argc, char **argv) {
	if (argc > 4 && strcmp(argv[1], "exec") == 0)
		exec_mode(argv[2], argv[3], argv[4],
		          argc > 5 && strcmp(argv[5], "int80") == 0     ? "\xcd\x80"
		          : argc > 5 && strcmp(argv[5], "jmpself") == 0 ? "\xeb\xfe"
		                                                        : "\x90\x90");
	else if (argc > 1 && strcmp(argv[1], "putback") == 0) putback_mode();
	else return 2;
	return finish();
}
