package seccomp

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/region"
)

// victimEnv makes the test binary, re-executed, act as the victim.
const victimEnv = "MMAPGUARD_SECCOMP_VICTIM"

// TestKernelFilter installs a filter in a separate process (never in the
// test process itself: a filter cannot be removed) and checks what the
// real kernel answers. No tracer is attached, so every call the filter
// sends to a tracer fails with ENOSYS: the guard fails closed.
func TestKernelFilter(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperVictim$", "-test.count=1")
	cmd.Env = append(os.Environ(), victimEnv+"=1")
	out, err := cmd.CombinedOutput()
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "victim: "); ok {
			name, result, _ := strings.Cut(rest, " ")
			got[name] = result
		}
	}
	if msg, ok := got["fail"]; ok {
		t.Fatalf("victim could not run its checks: %s\n%s", msg, out)
	}
	if err != nil {
		t.Fatalf("victim: %v\n%s", err, out)
	}
	for _, tc := range []struct{ name, want, why string }{
		{"install", "ok", "seccomp(SECCOMP_SET_MODE_FILTER, TSYNC) must work on this kernel"},
		{"mmap-null", "ok", "a NULL-hint mmap is decided in the kernel"},
		{"mmap-noreplace-inside", "ENOSYS", "MAP_FIXED_NOREPLACE inside the range reaches the (absent) tracer"},
		{"mmap-hint-inside", "ENOSYS", "a hint inside a protected range reaches the tracer"},
		{"mmap-fixed-far", "ok", "MAP_FIXED far from the range is decided in the kernel"},
		{"mprotect-inside", "ENOSYS", "mprotect inside the range reaches the tracer (ENOMEM if allowed)"},
		{"munmap-far", "ok", "munmap far from the range is decided in the kernel"},
		{"brk", "ok", "brk is settled in the kernel: reservations stop the heap"},
		{"clone3", "ENOSYS", "clone3 is answered ENOSYS (EINVAL if allowed)"},
		{"clone-untraced", "EPERM", "CLONE_UNTRACED is denied (EINVAL if allowed)"},
		{"clone-invalid", "EINVAL", "the same invalid clone without CLONE_UNTRACED reaches the kernel"},
		{"x32-getpid", "ENOSYS", "x32 calls are refused (this kernel has no x32 ABI, so it would say ENOSYS too)"},
		{"getpid", "ok", "ordinary calls are untouched"},
	} {
		if g, ok := got[tc.name]; !ok {
			t.Errorf("%s: no report from the victim", tc.name)
		} else if g != tc.want {
			t.Errorf("%s: got %s, want %s: %s", tc.name, g, tc.want, tc.why)
		}
	}
	t.Logf("victim output:\n%s", out)
}

// TestHelperVictim is the victim process of TestKernelFilter; run on its
// own it does nothing.
func TestHelperVictim(t *testing.T) {
	if os.Getenv(victimEnv) == "" {
		t.Skip("helper process of TestKernelFilter")
	}
	report := func(name, result string) { fmt.Printf("victim: %s %s\n", name, result) }
	fail := func(format string, args ...any) {
		report("fail", fmt.Sprintf(format, args...))
		os.Exit(2)
	}
	result := func(errno unix.Errno) string {
		if errno == 0 {
			return "ok"
		}
		return unix.ErrnoName(errno)
	}

	runtime.LockOSThread()
	protected := region.Range{Start: 0x10000, End: 0x80000000}
	prog, err := Build(Policy{Guarded: []region.Range{protected}, Protected: []region.Range{protected}})
	if err != nil {
		fail("build: %v", err)
	}
	// Prepare before installing: a mapping of our own, far from the
	// range, that MAP_FIXED can replace without harm.
	own, err := unix.Mmap(-1, 0, 2*int(region.PageSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		fail("mmap before install: %v", err)
	}
	ownAddr := uintptr(unsafe.Pointer(&own[0]))
	if uint64(ownAddr) < protected.End {
		fail("own mapping at %#x is not far from the range", ownAddr)
	}

	if err := Install(prog, FlagTSync); err != nil {
		report("install", strconv.Quote(err.Error()))
		fail("install: %v", err)
	}
	report("install", "ok")

	const (
		rw       = unix.PROT_READ | unix.PROT_WRITE
		anon     = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS
		page     = uintptr(region.PageSize)
		inside   = uintptr(0x20000)
		untraced = 0x00800000 // CLONE_UNTRACED
	)
	mmap := func(addr, flags uintptr) (uintptr, unix.Errno) {
		r, _, e := unix.Syscall6(unix.SYS_MMAP, addr, page, rw, flags, ^uintptr(0), 0)
		return r, e
	}

	r, e := mmap(0, anon)
	report("mmap-null", result(e))
	if e == 0 {
		_, _, e = unix.Syscall(unix.SYS_MUNMAP, r, page, 0)
		report("munmap-far", result(e))
	}
	_, e = mmap(inside, anon|unix.MAP_FIXED_NOREPLACE)
	report("mmap-noreplace-inside", result(e))
	_, e = mmap(inside, anon)
	report("mmap-hint-inside", result(e))
	_, e = mmap(ownAddr, anon|unix.MAP_FIXED)
	report("mmap-fixed-far", result(e))
	_, _, e = unix.Syscall(unix.SYS_MPROTECT, inside, page, unix.PROT_READ)
	report("mprotect-inside", result(e))
	_, _, e = unix.Syscall(unix.SYS_BRK, 0, 0, 0)
	report("brk", result(e))
	_, _, e = unix.Syscall(unix.SYS_CLONE3, 0, 0, 0)
	report("clone3", result(e))
	// CLONE_THREAD without CLONE_SIGHAND is invalid: the kernel refuses
	// it with EINVAL once the filter has let it through, so a call that
	// is wrongly allowed shows as EINVAL and cannot start anything.
	_, _, e = unix.RawSyscall6(unix.SYS_CLONE, untraced|unix.CLONE_THREAD, 0, 0, 0, 0, 0)
	report("clone-untraced", result(e))
	_, _, e = unix.RawSyscall6(unix.SYS_CLONE, unix.CLONE_THREAD, 0, 0, 0, 0, 0)
	report("clone-invalid", result(e))
	_, _, e = unix.RawSyscall(unix.SYS_GETPID|uintptr(X32SyscallBit), 0, 0, 0)
	report("x32-getpid", result(e))
	_, _, e = unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	report("getpid", result(e))
	os.Exit(0)
}
