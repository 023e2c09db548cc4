// escape_orphanexec: new processes whose creator an exec ends before the
// guard sees their clone event, and whose first stop the guard sees
// before the exec's. The guard must give each the address space it
// really has; a copy of the exec'ing process's old model is wrong in
// two ways:
//
//   orphan-clonevm: a round process P makes C0 with clone(CLONE_VM),
//     then three threads make more such children (C1) while a fourth
//     execs /bin/true, which ends the creators of the last C1s before
//     their events. C0 then unmaps a page of P's .bss (in the range:
//     built -no-pie), which the guard reserves in the memory C0 and
//     every C1 share. Each C1's mprotect(RW) of it must fail (ENOMEM);
//     a C1 given a copy of the old model took the page for the
//     program's and made the reservation read-write.
//   orphan-clonevm-slowexit: the same, each of the three threads first
//     taking an undo list of SysV semaphore operations of its own, with
//     an entry for each of 500 sets: the exec's SIGKILL then ends it
//     slowly, its memory gone (exit_mm) a while before it is a zombie
//     (exit_sem comes in between). A creator killed after its event
//     was reported, seen in that while, answered kcmp "different" and
//     looked alive: its child got a copy of the old model.
//   orphan-cloneparent: P has a page of its own in the range (a .bss
//     page with "strict"; else one it maps with MAP_FIXED). P forks Q,
//     which unmaps the page and makes children with
//     clone(CLONE_PARENT): copies of Q, children of P, while a thread
//     of P's execs. Each child's mprotect(RW) of the page must fail.
//   orphan-cloneparent-dontfork: the same, Q marking the page
//     MADV_DONTFORK instead: Q's children lack it, and the guard must
//     put a reservation there; without the guard the hole is real.
//
// Usage: escape_orphanexec [strict] [ROUNDS]
#include "escape.h"
#include <sched.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>

static char bss[8 * PAGE] __attribute__((aligned(4096)));

// What the children of every round found, in memory all of them share
// (mapped before the first round; outside the range under the guard).
struct tally {
	int escapes, kids;
	char first[256];
};
static struct tally *tally;
static unsigned long page; // the page the routes aim at

static void found(const char *fmt, ...) {
	char what[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	if (__atomic_fetch_add(&tally->escapes, 1, __ATOMIC_SEQ_CST) == 0) memcpy(tally->first, what, sizeof what);
}

// mprotect_page makes the page read-write if it can, and tells.
static void mprotect_page(const char *who) {
	__atomic_add_fetch(&tally->kids, 1, __ATOMIC_SEQ_CST);
	long r = sys64(SYS_mprotect, page, PAGE, PROT_READ | PROT_WRITE, 0, 0, 0);
	if (r == 0) {
		*(volatile char *)page = 'X';
		found("%s %d: mprotect(%#lx, RW) of the unmapped page = 0", who, getpid(), page);
	} else if (r != -ENOMEM) {
		found("%s %d: mprotect(%#lx, RW): %s, want ENOMEM", who, getpid(), page, ename(-r));
	}
}

static long delay_us;
// nsem semaphore sets (semids) for slow_exit, and how many threads of
// the round have their undo lists ready.
static int nsem, *semids;
static volatile int ready;

// exec_after spins delay_us, then execs /bin/true.
static void *exec_after(void *x) {
	(void)x;
	while (nsem && ready < 3) sys64(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do clock_gettime(CLOCK_MONOTONIC, &t1);
	while ((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000 < delay_us);
	char *av[] = {"/bin/true", 0};
	execve(av[0], av, environ);
	_exit(3);
}

// --- orphan-clonevm ---

#define NSTACK 240
#define STK 16384
static char *stacks;
static int nextstack, rfd, wfd;
static volatile int started, done, unmapped;

static void wait_for_exec(void) {
	// The pipe's write end is P's (close-on-exec) and each child's
	// (closed here): read returns 0 once P has exec'd.
	char b;
	sys64(SYS_close, wfd, 0, 0, 0, 0, 0);
	while (sys64(SYS_read, rfd, (long)&b, 1, 0, 0, 0) > 0) {
	}
}

static int c1(void *arg) {
	(void)arg;
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	wait_for_exec();
	while (!unmapped) sys64(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
	mprotect_page("C1");
	__atomic_add_fetch(&done, 1, __ATOMIC_SEQ_CST);
	return 0;
}

static int c0(void *arg) {
	(void)arg;
	wait_for_exec();
	for (int i = 0; i < 200; i++) sys64(SYS_sched_yield, 0, 0, 0, 0, 0, 0);
	if (sys64(SYS_munmap, page, PAGE, 0, 0, 0, 0) != 0) found("C0: munmap of the page failed");
	unmapped = 1;
	struct timespec ts = {0, 2000000};
	for (int i = 0; i < 1500 && done < started; i++) sys64(SYS_nanosleep, (long)&ts, 0, 0, 0, 0, 0);
	return 0;
}

// slow_exit gives the calling thread an undo list of its own with an
// entry in each of the nsem sets (an increment and a decrement: the
// values stay), which its exit undoes after its memory is gone.
static void slow_exit(void) {
	if (nsem && unshare(CLONE_SYSVSEM) == 0) {
		for (int i = 0; i < nsem; i++) {
			struct sembuf op[2] = {{0, 1, SEM_UNDO}, {0, -1, SEM_UNDO}};
			semop(semids[i], op, 2);
		}
	}
	__atomic_add_fetch(&ready, 1, __ATOMIC_SEQ_CST);
}

static void *spawn_c1(void *x) {
	(void)x;
	slow_exit();
	for (int i = 0; i < 60; i++) {
		int s = __atomic_fetch_add(&nextstack, 1, __ATOMIC_SEQ_CST);
		if (s >= NSTACK) break;
		clone(c1, stacks + (long)(s + 1) * STK, CLONE_VM | SIGCHLD, 0);
	}
	return 0;
}

static void round_clonevm(void) {
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) _exit(2);
	rfd = p[0], wfd = p[1];
	stacks = mmap(NULL, (NSTACK + 2) * STK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stacks == MAP_FAILED || clone(c0, stacks + STK, CLONE_VM | SIGCHLD, 0) < 0) _exit(2);
	nextstack = 1;
	pthread_t th;
	for (int i = 0; i < 3; i++) pthread_create(&th, 0, spawn_c1, 0);
	pthread_create(&th, 0, exec_after, 0);
	for (;;) pause();
}

// --- orphan-cloneparent ---

static int dontfork;

static void cloneparent_child(void) {
	if (dontfork) {
		__atomic_add_fetch(&tally->kids, 1, __ATOMIC_SEQ_CST);
		struct mapping m;
		if (!mapped_at(page, &m)) {
			void *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
			found("child %d of Q's: a hole at %#lx, Q's MADV_DONTFORK page; MAP_32BIT = %p", getpid(), page, q);
		}
	} else {
		mprotect_page("child of Q's");
	}
	sys64(SYS_exit, 0, 0, 0, 0, 0, 0);
}

static void round_cloneparent(void) {
	int go[2];
	if (pipe2(go, O_CLOEXEC)) _exit(2);
	pid_t q = fork();
	if (q == 0) {
		char b;
		if (read(go[0], &b, 1) != 1) _exit(0);
		long r = dontfork ? madvise((void *)page, PAGE, MADV_DONTFORK) : munmap((void *)page, PAGE);
		if (r) found("Q: %s of the page: %s", dontfork ? "madvise" : "munmap", ename(errno));
		for (int i = 0; i < 150; i++) {
			long c = sys64(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0, 0);
			if (c == 0) cloneparent_child();
			if (c < 0) break;
		}
		_exit(0);
	}
	if (write(go[1], "g", 1) != 1) _exit(2);
	pthread_t th; // made after Q: its exec event comes first
	pthread_create(&th, 0, exec_after, 0);
	for (;;) pause();
}

// own_page makes page the program's own page in the range the route aims
// at: the .bss page with "strict", else a page it maps at at.
static void own_page(const char *route, unsigned long bsspage, unsigned long at) {
	page = bsspage;
	if (strict_mode) return;
	page = at;
	if (mmap((void *)page, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != (void *)page)
		say("%s FAIL: MAP_FIXED at %#lx: %s", route, page, ename(errno));
	allow(page, PAGE);
}

// rounds runs one route's rounds, each in a process of its own.
static void rounds(const char *route, int n, void (*round)(void), int max_delay_us) {
	memset(tally, 0, sizeof *tally);
	for (int r = 0; r < n; r++) {
		delay_us = 50 + rand() % max_delay_us;
		pid_t pid = fork();
		if (pid == 0) round();
		int st;
		while (wait(&st) > 0 || errno == EINTR) {
		}
	}
	if (tally->escapes) {
		failures++;
		say("%s ESCAPED: %d of %d children (first: %s)", route, tally->escapes, tally->kids, tally->first);
	} else
		verdict(route, tally->kids > 0, "%d rounds, %d children, none could use the page", n, tally->kids);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int n = 20;
	for (int i = 1; i < argc; i++)
		if (atoi(argv[i]) > 0) n = atoi(argv[i]);
	tally = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tally == MAP_FAILED) return 2;
	// Children whose creator is gone come back to this process.
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	srand(getpid());
	unsigned long bsspage = (((unsigned long)bss + PAGE - 1) & ~(PAGE - 1)) + 2 * PAGE;

	page = bsspage;
	bss[page - (unsigned long)bss] = 1;
	if (!in_range(page, PAGE)) say("orphan-clonevm info: .bss page %#lx not in the range (build -no-pie)", page);
	rounds("orphan-clonevm", n, round_clonevm, 1500);

	semids = calloc(500, sizeof *semids);
	for (nsem = 0; semids && nsem < 500; nsem++)
		if ((semids[nsem] = semget(IPC_PRIVATE, 1, 0600)) < 0) break;
	if (nsem < 500) say("orphan-clonevm-slowexit info: %d semaphore sets of 500: %s", nsem, ename(errno));
	rounds("orphan-clonevm-slowexit", n, round_clonevm, 1500);
	for (int i = 0; i < nsem; i++) semctl(semids[i], 0, IPC_RMID);
	nsem = 0;

	own_page("orphan-cloneparent", bsspage, 0x50000000);
	rounds("orphan-cloneparent", n, round_cloneparent, 3000);

	dontfork = 1;
	// Just below the range's end, where MAP_32BIT looks first.
	own_page("orphan-cloneparent-dontfork", bsspage, 0x7fff0000);
	rounds("orphan-cloneparent-dontfork", n, round_cloneparent, 3000);
	return finish();
}
