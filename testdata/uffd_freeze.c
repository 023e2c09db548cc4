// uffd_freeze: a well-behaved program whose thread (the mover) moves a
// mapping of its own back and forth far from every range with
// mremap(MREMAP_FIXED), the mapping registered with a userfaultfd that
// reports moves (UFFD_FEATURE_EVENT_REMAP), read by another thread (the
// monitor) every 2 ms. Each mremap, its move done, waits in the kernel
// until the monitor has read its event. Meanwhile the main thread makes
// calls the guard runs with the other threads held (a freeze):
//
//   zero: maps /dev/zero with no address ROUNDS times (under --pool-all
//         rerouted into the pool, where a device's mmap may fail late:
//         held);
//   move: maps a page inside the range with MAP_FIXED and moves it out
//         with a growing mremap, ROUNDS times (held).
//
// Natively it ends at once. Under the guard the freeze waited for the
// mover, asleep in mremap, and the mover for the frozen monitor, for
// good (twelfth session). Prints "END ok".
//
// Usage: uffd_freeze zero|move ROUNDS
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "say.h"

#define PAGE 4096UL

static int uffd;
static volatile int stop;
static volatile long events, moves;

static void *monitor(void *arg) {
	while (!stop) {
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
		struct uffd_msg m;
		while (read(uffd, &m, sizeof m) == sizeof m) events++;
	}
	return arg;
}

static void *mover(void *arg) {
	unsigned long a = 0x500000000000UL, b = 0x500000100000UL, cur = a;
	char *p = mmap((void *)a, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (p == MAP_FAILED) {
		say("FAIL: mmap at %#lx", a);
		exit(1);
	}
	p[0] = p[PAGE] = 1;
	struct uffdio_register reg = {.range = {a, 2 * PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
		say("FAIL: UFFDIO_REGISTER");
		exit(1);
	}
	while (!stop) {
		unsigned long to = cur == a ? b : a;
		if (mremap((void *)cur, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to) == MAP_FAILED) {
			say("FAIL: mremap");
			exit(1);
		}
		cur = to;
		moves++;
	}
	return arg;
}

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: uffd_freeze zero|move ROUNDS\n");
		return 2;
	}
	int zero = strcmp(argv[1], "zero") == 0, rounds = atoi(argv[2]);
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
	// (User mode only: allowed where vm.unprivileged_userfaultfd is 0.)
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0) {
		say("FAIL: userfaultfd");
		return 1;
	}
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMAP};
	if (ioctl(uffd, UFFDIO_API, &api) != 0) {
		say("FAIL: UFFDIO_API");
		return 1;
	}
	pthread_t m, v;
	pthread_create(&m, NULL, monitor, NULL);
	pthread_create(&v, NULL, mover, NULL);
	int zf = open("/dev/zero", O_RDONLY);
	for (int i = 0; i < rounds; i++) {
		if (zero) {
			void *z = mmap(NULL, 4 * PAGE, PROT_READ, MAP_PRIVATE, zf, 0);
			if (z == MAP_FAILED) {
				say("FAIL: mmap of /dev/zero");
				return 1;
			}
			munmap(z, 4 * PAGE);
		} else {
			void *p = mmap((void *)0x40000000, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			void *q = p == MAP_FAILED ? p : mremap(p, 4 * PAGE, 0x400000, MREMAP_MAYMOVE);
			if (q == MAP_FAILED) {
				say("FAIL: map in the range and move out");
				return 1;
			}
			munmap(q, 0x400000);
		}
		usleep(1000);
	}
	stop = 1;
	pthread_join(v, NULL);
	pthread_join(m, NULL);
	say("END ok rounds=%d moves=%ld", rounds, moves);
	return 0;
}
