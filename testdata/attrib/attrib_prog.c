// attrib_prog: mmap calls made from known places, each stopped at the
// system call so that a test can attribute it without a tracer. A
// seccomp filter answers mmap with SECCOMP_RET_TRAP; the SIGSYS handler
// then has the trapped call's registers, exactly as a tracer would see
// them at its seccomp stop (rip just after the syscall instruction, rsp,
// rbp), reports them, and waits until the test has looked at the stopped
// process through /proc/PID/maps and /proc/PID/mem. Then it makes the
// call itself, from the one syscall instruction the filter lets through,
// and returns the result as the trapped call's.
//
//	attrib_prog STEPS LIB WRAP_CFI WRAP_FP FAKE_LIBC
//
// STEPS is a comma-separated list of the steps below, or "all"; LIB is
// attrib_lib.so, WRAP_* are attrib_wrap.c built with and without unwind
// tables, FAKE_LIBC is attrib_fakelibc.c built as libc.so.6. The last
// step, fake-noreturn, ends the program from inside the fake libc.
// Lines on fd 3:
//
//	mark STEP                   the step's calls follow
//	trap TID RIP RSP RBP NR     one trapped call; the handler then waits for a byte on fd 4
//	done
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

enum { EVENTS = 3, CONTROL = 4 };

// emu_syscall6(nr, a1..a6) makes a system call from the instruction
// before emu_syscall_ret: the only place the filter lets mmap through.
long emu_syscall6(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
extern const char emu_syscall_ret[];
__asm__(".text\n"
        ".globl emu_syscall6\n"
        ".type emu_syscall6, @function\n"
        "emu_syscall6:\n"
        "  mov %rdi, %rax\n"
        "  mov %rsi, %rdi\n"
        "  mov %rdx, %rsi\n"
        "  mov %rcx, %rdx\n"
        "  mov %r8, %r10\n"
        "  mov %r9, %r8\n"
        "  mov 8(%rsp), %r9\n"
        "  syscall\n"
        ".globl emu_syscall_ret\n"
        "emu_syscall_ret:\n"
        "  ret\n"
        ".size emu_syscall6, .-emu_syscall6\n");

static void put(const char *s) {
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(EVENTS, s, n);
		if (w <= 0) _exit(120);
		s += w;
		n -= (size_t)w;
	}
}

static char *hex(char *p, unsigned long v) {
	char tmp[16];
	int n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	*p++ = '0';
	*p++ = 'x';
	while (n) *p++ = tmp[--n];
	return p;
}

static void mark(const char *step) {
	char line[128] = "mark ";
	strncat(line, step, 100);
	strcat(line, "\n");
	put(line);
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
	(void)sig;
	greg_t *g = ((ucontext_t *)ctx)->uc_mcontext.gregs;
	char line[160] = "trap ", *p = line + 5;
	p = hex(p, (unsigned long)syscall(SYS_gettid));
	*p++ = ' ';
	p = hex(p, (unsigned long)g[REG_RIP]);
	*p++ = ' ';
	p = hex(p, (unsigned long)g[REG_RSP]);
	*p++ = ' ';
	p = hex(p, (unsigned long)g[REG_RBP]);
	*p++ = ' ';
	p = hex(p, (unsigned long)si->si_syscall);
	*p++ = '\n';
	*p = 0;
	put(line);
	char c;
	if (read(CONTROL, &c, 1) != 1) _exit(121);
	g[REG_RAX] = emu_syscall6(si->si_syscall, g[REG_RDI], g[REG_RSI], g[REG_RDX], g[REG_R10], g[REG_R8], g[REG_R9]);
}

#define LD(off) ((struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off)))
#define JEQ(k, t, f) ((struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f)))
#define RET(k) ((struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (k)))

static void install(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGSYS, &sa, NULL) != 0) _exit(122);
	uint64_t ip = (uint64_t)emu_syscall_ret;
	struct sock_filter f[] = {
	    LD(offsetof(struct seccomp_data, arch)),
	    JEQ(AUDIT_ARCH_X86_64, 1, 0),
	    RET(SECCOMP_RET_ALLOW),
	    LD(offsetof(struct seccomp_data, nr)),
	    JEQ(SYS_mmap, 1, 0),
	    RET(SECCOMP_RET_ALLOW),
	    LD(offsetof(struct seccomp_data, instruction_pointer)),
	    JEQ((uint32_t)ip, 1, 0),
	    RET(SECCOMP_RET_TRAP),
	    LD(offsetof(struct seccomp_data, instruction_pointer) + 4),
	    JEQ((uint32_t)(ip >> 32), 1, 0),
	    RET(SECCOMP_RET_TRAP),
	    RET(SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(123);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) _exit(124);
}

static void *volatile sink;
static const int RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

// Each do_* function makes its call and then uses the result, so the
// call is not a tail call: its return address is in the function.
__attribute__((noinline)) int do_libc_mmap(void) {
	void *p = mmap(NULL, 4096, RW, ANON, -1, 0);
	sink = p;
	return p != MAP_FAILED;
}

__attribute__((noinline)) int do_syscall_mmap(void) {
	void *p = (void *)syscall(SYS_mmap, 0, 4096, RW, ANON, -1, 0);
	sink = p;
	return p != MAP_FAILED;
}

__attribute__((noinline)) int do_inline_mmap(void) {
	register long r10 __asm__("r10") = ANON;
	register long r8 __asm__("r8") = -1;
	register long r9 __asm__("r9") = 0;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(SYS_mmap), "D"(0), "S"(4096), "d"(RW), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	sink = (void *)ret;
	return ret > 0;
}

__attribute__((noinline)) int do_malloc(void) {
	void *p = malloc(64 << 20);
	sink = p;
	return p != NULL;
}

__attribute__((noinline)) int do_calloc(void) {
	void *p = calloc(1, 32 << 20);
	sink = p;
	return p != NULL;
}

__attribute__((noinline)) void *thread_fn(void *arg) {
	(void)arg;
	mark("thread-mmap");
	void *p = mmap(NULL, 4096, RW, ANON, -1, 0);
	sink = p;
	mark("thread-malloc");
	void *q = malloc(100); // the thread's first malloc: a new arena
	sink = q;
	return p;
}

__attribute__((noinline)) int do_thread(void) {
	pthread_t t;
	if (pthread_create(&t, NULL, thread_fn, NULL) != 0) return 0;
	sink = &t;
	return pthread_join(t, NULL) == 0;
}

static void *lib;

__attribute__((noinline)) int do_dlopen(const char *path, void **handle) {
	*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	sink = *handle;
	return *handle != NULL;
}

__attribute__((noinline)) int do_lib_call(const char *sym) {
	long (*fn)(void) = (long (*)(void))dlsym(lib, sym);
	if (!fn) return 0;
	long r = fn();
	sink = (void *)r;
	return r > 0;
}

// The code of a "JIT": mov %rcx,%r10; mov $9,%eax; syscall; ret, called
// as a function with mmap's six arguments. The syscall instruction is at
// offset 8.
static const unsigned char jit_syscall[] = {0x49, 0x89, 0xca, 0xb8, 0x09, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3};
// sub $8,%rsp; call *5(%rip); add $8,%rsp; ret; .quad mmap: calls libc's
// mmap from the JIT page. The call instruction is at offset 4.
static const unsigned char jit_call[] = {0x48, 0x83, 0xec, 0x08, 0xff, 0x15, 0x05, 0x00, 0x00, 0x00, 0x48, 0x83, 0xc4, 0x08, 0xc3};

static unsigned char *jit_page;

__attribute__((noinline)) int do_jit_setup(void) {
	jit_page = mmap(NULL, 4096, RW, ANON, -1, 0);
	if (jit_page == MAP_FAILED) return 0;
	memcpy(jit_page, jit_syscall, sizeof jit_syscall);
	memcpy(jit_page + 64, jit_call, sizeof jit_call);
	void *target = (void *)mmap;
	memcpy(jit_page + 64 + sizeof jit_call, &target, sizeof target);
	return mprotect(jit_page, 4096, PROT_READ | PROT_EXEC) == 0;
}

typedef long (*mmap_fn)(long, long, long, long, long, long);

__attribute__((noinline)) int do_jit(int off) {
	long r = ((mmap_fn)(jit_page + off))(0, 4096, RW, ANON, -1, 0);
	sink = (void *)r;
	return r > 0;
}

// scrub zeroes the stack below its caller, so that no stale return
// address from earlier calls lies where wrap_mmap's frame will be.
__attribute__((noinline)) static void scrub(void) {
	volatile char area[4096];
	for (size_t i = 0; i < sizeof area; i++) area[i] = 0;
}

__attribute__((noinline)) int do_wrap(void *handle) {
	mmap_fn fn = (mmap_fn)dlsym(handle, "wrap_mmap");
	if (!fn) return 0;
	scrub();
	long r = fn(0, 4096, RW, ANON, -1, 0);
	sink = (void *)r;
	return r > 0;
}

static void *fake;

__attribute__((noinline)) int do_fake_chain(void) {
	long (*fn)(void) = (long (*)(void))dlsym(fake, "fake_chain");
	if (!fn) return 0;
	long r = fn();
	sink = (void *)r;
	return r > 0;
}

static void finish(void) {
	put("done\n");
	_exit(0);
}

__attribute__((noinline)) int do_fake_fatal(void) {
	void (*fn)(void (*)(void)) = (void (*)(void (*)(void)))dlsym(fake, "fake_fatal");
	if (!fn) return 0;
	fn(finish); // does not return
	sink = (void *)fn;
	return 0;
}

static int want(const char *steps, const char *step) {
	if (strcmp(steps, "all") == 0) return 1;
	size_t n = strlen(step);
	for (const char *p = steps; (p = strstr(p, step)) != NULL; p += n)
		if ((p == steps || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
	return 0;
}

#define STEP(name, call)                                                                           \
	do {                                                                                       \
		if (want(argv[1], name)) {                                                         \
			mark(name);                                                                \
			if (!(call)) {                                                             \
				mark("failed " name);                                              \
				return 1;                                                          \
			}                                                                          \
		}                                                                                  \
	} while (0)

int main(int argc, char **argv) {
	if (argc != 6) return 2;
	void *wrap_cfi = NULL, *wrap_fp = NULL;
	install();
	STEP("libc", do_libc_mmap());
	STEP("syscall", do_syscall_mmap());
	STEP("inline", do_inline_mmap());
	STEP("malloc", do_malloc());
	STEP("calloc", do_calloc());
	STEP("thread", do_thread());
	STEP("dlopen", do_dlopen(argv[2], &lib));
	if (lib) {
		STEP("lib-libc", do_lib_call("lib_map"));
		STEP("lib-inline", do_lib_call("lib_raw"));
	}
	STEP("jit-setup", do_jit_setup());
	if (jit_page) {
		STEP("jit", do_jit(0));
		STEP("jit-libc", do_jit(64));
	}
	STEP("wrap-load", do_dlopen(argv[3], &wrap_cfi) && do_dlopen(argv[4], &wrap_fp));
	if (wrap_cfi && wrap_fp) {
		STEP("wrap-cfi", do_wrap(wrap_cfi));
		STEP("wrap-fp", do_wrap(wrap_fp));
	}
	STEP("fake-load", do_dlopen(argv[5], &fake));
	if (fake) {
		STEP("fake-chain", do_fake_chain());
		STEP("fake-noreturn", do_fake_fatal());
	}
	put("done\n");
	return 0;
}
