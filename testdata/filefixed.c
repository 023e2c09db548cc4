// filefixed.c: N threads, each in a window of its own (1 MiB apart) in
// a protected range, map a page of a regular file there with MAP_FIXED,
// mprotect it and unmap it, in a loop: no two threads' calls touch the
// same pages. Usage: filefixed THREADS ITERS [anon]
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL
static int fd, iters, anon;

static void *worker(void *x) {
	char *w = (char *)(0x20000000UL + (unsigned long)x * (1UL << 20));
	for (int i = 0; i < iters; i++) {
		char *p = anon ? mmap(w, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
			       : mmap(w, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
		if (p != w) { perror("mmap"); exit(1); }
		if (p[0] != (anon ? 0 : 'a')) { fprintf(stderr, "bad\n"); exit(1); }
		if (mprotect(p, PAGE, PROT_READ | PROT_WRITE)) { perror("mprotect"); exit(1); }
		if (munmap(p, PAGE)) { perror("munmap"); exit(1); }
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) return 2;
	int n = atoi(argv[1]);
	iters = atoi(argv[2]);
	anon = argc > 3 && !strcmp(argv[3], "anon");
	char name[] = "/tmp/filefixedXXXXXX";
	fd = mkstemp(name);
	unlink(name);
	char b[PAGE];
	memset(b, 'a', sizeof b);
	write(fd, b, sizeof b);
	pthread_t t[256];
	for (long i = 0; i < n; i++) pthread_create(&t[i], 0, worker, (void *)i);
	for (int i = 0; i < n; i++) pthread_join(t[i], 0);
	printf("OK\n");
	return 0;
}
