/* Leaves a daemon behind (a child in a session of its own, its pid
 * written to argv[1]) and exits 3 once the daemon is set up. With
 * "thread", the daemon's main thread leaves through pthread_exit and a
 * second thread keeps it running: the process's leader is a zombie with
 * a live thread, which a signal to the process still reaches (natively,
 * kill(2) ends it). The daemon runs until a signal ends it. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *sleeper(void *arg) {
	(void)arg;
	for (;;)
		pause();
	return 0;
}

int main(int argc, char **argv) {
	int p[2];
	if (argc < 2 || pipe(p) != 0)
		return 1;
	int thread = argc > 2 && strcmp(argv[2], "thread") == 0;
	pid_t c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		close(p[0]);
		setsid();
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0), dup2(null, 1), dup2(null, 2);
		if (thread) {
			pthread_t t;
			if (pthread_create(&t, 0, sleeper, 0) != 0)
				return 1;
		}
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dprintf(fd, "%d\n", getpid());
		close(fd);
		rename(tmp, argv[1]);
		close(p[1]);
		if (thread)
			pthread_exit(0);
		for (;;)
			pause();
	}
	close(p[1]);
	char b;
	(void)read(p[0], &b, 1); /* EOF: the daemon is set up */
	return 3;
}
