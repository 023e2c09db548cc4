// forkstorm: four threads fork 300 children each, which exit at once.
// Under a tracer, a child's first stop often comes before its creator's
// fork event, while other children's exits are reported in between.
#include <pthread.h>
#include <stdio.h>
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

int main(void) {
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, forks, NULL);
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
	return bad != 0;
}
