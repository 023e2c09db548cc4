// stopfreeze: a process stopped (SIGSTOP, then waitpid WUNTRACED, as a
// shell's ^Z and fg) while its threads move mappings out of the
// protected range, each move-out one that has the guard hold the other
// threads until its reservation is back. Each round forks a child whose
// 3 threads churn (MAP_FIXED in the range, mremap out, munmap,
// MAP_32BIT, a plain mmap), stops it, checks it stands still, continues
// it, checks it runs, and ends it with SIGTERM.
//
//	stopfreeze [ROUNDS]
//
// Prints "END bad=N". Under the guard a thread caught by the group-stop
// on its way to the reservation it was to put back stayed stopped, the
// frozen threads with it, and the stop never completed: the parent's
// waitpid waited for good.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "say.h"

static volatile long *ctr;

static void churn_once(long id) {
	void *a = (void *)(0x10000000UL + (unsigned long)id * 0x100000);
	void *p = mmap(a, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p != MAP_FAILED) {
		*(volatile char *)p = 1;
		void *q = mremap(p, 0x10000, 0x10000, MREMAP_MAYMOVE | MREMAP_FIXED,
		                 (void *)(0x300000000000UL + (unsigned long)id * 0x100000));
		munmap(q == MAP_FAILED ? p : q, 0x10000);
	}
	void *m = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (m != MAP_FAILED) munmap(m, 4096);
	void *s = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s != MAP_FAILED) munmap(s, 1 << 20);
}

static void *bump(void *a) {
	for (;;) {
		__atomic_add_fetch(ctr, 1, __ATOMIC_RELAXED);
		churn_once((long)a);
	}
	return a;
}

static void nap(long us) {
	struct timespec ts = {0, us * 1000};
	nanosleep(&ts, 0);
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 20, bad = 0;
	ctr = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	srandom(getpid());
	for (int r = 0; r < rounds; r++) {
		pid_t c = fork();
		if (c == 0) {
			pthread_t t;
			for (long i = 0; i < 3; i++) pthread_create(&t, 0, bump, (void *)i);
			nap(random() % 2000);
			pthread_exit(0);
		}
		nap(random() % 4000);
		kill(c, SIGSTOP);
		int st;
		waitpid(c, &st, WUNTRACED);
		if (!WIFSTOPPED(st)) {
			say("round %d: not stopped %#x", r, st);
			bad++;
		}
		nap(10000);
		long a = *ctr;
		nap(10000);
		if (a != *ctr) {
			say("round %d: ran while stopped", r);
			bad++;
		}
		kill(c, SIGCONT);
		// Running again, soon (on a loaded machine its threads may
		// wait for a CPU for a while).
		int ran = 0;
		for (int i = 0; i < 300 && !ran; i++) {
			nap(10000);
			ran = a != *ctr;
		}
		if (!ran) {
			say("round %d: not running 3 s after SIGCONT", r);
			bad++;
		}
		kill(c, SIGTERM);
		waitpid(c, &st, 0);
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGTERM) {
			say("round %d: end %#x", r, st);
			bad++;
		}
	}
	say("END bad=%d", bad);
	return bad != 0;
}
