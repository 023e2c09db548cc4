// escape_personality: personality(ADDR_COMPAT_LAYOUT | ADDR_LIMIT_3GB)
// and then an exec of itself. The legacy layout places i386 mappings
// bottom-up from a third of the (3 GiB) i386 address space, 0x40000000,
// inside the range; the new image must still be guarded: reservations
// in place before it runs, hints moved out, MAP_32BIT refused.
#include "escape.h"

#include <sys/personality.h>

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

int main(int argc, char **argv) {
	if (argc < 2 || strcmp(argv[1], "again") != 0) {
		int old = personality(ADDR_COMPAT_LAYOUT | ADDR_LIMIT_3GB);
		verdict("personality-set", old != -1, "personality(ADDR_COMPAT_LAYOUT|ADDR_LIMIT_3GB) = %#x", old);
		char *args[] = {argv[0], "again", NULL};
		execv("/proc/self/exe", args);
		verdict("personality-reexec", 0, "execv: %s", ename(errno));
		return finish();
	}
	int pers = personality(0xffffffff);
	verdict("personality-reexec", (pers & (ADDR_COMPAT_LAYOUT | ADDR_LIMIT_3GB)) == (ADDR_COMPAT_LAYOUT | ADDR_LIMIT_3GB),
	        "re-exec'd with personality %#x; range reserved: %s", pers, reserved(0x30000000, PAGE) ? "yes" : "no");
	for (int i = 0; i < 4; i++) {
		unsigned long r = int80(NR32_mmap2, 0, 1UL << 20, RW, ANON, (unsigned long)-1, 0);
		int e = err32(r);
		char route[64];
		snprintf(route, sizeof route, "personality-i386-mmap2-null-%d", i);
		expect_outside(route, e ? MAP_FAILED : (void *)r, e, 1UL << 20, "i386 mmap2(NULL, 1 MiB) in the legacy layout");
	}
	void *p = mmap(NULL, 1UL << 20, RW, ANON, -1, 0);
	expect_outside("personality-mmap-null", p, errno, 1UL << 20, "mmap(NULL, 1 MiB) in the legacy layout");
	p = mmap((void *)0x30000000, PAGE, RW, ANON, -1, 0);
	expect_outside("personality-mmap-hint", p, errno, PAGE, "mmap(hint 0x30000000)");
	p = mmap(NULL, PAGE, RW, ANON | MAP_32BIT, -1, 0);
	expect_outside("personality-map32bit", p, errno, PAGE, "mmap(NULL, MAP_32BIT)");
	void *m = malloc(1 << 20);
	expect_outside("personality-malloc", m ? m : MAP_FAILED, ENOMEM, 1 << 20, "malloc(1 MiB)");
	return finish();
}
