// escape_reaper.c: a child whose creator dies before its fork is reported,
// handed to a subreaper of the program's (without --strict).
//
// Each round, S (PR_SET_CHILD_SUBREAPER, several threads, a MAP_FIXED
// mapping of its own at 0x50000000) forks P. P unmaps that mapping (the
// guard puts its reservation back: in P's memory 0x50000000 is reserved)
// and forks children C in a loop. S kills P with SIGKILL at some moment:
// P dies in the fork event stop of its last C, which the tracer never
// sees, and the C is handed to S. Then G, another child of S, kills S, so
// that C is handed on again and lives. A C that runs asks mprotect to
// make 0x50000000 read-write: in its memory that is the guard's
// reservation (ENOMEM is the answer). The guard used to settle such a C
// with a copy of the model of the process /proc named as its parent, S,
// where 0x50000000 is the program's own, and let the mprotect through.
#include "escape.h"
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#define OWN 0x50000000UL

static void *sleeper(void *x) {
	(void)x;
	for (;;) pause();
	return 0;
}

static void child(pid_t s) {
	// Wait until P and S are gone (C then belongs to a process outside
	// the round, or was killed).
	pid_t p = getppid();
	for (int i = 0; i < 2000 && (getppid() == p || getppid() == s); i++) usleep(500);
	errno = 0;
	int r = mprotect((void *)OWN, PAGE, PROT_READ | PROT_WRITE);
	if (r == 0) {
		*(volatile int *)OWN = 1;
		say("orphan-subreaper ESCAPED: mprotect of the reservation at %#lx made it read-write in %d (parent %d)", OWN, getpid(), getppid());
	} else {
		say("orphan-subreaper ok: mprotect of the reservation: %s", ename(errno));
	}
	_exit(0);
}

static void round_(int i) {
	pid_t sp = getpid();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		say("orphan-subreaper FAIL: PR_SET_CHILD_SUBREAPER: %s", ename(errno));
		_exit(1);
	}
	if (mmap((void *)OWN, PAGE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_ANONYMOUS | MAP_PRIVATE, -1, 0) == MAP_FAILED) {
		say("orphan-subreaper FAIL: MAP_FIXED at %#lx: %s", OWN, ename(errno));
		_exit(1);
	}
	pthread_t t;
	for (int k = 0; k < 3; k++) pthread_create(&t, 0, sleeper, 0);
	int pfd[2];
	if (pipe(pfd)) _exit(1);
	pid_t p = fork();
	if (p == 0) {
		close(pfd[0]);
		munmap((void *)OWN, PAGE);
		if (write(pfd[1], "x", 1) != 1) _exit(1);
		// Until S kills it; or, should G have killed S first (a
		// loaded machine, S not run for 20 ms), until S is gone:
		// forking on, P kept the run going for good (CI, twelfth
		// session).
		while (getppid() == sp)
			if (fork() == 0) child(sp);
		_exit(0);
	}
	close(pfd[1]);
	char b;
	if (read(pfd[0], &b, 1) != 1) _exit(1);
	if (fork() == 0) {
		usleep(20000);
		kill(sp, SIGKILL);
		_exit(0);
	}
	struct timespec ts = {0, (i * 7919 % 1000) * 1000L};
	nanosleep(&ts, 0);
	kill(p, SIGKILL);
	for (;;) pause();
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 60;
	for (int i = 0; i < rounds; i++) {
		pid_t s = fork();
		if (s == 0) round_(i);
		int st;
		waitpid(s, &st, 0);
	}
	// Leave time to the last orphans (they wait for S to be gone).
	sleep(1);
	say("END failures=%d", failures);
	return 0;
}
