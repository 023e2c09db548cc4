// segment: loads argv[1] (a placed object), then maps the object's file
// itself with MAP_FIXED far from where it was loaded, as a misbehaving
// loader would map a segment: the guard must notice.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
	if (argc < 2 || !dlopen(argv[1], RTLD_NOW)) return 2;
	int fd = open(argv[1], O_RDONLY);
	void *p = mmap((void *)0x7e1000000000, 4096, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	printf("stray %s\n", p == MAP_FAILED ? "refused" : "mapped");
	return 0;
}
