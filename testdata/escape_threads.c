// escape_threads: threads race mapping calls on neighbouring addresses
// at both edges of the range (each thread its own addresses, so that the
// program itself is correct) while one of them execs this program again.
// Each generation first checks its own maps: the range holds nothing but
// reservations and no hole. Usage: escape_threads GEN LAST.
#include "escape.h"

#include <stdatomic.h>

static const unsigned long RW = PROT_READ | PROT_WRITE, ANON = MAP_PRIVATE | MAP_ANONYMOUS;

static atomic_long iters[16];
static atomic_int stop;

struct job {
	int id;
	unsigned long addr, len;
	int kind; // 0 fixed+munmap, 1 hint+munmap, 2 munmap only, 3 MAP_32BIT, 4 mprotect
};

static atomic_int reports[16];

static void bad(struct job *j, const char *what, long v, int e) {
	failures++;
	if (atomic_fetch_add(&reports[j->id], 1) >= 3) return; // enough said
	say("threads-race FAIL: thread %d at %#lx: %s = %#lx %s", j->id, j->addr, what, v, e ? ename(e) : "");
}

static void *run(void *arg) {
	struct job *j = arg;
	while (!atomic_load(&stop)) {
		void *p;
		switch (j->kind) {
		case 0:
			p = mmap((void *)j->addr, j->len, RW, ANON | MAP_FIXED, -1, 0);
			if (p != (void *)j->addr) bad(j, "MAP_FIXED", (long)p, errno);
			else {
				*(volatile char *)p = 1; // really ours
				*(volatile char *)(j->addr + j->len - 1) = 1;
				if (munmap(p, j->len) != 0) bad(j, "munmap", -1, errno);
			}
			break;
		case 1:
			p = mmap((void *)j->addr, j->len, RW, ANON, -1, 0);
			if (p == MAP_FAILED) bad(j, "mmap(hint)", -1, errno);
			else {
				if (in_range((unsigned long)p, j->len)) bad(j, "mmap(hint) inside the range", (long)p, 0);
				munmap(p, j->len);
			}
			break;
		case 2:
			if (munmap((void *)j->addr, j->len) != 0) bad(j, "munmap", -1, errno);
			break;
		case 3:
			p = mmap(NULL, j->len, RW, ANON | MAP_32BIT, -1, 0);
			if (p != MAP_FAILED) {
				if (in_range((unsigned long)p, j->len)) bad(j, "MAP_32BIT inside the range", (long)p, 0);
				munmap(p, j->len);
			}
			break;
		case 4:
			if (mprotect((void *)j->addr, j->len, RW) == 0) bad(j, "mprotect of a reservation", 0, 0);
			break;
		}
		atomic_fetch_add(&iters[j->id], 1);
	}
	return NULL;
}

// wait_progress returns once every racing thread has done some work.
static void wait_progress(int nj) {
	for (;;) {
		int all = 1;
		for (int i = 0; i < nj; i++)
			if (atomic_load(&iters[i]) < 20) all = 0;
		if (all) return;
		usleep(1000);
	}
}

struct exec_job {
	int nj;
	char **args;
};

static void *execer(void *arg) {
	struct exec_job *ej = arg;
	wait_progress(ej->nj);
	if (failures) say("threads-race FAIL: %d failures before exec", failures);
	execv("/proc/self/exe", ej->args);
	say("threads-exec FAIL: execv: %s", ename(errno));
	_exit(1);
}

int main(int argc, char **argv) {
	int gen = argc > 1 ? atoi(argv[1]) : 0, last = argc > 2 ? atoi(argv[2]) : 8;
	if (gen > 0) {
		unsigned long holes = hole_bytes();
		char off[4096];
		int n = offenders(off, sizeof off);
		char route[64];
		snprintf(route, sizeof route, "threads-exec-gen%d", gen);
		if (n) say("%s ESCAPED: %s", route, off);
		else if (holes) say("%s FAIL: %lu bytes of the range unmapped after exec", route, holes);
		else say("%s ok: after exec from a racing thread, the range holds reservations only", route);
		if (n || holes) failures++;
	}

	struct job jobs[] = {
		{0, HI - 2 * PAGE, PAGE, 0},      // just inside the end
		{1, HI - PAGE, 2 * PAGE, 0},      // across the end
		{2, HI + PAGE, PAGE, 0},          // just outside the end
		{3, HI - 3 * PAGE, PAGE, 1},      // hint just inside the end
		{4, HI - 8 * PAGE, 4 * PAGE, 2},  // munmap of reservation near the end
		{5, LO + PAGE, PAGE, 0},          // second page of the range
		{6, LO - PAGE, 2 * PAGE, 2},      // munmap across the start
		{7, LO + 3 * PAGE, PAGE, 1},      // hint just inside the start
		{8, 0, PAGE, 3},                  // MAP_32BIT
		{9, LO + 4 * PAGE, PAGE, 4},      // mprotect of a reservation near the start
		{10, HI - 16 * PAGE, 4 * PAGE, 4}, // mprotect of a reservation near the end
	};
	int nj = sizeof jobs / sizeof jobs[0];
	pthread_t t[16];
	for (int i = 0; i < nj; i++) pthread_create(&t[i], NULL, run, &jobs[i]);
	char g[16], l[16];
	snprintf(g, sizeof g, "%d", gen + 1);
	snprintf(l, sizeof l, "%d", last);
	char *args[] = {argv[0], g, l, NULL};
	struct exec_job ej = {nj, args};
	if (gen < last) {
		// Another thread execs while the racing ones are still at it.
		pthread_t e;
		pthread_create(&e, NULL, execer, &ej);
		for (;;) pause();
	}
	wait_progress(nj);
	atomic_store(&stop, 1);
	long total = 0;
	for (int i = 0; i < nj; i++) {
		pthread_join(t[i], NULL);
		total += atomic_load(&iters[i]);
	}
	verdict("threads-race", failures == 0, "%ld racing calls by %d threads in the last generation, each checked", total, nj);
	return finish();
}
