// lazystop [TRIES]: a process's first rewrite (thread A's mmap with a
// hint inside the protected range, at whose exit mmapguard maps its code
// page) while two threads loop on a trapped call (mprotect of a page of
// the protected range, answered ENOMEM) and a third stops the process
// with SIGSTOP, as a shell's ^Z would. The parent waits for the stop
// (WUNTRACED), then continues the process and waits for its exit, as a
// shell does. A stop not reported within ten seconds counts as a hang,
// and a process that ends without having stopped as a lost stop (a
// SIGSTOP lost under the guard: see deferexit.c).
// Prints how many tries hung or lost their stop.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "warm.h"

static volatile int done;

static void *trapped(void *arg) {
	(void)arg;
	while (!go) ;
	while (!done) syscall(SYS_mprotect, 0x10000000, 4096, PROT_READ);
	return NULL;
}

static void *stopper(void *arg) {
	(void)arg;
	while (!go) ;
	for (volatile int i = 0; i < spin; i++) ;
	kill(getpid(), SIGSTOP);
	return NULL;
}

int main(int argc, char **argv) {
	int tries = argc > 1 ? atoi(argv[1]) : 100, hung = 0, lost = 0;
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int t = 0; t < tries; t++) {
		spin = (t * 7919) % 60000;
		pid_t p = fork();
		if (p == 0) {
			pthread_t a, b, c, s;
			pthread_create(&a, NULL, first_rewrite, NULL);
			pthread_create(&b, NULL, trapped, NULL);
			pthread_create(&c, NULL, trapped, NULL);
			pthread_create(&s, NULL, stopper, NULL);
			go = 1;
			pthread_join(a, NULL);
			pthread_join(s, NULL);
			done = 1;
			pthread_join(b, NULL);
			pthread_join(c, NULL);
			_exit(0);
		}
		int st = 0, stopped = 0, ended = 0;
		struct timespec ms = {0, 1000000};
		for (int i = 0; i < 10000 && !stopped && !ended; i++) {
			pid_t r = waitpid(p, &st, WUNTRACED | WNOHANG);
			if (r == p && WIFSTOPPED(st)) stopped = 1;
			else if (r == p) ended = 1;
			else nanosleep(&ms, NULL);
		}
		hung += !stopped && !ended;
		lost += ended;
		kill(p, SIGCONT);
		while (!ended && waitpid(p, &st, 0) == p && !WIFEXITED(st) && !WIFSIGNALED(st)) ;
	}
	printf("%d of %d tries hung, %d lost their stop\n", hung, tries, lost);
	return hung != 0 || lost != 0;
}
