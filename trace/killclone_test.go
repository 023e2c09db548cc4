package trace

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// TestKilledWhileCloning: a process killed (SIGKILL) while it makes
// threads, round after round. A new thread the kill ends before its
// first stop reports its exit stop first (PTRACE_O_TRACEEXIT, inherited
// from its leader), and its creator's clone event may never come (the
// creator, woken from its event stop by the kill, is gone before the
// tracer waits for it). Before, such a thread was held for the event
// like any new task, for good: it stayed in its exit stop, its process
// a zombie its parent waited for, and the run never ended (every run of
// 100 rounds hung, natively 0.2 s). Nor may a later stop of such a
// thread (Linux reports its pending PTRACE_EVENT_STOP after the exit
// stop) be taken for its first: its process was then "a new task whose
// creator is gone", killed (fail closed).
func TestKilledWhileCloning(t *testing.T) {
	bin := buildC(t, "killclone", "-pthread")
	out, res, err := escapeWatched(t, escapePolicy(t, false), 40*time.Second, bin, "150")
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, out)
	}
	if res.ExitCode() != 0 || !strings.Contains(out, "END ok rounds=150") || strings.Contains(out, "fail closed") {
		t.Fatalf("status %v:\n%s", res.Status, out)
	}
}

// TestStopWhileCloning: a process whose threads make threads is stopped
// (SIGSTOP) at a random moment. A thread made while the stop is under
// way joins it: its first stop is a group-stop (PTRACE_EVENT_STOP with
// SIGSTOP), and it must stay stopped until SIGCONT. Before, the guard
// took it for an ordinary first stop and resumed it: the process ran on
// while its parent had seen it stopped (2-5 rounds of 40 in every run;
// natively none).
func TestStopWhileCloning(t *testing.T) {
	bin := buildC(t, "stopclone", "-pthread")
	out, res, err := escapeWatched(t, escapePolicy(t, false), 40*time.Second, bin, "40")
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, out)
	}
	if res.ExitCode() != 0 || !strings.Contains(out, "END rounds=40 bad=0") {
		t.Fatalf("status %v:\n%s", res.Status, out)
	}
}

// TestStopDuringFreeze: a process stopped (SIGSTOP, waitpid WUNTRACED,
// SIGCONT) while its threads move mappings out of the protected range
// (testdata/stopfreeze.c): each move-out holds the other threads until
// its reservation is back. A thread caught by the group-stop on its way
// to that reservation was left stopped, the frozen threads with it, and
// the stop never completed: the parent waited for good (found in the
// tenth session). Its stop is now taken after the reservation, and not
// at all if the process was continued meanwhile.
func TestStopDuringFreeze(t *testing.T) {
	bin := buildC(t, "stopfreeze", "-pthread")
	for _, poolAll := range []bool{false, true} {
		t.Run(fmt.Sprintf("pool-all=%v", poolAll), func(t *testing.T) {
			p, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, poolAll, false)
			if err != nil {
				t.Fatal(err)
			}
			out, res, err := escapeWatched(t, p, 40*time.Second, bin, "20")
			if err != nil {
				t.Fatalf("%v; output:\n%s", err, out)
			}
			if res.ExitCode() != 0 || !strings.Contains(out, "END bad=0") {
				t.Fatalf("status %v:\n%s", res.Status, out)
			}
		})
	}
}
