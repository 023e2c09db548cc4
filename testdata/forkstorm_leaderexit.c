// forkstorm_leaderexit: as forkstorm.c, but the main thread leaves with
// pthread_exit first: the leader stays a zombie until the last thread
// ends, while four threads fork 300 children each, which exit at once.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void *forks(void *arg) {
	(void)arg;
	for (int i = 0; i < 300; i++) {
		pid_t p = fork();
		if (p == 0)
			_exit(0);
		if (p < 0) {
			perror("fork");
			return (void *)1;
		}
	}
	return NULL;
}

static void *last(void *arg) {
	pthread_t *th = arg;
	int bad = 0;
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad += r != NULL;
	}
	int st;
	while (wait(&st) > 0)
		bad += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	printf("children failed: %d\n", bad);
	fflush(stdout);
	exit(bad != 0);
}

int main(void) {
	static pthread_t th[4], l;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, forks, NULL);
	pthread_create(&l, NULL, last, th);
	pthread_exit(NULL);
}
