// noreplace_edge: MAP_FIXED_NOREPLACE mappings that cross the edges of
// the protected range 0x10000-0x80000000, of things whose mmap makes one
// object per call or takes the mapping whole: a shared mapping of
// /dev/zero (8 pages, 4 each side of the edge: each page is touched) and
// a perf event's ring buffer (1+1 pages: perf takes only offset 0 and
// 1+2^n pages), and of a descriptor that is not open. It prints, for
// each, the result, the pages that could not be touched, and how many
// mappings /proc/self/maps shows over it: the same natively and under
// the guard. The guard once mapped each side apart (the pages past the
// first piece of /dev/zero a SIGBUS, the ring buffer EINVAL), and then
// answered the bad descriptor EEXIST (its placeholder came first).
#include "escape.h"

#include <setjmp.h>

enum { PG = PAGE };

static sigjmp_buf jb;
static void on_fault(int sig) { siglongjmp(jb, sig); }

// touch writes to a page and reads it back; the signal it raised, or 0.
static int touch(volatile char *p) {
	int s = sigsetjmp(jb, 1);
	if (s)
		return s;
	*p = 1;
	return *p == 1 ? 0 : -1;
}

// mappings counts the lines of /proc/self/maps over [lo, hi).
static int mappings(unsigned long lo, unsigned long hi) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long a, b;
		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < hi && b > lo)
			n++;
	}
	if (f)
		fclose(f);
	return n;
}

static void report(const char *what, void *p, unsigned long base, int pages, int check) {
	if (p == MAP_FAILED) {
		printf("%s: %s\n", what, strerror(errno));
		return;
	}
	printf("%s: mapped at the address asked: %s;", what, (unsigned long)p == base ? "yes" : "no");
	for (int i = 0; check && i < pages; i++) {
		int s = touch((char *)p + i * PG);
		if (s)
			printf(" page %d signal %d;", i, s);
	}
	printf(" %d mapping(s)\n", mappings(base, base + pages * PG));
	munmap(p, pages * PG);
}

int main(void) {
	setvbuf(stdout, 0, _IONBF, 0);
	signal(SIGBUS, on_fault);
	signal(SIGSEGV, on_fault);
	int fd = open("/dev/zero", O_RDWR);
	if (fd < 0) {
		perror("/dev/zero");
		return 1;
	}
	const unsigned long edges[] = {LO, HI};
	for (int e = 0; e < 2; e++) {
		unsigned long base = edges[e] - 4 * PG;
		void *p = mmap((void *)base, 8 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0);
		report(e ? "/dev/zero across the end" : "/dev/zero across the start", p, base, 8, 1);
	}
	// A descriptor that is not open, the outside part the program's:
	// the kernel looks at the descriptor first (EBADF, not EEXIST).
	void *own = mmap((void *)HI, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (own == MAP_FAILED) {
		perror("mmap at the range's end");
		return 1;
	}
	void *p = mmap((void *)(HI - PG), 2 * PG, PROT_READ, MAP_SHARED | MAP_FIXED_NOREPLACE, 999, 0);
	printf("no such descriptor across the end: %s\n", p == MAP_FAILED ? strerror(errno) : "mapped");
	munmap(own, PG);
	int pfd = perf_dummy_fd();
	if (pfd < 0) {
		printf("perf_event_open: %s\n", strerror(errno));
		return 0;
	}
	for (int e = 0; e < 2; e++) {
		unsigned long base = edges[e] - PG;
		void *p = mmap((void *)base, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED_NOREPLACE, pfd, 0);
		report(e ? "perf ring buffer across the end" : "perf ring buffer across the start", p, base, 2, 0);
	}
	return 0;
}
