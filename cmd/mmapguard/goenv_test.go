package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRunOwnRuntime: GOGC, GOMEMLIMIT and GOMAXPROCS set for the program
// reach it unchanged, and are not mmapguard's: with GOMEMLIMIT=1KiB its
// runtime collected its garbage every few stops (948 collections for 50
// execs under --trace-all; GODEBUG=gctrace=1 counts them on mmapguard's
// stderr). Those before main stay (some 90 here): fewer than the execs.
func TestRunOwnRuntime(t *testing.T) {
	const execs = 200
	env := func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "GOGC=1", "GOMEMLIMIT=1KiB", "GOMAXPROCS=1", "GODEBUG=gctrace=1")
	}
	r := runBin(t, mmapguardBin(t), env, "run", "--protect", lowRange, "--trace-all", "--", "sh", "-c",
		`i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i+1)); done; echo "$GOGC $GOMEMLIMIT $GOMAXPROCS"`)
	if r.code != 0 || r.stdout != "1 1KiB 1\n" {
		t.Fatalf("%v, stdout %q; want exit 0 and the program's environment unchanged, %q", r, r.stdout, "1 1KiB 1\n")
	}
	n := 0
	for l := range strings.SplitSeq(r.stderr, "\n") {
		if strings.HasPrefix(l, "gc ") {
			n++
		}
	}
	if n >= execs {
		t.Errorf("mmapguard collected its garbage %d times for %d execs: GOMEMLIMIT meant for the program was its own", n, execs)
	}
}
