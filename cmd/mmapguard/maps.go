package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/mmapguard/mmapguard/internal/procfile"
	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

const mapsUsage = `Usage: mmapguard maps -p PID [--protect RANGE...] [--pool RANGE|none] [-c]

Shows the layout of a running process without stopping it: every mapping
from /proc/PID/maps with its size and what it is (a file, the heap, a
stack, anonymous memory), and, for each protected range given, what lies
inside it and where it is free. With -c only the mappings that collide
with a protected range or the pool are listed (-c needs --protect or
--pool). A thread's id (as ps -L or top -H show it) shows the layout of
its process, which all its threads share. A process whose main thread
has exited while others live on is shown through one of them (a note on
standard error says which).

This is how to check, before using 'mmapguard run', where a program's
libraries, heap and thread stacks land, and what a range would collide
with. On a process mmapguard guards, its reservations (anonymous, no
access) are marked r, not as collisions. The ranges are checked as run
checks them: overlapping protected ranges, and a pool that overlaps one,
is smaller than 4M or starts below 0x10000, are refused.

Examples:
  mmapguard maps -p 1234
  mmapguard maps -p "$(pidof -s python3)" --protect 0x10000-0x80000000 -c
  mmapguard maps -p 1234 --protect 0x10000-0x80000000 -c >/dev/null && echo free

Exit status:
  0  nothing collides with a protected range or the pool
  1  a mapping collides with a protected range or the pool (a check for
     scripts)
  2  a bad command line, or a process that cannot be read (no such
     process, no permission, a kernel thread, a zombie, or one that
     exited while its layout was read), or standard output could not be
     written
`

func runMaps(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("maps", mapsUsage)
	pid := new(int)
	fs.Func("p", "the process to show (`PID`, as ps shows it)", func(s string) error {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a process ID: give a positive number, as ps shows", s)
		}
		if *pid != 0 {
			// strace -p PID -p PID traces both: showing only the last
			// would leave the other unseen, silently.
			return fmt.Errorf("a second process (%s, after %d): maps shows one process at a time; run it once for each", s, *pid)
		}
		*pid = n
		return nil
	})
	var protect []region.Range
	fs.Func("protect", "mark what lies inside `RANGE` (repeatable)", func(s string) error {
		r, err := region.ParseRange(s)
		if err != nil {
			return rangeHint(err)
		}
		protect = append(protect, r)
		return nil
	})
	poolArg := new(string)
	oneValueVar(fs, poolArg, "pool", "none", "mark what lies inside the pool `RANGE` too",
		"an empty RANGE: give --pool a RANGE; leave --pool out (or give none) for no pool", nil)
	collisions := fs.Bool("c", false, "list only the mappings that collide with a protected range or the pool (give --protect or --pool)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q: give the process with -p PID", fs.Arg(0))
	}
	if *pid == 0 {
		return usagef("no process: give one with -p PID")
	}
	var pool region.Range
	if *poolArg != "none" {
		r, err := region.ParseRange(*poolArg)
		if err != nil {
			return usagef("--pool: %v", rangeHint(err))
		}
		pool = r
	}
	// The ranges are checked as run checks them, with the same words:
	// overlapping protected ranges would be merged here unseen, and a
	// pool over a protected range neither marked nor summarised, for a
	// policy run then refuses. (What run checks of a policy as a
	// whole, the room it leaves and the addresses only root may map,
	// is about running a program; maps only looks.)
	if _, err := newPolicy(protect, pool, false, false); err != nil {
		return err
	}
	if *collisions && len(protect) == 0 && pool.Empty() {
		// Nothing can collide: -c would list nothing and exit 0, as
		// if the process had been checked.
		return usagef("-c needs ranges to check against: it lists the mappings that collide with a --protect RANGE or the --pool RANGE; give one, e.g. mmapguard maps -p %d --protect 0x10000-0x80000000 -c (or drop -c to see every mapping)", *pid)
	}
	maps, from, err := readLayout(*pid, stderr)
	if err != nil {
		return &statusError{exitUsage, err}
	}
	var prot region.Set
	for _, r := range protect {
		prot.Add(r)
	}
	guarded := tracedByMmapguard(from)
	hits := 0
	for _, m := range maps {
		in := prot.Overlaps(m.Range)
		inPool := !pool.Empty() && m.Overlaps(pool)
		reserved := guarded && rewrite.LooksReserved(m)
		if (in || inPool && !guarded) && !reserved {
			// A mapping in the pool collides too, before the
			// program runs under the guard: run cannot reserve it
			// there (a warning at exec), and -c lists it. In a
			// process the guard runs, the pool is where it put
			// what it moved.
			hits++
		}
		if *collisions && !in && !inPool {
			continue
		}
		mark, what := "  ", describe(m)
		switch {
		case reserved && (in || inPool):
			mark, what = "r ", "mmapguard's reservation (no access, nothing can map there)"
		case in:
			mark = "P "
		case inPool:
			mark = "p "
		}
		fmt.Fprintf(stdout, "%s%-33v %8s %s %s\n", mark, m.Range, region.HumanSize(m.Len()), m.Perms, what)
	}
	summary := prot.Ranges()
	if !pool.Empty() {
		summary = append(summary, pool)
	}
	for i, r := range summary {
		// The guard's reservations are no use: the program's
		// explicit requests get them; the summary says so apart.
		var used, taken, resv region.Set
		n := 0
		for _, m := range maps {
			taken.Add(m.Intersect(r))
			if guarded && rewrite.LooksReserved(m) {
				resv.Add(m.Intersect(r))
				continue
			}
			used.Add(m.Intersect(r))
			if m.Overlaps(r) {
				n++
			}
		}
		what := "protected"
		if i == len(prot.Ranges()) {
			what = "pool"
		}
		fmt.Fprintf(stdout, "\n%s %v (%s): %s used by %d mapping(s)", what, r, region.HumanSize(r.Len()), region.HumanSize(used.Total()), n)
		if resv.Len() > 0 {
			fmt.Fprintf(stdout, ", %s reserved by mmapguard", region.HumanSize(resv.Total()))
		}
		fmt.Fprintf(stdout, ", %s free", region.HumanSize(r.Len()-taken.Total()))
		if used := taken; used.Len() > 0 {
			largest := uint64(0)
			for g := range used.Gaps(r) {
				largest = max(largest, g.Len())
			}
			fmt.Fprintf(stdout, "; largest free piece %s", region.HumanSize(largest))
		}
		fmt.Fprintln(stdout)
	}
	if !*collisions && (len(protect) > 0 || !pool.Empty()) {
		fmt.Fprintln(stdout, "\nP: inside a protected range, p: inside the pool, r: reserved by mmapguard (not a collision)")
	}
	if hits > 0 {
		return exitCode(exitError)
	}
	return nil
}

// readLayout reads process pid's layout for maps, and returns the task
// it was read from: pid itself, or, where pid is a process whose main
// thread has exited (pthread_exit) while others live on, one of those,
// which still have the address space (the leader, a zombie, shows
// none; the eighteenth session found such a process called "a zombie
// ... it has exited"). Each error says what became of the process.
func readLayout(pid int, stderr io.Writer) ([]region.Mapping, int, error) {
	maps, err := region.ReadMaps(pid)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, 0, fmt.Errorf("no process %d (%w): check the pid with ps", pid, err)
	case errors.Is(err, os.ErrPermission) && os.Geteuid() == 0:
		return nil, 0, fmt.Errorf("may not read process %d's layout (%w), even as root: it lies outside this user namespace, or ptrace access to it is restricted (kernel.yama.ptrace_scope 3, a security module); run maps where the process was started", pid, err)
	case errors.Is(err, os.ErrPermission):
		return nil, 0, fmt.Errorf("may not read process %d's layout (%w): it belongs to another user, or is not dumpable; run maps as its user or as root", pid, err)
	case errors.Is(err, syscall.ESRCH):
		// The read began, and the process went on its way out
		// (its address space gone mid-read).
		return nil, 0, fmt.Errorf("process %d exited while its layout was read (%w): nothing is shown", pid, err)
	case err != nil:
		return nil, 0, fmt.Errorf("%w (does pid %d exist, and may you read its /proc/%d/maps?)", err, pid, pid)
	}
	from := pid
	if len(maps) == 0 {
		if tid, m, ok := liveThreadLayout(pid); ok {
			fmt.Fprintf(stderr, "mmapguard maps: process %d's main thread has exited; its other threads live on: the layout was read through thread %d\n", pid, tid)
			maps, from = m, tid
		}
	}
	if len(maps) == 0 {
		st, err := procfile.Read(fmt.Sprintf("/proc/%d/stat", pid))
		switch {
		case err != nil:
			return nil, 0, fmt.Errorf("process %d exited while its layout was read: nothing to show", pid)
		case kernelThread(st):
			return nil, 0, fmt.Errorf("process %d is a kernel thread: it has no user address space, nothing to show", pid)
		}
		if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) && st[i+2] == 'Z' {
			return nil, 0, fmt.Errorf("process %d is a zombie (it has exited, and its parent has not waited for it yet): it has no address space, nothing to show", pid)
		}
		return nil, 0, fmt.Errorf("process %d has no address space (it is exiting): nothing to show", pid)
	}
	if !hasMemory(from) {
		// Its address space went away during the read, which then ends
		// early, as at the end of the file: the layout is cut short
		// (with -c, a collision further on went unseen).
		return nil, 0, fmt.Errorf("process %d exited while its layout was read: what was read may be cut short, so nothing is shown", pid)
	}
	return maps, from, nil
}

// liveThreadLayout reads the layout of process pid through another of
// its threads than pid, for a process whose main thread has exited.
func liveThreadLayout(pid int) (int, []region.Mapping, bool) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, nil, false
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil || tid == pid {
			continue
		}
		if m, err := region.ReadMaps(tid); err == nil && len(m) > 0 {
			return tid, m, true
		}
	}
	return 0, nil, false
}

// kernelThread reports whether a /proc/PID/stat line is a kernel
// thread's (PF_KTHREAD in its flags, the ninth field).
func kernelThread(stat []byte) bool {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 7 {
		return false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	return err == nil && flags&0x00200000 != 0 // PF_KTHREAD
}

// tracedByMmapguard reports whether pid's tracer is mmapguard (the
// same binary as this one, under whatever name it was installed, or a
// command name that starts so; the tests' binary is mmapguard.test):
// then the anonymous no-access mappings in its ranges are the guard's
// reservations, not collisions.
func tracedByMmapguard(pid int) bool {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok {
			tracer := strings.TrimSpace(v)
			if tracer == "0" {
				return false
			}
			if sameFile("/proc/"+tracer+"/exe", "/proc/self/exe") {
				return true
			}
			comm, err := procfile.Read("/proc/" + tracer + "/comm")
			return err == nil && strings.HasPrefix(string(comm), "mmapguard")
		}
	}
	return false
}

// printable escapes the control characters in s (bytes below 0x20, and
// DEL) as \ooo, as the kernel writes a newline in a path in
// /proc/PID/maps (\012): a file name, or a soname a file carries, may
// hold any of them, and written as they are they break a listing's
// lines or drive the terminal (ESC [ ... m: the eighteenth session).
// Other bytes, UTF-8 or not, stay as they are.
func printable(s string) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.WriteString(s[:i])
	for j := i; j < len(s); j++ {
		if c := s[j]; c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, "\\%03o", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// describe says what a mapping is, in a few words, control characters
// escaped.
func describe(m region.Mapping) string {
	return printable(describeRaw(m))
}

func describeRaw(m region.Mapping) string {
	switch {
	case m.File() != "":
		s := m.File()
		if m.Deleted() {
			s += " (deleted)"
		}
		if m.Offset != 0 {
			s += " +0x" + strconv.FormatUint(m.Offset, 16)
		}
		return s
	case m.Path != "":
		return m.Path
	case m.Perms == "---p":
		return "anonymous, no access (a reservation or guard area)"
	}
	return "anonymous"
}

// flagSet reports whether the command line set flag name.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// sameFile reports whether paths a and b name the same file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// hasMemory reports whether process pid still has its address space:
// /proc/PID/statm gives its size in pages, 0 once the process has let
// its memory go on its way out (and an error once it is gone).
func hasMemory(pid int) bool {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return false
	}
	size, _, _ := bytes.Cut(b, []byte(" "))
	return len(size) > 0 && string(size) != "0"
}
