// escape_brk: the heap of a non-PIE program (built with -no-pie) starts
// just above its image, inside the range. Growing it with sbrk and brk,
// by a little, a lot, and to beyond the range's end, must never extend
// it into the range past where it was at start; malloc must still work
// (glibc falls back to mmap). With argv[1] "prctl", also move the break
// with prctl(PR_SET_MM, PR_SET_MM_MAP) (no capability needed) and shrink
// it: the kernel unmaps whatever lies between the new and the old break.
#include "escape.h"

#include <linux/prctl.h>
#include <sys/prctl.h>

// read_mm_map fills m with the process's current layout from
// /proc/self/stat, as PR_SET_MM_MAP wants it.
static int read_mm_map(struct prctl_mm_map *m) {
	char buf[4096];
	int fd = open("/proc/self/stat", O_RDONLY);
	if (fd < 0) return 0;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) return 0;
	buf[n] = 0;
	char *s = strrchr(buf, ')');
	if (!s) return 0;
	unsigned long f[64] = {0};
	int i = 3; // field 3 (state) follows the ')'
	for (char *t = strtok(s + 2, " "); t && i < 64; t = strtok(NULL, " "), i++) f[i] = strtoul(t, NULL, 10);
	memset(m, 0, sizeof *m);
	m->start_code = f[26];
	m->end_code = f[27];
	m->start_stack = f[28];
	m->start_data = f[45];
	m->end_data = f[46];
	m->start_brk = f[47];
	m->arg_start = f[48];
	m->arg_end = f[49];
	m->env_start = f[50];
	m->env_end = f[51];
	m->brk = syscall(SYS_brk, 0);
	m->exe_fd = (uint32_t)-1;
	return 1;
}

int main(int argc, char **argv) {
	unsigned long start = syscall(SYS_brk, 0);
	say("brk-start info: break at %#lx", start);
	verdict("brk-start-inside", in_range(start, 1), "the break starts at %#lx (non-PIE: inside the range)", start);

	void *p = sbrk(PAGE);
	int e = errno;
	unsigned long now = syscall(SYS_brk, 0);
	verdict("sbrk-page", now <= ((start + PAGE - 1) & ~(PAGE - 1)), "sbrk(4 KiB) = %p%s%s, break now %#lx", p,
	        p == (void *)-1 ? " " : "", p == (void *)-1 ? ename(e) : "", now);

	p = sbrk(256UL << 20);
	e = errno;
	now = syscall(SYS_brk, 0);
	verdict("sbrk-256m", now <= ((start + PAGE - 1) & ~(PAGE - 1)), "sbrk(256 MiB) = %p%s%s, break now %#lx", p,
	        p == (void *)-1 ? " " : "", p == (void *)-1 ? ename(e) : "", now);

	unsigned long r = syscall(SYS_brk, HI - PAGE);
	verdict("brk-to-range-end", r <= ((start + PAGE - 1) & ~(PAGE - 1)), "brk(0x7ffff000) = %#lx", r);
	r = syscall(SYS_brk, HI + (16UL << 20));
	verdict("brk-beyond-range", r <= ((start + PAGE - 1) & ~(PAGE - 1)), "brk(0x81000000) = %#lx", r);
	r = int80(NR32_brk, start + (64UL << 20), 0, 0, 0, 0, 0);
	verdict("i386-brk-grow", (r & 0xffffffff) <= ((start + PAGE - 1) & ~(PAGE - 1)), "i386 brk(start + 64 MiB) = %#lx", r);

	// malloc still works, and gives memory outside the range.
	{
		int bad = 0, n = 0;
		void *ptrs[256];
		for (int i = 0; i < 256; i++) {
			ptrs[i] = malloc(1000 + 61 * i);
			if (!ptrs[i]) bad++;
			else {
				memset(ptrs[i], i, 1000);
				n++;
				if (in_range((unsigned long)ptrs[i], 1000)) bad++;
			}
		}
		verdict("malloc-after-brk", bad == 0, "%d small mallocs, %d failed or inside the range (first %p)", n, bad, ptrs[0]);
		for (int i = 0; i < 256; i++) free(ptrs[i]);
	}

	if (argc > 1 && strcmp(argv[1], "prctl") == 0) {
		// Point the kernel's idea of the break at 0x70000000, then ask
		// for the break where it really is: a shrink, which unmaps
		// everything between. PR_SET_MM_MAP needs no capability.
		unsigned long cur = syscall(SYS_brk, 0);
		struct prctl_mm_map mm;
		int pr = -1, pe = EINVAL;
		if (read_mm_map(&mm)) {
			mm.brk = 0x70000000UL;
			pr = prctl(PR_SET_MM, PR_SET_MM_MAP, (unsigned long)&mm, sizeof mm, 0);
			pe = errno;
		}
		unsigned long back = syscall(SYS_brk, cur);
		int hole = !nohole(0x60000000, PAGE);
		void *q = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
		e = errno;
		// The guard refuses PR_SET_MM (EPERM): a fine answer too.
		verdict("brk-prctl-shrink", (pr == 0 || pe == EPERM) && !hole && (q == MAP_FAILED ? e == ENOMEM : !in_range((unsigned long)q, PAGE)),
		        "prctl(PR_SET_MM_MAP, brk 0x70000000) = %d %s, brk(%#lx) = %#lx, hole at 0x60000000: %s; then MAP_32BIT = %p %s",
		        pr, pr ? ename(pe) : "", cur, back, hole ? "yes" : "no", q, q == MAP_FAILED ? ename(e) : "");
	}
	return finish();
}
