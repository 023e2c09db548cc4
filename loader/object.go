package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
	"syscall"

	"github.com/mmapguard/mmapguard/internal/plainfile"
	"github.com/mmapguard/mmapguard/region"
)

// MinAddr is the lowest address an unprivileged mmap may use: the
// default vm.mmap_min_addr. The planner never places a span below it.
const MinAddr uint64 = 0x10000

// Limits that keep a malformed file from costing much time or memory.
// Real objects stay far below each of them.
const (
	maxLoads      = 128      // PT_LOAD entries in one object
	maxAlign      = 1 << 30  // largest p_align honoured (1 GiB)
	maxDynamic    = 1 << 20  // bytes of PT_DYNAMIC read
	maxSoname     = 4096     // bytes of a DT_SONAME string
	maxStrtab     = 64 << 20 // bytes of a symbol string table read
	symChunk      = 64 << 10 // bytes of a symbol table read at a time
	peHeaderBytes = 84       // signature, file header and optional header up to SizeOfImage
)

// Sentinels wrapped by the errors Read returns; test them with errors.Is.
var (
	// ErrNotELF means the file does not start with the ELF magic.
	ErrNotELF = errors.New("not an ELF file")
	// ErrUnsupported means a well-formed ELF file that mmapguard cannot
	// place: another class, byte order or machine than x86-64, or a type
	// other than ET_DYN and ET_EXEC.
	ErrUnsupported = errors.New("unsupported object")
	// ErrMalformed means the ELF (or embedded PE) headers contradict
	// themselves or the file's size.
	ErrMalformed = errors.New("malformed")
)

// FileError is the error Open and Read return: the file's name and what
// is wrong with it.
type FileError struct {
	Path string
	Err  error // wraps ErrNotELF, ErrUnsupported, ErrMalformed or an I/O error
}

// Error names the file and the problem.
func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w ELF: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Kind says what sort of loadable object a file is.
type Kind int

const (
	// SharedObject is an ET_DYN file without PT_INTERP: a library or a
	// Wine builtin .dll.so.
	SharedObject Kind = iota
	// PIE is an ET_DYN file with PT_INTERP: a position-independent
	// program (it may be a library that can also run, like libc.so.6).
	PIE
	// Executable is an ET_EXEC program: its addresses are fixed at link
	// time and no loader can move it.
	Executable
)

func (k Kind) String() string {
	switch k {
	case SharedObject:
		return "shared object (ET_DYN)"
	case PIE:
		return "position-independent executable (ET_DYN with PT_INTERP)"
	case Executable:
		return "fixed-address executable (ET_EXEC)"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Segment is one PT_LOAD program header.
type Segment struct {
	Vaddr  uint64 // p_vaddr: link-time address of the first byte
	Memsz  uint64 // p_memsz: bytes in memory (the part past Filesz is zero-filled)
	Offset uint64 // p_offset: file offset of the first byte
	Filesz uint64 // p_filesz: bytes taken from the file (ld.so maps them all, even past Memsz)
	Align  uint64 // p_align as written (0 means none; ld.so uses only a power of two)
	Flags  elf.ProgFlag
}

// Prot returns the segment's permissions as mmap's PROT_READ (1),
// PROT_WRITE (2) and PROT_EXEC (4) bits, the way ld.so converts them.
func (s Segment) Prot() int {
	prot := 0
	if s.Flags&elf.PF_R != 0 {
		prot |= 1
	}
	if s.Flags&elf.PF_W != 0 {
		prot |= 2
	}
	if s.Flags&elf.PF_X != 0 {
		prot |= 4
	}
	return prot
}

// Object is what the loader package knows about one ELF file: enough to
// decide where it should be mapped and to recognise ld.so mapping it.
type Object struct {
	Path   string // the name it was opened by
	Size   int64  // file size in bytes
	Kind   Kind
	Soname string // DT_SONAME, "" if none

	// Segments are the PT_LOAD headers, sorted by Vaddr and disjoint.
	Segments []Segment
	// Span is the link-time extent of the segments: the first
	// segment's Vaddr rounded down to a page up to the highest
	// Vaddr+Memsz rounded up. ld.so reserves exactly Span.Len() bytes.
	Span region.Range
	// LinkBase is Span.Start, the page of the first PT_LOAD. It is 0
	// for ordinary shared objects; a non-zero value is an address the
	// object was linked to run at (-Wl,-Ttext-segment, --image-base,
	// prelink), which ld.so passes to mmap as a hint.
	LinkBase uint64
	// Align is the largest power-of-two p_align of the PT_LOADs, at
	// least the page size. ld.so (glibc 2.35 and later) aligns the load
	// bias to it.
	Align uint64

	// PE is the embedded PE header of a Wine-style builtin, or nil.
	PE *PEHeader

	// Skipped lists the problems found in parts of the file that
	// placement can do without, each wrapping ErrMalformed and saying
	// what is lost: broken section headers or symbol tables (no PE
	// header is looked for through them), a broken PE header (no PE
	// ImageBase), a broken DT_SONAME (no soname to match rules
	// against). ld.so reads none of them to load the object, so the
	// object still loads natively and is placed by its program headers:
	// by a rule or its link base.
	Skipped []error
}

// PEHeader is the part of an embedded IMAGE_NT_HEADERS that placement
// needs. Wine's builtin .dll.so files carry one as data, found through
// an exported symbol.
type PEHeader struct {
	Symbol      string // the symbol that located it
	Vaddr       uint64 // its link-time address (the symbol's value)
	Offset      uint64 // its offset in the file
	Machine     uint16 // IMAGE_FILE_HEADER.Machine: 0x8664 x86-64, 0x14c i386
	Magic       uint16 // optional header magic: 0x10b PE32, 0x20b PE32+
	ImageBase   uint64 // where the PE image wants to be
	SizeOfImage uint32
}

// PE32Plus reports whether the header is the 64-bit form.
func (h *PEHeader) PE32Plus() bool { return h.Magic == peMagic64 }

// Format names the header's form: "PE32" or "PE32+".
func (h *PEHeader) Format() string {
	if h.PE32Plus() {
		return "PE32+"
	}
	return "PE32"
}

// SelfReferential reports whether ImageBase points into the object's
// own link-time span. winebuild fills ImageBase with the address of a
// header area inside the .so itself, a pointer that ld.so relocates;
// such a value says where the image is, not where it wants to be, so the
// planner does not use it as a base. An ImageBase of 0 is no address at
// all (no base wanted), not one inside an object linked at 0.
func (h *PEHeader) SelfReferential(o *Object) bool {
	return h.ImageBase != 0 && o.Span.Contains(h.ImageBase)
}

// NTHeaderSymbol is the symbol through which a Wine builtin exports its
// PE header.
const NTHeaderSymbol = "__wine_spec_nt_header"

const (
	peSignature = 0x00004550 // "PE\0\0" read little-endian
	peMagic32   = 0x10b
	peMagic64   = 0x20b
)

// Open reads the ELF headers of the file at path. Only regular files are
// read; the error is a *FileError.
func Open(path string) (*Object, error) {
	var o *Object
	err := withRegularFile(path, func(f *os.File, size int64) (err error) {
		o, err = Read(f, size, path)
		return err
	})
	return o, err
}

// withRegularFile opens path, checks that it is a regular file and
// passes it to read; the error is read's, the *PathError of opening, or
// a *FileError.
func withRegularFile(path string, read func(f *os.File, size int64) error) error {
	// O_NONBLOCK: the open of a FIFO with no writer would otherwise
	// wait for one for good (mmapguard inspect hung on it); it changes
	// nothing for a regular file.
	f, err := plainfile.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err // *PathError already names the file
	}
	defer func() { _ = f.Close() }() // read-only: a failed close loses nothing
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	switch {
	case fi.IsDir():
		return &FileError{path, fmt.Errorf("%w: a directory", ErrNotELF)}
	case !fi.Mode().IsRegular():
		return &FileError{path, fmt.Errorf("%w: not a regular file (%s)", ErrNotELF, fileType(fi.Mode()))}
	}
	return read(f, fi.Size())
}

// fileType names the type of a file that is not a regular one in words
// (fs.FileMode's own form, "Dc---------" for /dev/null, said nothing).
func fileType(m os.FileMode) string {
	switch t := m.Type(); {
	case t&os.ModeCharDevice != 0:
		return "a character device"
	case t&os.ModeDevice != 0:
		return "a block device"
	case t&os.ModeNamedPipe != 0:
		return "a named pipe"
	case t&os.ModeSocket != 0:
		return "a socket"
	case t&os.ModeSymlink != 0:
		return "a symbolic link"
	case t&os.ModeIrregular != 0:
		return "a file of an unknown type"
	default:
		return "mode " + t.String()
	}
}

// newELF opens the x86-64 ELF file r holds (size bytes) after checking
// its identification and the ELF header's description of the program
// headers; the errors are those Read and ReadSymbols wrap.
//
// The section headers are another matter: ld.so never reads them, so a
// file whose section header fields are broken (e_shoff past the end,
// e_shnum or e_shstrndx that make no sense, a bad section name table)
// loads all the same. newELF then opens the file as if it had none and
// returns why in noSections; the caller decides what that costs it
// (Read loses the symbol tables the PE header is found through).
func newELF(r io.ReaderAt, size int64) (f *elf.File, noSections, err error) {
	if size < 0 {
		return nil, nil, fmt.Errorf("negative size %d", size)
	}
	sr := io.NewSectionReader(r, 0, size)
	if err := checkIdent(sr, size); err != nil {
		return nil, nil, err
	}
	var h [ehdrSize]byte
	if _, err := sr.ReadAt(h[:], 0); err != nil {
		return nil, nil, fmt.Errorf("reading the ELF header: %w", err)
	}
	if err := checkProgHeaders(h[:], size); err != nil {
		return nil, nil, err
	}
	noSections = checkSectionHeaders(h[:], size)
	if noSections == nil {
		f, err = elf.NewFile(sr)
		if err != nil {
			// debug/elf refused something past the header fields
			// checked above: the section headers or their names, as
			// the program headers were found whole.
			noSections = fmt.Errorf("the section headers cannot be read (%v)", err)
		}
	}
	if noSections != nil {
		f, err = elf.NewFile(io.NewSectionReader(withoutSections{sr}, 0, size))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, nil, malformed("truncated: the program headers run past the end of the file (0x%x bytes)", size)
	}
	if err != nil {
		return nil, nil, malformed("%v", err)
	}
	if f.Machine != elf.EM_X86_64 {
		return nil, nil, fmt.Errorf("%w: ELF for %v, not x86-64 (EM_X86_64)", ErrUnsupported, f.Machine)
	}
	if noSections != nil {
		noSections = malformed("%v", noSections)
	}
	return f, noSections, nil
}

// Offsets and sizes in an Elf64_Ehdr, and the sizes of the headers it
// describes.
const (
	ehdrSize    = 64 // an Elf64_Ehdr
	ehPhoff     = 0x20
	ehShoff     = 0x28
	ehPhentsize = 0x36
	ehPhnum     = 0x38
	ehShentsize = 0x3a
	ehShnum     = 0x3c
	ehShstrndx  = 0x3e
	phdrSize    = 56 // an Elf64_Phdr
	shdrSize    = 64 // an Elf64_Shdr
)

// checkProgHeaders checks what the ELF header h says of the program
// headers against the file's size, as ld.so does before it maps
// anything, and says which field is wrong in plain words.
func checkProgHeaders(h []byte, size int64) error {
	le := binary.LittleEndian
	phoff, entsize, num := le.Uint64(h[ehPhoff:]), le.Uint16(h[ehPhentsize:]), uint64(le.Uint16(h[ehPhnum:]))
	if num == 0 {
		return nil // nothing to map: said once the type is known
	}
	if entsize != phdrSize {
		return malformed("the ELF header gives program headers of %d bytes (e_phentsize), not the %d of a 64-bit one (ld.so refuses it)", entsize, phdrSize)
	}
	if phoff >= uint64(size) {
		return malformed("the program headers' offset 0x%x (e_phoff) is past the end of the file (0x%x bytes)", phoff, size)
	}
	if end, ok := add(phoff, num*phdrSize); !ok || end > uint64(size) {
		return malformed("truncated: the %d program headers at offset 0x%x (e_phoff) run past the end of the file (0x%x bytes)", num, phoff, size)
	}
	return nil
}

// checkSectionHeaders checks what the ELF header h says of the section
// headers; nil if they can be read (or there are none), else why not.
func checkSectionHeaders(h []byte, size int64) error {
	le := binary.LittleEndian
	shoff, entsize := le.Uint64(h[ehShoff:]), le.Uint16(h[ehShentsize:])
	num, strndx := uint64(le.Uint16(h[ehShnum:])), uint64(le.Uint16(h[ehShstrndx:]))
	switch {
	case shoff == 0 && num == 0:
		return nil
	case shoff == 0:
		return fmt.Errorf("the ELF header gives %d section headers (e_shnum) at offset 0 (e_shoff)", num)
	case num == 0:
		return nil // more than 0xff00 sections, counted in section 0: debug/elf checks it
	case entsize != shdrSize:
		return fmt.Errorf("the ELF header gives section headers of %d bytes (e_shentsize), not the %d of a 64-bit one", entsize, shdrSize)
	case strndx >= num && strndx != uint64(elf.SHN_XINDEX):
		return fmt.Errorf("the section name table's index %d (e_shstrndx) is not below the number of sections, %d (e_shnum)", strndx, num)
	}
	if end, ok := add(shoff, num*shdrSize); !ok || end > uint64(size) {
		return fmt.Errorf("the %d section headers at offset 0x%x (e_shoff) run past the end of the file (0x%x bytes)", num, shoff, size)
	}
	return nil
}

// withoutSections reads an ELF file as if its header gave no section
// headers: e_shoff, e_shnum and e_shstrndx read as 0.
type withoutSections struct{ r io.ReaderAt }

func (w withoutSections) ReadAt(p []byte, off int64) (int, error) {
	n, err := w.r.ReadAt(p, off)
	for i := range p[:n] {
		if at := off + int64(i); at >= ehShoff && at < ehShoff+8 || at >= ehShnum && at < ehShstrndx+2 {
			p[i] = 0
		}
	}
	return n, err
}

// Read reads an object from r, which holds size bytes; name is used in
// errors and as the object's Path. Nothing past size is read, and what
// is read is bounded by the limits above, so a malformed file can cost
// neither much memory nor much time. The error is a *FileError wrapping
// ErrNotELF, ErrUnsupported, ErrMalformed or the reader's error.
func Read(r io.ReaderAt, size int64, name string) (*Object, error) {
	o, err := read(r, size, name)
	if err != nil {
		return nil, &FileError{name, err}
	}
	return o, nil
}

func read(r io.ReaderAt, size int64, name string) (*Object, error) {
	f, noSections, err := newELF(r, size)
	if err != nil {
		return nil, err
	}
	sr := io.NewSectionReader(r, 0, size)
	switch {
	case f.Type == elf.ET_REL:
		return nil, fmt.Errorf("%w: a relocatable object file (ET_REL, a .o), not a loadable one", ErrUnsupported)
	case f.Type == elf.ET_CORE:
		return nil, fmt.Errorf("%w: a core dump (ET_CORE)", ErrUnsupported)
	case f.Type != elf.ET_DYN && f.Type != elf.ET_EXEC:
		return nil, fmt.Errorf("%w: ELF type %v is not loadable", ErrUnsupported, f.Type)
	}
	o := &Object{Path: name, Size: size, Kind: SharedObject}
	if f.Type == elf.ET_EXEC {
		o.Kind = Executable
	}
	var dynamic *elf.Prog
	for i, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if len(o.Segments) == maxLoads {
				return nil, malformed("more than %d PT_LOAD program headers", maxLoads)
			}
			s := Segment{Vaddr: p.Vaddr, Memsz: p.Memsz, Offset: p.Off, Filesz: p.Filesz, Align: p.Align, Flags: p.Flags}
			if err := o.addSegment(i, s); err != nil {
				return nil, err
			}
		case elf.PT_INTERP:
			if o.Kind == SharedObject {
				o.Kind = PIE
			}
		case elf.PT_DYNAMIC:
			if dynamic == nil {
				dynamic = p
			}
		}
	}
	if err := o.setSpan(); err != nil {
		return nil, err
	}
	// What follows is read for the rules and the PE ImageBase, not by
	// ld.so to map the object: a problem there costs only what depends
	// on it (a rule or the link base still places the object).
	if noSections != nil {
		o.skip(noSections, "the section headers are ignored, and with them the symbol tables the PE header is found through")
	}
	if dynamic != nil {
		if o.Soname, err = o.readSoname(sr, dynamic); err != nil {
			o.Soname = ""
			o.skip(err, "no soname: rules match its path and file name only")
		}
	}
	if o.PE, err = o.findPE(sr, f); err != nil {
		o.PE = nil
		o.skip(err, "its PE ImageBase is not used")
	}
	return o, nil
}

// skip records a problem in a part of the file placement can do
// without, and what is lost with it.
func (o *Object) skip(err error, lost string) {
	if !errors.Is(err, ErrMalformed) {
		err = fmt.Errorf("%w: %w", ErrMalformed, err) // an I/O error reading the part
	}
	o.Skipped = append(o.Skipped, fmt.Errorf("%w; %s", err, lost))
}

// linkerScript says what a GNU ld script is, the text a lib*.so often
// is (libc.so: "GROUP ( /lib/x86_64-linux-gnu/libc.so.6 ... )"), and
// which object it names; "" for a file that is not one. (The eighteenth
// session: such a file was "no ELF magic at the start", and nothing
// said which file to inspect instead.)
func linkerScript(r io.ReaderAt) string {
	var buf [1024]byte
	n, _ := r.ReadAt(buf[:], 0)
	text := string(buf[:n])
	if strings.ContainsRune(text, 0) {
		return ""
	}
	for _, kw := range []string{"GROUP", "INPUT"} {
		// The command starts a line (a C file that calls
		// INPUT(x) is no script).
		i := -1
		for at := 0; ; {
			j := strings.Index(text[at:], kw)
			if j < 0 {
				break
			}
			j += at
			if strings.TrimLeft(text[strings.LastIndexByte(text[:j], '\n')+1:j], " \t") == "" {
				i = j
				break
			}
			at = j + len(kw)
		}
		if i < 0 {
			continue
		}
		rest := strings.TrimLeft(text[i+len(kw):], " \t\r\n")
		if !strings.HasPrefix(rest, "(") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(rest[1:], " \t\r\n"), ")")
		if f := strings.FieldsFunc(name, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' }); len(f) > 0 && f[0] != "AS_NEEDED" {
			return fmt.Sprintf("a linker script (%s(...)), which the linker reads when a program is built; ld.so loads the object it names: inspect that, %s", kw, f[0])
		}
		return fmt.Sprintf("a linker script (%s(...)), which the linker reads when a program is built; ld.so loads the objects it names: inspect those", kw)
	}
	return ""
}

// checkIdent looks at the first bytes before debug/elf does, to name
// what a non-ELF or foreign file is.
func checkIdent(r io.ReaderAt, size int64) error {
	var id [elf.EI_NIDENT]byte
	n, err := r.ReadAt(id[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	head := id[:n]
	switch {
	case bytes.HasPrefix(head, []byte("MZ")):
		return fmt.Errorf("%w: a PE (Windows) image; only the ELF .dll.so form of a builtin can be placed", ErrNotELF)
	case bytes.HasPrefix(head, []byte("#!")):
		return fmt.Errorf("%w: a script", ErrNotELF)
	case !bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		if size == 0 {
			return fmt.Errorf("%w: empty file", ErrNotELF)
		}
		if what := linkerScript(r); what != "" {
			return fmt.Errorf("%w: %s", ErrNotELF, what)
		}
		return fmt.Errorf("%w: no ELF magic at the start", ErrNotELF)
	case n < elf.EI_NIDENT:
		return malformed("file ends inside the ELF identification (%d bytes)", n)
	}
	switch c := elf.Class(id[elf.EI_CLASS]); c {
	case elf.ELFCLASS64:
	case elf.ELFCLASS32:
		return fmt.Errorf("%w: 32-bit ELF (ELFCLASS32); only x86-64 objects can be placed", ErrUnsupported)
	default:
		return malformed("unknown ELF class %d", int(c))
	}
	if d := elf.Data(id[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return fmt.Errorf("%w: %v byte order, not x86-64's little-endian", ErrUnsupported, d)
	}
	if size < ehdrSize {
		return malformed("file ends inside the ELF header (%d of %d bytes)", size, ehdrSize)
	}
	return nil
}

// addSegment checks PT_LOAD number i (its index among all program
// headers) the way ld.so would and appends it.
func (o *Object) addSegment(i int, s Segment) error {
	page := region.PageSize
	// p_filesz above p_memsz is not refused: glibc's ld.so maps the
	// p_filesz bytes and zero-fills nothing, and the object loads.
	end, ok := add(s.Offset, s.Filesz)
	if !ok || end > uint64(o.Size) {
		return malformed("program header %d (PT_LOAD): file bytes 0x%x+0x%x run past the end of the file (0x%x bytes)", i, s.Offset, s.Filesz, o.Size)
	}
	if _, ok := add(s.Vaddr, s.Memsz); !ok {
		return malformed("program header %d (PT_LOAD): p_vaddr 0x%x + p_memsz 0x%x overflows 64 bits", i, s.Vaddr, s.Memsz)
	}
	// A p_align that is no power of two (0x3, say) is not refused
	// either: glibc's ld.so (2.35 and later) ignores it, and so does
	// setSpan. A power of two is what ld.so aligns the object to.
	if bits.OnesCount64(s.Align) == 1 && s.Align > maxAlign {
		return malformed("program header %d (PT_LOAD): p_align 0x%x is larger than 0x%x", i, s.Align, uint64(maxAlign))
	}
	if (s.Vaddr-s.Offset)%page != 0 {
		return malformed("program header %d (PT_LOAD): p_vaddr 0x%x and p_offset 0x%x differ by a partial page (ld.so refuses it)", i, s.Vaddr, s.Offset)
	}
	if n := len(o.Segments); n > 0 {
		prev := o.Segments[n-1]
		if s.Vaddr < prev.Vaddr {
			return malformed("program header %d (PT_LOAD): p_vaddr 0x%x is below the previous PT_LOAD's 0x%x (they must be sorted)", i, s.Vaddr, prev.Vaddr)
		}
		if s.Vaddr < prev.Vaddr+prev.Memsz {
			return malformed("program header %d (PT_LOAD): 0x%x-0x%x overlaps the previous PT_LOAD 0x%x-0x%x", i, s.Vaddr, s.Vaddr+s.Memsz, prev.Vaddr, prev.Vaddr+prev.Memsz)
		}
	}
	o.Segments = append(o.Segments, s)
	return nil
}

// setSpan computes Span, LinkBase and Align from the segments.
func (o *Object) setSpan() error {
	if len(o.Segments) == 0 {
		return malformed("no PT_LOAD program header: nothing to map")
	}
	first, last := o.Segments[0], o.Segments[len(o.Segments)-1]
	start := region.PageDown(first.Vaddr)
	end, ok := region.PageUp(last.Vaddr + last.Memsz) // sorted and disjoint: last ends highest
	if !ok || end > region.UserEnd {
		return malformed("segments end at 0x%x, past the end of user space (0x%x)", last.Vaddr+last.Memsz, region.UserEnd)
	}
	if end == start {
		return malformed("PT_LOAD segments hold no bytes (p_memsz 0)")
	}
	// p_filesz above p_memsz maps file bytes past the segment's memory
	// (ld.so maps them all): harmless within the span, where the next
	// segment is mapped over them, but past its end they land on
	// whatever follows the object (natively, too: it clobbers its
	// neighbour), outside the place planned for it.
	if fend, ok := region.PageUp(last.Vaddr + last.Filesz); !ok || fend > end {
		return malformed("the last PT_LOAD's p_filesz 0x%x exceeds its p_memsz 0x%x past the object's end: ld.so would map file bytes over whatever follows it", last.Filesz, last.Memsz)
	}
	o.Span = region.Range{Start: start, End: end}
	o.LinkBase = start
	o.Align = region.PageSize
	for _, s := range o.Segments {
		if s.Align > o.Align && bits.OnesCount64(s.Align) == 1 {
			o.Align = s.Align
		}
	}
	return nil
}

// fileOffset maps a link-time address to the file offset holding its
// byte, if a segment has it in its file part; avail is how many bytes
// from there on belong to the same segment's file part.
func (o *Object) fileOffset(vaddr uint64) (off, avail uint64, ok bool) {
	for _, s := range o.Segments {
		if vaddr >= s.Vaddr && vaddr-s.Vaddr < s.Filesz {
			d := vaddr - s.Vaddr
			return s.Offset + d, s.Filesz - d, true
		}
	}
	return 0, 0, false
}

// readSoname finds DT_SONAME through PT_DYNAMIC and DT_STRTAB, as ld.so
// does (section headers may be stripped).
func (o *Object) readSoname(r io.ReaderAt, dyn *elf.Prog) (string, error) {
	size := dyn.Filesz
	if size > maxDynamic {
		return "", malformed("PT_DYNAMIC is 0x%x bytes, more than 0x%x", size, uint64(maxDynamic))
	}
	end, ok := add(dyn.Off, size)
	if !ok || end > uint64(o.Size) {
		return "", malformed("PT_DYNAMIC 0x%x+0x%x runs past the end of the file (0x%x bytes)", dyn.Off, size, o.Size)
	}
	buf := make([]byte, size-size%16)
	if _, err := r.ReadAt(buf, int64(dyn.Off)); err != nil {
		return "", fmt.Errorf("reading PT_DYNAMIC: %w", err)
	}
	var strtab, strsz, soname uint64
	var haveStrtab, haveStrsz, haveSoname bool
	for i := 0; i+16 <= len(buf); i += 16 {
		tag := elf.DynTag(binary.LittleEndian.Uint64(buf[i:]))
		val := binary.LittleEndian.Uint64(buf[i+8:])
		switch tag {
		case elf.DT_NULL:
			i = len(buf)
		case elf.DT_STRTAB:
			strtab, haveStrtab = val, true
		case elf.DT_STRSZ:
			strsz, haveStrsz = val, true
		case elf.DT_SONAME:
			soname, haveSoname = val, true
		}
	}
	if !haveSoname {
		return "", nil
	}
	if !haveStrtab || !haveStrsz {
		return "", malformed("DT_SONAME without DT_STRTAB and DT_STRSZ")
	}
	if soname >= strsz {
		return "", malformed("DT_SONAME offset 0x%x is past the string table's 0x%x bytes", soname, strsz)
	}
	addr, ok := add(strtab, soname)
	if !ok {
		return "", malformed("DT_STRTAB 0x%x + DT_SONAME 0x%x overflows", strtab, soname)
	}
	off, avail, ok := o.fileOffset(addr)
	if !ok {
		return "", malformed("DT_SONAME string at 0x%x is in no PT_LOAD's file contents", addr)
	}
	n := min(avail, strsz-soname, maxSoname)
	s := make([]byte, n)
	if _, err := r.ReadAt(s, int64(off)); err != nil {
		return "", fmt.Errorf("reading DT_SONAME: %w", err)
	}
	nul := bytes.IndexByte(s, 0)
	if nul < 0 {
		return "", malformed("DT_SONAME string at 0x%x has no terminating NUL within 0x%x bytes", addr, n)
	}
	return string(s[:nul]), nil
}

// add returns a+b and whether it did not overflow.
func add(a, b uint64) (uint64, bool) {
	s, carry := bits.Add64(a, b, 0)
	return s, carry == 0
}
