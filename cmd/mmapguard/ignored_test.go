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

// blockExecC blocks the signals given as its first argument (numbers,
// comma-separated) and execs the rest of its arguments.
const blockExecC = `#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	sigset_t set;
	sigemptyset(&set);
	for (char *s = strtok(argv[1], ","); s; s = strtok(NULL, ","))
		sigaddset(&set, atoi(s));
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return 100;
	execvp(argv[2], argv + 2);
	perror("execvp");
	return 101;
}
`

// TestRunKeepsSignalMask: the program starts with the signal mask
// mmapguard was started with, as it would without the guard (a parent
// that blocks SIGTERM or SIGCHLD for its child, a job started from a
// signal handler). The Go runtime unblocks SIGHUP, SIGINT, SIGTERM,
// SIGCHLD and others on every thread of its own, and until the
// eighteenth session the program got that mask: a SIGTERM its parent
// had blocked for it killed it.
func TestRunKeepsSignalMask(t *testing.T) {
	bin := mmapguardBin(t)
	blockExec := compileC(t, t.TempDir(), "blockexec", blockExecC)
	// grep itself, not a shell: dash clears its mask as it starts.
	sigBlkOf := []string{"grep", "SigBlk", "/proc/self/status"}
	for _, sigs := range []string{"1,2,15,17", "10,13,40", "3,14,20,26,27,28,62", ""} {
		t.Run(strings.ReplaceAll(sigs, ",", "_")+"_", func(t *testing.T) {
			native, err := exec.Command(blockExec, append([]string{sigs}, sigBlkOf...)...).Output()
			if err != nil {
				t.Fatalf("native: %v", err)
			}
			if sigs != "" && strings.TrimSpace(string(native)) == "SigBlk:\t0000000000000000" {
				t.Fatalf("blockexec blocked nothing: %s", native)
			}
			r := runBin(t, blockExec, nil, append([]string{sigs, bin}, guardArgs(sigBlkOf...)...)...)
			if r.code != 0 || r.stdout != string(native) {
				t.Errorf("guarded: %v\nwant stdout %q", r, native)
			}
		})
	}
}
