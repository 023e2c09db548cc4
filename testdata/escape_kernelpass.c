// escape_kernelpass: calls the filter lets the kernel run without a stop,
// with arguments that make the kernel act somewhere else than the range
// the filter looked at.
//   - mremap with MREMAP_DONTUNMAP but without MREMAP_FIXED: new_addr is
//     a hint then (get_unmapped_area), which the filter does not look at;
//     inside the range, below it reaching in, and in the pool;
//   - mremap growing a mapping in place toward the pool from more than
//     1 GiB below it (the filter's margin), without and with
//     MREMAP_MAYMOVE;
//   - mprotect with PROT_GROWSDOWN of a MAP_GROWSDOWN mapping of the
//     program's that straddles the range's end, aimed above the end: the
//     kernel extends the change down to the mapping's start;
//   - calls the filter does not list, aimed at reservations:
//     set_mempolicy_home_node (both ABIs, i386 with garbage in the
//     registers' upper halves), process_madvise(MADV_COLLAPSE),
//     userfaultfd's UFFDIO_REGISTER and UFFDIO_ZEROPAGE, i386
//     arch_prctl(ARCH_MAP_VDSO_32) and i386 call 453 (map_shadow_stack
//     on x86-64);
//   - brk with a break whose page-aligned value wraps to 0.
#include "escape.h"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

#define POOL 0x200000000000UL
#define INSIDE 0x30000000UL

// pool_state describes the mapping at the pool's first page (the guard's
// code page or a reservation under the guard; nothing natively).
static void pool_state(char *out, size_t n) {
	struct mapping m;
	if (mapped_at(POOL, &m)) snprintf(out, n, "%lx-%lx %s", m.start, m.end, m.perms);
	else snprintf(out, n, "nothing");
}

static void dontunmap(const char *route, unsigned long hint, unsigned long n) {
	char *old = mmap(NULL, n, RW, ANON, -1, 0);
	if (old == MAP_FAILED) {
		verdict(route, 0, "setup mmap: %s", ename(errno));
		return;
	}
	memset(old, 1, n);
	int was = reserved(hint, n);
	void *p = mremap(old, n, n, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, (void *)hint);
	int e = errno;
	char what[128];
	snprintf(what, sizeof what, "mremap(MAYMOVE|DONTUNMAP, new_addr %#lx) of %lu KiB", hint, n >> 10);
	if (hint >= POOL) {
		// The pool is no protected range: it must stay the guard's.
		if (p == MAP_FAILED) verdict(route, 0, "%s: %s", what, ename(e));
		else if (was) verdict(route, (unsigned long)p != hint && reserved(hint, n), "%s = %p, pool reservation %s", what, p,
		                      reserved(hint, n) ? "intact" : "GONE");
		else verdict(route, 1, "%s = %p (no pool here)", what, p);
	} else {
		expect_outside(route, p, e, n, what);
	}
	if (p != MAP_FAILED && !in_range((unsigned long)p, n)) munmap(p, n);
	munmap(old, n);
}

static void grow_toward_pool(const char *route, int flags) {
	unsigned long a = POOL - (2UL << 30), n = (2UL << 30) + PAGE;
	char before[128], after[128];
	pool_state(before, sizeof before);
	void *m = mmap((void *)a, PAGE, RW, ANON | MAP_FIXED_NOREPLACE, -1, 0);
	if (m != (void *)a) {
		verdict(route, 0, "setup mmap at %#lx: %s", a, ename(errno));
		return;
	}
	void *p = mremap(m, PAGE, n, flags);
	int e = errno;
	pool_state(after, sizeof after);
	int pool = strcmp(before, "nothing") != 0;
	unsigned long got = p == MAP_FAILED ? 0 : (unsigned long)p;
	char what[384];
	snprintf(what, sizeof what, "mremap(%#lx, 1 page, 2 GiB + 1 page, %s) = %s; pool's first page %s, after %s", a,
	         flags ? "MAYMOVE" : "0", p == MAP_FAILED ? ename(e) : got == a ? "grown in place" : "moved", before, after);
	if (!pool) verdict(route, 1, "%s (no pool: nothing to keep)", what);
	else if (flags == 0) verdict(route, p == MAP_FAILED && e == ENOMEM && strcmp(before, after) == 0, "%s", what);
	else verdict(route, p != MAP_FAILED && (got + n <= POOL || got >= 0x300000000000UL) && strcmp(before, after) == 0,
	             "%s, to %#lx", what, got);
	munmap(p == MAP_FAILED ? m : p, p == MAP_FAILED ? PAGE : n);
}

static void growsdown_straddle(void) {
	const char *route = "growsdown-mprotect-straddle";
	if (strict_mode) {
		verdict(route, 1, "skipped with --strict (the straddling mapping is refused)");
		return;
	}
	unsigned long a = HI - PAGE;
	int was = reserved(HI - 2 * PAGE, PAGE);
	void *m = mmap((void *)a, 2 * PAGE, RW, ANON | MAP_FIXED | MAP_GROWSDOWN, -1, 0);
	if (m != (void *)a) {
		verdict(route, 0, "setup MAP_FIXED|MAP_GROWSDOWN at %#lx: %p %s", a, m, ename(errno));
		return;
	}
	allow(a, 2 * PAGE);
	int r = mprotect((void *)HI, PAGE, PROT_READ | PROT_GROWSDOWN);
	int e = errno;
	struct mapping mm;
	int got = mapped_at(a, &mm);
	char what[256];
	snprintf(what, sizeof what, "mprotect(%#lx, 1 page, PROT_READ|PROT_GROWSDOWN) = %s; mapping at %#lx now %s", HI,
	         r ? ename(e) : "0", a, got ? mm.perms : "gone");
	still_reserved(route, HI - 2 * PAGE, PAGE, was, what);
	munmap(m, 2 * PAGE);
}

static void home_node(void) {
	int was = reserved(INSIDE, 16 * PAGE);
	long r = syscall(450, INSIDE, 16 * PAGE, 0, 0);
	char what[128];
	snprintf(what, sizeof what, "set_mempolicy_home_node(%#lx, 16 pages, node 0) = %s", INSIDE, r ? ename(errno) : "0");
	still_reserved("home-node", INSIDE, 16 * PAGE, was, what);
	unsigned long r32 = int80(450, 0xdead000000000000UL | INSIDE, 0xbeef000000000000UL | 16 * PAGE, 0xf00d00000000UL, 0,
	                          0, 0);
	snprintf(what, sizeof what, "i386 set_mempolicy_home_node, upper halves set = %s",
	         err32(r32) ? ename(err32(r32)) : "0");
	still_reserved("i386-home-node", INSIDE, 16 * PAGE, was, what);
}

static void collapse(void) {
	unsigned long a = 0x40000000UL, n = 4UL << 20;
	int was = reserved(a, n);
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	struct iovec iov = {(void *)a, n};
	long r = syscall(SYS_process_madvise, pidfd, &iov, 1, 25 /* MADV_COLLAPSE */, 0);
	char what[128];
	snprintf(what, sizeof what, "process_madvise(self, %#lx, 4 MiB, MADV_COLLAPSE) = %s", a, r < 0 ? ename(errno) : "ok");
	still_reserved("process-madvise-collapse", a, n, was, what);
	close(pidfd);
}

static void uffd(void) {
	int was = reserved(INSIDE, PAGE);
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (fd < 0) {
		verdict("uffd-reservation", 1, "userfaultfd: %s (nothing to try)", ename(errno));
		return;
	}
	struct uffdio_api api = {.api = UFFD_API};
	ioctl(fd, UFFDIO_API, &api);
	struct uffdio_register reg = {.range = {INSIDE, PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	int r = ioctl(fd, UFFDIO_REGISTER, &reg);
	int e = errno;
	struct uffdio_zeropage zp = {.range = {INSIDE, PAGE}};
	int z = r == 0 ? ioctl(fd, UFFDIO_ZEROPAGE, &zp) : -1;
	int ze = errno;
	say("uffd-reservation info: UFFDIO_REGISTER = %s", r ? ename(e) : "0");
	char what[160];
	snprintf(what, sizeof what, "UFFDIO_REGISTER = %s, UFFDIO_ZEROPAGE = %s", r ? ename(e) : "0",
	         r ? "not tried" : z ? ename(ze) : "0");
	still_reserved("uffd-reservation", INSIDE, PAGE, was, what);
	close(fd);
}

// brk_wrap asks for a break whose page-aligned value wraps to 0.
static void brk_wrap(void) {
	unsigned long holes = hole_bytes(), cur = sys64(SYS_brk, 0, 0, 0, 0, 0, 0);
	unsigned long r1 = sys64(SYS_brk, 0xfffffffffffff001UL, 0, 0, 0, 0, 0);
	unsigned long r2 = sys64(SYS_brk, ~0UL, 0, 0, 0, 0, 0);
	verdict("brk-wrap", r1 == cur && r2 == cur && hole_bytes() == holes,
	        "brk(0xfffffffffffff001) = %#lx, brk(~0) = %#lx, the break was %#lx", r1, r2, cur);
}

static void i386_misc(void) {
	unsigned long before = hole_bytes();
	unsigned long r = int80(384, 0x2002 /* ARCH_MAP_VDSO_32 */, INSIDE, 0, 0, 0, 0);
	verdict("i386-arch-prctl-vdso", err32(r) && hole_bytes() == before, "i386 arch_prctl(ARCH_MAP_VDSO_32, %#lx) = %s",
	        INSIDE, err32(r) ? ename(err32(r)) : "0");
	r = int80(453, INSIDE, PAGE, 0, 0, 0, 0);
	verdict("i386-call-453", err32(r) && hole_bytes() == before, "i386 call 453 (%#lx, 1 page) = %s", INSIDE,
	        err32(r) ? ename(err32(r)) : "0");
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	dontunmap("dontunmap-hint-inside", INSIDE, PAGE);
	dontunmap("dontunmap-hint-reaching-in", LO - PAGE, 4 * PAGE);
	dontunmap("dontunmap-hint-pool", POOL + 0x100000, PAGE);
	grow_toward_pool("grow-in-place-toward-pool", 0);
	grow_toward_pool("grow-maymove-toward-pool", MREMAP_MAYMOVE);
	growsdown_straddle();
	home_node();
	collapse();
	uffd();
	brk_wrap();
	i386_misc();
	return finish();
}
