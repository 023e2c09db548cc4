package rewrite

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// simKernel is a toy model of the kernel's mapping calls, good enough to
// run the guard's actions against: it knows which pages are mapped, and
// which of them are the guard's reservations.
type simKernel struct {
	res, prog region.Set
	// ran lists the calls exec ran.
	ran []Call
}

func (k *simKernel) occupied(q region.Range) bool { return k.res.Overlaps(q) || k.prog.Overlaps(q) }

// freeTopDown finds the highest free range of n bytes below top, as the
// kernel's default allocator does.
func (k *simKernel) freeTopDown(n, top, bottom uint64) (region.Range, bool) {
	var all region.Set
	for r := range k.res.All() {
		all.Add(r)
	}
	for r := range k.prog.All() {
		all.Add(r)
	}
	var best region.Range
	for gap := range all.Gaps(region.Range{Start: bottom, End: top}) {
		if gap.Len() >= n {
			best = region.Range{Start: gap.End - n, End: gap.End}
		}
	}
	return best, !best.Empty()
}

// exec runs one call and returns its raw result.
func (k *simKernel) exec(c Call) uint64 {
	if c.ABI != ABI64 {
		panic("sim: i386 not modelled")
	}
	k.ran = append(k.ran, c)
	switch c.Op() {
	case OpMadvise:
		// ENOMEM where part of the range is unmapped (after advising
		// the rest).
		q, ok := span(c.Args[0], c.Args[1])
		if ok {
			var all region.Set
			all.Add(q)
			for r := range k.res.All() {
				all.Remove(r)
			}
			for r := range k.prog.All() {
				all.Remove(r)
			}
			if all.Len() > 0 {
				return Err(ENOMEM)
			}
		}
		return 0
	case OpMmap:
		addr, n, flags := c.Args[0], c.Args[1], c.Args[3]
		q, ok := span(addr, n)
		isRes := c.Args[2] == ProtNone && flags&MapNoReserve != 0
		place := func(q region.Range) uint64 {
			k.res.Remove(q)
			k.prog.Remove(q)
			if isRes {
				k.res.Add(q)
			} else {
				k.prog.Add(q)
			}
			return q.Start
		}
		switch {
		case !ok:
			return Err(EINVAL)
		case flags&MapFixedNoReplace != 0:
			if k.occupied(q) {
				return Err(EEXIST)
			}
			return place(q)
		case flags&MapFixed != 0:
			return place(q)
		}
		q, _ = span(region.PageDown(addr), n)
		if q.Start != 0 && q.End <= region.UserEnd && !k.occupied(q) {
			return place(q)
		}
		top, bottom := uint64(0x7f0000000000), uint64(0x10000)
		if flags&Map32Bit != 0 {
			top, bottom = 0x80000000, 0x40000000
		}
		r, ok := k.freeTopDown(q.Len(), top, bottom)
		if !ok {
			return Err(ENOMEM)
		}
		return place(r)
	case OpMunmap:
		q, ok := span(c.Args[0], c.Args[1])
		if !ok || !aligned(c.Args[0]) {
			return Err(EINVAL)
		}
		k.res.Remove(q)
		k.prog.Remove(q)
		return 0
	}
	return 0
}

// run carries out an action the way the tracer will.
func (k *simKernel) run(g *Guard, c Call, who Caller) (*Action, uint64) {
	a := g.Decide(c, who)
	var ret uint64
	switch a.Verdict {
	case Allow:
		ret = k.exec(a.Call())
	case Return:
		ret = a.Ret
	case Run:
		for i, st := range a.Steps {
			ret = k.exec(st.Call)
			_, failed := Failed(c.ABI, ret)
			if st.OrElse {
				if !failed {
					break
				}
				continue
			}
			if failed && !st.Tolerate && !(st.Continue != 0 && ret == st.Continue) {
				if st.FailRet != 0 {
					ret = st.FailRet
				}
				for j := i - 1; j >= 0; j-- {
					for _, u := range a.Steps[j].Undo {
						k.exec(u)
					}
				}
				break
			}
		}
		if _, failed := Failed(c.ABI, ret); !failed && a.FixRet {
			ret = a.Ret
		}
	case Kill:
		return a, ret
	}
	if a.Exit {
		for _, after := range g.Complete(a, ret).After {
			g.Injected(after, k.exec(after))
		}
	}
	return a, ret
}

// TestGuardAgainstSimKernel runs random programs against the toy kernel
// through the guard and checks after every call that the guarded ranges
// hold nothing but reservations and what the program asked for there
// explicitly, that they have no holes, and that the guard's model is the
// kernel's truth.
func TestGuardAgainstSimKernel(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			simulate(t, rand.New(rand.NewPCG(seed, 99)), 400, opts{poolAll: seed%3 == 1, strict: seed%4 == 2})
		})
	}
}

func simulate(t *testing.T, rng *rand.Rand, n int, o opts) {
	g := newGuard(t, o)
	k := &simKernel{}
	k.prog.Add(region.Range{Start: exeLo, End: exeHi})
	for _, r := range g.Reserved() {
		k.res.Add(r)
	}
	var protected region.Set
	protected.Add(region.Range{Start: pLo, End: pHi})
	var explicit region.Set // what the program asked for by address
	explicit.Add(region.Range{Start: exeLo, End: exeHi})

	addrs := []uint64{0, pLo - 2*page, pLo, 0x10000000, pHi - page, pHi, poolLo, poolLo + 64*page, outsideLib, exeLo}
	for i := range n {
		base := addrs[rng.IntN(len(addrs))] + uint64(rng.IntN(8))*page
		length := uint64(1+rng.IntN(6)) * page
		if rng.IntN(10) == 0 {
			length = uint64(1+rng.IntN(3)) << 21
		}
		var c Call
		owner := rng.IntN(6) == 0
		switch rng.IntN(5) {
		case 0, 1:
			c = mmap(base, length, protRW, anonPriv, ^uint64(0), 0)
		case 2:
			c = mmap(base, length, protRW, anonPriv|MapFixed, ^uint64(0), 0)
		case 3:
			c = mmap(base, length, protRW, anonPriv|MapFixedNoReplace, ^uint64(0), 0)
		case 4:
			c = call64(sysMunmap64, base, length)
		}
		a, ret := k.run(g, c, Caller{Owner: owner})
		if _, failed := Failed(ABI64, ret); !failed && c.Op() == OpMmap && (c.Args[3]&(MapFixed|MapFixedNoReplace) != 0 || owner) {
			if r, ok := span(ret, c.Args[1]); ok {
				explicit.Add(r)
			}
		}
		step := fmt.Sprintf("step %d: %v owner=%v -> %v = %#x", i, c, owner, a, ret)
		// Nothing in a protected range but reservations and explicit requests.
		for r := range k.prog.All() {
			for in := range protected.Within(r) {
				if !explicit.Covers(in) {
					t.Fatalf("%s\nprogram mapping %v in protected range was never asked for there", step, in)
				}
			}
		}
		// No holes, and the model matches the kernel.
		for _, gr := range g.policy.Guarded() {
			for r := range k.res.Within(gr) {
				if !g.reserved.Covers(r) {
					t.Fatalf("%s\nkernel reservation %v unknown to the model", step, r)
				}
			}
			for r := range k.prog.Within(gr) {
				if !g.mapped.Covers(r) {
					t.Fatalf("%s\nkernel program mapping %v unknown to the model (mapped %v)", step, r, &g.mapped)
				}
			}
			for r := range g.reserved.Within(gr) {
				if !k.res.Covers(r) {
					t.Fatalf("%s\nmodel reservation %v not in the kernel", step, r)
				}
			}
			for hole := range k.res.Gaps(gr) {
				for h := range k.prog.Gaps(hole) {
					t.Fatalf("%s\nhole %v in guarded range %v", step, h, gr)
				}
			}
		}
		checkModel(t, g)
	}
}
