// escape_remapfile: remap_file_pages, which Linux emulates by mapping
// the file of a shared mapping again over [addr, addr+size) with
// MAP_FIXED at another page offset, over the program's own shared
// mapping in the range. The file's mmap method runs after the kernel has
// unmapped the range, and where it fails Linux (6.12 and later) leaves a
// gap: a perf event's ring buffer at page offset 1 (EINVAL), a hugetlb
// memfd at an offset with no huge page free (ENOMEM: the remap asks for
// no MAP_NORESERVE). The filter let the call through unseen, the model
// kept the program's mapping over the hole, and MAP_32BIT landed there.
// Modes:
//   perf, huge  one remap, then MAP_32BIT; without --strict the
//               mapping is a MAP_FIXED one at 0x50000000 (perf also
//               through the i386 entry: perf32), with it (where
//               placements in the range are refused) one in the pool,
//               whose hole must be reserved again too
//   race        400 remaps of a perf ring at 0x50000000 while another
//               thread maps with MAP_32BIT: the hole must never be
//               reachable, not even until the guard has reserved it
//               again (without --strict)
//   reservation remap_file_pages aimed at a reservation: EINVAL, as at a
//               hole, and the reservation intact
#include "escape.h"

#define AT 0x50000000UL
#define POOL_AT 0x200040000000UL // in the default pool, away from what it hands out

// map_own maps n bytes of fd shared at the probe's address (at in the
// pool with --strict) and returns it, or 0.
static unsigned long map_own(const char *route, int fd, unsigned long n, int extra) {
	unsigned long a = strict_mode ? POOL_AT : AT;
	void *p = mmap((void *)a, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | extra, fd, 0);
	if (p != (void *)a) {
		say("%s FAIL: MAP_FIXED at %#lx: %p %s", route, a, p, ename(errno));
		failures++;
		return 0;
	}
	if (!strict_mode) allow(a, n);
	return a;
}

// after reports on a remap of [a, a+n) that returned r (errno e): the
// range must be mapped (the program's mapping, or the guard's
// reservation put back) and MAP_32BIT must not land in the range.
static void after(const char *route, unsigned long a, unsigned long n, long r, int e) {
	int covered = nohole(a, n);
	void *m = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (m != MAP_FAILED && in_range((unsigned long)m, PAGE)) {
		failures++;
		say("%s ESCAPED: MAP_32BIT got %p, in the range, after remap_file_pages of %#lx-%#lx returned %ld %s", route, m,
		    a, a + n, r, r ? ename(e) : "");
		return;
	}
	verdict(route, covered, "remap_file_pages of the program's mapping at %#lx-%#lx: %ld %s; the range %s; MAP_32BIT %p", a,
	        a + n, r, r ? ename(e) : "", covered ? "covered" : "a HOLE", m);
}

static long remap(int i386, unsigned long a, unsigned long n, unsigned long pgoff) {
	if (i386) {
		unsigned long r = int80(257, a, n, 0, pgoff, 0, 0);
		errno = err32(r);
		return errno ? -1 : (long)r;
	}
	return syscall(SYS_remap_file_pages, a, n, 0, pgoff, 0);
}

static void one_perf(const char *route, int i386) {
	int fd = perf_dummy_fd();
	if (fd < 0) {
		verdict(route, 1, "perf_event_open: %s: nothing to try", ename(errno));
		return;
	}
	unsigned long a = map_own(route, fd, 2 * PAGE, 0);
	if (!a) return;
	// Page offset 1 is no ring buffer's start: perf's mmap refuses it.
	long r = remap(i386, a, 2 * PAGE, 1);
	after(route, a, 2 * PAGE, r, errno);
	close(fd);
}

static void one_huge(void) {
	const char *route = "remapfile-huge";
	int fd = memfd_create("remapfile", MFD_HUGETLB);
	if (fd < 0 || ftruncate(fd, 4 << 20) != 0) {
		verdict(route, 1, "a hugetlb memfd: %s: nothing to try", ename(errno));
		return;
	}
	unsigned long a = map_own(route, fd, 2 << 20, MAP_NORESERVE);
	if (!a) return;
	long r = remap(0, a, 2 << 20, 512);
	after(route, a, 2 << 20, r, errno);
	close(fd);
}

static void race(void) {
	const char *route = "remapfile-race";
	pthread_t t;
	map32_stop = 0;
	pthread_create(&t, NULL, map32_spam, NULL);
	int rounds = 0, failed = 0, lost = 0;
	for (; rounds < 400 && !map32_stop; rounds++) {
		int fd = perf_dummy_fd();
		if (fd < 0) break;
		void *p = mmap((void *)AT, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
		if (p != (void *)AT) {
			say("%s FAIL: MAP_FIXED: %s", route, ename(errno));
			failures++;
			close(fd);
			break;
		}
		allow(AT, 2 * PAGE);
		if (remap(0, AT, 2 * PAGE, 1) != 0) failed++;
		if (!nohole(AT, 2 * PAGE)) lost++;
		close(fd);
	}
	map32_stop = 1;
	pthread_join(t, NULL);
	if (map32_landed) {
		failures++;
		say("%s ESCAPED: MAP_32BIT landed at %#lx, in the range, while remap_file_pages failed (round %d)", route,
		    map32_landed, rounds);
		return;
	}
	verdict(route, rounds == 400 && failed == rounds && lost == 0,
	        "%d remaps of a perf ring at %#lx, %d failed, %d left a hole; MAP_32BIT never in the range", rounds, AT, failed,
	        lost);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	const char *mode = argc > 1 ? argv[argc - 1] : "";
	if (strcmp(mode, "perf") == 0) {
		one_perf("remapfile-perf", 0);
		if (!strict_mode) one_perf("remapfile-perf32", 1); // (the pool is out of an i386 call's reach)
	} else if (strcmp(mode, "huge") == 0) {
		one_huge();
	} else if (strcmp(mode, "race") == 0) {
		race();
	} else if (strcmp(mode, "reservation") == 0) {
		int was = reserved(AT, 2 * PAGE);
		long r = remap(0, AT, 2 * PAGE, 1);
		int e = errno;
		if (r != -1 || e != EINVAL) verdict("remapfile-reservation", 0, "remap_file_pages of a reservation = %ld %s, want EINVAL", r, ename(e));
		else still_reserved("remapfile-reservation", AT, 2 * PAGE, was, "remap_file_pages of a reservation: EINVAL");
	} else {
		say("usage: escape_remapfile [strict] perf|huge|race|reservation");
		return 2;
	}
	return finish();
}
