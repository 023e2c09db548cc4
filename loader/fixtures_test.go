package loader

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// The fixtures are built from testdata/loader/ with the system C
// compiler, once per test binary, into a temporary directory.
var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
)

// fixture describes one object built for the tests.
type fixture struct {
	name string   // output file name
	src  string   // source in testdata/loader
	args []string // extra compiler and linker flags
}

var fixtureList = []fixture{
	{"libplain.so", "plain.c", []string{"-shared", "-fPIC", "-Wl,-soname,libplain.so"}},
	// -Ttext-segment sets the address of the first PT_LOAD: the object is
	// linked to run at 0x7d000000 (readelf -l shows p_vaddr 0x7d000000).
	{"liblinked.so", "plain.c", []string{"-shared", "-fPIC", "-Wl,-soname,liblinked.so", "-Wl,-Ttext-segment=0x7d000000"}},
	{"pe64.dll.so", "nt_header.c", []string{"-shared", "-fPIC", "-Wl,-soname,pe64.dll.so"}},
	{"pe32.dll.so", "nt_header.c", []string{"-shared", "-fPIC", "-Wl,-soname,pe32.dll.so", "-DPE32", "-DIMAGE_BASE=0x6b000000"}},
	{"hidden.dll.so", "nt_header.c", []string{"-shared", "-fPIC", "-DHIDDEN"}},
	{"stripped.dll.so", "nt_header.c", []string{"-shared", "-fPIC", "-DHIDDEN", "-s"}},
	// ImageBase pointing into the object itself, as winebuild's own
	// header does (there it is a relocated pointer).
	{"selfref.dll.so", "nt_header.c", []string{"-shared", "-fPIC", "-DIMAGE_BASE=0x1000"}},
	// Linked to run at 0x7d000000 and carrying an ImageBase as well: the
	// link base wins.
	{"both.dll.so", "nt_header.c", []string{"-shared", "-fPIC", "-Wl,-Ttext-segment=0x7d000000"}},
	{"pack1.dll.so", "plain.c", []string{"-shared", "-fPIC", "-Wl,-soname,pack1.dll.so", "-DPAD_BYTES=0x3000"}},
	{"pack2.dll.so", "plain.c", []string{"-shared", "-fPIC", "-Wl,-soname,pack2.dll.so", "-DPAD_BYTES=0x10000"}},
	{"pack3.dll.so", "plain.c", []string{"-shared", "-fPIC", "-Wl,-soname,pack3.dll.so", "-DPAD_BYTES=0x800"}},
	// Segments aligned to 2 MiB: ld.so reserves anonymously first.
	{"libaligned.so", "plain.c", []string{"-shared", "-fPIC", "-Wl,-z,max-page-size=0x200000"}},
	{"prog-pie", "prog.c", []string{"-fPIE", "-pie"}},
	{"prog-fixed", "prog.c", []string{"-fno-PIE", "-no-pie"}},
	{"plain.o", "plain.c", []string{"-c", "-fPIC"}},
}

func buildFixtures() (string, error) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		return "", fmt.Errorf("no C compiler: %w", err)
	}
	dir, err := os.MkdirTemp("", "loader-fixtures-")
	if err != nil {
		return "", err
	}
	src, err := filepath.Abs("../testdata/loader")
	if err != nil {
		return dir, err
	}
	for _, f := range fixtureList {
		args := append([]string{"-O2", "-o", filepath.Join(dir, f.name)}, f.args...)
		args = append(args, filepath.Join(src, f.src))
		out, err := exec.Command(cc, args...).CombinedOutput()
		if err != nil {
			return dir, fmt.Errorf("cc %v: %v\n%s", args, err, out)
		}
	}
	return dir, nil
}

// fixturePath builds the fixtures on first use and returns the path of
// one. Without a C compiler the test is skipped, saying so.
func fixturePath(t testing.TB, name string) string {
	t.Helper()
	fixtureOnce.Do(func() { fixtureDir, fixtureErr = buildFixtures() })
	if fixtureErr != nil {
		if _, err := exec.LookPath("cc"); err != nil {
			t.Skipf("building the C fixtures needs cc: %v", err)
		}
		t.Fatalf("building fixtures: %v", fixtureErr)
	}
	return filepath.Join(fixtureDir, name)
}

func openFixture(t testing.TB, name string) *Object {
	t.Helper()
	o, err := Open(fixturePath(t, name))
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	return o
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}
