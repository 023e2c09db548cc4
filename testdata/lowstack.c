// lowstack: a call the guard rewrites, made with the stack pointer where
// nothing can be written just below it:
//   guard     64 bytes above a PROT_NONE guard page (as near the bottom of
//             a small thread or signal stack);
//   readonly  200 bytes into a read-only page (a stack pointer used for
//             something else than a stack).
// The guard must not write there: its one-stop frame would go below the
// 128-byte red zone, so it takes the two-stop way; its carry code writes
// nothing. Prints where the mapping went, then r11 and the flags after
// the call (a syscall leaves the flags in r11) and SIGSEGV's state, which
// a fault the program does not see would change.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "warm.h"

unsigned long out_r11, out_flags;
long lowcall(unsigned long sp, unsigned long addr, unsigned long len);
// mmap(addr, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
// on the stack sp; r11 and the flags after it go to out_r11 and
// out_flags (read once back on the real stack).
__asm__(".text\n"
        "lowcall:\n"
        "  push %r12\n"
        "  mov %rsp, %r12\n"
        "  mov %rdi, %rsp\n"
        "  mov %rsi, %rdi\n"
        "  mov %rdx, %rsi\n"
        "  mov $3, %edx\n"
        "  mov $0x22, %r10d\n"
        "  mov $-1, %r8\n"
        "  xor %r9d, %r9d\n"
        "  mov $9, %eax\n"
        "  syscall\n"
        "  mov %r12, %rsp\n"
        "  pushfq\n"
        "  pop %rcx\n"
        "  mov %rcx, out_flags(%rip)\n"
        "  mov %r11, out_r11(%rip)\n"
        "  pop %r12\n"
        "  ret\n");

static void onsegv(int sig) { (void)sig; }

int main(int argc, char **argv) {
	warm_code_page();
	int readonly = argc > 1 && strcmp(argv[1], "readonly") == 0;
	// A handler, blocked: a fault the program sees would reset both.
	signal(SIGSEGV, onsegv);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	sigprocmask(SIG_BLOCK, &set, NULL);
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) return 2;
	unsigned long sp;
	if (readonly) {
		if (mprotect(m + 4096, 4096, PROT_READ) != 0) return 2;
		sp = (unsigned long)m + 4096 + 200;
	} else {
		if (mprotect(m, 4096, PROT_NONE) != 0) return 2;
		sp = (unsigned long)m + 4096 + 64;
	}
	long r = lowcall(sp, 0x30000000, 4096);
	int inside = r >= 0x10000 && r < 0x80000000L;
	printf("mmap = %s %s\n", r < 0 && r > -4096 ? "error" : "an address", inside ? "INSIDE the range" : "outside the range");
	struct sigaction sa;
	sigaction(SIGSEGV, NULL, &sa);
	sigprocmask(SIG_BLOCK, NULL, &set);
	printf("r11 %s, flags %#lx, SIGSEGV %s, %s\n", out_r11 == out_flags ? "= flags" : "!= flags", out_flags & 0xcd5,
	       sa.sa_handler == onsegv ? "handled" : "not handled", sigismember(&set, SIGSEGV) ? "blocked" : "not blocked");
	return 0;
}
