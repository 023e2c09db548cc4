// uffd_flight.c: a userfaultfd handler thread that makes a mapping call
// on pages in a protected range while another thread sleeps in a
// madvise(MADV_POPULATE_WRITE) that only the handler can end.
//
//   in     the uffd region is in the range; the populating thread's
//          madvise is the call in flight; the handler mprotects a page
//          of it before UFFDIO_COPY (the documented window)
//   stale  the uffd region is outside every guarded range (its madvise
//          is not trapped); the populating thread made a madvise on a
//          page in the range just before it; the handler madvises that
//          page before UFFDIO_COPY
//   nearfile  as in, but the handler maps a page of a file with MAP_FIXED
//          at 0x3ff00000, 2 MiB below the populated pages (no page in
//          common: the flight span of a file mapping reaches 1 GiB past
//          its end, for huge pages)
//   touch  as stale, but the populating thread touches the uffd pages
//          (a user page fault) instead of MADV_POPULATE_WRITE
//   neardev  as nearfile, but the file is /dev/zero, a device, whose
//          mmap may fail after the kernel unmapped the target: the guard
//          holds the other threads while it maps it, and the populating
//          thread, asleep until the handler serves its fault, never stops
//
// Usage: uffd_flight in|stale|touch|nearfile|neardev [ROUNDS]. Prints "OK"
// natively.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define PAGE 4096UL
#define NP 4
static char *inpage = (char *)0x40000000UL; // in the range
static char *ureg;                           // the uffd region
static int uffd, mode;
enum { IN, STALE, TOUCH, NEARFILE, NEARDEV };
static int filefd;

static void *handler(void *x) {
	(void)x;
	static char src[PAGE] __attribute__((aligned(4096)));
	memset(src, 'x', sizeof src);
	for (;;) {
		struct pollfd p = {.fd = uffd, .events = POLLIN};
		if (poll(&p, 1, -1) < 0) continue;
		struct uffd_msg m;
		if (read(uffd, &m, sizeof m) != sizeof m) continue;
		if (m.event != UFFD_EVENT_PAGEFAULT) continue;
		unsigned long a = m.arg.pagefault.address & ~(PAGE - 1);
		// the handler's own mapping call, on pages the other thread's
		// call (in flight) touched
		if (mode == NEARFILE || mode == NEARDEV) {
			if (mmap((void *)0x3ff00000UL, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED, filefd, 0) == MAP_FAILED) perror("mmap file");
		} else if (mode == IN) {
			if (mprotect((void *)a, PAGE, PROT_READ | PROT_WRITE)) perror("mprotect");
		} else {
			if (madvise(inpage, PAGE, MADV_DONTNEED)) perror("madvise");
		}
		struct uffdio_copy c = {.dst = a, .src = (unsigned long)src, .len = PAGE};
		if (ioctl(uffd, UFFDIO_COPY, &c) && errno != EEXIST) perror("UFFDIO_COPY");
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2) return 2;
	mode = !strcmp(argv[1], "in") ? IN : !strcmp(argv[1], "stale") ? STALE : !strcmp(argv[1], "nearfile") ? NEARFILE
	     : !strcmp(argv[1], "neardev") ? NEARDEV : TOUCH;
	filefd = open(mode == NEARDEV ? "/dev/zero" : "/proc/self/exe", O_RDONLY);
	int rounds = argc > 2 ? atoi(argv[2]) : 20;
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0) { perror("userfaultfd"); return 1; }
	struct uffdio_api api = {.api = UFFD_API};
	if (ioctl(uffd, UFFDIO_API, &api)) { perror("UFFDIO_API"); return 1; }
	if (mmap(inpage, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
		perror("mmap in");
		return 1;
	}
	pthread_t h;
	pthread_create(&h, 0, handler, 0);
	for (int r = 0; r < rounds; r++) {
		if (mode == IN || mode == NEARFILE || mode == NEARDEV)
			ureg = mmap((char *)0x40100000UL, NP * PAGE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		else
			ureg = mmap(0, NP * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (ureg == MAP_FAILED) { perror("mmap"); return 1; }
		struct uffdio_register reg = {.range = {(unsigned long)ureg, NP * PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
		if (ioctl(uffd, UFFDIO_REGISTER, &reg)) { perror("UFFDIO_REGISTER"); return 1; }
		if (mode != IN) {
			// a call of this thread's on the page in the range, then the
			// populate (untrapped) of pages outside
			if (madvise(inpage, PAGE, MADV_WILLNEED)) perror("madvise willneed");
		}
		if (mode == TOUCH) {
			for (int i = 0; i < NP; i++) ureg[i * PAGE] += 1;
		} else if (madvise(ureg, NP * PAGE, MADV_POPULATE_WRITE)) {
			perror("MADV_POPULATE_WRITE");
			return 1;
		}
		if (ureg[0] != 'x' + (mode == TOUCH)) { fprintf(stderr, "bad byte %d\n", ureg[0]); return 1; }
		munmap(ureg, NP * PAGE);
	}
	printf("OK\n");
	return 0;
}
