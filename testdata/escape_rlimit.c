// escape_rlimit: a program moves a 32 MiB mapping of its own out of the
// protected range (mremap MREMAP_FIXED) with RLIMIT_AS lowered to its
// current size, so that the reservation the guard puts back over the
// hole does not fit; then raises the limit and asks for a MAP_32BIT
// mapping, which the kernel places in the first free room below 2 GiB:
// the hole, if it is left open. The guard must not leave it open: the
// process is killed (fail closed).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define SIZE (0x2000000UL + 0x10000UL)

static unsigned long vmsize(void) {
	static char buf[1 << 16];
	int fd = open("/proc/self/status", O_RDONLY);
	int n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	char *p = strstr(buf, "VmSize:");
	return p ? strtoul(p + 7, NULL, 10) * 1024 : 0;
}

int main(void) {
	setvbuf(stdout, NULL, _IONBF, 0);
	void *in = mmap((void *)0x40000000, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	void *out = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (in == MAP_FAILED || out == MAP_FAILED) return 2;
	munmap(out, SIZE);
	struct rlimit rl = {vmsize(), RLIM_INFINITY};
	setrlimit(RLIMIT_AS, &rl);
	void *moved = mremap(in, SIZE, SIZE, MREMAP_MAYMOVE | MREMAP_FIXED, out);
	rl.rlim_cur = RLIM_INFINITY;
	setrlimit(RLIMIT_AS, &rl);
	printf("moved out: %s\n", moved == out ? "yes" : "no");
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	unsigned long a = (unsigned long)p;
	printf("MAP_32BIT: %s\n", p == MAP_FAILED ? "failed" : a >= 0x10000 && a < 0x80000000UL ? "INSIDE the range" : "outside");
	return 0;
}
