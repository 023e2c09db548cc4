package trace

// Attribution: which code made a trapped call. See docs/attribution.md
// for the method and its limits; the comments here say how each part
// works.

import (
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/arch/x86/x86asm"

	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/region"
)

// Memory reads a stopped tracee's memory: all of p from addr, or an
// error. The tracer's implementation reads through process_vm_readv or
// /proc/PID/mem; tests read a live or recorded process.
type Memory interface {
	ReadAt(p []byte, addr uint64) error
}

// Mapping is one line of /proc/PID/maps.
type Mapping = region.Mapping

// The classes of an Attribution.
const (
	ClassLoader      = "loader"       // ld.so mapping an object or its own memory
	ClassMalloc      = "malloc"       // libc's allocator (arenas, large chunks)
	ClassThreadStack = "thread-stack" // pthread_create allocating a stack
	ClassProgram     = "program"      // any other code in a file-backed object
	ClassJIT         = "jit"          // code in an anonymous (or memfd) executable mapping
	ClassUnknown     = "unknown"      // the call could not be attributed
)

// How an Attribution's Caller was found: the least certain method used
// by any step of the walk from the site, in this order from most to
// least certain. HowSite means the site is the caller (no walk).
const (
	HowSite          = "site"
	HowReturnAddress = "return address"
	HowEHFrame       = "eh_frame"
	HowFramePointer  = "frame pointer"
	HowUnknown       = "unknown"
)

// Frame is one place in the code.
type Frame struct {
	// Addr is the instruction: for a site, the syscall instruction
	// (rip-2); for a caller, the call instruction that the return
	// address follows.
	Addr uint64
	// Object is the mapped file's path (without " (deleted)"), a
	// kernel name such as [vdso], or "" for anonymous memory and for an
	// address in no known mapping.
	Object string
	// Symbol is the ELF symbol holding Addr, "" when the object's
	// table names none (a stripped library's internal function) or
	// there is no object.
	Symbol string
	// Offset is Addr's offset into Symbol. Without a symbol it is the
	// link-time address in Object (what addr2line and objdump show),
	// or, when the object could not be read, the offset in the file;
	// in anonymous memory, the offset into the mapping.
	Offset uint64
	// Confirmed says the instruction was checked: for a site, the two
	// bytes before rip are a syscall (or int $0x80, sysenter)
	// instruction; for a caller, the bytes before the return address
	// decode as a CALL that ends exactly there. Callers are only ever
	// reported confirmed.
	Confirmed bool
}

// String formats f as "libc.so.6!malloc+0x1a", "prog+0x1139" (no
// symbol), "anon:0x7f0000001000" or "?" (the zero Frame).
func (f Frame) String() string {
	switch {
	case f == Frame{}:
		return "?"
	case f.Object == "":
		return fmt.Sprintf("anon:%#x", f.Addr)
	case f.Symbol == "":
		return fmt.Sprintf("%s+%#x", path.Base(f.Object), f.Offset)
	}
	return fmt.Sprintf("%s!%s+%#x", path.Base(f.Object), f.Symbol, f.Offset)
}

// Attribution says which code made one trapped call.
type Attribution struct {
	// Site holds the syscall instruction.
	Site Frame
	// Caller is the first frame outside the system call wrappers (the
	// Site itself when that is not in a wrapper library), or the zero
	// Frame when the walk could not find it.
	Caller Frame
	// Class is one of the Class constants.
	Class string
	// How is one of the How constants.
	How string
	// Stack is the frames walked, Site first; it ends at the Caller
	// when one was found, else at the last frame the walk reached.
	Stack []Frame
	// strayReturn is a return address the walk met in no recorded
	// mapping: code mapped since the layout was read, perhaps (an
	// object opened with dlopen at a place that had nothing).
	strayReturn uint64
}

// String formats the attribution on one line for a log.
func (at Attribution) String() string {
	return fmt.Sprintf("%s (%s, %s; site %s)", at.Caller, at.Class, at.How, at.Site)
}

// Limits of the walk.
const (
	maxWalk     = 16      // caller frames tried before giving up
	maxCallLen  = 9       // longest call instruction looked for (prefixes, REX, ModRM, SIB, disp32)
	maxFrame    = 1 << 20 // largest distance from a frame's rsp to its rbp believed
	stackWindow = 512     // bytes of stack read at once
)

// Default patterns for Attributor.Wrappers and Attributor.Loaders.
// musl's ld-musl-*.so.1 is its libc and its loader in one object: it
// counts as libc.
var (
	DefaultWrappers = []string{"libc.so*", "libc-*.so", "libpthread.so*", "libpthread-*.so", "libdl.so*", "libdl-*.so", "ld-musl-*.so*"}
	DefaultLoaders  = []string{"ld-linux*.so*", "ld-2.*.so", "ld64.so*"}
)

// Attributor finds the code behind trapped calls. It keeps each traced
// process's layout (SetMaps) and, per mapped object, its symbol table
// and unwind data, read from the file on first use and kept while any
// process maps the object, and then for the next few processes
// (maxIdle objects, reused while the file is unchanged): a build runs
// the same compiler one process after another, and reading a large
// object (rustc's 150 MB driver library) costs a fifth of a second. It
// is safe for concurrent use (one lock: the first attribution into an
// object also reads its file under it).
type Attributor struct {
	// Wrappers are glob patterns (path.Match) for the base names of the
	// libraries whose frames are walked through to find the caller:
	// libc's system call wrappers and the code around them. Change them
	// before the first SetMaps.
	Wrappers []string
	// Loaders are patterns for ld.so: its frames are walked through at
	// the site, and a caller there makes the call the loader's.
	Loaders []string
	// DebugDirs are searched for the separate debug file of an object
	// without .symtab (DIR/.build-id/xx/rest.debug): with Debian's
	// libc6-dbg installed, libc's internal functions (sysmalloc,
	// _int_malloc, allocate_stack) get names.
	DebugDirs []string

	mu    sync.Mutex
	procs map[int]*attribProc
	objs  map[attribKey]*attribObject
	refs  map[attribKey]int // processes mapping each object's code
	idle  []idleObject      // objects no process maps any more, oldest first
	buf   [maxCallLen]byte  // scratch for memory reads (under mu)
	win   [stackWindow]byte // the stack window of the current walk (under mu)
}

type attribProc struct {
	maps []Mapping       // sorted by Start
	objs []*attribObject // objs[i]: maps[i]'s object, once looked up
	keys []attribKey
}

// maxIdle is how many objects no process maps are kept for reuse.
const maxIdle = 8

type idleObject struct {
	key attribKey
	obj *attribObject
}

// attribKey names a mapped file the way /proc/PID/maps does.
type attribKey struct {
	path  string
	dev   string
	inode uint64
}

type objRole int

const (
	roleOther objRole = iota
	roleWrapper
	roleLoader
)

// attribObject is what is known about one mapped file.
type attribObject struct {
	syms  *loader.Symbols // nil when the file could not be read
	stamp fileStamp       // the file's size and time when syms was read
	role  objRole
	cfi   *cfiTable // built on first use; nil until then

	// Results remembered across walks: the object's code is the same
	// in every process, so a row of its CFI is too, and a call check
	// is, for the same bytes at the same link-time address.
	rows  map[rowKey]rowResult
	calls map[callKey]int8 // the call's length, or 0 for none
}

type rowKey struct {
	pc  uint64
	top bool
}

type rowResult struct {
	row cfiRow
	ok  bool
}

type callKey struct {
	ra   uint64 // link-time address
	n    int8
	code [maxCallLen]byte
}

// maxMemo bounds each of an object's memo tables; a full one starts
// over.
const maxMemo = 1 << 14

// row returns the CFI row of link-time address pc, memoized.
func (o *attribObject) row(pc uint64, top bool) (cfiRow, bool) {
	k := rowKey{pc, top}
	if r, ok := o.rows[k]; ok {
		return r.row, r.ok
	}
	row, ok := o.cfiTable().row(pc, top)
	if o.rows == nil || len(o.rows) >= maxMemo {
		o.rows = map[rowKey]rowResult{}
	}
	o.rows[k] = rowResult{row, ok}
	return row, ok
}

// NewAttributor returns an Attributor with the default wrapper and
// loader patterns and no processes.
func NewAttributor() *Attributor {
	return &Attributor{
		Wrappers:  slices.Clone(DefaultWrappers),
		Loaders:   slices.Clone(DefaultLoaders),
		DebugDirs: []string{"/usr/lib/debug"},
		procs:     map[int]*attribProc{},
		objs:      map[attribKey]*attribObject{},
		refs:      map[attribKey]int{},
	}
}

// SetMaps records the layout of process pid, as /proc/PID/maps shows
// it: call it after exec and whenever executable mappings may have
// changed (an address in no recorded mapping attributes as unknown).
// Threads share their process's layout; a forked child needs its own
// call. A nil maps forgets the process. Objects no process maps any more
// are dropped from the cache.
func (a *Attributor) SetMaps(pid int, maps []Mapping) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := a.procs[pid]
	if maps == nil {
		delete(a.procs, pid)
	} else {
		p := &attribProc{maps: slices.Clone(maps), objs: make([]*attribObject, len(maps))}
		slices.SortFunc(p.maps, func(x, y Mapping) int {
			switch {
			case x.Start < y.Start:
				return -1
			case x.Start > y.Start:
				return 1
			}
			return 0
		})
		seen := map[attribKey]bool{}
		for i := range p.maps {
			m := &p.maps[i]
			if k, ok := keyOf(m); ok && m.Executable() && !seen[k] {
				seen[k] = true
				p.keys = append(p.keys, k)
				a.refs[k]++
			}
		}
		a.procs[pid] = p
	}
	if old != nil {
		for _, k := range old.keys {
			if a.refs[k]--; a.refs[k] <= 0 {
				delete(a.refs, k)
				if o := a.objs[k]; o != nil && o.syms != nil {
					if len(a.idle) == maxIdle {
						a.idle = a.idle[1:]
					}
					a.idle = append(a.idle, idleObject{k, o})
				}
				delete(a.objs, k)
			}
		}
	}
}

// MappingAt returns the mapping of process pid's recorded layout (see
// SetMaps) that holds addr.
func (a *Attributor) MappingAt(pid int, addr uint64) (Mapping, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.procs[pid]
	if p == nil {
		return Mapping{}, false
	}
	i := sort.Search(len(p.maps), func(i int) bool { return p.maps[i].End > addr })
	if i < len(p.maps) && p.maps[i].Start <= addr {
		return p.maps[i], true
	}
	return Mapping{}, false
}

func keyOf(m *Mapping) (attribKey, bool) {
	f := m.File()
	if f == "" {
		return attribKey{}, false
	}
	return attribKey{f, m.Dev, m.Inode}, true
}

// Attribute finds the code behind the call trapped in process pid (the
// thread group id SetMaps was given) whose thread stopped with the given
// registers: rip just after the syscall instruction, as at a seccomp
// stop, and that thread's rsp and rbp. mem reads that process.
//
// The site is the object and symbol of the syscall instruction. If it
// is not in a wrapper library (libc, ld.so) it is the caller too: a
// program's or library's own syscall instruction, or a JIT's. Otherwise
// the stack is walked. Each step takes the frame's .eh_frame CFI when
// its object has a row for the pc (for the site, a row saying the
// function has pushed nothing is the simple rule: the return address is
// the word at rsp); without CFI, the site's frame tries the word at
// rsp, and any frame then the rbp chain. The return address a step
// finds must lie in executable memory right after a CALL instruction,
// or the step fails; CFI that points at anything else is not second-
// guessed with the rbp chain. The walk stops at the first frame outside
// the wrappers (a frame in ld.so counts: the loader is the caller),
// after 16 frames, or when a step fails; then the Caller is unknown.
//
// The class: the malloc-family or pthread_create frame nearest the site
// among the wrapper frames walked makes it "malloc" or "thread-stack";
// otherwise a caller in ld.so (or a site in ld.so whose caller is
// unknown) makes it "loader", a caller in anonymous executable memory
// "jit", any other caller "program", and no caller "unknown".
func (a *Attributor) Attribute(pid int, mem Memory, rip, rsp, rbp uint64) Attribution {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := walker{a: a, pid: pid, mem: mem}
	if p := a.procs[pid]; p != nil {
		w.maps, w.objs = p.maps, p.objs
	}
	if rip < 2 {
		return Attribution{Class: ClassUnknown, How: HowUnknown}
	}
	site := rip - 2
	sm, so := w.locate(site)
	at := Attribution{Site: w.frame(site, sm, so)}
	at.Site.Confirmed = w.isSyscall(site)
	at.Stack = append(make([]Frame, 0, 8), at.Site)

	role := roleOther
	if so != nil {
		role = so.role
	}
	if sm == nil || role == roleOther {
		at.Caller, at.How, at.Class = at.Site, HowSite, classOf(sm)
		if sm == nil {
			at.Caller, at.How = Frame{}, HowUnknown
		}
		return at
	}

	class := familyClass(at.Site.Symbol)
	how := HowReturnAddress
	r := unwindRegs{pc: rip, sp: rsp, fp: rbp, fpOK: true}
	for i := 0; i < maxWalk; i++ {
		next, method, call, ok := w.step(r, i == 0)
		if !ok {
			break
		}
		how = weaker(how, method)
		cm, co := w.locate(call)
		f := w.frame(call, cm, co)
		f.Confirmed = true
		at.Stack = append(at.Stack, f)
		cr := roleOther
		if co != nil {
			cr = co.role
		}
		if cr == roleWrapper {
			if class == "" {
				class = familyClass(f.Symbol)
			}
			r = next
			continue
		}
		at.Caller, at.How = f, how
		switch {
		case class != "":
		case cr == roleLoader:
			class = ClassLoader
		default:
			class = classOf(cm)
		}
		at.Class = class
		return at
	}
	at.How, at.strayReturn = HowUnknown, w.stray
	switch {
	case class != "":
		at.Class = class
	case role == roleLoader:
		at.Class = ClassLoader
	default:
		at.Class = ClassUnknown
	}
	return at
}

// weaker returns the less certain of two How values.
func weaker(a, b string) string {
	rank := func(h string) int {
		switch h {
		case HowReturnAddress:
			return 1
		case HowEHFrame:
			return 2
		case HowFramePointer:
			return 3
		}
		return 4
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// classOf classes a caller by its mapping: code in a file is the
// program's; executable anonymous memory (also named with
// PR_SET_VMA_ANON_NAME) and memfd mappings are a JIT's.
func classOf(m *Mapping) string {
	switch {
	case m == nil:
		return ClassUnknown
	case m.Path == "" || m.AnonName() != "" || m.MemfdName() != "":
		if m.Executable() {
			return ClassJIT
		}
		return ClassUnknown
	case m.Pseudo():
		// The kernel's own code ([vdso]: an i386 program's system
		// calls all go through its __kernel_vsyscall, and its objects
		// are not read, so the walk stops there), no file of the
		// program's: it was taken for "program".
		return ClassUnknown
	}
	return ClassProgram
}

// The functions whose frames class a call: glibc's allocator (the
// exported entry points, which are all a stripped libc names, and the
// internal functions a libc with .symtab also has) and the thread stack
// allocator.
var (
	mallocFamily = map[string]bool{
		"malloc": true, "calloc": true, "realloc": true, "reallocarray": true, "free": true, "cfree": true,
		"valloc": true, "pvalloc": true, "memalign": true, "aligned_alloc": true, "posix_memalign": true, "malloc_trim": true,
		"__libc_malloc": true, "__libc_calloc": true, "__libc_realloc": true, "__libc_free": true,
		"__libc_memalign": true, "__libc_valloc": true, "__libc_pvalloc": true,
		"__malloc_hook_ini": true, "_mid_memalign": true, "__posix_memalign": true,
		"_int_malloc": true, "_int_realloc": true, "_int_memalign": true, "_int_free": true,
		"_int_new_arena": true, "sysmalloc": true, "sysmalloc_mmap": true, "sysmalloc_mmap_fallback": true,
		"new_heap": true, "alloc_new_heap": true, "grow_heap": true, "shrink_heap": true, "heap_trim": true,
		"arena_get2": true, "arena_get_retry": true, "tcache_init": true, "ptmalloc_init": true,
		"malloc_consolidate": true, "systrim": true, "mremap_chunk": true, "munmap_chunk": true,
	}
	threadStackFamily = map[string]bool{
		"pthread_create": true, "__pthread_create_2_1": true, "__pthread_create_2_0": true,
		"allocate_stack": true,
	}
)

// familyClass classes a symbol by its name, without the suffixes of
// GCC's clones (sysmalloc_mmap.constprop.0, tcache_init.part.0).
func familyClass(sym string) string {
	sym, _, _ = strings.Cut(sym, ".")
	switch {
	case sym == "":
		return ""
	case mallocFamily[sym]:
		return ClassMalloc
	case threadStackFamily[sym]:
		return ClassThreadStack
	}
	return ""
}

// walker is one Attribute call's view of the process.
type walker struct {
	a    *Attributor
	pid  int
	mem  Memory
	maps []Mapping
	objs []*attribObject // the process's per-mapping cache

	win   []byte // stack bytes read from winAt on
	winAt uint64

	stray uint64 // a return address in no recorded mapping (Attribution.strayReturn)
	// fromCFI is set while callBefore checks a return address the CFI
	// found, not one guessed (the word at rsp, the rbp chain): only
	// those count as strays. A guess reads whatever the stack holds (a
	// small number left there by musl's mmap, which has no unwind
	// tables), and a stray made of it had the layout read again at
	// every call, 77 times the time in a program with 5,000 mappings
	// (the thirteenth session's review).
	fromCFI bool
}

// unwindRegs are the registers the walk tracks for one frame: its pc,
// its rsp, and its rbp when that is known (fpOK).
type unwindRegs struct {
	pc, sp, fp uint64
	fpOK       bool
}

// locate finds the mapping holding addr and, for a file-backed
// executable mapping, its object.
func (w *walker) locate(addr uint64) (*Mapping, *attribObject) {
	i := sort.Search(len(w.maps), func(i int) bool { return w.maps[i].End > addr })
	if i == len(w.maps) || addr < w.maps[i].Start {
		return nil, nil
	}
	m := &w.maps[i]
	if !m.Executable() {
		return m, nil
	}
	if o := w.objs[i]; o != nil {
		return m, o
	}
	k, ok := keyOf(m)
	if !ok {
		return m, nil
	}
	if o := w.a.objs[k]; o != nil {
		w.objs[i] = o
		return m, o
	}
	if o := w.a.reuse(k, w.pid, m); o != nil {
		if w.a.refs[k] > 0 {
			w.a.objs[k] = o
			w.objs[i] = o
		}
		return m, o
	}
	o := &attribObject{role: w.a.roleOf(k.path)}
	o.syms, o.stamp = openMapped(w.pid, m)
	if o.syms != nil && o.syms.Table != ".symtab" && o.syms.BuildID != nil {
		for _, dir := range w.a.DebugDirs {
			if d, err := loader.OpenSymbols(loader.DebugFile(dir, o.syms.BuildID)); err == nil && o.syms.UseDebugTable(d) {
				break
			}
		}
	}
	if w.a.refs[k] > 0 {
		w.a.objs[k] = o
		w.objs[i] = o
	}
	return m, o
}

func (a *Attributor) roleOf(file string) objRole {
	base := path.Base(file)
	match := func(pats []string) bool {
		for _, p := range pats {
			if ok, _ := path.Match(p, base); ok {
				return true
			}
		}
		return false
	}
	switch {
	case match(a.Loaders):
		return roleLoader
	case match(a.Wrappers):
		return roleWrapper
	}
	return roleOther
}

// reuse takes the idle object k back, if it has one and the file m
// maps is still the one it was read from (same size and time: a file
// rewritten in place keeps its inode).
func (a *Attributor) reuse(k attribKey, pid int, m *Mapping) *attribObject {
	for i, it := range a.idle {
		if it.key != k {
			continue
		}
		a.idle = slices.Delete(a.idle, i, i+1)
		if _, st, ok := objectFile(pid, m); ok && st == it.obj.stamp {
			return it.obj
		}
		return nil
	}
	return nil
}

// fileStamp tells a file's versions apart.
type fileStamp struct {
	size, mtime, ctime int64 // ns
}

// objectFile names the file m maps, with its stamp: its path when that
// still names the same inode, else the kernel's link to the mapped file
// itself (/proc/PID/map_files, for a file deleted or replaced since it
// was mapped).
func objectFile(pid int, m *Mapping) (string, fileStamp, bool) {
	stamp := func(name string, inode uint64) (fileStamp, bool) {
		fi, err := os.Stat(name)
		if err != nil {
			return fileStamp{}, false
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok || st.Ino != inode {
			return fileStamp{}, false
		}
		return fileStamp{st.Size, st.Mtim.Nano(), st.Ctim.Nano()}, true
	}
	file := m.File()
	if st, ok := stamp(file, m.Inode); ok {
		return file, st, true
	}
	mf := fmt.Sprintf("/proc/%d/map_files/%x-%x", pid, m.Start, m.End)
	if st, ok := stamp(mf, m.Inode); ok {
		return mf, st, true
	}
	return "", fileStamp{}, false
}

// openMapped reads the symbols of the file m maps (see objectFile). Nil
// when it cannot be read.
func openMapped(pid int, m *Mapping) (*loader.Symbols, fileStamp) {
	name, st, ok := objectFile(pid, m)
	if !ok {
		return nil, fileStamp{}
	}
	s, err := loader.OpenSymbols(name)
	if err != nil {
		return nil, fileStamp{}
	}
	s.Path = m.File()
	return s, st
}

// frame symbolizes addr, which lies in m (nil: no mapping) of object o.
func (w *walker) frame(addr uint64, m *Mapping, o *attribObject) Frame {
	f := Frame{Addr: addr}
	switch {
	case m == nil:
		return f
	case m.Pseudo():
		f.Object, f.Offset = m.Path, addr-m.Start
		return f
	case m.File() == "":
		f.Offset = addr - m.Start
		return f
	}
	f.Object = m.File()
	fileOff := addr - m.Start + m.Offset
	f.Offset = fileOff
	if o == nil || o.syms == nil {
		return f
	}
	v, ok := o.syms.Vaddr(fileOff, m.Executable())
	if !ok {
		return f
	}
	f.Offset = v
	if name, off, ok := o.syms.Lookup(v); ok {
		f.Symbol, f.Offset = name, off
	}
	return f
}

// linkAddr returns the link-time address of addr in o, mapped by m.
func linkAddr(addr uint64, m *Mapping, o *attribObject) (uint64, bool) {
	if o == nil || o.syms == nil {
		return 0, false
	}
	return o.syms.Vaddr(addr-m.Start+m.Offset, true)
}

// read8 reads a little-endian word of the tracee's stack. The walk
// reads words at increasing addresses near each other, so it reads a
// window of up to stackWindow bytes (not past the end of the mapping)
// and serves what it can from there: fewer reads of another process's
// memory, each of which costs a system call.
func (w *walker) read8(addr uint64) (uint64, bool) {
	if addr >= w.winAt && addr-w.winAt <= uint64(len(w.win)) && uint64(len(w.win))-(addr-w.winAt) >= 8 {
		return binary.LittleEndian.Uint64(w.win[addr-w.winAt:]), true
	}
	if m, _ := w.locate(addr); m != nil && m.End-addr >= 8 {
		n := min(m.End-addr, stackWindow)
		if w.mem.ReadAt(w.a.win[:n], addr) == nil {
			w.win, w.winAt = w.a.win[:n], addr
			return binary.LittleEndian.Uint64(w.win), true
		}
	}
	b := w.a.buf[:8]
	if w.mem.ReadAt(b, addr) != nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

// isSyscall reports whether the two bytes at addr are syscall, int
// $0x80 or sysenter.
func (w *walker) isSyscall(addr uint64) bool {
	b := w.a.buf[:2]
	if w.mem.ReadAt(b, addr) != nil {
		return false
	}
	return b[0] == 0x0f && (b[1] == 0x05 || b[1] == 0x34) || b[0] == 0xcd && b[1] == 0x80
}

// step unwinds one frame: the registers of the caller of r's function,
// the method that found them, and the address of the call instruction.
// At the top frame (the site) r.pc is exact; above it r.pc is a return
// address, and the call before it is what is looked up.
//
// Where the frame's object has CFI for the pc, the CFI decides: in the
// top frame that is the simple rule exactly when the row says the
// function has pushed nothing (the return address at rsp), and the
// step is reported as one by return address; a return address the CFI
// points at that does not follow a call fails the step, since the
// frame-pointer chain would then only be a guess. Without CFI, the top
// frame tries the word at rsp, and any frame then the rbp chain.
func (w *walker) step(r unwindRegs, top bool) (next unwindRegs, how string, call uint64, ok bool) {
	pc := r.pc
	if !top {
		pc--
	}
	m, o := w.locate(pc)
	if m == nil {
		return next, "", 0, false
	}
	var row cfiRow
	haveRow := false
	if v, ok := linkAddr(pc, m, o); ok {
		row, haveRow = o.row(v, top)
	}
	switch {
	case haveRow && row.ra.kind == ruleUndefined:
		return next, "", 0, false // the outermost frame (_start, a thread's start)
	case haveRow && row.unsupported():
		haveRow = false // an expression or register rule: treated as no CFI
	}
	if haveRow {
		next, ok := w.applyRow(row, r)
		if !ok {
			return next, "", 0, false
		}
		how := HowEHFrame
		if top && row.isEntry() {
			how = HowReturnAddress
		}
		w.fromCFI = true
		call, ok := w.callBefore(next.pc)
		w.fromCFI = false
		return next, how, call, ok
	}
	if top {
		if ra, ok := w.read8(r.sp); ok {
			if call, ok := w.callBefore(ra); ok {
				return unwindRegs{pc: ra, sp: r.sp + 8, fp: r.fp, fpOK: r.fpOK}, HowReturnAddress, call, true
			}
		}
	}
	if !r.fpOK || r.fp < r.sp || r.fp-r.sp > maxFrame || r.fp%8 != 0 {
		return next, "", 0, false
	}
	saved, ok1 := w.read8(r.fp)
	ra, ok2 := w.read8(r.fp + 8)
	if !ok1 || !ok2 {
		return next, "", 0, false
	}
	call, ok = w.callBefore(ra)
	return unwindRegs{pc: ra, sp: r.fp + 16, fp: saved, fpOK: true}, HowFramePointer, call, ok
}

// applyRow computes the caller's registers from a CFI row.
func (w *walker) applyRow(row cfiRow, r unwindRegs) (unwindRegs, bool) {
	var cfa uint64
	switch row.cfaReg {
	case dwarfRSP:
		cfa = r.sp + uint64(row.cfaOff)
	case dwarfRBP:
		if !r.fpOK {
			return r, false
		}
		cfa = r.fp + uint64(row.cfaOff)
	default:
		return r, false
	}
	if cfa <= r.sp {
		return r, false // unwinding must move up the stack
	}
	ra, ok := w.read8(cfa + uint64(row.ra.off))
	if !ok {
		return r, false
	}
	next := unwindRegs{pc: ra, sp: cfa, fp: r.fp, fpOK: r.fpOK}
	switch row.fp.kind {
	case ruleSame:
	case ruleOffset:
		next.fp, next.fpOK = w.read8(cfa + uint64(row.fp.off))
	case ruleValOffset:
		next.fp = cfa + uint64(row.fp.off)
	default:
		next.fpOK = false
	}
	return next, true
}

// callBefore checks that a CALL instruction ends exactly at ra, in
// executable memory, and returns the call's address. Each length a call
// can have is tried, commonest first (call rel32, call *disp32(%rip),
// call *%reg, ...); x86asm decides, so a return address made up of
// stack garbage is rejected unless its bytes happen to be a call.
func (w *walker) callBefore(ra uint64) (uint64, bool) {
	if ra < 2 {
		return 0, false
	}
	m, o := w.locate(ra - 1)
	if m == nil && w.stray == 0 && w.fromCFI {
		w.stray = ra
	}
	if m == nil || !m.Executable() {
		return 0, false
	}
	lo := m.Start
	if ra-m.Start > maxCallLen {
		lo = ra - maxCallLen
	}
	n := int(ra - lo)
	b := w.a.buf[:n]
	if w.mem.ReadAt(b, lo) != nil {
		return 0, false
	}
	// The decoder is the expensive part: an object's result is kept
	// for the bytes it was computed from.
	var key callKey
	v, memo := linkAddr(ra-1, m, o)
	if memo {
		key = callKey{ra: v, n: int8(n)}
		copy(key.code[:], b)
		if k, ok := o.calls[key]; ok {
			if k == 0 {
				return 0, false
			}
			return ra - uint64(k), true
		}
	}
	k, ok := callEndingAt(b)
	if memo {
		if o.calls == nil || len(o.calls) >= maxMemo {
			o.calls = map[callKey]int8{}
		}
		o.calls[key] = int8(k)
	}
	if !ok {
		return 0, false
	}
	return ra - uint64(k), true
}

// callEndingAt returns the length of a CALL instruction that ends
// exactly at the end of code. Where several lengths decode as calls
// (41 ff d0 is call *%r8, and its last two bytes call *%rax), the
// longest whose prefixes all mean something wins: a REX prefix whose
// bits are used, a segment override of a memory operand, notrack or
// bnd. A byte that would only be a redundant prefix is more likely the
// end of the previous instruction.
func callEndingAt(code []byte) (int, bool) {
	best := 0
	for k := 2; k <= len(code); k++ {
		c := code[len(code)-k:]
		if !maybeCall(c) {
			continue
		}
		inst, err := x86asm.Decode(c, 64)
		if err != nil || inst.Len != k || inst.Op != x86asm.CALL {
			continue
		}
		if best == 0 || meaningfulPrefixes(inst) {
			best = k
		}
	}
	return best, best > 0
}

// maybeCall is a quick look at the shape of c before the decoder is
// asked: prefixes, then e8 with exactly four bytes after it, or ff with
// a ModRM byte whose reg field is 2 (call r/m64).
func maybeCall(c []byte) bool {
	for p, b := range c {
		switch {
		case b == 0xe8:
			return len(c)-p == 5
		case b == 0xff:
			return p+1 < len(c) && c[p+1]>>3&7 == 2
		case b&0xf0 == 0x40, b == 0x26, b == 0x2e, b == 0x36, b == 0x3e, b == 0x64, b == 0x65, b == 0x66, b == 0x67, b == 0xf2, b == 0xf3:
		default:
			return false
		}
	}
	return false
}

func meaningfulPrefixes(inst x86asm.Inst) bool {
	const flags = x86asm.PrefixImplicit | x86asm.PrefixIgnored | x86asm.PrefixInvalid
	for _, p := range inst.Prefix {
		base := p &^ flags
		switch {
		case p == 0:
			return true
		case p&x86asm.PrefixInvalid != 0:
			return false
		case base == x86asm.PrefixDS, base == x86asm.PrefixBND: // notrack (CET), bnd (MPX)
		case base.IsREX():
			// REX.W alone changes nothing in a call; R, X or B select
			// a register.
			if p&x86asm.PrefixImplicit == 0 || base&(x86asm.PrefixREXR|x86asm.PrefixREXX|x86asm.PrefixREXB) == 0 {
				return false
			}
		case p&x86asm.PrefixImplicit != 0 && p&x86asm.PrefixIgnored == 0: // a segment override of the memory operand
		default:
			return false
		}
	}
	return true
}

// cfiTable returns o's parsed .eh_frame, building it on first use.
func (o *attribObject) cfiTable() *cfiTable {
	if o.cfi == nil {
		o.cfi = parseCFI(o.syms.EHFrame)
	}
	return o.cfi
}

// ---- .eh_frame call-frame information ----
//
// .eh_frame is a list of CIEs (common information entries) and FDEs
// (frame description entries, one per function), each a length-prefixed
// record. An FDE names a pc range and a CIE, and holds a small program
// of DW_CFA_* instructions that, run after the CIE's initial ones,
// describe at each pc how to find the CFA (the caller's rsp) and where
// registers were saved relative to it. parseCFI indexes the FDEs by pc
// once per object; row runs the programs of one FDE up to a pc. Only
// the rules for the CFA, rbp and the return address are kept, and only
// the forms compilers emit for them: CFA = rsp or rbp + offset, saved
// at CFA + offset. Expressions are parsed over, and make a row
// unsupported if they define one of those three.

// DWARF register numbers of x86-64 that the unwinder uses.
const (
	dwarfRBP = 6
	dwarfRSP = 7
	dwarfRA  = 16 // the return address column
	cfiRegs  = 17 // rules kept for registers 0..16
)

// Limits for malformed unwind data.
const (
	maxFDEs       = 1 << 20 // FDEs indexed per object
	maxCIEs       = 1 << 12 // distinct CIEs per object
	maxStateDepth = 16      // DW_CFA_remember_state nesting
)

type ruleKind uint8

const (
	ruleSame      ruleKind = iota // unchanged (also: not mentioned)
	ruleUndefined                 // not recoverable; for the return address: the outermost frame
	ruleOffset                    // saved at CFA+off
	ruleValOffset                 // the value is CFA+off
	ruleOther                     // a register, an expression: not followed
)

type regRule struct {
	kind ruleKind
	off  int64
}

// cfiRow is the unwind rule at one pc.
type cfiRow struct {
	cfaReg  uint64
	cfaOff  int64
	cfaExpr bool
	fp, ra  regRule
}

// isEntry reports whether the row is that of a function that has pushed
// nothing: the return address at rsp.
func (r cfiRow) isEntry() bool {
	return !r.cfaExpr && r.cfaReg == dwarfRSP && r.cfaOff == 8 && r.ra.kind == ruleOffset && r.ra.off == -8
}

// unsupported reports whether the row uses a rule the unwinder does not
// follow for the CFA or the return address.
func (r cfiRow) unsupported() bool {
	return r.cfaExpr || r.cfaReg != dwarfRSP && r.cfaReg != dwarfRBP || r.ra.kind != ruleOffset
}

type cie struct {
	codeAlign uint64
	dataAlign int64
	raReg     uint64
	fdeEnc    byte
	aug       bool // 'z': FDEs carry augmentation data
	signal    bool // 'S': a signal frame; not unwound through
	insns     [2]int
}

type fde struct {
	begin, end uint64
	cie        int32
	insns      [2]int
}

type cfiTable struct {
	sec  loader.UnwindSection
	cies []cie
	fdes []fde // sorted by begin
}

// cfiReader reads one record; any read past end sets bad.
type cfiReader struct {
	d   []byte
	pos int
	end int
	bad bool
}

func (r *cfiReader) u8() byte {
	if r.pos >= r.end {
		r.bad = true
		return 0
	}
	r.pos++
	return r.d[r.pos-1]
}

func (r *cfiReader) bytes(n int) []byte {
	if n < 0 || r.end-r.pos < n {
		r.bad = true
		r.pos = r.end
		return nil
	}
	r.pos += n
	return r.d[r.pos-n : r.pos]
}

func (r *cfiReader) uleb() uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		b := r.u8()
		if r.bad {
			return 0
		}
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		if b&0x80 == 0 {
			return v
		}
		if shift > 70 {
			r.bad = true
			return 0
		}
	}
}

func (r *cfiReader) sleb() int64 {
	var v int64
	shift := uint(0)
	for {
		b := r.u8()
		if r.bad {
			return 0
		}
		if shift < 64 {
			v |= int64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				v |= -1 << shift
			}
			return v
		}
		if shift > 70 {
			r.bad = true
			return 0
		}
	}
}

// ptr reads a pointer in DW_EH_PE encoding enc; base is the link-time
// address of d[0], for pc-relative values. ok is false for an encoding
// this reader does not know (r.bad stays false if it could skip it).
func (r *cfiReader) ptr(enc byte, base uint64) (uint64, bool) {
	if enc == 0xff { // DW_EH_PE_omit
		return 0, false
	}
	at := base + uint64(r.pos)
	var v uint64
	switch enc & 0x0f {
	case 0x00, 0x04, 0x0c: // absptr, udata8, sdata8
		v = le64(r.bytes(8))
	case 0x01:
		v = r.uleb()
	case 0x09:
		v = uint64(r.sleb())
	case 0x02:
		v = uint64(le16(r.bytes(2)))
	case 0x0a:
		v = uint64(int64(int16(le16(r.bytes(2)))))
	case 0x03:
		v = uint64(le32(r.bytes(4)))
	case 0x0b:
		v = uint64(int64(int32(le32(r.bytes(4)))))
	default:
		r.bad = true
		return 0, false
	}
	if r.bad || enc&0x80 != 0 { // indirect: the value is in memory
		return 0, false
	}
	switch enc & 0x70 {
	case 0x00:
	case 0x10: // pcrel
		v += at
	default: // textrel, datarel, funcrel, aligned: not used in .eh_frame FDEs
		return 0, false
	}
	return v, true
}

func le16(b []byte) uint16 {
	if len(b) < 2 {
		return 0
	}
	return binary.LittleEndian.Uint16(b)
}

func le32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

func le64(b []byte) uint64 {
	if len(b) < 8 {
		return 0
	}
	return binary.LittleEndian.Uint64(b)
}

// parseCFI indexes the FDEs of an .eh_frame section. Records it cannot
// read are skipped; a length that runs past the end stops the scan.
// What comes back is always usable, if possibly empty.
func parseCFI(sec loader.UnwindSection) *cfiTable {
	t := &cfiTable{sec: sec}
	d := sec.Data
	cieAt := map[int]int32{}
	for off := 0; off+4 <= len(d) && len(t.fdes) < maxFDEs; {
		length := uint64(le32(d[off:]))
		hdr := 4
		if length == 0 {
			break // the terminator
		}
		if length == 0xffffffff {
			if off+12 > len(d) {
				break
			}
			length, hdr = le64(d[off+4:]), 12
		}
		start := off + hdr
		if length < 4 || length > uint64(len(d)-start) {
			break
		}
		end := start + int(length)
		id := int(le32(d[start:]))
		if id != 0 {
			// An FDE: the CIE pointer counts back from the field.
			if ci, ok := t.cieFor(start-id, cieAt); ok {
				t.addFDE(start, end, ci)
			}
		}
		off = end
	}
	slices.SortFunc(t.fdes, func(a, b fde) int {
		switch {
		case a.begin < b.begin:
			return -1
		case a.begin > b.begin:
			return 1
		}
		return 0
	})
	return t
}

// cieFor returns the index of the CIE whose record starts at off,
// parsing it on first use.
func (t *cfiTable) cieFor(off int, seen map[int]int32) (int32, bool) {
	if i, ok := seen[off]; ok {
		return i, i >= 0
	}
	c, ok := t.parseCIE(off)
	if !ok || len(t.cies) >= maxCIEs {
		seen[off] = -1
		return -1, false
	}
	t.cies = append(t.cies, c)
	seen[off] = int32(len(t.cies) - 1)
	return seen[off], true
}

func (t *cfiTable) parseCIE(off int) (cie, bool) {
	d := t.sec.Data
	if off < 0 || off+8 > len(d) {
		return cie{}, false
	}
	length, hdr := uint64(le32(d[off:])), 4
	if length == 0xffffffff {
		if off+16 > len(d) {
			return cie{}, false
		}
		length, hdr = le64(d[off+4:]), 12
	}
	start := off + hdr
	if length < 4 || length > uint64(len(d)-start) || le32(d[start:]) != 0 {
		return cie{}, false
	}
	r := &cfiReader{d: d, pos: start + 4, end: start + int(length)}
	c := cie{fdeEnc: 0}
	version := r.u8()
	if version != 1 && version != 3 && version != 4 {
		return cie{}, false
	}
	augStart := r.pos
	for r.u8() != 0 && !r.bad {
		if r.pos-augStart > 16 {
			return cie{}, false
		}
	}
	if r.bad {
		return cie{}, false
	}
	aug := string(d[augStart : r.pos-1])
	if version == 4 && (r.u8() != 8 || r.u8() != 0) { // address and segment selector sizes
		return cie{}, false
	}
	c.codeAlign = r.uleb()
	c.dataAlign = r.sleb()
	if version == 1 {
		c.raReg = uint64(r.u8())
	} else {
		c.raReg = r.uleb()
	}
	if aug != "" {
		if aug[0] != 'z' {
			return cie{}, false // "eh" and other pre-'z' forms
		}
		c.aug = true
		n := r.uleb()
		if r.bad || n > uint64(r.end-r.pos) {
			return cie{}, false
		}
		augEnd := r.pos + int(n)
	loop:
		for _, ch := range aug[1:] {
			switch ch {
			case 'L':
				r.u8()
			case 'P':
				enc := r.u8()
				r.ptr(enc&0x0f, 0) // only skipped: the personality routine is not used
			case 'R':
				c.fdeEnc = r.u8()
			case 'S':
				c.signal = true
			case 'B', 'G':
			default:
				break loop // the rest is skipped by the data's length
			}
		}
		if r.bad || r.pos > augEnd {
			return cie{}, false
		}
		r.pos = augEnd
	}
	if r.bad || c.raReg >= cfiRegs {
		return cie{}, false
	}
	c.insns = [2]int{r.pos, r.end}
	return c, true
}

func (t *cfiTable) addFDE(start, end int, ci int32) {
	c := &t.cies[ci]
	r := &cfiReader{d: t.sec.Data, pos: start + 4, end: end}
	begin, ok := r.ptr(c.fdeEnc, t.sec.Addr)
	if !ok {
		return
	}
	n, _ := r.ptr(c.fdeEnc&0x0f, 0)
	if c.aug {
		k := r.uleb()
		if r.bad || k > uint64(r.end-r.pos) {
			return
		}
		r.pos += int(k)
	}
	if r.bad || n == 0 || begin+n < begin {
		return
	}
	t.fdes = append(t.fdes, fde{begin: begin, end: begin + n, cie: ci, insns: [2]int{r.pos, end}})
}

// row returns the unwind rule at link-time address pc. For the top
// frame pc is the instruction about to run; for a caller it is the
// address just before the return address, inside the call.
func (t *cfiTable) row(pc uint64, top bool) (cfiRow, bool) {
	i := sort.Search(len(t.fdes), func(i int) bool { return t.fdes[i].begin > pc }) - 1
	if i < 0 || pc >= t.fdes[i].end {
		// A syscall that ends its function leaves rip at the end: look
		// the function up by the instruction itself.
		if !top || pc == 0 {
			return cfiRow{}, false
		}
		i = sort.Search(len(t.fdes), func(i int) bool { return t.fdes[i].begin > pc-1 }) - 1
		if i < 0 || pc-1 >= t.fdes[i].end {
			return cfiRow{}, false
		}
	}
	f := &t.fdes[i]
	c := &t.cies[f.cie]
	if c.signal {
		return cfiRow{}, false
	}
	var st cfiState
	st.cfaReg = dwarfRSP
	if !st.run(t, c, c.insns, nil, nil, 0) {
		return cfiRow{}, false
	}
	init := st.regs
	loc := f.begin
	if !st.run(t, c, f.insns, &init, &loc, pc) {
		return cfiRow{}, false
	}
	return cfiRow{cfaReg: st.cfaReg, cfaOff: st.cfaOff, cfaExpr: st.cfaExpr, fp: st.regs[dwarfRBP], ra: st.regs[c.raReg]}, true
}

// cfiState is the row being built, with the remember_state stack.
type cfiState struct {
	cfaReg  uint64
	cfaOff  int64
	cfaExpr bool
	regs    [cfiRegs]regRule
	stack   [maxStateDepth]cfiSaved
	depth   int
}

type cfiSaved struct {
	cfaReg  uint64
	cfaOff  int64
	cfaExpr bool
	regs    [cfiRegs]regRule
}

// run executes the DW_CFA instructions in insns. With loc nil (a CIE's
// initial instructions) advances are not expected; otherwise the run
// stops before the first advance past pc. init holds the rules after
// the CIE, for DW_CFA_restore. It returns false on malformed input or
// an instruction it does not know.
func (st *cfiState) run(t *cfiTable, c *cie, insns [2]int, init *[cfiRegs]regRule, loc *uint64, pc uint64) bool {
	r := &cfiReader{d: t.sec.Data, pos: insns[0], end: insns[1]}
	set := func(reg uint64, rule regRule) {
		if reg < cfiRegs {
			st.regs[reg] = rule
		}
	}
	restore := func(reg uint64) {
		if reg < cfiRegs {
			if init != nil {
				st.regs[reg] = init[reg]
			} else {
				st.regs[reg] = regRule{}
			}
		}
	}
	// advance moves loc on; false means the row for pc is complete.
	advance := func(delta uint64) bool {
		if loc == nil {
			return true
		}
		n := *loc + delta*c.codeAlign
		if n > pc || n < *loc {
			return false
		}
		*loc = n
		return true
	}
	for r.pos < r.end {
		op := r.u8()
		switch op >> 6 {
		case 1: // DW_CFA_advance_loc
			if !advance(uint64(op & 0x3f)) {
				return true
			}
			continue
		case 2: // DW_CFA_offset
			set(uint64(op&0x3f), regRule{ruleOffset, int64(r.uleb()) * c.dataAlign})
			continue
		case 3: // DW_CFA_restore
			restore(uint64(op & 0x3f))
			continue
		}
		switch op {
		case 0x00: // nop
		case 0x01: // set_loc
			v, ok := r.ptr(c.fdeEnc, t.sec.Addr)
			if !ok {
				return false
			}
			if loc != nil {
				if v > pc {
					return true
				}
				*loc = v
			}
		case 0x02:
			if !advance(uint64(r.u8())) {
				return !r.bad
			}
		case 0x03:
			if !advance(uint64(le16(r.bytes(2)))) {
				return !r.bad
			}
		case 0x04:
			if !advance(uint64(le32(r.bytes(4)))) {
				return !r.bad
			}
		case 0x05: // offset_extended
			reg := r.uleb()
			set(reg, regRule{ruleOffset, int64(r.uleb()) * c.dataAlign})
		case 0x06: // restore_extended
			restore(r.uleb())
		case 0x07: // undefined
			set(r.uleb(), regRule{kind: ruleUndefined})
		case 0x08: // same_value
			set(r.uleb(), regRule{kind: ruleSame})
		case 0x09: // register
			reg := r.uleb()
			r.uleb()
			set(reg, regRule{kind: ruleOther})
		case 0x0a: // remember_state
			if st.depth == maxStateDepth {
				return false
			}
			st.stack[st.depth] = cfiSaved{st.cfaReg, st.cfaOff, st.cfaExpr, st.regs}
			st.depth++
		case 0x0b: // restore_state
			if st.depth == 0 {
				return false
			}
			st.depth--
			s := st.stack[st.depth]
			st.cfaReg, st.cfaOff, st.cfaExpr, st.regs = s.cfaReg, s.cfaOff, s.cfaExpr, s.regs
		case 0x0c: // def_cfa
			st.cfaReg = r.uleb()
			st.cfaOff = int64(r.uleb())
			st.cfaExpr = false
		case 0x0d: // def_cfa_register
			st.cfaReg = r.uleb()
			st.cfaExpr = false
		case 0x0e: // def_cfa_offset
			st.cfaOff = int64(r.uleb())
		case 0x0f: // def_cfa_expression
			r.bytes(int(min(r.uleb(), uint64(r.end))))
			st.cfaExpr = true
		case 0x10: // expression
			reg := r.uleb()
			r.bytes(int(min(r.uleb(), uint64(r.end))))
			set(reg, regRule{kind: ruleOther})
		case 0x11: // offset_extended_sf
			reg := r.uleb()
			set(reg, regRule{ruleOffset, r.sleb() * c.dataAlign})
		case 0x12: // def_cfa_sf
			st.cfaReg = r.uleb()
			st.cfaOff = r.sleb() * c.dataAlign
			st.cfaExpr = false
		case 0x13: // def_cfa_offset_sf
			st.cfaOff = r.sleb() * c.dataAlign
		case 0x14: // val_offset
			reg := r.uleb()
			set(reg, regRule{ruleValOffset, int64(r.uleb()) * c.dataAlign})
		case 0x15: // val_offset_sf
			reg := r.uleb()
			set(reg, regRule{ruleValOffset, r.sleb() * c.dataAlign})
		case 0x16: // val_expression
			reg := r.uleb()
			r.bytes(int(min(r.uleb(), uint64(r.end))))
			set(reg, regRule{kind: ruleOther})
		case 0x2e: // GNU_args_size
			r.uleb()
		case 0x2f: // GNU_negative_offset_extended
			reg := r.uleb()
			set(reg, regRule{ruleOffset, -int64(r.uleb()) * c.dataAlign})
		default:
			return false
		}
		if r.bad {
			return false
		}
	}
	return !r.bad
}

// String formats a row like readelf --debug-dump=frames-interp: the CFA
// ("rsp+8", "exp"), then rbp and the return address ("c-16", "u", "").
func (r cfiRow) String() string {
	var b strings.Builder
	if r.cfaExpr {
		b.WriteString("exp")
	} else {
		fmt.Fprintf(&b, "%s%+d", dwarfName(r.cfaReg), r.cfaOff)
	}
	for _, x := range []regRule{r.fp, r.ra} {
		b.WriteByte(' ')
		switch x.kind {
		case ruleSame:
		case ruleUndefined:
			b.WriteString("u")
		case ruleOffset:
			fmt.Fprintf(&b, "c%+d", x.off)
		case ruleValOffset:
			fmt.Fprintf(&b, "v%+d", x.off)
		default:
			b.WriteString("x")
		}
	}
	return b.String()
}

func dwarfName(reg uint64) string {
	names := [...]string{"rax", "rdx", "rcx", "rbx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"}
	if reg < uint64(len(names)) {
		return names[reg]
	}
	return fmt.Sprintf("r%d", reg)
}
