// shmdt_race: a piece of a segment moved into the range while another
// thread detaches from below it (lax mode). Thread A calls shmdt(0xf000),
// outside the range; thread B, released at the same moment, moves page 1
// of a two-page segment attached where the kernel chose to 0x10000, the
// range's start (an explicit placement, honoured). If B's move lands
// before A's shmdt runs, the kernel detaches the piece at 0x10000 (one
// page from 0xf000, at its offset): the guard must put the reservation
// back. Prints "HOLE ..." and exits 1 if 0x10000 is left unmapped,
// "no hole in N tries" otherwise.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/shm.h>

static pthread_barrier_t bar;
static char *seg;
static int ra;
static void *rb;

static void *detacher(void *arg) {
	(void)arg;
	pthread_barrier_wait(&bar);
	ra = shmdt((void *)0xf000);
	return NULL;
}

static void *mover(void *arg) {
	(void)arg;
	pthread_barrier_wait(&bar);
	rb = mremap(seg + 4096, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)0x10000);
	return NULL;
}

static int mapped(unsigned long a) {
	FILE *f = fopen("/proc/self/maps", "r");
	char l[512];
	unsigned long s, e;
	int r = 0;
	while (f && fgets(l, sizeof l, f))
		if (sscanf(l, "%lx-%lx", &s, &e) == 2 && s <= a && a < e) {
			r = 1;
			break;
		}
	if (f) fclose(f);
	return r;
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 200;
	int id = shmget(IPC_PRIVATE, 2 * 4096, IPC_CREAT | 0600);
	if (id < 0) {
		perror("shmget");
		return 2;
	}
	for (int i = 0; i < n; i++) {
		seg = shmat(id, NULL, 0);
		if (seg == (void *)-1) {
			perror("shmat");
			return 2;
		}
		pthread_barrier_init(&bar, NULL, 2);
		pthread_t a, b;
		pthread_create(&a, NULL, detacher, NULL);
		pthread_create(&b, NULL, mover, NULL);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		if (!mapped(0x10000)) {
			printf("HOLE at 0x10000 on try %d: shmdt = %d, mremap = %p\n", i, ra, rb);
			shmctl(id, IPC_RMID, NULL);
			return 1;
		}
		shmdt(seg);
		if (rb != MAP_FAILED) shmdt((void *)0xf000);
		pthread_barrier_destroy(&bar);
	}
	shmctl(id, IPC_RMID, NULL);
	printf("no hole in %d tries\n", n);
	return 0;
}
