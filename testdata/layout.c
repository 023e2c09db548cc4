// layout: exercises the ways a program gets memory placed, then reads its
// own /proc/self/maps and reports anything inside the protected range
// [LO, HI) that it did not ask for there explicitly. Run under
// `mmapguard run --protect LO-HI`; exits 0 and prints "layout ok" when
// the range holds nothing but the guard's reservations and the program's
// explicit fixed mappings.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static uintptr_t lo = 0x10000, hi = 0x80000000;
static uintptr_t fixed_addr = 0x40000000, norepl_addr = 0x50000000, unmapped_addr = 0x60000000;
static int failures;

#define FAIL(...) do { printf("FAIL: " __VA_ARGS__); printf("\n"); failures++; } while (0)

static int inside(uintptr_t a, size_t n) { return a < hi && a + n > lo; }

static void *worker(void *arg) {
	(void)arg;
	// Enough to make malloc create a per-thread arena.
	for (int i = 0; i < 16; i++) {
		void *p = malloc(1000 + i * 4096);
		if (!p) { FAIL("malloc in thread"); break; }
		memset(p, 1, 1000);
		if (inside((uintptr_t)p, 1)) FAIL("malloc in a thread returned %p in the protected range", p);
		free(p);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc == 3) {
		lo = strtoull(argv[1], NULL, 0);
		hi = strtoull(argv[2], NULL, 0);
	}
	// Anonymous mappings of many sizes, without a hint.
	for (size_t n = 4096; n <= (64u << 20); n *= 2) {
		void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) { FAIL("mmap(NULL, %zu): %s", n, strerror(errno)); continue; }
		if (inside((uintptr_t)p, n)) FAIL("mmap(NULL, %zu) = %p, in the protected range", n, p);
	}
	// Hints that point inside the range are moved out.
	for (uintptr_t h = lo; h < hi; h += (hi - lo) / 7) {
		void *p = mmap((void *)(h & ~0xfffUL), 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) { FAIL("mmap(hint %#lx): %s", h, strerror(errno)); continue; }
		if (inside((uintptr_t)p, 8192)) FAIL("mmap(hint %#lx) = %p, in the protected range", h, p);
	}
	// An explicit MAP_FIXED inside is honoured exactly...
	char *f = mmap((void *)fixed_addr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (f != (char *)fixed_addr) FAIL("MAP_FIXED at %#lx = %p (%s)", fixed_addr, f, strerror(errno));
	else { f[0] = 1; f[3 * 4096 - 1] = 2; }
	// ...and so is MAP_FIXED_NOREPLACE over nothing but the reservation.
	char *nr = mmap((void *)norepl_addr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (nr != (char *)norepl_addr) FAIL("MAP_FIXED_NOREPLACE at %#lx = %p (%s)", norepl_addr, nr, strerror(errno));
	else nr[0] = 1;
	// NOREPLACE over the program's own mapping still fails with EEXIST.
	void *again = mmap((void *)fixed_addr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (again != MAP_FAILED || errno != EEXIST) FAIL("NOREPLACE over own mapping: %p errno %d, want EEXIST", again, errno);
	// munmap inside puts the reservation back: no hole.
	char *u = mmap((void *)unmapped_addr, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (u != (char *)unmapped_addr) FAIL("MAP_FIXED at %#lx = %p", unmapped_addr, u);
	if (munmap(u, 4 * 4096) != 0) FAIL("munmap: %s", strerror(errno));
	// mprotect of a reservation fails as for unmapped memory.
	if (mprotect((void *)unmapped_addr, 4096, PROT_READ) == 0 || errno != ENOMEM)
		FAIL("mprotect of a reservation: errno %d, want ENOMEM", errno);
	// mprotect of the program's own mapping works.
	if (f == (char *)fixed_addr && mprotect(f, 4096, PROT_READ) != 0) FAIL("mprotect of own mapping: %s", strerror(errno));

	// Threads: stacks and malloc arenas.
	enum { N = 64 };
	pthread_t th[N];
	for (int i = 0; i < N; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0) FAIL("pthread_create %d", i);
	for (int i = 0; i < N; i++) pthread_join(th[i], NULL);

	// A library loaded late.
	void *h = dlopen("libm.so.6", RTLD_NOW);
	if (!h) FAIL("dlopen libm: %s", dlerror());

	// Now read the layout.
	int rereserved = 0;
	char self[3000] = "";
	ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
	if (sn > 0) self[sn] = 0;
	FILE *m = fopen("/proc/self/maps", "r");
	char line[4096];
	while (m && fgets(line, sizeof line, m)) {
		unsigned long s, e, off, ino;
		char perms[8], dev[16], path[3000] = "";
		if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %2999[^\n]", &s, &e, perms, &off, dev, &ino, path) < 6) continue;
		if (!inside(s, e - s)) continue;
		if (strcmp(perms, "---p") == 0 && ino == 0 && (path[0] == 0 || strcmp(path, "[heap]") == 0)) {
			// a reservation (labelled [heap] where the program break
			// starts inside it)
			if (s <= unmapped_addr && unmapped_addr + 4 * 4096 <= e) rereserved = 1;
			continue;
		}
		if (strcmp(path, self) == 0) continue; // the program's image, placed by the kernel at exec
		if (s >= fixed_addr && e <= fixed_addr + 3 * 4096) continue;
		if (s >= norepl_addr && e <= norepl_addr + 4096) continue;
		FAIL("unexpected mapping in the protected range: %s", line);
	}
	if (m) fclose(m);
	if (!rereserved) FAIL("the range munmapped at %#lx is not covered by a reservation: a hole", unmapped_addr);
	if (failures) return 1;
	printf("layout ok\n");
	return 0;
}
