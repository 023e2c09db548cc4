package trace

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestConcFuzz runs the concurrent fuzzer (testdata/concfuzz.c: K
// worker threads, each making random mapping calls in a window of its
// own inside a protected range and just outside it, with forks, vforks
// and short-lived threads, and checking its results and the contents of
// its memory; a prober thread whose MAP_32BIT, hinted and i386 mmaps
// must never land in a protected range; a checker thread reading
// /proc/self/maps for holes and for mappings no worker claimed; an exec
// from a thread at the end, the fresh layout checked) for a few short
// seeds in each mode of modelFuzzModes, and natively, which checks the
// fuzzer's own predictions and bookkeeping.
func TestConcFuzz(t *testing.T) {
	bin := buildC(t, "concfuzz", "-pthread")
	const k, ops = "4", "120"
	for seed := 1; seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed%d/native", seed), func(t *testing.T) {
			for _, flags := range []string{"-n", "-n2"} {
				out, err := exec.Command(bin, flags, fmt.Sprint(seed), k, ops).CombinedOutput()
				if err != nil || !strings.Contains(string(out), "OK seed") {
					t.Fatalf("natively (%s): %v\n%s", flags, err, out)
				}
			}
		})
		for _, m := range modelFuzzModes {
			t.Run(fmt.Sprintf("seed%d/%s", seed, m.name), func(t *testing.T) {
				argv := append([]string{bin}, m.flags...)
				argv = append(argv, fmt.Sprint(seed), k, ops)
				out, res := guardedBy(t, modelFuzzPolicy(t, m.poolAll, m.strict, m.two), argv...)
				if res.ExitCode() != 0 || !strings.Contains(out, "OK seed") {
					t.Fatalf("exit %d:\n%s", res.ExitCode(), out)
				}
			})
		}
	}
}
