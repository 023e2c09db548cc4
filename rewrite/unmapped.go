package rewrite

import "github.com/mmapguard/mmapguard/region"

// Calls that only look at what is mapped: msync, mincore, mbind and
// get_mempolicy with MPOL_F_ADDR. Aimed at a reservation, each gets what
// the kernel answers for unmapped memory, after the checks of its
// arguments the kernel makes before it looks for a mapping, which keep
// their own errno. Where the guard cannot make those checks itself (a
// node mask in memory, the machine's nodes), the call is probed where
// nothing is mapped (probeCall).

// probeCall returns c with its address argument args[addrArg] moved
// where no mapping can be, and true; false if there is no such place.
// The kernel checks the moved call's other arguments as it would the
// call's, then finds nothing mapped: its error is the program's answer.
// A range call's length stays for the caller to set.
//
// In 64-bit calls the place is 1<<63, not a canonical user address: the
// kernel never maps anything there. In i386 calls it is the last page
// below 4 GiB, above the address space of every 32-bit process (which
// ends at 0xffffe000); a 64-bit process making i386 calls could map that
// page itself, and then a probe would act on it. If the page lies in a
// guarded range, where the guard's reservation (or the program's
// mapping) would be found, there is no probe.
func (g *Guard) probeCall(c Call, addrArg int) (Call, bool) {
	at := uint64(1) << 63
	if c.ABI == ABI32 {
		at = 1<<32 - region.PageSize
		if g.policy.guarded.ContainsAddr(at) {
			return Call{}, false
		}
	}
	c.Args[addrArg] = at
	return c, true
}

// probeAction answers c with the result of probe, or errno if the probe
// succeeds (something was mapped there after all) or there is none.
func probeAction(c Call, probe Call, ok bool, errno int, why string) *Action {
	if !ok {
		return emulate(c, Err(errno), why)
	}
	a := runOne(c, probe, Emulated, why)
	a.Ret, a.FixRet = Err(errno), true
	return a
}

// decideMsync handles msync. The kernel refuses unknown flags, MS_ASYNC
// with MS_SYNC and an unaligned start (EINVAL), does nothing for a
// length that rounds to 0 and refuses a range that wraps (ENOMEM). Then
// it walks the range: with MS_ASYNC alone it stops with ENOMEM at the
// first unmapped page; otherwise it syncs each mapping in turn, stops at
// the first that fails (EBUSY for MS_INVALIDATE of a locked mapping, an
// I/O error), and answers ENOMEM at the end if it met a hole. Here the
// parts of the range that are not the guard's reservations are synced
// in order, and ENOMEM follows unless one fails.
func (g *Guard) decideMsync(c Call) *Action {
	addr, flags := c.Args[0], uint32(c.Args[2]) // the kernel takes an int
	q, ok := span(addr, c.Args[1])
	if flags&^(MsAsync|MsInvalidate|MsSync) != 0 || flags&(MsAsync|MsSync) == MsAsync|MsSync ||
		!aligned(addr) || !ok || !g.reserved.Overlaps(q) {
		return allow(c, "")
	}
	const why = "msync of the guard's reservation: unmapped to the program"
	if flags == MsAsync {
		return emulate(c, Err(ENOMEM), why)
	}
	a := &Action{Verdict: Run, Outcome: Emulated, Ret: Err(ENOMEM), FixRet: true, call: c,
		Why: "msync skips the guard's reservations"}
	for free := range g.reserved.Gaps(q) {
		d := c
		d.Args[0], d.Args[1] = free.Start, free.Len()
		a.Steps = append(a.Steps, Step{Call: d})
	}
	if len(a.Steps) == 0 {
		return emulate(c, Err(ENOMEM), why)
	}
	return a
}

// decideMincore handles mincore. The kernel refuses an unaligned start
// (EINVAL), a range past user space (ENOMEM) and a vector past it
// (EFAULT), answers 0 for length 0, then fills the vector page by page
// up to the first unmapped page, which fails with ENOMEM. Here the part
// before the first reservation is asked for, and ENOMEM follows; a
// range that starts at one gets ENOMEM and its vector is left as it was
// (the kernel writes nothing there either).
func (g *Guard) decideMincore(c Call) *Action {
	addr, vec := c.Args[0], c.Args[2]
	q, ok := span(addr, c.Args[1])
	if !aligned(addr) || !ok || !g.reserved.Overlaps(q) {
		return allow(c, "")
	}
	if q.End > region.UserEnd {
		return emulate(c, Err(ENOMEM), "mincore of a range past user space")
	}
	if v, ok := region.Span(vec, q.Len()/region.PageSize); !ok || v.End > region.UserEnd {
		return allow(c, "vector past user space: the kernel refuses it")
	}
	return g.decidePrefix(c, addr, c.Args[1], &mincoreWhy, nil)
}

// decideMbind handles mbind. Its checks of the mode, the node mask (in
// memory), the flags and the start all come before the kernel looks at
// the range; then any hole in the range fails the call with EFAULT and
// changes nothing, except for MPOL_DEFAULT, which only needs something
// mapped in the range. A call whose range holds a reservation is probed
// (see probeCall), except MPOL_DEFAULT where the program maps part of the
// range's guarded part, or the range reaches outside the guarded ranges:
// then it runs (reservations carry no policy, and resetting it changes
// nothing there). Over reservations and unmapped memory outside the
// guarded ranges only, such a call returns 0 where without the guard it
// fails with EFAULT.
func (g *Guard) decideMbind(c Call) *Action {
	addr := c.Args[0]
	q, ok := span(addr, c.Args[1])
	if !aligned(addr) || !ok || !g.reserved.Overlaps(q) {
		return allow(c, "")
	}
	if uint32(c.Args[2])&^MpolModeFlags == MpolDefault && (g.mapped.Overlaps(q) || !g.policy.guarded.Covers(q)) {
		return allow(c, "mbind(MPOL_DEFAULT) across a reservation: it has no policy to reset")
	}
	p, ok := g.probeCall(c, 0)
	p.Args[1] = region.PageSize
	return probeAction(c, p, ok, EFAULT, "mbind of the guard's reservation: unmapped to the program")
}

// decideGetMempolicy handles get_mempolicy with MPOL_F_ADDR alone, the
// one form that answers for a reservation what it answers for mapped
// memory (MPOL_DEFAULT): without a mapping at the address it fails with
// EFAULT. Its check of the node mask's size against the machine's nodes
// (EINVAL) comes first: the call is probed. With MPOL_F_NODE as well the
// kernel reads the page, which a reservation does not allow: EFAULT, as
// for unmapped memory; other flags it refuses, or it looks up no mapping.
func (g *Guard) decideGetMempolicy(c Call) *Action {
	if c.Args[4] != MpolFAddr || !g.reserved.ContainsAddr(c.Args[3]) {
		return allow(c, "")
	}
	p, ok := g.probeCall(c, 3)
	return probeAction(c, p, ok, EFAULT, "get_mempolicy of the guard's reservation: unmapped to the program")
}
