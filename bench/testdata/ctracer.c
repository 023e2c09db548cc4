// ctracer: the minimal C ptrace tracer the benchmarks compare mmapguard
// with. It does what mmapguard does for the "hint" workload, nothing
// more: a seccomp filter traps mmap calls whose address hint lies in
// [0x10000, 0x80000000); at each stop the tracer drops the hint (rdi = 0)
// so the kernel chooses, and at the call's exit puts rdi back, since the
// system call convention preserves it and the program may rely on that.
// With -n it leaves rdi changed (one stop per call instead of two).
// Usage: ctracer [-n] PROGRAM ARGS...
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#define ARG0_LO offsetof(struct seccomp_data, args[0])
#define ARG0_HI (offsetof(struct seccomp_data, args[0]) + 4)

int main(int argc, char **argv) {
	int restore = 1;
	if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		restore = 0;
		argv++;
		argc--;
	}
	if (argc < 2) return 2;
	pid_t child = fork();
	if (child == 0) {
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 5),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_HI),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LO),
			BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x80000000, 1, 0),
			BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x10000, 1, 0),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
		};
		struct sock_fprog prog = {sizeof f / sizeof f[0], f};
		raise(SIGSTOP); // wait until seized
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
			perror("seccomp");
			_exit(127);
		}
		execvp(argv[1], argv + 1);
		perror("exec");
		_exit(127);
	}
	waitpid(child, NULL, WSTOPPED);
	if (ptrace(PTRACE_SEIZE, child, 0, PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) != 0) {
		perror("seize");
		return 1;
	}
	kill(child, SIGCONT);
	unsigned long long saved_rdi = 0; // one tracee: one call in flight
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0) return 1;
		if (WIFEXITED(st)) return WEXITSTATUS(st);
		if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
		int sig = 0;
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
			struct user_regs_struct r;
			ptrace(PTRACE_GETREGS, p, 0, &r);
			saved_rdi = r.rdi;
			r.rdi = 0;
			ptrace(PTRACE_SETREGS, p, 0, &r);
			if (restore) {
				ptrace(PTRACE_SYSCALL, p, 0, 0);
				continue;
			}
		} else if (WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			ptrace(PTRACE_POKEUSER, p, offsetof(struct user_regs_struct, rdi), saved_rdi);
		} else if (WIFSTOPPED(st) && (st >> 16) == 0 && WSTOPSIG(st) != SIGSTOP && WSTOPSIG(st) != SIGCONT) {
			sig = WSTOPSIG(st);
		}
		ptrace(PTRACE_CONT, p, 0, sig);
	}
}
