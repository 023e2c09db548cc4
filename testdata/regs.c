// regs: what the guard does to a trapped call must leave the registers
// as the kernel's system call convention promises: everything but rax,
// rcx (the address after the syscall instruction) and r11 (the flags)
// as it was, including the argument registers, the stack pointer and the
// flags. Each case makes one raw system call with a known value in every
// register and prints every register after it (rax as the kind of
// result). The test compares the lines natively and under the guard:
// they must be the same, whatever the guard does to the call (rewritten
// into the pool, rewritten and failing, answered without the kernel...).
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct regs {
	unsigned long rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8, r9, r10, r11, r12, r13, r14, r15, flags;
};

struct regs in, out;
unsigned long saved_rsp, after_addr;

// regcall makes the system call described by `in` with every register
// loaded from it (flags too), and stores every register after it in
// `out`.
void regcall(void);
__asm__(".text\n"
        ".globl regcall\n"
        "regcall:\n"
        "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
        "  mov %rsp, saved_rsp(%rip)\n"
        "  push in+128(%rip)\n" // flags
        "  popfq\n"
        "  mov in+8(%rip), %rbx\n"
        "  mov in+24(%rip), %rdx\n"
        "  mov in+32(%rip), %rsi\n"
        "  mov in+40(%rip), %rdi\n"
        "  mov in+48(%rip), %rbp\n"
        "  mov in+64(%rip), %r8\n"
        "  mov in+72(%rip), %r9\n"
        "  mov in+80(%rip), %r10\n"
        "  mov in+96(%rip), %r12\n"
        "  mov in+104(%rip), %r13\n"
        "  mov in+112(%rip), %r14\n"
        "  mov in+120(%rip), %r15\n"
        "  mov in+0(%rip), %rax\n"
        "  syscall\n"
        "regcall_after:\n"
        "  mov %rax, out+0(%rip)\n"
        "  mov %rbx, out+8(%rip)\n"
        "  mov %rcx, out+16(%rip)\n"
        "  mov %rdx, out+24(%rip)\n"
        "  mov %rsi, out+32(%rip)\n"
        "  mov %rdi, out+40(%rip)\n"
        "  mov %rbp, out+48(%rip)\n"
        "  mov %rsp, out+56(%rip)\n"
        "  mov %r8, out+64(%rip)\n"
        "  mov %r9, out+72(%rip)\n"
        "  mov %r10, out+80(%rip)\n"
        "  mov %r11, out+88(%rip)\n"
        "  mov %r12, out+96(%rip)\n"
        "  mov %r13, out+104(%rip)\n"
        "  mov %r14, out+112(%rip)\n"
        "  mov %r15, out+120(%rip)\n"
        "  pushfq\n"
        "  pop out+128(%rip)\n"
        "  cld\n"
        "  mov saved_rsp(%rip), %rsp\n"
        "  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n"
        "  ret\n"
        ".globl regcall_after\n");
extern char regcall_after[];

// The flags each call starts with: CF, PF, AF, ZF, SF, DF, OF and the
// reserved bit 1.
#define FLAGS 0xcd7UL

static void run(const char *name, unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3,
                unsigned long a4, unsigned long a5, unsigned long a6) {
	memset(&in, 0, sizeof in);
	in.rax = nr;
	in.rdi = a1, in.rsi = a2, in.rdx = a3, in.r10 = a4, in.r8 = a5, in.r9 = a6;
	in.rbx = 0x1111111111111111UL, in.rbp = 0x2222222222222222UL, in.r12 = 0x3333333333333333UL;
	in.r13 = 0x4444444444444444UL, in.r14 = 0x5555555555555555UL, in.r15 = 0x6666666666666666UL;
	in.flags = FLAGS;
	regcall();
	long r = (long)out.rax;
	char kind[64];
	if (r < 0 && r >= -4095)
		snprintf(kind, sizeof kind, "error %ld", -r);
	else if (nr == SYS_mmap)
		snprintf(kind, sizeof kind, "an address");
	else
		snprintf(kind, sizeof kind, "%#lx", out.rax);
	// The stack pointer is given relative to where it was before the
	// call, rcx relative to the instruction after the syscall, r11
	// against the flags.
	printf("%s: rax=%s rbx=%lx rcx=%s rdx=%lx rsi=%lx rdi=%lx rbp=%lx rsp%+ld r8=%lx r9=%lx r10=%lx r11=%s "
	       "r12=%lx r13=%lx r14=%lx r15=%lx flags=%lx\n",
	       name, kind, out.rbx, out.rcx == (unsigned long)regcall_after ? "after-syscall" : "OTHER", out.rdx,
	       out.rsi, out.rdi, out.rbp, (long)(out.rsp - (saved_rsp)), out.r8, out.r9, out.r10,
	       out.r11 == out.flags ? "flags" : "OTHER", out.r12, out.r13, out.r14, out.r15, out.flags & 0xcd7UL);
	if (r >= 0 && nr == SYS_mmap) munmap((void *)r, a2);
}

int main(void) {
	const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;
	setvbuf(stdout, NULL, _IOLBF, 0);
	// A hint inside the protected range: moved into the pool.
	run("mmap-hint-inside", SYS_mmap, 0x30000000, 3 * 4096, RW, ANON, -1UL, 0);
	// The same with a descriptor that is not open: the rewritten call
	// fails (EBADF), and the guard must take back what it assumed.
	run("mmap-hint-inside-ebadf", SYS_mmap, 0x30000000, 4096, PROT_READ, MAP_PRIVATE, 12345, 0);
	// ... and the next one gets the same pool space.
	run("mmap-hint-inside-again", SYS_mmap, 0x30000000, 4096, RW, ANON, -1UL, 0);
	// The program's own mapping inside the range (asked for at that
	// address), then unmapped: the guard maps a reservation over it and
	// answers 0.
	void *p = mmap((void *)0x31000000, 2 * 4096, RW, ANON | MAP_FIXED, -1, 0);
	if (p != (void *)0x31000000) {
		printf("setup: mmap MAP_FIXED: %p\n", p);
		return 1;
	}
	run("munmap-own-inside", SYS_munmap, 0x31000000, 2 * 4096, 0x77, 0x88, 0x99, 0xaa);
	// Answered without the kernel: mprotect of a reservation (natively
	// nothing is mapped there: ENOMEM too).
	run("mprotect-reservation", SYS_mprotect, 0x32000000, 4096, RW, 0x88, 0x99, 0xaa);
	// Not trapped at all.
	run("mmap-null", SYS_mmap, 0, 4096, RW, ANON, -1UL, 0);
	run("getuid", SYS_getuid, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66);
	return 0;
}
