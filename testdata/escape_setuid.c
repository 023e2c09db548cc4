// escape_setuid: exec of a set-user-ID program. Under the guard
// no_new_privs is set, so the kernel ignores the set-user-ID bit; the
// program must still run, still be traced and still be guarded.
//   escape_setuid exec PATH  execs PATH (a set-user-ID copy of this
//                            program, owned by another user) with "child"
//   escape_setuid child      reports its ids, no_new_privs, tracer and
//                            whether it is guarded
#include "escape.h"

static long status_field(const char *name) {
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	if (fd < 0) return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return -1;
	buf[n] = 0;
	char *p = strstr(buf, name);
	return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

int main(int argc, char **argv) {
	if (argc >= 3 && strcmp(argv[1], "exec") == 0) {
		say("setuid-parent info: uid %d euid %d", getuid(), geteuid());
		char *args[] = {argv[2], "child", NULL};
		execv(argv[2], args);
		verdict("setuid-exec", 0, "execv(%s): %s", argv[2], ename(errno));
		return finish();
	}
	if (argc >= 2 && strcmp(argv[1], "child") == 0) {
		long nnp = status_field("NoNewPrivs:"), tracer = status_field("TracerPid:");
		say("setuid-child info: uid %d euid %d NoNewPrivs %ld TracerPid %ld", getuid(), geteuid(), nnp, tracer);
		int res = reserved(0x30000000, PAGE);
		verdict("setuid-exec", geteuid() == getuid() && tracer > 0 && res,
		        "set-user-ID program ran with euid %d (uid %d): set-user-ID %s; TracerPid %ld; range reserved: %s", geteuid(),
		        getuid(), geteuid() == getuid() ? "ignored" : "TOOK EFFECT", tracer, res ? "yes" : "no");
		void *p = mmap((void *)0x30000000, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		expect_outside("setuid-mmap-hint", p, errno, PAGE, "mmap(hint 0x30000000) in the set-user-ID program");
		p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		expect_outside("setuid-map32bit", p, errno, PAGE, "mmap(NULL, MAP_32BIT) in the set-user-ID program");
		return finish();
	}
	return 2;
}
