// escape_edges: calls the kernel runs without a stop at the edges of
// two policies the default one does not have. Build it with -DLO and -DHI
// set to the span the policy protects, and run it with the mode:
//   - "gap": two protected ranges with one page between them at GAP
//     (--protect LO-GAP --protect GAP+4096-HI). The gap page is the
//     program's to map with MAP_FIXED, in the kernel; made PROT_NONE it
//     merges with the reservations on both sides into one mapping, and
//     munmap and MADV_DONTFORK of the gap page (in the kernel too) must
//     leave them as they were, also in a forked child; a hint at the gap
//     page whose length reaches into the second range must go elsewhere;
//   - "top": a range ending at the top of user space, 0x7ffffffff000,
//     where the stack lies: a hint in it, a hint above the top, and
//     MAP_FIXED, munmap and mprotect across the top.
#include "escape.h"

#include <sys/wait.h>

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

#ifndef GAP
#define GAP 0x40000000UL
#endif
#define TOP 0x7ffffffff000UL

static void gap(void) {
	int was = reserved(GAP - PAGE, PAGE) && reserved(GAP + PAGE, PAGE);
	void *p = mmap((void *)GAP, PAGE, RW, ANON | MAP_FIXED, -1, 0);
	if (p != (void *)GAP) {
		verdict("gap-fixed", 0, "MAP_FIXED at the gap page %#lx: %p %s", GAP, p, ename(errno));
		return;
	}
	allow(GAP, PAGE);
	still_reserved("gap-fixed", GAP - PAGE, 3 * PAGE, 0, "MAP_FIXED at the gap page honoured");

	int r = mprotect((void *)GAP, PAGE, PROT_NONE);
	struct mapping m;
	int merged = mapped_at(GAP, &m) && m.start < GAP && m.end > GAP + PAGE;
	char what[192];
	snprintf(what, sizeof what, "mprotect(gap page, PROT_NONE) = %s (%s its neighbours); munmap(gap page) = %s",
	         r ? ename(errno) : "0", merged ? "merged with" : "apart from",
	         munmap((void *)GAP, PAGE) ? ename(errno) : "0");
	verdict("gap-merge-munmap", !was || (reserved(GAP - PAGE, PAGE) && reserved(GAP + PAGE, PAGE) && !nohole(GAP, PAGE)),
	        "%s; reservations beside it %s", what,
	        !was ? "(none here)" : reserved(GAP - PAGE, PAGE) && reserved(GAP + PAGE, PAGE) ? "intact" : "GONE");

	p = mmap((void *)GAP, 2 * PAGE, RW, ANON, -1, 0);
	expect_outside("gap-hint-reaching-in", p, errno, 2 * PAGE, "mmap(hint at the gap page, 2 pages)");
	if (p != MAP_FAILED && !in_range((unsigned long)p, 2 * PAGE)) munmap(p, 2 * PAGE);

	p = mmap((void *)GAP, PAGE, PROT_NONE, ANON | MAP_FIXED, -1, 0);
	r = madvise((void *)GAP, PAGE, MADV_DONTFORK);
	int e = errno;
	pid_t pid = fork();
	if (pid == 0) {
		// The child: its reservations beside the gap must be there.
		_exit(reserved(GAP - PAGE, PAGE) && reserved(GAP + PAGE, PAGE) ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	snprintf(what, sizeof what, "PROT_NONE page at the gap, madvise(gap page, MADV_DONTFORK) = %s, fork: child %s",
	         r ? ename(e) : "0",
	         WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "has the reservations beside it" : "LACKS a reservation");
	verdict("gap-dontfork-fork", !was || (WIFEXITED(st) && WEXITSTATUS(st) == 0), "%s", what);
	munmap((void *)GAP, PAGE);
}

static void top(void) {
	void *p = mmap((void *)(LO + 0x100000), PAGE, RW, ANON, -1, 0);
	expect_outside("top-hint-inside", p, errno, PAGE, "mmap(hint in the range, 1 page)");
	if (p != MAP_FAILED && !in_range((unsigned long)p, PAGE)) munmap(p, PAGE);

	p = mmap((void *)TOP, PAGE, RW, ANON, -1, 0);
	expect_outside("top-hint-above", p, errno, PAGE, "mmap(hint at the top of user space)");
	if (p != MAP_FAILED && !in_range((unsigned long)p, PAGE)) munmap(p, PAGE);

	int was = reserved(LO, PAGE);
	unsigned long holes = hole_bytes();
	long r = sys64(SYS_mmap, TOP - PAGE, 2 * PAGE, RW, ANON | MAP_FIXED, -1, 0);
	verdict("top-fixed-across", err64(r) == ENOMEM && hole_bytes() == holes, "MAP_FIXED at %#lx, 2 pages = %s",
	        TOP - PAGE, err64(r) ? ename(err64(r)) : "mapped");
	r = sys64(SYS_munmap, TOP - PAGE, 2 * PAGE, 0, 0, 0, 0);
	verdict("top-munmap-across", err64(r) == EINVAL && hole_bytes() == holes, "munmap(%#lx, 2 pages) = %s", TOP - PAGE,
	        err64(r) ? ename(err64(r)) : "0");
	r = sys64(SYS_munmap, TOP, ~0UL - TOP + 1 + PAGE, 0, 0, 0, 0);
	verdict("top-munmap-wrap", err64(r) == EINVAL && hole_bytes() == holes, "munmap(%#lx, wrapping to %#lx) = %s",
	        TOP, PAGE, err64(r) ? ename(err64(r)) : "0");
	r = sys64(SYS_mprotect, LO, ~0UL - LO + 1 + PAGE, PROT_READ, 0, 0, 0);
	still_reserved("top-mprotect-wrap", LO, PAGE, was, err64(r) ? ename(err64(r)) : "mprotect wrapping: 0");
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "gap") == 0) gap();
		if (strcmp(argv[i], "top") == 0) top();
	}
	return finish();
}
