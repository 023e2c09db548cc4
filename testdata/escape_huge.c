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
	pthread_mutex_lock(&maps_lock);
	nokv--;
	pthread_mutex_unlock(&maps_lock);
	unsigned long holes = hole_bytes();
	void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	verdict(route, holes == 0 && (m == MAP_FAILED || !in_range((unsigned long)m, PAGE)),
	        "mmap(%#lx, one page) = %p; mremap out = %s; %lu bytes of the range left unmapped; MAP_32BIT = %p", a, p,
	        q == MAP_FAILED ? ename(e2) : "moved", holes, m);
	if (q != MAP_FAILED) munmap(q, HUGE);
	if (m != MAP_FAILED) munmap(m, PAGE);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	fixed_then_out("huge-fixed-at-0", 0, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	int fd = memfd_create("huge", MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, HUGE) != 0) {
		say("setup FAIL: memfd_create(MFD_HUGETLB)/ftruncate: %s", ename(errno));
		return 2;
	}
	fixed_then_out("memfd-huge-fixed-at-0", 0, MAP_SHARED, fd);
	if (!strict_mode)
		fixed_then_out("huge-inside-moveout", HI - HUGE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	return finish();
}
