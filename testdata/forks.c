// forks: vfork+exec, and fork of a process that has a MADV_DONTFORK
// mapping inside the protected range: the child must see a reservation
// there, not a hole. argv[1] is a program for the vfork child to run.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define ADDR 0x30000000UL

int main(int argc, char **argv) {
	pid_t pid = vfork();
	if (pid == 0) {
		execl(argv[1], argv[1], (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("FAIL: vfork child status %#x\n", st);
		return 1;
	}
	char *p = mmap((void *)ADDR, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p != (char *)ADDR) { printf("FAIL: MAP_FIXED: %s\n", strerror(errno)); return 1; }
	if (madvise(p, 4096, MADV_DONTFORK) != 0) { printf("FAIL: madvise: %s\n", strerror(errno)); return 1; }
	pid = fork();
	if (pid == 0) {
		FILE *m = fopen("/proc/self/maps", "r");
		char line[512];
		int hole = 1;
		while (fgets(line, sizeof line, m)) {
			unsigned long s, e;
			if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s <= ADDR && ADDR < e) {
				hole = 0;
				if (strncmp(line + strcspn(line, " ") + 1, "---p", 4) != 0) {
					printf("FAIL: child has %s", line);
					_exit(1);
				}
			}
		}
		if (hole) { printf("FAIL: hole at %#lx in the child\n", ADDR); _exit(1); }
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("FAIL: fork child status %#x\n", st);
		return 1;
	}
	printf("forks ok\n");
	return 0;
}
