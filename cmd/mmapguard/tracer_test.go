package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// reachTracerC tries every way a program has into its tracer's
// process when both run as the same user: ptrace it (then it could make
// the guard's calls itself, or detach its own threads from the guard),
// write its memory through /proc/PID/mem or process_vm_writev, or take
// a descriptor of its with pidfd_getfd. It prints one line per route.
const reachTracerC = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
static int tracer(void) {
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "TracerPid:", 10) == 0)
			return atoi(line + 10);
	return 0;
}
static void report(const char *route, long r) {
	printf("%s %s\n", route, r < 0 ? "refused" : "REACHED");
}
int main(void) {
	int t = tracer();
	if (t <= 0) {
		puts("not traced");
		return 1;
	}
	report("ptrace-seize", ptrace(PTRACE_SEIZE, t, 0, 0));
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", t);
	report("proc-mem", open(path, O_RDWR));
	char byte = 0;
	struct iovec local = {&byte, 1}, remote = {(void *)0x400000, 1};
	long n = process_vm_readv(t, &local, 1, &remote, 1, 0);
	report("process-vm", n < 0 && errno == EFAULT ? 0 : n);
	int pfd = syscall(SYS_pidfd_open, t, 0);
	report("pidfd-getfd", pfd < 0 ? -1 : syscall(SYS_pidfd_getfd, pfd, 2, 0));
	return 0;
}
`

// nobodyCopy makes a directory uid 65534 can use, with a copy of the
// mmapguard binary in it, and returns both; and the process attributes
// that run a command as that user.
func nobodyCopy(t *testing.T) (dir, mg string, attr *syscall.SysProcAttr) {
	t.Helper()
	dir, err := os.MkdirTemp("", "mmapguard-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mg = filepath.Join(dir, "mmapguard")
	b, err := os.ReadFile(mmapguardBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mg, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, mg, &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
}

// TestRunTracerUnreachable: a program running as the same user as
// mmapguard cannot reach into mmapguard's process (it is not dumpable),
// which would let it undo the guard (docs/escapes.md). Both run as an
// unprivileged user here: root's CAP_SYS_PTRACE passes that check.
func TestRunTracerUnreachable(t *testing.T) {
	dir, mg, nobody := nobodyCopy(t)
	prog := compileC(t, dir, "reach", reachTracerC)
	r := runBin(t, mg, func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, guardArgs(prog)...)
	want := "ptrace-seize refused\nproc-mem refused\nprocess-vm refused\npidfd-getfd refused\n"
	if r.code != 0 || r.stdout != want {
		t.Errorf("as uid 65534: %v\nwant stdout:\n%s", r, want)
	}
	if strings.Contains(r.stdout, "REACHED") {
		t.Error("the program reached into mmapguard's process")
	}
}

// TestRunExecuteOnlyProgram: a file its user may run but not read (mode
// 0711, root's) makes its process not dumpable, and the kernel lets an
// unprivileged tracer neither write its memory nor run the guard's calls
// in it. It runs natively, and cannot be guarded: killed before its first
// instruction (fail closed), and the message says why and what to do
// (before, only "input/output error").
func TestRunExecuteOnlyProgram(t *testing.T) {
	dir, mg, nobody := nobodyCopy(t)
	prog := filepath.Join(dir, "xonly")
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prog, b, 0o711); err != nil {
		t.Fatal(err)
	}
	asNobody := func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }
	if r := runBin(t, prog, asNobody); r.code != 0 {
		t.Fatalf("natively, as uid 65534: %v", r)
	}
	const hint = "the program is not dumpable, as after the exec of a file its user may run but not read"
	// The first program, and one its shell runs.
	r := runBin(t, mg, asNobody, guardArgs(prog)...)
	if r.code == 0 || !strings.Contains(r.stderr, "installing the seccomp filter in the program") || !strings.Contains(r.stderr, hint) {
		t.Errorf("the first program, as uid 65534: %v", r)
	}
	r = runBin(t, mg, asNobody, guardArgs("/bin/sh", "-c", prog+"; echo $?")...)
	if r.stdout != "137\n" || !strings.Contains(r.stderr, "cannot run the reservation calls") || !strings.Contains(r.stderr, hint) {
		t.Errorf("a child, as uid 65534: want it killed (137) with the hint; %v", r)
	}
}

// TestRunBelowMinAddr: a range that starts below vm.mmap_min_addr, which
// an unprivileged mmapguard cannot reserve, is a usage error before
// anything runs, not a program killed at its exec.
func TestRunBelowMinAddr(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/vm/mmap_min_addr")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(b)) == "0" {
		t.Fatal("vm.mmap_min_addr is 0 here: nothing lies below it to test")
	}
	dir, mg, nobody := nobodyCopy(t)
	r := runBin(t, mg, func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, "run", "--protect", "0x0-0x80000000", "--", "/bin/true")
	if r.code != exitUsage || !strings.Contains(r.stderr, "starts below vm.mmap_min_addr") {
		t.Errorf("as uid 65534: %v", r)
	}
	// Root of a user namespace of its own (a rootless container) has
	// CAP_SYS_RAWIO there, which the kernel does not count for this.
	r = runBin(t, "unshare", func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, "-r", mg, "run", "--protect", "0x0-0x80000000", "--", "/bin/true")
	if r.code != exitUsage || !strings.Contains(r.stderr, "starts below vm.mmap_min_addr") {
		t.Errorf("as root of a user namespace of uid 65534's: %v", r)
	}
	// explain refuses what run refuses (its --help promises status 2
	// for such a policy), and a pool at 0 is refused as for root.
	for _, args := range [][]string{
		{"explain", "-q", "--protect", "0x0-0x80000000"},
		{"explain", "-q", "--protect", "0x10000000-0x80000000", "--pool", "0+16M"},
		{"run", "--protect", "0x10000000-0x80000000", "--pool", "0+16M", "--", "/bin/true"},
	} {
		r = runBin(t, mg, func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, args...)
		if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, "starts below") {
			t.Errorf("mmapguard %q as uid 65534: want exit 2 and nothing printed; got %v", args, r)
		}
	}
}

// TestRunNotDumpableProgram: a program that makes itself not dumpable
// keeps an unprivileged tracer from reading its layout (/proc/PID/maps,
// /proc/PID/fd); the guard then decides what it cannot look up as the
// worst case, not as nothing (found in the sixth session: a huge
// mapping moved out, judged as one page, left a hole). mmapguard and the
// probe run as uid 65534.
func TestRunNotDumpableProgram(t *testing.T) {
	dir, mg, nobody := nobodyCopy(t)
	prog := filepath.Join(dir, "escape_huge")
	if out, err := exec.Command("cc", "-O1", "-pthread", "-o", prog, "../../testdata/escape_huge.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	r := runBin(t, mg, func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, guardArgs(prog, "nodump")...)
	if r.code != 0 || !strings.Contains(r.stdout, "END failures=0") || strings.Contains(r.stdout, "ESCAPED") {
		t.Errorf("as uid 65534, the probe not dumpable: %v", r)
	}
}

// TestRunNotDumpableCloneVM: a program that is not dumpable makes
// clone(CLONE_VM|SIGCHLD) (reported as a fork) with garbage in the upper
// half of rax; kcmp, which would tell that the child shares its memory,
// is refused to an unprivileged mmapguard. The guard took the child for a
// forked copy, and the parent's mprotect then made a reservation
// read-write, with --strict (found in the seventh session). mmapguard and
// the probe run as uid 65534.
func TestRunNotDumpableCloneVM(t *testing.T) {
	dir, mg, nobody := nobodyCopy(t)
	prog := filepath.Join(dir, "escape_clonevm")
	if out, err := exec.Command("cc", "-O1", "-no-pie", "-pthread", "-o", prog, "../../testdata/escape_clonevm.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	args := append([]string{"run", "--strict", "--protect", lowRange, "--"}, prog, "strict")
	r := runBin(t, mg, func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "END failures=0") || strings.Contains(r.stdout, "FAIL") {
		t.Errorf("as uid 65534, the probe not dumpable: %v", r)
	}
}

// TestRunTracerRlimit: a program can lower mmapguard's RLIMIT_NOFILE
// with prlimit(2), which needs no privilege over a process of the same
// user and, unlike ptrace, does not care that mmapguard is not dumpable:
// mmapguard can then open nothing under /proc. Here the probe of
// TestEscapeUffdKill does so (its "nofile" mode) just before it kills
// the vfork (clone(CLONE_VM)) child that moved a mapping out of the
// range; the guard read the parent's /proc/PID/status to learn whether
// it still lives, took the failure for its being gone, killed nothing,
// and the parent's MAP_32BIT (with --strict, i386 mmap2) landed in the
// hole (found in the tenth session). As root and as uid 65534.
func TestRunTracerRlimit(t *testing.T) {
	dir, mg, nobody := nobodyCopy(t)
	prog := filepath.Join(dir, "escape_uffdkill")
	if out, err := exec.Command("cc", "-O1", "-no-pie", "-pthread", "-o", prog, "../../testdata/escape_uffdkill.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	for _, user := range []string{"root", "nobody"} {
		for _, mode := range []string{"vfork", "clonevm"} {
			for _, strict := range []bool{false, true} {
				args := []string{"run", "--protect", lowRange, "--", prog, mode, "nofile"}
				if strict {
					args = []string{"run", "--strict", "--protect", lowRange, "--", prog, mode, "nofile", "strict"}
				}
				setup := func(c *exec.Cmd) { c.Dir = dir }
				if user == "nobody" {
					setup = func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }
				}
				r := runBin(t, mg, setup, args...)
				if strings.Contains(r.stdout, "inside") || strings.Contains(r.stdout, "hole") || strings.Contains(r.stdout, "FAIL") ||
					r.sig != syscall.SIGKILL || !strings.Contains(r.stderr, "fail closed") {
					t.Errorf("as %s, %s, strict=%v: %v", user, mode, strict, r)
				}
			}
		}
	}
}

// TestRunStrictDropsPtraceCap: with --strict, a program running as root
// cannot reach into mmapguard either: it runs without CAP_SYS_PTRACE,
// which passes the dumpability check (found in the sixth session: as
// root, PTRACE_SEIZE of the tracer and /proc/TRACER/mem for writing
// succeeded).
func TestRunStrictDropsPtraceCap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root: it checks what a root program can do")
	}
	prog := compileC(t, t.TempDir(), "reach", reachTracerC)
	want := "ptrace-seize refused\nproc-mem refused\nprocess-vm refused\npidfd-getfd refused\n"
	args := append([]string{"run", "--strict", "--protect", lowRange, "--"}, prog)
	r := mmapguard(t, nil, args...)
	if r.code != 0 || r.stdout != want {
		t.Errorf("as root with --strict: %v\nwant stdout:\n%s", r, want)
	}
	// Also when mmapguard holds the capability in its inheritable and
	// ambient sets (systemd's AmbientCapabilities=), which an exec as
	// root grants besides the bounding set.
	r = mmapguard(t, func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{AmbientCaps: []uintptr{unix.CAP_SYS_PTRACE}}
	}, args...)
	if r.code != 0 || r.stdout != want {
		t.Errorf("as root with CAP_SYS_PTRACE inheritable and ambient, with --strict: %v\nwant stdout:\n%s", r, want)
	}
}

// TestRunNotDumpableForkPoolAll: under an unprivileged mmapguard with
// --pool-all, a program that is not dumpable forks: the child's layout,
// checked at a fork for mappings the kernel did not copy, cannot be
// read, and the child is killed (fail closed; docs/run.md). Its creator
// must go on: it stood in its fork event, never resumed, and the run
// hung. A non-PIE program's forks need no such check. The message names
// the cause and the remedy (running mmapguard as root).
func TestRunNotDumpableForkPoolAll(t *testing.T) {
	dir, mg, nobody := nobodyCopy(t)
	prog := compileC(t, dir, "ndfork", `#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
	prctl(PR_SET_DUMPABLE, 0);
	pid_t c = fork();
	if (c == 0)
		_exit(3);
	int st;
	waitpid(c, &st, 0);
	printf("child %s %d\n", WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return 0;
}
`)
	args := append([]string{"run", "--pool-all", "--protect", lowRange, "--"}, prog)
	r := runBin(t, mg, func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, args...)
	if r.code != 0 || r.stdout != "child signal 9\n" || !strings.Contains(r.stderr, "cannot read a forked child's layout") {
		t.Errorf("as uid 65534 with --pool-all: %v", r)
	}
	// The message says why and what to do, not only which file.
	if !strings.Contains(r.stderr, "the program made itself not dumpable") || !strings.Contains(r.stderr, "run mmapguard as root") {
		t.Errorf("as uid 65534 with --pool-all, the message does not say why the layout cannot be read: %v", r)
	}
	// Without --pool-all, a non-PIE image is the program's only mapping
	// in the range, and nothing of its could be a mapping a child does
	// not inherit (no file mmap or mremap stopped there): the child is
	// not checked, and runs.
	nopie := filepath.Join(dir, "ndfork-nopie")
	if out, err := exec.Command("cc", "-no-pie", "-o", nopie, prog+".c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	r = runBin(t, mg, func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, guardArgs(nopie)...)
	if r.code != 0 || r.stdout != "child exit 3\n" {
		t.Errorf("as uid 65534, a non-PIE program: %v", r)
	}
}

// TestRunStackNotGrownWarning: where the kernel refuses to grow a stack
// in a guarded range over its room at the exec (here mmapguard's own
// hard RLIMIT_STACK, which the program lowers with prlimit, below the
// room), the room is reserved and the warning says the stack cannot
// grow, and why; it named only --strict, i386 programs and the legacy
// layout, none of which applied (found in review).
func TestRunStackNotGrownWarning(t *testing.T) {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("no prlimit")
	}
	r := mmapguard(t, nil, "run", "--protect", "0x7f0000000000-0x7ffffffff000", "--",
		"sh", "-c", "prlimit --pid $PPID --stack=1048576:1048576 && exec true")
	if r.code != 0 || !strings.Contains(r.stderr, "the stack cannot grow") ||
		!strings.Contains(r.stderr, "where the kernel refused to grow it at the exec") {
		t.Errorf("want a warning that the stack cannot grow since the kernel refused it; got %v", r)
	}
}
