// escape_handover.c: the first program, continued by another process's
// SIGCONT while mmapguard hands it over from PTRACE_TRACEME to
// PTRACE_SEIZE (TestEscapeHandoverCont sends it SIGCONT in a loop). Run
// on in that window, it was traced by nobody: an exec of its own got no
// reservations, and the filter lets the kernel place a NULL-hint mmap,
// which went into the protected range once the rest of the address
// space was filled with read-only MAP_NORESERVE mappings.
//
// The first stage says whether it is traced (TracerPid) and execs the
// second ("fill"), which fills the address space and checks the range.
#include "escape.h"

static int tracer_pid(void) {
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int pid = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "TracerPid:", 10) == 0) pid = atoi(line + 10);
	if (f) fclose(f);
	return pid;
}

int main(int argc, char **argv) {
	if (argc > 1 && strcmp(argv[1], "fill") == 0) {
		// Mappings without an address, halving from 64 TiB, until one
		// lands in the range or nothing fits any more.
		unsigned long n = 0;
		void *in = NULL;
		for (int sh = 46; sh >= 12 && !in; sh--)
			for (int k = 0; k < 4; k++) {
				void *p = mmap(NULL, 1UL << sh, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
				if (p == MAP_FAILED) break;
				n++;
				if (in_range((unsigned long)p, 1UL << sh)) {
					in = p;
					break;
				}
			}
		verdict("handover-fill", in == NULL, "%lu mappings without an address: %s %p", n,
		        in ? "one landed in the range at" : "none in the range", in);
		return finish();
	}
	int tp = tracer_pid();
	verdict("handover-traced", tp > 0, "TracerPid %d at the first program's start", tp);
	char *args[] = {argv[0], "fill", NULL};
	execv("/proc/self/exe", args);
	say("handover-exec FAIL: execv: %s", ename(errno));
	return 1;
}
