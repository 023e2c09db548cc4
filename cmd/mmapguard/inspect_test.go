package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestPlaceAddrSuffix: an ADDR takes the K, M, G, T suffixes in
// --place and in a --place-file as it does in --place-exe (256M is
// 0x10000000).
func TestPlaceAddrSuffix(t *testing.T) {
	file := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(file, []byte("place true 1G\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--place", "true=256M"},
		{"--place-file", file},
	} {
		r := callMain(append(append([]string{"inspect"}, args...), "/bin/true")...)
		want := "base      0x10000000 (rule)"
		if args[0] == "--place-file" {
			want = "base      0x40000000 (rule)"
		}
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("inspect %q /bin/true: want exit 0 and %q; got %v", args, want, r)
		}
	}
}

// TestInspectBadFiles: a file that is no x86-64 ELF object is exit 1
// with a message naming it and the problem, and the others are still
// shown; a bad --occupied range is a usage error that says what to do.
func TestInspectBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	arm := slices.Clone(good)
	arm[18], arm[19] = byte(elf.EM_AARCH64), 0
	elf32 := slices.Clone(good)
	elf32[4] = byte(elf.ELFCLASS32)
	for _, c := range []struct{ file, want string }{
		{write("garbage.dll.so", []byte("garbage, not ELF\n")), "not an ELF file: no ELF magic"},
		{write("pe.dll", []byte("MZ\x90\x00 a Windows DLL")), "PE (Windows) image"},
		{write("empty.dll.so", nil), "not an ELF file: empty file"},
		{write("cut.dll.so", good[:200]), "truncated"},
		{write("arm.dll.so", arm), "EM_AARCH64, not x86-64"},
		{write("elf32.dll.so", elf32), "32-bit ELF"},
		{write("script", []byte("echo hi\n")), "not an ELF file"},
		{dir, "a directory"},
		{filepath.Join(dir, "missing.dll.so"), "no such file"},
		{"/dev/null", "not a regular file (a character device)"},
		{symlinkLoop(t, dir), "too many levels of symbolic links; its symbolic links lead round in a circle"},
	} {
		r := callMain("inspect", "/bin/true", c.file)
		if r.code != exitError || !strings.Contains(r.stderr, "mmapguard inspect: ") || !strings.Contains(r.stderr, c.file) ||
			!strings.Contains(r.stderr, c.want) || !strings.Contains(r.stdout, "1 of 2 files read") {
			t.Errorf("inspect %s: want exit 1, %q naming the file on stderr, the other file shown; got %v", c.file, c.want, r)
		}
	}
	// A FIFO with no writer: refused as not a regular file, not waited
	// on for a writer for good.
	fifo := filepath.Join(dir, "fifo.dll.so")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan mainResult, 1)
	go func() { done <- callMain("inspect", "/bin/true", fifo) }()
	select {
	case r := <-done:
		if r.code != exitError || !strings.Contains(r.stderr, fifo+": not an ELF file: not a regular file") || !strings.Contains(r.stdout, "1 of 2 files read") {
			t.Errorf("inspect of a FIFO: want exit 1 and 'not a regular file'; got %v", r)
		}
	case <-time.After(20 * time.Second):
		// Let the blocked open go, then fail.
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			_ = w.Close()
		}
		t.Errorf("inspect of a FIFO with no writer: still waiting after 20s")
	}
	r := callMain("inspect", "--occupied", "0x10000-", "/bin/true")
	if r.code != exitUsage || !strings.Contains(r.stderr, "want START-END or START+SIZE") {
		t.Errorf("inspect --occupied 0x10000-: want exit 2 and what a range looks like; got %v", r)
	}
}

// symlinkLoop makes two symbolic links that point at each other and
// returns one.
func symlinkLoop(t *testing.T, dir string) string {
	a, b := filepath.Join(dir, "loop-a.so"), filepath.Join(dir, "loop-b.so")
	if err := os.Symlink(b, a); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(a, b); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestInspectSonameControlCharacters: a soname holding control
// characters (an escape sequence, a newline) is shown with them escaped
// as \ooo: it broke the listing's lines and drove the terminal.
func TestInspectSonameControlCharacters(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "s.c")
	if err := os.WriteFile(src, []byte("int f(void) { return 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(dir, "esc.so")
	if out, err := exec.Command("cc", "-shared", "-fPIC", "-Wl,-soname,lib\x1b[31mred\nline.so", "-o", so, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	r := callMain("inspect", so)
	if r.code != 0 || strings.Contains(r.stdout, "\x1b") || !strings.Contains(r.stdout, "  soname    lib\\033[31mred\\012line.so\n") {
		t.Errorf("inspect of an object whose soname holds control characters: want them escaped; got %v", r)
	}
}

// TestInspectUnreadableHint: a FILE inspect may not read gets a hint
// (it said "open FILE: permission denied" alone). The tests run as root,
// who may read every file: the hint is checked on the error itself.
func TestInspectUnreadableHint(t *testing.T) {
	err := &os.PathError{Op: "open", Path: "lib.so", Err: syscall.EACCES}
	if h := readHint(err); !strings.Contains(h, "run it as a user who may read it") {
		t.Errorf("readHint(%v) = %q, want what to do", err, h)
	}
}

// TestInspectSameFile: one file given twice, by two names or through a
// symbolic link, is one object, as ld.so loads it once: inspect used to
// report it as conflicting with itself (exit 1 with --place-strict).
func TestInspectSameFile(t *testing.T) {
	dir := t.TempDir()
	so := filepath.Join(dir, "a.so")
	if out, err := exec.Command("cc", "-shared", "-fPIC", "-o", so, filepath.Join("..", "..", "testdata", "place", "obj.c")).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	link := filepath.Join(dir, "c.so")
	if err := os.Symlink("a.so", link); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--place", "a.so=0x10000000", so, filepath.Join(dir, ".", "a.so")},
		{"--place", "*.so=0x10000000", so, link},
	} {
		r := callMain(append([]string{"inspect", "--place-strict"}, args...)...)
		if r.code != 0 || strings.Contains(r.stdout, "conflict  ") || !strings.Contains(r.stdout, "same      file as "+so) ||
			!strings.Contains(r.stdout, "2 of 2 files read (1 the same file as another), 0 conflict(s)") ||
			strings.Count(r.stdout, "base      0x10000000 (rule)") != 1 {
			t.Errorf("inspect %q: want exit 0, the second name shown as the same file, no conflict; got %v", args, r)
		}
	}
	// The link first, as a shell's glob gives it (libz.so before
	// libz.so.1.2.13), and a rule on the file's own name: run applies it
	// (it matches the path the kernel shows), and so does inspect, which
	// matched the first name given and showed no base.
	r := callMain("inspect", "--place", "a.so=0x10000000", link, so)
	if r.code != 0 || strings.Count(r.stdout, "base      0x10000000 (rule)") != 1 || !strings.Contains(r.stdout, link+" -> "+so) {
		t.Errorf("inspect LINK FILE with a rule on the file: want the rule applied, the link shown as leading to the file; got %v", r)
	}
}

// TestInspectReadErrors: a file whose program header fields are wrong
// is refused naming the file and the field in plain words, and saying
// what to do (debug/elf's "invalid phoff '-65536' in record at byte
// 0x0" and "invalid ELF phentsize '8'" did neither); a file with a
// broken part ld.so does not read (the embedded PE header) is shown,
// placed by its rule, with what was skipped; an ImageBase of 0 is
// described one way (it was "inside the object itself" and "no PE
// ImageBase" at once).
func TestInspectReadErrors(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join("..", "..", "testdata", "loader", "nt_header.c")
	pe, zero := filepath.Join(dir, "pe.dll.so"), filepath.Join(dir, "zero.dll.so")
	for _, b := range [][]string{
		{"-shared", "-fPIC", "-o", pe, src},
		{"-shared", "-fPIC", "-DIMAGE_BASE=0", "-o", zero, src},
	} {
		if out, err := exec.Command("cc", b...).CombinedOutput(); err != nil {
			t.Fatalf("cc %v: %v\n%s", b, err, out)
		}
	}
	good, err := os.ReadFile(pe)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, edit func(d []byte) []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, edit(slices.Clone(good)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	le := binary.LittleEndian
	for _, c := range []struct{ file, want string }{
		{write("phoff.dll.so", func(d []byte) []byte { le.PutUint64(d[0x20:], ^uint64(0xffff)); return d }),
			"the program headers' offset 0xffffffffffff0000 (e_phoff) is past the end of the file"},
		{write("phentsize.dll.so", func(d []byte) []byte { le.PutUint16(d[0x36:], 8); return d }),
			"program headers of 8 bytes (e_phentsize), not the 56 of a 64-bit one"},
		{write("cut.dll.so", func(d []byte) []byte { return d[:0x100] }),
			"program headers at offset 0x40 (e_phoff) run past the end of the file (0x100 bytes)"},
	} {
		r := callMain("inspect", c.file)
		if r.code != exitError || !strings.Contains(r.stderr, c.file+": malformed ELF: ") || !strings.Contains(r.stderr, c.want) || !strings.Contains(r.stderr, "build or copy it again") {
			t.Errorf("inspect %s: want exit 1 and %q with what to do; got %v", c.file, c.want, r)
		}
	}

	f, err := elf.NewFile(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(syms, func(s elf.Symbol) bool { return s.Name == "__wine_spec_nt_header" })
	if i < 0 {
		t.Fatal("no __wine_spec_nt_header")
	}
	off := 0
	for _, p := range f.Progs {
		if v := syms[i].Value; p.Type == elf.PT_LOAD && v >= p.Vaddr && v-p.Vaddr < p.Filesz {
			off = int(p.Off + v - p.Vaddr)
		}
	}
	badPE := write("badmagic.dll.so", func(d []byte) []byte { le.PutUint16(d[off+24:], 0x107); return d })
	r := callMain("inspect", "--place-strict", "--place", "badmagic.dll.so=0x30000000", badPE)
	if r.code != 0 || !strings.Contains(r.stdout, "base      0x30000000 (rule)") ||
		!strings.Contains(r.stdout, "skipped   malformed PE header: __wine_spec_nt_header: optional header magic 0x107") ||
		!strings.Contains(r.stdout, "its PE ImageBase is not used") {
		t.Errorf("inspect of a broken PE header: want it placed by its rule, with what was skipped; got %v", r)
	}

	r = callMain("inspect", zero)
	if r.code != 0 || !strings.Contains(r.stdout, "ImageBase 0x0 (no base wanted)") || strings.Contains(r.stdout, "inside the object itself") ||
		!strings.Contains(r.stdout, "its PE32+ header's ImageBase is 0 (no base wanted)") || strings.Contains(r.stdout, "has no PE ImageBase") {
		t.Errorf("inspect of ImageBase 0: want it described as no base wanted, once; got %v", r)
	}
}
