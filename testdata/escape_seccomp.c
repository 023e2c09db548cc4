// escape_seccomp: the program installs a seccomp filter of its own, then
// tries the usual routes again. argv[1] says which filter:
//   trace  SECCOMP_RET_TRACE with forged data for every mapping call:
//          codes of the guard's own filter for another call and ABI
//          (0x2102, i386 mmap2, for x86-64 calls, which reads as an
//          i386 call to a tracer that trusts the data; 0x1102 for i386
//          calls). Data that is no code of the guard's gets ENOSYS, as
//          with no tracer (own_filter_trace.c);
//   allow  SECCOMP_RET_ALLOW for everything;
//   notif  SECCOMP_RET_USER_NOTIF for mapping calls, answered by a
//          thread of the program with SECCOMP_USER_NOTIF_FLAG_CONTINUE.
// and argv[2] "strict" when the guard runs with --strict.
#include "escape.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#ifndef CLONE_UNTRACED
#define CLONE_UNTRACED 0x00800000
#endif

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

#define LD(off) ((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off)))
#define JEQ(k, t, f) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f)))
#define RET(k) ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (k)))

// The mapping calls of both ABIs the filter singles out.
static const int nr64[] = {SYS_mmap, SYS_munmap, SYS_mprotect, SYS_mremap, SYS_madvise, SYS_brk, SYS_shmat, SYS_pkey_mprotect};
static const int nr32[] = {NR32_mmap2, NR32_old_mmap, NR32_munmap, NR32_mprotect, NR32_mremap, NR32_madvise, NR32_brk, NR32_shmat};

static int install(unsigned int hit64, unsigned int hit32, unsigned int flags) {
	struct sock_filter f[64];
	int n = 0;
	const int k64 = sizeof nr64 / sizeof nr64[0], k32 = sizeof nr32 / sizeof nr32[0];
	f[n++] = LD(offsetof(struct seccomp_data, arch));
	f[n++] = JEQ(AUDIT_ARCH_X86_64, 0, 2 + k64);
	f[n++] = LD(offsetof(struct seccomp_data, nr));
	for (int i = 0; i < k64; i++) f[n++] = JEQ(nr64[i], 4 + k64 + k32 - i, 0);
	f[n++] = RET(SECCOMP_RET_ALLOW);
	// i386 (anything else goes on to the guard's filter)
	f[n++] = JEQ(AUDIT_ARCH_I386, 0, 1 + k32);
	f[n++] = LD(offsetof(struct seccomp_data, nr));
	for (int i = 0; i < k32; i++) f[n++] = JEQ(nr32[i], k32 - i, 0);
	f[n++] = RET(SECCOMP_RET_ALLOW);
	f[n++] = RET(hit32);
	f[n++] = RET(hit64);
	struct sock_fprog prog = {.len = n, .filter = f};
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

static int listener = -1;
static pthread_mutex_t ready = PTHREAD_MUTEX_INITIALIZER;

// supervise answers every notification with "continue": the call runs
// as if the filter had allowed it. This thread was started before the
// filter, so its own calls do not notify.
static void *supervise(void *arg) {
	(void)arg;
	pthread_mutex_lock(&ready);
	pthread_mutex_unlock(&ready);
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	for (;;) {
		memset(&req, 0, sizeof req);
		if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) {
			if (errno == EINTR || errno == ENOENT) continue;
			return NULL;
		}
		memset(&resp, 0, sizeof resp);
		resp.id = req.id;
		resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
		ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
	}
}

int main(int argc, char **argv) {
	if (argc < 2) return 2;
	strict_mode = argc > 2 && strcmp(argv[2], "strict") == 0;
	const char *mode = argv[1];
	long r;
	if (strcmp(mode, "trace") == 0) {
		r = install(SECCOMP_RET_TRACE | 0x2102, SECCOMP_RET_TRACE | 0x1102, 0);
		// Refused (EPERM) where the tracer reads calls from the
		// registers and cannot tell its own filter's data from this one's.
		verdict("own-filter-installed", r == 0 || errno == EPERM, "seccomp(TRACE with forged data) = %ld %s", r, r ? ename(errno) : "");
	} else if (strcmp(mode, "allow") == 0) {
		r = install(SECCOMP_RET_ALLOW, SECCOMP_RET_ALLOW, 0);
		verdict("own-filter-installed", r == 0, "seccomp(ALLOW) = %ld %s", r, r ? ename(errno) : "");
	} else if (strcmp(mode, "notif") == 0) {
		pthread_t t;
		pthread_mutex_lock(&ready);
		pthread_create(&t, NULL, supervise, NULL);
		r = install(SECCOMP_RET_USER_NOTIF, SECCOMP_RET_USER_NOTIF, SECCOMP_FILTER_FLAG_NEW_LISTENER);
		listener = r;
		pthread_mutex_unlock(&ready);
		// Refusing the listener is a fine answer too: then nothing changes.
		verdict("own-filter-installed", 1, "seccomp(USER_NOTIF, NEW_LISTENER) = %ld %s", r, r < 0 ? ename(errno) : "");
	} else return 2;

	unsigned long res = 0x60000000; // MAP_32BIT looks from 0x40000000 up
	int was = reserved(res, 16 * PAGE);
	void *p;

	p = mmap((void *)0x30000000, PAGE, RW, ANON, -1, 0);
	expect_outside("hint-inside", p, errno, PAGE, "mmap(hint 0x30000000)");
	p = mmap((void *)0x31000000, PAGE, RW, ANON | MAP_FIXED, -1, 0);
	expect_fixed("fixed-inside", p, errno, 0x31000000, PAGE, "mmap(0x31000000, MAP_FIXED)");
	r = mprotect((void *)res, PAGE, RW);
	expect_errno("mprotect-reservation", r, errno, ENOMEM, "mprotect(0x60000000, RW)");
	r = munmap((void *)(res + 8 * PAGE), 8 * PAGE);
	if (r) verdict("munmap-reservation", 0, "munmap: %s", ename(errno));
	else still_reserved("munmap-reservation", res + 8 * PAGE, 8 * PAGE, was, "munmap(0x60008000) = 0");
	p = mmap(NULL, PAGE, RW, ANON | MAP_32BIT, -1, 0);
	expect_outside("map32bit", p, errno, PAGE, "mmap(NULL, MAP_32BIT)");
	{
		unsigned long q = int80(NR32_mmap2, 0x30100000, PAGE, RW, ANON, (unsigned long)-1, 0);
		int e = err32(q);
		expect_outside("i386-mmap2-hint", e ? MAP_FAILED : (void *)q, e, PAGE, "i386 mmap2(hint 0x30100000)");
		q = int80(NR32_mmap2, 0x31100000, PAGE, RW, ANON | MAP_FIXED, (unsigned long)-1, 0);
		e = err32(q);
		expect_fixed("i386-mmap2-fixed", e ? MAP_FAILED : (void *)q, e, 0x31100000, PAGE, "i386 mmap2(0x31100000, MAP_FIXED)");
		uint32_t *blk = low4g();
		uint32_t v[6] = {0x31200000, PAGE, RW, ANON | MAP_FIXED, (uint32_t)-1, 0};
		memcpy(blk, v, sizeof v);
		q = int80(NR32_old_mmap, (unsigned long)blk, 0, 0, 0, 0, 0);
		e = err32(q);
		expect_fixed("i386-old_mmap-fixed", e ? MAP_FAILED : (void *)q, e, 0x31200000, PAGE,
		             "i386 old_mmap({0x31200000, MAP_FIXED})");
		q = int80(NR32_munmap, res, 8 * PAGE, 0, 0, 0, 0);
		if (err32(q)) verdict("i386-munmap-reservation", 0, "i386 munmap: %s", ename(err32(q)));
		else still_reserved("i386-munmap-reservation", res, 8 * PAGE, was, "i386 munmap(0x60000000) = 0");
	}
	r = sys64(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0, 0);
	if (r == 0) _exit(0);
	expect_errno("clone-untraced", err64(r) ? -1 : r, err64(r), EPERM, "clone(CLONE_UNTRACED)");
	r = sys64(0x40000000 | SYS_mmap, 0x30200000, PAGE, RW, ANON, -1, 0);
	expect_errno("x32-mmap", err64(r) ? -1 : r, err64(r), ENOSYS, "x32 mmap(hint 0x30200000)");
	p = mmap(NULL, PAGE, RW, ANON | MAP_32BIT, -1, 0);
	expect_outside("map32bit-at-end", p, errno, PAGE, "mmap(NULL, MAP_32BIT) after everything");
	return finish();
}
