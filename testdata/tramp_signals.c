// tramp_signals: one-stop rewrites that fail, interrupted by signals
// whose handler makes the same call on an alternate signal stack that
// lies above the thread's own stack (and, with argv[2] "low", below it).
// Every call must return EBADF (the hint is dropped, the descriptor is
// bad), and nothing may crash: each failure report must be matched to
// its own rewrite, the handler's and the interrupted one's.
// argv[1]: how many signals (default 5000).
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static atomic_int stop;
static atomic_long bad, inhandler;

static void *hinted(void) { return mmap((void *)0x50000000UL, 4096, PROT_READ, MAP_PRIVATE, -1, 0); }

static void handler(int s) {
	(void)s;
	int e = errno;
	void *p = hinted();
	if (p != MAP_FAILED || errno != EBADF) atomic_fetch_add(&bad, 1);
	atomic_fetch_add(&inhandler, 1);
	errno = e;
}

static void *altstack;

static void *worker(void *a) {
	(void)a;
	stack_t ss = {.ss_sp = altstack, .ss_size = 1 << 16};
	sigaltstack(&ss, NULL);
	long n = 0;
	while (!atomic_load(&stop)) {
		void *p = hinted();
		if (p != MAP_FAILED || errno != EBADF) atomic_fetch_add(&bad, 1);
		n++;
	}
	printf("worker: %ld calls\n", n);
	return NULL;
}

int main(int argc, char **argv) {
	int signals = argc > 1 ? atoi(argv[1]) : 5000;
	int low = argc > 2 && strcmp(argv[2], "low") == 0;
	// mmap places top down: this lies above the thread stack made next;
	// malloc'ed memory lies below it.
	altstack = low ? malloc(1 << 16) : mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct sigaction sa = {.sa_handler = handler, .sa_flags = SA_ONSTACK | SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);
	pthread_t t;
	pthread_create(&t, NULL, worker, NULL);
	for (int i = 0; i < signals; i++) {
		pthread_kill(t, SIGUSR1);
		usleep(50);
	}
	atomic_store(&stop, 1);
	pthread_join(t, NULL);
	printf("handled %ld signals, bad results: %ld\n", atomic_load(&inhandler), atomic_load(&bad));
	return atomic_load(&bad) != 0;
}
