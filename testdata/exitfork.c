// exitfork.c: a process that ends (exit, or SIGKILL from outside) while
// its threads fork. A child made in that window is reported to the
// tracer by its first stop only: its creator's fork event never comes,
// since the group exit ends the creator in its event stop or on its
// way there. Natively such a child runs; it is handed to the subreaper
// above it.
//
// R (a subreaper) runs argv[1] rounds. Each round it forks P, which
// maps a page of its own at OWN and gives it back (in P's memory that
// page is the guard's reservation again), starts three threads that
// fork in a loop (or, with argv[2] "vm", make processes that share its
// memory: clone(CLONE_VM)), and ends after a short
// while: by exit() from its main thread on even rounds, by R's SIGKILL
// on odd ones. Each child asks mprotect to make OWN read-write (the
// guard must refuse: a reservation) and tries MAP_32BIT (must land
// outside [LO, HI)), then exits 0; 42 and 43 report an escape (natively
// MAP_32BIT does land there: only the guarded run checks it). R reaps
// every process of the round and counts the children that a signal
// killed (natively none: nothing here kills a child).
//
// Prints "END rounds=N children=C killed=K escapes=E".
#define _GNU_SOURCE
#include "rounds.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OWN 0x50000000UL
#define LO 0x10000UL
#define HI 0x80000000UL

static void child(void) {
	int rw = mprotect((void *)OWN, 4096, PROT_READ | PROT_WRITE);
	void *q = mmap(NULL, 4096, PROT_READ, MAP_32BIT | MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	int in = q != MAP_FAILED && (unsigned long)q >= LO && (unsigned long)q < HI;
	_exit(rw == 0 ? 42 : in ? 43 : 0);
}

static int vm; // argv[2] "vm": clone(CLONE_VM) children, sharing P's memory

static int vmchild(void *x) {
	(void)x;
	child();
	return 0;
}

static void *forker(void *x) {
	(void)x;
	for (;;) {
		if (vm) {
			size_t n = 64 << 10;
			char *st = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (st != MAP_FAILED)
				clone(vmchild, st + n, CLONE_VM | SIGCHLD, 0);
		} else if (fork() == 0)
			child();
	}
	return 0;
}

static void process(int round, int ready) {
	if (mmap((void *)OWN, 4096, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_ANONYMOUS | MAP_PRIVATE, -1, 0) != MAP_FAILED)
		munmap((void *)OWN, 4096);
	pthread_t t;
	for (int k = 0; k < 3; k++)
		pthread_create(&t, 0, forker, 0);
	(void)!write(ready, "x", 1);
	if (round % 2 == 0) {
		struct timespec ts = {0, 200000 + (round * 7919 % 2000) * 1000L};
		nanosleep(&ts, 0);
		exit(0);
	}
	for (;;)
		pause();
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	vm = argc > 2 && strcmp(argv[2], "vm") == 0;
	become_reaper();
	struct tally t = {0};
	for (int r = 0; r < rounds; r++) {
		pid_t p = start_round(r, process);
		if (r % 2 == 1) {
			struct timespec ts = {0, 200000 + (r * 7919 % 2000) * 1000L};
			nanosleep(&ts, 0);
			kill(p, SIGKILL);
		}
		if (reap_round(r, p, &t))
			return 2;
	}
	long escapes = t.status[42] + t.status[43];
	printf("END rounds=%d children=%ld killed=%ld escapes=%ld\n", rounds, t.children, t.killed, escapes);
	return escapes != 0;
}
