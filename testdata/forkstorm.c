// forkstorm: four threads fork 300 children each, which exit at once.
// Under a tracer, a child's first stop often comes before its creator's
// fork event, while other children's exits are reported in between.
// With "leader-exit", the main thread leaves with pthread_exit first:
// the leader stays a zombie until the last thread ends, and a fifth
// thread collects the children.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_t th[4];

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

static void *collect(void *arg) {
	(void)arg;
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

int main(int argc, char **argv) {
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, forks, NULL);
	if (argc > 1 && strcmp(argv[1], "leader-exit") == 0) {
		pthread_t c;
		pthread_create(&c, NULL, collect, NULL);
		pthread_exit(NULL);
	}
	collect(NULL);
}
