package loader

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"unicode"

	"github.com/mmapguard/mmapguard/region"
)

// Rule gives the objects that match Pattern an explicit base: the
// address at which their span starts (see Placement). On the command line
// it is written PATTERN=ADDR (--place).
type Rule struct {
	Pattern string
	Base    uint64
}

// String formats the rule the way ParseRule reads it.
func (r Rule) String() string { return fmt.Sprintf("%s=0x%x", r.Pattern, r.Base) }

// Match reports whether the rule applies to o and, if so, which of o's
// names matched.
func (r Rule) Match(o *Object) (what string, ok bool) { return match(r.Pattern, o) }

// RangeRule packs the objects that match Pattern and have no base of
// their own into Range, first fit in load order. On the command line it
// is written RANGE=PATTERN (--place-range).
type RangeRule struct {
	Range   region.Range
	Pattern string
}

// String formats the range rule the way ParseRangeRule reads it.
func (r RangeRule) String() string { return r.Range.String() + "=" + r.Pattern }

// Match reports whether the range rule applies to o and, if so, which of
// o's names matched.
func (r RangeRule) Match(o *Object) (what string, ok bool) { return match(r.Pattern, o) }

// match tries a glob against an object's path, its base name and its
// soname, in that order. Patterns are path.Match globs: * and ? do not
// cross a '/', so "*.dll.so" matches by base name and a pattern with a
// '/' in it can only match a whole path.
func match(pattern string, o *Object) (string, bool) {
	if ok, _ := path.Match(pattern, o.Path); ok {
		return "path", true
	}
	if base := path.Base(o.Path); base != o.Path {
		if ok, _ := path.Match(pattern, base); ok {
			return "file name", true
		}
	}
	if o.Soname != "" {
		if ok, _ := path.Match(pattern, o.Soname); ok {
			return "soname", true
		}
	}
	return "", false
}

// ErrRule is wrapped by every error of ParseRule, ParseRangeRule and
// ParsePlacementFile.
var ErrRule = errors.New("bad placement rule")

func ruleErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrRule, fmt.Sprintf(format, a...))
}

// ParseRule parses PATTERN=ADDR. The address is split off at the last
// '=', so a pattern may contain '='. ADDR is read by ParseAddr: a number
// (0x hex, 0o octal, 0b binary or decimal, K, M, G or T suffixes
// allowed) that must be page-aligned, at least MinAddr and below
// region.UserEnd; PATTERN must be a valid path.Match glob.
func ParseRule(s string) (Rule, error) {
	i := strings.LastIndexByte(s, '=')
	if i < 0 {
		return Rule{}, ruleErr("%q: want %s", s, ruleForm)
	}
	pattern, addr := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	switch {
	case pattern == "":
		return Rule{}, ruleErr("%q: empty pattern before '=': want %s", s, ruleForm)
	case addr == "":
		return Rule{}, ruleErr("%q: missing address after '=': want %s", s, ruleForm)
	}
	return newRule(pattern, addr)
}

// The forms of a rule and a range rule on the command line, with an
// example of each, for errors to show.
const (
	ruleForm      = "PATTERN=ADDR, e.g. 'libfoo*.so=0x7d000000'"
	rangeRuleForm = "RANGE=PATTERN, e.g. '0x10000000-0x7f000000=*.dll.so'"
)

func newRule(pattern, addr string) (Rule, error) {
	if err := checkPattern(pattern); err != nil {
		return Rule{}, err
	}
	base, err := parseAddr(addr)
	if err != nil {
		return Rule{}, err
	}
	return Rule{Pattern: pattern, Base: base}, nil
}

// ParseRangeRule parses RANGE=PATTERN: a range as region.ParseRange
// reads it (START-END or START+SIZE), then, after the first '=', a glob.
func ParseRangeRule(s string) (RangeRule, error) {
	i := strings.IndexByte(s, '=')
	if i < 0 {
		return RangeRule{}, ruleErr("%q: want %s", s, rangeRuleForm)
	}
	rng, pattern := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
	switch {
	case rng == "":
		return RangeRule{}, ruleErr("%q: missing range before '=': want %s", s, rangeRuleForm)
	case pattern == "":
		return RangeRule{}, ruleErr("%q: empty pattern after '=': want %s", s, rangeRuleForm)
	}
	return newRangeRule(rng, pattern)
}

func newRangeRule(rng, pattern string) (RangeRule, error) {
	r, err := region.ParseRange(rng)
	if err != nil {
		return RangeRule{}, fmt.Errorf("%w: %w", ErrRule, err)
	}
	if r.End <= MinAddr {
		return RangeRule{}, ruleErr("range %v lies below 0x%x, the lowest address mmap allows", r, MinAddr)
	}
	if err := checkPattern(pattern); err != nil {
		return RangeRule{}, err
	}
	return RangeRule{Range: r, Pattern: pattern}, nil
}

func checkPattern(p string) error {
	if p == "" {
		return ruleErr("empty pattern")
	}
	if _, err := path.Match(p, ""); err != nil {
		return ruleErr("pattern %q: %v (%s)", p, err, PatternHint(p))
	}
	return nil
}

// PatternHint says how to mend a glob path.Match refuses (ErrBadPattern):
// how to write the '[' or '\' taken for the start of a character class
// or an escape.
func PatternHint(p string) string {
	if !strings.Contains(p, "[") && strings.HasSuffix(p, `\`) {
		return `a '\' escapes the character after it; write \\ for a '\' itself`
	}
	return `a '[' opens a character class that needs its ']'; write \[ for a '[' itself`
}

// ParseAddr reads a base address as --place and --place-exe take it:
// a number as region.ParseSize reads it (0x hex, 0o octal, 0b binary or
// decimal, where a leading 0 does not mean octal, optionally with a K,
// M, G or T suffix: 256M is 0x10000000), page-aligned, at least MinAddr
// and below region.UserEnd. The error names the address and says what
// to give instead.
func ParseAddr(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("missing address: give a page-aligned address, e.g. 0x7d000000")
	}
	v, err := region.ParseSize(s)
	switch {
	case errors.Is(err, region.ErrOverflow):
		return 0, fmt.Errorf("address %v; check the number of digits", errors.Unwrap(err))
	case err != nil:
		return 0, fmt.Errorf("address %q is not a number: write it in hexadecimal (0x7d000000), octal (0o...), binary (0b...) or decimal, optionally with a K, M, G or T suffix (256M)", s)
	case v >= region.UserEnd:
		// Said first, as for a range: the aligned address an unaligned
		// one would be pointed at is no better there.
		return 0, fmt.Errorf("address %s is not below the end of user space (0x%x): give a lower address", s, region.UserEnd)
	case v%region.PageSize != 0:
		if note := region.LeadingZeroNote(s); note != "" {
			return 0, fmt.Errorf("address %s is not page-aligned (a multiple of 0x1000); %s", s, note)
		}
		return 0, fmt.Errorf("address %s is not page-aligned: give a multiple of 0x1000, e.g. %#x", s, max(region.PageDown(v), MinAddr))
	case v < MinAddr:
		return 0, fmt.Errorf("address %s is below 0x%x, the lowest address mmap allows (vm.mmap_min_addr)", s, MinAddr)
	}
	return v, nil
}

// parseAddr is ParseAddr for a rule: its errors wrap ErrRule.
func parseAddr(s string) (uint64, error) {
	v, err := ParseAddr(s)
	if err != nil {
		return 0, ruleErr("%v", err)
	}
	return v, nil
}

// LineError is an error in a placement file, with its line number.
type LineError struct {
	Line int    // 1-based
	Text string // the line, trimmed
	Err  error  // wraps ErrRule
}

// Error names the line and the problem.
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *LineError) Unwrap() error { return e.Err }

// maxLine is the longest line ParsePlacementFile accepts.
const maxLine = 64 << 10

// ParsePlacementFile reads placement rules, one per line:
//
//	# a comment, from '#' to the end of the line
//	place PATTERN ADDR      # a Rule: PATTERN=ADDR on the command line
//	range RANGE PATTERN     # a RangeRule: --place-range RANGE=PATTERN
//
// Fields are separated by spaces or tabs, so a pattern cannot contain
// them; a '#' starts a comment only at the start of a field. Blank lines
// are skipped. Rules keep their order: the first matching rule wins. The
// first bad line stops parsing with a *LineError.
func ParsePlacementFile(r io.Reader) (rules []Rule, ranges []RangeRule, err error) {
	br := bufio.NewReader(r)
	// A program or library given by mistake (--place-file next to the
	// FILEs of inspect): said so, not its header shown as a directive.
	if head, _ := br.Peek(len(elf.ELFMAG)); string(head) == elf.ELFMAG {
		return nil, nil, &LineError{1, "", notText("it is an ELF file (a program or shared object)")}
	}
	// Any other binary file (random bytes, an image) is found by its
	// first bytes as well, before a line of it is shown as a directive
	// or found too long: the same check as each line gets below.
	if head, _ := br.Peek(512); len(head) > 0 {
		if why, at := binaryText(head); why != "" {
			return nil, nil, &LineError{1 + bytes.Count(head[:at], []byte("\n")), "", notText(why)}
		}
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	n := 0
	for sc.Scan() {
		n++
		if why, _ := binaryText(sc.Bytes()); why != "" {
			return nil, nil, &LineError{n, "", notText(why)}
		}
		line := strings.TrimSpace(sc.Text())
		fields := strings.Fields(line)
		for i, f := range fields {
			if strings.HasPrefix(f, "#") {
				fields = fields[:i]
				break
			}
		}
		if len(fields) == 0 {
			continue
		}
		bad := func(err error) error { return &LineError{n, line, err} }
		if err := quoted(fields); err != nil {
			return nil, nil, bad(err)
		}
		switch fields[0] {
		case "place":
			if len(fields) != 3 {
				return nil, nil, bad(ruleErr("want 'place PATTERN ADDR', e.g. 'place libfoo*.so 0x7d000000', got %d field(s) after 'place'%s",
					len(fields)-1, fileForm(fields)))
			}
			rule, err := newRule(fields[1], fields[2])
			if err != nil {
				return nil, nil, bad(err)
			}
			rules = append(rules, rule)
		case "range":
			if len(fields) != 3 {
				return nil, nil, bad(ruleErr("want 'range RANGE PATTERN', e.g. 'range 0x10000000-0x7f000000 *.dll.so', got %d field(s) after 'range'%s",
					len(fields)-1, fileForm(fields)))
			}
			rr, err := newRangeRule(fields[1], fields[2])
			if err != nil {
				return nil, nil, bad(err)
			}
			ranges = append(ranges, rr)
		default:
			d := fields[0]
			if len(d) > 40 {
				d = d[:40] + "..."
			}
			return nil, nil, bad(ruleErr("unknown directive %q: a line is 'place PATTERN ADDR' or 'range RANGE PATTERN'%s", d, fileForm(append([]string{""}, fields...))))
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, &LineError{n + 1, "", ruleErr("line longer than %d bytes (is this a text file of rules?)", maxLine)}
		}
		return nil, nil, err
	}
	return rules, ranges, nil
}

// binaryText says why b is not text, "" if it is, and where in b it
// found so: NUL bytes, or control characters other than blanks. Bytes
// that are not UTF-8 are text: a file name may hold any byte but NUL and
// '/', and a comment may be in Latin-1 (refused, a placement file that
// worked before stopped mmapguard: the sixteenth session's review).
func binaryText(b []byte) (why string, at int) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return "it has NUL bytes", i
	}
	for i, c := range b {
		if (c < 0x20 || c == 0x7f) && !unicode.IsSpace(rune(c)) {
			return fmt.Sprintf("it has control characters (%U)", rune(c)), i
		}
	}
	return "", 0
}

// quoted refuses a field of a placement file line written in quotes.
// Quotes are not stripped: a shell's quoting has no meaning here, and
// "good.so" would be a pattern matching only names with the quote
// characters in them, so nothing (found in the sixteenth session).
func quoted(fields []string) error {
	for _, f := range fields[1:] {
		if strings.HasPrefix(f, `"`) || strings.HasPrefix(f, "'") || strings.HasSuffix(f, `"`) || strings.HasSuffix(f, "'") {
			example := "place " + strings.Trim(f, `"'`) + " ADDR"
			if fields[0] == "range" {
				example = "range RANGE " + strings.Trim(f, `"'`)
			}
			return ruleErr("%s: quotes are not stripped in a placement file, and a quoted pattern would match no name; write it without them, e.g. '%s' (fields are separated by blanks, so a pattern has none: write ? for a blank; and ['] or [\"] for a quote character itself)",
				f, example)
		}
	}
	return nil
}

// notText is the error for a placement file that is no text file. It
// wraps ErrRule, whose words ("bad placement rule") it leaves out: the
// file holds no rules at all.
func notText(why string) error {
	return &notTextError{"not a placement file: " + why + "; a placement file is text, one rule a line, e.g. 'place libfoo*.so 0x7d000000' or 'range 0x10000000-0x7f000000 *.dll.so'"}
}

type notTextError struct{ msg string }

func (e *notTextError) Error() string { return e.msg }
func (e *notTextError) Unwrap() error { return ErrRule }

// fileForm says how to write, in a placement file, a rule written as
// on the command line (PATTERN=ADDR, RANGE=PATTERN) after the directive
// fields[0] ("" when the line has none); "" if fields[1:] is no such
// rule.
func fileForm(fields []string) string {
	if len(fields) != 2 || !strings.Contains(fields[1], "=") {
		return ""
	}
	f := fields[1]
	rng, pattern, _ := strings.Cut(f, "=")
	_, err := region.ParseRange(rng)
	if fields[0] == "range" || fields[0] == "" && err == nil {
		if rng == "" || pattern == "" {
			return ""
		}
		return fmt.Sprintf(": the fields are separated by blanks, not '=': write 'range %s %s'", rng, pattern)
	}
	i := strings.LastIndexByte(f, '=')
	if f[:i] == "" || f[i+1:] == "" {
		return ""
	}
	return fmt.Sprintf(": the fields are separated by blanks, not '=': write 'place %s %s'", f[:i], f[i+1:])
}
