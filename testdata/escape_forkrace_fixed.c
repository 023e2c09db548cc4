// escape_forkrace_fixed: one thread maps and unmaps a mapping of its own
// with MAP_FIXED inside the range while another forks. The guard takes
// the MAP_FIXED into its model (the program's mapping) when it decides
// the call at its stop; a fork the kernel makes before it runs the call
// copies the reservation, and the child's model, a copy of the parent's,
// says the program's mapping is there: the child's mprotect makes the
// guard's reservation read-write. (The converse, a munmap decided but not
// yet run: the child has the program's mapping where its model has a
// reservation; its munmap and mprotect there act on nothing.)
//
// Found in the ninth session, while checking the fix of
// escape_forkrace.c: a forked child's layout is read (ForkLayout), but a
// reservation cannot be told from the program's own PROT_NONE anonymous
// mapping by its line in /proc/PID/maps. At a fork while another
// thread's call may be in flight, what looks like a reservation is taken
// for one (Guard.Reconcile). Each child whose layout shows a reservation
// at the address asks mprotect to make it read-write.
#include "escape.h"
#include <sys/wait.h>

#define AT 0x7ff00000UL
#define N (4 * PAGE)

static volatile int stop;

static void *mapper(void *arg) {
	(void)arg;
	while (!stop) {
		mmap((void *)AT, N, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		munmap((void *)AT, N);
	}
	return NULL;
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	pthread_t th;
	pthread_create(&th, NULL, mapper, NULL);
	int made_rw = 0, refused = 0;
	for (int i = 0; i < rounds; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			struct mapping m;
			int was_reserved = mapped_at(AT, &m) && reservation(&m);
			int r = mprotect((void *)AT, N, PROT_READ | PROT_WRITE);
			_exit(was_reserved ? (r == 0 ? 5 : 6) : 0);
		}
		int st;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 5) made_rw++;
		if (WIFEXITED(st) && WEXITSTATUS(st) == 6) refused++;
	}
	stop = 1;
	pthread_join(th, NULL);
	verdict("forkrace-fixed", made_rw == 0,
	        "%d forks: %d children's mprotect made the reservation read-write, %d got ENOMEM there", rounds, made_rw, refused);
	return finish();
}
