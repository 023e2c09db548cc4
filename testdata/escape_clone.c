// escape_clone: ways to start a task the tracer would not follow.
//   - raw clone3 (its flags live in memory the filter cannot read): ENOSYS;
//   - clone with CLONE_UNTRACED, alone, with garbage in the upper half
//     of the flags, and vfork-like with CLONE_VM|CLONE_VFORK whose child
//     would map memory in the shared address space: EPERM;
//   - the same through the i386 entry;
//   - what must keep working: pthread_create (glibc falls back from
//     clone3 to clone), fork, vfork, posix_spawn, and each new task is
//     traced.
#include "escape.h"

#include <linux/sched.h>
#include <sched.h>
#include <spawn.h>
#include <sys/wait.h>

#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif

extern char **environ;

// clone_child_maps runs clone(flags) directly; a child (if the call
// works) maps one page with a hint at 0x30000000, touching nothing else
// of the parent's (it may share its stack), and exits.
static long clone_child_maps(unsigned long flags) {
	long ret;
	__asm__ volatile("syscall\n\t"
	                 "test %%rax, %%rax\n\t"
	                 "jnz 1f\n\t"
	                 // child: mmap(0x30000000, 4096, RW, PRIVATE|ANON, -1, 0); exit(0)
	                 "mov $9, %%eax\n\t"
	                 "mov $0x30000000, %%edi\n\t"
	                 "mov $4096, %%esi\n\t"
	                 "mov $3, %%edx\n\t"
	                 "mov $0x22, %%r10d\n\t"
	                 "mov $-1, %%r8\n\t"
	                 "xor %%r9d, %%r9d\n\t"
	                 "syscall\n\t"
	                 "mov $60, %%eax\n\t"
	                 "xor %%edi, %%edi\n\t"
	                 "syscall\n\t"
	                 "1:"
	                 : "=a"(ret)
	                 : "a"(SYS_clone), "D"(flags), "S"(0), "d"(0)
	                 : "rcx", "r8", "r9", "r10", "r11", "memory");
	return ret;
}

static void reap(long pid) {
	if (pid > 0) waitpid(pid, NULL, __WALL);
}

static int traced(pid_t tid) {
	char path[64], buf[4096];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", tid);
	int fd = open(path, O_RDONLY);
	if (fd < 0) return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return -1;
	buf[n] = 0;
	char *t = strstr(buf, "TracerPid:");
	return t ? atoi(t + 10) : -1;
}

static void *thread(void *arg) {
	*(int *)arg = traced(gettid());
	return NULL;
}

int main(void) {
	// clone3, as glibc would call it for a thread, and as a fork.
	{
		struct clone_args ca = {.flags = 0, .exit_signal = SIGCHLD};
		long r = syscall(SYS_clone3, &ca, sizeof ca);
		if (r == 0) _exit(0);
		reap(r);
		expect_errno("clone3-raw", r, errno, ENOSYS, "clone3({exit_signal SIGCHLD})");
		ca.flags = CLONE_UNTRACED;
		r = syscall(SYS_clone3, &ca, sizeof ca);
		if (r == 0) _exit(0);
		reap(r);
		expect_errno("clone3-untraced", r, errno, ENOSYS, "clone3({CLONE_UNTRACED})");
		r = syscall(SYS_clone3, NULL, 0);
		expect_errno("clone3-bad-args", r, errno, ENOSYS, "clone3(NULL, 0)");
	}
	// clone with CLONE_UNTRACED.
	{
		long r = clone_child_maps(CLONE_UNTRACED | SIGCHLD);
		reap(r);
		expect_errno("clone-untraced", r < 0 ? -1 : r, r < 0 ? (int)-r : 0, EPERM, "clone(CLONE_UNTRACED|SIGCHLD)");
		r = clone_child_maps(0xffffffff00000000UL | CLONE_UNTRACED | SIGCHLD);
		reap(r);
		expect_errno("clone-untraced-hi-garbage", r < 0 ? -1 : r, r < 0 ? (int)-r : 0, EPERM,
		             "clone(ffffffff:CLONE_UNTRACED|SIGCHLD)");
		// The dangerous one: the child shares the address space and,
		// untraced, could map anything there.
		r = clone_child_maps(CLONE_UNTRACED | CLONE_VM | CLONE_VFORK | SIGCHLD);
		reap(r);
		expect_errno("clone-untraced-vm-vfork", r < 0 ? -1 : r, r < 0 ? (int)-r : 0, EPERM,
		             "clone(CLONE_UNTRACED|CLONE_VM|CLONE_VFORK), child maps a hint at 0x30000000");
	}
	// The i386 entry.
	{
		unsigned long r = int80(NR32_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0, 0);
		if (r == 0) _exit(0);
		if (!err32(r)) reap(r);
		expect_errno("i386-clone-untraced", err32(r) ? -1 : (long)r, err32(r), EPERM, "i386 clone(CLONE_UNTRACED)");
		struct clone_args *ca = low4g();
		memset(ca, 0, sizeof *ca);
		ca->exit_signal = SIGCHLD;
		r = int80(NR32_clone3, (unsigned long)ca, sizeof *ca, 0, 0, 0, 0);
		if (r == 0) _exit(0);
		if (!err32(r)) reap(r);
		expect_errno("i386-clone3", err32(r) ? -1 : (long)r, err32(r), ENOSYS, "i386 clone3");
	}
	// What must keep working, traced.
	{
		int tracer = -2;
		pthread_t t;
		int e = pthread_create(&t, NULL, thread, &tracer);
		if (e == 0) pthread_join(t, NULL);
		verdict("pthread-create", e == 0 && tracer > 0, "pthread_create: %s, thread's TracerPid %d", e ? ename(e) : "ok",
		        tracer);
	}
	{
		int fds[2];
		if (pipe(fds) != 0) return 2;
		pid_t pid = fork();
		if (pid == 0) {
			int tr = traced(getpid());
			ssize_t w = write(fds[1], &tr, sizeof tr);
			(void)w;
			_exit(0);
		}
		int tr = -2;
		ssize_t n = read(fds[0], &tr, sizeof tr);
		(void)n;
		reap(pid);
		verdict("fork", pid > 0 && tr > 0, "fork: child's TracerPid %d", tr);
		close(fds[0]);
		close(fds[1]);
	}
	{
		pid_t pid = vfork();
		if (pid == 0) _exit(traced(getpid()) > 0 ? 0 : 1);
		int st = 0;
		waitpid(pid, &st, 0);
		verdict("vfork", pid > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "vfork: child traced: %s",
		        WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
	}
	{
		pid_t pid;
		char *argv[] = {"sh", "-c", "grep -q '^TracerPid:[[:space:]]*[1-9]' /proc/self/status", NULL};
		int e = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
		int st = 0;
		if (e == 0) waitpid(pid, &st, 0);
		verdict("posix-spawn", e == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "posix_spawn sh: %s, traced: %s",
		        e ? ename(e) : "ok", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "yes" : "no");
	}
	return finish();
}
