// attrib_fakelibc: a stand-in for libc, built as libc.so.6 in a
// directory of its own (with -nostdlib -Wl,-Bsymbolic, so its calls
// stay inside it), which attrib_prog dlopens. The attributor takes it
// for libc by its name and walks through its frames, so the tests can
// set up call chains real libc does not make:
//
//   fake_chain   pthread_create -> malloc -> mmap: two classifying
//                frames; the one nearest the call (malloc) must win.
//   fake_fatal   a call that is the last instruction of its function
//                (the callee does not return), so the return address
//                is the first byte of the next function: the unwinder
//                must look up the byte before it.
#include <sys/syscall.h>

void *volatile fake_sink;

__attribute__((noinline)) long mmap(long len) {
	register long r10 __asm__("r10") = 0x22; // MAP_PRIVATE|MAP_ANONYMOUS
	register long r8 __asm__("r8") = -1;
	register long r9 __asm__("r9") = 0;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(SYS_mmap), "D"(0), "S"(len), "d"(3), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}

__attribute__((noinline)) void *malloc(unsigned long n) {
	void *p = (void *)mmap((long)n);
	fake_sink = p;
	return p;
}

__attribute__((noinline)) long pthread_create(long n) {
	void *p = malloc((unsigned long)n);
	fake_sink = p;
	return (long)p;
}

long fake_chain(void) { return pthread_create(4096); }

__attribute__((noinline, noreturn)) static void fake_abort(void (*finish)(void)) {
	fake_sink = (void *)mmap(4096);
	finish();
	__builtin_unreachable();
}

__attribute__((noinline)) void fake_fatal(void (*finish)(void)) { fake_abort(finish); }

// Right after fake_fatal in the text, with a different frame: a
// lookup at the return address itself finds this function's CFI.
__attribute__((noinline)) long fake_after(long a, long b, long c, long d, long e, long f) {
	volatile long v[4] = {a, b, c, d};
	fake_sink = (void *)(v[0] + v[3] + e + f);
	return v[1];
}
