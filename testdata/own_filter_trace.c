// own_filter_trace: a program installs a seccomp filter of its own that
// answers SECCOMP_RET_TRACE (data 0, no code of the guard's) for munmap,
// mremap and mprotect, and SECCOMP_RET_ERRNO(EACCES) for madvise, then
// makes those calls in the protected range and outside it. With no
// tracer the kernel answers a TRACE with ENOSYS and runs nothing; under
// the guard the output must be the same. One line per call: its result.
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

static void report(const char *what, long r) {
	printf("%s: %s\n", what, r == -1 ? strerrorname_np(errno) : "ok");
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	// a mapping of the program's in the range and one outside, made
	// before the filter
	char *in = mmap((void *)0x40000000UL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	char *out = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (in == MAP_FAILED || out == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mremap, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 2, 3),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	report("install", syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog));
	report("munmap in the range", munmap(in, 4096));
	report("munmap outside", munmap(out, 4096));
	report("munmap of nothing in the range", munmap((void *)0x50000000UL, 4096));
	report("mprotect in the range", mprotect(in, 4096, PROT_READ));
	report("mprotect outside", mprotect(out, 4096, PROT_READ));
	report("mremap in the range", (long)mremap(in, 4096, 3 * 4096, 0));
	report("madvise in the range", madvise(in, 4096, MADV_DONTNEED));
	report("madvise outside", madvise(out, 4096, MADV_DONTNEED));
	// both mappings are still there, with their data
	in[0] = out[0] = 'x';
	report("still mapped", 0);
	return 0;
}
