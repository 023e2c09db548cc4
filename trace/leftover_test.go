package trace

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/seccomp"
)

// TestSignalLeftovers: a signal the launcher passes on once the first
// program has ended reaches the daemon it left in a session of its own
// (testdata/leftover.c), and Run returns with the program's status 3;
// not a SIGHUP, which natively never reaches such a daemon.
// Two ways it was lost (the review of 5b442e7): the daemon was taken
// for the guard's only where its TracerPid was mmapguard's pid, but
// TracerPid is the tracer's thread id, and Run traces from whatever
// thread its caller's goroutine is on (here a test's goroutine; in
// mmapguard run the main one, not always on the main thread: one run
// in fifty under load), so nothing was signalled; and a daemon whose
// main thread had left through pthread_exit, leaving its leader a
// zombie with a live thread, was skipped as a zombie, though kill(2)
// ends it natively.
func TestSignalLeftovers(t *testing.T) {
	bin := buildC(t, "leftover", "-pthread")
	for _, mode := range []string{"process", "thread"} {
		t.Run(mode, func(t *testing.T) {
			mark := filepath.Join(t.TempDir(), "pid")
			p := testPolicy(t)
			sigs := make(chan os.Signal, 1)
			var ended atomic.Bool
			var tracer atomic.Int64
			type result struct {
				res Result
				err error
			}
			done := make(chan result, 1)
			release := make(chan struct{})
			defer close(release)
			onOtherThread(release, func() {
				tracer.Store(int64(unix.Gettid()))
				res, err := Run(Config{
					Policy: p, Filter: seccomp.Policy{Guarded: p.Guarded(), Protected: p.Protected},
					Path: bin, Args: []string{bin, mark, mode},
					Signals: sigs,
					Ended:   func() { ended.Store(true) },
				})
				done <- result{res, err}
			})
			deadline := time.Now().Add(10 * time.Second)
			var daemon int
			for !ended.Load() || daemon == 0 {
				if b, err := os.ReadFile(mark); err == nil {
					daemon, _ = strconv.Atoi(strings.TrimSpace(string(b)))
				}
				if time.Now().After(deadline) {
					t.Fatalf("the program did not end (ended %v) or leave its daemon (%d)", ended.Load(), daemon)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if int(tracer.Load()) == os.Getpid() {
				t.Fatal("the tracer's thread is the process's main thread")
			}
			// A terminal's hang-up, passed on by a shell to its jobs,
			// natively found the command ended and never reaches a
			// daemon in a session of its own (the daemon dies of one).
			sigs <- syscall.SIGHUP
			select {
			case r := <-done:
				t.Fatalf("Run returned (%v, exit %d) after a SIGHUP once the program had ended: the daemon got it", r.err, r.res.ExitCode())
			case <-time.After(300 * time.Millisecond):
			}
			sigs <- syscall.SIGTERM
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.res.ExitCode() != 3 {
					t.Errorf("exit %d, want the program's 3", r.res.ExitCode())
				}
			case <-time.After(10 * time.Second):
				_ = unix.Kill(daemon, syscall.SIGKILL)
				<-done
				t.Fatalf("Run did not return within 10 s of a SIGTERM passed on once the program had ended: the daemon %d never got it", daemon)
			}
		})
	}
}

// onOtherThread runs f on a goroutine locked to a thread other than
// the process's main one (whose id is its pid), as the tracer's thread
// can be: the main thread, where it comes up, is kept by a goroutine
// of its own until release is closed.
func onOtherThread(release <-chan struct{}, f func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() == os.Getpid() {
			onOtherThread(release, f)
			<-release
			runtime.UnlockOSThread()
			return
		}
		f()
	}()
}
