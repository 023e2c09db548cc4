// escape_failspan: a munmap over a page of the program's own and the
// guard's reservation beside it, in the protected range, which the guard
// rewrites into one reservation over both, and which fails: the
// program's own seccomp filter answers that reservation with ENOMEM (the
// kernel changes nothing). The guard must still know the reservation
// beside the page for its own: the program's mprotect of it must fail
// (ENOMEM, as at a hole natively). Before (thirteenth session), a failed
// reservation made the guard give up all of its range, the part that
// was its reservation before the call too, and mprotect made that part
// read-write, with --strict as well. The pages are of the program's
// .bss (build -no-pie), the second unmapped first: the guard reserves it.
//   escape_failspan [strict]
#include "escape.h"
#include "warm.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static char bss[8 * PAGE] __attribute__((aligned(4096)));

// refuse_reservation installs a filter of the program's that answers an
// mmap of PROT_NONE at addr with ENOMEM.
static int refuse_reservation(unsigned long addr) {
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 5),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)addr, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_NONE, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOMEM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static void attempt(const char *route) {
	unsigned long own = (unsigned long)bss + 2 * PAGE, res = own + PAGE;
	bss[2 * PAGE] = 1;
	if (munmap((void *)res, PAGE) != 0) {
		verdict(route, 0, "munmap of the page beside: %s", ename(errno));
		return;
	}
	if (refuse_reservation(own) != 0) {
		verdict(route, 0, "the program's own filter: %s", ename(errno));
		return;
	}
	long u = munmap((void *)own, 2 * PAGE);
	int ue = errno;
	long r = mprotect((void *)res, PAGE, PROT_READ | PROT_WRITE);
	int e = errno;
	if (r == 0) *(volatile char *)res = 42;
	verdict(route, r == -1 && e == ENOMEM, "munmap(%#lx, 2 pages) over the program's page and the one beside = %s; mprotect(%#lx, RW) = %s",
	        own, u ? ename(ue) : "0", res, r ? ename(e) : "0 (read-write)");
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	// In a child of its own: the filter stays with the process.
	pid_t c = fork();
	if (c == 0) {
		attempt("failspan");
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	// Again with the guard's code page mapped first: the rewrite takes
	// one stop, and its failure is reported from the code page.
	warm_code_page();
	c = fork();
	if (c == 0) {
		attempt("failspan-warm");
		_exit(0);
	}
	waitpid(c, &st, 0);
	return finish();
}
