// midcall: threads blocked in read, nanosleep and futex while the main
// thread exits with status 5.
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static int fds[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *reader(void *a) { char c; (void)a; read(fds[0], &c, 1); return NULL; }
static void *sleeper(void *a) { (void)a; sleep(100); return NULL; }
static void *waiter(void *a) {
	(void)a;
	pthread_mutex_lock(&mu);
	pthread_cond_wait(&cv, &mu);
	return NULL;
}

int main(void) {
	pipe(fds);
	pthread_t t;
	pthread_create(&t, NULL, reader, NULL);
	pthread_create(&t, NULL, sleeper, NULL);
	pthread_create(&t, NULL, waiter, NULL);
	usleep(50000);
	exit(5);
}
