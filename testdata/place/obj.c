// obj: a shared object for the placement tests. Every copy reports
// where it was loaded through its own function's address. Built with
// -DWITH_TLS it also has a __thread variable set by a constructor and
// calls into libm.
#include <math.h>

int obj_marker(void) { return 7; }

#ifdef WITH_TLS
__thread int tls_counter = 5;
int ctor_ran;

__attribute__((constructor)) static void init(void) {
	ctor_ran = 1;
	tls_counter += 10;
}

int tls_value(void) { return tls_counter; }
int ctor_value(void) { return ctor_ran; }
double libm_cos(double x) { return cos(x); }
#endif
