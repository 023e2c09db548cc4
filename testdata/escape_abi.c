// escape_abi: system-call entries other than the plain x86-64 one.
//   - x32 calls (bit 30 of the number set): every one must fail with
//     ENOSYS, mapping calls aimed at the range included;
//   - 64-bit calls whose rax has garbage in its upper 32 bits: the
//     kernel runs the call named by the low 32 bits, so the guard must
//     treat them as that call.
// argv[1] "strict" when the guard runs with --strict.
#include "escape.h"

#define X32 0x40000000UL
#define HIGARB 0x1234567800000000UL

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

static void x32(const char *route, unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3,
                unsigned long a4, unsigned long a5, unsigned long a6, const char *what) {
	long r = sys64(X32 | nr, a1, a2, a3, a4, a5, a6);
	if (r == 0 && nr == SYS_clone) _exit(0); // a child, had the call worked
	expect_errno(route, err64(r) ? -1 : r, err64(r), ENOSYS, what);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	unsigned long res = 0x32000000;
	int was = reserved(res, 16 * PAGE);

	x32("x32-mmap-hint", SYS_mmap, 0x30000000, PAGE, RW, ANON, -1, 0, "x32 mmap(hint 0x30000000)");
	x32("x32-mmap-fixed", SYS_mmap, 0x31000000, PAGE, RW, ANON | MAP_FIXED, -1, 0, "x32 mmap(0x31000000, MAP_FIXED)");
	x32("x32-mmap-map32bit", SYS_mmap, 0, PAGE, RW, ANON | MAP_32BIT, -1, 0, "x32 mmap(NULL, MAP_32BIT)");
	x32("x32-munmap-reservation", SYS_munmap, res, 16 * PAGE, 0, 0, 0, 0, "x32 munmap(0x32000000)");
	x32("x32-mprotect-reservation", SYS_mprotect, res, PAGE, RW, 0, 0, 0, "x32 mprotect(0x32000000, RW)");
	x32("x32-mremap-reservation", SYS_mremap, res, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, 0x7f0000000000UL, 0,
	    "x32 mremap(0x32000000 -> 0x7f0000000000)");
	x32("x32-madvise-reservation", SYS_madvise, res, PAGE, MADV_DONTFORK, 0, 0, 0, "x32 madvise(0x32000000, DONTFORK)");
	x32("x32-brk", SYS_brk, 0x30000000, 0, 0, 0, 0, 0, "x32 brk(0x30000000)");
	x32("x32-shmat", SYS_shmat, 0, 0x31000000, 0, 0, 0, 0, "x32 shmat(0, 0x31000000)");
	x32("x32-clone-untraced", SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0, 0, "x32 clone(CLONE_UNTRACED)");
	x32("x32-getpid", SYS_getpid, 0, 0, 0, 0, 0, 0, "x32 getpid()");
	x32("x32-rt_sigaction", 512, SIGUSR1, 0, 0, 8, 0, 0, "x32 rt_sigaction (512)");
	still_reserved("x32-reservation-after-all", res, 16 * PAGE, was, "after the x32 calls");

	// The kernel ignores the upper half of rax; seccomp sees the number
	// as an int, ptrace as all 64 bits. A reservation lost here would be
	// found by MAP_32BIT, which looks from 0x40000000 up.
	res = 0x60000000;
	was = reserved(res, 16 * PAGE);
	{
		long r = sys64(HIGARB | SYS_mmap, 0x30000000, PAGE, RW, ANON, -1, 0);
		expect_outside("nr-hi-garbage-mmap-hint", err64(r) ? MAP_FAILED : (void *)r, err64(r), PAGE,
		               "mmap(hint 0x30000000) with rax 12345678:00000009");
		if (!err64(r)) munmap((void *)r, PAGE);
	}
	{
		long r = sys64(HIGARB | SYS_mmap, 0x31000000, PAGE, RW, ANON | MAP_FIXED, -1, 0);
		expect_fixed("nr-hi-garbage-mmap-fixed", err64(r) ? MAP_FAILED : (void *)r, err64(r), 0x31000000, PAGE,
		             "mmap(0x31000000, MAP_FIXED) with rax 12345678:00000009");
	}
	{
		long r = sys64(HIGARB | SYS_mprotect, res, PAGE, RW, 0, 0, 0);
		expect_errno("nr-hi-garbage-mprotect-reservation", err64(r) ? -1 : r, err64(r), ENOMEM,
		             "mprotect(0x60000000, RW) with rax 12345678:0000000a");
	}
	{
		long r = sys64(HIGARB | SYS_munmap, res + 8 * PAGE, 8 * PAGE, 0, 0, 0, 0);
		if (err64(r)) verdict("nr-hi-garbage-munmap-reservation", 0, "munmap: %s", ename(err64(r)));
		else still_reserved("nr-hi-garbage-munmap-reservation", res + 8 * PAGE, 8 * PAGE, was,
		                    "munmap(0x60008000) with rax 12345678:0000000b = 0");
	}
	// If a reservation was lost above, MAP_32BIT finds the hole.
	{
		void *p = mmap(NULL, PAGE, RW, ANON | MAP_32BIT, -1, 0);
		expect_outside("nr-hi-garbage-then-map32bit", p, errno, PAGE, "mmap(NULL, MAP_32BIT) afterwards");
	}
	return finish();
}
