// escape_huge: huge pages. The kernel rounds the length of a hugetlb
// mapping up to its huge page (2 MiB or 1 GiB), with no huge page
// configured (MAP_NORESERVE), while the call says one page. Routes:
//   - huge-fixed-at-0: MAP_FIXED|MAP_HUGETLB of one page at 0 (below the
//     range; needs CAP_SYS_RAWIO, as the tests have), which is 2 MiB
//     reaching into the range; then moved out with mremap;
//   - memfd-huge-fixed-at-0: the same with a MFD_HUGETLB memfd, no flag;
//   - huge-inside-moveout: an explicit MAP_FIXED|MAP_HUGETLB of one page
//     at 0x7fe00000 inside the range (honoured without --strict), moved
//     out with mremap: the whole 2 MiB must be reserved again.
// After each, no hole may be left in the range.
#include "escape.h"

#include <sys/prctl.h>

#ifndef MAP_HUGETLB
#define MAP_HUGETLB 0x40000
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 4
#endif

#define HUGE (2UL << 20)
#define OUT 0x310000000000UL

// fixed_then_out maps one page at a with MAP_FIXED (flags added) from
// fd, moves it out with mremap if it was honoured, and checks the range.
static void fixed_then_out(const char *route, unsigned long a, int flags, int fd) {
	void *p = mmap((void *)a, PAGE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_NORESERVE | flags, fd, 0);
	int e = errno;
	if (p == MAP_FAILED) {
		// Refused: EPERM with --strict; ENOMEM/EINVAL where the kernel
		// has no huge pages to offer at all.
		verdict(route, nohole(LO, HI - LO) || hole_bytes() == 0, "mmap(%#lx, one page, MAP_FIXED%s) refused: %s", a,
		        fd < 0 ? "|MAP_HUGETLB" : " of a hugetlb memfd", ename(e));
		return;
	}
	allow(a < LO ? LO : a, a < LO ? HUGE - LO : HUGE);
	void *q = (void *)syscall(SYS_mremap, a, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, OUT);
	int e2 = errno;
	if (q != MAP_FAILED) { // refused, it stays where it was asked for
		pthread_mutex_lock(&maps_lock);
		nokv--;
		pthread_mutex_unlock(&maps_lock);
	}
	unsigned long holes = hole_bytes();
	void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	verdict(route, holes == 0 && (m == MAP_FAILED || !in_range((unsigned long)m, PAGE)),
	        "mmap(%#lx, one page) = %p; mremap out = %s; %lu bytes of the range left unmapped; MAP_32BIT = %p", a, p,
	        q == MAP_FAILED ? ename(e2) : "moved", holes, m);
	if (q != MAP_FAILED) munmap(q, HUGE);
	if (m != MAP_FAILED) munmap(m, PAGE);
}

// i386_mremap_out: an explicit one-page MAP_HUGETLB at 0x40000000 inside
// the range (honoured without --strict: 2 MiB), moved out by an i386
// mremap whose address register has garbage in its high half (the
// kernel uses the low 32 bits, so must the guard, to see the huge
// mapping there).
static void i386_mremap_out(void) {
	const char *route = "i386-mremap-huge-hi-garbage";
	const unsigned long a = 0x40000000, out = 0xc0000000;
	void *p = mmap((void *)a, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		verdict(route, hole_bytes() == 0, "mmap(%#lx, one page, MAP_HUGETLB) refused: %s", a, ename(errno));
		return;
	}
	allow(a, HUGE);
	unsigned long r = int80(NR32_mremap, 0xdead00000000UL | a, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, out, 0);
	int e = err32(r);
	if (!e) {
		pthread_mutex_lock(&maps_lock);
		nokv--;
		pthread_mutex_unlock(&maps_lock);
	}
	unsigned long holes = hole_bytes();
	verdict(route, holes == 0, "i386 mremap(dead:%#lx -> %#lx) = %s; %lu bytes of the range left unmapped", a, out,
	        e ? ename(e) : "moved", holes);
	if (!e) munmap((void *)out, HUGE);
}

// The descriptor-swap race: another thread dup2()s a hugetlb memfd and
// an ordinary one over the same number while this one maps it at 0 with
// MAP_FIXED, one page: the tracer looks at the descriptor before the
// kernel does. A mapping of more than a page at 0 is an escape; the
// guard may also kill the program (it checks its reservations after such
// a mapping), which the test counts as held.
#define SWAPFD 100
static int hugefd, smallfd;
static volatile int stop_swapping;
static void *swapper(void *arg) {
	(void)arg;
	while (!stop_swapping) {
		dup2(hugefd, SWAPFD);
		dup2(smallfd, SWAPFD);
	}
	return NULL;
}

// mover, for swap_race's "mremap": moves the page at 0 far away, over
// and over, so that a huge mapping made there meanwhile (an mremap the
// tracer decided while an ordinary page lay at 0) goes with it, and
// takes the reservations it covered along.
static void *mover(void *arg) {
	(void)arg;
	while (!stop_swapping) {
		void *p = mremap((void *)0, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)OUT);
		if (p != MAP_FAILED) munmap(p, HUGE);
	}
	return NULL;
}

// swap_race maps one page from the swapped descriptor, tries times, as
// how says: "fixed" a MAP_FIXED at 0 (below the range), "old_mmap" the
// same through i386 old_mmap (its arguments in memory), "mremap" the
// first with another thread moving the page at 0 away (mover). A
// mapping of more than a page there, or a hole left in the range,
// escaped.
static int swap_race(const char *how, int tries) {
	hugefd = memfd_create("huge", MFD_HUGETLB);
	smallfd = memfd_create("small", 0);
	if (hugefd < 0 || smallfd < 0 || ftruncate(hugefd, HUGE) != 0 || ftruncate(smallfd, HUGE) != 0) {
		say("setup FAIL: memfd_create/ftruncate: %s", ename(errno));
		return 2;
	}
	pthread_t t, m;
	pthread_create(&t, NULL, swapper, NULL);
	int moving = strcmp(how, "mremap") == 0;
	if (moving) pthread_create(&m, NULL, mover, NULL);
	char route[64];
	snprintf(route, sizeof route, "memfd-swap-race-%s", how);
	uint32_t *blk = low4g();
	int mapped = 0;
	for (int i = 0; i < tries; i++) {
		unsigned long at;
		if (strcmp(how, "old_mmap") == 0) {
			uint32_t args[6] = {0, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, SWAPFD, 0};
			memcpy(blk, args, sizeof args);
			unsigned long r = int80(NR32_old_mmap, (unsigned long)blk, 0, 0, 0, 0, 0);
			if (err32(r)) continue;
			at = r & 0xffffffff;
		} else {
			void *p = mmap((void *)0, PAGE, PROT_READ, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, SWAPFD, 0);
			if (p == MAP_FAILED) continue;
			at = (unsigned long)p;
		}
		mapped++;
		struct mapping mp;
		unsigned long holes = hole_bytes();
		if (mapped_at(at, &mp) && mp.end - mp.start > PAGE || holes) {
			stop_swapping = 1;
			verdict(route, 0, "try %d: a mapping of more than a page at %#lx, or %lu bytes of the range unmapped", i, at, holes);
			return finish();
		}
		munmap((void *)at, PAGE);
	}
	stop_swapping = 1;
	pthread_join(t, NULL);
	if (moving) pthread_join(m, NULL);
	verdict(route, 1, "%d tries, %d mapped one page", tries, mapped);
	return finish();
}

int main(int argc, char **argv) {
	if (argc > 2 && strcmp(argv[1], "race") == 0)
		return swap_race(argv[2], argc > 3 ? atoi(argv[3]) : 3000);
	set_mode(argc, argv);
	// "nodump": the program makes itself not dumpable first, so that a
	// tracer without CAP_SYS_PTRACE cannot read its layout any more.
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "nodump") == 0 && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
			say("setup FAIL: PR_SET_DUMPABLE: %s", ename(errno));
			return 2;
		}
	fixed_then_out("huge-fixed-at-0", 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	int fd = memfd_create("huge", MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, HUGE) != 0) {
		say("setup FAIL: memfd_create(MFD_HUGETLB)/ftruncate: %s", ename(errno));
		return 2;
	}
	fixed_then_out("memfd-huge-fixed-at-0", 0, MAP_SHARED, fd);
	if (!strict_mode) {
		fixed_then_out("huge-inside-moveout", HI - HUGE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
		i386_mremap_out();
	}
	return finish();
}
