// escape_fixedfail: a MAP_FIXED file mapping whose file's mmap method
// fails (a perf event mapped MAP_PRIVATE: EINVAL) fails after the kernel
// has unmapped what was there (Linux leaves a gap where the MAP_FIXED
// mapping failed, since 6.12 once the old mappings' page tables are
// cleared for a file mapping). Over reservations the guard's rollback
// maps them back; over the program's own mapping the model keeps the
// program's, and nothing covers the hole: MAP_32BIT lands there.
// Also with MAP_HUGETLB where no huge page is free (ENOMEM from the
// hugetlbfs file's mmap: a JVM committing large pages over its own
// reserved heap does this). Without --strict: a MAP_FIXED mapping in the
// range. With --strict: a hint into the range rerouted to the pool, then
// the MAP_FIXED there (a hole in the pool).
#include "escape.h"

#define AT 0x50000000UL


int main(int argc, char **argv) {
	set_mode(argc, argv);
	int huge = argc > 1 && strcmp(argv[argc - 1], "huge") == 0;
	const char *route = huge ? "fixedfail-huge" : "fixedfail-perf";
	unsigned long n = huge ? 0x200000UL : 2 * PAGE;
	int fd = huge ? -1 : perf_dummy_fd();
	if (!huge && fd < 0) {
		verdict(route, 1, "perf_event_open: %s: nothing to try", ename(errno));
		return finish();
	}
	unsigned long a = AT;
	if (strict_mode) {
		// A hint into the range: the guard places it in the pool.
		void *p = mmap((void *)AT, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) { say("%s FAIL: mmap: %s", route, ename(errno)); return finish(); }
		a = (unsigned long)p;
	} else {
		void *p = mmap((void *)AT, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p != (void *)AT) { say("%s FAIL: MAP_FIXED: %s", route, ename(errno)); return finish(); }
		allow(AT, n);
	}
	void *q = huge ? mmap((void *)a, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_HUGETLB, -1, 0)
	               : mmap((void *)a, n, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	int e = errno;
	if (q != MAP_FAILED) {
		verdict(route, 1, "MAP_FIXED of %s at %#lx succeeded: nothing to try", huge ? "huge pages" : "a perf event", a);
		return finish();
	}
	int covered = nohole(a, n);
	void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	char off[2048];
	int nof = offenders(off, sizeof off);
	if (m != MAP_FAILED && in_range((unsigned long)m, PAGE)) {
		failures++;
		say("%s ESCAPED: MAP_32BIT got %p, in the range, after the failed MAP_FIXED (%s) at %#lx left a hole", route, m, ename(e), a);
	} else if (nof) {
		failures++;
		say("%s ESCAPED: %d mappings in the range nobody asked for:\n%s", route, nof, off);
	} else
		verdict(route, covered, "the program's mapping at %#lx-%#lx after the failed MAP_FIXED (%s): %s; MAP_32BIT %p", a, a + n,
		        ename(e), covered ? "reserved" : "a HOLE", m);
	return finish();
}
