// escape_aio: an AIO ring (io_setup) moved into the range with mremap
// (an explicit placement, honoured without --strict), then io_destroy,
// which unmaps the ring inside the kernel: no call the guard sees as one
// that unmaps. The guard refuses the move (EINVAL).
#include "escape.h"

#include <linux/aio_abi.h>

int main(int argc, char **argv) {
	set_mode(argc, argv);
	aio_context_t ctx = 0;
	if (syscall(SYS_io_setup, 1, &ctx) != 0) {
		say("setup FAIL: io_setup: %s", ename(errno));
		return 2;
	}
	struct mapping m;
	if (!mapped_at(ctx, &m)) {
		say("setup FAIL: no ring at %#lx", (unsigned long)ctx);
		return 2;
	}
	unsigned long len = m.end - m.start, to = 0x30000000;
	void *p = mremap((void *)m.start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)to);
	int e = errno;
	if (p != MAP_FAILED) allow(to, len);
	long d = syscall(SYS_io_destroy, p == MAP_FAILED ? ctx : (aio_context_t)to);
	int hole = !nohole(to, len);
	if (p != MAP_FAILED) {
		pthread_mutex_lock(&maps_lock);
		nokv--;
		pthread_mutex_unlock(&maps_lock);
	}
	verdict("aio-ring-moved-in", !hole && p == MAP_FAILED && (e == EINVAL || (strict_mode && e == EPERM)),
	        "mremap of the ring (%lu bytes) to %#lx: %s; io_destroy = %ld; hole left: %s", len, to,
	        p == MAP_FAILED ? ename(e) : "moved", d, hole ? "YES" : "no");
	return finish();
}
