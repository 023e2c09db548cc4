package rewrite

import (
	"errors"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// TestNewPolicyErrors: each policy NewPolicy refuses wraps ErrPolicy and
// says what is wrong and what to give instead.
func TestNewPolicyErrors(t *testing.T) {
	low := region.Range{Start: pLo, End: pHi}
	for _, c := range []struct {
		name    string
		protect []region.Range
		pool    region.Range
		want    []string
	}{
		{"overlapping protected ranges", []region.Range{low, {Start: 0x70000000, End: 0x90000000}}, DefaultPool,
			[]string{"protected ranges 0x10000-0x80000000 and 0x70000000-0x90000000 overlap", "give their union, 0x10000-0x90000000, as one --protect"}},
		// The union of a chain of overlaps, and a range given twice
		// (the eighteenth session: "give their union" named none, and
		// a range given twice was said to overlap itself).
		{"a chain of overlapping ranges", []region.Range{{Start: 0x50000000, End: 0xa0000000}, low, {Start: 0x60000000, End: 0x70000000}, {Start: 0xa0000000, End: 0xb0000000}}, DefaultPool,
			[]string{"protected ranges 0x10000-0x80000000 and 0x50000000-0xa0000000 overlap", "give their union, 0x10000-0xa0000000, as one --protect"}},
		{"a protected range twice", []region.Range{low, low}, DefaultPool,
			[]string{"protected range 0x10000-0x80000000 given twice; give it once"}},
		{"pool overlapping a protected range", []region.Range{low}, region.Range{Start: 0x40000000, End: 0x80000000},
			[]string{"pool 0x40000000-0x80000000 overlaps protected range 0x10000-0x80000000", "move the pool"}},
		{"pool too small", []region.Range{low}, region.Range{Start: 0x100000000, End: 0x100100000},
			[]string{"smaller than the minimum 4M"}},
		{"pool at 0", []region.Range{{Start: 0x10000000, End: 0x80000000}}, region.Range{Start: 0, End: 16 << 20},
			[]string{"pool 0x0-0x1000000 starts below 0x10000 (the usual vm.mmap_min_addr)", "code page, the pool's first page, would sit at NULL",
				"address 0 as NULL to the program", "start the pool at 0x10000 or above"}},
		{"pool a page above 0", []region.Range{{Start: 0x10000000, End: 0x80000000}}, region.Range{Start: 0x1000, End: 0x1000 + 16<<20},
			[]string{"pool 0x1000-0x1001000 starts below 0x10000", "would sit at 0x1000", "start the pool at 0x10000 or above"}},
	} {
		_, err := NewPolicy(c.protect, c.pool, false, false)
		if !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: NewPolicy = %v, want an ErrPolicy", c.name, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v\nlacks %q", c.name, err, w)
			}
		}
	}
	// The lowest pool allowed: its code page at 64 KiB.
	p, err := NewPolicy([]region.Range{{Start: 0x10000000, End: 0x80000000}}, region.Range{Start: MinPoolStart, End: MinPoolStart + 16<<20}, false, false)
	if err != nil || p.Code.Start != MinPoolStart {
		t.Errorf("a pool from %#x: %v, %v; want it, its code page at its start", MinPoolStart, p, err)
	}
}
