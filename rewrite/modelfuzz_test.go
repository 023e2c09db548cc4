package rewrite

import (
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// The cases below were found by the differential fuzzer
// (testdata/modelfuzz.c; trace's TestModelFuzz replays them against the
// kernel, testdata/modelfuzz/*.ops).

// TestMremapMoveWithHoles: a move that keeps the length (MREMAP_FIXED)
// from outside the guarded ranges into one moves, since Linux 6.17,
// every mapping in the old range and leaves the target under the holes
// between them as it was, a reservation that the model counted as the
// program's (its mprotect then made the reservation read-write). The old
// range is looked at first (msync: ENOMEM at a hole, answered EFAULT),
// with the other threads held; a failure gives everything back.
func TestMremapMoveWithHoles(t *testing.T) {
	g := newGuard(t, opts{})
	c := call64(sysMremap64, outsideLib, 3*page, 3*page, MremapMayMove|MremapFixed, 0x20000000)
	a := g.Decide(c, Caller{Task: 1})
	if a.Verdict != Run || len(a.Steps) != 2 || a.Steps[0].Call.Op() != OpMsync || a.Steps[0].FailRet != Err(EFAULT) ||
		a.Steps[1].Call.Args != c.Args || !a.Exit || !a.Hole {
		t.Fatalf("Decide(%v) = %v (steps %s), want msync with FailRet EFAULT, then the call, Exit and Hole", c, a, steps(a))
	}
	// The old range has a hole: the program gets EFAULT, the target
	// stays reserved.
	g.Complete(a, Err(EFAULT))
	checkModel(t, g)
	if !g.reserved.Covers(region.Range{Start: 0x20000000, End: 0x20003000}) {
		t.Errorf("after the failed move the target is not reserved: %v", g.Reserved())
	}
	// Without a hole it moves, and the target is the program's.
	a = g.Decide(c, Caller{Task: 1})
	g.Complete(a, 0x20000000)
	checkModel(t, g)
	if !g.mapped.Covers(region.Range{Start: 0x20000000, End: 0x20003000}) {
		t.Errorf("after the move the target is not the program's: %v", g.Mapped())
	}
}

// TestMremapFixedShrinkOverReservation: MREMAP_FIXED that shrinks unmaps
// the tail first, whatever is there, and wants one mapping in the rest
// only: a tail over a reservation is no reason for EFAULT (the guard
// answered EFAULT; the kernel moves the rest). The tail's reservation
// comes back with the rest of the old range.
func TestMremapFixedShrinkOverReservation(t *testing.T) {
	g := newGuard(t, opts{})
	own := region.Range{Start: 0x40000000, End: 0x40002000}
	a := g.Decide(mmap(own.Start, own.Len(), protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 1})
	g.Complete(a, own.Start)
	c := call64(sysMremap64, own.Start, 4*page, page, MremapMayMove|MremapFixed, outsideLib)
	a = g.Decide(c, Caller{Task: 1})
	if a.Verdict != Allow || !a.Exit || !a.Hole {
		t.Fatalf("Decide(%v) = %v, want the call run (Exit, Hole)", c, a)
	}
	fix := g.Complete(a, outsideLib)
	checkModel(t, g)
	var back region.Set
	for _, f := range fix.After {
		r, ok := isReservation(f)
		if !ok {
			t.Fatalf("after the move: %v, want reservations", f)
		}
		back.Add(r)
	}
	if !back.Covers(region.Range{Start: own.Start, End: own.Start + 4*page}) {
		t.Errorf("reservations put back %v, want the old range %#x-%#x", back.Ranges(), own.Start, own.Start+4*page)
	}
}

// TestMremapShrinkOutsideIntoGuarded: a shrink of an address outside the
// guarded ranges whose tail reaches into one: only the kernel knows
// whether anything is mapped there (EFAULT, and nothing changes, if
// not). The guard used to unmap the tail itself (the program's own
// mapping there with it) and answer success.
func TestMremapShrinkOutsideIntoGuarded(t *testing.T) {
	g := newGuard(t, opts{})
	own := region.Range{Start: pLo, End: pLo + page}
	a := g.Decide(mmap(own.Start, own.Len(), protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 1})
	g.Complete(a, own.Start)
	c := call64(sysMremap64, pLo-2*page, 3*page, page, 0)
	a = g.Decide(c, Caller{Task: 1})
	if a.Verdict != Allow || !a.Exit || !a.Hole {
		t.Fatalf("Decide(%v) = %v, want the call run by the kernel (Exit, Hole)", c, a)
	}
	// Nothing at the old address: EFAULT, the program's mapping stays.
	if fix := g.Complete(a, Err(EFAULT)); len(fix.After) != 0 {
		t.Errorf("after EFAULT: %v, want nothing", fix.After)
	}
	if !g.mapped.Covers(own) {
		t.Fatalf("after EFAULT the program's mapping is gone from the model: %v", g.Mapped())
	}
	// Mapped: the tail's guarded part is reserved again.
	a = g.Decide(c, Caller{Task: 1})
	fix := g.Complete(a, pLo-2*page)
	checkModel(t, g)
	if len(fix.After) != 1 || fix.After[0].Args[0] != pLo || fix.After[0].Args[1] != page || g.mapped.Overlaps(own) {
		t.Errorf("after the shrink: %v, mapped %v; want %v reserved again", fix.After, g.Mapped(), own)
	}
}

// TestMadviseGoesOnAfterHole: madvise over a hole outside the guarded
// ranges, a reservation and the program's mapping: the kernel advises
// every mapping and answers ENOMEM at the end; the guard's first piece
// (the hole) failed with ENOMEM and stopped the rest, so MADV_DONTFORK
// never reached the mapping and a forked child inherited it.
func TestMadviseGoesOnAfterHole(t *testing.T) {
	g := newGuard(t, opts{})
	own := region.Range{Start: 0x20000, End: 0x22000}
	a := g.Decide(mmap(own.Start, own.Len(), protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 1})
	g.Complete(a, own.Start)
	a = g.Decide(call64(sysMadvise64, 0x8000, own.End-0x8000, MadvDontFork), Caller{Task: 1})
	if a.Verdict != Run || len(a.Steps) != 2 {
		t.Fatalf("madvise: %v (steps %s), want two steps", a, steps(a))
	}
	for i, st := range a.Steps {
		if st.Continue != Err(ENOMEM) || st.Tolerate {
			t.Errorf("step %d (%v): Continue %#x Tolerate %v, want to go on after ENOMEM only", i, st.Call, st.Continue, st.Tolerate)
		}
	}
	// Run it against the toy kernel: the first piece is a hole, and
	// the program's mapping must get the advice all the same.
	g = newGuard(t, opts{})
	k := &simKernel{}
	for _, r := range g.Reserved() {
		k.res.Add(r)
	}
	k.prog.Add(region.Range{Start: exeLo, End: exeHi})
	k.run(g, mmap(own.Start, own.Len(), protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 1})
	_, ret := k.run(g, call64(sysMadvise64, 0x8000, own.End-0x8000, MadvDontFork), Caller{Task: 1})
	if ret != Err(ENOMEM) {
		t.Errorf("madvise returned %#x, want ENOMEM", ret)
	}
	last := k.ran[len(k.ran)-1]
	if last.Op() != OpMadvise || last.Args[0] != own.Start || last.Args[1] != own.Len() {
		t.Errorf("the last call run is %v, want the madvise of the program's mapping %v", last, own)
	}
}

// TestFailedCallGivesAttachmentBack: a call that would map over part of
// a shared memory attachment in a guarded range (MREMAP_FIXED onto it,
// from an address where nothing is mapped: EFAULT) takes that part out
// of the attachment at Decide; when it fails, the part is the
// attachment's again, and its shmdt puts the reservation back over it.
// The part stayed out, and shmdt left a hole there (modelfuzz's
// failed_move_onto_shm.ops).
func TestFailedCallGivesAttachmentBack(t *testing.T) {
	g := newGuard(t, opts{})
	at := Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, 0x10000000, ShmRemap}, ShmSize: 4 * page}
	a := g.Decide(at, Caller{Task: 1})
	g.Complete(a, 0x10000000)
	mv := call64(sysMremap64, outsideLib, 2*page, 2*page, MremapMayMove|MremapFixed, 0x10000000+2*page)
	a = g.Decide(mv, Caller{Task: 1})
	if !a.Exit {
		t.Fatalf("Decide(%v) = %v, want the call run and completed", mv, a)
	}
	g.Complete(a, Err(EFAULT))
	checkModel(t, g)
	d := g.Decide(shmdt64(0x10000000, rng(0x10000000, 4*page)), Caller{Task: 1})
	want := reservation(ABI64, region.Range{Start: 0x10000000, End: 0x10000000 + 4*page}, MapFixed).String()
	if d.Verdict != Run || steps(d) != want {
		t.Errorf("shmdt after the failed move: %v\nwant steps %s", d, want)
	}
}

// TestForkedChildLacksDontForkAttachment: a segment attached in a
// guarded range and marked MADV_DONTFORK is not in a forked child,
// whose shmdt at its address gets the kernel's EINVAL; the child's model
// kept the attachment, and its shmdt was answered 0 over the guard's
// reservation there (modelfuzz seed 1004).
func TestForkedChildLacksDontForkAttachment(t *testing.T) {
	g := newGuard(t, opts{})
	at := Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, 0x10000000, 0}, ShmSize: 2 * page}
	a := g.Decide(at, Caller{Task: 1})
	g.Complete(a, 0x10000000)
	m := g.Decide(call64(sysMadvise64, 0x10000000, 2*page, MadvDontFork), Caller{Task: 1})
	if m.Exit {
		g.Complete(m, 0)
	}
	child, _ := g.Fork(ABI64)
	d := child.Decide(shmdt64(0x10000000), Caller{Task: 2})
	if d.Verdict != Allow && (d.Verdict != Return || d.Ret != Err(EINVAL)) {
		t.Errorf("the child's shmdt: %v, want the kernel's EINVAL (nothing attached there)", d)
	}
	if pd := g.Decide(shmdt64(0x10000000, rng(0x10000000, 2*page)), Caller{Task: 1}); pd.Verdict != Run {
		t.Errorf("the parent's shmdt: %v, want the reservation put back over the segment", pd)
	}
}

// TestFailedMoveOutRescans: a length-keeping MREMAP_FIXED move of two
// mappings of the program's out of a guarded range may fail after the
// first moved (Linux 6.17 moves them one by one; the second sealed):
// the rolled-back model still has the first, whose old place is a
// hole. The tracer must read the layout after such a failure
// (RescanFailed); a move that grows moves one mapping only, and needs
// no look; one that shrinks unmaps its tail first on older kernels.
func TestFailedMoveOutRescans(t *testing.T) {
	g := newGuard(t, opts{})
	m := g.Decide(call64(sysMmap64, 0x10000000, 2*page, ProtRead|ProtWrite, MapPrivate|MapAnonymous|MapFixed, ^uint64(0), 0), Caller{Task: 1})
	if m.Exit {
		g.Complete(m, 0x10000000)
	}
	mv := call64(sysMremap64, 0x10000000, 2*page, 2*page, MremapMayMove|MremapFixed, outsideLib)
	if a := g.Decide(mv, Caller{Task: 1}); !a.Exit || !a.Hole || !a.RescanFailed {
		t.Errorf("Decide(%v) = %+v, want Hole and RescanFailed", mv, a)
	}
	grow := call64(sysMremap64, 0x10000000, 2*page, 3*page, MremapMayMove|MremapFixed, outsideLib)
	if a := g.Decide(grow, Caller{Task: 1}); a.RescanFailed {
		t.Errorf("Decide(%v) = %+v, want no RescanFailed", grow, a)
	}
	// Before Linux 6.17 a shrinking move unmaps the tail first, and may
	// fail after (the rest not one mapping).
	shrink := call64(sysMremap64, 0x10000000, 2*page, page, MremapMayMove|MremapFixed, outsideLib)
	if a := g.Decide(shrink, Caller{Task: 1}); !a.Hole || !a.RescanFailed {
		t.Errorf("Decide(%v) = %+v, want Hole and RescanFailed", shrink, a)
	}
}

// TestMremapPartlyMovedIn: a length-keeping MREMAP_FIXED into a guarded
// range that fails after the kernel moved the first mappings (Linux
// 6.17 moves them one by one): what arrived stays the program's, and only
// the rest of the target gets its reservation back (the rollback used to
// map reservations over all of it, unmapping what had arrived).
func TestMremapPartlyMovedIn(t *testing.T) {
	g := newGuard(t, opts{})
	target := region.Range{Start: 0x20000000, End: 0x20003000}
	c := call64(sysMremap64, outsideLib, 3*page, 3*page, MremapMayMove|MremapFixed, target.Start)
	a := g.Decide(c, Caller{Task: 1})
	if !a.RescanFailed {
		t.Fatalf("Decide(%v) = %v, want RescanFailed", c, a)
	}
	g.MovedPart(a, 2*page)
	fix := g.Complete(a, Err(EFAULT))
	checkModel(t, g)
	arrived := region.Range{Start: target.Start, End: target.Start + 2*page}
	if !g.mapped.Covers(arrived) || g.reserved.Overlaps(arrived) {
		t.Errorf("what arrived is not the program's: mapped %v, reserved %v", g.Mapped(), g.Reserved())
	}
	rest := region.Range{Start: arrived.End, End: target.End}
	if !g.reserved.Covers(rest) {
		t.Errorf("the rest of the target is not reserved: %v", g.Reserved())
	}
	for _, f := range fix.After {
		if r, ok := isReservation(f); !ok || r.Overlaps(arrived) {
			t.Errorf("after the failed move: %v, want reservations of %v only", f, rest)
		}
	}
	// Nothing moved: the whole target is reserved again.
	a = g.Decide(call64(sysMremap64, outsideLib+8*page, 3*page, 3*page, MremapMayMove|MremapFixed, 0x20010000), Caller{Task: 1})
	g.MovedPart(a, 0)
	g.Complete(a, Err(EFAULT))
	checkModel(t, g)
	if !g.reserved.Covers(region.Range{Start: 0x20010000, End: 0x20013000}) {
		t.Errorf("after a move that moved nothing the target is not reserved: %v", g.Reserved())
	}
}

// TestMremapShrinkFixedFailedMovedNothing: a shrinking MREMAP_FIXED
// into a guarded range from an old range with nothing mapped at its start
// fails (EFAULT) having changed nothing: the target keeps its
// reservation. The tracer, reading the layout after the failure, gives
// MovedPart the distance to the old range's first mapping (further on,
// in the guarded range); taken for a partial move, it left the whole
// target the program's, where the program's mprotect then made the
// reservation read-write (testdata/escape_mremap_efault.c).
func TestMremapShrinkFixedFailedMovedNothing(t *testing.T) {
	g := newGuard(t, opts{})
	target := region.Range{Start: 0x20000000, End: 0x20001000}
	// The old range's tail reaches the guarded range: RescanFailed.
	old := g.policy.guarded.Ranges()[0].Start - 8*page
	c := call64(sysMremap64, old, 9*page, page, MremapMayMove|MremapFixed, target.Start)
	a := g.Decide(c, Caller{Task: 1})
	if !a.RescanFailed {
		t.Fatalf("Decide(%v) = %v, want RescanFailed", c, a)
	}
	g.MovedPart(a, 8*page)
	fix := g.Complete(a, Err(EFAULT))
	checkModel(t, g)
	if g.mapped.Overlaps(target) || !g.reserved.Covers(target) {
		t.Errorf("after a failed shrinking move the target is not the guard's: mapped %v, reserved %v", g.Mapped(), g.Reserved())
	}
	put := false
	for _, f := range fix.After {
		if r, ok := isReservation(f); ok && r.ContainsRange(target) {
			put = true
		}
	}
	if !put {
		t.Errorf("after the failed move: %v, want the target's reservation put back", fix.After)
	}
}

// TestSharedAnonNoReplaceAcrossEdge: MAP_FIXED_NOREPLACE of shared
// anonymous memory across a guarded range's start. Mapped piece by piece
// it became two objects where the kernel makes one (the first piece,
// grown with mremap, then had pages past its object's end: SIGBUS). The
// outside piece is held with a NOREPLACE placeholder (EEXIST where the
// program has a mapping), then the whole range is mapped in one call.
func TestSharedAnonNoReplaceAcrossEdge(t *testing.T) {
	g := newGuard(t, opts{})
	q := region.Range{Start: pLo - 6*page, End: pLo + 3*page}
	c := mmap(q.Start, q.Len(), protRW, MapShared|MapAnonymous|MapFixedNoReplace, ^uint64(0), 0)
	a := g.Decide(c, Caller{Task: 1})
	if a.Verdict != Run || len(a.Steps) != 2 || !a.Exit || !a.FixRet || a.Ret != q.Start {
		t.Fatalf("Decide(%v) = %v (steps %s), want a placeholder and one mmap, Exit", c, a, steps(a))
	}
	hold, last := a.Steps[0], a.Steps[1].Call
	if r, ok := isReservation(hold.Call); !ok || r != (region.Range{Start: q.Start, End: pLo}) ||
		hold.Call.Args[3]&MapFixedNoReplace == 0 || len(hold.Undo) != 1 || hold.Undo[0].Op() != OpMunmap {
		t.Errorf("first step %v (undo %v), want a NOREPLACE placeholder over %#x-%#x, undone by munmap", hold.Call, hold.Undo, q.Start, pLo)
	}
	if last.Args[0] != q.Start || last.Args[1] != q.Len() || last.Args[3] != MapShared|MapAnonymous|MapFixed {
		t.Errorf("last step %v, want the whole range with MAP_FIXED", last)
	}
	g.Complete(a, q.Start)
	checkModel(t, g)
	if !g.mapped.Covers(region.Range{Start: pLo, End: q.End}) {
		t.Errorf("the guarded part is not the program's: %v", g.Mapped())
	}
	// Private memory is still mapped piece by piece (one object anyway),
	// here across the range's end.
	c = mmap(pHi-3*page, 9*page, protRW, MapPrivate|MapAnonymous|MapFixedNoReplace, ^uint64(0), 0)
	if a := g.Decide(c, Caller{Task: 1}); len(a.Steps) != 2 || a.Steps[0].Call.Args[3] != c.Args[3] || a.Steps[0].Call.Args[0] != pHi {
		t.Errorf("Decide(%v) = %v (steps %s), want the outside piece mapped with NOREPLACE first", c, a, steps(a))
	}
}

// TestFromLayout: the model of a child known only from its layout: in
// the guarded range, what looks like a reservation is one, anything
// else the program's, and what nothing maps is reserved by the calls
// returned; the pool never gives out what the layout maps.
func TestFromLayout(t *testing.T) {
	prev := newGuard(t, opts{})
	own := region.Range{Start: 0x30000000, End: 0x30002000}
	maps := []region.Mapping{
		{Range: region.Range{Start: pLo, End: exeLo}, Perms: "---p"},                                   // a reservation
		{Range: region.Range{Start: exeLo, End: exeHi}, Perms: "r-xp", Path: "/usr/bin/old", Inode: 7}, // the image
		{Range: region.Range{Start: exeHi, End: own.Start}, Perms: "---p"},
		{Range: own, Perms: "rw-p"}, // the program's, made after the model's fork
		// a hole from own.End to 0x40000000
		{Range: region.Range{Start: 0x40000000, End: pHi}, Perms: "---p", Path: "[heap]"},
		{Range: region.Range{Start: poolLo, End: poolLo + 4*page}, Perms: "rw-s", Path: "/memfd:x (deleted)", Inode: 9},
		{Range: region.Range{Start: poolLo + 4*page, End: poolHi}, Perms: "---p"},
	}
	g, calls := FromLayout(prev, ABI64, maps)
	for _, c := range calls {
		g.Injected(c, c.Args[0])
	}
	checkModel(t, g)
	hole := region.Range{Start: own.End, End: 0x40000000}
	if len(calls) != 1 || calls[0].Args[0] != hole.Start || calls[0].Args[1] != hole.Len() {
		t.Errorf("calls %v, want one reservation of %v", calls, hole)
	}
	for _, r := range []region.Range{{Start: exeLo, End: exeHi}, own, {Start: poolLo, End: poolLo + 4*page}} {
		if !g.mapped.Covers(r) || g.reserved.Overlaps(r) {
			t.Errorf("%v is not the program's: mapped %v", r, g.Mapped())
		}
	}
	for _, r := range []region.Range{{Start: pLo, End: exeLo}, hole, {Start: 0x40000000, End: pHi}} {
		if !g.reserved.Covers(r) {
			t.Errorf("%v is not reserved: %v", r, g.Reserved())
		}
	}
	if a := g.Decide(call64(sysMprotect64, 0x50000000, page, protRW), Caller{Task: 1}); a.Verdict != Return || a.Ret != Err(ENOMEM) {
		t.Errorf("mprotect of a reservation: %v, want ENOMEM", a)
	}
	// The pool gives out nothing the layout maps: a PROT_NONE mapping
	// there may be the program's.
	if chunk, err := g.pool.Alloc(4 * page); err == nil {
		t.Errorf("the pool gave out %v, over what the layout maps", chunk)
	}
}

// TestReconcile: a forked child's model where other threads' calls may
// have run on either side of the fork's copy. Within a span a call may
// have mapped for the program, what looks like a reservation is one;
// elsewhere the model's word stands (a PROT_NONE mapping of the
// program's stays its own); anything else in a racing call's span is
// the program's.
func TestReconcile(t *testing.T) {
	g := newGuard(t, opts{})
	mine := region.Range{Start: 0x30000000, End: 0x30002000}  // the program's PROT_NONE mapping
	raced := region.Range{Start: 0x40000000, End: 0x40002000} // a MAP_FIXED decided, not yet run
	unmapped := region.Range{Start: 0x50000000, End: 0x50001000}
	for _, r := range []region.Range{mine, raced} {
		a := g.Decide(mmap(r.Start, r.Len(), ProtNone, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 1})
		g.Complete(a, r.Start)
	}
	c, _ := g.ForkLayout(ABI64, nil)
	maps := []region.Mapping{
		{Range: mine, Perms: "---p"},
		{Range: raced, Perms: "---p"},                                            // the child has the reservation
		{Range: unmapped, Perms: "rw-p"},                                         // a munmap decided, not yet run
		{Range: region.Range{Start: 0x60000000, End: 0x60001000}, Perms: "---p"}, // a reservation
	}
	c.Reconcile(maps, []region.Range{raced, unmapped}, []region.Range{raced})
	checkModel(t, c)
	if !c.mapped.Covers(mine) {
		t.Errorf("the program's own PROT_NONE mapping, out of every racing call, is not its own: %v", c.Mapped())
	}
	if c.mapped.Overlaps(raced) || !c.reserved.Covers(raced) {
		t.Errorf("the reservation under a MAP_FIXED not yet run is the program's: mapped %v", c.Mapped())
	}
	if !c.mapped.Covers(unmapped) {
		t.Errorf("the mapping under a munmap not yet run is not the program's: %v", c.Mapped())
	}
}
