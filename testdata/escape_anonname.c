// escape_anonname (needs a kernel with CONFIG_ANON_VMA_NAME): prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME) is not a
// call the guard stops: the program can name a reservation
// ([anon:NAME]). A forked child whose layout the guard reads while
// another thread's call on those pages may be in flight (Reconcile)
// takes a mapping that does not look like a reservation for the
// program's: a named reservation becomes the program's in the child's
// model, and the child's mprotect makes it read-write.
#include "escape.h"
#include <sys/prctl.h>
#include <sys/wait.h>
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define AT 0x7ff00000UL

static volatile int stop;

static void *caller(void *arg) {
	(void)arg;
	while (!stop) mprotect((void *)AT, 2 * PAGE, PROT_READ | PROT_WRITE);
	return NULL;
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int rounds = argc > 2 ? atoi(argv[2]) : 500;
	if (!strict_mode) {
		void *p = mmap((void *)AT, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p != (void *)AT) { say("anonname FAIL: MAP_FIXED: %s", ename(errno)); return 1; }
		allow(AT, PAGE);
	}
	long r = prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, AT + PAGE, PAGE, "x");
	say("anonname info: naming %#lx (the reservation): %ld %s", AT + PAGE, r, r ? ename(errno) : "");
	struct mapping m;
	if (mapped_at(AT + PAGE, &m)) say("anonname info: %#lx-%#lx %s %s", m.start, m.end, m.perms, m.path);
	pthread_t th;
	pthread_create(&th, NULL, caller, NULL);
	int made_rw = 0;
	for (int i = 0; i < rounds && !made_rw; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			int rr = mprotect((void *)(AT + PAGE), PAGE, PROT_READ | PROT_WRITE);
			if (rr == 0) {
				*(volatile char *)(AT + PAGE) = 1;
				_exit(5);
			}
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 5) made_rw++;
	}
	stop = 1;
	pthread_join(th, NULL);
	verdict("anonname-fork", made_rw == 0, "%d forks: %d children's mprotect made the named reservation read-write", rounds, made_rw);
	return finish();
}
