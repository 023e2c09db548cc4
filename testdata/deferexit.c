// deferexit [TRIES]: a signal sent to the process (kill, as a shell or
// another process would) while one thread's call is being rewritten by
// the guard, which runs calls of its own in that thread meanwhile (its
// first rewrite, at whose exit the code page is mapped: warm.h), and
// holds the signal back until they are done. That thread is the only
// one that does not block the signal, and it leaves (SYS_exit) right
// after its call. Natively the signal is either handled by that thread
// or stays pending for the process (the others block it): never lost.
// Each try is a new process (its first rewrite again). Prints how many
// tries lost the signal.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "warm.h"

static volatile int ready;
static volatile sig_atomic_t handled;

static void on_usr1(int sig) {
	(void)sig;
	handled = 1;
}

static void *leaver(void *arg) {
	(void)arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	while (!go) ;
	ready = 1;
	warm_code_page();
	syscall(SYS_exit, 0); // no return to user space after the call
	return NULL;
}

static void *sender(void *arg) {
	(void)arg;
	while (!ready) ;
	for (volatile int i = 0; i < spin; i++) ;
	kill(getpid(), SIGUSR1);
	return NULL;
}

int main(int argc, char **argv) {
	int tries = argc > 1 ? atoi(argv[1]) : 100, lost = 0;
	(void)first_rewrite;
	setvbuf(stdout, NULL, _IONBF, 0);
	signal(SIGUSR1, on_usr1);
	for (int t = 0; t < tries; t++) {
		spin = (t * 7919) % 3000;
		pid_t p = fork();
		if (p == 0) {
			sigset_t s, pend;
			sigemptyset(&s);
			sigaddset(&s, SIGUSR1);
			pthread_sigmask(SIG_BLOCK, &s, NULL);
			pthread_t a, b;
			pthread_create(&a, NULL, leaver, NULL);
			pthread_create(&b, NULL, sender, NULL);
			go = 1;
			pthread_join(b, NULL);
			pthread_join(a, NULL);
			sigpending(&pend);
			_exit(handled || sigismember(&pend, SIGUSR1) ? 0 : 3);
		}
		int st = 0;
		waitpid(p, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) lost++;
	}
	printf("%d of %d tries lost the signal\n", lost, tries);
	return lost != 0;
}
