/*
 * execrace.h: the race the exec fixtures (execstop.c, trapstate.c) run:
 * a child that execs this program again with one argument, sent a
 * signal after a spin of random length up to maxspin, often while the
 * guard runs its calls at the child's exec.
 */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static pid_t exec_and_signal(const char *argv0, const char *arg, long maxspin, int sig)
{
	pid_t c = fork();
	if (c == 0) {
		execl("/proc/self/exe", argv0, arg, (char *)0);
		_exit(127);
	}
	long spin = maxspin ? rand() % maxspin : 0;
	for (volatile long k = 0; k < spin; k++) {
	}
	kill(c, sig);
	return c;
}
