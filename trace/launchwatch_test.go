package trace

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestLaunchWatchOneProcessor: the launch watch looks while the launching
// thread keeps its processor of the Go runtime's in a raw system call
// (vfork in startTraced), signals blocked, even where GOMAXPROCS is 1
// (taskset -c 0, a cgroup's CPU limit of one): until the eighteenth
// session's review it looked only after the launch, and a SIGSTOP
// between the child's PTRACE_TRACEME and its execve left the run stopped
// for good (5 of 300 runs under taskset -c 0 with the stop in their first
// 150 µs). GOMAXPROCS is as it was after the launch.
func TestLaunchWatchOneProcessor(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < launchWatchFiles {
		t.Skip("descriptor limit below launchWatchFiles: no watch")
	}
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	type got struct {
		looks int32
		procs int
	}
	c := make(chan got)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var all, own unix.Sigset_t
		for i := range all.Val {
			all.Val[i] = ^uint64(0)
		}
		_ = unix.PthreadSigmask(unix.SIG_SETMASK, &all, &own)
		w := watchLaunch()
		// As startTraced's vfork: the processor is kept, with no
		// scheduling point, for 20 looks' time.
		ts := unix.NsecToTimespec(int64(20 * launchLook))
		_, _, _ = unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
		n := w.looks.Load()
		w.end()
		_ = unix.PthreadSigmask(unix.SIG_SETMASK, &own, nil)
		c <- got{n, runtime.GOMAXPROCS(0)}
	}()
	var g got
	select {
	case g = <-c:
	case <-time.After(10 * time.Second):
		t.Fatal("no end")
	}
	if g.looks == 0 {
		t.Errorf("with GOMAXPROCS 1, no look during a launch of %v", 20*launchLook)
	}
	if g.procs != 1 {
		t.Errorf("GOMAXPROCS %d after the launch, want 1 as before it", g.procs)
	}
}
