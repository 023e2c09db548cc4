// sigcont: with "block PROGRAM ARGS...", execs the program with SIGCONT
// blocked (as some launchers leave it); with "probe", reports whether a
// SIGCONT is pending at its start, then unblocks SIGCONT with a handler,
// sends itself one and reports how often the handler ran. mmapguard's
// own SIGCONT at the program's start (see trace/tracer.go, handOver)
// must never be seen: "pending 0", "handled 1".
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void handler(int s) { (void)s; got++; }

int main(int argc, char **argv) {
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGCONT);
	if (argc > 2 && strcmp(argv[1], "block") == 0) {
		sigprocmask(SIG_BLOCK, &s, NULL);
		execvp(argv[2], argv + 2);
		return 127;
	}
	sigset_t p;
	sigpending(&p);
	printf("pending %d\n", sigismember(&p, SIGCONT));
	signal(SIGCONT, handler);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	kill(getpid(), SIGCONT);
	printf("handled %d\n", (int)got);
	return 0;
}
