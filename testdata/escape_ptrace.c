// escape_ptrace: a program that tries to become a tracer itself, of
// itself or of its own child: a task has one tracer, and under the guard
// every task of the program already has it (EPERM). The child stays
// traced by the guard and guarded.
#include "escape.h"

#include <sys/ptrace.h>
#include <sys/wait.h>

static long tracer_pid(pid_t pid) {
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0) return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return -1;
	buf[n] = 0;
	char *p = strstr(buf, "TracerPid:");
	return p ? strtol(p + 10, NULL, 10) : -1;
}

int main(void) {
	long r = ptrace(PTRACE_TRACEME, 0, 0, 0);
	expect_errno("ptrace-traceme", r, errno, EPERM, "ptrace(PTRACE_TRACEME)");

	int go[2], back[2];
	if (pipe(go) != 0 || pipe(back) != 0) return 2;
	pid_t child = fork();
	if (child == 0) {
		// Wait until the parent has tried, then try ourselves and check
		// that we are still guarded.
		char c;
		if (read(go[0], &c, 1) != 1) _exit(3);
		long t = ptrace(PTRACE_TRACEME, 0, 0, 0);
		int e = errno;
		expect_errno("child-ptrace-traceme", t, e, EPERM, "child: ptrace(PTRACE_TRACEME)");
		t = ptrace(PTRACE_ATTACH, getppid(), 0, 0);
		e = errno;
		expect_errno("child-ptrace-attach-parent", t, e, EPERM, "child: ptrace(PTRACE_ATTACH, parent)");
		long tr = tracer_pid(getpid());
		void *p = mmap((void *)0x30000000, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		e = errno;
		verdict("child-still-guarded", tr > 0 && tr != getppid() && reserved(0x30000000, PAGE) && p != (void *)0x30000000,
		        "child: TracerPid %ld (parent %d), range reserved: %s, mmap(hint 0x30000000) = %p", tr, getppid(),
		        reserved(0x31000000, PAGE) ? "yes" : "no", p);
		_exit(failures ? 1 : 0);
	}
	r = ptrace(PTRACE_ATTACH, child, 0, 0);
	expect_errno("ptrace-attach-child", r, errno, EPERM, "ptrace(PTRACE_ATTACH, child)");
	if (r == 0) { waitpid(child, NULL, 0); ptrace(PTRACE_DETACH, child, 0, 0); }
	r = ptrace(PTRACE_SEIZE, child, 0, PTRACE_O_TRACESYSGOOD);
	expect_errno("ptrace-seize-child", r, errno, EPERM, "ptrace(PTRACE_SEIZE, child)");
	if (r == 0) ptrace(PTRACE_DETACH, child, 0, 0);
	long tr = tracer_pid(child);
	verdict("child-tracer", tr > 0 && tr != getpid(), "child's TracerPid %ld (we are %d)", tr, getpid());
	ssize_t w = write(go[1], "x", 1);
	(void)w;
	int st = 0;
	waitpid(child, &st, 0);
	verdict("child-exit", WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	return finish();
}
