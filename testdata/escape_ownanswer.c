// escape_ownanswer: a program whose own seccomp filter answers the
// guard's reservation calls (an anonymous PROT_NONE MAP_NORESERVE mmap,
// fixed) itself, so that they do not run:
//   eexist      SECCOMP_RET_ERRNO with EEXIST: "a mapping is there",
//               where nothing is;
//   errno0      SECCOMP_RET_ERRNO with 0: a success that returns 0, not
//               the address;
//   trap        SECCOMP_RET_TRAP, with a SIGSYS handler that returns:
//               the call "returns" its own number;
//   killthread  SECCOMP_RET_KILL_THREAD: the thread putting the
//               reservation back dies, the others go on.
// and then, by the second argument:
//   moveout     a thread moves a mapping out of the protected range (the
//               guard puts a reservation back over the old place from
//               that thread), then the main thread asks for MAP_32BIT
//               mappings until one lands below 2 GiB;
//   exec        it execs itself, so that the reservations the guard
//               makes at the exec get the same answer;
//   leader      the main thread (the thread group's leader, whose death
//               the kernel reports only once its other threads are gone)
//               moves the mapping out, and another thread asks for the
//               MAP_32BIT mappings;
//   clonevm     a clone(CLONE_VM) child, another process that shares
//               the address space, moves the mapping out, and the parent
//               asks for the MAP_32BIT mappings.
// The guard must kill it rather than leave the range open: it must never
// print "MAP_32BIT inside".
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void try_map32(void) {
	for (int t = 0; t < 100000; t++) {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (m != MAP_FAILED && (unsigned long)m >= 0x10000 && (unsigned long)m < 0x80000000UL) {
			printf("MAP_32BIT inside the range\n");
			return;
		}
	}
	printf("MAP_32BIT never inside\n");
}

static void *mover(void *arg) {
	(void)arg;
	void *p = mmap((void *)0x50000000, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *q = mremap(p, 1 << 20, 64 << 20, MREMAP_MAYMOVE);
	printf("moved: %s\n", q != MAP_FAILED && q != p ? "yes" : "no");
	return NULL;
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx) { (void)sig, (void)si, (void)ctx; }

static volatile int go;

static void *looker(void *arg) {
	(void)arg;
	while (!go) usleep(1000);
	usleep(100 * 1000); // the leader's move-out is over, or the leader is dead
	try_map32();
	exit(0);
}

static int clone_child(void *arg) { return mover(arg) != NULL; }

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc > 1 && strcmp(argv[1], "after-exec") == 0) {
		printf("running after the exec\n");
		try_map32();
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: escape_ownanswer eexist|errno0|trap|killthread moveout|exec|leader|clonevm\n");
		return 2;
	}
	unsigned answer;
	if (strcmp(argv[1], "eexist") == 0) answer = SECCOMP_RET_ERRNO | EEXIST;
	else if (strcmp(argv[1], "errno0") == 0) answer = SECCOMP_RET_ERRNO;
	else if (strcmp(argv[1], "trap") == 0) answer = SECCOMP_RET_TRAP;
	else if (strcmp(argv[1], "killthread") == 0) answer = SECCOMP_RET_KILL_THREAD;
	else return 2;
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	sigaction(SIGSYS, &sa, NULL);
	// PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE with MAP_FIXED or
	// MAP_FIXED_NOREPLACE: the guard's reservations.
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mmap, 0, 6),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROT_NONE, 0, 4),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[3])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x4032, 1, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x104022, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, answer),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {sizeof f / sizeof f[0], f};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
		perror("seccomp");
		return 2;
	}
	if (strcmp(argv[2], "exec") == 0) {
		execl("/proc/self/exe", argv[0], "after-exec", (char *)NULL);
		perror("exec");
		return 2;
	}
	pthread_t t;
	if (strcmp(argv[2], "leader") == 0) {
		pthread_create(&t, NULL, looker, NULL);
		go = 1;
		mover(NULL);
		pthread_join(t, NULL);
		return 0;
	}
	if (strcmp(argv[2], "clonevm") == 0) {
		static char stack[1 << 16];
		int pid = clone(clone_child, stack + sizeof stack, CLONE_VM | SIGCHLD, NULL);
		if (pid < 0) {
			perror("clone");
			return 2;
		}
		int st;
		waitpid(pid, &st, __WALL);
		try_map32();
		return 0;
	}
	pthread_create(&t, NULL, mover, NULL);
	pthread_join(t, NULL);
	try_map32();
	return 0;
}
