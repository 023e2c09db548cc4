package trace

import (
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
