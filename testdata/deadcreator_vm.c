// deadcreator_vm.c: new processes sharing the memory (clone(CLONE_VM))
// of a process D that is SIGKILLed while one of its threads (T2) is
// inside an mremap that moved D's page X (0x50000000, MAP_FIXED; with
// argv[4] "bss", a page of the image's .bss, for a non-PIE build placed
// in the range) out of the range: the kernel waits after the move for a
// userfaultfd remap event nobody reads, and the guard's reservation at X
// comes back only at the call's end, which never comes. D's death leaves
// the hole at X in the memory the children share. A child whose fork
// event was seen shares D's space and is killed when T2 dies in its call
// (fail closed); a child held for an event that never comes (its
// creator killed first) must fare no better: it may neither join D's
// space, whose model says X is reserved, nor run before the reservation
// is back in a space read from another such child's layout. Each child,
// once D is gone, tries MAP_32BIT and exits 43 if it landed in [LO, HI).
// R, the subreaper, runs argv[1] rounds (20) with argv[2] threads
// making children (3), kills D argv[3] microseconds (1000) after T2
// sleeps, and prints "END rounds=N children=C killed=K escapes=E nod=M"
// (nod: rounds where T2 was not seen asleep). Written by a helper in
// the fourteenth session's review, which found both ways in.
#define _GNU_SOURCE
#include "rounds.h"
#include <dirent.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
static unsigned long X = 0x50000000UL; // with "bss": a page of .bss (build -no-pie -Wl,-Ttext-segment=0x50000000 for --strict)
static char bss[16 * 4096] __attribute__((aligned(4096)));
#define LO 0x10000UL
#define HI 0x80000000UL
#define PAGE 4096UL

static volatile pid_t dpid;
static unsigned long to;
static int usebss;

static int vmchild(void *a) {
	(void)a;
	// wait until D is gone (reparented to R), at most ~2 s
	for (int i = 0; i < 20000 && syscall(SYS_getppid) == dpid; i++) {
		struct timespec ts = {0, 100000};
		syscall(SYS_nanosleep, &ts, 0);
	}
	long q = syscall(SYS_mmap, 0, PAGE, PROT_READ, MAP_32BIT | MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (q > 0 && (unsigned long)q >= LO && (unsigned long)q < HI) {
		char msg[] = "child: MAP_32BIT at 0x0000000000000000 (X was 0x0000000000000000)\n";
		for (int i = 0; i < 16; i++) {
			msg[sizeof "child: MAP_32BIT at 0x" - 1 + i] = "0123456789abcdef"[((unsigned long)q >> (60 - 4 * i)) & 15];
			msg[sizeof "child: MAP_32BIT at 0x0000000000000000 (X was 0x" - 1 + i] = "0123456789abcdef"[(X >> (60 - 4 * i)) & 15];
		}
		syscall(SYS_write, 1, msg, sizeof msg - 1);
		syscall(SYS_exit, 43);
	}
	syscall(SYS_exit, 0);
	return 0;
}

static void *forker(void *x) {
	(void)x;
	for (;;) {
		size_t n = 64 << 10;
		char *st = mmap(0, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (st != MAP_FAILED)
			clone(vmchild, st + n, CLONE_VM | SIGCHLD, 0);
	}
	return 0;
}

static void *mover(void *x) {
	int ready = (int)(long)x;
	(void)!write(ready, "x", 1);
	syscall(SYS_mremap, X, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	for (;;)
		pause();
	return 0;
}

static char state(pid_t tid) {
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)dpid, (int)tid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

static int nforkers = 3;

static void process(int round, int ready) {
	(void)round;
	dpid = getpid();
	if (!usebss && mmap((void *)X, PAGE, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_ANONYMOUS | MAP_PRIVATE, -1, 0) != (void *)X)
		_exit(3);
	((volatile char *)X)[0] = 1;
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMAP};
	struct uffdio_register reg = {.range = {.start = X, .len = PAGE}, .mode = UFFDIO_REGISTER_MODE_MISSING};
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg))
		_exit(4);
	to = (unsigned long)mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t t;
	for (int k = 0; k < nforkers; k++)
		pthread_create(&t, 0, forker, 0);
	struct timespec ts = {0, 300000};
	nanosleep(&ts, 0);
	pthread_create(&t, 0, mover, (void *)(long)ready);
	for (;;)
		pause();
}

// asleep reports whether a thread of process p sleeps uninterruptibly
// (D): the mremap waiting for its event to be read.
static int asleep(pid_t p) {
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)p);
	DIR *d = opendir(path);
	int found = 0;
	for (struct dirent *e; d && !found && (e = readdir(d));)
		found = e->d_name[0] != '.' && state(atoi(e->d_name)) == 'D';
	if (d)
		closedir(d);
	return found;
}

int main(int argc, char **argv) {
	int rounds = argc > 1 ? atoi(argv[1]) : 20;
	nforkers = argc > 2 ? atoi(argv[2]) : 3;
	int after = argc > 3 ? atoi(argv[3]) : 1000;
	usebss = argc > 4 && strcmp(argv[4], "bss") == 0;
	if (usebss)
		X = ((unsigned long)bss + 8 * PAGE) & ~(PAGE - 1);
	become_reaper();
	printf("X=%#lx\n", X);
	struct tally t = {0};
	long nod = 0;
	for (int r = 0; r < rounds; r++) {
		pid_t p = start_round(r, process);
		dpid = p;
		int seen = 0;
		for (int i = 0; i < 3000 && !(seen = asleep(p)); i++)
			usleep(500);
		nod += !seen;
		usleep(after);
		kill(p, SIGKILL);
		if (reap_round(r, p, &t))
			return 2;
	}
	printf("END rounds=%d children=%ld killed=%ld escapes=%ld nod=%ld\n", rounds, t.children, t.killed, t.status[43], nod);
	return 0;
}
