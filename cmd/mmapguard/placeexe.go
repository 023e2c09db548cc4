package main

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mmapguard/mmapguard/internal/plainfile"
	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// placeExe rewrites a command so that a PIE program is started by its
// own ELF interpreter (ld.so), which then maps the program the way it
// maps a library, and so can be placed at base. It returns the new path
// and argv and the rule that places the program.
//
// What changes for the program: /proc/self/exe and AT_EXECFN name the
// interpreter, not the program (argv[0] is kept with --argv0), and
// AT_BASE is 0.
//
// The policy's guarded ranges (protected ranges and the pool) are known
// too: an image that would cross the edge of one can be had neither over
// the guard's reservation nor beside it, and is refused here.
func placeExe(path string, argv []string, base uint64, policy *rewrite.Policy) (string, []string, loader.Rule, error) {
	if base%region.PageSize != 0 || base < loader.MinAddr || base >= region.UserEnd {
		return "", nil, loader.Rule{}, usagef("--place-exe %#x: want a page-aligned address from %#x up to below the end of user space (%#x)", base, loader.MinAddr, region.UserEnd)
	}
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			// A script (#!), or a file that is no ELF or is cut short.
			head := make([]byte, 4)
			if n, _ := readHead(path, head); n >= 2 && string(head[:2]) == "#!" {
				return "", nil, loader.Rule{}, usagef("--place-exe: %s is not an ELF executable (a script): only a position-independent ELF program can be moved; to move a script's interpreter, run it (mmapguard run --place-exe ADDR -- sh SCRIPT)", path)
			}
			// Not a program the kernel can run either (no ELF, or
			// one cut short or broken): said as without --place-exe,
			// with a shell's status, not as an error of the option's.
			why := "a broken ELF file"
			if n, _ := readHead(path, head); n < 4 || string(head) != elf.ELFMAG {
				why = "no ELF magic"
			} else if !errors.As(err, &fe) {
				why = "cut short"
			}
			return "", nil, loader.Rule{}, &statusError{126, fmt.Errorf("--place-exe: %s is not an ELF executable (%s): the kernel cannot run it, and only a position-independent ELF program can be moved\n%s", path, why, execFormatHint(path))}
		}
		return "", nil, loader.Rule{}, fmt.Errorf("--place-exe: %s: %w", path, err)
	}
	defer func() { _ = f.Close() }()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		// An i386 program would run with its image where the kernel
		// put it (objects of 32-bit programs are not placed), another
		// machine's would fail in ld.so with "cannot open shared
		// object file".
		return "", nil, loader.Rule{}, usagef("--place-exe: %s is an ELF program for %v (%v), not a 64-bit x86-64 one: only an x86-64 PIE can be moved (32-bit programs and their objects are not placed); drop --place-exe", path, f.Machine, f.Class)
	}
	if f.Type != elf.ET_DYN {
		return "", nil, loader.Rule{}, usagef("--place-exe: %s is not a position-independent executable (ELF type %v): only a PIE can be moved", path, f.Type)
	}
	// A program whose image cannot fit between base and the end of
	// user space would only get a warning once ld.so maps it, and run
	// where the kernel put it: refused now.
	if span, ok := imageSize(f); ok {
		if end, ok := region.Span(base, span); !ok || end.End > region.UserEnd {
			return "", nil, loader.Rule{}, usagef("--place-exe %#x: %s needs %s (its image, %#x bytes), which does not fit below the end of user space (%#x): give an ADDR of at most %#x",
				base, path, region.HumanSize(span), span, region.UserEnd, region.UserEnd-span)
		}
		if err := crossesGuarded(path, base, span, policy); err != nil {
			return "", nil, loader.Rule{}, err
		}
	}
	// ld.so maps a program whose segments are aligned above the page
	// size only at a multiple of that alignment (the eighteenth
	// session: it went to the next multiple, without a word, and now
	// would only get a warning once ld.so maps it).
	if align := imageAlign(f); base%align != 0 {
		down := base &^ (align - 1)
		alt := fmt.Sprintf("%#x or %#x", down, down+align)
		if down < loader.MinAddr {
			alt = fmt.Sprintf("%#x", down+align)
		}
		return "", nil, loader.Rule{}, usagef("--place-exe %#x: %s's segments are aligned to %#x (p_align), and ld.so maps it only at a multiple of that: give an ADDR aligned to %#x, such as %s",
			base, path, align, align, alt)
	}
	interp := ""
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return "", nil, loader.Rule{}, fmt.Errorf("--place-exe: %s: reading PT_INTERP: %w", path, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		return "", nil, loader.Rule{}, usagef("--place-exe: %s has no ELF interpreter (a static program): ld.so cannot load it", path)
	}
	if _, err := os.Stat(interp); err != nil {
		// mmapguard execs the interpreter itself: the kernel's ENOENT
		// would name it, not the program whose loader is missing.
		// Status 127, as the program's own exec would give.
		msg := missingInterpHint(path)
		if msg == "" {
			msg = fmt.Sprintf("%s: its ELF interpreter %s: %v", path, interp, err)
		}
		return "", nil, loader.Rule{}, &statusError{127, fmt.Errorf("--place-exe: %s", msg)}
	}
	newArgv := append([]string{interp, "--argv0", argv[0], path}, argv[1:]...)
	// The tracer names the file it sees mapped by its real path.
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		real = path
	}
	if real, err = filepath.Abs(real); err != nil {
		return "", nil, loader.Rule{}, err
	}
	return interp, newArgv, loader.Rule{Pattern: globQuote(real), Base: base}, nil
}

// crossesGuarded refuses an image of size bytes at base that would lie
// partly inside a guarded range of the policy and partly outside it. It
// used to be found only once ld.so mapped the program: a warning, and the
// program ran where the kernel put it (silently under -q).
func crossesGuarded(path string, base, size uint64, policy *rewrite.Policy) error {
	if policy == nil {
		return nil
	}
	img := region.Range{Start: base, End: base + size}
	// Each protected range and the pool on its own: a protected range
	// that ends where the pool begins is one guarded range, and an image
	// across that seam passed (the sixteenth session's review).
	ranges := slices.Clone(policy.Protected)
	if !policy.Pool.Empty() {
		ranges = append(ranges, policy.Pool)
	}
	for _, g := range ranges {
		if !g.Overlaps(img) || g.ContainsRange(img) {
			continue
		}
		what, protected := "the pool", policy.OverlapsProtected(g)
		if protected {
			what = "the protected range"
		}
		var fits []string
		// Objects are placed inside a protected range, over the
		// guard's reservation, but not in the pool.
		if protected && size <= g.Len() && g.End-size >= max(g.Start, loader.MinAddr) {
			fits = append(fits, fmt.Sprintf("inside it (from %#x to %#x)", max(g.Start, loader.MinAddr), g.End-size))
		}
		// Outside it, the nearest places clear of every guarded range:
		// the one next to g may be another protected range or the pool
		// (the sixteenth session's note: "from 0x80000000 up" named the
		// pool's start where the pool followed the range).
		var outside []string
		if at, ok := clearBelow(ranges, g.Start, size); ok {
			outside = append(outside, fmt.Sprintf("at most %#x", at))
		}
		if at, ok := clearAbove(ranges, g.End, size); ok {
			outside = append(outside, fmt.Sprintf("from %#x up", at))
		}
		if len(outside) > 0 {
			fits = append(fits, "outside it ("+strings.Join(outside, ", or ")+")")
		}
		return usagef("--place-exe %#x: %s needs %s (its image, %v), which crosses the edge of %s %v: it can be placed neither over the guard's reservation there nor beside it; give an ADDR that puts it wholly %s",
			base, path, region.HumanSize(size), img, what, g, strings.Join(fits, " or wholly "))
	}
	return nil
}

// clearBelow returns the highest address at most end-size where size
// bytes touch none of ranges and lie above loader.MinAddr.
func clearBelow(ranges []region.Range, end, size uint64) (uint64, bool) {
	for end >= loader.MinAddr+size {
		img := region.Range{Start: end - size, End: end}
		moved := false
		for _, r := range ranges {
			if r.Overlaps(img) {
				end, moved = min(end, r.Start), true
			}
		}
		if !moved {
			return img.Start, true
		}
	}
	return 0, false
}

// clearAbove returns the lowest address from start up where size bytes
// touch none of ranges and end below the end of user space.
func clearAbove(ranges []region.Range, start, size uint64) (uint64, bool) {
	for start <= region.UserEnd-size {
		img := region.Range{Start: start, End: start + size}
		moved := false
		for _, r := range ranges {
			if r.Overlaps(img) {
				start, moved = max(start, r.End), true
			}
		}
		if !moved {
			return start, true
		}
	}
	return 0, false
}

// imageSize is the length of the page-aligned span f's PT_LOAD segments
// need; ok is false if it has none or they make no sense.
func imageSize(f *elf.File) (uint64, bool) {
	lo, hi := ^uint64(0), uint64(0)
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		r, ok := region.Span(p.Vaddr, p.Memsz)
		if !ok {
			return 0, false
		}
		lo, hi = min(lo, r.Start), max(hi, r.End)
	}
	if hi == 0 {
		return 0, false
	}
	end, ok := region.PageUp(hi)
	if !ok {
		return 0, false
	}
	return end - region.PageDown(lo), true
}

// imageAlign is the alignment ld.so gives f's image: the largest p_align
// of its PT_LOADs that is a power of two (glibc ignores the others), at
// least the page size, as loader.Object's Align.
func imageAlign(f *elf.File) uint64 {
	align := uint64(region.PageSize)
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Align > align && p.Align&(p.Align-1) == 0 && p.Align <= 1<<30 {
			align = p.Align
		}
	}
	return align
}

// globQuote escapes the characters path.Match treats specially.
func globQuote(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readHead reads the start of file path into b.
func readHead(path string, b []byte) (int, error) {
	f, err := plainfile.Open(path)
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }() // read-only: a failed close loses nothing
	return io.ReadFull(f, b)
}
