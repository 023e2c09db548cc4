// forkexec: threads fork in a loop while another thread of the same
// process execs it again, for some generations. A thread that the exec
// ends (de_thread) between making its child and reporting the fork
// leaves a child whose creator is gone; natively it runs like the
// others. Each child tries to make 0x60000000 read-write, which must
// fail (nothing of the program's is there), and exits with 7 (8 if it
// did not fail); each generation reaps what the one before left and
// counts those that did not exit with 7.
//   forkexec GENERATIONS [GEN BAD]   (the last two are for the re-exec)
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void *forker(void *a) {
	while (!stop) {
		pid_t c = fork();
		if (c == 0) {
			// nothing of this program's is at 0x60000000, in the
			// protected range the tests use: a hole natively, a
			// reservation under the guard, read-write for neither
			_exit(mprotect((void *)0x60000000UL, 4096, PROT_READ | PROT_WRITE) == 0 ? 8 : 7);
		}
		if (c > 0) waitpid(c, NULL, 0);
	}
	return a;
}

// reap counts the children left over that did not exit with 7.
static int reap(void) {
	int st, bad = 0;
	pid_t w;
	while ((w = waitpid(-1, &st, WNOHANG)) > 0)
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 7) {
			bad++;
			if (WIFSIGNALED(st)) fprintf(stderr, "child %d: signal %d\n", w, WTERMSIG(st));
			else fprintf(stderr, "child %d: exit %d\n", w, WEXITSTATUS(st));
		}
	return bad;
}

int main(int argc, char **argv) {
	int gens = argc > 1 ? atoi(argv[1]) : 50;
	int gen = argc > 3 ? atoi(argv[2]) : 0;
	int bad = argc > 3 ? atoi(argv[3]) : 0;
	usleep(2000); // the children of the last generation end meanwhile
	bad += reap();
	if (gen >= gens) {
		printf("%d generations, %d children killed or wrong\n", gens, bad);
		return bad ? 1 : 0;
	}
	pthread_t t[3];
	for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, forker, NULL);
	usleep(3000);
	char g[16], b[16];
	snprintf(g, sizeof g, "%d", gen + 1);
	snprintf(b, sizeof b, "%d", bad);
	execl("/proc/self/exe", argv[0], argv[1], g, b, (char *)NULL);
	perror("exec");
	return 2;
}
