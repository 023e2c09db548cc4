/*
 * reopen: opens a library (argv[1]), has its function make a mapping call
 * with a hint into the range, closes it, and opens another (argv[2]),
 * which the loader puts at the same place, and has its function make the
 * same call. The log must name the second library for the second call.
 * The libraries are testdata/attrib/reopen_lib.c built with -DNAME=fa
 * and -DNAME=fb.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

static void call(const char *lib, const char *fn, uintptr_t hint)
{
	void *h = dlopen(lib, RTLD_NOW);
	void *(*f)(uintptr_t) = h ? (void *(*)(uintptr_t))dlsym(h, fn) : NULL;
	if (!f) {
		fprintf(stderr, "%s: %s\n", lib, dlerror());
		return;
	}
	printf("%s at %p -> %p\n", fn, (void *)f, f(hint));
	dlclose(h);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	call(argv[1], "fa", 0x30000000);
	call(argv[2], "fb", 0x31000000);
	return 0;
}
