package main

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// kernelSigaction is struct sigaction as the rt_sigaction system call
// takes it on x86-64 (as in dieOf).
type kernelSigaction struct {
	handler, flags, restorer, mask uint64
}

// kernelIgnored reports whether sig is ignored now, as the kernel says.
// The Go runtime installs no handler of its own for SIGTSTP, SIGTTIN and
// SIGTTOU until asked to, and does not record their disposition before,
// so os/signal.Ignored says false for them either way, and so does its
// table (see startIgnored): for those, the kernel keeps what mmapguard
// was started with.
func kernelIgnored(sig syscall.Signal) bool {
	var sa kernelSigaction
	_, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0,
		uintptr(unsafe.Pointer(&sa)), 8, 0, 0)
	return e == 0 && sa.handler == sigIgn
}

// stopAs stops mmapguard with sig, the signal that stopped the program
// for job control (trace.Config.JobStop), so that the shell sees the job
// stop as it would without the guard (bash prints "Stopped" for
// SIGTSTP, "Stopped (tty input)" for SIGTTIN), and returns once a
// SIGCONT has continued it.
//
// mmapguard catches SIGTSTP (see runRun), and the Go runtime's handler
// would take the signal and drop it, so its disposition is set to the
// default with a raw rt_sigaction, behind the runtime's back, as dieOf
// does, and put back afterwards. The signal is raised with tgkill on
// this thread (the tracer's), where it is unblocked meanwhile: the
// kernel stops the whole process before the call returns to user space,
// so the handler is only put back once the stop is over. Meanwhile a
// watcher continues mmapguard should the program, process program, be
// continued alone or end (see startContWatch).
func stopAs(sig syscall.Signal, program int) {
	w := startContWatch(program)
	defer stopContWatch(w)
	var dfl, old kernelSigaction
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(&dfl)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		return
	}
	set := uint64(1) << (uint(sig) - 1)
	var mask uint64
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK,
		uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&mask)), 8, 0, 0)
	_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0)
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
}
