package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLowDescriptorLimit: under a descriptor limit that leaves mmapguard
// a few descriptors, each command works or fails with a message that
// names the limit; the Go runtime never dies with a stack dump. The
// runtime's poller, which os.Open starts on its first file, needs two
// descriptors of its own and, when they do not fit, killed mmapguard
// ("fatal error: runtime: eventfd failed", status 2) at ulimit -n 6 and
// 7 for run -o, explain -o, maps and inspect, and at 8 for run -o with
// lines to log. A run that fails leaves no -o file it created.
func TestLowDescriptorLimit(t *testing.T) {
	bin := mmapguardBin(t)
	dir := t.TempDir()
	self := fmt.Sprint(os.Getpid())
	for _, n := range []int{4, 5, 6, 7, 8} {
		for _, c := range []struct {
			name string
			args []string
			file string // the -o FILE
			fail int    // the status of an error
		}{
			{"run-o", []string{"run", "-q", "--protect", lowRange, "-o", "run.log", "--", "/bin/true"}, "run.log", exitError},
			// With lines to log: the timer that flushes them within
			// flushDelay started the poller, and died at 8 (the
			// eighteenth session).
			{"run-o-events", []string{"run", "-q", "--pool-all", "--protect", lowRange, "-o", "events.log", "--", "/bin/true"}, "events.log", exitError},
			{"explain-o", []string{"explain", "-q", "--protect", lowRange, "-o", "explain.txt"}, "explain.txt", exitError},
			// (A range this process leaves free: maps says 1 for a
			// collision, 2 for an error.)
			{"maps", []string{"maps", "-p", self, "--protect", "0x10000+64K"}, "", 2},
			{"inspect", []string{"inspect", "/bin/true"}, "", exitError},
		} {
			t.Run(fmt.Sprintf("%s/%d", c.name, n), func(t *testing.T) {
				if c.file != "" {
					_ = os.Remove(filepath.Join(dir, c.file))
				}
				sh := append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$@"`, n), "sh", bin}, c.args...)
				r := runBin(t, "sh", func(cmd *exec.Cmd) { cmd.Dir = dir }, sh...)
				if strings.Contains(r.stderr, "fatal error") || strings.Contains(r.stderr, "goroutine ") || r.sig != 0 {
					t.Fatalf("the runtime died:\n%v", r)
				}
				switch {
				case r.code == 0:
				case r.code == c.fail && strings.Contains(r.stderr, "descriptor limit (ulimit -n "):
					if c.file != "" {
						if _, err := os.Stat(filepath.Join(dir, c.file)); err == nil {
							t.Errorf("the run failed and left its -o file:\n%v", r)
						}
					}
				default:
					t.Errorf("want success, or status %d naming the descriptor limit:\n%v", c.fail, r)
				}
			})
		}
	}
}
