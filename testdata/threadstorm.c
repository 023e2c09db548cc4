// threadstorm: four threads each start 200 threads, 8 at a time, which
// end at once. Under a tracer, a new thread's first stop often comes
// before its creator's clone event, while other threads' exits are
// reported in between.
#include <pthread.h>
#include <stdio.h>

static void *nothing(void *arg) { return arg; }

static void *starts(void *arg) {
	(void)arg;
	for (int i = 0; i < 25; i++) {
		pthread_t th[8];
		for (int k = 0; k < 8; k++)
			if (pthread_create(&th[k], NULL, nothing, NULL) != 0)
				return (void *)1;
		for (int k = 0; k < 8; k++)
			pthread_join(th[k], NULL);
	}
	return NULL;
}

int main(void) {
	pthread_t th[4];
	int bad = 0;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, starts, NULL);
	for (int i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad += r != NULL;
	}
	printf("starters failed: %d\n", bad);
	return bad != 0;
}
