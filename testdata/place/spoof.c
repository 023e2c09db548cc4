// spoof: the program's own calls shaped like ld.so's for a placed object
// (argv[2], placed at argv[3]); only ld.so's own are placed:
//   first-shape  the object's file mapped with mmap(NULL, its span,
//                read-write-execute, MAP_PRIVATE, fd, 0), ld.so's first
//                mapping of it but for the protection
//   resv-shape   (an object aligned above the page) an anonymous
//                PROT_NONE mapping of the length ld.so reserves for it,
//                while the object's file is open
//   after-dlclose (the policy strict) the object loaded and closed, then
//                its text segment mapped with MAP_FIXED at its place
// Each prints "ROUTE: at the base" or "ROUTE: elsewhere" (or the errno).
//   spoof ROUTE OBJECT BASE
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096UL

// layout reads the object's span (ld.so's first mapping length), its
// alignment and its first executable segment.
static int layout(int fd, unsigned long *span, unsigned long *align, Elf64_Phdr *text) {
	Elf64_Ehdr eh;
	Elf64_Phdr ph[32];
	if (pread(fd, &eh, sizeof eh, 0) != sizeof eh || eh.e_phnum > 32 ||
	    pread(fd, ph, eh.e_phnum * sizeof ph[0], eh.e_phoff) != (ssize_t)(eh.e_phnum * sizeof ph[0]))
		return -1;
	unsigned long lo = ~0UL, hi = 0;
	*align = PAGE;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD) continue;
		if (ph[i].p_vaddr < lo) lo = ph[i].p_vaddr;
		if (ph[i].p_vaddr + ph[i].p_memsz > hi) hi = ph[i].p_vaddr + ph[i].p_memsz;
		if (ph[i].p_align > *align) *align = ph[i].p_align;
		if ((ph[i].p_flags & PF_X) && !text->p_memsz) *text = ph[i];
	}
	*span = ((hi + PAGE - 1) & ~(PAGE - 1)) - (lo & ~(PAGE - 1));
	return 0;
}

static void where(const char *route, void *p, unsigned long base) {
	if (p == MAP_FAILED) printf("%s: %s\n", route, strerrorname_np(errno));
	else printf("%s: %s\n", route, (unsigned long)p == base ? "at the base" : "elsewhere");
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 4) return 2;
	const char *route = argv[1];
	unsigned long base = strtoul(argv[3], 0, 0), span, align;
	Elf64_Phdr text = {0};
	int fd = open(argv[2], O_RDONLY);
	if (fd < 0 || layout(fd, &span, &align, &text)) return 2;
	if (strcmp(route, "first-shape") == 0) {
		where(route, mmap(NULL, span, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE, fd, 0), base);
	} else if (strcmp(route, "resv-shape") == 0) {
		where(route, mmap(NULL, span + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base);
	} else if (strcmp(route, "after-dlclose") == 0) {
		void *h = dlopen(argv[2], RTLD_NOW);
		if (!h) return 2;
		dlclose(h);
		unsigned long at = base + (text.p_vaddr & ~(PAGE - 1));
		where(route, mmap((void *)at, text.p_memsz, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, text.p_offset & ~(PAGE - 1)), at);
	}
	return 0;
}
