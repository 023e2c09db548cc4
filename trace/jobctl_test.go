package trace

import (
	"fmt"
	"testing"
)

// TestJobControlMidCall: a parent stops and continues its children,
// round after round, waiting each time for every child's stop and
// continue reports, while their threads map pages into the range and
// unmap them (the guard puts its reservation back with calls of its own
// in the thread). A stop or continue that comes during those calls must
// take effect as natively: held back and sent again after them, a
// SIGCONT flushed the parent's next stop, and the parent waited for
// good (a stop lost in 200-300 rounds, most runs). Not with a SIGCONT
// the program catches: that one is still held and sent again, and can
// still undo a stop that another thread has taken meanwhile but whose
// report the tracer has not handled yet (a stop in some 10,000 rounds
// on a loaded machine: docs/run.md).
func TestJobControlMidCall(t *testing.T) {
	bin := buildC(t, "jobctl_midcall", "-pthread")
	for _, args := range [][]string{{"19"}, {"20"}} {
		name := "SIGSTOP"
		if args[0] == "20" {
			name = "SIGTSTP"
		}
		t.Run(name, func(t *testing.T) {
			const rounds = 2000
			out, res := guarded(t, append([]string{bin, fmt.Sprint(rounds)}, args...)...)
			if want := fmt.Sprintf("%d rounds, 0 stops and 0 continues lost\n", rounds); res.ExitCode() != 0 || out != want {
				t.Fatalf("exit %d, output:\n%s", res.ExitCode(), out)
			}
		})
	}
}
