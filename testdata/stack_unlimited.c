// stack_unlimited: sets RLIMIT_STACK to unlimited, which gives the
// programs it execs the legacy layout (mappings bottom-up from a third of
// the address space: for an i386 program 0x40000000, less a random
// offset), then execs argv[1] with the rest of the arguments.
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: stack_unlimited PROGRAM [ARG...]\n");
		return 2;
	}
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	if (setrlimit(RLIMIT_STACK, &rl) != 0) {
		perror("setrlimit");
		return 2;
	}
	execv(argv[1], argv + 1);
	perror("exec");
	return 127;
}
