// reload: loads placement fixtures in the order its arguments say and
// reports where each landed ("NAME BASE" or "NAME dlopen-failed").
//   open PATH   dlopen PATH
//   close PATH  dlclose what the last open of PATH returned
//   fork PATH   a child dlopens PATH, reports and exits; the parent waits
//   map ADDR    map one page at ADDR (MAP_FIXED_NOREPLACE)
//   hold PATH   keep PATH open on a descriptor above a free one (the
//               next open, the loader's, gets the lower number)
//   read PATH   the same, and read its first 832 bytes as ld.so does
//   rwx ADDR    map one anonymous read-write-execute page at ADDR over
//               whatever is there (MAP_FIXED)
//   share ADDR  map the first page of the last PATH opened, shared,
//               read-write-execute, at ADDR (MAP_FIXED)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static void *handles[64];
static const char *last;

static void *load(const char *path) {
	const char *name = strrchr(path, '/') + 1;
	void *h = dlopen(path, RTLD_NOW);
	if (!h) {
		printf("%s dlopen-failed %s\n", name, dlerror());
		return NULL;
	}
	Dl_info info;
	if (!dladdr(dlsym(h, "obj_marker"), &info)) {
		printf("%s dladdr-failed\n", name);
		return h;
	}
	printf("%s %p\n", name, info.dli_fbase);
	return h;
}

int main(int argc, char **argv) {
	setvbuf(stdout, NULL, _IONBF, 0);
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *op = argv[i], *arg = argv[i + 1];
		if (!strcmp(op, "open")) {
			last = arg;
			handles[i / 2] = load(arg);
		} else if (!strcmp(op, "close")) {
			for (int j = i - 2; j >= 1; j -= 2) {
				if (!strcmp(argv[j], "open") && !strcmp(argv[j + 1], arg) && handles[j / 2]) {
					dlclose(handles[j / 2]);
					handles[j / 2] = NULL;
					break;
				}
			}
		} else if (!strcmp(op, "fork")) {
			pid_t pid = fork();
			if (pid == 0) {
				load(arg);
				_exit(0);
			}
			waitpid(pid, NULL, 0);
		} else if (!strcmp(op, "hold") || !strcmp(op, "read")) {
			int gap = open("/dev/null", O_RDONLY);
			int fd = open(arg, O_RDONLY);
			char buf[832];
			if (gap < 0 || fd < 0 || !strcmp(op, "read") && read(fd, buf, sizeof buf) != sizeof buf) {
				printf("%s %s failed\n", op, arg);
			}
			close(gap);
		} else if (!strcmp(op, "map")) {
			void *want = (void *)strtoul(arg, NULL, 0);
			void *p = mmap(want, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (p != want) {
				printf("map %s failed\n", arg);
			}
		} else if (!strcmp(op, "rwx") || !strcmp(op, "share")) {
			void *want = (void *)strtoul(arg, NULL, 0);
			int fd = -1, flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
			if (!strcmp(op, "share")) {
				fd = last ? open(last, O_RDWR) : -1;
				flags = MAP_SHARED | MAP_FIXED;
			}
			void *p = mmap(want, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, flags, fd, 0);
			printf("%s %s %s\n", op, arg, p == want ? "mapped" : "failed");
			if (fd >= 0) close(fd);
		}
	}
	return 0;
}
