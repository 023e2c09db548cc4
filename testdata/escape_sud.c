// escape_sud: syscall user dispatch (PR_SET_SYSCALL_USER_DISPATCH) with
// its selector byte in a mapping of the program's inside the range (with
// "strict": a page of its .bss, built with -no-pie; else a MAP_FIXED
// page at 0x50000000), set by a vfork child, which then moves that
// mapping out of the range with mremap. The guard puts the reservation
// back from the child's own syscall instruction; the kernel reads the
// selector first, finds it unmapped, and kills the child with SIGSEGV
// before the call runs, without a stop. The parent, which shares the
// memory, goes on with the hole: MAP_32BIT (below 2 GiB) or, with
// "strict", i386 mmap2(NULL) once the space above the range is used up,
// lands in it. The guard must kill the parent too (fail closed): the
// probe prints "inside" if it did not.
#include "escape.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#ifndef PR_SYS_DISPATCH_ON
#define PR_SYS_DISPATCH_ON 1
#endif

static char bss[4 * PAGE] __attribute__((aligned(4096)));

int main(int argc, char **argv) {
	set_mode(argc, argv);
	unsigned long m = 0x50000000;
	if (strict_mode) {
		m = ((unsigned long)bss + PAGE) & ~(PAGE - 1);
	} else if (mmap((void *)m, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
	           (void *)m) {
		say("sud FAIL: MAP_FIXED at %#lx: %s", m, ename(errno));
		return 1;
	}
	((volatile char *)m)[0] = 0; // SYSCALL_DISPATCH_FILTER_ALLOW
	void *to = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pid_t c = vfork();
	if (c == 0) {
		// Every call of the child's is subject to the selector at m.
		if (syscall(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON, 0, 0, m) != 0) _exit(3);
		syscall(SYS_mremap, m, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
		syscall(SYS_exit, 0); // natively: SIGSEGV here, the selector gone
		_exit(0);
	}
	int st = 0;
	waitpid(c, &st, 0);
	say("sud info: the child ended with status %#x", st);
	unsigned long p = (unsigned long)mmap(0, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (p != (unsigned long)MAP_FAILED && in_range(p, PAGE)) say("sud inside: MAP_32BIT at %#lx", p);
	// i386 mmap2(NULL) goes top-down below 4 GiB: fill what lies above
	// the range, the next lands in the highest hole below.
	unsigned long sizes[] = {256UL << 20, 32UL << 20, 1UL << 20, PAGE};
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < 4096; i++) {
			unsigned long r = int80(192, 0, sizes[k], PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1UL, 0);
			if (r > 0xfffff000UL) break;
			if (in_range(r, PAGE)) {
				say("sud inside: i386 mmap2(NULL, %#lx) at %#lx", sizes[k], r);
				k = 4;
				break;
			}
		}
	say("sud info: %s", reserved(m, PAGE) ? "the reservation is back" : "a hole where the selector was");
	return finish();
}
