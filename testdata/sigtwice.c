// sigtwice: counts the SIGTERMs it gets. It writes its pid to the file
// argv[1] once its handler is in place, waits argv[2] milliseconds, and
// prints the count.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile sig_atomic_t count;

static void on_term(int sig) {
	(void)sig;
	count++;
}

int main(int argc, char **argv) {
	if (argc < 3) return 2;
	struct sigaction sa = {.sa_handler = on_term};
	sigaction(SIGTERM, &sa, NULL);
	FILE *f = fopen(argv[1], "w");
	if (!f) return 2;
	fprintf(f, "%d\n", getpid());
	fclose(f);
	long ms = atol(argv[2]);
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0) {
	}
	printf("%d\n", (int)count);
	return 0;
}
