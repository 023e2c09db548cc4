// lowfixed: gives up root, execs itself, and then asks for memory at
// address 0 and 0x1000, below vm.mmap_min_addr, where only a task with
// CAP_SYS_RAWIO may map: natively each call fails with EPERM and the
// program goes on. Under a protected range that starts at 0, run by
// root, the guard's reservation below mmap_min_addr cannot be made in
// the new program (it lacks the capability), and a failed MAP_FIXED
// there must not be taken for a hole the guard cannot fill.
//
// Prints "fixed0 errno N", "fixed-straddle errno N" and "done".
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
	if (argc < 2) {
		// The binary may lie in a directory only root can search: it is
		// run again through a descriptor opened before giving up root.
		int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
			perror("lowfixed: giving up root");
			return 2;
		}
		char *again[] = {argv[0], "again", NULL};
		syscall(SYS_execveat, fd, "", again, environ, AT_EMPTY_PATH);
		perror("lowfixed: execveat");
		return 2;
	}
	void *p = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	printf("fixed0 %s %d\n", p == MAP_FAILED ? "errno" : "mapped", p == MAP_FAILED ? errno : 0);
	// From 0 up past mmap_min_addr (at most 64 KiB on Linux systems).
	p = mmap(0, 0x20000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	printf("fixed-straddle %s %d\n", p == MAP_FAILED ? "errno" : "mapped", p == MAP_FAILED ? errno : 0);
	printf("done\n");
	return 0;
}
