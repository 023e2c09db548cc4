/*
 * inflight: four threads make mapping calls with a hint into the range
 * (each stops in the guard) while the main thread ends the process
 * (_exit(3)) after 100 ms: some threads die in the middle of their
 * calls, which the log must still show, with no result.
 */
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static void *loop(void *arg)
{
	(void)arg;
	for (;;) {
		void *p = mmap((void *)0x30000000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED)
			munmap(p, 4096);
	}
	return NULL;
}

int main(void)
{
	pthread_t t;
	for (int i = 0; i < 4; i++)
		pthread_create(&t, NULL, loop, NULL);
	usleep(100000);
	_exit(3);
}
