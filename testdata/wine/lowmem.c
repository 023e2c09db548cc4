// lowmem: a Windows program (built with mingw-w64, run by Wine) that
// uses the low 2 GiB as Windows programs do: VirtualAlloc at a chosen
// low address and anywhere, and its DLLs at their bases. It then reads
// its own process's layout through Wine's Z: drive and counts the Linux
// shared objects (*.so) mapped in 0x10000-0x80000000, where Wine keeps
// only Windows code and its own reservations.
#include <stdio.h>
#include <string.h>
#include <windows.h>

#include "lowso.h"

int main(void) {
	void *p = VirtualAlloc((void *)0x10000000, 0x10000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
	printf("VirtualAlloc(0x10000000): %s\n", p == (void *)0x10000000 ? "there" : "elsewhere");
	void *q = VirtualAlloc(NULL, 0x100000, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);
	printf("VirtualAlloc(NULL): %s\n", q && (ULONG_PTR)q < 0x80000000 ? "low" : "high");
	printf("kernel32: %s\n", (ULONG_PTR)GetModuleHandleA("kernel32.dll") < 0x80000000 ? "low" : "high");
	if (low_shared_objects() < 0)
		return 1;
	return 7;
}
