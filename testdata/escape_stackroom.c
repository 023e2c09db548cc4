// escape_stackroom.c: the room left unreserved below a stack that lies in
// a guarded range (trace.withStackRoom), for the stack to grow into. Only
// the stack may use it; each route tries to get something else there:
//
//	vdso (under --protect 0x7f0000000000-0x7ffffffff000):
//	  room-vdso64, room-vdso32: the vDSO (and its vvar pages) unmapped,
//	  then arch_prctl(ARCH_MAP_VDSO_64 / _32) with a hint 4 (6) MiB below
//	  the stack: the kernel maps the vDSO at a hint where that much is free.
//	below (under --protect 0x7ffffff00000-0x7ffffffff000, the program
//	re-exec'd with ADDR_NO_RANDOMIZE so that its stack lies at the top):
//	  room-grow-below, room-grow-below-maymove: two pages mapped just
//	  below the range (outside it, no stop), then mremap grows them in
//	  place by 128 KiB into the range, without and with MREMAP_MAYMOVE.
//	rlimit (under --protect 0x7f0000000000-0x7ffffffff000):
//	  room-rlimit-grow: a child exec'd with RLIMIT_STACK 8 MiB and
//	  ADDR_NO_RANDOMIZE, so ld.so lies 128 MiB below its stack; the
//	  parent raises the child's RLIMIT_STACK to 1 GiB with prlimit as
//	  soon as the child's exec shows (its comm, the file's name then): the guard, reading the
//	  limit after the kernel made the layout with the old one, leaves
//	  the room down to ld.so's data segment, which mremap grows in place
//	  by 1 MiB into it.
//	fill (under --protect 0x7f0000000000-0x7ffffffff000):
//	  room-fill: the address space filled with PROT_NONE, MAP_NORESERVE
//	  mappings the kernel places (2^46 bytes, halved each time one does
//	  not fit, down to a page): once nothing is free below its mmap
//	  base, the kernel searches bottom-up to the top of user space, and
//	  found the room.
//	  room-legacy-fill: the same in a child exec'd with RLIMIT_STACK
//	  unlimited (the legacy layout, bottom-up from a third of the address
//	  space, under which the guard reserves the room), the limit lowered
//	  to 8 MiB by the parent with prlimit as soon as the exec shows: the
//	  guard read 8 MiB and left the room.
//
// Each prints "ROUTE ok|ESCAPED|FAIL: ..." and "END failures=N".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "say.h"

#define ARCH_MAP_VDSO_32 0x2002
#define ARCH_MAP_VDSO_64 0x2003
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define TOP 0x7ffffffff000UL
#define PAGE_SIZE_ 4096UL

static unsigned long lo, hi = TOP;
static int failures;

struct mapping {
	unsigned long start, end, inode;
	char perms[8];
	char path[128];
};

static int read_maps(struct mapping *tab, int max) {
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f) return 0;
	char line[512];
	int n = 0;
	while (n < max && fgets(line, sizeof line, f)) {
		struct mapping *m = &tab[n];
		int pos = 0;
		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &m->start, &m->end, m->perms, &m->inode, &pos) >= 4) {
			snprintf(m->path, sizeof m->path, "%s", pos ? line + pos : "");
			n++;
		}
	}
	fclose(f);
	return n;
}

static int reservation(const struct mapping *m) {
	return strcmp(m->perms, "---p") == 0 && m->inode == 0 && m->path[0] == 0;
}

static struct mapping tab[4096];

// stack returns the [stack] mapping.
static struct mapping stack(void) {
	int n = read_maps(tab, 4096);
	for (int i = 0; i < n; i++)
		if (strcmp(tab[i].path, "[stack]") == 0) return tab[i];
	return (struct mapping){0};
}

// intruder finds a mapping in [lo, hi) that is neither a reservation nor
// the stack, and that overlaps [s, e).
static int intruder(unsigned long s, unsigned long e, struct mapping *out) {
	int n = read_maps(tab, 4096);
	for (int i = 0; i < n; i++) {
		struct mapping *m = &tab[i];
		if (m->start < hi && m->end > lo && m->start < e && m->end > s && !reservation(m) && strcmp(m->path, "[stack]") != 0) {
			*out = *m;
			return 1;
		}
	}
	return 0;
}

static void verdict(const char *route, int ok, const char *fmt, ...) {
	char buf[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (!ok) failures++;
	say("%s %s: %s", route, ok ? "ok" : "ESCAPED", buf);
}

static void unmap_vdso(void) {
	int n = read_maps(tab, 4096);
	for (int i = 0; i < n; i++)
		if (strncmp(tab[i].path, "[vvar", 5) == 0 || strcmp(tab[i].path, "[vdso]") == 0)
			syscall(SYS_munmap, tab[i].start, tab[i].end - tab[i].start);
}

static void vdso_route(const char *route, int op, unsigned long below) {
	unmap_vdso();
	struct mapping st = stack();
	unsigned long hint = st.start - below;
	long r = syscall(SYS_arch_prctl, op, hint);
	if (r < 0) {
		say("%s ok: arch_prctl(%#x, %#lx): %s", route, op, hint, strerror(errno));
		return;
	}
	int n = read_maps(tab, 4096);
	for (int i = 0; i < n; i++) {
		struct mapping *m = &tab[i];
		if ((strncmp(m->path, "[vvar", 5) == 0 || strcmp(m->path, "[vdso]") == 0) && m->start < hi && m->end > lo) {
			verdict(route, 0, "hint %#lx: %lx-%lx %s %s in the range", hint, m->start, m->end, m->perms, m->path);
			return;
		}
	}
	verdict(route, 1, "hint %#lx: the vDSO went elsewhere, outside the range", hint);
}

static void grow_below(const char *route, int flags) {
	unsigned long at = lo - 0x2000;
	void *p = mmap((void *)at, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p != (void *)at) {
		say("%s FAIL: mmap at %#lx below the range: %p %s", route, at, p, strerror(errno));
		failures++;
		return;
	}
	void *q = mremap(p, 0x2000, 0x22000, flags);
	struct mapping m;
	if (q != MAP_FAILED && intruder(lo, hi, &m))
		verdict(route, 0, "mremap(%#lx, 0x2000, 0x22000, %d) = %p: %lx-%lx %s in the range", at, flags, q, m.start, m.end, m.perms);
	else
		verdict(route, 1, "mremap(%#lx, 0x2000, 0x22000, %d) = %p%s%s", at, flags, q, q == MAP_FAILED ? ": " : "",
			q == MAP_FAILED ? strerror(errno) : "");
	munmap(q == MAP_FAILED ? p : q, q == MAP_FAILED ? 0x2000 : 0x22000);
}

static void setstack(pid_t pid, unsigned long v) {
	struct rlimit r = {v, RLIM_INFINITY};
	prlimit(pid, RLIMIT_STACK, &r, NULL);
}

// rlimit_child runs in the exec'd child: the mapping right below its
// stack, if it is not a reservation, is grown by 1 MiB.
static int rlimit_child(void) {
	lo = 0x7f0000000000UL;
	int n = read_maps(tab, 4096);
	int i;
	for (i = 0; i < n && strcmp(tab[i].path, "[stack]") != 0; i++)
		;
	if (i == n || i == 0) return 3;
	struct mapping below = tab[i - 1], st = tab[i];
	if (reservation(&below)) return 7; // the race was lost, or held: try again
	void *q = mremap((void *)below.start, below.end - below.start, below.end - below.start + (1 << 20), 0);
	struct mapping m;
	if (q != MAP_FAILED && intruder(below.end, st.start, &m)) {
		verdict("room-rlimit-grow", 0, "%s grown in place: %lx-%lx in the range", below.path, m.start, m.end);
		return 5;
	}
	verdict("room-rlimit-grow", 1, "%s next to the room: mremap %p%s%s", below.path, q, q == MAP_FAILED ? ": " : "",
		q == MAP_FAILED ? strerror(errno) : "");
	return 0;
}

// start_child forks a child that execs self in mode, and returns once
// the exec shows (the child's comm is the file's name from then on; this
// process calls itself "stackroom-pre").
static pid_t start_child(const char *self, const char *mode) {
	pid_t c = fork();
	if (c == 0) {
		execl(self, "stackroom_kid", mode, (char *)NULL);
		_exit(9);
	}
	char comm[32];
	snprintf(comm, sizeof comm, "/proc/%d/comm", c);
	for (;;) {
		char b[32] = {0};
		int fd = open(comm, O_RDONLY);
		if (fd < 0) break;
		ssize_t r = read(fd, b, sizeof b - 1);
		close(fd);
		if (r > 0 && strncmp(b, "stackroom-pre", 13) != 0) break;
	}
	return c;
}

static void rlimit_route(const char *self) {
	prctl(PR_SET_NAME, "stackroom-pre");
	for (int t = 0; t < 40; t++) {
		setstack(0, 8 << 20);
		pid_t c = start_child(self, "rlimit-child");
		setstack(c, 1UL << 30);
		int st;
		waitpid(c, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 5) {
			failures++;
			return;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) {
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				say("room-rlimit-grow FAIL: child status %#x", st);
				failures++;
			}
			return;
		}
	}
	say("room-rlimit-grow ok: the room never reached the mapping below it in 40 tries");
}

// fill fills the address space; it reports whether a fill landed in
// [lo, hi).
static int fill(const char *route) {
	unsigned long total = 0;
	for (unsigned long sz = 1UL << 46; sz >= PAGE_SIZE_;) {
		void *p = mmap(NULL, sz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			sz >>= 1;
			continue;
		}
		total += sz;
		unsigned long a = (unsigned long)p;
		if (a < hi && a + sz > lo) {
			verdict(route, 0, "a fill of %#lx landed at %#lx after %lu GiB", sz, a, total >> 30);
			return 1;
		}
	}
	verdict(route, 1, "%lu GiB filled, nothing in the range", total >> 30);
	return 0;
}

static void legacy_route(const char *self) {
	prctl(PR_SET_NAME, "stackroom-pre");
	for (int t = 0; t < 40; t++) {
		setstack(0, RLIM_INFINITY);
		pid_t c = start_child(self, "legacy-child");
		setstack(c, 8 << 20);
		int st;
		waitpid(c, &st, 0);
		if (WIFEXITED(st) && (WEXITSTATUS(st) == 5 || WEXITSTATUS(st) == 0)) {
			failures += WEXITSTATUS(st) == 5;
			return;
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) {
			say("room-legacy-fill FAIL: child status %#x", st);
			failures++;
			return;
		}
	}
	say("room-legacy-fill ok: the guard never read a limit other than the layout's in 40 tries");
}

// legacy_child runs in the exec'd child: under the legacy layout (the
// loader a third of the way up) with a limit of 8 MiB now, it fills.
static int legacy_child(void) {
	lo = 0x7f0000000000UL;
	struct rlimit r;
	getrlimit(RLIMIT_STACK, &r);
	int n = read_maps(tab, 4096), legacy = 0;
	for (int i = 0; i < n; i++)
		if (strstr(tab[i].path, "ld-linux") && tab[i].start < 0x400000000000UL) legacy = 1;
	if (!legacy || r.rlim_cur == RLIM_INFINITY) return 7;
	return fill("room-legacy-fill") ? 5 : 0;
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "rlimit-child") == 0) return rlimit_child();
	if (strcmp(mode, "legacy-child") == 0) return legacy_child();
	if (strcmp(mode, "vdso") == 0) {
		lo = 0x7f0000000000UL;
		vdso_route("room-vdso64", ARCH_MAP_VDSO_64, 4UL << 20);
		vdso_route("room-vdso32", ARCH_MAP_VDSO_32, 6UL << 20);
	} else if (strcmp(mode, "below") == 0) {
		if (!(personality(0xffffffff) & ADDR_NO_RANDOMIZE)) {
			personality(ADDR_NO_RANDOMIZE);
			execv("/proc/self/exe", argv);
			say("below FAIL: exec: %s", strerror(errno));
			return 1;
		}
		lo = 0x7ffffff00000UL;
		grow_below("room-grow-below", 0);
		grow_below("room-grow-below-maymove", MREMAP_MAYMOVE);
	} else if (strcmp(mode, "rlimit") == 0) {
		lo = 0x7f0000000000UL;
		personality(ADDR_NO_RANDOMIZE);
		static char self[4096];
		ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
		if (k <= 0) {
			say("rlimit FAIL: readlink: %s", strerror(errno));
			return 1;
		}
		self[k] = 0;
		rlimit_route(self);
	} else if (strcmp(mode, "fill") == 0) {
		lo = 0x7f0000000000UL;
		if (fill("room-fill")) failures = 1;
		failures = failures ? 1 : 0;
	} else if (strcmp(mode, "legacy") == 0) {
		static char self[4096];
		ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
		if (k <= 0) {
			say("legacy FAIL: readlink: %s", strerror(errno));
			return 1;
		}
		self[k] = 0;
		legacy_route(self);
	} else {
		say("usage: escape_stackroom vdso|below|rlimit|fill|legacy");
		return 2;
	}
	say("END failures=%d", failures);
	return 0;
}
