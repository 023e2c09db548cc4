package trace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// wineSetup builds testdata/wine/NAME.c for each name with mingw-w64
// and makes a private Wine prefix for the test (the environment's
// WINEPREFIX). It returns the .exe files' paths, by name, and a function
// that stops the prefix's wineserver and waits for it. Wine missing is a
// failure, not a skip.
func wineSetup(t *testing.T, names ...string) (map[string]string, func()) {
	t.Helper()
	for _, tool := range []string{"wine", "wineserver", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: .ci/run installs Debian's wine and gcc-mingw-w64-x86-64", tool)
		}
	}
	dir := t.TempDir()
	exes := map[string]string{}
	for _, name := range names {
		exe := filepath.Join(dir, name+".exe")
		if out, err := exec.Command("x86_64-w64-mingw32-gcc", "-O2", "-o", exe, "../testdata/wine/"+name+".c").CombinedOutput(); err != nil {
			t.Fatalf("x86_64-w64-mingw32-gcc %s.c: %v\n%s", name, err, out)
		}
		exes[name] = exe
	}
	t.Setenv("WINEPREFIX", filepath.Join(dir, "prefix"))
	t.Setenv("WINEDEBUG", "-all")
	// Each run starts its own wineserver and Wine's services, which
	// then end; a leftover one would serve the next run unguarded.
	stopWine := func() {
		_ = exec.Command("wineserver", "-k").Run()
		_ = exec.Command("wineserver", "-w").Run()
	}
	t.Cleanup(stopWine)
	// The first run makes the prefix (several seconds) and says so. (The
	// programs write CRLF line ends, as Windows programs do.)
	if out, err := exec.Command("wine", "wineboot", "-i").CombinedOutput(); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, out)
	}
	stopWine()
	if _, err := os.Stat(filepath.Join(dir, "prefix", "system.reg")); err != nil {
		t.Fatalf("the prefix: %v", err)
	}
	return exes, stopWine
}

// TestRealProgramWine runs Windows programs under Wine, the guard's
// first use: Wine must own the low 2 GiB, where it reserves memory with
// MAP_FIXED_NOREPLACE and places Windows DLLs at their bases, while the
// Linux side (ld.so, libc, ntdll.so, thread stacks) stays out. Under the
// guard each program must print what it prints natively and exit with
// the same status, across the 20-odd processes a Wine start makes
// (wineserver, services.exe, explorer.exe, winedevice.exe). One prefix
// serves both programs: making it takes most of the test's time.
func TestRealProgramWine(t *testing.T) {
	exes, stopWine := wineSetup(t, "lowmem", "winapi")
	t.Run("lowmem", func(t *testing.T) { wineLowmem(t, exes["lowmem"], stopWine) })
	t.Run("winapi", func(t *testing.T) { wineAPI(t, exes["winapi"], stopWine) })
}

// wineLowmem: testdata/wine/lowmem.c allocates in the range (built with
// mingw-w64) and counts the Linux shared objects there from its own maps.
func wineLowmem(t *testing.T, exe string, stopWine func()) {
	stopWine()
	native, err := exec.Command("wine", exe).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
		t.Fatalf("natively: %v (want exit status 7)\n%s", err, native)
	}
	if !strings.Contains(string(native), "VirtualAlloc(0x10000000): there") {
		t.Fatalf("natively, Wine did not place the program's memory:\n%s", native)
	}
	stopWine()
	out, res := guarded(t, "wine", exe)
	if res.ExitCode() != 7 || out != string(native) || res.FailedClosed != 0 {
		t.Errorf("under the guard: exit %d (%v), failed closed %d:\n%s\nnatively:\n%s", res.ExitCode(), res.Status, res.FailedClosed, out, native)
	}
	if res.Processes < 5 {
		t.Errorf("the guard saw %d processes; a Wine start makes a dozen or more", res.Processes)
	}
}

// wineAPI: testdata/wine/winapi.c does more of what Windows programs do:
// 48 threads with their stacks, heap blocks and VirtualAlloc memory, a
// thread pool, TLS callbacks, a 256 MiB stack used to half its depth,
// reservations at chosen low bases committed and released in pieces,
// section views (anonymous and of a file) at chosen bases, MEM_TOP_DOWN,
// and an access violation caught by a vectored handler. Wine's thread
// stacks and views are its own fixed mappings in the range, its pthread
// and malloc calls the Linux side's. Run with the default policy and
// with --pool-all (every mapping without an address placed in the pool).
func wineAPI(t *testing.T, exe string, stopWine func()) {
	stopWine()
	native, err := exec.Command("wine", exe).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 9 {
		t.Fatalf("natively: %v (want exit status 9)\n%s", err, native)
	}
	for _, want := range []string{
		"MapViewOfFileEx(anonymous, 0x30000000): there",
		"threads: 48, exit codes right 48, ok 48",
		"256 MiB stack: recursion 32768",
		"access violation caught: 1",
		"shared objects in the range: 0",
	} {
		if !strings.Contains(string(native), want) {
			t.Fatalf("natively, no %q:\n%s", want, native)
		}
	}
	poolAll, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, true, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		p    *rewrite.Policy
	}{{"default", testPolicy(t)}, {"--pool-all", poolAll}} {
		stopWine()
		out, res := guardedBy(t, c.p, "wine", exe)
		if res.ExitCode() != 9 || out != string(native) || res.FailedClosed != 0 {
			t.Errorf("under the guard (%s): exit %d (%v), failed closed %d:\n%s\nnatively:\n%s", c.name, res.ExitCode(), res.Status, res.FailedClosed, out, native)
		}
	}
}
