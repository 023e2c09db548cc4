package trace

import (
	"slices"
	"testing"
	"time"
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
