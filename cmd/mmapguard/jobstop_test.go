package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestRunJobStop: a program that stops itself for job control from a
// SIGTSTP handler (testdata/jobstop.c: Python's way, cleaning up and
// re-raising with kill(getpid()); vim's way, kill(0, SIGTSTP) on a ^Z
// it reads in raw mode, then a re-raise from its handler) stops the job
// once, after its handler's clean-up, and goes on after one SIGCONT to
// the process group. The test is the shell: it starts the job in a
// process group of its own, sends the ^Z as a terminal does (SIGTSTP to
// the group) or the key to the program, waits for the process it
// started to stop (WSTOPPED, as a shell's waitpid(WUNTRACED)), and
// continues the job as fg does (killpg SIGCONT). The same run without
// the guard checks the fixture.
//
// Were mmapguard stopped by the ^Z itself, the tracer would hold the
// program's SIGTSTP until fg: its handler would run only then and stop
// the program for good, with mmapguard running and the shell waiting
// for it (the terminal hung; a second ^Z and fg got it going).
func TestRunJobStop(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "jobstop")
	if out, err := exec.Command("cc", "-Wall", "-o", bin, "../../testdata/jobstop.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	for _, mode := range []string{"handler", "group"} {
		for _, guard := range []bool{false, true} {
			name := mode + "/native"
			if guard {
				name = mode + "/guarded"
			}
			t.Run(name, func(t *testing.T) {
				cmd := exec.Command(bin, mode)
				if guard {
					cmd = exec.Command(mmapguardBin(t), guardArgs(bin, mode)...)
				}
				cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
				key, err := cmd.StdinPipe()
				if err != nil {
					t.Fatal(err)
				}
				l := startCmd(t, cmd)
				pid := l.cmd.Process.Pid // and the job's process group
				l.waitLine(t, "ready")
				if mode == "group" {
					_, err = key.Write([]byte("^Z\n"))
				} else {
					err = syscall.Kill(-pid, syscall.SIGTSTP)
				}
				if err != nil {
					t.Fatal(err)
				}
				// Natively the stop comes within milliseconds.
				sig, ok := waitStopped(pid, 10*time.Second)
				if !ok {
					t.Fatalf("the job did not stop on ^Z (state %c; program's %c)", state(pid), programState(pid))
				}
				if sig != syscall.SIGTSTP {
					t.Errorf("the job stopped with %v, want SIGTSTP", sig)
				}
				// The handler's clean-up is done before the job
				// stops; the line is in the pipe already.
				if !lineWithin(l, "cleanup", 5*time.Second) {
					t.Errorf("the job stopped before the program's SIGTSTP handler ran")
				}
				if guard {
					if st := programState(pid); st != 't' && st != 'T' {
						t.Errorf("mmapguard stopped, its program not (state %c)", st)
					}
				}
				if err := syscall.Kill(-pid, syscall.SIGCONT); err != nil {
					t.Fatal(err)
				}
				want := []string{"resumed", "done"}
				if mode == "group" {
					want = []string{"resumed", "continued", "done"}
				}
				for _, w := range want {
					if !lineWithin(l, w, 10*time.Second) {
						t.Fatalf("no %q within 10s of the SIGCONT: the program is in state %c, the job %c; stderr:\n%s",
							w, programState(pid), state(pid), l.stderr.String())
					}
				}
				if code := l.exitCode(t, name); code != 0 {
					t.Errorf("exit %d, want 0", code)
				}
			})
		}
	}
}

// lineWithin reads l's lines until one is want, for up to d.
func lineWithin(l *live, want string, d time.Duration) bool {
	_, ok := l.readUntil(func(line string) bool { return line == want }, d)
	return ok
}

// waitStopped waits up to d for pid, a child of the test, to stop, as a
// shell's waitpid(WUNTRACED) sees it, and returns the stop signal. Only
// stops are asked for (waitid WSTOPPED without WEXITED): the exit is
// left to exec.Cmd's Wait.
func waitStopped(pid int, d time.Duration) (syscall.Signal, bool) {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WSTOPPED|unix.WNOHANG, nil)
		// siginfo_t for SIGCHLD: si_pid at 16, si_status at 24.
		b := (*[unsafe.Sizeof(info)]byte)(unsafe.Pointer(&info))
		if err == nil && binary.LittleEndian.Uint32(b[16:]) == uint32(pid) {
			return syscall.Signal(binary.LittleEndian.Uint32(b[24:])), true
		}
		if err != nil && err != unix.EINTR {
			return 0, false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, false
}

// programState is the state of mmapguard's program (its only child),
// or of pid itself when it has none (run natively).
func programState(pid int) byte {
	if kids := childrenOf(pid); len(kids) > 0 {
		slices.Sort(kids)
		return state(kids[0])
	}
	return state(pid)
}

// TestRunStopAtStart: a stop in the program's first milliseconds under
// the guard (testdata/startstop.c: the signal at a random moment of the
// first 2.5 ms, or of the first 150 µs).
//
// pid: a SIGSTOP sent to the program must stop it, as it always does
// natively, and the run must end once it is continued. The guard hands
// the program over from PTRACE_TRACEME to PTRACE_SEIZE; until the
// eighteenth session it did so with a stop of its own, which it ended
// with a SIGCONT: a SIGSTOP that came meanwhile was flushed by that
// SIGCONT (about one start in four lost its stop), and one that came
// during the guard's first calls was passed on as the TRACEME tracee's
// (the fifteenth session's hunt); a window of a few microseconds
// remained, between the look at the pending signals and the SIGCONT
// (about one start in fifty then, none in 1,200 starts on the
// eighteenth session's machine). Now no stop or SIGCONT of the guard's
// is involved (see handOver in package trace). A SIGSTOP that stops Go's
// child between its PTRACE_TRACEME and its execve costs the stop: the
// child is killed and the program started again (see launchWatch), so
// one lost stop is allowed; until the eighteenth session that left the
// run stopped for good, and this test waiting for it (3 starts of 600
// with the stop in the first 150 µs; now 5 of 1,200 lose their stop).
//
// group: a SIGSTOP to the process group, mmapguard's and the program's,
// then a SIGCONT, as kill -STOP and fg: the run must end, with its
// status. The program held both during the guard's first calls; sent
// again, the stop first, the SIGCONT was dropped for the stop it saw
// pending, its own, and the program stayed stopped, mmapguard waiting
// for good (about one start in thirty: the review of that fix). Then a
// stop in the first tens of microseconds still left the run stopped for
// good about one start in 250 (the sixteenth session: 1 of 400 with its
// first build, 2 of 520 with its last; 7 of 600 with the stop in the
// first 150 µs in the eighteenth session, which found it: the SIGSTOP
// between the child's PTRACE_TRACEME and its execve, above). None is
// allowed now, in 120 starts over 2.5 ms and 120 in the first 150 µs
// (with the fix 0 of 800 and 0 of 1,200; the build before it hung 1 of
// 120 in the first 150 µs when this test was tried on it).
//
// pair: a SIGSTOP to the program and a SIGCONT to it 0-300 µs later,
// kill -STOP PID; kill -CONT PID: the run must end, with its status, as
// it does natively. Both came while the guard ran its first calls, which
// hold them; the SIGCONT, still pending at the hand-over when it came
// during the last call, was flushed by the stop sent again there, and
// the program stayed stopped, mmapguard waiting for good (16 of 600
// starts; see sendDeferred in package trace). Found while looking for a
// rarer hang of the group modes under load (1 start of 120 in two CI
// runs), whose cause is not known. The twentieth session's fix, not
// sending the stop again where a SIGCONT was pending, left one that
// came in the microseconds between that look and the tgkill (1 start
// in about 3,100). Since the twenty-first session the stop takes effect
// when it comes (see passMidCall in package trace), the kernel keeping
// it, or the SIGCONT's end of it, over the hand-over's detach: no hang
// is allowed (0 of 1,500 starts with the fix).
func TestRunStopAtStart(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "startstop")
	if out, err := exec.Command("cc", "-Wall", "-O2", "-o", bin, "../../testdata/startstop.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name, mode, what string
		window           int // µs; 0: startstop's 2.5 ms
		tries, allowed   int
	}{
		{"pid", "pid", "stops lost", 0, 40, 1},
		{"group", "group", "hung", 0, 120, 0},
		{"group-early", "group", "hung", 150, 120, 0},
		{"pair", "pair", "hung", 0, 200, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, fmt.Sprint(c.tries), c.mode, mmapguardBin(t), "run", "-q", "--protect", lowRange, "--", "sleep", "0.15")
			if c.window != 0 {
				cmd.Env = append(os.Environ(), fmt.Sprintf("STARTSTOP_US=%d", c.window))
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var bad, tries int
			if _, err := fmt.Sscanf(lastLine(string(out)), "%d of %d "+c.what, &bad, &tries); err != nil || tries != c.tries {
				t.Fatalf("no count in the output:\n%s", out)
			}
			if bad > c.allowed {
				t.Errorf("%d of %d starts with a stop in their first milliseconds: %s:\n%s", bad, c.tries, c.what, out)
			}
		})
	}
}

// lastLine returns the last line of s, without its newline.
func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

// TestRunGroupStopWithoutTerminal: a job without a controlling terminal
// (a service's, a CI job's) stopped and continued as a whole, kill -TSTP
// -PGID then kill -CONT -PGID: the program, which stops by SIGTSTP's
// default action, and mmapguard must both run again after the SIGCONT,
// each time. mmapguard catches SIGTSTP there and passes it on unless the
// program got its own copy; its copy often reached the forwarder only
// once mmapguard was continued (the program, then mmapguard had stopped
// first), past the window in which the program's copy pairs with it,
// and was passed on: the job stopped again, for good (2 jobs in 8 at
// the first such stop, found sending kill -TSTP -PGID to a job started
// by a setsid'd parent; 6 runs of this test in 6).
func TestRunGroupStopWithoutTerminal(t *testing.T) {
	// The job runs in a process group of its own, in a session without
	// a terminal, which its parent, python3, keeps from being orphaned:
	// the kernel stops it.
	script := `import os, signal, sys, time
os.setsid()
job = os.fork()
if job == 0:
    os.setpgid(0, 0)
    os.execvp(sys.argv[1], sys.argv[1:])
time.sleep(0.5)
kids = open("/proc/%d/task/%d/children" % (job, job)).read().split()
prog = int(kids[0]) if kids else job
def st(pid):
    return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
for r in range(12):
    os.killpg(job, signal.SIGTSTP)
    for i in range(100):
        if st(job) == "T":
            break
        time.sleep(0.02)
    print("round", r, "stopped", st(job) + st(prog), flush=True)
    time.sleep(0.25)  # longer than the window a group's two copies pair in
    os.killpg(job, signal.SIGCONT)
    time.sleep(0.3)
    print("round", r, "continued", st(job) + st(prog), flush=True)
os.killpg(job, signal.SIGKILL)
os.waitpid(job, 0)
`
	for _, guard := range []bool{false, true} {
		// A program of two processes: the race was lost more often.
		prog := []string{"sh", "-c", "sleep 60; exit 0"}
		name, job := "native", prog
		if guard {
			name, job = "guarded", append([]string{mmapguardBin(t)}, guardArgs(prog...)...)
		}
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("python3", append([]string{"-c", script}, job...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			rounds := 0
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				if len(f) != 4 || f[0] != "round" {
					continue
				}
				rounds++
				if f[2] == "stopped" && f[3][0] != 'T' || f[2] == "continued" && strings.ContainsAny(f[3], "Tt") {
					t.Fatalf("%s (the job's state, then its program's; T or t: stopped):\n%s", line, out)
				}
			}
			if rounds != 24 {
				t.Fatalf("%d lines of rounds, want 24:\n%s", rounds, out)
			}
		})
	}
}

// TestRunJobStopContinuedAlone: a program that stops itself for job
// control (kill -TSTP $$) is then continued alone (kill -CONT PID), or
// killed (kill -KILL PID), as a supervisor that knows the program's pid
// may do. mmapguard stops with the program, so that a shell sees the
// job stop (see stopAs); stopped, it could not see the program go on,
// and the program, traced, waited for it at its next stop: the run hung
// until something continued mmapguard itself. Natively the program runs
// on, or ends. A watcher process continues mmapguard then
// (startContWatch).
func TestRunJobStopContinuedAlone(t *testing.T) {
	for _, c := range []struct {
		name string
		sig  syscall.Signal
	}{{"cont", syscall.SIGCONT}, {"kill", syscall.SIGKILL}} {
		t.Run(c.name, func(t *testing.T) {
			// Its own process group, whose parent (this test) keeps it
			// from being orphaned: the kernel stops it.
			l := startLive(t, &syscall.SysProcAttr{Setpgid: true}, guardArgs("sh", "-c", `echo pid $$; kill -TSTP $$; echo resumed`)...)
			prog := 0
			if _, ok := l.readUntil(func(s string) bool {
				n, ok := strings.CutPrefix(s, "pid ")
				prog, _ = strconv.Atoi(n)
				return ok
			}, deadline); !ok || prog <= 0 {
				t.Fatalf("no pid from the program; stderr:\n%s", l.stderr.String())
			}
			mg := l.cmd.Process.Pid
			if !waitState(mg, 'T', deadline) {
				t.Fatalf("mmapguard did not stop with the program; stderr:\n%s", l.stderr.String())
			}
			if err := syscall.Kill(prog, c.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-l.done:
			case <-time.After(15 * time.Second):
				_ = syscall.Kill(mg, syscall.SIGCONT)
				<-l.done
				t.Fatalf("mmapguard stayed stopped after a %s of the program alone", unix.SignalName(c.sig))
			}
			if c.sig == syscall.SIGKILL {
				if got := l.killedBy(t, "the program killed"); got != syscall.SIGKILL {
					t.Errorf("mmapguard died of %v, want SIGKILL, the program's", got)
				}
				return
			}
			if code := l.exitCode(t, "the program continued"); code != 0 {
				t.Errorf("exit status %d, want 0; stderr:\n%s", code, l.stderr.String())
			}
			if _, ok := l.readUntil(func(s string) bool { return s == "resumed" }, deadline); !ok {
				t.Errorf("the program did not run on after its SIGCONT; stderr:\n%s", l.stderr.String())
			}
		})
	}
}

// waitState waits up to d for process pid's state (/proc/PID/stat) to
// be want.
func waitState(pid int, want byte, d time.Duration) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		switch state(pid) {
		case want:
			return true
		case 0:
			return false // gone
		}
	}
	return false
}

// TestRunJobStopWatcherStartStop: a job stopped and continued as fast
// as a supervisor can (SIGTSTP and SIGCONT to its process group, over
// and over) makes mmapguard start a watcher at each of its job-control
// stops (startContWatch), some while the next SIGTSTP is on its way. Go's
// child of a start blocks every signal until its setpgid, then puts the
// starting thread's mask back with the default actions: a SIGTSTP the
// group got meanwhile stopped it before its exec, in its new group,
// where the job's SIGCONT never reaches it, and mmapguard's tracer
// waited in vfork for that exec for good (mmapguard in D, the program
// waiting for it, the job neither stopped nor going on). Without the
// job-control stop signals blocked for the start, every run of this test
// hung so within a second.
func TestRunJobStopWatcherStartStop(t *testing.T) {
	l := startLive(t, &syscall.SysProcAttr{Setpgid: true}, guardArgs("sh", "-c", `echo ready; while :; do :; done`)...)
	l.waitLine(t, "ready")
	mg := l.cmd.Process.Pid // and the job's process group
	defer func() { _ = syscall.Kill(-mg, syscall.SIGCONT) }()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		for range 500 {
			if err := syscall.Kill(-mg, syscall.SIGTSTP); err != nil {
				t.Fatal(err)
			}
			_ = syscall.Kill(-mg, syscall.SIGCONT)
		}
		if c := stoppedBeforeExec(mg); c > 0 {
			_ = syscall.Kill(c, syscall.SIGKILL)
			t.Fatalf("mmapguard's child %d stopped before its exec, in a process group of its own (mmapguard %c)", c, state(mg))
		}
	}
}

// stoppedBeforeExec returns a child of process pid's stopped ('T') in a
// process group of its own while still running pid's executable as
// started (not the watcher's argv), 0 if none.
func stoppedBeforeExec(pid int) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 3 || f[0] != "T" || f[1] != strconv.Itoa(pid) || f[2] != e.Name() {
			continue
		}
		if argv, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c)); err == nil && !bytes.Contains(argv, []byte(contWatchArg)) {
			return c
		}
	}
	return 0
}
