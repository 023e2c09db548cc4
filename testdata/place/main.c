// main: loads placement fixtures and reports where each landed.
// libplain.so and libtls.so are DT_NEEDED (loaded by ld.so at start);
// the objects named on the command line are dlopen'ed from a second
// thread. For each it prints "NAME BASE" (dladdr's dli_fbase), and it
// checks libtls.so's TLS, constructor and libm call.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

int obj_marker(void);
int tls_value(void);
int ctor_value(void);
double libm_cos(double);

static int argc_;
static char **argv_;
static int failures;

static void report(const char *name, void *fn) {
	Dl_info info;
	if (!dladdr(fn, &info)) {
		printf("FAIL: dladdr %s\n", name);
		failures++;
		return;
	}
	printf("%s %p\n", name, info.dli_fbase);
}

static void *loader(void *arg) {
	(void)arg;
	for (int i = 1; i < argc_; i++) {
		void *h = dlopen(argv_[i], RTLD_NOW);
		if (!h) {
			printf("%s dlopen-failed %s\n", strrchr(argv_[i], '/') + 1, dlerror());
			continue;
		}
		void *fn = dlsym(h, "obj_marker");
		report(strrchr(argv_[i], '/') + 1, fn);
	}
	return NULL;
}

int main(int argc, char **argv) {
	argc_ = argc, argv_ = argv;
	report("libtls.so", (void *)tls_value);
	if (tls_value() != 15 || ctor_value() != 1) {
		printf("FAIL: tls %d ctor %d\n", tls_value(), ctor_value());
		failures++;
	}
	if (libm_cos(0.0) != 1.0) {
		printf("FAIL: libm\n");
		failures++;
	}
	pthread_t t;
	pthread_create(&t, NULL, loader, NULL);
	pthread_join(t, NULL);
	return failures ? 1 : 0;
}
