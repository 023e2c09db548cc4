// modelfuzz.c: a randomized differential fuzzer of mmapguard's model of an
// address space against the kernel's real layout.
//
//	modelfuzz [-n] [-s] [-2] [-p] [-v] SEED N   N random operations from SEED
//	modelfuzz [-n] [-s] [-2] [-p] [-v] -r FILE  the operations listed in FILE
//
// -n: native run (no guard: nothing is reserved, every part of the
// windows the program does not own must be a hole); -s: the guard runs
// with --strict; -2: the guard protects 0x100000000-0x180000000 too;
// -p: the guard runs with --pool-all; -v: print every operation.
//
// It makes mapping calls (MAP_FIXED, MAP_FIXED_NOREPLACE, hints, NULL,
// munmap, mremap in all its forms, mprotect, pkey_mprotect, madvise,
// mlock, munlock, mlock2, mseal, brk, shmat, shmdt, fork) at and around
// the protected ranges' edges, keeps its own shadow of what it owns,
// predicts each call's result from native semantics (what is not its own
// is a hole to it) and after every call reads /proc/self/maps and checks:
//
//  1. under the guard, every byte of the protected ranges (and of the
//     pool) is the program's own mapping, with the protection it set, or
//     a ---p anonymous reservation: no hole;
//  2. no part of them the program does not own is accessible;
//  3. each result is what the call gives natively (a reservation is a
//     hole), with the differences docs/policy.md promises;
//  4. everything the program owns is mapped as it mapped it, and, in the
//     windows outside guarded ranges, nothing else is mapped.
//
// On a violation it prints the seed, the step and the operations so far
// in the format -r reads (so a failure can be replayed and minimized),
// and exits 1. A forked child checks itself and exits 1 likewise.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "say.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

#define PG 4096UL
#define POOL_LO 0x200000000000UL
#define POOL_HI 0x300000000000UL

typedef unsigned long ul;

static int native, strict, two, poolall, verbose;
static ul seed;
static int step;
static int is_child;
static long heap; // pages the program's brk calls added

// --- output ---


// the operations so far, in -r's format, with their results
#define LOGMAX 4096
static char oplog[LOGMAX][160];
static int nlog;

static void logline(const char *fmt, ...) {
	char buf[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (nlog < LOGMAX) snprintf(oplog[nlog++], sizeof oplog[0], "%s", buf);
	if (verbose) say("%s", buf);
}

static void fail(const char *fmt, ...) {
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	say("VIOLATION seed=%lu step=%d%s: %s", seed, step, is_child ? " (child)" : "", buf);
	say("--- ops (modelfuzz -r format; '#' lines are results) ---");
	for (int i = 0; i < nlog; i++) say("%s", oplog[i]);
	say("--- maps ---");
	int fd = open("/proc/self/maps", O_RDONLY);
	char b[4096];
	ssize_t n;
	while (fd >= 0 && (n = read(fd, b, sizeof b)) > 0) {
		ssize_t w = write(1, b, n);
		(void)w;
	}
	_exit(1);
}

// --- random numbers (splitmix64) ---

static uint64_t rs;
static uint64_t rnd(void) {
	uint64_t z = (rs += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static ul rn(ul n) { return n ? rnd() % n : 0; }

// --- ranges ---

struct range {
	ul lo, hi;
};
static struct range prot[2];
static int nprot;
// windows: where the program places mappings itself; nothing else maps
// there natively
static const struct range win[] = {
	{0x8000UL, 0x10000UL + 48 * PG},                  // the first range's start
	{0x40000000UL, 0x40000000UL + 64 * PG},           // its middle
	{0x80000000UL - 32 * PG, 0x80000000UL + 32 * PG}, // its end
	{0x100000000UL - 32 * PG, 0x100000000UL + 32 * PG},
	{0x180000000UL - 32 * PG, 0x180000000UL + 32 * PG},
	{0x310000000000UL, 0x310000000000UL + 64 * PG}, // far from every range
};
#define NWIN (int)(sizeof win / sizeof win[0])
// the "wide" zone from window 2 to window 3 (the gap between the ranges)
static const struct range wide = {0x80000000UL - 32 * PG, 0x100000000UL + 32 * PG};
static const ul edges[] = {0x10000UL, 0x80000000UL, 0x100000000UL, 0x180000000UL};

static int overlaps(ul s, ul e, ul lo, ul hi) { return s < hi && e > lo; }
static int inside(ul s, ul e, ul lo, ul hi) { return s >= lo && e <= hi; }
static int prot_overlaps(ul s, ul e) {
	for (int i = 0; i < nprot; i++)
		if (overlaps(s, e, prot[i].lo, prot[i].hi)) return 1;
	return 0;
}
static int guarded_overlaps(ul s, ul e) {
	return !native && (prot_overlaps(s, e) || overlaps(s, e, POOL_LO, POOL_HI));
}
static int prot_crosses_edge(ul s, ul e) {
	for (int i = 0; i < nprot; i++)
		if (overlaps(s, e, prot[i].lo, prot[i].hi) && !inside(s, e, prot[i].lo, prot[i].hi)) return 1;
	return 0;
}

// zone returns the zone [lo, hi) holding [s, e) in which the program
// controls every byte (a window, the wide zone, under the guard the
// pool), or 0.
static int zone(ul s, ul e, struct range *z) {
	for (int i = 0; i < NWIN; i++)
		if (inside(s, e, win[i].lo, win[i].hi)) {
			*z = win[i];
			return 1;
		}
	if (inside(s, e, wide.lo, wide.hi)) {
		*z = wide;
		return 1;
	}
	if (!native && !poolall && inside(s, e, POOL_LO, POOL_HI)) { // with --pool-all the C library maps there too
		*z = (struct range){POOL_LO + PG, POOL_HI}; // not the code page
		return 1;
	}
	return 0;
}

// --- the shadow: what the program owns ---

enum kind { ANON_P, ANON_S, FILE_P, FILE_S, SHM };
static const char *kname[] = {"anon-p", "anon-s", "file-p", "file-s", "shm"};

struct seg {
	ul s, e;
	int prot, kind, dontfork, locked, att;
	ul off;  // file offset (files), offset in the segment (shm, shared anonymous)
	ul size; // the size of the object mapped (not for private anonymous)
};
#define MAXSEG 4096
static struct seg sh[MAXSEG];
static int nsh;

static int sh_find(ul x) {
	for (int i = 0; i < nsh; i++)
		if (sh[i].s <= x && x < sh[i].e) return i;
	return -1;
}
static void sh_split(ul x) {
	int i = sh_find(x);
	if (i < 0 || sh[i].s == x) return;
	if (nsh >= MAXSEG) fail("shadow full");
	memmove(&sh[i + 1], &sh[i], (nsh - i) * sizeof sh[0]);
	nsh++;
	sh[i].e = x;
	sh[i + 1].s = x;
	if (sh[i + 1].kind != ANON_P) sh[i + 1].off += x - sh[i].s;
}
static void sh_remove(ul s, ul e) {
	sh_split(s);
	sh_split(e);
	int j = 0;
	for (int i = 0; i < nsh; i++)
		if (!(sh[i].s >= s && sh[i].e <= e)) sh[j++] = sh[i];
	nsh = j;
}
static void sh_insert(struct seg g) {
	sh_remove(g.s, g.e);
	if (nsh >= MAXSEG) fail("shadow full");
	int i = 0;
	while (i < nsh && sh[i].s < g.s) i++;
	memmove(&sh[i + 1], &sh[i], (nsh - i) * sizeof sh[0]);
	sh[i] = g;
	nsh++;
}
// sh_first_hole returns the first address in [s, e) the program does not own, or e
static ul sh_first_hole(ul s, ul e) {
	ul x = s;
	while (x < e) {
		int i = sh_find(x);
		if (i < 0) return x;
		x = sh[i].e;
	}
	return e;
}
static int sh_any(ul s, ul e) {
	for (int i = 0; i < nsh; i++)
		if (overlaps(s, e, sh[i].s, sh[i].e)) return 1;
	return 0;
}
// sh_next returns the index of the first segment ending after x, or -1
static int sh_next(ul x, ul e) {
	for (int i = 0; i < nsh; i++)
		if (sh[i].e > x && sh[i].s < e) return i;
	return -1;
}
static void sh_compact(void) {
	int j = 0;
	for (int i = 0; i < nsh; i++) {
		if (j > 0) {
			struct seg *p = &sh[j - 1], *q = &sh[i];
			int cont = p->kind == ANON_P || (p->off + (p->e - p->s) == q->off && p->size == q->size);
			if (p->e == q->s && p->prot == q->prot && p->kind == q->kind && p->dontfork == q->dontfork &&
			    p->locked == q->locked && p->att == q->att && cont) {
				p->e = q->e;
				continue;
			}
		}
		sh[j++] = sh[i];
	}
	nsh = j;
}
// apply sets a field over the owned parts of [s, e)
enum field { F_PROT, F_DONTFORK, F_LOCKED };
static void sh_apply(ul s, ul e, enum field f, int v) {
	if (s >= e) return;
	sh_split(s);
	sh_split(e);
	for (int i = 0; i < nsh; i++) {
		if (!(sh[i].s >= s && sh[i].e <= e)) continue;
		if (f == F_PROT) sh[i].prot = v;
		if (f == F_DONTFORK) sh[i].dontfork = v;
		if (f == F_LOCKED) sh[i].locked = v;
	}
}

// --- System V segments and attachments ---

static int shmid[3];
static const ul shmsize[3] = {1 * PG, 3 * PG, 8 * PG};
struct att {
	ul addr, size;
};
#define MAXATT 1024
static struct att atts[MAXATT];
static int natt;

static int memfd;
#define MEMFD_PAGES 1024

// --- /proc/self/maps ---

struct vma {
	ul s, e, inode;
	char perms[5];
	char path[80];
};
#define MAXVMA 8192
static struct vma vm[MAXVMA];
static int nvm;
static char mapsbuf[1 << 20];

static void read_maps(void) {
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0) fail("open maps: %s", strerror(errno));
	size_t n = 0;
	ssize_t r;
	while ((r = read(fd, mapsbuf + n, sizeof mapsbuf - 1 - n)) > 0) n += r;
	close(fd);
	mapsbuf[n] = 0;
	nvm = 0;
	char *p = mapsbuf;
	while (*p && nvm < MAXVMA) {
		char *nl = strchr(p, '\n');
		if (nl) *nl = 0;
		struct vma *v = &vm[nvm];
		unsigned long off;
		char dev[16];
		int pos = 0;
		if (sscanf(p, "%lx-%lx %4s %lx %15s %lu %n", &v->s, &v->e, v->perms, &off, dev, &v->inode, &pos) >= 6) {
			snprintf(v->path, sizeof v->path, "%s", pos ? p + pos : "");
			nvm++;
		}
		if (!nl) break;
		*nl = '\n';
		p = nl + 1;
	}
}
static int vm_find(ul x) {
	for (int i = 0; i < nvm; i++)
		if (vm[i].s <= x && x < vm[i].e) return i;
	return -1;
}
static int vm_any(ul s, ul e) {
	for (int i = 0; i < nvm; i++)
		if (overlaps(s, e, vm[i].s, vm[i].e)) return i;
	return -1;
}

static const char *pstr(int p, int shared) {
	static char b[5];
	b[0] = p & PROT_READ ? 'r' : '-';
	b[1] = p & PROT_WRITE ? 'w' : '-';
	b[2] = p & PROT_EXEC ? 'x' : '-';
	b[3] = shared ? 's' : 'p';
	b[4] = 0;
	return b;
}

// check_owned: every segment of the shadow is mapped as the program mapped it
static void check_owned(void) {
	for (int i = 0; i < nsh; i++) {
		struct seg *g = &sh[i];
		int shared = g->kind == ANON_S || g->kind == FILE_S || g->kind == SHM;
		const char *want = pstr(g->prot, shared);
		ul x = g->s;
		while (x < g->e) {
			int j = vm_find(x);
			if (j < 0) fail("own %s mapping %lx-%lx (%s) has a hole at %lx", kname[g->kind], g->s, g->e, want, x);
			if (strcmp(vm[j].perms, want) != 0)
				fail("own %s mapping %lx-%lx should be %s, the kernel has %lx-%lx %s %s", kname[g->kind], g->s,
				     g->e, want, vm[j].s, vm[j].e, vm[j].perms, vm[j].path);
			int ok;
			switch (g->kind) {
			case ANON_P: ok = vm[j].inode == 0 && vm[j].path[0] == 0; break;
			case ANON_S: ok = strstr(vm[j].path, "/dev/zero") != NULL; break;
			case SHM: ok = strstr(vm[j].path, "SYSV") != NULL; break;
			default: ok = strstr(vm[j].path, "memfd:") != NULL; break;
			}
			if (!ok)
				fail("own %s mapping %lx-%lx: the kernel has %lx-%lx %s %s", kname[g->kind], g->s, g->e, vm[j].s,
				     vm[j].e, vm[j].perms, vm[j].path);
			x = vm[j].e;
		}
	}
}

// check_free: what the program does not own in [lo, hi) is a
// reservation (res) or a hole (!res)
static void check_free(ul lo, ul hi, int res, const char *what) {
	ul x = lo;
	while (x < hi) {
		int i = sh_find(x);
		if (i >= 0) {
			x = sh[i].e;
			continue;
		}
		int n = sh_next(x, hi);
		ul e = n >= 0 && sh[n].s < hi ? sh[n].s : hi;
		// [x, e) is not the program's
		ul y = x;
		while (y < e) {
			int j = vm_find(y);
			if (!res) {
				if (j >= 0) fail("%s: %lx-%lx is not the program's but mapped: %lx-%lx %s %s", what, x, e, vm[j].s, vm[j].e, vm[j].perms, vm[j].path);
				int k = vm_any(y, e);
				if (k >= 0) fail("%s: %lx-%lx is not the program's but mapped: %lx-%lx %s %s", what, x, e, vm[k].s, vm[k].e, vm[k].perms, vm[k].path);
				break;
			}
			if (j < 0) fail("%s: HOLE at %lx (in %lx-%lx, which the program does not own)", what, y, x, e);
			if (res == 2) { // anything but a hole (the pool with --pool-all: the C library's mappings)
				y = vm[j].e;
				continue;
			}
			int okres = strcmp(vm[j].perms, "---p") == 0 && vm[j].inode == 0 && vm[j].path[0] == 0;
			int code = vm[j].s == POOL_LO && vm[j].e == POOL_LO + PG && strcmp(vm[j].perms, "r-xp") == 0;
			if (!okres && !code)
				fail("%s: %lx-%lx is not the program's and not a reservation: %lx-%lx %s %s", what, x, e, vm[j].s, vm[j].e, vm[j].perms, vm[j].path);
			y = vm[j].e;
		}
		x = e;
	}
}

static void check(void) {
	read_maps();
	check_owned();
	if (!native) {
		for (int i = 0; i < nprot; i++) check_free(prot[i].lo, prot[i].hi, 1, "protected range");
		check_free(POOL_LO, POOL_HI, poolall ? 2 : 1, "pool");
	}
	// the windows' parts outside guarded ranges are the program's alone
	for (int i = 0; i < NWIN; i++) {
		ul x = win[i].lo;
		while (x < win[i].hi) {
			ul e = x + PG;
			int g = guarded_overlaps(x, e);
			while (e < win[i].hi && guarded_overlaps(e, e + PG) == g) e += PG;
			if (!g) check_free(x, e, 0, "window");
			x = e;
		}
	}
	// the gap between the ranges' windows is never guarded
	check_free(win[2].hi, win[3].lo, 0, "gap between the ranges");
}

// --- operations ---

enum opk { O_MMAP, O_MUNMAP, O_MPROTECT, O_MADVISE, O_MLOCK, O_MREMAP, O_BRK, O_SHMAT, O_SHMDT, O_MSEAL, O_FORK, NOPK };
static const char *opname[] = {"mmap", "munmap", "mprotect", "madvise", "mlock", "mremap", "brk", "shmat", "shmdt", "mseal", "fork"};

struct op {
	int k;
	ul a, b, c, d, e;
};

static const char *ename(long r) {
	if (r >= 0) return "ok";
	const char *s = strerrorname_np((int)-r);
	return s ? s : "E?";
}

static void logop(const struct op *o) {
	logline("%s%s %#lx %#lx %#lx %#lx %#lx", is_child ? "c " : "", opname[o->k], o->a, o->b, o->c, o->d, o->e);
}

// expect compares a result with the prediction; alt is another
// acceptable one (or 1 for none)
static void expect(const char *what, long got, long want, long alt) {
	if (got == want || (alt != 1 && got == alt)) return;
	fail("%s returned %#lx (%s), want %#lx (%s)%s%s", what, got, ename(got), want, ename(want),
	     alt != 1 ? " or " : "", alt != 1 ? ename(alt) : "");
}

static long sys(long r) { return r == -1 ? -errno : r; }

// pieces of mappings in [s, e), for moving them: copies of the shadow
static int snap(ul s, ul e, struct seg *buf, int max) {
	int n = 0;
	for (int i = 0; i < nsh && n < max; i++) {
		if (!overlaps(s, e, sh[i].s, sh[i].e)) continue;
		struct seg g = sh[i];
		if (g.s < s) {
			if (g.kind != ANON_P) g.off += s - g.s;
			g.s = s;
		}
		if (g.e > e) g.e = e;
		buf[n++] = g;
	}
	return n;
}

// sync_locks sets the shadow's locks in [s, e) from the kernel's
// mappings (smaps' "lo" flag), where the kernel's mapping boundaries
// decide what a call unlocks
static void sync_locks(ul s, ul e) {
	FILE *f = fopen("/proc/self/smaps", "r");
	if (!f) fail("smaps: %s", strerror(errno));
	char l[512];
	ul vs = 0, ve = 0;
	while (fgets(l, sizeof l, f)) {
		ul a, b;
		char c;
		if (sscanf(l, "%lx-%lx %c", &a, &b, &c) == 3 && l[strcspn(l, " ")] == ' ' && strchr(l, '-') < strchr(l, ' ')) {
			vs = a, ve = b;
			continue;
		}
		if (strncmp(l, "VmFlags:", 8) || !overlaps(s, e, vs, ve)) continue;
		sh_apply(vs > s ? vs : s, ve < e ? ve : e, F_LOCKED, strstr(l, " lo") != NULL);
	}
	fclose(f);
}

static int madv_err(const struct seg *g, int adv) {
	switch (adv) {
	case MADV_DONTNEED:
		return g->locked ? -EINVAL : 0;
	case MADV_FREE:
		return g->locked || g->kind != ANON_P ? -EINVAL : 0;
	case MADV_REMOVE:
		if (g->locked) return -EINVAL;
		if (g->kind == ANON_P) return -EINVAL;
		if (g->kind == FILE_P) return -EACCES;
		return 0;
	case MADV_WIPEONFORK:
		return g->kind != ANON_P ? -EINVAL : 0;
	}
	return 0;
}

static int do_op(struct op *o);

static void run_fork(struct op *o, struct op *child, int nchild) {
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) fail("fork: %s", strerror(errno));
	if (pid == 0) {
		is_child = 1;
		nlog -= nchild; // logged by the parent; logged again as they run
		// the child inherits neither MADV_DONTFORK mappings nor locks
		for (int i = 0; i < nsh; i++) sh[i].locked = 0;
		for (int i = 0; i < nsh;) {
			if (sh[i].dontfork) {
				memmove(&sh[i], &sh[i + 1], (nsh - i - 1) * sizeof sh[0]);
				nsh--;
			} else
				i++;
		}
		check();
		for (int i = 0; i < nchild; i++) {
			step++;
			do_op(&child[i]);
			sh_compact();
			check();
		}
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid) fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fail("forked child failed (status %#x)", st);
	}
	(void)o;
}

// fork_op logs a fork and its child's operations, and runs them
static void fork_op(struct op *o, struct op *child, int nchild) {
	logop(o);
	is_child = 1;
	for (int k = 0; k < nchild; k++) logop(&child[k]);
	is_child = 0;
	run_fork(o, child, nchild);
}

// do_op runs one operation, checks its result and updates the shadow
static int do_op(struct op *o) {
	char what[160];
	logop(o);
	snprintf(what, sizeof what, "%s(%#lx, %#lx, %#lx, %#lx, %#lx)", opname[o->k], o->a, o->b, o->c, o->d, o->e);
	long r;
	switch (o->k) {
	case O_MMAP: {
		ul addr = o->a, len = o->b, flags = o->d;
		int pr = (int)o->c;
		int fd = flags & MAP_ANONYMOUS ? -1 : memfd;
		r = sys((long)mmap((void *)addr, len, pr, (int)flags, fd, (off_t)o->e));
		int kind = flags & MAP_ANONYMOUS ? (flags & MAP_SHARED ? ANON_S : ANON_P) : (flags & MAP_SHARED ? FILE_S : FILE_P);
		ul e = addr + len;
		if (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
			long want = (long)addr;
			if (!native && strict && prot_overlaps(addr, e))
				want = -EPERM;
			else if ((flags & MAP_FIXED_NOREPLACE) && sh_any(addr, e))
				want = -EEXIST;
			expect(what, r, want, 1);
		} else {
			if (r < 0) fail("%s failed: %s", what, ename(r));
			ul s = (ul)r;
			if (!native && prot_overlaps(s, s + len)) fail("%s placed at %#lx, in a protected range", what, s);
			// policy.md: a hint inside a protected range goes to the
			// pool; with --pool-all also no hint, or one that reaches
			// a guarded range
			int topool = addr && prot_overlaps(addr, addr + 1);
			if (poolall && (!addr || guarded_overlaps(addr, addr + len))) topool = 1;
			if (!native && topool && !inside(s, s + len, POOL_LO, POOL_HI))
				fail("%s placed at %#lx, outside the pool", what, s);
			if (sh_any(s, s + len)) fail("%s placed at %#lx, over a mapping of the program's", what, s);
		}
		if (r >= 0) {
			ul s = (ul)r;
			sh_insert((struct seg){s, s + len, pr, kind, 0, 0, -1, fd < 0 ? 0 : o->e,
					       kind == ANON_S ? len : MEMFD_PAGES * PG});
		}
		break;
	}
	case O_MUNMAP:
		r = sys(munmap((void *)o->a, o->b));
		expect(what, r, 0, 1);
		sh_remove(o->a, o->a + o->b);
		break;
	case O_MPROTECT: {
		ul s = o->a, e = o->a + o->b;
		int pr = (int)o->c;
		if (o->d)
			r = sys(syscall(SYS_pkey_mprotect, s, o->b, pr, -1));
		else
			r = sys(mprotect((void *)s, o->b, pr));
		ul h = sh_first_hole(s, e);
		expect(what, r, h == e ? 0 : -ENOMEM, 1);
		sh_apply(s, h, F_PROT, pr);
		break;
	}
	case O_MLOCK: {
		ul s = o->a, e = o->a + o->b;
		if (o->c == 0)
			r = sys(mlock((void *)s, o->b));
		else if (o->c == 1)
			r = sys(munlock((void *)s, o->b));
		else
			r = sys(syscall(SYS_mlock2, s, o->b, MLOCK_ONFAULT));
		ul h = sh_first_hole(s, e);
		long want = h == e ? 0 : -ENOMEM;
		// mlock faults the pages in, which fails for PROT_NONE (ENOMEM)
		for (int i = 0; o->c == 0 && i < nsh; i++) {
			if (!overlaps(s, h, sh[i].s, sh[i].e)) continue;
			// the part locked: the pages of [s, h) in this piece
			ul pe = sh[i].e < h ? sh[i].e : h;
			if (sh[i].prot == PROT_NONE || (sh[i].kind != ANON_P && sh[i].off + (pe - sh[i].s) > sh[i].size))
				want = -ENOMEM; // PROT_NONE, or past the object's end (SIGBUS)
		}
		expect(what, r, want, 1);
		sh_apply(s, h, F_LOCKED, o->c != 1);
		break;
	}
	case O_MADVISE: {
		ul s = o->a, e = o->a + o->b;
		int adv = (int)o->c;
		if (adv == MADV_POPULATE_READ || adv == MADV_POPULATE_WRITE) {
			// faults the pages in mapping by mapping and stops at the
			// first hole (ENOMEM), at a mapping it may not access
			// (EINVAL: PROT_NONE, a write to what is not writable) or
			// at a page past the object's end (EFAULT: SIGBUS)
			long want = 0;
			for (ul x = s; x < e && !want;) {
				int i = sh_find(x);
				if (i < 0) {
					want = -ENOMEM;
					break;
				}
				ul pe = sh[i].e < e ? sh[i].e : e;
				if (sh[i].prot == PROT_NONE || (adv == MADV_POPULATE_WRITE && !(sh[i].prot & PROT_WRITE)))
					want = -EINVAL;
				else if (sh[i].kind != ANON_P && sh[i].off + (pe - sh[i].s) > sh[i].size)
					want = -EFAULT;
				x = pe;
			}
			r = sys(madvise((void *)s, o->b, adv));
			expect(what, r, want, 1);
			break;
		}
		// native semantics: each mapping in turn, stop at its error;
		// holes give ENOMEM at the end
		long want = 0;
		ul x = s, applied = s;
		int hole = 0;
		while (x < e) {
			int i = sh_find(x);
			if (i < 0) {
				hole = 1;
				int n = sh_next(x, e);
				if (n < 0) break;
				x = sh[n].s;
				continue;
			}
			ul ce = sh[i].e < e ? sh[i].e : e;
			int err = madv_err(&sh[i], adv);
			if (err) {
				want = err;
				break;
			}
			x = ce;
			applied = ce;
		}
		if (!want && hole) want = -ENOMEM;
		if (!want && x < e && sh_first_hole(x, e) != e) want = -ENOMEM;
		r = sys(madvise((void *)s, o->b, adv));
		// under the guard the pieces after a hole are advised separately,
		// and the hole's ENOMEM wins over their errors (policy.md: "applied
		// to the program's parts, ENOMEM for the reservations")
		long alt = 1;
		if (!native && want != -ENOMEM && want < 0 && hole) alt = -ENOMEM;
		expect(what, r, want, alt);
		if (r == want) {
			if (adv == MADV_DONTFORK) sh_apply(s, want ? applied : e, F_DONTFORK, 1);
			if (adv == MADV_DOFORK) sh_apply(s, want ? applied : e, F_DONTFORK, 0);
		} else {
			// the guard's way: every piece but those that failed
			for (int i = 0; i < nsh; i++) {
				if (!overlaps(s, e, sh[i].s, sh[i].e) || madv_err(&sh[i], adv)) continue;
				ul a = sh[i].s > s ? sh[i].s : s, b = sh[i].e < e ? sh[i].e : e;
				if (adv == MADV_DONTFORK) sh_apply(a, b, F_DONTFORK, 1);
				if (adv == MADV_DOFORK) sh_apply(a, b, F_DONTFORK, 0);
			}
		}
		break;
	}
	case O_MSEAL: {
		if (sh_first_hole(o->a, o->a + o->b) == o->a + o->b) {
			r = 0; // never seal a mapping of the program's
			break;
		}
		r = sys(syscall(SYS_mseal, o->a, o->b, 0));
		expect(what, r, sh_first_hole(o->a, o->a + o->b) == o->a + o->b ? 0 : -ENOMEM, 1);
		if (r == 0) fail("%s sealed a mapping of the program's: the fuzzer must not do that", what);
		break;
	}
	case O_BRK: {
		ul cur = (ul)syscall(SYS_brk, 0);
		ul want = cur + (long)o->a * (long)PG;
		r = sys(syscall(SYS_brk, want));
		if ((ul)r != want) fail("%s: brk(%#lx) returned %#lx (break was %#lx)", what, want, r, cur);
		heap += (long)o->a;
		break;
	}
	case O_SHMAT: {
		int idx = (int)o->b;
		ul addr = o->a, e = addr + shmsize[idx];
		r = sys((long)shmat(shmid[idx], (void *)addr, (int)o->c));
		long want = (long)addr;
		if (!native && strict && prot_overlaps(addr, e))
			want = -EPERM;
		else if (!(o->c & SHM_REMAP) && sh_any(addr, e))
			want = -EINVAL;
		long alt = 1;
		// policy.md, known limits: "shmat with an address whose segment
		// crosses a guarded range's edge is refused with EINVAL"
		if (!native && want == (long)addr && !(o->c & SHM_REMAP) && prot_crosses_edge(addr, e)) alt = -EINVAL;
		expect(what, r, want, alt);
		if (r >= 0) {
			if (natt >= MAXATT) fail("too many attachments");
			atts[natt] = (struct att){addr, shmsize[idx]};
			sh_insert((struct seg){addr, e, PROT_READ | PROT_WRITE, SHM, 0, 0, natt, 0, shmsize[idx]});
			natt++;
		}
		break;
	}
	case O_SHMDT: {
		int a = (int)o->b;
		ul addr = o->a;
		r = sys(shmdt((void *)addr));
		// the kernel detaches the first piece of a segment, at or above
		// addr, that lies at its offset from addr (a segment attached at
		// addr, or what is left of one), whichever attachment the
		// operation had in mind; a piece that starts below addr never
		// matches, even one whose mapping covers addr
		int i = -1;
		for (int j = 0; j < nsh && i < 0; j++)
			if (sh[j].kind == SHM && sh[j].s >= addr && sh[j].off == sh[j].s - addr) i = j;
		if (i >= 0) a = sh[i].att;
		expect(what, r, i >= 0 ? 0 : -EINVAL, 1);
		if (r == 0) {
			// the kernel detaches the pieces of the segment at their
			// offsets from addr within its size
			for (int j = 0; j < nsh;) {
				if (sh[j].kind == SHM && sh[j].att == a && sh[j].s >= addr && sh[j].e <= addr + atts[a].size &&
				    sh[j].off == sh[j].s - addr) {
					sh_remove(sh[j].s, sh[j].e);
					j = 0;
				} else
					j++;
			}
		}
		break;
	}
	case O_MREMAP: {
		ul old = o->a, olen = o->b, nlen = o->c, flags = o->d, naddr = o->e;
		int fixed = flags & MREMAP_FIXED, dontunmap = flags & MREMAP_DONTUNMAP, maymove = flags & MREMAP_MAYMOVE;
		// prediction, from the program's view and the kernel's layout
		int vi = vm_find(old);
		int own = sh_find(old) >= 0;
		long want;
		int anywhere = 0; // the kernel chooses the address
		int multi = 0;    // a move of every mapping in the range
		ul cut = 0;       // a move of the mappings below cut only, then EFAULT
		if (!native && strict && fixed && prot_overlaps(naddr, naddr + nlen)) {
			want = -EPERM; // --strict refuses before it looks at old
		} else if (dontunmap && !fixed && old + olen > naddr && naddr + nlen > old) {
			// the kernel checks the new range against the old one for
			// MREMAP_DONTUNMAP too, where new_addr is only a hint (0)
			want = -EINVAL;
		} else if (!own) {
			want = -EFAULT;
		} else if (fixed && olen == nlen) {
			// a move only: since Linux 6.17 every mapping in the range
			// moves, the holes between them stay (and what lies under
			// them at the target too, on this kernel)
			want = (long)naddr;
			multi = 1;
			// but a System V segment (its file has its own
			// get_unmapped_area) moves only alone: with other
			// mappings, the kernel moves those before it and fails
			int nv = 0;
			for (int k = 0; k < nvm; k++) {
				if (!overlaps(old, old + olen, vm[k].s, vm[k].e)) continue;
				nv++;
				if (!cut && !strncmp(vm[k].path, "/SYSV", 5)) cut = vm[k].s > old ? vm[k].s : old;
			}
			if (nv > 1 && cut)
				want = -EFAULT;
			else
				cut = 0;
		} else if (fixed || dontunmap) {
			// MREMAP_FIXED shrinks first: the rest must be one mapping
			want = old + (nlen < olen ? nlen : olen) <= vm[vi].e ? (long)naddr : -EFAULT;
			if (!fixed) anywhere = want >= 0;
		} else if (nlen <= olen) {
			want = (long)old;
		} else if (old + olen > vm[vi].e) {
			want = -EFAULT;
		} else if (old + olen == vm[vi].e && vm_any(old + olen, old + nlen) < 0 && old + nlen <= 0x7ffffffff000UL) {
			want = (long)old;
		} else if (maymove) {
			want = 0;
			anywhere = 1;
		} else {
			want = -ENOMEM;
		}
		r = sys((long)syscall(SYS_mremap, old, olen, nlen, flags, naddr));
		if (anywhere) {
			if (r < 0) fail("%s failed: %s, want a new address", what, ename(r));
			if (!native && prot_overlaps(r, r + nlen)) fail("%s moved to %#lx, in a protected range", what, r);
		} else {
			long alt = 1;
			// --strict: the guard answers EFAULT for a reservation first
			if (!native && strict && want == -EPERM && !own) alt = -EFAULT;
			// a move of several mappings across the guard's
			// reservations: the guard answers EFAULT
			// a move of several mappings with holes between them, from or
			// into a guarded range: the guard answers EFAULT, as kernels
			// before 6.17 do (policy.md)
			int refused = !native && multi && sh_first_hole(old, old + olen) != old + olen &&
				      (guarded_overlaps(old, old + olen) || guarded_overlaps(naddr, naddr + nlen));
			if (refused) alt = -EFAULT;
			expect(what, r, want, alt);
			if (r == -EFAULT && cut > old && !refused) {
				// what moved before the segment
				static struct seg part[256];
				int n = snap(old, cut, part, 256);
				if (dontunmap) {
					// (emptied and unlocked, as below)
					int i = sh_find(old);
					sh_apply(old, cut, F_LOCKED, 0);
					sync_locks(i >= 0 && sh[i].s < old ? sh[i].s : old, cut);
				} else {
					sh_remove(old, cut);
				}
				for (int i = 0; i < n; i++) {
					part[i].s = part[i].s - old + naddr;
					part[i].e = part[i].e - old + naddr;
					sh_insert(part[i]);
				}
			}
		}
		if (r >= 0) {
			static struct seg buf[256];
			ul keep = nlen < olen ? nlen : olen;
			if ((ul)r == old && !fixed && !dontunmap) {
				// in place
				if (nlen < olen)
					sh_remove(old + nlen, old + olen);
				else if (nlen > olen) {
					int i = sh_find(old + olen - 1);
					struct seg g = sh[i];
					if (g.kind != ANON_P) g.off += old + olen - g.s;
					g.s = old + olen;
					g.e = old + nlen;
					sh_insert(g);
				}
			} else {
				int n = snap(old, old + keep, buf, 256);
				if (dontunmap) {
					// the old range stays mapped, emptied and
					// unlocked: the kernel clears the lock of the
					// whole mapping the range lies in, which the
					// shadow's merged pieces only approximate
					int i = sh_find(old);
					ul vs = i >= 0 && sh[i].s < old ? sh[i].s : old;
					ul ve = i >= 0 && sh[i].e > old + olen ? sh[i].e : old + olen;
					sh_apply(old, old + olen, F_LOCKED, 0);
					sync_locks(vs, ve);
				} else {
					sh_remove(old, old + olen);
				}
				if (!multi) sh_remove(r, r + nlen);
				for (int i = 0; i < n; i++) {
					buf[i].s = buf[i].s - old + r;
					buf[i].e = buf[i].e - old + r;
					sh_insert(buf[i]);
				}
				if (nlen > olen && n > 0) {
					struct seg g = buf[n - 1];
					if (g.kind != ANON_P) g.off += g.e - g.s;
					g.s = r + olen;
					g.e = r + nlen;
					sh_insert(g);
				}
			}
		}
		break;
	}
	case O_FORK:
		r = 0;
		break;
	default:
		fail("unknown op %d", o->k);
		return 0;
	}
	logline("# -> %#lx (%s)", (ul)r, ename(r));
	return 0;
}

// --- generating operations ---

static const int prots[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE};

static void win_span(ul *s, ul *len) {
	const struct range *w = &win[rn(NWIN)];
	ul pages = (w->hi - w->lo) / PG;
	ul p = rn(pages);
	ul max = pages - p < 16 ? pages - p : 16;
	*s = w->lo + p * PG;
	*len = (1 + rn(max)) * PG;
}

static void edge_span(ul *s, ul *len) {
	ul edge = edges[rn(4)];
	*s = edge - (1 + rn(8)) * PG;
	*len = edge - *s + (1 + rn(8)) * PG;
}

// own_span picks a span around one of the program's mappings; in a zone
// it may reach past the mapping, never past the zone
static int own_span(ul *s, ul *len, int *seg) {
	if (nsh == 0) return 0;
	int i = (int)rn(nsh);
	*seg = i;
	ul a = sh[i].s, e = sh[i].e;
	struct range z;
	if (zone(a, e, &z)) {
		ul lo = a >= z.lo + 2 * PG ? a - 2 * PG : z.lo;
		ul hi = e + 2 * PG <= z.hi ? e + 2 * PG : z.hi;
		ul pages = (hi - lo) / PG;
		ul p = rn(pages);
		*s = lo + p * PG;
		*len = (1 + rn(pages - p)) * PG;
		return 1;
	}
	ul pages = (e - a) / PG;
	ul p = rn(pages);
	*s = a + p * PG;
	*len = (1 + rn(pages - p)) * PG;
	return 1;
}

static void any_span(ul *s, ul *len) {
	int seg;
	switch (rn(10)) {
	case 0: case 1: case 2: case 3:
		win_span(s, len);
		return;
	case 4: case 5: case 6: case 7:
		if (own_span(s, len, &seg)) return;
		win_span(s, len);
		return;
	case 8:
		*s = wide.lo + rn(32) * PG;
		*len = win[3].lo + rn(64) * PG - *s;
		return;
	default:
		edge_span(s, len);
	}
}

// fixed_span: a span for MAP_FIXED, in a zone only
static void fixed_span(ul *s, ul *len) {
	int seg;
	for (;;) {
		int r = (int)rn(8);
		if (r < 4)
			win_span(s, len);
		else if (r < 6)
			edge_span(s, len);
		else if (!own_span(s, len, &seg))
			win_span(s, len);
		struct range z;
		if (zone(*s, *s + *len, &z) && !inside(*s, *s + *len, POOL_LO, POOL_HI)) return;
	}
}

static int nforks;

// target picks where MREMAP_FIXED moves [old, old+olen) to, n bytes in a
// zone, not overlapping the old range
static int target(ul n, ul old, ul olen, ul *s) {
	for (int t = 0; t < 64; t++) {
		ul len;
		if (rn(2))
			win_span(s, &len);
		else
			edge_span(s, &len);
		struct range z;
		if (!overlaps(*s, *s + n, old, old + olen) && zone(*s, *s + n, &z) && !inside(*s, *s + n, POOL_LO, POOL_HI)) return 1;
	}
	return 0;
}

static void gen(struct op *o, int child) {
	for (;;) {
		memset(o, 0, sizeof *o);
		ul w = rn(100);
		if (w < 16) {
			o->k = O_MMAP;
			fixed_span(&o->a, &o->b);
			o->c = prots[rn(3)];
			int kind = (int)rn(4);
			o->d = (kind & 1 ? MAP_SHARED : MAP_PRIVATE) | (kind < 2 ? MAP_ANONYMOUS : 0) |
			       (rn(3) == 0 ? MAP_FIXED_NOREPLACE : MAP_FIXED);
			o->e = kind < 2 ? 0 : rn(32) * PG;
		} else if (w < 22) {
			o->k = O_MMAP;
			win_span(&o->a, &o->b);
			if (rn(4) == 0) o->a = 0;
			o->c = prots[1 + rn(2)];
			o->d = MAP_PRIVATE | MAP_ANONYMOUS;
			if (rn(4) == 0) {
				o->d = MAP_SHARED;
				o->e = rn(32) * PG;
			}
		} else if (w < 36) {
			o->k = O_MUNMAP;
			any_span(&o->a, &o->b);
		} else if (w < 46) {
			o->k = O_MPROTECT;
			any_span(&o->a, &o->b);
			o->c = prots[rn(3)];
			o->d = rn(4) == 0;
		} else if (w < 56) {
			static const int advs[] = {MADV_DONTNEED, MADV_FREE, MADV_REMOVE, MADV_DONTFORK, MADV_DOFORK,
						   MADV_WIPEONFORK, MADV_KEEPONFORK, MADV_NORMAL, MADV_WILLNEED, MADV_DONTFORK,
						   MADV_POPULATE_READ, MADV_POPULATE_WRITE};
			o->k = O_MADVISE;
			any_span(&o->a, &o->b);
			o->c = advs[rn(12)];
		} else if (w < 62) {
			o->k = O_MLOCK;
			any_span(&o->a, &o->b);
			o->c = rn(3);
		} else if (w < 78) {
			// mremap of a mapping of the program's (not a segment's)
			o->k = O_MREMAP;
			int i = -1;
			int seg;
			if (nsh == 0 || rn(10) == 0) {
				any_span(&o->a, &o->b);
			} else {
				i = (int)rn(nsh);
				if (sh[i].kind == SHM) continue;
				int v = vm_find(sh[i].s);
				if (v < 0) continue;
				// the part of the kernel's mapping that is the program's
				ul vs = vm[v].s, ve = vm[v].e;
				ul rs0 = sh[i].s, re0 = sh[i].e;
				for (int j = i - 1; j >= 0 && sh[j].e == rs0; j--) rs0 = sh[j].s;
				for (int j = i + 1; j < nsh && sh[j].s == re0; j++) re0 = sh[j].e;
				if (vs < rs0) vs = rs0;
				if (ve > re0) ve = re0;
				ul pages = (ve - vs) / PG;
				ul p = rn(4) == 0 ? rn(pages) : 0;
				o->a = vs + p * PG;
				o->b = (pages - p) * PG;
				if (rn(3) == 0) o->b = (1 + rn(pages - p)) * PG;
				if (rn(8) == 0) o->b += (1 + rn(4)) * PG; // past the mapping
			}
			(void)seg;
			ul olen = o->b;
			switch (rn(6)) {
			case 0: // shrink in place
				if (olen <= PG) continue;
				o->c = (1 + rn(olen / PG - 1)) * PG;
				o->d = rn(2) ? MREMAP_MAYMOVE : 0;
				break;
			case 1: // grow in place
				o->c = olen + (1 + rn(8)) * PG;
				break;
			case 2: // grow, may move
				o->c = olen + (1 + rn(8)) * PG;
				o->d = MREMAP_MAYMOVE;
				break;
			case 3:
			case 4: { // MREMAP_FIXED
				o->c = rn(3) == 0 ? olen : (1 + rn(olen / PG + 4)) * PG;
				o->d = MREMAP_MAYMOVE | MREMAP_FIXED;
				ul s;
				if (!target(o->c, o->a, olen, &s)) continue;
				o->e = s;
				break;
			}
			default: { // MREMAP_DONTUNMAP
				o->c = olen;
				o->d = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;
				if (i < 0 || sh[i].kind != ANON_P) continue;
				if (rn(2)) {
					ul s;
					if (!target(o->c, o->a, olen, &s)) continue;
					o->e = s;
					o->d |= MREMAP_FIXED;
				}
			}
			}
			if (!(o->d & MREMAP_FIXED) && (o->d & MREMAP_DONTUNMAP) == 0) o->e = 0;
			// no mremap of a segment (shmdt's pieces) nor across one
			int bad = 0;
			for (int j = 0; j < nsh; j++)
				if (sh[j].kind == SHM && overlaps(o->a, o->a + olen, sh[j].s, sh[j].e)) bad = 1;
			if (bad) continue;
			// nor of a range outside the zones that is not one mapping
			struct range z;
			if (!zone(o->a, o->a + olen, &z)) {
				int v = vm_find(o->a);
				if (v < 0 || o->a + olen > vm[v].e || sh_first_hole(o->a, o->a + olen) != o->a + olen) continue;
			}
		} else if (w < 84) {
			o->k = O_SHMAT;
			o->b = rn(3);
			ul s, len;
			fixed_span(&s, &len);
			struct range z;
			if (!zone(s, s + shmsize[o->b], &z)) continue;
			o->a = s;
			o->c = rn(2) ? SHM_REMAP : 0;
		} else if (w < 88) {
			o->k = O_SHMDT;
			if (natt == 0) continue;
			int a = (int)rn(natt);
			int i = sh_find(atts[a].addr);
			if (i < 0 || sh[i].kind != SHM || sh[i].att != a || sh[i].off != 0) continue;
			o->a = atts[a].addr;
			o->b = a;
		} else if (w < 91) {
			o->k = O_MSEAL;
			any_span(&o->a, &o->b);
			if (sh_first_hole(o->a, o->a + o->b) == o->a + o->b) continue;
		} else if (w < 93) {
			o->k = O_BRK;
			if (child) continue;
			long d = (long)rn(9) - 4;
			if (heap + d < 0) d = -heap;
			o->a = (ul)d;
		} else if (w < 95) {
			if (child || nforks >= 3) continue;
			o->k = O_FORK;
			o->a = 2 + rn(5);
		} else {
			continue;
		}
		return;
	}
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	fail("signal %d at %p: the fuzzer touched memory it does not own", sig, si->si_addr);
}

static void setup(void) {
	static char altstack[1 << 16];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
	sigaltstack(&ss, NULL);
	struct sigaction sa = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_ONSTACK};
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	memfd = memfd_create("modelfuzz", 0);
	if (memfd < 0 || ftruncate(memfd, MEMFD_PAGES * PG) != 0) fail("memfd: %s", strerror(errno));
	for (int i = 0; i < 3; i++) {
		shmid[i] = shmget(IPC_PRIVATE, shmsize[i], IPC_CREAT | 0600);
		if (shmid[i] < 0) fail("shmget: %s", strerror(errno));
		// an attachment keeps the segment alive once it is removed
		// (where the kernel chooses: outside every range)
		if (shmat(shmid[i], NULL, 0) == (void *)-1) fail("shmat: %s", strerror(errno));
		shmctl(shmid[i], IPC_RMID, NULL);
	}
	prot[nprot++] = (struct range){0x10000UL, 0x80000000UL};
	if (two) prot[nprot++] = (struct range){0x100000000UL, 0x180000000UL};
}

static int parse_op(char *line, struct op *o, int *childop) {
	char name[32];
	*childop = 0;
	if (line[0] == '#' || line[0] == '\n' || line[0] == 0) return 0;
	if (line[0] == 'c' && line[1] == ' ') {
		*childop = 1;
		line += 2;
	}
	memset(o, 0, sizeof *o);
	if (sscanf(line, "%31s %li %li %li %li %li", name, (long *)&o->a, (long *)&o->b, (long *)&o->c, (long *)&o->d,
		   (long *)&o->e) < 1)
		return 0;
	for (int k = 0; k < NOPK; k++)
		if (strcmp(name, opname[k]) == 0) {
			o->k = k;
			return 1;
		}
	return 0;
}

int main(int argc, char **argv) {
	const char *replay = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-n")) native = 1;
		else if (!strcmp(argv[i], "-s")) strict = 1;
		else if (!strcmp(argv[i], "-2")) two = 1;
		else if (!strcmp(argv[i], "-p")) poolall = 1;
		else if (!strcmp(argv[i], "-v")) verbose = 1;
		else if (!strcmp(argv[i], "-r") && i + 1 < argc) replay = argv[++i];
		else {
			say("usage: modelfuzz [-n] [-s] [-2] [-p] [-v] SEED N | -r FILE");
			return 2;
		}
	}
	setup();
	check();
	if (replay) {
		FILE *f = fopen(replay, "r");
		if (!f) fail("open %s: %s", replay, strerror(errno));
		static struct op ops[LOGMAX];
		static int isc[LOGMAX];
		int n = 0;
		char line[512];
		while (n < LOGMAX && fgets(line, sizeof line, f))
			if (parse_op(line, &ops[n], &isc[n])) n++;
		fclose(f);
		for (int j = 0; j < n; j++) {
			if (isc[j]) continue;
			step = j;
			if (ops[j].k == O_FORK) {
				int k = j + 1;
				while (k < n && isc[k]) k++;
				fork_op(&ops[j], &ops[j + 1], k - j - 1);
				continue;
			}
			do_op(&ops[j]);
			sh_compact();
			check();
		}
		say("OK replay %s: %d ops", replay, n);
		return 0;
	}
	if (argc - i != 2) {
		say("usage: modelfuzz [-n] [-s] [-2] [-p] [-v] SEED N | -r FILE");
		return 2;
	}
	seed = strtoul(argv[i], NULL, 0);
	int n = atoi(argv[i + 1]);
	rs = seed * 0x2545F4914F6CDD1DULL + 1;
	for (step = 0; step < n; step++) {
		struct op o;
		gen(&o, 0);
		if (o.k == O_FORK) {
			nforks++;
			static struct op child[8];
			int nc = (int)o.a;
			// the child's operations are drawn from the parent's state
			// as it is at the fork
			for (int k = 0; k < nc; k++) gen(&child[k], 1);
			fork_op(&o, child, nc);
			continue;
		}
		do_op(&o);
		sh_compact();
		check();
	}
	say("OK seed=%lu ops=%d", seed, n);
	return 0;
}
