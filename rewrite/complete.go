package rewrite

import "github.com/mmapguard/mmapguard/region"

// Complete takes the result of a call whose Action had Exit set (for Run,
// the result the program sees) and brings the model up to date: it
// commits what the call did, or rolls back what Decide assumed if the
// call failed. The calls in the returned Fix.After must be injected
// before the thread goes on; report their results through Injected.
func (g *Guard) Complete(a *Action, ret uint64) Fix {
	p := a.pending
	if p == nil {
		return Fix{}
	}
	c := a.call
	if c.ABI == ABI32 {
		ret &= 0xffffffff
	}
	_, failed := Failed(c.ABI, ret)
	if p.ioSetup {
		g.aioSetups--
		return Fix{}
	}
	if p.brk {
		return g.completeBrk(c.ABI, p, ret)
	}
	if failed {
		return g.rollback(a, p)
	}
	var fix Fix
	switch op := c.Op(); {
	case op == OpShmat || op == OpIPC && c.Args[0]&0xffff == ipcSHMAT:
		g.attached(p.taken)
	}
	if c.Op() == OpMremap {
		old := c.Args[0]
		newLen, _ := region.PageUp(c.Args[2])
		moved := ret != old
		if (moved || p.mremapShrink) && p.mremapUnmaps && !p.mremapOld.Empty() {
			// The mapping left the guarded range, or its tail went:
			// put the reservation back over the hole it left (never
			// over anything else).
			for piece := range g.policy.guarded.Within(p.mremapOld) {
				g.release(int(p.task), piece)
				g.codeUnmapped(piece)
				fix.After = append(fix.After, reservation(c.ABI, piece, MapFixedNoReplace))
			}
		}
		if r, ok := region.Span(ret, newLen); ok && c.Args[3]&MremapFixed == 0 {
			if moved {
				// The kernel's choice: outside guarded ranges unless a
				// reservation there had failed.
				g.take(r, nil)
			} else if !p.mremapGrow.Empty() {
				g.take(p.mremapGrow, nil)
			}
		}
	}
	return fix
}

func (g *Guard) completeBrk(abi ABI, p *pending, ret uint64) Fix {
	g.brk = ret
	var fix Fix
	if p.oldBrk == 0 || ret >= p.oldBrk {
		return fix
	}
	lo, ok1 := region.PageUp(ret)
	hi, ok2 := region.PageUp(p.oldBrk)
	if !ok1 || !ok2 || lo >= hi {
		return fix
	}
	// The heap shrank out of a guarded range (possible only when the
	// heap was there before the guard): reserve the freed pages.
	for piece := range g.policy.guarded.Within(region.Range{Start: lo, End: hi}) {
		g.release(int(p.task), piece)
		fix.After = append(fix.After, reservation(abi, piece, MapFixedNoReplace))
	}
	return fix
}

// rollback undoes Decide's assumptions after a call failed. The
// reservations the call would have replaced are put back with MAP_FIXED:
// they were the guard's, and the failed call may or may not have removed
// them (for Run actions a step's Undo may already have done so; doing it
// twice is harmless).
func (g *Guard) rollback(a *Action, p *pending) Fix {
	var fix Fix
	for r := range g.policy.guarded.Within(p.taken) {
		g.mapped.Remove(r)
		// Back to the pool once the reservations below are in place
		// (see giveBack).
		g.giveBack(int(p.task), r)
	}
	for _, r := range p.wasMapped {
		g.mapped.Add(r)
		g.hadOwn = true
		if g.pool != nil {
			g.pool.Take(r)
		}
	}
	for _, r := range p.wasReserved {
		g.reserved.Add(r)
		fix.After = append(fix.After, reservation(a.call.ABI, r, MapFixed))
	}
	for _, r := range p.wasDontFork {
		g.dontFork.Add(r)
	}
	for _, d := range p.wasAttached {
		d.a.left.Add(d.r)
	}
	return fix
}

// MovedPart tells the guard, before Complete, how far a failed
// length-keeping MREMAP_FIXED got (see Action.RescanFailed): the kernel
// moved the mappings of the first n bytes of the old range to the start
// of the target, one by one, before one it could not move. That part of
// the target holds the program's mappings now: Complete keeps it the
// program's instead of putting the guard's reservations back over it
// (which would unmap what natively arrived there), and the holes the
// move left in the old range are the ones a look at the layout finds.
// For any other action, or n of 0, it does nothing: a shrinking or
// growing MREMAP_FIXED moves one mapping or none, and one that fails
// finding no mapping at the old address (EFAULT) has changed nothing,
// whatever the old range's first mapping further on says.
func (g *Guard) MovedPart(a *Action, n uint64) {
	p := a.pending
	if p == nil || n == 0 || !p.mremapMove || a.call.Op() != OpMremap || a.call.Args[3]&MremapFixed == 0 {
		return
	}
	end := p.taken.End
	if n < p.taken.Len() {
		end = p.taken.Start + n
	}
	p.taken.Start = end
	clip := func(rs []region.Range) []region.Range {
		out := rs[:0]
		for _, r := range rs {
			if r.Start < end {
				r.Start = end
			}
			if !r.Empty() {
				out = append(out, r)
			}
		}
		return out
	}
	p.wasReserved = clip(p.wasReserved)
	p.wasDontFork = clip(p.wasDontFork)
	// A piece of a segment the moved mappings replaced is gone from its
	// attachment for good: it is not given back.
	keep := p.wasAttached[:0]
	for _, d := range p.wasAttached {
		if d.r.Start < end {
			d.r.Start = end
		}
		if !d.r.Empty() {
			keep = append(keep, d)
		}
	}
	p.wasAttached = keep
}
