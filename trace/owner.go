package trace

import (
	"fmt"
	"path"
	"strings"
	"sync/atomic"

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

// Matches reports whether the rule names the frame's code.
func (r OwnerRule) Matches(f Frame) bool {
	if f.Object == "" || !f.Confirmed && f.Addr == 0 {
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
	if unknownCode(&at) {
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
func unknownCode(at *Attribution) bool {
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
