package region

import (
	"errors"
	"fmt"
	"iter"
)

// Errors returned by Pool.
var (
	// ErrPoolExhausted means no free piece of the pool can hold a request.
	ErrPoolExhausted = errors.New("pool exhausted")
	// ErrInvalidSize means a size is 0 or too large to round up to pages.
	ErrInvalidSize = errors.New("invalid size")
	// ErrInvalidAlign means an alignment is not a power of two.
	ErrInvalidAlign = errors.New("invalid alignment (must be a power of two)")
)

// Pool hands out page-aligned chunks of one address range, the place
// where mmapguard puts mappings it steers away from protected ranges. It
// only does the bookkeeping: the caller maps and unmaps.
//
// Allocation is first fit, lowest address first, like the kernel's own
// bottom-up search. Requests of HugePageSize (2 MiB) or more get a 2 MiB
// aligned start when such a place exists, as the kernel gives to large
// anonymous mappings so they can use transparent huge pages; smaller
// requests are page-aligned. Every operation costs O(log n) in the number
// of free pieces.
//
// The zero Pool manages an empty range. A Pool is not safe for concurrent
// use.
type Pool struct {
	r    Range
	free Set
}

// NewPool returns a pool managing r, all of it free. Ends of r that are
// not page-aligned are rounded inwards.
func NewPool(r Range) *Pool {
	p := &Pool{}
	start, ok := PageUp(r.Start)
	if end := PageDown(r.End); ok && start < end {
		p.r = Range{start, end}
		p.free.Add(p.r)
	}
	return p
}

// Range returns the range the pool manages.
func (p *Pool) Range() Range { return p.r }

// Alloc takes a chunk of size bytes, rounded up to whole pages, at the
// lowest free address that fits. A chunk of HugePageSize or more is
// placed 2 MiB-aligned if possible and page-aligned otherwise. The error
// wraps ErrInvalidSize for a size of 0 or one that overflows when rounded,
// and ErrPoolExhausted when nothing fits.
func (p *Pool) Alloc(size uint64) (Range, error) {
	n, err := pageSize(size)
	if err != nil {
		return Range{}, err
	}
	if n >= HugePageSize {
		if r, ok := p.free.takeFirstFit(p.r, n, HugePageSize); ok {
			return r, nil
		}
	}
	return p.alloc(n, PageSize)
}

// AllocAligned is Alloc with the chunk's start a multiple of align, a
// power of two; an align below PageSize means PageSize. The error wraps
// ErrInvalidAlign if align is not a power of two.
func (p *Pool) AllocAligned(size, align uint64) (Range, error) {
	n, err := pageSize(size)
	if err != nil {
		return Range{}, err
	}
	if align&(align-1) != 0 {
		return Range{}, fmt.Errorf("pool alloc: align %#x: %w", align, ErrInvalidAlign)
	}
	return p.alloc(n, max(align, PageSize))
}

func pageSize(size uint64) (uint64, error) {
	n, ok := PageUp(size)
	if size == 0 || !ok {
		return 0, fmt.Errorf("pool alloc: size %#x: %w", size, ErrInvalidSize)
	}
	return n, nil
}

func (p *Pool) alloc(n, align uint64) (Range, error) {
	r, ok := p.free.takeFirstFit(p.r, n, align)
	if !ok {
		return Range{}, fmt.Errorf("%w: no room for %s (%#x bytes, %s-aligned) in pool %v: %s (%#x bytes) free, largest free piece %s (%#x bytes)",
			ErrPoolExhausted, FormatSize(n), n, FormatSize(align), p.r,
			FormatSize(p.free.Total()), p.free.Total(),
			FormatSize(p.free.Largest()), p.free.Largest())
	}
	return r, nil
}

// pagesOf widens r to the pages it touches and clips it to the pool.
func (p *Pool) pagesOf(r Range) Range {
	if r.Empty() {
		return Range{}
	}
	end, ok := PageUp(r.End)
	if !ok {
		end = PageDown(r.End)
	}
	return Range{PageDown(r.Start), end}.Intersect(p.r)
}

// Free gives the pages r touches back to the pool. Parts outside the
// pool are ignored, and freeing pages already free is harmless.
func (p *Pool) Free(r Range) { p.free.Add(p.pagesOf(r)) }

// Take marks the pages r touches as used, for mappings the program placed
// in the pool itself (with MAP_FIXED). Parts outside the pool are ignored.
func (p *Pool) Take(r Range) { p.free.Remove(p.pagesOf(r)) }

// IsFree reports whether every address of r is in the pool and free.
func (p *Pool) IsFree(r Range) bool { return p.free.Covers(r) }

// Available returns the number of free bytes.
func (p *Pool) Available() uint64 { return p.free.Total() }

// Used returns the number of bytes allocated or taken.
func (p *Pool) Used() uint64 { return p.r.Len() - p.free.Total() }

// FreeRanges yields the free pieces of the pool in ascending order.
func (p *Pool) FreeRanges() iter.Seq[Range] { return p.free.All() }

// Clone returns an independent copy of p, for a forked process.
func (p *Pool) Clone() *Pool {
	return &Pool{r: p.r, free: *p.free.Clone()}
}

// String describes the pool: its range and how much of it is free.
func (p *Pool) String() string {
	return fmt.Sprintf("pool %v (%s free in %d pieces)", p.r, FormatSize(p.free.Total()), p.free.Len())
}
