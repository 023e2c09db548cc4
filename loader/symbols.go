package loader

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
)

// Limits for reading symbol tables and unwind data; like the ones in
// object.go they only bind on malformed files.
const (
	maxSymtab   = 64 << 20 // bytes of one symbol table read (2.8M entries)
	maxEHFrame  = 64 << 20 // bytes of .eh_frame or .eh_frame_hdr read
	maxZeroSize = 4 << 10  // how far past a size-0 symbol Lookup still names it
	maxNested   = 64       // symbols Lookup steps back over to find one that contains an address
	maxNotes    = 64 << 10 // bytes of one PT_NOTE read
)

// Symbol is one entry of an object's symbol table.
type Symbol struct {
	Name  string
	Value uint64 // st_value: the link-time address of the first byte
	Size  uint64 // st_size; 0 when the symbol does not say
	Func  bool   // STT_FUNC or STT_GNU_IFUNC (else STT_OBJECT or STT_NOTYPE)
}

// UnwindSection is the bytes of an unwind-data section and the link-time
// address of the first of them (the address pc-relative pointers inside
// it are relative to). Data is nil when the object has no such section.
type UnwindSection struct {
	Addr uint64
	Data []byte
}

// Symbols is what symbolization needs from one ELF object: its symbol
// table, its PT_LOAD headers (to turn a file offset into a link-time
// address) and its call-frame information (.eh_frame and .eh_frame_hdr,
// for unwinding the stack through code that keeps no frame pointer).
//
// The table is .symtab when the object has one, otherwise .dynsym: a
// stripped library (Debian's libc.so.6) only names its exported
// functions, so an address inside an internal one finds no symbol rather
// than a wrong one. Symbols of type FUNC, GNU_IFUNC, OBJECT and NOTYPE
// that are defined in a section are kept; TLS symbols (their values are
// offsets, not addresses), section and file symbols are not. Aliases
// (several names for the same value and size) keep one name: one without
// a leading underscore if there is one, else a global rather than a weak
// or local one, else the shortest, so __libc_malloc/malloc is "malloc"
// and __mmap/mmap64/mmap is "mmap". Symbol versions that .symtab spells
// into names (pthread_create@@GLIBC_2.34) are cut off.
type Symbols struct {
	Path  string // the name the object was opened by
	Table string // ".symtab", ".dynsym", or "" when it has neither

	// Segments are the PT_LOAD headers in file order. Unlike Read,
	// ReadSymbols does not insist on their being sorted or disjoint:
	// it only needs them to translate offsets, and leaves judging the
	// layout to the loader proper.
	Segments []Segment

	// EHFrame is .eh_frame: found by section name, or when the section
	// headers are gone, through PT_GNU_EH_FRAME's .eh_frame_hdr (then
	// Data runs to the end of the segment's file bytes; the section's
	// zero terminator ends it in practice).
	EHFrame UnwindSection
	// EHFrameHdr is .eh_frame_hdr (PT_GNU_EH_FRAME), the binary search
	// table over EHFrame's entries that libgcc's unwinder uses.
	EHFrameHdr UnwindSection

	// BuildID is the NT_GNU_BUILD_ID note (from PT_NOTE), nil if none:
	// the name of the object's separate debug file (DebugFile).
	BuildID []byte
	// TableFile is the file the symbol table was read from: Path, or
	// the debug file whose .symtab UseDebugTable adopted.
	TableFile string

	syms   []Symbol // sorted by Value, then by Size descending
	maxEnd []uint64 // maxEnd[i]: the highest Value+Size among syms[:i+1]
}

// OpenSymbols reads the symbols, segments and unwind sections of the
// ELF file at path. Only regular files are read; the error is a
// *FileError (or the *PathError of opening the file).
func OpenSymbols(path string) (*Symbols, error) {
	var s *Symbols
	err := withRegularFile(path, func(f *os.File, size int64) (err error) {
		s, err = ReadSymbols(f, size, path)
		return err
	})
	return s, err
}

// ReadSymbols is OpenSymbols for an object held in r, which has size
// bytes; name is used in errors and as Path. Every table is checked
// against the file's size before it is read and bounded by fixed
// limits, so a malformed file costs little and never panics. A missing
// table is not an error (Table is "", EHFrame.Data nil); a table that is
// there but runs past the end of the file or points at nothing is.
func ReadSymbols(r io.ReaderAt, size int64, name string) (*Symbols, error) {
	s, err := readSymbols(r, size, name)
	if err != nil {
		return nil, &FileError{name, err}
	}
	return s, nil
}

func readSymbols(r io.ReaderAt, size int64, name string) (*Symbols, error) {
	f, noSections, err := newELF(r, size)
	if err != nil {
		return nil, err
	}
	if noSections != nil {
		// Symbols are what this reader is for: without the section
		// headers that locate them it has nothing to give.
		return nil, noSections
	}
	sr := io.NewSectionReader(r, 0, size)
	switch {
	case f.Machine != elf.EM_X86_64:
		return nil, fmt.Errorf("%w: ELF for %v, not x86-64 (EM_X86_64)", ErrUnsupported, f.Machine)
	case f.Type != elf.ET_DYN && f.Type != elf.ET_EXEC:
		return nil, fmt.Errorf("%w: ELF type %v has no load addresses", ErrUnsupported, f.Type)
	}
	s := &Symbols{Path: name, TableFile: name}
	var ehHdr *elf.Prog
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if len(s.Segments) == maxLoads {
				return nil, malformed("more than %d PT_LOAD program headers", maxLoads)
			}
			// (A debug file's segments keep their sizes but have no
			// file bytes: p_filesz 0, p_offset anywhere.)
			if end, ok := add(p.Off, p.Filesz); p.Filesz > 0 && (!ok || end > uint64(size)) || p.Filesz > p.Memsz {
				return nil, malformed("program header %d (PT_LOAD): file bytes 0x%x+0x%x do not fit the file (0x%x bytes) or p_memsz 0x%x", i, p.Off, p.Filesz, size, p.Memsz)
			}
			s.Segments = append(s.Segments, Segment{Vaddr: p.Vaddr, Memsz: p.Memsz, Offset: p.Off, Filesz: p.Filesz, Align: p.Align, Flags: p.Flags})
		case elf.PT_GNU_EH_FRAME:
			if ehHdr == nil {
				ehHdr = p
			}
		case elf.PT_NOTE:
			if s.BuildID == nil {
				s.BuildID = readBuildID(sr, size, p)
			}
		}
	}
	if err := s.readTable(sr, size, f); err != nil {
		return nil, err
	}
	if err := s.readUnwind(sr, size, f, ehHdr); err != nil {
		return nil, err
	}
	return s, nil
}

// readBuildID looks for an NT_GNU_BUILD_ID note in a PT_NOTE segment:
// 4-byte name size, descriptor size and type, then the name and the
// descriptor, each padded to 4 bytes. Notes only name the debug file,
// so a malformed one is not an error: it yields no ID.
func readBuildID(r io.ReaderAt, size int64, p *elf.Prog) []byte {
	if p.Filesz > maxNotes {
		return nil
	}
	d, err := readAt(r, size, p.Off, p.Filesz, "PT_NOTE")
	if err != nil {
		return nil
	}
	le := binary.LittleEndian
	for len(d) >= 12 {
		namesz, descsz, typ := uint64(le.Uint32(d)), uint64(le.Uint32(d[4:])), le.Uint32(d[8:])
		nameEnd := 12 + (namesz+3)&^3
		descEnd := nameEnd + (descsz+3)&^3
		if namesz > uint64(len(d)) || descsz > uint64(len(d)) || descEnd > uint64(len(d)) {
			return nil
		}
		const ntGNUBuildID = 3
		if typ == ntGNUBuildID && namesz == 4 && string(d[12:16]) == "GNU\x00" && descsz > 0 {
			return bytes.Clone(d[nameEnd : nameEnd+descsz])
		}
		d = d[descEnd:]
	}
	return nil
}

// DebugFile returns where a separate debug file for an object with the
// given build ID lives under dir (usually /usr/lib/debug), as gdb looks
// for it: dir/.build-id/xx/rest.debug, xx the ID's first byte in hex;
// "" for an ID too short to name one.
func DebugFile(dir string, buildID []byte) string {
	if len(buildID) < 2 {
		return ""
	}
	return fmt.Sprintf("%s/.build-id/%x/%x.debug", dir, buildID[:1], buildID[1:])
}

// UseDebugTable adopts the .symtab of d, the object's separate debug
// file (objcopy --only-keep-debug; Debian's -dbg packages), when s has
// none of its own: a stripped library's internal functions then have
// names. d must carry the same build ID. It reports whether the table
// was adopted. The debug file's addresses are the object's own, and its
// unwind sections are empty (NOBITS); s keeps its own.
func (s *Symbols) UseDebugTable(d *Symbols) bool {
	if s.Table == ".symtab" || d.Table != ".symtab" || len(s.BuildID) == 0 || !bytes.Equal(s.BuildID, d.BuildID) {
		return false
	}
	s.Table, s.TableFile, s.syms, s.maxEnd = d.Table, d.Path, d.syms, d.maxEnd
	return true
}

// readTable reads .symtab, or .dynsym when there is no .symtab.
func (s *Symbols) readTable(r io.ReaderAt, size int64, f *elf.File) error {
	var sec *elf.Section
	for _, typ := range []elf.SectionType{elf.SHT_SYMTAB, elf.SHT_DYNSYM} {
		if i := slices.IndexFunc(f.Sections, func(x *elf.Section) bool { return x.Type == typ }); i >= 0 {
			sec = f.Sections[i]
			break
		}
	}
	if sec == nil {
		return nil
	}
	s.Table = sec.Name
	if sec.Entsize != 0 && sec.Entsize != elf.Sym64Size {
		return malformed("section %q: entry size %d, not %d", sec.Name, sec.Entsize, elf.Sym64Size)
	}
	tab, err := readSection(r, size, sec, maxSymtab, "symbol table")
	if err != nil {
		return err
	}
	if sec.Link == 0 || int(sec.Link) >= len(f.Sections) {
		return malformed("section %q: sh_link %d names no string table", sec.Name, sec.Link)
	}
	strSec := f.Sections[sec.Link]
	if strSec.Type != elf.SHT_STRTAB {
		return malformed("section %q: sh_link %d is %v, not a string table", sec.Name, sec.Link, strSec.Type)
	}
	strtab, err := readSection(r, size, strSec, maxStrtab, "string table")
	if err != nil {
		return err
	}
	var all []rankedSymbol
	le := binary.LittleEndian
	for i := elf.Sym64Size; i+elf.Sym64Size <= len(tab); i += elf.Sym64Size { // entry 0 is the null symbol
		e := tab[i : i+elf.Sym64Size]
		info := e[4]
		shndx := elf.SectionIndex(le.Uint16(e[6:]))
		if shndx == elf.SHN_UNDEF || shndx >= elf.SHN_LORESERVE {
			continue // undefined, absolute or common: not an address in the object
		}
		typ := elf.ST_TYPE(info)
		switch typ {
		case elf.STT_FUNC, elf.STT_GNU_IFUNC, elf.STT_OBJECT, elf.STT_NOTYPE:
		default:
			continue
		}
		nameOff := uint64(le.Uint32(e))
		if nameOff == 0 || nameOff >= uint64(len(strtab)) {
			continue
		}
		n := bytes.IndexByte(strtab[nameOff:], 0)
		if n <= 0 {
			continue // no terminator, or an empty name
		}
		value, sz := le.Uint64(e[8:]), le.Uint64(e[16:])
		if _, ok := add(value, sz); !ok {
			continue
		}
		name := strtab[nameOff : nameOff+uint64(n)]
		if at := bytes.IndexByte(name, '@'); at > 0 {
			name = name[:at] // foo@@GLIBC_2.34 in .symtab: the version is not part of the name
		}
		all = append(all, rankedSymbol{Symbol{
			Name:  string(name),
			Value: value,
			Size:  sz,
			Func:  typ == elf.STT_FUNC || typ == elf.STT_GNU_IFUNC,
		}, elf.ST_BIND(info)})
	}
	s.setSymbols(all)
	return nil
}

// rankedSymbol is a symbol with its binding, which ranks aliases.
type rankedSymbol struct {
	Symbol
	bind elf.SymBind
}

// setSymbols sorts the symbols by address, keeps one name per alias
// set and indexes them for Lookup.
func (s *Symbols) setSymbols(all []rankedSymbol) {
	bindRank := func(b elf.SymBind) int {
		switch b {
		case elf.STB_GLOBAL:
			return 0
		case elf.STB_WEAK:
			return 1
		}
		return 2
	}
	underscore := func(n string) int {
		if strings.HasPrefix(n, "_") {
			return 1
		}
		return 0
	}
	slices.SortFunc(all, func(a, b rankedSymbol) int {
		return cmp.Or(
			cmp.Compare(a.Value, b.Value),
			cmp.Compare(b.Size, a.Size),
			cmp.Compare(underscore(a.Name), underscore(b.Name)),
			cmp.Compare(bindRank(a.bind), bindRank(b.bind)),
			cmp.Compare(len(a.Name), len(b.Name)),
			strings.Compare(a.Name, b.Name),
		)
	})
	s.syms = make([]Symbol, 0, len(all))
	for i, x := range all {
		if i > 0 && x.Value == all[i-1].Value && x.Size == all[i-1].Size {
			continue // an alias: the first one sorted is the name kept
		}
		s.syms = append(s.syms, x.Symbol)
	}
	s.maxEnd = make([]uint64, len(s.syms))
	var hi uint64
	for i, x := range s.syms {
		hi = max(hi, x.Value+x.Size)
		s.maxEnd[i] = hi
	}
}

// readSection reads a section's bytes after checking that they lie in
// the file and are at most limit bytes.
func readSection(r io.ReaderAt, size int64, sec *elf.Section, limit uint64, what string) ([]byte, error) {
	if sec.Type == elf.SHT_NOBITS {
		return nil, malformed("%s %q has no bytes in the file (SHT_NOBITS)", what, sec.Name)
	}
	if sec.Size > limit {
		return nil, malformed("%s %q is 0x%x bytes, more than 0x%x", what, sec.Name, sec.Size, limit)
	}
	return readAt(r, size, sec.Offset, sec.Size, what+" "+sec.Name)
}

// readAt reads n bytes at off after checking they lie in the file.
func readAt(r io.ReaderAt, size int64, off, n uint64, what string) ([]byte, error) {
	if end, ok := add(off, n); !ok || end > uint64(size) {
		return nil, malformed("%s at 0x%x+0x%x runs past the end of the file (0x%x bytes)", what, off, n, size)
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, int64(off)); err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return buf, nil
}

// readUnwind finds .eh_frame and .eh_frame_hdr, by section name or, when
// the section headers are gone, through PT_GNU_EH_FRAME.
func (s *Symbols) readUnwind(r io.ReaderAt, size int64, f *elf.File, hdr *elf.Prog) error {
	for _, sec := range f.Sections {
		var dst *UnwindSection
		switch sec.Name {
		case ".eh_frame":
			dst = &s.EHFrame
		case ".eh_frame_hdr":
			dst = &s.EHFrameHdr
		default:
			continue
		}
		if dst.Data != nil || sec.Type == elf.SHT_NOBITS || sec.Size == 0 {
			continue
		}
		data, err := readSection(r, size, sec, maxEHFrame, "unwind section")
		if err != nil {
			return err
		}
		*dst = UnwindSection{Addr: sec.Addr, Data: data}
	}
	if s.EHFrameHdr.Data == nil && hdr != nil && hdr.Filesz > 0 {
		if hdr.Filesz > maxEHFrame {
			return malformed("PT_GNU_EH_FRAME is 0x%x bytes, more than 0x%x", hdr.Filesz, uint64(maxEHFrame))
		}
		data, err := readAt(r, size, hdr.Off, hdr.Filesz, "PT_GNU_EH_FRAME")
		if err != nil {
			return err
		}
		s.EHFrameHdr = UnwindSection{Addr: hdr.Vaddr, Data: data}
	}
	if s.EHFrame.Data != nil || s.EHFrameHdr.Data == nil {
		return nil
	}
	// No section headers: .eh_frame_hdr's second field points at
	// .eh_frame, whose length only the zero terminator tells.
	addr, ok := ehFramePtr(s.EHFrameHdr)
	if !ok {
		return nil // an encoding this reader does not know: no unwind data
	}
	off, avail, ok := s.fileOffset(addr)
	if !ok {
		return malformed(".eh_frame_hdr points at 0x%x, in no PT_LOAD's file bytes", addr)
	}
	data, err := readAt(r, size, off, min(avail, maxEHFrame), ".eh_frame")
	if err != nil {
		return err
	}
	s.EHFrame = UnwindSection{Addr: addr, Data: data}
	return nil
}

// ehFramePtr decodes .eh_frame_hdr's eh_frame_ptr: version 1, then the
// pointer's encoding byte, two more encoding bytes, then the pointer.
// The encodings linkers use are 4- or 8-byte values, absolute or
// relative to the field or to the section's start.
func ehFramePtr(h UnwindSection) (uint64, bool) {
	d := h.Data
	if len(d) < 4 || d[0] != 1 {
		return 0, false
	}
	enc := d[1]
	var v uint64
	switch enc & 0x0f {
	case 0x03: // udata4
		if len(d) < 8 {
			return 0, false
		}
		v = uint64(binary.LittleEndian.Uint32(d[4:]))
	case 0x0b: // sdata4
		if len(d) < 8 {
			return 0, false
		}
		v = uint64(int64(int32(binary.LittleEndian.Uint32(d[4:]))))
	case 0x04, 0x0c, 0x00: // udata8, sdata8, absptr
		if len(d) < 12 {
			return 0, false
		}
		v = binary.LittleEndian.Uint64(d[4:])
	default:
		return 0, false
	}
	switch enc & 0x70 {
	case 0x00: // absolute
	case 0x10: // pc-relative: the field is at offset 4
		v += h.Addr + 4
	case 0x30: // data-relative: to the start of .eh_frame_hdr
		v += h.Addr
	default:
		return 0, false
	}
	return v, true
}

// fileOffset maps a link-time address to the file offset of its byte,
// if a segment has it among its file bytes; avail is how many bytes of
// that segment's file part start there.
func (s *Symbols) fileOffset(vaddr uint64) (off, avail uint64, ok bool) {
	for _, g := range s.Segments {
		if vaddr >= g.Vaddr && vaddr-g.Vaddr < g.Filesz {
			d := vaddr - g.Vaddr
			return g.Offset + d, g.Filesz - d, true
		}
	}
	return 0, 0, false
}

// Vaddr maps an offset in the file to the link-time address the byte
// there is loaded at: the address space of the symbol table and the
// unwind data. A mapping of the object at Start with file offset Offset
// (from /proc/PID/maps) holds the byte at run-time address a at file
// offset a - Start + Offset. The answer comes from the PT_LOAD whose
// file bytes hold the offset, preferring an executable segment when
// exec is set (segments may share a file page), so each segment's own
// p_vaddr - p_offset is used rather than one bias assumed for all.
func (s *Symbols) Vaddr(fileOff uint64, exec bool) (uint64, bool) {
	found, ok := Segment{}, false
	for _, g := range s.Segments {
		if fileOff < g.Offset || fileOff-g.Offset >= g.Filesz {
			continue
		}
		if !ok || (exec && g.Flags&elf.PF_X != 0 && found.Flags&elf.PF_X == 0) {
			found, ok = g, true
		}
	}
	if !ok {
		return 0, false
	}
	return fileOff - found.Offset + found.Vaddr, true
}

// Len returns the number of symbols kept.
func (s *Symbols) Len() int { return len(s.syms) }

// All returns the symbols kept, sorted by address. The slice is the
// table's own: do not change it.
func (s *Symbols) All() []Symbol { return s.syms }

// Find returns the symbol called name, if it was kept.
func (s *Symbols) Find(name string) (Symbol, bool) {
	for _, x := range s.syms {
		if x.Name == name {
			return x, true
		}
	}
	return Symbol{}, false
}

// Lookup names the symbol that holds link-time address vaddr and the
// offset of vaddr into it: the nearest symbol at or below vaddr whose
// [Value, Value+Size) contains it (a nested one is preferred to the
// symbol around it), or else the nearest symbol below it if that one has
// size 0 (an assembler label without .size), nothing sized lies between
// them and vaddr is less than 4 KiB past it. Otherwise ok is false: an
// address past the end of every symbol is in code the table does not
// name (a static function of a stripped library), and the symbol before
// it would be a wrong answer.
func (s *Symbols) Lookup(vaddr uint64) (name string, off uint64, ok bool) {
	i := sort.Search(len(s.syms), func(i int) bool { return s.syms[i].Value > vaddr }) - 1
	if i < 0 {
		return "", 0, false
	}
	for j, n := i, 0; j >= 0 && n < maxNested && s.maxEnd[j] > vaddr; j, n = j-1, n+1 {
		if x := s.syms[j]; x.Size > 0 && vaddr-x.Value < x.Size {
			return x.Name, vaddr - x.Value, true
		}
	}
	x := s.syms[i]
	if x.Size == 0 && vaddr-x.Value < maxZeroSize && (i == 0 || s.maxEnd[i-1] <= x.Value) {
		return x.Name, vaddr - x.Value, true
	}
	return "", 0, false
}
