package trace

// The escape tests run the testdata/escape_*.c probes under the guard.
// Each probe tries routes that could get something mapped inside the
// protected range 0x10000-0x80000000 without asking for it there, checks
// its own /proc/self/maps after each attempt and prints one line per
// attempt:
//
//	ROUTE ok: what happened
//	ROUTE ESCAPED: the mapping nobody asked for (what happened)
//	ROUTE FAIL: the call did something else than expected
//	ROUTE info: a fact for the test
//
// and "END failures=N". A test fails if a route escaped or failed, if
// an expected route said nothing, if the probe crashed or did not finish,
// or if the guard did not come back within escapeTimeout (a watchdog
// then kills the probe's processes, so a hung guard is a failure and not
// a hung go test). Where it shows that the attack works without the
// guard, the probe also runs natively and must report the escape there:
// proof that the probe can see one. docs/escapes.md describes each route.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
	"golang.org/x/sys/unix"
)

// escapeTimeout bounds one probe run, guarded or native. It is a hang
// detector, not a performance check: every probe needs a few seconds.
const escapeTimeout = 60 * time.Second

// escapePolicy is testPolicy's policy, with --strict if asked.
func escapePolicy(t *testing.T, strict bool) *rewrite.Policy {
	t.Helper()
	p, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, false, strict)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var escapeRuns atomic.Int64

// escapeGuarded runs argv under policy p, like guarded, with a watchdog
// (escapeWatched) of escapeTimeout.
func escapeGuarded(t *testing.T, p *rewrite.Policy, argv ...string) (string, Result) {
	t.Helper()
	out, res, err := escapeWatched(t, p, escapeTimeout, argv...)
	if err != nil {
		t.Fatalf("%v: %v; output:\n%s", argv, err, out)
	}
	return out, res
}

// escapeWatched runs argv under policy p. Every process of the run
// carries a unique environment variable; if the run has not finished
// after timeout, the watchdog kills every process that has it and waits
// for Run to return (10 s more at most, else it gives up on it).
func escapeWatched(t *testing.T, p *rewrite.Policy, timeout time.Duration, argv ...string) (string, Result, error) {
	t.Helper()
	path, err := Resolve(argv[0])
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	tag := fmt.Sprintf("MMAPGUARD_ESCAPE_RUN=%d.%d", os.Getpid(), escapeRuns.Add(1))
	type done struct {
		res Result
		err error
	}
	ch := make(chan done, 1)
	go func() {
		res, err := Run(Config{
			Policy: p,
			Filter: seccomp.Policy{Guarded: p.Guarded(), Protected: p.Protected, TrapNullHint: p.PoolAll, TrapMap32: p.Map32Blocked()},
			Path:   path,
			Args:   argv,
			Env:    append(os.Environ(), tag),
			Stdout: out,
			Stderr: out,
		})
		ch <- done{res, err}
	}()
	var d done
	select {
	case d = <-ch:
		if d.err != nil {
			d.err = fmt.Errorf("Run: %w", d.err)
		}
	case <-time.After(timeout):
		killed := escapeKillTagged(tag)
		select {
		case d = <-ch:
			d.err = fmt.Errorf("%w after %v: killed its %d processes; then Run returned %v, status %v",
				errEscapeHung, timeout, killed, d.err, d.res.Status)
		case <-time.After(10 * time.Second):
			d.err = fmt.Errorf("%w after %v, and Run still hangs after its %d processes were killed",
				errEscapeHung, timeout, killed)
		}
	}
	b, rerr := os.ReadFile(out.Name())
	if rerr != nil {
		t.Fatal(rerr)
	}
	return string(b), d.res, d.err
}

var errEscapeHung = errors.New("not finished")

// escapeKillTagged sends SIGKILL to every process whose environment has
// tag, until none is left (or a few seconds have passed), and returns
// how many it killed.
func escapeKillTagged(tag string) int {
	killed := map[int]bool{}
	for range 50 {
		found := false
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			env, err := os.ReadFile("/proc/" + d.Name() + "/environ")
			if err != nil || !strings.Contains("\x00"+string(env), "\x00"+tag+"\x00") {
				continue
			}
			found = true
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed[pid] = true
			}
		}
		if !found {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return len(killed)
}

// escapeNative runs argv without the guard, in its own process group,
// killed after escapeTimeout.
func escapeNative(t *testing.T, argv ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), escapeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%v without the guard: not finished after %v; output:\n%s", argv, escapeTimeout, out)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v without the guard: %v", argv, err)
	}
	return string(out)
}

var (
	escapeLineRE = regexp.MustCompile(`^(\S+) (ok|ESCAPED|FAIL|info): (.*)$`)
	escapeEndRE  = regexp.MustCompile(`^END failures=(\d+)`)
)

type escapeLine struct{ route, kind, text string }

// escapeParse splits a probe's output into route lines; other lines
// (END, anything unexpected) are returned apart.
func escapeParse(out string) (lines []escapeLine, end bool, other []string) {
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if m := escapeLineRE.FindStringSubmatch(l); m != nil {
			lines = append(lines, escapeLine{m[1], m[2], m[3]})
		} else if escapeEndRE.MatchString(l) {
			end = true
		} else if l != "" {
			other = append(other, l)
		}
	}
	return lines, end, other
}

// escapeCheck judges a guarded run: each route in routes must have said
// ok (at least once) and nothing else; no route may have escaped or
// failed; the probe must have finished (END) with status 0.
func escapeCheck(t *testing.T, out string, res Result, routes []string) {
	t.Helper()
	lines, end, other := escapeParse(out)
	want := map[string]bool{}
	for _, r := range routes {
		want[r] = true
	}
	for _, l := range lines {
		if !want[l.route] && l.kind != "info" {
			t.Errorf("route %s not in the test's list: %s %s: %s", l.route, l.route, l.kind, l.text)
		}
	}
	if res.Status.Signaled() {
		t.Errorf("the probe was killed by signal %v", res.Status.Signal())
	}
	if !end {
		t.Errorf("the probe did not finish (no END line); exit %d", res.ExitCode())
	}
	for _, l := range other {
		if !strings.HasPrefix(l, "mmapguard: warning:") {
			t.Errorf("unexpected output line: %s", l)
		}
	}
	for _, r := range routes {
		t.Run(r, func(t *testing.T) {
			n := 0
			for _, l := range lines {
				if l.route != r {
					continue
				}
				switch l.kind {
				case "ok":
					n++
				case "ESCAPED":
					t.Errorf("ESCAPED: %s", l.text)
				case "FAIL":
					t.Errorf("FAIL: %s", l.text)
				}
			}
			if n == 0 && !t.Failed() {
				t.Errorf("no ok line for %s", r)
			}
		})
	}
	if t.Failed() {
		t.Logf("exit %d, stops %d; output:\n%s", res.ExitCode(), res.Stops, out)
	} else if res.ExitCode() != 0 {
		t.Errorf("exit %d although every route said ok; output:\n%s", res.ExitCode(), out)
	}
}

// escapeCheckNative judges a run without the guard: each route in
// escaped must have reported an escape, each in notOK anything but ok.
func escapeCheckNative(t *testing.T, out string, escaped, notOK []string) {
	t.Helper()
	lines, _, _ := escapeParse(out)
	has := func(route, kind string) bool {
		for _, l := range lines {
			if l.route == route && (l.kind == kind || kind == "" && l.kind != "ok" && l.kind != "info") {
				return true
			}
		}
		return false
	}
	for _, r := range escaped {
		if !has(r, "ESCAPED") {
			t.Errorf("%s did not escape without the guard: the probe cannot see the escape it looks for", r)
		}
	}
	for _, r := range notOK {
		if !has(r, "") || has(r, "ok") {
			t.Errorf("%s said ok without the guard: the probe cannot tell the guard's answer from the kernel's", r)
		}
	}
	if t.Failed() {
		t.Logf("output without the guard:\n%s", out)
	}
}

// escapeRegs runs f with stops read from the registers (as on kernels
// without PTRACE_GET_SYSCALL_INFO).
func escapeRegs(f func()) {
	forceRegs = true
	defer func() { forceRegs = false }()
	f()
}

// TestEscapeWatchdog: a run that does not finish is killed and reported
// (here a program that sleeps, with a watchdog of one second).
func TestEscapeWatchdog(t *testing.T) {
	out, _, err := escapeWatched(t, escapePolicy(t, false), time.Second, "sh", "-c", "echo started; exec sleep 600")
	if !errors.Is(err, errEscapeHung) {
		t.Fatalf("err %v, want %v", err, errEscapeHung)
	}
	if out != "started\n" {
		t.Errorf("output %q", out)
	}
	if n := escapeKillTagged(fmt.Sprintf("MMAPGUARD_ESCAPE_RUN=%d.%d", os.Getpid(), escapeRuns.Load())); n != 0 {
		t.Errorf("%d processes of the run were still alive", n)
	}
}

func TestEscapeI386(t *testing.T) {
	bin := buildC(t, "escape_i386")
	routes := []string{
		"i386-mmap2-null", "i386-mmap2-hint", "i386-mmap2-hint-crossing-start", "i386-mmap2-fixed",
		"i386-mmap2-noreplace", "i386-mmap2-hint-hi-garbage", "i386-mmap2-flags-hi-garbage",
		"i386-mmap2-fixed-only-in-hi", "i386-mmap2-len-hi-garbage", "i386-mmap2-fixed-hi-garbage",
		"i386-mmap2-fixed-low-half-outside", "i386-old_mmap-null", "i386-old_mmap-hint",
		"i386-old_mmap-ptr-hi-garbage", "i386-old_mmap-fixed", "i386-old_mmap-noreplace",
		"i386-munmap-reservation", "i386-mprotect-reservation", "i386-mremap-reservation",
		"i386-madvise-reservation", "i386-reservation-after-all", "i386-brk-then-sbrk",
	}
	escapeLaxStrict(t, bin, routes)
	t.Run("registers", func(t *testing.T) {
		escapeRegs(func() {
			out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
			escapeCheck(t, out, res, routes)
		})
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "strict"),
			[]string{"i386-mmap2-hint", "i386-mmap2-hint-hi-garbage", "i386-mmap2-flags-hi-garbage",
				"i386-mmap2-fixed-only-in-hi", "i386-mmap2-len-hi-garbage", "i386-old_mmap-hint",
				"i386-old_mmap-ptr-hi-garbage", "i386-mmap2-fixed", "i386-mmap2-fixed-hi-garbage", "i386-old_mmap-fixed"},
			nil)
	})
}

func TestEscapeX32AndSyscallNumber(t *testing.T) {
	bin := buildC(t, "escape_abi")
	routes := []string{
		"x32-mmap-hint", "x32-mmap-fixed", "x32-mmap-map32bit", "x32-munmap-reservation",
		"x32-mprotect-reservation", "x32-mremap-reservation", "x32-madvise-reservation", "x32-brk",
		"x32-shmat", "x32-clone-untraced", "x32-getpid", "x32-rt_sigaction", "x32-reservation-after-all",
		"nr-hi-garbage-mmap-hint", "nr-hi-garbage-mmap-fixed", "nr-hi-garbage-mprotect-reservation",
		"nr-hi-garbage-munmap-reservation", "nr-hi-garbage-then-map32bit",
	}
	escapeLaxStrict(t, bin, routes)
	t.Run("registers", func(t *testing.T) {
		escapeRegs(func() {
			out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
			escapeCheck(t, out, res, routes)
		})
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "strict"),
			[]string{"nr-hi-garbage-mmap-hint", "nr-hi-garbage-mmap-fixed"}, nil)
	})
}

func TestEscapeClone(t *testing.T) {
	bin := buildC(t, "escape_clone", "-pthread")
	routes := []string{
		"clone3-raw", "clone3-untraced", "clone3-bad-args", "clone-untraced", "clone-untraced-hi-garbage",
		"clone-untraced-vm-vfork", "i386-clone-untraced", "i386-clone3", "pthread-create", "fork", "vfork",
		"posix-spawn",
	}
	t.Run("guarded", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, routes)
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin), []string{"clone-untraced-vm-vfork"},
			[]string{"clone3-raw", "clone-untraced", "i386-clone-untraced"})
	})
}

// TestEscapeCloneVM: clone(CLONE_VM|SIGCHLD), which ptrace reports as
// a fork though the child shares the memory, made with garbage in the
// upper half of the syscall number, by a program that is not dumpable.
// The tracer read the call's kind from the full orig_rax (no match),
// then asked kcmp, which an unprivileged mmapguard is refused for such a
// program (noKcmp does that here), and took the child for a forked copy:
// two models of one address space, and the parent's mprotect made the
// reservation the child had put over a page of its .bss read-write, with
// --strict too (found in the seventh session).
func TestEscapeCloneVM(t *testing.T) {
	bin := buildC(t, "escape_clonevm", "-no-pie", "-pthread")
	noKcmp = true
	defer func() { noKcmp = false }()
	routes := []string{"clonevm-sigchld", "clonevm-sigchld-rax-hi-garbage"}
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			out, res := escapeGuarded(t, escapePolicy(t, strict), bin)
			escapeCheck(t, out, res, routes)
		})
	}
}

func TestEscapeReservation(t *testing.T) {
	bin := buildC(t, "escape_reservation")
	common := []string{
		"fixed-over-reservation", "noreplace-over-reservation", "noreplace-across-end", "fixed-across-start",
		"mremap-grow-from-below-start", "munmap-reservation",
		"munmap-across-end", "munmap-across-start", "mremap-reservation-maymove", "mremap-reservation-shrink",
		"mremap-reservation-fixed-out", "mremap-reservation-dontunmap", "mremap-reservation-fixed-in",
		"reservation-after-mremaps", "mremap-fixed-into", "mremap-fixed-dontunmap-into", "mremap-fixed-across-end",
		"mprotect-reservation", "mprotect-reservation-none", "pkey_mprotect-reservation",
		"pkey_mprotect-reservation-pkey0", "mlock-reservation", "mseal-reservation", "reservation-after-all",
	}
	t.Run("lax", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, append(common[:len(common):len(common)],
			"mremap-grow-into-reservation", "mremap-grow-moves-out", "mprotect-own-then-reservation"))
	})
	t.Run("strict", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
		escapeCheck(t, out, res, common)
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "strict"),
			[]string{"fixed-over-reservation", "noreplace-over-reservation", "noreplace-across-end",
				"fixed-across-start", "mremap-grow-from-below-start", "mremap-fixed-into", "mremap-fixed-dontunmap-into", "mremap-fixed-across-end"}, nil)
	})
}

func TestEscapeMadvise(t *testing.T) {
	bin := buildC(t, "escape_madvise")
	common := []string{
		"madvise-dontfork-reservation", "madvise-wipeonfork-reservation", "madvise-dontneed-reservation",
		"madvise-free-reservation", "madvise-remove-reservation", "madvise-dofork-reservation",
		"madvise-guard-install-reservation", "madvise-unknown-advice-reservation",
		"process-madvise-dontfork-reservation", "process-madvise-wipeonfork-reservation",
		"process-madvise-dontneed-reservation", "reservation-after-madvise", "fork-after-madvise",
	}
	t.Run("lax", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, append(common[:len(common):len(common)], "madvise-dontfork-own-and-reservation",
			"fork-int80-after-dontfork", "fork-after-dontfork-hi-garbage"))
	})
	t.Run("strict", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
		escapeCheck(t, out, res, common)
	})
	t.Run("native", func(t *testing.T) {
		// The child of a process with a MADV_DONTFORK mapping has a hole.
		escapeCheckNative(t, escapeNative(t, bin), nil, []string{"fork-after-madvise", "fork-int80-after-dontfork",
			"fork-after-dontfork-hi-garbage"})
	})
}

func TestEscapeIoUring(t *testing.T) {
	bin := buildC(t, "escape_iouring")
	routes := []string{"iouring-setup", "iouring-enter", "iouring-register", "iouring-madvise-dontfork",
		"iouring-fork-after-madvise"}
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			out, res := escapeGuarded(t, escapePolicy(t, strict), bin)
			escapeCheck(t, out, res, routes)
		})
	}
	t.Run("native", func(t *testing.T) {
		// The ring works, and its MADV_DONTFORK leaves the child a hole.
		escapeCheckNative(t, escapeNative(t, bin), nil,
			[]string{"iouring-setup", "iouring-enter", "iouring-register", "iouring-fork-after-madvise"})
	})
}

// TestEscapeKernelPass: calls the filter lets the kernel run without a
// stop, with arguments that make the kernel act elsewhere than on the
// range the filter compares (the twentieth session's review): mremap
// with MREMAP_DONTUNMAP but without MREMAP_FIXED, whose new address the
// kernel takes as a hint; a mapping grown in place toward the pool from
// further below than the filter's 1 GiB margin; mprotect with
// PROT_GROWSDOWN above the range's end, which the kernel extends down
// to the start of a growsdown mapping of the program's inside it; brk
// asked for a break that wraps; and calls the filter does not list, aimed
// at reservations (set_mempolicy_home_node in both ABIs,
// process_madvise's MADV_COLLAPSE, userfaultfd's UFFDIO_REGISTER and
// UFFDIO_ZEROPAGE, i386 arch_prctl and call 453). None gets through: the
// kernel takes a hint or grows a mapping only where nothing is mapped,
// and every free page of a guarded range is reserved; the others change
// no mapping. Natively the hints land in the range.
func TestEscapeKernelPass(t *testing.T) {
	bin := buildC(t, "escape_kernelpass")
	routes := []string{"dontunmap-hint-inside", "dontunmap-hint-reaching-in", "dontunmap-hint-pool",
		"grow-in-place-toward-pool", "grow-maymove-toward-pool", "growsdown-mprotect-straddle", "home-node",
		"i386-home-node", "process-madvise-collapse", "uffd-reservation", "brk-wrap", "i386-arch-prctl-vdso",
		"i386-call-453"}
	escapeLaxStrict(t, bin, routes)
	t.Run("pool none", func(t *testing.T) {
		p, err := rewrite.NewPolicy([]region.Range{lowRange}, region.Range{}, false, false)
		if err != nil {
			t.Fatal(err)
		}
		out, res := escapeGuarded(t, p, bin)
		escapeCheck(t, out, res, routes)
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin), []string{"dontunmap-hint-inside", "dontunmap-hint-reaching-in"}, nil)
	})
}

// TestLowFixedWithoutRawio: under a protected range that starts at 0,
// run by root, a program that gives up root and execs, then asks for a
// page at 0 with MAP_FIXED, gets EPERM and goes on, as natively. At its
// exec the guard could not reserve the part below vm.mmap_min_addr (only
// a task with CAP_SYS_RAWIO may map there, which it no longer is); after
// the failed call, putting the reservation back failed the same way, and
// the program was killed (fail closed) for a hole nothing it runs can
// map (found by the twentieth session's review of the filter).
func TestLowFixedWithoutRawio(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: the program gives up root itself, and only root may protect a range below vm.mmap_min_addr")
	}
	bin := buildC(t, "lowfixed")
	want := escapeNative(t, bin)
	if !strings.Contains(want, "fixed0 errno 1\n") || !strings.HasSuffix(want, "done\n") {
		t.Fatalf("without the guard: %q; want MAP_FIXED at 0 refused with EPERM", want)
	}
	p, err := rewrite.NewPolicy([]region.Range{region.Must(0, 0x80000000)}, rewrite.DefaultPool, false, false)
	if err != nil {
		t.Fatal(err)
	}
	out, res := escapeGuarded(t, p, bin)
	if res.ExitCode() != 0 || out != want {
		t.Fatalf("under the guard: %v, output %q; want exit 0 and the native output %q", res.Status, out, want)
	}
}

// TestEscapeEdges: the same kind of calls at the edges of two policies
// the default one lacks: two protected ranges a page apart (the page
// between them the program's, mapped, made PROT_NONE, unmapped and
// marked MADV_DONTFORK in the kernel, and a hint there reaching into the
// second range), and a range that ends at the top of user space
// (hints inside and above it, MAP_FIXED, munmap and mprotect across the
// top or wrapping).
func TestEscapeEdges(t *testing.T) {
	gapBin := buildC(t, "escape_edges")
	topBin := buildC(t, "escape_edges", "-DLO=0x7fff00000000UL", "-DHI=0x7ffffffff000UL")
	gap := []region.Range{region.Must(0x10000, 0x40000000), region.Must(0x40001000, 0x80000000)}
	gapRoutes := []string{"gap-fixed", "gap-merge-munmap", "gap-hint-reaching-in", "gap-dontfork-fork"}
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("gap/strict=%v", strict), func(t *testing.T) {
			p, err := rewrite.NewPolicy(gap, rewrite.DefaultPool, false, strict)
			if err != nil {
				t.Fatal(err)
			}
			out, res := escapeGuarded(t, p, gapBin, "gap")
			escapeCheck(t, out, res, gapRoutes)
		})
	}
	t.Run("top", func(t *testing.T) {
		// (Not with --strict, which kills a program whose stack or vDSO
		// the kernel put in a protected range at its exec.)
		p, err := rewrite.NewPolicy([]region.Range{region.Must(0x7fff00000000, 0x7ffffffff000)}, rewrite.DefaultPool, false, false)
		if err != nil {
			t.Fatal(err)
		}
		out, res := escapeGuarded(t, p, topBin, "top")
		escapeCheck(t, out, res, []string{"top-hint-inside", "top-hint-above", "top-fixed-across", "top-munmap-across",
			"top-munmap-wrap", "top-mprotect-wrap"})
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, gapBin, "gap"), []string{"gap-hint-reaching-in"}, nil)
		escapeCheckNative(t, escapeNative(t, topBin, "top"), []string{"top-hint-inside"}, nil)
	})
}

func TestEscapeGrowsdown(t *testing.T) {
	bin := buildC(t, "escape_growsdown")
	routes := []string{"growsdown-above-end", "growsdown-gap-above-end", "growsdown-gap-walk-down",
		"growsdown-hint-inside", "growsdown-above-reservation"}
	escapeLaxStrict(t, bin, routes)
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin),
			[]string{"growsdown-above-end", "growsdown-hint-inside", "growsdown-above-reservation"}, nil)
	})
}

// TestEscapeCompat32: a 64-bit program's i386 calls made from 32-bit
// code (the far-returned-to code segment 0x23, as WoW64 thunks and
// emulators run): mmap2 with no address or a hint in the range lands
// outside it; munmap and mremap of the program's own mappings in the
// range leave no hole; and a fork there, with a MADV_DONTFORK mapping of the
// program's in the range, gives a child whose hole the guard must fill.
// It did so with a 64-bit syscall instruction, illegal in 32-bit mode:
// the child died (SIGILL, the guard failing closed) where it runs
// natively (seventh session's known window, fixed in the tenth: the
// guard's calls run with the 64-bit code segment). fork-ldt: the same from
// a 32-bit code segment of the program's own LDT (selector 0x7), which the
// first fix, switching only __USER32_CS, left to die so (found in the
// tenth session's review).
func TestEscapeCompat32(t *testing.T) {
	bin := buildC(t, "compat32", "-pthread")
	for _, mode := range []string{"fork", "fork-ldt"} {
		t.Run(mode, func(t *testing.T) {
			out, res := escapeGuarded(t, escapePolicy(t, false), bin, mode)
			escapeCheck(t, out, res, []string{"compat32-fork", "compat32-fork-child"})
		})
	}
	t.Run("mmap", func(t *testing.T) {
		routes := []string{"compat32-mmap2-null", "compat32-mmap2-hint"}
		out, res := escapeGuarded(t, escapePolicy(t, false), bin, "mmap")
		escapeCheck(t, out, res, routes)
		out, res = escapeGuarded(t, escapePolicy(t, true), bin, "mmap", "strict")
		escapeCheck(t, out, res, routes)
	})
	t.Run("unmap", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin, "unmap")
		escapeCheck(t, out, res, []string{"compat32-munmap", "compat32-mremap-shrink", "compat32-mremap-out"})
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "unmap"), []string{"compat32-munmap", "compat32-mremap-shrink", "compat32-mremap-out"}, nil)
		escapeCheckNative(t, escapeNative(t, bin, "fork"), []string{"compat32-fork-child"}, nil)
		escapeCheckNative(t, escapeNative(t, bin, "fork-ldt"), []string{"compat32-fork-child"}, nil)
		escapeCheckNative(t, escapeNative(t, bin, "mmap"), []string{"compat32-mmap2-hint"}, nil)
	})
}

func TestEscapeMap32bit(t *testing.T) {
	bin := buildC(t, "escape_map32")
	routes := []string{"map32bit-null-4k", "map32bit-null-1024k", "map32bit-null-65536k", "map32bit-null-1048576k",
		"map32bit-hint-inside", "map32bit-hint-above", "map32bit-hint-across-end", "hint-below-range-reaching-in",
		"hint-below-mmap-min-addr", "i386-mmap2-exhaust"}
	t.Run("guarded", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, routes)
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin),
			[]string{"map32bit-null-4k", "map32bit-hint-inside", "hint-below-range-reaching-in", "i386-mmap2-exhaust"}, nil)
	})
}

// TestEscapeMoveOut: calls that free part of the range for a moment
// (mremap moving a mapping out, shmdt across the range's end) raced by a
// thread mapping with MAP_32BIT, which the kernel places in any free
// space below 2 GiB. The guard stops the other threads from before such
// a call until the reservation is back: no MAP_32BIT mapping may ever
// succeed. Before it did, about one round in a hundred escaped.
func TestEscapeMoveOut(t *testing.T) {
	bin := buildC(t, "escape_moveout")
	routes := []string{"mremap-moveout-race", "shmdt-edge-race", "vfork-moveout-race", "new-thread-moveout-race"}
	t.Run("guarded", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin, "1500")
		escapeCheck(t, out, res, routes)
		if res.Freezes == 0 {
			t.Errorf("no freeze in %d rounds of each route: the other thread was never stopped", 1500)
		}
	})
	t.Run("native", func(t *testing.T) {
		// Races: a route need not win in one short run (the new
		// thread's, 20 rounds here, lost in about one run in ten, more
		// on a loaded machine); that the probe sees each escape is
		// shown by any of five runs.
		var out string
		for range 5 {
			out += escapeNative(t, bin, "100")
			lines, _, _ := escapeParse(out)
			won := map[string]bool{}
			for _, l := range lines {
				if l.kind == "ESCAPED" {
					won[l.route] = true
				}
			}
			if len(won) == len(routes) {
				break
			}
		}
		escapeCheckNative(t, out, routes, nil)
	})
}

// TestFreezeZombieLeader: a process whose main thread left with
// pthread_exit (its leader a zombie, never to stop again while the other
// threads live) moves mappings out of the range twice, from two threads
// in turn: each freeze must go on without waiting for the leader.
func TestFreezeZombieLeader(t *testing.T) {
	bin := buildC(t, "zombie_leader", "-pthread")
	out, res, err := escapeWatched(t, escapePolicy(t, false), 20*time.Second, bin)
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, out)
	}
	if res.ExitCode() != 0 || out != "moved out twice\n" || res.Freezes < 2 {
		t.Errorf("exit %d, %d freezes, output:\n%s", res.ExitCode(), res.Freezes, out)
	}
}

// TestEscapeForgedReport: a program that forges the code page's failure
// report for a rewrite that succeeded (see escape_forge.c) is killed
// before the guard believes it, and its mprotect never runs.
//
// split: a range only partly reserved, the rest mapped by the program
// again; the report is believed, but the guard keeps what the layout
// shows is still its reservation (it forgot it, and mprotect made it
// read-write: thirteenth session).
func TestEscapeForgedReport(t *testing.T) {
	bin := buildC(t, "escape_forge", "-no-pie")
	t.Run("killed", func(t *testing.T) {
		p := escapePolicy(t, true)
		out, res := escapeGuarded(t, p, bin, fmt.Sprintf("%#x", p.Code.Start+trampFail))
		if !strings.Contains(out, "munmap = 0") || !strings.Contains(out, "mprotect before forging = -1") {
			t.Fatalf("the setup did not go as planned:\n%s", out)
		}
		if strings.Contains(out, "after forging") || res.FailedClosed != 1 || !res.Status.Signaled() {
			t.Errorf("the forged report was believed, or the program not killed (failed closed %d, status %v):\n%s",
				res.FailedClosed, res.Status, out)
		}
	})
	t.Run("split", func(t *testing.T) {
		p := escapePolicy(t, false)
		out, res := escapeGuarded(t, p, bin, fmt.Sprintf("%#x", p.Code.Start+trampFail), "split")
		if !strings.Contains(out, "munmap = 0") || !strings.Contains(out, "mprotect before forging = -1") {
			t.Fatalf("the setup did not go as planned:\n%s", out)
		}
		if !strings.Contains(out, "mprotect after forging = -1 Cannot allocate memory") || res.ExitCode() != 0 {
			t.Errorf("after the forged report the reservation was the program's to change (exit %d, status %v):\n%s",
				res.ExitCode(), res.Status, out)
		}
	})
}

// TestEscapeFailedSpan: a munmap over a page of the program's and the
// guard's reservation beside it, rewritten into one reservation that the
// program's own filter refuses (testdata/escape_failspan.c), in one stop
// and in two (found in the thirteenth session: the guard gave up the
// reservation beside the page, and mprotect made it read-write).
func TestEscapeFailedSpan(t *testing.T) {
	bin := buildC(t, "escape_failspan", "-no-pie")
	routes := []string{"failspan", "failspan-warm"}
	escapeLaxStrict(t, bin, routes)
	t.Run("two-stops", func(t *testing.T) {
		noOneStop = true
		defer func() { noOneStop = false }()
		out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
		escapeCheck(t, out, res, routes)
	})
}

// TestEscapeInjectionHijack: a program fakes the end of a one-stop
// rewrite (a restart, a failure report) after
// writing over its own syscall instruction, from which the guard then
// runs a call of its own; the program's code runs instead, and its next
// call, a MAP_FIXED in the protected range that --strict refuses, must
// not pass as the guard's. Each way, the process is killed (fail closed).
func TestEscapeInjectionHijack(t *testing.T) {
	bin := buildC(t, "escape_hijack")
	p := escapePolicy(t, true)
	for _, c := range []struct {
		mode string
		at   int
	}{
		{"carry-restart", carryFixed64 - 2},
		{"carry-report", carryFail},
		{"frame-report", trampFail},
		{"gone", carryFixed64 - 2},
	} {
		t.Run(c.mode, func(t *testing.T) {
			out, res := escapeGuarded(t, p, bin, c.mode, fmt.Sprintf("%#x", p.Code.Start), strconv.Itoa(c.at))
			if !strings.Contains(out, "first call = 0x2") {
				t.Fatalf("the first call was not moved into the pool:\n%s", out)
			}
			if strings.Contains(out, "evil call") || strings.Contains(out, "went on") || res.FailedClosed == 0 ||
				!res.Status.Signaled() || res.Status.Signal() != syscall.SIGKILL {
				t.Errorf("failed closed %d, status %v:\n%s", res.FailedClosed, res.Status, out)
			}
		})
	}
}

// TestEscapeRlimitHole: a reservation the guard puts back after a call
// that moved a mapping out of the protected range does not fit under a
// lowered RLIMIT_AS (testdata/escape_rlimit.c); the hole it would leave
// must not be handed to the program's next MAP_32BIT mapping: the
// process is killed (fail closed).
func TestEscapeRlimitHole(t *testing.T) {
	bin := buildC(t, "escape_rlimit")
	if nat := escapeNative(t, bin); !strings.Contains(nat, "moved out: yes") || !strings.Contains(nat, "MAP_32BIT: INSIDE") {
		t.Fatalf("the setup does not work natively:\n%s", nat)
	}
	out, res := escapeGuarded(t, escapePolicy(t, false), bin)
	if strings.Contains(out, "INSIDE") || res.FailedClosed == 0 || !res.Status.Signaled() {
		t.Errorf("failed closed %d, status %v:\n%s", res.FailedClosed, res.Status, out)
	}
}

// TestEscapeMlockFuture: after mlockall(MCL_FUTURE), under a small
// RLIMIT_MEMLOCK and without CAP_IPC_LOCK, a mapping of 1 MiB fails with
// EAGAIN before anything is unmapped, the guard's reservations too
// (testdata/escape_mlockall.c). A failed MAP_FIXED or MAP_FIXED_NOREPLACE
// over a reservation is rolled back with a reservation that fails the
// same way over the one the call left in place: taken for gone, it was
// the program's to make read-write with mprotect. And a failure of a
// NOREPLACE rewritten on the one-stop path was reported by the code
// page, which a signal handler can leave with siglongjmp before the
// report: the model kept the mapping that never was (found in the tenth
// session; both escaped in every run).
func TestEscapeMlockFuture(t *testing.T) {
	bin := buildC(t, "escape_mlockall", "-pthread")
	routes := []string{"mlock-fixed", "mlock-noreplace", "mlock-hint", "mlock-skip-report"}
	escapeCheck(t, escapeNative(t, bin), Result{}, routes)
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			args := strictArgs(bin, strict)
			out, res := escapeGuarded(t, escapePolicy(t, strict), args...)
			escapeCheck(t, out, res, routes)
		})
	}
}

// TestEscapeOwnAnswer: the program's own seccomp filter answers the
// guard's reservation calls itself, after a move-out (by a thread, by
// the thread group's leader, by a clone(CLONE_VM) child) and at an exec
// (testdata/escape_ownanswer.c): with EEXIST ("a mapping is there"), with
// a success of 0, with SIGSYS (the call "returns" its number), or by
// killing the thread that puts the reservation back. The guard checks
// what it is told (the layout for EEXIST, the address for a success) and
// that the thread lived: the program is killed, and no MAP_32BIT mapping
// lands in the range. At an exec, as root, the guard's calls run with the
// program's filters suspended (see suspendSeccomp): they are not
// answered at all, the range is reserved, and the new program runs
// (without the suspension, as for an unprivileged mmapguard, it is
// killed).
func TestEscapeOwnAnswer(t *testing.T) {
	bin := buildC(t, "escape_ownanswer", "-pthread")
	for _, answer := range []string{"eexist", "errno0", "trap", "killthread"} {
		for _, when := range []string{"moveout", "exec", "exec-nosuspend", "leader", "clonevm"} {
			noSuspend = when == "exec-nosuspend"
			before := suspendedInjections.Load()
			out, res := escapeGuarded(t, escapePolicy(t, false), bin, answer, strings.TrimSuffix(when, "-nosuspend"))
			noSuspend = false
			if when == "exec" {
				if n := suspendedInjections.Load() - before; n != 1 {
					t.Errorf("%s exec: %d injections with the filters suspended, want 1 (the exec's)", answer, n)
				}
				if strings.Contains(out, "MAP_32BIT inside") || res.FailedClosed != 0 || res.ExitCode() != 0 ||
					!strings.Contains(out, "running after the exec") || !strings.Contains(out, "MAP_32BIT never inside") {
					t.Errorf("%s exec: failed closed %d, status %v:\n%s\nwant the new program guarded, exit 0", answer, res.FailedClosed, res.Status, out)
				}
				continue
			}
			if strings.Contains(out, "inside") || res.FailedClosed == 0 || !res.Status.Signaled() {
				t.Errorf("%s %s: failed closed %d, status %v:\n%s", answer, when, res.FailedClosed, res.Status, out)
			}
		}
	}
}

// TestEscapeSyscallDispatch: a vfork child turns on syscall user
// dispatch with its selector byte in a mapping of the program's inside
// the range, and moves that mapping out. The kernel reads the selector
// before the guard's reservation call and, finding it unmapped, kills the
// child with SIGSEGV before the call runs; the guard dropped the call
// (only a death by SIGSYS was taken for a filter's doing) and the parent,
// sharing the memory, mapped into the hole: MAP_32BIT without --strict,
// i386 mmap2(NULL) with it (found in the seventh session). The parent
// must be killed instead.
func TestEscapeSyscallDispatch(t *testing.T) {
	bin := buildC(t, "escape_sud", "-no-pie", "-pthread")
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			args := strictArgs(bin, strict)
			out, res := escapeGuarded(t, escapePolicy(t, strict), args...)
			if strings.Contains(out, "inside") || strings.Contains(out, "hole") || res.FailedClosed == 0 || !res.Status.Signaled() {
				t.Errorf("failed closed %d, status %v:\n%s", res.FailedClosed, res.Status, out)
			}
		})
	}
}

// TestEscapeUffdKill: a vfork child moves a mapping of the program's out
// of the range with mremap; the mapping is registered with a userfaultfd
// asking for remap events, so the call, the move done, waits in the
// kernel for the event to be read. Another process of the program kills
// the child there (SIGKILL: no exit stop); also with a clone(CLONE_VM)
// child instead of a vfork one. The guard took a death before
// the call's exit for the end of its wait, left the hole the reservation
// would have filled, and thawed the parent, which shares the memory:
// MAP_32BIT without --strict, i386 mmap2(NULL) with it, landed in the
// hole (found in the eighth session). The parent must be killed instead.
func TestEscapeUffdKill(t *testing.T) {
	bin := buildC(t, "escape_uffdkill", "-no-pie", "-pthread")
	for _, mode := range []string{"vfork", "clonevm"} {
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v", mode, strict), func(t *testing.T) {
				args := []string{bin, mode}
				if strict {
					args = append(args, "strict")
				}
				out, res := escapeGuarded(t, escapePolicy(t, strict), args...)
				if strings.Contains(out, "inside") || strings.Contains(out, "hole") || strings.Contains(out, "FAIL") ||
					res.FailedClosed == 0 || !res.Status.Signaled() {
					t.Errorf("failed closed %d, status %v:\n%s", res.FailedClosed, res.Status, out)
				}
			})
		}
	}
}

func TestEscapeShmat(t *testing.T) {
	bin := buildC(t, "escape_shm")
	common := []string{"shmat-null", "shmat-inside", "shmat-inside-remap", "shmat-inside-rnd", "shmat-rdonly-inside",
		"shmat-across-end", "i386-ipc-shmat-inside", "i386-shmat-inside-hi-garbage", "i386-shmat-null",
		"shmdt-then-map32bit", "shmat-id-from-other-ipc-namespace"}
	t.Run("lax", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, append(common[:len(common):len(common)], "shmat-over-own", "shmat-over-own-remap", "shmdt-fragment",
			"i386-shmdt-fragment-hi-garbage", "shmdt-record-emptied", "shmdt-other-segment-first",
			"shmdt-moved-back-across-end", "shmdt-other-segment-across-end", "shmdt-second-attachment-across-start"))
	})
	t.Run("strict", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
		escapeCheck(t, out, res, common)
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "strict"),
			[]string{"shmat-inside", "shmat-inside-remap", "i386-ipc-shmat-inside", "i386-shmat-inside-hi-garbage"}, nil)
	})
}

// TestEscapeHugePages: the kernel rounds a hugetlb mapping's length up
// to its huge page; the filter and the guard must judge the rounded
// range (found in the sixth session: a one-page MAP_HUGETLB at 0 mapped
// 2 MiB over the reservations without a stop).
func TestEscapeHugePages(t *testing.T) {
	bin := buildC(t, "escape_huge")
	t.Run("lax", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, []string{"huge-fixed-at-0", "memfd-huge-fixed-at-0", "huge-inside-moveout", "i386-mremap-huge-hi-garbage"})
	})
	t.Run("strict", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
		escapeCheck(t, out, res, []string{"huge-fixed-at-0", "memfd-huge-fixed-at-0"})
	})
	// Another thread swaps a hugetlb memfd and an ordinary one on the
	// descriptor between the tracer's look and the kernel's: the guard
	// finds the mapping made of huge pages after the call and kills the
	// program, or the race never came off. At 0 below the range, the
	// same through i386 old_mmap, and with another thread moving the page
	// at 0 away (an mremap decided while it was an ordinary page takes
	// the huge mapping and the reservations it covered along).
	for _, how := range []string{"fixed", "old_mmap", "mremap"} {
		t.Run("swap-race-"+how, func(t *testing.T) {
			out, res := escapeGuarded(t, escapePolicy(t, true), bin, "race", how, "3000")
			if res.FailedClosed > 0 {
				if !res.Status.Signaled() || strings.Contains(out, "ESCAPED") || strings.Contains(out, "FAIL") {
					t.Errorf("failed closed %d, status %v:\n%s", res.FailedClosed, res.Status, out)
				}
				return
			}
			escapeCheck(t, out, res, []string{"memfd-swap-race-" + how})
		})
	}
}

// TestFileMapCheckNoFalseKill: the check after a file mapping near a
// guarded range kills only for huge pages over the guard's
// reservations. A program whose other thread maps and unmaps anonymous
// memory in the range meanwhile (so that the guard's reservation there
// comes and goes) is not killed (the first form of the check, against
// the model's reservations, killed it in 2 of 3 runs), nor one whose
// other thread unmaps the new page before the tracer looks (the second
// form, looking at that page, killed it every time).
func TestFileMapCheckNoFalseKill(t *testing.T) {
	bin := buildC(t, "filemap_race", "-pthread")
	for _, mode := range []string{"churn", "gone"} {
		t.Run(mode, func(t *testing.T) {
			out, res := escapeGuarded(t, escapePolicy(t, false), bin, "2000", mode)
			if res.FailedClosed != 0 || res.ExitCode() != 0 || !strings.Contains(out, "done 2000") {
				t.Errorf("failed closed %d, status %v:\n%s", res.FailedClosed, res.Status, out)
			}
		})
	}
}

// TestEscapeShrinkRace: an mremap(MREMAP_FIXED) into a reservation that
// changes the length and fails after the kernel unmapped the target (a
// sealed tail, the vDSO's), while another thread loops MAP_32BIT
// (testdata/escape_shrinkrace.c). The other threads must be held until
// the reservation is back: before (twelfth session), MAP_32BIT landed in
// the hole in most of 300 rounds, and the reservation put back took its
// page away. With --strict the move is refused.
func TestEscapeShrinkRace(t *testing.T) {
	bin := buildC(t, "escape_shrinkrace", "-pthread")
	for _, mode := range []string{"sealed", "vdso", "own-sealed", "own-vdso"} {
		route := "mremap-shrink-" + mode + "-race"
		if strings.HasPrefix(mode, "own-") {
			route = "mremap-shrink-" + mode
		}
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v", mode, strict), func(t *testing.T) {
				out, res := escapeGuarded(t, escapePolicy(t, strict), append(strictArgs(bin, strict), mode, "300")...)
				escapeCheck(t, out, res, []string{route})
			})
		}
	}
}

func TestEscapeAIORing(t *testing.T) {
	bin := buildC(t, "escape_aio")
	routes := []string{"aio-ring-moved-in", "aio-ring-shrunk-below", "aio-ring-shrunk-below-pool", "aio-ring-multi", "huge-multi",
		"aio-setup-moved-below"}
	t.Run("lax", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, routes)
	})
	t.Run("strict", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
		escapeCheck(t, out, res, routes)
	})
}

// TestIoSetupDeath: a task that dies inside an io_setup (killed by
// another process; ended by another thread's exec) while a process
// sharing its memory goes on (testdata/aio_death.c): natively the sharer
// goes on, and so it must under the guard, and its own ring's move far
// from the ranges is honoured (no io_setup is in progress any more).
// The guard killed the sharers, and the exec'd program with them
// (the thirteenth session's review).
func TestIoSetupDeath(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root: a userfaultfd that handles the kernel's faults needs CAP_SYS_PTRACE")
	}
	bin := buildC(t, "aio_death", "-pthread")
	for mode, want := range map[string]string{
		"kill": "P after Q killed: mremap(ring ",
		"exec": "Q after P's exec: mremap(ring ",
	} {
		t.Run(mode, func(t *testing.T) {
			out, res := guardedBy(t, escapePolicy(t, false), bin, mode)
			i := strings.Index(out, want)
			if res.ExitCode() != 0 || res.FailedClosed != 0 || i < 0 || !strings.Contains(out[i:], "= moved") {
				t.Errorf("exit %d, failed closed %d:\n%s", res.ExitCode(), res.FailedClosed, out)
			}
		})
	}
}

// TestEscapeShmdtRace: a shmdt of an attachment the guard did not see,
// while another thread moves a piece of the segment into the range
// (found in the sixth session: the layout read at the shmdt's stop did
// not show the piece yet, and the kernel detached it unseen, leaving a
// hole on the first try).
func TestEscapeShmdtRace(t *testing.T) {
	bin := buildC(t, "shmdt_race", "-pthread")
	out, res := escapeGuarded(t, escapePolicy(t, false), bin, "200")
	if res.ExitCode() != 0 || res.FailedClosed != 0 || !strings.Contains(out, "no hole in 200 tries") {
		t.Errorf("exit %d, failed closed %d:\n%s", res.ExitCode(), res.FailedClosed, out)
	}
}

func TestEscapeBrk(t *testing.T) {
	bin := buildC(t, "escape_brk", "-no-pie")
	routes := []string{"brk-start-inside", "sbrk-page", "sbrk-256m", "brk-to-range-end", "brk-beyond-range",
		"i386-brk-grow", "malloc-after-brk"}
	t.Run("guarded", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, routes)
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin), []string{"sbrk-page", "brk-to-range-end"}, nil)
	})
}

// TestEscapeBrkPrctl: PR_SET_MM_MAP (no capability needed) moves the
// kernel's idea of the break; a brk "shrink" back to the real break then
// unmaps everything between, reservations included.
func TestEscapeBrkPrctl(t *testing.T) {
	bin := buildC(t, "escape_brk", "-no-pie")
	routes := []string{"brk-start-inside", "sbrk-page", "sbrk-256m", "brk-to-range-end", "brk-beyond-range",
		"i386-brk-grow", "malloc-after-brk", "brk-prctl-shrink"}
	out, res := escapeGuarded(t, escapePolicy(t, false), bin, "prctl")
	escapeCheck(t, out, res, routes)
}

func TestEscapeOwnSeccompFilter(t *testing.T) {
	bin := buildC(t, "escape_seccomp", "-pthread")
	routes := []string{"own-filter-installed", "hint-inside", "fixed-inside", "mprotect-reservation",
		"munmap-reservation", "map32bit", "i386-mmap2-hint", "i386-mmap2-fixed", "i386-old_mmap-fixed",
		"i386-munmap-reservation", "clone-untraced", "x32-mmap", "map32bit-at-end"}
	for _, mode := range []string{"trace", "allow", "notif"} {
		t.Run(mode, func(t *testing.T) {
			out, res := escapeGuarded(t, escapePolicy(t, true), bin, mode, "strict")
			escapeCheck(t, out, res, routes)
		})
	}
	t.Run("trace-lax", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin, "trace")
		escapeCheck(t, out, res, routes)
	})
	// The filter's data is the program's to choose: a tracer that reads
	// the ABI from it (as on kernels without PTRACE_GET_SYSCALL_INFO)
	// must not believe it.
	t.Run("trace-registers", func(t *testing.T) {
		escapeRegs(func() {
			out, res := escapeGuarded(t, escapePolicy(t, true), bin, "trace", "strict")
			escapeCheck(t, out, res, routes)
		})
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "allow", "strict"), []string{"hint-inside", "fixed-inside"}, nil)
	})
}

// TestOwnFilterTraceAsNative: a filter of the program's that answers
// SECCOMP_RET_TRACE with data that is no code of the guard's stops the
// call in the guard, which answers ENOSYS, as the kernel does with no
// tracer: the calls do not run (before, the guard took the stops for its
// own and ran them, and the program's munmap unmapped its own memory).
func TestOwnFilterTraceAsNative(t *testing.T) {
	asNative(t, buildC(t, "own_filter_trace"), "munmap in the range: ENOSYS", "the program's TRACE did not give ENOSYS")
}

// asNative runs bin natively, checks that its output has premise (else
// the test cannot tell anything here: what says so), and then under the
// guard, with and without --pool-all: the output must be the same.
func asNative(t *testing.T, bin, premise, what string) {
	t.Helper()
	native, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("natively: %v\n%s", err, native)
	}
	if !strings.Contains(string(native), premise) {
		t.Fatalf("natively, %s: the test's premise does not hold here:\n%s", what, native)
	}
	for _, poolAll := range []bool{false, true} {
		p, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, poolAll, false)
		if err != nil {
			t.Fatal(err)
		}
		out, res := escapeGuarded(t, p, bin)
		if res.ExitCode() != 0 || out != string(native) {
			t.Errorf("pool-all %v: exit %d, output:\n%s\nnatively:\n%s", poolAll, res.ExitCode(), out, native)
		}
	}
}

func TestEscapePersonality(t *testing.T) {
	bin := buildC(t, "escape_personality")
	routes := []string{"personality-set", "personality-reexec", "personality-i386-mmap2-null-0",
		"personality-i386-mmap2-null-1", "personality-i386-mmap2-null-2", "personality-i386-mmap2-null-3",
		"personality-mmap-null", "personality-mmap-hint", "personality-map32bit", "personality-malloc"}
	t.Run("guarded", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, routes)
		if !strings.Contains(out, "range reserved: yes") {
			t.Errorf("the re-exec'd image does not see its reservation:\n%s", out)
		}
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin), []string{"personality-i386-mmap2-null-0", "personality-map32bit"}, nil)
	})
}

func TestEscapeSetuidExec(t *testing.T) {
	bin := buildC(t, "escape_setuid")
	// A set-user-ID copy owned by nobody: with effect, the child's
	// effective uid would be 65534.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	suid := filepath.Join(dir, "escape_setuid_nobody")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(suid, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(suid, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(suid, 0o4755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	routes := []string{"setuid-exec", "setuid-mmap-hint", "setuid-map32bit"}
	t.Run("guarded", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin, "exec", suid)
		escapeCheck(t, out, res, routes)
		if !strings.Contains(out, "NoNewPrivs 1") {
			t.Errorf("the set-user-ID program does not run with no_new_privs:\n%s", out)
		}
	})
	t.Run("native", func(t *testing.T) {
		// Without the guard the bit takes effect (the file system honours
		// it), so the guard is what keeps the ids.
		out := escapeNative(t, bin, "exec", suid)
		if !strings.Contains(out, "euid 65534 NoNewPrivs 0") {
			t.Errorf("without the guard the set-user-ID copy did not take effect:\n%s", out)
		}
		escapeCheckNative(t, out, []string{"setuid-mmap-hint"}, []string{"setuid-exec"})
	})
	t.Run("passwd", func(t *testing.T) {
		// A real set-user-ID program still runs, with the same output.
		const passwd = "/usr/bin/passwd"
		st, err := os.Stat(passwd)
		if err != nil || st.Mode()&os.ModeSetuid == 0 {
			t.Fatalf("%s is not a set-user-ID program here: %v", passwd, err)
		}
		native, nerr := exec.Command(passwd, "--help").CombinedOutput()
		out, res := escapeGuarded(t, escapePolicy(t, false), passwd, "--help")
		wantCode := 0
		var ee *exec.ExitError
		if errors.As(nerr, &ee) {
			wantCode = ee.ExitCode()
		}
		if res.ExitCode() != wantCode || out != string(native) {
			t.Errorf("passwd --help: exit %d, want %d; output %q, want %q", res.ExitCode(), wantCode, out, native)
		}
	})
}

func TestEscapePtrace(t *testing.T) {
	bin := buildC(t, "escape_ptrace")
	routes := []string{"ptrace-traceme", "ptrace-attach-child", "ptrace-seize-child", "child-tracer",
		"child-ptrace-traceme", "child-ptrace-attach-parent", "child-still-guarded", "child-exit"}
	out, res := escapeGuarded(t, escapePolicy(t, false), bin)
	escapeCheck(t, out, res, routes)
}

func TestEscapeThreadsRacingExec(t *testing.T) {
	bin := buildC(t, "escape_threads", "-pthread")
	const gens = 5
	var routes []string
	for g := 1; g <= gens; g++ {
		routes = append(routes, fmt.Sprintf("threads-exec-gen%d", g))
	}
	routes = append(routes, "threads-race")
	t.Run("guarded", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin, "0", strconv.Itoa(gens))
		escapeCheck(t, out, res, routes)
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "0", "1"), nil, []string{"threads-race", "threads-exec-gen1"})
	})
}

func TestEscapeArgumentRace(t *testing.T) {
	bin := buildC(t, "escape_race", "-pthread")
	routes := []string{"old_mmap-race", "clone3-race"}
	escapeLaxStrict(t, bin, routes)
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "strict"), []string{"old_mmap-race"}, []string{"clone3-race"})
	})
}

// TestEscapeDontCopy: mappings the kernel does not copy into a forked
// child (VM_DONTCOPY) placed in the range explicitly: a perf ring buffer
// (perf sets the flag in its mmap), a MADV_DONTFORK mapping moved in from
// outside with mremap, and one moved within the range. The guard reads
// the child's layout at the fork, so the child gets reservations where
// it lacks the program's mappings; before, it had holes and its
// MAP_32BIT landed in one (found in the seventh session).
func TestEscapeDontCopy(t *testing.T) {
	bin := buildC(t, "escape_dontcopy")
	routes := []string{"dontcopy-perf-fixed", "dontcopy-mremap-in", "dontcopy-mremap-within", "fork-after-dontcopy"}
	escapeLaxStrict(t, bin, routes)
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin), []string{"fork-after-dontcopy"}, nil)
	})
}

// TestEscapeForkRace: one thread forks while another maps, marks
// MADV_DONTFORK and unmaps (or shrinks, or marks MADV_DOFORK and unmaps)
// a mapping of its own inside the range. The guard decides each call at
// its stop; the kernel may copy the parent for the fork before it runs
// the call. A child of a munmap decided (the model has a reservation
// there) but not yet run had a hole where the parent's MADV_DONTFORK
// mapping was, and nothing put the reservation back (its MAP_32BIT landed
// in it); a child of a MADV_DONTFORK decided but not yet run was killed,
// its reservation refused with EEXIST over the mapping it had. The
// child's layout is now read at such a fork, and it gets a reservation
// wherever it lacks a mapping (found by testdata/concfuzz.c, ninth
// session).
func TestEscapeForkRace(t *testing.T) {
	bin := buildC(t, "escape_forkrace", "-pthread")
	out, res := escapeGuarded(t, escapePolicy(t, false), bin, "lax", "2000")
	escapeCheck(t, out, res, []string{"forkrace-dontfork"})
	// The same race with a MAP_FIXED decided but not yet run at the
	// fork: the child had the reservation where its model had the
	// program's mapping (886 of 2000 children made it read-write before).
	bin = buildC(t, "escape_forkrace_fixed", "-pthread")
	out, res = escapeGuarded(t, escapePolicy(t, false), bin, "lax", "2000")
	escapeCheck(t, out, res, []string{"forkrace-fixed"})
}

// TestEscapeShmHugeBelowEdge: a one-page SHM_HUGETLB segment attached
// with SHM_REMAP just below a protected range whose start is not a
// multiple of 2 MiB maps a whole huge page, over the reservations: the
// guard judged it by IPC_STAT's size (one page). It now checks the
// layout after such an attachment and kills the program (found in the
// seventh session).
func TestEscapeShmHugeBelowEdge(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root: SHM_HUGETLB needs CAP_IPC_LOCK")
	}
	bin := buildC(t, "escape_shmhuge")
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			p, err := rewrite.NewPolicy([]region.Range{{Start: 0x300000, End: 0x80000000}}, rewrite.DefaultPool, false, strict)
			if err != nil {
				t.Fatal(err)
			}
			out, res := escapeGuarded(t, p, bin)
			if strings.Contains(out, "shmget(SHM_HUGETLB)") {
				t.Fatalf("the kernel refused a SHM_HUGETLB segment, which this test needs: %s", out)
			}
			if strings.Contains(out, "ESCAPED") || strings.Contains(out, "FAIL") {
				t.Errorf("escaped:\n%s", out)
			}
			if res.FailedClosed == 0 && !strings.Contains(out, "shmat-huge-below-edge ok") {
				t.Errorf("neither killed nor ok; status %v:\n%s", res.Status, out)
			}
		})
	}
	t.Run("native", func(t *testing.T) {
		out := escapeNative(t, bin)
		if !strings.Contains(out, "shmat-huge-below-edge ESCAPED") && !strings.Contains(out, "shmget(SHM_HUGETLB)") {
			t.Errorf("the attachment did not reach the edge without the guard:\n%s", out)
		}
	})
}

// TestEscapeOrphanSubreaper: a child whose creator is killed before its
// fork event is reported, handed to a subreaper of the program's that
// then dies too, was settled with a copy of the subreaper's model, where
// the program's own mapping stood; in the child that place is the
// guard's reservation, and its mprotect made it read-write. Such a child
// is now killed, as one handed to a process outside the guard (found in
// the eighth session). The race is narrow: without the fix about one run
// in two showed the escape here.
func TestEscapeOrphanSubreaper(t *testing.T) {
	bin := buildC(t, "escape_reaper", "-pthread")
	out, res := escapeGuarded(t, escapePolicy(t, false), bin)
	var kept []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "a new task whose creator is gone") {
			kept = append(kept, l)
		}
	}
	escapeCheck(t, strings.Join(kept, "\n"), res, []string{"orphan-subreaper"})
}

// TestEscapeOrphanExec: new processes whose creator another thread's
// exec ends before their clone event, their first stop seen before the
// exec's (testdata/escape_orphanexec.c). Each was given a copy of the
// exec'ing process's old model: a clone(CLONE_VM) child, whose memory
// another such child shares, then had a model of its own, and a child
// made with CLONE_PARENT by another child of the process's had its
// parent's model instead of its creator's. Either way a reservation the
// model took for the program's could be made read-write, or a hole
// left (32 of 455 children, 9 and 11 of 3000, found by a helper in the
// thirteenth session). They now get what adoptLate gives a child whose
// first stop comes after the exec: the memory of the task kcmp finds
// sharing it, or a model read from their own layout; and a child a
// live sibling may have made waits for that one's event. With
// orphan-clonevm-slowexit the creators die slowly, which makes a rarer
// case likelier: a creator killed while its event was handled, seen
// without memory but not yet a zombie (see TestAdoptCreatorKilledAtEvent).
func TestEscapeOrphanExec(t *testing.T) {
	bin := buildC(t, "escape_orphanexec", "-no-pie", "-pthread")
	routes := []string{"orphan-clonevm", "orphan-clonevm-slowexit", "orphan-cloneparent", "orphan-cloneparent-dontfork"}
	escapeLaxStrict(t, bin, routes)
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "5"), []string{"orphan-cloneparent-dontfork"}, nil)
	})
}

// TestHeldChildLiveSubreaper: a child whose creator is SIGKILLed in its
// fork event stop, before the tracer sees it, is handed to a subreaper
// of the program's that lives on and waits for it (testdata/
// reaper_live.c). The child waited for the event for good, and the
// program hung (at its second to seventh round); the guard now sees that
// no task that could have made it is in a fork-family call, asking a
// running one to stop to tell, and kills the child (fail closed).
func TestHeldChildLiveSubreaper(t *testing.T) {
	bin := buildC(t, "reaper_live")
	out, res := escapeGuarded(t, escapePolicy(t, false), bin, "200")
	if !strings.Contains(out, "END rounds=200 escapes=0") || res.ExitCode() != 0 {
		t.Fatalf("exit %d (%v):\n%s", res.ExitCode(), res.Status, out)
	}
}

// escapeLaxStrict runs a probe under the test policy without and with
// --strict (its argument "strict"), and checks the same routes in both.
func escapeLaxStrict(t *testing.T, bin string, routes []string) {
	t.Helper()
	t.Run("lax", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin)
		escapeCheck(t, out, res, routes)
	})
	t.Run("strict", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, true), bin, "strict")
		escapeCheck(t, out, res, routes)
	})
}

// TestPartialMoveIntoRange: the same failure of a length-keeping
// MREMAP_FIXED, with the target in the protected range, from inside the
// range and from outside it: what the kernel moved before it failed is
// at the target, the program's, with its data, as natively (before, the
// guard's rollback mapped its reservation over it), and the range has no
// hole. With MREMAP_DONTUNMAP the old mappings stay, emptied, and only
// the target tells how far the kernel got.
func TestPartialMoveIntoRange(t *testing.T) {
	bin := buildC(t, "partialmove_in", "-pthread")
	for _, mode := range []string{"within", "into", "within-dontunmap", "into-dontunmap"} {
		t.Run(mode, func(t *testing.T) {
			native, err := exec.Command(bin, mode).CombinedOutput()
			if err != nil {
				t.Fatalf("natively: %v\n%s", err, native)
			}
			out, res := escapeGuarded(t, escapePolicy(t, false), bin, mode, "-g")
			if res.ExitCode() != 0 || strings.Contains(out, "ESCAPED") || strings.Contains(out, "FAIL") {
				t.Fatalf("status %v:\n%s", res.Status, out)
			}
			var got []string
			for _, l := range strings.Split(out, "\n") {
				if !strings.HasPrefix(l, mode+" ok:") {
					got = append(got, l)
				}
			}
			if g := strings.Join(got, "\n"); g != string(native) {
				t.Errorf("under the guard:\n%s\nnatively:\n%s", g, native)
			}
		})
	}
}

// TestEscapePartialMove: two mappings of the program's inside the range
// are moved out with one length-keeping MREMAP_FIXED; since Linux 6.17
// the kernel moves them one after another, and the second cannot move
// (sealed, or of /dev/zero): the call fails after the first one moved.
// Its old place must be reserved again, not left a hole.
func TestEscapePartialMove(t *testing.T) {
	bin := buildC(t, "escape_partialmove", "-pthread")
	for _, mode := range []string{"mseal", "devzero"} {
		t.Run(mode, func(t *testing.T) {
			out, res := escapeGuarded(t, escapePolicy(t, false), bin, mode)
			if strings.Contains(out, "ESCAPED") || strings.Contains(out, "FAIL") || !strings.Contains(out, "END failures=0") {
				t.Errorf("status %v:\n%s", res.Status, out)
			}
		})
	}
}

// TestRescanMidMove: the layout read after a failed call, while other
// threads run, showed the target of another thread's MREMAP_FIXED into
// the range free (since Linux 6.17 /proc/PID/maps is read without the
// mmap lock, and the kernel unmaps a move's target before the move
// arrives, under the lock throughout). The guard took it for a gap,
// counted it its own, and the reservation it put back there found the
// moved mapping: the process was killed (fail closed) in 5 runs of 6 of
// testdata/midmove.c with 3,000 moves, within half a second. Found by
// this review of the concurrent fuzzer's moment's hole (its checker read
// maps the same way).
func TestRescanMidMove(t *testing.T) {
	out, res, err := escapeWatched(t, escapePolicy(t, false), escapeTimeout, buildC(t, "midmove", "-pthread"), "4000")
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, out)
	}
	if res.ExitCode() != 0 || !strings.Contains(out, "END bad=0") {
		t.Fatalf("status %v:\n%s", res.Status, out)
	}
}

// TestEscapeCallOrder: a call of one thread on a page of the program's
// in the range, let go by the tracer at its seccomp stop, and a call of
// another thread on the same page decided after it, which the kernel
// runs first (testdata/escape_order.c keeps the first thread off the CPU
// meanwhile). The model followed the tracer's order, the kernel the
// other: an mprotect ran on the reservation an munmap left (a readable
// page in the range), a MADV_DONTFORK likewise (a forked child's hole),
// and a MAP_FIXED page was replaced by an earlier munmap's reservation
// that the model counted as the program's (its mprotect made it
// read-write). A call whose pages overlap a call of another task still
// in flight now waits for it. And a MADV_DOFORK so decided before a
// fork ran after the kernel's copy: the child had a hole where the model
// had the page inherited; a fork while another task's call may have run
// meanwhile now reads the child's layout. (Found in the ninth session;
// without the fixes every mode escaped within a few rounds.)
func TestEscapeCallOrder(t *testing.T) {
	bin := buildC(t, "escape_order", "-no-pie", "-pthread")
	for _, c := range []struct {
		mode, route string
		strict      bool
	}{
		{"mprotect", "order-mprotect", false},
		{"mprotect", "order-mprotect", true},
		{"madvise", "order-dontfork", false},
		{"madvise", "order-dontfork", true},
		{"fixed", "order-fixed", false},
		{"dofork", "order-dofork", false},
		{"dofork", "order-dofork", true},
	} {
		t.Run(fmt.Sprintf("%s/strict=%v", c.mode, c.strict), func(t *testing.T) {
			args := []string{bin, c.mode}
			if c.strict {
				args = append(args, "strict")
			}
			out, res := escapeGuarded(t, escapePolicy(t, c.strict), args...)
			escapeCheck(t, out, res, []string{c.route})
		})
	}
}

// TestEscapeMremapEfault: a shrinking MREMAP_FIXED into the range from an
// old range with nothing mapped at its start fails with EFAULT having
// changed nothing (Linux 6.17 looks the old mapping up first). The guard
// read the failure as a partial move as far as the old range's first
// mapping (the reservation at the range's start) and counted the target,
// still its reservation, as the program's: the program's mprotect made
// it read-write (review of the ninth session's changes).
func TestEscapeMremapEfault(t *testing.T) {
	bin := buildC(t, "escape_mremap_efault")
	out, res := escapeGuarded(t, escapePolicy(t, false), bin, "lax")
	escapeCheck(t, out, res, []string{"mremap-efault"})
}

// TestEscapeFixedFileFails: a MAP_FIXED file mapping whose file's mmap
// method fails (MAP_HUGETLB with no huge page free: ENOMEM; a perf
// event mapped MAP_PRIVATE: EINVAL) fails after the kernel has
// unmapped what was there, and Linux leaves a gap where it failed. Over
// the program's own mapping in the range the rolled-back model kept the
// program's over that hole, nothing reserved it, and MAP_32BIT landed
// there; with --strict, over a pool chunk of the program's, a hole in
// the pool (found in the ninth session). The layout is now read after
// such a failure (see TestEscapeFixedFileRace for the other threads).
func TestEscapeFixedFileFails(t *testing.T) {
	bin := buildC(t, "escape_fixedfail", "-pthread")
	for _, strict := range []bool{false, true} {
		for _, mode := range []string{"huge", "perf"} {
			t.Run(fmt.Sprintf("%s/strict=%v", mode, strict), func(t *testing.T) {
				args := strictArgs(bin, strict)
				out, res := escapeGuarded(t, escapePolicy(t, strict), append(args, mode)...)
				escapeCheck(t, out, res, []string{"fixedfail-" + mode})
			})
		}
	}
}

// TestEscapeFixedFileRace: the failed MAP_FIXED file mappings of
// TestEscapeFixedFileFails (MAP_SYNC on a file without DAX, a perf event
// mapped private), over the program's own mapping in the range, over the
// guard's reservation, and with MAP_FIXED_NOREPLACE there, raced by
// another thread's MAP_32BIT. The kernel unmaps the target before the
// file's mmap method fails, and the gap stays until the guard has mapped
// its reservation back: MAP_32BIT landed in it within three rounds (over
// a reservation) or took the place of the reservation put back, which
// failed (EEXIST) and had the process killed (found in the tenth
// session). The other threads are held meanwhile for such files now.
// overlay: a file of an overlay over sysfs (the probe mounts it in a mount
// namespace of its own, a user namespace too where it is not privileged),
// whose mmap the layer below fails with ENODEV after the unmap: overlayfs
// was taken for a file system whose files do not fail so, and MAP_32BIT
// landed in the gap in the first round (found in the tenth session's
// review).
func TestEscapeFixedFileRace(t *testing.T) {
	bin := buildC(t, "escape_fixedfail_race", "-pthread")
	for _, mode := range []string{"sync", "perf", "overlay"} {
		for _, target := range []string{"own", "reserved", "noreplace"} {
			t.Run(mode+"/"+target, func(t *testing.T) {
				out, res := escapeGuarded(t, escapePolicy(t, false), bin, mode, target, "1000")
				escapeCheck(t, out, res, []string{"fixedfail-race-" + mode + "-" + target})
			})
		}
	}
	// The file looked at when the call stopped is not the one the kernel
	// maps: another thread swaps the descriptor (dup2) for a sysfs file
	// in between. A look cannot tell; in a protected range the other
	// threads are held for every file (found in the tenth session's
	// review: MAP_32BIT landed within ten rounds).
	t.Run("swap", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), buildC(t, "escape_fixedfail_swap", "-pthread"), "2000")
		escapeCheck(t, out, res, []string{"fixedfail-swap"})
	})
}

// TestEscapeRemapFilePages: remap_file_pages maps the file of a shared
// mapping again over part of it with MAP_FIXED, and the file's mmap
// method runs after the kernel has unmapped that part: a perf ring
// buffer at page offset 1 (EINVAL), a hugetlb memfd at an offset with no
// huge page free (ENOMEM) fail there and leave a gap. Over the program's
// own mapping in the range (without --strict; with it, in the pool) the
// filter let the call through unseen, the model kept the program's
// mapping over the hole, and MAP_32BIT landed in it (found in the
// eleventh session). race: another thread's MAP_32BIT, which took the
// gap in the first round while the guard had not yet looked at the
// layout, unless the other threads are held.
func TestEscapeRemapFilePages(t *testing.T) {
	bin := buildC(t, "escape_remapfile", "-pthread")
	for _, strict := range []bool{false, true} {
		for _, mode := range []string{"perf", "huge", "race", "reservation"} {
			if mode == "race" && strict {
				continue // (its mapping is a MAP_FIXED one in the range)
			}
			t.Run(fmt.Sprintf("%s/strict=%v", mode, strict), func(t *testing.T) {
				routes := []string{"remapfile-" + mode}
				if mode == "perf" && !strict {
					routes = append(routes, "remapfile-perf32")
				}
				out, res := escapeGuarded(t, escapePolicy(t, strict), append(strictArgs(bin, strict), mode)...)
				escapeCheck(t, out, res, routes)
			})
		}
	}
	t.Run("registers", func(t *testing.T) {
		escapeRegs(func() {
			out, res := escapeGuarded(t, escapePolicy(t, false), bin, "perf")
			escapeCheck(t, out, res, []string{"remapfile-perf", "remapfile-perf32"})
		})
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "perf"), []string{"remapfile-perf", "remapfile-perf32"}, nil)
	})
}

// TestEscapeMapVdso: arch_prctl(ARCH_MAP_VDSO_64 / _32, addr), which the
// filter lets through, maps a vDSO once the old one is unmapped, with
// addr as a hint: inside the range, at its start, across its end and in
// the pool it lands elsewhere, the reservations being in the way (x32:
// EINVAL on this kernel). race: the same while another thread moves a
// mapping out of the range at that address (a hole until the guard
// reserves it again; the other threads are held meanwhile). Natively the
// vDSO lands at the hint. Not an escape (eleventh session). And
// arch_prctl(ARCH_ENABLE_TAGGED_ADDR) is refused as on a CPU without
// Linear Address Masking (thirteenth session).
func TestEscapeMapVdso(t *testing.T) {
	bin := buildC(t, "escape_vdso", "-pthread")
	routes := []string{"vdso64-inside", "vdso64-start", "vdso64-across-end", "vdso64-pool", "vdso32-inside", "vdso32-pool",
		"vdsox32-inside", "lam-tagged-addr"}
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			out, res := escapeGuarded(t, escapePolicy(t, strict), strictArgs(bin, strict)...)
			escapeCheck(t, out, res, routes)
		})
	}
	t.Run("race", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin, "race")
		escapeCheck(t, out, res, []string{"vdso-race"})
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin), []string{"vdso64-inside", "vdso64-start", "vdso64-across-end", "vdso32-inside"},
			[]string{"vdso64-pool", "vdso32-pool"})
	})
}

// TestEscapeBPFArena: the kernel moves a BPF arena's mapping that would
// cross a 4 GiB line up to the line, MAP_FIXED too (testdata/escape_arena.c,
// under a range 1.5 GiB above the line at 4 GiB). A fixed mapping named
// below the range landed in it, unseen by the filter (which reached only
// 1 GiB past a file mapping's end), with --strict too; an unaligned
// one, which the guard let through as one the kernel refuses, too; one
// across the range's end left the guard taking its reservation for the
// program's mapping, which mprotect made read-write; and one placed in
// the pool, across a line there, was killed (found in the eighteenth
// session). Needs CAP_BPF and Linux 6.9: skipped without, and fails as
// root on such a kernel if no arena can be made.
func TestEscapeBPFArena(t *testing.T) {
	bin := buildC(t, "escape_arena", "-pthread")
	native := escapeNative(t, bin)
	if strings.Contains(native, "arena info: unavailable") {
		// Arenas came in Linux 6.9 and need CAP_BPF: as root on such
		// a kernel (CI) one must be made, or the test would pass
		// without trying anything.
		if os.Geteuid() == 0 && kernelAtLeast(t, 6, 9) {
			t.Fatalf("no BPF arena made as root on Linux 6.9 or later: %s", strings.TrimSpace(native))
		}
		t.Skipf("no BPF arena here (Linux 6.9 and CAP_BPF needed): %s", strings.TrimSpace(native))
	}
	routes := []string{"arena-fixed-unaligned", "arena-fixed-below", "arena-noreplace-below", "arena-at-line", "arena-hint-inside"}
	for _, mode := range []struct {
		name            string
		poolAll, strict bool
	}{{"lax", false, false}, {"strict", false, true}, {"pool-all", true, false}} {
		t.Run(mode.name, func(t *testing.T) {
			p, err := rewrite.NewPolicy([]region.Range{region.Must(0x160000000, 0x200000000)}, rewrite.DefaultPool, mode.poolAll, mode.strict)
			if err != nil {
				t.Fatal(err)
			}
			out, res := escapeGuarded(t, p, strictArgs(bin, mode.strict)...)
			escapeCheck(t, out, res, routes)
		})
	}
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, native, []string{"arena-fixed-unaligned", "arena-fixed-below", "arena-noreplace-below"}, nil)
	})
	// Another thread swaps an arena and a memfd on the descriptor
	// between the tracer's look and the kernel's (eighteenth session's
	// review): a memfd's unaligned fixed mapping, let through as one the
	// kernel refuses, and a hugetlb memfd's, not looked at afterwards,
	// became the arena's at the line, in the range (in every mode); a
	// private one's failed after the kernel unmapped the line's range,
	// a gap of 1.5 GiB in it. Now the first two fail closed once the
	// race comes off, and the gap is reserved again.
	for _, how := range []string{"unaligned", "huge", "private"} {
		t.Run("swap-race-"+how, func(t *testing.T) {
			p, err := rewrite.NewPolicy([]region.Range{region.Must(0x160000000, 0x200000000)}, rewrite.DefaultPool, false, true)
			if err != nil {
				t.Fatal(err)
			}
			out, res := escapeGuarded(t, p, bin, "race", how, "2000")
			if res.FailedClosed > 0 && how != "private" {
				if !res.Status.Signaled() || strings.Contains(out, "ESCAPED") || strings.Contains(out, "FAIL") {
					t.Errorf("failed closed %d, status %v:\n%s", res.FailedClosed, res.Status, out)
				}
				return
			}
			escapeCheck(t, out, res, []string{"arena-swap-race-" + how})
		})
	}
}

// TestEscapeNamedReservation: prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME),
// which the filter lets through, names any anonymous mapping, the
// guard's reservations too: "[anon:NAME]" in /proc/PID/maps (kernels
// built with CONFIG_ANON_VMA_NAME, Android's, Fedora's, Ubuntu's). A
// model built from a child's layout (FromLayout: a child forked by a
// thread another thread's exec ended; Reconcile: a fork while another
// thread's call on those pages flies) took a named reservation for the
// program's mapping, and the child's mprotect made it read-write (found
// in the ninth session, by reading the code: this test's kernel may not
// name mappings, so the models are fed the layout such a child has).
func TestEscapeNamedReservation(t *testing.T) {
	p := escapePolicy(t, false)
	// "[stack]": prctl(PR_SET_MM, PR_SET_MM_START_STACK) (CAP_SYS_RESOURCE,
	// which a root program keeps with --strict) moves the address by which
	// the kernel names the initial stack into a reservation (found in the
	// tenth session, by reading the code: this test's root lacks the
	// capability).
	for _, name := range []string{"[anon:x]", "[stack]"} {
		testNamedReservation(t, p, name)
	}
	// And the probe, which names a reservation and forks while another
	// thread's mprotect flies over it (where the kernel can name
	// mappings: CONFIG_ANON_VMA_NAME; elsewhere it checks only that
	// nothing escapes).
	bin := buildC(t, "escape_anonname", "-pthread")
	out, res := escapeGuarded(t, p, bin)
	escapeCheck(t, out, res, []string{"anonname-fork"})
}

// testNamedReservation feeds the models a layout where a reservation
// carries name (see TestEscapeNamedReservation).
func testNamedReservation(t *testing.T, p *rewrite.Policy, name string) {
	t.Helper()
	named := region.Range{Start: 0x7ff01000, End: 0x7ff02000}
	own := region.Range{Start: 0x7ff00000, End: 0x7ff01000}
	maps := []region.Mapping{
		{Range: region.Range{Start: lowRange.Start, End: own.Start}, Perms: "---p"},
		{Range: own, Perms: "rw-p"},
		{Range: named, Perms: "---p", Path: name},
		{Range: region.Range{Start: named.End, End: lowRange.End}, Perms: "---p"},
		{Range: rewrite.DefaultPool, Perms: "---p"},
	}
	mprotect := rewrite.Call{ABI: rewrite.ABI64, Nr: syscall.SYS_MPROTECT, Args: [6]uint64{named.Start, named.Len(), syscall.PROT_READ | syscall.PROT_WRITE}}
	check := func(how string, g *rewrite.Guard) {
		t.Helper()
		if a := g.Decide(mprotect, rewrite.Caller{Task: 1}); a.Verdict != rewrite.Return || a.Ret != rewrite.Err(rewrite.ENOMEM) {
			t.Errorf("%s: mprotect(PROT_READ|PROT_WRITE) of the reservation %v named %s: %v, want ENOMEM", how, named, name, a)
		}
	}
	prev := rewrite.NewGuard(p)
	g, _ := rewrite.FromLayout(prev, rewrite.ABI64, maps)
	check("FromLayout", g)

	parent := rewrite.NewGuard(p)
	calls, _ := parent.Reserve(rewrite.ABI64, nil)
	for _, c := range calls {
		parent.Injected(c, c.Args[0])
	}
	a := parent.Decide(rewrite.Call{ABI: rewrite.ABI64, Nr: syscall.SYS_MMAP,
		Args: [6]uint64{own.Start, own.Len(), syscall.PROT_READ | syscall.PROT_WRITE, syscall.MAP_PRIVATE | syscall.MAP_ANONYMOUS | syscall.MAP_FIXED, ^uint64(0), 0}},
		rewrite.Caller{Task: 1})
	parent.Complete(a, own.Start)
	c, _ := parent.ForkLayout(rewrite.ABI64, nil)
	// Another thread's mprotect of own and the named page flew at the fork.
	span := region.Range{Start: own.Start, End: named.End}
	c.Reconcile(maps, []region.Range{span}, []region.Range{{}})
	check("Reconcile", c)
}

// TestEscapeSleeperGrowsdown: a freeze goes on without a thread asleep
// in the kernel in a call that cannot place a mapping (lookAtSleepers),
// but the call, woken while the hole is there, writes into it, and the
// fault grows a MAP_GROWSDOWN mapping just above the range down over
// it (escape_sleepgrow.c). The reservation put back then fails with
// EEXIST over a range the layout shows covered, which putBack took for
// its own reservation left in place: the growth stayed, read-write, in
// the protected range, in every run. The program must be killed.
func TestEscapeSleeperGrowsdown(t *testing.T) {
	bin := buildC(t, "escape_sleepgrow", "-pthread")
	out, res := escapeGuarded(t, escapePolicy(t, false), bin)
	if strings.Contains(out, "ESCAPED") || strings.Contains(out, "FAIL") || res.FailedClosed == 0 || !res.Status.Signaled() {
		t.Errorf("failed closed %d, status %v:\n%s", res.FailedClosed, res.Status, out)
	}
	if nat := escapeNative(t, bin); !strings.Contains(nat, "sleepgrow ESCAPED") {
		t.Errorf("natively the mapping above should grow into the range:\n%s", nat)
	}
}

// TestEscapeInsnOverwritten: another process writes over the syscall
// instruction the guard runs its calls from, between the SETREGS and the
// call (testdata/escape_insnwrite.c): a parent through its child's
// /proc/PID/mem (FOLL_FORCE) at the child's exec, where the reservations
// run from the entry point (exec: the victim, insnwrite_victim.c, reports
// whether the range is reserved at its start, with the range below the
// pool and above it, where the pool's reservation comes first); a helper
// process that shares the page of the program's own syscall instruction,
// from which the reservation put back after a move-out runs (putback).
// The task then runs the program's code with the guard's registers.
// Resumed with PTRACE_SYSCALL, it stops at the entry of that code's
// first call, and the process is killed. An eleventh-session change
// resumed calls whose seccomp stop the filter made certain with
// PTRACE_CONT: nothing stopped the task before its next trapped call,
// and its open, read and write found the range unreserved, in 6 execs
// of 10 and at the first put-back rewritten (found by a reviewer; the
// change was taken back). Since the sixteenth session the calls at an
// exec run with PTRACE_SINGLESTEP: one instruction of the program's,
// then a stop that shows it was not the guard's call; also when int
// $0x80 is written instead, a call with the guard's registers through
// the other ABI (mmap's number there is link's).
func TestEscapeInsnOverwritten(t *testing.T) {
	bin := buildC(t, "escape_insnwrite")
	victim := buildC(t, "insnwrite_victim", "-static", "-nostdlib", "-fno-stack-protector", "-fno-builtin",
		"-Wl,-Ttext-segment=0x10000000000")
	high := region.Must(0x400000000000, 0x500000000000)
	above, err := rewrite.NewPolicy([]region.Range{high}, rewrite.DefaultPool, false, false)
	if err != nil {
		t.Fatal(err)
	}
	rewritten := regexp.MustCompile(`rewritten in (\d+) of`)
	for _, c := range []struct {
		name   string
		p      *rewrite.Policy
		r      region.Range
		with   string // what is written over the instruction: two nops, int $0x80, or jmp to itself
		noStep bool   // the calls run with PTRACE_SYSCALL (see injection)
	}{
		{"exec", escapePolicy(t, false), lowRange, "nops", false},
		{"exec-above-pool", above, high, "nops", false},
		{"exec-int80", escapePolicy(t, false), lowRange, "int80", false},
		// (Single-stepped, the jump stops where it started, as if
		// nothing had run: the guard stepped it for good.)
		{"exec-jmpself", escapePolicy(t, false), lowRange, "jmpself", false},
		{"exec-nostep", escapePolicy(t, false), lowRange, "nops", true},
		{"exec-int80-nostep", escapePolicy(t, false), lowRange, "int80", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			noStep = c.noStep
			defer func() { noStep = false }()
			out, res := escapeGuarded(t, c.p, bin, "exec", victim, fmt.Sprintf("%#x", c.r.Start), fmt.Sprintf("%#x", c.r.End), c.with)
			escapeCheck(t, out, res, []string{"exec-entry-rewritten"})
			if m := rewritten.FindStringSubmatch(out); m == nil || m[1] == "0" {
				t.Errorf("no entry point rewritten in time: the probe tried nothing:\n%s", out)
			}
		})
	}
	t.Run("putback", func(t *testing.T) {
		out, res := escapeGuarded(t, escapePolicy(t, false), bin, "putback")
		escapeCheck(t, out, res, []string{"putback-insn-rewritten"})
		if !strings.Contains(out, "killed") {
			t.Logf("no try had the program's code run in the guard's call:\n%s", out)
		}
	})
	t.Run("native", func(t *testing.T) {
		escapeCheckNative(t, escapeNative(t, bin, "exec", victim, "0x10000", "0x80000000"), []string{"exec-entry-rewritten"}, nil)
	})
}

// strictArgs is a probe's command line: bin, and "strict" when the guard
// runs with --strict (see escape.h's set_mode).
func strictArgs(bin string, strict bool) []string {
	if strict {
		return []string{bin, "strict"}
	}
	return []string{bin}
}

// TestNoReplaceAcrossEdge: MAP_FIXED_NOREPLACE of a shared /dev/zero
// mapping and of a perf event's ring buffer across the range's edges
// (testdata/noreplace_edge.c) must give what it gives natively: one
// mapping, every page usable. The guard mapped each side of an edge
// apart, and the pieces were not the kernel's one mapping: /dev/zero's
// piece at an offset a SIGBUS at each page, the ring buffer EINVAL
// (found by the fifteenth session's hunt).
func TestNoReplaceAcrossEdge(t *testing.T) {
	asNative(t, buildC(t, "noreplace_edge"), "/dev/zero across the end: mapped at the address asked: yes; 1 mapping(s)\n",
		"/dev/zero across the end is not one usable mapping")
}

// TestEscapeStackRoom: the room left unreserved below a stack in a
// guarded range, for it to grow into (withStackRoom), is the stack's
// alone (testdata/escape_stackroom.c). arch_prctl(ARCH_MAP_VDSO_64 and
// _32), which the filter let through, mapped the vDSO at a hint in it;
// and mremap grew a mapping right below it in place into it: two pages
// of the program's just below a range whose start lay in the room, and
// ld.so's data segment where the layout was made with an RLIMIT_STACK
// smaller than the one the guard read at the exec (another process's
// prlimit between the two, with ADDR_NO_RANDOMIZE, which puts ld.so 128
// MiB below the stack), as root and as any user; and the kernel's
// last-resort search put a mapping in it once the program had filled the
// rest of the address space (a dozen calls), also under the legacy
// layout, whose room the guard reserved, where another process lowered
// RLIMIT_STACK from unlimited before the guard read it (found by the
// seventeenth session's hunt). The stack is grown over the room at the
// exec now (growStack).
func TestEscapeStackRoom(t *testing.T) {
	bin := buildC(t, "escape_stackroom")
	top := region.Must(0x7f0000000000, 0x7ffffffff000)
	high := region.Must(0x7ffffff00000, 0x7ffffffff000)
	for _, c := range []struct {
		mode    string
		protect region.Range
		routes  []string
	}{
		{"vdso", top, []string{"room-vdso64", "room-vdso32"}},
		{"below", high, []string{"room-grow-below", "room-grow-below-maymove"}},
		{"rlimit", top, []string{"room-rlimit-grow"}},
		{"fill", top, []string{"room-fill"}},
		{"legacy", top, []string{"room-legacy-fill"}},
	} {
		for _, strict := range []bool{false, true} {
			if strict && c.protect == top {
				// (--strict kills a program whose vDSO or ld.so the
				// kernel put in a protected range at its exec.)
				continue
			}
			t.Run(fmt.Sprintf("%s/strict=%v", c.mode, strict), func(t *testing.T) {
				p, err := rewrite.NewPolicy([]region.Range{c.protect}, rewrite.DefaultPool, false, strict)
				if err != nil {
					t.Fatal(err)
				}
				out, res := escapeGuarded(t, p, bin, c.mode)
				escapeCheck(t, out, res, c.routes)
			})
		}
		if c.mode == "legacy" {
			// (Natively the child reads its limit before the parent's
			// prlimit, as a rule: no tracer stands between; fill is the
			// same route without the race.)
			continue
		}
		t.Run(c.mode+"/native", func(t *testing.T) {
			escapeCheckNative(t, escapeNative(t, bin, c.mode), c.routes, nil)
		})
	}
}

// TestEscapeHandoverCont: the first program is handed over from
// PTRACE_TRACEME to PTRACE_SEIZE (see handOver), detached with SIGSTOP
// in between. A SIGCONT another process sends then (any process of the
// same user may) flushed that SIGSTOP or ended its stop, and the program
// ran on traced by nobody until it next stopped: its exec got no
// reservations, and its NULL-hint mmaps, which the filter leaves to the
// kernel, landed in the protected range once it had filled the rest of
// the address space (the seventeenth session's strict hunt: one start in
// three with a helper sending SIGCONT in a loop, as uid 65534 too; with
// --protect 0x100000000-0x200000000 nineteen of twenty). Now the
// program stands at a stub of the guard's while it is detached, which
// stopped it again if it was continued (since the eighteenth session,
// which detaches it without a stop, the stub waits in pause(2)), and is
// never untraced running its own code; nor is it killed (a first form
// of the fix, which made it fault, killed 35 starts of 40 here, and a
// shell's fg after a ^Z at the start: TestRunStopAtStart in
// cmd/mmapguard).
func TestEscapeHandoverCont(t *testing.T) {
	bin := buildC(t, "escape_handover")
	out := escapeNative(t, bin)
	if !strings.Contains(out, "handover-fill ESCAPED") {
		t.Fatalf("natively the probe found no place in the range:\n%s", out)
	}
	for i := range 40 {
		stop := make(chan struct{})
		spam := make(chan struct{})
		go func() {
			defer close(spam)
			contLoop(bin, stop)
		}()
		o, res, err := escapeWatched(t, escapePolicy(t, true), escapeTimeout, bin)
		close(stop)
		<-spam
		if err != nil {
			t.Fatalf("run %d: %v; output:\n%s", i, err, o)
		}
		escapeCheck(t, o, res, []string{"handover-traced", "handover-fill"})
		if t.Failed() {
			t.Fatalf("run %d failed; output:\n%s", i, o)
		}
	}
}

// contLoop sends SIGCONT to the process of the tracer's running bin (a
// child of this process, found by its command line), as fast as it
// can, until stop is closed or the process is gone.
func contLoop(bin string, stop <-chan struct{}) {
	pid := 0
	for pid == 0 {
		select {
		case <-stop:
			return
		default:
		}
		tasks, _ := os.ReadDir("/proc/self/task")
		for _, tk := range tasks {
			b, _ := os.ReadFile("/proc/self/task/" + tk.Name() + "/children")
			for _, f := range strings.Fields(string(b)) {
				cmd, _ := os.ReadFile("/proc/" + f + "/cmdline")
				if strings.HasPrefix(string(cmd), bin+"\x00") {
					pid, _ = strconv.Atoi(f)
				}
			}
		}
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		if syscall.Kill(pid, syscall.SIGCONT) != nil {
			return
		}
	}
}

// kernelAtLeast reports whether the running kernel's release is at
// least major.minor.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	t.Helper()
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatalf("uname: %v", err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", unix.ByteSliceToString(u.Release[:]), err)
	}
	return ma > major || ma == major && mi >= minor
}
