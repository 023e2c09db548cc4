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
