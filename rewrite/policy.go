package rewrite

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mmapguard/mmapguard/region"
)

// DefaultPool is the pool used when a policy names none: 16 TiB from
// 0x200000000000. It lies above AddressSanitizer's shadow (which ends at
// 0x10007fff8000), below the kernel's base for PIE executables
// (0x555555554000, plus up to 1 TiB of randomisation) and far below the
// area under the stack where libraries and thread stacks go.
var DefaultPool = region.Must(0x200000000000, 0x300000000000)

// MinPool is the smallest pool accepted: one huge page, so that a 2 MiB
// aligned chunk always fits in an empty pool.
const MinPool = 2 * region.HugePageSize

// MinPoolStart is the lowest address a pool may start at: 64 KiB, the
// usual vm.mmap_min_addr. Below it nothing is mapped, so that a NULL
// pointer (plus an offset) faults; a pool there would hand those pages
// out as mappings (address 0 itself, NULL to the program, to an i386
// mmap) and put the guard's code page, its first page, at NULL. That a
// privileged guard could map there does not make it right to, so the
// rule is the same for every user.
const MinPoolStart uint64 = 0x10000

// Policy is what the guard enforces for every process it watches.
type Policy struct {
	// Protected ranges: sorted, disjoint, non-adjacent.
	Protected []region.Range
	// Pool receives rerouted placements; the zero Range means no pool.
	Pool region.Range
	// PoolAll reroutes every non-fixed placement into the pool, not only
	// hints that point into a protected range.
	PoolAll bool
	// Strict refuses explicit placements (MAP_FIXED and friends) inside a
	// protected range to callers that are not owners, with EPERM.
	Strict bool
	// Code is where the guard's code page goes (see Guard.Code): the
	// pool's first page, or without a pool a page of its own (guarded
	// like the pool), below the default pool and outside every protected
	// range. Empty if no such page could be chosen.
	Code region.Range

	protected region.Set
	guarded   region.Set
}

// ErrPolicy is wrapped by every error NewPolicy returns.
var ErrPolicy = errors.New("invalid policy")

// NewPolicy checks and assembles a policy. Protected ranges may be given
// in any order; overlapping ones are an error (they usually mean a typo),
// adjacent ones are merged. The pool may be the zero Range for none.
func NewPolicy(protected []region.Range, pool region.Range, poolAll, strict bool) (*Policy, error) {
	p := &Policy{Pool: pool, PoolAll: poolAll, Strict: strict}
	rs := slices.Clone(protected)
	slices.SortFunc(rs, func(a, b region.Range) int {
		switch {
		case a.Start < b.Start:
			return -1
		case a.Start > b.Start:
			return 1
		}
		return 0
	})
	for i, r := range rs {
		if _, err := region.New(r.Start, r.End); err != nil {
			return nil, fmt.Errorf("%w: protected %w", ErrPolicy, err)
		}
		if i > 0 && rs[i-1] == r {
			return nil, fmt.Errorf("%w: protected range %v given twice; give it once", ErrPolicy, r)
		}
		if i > 0 && rs[i-1].Overlaps(r) {
			// The union of every range this one overlaps, in a
			// chain: what to give instead of all of them.
			union := rs[i-1]
			for _, n := range rs[i:] {
				if n.Start >= union.End {
					break
				}
				union.End = max(union.End, n.End)
			}
			return nil, fmt.Errorf("%w: protected ranges %v and %v overlap; give their union, %v, as one --protect",
				ErrPolicy, rs[i-1], r, union)
		}
		p.protected.Add(r)
	}
	p.Protected = p.protected.Ranges()
	if pool != (region.Range{}) {
		if _, err := region.New(pool.Start, pool.End); err != nil {
			return nil, fmt.Errorf("%w: pool %w", ErrPolicy, err)
		}
		if pool.Start < MinPoolStart {
			at := fmt.Sprintf("%#x", pool.Start)
			if pool.Start == 0 {
				at = "NULL"
			}
			return nil, fmt.Errorf("%w: pool %v starts below %#x (the usual vm.mmap_min_addr), where nothing is mapped so that NULL pointers fault: the guard's code page, the pool's first page, would sit at %s and the pool's pages be handed out as mappings (address 0 as NULL to the program); start the pool at %#x or above",
				ErrPolicy, pool, MinPoolStart, at, MinPoolStart)
		}
		if pool.Len() < MinPool {
			return nil, fmt.Errorf("%w: pool %v is %s, smaller than the minimum %s; give a larger --pool",
				ErrPolicy, pool, region.FormatSize(pool.Len()), region.FormatSize(MinPool))
		}
		for _, r := range p.Protected {
			if r.Overlaps(pool) {
				return nil, fmt.Errorf("%w: pool %v overlaps protected range %v; move the pool with --pool",
					ErrPolicy, pool, r)
			}
		}
		p.guarded.Add(pool)
		p.Code = region.Range{Start: pool.Start, End: pool.Start + region.PageSize}
	} else if poolAll {
		return nil, fmt.Errorf("%w: pool-all needs a pool", ErrPolicy)
	} else {
		p.Code = codePage(&p.protected)
		p.guarded.Add(p.Code)
	}
	for _, r := range p.Protected {
		p.guarded.Add(r)
	}
	return p, nil
}

// codePage chooses the code page of a policy without a pool: the last
// page below the default pool's start, or the last page of a lower GiB,
// where nothing is usually mapped, outside every protected range.
func codePage(protected *region.Set) region.Range {
	for top := DefaultPool.Start; top > 1<<40; top -= 1 << 30 {
		page := region.Range{Start: top - region.PageSize, End: top}
		if !protected.Overlaps(page) {
			return page
		}
	}
	return region.Range{}
}

// Guarded returns the protected ranges, the pool and the code page, merged: the ranges
// whose layout the guard keeps exactly, and which a call must touch to be
// worth a stop.
func (p *Policy) Guarded() []region.Range { return p.guarded.Ranges() }

// map32Window is where the kernel places a 64-bit MAP_32BIT mapping
// made without an address (x86-64: 1-2 GiB, its start randomised by up
// to 32 MiB).
var map32Window = region.Range{Start: 0x40000000, End: 0x80000000}

// Map32Blocked reports whether the guarded ranges cover the whole window
// of a MAP_32BIT mapping made without an address: it cannot succeed,
// as every free page there is reserved.
func (p *Policy) Map32Blocked() bool { return p.guarded.Covers(map32Window) }

// HasPool reports whether the policy has a pool.
func (p *Policy) HasPool() bool { return !p.Pool.Empty() }

// IsProtected reports whether addr lies in a protected range.
func (p *Policy) IsProtected(addr uint64) bool { return p.protected.ContainsAddr(addr) }

// OverlapsGuarded reports whether r shares an address with a guarded
// range.
func (p *Policy) OverlapsGuarded(r region.Range) bool { return p.guarded.Overlaps(r) }

// OverlapsProtected reports whether r shares an address with a protected
// range.
func (p *Policy) OverlapsProtected(r region.Range) bool { return p.protected.Overlaps(r) }

// String describes the policy in one line per rule.
func (p *Policy) String() string {
	var b strings.Builder
	for _, r := range p.Protected {
		fmt.Fprintf(&b, "protect %v (%s)\n", r, region.HumanSize(r.Len()))
	}
	if p.HasPool() {
		fmt.Fprintf(&b, "pool    %v (%s)\n", p.Pool, region.HumanSize(p.Pool.Len()))
	} else {
		b.WriteString("pool    none\n")
	}
	fmt.Fprintf(&b, "pool-all %v, strict %v\n", p.PoolAll, p.Strict)
	return b.String()
}
