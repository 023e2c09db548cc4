// forkmix.c: threads fork, vfork+exec and posix_spawn while other
// threads make overlapping mapping calls on pages in a protected range
// (MAP_FIXED, honoured without --strict). Each forked child checks what
// it inherited natively would hold:
//   - a stable mapping S of the parent's (never touched by the workers)
//     is there with its bytes; the child can mprotect it read-only and
//     back, munmap a page of it and map there again;
//   - pages nobody mapped (R) give ENOMEM to mprotect (natively: nothing
//     there), and MAP_FIXED_NOREPLACE there succeeds (lax) natively;
//   - the volatile pages V: mprotect succeeds or ENOMEM natively never
//     (V is always fully mapped: workers only replace pages with
//     MAP_FIXED, mprotect and madvise them), so ENOMEM there is a
//     difference.
// Usage: forkmix WORKERS FORKERS ROUNDS
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#define PAGE 4096UL
#define S ((char *)0x30000000UL)
#define SN 8
#define V ((char *)0x30100000UL)
#define VN 16
#define R ((char *)0x30200000UL)
extern char **environ;
static volatile int stop;
static int rounds;

static unsigned rnd(unsigned *s) {
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void *worker(void *x) {
	unsigned s = (unsigned)(long)x * 7919u + 1;
	while (!stop) {
		char *p = V + (rnd(&s) % VN) * PAGE;
		switch (rnd(&s) % 4) {
		case 0:
			if (mmap(p, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
				perror("worker mmap");
				exit(3);
			}
			break;
		case 1:
			if (mprotect(p, PAGE, PROT_READ)) { perror("worker mprotect r"); exit(3); }
			break;
		case 2:
			if (mprotect(p, PAGE, PROT_READ | PROT_WRITE)) { perror("worker mprotect rw"); exit(3); }
			break;
		case 3:
			if (madvise(p, PAGE, MADV_DONTNEED)) { perror("worker madvise"); exit(3); }
			break;
		}
	}
	return 0;
}

static int child_checks(void) {
	for (unsigned i = 0; i < SN; i++)
		if (S[i * PAGE] != (char)(i + 1)) return 10;
	if (mprotect(S, SN * PAGE, PROT_READ)) return 11;
	if (mprotect(S, SN * PAGE, PROT_READ | PROT_WRITE)) return 12;
	if (munmap(S + PAGE, PAGE)) return 13;
	if (mmap(S + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != S + PAGE) return 14;
	S[PAGE] = 7;
	if (mprotect(R, PAGE, PROT_READ | PROT_WRITE) == 0) return 15;
	if (errno != ENOMEM) return 16;
	if (mprotect(V, VN * PAGE, PROT_READ | PROT_WRITE)) return 17;
	V[0] = 1;
	char *q = mmap(R, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (q != R) return 18;
	q[0] = 1;
	return 0;
}

static void *forker(void *x) {
	unsigned s = (unsigned)(long)x * 31u + 5;
	for (int i = 0; i < rounds; i++) {
		pid_t c;
		int kind = rnd(&s) % 3;
		if (kind == 0) {
			c = fork();
			if (c == 0) _exit(child_checks());
		} else if (kind == 1) {
			c = vfork();
			if (c == 0) {
				execl("/bin/true", "true", (char *)0);
				_exit(127);
			}
		} else {
			char *argv[] = {"true", 0};
			if (posix_spawn(&c, "/bin/true", 0, 0, argv, environ)) c = -1;
		}
		if (c < 0) { perror("fork"); exit(3); }
		int st;
		if (waitpid(c, &st, 0) != c) { perror("waitpid"); exit(3); }
		if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "kind %d child %d status %#x\n", kind, c, st);
			exit(4);
		}
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 4) return 2;
	int nw = atoi(argv[1]), nf = atoi(argv[2]);
	rounds = atoi(argv[3]);
	if (mmap(S, SN * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) return 1;
	for (unsigned i = 0; i < SN; i++) S[i * PAGE] = i + 1;
	if (mmap(V, VN * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) return 1;
	pthread_t w[64], f[64];
	for (long i = 0; i < nw; i++) pthread_create(&w[i], 0, worker, (void *)i);
	for (long i = 0; i < nf; i++) pthread_create(&f[i], 0, forker, (void *)i);
	for (int i = 0; i < nf; i++) pthread_join(f[i], 0);
	stop = 1;
	for (int i = 0; i < nw; i++) pthread_join(w[i], 0);
	printf("OK %d forkers x %d\n", nf, rounds);
	return 0;
}
