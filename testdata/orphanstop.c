// orphanstop: leaves a stopped child behind, as `sh -c 'sleep 100 &
// kill -STOP $!'` or a background job stopped by SIGTTIN does. The child
// stops itself with SIGSTOP; once waitpid has reported that, the program
// prints "parent exits" and ends at once (exit 0). Run in a process
// group of its own whose parent is in another group of the same session
// (a shell's job), its group becomes orphaned then, with a stopped
// member: the kernel sends that group SIGHUP and SIGCONT, and the
// child's SIGHUP handler prints "child got SIGHUP" and ends it (exit 0).
// "child not hung up" (exit 1) if neither comes within 30 seconds. With
// ORPHANSTOP_PID set, the child's pid is written to that file once it
// has stopped.
//
// With argument "late" the child stops itself only once the parent has
// ended (and 0.1 s more), with SIGTSTP: natively its group is orphaned
// by then, the kernel discards the signal, and the child prints "child
// not stopped" and ends (exit 0).
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "say.h"

static void hup(int sig) {
	(void)sig;
	say("child got SIGHUP");
	_exit(0);
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "late") == 0) {
		pid_t parent = getpid(), child = fork();
		if (child < 0) {
			perror("fork");
			return 2;
		}
		if (child == 0) {
			while (getppid() == parent) usleep(1000);
			usleep(100000);
			raise(SIGTSTP);
			say("child not stopped");
			_exit(0);
		}
		say("parent exits");
		return 0;
	}
	pid_t child = fork();
	if (child < 0) {
		perror("fork");
		return 2;
	}
	if (child == 0) {
		signal(SIGHUP, hup);
		raise(SIGSTOP);
		sleep(30);
		say("child not hung up");
		_exit(1);
	}
	// Stopped: waited for as a parent does, which hears of the stop once
	// the child's whole group has stopped. (Polling /proc for the state
	// 't' was not enough under ptrace: a new task reads 't' while its
	// tracer looks at it, before it has run at all.)
	int st;
	if (waitpid(child, &st, WUNTRACED) != child || !WIFSTOPPED(st)) {
		perror("waitpid");
		return 2;
	}
	const char *pf = getenv("ORPHANSTOP_PID");
	if (pf) {
		FILE *f = fopen(pf, "w");
		if (f) {
			fprintf(f, "%d\n", child);
			fclose(f);
		}
	}
	say("parent exits");
	return 0;
}
