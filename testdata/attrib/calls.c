// calls: one of each kind of caller, run under the tracer with every
// mapping call trapped, for the attribution test. Each kind is marked by
// its length so the test can find its event:
//   0x11000  syscall(SYS_mmap, ...) from main          -> program
//   0x12000  an inline syscall instruction in main      -> program, site in the program
//   0x13000  mmap from JIT code in an anonymous page    -> jit
//   malloc(40 MiB) in 3 threads                         -> malloc (arenas, large chunks)
//   pthread_create                                      -> thread-stack
//   dlopen(argv[1])                                     -> loader
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *worker(void *arg) {
	(void)arg;
	void *p = malloc(40 << 20);
	if (p) memset(p, 1, 4096);
	free(p);
	void *q = malloc(100);
	free(q);
	return NULL;
}

int main(int argc, char **argv) {
	void *a = (void *)syscall(SYS_mmap, 0, 0x11000, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long r;
	register long r10 asm("r10") = MAP_PRIVATE | MAP_ANONYMOUS;
	register long r8 asm("r8") = -1;
	register long r9 asm("r9") = 0;
	__asm__ volatile("syscall"
	                 : "=a"(r)
	                 : "0"(9L), "D"(0L), "S"(0x12000L), "d"((long)PROT_READ), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	// JIT: mov eax, 9; mov esi, 0x13000; xor edi, edi; mov edx, 1;
	// mov r10d, 0x22; mov r8, -1; xor r9d, r9d; syscall; ret
	static const unsigned char code[] = {
		0xb8, 0x09, 0x00, 0x00, 0x00,             // mov eax, 9
		0xbe, 0x00, 0x30, 0x01, 0x00,             // mov esi, 0x13000
		0x31, 0xff,                               // xor edi, edi
		0xba, 0x01, 0x00, 0x00, 0x00,             // mov edx, 1
		0x41, 0xba, 0x22, 0x00, 0x00, 0x00,       // mov r10d, 0x22
		0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, // mov r8, -1
		0x45, 0x31, 0xc9,                         // xor r9d, r9d
		0x0f, 0x05,                               // syscall
		0xc3,                                     // ret
	};
	void *jit = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy(jit, code, sizeof code);
	mprotect(jit, 4096, PROT_READ | PROT_EXEC);
	void *j = ((void *(*)(void))jit)();
	pthread_t t[3];
	for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
	void *h = argc > 1 ? dlopen(argv[1], RTLD_NOW) : NULL;
	printf("calls %p %lx %p %p %s\n", a, r, j, jit, h ? "dlopen ok" : dlerror());
	return 0;
}
