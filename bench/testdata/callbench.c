// callbench: the workload of the end-to-end benchmarks.
//
//   callbench hint N      N x (mmap with a hint inside 0x10000-0x80000000, munmap):
//                         one trapped call per iteration (the hint is rewritten)
//   callbench far N T     N x (mmap(NULL), munmap) in each of T threads: calls the
//                         filter settles in the kernel, so no stop at all
//   callbench start       prints CLOCK_MONOTONIC at main, for start-up latency
//
// It prints "ns/iter X" measured around the loop only.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static long n;

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
		munmap(p, 4096 * (1 + i % 8));
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc >= 2 && strcmp(argv[1], "start") == 0) {
		printf("start %.0f\n", now());
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: callbench hint|far N [THREADS] | start\n");
		return 2;
	}
	n = atol(argv[2]);
	double t0 = now();
	if (strcmp(argv[1], "hint") == 0) {
		for (long i = 0; i < n; i++) {
			void *p = mmap((void *)0x10000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) { perror("mmap"); return 1; }
			if ((unsigned long)p >= 0x10000 && (unsigned long)p < 0x80000000UL && getenv("CALLBENCH_NATIVE") == NULL) {
				fprintf(stderr, "mapped inside the range: %p\n", p);
				return 1;
			}
			munmap(p, 4096);
		}
	} else if (strcmp(argv[1], "far") == 0) {
		int threads = argc > 3 ? atoi(argv[3]) : 1;
		pthread_t t[64];
		for (int i = 0; i < threads && i < 64; i++) pthread_create(&t[i], NULL, far, NULL);
		for (int i = 0; i < threads && i < 64; i++) pthread_join(t[i], NULL);
		n *= threads;
	} else {
		return 2;
	}
	printf("ns/iter %.1f\n", (now() - t0) / n);
	return 0;
}
