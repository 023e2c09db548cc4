package trace

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// TestRegistersPreserved: every register after a trapped call is what
// the kernel leaves natively (testdata/regs.c prints them), whichever
// way the guard carries the call out: rewritten with one stop (the code
// page, with or without a pool), rewritten with two (event log on, or
// the one-stop path off), failing after the rewrite, answered without
// the kernel.
func TestRegistersPreserved(t *testing.T) {
	bin := buildC(t, "regs")
	nat, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("native run: %v\n%s", err, nat)
	}
	if n := strings.Count(string(nat), "\n"); n != 7 {
		t.Fatalf("native run printed %d lines, want 7:\n%s", n, nat)
	}
	withPool, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, false, false)
	if err != nil {
		t.Fatal(err)
	}
	noPool, err := rewrite.NewPolicy([]region.Range{lowRange}, region.Range{}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		p        *rewrite.Policy
		events   bool
		off      bool
		noCarry  bool // rewrites of a hint take the frame path
		restarts int  // carry rewrites returned to a restart
		oneStop  bool // some rewrites take one stop
	}{
		{"one-stop", withPool, false, false, false, 0, true},
		{"events", withPool, true, false, false, 0, false},
		{"no-pool", noPool, false, false, false, 0, true},
		{"one-stop-off", withPool, false, true, false, 0, false},
		{"frame", withPool, false, false, true, 0, true},
		{"frame-no-pool", noPool, false, false, true, 0, true},
		{"carry-restart", withPool, false, false, false, 3, true},
		{"carry-restart-no-pool", noPool, false, false, false, 3, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			noOneStop, noCarry, carryRestarts = c.off, c.noCarry, c.restarts
			defer func() { noOneStop, noCarry, carryRestarts = false, false, 0 }()
			out, err := os.CreateTemp(t.TempDir(), "out")
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			cfg := Config{Policy: c.p, Filter: seccomp.Policy{Guarded: c.p.Guarded(), Protected: c.p.Protected},
				Path: bin, Args: []string{bin}, Stdout: out}
			if c.events {
				cfg.Events = func(Event) {}
			}
			res, err := Run(cfg)
			if err != nil || res.ExitCode() != 0 {
				t.Fatalf("Run: %v, exit %d", err, res.ExitCode())
			}
			got, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			gl, nl := strings.Split(string(got), "\n"), strings.Split(string(nat), "\n")
			for i := range nl {
				if i >= len(gl) || gl[i] != nl[i] {
					g := "(missing)"
					if i < len(gl) {
						g = gl[i]
					}
					t.Errorf("line %d:\nnative:  %s\nguarded: %s", i+1, nl[i], g)
				}
			}
			if res.Stops < 5 {
				t.Errorf("%d stops: the calls were not trapped", res.Stops)
			}
			if c.oneStop != (res.OneStop > 0) {
				t.Errorf("%d rewrites took one stop; want some: %v", res.OneStop, c.oneStop)
			}
			if carryRestarts != 0 {
				t.Errorf("%d of %d restarts not made: the carry path was not taken", carryRestarts, c.restarts)
			}
		})
	}
}

// TestOneStopUnderSignals: failing one-stop rewrites interrupted by
// signal handlers that make the same call on an alternate stack above
// (and below) the thread's stack: every call gets its own result, and
// the program runs to its end.
func TestOneStopUnderSignals(t *testing.T) {
	bin := buildC(t, "tramp_signals", "-pthread")
	for _, where := range []string{"high", "low"} {
		t.Run(where, func(t *testing.T) {
			out, res := guarded(t, bin, "3000", where)
			if res.ExitCode() != 0 || !strings.Contains(out, "bad results: 0") {
				t.Fatalf("exit %d:\n%s", res.ExitCode(), out)
			}
			if res.OneStop == 0 {
				t.Errorf("no one-stop rewrite: the path was not tested")
			}
		})
	}
}

// TestOneStopNoRoom: a rewritten call made with the stack pointer just
// above a guard page. The one-stop frame has no room there, so the frame
// path takes two stops instead of writing into the guard page; the
// carry code's push of the flags faults there, and the guard finishes
// the call at that fault without the program seeing it.
func TestOneStopNoRoom(t *testing.T) {
	bin := buildC(t, "lowstack")
	for _, frame := range []bool{false, true} {
		noCarry = frame
		out, res := guarded(t, bin)
		noCarry = false
		if res.ExitCode() != 0 || out != "mmap = an address outside the range\n" {
			t.Fatalf("frame path %v: exit %d (%v):\n%s", frame, res.ExitCode(), res.Status, out)
		}
		if res.Stops == 0 || (frame && res.OneStop != 0) || (!frame && res.OneStop == 0) {
			t.Errorf("frame path %v: %d stops, %d one-stop rewrites", frame, res.Stops, res.OneStop)
		}
	}
}
