// jobctl_midcall: a parent stops and continues, round after round, a
// process group of children whose threads map pages into the protected
// range and unmap them (the guard then puts its reservation back with
// calls of its own in that thread), waiting each time for every child to
// report the stop (WUNTRACED) and the continue (WCONTINUED), as a shell
// does. A stop or a continue the guard held back during its calls and
// sent again later takes effect late: a continue sent again undoes the
// next round's stop, and the parent waits for good (here: an alarm).
//
// usage: jobctl_midcall ROUNDS STOPSIG [catch]
// With "catch", the children handle SIGCONT (and count it).
// Prints "N rounds, S stops and C continues lost".
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

enum { KIDS = 3, THREADS = 4 };

static volatile sig_atomic_t conts;

static void on_cont(int sig) {
	(void)sig;
	conts++;
}

static void on_alarm(int sig) { (void)sig; }

// churn maps a page range at its own place in the protected range and
// unmaps it, or part of it, for good.
static void *churn(void *arg) {
	long me = (long)arg;
	char *want = (char *)(0x40000000UL + ((unsigned long)getpid() % 64) * 0x400000UL + me * 0x40000UL);
	for (unsigned long n = 0;; n++) {
		char *p = mmap(want, 0x8000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED)
			continue;
		p[0] = 1;
		switch (n % 3) {
		case 0: {
			void *q = mremap(p, 0x8000, 0x10000, MREMAP_MAYMOVE);
			if (q != MAP_FAILED)
				munmap(q, 0x10000);
			break;
		}
		case 1:
			munmap(p + 0x2000, 0x2000);
			munmap(p, 0x8000);
			break;
		default:
			mprotect(p, 0x4000, PROT_READ);
			munmap(p, 0x8000);
		}
	}
	return 0;
}

// waitfor waits for each child to report what want says (WUNTRACED or
// WCONTINUED), up to 10 s each; it returns how many did not.
static int waitfor(pid_t *kids, int want) {
	int lost = 0;
	for (int i = 0; i < KIDS; i++) {
		for (;;) {
			int st;
			alarm(10);
			pid_t w = waitpid(kids[i], &st, want);
			alarm(0);
			if (w < 0) {
				if (errno != EINTR)
					perror("waitpid");
				lost++;
				break;
			}
			if (want == WUNTRACED ? WIFSTOPPED(st) : WIFCONTINUED(st))
				break;
			if (!WIFSTOPPED(st) && !WIFCONTINUED(st)) {
				printf("child %d ended: status %#x\n", i, st);
				exit(1);
			}
		}
	}
	return lost;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: %s ROUNDS STOPSIG [catch]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, 0, _IONBF, 0);
	int rounds = atoi(argv[1]), sig = atoi(argv[2]);
	int catch = argc > 3 && strcmp(argv[3], "catch") == 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, 0);
	pid_t kids[KIDS], pg = 0;
	for (int i = 0; i < KIDS; i++) {
		kids[i] = fork();
		if (kids[i] < 0) {
			perror("fork");
			return 1;
		}
		if (kids[i] == 0) {
			setpgid(0, pg);
			if (catch) {
				sa.sa_handler = on_cont;
				sa.sa_flags = SA_RESTART;
				sigaction(SIGCONT, &sa, 0);
			}
			for (long k = 1; k < THREADS; k++) {
				pthread_t t;
				pthread_create(&t, 0, churn, (void *)k);
			}
			churn(0);
		}
		if (!pg)
			pg = kids[0];
		setpgid(kids[i], pg);
	}
	usleep(50000);
	int stops = 0, cont = 0, r;
	for (r = 0; r < rounds && !stops && !cont; r++) {
		kill(-pg, sig);
		stops += waitfor(kids, WUNTRACED);
		kill(-pg, SIGCONT);
		cont += waitfor(kids, WCONTINUED);
	}
	kill(-pg, SIGKILL);
	while (wait(0) > 0)
		;
	printf("%d rounds, %d stops and %d continues lost\n", r, stops, cont);
	return 0;
}
