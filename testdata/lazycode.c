// lazycode: where mmapguard's code page stands before and after a
// process's first rewrite. Prints the permissions of the mapping holding
// 0x200000000000 (the default pool's first page, the code page; "none"
// natively): a reservation (---p) until a rewrite wants the code, then
// r-xp. A child forked before that maps its own; four threads racing
// their first rewrites map it once.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CODE 0x200000000000UL

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
	return mmap((void *)at, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static pthread_barrier_t barrier;

static void *racer(void *arg) {
	pthread_barrier_wait(&barrier);
	return hinted((unsigned long)arg);
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("start %s\n", perms());
	pid_t c = fork();
	if (c == 0) {
		hinted(0x30000000);
		printf("child after a rewrite %s\n", perms());
		_exit(0);
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
	while (f && fgets(line, sizeof line, f)) code += strstr(line, "r-xp 00000000 00:00 0") != NULL && strncmp(line, "200000000000-", 13) == 0;
	if (f) fclose(f);
	printf("code mappings %d\n", code);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
