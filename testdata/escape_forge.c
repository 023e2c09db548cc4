// escape_forge: a hostile program forges the report the guard's code
// page makes when a one-stop rewrite fails (see trace/tramp.go). It
// unmaps a page of its own non-PIE .bss inside the protected range (the
// guard maps a reservation over it, with one stop: the rewrite
// succeeds), then jumps into the code page's failure report itself with
// the stack pointer at the frame of that rewrite and an error in rax.
// Believed, the report would make the guard drop the reservation from
// its model, and the next mprotect would make it readable and writable.
// The guard must refuse: it checks the kernel's layout and kills the
// program. argv[1] is the address of the report's code. argv[2]:
//   split  (without --strict) two pages of the program's own at
//          0x50000000, both unmapped (one reservation), the second mapped
//          again: the range is not all reserved, the report is believed,
//          and the guard must still know the first page for its own
//          (thirteenth session: it forgot it, and mprotect made it
//          read-write)
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "warm.h"
#include <unistd.h>

static char bss[16 * 4096] __attribute__((aligned(4096)));
unsigned long report; // where the code page's failure report starts
long do_munmap(void *a, unsigned long n);
long forge(void);
// do_munmap and forge are called from the same place (step), so the
// stack pointer at forge's jump is the one at do_munmap's syscall: the
// frame the guard wrote is 192 bytes below (red zone and 8 words).
__asm__(".text\n"
        "do_munmap: mov $11, %eax\n syscall\n ret\n"
        "forge: lea -192(%rsp), %rsp\n mov $-12, %rax\n mov report(%rip), %r11\n jmp *%r11\n");

static unsigned long span = 4096;

__attribute__((noinline)) static long step(int forged, void *page) {
	return forged ? forge() : do_munmap(page, span);
}

int main(int argc, char **argv) {
	warm_code_page();
	if (argc < 2) return 2;
	report = strtoul(argv[1], 0, 0);
	setvbuf(stdout, NULL, _IONBF, 0);
	char *page = bss + 4 * 4096;
	const char *mode = argc > 2 ? argv[2] : "";
	if (strcmp(mode, "split") == 0) {
		page = (char *)0x50000000;
		span = 2 * 4096;
		if (mmap(page, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != page) return 2;
	}
	printf("page %p\n", page);
	printf("munmap = %ld\n", step(0, page));
	if (strcmp(mode, "split") == 0 &&
	    mmap(page + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != page + 4096)
		return 2;
	int e = mprotect(page, 4096, PROT_READ | PROT_WRITE);
	printf("mprotect before forging = %d %s\n", e, e ? strerror(errno) : "");
	long r = step(1, page);
	printf("forged report returned %ld\n", r);
	e = mprotect(page, 4096, PROT_READ | PROT_WRITE);
	printf("mprotect after forging = %d %s\n", e, e ? strerror(errno) : "");
	return 0;
}
