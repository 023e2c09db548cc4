package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInspect: inspect prints, for each object, its span, the base it
// would get and why, and the conflicts among the given files; a conflict
// is exit 1 with --place-strict, an unreadable file exit 1 naming it.
func TestInspect(t *testing.T) {
	dir := t.TempDir()
	obj := filepath.Join("..", "..", "testdata", "place", "obj.c")
	lib := func(n string) string { return filepath.Join(dir, n) }
	for _, b := range [][]string{
		{"-shared", "-fPIC", "-o", lib("libplain.so"), obj},
		{"-shared", "-fPIC", "-Wl,-Ttext-segment=0x7d000000", "-o", lib("libttext.so"), obj},
		{"-shared", "-fPIC", "-o", lib("librange1.so"), obj},
		{"-shared", "-fPIC", "-o", lib("librange2.so"), obj},
	} {
		if out, err := exec.Command("cc", b...).CombinedOutput(); err != nil {
			t.Fatalf("cc %v: %v\n%s", b, err, out)
		}
	}
	r := callMain("inspect", "--place", "libplain.so=0x30000000", "--place-range", "0x50000000-0x60000000=librange*",
		lib("libplain.so"), lib("libttext.so"), lib("librange1.so"), lib("librange2.so"))
	if r.code != 0 {
		t.Fatalf("exit %v", r)
	}
	for _, want := range []string{
		"base      0x30000000 (rule)",
		"base      0x7d000000 (p_vaddr)",
		"base      0x50000000 (range)",
		"4 of 4 files read, 0 conflict(s)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// Two objects wanting one base: a conflict naming both, exit 1 when strict.
	r = callMain("inspect", "--place-strict", "--place", "libplain.so=0x7d000000", lib("libttext.so"), lib("libplain.so"))
	if r.code != exitError || !strings.Contains(r.stdout, "1 conflict(s)") ||
		!strings.Contains(r.stdout, "libttext.so") || !strings.Contains(r.stdout, "libplain.so") {
		t.Errorf("conflict: %v", r)
	}
	r = callMain("inspect", lib("libplain.so"), filepath.Join(dir, "missing.so"))
	if r.code != exitError || !strings.Contains(r.stderr, "missing.so") {
		t.Errorf("unreadable file: %v", r)
	}
	if r := callMain("inspect"); r.code != exitUsage {
		t.Errorf("no file: %v", r)
	}
}
