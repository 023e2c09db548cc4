package rewrite

import (
	"fmt"
	"strings"

	"github.com/mmapguard/mmapguard/region"
)

// Guard is the model of one address space (one mm: shared by the
// threads of a process and by vfork children until they exec) and the
// decisions taken for it. It is not safe for concurrent use; the tracer
// calls it from its one locked thread.
type Guard struct {
	policy *Policy

	// reserved holds the guard's own PROT_NONE placeholders, mapped holds
	// the program's mappings; both only inside the guarded ranges, where
	// every change goes through the guard and the model is exact.
	reserved region.Set
	mapped   region.Set
	// dontFork holds program mappings inside guarded ranges marked
	// MADV_DONTFORK: a forked child does not inherit them, so its
	// reservations there must be put back.
	dontFork region.Set
	// mayDontCopy is set once a call of the program's may have left a
	// mapping in a guarded range that a forked child does not inherit
	// without dontFork's knowing (see MayDontCopy).
	mayDontCopy bool
	// hadOwn is set once the program has had a mapping of its own in a
	// guarded range (see HadOwn).
	hadOwn bool
	pool   *region.Pool
	brk    uint64
	// aioSetups counts the io_setup calls in progress (see
	// decideIoSetup).
	aioSetups int
	// shm holds the System V shared memory attachments that reach into
	// guarded ranges, by attach address: what is still attached there
	// (a later munmap or MAP_FIXED can take pieces away), and the
	// attachment's whole range.
	shm map[uint64]*attachment
	// code is the guard's code page (see Code), empty when there is
	// none; codeReady says the tracer has put its code there (before,
	// the page is one of the reservations: see PendingCode).
	code      region.Range
	codeReady bool
	// settling holds pool space the program gave back whose reservation
	// may not be in place yet, with the thread whose call puts it there
	// (see giveBack).
	settling []freed
	// hinted is the pool chunk the last hint into a protected range
	// (hintIn) was moved to, until the program unmaps it or makes
	// another such hint; hintsUndone counts the hints in a row whose
	// chunk the program unmapped before its next one (see
	// noteHintUndone). hintAt is the address the last such hint asked
	// for, and hintAgain says it was the same as the one before.
	hinted, hintIn region.Range
	hintsUndone    int
	hintAt         uint64
	hintAgain      bool

	stats Stats
}

// freed is pool space a thread's call gave back.
type freed struct {
	task int
	r    region.Range
}

// Stats counts what a Guard decided.
type Stats struct {
	// Calls is the number of calls decided.
	Calls uint64
	// Outcomes counts decisions by Outcome.
	Outcomes [numOutcomes]uint64
	// Reservations is the number of reservation calls that succeeded,
	// ReserveFailures those that failed.
	Reservations, ReserveFailures uint64
	// PoolExhausted counts reroutes that found the pool full and fell
	// back to the kernel's choice.
	PoolExhausted uint64
}

// Add accumulates o into s.
func (s *Stats) Add(o Stats) {
	s.Calls += o.Calls
	for i := range s.Outcomes {
		s.Outcomes[i] += o.Outcomes[i]
	}
	s.Reservations += o.Reservations
	s.ReserveFailures += o.ReserveFailures
	s.PoolExhausted += o.PoolExhausted
}

// NewGuard returns the model of a fresh address space under policy p,
// with nothing reserved yet: call Reserve once the layout at exec is
// known.
func NewGuard(p *Policy) *Guard {
	g := &Guard{policy: p}
	if p.HasPool() {
		g.pool = region.NewPool(p.Pool)
	}
	return g
}

// Policy returns the policy the guard enforces.
func (g *Guard) Policy() *Policy { return g.policy }

// Stats returns the counters so far.
func (g *Guard) Stats() Stats { return g.stats }

// Reserved returns the guard's reservations.
func (g *Guard) Reserved() []region.Range { return g.reserved.Ranges() }

// Mapped returns the program's mappings inside the guarded ranges.
func (g *Guard) Mapped() []region.Range { return g.mapped.Ranges() }

// Brk is the program break as last seen (0 if not seen yet).
func (g *Guard) Brk() uint64 { return g.brk }

// SetBrk records the program break, read at exec or attach.
func (g *Guard) SetBrk(b uint64) { g.brk = b }

// Reserve takes the layout of a new address space (from /proc/PID/maps,
// read at exec or attach) and returns the calls that reserve the free
// parts of every guarded range, to be injected in the process with the
// given ABI. It also returns the mappings already inside guarded ranges
// (a non-PIE executable, the stack), which stay the program's.
//
// The calls use MAP_FIXED_NOREPLACE, so a stale layout can never make the
// guard clobber a mapping; report each result through Injected. The
// code page (if free) is reserved with the rest: CodeCall maps the code
// there once a rewrite wants it (see PendingCode).
func (g *Guard) Reserve(abi ABI, maps []region.Mapping) (calls []Call, occupied []region.Mapping) {
	g.pickCode(abi, maps)
	for _, gr := range g.policy.guarded.Ranges() {
		c, o := g.reserveIn(abi, gr, maps)
		calls = append(calls, c...)
		occupied = append(occupied, o...)
	}
	return calls, occupied
}

// ReserveBlind is Reserve without reading the layout: it assumes every
// guarded range free, as it is at exec unless a non-PIE executable, the
// loader or the stack lies there, and returns one MAP_FIXED_NOREPLACE
// per range. Such a call fails with EEXIST
// exactly when something is there: then read the layout and call
// ReserveIn for that call's range instead of Injected.
func (g *Guard) ReserveBlind(abi ABI) []Call {
	g.pickCode(abi, nil)
	var calls []Call
	for _, gr := range g.policy.guarded.Ranges() {
		if abi == ABI32 {
			gr = gr.Intersect(region.Range{Start: 0, End: top32})
		}
		if gr.Empty() {
			continue
		}
		g.reserved.Add(gr)
		calls = append(calls, reservation(abi, gr, MapFixedNoReplace))
	}
	return calls
}

// ReserveIn reserves the free parts of r, a range a call from
// ReserveBlind could not reserve whole, from the layout; like Reserve,
// it returns the calls and the mappings found there.
func (g *Guard) ReserveIn(abi ABI, r region.Range, maps []region.Mapping) (calls []Call, occupied []region.Mapping) {
	g.reserved.Remove(r)
	return g.reserveIn(abi, r, maps)
}

// pickCode makes the policy's code page the guard's if it is free in
// maps (for 64-bit programs only).
func (g *Guard) pickCode(abi ABI, maps []region.Mapping) {
	page := g.policy.Code
	if abi != ABI64 || page.Empty() {
		return
	}
	for _, m := range maps {
		if m.Overlaps(page) {
			return
		}
	}
	g.code = page
	if g.pool != nil {
		g.pool.Take(page)
	}
}

// reserveIn takes the mappings in r as the program's and reserves the
// rest of r.
func (g *Guard) reserveIn(abi ABI, r region.Range, maps []region.Mapping) (calls []Call, occupied []region.Mapping) {
	for _, m := range maps {
		in := m.Intersect(r)
		if in.Empty() {
			continue
		}
		occupied = append(occupied, m)
		for p := range g.policy.guarded.Within(in) {
			g.mapped.Add(p)
			g.hadOwn = true
			g.reserved.Remove(p)
			if g.pool != nil {
				g.pool.Take(p)
			}
			if p.Overlaps(g.code) {
				g.code, g.codeReady = region.Range{}, false
			}
		}
	}
	for free := range g.mapped.Gaps(r) {
		if abi == ABI32 {
			free = free.Intersect(region.Range{Start: 0, End: top32})
		}
		if free.Empty() || g.reserved.Covers(free) {
			continue
		}
		g.reserved.Add(free)
		calls = append(calls, reservation(abi, free, MapFixedNoReplace))
	}
	return calls, occupied
}

// withoutCode returns the parts of r around the code page c (r itself
// if they do not overlap).
func withoutCode(r, c region.Range) []region.Range {
	if c.Empty() || !r.Overlaps(c) {
		return []region.Range{r}
	}
	var parts []region.Range
	if lo := (region.Range{Start: r.Start, End: c.Start}); lo.Start < lo.End {
		parts = append(parts, lo)
	}
	if hi := (region.Range{Start: c.End, End: r.End}); hi.Start < hi.End {
		parts = append(parts, hi)
	}
	return parts
}

// Code returns the guard's code page (Policy.Code) once the tracer has
// put there the few instructions that finish a rewritten call without a
// second stop (package trace; see CodeWritten). It stays one of the
// guard's reservations for every call the program makes, and is never
// handed out by the pool. Empty before, when the page is not free at
// exec, for i386 programs, once the program has mapped over it
// explicitly, or once the tracer has given up on it (DropCode).
func (g *Guard) Code() region.Range {
	if !g.codeReady {
		return region.Range{}
	}
	return g.code
}

// PendingCode returns the code page while it is still a reservation
// like the others: most programs never need a rewrite, and an exec
// costs a call less (three stops) without it. The tracer maps the code
// there with CodeCall when a rewrite first wants it. Empty once the code
// is there (Code) or there is no code page.
func (g *Guard) PendingCode() region.Range {
	if g.codeReady {
		return region.Range{}
	}
	return g.code
}

// CodeCall is the call that maps the code page (readable and executable)
// over the guard's own page there (PendingCode: its reservation, or in a
// child forked meanwhile a copy of its parent's page half made); the
// tracer then writes the code into it and reports CodeWritten, or
// DropCode. Nothing else can be there: the program's own mapping over
// the page takes it from the guard (PendingCode is then empty), and the
// tracer holds the program's other calls while the code is mapped.
func (g *Guard) CodeCall() Call {
	return Call{ABI: ABI64, Nr: sysMmap64, Args: [6]uint64{g.code.Start, g.code.Len(), ProtRead | ProtExec,
		MapPrivate | MapAnonymous | MapFixed, ^uint64(0), 0}}
}

// CodeMissing says the code is not at the code page after all: a child
// forked while its parent was mapping or writing it. PendingCode returns
// the page again.
func (g *Guard) CodeMissing() { g.codeReady = false }

// CodeWritten says the code is in place at the code page: Code returns
// it from now on.
func (g *Guard) CodeWritten() {
	if !g.code.Empty() {
		g.codeReady = true
	}
}

// DropCode says the code page cannot be used: CodeCall failed and left
// the page free (then not the guard's: it leaves the model, a hole of
// one page outside every protected range), or it failed and left the
// reservation, or writing the code failed (mapped: the page stays as a
// reservation would).
func (g *Guard) DropCode(mapped bool) {
	if !mapped && !g.code.Empty() {
		g.reserved.Remove(g.code)
	}
	g.code, g.codeReady = region.Range{}, false
}

// poolFree gives r back to the pool, but never the code page.
func (g *Guard) poolFree(r region.Range) {
	g.pool.Free(r)
	if !g.code.Empty() && r.Overlaps(g.code) {
		g.pool.Take(g.code)
	}
}

// giveBack records that task's call gives r (reserved again in the
// model) back to the pool. It is not handed out at once: the reservation
// that replaces the program's mapping there is a call the thread has yet
// to make (the rewritten munmap itself, or calls run after its own), and
// on the one-stop path the tracer does not even see that call end. A
// chunk handed to another thread meanwhile would be mapped there with
// MAP_FIXED first and then reserved over by the late call, which takes
// the new mapping away. The space goes back to the pool at Settle.
func (g *Guard) giveBack(task int, r region.Range) {
	if g.pool == nil {
		return
	}
	if r = r.Intersect(g.pool.Range()); !r.Empty() {
		g.settling = append(g.settling, freed{task, r})
	}
}

// Settle says that nothing the guard asked of thread task is under way:
// the thread stands at a new call (Decide settles the caller first), or
// it has exited, or exec'd. The pool space its calls gave back is
// reserved by then, and the pool can hand it out again, except where a
// later call of another thread gave the same space back and may not have
// reserved it yet.
func (g *Guard) Settle(task int) {
	var buf [2]region.Range
	mine := buf[:0]
	keep := g.settling[:0]
	for _, f := range g.settling {
		if f.task == task {
			mine = append(mine, f.r)
		} else {
			keep = append(keep, f)
		}
	}
	g.settling = keep
	for _, r := range mine {
		g.settle(r)
	}
}

// settle gives the parts of r the guard still reserves back to the pool
// (not those the program has mapped since, nor those a failed
// reservation left to whatever is there), but none that other threads'
// calls have given back and may still be reserving.
func (g *Guard) settle(r region.Range) {
	held := false
	for _, f := range g.settling {
		if f.r.Overlaps(r) {
			held = true
			break
		}
	}
	if !held && g.reserved.Covers(r) {
		g.poolFree(r) // the usual case
		return
	}
	var free region.Set
	for piece := range g.reserved.Within(r) {
		free.Add(piece)
	}
	if held {
		for _, f := range g.settling {
			free.Remove(f.r)
		}
	}
	for piece := range free.All() {
		g.poolFree(piece)
	}
}

// Injected records the result of a call the guard asked for (from
// Reserve, Fork, Complete's Fix.After, or a Run step). A reservation that
// failed leaves a hole the guard no longer claims.
func (g *Guard) Injected(c Call, ret uint64) {
	r, ok := isReservation(c)
	if !ok {
		return
	}
	if _, failed := Failed(c.ABI, ret); failed {
		// Whether NOREPLACE found something there or MAP_FIXED left
		// the range empty, it is not the guard's.
		g.stats.ReserveFailures++
		g.reserved.Remove(r)
		if !g.codeReady && r.Overlaps(g.code) {
			// Nor is the code page, a part of that reservation:
			// CodeCall would map over whatever is there.
			g.code = region.Range{}
		}
		if g.pool != nil {
			// Whatever is there now is not the guard's to map over:
			// the allocator must never hand it out.
			g.pool.Take(r)
		}
		return
	}
	g.stats.Reservations++
}

// Kept records, after a reservation of r failed (see Injected), what the
// layout maps (read since) shows there: every part covered by a mapping
// that looks like a reservation (LooksReserved) and that the model does
// not hold for the program's is the guard's still. A rollback's MAP_FIXED
// (Complete) refused by a limit that refused the program's own call too
// (RLIMIT_MEMLOCK under mlockall(MCL_FUTURE): EAGAIN before anything is
// unmapped) finds there the reservation the failed call left in place;
// taken for gone, it was the program's to change, and its mprotect made
// it read-write. As in FromLayout, a PROT_NONE mapping of the program's
// own there would be taken for a reservation too: the program may then
// not change it (ENOMEM, as at a hole), which is never an escape.
func (g *Guard) Kept(r region.Range, maps []region.Mapping) {
	for _, m := range maps {
		if !LooksReserved(m) {
			continue
		}
		for p := range g.policy.guarded.Within(m.Intersect(r)) {
			for _, q := range withoutCode(p, g.code) {
				// The parts the model holds for the program's stay
				// its own.
				var rest region.Set
				rest.Add(q)
				for own := range g.mapped.Within(q) {
					rest.Remove(own)
				}
				for piece := range rest.All() {
					g.reserved.Add(piece)
				}
			}
		}
	}
}

// Fork returns the model of a child created by fork (a copy of g) and
// the calls to inject in the child before it runs: it does not inherit
// mappings marked MADV_DONTFORK, so reservations go back there.
func (g *Guard) Fork(abi ABI) (*Guard, []Call) {
	c := g.forkCopy()
	var calls []Call
	for r := range g.dontFork.All() {
		c.mapped.Remove(r)
		c.detach(r, nil) // (a segment's part the child lacks: its shmdt gets EINVAL there)
		c.reserved.Add(r)
		if c.pool != nil {
			c.poolFree(r)
		}
		calls = append(calls, reservation(abi, r, MapFixedNoReplace))
	}
	return c, calls
}

// ForkLayout is Fork for a child whose layout has been read: gaps are
// the parts of the guarded ranges where it has nothing mapped. Each gets
// a reservation, whatever the model says is there, and the model the
// program's mapping there no more. The model is not the child's copy
// where another thread's call was decided at its stop and ran in the
// kernel after the fork copied the layout: a munmap of a MADV_DONTFORK
// mapping (the model has a reservation there, the child nothing), a
// MADV_DONTFORK or MADV_DOFORK (the child has what the model says it
// lacks, or the reverse). The child has no VM_DONTCOPY mapping: the
// kernel copied none.
func (g *Guard) ForkLayout(abi ABI, gaps []region.Range) (*Guard, []Call) {
	c := g.forkCopy()
	var calls []Call
	var gone []region.Range
	for _, gap := range gaps {
		for piece := range g.policy.guarded.Within(gap) {
			if abi == ABI32 {
				// Above top32 out of an i386 call's reach, and of
				// the program's.
				if piece = piece.Intersect(region.Range{Start: 0, End: top32}); piece.Empty() {
					continue
				}
			}
			gone = gone[:0]
			for m := range c.mapped.Within(piece) {
				gone = append(gone, m)
			}
			for _, m := range gone {
				c.mapped.Remove(m)
				c.detach(m, nil)
				if c.pool != nil {
					c.poolFree(m)
				}
			}
			c.reserved.Add(piece)
			calls = append(calls, reservation(abi, piece, MapFixedNoReplace))
		}
	}
	return c, calls
}

// forkCopy is the model of a forked child before what it does not
// inherit is taken out.
func (g *Guard) forkCopy() *Guard {
	c := &Guard{policy: g.policy, brk: g.brk, code: g.code, codeReady: g.codeReady, mayDontCopy: g.mayDontCopy, hadOwn: g.hadOwn}
	c.reserved = *g.reserved.Clone()
	c.mapped = *g.mapped.Clone()
	for at, a := range g.shm {
		if c.shm == nil {
			c.shm = map[uint64]*attachment{}
		}
		c.shm[at] = &attachment{whole: a.whole, left: *a.left.Clone()}
	}
	if g.pool != nil {
		c.pool = g.pool.Clone()
	}
	// The child has none of its parent's calls under way: whatever a
	// late reservation of the parent's would have replaced, the child
	// copied (the program's old mapping, or the reservation), and the
	// guard may map over either.
	for _, f := range g.settling {
		c.settle(f.r)
	}
	return c
}

// reservation builds the call that places a PROT_NONE placeholder over r.
// how is MapFixed (replace whatever is there: used where the guard knows
// the range is its own or the program's that it is taking back) or
// MapFixedNoReplace (never clobber).
func reservation(abi ABI, r region.Range, how uint64) Call {
	flags := uint64(MapPrivate|MapAnonymous|MapNoReserve) | how
	if abi == ABI32 {
		return Call{ABI: ABI32, Nr: sysMmap2_32, Args: [6]uint64{r.Start, r.Len(), ProtNone, flags, 0xffffffff, 0}}
	}
	return Call{ABI: ABI64, Nr: sysMmap64, Args: [6]uint64{r.Start, r.Len(), ProtNone, flags, ^uint64(0), 0}}
}

// top32 is the end of an i386 process's address space on x86-64
// (TASK_SIZE for a 32-bit task: the last page below 4 GiB is the
// kernel's). Above it nothing can be mapped, nor reserved.
const top32 = 0xffffe000

// IsReservation reports whether c is a call the guard builds to place a
// reservation (PROT_NONE, private, anonymous, NORESERVE, at a fixed
// address), and the range it maps.
func IsReservation(c Call) (region.Range, bool) { return isReservation(c) }

// isReservation recognises a call built by reservation.
func isReservation(c Call) (region.Range, bool) {
	const want = MapPrivate | MapAnonymous | MapNoReserve
	if c.Op() != OpMmap || c.Args[2] != ProtNone || c.Args[3]&want != want ||
		c.Args[3]&(MapFixed|MapFixedNoReplace) == 0 {
		return region.Range{}, false
	}
	r, ok := region.Span(c.Args[0], c.Args[1])
	return r, ok
}

func (g *Guard) String() string {
	return fmt.Sprintf("guard: %d reserved, %d mapped in guarded ranges, brk %#x",
		g.reserved.Len(), g.mapped.Len(), g.brk)
}

// ProtectedReservations returns the guard's reservations in protected
// ranges within r, as the model has them. Each is always mapped: the
// guard replaces one only with a single call (a reservation mapped over
// the program's mapping, or the program's over it), and where a call
// leaves one out for a moment (a move-out) the other threads wait.
func (g *Guard) ProtectedReservations(r region.Range) []region.Range {
	var out []region.Range
	for piece := range g.reserved.Within(r) {
		for p := range g.policy.protected.Within(piece) {
			out = append(out, p)
		}
	}
	return out
}

// Refill takes the parts of guarded ranges the tracer found unmapped
// after a call with Rescan (by task): those the model has as the
// program's (pieces the call took away) are counted reserved again, and
// it returns the reservations that put them back, never over anything
// else (MAP_FIXED_NOREPLACE). Those the model has as reserved (the
// kernel unmapped the guard's reservations behind its back: an
// io_destroy whose ring reached them) are reserved again as they were.
func (g *Guard) Refill(task int, abi ABI, gaps []region.Range) []Call {
	var calls []Call
	for _, gap := range gaps {
		// (The reserved pieces first: releasing the program's makes
		// them reserved too.)
		for piece := range g.reserved.Within(gap) {
			// (The code page may have gone with it: an io_destroy's
			// ring reaching into the pool.)
			g.codeUnmapped(piece)
			if abi == ABI32 && piece.End > top32 {
				continue // out of an i386 call's reach
			}
			calls = append(calls, reservation(abi, piece, MapFixedNoReplace))
		}
		for piece := range g.mapped.Within(gap) {
			if abi == ABI32 && piece.End > top32 {
				continue
			}
			g.releasePiece(task, piece)
			calls = append(calls, reservation(abi, piece, MapFixedNoReplace))
		}
	}
	return calls
}

// Reservations returns the number of the guard's reservations (pieces
// of guarded ranges between the program's mappings): each is a mapping
// that counts against the kernel's vm.max_map_count.
func (g *Guard) Reservations() int { return g.reserved.Len() }

// HasOwn reports whether the program has mappings of its own in guarded
// ranges (explicit placements, a non-PIE image, the pool's allocations).
func (g *Guard) HasOwn() bool { return g.mapped.Len() > 0 }

// HadOwn reports whether the program has had mappings of its own in
// guarded ranges since its exec (it may have none left: a munmap whose
// reservation has yet to be mapped in the kernel).
func (g *Guard) HadOwn() bool { return g.hadOwn || g.mapped.Len() > 0 }

// MayDontCopy reports whether the program may have, in a guarded range,
// a mapping the kernel does not copy into a forked child (VM_DONTCOPY)
// that the guard's own record of MADV_DONTFORK does not hold: a driver's
// mapping (a perf ring buffer sets the flag in its mmap) or one moved
// with mremap (the flag moves with it). Only a file or device mmap, or
// an mremap, that stopped in the tracer can leave one there: every
// other place in a guarded range is reserved. A MADV_DONTFORK of the
// program's mapping sets it too: dontFork changes when the call is
// decided, the kernel's flag when it runs, and a fork by another thread
// can come in between (see ForkLayout). The tracer then checks a
// forked child's layout. Set by Decide, kept by Fork, new at exec.
func (g *Guard) MayDontCopy() bool { return g.mayDontCopy }

// FromLayout returns the model of an address space the guard knows only
// from its layout, read while nothing in it runs, and the calls that
// reserve what nothing maps in its guarded ranges (report them through
// Injected): a child forked by a thread that another thread's exec
// ended, whose memory is a copy of its process's from before the exec,
// made at a moment the guard's model of that memory (prev) did not
// follow. In guarded ranges a mapping that looks like a reservation
// (LooksReserved) is taken for
// one, any other for the program's. A PROT_NONE mapping of the
// program's own is so taken for a reservation too: the child may not
// change it (ENOMEM, as at a hole), which is never an escape. prev gives
// the program break and the code page (whose contents the tracer checks
// in the child); shared memory attachments and MADV_DONTFORK marks are
// not known (a shmdt in a guarded range gets EINVAL).
//
// Nor is what of the pool is free: prev's pool is not the child's
// memory's (prev changed since the copy was made, or is another
// process's: see the tracer's deadCreatorSpace), and the layout cannot
// tell the pool's reservations from a PROT_NONE mapping of the
// program's, which the pool, handing it out, would replace (a review
// in the fourteenth session found a child's next mapping inside its
// own). The child's pool gives out nothing its layout maps: only what
// the calls returned reserve. Its mappings go where the kernel puts
// them once that is used up (never in a protected range: those are
// reserved).
func FromLayout(prev *Guard, abi ABI, maps []region.Mapping) (*Guard, []Call) {
	g := NewGuard(prev.policy)
	g.brk, g.code, g.codeReady = prev.brk, prev.code, prev.codeReady
	g.mayDontCopy = true // (whatever the child lacks is found here)
	if prev.pool != nil {
		g.pool = prev.pool.Clone()
	}
	for _, m := range maps {
		if !g.code.Empty() && m.Overlaps(g.code) && !(m.Inode == 0 && m.Path == "" && (m.Perms == "r-xp" || m.Perms == "---p")) {
			// Not the guard's code page, nor its reservation: the
			// program mapped there.
			g.code, g.codeReady = region.Range{}, false
		}
	}
	if g.pool != nil && !g.code.Empty() {
		g.pool.Take(g.code)
	}
	for _, m := range maps {
		for p := range g.policy.guarded.Within(m.Range) {
			for _, q := range withoutCode(p, g.code) {
				if g.pool != nil {
					g.pool.Take(q)
				}
				if LooksReserved(m) {
					g.reserved.Add(q)
					continue
				}
				g.mapped.Add(q)
			}
			if c := p.Intersect(g.code); !c.Empty() {
				g.reserved.Add(c)
			}
		}
	}
	var calls []Call
	for _, gr := range g.policy.guarded.Ranges() {
		if abi == ABI32 {
			gr = gr.Intersect(region.Range{Start: 0, End: top32})
		}
		for free := range g.reserved.Gaps(gr) {
			if g.mapped.Covers(free) {
				continue
			}
			for hole := range g.mapped.Gaps(free) {
				g.reserved.Add(hole)
				calls = append(calls, reservation(abi, hole, MapFixedNoReplace))
			}
		}
	}
	return g, calls
}

// LooksReserved reports whether a mapping looks like one of the guard's
// reservations: anonymous, private, PROT_NONE, with no name but the
// kernel's "[heap]" (which it gives a mapping over the program break's
// start) or one the program gave it: prctl(PR_SET_VMA,
// PR_SET_VMA_ANON_NAME), which the filter lets through, names any
// anonymous mapping, a reservation too ("[anon:NAME]", on kernels built
// with CONFIG_ANON_VMA_NAME). Taken for the program's, a named
// reservation became read-write by the mprotect of a child whose model
// was built from its layout.
//
// "[stack]" likewise: the kernel names so the mapping that holds the
// process's start_stack address, which prctl(PR_SET_MM,
// PR_SET_MM_START_STACK) (CAP_SYS_RESOURCE; the filter lets it through)
// moves into a reservation. (The stack itself is never ---p unless the
// program made it so: taken for a reservation then, it only may not be
// changed.)
func LooksReserved(m region.Mapping) bool {
	return m.Perms == "---p" && m.Inode == 0 &&
		(m.Path == "" || m.Path == "[heap]" || m.Path == "[stack]" || strings.HasPrefix(m.Path, "[anon:"))
}

// Reconcile makes a forked child's model (from ForkLayout) agree with
// its layout in the guarded ranges where other threads' calls may have
// run on either side of the fork's copy (within: their spans; taking:
// those of the calls that may map something of the program's). Within
// taking, a mapping that looks like a reservation (LooksReserved) is
// taken for one, even where the model has the program's (a MAP_FIXED
// decided, not yet run: the child has the reservation, whose mprotect
// would make it read-write); within all of them, any other mapping is
// taken for the program's, even where the model has a reservation (a
// munmap decided, not yet run). A PROT_NONE mapping of the program's
// own within taking is so taken for a reservation too: the child may
// not change it (ENOMEM, as at a hole), which is never an escape; the
// pool does not hand it out either.
func (g *Guard) Reconcile(maps []region.Mapping, within, taking []region.Range) {
	var in, tk region.Set
	for _, r := range within {
		in.Add(r)
	}
	for _, r := range taking {
		tk.Add(r)
	}
	for _, m := range maps {
		set := &in
		if LooksReserved(m) {
			set = &tk
		}
		for w := range set.Within(m.Range) {
			g.reconcile(m, w)
		}
	}
}

// reconcile is Reconcile for the part r of mapping m.
func (g *Guard) reconcile(m region.Mapping, r region.Range) {
	for p := range g.policy.guarded.Within(r) {
		for _, q := range withoutCode(p, g.code) {
			if LooksReserved(m) {
				if g.mapped.Overlaps(q) {
					g.mapped.Remove(q)
					g.dontFork.Remove(q)
					g.detach(q, nil)
				}
				g.reserved.Add(q)
				continue
			}
			if !g.mapped.Covers(q) {
				g.reserved.Remove(q)
				g.mapped.Add(q)
				g.hadOwn = true
				if g.pool != nil {
					g.pool.Take(q)
				}
			}
		}
	}
}

// codeUnmapped notes that the kernel unmapped r: if the guard's code
// page was there, it is reserved again like the rest and mapped again
// when next wanted (CodeCall). Taken for still mapped, the next one-stop
// rewrite jumped into the PROT_NONE reservation put over it, and the
// program died of SIGSEGV: an io_destroy whose ring reached into the
// pool, and an mremap shrinking a mapping just below the pool, whose
// tail the kernel unmapped (found in the twelfth session's reviews).
func (g *Guard) codeUnmapped(r region.Range) {
	if r.Overlaps(g.code) {
		g.codeReady = false
	}
}

// Unplanned returns the parts of gaps that no reservation among after
// (a Fix's, from Complete) covers: those Refill is to reserve. A failed
// call's rollback puts its reservations back itself, and a second one
// over the same gap failed (EEXIST), counted as a failure and keeping
// the pool's piece taken.
func Unplanned(gaps []region.Range, after []Call) []region.Range {
	var s region.Set
	for _, g := range gaps {
		s.Add(g)
	}
	for _, c := range after {
		if r, ok := isReservation(c); ok {
			s.Remove(r)
		}
	}
	return s.Ranges()
}
