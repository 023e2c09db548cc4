// killclone.c: a process that makes threads in a loop is killed
// (SIGKILL, by its parent) at a random moment, round after round. A
// new thread the kill ends before its first stop reports its exit stop
// first (it has PTRACE_O_TRACEEXIT from its leader), and its creator's
// clone event may never come. Prints "END ok rounds=N" when every child
// died of SIGKILL, as natively.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include "say.h"

static void *idle(void *a) {
	pause();
	return a;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 100;
	srandom(getpid());
	for (int r = 0; r < rounds; r++) {
		pid_t c = fork();
		if (c < 0) {
			say("fork: failed");
			return 1;
		}
		if (c == 0) {
			for (;;) {
				pthread_t t;
				if (pthread_create(&t, 0, idle, 0)) pause();
			}
		}
		struct timespec ts = {0, random() % 2000 * 1000};
		nanosleep(&ts, 0);
		kill(c, SIGKILL);
		int st;
		if (waitpid(c, &st, 0) != c || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
			say("round %d: status %#x", r, st);
			return 1;
		}
	}
	say("END ok rounds=%d", rounds);
	return 0;
}
