// fixed_interp: a program interpreter (PT_INTERP) linked at fixed
// addresses (ET_EXEC, static, no C library), built with
// -Wl,-Ttext-segment=0x20000000 so that the kernel maps it inside the
// protected range at the exec, at the addresses its headers give, as it
// maps a non-PIE image. It prints one line and exits 0.
#include <sys/syscall.h>

static long sys3(long n, long a, long b, long c) {
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

void _start(void) {
	static const char msg[] = "fixed interpreter ran\n";
	sys3(SYS_write, 1, (long)msg, sizeof msg - 1);
	sys3(SYS_exit_group, 0, 0, 0);
	for (;;) {
	}
}
