// escape_uffdkill: a mapping of the program's inside the range (with
// "strict": a page of its .bss, built with -no-pie; else a MAP_FIXED
// page at 0x50000000) is registered with a userfaultfd that asks for
// remap events (UFFD_FEATURE_EVENT_REMAP, UFFD_USER_MODE_ONLY: no
// privilege needed). A vfork child moves it out of the range with
// mremap: the kernel moves it, then, still inside the call, waits for
// the event to be read, which nobody does. Another process of the
// program (forked before, its memory its own) sees the child waiting
// and kills it with SIGKILL: the child dies in the call, without a stop
// at its exit, where the guard would have put the reservation back. The
// parent, which shares the memory, goes on with the hole (with
// "clonevm" the child is made with clone(CLONE_VM|SIGCHLD) instead, and
// the parent only waits for it): MAP_32BIT
// (below 2 GiB) or, with "strict", i386 mmap2(NULL) once the space
// above the range is used up, lands in it. The guard must kill the
// parent too (fail closed): the probe prints "inside" if it did not.
// With "nofile" the killer first lowers mmapguard's RLIMIT_NOFILE to 0
// with prlimit(2), which needs no privilege over a process of the same
// user (mmapguard's not being dumpable does not matter): the guard can
// then read nothing of /proc, and must not take that for the parent
// being gone.
#include "escape.h"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

static char bss[16 * PAGE] __attribute__((aligned(4096)));

// proc_read reads /proc/PID/NAME into buf (NUL-terminated); 0 if it
// cannot.
static int proc_read(pid_t pid, const char *name, char *buf, size_t size) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0) return 0;
	buf[n] = 0;
	return 1;
}

// state returns the state letter of /proc/PID/stat ('D' while the child
// waits for its event to be read), or 0.
static char state(pid_t pid) {
	char buf[512];
	if (!proc_read(pid, "stat", buf, sizeof buf)) return 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

// tracer_of returns the TracerPid of process pid, or 0.
static pid_t tracer_of(pid_t pid) {
	char buf[4096];
	if (!proc_read(pid, "status", buf, sizeof buf)) return 0;
	char *p = strstr(buf, "TracerPid:");
	return p ? atoi(p + 10) : 0;
}

static unsigned long from, to;
static int tell;

// mover moves the mapping out; the call waits, after the move, for the
// event to be read.
static int mover(void *arg) {
	(void)arg;
	pid_t me = syscall(SYS_getpid);
	syscall(SYS_write, tell, &me, sizeof me);
	syscall(SYS_mremap, from, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	syscall(SYS_exit, 0);
	return 0;
}

static char stack[64 * 1024] __attribute__((aligned(16)));

int main(int argc, char **argv) {
	set_mode(argc, argv);
	unsigned long m = 0x50000000;
	if (strict_mode) {
		m = ((unsigned long)bss + 8 * PAGE) & ~(PAGE - 1);
	} else if (mmap((void *)m, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
	           (void *)m) {
		say("uffdkill FAIL: MAP_FIXED at %#lx: %s", m, ename(errno));
		return 1;
	}
	((volatile char *)m)[0] = 1;
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0) {
		say("uffdkill FAIL: userfaultfd: %s", ename(errno));
		return 1;
	}
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMAP};
	struct uffdio_register reg = {.range = {.start = m, .len = PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
		say("uffdkill FAIL: registering %#lx: %s", m, ename(errno));
		return 1;
	}
	int clonevm = 0, nofile = 0;
	for (int i = 1; i < argc; i++) {
		clonevm |= strcmp(argv[i], "clonevm") == 0;
		nofile |= strcmp(argv[i], "nofile") == 0;
	}
	int pfd[2];
	if (pipe(pfd) != 0) return 1;
	// The killer: a process of its own, which no freeze of the parent's
	// memory stops.
	pid_t k = fork();
	if (k == 0) {
		pid_t c = 0;
		if (read(pfd[0], &c, sizeof c) != sizeof c) _exit(1);
		for (int i = 0; i < 5000 && state(c) != 'D'; i++) usleep(1000);
		usleep(20000);
		if (nofile) {
			pid_t tp = tracer_of(c);
			struct rlimit rl = {0, 0};
			if (tp > 0 && prlimit(tp, RLIMIT_NOFILE, NULL, &rl) == 0) {
				rl.rlim_cur = 0;
				if (prlimit(tp, RLIMIT_NOFILE, &rl, NULL) != 0) say("uffdkill info: prlimit: %s", ename(errno));
			}
		}
		kill(c, SIGKILL);
		_exit(0);
	}
	from = m, tell = pfd[1];
	to = (unsigned long)mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t c;
	if (clonevm) {
		c = clone(mover, stack + sizeof stack, CLONE_VM | SIGCHLD, 0);
	} else if ((c = vfork()) == 0) {
		mover(0);
		_exit(0);
	}
	int st = 0;
	waitpid(c, &st, 0);
	waitpid(k, NULL, 0);
	say("uffdkill info: the child ended with status %#x", st);
	unsigned long p = (unsigned long)mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (p != (unsigned long)MAP_FAILED && in_range(p, PAGE)) say("uffdkill inside: MAP_32BIT at %#lx", p);
	// i386 mmap2(NULL) goes top-down below 4 GiB: fill what lies above
	// the range, the next lands in the highest hole below.
	unsigned long sizes[] = {256UL << 20, 32UL << 20, 1UL << 20, PAGE};
	for (int j = 0; j < 4; j++)
		for (int i = 0; i < 4096; i++) {
			unsigned long r = int80(192, 0, sizes[j], PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1UL, 0);
			if (r > 0xfffff000UL) break;
			if (in_range(r, PAGE)) {
				say("uffdkill inside: i386 mmap2(NULL, %#lx) at %#lx", sizes[j], r);
				j = 4;
				break;
			}
		}
	say("uffdkill info: %s", reserved(m, PAGE) ? "the reservation is back" : "a hole where the mapping was");
	return finish();
}
