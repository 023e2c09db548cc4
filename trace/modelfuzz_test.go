package trace

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// modelFuzzModes are the policies testdata/modelfuzz.c runs under, with
// the flags that tell it which.
var modelFuzzModes = []struct {
	name            string
	flags           []string
	poolAll, strict bool
	two             bool
}{
	{name: "lax"},
	{name: "strict", flags: []string{"-s"}, strict: true},
	{name: "pool-all", flags: []string{"-p"}, poolAll: true},
	{name: "two-ranges", flags: []string{"-2"}, two: true},
}

func modelFuzzPolicy(t *testing.T, poolAll, strict, two bool) *rewrite.Policy {
	t.Helper()
	rs := []region.Range{lowRange}
	if two {
		rs = append(rs, region.Must(0x100000000, 0x180000000))
	}
	p, err := rewrite.NewPolicy(rs, rewrite.DefaultPool, poolAll, strict)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestModelFuzz runs the differential fuzzer of the guard's model
// (testdata/modelfuzz.c: random MAP_FIXED, NOREPLACE, hint and NULL
// mappings, munmap, mremap in all its forms, mprotect, madvise, mlock,
// mseal, brk, shmat, shmdt and fork at and around the ranges' edges, the
// layout and each result checked after every call) for a few seeds in
// each mode, natively too (which checks the fuzzer's own predictions),
// and replays the sequences it found (testdata/modelfuzz/*.ops), each of
// which failed under the guard before its fix.
func TestModelFuzz(t *testing.T) {
	bin := buildC(t, "modelfuzz")
	ops, err := filepath.Glob(filepath.Join("..", "testdata", "modelfuzz", "*.ops"))
	if err != nil || len(ops) == 0 {
		t.Fatalf("no regression sequences: %v", err)
	}
	for _, f := range ops {
		name := strings.TrimSuffix(filepath.Base(f), ".ops")
		t.Run("replay/"+name+"/native", func(t *testing.T) {
			if out, err := exec.Command(bin, "-n", "-r", f).CombinedOutput(); err != nil {
				t.Fatalf("natively: %v\n%s", err, out)
			}
		})
		t.Run("replay/"+name, func(t *testing.T) {
			out, res := guardedBy(t, modelFuzzPolicy(t, false, false, false), bin, "-r", f)
			if res.ExitCode() != 0 || !strings.Contains(out, "OK replay") {
				t.Fatalf("exit %d:\n%s", res.ExitCode(), out)
			}
		})
	}
	const ops1 = 100
	for seed := 1; seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed%d/native", seed), func(t *testing.T) {
			if out, err := exec.Command(bin, "-n", fmt.Sprint(seed), fmt.Sprint(ops1)).CombinedOutput(); err != nil {
				t.Fatalf("natively: %v\n%s", err, out)
			}
		})
		for _, m := range modelFuzzModes {
			t.Run(fmt.Sprintf("seed%d/%s", seed, m.name), func(t *testing.T) {
				argv := append([]string{bin}, m.flags...)
				argv = append(argv, fmt.Sprint(seed), fmt.Sprint(ops1))
				out, res := guardedBy(t, modelFuzzPolicy(t, m.poolAll, m.strict, m.two), argv...)
				if res.ExitCode() != 0 || !strings.Contains(out, "OK seed") {
					t.Fatalf("exit %d:\n%s", res.ExitCode(), out)
				}
			})
		}
	}
}
