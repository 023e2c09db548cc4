// escape_shrinkrace: an mremap(MREMAP_FIXED) from outside the range into
// a reservation in it that changes the length, and fails after the
// kernel has unmapped the target (mremap_to unmaps it first): the tail
// it must cut off cannot be split (sealed: EPERM; the vDSO: EINVAL).
// Meanwhile another thread loops MAP_32BIT, which the kernel places
// below 2 GiB, in the range's hole if there is one, and writes to what
// it gets. Without --strict the move is the program's explicit request,
// honoured (here: failed by the kernel); the guard must hold the other
// threads until the reservation is back (twelfth session: it did not,
// MAP_32BIT landed in most rounds, and the reservation put back over it
// took its page away). With --strict the move is refused (EPERM).
//
// own-sealed, own-vdso: the same single-threaded, onto a mapping of the
// program's own at the target (MAP_FIXED, honoured without --strict):
// the kernel unmapped it, the rolled back model kept it, and MAP_32BIT
// landed in the hole every time (twelfth session's review). With
// --strict the MAP_FIXED is refused and the route is info.
//
// Usage: escape_shrinkrace [strict] sealed|vdso|own-sealed|own-vdso ROUNDS
#include "escape.h"

#include <setjmp.h>

#define TARGET 0x50004000UL

static volatile int stop;
static volatile long landed, lost;
static sigjmp_buf jb;

static void onsegv(int sig) {
	(void)sig;
	siglongjmp(jb, 1);
}

static void *mapper(void *arg) {
	(void)arg;
	struct sigaction sa = {.sa_handler = onsegv, .sa_flags = SA_NODEFER};
	sigaction(SIGSEGV, &sa, NULL);
	while (!stop) {
		void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (p == MAP_FAILED) continue;
		if (in_range((unsigned long)p, PAGE)) {
			landed++;
			if (sigsetjmp(jb, 1) == 0) {
				for (int i = 0; i < 20000; i++) ((volatile int *)p)[0] = i;
			} else {
				lost++;
			}
		}
		munmap(p, PAGE);
	}
	return NULL;
}

int main(int argc, char **argv) {
	set_mode(argc, argv);
	int a = strict_mode ? 2 : 1;
	if (argc < a + 2) {
		fprintf(stderr, "usage: escape_shrinkrace [strict] sealed|vdso ROUNDS\n");
		return 2;
	}
	int own = strncmp(argv[a], "own-", 4) == 0;
	int vdso = strcmp(argv[a] + (own ? 4 : 0), "vdso") == 0, rounds = atoi(argv[a + 1]);
	const char *route = own ? (vdso ? "mremap-shrink-own-vdso" : "mremap-shrink-own-sealed")
	                        : (vdso ? "mremap-shrink-vdso-race" : "mremap-shrink-sealed-race");
	unsigned long vd = 0;
	if (vdso) {
		struct mapping m;
		pthread_mutex_lock(&maps_lock);
		int n = read_maps();
		for (int i = 0; i < n; i++)
			if (strcmp(maps_tab[i].path, "[vdso]") == 0) vd = maps_tab[i].start;
		pthread_mutex_unlock(&maps_lock);
		if (!vd || !mapped_at(vd, &m) || m.end - m.start < 2 * PAGE) {
			say("%s info: no vDSO of two pages or more", route);
			verdict(route, 1, "nothing to move");
			return finish();
		}
	}
	if (own) {
		void *o = mmap((void *)TARGET, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (o == MAP_FAILED) {
			say("%s info: MAP_FIXED at %#lx: %s", route, TARGET, ename(errno));
			verdict(route, strict_mode && errno == EPERM, "nothing of the program's own at the target");
			return finish();
		}
		allow(TARGET, PAGE);
		rounds = 1;
	}
	pthread_t th;
	if (!own) pthread_create(&th, NULL, mapper, NULL);
	unsigned long base = 0x600000000000UL;
	int want = strict_mode ? EPERM : vdso ? EINVAL : EPERM, as_wanted = 0, last = 0;
	for (int i = 0; i < rounds; i++) {
		long r;
		if (vdso) {
			r = syscall(SYS_mremap, vd, 2 * PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, TARGET);
		} else {
			unsigned long s = base + (unsigned long)i * 4 * PAGE;
			mmap((void *)s, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			mmap((void *)(s + PAGE), PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			if (syscall(462, s + PAGE, PAGE, 0) != 0) { // mseal (Linux 6.10)
				say("%s info: mseal: %s", route, ename(errno));
				verdict(route, 1, "nothing to seal");
				stop = 1;
				if (!own) pthread_join(th, NULL);
				return finish();
			}
			r = syscall(SYS_mremap, s, 2 * PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, TARGET);
		}
		last = r == -1 ? errno : 0;
		if (r == -1 && errno == want) as_wanted++;
	}
	stop = 1;
	if (!own) pthread_join(th, NULL);
	for (int i = 0; own && i < 10; i++) {
		void *p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		if (p != MAP_FAILED && in_range((unsigned long)p, PAGE)) {
			*(volatile char *)p = 1;
			landed++;
		}
	}
	unsigned long holes = hole_bytes();
	verdict(route, landed == 0 && lost == 0 && holes == 0 && as_wanted == rounds,
	        "%d rounds, %d failed with %s (the last: %s); MAP_32BIT landed in the range %ld times, "
	        "%ld of them taken away again; holes left: %#lx",
	        rounds, as_wanted, ename(want), last ? ename(last) : "none", landed, lost, holes);
	return finish();
}
