// escape.h: what the escape_*.c probes share. Each probe tries routes
// that could get something mapped inside the protected range [LO, HI)
// without asking for it there, and reports one line per attempt:
//
//	ROUTE ok: what happened
//	ROUTE ESCAPED: a mapping in the range nobody asked for (what happened)
//	ROUTE FAIL: the call did something else than expected (wrong errno, a hole left behind)
//	ROUTE info: a fact for the test to compare (not an attempt)
//
// and "END failures=N" when it finishes. A mapping inside the range is
// fine when it is a reservation (---p, inode 0, no path or "[heap]"), was
// there when the program started (a non-PIE image), or was asked for at
// that address explicitly and honoured (allow()).
#ifndef ESCAPE_H
#define ESCAPE_H

#pragma GCC diagnostic ignored "-Wunused-function"

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include "say.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

// The protected range; a probe that needs another defines both first.
#ifndef LO
#define LO 0x10000UL
#define HI 0x80000000UL
#endif
#define PAGE 4096UL

static int strict_mode; // the guard runs with --strict
static int failures;

static const char *ename(int e) {
	const char *s = strerrorname_np(e);
	return s ? s : "E?";
}

static int in_range(unsigned long a, unsigned long n) { return a < HI && a + n > LO; }

// --- /proc/self/maps ---

struct mapping {
	unsigned long start, end, inode;
	char perms[8];
	char path[128];
};

#define MAXMAPS 16384
static struct mapping maps_tab[MAXMAPS];
static char maps_raw[1 << 21];
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

// read_maps fills maps_tab; the caller holds maps_lock.
static int read_maps(void) {
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 0;
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, maps_raw + len, sizeof maps_raw - 1 - len);
		if (r <= 0) break;
		len += r;
	}
	close(fd);
	maps_raw[len] = 0;
	int n = 0;
	for (char *line = maps_raw; *line && n < MAXMAPS;) {
		char *nl = strchr(line, '\n');
		if (nl) *nl = 0;
		struct mapping *m = &maps_tab[n];
		int pos = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &m->start, &m->end, m->perms, &m->inode, &pos) >= 4) {
			snprintf(m->path, sizeof m->path, "%s", pos ? line + pos : "");
			n++;
		}
		if (!nl) break;
		line = nl + 1;
	}
	return n;
}

static int reservation(const struct mapping *m) {
	return strcmp(m->perms, "---p") == 0 && m->inode == 0 && (m->path[0] == 0 || strcmp(m->path, "[heap]") == 0);
}

// --- what may be in the range ---

struct iv { unsigned long s, e; };
#define MAXIV 4096
static struct iv okv[MAXIV];
static int nokv;

static void allow_locked(unsigned long s, unsigned long e) {
	if (nokv < MAXIV) okv[nokv++] = (struct iv){s, e};
}

// allow records that [a, a+n) was asked for explicitly and honoured.
static void allow(unsigned long a, unsigned long n) {
	pthread_mutex_lock(&maps_lock);
	allow_locked(a, a + n);
	pthread_mutex_unlock(&maps_lock);
}

static int covered_locked(unsigned long s, unsigned long e) {
	unsigned long pos = s;
	for (int moved = 1; moved && pos < e;) {
		moved = 0;
		for (int i = 0; i < nokv; i++)
			if (okv[i].s <= pos && pos < okv[i].e) { pos = okv[i].e; moved = 1; }
	}
	return pos >= e;
}

// The mappings in the range at start-up (a non-PIE image and its bss)
// are the program's own.
__attribute__((constructor(101))) static void escape_baseline(void) {
	pthread_mutex_lock(&maps_lock);
	int n = read_maps();
	for (int i = 0; i < n; i++) {
		struct mapping *m = &maps_tab[i];
		if (in_range(m->start, m->end - m->start) && !reservation(m))
			allow_locked(m->start, m->end);
	}
	pthread_mutex_unlock(&maps_lock);
}

// Offending mappings already reported, exactly as they were: the same
// mapping is reported once, a new one at the same place again.
static struct iv rep[MAXIV];
static int nrep;

static int reported_locked(const struct mapping *m) {
	for (int i = 0; i < nrep; i++)
		if (rep[i].s == m->start && rep[i].e == m->end) return 1;
	return 0;
}

// offenders describes each mapping in the range nobody asked for into
// out (one per line) and returns how many; each is reported once.
static int offenders(char *out, size_t cap) {
	int count = 0;
	size_t used = 0;
	out[0] = 0;
	pthread_mutex_lock(&maps_lock);
	int n = read_maps();
	for (int i = 0; i < n; i++) {
		struct mapping *m = &maps_tab[i];
		if (!in_range(m->start, m->end - m->start) || reservation(m)) continue;
		unsigned long s = m->start > LO ? m->start : LO, e = m->end < HI ? m->end : HI;
		if (covered_locked(s, e) || reported_locked(m)) continue;
		if (nrep < MAXIV) rep[nrep++] = (struct iv){m->start, m->end};
		if (used < cap)
			used += snprintf(out + used, cap - used, "%s%lx-%lx %s %lu %s", count ? "\n" : "", m->start, m->end,
			                 m->perms, m->inode, m->path);
		count++;
	}
	pthread_mutex_unlock(&maps_lock);
	return count;
}

// reserved reports whether [a, a+n) is covered by reservations.
static int reserved(unsigned long a, unsigned long n) {
	pthread_mutex_lock(&maps_lock);
	int cnt = read_maps();
	unsigned long pos = a;
	for (int i = 0; i < cnt && pos < a + n; i++) {
		struct mapping *m = &maps_tab[i];
		if (m->start <= pos && pos < m->end) {
			if (!reservation(m)) break;
			pos = m->end;
		}
	}
	pthread_mutex_unlock(&maps_lock);
	return pos >= a + n;
}

// nohole reports whether mappings (of any kind) cover [a, a+n).
static int nohole(unsigned long a, unsigned long n) {
	pthread_mutex_lock(&maps_lock);
	int cnt = read_maps();
	unsigned long pos = a;
	for (int i = 0; i < cnt && pos < a + n; i++)
		if (maps_tab[i].start <= pos && pos < maps_tab[i].end) pos = maps_tab[i].end;
	pthread_mutex_unlock(&maps_lock);
	return pos >= a + n;
}

// mapped_at returns the mapping holding address a (perms in out), or 0.
static int mapped_at(unsigned long a, struct mapping *out) {
	pthread_mutex_lock(&maps_lock);
	int cnt = read_maps(), found = 0;
	for (int i = 0; i < cnt; i++)
		if (maps_tab[i].start <= a && a < maps_tab[i].end) { *out = maps_tab[i]; found = 1; break; }
	pthread_mutex_unlock(&maps_lock);
	return found;
}

// hole_bytes counts the bytes of [LO, HI) that no mapping covers.
static unsigned long hole_bytes(void) {
	pthread_mutex_lock(&maps_lock);
	int cnt = read_maps();
	unsigned long pos = LO, holes = 0;
	for (int i = 0; i < cnt && pos < HI; i++) {
		struct mapping *m = &maps_tab[i];
		if (m->end <= pos) continue;
		if (m->start > pos) holes += (m->start < HI ? m->start : HI) - pos;
		pos = m->end;
	}
	if (pos < HI) holes += HI - pos;
	pthread_mutex_unlock(&maps_lock);
	return holes;
}

// --- verdicts ---

// verdict reports one attempt. ok says whether the call itself did what
// the guard should make it do; the maps decide whether it escaped.
static void verdict(const char *route, int ok, const char *fmt, ...) {
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	static char off[8192];
	static pthread_mutex_t vlock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&vlock);
	int n = offenders(off, sizeof off);
	if (n) {
		for (char *l = off; l && *l;) {
			char *nl = strchr(l, '\n');
			if (nl) *nl = 0;
			say("%s ESCAPED: %s (%s)", route, l, what);
			l = nl ? nl + 1 : NULL;
		}
		failures++;
	} else if (ok) {
		say("%s ok: %s", route, what);
	} else {
		say("%s FAIL: %s", route, what);
		failures++;
	}
	pthread_mutex_unlock(&vlock);
}

// expect_errno: a call that must fail with want.
static void expect_errno(const char *route, long r, int e, int want, const char *call) {
	if (r == -1 && e == want) verdict(route, 1, "%s: %s", call, ename(e));
	else if (r == -1) verdict(route, 0, "%s: %s, want %s", call, ename(e), ename(want));
	else verdict(route, 0, "%s = %#lx, want %s", call, r, ename(want));
}

// expect_outside: an mmap-like result that must be a failure with
// ENOMEM or a mapping outside the range.
static void expect_outside(const char *route, void *p, int e, unsigned long n, const char *call) {
	if (p == MAP_FAILED) verdict(route, e == ENOMEM, "%s: %s", call, ename(e));
	else verdict(route, !in_range((unsigned long)p, n), "%s = %p", call, p);
}

// expect_fixed: an explicit request for [a, a+n): honoured without
// --strict (then allowed), EPERM with it.
static void expect_fixed(const char *route, void *p, int e, unsigned long a, unsigned long n, const char *call) {
	if (strict_mode) {
		expect_errno(route, p == MAP_FAILED ? -1 : (long)p, e, EPERM, call);
		return;
	}
	if (p == (void *)a) {
		allow(a, n);
		verdict(route, 1, "%s honoured at %#lx", call, a);
	} else if (p == MAP_FAILED) {
		verdict(route, 0, "%s: %s, want it honoured", call, ename(e));
	} else {
		verdict(route, 0, "%s = %p, want %#lx", call, p, a);
	}
}

// still_reserved: after a call aimed at a reservation, it is still one.
static void still_reserved(const char *route, unsigned long a, unsigned long n, int was, const char *what) {
	if (!was) {
		verdict(route, 1, "%s (no reservation here to begin with)", what);
		return;
	}
	verdict(route, reserved(a, n), "%s; reservation at %#lx-%#lx %s", what, a, a + n,
	        reserved(a, n) ? "intact" : "GONE (hole or replaced)");
}

static int finish(void) {
	say("END failures=%d", failures);
	return failures ? 1 : 0;
}

static void set_mode(int argc, char **argv) {
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "strict") == 0) strict_mode = 1;
}

// --- raw system calls ---

// int80 makes an i386 system call from 64-bit code, with all 64 bits of
// each register as given: the kernel uses the low 32.
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

// sys64 makes a 64-bit system call with rax exactly as given: the
// kernel takes the call number from its low 32 bits (sign-extended).
static inline long sys64(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4,
                         unsigned long a5, unsigned long a6) {
	long ret;
	register unsigned long r10 __asm__("r10") = a4;
	register unsigned long r8 __asm__("r8") = a5;
	register unsigned long r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}

// err64 returns the errno of a raw 64-bit result, or 0 for success.
static int err64(long r) { return r < 0 && r >= -4095 ? (int)-r : 0; }

// i386 call numbers.
enum {
	NR32_brk = 45, NR32_old_mmap = 90, NR32_munmap = 91, NR32_ipc = 117, NR32_clone = 120,
	NR32_mprotect = 125, NR32_mremap = 163, NR32_mmap2 = 192, NR32_madvise = 219, NR32_shmat = 397,
	NR32_shmdt = 398, NR32_clone3 = 435,
};

// err32 returns the errno of an i386 result, or 0 for success.
static int err32(unsigned long r) { return (uint32_t)r >= 0xfffff001u ? -(int32_t)(uint32_t)r : 0; }

// A page below 4 GiB and outside the range, for arguments i386 calls
// take by pointer (old_mmap's block, ipc's result).
#define LOW4G 0x90000000UL
static void *low4g(void) {
	static void *p;
	if (!p) {
		p = mmap((void *)LOW4G, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)LOW4G) {
			say("setup FAIL: a page at %#lx: %p %s", LOW4G, p, ename(errno));
			exit(2);
		}
	}
	return p;
}

// --- racing probes ---

// map32_stop ends map32_spam; map32_landed is where a MAP_32BIT mapping
// landed in the range, or 0.
static volatile int map32_stop;
static volatile unsigned long map32_landed;

// map32_spam is a thread that maps with MAP_32BIT (no address) in a loop
// until map32_stop, and stops at the first mapping that lands in the
// range: a hole someone left there for a moment.
static void *map32_spam(void *x) {
	(void)x;
	while (!map32_stop) {
		void *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (p == MAP_FAILED) continue;
		if (in_range((unsigned long)p, PAGE)) {
			map32_landed = (unsigned long)p;
			map32_stop = 1;
			break;
		}
		munmap(p, PAGE);
	}
	return 0;
}

// perf_dummy_fd opens a disabled software perf event of this process,
// whose mmap MAP_PRIVATE fails (EINVAL) after the kernel has unmapped a
// MAP_FIXED target; -1 if refused.
static int perf_dummy_fd(void) {
	struct perf_event_attr at;
	memset(&at, 0, sizeof at);
	at.size = sizeof at;
	at.type = PERF_TYPE_SOFTWARE;
	at.config = PERF_COUNT_SW_DUMMY;
	at.disabled = 1;
	return syscall(SYS_perf_event_open, &at, 0, -1, -1, 0);
}

#endif
