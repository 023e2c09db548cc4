// badargs: calls the kernel refuses for their arguments, or whose result
// the guard must pass on as the kernel gave it, made at and around the
// protected range 0x10000-0x80000000 (and far from it). The test runs it
// with and without the guard and compares the lines:
//
//	case NAME: RESULT     the result (an address relative to what was
//	                      asked for, or the errno's name)
//	END
//
//   - i386 old_mmap (arguments in memory) from 64-bit code, outside the
//     guarded ranges: the program must get the address mapped, and the
//     kernel's errno for invalid arguments (found by the ninth-session
//     helper: in-place rewrites with more than two registers changed
//     returned 0 when nothing else needed the result);
//   - MAP_FIXED_NOREPLACE over the program's own mapping in the range
//     with a bad descriptor (EBADF, which the kernel finds before the
//     mapping: EEXIST was emulated) and with a length past user space
//     (ENOMEM: EEXIST from the split at the range's edge);
//   - mremap shrinking the program's mapping in the range with an old
//     length past user space (EINVAL, nothing changes): the guard
//     unmapped everything between the guarded ranges in its tail;
//   - madvise at a reservation with advice the running kernel may lack.
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PAGE 4096UL
#define IN 0x40000000UL   // in the protected range
#define LOW 0xf0000000UL  // the program's own, outside it, below 4 GiB
#define OUT 0xa0000000UL  // free, outside it, below 4 GiB

static long int80(long nr, long a1) {
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "0"(nr), "b"(a1) : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static void res(const char *name, long r, unsigned long want) {
	if (r < 0 && r > -4096) printf("case %s: %s\n", name, strerrorname_np(-r));
	else if ((unsigned long)r == want) printf("case %s: at the address asked for\n", name);
	else printf("case %s: %#lx\n", name, r);
}

static long sys(long nr, long a, long b, long c, long d, long e, long f) {
	long r = syscall(nr, a, b, c, d, e, f);
	return r == -1 ? -errno : r;
}

static void old_mmap(const char *name, unsigned int *blk, unsigned long addr, unsigned long len,
                     unsigned long flags, unsigned long fd, unsigned long off) {
	blk[0] = addr, blk[1] = len, blk[2] = PROT_READ | PROT_WRITE, blk[3] = flags, blk[4] = fd, blk[5] = off;
	long r = int80(90, (long)blk);
	res(name, (int)r < 0 && (int)r > -4096 ? (long)(int)r : (long)(unsigned int)r, addr);
	if ((unsigned long)r < 0xfffff000UL) munmap((void *)r, len);
}

int main(void) {
	setvbuf(stdout, NULL, _IOLBF, 0);
	unsigned int *blk = mmap((void *)LOW, PAGE, PROT_READ | PROT_WRITE,
	                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (blk != (void *)LOW) {
		perror("mmap");
		return 1;
	}
	strcpy((char *)blk + 1024, "still there");
	const unsigned long anon = MAP_PRIVATE | MAP_ANONYMOUS;
	old_mmap("old_mmap-hint-outside", blk, OUT, 4 * PAGE, anon, -1, 0);
	old_mmap("old_mmap-fixed-outside", blk, OUT, 4 * PAGE, anon | MAP_FIXED, -1, 0);
	old_mmap("old_mmap-fixed-unaligned-outside", blk, OUT + 1, 4 * PAGE, anon | MAP_FIXED, -1, 0);
	old_mmap("old_mmap-length-0-outside", blk, OUT, 0, anon, -1, 0);
	old_mmap("old_mmap-no-type-outside", blk, OUT, 4 * PAGE, MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	old_mmap("old_mmap-fixed-unaligned-in-range", blk, IN + 1, 4 * PAGE, anon | MAP_FIXED, -1, 0);
	old_mmap("old_mmap-length-0-in-range", blk, IN, 0, anon | MAP_FIXED, -1, 0);
	old_mmap("old_mmap-bad-fd-in-range", blk, IN, 4 * PAGE, MAP_PRIVATE | MAP_FIXED, 999, 0);

	// The program's own mapping in the range.
	if (mmap((void *)IN, 4 * PAGE, PROT_READ, anon | MAP_FIXED, -1, 0) != (void *)IN) {
		perror("mmap in the range");
		return 1;
	}
	res("noreplace-bad-fd-over-own", sys(SYS_mmap, IN, PAGE, PROT_READ, MAP_PRIVATE | MAP_FIXED_NOREPLACE, 999, 0), IN);
	res("noreplace-over-own", sys(SYS_mmap, IN, PAGE, PROT_READ, anon | MAP_FIXED_NOREPLACE, -1, 0), IN);
	res("noreplace-past-user-space", sys(SYS_mmap, IN, 1UL << 63, PROT_READ, anon | MAP_FIXED_NOREPLACE, -1, 0), IN);
	res("noreplace-past-user-space-hole", sys(SYS_mmap, IN + 0x100000, 1UL << 63, PROT_READ, anon | MAP_FIXED_NOREPLACE, -1, 0), IN);
	res("mremap-shrink-old-past-user-space", sys(SYS_mremap, IN, 1UL << 47, PAGE, MREMAP_MAYMOVE, 0, 0), IN);
	res("mremap-shrink-old-past-user-space-nomove", sys(SYS_mremap, IN, 1UL << 47, PAGE, 0, 0, 0), IN);
	res("own-mapping-in-range", sys(SYS_madvise, IN, 4 * PAGE, MADV_NORMAL, 0, 0, 0), 0);
	res("own-mapping-outside", sys(SYS_madvise, LOW, PAGE, MADV_NORMAL, 0, 0, 0), 0);
	printf("case own-mapping-outside-holds: %s\n", (char *)blk + 1024);
	// Advice some kernels lack (KSM, guard regions) at a reservation:
	// EINVAL where the kernel does not know it, ENOMEM where it does.
	res("madvise-mergeable-hole", sys(SYS_madvise, IN + 0x100000, PAGE, 12, 0, 0, 0), 0);
	res("madvise-guard-install-hole", sys(SYS_madvise, IN + 0x100000, PAGE, 102, 0, 0, 0), 0);
	res("madvise-soft-offline-len-0-hole", sys(SYS_madvise, IN + 0x100000, 0, 101, 0, 0, 0), 0);
	int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
	if (id >= 0) {
		shmctl(id, IPC_RMID, 0);
		res("shmat-over-own", sys(SYS_shmat, id, IN, 0, 0, 0, 0), IN);
		res("shmat-bad-id-over-own", sys(SYS_shmat, 0x7fffffff, IN, 0, 0, 0, 0), IN);
	}
	printf("END\n");
	return 0;
}
