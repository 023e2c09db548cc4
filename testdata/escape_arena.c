// escape_arena.c: a BPF arena (BPF_MAP_TYPE_ARENA, Linux 6.9) may not
// cross a 4 GiB line: the kernel's get_unmapped_area for one
// (arena_get_unmapped_area) moves a range that would up to the line,
// MAP_FIXED and MAP_FIXED_NOREPLACE too, and an unaligned fixed address
// with it; the mapping then covers up to its length past the range the
// call named. Run under --protect 0x160000000-0x200000000 (a range
// 1.5 GiB above the line at 4 GiB): found in the eighteenth session.
// Creating an arena needs CAP_BPF; without it the probe says so and
// stops ("arena info: unavailable").
//
//	arena-fixed-below      MAP_FIXED at 0x60000000, 3 GiB: named 1 GiB
//	                       below the range, which the filter let through
//	                       unseen; the kernel maps 0x100000000-0x1c0000000,
//	                       half a GiB of the range (with --strict too)
//	arena-noreplace-below  the same with MAP_FIXED_NOREPLACE at 0x50000000
//	arena-fixed-unaligned  MAP_FIXED at 0xfffff123, 1.75 GiB: decided as
//	                       an unaligned address the kernel refuses, and
//	                       let through; the kernel maps 0x100000000-
//	                       0x170000000 (with --strict too)
//	arena-at-line          MAP_FIXED at 0x1ffffe000, two pages across the
//	                       range's end at 8 GiB: the kernel maps
//	                       0x200000000-0x200004000, outside; the guard took
//	                       0x1ffffe000-0x200000000 for the program's, where
//	                       its reservation stayed, and honoured mprotect
//	                       there: the reservation read-write (without
//	                       --strict; with it, EPERM for a mapping that
//	                       lands outside)
//	arena-hint-inside      a hint in the range, 4 GiB less 1 MiB: the guard
//	                       placed it in the pool, the kernel moved it off
//	                       the chunk to the line, and the guard killed the
//	                       program for its own call's "forged" result (so
//	                       did every arena mapped without an address under
//	                       --pool-all)
//
// "race HOW [TRIES]": another thread dup2()s an arena and a memfd on
// the descriptor of a fixed mapping of 3 GiB at 0x60000000 between the
// tracer's look and the kernel's (found in the eighteenth session's
// review). The memfd's mapping was decided as such: the arena's landed
// in the range. HOW is
//
//	unaligned  at 0x60000123: let through as one the kernel refuses
//	huge       a hugetlb memfd (MAP_NORESERVE): not looked at afterwards
//	private    MAP_PRIVATE: the arena's mmap fails (EINVAL) after the
//	           kernel unmapped 0x100000000-0x1c0000000, a gap of 1.5 GiB
//	           in the range
//
// Under the guard the first two fail closed (the process is killed)
// once the race comes off; the third reserves the gap again.
#define LO 0x160000000UL
#define HI 0x200000000UL
#include "escape.h"

#include <linux/bpf.h>

#define ARENA_TYPE 33 // BPF_MAP_TYPE_ARENA

static int arena(unsigned long len) {
	union bpf_attr a;
	memset(&a, 0, sizeof a);
	a.map_type = ARENA_TYPE;
	a.max_entries = len / PAGE;
	a.map_flags = BPF_F_MMAPABLE;
	return syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof a);
}

// fixed maps a new arena of len bytes at a with flags (MAP_FIXED or
// MAP_FIXED_NOREPLACE) and reports it: natively it lands at the 4 GiB
// line the range crosses, which lies in the protected range or reaches
// into it; under the guard it is refused (EINVAL).
static void fixed(const char *route, unsigned long a, unsigned long len, int flags, const char *call) {
	int fd = arena(len);
	void *p = mmap((void *)a, len, PROT_READ | PROT_WRITE, MAP_SHARED | flags, fd, 0);
	int e = errno;
	verdict(route, p == MAP_FAILED && e == EINVAL, "%s = %p%s%s", call, p, p == MAP_FAILED ? " " : "",
	        p == MAP_FAILED ? ename(e) : "");
	if (p != MAP_FAILED) munmap(p, len);
	close(fd);
}

#define SWAPFD 100
static volatile int stop_swapping, swap_arena, swap_other;
static void *swapper(void *x) {
	(void)x;
	while (!stop_swapping) {
		dup2(swap_arena, SWAPFD);
		dup2(swap_other, SWAPFD);
	}
	return NULL;
}

static int swap_race(const char *how, int tries) {
	unsigned long at = 0x60000000UL, len = 3UL << 30;
	int flags = MAP_SHARED | MAP_FIXED;
	if (strcmp(how, "unaligned") == 0) at = 0x60000123UL;
	if (strcmp(how, "private") == 0) flags = MAP_PRIVATE | MAP_FIXED;
	if (strcmp(how, "huge") == 0) flags |= MAP_NORESERVE;
	swap_other = memfd_create("other", strcmp(how, "huge") == 0 ? MFD_HUGETLB : 0);
	swap_arena = arena(len);
	if (swap_other < 0 || ftruncate(swap_other, len) != 0 || swap_arena < 0) {
		say("setup FAIL: memfd_create/ftruncate/arena: %s", ename(errno));
		return 2;
	}
	dup2(swap_other, SWAPFD);
	char route[64];
	snprintf(route, sizeof route, "arena-swap-race-%s", how);
	unsigned long base = hole_bytes();
	pthread_t t;
	pthread_create(&t, NULL, swapper, NULL);
	int mapped = 0;
	for (int i = 0; i < tries; i++) {
		void *p = mmap((void *)at, len, PROT_READ | PROT_WRITE, flags, SWAPFD, 0);
		int e = errno;
		unsigned long holes = hole_bytes();
		if ((p != MAP_FAILED && (unsigned long)p != at) || holes > base) {
			stop_swapping = 1;
			verdict(route, 0, "try %d: mmap(%#lx, 3 GiB) = %p%s%s; %lu bytes of the range unmapped", i, at, p,
			        p == MAP_FAILED ? " " : "", p == MAP_FAILED ? ename(e) : "", holes > base ? holes - base : 0);
			return finish();
		}
		if (p != MAP_FAILED) {
			mapped++;
			munmap(p, len);
		}
	}
	stop_swapping = 1;
	pthread_join(t, NULL);
	verdict(route, 1, "%d tries, %d mapped at %#lx", tries, mapped, at);
	return finish();
}

int main(int argc, char **argv) {
	if (argc > 2 && strcmp(argv[1], "race") == 0) {
		if (arena(PAGE) < 0) {
			say("arena info: unavailable (%s)", ename(errno));
			return finish();
		}
		return swap_race(argv[2], argc > 3 ? atoi(argv[3]) : 2000);
	}
	set_mode(argc, argv);
	int probe = arena(PAGE);
	if (probe < 0) {
		say("arena info: unavailable (%s)", ename(errno));
		return finish();
	}
	close(probe);

	fixed("arena-fixed-unaligned", 0xfffff123UL, 0x70000000UL, MAP_FIXED, "mmap(0xfffff123, 1.75 GiB, MAP_FIXED, arena)");
	fixed("arena-fixed-below", 0x60000000UL, 0xc0000000UL, MAP_FIXED, "mmap(0x60000000, 3 GiB, MAP_FIXED, arena)");
	fixed("arena-noreplace-below", 0x50000000UL, 0xb8000000UL, MAP_FIXED_NOREPLACE,
	      "mmap(0x50000000, 2.875 GiB, MAP_FIXED_NOREPLACE, arena)");

	// Across the range's end: the kernel maps at the line, outside.
	{
		unsigned long a = HI - 2 * PAGE, len = 4 * PAGE;
		int was = reserved(a, 2 * PAGE);
		int fd = arena(len);
		void *p = mmap((void *)a, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
		int e = errno;
		long r = mprotect((void *)a, 2 * PAGE, PROT_READ | PROT_WRITE);
		int pe = errno;
		verdict("arena-at-line", p == (void *)HI && r < 0 && pe == ENOMEM,
		        "mmap(%#lx, 4 pages, MAP_FIXED, arena) = %p%s%s; mprotect(%#lx, 2 pages, rw) = %ld%s%s", a, p,
		        p == MAP_FAILED ? " " : "", p == MAP_FAILED ? ename(e) : "", a, r, r < 0 ? " " : "", r < 0 ? ename(pe) : "");
		still_reserved("arena-at-line", a, 2 * PAGE, was, "the two pages below the range's end");
		if (p != MAP_FAILED) munmap(p, len);
		close(fd);
	}

	// A hint inside: never the pool (a chunk across a line), the
	// kernel's choice, outside.
	{
		unsigned long len = (4UL << 30) - (1UL << 20);
		int fd = arena(len);
		void *p = mmap((void *)(LO + (256UL << 20)), len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		expect_outside("arena-hint-inside", p, errno, len, "mmap(hint inside, 4 GiB - 1 MiB, arena)");
		if (p != MAP_FAILED) munmap(p, len);
		close(fd);
	}
	return finish();
}
