// dontfork_remap: a mapping in the protected range marked MADV_DONTFORK
// is replaced by a new MAP_FIXED mapping, which the kernel does not mark;
// the program forks, and the child must find the new mapping (the guard
// must not take its place for a DONTFORK hole).
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	char *a = mmap((void *)0x40000000, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (a == MAP_FAILED || madvise(a, 65536, MADV_DONTFORK) != 0) return 2;
	char *b = mmap(a, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (b != a) return 3;
	strcpy(b, "inherited");
	pid_t c = fork();
	if (c == 0) {
		printf("child sees: %s\n", b);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("child status: %d\n", st);
	return 0;
}
