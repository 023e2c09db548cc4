// libother: a library of the program's own, not an owner: evil_map maps
// where it likes with a raw system call.
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>

long evil_map(long addr, long len) {
	long ret;
	register long r10 __asm__("r10") = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
	register long r8 __asm__("r8") = -1;
	register long r9 __asm__("r9") = 0;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"((long)SYS_mmap), "D"(addr), "S"(len), "d"((long)(PROT_READ | PROT_WRITE | PROT_EXEC)), "r"(r10),
	                   "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}
