// aio_death: a task that dies inside an io_setup, which the guard sees to
// its end, while a process sharing its memory goes on (natively it does;
// the guard killed the sharers, taking the death for that of a call whose
// end it must see: the thirteenth session's review).
//  kill: P makes Q with clone(CLONE_VM); Q's io_setup waits on a
//        userfaultfd (ctxp write-protected); P SIGKILLs Q. Natively P
//        goes on.
//  exec: P makes Q with clone(CLONE_VM); P's leader's io_setup waits on
//        a userfaultfd; another thread of P execs /bin/true (ending the
//        leader in io_setup). Then Q (still in the old memory) makes a
//        ring of its own and moves it with MREMAP_FIXED to 16 MiB below
//        the pool (0x200000000000), outside every protected range.
//  plain: Q's own ring moved the same way with nothing else going on.
// The move is honoured once no io_setup is in progress (a count of them
// left behind by the death would refuse it: EINVAL).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define PAGE 4096UL
extern char **environ;
static int uffd;
static unsigned long ctxp;
static int rfd, wfd;
static char stk[1 << 16] __attribute__((aligned(16)));

static void out(const char *s) {
	if (write(2, s, strlen(s)) < 0) _exit(8);
}
static int wp_uffd(unsigned long page) {
	int fd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd < 0) return -1;
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP};
	struct uffdio_register reg = {.range = {page, PAGE}, .mode = UFFDIO_REGISTER_MODE_WP};
	struct uffdio_writeprotect wp = {.range = {page, PAGE}, .mode = UFFDIO_WRITEPROTECT_MODE_WP};
	if (ioctl(fd, UFFDIO_API, &api) || ioctl(fd, UFFDIO_REGISTER, &reg) || ioctl(fd, UFFDIO_WRITEPROTECT, &wp)) return -1;
	return fd;
}
static void wait_msg(void) {
	struct pollfd p = {uffd, POLLIN, 0};
	struct uffd_msg m;
	if (poll(&p, 1, 10000) != 1 || read(uffd, &m, sizeof m) != sizeof m) { out("no uffd wait\n"); _exit(9); }
}
static void move_ring(const char *who) {
	aio_context_t c = 0;
	char b[256];
	if (syscall(SYS_io_setup, 16, &c)) { snprintf(b, sizeof b, "%s: io_setup: %s\n", who, strerror(errno)); out(b); return; }
	// find the ring
	FILE *f = fopen("/proc/self/maps", "r");
	char l[512]; unsigned long s = 0, e = 0;
	while (fgets(l, sizeof l, f)) if (strstr(l, "[aio]")) sscanf(l, "%lx-%lx", &s, &e);
	fclose(f);
	unsigned long to = 0x200000000000UL - (16UL << 20);
	long r = syscall(SYS_mremap, s, e - s, e - s, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	snprintf(b, sizeof b, "%s: mremap(ring %#lx, FIXED to %#lx) = %s\n", who, s, to, r == -1 ? strerror(errno) : "moved");
	out(b);
	syscall(SYS_io_destroy, r == -1 ? c : (aio_context_t)to);
}
static int q_kill(void *x) {
	(void)x;
	syscall(SYS_io_setup, 16, (aio_context_t *)ctxp);
	return 0;
}
static int q_exec(void *x) {
	(void)x;
	char b;
	close(wfd);
	while (read(rfd, &b, 1) > 0) {}
	move_ring("Q after P's exec");
	return 0;
}
static void *exec_thread(void *x) {
	(void)x;
	wait_msg();
	char *av[] = {"/bin/true", 0};
	execve(av[0], av, environ);
	_exit(3);
}
int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "kill";
	ctxp = (unsigned long)mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	*(volatile long *)ctxp = 0;
	if ((uffd = wp_uffd(ctxp)) < 0) { perror("uffd"); return 2; }
	if (!strcmp(mode, "plain")) { move_ring("plain"); return 0; }
	if (!strcmp(mode, "kill")) {
		int q = clone(q_kill, stk + sizeof stk, CLONE_VM | SIGCHLD, 0);
		wait_msg();
		kill(q, SIGKILL);
		int st;
		waitpid(q, &st, 0);
		usleep(200000);
		fprintf(stderr, "P: Q ended (%s); P goes on\n", WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exit");
		move_ring("P after Q killed");
		return 0;
	}
	// exec
	int p[2];
	if (pipe2(p, O_CLOEXEC)) return 2;
	rfd = p[0], wfd = p[1];
	int q = clone(q_exec, stk + sizeof stk, CLONE_VM | SIGCHLD, 0);
	(void)q;
	pthread_t th;
	pthread_create(&th, 0, exec_thread, 0);
	syscall(SYS_io_setup, 16, (aio_context_t *)ctxp); // the leader, ended by the exec
	out("leader: io_setup returned?\n");
	pause();
	return 0;
}
