// startstop: starts a command (mmapguard run ... -- PROGRAM) TRIES
// times and, at a random moment of the program's first 2.5 ms (or of
// its first $STARTSTOP_US microseconds):
//
//	pid    sends the program (the command's child) SIGSTOP, and looks
//	       100 ms later whether it is stopped, as it always is
//	       natively; then continues it: the command must then end
//	       within 5 s;
//	group  sends the command's process group (its own) SIGSTOP
//	       (kill -STOP -PGID), and 100 ms later SIGCONT, as fg does:
//	       the command must then end by itself, with status 0, within
//	       5 s;
//	pair   sends the program SIGSTOP and, at a random moment of the
//	       next 300 us, SIGCONT (kill -STOP PID; kill -CONT PID): the
//	       command must then end by itself, with status 0, within 5 s.
//
// Prints "N of TRIES stops lost" (pid) or "N of TRIES hung" (group,
// pair).
//
// usage: startstop TRIES pid|group|pair COMMAND...
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

// ended waits up to us microseconds for child c to end, with its wait
// status in *st; 0 if it has not ended.
static int ended(pid_t c, long us, int *st) {
	pid_t w = 0;
	for (long t0 = now_us(); (w = waitpid(c, st, WNOHANG)) == 0 && now_us() - t0 < us;)
		usleep(1000);
	return w == c;
}

int main(int argc, char **argv) {
	if (argc < 4 || (strcmp(argv[2], "pid") && strcmp(argv[2], "group") && strcmp(argv[2], "pair"))) {
		fprintf(stderr, "usage: %s TRIES pid|group|pair COMMAND...\n", argv[0]);
		return 2;
	}
	int tries = atoi(argv[1]), group = !strcmp(argv[2], "group"), pair = !strcmp(argv[2], "pair"), bad = 0;
	long window = getenv("STARTSTOP_US") ? atol(getenv("STARTSTOP_US")) : 2500;
	if (window <= 0)
		window = 2500;
	srand(getpid());
	for (int i = 0; i < tries; i++) {
		pid_t c = fork();
		if (c == 0) {
			if (group)
				setpgid(0, 0);
			execvp(argv[3], argv + 3);
			_exit(127);
		}
		if (group)
			setpgid(c, c);
		int prog = 0;
		for (long t0 = now_us(); !(prog = child(c)) && now_us() - t0 < 5000000;)
			;
		if (!prog) {
			printf("try %d: the command started no program\n", i);
			return 1;
		}
		long d = rand() % window;
		for (long t0 = now_us(); now_us() - t0 < d;)
			;
		if (pair) {
			long g = rand() % 300;
			kill(prog, SIGSTOP);
			for (long t0 = now_us(); now_us() - t0 < g;)
				;
			kill(prog, SIGCONT);
			int st = 0;
			if (!ended(c, 5000000, &st)) {
				bad++;
				printf("try %d: %ld us after the start, SIGCONT %ld us after SIGSTOP, the command has not ended 5 s after\n", i, d, g);
				kill(c, SIGKILL);
				kill(prog, SIGKILL);
				waitpid(c, &st, 0);
			} else if (st != 0) {
				bad++;
				printf("try %d: %ld us after the start, SIGCONT %ld us after SIGSTOP, the command ended with status %#x\n", i, d, g, st);
			}
			continue;
		}
		if (!group) {
			kill(prog, SIGSTOP);
			usleep(100000);
			char s = state(prog);
			int lost = 0;
			if (s != 'T' && s != 't') {
				lost = 1;
				printf("try %d: %ld us after the start, the program is in state %c\n", i, d, s);
			}
			kill(prog, SIGCONT);
			int st = 0;
			if (!ended(c, 5000000, &st)) {
				lost = 1;
				printf("try %d: %ld us after the start, the command has not ended 5 s after SIGCONT\n", i, d);
				kill(c, SIGKILL);
				waitpid(c, 0, 0);
			}
			bad += lost;
			continue;
		}
		kill(-c, SIGSTOP);
		usleep(100000);
		kill(-c, SIGCONT);
		int st = 0;
		if (!ended(c, 5000000, &st)) {
			bad++;
			printf("try %d: %ld us after the start, the command has not ended 5 s after SIGCONT\n", i, d);
			kill(-c, SIGKILL);
			waitpid(c, &st, 0);
		} else if (st != 0) {
			bad++;
			printf("try %d: %ld us after the start, the command ended with status %#x\n", i, d, st);
		}
	}
	printf("%d of %d %s\n", bad, tries, group || pair ? "hung" : "stops lost");
	return 0;
}
