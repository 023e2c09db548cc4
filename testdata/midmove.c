// midmove: the guard reads the layout while another thread is in the
// middle of an MREMAP_FIXED into the protected range. Since Linux 6.17
// /proc/PID/maps is read without the mmap lock, and shows the move's
// target free between the kernel's unmapping of it and the move's
// arrival there (the call holds the lock throughout: no mmap can ever
// find it free).
//
//	midmove [ROUNDS]
//
// Thread B maps 5 pages outside the range and moves them, shrunk to 3,
// with MREMAP_FIXED onto one place in it, ROUNDS times (a move the guard
// does not hold the other threads for: nothing of the range is freed).
// Meanwhile thread A moves a sealed mapping of its own in the range to
// another place in it with MREMAP_DONTUNMAP|MREMAP_FIXED, again and
// again; each move fails (EPERM), and the guard then reads the layout
// with the other threads running (a failed move may have moved part of
// the old range: see rewrite.Action.RescanFailed). The guard took B's target
// for a gap, counted it its own and put a reservation back there, which
// found B's mapping (EEXIST): "arrived there meanwhile", and the process
// was killed (fail closed) within a fraction of a second. Natively, and
// now under the guard, it prints "END bad=0".
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "say.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

#define PG 4096UL

static char *const P = (char *)0x60000000UL; // A's sealed mapping
static char *const Q = (char *)0x60100000UL; // A's target
static char *const T = (char *)0x60200000UL; // B's target
static volatile int stop;
static volatile long moves;
static long rounds = 3000, tries, bad;

static void *mover(void *arg) {
	(void)arg;
	for (long i = 0; i < rounds && !stop; i++) {
		char *s = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (s == MAP_FAILED) {
			say("B: mmap: %s", strerrorname_np(errno));
			bad++;
			return NULL;
		}
		s[0] = 1;
		char *r = mremap(s, 5 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, T);
		if (r != T) {
			say("B: mremap to %p = %p %s", (void *)T, (void *)r, strerrorname_np(errno));
			bad++;
			return NULL;
		}
		if (T[0] != 1) {
			say("B: the moved page at %p holds %d", (void *)T, T[0]);
			bad++;
			return NULL;
		}
		moves++;
	}
	stop = 1;
	return NULL;
}

int main(int argc, char **argv) {
	if (argc > 1) rounds = atol(argv[1]);
	if (mmap(P, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != P) {
		say("mmap(MAP_FIXED) %p: %s", (void *)P, strerrorname_np(errno));
		return 1;
	}
	if (syscall(SYS_mseal, P, 2 * PG, 0) != 0) {
		say("mseal: %s", strerrorname_np(errno));
		return 1;
	}
	pthread_t b;
	pthread_create(&b, NULL, mover, NULL);
	for (; moves < rounds && !bad; tries++) {
		void *r = mremap(P, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, Q);
		if (r != MAP_FAILED || errno != EPERM) {
			say("A: mremap of the sealed mapping = %p %s, want EPERM", r, r == MAP_FAILED ? strerrorname_np(errno) : "0");
			bad++;
		}
	}
	stop = 1;
	pthread_join(b, NULL);
	say("%ld failed moves, %ld moves into the range", tries, moves);
	say("END bad=%ld", bad);
	return bad != 0;
}
