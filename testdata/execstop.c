/*
 * execstop N MAXSPIN: N times, forks a child that execs itself with
 * "child" (sleeps 5 ms, exits 0), sends it SIGSTOP after a spin of
 * random length up to MAXSPIN (often while the guard runs its calls at
 * the exec), waits for the stop (WUNTRACED), continues it and waits for
 * its end; prints "execstop: stopped=S bad=B", B counting children that
 * did not exit 0. Natively B is 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "execrace.h"

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: execstop N MAXSPIN\n");
		return 2;
	}
	int n = atoi(argv[1]), stopped = 0, bad = 0;
	long maxspin = atol(argv[2]);
	srand(getpid());
	for (int i = 0; i < n; i++) {
		pid_t c = exec_and_signal("execstop", "child", maxspin, SIGSTOP);
		int st;
		waitpid(c, &st, WUNTRACED);
		if (WIFSTOPPED(st)) {
			stopped++;
			kill(c, SIGCONT);
			waitpid(c, &st, 0);
		}
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			bad++;
			fprintf(stderr, "execstop: child status %#x\n", st);
		}
	}
	printf("execstop: stopped=%d bad=%d\n", stopped, bad);
	return 0;
}
