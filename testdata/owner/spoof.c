// spoof: code that is not the owner's, making calls the guard could
// credit to the owner (run with --strict and libowner.so as owner; each
// MAP_FIXED into the protected range must fail with EPERM):
//   memfd      "syscall; ret" in a memfd named "x/libowner.so"
//   reuse      the owner closed with dlclose and OTHER opened, which the
//              kernel tends to put where the owner was
//   over-text  "syscall; ret" in anonymous memory mapped with MAP_FIXED
//              over the text of the owner, opened again, after it has
//              made a call
//   bind       (with "bind", as root) OTHER bind-mounted over OWNER's
//              path in a mount namespace of the program's, then opened
//              at that path
// and first the owner's own MAP_FIXED, which is honoured (again after
// its dlclose and a new dlopen: "owner again").
//   spoof OWNER OTHER [bind]
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL
#define FIXED (MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
#define RWX (PROT_READ | PROT_WRITE | PROT_EXEC)

static const unsigned char stub[] = {0x0f, 0x05, 0xc3}; // syscall; ret

// through calls code (a stub) with a system call's registers.
static long through(void *code, long nr, long a1, long a2, long a3, long a4, long a5, long a6) {
	long ret;
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	__asm__ volatile("call *%[code]"
	                 : "=a"(ret), "+r"(r10), "+r"(r8), "+r"(r9)
	                 : [code] "r"(code), "a"(nr), "D"(a1), "S"(a2), "d"(a3)
	                 : "rcx", "r11", "memory");
	return ret;
}

static void report(const char *route, long r, long addr) {
	if (r < 0 && r > -4096) printf("%s: %s\n", route, strerrorname_np((int)-r));
	else printf("%s: mapped at %#lx%s\n", route, r, r == addr ? "" : " (elsewhere)");
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 3) return 2;
	void *h = dlopen(argv[1], RTLD_NOW);
	void *(*om)(void *, unsigned long, int) = h ? dlsym(h, "owner_map") : NULL;
	if (!om) {
		printf("dlopen %s: %s\n", argv[1], dlerror());
		return 2;
	}
	void *p = om((void *)0x30100000, PAGE, 1);
	printf("owner: %s\n", p == (void *)0x30100000 ? "honoured" : strerror(errno));

	if (argc > 3 && strcmp(argv[3], "bind") == 0) {
		dlclose(h);
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount(argv[2], argv[1], NULL, MS_BIND, NULL)) {
			printf("bind: setup %s\n", strerror(errno));
			return 2;
		}
		void *b = dlopen(argv[1], RTLD_NOW);
		long (*em)(long, long) = b ? dlsym(b, "evil_map") : NULL;
		if (!em) {
			printf("bind: dlopen %s\n", dlerror());
			return 2;
		}
		report("bind", em(0x30500000, PAGE), 0x30500000);
		return 0;
	}

	int fd = memfd_create("x/libowner.so", 0);
	void *code = MAP_FAILED;
	if (fd >= 0 && write(fd, stub, sizeof stub) == sizeof stub && ftruncate(fd, PAGE) == 0)
		code = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	if (code == MAP_FAILED) {
		printf("memfd: setup %s\n", strerror(errno));
		return 2;
	}
	report("memfd", through(code, SYS_mmap, 0x30200000, PAGE, RWX, FIXED, -1, 0), 0x30200000);

	dlclose(h);
	void *o = dlopen(argv[2], RTLD_NOW);
	long (*em)(long, long) = o ? dlsym(o, "evil_map") : NULL;
	if (!em) {
		printf("reuse: dlopen %s\n", dlerror());
		return 2;
	}
	printf("reuse info: %s the owner's old place\n", ((unsigned long)em & ~0xfffffUL) == ((unsigned long)om & ~0xfffffUL) ? "at" : "not at");
	report("reuse", em(0x30400000, PAGE), 0x30400000);

	// The owner again, its call honoured (the attributor learns its
	// place), then its text replaced, far from every range: no stop.
	h = dlopen(argv[1], RTLD_NOW);
	om = h ? dlsym(h, "owner_map") : NULL;
	p = om ? om((void *)0x30600000, PAGE, 1) : MAP_FAILED;
	printf("owner again: %s\n", p == (void *)0x30600000 ? "honoured" : strerror(errno));
	void *text = (void *)((unsigned long)om & ~(PAGE - 1));
	if (mmap(text, PAGE, RWX, FIXED, -1, 0) != text) {
		printf("over-text: setup %s\n", strerror(errno));
		return 2;
	}
	memcpy(text, stub, sizeof stub);
	report("over-text", through(text, SYS_mmap, 0x30300000, PAGE, RWX, FIXED, -1, 0), 0x30300000);
	_exit(0); // (no destructors: the owner's text is gone)
}
