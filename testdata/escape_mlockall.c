// escape_mlockall: after mlockall(MCL_FUTURE) every new mapping is
// locked, and one that would take the locked memory past RLIMIT_MEMLOCK
// fails with EAGAIN before the kernel unmaps anything (without
// CAP_IPC_LOCK: the probe drops it, for a run as root). That holds for
// the guard's reservations too: the MAP_FIXED that rolls back a failed
// call of the program's over a reservation fails the same way, over the
// reservation the failed call left in place. The guard took the failed
// rollback for a reservation gone, and the program's mprotect then made
// the reservation read-write (found in the tenth session). Routes:
//
//	mlock-fixed: MAP_FIXED of 1 MiB over a reservation (EAGAIN; EPERM
//	with --strict), then mprotect(PROT_READ|PROT_WRITE) there (ENOMEM).
//	mlock-noreplace: the same with MAP_FIXED_NOREPLACE.
//	mlock-hint: a hint inside the range (moved to the pool) of 1 MiB
//	(EAGAIN), then the mprotect of the hint's place.
//	mlock-skip-report: MAP_FIXED_NOREPLACE of 1 MiB over a reservation,
//	tried again and again while another thread sends the caller
//	SIGUSR1 without pause; a handler that finds itself called on the
//	guard's code page (the pool's first page, 0x200000000000) leaves
//	with siglongjmp, skipping the code's report of the failure. The
//	guard rewrote the call to MAP_FIXED and sent it to return there (a
//	one-stop rewrite), and the model kept the mapping that never was:
//	the mprotect made the reservation read-write.
#include "escape.h"

#include <linux/capability.h>
#include <setjmp.h>
#include <sys/resource.h>
#include <time.h>
#include <ucontext.h>

static void drop_ipc_lock(void) {
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) != 0) return;
	for (int i = 0; i < 2; i++) d[i].effective = d[i].permitted = d[i].inheritable = 0;
	if (syscall(SYS_capset, &h, d) != 0) say("setup info: capset: %s", ename(errno));
}

static void attempt(const char *route, unsigned long a, int flags) {
	const unsigned long len = 1UL << 20;
	int was = reserved(a, len);
	void *p = mmap((void *)a, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	int e = errno;
	if (p != MAP_FAILED) {
		verdict(route, 0, "mmap(%#lx, 1 MiB) = %p, want EAGAIN (RLIMIT_MEMLOCK under MCL_FUTURE)", a, p);
		munmap(p, len);
		return;
	}
	int want = strict_mode && (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) ? EPERM : EAGAIN;
	int r = mprotect((void *)a, len, PROT_READ | PROT_WRITE);
	int e2 = errno;
	if (r == 0) {
		verdict(route, 0, "mmap(%#lx, 1 MiB): %s; then mprotect(PROT_READ|PROT_WRITE) = 0, want ENOMEM", a, ename(e));
		return;
	}
	if (e != want || e2 != ENOMEM) {
		verdict(route, 0, "mmap(%#lx, 1 MiB): %s, want %s; then mprotect: %s, want ENOMEM", a, ename(e), ename(want),
		        ename(e2));
		return;
	}
	still_reserved(route, a, len, was, "mmap failed with the limit's errno, mprotect: ENOMEM");
}

static sigjmp_buf jb;
static volatile int armed, jumped, stop_spam;
static pid_t main_tid;

static void on_usr1(int sig, siginfo_t *si, void *ucv) {
	(void)sig, (void)si;
	unsigned long rip = ((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RIP];
	if (armed && rip >= 0x200000000000UL && rip < 0x200000001000UL) {
		jumped++;
		siglongjmp(jb, 1);
	}
}

static void *spam(void *arg) {
	(void)arg;
	while (!stop_spam) syscall(SYS_tgkill, getpid(), main_tid, SIGUSR1);
	return NULL;
}

static void skip_report(pthread_t spammer) {
	const unsigned long a = 0x33000000, len = 1UL << 20;
	int was = reserved(a, len), e = 0, tries = 0, other = 0;
	// At most 5000 tries or 8 seconds: under the guard each try, in the
	// spammer's storm of signals, each a stop in the tracer, took 5 to
	// 15 ms, and a loaded machine took the run past the test's minute
	// (CI, twelfth session).
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (; tries < 5000 && !jumped; tries++) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= 8) break;
		if (sigsetjmp(jb, 1) == 0) {
			armed = 1;
			void *p = mmap((void *)a, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			e = errno;
			armed = 0;
			if (p != MAP_FAILED) {
				munmap(p, len);
				other++;
			}
		} else {
			armed = 0;
		}
	}
	stop_spam = 1;
	pthread_join(spammer, NULL);
	int r = mprotect((void *)a, len, PROT_READ | PROT_WRITE);
	int e2 = errno;
	say("mlock-skip-report info: %d tries, %d left the code page by siglongjmp", tries, jumped);
	if (other || r == 0 || e2 != ENOMEM) {
		verdict("mlock-skip-report", 0, "mmap NOREPLACE: %d succeeded, last errno %s; mprotect = %d %s, want ENOMEM", other,
		        ename(e), r, r ? ename(e2) : "");
		return;
	}
	still_reserved("mlock-skip-report", a, len, was, "mprotect after the NOREPLACE tries: ENOMEM");
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	main_tid = syscall(SYS_gettid);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	// The thread first: its stack would be locked too.
	pthread_t spammer;
	stop_spam = 1;
	if (pthread_create(&spammer, NULL, spam, NULL) != 0) return 2;
	pthread_join(spammer, NULL);
	stop_spam = 0;
	if (pthread_create(&spammer, NULL, spam, NULL) != 0) return 2;
	drop_ipc_lock();
	struct rlimit rl = {64 << 10, 64 << 10};
	if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 || mlockall(MCL_FUTURE) != 0) {
		say("setup FAIL: RLIMIT_MEMLOCK, mlockall(MCL_FUTURE): %s", ename(errno));
		return 2;
	}
	attempt("mlock-fixed", 0x30000000, MAP_FIXED);
	attempt("mlock-noreplace", 0x31000000, MAP_FIXED_NOREPLACE);
	attempt("mlock-hint", 0x32000000, 0);
	skip_report(spammer);
	return finish();
}
