package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/plainfile"
	"github.com/mmapguard/mmapguard/internal/procfile"
	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// PlaceConfig asks for shared objects to be placed at chosen bases (see
// package loader for where each object wants to be).
type PlaceConfig struct {
	Rules  []loader.Rule
	Ranges []loader.RangeRule
	// Strict makes a load whose object cannot have its base fail (the
	// loader's mmap gets EEXIST, dlopen an error); otherwise the object
	// loads where ld.so puts it, with a warning.
	Strict bool

	objs map[fileID]*loader.Object // read objects, by file identity
	bad  map[fileID]*unreadable    // files that are not objects we can place
}

// unreadable is a file loader.Read refused: its path and why.
type unreadable struct {
	path   string
	err    error
	warned bool // said once (cannotPlace)
}

type fileID struct{ dev, ino uint64 }

// planner starts the placements of a new program, whose layout at exec
// is maps: the planner keeps clear of what is already mapped there.
func (pc *PlaceConfig) planner(maps []region.Mapping) *loader.Planner {
	p := &loader.Planner{Rules: pc.Rules, Ranges: pc.Ranges, Strict: pc.Strict}
	for _, m := range maps {
		if m.End <= region.UserEnd {
			p.Occupy(m.Range)
		}
	}
	return p
}

// placement recognises ld.so's first mapping of a shared object (a
// file-backed mmap without MAP_FIXED, from offset 0, as long as the
// object's span) and sets c.Place to the base the planner chose for the
// object. It returns false when it has refused the call itself (a
// conflict under Strict).
//
// Only ld.so's own calls are placed, or exempt as a placed object's
// segments (ip, just after the call's syscall instruction, is in the
// interpreter's code): the program's own mmap of a placed object's file
// with the shape of ld.so's first mapping, or its anonymous PROT_NONE
// mapping of such an object's reservation length while it held the
// object open, was put at the object's base in the protected range, and
// with --strict its MAP_FIXED mappings shaped like ld.so's in the span
// were honoured, after dlclose too (found by a helper in the thirteenth
// session).
func (t *tracer) placement(tk *task, c *rewrite.Call, ip uint64) bool {
	const fixed = rewrite.MapFixed | rewrite.MapFixedNoReplace
	tk.inSpan = false
	if c.Op() == rewrite.OpMunmap && len(tk.sp.spans) > 0 {
		t.unloaded(tk, c)
		return true
	}
	if c.Op() != rewrite.OpMmap || c.ABI != rewrite.ABI64 || tk.sp.planner == nil || !fromLoader(tk.sp.loader, ip-2) {
		return true
	}
	if c.Args[3]&rewrite.MapAnonymous != 0 {
		if c.Args[3]&fixed == 0 && uint32(c.Args[2]) == rewrite.ProtNone {
			return t.placeReservation(tk, c)
		}
		if c.Args[3] == rewrite.MapFixed|rewrite.MapAnonymous|mapPrivate && tk.loadObj != nil {
			// ld.so zero-fills the end of a segment (.bss past the
			// file's pages) with an anonymous MAP_FIXED mapping: that
			// one exactly, with the segment's protection, not any
			// anonymous mapping of the program's inside the span
			// (read-write-execute, after the load, after dlclose).
			tk.inSpan = tk.loadObj.IsLoaderMap(tk.loadSpan.Start, c.Args[0], c.Args[1], int(uint32(c.Args[2])), 0, false)
		}
		return true
	}
	if int32(c.Args[4]) < 0 {
		return true
	}
	if c.Args[3]&fixed != 0 {
		return t.checkSegment(tk, c)
	}
	if c.Args[5] != 0 {
		return true
	}
	obj := t.cfg.Place.object(tk.tid, int(int32(c.Args[4])))
	if obj == nil {
		return t.cannotPlace(tk, c)
	}
	if obj.Kind == loader.Executable || obj.FirstMap().Reserve != 0 || !obj.MatchesMapping(0, c.Args[1]) {
		return true
	}
	return t.applyPlacement(tk, c, obj)
}

// unloaded forgets the spans of the placed objects a munmap takes away
// whole (ld.so's at dlclose): MAP_FIXED mappings shaped like the object's
// segments are not the object's any more there. Before, with --strict,
// they were honoured after its dlclose, made from ld.so's code (a jump
// to its syscall instruction) as well (the thirteenth session's review).
func (t *tracer) unloaded(tk *task, c *rewrite.Call) {
	n, ok := region.PageUp(c.Args[1]) // (ld.so's length is not rounded)
	if !ok {
		return
	}
	r, ok := region.Span(c.Args[0], n)
	if !ok {
		return
	}
	for obj, span := range tk.sp.spans {
		if !r.ContainsRange(span) {
			continue
		}
		delete(tk.sp.spans, obj)
		for _, o := range t.tasks {
			if o.sp == tk.sp && o.loadObj == obj {
				o.loadObj, o.loadSpan = nil, region.Range{}
			}
		}
	}
}

// fromLoader reports whether the instruction at addr is in the loader's
// code.
func fromLoader(code []region.Range, addr uint64) bool {
	for _, r := range code {
		if r.Contains(addr) {
			return true
		}
	}
	return false
}

// interpreterCode returns the executable mappings of the ELF interpreter
// (ld.so) in the layout maps of a process just exec'd: those of the file
// mapped at the interpreter's base, as the process's auxiliary vector
// gives it (AT_BASE), or, where there is none, of the program itself if
// it is ld.so run as a program (--place-exe: the file at its entry point,
// named like a loader). None for another program without one (static).
func interpreterCode(tid int, maps []region.Mapping) []region.Range {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/auxv", tid))
	if err != nil {
		return nil
	}
	var base, entry uint64
	for i := 0; i+16 <= len(b); i += 16 {
		switch binary.LittleEndian.Uint64(b[i:]) {
		case atBase:
			base = binary.LittleEndian.Uint64(b[i+8:])
		case atEntry:
			entry = binary.LittleEndian.Uint64(b[i+8:])
		}
	}
	at := base
	if at == 0 {
		at = entry
	}
	var interp region.Mapping
	for _, m := range maps {
		if m.Contains(at) {
			interp = m
		}
	}
	if interp.Inode == 0 || base == 0 && !slices.ContainsFunc(DefaultLoaders, func(p string) bool {
		ok, _ := path.Match(p, path.Base(interp.File()))
		return ok
	}) {
		return nil
	}
	var code []region.Range
	for _, m := range maps {
		if m.Inode == interp.Inode && m.Dev == interp.Dev && m.Executable() {
			code = append(code, m.Range)
		}
	}
	return code
}

// atBase and atEntry are AT_BASE, the interpreter's base in the
// auxiliary vector, and AT_ENTRY, the program's entry point.
const (
	atBase  = 7
	atEntry = 9
)

// placeReservation handles the anonymous PROT_NONE mapping with which
// ld.so (glibc 2.35 and later) first reserves room for an object whose
// segments are aligned above the page size: its file mapping then goes
// at the first aligned address inside. Nothing in the call names the
// object; the loader has it open, so the tracer looks among the
// process's open files for an object whose reservation has this length.
//
// The program may hold other such objects open itself, and descriptor
// numbers say nothing of which was opened last (a lower one freed
// earlier is reused). When the open files with this reservation length
// are more than one object, the one glibc's loader is reading is the one
// whose file position is just past the header it read (FILEBUF_SIZE
// bytes: glibc reads the header with read, the rest with pread); if that
// does not settle it, no object is placed (a warning; a failed load under
// Strict) rather than one object at another's base.
func (t *tracer) placeReservation(tk *task, c *rewrite.Call) bool {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", tk.tid))
	if err != nil {
		return true
	}
	type cand struct {
		obj *loader.Object
		fd  int
	}
	var cands []cand
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		o := t.cfg.Place.object(tk.tid, fd)
		if o == nil || o.Kind == loader.Executable || o.FirstMap().Reserve == 0 {
			continue
		}
		if r, ok := region.PageUp(o.FirstMap().Reserve); ok && r == c.Args[1] || o.FirstMap().Reserve == c.Args[1] {
			cands = append(cands, cand{o, fd})
		}
	}
	distinct := func(cs []cand) []*loader.Object {
		var objs []*loader.Object
		for _, c := range cs {
			if !slices.Contains(objs, c.obj) {
				objs = append(objs, c.obj)
			}
		}
		return objs
	}
	objs := distinct(cands)
	if len(objs) > 1 {
		var read []cand
		for _, c := range cands {
			if filePos(tk.tid, c.fd) == glibcHeaderRead {
				read = append(read, c)
			}
		}
		if r := distinct(read); len(r) == 1 {
			objs = r
		} else {
			names := make([]string, len(objs))
			for i, o := range objs {
				names[i] = o.Path
			}
			if t.cfg.Place.Strict {
				t.warnf("a reservation of %#x bytes is for one of %s, which are all open: cannot tell which; strict placement: the load fails", c.Args[1], strings.Join(names, ", "))
				t.refuse(tk, rewrite.Err(rewrite.EEXIST))
				return false
			}
			t.warnf("a reservation of %#x bytes is for one of %s, which are all open: cannot tell which; it loads where ld.so puts it", c.Args[1], strings.Join(names, ", "))
			return true
		}
	}
	if len(objs) == 0 {
		return true
	}
	return t.applyPlacement(tk, c, objs[0])
}

// MAP_PRIVATE and MAP_DENYWRITE (which the kernel ignores; glibc's
// MAP_COPY has it), as ld.so passes them.
const (
	mapPrivate   = 0x02
	mapDenyWrite = 0x800
)

// glibcHeaderRead is where glibc's loader leaves the file position of an
// object it is loading: it reads FILEBUF_SIZE (832 on 64-bit) bytes of
// header with read(2) in open_verify, and everything else with pread.
const glibcHeaderRead = 832

// filePos returns a descriptor's file position, -1 if unknown.
func filePos(tid, fd int) int64 {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/fdinfo/%d", tid, fd))
	if err != nil {
		return -1
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "pos:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// applyPlacement gives the call (ld.so's first mapping of obj) the base
// the planner chose, and remembers it so the object's segments can be
// checked against where it lands.
func (t *tracer) applyPlacement(tk *task, c *rewrite.Call, obj *loader.Object) bool {
	tk.spanObj, tk.spanLen, tk.spanWant = obj, c.Args[1], 0
	// What the program has in the guarded ranges now, which the
	// planner's layout at exec does not show (see SetBusy).
	g := tk.sp.guard
	tk.sp.planner.SetBusy(append(g.Mapped(), g.Code(), g.PendingCode())...)
	p := placementOf(tk.sp.planner, obj)
	if p.Conflict != nil && p.Conflict.Kind == loader.ConflictOverlap && t.forgetGone(tk, p.Span) {
		p = placementOf(tk.sp.planner, obj)
	}
	if p.Conflict != nil {
		t.warnf("%v", p.Conflict)
		if t.cfg.Place.Strict {
			tk.spanObj = nil
			t.refuse(tk, rewrite.Err(rewrite.EEXIST))
			return false
		}
		return true
	}
	if p.Placed() {
		c.Place, c.PlaceStrict = p.Base, t.cfg.Place.Strict
		tk.spanWant = p.Base
	}
	return true
}

// forgetGone drops from the planner the objects placed over span that
// this process no longer maps there: unloaded by dlclose (whose munmap
// outside the guarded ranges never stops), or placed by another process
// that shares the planner (a forked child's dlopen). Their spans are
// free here. It reports whether it dropped any. An object whose first
// mapping is in flight in a task of this address space is kept.
func (t *tracer) forgetGone(tk *task, span region.Range) bool {
	maps, err := region.ReadMaps(tk.tid)
	if err != nil {
		return false
	}
	pl := tk.sp.planner
	gone := false
	for _, q := range pl.Placements() {
		if q.Object.Kind == loader.Executable || !q.Span.Overlaps(span) || t.loading(tk.sp, q.Object) {
			continue
		}
		id, ok := t.cfg.Place.idOf(q.Object)
		if !ok || mapsFile(maps, q.Span, id) {
			continue
		}
		pl.Forget(q.Object)
		gone = true
	}
	return gone
}

// loading reports whether a task of sp is in the middle of obj's first
// mapping.
func (t *tracer) loading(sp *space, obj *loader.Object) bool {
	for _, o := range t.tasks {
		if o.sp == sp && o.spanObj == obj {
			return true
		}
	}
	return false
}

// idOf returns the identity of the file obj was read from.
func (pc *PlaceConfig) idOf(obj *loader.Object) (fileID, bool) {
	for id, o := range pc.objs {
		if o == obj {
			return id, true
		}
	}
	return fileID{}, false
}

// mapsFile reports whether any mapping inside r maps the file id.
func mapsFile(maps []region.Mapping, r region.Range, id fileID) bool {
	dev := fmt.Sprintf("%02x:%02x", unix.Major(id.dev), unix.Minor(id.dev))
	for _, m := range maps {
		if m.Inode == id.ino && m.Overlaps(r) && strings.EqualFold(m.Dev, dev) {
			return true
		}
	}
	return false
}

// placementOf returns the planner's placement of obj, planning it if it
// is new (a library dlopen'ed again keeps its base).
func placementOf(pl *loader.Planner, obj *loader.Object) loader.Placement {
	for _, p := range pl.Placements() {
		if p.Object == obj {
			return p
		}
	}
	return pl.Plan(obj)[0]
}

// cannotPlace handles ld.so's mapping from offset 0 (its first of an
// object) of a file the loader package could not read as an object. A
// data file (ld.so.cache) is none of its business. But ld.so only maps
// what it has checked as an ELF object, so an ELF file here that a rule
// or a placement range names is one ld.so accepts and the loader package
// does not (program headers it judges malformed): it cannot have its
// base. That is said once per file, naming the file and the problem;
// with Strict the load fails, as for an object whose base is taken.
// Before, such an object loaded where ld.so put it, without a word
// (found in the sixteenth session). It returns false when it has
// refused the call.
//
// A rule is matched against the file's path and file name only: the
// soname is in the part that could not be read.
func (t *tracer) cannotPlace(tk *task, c *rewrite.Call) bool {
	bad := t.cfg.Place.unreadable(tk.tid, int(int32(c.Args[4])))
	if bad == nil || errors.Is(bad.err, loader.ErrNotELF) {
		return true
	}
	named := t.cfg.Place.namedBy(bad.path)
	if named == "" {
		return true
	}
	if !bad.warned {
		bad.warned = true
		outcome := "it loads where ld.so puts it"
		if t.cfg.Place.Strict {
			outcome = "strict placement: the load fails"
		}
		t.warnf("%v; %s names it, but an object mmapguard cannot read cannot be placed: %s (mmapguard inspect %s shows the problem; build or copy the file again)",
			bad.err, named, outcome, bad.path)
	}
	if t.cfg.Place.Strict {
		t.refuse(tk, rewrite.Err(rewrite.EEXIST))
		return false
	}
	return true
}

// namedBy returns the first rule or placement range whose pattern
// matches the path or file name of a file, described for a message; ""
// if none does.
func (pc *PlaceConfig) namedBy(path string) string {
	o := &loader.Object{Path: path}
	for _, r := range pc.Rules {
		if _, ok := r.Match(o); ok {
			return "rule " + r.String()
		}
	}
	for _, r := range pc.Ranges {
		if _, ok := r.Match(o); ok {
			return "placement range " + r.String()
		}
	}
	return ""
}

// unreadable returns what is known of the file a tracee's descriptor
// refers to if loader.Read refused it; nil otherwise.
func (pc *PlaceConfig) unreadable(tid, fd int) *unreadable {
	_, bad := pc.read(tid, fd)
	return bad
}

// object reads the ELF object a tracee's descriptor refers to, once per
// file; nil if it is not one (a data file, say).
func (pc *PlaceConfig) object(tid, fd int) *loader.Object {
	o, _ := pc.read(tid, fd)
	return o
}

// read is object, and for a file loader.Read refused, why.
func (pc *PlaceConfig) read(tid, fd int) (*loader.Object, *unreadable) {
	link := fmt.Sprintf("/proc/%d/fd/%d", tid, fd)
	// Look before opening: opening a FIFO could block the tracer, and a
	// terminal could become someone's controlling terminal.
	if st, err := os.Stat(link); err != nil || !st.Mode().IsRegular() {
		return nil, nil
	}
	f, err := plainfile.Open(link)
	if err != nil {
		return nil, nil
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return nil, nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || !st.Mode().IsRegular() {
		return nil, nil
	}
	id := fileID{uint64(sys.Dev), sys.Ino}
	if o := pc.objs[id]; o != nil {
		return o, nil
	}
	if bad := pc.bad[id]; bad != nil {
		return nil, bad
	}
	path, err := os.Readlink(link)
	if err != nil {
		path = link
	}
	o, err := loader.Read(f, st.Size(), path)
	if err != nil {
		if pc.bad == nil {
			pc.bad = map[fileID]*unreadable{}
		}
		bad := &unreadable{path: path, err: err}
		pc.bad[id] = bad
		return nil, bad
	}
	if pc.objs == nil {
		pc.objs = map[fileID]*loader.Object{}
	}
	pc.objs[id] = o
	return o, nil
}

// checkSegment checks that a MAP_FIXED mapping of a placed object's file
// (ld.so mapping one of its segments) lands inside the span the object's
// first mapping got. One that does not is reported; with Strict it is
// refused (EEXIST), which fails the load.
func (t *tracer) checkSegment(tk *task, c *rewrite.Call) bool {
	obj := t.cfg.Place.object(tk.tid, int(int32(c.Args[4])))
	if obj == nil {
		if c.Args[5] == 0 {
			// The first file mapping of an object aligned above
			// the page size comes with MAP_FIXED, inside ld.so's
			// reservation.
			return t.cannotPlace(tk, c)
		}
		return true
	}
	span, ok := tk.sp.spans[obj]
	if !ok {
		return true
	}
	q, ok := region.Span(c.Args[0], c.Args[1])
	if ok && span.ContainsRange(q) {
		// Only ld.so's own mapping of a segment is the placed
		// object's (private, the segment's pages, offset and
		// protection): not the program's mapping of the same file
		// over the span, shared and writable, say.
		tk.inSpan = c.Args[3]&^(rewrite.MapFixed|mapDenyWrite) == mapPrivate &&
			obj.IsLoaderMap(span.Start, c.Args[0], c.Args[1], int(uint32(c.Args[2])), c.Args[5], true)
		return true
	}
	t.warnf("%s: a segment mapped at %#x (+%#x) falls outside the object's span %v", obj.Path, c.Args[0], c.Args[1], span)
	if t.cfg.Place.Strict {
		t.refuse(tk, rewrite.Err(rewrite.EEXIST))
		return false
	}
	return true
}

// noteSpan records where a placed object's first mapping landed, once
// the call's result is known.
func (t *tracer) noteSpan(tk *task, ret uint64) {
	obj, n, want := tk.spanObj, tk.spanLen, tk.spanWant
	tk.spanObj, tk.spanWant = nil, 0
	if obj == nil {
		return
	}
	_, failed := rewrite.Failed(rewrite.ABI64, ret)
	if want != 0 && (failed || ret != want) {
		// The planner's span was free as far as it knew, but the
		// program had mapped something there since it started (or the
		// span crosses a protected range's edge): the object is not at
		// its base, and its span must not keep others out.
		tk.sp.planner.Forget(obj)
		size, _ := region.PageUp(n)
		span, _ := region.Span(want, size)
		why := "something is mapped there"
		if crossesEdge(tk.sp.guard.Policy().Guarded(), span) {
			why = "it crosses the edge of a guarded range (a protected range or the pool)"
		}
		if failed {
			t.warnf("%s wants %v but %s; strict placement: the load fails", obj.Path, span, why)
		} else {
			t.warnf("%s wants %v but %s; it loads where ld.so puts it (%#x)", obj.Path, span, why, ret)
		}
	}
	if failed {
		return
	}
	end, ok := region.PageUp(n)
	if !ok {
		return
	}
	tk.loadSpan, tk.loadObj = region.Range{}, nil
	if r, ok := region.Span(ret, end); ok {
		if want != 0 && ret == want {
			tk.loadSpan, tk.loadObj = r, obj
		}
		if tk.sp.spans == nil {
			tk.sp.spans = map[*loader.Object]region.Range{}
		}
		tk.sp.spans[obj] = r
	}
}

// crossesEdge reports whether r lies partly inside the guarded ranges
// and partly outside them: a placement there cannot be had (inside it
// replaces the guard's reservation, outside it must not replace
// anything).
func crossesEdge(guarded []region.Range, r region.Range) bool {
	in := uint64(0)
	for _, g := range guarded {
		if i := g.Intersect(r); !i.Empty() {
			in += i.Len()
		}
	}
	return in != 0 && in != r.Len()
}
