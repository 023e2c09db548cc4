package trace

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/seccomp"
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

// collectOften makes collections come back to back until the test
// ends: GOGC=1, and a goroutine that allocates size bytes every pause
// (0: all along).
func collectOften(t *testing.T, size int, pause time.Duration) {
	old := debug.SetGCPercent(1)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		var keep [][]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			keep = append(keep, make([]byte, size))
			if len(keep) > 64 {
				keep = keep[:0]
			}
			if pause > 0 {
				time.Sleep(pause)
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		debug.SetGCPercent(old)
	})
}

// TestNoCollection: once noCollection has returned, no collection runs
// until its restore, not even one that was about to begin: under GOGC=1,
// with something allocating all along, the next collection waits for
// the last one's end, its trigger already met, and began after
// SetGCPercent(-1) had returned (12 of 200 tries, of which a launch
// would have had its marking and its stops of the world wait for the
// launching thread's processor: see noCollection).
func TestNoCollection(t *testing.T) {
	collectOften(t, 4<<10, 0)
	cycles := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	runtime.GC() // (noCollection waits only where one has run)
	for i := range 200 {
		restore := noCollection()
		before := cycles()
		time.Sleep(2 * time.Millisecond)
		after := cycles()
		restore()
		if after != before {
			t.Fatalf("try %d: %d collections ended after noCollection returned", i, after-before)
		}
		time.Sleep(time.Millisecond) // collections again, back to back
	}
}

// TestLaunchStopBeforeExec: a SIGSTOP or a SIGTRAP (the one signal Go's
// child has unblocked there) that stops Go's child between its
// PTRACE_TRACEME and its execve, when its tracer, the launching thread,
// waits in vfork and cannot answer, is found by the launch watch: the
// child is killed and the program started again. The window, a few
// microseconds as a rule, is held open here by a write lease on the
// program's file, whose break the exec's open waits for
// (interruptibly). The run ends as without the guard: started again,
// the program runs to its end after a SIGSTOP (whose stop is lost with
// the first process), and dies of a SIGTRAP. Until the eighteenth
// session's review the watch looked for SIGSTOP only, and a SIGTRAP
// there left the run stopped for good.
func TestLaunchStopBeforeExec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: /proc/PID/syscall of the child, which shares the non-dumpable tracer's memory")
	}
	if pre, ok := forkedNoExec(os.Getpid()); pre || !ok {
		t.Fatalf("forkedNoExec of the test, which was exec'd: %v, %v; want false, true", pre, ok)
	}
	// A collection as soon as anything allocates (as under GOGC=1): one
	// that began while the child stood stopped would wait for good for
	// the launching thread's processor, kept in vfork, and the watch's
	// goroutine with it (see noCollection). Something allocates
	// meanwhile, as the filter's build would.
	collectOften(t, 64<<10, 100*time.Microsecond)
	for _, c := range []struct {
		sig    syscall.Signal
		noKcmp bool // as for a user without CAP_SYS_PTRACE (see preExecStop)
		noProc bool // kcmp alone
	}{{syscall.SIGSTOP, false, false}, {syscall.SIGTRAP, false, false}, {syscall.SIGTRAP, true, false}, {syscall.SIGTRAP, false, true}} {
		sig := c.sig
		name := unix.SignalName(sig)
		if c.noKcmp {
			name += "-no-kcmp"
		}
		if c.noProc {
			name += "-kcmp-only"
		}
		t.Run(name, func(t *testing.T) {
			noKcmp, noProcFlags = c.noKcmp, c.noProc
			defer func() { noKcmp, noProcFlags = false, false }()
			prog := filepath.Join(t.TempDir(), "prog")
			b, err := os.ReadFile("/bin/true")
			if err != nil {
				t.Skip(err)
			}
			if err := os.WriteFile(prog, b, 0o755); err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Open(prog, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_WRLCK); err != nil {
				t.Skipf("no write lease on %s: %v", prog, err)
			}
			leased := true
			unlease := func() {
				if leased {
					_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETLEASE, unix.F_UNLCK)
					leased = false
				}
			}
			defer unlease()
			p := testPolicy(t)
			type done struct {
				res Result
				err error
			}
			ch := make(chan done, 1)
			go func() {
				res, err := Run(Config{
					Policy: p,
					Filter: seccomp.Policy{Guarded: p.Guarded(), Protected: p.Protected},
					Path:   prog,
					Args:   []string{prog},
				})
				ch <- done{res, err}
			}()
			first := execWaiter(t, 0)
			if first == 0 {
				t.Fatal("no child waiting in its exec")
			}
			if err := unix.Kill(first, sig); err != nil {
				t.Fatal(err)
			}
			again := execWaiter(t, first)
			if again == 0 {
				// Stopped for good: ended here.
				_ = unix.Kill(first, unix.SIGKILL)
				unlease()
				<-ch
				t.Fatalf("child %d stopped by %v before its exec: not started again", first, sig)
			}
			unlease()
			var d done
			select {
			case d = <-ch:
			case <-time.After(10 * time.Second):
				_ = unix.Kill(again, unix.SIGKILL)
				t.Fatal("the run did not end")
			}
			if d.err != nil {
				t.Fatal(d.err)
			}
			switch sig {
			case syscall.SIGSTOP:
				if d.res.Status.ExitStatus() != 0 {
					t.Errorf("status %v, want exit 0", d.res.Status)
				}
			case syscall.SIGTRAP:
				if !d.res.Status.Signaled() || d.res.Status.Signal() != syscall.SIGTRAP {
					t.Errorf("status %v, want killed by SIGTRAP, as without the guard", d.res.Status)
				}
			}
		})
	}
}

// execWaiter returns a child of this process other than not that waits
// in execve, 0 if none does within 5 s.
func execWaiter(t *testing.T, not int) int {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, task := range tasks {
			b, _ := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
			for _, f := range strings.Fields(string(b)) {
				pid, _ := strconv.Atoi(f)
				if pid == 0 || pid == not {
					continue
				}
				sc, _ := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
				if strings.HasPrefix(string(sc), fmt.Sprint(unix.SYS_EXECVE)+" ") {
					return pid
				}
			}
		}
	}
	return 0
}
