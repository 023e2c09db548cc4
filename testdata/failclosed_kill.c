// failclosed_kill: processes killed while the tracer is in the middle of
// their trapped calls must not stall the others. In each round the
// parent forks a child whose 4 threads make trapped calls without pause
// (hints into the protected range, rerouted; MAP_FIXED inside it and
// munmap, which the guard answers with a reservation put back), keeps
// mapping itself for a while, then SIGKILLs the child: most of its
// threads are then stopped in the tracer or between the steps of an
// action, and the tracer's next request for them fails with ESRCH. The
// parent keeps mapping, reaps the child (it must have died of SIGKILL),
// and after all rounds prints "failclosed-kill ok" and exits 0.
// Usage: failclosed_kill [ROUNDS]
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define LO 0x10000UL
#define HI 0x80000000UL
#define PAGE 4096UL

static int in_range(unsigned long a, unsigned long n) { return a < HI && a + n > LO; }

// work makes trapped calls; it returns the number of unexpected results.
static int work(long n, unsigned long fixed) {
	int bad = 0;
	for (long i = 0; i < n; i++) {
		void *p = mmap((void *)0x30000000, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || in_range((unsigned long)p, PAGE)) bad++;
		else munmap(p, PAGE);
		void *q = mmap((void *)fixed, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (q != (void *)fixed) bad++;
		else munmap(q, 2 * PAGE);
	}
	return bad;
}

static void *spin(void *arg) {
	for (;;) work(1000, (unsigned long)arg);
	return NULL;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	int bad = 0;
	for (int r = 0; r < rounds; r++) {
		int ready[2];
		if (pipe(ready) != 0) {
			perror("pipe");
			return 1;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			pthread_t t;
			for (unsigned long k = 1; k < 4; k++) pthread_create(&t, NULL, spin, (void *)(0x40000000UL + k * 0x100000));
			if (write(ready[1], "x", 1) != 1) _exit(1);
			spin((void *)0x40000000UL);
		}
		close(ready[1]);
		char c;
		if (read(ready[0], &c, 1) != 1) {
			printf("round %d: the child did not start its threads\n", r);
			bad++;
		}
		close(ready[0]);
		// A varying while, so the kill lands at different points.
		bad += work(20 + 37 * r % 200, 0x50000000UL);
		kill(pid, SIGKILL);
		bad += work(50, 0x50000000UL);
		int st;
		if (waitpid(pid, &st, 0) != pid) {
			perror("waitpid");
			return 1;
		}
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
			printf("round %d: child status %#x, want killed by SIGKILL\n", r, st);
			bad++;
		}
	}
	if (bad) {
		printf("%d unexpected results\n", bad);
		return 1;
	}
	printf("failclosed-kill ok\n");
	return 0;
}
