// escape_fixedfail_race: escape_fixedfail's failed MAP_FIXED file
// mappings, raced by another thread's MAP_32BIT. A file's mmap method that
// fails after the kernel has unmapped the target leaves a gap there
// (Linux 6.12 and later) until the guard has covered it again; a MAP_32BIT
// of another thread in that moment lands in the range. MAP_SYNC on a file
// without DAX fails so every time (EOPNOTSUPP), and so does a perf event
// mapped private (EINVAL). So does a regular file of an overlay file
// system whose lower layer is sysfs (ENODEV from kernfs): overlayfs is on
// the guard's list of file systems whose files' mmap does not fail so, but
// it hands the mapping to the lower layer's file.
//
//	escape_fixedfail_race sync|perf|overlay own|reserved|noreplace [ROUNDS]
//
// own: MAP_FIXED over the program's own mapping in the range;
// reserved: MAP_FIXED over the guard's reservation; noreplace:
// MAP_FIXED_NOREPLACE there (which the guard maps over its reservation).
// Route names: fixedfail-race-MODE-TARGET.
#include "escape.h"
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif

#define AT 0x50000000UL
#define N (2 * PAGE)
#define SCRATCH 0x98000000UL // outside the range: the native behaviour


// failing_file returns a descriptor and flags whose MAP_FIXED mapping
// fails after the kernel unmapped the target, as checked at SCRATCH,
// outside the guarded ranges; -1 if this machine has none.
static int gap_at_scratch(int fd, int flags, int prot) {
	void *s = mmap((void *)SCRATCH, N, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	void *q = mmap((void *)SCRATCH, N, prot, flags | MAP_FIXED, fd, 0);
	unsigned char v;
	int gap = s == (void *)SCRATCH && q == MAP_FAILED && mincore((void *)SCRATCH, PAGE, &v) != 0;
	munmap((void *)SCRATCH, N);
	if (q != MAP_FAILED) munmap(q, N);
	return gap;
}

// overlay_file opens a regular file of sysfs through an overlay mounted
// in a mount namespace of the program's own (a user namespace too where
// it is not privileged): -1 where it cannot.
static int overlay_file(void) {
	char dir[] = "/tmp/fixedfail-ovl-XXXXXX";
	if (!mkdtemp(dir)) return -1;
	char empty[64], mnt[64], opts[256], file[96];
	snprintf(empty, sizeof empty, "%s/e", dir);
	snprintf(mnt, sizeof mnt, "%s/m", dir);
	mkdir(empty, 0700);
	mkdir(mnt, 0700);
	int fd = -1;
	if (unshare(CLONE_NEWNS) == 0 || unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0) {
		mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
		// two lower layers and no upper one: a read-only overlay
		snprintf(opts, sizeof opts, "lowerdir=/sys/kernel/mm/transparent_hugepage:%s", empty);
		if (mount("overlay", mnt, "overlay", 0, opts) == 0) {
			snprintf(file, sizeof file, "%s/enabled", mnt);
			fd = open(file, O_RDONLY);
			umount2(mnt, MNT_DETACH); // the open file keeps it
		}
	}
	rmdir(mnt);
	rmdir(empty);
	rmdir(dir);
	return fd;
}

static int failing_file(const char *mode, int *flags, int *prot) {
	int fd = -1;
	int sync = !strcmp(mode, "sync");
	if (!strcmp(mode, "overlay")) {
		*flags = MAP_PRIVATE;
		*prot = PROT_READ;
		fd = overlay_file();
		if (fd >= 0 && !gap_at_scratch(fd, *flags, *prot)) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
	if (sync) {
		const char *dirs[] = {".", "/var/tmp", "/tmp"};
		for (unsigned i = 0; i < sizeof dirs / sizeof dirs[0] && fd < 0; i++) {
			char path[256];
			snprintf(path, sizeof path, "%s/fixedfail-XXXXXX", dirs[i]);
			int f = mkstemp(path);
			if (f < 0) continue;
			unlink(path);
			if (ftruncate(f, N)) { close(f); continue; }
			void *s = mmap((void *)SCRATCH, N, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			void *q = mmap((void *)SCRATCH, N, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC | MAP_FIXED, f, 0);
			unsigned char v;
			int gap = s == (void *)SCRATCH && q == MAP_FAILED && mincore((void *)SCRATCH, PAGE, &v) != 0;
			munmap((void *)SCRATCH, N);
			if (q != MAP_FAILED) munmap(q, N);
			if (gap) fd = f; else close(f);
		}
		*flags = MAP_SHARED_VALIDATE | MAP_SYNC;
		*prot = PROT_READ | PROT_WRITE;
		return fd;
	}
	fd = perf_dummy_fd();
	*flags = MAP_PRIVATE;
	*prot = PROT_READ;
	return fd;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		say("usage: escape_fixedfail_race sync|perf|overlay own|reserved|noreplace [ROUNDS]");
		return 2;
	}
	const char *target = argv[2];
	int own = !strcmp(target, "own"), noreplace = !strcmp(target, "noreplace");
	int rounds = argc > 3 ? atoi(argv[3]) : 2000;
	char route[64];
	snprintf(route, sizeof route, "fixedfail-race-%s-%s", argv[1], target);
	int flags, prot;
	int fd = failing_file(argv[1], &flags, &prot);
	if (fd < 0) {
		say("%s FAIL: no file whose MAP_FIXED fails after unmapping here (%s)", route,
		    !strcmp(argv[1], "sync")      ? "MAP_SYNC is refused before it, or succeeds, in ., /var/tmp and /tmp"
		    : !strcmp(argv[1], "overlay") ? "no overlay over sysfs can be mounted"
		                                  : "perf_event_open refused");
		return finish();
	}
	pthread_t t;
	pthread_create(&t, 0, map32_spam, 0);
	int failed = 0;
	for (int i = 0; i < rounds && !map32_stop; i++) {
		if (own) {
			void *p = mmap((void *)AT, N, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			if (p != (void *)AT) {
				say("%s FAIL: MAP_FIXED of the program's own mapping: %s", route, ename(errno));
				break;
			}
		}
		void *q = mmap((void *)AT, N, prot, flags | (noreplace ? MAP_FIXED_NOREPLACE : MAP_FIXED), fd, 0);
		if (q == MAP_FAILED)
			failed++;
		else
			munmap(q, N);
	}
	map32_stop = 1;
	pthread_join(t, 0);
	if (map32_landed) {
		failures++;
		say("%s ESCAPED: MAP_32BIT got %#lx, in the range, while a failed MAP_FIXED left a gap (%d failed)", route, map32_landed, failed);
	} else {
		allow(AT, N);
		verdict(route, failed > 0 && nohole(LO, HI - LO), "%d failed MAP_FIXED mappings raced by MAP_32BIT, no hole left", failed);
	}
	return finish();
}
