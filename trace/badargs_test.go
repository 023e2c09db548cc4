package trace

import (
	"maps"
	"slices"
	"testing"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// TestBadArgumentsMatchNative runs testdata/badargs.c without the guard
// and under it, with the protected range 0x10000-0x80000000 and with one
// far from everything the program touches: every call must get the same
// answer as natively (the address it mapped, or the kernel's errno), and
// the program's memory outside the guarded ranges must stay as it was.
// Each also runs with stops read from the registers.
func TestBadArgumentsMatchNative(t *testing.T) {
	bin := buildC(t, "badargs")
	native, _ := errnoCases(t, escapeNative(t, bin))
	if len(native) < 15 {
		t.Fatalf("only %d cases without the guard", len(native))
	}
	far, err := rewrite.NewPolicy([]region.Range{{Start: 0x100000000000, End: 0x110000000000}}, rewrite.DefaultPool, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, pol := range []struct {
		name string
		p    *rewrite.Policy
	}{{"low", escapePolicy(t, false)}, {"far", far}} {
		check := func(t *testing.T) {
			out, res := escapeGuarded(t, pol.p, bin)
			guarded, _ := errnoCases(t, out)
			for _, name := range slices.Sorted(maps.Keys(native)) {
				if got, want := guarded[name], native[name]; got != want {
					t.Errorf("%s: %q under the guard, %q without it", name, got, want)
				}
			}
			if res.ExitCode() != 0 || t.Failed() {
				t.Errorf("exit %d; output:\n%s", res.ExitCode(), out)
			}
		}
		t.Run(pol.name, check)
		t.Run(pol.name+"/registers", func(t *testing.T) { escapeRegs(func() { check(t) }) })
	}
}
