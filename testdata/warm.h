// warm.h: warm_code_page makes one rewrite, an anonymous mmap with a hint
// inside the protected range. mmapguard maps its code page in a process
// at the first rewrite that could take one stop with it (after that
// rewrite's second stop): programs that test the one-stop paths call
// this first. The page stays mapped (unmapping it would be a one-stop
// rewrite of its own). Natively it maps a page at the hint.
#ifndef WARM_H
#define WARM_H

#include <sys/mman.h>

static void warm_code_page(void) {
	mmap((void *)0x3f000000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

// For the probes that race a process's first rewrite (lazy*.c): threads
// wait for go, then first_rewrite makes that rewrite; spin delays the
// other side by a varying amount.
static volatile int go;
static int spin;

static void *first_rewrite(void *arg) {
	(void)arg;
	while (!go) ;
	warm_code_page();
	return NULL;
}

#endif
