package region

import (
	"iter"
	"slices"
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
// from the amortised cost of ranges that an Add or Remove swallows; the
// longest lengths are brought up to date when FirstFit or Largest needs
// them, at a cost bounded by the changes made since.
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

	// spare holds up to maxSpare nodes taken out of the tree (linked
	// through right), so that a set whose size goes up and down, as the
	// guard's do with every mapping call, does not allocate.
	spare  *node
	nspare int
}

const maxSpare = 32

// A node knows its parent, so that a change found by one search from the
// root (Add, Remove) is finished by walking up from the node instead of by
// more searches from the root. The walk up restores heights and balance,
// which usually settle within a level or two. maxLen does not settle that
// soon (the longest range is often the one that changed, and then every
// node above has a new maxLen): rather than recompute it all the way up
// on every change, the walk marks the nodes it passes stale and stops at
// one already stale, and settle recomputes the stale nodes when FirstFit
// or Largest next asks. A node is stale whenever one below it is, so a
// clean node's maxLen, and its whole subtree's, is right.
type node struct {
	start, end          uint64
	maxLen              uint64 // longest end-start in this subtree, unless stale
	left, right, parent *node
	height              int8
	stale               bool
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

// fix recomputes n's height from its children and marks its maxLen stale.
func (n *node) fix() {
	n.height = 1 + max(height(n.left), height(n.right))
	n.stale = true
}

// settle recomputes maxLen in the stale part of t's subtree.
func settle(t *node) {
	if t == nil || !t.stale {
		return
	}
	settle(t.left)
	settle(t.right)
	t.maxLen = max(t.end-t.start, maxLen(t.left), maxLen(t.right))
	t.stale = false
}

func leftmost(n *node) *node {
	for n.left != nil {
		n = n.left
	}
	return n
}

func rightmost(n *node) *node {
	for n.right != nil {
		n = n.right
	}
	return n
}

// prev returns the node before n in order, or nil.
func prev(n *node) *node {
	if n.left != nil {
		return rightmost(n.left)
	}
	for n.parent != nil && n.parent.left == n {
		n = n.parent
	}
	return n.parent
}

// rotateRight makes n's left child the root of n's subtree and returns
// it, with its parent set to n's old parent; the caller links it there.
func rotateRight(n *node) *node {
	l := n.left
	n.left = l.right
	if l.right != nil {
		l.right.parent = n
	}
	l.right, l.parent, n.parent = n, n.parent, l
	n.fix()
	l.fix()
	return l
}

// rotateLeft is rotateRight's mirror image.
func rotateLeft(n *node) *node {
	r := n.right
	n.right = r.left
	if r.left != nil {
		r.left.parent = n
	}
	r.left, r.parent, n.parent = n, n.parent, r
	n.fix()
	r.fix()
	return r
}

// balance restores the AVL property at n, whose subtrees are balanced and
// differ in height by at most two, and returns the subtree's new root
// (see rotateRight for its parent).
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

// replaceChild puts c where old was under parent (at the root if parent
// is nil).
func (s *Set) replaceChild(parent, old, c *node) {
	switch {
	case parent == nil:
		s.root = c
	case parent.left == old:
		parent.left = c
	default:
		parent.right = c
	}
	if c != nil {
		c.parent = parent
	}
}

// retrace restores heights and the AVL balance from n up to the root
// after a change at or below n, marking the nodes it passes stale. Once a
// subtree comes out with the height it had and its parent is already
// stale (and so everything above it), nothing above can change and
// retrace stops; it always goes on up to through (which may be nil), a
// node that took another's place.
func (s *Set) retrace(n, through *node) {
	for n != nil {
		h, p := n.height, n.parent
		t := balance(n)
		if t != n {
			s.replaceChild(p, n, t)
		}
		if n == through {
			through = nil
		}
		if through == nil && t.height == h && (p == nil || p.stale) {
			return
		}
		n = p
	}
}

func (s *Set) newNode(r Range) *node {
	n := s.spare
	if n != nil {
		s.spare, n.right = n.right, nil
		s.nspare--
	} else {
		n = new(node)
	}
	n.start, n.end, n.maxLen, n.height, n.stale = r.Start, r.End, r.End-r.Start, 1, false
	return n
}

func (s *Set) recycle(n *node) {
	if s.nspare >= maxSpare {
		return
	}
	*n = node{right: s.spare}
	s.spare = n
	s.nspare++
}

// insertAfter adds a node for r just after n in order, or before every
// node if n is nil. r must not overlap n or the node after it.
func (s *Set) insertAfter(n *node, r Range) {
	x := s.newNode(r)
	s.n++
	s.total += r.Len()
	var parent *node
	switch {
	case s.root == nil:
		s.root = x
		return
	case n == nil:
		parent = leftmost(s.root)
		parent.left = x
	case n.right == nil:
		parent = n
		n.right = x
	default:
		parent = leftmost(n.right)
		parent.left = x
	}
	x.parent = parent
	s.retrace(parent, nil)
}

// unlink takes n out of the tree.
func (s *Set) unlink(n *node) {
	s.n--
	s.total -= n.end - n.start
	var from, through *node
	if n.left == nil || n.right == nil {
		c := n.left
		if c == nil {
			c = n.right
		}
		from = n.parent
		s.replaceChild(from, n, c)
	} else {
		// n's successor m, the leftmost node of its right subtree, takes
		// n's place. m starts with n's height, which is what n's parent
		// knows, and retrace must reach it to mark it stale.
		m := leftmost(n.right)
		if m.parent == n {
			from = m
		} else {
			from = m.parent
			from.left = m.right
			if m.right != nil {
				m.right.parent = from
			}
			m.right = n.right
			n.right.parent = m
		}
		m.left = n.left
		n.left.parent = m
		m.height = n.height
		s.replaceChild(n.parent, n, m)
		through = m
	}
	s.retrace(from, through)
	s.recycle(n)
}

// reshape gives n the bounds of r, which must keep it strictly between
// its neighbours.
func (s *Set) reshape(n *node, r Range) {
	s.total = s.total - (n.end - n.start) + r.Len()
	n.start, n.end = r.Start, r.End
	s.retrace(n, nil)
}

// cut takes r, a non-empty part of node n, out of s (not bumping gen).
func (s *Set) cut(n *node, r Range) {
	switch {
	case r.Start == n.start && r.End == n.end:
		s.unlink(n)
	case r.Start == n.start:
		s.reshape(n, Range{r.End, n.end})
	default:
		tail := Range{r.End, n.end}
		s.reshape(n, Range{n.start, r.Start})
		if !tail.Empty() {
			s.insertAfter(n, tail)
		}
	}
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
func (s *Set) Add(r Range) { s.add(r, nil) }

// AddAppend is Add that also appends to held the parts of r that s
// already held, in ascending order, and returns the extended slice.
func (s *Set) AddAppend(held []Range, r Range) []Range {
	s.add(r, &held)
	return held
}

func (s *Set) add(r Range, held *[]Range) {
	if r.Empty() {
		return
	}
	// The last range starting at or before r.End is the highest one that
	// can merge with r; ranges below it merge while they reach r.Start.
	n := s.floor(r.End)
	if n == nil || n.end < r.Start {
		s.insertAfter(n, r)
		s.gen++
		return
	}
	if n.start <= r.Start && r.End <= n.end {
		if held != nil {
			*held = append(*held, r)
		}
		return // already inside
	}
	mark := 0
	if held != nil {
		mark = len(*held)
		*held = appendPart(*held, n, r)
	}
	merged := Range{min(n.start, r.Start), max(n.end, r.End)}
	for {
		p := prev(n)
		if p == nil || p.end < merged.Start {
			break
		}
		if held != nil {
			*held = appendPart(*held, p, r)
		}
		merged.Start = min(merged.Start, p.start)
		s.unlink(p)
	}
	if held != nil {
		slices.Reverse((*held)[mark:]) // found from the top down
	}
	s.reshape(n, merged)
	s.gen++
}

// appendPart appends the part of n inside r, if any.
func appendPart(dst []Range, n *node, r Range) []Range {
	if p := n.rng().Intersect(r); !p.Empty() {
		dst = append(dst, p)
	}
	return dst
}

// Remove takes every address of r out of s, trimming or splitting the
// ranges it overlaps.
func (s *Set) Remove(r Range) { s.remove(r, nil) }

// RemoveAppend is Remove that also appends to removed the parts of r that
// s held (what it took out), in ascending order, and returns the extended
// slice.
func (s *Set) RemoveAppend(removed []Range, r Range) []Range {
	s.remove(r, &removed)
	return removed
}

func (s *Set) remove(r Range, removed *[]Range) {
	if r.Empty() {
		return
	}
	mark := 0
	if removed != nil {
		mark = len(*removed)
	}
	changed := false
	// From the highest range that can overlap r down to the lowest.
	for n := s.below(r.End); n != nil && n.end > r.Start; {
		p := prev(n)
		part := Range{max(n.start, r.Start), min(n.end, r.End)}
		if removed != nil {
			*removed = append(*removed, part)
		}
		s.cut(n, part)
		changed = true
		n = p
	}
	if removed != nil {
		slices.Reverse((*removed)[mark:])
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

// FirstWithin returns the lowest range of s clipped to r: the first one
// Within(r) yields. It costs one search and no iterator.
func (s *Set) FirstWithin(r Range) (Range, bool) {
	if r.Empty() {
		return Range{}, false
	}
	// The first range ending above r.Start (ends ascend with starts).
	var first *node
	for t := s.root; t != nil; {
		if t.end > r.Start {
			first, t = t, t.left
		} else {
			t = t.right
		}
	}
	if first == nil || first.start >= r.End {
		return Range{}, false
	}
	return Range{max(first.start, r.Start), min(first.end, r.End)}, true
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
func (s *Set) Largest() uint64 {
	settle(s.root)
	return maxLen(s.root)
}

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
	c.root = cloneTree(s.root, nil)
	c.spare, c.nspare = nil, 0
	return &c
}

func cloneTree(t, parent *node) *node {
	if t == nil {
		return nil
	}
	c := *t
	c.parent = parent
	c.left, c.right = cloneTree(t.left, &c), cloneTree(t.right, &c)
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
	_, r, ok = s.firstFit(within, size, align)
	return r, ok
}

// firstFit is FirstFit, also returning the node the place lies in.
func (s *Set) firstFit(within Range, size, align uint64) (*node, Range, bool) {
	if align < PageSize {
		align = PageSize
	}
	if size == 0 || align&(align-1) != 0 || within.Len() < size {
		return nil, Range{}, false
	}
	settle(s.root)
	return firstFitIn(s.root, within, size, align)
}

func firstFitIn(t *node, w Range, size, align uint64) (*node, Range, bool) {
	for t != nil && t.maxLen >= size {
		// Nodes on the left end before t.start; they matter only if
		// t.start is above w.Start.
		if t.start > w.Start {
			if n, r, ok := firstFitIn(t.left, w, size, align); ok {
				return n, r, true
			}
		}
		if t.start >= w.End {
			break
		}
		if t.end-t.start >= size {
			if r, ok := fitIn(Range{max(t.start, w.Start), min(t.end, w.End)}, size, align); ok {
				return t, r, true
			}
		}
		if t.end >= w.End {
			break // everything on the right starts past w
		}
		t = t.right
	}
	return nil, Range{}, false
}

// takeFirstFit is FirstFit followed by Remove of the place found, with
// one search instead of two.
func (s *Set) takeFirstFit(within Range, size, align uint64) (Range, bool) {
	n, r, ok := s.firstFit(within, size, align)
	if ok {
		s.cut(n, r)
		s.gen++
	}
	return r, ok
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
