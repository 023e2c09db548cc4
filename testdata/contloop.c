// contloop.c: a program for job-control loops (cmd/mmapguard's
// TestRunGroupStopLoop). It prints "pid N", then sleeps a millisecond
// at a time and maps and unmaps a page between sleeps (calls the
// guard sees), printing "c" from its SIGCONT handler at each SIGCONT.
// Its SIGTSTP and SIGTERM keep their default actions.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void cont(int sig) {
	(void)sig;
	(void)!write(1, "c\n", 2);
}

int main(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cont;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGCONT, &sa, NULL);
	printf("pid %d\n", getpid());
	fflush(stdout);
	struct timespec ms = {0, 1000000};
	for (;;) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			munmap(p, 4096);
		nanosleep(&ms, NULL);
	}
}
