// deadcreator_parent.c: a process D with a PROT_NONE mapping Y of its
// own (1 MiB, mapped with no address: in the pool under --pool-all; with
// argv[3] "hint", hinted into the protected range, rerouted there)
// whose main thread leaves (pthread_exit) while three threads make
// processes (argv[2] "cp": clone(CLONE_PARENT), the child of D's parent
// R; else fork) and a fourth calls exit(). A child held for a fork event
// that never comes is not a copy of R's memory, though it runs R's exec:
// a model built with R's pool took Y, which R's pool knows nothing of,
// for a reservation free to hand out, and the child's next mmap landed
// inside it, replacing it. Each child maps a page (with the same hint)
// and exits 44 if it landed inside its own Y, 45 if Y is gone. R runs
// argv[1] rounds and prints "END rounds=N children=C killed=K clobber=B
// lost=L". Written by a helper in the fourteenth session's review.
#define _GNU_SOURCE
#include "rounds.h"
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>
static int cp;
static void *hint; // argv[3] "hint": ask with a hint inside the protected range (rerouted to the pool without --pool-all)

#define YLEN (1UL << 20)
static char *Y;

static char mapsbuf[1 << 16];
static int still_none(void) {
	// Y still one PROT_NONE mapping of ours? (no stdio, no malloc: a raw
	// clone of a threaded process may have copied their locks held)
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		return 1;
	size_t n = 0;
	ssize_t k;
	while (n < sizeof mapsbuf - 1 && (k = read(fd, mapsbuf + n, sizeof mapsbuf - 1 - n)) > 0)
		n += k;
	close(fd);
	mapsbuf[n] = 0;
	for (char *l = mapsbuf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : 0) {
		unsigned long a = strtoul(l, 0, 16);
		char *d = strchr(l, '-');
		unsigned long b = strtoul(d + 1, 0, 16);
		char *perm = strchr(l, ' ') + 1;
		if (a <= (unsigned long)Y && b >= (unsigned long)Y + YLEN && strncmp(perm, "---p", 4) == 0)
			return 1;
	}
	return 0;
}

static void child(void) {
	char *q = mmap(hint, 4096, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (q != MAP_FAILED && q >= Y && q < Y + YLEN)
		_exit(44);
	if (!still_none())
		_exit(45);
	_exit(0);
}

static void *forker(void *x) {
	(void)x;
	for (;;)
		if (cp ? syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0) == 0 : fork() == 0)
			child();
	return 0;
}

static void *ender(void *x) {
	long ns = (long)x;
	struct timespec ts = {0, ns};
	nanosleep(&ts, 0);
	exit(0);
}

static void process(int round, int ready) {
	pthread_t t;
	for (int k = 0; k < 3; k++)
		pthread_create(&t, 0, forker, 0);
	pthread_create(&t, 0, ender, (void *)(200000L + (round * 7919 % 2000) * 1000L));
	(void)!write(ready, "x", 1);
	pthread_exit(0); // zombie leader: /proc/D/stat shows no exec identity
}

// round_body is a round's process D: Y first, then process.
static void round_body(int r, int ready) {
	Y = mmap(hint, YLEN, PROT_NONE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (Y == MAP_FAILED)
		_exit(1);
	if (r == 0)
		printf("Y=%p\n", Y);
	process(r, ready);
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	cp = argc > 2 && strcmp(argv[2], "cp") == 0;
	if (argc > 3 && strcmp(argv[3], "hint") == 0)
		hint = (void *)0x20000000UL;
	become_reaper();
	struct tally t = {0};
	for (int r = 0; r < rounds; r++)
		if (reap_round(r, start_round(r, round_body), &t))
			return 2;
	printf("END rounds=%d children=%ld killed=%ld clobber=%ld lost=%ld\n", rounds, t.children, t.killed, t.status[44],
	       t.status[45]);
	return 0;
}
