package region

import (
	"iter"
	"strings"
)

// Set is a set of addresses kept as disjoint, non-adjacent ranges: adding
// a range that overlaps or touches ranges already present merges them into
// one, so the ranges a Set reports are always maximal. The zero value is
// an empty set ready to use.
//
// The ranges live in an AVL tree ordered by Start. Each node also records
// the length of the longest range in its subtree, which lets FirstFit skip
// whole subtrees that cannot hold a request. Add, Remove, the queries and
// each step of the iterators cost O(log n) in the number of ranges (with
// a few dozen levels at the 65,530 mappings a process may hold), apart
// from the amortised cost of ranges that an Add or Remove swallows.
//
// Set does not check alignment or UserEnd: it stores whatever non-empty
// ranges it is given. mmapguard only gives it page-aligned ones. Copying
// a Set value shares its tree: use Clone. A Set is not safe for
// concurrent use.
type Set struct {
	root  *node
	n     int    // number of ranges
	total uint64 // sum of their lengths
	gen   uint64 // bumped by every change, so iterators notice them
}

type node struct {
	start, end  uint64
	maxLen      uint64 // longest end-start in this subtree
	left, right *node
	height      int8
}

func (n *node) rng() Range { return Range{n.start, n.end} }

func height(n *node) int8 {
	if n == nil {
		return 0
	}
	return n.height
}

func maxLen(n *node) uint64 {
	if n == nil {
		return 0
	}
	return n.maxLen
}

// fix recomputes n's height and maxLen from its children.
func (n *node) fix() {
	n.height = 1 + max(height(n.left), height(n.right))
	n.maxLen = max(n.end-n.start, maxLen(n.left), maxLen(n.right))
}

func rotateRight(n *node) *node {
	l := n.left
	n.left, l.right = l.right, n
	n.fix()
	l.fix()
	return l
}

func rotateLeft(n *node) *node {
	r := n.right
	n.right, r.left = r.left, n
	n.fix()
	r.fix()
	return r
}

// balance restores the AVL property at n, whose subtrees are balanced and
// differ in height by at most two, and returns the subtree's new root.
func balance(n *node) *node {
	n.fix()
	switch d := height(n.left) - height(n.right); {
	case d > 1:
		if height(n.left.left) < height(n.left.right) {
			n.left = rotateLeft(n.left)
		}
		return rotateRight(n)
	case d < -1:
		if height(n.right.right) < height(n.right.left) {
			n.right = rotateRight(n.right)
		}
		return rotateLeft(n)
	}
	return n
}

// insert adds a node for r, which must not overlap any node of t.
func insert(t *node, r Range) *node {
	if t == nil {
		return &node{start: r.Start, end: r.End, maxLen: r.End - r.Start, height: 1}
	}
	if r.Start < t.start {
		t.left = insert(t.left, r)
	} else {
		t.right = insert(t.right, r)
	}
	return balance(t)
}

// removeMin unlinks the leftmost node of t, returning the new subtree and
// the node taken out.
func removeMin(t *node) (*node, *node) {
	if t.left == nil {
		return t.right, t
	}
	var m *node
	t.left, m = removeMin(t.left)
	return balance(t), m
}

// remove deletes the node whose start is key; it must exist.
func remove(t *node, key uint64) *node {
	switch {
	case key < t.start:
		t.left = remove(t.left, key)
	case key > t.start:
		t.right = remove(t.right, key)
	default:
		if t.left == nil {
			return t.right
		}
		if t.right == nil {
			return t.left
		}
		var m *node
		t.right, m = removeMin(t.right)
		m.left, m.right = t.left, t.right
		t = m
	}
	return balance(t)
}

// reshape gives the node whose start is key the bounds of r. The caller
// guarantees r stays strictly between the node's neighbours, so the tree
// order holds; only the lengths on the path need recomputing.
func reshape(t *node, key uint64, r Range) {
	switch {
	case key < t.start:
		reshape(t.left, key, r)
	case key > t.start:
		reshape(t.right, key, r)
	default:
		t.start, t.end = r.Start, r.End
	}
	t.fix()
}

// floor returns the node with the greatest start <= a, or nil.
func (s *Set) floor(a uint64) *node {
	var best *node
	for t := s.root; t != nil; {
		if t.start <= a {
			best, t = t, t.right
		} else {
			t = t.left
		}
	}
	return best
}

// below returns the node with the greatest start < a, or nil.
func (s *Set) below(a uint64) *node {
	if a == 0 {
		return nil
	}
	return s.floor(a - 1)
}

func (s *Set) insertRange(r Range) {
	s.root = insert(s.root, r)
	s.n++
	s.total += r.Len()
}

func (s *Set) removeNode(n *node) {
	s.total -= n.end - n.start
	s.n--
	s.root = remove(s.root, n.start)
}

func (s *Set) reshapeNode(n *node, r Range) {
	s.total = s.total - (n.end - n.start) + r.Len()
	reshape(s.root, n.start, r)
}

// SetOf returns a set holding the union of rs.
func SetOf(rs ...Range) *Set {
	s := new(Set)
	for _, r := range rs {
		s.Add(r)
	}
	return s
}

// Add puts every address of r into s, merging r with the ranges it
// overlaps or touches. An empty r changes nothing.
func (s *Set) Add(r Range) {
	if r.Empty() {
		return
	}
	// The last range starting at or before r.End is the highest one that
	// can merge with r; ranges below it merge while they reach r.Start.
	n := s.floor(r.End)
	if n == nil || n.end < r.Start {
		s.insertRange(r)
		s.gen++
		return
	}
	if n.start <= r.Start && r.End <= n.end {
		return // already inside
	}
	merged := Range{min(n.start, r.Start), max(n.end, r.End)}
	for {
		p := s.below(n.start)
		if p == nil || p.end < merged.Start {
			break
		}
		merged.Start = min(merged.Start, p.start)
		s.removeNode(p)
	}
	s.reshapeNode(n, merged)
	s.gen++
}

// Remove takes every address of r out of s, trimming or splitting the
// ranges it overlaps.
func (s *Set) Remove(r Range) {
	if r.Empty() {
		return
	}
	changed := false
	for {
		n := s.below(r.End) // highest range that can overlap r
		if n == nil || n.end <= r.Start {
			break
		}
		changed = true
		if n.start < r.Start {
			// n sticks out below r: it is the lowest one overlapping.
			tail := Range{r.End, n.end}
			s.reshapeNode(n, Range{n.start, r.Start})
			if !tail.Empty() {
				s.insertRange(tail)
			}
			break
		}
		if n.end > r.End {
			s.reshapeNode(n, Range{r.End, n.end})
			continue
		}
		s.removeNode(n)
	}
	if changed {
		s.gen++
	}
}

// Find returns the range of s that contains a.
func (s *Set) Find(a uint64) (Range, bool) {
	if n := s.floor(a); n != nil && a < n.end {
		return n.rng(), true
	}
	return Range{}, false
}

// ContainsAddr reports whether a is in s.
func (s *Set) ContainsAddr(a uint64) bool {
	_, ok := s.Find(a)
	return ok
}

// Overlaps reports whether s and r share at least one address.
func (s *Set) Overlaps(r Range) bool {
	if r.Empty() {
		return false
	}
	n := s.below(r.End)
	return n != nil && n.end > r.Start
}

// Covers reports whether every address of r is in s; it is true for an
// empty r. Because touching ranges are merged, r is covered only if a
// single range of s contains it.
func (s *Set) Covers(r Range) bool {
	if r.Empty() {
		return true
	}
	n := s.floor(r.Start)
	return n != nil && r.End <= n.end
}

// Len returns the number of ranges in s.
func (s *Set) Len() int { return s.n }

// Total returns the number of addresses (bytes) in s.
func (s *Set) Total() uint64 { return s.total }

// Largest returns the length of the longest range in s, 0 if s is empty.
func (s *Set) Largest() uint64 { return maxLen(s.root) }

// Clear empties s.
func (s *Set) Clear() {
	*s = Set{gen: s.gen + 1}
}

// Equal reports whether s and o hold the same addresses.
func (s *Set) Equal(o *Set) bool {
	if s.n != o.n || s.total != o.total {
		return false
	}
	next, stop := iter.Pull(o.All())
	defer stop()
	for r := range s.All() {
		if q, ok := next(); !ok || q != r {
			return false
		}
	}
	return true
}

// seek fills stack with the path to the first range whose end is above
// a, so that popping it yields the ranges from there on in order. Since
// the ranges are disjoint, their ends ascend with their starts.
func (s *Set) seek(stack []*node, a uint64) []*node {
	for t := s.root; t != nil; {
		if t.end > a {
			stack = append(stack, t)
			t = t.left
		} else {
			t = t.right
		}
	}
	return stack
}

// walk calls yield with the pieces of s inside [from, to), ascending,
// until yield returns false. If yield changes s, walk carries on with
// what s holds above the last piece it yielded.
func (s *Set) walk(from, to uint64, yield func(Range) bool) {
	if from >= to {
		return
	}
	stack := s.seek(make([]*node, 0, 48), from)
	gen := s.gen
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if t.start >= to {
			return
		}
		r := Range{max(t.start, from), min(t.end, to)}
		for c := t.right; c != nil; c = c.left {
			stack = append(stack, c)
		}
		if !yield(r) {
			return
		}
		if s.gen != gen {
			gen, from = s.gen, r.End
			stack = s.seek(stack[:0], from)
		}
	}
}

// All yields the ranges of s in ascending order. The loop body may change
// s; the iteration then goes on with the ranges s holds above the last
// one yielded.
func (s *Set) All() iter.Seq[Range] {
	return func(yield func(Range) bool) { s.walk(0, ^uint64(0), yield) }
}

// Within yields the ranges of s clipped to r, in ascending order. Finding
// the first one costs O(log n), every further one O(1) amortised. Changes
// to s in the loop body are handled as for All.
func (s *Set) Within(r Range) iter.Seq[Range] {
	return func(yield func(Range) bool) { s.walk(r.Start, r.End, yield) }
}

// Gaps yields the maximal parts of r that are not in s, in ascending
// order. Changes to s in the loop body are handled as for All; in
// particular, adding each gap as it is yielded fills r.
func (s *Set) Gaps(r Range) iter.Seq[Range] {
	return func(yield func(Range) bool) {
		if r.Empty() {
			return
		}
		at, stopped := r.Start, false
		s.walk(r.Start, r.End, func(p Range) bool {
			if p.Start > at && !yield(Range{at, p.Start}) {
				stopped = true
				return false
			}
			at = p.End
			return true
		})
		if !stopped && at < r.End {
			yield(Range{at, r.End})
		}
	}
}

// Ranges returns the ranges of s in ascending order, in a new slice.
func (s *Set) Ranges() []Range {
	out := make([]Range, 0, s.n)
	for r := range s.All() {
		out = append(out, r)
	}
	return out
}

// Clone returns an independent copy of s.
func (s *Set) Clone() *Set {
	c := *s
	c.root = cloneTree(s.root)
	return &c
}

func cloneTree(t *node) *node {
	if t == nil {
		return nil
	}
	c := *t
	c.left, c.right = cloneTree(t.left), cloneTree(t.right)
	return &c
}

// String formats s as its ranges in braces: {0x1000-0x3000 0x8000-0x9000}.
func (s *Set) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for r := range s.All() {
		if b.Len() > 1 {
			b.WriteByte(' ')
		}
		b.WriteString(r.String())
	}
	b.WriteByte('}')
	return b.String()
}

// FirstFit returns the lowest-addressed range of length size whose Start
// is a multiple of align and which lies inside both a single range of s
// and within. align must be a power of two; smaller than PageSize (or 0)
// means PageSize. ok is false if size is 0, align is not a power of two,
// or no place fits.
//
// Subtrees whose longest range is shorter than size are skipped, so a
// search costs O(log n) plus the ranges that are long enough but fail on
// alignment or on the bounds of within.
func (s *Set) FirstFit(within Range, size, align uint64) (r Range, ok bool) {
	if align < PageSize {
		align = PageSize
	}
	if size == 0 || align&(align-1) != 0 || within.Len() < size {
		return Range{}, false
	}
	return firstFit(s.root, within, size, align)
}

func firstFit(t *node, w Range, size, align uint64) (Range, bool) {
	for t != nil && t.maxLen >= size {
		// Nodes on the left end before t.start; they matter only if
		// t.start is above w.Start.
		if t.start > w.Start {
			if r, ok := firstFit(t.left, w, size, align); ok {
				return r, true
			}
		}
		if t.start >= w.End {
			break
		}
		if t.end-t.start >= size {
			if r, ok := fitIn(Range{max(t.start, w.Start), min(t.end, w.End)}, size, align); ok {
				return r, true
			}
		}
		if t.end >= w.End {
			break // everything on the right starts past w
		}
		t = t.right
	}
	return Range{}, false
}

// fitIn places size bytes at the lowest multiple of align inside r.
func fitIn(r Range, size, align uint64) (Range, bool) {
	if r.Empty() {
		return Range{}, false
	}
	a := (r.Start + align - 1) &^ (align - 1)
	if a < r.Start || a >= r.End || r.End-a < size {
		return Range{}, false
	}
	return Range{a, a + size}, true
}
