// escape_vdso: arch_prctl(ARCH_MAP_VDSO_64 / _32 / _X32, addr) (kernels
// with CONFIG_CHECKPOINT_RESTORE) maps a vDSO (with its vvar pages
// before it) once the process has none: the probe unmaps [vvar],
// [vvar_vclock] and [vdso] (outside every guarded range, so munmap does
// not stop) and asks for one at 0x30000000, at the range's start, across
// its end (0x7fffc000: the vvar pages come first) and in the pool. The
// kernel takes addr as a hint only (get_unmapped_area without
// MAP_FIXED): natively the vDSO lands there, under the guard the
// reservations make the kernel choose elsewhere. race (without
// --strict): the same at 0x50000000 in a loop while another thread
// moves a mapping of its own out of the range there (a hole for a
// moment, until the guard reserves it again).
#include "escape.h"

#define ARCH_MAP_VDSO_X32 0x2001
#define ARCH_MAP_VDSO_32 0x2002
#define ARCH_MAP_VDSO_64 0x2003
#define POOL_AT 0x200000100000UL

static int is_vdso(const struct mapping *m) {
	return strcmp(m->path, "[vdso]") == 0 || strncmp(m->path, "[vvar", 5) == 0;
}

// unmap_vdso unmaps the vDSO and its vvar pages.
static void unmap_vdso(void) {
	unsigned long s[8], e[8];
	int k = 0;
	pthread_mutex_lock(&maps_lock);
	int n = read_maps();
	for (int i = 0; i < n && k < 8; i++)
		if (is_vdso(&maps_tab[i])) s[k] = maps_tab[i].start, e[k++] = maps_tab[i].end;
	pthread_mutex_unlock(&maps_lock);
	for (int i = 0; i < k; i++) syscall(SYS_munmap, s[i], e[i] - s[i]);
}

// vdso_in reports where the vDSO's mappings reach [lo, hi), or 0.
static unsigned long vdso_in(unsigned long lo, unsigned long hi) {
	unsigned long at = 0;
	pthread_mutex_lock(&maps_lock);
	int n = read_maps();
	for (int i = 0; i < n; i++)
		if (is_vdso(&maps_tab[i]) && maps_tab[i].start < hi && maps_tab[i].end > lo) at = maps_tab[i].start;
	pthread_mutex_unlock(&maps_lock);
	return at;
}

static void one(const char *route, int op, unsigned long addr) {
	unmap_vdso();
	long r = syscall(SYS_arch_prctl, op, addr);
	int e = errno;
	unsigned long in = vdso_in(LO, HI), pool = vdso_in(POOL_AT & ~0xfffffUL, (POOL_AT & ~0xfffffUL) + (1 << 20));
	if (in) {
		failures++;
		say("%s ESCAPED: the vDSO at %#lx, in the range (arch_prctl(%#x, %#lx) = %ld)", route, in, op, addr, r);
	} else if (r < 0 && op == ARCH_MAP_VDSO_X32) {
		verdict(route, e == EINVAL || e == EEXIST, "arch_prctl(ARCH_MAP_VDSO_X32, %#lx): %s", addr, ename(e));
	} else {
		verdict(route, r >= 0 && !pool, "arch_prctl(%#x, %#lx) = %ld %s; the vDSO %s", op, addr, r, r < 0 ? ename(e) : "",
		        pool ? "in the pool" : "outside the range and the pool");
	}
}

static volatile int stop;

static void *mover(void *x) {
	(void)x;
	while (!stop) {
		void *p = mmap((void *)0x50000000, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p != (void *)0x50000000) break;
		// The reservation after it stops the growth in place: it moves out.
		void *q = mremap(p, 16 * PAGE, 1 << 20, MREMAP_MAYMOVE);
		if (q != MAP_FAILED) munmap(q, 1 << 20);
	}
	return NULL;
}

static void race(void) {
	const char *route = "vdso-race";
	allow(0x50000000, 16 * PAGE);
	pthread_t t;
	pthread_create(&t, NULL, mover, NULL);
	int tries = 0, mapped = 0;
	unsigned long in = 0;
	unmap_vdso();
	for (; tries < 3000 && !in; tries++) {
		if (syscall(SYS_arch_prctl, ARCH_MAP_VDSO_64, 0x50000000UL) < 0) continue;
		mapped++;
		if ((in = vdso_in(LO, HI))) break;
		unmap_vdso();
	}
	stop = 1;
	pthread_join(t, NULL);
	if (in) {
		failures++;
		say("%s ESCAPED: the vDSO at %#lx, in the range, after %d tries", route, in, tries);
		return;
	}
	verdict(route, mapped > 0, "%d ARCH_MAP_VDSO_64 at 0x50000000 while a mapping there moved out: %d mapped, none in the range",
	        tries, mapped);
}

// lam: arch_prctl(ARCH_ENABLE_TAGGED_ADDR), Linear Address Masking, with
// which the kernel would ignore tag bits in the addresses of munmap,
// mprotect, madvise and their kind, and a tagged address inside the
// range would look far from it to the filter. The guard refuses it as
// the kernel does where the CPU has no LAM: EINVAL where the kernel
// knows no tagged-address options (ARCH_GET_UNTAG_MASK says so), ENODEV
// where it does.
static void lam(void) {
	unsigned long mask = 0;
	int want = syscall(SYS_arch_prctl, 0x4001 /* ARCH_GET_UNTAG_MASK */, &mask) != 0 && errno == EINVAL ? EINVAL : ENODEV;
	long r = syscall(SYS_arch_prctl, 0x4002 /* ARCH_ENABLE_TAGGED_ADDR */, 6);
	expect_errno("lam-tagged-addr", r, errno, want, "arch_prctl(ARCH_ENABLE_TAGGED_ADDR, 6)");
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	if (argc > 1 && strcmp(argv[argc - 1], "race") == 0) {
		race();
		return finish();
	}
	lam();
	one("vdso64-inside", ARCH_MAP_VDSO_64, 0x30000000);
	one("vdso64-start", ARCH_MAP_VDSO_64, LO);
	one("vdso64-across-end", ARCH_MAP_VDSO_64, HI - 4 * PAGE);
	one("vdso64-pool", ARCH_MAP_VDSO_64, POOL_AT);
	one("vdso32-inside", ARCH_MAP_VDSO_32, 0x30000000);
	one("vdso32-pool", ARCH_MAP_VDSO_32, POOL_AT);
	one("vdsox32-inside", ARCH_MAP_VDSO_X32, 0x30000000);
	return finish();
}
