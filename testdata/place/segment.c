// segment: loads argv[1] (a placed object), then maps the object's file
// itself with MAP_FIXED far from where it was loaded, outside every
// range: the program's own call, not ld.so's, which the guard lets be.
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
