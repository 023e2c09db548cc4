// escape_madvise: madvise aimed at reservations, with the advice that
// changes what a forked child inherits (MADV_DONTFORK would leave the
// child a hole where the reservation was; MADV_WIPEONFORK) and the ones
// that free memory. Each must fail with ENOMEM, as on unmapped memory;
// then a forked child must find the range without a new hole. Without
// --strict (argv[1] "strict") also a MADV_DONTFORK across the program's
// own mapping and a reservation: the own part is not inherited, and the
// child gets a reservation there instead of a hole (also when the
// advice has garbage in its high 32 bits, which the kernel ignores: it
// takes an int). The same advice
// through process_madvise on the program itself (any advice since Linux
// 6.15, over ranges in memory) must fail with EINVAL, as before 6.15.
#include "escape.h"

#include <sys/uio.h>
#include <sys/wait.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define RES 0x32000000UL
#define OWN 0x33000000UL
#define OWN2 0x33100000UL

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int was = reserved(RES, 64 * PAGE);
	static const struct {
		const char *route, *name;
		int advice, want;
	} cases[] = {
		{"madvise-dontfork-reservation", "MADV_DONTFORK", MADV_DONTFORK, ENOMEM},
		{"madvise-wipeonfork-reservation", "MADV_WIPEONFORK", MADV_WIPEONFORK, ENOMEM},
		{"madvise-dontneed-reservation", "MADV_DONTNEED", MADV_DONTNEED, ENOMEM},
		{"madvise-free-reservation", "MADV_FREE", MADV_FREE, ENOMEM},
		{"madvise-remove-reservation", "MADV_REMOVE", MADV_REMOVE, ENOMEM},
		{"madvise-dofork-reservation", "MADV_DOFORK", MADV_DOFORK, ENOMEM},
		{"madvise-guard-install-reservation", "MADV_GUARD_INSTALL", MADV_GUARD_INSTALL, ENOMEM},
		{"madvise-unknown-advice-reservation", "advice 77", 77, EINVAL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char what[96];
		snprintf(what, sizeof what, "madvise(0x32000000, 256 KiB, %s)", cases[i].name);
		long r = madvise((void *)RES, 64 * PAGE, cases[i].advice);
		expect_errno(cases[i].route, r, errno, cases[i].want, what);
	}
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	struct iovec iov = {(void *)RES, 64 * PAGE};
	static const struct {
		const char *route, *name;
		int advice;
	} pcases[] = {
		{"process-madvise-dontfork-reservation", "MADV_DONTFORK", MADV_DONTFORK},
		{"process-madvise-wipeonfork-reservation", "MADV_WIPEONFORK", MADV_WIPEONFORK},
		{"process-madvise-dontneed-reservation", "MADV_DONTNEED", MADV_DONTNEED},
	};
	for (size_t i = 0; i < sizeof pcases / sizeof pcases[0]; i++) {
		char what[96];
		snprintf(what, sizeof what, "process_madvise(self, 0x32000000, 256 KiB, %s)", pcases[i].name);
		long r = syscall(SYS_process_madvise, pidfd, &iov, 1, pcases[i].advice, 0);
		expect_errno(pcases[i].route, r, errno, EINVAL, what);
	}
	close(pidfd);
	still_reserved("reservation-after-madvise", RES, 64 * PAGE, was, "after the madvise calls");

	int own = 0;
	if (!strict_mode) {
		char *p = mmap((void *)OWN, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		own = p == (char *)OWN;
		if (own) allow(OWN, 2 * PAGE);
		long r = madvise((void *)(OWN - PAGE), 4 * PAGE, MADV_DONTFORK);
		expect_errno("madvise-dontfork-own-and-reservation", r, errno, ENOMEM,
		             "madvise(reservation + own 2 pages + reservation, MADV_DONTFORK)");
	}

	unsigned long holes = hole_bytes();
	int fds[2];
	if (pipe(fds) != 0) return 2;
	pid_t pid = fork();
	if (pid == 0) {
		// The child: the same reservations, no new hole; where the
		// parent's DONTFORK mapping was, a reservation.
		char msg[256];
		unsigned long ch = hole_bytes();
		int ok = ch <= holes && (!was || reserved(RES, 64 * PAGE)) && (!own || reserved(OWN, 2 * PAGE));
		snprintf(msg, sizeof msg, "%d child holes %lu bytes (parent %lu); 0x32000000 %s; own DONTFORK range %s", ok, ch,
		         holes, reserved(RES, 64 * PAGE) ? "reserved" : "NOT reserved",
		         !own ? "n/a" : reserved(OWN, 2 * PAGE) ? "reserved" : "NOT reserved");
		ssize_t w = write(fds[1], msg, strlen(msg) + 1);
		(void)w;
		_exit(0);
	}
	char msg[256] = "";
	ssize_t n = read(fds[0], msg, sizeof msg - 1);
	int st = 0;
	waitpid(pid, &st, 0);
	if (n <= 0 || !WIFEXITED(st)) verdict("fork-after-madvise", 0, "child status %#x", st);
	else verdict("fork-after-madvise", msg[0] == '1', "fork: %s", msg + 2);

	if (own) {
		// The program's own mapping marked MADV_DONTFORK exactly (it
		// applies), then a fork made through the i386 entry (int $0x80,
		// fork = 2) from 64-bit code: the child stands after a 2-byte
		// int $0x80, not a syscall instruction, and must still get its
		// 64-bit reservation there before it runs.
		long r = madvise((void *)OWN, 2 * PAGE, MADV_DONTFORK);
		if (r != 0) {
			verdict("fork-int80-after-dontfork", 0, "madvise(own 2 pages, MADV_DONTFORK): %s", ename(errno));
			return finish();
		}
		unsigned long before = hole_bytes();
		unsigned long f = int80(2, 0, 0, 0, 0, 0, 0);
		if (f == 0) {
			char m[256];
			unsigned long ch = hole_bytes();
			int ok = ch <= before && reserved(OWN, 2 * PAGE);
			snprintf(m, sizeof m, "%d child holes %lu bytes (parent %lu); own DONTFORK range %s", ok, ch, before,
			         reserved(OWN, 2 * PAGE) ? "reserved" : "NOT reserved");
			ssize_t w = write(fds[1], m, strlen(m) + 1);
			(void)w;
			_exit(0);
		}
		msg[0] = 0;
		n = err32(f) ? -1 : read(fds[0], msg, sizeof msg - 1);
		st = 0;
		if (!err32(f)) waitpid((pid_t)f, &st, 0);
		if (n <= 0 || !WIFEXITED(st)) verdict("fork-int80-after-dontfork", 0, "i386 fork = %#lx, child status %#x", f, st);
		else verdict("fork-int80-after-dontfork", msg[0] == '1', "i386 fork: %s", msg + 2);

		// MADV_DONTFORK with garbage in the high word of the advice: the
		// kernel takes an int, and applies it.
		char *q = mmap((void *)OWN2, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (q != (char *)OWN2) {
			verdict("fork-after-dontfork-hi-garbage", 0, "mmap(0x33100000, MAP_FIXED): %s", ename(errno));
			return finish();
		}
		allow(OWN2, PAGE);
		r = sys64(SYS_madvise, OWN2, PAGE, 1UL << 32 | MADV_DONTFORK, 0, 0, 0);
		if (r != 0) {
			verdict("fork-after-dontfork-hi-garbage", 0, "madvise(own page, 1<<32|MADV_DONTFORK): %s", ename(err64(r)));
			return finish();
		}
		before = hole_bytes();
		pid = fork();
		if (pid == 0) {
			char m[256];
			unsigned long ch = hole_bytes();
			int ok = ch <= before && reserved(OWN2, PAGE);
			snprintf(m, sizeof m, "%d child holes %lu bytes (parent %lu); own DONTFORK page %s", ok, ch, before,
			         reserved(OWN2, PAGE) ? "reserved" : "NOT reserved");
			ssize_t w = write(fds[1], m, strlen(m) + 1);
			(void)w;
			_exit(0);
		}
		msg[0] = 0;
		n = read(fds[0], msg, sizeof msg - 1);
		st = 0;
		waitpid(pid, &st, 0);
		if (n <= 0 || !WIFEXITED(st)) verdict("fork-after-dontfork-hi-garbage", 0, "child status %#x", st);
		else verdict("fork-after-dontfork-hi-garbage", msg[0] == '1', "fork: %s", msg + 2);
	}
	return finish();
}
