// exec32: built for i386 (-m32) and exec'd by a 64-bit process under a
// guard whose ranges all lie above 4 GiB: nothing is reserved in it, and
// it must run from its first instruction as without the guard (the guard
// wrote its syscall instruction over the entry point and left it there,
// found by the ninth-session helper: the program died of SIGSEGV).
#include <stdio.h>

int main(int argc, char **argv) {
	printf("exec32 ran with %d arguments\n", argc);
	return 3;
}
