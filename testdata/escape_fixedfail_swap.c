// escape_fixedfail_swap: the guard judges, at the seccomp stop of a
// MAP_FIXED file mapping, whether the file's mmap may fail after the
// kernel has unmapped the target (rewrite.Call.LateFail) by looking at the
// descriptor then: an ext4 or tmpfs file cannot, so the other threads
// were not held. Another thread swaps the descriptor (dup2) between that
// look and the kernel's, for a sysfs file whose mmap fails with ENODEV
// after the unmap; a third thread's MAP_32BIT lands in the gap. (Found in
// the tenth session's review; in a protected range the other threads are
// now held for every file: TestEscapeFixedFileRace swap.)
//
//	escape_fixedfail_swap [ROUNDS]
//
// Route: fixedfail-swap. Under the guard the run ends in one of three
// ways: ESCAPED (MAP_32BIT landed before the guard read the layout), the
// process killed by the guard (it landed afterwards, and the reservation
// put back failed: EEXIST over a range not covered), or ok.
#include "escape.h"

#define AT 0x50000000UL
#define N (2 * PAGE)
#define FD 100

static int good, bad;

static void *swapper(void *x) {
	(void)x;
	while (!map32_stop) {
		dup2(bad, FD);
		dup2(good, FD);
	}
	return 0;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 20000;
	const char *route = "fixedfail-swap";
	char path[] = "/tmp/fixedfail-swap-XXXXXX";
	good = mkstemp(path);
	if (good >= 0) unlink(path);
	bad = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY);
	if (good < 0 || bad < 0 || ftruncate(good, N) || dup2(good, FD) != FD) {
		say("%s FAIL: set-up: %s", route, ename(errno));
		return finish();
	}
	pthread_t t1, t2;
	pthread_create(&t1, 0, map32_spam, 0);
	pthread_create(&t2, 0, swapper, 0);
	int failed = 0, i;
	for (i = 0; i < rounds && !map32_stop; i++) {
		void *p = mmap((void *)AT, N, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p != (void *)AT) {
			say("%s FAIL: MAP_FIXED of the program's own mapping: %s", route, ename(errno));
			break;
		}
		if (mmap((void *)AT, N, PROT_READ, MAP_PRIVATE | MAP_FIXED, FD, 0) == MAP_FAILED) failed++;
	}
	map32_stop = 1;
	pthread_join(t1, 0);
	pthread_join(t2, 0);
	if (map32_landed) {
		failures++;
		say("%s ESCAPED: MAP_32BIT got %#lx, in the range, after %d rounds (%d failed)", route, map32_landed, i, failed);
	} else {
		allow(AT, N);
		verdict(route, nohole(LO, HI - LO), "%d rounds, %d failed MAP_FIXED mappings, no hole left", i, failed);
	}
	return finish();
}
