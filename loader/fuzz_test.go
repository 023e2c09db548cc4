package loader

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// FuzzRead feeds Read arbitrary bytes. Its seed corpus, in
// testdata/fuzz/FuzzRead, holds small real objects built by cc and
// truncated or mutated copies of them (see TestWriteFuzzSeeds), so a
// plain go test runs every seed. Whatever the input, Read must return
// within a bounded time, either an object that keeps the package's
// invariants or a *FileError naming the input, and never panic.
func FuzzRead(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		const name = "fuzz.so"
		r := &countingReader{r: bytes.NewReader(data)}
		o, err := Read(r, int64(len(data)), name)
		// Work is bounded by what Read asks of the reader: a few reads
		// of the headers, then each part of the file at most a few
		// times.
		if maxBytes := 8*int64(len(data)) + 4096; r.bytes > maxBytes || r.calls > 64+int64(len(data))/(16<<10) {
			t.Errorf("Read made %d reads of %d bytes in all from a %d-byte input", r.calls, r.bytes, len(data))
		}
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || fe.Path != name {
				t.Fatalf("error %v is not a *FileError naming %s", err, name)
			}
			return
		}
		checkInvariants(t, o)
	})
}

// countingReader counts the reads made through it and the bytes asked
// for.
type countingReader struct {
	r            io.ReaderAt
	calls, bytes int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.calls++
	c.bytes += int64(len(p))
	return c.r.ReadAt(p, off)
}

// checkInvariants checks what every object Read returns must satisfy,
// and exercises the functions that use it.
func checkInvariants(t *testing.T, o *Object) {
	t.Helper()
	if len(o.Segments) == 0 || o.Span.Empty() || o.Span.End > region.UserEnd || o.LinkBase != o.Span.Start {
		t.Fatalf("bad span %v (link base %#x) for %d segments", o.Span, o.LinkBase, len(o.Segments))
	}
	for i, s := range o.Segments {
		if s.Filesz > s.Memsz || s.Offset+s.Filesz > uint64(o.Size) || !o.Span.ContainsRange(region.Range{Start: s.Vaddr, End: s.Vaddr + s.Memsz}) {
			t.Fatalf("segment %d %+v does not fit the file (%d bytes) or span %v", i, s, o.Size, o.Span)
		}
		if i > 0 && s.Vaddr < o.Segments[i-1].Vaddr+o.Segments[i-1].Memsz {
			t.Fatalf("segments %d and %d overlap or are unsorted", i-1, i)
		}
	}
	if o.Align < region.PageSize || o.Align&(o.Align-1) != 0 {
		t.Fatalf("Align %#x", o.Align)
	}
	m := o.FirstMap()
	if !o.MatchesMapping(m.Offset, m.Length) {
		t.Fatalf("first map %+v does not match its own object", m)
	}
	segs := o.SegmentsAt(0x10000000)
	span := region.Range{Start: 0x10000000, End: 0x10000000 + o.Span.Len()}
	for _, r := range segs {
		if !span.ContainsRange(r) {
			t.Fatalf("segment pages %v outside the span %v", r, span)
		}
	}
	p := &Planner{Ranges: []RangeRule{{Range: region.Must(0x10000, 0x80000000), Pattern: "*"}}}
	for _, pl := range p.Plan(o, o) {
		if pl.Placed() && pl.SpanAt().Len() != o.Span.Len() {
			t.Fatalf("placed span %v has the wrong length", pl.SpanAt())
		}
		if pl.Conflict != nil {
			_ = pl.Conflict.Error()
		}
	}
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzRead from objects
// built by cc. It only runs when LOADER_WRITE_FUZZ_SEEDS=1:
//
//	LOADER_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds ./loader
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LOADER_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set LOADER_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpus")
	}
	tmp := t.TempDir()
	build := func(out, src string, extra ...string) []byte {
		// No libc, no section padding, no build id, stripped: about 2 KB.
		args := []string{"-shared", "-fPIC", "-Os", "-nostdlib", "-s", "-Wl,-z,noseparate-code",
			"-Wl,-z,norelro", "-Wl,--build-id=none", "-Wl,--hash-style=gnu", "-o", filepath.Join(tmp, out)}
		args = append(append(args, extra...), filepath.Join("..", "testdata", "loader", src))
		if b, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
			t.Fatalf("cc %v: %v\n%s", args, err, b)
		}
		data, err := os.ReadFile(filepath.Join(tmp, out))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	pe := build("pe.so", "nt_header.c", "-Wl,-soname,pe.dll.so")
	pe32 := build("pe32.so", "nt_header.c", "-DPE32")
	linked := build("linked.so", "plain.c", "-Wl,-Ttext-segment=0x7d000000", "-Wl,-soname,linked.so")

	o, err := Read(bytes.NewReader(pe), int64(len(pe)), "pe.so")
	if err != nil || o.PE == nil {
		t.Fatalf("seed object: %v, PE %v", err, o)
	}
	f, err := elf.NewFile(bytes.NewReader(pe))
	if err != nil {
		t.Fatal(err)
	}
	seeds := map[string][]byte{"pe64": pe, "pe32": pe32, "linked": linked}
	for _, n := range []int{0, 4, 16, 63, 64, 64 + prog64Size, int(le.Uint64(pe[ehPhoff:])) + len(f.Progs)*prog64Size, len(pe) / 2, int(o.PE.Offset) + 30, len(pe) - 1} {
		seeds[fmt.Sprintf("truncated-%d", n)] = pe[:n]
	}
	phoff := int(le.Uint64(pe[ehPhoff:]))
	var loads []int
	for i, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			loads = append(loads, phoff+i*prog64Size)
		}
	}
	dynsym := -1
	for i, s := range f.Sections {
		if s.Type == elf.SHT_DYNSYM {
			dynsym = int(le.Uint64(pe[ehShoff:])) + i*section64Size
		}
	}
	peOff := int(o.PE.Offset)
	mut := func(name string, edits ...func(d []byte)) {
		d := bytes.Clone(pe)
		for _, e := range edits {
			e(d)
		}
		seeds[name] = d
	}
	p16 := func(off int, v uint16) func([]byte) { return func(d []byte) { le.PutUint16(d[off:], v) } }
	p32 := func(off int, v uint32) func([]byte) { return func(d []byte) { le.PutUint32(d[off:], v) } }
	p64 := func(off int, v uint64) func([]byte) { return func(d []byte) { le.PutUint64(d[off:], v) } }
	mut("phnum-huge", p16(ehPhnum, 0xffff))
	mut("shnum-huge", p16(ehShnum, 0xffff))
	mut("phoff-past-end", p64(ehPhoff, 1<<40))
	mut("shoff-past-end", p64(ehShoff, 1<<40))
	mut("class32", func(d []byte) { d[elf.EI_CLASS] = byte(elf.ELFCLASS32) })
	mut("machine-i386", p16(0x12, uint16(elf.EM_386)))
	mut("load-filesz-huge", p64(loads[0]+phFilesz, 1<<62), p64(loads[0]+phMemsz, 1<<62))
	mut("load-memsz-overflow", p64(loads[len(loads)-1]+phMemsz, ^uint64(0)))
	mut("load-unsorted", p64(loads[0]+phVaddr, 0x2000))
	mut("load-overlap", p64(loads[0]+phMemsz, 0x2000))
	mut("load-past-user-space", p64(loads[len(loads)-1]+phVaddr, region.UserEnd-0x1000+le.Uint64(pe[loads[len(loads)-1]+phVaddr:])%0x1000),
		p64(loads[len(loads)-1]+phMemsz, 0x2000))
	mut("load-align-odd", p64(loads[0]+phAlign, 0x1800))
	mut("pe-signature", p32(peOff, 0x4d5a))
	mut("pe-magic", p16(peOff+24, 0x10c))
	mut("pe-optional-size", p16(peOff+20, 0))
	mut("dynsym-size-huge", p64(dynsym+0x20, 1<<40))
	mut("dynsym-link-bad", p32(dynsym+0x28, 0xffff))
	mut("shstrndx-bad", p16(ehShnum+2, 0xfff0))
	mut("pe-symbol-past-file-bytes", func(d []byte) {
		// Point the symbol at the zero-filled end of the last segment.
		last := loads[len(loads)-1]
		le.PutUint64(d[last+phMemsz:], le.Uint64(d[last+phFilesz:])+0x1000)
		syms, _ := f.DynamicSymbols()
		for i, s := range syms {
			if s.Name == NTHeaderSymbol {
				at := int(f.SectionByType(elf.SHT_DYNSYM).Offset) + (i+1)*24 + 8
				le.PutUint64(d[at:], le.Uint64(d[last+phVaddr:])+le.Uint64(d[last+phFilesz:])+0x10)
			}
		}
	})
	mut("soname-offset-huge", func(d []byte) {
		for _, p := range f.Progs {
			if p.Type != elf.PT_DYNAMIC {
				continue
			}
			for off := int(p.Off); off+16 <= int(p.Off+p.Filesz); off += 16 {
				if elf.DynTag(le.Uint64(d[off:])) == elf.DT_SONAME {
					le.PutUint64(d[off+8:], 1<<40)
				}
			}
		}
	})
	// Without section headers the PT_LOADs, PT_DYNAMIC and the soname
	// are all there is; truncating that copy cuts into them.
	bare := bytes.Clone(pe)
	le.PutUint64(bare[ehShoff:], 0)
	le.PutUint16(bare[ehShnum:], 0)
	le.PutUint16(bare[ehShnum+2:], 0)
	seeds["no-sections"] = bare
	for _, n := range []int{0x300, 0x360, 0x3a0, len(pe) - 0x300} {
		if n < len(bare) {
			seeds[fmt.Sprintf("no-sections-truncated-%d", n)] = bare[:n]
		}
	}

	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		text := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if len(text) > 20<<10 {
			t.Fatalf("seed %s is %d bytes encoded, more than 20 KB", name, len(text))
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d seeds to %s", len(seeds), dir)
}

// TestFuzzSeedsPresent keeps the corpus from silently disappearing: the
// fuzz test would still pass with no seeds at all.
func TestFuzzSeedsPresent(t *testing.T) {
	ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", "FuzzRead"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 20 {
		t.Fatalf("only %d seeds in testdata/fuzz/FuzzRead", len(ents))
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > 20<<10 || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("seed %s: %d bytes", e.Name(), info.Size())
		}
	}
}
