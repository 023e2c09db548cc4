// selfstop: a program that stops itself for job control ROUNDS times
// (kill(getpid(), SIGTSTP), 2 ms apart), in a process group of its own,
// while three threads map pages into the protected range and unmap them
// (the guard then freezes the other threads, the stopped leader among
// them, for its own calls). Whoever continues it after each stop (a
// shell, the test's JobStop hook) must see each stop once. Prints
// "ROUNDS stops" at the end.
//
// usage: selfstop ROUNDS
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void *churn(void *arg) {
	char *want = (char *)(0x40000000UL + (long)arg * 0x40000UL);
	for (unsigned long n = 0;; n++) {
		char *p = mmap(want, 0x8000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED)
			continue;
		p[0] = 1;
		if (n % 2) {
			void *q = mremap(p, 0x8000, 0x10000, MREMAP_MAYMOVE);
			if (q != MAP_FAILED)
				munmap(q, 0x10000);
		} else {
			munmap(p + 0x2000, 0x2000);
			munmap(p, 0x8000);
		}
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s ROUNDS\n", argv[0]);
		return 2;
	}
	int rounds = atoi(argv[1]);
	setpgid(0, 0);
	printf("pid %d\n", getpid());
	fflush(stdout);
	for (long k = 0; k < 3; k++) {
		pthread_t t;
		pthread_create(&t, 0, churn, (void *)k);
	}
	for (int r = 0; r < rounds; r++) {
		usleep(2000);
		kill(getpid(), SIGTSTP);
	}
	printf("%d stops\n", rounds);
	return 0;
}
