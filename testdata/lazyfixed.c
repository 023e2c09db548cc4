// lazyfixed [TRIES] [CODE]: a process's first rewrite (thread A's mmap
// with a hint inside the protected range, after which mmapguard maps its
// code page at CODE, default 0x200000000000) races thread B's own
// MAP_FIXED mapping at CODE, which B writes to. B's page must keep what
// B wrote, whichever comes first: the program asked for that page there.
// Each try is a fresh process. Prints how many tries lost B's page.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "warm.h"

static unsigned long code = 0x200000000000UL;

static void *fixed(void *arg) {
	(void)arg;
	while (!go) ;
	for (volatile int i = 0; i < spin; i++) ;
	char *p = mmap((void *)code, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) return (void *)1;
	p[0] = 42;
	return NULL;
}

int main(int argc, char **argv) {
	int tries = argc > 1 ? atoi(argv[1]) : 100, lost = 0;
	if (argc > 2) code = strtoul(argv[2], NULL, 0);
	for (int t = 0; t < tries; t++) {
		spin = (t * 7919) % 40000;
		pid_t p = fork();
		if (p == 0) {
			pthread_t a, b;
			void *bad;
			pthread_create(&a, NULL, first_rewrite, NULL);
			pthread_create(&b, NULL, fixed, NULL);
			go = 1;
			pthread_join(a, NULL);
			pthread_join(b, &bad);
			// Both calls are over: B's page must be B's.
			_exit(bad != NULL || ((volatile char *)code)[0] != 42);
		}
		int st;
		waitpid(p, &st, 0);
		lost += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	printf("%d of %d tries lost B's page\n", lost, tries);
	return lost != 0;
}
