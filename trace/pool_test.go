package trace

import (
	"testing"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// TestPoolReuseRace: threads map, write, check and unmap pool chunks in
// a loop (testdata/pool_reuse.c), with --pool-all and with hints moved
// into the pool. An munmap there is a reservation put back over the
// chunk, a call the thread makes after the decision (and on the
// one-stop path the tracer does not see it end): the pool must not hand
// the chunk to another thread before, or the late reservation lands on
// that thread's new mapping, which then faults. Both paths: one stop
// (the code page) and two (the call's exit).
func TestPoolReuseRace(t *testing.T) {
	bin := buildC(t, "pool_reuse", "-pthread")
	poolAll, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, true, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		p    *rewrite.Policy
		hint string
	}{
		{"pool-all", poolAll, "0"},
		{"hint", testPolicy(t), "1"},
	} {
		for _, twoStops := range []bool{false, true} {
			name := mode.name + "/one-stop"
			if twoStops {
				name = mode.name + "/two-stops"
			}
			t.Run(name, func(t *testing.T) {
				noOneStop = twoStops
				defer func() { noOneStop = false }()
				out, res := guardedBy(t, mode.p, bin, "8", "500", mode.hint)
				if res.ExitCode() != 0 || out != "0 pages lost\n" {
					t.Fatalf("exit %d, output:\n%s", res.ExitCode(), out)
				}
				if res.Stats.Outcomes[rewrite.Rerouted] < 8*500 {
					t.Errorf("%d calls rerouted, want at least %d", res.Stats.Outcomes[rewrite.Rerouted], 8*500)
				}
				if !twoStops && res.OneStop == 0 {
					t.Errorf("no one-stop rewrites")
				}
			})
		}
	}
}
