package seccomp

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Install sets no_new_privs and installs p as a seccomp filter on the
// calling thread (prctl(PR_SET_NO_NEW_PRIVS) then
// seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)). This is the only
// function of the package that makes system calls.
//
// A seccomp filter belongs to a thread, and Go moves goroutines between
// threads: the caller must have called runtime.LockOSThread and must
// stay locked until it is done with the thread. Then either
//
//   - install without FlagTSync from the locked thread that will execve
//     the target: execve kills the other threads of the process and the
//     new program starts with this thread's filter; other threads of the
//     Go runtime meanwhile run unfiltered, which the tracer never sees;
//   - or install with FlagTSync, which puts the filter on every thread of
//     the process. Threads that exist but are not yet seized by the
//     tracer then get ENOSYS from every trapped call (SECCOMP_RET_TRACE
//     without a tracer), the Go runtime's own mmaps among them.
//
// flags are SECCOMP_FILTER_FLAG_* bits (FlagTSync, FlagTSyncESRCH,
// FlagLog, FlagSpecAllow). SECCOMP_FILTER_FLAG_NEW_LISTENER is refused:
// Install has no way to return the listener. If TSYNC cannot
// synchronise a thread, the error names the thread.
//
// The filter cannot be removed; it is inherited by children and kept
// across execve.
func Install(p *Program, flags uint) error {
	if p == nil || len(p.raw) == 0 {
		return errors.New("seccomp: install: empty program")
	}
	if len(p.raw) > MaxInstructions {
		return fmt.Errorf("seccomp: install: %d instructions: %w", len(p.raw), ErrTooLarge)
	}
	if flags&flagNewListener != 0 {
		return errors.New("seccomp: install: SECCOMP_FILTER_FLAG_NEW_LISTENER is not supported")
	}
	filter := make([]unix.SockFilter, len(p.raw))
	for i, r := range p.raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}

	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("seccomp: install: %w", os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err))
	}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		return fmt.Errorf("seccomp: install: %w", os.NewSyscallError("seccomp(SECCOMP_SET_MODE_FILTER)", errno))
	}
	if r != 0 {
		// With TSYNC (and without TSYNC_ESRCH) the kernel returns the id
		// of a thread it could not synchronise, and installs nothing.
		return fmt.Errorf("seccomp: install: TSYNC could not synchronise thread %d", r)
	}
	return nil
}
