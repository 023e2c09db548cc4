/*
 * trapstate: SIGTRAP's state across an exec, which the guard's calls at
 * the exec must leave as it was (the kernel's single-step trap is a
 * forced SIGTRAP: it unblocks SIGTRAP and resets an ignored one).
 *
 *   trapstate state none|ign|block|pend
 *       sets SIGTRAP ignored, blocked, or blocked and pending (raised),
 *       then execs itself with "report", which prints
 *       "sigtrap: ignored=I blocked=B pending=P" and, where it is
 *       ignored, raises it and prints "survived".
 *   trapstate race N MAXSPIN
 *       N times: forks a child that execs itself with "sleep" (50 ms,
 *       then exit 0) and sends it SIGTRAP after a spin of random length
 *       up to MAXSPIN, often while the guard runs its calls at the
 *       exec; prints "race: survived=S killed=K other=O". Natively every
 *       child dies of it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "execrace.h"

static int report(void)
{
	struct sigaction sa;
	sigset_t blocked, pending;
	sigaction(SIGTRAP, NULL, &sa);
	sigprocmask(SIG_BLOCK, NULL, &blocked);
	sigpending(&pending);
	int ign = sa.sa_handler == SIG_IGN;
	printf("sigtrap: ignored=%d blocked=%d pending=%d\n", ign, sigismember(&blocked, SIGTRAP), sigismember(&pending, SIGTRAP));
	if (ign) {
		raise(SIGTRAP);
		printf("survived\n");
	}
	return 0;
}

static int race(int n, long maxspin)
{
	int survived = 0, killed = 0, other = 0;
	srand(getpid());
	for (int i = 0; i < n; i++) {
		pid_t c = exec_and_signal("trapstate", "sleep", maxspin, SIGTRAP);
		int st;
		waitpid(c, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			survived++;
		else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGTRAP)
			killed++;
		else
			other++;
	}
	printf("race: survived=%d killed=%d other=%d\n", survived, killed, other);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "report") == 0)
		return report();
	if (argc > 1 && strcmp(argv[1], "sleep") == 0) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		return 0;
	}
	if (argc > 3 && strcmp(argv[1], "race") == 0)
		return race(atoi(argv[2]), atol(argv[3]));
	if (argc > 2 && strcmp(argv[1], "state") == 0) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGTRAP);
		if (strcmp(argv[2], "ign") == 0)
			signal(SIGTRAP, SIG_IGN);
		if (strcmp(argv[2], "block") == 0 || strcmp(argv[2], "pend") == 0)
			sigprocmask(SIG_BLOCK, &s, NULL);
		if (strcmp(argv[2], "pend") == 0)
			raise(SIGTRAP);
		execl("/proc/self/exe", "trapstate", "report", (char *)0);
		perror("exec");
		return 127;
	}
	fprintf(stderr, "usage: trapstate state none|ign|block|pend | race N MAXSPIN\n");
	return 2;
}
