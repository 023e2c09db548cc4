// compat32: a 64-bit program that switches to the 32-bit code segment
// (__USER32_CS, 0x23) with a far return and makes i386 system calls
// there with int $0x80, as a program running 32-bit code in a 64-bit
// process does (Wine's WoW64 thunks, emulators, JITs). The guard must
// treat them as it does i386 calls from 64-bit code, and whatever it runs
// in such a task it must run in a mode the task can execute.
//
//	compat32 fork [strict]   with a MADV_DONTFORK mapping of its own in the
//	                         range, fork from 32-bit code: the child needs its
//	                         reservations put back (it has a hole natively)
//	compat32 mmap [strict]   mmap2 with no address and with a hint in the
//	                         range, from 32-bit code: nothing may land in it
//	compat32 unmap           munmap, a shrinking mremap and an mremap moving
//	                         out of the range, of the program's own mappings
//	                         in the range, from 32-bit code: no hole is left
//	compat32 fork-ldt        fork, from 32-bit code of a code segment of the
//	                         program's own (modify_ldt: selector 0x7, as
//	                         Wine's 16- and 32-bit code segments are), not
//	                         __USER32_CS
//
// Output: escape.h's lines; the child's too.
#include "escape.h"

#include <asm/ldt.h>
#include <sys/wait.h>

#define CODE 0xa0000000UL  // the stubs
#define ARGS (CODE + 0x800) // nr, then six arguments, 8 bytes each
#define SAVE (CODE + 0x900) // the 64-bit stack pointer
#define STACKTOP 0xa0200000UL

static void put(unsigned char **p, const void *b, size_t n) {
	memcpy(*p, b, n);
	*p += n;
}

static void put64(unsigned char **p, uint64_t v) { put(p, &v, 8); }
static void put32(unsigned char **p, uint32_t v) { put(p, &v, 4); }

static unsigned long (*enter)(void);

// cs32 is the 32-bit code segment the stubs far-return to: __USER32_CS,
// or LDT entry 0 (see ldt_segment).
static unsigned char cs32 = 0x23;

// ldt_segment makes LDT entry 0 a flat 32-bit code segment and has the
// stubs use it (selector 0x7: entry 0, the LDT, privilege 3).
static void ldt_segment(void) {
	struct user_desc d = {.entry_number = 0, .base_addr = 0, .limit = 0xfffff, .seg_32bit = 1,
	                      .contents = MODIFY_LDT_CONTENTS_CODE, .limit_in_pages = 1, .useable = 1};
	if (syscall(SYS_modify_ldt, 1, &d, sizeof d)) {
		say("setup FAIL: modify_ldt: %s", ename(errno));
		exit(2);
	}
	cs32 = 0x7;
}

// setup writes the stubs: enter (64-bit) loads the i386 registers from
// ARGS, saves its stack pointer, switches to a stack below 4 GiB and far-
// returns to the 32-bit code, which makes the call and far-returns to the
// 64-bit tail, which returns eax zero-extended.
static void setup(void) {
	void *c = mmap((void *)CODE, 2 * 1024 * 1024 + PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
	               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (c != (void *)CODE) {
		say("setup FAIL: code at %#lx: %p %s", CODE, c, ename(errno));
		exit(2);
	}
	unsigned char *p = c;
	const unsigned long code32 = CODE + 0x400, ret64 = CODE + 0x600;
	put(&p, "\x53\x55\x41\x54\x41\x55\x41\x56\x41\x57", 10); // push rbx, rbp, r12-r15
	put(&p, "\x48\xb8", 2);                                   // movabs $SAVE, %rax
	put64(&p, SAVE);
	put(&p, "\x48\x89\x20", 3); // mov %rsp, (%rax)
	put(&p, "\x48\xb8", 2);     // movabs $ARGS, %rax
	put64(&p, ARGS);
	put(&p, "\x8b\x58\x08\x8b\x48\x10\x8b\x50\x18\x8b\x70\x20\x8b\x78\x28\x8b\x68\x30", 18); // ebx..ebp
	put(&p, "\x8b\x00", 2);                                                                 // mov (%rax), %eax
	put(&p, "\xbc", 1);                                                                     // mov $STACKTOP, %esp
	put32(&p, STACKTOP);
	put(&p, "\x6a", 1);         // push $cs32
	put(&p, &cs32, 1);
	put(&p, "\x41\xbb", 2);     // mov $code32, %r11d
	put32(&p, code32);
	put(&p, "\x41\x53", 2);     // push %r11
	put(&p, "\x48\xcb", 2);     // lretq
	p = (unsigned char *)code32; // 32-bit code
	put(&p, "\xcd\x80", 2);     // int $0x80
	put(&p, "\x6a\x33", 2);     // push $0x33
	put(&p, "\x68", 1);         // push $ret64
	put32(&p, ret64);
	put(&p, "\xcb", 1);         // lret
	p = (unsigned char *)ret64; // back in 64-bit code
	put(&p, "\x89\xc0", 2);     // mov %eax, %eax
	put(&p, "\x48\xb9", 2);     // movabs $SAVE, %rcx
	put64(&p, SAVE);
	put(&p, "\x48\x8b\x21", 3); // mov (%rcx), %rsp
	put(&p, "\x41\x5f\x41\x5e\x41\x5d\x41\x5c\x5d\x5b\xc3", 11); // pop r15-r12, rbp, rbx; ret
	enter = (unsigned long (*)(void))c;
}

// call32 makes an i386 call from 32-bit code.
static unsigned long call32(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3,
                            unsigned long a4, unsigned long a5, unsigned long a6) {
	uint64_t *a = (uint64_t *)ARGS;
	a[0] = nr, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5, a[6] = a6;
	return enter();
}

static int fork_route(void) {
	const unsigned long at = 0x50000000UL;
	void *m = mmap((void *)at, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (m != (void *)at) {
		if (strict_mode && m == MAP_FAILED && errno == EPERM) {
			say("compat32-fork info: strict mode refuses the mapping");
			return finish();
		}
		say("compat32-fork FAIL: set-up mapping: %s", ename(errno));
		return 1;
	}
	allow(at, PAGE);
	if (madvise(m, PAGE, MADV_DONTFORK)) {
		say("compat32-fork FAIL: MADV_DONTFORK: %s", ename(errno));
		return 1;
	}
	unsigned long r = call32(2 /* fork */, 0, 0, 0, 0, 0, 0);
	if (err32(r)) {
		say("compat32-fork FAIL: fork from 32-bit code: %s", ename(err32(r)));
		return 1;
	}
	if (r == 0) {
		// The child lacks the DONTFORK page: the guard must have put a
		// reservation there, and MAP_32BIT must not land in the range.
		failures = 0;
		nokv = 0;
		verdict("compat32-fork-child", nohole(LO, HI - LO), "no hole in the range");
		void *x = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (x != MAP_FAILED && in_range((unsigned long)x, PAGE)) {
			say("compat32-fork-child ESCAPED: MAP_32BIT got %p", x);
			failures++;
		}
		say("compat32-fork-child info: done, failures=%d", failures);
		_exit(failures ? 1 : 0);
	}
	int st;
	if (waitpid((pid_t)r, &st, 0) != (pid_t)r) {
		say("compat32-fork FAIL: waitpid: %s", ename(errno));
		return 1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		say("compat32-fork FAIL: the child %s %d", WIFEXITED(st) ? "exited" : "was killed by signal",
		    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		failures++;
	} else {
		say("compat32-fork ok: the child ran");
	}
	return finish();
}

static int mmap_route(void) {
	for (int i = 0; i < 2; i++) {
		const char *route = i ? "compat32-mmap2-hint" : "compat32-mmap2-null";
		unsigned long hint = i ? 0x40000000UL : 0;
		unsigned long r = call32(NR32_mmap2, hint, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		                         (unsigned long)-1, 0);
		if (err32(r)) {
			say("%s ok: %s", route, ename(err32(r)));
			continue;
		}
		if (in_range(r, PAGE)) {
			say("%s ESCAPED: %#lx", route, r);
			failures++;
		} else {
			*(volatile char *)r = 1;
			say("%s ok: outside the range", route);
		}
		r = call32(NR32_munmap, r, PAGE, 0, 0, 0, 0);
		if (err32(r)) {
			say("%s FAIL: munmap: %s", route, ename(err32(r)));
			failures++;
		}
	}
	return finish();
}

static int unmap_route(void) {
	const unsigned long at = 0x50000000UL, out = 0x98000000UL;
	const char *routes[] = {"compat32-munmap", "compat32-mremap-shrink", "compat32-mremap-out"};
	for (int i = 0; i < 3; i++) {
		unsigned long r = call32(NR32_mmap2, at, 4 * PAGE, PROT_READ | PROT_WRITE,
		                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, (unsigned long)-1, 0);
		if (r != at) {
			say("%s FAIL: set-up mmap2: %#lx", routes[i], r);
			failures++;
			continue;
		}
		allow(at, 4 * PAGE);
		if (i == 0)
			r = call32(NR32_munmap, at, 4 * PAGE, 0, 0, 0, 0);
		else if (i == 1)
			r = call32(NR32_mremap, at, 4 * PAGE, PAGE, 0, 0, 0);
		else
			r = call32(NR32_mremap, at, 4 * PAGE, 4 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, out, 0);
		if (err32(r)) {
			say("%s FAIL: %s", routes[i], ename(err32(r)));
			failures++;
			continue;
		}
		nokv = 0;
		if (i == 1) allow(at, PAGE);
		verdict(routes[i], nohole(LO, HI - LO), "no hole in the range");
		void *x = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (x != MAP_FAILED && in_range((unsigned long)x, PAGE)) {
			say("%s ESCAPED: MAP_32BIT got %p", routes[i], x);
			failures++;
		}
		if (x != MAP_FAILED) munmap(x, PAGE);
		if (i == 1) munmap((void *)at, PAGE);
		if (i == 2) munmap((void *)out, 4 * PAGE);
	}
	return finish();
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	const char *mode = argc > 1 ? argv[1] : "fork";
	if (!strcmp(mode, "fork-ldt")) ldt_segment();
	setup();
	if (!strcmp(mode, "fork") || !strcmp(mode, "fork-ldt")) return fork_route();
	if (!strcmp(mode, "mmap")) return mmap_route();
	if (!strcmp(mode, "unmap")) return unmap_route();
	say("usage: compat32 fork|fork-ldt|mmap|unmap [strict]");
	return 2;
}
