package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

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
			return err
		}
		pf.protect = append(pf.protect, r)
		return nil
	})
	fs.StringVar(&pf.pool, "pool", "", "put rerouted mappings in `RANGE`; 'none' for no pool (default "+rewrite.DefaultPool.String()+")")
	fs.BoolVar(&pf.poolAll, "pool-all", false, "place every mapping made without a fixed address in the pool (same layout on every run)")
	fs.BoolVar(&pf.strict, "strict", false, "refuse (EPERM) fixed mappings inside protected ranges to everyone but owners")
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
			return nil, usagef("--pool: %v", err)
		}
		pool = r
	}
	if pf.poolAll && pool.Empty() {
		return nil, usagef("--pool-all needs a pool: drop --pool none")
	}
	p, err := rewrite.NewPolicy(pf.protect, pool, pf.poolAll, pf.strict)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return p, nil
}

// filterPolicy is the seccomp side of a policy: which calls the kernel
// may settle alone.
func filterPolicy(p *rewrite.Policy) seccomp.Policy {
	return seccomp.Policy{
		Guarded:      p.Guarded(),
		Protected:    p.Protected,
		TrapNullHint: p.PoolAll,
	}
}

// newFlagSet returns a subcommand's flag set; usage is the text shown
// above the options by --help.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags reports errors itself
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fmt.Fprintln(fs.Output(), "\nOptions:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses a subcommand's flags: -h/--help prints the usage on
// stdout, any other problem becomes a usage error.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return errHelpShown
	case err != nil:
		return &usageError{err.Error()}
	}
	return nil
}
