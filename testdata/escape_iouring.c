// escape_iouring: io_uring runs some system calls' work for the program
// without the system call itself: IORING_OP_MADVISE is madvise(2) done
// by the kernel on the ring's behalf, out of seccomp's sight. Aimed at a
// reservation with MADV_DONTFORK it would leave a forked child a hole
// where the reservation was. The guard answers io_uring_setup,
// io_uring_enter and io_uring_register with ENOSYS, as a kernel without
// io_uring would: no ring can be made, and none handed in from outside
// (a descriptor passed over a socket or inherited) can be driven.
//
// Without the guard the ring works: the probe stands in a PROT_NONE
// mapping for the reservation, marks it MADV_DONTFORK through the ring,
// and the forked child finds the hole (FAIL), the proof that the probe
// sees what it looks for.
#include "escape.h"

#include <linux/io_uring.h>
#include <sys/wait.h>

#define RES 0x34000000UL
#define LEN (64 * PAGE)

static long uring_setup(unsigned entries, struct io_uring_params *p) {
	return syscall(__NR_io_uring_setup, entries, p);
}

static long uring_enter(int fd, unsigned submit, unsigned wait, unsigned flags) {
	return syscall(__NR_io_uring_enter, fd, submit, wait, flags, NULL, 0);
}

// ring_madvise runs madvise(addr, len, advice) through a fresh ring and
// returns the completion's result (a negative errno), or 1 with errno set
// when the ring itself could not be made or driven.
static int ring_madvise(unsigned long addr, unsigned long len, int advice) {
	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	int fd = uring_setup(4, &p);
	if (fd < 0) return 1;
	size_t sqlen = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cqlen = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	char *sq = mmap(NULL, sqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	char *cq = mmap(NULL, cqlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
	                                 MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) return 1;
	unsigned *tail = (unsigned *)(sq + p.sq_off.tail), *mask = (unsigned *)(sq + p.sq_off.ring_mask);
	unsigned *array = (unsigned *)(sq + p.sq_off.array);
	unsigned idx = *tail & *mask;
	memset(&sqes[idx], 0, sizeof sqes[idx]);
	sqes[idx].opcode = IORING_OP_MADVISE;
	sqes[idx].addr = addr;
	sqes[idx].len = len;
	sqes[idx].fadvise_advice = advice;
	array[idx] = idx;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	if (uring_enter(fd, 1, 1, IORING_ENTER_GETEVENTS) < 0) return 1;
	unsigned *head = (unsigned *)(cq + p.cq_off.head);
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
	int res = cqes[*head & *(unsigned *)(cq + p.cq_off.ring_mask)].res;
	close(fd);
	return res;
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int was = reserved(RES, LEN);
	if (!was) {
		// No guard: a PROT_NONE mapping stands in for the reservation.
		void *p = mmap((void *)RES, LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != (void *)RES) {
			say("setup FAIL: cannot map the stand-in at %#lx: %s", RES, ename(errno));
			return finish();
		}
	}

	struct io_uring_params p;
	memset(&p, 0, sizeof p);
	long r = uring_setup(4, &p);
	int e = errno;
	if (r >= 0) close(r);
	expect_errno("iouring-setup", r, e, ENOSYS, "io_uring_setup(4)");
	// A ring made outside the guard and handed in cannot be driven
	// either: the call is refused before the descriptor is looked at
	// (without the guard, EBADF).
	r = uring_enter(-1, 0, 0, 0);
	expect_errno("iouring-enter", r, errno, ENOSYS, "io_uring_enter(-1)");
	r = syscall(__NR_io_uring_register, -1, IORING_REGISTER_PROBE, NULL, 0);
	expect_errno("iouring-register", r, errno, ENOSYS, "io_uring_register(-1)");

	int res = ring_madvise(RES, LEN, MADV_DONTFORK);
	if (res == 1) verdict("iouring-madvise-dontfork", errno == ENOSYS, "no ring: %s", ename(errno));
	else say("iouring-madvise-dontfork info: the ring's madvise(MADV_DONTFORK) returned %d", res);

	int fds[2];
	if (pipe(fds) != 0) return 2;
	pid_t pid = fork();
	if (pid == 0) {
		char c = reserved(RES, LEN) ? '1' : '0';
		ssize_t w = write(fds[1], &c, 1);
		(void)w;
		_exit(0);
	}
	char c = 0;
	ssize_t n = read(fds[0], &c, 1);
	int st = 0;
	waitpid(pid, &st, 0);
	if (n != 1 || !WIFEXITED(st)) verdict("iouring-fork-after-madvise", 0, "child status %#x", st);
	else verdict("iouring-fork-after-madvise", c == '1', "the child's 0x34000000: %s",
	             c == '1' ? "still reserved" : "a hole");
	return finish();
}
