package region

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Range
		err  error // sentinel the error must wrap; nil means success
	}{
		{"start-end hex", "0x10000-0x80000000", Range{0x10000, 0x80000000}, nil},
		{"start+size with G suffix", "0x10000+2G", Range{0x10000, 0x10000 + 2<<30}, nil},
		{"start+size hex size", "0x1000+0x2000", Range{0x1000, 0x3000}, nil},
		{"decimal both ends", "4096-8192", Range{4096, 8192}, nil},
		{"leading zero is decimal", "04096-08192", Range{4096, 8192}, nil},
		{"octal with 0o", "0o10000-0o20000", Range{4096, 8192}, nil},
		{"binary with 0b", "0b1000000000000+4K", Range{4096, 8192}, nil},
		{"upper-case hex digits", "0X1000-0XA000", Range{0x1000, 0xa000}, nil},
		{"K suffix", "0x1000+4K", Range{0x1000, 0x2000}, nil},
		{"M suffix lower case", "0x200000+2m", Range{0x200000, 0x400000}, nil},
		{"T suffix", "0x10000000000+1T", Range{1 << 40, 2 << 40}, nil},
		{"KiB suffix", "0x1000+8KiB", Range{0x1000, 0x3000}, nil},
		{"kb suffix", "0x1000+8kb", Range{0x1000, 0x3000}, nil},
		{"hex size with suffix", "0x0+0x10K", Range{0, 16 << 10}, nil},
		{"surrounding whitespace", "  0x1000-0x2000\t\n", Range{0x1000, 0x2000}, nil},
		{"up to UserEnd", "0x7fff00000000-0x7ffffffff000", Range{0x7fff00000000, UserEnd}, nil},

		{"unaligned start", "0x1001-0x2000", Range{}, ErrUnaligned},
		{"unaligned end", "0x1000-0x2001", Range{}, ErrUnaligned},
		{"unaligned size", "0x1000+100", Range{}, ErrUnaligned},
		{"empty start-end", "0x1000-0x1000", Range{}, ErrEmpty},
		{"empty size", "0x1000+0", Range{}, ErrEmpty},
		{"reversed", "0x2000-0x1000", Range{}, ErrReversed},
		{"end beyond user space", "0x7ffffffff000-0x7fffffffe000000", Range{}, ErrBeyondUser},
		{"size beyond user space", "0x7fff00000000+1T", Range{}, ErrBeyondUser},
		{"kernel half", "0xffff800000000000-0xffff800000001000", Range{}, ErrBeyondUser},
		{"start plus size wraps", "0xfffffffffffff000+1G", Range{}, ErrOverflow},
		{"start past 2^64", "0x10000000000000000-0x10000000000001000", Range{}, ErrOverflow},
		{"decimal end past 2^64", "0-18446744073709551616", Range{}, ErrOverflow},
		{"suffix overflows", "0x1000+100000000000T", Range{}, ErrOverflow},
		{"suffix on start", "4K-8K", Range{}, ErrSyntax},
		{"no operator", "0x1000", Range{}, ErrSyntax},
		{"empty string", "", Range{}, ErrSyntax},
		{"only spaces", "   ", Range{}, ErrSyntax},
		{"missing end", "0x1000-", Range{}, ErrSyntax},
		{"missing start", "-0x2000", Range{}, ErrSyntax},
		{"missing size", "0x1000+", Range{}, ErrSyntax},
		{"garbage", "banana", Range{}, ErrSyntax},
		{"garbage size", "0x1000+lots", Range{}, ErrSyntax},
		{"bare suffix", "0x1000+K", Range{}, ErrSyntax},
		{"unknown suffix", "0x1000+4Q", Range{}, ErrSyntax},
		{"negative end", "0x1000--0x2000", Range{}, ErrSyntax},
		{"fraction", "0x1000+1.5G", Range{}, ErrSyntax},
		{"hex without digits", "0x-0x1000", Range{}, ErrSyntax},
		{"two ranges", "0x1000-0x2000,0x3000-0x4000", Range{}, ErrSyntax},
		{"blank after the operator", "0x10000+ 4K", Range{}, ErrSyntax},
		{"blank before the suffix", "0x10000+1 K", Range{}, ErrSyntax},
		{"blanks around the operator", "0x1000 + 4K", Range{}, ErrSyntax},
		{"tab before the end", "0x1000-\t0x2000", Range{}, ErrSyntax},
		{"underscore digit separators", "0x1_0000-0x20000", Range{}, ErrSyntax},
		{"underscore in a size", "0x10000+1_000K", Range{}, ErrSyntax},
		{"E suffix", "0x10000+16E", Range{}, ErrSyntax},
		{"PiB suffix", "0x10000+1PiB", Range{}, ErrSyntax},
		{"unaligned end far beyond user space", "0x10000-0xffffffffffffffff", Range{}, ErrBeyondUser},
		{"unaligned size beyond user space", "0x10000+0x7fffffffffff", Range{}, ErrBeyondUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRange(tt.in)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Fatalf("ParseRange(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseRange(%q) = %v, %v; want error wrapping %q", tt.in, got, err, tt.err)
			}
			var re *RangeError
			if !errors.As(err, &re) || re.Input != tt.in {
				t.Errorf("error %v is not a *RangeError naming the input %q", err, tt.in)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
				t.Errorf("message %q does not quote the input", err)
			}
		})
	}
}

// TestParseRangeMessages: an error says which number is at fault and,
// where the reader may have meant something else, what was read.
func TestParseRangeMessages(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		not      string // must not appear; "" for no such check
	}{
		{"0x10000+2K", "size not page-aligned", ""},
		{"0x10000+100", "size not page-aligned", ""},
		{"0x10001+4K", "not page-aligned", "size not page-aligned"},
		{"010000-0x20000", "010000 is read as decimal (a leading 0 is not octal here: write 0o10000 for octal)", ""},
		{"0x10000-020000", "write 0o20000 for octal", ""},
		{"0x10000+010000", "write 0o10000 for octal", ""},
		{"0x20000-010000", "write 0o10000 for octal", ""}, // reversed either way, still worth saying
		{"09000-0x20000", "not page-aligned", "octal"},    // 9 is no octal digit: meant as decimal
		{"0x10001-0x20000", "not page-aligned", "octal"},
		{"0x10000+12345678901234567890123", "size: 12345678901234567890123 is too large for 64 bits", "arithmetic"},
		{"0x10000+100000000000T", "100000000000T is too large for 64 bits", "arithmetic"},
		{"0xfffffffffffff000+1G", "address arithmetic overflows 64 bits", ""},
		{"10000-80000000", "10000 and 80000000 are read as decimal: write 0x10000-0x80000000 for hexadecimal", ""},
		{"10000-7fff0000", `"7fff0000" is not a number (write 0x7fff0000 for hexadecimal)`, ""},
		{"65536-2147483647", "not page-aligned", "hexadecimal"}, // as hex not aligned either
		{"0x10000+16E", `size: syntax: "16E": the E suffix is not supported (K, M, G, T are)`, "is not a number"},
		{"0x10000+2pb", `the pb suffix is not supported`, "hexadecimal"},
		{"0x10000+09E", `the E suffix is not supported`, ""},
		{"0x10000+4Q", `"4Q" is not a number`, "suffix"},
		{"0x10000+ 4K", "a blank inside the range: write it as one word, 0x10000+4K", ""},
		{"0x10000+1 K", "write it as one word, 0x10000+1K", ""},
		{"0x1_0000-0x20000", `start: syntax: "0x1_0000": no '_' in a number (write 0x10000)`, ""},
		{"0x10000-0xffffffffffffffff", "beyond the user address space", "page-aligned"},
		{"0x10001-0x800000000000", "beyond the user address space", "page-aligned"},
	} {
		_, err := ParseRange(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.not != "" && strings.Contains(err.Error(), tt.not)) {
			t.Errorf("ParseRange(%q) = %v; want an error with %q (and without %q)", tt.in, err, tt.want, tt.not)
		}
	}
	if _, err := ParseRange("0x10000+2K"); !errors.Is(err, ErrUnalignedSize) || !errors.Is(err, ErrUnaligned) {
		t.Errorf("ParseRange(0x10000+2K) = %v; want ErrUnalignedSize, an ErrUnaligned", err)
	}
	if _, err := ParseRange("0x10001+4K"); errors.Is(err, ErrUnalignedSize) {
		t.Errorf("ParseRange(0x10001+4K) = %v: the start is at fault, not the size", err)
	}
	for in, want := range map[string]string{"010000": "0o10000", "0777": "0o777", "00": "", "0": "", "08": "", "0x10": "", "10": ""} {
		got := LeadingZeroNote(in)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("LeadingZeroNote(%q) = %q, want a note with %q", in, got, want)
		}
	}
}

// TestDocsUserEnd: the user guide says, in both places that give the
// rule, what ParseRange does at the end of user space: a range may end
// at UserEnd (its end is exclusive), not one page past it.
func TestDocsUserEnd(t *testing.T) {
	if _, err := ParseRange("0x7fff00000000-0x7ffffffff000"); err != nil {
		t.Fatalf("a range ending at UserEnd: %v", err)
	}
	if _, err := ParseRange("0x7fff00000000-0x800000000000"); !errors.Is(err, ErrBeyondUser) {
		t.Fatalf("a range ending a page past UserEnd: %v, want ErrBeyondUser", err)
	}
	for _, doc := range []string{"../docs/run.md", "../docs/policy.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(b)), " ")
		if !strings.Contains(text, "at most 0x7ffffffff000, the end of user space") {
			t.Errorf("%s does not say a range may end at most at 0x7ffffffff000, the end of user space", doc)
		}
		if strings.Contains(text, "below 0x7ffffffff000") {
			t.Errorf("%s says a range must end below 0x7ffffffff000: it may end there", doc)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint64
		err  error
	}{
		{"plain decimal", "4096", 4096, nil},
		{"zero", "0", 0, nil},
		{"hex", "0x2000", 0x2000, nil},
		{"hex ending in b is a digit", "0x1b", 0x1b, nil},
		{"K", "64K", 64 << 10, nil},
		{"k lower", "64k", 64 << 10, nil},
		{"KB", "64KB", 64 << 10, nil},
		{"KiB", "64KiB", 64 << 10, nil},
		{"kib lower", "64kib", 64 << 10, nil},
		{"M", "2M", 2 << 20, nil},
		{"MiB", "2MiB", 2 << 20, nil},
		{"G", "1G", 1 << 30, nil},
		{"GB", "1GB", 1 << 30, nil},
		{"T", "3T", 3 << 40, nil},
		{"TiB", "1TiB", 1 << 40, nil},
		{"hex with suffix", "0x10M", 16 << 20, nil},
		{"whitespace around", " 8K ", 8 << 10, nil},
		{"largest without suffix", "18446744073709551615", 1<<64 - 1, nil},
		{"largest T", "16777215T", 16777215 << 40, nil},

		{"past 2^64", "18446744073709551616", 0, ErrOverflow},
		{"hex past 2^64", "0x10000000000000000", 0, ErrOverflow},
		{"T overflows", "16777216T", 0, ErrOverflow},
		{"G overflows", "17179869184G", 0, ErrOverflow},
		{"empty", "", 0, ErrSyntax},
		{"suffix only", "M", 0, ErrSyntax},
		{"unknown suffix", "5X", 0, ErrSyntax},
		{"bytes suffix alone", "5B", 0, ErrSyntax},
		{"negative", "-1", 0, ErrSyntax},
		{"plus sign", "+1", 0, ErrSyntax},
		{"suffix twice", "1KK", 0, ErrSyntax},
		{"word", "large", 0, ErrSyntax},
		{"space before suffix", "2 M", 0, ErrSyntax},
		{"digit separator", "1_024K", 0, ErrSyntax},
		{"E suffix", "1E", 0, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.err == nil {
				if err != nil || got != tt.want {
					t.Fatalf("ParseSize(%q) = %#x, %v; want %#x", tt.in, got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("ParseSize(%q) = %#x, %v; want error wrapping %q", tt.in, got, err, tt.err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name       string
		start, end uint64
		err        error
	}{
		{"one page", 0x1000, 0x2000, nil},
		{"from zero", 0, 0x1000, nil},
		{"all of user space", 0, UserEnd, nil},
		{"empty", 0x1000, 0x1000, ErrEmpty},
		{"reversed", 0x2000, 0x1000, ErrReversed},
		{"unaligned start", 0x1800, 0x2000, ErrUnaligned},
		{"unaligned end", 0x1000, 0x1800, ErrUnaligned},
		{"past UserEnd", 0x1000, UserEnd + PageSize, ErrBeyondUser},
		{"vsyscall page", 0xffffffffff600000, 0xffffffffff601000, ErrBeyondUser},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.start, tt.end)
			if tt.err == nil {
				if err != nil || r != (Range{tt.start, tt.end}) {
					t.Fatalf("New(%#x, %#x) = %v, %v", tt.start, tt.end, r, err)
				}
				return
			}
			if !errors.Is(err, tt.err) || r != (Range{}) {
				t.Fatalf("New(%#x, %#x) = %v, %v; want error wrapping %q", tt.start, tt.end, r, err, tt.err)
			}
		})
	}
}

func TestMustPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Must(0x2000, 0x1000) did not panic")
		}
	}()
	Must(0x2000, 0x1000)
}

func TestSpanAndPageRounding(t *testing.T) {
	if r, ok := Span(0x1000, 0x2000); !ok || r != (Range{0x1000, 0x3000}) {
		t.Errorf("Span(0x1000, 0x2000) = %v, %v", r, ok)
	}
	if _, ok := Span(^uint64(0)-10, 11); ok {
		t.Error("Span that wraps reported ok")
	}
	tests := []struct {
		x, up, down uint64
		upOK        bool
	}{
		{0, 0, 0, true},
		{1, 0x1000, 0, true},
		{0x1000, 0x1000, 0x1000, true},
		{0x1fff, 0x2000, 0x1000, true},
		{^uint64(0) - 0xfff, ^uint64(0) - 0xfff, ^uint64(0) - 0xfff, true},
		{^uint64(0) - 0xffe, 0, ^uint64(0) - 0xfff, false},
	}
	for _, tt := range tests {
		up, ok := PageUp(tt.x)
		if up != tt.up || ok != tt.upOK {
			t.Errorf("PageUp(%#x) = %#x, %v; want %#x, %v", tt.x, up, ok, tt.up, tt.upOK)
		}
		if d := PageDown(tt.x); d != tt.down {
			t.Errorf("PageDown(%#x) = %#x; want %#x", tt.x, d, tt.down)
		}
	}
}

func TestRangeMethods(t *testing.T) {
	a := Range{0x1000, 0x3000}
	b := Range{0x2000, 0x5000}
	c := Range{0x3000, 0x4000}
	if a.Len() != 0x2000 || (Range{0x2000, 0x1000}).Len() != 0 {
		t.Error("Len")
	}
	if !a.Overlaps(b) || a.Overlaps(c) || a.Overlaps(Range{0x2000, 0x2000}) {
		t.Error("Overlaps")
	}
	if a.Intersect(b) != (Range{0x2000, 0x3000}) || !a.Intersect(c).Empty() {
		t.Error("Intersect")
	}
	if !a.Contains(0x1000) || a.Contains(0x3000) {
		t.Error("Contains")
	}
	if !b.ContainsRange(c) || a.ContainsRange(b) || !a.ContainsRange(Range{}) {
		t.Error("ContainsRange")
	}
	if s := a.String(); s != "0x1000-0x3000" {
		t.Errorf("String = %q", s)
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0"}, {1, "1"}, {4096, "4K"}, {4097, "4097"}, {2 << 20, "2M"},
		{3 << 30, "3G"}, {1536 << 20, "1536M"}, {5 << 40, "5T"},
	}
	for _, tt := range tests {
		if got := FormatSize(tt.n); got != tt.want {
			t.Errorf("FormatSize(%d) = %q; want %q", tt.n, got, tt.want)
		}
		if tt.n != 0 {
			if back, err := ParseSize(FormatSize(tt.n)); err != nil || back != tt.n {
				t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", tt.n, back, err)
			}
		}
	}
}

func ExampleParseRange() {
	for _, s := range []string{"0x10000-0x80000000", "0x10000+2G", "0x10000+100"} {
		r, err := ParseRange(s)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Println(r, FormatSize(r.Len()))
	}
	// Output:
	// 0x10000-0x80000000 2097088K
	// 0x10000-0x80010000 2G
	// error: range "0x10000+100": size not page-aligned (must be a multiple of 0x1000)
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[uint64]string{0x7fff0000: "2.0G", 2 << 30: "2G", 4096: "4K", 1536: "1.5K", 100: "100", 16 << 40: "16T", 0: "0"} {
		if got := HumanSize(n); got != want {
			t.Errorf("HumanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
