package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// dieC ends by signal N (argv[1]), with the default action for it and
// no core file of its own; "segv" makes a real invalid access instead.
const dieC = `#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
int main(int argc, char **argv) {
	struct rlimit no = {0, 0};
	setrlimit(RLIMIT_CORE, &no);
	if (strcmp(argv[1], "segv") == 0)
		*(volatile int *)8 = 1;
	int sig = atoi(argv[1]);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, 0);
	signal(sig, SIG_DFL);
	raise(sig);
	return 100;
}
`

// TestRunDiesOfProgramSignal: when signal N kills the program, mmapguard
// dies of N too, as strace does, so that its parent sees what it would
// see without the guard (a shell stops a loop on SIGINT, prints
// "Terminated"; make says "Interrupt"). Nothing of the Go runtime's shows
// (no goroutine dump for SIGQUIT, no crash report for a SIGSEGV), and
// mmapguard dumps no core of its own: it runs with the hard limit of
// RLIMIT_CORE as its soft limit here, and its status must not say
// "core dumped".
func TestRunDiesOfProgramSignal(t *testing.T) {
	die := compileC(t, t.TempDir(), "die", dieC)
	// exec keeps the pid: the status is mmapguard's.
	withCore := `ulimit -c "$(ulimit -H -c)"; exec "$0" "$@"`
	cases := []struct {
		arg string
		sig syscall.Signal
	}{
		{strconv.Itoa(int(syscall.SIGTERM)), syscall.SIGTERM},
		{strconv.Itoa(int(syscall.SIGINT)), syscall.SIGINT},
		{strconv.Itoa(int(syscall.SIGHUP)), syscall.SIGHUP},
		{strconv.Itoa(int(syscall.SIGPIPE)), syscall.SIGPIPE},
		{strconv.Itoa(int(syscall.SIGUSR1)), syscall.SIGUSR1},
		{strconv.Itoa(int(syscall.SIGKILL)), syscall.SIGKILL},
		{strconv.Itoa(int(syscall.SIGQUIT)), syscall.SIGQUIT},
		{strconv.Itoa(int(syscall.SIGABRT)), syscall.SIGABRT},
		{strconv.Itoa(int(syscall.SIGSEGV)), syscall.SIGSEGV},
		{strconv.Itoa(int(syscall.SIGBUS)), syscall.SIGBUS},
		{strconv.Itoa(int(syscall.SIGFPE)), syscall.SIGFPE},
		{"segv", syscall.SIGSEGV},
		{"40", syscall.Signal(40)}, // a real-time signal
	}
	for _, c := range cases {
		name := unix.SignalName(c.sig)
		if c.arg == "segv" {
			name += "_fault"
		} else if name == "" {
			name = "signal_" + c.arg
		}
		t.Run(name, func(t *testing.T) {
			args := append([]string{"-c", withCore, mmapguardBin(t)}, guardArgs(die, c.arg)...)
			// mmapguard's working directory, where a core file
			// named "core" would land.
			r := runBin(t, "sh", func(cmd *exec.Cmd) { cmd.Dir = t.TempDir() }, args...)
			if r.sig != c.sig || r.core || r.stdout != "" || r.stderr != "" {
				t.Errorf("want mmapguard killed by %v, no core dump and no output; got %v", c.sig, r)
			}
		})
	}
	// Main, for callers in the same process, returns 128+N.
	if r := callMain(guardArgs(die, strconv.Itoa(int(syscall.SIGTERM)))...); r.code != 128+int(syscall.SIGTERM) || r.stderr != "" {
		t.Errorf("Main: want 143 and nothing on stderr; got %v", r)
	}
}

// TestRunStderrClosed: a warning mmapguard writes to a stderr whose
// reader is gone (a pipe closed) fails with EPIPE; it must not end
// mmapguard with SIGPIPE, which would take the program with it
// (PTRACE_O_EXITKILL). The program here execs a non-PIE image in the
// protected range, which makes mmapguard warn, then finishes its work.
func TestRunStderrClosed(t *testing.T) {
	dir := t.TempDir()
	src, nopie := filepath.Join(dir, "nopie.c"), filepath.Join(dir, "nopie")
	if err := os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cc", "-no-pie", "-o", nopie, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	done := filepath.Join(dir, "done")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close() // nobody reads mmapguard's stderr
	defer w.Close()
	script := "sleep 0.2; " + nopie + "; echo done > " + done
	cmd := exec.Command(mmapguardBin(t), guardArgs("sh", "-c", script)...)
	cmd.Stderr = w
	err = cmd.Run()
	if b, _ := os.ReadFile(done); err != nil || string(b) != "done\n" {
		t.Errorf("mmapguard: %v (%v); the program's work: %q, want \"done\\n\"", err, cmd.ProcessState, b)
	}
}
