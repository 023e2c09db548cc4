// lowstack: a call the guard rewrites, made with the stack pointer 64
// bytes above a PROT_NONE guard page (as near the bottom of a small
// thread or signal stack). The guard cannot put its one-stop frame
// there (it goes below the 128-byte red zone); it must take the
// two-stop way, not write into the guard page.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

long lowcall(unsigned long sp, unsigned long addr, unsigned long len);
// mmap(addr, len, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
// on the stack sp.
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
        "  pop %r12\n"
        "  ret\n");

int main(void) {
	char *m = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || mprotect(m, 4096, PROT_NONE) != 0) return 2;
	unsigned long sp = (unsigned long)m + 4096 + 64;
	long r = lowcall(sp, 0x30000000, 4096);
	int inside = r >= 0x10000 && r < 0x80000000L;
	printf("mmap = %s %s\n", r < 0 && r > -4096 ? "error" : "an address", inside ? "INSIDE the range" : "outside the range");
	return 0;
}
