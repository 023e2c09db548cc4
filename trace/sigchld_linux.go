package trace

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// saNoCldStop is SA_NOCLDSTOP (asm-generic/signal-defs.h).
const saNoCldStop = 1

// kernelSigaction is struct sigaction as the rt_sigaction system call
// takes it on x86-64.
type kernelSigaction struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

// quietSIGCHLD sets SA_NOCLDSTOP on the Go runtime's own SIGCHLD handler.
// Every ptrace stop of a tracee otherwise sends the tracer a SIGCHLD, and
// the runtime's handler costs about a microsecond each time; wait4 does
// not need the signal. Exits still raise SIGCHLD, so os/exec and
// os/signal users see them as before.
func quietSIGCHLD() error {
	var sa kernelSigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD), 0,
		uintptr(unsafe.Pointer(&sa)), 8, 0, 0); e != 0 {
		return e
	}
	if sa.handler == 0 || sa.flags&saNoCldStop != 0 {
		return nil // default disposition, or already quiet
	}
	sa.flags |= saNoCldStop
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGCHLD),
		uintptr(unsafe.Pointer(&sa)), 0, 8, 0, 0); e != 0 {
		return e
	}
	return nil
}
