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
// With "ldso", the calls are made through ld.so's own mmap wrapper's
// syscall instruction (found in its code, called with the arguments in
// place): the guard takes them for ld.so's, but after the dlclose the
// object's place is no longer its span.
//   spoof ROUTE OBJECT BASE [ldso]
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

// map is mmap, or ld.so's own mmap wrapper (see find_ldso_mmap).
static void *(*ldso_wrapper)(void);

static void *map(void *addr, unsigned long len, long prot, long flags, long fd, long off) {
	if (!ldso_wrapper) return mmap(addr, len, prot, flags, fd, off);
	void *ret;
	register long r10 __asm__("r10") = flags;
	register long r8 __asm__("r8") = fd;
	register long r9 __asm__("r9") = off;
	__asm__ volatile("call *%[w]"
	                 : "=a"(ret), "+D"(addr), "+S"(len), "+d"(prot), "+r"(r10), "+r"(r8), "+r"(r9)
	                 : [w] "r"(ldso_wrapper)
	                 : "rcx", "r11", "memory");
	if ((unsigned long)ret > -4096UL) {
		errno = -(long)ret;
		return MAP_FAILED;
	}
	return ret;
}

// find_ldso_mmap finds "mov $9, %eax; syscall; cmp ..." in ld.so's code.
static int find_ldso_mmap(void) {
	FILE *f = fopen("/proc/self/maps", "r");
	char l[512];
	static const unsigned char pat[] = {0xb8, 9, 0, 0, 0, 0x0f, 0x05, 0x48, 0x3d};
	while (f && fgets(l, sizeof l, f)) {
		unsigned long a, b;
		char perm[8];
		if (sscanf(l, "%lx-%lx %7s", &a, &b, perm) != 3 || perm[2] != 'x' || !strstr(l, "/ld-linux")) continue;
		for (unsigned char *q = (unsigned char *)a; q + sizeof pat <= (unsigned char *)b; q++)
			if (!memcmp(q, pat, sizeof pat)) {
				ldso_wrapper = (void *(*)(void))q;
				fclose(f);
				return 0;
			}
	}
	if (f) fclose(f);
	return -1;
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
	if (argc > 4 && strcmp(argv[4], "ldso") == 0 && find_ldso_mmap() != 0) {
		printf("no mmap wrapper found in ld.so\n");
		return 2;
	}
	if (strcmp(route, "first-shape") == 0) {
		where(route, map(NULL, span, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE, fd, 0), base);
	} else if (strcmp(route, "resv-shape") == 0) {
		where(route, map(NULL, span + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base);
	} else if (strcmp(route, "after-dlclose") == 0) {
		void *h = dlopen(argv[2], RTLD_NOW);
		if (!h) return 2;
		dlclose(h);
		unsigned long at = base + (text.p_vaddr & ~(PAGE - 1));
		where(route, map((void *)at, text.p_memsz, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, fd, text.p_offset & ~(PAGE - 1)), at);
	}
	return 0;
}
