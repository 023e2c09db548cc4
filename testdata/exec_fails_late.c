// exec_fails_late: a program whose bss cannot be committed (32 TiB). The
// kernel finds out after execve's point of no return and kills the
// process with SIGSEGV before its first instruction: natively status
// 139, under the guard the same (not a hang, not an error of its own).
static char big[1UL << 45];

int main(void) { return big[12345]; }
