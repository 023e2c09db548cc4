package loader

import (
	"errors"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		in   string
		want Rule
		err  string // substring of the error; "" for success
	}{
		{in: "libfoo.so=0x7d000000", want: Rule{"libfoo.so", 0x7d000000}},
		{in: " *.dll.so = 0x10000 ", want: Rule{"*.dll.so", 0x10000}},
		{in: "a=b.so=4096000", want: Rule{"a=b.so", 4096000}},
		{in: "x.so=0o400000000", want: Rule{"x.so", 0o400000000}},
		{in: "x.so=065536", want: Rule{"x.so", 0x10000}}, // a leading 0 is decimal, not octal
		{in: "libfoo.so", err: "want PATTERN=ADDR"},
		{in: "=0x10000", err: "empty pattern before '=': want PATTERN=ADDR, e.g. 'libfoo*.so=0x7d000000'"},
		{in: "[a.so=0x10000", err: `syntax error in pattern (a '[' opens a character class that needs its ']'; write \[ for a '[' itself)`},
		{in: `a.so\=0x10000`, err: `write \\ for a '\' itself`},
		{in: "a.so=", err: "missing address after '=': want PATTERN=ADDR, e.g. 'libfoo*.so=0x7d000000'"},
		{in: "a.so=zz", err: "not a number"},
		{in: "a.so=-0x1000", err: "not a number"},
		{in: "a.so=0x10001", err: "not page-aligned"},
		{in: "a.so=0x1000", err: "below 0x10000"},
		{in: "a.so=0", err: "below 0x10000"},
		{in: "a.so=0x7ffffffff000", err: "not below the end of user space (0x7ffffffff000)"},
		// Unaligned and beyond user space: the latter is said, not an
		// aligned address beyond it (the eighteenth session).
		{in: "a.so=18446744073709551615", err: "18446744073709551615 is not below the end of user space (0x7ffffffff000): give a lower address"},
		{in: "a.so=0x7ffffffff800", err: "not below the end of user space"},
		{in: "a.so=0x1ffffffffffffffff", err: "0x1ffffffffffffffff is too large for 64 bits"},
		{in: "x.so=256M", want: Rule{"x.so", 256 << 20}}, // suffixes, as --place-exe and sizes take them
		{in: "x.so=1G", want: Rule{"x.so", 1 << 30}},
		{in: "x.so=0x100K", want: Rule{"x.so", 0x100 << 10}},
		{in: "a.so=256Q", err: "optionally with a K, M, G or T suffix"},
		{in: "a.so=0x7bc00800", err: "give a multiple of 0x1000, e.g. 0x7bc00000"},
		{in: "a.so=010000", err: "010000 is read as decimal (a leading 0 is not octal here: write 0o10000 for octal)"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRule(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrRule) {
					t.Errorf("ParseRule(%q) = %v, %v; want an ErrRule containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRule(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if back, err := ParseRule(got.String()); err != nil || back != got {
				t.Errorf("round trip of %v: %v, %v", got, back, err)
			}
		})
	}
}

func TestParseRangeRule(t *testing.T) {
	tests := []struct {
		in   string
		want RangeRule
		err  string
	}{
		{in: "0x10000-0x80000000=*.dll.so", want: RangeRule{region.Must(0x10000, 0x80000000), "*.dll.so"}},
		{in: "0x10000000+256M = lib*", want: RangeRule{region.Must(0x10000000, 0x20000000), "lib*"}},
		{in: "0x10000-0x80000000", err: "want RANGE=PATTERN"},
		{in: "0x10000-0x80000000=", err: "empty pattern after '=': want RANGE=PATTERN, e.g. '0x10000000-0x7f000000=*.dll.so'"},
		{in: "=*.dll.so", err: "missing range before '='"},
		{in: "0x10001-0x80000000=a", err: "not page-aligned"},
		{in: "0x0-0x10000=a", err: "below 0x10000"},
		{in: "0x10000-0x80000000=[", err: `syntax error in pattern (a '[' opens a character class that needs its ']'; write \[ for a '[' itself)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRangeRule(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrRule) {
					t.Errorf("ParseRangeRule(%q) = %v, %v; want an ErrRule containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseRangeRule(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if back, err := ParseRangeRule(got.String()); err != nil || back != got {
				t.Errorf("round trip of %v: %v, %v", got, back, err)
			}
		})
	}
}

func TestParsePlacementFile(t *testing.T) {
	good := `# Wine-style layout
place ntdll.dll.so 0x7bc00000   # fixed
place  kernel32.dll.so	0x7b400000

range 0x10000-0x80000000 *.dll.so
    # indented comment
range 0x100000000+4G lib*.so
`
	rules, ranges, err := ParsePlacementFile(strings.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	wantRules := []Rule{{"ntdll.dll.so", 0x7bc00000}, {"kernel32.dll.so", 0x7b400000}}
	wantRanges := []RangeRule{{region.Must(0x10000, 0x80000000), "*.dll.so"}, {region.Must(0x100000000, 0x200000000), "lib*.so"}}
	if len(rules) != 2 || rules[0] != wantRules[0] || rules[1] != wantRules[1] {
		t.Errorf("rules = %v, want %v", rules, wantRules)
	}
	if len(ranges) != 2 || ranges[0] != wantRanges[0] || ranges[1] != wantRanges[1] {
		t.Errorf("ranges = %v, want %v", ranges, wantRanges)
	}
	// Bytes that are not UTF-8 are text: a Latin-1 comment, a file name
	// of any bytes (refused for a while in the sixteenth session).
	latin1 := "# R\xe9glages\nplace caf\xe9.so 0x7bc00000\n"
	if rules, _, err := ParsePlacementFile(strings.NewReader(latin1)); err != nil || len(rules) != 1 || rules[0].Pattern != "caf\xe9.so" {
		t.Errorf("a Latin-1 file: rules %v, error %v; want the one rule", rules, err)
	}

	bad := []struct {
		name, in string
		line     int
		msg      string
	}{
		{"unknown directive", "place a 0x10000\nput a 0x10000\n", 2, `unknown directive "put"`},
		{"place arity", "\n\nplace a\n", 3, "got 1 field(s) after 'place'"},
		{"place arity example", "place a\n", 1, "want 'place PATTERN ADDR', e.g. 'place libfoo*.so 0x7d000000'"},
		{"range arity example", "range *.so\n", 1, "want 'range RANGE PATTERN', e.g. 'range 0x10000000-0x7f000000 *.dll.so'"},
		{"place extra", "place a 0x10000 b\n", 1, "got 3 field"},
		{"range arity", "range 0x10000-0x20000\n", 1, "want 'range RANGE PATTERN'"},
		{"bad address", "# c\nplace a 0x10001\n", 2, "not page-aligned"},
		{"bad range", "range 0x20000-0x10000 a\n", 1, "end is below start"},
		{"bad pattern", "place [ 0x10000\n", 1, "syntax error in pattern"},
		{"old syntax", "place a=0x10000\n", 1, "got 1 field"},
		{"place with =", "place a=0x1000\n", 1, "the fields are separated by blanks, not '=': write 'place a 0x1000'"},
		{"range with =", "range 0x10000-0x20000=*.so\n", 1, "write 'range 0x10000-0x20000 *.so'"},
		{"command-line rule", "libfoo.so=0x7d000000\n", 1, `unknown directive "libfoo.so=0x7d000000": a line is 'place PATTERN ADDR' or 'range RANGE PATTERN': the fields are separated by blanks, not '=': write 'place libfoo.so 0x7d000000'`},
		{"command-line range rule", "0x10000+1G=*.dll.so\n", 1, "write 'range 0x10000+1G *.dll.so'"},
		{"ELF file", "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00>\x00\n", 1, "not a placement file: it is an ELF file"},
		{"ELF file without a newline", "\x7fELF" + strings.Repeat("\x00", maxLine+10), 1, "it is an ELF file"},
		{"NUL bytes", "place a 0x10000\nplace b\x00 0x20000\n", 2, "not a placement file: it has NUL bytes"},
		// A binary file: said so, like NUL bytes and an ELF file, not
		// shown as an unknown directive "Il0S…" (/dev/urandom).
		{"random bytes", "Il0S\x8f\x91\xd3\x02 \x1b\xfe\n", 1, "not a placement file: it has control characters (U+0002)"},
		{"control characters", "place a 0x10000\x1b[0m\n", 1, "not a placement file: it has control characters (U+001B)"},
		{"binary after text", strings.Repeat("# comment\n", 100) + "place b\x01 0x20000\n", 101, "not a placement file: it has control characters (U+0001)"},
		// Quotes are refused, not taken as part of the pattern (which
		// then matched nothing, silently).
		{"quoted pattern", "place \"good.so\" 0x30000000\n", 1, `"good.so": quotes are not stripped in a placement file`},
		{"single-quoted range pattern", "range 0x10000000+1G '*.dll.so'\n", 1, "write it without them, e.g. 'range RANGE *.dll.so'"},
		{"quoted pattern with a blank", "place \"my lib.so\" 0x30000000\n", 1, "write ? for a blank"},
		{"long directive cut short", strings.Repeat("y", 100) + "\n", 1, `unknown directive "` + strings.Repeat("y", 40) + `..."`},
		{"long line", "place a 0x10000\n" + strings.Repeat("x", maxLine+10) + "\n", 2, "longer than"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParsePlacementFile(strings.NewReader(tt.in))
			var le *LineError
			if !errors.As(err, &le) || le.Line != tt.line || !errors.Is(err, ErrRule) {
				t.Fatalf("error %v, want a *LineError on line %d wrapping ErrRule", err, tt.line)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q lacks %q", err, tt.msg)
			}
		})
	}
}

func TestRuleMatch(t *testing.T) {
	o := &Object{Path: "/usr/lib/wine/x86_64-unix/ntdll.dll.so", Soname: "libntdll.so.1"}
	tests := []struct {
		pattern string
		what    string // "" for no match
	}{
		{"/usr/lib/wine/*/ntdll.dll.so", "path"},
		{"ntdll.dll.so", "file name"},
		{"*.dll.so", "file name"},
		{"libntdll.so.*", "soname"},
		{"*", "file name"},
		{"/usr/*", ""}, // * does not cross '/'
		{"kernel32.dll.so", ""},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			what, ok := Rule{Pattern: tt.pattern, Base: 0x10000}.Match(o)
			if ok != (tt.what != "") || what != tt.what {
				t.Errorf("match = %q, %v; want %q", what, ok, tt.what)
			}
			rwhat, rok := RangeRule{Pattern: tt.pattern}.Match(o)
			if rwhat != what || rok != ok {
				t.Errorf("RangeRule match = %q, %v; Rule said %q, %v", rwhat, rok, what, ok)
			}
		})
	}
}

// FuzzParsePlacementFile checks that any input parses or fails with a
// *LineError, and that every rule parsed reads back from its String.
func FuzzParsePlacementFile(f *testing.F) {
	f.Add("place a.so 0x10000\nrange 0x10000-0x80000000 *.dll.so\n")
	f.Add("# c\nplace [ 0x10000\n")
	f.Add("range 0x10000+2G x # y\nplace x=y 0b10000000000000000\n")
	f.Fuzz(func(t *testing.T, in string) {
		rules, ranges, err := ParsePlacementFile(strings.NewReader(in))
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("error %v is not a *LineError with a line number", err)
			}
			return
		}
		for _, r := range rules {
			if back, err := ParseRule(r.String()); err != nil || back != r {
				t.Errorf("rule %v reads back as %v, %v", r, back, err)
			}
		}
		for _, r := range ranges {
			if back, err := ParseRangeRule(r.String()); err != nil || back != r {
				t.Errorf("range rule %v reads back as %v, %v", r, back, err)
			}
		}
	})
}
