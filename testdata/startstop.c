// startstop: starts a command (mmapguard run ... -- PROGRAM) TRIES
// times, sends the program (the command's child) SIGSTOP at a random
// moment of its first 2.5 ms, and looks 100 ms later whether it is
// stopped, as it always is natively; then continues it and waits for
// the command. Prints "N of TRIES stops lost".
//
// usage: startstop TRIES COMMAND...
#define _GNU_SOURCE
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_us(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

// child returns a child of process pid (made by any of its threads), 0
// if none yet.
static int child(int pid) {
	char p[64];
	snprintf(p, sizeof p, "/proc/%d/task", pid);
	DIR *d = opendir(p);
	struct dirent *e;
	int c = 0;
	while (d && !c && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char q[300];
		snprintf(q, sizeof q, "/proc/%d/task/%s/children", pid, e->d_name);
		FILE *f = fopen(q, "r");
		if (f) {
			if (fscanf(f, "%d", &c) != 1)
				c = 0;
			fclose(f);
		}
	}
	if (d)
		closedir(d);
	return c;
}

static char state(int pid) {
	char p[64], b[512];
	snprintf(p, sizeof p, "/proc/%d/stat", pid);
	FILE *f = fopen(p, "r");
	if (!f)
		return '?';
	char *q = fgets(b, sizeof b, f) ? strrchr(b, ')') : 0;
	fclose(f);
	return q ? q[2] : '?';
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: %s TRIES COMMAND...\n", argv[0]);
		return 2;
	}
	int tries = atoi(argv[1]), lost = 0;
	srand(getpid());
	for (int i = 0; i < tries; i++) {
		pid_t c = fork();
		if (c == 0) {
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		int prog = 0;
		for (long t0 = now_us(); !(prog = child(c)) && now_us() - t0 < 5000000;)
			;
		if (!prog) {
			printf("try %d: the command started no program\n", i);
			return 1;
		}
		long d = rand() % 2500;
		for (long t0 = now_us(); now_us() - t0 < d;)
			;
		kill(prog, SIGSTOP);
		usleep(100000);
		char s = state(prog);
		if (s != 'T' && s != 't') {
			lost++;
			printf("try %d: %ld us after the start, the program is in state %c\n", i, d, s);
		}
		kill(prog, SIGCONT);
		waitpid(c, 0, 0);
	}
	printf("%d of %d stops lost\n", lost, tries);
	return 0;
}
