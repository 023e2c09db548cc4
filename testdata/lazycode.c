// lazycode [CODE]: where mmapguard's code page stands before and after a
// process's first rewrite. Prints the permissions of the mapping holding
// CODE (default 0x200000000000, the default pool's first page; "none"
// natively): a reservation (---p) until a rewrite wants the code, then
// r-xp. A child forked before that maps its own; four threads racing
// their first rewrites map it once. Every rewritten mapping is written
// to. At the end the program maps the page after the code page itself
// and unmaps both pages: its own goes, the code page stays, and the
// rewrites after that still work.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned long CODE = 0x200000000000UL;
static int bad;

static const char *perms(void) {
	static char out[8];
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	strcpy(out, "none");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char p[8];
		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, p) == 3 && lo <= CODE && CODE < hi) {
			strcpy(out, p);
			break;
		}
	}
	if (f) fclose(f);
	return out;
}

// hinted maps a page with a hint inside the protected range, which the
// guard moves into the pool.
static void *hinted(unsigned long at) {
	char *p = mmap((void *)at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || (unsigned long)p < 4096) {
		printf("hinted mmap at %#lx returned %p\n", at, (void *)p);
		__atomic_fetch_add(&bad, 1, __ATOMIC_SEQ_CST);
		return p;
	}
	p[0] = 1;
	return p;
}

static pthread_barrier_t barrier;

static void *racer(void *arg) {
	pthread_barrier_wait(&barrier);
	return hinted((unsigned long)arg);
}

int main(int argc, char **argv) {
	if (argc > 1) CODE = strtoul(argv[1], NULL, 0);
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("start %s\n", perms());
	pid_t c = fork();
	if (c == 0) {
		hinted(0x30000000);
		printf("child after a rewrite %s\n", perms());
		_exit(bad);
	}
	int st;
	waitpid(c, &st, 0);
	printf("parent after the child %s\n", perms());
	pthread_t t[4];
	pthread_barrier_init(&barrier, NULL, 4);
	for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, racer, (void *)(0x31000000UL + i * 0x100000));
	for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
	printf("after four threads %s\n", perms());
	int away = 0;
	for (int i = 0; i < 3; i++) {
		unsigned long p = (unsigned long)hinted(0x32000000UL + i * 0x100000);
		away += p >= 0x80000000UL;
	}
	printf("three more, %d outside the range\n", away);
	int code = 0;
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f)) code += strstr(line, "r-xp 00000000 00:00 0") != NULL && strtoul(line, NULL, 16) == CODE;
	if (f) fclose(f);
	printf("code mappings %d\n", code);
	char *mine = mmap((void *)(CODE + 4096), 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	int u = munmap((void *)CODE, 8192);
	hinted(0x33000000);
	printf("own page %s, munmap across the code page %d, then %s\n", mine == MAP_FAILED ? "refused" : "mapped", u, perms());
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 && bad == 0 ? 0 : 1;
}
