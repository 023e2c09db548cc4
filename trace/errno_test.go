package trace

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestReservationErrno runs testdata/probe_errno.c without the guard,
// against a hole it makes itself, and under the guard, against the
// guard's reservation at the same place: every call aimed there must get
// the same answer, the kernel's own checks of the arguments included.
// The probe is built for x86-64 and for i386, whose calls all stop in
// the tracer; each also runs with stops read from the registers.
func TestReservationErrno(t *testing.T) {
	for _, build := range []struct {
		name  string
		flags []string
	}{{"x86_64", nil}, {"i386", []string{"-m32"}}} {
		t.Run(build.name, func(t *testing.T) {
			bin := buildC(t, "probe_errno", build.flags...)
			native, info := errnoCases(t, escapeNative(t, bin))
			if info["target"] != "hole" || info["range-start"] != "hole" {
				t.Fatalf("without the guard the target is not a hole: %v", info)
			}
			if len(native) < 50 {
				t.Fatalf("only %d calls without the guard", len(native))
			}
			check := func(t *testing.T) {
				out, res := escapeGuarded(t, escapePolicy(t, false), bin)
				guarded, info := errnoCases(t, out)
				for _, k := range []string{"target", "target-end", "range-start", "target-after", "target-end-after"} {
					if info[k] != "reserved" {
						t.Errorf("under the guard %s is %q, want the guard's reservation", k, info[k])
					}
				}
				for _, name := range slices.Sorted(maps.Keys(native)) {
					if got, want := guarded[name], native[name]; got != want {
						t.Errorf("%s: %q under the guard, %q without it", name, got, want)
					}
				}
				for name := range guarded {
					if _, ok := native[name]; !ok {
						t.Errorf("%s: only under the guard", name)
					}
				}
				if res.ExitCode() != 0 || t.Failed() {
					t.Errorf("exit %d; output:\n%s", res.ExitCode(), out)
				}
			}
			t.Run("guarded", check)
			t.Run("registers", func(t *testing.T) { escapeRegs(func() { check(t) }) })
		})
	}
}

// errnoCases splits probe_errno's output into its cases and its facts
// (other lines, mmapguard's warnings, are left out). It fails the test
// if the probe did not finish.
func errnoCases(t *testing.T, out string) (cases, info map[string]string) {
	t.Helper()
	cases, info = map[string]string{}, map[string]string{}
	end := false
	for _, l := range strings.Split(out, "\n") {
		kind, rest, _ := strings.Cut(l, " ")
		name, value, ok := strings.Cut(rest, ": ")
		switch {
		case l == "END":
			end = true
		case ok && kind == "case":
			cases[name] = value
		case ok && kind == "info":
			info[name] = value
		}
	}
	if !end {
		t.Fatalf("the probe did not finish; output:\n%s", out)
	}
	return cases, info
}
