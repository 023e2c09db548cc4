// escape_shm: System V shared memory attached at an address. shmat with
// an address is an explicit request: honoured over reservations without
// --strict, EPERM with it (argv[1] "strict"); over the program's own
// mapping EINVAL unless SHM_REMAP. Also through the i386 entry (ipc
// SHMAT and shmat), what shmdt leaves behind, and a segment whose id
// means another segment in the tracer's IPC namespace.
#include "escape.h"

#include <sched.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif

// seg creates a segment that goes away with the program: one attachment
// is kept (at an address of the kernel's choosing) and the segment is
// marked for removal at once; Linux still lets it be attached by id.
static int seg(unsigned long size) {
	int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (id < 0 || shmat(id, NULL, SHM_RDONLY) == (void *)-1 || shmctl(id, IPC_RMID, NULL) != 0) {
		say("setup FAIL: shmget/shmat/IPC_RMID: %s", ename(errno));
		exit(2);
	}
	return id;
}

static void attach(const char *route, int id, unsigned long addr, int flg, unsigned long want, const char *what) {
	void *p = shmat(id, (void *)addr, flg);
	expect_fixed(route, p == (void *)-1 ? MAP_FAILED : p, errno, want, PAGE, what);
	if (p != (void *)-1 && !(flg & SHM_RDONLY)) *(volatile char *)p = 1;
}

// shmdt_fragment attaches a segment where the kernel chooses, moves the
// page at offset 0x20000 to 0x20000 inside the range with mremap
// (honoured without --strict), then detaches with shmdt(0), from which
// that page lies at its offset: the kernel detaches it. With i386 set,
// the shmdt is made through int $0x80 with garbage in the high half of
// the address register (the kernel uses the low 32 bits). Is a hole left?
static void shmdt_fragment(const char *route, int i386) {
	int frag = seg(0x21000);
	char *base = shmat(frag, NULL, 0);
	void *f = base == (void *)-1 ? MAP_FAILED
	                             : mremap(base + 0x20000, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x20000);
	int moved = f == (void *)0x20000;
	if (moved) allow(0x20000, PAGE);
	int dt = -1, e = 0;
	if (moved && i386) {
		unsigned long r = int80(NR32_shmdt, 0xdead00000000UL, 0, 0, 0, 0, 0);
		e = err32(r);
		dt = e ? -1 : 0;
	} else if (moved) {
		dt = shmdt((void *)0);
		e = errno;
	}
	int hole = !nohole(0x20000, PAGE);
	if (moved) {
		pthread_mutex_lock(&maps_lock);
		nokv--;
		pthread_mutex_unlock(&maps_lock);
	}
	verdict(route, moved && dt == 0 && !hole, "piece at offset 0x20000 moved to 0x20000: %s; shmdt = %d %s; hole left: %s",
	        moved ? "yes" : "no", dt, dt ? ename(e) : "", hole ? "YES" : "no");
	if (base != (void *)-1) shmdt(base);
}

static void unallow(int n) {
	pthread_mutex_lock(&maps_lock);
	nokv -= n;
	pthread_mutex_unlock(&maps_lock);
}

static int sysv_at(unsigned long a) {
	struct mapping m;
	return mapped_at(a, &m) && strncmp(m.path, "/SYSV", 5) == 0;
}

static int map32_outside(void) {
	void *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (q == MAP_FAILED) return 1;
	int out = !in_range((unsigned long)q, PAGE);
	munmap(q, PAGE);
	return out;
}

// shmdt_other: the kernel's shmdt(addr) detaches the first System V
// mapping at or above addr whose offset in its segment is its distance
// from addr, of whatever segment, and the pieces of that attachment (its
// file: each shmat has its own) so placed; not necessarily the
// attachment the guard recorded at addr. Segment X (4 pages) is attached
// at x, and a page at offset zoff of another segment Z (with same set,
// of a second attachment of X's segment) is moved (mremap) to x + zoff,
// after X's pages in drop (a mask) are unmapped. With back set, X's
// page 1 is instead moved out of the range and back. Natively the call
// detaches Z's page (or all of X), and X's other pages stay. Is a hole
// left in the range, does MAP_32BIT find one, and is what the kernel
// keeps still there?
static void shmdt_other(const char *route, unsigned long x, int drop, unsigned long zoff, int back, int same) {
	int xs = seg(4 * PAGE), zs = same ? xs : seg(4 * PAGE);
	char *ax = shmat(xs, (void *)x, SHM_REMAP);
	if (ax != (char *)x) {
		verdict(route, 0, "setup: shmat(%#lx, SHM_REMAP): %s", x, ename(errno));
		return;
	}
	unsigned long lo = x < LO ? LO : x, hi = x + 4 * PAGE > HI ? HI : x + 4 * PAGE; // X's part in the range
	allow(lo, hi - lo);
	for (int i = 0; i < 4; i++)
		if (drop & (1 << i)) munmap(ax + i * PAGE, PAGE);
	char *az = (char *)-1;
	if (back) {
		void *out = mremap(ax + PAGE, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x90000000UL);
		void *again = out == MAP_FAILED ? out : mremap(out, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, ax + PAGE);
		if (again != ax + PAGE) {
			verdict(route, 0, "setup: X's page 1 out and back: %s", ename(errno));
			unallow(1);
			return;
		}
	} else {
		az = shmat(zs, NULL, 0);
		void *m = az == (char *)-1 ? MAP_FAILED : mremap(az + zoff, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, ax + zoff);
		if (m != ax + zoff) {
			verdict(route, 0, "setup: Z's page at %#lx moved to %#lx: %s", zoff, x + zoff, ename(errno));
			unallow(1);
			return;
		}
	}
	int dt = shmdt(ax), e = errno;
	// What the kernel keeps: X's pages not dropped, unless the call
	// detached X itself (back).
	int kept = 1;
	for (int i = 0; i < 4 && !back; i++)
		if (!(drop & (1 << i)) && x + i * PAGE < HI && x + i * PAGE != x + zoff) kept = kept && sysv_at(x + i * PAGE);
	int zgone = back || !sysv_at(x + zoff);
	int hole = !nohole(lo, hi - lo);
	int m32 = map32_outside();
	verdict(route, dt == 0 && kept && zgone && !hole && m32,
	        "shmdt(%#lx) = %d %s; X's other pages kept: %s; the piece at its offset detached: %s; hole left: %s; "
	        "MAP_32BIT outside the range: %s",
	        x, dt, dt ? ename(e) : "", kept ? "yes" : "NO", zgone ? "yes" : "NO", hole ? "YES" : "no", m32 ? "yes" : "NO");
	// Clean up: what is left of X (unmapped: in the range the
	// reservations come back), and Z.
	munmap(ax, 4 * PAGE);
	unallow(1);
	if (az != (char *)-1) shmdt(az);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int id = seg(PAGE);

	void *p = shmat(id, NULL, 0);
	expect_outside("shmat-null", p == (void *)-1 ? MAP_FAILED : p, errno, PAGE, "shmat(NULL)");
	if (p != (void *)-1) shmdt(p);

	attach("shmat-inside", id, 0x34000000, 0, 0x34000000, "shmat(0x34000000)");
	attach("shmat-inside-remap", id, 0x34100000, SHM_REMAP, 0x34100000, "shmat(0x34100000, SHM_REMAP)");
	attach("shmat-inside-rnd", id, 0x34200123, SHM_RND, 0x34200000, "shmat(0x34200123, SHM_RND)");
	attach("shmat-rdonly-inside", id, 0x34300000, SHM_RDONLY, 0x34300000, "shmat(0x34300000, SHM_RDONLY)");
	{
		// Across the range's end: EINVAL (not supported) or EPERM (strict);
		// natively it would be honoured.
		int big = seg(2 * PAGE);
		p = shmat(big, (void *)(HI - PAGE), 0);
		if (p == (void *)-1)
			verdict("shmat-across-end", errno == (strict_mode ? EPERM : EINVAL), "shmat(0x7ffff000, 2 pages): %s", ename(errno));
		else {
			allow(HI - PAGE, PAGE);
			verdict("shmat-across-end", !strict_mode, "shmat(0x7ffff000, 2 pages) honoured at %p", p);
			shmdt(p);
		}
	}
	if (!strict_mode) {
		char *own = mmap((void *)0x34400000, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (own == (void *)0x34400000) allow(0x34400000, PAGE);
		p = shmat(id, own, 0);
		expect_errno("shmat-over-own", p == (void *)-1 ? -1 : (long)p, errno, EINVAL, "shmat(own mapping at 0x34400000)");
		attach("shmat-over-own-remap", id, 0x34400000, SHM_REMAP, 0x34400000, "shmat(own mapping, SHM_REMAP)");
	}

	// The i386 entry: ipc(SHMAT, ...) writes the address to a 32-bit word.
	{
		uint32_t *raddr = low4g();
		*raddr = 0;
		unsigned long r = int80(NR32_ipc, 21 /* SHMAT */, id, 0, (unsigned long)raddr, 0x34500000, 0);
		int e = err32(r);
		expect_fixed("i386-ipc-shmat-inside", e ? MAP_FAILED : (void *)(unsigned long)*raddr, e, 0x34500000, PAGE,
		             "i386 ipc(SHMAT, 0x34500000)");
		r = int80(NR32_shmat, id, 0xffffffff00000000UL | 0x34600000, 0, 0, 0, 0);
		e = err32(r);
		expect_fixed("i386-shmat-inside-hi-garbage", e ? MAP_FAILED : (void *)(r & 0xffffffff), e, 0x34600000, PAGE,
		             "i386 shmat(ffffffff:34600000)");
		r = int80(NR32_shmat, id, 0, 0, 0, 0, 0);
		e = err32(r);
		expect_outside("i386-shmat-null", e ? MAP_FAILED : (void *)(r & 0xffffffff), e, PAGE, "i386 shmat(NULL)");
	}

	// shmdt removes an attachment the guard placed over a reservation:
	// what is left there, and does MAP_32BIT (which looks from
	// 0x40000000 up) find a hole?
	{
		p = shmat(id, (void *)0x60000000, 0);
		int attached = p == (void *)0x60000000;
		if (attached) allow(0x60000000, PAGE);
		int dt = attached ? shmdt(p) : 0;
		int hole = !nohole(0x60000000, PAGE);
		void *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		int e = errno;
		if (attached) { // the explicit permission ends with the detach
			pthread_mutex_lock(&maps_lock);
			nokv--;
			pthread_mutex_unlock(&maps_lock);
		}
		if (q == MAP_FAILED)
			verdict("shmdt-then-map32bit", e == ENOMEM && !hole, "shmat(0x60000000) %s, shmdt %d, hole left: %s; MAP_32BIT: %s",
			        attached ? "honoured" : "refused", dt, hole ? "yes" : "no", ename(e));
		else
			verdict("shmdt-then-map32bit", !in_range((unsigned long)q, PAGE) && !hole,
			        "shmat(0x60000000) %s, shmdt %d, hole left: %s; MAP_32BIT = %p", attached ? "honoured" : "refused", dt,
			        hole ? "yes" : "no", q);
	}

	// Pieces of a segment moved into the range, detached from below
	// (see shmdt_fragment). (With --strict the mremap is refused.)
	if (!strict_mode) {
		shmdt_fragment("shmdt-fragment", 0);
		shmdt_fragment("i386-shmdt-fragment-hi-garbage", 1);
		// (Found by the fourteenth session's hunt: a hole MAP_32BIT
		// took, a page of X's lost, a kill.)
		shmdt_other("shmdt-record-emptied", 0x35000000, 0xf, 2 * PAGE, 0, 0);
		shmdt_other("shmdt-other-segment-first", 0x35100000, 0x1, 0, 0, 0);
		shmdt_other("shmdt-moved-back-across-end", HI - 2 * PAGE, 0, 0, 1, 0);
		shmdt_other("shmdt-other-segment-across-end", HI - 2 * PAGE, 0x1, 0, 0, 0);
		// Below the range's start (0xe000: root maps there), a second
		// attachment of the same segment first at the address.
		shmdt_other("shmdt-second-attachment-across-start", LO - 2 * PAGE, 0x1, 0, 0, 1);
	}

	// A segment id is only meaningful in an IPC namespace. Make the
	// program's segment of 64 MiB carry the id of a one-page segment in
	// the namespace it started in, then attach it just below the end of
	// the pool, under which the program keeps a mapping of its own.
	{
		const unsigned long pool_end = 0x300000000000UL, big = 64UL << 20;
		int host = seg(PAGE);
		char *canary = mmap((void *)pool_end, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		                    -1, 0);
		int fd = -1;
		if (canary != (void *)pool_end || unshare(CLONE_NEWIPC) != 0 ||
		    (fd = open("/proc/sys/kernel/shm_next_id", O_WRONLY)) < 0) {
			say("setup FAIL: canary %p, unshare/shm_next_id: %s", canary, ename(errno));
			return 2;
		}
		canary[0] = 0x5a;
		char num[32];
		int n = snprintf(num, sizeof num, "%d", host);
		ssize_t w = write(fd, num, n);
		(void)w;
		close(fd);
		int mine = seg(big);
		p = shmat(mine, (void *)(pool_end - PAGE), 0);
		int e = errno;
		if (p == (void *)-1)
			verdict("shmat-id-from-other-ipc-namespace", e == EINVAL && canary[0] == 0x5a,
			        "segment id %d (also a 1-page segment outside the namespace), 64 MiB, shmat(0x2ffffffff000): %s", mine,
			        ename(e));
		else
			verdict("shmat-id-from-other-ipc-namespace", 0,
			        "segment id %d (also a 1-page segment outside the namespace), 64 MiB, shmat(0x2ffffffff000) = %p: "
			        "attached over the program's own mapping at 0x300000000000 (canary %s), natively EINVAL",
			        mine, p, canary[0] == 0x5a ? "intact" : "gone");
	}
	return finish();
}
