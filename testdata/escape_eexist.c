// escape_eexist: a program whose own seccomp filter answers the guard's
// reservation calls (an anonymous PROT_NONE MAP_NORESERVE mmap, fixed)
// with EEXIST, which would say "a mapping is there" where nothing is.
//   moveout  it moves a mapping out of the protected range (the guard
//            puts a reservation back over the old place), then asks for
//            MAP_32BIT mappings until one lands below 2 GiB;
//   exec     it execs itself, so that the reservations the guard makes at
//            the exec get the same answer.
// The guard must kill it rather than leave the range open: it must never
// print "MAP_32BIT inside".
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

static void try_map32(void) {
	for (int t = 0; t < 100000; t++) {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (m != MAP_FAILED && (unsigned long)m >= 0x10000 && (unsigned long)m < 0x80000000UL) {
			printf("MAP_32BIT inside the range\n");
			return;
		}
	}
	printf("MAP_32BIT never inside\n");
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "after-exec") == 0) {
		printf("running after the exec\n");
		try_map32();
		return 0;
	}
	// PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE with MAP_FIXED or
	// MAP_FIXED_NOREPLACE: the guard's reservations.
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_NONE, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[3])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x4032, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x104022, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EEXIST),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("seccomp");
		return 2;
	}
	if (argc > 1 && strcmp(argv[1], "exec") == 0) {
		execl("/proc/self/exe", argv[0], "after-exec", (char *)NULL);
		perror("exec");
		return 2;
	}
	void *p = mmap((void *)0x50000000, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *q = mremap(p, 1 << 20, 64 << 20, MREMAP_MAYMOVE);
	printf("moved: %s\n", q != MAP_FAILED && q != p ? "yes" : "no");
	try_map32();
	return 0;
}
