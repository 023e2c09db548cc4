package main

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// dieOf ends mmapguard with signal sig, as the program ended, so that
// its parent sees the same death (strace does the same). It returns
// only if sig does not kill (its default action is to ignore it, or it
// stops), and the caller then exits with 128+N as strace does.
//
// The Go runtime handles every signal itself: SIGQUIT would print a
// goroutine dump, and a SIGSEGV, SIGBUS or SIGFPE sent by kill is
// reported as a crash of Go code. So the signal's disposition is set to
// the default with a raw rt_sigaction, behind the runtime's back, and
// the signal is raised with tgkill on this thread, where it is not
// blocked: the kernel acts on it before the call returns to user space.
func dieOf(sig unix.Signal) {
	runtime.LockOSThread() // for good: the thread dies or the process exits
	// No core file of mmapguard's own: the program's, if it dumped one,
	// is where its core_pattern says, and mmapguard's would clobber a
	// plain "core" in the same directory. RLIMIT_CORE 0 is what strace
	// does; a core_pattern that pipes to a helper (systemd-coredump,
	// apport) ignores the limit, so mmapguard also makes itself not
	// dumpable, which the kernel checks before any dump.
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_CORE, &lim) == nil && lim.Cur != 0 {
		lim.Cur = 0
		_ = unix.Setrlimit(unix.RLIMIT_CORE, &lim)
	}
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// struct sigaction of the kernel, all zero: SIG_DFL, no flags, an
	// empty mask (the same layout as trace's kernelSigaction).
	var dfl struct {
		handler, flags, restorer, mask uint64
	}
	// EINVAL for SIGKILL and SIGSTOP, whose action is always the default.
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig),
		uintptr(unsafe.Pointer(&dfl)), 0, 8, 0, 0)
	set := uint64(1) << (uint(sig) - 1)
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_UNBLOCK,
		uintptr(unsafe.Pointer(&set)), 0, 8, 0, 0)
	_ = unix.Tgkill(unix.Getpid(), unix.Gettid(), sig)
}
