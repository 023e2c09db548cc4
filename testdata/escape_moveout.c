// escape_moveout: calls that free part of a guarded range for a moment,
// raced by another thread that maps where the kernel chooses below 2 GiB
// (MAP_32BIT: settled in the kernel, and with the range reserved it must
// always fail with ENOMEM).
//   - mremap-moveout-race: a mapping made inside the range with MAP_FIXED
//     (an explicit request, honoured) is grown with MREMAP_MAYMOVE; it
//     cannot grow into the reservation after it, so the kernel moves it
//     out and frees the old range, which the guard reserves again;
//   - shmdt-edge-race: a segment attached across the range's end with
//     SHM_REMAP is detached: the kernel frees its page inside the range;
//   - vfork-moveout-race: the mremap route run by a vfork child while
//     its parent waits in vfork (it cannot stop until the child is done)
//     and the parent's other thread races;
//   - new-thread-moveout-race: the mremap right after creating the
//     racing thread, whose first stop the guard may not have seen yet
//     (a reviewer's reproducer escaped in up to 124 of 300 rounds).
// Each route runs ROUNDS times (argv[1], default 1500); a MAP_32BIT
// mapping that succeeds at any moment is an escape.
#include "escape.h"

#include <stdatomic.h>
#include <sys/shm.h>
#include <sys/wait.h>

#ifndef SHM_REMAP
#define SHM_REMAP 040000
#endif

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

static atomic_int done;
static int rounds = 1500;
static char mover_err[256];

static void *mremap_mover(void *arg) {
	(void)arg;
	const unsigned long at = 0x50000000UL, small = 1UL << 20, big = 64UL << 20;
	allow(at, small);
	for (int i = 0; i < rounds; i++) {
		void *p = mmap((void *)at, small, RW, ANON | MAP_FIXED, -1, 0);
		if (p != (void *)at) {
			snprintf(mover_err, sizeof mover_err, "round %d: mmap(MAP_FIXED %#lx) = %p %s", i, at, p, ename(errno));
			break;
		}
		void *q = mremap(p, small, big, MREMAP_MAYMOVE);
		if (q == MAP_FAILED) {
			snprintf(mover_err, sizeof mover_err, "round %d: mremap: %s", i, ename(errno));
			break;
		}
		if (in_range((unsigned long)q, big)) {
			snprintf(mover_err, sizeof mover_err, "round %d: mremap moved it to %p, inside the range", i, q);
			break;
		}
		munmap(q, big);
	}
	atomic_store(&done, 1);
	return NULL;
}

static int shm_id = -1;

static void *shmdt_mover(void *arg) {
	(void)arg;
	const unsigned long at = HI - PAGE;
	allow(at, PAGE);
	for (int i = 0; i < rounds; i++) {
		void *p = shmat(shm_id, (void *)at, SHM_REMAP);
		if (p != (void *)at) {
			snprintf(mover_err, sizeof mover_err, "round %d: shmat(%#lx, SHM_REMAP) = %p %s", i, at, p, ename(errno));
			break;
		}
		if (shmdt(p) != 0) {
			snprintf(mover_err, sizeof mover_err, "round %d: shmdt: %s", i, ename(errno));
			break;
		}
	}
	atomic_store(&done, 1);
	return NULL;
}

// race runs mover in a thread and maps with MAP_32BIT from this one
// until it is done.
static void race(const char *route, void *(*mover)(void *), const char *what) {
	atomic_store(&done, 0);
	mover_err[0] = 0;
	pthread_t t;
	if (pthread_create(&t, NULL, mover, NULL) != 0) {
		verdict(route, 0, "pthread_create failed");
		return;
	}
	long tries = 0, landed = 0;
	unsigned long first = 0;
	int other = 0;
	// At least once, even if the mover is done before this thread runs
	// (a loaded machine): without the guard that one lands, which the
	// native run relies on.
	do {
		void *p = mmap(NULL, PAGE, RW, ANON | MAP_32BIT, -1, 0);
		tries++;
		if (p != MAP_FAILED) {
			if (!landed++) first = (unsigned long)p;
			munmap(p, PAGE);
		} else if (errno != ENOMEM) {
			other = errno;
		}
	} while (!atomic_load(&done));
	pthread_join(t, NULL);
	if (mover_err[0]) {
		verdict(route, 0, "%s: %s", what, mover_err);
	} else if (landed) {
		say("%s ESCAPED: %ld of %ld MAP_32BIT mappings landed in the range, the first at %#lx (%s, %d rounds)", route,
		    landed, tries, first, what, rounds);
		failures++;
	} else {
		verdict(route, other == 0, "%s, %d rounds, against %ld MAP_32BIT mmaps: all ENOMEM%s%s", what, rounds, tries,
		        other ? "; one failed with " : "", other ? ename(other) : "");
	}
}

// racer maps with MAP_32BIT until done, counting what lands in *arg.
static void *racer(void *arg) {
	long *landed = arg;
	while (!atomic_load(&done)) {
		void *p = mmap(NULL, PAGE, RW, ANON | MAP_32BIT, -1, 0);
		if (p != MAP_FAILED) {
			++*landed;
			munmap(p, PAGE);
		}
	}
	return NULL;
}

static void vfork_race(const char *route) {
	atomic_store(&done, 0);
	static long landed;
	pthread_t t;
	if (pthread_create(&t, NULL, racer, &landed) != 0) {
		verdict(route, 0, "pthread_create failed");
		return;
	}
	pid_t pid = vfork();
	if (pid == 0) {
		const unsigned long at = 0x50000000UL, small = 1UL << 20, big = 64UL << 20;
		for (int i = 0; i < rounds / 10; i++) {
			void *p = mmap((void *)at, small, RW, ANON | MAP_FIXED, -1, 0);
			if (p != (void *)at) _exit(3);
			void *q = mremap(p, small, big, MREMAP_MAYMOVE);
			if (q == MAP_FAILED) _exit(4);
			munmap(q, big);
		}
		_exit(0);
	}
	int st = -1;
	if (pid > 0) waitpid(pid, &st, 0);
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		verdict(route, 0, "vfork child: pid %d, status %#x", pid, st);
	else if (landed) {
		say("%s ESCAPED: %ld MAP_32BIT mappings landed in the range while a vfork child moved mappings out", route,
		    landed);
		failures++;
	} else
		verdict(route, 1, "a vfork child moved a mapping out %d times, the other thread's MAP_32BIT mmaps all failed",
		        rounds / 10);
}

static void new_thread_race(const char *route) {
	const unsigned long at = 0x50000000UL, small = 1UL << 20, big = 64UL << 20;
	static long landed;
	int n = rounds / 5;
	for (int i = 0; i < n; i++) {
		void *p = mmap((void *)at, small, RW, ANON | MAP_FIXED, -1, 0);
		if (p != (void *)at) {
			verdict(route, 0, "round %d: mmap(MAP_FIXED %#lx) = %p %s", i, at, p, ename(errno));
			return;
		}
		atomic_store(&done, 0);
		pthread_t t;
		if (pthread_create(&t, NULL, racer, &landed) != 0) {
			verdict(route, 0, "pthread_create failed");
			return;
		}
		void *q = mremap(p, small, big, MREMAP_MAYMOVE);
		atomic_store(&done, 1);
		pthread_join(t, NULL);
		if (q == MAP_FAILED) {
			verdict(route, 0, "round %d: mremap: %s", i, ename(errno));
			return;
		}
		munmap(q, big);
	}
	if (landed) {
		say("%s ESCAPED: %ld MAP_32BIT mappings of a new thread landed in the range", route, landed);
		failures++;
	} else
		verdict(route, 1, "%d rounds of a new thread racing an mremap moving a mapping out: all ENOMEM", n);
}

int main(int argc, char **argv) {
	if (argc > 1) rounds = atoi(argv[1]);
	race("mremap-moveout-race", mremap_mover, "mremap(MREMAP_MAYMOVE) moving a 1 MiB mapping out of the range");

	shm_id = shmget(IPC_PRIVATE, 2 * PAGE, IPC_CREAT | 0600);
	if (shm_id < 0) {
		say("setup FAIL: shmget: %s", ename(errno));
		return 2;
	}
	race("shmdt-edge-race", shmdt_mover, "shmdt of a segment across the range's end");
	shmctl(shm_id, IPC_RMID, NULL);
	allow(0x50000000UL, 1UL << 20);
	vfork_race("vfork-moveout-race");
	new_thread_race("new-thread-moveout-race");
	return finish();
}
