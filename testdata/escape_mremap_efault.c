// escape_mremap_efault: a shrinking MREMAP_FIXED from an old range with
// nothing mapped at its start (here below vm.mmap_min_addr, its tail in
// the protected range) into the range. Since Linux 6.17 the kernel looks
// the old mapping up first and fails with EFAULT having changed nothing:
// the guard's reservation at the target is still there. The guard read
// the layout after the failure (RescanFailed) and took the distance from
// the old range's start to its first mapping (the reservation at LO) for
// how far a partial move had got: the whole target was counted as the
// program's, where its mprotect then made the reservation read-write.
#include "escape.h"

int main(int argc, char **argv) {
	set_mode(argc, argv);
	const unsigned long old = LO - 8 * PAGE, dst = 0x60000000UL;
	void *q = mremap((void *)old, 9 * PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)dst);
	int e = errno;
	struct mapping m;
	int was_reserved = mapped_at(dst, &m) && reservation(&m);
	int r = mprotect((void *)dst, PAGE, PROT_READ | PROT_WRITE);
	int pe = errno;
	verdict("mremap-efault", q == MAP_FAILED && !(was_reserved && r == 0),
	        "mremap: %s; target %s; mprotect there: %s", q == MAP_FAILED ? ename(e) : "moved",
	        was_reserved ? "the guard's reservation" : "not a reservation", r ? ename(pe) : "ok");
	return finish();
}
