package trace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// buildBench compiles bench/testdata/NAME.c.
func buildBench(b *testing.B, name string, flags ...string) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), name)
	args := append([]string{"-O2", "-o", out, filepath.Join("..", "bench", "testdata", name+".c")}, flags...)
	if o, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		b.Fatalf("cc %v: %v\n%s", args, err, o)
	}
	return out
}

// nsPerIter reads callbench's own measurement of its loop.
func nsPerIter(b *testing.B, out string) float64 {
	b.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "ns/iter "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	b.Fatalf("no ns/iter in output:\n%s", out)
	return 0
}

// BenchmarkTrappedCallInProcess runs callbench's "hint" loop under
// trace.Run in this process (so that -cpuprofile sees the tracer): one
// mmap per iteration whose hint into the protected range is dropped.
// The "attributed" variant names an owner (one that never matches), so
// every stop also finds the calling code; "logged" also writes events,
// which adds a stop at each call's exit.
func BenchmarkTrappedCallInProcess(b *testing.B) {
	bin := buildBench(b, "callbench", "-pthread")
	p, err := rewrite.NewPolicy([]region.Range{lowRange}, region.Range{}, false, false)
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"plain", "attributed", "logged"} {
		b.Run(mode, func(b *testing.B) {
			out, err := os.CreateTemp(b.TempDir(), "out")
			if err != nil {
				b.Fatal(err)
			}
			cfg := Config{Policy: p, Filter: seccomp.Policy{Guarded: p.Guarded(), Protected: p.Protected},
				Path: bin, Args: []string{bin, "hint", strconv.Itoa(max(b.N, 100))}, Stdout: out, Stderr: out}
			if mode != "plain" {
				cfg.Owners = []OwnerRule{{Object: "libnothing.so"}}
			}
			if mode == "logged" {
				cfg.Events = func(Event) {}
			}
			b.ResetTimer()
			res, err := Run(cfg)
			b.StopTimer()
			if err != nil || res.ExitCode() != 0 {
				o, _ := os.ReadFile(out.Name())
				b.Fatalf("exit %d, %v: %s", res.ExitCode(), err, o)
			}
			o, _ := os.ReadFile(out.Name())
			b.ReportMetric(nsPerIter(b, string(o)), "ns/call")
			b.ReportMetric(float64(res.Stops)/float64(max(b.N, 100)), "stops/call")
		})
	}
}
