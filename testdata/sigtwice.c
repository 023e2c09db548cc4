// sigtwice: counts the SIGTERMs it gets. It writes its pid to the file
// argv[1] once its handler is in place, sends itself SIGTERM with kill
// (as a handler re-raises a signal) argv[3] milliseconds later unless
// that is -1, waits until argv[2] milliseconds have passed, and prints
// the count.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t count;

static void on_term(int sig) {
	(void)sig;
	count++;
}

static void nap(long ms) {
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0) {
	}
}

int main(int argc, char **argv) {
	if (argc < 4) return 2;
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	FILE *f = fopen(argv[1], "w");
	if (!f) return 2;
	fprintf(f, "%d\n", getpid());
	fclose(f);
	long total = atol(argv[2]), self = atol(argv[3]);
	if (self >= 0) {
		nap(self);
		kill(getpid(), SIGTERM);
		total -= self;
	}
	nap(total);
	printf("%d\n", (int)count);
	return 0;
}
