// Command mmapguard keeps a Linux process's address space in order from
// the outside. See docs/ for the user guide; `mmapguard help` lists the
// subcommands.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
)

// exitUsage is the status for a command line mmapguard cannot use;
// exitError for any other failure of mmapguard's own (a program run
// under it passes its own status through instead).
const (
	exitError = 1
	exitUsage = 2
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"run", "run a program with its protected ranges kept free", runRun},
		{"explain", "print a policy and the seccomp filter that enforces it", runExplain},
		{"maps", "show a running process's layout and what collides with a range", runMaps},
		{"inspect", "show where shared objects would be placed, and why", runInspect},
		{"help", "show help for mmapguard or one of its subcommands", runHelp},
	}
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == contWatchArg {
		contWatch(os.Args[2:])
	}
	ownRuntime()
	stopSignals = func(chan<- os.Signal) {}
	code, sig := run(os.Args[1:], os.Stdout, os.Stderr)
	if sig != 0 {
		// The program died of sig: so does mmapguard, for its parent
		// (a shell stops a loop on SIGINT, make says "Interrupt").
		// dieOf returns only if sig did not end mmapguard.
		dieOf(sig)
	}
	os.Exit(code)
}

// errUsage marks an error in how mmapguard was called.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string   { return e.msg }
func (e *usageError) Is(t error) bool { return t == errUsage }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitCode lets a subcommand end mmapguard with a given status (run
// passes the program's through).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// statusError is an error that ends mmapguard with its own status
// (maps keeps 1 for "a collision" and ends with 2 on errors).
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// killedBy ends mmapguard as the program ended: killed by that signal
// (run, when the program's first process was). Main returns 128+N for
// it, the status a shell reports; main makes mmapguard die of it.
type killedBy syscall.Signal

func (e killedBy) Error() string { return "killed by " + syscall.Signal(e).String() }

// Main runs mmapguard with the given arguments and returns its exit
// status: for a program killed by signal N, 128+N.
func Main(args []string, stdout, stderr io.Writer) int {
	code, _ := run(args, stdout, stderr)
	return code
}

// run is Main, and also says which signal mmapguard should die of, if
// any (the status is then 128+N, for when that signal does not kill).
// Output that could not be written (a full disk, > /dev/full) makes a
// command that would have succeeded fail with status 1, as for any
// other tool whose output is lost.
func run(args []string, stdout, stderr io.Writer) (int, syscall.Signal) {
	out := &errWriter{w: stdout}
	code, sig := run1(args, out, stderr)
	if out.err != nil && code == 0 && sig == 0 {
		if errors.Is(out.err, syscall.EPIPE) {
			// The reader has gone (mmapguard run --help | head -1):
			// end silently, of SIGPIPE, as the Go runtime ends every
			// other command here on its own. run catches SIGPIPE for
			// the program's sake, from a goroutine that races the
			// parsing of its flags: without this its --help piped to
			// head ended now of SIGPIPE, now with status 1 and
			// "writing standard output: broken pipe".
			return 128 + int(syscall.SIGPIPE), syscall.SIGPIPE
		}
		name := "mmapguard"
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			name += " " + args[0]
		}
		fmt.Fprintf(stderr, "%s: writing standard output: %v\n", name, out.err)
		if len(args) > 0 && args[0] == "maps" {
			// Its 1 says a mapping collides: a script's check would
			// take the lost layout for one.
			return exitUsage, 0
		}
		return exitError, 0
	}
	return code, sig
}

// errWriter keeps the first error of its writes.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(b []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(b)
	e.err = err
	return n, err
}

func run1(args []string, stdout, stderr io.Writer) (int, syscall.Signal) {
	if len(args) == 0 {
		fmt.Fprint(stderr, "mmapguard: no command given\n\n")
		topUsage(stderr)
		return exitUsage, 0
	}
	name := args[0]
	if isHelpFlag(name) && len(args) > 1 {
		// mmapguard --help run: as 'mmapguard help run' (it showed the
		// overview, the command left unread).
		args = append([]string{"help"}, args[1:]...)
		name = "help"
	} else if isHelpFlag(name) {
		topUsage(stdout)
		return 0, 0
	}
	if name == "--version" || name == "-V" {
		fmt.Fprintln(stdout, version())
		return 0, 0
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		var code exitCode
		var killed killedBy
		var status *statusError
		switch {
		case err == nil:
			return 0, 0
		case errors.As(err, &code):
			return int(code), 0
		case errors.As(err, &killed):
			return 128 + int(killed), syscall.Signal(killed)
		case errors.Is(err, errHelpShown):
			return 0, 0
		case errors.As(err, &status):
			fmt.Fprintf(stderr, "mmapguard %s: %v\n%s", name, err, fdLimitHint(err))
			return status.code, 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "mmapguard %s: %v\nRun 'mmapguard %s --help' for usage.\n", name, err, name)
			return exitUsage, 0
		default:
			fmt.Fprintf(stderr, "mmapguard %s: %v\n%s", name, err, fdLimitHint(err))
			return exitError, 0
		}
	}
	if strings.HasPrefix(name, "-") {
		fmt.Fprintf(stderr, "mmapguard: unknown option %q: options go after the command, e.g. mmapguard run --protect RANGE -- PROGRAM\nRun 'mmapguard --help' for the list of commands.\n", name)
		return exitUsage, 0
	}
	fmt.Fprintf(stderr, "mmapguard: unknown command %q\nRun 'mmapguard --help' for the list of commands.\n", name)
	return exitUsage, 0
}

// fdLimitHint explains an error that is mmapguard's descriptor limit
// (EMFILE), not the file's: "" for any other.
func fdLimitHint(err error) string {
	if !errors.Is(err, syscall.EMFILE) {
		return ""
	}
	return fmt.Sprintf("That is mmapguard's own descriptor limit (ulimit -n %s), which leaves it too few: raise the limit.\n", nofileLimit())
}

func isHelpFlag(s string) bool { return s == "-h" || s == "--help" || s == "-help" }

func topUsage(w io.Writer) {
	fmt.Fprint(w, `mmapguard keeps a Linux process's address space in order from the outside.

Usage:
  mmapguard COMMAND [OPTIONS] [-- PROGRAM [ARGS...]]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Run 'mmapguard COMMAND --help' for the options of one command, and
'mmapguard --version' (or -V) for the version.
Ranges are written START-END or START+SIZE, e.g. 0x10000-0x80000000 or
0x10000+2G; the docs/ folder explains protected ranges, the pool and what
each system call becomes.

Examples:
  mmapguard run --protect 0x10000-0x80000000 -- wine app.exe
  mmapguard explain --protect 0x10000-0x80000000
  mmapguard maps -p 1234 --protect 0x10000-0x80000000 -c

Exit status: run passes the program's through (or dies of the signal
that killed it), and gives a shell's 126 and 127 for a program that
cannot be run or is not found; maps exits 1 when a mapping collides
with a protected range; otherwise 0, 1 for an error, 2 for a bad
command line. Each command's --help says more.
`)
}

const helpUsage = `Usage: mmapguard help [COMMAND]

Shows the overview of mmapguard, or with COMMAND the usage and options of
that command (the same as 'mmapguard COMMAND --help').

Options:
  -h, --help
        print this help and exit

Examples:
  mmapguard help
  mmapguard help run

Exit status:
  0  the help was printed
  1  standard output could not be written
  2  no such command
`

func runHelp(args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		topUsage(stdout)
		return nil
	case isHelpFlag(args[0]) || args[0] == "help":
		fmt.Fprint(stdout, helpUsage)
		return nil
	case len(args) > 1:
		return usagef("help takes one command name, not %q", strings.Join(args, " "))
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run([]string{"--help"}, stdout, stderr)
		}
	}
	names := make([]string, 0, len(commands))
	for _, c := range commands {
		names = append(names, c.name)
	}
	return usagef("no command %q: the commands are %s", args[0], strings.Join(names, ", "))
}

// version is what --version prints: the module's version (or the
// commit it was built from) and the Go release.
func version() string {
	v := "(devel)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "mmapguard " + v
	}
	if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	} else {
		var rev, dirty string
		for _, st := range bi.Settings {
			switch st.Key {
			case "vcs.revision":
				rev = st.Value
			case "vcs.modified":
				if st.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if len(rev) >= 12 {
			v = "commit " + rev[:12] + dirty
		}
	}
	return "mmapguard " + v + ", " + bi.GoVersion
}
