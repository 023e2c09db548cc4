// own_filter_fd: a program whose own seccomp filter refuses an anonymous
// mmap whose descriptor is not -1 (as a sandbox's policy may), and which
// makes calls the guard rewrites (a hint inside the protected range, fd
// -1), before installing it and after. The guard must not change what
// the program's filter sees beyond the hint: the calls succeed, natively
// and guarded.
//   own_filter_fd               the calls, the filter, the calls again
//   own_filter_fd plain         the calls only
//   own_filter_fd exec PROG...  the filter, then exec PROG (which runs
//                               under it: mmapguard, say)
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void try(void) {
	void *p = mmap((void *)0x30000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mmap %s\n", p == MAP_FAILED ? "failed" : "succeeded");
	if (p != MAP_FAILED) munmap(p, 4096);
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "plain") == 0) {
		for (int i = 0; i < 5; i++) try();
		return 0;
	}
	int exec = argc > 2 && strcmp(argv[1], "exec") == 0;
	if (!exec) try();
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[3])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MAP_ANONYMOUS, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[4])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffff, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("seccomp");
		return 2;
	}
	if (exec) {
		execvp(argv[2], argv + 2);
		perror("exec");
		return 127;
	}
	for (int i = 0; i < 4; i++) try();
	return 0;
}
