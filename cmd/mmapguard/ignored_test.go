package main

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// sigIgnOf is a shell command that prints the SigIgn line of its own
// /proc status: the signals it started with ignored.
const sigIgnOf = `grep SigIgn /proc/$$/status`

// TestRunKeepsIgnoredSignals: a signal mmapguard was started with
// ignored reaches the program ignored, as it would without the guard (a
// shell's trap ” PIPE, a background job's SIGINT and SIGQUIT, nohup's
// SIGHUP, systemd's SIGPIPE). The Go runtime replaces all but SIGHUP and
// SIGINT with its own handler before mmapguard's code runs. SIGCHLD is
// the one left out (the tracer needs its children's exits).
func TestRunKeepsIgnoredSignals(t *testing.T) {
	bin := mmapguardBin(t)
	for _, traps := range []string{"PIPE TERM USR1 QUIT ALRM TSTP TTOU WINCH", "HUP INT", "INT QUIT", "USR2 40", ""} {
		t.Run(strings.ReplaceAll(traps, " ", "_")+"_", func(t *testing.T) {
			native, err := exec.Command("sh", "-c", "trap '' "+traps+" 2>/dev/null; sh -c '"+sigIgnOf+"'").Output()
			if err != nil {
				t.Fatalf("native: %v", err)
			}
			if traps != "" && strings.TrimSpace(string(native)) == "SigIgn:\t0000000000000000" {
				t.Fatalf("sh did not ignore %s: %s", traps, native)
			}
			script := "trap '' " + traps + " 2>/dev/null; exec \"$0\" \"$@\""
			r := runBin(t, "sh", nil, append([]string{"-c", script, bin}, guardArgs("sh", "-c", sigIgnOf)...)...)
			if r.code != 0 || r.stdout != string(native) {
				t.Errorf("guarded: %v\nwant stdout %q", r, native)
			}
		})
	}
}

// termHandlerC installs its own SIGTERM handler whatever it started
// with, says so, and waits for the signal.
const termHandlerC = `#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static void on(int s) { (void)s; write(1, "got TERM\n", 9); _exit(3); }
int main(void) {
	signal(SIGTERM, on);
	puts("ready");
	fflush(stdout);
	for (int i = 0; i < 200; i++)
		usleep(50000);
	return 1;
}
`

// TestRunForwardsSignalIgnoredAtStart: a signal mmapguard was started
// with ignored is still forwarded once the program exists: a program
// that installs its own handler for it gets a SIGTERM sent to
// mmapguard, as it would get one sent to it without the guard.
func TestRunForwardsSignalIgnoredAtStart(t *testing.T) {
	prog := compileC(t, t.TempDir(), "termh", termHandlerC)
	script := "trap '' TERM; exec \"$0\" \"$@\""
	l := startCmd(t, exec.Command("sh", append([]string{"-c", script, mmapguardBin(t)}, guardArgs(prog)...)...))
	l.waitLine(t, "ready")
	if err := syscall.Kill(l.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := l.exitCode(t, "mmapguard after SIGTERM"); code != 3 {
		t.Errorf("exit %d, want 3 (the program's handler)", code)
	}
}
