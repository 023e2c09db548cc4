// main: asks for memory inside the protected range twice through the
// owner library (a hint, a MAP_FIXED) and twice by itself, and prints
// where each landed (or the errno).
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

void *owner_map(void *addr, unsigned long n, int fixed);

static void show(const char *what, void *p) {
	if (p == MAP_FAILED) printf("%s failed %s\n", what, strerror(errno));
	else printf("%s %p\n", what, p);
}

int main(void) {
	show("owner-hint", owner_map((void *)0x30000000, 4096, 0));
	show("owner-fixed", owner_map((void *)0x31000000, 4096, 1));
	show("program-hint", mmap((void *)0x32000000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
	errno = 0;
	show("program-fixed", mmap((void *)0x33000000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
	return 0;
}
