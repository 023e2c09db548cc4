// filemap_race: an ordinary program, two threads, in lax mode: one maps
// a page of a file with MAP_FIXED inside the range (an explicit
// placement, honoured) and unmaps it, over and over; the other maps
// anonymous memory further up in the range with MAP_FIXED and unmaps it
// (the guard puts its reservation back each time). With argv[2] "gone",
// the file page goes just below the pool (where the guard checks it
// too) and the other thread unmaps it as soon as it is there. Prints
// "done N".
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile int stop;
static char *gone_at = (char *)0x1ffffff00000UL;

static void *unmapper(void *arg) {
	(void)arg;
	while (!stop)
		munmap(gone_at, 4096);
	return NULL;
}

static void *churn(void *arg) {
	(void)arg;
	while (!stop) {
		void *p = mmap((void *)0x50000000UL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p != MAP_FAILED) munmap(p, 1 << 16);
	}
	return NULL;
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	int fd = open("/proc/self/exe", O_RDONLY);
	if (fd < 0) {
		perror("open");
		return 2;
	}
	int gone = argc > 2 && argv[2][0] == 'g';
	char *at = gone ? gone_at : (char *)0x40000000UL;
	pthread_t t;
	pthread_create(&t, NULL, gone ? unmapper : churn, NULL);
	for (int i = 0; i < n; i++) {
		void *p = mmap(at, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 2;
		}
		munmap(p, 4096);
	}
	stop = 1;
	pthread_join(t, NULL);
	printf("done %d\n", n);
	return 0;
}
