// libowner: the code a test names as owner of the protected range.
#include <sys/mman.h>

void *owner_map(void *addr, unsigned long n, int fixed) {
	return mmap(addr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | (fixed ? MAP_FIXED : 0), -1, 0);
}
