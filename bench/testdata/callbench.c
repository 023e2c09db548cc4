// callbench: the workload of the end-to-end benchmarks.
//
//   callbench hint N      N x (mmap with a hint inside 0x10000-0x80000000, munmap):
//                         one trapped call per iteration (the hint is rewritten)
//   callbench far N T     N x (mmap(NULL), munmap) in each of T threads: calls the
//                         filter settles in the kernel, so no stop at all
//   callbench pool N T    the same loop, for --pool-all: every mmap is placed in the
//                         pool and every munmap there is replaced by a reservation;
//                         unless CALLBENCH_NATIVE is set, each mapping must lie in
//                         the default pool [0x200000000000, 0x300000000000)
//   callbench start       prints CLOCK_MONOTONIC at main, for start-up latency
//
// It prints "ns/iter X" measured around the loop only.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static long n;
static int pool_check; // "pool": every mapping must lie in the pool

#define POOL_START 0x200000000000UL
#define POOL_END 0x300000000000UL

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *far(void *arg) {
	(void)arg;
	for (long i = 0; i < n; i++) {
		void *p = mmap(NULL, 4096 * (1 + i % 8), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) { perror("mmap"); exit(1); }
		if (pool_check && ((unsigned long)p < POOL_START || (unsigned long)p >= POOL_END)) {
			fprintf(stderr, "mapped outside the pool: %p\n", p);
			exit(1);
		}
		if (munmap(p, 4096 * (1 + i % 8)) != 0) { perror("munmap"); exit(1); }
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc >= 2 && strcmp(argv[1], "start") == 0) {
		printf("start %.0f\n", now());
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: callbench hint|deny|far|pool N [THREADS] | start\n");
		return 2;
	}
	n = atol(argv[2]);
	double t0 = now();
	if (strcmp(argv[1], "deny") == 0) {
		// mprotect of an unmapped page inside the protected range:
		// ENOMEM natively, and under the guard, which answers it for the
		// reservation there without running the call.
		for (long i = 0; i < n; i++) {
			if (mprotect((void *)0x60000000, 4096, PROT_READ) == 0 || errno != ENOMEM) {
				fprintf(stderr, "mprotect: want ENOMEM, got %s\n", strerror(errno));
				return 1;
			}
		}
	} else if (strcmp(argv[1], "hint") == 0) {
		for (long i = 0; i < n; i++) {
			void *p = mmap((void *)0x10000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) { perror("mmap"); return 1; }
			if ((unsigned long)p >= 0x10000 && (unsigned long)p < 0x80000000UL && getenv("CALLBENCH_NATIVE") == NULL) {
				fprintf(stderr, "mapped inside the range: %p\n", p);
				return 1;
			}
			munmap(p, 4096);
		}
	} else if (strcmp(argv[1], "far") == 0 || strcmp(argv[1], "pool") == 0) {
		pool_check = strcmp(argv[1], "pool") == 0 && getenv("CALLBENCH_NATIVE") == NULL;
		int threads = argc > 3 ? atoi(argv[3]) : 1;
		if (threads < 1 || threads > 64) { fprintf(stderr, "threads: 1 to 64\n"); return 2; }
		pthread_t t[64];
		for (int i = 0; i < threads; i++)
			if (pthread_create(&t[i], NULL, far, NULL) != 0) { fprintf(stderr, "pthread_create failed\n"); return 1; }
		for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
		n *= threads;
	} else {
		return 2;
	}
	printf("ns/iter %.1f\n", (now() - t0) / n);
	return 0;
}
