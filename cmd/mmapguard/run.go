package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/procfile"
	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
	"github.com/mmapguard/mmapguard/trace"
)

const runUsage = `Usage: mmapguard run --protect RANGE [--protect RANGE...] [--pool RANGE|none]
                     [--pool-all] [--strict] [-o FILE] [--log-format FORMAT] [-q]
                     [--place PATTERN=ADDR]... [--place-range RANGE=PATTERN]...
                     [--place-file FILE]... [--place-strict] [--place-exe ADDR]
                     [--owner PATTERN]... [--trace-all]
                     -- PROGRAM [ARGS...]

Runs PROGRAM, every thread and every process it starts, so that nothing it
did not explicitly ask for lands in a protected range: not the loader's
placement of libraries, not malloc's arenas, not thread stacks. The free
parts of each protected range and of the pool are reserved at every exec;
mapping calls that could touch them stop in the tracer, which rewrites,
reroutes into the pool or answers them (see docs/policy.md).

With any --place option, shared objects are placed as ld.so maps them (at
start and by dlopen, from any thread): at the base a rule gives, else at
their own link base or embedded PE ImageBase, else packed into a matching
--place-range; ld.so still relocates them and runs their constructors (see
docs/placement.md; 'mmapguard inspect' shows the plan for given files).

RANGE is START-END (end exclusive) or START+SIZE, page-aligned, inside user
space: 0x10000-0x80000000, 0x10000+2G. Numbers are hexadecimal (0x), octal
(0o), binary (0b) or decimal; a SIZE takes K, M, G, T suffixes, and so does
the page-aligned ADDR of --place and --place-exe (256M is 0x10000000).

mmapguard forwards SIGTERM, SIGUSR1, SIGUSR2, SIGALRM (an alarm set before
it was started is its own), SIGVTALRM, SIGPWR, SIGSTKFLT, SIGINT, SIGQUIT
and SIGHUP when they did not come from the terminal (which sends them to
the program itself), and, from 50 ms after the program's start, the fault
signals sent with kill (SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS,
SIGTRAP), the real-time signals 35 to 64 and, without a controlling
terminal, SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT and SIGWINCH; it stops when
the program stops for job control (^Z), and
prints nothing of its own but warnings on stderr (unless -q) and, with
-o, the log and its summary. Every thread and process the program starts
is followed (there is no -f), and there is no -p: run starts the program
itself and cannot attach to a running one ('mmapguard maps -p PID' shows
a running process's layout). See docs/run.md.

Examples:
  mmapguard run --protect 0x10000-0x80000000 -- wine app.exe
  mmapguard run --protect 0x10000+2G -o calls.log -- python3 script.py
  mmapguard run --strict -q --protect 0x10000-0x100000000 -- ./server
  mmapguard run --protect 0x10000-0x80000000 --pool-all --pool 0x100000000000+64G -- ./app
  mmapguard run --protect 0x10000-0x80000000 --place-range '0x10000000-0x7f000000=*.dll.so' -- wine app.exe

Exit status:
  the program's  the program ran: its exit status; if signal N killed it,
                 mmapguard dies of signal N too (a shell reports 128+N)
  1              mmapguard's own error (ptrace or seccomp refused, the -o
                 FILE cannot be written): the program did not run
  2              a bad command line: nothing was run
  126            the program was found but cannot be executed
  127            the program was not found
`

func runRun(args []string, stdout, stderr io.Writer) error {
	// Signals meant for the program go to it. Left to the Go runtime,
	// SIGQUIT (^\) would end mmapguard with a stack dump and, through
	// PTRACE_O_EXITKILL, kill the program; SIGUSR1 and SIGUSR2 would be
	// swallowed. The first signal.Notify starts a thread of the runtime's
	// and waits for it, and each signal is a round trip with that
	// thread, half a millisecond in all here: it runs, after the
	// filter's build (see filters), while the program forks and execs,
	// and is waited for before the program's first instruction
	// (Config.SignalsReady). Until then SIGINT, SIGTSTP and SIGPIPE keep
	// their default actions, as for any program at its start. Every
	// forwarded signal is caught by then: SIGALRM, SIGVTALRM, SIGPWR and
	// SIGSTKFLT were caught only once the program ran, and one sent in
	// its first milliseconds was dropped (on a loaded machine, a SIGPWR
	// sent after the program's first line of output: the eighteenth
	// session); the four cost the start no time that shows.
	//
	// Signals mmapguard was started with ignored must reach the
	// program ignored (see startIgnored): they are ignored here too by
	// the time the program's process is made, and only then are the
	// forwarded ones among them caught (Config.Started). Finding them
	// takes a tenth of a millisecond, done here: waiting for a goroutine
	// to do it cost more (its thread's first wake-up).
	ignored, startMask := startIgnored()
	// The fault signals sent with kill, the real-time signals, and
	// without a terminal the job-control signals and SIGWINCH, are
	// caught lateSignals after the program's process is made (see
	// lateSignals).
	late := slices.Concat(trace.Faults, trace.Realtime)
	if !hasTerminal() {
		// Without a controlling terminal, a SIGTSTP, SIGTTIN, SIGTTOU,
		// SIGCONT or SIGWINCH comes from a kill of mmapguard's (a
		// supervisor's), not from a terminal or a shell's job control:
		// passed on as well (trace.Untermed). With one they are the
		// terminal's and the shell's, sent to the program too: a
		// SIGTSTP is caught and dropped (below), and SIGTTIN and SIGTTOU
		// keep their default action, which stops mmapguard with the
		// program. (Caught, they would make a write of mmapguard's own
		// to the terminal from the background, under stty tostop,
		// restart for good.)
		late = slices.Concat(late, trace.Untermed)
	}
	now, later := splitIgnored(slices.DeleteFunc(slices.Clone(forwarded), func(s os.Signal) bool {
		return slices.Contains(late, s)
	}), ignored)
	if len(ignored) > 0 {
		signal.Ignore(ignored...)
	}
	sigs := make(chan os.Signal, 8)
	notified := make(chan struct{})
	// The seccomp filter is built on this goroutine too, before the
	// Notify calls, once the command line is read (nil: it was not
	// good): while the Notify calls wait on the runtime's signal thread
	// they hold the second processor, and a goroutine of its own did not
	// get to run before the fork was done.
	filters := make(chan *filterJob, 1)
	go func() {
		if j := <-filters; j != nil {
			prog, err := seccomp.Build(j.policy)
			j.done <- builtFilter{prog, err}
		}
		signal.Notify(sigs, now...)
		// A write of mmapguard's to a closed pipe (a warning on a
		// stderr whose reader is gone) must fail with EPIPE, not end
		// mmapguard with SIGPIPE and, through PTRACE_O_EXITKILL, the
		// program with it. Caught, not ignored: an ignored signal
		// would stay ignored in the program across its exec (unless it
		// was ignored when mmapguard started: then it stays so).
		if !slices.Contains(ignored, os.Signal(syscall.SIGPIPE)) {
			signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
		}
		// A ^Z (or a kill(0) of the program's) reaches the program as
		// well: mmapguard stops when, and as, the program stops
		// (Config.JobStop), not before it has had its say. Caught and
		// dropped, unless mmapguard was started with SIGTSTP ignored,
		// which the program then inherits, as without the guard.
		if !slices.Contains(ignored, os.Signal(syscall.SIGTSTP)) {
			signal.Notify(make(chan os.Signal, 1), syscall.SIGTSTP)
		}
		close(notified)
	}()
	filterSent := false
	defer func() {
		if !filterSent {
			filters <- nil
		}
		<-notified
		stopSignals(sigs)
	}()
	fs := newFlagSet("run", runUsage)
	var pf policyFlags
	pf.register(fs)
	out := new(string)
	oneValueVar(fs, out, "o", "", "write every trapped call and the guard's decision to `FILE`, then a summary (traps, rewrites, reroutes, denials, reservations)",
		"an empty FILE: give -o a FILE to write the log to, or leave -o out for no log", nil)
	traceAll := fs.Bool("trace-all", false, "stop at every mapping call, not only those that can touch a guarded range: a complete -o log of who mapped what (slower)")
	logFormat := new(string)
	// Checked as it is read: a bad FORMAT is the first thing to say,
	// before that it wants -o too.
	oneValueVar(fs, logFormat, "log-format", "text", "`FORMAT` of the -o file: text (like strace) or json (one object per line; see docs/log.md)",
		"an empty FORMAT: want text or json", func(s string) error {
			if s != "text" && s != "json" {
				return errors.New("want text or json")
			}
			return nil
		})
	quiet := fs.Bool("q", false, "do not print warnings (a process killed to keep the guarantee is still reported)")
	var place placeFlags
	place.register(fs)
	var owners []trace.OwnerRule
	fs.Func("owner", "only code matching `PATTERN` (an object's path or file-name glob, optionally OBJECT!SYMBOL) may use protected ranges freely (repeatable)", func(s string) error {
		r, err := trace.ParseOwnerRule(s)
		if err != nil {
			return err
		}
		owners = append(owners, r)
		return nil
	})
	args, joined := joinPlaceRange(args)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		if joined != nil {
			return usagef("no program to run%s", joined.took("run", "mmapguard run ... --place-range %s -- %s"))
		}
		return usagef("no program to run: put it after --, e.g. mmapguard run --protect 0x10000-0x80000000 -- ls")
	}
	if fs.Arg(0) == "" {
		return usagef("the program's name is empty: put the program after --")
	}
	// A usage error, found before the program is looked up: a bad
	// command line is status 2 whatever the program (not 127 for a
	// program that is also missing). (A FORMAT other than text or
	// json was refused as it was read.)
	if *out == "" && flagSet(fs, "log-format") {
		return usagef("--log-format says how to write the -o file: give -o FILE too")
	}
	if len(pf.protect) == 0 {
		// mmapguard run prog --protect RANGE: the program's own
		// arguments from its name on, where "no protected range"
		// alone left the user looking at the --protect given.
		for _, a := range fs.Args()[1:] {
			if name, _, _ := strings.Cut(a, "="); name == "--protect" || name == "-protect" {
				return usagef("no protected range: %s comes after the program (%s), and so is the program's own argument; put mmapguard's options before the program: mmapguard run --protect RANGE ... -- %s ...",
					a, fs.Arg(0), shellQuote(fs.Arg(0)))
			}
		}
	}
	p, err := pf.policy()
	if err != nil {
		return err
	}
	path, err := trace.Resolve(fs.Arg(0))
	if err != nil {
		// A shell's statuses: 127 not found, 126 found but not runnable.
		if errors.Is(err, trace.ErrNotFound) {
			hint := "Check the name, or give the program's path."
			if strings.Contains(fs.Arg(0), "/") {
				hint = "Check the path (a name with a '/' is taken as a path, not looked for in $PATH)."
			}
			fmt.Fprintf(stderr, "mmapguard run: %v\n%s\n", err, hint)
			return exitCode(127)
		}
		fmt.Fprintf(stderr, "mmapguard run: %v\n%s\n", err, notExecutableHint(fs.Arg(0), err))
		return exitCode(126)
	}
	argv := fs.Args()
	if place.exe != 0 {
		var rule loader.Rule
		if path, argv, rule, err = placeExe(path, argv, place.exe, p); err != nil {
			return err
		}
		place.rules = append([]loader.Rule{rule}, place.rules...)
	}
	// Open the log last, once the command line is known to be good, but
	// before the program runs: a path that cannot be written is better
	// found before than after. An existing file keeps its contents
	// until the log's first write (logFile).
	var summary *logFile
	var events *eventLog
	if *out != "" {
		if summary, err = openLog(*out); err != nil {
			return fmt.Errorf("log file (-o): %w; give -o a FILE you may write", err)
		}
		if events, err = newEventLog(summary, *logFormat); err != nil {
			summary.Abandon()
			return err
		}
	}
	warn := stderr
	if *quiet {
		// nil, not io.Discard: a process killed to keep the guarantee
		// is still reported (on stderr), warnings are not.
		warn = nil
	}
	if w := roomWarning(p); w != "" && warn != nil {
		fmt.Fprintf(warn, "mmapguard: warning: %s\n", w)
	}
	fwd := make(chan os.Signal, 8)
	// Once the program has ended, what it left running outside
	// mmapguard's group (a daemon) is all mmapguard waits for, and the
	// terminal's signals do not reach it: they are passed on to it
	// (see trace.Config.Signals).
	var ended atomic.Bool
	go func() {
		// sigs is always read: the forwarder takes up to a hundredth of
		// a second a signal (it waits for the program's own copy), and
		// a full sigs makes the runtime drop what comes next. A storm of
		// one signal (SIGWINCHes without a terminal) filled sigs and fwd,
		// and a SIGTERM sent among them was lost
		// (TestRunForwardsSignalDuringWinchStorm). A signal already
		// waiting here takes in its new copies, as a pending signal does
		// in the kernel.
		var queue []os.Signal
		for {
			var out chan<- os.Signal
			var next os.Signal
			if len(queue) > 0 {
				out, next = fwd, queue[0]
			}
			select {
			case s := <-sigs:
				if terminalSignal(s) && !ended.Load() && fromTerminal() {
					continue // the terminal sent it to the program as well
				}
				if !slices.Contains(queue, s) {
					queue = append(queue, s)
				}
			case out <- next:
				queue = queue[1:]
			}
		}
	}()
	cfg := trace.Config{
		Policy:  p,
		Filter:  filterPolicy(p),
		Path:    path,
		Args:    argv,
		Warn:    warn,
		SigMask: startMask,
		Signals: fwd,
		// Caught before the program's first instruction.
		SignalsReady: notified,
		JobStop:      stopAs,
		Ended:        func() { ended.Store(true); hangUpAsLeader() },
	}
	cfg.Started = func() {
		if len(later) > 0 {
			signal.Notify(sigs, later...)
		}
		catchLate(sigs, late)
	}
	if events != nil {
		cfg.Events = events.Event
	}
	cfg.Owners = owners
	cfg.Filter.TrapAll = *traceAll
	if pc := place.config(); pc != nil {
		cfg.Place = pc
		cfg.Filter.TrapFileMaps = true
	}
	if p.Strict {
		// Capabilities are a thread's: dropped on the thread that
		// starts the program.
		cfg.BeforeStart = dropPtraceCap
	}
	job := &filterJob{policy: cfg.Filter, done: make(chan builtFilter, 1)}
	filters <- job
	filterSent = true
	cfg.Program = func() (*seccomp.Program, error) {
		b := <-job.done
		return b.prog, b.err
	}
	res, err := trace.Run(cfg)
	if err != nil {
		if summary != nil {
			// What was logged before the failure is kept.
			_ = events.Flush()
			summary.Abandon()
		}
		if uerr := filterTooLarge(err); uerr != nil {
			return uerr
		}
		var ee *trace.ExecError
		if errors.As(err, &ee) && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
			// The start's own descriptors (the pipe through which Go's
			// fork reports a failed exec) did not fit: mmapguard's
			// error, not the program's, which never ran (execve opens
			// no descriptor). Under a limit that leaves mmapguard a few
			// less, the Go runtime's own descriptors fail first and it
			// dies (runtime: netpollinit failed).
			fmt.Fprintf(stderr, "mmapguard run: cannot start %s: %v: mmapguard's descriptor limit (ulimit -n %s) leaves it too few descriptors of its own (it needs about ten, the three standard ones included)\nRaise the limit (the program gets the same).\n",
				ee.Path, ee.Err, nofileLimit())
			return exitCode(exitError)
		}
		if errors.As(err, &ee) {
			// The kernel refused to exec it: a shell's statuses again.
			hint := "Give a program the kernel can run (an ELF binary for this machine, or a script starting with #!)."
			switch {
			case errors.Is(err, syscall.ENOEXEC):
				hint = execFormatHint(ee.Path)
			case errors.Is(err, syscall.ENOENT):
				if h := missingInterpHint(ee.Path); h != "" {
					hint = h
				}
			case errors.Is(err, syscall.ETXTBSY):
				hint = ee.Path + " is open for writing (being built or copied?): run it once that is done."
				if *out != "" && sameFile(*out, ee.Path) {
					hint = ee.Path + " is the -o FILE, which mmapguard opened for writing, and the kernel runs no file open for writing: give -o another FILE (the program is left as it was)."
				}
			case errors.Is(err, syscall.EPERM):
				if tracer := tracedBy(); tracer != "" {
					// Its child is traced too (strace -f, an outer
					// mmapguard): PTRACE_TRACEME is what failed. That
					// is mmapguard's own error, not the program's.
					fmt.Fprintf(stderr, "mmapguard run: cannot trace the program: mmapguard is itself traced by %s, and a process can have only one tracer (%v)\nRun mmapguard outside that tracer; under strace, trace mmapguard without -f.\n", tracer, err)
					return exitCode(exitError)
				}
				hint = "Either execve or ptrace was refused: is mmapguard itself being traced (strace -f, a debugger)? A process can have only one tracer."
			}
			fmt.Fprintf(stderr, "mmapguard run: %v\n%s\n", err, hint)
			if errors.Is(err, syscall.ENOENT) {
				return exitCode(127)
			}
			return exitCode(126)
		}
		return err
	}
	if summary != nil {
		// The program has run: its status wins over a failed write.
		err := events.Flush()
		if err == nil {
			err = writeSummary(summary, p, res, events)
		} else {
			_ = summary.Close()
		}
		if err != nil {
			fmt.Fprintf(stderr, "mmapguard run: writing the log: %v\n", err)
		}
	}
	if res.Status.Signaled() {
		return killedBy(res.Status.Signal())
	}
	return exitCode(res.ExitCode())
}

// notExecutableHint says what to do about a program that was found but
// cannot be run (status 126), from why: the path, its directories, the
// file's mode, its file system.
func notExecutableHint(name string, err error) string {
	switch {
	case errors.Is(err, syscall.EISDIR):
		return "Give the path of a program file in it, not the directory."
	case errors.Is(err, syscall.ELOOP):
		return "A symbolic link on the way leads back to itself (or through more than 40 links): point it at the program."
	case errors.Is(err, syscall.ENOTDIR):
		return "A part of the path before its last '/' is a file, not a directory: check the path (a '/' after the program's name?)."
	}
	path := name
	if !strings.Contains(name, "/") {
		if p, lerr := exec.LookPath(name); lerr == nil || errors.Is(lerr, exec.ErrDot) {
			path = p
		}
	}
	st, serr := os.Stat(path)
	switch {
	case errors.Is(serr, syscall.EACCES):
		return "A directory on the way to it may not be searched by this user (it lacks x permission): check the directories' permissions (namei -l " + path + " shows them), or run as a user who may."
	case serr != nil || !st.Mode().IsRegular():
	case st.Mode()&0o111 != 0:
		var sfs unix.Statfs_t
		if unix.Statfs(path, &sfs) == nil && sfs.Flags&unix.ST_NOEXEC != 0 {
			return path + " lies on a file system mounted noexec, from which the kernel runs no program: copy it to another file system, or, for a script, run its interpreter (mmapguard run ... -- sh " + path + ")."
		}
		owner := ""
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			owner = fmt.Sprintf(", owner uid %d", sys.Uid)
		}
		return fmt.Sprintf("%s (mode %#o%s) may not be run by this user: run as a user who may, or have its owner give more execute permission (chmod a+x).", path, st.Mode().Perm(), owner)
	}
	return "Give a program with execute permission (a binary or a script starting with #!)."
}

// filterJob is the seccomp filter for runRun's signal goroutine to
// build; done receives it.
type filterJob struct {
	policy seccomp.Policy
	done   chan builtFilter
}

type builtFilter struct {
	prog *seccomp.Program
	err  error
}

// nofileLimit is mmapguard's RLIMIT_NOFILE for a message ("?" if it
// cannot be read).
func nofileLimit() string {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return "?"
	}
	return strconv.FormatUint(lim.Cur, 10)
}

// tracedBy names mmapguard's own tracer ("process N (COMM)"), or ""
// when it has none.
func tracedBy() string {
	b, err := procfile.Read("/proc/self/status")
	if err != nil {
		return ""
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok {
			pid := strings.TrimSpace(v)
			if pid == "0" || pid == "" {
				return ""
			}
			comm, _ := procfile.Read("/proc/" + pid + "/comm")
			if c := strings.TrimSpace(string(comm)); c != "" {
				return "process " + pid + " (" + c + ")"
			}
			return "process " + pid
		}
	}
	return ""
}

// stopSignals undoes runRun's signal.Notify. main, which exits right
// after, makes it do nothing: signal.Stop waits for the runtime's signal
// thread to go idle, a tenth of a millisecond of every run.
var stopSignals = signal.Stop

// forwarded are the signals mmapguard passes on to the program.
var forwarded = trace.Forwardable

// lateSignals is how long after the program's process is made the
// signals that only a kill of mmapguard's sends are caught for it: the
// fault signals (a kill -ABRT for a core of a program that hangs), the
// real-time signals (a supervisor's SIGRTMIN+N) and, without a
// terminal, the job-control signals and SIGWINCH (a supervisor's). Each
// signal caught is a round trip with the Go runtime's signal thread;
// caught before the program's first instruction with the others, the
// first twelve outlasted the fork and exec, and from a goroutine right
// after it they still ran alongside the start: every run of /bin/true
// took 0.3 ms longer (400 runs from a C launcher, alternately with the
// session's first build); the 30 real-time signals, 0.6-1 ms. 50 ms, not
// 10: at 10 they fell inside short programs' runs (`gcc -c hello.c`,
// 26 ms here; `java -version`, 40 ms), their work alongside the
// program's; most programs that short are gone before 50. One such
// signal sent in the program's first 50 ms still acts on mmapguard as
// it did before the nineteenth session: a fault signal ends mmapguard
// with a goroutine dump, and the program with it; a SIGTTIN or SIGTTOU
// stops mmapguard alone; the others are dropped.
const lateSignals = 50 * time.Millisecond

// catchLate catches sigs on c lateSignals from now; where mmapguard may
// set no timer (timersAllowed), at once, from a goroutine.
func catchLate(c chan<- os.Signal, sigs []os.Signal) {
	if len(sigs) == 0 {
		return
	}
	if !timersAllowed() {
		go signal.Notify(c, sigs...)
		return
	}
	time.AfterFunc(lateSignals, func() { signal.Notify(c, sigs...) })
}

// terminalSignal reports whether a terminal sends s to its foreground
// process group (^C, ^\, hang-up).
func terminalSignal(s os.Signal) bool {
	return s == syscall.SIGINT || s == syscall.SIGQUIT || s == syscall.SIGHUP
}

// fromTerminal guesses whether a SIGINT, SIGQUIT or SIGHUP came from the
// controlling terminal: true when mmapguard is in the terminal's
// foreground process group, which the program shares, so the terminal
// sent the signal to the program as well. The controlling terminal is
// asked through /dev/tty, so the guess holds when stdin, stdout and
// stderr are all redirected.
func fromTerminal() bool {
	pgrp, err := foregroundPgrp()
	return err == nil && pgrp == syscall.Getpgrp()
}

// writeSummary writes the summary at the end of the -o log and closes
// the file: text lines, or one JSON object {"summary": {...}}.
func writeSummary(f *logFile, p *rewrite.Policy, r trace.Result, events *eventLog) error {
	s := r.Stats
	byCaller := map[string]int{}
	for k, n := range events.byCaller {
		byCaller[k.class+" "+k.object] += n
	}
	if events.json {
		outcomes := map[string]uint64{}
		for o := rewrite.Allowed; o <= rewrite.Killed; o++ {
			outcomes[o.String()] = s.Outcomes[o]
		}
		var protected []string
		for _, r := range p.Protected {
			protected = append(protected, r.String())
		}
		pool := "none"
		if p.HasPool() {
			pool = p.Pool.String()
		}
		sum := map[string]any{
			"protected": protected, "pool": pool, "pool_all": p.PoolAll, "strict": p.Strict,
			"processes": r.Processes, "stops": r.Stops, "freezes": r.Freezes, "calls": s.Calls, "outcomes": outcomes,
			"reservations": s.Reservations, "reservation_failures": s.ReserveFailures,
			"pool_exhausted": s.PoolExhausted, "failed_closed": r.FailedClosed, "unreserved": r.Unreserved, "exit_status": r.ExitCode(),
			"by_caller": byCaller,
		}
		if r.Status.Signaled() {
			sum["signal"] = int(r.Status.Signal())
			sum["core_dumped"] = r.Status.CoreDump()
		}
		b, err := json.Marshal(map[string]any{"summary": sum})
		if err == nil {
			_, err = f.Write(append(b, '\n'))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	// Written whole, then checked, like the JSON summary: a log that
	// cannot be written (a full disk, /dev/full) is reported.
	var b bytes.Buffer
	fmt.Fprintf(&b, "mmapguard summary\n")
	fmt.Fprint(&b, p.String())
	fmt.Fprintf(&b, "processes      %d\n", r.Processes)
	fmt.Fprintf(&b, "stops          %d\n", r.Stops)
	fmt.Fprintf(&b, "freezes        %d\n", r.Freezes)
	fmt.Fprintf(&b, "calls decided  %d\n", s.Calls)
	for o := rewrite.Allowed; o <= rewrite.Killed; o++ {
		fmt.Fprintf(&b, "  %-12s %d\n", o, s.Outcomes[o])
	}
	fmt.Fprintf(&b, "reservations   %d made, %d failed\n", s.Reservations, s.ReserveFailures)
	fmt.Fprintf(&b, "pool exhausted %d\n", s.PoolExhausted)
	fmt.Fprintf(&b, "failed closed  %d\n", r.FailedClosed)
	for _, u := range r.Unreserved {
		fmt.Fprintf(&b, "unreserved     %s\n", u)
	}
	keys := make([]string, 0, len(byCaller))
	for k := range byCaller {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "caller         %-40s %d\n", k, byCaller[k])
	}
	fmt.Fprintf(&b, "exit status    %d%s\n", r.ExitCode(), killedNote(r.Status))
	_, err := f.Write(b.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// killedNote says, after the summary's exit status, which signal killed
// the program, as strace's "+++ killed by SIGTERM +++" does: a 143 is
// otherwise also what exit(143) gives. "" for a program that exited.
func killedNote(ws unix.WaitStatus) string {
	if !ws.Signaled() {
		return ""
	}
	name := unix.SignalName(ws.Signal())
	if name == "" {
		name = "signal " + strconv.Itoa(int(ws.Signal()))
	}
	if ws.CoreDump() {
		return " (killed by " + name + ", core dumped)"
	}
	return " (killed by " + name + ")"
}

// belowMinAddr refuses a guarded range that starts below
// vm.mmap_min_addr when mmapguard may not map there (it lacks
// CAP_SYS_RAWIO): its reservation would fail at the program's exec,
// which kills the program. (The program, no more privileged, could not
// map there either.)
func belowMinAddr(p *rewrite.Policy) error {
	lowest, ok := mmapMinAddr()
	if !ok {
		return nil // the kernel will say
	}
	start, _ := region.PageUp(lowest)
	for _, r := range p.Guarded() {
		// The kernel wants CAP_SYS_RAWIO in the initial user namespace:
		// a root of a container's own (a rootless one) does not count.
		// (Looked at only for a range that needs it: two more files to
		// read on every start.)
		if r.Start < lowest && !(hasCap(unix.CAP_SYS_RAWIO) && initialUserNS()) {
			return usagef("%v starts below vm.mmap_min_addr (%#x), where only a process with CAP_SYS_RAWIO (root) may map, and mmapguard cannot reserve it: start it at %#x (nothing without that capability can map below), or run as root",
				r, lowest, start)
		}
	}
	return nil
}

// initialUserNS reports whether mmapguard runs in the initial user
// namespace, where its user IDs map to themselves, all of them.
func initialUserNS() bool {
	b, err := procfile.Read("/proc/self/uid_map")
	return err == nil && strings.Join(strings.Fields(string(b)), " ") == "0 0 4294967295"
}

// hasCap reports whether mmapguard's effective capabilities include
// capability c.
func hasCap(c int) bool { return capIn("CapEff", c) }

// dropPtraceCap takes CAP_SYS_PTRACE away from every program mmapguard
// starts (--strict). A program that has it (root) can trace mmapguard
// or write its memory through /proc/PID/mem whatever mmapguard's
// dumpability, and so undo the guard. Dropped from the bounding set and
// the ambient set, the capability is gone from what any exec grants;
// mmapguard keeps it in its own effective set (it needs it to read the
// layout of a program that makes itself not dumpable).
func dropPtraceCap() error {
	// The program's first exec comes before its filter. It runs with
	// no_new_privs (trace.Run sets it on the thread that starts the
	// program), so a set-user-ID or file-capability program gains
	// nothing there; but root's exec grants the bounding set and the
	// inheritable set, and anyone's the ambient set.
	holds := capIn("CapEff", unix.CAP_SYS_PTRACE) || capIn("CapPrm", unix.CAP_SYS_PTRACE) ||
		capIn("CapInh", unix.CAP_SYS_PTRACE) || capIn("CapAmb", unix.CAP_SYS_PTRACE)
	root := unix.Geteuid() == 0 || unix.Getuid() == 0
	if capIn("CapBnd", unix.CAP_SYS_PTRACE) && (root || holds) {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, unix.CAP_SYS_PTRACE, 0, 0, 0); err != nil {
			return fmt.Errorf("--strict: cannot take CAP_SYS_PTRACE away from the program: dropping it from the bounding set needs CAP_SETPCAP, which mmapguard lacks (%w); give it that capability, or run without --strict", err)
		}
	}
	if capIn("CapAmb", unix.CAP_SYS_PTRACE) {
		if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_LOWER, unix.CAP_SYS_PTRACE, 0, 0); err != nil {
			return fmt.Errorf("--strict: cannot take CAP_SYS_PTRACE out of the ambient set: %w", err)
		}
	}
	if capIn("CapInh", unix.CAP_SYS_PTRACE) {
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return fmt.Errorf("--strict: reading mmapguard's capabilities: %w", err)
		}
		data[unix.CAP_SYS_PTRACE/32].Inheritable &^= 1 << (unix.CAP_SYS_PTRACE % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return fmt.Errorf("--strict: cannot take CAP_SYS_PTRACE out of the inheritable set: %w", err)
		}
	}
	return nil
}

// capIn reports whether the capability set named field (CapEff,
// CapPrm, CapBnd, CapAmb) of the calling thread holds capability c.
func capIn(field string, c int) bool {
	b, err := procfile.Read("/proc/thread-self/status")
	if err != nil {
		return false
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<c) != 0
		}
	}
	return false
}
