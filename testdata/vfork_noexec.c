// vfork_noexec: threads vfork children whose exec fails (a program that
// does not exist: posix_spawn, Python's subprocess and Go's os/exec do
// the same), so each child ends without exec, and its creator vforks
// again at once. Every child must exit with 7, as natively; under the
// guard some were killed as children whose creator was gone (the
// thirteenth session, a stress hunt).
// SPINNERS threads spin meanwhile: the race wants a busy machine.
//   vfork_noexec THREADS ROUNDS [SPINNERS]
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static int rounds;
static int bad;
static volatile int done;

static void *spin(void *x) {
	while (!done) {
	}
	return x;
}
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *spawner(void *x) {
	(void)x;
	for (int i = 0; i < rounds; i++) {
		pid_t c = vfork();
		if (c == 0) {
			char *av[] = {"/nonexistent/x", 0};
			execve(av[0], av, 0);
			_exit(7);
		}
		int st;
		if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 7) {
			pthread_mutex_lock(&lock);
			bad++;
			pthread_mutex_unlock(&lock);
		}
	}
	return x;
}

int main(int argc, char **argv) {
	int n = argc > 1 ? atoi(argv[1]) : 4;
	rounds = argc > 2 ? atoi(argv[2]) : 500;
	int spinners = argc > 3 ? atoi(argv[3]) : 0;
	pthread_t t[64], s[8];
	for (int i = 0; i < spinners && i < 8; i++) pthread_create(&s[i], NULL, spin, NULL);
	for (int i = 0; i < n && i < 64; i++) pthread_create(&t[i], NULL, spawner, NULL);
	for (int i = 0; i < n && i < 64; i++) pthread_join(t[i], NULL);
	done = 1;
	for (int i = 0; i < spinners && i < 8; i++) pthread_join(s[i], NULL);
	printf("%d children, %d killed or wrong\n", n * rounds, bad);
	return bad != 0;
}
