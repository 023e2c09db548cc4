package trace

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// TestPollPauseShort: the loop's pause while a freeze waits for the
// threads it interrupted (or a settle is due) must be about settlePoll,
// not the millisecond the Go runtime's timers round a short sleep up to
// (time.Sleep(50 us) took 1.1 ms here, and every freeze paid it at least
// once: 2.3-2.8 ms per mremap of pool memory moved out with another
// thread asleep). The median of a few pauses, so that a loaded machine's
// odd late wake-up does not count; 0.1 ms with the timer slack.
func TestPollPauseShort(t *testing.T) {
	var d []time.Duration
	for range 21 {
		start := time.Now()
		pollPause()
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	if med := d[len(d)/2]; med >= 500*time.Microsecond {
		t.Errorf("pollPause takes %v (median of %d; settlePoll is %v): %v", med, len(d), settlePoll, d)
	}
}

// TestSleepersDoneWhenAllStopped: once every task a freeze waits for has
// stopped, the loop no longer waits to look at sleepers, and blocks in
// wait4 again: it polled (a pause for each stop of the holder's call
// and of the calls that put the reservation back that had not come at
// once) until freezeGrace had passed, which made a freeze cost 0.45 ms
// instead of 0.1. Another space's freeze still waiting keeps the look.
func TestSleepersDoneWhenAllStopped(t *testing.T) {
	tr := &tracer{tasks: map[int]*task{}, spaces: map[*space]bool{}}
	a, b := &space{}, &space{}
	tr.spaces[a], tr.spaces[b] = true, true
	ran := 0
	fa := &freeze{waiting: map[int]bool{11: true}, run: func() { ran++ }}
	fb := &freeze{waiting: map[int]bool{21: true}, run: func() { ran++ }}
	a.frozen, b.frozen = fa, fb
	tr.freezes = 2
	tr.sleepersAt = time.Now()

	tr.stopped(fa, 11)
	if ran != 1 || !fa.started {
		t.Fatalf("the freeze whose tasks all stopped did not start (ran %d)", ran)
	}
	if tr.sleepersAt.IsZero() {
		t.Fatal("the look at sleepers was called off while another freeze still waits for a task")
	}
	tr.stopped(fb, 21)
	if ran != 2 {
		t.Fatalf("the second freeze did not start (ran %d)", ran)
	}
	if !tr.sleepersAt.IsZero() {
		t.Errorf("no freeze waits for a task, but the loop still waits to look at sleepers (since %v)", tr.sleepersAt)
	}
}

// TestFreezeUffdMover: a thread asleep in mremap after its move, waiting
// for a userfaultfd monitor thread to read the event, while another
// thread's call holds the others (testdata/uffd_freeze.c). The freeze
// must go on without the mover, as without a thread asleep in a call
// that cannot place a mapping: it waited for the mover, which waited for
// the frozen monitor, for good (twelfth session, in both modes). Killed
// after escapeTimeout.
func TestFreezeUffdMover(t *testing.T) {
	bin := buildC(t, "uffd_freeze", "-pthread")
	for _, c := range []struct {
		mode    string
		poolAll bool
	}{{"zero", true}, {"move", false}} {
		t.Run(c.mode, func(t *testing.T) {
			p, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, c.poolAll, false)
			if err != nil {
				t.Fatal(err)
			}
			out, res, err := escapeWatched(t, p, escapeTimeout, bin, c.mode, "200")
			if err != nil || res.ExitCode() != 0 || !strings.Contains(out, "END ok") {
				t.Errorf("%v, status %v:\n%s", err, res.Status, out)
			}
		})
	}
}
