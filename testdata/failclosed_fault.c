// failclosed_fault: one process's trapped calls make the tracer fail on
// its side while another process keeps mapping. The child makes i386
// old_mmap calls (int $0x80) whose argument block the tracer cannot read
// (an unmapped pointer): each must fail with EFAULT, as it would without the guard, and the
// child goes on (a readable old_mmap afterwards works and lands outside
// the range). The first round also reports, as "child info", what an
// old_mmap whose block lies in the guard's PROT_NONE reservation got. Meanwhile the parent maps with hints into the protected
// range (rerouted) and MAP_FIXED inside it (honoured, then unmapped: the
// reservation goes back). The child exits 7 if all went as expected; the
// parent checks that, prints "failclosed-fault ok" and exits 0.
// Usage: failclosed_fault [ROUNDS]
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define LO 0x10000UL
#define HI 0x80000000UL
#define PAGE 4096UL
#define LOW4G 0x90000000UL // a page below 4 GiB, outside the range, for 32-bit pointers
#define NR32_old_mmap 90
#define NR32_munmap 91

static unsigned long int80(unsigned long nr, unsigned long a1, unsigned long a2) {
	unsigned long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1), "c"(a2) : "memory", "cc", "r8", "r9", "r10", "r11");
	return ret;
}

// err32 is the errno of an i386 call's result, 0 if it succeeded.
static int err32(unsigned long r) {
	uint32_t v = (uint32_t)r;
	return v >= (uint32_t)-4095 ? -(int32_t)v : 0;
}

static int in_range(unsigned long a, unsigned long n) { return a < HI && a + n > LO; }

static int child(long rounds) {
	uint32_t *blk = mmap((void *)LOW4G, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (blk != (void *)LOW4G) {
		printf("child: no page at %#lx: %s\n", LOW4G, strerror(errno));
		return 1;
	}
	int bad = 0;
	for (long i = 0; i < rounds; i++) {
		// 0x1000: below mmap_min_addr, never mapped: unreadable for
		// the kernel and for the tracer alike.
		unsigned long r0 = int80(NR32_old_mmap, 0x1000, 0);
		if (err32(r0) != EFAULT) {
			if (bad++ < 5) printf("child: old_mmap(block at 0x1000) = %#lx (errno %d), want EFAULT\n", r0, err32(r0));
		}
		if (i == 0) {
			// 0x20000: inside the protected range, the guard's PROT_NONE
			// reservation. The kernel's copy_from_user fails there
			// (EFAULT); a tracer reading with PTRACE_PEEKDATA, which
			// may read PROT_NONE memory, sees zeros. Reported, not
			// checked.
			unsigned long r1 = int80(NR32_old_mmap, 0x20000, 0);
			printf("child info: old_mmap(block in the reservation at 0x20000) errno %d\n", err32(r1));
		}
		uint32_t v[6] = {0x30000000, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, (uint32_t)-1, 0};
		memcpy(blk, v, sizeof v);
		unsigned long r = int80(NR32_old_mmap, (unsigned long)blk, 0);
		if (err32(r) != 0 || in_range(r & 0xffffffff, PAGE)) {
			if (bad++ < 5) printf("child: old_mmap(hint 0x30000000) = %#lx (errno %d), want a page outside the range\n", r, err32(r));
		} else {
			int80(NR32_munmap, r, PAGE);
		}
	}
	fflush(stdout);
	return bad ? 1 : 7;
}

int main(int argc, char **argv) {
	long rounds = argc > 1 ? atol(argv[1]) : 500;
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) _exit(child(rounds));
	int bad = 0;
	for (long i = 0; i < 2 * rounds; i++) {
		void *p = mmap((void *)0x30000000, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || in_range((unsigned long)p, PAGE)) {
			if (bad++ < 5) printf("parent: mmap(hint 0x30000000) = %p (%s), want a page outside the range\n", p, strerror(errno));
		} else {
			munmap(p, PAGE);
		}
		void *q = mmap((void *)0x31000000, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (q != (void *)0x31000000) {
			if (bad++ < 5) printf("parent: mmap(0x31000000, MAP_FIXED) = %p (%s)\n", q, strerror(errno));
		} else {
			*(volatile char *)q = 1;
			munmap(q, PAGE);
		}
	}
	int st;
	if (waitpid(pid, &st, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) {
		printf("parent: child status %#x, want exit 7\n", st);
		bad++;
	}
	if (bad) return 1;
	printf("failclosed-fault ok\n");
	return 0;
}
