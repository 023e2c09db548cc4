/*
 * maps_many: makes 25000 small mappings that cannot merge (each with
 * other permissions than its neighbours), prints their count and
 * "ready", and waits to be killed: a long /proc/PID/maps for a reader to
 * be cut short in.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	int n = 25000;
	char *base = mmap(NULL, 2 * n * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (int i = 0; i < n; i++)
		if (mprotect(base + 2 * i * page, page, PROT_READ) != 0) {
			perror("mprotect");
			return 1;
		}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
