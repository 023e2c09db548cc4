// escape_aio: routes through AIO rings, which the kernel unmaps itself
// at io_destroy, at the address it has for the ring (which follows the
// ring's mremap moves) with the size the ring had at io_setup (which
// does not follow a munmap of its tail):
//
//   aio-ring-moved-in: the ring moved into the range with mremap (an
//     explicit placement, honoured without --strict), then io_destroy.
//     The guard refuses the move (EINVAL; EPERM with --strict).
//   aio-ring-shrunk-below: a 65-page ring shrunk to its first page (a
//     munmap far from every range: no stop), that page moved to just
//     below the range (outside it: honoured), then io_destroy, which
//     unmaps 65 pages from there, into the range. The guard reserves
//     what it unmapped again before the program goes on (twelfth
//     session: it did not see the call, and MAP_32BIT landed there).
//   aio-ring-shrunk-below-pool: the same, the ring's page moved to just
//     below the pool (0x200000000000), after a hint into the range
//     (rerouted through the guard's code page, the pool's first page):
//     io_destroy unmaps the pool's first 64 pages, the code page among
//     them. The guard reserved them again but still took its code page
//     for mapped, and the next hint jumped into a PROT_NONE page: the
//     program died of SIGSEGV (twelfth session's review). Where vm.
//     mmap_min_addr keeps the ring from 0xf000, this route still runs.
//   aio-ring-multi: an ordinary page with a ring right after it, both
//     moved into the range with one mremap (since Linux 6.17 a move that
//     keeps the length moves every mapping in the old range). The guard
//     looked only at the first mapping and let the ring in; it refuses
//     the move now (EINVAL, EPERM with --strict).
//   huge-multi: the same with a 2 MiB hugetlb mapping (MAP_NORESERVE: no
//     huge page needs to be free) after the page: the kernel rounds the
//     hugetlb piece up to its huge page at the target, 2 MiB - 4 KiB more
//     than the guard counted, and moved out again it left a hole. The
//     guard refuses the move next to a guarded range (EINVAL, EPERM with
//     --strict); where hugetlb mappings cannot be made, the route says so
//     as info.
//   aio-setup-moved-below: an io_setup whose final write of the context
//     id waits on a userfaultfd (its pointer's page write-protected);
//     meanwhile another thread shrinks the new ring to its first page
//     and moves that to just below the range, then lets the write fail:
//     the kernel tears the context down as io_destroy does, unmapping
//     the ring's whole size from there, into the range. io_setup never
//     stopped in the tracer (thirteenth session): the hole was open to
//     hints and i386 mmap2. The guard refuses such a move while an
//     io_setup is in progress (EINVAL) and reads the layout after a
//     failed one. Where no userfaultfd can be had, the route says so as
//     info.
#include "escape.h"

#include <linux/aio_abi.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif

// new_ring makes a ring for nr events and finds its mapping; 0 (and
// route's failing verdict) if it cannot.
static int new_ring(const char *route, unsigned nr, aio_context_t *ctx, struct mapping *m) {
	*ctx = 0;
	if (syscall(SYS_io_setup, nr, ctx) != 0) {
		verdict(route, 0, "io_setup: %s", ename(errno));
		return 0;
	}
	if (!mapped_at(*ctx, m)) {
		verdict(route, 0, "no ring at %#lx", (unsigned long)*ctx);
		return 0;
	}
	return 1;
}

static void moved_in(void) {
	aio_context_t ctx;
	struct mapping m;
	if (!new_ring("aio-ring-moved-in", 1, &ctx, &m)) return;
	unsigned long len = m.end - m.start, to = 0x30000000;
	void *p = mremap((void *)m.start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to);
	int e = errno;
	if (p != MAP_FAILED) allow(to, len);
	long d = syscall(SYS_io_destroy, p == MAP_FAILED ? ctx : (aio_context_t)to);
	int hole = !nohole(to, len);
	if (p != MAP_FAILED) {
		pthread_mutex_lock(&maps_lock);
		nokv--;
		pthread_mutex_unlock(&maps_lock);
	}
	verdict("aio-ring-moved-in", !hole && p == MAP_FAILED && (e == EINVAL || (strict_mode && e == EPERM)),
	        "mremap of the ring (%lu bytes) to %#lx: %s; io_destroy = %ld; hole left: %s", len, to,
	        p == MAP_FAILED ? ename(e) : "moved", d, hole ? "YES" : "no");
}

// shrunk_to makes a 65-page ring, shrinks it to its first page and moves
// that to to; it returns the ring's size at io_setup (0 on failure,
// reported as route's verdict; 1 where the move was refused, as info).
static unsigned long shrunk_to(const char *route, unsigned long to) {
	aio_context_t ctx;
	struct mapping m;
	if (!new_ring(route, 4096, &ctx, &m)) return 0;
	if (m.end - m.start < 2 * PAGE) {
		verdict(route, 0, "a ring of one page at %#lx, want more", (unsigned long)ctx);
		return 0;
	}
	unsigned long span = m.end - m.start;
	if (munmap((void *)(m.start + PAGE), span - PAGE) != 0) {
		verdict(route, 0, "munmap of the ring's tail: %s", ename(errno));
		return 0;
	}
	if (mremap((void *)m.start, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to) == MAP_FAILED) {
		say("%s info: mremap of the ring's page to %#lx: %s", route, to, ename(errno));
		verdict(route, 1, "nothing to destroy there");
		syscall(SYS_io_destroy, ctx);
		return 1;
	}
	return span;
}

static void shrunk_below_pool(void) {
	const char *route = "aio-ring-shrunk-below-pool";
	const unsigned long pool = 0x200000000000UL, hint = 0x50000000UL;
	void *h = mmap((void *)hint, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h != MAP_FAILED) munmap(h, PAGE);
	unsigned long span = shrunk_to(route, pool - PAGE);
	if (span <= 1) return;
	long d = syscall(SYS_io_destroy, (aio_context_t)(pool - PAGE));
	int e = errno;
	int hole = !nohole(pool, span - PAGE);
	int moved = 0;
	for (int i = 0; i < 3; i++) {
		void *q = mmap((void *)hint, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (q != MAP_FAILED) {
			moved += !in_range((unsigned long)q, PAGE);
			*(volatile char *)q = 1;
			munmap(q, PAGE);
		}
	}
	verdict(route, d == 0 && !hole && moved == 3, "io_destroy at %#lx = %ld%s%s; hole in the pool: %s; hints into the range moved out: %d of 3",
	        pool - PAGE, d, d ? " " : "", d ? ename(e) : "", hole ? "YES" : "no", moved);
}

static void shrunk_below(void) {
	const char *route = "aio-ring-shrunk-below";
	// (Below vm.mmap_min_addr only with CAP_SYS_RAWIO: else info.)
	unsigned long to = LO - PAGE, span = shrunk_to(route, to);
	if (span <= 1) return;
	long d = syscall(SYS_io_destroy, (aio_context_t)to);
	int e = errno;
	int hole = !nohole(LO, span - PAGE);
	void *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (q != MAP_FAILED && in_range((unsigned long)q, PAGE)) *(volatile char *)q = 1;
	verdict(route, d == 0 && !hole, "ring of %lu pages shrunk to one, moved to %#lx; io_destroy = %ld%s%s; hole at %#lx: %s", span / PAGE, to, d,
	        d ? " " : "", d ? ename(e) : "", LO, hole ? "YES" : "no");
	if (q != MAP_FAILED) munmap(q, PAGE);
}

// multi moves [page][second] (second made by make_second, n bytes) into
// the range at to with one mremap of the page's length plus the
// second's first page.
static void multi(const char *route, unsigned long at, unsigned long to) {
	char *page = mmap((void *)(at - PAGE), PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (page == MAP_FAILED) {
		verdict(route, 0, "the page before %#lx: %s", at, ename(errno));
		return;
	}
	void *p = mremap(page, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to);
	int e = errno;
	if (p != MAP_FAILED) {
		allow(to, 2 * PAGE);
		// Out again: what the kernel moved in, it moves out.
		mremap((void *)to, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(at - PAGE));
		pthread_mutex_lock(&maps_lock);
		nokv--;
		pthread_mutex_unlock(&maps_lock);
	}
	unsigned long holes = hole_bytes();
	verdict(route, p == MAP_FAILED && (e == EINVAL || (strict_mode && e == EPERM)) && holes == 0,
	        "mremap of a page and the mapping after it to %#lx: %s; holes in the range: %#lx", to,
	        p == MAP_FAILED ? ename(e) : "moved", holes);
	munmap(page, PAGE);
}

static void aio_multi(void) {
	aio_context_t ctx;
	struct mapping m;
	if (!new_ring("aio-ring-multi", 1, &ctx, &m)) return;
	unsigned long at = 0x500000000000UL, len = m.end - m.start;
	if (mremap((void *)m.start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)at) == MAP_FAILED) {
		verdict("aio-ring-multi", 0, "mremap of the ring to %#lx: %s", at, ename(errno));
		return;
	}
	multi("aio-ring-multi", at, 0x7fe00000);
	syscall(SYS_io_destroy, (aio_context_t)at);
}

static void huge_multi(void) {
	unsigned long at = 0x600000000000UL;
	void *h = mmap((void *)at, 2UL << 20, PROT_READ | PROT_WRITE,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
	if (h == MAP_FAILED) {
		say("huge-multi info: no hugetlb mapping here: %s", ename(errno));
		verdict("huge-multi", 1, "nothing to move");
		return;
	}
	multi("huge-multi", at, 0x401ff000);
	munmap(h, 2UL << 20);
}

// wp_uffd write-protects page with a new userfaultfd (the system call,
// or /dev/userfaultfd where the program lacks CAP_SYS_PTRACE, as with
// --strict); -1 if neither can be had.
static int wp_uffd(unsigned long page) {
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
			close(dev);
		}
	}
	if (fd < 0) return -1;
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP};
	struct uffdio_register reg = {.range = {page, PAGE}, .mode = UFFDIO_REGISTER_MODE_WP};
	struct uffdio_writeprotect wp = {.range = {page, PAGE}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg) || ioctl(fd, UFFDIO_WRITEPROTECT, &wp)) {
		close(fd);
		return -1;
	}
	return fd;
}

static unsigned long setup_ctxp;
static long setup_ret;

static void *setup_thread(void *x) {
	(void)x;
	setup_ret = syscall(SYS_io_setup, 4096, (aio_context_t *)setup_ctxp) ? -errno : 0;
	return NULL;
}

static void setup_moved_below(void) {
	const char *route = "aio-setup-moved-below";
	unsigned long to = LO - PAGE;
	char *ctxp = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*(volatile aio_context_t *)ctxp = 0; // io_setup wants 0 there
	int uffd = wp_uffd((unsigned long)ctxp);
	if (uffd < 0) {
		say("%s info: no userfaultfd to write-protect with: %s", route, ename(errno));
		return;
	}
	setup_ctxp = (unsigned long)ctxp;
	pthread_t th;
	pthread_create(&th, NULL, setup_thread, NULL);
	struct pollfd pfd = {uffd, POLLIN, 0};
	struct uffd_msg msg;
	if (poll(&pfd, 1, 10000) != 1 || read(uffd, &msg, sizeof msg) != sizeof msg) {
		verdict(route, 0, "io_setup's write of the context id never waited on the userfaultfd");
		close(uffd);
		pthread_join(th, NULL);
		return;
	}
	// The new ring: the only [aio] mapping.
	unsigned long ring = 0, end = 0;
	pthread_mutex_lock(&maps_lock);
	int n = read_maps();
	for (int i = 0; i < n; i++)
		if (strstr(maps_tab[i].path, "[aio]")) ring = maps_tab[i].start, end = maps_tab[i].end;
	pthread_mutex_unlock(&maps_lock);
	long mv = -1;
	int e = 0;
	if (ring && end - ring > PAGE && munmap((void *)(ring + PAGE), end - ring - PAGE) == 0) {
		void *r = mremap((void *)ring, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to);
		mv = r == MAP_FAILED ? -1 : 0;
		e = errno;
	}
	munmap(ctxp, PAGE); // the write retries, finds nothing: EFAULT
	close(uffd);
	pthread_join(th, NULL);
	int hole = !nohole(LO, 64 * PAGE);
	void *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (q != MAP_FAILED && in_range((unsigned long)q, PAGE)) *(volatile char *)q = 1;
	if (!ring) {
		verdict(route, 0, "no ring found while io_setup waited");
	} else if (mv != 0 && e == EPERM && !hole) {
		say("%s info: the move to %#lx: EPERM (below vm.mmap_min_addr)", route, to);
		verdict(route, 1, "nothing moved there");
	} else {
		verdict(route, ((mv != 0 && e == EINVAL) || mv == 0) && !hole,
		        "ring %#lx shrunk to a page and moved to %#lx during io_setup: %s; io_setup = %s; hole at %#lx: %s", ring, to,
		        mv == 0 ? "moved" : ename(e), setup_ret ? ename(-setup_ret) : "0", LO, hole ? "YES" : "no");
	}
	if (q != MAP_FAILED) munmap(q, PAGE);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	moved_in();
	shrunk_below();
	shrunk_below_pool();
	aio_multi();
	huge_multi();
	setup_moved_below();
	return finish();
}
