package trace

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
	"golang.org/x/sys/unix"
)

// TestRegistersPreserved: every register after a trapped call is what
// the kernel leaves natively (testdata/regs.c prints them), whichever
// way the guard carries the call out: rewritten with one stop (the code
// page, with or without a pool), rewritten with two (event log on, or
// the one-stop path off), failing after the rewrite, answered without
// the kernel.
func TestRegistersPreserved(t *testing.T) {
	bin := buildC(t, "regs")
	nat, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("native run: %v\n%s", err, nat)
	}
	if n := strings.Count(string(nat), "\n"); n != 7 {
		t.Fatalf("native run printed %d lines, want 7:\n%s", n, nat)
	}
	withPool, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, false, false)
	if err != nil {
		t.Fatal(err)
	}
	noPool, err := rewrite.NewPolicy([]region.Range{lowRange}, region.Range{}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		p        *rewrite.Policy
		events   bool
		off      bool
		noCarry  bool // rewrites of a hint take the frame path
		restarts int  // carry rewrites returned to a restart
		oneStop  bool // some rewrites take one stop
	}{
		{"one-stop", withPool, false, false, false, 0, true},
		{"events", withPool, true, false, false, 0, false},
		{"no-pool", noPool, false, false, false, 0, true},
		{"one-stop-off", withPool, false, true, false, 0, false},
		{"frame", withPool, false, false, true, 0, true},
		{"frame-no-pool", noPool, false, false, true, 0, true},
		{"carry-restart", withPool, false, false, false, 3, true},
		{"carry-restart-no-pool", noPool, false, false, false, 3, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			noOneStop, noCarry, carryRestarts = c.off, c.noCarry, c.restarts
			defer func() { noOneStop, noCarry, carryRestarts = false, false, 0 }()
			out, err := os.CreateTemp(t.TempDir(), "out")
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			cfg := Config{Policy: c.p, Filter: seccomp.Policy{Guarded: c.p.Guarded(), Protected: c.p.Protected},
				Path: bin, Args: []string{bin}, Stdout: out}
			if c.events {
				cfg.Events = func(Event) {}
			}
			res, err := Run(cfg)
			if err != nil || res.ExitCode() != 0 {
				t.Fatalf("Run: %v, exit %d", err, res.ExitCode())
			}
			got, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			gl, nl := strings.Split(string(got), "\n"), strings.Split(string(nat), "\n")
			for i := range nl {
				if i >= len(gl) || gl[i] != nl[i] {
					g := "(missing)"
					if i < len(gl) {
						g = gl[i]
					}
					t.Errorf("line %d:\nnative:  %s\nguarded: %s", i+1, nl[i], g)
				}
			}
			if res.Stops < 5 {
				t.Errorf("%d stops: the calls were not trapped", res.Stops)
			}
			if c.oneStop != (res.OneStop > 0) {
				t.Errorf("%d rewrites took one stop; want some: %v", res.OneStop, c.oneStop)
			}
			if c.restarts > 0 && carryRestarts == c.restarts {
				// (A call made with the stack pointer within 136 bytes of
				// a page's start takes the frame path instead.)
				t.Errorf("no restart made: the carry path was not taken")
			}
		})
	}
}

// TestOneStopUnderSignals: failing one-stop rewrites interrupted by
// signal handlers that make the same call on an alternate stack above
// (and below) the thread's stack: every call gets its own result, and
// the program runs to its end.
func TestOneStopUnderSignals(t *testing.T) {
	bin := buildC(t, "tramp_signals", "-pthread")
	for _, where := range []string{"high", "low"} {
		t.Run(where, func(t *testing.T) {
			out, res := guarded(t, bin, "3000", where)
			if res.ExitCode() != 0 || !strings.Contains(out, "bad results: 0") {
				t.Fatalf("exit %d:\n%s", res.ExitCode(), out)
			}
			if res.OneStop == 0 {
				t.Errorf("no one-stop rewrite: the path was not tested")
			}
		})
	}
}

// TestOneStopNoRoom: a rewritten call made where nothing can be written
// just below the stack pointer (testdata/lowstack.c): 64 bytes above a
// guard page, or 200 bytes into a read-only page. The frame path finds
// no room for its frame and takes two stops; the carry path writes no
// memory and takes one. Either way the program gets the registers, flags
// and SIGSEGV state it has natively, and the mapping outside the range.
func TestOneStopNoRoom(t *testing.T) {
	bin := buildC(t, "lowstack")
	for _, where := range []string{"guard", "readonly"} {
		nat, err := exec.Command(bin, where).Output()
		if err != nil {
			t.Fatalf("native run: %v\n%s", err, nat)
		}
		natLines := strings.Split(string(nat), "\n")
		if len(natLines) < 2 || !strings.HasPrefix(natLines[1], "r11 = flags") {
			t.Fatalf("native run:\n%s", nat)
		}
		for _, frame := range []bool{false, true} {
			noCarry = frame
			out, res := guarded(t, bin, where)
			noCarry = false
			lines := strings.Split(out, "\n")
			if res.ExitCode() != 0 || lines[0] != "mmap = an address outside the range" || len(lines) < 2 {
				t.Fatalf("%s, frame path %v: exit %d (%v):\n%s", where, frame, res.ExitCode(), res.Status, out)
			}
			if lines[1] != natLines[1] {
				t.Errorf("%s, frame path %v:\nnative:  %s\nguarded: %s", where, frame, natLines[1], lines[1])
			}
			if res.Stops == 0 || frame != (res.OneStop == 0) {
				t.Errorf("%s, frame path %v: %d stops, %d one-stop rewrites", where, frame, res.Stops, res.OneStop)
			}
		}
	}
}

// TestOneStopForkInHandler: a signal handler runs as each one-stop
// rewrite returns into the code page (the guard sends the signal with the
// rewrite) and forks; the child returns from it into the code page too,
// with a copy of the parent's guard, and finishes the call as the parent
// does: on the carry path and the frame path, succeeding and failing.
func TestOneStopForkInHandler(t *testing.T) {
	bin := buildC(t, "tramp_fork")
	oneStopSignal = syscall.SIGUSR1
	out, res := guarded(t, bin)
	oneStopSignal = 0
	// One signal per one-stop rewrite: the 8 mmaps and the munmaps of
	// the 4 that succeeded (in the pool, their reservations put back).
	if res.ExitCode() != 0 || out != "handled 12, bad results 0, bad children 0\n" || res.OneStop != 12 {
		t.Errorf("exit %d (%v), %d one-stop rewrites:\n%s", res.ExitCode(), res.Status, res.OneStop, out)
	}
}

// TestCarryUnderProgramFilter: the carry path puts the program's rdi in
// the descriptor of an anonymous mmap, which the kernel ignores but a
// seccomp filter of the program's sees. A program with a filter that
// refuses such a call (testdata/own_filter_fd.c, which installs it after
// a first rewrite) gets its rewrites on the frame path from then on, and
// its calls succeed as natively.
func TestCarryUnderProgramFilter(t *testing.T) {
	bin := buildC(t, "own_filter_fd")
	want := strings.Repeat("mmap succeeded\n", 5)
	if nat, err := exec.Command(bin).Output(); err != nil || string(nat) != want {
		t.Fatalf("native run: %v\n%s", err, nat)
	}
	out, res := guarded(t, bin)
	if res.ExitCode() != 0 || out != want {
		t.Errorf("exit %d (%v):\n%s", res.ExitCode(), res.Status, out)
	}
	if res.OneStop == 0 {
		t.Errorf("no one-stop rewrite: the calls were not rewritten")
	}
}

// TestMmapFileLateFail: which descriptors mmapFile takes for files whose
// mmap method may fail after the kernel has unmapped a MAP_FIXED target
// (the other threads are then held, see rewrite.Call.LateFail), looked
// at in this process: a regular file of tmpfs (a memfd) is not one
// unless mapped with MAP_SYNC; a device, a directory and huge pages are.
func TestMmapFileLateFail(t *testing.T) {
	// A memfd: a regular file of tmpfs, whatever file system the test
	// runs on (overlayfs, in a container, is not one whose files are
	// taken as safe).
	mfd, err := unix.MemfdCreate("latefail", 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(mfd), "memfd:latefail")
	defer f.Close()
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	dir, err := os.Open(".")
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	pid := os.Getpid()
	for _, c := range []struct {
		name  string
		flags uint64
		fd    uintptr
		want  bool
	}{
		{"a regular file", rewrite.MapShared, f.Fd(), false},
		{"a regular file, MAP_SYNC", rewrite.MapSharedValidate | rewrite.MapSync, f.Fd(), true},
		{"a regular file, MAP_SYNC without MAP_SHARED_VALIDATE (ignored)", rewrite.MapShared | rewrite.MapSync, f.Fd(), false},
		{"/dev/zero", rewrite.MapPrivate, zero.Fd(), true},
		{"a directory", rewrite.MapPrivate, dir.Fd(), true},
		{"anonymous", rewrite.MapPrivate | rewrite.MapAnonymous, ^uintptr(0), false},
		{"MAP_HUGETLB", rewrite.MapPrivate | rewrite.MapAnonymous | rewrite.MapHugetlb, ^uintptr(0), true},
		{"no such descriptor", rewrite.MapPrivate, 9999, false},
	} {
		if _, got, _ := mmapFile(pid, c.flags, uint64(c.fd)); got != c.want {
			var fs unix.Statfs_t
			_ = unix.Fstatfs(int(f.Fd()), &fs)
			t.Errorf("%s: lateFail %v, want %v (the file is on a file system of type %#x)", c.name, got, c.want, fs.Type)
		}
	}
}
