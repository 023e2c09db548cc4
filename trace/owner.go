package trace

import (
	"fmt"
	"path"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/plainfile"
	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/region"
)

// OwnerRule names code allowed to use protected ranges freely: its hints
// there are honoured, and with a strict policy only its fixed mappings
// are. Object is a glob (path.Match) matched against the caller's object
// path and its file name; Symbol, if not empty, a glob for the caller's
// function as well.
type OwnerRule struct {
	Object, Symbol string
}

// ParseOwnerRule reads "OBJECT" or "OBJECT!SYMBOL".
func ParseOwnerRule(s string) (OwnerRule, error) {
	obj, sym, hasSym := strings.Cut(s, "!")
	r := OwnerRule{Object: obj, Symbol: sym}
	switch {
	case obj == "":
		return r, fmt.Errorf("owner %q: want OBJECT or OBJECT!SYMBOL, e.g. libwine.so or 'libwine.so!virtual_*'", s)
	case hasSym && sym == "":
		return r, fmt.Errorf("owner %q: no SYMBOL after '!': give one (%s!virtual_*), or drop the '!' for all of %s", s, obj, obj)
	case strings.Contains(sym, "!"):
		return r, fmt.Errorf("owner %q: more than one '!': want OBJECT or OBJECT!SYMBOL", s)
	}
	for _, p := range []string{obj, sym} {
		if _, err := path.Match(p, ""); err != nil {
			return r, fmt.Errorf("owner %q: bad pattern %q: %v (%s)", s, p, err, loader.PatternHint(p))
		}
	}
	return r, nil
}

func (r OwnerRule) String() string {
	if r.Symbol == "" {
		return r.Object
	}
	return r.Object + "!" + r.Symbol
}

// Matches reports whether the rule names the frame's code. Only a
// file's code can be an owner's: not a pseudo mapping ([vdso]), nor a
// memfd, whose name is the program's to choose ("/memfd:libowner.so").
func (r OwnerRule) Matches(f Frame) bool {
	if !strings.HasPrefix(f.Object, "/") || strings.HasPrefix(f.Object, "/memfd:") || !f.Confirmed && f.Addr == 0 {
		return false
	}
	ok, _ := path.Match(r.Object, f.Object)
	if !ok {
		ok, _ = path.Match(r.Object, path.Base(f.Object))
	}
	if !ok {
		return false
	}
	if r.Symbol == "" {
		return true
	}
	ok, _ = path.Match(r.Symbol, f.Symbol)
	return ok
}

func matchOwner(rules []OwnerRule, at *Attribution) bool {
	if at == nil {
		return false
	}
	for _, r := range rules {
		if r.Matches(at.Caller) {
			return true
		}
	}
	return false
}

// ownerCall reports whether the call tk is stopped in comes from code an
// owner rule names (see matchOwner), as the layout is now where it
// matters. The attributor's layout is read at exec and when a walk meets
// unknown code, not at every change: the mapping an owner's object had
// may hold something else since (the object closed with dlclose and
// another opened at its place, or the program's own code mapped with
// MAP_FIXED over its text), whose calls were credited to the owner,
// symbol and all (thirteenth session). So where a rule matches, the
// kernel is asked for the mapping at the caller's address, and if it is
// not the recorded one, the layout is read again and the call
// attributed anew (at is updated). A rule naming a file by its full path
// also wants that file itself, as mmapguard sees it: a program in a
// mount namespace of its own can put another file at that path (a bind
// mount in a user namespace needs no privilege).
//
// The same look is taken where no rule matches: an owner's object opened
// again after its dlclose, at a place the recorded layout gave to
// another, was not its owner's (EPERM under --strict). Only where the
// walk found a caller: a layout read at every call whose caller is
// unknown made every stop of a thread that ends cost milliseconds (see
// attribute).
func (t *tracer) ownerCall(tk *task, si syscallInfo, at **Attribution) bool {
	if len(t.cfg.Owners) == 0 || *at == nil || (*at).Caller.Addr == 0 {
		return false
	}
	if noProcmapQuery.Load() && !matchOwner(t.cfg.Owners, *at) {
		// Before Linux 6.11 the look reads the whole layout: only
		// where a rule matches (a read at every call with a caller
		// cost milliseconds each in a program of thousands of
		// mappings: the thirteenth session's review).
		return false
	}
	if !t.mappingCurrent(tk, (*at).Caller.Addr) {
		mapsRereads.Add(1)
		maps, err := region.ReadMaps(tk.tid)
		if err != nil {
			return false
		}
		t.attr.SetMaps(tk.pid, maps)
		rbp, err := peekUser(tk.tid, offRbp)
		if err != nil {
			return false
		}
		a := t.attr.Attribute(tk.pid, procMemory{tk.tid}, si.ip, si.sp, rbp)
		*at = &a
	}
	if !matchOwner(t.cfg.Owners, *at) {
		return false
	}
	m, ok := t.attr.MappingAt(tk.pid, (*at).Caller.Addr)
	if !ok {
		return false
	}
	for _, r := range t.cfg.Owners {
		if r.Matches((*at).Caller) && t.ownerFile(r, m) {
			return true
		}
	}
	return false
}

// mappingCurrent reports whether the kernel's mapping at addr in tk's
// process is the one the attributor has recorded there (the same start,
// file and offset), asked with PROCMAP_QUERY; false where it cannot be
// asked (before Linux 6.11), which has the layout read again.
func (t *tracer) mappingCurrent(tk *task, addr uint64) bool {
	rec, ok := t.attr.MappingAt(tk.pid, addr)
	if !ok {
		return false
	}
	f, err := plainfile.Open(fmt.Sprintf("/proc/%d/maps", tk.tid))
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	q := procmapQuery{Size: uint64(unsafe.Sizeof(procmapQuery{})), QueryAddr: addr}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), procmapQueryIoctl, uintptr(unsafe.Pointer(&q))); e != 0 {
		if e == unix.ENOTTY || e == unix.EINVAL {
			noProcmapQuery.Store(true)
		}
		return false
	}
	return q.VMAStart == rec.Start && q.VMAEnd == rec.End && q.VMAOffset == rec.Offset && q.Inode == rec.Inode &&
		fmt.Sprintf("%02x:%02x", q.DevMajor, q.DevMinor) == rec.Dev
}

// noProcmapQuery is set once PROCMAP_QUERY was found missing (before
// Linux 6.11).
var noProcmapQuery atomic.Bool

// ownerFile reports whether mapping m, which rule r names, maps the file
// r names, where r names one by its full path (no pattern): the same
// inode as that path has for mmapguard. (Not the device: on btrfs, stat
// gives a subvolume's own device, /proc/PID/maps the file system's, and
// a rule by full path never matched there: the thirteenth session's
// review.) A file mmapguard cannot stat is no owner.
func (t *tracer) ownerFile(r OwnerRule, m region.Mapping) bool {
	if !path.IsAbs(r.Object) || strings.ContainsAny(r.Object, `*?[\`) {
		return true
	}
	var st unix.Stat_t
	if unix.Stat(r.Object, &st) != nil {
		return false
	}
	return st.Ino == m.Inode
}

// procMemory reads a tracee's memory as the attribution engine needs it.
type procMemory struct{ tid int }

func (m procMemory) ReadAt(p []byte, addr uint64) error {
	if len(p) == 0 {
		return nil
	}
	return peekAsProgram(m.tid, addr, p)
}

// attribute finds the code behind the call a task is stopped in. A call
// from code the attributor does not know yet (a library mapped without a
// stop: the kernel settles those) makes it read the layout again.
//
// Only then: a walk that found every frame in a known mapping and still
// no caller (a thread's own madvise of its stack as it ends, whose walk
// reaches the thread's outermost frame in the C library) would find the
// same in a new layout. Read again at each such call, /proc/PID/maps of
// a process with thousands of threads (two mappings each) made every
// stop cost milliseconds: 5,000 threads with --pool-all and -o took 58 s
// instead of 1.7 s (TestAttributeNoRereadAtThreadExit).
func (t *tracer) attribute(tk *task, si syscallInfo) *Attribution {
	rbp, err := peekUser(tk.tid, offRbp)
	if err != nil {
		return nil
	}
	mem := procMemory{tk.tid}
	at := t.attr.Attribute(tk.pid, mem, si.ip, si.sp, rbp)
	// For the log alone (owner rules look themselves: ownerCall), a
	// caller in a mapping that is not the recorded one any more (a
	// library closed, another opened at its place) is found again in a
	// newer layout: the log named the closed library, symbols and all.
	// Only where the kernel answers PROCMAP_QUERY (one ioctl), not with
	// a reading of the whole layout at every call.
	stale := len(t.cfg.Owners) == 0 && at.Caller.Addr != 0 && !noProcmapQuery.Load() && !t.mappingCurrent(tk, at.Caller.Addr)
	if unknownCode(&at) || stale {
		mapsRereads.Add(1)
		if maps, err := region.ReadMaps(tk.tid); err == nil {
			t.attr.SetMaps(tk.pid, maps)
			at = t.attr.Attribute(tk.pid, mem, si.ip, si.sp, rbp)
		}
	}
	return &at
}

// unknownCode reports whether an attribution met code in no known
// mapping, or in anonymous memory not known to be executable (a JIT's
// code made executable since the layout was read): the site, or the
// last frame the walk reached, where it stopped. A newer layout may know
// it.
//
// Or the walk found no caller and met a return address in no known
// mapping: an object opened since with dlopen, where the layout read had
// nothing (an owner opened again after its dlclose was no owner).
func unknownCode(at *Attribution) bool {
	if at.Caller.Addr == 0 && at.strayReturn != 0 {
		return true
	}
	if at.Class == ClassJIT {
		return false
	}
	if at.Site.Object == "" {
		return true
	}
	last := at.Stack[len(at.Stack)-1]
	return at.Class == ClassUnknown && last.Object == ""
}

// mapsRereads counts the layouts read again for attribution (tests).
var mapsRereads atomic.Int64
