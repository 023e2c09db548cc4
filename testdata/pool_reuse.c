// pool_reuse THREADS ROUNDS [HINT]: each thread maps 256 KiB, writes its
// tag in every page, checks them and unmaps it, ROUNDS times. With HINT 1
// the mappings are asked for with a hint inside the protected range (so
// mmapguard moves them into its pool), else with none (the pool with
// --pool-all). An munmap in the pool is a reservation put back over the
// chunk, and the pool hands the chunk out again: never before that
// reservation is there, or it lands on another thread's fresh mapping,
// whose next access faults (or whose pages hold another tag, if two
// threads got the same chunk). Prints how many pages were lost.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define LEN (256 * 1024)

static int rounds, hint;
static volatile int lost;

static void fault(int sig, siginfo_t *si, void *uc) {
	(void)sig, (void)uc;
	char buf[96];
	int n = snprintf(buf, sizeof buf, "lost a page: SIGSEGV at %p\n", si->si_addr);
	write(1, buf, n);
	_exit(1);
}

static void *run(void *arg) {
	long id = (long)arg;
	for (int i = 0; i < rounds; i++) {
		void *at = hint ? (void *)(0x10000000UL + ((id * 7919 + i * 104729) % 0x1000) * 0x10000UL) : NULL;
		volatile unsigned char *p = mmap(at, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			exit(2);
		}
		for (int k = 0; k < LEN; k += 4096)
			p[k] = (unsigned char)(id + 1);
		for (int k = 0; k < LEN; k += 4096)
			if (p[k] != (unsigned char)(id + 1))
				__atomic_add_fetch(&lost, 1, __ATOMIC_RELAXED);
		munmap((void *)p, LEN);
	}
	return NULL;
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 8;
	rounds = argc > 2 ? atoi(argv[2]) : 1000;
	hint = argc > 3 ? atoi(argv[3]) : 0;
	if (n > 64)
		n = 64;
	struct sigaction sa = {0};
	sa.sa_sigaction = fault;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	pthread_t t[64];
	for (long i = 0; i < n; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("%d pages lost\n", lost);
	return lost != 0;
}
