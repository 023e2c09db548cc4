// orphanstop: leaves a stopped child behind, as `sh -c 'sleep 100 &
// kill -STOP $!'` or a background job stopped by SIGTTIN does. The child
// stops itself with SIGSTOP; once it has, the program prints "parent
// exits" and ends (exit 0). Run in a process group of its own whose
// parent is in another group of the same session (a shell's job), its
// group becomes orphaned then, with a stopped member: the kernel sends
// that group SIGHUP and SIGCONT, and the child's SIGHUP handler prints
// "child got SIGHUP" and ends it (exit 0). "child not hung up" (exit 1)
// if neither comes within 30 seconds. With ORPHANSTOP_PID set, the
// child's pid is written to that file once it has stopped.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "say.h"

static void hup(int sig) {
	(void)sig;
	say("child got SIGHUP");
	_exit(0);
}

static char state(pid_t pid) {
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f) return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

int main(void) {
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
	// Stopped: T natively, t (a group-stop under ptrace) traced.
	for (int i = 0; i < 3000 && state(child) != 'T' && state(child) != 't'; i++)
		usleep(10000);
	const char *pf = getenv("ORPHANSTOP_PID");
	if (pf) {
		FILE *f = fopen(pf, "w");
		if (f) {
			fprintf(f, "%d\n", child);
			fclose(f);
		}
	}
	usleep(200000);
	say("parent exits");
	return 0;
}
