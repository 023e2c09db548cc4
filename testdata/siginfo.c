// siginfo: signals with a siginfo a handler reads: a SIGUSR1 a child
// sends with kill (si_code SI_USER, si_pid the child) and the SIGCHLD of
// its exit (CLD_EXITED, the child, its status). Prints what the handler
// saw; the test compares it with a native run while the guard holds
// every signal back and sends it again, as it does during its own calls.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_chld;
static volatile int usr1_code, usr1_pid, chld_code, chld_pid, chld_status;

static void on_signal(int sig, siginfo_t *si, void *ctx) {
	(void)ctx;
	if (sig == SIGUSR1) {
		usr1_code = si->si_code, usr1_pid = si->si_pid, got_usr1 = 1;
	} else {
		chld_code = si->si_code, chld_pid = si->si_pid, chld_status = si->si_status, got_chld = 1;
	}
}

int main(void) {
	struct sigaction sa = {0};
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid_t c = fork();
	if (c == 0) {
		kill(getppid(), SIGUSR1);
		_exit(7);
	}
	while (!got_usr1 || !got_chld) sigsuspend(&old);
	waitpid(c, NULL, 0);
	printf("SIGUSR1: SI_USER %s, from the child %s\n", usr1_code == SI_USER ? "yes" : "no", usr1_pid == c ? "yes" : "no");
	printf("SIGCHLD: CLD_EXITED %s, the child %s, status %d\n", chld_code == CLD_EXITED ? "yes" : "no",
	       chld_pid == c ? "yes" : "no", chld_status);
	return 0;
}
