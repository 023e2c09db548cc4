package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

const explainUsage = `Usage: mmapguard explain --protect RANGE [--protect RANGE...] [--pool RANGE|none]
                         [--pool-all] [--strict] [--trace-all] [-o FILE] [-q]

Prints the policy mmapguard would enforce with these options: the protected
ranges, the pool, what each mapping call becomes, and the seccomp filter
that decides in the kernel which calls need the tracer (its size and its
disassembly). Nothing is run. The policy options are run's.

RANGE is START-END (end exclusive) or START+SIZE, page-aligned, inside user
space: 0x10000-0x80000000, 0x10000+2G. Sizes take K, M, G, T suffixes.

Examples:
  mmapguard explain --protect 0x10000-0x80000000
  mmapguard explain -q --protect 0x10000+2G --pool none --strict
  mmapguard explain --protect 0x10000-0x80000000 --trace-all -o filter.txt

Exit status:
  0  the policy was printed
  1  the -o FILE (or standard output) could not be written
  2  a bad command line, or a policy run would refuse: nothing was printed
`

func runExplain(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("explain", explainUsage)
	var pf policyFlags
	pf.register(fs)
	trapAll := fs.Bool("trace-all", false, "show the filter without the in-kernel fast path, as run --trace-all installs it (every mapping call stops in the tracer)")
	out := fs.String("o", "", "write to `FILE` instead of standard output")
	quiet := fs.Bool("q", false, "print only the policy and the filter's size, not its disassembly")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q: explain runs nothing", fs.Arg(0))
	}
	p, err := pf.policy()
	if err != nil {
		return err
	}
	sp := filterPolicy(p)
	sp.TrapAll = *trapAll
	prog, err := seccomp.Build(sp)
	if err != nil {
		return fmt.Errorf("building the filter: %w", err)
	}
	if *out == "" {
		explain(stdout, p, pf.pool == "", prog, *trapAll, *quiet)
		return nil
	}
	f, err := os.Create(*out)
	if err != nil {
		return fmt.Errorf("-o: %w; give -o a FILE you may write", err)
	}
	w := &errWriter{w: f}
	explain(w, p, pf.pool == "", prog, *trapAll, *quiet)
	if cerr := f.Close(); w.err == nil {
		w.err = cerr
	}
	if w.err != nil {
		return fmt.Errorf("-o: writing %s: %w", *out, w.err)
	}
	return nil
}

func explain(w io.Writer, p *rewrite.Policy, defaultPool bool, prog *seccomp.Program, trapAll, quiet bool) {
	fmt.Fprintln(w, "Policy")
	for _, r := range p.Protected {
		fmt.Fprintf(w, "  protected  %-32v %s\n", r, region.HumanSize(r.Len()))
	}
	switch {
	case !p.HasPool():
		fmt.Fprintln(w, "  pool       none: hints into a protected range are dropped (the kernel chooses)")
	case defaultPool:
		fmt.Fprintf(w, "  pool       %-32v %s (default)\n", p.Pool, region.HumanSize(p.Pool.Len()))
	default:
		fmt.Fprintf(w, "  pool       %-32v %s\n", p.Pool, region.HumanSize(p.Pool.Len()))
	}
	if !p.Code.Empty() {
		fmt.Fprintf(w, "  code page  %-32v mmapguard's, for one-stop rewrites of 64-bit calls (reserved until the first)\n", p.Code)
	}
	fmt.Fprintf(w, "  pool-all   %v\n  strict     %v\n\n", p.PoolAll, p.Strict)

	fmt.Fprintln(w, "What mapping calls become")
	fixed := "honoured at exactly that address"
	if p.Strict {
		fixed = "refused with EPERM (--strict)"
	}
	moved := "moved to the kernel's choice, outside every protected range"
	if p.HasPool() {
		moved = "moved into the pool"
	}
	nullHint := "left to the kernel, which can no longer choose a guarded range"
	if p.PoolAll {
		nullHint = "placed in the pool"
	}
	rows := [][2]string{
		{"mmap without an address", nullHint},
		{"mmap with a hint inside a protected range", moved},
		{"MAP_FIXED / MAP_FIXED_NOREPLACE inside", fixed},
		{"munmap inside a guarded range", "the reservation is put back in the same call: no hole"},
		{"mprotect, madvise, mlock, mseal of a reservation", "ENOMEM, as for unmapped memory"},
		{"msync, mincore of a reservation", "ENOMEM, as for unmapped memory"},
		{"mremap, mbind, get_mempolicy of a reservation", "EFAULT, as for unmapped memory"},
		{"brk growing into a guarded range", "fails: the break stays where it was"},
		{"shmdt of a segment in a guarded range", "the reservation is put back over it in the same call"},
		{"clone with CLONE_UNTRACED", "EPERM"},
		{"a seccomp filter with a notification listener", "EBUSY (it could answer calls before the tracer sees them)"},
		{"prctl(PR_SET_MM) moving the program break", "EPERM"},
		{"clone3", "ENOSYS (the C library falls back to clone)"},
		{"io_uring_setup, io_uring_enter, io_uring_register", "ENOSYS (a ring's madvise is out of the filter's sight)"},
		{"process_madvise of advice that unmaps or forks", "EINVAL, as before Linux 6.15 (WILLNEED, COLD, PAGEOUT, COLLAPSE pass)"},
		{"uselib", "ENOSYS"},
		{"x32 system calls", "ENOSYS; an unknown architecture kills the process"},
	}
	if p.Map32Blocked() {
		rows = append(rows[:1:1], append([][2]string{{"mmap MAP_32BIT without an address",
			"ENOMEM: the kernel places it at 1-2 GiB, all guarded (mmapguard warns)"}}, rows[1:]...)...)
	}
	for _, r := range rows {
		fmt.Fprintf(w, "  %-50s %s\n", r[0], r[1])
	}

	mode := "calls that cannot touch a guarded range are allowed in the kernel"
	if trapAll {
		mode = "every mapping call stops in the tracer"
	}
	fmt.Fprintf(w, "\nSeccomp filter: %d instructions (limit %d); %s\n", prog.Len(), seccomp.MaxInstructions, mode)
	if !quiet {
		fmt.Fprint(w, prog.Disassemble())
	}
}
