// partialmove_in: since Linux 6.17 an mremap that keeps the length with
// MREMAP_FIXED moves the old range's mappings one after another, and a
// later one that cannot move (a private mapping of /dev/zero, whose file
// has its own get_unmapped_area) fails the call with EFAULT after the
// earlier ones moved. Here the target lies in the protected range, and
// the first mapping must arrive there as it does natively, content and
// all, instead of being covered again by the guard's reservation.
//   - within: both mappings are the program's own, inside the range;
//   - into: both lie outside the range (at 0x90000000);
//   - within-dontunmap, into-dontunmap: the same with MREMAP_DONTUNMAP,
//     which leaves the old mappings in place, emptied.
// Output (the same natively and under the guard): the call's result, what
// the target and the old place hold, and what mprotect and munmap of what
// arrived say. Under the guard (-g) it also checks that the range has no
// hole.
#include "escape.h"

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "within";
	int guarded = argc > 2 && !strcmp(argv[2], "-g");
	const unsigned long src = !strncmp(mode, "into", 4) ? 0x90000000UL : 0x50000000UL;
	const int dontunmap = strstr(mode, "dontunmap") != NULL;
	const unsigned long dst = 0x60000000UL, n = 3 * PAGE;
	allow(src, n);
	allow(dst, n);
	// two pages of the program's, then a page of /dev/zero
	char *p = mmap((void *)src, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	int fd = open("/dev/zero", O_RDWR);
	char *z = fd < 0 ? MAP_FAILED : mmap((void *)(src + 2 * PAGE), PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
	if (p != (char *)src || z != (char *)(src + 2 * PAGE)) {
		say("%s FAIL: set-up: %s", mode, ename(errno));
		return 1;
	}
	memset(p, 'A', 2 * PAGE);
	void *q = mremap(p, n, n, MREMAP_MAYMOVE | MREMAP_FIXED | (dontunmap ? MREMAP_DONTUNMAP : 0), (void *)dst);
	int e = errno;
	say("mremap: %s", q == MAP_FAILED ? ename(e) : "moved");
	struct mapping m;
	for (unsigned long off = 0; off < n; off += PAGE) {
		int at = mapped_at(dst + off, &m);
		int ours = at && !reservation(&m);
		say("target +%#lx: %s%s", off, ours ? "the program's" : "nothing of the program's",
		    ours && m.perms[0] == 'r' && ((char *)dst)[off] == 'A' ? ", holding its data" : "");
	}
	for (unsigned long off = 0; off < n; off += PAGE) {
		int at = mapped_at(src + off, &m);
		say("old place +%#lx: %s", off, at && !reservation(&m) ? "the program's" : "nothing of the program's");
	}
	// what arrived is the program's to change and to unmap
	say("mprotect(target): %s", mprotect((void *)dst, 2 * PAGE, PROT_READ) ? ename(errno) : "ok");
	say("munmap(target): %s", munmap((void *)dst, 2 * PAGE) ? ename(errno) : "ok");
	if (guarded) {
		verdict(mode, nohole(LO, HI - LO), "no hole in the range");
		void *x = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (x != MAP_FAILED && in_range((unsigned long)x, PAGE)) {
			say("%s ESCAPED: MAP_32BIT got %p inside the range", mode, x);
			failures++;
		}
	}
	say("END failures=%d", failures);
	return 0;
}
