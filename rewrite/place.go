package rewrite

import "github.com/mmapguard/mmapguard/region"

// place moves the system loader's first mapping of a shared object (an
// mmap without MAP_FIXED that reserves the object's whole span) to the
// base the tracer chose for it, c.Place. ld.so takes the load bias from
// where that call lands, so the whole object follows.
//
// Inside a guarded range a placed object is an allowed requester: it is
// mapped with MAP_FIXED over the guard's reservations, if nothing of the
// program's is there. Elsewhere the guard does not know the layout, so it
// asks the kernel with MAP_FIXED_NOREPLACE, which fails rather than
// clobber. When the base is taken the load goes on where it would have
// gone (place returns nil, or a NOREPLACE step falls back to the call as
// made), unless c.PlaceStrict: then it fails with EEXIST, which the
// loader reports as a failed dlopen.
func (g *Guard) place(c Call, n uint64) *Action {
	q, ok := region.Span(c.Place, n)
	if !ok || !aligned(c.Place) || q.End > region.UserEnd {
		return g.placeTaken(c, "placement outside user space")
	}
	d := c
	d.Args[0] = c.Place
	if g.policy.guarded.Overlaps(q) {
		if !g.policy.guarded.Covers(q) || g.mapped.Overlaps(q) {
			return g.placeTaken(c, whyRange("placement ", q, " taken in a guarded range"))
		}
		b := newTrackedRun()
		g.take(q, &b.p)
		d.Args[3] = c.Args[3]&^MapFixedNoReplace | MapFixed
		return b.runExit(c, d, Rewritten, whyRange("placed at ", q, " over the guard's reservation"))
	}
	d.Args[3] = c.Args[3]&^MapFixed | MapFixedNoReplace
	if c.PlaceStrict {
		return runOne(c, d, Rewritten, whyRange("placed at ", q, ""))
	}
	// Try the base; if something is there, the call as made (with a hint
	// inside a protected range dropped, as always).
	fallback := c
	if c.Args[0] != 0 && g.policy.IsProtected(region.PageDown(c.Args[0])) {
		fallback.Args[0] = 0
	}
	return &Action{Verdict: Run, Outcome: Rewritten, call: c,
		Steps: []Step{{Call: d, OrElse: true}, {Call: fallback}},
		Why:   whyRange("placed at ", q, " (or where it would have gone, if taken)")}
}

func (g *Guard) placeTaken(c Call, why string) *Action {
	if c.PlaceStrict {
		return emulate(c, Err(EEXIST), why)
	}
	return nil
}
