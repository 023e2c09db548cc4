// cloneparent: two threads make processes with clone(CLONE_PARENT),
// siblings of this one (children of its parent, which is not traced),
// while a third thread starts and ends threads; each child writes a
// byte to a pipe and exits. Under a tracer, a child's first stop may
// come before its creator's clone event, with other tasks' exits in
// between. argv[1]: children per thread (300); argv[2] "nested": all
// that runs in a forked child of this one, so that the children's parent
// (this one) is traced too, and reaps them.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;
static int p[2], n;

static void *nop(void *a) { return a; }

static void *churn(void *a) {
	while (!stop) {
		pthread_t t;
		if (pthread_create(&t, NULL, nop, NULL) == 0)
			pthread_join(t, NULL);
	}
	return a;
}

static void *cloner(void *a) {
	for (int i = 0; i < n; i++) {
		long r = syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0);
		if (r == 0) {
			if (write(p[1], "x", 1) != 1)
				_exit(1);
			_exit(0);
		}
		if (r < 0) {
			perror("clone");
			exit(1);
		}
	}
	return a;
}

int main(int argc, char **argv) {
	n = argc > 1 ? atoi(argv[1]) : 300;
	if (argc > 2 && !strcmp(argv[2], "nested")) {
		pid_t c = fork();
		if (c < 0) {
			perror("fork");
			return 1;
		}
		if (c > 0) {
			// reap the cloner and every child it gave this process
			int st, ret = 1;
			pid_t w;
			while ((w = wait(&st)) > 0)
				if (w == c) ret = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
			return ret;
		}
	}
	if (pipe(p) != 0) {
		perror("pipe");
		return 1;
	}
	pthread_t c, k[2];
	pthread_create(&c, NULL, churn, NULL);
	for (int i = 0; i < 2; i++)
		pthread_create(&k[i], NULL, cloner, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(k[i], NULL);
	stop = 1;
	pthread_join(c, NULL);
	close(p[1]);
	int got = 0;
	char b;
	while (read(p[0], &b, 1) == 1)
		got++;
	printf("%d of %d children ran\n", got, 2 * n);
	return got == 2 * n ? 0 : 2;
}
