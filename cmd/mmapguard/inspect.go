package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/mmapguard/mmapguard/internal/plainfile"
	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/region"
)

const inspectUsage = `Usage: mmapguard inspect [--place PATTERN=ADDR]... [--place-range RANGE=PATTERN]...
                         [--place-file FILE]... [--occupied RANGE]... [--place-strict] FILE...

Reads each FILE, an x86-64 ELF shared object (a library, a Wine builtin
.dll.so), PIE or program, and prints where mmapguard would place it, taking
the FILEs to be loaded in the order given: its type, soname and span (the
addresses its PT_LOAD segments need, at link time), an embedded PE header,
the base it would get and why, and any conflict among the FILEs. Nothing is
run. Options may come before, between or after the FILEs; after -- every
argument is a FILE. A FILE given again, by another name or through a
symbolic link, is the same object (ld.so loads a file once): it is shown
as the same file as the first name, not as a conflict.

A broken part of a FILE that ld.so does not read to load it (section
headers, symbol tables, the embedded PE header, DT_SONAME) is shown as
skipped, with what is lost (a PE ImageBase, a soname for rules to match):
the object is still placed by its program headers, by a rule or its link
base. A FILE whose ELF header or program headers are broken cannot be
placed: the error names the field.

The base is where the object's span starts, the address ld.so's first
mapping of the object must get; every segment then moves by the same load
bias (base minus the link-time start of the span). It comes from the first
of these that applies:

  rule          the first rule whose PATTERN matches: --place rules in the
                order given, then those of --place-file
  p_vaddr       the object was linked to run at a fixed address (its first
                PT_LOAD has a non-zero p_vaddr: -Wl,-Ttext-segment=ADDR,
                --image-base, prelink)
  PE ImageBase  a Wine-style builtin's embedded PE header, found through its
                exported symbol __wine_spec_nt_header (PE32 or PE32+)
  range         the first placement range whose PATTERN matches packs it with
                the other such objects, first fit in load order, after the
                objects above have their bases
  none          ld.so and the kernel choose

PATTERN is a glob (*, ?, [...]) matched against the FILE as given, its file
name and its soname; * does not match '/'. ADDR is a page-aligned address
(0x hex, 0o octal, 0b binary or decimal, optionally with a K, M, G or T
suffix: 256M is 0x10000000). RANGE is START-END (end exclusive) or
START+SIZE, e.g. 0x10000-0x80000000 or 0x10000000+1G.

--place-range takes RANGE=PATTERN as one argument; the two-argument form
--place-range RANGE PATTERN is accepted too (when RANGE has no '=').

A placement file holds one rule per line, fields separated by blanks:

  # a comment
  place PATTERN ADDR
  range RANGE PATTERN

A conflict (two objects wanting overlapping spans, a span over an --occupied
range or outside user space, a full range, a base that is no multiple of the
object's p_align where that is above the page size) is a warning by default: the
object would load wherever ld.so puts it. With --place-strict its load would
fail, and inspect exits with status 1.

Examples:
  mmapguard inspect /usr/lib/x86_64-linux-gnu/wine/x86_64-unix/*.so
  mmapguard inspect --place 'kernel32.dll.so=0x7b600000' --place-range '0x10000000+1G=*.dll.so' lib/*.dll.so
  mmapguard inspect --place-file wine.place --place-strict --occupied 0x10000-0x10000000 *.dll.so

Exit status:
  0  every FILE was read
  1  a FILE could not be read (the error names it and the problem),
     standard output could not be written, or, with --place-strict,
     there is a conflict
  2  a bad command line
`

func runInspect(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", inspectUsage)
	var p loader.Planner
	var fileRules []loader.Rule
	var fileRanges []loader.RangeRule
	fs.Func("place", "give objects matching PATTERN the base ADDR, written `PATTERN=ADDR` (repeatable)", func(s string) error {
		r, err := loader.ParseRule(s)
		if err != nil {
			return err
		}
		p.Rules = append(p.Rules, r)
		return nil
	})
	fs.Func("place-range", "pack objects matching PATTERN that have no base of their own into RANGE, written `RANGE=PATTERN` (repeatable)", func(s string) error {
		r, err := loader.ParseRangeRule(s)
		if err != nil {
			return rangeHint(err)
		}
		p.Ranges = append(p.Ranges, r)
		return nil
	})
	fs.Func("place-file", "read place and range rules from `FILE` (repeatable)", func(name string) error {
		rules, ranges, err := readPlacementFile(name)
		if err != nil {
			return rangeHint(err)
		}
		fileRules = append(fileRules, rules...)
		fileRanges = append(fileRanges, ranges...)
		return nil
	})
	fs.Func("occupied", "treat `RANGE` as already mapped by the program (repeatable)", func(s string) error {
		r, err := region.ParseRange(s)
		if err != nil {
			return rangeHint(err)
		}
		p.Occupy(r)
		return nil
	})
	fs.BoolVar(&p.Strict, "place-strict", false, "a conflict makes the load fail (and inspect exit 1) instead of being a warning")

	args, joined := joinPlaceRange(args)
	files, err := parseInterspersed(fs, args, stdout)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("no FILE to inspect%s", joined.took("inspect", "mmapguard inspect --place-range %s %s"))
	}
	p.Rules = append(p.Rules, fileRules...)
	p.Ranges = append(p.Ranges, fileRanges...)

	// One file given twice (by two names, or through a symbolic link)
	// is one object, as for ld.so, which loads a file once (it knows
	// files by device and inode, as run does): its first name stands
	// for it, and the others are shown as the same file, not as an
	// object that conflicts with itself. Rules are matched against the
	// file's own path, symbolic links followed, as run matches them
	// against the path the kernel shows for the mapped file: matched
	// against the first name given (a shell's glob puts libz.so, a link,
	// before libz.so.1.2.13), a rule that run applies did not show.
	type entry struct {
		obj    *loader.Object
		given  string // the name given, where the file's own path differs
		sameAs string // the first name of the same file, for a repeat
	}
	var entries []entry
	var objs []*loader.Object
	first := map[fileKey]string{}
	failed := 0
	for _, given := range files {
		name := given
		if real, err := filepath.EvalSymlinks(given); err == nil && real != filepath.Clean(given) {
			name = real
		}
		o, err := loader.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "mmapguard inspect: %s%s\n%s", printable(err.Error()), readHint(err), fdLimitHint(err))
			failed++
			continue
		}
		e := entry{obj: o}
		if name != given {
			e.given = given
		}
		if k, ok := keyOf(name); ok {
			if prev, seen := first[k]; seen {
				e.sameAs = prev
				entries = append(entries, e)
				continue
			}
			first[k] = name
		}
		entries = append(entries, e)
		objs = append(objs, o)
	}
	plans := map[*loader.Object]loader.Placement{}
	conflicts := 0
	for _, pl := range p.Plan(objs...) {
		plans[pl.Object] = pl
		if pl.Conflict != nil {
			conflicts++
		}
	}
	same := 0
	for i, e := range entries {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		if e.given != "" {
			fmt.Fprintf(stdout, "%s -> ", printable(e.given))
		}
		if e.sameAs != "" {
			fmt.Fprintf(stdout, "%s\n  same      file as %s: one object, loaded once (see there)\n", printable(e.obj.Path), printable(e.sameAs))
			same++
			continue
		}
		printPlacement(stdout, plans[e.obj])
	}
	if len(entries) > 1 || failed > 0 {
		if len(entries) > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "%d of %d files read", len(entries), len(files))
		if same > 0 {
			fmt.Fprintf(stdout, " (%d the same file as another)", same)
		}
		fmt.Fprintf(stdout, ", %d conflict(s)\n", conflicts)
	}
	if failed > 0 || (p.Strict && conflicts > 0) {
		return exitCode(exitError)
	}
	return nil
}

// fileKey identifies a file as ld.so and run do: device and inode.
type fileKey struct{ dev, ino uint64 }

// keyOf returns the identity of the file at path (a symbolic link
// followed).
func keyOf(path string) (fileKey, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileKey{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{uint64(st.Dev), st.Ino}, true
}

// readHint says what to do about a file loader.Open refused: a
// malformed one was damaged, cut short or built wrong.
func readHint(err error) string {
	switch {
	case errors.Is(err, loader.ErrMalformed):
		return "; the file may be damaged or cut short: build or copy it again (readelf -lW shows its program headers)"
	case errors.Is(err, os.ErrPermission):
		// The eighteenth session: "open FILE: permission denied"
		// alone, of a file inspect only reads.
		return "; inspect only reads the file, but may not: run it as a user who may read it (ls -l shows who), or as root"
	case errors.Is(err, syscall.ELOOP):
		return "; its symbolic links lead round in a circle: readlink on each shows where it points"
	}
	return ""
}

func readPlacementFile(name string) ([]loader.Rule, []loader.RangeRule, error) {
	f, err := plainfile.Open(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("%w: check the FILE's path (a relative one is from mmapguard's working directory)", err)
	case errors.Is(err, fs.ErrPermission):
		return nil, nil, fmt.Errorf("%w: give a FILE you may read", err)
	case err != nil:
		return nil, nil, err
	}
	defer func() { _ = f.Close() }() // read-only: a failed close loses nothing
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, nil, fmt.Errorf("%s is a directory: give the placement FILE in it", name)
	}
	rules, ranges, err := loader.ParsePlacementFile(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	return rules, ranges, nil
}

// joinPlaceRange turns the two-argument form "--place-range RANGE
// PATTERN" into "--place-range RANGE=PATTERN", which the flag package can
// parse. Arguments after "--" are left alone. joined is the last
// argument so taken for a PATTERN, for a command that then finds no
// program or FILE to say where it went (nil if none was).
func joinPlaceRange(args []string) (out []string, joined *placeRangeJoin) {
	out = make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...), joined
		}
		if (a == "--place-range" || a == "-place-range") && i+2 < len(args) &&
			!strings.Contains(args[i+1], "=") && !strings.HasPrefix(args[i+2], "-") {
			out = append(out, a, args[i+1]+"="+args[i+2])
			joined = &placeRangeJoin{args[i+1], args[i+2]}
			i += 2
			continue
		}
		out = append(out, a)
	}
	return out, joined
}

// placeRangeJoin is a --place-range given as two arguments, RANGE and
// PATTERN.
type placeRangeJoin struct{ rng, pattern string }

// took says, after "no program to run" or "no FILE to inspect", that
// the two-argument --place-range took the argument meant as the program
// or a FILE for its PATTERN, and how to write it instead: doing is what
// the command would do with it ("run", "inspect"), example the command
// line to write, with %s for the rule and then the argument. "" if no
// --place-range was given so.
func (j *placeRangeJoin) took(doing, example string) string {
	if j == nil {
		return ""
	}
	return fmt.Sprintf(": --place-range %s took %q as its PATTERN (the two-argument form, RANGE PATTERN); to %s %s, give the rule as one argument, RANGE=PATTERN: "+example,
		j.rng, j.pattern, doing, j.pattern, "'"+strings.ReplaceAll(j.rng, "'", `'\''`)+"=PATTERN'", shellQuote(j.pattern))
}

// shellQuote quotes s for a shell if it needs it.
func shellQuote(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n*?[]'\"\\$`!&;|<>(){}#~") {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return s
}

// parseInterspersed parses flags that may come before, between and after
// the positional arguments, which it returns. After "--" everything is
// positional.
func parseInterspersed(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args, stdout); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func printPlacement(w io.Writer, pl loader.Placement) {
	o := pl.Object
	// A path (from a glob) and a soname (from the file) may hold any
	// byte: their control characters are escaped, everywhere below.
	fmt.Fprintln(w, printable(o.Path))
	fmt.Fprintf(w, "  type      %v\n", o.Kind)
	if o.Soname != "" {
		fmt.Fprintf(w, "  soname    %s\n", printable(o.Soname))
	}
	fmt.Fprintf(w, "  span      %v (%s) in %d PT_LOAD segment(s), aligned 0x%x\n",
		o.Span, region.FormatSize(o.Span.Len()), len(o.Segments), o.Align)
	if pe := o.PE; pe != nil {
		fmt.Fprintf(w, "  PE        %s header (%s at 0x%x), ImageBase 0x%x", pe.Format(), pe.Symbol, pe.Vaddr, pe.ImageBase)
		switch {
		case pe.ImageBase == 0:
			fmt.Fprint(w, " (no base wanted)")
		case pe.SelfReferential(o):
			fmt.Fprint(w, " (inside the object itself)")
		}
		fmt.Fprintln(w)
	}
	for _, err := range o.Skipped {
		// A broken part ld.so does not need: the object is still
		// placed by its program headers, without what the part gives.
		fmt.Fprintf(w, "  skipped   %s\n", printable(err.Error()))
	}
	switch {
	case pl.Placed():
		fmt.Fprintf(w, "  base      0x%x (%s): span %v, load bias 0x%x\n", pl.Base, pl.Source, pl.SpanAt(), pl.Bias())
	case pl.Source == loader.SourceNone:
		fmt.Fprintln(w, "  base      none: ld.so and the kernel choose")
	case pl.Base != 0:
		fmt.Fprintf(w, "  base      0x%x (%s) wanted, not available\n", pl.Base, pl.Source)
	default:
		fmt.Fprintf(w, "  base      none found (%s)\n", pl.Source)
	}
	fmt.Fprintf(w, "  why       %s\n", printable(pl.Why))
	if c := pl.Conflict; c != nil {
		fmt.Fprintf(w, "  conflict  %s\n            %s\n", printable(c.Problem()), c.Outcome())
	}
}
