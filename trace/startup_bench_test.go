package trace

import (
	"testing"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// BenchmarkRunTrue is the cost of one guarded run of /bin/true from
// inside the tracer's process: the program's start, with its
// reservations and filter injected, and the exit (not mmapguard's own
// start-up).
func BenchmarkRunTrue(b *testing.B) {
	p, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, false, false)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := Run(Config{Policy: p, Filter: seccomp.Policy{Guarded: p.Guarded(), Protected: p.Protected},
			Path: "/bin/true", Args: []string{"true"}})
		if err != nil || res.ExitCode() != 0 {
			b.Fatal(res.ExitCode(), err)
		}
	}
}
