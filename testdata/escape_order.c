// escape_order.c: two threads' calls on the same page of the program's
// in the range, decided by the tracer in one order and run by the
// kernel in the other (found in the ninth session).
//
// Thread A makes a call on a page; once the tracer has let it go on from
// its seccomp stop (A was seen stopped, 't', and then not), A waits for
// a CPU (it runs SCHED_IDLE on a CPU a busy thread holds), and the main
// thread makes its own call on the same page, which the tracer decides
// after A's and the kernel runs first:
//
//	mprotect  A: mprotect(PROT_READ); main: munmap (the guard maps a
//	          reservation over the page). A's mprotect then ran on the
//	          reservation: a readable page in the range.
//	madvise   A: madvise(MADV_DONTFORK); main: munmap. The reservation
//	          got the advice: a forked child had a hole there.
//	fixed     A: munmap; main: MAP_FIXED read-write over the page
//	          (honoured without --strict), then mprotect. A's reservation
//	          ran last, the model had the program's page: the mprotect
//	          made the reservation read-write.
//	dofork    the page marked MADV_DONTFORK first; A: madvise
//	          (MADV_DOFORK); main: fork. The kernel copied the space
//	          before A's madvise ran: the child lacked the page, and the
//	          guard, whose model had it inherited, reserved nothing there.
//
// The pages are those of a -no-pie program's .bss (its own from the
// start, so with --strict too; "fixed" only without). Usage:
// escape_order [strict] [mprotect|madvise|fixed|dofork]
#include "escape.h"
#include <sched.h>
#include <sys/wait.h>

// Pages to try on (each once) until RACES rounds have raced: a round
// races only if the main thread sees A stopped and let go, which on a
// loaded machine it may miss for dozens of rounds in a row.
#define NPAGES 256
#define RACES 32
static char bss[NPAGES + 1][PAGE] __attribute__((aligned(4096)));

static volatile int go, done, stop_hog;
static volatile unsigned long target;
static volatile long aret;
static volatile pid_t atid;
enum { MPROTECT, MADVISE, FIXED, DOFORK };
static int mode = MPROTECT;

static void pin(int cpu) {
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof s, &s);
}

static void *hog(void *x) {
	(void)x;
	pin(1);
	while (!stop_hog) __asm__ volatile("" ::: "memory");
	return 0;
}

static void *thread_a(void *x) {
	(void)x;
	pin(1);
	atid = gettid();
	for (;;) {
		while (!go) {
			if (stop_hog) return 0;
			usleep(50);
		}
		go = 0;
		long r;
		if (mode == MPROTECT) r = mprotect((void *)target, PAGE, PROT_READ);
		else if (mode == MADVISE) r = madvise((void *)target, PAGE, MADV_DONTFORK);
		else if (mode == DOFORK) r = madvise((void *)target, PAGE, MADV_DOFORK);
		else r = munmap((void *)target, PAGE);
		aret = r;
		done = 1;
	}
}

static char state_of(pid_t t) {
	char p[64], b[256];
	snprintf(p, sizeof p, "/proc/self/task/%d/stat", t);
	int fd = open(p, O_RDONLY);
	if (fd < 0) return '?';
	ssize_t n = read(fd, b, sizeof b - 1);
	close(fd);
	if (n <= 0) return '?';
	b[n] = 0;
	char *c = strrchr(b, ')');
	return c && c[1] ? c[2] : '?';
}

static void set_idle(pid_t t) {
	struct {
		uint32_t size, policy;
		uint64_t flags;
		int32_t nice;
		uint32_t prio;
		uint64_t rt, dl, per;
	} at = {0};
	at.size = 48;
	at.policy = SCHED_IDLE;
	syscall(SYS_sched_setattr, t, &at, 0);
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	const char *route = "order-mprotect";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "madvise")) mode = MADVISE, route = "order-dontfork";
		if (!strcmp(argv[i], "fixed")) mode = FIXED, route = "order-fixed";
		if (!strcmp(argv[i], "dofork")) mode = DOFORK, route = "order-dofork";
	}
	unsigned long base = ((unsigned long)bss + PAGE - 1) & ~(PAGE - 1);
	if (!in_range(base, NPAGES * PAGE)) {
		say("setup FAIL: .bss at %#lx not in the range (build with -no-pie)", base);
		return 2;
	}
	for (int i = 0; i < NPAGES; i++) ((volatile char *)base)[i * PAGE] = 1;
	pthread_t h, a;
	pthread_create(&h, 0, hog, 0);
	pthread_create(&a, 0, thread_a, 0);
	while (!atid) usleep(100);
	set_idle(atid);
	pin(0);
	int raced = 0, bad = 0;
	for (int i = 0; i < NPAGES && !bad && raced < RACES; i++) {
		unsigned long pg = base + i * PAGE;
		if (mode == DOFORK) madvise((void *)pg, PAGE, MADV_DONTFORK);
		target = pg;
		done = 0;
		go = 1;
		// A at its seccomp stop, then let go by the tracer.
		int seen = 0;
		for (int k = 0; k < 2000000 && !done; k++) {
			char s = state_of(atid);
			if (s == 't') seen = 1;
			else if (seen) break;
		}
		if (!seen || done) {
			while (!done) usleep(50);
			continue;
		}
		raced++;
		long r;
		if (mode == DOFORK) {
			pid_t c = fork();
			if (c == 0) {
				struct mapping m;
				if (!mapped_at(pg, &m)) {
					say("%s ESCAPED: the child has a hole at %#lx (the MADV_DOFORK decided before the fork ran "
					    "after the copy)",
					    route, pg);
					_exit(1);
				}
				_exit(0);
			}
			int st = 0;
			waitpid(c, &st, 0);
			while (!done) usleep(50);
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failures++, bad = 1;
			continue;
		}
		if (mode == FIXED) {
			void *p = mmap((void *)pg, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			r = p == (void *)pg ? 0 : -1;
		} else {
			r = munmap((void *)pg, PAGE);
		}
		while (!done) usleep(50);
		struct mapping m;
		if (mode == MPROTECT) {
			if (r == 0 && aret == 0 && mapped_at(pg, &m) && !reservation(&m)) {
				say("%s ESCAPED: %lx-%lx %s %lu (the mprotect decided before the munmap ran after it, on the reservation)",
				    route, m.start, m.end, m.perms, m.inode);
				failures++, bad = 1;
			}
		} else if (mode == FIXED) {
			// The call the kernel ran last decides what is there; the
			// guard's model must agree: a reservation stays one.
			int was = mapped_at(pg, &m) && reservation(&m);
			long pr = mprotect((void *)pg, PAGE, PROT_READ | PROT_WRITE);
			if (was && pr == 0 && mapped_at(pg, &m) && !reservation(&m)) {
				say("%s ESCAPED: %lx-%lx %s %lu (the MAP_FIXED decided after the munmap ran before its reservation; "
				    "then mprotect made the reservation read-write)",
				    route, m.start, m.end, m.perms, m.inode);
				failures++, bad = 1;
			} else if (!was && r == 0) {
				allow(pg, PAGE); // the program's page, asked for
			}
		}
	}
	stop_hog = 1;
	pthread_join(a, 0);
	pthread_join(h, 0);
	say("order info: %d raced rounds", raced);
	if (mode == MADVISE) {
		// A forked child must have no more holes in the range than its
		// parent.
		unsigned long before = hole_bytes();
		pid_t c = fork();
		if (c == 0) {
			unsigned long holes = hole_bytes();
			if (holes > before) {
				say("%s ESCAPED: the child has %lu bytes more unmapped in the range than its parent", route,
				    holes - before);
				_exit(1);
			}
			_exit(0);
		}
		int st = 0;
		waitpid(c, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) failures++, bad = 1;
	}
	if (!bad) verdict(route, raced > 0, "%d rounds raced", raced);
	return finish();
}
