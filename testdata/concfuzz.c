// concfuzz.c: a concurrent differential fuzzer of mmapguard.
//
//	concfuzz [-n] [-s] [-p] [-2] [-v] SEED K [OPS]   K workers (1-16), OPS operations each
//	concfuzz [-n] [-s] [-p] [-2] -x SEED K            the fresh layout after an exec
//
// -n: native run (no guard: the prober's verdicts are off, holes are
// fine); -s: the guard runs with --strict (explicit placements in a
// protected range get EPERM); -p: with --pool-all; -2: the guard
// protects 0x100000000-0x180000000 too.
//
// Each worker owns a window of 2 x 4 MiB: one half inside a protected
// range, the other just outside it (worker 0's, and with -2 worker 1's,
// straddle the range's edge). It makes random calls there that a program
// may make (MAP_FIXED, MAP_FIXED_NOREPLACE, hinted and NULL mmaps of
// private and shared anonymous memory and a memfd, munmap, mremap in its
// forms, mprotect, madvise, mlock, shmat, shmdt, writes, fork, vfork +
// exec, short-lived threads), keeps a shadow of what it owns, checks each
// result against native semantics (a page it does not own is a hole to
// it) and, after each call, the contents of everything it owns.
//
// Meanwhile a prober thread makes calls that must never land in a
// protected range under the guard (MAP_32BIT, hints into the ranges,
// never wholly into a window's outside half, where the kernel would
// honour them; i386 mmap2(NULL)), and a checker thread reads
// /proc/self/smaps in a loop and flags, in the protected ranges, any
// hole (under the guard) and any mapping that is not a reservation
// (---p, anonymous, no name) where no worker claimed the page. A worker claims the pages a call may place
// before the call and releases those it does not own after it; a page
// released after the checker started reading counts as claimed.
//
// At the end a new thread execs the program with -x, which checks the
// fresh layout (all reservations under the guard, nothing natively) and
// prints "OK seed=...". A violation prints "VIOLATION ..." with the
// offending worker's last operations and exits 1.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
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
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif

typedef unsigned long ul;

#define PG 4096UL
#define NP 1024UL // pages per half window
#define HALF (NP * PG)
#define MAXK 16
#define SHMP 4     // pages of each worker's System V segment
#define MFD_SLOT 4096UL // memfd pages set aside per mapping
#define MFD_SIZE (1UL << 35)

static int native, strict, two, poolall, verbose;
static ul seed;
static int K, NOPS = 200;
static char *self_argv0;

static ul rlo[2] = {0x10000UL, 0x100000000UL}, rhi[2] = {0x80000000UL, 0x180000000UL};
static int nranges = 1;

static int prot_overlaps(ul s, ul e) {
	for (int i = 0; i < nranges; i++)
		if (s < rhi[i] && e > rlo[i]) return 1;
	return 0;
}
static int crosses_edge(ul s, ul e) {
	for (int i = 0; i < nranges; i++)
		if (s < rhi[i] && e > rlo[i] && (s < rlo[i] || e > rhi[i])) return 1;
	return 0;
}

// --- output ---


static const char *ename(int e) {
	if (!e) return "0";
	const char *s = strerrorname_np(e);
	return s ? s : "E?";
}

// --- random numbers (splitmix64) ---

static uint64_t rnd(uint64_t *s) {
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

// --- workers ---

enum { FREE, ANON_P, ANON_S, MEMFD, SHM };
static const char *kname[] = {"free", "anon", "anon-shared", "memfd", "shm"};

struct page {
	uint8_t own, kind, prot, dontfork, wipe, locked, noverify;
	uint32_t id;
	uint64_t tag;
};

struct ext { ul a, n; uint64_t tag; int live; };
struct att { ul a; uint32_t id; int live; };

#define LOGN 48
struct worker {
	int idx;
	pthread_t th;
	ul seg[2]; // the halves, seg[0] < seg[1]
	int adjacent;
	ul edge;
	uint64_t rs;
	struct page pg[2 * NP];
	uint8_t claimed[2 * NP];
	uint32_t unclaimed_at[2 * NP];
	struct ext ext[32];
	struct att att[16];
	int shmid;
	int memfd;
	ul mfd_next;
	uint32_t idgen;
	ul serial;
	int step;
	char cur[160]; // the call under way
	char log[LOGN][200];
	int nlog;
};

static struct worker *W[MAXK];
static __thread struct worker *me;
static __thread int in_child;

static uint32_t gen; // the checker's read count
static int stop_threads;
static pthread_mutex_t vio_lock = PTHREAD_MUTEX_INITIALIZER;

static void wlog(struct worker *w, const char *fmt, ...) {
	char *l = w->log[w->nlog++ % LOGN];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(l, 200, "w%d#%d ", w->idx, w->step);
	vsnprintf(l + n, 200 - n, fmt, ap);
	va_end(ap);
	if (verbose) say("%s", l);
}

static void cur(struct worker *w, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->cur, sizeof w->cur, fmt, ap);
	va_end(ap);
}

static void dump_log(struct worker *w, int last) {
	int from = w->nlog > last ? w->nlog - last : 0;
	if (w->nlog - from > LOGN) from = w->nlog - LOGN;
	say("--- worker %d (window %#lx-%#lx, %#lx-%#lx), last %d ops ---", w->idx, w->seg[0], w->seg[0] + HALF,
	    w->seg[1], w->seg[1] + HALF, w->nlog - from);
	for (int i = from; i < w->nlog; i++) say("  %s", w->log[i % LOGN]);
	if (w->cur[0]) say("  (last call begun: %s)", w->cur);
}

static struct worker *owner_of(ul a) {
	for (int i = 0; i < K; i++)
		for (int h = 0; h < 2; h++)
			if (a >= W[i]->seg[h] && a < W[i]->seg[h] + HALF) return W[i];
	return NULL;
}

static void dump_maps(ul lo, ul hi) {
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0) return;
	static char buf[1 << 20];
	size_t len = 0;
	ssize_t r;
	while ((r = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += r;
	close(fd);
	buf[len] = 0;
	say("--- maps in %#lx-%#lx ---", lo, hi);
	int lines = 0;
	for (char *l = buf; *l && lines < 150;) {
		char *nl = strchr(l, '\n');
		if (nl) *nl = 0;
		ul s, e;
		if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s < hi && e > lo) {
			say("  %s", l);
			lines++;
		}
		if (!nl) break;
		l = nl + 1;
	}
}

// violation reports and ends the run; at is the address concerned (0
// if none), w the worker whose log to print (NULL: the one owning at,
// or all of them).
static void violation(struct worker *w, ul at, const char *fmt, ...) {
	char buf[900];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (!in_child) pthread_mutex_lock(&vio_lock);
	say("VIOLATION seed=%lu K=%d%s%s%s%s: %s", seed, K, native ? " native" : "", strict ? " strict" : "",
	    poolall ? " pool-all" : "", two ? " two" : "", buf);
	if (in_child) say("(in a forked child of worker %d)", me ? me->idx : -1);
	if (!w && at) w = owner_of(at);
	if (in_child)
		for (int i = 0; i < K; i++)
			if (W[i] != w) dump_log(W[i], 6);
	if (w)
		dump_log(w, LOGN);
	else
		for (int i = 0; i < K; i++) dump_log(W[i], 8);
	if (at)
		dump_maps(at > (8UL << 20) ? at - (8UL << 20) : 0, at + (8UL << 20));
	else if (w)
		dump_maps(w->seg[0], w->seg[1] + HALF);
	_exit(1);
}

// --- windows ---

static int slot_of(struct worker *w, ul a) {
	for (int h = 0; h < 2; h++)
		if (a >= w->seg[h] && a < w->seg[h] + HALF) return h * NP + (a - w->seg[h]) / PG;
	return -1;
}
static ul addr_of(struct worker *w, int s) { return w->seg[s / NP] + (s % NP) * PG; }

// in_window reports whether [a, a+n) lies in w's window.
static int in_window(struct worker *w, ul a, ul n) {
	for (int h = 0; h < 2; h++)
		if (a >= w->seg[h] && a + n <= w->seg[h] + HALF) return 1;
	return w->adjacent && a >= w->seg[0] && a + n <= w->seg[1] + HALF;
}

static uint64_t rn(struct worker *w, uint64_t n) { return n ? rnd(&w->rs) % n : 0; }

// pick_span picks [a, a+n) in w's window: mostly short, sometimes across
// the edge.
static void pick_span(struct worker *w, ul *a, ul *n) {
	ul len = rn(w, 8) ? 1 + rn(w, 16) : 1 + rn(w, 128);
	if (w->adjacent && rn(w, 3) == 0) {
		// around the edge
		ul back = rn(w, len + 2);
		ul s = w->edge - back * PG;
		if (s < w->seg[0]) s = w->seg[0];
		if (s + len * PG > w->seg[1] + HALF) len = (w->seg[1] + HALF - s) / PG;
		*a = s, *n = len * PG;
		return;
	}
	int h = rn(w, 2);
	ul p = rn(w, NP);
	// near the edge more often
	if (rn(w, 3) == 0) p = (w->seg[h] == w->edge || w->seg[h] + HALF == w->edge) ? (w->seg[h] == w->edge ? rn(w, 64) : NP - 1 - rn(w, 64)) : p;
	if (p + len > NP) len = NP - p;
	*a = w->seg[h] + p * PG, *n = len * PG;
}

// --- claims (the registry the checker reads) ---

static void claim(struct worker *w, ul a, ul n) {
	for (ul x = a; x < a + n; x += PG) {
		int s = slot_of(w, x);
		if (s >= 0) __atomic_store_n(&w->claimed[s], 1, __ATOMIC_SEQ_CST);
	}
}

// settle releases the claims of the pages of [a, a+n) w does not own.
static void settle(struct worker *w, ul a, ul n) {
	for (ul x = a; x < a + n; x += PG) {
		int s = slot_of(w, x);
		if (s < 0 || w->pg[s].own || !w->claimed[s]) continue;
		__atomic_store_n(&w->unclaimed_at[s], __atomic_load_n(&gen, __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
		__atomic_store_n(&w->claimed[s], 0, __ATOMIC_SEQ_CST);
	}
}

static void settle_all(struct worker *w) {
	settle(w, w->seg[0], HALF);
	settle(w, w->seg[1], HALF);
}

// --- contents ---

static uint64_t shm_tag(struct worker *w, int page) { return 0x5348000000000000ULL | (ul)w->idx << 16 | page; }

static uint64_t new_tag(struct worker *w) { return (uint64_t)(w->idx + 1) << 48 | ++w->serial; }

static void write_page(struct worker *w, int s) {
	struct page *p = &w->pg[s];
	p->tag = new_tag(w);
	p->noverify = 0;
	*(volatile uint64_t *)addr_of(w, s) = p->tag;
}

static void verify(struct worker *w, const char *when) {
	for (int s = 0; s < (int)(2 * NP); s++) {
		struct page *p = &w->pg[s];
		if (!p->own || !(p->prot & PROT_READ) || p->noverify) continue;
		if (in_child && p->dontfork) continue;
		uint64_t want = p->tag;
		if (in_child && p->wipe) want = 0;
		uint64_t got = *(volatile uint64_t *)addr_of(w, s);
		if (got != want)
			violation(w, addr_of(w, s), "%s: %s page at %#lx holds %#lx, want %#lx", when, kname[p->kind],
			          addr_of(w, s), got, want);
	}
	if (in_child) return;
	for (int i = 0; i < 32; i++) {
		struct ext *x = &w->ext[i];
		if (!x->live) continue;
		uint64_t got = *(volatile uint64_t *)x->a;
		if (got != x->tag)
			violation(w, 0, "%s: external block at %#lx holds %#lx, want %#lx", when, x->a, got, x->tag);
	}
}

// --- the shadow ---

static void set_pages(struct worker *w, ul a, ul n, int kind, int prot, uint32_t id) {
	for (ul x = a; x < a + n; x += PG) {
		int s = slot_of(w, x);
		if (s < 0) continue;
		struct page *p = &w->pg[s];
		memset(p, 0, sizeof *p);
		if (kind == FREE) continue;
		p->own = 1, p->kind = kind, p->prot = prot, p->id = id;
	}
}

static int any_own(struct worker *w, ul a, ul n) {
	for (ul x = a; x < a + n; x += PG) {
		int s = slot_of(w, x);
		if (s >= 0 && w->pg[s].own) return 1;
	}
	return 0;
}

// first_free returns the offset of the first page of [a, a+n) w does not
// own, or n.
static ul first_free(struct worker *w, ul a, ul n) {
	for (ul x = a; x < a + n; x += PG) {
		int s = slot_of(w, x);
		if (s < 0 || !w->pg[s].own) return x - a;
	}
	return n;
}

static int same_vma(const struct page *a, const struct page *b) {
	return a->own && b->own && a->id == b->id && a->kind == b->kind && a->prot == b->prot &&
	       a->dontfork == b->dontfork && a->wipe == b->wipe && a->locked == b->locked;
}

// run_of finds the run of pages of one mapping (same id and attributes)
// around slot s: [*a, *a + *n).
static void run_of(struct worker *w, int s, ul *a, ul *n) {
	ul x = addr_of(w, s), lo = x, hi = x + PG;
	for (;;) {
		int t = slot_of(w, lo - PG);
		if (t < 0 || !same_vma(&w->pg[t], &w->pg[s])) break;
		lo -= PG;
	}
	for (;;) {
		int t = slot_of(w, hi);
		if (t < 0 || !same_vma(&w->pg[t], &w->pg[s])) break;
		hi += PG;
	}
	*a = lo, *n = hi - lo;
}

// pick_run picks an owned page and returns its run; 0 if none found.
static int pick_run(struct worker *w, ul *a, ul *n, int *slot) {
	for (int tries = 0; tries < 64; tries++) {
		int s = rn(w, 2 * NP);
		if (!w->pg[s].own) continue;
		run_of(w, s, a, n);
		*slot = s;
		return 1;
	}
	return 0;
}

// --- calls ---

static long sys(long r) { return r == -1 ? -errno : r; }

static void expect(struct worker *w, const char *what, long got, long want, long alt) {
	if (got == want || got == alt) return;
	char g[64], x[64], y[64];
	if (got < 0 && got > -4096) snprintf(g, sizeof g, "%s", ename(-got)); else snprintf(g, sizeof g, "%#lx", got);
	if (want < 0 && want > -4096) snprintf(x, sizeof x, "%s", ename(-want)); else snprintf(x, sizeof x, "%#lx", want);
	if (alt < 0 && alt > -4096) snprintf(y, sizeof y, "%s", ename(-alt)); else snprintf(y, sizeof y, "%#lx", alt);
	violation(w, 0, "%s = %s, want %s%s%s", what, g, x, alt != want ? " or " : "", alt != want ? y : "");
}

static const char *rstr(long r) {
	static __thread char b[32];
	if (r < 0 && r > -4096) return ename(-r);
	snprintf(b, sizeof b, "%#lx", r);
	return b;
}

static int shm_crossing_refused(ul a, ul n) { return !native && crosses_edge(a, a + n); }

// note_ext keeps a mapping w made outside its window.
static void note_ext(struct worker *w, ul a, ul n, uint64_t tag) {
	for (int i = 0; i < 32; i++)
		if (!w->ext[i].live) {
			w->ext[i] = (struct ext){a, n, tag, 1};
			return;
		}
	munmap((void *)a, n);
}

static void check_outside(struct worker *w, const char *what, long r, ul n) {
	if (r < 0 || native) return;
	if (prot_overlaps(r, r + n)) violation(w, r, "%s = %#lx: in a protected range, not asked for there", what, r);
}

static int pick_kind(struct worker *w) {
	int k = rn(w, 10);
	if (in_child) return ANON_P; // (its writes to a memfd would reach the parent)
	return k < 6 ? ANON_P : k < 8 ? MEMFD : ANON_S;
}

static long do_mmap(struct worker *w, ul a, ul n, int kind, int prot, int flags, ul *off) {
	int f = flags | (kind == ANON_P ? MAP_PRIVATE | MAP_ANONYMOUS : kind == ANON_S ? MAP_SHARED | MAP_ANONYMOUS : MAP_SHARED);
	ul o = 0;
	if (kind == MEMFD) {
		o = w->mfd_next;
		w->mfd_next = (w->mfd_next + MFD_SLOT * PG) % MFD_SIZE;
	}
	if (off) *off = o;
	cur(w, "mmap(%#lx, %#lx, %d, %#x)", a, n, prot, f);
	return sys((long)mmap((void *)a, n, prot, f, kind == MEMFD ? w->memfd : -1, o));
}

static void after_map(struct worker *w, ul a, ul n, int kind, int prot) {
	set_pages(w, a, n, kind, prot, ++w->idgen);
	if (prot & PROT_WRITE)
		for (ul x = a; x < a + n; x += PG) write_page(w, slot_of(w, x));
}

static const int prots[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE};

static void op_fixed(struct worker *w, int noreplace) {
	ul a, n;
	pick_span(w, &a, &n);
	int kind = pick_kind(w), prot = prots[rn(w, 5)];
	claim(w, a, n);
	long r = do_mmap(w, a, n, kind, prot, noreplace ? MAP_FIXED_NOREPLACE : MAP_FIXED, NULL);
	wlog(w, "mmap(%#lx, %#lx, %d, %s %s) = %s", a, n, prot, kname[kind], noreplace ? "NOREPLACE" : "FIXED", rstr(r));
	long want = a, alt = a;
	int own = any_own(w, a, n);
	if (noreplace && own) want = alt = -EEXIST;
	if (!native && strict && prot_overlaps(a, a + n)) {
		if (noreplace && own)
			alt = -EPERM;
		else
			want = alt = -EPERM;
	}
	expect(w, noreplace ? "mmap NOREPLACE" : "mmap FIXED", r, want, alt);
	if (r == (long)a) after_map(w, a, n, kind, prot);
	settle(w, a, n);
}

static void op_hint(struct worker *w) {
	ul a, n;
	pick_span(w, &a, &n);
	int kind = pick_kind(w);
	int free_all = !any_own(w, a, n);
	if (native) claim(w, a, n); // natively the kernel honours it there
	long r = do_mmap(w, a, n, kind, PROT_READ | PROT_WRITE, 0, NULL);
	wlog(w, "mmap(hint %#lx, %#lx, %s) = %s", a, n, kname[kind], rstr(r));
	if (r < 0) violation(w, 0, "hinted mmap: %s", ename(-r));
	if (!native && prot_overlaps(a, a + n)) {
		check_outside(w, "hinted mmap", r, n);
	} else if (free_all && r != (long)a) {
		violation(w, 0, "hinted mmap of free %#lx = %#lx, want the hint", a, r);
	} else if (!free_all && r == (long)a) {
		violation(w, 0, "hinted mmap over its own mapping at %#lx honoured", a);
	}
	if (r == (long)a) {
		after_map(w, a, n, kind, PROT_READ | PROT_WRITE);
	} else {
		if (in_window(w, r, n) || owner_of(r) || owner_of(r + n - 1))
			violation(w, r, "hinted mmap at %#lx landed at %#lx, in a worker's window", a, r);
		uint64_t t = new_tag(w);
		*(volatile uint64_t *)r = t;
		note_ext(w, r, n, t);
	}
	settle(w, a, n);
}

static void op_null(struct worker *w) {
	ul n = (1 + rn(w, 16)) * PG;
	int kind = pick_kind(w);
	long r = do_mmap(w, 0, n, kind, PROT_READ | PROT_WRITE, 0, NULL);
	wlog(w, "mmap(NULL, %#lx, %s) = %s", n, kname[kind], rstr(r));
	if (r < 0) violation(w, 0, "mmap(NULL): %s", ename(-r));
	check_outside(w, "mmap(NULL)", r, n);
	if (owner_of(r) || owner_of(r + n - 1)) violation(w, r, "mmap(NULL) = %#lx, in a worker's window", r);
	uint64_t t = new_tag(w);
	*(volatile uint64_t *)r = t;
	note_ext(w, r, n, t);
}

static void op_ext_unmap(struct worker *w) {
	int i = rn(w, 32);
	if (!w->ext[i].live) return;
	cur(w, "munmap ext %#lx", w->ext[i].a);
	long r = sys(munmap((void *)w->ext[i].a, w->ext[i].n));
	wlog(w, "munmap(ext %#lx, %#lx) = %s", w->ext[i].a, w->ext[i].n, rstr(r));
	expect(w, "munmap", r, 0, 0);
	w->ext[i].live = 0;
}

static void drop_atts(struct worker *w) {
	for (int i = 0; i < 16; i++) {
		struct att *t = &w->att[i];
		if (!t->live) continue;
		for (ul x = t->a; x < t->a + SHMP * PG; x += PG) {
			int s = slot_of(w, x);
			if (s < 0 || !w->pg[s].own || w->pg[s].id != t->id) {
				t->live = 0;
				break;
			}
		}
	}
}

static void op_munmap(struct worker *w) {
	ul a, n;
	int s;
	if (rn(w, 2) && pick_run(w, &a, &n, &s)) {
		// part of a run, or all of it
		if (rn(w, 2)) {
			ul off = rn(w, n / PG) * PG;
			a += off, n -= off;
			n = (1 + rn(w, n / PG)) * PG;
		}
	} else {
		pick_span(w, &a, &n);
	}
	cur(w, "munmap(%#lx, %#lx)", a, n);
	long r = sys(munmap((void *)a, n));
	wlog(w, "munmap(%#lx, %#lx) = %s", a, n, rstr(r));
	expect(w, "munmap", r, 0, 0);
	set_pages(w, a, n, FREE, 0, 0);
	drop_atts(w);
	settle(w, a, n);
}

static void op_mprotect(struct worker *w) {
	ul a, n;
	int s;
	if (rn(w, 4) == 0 || !pick_run(w, &a, &n, &s)) pick_span(w, &a, &n);
	int prot = prots[rn(w, 5)];
	ul ok = first_free(w, a, n);
	cur(w, "mprotect(%#lx, %#lx, %d)", a, n, prot);
	long r = sys(mprotect((void *)a, n, prot));
	wlog(w, "mprotect(%#lx, %#lx, %d) = %s", a, n, prot, rstr(r));
	expect(w, "mprotect", r, ok == n ? 0 : -ENOMEM, ok == n ? 0 : -ENOMEM);
	for (ul x = a; x < a + ok; x += PG) w->pg[slot_of(w, x)].prot = prot;
}

static void op_madvise(struct worker *w) {
	ul a, n;
	int s;
	if (!pick_run(w, &a, &n, &s)) return;
	struct page p0 = w->pg[s];
	static const int advs[] = {MADV_DONTNEED, MADV_DONTFORK, MADV_DOFORK, MADV_WIPEONFORK, MADV_KEEPONFORK,
	                           MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_DONTNEED, MADV_DONTFORK};
	int adv = advs[rn(w, 9)];
	int spill = 0;
	if (adv == MADV_DONTFORK || adv == MADV_DOFORK || adv == MADV_DONTNEED) {
		// sometimes past the run, over what w does not own
		if (rn(w, 3) == 0) {
			ul more = (1 + rn(w, 8)) * PG;
			if (in_window(w, a, n + more)) n += more, spill = 1;
		}
	}
	if (adv == MADV_DONTNEED && p0.locked) return;
	if ((adv == MADV_WIPEONFORK || adv == MADV_KEEPONFORK) && p0.kind != ANON_P) return;
	if (adv == MADV_POPULATE_READ && !(p0.prot & PROT_READ)) return;
	if (adv == MADV_POPULATE_WRITE && !(p0.prot & PROT_WRITE)) return;
	ul ok = first_free(w, a, n);
	long want = 0;
	if (spill && ok < n) want = -ENOMEM;
	if (spill) {
		// every owned page of the span gets it
		for (ul x = a; x < a + n; x += PG)
			if (w->pg[slot_of(w, x)].own && w->pg[slot_of(w, x)].locked && adv == MADV_DONTNEED) return;
	}
	cur(w, "madvise(%#lx, %#lx, %d)", a, n, adv);
	long r = sys(madvise((void *)a, n, adv));
	wlog(w, "madvise(%#lx, %#lx, %d) = %s", a, n, adv, rstr(r));
	expect(w, "madvise", r, want, want);
	for (ul x = a; x < a + n; x += PG) {
		struct page *p = &w->pg[slot_of(w, x)];
		if (!p->own) continue;
		switch (adv) {
		case MADV_DONTNEED:
			if (p->kind == ANON_P) p->tag = 0;
			break;
		case MADV_DONTFORK: p->dontfork = 1; break;
		case MADV_DOFORK: p->dontfork = 0; break;
		case MADV_WIPEONFORK: p->wipe = 1; break;
		case MADV_KEEPONFORK: p->wipe = 0; break;
		}
	}
}

static void op_mlock(struct worker *w) {
	ul a, n;
	int s;
	if (!pick_run(w, &a, &n, &s)) return;
	if (w->pg[s].locked || rn(w, 3) == 0) {
		long r = sys(munlock((void *)a, n));
		wlog(w, "munlock(%#lx, %#lx) = %s", a, n, rstr(r));
		expect(w, "munlock", r, 0, 0);
		for (ul x = a; x < a + n; x += PG) w->pg[slot_of(w, x)].locked = 0;
		return;
	}
	if (n > 32 * PG) return;
	long r = sys(mlock((void *)a, n));
	wlog(w, "mlock(%#lx, %#lx) = %s", a, n, rstr(r));
	if (r != 0 && r != -ENOMEM && r != -EAGAIN && r != -EPERM) expect(w, "mlock", r, 0, 0);
	if (r == 0)
		for (ul x = a; x < a + n; x += PG) w->pg[slot_of(w, x)].locked = 1;
	else if (r == -ENOMEM || r == -EAGAIN) {
		// may have locked part of it: the run is split unpredictably
		long u = sys(munlock((void *)a, n));
		wlog(w, "munlock(%#lx, %#lx) = %s", a, n, rstr(u));
		expect(w, "munlock", u, 0, 0);
	}
}

static void op_write(struct worker *w) {
	ul a, n;
	int s;
	if (!pick_run(w, &a, &n, &s)) return;
	struct page *p = &w->pg[s];
	if (!(p->prot & PROT_WRITE) || p->kind == SHM) return;
	wlog(w, "write %#lx, %#lx", a, n);
	for (ul x = a; x < a + n; x += PG) write_page(w, slot_of(w, x));
}

// move_pages moves the shadow of [old, old+n) to [to, to+n) (both in
// w's window; to may be elsewhere: then the pages become an external
// block).
static void move_pages(struct worker *w, ul old, ul n, ul to, int dontunmap) {
	static __thread struct page tmp[2 * NP];
	int cnt = n / PG;
	uint32_t id = ++w->idgen;
	for (int i = 0; i < cnt; i++) tmp[i] = w->pg[slot_of(w, old + i * PG)];
	if (dontunmap) {
		for (int i = 0; i < cnt; i++) {
			struct page *p = &w->pg[slot_of(w, old + i * PG)];
			p->tag = 0;
			p->locked = 0;
		}
	} else {
		set_pages(w, old, n, FREE, 0, 0);
	}
	if (in_window(w, to, n)) {
		for (int i = 0; i < cnt; i++) {
			struct page *p = &w->pg[slot_of(w, to + i * PG)];
			*p = tmp[i];
			p->id = id;
		}
	} else {
		// keep it as an external block, its first page's tag checked
		uint64_t t = new_tag(w);
		if (tmp[0].prot & PROT_WRITE) {
			if (tmp[0].prot & PROT_READ && !tmp[0].noverify && *(volatile uint64_t *)to != tmp[0].tag)
				violation(w, to, "moved block at %#lx holds %#lx, want %#lx", to, *(volatile uint64_t *)to, tmp[0].tag);
			*(volatile uint64_t *)to = t;
			note_ext(w, to, n, t);
		} else {
			munmap((void *)to, n);
			wlog(w, "munmap(%#lx, %#lx) (moved out, not writable)", to, n);
		}
	}
}

static void op_mremap(struct worker *w) {
	ul a, n;
	int s;
	if (!pick_run(w, &a, &n, &s)) return;
	struct page p0 = w->pg[s];
	if (p0.kind == SHM || p0.locked) return;
	// a part of the run: [old, old+olen)
	ul old = a, olen = n;
	if (rn(w, 2) && n > PG) {
		ul skip = rn(w, n / PG) * PG;
		old += skip, olen -= skip;
		if (rn(w, 2)) olen = (1 + rn(w, olen / PG)) * PG;
	}
	int kind = rn(w, 6);
	char what[160];
	if (kind == 0 && olen > PG) {
		// shrink
		ul nlen = (1 + rn(w, olen / PG - 1)) * PG;
		cur(w, "mremap shrink %#lx %#lx %#lx", old, olen, nlen);
		long r = sys((long)mremap((void *)old, olen, nlen, 0));
		snprintf(what, sizeof what, "mremap(%#lx, %#lx, %#lx) shrink", old, olen, nlen);
		wlog(w, "%s = %s", what, rstr(r));
		expect(w, what, r, old, old);
		set_pages(w, old + nlen, olen - nlen, FREE, 0, 0);
		settle(w, old + nlen, olen - nlen);
		return;
	}
	if (kind <= 2 && p0.kind == ANON_P) {
		// grow: in place if the pages after the run are free, else moved (MAYMOVE) or ENOMEM
		if (old + olen != a + n) old = a + n - olen;
		ul more = (1 + rn(w, 16)) * PG;
		if (!in_window(w, old, olen + more)) return;
		int maymove = rn(w, 2);
		int room = !any_own(w, old + olen, more);
		// under the guard the free pages of a protected range are
		// reservations: growing in place over one fails, as over any
		// mapping (ENOMEM, or a move with MREMAP_MAYMOVE)
		if (!native && prot_overlaps(old + olen, old + olen + more)) room = 0;
		claim(w, old + olen, more);
		cur(w, "mremap grow %#lx %#lx %#lx", old, olen, olen + more);
		long r = sys((long)mremap((void *)old, olen, olen + more, maymove ? MREMAP_MAYMOVE : 0));
		snprintf(what, sizeof what, "mremap(%#lx, %#lx, %#lx%s) grow", old, olen, olen + more, maymove ? ", MAYMOVE" : "");
		wlog(w, "%s = %s (room %d)", what, rstr(r), room);
		// (EFAULT: the run is more than one mapping in the kernel, which
		// the shadow does not always know: a fuzzer limit, not a verdict)
		if (r == -EFAULT) {
			settle(w, old, olen + more);
			return;
		}
		if (room) {
			expect(w, what, r, old, old);
		} else if (!maymove) {
			expect(w, what, r, -ENOMEM, -ENOMEM);
		} else {
			if (r < 0 || r == (long)old) violation(w, 0, "%s = %s, want a move", what, rstr(r));
			check_outside(w, what, r, olen + more);
			if (owner_of(r) || owner_of(r + olen + more - 1))
				violation(w, r, "%s moved into a worker's window at %#lx", what, r);
		}
		if (r == (long)old) {
			struct page q = w->pg[slot_of(w, old + olen - PG)];
			for (ul x = old + olen; x < old + olen + more; x += PG) {
				struct page *p = &w->pg[slot_of(w, x)];
				*p = q;
				p->tag = 0;
				p->noverify = q.kind == MEMFD; // the file may hold older data there
			}
		} else if (r >= 0) {
			move_pages(w, old, olen, r, 0);
			// (the external block's length: the grown one)
			for (int i = 0; i < 32; i++)
				if (w->ext[i].live && w->ext[i].a == (ul)r) w->ext[i].n = olen + more;
		}
		settle(w, old, olen + more);
		return;
	}
	if (kind == 3 && p0.kind == ANON_P) {
		// MREMAP_DONTUNMAP, to a place of w's or the kernel's choice
		int fixed = rn(w, 2);
		ul to = 0;
		if (fixed) {
			ul b, bn;
			pick_span(w, &b, &bn);
			to = b;
			if (!in_window(w, to, olen) || (to < old + olen && to + olen > old)) return;
			claim(w, to, olen);
		}
		cur(w, "mremap dontunmap %#lx %#lx -> %#lx", old, olen, to);
		long r = sys((long)mremap((void *)old, olen, olen, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | (fixed ? MREMAP_FIXED : 0), (void *)to));
		snprintf(what, sizeof what, "mremap(%#lx, %#lx, %#lx, DONTUNMAP%s, %#lx)", old, olen, olen, fixed ? "|FIXED" : "", to);
		wlog(w, "%s = %s", what, rstr(r));
		if (fixed) {
			long want = to;
			if (!native && strict && prot_overlaps(to, to + olen)) want = -EPERM;
			expect(w, what, r, want, -EFAULT);
		} else {
			if (r < 0 && r != -EFAULT) violation(w, 0, "%s: %s", what, ename(-r));
			check_outside(w, what, r, olen);
		}
		if (r >= 0) {
			if (fixed) set_pages(w, to, olen, FREE, 0, 0);
			move_pages(w, old, olen, r, 1);
		}
		if (fixed) settle(w, to, olen);
		return;
	}
	// MREMAP_FIXED move within the window, same length or not
	ul b, bn;
	pick_span(w, &b, &bn);
	ul nlen = rn(w, 2) ? olen : (1 + rn(w, 2 * olen / PG)) * PG;
	if (p0.kind != ANON_P && nlen > olen) nlen = olen; // (a grown file mapping could alias another's pages)
	if (!in_window(w, b, nlen) || (b < old + olen && b + nlen > old)) return;
	claim(w, b, nlen);
	cur(w, "mremap fixed %#lx %#lx -> %#lx %#lx", old, olen, b, nlen);
	long r = sys((long)mremap((void *)old, olen, nlen, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)b));
	snprintf(what, sizeof what, "mremap(%#lx, %#lx, %#lx, FIXED, %#lx)", old, olen, nlen, b);
	wlog(w, "%s = %s", what, rstr(r));
	long want = b;
	if (!native && strict && prot_overlaps(b, b + nlen)) want = -EPERM;
	expect(w, what, r, want, nlen != olen ? -EFAULT : want);
	if (r == (long)b) {
		ul keep = nlen < olen ? nlen : olen;
		struct page q = w->pg[slot_of(w, old + keep - PG)];
		if (nlen < olen) set_pages(w, old + nlen, olen - nlen, FREE, 0, 0);
		set_pages(w, b, nlen, FREE, 0, 0);
		move_pages(w, old, keep, b, 0);
		for (ul x = b + keep; x < b + nlen; x += PG) {
			struct page *p = &w->pg[slot_of(w, x)];
			*p = q;
			p->id = w->pg[slot_of(w, b)].id;
			p->tag = 0;
			p->noverify = q.kind == MEMFD;
		}
	}
	settle(w, old, olen);
	settle(w, b, nlen);
}

static void op_shmat(struct worker *w) {
	ul a, n;
	pick_span(w, &a, &n);
	n = SHMP * PG;
	if (!in_window(w, a, n)) return;
	int slot = -1;
	for (int i = 0; i < 16; i++)
		if (!w->att[i].live) { slot = i; break; }
	if (slot < 0) return;
	int remap = rn(w, 2) ? SHM_REMAP : 0;
	int own = any_own(w, a, n);
	claim(w, a, n);
	cur(w, "shmat %#lx", a);
	long r = sys((long)shmat(w->shmid, (void *)a, remap));
	wlog(w, "shmat(%#lx%s) = %s", a, remap ? ", SHM_REMAP" : "", rstr(r));
	long want = a, alt = a;
	if (own && !remap) want = alt = -EINVAL;
	if (!native && strict && prot_overlaps(a, a + n)) {
		if (want == -EINVAL) alt = -EPERM; else want = alt = -EPERM;
	}
	// (policy.md: refused across a range's edge, EINVAL; honoured with SHM_REMAP)
	if (want == (long)a && !remap && shm_crossing_refused(a, n)) alt = -EINVAL;
	expect(w, "shmat", r, want, alt);
	if (r == (long)a) {
		set_pages(w, a, n, SHM, PROT_READ | PROT_WRITE, ++w->idgen);
		for (int i = 0; i < SHMP; i++) w->pg[slot_of(w, a + i * PG)].tag = shm_tag(w, i);
		w->att[slot] = (struct att){a, w->idgen, 1};
		drop_atts(w);
		w->att[slot].live = 1;
	} else {
		drop_atts(w);
	}
	settle(w, a, n);
}

static void op_shmdt(struct worker *w) {
	drop_atts(w);
	int i = rn(w, 16);
	struct att *t = &w->att[i];
	if (!t->live) return;
	cur(w, "shmdt %#lx", t->a);
	long r = sys(shmdt((void *)t->a));
	wlog(w, "shmdt(%#lx) = %s", t->a, rstr(r));
	expect(w, "shmdt", r, 0, 0);
	set_pages(w, t->a, SHMP * PG, FREE, 0, 0);
	t->live = 0;
	settle(w, t->a, SHMP * PG);
}

// --- /proc/self/maps ---

struct mline { ul s, e, inode; char perms[8]; char path[96]; const char *line; };

static int is_reservation(const struct mline *m) {
	return strcmp(m->perms, "---p") == 0 && m->inode == 0 && (m->path[0] == 0 || strcmp(m->path, "[heap]") == 0);
}

// read_maps reads the layout from file (/proc/self/maps, or smaps,
// whose other lines it skips) into buf (NUL-terminated lines) and calls
// fn for each mapping; a layout that does not fit in buf fails
// (ENOBUFS).
static int read_maps(const char *file, char *buf, size_t cap, void (*fn)(struct mline *, void *), void *ctx) {
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return -1;
	size_t len = 0;
	ssize_t r = 0;
	while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0) len += r;
	close(fd);
	if (r < 0) return -1;
	if (len == cap - 1) {
		errno = ENOBUFS;
		return -1;
	}
	buf[len] = 0;
	for (char *l = buf; *l;) {
		char *nl = strchr(l, '\n');
		if (nl) *nl = 0;
		struct mline m = {0};
		int pos = 0;
		if (sscanf(l, "%lx-%lx %7s %*s %*s %lu %n", &m.s, &m.e, m.perms, &m.inode, &pos) >= 4) {
			snprintf(m.path, sizeof m.path, "%s", pos ? l + pos : "");
			m.line = l;
			fn(&m, ctx);
		}
		if (!nl) break;
		l = nl + 1;
	}
	return 0;
}

struct layout_check {
	ul pos[2];
	uint32_t start;
	int fresh;
};

static void check_claimed(struct mline *m, ul s, ul e, uint32_t start) {
	ul covered = 0;
	for (int i = 0; i < K; i++) {
		struct worker *w = W[i];
		for (int h = 0; h < 2; h++) {
			ul os = s > w->seg[h] ? s : w->seg[h], oe = e < w->seg[h] + HALF ? e : w->seg[h] + HALF;
			if (os >= oe) continue;
			covered += oe - os;
			for (ul x = os; x < oe; x += PG) {
				int sl = slot_of(w, x);
				if (__atomic_load_n(&w->claimed[sl], __ATOMIC_SEQ_CST)) continue;
				uint32_t u = __atomic_load_n(&w->unclaimed_at[sl], __ATOMIC_SEQ_CST);
				if ((int32_t)(u - start) >= 0) continue;
				violation(w, x, "checker: %#lx, in worker %d's window, is mapped and no worker claims it: %s", x, i, m->line);
			}
		}
	}
	if (covered < e - s) violation(NULL, s, "checker: a mapping in a protected range outside every window: %s", m->line);
}

static void layout_fn(struct mline *m, void *ctx) {
	struct layout_check *c = ctx;
	for (int i = 0; i < nranges; i++) {
		if (m->e <= rlo[i] || m->s >= rhi[i]) continue;
		ul s = m->s > rlo[i] ? m->s : rlo[i], e = m->e < rhi[i] ? m->e : rhi[i];
		if (!native && s > c->pos[i])
			violation(NULL, c->pos[i], "%s: a hole in a protected range at %#lx-%#lx", c->fresh ? "fresh layout" : "checker", c->pos[i], s);
		if (e > c->pos[i]) c->pos[i] = e;
		if (c->fresh) {
			if (native || !is_reservation(m)) violation(NULL, 0, "fresh layout: %s in a protected range", m->line);
			continue;
		}
		if (!native && is_reservation(m)) continue;
		check_claimed(m, s, e, c->start);
	}
}

// check_layout reads /proc/self/smaps, not maps: since Linux 6.17 maps
// is read without the mmap lock, each mapping found and locked on its
// own, so it can show the middle of another thread's call that holds
// the lock for writing. An MREMAP_FIXED unmaps its target, then moves
// the mapping there, all under that lock; a read in between shows the
// target free (where the mappings on either side are not ones the call
// changes), though no mmap, of the guard's or the kernel's choice, can
// run there before the move is done. That gave "a hole for a moment"
// at such targets (seed 971 -2, about one run in ten: the hole always
// exactly a move's target in the range, covered in smaps read at once,
// and no probe ever landed in it). smaps takes the mmap lock for each
// piece it reads, so a hole it shows was free for a moment in which
// another thread could have mapped there.
static void check_layout(char *buf, size_t cap, int fresh) {
	struct layout_check c = {{rlo[0], rlo[1]}, 0, fresh};
	c.start = __atomic_add_fetch(&gen, 1, __ATOMIC_SEQ_CST);
	if (read_maps("/proc/self/smaps", buf, cap, layout_fn, &c) < 0)
		violation(NULL, 0, "cannot read /proc/self/smaps: %s", ename(errno));
	for (int i = 0; i < nranges; i++)
		if (!native && c.pos[i] < rhi[i])
			violation(NULL, c.pos[i], "%s: a hole in a protected range at %#lx-%#lx", fresh ? "fresh layout" : "checker", c.pos[i], rhi[i]);
}

static long checks;
static void *checker(void *arg) {
	(void)arg;
	static char buf[16 << 20];
	while (!__atomic_load_n(&stop_threads, __ATOMIC_SEQ_CST)) {
		check_layout(buf, sizeof buf, 0);
		checks++;
	}
	return NULL;
}

// --- the prober ---

static inline unsigned long int80(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3,
                                  unsigned long a4, unsigned long a5, unsigned long a6) {
	unsigned long ret;
	__asm__ volatile("mov %%rbp, %%r12\n\t"
	                 "mov %[a6], %%rbp\n\t"
	                 "int $0x80\n\t"
	                 "mov %%r12, %%rbp"
	                 : "=a"(ret)
	                 : "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4), "D"(a5), [a6] "r"(a6)
	                 : "memory", "cc", "r8", "r9", "r10", "r11", "r12");
	return ret;
}
static int err32(unsigned long r) { return (uint32_t)r >= 0xfffff001u ? -(int32_t)(uint32_t)r : 0; }

static long probes;

// probe makes one call that must not land in a protected range; it
// returns a description of the escape, or NULL.
static const char *probe(uint64_t *rs, ul *at) {
	static __thread char what[128];
	int k = rnd(rs) % 3;
	ul n = (1 + rnd(rs) % 4) * PG;
	long r;
	if (native) {
		// natively these may land in the windows: only harmless churn
		void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) munmap(p, n);
		if (k == 2) {
			unsigned long q = int80(192, 0, n, 3, MAP_PRIVATE | MAP_ANONYMOUS, -1UL, 0);
			if (!err32(q)) munmap((void *)(q & 0xffffffffUL), n);
		}
		return NULL;
	}
	switch (k) {
	case 0:
		r = sys((long)mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0));
		snprintf(what, sizeof what, "mmap(NULL, %#lx, MAP_32BIT) = %s", n, rstr(r));
		break;
	case 1: {
		int i = rnd(rs) % nranges;
		ul h = rlo[i] + (rnd(rs) % ((rhi[i] - rlo[i]) / PG)) * PG;
		if (rnd(rs) % 2 && W[0]) {
			// into a worker's window: the half of it inside a
			// protected range, or (the window across the start of
			// one) from just below that start into the range. Never
			// wholly into the half outside: the kernel honours such
			// a hint where the pages are free, and a worker's
			// MAP_FIXED, SHM_REMAP or MREMAP_FIXED over them before
			// the munmap below lost those pages to it (its SIGSEGV
			// outside the ranges with --strict, seeds 990 and 5977;
			// natively too: the guard does nothing with either call)
			struct worker *w = W[rnd(rs) % K];
			int in = prot_overlaps(w->seg[0], w->seg[0] + HALF) ? 0 : 1;
			h = w->seg[in] + (rnd(rs) % NP) * PG;
			if (in == 1 && w->adjacent && n > PG && rnd(rs) % 4 == 0)
				h = w->edge - (1 + rnd(rs) % (n / PG - 1)) * PG;
		}
		r = sys((long)mmap((void *)h, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
		snprintf(what, sizeof what, "mmap(hint %#lx, %#lx) = %s", h, n, rstr(r));
		break;
	}
	default: {
		unsigned long q = int80(192, 0, n, 3, MAP_PRIVATE | MAP_ANONYMOUS, -1UL, 0);
		r = err32(q) ? -err32(q) : (long)(q & 0xffffffffUL);
		snprintf(what, sizeof what, "i386 mmap2(NULL, %#lx) = %s", n, rstr(r));
	}
	}
	if (r < 0) return NULL;
	if (prot_overlaps(r, r + n)) {
		*at = r;
		return what;
	}
	munmap((void *)r, n);
	return NULL;
}

static void *prober(void *arg) {
	(void)arg;
	uint64_t rs = seed * 7919 + 17;
	while (!__atomic_load_n(&stop_threads, __ATOMIC_SEQ_CST)) {
		ul at = 0;
		const char *esc = probe(&rs, &at);
		if (esc) violation(NULL, at, "prober: %s: in a protected range", esc);
		probes++;
		if (probes % 16 == 0) sched_yield();
	}
	return NULL;
}

// --- processes and threads ---

// child_layout checks a forked child's layout for holes in the
// protected ranges (the other windows are copies of the parent's at the
// fork).
struct holes { struct worker *w; ul pos[2]; };
static void holes_fn(struct mline *m, void *ctx) {
	struct holes *hh = ctx;
	for (int i = 0; i < nranges; i++) {
		if (m->e <= rlo[i] || m->s >= rhi[i]) continue;
		ul s = m->s > rlo[i] ? m->s : rlo[i], e = m->e < rhi[i] ? m->e : rhi[i];
		if (s > hh->pos[i]) violation(hh->w, hh->pos[i], "forked child: a hole in a protected range at %#lx-%#lx", hh->pos[i], s);
		if (e > hh->pos[i]) hh->pos[i] = e;
	}
}

static void child_layout(struct worker *w) {
	static char buf[1 << 20];
	struct holes h = {w, {rlo[0], rlo[1]}};
	read_maps("/proc/self/maps", buf, sizeof buf, holes_fn, &h); // (one thread: nothing changes meanwhile)
	for (int i = 0; i < nranges; i++)
		if (h.pos[i] < rhi[i]) violation(w, h.pos[i], "forked child: a hole in a protected range at %#lx-%#lx", h.pos[i], rhi[i]);
}

static void op_fixed(struct worker *w, int noreplace);
static void op_munmap(struct worker *w);
static void op_mprotect(struct worker *w);

static void op_fork(struct worker *w) {
	wlog(w, "fork");
	pid_t pid = fork();
	if (pid < 0) violation(w, 0, "fork: %s", ename(errno));
	if (pid == 0) {
		in_child = 1;
		// what the child has: no DONTFORK pages, WIPEONFORK ones empty
		for (int s = 0; s < (int)(2 * NP); s++) {
			struct page *p = &w->pg[s];
			if (p->own && p->dontfork) memset(p, 0, sizeof *p);
			else if (p->own && p->wipe) p->tag = 0, p->wipe = 0;
		}
		verify(w, "forked child");
		for (int i = 0; i < 3; i++) {
			w->step++;
			switch (rn(w, 3)) {
			case 0: op_fixed(w, rn(w, 2)); break;
			case 1: op_munmap(w); break;
			default: op_mprotect(w);
			}
			verify(w, "forked child");
		}
		if (!native) {
			uint64_t rs = w->rs;
			for (int i = 0; i < 4; i++) {
				ul at = 0;
				const char *esc = probe(&rs, &at);
				if (esc) violation(w, at, "forked child's probe: %s: in a protected range", esc);
			}
			child_layout(w);
		}
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid) violation(w, 0, "waitpid: %s", ename(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		violation(w, 0, "forked child: status %#x (%s)", st, WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exit");
}

static void op_vfork(struct worker *w) {
	wlog(w, "vfork+exec /bin/true");
	static char *const av[] = {"true", NULL};
	pid_t pid = vfork();
	if (pid == 0) {
		execve("/bin/true", av, environ);
		_exit(127);
	}
	if (pid < 0) violation(w, 0, "vfork: %s", ename(errno));
	int st;
	if (waitpid(pid, &st, 0) != pid) violation(w, 0, "waitpid: %s", ename(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) violation(w, 0, "/bin/true: status %#x", st);
}

static void *short_thread(void *arg) {
	ul n = (ul)arg;
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		*(volatile char *)p = 1;
		munmap(p, n);
	}
	return NULL;
}

static void op_threads(struct worker *w) {
	int n = 1 + rn(w, 3);
	pthread_t th[3];
	wlog(w, "%d short threads", n);
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, short_thread, (void *)((1 + rn(w, 4)) * PG)) != 0) violation(w, 0, "pthread_create");
	for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
}

// --- workers ---

static void *worker_main(void *arg) {
	struct worker *w = arg;
	me = w;
	for (w->step = 0; w->step < NOPS; w->step++) {
		int k = rn(w, 100);
		if (k < 14) op_fixed(w, 0);
		else if (k < 22) op_fixed(w, 1);
		else if (k < 26) op_hint(w);
		else if (k < 28) op_null(w);
		else if (k < 31) op_ext_unmap(w);
		else if (k < 41) op_munmap(w);
		else if (k < 49) op_mprotect(w);
		else if (k < 57) op_madvise(w);
		else if (k < 60) op_mlock(w);
		else if (k < 66) op_write(w);
		else if (k < 82) op_mremap(w);
		else if (k < 87) op_shmat(w);
		else if (k < 91) op_shmdt(w);
		else if (k < 93) op_fork(w);
		else if (k < 95) op_vfork(w);
		else if (k < 98) op_threads(w);
		else op_munmap(w);
		verify(w, "after the call");
	}
	return NULL;
}

static void setup_worker(int i) {
	struct worker *w = mmap(NULL, sizeof *w, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w == MAP_FAILED) violation(NULL, 0, "setup: %s", ename(errno));
	W[i] = w;
	w->idx = i;
	w->rs = seed * 1000003 + i * 7777 + 1;
	int side = two ? i % 2 : 0, j = two ? i / 2 : i;
	if (side == 0) {
		w->seg[0] = 0x80000000UL - (j + 1) * HALF; // inside
		w->seg[1] = 0x80000000UL + j * HALF;       // outside
		w->edge = 0x80000000UL;
	} else {
		w->seg[0] = 0x100000000UL - (j + 1) * HALF; // outside
		w->seg[1] = 0x100000000UL + j * HALF;       // inside
		w->edge = 0x100000000UL;
	}
	w->adjacent = j == 0;
	if (!w->adjacent) w->edge = 0;
	w->memfd = memfd_create("concfuzz", MFD_CLOEXEC);
	if (w->memfd < 0 || ftruncate(w->memfd, MFD_SIZE) != 0) violation(NULL, 0, "memfd: %s", ename(errno));
	w->shmid = shmget(IPC_PRIVATE, SHMP * PG, IPC_CREAT | 0600);
	if (w->shmid < 0) violation(NULL, 0, "shmget: %s", ename(errno));
	void *home = shmat(w->shmid, NULL, 0);
	shmctl(w->shmid, IPC_RMID, NULL);
	if (home == (void *)-1) violation(NULL, 0, "shmat: %s", ename(errno));
	for (int p = 0; p < SHMP; p++) *(uint64_t *)((char *)home + p * PG) = shm_tag(w, p);
}

static void on_fault(int sig, siginfo_t *si, void *uc) {
	(void)uc;
	violation(me, (ul)si->si_addr, "%s at %#lx", strsignal(sig), (ul)si->si_addr);
}

// --- the fresh layout after exec ---

static int fresh(void) {
	static char buf[16 << 20];
	check_layout(buf, sizeof buf, 1);
	if (!native) {
		uint64_t rs = seed;
		for (int i = 0; i < 16; i++) {
			ul at = 0;
			const char *esc = probe(&rs, &at);
			if (esc) violation(NULL, at, "after exec: %s: in a protected range", esc);
		}
	}
	say("OK seed=%lu K=%d ops=%d%s%s%s%s", seed, K, NOPS, native ? " native" : "", strict ? " strict" : "",
	    poolall ? " pool-all" : "", two ? " two" : "");
	return 0;
}

static char **exec_argv;
static void *execer(void *arg) {
	(void)arg;
	execv("/proc/self/exe", exec_argv);
	violation(NULL, 0, "exec: %s", ename(errno));
	return NULL;
}

int main(int argc, char **argv) {
	int i = 1, freshmode = 0;
	self_argv0 = argv[0];
	for (; i < argc && argv[i][0] == '-'; i++) {
		for (char *f = argv[i] + 1; *f; f++) switch (*f) {
			case 'n': native = 1; break;
			case 's': strict = 1; break;
			case 'p': poolall = 1; break;
			case '2': two = 1; break;
			case 'v': verbose = 1; break;
			case 'x': freshmode = 1; break;
			default: say("usage: concfuzz [-nsp2v] SEED K [OPS]"); return 2;
			}
	}
	if (argc - i < 2) {
		say("usage: concfuzz [-nsp2v] SEED K [OPS]");
		return 2;
	}
	seed = strtoul(argv[i], NULL, 0);
	K = atoi(argv[i + 1]);
	if (argc - i > 2) NOPS = atoi(argv[i + 2]);
	if (K < 1 || K > MAXK) K = K < 1 ? 1 : MAXK;
	nranges = two ? 2 : 1;
	struct sigaction sa = {0};
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	if (freshmode) return fresh();

	for (int k = 0; k < K; k++) setup_worker(k);
	pthread_t ck, pr;
	pthread_create(&ck, NULL, checker, NULL);
	pthread_create(&pr, NULL, prober, NULL);
	for (int k = 0; k < K; k++) pthread_create(&W[k]->th, NULL, worker_main, W[k]);
	for (int k = 0; k < K; k++) pthread_join(W[k]->th, NULL);
	// the claims are exact now
	static char buf[16 << 20];
	for (int k = 0; k < K; k++) settle_all(W[k]);
	check_layout(buf, sizeof buf, 0);
	if (verbose) say("checks=%ld probes=%ld", checks, probes);

	// exec from a thread while the checker and prober still run
	static char *av[16];
	int n = 0;
	av[n++] = argv[0];
	char flags[16] = "-x";
	if (native) strcat(flags, "n");
	if (strict) strcat(flags, "s");
	if (poolall) strcat(flags, "p");
	if (two) strcat(flags, "2");
	av[n++] = flags;
	av[n++] = argv[i];
	av[n++] = argv[i + 1];
	char ops[16];
	snprintf(ops, sizeof ops, "%d", NOPS);
	av[n++] = ops;
	av[n] = NULL;
	exec_argv = av;
	pthread_t ex;
	pthread_create(&ex, NULL, execer, NULL);
	pthread_join(ex, NULL);
	return 1;
}
