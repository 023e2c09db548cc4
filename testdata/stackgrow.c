/*
 * stackgrow: grows its stack to about 6 MiB (within the usual 8 MiB
 * limit) by recursion, then prints "stack ok". Under a guarded range over
 * the top of the address space, where the kernel puts the stack, the
 * guard must leave the stack room to grow.
 */
#include <stdio.h>
#include <string.h>

static int deep(int n)
{
	volatile char buf[1024];
	memset((char *)buf, n, sizeof buf);
	return n ? deep(n - 1) + buf[0] : 0;
}

int main(void)
{
	printf("stack ok %d\n", deep(6000) & 1);
	return 0;
}
