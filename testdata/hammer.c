// hammer.c: many threads making mapping calls on the SAME pages inside
// a protected range (MAP_FIXED, honoured without --strict), with other
// threads blocked in read/futex/epoll_wait/nanosleep/poll, threads
// created and exiting meanwhile, optional forks and an optional exec.
// Usage: hammer NTHREADS ITERS [flags...]
//   churn   threads created and exiting meanwhile
//   fork    workers fork now and then; the child mprotects/munmaps
//           inherited pages and exits
//   exec    a thread execs /bin/echo 20 ms in, while the workers run
//   outside the pages are above the range (0x100000000)
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define NP 16
static unsigned long base = 0x40000000UL;
static int iters, dofork, doexec;
static volatile int stop;
static int pfd[2];
static int futexw;

static unsigned rnd(unsigned *s) {
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void *worker(void *x) {
	unsigned s = (unsigned)(long)x * 7919u + 1;
	for (int i = 0; i < iters; i++) {
		unsigned long p = base + (rnd(&s) % NP) * PAGE;
		unsigned long n = (1 + rnd(&s) % 4) * PAGE;
		if (p + n > base + NP * PAGE) n = base + NP * PAGE - p;
		void *r;
		switch (rnd(&s) % 8) {
		case 0:
		case 1:
			r = mmap((void *)p, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			if (r == MAP_FAILED) { perror("mmap fixed"); exit(3); }
			break;
		case 2:
			if (mprotect((void *)p, n, PROT_READ) && errno != ENOMEM) { perror("mprotect"); exit(3); }
			break;
		case 3:
			if (mprotect((void *)p, n, PROT_READ | PROT_WRITE) && errno != ENOMEM) { perror("mprotect"); exit(3); }
			break;
		case 4:
			if (munmap((void *)p, n)) { perror("munmap"); exit(3); }
			break;
		case 5:
			if (madvise((void *)p, n, MADV_DONTNEED) && errno != ENOMEM) { perror("madvise"); exit(3); }
			break;
		case 6:
			r = mremap((void *)p, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)(base + (rnd(&s) % NP) * PAGE));
			(void)r;
			break;
		case 7:
			if (dofork && rnd(&s) % 16 == 0) {
				pid_t c = fork();
				if (c == 0) {
					// natively: an mprotect of whatever is there succeeds or ENOMEM
					mprotect((void *)base, NP * PAGE, PROT_READ);
					munmap((void *)base, NP * PAGE);
					void *q = mmap((void *)base, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
					if (q == MAP_FAILED) _exit(5);
					*(volatile char *)q = 1;
					_exit(0);
				}
				if (c < 0) { perror("fork"); exit(3); }
				int st;
				if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st)) {
					fprintf(stderr, "child status %#x\n", st);
					exit(4);
				}
			} else {
				unsigned char v[4];
				mincore((void *)p, PAGE, v);
			}
			break;
		}
	}
	return 0;
}

static void *reader(void *x) {
	(void)x;
	char c;
	read(pfd[0], &c, 1);
	return 0;
}
static void *futexer(void *x) {
	(void)x;
	while (!stop) syscall(SYS_futex, &futexw, FUTEX_WAIT_PRIVATE, 0, 0, 0, 0);
	return 0;
}
static void *epoller(void *x) {
	(void)x;
	int e = epoll_create1(0);
	struct epoll_event ev = {.events = EPOLLIN};
	epoll_ctl(e, EPOLL_CTL_ADD, pfd[0], &ev);
	while (!stop) epoll_wait(e, &ev, 1, 100);
	return 0;
}
static void *sleeper(void *x) {
	(void)x;
	while (!stop) {
		struct timespec t = {0, 3000000};
		nanosleep(&t, 0);
	}
	return 0;
}
static void *poller(void *x) {
	(void)x;
	struct pollfd p = {.fd = pfd[0], .events = POLLIN};
	while (!stop) poll(&p, 1, 50);
	return 0;
}
static void *shortlived(void *x) {
	(void)x;
	void *m = mmap(0, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) { ((char *)m)[0] = 1; munmap(m, 65536); }
	return 0;
}
static void *execer(void *x) {
	(void)x;
	struct timespec t = {0, 20000000};
	nanosleep(&t, 0);
	execl("/bin/echo", "echo", "exec done", (char *)0);
	perror("exec");
	exit(6);
}
static void *churner(void *x) {
	(void)x;
	while (!stop) {
		pthread_t t;
		if (pthread_create(&t, 0, shortlived, 0) == 0) pthread_join(t, 0);
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) return 2;
	int n = atoi(argv[1]);
	iters = atoi(argv[2]);
	int churn = 0;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "churn")) churn = 1;
		if (!strcmp(argv[i], "fork")) dofork = 1;
		if (!strcmp(argv[i], "exec")) doexec = 1;
		if (!strcmp(argv[i], "outside")) base = 0x100000000UL;
	}
	pipe(pfd);
	if (mmap((void *)base, NP * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	pthread_t bg[6];
	pthread_create(&bg[0], 0, reader, 0);
	pthread_create(&bg[1], 0, futexer, 0);
	pthread_create(&bg[2], 0, epoller, 0);
	pthread_create(&bg[3], 0, sleeper, 0);
	pthread_create(&bg[4], 0, poller, 0);
	if (churn) pthread_create(&bg[5], 0, churner, 0);
	pthread_t *w = calloc(n, sizeof *w);
	for (long i = 0; i < n; i++) pthread_create(&w[i], 0, worker, (void *)i);
	if (doexec) { pthread_t t; pthread_create(&t, 0, execer, 0); }
	for (int i = 0; i < n; i++) pthread_join(w[i], 0);
	stop = 1;
	write(pfd[1], "xxxxxxxx", 8);
	futexw = 1;
	syscall(SYS_futex, &futexw, FUTEX_WAKE_PRIVATE, 100, 0, 0, 0);
	for (int i = 0; i < 5 + churn; i++) pthread_join(bg[i], 0);
	printf("done %d threads %d iters\n", n, iters);
	return 0;
}
