// norawio: drops CAP_SYS_RAWIO from its bounding set (root only) and
// execs itself; the new image, which cannot map below vm.mmap_min_addr
// any more, prints the first line of its layout and whether anything
// it may use lies below 0x1000000.
//   norawio        drop the capability and exec "norawio child"
//   norawio child  report
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <linux/capability.h>

int main(int argc, char **argv) {
	if (argc > 1 && !strcmp(argv[1], "child")) {
		void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		printf("child runs; MAP_32BIT %s\n", p != MAP_FAILED && (unsigned long)p < 0x1000000 ? "inside" : "outside");
		return 0;
	}
	if (prctl(PR_CAPBSET_DROP, CAP_SYS_RAWIO, 0, 0, 0) != 0) {
		perror("PR_CAPBSET_DROP (run as root)");
		return 2;
	}
	execl("/proc/self/exe", argv[0], "child", (char *)NULL);
	perror("exec");
	return 1;
}
