package region

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode"
)

const (
	// PageSize is the x86-64 base page size.
	PageSize uint64 = 4096
	// UserEnd is the first address past user space (TASK_SIZE on x86-64
	// with 4-level page tables). No mapping reaches it.
	UserEnd uint64 = 0x7ffffffff000
	// HugePageSize is the size of a transparent huge page; the kernel
	// aligns anonymous mappings of at least this size to it.
	HugePageSize uint64 = 2 << 20
)

// Range is a half-open interval [Start, End) of addresses. A valid Range
// is page-aligned at both ends, and End <= UserEnd. A Range with
// Start == End is empty.
type Range struct {
	Start, End uint64
}

// Errors returned when a range is malformed; ParseRange and New wrap
// them in a *RangeError that names the offending input.
var (
	ErrUnaligned  = errors.New("not page-aligned (must be a multiple of 0x1000)")
	ErrEmpty      = errors.New("empty range")
	ErrReversed   = errors.New("end is below start")
	ErrBeyondUser = errors.New("beyond the user address space (ends above 0x7ffffffff000)")
	ErrOverflow   = errors.New("address arithmetic overflows 64 bits")
	ErrSyntax     = errors.New("syntax")
	// ErrUnalignedSize is START+SIZE with a page-aligned START and a
	// SIZE that is not a whole number of pages. It wraps ErrUnaligned.
	ErrUnalignedSize error = &sizeError{ErrUnaligned}
)

// sizeError is a sentinel about a range's SIZE that wraps one about
// ranges (not fmt.Errorf: the first call of fmt, at every start of
// mmapguard's, cost it 40 µs before main).
type sizeError struct{ err error }

func (e *sizeError) Error() string { return "size " + e.err.Error() }
func (e *sizeError) Unwrap() error { return e.err }

// numberTooLarge is a number that does not fit in 64 bits; it is an
// ErrOverflow, but says which number and why rather than speaking of
// arithmetic.
type numberTooLarge string

func (e numberTooLarge) Error() string {
	return fmt.Sprintf("%s is too large for 64 bits (the largest is 0xffffffffffffffff)", string(e))
}

func (e numberTooLarge) Is(target error) bool { return target == ErrOverflow }

// LeadingZeroNote returns, for a number written with a leading 0 and
// octal digits only (010000), a note that it was read as decimal and
// how to write octal; "" for any other number. Callers add it to an
// error about that number, which a reader of C or a shell may have
// meant as octal.
func LeadingZeroNote(s string) string {
	t := strings.TrimSpace(s)
	digits := strings.TrimLeft(t, "0")
	if len(t) < 2 || t[0] != '0' || digits == "" || strings.Trim(digits, "01234567") != "" {
		return ""
	}
	return fmt.Sprintf("%s is read as decimal (a leading 0 is not octal here: write 0o%s for octal)", t, digits)
}

// withOctalNote adds LeadingZeroNote of the first of nums that has one
// to err; failing that, where nums are plain decimal numbers that read as
// hexadecimal make a range that would pass (10000-80000000, meant as
// 0x10000-0x80000000), a note saying so.
func withOctalNote(err error, nums ...string) error {
	for _, n := range nums {
		if note := LeadingZeroNote(n); note != "" {
			return fmt.Errorf("%w; %s", err, note)
		}
	}
	if len(nums) == 2 {
		a, b := strings.TrimSpace(nums[0]), strings.TrimSpace(nums[1])
		if decimalDigits(a) && decimalDigits(b) {
			s, err1 := strconv.ParseUint(a, 16, 64)
			e, err2 := strconv.ParseUint(b, 16, 64)
			if err1 == nil && err2 == nil && (Range{s, e}).check() == nil {
				return fmt.Errorf("%w; %w", err, decimalNote{a, b})
			}
		}
	}
	return err
}

// ErrMeantHex is matched (errors.Is) by a range error whose numbers,
// written without 0x, make a good range when read as hexadecimal: the
// error says so, and that is the thing to fix.
var ErrMeantHex = errors.New("numbers meant as hexadecimal")

// decimalNote says that a range's two numbers were read as decimal.
type decimalNote struct{ start, end string }

func (n decimalNote) Error() string {
	return fmt.Sprintf("%s and %s are read as decimal: write 0x%s-0x%s for hexadecimal", n.start, n.end, n.start, n.end)
}

func (n decimalNote) Is(target error) bool { return target == ErrMeantHex }

// decimalDigits reports whether s is digits only, without a 0x prefix.
func decimalDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// hexDigits reports whether s is hexadecimal digits only, with at least
// one letter, without a 0x prefix (7fff0000).
func hexDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789abcdef") == "" && !decimalDigits(s)
}

// RangeError describes why a range (or size) was refused.
type RangeError struct {
	Input string // the text given, or a formatted start/end
	Err   error  // one of the Err* sentinels, possibly wrapped
}

// Error names the input and the rule it broke.
func (e *RangeError) Error() string {
	return fmt.Sprintf("range %q: %v", e.Input, e.Err)
}

// Unwrap returns the underlying sentinel so errors.Is works.
func (e *RangeError) Unwrap() error { return e.Err }

// New returns the range [start, end), checking that it is page-aligned,
// non-empty, ordered and inside user space.
func New(start, end uint64) (Range, error) {
	r := Range{start, end}
	if err := r.check(); err != nil {
		return Range{}, &RangeError{fmt.Sprintf("%#x-%#x", start, end), err}
	}
	return r, nil
}

// Must is New for constants known to be valid; it panics otherwise.
func Must(start, end uint64) Range {
	r, err := New(start, end)
	if err != nil {
		panic(err)
	}
	return r
}

func (r Range) check() error {
	switch {
	case r.End < r.Start:
		return ErrReversed
	case r.Start == r.End:
		return ErrEmpty
	case r.End > UserEnd:
		// Before alignment: a range that reaches past user space
		// cannot be mended by rounding, and its end is often an
		// address no mapping can have (0xffffffffffffffff), which
		// "not page-aligned" would send the user to round.
		return ErrBeyondUser
	case r.Start%PageSize != 0 || r.End%PageSize != 0:
		return ErrUnaligned
	}
	return nil
}

// Span returns [start, start+length) without checking alignment; ok is
// false if start+length overflows 64 bits.
func Span(start, length uint64) (r Range, ok bool) {
	end, carry := bits.Add64(start, length, 0)
	if carry != 0 {
		return Range{}, false
	}
	return Range{start, end}, true
}

// PageUp rounds x up to a page boundary; ok is false on overflow.
func PageUp(x uint64) (uint64, bool) {
	y, carry := bits.Add64(x, PageSize-1, 0)
	if carry != 0 {
		return 0, false
	}
	return y &^ (PageSize - 1), true
}

// PageDown rounds x down to a page boundary.
func PageDown(x uint64) uint64 { return x &^ (PageSize - 1) }

// Len is the number of bytes in r.
func (r Range) Len() uint64 {
	if r.End <= r.Start {
		return 0
	}
	return r.End - r.Start
}

// Empty reports whether r contains no address.
func (r Range) Empty() bool { return r.End <= r.Start }

// Contains reports whether addr lies in r.
func (r Range) Contains(addr uint64) bool { return r.Start <= addr && addr < r.End }

// ContainsRange reports whether o lies entirely inside r. An empty o is
// contained in any r.
func (r Range) ContainsRange(o Range) bool {
	return o.Empty() || (r.Start <= o.Start && o.End <= r.End)
}

// Overlaps reports whether r and o share at least one address.
func (r Range) Overlaps(o Range) bool {
	return !r.Empty() && !o.Empty() && r.Start < o.End && o.Start < r.End
}

// Intersect returns the addresses r and o share (empty if none).
func (r Range) Intersect(o Range) Range {
	s, e := max(r.Start, o.Start), min(r.End, o.End)
	if s >= e {
		return Range{}
	}
	return Range{s, e}
}

// String formats r the way /proc/PID/maps and --protect do: 0x10000-0x80000000.
func (r Range) String() string {
	return fmt.Sprintf("%#x-%#x", r.Start, r.End)
}

// ParseRange parses the two forms a user writes on the command line:
//
//	0x10000-0x80000000   start-end, end exclusive
//	0x10000+2G           start+size
//
// Numbers are hexadecimal with 0x, octal with 0o, binary with 0b, or
// decimal (a leading zero does not make a number octal: 0100 is one
// hundred); sizes (and only sizes) may carry a K, M, G or T suffix (powers
// of 1024). Blanks around the whole range are ignored; blanks inside it
// (0x10000+ 4K, 1 K) and Go's digit separators (0x1_0000) are a syntax
// error: the command line's ranges are written as one word, and a
// form the documentation does not give is more likely a slip than a
// choice. The result must be
// page-aligned, non-empty and inside user space; the error wraps the
// sentinel for the rule that was broken (ErrSyntax, ErrOverflow,
// ErrUnaligned, ErrEmpty, ErrReversed or ErrBeyondUser; ErrUnalignedSize
// when only the SIZE is to blame), and notes a number with a leading 0
// that may have been meant as octal (LeadingZeroNote).
func ParseRange(s string) (Range, error) {
	in := strings.TrimSpace(s)
	fail := func(err error) (Range, error) { return Range{}, &RangeError{s, err} }
	if strings.IndexFunc(in, unicode.IsSpace) >= 0 {
		// A blank where the shell kept it (quoted): said before the
		// numbers are read, which would blame the half it cut off.
		return fail(fmt.Errorf("%w: a blank inside the range: write it as one word, %s", ErrSyntax, strings.Join(strings.Fields(in), "")))
	}
	if i := strings.IndexByte(in, '+'); i >= 0 {
		start, err := parseNumber(in[:i], false)
		if err != nil {
			return fail(fmt.Errorf("start: %w", err))
		}
		size, err := parseNumber(in[i+1:], true)
		if err != nil {
			return fail(fmt.Errorf("size: %w", err))
		}
		r, ok := Span(start, size)
		if !ok {
			return fail(ErrOverflow)
		}
		if err := r.check(); err != nil {
			if errors.Is(err, ErrUnaligned) && start%PageSize == 0 {
				err = ErrUnalignedSize
			}
			return fail(withOctalNote(err, in[:i], in[i+1:]))
		}
		return r, nil
	}
	i := strings.IndexByte(in, '-')
	if i < 0 {
		return fail(fmt.Errorf("%w: want START-END or START+SIZE, e.g. 0x10000-0x80000000 or 0x10000+2G", ErrSyntax))
	}
	start, err := parseNumber(in[:i], false)
	if err != nil {
		return fail(fmt.Errorf("start: %w", err))
	}
	end, err := parseNumber(in[i+1:], false)
	if err != nil {
		return fail(fmt.Errorf("end: %w", err))
	}
	r := Range{start, end}
	if err := r.check(); err != nil {
		return fail(withOctalNote(err, in[:i], in[i+1:]))
	}
	return r, nil
}

// ParseSize parses a byte count: a number (as for ParseRange) optionally
// followed by K, M, G or T, case-insensitive, optionally with B or iB
// after it: 64K, 2MiB and 1GB all mean powers of 1024. Blanks around it
// are ignored, blanks inside it (2 M) and digit separators refused.
func ParseSize(s string) (uint64, error) {
	n, err := parseNumber(s, true)
	if err != nil {
		return 0, &RangeError{s, err}
	}
	return n, nil
}

// sizeSuffixes are matched at the end of a lower-cased size. None of the
// letters k, m, g, t is a hexadecimal digit, so the suffixes are never
// confused with the digits of a 0x number.
var sizeSuffixes = []struct {
	s     string
	shift uint
}{
	{"kib", 10}, {"mib", 20}, {"gib", 30}, {"tib", 40},
	{"kb", 10}, {"mb", 20}, {"gb", 30}, {"tb", 40},
	{"k", 10}, {"m", 20}, {"g", 30}, {"t", 40},
}

func parseNumber(s string, suffixOK bool) (uint64, error) {
	in := strings.TrimSpace(s)
	t := strings.ToLower(in)
	switch {
	case t == "":
		return 0, fmt.Errorf("%w: missing number", ErrSyntax)
	case strings.IndexFunc(t, unicode.IsSpace) >= 0:
		return 0, fmt.Errorf("%w: %q has a blank inside: write it as one word, %s", ErrSyntax, in, strings.Join(strings.Fields(in), ""))
	case strings.Contains(t, "_"):
		// strconv takes Go's digit separators with base 0; the
		// documentation gives none, and 0x1_0000 is as likely a slip.
		return 0, fmt.Errorf("%w: %q: no '_' in a number (write %s)", ErrSyntax, in, strings.ReplaceAll(in, "_", ""))
	}
	shift := uint(0)
	if suffixOK {
		for _, sfx := range sizeSuffixes {
			if strings.HasSuffix(t, sfx.s) {
				t, shift = strings.TrimSuffix(t, sfx.s), sfx.shift
				break
			}
		}
	}
	base := 0
	if len(t) > 1 && t[0] == '0' && t[1] >= '0' && t[1] <= '9' {
		// strconv would read 0100 as octal; people mean decimal.
		base = 10
	}
	n, err := strconv.ParseUint(t, base, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, numberTooLarge(strings.TrimSpace(s))
		}
		if sfx := unsupportedSuffix(in); suffixOK && sfx != "" {
			hex := ""
			if hexDigits(t) {
				hex = " (or write 0x" + t + " for hexadecimal)"
			}
			return 0, fmt.Errorf("%w: %q: the %s suffix is not supported (K, M, G, T are)%s", ErrSyntax, in, sfx, hex)
		}
		if hexDigits(t) {
			return 0, fmt.Errorf("%w: %q is not a number (write 0x%s for hexadecimal)", ErrSyntax, strings.TrimSpace(s), t)
		}
		return 0, fmt.Errorf("%w: %q is not a number", ErrSyntax, strings.TrimSpace(s))
	}
	if shift != 0 {
		if n > (^uint64(0))>>shift {
			return 0, numberTooLarge(strings.TrimSpace(s))
		}
		n <<= shift
	}
	return n, nil
}

// unsupportedSuffix returns, for a number followed by one of the binary
// suffixes past T (P, E, alone or with B or iB: 16E, 2PiB), that suffix
// as written; "" for anything else. (16E would be read as a number that
// lacks its 0x otherwise.)
func unsupportedSuffix(s string) string {
	t := strings.ToLower(s)
	n := len(t)
	if strings.HasSuffix(t, "ib") {
		n -= 2
	} else if strings.HasSuffix(t, "b") {
		n--
	}
	if n < 2 || (t[n-1] != 'p' && t[n-1] != 'e') {
		return ""
	}
	num, base := t[:n-1], 0
	if len(num) > 1 && num[0] == '0' && num[1] >= '0' && num[1] <= '9' {
		base = 10 // as parseNumber reads it
	}
	if _, err := strconv.ParseUint(num, base, 64); err != nil && !errors.Is(err, strconv.ErrRange) {
		return ""
	}
	return s[n-1:]
}

// FormatSize renders n with the largest binary suffix that divides it
// exactly (2G, 64K), or as a plain number of bytes.
func FormatSize(n uint64) string {
	for _, u := range []struct {
		shift uint
		s     string
	}{{40, "T"}, {30, "G"}, {20, "M"}, {10, "K"}} {
		if n != 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.s
		}
	}
	return strconv.FormatUint(n, 10)
}

// HumanSize renders n for people: exactly when it is a whole number of
// K, M, G or T (2G, 64K), else to one decimal in the largest of those
// units that fits (2.0G for 0x7fff0000 bytes), or in bytes below 1K.
func HumanSize(n uint64) string {
	for _, u := range []struct {
		shift uint
		s     string
	}{{40, "T"}, {30, "G"}, {20, "M"}, {10, "K"}} {
		if n>>u.shift == 0 {
			continue
		}
		if n%(1<<u.shift) == 0 {
			return strconv.FormatUint(n>>u.shift, 10) + u.s
		}
		return strconv.FormatFloat(float64(n)/float64(uint64(1)<<u.shift), 'f', 1, 64) + u.s
	}
	return strconv.FormatUint(n, 10)
}
