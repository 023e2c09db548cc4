// escape_clonevm: a process that shares the program's memory without
// being a thread of it (clone with CLONE_VM and SIGCHLD, which ptrace
// reports as a fork), made with garbage in the upper half of rax (the
// kernel runs the call named by the low 32 bits) by a program that made
// itself not dumpable (kcmp then refuses an unprivileged tracer). Built
// with -no-pie: its .bss lies inside the range. The child unmaps a page
// of that .bss, which the guard must turn into a reservation; the parent
// then asks mprotect to make the page read-write: unmapped memory to the
// program, that must fail with ENOMEM and leave the reservation in
// place. A guard that took the child for a forked copy kept two models
// of one address space: the parent's still had the page as its own, and
// let the mprotect turn the reservation into read-write memory.
#include "escape.h"

#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>

static char bss[6 * PAGE] __attribute__((aligned(4096)));
static char cstack[65536] __attribute__((aligned(16)));

// clone_vm_unmap makes clone(CLONE_VM|SIGCHLD) with number nr (56 in its
// low 32 bits) in raw assembly: the child shares the parent's memory,
// stack area included, so it runs only system calls on a stack of its
// own, munmap(page, PAGE) and exit(0). It returns the child's pid.
static long clone_vm_unmap(unsigned long nr, unsigned long page) {
	long ret;
	register long r10 asm("r10") = 0;
	register long r8 asm("r8") = 0;
	asm volatile("syscall\n"
	             "test %%rax, %%rax\n"
	             "jnz 1f\n"
	             "mov $11, %%eax\n"
	             "mov %[pg], %%rdi\n"
	             "mov $4096, %%esi\n"
	             "syscall\n"
	             "mov $60, %%eax\n"
	             "xor %%edi, %%edi\n"
	             "syscall\n"
	             "1:\n"
	             : "=a"(ret)
	             : "0"(nr), "D"((long)(CLONE_VM | SIGCHLD)), "S"(cstack + sizeof cstack), "d"(0), "r"(r10),
	               "r"(r8), [pg] "r"(page)
	             : "rcx", "r11", "memory");
	return ret;
}

static void attempt(const char *route, unsigned long nr, unsigned long page) {
	if (!in_range(page, PAGE)) {
		verdict(route, 0, ".bss page %#lx is not in the range: build with -no-pie", page);
		return;
	}
	long pid = clone_vm_unmap(nr, page);
	if (pid < 0) {
		verdict(route, 0, "clone(CLONE_VM|SIGCHLD) with rax %#lx: %s", nr, ename(-pid));
		return;
	}
	int st = 0;
	if (waitpid(pid, &st, __WALL) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		verdict(route, 0, "the child ended with status %#x", st);
		return;
	}
	int was = reserved(page, PAGE);
	if (!was) {
		verdict(route, 0, "after the child's munmap, %#lx is not a reservation", page);
		return;
	}
	long r = mprotect((void *)page, PAGE, PROT_READ | PROT_WRITE);
	int e = errno;
	if (r == 0) {
		((volatile char *)page)[0] = 1;
		verdict(route, 0, "mprotect(RW) of the page the child unmapped = 0: read-write memory in the range");
		return;
	}
	if (e != ENOMEM) {
		verdict(route, 0, "mprotect(RW) of the page the child unmapped: %s, want ENOMEM", ename(e));
		return;
	}
	still_reserved(route, page, PAGE, was, "mprotect(RW) of the page the child unmapped: ENOMEM");
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	// A program that is not dumpable keeps kcmp from an unprivileged
	// tracer (as uid 65534).
	if (prctl(PR_SET_DUMPABLE, 0) != 0) say("dumpable info: PR_SET_DUMPABLE: %s", ename(errno));
	unsigned long base = ((unsigned long)bss + PAGE - 1) & ~(PAGE - 1);
	attempt("clonevm-sigchld", SYS_clone, base + PAGE);
	attempt("clonevm-sigchld-rax-hi-garbage", (1UL << 32) | SYS_clone, base + 3 * PAGE);
	return finish();
}
