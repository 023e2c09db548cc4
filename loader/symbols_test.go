package loader

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const libcPath = "/lib/x86_64-linux-gnu/libc.so.6"

func openSymbols(t testing.TB, path string) *Symbols {
	t.Helper()
	s, err := OpenSymbols(path)
	if err != nil {
		t.Fatalf("OpenSymbols(%s): %v", path, err)
	}
	return s
}

func TestSymbolsTables(t *testing.T) {
	tests := []struct {
		path   string
		table  string
		find   []string // symbols that must be kept
		absent []string // symbols that must not
	}{
		// A program keeps .symtab: its static functions are there too.
		{fixturePath(t, "prog-pie"), ".symtab", []string{"main", "_start"}, []string{"__libc_start_main"}},
		{fixturePath(t, "libplain.so"), ".symtab", []string{"plain_value", "plain_pad", "pad"}, nil},
		// Stripped: only what .dynsym exports, and the hidden symbol
		// was not exported.
		{fixturePath(t, "stripped.dll.so"), ".dynsym", nil, []string{"__wine_spec_nt_header"}},
		// Debian's libc has no .symtab; aliases keep the plain name.
		{libcPath, ".dynsym", []string{"malloc", "mmap", "pthread_create", "calloc", "syscall"},
			[]string{"__libc_malloc", "__mmap", "mmap64", "__libc_calloc", "_int_malloc", "sysmalloc", "errno"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			s := openSymbols(t, tt.path)
			if s.Table != tt.table {
				t.Errorf("Table = %q, want %q", s.Table, tt.table)
			}
			for _, n := range tt.find {
				sym, ok := s.Find(n)
				if !ok {
					t.Errorf("no symbol %q", n)
					continue
				}
				if got, off, ok := s.Lookup(sym.Value); !ok || got != n || off != 0 {
					t.Errorf("Lookup(%#x) = %q+%#x %v, want %q+0", sym.Value, got, off, ok, n)
				}
			}
			for _, n := range tt.absent {
				if _, ok := s.Find(n); ok {
					t.Errorf("symbol %q kept", n)
				}
			}
			all := s.All()
			for i := 1; i < len(all); i++ {
				if all[i].Value < all[i-1].Value {
					t.Fatalf("symbols not sorted at %d: %+v after %+v", i, all[i], all[i-1])
				}
			}
		})
	}
}

// readelfFuncs runs readelf --syms and returns the sized FUNC symbols
// defined in the object (of .symtab when there is one, else .dynsym).
func readelfFuncs(t *testing.T, path string) map[uint64][]string {
	t.Helper()
	out, err := exec.Command("readelf", "-sW", path).Output()
	if err != nil {
		t.Fatalf("readelf -sW %s: %v", path, err)
	}
	funcs := map[uint64][]string{}
	want := ".dynsym"
	if bytes.Contains(out, []byte("Symbol table '.symtab'")) {
		want = ".symtab" // it has them all
	}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Symbol table '") {
			table = strings.Split(line, "'")[1]
			continue
		}
		f := strings.Fields(line)
		if table != want || len(f) < 8 || f[3] != "FUNC" || f[6] == "UND" || f[6] == "ABS" {
			continue
		}
		v, err1 := strconv.ParseUint(f[1], 16, 64)
		size, err2 := strconv.ParseUint(f[2], 0, 64)
		if err1 != nil || err2 != nil || size == 0 {
			continue
		}
		name, _, _ := strings.Cut(f[7], "@")
		funcs[v] = append(funcs[v], name)
	}
	if len(funcs) == 0 {
		t.Fatalf("readelf found no functions in %s", path)
	}
	return funcs
}

// TestLookupAgreesWithReadelf: every sized function readelf lists is
// found, by one of its names, from its first, middle and last byte.
func TestLookupAgreesWithReadelf(t *testing.T) {
	for _, p := range []string{libcPath, "/lib64/ld-linux-x86-64.so.2", fixturePath(t, "prog-pie"), fixturePath(t, "libplain.so")} {
		t.Run(p, func(t *testing.T) {
			s := openSymbols(t, p)
			sizes := map[uint64]uint64{}
			for _, x := range s.All() {
				sizes[x.Value] = max(sizes[x.Value], x.Size)
			}
			for v, names := range readelfFuncs(t, p) {
				size := sizes[v]
				if size == 0 {
					t.Errorf("function %v at %#x not kept", names, v)
					continue
				}
				for _, d := range []uint64{0, size / 2, size - 1} {
					got, off, ok := s.Lookup(v + d)
					if ok && off < d && v+d-off > v {
						continue // a symbol nested inside this one
					}
					if !ok || off != d || !slices.Contains(names, got) {
						t.Errorf("Lookup(%#x) = %q+%#x %v, want one of %v +%#x", v+d, got, off, ok, names, d)
					}
				}
			}
		})
	}
}

func TestLookupLibcInternalAddress(t *testing.T) {
	// An address past the end of every symbol (a static function of
	// the stripped libc) must not be named after the symbol before it.
	s := openSymbols(t, libcPath)
	all := s.All()
	gaps := 0
	for i := 1; i < len(all) && gaps < 20; i++ {
		end := s.maxEnd[i-1]
		if all[i].Value > end+64 && all[i-1].Size > 0 && all[i-1].Func {
			gaps++
			if n, off, ok := s.Lookup(end + 32); ok {
				t.Errorf("Lookup(%#x) in a gap after %s = %q+%#x, want nothing", end+32, all[i-1].Name, n, off)
			}
		}
	}
	if gaps == 0 {
		t.Fatal("libc has no gaps between its exported functions? the test proves nothing")
	}
}

func TestLookupRules(t *testing.T) {
	s := &Symbols{}
	s.setSymbols([]rankedSymbol{
		{Symbol{Name: "outer", Value: 0x1000, Size: 0x100, Func: true}, elf.STB_GLOBAL},
		{Symbol{Name: "inner", Value: 0x1040, Size: 0x10, Func: true}, elf.STB_LOCAL},
		{Symbol{Name: "__libc_alias", Value: 0x2000, Size: 0x20, Func: true}, elf.STB_GLOBAL},
		{Symbol{Name: "alias_weak", Value: 0x2000, Size: 0x20, Func: true}, elf.STB_WEAK},
		{Symbol{Name: "alias", Value: 0x2000, Size: 0x20, Func: true}, elf.STB_WEAK},
		{Symbol{Name: "label", Value: 0x3000}, elf.STB_LOCAL},
		{Symbol{Name: "sized", Value: 0x5000, Size: 0x10}, elf.STB_GLOBAL},
		{Symbol{Name: "label_after_sized_start", Value: 0x5000}, elf.STB_LOCAL},
		{Symbol{Name: "big", Value: 0x8000, Size: 0x1000}, elf.STB_GLOBAL},
		{Symbol{Name: "label_in_big", Value: 0x8100}, elf.STB_LOCAL},
	})
	tests := []struct {
		addr uint64
		name string
		off  uint64
		ok   bool
	}{
		{0xfff, "", 0, false},
		{0x1000, "outer", 0, true},
		{0x1045, "inner", 5, true},    // nested: the inner symbol
		{0x1050, "outer", 0x50, true}, // past inner, still in outer
		{0x10ff, "outer", 0xff, true},
		{0x1100, "", 0, false}, // past outer's end
		{0x2010, "alias", 0x10, true},
		{0x3000, "label", 0, true},
		{0x3fff, "label", 0xfff, true},
		{0x4000, "", 0, false},       // more than 4 KiB past a size-0 label
		{0x5008, "sized", 8, true},   // the sized symbol, not the label at its start
		{0x5020, "", 0, false},       // past sized: a label at the same address does not stretch it
		{0x8200, "big", 0x200, true}, // a label inside a sized symbol does not hide it
		{0x9000, "", 0, false},       // past big; label_in_big is inside big's range
		{^uint64(0), "", 0, false},
	}
	for _, tt := range tests {
		name, off, ok := s.Lookup(tt.addr)
		if name != tt.name || off != tt.off || ok != tt.ok {
			t.Errorf("Lookup(%#x) = %q+%#x %v, want %q+%#x %v", tt.addr, name, off, ok, tt.name, tt.off, tt.ok)
		}
	}
	if s.Len() != 8 {
		t.Errorf("Len = %d, want 8 (three aliases become one)", s.Len())
	}
}

func TestVaddr(t *testing.T) {
	s := &Symbols{Segments: []Segment{
		{Vaddr: 0, Offset: 0, Filesz: 0x1800, Memsz: 0x1800, Flags: elf.PF_R},
		// Shares the file page at 0x1000 with the first segment and is
		// loaded 2 MiB further on than its offset.
		{Vaddr: 0x201800, Offset: 0x1800, Filesz: 0x2000, Memsz: 0x2000, Flags: elf.PF_R | elf.PF_X},
		{Vaddr: 0x404000, Offset: 0x3800, Filesz: 0x100, Memsz: 0x1000, Flags: elf.PF_R | elf.PF_W},
	}}
	tests := []struct {
		off  uint64
		exec bool
		want uint64
		ok   bool
	}{
		{0x10, false, 0x10, true},
		{0x17ff, true, 0x17ff, true},
		{0x1800, true, 0x201800, true},
		{0x3000, false, 0x203000, true},
		{0x3850, false, 0x404050, true},
		{0x3900, false, 0, false}, // past the last segment's file bytes
	}
	for _, tt := range tests {
		got, ok := s.Vaddr(tt.off, tt.exec)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Vaddr(%#x, %v) = %#x %v, want %#x %v", tt.off, tt.exec, got, ok, tt.want, tt.ok)
		}
	}
	// Overlapping file ranges (possible in hand-made objects): the
	// executable segment wins for code.
	s.Segments = append(s.Segments, Segment{Vaddr: 0x600000, Offset: 0, Filesz: 0x100, Memsz: 0x100, Flags: elf.PF_R | elf.PF_X})
	if got, _ := s.Vaddr(0x10, true); got != 0x600010 {
		t.Errorf("Vaddr(0x10, exec) = %#x, want the executable segment's 0x600010", got)
	}
	if got, _ := s.Vaddr(0x10, false); got != 0x10 {
		t.Errorf("Vaddr(0x10) = %#x, want the first segment's 0x10", got)
	}
}

// TestVaddrAgreesWithSections: .text's file offset maps to its address,
// for a PIE, a fixed-address program and libc.
func TestVaddrAgreesWithSections(t *testing.T) {
	for _, p := range []string{fixturePath(t, "prog-pie"), fixturePath(t, "prog-fixed"), libcPath} {
		f, err := elf.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		text := f.Section(".text")
		f.Close()
		s := openSymbols(t, p)
		if got, ok := s.Vaddr(text.Offset+0x10, true); !ok || got != text.Addr+0x10 {
			t.Errorf("%s: Vaddr(.text offset %#x) = %#x %v, want %#x", p, text.Offset+0x10, got, ok, text.Addr+0x10)
		}
	}
}

func TestUnwindSections(t *testing.T) {
	p := fixturePath(t, "libplain.so")
	f, err := elf.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := openSymbols(t, p)
	for _, c := range []struct {
		name string
		got  UnwindSection
	}{{".eh_frame", s.EHFrame}, {".eh_frame_hdr", s.EHFrameHdr}} {
		sec := f.Section(c.name)
		want, err := sec.Data()
		if err != nil {
			t.Fatal(err)
		}
		if c.got.Addr != sec.Addr || !bytes.Equal(c.got.Data, want) {
			t.Errorf("%s: at %#x, %d bytes; want %#x, %d bytes", c.name, c.got.Addr, len(c.got.Data), sec.Addr, len(want))
		}
	}

	// Without section headers, PT_GNU_EH_FRAME leads to both.
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	le.PutUint64(data[ehShoff:], 0)
	le.PutUint16(data[ehShnum:], 0)
	le.PutUint16(data[ehShnum+2:], 0)
	ns, err := ReadSymbols(bytes.NewReader(data), int64(len(data)), "noshdr.so")
	if err != nil {
		t.Fatal(err)
	}
	if ns.Table != "" || ns.Len() != 0 {
		t.Errorf("no section headers: Table %q with %d symbols", ns.Table, ns.Len())
	}
	if ns.EHFrameHdr.Addr != s.EHFrameHdr.Addr || !bytes.Equal(ns.EHFrameHdr.Data, s.EHFrameHdr.Data) {
		t.Errorf("no section headers: .eh_frame_hdr at %#x (%d bytes), want %#x (%d)", ns.EHFrameHdr.Addr, len(ns.EHFrameHdr.Data), s.EHFrameHdr.Addr, len(s.EHFrameHdr.Data))
	}
	if ns.EHFrame.Addr != s.EHFrame.Addr || !bytes.HasPrefix(ns.EHFrame.Data, s.EHFrame.Data) {
		t.Errorf("no section headers: .eh_frame at %#x (%d bytes), want %#x starting with the section's %d bytes", ns.EHFrame.Addr, len(ns.EHFrame.Data), s.EHFrame.Addr, len(s.EHFrame.Data))
	}
}

func TestReadSymbolsMalformed(t *testing.T) {
	shdr := func(e *elfEdit, name string) int {
		for i, s := range e.f.Sections {
			if s.Name == name {
				return int(le.Uint64(e.data[ehShoff:])) + i*section64Size
			}
		}
		e.t.Fatalf("no section %s", name)
		return 0
	}
	const shType, shOffset, shSize, shLink, shEntsize = 4, 0x18, 0x20, 0x28, 0x38
	tests := []struct {
		name string
		edit func(e *elfEdit)
		want error
		msg  string
	}{
		{"symtab-size-huge", func(e *elfEdit) { e.put64(shdr(e, ".symtab")+shSize, 1<<40) }, ErrMalformed, "more than"},
		{"symtab-past-end", func(e *elfEdit) { e.put64(shdr(e, ".symtab")+shOffset, uint64(len(e.data))-8) }, ErrMalformed, "past the end"},
		{"symtab-entsize", func(e *elfEdit) { e.put64(shdr(e, ".symtab")+shEntsize, 16) }, ErrMalformed, "entry size"},
		{"symtab-link-none", func(e *elfEdit) { e.put32(shdr(e, ".symtab")+shLink, 0) }, ErrMalformed, "no string table"},
		{"symtab-link-not-strtab", func(e *elfEdit) { e.put32(shdr(e, ".symtab")+shLink, 1) }, ErrMalformed, "not a string table"},
		{"strtab-nobits", func(e *elfEdit) { e.put32(shdr(e, ".strtab")+shType, uint32(elf.SHT_NOBITS)) }, ErrMalformed, ""},
		{"eh-frame-huge", func(e *elfEdit) { e.put64(shdr(e, ".eh_frame")+shSize, 1<<30) }, ErrMalformed, "more than"},
		{"eh-frame-past-end", func(e *elfEdit) { e.put64(shdr(e, ".eh_frame")+shOffset, 1<<40) }, ErrMalformed, "past the end"},
		{"load-past-end", func(e *elfEdit) { e.put64(e.phdr(elf.PT_LOAD, 0)+phFilesz, 1<<40) }, ErrMalformed, "PT_LOAD"},
		{"class32", func(e *elfEdit) { e.data[elf.EI_CLASS] = byte(elf.ELFCLASS32) }, ErrUnsupported, ""},
		{"not-elf", func(e *elfEdit) { e.data[0] = 'X' }, ErrNotELF, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEdit(t, "libplain.so")
			tt.edit(e)
			_, err := ReadSymbols(bytes.NewReader(e.data), int64(len(e.data)), "bad.so")
			var fe *FileError
			if !errors.Is(err, tt.want) || !errors.As(err, &fe) || fe.Path != "bad.so" || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ReadSymbols: %v, want a *FileError for bad.so wrapping %v and saying %q", err, tt.want, tt.msg)
			}
		})
	}
	// A relocatable object has no load addresses.
	if _, err := OpenSymbols(fixturePath(t, "plain.o")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("OpenSymbols(plain.o): %v, want ErrUnsupported", err)
	}
	if _, err := OpenSymbols("/proc/self"); !errors.Is(err, ErrNotELF) {
		t.Errorf("OpenSymbols(a directory): %v, want ErrNotELF", err)
	}
	for n := range 64 {
		data, _ := os.ReadFile(fixturePath(t, "libplain.so"))
		cut := len(data) * n / 64
		if _, err := ReadSymbols(bytes.NewReader(data[:cut]), int64(cut), "cut.so"); err == nil && cut < len(data)/2 {
			t.Errorf("ReadSymbols of the first %d of %d bytes succeeded", cut, len(data))
		}
	}
}

// FuzzReadSymbols feeds ReadSymbols arbitrary bytes. The seeds (added
// here, so a plain go test runs them) are small real objects, truncated
// and with their symbol and unwind section headers bent. Whatever the
// input, ReadSymbols must read a bounded amount, return a *FileError or
// tables Lookup and Vaddr can use, and never panic.
func FuzzReadSymbols(f *testing.F) {
	for _, name := range []string{"libplain.so", "stripped.dll.so", "prog-fixed"} {
		data, err := os.ReadFile(fixturePath(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		for _, n := range []int{64, 200, len(data) / 3, len(data) / 2, len(data) - 100} {
			f.Add(data[:n])
		}
	}
	data, err := os.ReadFile(fixturePath(f, "libplain.so"))
	if err != nil {
		f.Fatal(err)
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		f.Fatal(err)
	}
	shoff := int(le.Uint64(data[ehShoff:]))
	for i, s := range ef.Sections {
		switch s.Name {
		case ".symtab", ".dynsym", ".strtab", ".eh_frame", ".eh_frame_hdr":
		default:
			continue
		}
		at := shoff + i*section64Size
		for _, edit := range []struct{ off, val int }{{0x18, 1 << 20}, {0x20, 1 << 16}, {0x20, 7}, {0x28, 0xff}, {0x38, 3}} {
			d := bytes.Clone(data)
			le.PutUint32(d[at+edit.off:], uint32(edit.val))
			f.Add(d)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &countingReader{r: bytes.NewReader(data)}
		s, err := ReadSymbols(r, int64(len(data)), "fuzz.so")
		if r.bytes > 8*int64(len(data))+4096 {
			t.Errorf("ReadSymbols read %d bytes in %d reads of a %d-byte input", r.bytes, r.calls, len(data))
		}
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != "fuzz.so" {
				t.Fatalf("error %v is not a *FileError naming fuzz.so", err)
			}
			return
		}
		all := s.All()
		for i, x := range all {
			if i > 0 && x.Value < all[i-1].Value {
				t.Fatalf("unsorted symbols")
			}
			for _, d := range []uint64{0, x.Size / 2, x.Size, x.Size + 1} {
				if name, off, ok := s.Lookup(x.Value + d); ok {
					y, found := s.Find(name)
					if name == "" || !found || (y.Size > 0 && off >= y.Size) || (y.Size == 0 && off >= maxZeroSize) {
						t.Fatalf("Lookup(%#x) = %q+%#x (symbol %+v)", x.Value+d, name, off, y)
					}
				}
			}
			if i > 100 {
				break
			}
		}
		for _, g := range s.Segments {
			if v, ok := s.Vaddr(g.Offset, true); ok && g.Filesz > 0 && v != g.Vaddr {
				// Another segment claimed the same offset; it must hold it.
				if !s.holds(g.Offset, v) {
					t.Fatalf("Vaddr(%#x) = %#x, no segment maps it there", g.Offset, v)
				}
			}
		}
	})
}

// holds reports whether some segment loads file offset off at vaddr v.
func (s *Symbols) holds(off, v uint64) bool {
	for _, g := range s.Segments {
		if off >= g.Offset && off-g.Offset < g.Filesz && off-g.Offset+g.Vaddr == v {
			return true
		}
	}
	return false
}

// TestDebugTable: a stripped object's separate debug file, found by
// build ID, names what .dynsym does not (a static variable here).
func TestDebugTable(t *testing.T) {
	dir := t.TempDir()
	lib := dir + "/libplain.so"
	other := dir + "/libother.so"
	for _, c := range [][]string{
		{"cc", "-O2", "-shared", "-fPIC", "-Wl,--build-id", "-o", lib, "../testdata/loader/plain.c"},
		{"cc", "-O0", "-shared", "-fPIC", "-Wl,--build-id", "-o", other, "../testdata/loader/plain.c"}, // other code: another build ID
		{"objcopy", "--only-keep-debug", lib, lib + ".debug"},
		{"objcopy", "--only-keep-debug", other, other + ".debug"},
		{"strip", lib},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	s := openSymbols(t, lib)
	if s.Table != ".dynsym" {
		t.Fatalf("stripped: Table %q", s.Table)
	}
	if _, ok := s.Find("pad"); ok {
		t.Fatal("a static variable in .dynsym?")
	}
	out, err := exec.Command("readelf", "-n", lib).Output()
	if err != nil {
		t.Fatal(err)
	}
	_, id, _ := strings.Cut(string(out), "Build ID: ")
	id, _, _ = strings.Cut(id, "\n")
	if got := DebugFile("/usr/lib/debug", s.BuildID); got != "/usr/lib/debug/.build-id/"+id[:2]+"/"+id[2:]+".debug" {
		t.Errorf("DebugFile = %q for build ID %s", got, id)
	}
	path := DebugFile(dir, s.BuildID)
	if err := os.MkdirAll(path[:strings.LastIndexByte(path, '/')], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(lib+".debug", path); err != nil {
		t.Fatal(err)
	}
	if s.UseDebugTable(openSymbols(t, other+".debug")) {
		t.Error("adopted the table of another object's debug file")
	}
	d := openSymbols(t, path)
	if !s.UseDebugTable(d) {
		t.Fatal("debug table not adopted")
	}
	if s.Table != ".symtab" || s.TableFile != path {
		t.Errorf("Table %q from %q", s.Table, s.TableFile)
	}
	pad, ok := s.Find("pad")
	if !ok {
		t.Fatal("no pad in the debug file's table")
	}
	if n, _, ok := s.Lookup(pad.Value); !ok || n != "pad" {
		t.Errorf("Lookup(pad) = %q %v", n, ok)
	}
	if s.EHFrame.Data == nil {
		t.Error("lost the object's own .eh_frame")
	}
	if s.UseDebugTable(d) {
		t.Error("adopted a table twice")
	}
	if DebugFile("/x", []byte{1}) != "" {
		t.Error("DebugFile of a 1-byte ID")
	}
}
