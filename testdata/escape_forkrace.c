// escape_forkrace: one thread forks while another changes a mapping of
// its own inside the range that is marked MADV_DONTFORK (the kernel does
// not copy it into a child: VM_DONTCOPY). The guard decides each call at
// its stop, before the kernel runs it; a fork that the kernel makes in
// between copies the layout as it was, not as the model already has it:
//
//   - munmap (or an mremap shrink) of the DONTFORK mapping, decided (the
//     model has a reservation there) but not yet run when the kernel
//     copies the parent: the child lacks the mapping, and nothing puts
//     the reservation back there; its MAP_32BIT lands in the hole;
//   - MADV_DONTFORK decided but not yet run: the child has the mapping,
//     and the reservation the guard maps there with MAP_FIXED_NOREPLACE
//     fails (EEXIST): the child is killed (fail closed) for nothing.
//
// Found by testdata/concfuzz.c. Each child looks for holes in the range
// and asks for MAP_32BIT; the parent counts children that found one and
// children killed by the guard.
#include "escape.h"
#include <sys/wait.h>

#define AT 0x7ff00000UL
#define N (4 * PAGE)

static volatile int stop;

static void *mapper(void *arg) {
	(void)arg;
	for (unsigned long i = 0; !stop; i++) {
		void *p = mmap((void *)AT, N, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p != (void *)AT) {
			say("forkrace setup FAIL: mmap: %s", ename(errno));
			exit(2);
		}
		madvise(p, N, MADV_DONTFORK);
		switch (i % 3) {
		case 0: munmap(p, N); break;
		case 1: mremap(p, N, PAGE, 0); munmap(p, PAGE); break;
		default: madvise(p, N, MADV_DOFORK); munmap(p, N);
		}
	}
	return NULL;
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int rounds = argc > 2 ? atoi(argv[2]) : 2000;
	pthread_t th;
	pthread_create(&th, NULL, mapper, NULL);
	int holes = 0, landed = 0, killed = 0, other = 0;
	for (int i = 0; i < rounds; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			if (hole_bytes()) _exit(3);
			void *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
			if (q != MAP_FAILED && in_range((unsigned long)q, PAGE)) _exit(4);
			_exit(0);
		}
		int st;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 3) holes++;
		else if (WIFEXITED(st) && WEXITSTATUS(st) == 4) landed++;
		else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) killed++;
		else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) other++;
	}
	stop = 1;
	pthread_join(th, NULL);
	verdict("forkrace-dontfork", holes + landed + killed + other == 0,
	        "%d forks: %d children with a hole in the range, %d whose MAP_32BIT landed there, %d killed, %d other", rounds,
	        holes, landed, killed, other);
	return finish();
}
