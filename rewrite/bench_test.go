package rewrite

import (
	"math/rand/v2"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// benchGuard is a guard over a process at the kernel's vm.max_map_count:
// 65,530 mappings, half of them inside the protected range with gaps
// between them, so the model holds ~32k program mappings and as many
// reservations.
func benchGuard(b *testing.B, o opts) *Guard {
	b.Helper()
	p, err := NewPolicy([]region.Range{{Start: pLo, End: pHi}}, region.Range{Start: poolLo, End: poolHi}, o.poolAll, o.strict)
	if err != nil {
		b.Fatal(err)
	}
	g := NewGuard(p)
	const n = 65530
	maps := make([]region.Mapping, 0, n)
	for i := range uint64(n / 2) {
		start := uint64(0x1000000) + i*3*page
		maps = append(maps, region.Mapping{Range: region.Range{Start: start, End: start + page}, Perms: "rw-p"})
	}
	for i := range uint64(n - n/2) {
		start := uint64(0x7e0000000000) + i*2*page
		maps = append(maps, region.Mapping{Range: region.Range{Start: start, End: start + page}, Perms: "r--p", Path: "/usr/lib/libx.so"})
	}
	calls, _ := g.Reserve(ABI64, maps)
	for _, c := range calls {
		g.Injected(c, c.Args[0])
	}
	if g.mapped.Len() < n/2 || g.reserved.Len() < n/2 {
		b.Fatalf("model too small: %d mapped, %d reserved", g.mapped.Len(), g.reserved.Len())
	}
	b.ReportAllocs()
	b.ResetTimer()
	return g
}

// BenchmarkDecideAllow is a call that needs no change: an mprotect of a
// program mapping inside the protected range.
func BenchmarkDecideAllow(b *testing.B) {
	g := benchGuard(b, opts{})
	c := call64(sysMprotect64, 0x1000000+3000*3*page, page, protRW)
	for b.Loop() {
		if a := g.Decide(c, Caller{}); a.Verdict != Allow {
			b.Fatal(a)
		}
	}
}

// BenchmarkDecideDenyReservation is an mprotect aimed at a reservation.
func BenchmarkDecideDenyReservation(b *testing.B) {
	g := benchGuard(b, opts{})
	c := call64(sysMprotect64, 0x1000000+3000*3*page+page, page, protRW)
	for b.Loop() {
		if a := g.Decide(c, Caller{}); a.Verdict != Return {
			b.Fatal(a)
		}
	}
}

// BenchmarkDecideReroute is a hint into the protected range moved to the
// pool, completed, and unmapped again (two decisions per iteration).
func BenchmarkDecideReroute(b *testing.B) {
	g := benchGuard(b, opts{})
	c := mmap(0x20000000, 16*page, protRW, anonPriv, ^uint64(0), 0)
	for b.Loop() {
		a := g.Decide(c, Caller{})
		if a.Verdict != Run || a.Outcome != Rerouted {
			b.Fatal(a)
		}
		addr := a.Steps[0].Call.Args[0]
		g.Complete(a, addr)
		if u := g.Decide(call64(sysMunmap64, addr, 16*page), Caller{}); u.Verdict != Run {
			b.Fatal(u)
		}
	}
}

// BenchmarkDecideFixed is an explicit MAP_FIXED into the protected range,
// completed, then unmapped (two decisions per iteration).
func BenchmarkDecideFixed(b *testing.B) {
	g := benchGuard(b, opts{})
	addr := uint64(0x1000000 + 5000*3*page + page) // a reservation between two mappings
	c := mmap(addr, 2*page, protRW, anonPriv|MapFixed, ^uint64(0), 0)
	for b.Loop() {
		a := g.Decide(c, Caller{})
		g.Complete(a, addr)
		if u := g.Decide(call64(sysMunmap64, addr, 2*page), Caller{}); u.Verdict != Run {
			b.Fatal(u)
		}
	}
}

// BenchmarkDecideMunmapProgram unmaps the program's own mappings inside
// the protected range, a different one each time and in random order, so
// that each decision (one per iteration) walks a path of the model that
// is not in the cache. The mappings are put back, untimed, when all have
// been unmapped.
func BenchmarkDecideMunmapProgram(b *testing.B) {
	g := benchGuard(b, opts{})
	order := rand.New(rand.NewPCG(1, 2)).Perm(65530 / 2)
	addr := func(i int) uint64 { return 0x1000000 + uint64(order[i])*3*page }
	i := 0
	for b.Loop() {
		if i == len(order) {
			b.StopTimer()
			for i := range order {
				a := g.Decide(mmap(addr(i), page, protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{})
				g.Complete(a, addr(i))
			}
			i = 0
			b.StartTimer()
		}
		if a := g.Decide(call64(sysMunmap64, addr(i), page), Caller{}); a.Verdict != Run {
			b.Fatal(a)
		}
		i++
	}
}

// BenchmarkGuardFork copies the model for a forked child.
func BenchmarkGuardFork(b *testing.B) {
	g := benchGuard(b, opts{})
	for b.Loop() {
		if c, _ := g.Fork(ABI64); c.mapped.Len() != g.mapped.Len() {
			b.Fatal("fork lost mappings")
		}
	}
}
