package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/plainfile"
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
	out := new(string)
	oneValueVar(fs, out, "o", "", "write to `FILE` instead of standard output (replaced whole: a write that fails leaves an existing FILE as it was)",
		"an empty FILE: give -o a FILE, or leave -o out to write to standard output", nil)
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
		if uerr := filterTooLarge(err); uerr != nil {
			return uerr
		}
		return fmt.Errorf("building the filter: %w", err)
	}
	if *out == "" {
		explain(stdout, p, pf.pool == "", prog, *trapAll, *quiet)
		return nil
	}
	// Written whole, or not at all: an existing FILE stays as it was
	// when the write fails (a full disk), as run's -o log stays when
	// the program never ran.
	var b bytes.Buffer
	explain(&b, p, pf.pool == "", prog, *trapAll, *quiet)
	return replaceFile(*out, b.Bytes())
}

// replaceFile writes data to the file name for -o: a regular file (or a
// new one) is replaced in one rename by a file written whole beside it,
// so that a failed write leaves what was there; a device or a pipe
// (/dev/stdout) is written to as it is.
//
// It writes only where a shell's `> FILE` would: a file mmapguard may not
// write is refused (EACCES, where a rename in a directory it may write
// replaced it, and gave it mmapguard's owner), and through a symbolic
// link the file it names is written, or created if the link dangles. A
// file with other hard links, or whose owner mmapguard cannot give the
// new file, is written over in place, as the shell does, so that it
// stays the same file.
func replaceFile(name string, data []byte) error {
	// (Stat follows the kernel's own links too: /dev/stdout, a pipe
	// through /proc/self/fd, is written as it is.)
	st, err := os.Stat(name)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("-o: %s is a directory; give -o a FILE", name)
	case err == nil && !st.Mode().IsRegular():
		return writeInPlace(name, os.O_WRONLY, data)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("-o: %w; give -o a FILE you may write", err)
	}
	target := name
	if err == nil {
		// Through a symbolic link, the file it names is replaced,
		// not the link.
		if t, err := filepath.EvalSymlinks(name); err == nil {
			target = t
		}
	} else {
		// A new file, or one a dangling link names: created there.
		st = nil
		if target, err = followLinks(name); err != nil {
			return fmt.Errorf("-o: %w; give -o a FILE you may write", err)
		}
	}
	if st != nil {
		if err := unix.Faccessat(unix.AT_FDCWD, target, unix.W_OK, unix.AT_EACCESS); err != nil {
			return fmt.Errorf("-o: open %s: %w; give -o a FILE you may write", name, err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok || sys.Nlink > 1 || int(sys.Uid) != os.Geteuid() && os.Geteuid() != 0 {
			return writeInPlace(name, os.O_WRONLY|os.O_TRUNC, data)
		}
	}
	tmp, err := createBeside(target)
	if err != nil {
		if st == nil || !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("-o: open %s: %w; give -o a FILE you may write", name, unwrapPath(err))
		}
		// A file you may write in a directory you may not: written
		// over in place (a failed write then leaves it cut short).
		return writeInPlace(name, os.O_WRONLY|os.O_TRUNC, data)
	}
	if st != nil {
		// The file keeps its permissions (and, where mmapguard may
		// give them, its owner and group).
		_ = tmp.Chmod(st.Mode().Perm())
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			_ = tmp.Chown(int(sys.Uid), int(sys.Gid))
		}
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), target)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("-o: writing %s: %w", name, unwrapPath(err))
	}
	return nil
}

// followLinks returns the path name leads to through symbolic links,
// the last of which may name a file that does not exist yet.
func followLinks(name string) (string, error) {
	p := name
	for range 40 { // the kernel's own limit (MAXSYMLINKS)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		to, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(to) {
			to = filepath.Join(filepath.Dir(p), to)
		}
		p = to
	}
	return "", &fs.PathError{Op: "open", Path: name, Err: syscall.ELOOP}
}

// createBeside creates a new file in the directory of name, to be
// renamed to name, with the permissions a new file gets (0666 less the
// umask).
func createBeside(name string) (*os.File, error) {
	dir, base := filepath.Split(name)
	for i := 0; ; i++ {
		f, err := plainfile.OpenFile(filepath.Join(dir, "."+base+".tmp"+strconv.Itoa(os.Getpid())+"-"+strconv.Itoa(i)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		return f, err
	}
}

// unwrapPath drops the file name of a *fs.PathError or *os.LinkError,
// whose name is the temporary file's, not the one the user gave.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
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
	fmt.Fprintf(w, "  pool-all   %v\n  strict     %v\n", p.PoolAll, p.Strict)
	if room := roomWarning(p); room != "" {
		// What run warns of before the program starts.
		fmt.Fprintf(w, "  warning    %s\n", room)
	}
	fmt.Fprintln(w)

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
		{"remap_file_pages of the program's own mapping", "other threads held; a gap a failure leaves is reserved again"},
		{"a BPF arena's MAP_FIXED across a 4 GiB line", "decided at the line, where the kernel puts it; EINVAL where that reaches a guarded range"},
		{"another file's MAP_FIXED across a 4 GiB line", "seen to its end, other threads held, where an arena put on its descriptor meanwhile would reach a guarded range"},
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
			"ENOMEM: the kernel places it at 1-2 GiB, all guarded (mmapguard warns)"},
			{"mmap MAP_32BIT at a guarded address, or above 2G",
				"ENOMEM: the kernel gives it only a free address below 2 GiB, else 1-2 GiB (mmapguard warns)"}}, rows[1:]...)...)
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

// writeInPlace writes data to the -o FILE name itself, opened with flag
// (a device, or a file whose directory may not be written).
func writeInPlace(name string, flag int, data []byte) error {
	f, err := plainfile.OpenFile(name, flag, 0)
	if err != nil {
		return fmt.Errorf("-o: %w; give -o a FILE you may write", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("-o: writing %s: %w", name, unwrapPath(err))
	}
	return nil
}
