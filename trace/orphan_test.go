package trace

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOrphanedGroupScansOnce: once the first program has ended, every
// exit of one of its processes asks whether the tracer's group became
// orphaned. A look at every process in /proc for each (keeperOf) made a
// program that forks a thousand short children after its first process
// ended more than twice as slow: the group is looked for in /proc once
// when it turns orphaned (the kernel signals it only then), and a
// member found keeping it (a pipeline's cat) is looked at again before
// /proc is. The group here is a sleep's, in a group of its own, taken
// for the tracer's, with a traced member.
func TestOrphanedGroupScansOnce(t *testing.T) {
	member := exec.Command("sleep", "60")
	member.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { member.Process.Kill(); member.Wait() }()
	pgrp := member.Process.Pid
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	tr := &tracer{tasks: map[int]*task{pgrp: {pid: pgrp, tid: pgrp}}, mainPid: -1}

	t.Run("orphaned", func(t *testing.T) {
		before := procScans.Load()
		for i := 0; i < 50; i++ {
			tr.orphanedGroupIn(me, pgrp, sid)
		}
		if !tr.pgrpOrphaned {
			t.Fatalf("group %d not taken for orphaned", pgrp)
		}
		if n := procScans.Load() - before; n > 1 {
			t.Errorf("%d scans of /proc for 50 exits in an orphaned group, want 1", n)
		}
	})

	t.Run("kept", func(t *testing.T) {
		// A member whose parent (a shell of the test's group) is in
		// another group of the session keeps it.
		keeper := exec.Command("sh", "-c", fmt.Sprintf(`python3 -c 'import os,time; os.setpgid(0, %d); time.sleep(60)' & echo $!; wait`, pgrp))
		out, err := keeper.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := keeper.Start(); err != nil {
			t.Fatal(err)
		}
		var kpid int
		if _, err := fmt.Fscan(out, &kpid); err != nil {
			t.Fatal(err)
		}
		defer func() { syscall.Kill(kpid, syscall.SIGKILL); keeper.Wait() }()
		for i := 0; i < 100; i++ {
			if _, g, _, ok := statIDs(kpid); ok && g == pgrp {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		tr.pgrpOrphaned = false
		before := procScans.Load()
		for i := 0; i < 50; i++ {
			tr.orphanedGroupIn(me, pgrp, sid)
		}
		if tr.pgrpOrphaned {
			t.Fatalf("group %d taken for orphaned; its member %d keeps it", pgrp, kpid)
		}
		if n := procScans.Load() - before; n > 1 {
			t.Errorf("%d scans of /proc for 50 exits in a group a member keeps, want 1", n)
		}
	})
}

// TestOrphanedGroupCountsStopping: a member the tracer has just resumed
// with SIGSTOP from its signal-delivery-stop, whose group-stop report
// has not been handled yet, is stopped as far as the kernel and the
// program know (its parent may have heard of it through waitpid and
// ended at once). The group turning orphaned then must get SIGHUP and
// SIGCONT: counting only the reported group-stops left the member
// stopped for good (CI). SIGTSTP counts only where it stops the
// process: not where the process ignores it or has a handler.
func TestOrphanedGroupCountsStopping(t *testing.T) {
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	me := os.Getpid()
	for _, c := range []struct {
		name   string
		script string
		sig    syscall.Signal
		hup    bool
	}{
		{"sigstop", "exec sleep 60", syscall.SIGSTOP, true},
		{"sigtstp", "exec sleep 60", syscall.SIGTSTP, true},
		{"sigtstp-ignored", `trap "" TSTP; exec sleep 60`, syscall.SIGTSTP, false},
		{"sigttin-caught", `trap "exit 3" TTIN; sleep 60 & wait`, syscall.SIGTTIN, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			member := exec.Command("sh", "-c", c.script)
			member.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := member.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- member.Wait() }()
			ended := false
			defer func() {
				if !ended {
					member.Process.Kill()
					<-done
				}
			}()
			pgrp := member.Process.Pid
			// The shell's trap is set once it has read its script:
			// wait for the member's dispositions to be in place.
			for i := 0; i < 200 && !c.hup && stopsOn(pgrp, c.sig); i++ {
				time.Sleep(10 * time.Millisecond)
			}
			if got := stopsOn(pgrp, c.sig); got != c.hup {
				t.Fatalf("stopsOn(%v) = %v, want %v", c.sig, got, c.hup)
			}
			tr := &tracer{tasks: map[int]*task{pgrp: {pid: pgrp, tid: pgrp, stopping: c.sig}}, mainPid: -1}
			tr.orphanedGroupIn(me, pgrp, sid)
			if !tr.pgrpOrphaned {
				t.Fatalf("group %d not taken for orphaned", pgrp)
			}
			if !c.hup {
				return
			}
			select {
			case err := <-done:
				ended = true
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGHUP {
					t.Fatalf("member ended with %v, want killed by SIGHUP", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("member stopping on %v got no SIGHUP when its group turned orphaned", c.sig)
			}
		})
	}
}

// TestOrphanRuleExemptions: the kernel's rule on orphaned groups
// (will_become_orphaned_pgrp) does not count a member whose parent is
// the global init, nor a zombie. CI's tests run in session 0, the
// session of init itself: a child the program left behind, handed to
// init when the program ended, has a parent in another group of the
// same session there, and counting it kept the group from orphanhood
// for good (TestRunOrphanedStoppedChild and TestRunOrphanedLateStop
// hung in CI, and passed on a machine whose tests have a session of
// their own).
func TestOrphanRuleExemptions(t *testing.T) {
	const pgrp, sid = 500, 0
	shell := procEntry{state: 'S', ppid: 1, pgrp: 400, sid: sid, threads: 1}
	initProc := procEntry{state: 'S', ppid: 0, pgrp: 0, sid: 0, threads: 1}
	for _, c := range []struct {
		name       string
		m, p       procEntry
		parentInit bool
		hidden     bool
		keeps      bool
	}{
		{"parent a shell of the session", procEntry{'S', 400, pgrp, sid, 1}, shell, false, false, true},
		{"parent the global init", procEntry{'T', 1, pgrp, sid, 1}, initProc, true, false, false},
		{"parent a namespace's init", procEntry{'T', 1, pgrp, sid, 1}, initProc, false, false, true},
		{"zombie", procEntry{'Z', 400, pgrp, sid, 1}, shell, false, false, false},
		{"zombie leader, threads alive", procEntry{'Z', 400, pgrp, sid, 3}, shell, false, false, true},
		{"parent in the group", procEntry{'S', 400, pgrp, sid, 1}, procEntry{'S', 1, pgrp, sid, 1}, false, false, false},
		{"parent in another session", procEntry{'S', 400, pgrp, sid, 1}, procEntry{'S', 1, 400, 7, 1}, false, false, false},
		{"not a member", procEntry{'S', 400, 501, sid, 1}, shell, false, false, false},
		{"session hidden in a PID namespace", procEntry{'T', 1, pgrp, sid, 1}, initProc, false, true, false},
	} {
		if got := keepsGroup(c.m, c.p, pgrp, sid, c.parentInit, c.hidden); got != c.keeps {
			t.Errorf("%s: keepsGroup = %v, want %v", c.name, got, c.keeps)
		}
	}

	// pid 1 is the global init where the test runs in the initial PID
	// namespace, and a namespace's own init in a container.
	var ns unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &ns); err != nil {
		t.Fatal(err)
	}
	if got, want := globalInit(1), ns.Ino == initPidNSIno; got != want {
		t.Errorf("globalInit(1) = %v, want %v (the test's PID namespace is inode %#x)", got, want, ns.Ino)
	}
	if globalInit(os.Getpid()) {
		t.Errorf("the test (%d) taken for the global init", os.Getpid())
	}

	// readIDs on a real zombie and a real process with threads.
	z := exec.Command("true")
	if err := z.Start(); err != nil {
		t.Fatal(err)
	}
	defer z.Wait()
	var zid procEntry
	for i := 0; i < 200; i++ {
		if e, ok := readIDs(z.Process.Pid); ok && e.state == 'Z' {
			zid = e
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if zid.state != 'Z' || zid.threads != 1 || zid.ppid != os.Getpid() {
		t.Errorf("readIDs of the zombie %d = %+v, want state Z, 1 thread, parent %d", z.Process.Pid, zid, os.Getpid())
	}
	self, ok := readIDs(os.Getpid())
	if !ok || self.threads < 2 || self.pgrp != unix.Getpgrp() {
		t.Errorf("readIDs of the test = %+v (%v), want its group %d and the Go runtime's threads", self, ok, unix.Getpgrp())
	}
}
