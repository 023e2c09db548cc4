// attrib_wrap: a stand-in for a system call wrapper library whose
// wrapper is not a leaf: it keeps locals on the stack, so at its syscall
// instruction the word at rsp is not the return address. The tests
// build it twice: with unwind tables and without a frame pointer (the
// unwinder must use .eh_frame), and without unwind tables but with a
// frame pointer (it must follow rbp).
#include <sys/syscall.h>

// A call makes wrap_mmap a non-leaf with a stack frame of its own.
__attribute__((noinline)) static void clear(volatile long *p, int n) {
	for (int i = 0; i < n; i++) p[i] = 0; // no stale return address on the stack
}

long wrap_mmap(long a1, long a2, long a3, long a4, long a5, long a6) {
	volatile long locals[8];
	clear(locals, 8);
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(SYS_mmap), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	locals[0] = ret;
	return locals[0];
}
