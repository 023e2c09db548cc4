package trace

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealProgramWine runs a Windows program under Wine, the guard's
// first use: Wine must own the low 2 GiB, where it reserves memory with
// MAP_FIXED_NOREPLACE and places Windows DLLs at their bases, while the
// Linux side (ld.so, libc, ntdll.so, thread stacks) stays out. The
// program (testdata/wine/lowmem.c, built with mingw-w64) allocates there
// and counts the Linux shared objects in the range from its own maps;
// under the guard it must print what it prints natively and exit with
// the same status, across the 20-odd processes a Wine start makes
// (wineserver, services.exe, explorer.exe, winedevice.exe).
func TestRealProgramWine(t *testing.T) {
	for _, tool := range []string{"wine", "wineserver", "x86_64-w64-mingw32-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: .ci/run installs Debian's wine and gcc-mingw-w64-x86-64", tool)
		}
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "lowmem.exe")
	if out, err := exec.Command("x86_64-w64-mingw32-gcc", "-O2", "-o", exe, "../testdata/wine/lowmem.c").CombinedOutput(); err != nil {
		t.Fatalf("x86_64-w64-mingw32-gcc: %v\n%s", err, out)
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
	// program writes CRLF line ends, as Windows programs do.)
	if out, err := exec.Command("wine", "wineboot", "-i").CombinedOutput(); err != nil {
		t.Fatalf("wineboot: %v\n%s", err, out)
	}
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
	if _, err := os.Stat(filepath.Join(dir, "prefix", "system.reg")); err != nil {
		t.Errorf("the prefix: %v", err)
	}
}
