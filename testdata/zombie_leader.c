// zombie_leader: the main thread leaves with pthread_exit, so the
// process's leader is a zombie while its other threads live (the kernel
// reports its exit only once they are all gone). Then a thread makes
// calls that free part of the protected range for a moment (a mapping
// moved out by mremap: the guard stops every other task of the address
// space until the reservation is back), twice, from two threads in turn.
// The guard must not wait for the zombie to stop: it never will. Prints
// "moved out twice" and exits 0 (natively too, without the moves).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define LEN 0x10000UL

static int move_out(unsigned long at) {
	void *p = mmap((void *)at, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED) return 0;
	// Under the guard the reservation after it stops the growth in
	// place: the kernel moves the mapping out of the range.
	return mremap(p, LEN, 64 * LEN, MREMAP_MAYMOVE) != MAP_FAILED;
}

static void *second(void *arg) {
	(void)arg;
	if (!move_out(0x31000000)) {
		printf("second move-out failed\n");
		exit(1);
	}
	printf("moved out twice\n");
	fflush(stdout);
	exit(0);
}

static void *first(void *arg) {
	(void)arg;
	usleep(100 * 1000); // the leader is a zombie by now
	if (!move_out(0x30000000)) {
		printf("first move-out failed\n");
		exit(1);
	}
	pthread_t t;
	pthread_create(&t, NULL, second, NULL);
	pthread_exit(NULL);
}

int main(void) {
	pthread_t t;
	pthread_create(&t, NULL, first, NULL);
	pthread_exit(NULL);
}
