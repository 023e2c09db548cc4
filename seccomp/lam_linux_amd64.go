package seccomp

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

const archGetUntagMask = 0x4001 // ARCH_GET_UNTAG_MASK (asm/prctl.h)

// taggedAddrErrno is the errno the filter refuses ARCH_ENABLE_TAGGED_ADDR
// with: the kernel's own answer on a CPU without Linear Address Masking.
// A kernel built without LAM support knows none of the tagged-address
// options (EINVAL, which ARCH_GET_UNTAG_MASK tells at no cost); one built
// with it refuses such a CPU with ENODEV.
var taggedAddrErrno = sync.OnceValue(func() uint16 {
	var mask uint64
	_, _, e := unix.RawSyscall(unix.SYS_ARCH_PRCTL, archGetUntagMask, uintptr(unsafe.Pointer(&mask)), 0)
	if e == unix.EINVAL {
		return EINVAL
	}
	return ENODEV
})
