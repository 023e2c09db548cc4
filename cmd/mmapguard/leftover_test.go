package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunSignalAfterEnd: a program that leaves a daemon behind (a
// child in a session of its own, as `erl -sname` leaves `epmd
// -daemon`) and ends. mmapguard waits for the daemon, as for every
// process it guards; a SIGTERM sent to it then (timeout(1)'s, a
// user's) must reach the daemon, and mmapguard end with the program's
// status. It went to the ended program's pid and was lost: `timeout 10
// mmapguard run -- erl -sname a -eval 'halt().'` never returned, and
// only SIGKILL ended mmapguard.
func TestRunSignalAfterEnd(t *testing.T) {
	dir := t.TempDir()
	prog := compileC(t, dir, "daemonize", `#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
	int p[2];
	if (pipe(p) != 0)
		return 1;
	if (fork() == 0) {
		close(p[0]);
		setsid();
		int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dprintf(fd, "%d\n", getpid());
		close(fd);
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0), dup2(null, 1), dup2(null, 2);
		close(p[1]);
		for (;;)
			pause(); /* until a signal ends it */
	}
	close(p[1]);
	char b;
	(void)read(p[0], &b, 1); /* EOF: the daemon is set up */
	printf("started\n");
	return 3;
}
`)
	pidFile := filepath.Join(dir, "daemon.pid")
	cmd := exec.Command(mmapguardBin(t), guardArgs(prog, pidFile)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if line != "started\n" {
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("stdout %q, want started; stderr %q", line, stderr.String())
	}
	// The program has ended once mmapguard has no child left (the
	// daemon's parent is another process then).
	deadline := time.Now().Add(10 * time.Second)
	for hasChildren(cmd.Process.Pid) {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the program did not end; stderr %q", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	daemon, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	select {
	case err := <-done:
		t.Fatalf("mmapguard ended (%v) with the daemon %d still running", err, daemon)
	case <-time.After(100 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			t.Errorf("mmapguard ended with %v, want the program's status 3; stderr %q", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("mmapguard did not end within 10 s of a SIGTERM sent once the program had ended (the daemon %d never got it); stderr %q", daemon, stderr.String())
	}
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(daemon) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") {
		t.Errorf("the daemon %d still runs: %s", daemon, st)
	}
}

// hasChildren reports whether any thread of process pid has a child.
func hasChildren(pid int) bool {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, f := range tasks {
		if b, err := os.ReadFile(f); err == nil && strings.TrimSpace(string(b)) != "" {
			return true
		}
	}
	return false
}
