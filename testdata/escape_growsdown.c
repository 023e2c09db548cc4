// escape_growsdown: MAP_GROWSDOWN mappings grow down when a page below
// them is touched, placing memory nobody mapped. One right above the
// range's end, one right above a reservation inside it (without
// --strict: argv[1] "strict"), one asked for with a hint inside the
// range: touching below each must never grow it into the range.
#include "escape.h"

#include <setjmp.h>

static sigjmp_buf jb;
static volatile sig_atomic_t faults;

static void on_segv(int sig) {
	(void)sig;
	faults++;
	siglongjmp(jb, 1);
}

// touch writes one byte at each of the n pages below top, and returns
// how many writes faulted.
static int touch_below(unsigned long top, int n) {
	faults = 0;
	for (int i = 1; i <= n; i++) {
		volatile char *a = (volatile char *)(top - (unsigned long)i * PAGE);
		if (sigsetjmp(jb, 1) == 0) *a = 1;
	}
	return faults;
}

static void growsdown(const char *route, unsigned long at, unsigned long flags, int explicit, const char *what) {
	char *p = mmap((void *)at, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN | flags,
	               -1, 0);
	if (p == MAP_FAILED) {
		if (strict_mode && explicit && errno == EPERM) verdict(route, 1, "%s: EPERM", what);
		else verdict(route, 0, "%s: %s", what, ename(errno));
		return;
	}
	if (explicit && p != (char *)at) {
		verdict(route, 0, "%s = %p, want %#lx", what, p, at);
		return;
	}
	if (explicit) allow(at, 16 * PAGE);
	p[0] = 1; // the mapping's own lowest page
	int f1 = touch_below((unsigned long)p, 1);
	int f64 = touch_below((unsigned long)p, 64);
	struct mapping m;
	int have = mapped_at((unsigned long)p + 15 * PAGE, &m);
	verdict(route, !in_range((unsigned long)p, 16 * PAGE) || explicit,
	        "%s = %p; touching 1 and 64 pages below: %d and %d faults; mapping now %lx-%lx", what, p, f1, f64,
	        have ? m.start : 0, have ? m.end : 0);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	struct sigaction sa = {.sa_handler = on_segv, .sa_flags = SA_NODEFER};
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	growsdown("growsdown-above-end", HI, MAP_FIXED_NOREPLACE, 1, "mmap(0x80000000, GROWSDOWN|FIXED_NOREPLACE)");
	growsdown("growsdown-gap-above-end", HI + 256 * PAGE, MAP_FIXED_NOREPLACE, 1,
	          "mmap(0x80100000, GROWSDOWN|FIXED_NOREPLACE), a 1 MiB gap above the end");
	// Touch all the way down through the gap: it grows to the end, no further.
	{
		struct mapping m;
		int f = touch_below(HI + 256 * PAGE, 300);
		int have = mapped_at(HI + 256 * PAGE, &m);
		verdict("growsdown-gap-walk-down", have && m.start >= HI,
		        "touching 300 pages below 0x80100000: %d faults; mapping now %lx-%lx", f, have ? m.start : 0, have ? m.end : 0);
	}
	growsdown("growsdown-hint-inside", 0x50000000, 0, 0, "mmap(hint 0x50000000, GROWSDOWN)");
	// Honoured without --strict (EPERM with it); the reservation below
	// must stop the growth.
	growsdown("growsdown-above-reservation", 0x40000000, MAP_FIXED, 1, "mmap(0x40000000, GROWSDOWN|FIXED)");
	return finish();
}
