// ctracer: the minimal C ptrace tracer the benchmarks compare mmapguard
// with. It does what mmapguard does for callbench's workloads, nothing
// more.
//
// Default mode ("hint" workload, mmapguard run --pool none --protect
// 0x10000-0x80000000): a seccomp filter traps mmap calls whose address
// hint lies in [0x10000, 0x80000000); at each stop the tracer drops the
// hint (rdi = 0) so the kernel chooses, and at the call's exit puts rdi
// back, since the system call convention preserves it and the program may
// rely on that. With -n it leaves rdi changed (one stop per call instead
// of two). Only the first thread is traced.
//
// -p mode ("pool" and "far" workloads, mmapguard run --pool-all --protect
// 0x10000-0x80000000 with the default pool [0x200000000000,
// 0x300000000000)): every thread is followed (PTRACE_O_TRACECLONE), each
// with its own saved registers. The filter traps every mmap without
// MAP_FIXED or MAP_FIXED_NOREPLACE, and munmap, mprotect, madvise, mremap
// and fixed mmaps whose address lies in the pool or in the protected
// range, as mmapguard's does with --pool-all. (mmapguard's filter tests
// whether [addr, addr+len) overlaps a guarded range; this one only where
// addr lies, which is the same for callbench's calls.) At the stops:
//
//   - mmap without MAP_FIXED: a first-fit allocator over the pool (4 KiB
//     pages; 2 MiB aligned for 2 MiB or more, like mmapguard's and the
//     kernel's choice for large anonymous mappings) picks a chunk; the
//     tracer sets rdi to it and adds MAP_FIXED in r10, and at the call's
//     exit puts both registers back (and frees the chunk if the call
//     failed);
//   - munmap inside the pool or the protected range: the call becomes an
//     mmap(PROT_NONE, MAP_FIXED|MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)
//     over the range, so the range is never free for the kernel to give
//     anyone; at its exit the tracer puts the registers (and orig_rax)
//     back and sets the result to 0; the range goes back to the allocator;
//     one straddling an edge is refused with EINVAL;
//   - fixed mmaps in the pool take their range out of the allocator;
//     mprotect, madvise, mremap are let through unchanged (mmapguard
//     checks them against its model, which callbench never needs).
//
// Reserving the pool: a mapping made before exec does not survive it, so
// the reservation cannot be made by the child before execve. The tracer
// makes it in the new program instead, at the first trapped call after
// the exec: it runs mmap(pool, PROT_NONE, MAP_FIXED_NOREPLACE|
// MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE) in that call's place, then the
// same for the protected range (refused with EEXIST if something is
// there already, e.g. a non-PIE image: then it is left unreserved), and
// rewinds the instruction pointer to the syscall instruction with the
// original registers, so the program's call is made again and stops
// again. With --pool-all every mmap without MAP_FIXED traps, so nothing
// can be placed in the pool before that (the kernel's own placements at
// exec, image, stack, vDSO and heap, are nowhere near it). mmapguard
// does it at the exec event itself; the cost is once per exec either way.
// Forks are not followed (their children's trapped calls get ENOSYS).
// In -p mode the tracer prints "ctracer stops N exits M" on stderr at the
// end: N seccomp stops (what mmapguard's summary calls stops), M
// syscall-exit stops.
//
// -f mode (whole programs, mmapguard run --protect 0x10000-0x80000000):
// the "hint" filter and rewrite (rdi back at the exit), but every thread,
// fork, vfork and exec followed (PTRACE_O_TRACECLONE, FORK, VFORK, EXEC),
// and at each exec event the protected range reserved before the new
// program's first instruction as mmapguard reserves it: a syscall
// instruction written over the entry point, the registers loaded again
// at execve's exit stop, mmap(0x10000, ..., PROT_NONE,
// MAP_FIXED_NOREPLACE|...) run with its entry, seccomp and exit stops,
// then the word and the registers put back (an EEXIST, from a non-PIE
// image there, is left at that). The floor of a guard that keeps its
// guarantee in every task: no pool, no model, no layout read.
//
// -e mode ("deny" workload): mprotect calls inside the protected range
// are answered with ENOMEM at the seccomp stop, without running them (one
// stop per call), as mmapguard answers mprotect of a reservation.
//
// Usage: ctracer [-n | -p | -e] PROGRAM ARGS...
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define ARG_LO(i) (offsetof(struct seccomp_data, args[i]))
#define ARG_HI(i) (offsetof(struct seccomp_data, args[i]) + 4)

#define POOL_START 0x200000000000UL
#define POOL_END 0x300000000000UL
#define PROT_START 0x10000UL
#define PROT_END 0x80000000UL
#define PAGE 4096UL
#define HUGE (2UL << 20)

// The "hint" filter: mmap with a hint in [0x10000, 0x80000000) traps.
static struct sock_filter hint_filter[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 5),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_HI(0)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x80000000, 1, 0),
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x10000, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
};

// The "deny" filter (-e): mprotect calls whose address lies in
// [0x10000, 0x80000000), which the tracer answers with ENOMEM without
// running them, as mmapguard answers mprotect of its reservation.
static struct sock_filter deny_filter[] = {
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 0, 5),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_HI(0)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 3),
	BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x80000000, 1, 0),
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x10000, 1, 0),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
};

// The "pool-all" filter. The pool's bounds are multiples of 4 GiB, so
// "addr in the pool" is a test of addr's upper word alone.
static struct sock_filter pool_filter[] = {
	/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	/* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	/* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 5, 0),           // -> 10
	/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_munmap, 6, 0),         // -> 12
	/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 5, 0),       // -> 12
	/* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 4, 0),        // -> 12
	/* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mremap, 3, 0),         // -> 12
	/* 9 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	// mmap: without MAP_FIXED or MAP_FIXED_NOREPLACE, always.
	/* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(3)),
	/* 11 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MAP_FIXED | MAP_FIXED_NOREPLACE, 0, 7), // -> 19
	// Where args[0] lies: in the pool, or in [0x10000, 0x80000000).
	/* 12 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_HI(0)),
	/* 13 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, POOL_END >> 32, 4, 0),    // -> 18
	/* 14 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, POOL_START >> 32, 4, 0),  // -> 19
	/* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2),                 // -> 18
	/* 16 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LO(0)),
	/* 17 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, PROT_END, 0, 2),          // -> 20
	/* 18 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	/* 19 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
	/* 20 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, PROT_START, 0, 1),        // -> 22
	/* 21 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
	/* 22 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
};

// ---- the pool: a sorted array of free ranges, first fit ----

struct range {
	unsigned long s, e;
};
#define MAXFREE 65536
static struct range freel[MAXFREE];
static int nfree;

static void pool_reset(void) {
	freel[0] = (struct range){POOL_START, POOL_END};
	nfree = 1;
}

// pool_add makes [s, e) free (a union: parts already free are fine).
static void pool_add(unsigned long s, unsigned long e) {
	int i = 0;
	while (i < nfree && freel[i].e < s) i++;
	int j = i;
	while (j < nfree && freel[j].s <= e) j++;
	if (j > i) {
		if (freel[i].s < s) s = freel[i].s;
		if (freel[j - 1].e > e) e = freel[j - 1].e;
	} else if (nfree == MAXFREE) {
		return; // lost to the allocator: harmless, the pool is huge
	}
	memmove(&freel[i + 1], &freel[j], (nfree - j) * sizeof freel[0]);
	nfree += 1 - (j - i);
	freel[i] = (struct range){s, e};
}

// pool_take makes [s, e) used.
static void pool_take(unsigned long s, unsigned long e) {
	int i = 0;
	while (i < nfree && freel[i].e <= s) i++;
	int j = i;
	while (j < nfree && freel[j].s < e) j++;
	if (j == i) return;
	struct range keep[2];
	int k = 0;
	if (freel[i].s < s) keep[k++] = (struct range){freel[i].s, s};
	if (freel[j - 1].e > e) keep[k++] = (struct range){e, freel[j - 1].e};
	if (nfree - (j - i) + k > MAXFREE) return;
	memmove(&freel[i + k], &freel[j], (nfree - j) * sizeof freel[0]);
	nfree += k - (j - i);
	memcpy(&freel[i], keep, k * sizeof keep[0]);
}

// pool_alloc returns the lowest fitting start of n bytes (a multiple of
// PAGE), 2 MiB aligned if n is 2 MiB or more and such a place exists;
// 0 if nothing fits.
static unsigned long pool_alloc(unsigned long n) {
	for (int pass = n >= HUGE ? 0 : 1; pass < 2; pass++) {
		unsigned long align = pass == 0 ? HUGE : PAGE;
		for (int i = 0; i < nfree; i++) {
			unsigned long s = (freel[i].s + align - 1) & ~(align - 1);
			if (s >= freel[i].s && s <= freel[i].e && freel[i].e - s >= n) {
				pool_take(s, s + n);
				return s;
			}
		}
	}
	return 0;
}

// ---- per-thread state ----

enum { IDLE, MMAP_EXIT, MUNMAP_EXIT, INJECT_EXIT, HINT_EXIT, X_EXECVE_EXIT, X_ENTRY, X_EXIT };

struct thread {
	pid_t tid; // 0 empty, -1 deleted
	int state;
	unsigned long chunk, len;      // MMAP_EXIT: the chunk given
	struct user_regs_struct saved; // the call's registers as the program left them
	unsigned long word;            // X_*: the word at the entry point, before the syscall instruction
};

#define NTHREADS 4096
static struct thread threads[NTHREADS];

static struct thread *thread_of(pid_t tid) {
	struct thread *free = NULL;
	for (unsigned i = 0, h = (unsigned)tid % NTHREADS; i < NTHREADS; i++, h = (h + 1) % NTHREADS) {
		struct thread *t = &threads[h];
		if (t->tid == tid) return t;
		if (t->tid == -1 && free == NULL) free = t;
		if (t->tid == 0) {
			if (free == NULL) free = t;
			break;
		}
	}
	if (free == NULL) {
		fprintf(stderr, "ctracer: too many threads\n");
		exit(1);
	}
	memset(free, 0, sizeof *free);
	free->tid = tid;
	return free;
}

static void thread_gone(pid_t tid) {
	for (unsigned i = 0, h = (unsigned)tid % NTHREADS; i < NTHREADS; i++, h = (h + 1) % NTHREADS) {
		if (threads[h].tid == tid) {
			threads[h].tid = -1;
			return;
		}
		if (threads[h].tid == 0) return;
	}
}

// ---- the pool-all handler ----

// How many of the reservations (0 the pool, 1 the protected range) are
// made in the current program; the thread that makes them.
static int reserved;
static pid_t reserving;
static unsigned long stops, exits; // seccomp stops, syscall-exit stops

static int is_err(unsigned long long rax) { return rax >= (unsigned long long)-4095; }

static void load_reservation(struct user_regs_struct *r, unsigned long s, unsigned long e, unsigned long how) {
	r->orig_rax = SYS_mmap;
	r->rdi = s;
	r->rsi = e - s;
	r->rdx = PROT_NONE;
	r->r10 = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | how;
	r->r8 = (unsigned long long)-1;
	r->r9 = 0;
}

// seccomp_stop handles a trapped call of t; it returns the resume request.
static int seccomp_stop(struct thread *t) {
	struct user_regs_struct r;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) != 0) return PTRACE_CONT;
	if (reserved < 2 && (reserving == 0 || reserving == t->tid)) {
		// Make the next reservation in this call's place (see the
		// top); at its exit the call is rewound and stops again.
		t->saved = r;
		t->state = INJECT_EXIT;
		reserving = t->tid;
		if (reserved == 0) load_reservation(&r, POOL_START, POOL_END, MAP_FIXED_NOREPLACE);
		else load_reservation(&r, PROT_START, PROT_END, MAP_FIXED_NOREPLACE);
		ptrace(PTRACE_SETREGS, t->tid, 0, &r);
		return PTRACE_SYSCALL;
	}
	unsigned long addr = r.rdi, len = r.rsi;
	switch (r.orig_rax) {
	case SYS_mmap: {
		if (r.r10 & (MAP_FIXED | MAP_FIXED_NOREPLACE)) {
			unsigned long n = (len + PAGE - 1) & ~(PAGE - 1);
			if (n >= len && addr >= POOL_START && addr < POOL_END && n <= POOL_END - addr)
				pool_take(addr, addr + n);
			return PTRACE_CONT;
		}
		unsigned long n = (len + PAGE - 1) & ~(PAGE - 1);
		unsigned long c = n >= len && n != 0 ? pool_alloc(n) : 0;
		if (c == 0) return PTRACE_CONT; // the kernel's choice (or its error)
		t->saved = r;
		t->chunk = c;
		t->len = n;
		t->state = MMAP_EXIT;
		r.rdi = c;
		r.r10 |= MAP_FIXED;
		ptrace(PTRACE_SETREGS, t->tid, 0, &r);
		return PTRACE_SYSCALL;
	}
	case SYS_munmap: {
		unsigned long n = (len + PAGE - 1) & ~(PAGE - 1);
		if (addr % PAGE != 0 || n < len || n == 0 || addr + n < addr) return PTRACE_CONT; // EINVAL from the kernel
		int inpool = addr >= POOL_START && addr + n <= POOL_END;
		int inprot = addr >= PROT_START && addr + n <= PROT_END;
		if (!inpool && !inprot) {
			// Straddles an edge: not handled by this reference tracer.
			r.orig_rax = (unsigned long long)-1;
			r.rax = (unsigned long long)-EINVAL;
			ptrace(PTRACE_SETREGS, t->tid, 0, &r);
			return PTRACE_CONT;
		}
		if (inpool) pool_add(addr, addr + n);
		t->saved = r;
		t->state = MUNMAP_EXIT;
		load_reservation(&r, addr, addr + n, MAP_FIXED);
		ptrace(PTRACE_SETREGS, t->tid, 0, &r);
		return PTRACE_SYSCALL;
	}
	}
	return PTRACE_CONT; // mprotect, madvise, mremap: let through
}

// exit_stop handles the exit of a call the tracer changed.
static int exit_stop(struct thread *t) {
	struct user_regs_struct r;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) != 0) return PTRACE_CONT;
	switch (t->state) {
	case MMAP_EXIT:
		if (is_err(r.rax)) pool_add(t->chunk, t->chunk + t->len);
		else if (r.rax != t->chunk) fprintf(stderr, "ctracer: mmap at %#lx gave %#llx\n", t->chunk, r.rax);
		r.rdi = t->saved.rdi;
		r.r10 = t->saved.r10;
		break;
	case MUNMAP_EXIT: {
		unsigned long long ret = is_err(r.rax) ? r.rax : 0;
		r = t->saved;
		r.rax = ret;
		break;
	}
	case INJECT_EXIT:
		if (reserved == 0 && r.rax != POOL_START) {
			fprintf(stderr, "ctracer: cannot reserve the pool: %lld\n", (long long)r.rax);
			exit(1);
		}
		// The protected range is left alone if something is there.
		if (++reserved == 2) reserving = 0;
		r = t->saved; // the program's call, made again
		r.rip -= 2;   // the syscall instruction
		r.rax = r.orig_rax;
		break;
	}
	ptrace(PTRACE_SETREGS, t->tid, 0, &r);
	t->state = IDLE;
	return PTRACE_CONT;
}

static int pool_loop(pid_t child) {
	pool_reset();
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0) return 1;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			thread_gone(p);
			if (p == child) {
				fprintf(stderr, "ctracer stops %lu exits %lu\n", stops, exits);
				return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			}
			continue;
		}
		struct thread *t = thread_of(p);
		int req = t->state == IDLE ? PTRACE_CONT : PTRACE_SYSCALL, sig = 0;
		int event = st >> 16;
		if (event == PTRACE_EVENT_SECCOMP) {
			stops++;
			req = seccomp_stop(t);
		} else if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			exits++;
			if (t->state != IDLE) req = exit_stop(t);
		} else if (event == PTRACE_EVENT_EXEC) {
			reserved = 0;
			reserving = 0;
			pool_reset();
		} else if (event == 0 && WSTOPSIG(st) != SIGSTOP && WSTOPSIG(st) != SIGCONT) {
			sig = WSTOPSIG(st);
		}
		ptrace(req, p, 0, sig);
	}
}

// ---- the deny handler ----

static int deny_loop(void) {
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0) return 1;
		if (WIFEXITED(st)) return WEXITSTATUS(st);
		if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
		int sig = 0;
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
			struct user_regs_struct r;
			ptrace(PTRACE_GETREGS, p, 0, &r);
			r.orig_rax = -1; // skip the call
			r.rax = -ENOMEM;
			ptrace(PTRACE_SETREGS, p, 0, &r);
		} else if (WIFSTOPPED(st) && (st >> 16) == 0 && WSTOPSIG(st) != SIGSTOP && WSTOPSIG(st) != SIGCONT) {
			sig = WSTOPSIG(st);
		}
		ptrace(PTRACE_CONT, p, 0, sig);
	}
}

// ---- the hint handler ----

static int hint_loop(int restore) {
	unsigned long long saved_rdi = 0; // one tracee: one call in flight
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0) return 1;
		if (WIFEXITED(st)) return WEXITSTATUS(st);
		if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
		int sig = 0;
		if (st >> 8 == (SIGTRAP | (PTRACE_EVENT_SECCOMP << 8))) {
			struct user_regs_struct r;
			ptrace(PTRACE_GETREGS, p, 0, &r);
			saved_rdi = r.rdi;
			r.rdi = 0;
			ptrace(PTRACE_SETREGS, p, 0, &r);
			if (restore) {
				ptrace(PTRACE_SYSCALL, p, 0, 0);
				continue;
			}
		} else if (WIFSTOPPED(st) && WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			ptrace(PTRACE_POKEUSER, p, offsetof(struct user_regs_struct, rdi), saved_rdi);
		} else if (WIFSTOPPED(st) && (st >> 16) == 0 && WSTOPSIG(st) != SIGSTOP && WSTOPSIG(st) != SIGCONT) {
			sig = WSTOPSIG(st);
		}
		ptrace(PTRACE_CONT, p, 0, sig);
	}
}

// ---- the follow handler (-f) ----

// follow_exec starts the reservation of the protected range in a task
// stopped at its exec event, from a syscall instruction written over
// the new program's entry point.
static void follow_exec(struct thread *t) {
	struct user_regs_struct r;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) != 0) return;
	t->saved = r;
	errno = 0;
	t->word = ptrace(PTRACE_PEEKTEXT, t->tid, r.rip, 0);
	if (errno != 0) return;
	ptrace(PTRACE_POKETEXT, t->tid, r.rip, (t->word & ~0xffffUL) | 0x050f); // syscall
	t->state = X_EXECVE_EXIT;
}

static int follow_loop(pid_t child) {
	unsigned long long offrdi = offsetof(struct user_regs_struct, rdi);
	for (;;) {
		int st;
		pid_t p = waitpid(-1, &st, __WALL);
		if (p < 0) return 1;
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			thread_gone(p);
			if (p == child) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			continue;
		}
		struct thread *t = thread_of(p);
		int req = PTRACE_CONT, sig = 0, event = st >> 16;
		struct user_regs_struct r;
		if (event == PTRACE_EVENT_EXEC) {
			follow_exec(t);
			if (t->state == X_EXECVE_EXIT) req = PTRACE_SYSCALL;
		} else if (event == PTRACE_EVENT_SECCOMP) {
			if (t->state == X_EXIT) {
				req = PTRACE_SYSCALL; // the reservation itself
			} else {
				// Drop the hint; put rdi back at the exit.
				t->word = ptrace(PTRACE_PEEKUSER, p, offrdi, 0);
				ptrace(PTRACE_POKEUSER, p, offrdi, 0);
				t->state = HINT_EXIT;
				req = PTRACE_SYSCALL;
			}
		} else if (WSTOPSIG(st) == (SIGTRAP | 0x80)) {
			switch (t->state) {
			case HINT_EXIT:
				ptrace(PTRACE_POKEUSER, p, offrdi, t->word);
				t->state = IDLE;
				break;
			case X_EXECVE_EXIT: // execve's exit: load the reservation
				r = t->saved;
				load_reservation(&r, PROT_START, PROT_END, MAP_FIXED_NOREPLACE);
				r.rax = SYS_mmap;
				r.orig_rax = (unsigned long long)-1;
				ptrace(PTRACE_SETREGS, p, 0, &r);
				t->state = X_ENTRY;
				req = PTRACE_SYSCALL;
				break;
			case X_ENTRY:
				t->state = X_EXIT;
				req = PTRACE_SYSCALL;
				break;
			case X_EXIT: // its exit (EEXIST for a non-PIE image: left alone)
				ptrace(PTRACE_POKETEXT, p, t->saved.rip, t->word);
				r = t->saved;
				r.rax = 0; // execve's result
				ptrace(PTRACE_SETREGS, p, 0, &r);
				t->state = IDLE;
				break;
			}
		} else if (event == 0 && WSTOPSIG(st) != SIGSTOP && WSTOPSIG(st) != SIGCONT) {
			sig = WSTOPSIG(st);
		}
		ptrace(req, p, 0, sig);
	}
}

int main(int argc, char **argv) {
	int restore = 1, pool = 0, deny = 0, follow = 0;
	if (argc > 1 && strcmp(argv[1], "-e") == 0) {
		deny = 1;
		argv++;
		argc--;
	} else if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		restore = 0;
		argv++;
		argc--;
	} else if (argc > 1 && strcmp(argv[1], "-p") == 0) {
		pool = 1;
		argv++;
		argc--;
	} else if (argc > 1 && strcmp(argv[1], "-f") == 0) {
		follow = 1;
		argv++;
		argc--;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: ctracer [-n | -p | -e | -f] PROGRAM ARGS...\n");
		return 2;
	}
	pid_t child = fork();
	if (child == 0) {
		struct sock_fprog prog = {sizeof hint_filter / sizeof hint_filter[0], hint_filter};
		if (pool) prog = (struct sock_fprog){sizeof pool_filter / sizeof pool_filter[0], pool_filter};
		if (deny) prog = (struct sock_fprog){sizeof deny_filter / sizeof deny_filter[0], deny_filter};
		raise(SIGSTOP); // wait until seized
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
			perror("seccomp");
			_exit(127);
		}
		execvp(argv[1], argv + 1);
		perror("exec");
		_exit(127);
	}
	waitpid(child, NULL, WSTOPPED);
	long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD;
	if (pool) opts |= PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC;
	if (follow) opts |= PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC;
	if (ptrace(PTRACE_SEIZE, child, 0, opts) != 0) {
		perror("seize");
		return 1;
	}
	kill(child, SIGCONT);
	if (deny) return deny_loop();
	if (follow) return follow_loop(child);
	return pool ? pool_loop(child) : hint_loop(restore);
}
