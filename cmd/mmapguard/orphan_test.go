package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunOrphanedStoppedChild: a program that ends leaving a stopped
// child behind (testdata/orphanstop.c), run as a shell runs a job, in a
// process group of its own whose parent (the test) is in another group
// of the same session. Natively its group is orphaned when it ends, and
// the kernel sends the stopped group SIGHUP and SIGCONT: the child's
// handler says so and the child ends. Under the guard mmapguard, a
// member of that group whose parent is the test, kept it from being
// orphaned: the child got nothing, stayed stopped, and mmapguard waited
// for it for good (a terminal hung where natively the command returned
// at once; strace -f does the same).
func TestRunOrphanedStoppedChild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "orphanstop")
	if out, err := exec.Command("cc", "-Wall", "-o", bin, "../../testdata/orphanstop.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	for _, guard := range []bool{false, true} {
		name := "native"
		if guard {
			name = "guarded"
		}
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin)
			if guard {
				cmd = exec.CommandContext(ctx, mmapguardBin(t), guardArgs(bin)...)
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.WaitDelay = 5 * time.Second // natively the child holds stdout until it ends
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatalf("did not end within 20s (the stopped child was not hung up); stdout %q, stderr %q", stdout.String(), stderr.String())
			}
			if err != nil {
				t.Fatalf("%v; stdout %q, stderr %q", err, stdout.String(), stderr.String())
			}
			for _, want := range []string{"parent exits", "child got SIGHUP"} {
				if !strings.Contains(stdout.String(), want+"\n") {
					t.Errorf("no line %q; stdout %q, stderr %q", want, stdout.String(), stderr.String())
				}
			}
		})
	}
}
