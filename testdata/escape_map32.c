// escape_map32: placements the kernel chooses low in the address space
// without being given an address inside the range.
//   - MAP_32BIT without a hint: the kernel looks between 0x40000000 and
//     0x80000000 only; with that reserved it must fail with ENOMEM;
//   - MAP_32BIT with a hint inside the range, and above it;
//   - a hint below the range whose length reaches into it (the kernel
//     raises hints below mmap_min_addr);
//   - i386 mmap2(NULL) until the space below 4 GiB is used up: the
//     kernel then looks lower, down into the range.
#include "escape.h"

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

int main(void) {
	unsigned long sizes[] = {PAGE, 1 << 20, 64 << 20, 1UL << 30};
	for (int i = 0; i < 4; i++) {
		char route[64], what[64];
		snprintf(route, sizeof route, "map32bit-null-%luk", sizes[i] >> 10);
		snprintf(what, sizeof what, "mmap(NULL, %lu KiB, MAP_32BIT)", sizes[i] >> 10);
		void *p = mmap(NULL, sizes[i], RW, ANON | MAP_32BIT | MAP_NORESERVE, -1, 0);
		expect_outside(route, p, errno, sizes[i], what);
		if (p != MAP_FAILED) munmap(p, sizes[i]);
	}
	{
		void *p = mmap((void *)0x30000000, PAGE, RW, ANON | MAP_32BIT, -1, 0);
		expect_outside("map32bit-hint-inside", p, errno, PAGE, "mmap(hint 0x30000000, MAP_32BIT)");
		if (p != MAP_FAILED) munmap(p, PAGE);
		p = mmap((void *)0xa0000000UL, PAGE, RW, ANON | MAP_32BIT, -1, 0);
		expect_outside("map32bit-hint-above", p, errno, PAGE, "mmap(hint 0xa0000000, MAP_32BIT)");
		if (p != MAP_FAILED) munmap(p, PAGE);
		p = mmap((void *)0x7ffff000UL, 2 * PAGE, RW, ANON | MAP_32BIT, -1, 0);
		expect_outside("map32bit-hint-across-end", p, errno, 2 * PAGE, "mmap(hint 0x7ffff000, 2 pages, MAP_32BIT)");
		if (p != MAP_FAILED) munmap(p, 2 * PAGE);
	}
	{
		void *p = mmap((void *)0x1000, 0x20000, RW, ANON, -1, 0);
		expect_outside("hint-below-range-reaching-in", p, errno, 0x20000, "mmap(hint 0x1000, 128 KiB)");
		if (p != MAP_FAILED) munmap(p, 0x20000);
		p = mmap((void *)0x800, PAGE, RW, ANON, -1, 0);
		expect_outside("hint-below-mmap-min-addr", p, errno, PAGE, "mmap(hint 0x800, 4 KiB)");
		if (p != MAP_FAILED) munmap(p, PAGE);
	}
	{
		// Fill what the i386 entry can use below 4 GiB with 256 MiB
		// pieces (readable: PROT_NONE would look like reservations); the next ones must not land in the range.
		unsigned long got[32];
		int n = 0, e = 0;
		unsigned long last = 0;
		while (n < 32) {
			unsigned long r = int80(NR32_mmap2, 0, 256UL << 20, PROT_READ, ANON | MAP_NORESERVE, (unsigned long)-1, 0);
			if ((e = err32(r))) break;
			got[n++] = last = r;
			if (in_range(r, 256UL << 20)) break;
		}
		if (e) verdict("i386-mmap2-exhaust", e == ENOMEM, "%d x 256 MiB i386 mmap2(NULL), then %s", n, ename(e));
		else verdict("i386-mmap2-exhaust", !in_range(last, 256UL << 20), "%d x 256 MiB i386 mmap2(NULL), last at %#lx", n,
		             last);
		for (int i = 0; i < n; i++) int80(NR32_munmap, got[i], 256UL << 20, 0, 0, 0, 0);
	}
	return finish();
}
