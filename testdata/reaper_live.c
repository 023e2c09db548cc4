// reaper_live: a subreaper S that lives on while its children's children
// are handed to it. Each round S forks P, which forks children C in a
// loop (each asks mprotect to make 0x50000000 read-write, where P's
// memory has the guard's reservation, and exits); S kills P with SIGKILL
// at some moment, often while P stands in the fork event of its last C,
// which the tracer then never sees. That C is handed to S, which reaps
// it. A C held by the guard for the event that never comes hung S for
// good: it is killed instead (or runs). argv[1]: rounds (200).
// Prints "END rounds=N escapes=0"; "HANG" (exit 2) where a round's
// children are not all gone within 3 seconds; "ESCAPE" where a C's
// mprotect succeeded or its MAP_32BIT landed in the range.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OWN 0x50000000UL

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	// S's own mapping (honoured without --strict): P gives it up before
	// forking, so that in P's memory, and its children's, it is reserved.
	int own = mmap((void *)OWN, 4096, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_ANONYMOUS | MAP_PRIVATE, -1, 0) != MAP_FAILED;
	int escapes = 0;
	srand(getpid());
	for (int r = 0; r < rounds; r++) {
		int pfd[2];
		if (pipe(pfd) != 0) {
			perror("pipe");
			return 1;
		}
		pid_t p = fork();
		if (p == 0) {
			close(pfd[0]);
			if (own)
				munmap((void *)OWN, 4096);
			(void)!write(pfd[1], "x", 1);
			for (;;) {
				if (fork() == 0) {
					int rw = mprotect((void *)OWN, 4096, PROT_READ | PROT_WRITE);
					void *q = mmap(NULL, 4096, PROT_READ, MAP_32BIT | MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
					_exit(rw == 0 ? 42 : q != MAP_FAILED && (unsigned long)q < 0x80000000UL ? 43 : 0);
				}
			}
		}
		close(pfd[1]);
		char b;
		(void)!read(pfd[0], &b, 1);
		close(pfd[0]);
		struct timespec ts = {0, (rand() % 2000) * 1000};
		nanosleep(&ts, NULL);
		kill(p, SIGKILL);
		time_t t0 = time(NULL);
		for (;;) {
			int st;
			pid_t w = waitpid(-1, &st, WNOHANG);
			if (w > 0) {
				if (WIFEXITED(st) && WEXITSTATUS(st) >= 42) {
					printf("ESCAPE: child %d exit %d\n", (int)w, WEXITSTATUS(st));
					escapes++;
				}
				continue;
			}
			if (w < 0)
				break; // all gone
			if (time(NULL) - t0 > 3) {
				printf("HANG: children not gone after 3 s in round %d\n", r);
				return 2;
			}
			usleep(1000);
		}
	}
	printf("END rounds=%d escapes=%d\n", rounds, escapes);
	return escapes != 0;
}
