package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPty opens a pseudo-terminal pair: the master and its slave.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty's slave: %v", err)
	}
	return m, s
}

// hangupStatus runs argv as the leader of a new session on a new
// terminal, whose master it closes after a while (the terminal hangs
// up, as when its window or ssh connection goes), and returns how argv
// ended.
func hangupStatus(t *testing.T, argv ...string) syscall.WaitStatus {
	t.Helper()
	return ptySession(t, true, argv...)
}

// leaderStatus runs argv as the leader of a new session on a new
// terminal, whose output it reads until the end, and returns how argv
// ended.
func leaderStatus(t *testing.T, argv ...string) syscall.WaitStatus {
	t.Helper()
	return ptySession(t, false, argv...)
}

// ptySession runs argv as the leader of a new session on a new terminal
// and returns how it ended: with hangUp, the terminal hangs up after a
// while (its master closed); without, its output is read until the end.
func ptySession(t *testing.T, hangUp bool, argv ...string) syscall.WaitStatus {
	t.Helper()
	m, s := openPty(t)
	defer m.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if hangUp {
		// Let the program reach its read.
		time.Sleep(500 * time.Millisecond)
		_ = m.Close()
	} else {
		go func() { _, _ = io.Copy(io.Discard, m) }() // (EIO once every slave is closed)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v: not ended after 20 s", argv)
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// TestRunHangupAsSessionLeader: mmapguard run as the leader of its
// session (script(1), ssh -t, a pty's child) whose terminal hangs up.
// The kernel sends SIGHUP to the session leader only, mmapguard, which
// passes it on: the program must die of it, as natively, rather than
// exit on the end of its input. Passed on 10 ms late (the wait for a copy
// the program never gets), it came after the program had read EOF and
// exited by itself (exit 1 where natively SIGHUP; an interactive bash
// then hung up none of its jobs): found by the fourteenth session's
// hunt.
func TestRunHangupAsSessionLeader(t *testing.T) {
	bin := mmapguardBin(t)
	// (python3 takes a few milliseconds from the end of its input to
	// its exit: sh, which takes less than the signal's way through
	// mmapguard, could not tell.)
	prog := []string{"python3", "-c", "input()"}
	native := hangupStatus(t, prog...)
	if !native.Signaled() || native.Signal() != syscall.SIGHUP {
		t.Fatalf("natively %v ended with %v, not SIGHUP: the test's premise does not hold here", prog, native)
	}
	// The signal's way through mmapguard (the Go runtime's handler, its
	// signal goroutine, the forwarder) races the program's end of input
	// after the hang-up: on a loaded machine (the trace tests running
	// beside these) about one run in 75 loses it, and with other work
	// on the machine as well two of ten did (the eighteenth session's
	// CI run). Three of twenty may; with the 10 ms delay of the bug,
	// five to eight runs of ten lost it here.
	const runs, allowed = 20, 3
	lost := 0
	for i := range runs {
		ws := hangupStatus(t, append([]string{bin, "run", "-q", "--protect", lowRange, "--"}, prog...)...)
		if !ws.Signaled() || ws.Signal() != syscall.SIGHUP {
			t.Logf("run %d: under mmapguard %v ended with %v (exit %d), natively SIGHUP", i, prog, ws, ws.ExitStatus())
			lost++
		}
	}
	if lost > allowed {
		t.Errorf("%d of %d runs under mmapguard did not die of the terminal's SIGHUP, as natively", lost, runs)
	}
}

// TestRunLeaderEndHangsUp: mmapguard run as the leader of its session
// (script(1), ssh -t), the program leaving a process in the terminal's
// foreground group. Natively the program leads the session, and at its
// end the kernel sends that group SIGHUP: the process ends with it.
// Under the guard mmapguard leads, and must do the same at the
// program's end: before, the process ran on, and kept mmapguard and the
// session waiting until it ended.
func TestRunLeaderEndHangsUp(t *testing.T) {
	bin := mmapguardBin(t)
	file := filepath.Join(t.TempDir(), "ran-on")
	prog := []string{"sh", "-c", fmt.Sprintf("(sleep 1; echo > %s) & echo started", file)}
	for i, argv := range [][]string{prog, append([]string{bin, "run", "-q", "--protect", lowRange, "--"}, prog...)} {
		_ = os.Remove(file)
		if ws := leaderStatus(t, argv...); ws != 0 {
			t.Fatalf("%v ended with %v (exit %d), want exit 0", argv, ws, ws.ExitStatus())
		}
		time.Sleep(1500 * time.Millisecond) // (past the background process's sleep)
		if _, err := os.Stat(file); err == nil {
			if i == 0 {
				t.Fatalf("natively the background process of %v ran on after its session leader's end: the test's premise does not hold here", prog)
			}
			t.Fatalf("under mmapguard the background process of %v ran on after the program's end (natively SIGHUP ends it)", prog)
		}
	}
}
