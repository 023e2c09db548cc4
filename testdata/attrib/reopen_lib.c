/* reopen_lib: one function, NAME, that maps a page at a hint (see reopen.c). */
#include <stdint.h>
#include <sys/mman.h>

void *NAME(uintptr_t hint)
{
	void *p = mmap((void *)hint, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	__asm__ volatile("");
	return p;
}
