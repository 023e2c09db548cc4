package loader

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// findPE looks for NTHeaderSymbol, first among the dynamic symbols and
// then in the full symbol table, and reads the PE header it points at.
// No symbol means no PE header (nil, nil); a symbol whose header cannot
// be read is an error, and so is a table that cannot be searched when
// the other has not found the symbol.
func (o *Object) findPE(r io.ReaderAt, f *elf.File) (*PEHeader, error) {
	var tableErr error
	// The ELF specification allows one section of each of these types;
	// looking at the first only also keeps a file with thousands of
	// symbol table headers from costing thousands of scans.
	for _, typ := range []elf.SectionType{elf.SHT_DYNSYM, elf.SHT_SYMTAB} {
		i := slices.IndexFunc(f.Sections, func(s *elf.Section) bool { return s.Type == typ })
		if i < 0 {
			continue
		}
		val, found, err := o.lookupSymbol(r, f, i, NTHeaderSymbol)
		if err != nil {
			// The other table may still have it (an unstripped
			// library's .symtab can be too big, its .dynsym not).
			tableErr = cmp.Or(tableErr, err)
			continue
		}
		if found {
			return o.readPE(r, NTHeaderSymbol, val)
		}
	}
	if tableErr != nil {
		return nil, fmt.Errorf("%w (%s not looked for there)", tableErr, NTHeaderSymbol)
	}
	return nil, nil
}

// lookupSymbol scans the symbol table in section si for a defined
// symbol called name and returns its value. The table is read in chunks
// and its string table at most maxStrtab bytes, both checked against the
// file's size first.
func (o *Object) lookupSymbol(r io.ReaderAt, f *elf.File, si int, name string) (uint64, bool, error) {
	sec := f.Sections[si]
	if err := o.checkSection(sec, "symbol table"); err != nil {
		return 0, false, err
	}
	if sec.Link == 0 || int(sec.Link) >= len(f.Sections) {
		return 0, false, malformed("section %q: sh_link %d names no string table", sec.Name, sec.Link)
	}
	strSec := f.Sections[sec.Link]
	if strSec.Type != elf.SHT_STRTAB {
		return 0, false, malformed("section %q: sh_link %d is %v, not a string table", sec.Name, sec.Link, strSec.Type)
	}
	if err := o.checkSection(strSec, "string table"); err != nil {
		return 0, false, err
	}
	if strSec.Size > maxStrtab {
		return 0, false, malformed("string table %q is 0x%x bytes, more than 0x%x", strSec.Name, strSec.Size, uint64(maxStrtab))
	}
	strtab := make([]byte, strSec.Size)
	if _, err := r.ReadAt(strtab, int64(strSec.Offset)); err != nil {
		return 0, false, fmt.Errorf("reading string table %q: %w", strSec.Name, err)
	}
	want := append([]byte(name), 0)

	const symSize = elf.Sym64Size
	buf := make([]byte, min(sec.Size-sec.Size%symSize, symChunk-symChunk%symSize))
	for pos := uint64(0); pos+symSize <= sec.Size; {
		n := min(uint64(len(buf)), (sec.Size-pos)-(sec.Size-pos)%symSize)
		chunk := buf[:n]
		if _, err := r.ReadAt(chunk, int64(sec.Offset+pos)); err != nil {
			return 0, false, fmt.Errorf("reading symbol table %q: %w", sec.Name, err)
		}
		for i := 0; i+symSize <= len(chunk); i += symSize {
			nameOff := uint64(binary.LittleEndian.Uint32(chunk[i:]))
			shndx := elf.SectionIndex(binary.LittleEndian.Uint16(chunk[i+6:]))
			if shndx == elf.SHN_UNDEF || shndx >= elf.SHN_LORESERVE {
				continue // undefined, absolute or common: not an address in the object
			}
			if nameOff >= uint64(len(strtab)) || !bytes.HasPrefix(strtab[nameOff:], want) {
				continue
			}
			return binary.LittleEndian.Uint64(chunk[i+8:]), true, nil
		}
		pos += n
	}
	return 0, false, nil
}

// checkSection makes sure a section's bytes lie inside the file.
func (o *Object) checkSection(sec *elf.Section, what string) error {
	if sec.Type == elf.SHT_NOBITS {
		return malformed("%s %q has no bytes in the file (SHT_NOBITS)", what, sec.Name)
	}
	end, ok := add(sec.Offset, sec.Size)
	if !ok || end > uint64(o.Size) {
		return malformed("%s %q at 0x%x+0x%x runs past the end of the file (0x%x bytes)", what, sec.Name, sec.Offset, sec.Size, o.Size)
	}
	return nil
}

// readPE reads the IMAGE_NT_HEADERS at link-time address vaddr:
//
//	0   Signature            "PE\0\0"
//	4   IMAGE_FILE_HEADER    Machine u16, NumberOfSections u16,
//	                         TimeDateStamp u32, PointerToSymbolTable u32,
//	                         NumberOfSymbols u32, SizeOfOptionalHeader u16,
//	                         Characteristics u16
//	24  optional header      Magic u16 (0x10b PE32, 0x20b PE32+), ...
//	48  PE32+ ImageBase u64  (PE32 has BaseOfData u32 at 48, ImageBase u32 at 52)
//	80  SizeOfImage u32      (same offset in both forms)
//
// The header must lie in one segment's file contents: a header in the
// zero-filled part would read as zeros.
func (o *Object) readPE(r io.ReaderAt, sym string, vaddr uint64) (*PEHeader, error) {
	off, avail, ok := o.fileOffset(vaddr)
	if !ok {
		return nil, malformedPE("%s at 0x%x is in no PT_LOAD's file contents", sym, vaddr)
	}
	if avail < peHeaderBytes {
		return nil, malformedPE("%s at 0x%x: the PE header's first %d bytes run past the end of its segment's file contents", sym, vaddr, peHeaderBytes)
	}
	var b [peHeaderBytes]byte
	if _, err := r.ReadAt(b[:], int64(off)); err != nil {
		return nil, fmt.Errorf("reading the PE header at file offset 0x%x: %w", off, err)
	}
	le := binary.LittleEndian
	if sig := le.Uint32(b[0:]); sig != peSignature {
		return nil, malformedPE("%s at 0x%x (file offset 0x%x) does not start with the PE signature \"PE\\0\\0\" (found %q)", sym, vaddr, off, b[:4])
	}
	h := &PEHeader{
		Symbol:      sym,
		Vaddr:       vaddr,
		Offset:      off,
		Machine:     le.Uint16(b[4:]),
		Magic:       le.Uint16(b[24:]),
		SizeOfImage: le.Uint32(b[80:]),
	}
	const needOptional = peHeaderBytes - 24 // optional header bytes up to and including SizeOfImage
	if n := le.Uint16(b[20:]); n < needOptional {
		return nil, malformedPE("%s: SizeOfOptionalHeader %d is too small to hold ImageBase and SizeOfImage (%d bytes)", sym, n, needOptional)
	}
	switch h.Magic {
	case peMagic32:
		h.ImageBase = uint64(le.Uint32(b[52:]))
	case peMagic64:
		h.ImageBase = le.Uint64(b[48:])
	default:
		return nil, malformedPE("%s: optional header magic 0x%x is neither PE32 (0x10b) nor PE32+ (0x20b)", sym, h.Magic)
	}
	return h, nil
}

func malformedPE(format string, a ...any) error {
	return fmt.Errorf("%w PE header: %s", ErrMalformed, fmt.Sprintf(format, a...))
}
