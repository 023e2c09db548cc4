// execthread: a thread other than the main one calls execve while other
// threads are busy mapping memory. The new program is given as argv[1..].
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

static char **target;

static void *busy(void *arg) {
	(void)arg;
	for (;;) {
		void *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p != MAP_FAILED) munmap(p, 1 << 16);
	}
	return NULL;
}

static void *execer(void *arg) {
	(void)arg;
	usleep(20000);
	execv(target[0], target);
	perror("execv");
	_exit(99);
}

int main(int argc, char **argv) {
	if (argc < 2) return 2;
	target = argv + 1;
	pthread_t t;
	for (int i = 0; i < 4; i++) pthread_create(&t, NULL, busy, NULL);
	pthread_create(&t, NULL, execer, NULL);
	for (;;) pause();
}
