// rlimit_fixed: a program that caps its address space (RLIMIT_AS 4 GiB,
// as sandboxes and test harnesses do), then maps 64 KiB at a fixed
// address in the protected range and handles a failure. Under the guard
// its reservations count against the limit, so the mapping may be
// refused (ENOMEM); the reservation the guard puts back is refused too,
// but nothing was freed: the program goes on, the range still covered.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	struct rlimit rl = {4UL << 30, RLIM_INFINITY};
	if (setrlimit(RLIMIT_AS, &rl) != 0) return 2;
	void *q = mmap((void *)0x40000000, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	printf("mmap %s\n", q == MAP_FAILED ? "refused" : "done");
	static char buf[1 << 20];
	int fd = open("/proc/self/maps", O_RDONLY), n = 0, k;
	while (fd >= 0 && (k = read(fd, buf + n, sizeof buf - 1 - n)) > 0) n += k;
	buf[n] = 0;
	int covered = 0;
	for (char *l = strtok(buf, "\n"); l; l = strtok(NULL, "\n")) {
		unsigned long a, b;
		if (sscanf(l, "%lx-%lx", &a, &b) == 2 && a <= 0x40000000 && b >= 0x40010000) covered = 1;
	}
	printf("covered: %s\n", covered ? "yes" : "NO");
	return 0;
}
