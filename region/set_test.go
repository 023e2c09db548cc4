package region

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// pages builds a Range from page numbers, to keep tables short.
func pages(lo, hi uint64) Range { return Range{lo * PageSize, hi * PageSize} }

func collect(seq func(func(Range) bool)) []Range {
	var out []Range
	seq(func(r Range) bool { out = append(out, r); return true })
	return out
}

func TestSetAdd(t *testing.T) {
	tests := []struct {
		name string
		add  []Range
		want []Range
	}{
		{"empty set", nil, nil},
		{"empty range is ignored", []Range{{0x5000, 0x5000}, {0x6000, 0x5000}}, nil},
		{"one range", []Range{pages(1, 3)}, []Range{pages(1, 3)}},
		{"disjoint kept apart and sorted", []Range{pages(5, 6), pages(1, 2)}, []Range{pages(1, 2), pages(5, 6)}},
		{"touching on the right merge", []Range{pages(1, 2), pages(2, 3)}, []Range{pages(1, 3)}},
		{"touching on the left merge", []Range{pages(2, 3), pages(1, 2)}, []Range{pages(1, 3)}},
		{"overlap merges", []Range{pages(1, 4), pages(3, 6)}, []Range{pages(1, 6)}},
		{"contained is a no-op", []Range{pages(1, 9), pages(3, 4)}, []Range{pages(1, 9)}},
		{"covering swallows several", []Range{pages(2, 3), pages(5, 6), pages(8, 9), pages(12, 13), pages(1, 10)},
			[]Range{pages(1, 10), pages(12, 13)}},
		{"bridge joins two", []Range{pages(1, 3), pages(5, 7), pages(3, 5)}, []Range{pages(1, 7)}},
		{"bridge joins many", []Range{pages(0, 1), pages(2, 3), pages(4, 5), pages(6, 7), pages(1, 6)}, []Range{pages(0, 7)}},
		{"same range twice", []Range{pages(4, 8), pages(4, 8)}, []Range{pages(4, 8)}},
		{"up to the top of the address space", []Range{{^uint64(0) - 0x1fff, ^uint64(0)}, {0, 0x1000}},
			[]Range{{0, 0x1000}, {^uint64(0) - 0x1fff, ^uint64(0)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Set
			for _, r := range tt.add {
				s.Add(r)
				checkSet(t, &s)
			}
			if got := s.Ranges(); !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetRemove(t *testing.T) {
	base := []Range{pages(2, 4), pages(6, 10), pages(12, 14)}
	tests := []struct {
		name   string
		remove Range
		want   []Range
	}{
		{"empty range", Range{}, base},
		{"outside", pages(20, 30), base},
		{"in a gap", pages(4, 6), base},
		{"whole range", pages(6, 10), []Range{pages(2, 4), pages(12, 14)}},
		{"trim the start", pages(5, 7), []Range{pages(2, 4), pages(7, 10), pages(12, 14)}},
		{"trim the end", pages(9, 11), []Range{pages(2, 4), pages(6, 9), pages(12, 14)}},
		{"split", pages(7, 8), []Range{pages(2, 4), pages(6, 7), pages(8, 10), pages(12, 14)}},
		{"across several", pages(3, 13), []Range{pages(2, 3), pages(13, 14)}},
		{"everything", pages(0, 100), nil},
		{"exactly the span", pages(2, 14), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := SetOf(base...)
			s.Remove(tt.remove)
			checkSet(t, s)
			if got := s.Ranges(); !slices.Equal(got, tt.want) && len(got)+len(tt.want) > 0 {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSetQueries(t *testing.T) {
	s := SetOf(pages(2, 4), pages(6, 10), pages(12, 14))
	tests := []struct {
		name     string
		r        Range
		overlaps bool
		covers   bool
		within   []Range
		gaps     []Range
	}{
		{"empty range", Range{0x7000, 0x7000}, false, true, nil, nil},
		{"below everything", pages(0, 2), false, false, nil, []Range{pages(0, 2)}},
		{"in a gap", pages(4, 6), false, false, nil, []Range{pages(4, 6)}},
		{"inside one range", pages(7, 9), true, true, []Range{pages(7, 9)}, nil},
		{"exactly one range", pages(6, 10), true, true, []Range{pages(6, 10)}, nil},
		{"straddles a start", pages(5, 7), true, false, []Range{pages(6, 7)}, []Range{pages(5, 6)}},
		{"straddles an end", pages(9, 11), true, false, []Range{pages(9, 10)}, []Range{pages(10, 11)}},
		{"spans a gap", pages(3, 7), true, false, []Range{pages(3, 4), pages(6, 7)}, []Range{pages(4, 6)}},
		{"everything", pages(0, 20), true, false,
			[]Range{pages(2, 4), pages(6, 10), pages(12, 14)},
			[]Range{pages(0, 2), pages(4, 6), pages(10, 12), pages(14, 20)}},
		{"above everything", pages(14, 15), false, false, nil, []Range{pages(14, 15)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Overlaps(tt.r); got != tt.overlaps {
				t.Errorf("Overlaps(%v) = %v", tt.r, got)
			}
			if got := s.Covers(tt.r); got != tt.covers {
				t.Errorf("Covers(%v) = %v", tt.r, got)
			}
			if got := collect(s.Within(tt.r)); !slices.Equal(got, tt.within) {
				t.Errorf("Within(%v) = %v, want %v", tt.r, got, tt.within)
			}
			if got := collect(s.Gaps(tt.r)); !slices.Equal(got, tt.gaps) {
				t.Errorf("Gaps(%v) = %v, want %v", tt.r, got, tt.gaps)
			}
		})
	}

	for _, tt := range []struct {
		a    uint64
		want Range
		ok   bool
	}{
		{0, Range{}, false},
		{2 * PageSize, pages(2, 4), true},
		{4*PageSize - 1, pages(2, 4), true},
		{4 * PageSize, Range{}, false},
		{13 * PageSize, pages(12, 14), true},
		{^uint64(0), Range{}, false},
	} {
		got, ok := s.Find(tt.a)
		if got != tt.want || ok != tt.ok || s.ContainsAddr(tt.a) != tt.ok {
			t.Errorf("Find(%#x) = %v, %v; want %v, %v", tt.a, got, ok, tt.want, tt.ok)
		}
	}
	if s.Len() != 3 || s.Total() != 8*PageSize || s.Largest() != 4*PageSize {
		t.Errorf("Len, Total, Largest = %d, %#x, %#x", s.Len(), s.Total(), s.Largest())
	}
	if got := s.String(); got != "{0x2000-0x4000 0x6000-0xa000 0xc000-0xe000}" {
		t.Errorf("String = %q", got)
	}
	if got := new(Set).String(); got != "{}" {
		t.Errorf("empty String = %q", got)
	}
}

func TestSetFirstFit(t *testing.T) {
	s := SetOf(pages(1, 3), pages(5, 6), pages(9, 20), pages(0x200, 0x400), pages(0x500, 0x800))
	tests := []struct {
		name        string
		within      Range
		size, align uint64
		want        Range
		ok          bool
	}{
		{"one page, lowest", pages(0, 0x1000), PageSize, PageSize, pages(1, 2), true},
		{"three pages skip the short ranges", pages(0, 0x1000), 3 * PageSize, 0, pages(9, 12), true},
		{"within cuts the front", pages(2, 0x1000), 2 * PageSize, PageSize, pages(9, 11), true},
		{"within starts mid-range", pages(10, 0x1000), 2 * PageSize, PageSize, pages(10, 12), true},
		{"alignment moves the start", pages(0, 0x1000), PageSize, 4 * PageSize, pages(12, 13), true},
		{"huge alignment", pages(0, 0x1000), 0x200000, 0x200000, pages(0x200, 0x400), true},
		{"huge alignment skips misaligned", pages(0x201, 0x1000), 0x200000, 0x200000, pages(0x600, 0x800), true},
		{"exact fit", pages(0, 0x1000), 0x300 * PageSize, PageSize, pages(0x500, 0x800), true},
		{"too big", pages(0, 0x1000), 0x301 * PageSize, PageSize, Range{}, false},
		{"within cuts the end", pages(0, 0x7ff), 0x300 * PageSize, PageSize, Range{}, false},
		{"within in a gap", pages(3, 5), PageSize, PageSize, Range{}, false},
		{"zero size", pages(0, 0x1000), 0, PageSize, Range{}, false},
		{"align not a power of two", pages(0, 0x1000), PageSize, 3 * PageSize, Range{}, false},
		{"empty within", Range{}, PageSize, PageSize, Range{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.FirstFit(tt.within, tt.size, tt.align)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("FirstFit(%v, %#x, %#x) = %v, %v; want %v, %v", tt.within, tt.size, tt.align, got, ok, tt.want, tt.ok)
			}
		})
	}
	if _, ok := SetOf(Range{^uint64(0) - 0x2fff, ^uint64(0)}).FirstFit(Range{0, ^uint64(0)}, PageSize, 1<<63); ok {
		t.Error("FirstFit with an alignment that overflows found a place")
	}
}

func TestSetIteratorsStopEarly(t *testing.T) {
	s := SetOf(pages(1, 2), pages(3, 4), pages(5, 6))
	for _, seq := range []func(func(Range) bool){s.All(), s.Within(pages(0, 10)), s.Gaps(pages(0, 10))} {
		n := 0
		for range seq {
			n++
			break
		}
		if n != 1 {
			t.Errorf("loop ran %d times after break", n)
		}
	}
}

func TestSetChangeWhileIterating(t *testing.T) {
	t.Run("fill the gaps", func(t *testing.T) {
		s := SetOf(pages(1, 2), pages(3, 4), pages(5, 6), pages(8, 9))
		var got []Range
		for g := range s.Gaps(pages(0, 10)) {
			got = append(got, g)
			s.Add(g)
		}
		checkSet(t, s)
		want := []Range{pages(0, 1), pages(2, 3), pages(4, 5), pages(6, 8), pages(9, 10)}
		if !slices.Equal(got, want) || !slices.Equal(s.Ranges(), []Range{pages(0, 10)}) {
			t.Fatalf("gaps %v, set %v", got, s)
		}
	})
	t.Run("remove each range", func(t *testing.T) {
		s := SetOf(pages(1, 2), pages(3, 4), pages(5, 6), pages(8, 9))
		var got []Range
		for r := range s.All() {
			got = append(got, r)
			s.Remove(r)
		}
		if len(got) != 4 || s.Len() != 0 {
			t.Fatalf("saw %v, left %v", got, s)
		}
	})
	t.Run("additions above are seen", func(t *testing.T) {
		s := SetOf(pages(1, 2))
		var got []Range
		for r := range s.All() {
			got = append(got, r)
			if r.End < 5*PageSize {
				s.Add(Range{r.End + PageSize, r.End + 2*PageSize})
			}
		}
		want := []Range{pages(1, 2), pages(3, 4), pages(5, 6)}
		if !slices.Equal(got, want) {
			t.Fatalf("saw %v, want %v", got, want)
		}
	})
}

func TestSetCloneAndEqual(t *testing.T) {
	s := SetOf(pages(1, 2), pages(4, 8))
	c := s.Clone()
	if !s.Equal(c) {
		t.Fatal("clone differs")
	}
	c.Add(pages(2, 4))
	c.Remove(pages(5, 6))
	if s.String() != "{0x1000-0x2000 0x4000-0x8000}" || s.Equal(c) {
		t.Fatalf("changing the clone changed the original: %v", s)
	}
	checkSet(t, s)
	checkSet(t, c)
	s.Clear()
	if s.Len() != 0 || s.Total() != 0 || !s.Equal(new(Set)) {
		t.Fatalf("Clear left %v", s)
	}
}

// checkSet verifies the tree's invariants: in-order ranges are non-empty,
// ascending, disjoint and not touching; heights are right; the tree is
// AVL-balanced; parent links match child links; every node is either in
// the tree or on the spare list, and the sentinel is untouched; the hint
// for searches is a node in the tree; Len and Total match. The max-length augmentation is checked twice: as it
// stands, where a node not marked stale must have a right maxLen and no
// stale node below it, and in a settled clone (leaving s's stale marks to
// pile up), where every maxLen must be right.
func checkSet(t testing.TB, s *Set) {
	t.Helper()
	checkTree(t, s)
	c := s.Clone()
	c.settle(c.root)
	checkTree(t, c)
}

func checkTree(t testing.TB, s *Set) {
	t.Helper()
	var prev *node
	count, total, sawLast := 0, uint64(0), false
	var walk func(i, parent int32) (int8, uint64)
	walk = func(i, parent int32) (int8, uint64) {
		if i == 0 {
			return 0, 0
		}
		sawLast = sawLast || i == s.last
		n := &s.nodes[i]
		if n.parent != parent {
			t.Fatalf("node %#x-%#x has the wrong parent", n.start, n.end)
		}
		if n.stale && parent != 0 && !s.nodes[parent].stale {
			t.Fatalf("node %#x-%#x is stale but its parent is not", n.start, n.end)
		}
		hl, ml := walk(n.left, i)
		if n.start >= n.end {
			t.Fatalf("empty or reversed node %#x-%#x", n.start, n.end)
		}
		if prev != nil && prev.end >= n.start {
			t.Fatalf("nodes %#x-%#x and %#x-%#x overlap, touch or are out of order", prev.start, prev.end, n.start, n.end)
		}
		prev = n
		count++
		total += n.end - n.start
		hr, mr := walk(n.right, i)
		if d := hl - hr; d < -1 || d > 1 {
			t.Fatalf("node %#x unbalanced: heights %d, %d", n.start, hl, hr)
		}
		if h := 1 + max(hl, hr); n.height != h {
			t.Fatalf("node %#x height %d, want %d", n.start, n.height, h)
		}
		m := max(n.end-n.start, ml, mr)
		if n.stale {
			return n.height, m
		}
		if n.maxLen != m {
			t.Fatalf("node %#x maxLen %#x, want %#x", n.start, n.maxLen, m)
		}
		return n.height, n.maxLen
	}
	walk(s.root, 0)
	if s.last != 0 && !sawLast {
		t.Fatalf("search hint %d is not a node in the tree", s.last)
	}
	if count != s.Len() || total != s.Total() {
		t.Fatalf("Len, Total = %d, %#x; the tree holds %d, %#x", s.Len(), s.Total(), count, total)
	}
	spare := 0
	for i := s.spare; i != 0; i = s.nodes[i].right {
		spare++
	}
	if len(s.nodes) > 0 && (s.nodes[0] != node{} || count+spare != len(s.nodes)-1) {
		t.Fatalf("%d nodes: %d in the tree, %d spare, sentinel %+v", len(s.nodes), count, spare, s.nodes[0])
	}
}

// model is the naive reference: one bool per page of a small universe.
type model []bool

func (m model) set(r Range, v bool) {
	for p := r.Start / PageSize; p < r.End/PageSize; p++ {
		m[p] = v
	}
}

func (m model) ranges(within Range) []Range {
	var out []Range
	for p := within.Start / PageSize; p < within.End/PageSize; p++ {
		if !m[p] {
			continue
		}
		if n := len(out); n > 0 && out[n-1].End == p*PageSize {
			out[n-1].End += PageSize
		} else {
			out = append(out, pages(p, p+1))
		}
	}
	return out
}

func (m model) gaps(within Range) []Range {
	inv := make(model, len(m))
	for i := range m {
		inv[i] = !m[i]
	}
	return inv.ranges(within)
}

func (m model) firstFit(within Range, size, align uint64) (Range, bool) {
	n, a := size/PageSize, align/PageSize
	lo, hi := within.Start/PageSize, within.End/PageSize
	for p := (lo + a - 1) / a * a; p+n <= hi; p += a {
		if !slices.Contains(m[p:p+n], false) {
			return pages(p, p+n), true
		}
	}
	return Range{}, false
}

// randomRange picks a page range in [0, universe] pages, sometimes empty.
func randomRange(rng *rand.Rand, universe uint64) Range {
	a, b := rng.Uint64N(universe+1), rng.Uint64N(universe+1)
	if rng.IntN(4) == 0 { // mostly short ranges, to keep the set fragmented
		b = min(a+rng.Uint64N(4), universe)
	}
	if a > b {
		a, b = b, a
	}
	return pages(a, b)
}

// step applies one operation, chosen by op, to s and m and compares them.
func step(t testing.TB, s *Set, m model, op byte, r Range, size, align uint64) {
	t.Helper()
	universe := pages(0, uint64(len(m)))
	switch op % 8 {
	case 0:
		s.Add(r)
		m.set(r, true)
	case 1:
		had := m.ranges(r)
		if got := s.AddAppend(nil, r); !slices.Equal(got, had) {
			t.Fatalf("%v: AddAppend(%v) reported %v, want %v", s, r, got, had)
		}
		m.set(r, true)
	case 2:
		s.Remove(r)
		m.set(r, false)
	case 3:
		had := m.ranges(r)
		if got := s.RemoveAppend(nil, r); !slices.Equal(got, had) {
			t.Fatalf("%v: RemoveAppend(%v) reported %v, want %v", s, r, got, had)
		}
		m.set(r, false)
	case 4:
		wantOverlap := len(m.ranges(r)) > 0
		wantCover := r.Empty() || slices.Equal(m.ranges(r), []Range{r})
		if s.Overlaps(r) != wantOverlap || s.Covers(r) != wantCover {
			t.Fatalf("%v: Overlaps(%v) = %v, Covers = %v; want %v, %v", s, r, s.Overlaps(r), s.Covers(r), wantOverlap, wantCover)
		}
		a := r.Start
		if got, want := s.ContainsAddr(a), a < universe.End && m[a/PageSize]; got != want {
			t.Fatalf("%v: ContainsAddr(%#x) = %v", s, a, got)
		}
	case 5:
		if got, want := collect(s.Within(r)), m.ranges(r); !slices.Equal(got, want) {
			t.Fatalf("%v: Within(%v) = %v, want %v", s, r, got, want)
		}
		if got, want := collect(s.Gaps(r)), m.gaps(r); !slices.Equal(got, want) {
			t.Fatalf("%v: Gaps(%v) = %v, want %v", s, r, got, want)
		}
		want := m.ranges(r)
		if got, ok := s.FirstWithin(r); ok != (len(want) > 0) || ok && got != want[0] {
			t.Fatalf("%v: FirstWithin(%v) = %v, %v; want the first of %v", s, r, got, ok, want)
		}
	default:
		got, ok := s.FirstFit(r, size, align)
		want, wantOK := m.firstFit(r, size, align)
		if got != want || ok != wantOK {
			t.Fatalf("%v: FirstFit(%v, %#x, %#x) = %v, %v; want %v, %v", s, r, size, align, got, ok, want, wantOK)
		}
	}
	checkSet(t, s)
	if got, want := s.Ranges(), m.ranges(universe); !slices.Equal(got, want) {
		t.Fatalf("after op %d on %v: set %v, model %v", op%8, r, got, want)
	}
}

func TestSetRandomAgainstModel(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0x5e7))
			const universe = 256
			var s Set
			m := make(model, universe)
			for range 2000 {
				size := PageSize * (1 + rng.Uint64N(8))
				align := PageSize << rng.IntN(4)
				step(t, &s, m, byte(rng.IntN(8)), randomRange(rng, universe), size, align)
			}
		})
	}
}

// TestSetRandomLargeAgainstModel is TestSetRandomAgainstModel with a
// larger universe and mostly short ranges, so the tree grows deeper, and
// with fewer FirstFit calls, so stale maxLen marks pile up between the
// calls that settle them.
func TestSetRandomLargeAgainstModel(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0xb16))
			const universe = 2048
			var s Set
			m := make(model, universe)
			for i := range 3000 {
				size := PageSize * (1 + rng.Uint64N(8))
				align := PageSize << rng.IntN(4)
				r := randomRange(rng, universe)
				if rng.IntN(3) > 0 {
					a := rng.Uint64N(universe)
					r = pages(a, min(a+1+rng.Uint64N(3), universe))
				}
				op := byte(rng.IntN(8))
				switch {
				case op >= 6 && rng.IntN(4) > 0:
					op = byte(rng.IntN(4)) // FirstFit a quarter as often
				case i < 1500 && op >= 2 && op <= 3 && rng.IntN(2) == 0:
					op = 0 // grow first
				}
				step(t, &s, m, op, r, size, align)
			}
		})
	}
}

func FuzzSet(f *testing.F) {
	f.Add([]byte{0, 1, 5, 0, 10, 20, 2, 3, 4, 6, 0, 50, 7, 0, 64})
	f.Add([]byte{0, 0, 63, 2, 10, 11, 2, 20, 21, 5, 0, 63, 6, 0, 63, 7, 5, 40})
	f.Add([]byte{1, 5, 6, 1, 7, 8, 1, 6, 7, 4, 5, 8, 5, 4, 9, 3, 0, 64})
	f.Add([]byte{0, 0, 8, 0, 16, 24, 0, 32, 40, 0, 48, 56, 6, 0, 64, 7, 1, 64, 3, 4, 52, 5, 0, 64})
	f.Add(bytes255())
	f.Fuzz(func(t *testing.T, ops []byte) {
		const universe = 64
		var s Set
		m := make(model, universe)
		for i := 0; i+2 < len(ops); i += 3 {
			op := ops[i]
			a, b := uint64(ops[i+1])%(universe+1), uint64(ops[i+2])%(universe+1)
			if a > b {
				a, b = b, a
			}
			size := PageSize * (1 + uint64(op>>3)%8)
			align := PageSize << (op >> 6)
			step(t, &s, m, op, pages(a, b), size, align)
		}
	})
}

func bytes255() []byte {
	b := make([]byte, 255)
	for i := range b {
		b[i] = byte(i * 37)
	}
	return b
}

func ExampleSet() {
	var s Set
	s.Add(Must(0x10000, 0x20000))
	s.Add(Must(0x30000, 0x40000))
	s.Add(Must(0x20000, 0x24000)) // touches the first range: merged
	s.Remove(Must(0x34000, 0x38000))
	fmt.Println(s.String(), s.Len(), FormatSize(s.Total()))
	for g := range s.Gaps(Must(0x0, 0x50000)) {
		fmt.Println("gap", g)
	}
	fmt.Println(s.Covers(Must(0x11000, 0x23000)), s.Overlaps(Must(0x24000, 0x30000)))
	// Output:
	// {0x10000-0x24000 0x30000-0x34000 0x38000-0x40000} 3 128K
	// gap 0x0-0x10000
	// gap 0x24000-0x30000
	// gap 0x34000-0x38000
	// gap 0x40000-0x50000
	// true false
}
