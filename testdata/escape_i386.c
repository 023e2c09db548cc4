// escape_i386: i386 mapping calls (int $0x80) from a 64-bit process:
// mmap2 and old_mmap with hints and fixed addresses inside the range,
// garbage in the upper 32 bits of every register (the kernel ignores it,
// seccomp sees it), and the other i386 mapping calls aimed at a
// reservation. argv[1] "strict" when the guard runs with --strict.
#include "escape.h"

#define GARBAGE 0xdead5a5a00000000UL

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

static void mmap2_outside(const char *route, unsigned long addr, unsigned long len, unsigned long flags, const char *what) {
	unsigned long r = int80(NR32_mmap2, addr, len, RW, flags, (unsigned long)-1, 0);
	int e = err32(r);
	expect_outside(route, e ? MAP_FAILED : (void *)r, e, len & 0xffffffff, what);
	if (!e) int80(NR32_munmap, r, len, 0, 0, 0, 0);
}

static void mmap2_fixed(const char *route, unsigned long addr, unsigned long len, unsigned long flags, const char *what) {
	unsigned long r = int80(NR32_mmap2, addr, len, RW, flags, (unsigned long)-1, 0);
	int e = err32(r);
	expect_fixed(route, e ? MAP_FAILED : (void *)(r & 0xffffffff), e, addr & 0xffffffff, len & 0xffffffff, what);
	if (!e && !strict_mode) *(volatile char *)(r & 0xffffffff) = 1; // it is really there
}

static void old_mmap(const char *route, unsigned long addr, unsigned long flags, unsigned long ptrhi, int fixed,
                     const char *what) {
	uint32_t *blk = low4g();
	uint32_t v[6] = {(uint32_t)addr, PAGE, RW, (uint32_t)flags, (uint32_t)-1, 0};
	memcpy(blk, v, sizeof v);
	unsigned long r = int80(NR32_old_mmap, ptrhi | (unsigned long)blk, 0, 0, 0, 0, 0);
	int e = err32(r);
	if (fixed) expect_fixed(route, e ? MAP_FAILED : (void *)r, e, addr, PAGE, what);
	else {
		expect_outside(route, e ? MAP_FAILED : (void *)r, e, PAGE, what);
		if (!e) int80(NR32_munmap, r, PAGE, 0, 0, 0, 0);
	}
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	low4g();

	mmap2_outside("i386-mmap2-null", 0, PAGE, ANON, "mmap2(NULL)");
	mmap2_outside("i386-mmap2-hint", 0x30000000, PAGE, ANON, "mmap2(hint 0x30000000)");
	mmap2_outside("i386-mmap2-hint-crossing-start", 0x1000, 0x20000, ANON, "mmap2(hint 0x1000, 128 KiB)");
	mmap2_fixed("i386-mmap2-fixed", 0x31000000, PAGE, ANON | MAP_FIXED, "mmap2(0x31000000, MAP_FIXED)");
	mmap2_fixed("i386-mmap2-noreplace", 0x31100000, PAGE, ANON | MAP_FIXED_NOREPLACE,
	            "mmap2(0x31100000, MAP_FIXED_NOREPLACE)");

	// Upper halves: the kernel sees the low 32 bits only.
	mmap2_outside("i386-mmap2-hint-hi-garbage", GARBAGE | 0x30200000, PAGE, ANON, "mmap2(hint garbage:0x30200000)");
	mmap2_outside("i386-mmap2-flags-hi-garbage", 0x30300000, PAGE, 0xffffffff00000000UL | ANON,
	              "mmap2(hint 0x30300000, flags ffffffff:MAP_PRIVATE|MAP_ANONYMOUS)");
	mmap2_outside("i386-mmap2-fixed-only-in-hi", 0x30400000, PAGE, ((unsigned long)MAP_FIXED << 32) | ANON,
	              "mmap2(hint 0x30400000, MAP_FIXED only in the upper half of flags)");
	mmap2_outside("i386-mmap2-len-hi-garbage", 0x30500000, GARBAGE | PAGE, ANON, "mmap2(hint 0x30500000, len garbage:4096)");
	mmap2_fixed("i386-mmap2-fixed-hi-garbage", GARBAGE | 0x31200000, GARBAGE | PAGE, GARBAGE | ANON | MAP_FIXED,
	            "mmap2(garbage:0x31200000, MAP_FIXED, garbage everywhere)");
	// A fixed address whose low half is outside the range but whose
	// 64-bit value is not: the kernel maps at the low half.
	{
		unsigned long r = int80(NR32_mmap2, 0x7fffffffUL << 32 | 0xa0000000UL, PAGE, RW, ANON | MAP_FIXED_NOREPLACE,
		                        (unsigned long)-1, 0);
		int e = err32(r);
		verdict("i386-mmap2-fixed-low-half-outside", !e && r == 0xa0000000UL, "mmap2(7fffffff:a0000000, NOREPLACE) = %#lx %s",
		        r, e ? ename(e) : "");
		if (!e) int80(NR32_munmap, r, PAGE, 0, 0, 0, 0);
	}

	old_mmap("i386-old_mmap-null", 0, ANON, 0, 0, "old_mmap({NULL})");
	old_mmap("i386-old_mmap-hint", 0x30600000, ANON, 0, 0, "old_mmap({hint 0x30600000})");
	old_mmap("i386-old_mmap-ptr-hi-garbage", 0x30700000, ANON, GARBAGE, 0, "old_mmap(garbage:ptr, {hint 0x30700000})");
	old_mmap("i386-old_mmap-fixed", 0x31300000, ANON | MAP_FIXED, 0, 1, "old_mmap({0x31300000, MAP_FIXED})");
	old_mmap("i386-old_mmap-noreplace", 0x31400000, ANON | MAP_FIXED_NOREPLACE, 0, 1,
	         "old_mmap({0x31400000, MAP_FIXED_NOREPLACE})");

	// The other i386 mapping calls, aimed at a reservation.
	unsigned long res = 0x32000000;
	int was = reserved(res, 16 * PAGE);
	unsigned long r = int80(NR32_munmap, GARBAGE | res, 16 * PAGE, 0, 0, 0, 0);
	if (err32(r)) verdict("i386-munmap-reservation", 0, "munmap: %s", ename(err32(r)));
	else still_reserved("i386-munmap-reservation", res, 16 * PAGE, was, "munmap(garbage:0x32000000) = 0");
	r = int80(NR32_mprotect, res, PAGE, RW, 0, 0, 0);
	expect_errno("i386-mprotect-reservation", err32(r) ? -1 : (long)r, err32(r), ENOMEM, "mprotect(0x32000000, RW)");
	r = int80(NR32_mremap, res, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0, 0);
	expect_errno("i386-mremap-reservation", err32(r) ? -1 : (long)r, err32(r), EFAULT, "mremap(0x32000000, MAYMOVE)");
	r = int80(NR32_madvise, res, PAGE, MADV_DONTFORK, 0, 0, 0);
	expect_errno("i386-madvise-reservation", err32(r) ? -1 : (long)r, err32(r), ENOMEM, "madvise(0x32000000, DONTFORK)");
	still_reserved("i386-reservation-after-all", res, 16 * PAGE, was, "after munmap, mprotect, mremap, madvise");

	// brk through the i386 entry returns the 64-bit break truncated; the
	// program's own heap (64-bit brk) must keep working afterwards.
	{
		void *before = sbrk(0);
		unsigned long b32 = int80(NR32_brk, 0, 0, 0, 0, 0, 0);
		void *p = sbrk(1 << 16);
		int e = errno;
		void *after = sbrk(0);
		if (p == (void *)-1)
			verdict("i386-brk-then-sbrk", 0, "i386 brk(0) = %#lx; then sbrk(64 KiB): %s (break %p, was %p)", b32, ename(e),
			        after, before);
		else
			verdict("i386-brk-then-sbrk", p == before && !in_range((unsigned long)p, 1 << 16),
			        "i386 brk(0) = %#lx; then sbrk(64 KiB) = %p (break was %p)", b32, p, before);
	}
	return finish();
}
