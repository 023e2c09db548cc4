// failclosed_detach: what a process that has left its tracer gets from
// mmapguard's filter. The test passes the filter (struct sock_filter
// array, as built by package seccomp) in the file argv[1] and attaches to
// this process as a stand-in tracer. Steps:
//   1. wait for a byte on stdin (the tracer has seized us), install the
//      filter (no_new_privs, SECCOMP_SET_MODE_FILTER);
//   2. make one trapped call, mmap with a hint into the range: the tracer
//      stops it and answers EPERM, so the call reached a tracer;
//   3. raise SIGSTOP: the tracer detaches at that stop;
//   4. check /proc/self/status says TracerPid 0, then make every kind of
//      call the filter sends to the tracer: each must fail with ENOSYS,
//      in this process and in a forked child, and nothing may appear in
//      the protected range or the pool; calls the filter settles in the
//      kernel (mmap(NULL), munmap far away, getpid) still work.
// One line per check, "NAME RESULT" (ok or an errno name), then "END
// failures=N"; exit 0 if every check gave what it should.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define LO 0x10000UL
#define HI 0x80000000UL
#define POOL_LO 0x200000000000UL
#define POOL_HI 0x300000000000UL
#define PAGE 4096UL
#define INSIDE 0x20000000UL
#define RW (PROT_READ | PROT_WRITE)
#define ANON (MAP_PRIVATE | MAP_ANONYMOUS)
#define NR32_old_mmap 90
#define NR32_mmap2 192

static int failures;

static void check(const char *name, long ret, int want) {
	int e = ret == -1 ? errno : 0;
	printf("%s %s\n", name, e ? strerrorname_np(e) : "ok");
	if (e != want) {
		printf("%s FAIL: want %s\n", name, want ? strerrorname_np(want) : "ok");
		failures++;
	}
}

static long mm(unsigned long addr, unsigned long flags) {
	void *p = mmap((void *)addr, PAGE, RW, flags, -1, 0);
	return p == MAP_FAILED ? -1 : (long)p;
}

static long int80(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4,
                  unsigned long a5) {
	unsigned long ret;
	// The sixth argument (ebp) is 0; rbp is kept in r12 meanwhile.
	__asm__ volatile("mov %%rbp, %%r12\n\txor %%ebp, %%ebp\n\tint $0x80\n\tmov %%r12, %%rbp"
	                 : "=a"(ret)
	                 : "a"(nr), "b"(a1), "c"(a2), "d"(a3), "S"(a4), "D"(a5)
	                 : "memory", "cc", "r8", "r9", "r10", "r11", "r12");
	uint32_t v = (uint32_t)ret;
	if (v >= (uint32_t)-4095) {
		errno = -(int32_t)v;
		return -1;
	}
	return v;
}

// occupied reports whether /proc/self/maps shows anything in [lo, hi).
static int occupied(unsigned long lo, unsigned long hi) {
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;
	while (f && fgets(line, sizeof line, f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && s < hi && e > lo) {
			printf("mapped: %s", line);
			n++;
		}
	}
	if (f) fclose(f);
	return n;
}

static int tracer_pid(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int pid = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "TracerPid: %d", &pid) == 1) break;
	if (f) fclose(f);
	return pid;
}

static void trapped_calls(const char *who) {
	char name[64];
#define C(what, expr, want)                                        \
	do {                                                       \
		snprintf(name, sizeof name, "%s-%s", who, what);  \
		check(name, (expr), want);                         \
	} while (0)
	// Some memory far from the range to aim the range-based calls at
	// (mmap(NULL) is settled in the kernel).
	unsigned long far = (unsigned long)mmap(NULL, 2 * PAGE, RW, ANON, -1, 0);
	C("mmap-null", far == (unsigned long)MAP_FAILED ? -1 : 0, 0);
	C("munmap-far", munmap((void *)(far + PAGE), PAGE), 0);
	C("getpid", getpid() > 0 ? 0 : -1, 0);
	C("mmap-hint-inside", mm(INSIDE, ANON), ENOSYS);
	C("mmap-fixed-inside", mm(INSIDE, ANON | MAP_FIXED), ENOSYS);
	C("mmap-noreplace-inside", mm(INSIDE, ANON | MAP_FIXED_NOREPLACE), ENOSYS);
	C("mmap-fixed-pool", mm(POOL_LO + 0x100000, ANON | MAP_FIXED), ENOSYS);
	C("munmap-inside", munmap((void *)INSIDE, PAGE), ENOSYS);
	C("munmap-pool", munmap((void *)POOL_LO, PAGE), ENOSYS);
	C("mprotect-inside", mprotect((void *)INSIDE, PAGE, PROT_READ), ENOSYS);
	C("madvise-inside", madvise((void *)INSIDE, PAGE, MADV_DONTNEED), ENOSYS);
	C("mremap-inside", (long)syscall(SYS_mremap, INSIDE, PAGE, 2 * PAGE, 0, 0), ENOSYS);
	C("mremap-fixed-into", (long)syscall(SYS_mremap, far, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, INSIDE), ENOSYS);
	C("shmat-inside", (long)syscall(SYS_shmat, 0, INSIDE, 0), ENOSYS);
	C("i386-mmap2-hint-inside", int80(NR32_mmap2, INSIDE, PAGE, RW, ANON, (unsigned long)-1), ENOSYS);
	C("i386-old_mmap", int80(NR32_old_mmap, 0x1000, 0, 0, 0, 0), ENOSYS);
	C("nothing-in-range", occupied(LO, HI) ? -1 : 0, 0);
	C("nothing-in-pool", occupied(POOL_LO, POOL_HI) ? -1 : 0, 0);
#undef C
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) return 2;
	static struct sock_filter f[4096];
	int fd = open(argv[1], O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, f, sizeof f);
	if (n <= 0 || n % sizeof f[0] != 0) {
		printf("setup FAIL: filter file %s: %zd bytes\n", argv[1], n);
		return 2;
	}
	struct sock_fprog prog = {(unsigned short)(n / sizeof f[0]), f};
	char c;
	if (read(0, &c, 1) != 1) {
		printf("setup FAIL: no go-ahead on stdin\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
		printf("setup FAIL: seccomp: %s\n", strerror(errno));
		return 2;
	}
	// Traced: the tracer answers EPERM (without the filter or without
	// the tracer's answer, something else).
	check("traced-mmap-hint-inside", mm(INSIDE, ANON), EPERM);
	raise(SIGSTOP); // the tracer detaches here
	int tp = tracer_pid();
	check("detached", tp == 0 ? 0 : (errno = ESRCH, -1), 0);
	trapped_calls("detached");

	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		trapped_calls("child");
		fflush(stdout);
		_exit(failures ? 1 : 0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	check("child-status", WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : (errno = ECHILD, -1), 0);
	printf("END failures=%d\n", failures);
	return failures ? 1 : 0;
}
