// pdeathsig: prints what the first program of a run keeps from its
// start that decides whether it outlives mmapguard: its parent-death
// signal (PR_GET_PDEATHSIG), whether it runs with no_new_privs, and its
// effective group id. Run set-group-ID (TestFirstProgramKeepsDeathSignal),
// its exec is a secure one unless no_new_privs holds, and a secure exec
// clears the parent-death signal.
// Usage: pdeathsig
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void) {
	int sig = -1;
	if (prctl(PR_GET_PDEATHSIG, &sig) != 0) {
		perror("prctl(PR_GET_PDEATHSIG)");
		return 1;
	}
	printf("pdeathsig %d nnp %d egid %d gid %d\n", sig, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), (int)getegid(), (int)getgid());
	return 0;
}
