// escape_sleepgrow: a freeze goes on without a thread asleep in the
// kernel in a call that "cannot place a mapping" (trace/freeze.go,
// lookAtSleepers), but such a call still writes to the program's memory
// when it wakes, and a fault below a MAP_GROWSDOWN mapping grows that
// mapping down into whatever is free there: the hole the holder's call
// has just left, before the reservation is back.
//
// A MAP_GROWSDOWN mapping G starts at the range's end (HI, outside it);
// the program's own page M (MAP_FIXED, honoured without --strict) lies
// just below it, registered with a userfaultfd asking for remap events.
// A thread calls process_vm_readv on itself: its remote side is a page
// registered (missing mode) with a second userfaultfd, its local side
// lies in M. The call sleeps in the fault (killable only: PTRACE_INTERRUPT
// does not stop it; /proc/TID/syscall says 310). The main thread grows M
// with mremap(MREMAP_MAYMOVE): G is in the way, so the kernel moves M out
// of the range, then waits, in the call, for the remap event to be read.
// A forked child (a process of its own, never frozen) sees the event
// pending, resolves the sleeping thread's fault (UFFDIO_ZEROPAGE), waits
// a little and only then reads the event. The woken call copies into M's
// old page, which nothing maps: G grows down over it, inside the range.
// The reservation the guard puts back there (MAP_FIXED_NOREPLACE) fails
// with EEXIST over a range the layout shows covered, which it took for
// its own reservation left in place (Guard.Kept) and went on: G's
// growth stayed, read-write, in the protected range. Natively G grows
// so too ("ESCAPED"); under the guard the program must be killed.
#include "escape.h"

#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/wait.h>

static unsigned long remote;

static void *sleeper(void *arg) {
	(void)arg;
	struct iovec l = {(void *)(HI - 64), 32}, r = {(void *)remote, 32};
	long n = process_vm_readv(getpid(), &l, 1, &r, 1, 0);
	say("sleepgrow info: process_vm_readv: %ld (%s)", n, n < 0 ? ename(errno) : "ok");
	return NULL;
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	unsigned long m = HI - PAGE;
	if (mmap((void *)HI, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_GROWSDOWN,
	         -1, 0) == MAP_FAILED ||
	    mmap((void *)m, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		say("sleepgrow FAIL: mapping: %s", ename(errno));
		return 1;
	}
	// (M is the program's, asked for; it is not allow()ed because the
	// verdict is taken after it has left: its old page must be free or
	// reserved then.)
	*(volatile char *)m = 1;
	void *rp = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	remote = (unsigned long)rp;
	int ev = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int flt = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (rp == MAP_FAILED || ev < 0 || flt < 0) {
		say("sleepgrow FAIL: userfaultfd: %s", ename(errno));
		return 1;
	}
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMAP};
	struct uffdio_api api2 = {.api = UFFD_API};
	struct uffdio_register reg = {.range = {.start = m, .len = PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	struct uffdio_register reg2 = {.range = {.start = remote, .len = PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (ioctl(ev, UFFDIO_API, &api) || ioctl(ev, UFFDIO_REGISTER, &reg) || ioctl(flt, UFFDIO_API, &api2) ||
	    ioctl(flt, UFFDIO_REGISTER, &reg2)) {
		say("sleepgrow FAIL: registering: %s", ename(errno));
		return 1;
	}
	pid_t c = fork();
	if (c == 0) {
		struct uffd_msg msg;
		if (read(flt, &msg, sizeof msg) != sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT) _exit(1);
		struct pollfd pf = {ev, POLLIN, 0};
		if (poll(&pf, 1, 10000) != 1) _exit(2); // the remap event: the hole is there
		struct uffdio_zeropage z = {.range = {.start = remote, .len = PAGE}};
		if (ioctl(flt, UFFDIO_ZEROPAGE, &z)) _exit(3);
		usleep(50000);
		if (read(ev, &msg, sizeof msg) != sizeof msg) _exit(4);
		_exit(0);
	}
	pthread_t th;
	pthread_create(&th, NULL, sleeper, NULL);
	usleep(100000);
	void *q = mremap((void *)m, PAGE, 2 * PAGE, MREMAP_MAYMOVE);
	pthread_join(th, NULL);
	int st = 0;
	waitpid(c, &st, 0);
	verdict("sleepgrow", q != MAP_FAILED && !in_range((unsigned long)q, 2 * PAGE) && WIFEXITED(st) &&
	                         WEXITSTATUS(st) == 0 && reserved(m, PAGE),
	        "mremap moved the page to %p; child status %#x; its old page %s", q, st,
	        reserved(m, PAGE) ? "reserved" : "not reserved");
	return finish();
}
