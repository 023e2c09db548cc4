package trace

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// Fail closed (issue 4): a tracer-side failure on one tracee is handled
// for that tracee and never stalls the others; a tracee that has left
// its tracer gets ENOSYS for every call the filter would have sent to
// it. (The tracer's own death is cmd/mmapguard's TestRunFailClosed:
// PTRACE_O_EXITKILL kills every tracee.)

// failclosedRun runs argv under the test policy and fails the test if
// the run has not finished within timeout (escapeWatched kills what is
// left of it first, so that a stalled tracer does not outlive the test).
func failclosedRun(t *testing.T, timeout time.Duration, argv ...string) (string, Result) {
	t.Helper()
	out, res, err := escapeWatched(t, testPolicy(t), timeout, argv...)
	if err != nil {
		t.Fatalf("%v: %v; output:\n%s", argv, err, out)
	}
	return out, res
}

// TestFailClosedUnreadableArguments: one process makes i386 old_mmap
// calls whose argument block the tracer cannot read (EFAULT, emulated:
// the tracer's read fails for that call only) while its parent keeps
// making trapped calls; both finish with the expected status. See
// testdata/failclosed_fault.c.
func TestFailClosedUnreadableArguments(t *testing.T) {
	bin := buildC(t, "failclosed_fault")
	const rounds = 300
	out, res := failclosedRun(t, 60*time.Second, bin, fmt.Sprint(rounds))
	if res.ExitCode() != 0 || !strings.Contains(out, "failclosed-fault ok") {
		t.Fatalf("exit %d, output:\n%s", res.ExitCode(), out)
	}
	if res.Processes < 2 {
		t.Errorf("%d processes traced, want 2", res.Processes)
	}
	if e := res.Stats.Outcomes[rewrite.Emulated]; e < rounds {
		t.Errorf("%d emulated answers, want at least %d (one EFAULT per unreadable old_mmap)", e, rounds)
	}
	// The kernel answers EFAULT for a block in PROT_NONE memory, which
	// the tracer could still read with PTRACE_PEEKDATA: it must read the
	// block as the program would, and answer EFAULT too.
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "child info:") && !strings.HasSuffix(l, fmt.Sprint(" errno ", int(unix.EFAULT))) {
			t.Errorf("%s (without the guard: EFAULT, errno %d)", l, int(unix.EFAULT))
		}
	}
}

// TestFailClosedKilledMidStop: processes whose threads are SIGKILLed
// while they are stopped in the tracer (mid-stop, between the steps of
// an action), so that the tracer's next request for them fails with
// ESRCH, must not stall the run: the parent that killed them keeps
// making trapped calls and finishes normally. See
// testdata/failclosed_kill.c.
func TestFailClosedKilledMidStop(t *testing.T) {
	bin := buildC(t, "failclosed_kill", "-pthread")
	const rounds = 20
	out, res := failclosedRun(t, 60*time.Second, bin, fmt.Sprint(rounds))
	if res.ExitCode() != 0 || !strings.Contains(out, "failclosed-kill ok") {
		t.Fatalf("exit %d, output:\n%s", res.ExitCode(), out)
	}
	if res.Processes < rounds+1 {
		t.Errorf("%d processes traced, want %d", res.Processes, rounds+1)
	}
	t.Logf("%d processes, %d stops", res.Processes, res.Stops)
}

// TestFailClosedAfterDetach: a process that has left its tracer (the
// only ways out are the tracer's death, which PTRACE_O_EXITKILL turns
// into SIGKILL, and a detach) gets ENOSYS for every call mmapguard's
// filter sends to the tracer, and so does a child it forks afterwards;
// nothing lands in the protected range or the pool. The filter is the
// one package seccomp builds for the test policy; the fixture installs
// it itself. mmapguard's tracer never detaches, so this test is its
// own tracer: it seizes the fixture, answers one trapped call (EPERM)
// to show the filter does send it to a tracer, and detaches at the
// SIGSTOP the fixture raises next. See testdata/failclosed_detach.c.
//
// It detaches at a signal-delivery stop on purpose: a tracer that
// detaches at a seccomp stop lets the stopped call run as it is (the
// kernel does not re-run the filter's TRACE verdict for it), which is
// why a tracer that must fail closed may never detach there.
func TestFailClosedAfterDetach(t *testing.T) {
	bin := buildC(t, "failclosed_detach")
	p := testPolicy(t)
	prog, err := seccomp.Build(seccomp.Policy{Guarded: p.Guarded(), Protected: p.Protected})
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, ins := range prog.Raw() {
		raw = binary.LittleEndian.AppendUint16(raw, ins.Op)
		raw = append(raw, ins.Jt, ins.Jf)
		raw = binary.LittleEndian.AppendUint32(raw, ins.K)
	}
	filter := filepath.Join(t.TempDir(), "filter")
	if err := os.WriteFile(filter, raw, 0o644); err != nil {
		t.Fatal(err)
	}

	goAheadR, goAhead, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer goAhead.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, filter)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = goAheadR, outW, outW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	goAheadR.Close()
	outW.Close()
	var output strings.Builder
	outDone := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			output.WriteString(sc.Text() + "\n")
		}
		close(outDone)
	}()
	timer := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()

	// Every ptrace request must come from the thread that seized: the
	// stand-in tracer has its own locked thread, which ends with its
	// goroutine (never unlocked), and with it any ptrace link left.
	traced := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		traced <- standInTracer(cmd.Process.Pid, goAhead)
	}()
	terr := <-traced
	werr := cmd.Wait()
	<-outDone
	out := output.String()
	if terr != nil {
		t.Fatalf("stand-in tracer: %v; output:\n%s", terr, out)
	}

	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			got[f[0]] = f[1]
		}
	}
	if got["traced-mmap-hint-inside"] != "EPERM" {
		t.Errorf("traced-mmap-hint-inside: %q, want EPERM (the tracer's answer)", got["traced-mmap-hint-inside"])
	}
	if got["detached"] != "ok" {
		t.Errorf("detached: %q, want ok (TracerPid 0)", got["detached"])
	}
	for _, who := range []string{"detached", "child"} {
		for _, c := range []struct{ name, want string }{
			{"mmap-null", "ok"}, {"munmap-far", "ok"}, {"getpid", "ok"},
			{"mmap-hint-inside", "ENOSYS"}, {"mmap-fixed-inside", "ENOSYS"}, {"mmap-noreplace-inside", "ENOSYS"},
			{"mmap-fixed-pool", "ENOSYS"}, {"munmap-inside", "ENOSYS"}, {"munmap-pool", "ENOSYS"},
			{"mprotect-inside", "ENOSYS"}, {"madvise-inside", "ENOSYS"}, {"mremap-inside", "ENOSYS"},
			{"mremap-fixed-into", "ENOSYS"}, {"shmat-inside", "ENOSYS"},
			{"i386-mmap2-hint-inside", "ENOSYS"}, {"i386-old_mmap", "ENOSYS"},
			{"nothing-in-range", "ok"}, {"nothing-in-pool", "ok"},
		} {
			name := who + "-" + c.name
			if g := got[name]; g != c.want {
				t.Errorf("%s: %q, want %s", name, g, c.want)
			}
		}
	}
	if got["child-status"] != "ok" || !strings.Contains(out, "END failures=0") || werr != nil {
		t.Errorf("exit %v; output:\n%s", werr, out)
	}
	t.Logf("output:\n%s", out)
}

// standInTracer seizes pid, lets it go on (a byte on goAhead), answers
// its trapped mmap with a hint into the range with EPERM, and detaches at
// the SIGSTOP it raises afterwards.
func standInTracer(pid int, goAhead *os.File) error {
	const opts = unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_EXITKILL
	if _, _, e := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, opts, 0, 0); e != 0 {
		return fmt.Errorf("PTRACE_SEIZE: %w", e)
	}
	if _, err := goAhead.Write([]byte{1}); err != nil {
		return err
	}
	answered := false
	for {
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
			return fmt.Errorf("wait4: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			return fmt.Errorf("the program ended while traced: %v", ws)
		}
		event := uint32(ws) >> 16
		sig := ws.StopSignal()
		switch {
		case event == unix.PTRACE_EVENT_SECCOMP:
			var regs unix.PtraceRegs
			if err := unix.PtraceGetRegs(pid, &regs); err != nil {
				return fmt.Errorf("GETREGS: %w", err)
			}
			if regs.Orig_rax != unix.SYS_MMAP || regs.Rdi != 0x20000000 {
				return fmt.Errorf("unexpected trapped call %d(%#x)", regs.Orig_rax, regs.Rdi)
			}
			regs.Orig_rax = ^uint64(0)         // skip the call
			regs.Rax = ^uint64(unix.EPERM) + 1 // -EPERM
			if err := unix.PtraceSetRegs(pid, &regs); err != nil {
				return fmt.Errorf("SETREGS: %w", err)
			}
			answered = true
			sig = 0
		case event != 0:
			sig = 0
		case sig == unix.SIGSTOP:
			if !answered {
				return fmt.Errorf("SIGSTOP before the trapped call")
			}
			// The SIGSTOP is dropped: the program goes on, untraced.
			if err := unix.PtraceDetach(pid); err != nil {
				return fmt.Errorf("PTRACE_DETACH: %w", err)
			}
			return nil
		}
		if err := unix.PtraceCont(pid, int(sig)); err != nil {
			return fmt.Errorf("PTRACE_CONT: %w", err)
		}
	}
}

// TestFailClosedFilterRefused: if the kernel refuses the seccomp filter,
// Run says so and the program never runs an instruction (it would have
// created a file).
func TestFailClosedFilterRefused(t *testing.T) {
	breakFilter = true
	defer func() { breakFilter = false }()
	p := testPolicy(t)
	mark := filepath.Join(t.TempDir(), "ran")
	res, err := Run(Config{
		Policy: p,
		Filter: seccomp.Policy{Guarded: p.Guarded(), Protected: p.Protected},
		Path:   "/bin/sh",
		Args:   []string{"sh", "-c", "echo > " + mark},
	})
	if err == nil || !strings.Contains(err.Error(), "seccomp(SECCOMP_SET_MODE_FILTER)") || !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Run: %v, want the kernel's EINVAL for the filter", err)
	}
	if _, serr := os.Stat(mark); serr == nil {
		t.Errorf("the program ran without its filter")
	}
	if !res.Status.Signaled() || res.Status.Signal() != syscall.SIGKILL {
		t.Errorf("status %v, want killed", res.Status)
	}
}

// TestFilterTooLargeStopsTheStart: the filter is built while the program
// starts; a policy that cannot become a filter is Run's error, the
// program never runs an instruction, and no child is left behind.
func TestFilterTooLargeStopsTheStart(t *testing.T) {
	p := testPolicy(t)
	var many []region.Range
	for i := range uint64(1000) {
		start := 0x100000000 + i*0x200000
		many = append(many, region.Range{Start: start, End: start + 0x1000})
	}
	mark := filepath.Join(t.TempDir(), "ran")
	_, err := Run(Config{
		Policy: p,
		Filter: seccomp.Policy{Guarded: many, Protected: many},
		Path:   "/bin/sh",
		Args:   []string{"sh", "-c", "echo > " + mark},
	})
	if !errors.Is(err, seccomp.ErrTooLarge) {
		t.Fatalf("Run: %v, want seccomp.ErrTooLarge", err)
	}
	if _, serr := os.Stat(mark); serr == nil {
		t.Errorf("the program ran without its filter")
	}
	var ws unix.WaitStatus
	if pid, werr := unix.Wait4(-1, &ws, unix.WALL|unix.WNOHANG, nil); werr != unix.ECHILD {
		t.Errorf("wait4 after Run: pid %d, %v; want ECHILD (the started program reaped)", pid, werr)
	}
}

// TestFirstProgramKeepsDeathSignal: the first program is killed with
// mmapguard (its parent-death signal, SIGKILL) where PTRACE_O_EXITKILL
// does not hold: between its exec and the tracer's PTRACE_SETOPTIONS,
// when it is still a PTRACE_TRACEME tracee without the option, and in
// the hand-over, detached between PTRACE_DETACH and PTRACE_SEIZE. A
// secure exec (set-user-ID or set-group-ID to other ids, file
// capabilities) clears the parent-death signal: a set-group-ID program
// run by root whose mmapguard was SIGKILLed in those windows ran on,
// in the first unguarded (no reservations, no filter, MAP_32BIT below
// 2 GiB granted) and in the second stopped and untraced (a helper's
// hunt: 2 of 300 kills at 0-6 ms after the start). The program is
// therefore started with no_new_privs, under which no exec is a secure
// one (the filter sets it at the exec anyway, before the program's
// first instruction). See testdata/pdeathsig.c.
func TestFirstProgramKeepsDeathSignal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only a tracer with CAP_SYS_PTRACE lets a traced exec change ids")
	}
	bin := buildC(t, "pdeathsig")
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sgid := filepath.Join(dir, "pdeathsig_sgid")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sgid, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(sgid, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sgid, 0o755|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{bin, sgid} {
		out, res := failclosedRun(t, 60*time.Second, prog)
		want := fmt.Sprintf("pdeathsig %d nnp 1 egid %d ", int(syscall.SIGKILL), os.Getegid())
		if res.ExitCode() != 0 || !strings.HasPrefix(out, want) {
			t.Errorf("%s: exit %d, output %q; want it to start with %q", filepath.Base(prog), res.ExitCode(), out, want)
		}
	}
}
