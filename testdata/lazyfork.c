// lazyfork [TRIES]: a process's first rewrite (thread A's mmap with a
// hint inside the protected range, after which mmapguard maps its code
// page) races a fork in thread B. The fork's child then makes a rewrite
// of its own and writes to the page: it must not die, whether its memory
// was copied before, during or after the parent got its code page. Each
// try is a fresh process, forked before any rewrite. Prints how many of
// the children died.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "warm.h"


static char *hinted(unsigned long at) {
	return mmap((void *)at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void *forker(void *arg) {
	(void)arg;
	while (!go) ;
	for (volatile int i = 0; i < spin; i++) ;
	pid_t c = fork();
	if (c == 0) {
		char *p = hinted(0x31000000);
		if (p == MAP_FAILED) _exit(3);
		p[0] = 1;
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	return (void *)(long)(WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

int main(int argc, char **argv) {
	int tries = argc > 1 ? atoi(argv[1]) : 100, died = 0;
	for (int t = 0; t < tries; t++) {
		spin = (t * 7919) % 40000;
		pid_t p = fork();
		if (p == 0) {
			pthread_t a, b;
			void *sig;
			pthread_create(&a, NULL, first_rewrite, NULL);
			pthread_create(&b, NULL, forker, NULL);
			go = 1;
			pthread_join(a, NULL);
			pthread_join(b, &sig);
			_exit(sig ? 1 : 0);
		}
		int st;
		waitpid(p, &st, 0);
		died += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	printf("%d of %d children died\n", died, tries);
	return died != 0;
}
