// vforkstorm: 300 threads wait on a condition variable while four
// others vfork 25 children each, which end at once (as posix_spawn and
// Go's os/exec do from a program with many threads). Under a tracer, a
// vforked child's first stop nearly always comes before its creator's
// vfork event.
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int quit;

static void *idle(void *arg) {
	pthread_mutex_lock(&mu);
	while (!quit)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	return arg;
}

static void *spawns(void *arg) {
	for (int i = 0; i < 25; i++) {
		int st;
		pid_t p = vfork();
		if (p == 0)
			_exit(3);
		if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 3)
			return (void *)1;
	}
	return arg;
}

int main(void) {
	pthread_t idlers[300], th[4];
	int bad = 0;
	for (int i = 0; i < 300; i++)
		if (pthread_create(&idlers[i], NULL, idle, NULL) != 0)
			return 2;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, spawns, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad += r != NULL;
	}
	pthread_mutex_lock(&mu);
	quit = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 300; i++)
		pthread_join(idlers[i], NULL);
	printf("spawners failed: %d\n", bad);
	return bad != 0;
}
