// escape_dontcopy: mappings in the range that the kernel does not copy
// into a forked child (VM_DONTCOPY), placed there explicitly by the
// program, leave the child a hole unless the guard reserves it there:
// a perf ring buffer mapped with MAP_FIXED (perf sets the flag in its
// mmap), a mapping marked MADV_DONTFORK outside the range (no stop) and
// moved in with mremap(MREMAP_FIXED), and one marked inside and moved
// within the range. The child looks for holes where they were and asks
// for MAP_32BIT, which the kernel puts in the first free space from
// 0x40000000 (plus up to 32 MiB) up.
#include "escape.h"
#include <linux/perf_event.h>
#include <sys/wait.h>

#define PERF_AT 0x7fffe000UL
#define MOVEIN_AT 0x7fff0000UL
#define INNER_FROM 0x50000000UL
#define INNER_AT 0x7ffe0000UL

static int perf_fd(void) {
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.type = PERF_TYPE_SOFTWARE;
	a.size = sizeof a;
	a.config = PERF_COUNT_SW_DUMMY;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	a.disabled = 1;
	return syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int placed[3] = {0, 0, 0};

	int fd = perf_fd();
	if (fd < 0) {
		say("dontcopy-perf-fixed FAIL: perf_event_open: %s", ename(errno));
		failures++;
	} else {
		void *p = mmap((void *)PERF_AT, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
		placed[0] = p == (void *)PERF_AT;
		expect_fixed("dontcopy-perf-fixed", p, errno, PERF_AT, 2 * PAGE, "mmap(perf ring, MAP_FIXED)");
	}

	void *o = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(o, 2 * PAGE, MADV_DONTFORK);
	void *p = mremap(o, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)MOVEIN_AT);
	placed[1] = p == (void *)MOVEIN_AT;
	expect_fixed("dontcopy-mremap-in", p, errno, MOVEIN_AT, 2 * PAGE, "mremap(MADV_DONTFORK mapping, MREMAP_FIXED)");

	o = mmap((void *)INNER_FROM, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (o == (void *)INNER_FROM) {
		allow(INNER_FROM, 2 * PAGE);
		madvise(o, 2 * PAGE, MADV_DONTFORK);
		p = mremap(o, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)INNER_AT);
		placed[2] = p == (void *)INNER_AT;
		expect_fixed("dontcopy-mremap-within", p, errno, INNER_AT, 2 * PAGE,
		             "mremap(MADV_DONTFORK mapping inside, MREMAP_FIXED within)");
	} else {
		expect_fixed("dontcopy-mremap-within", o, errno, INNER_FROM, 2 * PAGE, "mmap(MAP_FIXED)");
	}

	unsigned long holes = hole_bytes();
	pid_t c = fork();
	if (c == 0) {
		failures = 0;
		static const unsigned long at[3] = {PERF_AT, MOVEIN_AT, INNER_AT};
		int bad = 0;
		for (int i = 0; i < 3; i++)
			if (placed[i] && !nohole(at[i], 2 * PAGE)) {
				say("fork-after-dontcopy info: the child has a hole at %#lx", at[i]);
				bad = 1;
			}
		unsigned long h = hole_bytes();
		void *r = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		int e = errno;
		if (r != MAP_FAILED && in_range((unsigned long)r, PAGE)) {
			say("fork-after-dontcopy ESCAPED: the child's MAP_32BIT at %p (holes %lu, the parent's %lu)", r, h, holes);
			failures++;
		} else if (bad || h > holes) {
			say("fork-after-dontcopy FAIL: the child has %lu bytes unmapped in the range, its parent %lu", h, holes);
			failures++;
		} else {
			say("fork-after-dontcopy ok: no hole in the child; MAP_32BIT: %s", r == MAP_FAILED ? ename(e) : "outside");
		}
		_exit(failures ? 1 : 0);
	}
	int st = 0;
	waitpid(c, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st)) failures++;
	return finish();
}
