package rewrite

import "github.com/mmapguard/mmapguard/region"

// pending is what an action changed in the model, so that Complete can
// commit follow-ups or roll back.
type pending struct {
	// taken: the range given to take; its guarded parts are what the call
	// is expected to map for the program (already in g.mapped).
	// wasReserved: the parts of them that were reservations (already
	// removed from g.reserved); wasMapped: the parts that were already the
	// program's.
	taken       region.Range
	wasReserved []region.Range
	wasMapped   []region.Range
	// wasDontFork: the parts of them that were program mappings marked
	// MADV_DONTFORK (the new mapping is not: a child inherits it).
	wasDontFork []region.Range
	// wasAttached: the parts of shared memory attachments the call
	// mapped over, given back to them if it fails.
	wasAttached []detachedPiece

	// mremap: the old range (inside guarded ranges) released if the
	// mapping moved, and the growth area taken if it grew in place.
	mremapOld    region.Range
	mremapGrow   region.Range
	mremapUnmaps bool
	// mremapShrink: the call shrinks in place, and mremapOld is its
	// tail, reserved again if the call succeeds.
	mremapShrink bool
	// mremapMove: a length-keeping MREMAP_FIXED, which the kernel (since
	// Linux 6.17) carries out mapping by mapping and may leave half done
	// (see Guard.MovedPart).
	mremapMove bool

	// brk: the break before the call.
	brk bool
	// ioSetup: an io_setup, counted in Guard.aioSetups until its end.
	ioSetup bool
	// task: the thread that made the call (Caller.Task), whose calls
	// reserve again what Complete gives back. 32 bits hold any thread
	// id and fit in the room the fields around it leave, which keeps a
	// trackedRun in its size class.
	task   int32
	oldBrk uint64

	// Room for the first range of each list: a call nearly always
	// replaces one reservation or one mapping.
	wasReserved1, wasMapped1 [1]region.Range
}

// init points p's lists at its own room.
func (p *pending) init() {
	p.wasReserved, p.wasMapped = p.wasReserved1[:0], p.wasMapped1[:0]
}

// The allocations behind most actions. A decision is on the path of every
// trapped call, so an Action is allocated together with what it usually
// carries, in one allocation of a small size class: room for one step
// (stepAction), the pending record of an action that sets Exit
// (trackedAction), or both (trackedRun).
type stepAction struct {
	a    Action
	step [1]Step
}

type trackedAction struct {
	a Action
	p pending
}

type trackedRun struct {
	stepAction
	p pending
}

func newTracked() *trackedAction {
	b := new(trackedAction)
	b.p.init()
	return b
}

func newTrackedRun() *trackedRun {
	b := new(trackedRun)
	b.p.init()
	return b
}

// allowExit makes b an Allow action that reports its result to Complete.
func (b *trackedAction) allowExit(c Call, why string) *Action {
	b.a = Action{Verdict: Allow, Outcome: Allowed, Exit: true, call: c, pending: &b.p, Why: why}
	return &b.a
}

// runExit makes b a Run action of the single call with that reports its
// result to Complete.
func (b *trackedRun) runExit(c, with Call, o Outcome, why string) *Action {
	a := b.runOne(c, with, o, why)
	a.Exit, a.pending = true, &b.p
	return a
}

func (b *stepAction) runOne(c, with Call, o Outcome, why string) *Action {
	b.step[0] = Step{Call: with}
	b.a = Action{Verdict: Run, Outcome: o, Steps: b.step[:], call: c, Why: why}
	return &b.a
}

// Decide returns what to do with call c made by who. It may update the
// model optimistically (see Complete).
func (g *Guard) Decide(c Call, who Caller) *Action {
	if c.ABI == ABI32 {
		for i := range c.Args {
			c.Args[i] &= 0xffffffff
		}
	} else if c.ABI != ABI64 {
		return g.done(&Action{Verdict: Kill, Outcome: Killed, call: c, Why: "unknown system-call ABI"})
	}
	g.stats.Calls++
	if len(g.settling) > 0 {
		// The caller stands at a new call: what the guard ran for its
		// earlier ones is done.
		g.Settle(who.Task)
	}
	// See MayDontCopy. (Conservative: whatever the call becomes. An
	// old_mmap's flags are in memory.)
	if op := c.Op(); op == OpOldMmap || op == OpMremap || op == OpMmap && c.Args[3]&MapAnonymous == 0 {
		g.mayDontCopy = true
	}
	var a *Action
	switch c.Op() {
	case OpMmap:
		a = g.decideMmap(c, who)
	case OpOldMmap:
		a = g.decideOldMmap(c, who)
	case OpMunmap:
		a = g.decideMunmap(c, who.Task)
	case OpMremap:
		a = g.decideMremap(c, who)
	case OpMprotect, OpPkeyMprotect:
		a = g.decideMprotect(c)
	case OpMlock:
		a = g.decideMlock(c)
	case OpMsync:
		a = g.decideMsync(c)
	case OpMincore:
		a = g.decideMincore(c)
	case OpMbind:
		a = g.decideMbind(c)
	case OpGetMempolicy:
		a = g.decideGetMempolicy(c)
	case OpMadvise:
		a = g.decideMadvise(c)
	case OpMseal:
		a = g.decideMseal(c)
	case OpRemapFile:
		a = g.decideRemapFilePages(c)
	case OpIoDestroy:
		a = g.decideIoDestroy(c)
	case OpIoSetup:
		a = g.decideIoSetup(c)
	case OpBrk:
		a = g.decideBrk(c)
	case OpShmat:
		a = g.decideShmat(c, who)
	case OpIPC:
		switch {
		case c.ABI == ABI32 && c.Args[0]&0xffff == ipcSHMAT:
			a = g.decideShmat(c, who)
		case c.ABI == ABI32 && c.Args[0]&0xffff == ipcSHMDT:
			a = g.decideShmdt(c, c.Args[4], who.Task)
		default:
			a = allow(c, "")
		}
	case OpShmdt:
		a = g.decideShmdt(c, c.Args[0], who.Task)
	case OpClone:
		if c.Args[0]&CloneUntraced != 0 {
			a = deny(c, EPERM, "CLONE_UNTRACED would escape the tracer")
		} else {
			a = allow(c, "")
		}
	case OpClone3:
		a = deny(c, ENOSYS, "clone3 keeps its flags in memory; the C library falls back to clone")
	case OpArchPrctl:
		a = g.decideArchPrctl(c)
	default:
		a = allow(c, "")
	}
	if a.pending != nil {
		a.pending.task = int32(who.Task)
		if (a.Verdict == Allow || a.Verdict == Run) && c.mapsFile() &&
			(c.LateFail || g.policy.protected.Overlaps(a.pending.taken)) {
			// A file mapping put over part of a guarded range (the
			// program's MAP_FIXED, or the guard's over its reservations:
			// a pool chunk, an owner's hint, NOREPLACE) whose file's
			// mmap may fail after the kernel unmapped the target: the
			// other threads are held until the rollback or the layout's
			// reading has covered the gap again, or a MAP_32BIT of
			// theirs could land in it meanwhile. In a protected range
			// for every file: the tracer looks at the descriptor at the
			// call's stop, and another thread can put another file there
			// (dup2) before the kernel takes it. In the pool only for the
			// files whose mmap may fail so (a gap in the pool is out of
			// reach of MAP_32BIT and i386 calls, and below the kernel's
			// own choices until memory above is full): holding every
			// thread for each library ld.so maps in the pool made java
			// -version under --pool-all 40% slower.
			a.Hole = true
		}
	}
	return g.done(a)
}

func (g *Guard) done(a *Action) *Action {
	g.stats.Outcomes[a.Outcome]++
	return a
}

func allow(c Call, why string) *Action {
	return &Action{Verdict: Allow, Outcome: Allowed, call: c, Why: why}
}

func deny(c Call, errno int, why string) *Action {
	return &Action{Verdict: Return, Outcome: Denied, Ret: Err(errno), call: c, Why: why}
}

func emulate(c Call, ret uint64, why string) *Action {
	return &Action{Verdict: Return, Outcome: Emulated, Ret: ret, call: c, Why: why}
}

func runOne(c, with Call, o Outcome, why string) *Action {
	return new(stepAction).runOne(c, with, o, why)
}

// whyAddr and whyRange build a Why text around an address or a range,
// formatted as %#x and %v would, without the cost of fmt.
func whyAddr(before string, a uint64, after string) string {
	var buf [128]byte
	b := append(buf[:0], before...)
	b = appendHex(b, a)
	return string(append(b, after...))
}

func whyRange(before string, r region.Range, after string) string {
	var buf [128]byte
	b := append(buf[:0], before...)
	b = appendHex(b, r.Start)
	b = append(b, '-')
	b = appendHex(b, r.End)
	return string(append(b, after...))
}

func appendHex(b []byte, x uint64) []byte {
	var digits [16]byte
	i := len(digits)
	for {
		i--
		digits[i] = "0123456789abcdef"[x&0xf]
		if x >>= 4; x == 0 {
			break
		}
	}
	return append(append(b, "0x"...), digits[i:]...)
}

// span is [addr, addr+PAGE_ALIGN(n)), or false where the kernel itself
// refuses the call before looking at any mapping: zero length, a length
// that overflows when rounded, a range that wraps.
func span(addr, n uint64) (region.Range, bool) {
	if n == 0 {
		return region.Range{}, false
	}
	pn, ok := region.PageUp(n)
	if !ok {
		return region.Range{}, false
	}
	return region.Span(addr, pn)
}

func aligned(addr uint64) bool { return addr%region.PageSize == 0 }

// roundUp rounds n up to a multiple of unit (a power of two); false if
// that overflows.
func roundUp(n, unit uint64) (uint64, bool) {
	r := (n + unit - 1) &^ (unit - 1)
	return r, r >= n
}

// satAdd is a+b, or the largest address if that overflows.
func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// hugeMmap decides the mmaps of huge pages that differ from ordinary
// ones, or returns nil to decide c with its length rounded up to a huge
// page. The kernel aligns a huge mapping it places itself to a huge
// page; the pool's chunks are not, so such a mapping is never rerouted:
// a hint into a guarded range is dropped instead, and the kernel's
// choice stays out of the reservations. Of unknown size, one whose
// range could reach a guarded range is refused.
func (g *Guard) hugeMmap(c Call, who Caller) *Action {
	addr, length, flags := c.Args[0], c.Args[1], c.Args[3]
	fixed := flags&(MapFixed|MapFixedNoReplace) != 0
	if c.HugePage == HugeUnknown {
		if r, ok := region.Span(region.PageDown(addr), length); (fixed || addr != 0) && (!ok ||
			g.policy.guarded.Overlaps(region.Range{Start: r.Start, End: satAdd(r.End, hugeMax)})) {
			return emulate(c, Err(EINVAL), "huge pages of unknown size next to a guarded range")
		}
		if fixed {
			return allow(c, "")
		}
		return allow(c, "huge pages: the kernel's choice")
	}
	if fixed {
		if addr%c.HugePage != 0 {
			return allow(c, "unaligned huge-page address: the kernel refuses it")
		}
		if _, ok := roundUp(length, c.HugePage); !ok || length == 0 {
			return allow(c, "invalid length: the kernel refuses it")
		}
		return nil
	}
	n, ok := roundUp(length, c.HugePage)
	q, ok2 := span(region.PageDown(addr), n)
	if !ok || !ok2 {
		return allow(c, "invalid length: the kernel refuses it")
	}
	if addr != 0 && g.policy.guarded.Overlaps(q) {
		d := c
		d.Args[0] = 0
		return runOne(c, d, Rewritten, whyAddr("huge-page hint ", addr, " in a guarded range dropped"))
	}
	return allow(c, "huge pages: the kernel's choice")
}

// arenaMmap decides an mmap of a BPF arena (Call.Arena), whose mapping
// the kernel keeps from crossing a 4 GiB line by moving it up to the
// line (see ArenaLine), or returns nil for one decided as any other
// file mapping. A fixed range across a line is decided as the call the
// kernel runs, at the line (the registers stay as they are, so that
// the kernel's answer is the program's own: EINVAL where the arena is
// mapped elsewhere already), where what it covers past the range named
// lies outside every guarded range; where that reaches one the call is
// refused as the kernel refuses an arena's mapping it cannot make
// (EINVAL): the program never named that place (before, the filter
// let such a call through unseen where the range named lay more than
// 1 GiB below a guarded range, and the arena replaced reservations,
// with --strict too). An i386 call cannot name the line (4 GiB or
// above): refused. An arena is never placed in the pool: a chunk across
// a line moved it off the chunk, over the pool's reservations (the
// guard saw its own MAP_FIXED return another address, and killed the
// program); a hint in a guarded range is dropped instead, as for huge
// pages, and the kernel's choice (a free place twice the length, the
// arena put in it) stays out of the reservations.
func (g *Guard) arenaMmap(c Call, who Caller) *Action {
	addr, length, flags := c.Args[0], c.Args[1], c.Args[3]
	if line, ok := ArenaLine(c); ok {
		n, _ := region.PageUp(length)
		past := region.Range{Start: addr + n, End: line + n}
		if c.ABI != ABI64 || line+n > region.UserEnd || g.policy.guarded.Overlaps(past) {
			return emulate(c, Err(EINVAL), whyRange("BPF arena mapped across a 4 GiB line, which the kernel would move over ", past, ", never named"))
		}
		d := c
		d.Args[0] = line
		a := g.decideMmap(d, who)
		if a.Why == "" {
			a.Why = whyAddr("BPF arena mapped at the 4 GiB line ", line, ", as the kernel does")
		}
		return a
	}
	if flags&(MapFixed|MapFixedNoReplace) != 0 {
		return nil
	}
	if q, ok := span(region.PageDown(addr), length); addr != 0 && (!ok || g.policy.guarded.Overlaps(q)) {
		d := c
		d.Args[0] = 0
		return runOne(c, d, Rewritten, whyAddr("BPF arena hint ", addr, " in a guarded range dropped"))
	}
	return allow(c, "BPF arena: the kernel's choice")
}

// withOffset returns mmap call c narrowed to piece p of the range it
// maps from addr, with flags and the file offset adjusted.
func withOffset(c Call, addr uint64, p region.Range, flags uint64) Call {
	d := c
	d.Args[0], d.Args[1], d.Args[3] = p.Start, p.Len(), flags
	if c.Args[3]&MapAnonymous == 0 {
		delta := p.Start - addr
		if c.ABI == ABI32 {
			d.Args[5] += delta / region.PageSize // mmap2 counts pages
		} else {
			d.Args[5] += delta
		}
	}
	return d
}

// msyncCall is msync(MS_ASYNC) over r: it changes nothing, and fails
// with ENOMEM if part of r is unmapped.
func msyncCall(abi ABI, r region.Range) Call {
	if abi == ABI32 {
		return Call{ABI: ABI32, Nr: sysMsync32, Args: [6]uint64{r.Start, r.Len(), MsAsync}}
	}
	return Call{ABI: ABI64, Nr: sysMsync64, Args: [6]uint64{r.Start, r.Len(), MsAsync}}
}

func munmapCall(abi ABI, r region.Range) Call {
	if abi == ABI32 {
		return Call{ABI: ABI32, Nr: sysMunmap32, Args: [6]uint64{r.Start, r.Len()}}
	}
	return Call{ABI: ABI64, Nr: sysMunmap64, Args: [6]uint64{r.Start, r.Len()}}
}

// take records that the program now maps the guarded parts of q and, if
// p is not nil, what they replaced, for the pending record (an action
// takes at most one range).
func (g *Guard) take(q region.Range, p *pending) {
	if p != nil {
		p.taken = q
	}
	if !q.Empty() && g.policy.guarded.Covers(q) {
		g.takePiece(q, p, true) // the usual case, without an iterator
		return
	}
	for piece := range g.policy.guarded.Within(q) {
		g.takePiece(piece, p, true)
	}
}

// takePiece is take's work for a piece inside one guarded range (without
// setting p.taken). inPool says whether the pool must be told; it need
// not when the piece came from Pool.Alloc.
func (g *Guard) takePiece(piece region.Range, p *pending, inPool bool) {
	g.hadOwn = true
	if p == nil {
		g.reserved.Remove(piece)
		g.mapped.Add(piece)
		g.dontFork.Remove(piece)
	} else {
		p.wasReserved = g.reserved.RemoveAppend(p.wasReserved, piece)
		p.wasMapped = g.mapped.AddAppend(p.wasMapped, piece)
		p.wasDontFork = g.dontFork.RemoveAppend(p.wasDontFork, piece)
	}
	if inPool && g.pool != nil {
		g.pool.Take(piece)
	}
	if !g.code.Empty() && piece.Overlaps(g.code) {
		// The program mapped over the code page explicitly: it is its
		// own now.
		g.code, g.codeReady = region.Range{}, false
	}
	g.detach(piece, p)
}

// release records that the program no longer maps q and that the guard
// reserves its guarded parts again, by calls of task (see giveBack).
func (g *Guard) release(task int, q region.Range) {
	if !q.Empty() && g.policy.guarded.Covers(q) {
		g.releasePiece(task, q) // the usual case, without an iterator
		return
	}
	for piece := range g.policy.guarded.Within(q) {
		g.releasePiece(task, piece)
	}
}

func (g *Guard) releasePiece(task int, piece region.Range) {
	g.mapped.Remove(piece)
	g.dontFork.Remove(piece)
	g.detach(piece, nil)
	g.reserved.Add(piece)
	g.giveBack(task, piece)
}

func (g *Guard) decideOldMmap(c Call, who Caller) *Action {
	// The arguments live in memory another thread can still change:
	// decide on the copy the tracer read and always run an mmap2 with
	// them in registers, never the original call.
	if !c.HaveMem {
		return emulate(c, Err(EFAULT), "old_mmap argument block unreadable")
	}
	m := c.Mem
	for i := range m {
		m[i] &= 0xffffffff
	}
	if m[5]%region.PageSize != 0 {
		return emulate(c, Err(EINVAL), "old_mmap offset not page-aligned")
	}
	m2 := Call{ABI: ABI32, Nr: sysMmap2_32, Args: [6]uint64{m[0], m[1], m[2], m[3], m[4], m[5] / region.PageSize}, HugePage: c.HugePage, Arena: c.Arena}
	a := g.decideMmap(m2, who)
	a.call = c
	if a.Verdict == Allow {
		a.Verdict, a.Steps = Run, []Step{{Call: m2}}
		a.Outcome = Rewritten
		a.Why = "old_mmap run as mmap2 with the arguments read"
	}
	return a
}

// map32Room finds where the kernel would put a MAP_32BIT mapping of n
// bytes without an address if the guard's reservations were not there:
// the lowest run of them in its window, inside a protected range.
func (g *Guard) map32Room(n uint64) (uint64, bool) {
	for r := range g.reserved.Within(map32Window) {
		if r.Len() >= n && g.policy.protected.Covers(region.Range{Start: r.Start, End: r.Start + n}) {
			return r.Start, true
		}
	}
	return 0, false
}

func (g *Guard) decideMmap(c Call, who Caller) *Action {
	a := g.decideMmapArgs(c, who)
	if c.Arena || a.Verdict != Allow && a.Verdict != Run {
		return a
	}
	if g.arenaCouldMove(c, a) {
		// A fixed file mapping across a 4 GiB line, decided as the
		// file the tracer found at its look; another thread can put a
		// BPF arena on the descriptor (dup2) before the kernel takes
		// it, which maps it at the line, up to its length past the
		// range named, here into a guarded range: MAP_FIXED over the
		// reservations where it succeeds (an unaligned address too,
		// which the guard let through as one the kernel refuses, and
		// a file of huge pages, whose mapping it did not look at
		// afterwards), and a gap where the arena's mmap then fails (a
		// private mapping: EINVAL, after the kernel unmapped the
		// target). The call is seen to its end: a success elsewhere
		// than named fails closed (see Action.Verify; the guard's own
		// fixed mappings are checked so anyway), and after a failure
		// the layout is read and every gap in a guarded range reserved
		// again, with the other threads held meanwhile. Before, the
		// arena replaced reservations unseen, and a private one left
		// a hole of 1.5 GiB in the range (eighteenth session's review).
		a.Exit, a.Hole, a.RescanFailed = true, true, true
		if a.Verdict == Allow && a.Verify.Empty() {
			n, _ := region.PageUp(c.Args[1])
			if c.ABI == ABI32 {
				n, _ = region.PageUp(c.Args[1] & 0xffffffff)
			}
			if c.HugePage > region.PageSize && c.HugePage != HugeUnknown {
				n, _ = roundUp(n, c.HugePage)
			}
			a.Verify = region.Range{Start: c.Args[0], End: satAdd(c.Args[0], n)}
		}
	}
	return a
}

// arenaCouldMove reports whether a fixed file mapping that action a runs
// for call c (the program's own, or a step of the guard's: a pool chunk,
// an owner's hint, a NOREPLACE over reservations) crosses a 4 GiB line
// whose arena range reaches a guarded range.
func (g *Guard) arenaCouldMove(c Call, a *Action) bool {
	if a.Verdict == Allow {
		r, ok := arenaMove(c.ABI, c.Args)
		return ok && g.policy.guarded.Overlaps(r)
	}
	for _, s := range a.Steps {
		if s.Call.Op() != OpMmap {
			continue
		}
		if r, ok := arenaMove(s.Call.ABI, s.Call.Args); ok && g.policy.guarded.Overlaps(r) {
			return true
		}
	}
	return false
}

func (g *Guard) decideMmapArgs(c Call, who Caller) *Action {
	addr, length, flags := c.Args[0], c.Args[1], c.Args[3]
	fixed := flags&(MapFixed|MapFixedNoReplace) != 0
	if c.ABI == ABI64 && c.Args[5]%region.PageSize != 0 {
		// x86-64's mmap refuses an offset that is not page-aligned
		// before anything else (mmap2's is in pages).
		return allow(c, "unaligned offset: the kernel refuses it")
	}
	if c.Arena {
		if a := g.arenaMmap(c, who); a != nil {
			return a
		}
	}
	if c.HugePage > region.PageSize {
		if a := g.hugeMmap(c, who); a != nil {
			return a
		}
		length, _ = roundUp(length, c.HugePage)
	}
	if fixed {
		if !aligned(addr) {
			return allow(c, "unaligned fixed address: the kernel refuses it")
		}
		q, ok := span(addr, length)
		if !ok || q.End > region.UserEnd {
			// A fixed range past the end of user space: ENOMEM (or
			// an error the kernel finds earlier), before it looks at
			// any mapping.
			return allow(c, "invalid length: the kernel refuses it")
		}
		if !g.policy.guarded.Overlaps(q) {
			a := allow(c, "")
			if flags&MapAnonymous == 0 && c.HugePage == 0 {
				// It reached the tracer for being a file mapping near a
				// guarded range (one of huge pages could reach it).
				a.Exit, a.Verify = true, q
			}
			return a
		}
		if g.policy.Strict && !who.Owner && !who.Placed && g.policy.protected.Overlaps(q) {
			if flags&MapAnonymous == 0 && c.BadFd {
				// The kernel's first answer, before it looks at the
				// address; the call changes nothing.
				return emulate(c, Err(EBADF), "fixed mapping of no open descriptor")
			}
			if t := flags & MapType; t != MapShared && t != MapPrivate && t != MapSharedValidate && t != MapDroppable {
				// No such mapping type: the kernel refuses it (EINVAL)
				// before it maps anything.
				return emulate(c, Err(EINVAL), "fixed mapping of no known type")
			}
			return deny(c, EPERM, whyRange("strict: fixed mapping ", q, " in a protected range"))
		}
		if flags&MapFixedNoReplace != 0 {
			a := g.fixedNoReplace(c, q)
			if a.Exit && flags&MapAnonymous == 0 && c.HugePage == 0 {
				a.Verify = q
			}
			return a
		}
		own := g.mapped.Overlaps(q)
		b := newTracked()
		g.take(q, &b.p)
		a := b.allowExit(c, "explicit fixed mapping honoured")
		if flags&MapAnonymous == 0 && c.HugePage == 0 {
			a.Verify = q
		}
		if flags&MapAnonymous == 0 || c.HugePage != 0 {
			// A file's mmap method (hugetlbfs's too, for MAP_HUGETLB:
			// ENOMEM with no huge page free; a perf event's MAP_PRIVATE:
			// EINVAL) can fail after the kernel has unmapped what was
			// there, and Linux then leaves a gap where the MAP_FIXED
			// mapping failed. The rollback maps the reservations back;
			// over the program's own mappings only a look at the
			// layout tells what is gone (the call may have failed
			// before it unmapped anything): the model kept them the
			// program's over a hole, and MAP_32BIT landed there. The
			// other threads are held meanwhile where the file's mmap
			// may fail so (Call.LateFail, see Decide).
			a.RescanFailed = own
		}
		return a
	}

	q, ok := span(region.PageDown(addr), length)
	if !ok {
		return allow(c, "invalid length: the kernel refuses it")
	}
	inProtected := q.Start != 0 && g.policy.IsProtected(q.Start)
	// The kernel honours a MAP_32BIT hint that ends below 2 GiB (SBCL
	// asks for its static space at 0x50000000 so): an owner's is
	// placed there like any other owner hint.
	ownerHint := inProtected && who.Owner
	map32Placed := false
	if flags&Map32Bit != 0 && c.ABI == ABI64 && (q.Start == 0 || q.End > 1<<31) && who.Owner {
		// An owner's MAP_32BIT without an address (mono's JIT), or
		// with one the kernel does not honour, ending above 2 GiB (it
		// then looks as for none): the kernel would take the lowest
		// free run from 1 GiB up, which in a protected range is the
		// guard's reservation, an owner's to use: it gets that run, as
		// for a hint there.
		if at, ok := g.map32Room(q.Len()); ok {
			q, ownerHint, map32Placed = region.Range{Start: at, End: at + q.Len()}, true, true
		}
	}
	if flags&Map32Bit != 0 && c.ABI == ABI64 && !(ownerHint && q.End <= 1<<31) {
		// The kernel looks below 2 GiB; reservations keep it out of
		// protected ranges (it fails with ENOMEM if nothing is free).
		if q.Start == 0 && g.policy.Map32Blocked() {
			a := allow(c, "MAP_32BIT: no room (the guarded ranges cover 0x40000000-0x80000000): ENOMEM")
			a.Warn = "a MAP_32BIT mapping (no address) fails with ENOMEM: the kernel places one between 0x40000000 and 0x80000000, " +
				"which the protected ranges cover (a program that falls back to a mapping elsewhere runs on; one that needs it, " +
				"such as mono's JIT, fails): leave part of it unprotected, or name the code that asks with --owner (docs/run.md)"
			return a
		}
		if g.policy.Map32Blocked() && (q.End > 1<<31 || g.policy.guarded.Overlaps(q)) && !who.Owner {
			// The kernel honours a MAP_32BIT hint only where it is
			// free and ends below 2 GiB; else it looks in the same
			// window, which is reserved. SBCL asks for its static
			// space so, at 0x50000000, and stopped with its own
			// "failed to allocate" and no word from the guard. (A hint
			// above 2 GiB outside every range reaches the tracer only
			// with --pool-all: the filter lets it through otherwise.
			// Not an owner's, whose hint is placed, or which fails
			// with no room left: naming it with --owner does no more.)
			a := allow(c, "MAP_32BIT: the hint is reserved or above 2 GiB, and no room (the guarded ranges cover 0x40000000-0x80000000): ENOMEM")
			a.Warn = "a MAP_32BIT mapping at an address in a guarded range or above 2 GiB fails with ENOMEM: the kernel gives it " +
				"that address only where it is free (the guard's reservations are not) and below 2 GiB, else places it between 0x40000000 " +
				"and 0x80000000, which the protected ranges cover (a program that needs it, such as SBCL's static space at " +
				"0x50000000, fails): leave that address unprotected, or name the code that asks with --owner (docs/run.md)"
			return a
		}
		return allow(c, "MAP_32BIT: the kernel's choice below 2 GiB")
	}
	if c.Place != 0 {
		if a := g.place(c, q.Len()); a != nil {
			return a
		}
	}
	if ownerHint {
		if g.policy.guarded.Covers(q) && !g.mapped.Overlaps(q) {
			b := newTrackedRun()
			g.take(q, &b.p)
			d := c
			d.Args[0], d.Args[3] = q.Start, flags|MapFixed
			why := whyAddr("owner hint ", q.Start, " honoured")
			if map32Placed {
				why = whyAddr("owner MAP_32BIT placed at ", q.Start, " (the lowest free run from 1 GiB)")
			}
			a := b.runExit(c, d, Rewritten, why)
			if flags&MapAnonymous == 0 && c.HugePage == 0 {
				a.Verify = q
			}
			return a
		}
		if !g.policy.guarded.Covers(q) {
			return allow(c, "owner hint crosses a guarded range's edge: the kernel's choice")
		}
		return allow(c, "owner hint occupied: the kernel's choice")
	}
	if !inProtected && !g.policy.PoolAll {
		return allow(c, "")
	}
	if q.Start != 0 && !g.policy.guarded.Overlaps(q) {
		// With PoolAll too: a hint away from every guarded range is the
		// program's to give, and the kernel's choice if it is taken
		// (never a reservation). Go's race detector, Java's compressed
		// oops and JITs rely on theirs.
		return allow(c, "hint outside the guarded ranges: honoured")
	}
	if g.pool != nil && (c.ABI == ABI64 || g.pool.Range().End <= 1<<32) {
		var chunk region.Range
		var err error
		if q.Start != 0 && aligned(addr) && g.pool.IsFree(q) {
			// A hint to free pool space (with PoolAll, what the
			// program had there before): honoured, as the kernel
			// honours a hint to a free place.
			chunk = q
			g.pool.Take(q)
		} else {
			chunk, err = g.pool.Alloc(q.Len())
		}
		if err == nil {
			// Alloc marked the chunk used; takePiece records it in the
			// model. The chunk lies in the pool, itself a guarded range.
			b := newTrackedRun()
			b.p.taken = chunk
			g.takePiece(chunk, &b.p, false)
			d := c
			d.Args[0], d.Args[3] = chunk.Start, flags|MapFixed
			// (A descriptor swapped for a hugetlb one meanwhile would
			// make the mapping longer than the chunk, over pool space:
			// the guard's own, not a protected range. Not checked, so
			// that such calls keep their one stop.)
			if inProtected {
				if !g.hinted.Empty() {
					g.hintsUndone = 0 // the program kept the last one
				}
				g.hinted = chunk
				g.hintIn, _ = g.policy.protected.Find(q.Start)
				g.hintAgain = q.Start == g.hintAt
				g.hintAt = q.Start
			}
			return b.runExit(c, d, Rerouted, whyRange("placed in the pool at ", chunk, ""))
		}
		g.stats.PoolExhausted++
		a := g.poolFallback(c, addr, inProtected)
		// Said once a run (the tracer prints a warning once): the
		// program sees nothing, and a small --pool that ran out under
		// --pool-all gave another layout from run to run, of which only
		// -o's summary told.
		a.Warn = whyRange("the pool ", g.policy.Pool, " has no room left for a mapping the guard would place there (a hint "+
			"into a protected range; with --pool-all any mapping made without an address): such mappings go where the kernel "+
			"chooses, still outside the protected ranges, and with --pool-all no longer at the same addresses on every run: "+
			"give a larger --pool (-o's summary counts them as pool exhausted)")
		return a
	}
	return g.poolFallback(c, addr, inProtected)
}

// poolFallback is what becomes of a call decideMmapArgs would put in the
// pool where there is none, or no room in it: a hint into a protected
// range is dropped, anything else left to the kernel's choice.
func (g *Guard) poolFallback(c Call, addr uint64, inProtected bool) *Action {
	if inProtected {
		d := c
		d.Args[0] = 0
		return runOne(c, d, Rewritten, whyAddr("hint ", addr, " inside a protected range dropped"))
	}
	return allow(c, "pool unavailable: the kernel's choice")
}

// fixedNoReplace honours MAP_FIXED_NOREPLACE over q, which touches a
// guarded range: it must fail with EEXIST where the program has a mapping
// and succeed over the guard's reservations.
func (g *Guard) fixedNoReplace(c Call, q region.Range) *Action {
	if g.mapped.Overlaps(q) {
		// The kernel fails it with EEXIST, or with an error it finds
		// first (a bad descriptor, an offset that overflows): there is
		// always a mapping there, the program's or a reservation.
		return allow(c, "the program already maps part of the range: the kernel refuses it")
	}
	flags := c.Args[3]&^MapFixedNoReplace | MapFixed
	if g.policy.guarded.Covers(q) {
		b := newTrackedRun()
		g.take(q, &b.p)
		d := c
		d.Args[3] = flags
		return b.runExit(c, d, Rewritten, "MAP_FIXED_NOREPLACE over the guard's reservation")
	}
	// The range straddles a guarded edge: outside, only the kernel knows
	// what is mapped, so probe each outside piece with NOREPLACE first;
	// then map the guarded pieces over the reservations.
	a := &Action{Verdict: Run, Outcome: Rewritten, Ret: q.Start, FixRet: true, Exit: true, call: c,
		Why: "MAP_FIXED_NOREPLACE split at a guarded range's edge"}
	if c.Args[3]&MapAnonymous == 0 && c.BadFd {
		// The kernel looks at the descriptor first (EBADF); a
		// placeholder of the guard's would have made it EEXIST where
		// the program maps the outside part. Should another thread
		// open the descriptor meanwhile, NOREPLACE still fails over
		// the reservations (EEXIST).
		return allow(c, "MAP_FIXED_NOREPLACE of no open descriptor: the kernel refuses it")
	}
	if c.Args[3]&MapAnonymous == 0 || c.Args[3]&MapShared != 0 {
		// A file, or shared anonymous memory: pieces mapped apart would
		// not be the one mapping the kernel makes. Shared anonymous
		// memory and a shared mapping of /dev/zero make a new object
		// at each mmap, each piece with its own size (a page past a
		// piece's end is a SIGBUS, at once for /dev/zero's pieces at
		// an offset); a device's or a perf event's mmap method takes
		// the whole mapping or refuses a piece (a perf ring buffer
		// must be mapped from offset 0, 1+2^n pages: EINVAL). The
		// outside pieces are held with placeholders mapped with
		// NOREPLACE (EEXIST where the program has something), then
		// the whole range is mapped in one call over them and the
		// reservations. (Private anonymous pieces are the same memory
		// as one mapping: they are mapped apart.)
		for o := range g.policy.guarded.Gaps(q) {
			a.Steps = append(a.Steps, Step{Call: reservation(c.ABI, o, MapFixedNoReplace), Undo: []Call{munmapCall(c.ABI, o)}})
		}
		d := c
		d.Args[3] = flags
		a.Steps = append(a.Steps, Step{Call: d})
		a.pending = &pending{}
		g.take(q, a.pending)
		a.Why = "MAP_FIXED_NOREPLACE across a guarded range's edge: the outside held, then mapped in one call"
		return a
	}
	for o := range g.policy.guarded.Gaps(q) {
		a.Steps = append(a.Steps, Step{
			Call: withOffset(c, q.Start, o, c.Args[3]),
			Undo: []Call{munmapCall(c.ABI, o)},
		})
	}
	p := &pending{}
	for piece := range g.policy.guarded.Within(q) {
		var undo []Call
		for r := range g.reserved.Within(piece) {
			undo = append(undo, reservation(c.ABI, r, MapFixed))
		}
		a.Steps = append(a.Steps, Step{Call: withOffset(c, q.Start, piece, flags), Undo: undo})
	}
	g.take(q, p)
	a.pending = p
	return a
}

func (g *Guard) decideMunmap(c Call, task int) *Action {
	addr := c.Args[0]
	q, ok := span(addr, c.Args[1])
	if !aligned(addr) || !ok || q.End > region.UserEnd {
		return allow(c, "invalid range: the kernel refuses it")
	}
	a := g.unmapLike(c, task, q, 0, &munmapWhy)
	if q == g.hinted && a.Verdict == Run {
		g.noteHintUndone(a)
	}
	return a
}

// hintsUndoneWarn is how many hints into a protected range in a row,
// each unmapped at once from the pool where the guard put it, make a
// warning: a program that wants memory at the addresses it hints at
// and retries elsewhere near them (LuaJIT's JIT looks so for its code
// buffer, within 2 GiB of its own image, 32 tries a time, and again at
// the next hot loop) never gets it there. Go's runtime goes through
// its arena hints so too, but at most 128 of them (since Go 1.26 one
// every 256 GiB from a random base: 30 to 64 unmapped in a row under
// --protect 0x10000-0x200000000000), and then lets the kernel choose:
// a warning at 16 named it in half the runs.
const hintsUndoneWarn = 256 // the warning says so

// noteHintUndone counts a munmap of the pool chunk the last hint into a
// protected range was moved to, a, and warns at the hintsUndoneWarn-th
// in a row. LuaJIT, its image in a protected range (PIE, with
// --protect 0x550000000000-0x560000000000), gave up compiling after
// each 32 tries and tried again at the next hot loop, so that a loop of
// 10 million additions ran for minutes instead of 10 ms, with no word
// from the guard.
//
// A hint the same as the one before does not count: a program that
// maps a scratch buffer at one address in a protected range, uses it
// and unmaps it, over and over, got the warning, though it uses what it
// gets; a program looking for memory near an address tries another each
// time (LuaJIT's are random).
func (g *Guard) noteHintUndone(a *Action) {
	g.hinted = region.Range{}
	if g.hintAgain {
		return
	}
	g.hintsUndone++
	if g.hintsUndone == hintsUndoneWarn {
		a.Warn = whyRange("the program unmapped at once, 256 times in a row, the pool mappings its mmap hints into the protected range ", g.hintIn,
			" were moved to: it wants memory at those addresses, and may retry for good or run much slower without it "+
				"(LuaJIT's JIT looks so for its code buffer near its own image): name the code that asks with --owner, whose "+
				"hints are then honoured, or leave the addresses it hints at unprotected (docs/run.md)")
	}
}

// unmapWhy holds the Why texts of a call unmapLike handles, spelled out
// rather than built for each decision.
type unmapWhy struct{ reserved, run string }

var (
	munmapWhy = unmapWhy{
		"munmap of the guard's reservation: nothing of the program's there",
		"munmap in a guarded range: reservation put back"}
	shrinkWhy = unmapWhy{
		"mremap shrink of the guard's reservation: nothing of the program's there",
		"mremap shrink in a guarded range: reservation put back"}
)

// unmapLike unmaps q: outside guarded ranges with munmap, inside with a
// reservation mapped over it in one step, so the range is never free for
// anyone else to take. The program sees ret. What it frees of the pool
// goes back to the pool once task has made the call (see giveBack).
func (g *Guard) unmapLike(c Call, task int, q region.Range, ret uint64, why *unmapWhy) *Action {
	if !g.policy.guarded.Overlaps(q) {
		return allow(c, "")
	}
	if g.policy.guarded.Covers(q) && !q.Overlaps(g.code) {
		// The usual case, q inside one guarded range, where the loops
		// below would build one reservation step over q. The model is
		// updated as releasePiece(q) would, but reservations first (the
		// sets are independent): the search AddAppend makes also tells
		// whether they covered q already, and then the Add changed
		// nothing, the program had nothing there, and nothing else may
		// change.
		var buf [1]region.Range
		if held := g.reserved.AddAppend(buf[:0], q); len(held) == 1 && held[0] == q {
			return emulate(c, ret, why.reserved)
		}
		g.mapped.Remove(q)
		g.dontFork.Remove(q)
		g.detach(q, nil)
		g.giveBack(task, q)
		b := new(stepAction)
		a := b.runOne(c, reservation(c.ABI, q, MapFixed), Rewritten, why.run)
		a.Ret, a.FixRet = ret, true
		return a
	}
	var steps []Step
	for o := range g.policy.guarded.Gaps(q) {
		steps = append(steps, Step{Call: munmapCall(c.ABI, o)})
	}
	unmaps := len(steps)
	onlyReserved := true
	for piece := range g.policy.guarded.Within(q) {
		if !g.reserved.Covers(piece) {
			onlyReserved = false
		}
		// Never over the code page: its code is the guard's (the
		// program sees a reservation there, which stays).
		for _, p := range withoutCode(piece, g.code) {
			steps = append(steps, Step{Call: reservation(c.ABI, p, MapFixed)})
		}
	}
	if onlyReserved && unmaps == 0 || len(steps) == 0 {
		return emulate(c, ret, why.reserved)
	}
	g.release(task, q)
	return &Action{Verdict: Run, Outcome: Rewritten, Steps: steps, Ret: ret, FixRet: true, call: c,
		Why: why.run}
}

// prefixWhy holds the Why texts of a call decidePrefix handles.
type prefixWhy struct{ reserved, stops, probe string }

var (
	mprotectWhy = prefixWhy{
		"mprotect of the guard's reservation: unmapped to the program",
		"mprotect stops at the reservation at ",
		"pkey_mprotect of the guard's reservation: the key checked where nothing is mapped"}
	mlockWhy = prefixWhy{
		"mlock of the guard's reservation: unmapped to the program",
		"mlock stops at the reservation at ",
		"mlock of the guard's reservation: the lock limit checked with length 0"}
	mincoreWhy = prefixWhy{
		"mincore of the guard's reservation: unmapped to the program",
		"mincore stops at the reservation at ", ""}
)

// decideMprotect handles mprotect and pkey_mprotect. Before it looks for
// a mapping the kernel refuses both PROT_GROWSDOWN and PROT_GROWSUP,
// protection bits it does not know (all 64 bits count) and, for
// pkey_mprotect, a key the process has not allocated (EINVAL). The bits
// are checked here; the key only the kernel knows: when the range starts
// at a reservation, the call is probed where nothing is mapped (see
// probeCall), with PROT_GROWSUP, which no x86 mapping accepts, so that
// the probe can change nothing even should it find one.
func (g *Guard) decideMprotect(c Call) *Action {
	prot := c.Args[2]
	grows := prot & (ProtGrowsDown | ProtGrowsUp)
	if grows == ProtGrowsDown|ProtGrowsUp || prot&^(ProtRead|ProtWrite|ProtExec|ProtSem|grows) != 0 {
		return allow(c, "invalid protection: the kernel refuses it")
	}
	if c.Op() == OpPkeyMprotect && int32(c.Args[3]) != -1 {
		if p, ok := g.probeCall(c, 0); ok {
			p.Args[2] = ProtGrowsUp
			return g.decidePrefix(c, c.Args[0], c.Args[1], &mprotectWhy, &p)
		}
	}
	return g.decidePrefix(c, c.Args[0], c.Args[1], &mprotectWhy, nil)
}

// decideMlock handles mlock, mlock2 and munlock. mlock2 refuses unknown
// flags (EINVAL) first; mlock and mlock2 then refuse a process that may
// lock nothing, RLIMIT_MEMLOCK 0 without CAP_IPC_LOCK (EPERM), before
// they look for a mapping. The same call with length 0 makes that check
// and locks nothing: it is the probe when the range starts at a
// reservation.
func (g *Guard) decideMlock(c Call) *Action {
	is := func(nr64, nr32 uint64) bool {
		if c.ABI == ABI32 {
			return c.Nr == nr32
		}
		return c.Nr == nr64
	}
	if is(sysMlock2_64, sysMlock2_32) && uint32(c.Args[2])&^MlockOnFault != 0 {
		return allow(c, "unknown mlock2 flags: the kernel refuses them")
	}
	// mlock rounds the start down and the length up instead of
	// refusing an unaligned start, in 64 bits that wrap: a length
	// within a page of 2^64 becomes a page or none, not an error
	// (do_mlock: PAGE_ALIGN(len + offset_in_page(start))). Taken for
	// an overflow and let through, such a call locked a page of a
	// reservation (found in the thirteenth session).
	start := region.PageDown(c.Args[0])
	n := (c.Args[1] + (c.Args[0] - start) + region.PageSize - 1) &^ (region.PageSize - 1)
	if is(sysMunlock64, sysMunlock32) {
		return g.decidePrefix(c, start, n, &mlockWhy, nil)
	}
	p := c
	p.Args[0], p.Args[1] = start, 0
	return g.decidePrefix(c, start, n, &mlockWhy, &p)
}

// decidePrefix handles calls that walk the range from its start and stop
// with ENOMEM at the first unmapped page, having changed what came before
// (mprotect, pkey_mprotect, mlock, munlock; mincore, which fills the
// vector for what came before). To the program, a reservation is
// unmapped. A range that starts at one gets ENOMEM, or if probe is not
// nil, probe's error: the kernel's answer to checks of the arguments it
// makes before looking for a mapping, which the guard cannot make.
func (g *Guard) decidePrefix(c Call, start, n uint64, why *prefixWhy, probe *Call) *Action {
	q, ok := span(start, n)
	if !aligned(start) || !ok {
		return allow(c, "")
	}
	first, found := g.reserved.FirstWithin(q)
	if !found {
		return allow(c, "")
	}
	if first.Start == q.Start {
		if probe != nil {
			a := runOne(c, *probe, Emulated, why.probe)
			a.Ret, a.FixRet = Err(ENOMEM), true
			return a
		}
		return emulate(c, Err(ENOMEM), why.reserved)
	}
	d := c
	d.Args[0], d.Args[1] = q.Start, first.Start-q.Start
	a := new(stepAction).runOne(c, d, Emulated, whyAddr(why.stops, first.Start, ""))
	a.Ret, a.FixRet = Err(ENOMEM), true
	return a
}

// validAdvice lists the madvise advice values the guard knows (Linux 6.18).
// Unknown advice aimed at a reservation is refused with EINVAL rather
// than passed through with an effect the guard cannot judge.
func validAdvice(a uint64) bool {
	return a <= 4 || (a >= 8 && a <= 25) || (a >= 100 && a <= 103)
}

func (g *Guard) decideMadvise(c Call) *Action {
	// The kernel takes the advice as an int: what lies above its low 32
	// bits changes nothing (MADV_DONTFORK applies all the same).
	addr, advice := c.Args[0], uint64(uint32(c.Args[2]))
	q, ok := span(addr, c.Args[1])
	if !aligned(addr) || !ok {
		return allow(c, "")
	}
	if !g.reserved.Overlaps(q) {
		switch advice {
		case MadvDontFork:
			for p := range g.mapped.Within(q) {
				g.dontFork.Add(p)
				g.mayDontCopy = true // (the kernel runs it later: see ForkLayout)
			}
		case MadvDoFork:
			g.dontFork.Remove(q)
		}
		return allow(c, "")
	}
	if !validAdvice(advice) {
		return emulate(c, Err(EINVAL), "unknown advice aimed at a reservation")
	}
	// The kernel applies the advice to every mapped part and reports
	// ENOMEM for the holes; reservations are holes to the program.
	a := &Action{Verdict: Run, Outcome: Emulated, Ret: Err(ENOMEM), FixRet: true, call: c,
		Why: "madvise skips the guard's reservations"}
	populate := advice == MadvPopulateRead || advice == MadvPopulateWrite
	for free := range g.reserved.Gaps(q) {
		if populate && free.Start != q.Start {
			// The kernel stops at the first hole: the reservation
			// before this piece.
			break
		}
		d := c
		d.Args[0], d.Args[1] = free.Start, free.Len()
		// Each piece between reservations fails with ENOMEM where it
		// has a hole, and the kernel goes on to the next mapping; it
		// stops at a mapping's own error (EINVAL for MADV_DONTNEED of
		// locked memory), which the program then gets.
		a.Steps = append(a.Steps, Step{Call: d, Continue: Err(ENOMEM)})
		switch advice {
		case MadvDontFork:
			for p := range g.mapped.Within(free) {
				g.dontFork.Add(p)
				g.mayDontCopy = true
			}
		case MadvDoFork:
			g.dontFork.Remove(free)
		}
	}
	if len(a.Steps) == 0 {
		if advice >= madvConfig {
			// Advice a kernel knows only by its version or
			// configuration (KSM, transparent huge pages, memory
			// failure, guard regions, populate): the same advice
			// with length 0 is refused (EINVAL) where it is unknown,
			// and does nothing where it is known. (A piece of the
			// program's, where there is one, tells as much: the
			// kernel checks the advice first.)
			p := c
			p.Args[1] = 0
			a.Steps = append(a.Steps, Step{Call: p})
			a.Why = "madvise of the guard's reservation: the advice checked with length 0"
			return a
		}
		return emulate(c, Err(ENOMEM), "madvise of the guard's reservation: unmapped to the program")
	}
	return a
}

// madvConfig is the first advice value (MADV_MERGEABLE) that a kernel
// may not know though the guard does: from it on, advice aimed at a
// reservation is probed (see decideMadvise).
const madvConfig = 12

func (g *Guard) decideMseal(c Call) *Action {
	q, ok := span(c.Args[0], c.Args[1])
	if c.Args[2] != 0 || !aligned(c.Args[0]) || !ok || !g.reserved.Overlaps(q) {
		// The kernel refuses any flag (EINVAL) first.
		return allow(c, "")
	}
	return emulate(c, Err(ENOMEM), "mseal of the guard's reservation: unmapped to the program")
}

// decideRemapFilePages handles remap_file_pages. Linux emulates it
// (since 4.0): it rounds addr and size down to pages, refuses a prot
// other than 0, checks that [addr, addr+size) lies in shared mappings of
// one file with the same flags, one after the other, and maps that file
// again over the range with MAP_SHARED|MAP_FIXED|MAP_POPULATE at page
// offset pgoff. A reservation is neither shared nor a file's: aimed at
// or across one, the call fails (EINVAL) before anything changes, as at
// a hole. Over the program's own shared mapping in a guarded range it
// puts a mapping of the same extent, still the program's, in its place:
// the model needs nothing. But the file's mmap method runs after the
// kernel has unmapped the range, and where it fails (a perf event's ring
// buffer at another offset: EINVAL; a hugetlbfs file or memfd with no
// huge page free, the remap asking for no MAP_NORESERVE: ENOMEM), Linux
// 6.12 and later leave a gap there. The filter let the call pass unseen,
// the model kept the program's mapping over the hole, and MAP_32BIT
// landed in it. Now the other threads are held while it runs (Hole:
// another thread's MAP_32BIT took the gap before the guard could look
// at the layout, in the first round), and after a failure the layout is
// read and the gaps reserved again (RescanFailed), as for a fixed mmap
// of such a file (see decideMmap). The file is not looked at: the call
// is rare (deprecated since Linux 3.16), and no descriptor names it.
func (g *Guard) decideRemapFilePages(c Call) *Action {
	addr, size := region.PageDown(c.Args[0]), region.PageDown(c.Args[1])
	q, ok := span(addr, size)
	if c.Args[2] != 0 || size == 0 || !ok || !g.mapped.Overlaps(q) {
		return allow(c, "")
	}
	a := allow(c, "remap_file_pages of the program's mapping in a guarded range: its file's mmap may fail after the unmap")
	a.Exit, a.Hole, a.RescanFailed = true, true, true
	return a
}

// maxAIORing is the largest AIO ring io_setup makes: twice the events
// asked for, at most 0x10000000 bytes of them (ioctx_alloc), and a page
// of header.
const maxAIORing = 0x10000000 + region.PageSize

// decideIoSetup handles io_setup. Its ring is placed by the kernel,
// where nothing is mapped; but if writing the new context's id to the
// program's memory fails at the end, the kernel tears the context down
// as io_destroy does, unmapping the ring's whole size from where it is
// then, and another thread can have moved it meanwhile (the write
// waiting on a userfaultfd), shrunk, to just below a guarded range:
// the kernel unmapped the reservations there unseen, and a hinted mmap
// and i386 mmap2 landed in the hole (found in the thirteenth session).
// While one is in progress, a move of a ring to there with MREMAP_FIXED
// is refused (see decideMremap); one the kernel places there, or one
// that slipped past that look, is caught afterwards: the layout is read after a failed
// io_setup and every gap in the guarded ranges reserved again. The
// other threads are not held (the call can wait on a userfaultfd that
// one of them serves): one of theirs can land in the gap before it is
// filled (docs/escapes.md, Known windows).
func (g *Guard) decideIoSetup(c Call) *Action {
	b := new(trackedAction)
	b.p.ioSetup = true
	g.aioSetups++
	a := b.allowExit(c, "io_setup: a failure unmaps the ring where it is then")
	a.RescanFailed = true
	return a
}

// decideIoDestroy handles io_destroy. The kernel unmaps the AIO ring
// at the address it has for it, which follows the ring's mremap moves
// (aio_ring_mremap), with the size it had at io_setup, which does not
// follow a munmap of its tail: a ring shrunk far from every range (no
// stop), then moved to just below a guarded range (outside it:
// honoured), reached into the range at its io_destroy, and the kernel
// unmapped the reservations there unseen; the model still had them, and
// MAP_32BIT and i386 mmaps landed in the hole (found in the twelfth
// session). What the ring spans cannot be told from outside (its
// header, which names its size, is the program's to write), so the
// other threads are held while it runs, and the layout is read after it
// and every gap in the guarded ranges reserved again (Rescan).
func (g *Guard) decideIoDestroy(c Call) *Action {
	ctx := c.Args[0]
	if c.ABI == ABI32 {
		ctx = uint64(uint32(ctx))
	}
	if r, ok := region.Span(ctx, maxAIORing); ok && !g.policy.guarded.Overlaps(r) {
		return allow(c, "") // (the filter sends only i386 ones here)
	}
	a := allow(c, "io_destroy: the kernel unmaps the ring with its size at io_setup")
	a.Exit, a.Hole, a.Rescan = true, true, true
	return a
}

func (g *Guard) decideBrk(c Call) *Action {
	if want := c.Args[0]; g.brk != 0 && want != 0 {
		lo, ok1 := region.PageUp(g.brk)
		hi, ok2 := region.PageUp(want)
		if ok1 && ok2 && hi > lo && g.policy.guarded.Overlaps(region.Range{Start: lo, End: hi}) {
			// The kernel's answer when the heap cannot grow: the old break.
			return emulate(c, g.brk, "brk would grow the heap into a guarded range")
		}
	}
	b := new(trackedAction)
	b.p.brk, b.p.oldBrk = true, g.brk
	a := b.allowExit(c, "")
	if want := c.Args[0]; want != 0 && want < g.brk {
		// A heap shrinking out of a guarded range frees it.
		lo, ok1 := region.PageUp(want)
		hi, ok2 := region.PageUp(g.brk)
		a.Hole = ok1 && ok2 && lo < hi && g.policy.guarded.Overlaps(region.Range{Start: lo, End: hi})
	}
	return a
}

func (g *Guard) decideShmat(c Call, who Caller) *Action {
	addrArg, flagArg := 1, 2
	if c.Op() == OpIPC {
		addrArg = 4
	}
	addr, flg := c.Args[addrArg], c.Args[flagArg]
	if addr == 0 {
		return allow(c, "")
	}
	if flg&ShmRnd != 0 {
		addr = region.PageDown(addr) // SHMLBA is the page size on x86
	} else if !aligned(addr) {
		return allow(c, "unaligned address: the kernel refuses it")
	}
	q, ok := span(addr, c.ShmSize)
	if !ok {
		// The tracer could not find the segment: the id is most likely
		// invalid. Refuse what could reach a guarded range.
		if last := g.policy.guarded.Ranges(); len(last) > 0 && addr < last[len(last)-1].End {
			return emulate(c, Err(EINVAL), "shared memory segment size unknown")
		}
		return allow(c, "")
	}
	if !g.policy.guarded.Overlaps(q) {
		a := allow(c, "")
		if g.policy.guarded.Overlaps(region.Range{Start: q.Start, End: satAdd(q.End, hugeMax)}) {
			// A SHM_HUGETLB segment is mapped in whole huge pages,
			// but IPC_STAT gives the size asked for: the tracer
			// checks afterwards that the attachment did not reach a
			// guarded range (and kills the process if it did).
			a.Exit, a.Verify = true, q
		}
		return a
	}
	if g.policy.Strict && !who.Owner && g.policy.protected.Overlaps(q) {
		return deny(c, EPERM, whyRange("strict: shmat at ", q, " in a protected range"))
	}
	if flg&ShmRemap != 0 {
		b := newTracked()
		g.take(q, &b.p)
		return b.allowExit(c, "explicit shmat with SHM_REMAP honoured")
	}
	if g.mapped.Overlaps(q) {
		// The kernel fails it with EINVAL, or with an error it finds
		// first (no permission for the segment, EACCES).
		return allow(c, "the program already maps part of the range: the kernel refuses it")
	}
	if !g.policy.guarded.Covers(q) {
		return emulate(c, Err(EINVAL), "shmat across a guarded range's edge is not supported")
	}
	b := newTrackedRun()
	g.take(q, &b.p)
	d := c
	d.Args[flagArg] = flg | ShmRemap
	return b.runExit(c, d, Rewritten, "shmat over the guard's reservation")
}

// ARCH_MAP_VDSO_X32, ARCH_MAP_VDSO_32 and ARCH_MAP_VDSO_64 (asm/prctl.h).
const (
	archMapVdsoX32 = 0x2001
	archMapVdso64  = 0x2003
)

// vdsoMaxSpan bounds the size of a vDSO image with its vvar pages (32
// KiB on Linux 6.18), generously.
const vdsoMaxSpan = 64 << 10

// decideArchPrctl decides arch_prctl(ARCH_MAP_VDSO_*, addr), which maps
// a new vDSO (once the old one is unmapped: CRIU) with addr as a hint,
// as mmap takes one: the kernel maps it there if that much is free.
// Reservations keep it out of a guarded range, except where nothing is
// reserved: the room a stack in a guarded range may grow into (see
// trace.withStackRoom), and a hole while a call that frees part of a
// range runs (the caller is held then). A hint whose image could reach
// a guarded range is dropped: the kernel places the vDSO itself, as it
// did where the hint found a reservation (found by the seventeenth
// session's hunt: the vDSO mapped in the stack's room, inside a
// protected range over the top of the address space).
func (g *Guard) decideArchPrctl(c Call) *Action {
	op, addr := uint32(c.Args[0]), c.Args[1]
	if c.ABI != ABI64 || op < archMapVdsoX32 || op > archMapVdso64 || addr == 0 {
		return allow(c, "")
	}
	r := region.Range{Start: region.PageDown(addr), End: satAdd(addr, vdsoMaxSpan)}
	if !g.policy.guarded.Overlaps(r) {
		return allow(c, "")
	}
	d := c
	d.Args[1] = 0
	return runOne(c, d, Rewritten, whyAddr("vDSO hint ", addr, " near a guarded range dropped"))
}

func (g *Guard) decideMremap(c Call, who Caller) *Action {
	old, oldLen, newLen, flags, newAddr := c.Args[0], c.Args[1], c.Args[2], c.Args[3], c.Args[4]
	if hp := c.HugePage; hp > region.PageSize {
		// The kernel moves whole huge pages: both lengths are rounded
		// up to one (and the addresses must be aligned to one).
		if hp == HugeUnknown {
			if r, ok := region.Span(old, oldLen); !ok || g.policy.guarded.Overlaps(region.Range{Start: r.Start, End: satAdd(r.End, hugeMax)}) ||
				flags&MremapFixed != 0 && g.policy.guarded.Overlaps(region.Range{Start: newAddr, End: satAdd(satAdd(newAddr, newLen), hugeMax)}) {
				return emulate(c, Err(EINVAL), "mremap of huge pages of unknown size next to a guarded range")
			}
			return allow(c, "")
		}
		if old%hp != 0 || flags&MremapFixed != 0 && newAddr%hp != 0 {
			return allow(c, "unaligned huge-page address: the kernel refuses it")
		}
		var ok1, ok2 bool
		oldLen, ok1 = roundUp(oldLen, hp)
		newLen, ok2 = roundUp(newLen, hp)
		if !ok1 || !ok2 {
			return allow(c, "invalid lengths: the kernel refuses them")
		}
	}
	// The kernel rounds both lengths up to pages (a length that
	// overflows becomes 0) and checks the arguments, all before it looks
	// up the mapping at old (Linux 6.17; older kernels check the new
	// address after that, but before they change anything): unknown
	// flags, an unaligned old address, a new length of 0 or past user
	// space; with MREMAP_FIXED or MREMAP_DONTUNMAP, a new range past user
	// space, unaligned or overlapping the old one, no MREMAP_MAYMOVE, and
	// for MREMAP_DONTUNMAP a change of length.
	oldP, _ := region.PageUp(oldLen)
	newP, _ := region.PageUp(newLen)
	if !aligned(old) || flags&^uint64(MremapMayMove|MremapFixed|MremapDontUnmap) != 0 || newP == 0 || newP > region.UserEnd {
		return allow(c, "invalid arguments: the kernel refuses them")
	}
	fixed := flags&MremapFixed != 0
	if flags&(MremapFixed|MremapDontUnmap) != 0 {
		if newP > region.UserEnd || newAddr > region.UserEnd-newP || !aligned(newAddr) ||
			flags&MremapMayMove == 0 || flags&MremapDontUnmap != 0 && oldP != newP ||
			old+oldP > newAddr && newAddr+newP > old {
			return allow(c, "invalid target: the kernel refuses it")
		}
	}
	if g.reserved.ContainsAddr(old) {
		return emulate(c, Err(EFAULT), "mremap of the guard's reservation: unmapped to the program")
	}
	if !fixed && flags&MremapDontUnmap == 0 && newP == oldP {
		// The same length and no new address: the kernel changes
		// nothing, whatever the old range reaches over (it answers
		// with the mapping at old, EFAULT for none, EPERM for a sealed
		// one). Taken for a move across the reservation the old range
		// reaches, it got EFAULT where natively it succeeds.
		return allow(c, "mremap to the same length: the kernel changes nothing")
	}
	oldR, ok := region.Span(old, oldP)
	if !ok {
		// The mapping at old cannot hold the range.
		return allow(c, "invalid lengths: the kernel refuses them")
	}
	guarded := &g.policy.guarded
	var newR region.Range
	if fixed {
		newR = region.Range{Start: newAddr, End: newAddr + newP}
	}
	touchesOld := guarded.Overlaps(oldR)
	if newP < oldP && g.codeReady && (region.Range{Start: old + newP, End: oldR.End}).Overlaps(g.code) {
		// A shrink whose tail the kernel would unmap reaches over the
		// guard's code page (a mapping of the program's just below the
		// pool): another thread on its way through a trampoline there,
		// or a signal handler returning into one, ran into the
		// reservation put back over it (SIGSEGV in most runs; found in
		// the twelfth session). Refused as a move across a
		// reservation is.
		return emulate(c, Err(EFAULT), "mremap shrink over the guard's code page")
	}
	if c.OldAIO && fixed && guarded.Overlaps(newR) {
		// io_destroy would unmap it there, in the kernel, unseen.
		return emulate(c, Err(EINVAL), "an AIO ring may not move into a guarded range")
	}
	if reach, ok := region.Span(newR.Start, max(newP, maxAIORing)); c.OldAIO && fixed && g.aioSetups > 0 && (!ok || guarded.Overlaps(reach)) {
		// The ring of an io_setup in progress that fails is unmapped
		// there in the kernel, unseen, with the size it had (up to
		// maxAIORing), whatever is left of it: the call waits on a
		// userfaultfd another thread serves, which moves the ring
		// meanwhile (see decideIoSetup). io_destroy stops where it
		// can reach a guarded range (decideIoDestroy).
		return emulate(c, Err(EINVAL), "an AIO ring may not move to just below a guarded range during an io_setup")
	}
	if !touchesOld && !(fixed && guarded.Overlaps(newR)) {
		// Growing in place into a reservation fails in the kernel, which
		// then moves the mapping (MREMAP_MAYMOVE) outside the guarded
		// ranges or answers ENOMEM.
		return allow(c, "")
	}
	if fixed && g.policy.Strict && !who.Owner && g.policy.protected.Overlaps(newR) {
		return deny(c, EPERM, whyRange("strict: mremap to ", newR, " in a protected range"))
	}
	if !fixed && newP < oldP {
		// Shrinking unmaps the tail and keeps the start where it is
		// (MREMAP_DONTUNMAP, which keeps the length, is not here).
		if oldR.End > region.UserEnd {
			// The kernel's munmap of the tail refuses a range past
			// user space (EINVAL; EFAULT first if nothing is mapped
			// at old) and nothing changes.
			return allow(c, "invalid old length: the kernel refuses it")
		}
		tail := region.Range{Start: old + newP, End: oldR.End}
		if !guarded.ContainsAddr(old) {
			// Only the kernel knows whether anything is mapped at old
			// (EFAULT if not, and nothing changes): it shrinks, and
			// the guarded parts of the tail it unmaps are reserved
			// again after it, the other threads held meanwhile.
			b := newTracked()
			b.p.mremapOld, b.p.mremapUnmaps, b.p.mremapShrink = tail, true, true
			a := b.allowExit(c, "mremap shrink of a mapping outside the guarded ranges: the tail reserved again")
			a.Hole = true
			return a
		}
		return g.unmapLike(c, who.Task, tail, old, &shrinkWhy)
	}
	head := oldR
	if fixed && newP < oldP {
		// MREMAP_FIXED unmaps the tail first, whatever is there: the
		// kernel looks for one mapping in the rest only.
		head.End = old + newP
	}
	if g.reserved.Overlaps(head) {
		// The old range must be one mapping; it crosses a reservation.
		return emulate(c, Err(EFAULT), "mremap across the guard's reservation")
	}
	b := newTracked()
	p := &b.p
	p.mremapUnmaps = flags&MremapDontUnmap == 0
	if touchesOld {
		p.mremapOld = oldR
	}
	if fixed {
		g.take(newR, p)
		p.mremapMove = oldP == newP
		a := b.allowExit(c, "explicit mremap target honoured")
		// The kernel unmaps the target before anything else (mremap_to:
		// do_munmap), and may fail after that, shrinking a tail it
		// cannot split (a sealed mapping: EPERM; the vDSO: EINVAL):
		// the target in a guarded range was a hole until the rolled
		// back model's reservation went back over it, and another
		// thread's MAP_32BIT landed there in most rounds of a race, its
		// page then taken away by the reservation put back (found in the
		// twelfth session). The other threads are held for any move
		// into a guarded range, whatever the lengths.
		a.Hole = p.mremapUnmaps && touchesOld || guarded.Overlaps(newR)
		// A failed move may have moved part of the old range out, or
		// into the guarded target (see RescanFailed and MovedPart);
		// and one that changes the length may have unmapped the target
		// before it failed: over the program's own mapping there the
		// rolled back model kept the mapping over a hole, and MAP_32BIT
		// landed in it (found in the twelfth session's review).
		a.RescanFailed = guarded.Overlaps(newR) || oldP == newP && a.Hole
		if newP < oldP && guarded.Overlaps(region.Range{Start: old + newP, End: oldR.End}) {
			// Before Linux 6.17 a shrinking MREMAP_FIXED unmaps the
			// tail, then finds the rest is not one mapping (EFAULT):
			// the tail's guarded part is a hole the rolled-back model
			// does not know of.
			a.RescanFailed = true
		}
		if oldP == newP && guarded.Overlaps(newR) && !guarded.Covers(oldR) {
			// A move that keeps the length moves every mapping in
			// the old range since Linux 6.17, holes and all; at the
			// target, what lies under a hole stays (or, on kernels
			// that fix that, is unmapped): a reservation the model
			// would count as the program's, or a hole. Outside the
			// guarded ranges only the kernel knows the old range's
			// holes: msync finds one (ENOMEM) and changes nothing,
			// and the program then gets EFAULT, as before 6.17 (and
			// as for a move across a reservation). The other
			// threads are held, so none makes a hole in between.
			a.Verdict, a.Outcome = Run, Rewritten
			a.Steps = []Step{{Call: msyncCall(c.ABI, oldR), FailRet: Err(EFAULT)}, {Call: c}}
			a.Hole = true
			a.RescanFailed = true
			a.Why = "mremap move into a guarded range: the old range checked for holes first"
		}
		return a
	}
	if newP > oldP && oldP > 0 {
		p.mremapGrow = region.Range{Start: oldR.End, End: old + newP}
	}
	a := b.allowExit(c, "")
	// The kernel may move the mapping out, freeing the old range.
	a.Hole = p.mremapUnmaps && touchesOld
	return a
}
