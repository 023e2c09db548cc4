package trace

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mmapguard/mmapguard/internal/procfile"
	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// Calls in flight.
//
// The guard decides the calls of an address space one at a time, in the
// order their seccomp stops reach the tracer, and its model follows that
// order. The kernel runs them in the order the tasks get to run them:
// a call let go at its stop (or rewritten in place) may run after a call
// of another thread decided later. Where both touch the same pages the
// model is then wrong: an mprotect of the program's mapping decided
// before another thread's munmap, which the guard turns into a
// reservation mapped over it, runs on the reservation and makes it
// readable; a MADV_DONTFORK so decided leaves a forked child a hole;
// a MAP_FIXED of the program's decided after an munmap whose reservation
// runs last leaves a reservation the model counts as the program's (its
// mprotect then makes it read-write).
//
// So a task sent on from its seccomp stop with a call that touches a
// guarded range is in flight (task.flight, the pages it may touch) until
// the call and whatever the guard runs after it are over: when the
// guard, having driven the task through them, lets it go back to the
// program (resume), or, for a call the kernel runs after the task is let
// go (allowed, or rewritten in place with one stop), at the task's next
// stop. A call of another task of the same space whose pages overlap a
// flight waits at its seccomp stop, before it is decided (flightHeld).
// A task in flight that the guard does not drive is then looked at:
// blocked in another call (or in none), its call is over; otherwise it
// is interrupted (PTRACE_INTERRUPT: the stop comes once the call has
// returned). When a flight lands, the waiting tasks are handled again.
// Calls on different pages, and every call of a single-threaded
// program, never wait; the cost is a comparison per trapped call while
// another task of the space is in flight, and a read of
// /proc/TID/syscall for each overlapping flight whose task has not
// stopped since. A flier asleep where PTRACE_INTERRUPT does not wake
// it (a killable sleep: MADV_POPULATE of userfaultfd memory, a FUSE
// file's page) is waited for as long as it sleeps; a waiting call that
// would end that sleep (a userfaultfd handler's own mapping call on the
// same pages) would wait for good. No program is known to do that.

// everything is the span of a call whose pages cannot be told before it
// is decided.
var everything = region.Range{Start: 0, End: region.UserEnd}

// flightSpan returns the pages a call may touch (a range covering them
// all, rounded to pages), or an empty range for a call that touches none
// of its own choosing (a mapping placed by the kernel, a call that does
// not map). It is conservative: huge pages and growsdown mappings widen
// it.
func flightSpan(c rewrite.Call) region.Range {
	a := c.Args
	if c.ABI == rewrite.ABI32 {
		for i := range a {
			a[i] &= 0xffffffff
		}
	}
	var r region.Range
	add := func(addr, n, slack uint64) {
		if n == 0 {
			n = 1
		}
		s := region.PageDown(addr)
		e := satAdd(satAdd(addr, n), slack)
		if up, ok := region.PageUp(e); ok {
			e = up
		} else {
			e = region.UserEnd
		}
		if e > region.UserEnd {
			e = region.UserEnd
		}
		if s >= e {
			return
		}
		if r.Empty() {
			r = region.Range{Start: s, End: e}
			return
		}
		r.Start, r.End = min(r.Start, s), max(r.End, e)
	}
	const huge = 1 << 30 // the largest huge page
	switch c.Op() {
	case rewrite.OpMmap:
		if a[3]&(rewrite.MapFixed|rewrite.MapFixedNoReplace) == 0 && c.Place == 0 {
			return r
		}
		slack := uint64(0)
		if a[3]&rewrite.MapAnonymous == 0 || a[3]&rewrite.MapHugetlb != 0 {
			// As fillMemory found it (HugeUnknown where not looked
			// up). A descriptor swapped for a hugetlb one after the
			// look makes a fixed mapping in a guarded range longer
			// than its span: the guard checks it at its exit and fails
			// closed (Action.Verify).
			slack = c.HugePage
			if slack == rewrite.HugeUnknown {
				slack = huge
			}
			if c.Arena || c.HugePage == rewrite.HugeUnknown && a[3]&rewrite.MapAnonymous == 0 {
				// A BPF arena's (or a file not looked at yet, which
				// may be one): moved up to the 4 GiB line it crosses,
				// it reaches up to its length beyond its range.
				slack = max(slack, min(a[1], rewrite.ArenaSpan))
			}
		}
		add(a[0], a[1], slack)
	case rewrite.OpOldMmap:
		return region.Range{Start: 0, End: 1 << 32}
	case rewrite.OpMunmap, rewrite.OpMadvise, rewrite.OpMlock, rewrite.OpMseal, rewrite.OpMsync,
		rewrite.OpMincore, rewrite.OpMbind, rewrite.OpRemapFile:
		add(a[0], a[1], 0)
	case rewrite.OpMprotect, rewrite.OpPkeyMprotect:
		if a[2]&rewrite.ProtGrowsDown != 0 {
			// Down to the start of the growsdown mapping.
			add(0, satAdd(a[0], a[1]), 0)
		} else {
			add(a[0], a[1], 0)
		}
	case rewrite.OpGetMempolicy:
		add(a[3], 1, 0)
	case rewrite.OpMremap:
		slack := c.HugePage
		if slack == rewrite.HugeUnknown {
			slack = huge
		}
		add(a[0], max(a[1], a[2]), slack)
		if a[3]&rewrite.MremapFixed != 0 {
			add(a[4], a[2], slack)
		}
	case rewrite.OpShmat:
		if a[1] != 0 {
			add(a[1], region.UserEnd, 0)
		}
	case rewrite.OpIPC:
		switch a[0] & 0xffff {
		case 21: // SHMAT
			if a[4] != 0 {
				add(a[4], region.UserEnd, 0)
			}
		case 22: // SHMDT
			return everything
		}
	case rewrite.OpShmdt, rewrite.OpBrk, rewrite.OpIoDestroy:
		// (io_destroy: the ring's size at io_setup is the kernel's.)
		return everything
	}
	return r
}

// actionSpan is flightSpan of a decided call: its own pages and those of
// the calls the guard runs for it.
func actionSpan(c rewrite.Call, a *rewrite.Action) region.Range {
	r := flightSpan(c)
	for _, s := range a.Steps {
		r = cover(r, flightSpan(s.Call))
	}
	return r
}

// cover returns the smallest range holding a and b (either may be
// empty).
func cover(a, b region.Range) region.Range {
	switch {
	case b.Empty():
		return a
	case a.Empty():
		return b
	}
	return region.Range{Start: min(a.Start, b.Start), End: max(a.End, b.End)}
}

// fly records that tk is sent on with a call that may touch r, if r
// reaches a guarded range. At a seccomp stop (fresh), runs are the
// calls the kernel may run it as (the program's, a rewrite's). take is
// what of r the call (or one the guard runs for it) may map for the
// program (see takeSpan).
func (t *tracer) fly(tk *task, r region.Range, fresh bool, take region.Range, runs ...rewrite.Call) {
	sp := tk.sp
	if r.Empty() || sp == nil || sp.guard == nil || !sp.guard.Policy().OverlapsGuarded(r) {
		return
	}
	if fresh {
		tk.flightFresh = true
		tk.flightNr = [2]uint64{^uint64(0), ^uint64(0)}
		tk.flightArgs = [2][2]uint64{}
		for i, c := range runs[:min(len(runs), 2)] {
			tk.flightNr[i], tk.flightArgs[i] = c.Nr, [2]uint64{c.Args[0], c.Args[1]}
			if c.ABI == rewrite.ABI32 {
				tk.flightArgs[i] = [2]uint64{c.Args[0] & 0xffffffff, c.Args[1] & 0xffffffff}
			}
		}
	}
	tk.flightTake = cover(tk.flightTake, take)
	if tk.flight.Empty() {
		sp.fliers = append(sp.fliers, tk)
		tk.flight = r
		return
	}
	tk.flight = cover(tk.flight, r)
}

// flyOn is told by resume that tk, in flight, goes on. From the seccomp
// stop where its flight began, with no injection, the kernel runs its
// call now (flightFresh); into an injection, the guard drives it; back
// to the program after an injection, its calls are over.
func (t *tracer) flyOn(tk *task) {
	switch {
	case tk.inj != nil:
		tk.flightFresh = false
	case tk.flightFresh:
		tk.flightFresh = false
		if tk.sp != nil && len(tk.sp.flightWaiters) > 0 {
			t.interruptFlight(tk)
		}
	default:
		t.land(tk)
	}
}

// land ends tk's flight: it has stopped after its call, or is gone. The
// tasks waiting in its space are handled again (see handleReady).
func (t *tracer) land(tk *task) {
	sp := tk.sp
	t.landed(sp, tk)
	if sp == nil {
		return
	}
	for i, o := range sp.fliers {
		if o == tk {
			sp.fliers = append(sp.fliers[:i], sp.fliers[i+1:]...)
			break
		}
	}
	if len(sp.flightWaiters) > 0 {
		t.ready = append(t.ready, sp.flightWaiters...)
		sp.flightWaiters = nil
	}
}

// landed ends tk's flight in sp (its space, or the one it had) and
// records the landing (see uncertain), without touching sp's lists.
func (t *tracer) landed(sp *space, tk *task) {
	span, take := tk.flight, tk.flightTake
	tk.flight, tk.flightInt, tk.flightFresh, tk.flightTake = region.Range{}, false, false, region.Range{}
	if sp == nil {
		return
	}
	sp.landed++
	tk.landMark++ // (its own landing is not another's)
	if sp.landed%pruneLandings == 0 && len(sp.landings) >= pruneLandings {
		t.pruneLandings(sp)
	}
	l := landing{sp.landed, tk, span, take}
	if len(sp.landings) < maxLandings {
		sp.landings = append(sp.landings, l)
		return
	}
	// Full: a ring, the oldest overwritten (at landHead). A task that
	// is never resumed (blocked in a call for good) keeps every landing
	// from being pruned, and moving 4,095 of them at each landing was
	// most of the cost of a trapped call then.
	sp.landings[sp.landHead] = l
	sp.landHead = (sp.landHead + 1) % maxLandings
}

// holdForFlights keeps tk at the seccomp stop of its call (si) while a
// call of another task of its space that may touch the same pages is in
// flight, and has those tasks interrupted. It reports whether it held
// tk.
func (t *tracer) holdForFlights(tk *task, si syscallInfo) bool {
	abi, ok := abiOf(si.arch)
	if !ok {
		return false
	}
	c := rewrite.Call{ABI: abi, Nr: si.nr, Args: si.args}
	// (A waiting mremap keeps none: looking up its mapping reads the
	// layout, and 64 threads moving pages about made thousands of
	// such reads, four times slower.)
	mayBeHuge := c.Op() == rewrite.OpMmap && c.Args[3]&(rewrite.MapAnonymous|rewrite.MapHugetlb) != rewrite.MapAnonymous
	if mayBeHuge {
		// Huge pages of an unknown size until looked up (see refine).
		c.HugePage = rewrite.HugeUnknown
	}
	r := flightSpan(c)
	if r.Empty() {
		return false
	}
	narrow := r
	if mayBeHuge {
		n := c
		n.HugePage = 0
		narrow = flightSpan(n)
	}
	// refine looks up the huge page size of the call's mapping, where
	// only the slack for huge pages (a gigabyte past its end) makes it
	// overlap a flight: a file's MAP_FIXED waited for a flight of
	// another page (one sleeping where only this call's task can wake
	// it: a userfaultfd handler's mapping 2 MiB below the pages
	// another thread populates).
	refine := func(f region.Range) bool {
		if !mayBeHuge || f.Overlaps(narrow) {
			return true
		}
		mayBeHuge = false
		a := c.Args
		if abi == rewrite.ABI32 {
			for i := range a {
				a[i] &= 0xffffffff
			}
		}
		var lateFail bool
		c.HugePage, lateFail, _ = mmapFile(tk.tid, a[3], a[4])
		c.Arena = lateFail && a[3]&rewrite.MapAnonymous == 0 && bpfArena(tk.tid, a[4])
		r = flightSpan(c)
		return f.Overlaps(r)
	}
	sp := tk.sp
	held := false
	live := sp.fliers[:0]
	for _, o := range sp.fliers {
		if t.tasks[o.tid] != o {
			// Gone without a report under its own id (another
			// thread's exec ended it): its call is over. It landed
			// all the same (see othersInFlight).
			t.landed(sp, o)
			continue
		}
		live = append(live, o)
		if o == tk || !o.flight.Overlaps(r) || !refine(o.flight) {
			continue
		}
		if o.inj == nil && !o.flightFresh && !o.flightInt && flightOver(o) {
			// Its call is over; it has not stopped since. It
			// landed all the same: a fork whose event comes next
			// may have copied the space before the call ran (see
			// othersInFlight).
			t.landed(sp, o)
			live = live[:len(live)-1]
			continue
		}
		held = true
		t.interruptFlight(o)
	}
	clear(sp.fliers[len(live):len(sp.fliers)])
	sp.fliers = live
	if held {
		tk.flightHeld = true
		sp.flightWaiters = append(sp.flightWaiters, tk)
	}
	return held
}

// interruptFlight asks a task in flight to stop once its call is over,
// unless the guard drives it already (an injection under way: it stops
// at each of the guard's calls, and is interrupted when resumed after
// them, see resume).
func (t *tracer) interruptFlight(o *task) {
	if o.inj != nil || o.flightInt {
		return
	}
	if err := t.interruptTask(o); err == nil {
		o.flightInt = true
	}
}

// flightOver reports whether a task in flight, let go with its call, is
// past it: blocked in another call, as /proc/TID/syscall shows (in a
// page fault it shows the fault's error code, never a mapping call's
// number). A call of the same number with other arguments (address or
// length) is another call: one the filter lets run without a stop (a
// madvise(MADV_POPULATE_WRITE) of userfaultfd memory outside the
// guarded ranges, asleep until a handler thread serves it; a waiting
// call of the handler's on the first call's pages waited for good). A
// task on a CPU, or in a call like its own, may still be in its call.
func flightOver(tk *task) bool {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/syscall", tk.tid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false
	}
	nr, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return false // "running"
	}
	if nr < 0 {
		return true
	}
	for i, fnr := range tk.flightNr {
		if uint64(nr) != fnr {
			continue
		}
		if len(f) < 3 {
			return false
		}
		a0, err0 := strconv.ParseUint(f[1], 0, 64)
		a1, err1 := strconv.ParseUint(f[2], 0, 64)
		if err0 != nil || err1 != nil {
			return false
		}
		want := tk.flightArgs[i]
		if want[0] == a0 && want[1] == a1 || want[0] == a0&0xffffffff && want[1] == a1&0xffffffff && want[0]>>32 == 0 && want[1]>>32 == 0 {
			return false // (a 32-bit call's registers may hold more)
		}
	}
	return true
}

// othersInFlight reports whether a call of a task of tk's space other
// than tk may have run, or may still run, while tk ran since it was last
// resumed: a fork by tk copies the space at a moment the model does not
// follow. (A flight that lands before tk's fork event is seen may have
// run after the copy.)
func (t *tracer) othersInFlight(tk *task) bool {
	if tk.landMark != tk.sp.landed {
		return true
	}
	for _, o := range tk.sp.fliers {
		if o != tk && t.tasks[o.tid] == o {
			return true
		}
	}
	return false
}

// landing is a flight that landed: the count of its space's landed
// flights then (space.landed), the task, its span and what of it the
// call may have mapped for the program.
type landing struct {
	n          uint64
	by         *task
	span, take region.Range
}

// maxLandings is how many landings a space remembers for uncertain;
// a fork after more while its task ran counts every guarded range as
// uncertain. Those every task of the space has been resumed since are
// forgotten every pruneLandings landings.
const (
	maxLandings   = 4096
	pruneLandings = 256
)

// pruneLandings forgets the landings of sp that no fork can need: those
// before every task of sp was last resumed.
func (t *tracer) pruneLandings(sp *space) {
	least := sp.landed
	for _, o := range t.tasks {
		if o.sp == sp && o.landMark < least {
			least = o.landMark
		}
	}
	if sp.landHead != 0 {
		// In order again (a ring only while full).
		sp.landings = append(sp.landings[sp.landHead:len(sp.landings):len(sp.landings)], sp.landings[:sp.landHead]...)
		sp.landHead = 0
	}
	i := 0
	for i < len(sp.landings) && sp.landings[i].n <= least {
		i++
	}
	sp.landings = append(sp.landings[:0], sp.landings[i:]...)
}

// uncertain returns the spans of the calls of tk's space's other tasks
// that may have run on either side of a fork tk made since it was last
// resumed (those in flight, and those landed since: see othersInFlight),
// and what of them those calls may map for the program (taking). Both
// are everything (one range over all of user space) where more landed
// than the space remembers.
func (t *tracer) uncertain(tk *task) (all, taking []region.Range) {
	sp := tk.sp
	for _, o := range sp.fliers {
		if o != tk && t.tasks[o.tid] == o && !o.flight.Empty() {
			all = append(all, o.flight)
			taking = append(taking, o.flightTake)
		}
	}
	if sp.landed > tk.landMark {
		if len(sp.landings) == 0 || sp.landings[sp.landHead].n > tk.landMark+1 {
			return []region.Range{everything}, []region.Range{everything}
		}
		for i := range sp.landings {
			l := &sp.landings[(sp.landHead+i)%len(sp.landings)]
			// (tk's own calls were over before its fork.)
			if l.n > tk.landMark && l.by != tk {
				all = append(all, l.span)
				taking = append(taking, l.take)
			}
		}
	}
	return all, taking
}

// takeSpan returns the range a call may map for the program at an
// address of its own choosing, which the guard's model takes for the
// program's when it decides the call (empty for anything else: a
// reservation, a mapping the kernel places, a call that maps nothing).
func takeSpan(c rewrite.Call) region.Range {
	a := c.Args
	if c.ABI == rewrite.ABI32 {
		for i := range a {
			a[i] &= 0xffffffff
		}
	}
	span := func(addr, n uint64) region.Range {
		if r, ok := region.Span(region.PageDown(addr), n+addr-region.PageDown(addr)); ok {
			return r
		}
		return region.Range{Start: region.PageDown(addr), End: region.UserEnd}
	}
	fixed := uint64(rewrite.MapFixed | rewrite.MapFixedNoReplace)
	switch c.Op() {
	case rewrite.OpMmap:
		if _, resv := rewrite.IsReservation(c); a[3]&fixed != 0 && !resv {
			return span(a[0], a[1])
		}
	case rewrite.OpOldMmap:
		if c.HaveMem && c.Mem[3]&fixed != 0 {
			return span(c.Mem[0], c.Mem[1])
		}
	case rewrite.OpMremap:
		if a[3]&rewrite.MremapFixed != 0 {
			return span(a[4], a[2])
		}
		return span(a[0], max(a[1], a[2]))
	case rewrite.OpShmat:
		if a[1] != 0 && c.ShmSize != 0 {
			return span(a[1], c.ShmSize)
		}
	case rewrite.OpIPC:
		if a[0]&0xffff == 21 && a[4] != 0 && c.ShmSize != 0 { // SHMAT
			return span(a[4], c.ShmSize)
		}
	}
	return region.Range{}
}
