// int80_after: a 64-bit program makes an i386 mmap2 through int $0x80,
// MAP_FIXED over a reservation in the protected range, from a bad
// descriptor: it fails (EBADF), and the guard puts its reservation back
// afterwards by running a call of its own from the program's int $0x80.
// Prints the result and goes on.
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>

static unsigned long int80(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4,
                           unsigned long a5, unsigned long a6) {
	unsigned long ret;
	__asm__ volatile("mov %%rbp, %%r12\n\tmov %[a6], %%rbp\n\tint $0x80\n\tmov %%r12, %%rbp"
	                 : "=a"(ret)
	                 : "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4), "D"(a5), [a6] "r"(a6)
	                 : "memory", "cc", "r8", "r9", "r10", "r11", "r12");
	return ret;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	long r = (int)int80(192, 0x31000000, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, 12345, 0);
	printf("mmap2 = %ld\n", r);
	printf("went on\n");
	return 0;
}
