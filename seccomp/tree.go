package seccomp

import (
	"golang.org/x/net/bpf"

	"github.com/mmapguard/mmapguard/region"
)

// The range tests, on 64-bit values held as 32-bit halves in scratch
// memory.
//
// The ranges are sorted, disjoint and not touching. For an address a, let
// i be the first range whose End is above a. Ranges before i end at or
// below a; so [a, e) overlaps some range iff i exists and e > Start(i)
// (a later range starts even higher), and a lies in some range iff i
// exists and a >= Start(i). search finds i with a binary search over the
// Ends, so a call runs O(log n) comparisons and the program holds one
// comparison per range plus one test per range at the leaves.
//
// A 64-bit comparison of x with a constant K = kh:kl is made from 32-bit
// ones: compare the high words; only if they are equal, compare the low
// words.

// acc records what the accumulator is known to hold at a point of the
// program, so that a load can be skipped.
type acc uint8

const (
	accUnknown acc = iota
	accAddrHi      // the high word of the address
)

// search emits the binary search over rs (which must be non-empty) for
// the first range whose End is above the address in M[addr.*]. For each
// candidate i, leaf(i, st) emits the final test; when no range ends above
// the address, control goes to none.
func (g *gen) search(rs []region.Range, st acc, leaf func(i int, st acc), none label) {
	var walk func(lo, hi int, st acc)
	// The answer is known to lie in [lo, hi]; len(rs) stands for none.
	walk = func(lo, hi int, st acc) {
		if lo == hi {
			leaf(lo, st)
			return
		}
		mid := (lo + hi) / 2
		child := func(lo, hi int) label {
			if lo == hi && lo == len(rs) {
				return none
			}
			return g.a.newLabel()
		}
		yes, no := child(lo, mid), child(mid+1, hi)
		stYes, stNo := g.addrBelow(rs[mid].End, st, yes, no)
		if yes != none {
			g.a.bind(yes)
			walk(lo, mid, stYes)
		}
		if no != none {
			g.a.bind(no)
			walk(mid+1, hi, stNo)
		}
	}
	walk(0, len(rs), st)
}

// addrBelow emits "if addr < k goto yes else goto no" and returns what A
// holds on arrival at yes and at no.
func (g *gen) addrBelow(k uint64, st acc, yes, no label) (acc, acc) {
	a := &g.a
	kh, kl := uint32(k>>32), uint32(k)
	if st != accAddrHi {
		a.ldMem(slotAddrHi, "")
	}
	if kl == 0 {
		a.jumpIf(bpf.JumpGreaterOrEqual, kh, no, yes, "addr >= "+hex(k)+"?")
		return accAddrHi, accAddrHi
	}
	eq, low := a.newLabel(), a.newLabel()
	a.jumpIf(bpf.JumpGreaterThan, kh, no, eq, "addr >= "+hex(k)+"?")
	a.bind(eq)
	a.jumpIf(bpf.JumpEqual, kh, low, yes, "")
	a.bind(low)
	a.ldMem(slotAddrLo, "")
	a.jumpIf(bpf.JumpGreaterOrEqual, kl, no, yes, "")
	return accUnknown, accUnknown
}

// addrAtLeast emits "if addr >= k goto yes else goto no".
func (g *gen) addrAtLeast(k uint64, st acc, yes, no label) {
	a := &g.a
	if k == 0 {
		a.jump(yes, "")
		return
	}
	kh, kl := uint32(k>>32), uint32(k)
	if st != accAddrHi {
		a.ldMem(slotAddrHi, "")
	}
	if kl == 0 {
		a.jumpIf(bpf.JumpGreaterOrEqual, kh, yes, no, "addr >= "+hex(k)+"?")
		return
	}
	eq, low := a.newLabel(), a.newLabel()
	a.jumpIf(bpf.JumpGreaterThan, kh, yes, eq, "addr >= "+hex(k)+"?")
	a.bind(eq)
	a.jumpIf(bpf.JumpEqual, kh, low, no, "")
	a.bind(low)
	a.ldMem(slotAddrLo, "")
	a.jumpIf(bpf.JumpGreaterOrEqual, kl, yes, no, "")
}

// endAbove emits "if end > k goto yes else goto no".
func (g *gen) endAbove(k uint64, yes, no label) {
	a := &g.a
	kh, kl := uint32(k>>32), uint32(k)
	low := a.newLabel()
	a.ldMem(slotEndHi, "")
	if kh == 0 {
		// end.hi > 0, or else end.hi == 0 and the low words decide.
		a.jumpIf(bpf.JumpGreaterThan, 0, yes, low, "end > "+hex(k)+"?")
	} else {
		eq := a.newLabel()
		a.jumpIf(bpf.JumpGreaterThan, kh, yes, eq, "end > "+hex(k)+"?")
		a.bind(eq)
		a.jumpIf(bpf.JumpEqual, kh, low, no, "")
	}
	a.bind(low)
	a.ldMem(slotEndLo, "")
	a.jumpIf(bpf.JumpGreaterThan, kl, yes, no, "")
}
