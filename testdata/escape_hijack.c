// escape_hijack: a hostile program tries to run its own code while the
// guard believes it runs one of the guard's calls, so that its next
// trapped call passes as the guard's.
//
//   1. It makes an anonymous mmap with a hint inside the protected range
//      (moved into the pool, one stop) from a syscall instruction in a
//      page P of its own that it can write, with its stack pointer at S:
//      on the carry path (fd -1) or the frame path (fd 0).
//   2. It writes over P: a jump to its own code E.
//   3. It fakes the end of that call, so that the guard, believing the
//      call failed or was restarted, puts the pool's reservation back by
//      running a call from the program's syscall instruction (P):
//        carry-restart  a jump to the ud2 before an entry (a restart)
//        carry-report   the carry code's failure report
//        frame-report   the frame code's failure report
//        gone           carry-restart with P unmapped first
//   4. E makes mmap(0x50000000, 4096, RW, MAP_FIXED|MAP_PRIVATE|MAP_ANONYMOUS),
//      which --strict refuses.
//
// argv: mode, the code page's address, and the offset in it to jump to.
// Prints "evil call = R" if E's call ran. Under the guard it must not:
// the process is killed (fail closed).
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "warm.h"

unsigned long saved_rsp, evil_ran;
long evil_ret;
long first_call(void *stub, unsigned long sp, long fd);
void fake(unsigned long target, unsigned long sp, long result);
__asm__(".text\n"
        // first_call(stub, sp, fd): mmap(0x30000000, 4096, RW,
        // PRIVATE|ANON, fd, 0) from the syscall at stub, on the stack sp;
        // the stub jumps back through r13.
        "first_call:\n"
        "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
        "  mov %rsp, saved_rsp(%rip)\n"
        "  mov %rdi, %r12\n"
        "  lea 1f(%rip), %r13\n"
        "  mov %rsi, %rsp\n"
        "  mov %rdx, %r8\n"
        "  mov $0x30000000, %edi\n"
        "  mov $4096, %esi\n"
        "  mov $3, %edx\n"
        "  mov $0x22, %r10d\n"
        "  xor %r9d, %r9d\n"
        "  mov $9, %eax\n"
        "  jmp *%r12\n"
        "1:\n"
        "  mov saved_rsp(%rip), %rsp\n"
        "  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
        "  ret\n"
        // fake(target, sp, result): jump to target with that stack
        // pointer and the result where either code has it (rax, rdi);
        // r15 points at evil.
        "fake:\n"
        "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
        "  mov %rsp, saved_rsp(%rip)\n"
        "  lea evil(%rip), %r15\n"
        "  mov %rdi, %r11\n"
        "  mov %rsi, %rsp\n"
        "  mov %rdx, %rax\n"
        "  mov %rdx, %rdi\n"
        "  jmp *%r11\n"
        // evil: the call to smuggle, once.
        "evil:\n"
        "  cmpq $0, evil_ran(%rip)\n"
        "  jne 2f\n"
        "  movq $1, evil_ran(%rip)\n"
        "  mov $0x50000000, %edi\n"
        "  mov $4096, %esi\n"
        "  mov $3, %edx\n"
        "  mov $0x32, %r10d\n"
        "  mov $-1, %r8\n"
        "  xor %r9d, %r9d\n"
        "  mov $9, %eax\n"
        "  syscall\n"
        "  mov %rax, evil_ret(%rip)\n"
        "2:\n"
        "  mov saved_rsp(%rip), %rsp\n"
        "  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
        "  ret\n");

int main(int argc, char **argv) {
	warm_code_page();
	if (argc != 4) {
		fprintf(stderr, "usage: escape_hijack MODE CODE-PAGE OFFSET\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *mode = argv[1];
	unsigned long target = strtoul(argv[2], NULL, 0) + strtoul(argv[3], NULL, 0);
	unsigned char *stub = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stub == MAP_FAILED || stack == MAP_FAILED) return 2;
	int frame = strcmp(mode, "frame-report") == 0;
	unsigned long sp = (unsigned long)stack + 32768 + 1024;
	memcpy(stub, "\x0f\x05\x41\xff\xe5", 5); // syscall; jmp *%r13
	long r = first_call(stub, sp, frame ? 0 : -1);
	printf("first call = %#lx\n", r);
	memcpy(stub, "\xeb\x00\x41\xff\xe7", 5); // jmp .+2; jmp *%r15
	if (strcmp(mode, "carry-restart") == 0)
		fake(target, sp, 0);
	else if (strcmp(mode, "gone") == 0) {
		munmap(stub, 4096);
		fake(target, sp, 0);
	} else if (strcmp(mode, "carry-report") == 0)
		fake(target, sp, -12);
	else if (frame)
		fake(target, sp - 128 - 64, -12);
	else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	if (evil_ran) printf("evil call = %#lx\n", evil_ret);
	printf("the program went on\n");
	return 0;
}
