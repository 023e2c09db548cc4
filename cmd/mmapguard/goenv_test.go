package main

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestRunOwnRuntime: GOGC, GOMEMLIMIT and GOMAXPROCS set for the program
// reach it unchanged, and are not mmapguard's: with GOMEMLIMIT=1KiB its
// runtime collected its garbage every few stops (948 collections for 50
// execs under --trace-all; GODEBUG=gctrace=1 counts them on mmapguard's
// stderr), with GOGC=1 a few times in 200 execs where it otherwise does
// not at all, and with GOMAXPROCS=1 it ran on one processor. Those
// before main stay: from 50 to 190 collections here, as many as the
// execs, so that the count of them all could not tell (nor did it look
// at GOMAXPROCS). gctrace's lines end with the number of processors,
// schedtrace's begin with it: where mmapguard's own is more than one,
// the collections after main are those with that many.
func TestRunOwnRuntime(t *testing.T) {
	const execs = 200
	procs := runtime.GOMAXPROCS(0) // mmapguard's own, as the test's runtime has it
	if os.Getenv("GOMAXPROCS") != "" {
		procs = 0 // (not known)
	}
	env := func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "GOGC=1", "GOMEMLIMIT=1KiB", "GOMAXPROCS=1", "GODEBUG=gctrace=1,schedtrace=5")
	}
	type count struct {
		all, after int    // collections; those with procs processors
		sched      string // schedtrace's last count of processors
	}
	run := func(n int) count {
		t.Helper()
		r := runBin(t, mmapguardBin(t), env, "run", "--protect", lowRange, "--trace-all", "--", "sh", "-c",
			`i=0; while [ $i -lt `+strconv.Itoa(n)+` ]; do /bin/true; i=$((i+1)); done; echo "$GOGC $GOMEMLIMIT $GOMAXPROCS"`)
		if r.code != 0 || r.stdout != "1 1KiB 1\n" {
			t.Fatalf("%v, stdout %q; want exit 0 and the program's environment unchanged, %q", r, r.stdout, "1 1KiB 1\n")
		}
		var c count
		for l := range strings.SplitSeq(r.stderr, "\n") {
			if strings.HasPrefix(l, "gc ") {
				c.all++
				if strings.HasSuffix(l, " "+strconv.Itoa(procs)+" P") {
					c.after++
				}
			}
			if f := strings.Fields(l); len(f) > 2 && f[0] == "SCHED" {
				c.sched = f[2]
			}
		}
		return c
	}
	c := run(execs)
	if procs < 2 {
		// Collections before main and after cannot be told apart:
		// against a run without the execs, only GOMEMLIMIT's show.
		if before := run(0); c.all-before.all >= 2*execs {
			t.Errorf("mmapguard collected its garbage %d times for %d execs (%d without them): GOMEMLIMIT meant for the program was its own",
				c.all, execs, before.all)
		}
		return
	}
	if c.after >= 2 {
		t.Errorf("mmapguard collected its garbage %d times after main for %d execs: GOGC or GOMEMLIMIT meant for the program was its own", c.after, execs)
	}
	if c.sched != "gomaxprocs="+strconv.Itoa(procs) {
		t.Errorf("mmapguard's runtime last had %s, want gomaxprocs=%d: GOMAXPROCS meant for the program was its own", c.sched, procs)
	}
}
