// sigdfl: a SIGTERM handler that cleans up as make's does: it puts the
// default action back first, writes "got", then waits argv[2]
// milliseconds with every signal let through (pselect with an empty
// mask, as make waits for its children), writes "cleaned up" and exits
// with 1. A second SIGTERM during the wait kills it. It writes its pid
// to the file argv[1] once its handler is in place, and waits for the
// signal.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

static long wait_ms;

static void say(const char *s) {
	ssize_t r = write(1, s, strlen(s));
	(void)r;
}

static void on_term(int sig) {
	signal(sig, SIG_DFL);
	say("got\n");
	sigset_t none;
	sigemptyset(&none);
	struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
	pselect(0, NULL, NULL, NULL, &ts, &none);
	say("cleaned up\n");
	_exit(1);
}

int main(int argc, char **argv) {
	if (argc < 3) return 2;
	wait_ms = atol(argv[2]);
	signal(SIGTERM, on_term);
	FILE *f = fopen(argv[1], "w");
	if (!f) return 2;
	fprintf(f, "%d\n", getpid());
	fclose(f);
	for (;;)
		pause();
}
