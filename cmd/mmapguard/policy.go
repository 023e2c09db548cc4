package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/mmapguard/mmapguard/internal/procfile"
	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// errHelpShown ends a subcommand after it printed its --help.
var errHelpShown = errors.New("help shown")

// policyFlags are the options that describe a policy, shared by every
// subcommand that enforces or shows one.
type policyFlags struct {
	protect []region.Range
	pool    string
	poolAll bool
	strict  bool
}

func (pf *policyFlags) register(fs *flag.FlagSet) {
	fs.Func("protect", "keep `RANGE` free of mappings nobody asked for there (repeatable)", func(s string) error {
		r, err := region.ParseRange(s)
		if err != nil {
			return rangeHint(err)
		}
		pf.protect = append(pf.protect, r)
		return nil
	})
	oneValueVar(fs, &pf.pool, "pool", "", "put rerouted mappings in `RANGE` (at least 4M, from 0x10000 up); 'none' for no pool (default "+rewrite.DefaultPool.String()+")",
		"an empty RANGE: give --pool a RANGE, or none for no pool; leave --pool out for the default ("+rewrite.DefaultPool.String()+")", nil)
	fs.BoolVar(&pf.poolAll, "pool-all", false, "place every mapping made without an address in the pool, first fit (the same addresses on every run for the same calls); hints away from the guarded ranges are honoured")
	fs.BoolVar(&pf.strict, "strict", false, "refuse with EPERM explicit placements inside protected ranges (MAP_FIXED, MAP_FIXED_NOREPLACE, MREMAP_FIXED, shmat at an address); run the program without CAP_SYS_PTRACE")
}

// policy assembles the rewrite policy the flags describe.
func (pf *policyFlags) policy() (*rewrite.Policy, error) {
	if len(pf.protect) == 0 {
		return nil, usagef("no protected range: give at least one --protect RANGE, e.g. --protect 0x10000-0x80000000")
	}
	pool := rewrite.DefaultPool
	switch p := strings.TrimSpace(pf.pool); p {
	case "":
		// Keep the default unless a protected range needs its place.
		for _, r := range pf.protect {
			if r.Overlaps(pool) {
				return nil, usagef("protected range %v overlaps the default pool %v: choose one with --pool RANGE or --pool none", r, pool)
			}
		}
	case "none":
		pool = region.Range{}
	default:
		r, err := region.ParseRange(p)
		if err != nil {
			return nil, usagef("--pool: %v", rangeHint(err))
		}
		pool = r
	}
	if pf.poolAll && pool.Empty() {
		return nil, usagef("--pool-all needs a pool: drop --pool none")
	}
	p, err := newPolicy(pf.protect, pool, pf.poolAll, pf.strict)
	if err != nil {
		return nil, err
	}
	if err := leavesRoom(p); err != nil {
		return nil, err
	}
	// Here, not in run alone: explain promises status 2 for a policy
	// run would refuse, and printed this one.
	if err := belowMinAddr(p); err != nil {
		return nil, err
	}
	return p, nil
}

// newPolicy is rewrite.NewPolicy with its errors made usage errors, and
// with the one check of the ranges that needs the system's settings: a
// pool that starts below vm.mmap_min_addr, where that is above the
// usual 64 KiB NewPolicy holds every pool to. Every command that takes
// ranges checks them here (maps too, which enforces nothing), so that
// they all refuse the same ranges with the same words.
func newPolicy(protect []region.Range, pool region.Range, poolAll, strict bool) (*rewrite.Policy, error) {
	p, err := rewrite.NewPolicy(protect, pool, poolAll, strict)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if lowest, ok := mmapMinAddr(); ok && p.HasPool() && p.Pool.Start < lowest {
		start, _ := region.PageUp(lowest)
		return nil, usagef("pool %v starts below vm.mmap_min_addr (%#x), the lowest address a program without CAP_SYS_RAWIO may map, so that NULL pointers (plus an offset) fault: the pool's pages would be handed out as mappings there, the guard's code page first; start the pool at %#x or above",
			p.Pool, lowest, start)
	}
	return p, nil
}

// mmapMinAddr is vm.mmap_min_addr; ok is false when it cannot be read
// (the kernel will say what it refuses) or is 0. Read once (run asks
// twice at every start); a variable, which tests set to other values.
var mmapMinAddr = sync.OnceValues(func() (lowest uint64, ok bool) {
	b, err := procfile.Read("/proc/sys/vm/mmap_min_addr")
	if err != nil {
		return 0, false
	}
	lowest, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return lowest, err == nil && lowest != 0
})

// leavesRoom refuses a policy that leaves the program nowhere to map:
// the kernel places what is mapped without an address (the loader's
// libraries, malloc's arenas, thread stacks) outside the guarded
// ranges, and with none of user space left every such mapping fails
// and the program dies before main (a protected range over all of
// user space). With --pool-all those mappings go to the pool, which
// then counts as room.
func leavesRoom(p *rewrite.Policy) error {
	room := roomLeft(p)
	if room >= rewrite.MinPool {
		return nil
	}
	what := roomTakers(p)
	left := "nothing"
	if room > 0 {
		left = "only " + region.FormatSize(room)
	}
	return usagef("%s leave %s of user space (%#x-%#x) free for the program's own mappings, where the loader, malloc and thread stacks need room: leave at least %s unprotected (e.g. end the range at 0x7f0000000000)",
		what, left, usualMinAddr, region.UserEnd, region.FormatSize(rewrite.MinPool))
}

// usualMinAddr is the kernel's usual vm.mmap_min_addr.
const usualMinAddr = 0x10000

// roomLeft is how much of user space, from the kernel's usual
// vm.mmap_min_addr up, the policy leaves the kernel to place what is
// mapped without an address in (the pool too, with --pool-all).
func roomLeft(p *rewrite.Policy) uint64 {
	var free region.Set
	free.Add(region.Range{Start: usualMinAddr, End: region.UserEnd})
	for _, r := range p.Guarded() {
		free.Remove(r)
	}
	if p.PoolAll {
		free.Add(p.Pool)
	}
	return free.Total()
}

// roomTakers names what takes user space from the program in p.
func roomTakers(p *rewrite.Policy) string {
	if p.HasPool() && !p.PoolAll {
		return "the protected ranges and the pool"
	}
	return "the protected ranges"
}

// littleRoom is the room below which run warns (see roomWarning):
// Java reserves its heap, a quarter of the machine's memory, and a
// class space of 1 GiB at its start.
const littleRoom = 16 << 30

// roomWarning is a warning for a policy that leaves the program less
// than littleRoom of user space, or "": leavesRoom refuses less than
// 4 MiB, but above that a program that needs more fails at its start
// in its own words, with none from the guard (the mappings fail in the
// kernel, unseen): python3 with 8 MiB left, "failed to map segment
// from shared object", status 127; java -version with 64 MiB, killed
// by SIGSEGV with nothing printed.
func roomWarning(p *rewrite.Policy) string {
	room := roomLeft(p)
	if room >= littleRoom {
		return ""
	}
	return fmt.Sprintf("%s leave only %s of user space free for the program's own mappings: a program whose libraries, "+
		"heap, thread stacks and reservations need more fails at its start, in its own words (ld.so: \"failed to map "+
		"segment from shared object\"; Java: \"Could not reserve enough space for object heap\", or SIGSEGV; Go: "+
		"\"failed to reserve page summary memory\"; V8: \"Failed to reserve virtual memory\"): if it does, protect less",
		roomTakers(p), region.FormatSize(room))
}

// rangeHint adds to a range's parse error what to do about it (a syntax
// error already says).
func rangeHint(err error) error {
	hint := ""
	switch {
	case errors.Is(err, region.ErrMeantHex):
		// (It says what to write.)
	case errors.Is(err, region.ErrUnalignedSize):
		hint = "give a SIZE that is a multiple of 4K (0x1000), e.g. START+4K"
	case errors.Is(err, region.ErrUnaligned):
		hint = "round the start down and the end up to a multiple of 0x1000"
	case errors.Is(err, region.ErrReversed):
		hint = "give the lower address first"
	case errors.Is(err, region.ErrEmpty):
		hint = "the end is exclusive: give an end above the start, or START+SIZE with a SIZE of at least 0x1000"
	case errors.Is(err, region.ErrBeyondUser):
		hint = "end the range at 0x7ffffffff000 or below"
	case errors.Is(err, region.ErrOverflow):
		hint = "check the number of digits"
	case errors.Is(err, region.ErrSyntax) && !saysWhatToWrite(err.Error()):
		hint = "want START-END or START+SIZE, e.g. 0x10000-0x80000000 or 0x10000+2G (K, M, G, T only in a SIZE)"
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w; %s", err, hint)
}

// saysWhatToWrite reports whether a range's syntax error already says
// what to write (the forms, the range without its blanks, the number
// without its '_', the suffixes there are): the forms and an example
// after it would only repeat it.
func saysWhatToWrite(msg string) bool {
	for _, s := range []string{"want START", "write it as one word", "no '_' in a number", "suffix is not supported"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// filterPolicy is the seccomp side of a policy: which calls the kernel
// may settle alone.
// filterTooLarge turns the error of a seccomp filter too large for the
// kernel (too many protected ranges) into a usage error, status 2, that
// says how many --protect ranges fit: run would refuse the policy, and
// explain promises status 2 for that (both ended with 1, and "about 388
// ranges in all would fit" of a policy where some 193 did: the
// eighteenth session). nil for any other error.
func filterTooLarge(err error) error {
	var tl *seccomp.TooLargeError
	if !errors.As(err, &tl) {
		return nil
	}
	// The estimate counts guarded and protected ranges alike; a
	// --protect range is one of each, the pool a guarded one more.
	fit := tl.Fit
	if all := tl.Guarded + tl.Protected; all > 0 {
		fit = tl.Fit * tl.Protected / all
	}
	return usagef("%d protected ranges (after merging adjacent ones) need a seccomp filter of %d instructions, more than the kernel takes (%d): give at most about %d --protect ranges; one range over several and the gaps between them counts as one",
		tl.Protected, tl.Instructions, seccomp.MaxInstructions, fit)
}

func filterPolicy(p *rewrite.Policy) seccomp.Policy {
	return seccomp.Policy{
		Guarded:      p.Guarded(),
		Protected:    p.Protected,
		TrapNullHint: p.PoolAll,
		TrapMap32:    p.Map32Blocked(),
	}
}

// flagSetMade, when set (by a test), is given each flag set newFlagSet
// makes, before the command defines its flags: the test looks at the
// set once the command is done.
var flagSetMade func(*flag.FlagSet)

// newFlagSet returns a subcommand's flag set; usage is the text shown
// above the options by --help.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if flagSetMade != nil {
		defer flagSetMade(fs)
	}
	fs.SetOutput(io.Discard) // parseFlags reports errors itself
	fs.Usage = func() {
		// The options come before the examples and the exit status.
		w := fs.Output()
		head, tail, _ := strings.Cut(usage, "\nExamples:\n")
		fmt.Fprint(w, head)
		fmt.Fprintln(w, "\nOptions:")
		fs.VisitAll(func(f *flag.Flag) {
			arg, help := flag.UnquoteUsage(f)
			if arg != "" {
				arg = " " + arg
			}
			if d := f.DefValue; d != "" && d != "false" && d != "0" && !strings.Contains(help, "(default") {
				help += " (default " + d + ")"
			}
			fmt.Fprintf(w, "  %s%s\n        %s\n", optionName(f.Name), arg, help)
		})
		fmt.Fprintf(w, "  -h, --help\n        print this help and exit (the same as 'mmapguard help %s')\n", fs.Name())
		if tail != "" {
			fmt.Fprint(w, "\nExamples:\n"+tail)
		}
	}
	return fs
}

// oneValue is an option that takes one value (-o FILE, --pool RANGE).
// Given twice it is refused, as maps -p is: the flag package keeps the
// last value, which would drop the first without a word (-o l1 -o l2
// logged to l2 only, and nothing said l1 was not written). An empty
// value is refused too, saying what to give: it is what an unset
// shell variable leaves (-o "$LOG"), and taken for the option left out
// it ran without the log, or the pool, the user asked for.
type oneValue struct {
	name  string
	value *string
	set   bool
	empty string             // what to say of an empty value
	check func(string) error // a value's own checks; nil for none
}

// oneValueVar defines a oneValue option on fs whose value, def until
// it is given, goes to *p. empty is the error for an empty value, check
// (if not nil) sees every other value before it is kept.
func oneValueVar(fs *flag.FlagSet, p *string, name, def, usage, empty string, check func(string) error) {
	*p = def
	fs.Var(&oneValue{name: name, value: p, empty: empty, check: check}, name, usage)
}

func (v *oneValue) String() string {
	if v == nil || v.value == nil {
		return "" // the flag package's zero value, for its defaults
	}
	return *v.value
}

func (v *oneValue) Set(s string) error {
	if v.set {
		return fmt.Errorf("given twice (%q, then %q): it takes one value, and keeping only the last would leave the other unused, unseen; give %s once",
			*v.value, s, optionName(v.name))
	}
	if strings.TrimSpace(s) == "" {
		return errors.New(v.empty)
	}
	if v.check != nil {
		if err := v.check(s); err != nil {
			return err
		}
	}
	*v.value, v.set = s, true
	return nil
}

// optionName spells a flag as the usage texts do: -o, --protect. (The
// flag package accepts one or two dashes for either.)
func optionName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// parseFlags parses a subcommand's flags: -h/--help prints the usage on
// stdout, any other problem becomes a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	guardValues(fs)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return errHelpShown
	case err != nil:
		msg := flagError(err)
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
			// The flag package names it with one dash whatever was
			// typed; the argument it failed on, the one before
			// those it left, says how the user wrote it (-weird,
			// not --weird).
			if i := len(args) - len(fs.Args()) - 1; i >= 0 && i < len(args) {
				if typed, _, _ := strings.Cut(args[i], "="); strings.TrimLeft(typed, "-") == name {
					msg = "unknown option " + typed
				}
			}
			if hint := strayOption(fs.Name(), strings.TrimPrefix(name, "-")); hint != "" {
				msg += ": " + hint
			}
		}
		if bad, ok := strings.CutPrefix(err.Error(), "bad flag syntax: "); ok {
			// ---protect, -=x: the flag package says no more.
			msg = "bad option syntax " + bad + ": write options as -o, --protect, --protect=RANGE"
			if name := strings.TrimLeft(bad, "-"); name != "" && fs.Lookup(strings.SplitN(name, "=", 2)[0]) != nil {
				msg += " (here " + optionName(strings.SplitN(name, "=", 2)[0]) + ")"
			}
		}
		return &usageError{msg}
	}
	return nil
}

// guardValues makes each option of fs that takes a value refuse "--"
// and the command's own options as that value. The flag package takes
// the argument after such an option as its value whatever it is, as
// getopt does: a FILE left out of -o (mmapguard run -o -- prog, -o -q)
// made a log file named "--" or "-q" and ran on without a word, and
// --protect -- said "missing number". A FILE of such a name is still
// given as ./-q.
func guardValues(fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		if _, done := f.Value.(optionValue); done {
			return
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			return
		}
		f.Value = optionValue{Value: f.Value, fs: fs, name: f.Name}
	})
}

// optionValue is an option's value that may not be "--" or another
// option (see guardValues).
type optionValue struct {
	flag.Value
	fs   *flag.FlagSet
	name string
}

func (v optionValue) Set(s string) error {
	arg, _ := flag.UnquoteUsage(v.fs.Lookup(v.name))
	what := "its " + arg
	if arg == "" {
		what = "a value"
	}
	if s == "--" {
		return fmt.Errorf("took %q, the end of the options, for its value: give %s %s before --", s, optionName(v.name), what)
	}
	if name, ok := strings.CutPrefix(s, "-"); ok && name != "" {
		name = strings.TrimPrefix(name, "-")
		if v.fs.Lookup(name) != nil || name == "h" || name == "help" {
			hint := ""
			if arg == "FILE" {
				hint = " (a FILE of that name as ./" + s + ")"
			}
			return fmt.Errorf("took %q, an option of mmapguard %s, for its value: give %s %s%s", s, v.fs.Name(), optionName(v.name), what, hint)
		}
	}
	return v.Value.Set(s)
}

// strayOption says what to do instead of an option the command lacks
// but a strace, rr or gdb user is likely to try; "" when there is
// nothing to say.
func strayOption(cmd, name string) string {
	switch {
	case name == "V" || name == "version":
		return "the version is 'mmapguard --version', before any command"
	case cmd == "run" && name == "p":
		return "run starts the program itself and cannot attach to a running process (its reservations must be in place before the program's first instruction); 'mmapguard maps -p PID' shows a running process's layout and what collides with a range"
	case cmd == "run" && (name == "f" || name == "ff"):
		return "run always follows every thread and process the program starts, as strace -f does: drop it"
	case cmd == "explain" && name == "p":
		return "explain looks at no process; 'mmapguard maps -p PID' shows a running process's layout"
	case cmd == "explain" && strings.HasPrefix(name, "place"):
		return "explain takes the policy's options only; with a --place option, run's filter also stops file mappings for ld.so's placement (docs/placement.md), and 'mmapguard inspect' shows where shared objects would be placed"
	case cmd == "explain" && (name == "owner" || name == "log-format"):
		return "explain shows a policy and its filter, which " + optionName(name) + " does not change: it is run's only"
	case cmd == "maps" && (name == "pool-all" || name == "strict" || name == "trace-all" || name == "q"):
		return "maps only looks at a layout, which " + optionName(name) + " does not change: drop it"
	case cmd == "inspect" && (name == "protect" || name == "pool"):
		return "inspect takes no policy; give what the program maps before its objects load with --occupied RANGE"
	}
	return ""
}

// flagError rewords the flag package's errors with the flags spelled as
// the usage texts spell them.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown option " + optionName(name)
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "option " + optionName(name) + " needs a value"
	}
	// invalid value "V" for flag -NAME: DETAIL
	// invalid boolean value "V" for -NAME: DETAIL
	rest, ok := strings.CutPrefix(msg, "invalid value ")
	if !ok {
		rest, ok = strings.CutPrefix(msg, "invalid boolean value ")
	}
	if !ok {
		return msg
	}
	val, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return msg
	}
	rest = strings.TrimPrefix(strings.TrimPrefix(rest[len(val):], " for flag -"), " for -")
	name, detail, ok := strings.Cut(rest, ": ")
	if !ok {
		return msg
	}
	if strings.HasPrefix(msg, "invalid boolean") {
		return fmt.Sprintf("invalid value %s for %s: it takes no value (or =true, =false)", val, optionName(name))
	}
	// A value's own parser names it (range "0x1": ...); strconv's
	// errors do not (parse error).
	if v, _ := strconv.Unquote(val); v == "" || !strings.Contains(detail, v) {
		switch detail {
		case "parse error":
			detail = "not a number"
		case "value out of range":
			detail = "out of range"
		}
		return fmt.Sprintf("%s %s: %s", optionName(name), val, detail)
	}
	return optionName(name) + ": " + detail
}
