package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/trace"
)

const runUsage = `Usage: mmapguard run --protect RANGE [--protect RANGE...] [--pool RANGE|none]
                     [--pool-all] [--strict] [-o FILE] [-q] -- PROGRAM [ARGS...]

Runs PROGRAM, every thread and every process it starts, so that nothing it
did not explicitly ask for lands in a protected range: not the loader's
placement of libraries, not malloc's arenas, not thread stacks. The free
parts of each protected range and of the pool are reserved at every exec;
mapping calls that could touch them stop in the tracer, which rewrites,
reroutes into the pool or answers them (see docs/policy.md).

mmapguard exits with the program's status (128+N if signal N killed it),
forwards SIGTERM (and SIGINT/SIGHUP when they did not come from the
terminal, which sends them to the program itself) and prints nothing of
its own but warnings (unless -q) and, with -o, a summary.
`

func runRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", runUsage)
	var pf policyFlags
	pf.register(fs)
	out := fs.String("o", "", "write a summary (traps, rewrites, reroutes, denials, reservations) to `FILE` at exit")
	quiet := fs.Bool("q", false, "do not print warnings")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("no program to run: put it after --, e.g. mmapguard run --protect 0x10000-0x80000000 -- ls")
	}
	p, err := pf.policy()
	if err != nil {
		return err
	}
	path, err := trace.Resolve(fs.Arg(0))
	if err != nil {
		if errors.Is(err, trace.ErrNotFound) {
			fmt.Fprintf(stderr, "mmapguard run: %v\n", err)
			return exitCode(127)
		}
		fmt.Fprintf(stderr, "mmapguard run: %v\n", err)
		return exitCode(126)
	}
	warn := stderr
	if *quiet {
		warn = io.Discard
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	fwd := make(chan os.Signal, 8)
	go func() {
		for s := range sigs {
			if s != syscall.SIGTERM && fromTerminal() {
				continue // the terminal sent it to the program as well
			}
			fwd <- s
		}
	}()
	res, err := trace.Run(trace.Config{
		Policy:  p,
		Filter:  filterPolicy(p),
		Path:    path,
		Args:    fs.Args(),
		Warn:    warn,
		Signals: fwd,
	})
	if err != nil {
		return err
	}
	if *out != "" {
		if err := writeSummary(*out, p, res); err != nil {
			return err
		}
	}
	return exitCode(res.ExitCode())
}

// fromTerminal guesses whether a SIGINT or SIGHUP came from the
// controlling terminal: true when mmapguard is in its foreground
// process group, which the program shares.
func fromTerminal() bool {
	for _, fd := range []int{0, 1, 2} {
		if pgrp, err := unixTcgetpgrp(fd); err == nil {
			return pgrp == syscall.Getpgrp()
		}
	}
	return false
}

func writeSummary(path string, p *rewrite.Policy, r trace.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	s := r.Stats
	fmt.Fprintf(f, "mmapguard summary\n")
	fmt.Fprint(f, p.String())
	fmt.Fprintf(f, "processes      %d\n", r.Processes)
	fmt.Fprintf(f, "stops          %d\n", r.Stops)
	fmt.Fprintf(f, "calls decided  %d\n", s.Calls)
	for o := rewrite.Allowed; o <= rewrite.Killed; o++ {
		fmt.Fprintf(f, "  %-12s %d\n", o, s.Outcomes[o])
	}
	fmt.Fprintf(f, "reservations   %d made, %d failed\n", s.Reservations, s.ReserveFailures)
	fmt.Fprintf(f, "pool exhausted %d\n", s.PoolExhausted)
	for _, u := range r.Unreserved {
		fmt.Fprintf(f, "unreserved     %s\n", u)
	}
	fmt.Fprintf(f, "exit status    %d\n", r.ExitCode())
	return f.Close()
}
