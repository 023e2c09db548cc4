// escape_reservation: calls aimed at the guard's reservations, and
// explicit placements into the range. To the program a reservation is
// unmapped memory: munmap of it returns 0 and changes nothing, mprotect
// and friends fail with ENOMEM, mremap with EFAULT. Explicit placements
// (MAP_FIXED, MAP_FIXED_NOREPLACE, MREMAP_FIXED) are honoured, or refused
// with EPERM under --strict (argv[1] "strict").
#include "escape.h"

#include <sys/syscall.h>

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

#define RES 0x32000000UL // a reservation
#define RESN (256 * PAGE)

static void *outside_page(void) {
	void *p = mmap(NULL, PAGE, RW, ANON, -1, 0);
	if (p == MAP_FAILED) {
		say("setup FAIL: mmap(NULL): %s", ename(errno));
		exit(2);
	}
	*(char *)p = 7;
	return p;
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int was = reserved(RES, RESN);
	void *p;

	// Explicit placements over a reservation.
	p = mmap((void *)0x30000000, 2 * PAGE, RW, ANON | MAP_FIXED, -1, 0);
	expect_fixed("fixed-over-reservation", p, errno, 0x30000000, 2 * PAGE, "mmap(0x30000000, MAP_FIXED)");
	p = mmap((void *)0x30100000, 2 * PAGE, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
	expect_fixed("noreplace-over-reservation", p, errno, 0x30100000, 2 * PAGE, "mmap(0x30100000, MAP_FIXED_NOREPLACE)");
	p = mmap((void *)0x7ffff000, 2 * PAGE, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
	if (!strict_mode && p == (void *)0x7ffff000) munmap((void *)0x80000000, PAGE); // keep only the part inside
	expect_fixed("noreplace-across-end", p, errno, 0x7ffff000, PAGE, "mmap(0x7ffff000, 2 pages, MAP_FIXED_NOREPLACE)");

	p = mmap((void *)(LO - PAGE), 2 * PAGE, RW, ANON | MAP_FIXED, -1, 0);
	expect_fixed("fixed-across-start", p, errno, LO - PAGE, 2 * PAGE, "mmap(0xf000, 2 pages, MAP_FIXED)");
	if (p != MAP_FAILED) munmap(p, 2 * PAGE);

	// A mapping just below the range, grown in place: the reservation
	// above it is in the way.
	{
		unsigned long below = LO - 2 * PAGE;
		char *b = mmap((void *)below, PAGE, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
		if (b != (char *)below) verdict("mremap-grow-from-below-start", 0, "mmap(0xe000): %p %s", b, ename(errno));
		else {
			p = mremap(b, PAGE, 4 * PAGE, 0);
			if (p == MAP_FAILED) expect_errno("mremap-grow-from-below-start", -1, errno, ENOMEM, "mremap(0xe000, 4K -> 16K, in place)");
			else verdict("mremap-grow-from-below-start", !in_range((unsigned long)p, 4 * PAGE), "mremap(0xe000, 4K -> 16K) = %p", p);
			munmap(p == MAP_FAILED ? (void *)b : p, p == MAP_FAILED ? PAGE : 4 * PAGE);
		}
	}

	// munmap of a reservation: returns 0, the reservation stays.
	long r = munmap((void *)RES, RESN);
	if (r) verdict("munmap-reservation", 0, "munmap: %s", ename(errno));
	else still_reserved("munmap-reservation", RES, RESN, was, "munmap(0x32000000, 1 MiB) = 0");
	// The last page may be the program's (noreplace-across-end): munmap
	// puts a reservation back there too.
	int wasend = nohole(HI - 16 * PAGE, 16 * PAGE);
	r = munmap((void *)(HI - 16 * PAGE), 32 * PAGE);
	if (r) verdict("munmap-across-end", 0, "munmap: %s", ename(errno));
	else still_reserved("munmap-across-end", HI - 16 * PAGE, 16 * PAGE, wasend, "munmap(0x7fff0000, 128 KiB) = 0");
	int wasstart = reserved(LO, 16 * PAGE);
	r = munmap((void *)(LO - PAGE), 17 * PAGE);
	if (r) verdict("munmap-across-start", 0, "munmap: %s", ename(errno));
	else still_reserved("munmap-across-start", LO, 16 * PAGE, wasstart, "munmap(0xf000, 68 KiB) = 0");

	// mremap of a reservation.
	p = mremap((void *)RES, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
	expect_errno("mremap-reservation-maymove", p == MAP_FAILED ? -1 : (long)p, errno, EFAULT,
	             "mremap(0x32000000, 4K -> 8K, MAYMOVE)");
	p = mremap((void *)RES, PAGE, PAGE / 2, 0);
	expect_errno("mremap-reservation-shrink", p == MAP_FAILED ? -1 : (long)p, errno, EFAULT, "mremap(0x32000000, shrink)");
	void *out = outside_page();
	munmap(out, PAGE); // a free place outside the range
	p = mremap((void *)RES, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, out);
	expect_errno("mremap-reservation-fixed-out", p == MAP_FAILED ? -1 : (long)p, errno, EFAULT,
	             "mremap(0x32000000 -> outside, MAYMOVE|FIXED)");
	p = mremap((void *)RES, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
	expect_errno("mremap-reservation-dontunmap", p == MAP_FAILED ? -1 : (long)p, errno, EFAULT,
	             "mremap(0x32000000, MAYMOVE|DONTUNMAP)");
	p = mremap((void *)RES, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(RES + 64 * PAGE));
	expect_errno("mremap-reservation-fixed-in", p == MAP_FAILED ? -1 : (long)p, errno, EFAULT,
	             "mremap(0x32000000 -> 0x32040000, MAYMOVE|FIXED)");
	still_reserved("reservation-after-mremaps", RES, RESN, was, "after the mremaps");

	// mremap of the program's own mapping into the range.
	out = outside_page();
	p = mremap(out, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x33000000);
	expect_fixed("mremap-fixed-into", p, errno, 0x33000000, PAGE, "mremap(outside -> 0x33000000, MAYMOVE|FIXED)");
	if (p == MAP_FAILED) munmap(out, PAGE);
	out = outside_page();
	p = mremap(out, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, (void *)0x33100000);
	expect_fixed("mremap-fixed-dontunmap-into", p, errno, 0x33100000, PAGE,
	             "mremap(outside -> 0x33100000, MAYMOVE|FIXED|DONTUNMAP)");
	munmap(out, PAGE);
	out = outside_page();
	p = mremap(out, PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(HI - 2 * PAGE));
	if (!strict_mode && p == (void *)(HI - 2 * PAGE)) allow(HI - 2 * PAGE, 2 * PAGE);
	expect_fixed("mremap-fixed-across-end", p, errno, HI - 2 * PAGE, 2 * PAGE,
	             "mremap(outside -> 0x7fffe000, grow to 4 pages, MAYMOVE|FIXED)");
	if (p == MAP_FAILED) munmap(out, PAGE);
	else munmap(p, 4 * PAGE);

	if (!strict_mode) {
		// A mapping of the program's inside the range, grown in place
		// (the reservation after it is in the way) and with MAYMOVE
		// (the kernel moves it out; the reservation comes back behind).
		char *own = mmap((void *)0x34000000, PAGE, RW, ANON | MAP_FIXED, -1, 0);
		if (own == (void *)0x34000000) allow(0x34000000, PAGE);
		p = mremap(own, PAGE, 16 * PAGE, 0);
		expect_errno("mremap-grow-into-reservation", p == MAP_FAILED ? -1 : (long)p, errno, ENOMEM,
		             "mremap(own 0x34000000, 4K -> 64K, in place)");
		own[0] = 42;
		p = mremap(own, PAGE, 16 * PAGE, MREMAP_MAYMOVE);
		if (p == MAP_FAILED) verdict("mremap-grow-moves-out", 0, "mremap(own, MAYMOVE): %s", ename(errno));
		else
			verdict("mremap-grow-moves-out", !in_range((unsigned long)p, 16 * PAGE) && ((char *)p)[0] == 42 && reserved(0x34000000, PAGE),
			        "mremap(own 0x34000000, 4K -> 64K, MAYMOVE) = %p, old place reserved again: %s", p,
			        reserved(0x34000000, PAGE) ? "yes" : "no");
		// mprotect across own mapping and a reservation: the prefix changes.
		own = mmap((void *)0x34100000, PAGE, RW, ANON | MAP_FIXED, -1, 0);
		if (own == (void *)0x34100000) allow(0x34100000, PAGE);
		r = mprotect(own, 2 * PAGE, PROT_READ);
		struct mapping m;
		int pre = mapped_at(0x34100000, &m) && strcmp(m.perms, "r--p") == 0;
		if (r == -1 && errno == ENOMEM)
			verdict("mprotect-own-then-reservation", pre, "mprotect(own + reservation, R): ENOMEM, own page now %s",
			        pre ? "r--p" : "unchanged");
		else expect_errno("mprotect-own-then-reservation", r, errno, ENOMEM, "mprotect(own + reservation)");
	}

	// mprotect and friends on a reservation.
	r = mprotect((void *)RES, PAGE, RW);
	expect_errno("mprotect-reservation", r, errno, ENOMEM, "mprotect(0x32000000, RW)");
	r = mprotect((void *)RES, RESN, PROT_NONE);
	expect_errno("mprotect-reservation-none", r, errno, ENOMEM, "mprotect(0x32000000, PROT_NONE)");
	r = syscall(SYS_pkey_mprotect, RES, PAGE, RW, -1);
	expect_errno("pkey_mprotect-reservation", r, errno, ENOMEM, "pkey_mprotect(0x32000000, RW, -1)");
	/* Key 0 is valid only where the CPU has protection keys: elsewhere
	 * the kernel refuses it (EINVAL) before it looks for a mapping. A
	 * reservation must give what a hole gives, here one left by munmap
	 * outside every range. */
	void *hole = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int want = ENOMEM;
	if (hole != MAP_FAILED && munmap(hole, PAGE) == 0 &&
	    syscall(SYS_pkey_mprotect, hole, PAGE, RW | PROT_EXEC, 0) != 0)
		want = errno;
	r = syscall(SYS_pkey_mprotect, RES, PAGE, RW | PROT_EXEC, 0);
	expect_errno("pkey_mprotect-reservation-pkey0", r, errno, want, "pkey_mprotect(0x32000000, RWX, 0)");
	r = mlock((void *)RES, PAGE);
	expect_errno("mlock-reservation", r, errno, ENOMEM, "mlock(0x32000000)");
	r = syscall(462 /* mseal */, RES, PAGE, 0);
	expect_errno("mseal-reservation", r, errno, ENOMEM, "mseal(0x32000000)");
	still_reserved("reservation-after-all", RES, RESN, was, "after everything");
	return finish();
}
