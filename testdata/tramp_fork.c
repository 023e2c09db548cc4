// tramp_fork: a signal handler that forks, run at the very moment a
// one-stop rewrite returns into the guard's code page (the test has the
// guard send SIGUSR1 with each such rewrite, so it is pending when the
// call returns). The handler's child returns from the handler into the
// code page, as its parent does, and must see its call end as natively:
// each call below, an mmap with a hint inside the protected range, once
// anonymous (it succeeds; the carry path) and once from a bad descriptor
// (EBADF, which the code page reports to the guard; the frame path).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "warm.h"
#include <sys/wait.h>
#include <unistd.h>

static volatile int in_child;
static int bad_children, handled;

static void onusr1(int sig) {
	(void)sig;
	int e = errno;
	handled++;
	pid_t p = fork();
	if (p == 0) {
		in_child = 1;
		errno = e;
		return;
	}
	int st;
	if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad_children++;
	errno = e;
}

// on_stack runs mmap(0x30000000, 4096, PROT_READ, flags, fd, 0) with the
// stack pointer at sp, and returns its result (or -errno).
long on_stack(unsigned long sp, unsigned long fd, unsigned long flags);
__asm__(".text\n"
        "on_stack:\n"
        "  push %r12\n"
        "  mov %rsp, %r12\n"
        "  mov %rdi, %rsp\n"
        "  mov %rdx, %r10\n"
        "  mov %rsi, %r8\n"
        "  mov $0x30000000, %edi\n"
        "  mov $4096, %esi\n"
        "  mov $1, %edx\n"
        "  xor %r9d, %r9d\n"
        "  mov $9, %eax\n"
        "  syscall\n"
        "  mov %r12, %rsp\n"
        "  pop %r12\n"
        "  ret\n");

int main(void) {
	warm_code_page();
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = {0};
	sa.sa_handler = onusr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	char *stack = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stack == MAP_FAILED) return 2;
	int bad = 0;
	for (int i = 0; i < 8; i++) {
		int anon = i & 1;
		unsigned long sp = (unsigned long)stack + 2 * 4096 + ((i & 2) ? 64 : 2048);
		long r = on_stack(sp, anon ? -1UL : 12345, anon ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_PRIVATE);
		int ok = anon ? (r > 0 || r < -4095) : r == -EBADF;
		if (in_child) _exit(ok ? 0 : 3);
		if (!ok) bad++;
		// The munmap of a pool chunk is a one-stop rewrite too.
		if (anon && (r > 0 || r < -4095)) munmap((void *)r, 4096);
		if (in_child) _exit(0);
	}
	printf("handled %d, bad results %d, bad children %d\n", handled, bad, bad_children);
	return 0;
}
