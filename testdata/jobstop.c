// jobstop: stops for job control the way interactive programs do, then
// checks that one SIGCONT (a shell's fg or bg: killpg) lets it go on.
// It prints "pid PID" and "ready" first, and "done" at the end (exit 0); or
// "not continued" (exit 1) when no SIGCONT came within 30 seconds.
//
//   handler: Python's and curses programs' way. Its SIGTSTP handler
//     cleans up (prints "cleanup"), puts the default action back and
//     stops the program with kill(getpid(), SIGTSTP); once continued,
//     it puts itself back and prints "resumed". The ^Z comes from
//     outside: SIGTSTP sent to the process group, as a terminal does.
//   group: vim's way. With its terminal in raw mode, ^Z is a character
//     the program reads (here: a line on stdin), and it suspends itself
//     by sending SIGTSTP to its whole process group (kill(0)); its
//     handler puts the default action back and raises SIGTSTP again
//     (vim's sig_tstp), then puts itself back; a SIGCONT handler notes
//     the continue, and the program prints "continued".
//
//   A second argument "own-group" puts the program in a process group
//     of its own first, as a shell does with a job: the kernel drops a
//     job-control stop (SIGTSTP's default action) in an orphaned process
//     group, which the group the program was started in may be (a test
//     run from a CI job's session, or under setsid).
//
// Natively the program stops once, inside its handler, with its
// clean-up done, and the job stops with it: a shell sees the stop and
// takes the terminal back. Under mmapguard the job is mmapguard, which
// must stop the same way, not before the handler has run, and go on
// with the program after one SIGCONT.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t resumed, conts;

static void say(const char *s) {
	(void)!write(1, s, strlen(s));
}

static void tstp(int sig) {
	(void)sig;
	say("cleanup\n");
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGTSTP, &sa, NULL);
	// Blocked while its handler runs: unblocked, as vim does, so that
	// the kill stops the program here.
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGTSTP);
	sigprocmask(SIG_UNBLOCK, &s, NULL);
	kill(getpid(), SIGTSTP);
	sa.sa_handler = tstp;
	sigaction(SIGTSTP, &sa, NULL);
	say("resumed\n");
	resumed = 1;
}

static void cont(int sig) {
	(void)sig;
	conts++;
}

// waitFor waits up to 30 seconds for *flag.
static int waitFor(volatile sig_atomic_t *flag) {
	struct timespec ms = {0, 1000000};
	for (int i = 0; i < 30000 && !*flag; i++) {
		nanosleep(&ms, NULL);
	}
	return *flag != 0;
}

int main(int argc, char **argv) {
	int group = argc > 1 && strcmp(argv[1], "group") == 0;
	if (argc > 2 && strcmp(argv[2], "own-group") == 0 && setpgid(0, 0) != 0) {
		say("setpgid failed\n");
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = tstp;
	sigaction(SIGTSTP, &sa, NULL);
	sa.sa_handler = cont;
	sigaction(SIGCONT, &sa, NULL);
	char buf[64];
	snprintf(buf, sizeof buf, "pid %d\nready\n", (int)getpid());
	say(buf);
	if (group) {
		char line[16];
		if (!fgets(line, sizeof line, stdin)) {
			say("no ^Z line\n");
			return 1;
		}
		kill(0, SIGTSTP);
		if (!waitFor(&conts)) {
			say("not continued\n");
			return 1;
		}
		say("continued\n");
	} else if (!waitFor(&resumed)) {
		say("not continued\n");
		return 1;
	}
	say("done\n");
	return 0;
}
