// attrib_lib: a shared object the attrib_prog fixture dlopens: one
// function maps memory through libc, one with its own syscall
// instruction.
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>

void *volatile lib_sink;

__attribute__((noinline)) long lib_map(void) {
	void *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lib_sink = p;
	return (long)p;
}

__attribute__((noinline)) long lib_raw(void) {
	register long r10 __asm__("r10") = MAP_PRIVATE | MAP_ANONYMOUS;
	register long r8 __asm__("r8") = -1;
	register long r9 __asm__("r9") = 0;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(SYS_mmap), "D"(0), "S"(4096), "d"(PROT_READ | PROT_WRITE), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	lib_sink = (void *)ret;
	return ret;
}
