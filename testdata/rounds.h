// rounds.h: what the probes share whose top process, a subreaper, runs
// rounds: each round forks a process that makes children and dies, and
// the top process, to which those children are handed, reaps them all.
#ifndef ROUNDS_H
#define ROUNDS_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

// tally counts the children a round's process made, those a signal
// killed, and their exit statuses.
struct tally {
	long children, killed, status[256];
};

// become_reaper makes the caller the subreaper of its descendants, its
// output unbuffered (a forked process's exit() flushes what it copied).
static void become_reaper(void) {
	setvbuf(stdout, 0, _IONBF, 0);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		perror("PR_SET_CHILD_SUBREAPER");
		exit(1);
	}
}

// start_round forks the round's process, which runs body(round, ready)
// and writes to ready once it is set up, and returns its pid then.
static pid_t start_round(int round, void (*body)(int round, int ready)) {
	int pfd[2];
	if (pipe(pfd)) {
		perror("pipe");
		exit(1);
	}
	pid_t p = fork();
	if (p == 0) {
		close(pfd[0]);
		body(round, pfd[1]);
		_exit(0);
	}
	close(pfd[1]);
	char b;
	(void)!read(pfd[0], &b, 1);
	close(pfd[0]);
	return p;
}

// reap_round waits for every process of the round but p (the round's
// process) and counts them in t, naming the first five killed by a
// signal and the first five that exited with a status of at least 42
// (a probe's report); it returns 0 once none is left, or says HANG and
// returns -1 if some are still there after 5 seconds.
static int reap_round(int round, pid_t p, struct tally *t) {
	time_t t0 = time(NULL);
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, WNOHANG);
		if (w > 0) {
			if (w == p)
				continue;
			t->children++;
			if (WIFSIGNALED(st)) {
				if (++t->killed <= 5)
					printf("child %d of round %d killed by signal %d\n", (int)w, round, WTERMSIG(st));
			} else if (WIFEXITED(st)) {
				int code = WEXITSTATUS(st);
				if (++t->status[code] <= 5 && code >= 42)
					printf("child %d of round %d: exit %d\n", (int)w, round, code);
			}
			continue;
		}
		if (w < 0)
			return 0; // the round's processes are all gone
		if (time(NULL) - t0 > 5) {
			printf("HANG: round %d's processes not gone after 5 s\n", round);
			return -1;
		}
		usleep(200);
	}
}

#endif
