// stopclone.c: a child whose threads make threads in a loop (some of
// which count in shared memory) is stopped with SIGSTOP at a random
// moment. Once the parent has seen it stop (waitpid WUNTRACED), the
// count must stay still: a thread made while the stop was under way
// joins it. After SIGCONT the count must move again (within 3 s). Prints
// "END rounds=N bad=0" when both held in every round, as natively.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include "say.h"

static volatile long *ctr;

static void *bump(void *a) {
	for (;;) {
		__atomic_add_fetch(ctr, 1, __ATOMIC_RELAXED);
		for (volatile int i = 0; i < 1000; i++)
			;
	}
	return a;
}

static void *idle(void *a) {
	pause();
	return a;
}

static void *spawner(void *a) {
	for (int i = 0; i < 20000; i++) {
		pthread_t t;
		if (pthread_create(&t, 0, i % 50 == 0 ? bump : idle, 0)) break;
	}
	pause();
	return a;
}

static void sleep_ms(int ms) {
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, 0);
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 30, bad = 0;
	ctr = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ctr == MAP_FAILED) return 2;
	*ctr = 1; // the first bump thread is made at once
	srandom(getpid());
	for (int r = 0; r < rounds; r++) {
		pid_t c = fork();
		if (c == 0) {
			pthread_t t;
			pthread_create(&t, 0, spawner, 0);
			pthread_create(&t, 0, spawner, 0);
			pause();
		}
		struct timespec ts = {0, random() % 5000 * 1000};
		nanosleep(&ts, 0);
		kill(c, SIGSTOP);
		int st;
		if (waitpid(c, &st, WUNTRACED) != c || !WIFSTOPPED(st)) {
			say("round %d: not stopped: %#x", r, st);
			bad++;
		}
		sleep_ms(20);
		long a = *ctr;
		sleep_ms(20);
		long b = *ctr;
		if (a != b) {
			say("round %d: the stopped process ran (%ld -> %ld)", r, a, b);
			bad++;
		}
		kill(c, SIGCONT);
		// Running again: the count moves, at once natively; on a loaded
		// machine (and under a tracer) the threads may take a while to
		// be scheduled: up to 3 s.
		int moved = 0;
		for (int i = 0; i < 300 && !moved; i++) {
			sleep_ms(10);
			moved = *ctr != b;
		}
		if (!moved) {
			say("round %d: nothing ran after SIGCONT", r);
			bad++;
		}
		kill(c, SIGKILL);
		waitpid(c, &st, 0);
	}
	say("END rounds=%d bad=%d", rounds, bad);
	return bad != 0;
}
