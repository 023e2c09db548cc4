package region

import (
	"math/rand/v2"
	"testing"
)

// maxMapCount is vm.max_map_count's default: the most mappings a process
// can have, and so the most ranges mmapguard's sets hold.
const maxMapCount = 65530

// benchLayout is a fragmented address space: maxMapCount ranges of 1 to 8
// pages with gaps of 3 to 8 pages between them, from 0x10000000 up.
type benchLayout struct {
	set    *Set
	ranges []Range
	gaps   []Range // gaps[i] lies just above ranges[i]
	span   Range
}

var layout *benchLayout

func fragmented(b *testing.B) *benchLayout {
	b.Helper()
	if layout != nil {
		return layout
	}
	rng := rand.New(rand.NewPCG(1, 2))
	l := &benchLayout{set: new(Set)}
	at := uint64(0x10000000)
	for range maxMapCount {
		r := Range{at, at + PageSize*(1+rng.Uint64N(8))}
		g := Range{r.End, r.End + PageSize*(3+rng.Uint64N(6))}
		l.ranges = append(l.ranges, r)
		l.gaps = append(l.gaps, g)
		l.set.Add(r)
		at = g.End
	}
	l.span = Range{0x10000000, at}
	if l.set.Len() != maxMapCount {
		b.Fatalf("layout has %d ranges", l.set.Len())
	}
	layout = l
	return l
}

// perm returns the indexes 0..n-1 in a fixed random order, so that
// benchmarks touch the tree all over rather than in address order.
func perm(n int) []int { return rand.New(rand.NewPCG(3, 4)).Perm(n) }

// mutating runs op b.N times over a fresh copy of the layout, taking a
// new copy (with the timer stopped) after each maxMapCount operations.
func mutating(b *testing.B, op func(s *Set, l *benchLayout, i int)) {
	l := fragmented(b)
	order := perm(maxMapCount)
	var s *Set
	b.ResetTimer()
	for i := range b.N {
		k := i % maxMapCount
		if k == 0 {
			b.StopTimer()
			s = l.set.Clone()
			b.StartTimer()
		}
		op(s, l, order[k])
	}
}

func BenchmarkSetAdd(b *testing.B) {
	b.Run("insert", func(b *testing.B) {
		// A page in the middle of a gap: a new range of its own.
		mutating(b, func(s *Set, l *benchLayout, i int) {
			g := l.gaps[i]
			s.Add(Range{g.Start + PageSize, g.Start + 2*PageSize})
		})
	})
	b.Run("merge", func(b *testing.B) {
		// Fill a gap: its two neighbours become one range.
		mutating(b, func(s *Set, l *benchLayout, i int) { s.Add(l.gaps[i]) })
	})
	b.Run("noop", func(b *testing.B) {
		l := fragmented(b)
		order := perm(maxMapCount)
		b.ResetTimer()
		for i := range b.N {
			l.set.Add(l.ranges[order[i%maxMapCount]])
		}
	})
}

func BenchmarkSetRemove(b *testing.B) {
	b.Run("delete", func(b *testing.B) {
		mutating(b, func(s *Set, l *benchLayout, i int) { s.Remove(l.ranges[i]) })
	})
	b.Run("split", func(b *testing.B) {
		// One page out of the middle (or the end, for short ranges).
		mutating(b, func(s *Set, l *benchLayout, i int) {
			r := l.ranges[i]
			mid := PageDown(r.Start + r.Len()/2)
			s.Remove(Range{mid, mid + PageSize})
		})
	})
}

func BenchmarkSetOverlaps(b *testing.B) {
	l := fragmented(b)
	rng := rand.New(rand.NewPCG(5, 6))
	qs := make([]Range, 4096)
	for i := range qs {
		a := l.span.Start + PageSize*rng.Uint64N(l.span.Len()/PageSize)
		qs[i] = Range{a, a + PageSize*(1+rng.Uint64N(4))}
	}
	b.ResetTimer()
	hits := 0
	for i := range b.N {
		if l.set.Overlaps(qs[i%len(qs)]) {
			hits++
		}
	}
	if hits == 0 {
		b.Fatal("no query overlapped")
	}
}

func BenchmarkSetFirstFit(b *testing.B) {
	l := fragmented(b)
	// One range big enough for the large requests, at the very top.
	top := Range{l.span.End + PageSize, l.span.End + PageSize + 8*HugePageSize}
	s := l.set.Clone()
	s.Add(top)
	all := Range{0, UserEnd}
	rng := rand.New(rand.NewPCG(7, 8))
	starts := make([]Range, 4096)
	for i := range starts {
		starts[i] = Range{l.span.Start + PageSize*rng.Uint64N(l.span.Len()/PageSize), UserEnd}
	}
	cases := []struct {
		name        string
		within      func(i int) Range
		size, align uint64
	}{
		{"page from a random start", func(i int) Range { return starts[i%len(starts)] }, PageSize, PageSize},
		{"8 pages, first ranges too short", func(int) Range { return all }, 8 * PageSize, PageSize},
		{"9 pages, only the top fits", func(int) Range { return all }, 9 * PageSize, PageSize},
		{"2M aligned, only the top fits", func(int) Range { return all }, HugePageSize, HugePageSize},
		{"4 pages 16K-aligned", func(int) Range { return all }, 4 * PageSize, 4 * PageSize},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if _, ok := s.FirstFit(c.within(0), c.size, c.align); !ok {
				b.Fatal("no fit")
			}
			for i := range b.N {
				s.FirstFit(c.within(i), c.size, c.align)
			}
		})
	}
}

func BenchmarkPoolAllocFree(b *testing.B) {
	l := fragmented(b)
	// A pool whose used parts are the layout's ranges: its free set is the
	// gaps, maxMapCount pieces of 3 to 8 pages, plus a large top.
	p := NewPool(Range{l.span.Start, l.span.End + 64*HugePageSize})
	for _, r := range l.ranges {
		p.Take(r)
	}
	sizes := []uint64{PageSize, 3 * PageSize, 5 * PageSize, 8 * PageSize}
	b.Run("small", func(b *testing.B) {
		for i := range b.N {
			r, err := p.Alloc(sizes[i%len(sizes)])
			if err != nil {
				b.Fatal(err)
			}
			p.Free(r)
		}
	})
	b.Run("2M", func(b *testing.B) {
		for range b.N {
			r, err := p.Alloc(HugePageSize)
			if err != nil {
				b.Fatal(err)
			}
			p.Free(r)
		}
	})
	b.Run("fill and drain", func(b *testing.B) {
		// Many live chunks: 1024 allocations, then all freed.
		live := make([]Range, 0, 1024)
		for i := range b.N {
			r, err := p.Alloc(sizes[i%len(sizes)])
			if err != nil {
				b.Fatal(err)
			}
			live = append(live, r)
			if len(live) == cap(live) {
				for _, r := range live {
					p.Free(r)
				}
				live = live[:0]
			}
		}
		for _, r := range live {
			p.Free(r)
		}
	})
}
