// pidreuse: the first process forks a child and exits with status 3;
// the child waits until the first process's pid is free (reaped), then
// makes a process of its own get that pid (through
// /proc/sys/kernel/ns_last_pid, which needs CAP_SYS_ADMIN or
// CAP_CHECKPOINT_RESTORE), which exits 0. The run's status is the first
// process's, 3, whatever a later process with the same pid does.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
	setvbuf(stdout, 0, _IONBF, 0);
	pid_t first = getpid();
	pid_t c = fork();
	if (c < 0) {
		perror("fork");
		return 1;
	}
	if (c > 0)
		return 3;
	for (int try = 0; try < 5000; try++) {
		int fd = open("/proc/sys/kernel/ns_last_pid", O_WRONLY);
		if (fd < 0) {
			printf("open ns_last_pid: %s\n", strerror(errno));
			return 1;
		}
		char b[32];
		int n = snprintf(b, sizeof b, "%d", first - 1);
		if (write(fd, b, n) != n) {
			printf("write ns_last_pid: %s\n", strerror(errno));
			return 1;
		}
		close(fd);
		pid_t g = fork();
		if (g == 0)
			_exit(0);
		if (g < 0) {
			printf("fork: %s\n", strerror(errno));
			return 1;
		}
		waitpid(g, 0, 0);
		if (g == first) {
			printf("pid %d reused\n", first);
			return 0;
		}
		usleep(1000); // (the first process is not reaped yet, or another took the pid)
	}
	printf("pid %d not reused\n", first);
	return 0;
}
