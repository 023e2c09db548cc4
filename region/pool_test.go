package region

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const mib = 1 << 20

func mustAlloc(t *testing.T, p *Pool, size uint64) Range {
	t.Helper()
	r, err := p.Alloc(size)
	if err != nil {
		t.Fatalf("Alloc(%#x): %v", size, err)
	}
	return r
}

func TestPoolAlloc(t *testing.T) {
	base := uint64(0x10000000)
	tests := []struct {
		name  string
		sizes []uint64
		want  []Range
	}{
		{"first fit from the bottom", []uint64{PageSize, 2 * PageSize, PageSize},
			[]Range{{base, base + 0x1000}, {base + 0x1000, base + 0x3000}, {base + 0x3000, base + 0x4000}}},
		{"sizes round up to pages", []uint64{1, 4097},
			[]Range{{base, base + 0x1000}, {base + 0x1000, base + 0x3000}}},
		{"2 MiB chunks are 2 MiB-aligned", []uint64{PageSize, 2 * mib},
			[]Range{{base, base + 0x1000}, {base + 2*mib, base + 4*mib}}},
		{"larger chunks are 2 MiB-aligned too", []uint64{PageSize, 3 * mib},
			[]Range{{base, base + 0x1000}, {base + 2*mib, base + 5*mib}}},
		{"an odd large size keeps the alignment", []uint64{2*mib + 1, 2 * mib},
			[]Range{{base, base + 2*mib + PageSize}, {base + 4*mib, base + 6*mib}}},
		{"small chunks fill the hole left by alignment", []uint64{PageSize, 2 * mib, 8 * PageSize},
			[]Range{{base, base + 0x1000}, {base + 2*mib, base + 4*mib}, {base + 0x1000, base + 0x9000}}},
		{"just under 2 MiB is page-aligned", []uint64{PageSize, 2*mib - PageSize},
			[]Range{{base, base + 0x1000}, {base + 0x1000, base + 2*mib}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPool(Range{base, base + 64*mib})
			var got []Range
			for _, size := range tt.sizes {
				got = append(got, mustAlloc(t, p, size))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			used := uint64(0)
			for _, r := range got {
				used += r.Len()
				if p.IsFree(r) {
					t.Errorf("%v still free after Alloc", r)
				}
			}
			if p.Used() != used || p.Available() != 64*mib-used {
				t.Errorf("Used, Available = %#x, %#x; want %#x used", p.Used(), p.Available(), used)
			}
		})
	}
}

func TestPoolHugeFallsBackToPageAlignment(t *testing.T) {
	// 1 MiB to 3.5 MiB holds 2 MiB, but none of it 2 MiB-aligned.
	p := NewPool(Range{mib, 3*mib + mib/2})
	r := mustAlloc(t, p, 2*mib)
	if r != (Range{mib, 3 * mib}) {
		t.Fatalf("got %v, want the page-aligned 0x100000-0x300000", r)
	}
}

func TestPoolAllocAligned(t *testing.T) {
	p := NewPool(Range{0x1000, 0x100000})
	tests := []struct {
		name        string
		size, align uint64
		want        Range
		err         error
	}{
		{"64K aligned", PageSize, 64 << 10, Range{0x10000, 0x11000}, nil},
		{"below a page means a page", PageSize, 16, Range{0x1000, 0x2000}, nil},
		{"zero align means a page", PageSize, 0, Range{0x2000, 0x3000}, nil},
		{"not a power of two", PageSize, 3 << 12, Range{}, ErrInvalidAlign},
		{"zero size", 0, PageSize, Range{}, ErrInvalidSize},
		{"alignment larger than the pool", PageSize, 1 << 30, Range{}, ErrPoolExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.AllocAligned(tt.size, tt.align)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Fatalf("AllocAligned(%#x, %#x) = %v, %v; want %v, %v", tt.size, tt.align, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestPoolInvalidSize(t *testing.T) {
	p := NewPool(Range{0, 1 << 30})
	for _, size := range []uint64{0, ^uint64(0), ^uint64(0) - PageSize + 2} {
		if r, err := p.Alloc(size); !errors.Is(err, ErrInvalidSize) {
			t.Errorf("Alloc(%#x) = %v, %v; want ErrInvalidSize", size, r, err)
		}
	}
	if p.Available() != 1<<30 {
		t.Error("a failed Alloc used space")
	}
}

func TestPoolFreeCoalesceReuse(t *testing.T) {
	p := NewPool(Range{0x100000, 0x200000})
	a := mustAlloc(t, p, 4*PageSize)
	b := mustAlloc(t, p, 4*PageSize)
	c := mustAlloc(t, p, 4*PageSize)

	p.Free(b)
	if !p.IsFree(b) {
		t.Fatal("freed range not free")
	}
	// A request that fits in b's hole goes there, below the untouched top.
	if r := mustAlloc(t, p, 2*PageSize); r.Start != b.Start {
		t.Fatalf("reuse: got %v, want start %#x", r, b.Start)
	}
	// One that does not fit goes above c.
	if r := mustAlloc(t, p, 3*PageSize); r.Start != c.End {
		t.Fatalf("got %v, want start %#x", r, c.End)
	}
	// Freeing a and c coalesces them with the hole into one piece.
	p.Free(a)
	p.Free(Range{b.Start, c.End})
	p.Free(a) // double free is harmless
	if r := mustAlloc(t, p, 12*PageSize); r != (Range{a.Start, c.End}) {
		t.Fatalf("coalesced: got %v, want %v", r, Range{a.Start, c.End})
	}
	if got := slices.Collect(p.FreeRanges()); len(got) != 1 || got[0] != (Range{c.End + 3*PageSize, 0x200000}) {
		t.Fatalf("free pieces %v", got)
	}
}

func TestPoolFreeAndTakeClip(t *testing.T) {
	pr := Range{0x100000, 0x200000}
	p := NewPool(pr)
	p.Take(Range{0, 0x180000}) // starts below the pool
	if p.Used() != 0x80000 || !p.IsFree(Range{0x180000, 0x200000}) || p.IsFree(Range{0x17f000, 0x181000}) {
		t.Fatalf("after Take: %v", p)
	}
	p.Free(Range{0x1ff000, 0x300000}) // mostly above the pool: nothing to do
	p.Free(Range{0, 0x101000})
	if got := slices.Collect(p.FreeRanges()); !slices.Equal(got, []Range{{0x100000, 0x101000}, {0x180000, 0x200000}}) {
		t.Fatalf("free pieces %v", got)
	}
	// Unaligned ends widen to the pages they touch.
	p.Take(Range{0x180800, 0x181001})
	if !p.IsFree(Range{0x182000, 0x183000}) || p.IsFree(Range{0x181000, 0x182000}) || p.IsFree(Range{0x180000, 0x181000}) {
		t.Fatalf("unaligned Take: %v", slices.Collect(p.FreeRanges()))
	}
	if p.IsFree(Range{0xff000, 0x101000}) {
		t.Error("IsFree is true for a range reaching outside the pool")
	}
	if !p.IsFree(Range{}) {
		t.Error("IsFree is false for an empty range")
	}
	// A program mapping taken in the middle makes Alloc go around it.
	q := NewPool(pr)
	q.Take(Range{0x100000 + PageSize, 0x100000 + 2*PageSize})
	if r := mustAlloc(t, q, 2*PageSize); r.Start != 0x100000+2*PageSize {
		t.Fatalf("Alloc around a Take: %v", r)
	}
}

func TestPoolExhausted(t *testing.T) {
	p := NewPool(Range{0x10000000, 0x10000000 + 4*mib})
	mustAlloc(t, p, mib)
	mustAlloc(t, p, 2*mib) // at 0x10200000
	_, err := p.Alloc(2 * mib)
	if !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("Alloc(2M) on a full pool = %v, want ErrPoolExhausted", err)
	}
	msg := err.Error()
	for _, want := range []string{"2M", "0x200000", "0x10000000-0x10400000", "1M (0x100000 bytes) free", "largest free piece 1M"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if r := mustAlloc(t, p, mib); r != (Range{0x10100000, 0x10200000}) {
		t.Errorf("the remaining 1M: %v", r)
	}
	if _, err := p.Alloc(PageSize); !errors.Is(err, ErrPoolExhausted) || !strings.Contains(err.Error(), "0 (0x0 bytes) free") {
		t.Errorf("full pool: %v", err)
	}
}

func TestPoolClone(t *testing.T) {
	p := NewPool(Range{0x100000, 0x200000})
	a := mustAlloc(t, p, PageSize)
	c := p.Clone()
	b := mustAlloc(t, c, PageSize)
	if p.IsFree(a) || c.IsFree(a) || !p.IsFree(b) || c.IsFree(b) {
		t.Fatal("allocating in the clone changed the original")
	}
	p.Free(a)
	if !p.IsFree(a) || c.IsFree(a) {
		t.Fatal("freeing in the original changed the clone")
	}
	if c.Range() != p.Range() || c.Used() != 2*PageSize || p.Used() != 0 {
		t.Fatalf("original %v, clone %v", p, c)
	}
}

func TestPoolFragmentation(t *testing.T) {
	// Allocate 512 pages, free every other one: 256 one-page holes.
	const n = 512
	p := NewPool(Range{0x40000000, 0x40000000 + 4*mib})
	var rs []Range
	for range n {
		rs = append(rs, mustAlloc(t, p, PageSize))
	}
	for i := 0; i < n; i += 2 {
		p.Free(rs[i])
	}
	if p.Available() != 4*mib-n/2*PageSize {
		t.Fatalf("Available = %#x", p.Available())
	}
	// Two pages fit only above the allocations, however much is free.
	if r := mustAlloc(t, p, 2*PageSize); r.Start != rs[n-1].End {
		t.Fatalf("2-page Alloc in a fragmented pool: %v", r)
	}
	// Single pages refill the holes from the bottom up.
	for i := 0; i < n; i += 2 {
		if r := mustAlloc(t, p, PageSize); r != rs[i] {
			t.Fatalf("hole %d: got %v, want %v", i, r, rs[i])
		}
	}
	// Freeing everything leaves one piece again.
	for _, r := range rs {
		p.Free(r)
	}
	p.Free(p.Range())
	if p.Used() != 0 || len(slices.Collect(p.FreeRanges())) != 1 {
		t.Fatalf("after freeing everything: %v", p)
	}
}

func TestNewPoolRoundsInwards(t *testing.T) {
	p := NewPool(Range{0x1800, 0x5800})
	if p.Range() != (Range{0x2000, 0x5000}) || p.Available() != 0x3000 {
		t.Fatalf("NewPool(0x1800-0x5800) manages %v", p)
	}
	for _, r := range []Range{{}, {0x1800, 0x1900}, {0x5000, 0x1000}} {
		if q := NewPool(r); q.Range() != (Range{}) || q.Available() != 0 {
			t.Errorf("NewPool(%v) = %v", r, q)
		}
	}
	var zero Pool
	if _, err := zero.Alloc(PageSize); !errors.Is(err, ErrPoolExhausted) {
		t.Errorf("zero Pool Alloc: %v", err)
	}
}

func ExamplePool() {
	p := NewPool(Must(0x10000000, 0x20000000))
	small, _ := p.Alloc(100)     // rounded up to one page
	large, _ := p.Alloc(3 << 20) // 2 MiB-aligned
	p.Free(small)
	again, _ := p.Alloc(4096) // first fit: the page just freed
	fmt.Println(small, large, again)
	fmt.Println(FormatSize(p.Used()), "used")

	_, err := NewPool(Must(0x10000, 0x20000)).Alloc(1 << 20)
	fmt.Println(errors.Is(err, ErrPoolExhausted))
	fmt.Println(err)
	// Output:
	// 0x10000000-0x10001000 0x10200000-0x10500000 0x10000000-0x10001000
	// 3076K used
	// true
	// pool exhausted: no room for 1M (0x100000 bytes, 4K-aligned) in pool 0x10000-0x20000: 64K (0x10000 bytes) free, largest free piece 64K (0x10000 bytes)
}
