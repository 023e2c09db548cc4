// insnwrite_victim: the program escape_insnwrite.c execs and rewrites the
// entry point of (see there). Built freestanding (-static -nostdlib,
// linked at 1 TiB, out of the ranges), so that its first instruction is
// its own: _start begins with two nops, the bytes the guard's syscall
// instruction replaces at the exec, and nothing but untrapped calls
// (open, read, write, exit_group) follows.
// argv[1] and argv[2] are the protected range, in hex; it reports
// whether the range is reserved (all of it covered by ---p mappings), as
//
//	exec-entry-rewritten ok: ...
//	exec-entry-rewritten ESCAPED: ...
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
	                 : "=a"(ret)
	                 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	                 : "rcx", "r11", "memory");
	return ret;
}

static unsigned long hex(const char **p) {
	unsigned long v = 0;
	if ((*p)[0] == '0' && (*p)[1] == 'x') *p += 2;
	for (;; (*p)++) {
		char c = **p;
		if (c >= '0' && c <= '9') v = v * 16 + c - '0';
		else if (c >= 'a' && c <= 'f') v = v * 16 + c - 'a' + 10;
		else return v;
	}
}

static void put(const char *s) {
	long n = 0;
	while (s[n]) n++;
	sys6(1, 1, (long)s, n, 0, 0, 0);
}

static char buf[1 << 16];

void vmain(long *sp);
void vmain(long *sp) {
	char **argv = (char **)(sp + 1);
	if (sp[0] < 3) sys6(231, 2, 0, 0, 0, 0, 0);
	const char *a = argv[1], *b = argv[2];
	unsigned long lo = hex(&a), hi = hex(&b);
	long fd = sys6(2, (long)"/proc/self/maps", 0, 0, 0, 0, 0), len = 0, r;
	while (fd >= 0 && (r = sys6(0, fd, (long)buf + len, sizeof buf - 1 - len, 0, 0, 0)) > 0) len += r;
	buf[len] = 0;
	unsigned long pos = lo;
	for (const char *p = buf; *p && pos < hi;) {
		unsigned long s = hex(&p);
		p++;
		unsigned long e = hex(&p);
		p++;
		int res = p[0] == '-' && p[1] == '-' && p[2] == '-' && p[3] == 'p';
		if (s <= pos && pos < e) {
			if (!res) break;
			pos = e;
		}
		while (*p && *p != '\n') p++;
		if (*p) p++;
	}
	if (pos >= hi) put("exec-entry-rewritten ok: the protected range is reserved\n");
	else put("exec-entry-rewritten ESCAPED: the protected range is not reserved at the program's start\n");
	sys6(231, 0, 0, 0, 0, 0, 0);
}

__asm__(".text\n"
        ".globl _start\n"
        "_start:\n"
        "  nop\n"
        "  nop\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call vmain\n"
        "  hlt\n");
