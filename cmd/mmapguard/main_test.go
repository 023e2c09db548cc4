package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/mmapguard/mmapguard/seccomp"
)

// TestMain removes the directory the end-to-end tests build mmapguard
// into (run_test.go).
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// mainResult is what one call of Main did.
type mainResult struct {
	code           int
	stdout, stderr string
}

func callMain(args ...string) mainResult {
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return mainResult{code, out.String(), errb.String()}
}

func (r mainResult) String() string {
	return "exit " + strconv.Itoa(r.code) + "\n--- stdout:\n" + r.stdout + "--- stderr:\n" + r.stderr
}

// The options of each subcommand, as its --help must list them.
var wantFlags = map[string][]string{
	"run": {"--protect RANGE", "--pool RANGE", "--pool-all", "--strict", "-o FILE", "--log-format FORMAT", "-q",
		"--place PATTERN=ADDR", "--place-range RANGE=PATTERN", "--place-file FILE", "--place-strict", "--place-exe ADDR", "--owner PATTERN", "--trace-all"},
	"explain": {"--protect RANGE", "--pool RANGE", "--pool-all", "--strict", "--trace-all", "-o FILE", "-q"},
	"help":    {},
}

var optionLine = regexp.MustCompile(`(?m)^  -`)

func TestTopLevelHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"-help"}, {"help"}} {
		r := callMain(args...)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Usage:\n  mmapguard COMMAND") ||
			!strings.Contains(r.stdout, "\nExamples:\n  mmapguard run ") || !strings.Contains(r.stdout, "\nExit status:") {
			t.Errorf("mmapguard %v: want exit 0 and the overview on stdout only; got %v", args, r)
			continue
		}
		for _, c := range commands {
			if !regexp.MustCompile(`(?m)^  ` + c.name + ` +\S`).MatchString(r.stdout) {
				t.Errorf("mmapguard %v: command %q is not listed with its summary:\n%s", args, c.name, r.stdout)
			}
		}
	}
}

// TestSubcommandHelp: every command's --help, -h and 'help COMMAND' print
// its usage on stdout and exit 0; run's and explain's list every option,
// both in the synopsis and under Options.
func TestSubcommandHelp(t *testing.T) {
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			r := callMain(args...)
			if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "Usage: mmapguard "+c.name) {
				t.Errorf("mmapguard %v: want exit 0 and 'Usage: mmapguard %s' on stdout only; got %v", args, c.name, r)
				continue
			}
			flags, ok := wantFlags[c.name]
			if !ok {
				continue // a command this test does not know yet
			}
			synopsis, options, _ := strings.Cut(r.stdout, "\nOptions:\n")
			for _, f := range flags {
				name, _, _ := strings.Cut(f, " ")
				if !strings.Contains(synopsis, "["+name) && !strings.Contains(synopsis, " "+name+" ") {
					t.Errorf("mmapguard %v: the synopsis does not show %s:\n%s", args, name, synopsis)
				}
				if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(f) + `\n {6,}\S`).MatchString(options) {
					t.Errorf("mmapguard %v: option %q is not listed with its description:\n%s", args, f, options)
				}
			}
			options = "\n" + options
			if !strings.Contains(options, "\n  -h, --help\n        print this help and exit") {
				t.Errorf("mmapguard %v: -h, --help is not listed:\n%s", args, options)
			}
			options = strings.Replace(options, "\n  -h, --help\n", "\n", 1)
			if n := len(optionLine.FindAllString(options, -1)); len(flags) > 0 && n != len(flags) {
				t.Errorf("mmapguard %v: %d options listed, want %d (%v):\n%s", args, n, len(flags), flags, options)
			}
		}
	}
	// --help before a command is help for it (the eighteenth session:
	// the overview), and a command that is none is refused as by help.
	for _, args := range [][]string{{"--help", "run"}, {"-h", "run"}} {
		r := callMain(args...)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "Usage: mmapguard run ") {
			t.Errorf("mmapguard %v: want exit 0 and run's usage; got %v", args, r)
		}
	}
	if r := callMain("--help", "frobnicate"); r.code != exitUsage || !strings.Contains(r.stderr, `no command "frobnicate"`) {
		t.Errorf("mmapguard --help frobnicate: want exit 2 and no such command; got %v", r)
	}
	// help's own help.
	for _, args := range [][]string{{"help", "help"}, {"help", "--help"}, {"help", "-h"}} {
		r := callMain(args...)
		if r.code != 0 || r.stderr != "" || !strings.HasPrefix(r.stdout, "Usage: mmapguard help [COMMAND]") {
			t.Errorf("mmapguard %v: want exit 0 and help's usage; got %v", args, r)
		}
	}
}

// TestUsageErrors: every command line mmapguard cannot use ends with
// status 2, nothing on stdout, and a message on stderr that names the
// problem and says what to do.
func TestUsageErrors(t *testing.T) {
	const low = "0x10000-0x80000000"
	type tc struct {
		name string
		args []string
		want []string // all on stderr
	}
	cases := []tc{
		{"no command", nil, []string{"mmapguard: no command given", "Usage:", "Commands:"}},
		{"unknown command", []string{"frobnicate"}, []string{`unknown command "frobnicate"`, "mmapguard --help"}},
		{"option before the command", []string{"--protect", low}, []string{`unknown option "--protect"`, "options go after the command"}},
		{"help for an unknown command", []string{"help", "frobnicate"}, []string{`no command "frobnicate"`, "the commands are run, explain", "mmapguard help --help"}},
		{"help with two names", []string{"help", "run", "explain"}, []string{"help takes one command name", "mmapguard help --help"}},
		{"run without a program", []string{"run", "--protect", low}, []string{"no program to run", "put it after --, e.g. mmapguard run --protect", "mmapguard run --help"}},
		{"run with an empty program list", []string{"run", "--protect", low, "--"}, []string{"no program to run", "put it after --"}},
		{"explain with an argument", []string{"explain", "--protect", low, "ls"}, []string{`unexpected argument "ls": explain runs nothing`, "mmapguard explain --help"}},
		{"run with an empty program name", []string{"run", "--protect", low, "--", ""}, []string{"the program's name is empty"}},
		{"run --log-format bogus, program missing too", []string{"run", "--protect", low, "-o", filepath.Join(t.TempDir(), "log"), "--log-format", "bogus", "--", "/nonexistent"}, []string{`--log-format "bogus": want text or json`}},
		{"run --log-format without -o", []string{"run", "--protect", low, "--log-format", "json", "--", "true"}, []string{"give -o FILE too"}},
		{"run --owner without a symbol after !", []string{"run", "--protect", low, "--owner", "libwine.so!", "--", "true"}, []string{`--owner: owner "libwine.so!": no SYMBOL after '!'`, "drop the '!' for all of libwine.so"}},
		{"run --owner with two !", []string{"run", "--protect", low, "--owner", "a!b!c", "--", "true"}, []string{`owner "a!b!c": more than one '!'`}},
		{"run --owner with an open [", []string{"run", "--protect", low, "--owner", "lib[wine.so", "--", "true"}, []string{`bad pattern "lib[wine.so"`, `write \[ for a '[' itself`}},
		{"run --owner empty", []string{"run", "--protect", low, "--owner", "", "--", "true"}, []string{`owner "": want OBJECT or OBJECT!SYMBOL`}},
		{"run -p: no attaching", []string{"run", "-p", "1234"}, []string{"unknown option -p: run starts the program itself and cannot attach", "mmapguard maps -p PID"}},
		{"run -f: always followed", []string{"run", "-f", "--protect", low, "--", "true"}, []string{"unknown option -f", "follows every thread and process", "drop it"}},
		{"explain -p", []string{"explain", "-p", "1234"}, []string{"unknown option -p", "mmapguard maps -p PID"}},
		// Options of another command: what they are for (the
		// eighteenth session: "unknown option" alone).
		{"run PROGRAM --protect", []string{"run", "ls", "--protect", low}, []string{"no protected range: --protect comes after the program (ls), and so is the program's own argument", "mmapguard run --protect RANGE ... -- ls ..."}},
		{"run -- PROGRAM --protect=", []string{"run", "--", "ls", "-l", "--protect=" + low}, []string{"no protected range: --protect=" + low + " comes after the program (ls)"}},
		{"explain --place", []string{"explain", "--protect", low, "--place", "x=0x30000000"}, []string{"unknown option --place: explain takes the policy's options only", "'mmapguard inspect' shows"}},
		{"explain --owner", []string{"explain", "--protect", low, "--owner", "x"}, []string{"unknown option --owner: explain shows a policy and its filter, which --owner does not change"}},
		{"maps --strict", []string{"maps", "-p", "1", "--strict"}, []string{"unknown option --strict: maps only looks at a layout", "drop it"}},
		{"inspect --protect", []string{"inspect", "--protect", low, "/bin/true"}, []string{"unknown option --protect: inspect takes no policy", "--occupied RANGE"}},
		{"three dashes", []string{"run", "---protect", low, "--", "true"}, []string{"bad option syntax ---protect: write options as -o, --protect, --protect=RANGE (here --protect)"}},
		{"run --version", []string{"run", "--version"}, []string{"unknown option --version", "'mmapguard --version'"}},
		{"maps -V", []string{"maps", "-V"}, []string{"unknown option -V", "'mmapguard --version'"}},
		{"run --place-exe of a script", []string{"run", "--protect", low, "--place-exe", "0x30000000", "--", scriptForPlaceExe(t)}, []string{"is not an ELF executable (a script)", "-- sh SCRIPT"}},
		{"run --place-exe 0", []string{"run", "--protect", low, "--place-exe", "0", "--", "true"}, []string{"--place-exe: address 0 is below 0x10000"}},
		{"run --place-exe unaligned", []string{"run", "--protect", low, "--place-exe", "0x30000800", "--", "true"}, []string{"--place-exe: address 0x30000800 is not page-aligned", "e.g. 0x30000000"}},
		{"run --place-exe at the end of user space", []string{"run", "--protect", low, "--place-exe", "0x7ffffffff000", "--", "true"}, []string{"not below the end of user space (0x7ffffffff000)"}},
		{"run --place-exe where the program cannot fit", []string{"run", "--protect", low, "--place-exe", "0x7fffffffe000", "--", "true"},
			[]string{"--place-exe 0x7fffffffe000: ", "which does not fit below the end of user space (0x7ffffffff000): give an ADDR of at most 0x7fff"}},
		// Found only once ld.so mapped the program before: a warning,
		// and the program ran where the kernel put it.
		{"run --place-exe not a multiple of the program's p_align", []string{"run", "--protect", low, "--place-exe", "0x10001000", "--", pieAligned2M(t)},
			[]string{"--place-exe 0x10001000: ", "segments are aligned to 0x200000 (p_align)", "give an ADDR aligned to 0x200000, such as 0x10000000 or 0x10200000"}},
		{"run --place-exe across a protected range's edge", []string{"run", "--protect", low, "--place-exe", "0x7ffff000", "--", "true"},
			[]string{"--place-exe 0x7ffff000: ", "crosses the edge of the protected range 0x10000-0x80000000", "give an ADDR that puts it wholly inside it (from 0x10000 to 0x7ff", "or wholly outside it (from 0x80000000 up)"}},
		{"run --place-exe across the pool's edge", []string{"run", "--protect", low, "--place-exe", "0x1ffffffff000", "--", "true"},
			[]string{"--place-exe 0x1ffffffff000: ", "crosses the edge of the pool 0x200000000000-0x300000000000", "wholly outside it (at most 0x1ffff", "or from 0x300000000000 up)"}},
		// The pool right after the range: "outside it" named the pool's
		// start, where an image cannot go either.
		{"run --place-exe across a protected range's edge, the pool next to it", []string{"run", "--protect", low, "--pool", "0x80000000+1T", "--place-exe", "0x7ffff000", "--", "true"},
			[]string{"crosses the edge of the protected range 0x10000-0x80000000", "or wholly outside it (from 0x10080000000 up)"}},
		// A protected range that ends where the pool begins: the seam
		// between them was one guarded range, and an image across it
		// passed.
		{"run --place-exe across a protected range's seam with the pool", []string{"run", "--protect", "0x100000000000-0x200000000000", "--place-exe", "0x1ffffffff000", "--", "true"},
			[]string{"--place-exe 0x1ffffffff000: ", "crosses the edge of the protected range 0x100000000000-0x200000000000"}},
		{"run --place with an empty pattern", []string{"run", "--protect", low, "--place", "=0x30000000", "--", "true"}, []string{"empty pattern before '=': want PATTERN=ADDR, e.g. 'libfoo*.so=0x7d000000'"}},
		{"run --place without an address", []string{"run", "--protect", low, "--place", "lib.so=", "--", "true"}, []string{"missing address after '=': want PATTERN=ADDR, e.g."}},
		{"run --place with an open [", []string{"run", "--protect", low, "--place", "lib[=0x30000000", "--", "true"}, []string{`pattern "lib[": syntax error in pattern`, `write \[ for a '[' itself`}},
		{"run --place-range unaligned", []string{"run", "--protect", low, "--place-range", "0x10001-0x20000000=*.so", "--", "true"}, []string{"not page-aligned", "round the start down and the end up to a multiple of 0x1000"}},
		{"inspect --place-range without an end", []string{"inspect", "--place-range", "0x10000000-=*.so", "/bin/true"}, []string{"end: syntax: missing number", "want START-END or START+SIZE"}},
		{"run --place-file with a bad range", []string{"run", "--protect", low, "--place-file", placeFile(t, "range 0x10000000+2K *.so\n"), "--", "true"},
			[]string{"line 1: bad placement rule: range \"0x10000000+2K\": size not page-aligned", "give a SIZE that is a multiple of 4K"}},
		{"run --place-file with PATTERN=ADDR", []string{"run", "--protect", low, "--place-file", placeFile(t, "place a=0x30000000\n"), "--", "true"},
			[]string{"want 'place PATTERN ADDR', e.g. 'place libfoo*.so 0x7d000000'", "write 'place a 0x30000000'"}},
		{"inspect --place-file missing", []string{"inspect", "--place-file", "/nonexistent/wine.place", "/bin/true"}, []string{"--place-file: open /nonexistent/wine.place: no such file or directory: check the FILE's path"}},
		{"run --place-file of a directory", []string{"run", "--protect", low, "--place-file", "/tmp", "--", "true"}, []string{"--place-file: /tmp is a directory: give the placement FILE in it"}},
		{"inspect --place-file of a program", []string{"inspect", "--place-file", "/bin/true", "/bin/true"}, []string{"/bin/true: line 1: not a placement file: it is an ELF file", "a placement file is text"}},
		{"run --place-range RANGE PROGRAM", []string{"run", "--protect", low, "--place-range", "0x10000000-0x20000000", "ls"},
			[]string{`no program to run: --place-range 0x10000000-0x20000000 took "ls" as its PATTERN`, "give the rule as one argument, RANGE=PATTERN: mmapguard run ... --place-range '0x10000000-0x20000000=PATTERN' -- ls"}},
		{"inspect --place-range RANGE FILE", []string{"inspect", "--place-range", "0x10000000+1G", "/bin/true"},
			[]string{`no FILE to inspect: --place-range 0x10000000+1G took "/bin/true" as its PATTERN`, "mmapguard inspect --place-range '0x10000000+1G=PATTERN' /bin/true"}},
		{"inspect without a FILE", []string{"inspect", "--place-range", "0x10000000+1G=*.so"}, []string{"no FILE to inspect"}},
		{"run --place with a bad suffix", []string{"run", "--protect", low, "--place", "x=256Q", "--", "true"}, []string{`address "256Q" is not a number`, "K, M, G or T suffix (256M)"}},
	}
	// Policy errors: the same for run (which must stop before running
	// anything) and explain.
	policyCases := []tc{
		{"unknown option", []string{"--frobnicate"}, []string{"unknown option --frobnicate"}},
		{"unknown short option", []string{"-x"}, []string{"unknown option -x"}},
		{"unknown option with one dash", []string{"--protect", low, "-weird"}, []string{"unknown option -weird\n"}},
		{"unknown short option with two dashes", []string{"--protect", low, "--x=1"}, []string{"unknown option --x\n"}},
		{"option without its value", []string{"--protect"}, []string{"option --protect needs a value"}},
		{"bool option with a value", []string{"--protect", low, "--strict=maybe"}, []string{`invalid value "maybe" for --strict`, "takes no value"}},
		{"missing --protect", nil, []string{"no protected range", "give at least one --protect RANGE, e.g. --protect 0x10000-0x80000000"}},
		{"--pool without --protect", []string{"--pool", "none"}, []string{"no protected range", "--protect RANGE"}},
		{"unaligned range", []string{"--protect", "0x10001-0x80000000"}, []string{`--protect: range "0x10001-0x80000000": not page-aligned`, "round the start down and the end up to a multiple of 0x1000"}},
		{"unaligned size", []string{"--protect", "0x10000+100"}, []string{`range "0x10000+100": size not page-aligned`, "give a SIZE that is a multiple of 4K"}},
		{"size of half a page", []string{"--protect", "0x10000+2K"}, []string{`range "0x10000+2K": size not page-aligned`, "give a SIZE that is a multiple of 4K (0x1000)"}},
		{"hex without 0x", []string{"--protect", "10000-80000000"}, []string{"not page-aligned", "10000 and 80000000 are read as decimal: write 0x10000-0x80000000 for hexadecimal"}},
		{"hex letters without 0x", []string{"--protect", "10000-7fff0000"}, []string{`"7fff0000" is not a number (write 0x7fff0000 for hexadecimal)`}},
		{"leading 0 read as decimal", []string{"--protect", "010000-0x80000000"}, []string{"not page-aligned", "010000 is read as decimal (a leading 0 is not octal here: write 0o10000 for octal)"}},
		{"number past 64 bits", []string{"--protect", "0x10000+12345678901234567890123"}, []string{"12345678901234567890123 is too large for 64 bits", "check the number of digits"}},
		{"reversed range", []string{"--protect", "0x80000000-0x10000"}, []string{"end is below start", "give the lower address first"}},
		{"empty range", []string{"--protect", "0x10000-0x10000"}, []string{"empty range", "end is exclusive"}},
		{"range beyond user space", []string{"--protect", "0x10000-0x800000000000"}, []string{"beyond the user address space", "0x7ffffffff000 or below"}},
		{"range syntax", []string{"--protect", "low"}, []string{`range "low": syntax`, "want START-END or START+SIZE"}},
		{"range without an end", []string{"--protect", "0x10000-"}, []string{`range "0x10000-": end: syntax: missing number`, "want START-END or START+SIZE"}},
		{"size suffix on an end", []string{"--protect", "0x10000-2G"}, []string{`"2G" is not a number`, "K, M, G, T only in a SIZE"}},
		{"E suffix", []string{"--protect", "0x10000+16E"}, []string{`size: syntax: "16E": the E suffix is not supported (K, M, G, T are) (or write 0x16e for hexadecimal)` + "\n"}},
		{"blank inside a range", []string{"--protect", "0x10000+ 4K"}, []string{`range "0x10000+ 4K": syntax: a blank inside the range: write it as one word, 0x10000+4K` + "\n"}},
		{"blank before a suffix", []string{"--protect", "0x10000+1 K"}, []string{"write it as one word, 0x10000+1K"}},
		{"digit separators", []string{"--protect", "0x1_0000-0x20000"}, []string{`"0x1_0000": no '_' in a number (write 0x10000)` + "\n"}},
		{"unaligned end beyond user space", []string{"--protect", "0x10000-0xffffffffffffffff"}, []string{"beyond the user address space", "0x7ffffffff000 or below"}},
		{"zero size", []string{"--protect", "0x10000+0"}, []string{`range "0x10000+0": empty range`, "a SIZE of at least 0x1000"}},
		{"overflowing size", []string{"--protect", "0xffffffffffffffff+1"}, []string{"overflows 64 bits", "check the number of digits"}},
		{"overflowing range", []string{"--protect", "0xffffffffffff0000+1M"}, []string{"overflows", "check the number of digits"}},
		{"overlapping protected ranges", []string{"--protect", low, "--protect", "0x70000000-0x90000000"}, []string{"protected ranges 0x10000-0x80000000 and 0x70000000-0x90000000 overlap", "give their union, 0x10000-0x90000000, as one --protect"}},
		{"pool overlapping a protected range", []string{"--protect", low, "--pool", "0x70000000-0x90000000"}, []string{"pool 0x70000000-0x90000000 overlaps protected range 0x10000-0x80000000", "move the pool with --pool"}},
		{"protected range overlapping the default pool", []string{"--protect", "0x200000000000+1G"}, []string{"overlaps the default pool 0x200000000000-0x300000000000", "--pool RANGE or --pool none"}},
		{"pool at 0", []string{"--protect", "0x10000000-0x80000000", "--pool", "0x0+16M"},
			[]string{"pool 0x0-0x1000000 starts below 0x10000 (the usual vm.mmap_min_addr)", "code page, the pool's first page, would sit at NULL", "start the pool at 0x10000 or above"}},
		{"pool below 64K", []string{"--protect", "0x10000000-0x80000000", "--pool", "0x8000+16M"}, []string{"pool 0x8000-0x1008000 starts below 0x10000", "start the pool at 0x10000 or above"}},
		{"pool too small", []string{"--protect", low, "--pool", "0x100000000+1M"}, []string{"smaller than the minimum 4M", "give a larger --pool"}},
		{"malformed pool", []string{"--protect", low, "--pool", "0x100000000-0x1000"}, []string{`--pool: range "0x100000000-0x1000": end is below start`, "lower address first"}},
		{"protected range over all of user space", []string{"--protect", "0x10000-0x7ffffffff000", "--pool", "none"},
			[]string{"the protected ranges leave nothing of user space (0x10000-0x7ffffffff000) free", "leave at least 4M unprotected"}},
		{"all of user space but the pool", []string{"--protect", "0x10000-0x200000000000", "--protect", "0x300000000000-0x7ffffffff000"},
			[]string{"the protected ranges and the pool leave nothing of user space"}},
		{"user space but 8K", []string{"--protect", "0x10000-0x7fffffffd000", "--pool", "none"}, []string{"leave only 8K of user space"}},
		{"--pool-all with --pool none", []string{"--protect", low, "--pool-all", "--pool", "none"}, []string{"--pool-all needs a pool", "drop --pool none"}},
		{"too many ranges for the filter", manyRanges(200),
			[]string{"200 protected ranges (after merging adjacent ones) need a seccomp filter of", "more than the kernel takes (4096): give at most about 19"}},
	}
	for _, pc := range policyCases {
		runArgs := slices.Concat([]string{"run"}, pc.args)
		if !slices.Equal(pc.args, []string{"--protect"}) { // which would take -- for its value
			runArgs = append(runArgs, "--", "/bin/true")
		}
		cases = append(cases,
			tc{"run: " + pc.name, runArgs,
				slices.Concat(pc.want, []string{"mmapguard run: ", "Run 'mmapguard run --help' for usage."})},
			tc{"explain: " + pc.name, slices.Concat([]string{"explain"}, pc.args),
				slices.Concat(pc.want, []string{"mmapguard explain: ", "Run 'mmapguard explain --help' for usage."})})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := callMain(c.args...)
			if r.code != exitUsage || r.stdout != "" {
				t.Fatalf("mmapguard %q: want exit 2 and nothing on stdout; got %v", c.args, r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("mmapguard %q: stderr lacks %q:\n%s", c.args, w, r.stderr)
				}
			}
		})
	}
}

// TestOptionGivenOnce: an option that takes one value is refused when
// given twice (naming both values) or empty, as maps -p is, rather than
// keeping the last value or reading "" as the option left out; and a
// bad value is said before what else it needs.
func TestOptionGivenOnce(t *testing.T) {
	const low = "0x10000-0x80000000"
	dir := t.TempDir()
	l1, l2 := filepath.Join(dir, "l1"), filepath.Join(dir, "l2")
	for _, c := range []struct {
		args      []string
		want, not string
	}{
		{[]string{"run", "--protect", low, "-o", "", "--", "true"}, `-o "": an empty FILE: give -o a FILE to write the log to, or leave -o out for no log`, ""},
		{[]string{"explain", "--protect", low, "-o", ""}, `-o "": an empty FILE: give -o a FILE, or leave -o out to write to standard output`, ""},
		{[]string{"run", "--protect", low, "--pool", "", "--", "true"}, `--pool "": an empty RANGE: give --pool a RANGE, or none for no pool; leave --pool out for the default (0x200000000000-0x300000000000)`, ""},
		{[]string{"explain", "--protect", low, "--pool", " "}, `an empty RANGE: give --pool a RANGE, or none`, ""},
		{[]string{"maps", "-p", "1", "--pool", ""}, `--pool "": an empty RANGE: give --pool a RANGE; leave --pool out (or give none) for no pool`, ""},
		{[]string{"run", "--protect", low, "--place-exe", "", "--", "true"}, `--place-exe "": an empty ADDR`, ""},
		{[]string{"run", "--protect", low, "-o", l1, "-o", l2, "--", "true"},
			`-o: given twice ("` + l1 + `", then "` + l2 + `"): it takes one value, and keeping only the last would leave the other unused, unseen; give -o once`, ""},
		{[]string{"explain", "--protect", low, "-o", l1, "-o", l2}, `-o: given twice ("` + l1 + `", then "` + l2 + `")`, ""},
		{[]string{"run", "--protect", low, "--pool", "0x100000000+1G", "--pool", "0x200000000+1G", "--", "true"},
			`--pool: given twice ("0x100000000+1G", then "0x200000000+1G")`, ""},
		{[]string{"explain", "--protect", low, "--pool", "none", "--pool", "0x200000000+1G"}, `--pool: given twice ("none", then "0x200000000+1G")`, ""},
		{[]string{"maps", "-p", "1", "--pool", "none", "--pool", "0x200000000+1G"}, `--pool: given twice ("none", then "0x200000000+1G")`, ""},
		{[]string{"run", "--protect", low, "--place-exe", "0x30000000", "--place-exe", "0x40000000", "--", "true"},
			`--place-exe: given twice ("0x30000000", then "0x40000000")`, ""},
		{[]string{"run", "--protect", low, "-o", l1, "--log-format", "json", "--log-format", "text", "--", "true"},
			`--log-format: given twice ("json", then "text")`, ""},
		{[]string{"run", "--protect", low, "--log-format", "bogus", "--", "true"}, `--log-format "bogus": want text or json`, "give -o FILE too"},
		{[]string{"run", "--protect", low, "--log-format", "", "--", "true"}, `--log-format "": an empty FORMAT: want text or json`, "give -o FILE too"},
	} {
		r := callMain(c.args...)
		if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, c.want) || (c.not != "" && strings.Contains(r.stderr, c.not)) {
			t.Errorf("mmapguard %q: want exit 2 and %q on stderr (without %q); got %v", c.args, c.want, c.not, r)
		}
	}
	for _, f := range []string{l1, l2} {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s was written by a command line that was refused", f)
		}
	}
}

// TestOptionValueIsOption: an option that takes a value does not take
// "--" or another option of the command for it, as the flag package
// (and getopt) would: until the eighteenth session `run -o -- prog`
// and `run -o -q -- prog` ran prog with a log file named "--" or "-q",
// without a word, and `--protect --` said "missing number".
func TestOptionValueIsOption(t *testing.T) {
	const low = "0x10000-0x80000000"
	dir := t.TempDir()
	t.Chdir(dir)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--protect", low, "-o", "--", "true"}, `-o: took "--", the end of the options, for its value: give -o its FILE before --`},
		{[]string{"run", "--protect", low, "-o", "-q", "--", "true"}, `-o: took "-q", an option of mmapguard run, for its value: give -o its FILE (a FILE of that name as ./-q)`},
		{[]string{"run", "-o", "--trace-all", "--protect", low, "--", "true"}, `-o: took "--trace-all", an option of mmapguard run`},
		{[]string{"run", "--protect", "--", "true"}, `--protect: took "--", the end of the options, for its value: give --protect its RANGE before --`},
		{[]string{"run", "--protect", low, "--pool", "--pool-all", "--", "true"}, `--pool: took "--pool-all", an option of mmapguard run, for its value: give --pool its RANGE` + "\n"},
		{[]string{"run", "--protect", low, "--owner", "-h", "--", "true"}, `--owner: took "-h", an option of mmapguard run`},
		{[]string{"explain", "--protect", low, "-o", "-q"}, `-o: took "-q", an option of mmapguard explain`},
		{[]string{"maps", "-p", "-c"}, `-p: took "-c", an option of mmapguard maps, for its value: give -p its PID` + "\n"},
		{[]string{"inspect", "--place", "--", "/bin/true"}, `--place: took "--", the end of the options`},
	} {
		r := callMain(c.args...)
		if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
			t.Errorf("mmapguard %q: want exit 2 and %q on stderr; got %v", c.args, c.want, r)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) > 0 {
		t.Errorf("refused command lines left %v", ents)
	}
	// A FILE that starts with '-' is still given as ./NAME, or with
	// '=' when it is not one of the command's options.
	for _, name := range []string{"./-q", "-log"} {
		if r := callMain("explain", "--protect", low, "-q", "-o="+name); r.code != 0 {
			t.Errorf("explain -o=%s: %v", name, r)
		}
		if _, err := os.Stat(name); err != nil {
			t.Errorf("explain -o=%s: %v", name, err)
		}
	}
}

// TestPoolBelowMinAddr: where vm.mmap_min_addr is above the usual 64
// KiB, a pool that starts below it is refused by every command that
// takes one, as root too, and one that starts at it is not.
func TestPoolBelowMinAddr(t *testing.T) {
	defer func(f func() (uint64, bool)) { mmapMinAddr = f }(mmapMinAddr)
	mmapMinAddr = func() (uint64, bool) { return 0x20000, true }
	const prot = "0x10000000-0x80000000"
	for _, args := range [][]string{
		{"run", "--protect", prot, "--pool", "0x10000+16M", "--", "/bin/true"},
		{"explain", "-q", "--protect", prot, "--pool", "0x10000+16M"},
		{"maps", "-p", strconv.Itoa(os.Getpid()), "--protect", prot, "--pool", "0x10000+16M"},
	} {
		r := callMain(args...)
		if r.code != exitUsage || r.stdout != "" ||
			!strings.Contains(r.stderr, "pool 0x10000-0x1010000 starts below vm.mmap_min_addr (0x20000)") ||
			!strings.Contains(r.stderr, "start the pool at 0x20000 or above") {
			t.Errorf("mmapguard %q with vm.mmap_min_addr 0x20000: want exit 2 and the pool refused; got %v", args, r)
		}
	}
	if r := callMain("explain", "-q", "--protect", prot, "--pool", "0x20000+16M"); r.code != 0 {
		t.Errorf("a pool at vm.mmap_min_addr: %v", r)
	}
}

// TestPolicyRoomInPool: with --pool-all, the pool is room enough for
// the program's own mappings, whatever the protected ranges cover.
func TestPolicyRoomInPool(t *testing.T) {
	r := callMain("explain", "-q", "--protect", "0x10000-0x200000000000", "--protect", "0x300000000000-0x7ffffffff000", "--pool-all")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("everything but the pool protected, --pool-all: want exit 0; got %v", r)
	}
}

// TestRunSummaryFileUnwritable: a summary file that cannot be created is
// mmapguard's own error (status 1), found before the program runs.
func TestRunSummaryFileUnwritable(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "ran")
	bad := filepath.Join(t.TempDir(), "no-such-dir", "summary")
	r := callMain("run", "--protect", "0x10000-0x80000000", "-o", bad, "--", "/usr/bin/touch", marker)
	if r.code != exitError || !strings.Contains(r.stderr, "log file (-o)") || !strings.Contains(r.stderr, bad) {
		t.Fatalf("want exit 1 and a message naming the log file; got %v", r)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the program ran although the summary file could not be created")
	}
}

func TestExplainPolicy(t *testing.T) {
	type tc struct {
		args []string
		want []string // lines, each must appear (after trimming trailing blanks)
		not  []string // substrings that must not appear
	}
	cases := []tc{
		{[]string{"--protect", "0x10000-0x80000000"}, []string{
			"Policy",
			"  protected  0x10000-0x80000000               2.0G",
			"  pool       0x200000000000-0x300000000000    16T (default)",
			"  code page  0x200000000000-0x200000001000    mmapguard's, for one-stop rewrites of 64-bit calls (reserved until the first)",
			"  pool-all   false",
			"  strict     false",
			"What mapping calls become",
			"  mmap without an address                            left to the kernel, which can no longer choose a guarded range",
			"  mmap MAP_32BIT without an address                  ENOMEM: the kernel places it at 1-2 GiB, all guarded (mmapguard warns)",
			"  mmap MAP_32BIT at a guarded address, or above 2G   ENOMEM: the kernel gives it only a free address below 2 GiB, else 1-2 GiB (mmapguard warns)",
			"  mmap with a hint inside a protected range          moved into the pool",
			"  MAP_FIXED / MAP_FIXED_NOREPLACE inside             honoured at exactly that address",
			"  clone3                                             ENOSYS (the C library falls back to clone)",
		}, nil},
		{[]string{"--protect", "0x10000-0x80000000", "--pool", "0x100000000000+1G", "--strict"}, []string{
			"  pool       0x100000000000-0x100040000000    1G",
			"  strict     true",
			"  MAP_FIXED / MAP_FIXED_NOREPLACE inside             refused with EPERM (--strict)",
		}, []string{"(default)"}},
		{[]string{"--protect", "0x10000-0x80000000", "--pool", "none"}, []string{
			"  pool       none: hints into a protected range are dropped (the kernel chooses)",
			"  code page  0x1ffffffff000-0x200000000000    mmapguard's, for one-stop rewrites of 64-bit calls (reserved until the first)",
			"  mmap with a hint inside a protected range          moved to the kernel's choice, outside every protected range",
		}, []string{"moved into the pool"}},
		{[]string{"--protect", "0x10000-0x80000000", "--pool-all"}, []string{
			"  pool-all   true",
			"  mmap without an address                            placed in the pool",
		}, nil},
		{[]string{"--protect", "0x10000-0x7fff0000"}, []string{
			"  protected  0x10000-0x7fff0000               2.0G",
		}, []string{"MAP_32BIT"}},
		// Adjacent ranges are merged, any order is sorted.
		{[]string{"--protect", "0x40000000+1G", "--protect", "0x10000-0x40000000", "--protect", "0x100000000+4K"}, []string{
			"  protected  0x10000-0x80000000               2.0G",
			"  protected  0x100000000-0x100001000          4K",
		}, []string{"0x40000000-"}},
	}
	for _, c := range cases {
		r := callMain(append([]string{"explain"}, c.args...)...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("explain %v: %v", c.args, r)
			continue
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(r.stdout, "\n") {
			lines[strings.TrimRight(l, " ")] = true
		}
		for _, w := range c.want {
			if !lines[w] {
				t.Errorf("explain %v: no line %q in:\n%s", c.args, w, r.stdout)
			}
		}
		for _, n := range c.not {
			if strings.Contains(r.stdout, n) {
				t.Errorf("explain %v: %q should not appear in:\n%s", c.args, n, r.stdout)
			}
		}
	}
}

var (
	filterLine = regexp.MustCompile(`(?m)^Seccomp filter: (\d+) instructions \(limit (\d+)\); (.*)$`)
	insnLine   = regexp.MustCompile(`(?m)^ *(\d+): \S`)
)

// TestExplainFilter: the filter's size is the one seccomp builds for the
// policy, the disassembly has that many instructions numbered from 0,
// -q leaves the disassembly out, --trace-all shows the other filter.
func TestExplainFilter(t *testing.T) {
	args := []string{"--protect", "0x10000-0x80000000", "--protect", "0x100000000+1G"}
	pf := policyFlags{}
	fs := newFlagSet("x", "")
	pf.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	p, err := pf.policy()
	if err != nil {
		t.Fatal(err)
	}
	for _, trapAll := range []bool{false, true} {
		sp := filterPolicy(p)
		sp.TrapAll = trapAll
		prog, err := seccomp.Build(sp)
		if err != nil {
			t.Fatal(err)
		}
		ea := append([]string{"explain"}, args...)
		mode := "calls that cannot touch a guarded range are allowed in the kernel"
		if trapAll {
			ea = append(ea, "--trace-all")
			mode = "every mapping call stops in the tracer"
		}
		r := callMain(ea...)
		m := filterLine.FindStringSubmatch(r.stdout)
		if r.code != 0 || m == nil {
			t.Fatalf("%v: no filter line in %v", ea, r)
		}
		if m[1] != strconv.Itoa(prog.Len()) || m[2] != strconv.Itoa(seccomp.MaxInstructions) || m[3] != mode {
			t.Errorf("%v: filter line %q, want %d instructions (limit %d); %s", ea, m[0], prog.Len(), seccomp.MaxInstructions, mode)
		}
		insns := insnLine.FindAllStringSubmatch(r.stdout, -1)
		if len(insns) != prog.Len() {
			t.Errorf("%v: %d disassembled instructions, want %d", ea, len(insns), prog.Len())
		}
		for i, in := range insns {
			if in[1] != strconv.Itoa(i) {
				t.Errorf("%v: instruction %d numbered %s", ea, i, in[1])
				break
			}
		}
		if !strings.HasSuffix(r.stdout, prog.Disassemble()) {
			t.Errorf("%v: the output does not end with the filter's disassembly", ea)
		}

		q := callMain(append(ea, "-q")...)
		if q.code != 0 || insnLine.MatchString(q.stdout) || !filterLine.MatchString(q.stdout) {
			t.Errorf("%v -q: want the filter's size without its disassembly; got %v", ea, q)
		}
		if !strings.HasPrefix(r.stdout, q.stdout) {
			t.Errorf("%v -q: its output should be the start of the full output", ea)
		}
	}
}

func TestExplainOutputFile(t *testing.T) {
	args := []string{"explain", "--protect", "0x10000-0x80000000"}
	want := callMain(args...)
	for _, extra := range [][]string{nil, {"-q"}} {
		file := filepath.Join(t.TempDir(), "explain.txt")
		a := append(append(append([]string{}, args...), extra...), "-o", file)
		r := callMain(a...)
		if r.code != 0 || r.stdout != "" || r.stderr != "" {
			t.Fatalf("%v: want exit 0 and nothing on stdout or stderr; got %v", a, r)
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		w := want.stdout
		if extra != nil {
			w = callMain(append(append([]string{}, args...), extra...)...).stdout
		}
		if string(got) != w {
			t.Errorf("%v: the file holds\n%s\nwant what stdout shows without -o:\n%s", a, got, w)
		}
	}
	bad := filepath.Join(t.TempDir(), "no-such-dir", "x")
	r := callMain(append(args, "-o", bad)...)
	if r.code != exitError || !strings.Contains(r.stderr, bad) {
		t.Errorf("explain -o into a missing directory: want exit 1 and the path named; got %v", r)
	}
}

// TestExplainOutputFileKept: explain -o replaces FILE whole or not at
// all: a write that fails (here past the file size limit, as on a full
// disk) leaves an existing FILE as it was and nothing beside it; one
// that succeeds keeps its permissions, and a symbolic link stays one.
func TestExplainOutputFileKept(t *testing.T) {
	mg := mmapguardBin(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "explain.txt")
	if err := os.WriteFile(file, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o640); err != nil { // whatever the umask
		t.Fatal(err)
	}
	// 512 bytes at most (ulimit -f counts 512-byte blocks); the Go
	// runtime leaves SIGXFSZ unhandled, so the write fails with EFBIG.
	r := runBin(t, "sh", nil, "-c", `ulimit -f 1 && exec "$0" "$@"`, mg, "explain", "--protect", lowRange, "-o", file)
	if r.code != exitError || !strings.Contains(r.stderr, "mmapguard explain: -o: writing "+file+": file too large") {
		t.Errorf("explain -o past the file size limit: want exit 1 and the write error; got %v", r)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "old\n" {
		t.Errorf("explain -o that failed to write: the file holds %q (%v), want its old contents", b, err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
		t.Errorf("explain -o that failed to write left %v (%v) in the directory, want only the file", ents, err)
	}

	link := filepath.Join(dir, "link")
	if err := os.Symlink("explain.txt", link); err != nil {
		t.Fatal(err)
	}
	want := callMain("explain", "-q", "--protect", lowRange).stdout
	if r := callMain("explain", "-q", "--protect", lowRange, "-o", link); r.code != 0 || r.stderr != "" {
		t.Fatalf("explain -o through a link: %v", r)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != want {
		t.Errorf("explain -o LINK: the file it names holds %q (%v), want the explanation", b, err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("explain -o LINK replaced the link itself (%v, %v)", st, err)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("explain -o of a 0640 file: now %v (%v), want its permissions kept", st, err)
	}
	if r := callMain("explain", "-q", "--protect", lowRange, "-o", dir); r.code != exitError || !strings.Contains(r.stderr, dir+" is a directory") {
		t.Errorf("explain -o DIR: want exit 1 and 'is a directory'; got %v", r)
	}
}

// TestExplainOutputAsShell: explain -o writes only where a shell's
// `> FILE` would. A file of root's, 0644, in a directory anyone may
// write, is refused to another user (it was replaced by a rename and
// became that user's); a symbolic link to a file that does not exist yet
// stays a link and its file is created (the link was replaced by a
// file); a file with two names keeps both (a rename broke the link).
func TestExplainOutputAsShell(t *testing.T) {
	dir, mg, nobody := nobodyCopy(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	want := callMain("explain", "-q", "--protect", lowRange).stdout
	rootFile := filepath.Join(dir, "root.txt")
	if err := os.WriteFile(rootFile, []byte("root's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runBin(t, mg, func(c *exec.Cmd) { c.SysProcAttr = nobody; c.Dir = dir }, "explain", "-q", "--protect", lowRange, "-o", rootFile)
	if r.code != exitError || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("explain -o of root's file as uid 65534: want exit 1 and 'permission denied'; got %v", r)
	}
	if b, err := os.ReadFile(rootFile); err != nil || string(b) != "root's\n" {
		t.Errorf("root's file now holds %q (%v), want it untouched", b, err)
	}
	if st, err := os.Stat(rootFile); err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("root's file: %v (%v), want it still root's", st, err)
	}

	link, target := filepath.Join(dir, "dangling"), filepath.Join(dir, "later.txt")
	if err := os.Symlink("later.txt", link); err != nil {
		t.Fatal(err)
	}
	if r := callMain("explain", "-q", "--protect", lowRange, "-o", link); r.code != 0 {
		t.Fatalf("explain -o through a dangling link: %v", r)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("explain -o of a dangling link replaced the link (%v, %v)", st, err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != want {
		t.Errorf("the link's file holds %q (%v), want the explanation", b, err)
	}

	// A pipe through the kernel's own link is written as it is (the
	// first form followed the link by hand to "pipe:[N]", a file that
	// does not exist, and failed).
	if r := runBin(t, mg, nil, "explain", "-q", "--protect", lowRange, "-o", "/dev/stdout"); r.code != 0 || r.stdout != want {
		t.Errorf("explain -o /dev/stdout into a pipe: %v\nwant the explanation on stdout", r)
	}

	one, two := filepath.Join(dir, "one.txt"), filepath.Join(dir, "two.txt")
	if err := os.WriteFile(one, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(one, two); err != nil {
		t.Fatal(err)
	}
	if r := callMain("explain", "-q", "--protect", lowRange, "-o", one); r.code != 0 {
		t.Fatalf("explain -o of a file with two names: %v", r)
	}
	if b, err := os.ReadFile(two); err != nil || string(b) != want {
		t.Errorf("its other name holds %q (%v), want the explanation", b, err)
	}
}

func TestFlagError(t *testing.T) {
	// The flag package's messages this rewording depends on: if Go
	// changes them, flagError passes them through unchanged.
	for in, want := range map[string]string{
		"flag provided but not defined: -frob":                       "unknown option --frob",
		"flag provided but not defined: -x":                          "unknown option -x",
		"flag needs an argument: -o":                                 "option -o needs a value",
		`invalid value "a b" for flag -protect: range "a b": syntax`: `--protect: range "a b": syntax`,
		`invalid boolean value "x" for -q: parse error`:              `invalid value "x" for -q: it takes no value (or =true, =false)`,
		`invalid value "abc" for flag -n: parse error`:               `-n "abc": not a number`,
		`invalid value "1e99" for flag -n: value out of range`:       `-n "1e99": out of range`,
		"something else": "something else",
	} {
		if got := flagError(errorString(in)); got != want {
			t.Errorf("flagError(%q) = %q, want %q", in, got, want)
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// TestVersion: --version and -V print one line naming mmapguard and
// the Go release it was built with, and exit 0.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"--version", "-V"} {
		r := callMain(arg)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "mmapguard ") || !strings.Contains(r.stdout, "go1.") ||
			strings.Count(r.stdout, "\n") != 1 || r.stderr != "" {
			t.Errorf("%s: %v", arg, r)
		}
	}
}

// TestHelpListsEveryFlag: every flag a command defines, found in its
// flag set rather than in a list kept by hand, is in its --help: in
// the synopsis, under Options with its description and, when it has
// one, its default; and every command's help has examples and says
// what its exit statuses mean.
func TestHelpListsEveryFlag(t *testing.T) {
	var made []*flag.FlagSet
	flagSetMade = func(fs *flag.FlagSet) { made = append(made, fs) }
	defer func() { flagSetMade = nil }()
	for _, c := range commands {
		made = nil
		r := callMain(c.name, "--help")
		if r.code != 0 {
			t.Fatalf("%s --help: %v", c.name, r)
		}
		synopsis, rest, _ := strings.Cut(r.stdout, "\n\n")
		for _, want := range []string{"\nExamples:\n  mmapguard " + c.name, "\nExit status:\n"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%s --help lacks %q:\n%s", c.name, want, r.stdout)
			}
		}
		if c.name == "help" {
			continue // it has no flags but -h
		}
		if len(made) != 1 {
			t.Fatalf("%s --help made %d flag sets, want 1", c.name, len(made))
		}
		_, options, _ := strings.Cut(rest, "\nOptions:\n")
		options, _, _ = strings.Cut(options, "\nExamples:\n")
		n := 0
		made[0].VisitAll(func(f *flag.Flag) {
			n++
			name := optionName(f.Name)
			if !regexp.MustCompile(`[\[ ]` + regexp.QuoteMeta(name) + `[\] =]`).MatchString(synopsis + " ") {
				t.Errorf("%s --help: the synopsis does not show %s:\n%s", c.name, name, synopsis)
			}
			arg, _ := flag.UnquoteUsage(f)
			entry := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(strings.TrimSpace(name+" "+arg)) + `\n {8}(\S.*)$`).FindStringSubmatch(options)
			if entry == nil {
				t.Errorf("%s --help: %s is not under Options with its description:\n%s", c.name, name, options)
				return
			}
			if d := f.DefValue; d != "" && d != "false" && d != "0" && !strings.Contains(entry[1], "(default "+d+")") {
				t.Errorf("%s --help: %s does not show its default %q: %s", c.name, name, d, entry[1])
			}
		})
		n++ // -h, --help, which the flag package handles itself
		if got := len(optionLine.FindAllString(options, -1)); got != n {
			t.Errorf("%s --help: %d options listed, the flag set has %d:\n%s", c.name, got, n, options)
		}
	}
}

// fullWriter fails every write, as /dev/full does.
type fullWriter struct{}

func (fullWriter) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestOutputWriteError: output that cannot be written makes a command
// that would have succeeded fail with status 1 and say so (maps with 2:
// its 1 says a mapping collides, and a script's check took the lost
// layout for a collision); explain's -o FILE likewise, naming -o.
func TestOutputWriteError(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"--version"}, {"help", "run"}, {"run", "--help"},
		{"explain", "--protect", "0x10000-0x80000000"},
		{"maps", "-p", strconv.Itoa(os.Getpid())},
		{"inspect", "/bin/true"},
	} {
		var errb bytes.Buffer
		code := Main(args, fullWriter{}, &errb)
		want := exitError
		if args[0] == "maps" {
			want = exitUsage
		}
		if code != want || !strings.Contains(errb.String(), "writing standard output: no space left on device") {
			t.Errorf("mmapguard %q > /dev/full: want exit %d and the write error; got exit %d, stderr %q", args, want, code, errb.String())
		}
	}
	r := callMain("explain", "--protect", "0x10000-0x80000000", "-o", "/dev/full")
	if r.code != exitError || !strings.Contains(r.stderr, "mmapguard explain: -o: writing /dev/full") {
		t.Errorf("explain -o /dev/full: want exit 1 naming -o; got %v", r)
	}
	r = callMain("explain", "--protect", "0x10000-0x80000000", "-o", filepath.Join(t.TempDir(), "missing", "x"))
	if r.code != exitError || !strings.Contains(r.stderr, "mmapguard explain: -o: open ") {
		t.Errorf("explain -o in a missing directory: want exit 1 naming -o; got %v", r)
	}
}

// pipeWriter fails every write as a pipe whose reader has gone does
// (with SIGPIPE caught or ignored).
type pipeWriter struct{}

func (pipeWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

// TestOutputBrokenPipe: output piped to a reader that has gone (| head
// -1) ends every command alike, silently, of SIGPIPE (status 141), as
// other tools end: not with status 1 and a message, which run's --help
// gave when run had caught SIGPIPE before writing.
func TestOutputBrokenPipe(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"--version"}, {"help", "run"}, {"run", "--help"},
		{"explain", "--protect", "0x10000-0x80000000"},
		{"inspect", "/bin/true"},
	} {
		var errb bytes.Buffer
		code, sig := run(args, pipeWriter{}, &errb)
		if code != 128+int(syscall.SIGPIPE) || sig != syscall.SIGPIPE || errb.Len() != 0 {
			t.Errorf("mmapguard %q | (reader gone): want death by SIGPIPE (141) and nothing on stderr; got exit %d, signal %d, stderr %q", args, code, sig, errb.String())
		}
	}
}

// placeFile writes a placement file holding text.
func placeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// manyRanges returns n --protect options of one page each, apart.
func manyRanges(n int) []string {
	var args []string
	for i := range n {
		args = append(args, "--protect", fmt.Sprintf("%#x+4K", 0x10000000+i*0x2000))
	}
	return args
}

// pieAligned2M builds a PIE whose segments are aligned to 2 MiB.
func pieAligned2M(t *testing.T) string {
	dir := t.TempDir()
	src := filepath.Join(dir, "p.c")
	if err := os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "pie2m")
	if out, err := exec.Command("cc", "-pie", "-fPIE", "-Wl,-z,max-page-size=0x200000", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	return bin
}

// scriptForPlaceExe writes a shell script for --place-exe to refuse.
func scriptForPlaceExe(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho a script long enough to fill an ELF header, and more than that\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
