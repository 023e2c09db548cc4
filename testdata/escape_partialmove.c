// escape_partialmove: since Linux 6.17 an mremap that keeps the length
// with MREMAP_FIXED moves every mapping of the old range, one after
// another; a later one that cannot move (mseal'd: EPERM; a private
// mapping of /dev/zero, whose file has its own get_unmapped_area:
// EFAULT) fails the call after the earlier ones moved. Two mappings of
// the program's made inside the range are moved out that way: the
// first one's old place must not be left a hole (MAP_32BIT, settled in
// the kernel, then lands there).
//   - mseal: the second mapping is sealed;
//   - devzero: the second mapping is of /dev/zero.
#include "escape.h"

#ifndef SYS_mseal
#define SYS_mseal 462
#endif

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "mseal";
	const unsigned long at = 0x50000000UL, n = 2 * PAGE;
	allow(at, n);
	void *p = mmap((void *)at, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p != (void *)at) {
		say("%s FAIL: mmap(MAP_FIXED) = %p %s", mode, p, ename(errno));
		return 1;
	}
	memset(p, 1, n);
	if (!strcmp(mode, "mseal")) {
		if (mprotect((char *)at + PAGE, PAGE, PROT_READ) || syscall(SYS_mseal, at + PAGE, PAGE, 0)) {
			say("%s info: cannot seal: %s", mode, ename(errno));
			say("END failures=0");
			return 0;
		}
	} else {
		int fd = open("/dev/zero", O_RDWR);
		if (fd < 0 || mmap((char *)at + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0) != (char *)at + PAGE) {
			say("%s FAIL: /dev/zero: %s", mode, ename(errno));
			return 1;
		}
	}
	void *t = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *q = mremap(p, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, t);
	int e = errno;
	say("%s info: mremap = %p %s", mode, q, q == MAP_FAILED ? ename(e) : "");
	int hole = !nohole(at, n);
	void *m = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (m != MAP_FAILED && in_range((unsigned long)m, PAGE)) {
		say("%s ESCAPED: MAP_32BIT got %p inside the range after the failed move", mode, m);
		failures++;
	}
	verdict(mode, !hole, "after the failed move: %s", hole ? "a hole at the old place" : "no hole");
	say("END failures=%d", failures);
	return 0;
}
