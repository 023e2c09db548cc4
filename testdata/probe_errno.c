// probe_errno: what calls aimed at unmapped memory return. The target,
// 16 pages at 0x50000000, is made free with munmap: without the guard
// that leaves an ordinary hole; under it (--protect 0x10000-0x80000000)
// the guard's reservation stays there, which the program must not be
// able to tell from the hole. The pages below and above it are the
// program's own.
// Each call is made with arguments the kernel checks before it looks
// for a mapping too (their errno comes first). The test runs the probe
// both ways, built for x86-64 and for i386 (-m32: the calls go through
// int $0x80), and compares the lines:
//
//	case NAME: RESULT     0 or the errno's name, and what else is seen
//	info NAME: TEXT       facts about the layout, not compared
//	END
//
// Only calls that every recent kernel answers the same way are made.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "say.h"

#define PAGE 4096UL
#define T 0x50000000UL   // the hole, or the reservation
#define TN (16 * PAGE)
#define OWN (T - PAGE)   // the program's own page, right below it
#define OWN2 (T + TN)    // and another right above it
#define LO 0x10000UL     // the protected range's first page

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

enum { MPOL_DEFAULT_ = 0, MPOL_BIND_ = 2, MPOL_F_NODE_ = 1, MPOL_F_ADDR_ = 2 };


static const char *result(long r, int e) {
	static char buf[64];
	if (r == -1) {
		const char *s = strerrorname_np(e);
		return s ? s : "E?";
	}
	snprintf(buf, sizeof buf, "%ld", r);
	return buf;
}

// call reports one call made with syscall(2): in an i386 build, through
// the i386 entry.
#define call(name, ...)                                                                                                \
	do {                                                                                                           \
		errno = 0;                                                                                             \
		long r_ = syscall(__VA_ARGS__);                                                                        \
		say("case %s: %s", name, result(r_, errno));                                                           \
	} while (0)

#ifdef __x86_64__
// raw64 makes a 64-bit call with every register as given, garbage in the
// high halves of int arguments included.
static long raw64(unsigned long nr, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4,
                  unsigned long a5, unsigned long a6) {
	long ret;
	register unsigned long r10 __asm__("r10") = a4;
	register unsigned long r8 __asm__("r8") = a5;
	register unsigned long r9 __asm__("r9") = a6;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}

#define rawcall(name, ...)                                                                                             \
	do {                                                                                                           \
		long r_ = raw64(__VA_ARGS__);                                                                          \
		say("case %s: %s", name, r_ < 0 && r_ >= -4095 ? result(-1, (int)-r_) : result(r_, 0));               \
	} while (0)
#endif

// layout says what /proc/self/maps has at a: nothing, a reservation-like
// mapping (---p, anonymous) or something else.
static const char *layout(unsigned long a) {
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f) return "unreadable";
	char line[512];
	const char *what = "hole";
	while (fgets(line, sizeof line, f)) {
		unsigned long s, e, inode;
		char perms[8];
		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &s, &e, perms, &inode) != 4) continue;
		if (s <= a && a < e) {
			what = strcmp(perms, "---p") == 0 && inode == 0 ? "reserved" : "mapped";
			break;
		}
	}
	fclose(f);
	return what;
}

// mlock_without_rlimit: mlock in a child that may lock nothing
// (RLIMIT_MEMLOCK 0, CAP_IPC_LOCK dropped): EPERM comes before the look
// for a mapping.
static void mlock_without_rlimit(void) {
	int fds[2];
	if (pipe(fds) != 0) return;
	pid_t pid = fork();
	if (pid == 0) {
		struct rlimit rl = {0, 0};
		struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
		struct __user_cap_data_struct d[2];
		int e = 0;
		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0 || syscall(SYS_capget, &h, d) != 0) e = -1;
		d[0].effective &= ~(1u << CAP_IPC_LOCK);
		d[0].permitted &= ~(1u << CAP_IPC_LOCK);
		if (e == 0 && syscall(SYS_capset, &h, d) != 0) e = -1;
		errno = 0;
		long r = e ? -2 : syscall(SYS_mlock, T, PAGE);
		int msg[2] = {(int)r, errno};
		ssize_t w = write(fds[1], msg, sizeof msg);
		(void)w;
		_exit(0);
	}
	int msg[2] = {-2, 0};
	ssize_t n = read(fds[0], msg, sizeof msg);
	waitpid(pid, NULL, 0);
	if (n != sizeof msg || msg[0] == -2) say("case mlock-no-rlimit: setup failed");
	else say("case mlock-no-rlimit: %s", result(msg[0], msg[1]));
}

int main(void) {
	// The target: a hole without the guard, the reservation under it.
	munmap((void *)OWN, PAGE + TN + PAGE);
	munmap((void *)LO, PAGE);
	for (unsigned long a = OWN; a <= OWN2; a += OWN2 - OWN) {
		char *own = mmap((void *)a, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (own != (char *)a) {
			say("setup failed: mmap(%#lx): %s", a, result(-1, errno));
			return 2;
		}
		own[0] = 1;
	}
	say("info target: %s", layout(T));
	say("info target-end: %s", layout(T + TN - PAGE));
	say("info range-start: %s", layout(LO));
	say("info own: %s %s", layout(OWN), layout(OWN2));

	unsigned long mask = 1; // node 0
	int mode = -1;
	unsigned char vec[4];

	// msync
	call("msync-async", SYS_msync, T, PAGE, MS_ASYNC);
	call("msync-sync", SYS_msync, T, TN, MS_SYNC);
	call("msync-invalidate", SYS_msync, T, PAGE, MS_INVALIDATE);
	call("msync-no-flags", SYS_msync, T, PAGE, 0);
	call("msync-unknown-flag", SYS_msync, T, PAGE, 8);
	call("msync-async-and-sync", SYS_msync, T, PAGE, MS_ASYNC | MS_SYNC);
	call("msync-unaligned", SYS_msync, T + 1, PAGE, MS_ASYNC);
	call("msync-zero-length", SYS_msync, T, 0, MS_ASYNC);
	call("msync-own-then-target-async", SYS_msync, OWN, 2 * PAGE, MS_ASYNC);
	call("msync-own-then-target-sync", SYS_msync, OWN, 2 * PAGE, MS_SYNC);
	call("msync-own-target-own-invalidate", SYS_msync, OWN, PAGE + TN + PAGE, MS_INVALIDATE);

	// mincore
	memset(vec, 7, sizeof vec);
	call("mincore", SYS_mincore, T, PAGE, vec);
	say("case mincore-vector: %d %d", vec[0], vec[1]);
	memset(vec, 7, sizeof vec);
	call("mincore-own-then-target", SYS_mincore, OWN, 2 * PAGE, vec);
	say("case mincore-own-then-target-vector: %d %d", vec[0], vec[1]);
	call("mincore-unaligned", SYS_mincore, T + 1, PAGE, vec);
	call("mincore-zero-length", SYS_mincore, T, 0, vec);
	call("mincore-bad-vector", SYS_mincore, T, PAGE, (unsigned long)-PAGE);

	// mbind and get_mempolicy
	call("mbind-bind", SYS_mbind, T, PAGE, MPOL_BIND_, &mask, 8 * sizeof mask, 0);
	call("mbind-default", SYS_mbind, T, PAGE, MPOL_DEFAULT_, 0, 0, 0);
	call("mbind-bind-empty-mask", SYS_mbind, T, PAGE, MPOL_BIND_, 0, 0, 0);
	call("mbind-unknown-mode", SYS_mbind, T, PAGE, 99, &mask, 8 * sizeof mask, 0);
	call("mbind-unknown-flag", SYS_mbind, T, PAGE, MPOL_BIND_, &mask, 8 * sizeof mask, 0x100);
	call("mbind-unaligned", SYS_mbind, T + 1, PAGE, MPOL_BIND_, &mask, 8 * sizeof mask, 0);
	call("mbind-bind-own-then-target", SYS_mbind, OWN, 2 * PAGE, MPOL_BIND_, &mask, 8 * sizeof mask, 0);
	call("mbind-default-own-then-target", SYS_mbind, OWN, 2 * PAGE, MPOL_DEFAULT_, 0, 0, 0);
	call("get_mempolicy-addr", SYS_get_mempolicy, &mode, 0, 0, T, MPOL_F_ADDR_);
	call("get_mempolicy-addr-short-mask", SYS_get_mempolicy, &mode, &mask, 0, T, MPOL_F_ADDR_);
	call("get_mempolicy-node-addr", SYS_get_mempolicy, &mode, 0, 0, T, MPOL_F_NODE_ | MPOL_F_ADDR_);
	call("get_mempolicy-addr-own", SYS_get_mempolicy, &mode, 0, 0, OWN, MPOL_F_ADDR_);

	// mprotect, pkey_mprotect
	call("mprotect", SYS_mprotect, T, PAGE, PROT_READ);
	call("mprotect-unknown-prot", SYS_mprotect, T, PAGE, PROT_READ | 0x10);
	call("mprotect-growsdown-and-growsup", SYS_mprotect, T, PAGE, PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP);
	call("mprotect-growsup", SYS_mprotect, T, PAGE, PROT_READ | PROT_GROWSUP);
	call("mprotect-own-then-target-unknown-prot", SYS_mprotect, OWN, 2 * PAGE, PROT_READ | 0x40);
	call("pkey_mprotect-no-key", SYS_pkey_mprotect, T, PAGE, PROT_READ, -1);
	call("pkey_mprotect-key-0", SYS_pkey_mprotect, T, PAGE, PROT_READ, 0);
	call("pkey_mprotect-unallocated-key", SYS_pkey_mprotect, T, PAGE, PROT_READ, 7);

	// mlock, mlock2, munlock
	call("mlock", SYS_mlock, T, PAGE);
	call("mlock2-onfault", SYS_mlock2, T, PAGE, MLOCK_ONFAULT);
	call("mlock2-unknown-flag", SYS_mlock2, T, PAGE, 2);
	call("munlock", SYS_munlock, T, PAGE);
	mlock_without_rlimit();

	// mseal
	call("mseal", SYS_mseal, T, PAGE, 0);
	call("mseal-flag", SYS_mseal, T, PAGE, 1);

	// mremap
	call("mremap-grow", SYS_mremap, T, PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0);
	call("mremap-old-len-0", SYS_mremap, T, 0, PAGE, MREMAP_MAYMOVE, 0);
	call("mremap-old-len-0-range-start", SYS_mremap, LO, 0, PAGE, MREMAP_MAYMOVE, 0);
	call("mremap-old-len-rounds-to-0", SYS_mremap, T, (unsigned long)-1, PAGE, MREMAP_MAYMOVE, 0);
	call("mremap-new-len-0", SYS_mremap, T, PAGE, 0, MREMAP_MAYMOVE, 0);
	call("mremap-unknown-flag", SYS_mremap, T, PAGE, PAGE, 8, 0);
	call("mremap-fixed-without-maymove", SYS_mremap, T, PAGE, PAGE, MREMAP_FIXED, T + 8 * PAGE);
	call("mremap-dontunmap-without-maymove", SYS_mremap, T, PAGE, PAGE, MREMAP_DONTUNMAP, 0);
	// The same length and no new address change nothing: the kernel
	// answers with the mapping at the old address, whatever the old
	// range reaches over.
	call("mremap-own-then-target-same-length", SYS_mremap, OWN, 2 * PAGE, 2 * PAGE, 0, 0);
	call("mremap-own-then-target-same-length-maymove", SYS_mremap, OWN, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE, 0);
#ifdef __x86_64__
	// A new length past user space (a 64-bit process's) is refused
	// before the kernel looks at the old range.
	call("mremap-own-then-target-new-len-past-user-space", SYS_mremap, OWN, 2 * PAGE, 1UL << 63, 0, 0);
	call("mremap-own-then-target-grow-past-user-space", SYS_mremap, OWN, 2 * PAGE, 1UL << 47, MREMAP_MAYMOVE, 0);
#endif

#ifdef __x86_64__
	// Garbage in the high half of an int argument: the kernel ignores it;
	// in an unsigned long it counts.
	rawcall("mprotect-prot-high-word", SYS_mprotect, T, PAGE, 1UL << 32 | PROT_READ, 0, 0, 0);
	rawcall("mlock2-flag-high-word", SYS_mlock2, T, PAGE, 1UL << 32, 0, 0, 0);
	rawcall("msync-flag-high-word", SYS_msync, T, PAGE, 1UL << 32 | MS_ASYNC, 0, 0, 0);
	rawcall("madvise-advice-high-word", SYS_madvise, T, PAGE, 1UL << 32 | MADV_DONTNEED, 0, 0, 0);
	rawcall("get_mempolicy-flag-high-word", SYS_get_mempolicy, (unsigned long)&mode, 0, 0, T, 1UL << 32 | MPOL_F_ADDR_, 0);
#endif

	say("info target-after: %s", layout(T));
	say("info target-end-after: %s", layout(T + TN - PAGE));
	say("END");
	return 0;
}
