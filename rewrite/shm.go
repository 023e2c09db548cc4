package rewrite

import "github.com/mmapguard/mmapguard/region"

// attachment is a System V shared memory segment attached where it
// reaches into a guarded range.
type attachment struct {
	whole region.Range // as attached
	left  region.Set   // the parts of it inside guarded ranges still attached
}

// attached records a successful shmat over q.
func (g *Guard) attached(q region.Range) {
	a := &attachment{whole: q}
	for piece := range g.policy.guarded.Within(q) {
		a.left.Add(piece)
	}
	if g.shm == nil {
		g.shm = map[uint64]*attachment{}
	}
	g.shm[q.Start] = a
}

// detachedPiece is a part of an attachment a call mapped over.
type detachedPiece struct {
	a *attachment
	r region.Range
}

// detach notes that piece no longer belongs to any attachment (it was
// unmapped, or mapped over). With p, the call may still fail: what it
// took from attachments is noted there, for rollback to give back (a
// failed MREMAP_FIXED onto a segment's part in a guarded range left that
// part out of the attachment, and its shmdt then left a hole there).
func (g *Guard) detach(piece region.Range, p *pending) {
	for _, a := range g.shm {
		if !a.whole.Overlaps(piece) {
			continue
		}
		if p == nil {
			a.left.Remove(piece)
			continue
		}
		for _, r := range a.left.RemoveAppend(nil, piece) {
			p.wasAttached = append(p.wasAttached, detachedPiece{a, r})
		}
	}
}

// decideShmdt handles shmdt(addr). The kernel detaches the segment
// attached at addr, which inside a guarded range would leave a hole: the
// guard instead maps a reservation over what is still attached there,
// which detaches it in the same call. Every attachment inside a guarded
// range went through the guard (a trapped shmat), so an address inside
// one that it does not know holds none: EINVAL, as from the kernel.
//
// The record at addr is checked against the layout (Call.ShmDetaches):
// another segment attached at addr since, entirely outside the guarded
// ranges (no stop, no record), with SHM_REMAP over part of the recorded
// one, is what the kernel detaches first, and the recorded one keeps
// its pieces; taken for detached, their reservations were put back over
// them, which found them there, and the process was killed (the
// thirteenth session's model fuzzing). So is one whose pieces in the
// guarded ranges are not exactly what the kernel detaches there: the
// kernel takes the first System V mapping at or above addr whose offset
// is its distance from addr, of any segment, and every mapping of that
// segment so placed, a piece the program moved out and back in too. A
// record whose pieces were all unmapped let the kernel's call run
// unwatched, and it detached another segment's piece the program had
// moved into the range (a hole MAP_32BIT then took); one emulated over
// its pieces detached them where the kernel detaches the other
// segment's, and one across an edge put reservations back over its own
// pieces only (the fourteenth session's hunt). Then the call is handled
// as one at an attachment the guard did not see, and the record kept
// for the next shmdt there.
//
// Nor is a record of a segment across a guarded range's edge used: the
// kernel detaches the pieces of one attachment (its file, not the
// segment: two attachments of a segment have a file each), which the
// layout cannot tell apart, and the part outside, which the program
// may unmap or fill with another attachment's piece unseen. Its pieces
// were put back as reservations at the call's end, over pieces the
// kernel had kept (another attachment's page first at addr), and the
// process was killed (the fourteenth session's review). The call runs
// as one at an attachment the guard did not see, the record dropped.
func (g *Guard) decideShmdt(c Call, addr uint64, task int) *Action {
	a, known := g.shm[addr]
	demoted := known && !c.ShmDetachesUnknown && !g.sameDetach(a.left, c.ShmDetaches)
	if known && !g.policy.guarded.Covers(a.whole) {
		delete(g.shm, addr)
		demoted = true
	}
	if demoted {
		known = false
	}
	if !known {
		if g.policy.guarded.ContainsAddr(addr) && (c.ShmDetachesUnknown || len(c.ShmDetaches) == 0) {
			// (Every attachment made inside a guarded range went
			// through the guard; a piece moved in from elsewhere is
			// what the layout shows.)
			return emulate(c, Err(EINVAL), "no shared memory attached at this address")
		}
		if c.ShmDetachesUnknown {
			// What it would detach cannot be known: refuse it if the
			// program has anything of its own in a guarded range above
			// addr, which could be a piece of the segment.
			for _, r := range g.policy.guarded.Ranges() {
				if r.End > addr && g.mapped.Overlaps(region.Range{Start: max(r.Start, addr), End: r.End}) {
					return emulate(c, Err(EINVAL), "shmdt: what it would detach cannot be read")
				}
			}
			return allow(c, "")
		}
		// An attachment the guard did not see (made with no address,
		// outside guarded ranges). The kernel detaches every piece of
		// the segment at its offset from addr, and a piece the program
		// moved into a guarded range with mremap is one of them: put
		// the reservation back there afterwards, as for a move-out.
		//
		// The layout was read at the call's stop, while the other
		// threads ran: one may move a piece in before the call runs.
		// Where the program may place mappings in a guarded range (not
		// --strict), the call runs with the others stopped and the
		// tracer reads the layout again afterwards (Rescan): what it
		// finds unmapped in a guarded range gets its reservation back.
		found := false
		for _, r := range c.ShmDetaches {
			found = found || g.policy.guarded.Overlaps(r)
		}
		if !found && g.policy.Strict && !demoted {
			// (Not for a record the layout demoted: what it shows at
			// addr can be unmapped before the call runs, and the
			// recorded segment then detached, its part in a guarded
			// range with it: the thirteenth session's review.)
			return allow(c, "")
		}
		act := &Action{Verdict: Allow, Outcome: Allowed, Exit: true, Hole: true, Rescan: true, call: c,
			Why: "shmdt of an attachment the guard did not see: holes it leaves in guarded ranges reserved again"}
		return act
	}
	delete(g.shm, addr) // g.shm is not nil here
	pieces := a.left.Ranges()
	if len(pieces) == 0 {
		// Everything of it inside was unmapped already; what remains (if
		// anything) is outside.
		return allow(c, "")
	}
	act := &Action{Verdict: Run, Outcome: Rewritten, Ret: 0, FixRet: true, call: c,
		Why: "shmdt in a guarded range: reservation put back"}
	for _, p := range pieces {
		act.Steps = append(act.Steps, Step{Call: reservation(c.ABI, p, MapFixed)})
		g.release(task, p)
	}
	return act
}

// sameDetach reports whether the pieces of an attachment in the guarded
// ranges, left, are exactly the parts of rs (what the kernel's shmdt
// detaches) in them.
func (g *Guard) sameDetach(left region.Set, rs []region.Range) bool {
	if !coveredByAll(left, rs) {
		return false
	}
	for _, r := range rs {
		for piece := range g.policy.guarded.Within(r) {
			if !left.Covers(piece) {
				return false
			}
		}
	}
	return true
}

// coveredByAll reports whether every part of s lies in one of rs.
func coveredByAll(s region.Set, rs []region.Range) bool {
	var all region.Set
	for _, r := range rs {
		all.Add(r)
	}
	for piece := range s.All() {
		if !all.Covers(piece) {
			return false
		}
	}
	return true
}
