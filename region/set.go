package region

import (
	"iter"
	"math"
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
// concurrent use; note that FirstFit and Largest, while they change no
// range, do update the set's bookkeeping. The memory of ranges removed is
// kept for ranges added later; Clear releases it.
type Set struct {
	// The nodes live in one slice and link to each other by index, not
	// by pointer: a guard's sets hold tens of thousands of ranges, and
	// the garbage collector then has nothing in them to scan (nor write
	// barriers to run on every relinking), a Clone is one copy, and the
	// nodes taken out of the tree are reused. nodes[0] is a sentinel
	// standing for "no node", with height and maxLen 0; it is never
	// written.
	nodes []node
	root  int32
	spare int32 // first unused node, linked through right
	// last is the node last inserted or reshaped (0 if it went away).
	// Changes tend to come back to it (a chunk taken out of a
	// reservation is soon given back), so searches try it first.
	last int32

	n     int    // number of ranges
	total uint64 // sum of their lengths
	gen   uint64 // bumped by every change, so iterators notice them
}

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
	// What a search reads at each level comes first, in 16 bytes.
	start       uint64
	left, right int32 // indexes into Set.nodes, 0 for none
	end         uint64
	maxLen      uint64 // longest end-start in this subtree, unless stale
	parent      int32
	height      int8
	stale       bool
}

func (n *node) rng() Range { return Range{n.start, n.end} }

// fix recomputes i's height from its children and marks its maxLen stale.
func (s *Set) fix(i int32) {
	n := &s.nodes[i]
	n.height = 1 + max(s.nodes[n.left].height, s.nodes[n.right].height)
	n.stale = true
}

// settle recomputes maxLen in the stale part of i's subtree.
func (s *Set) settle(i int32) {
	if i == 0 || !s.nodes[i].stale {
		return
	}
	n := &s.nodes[i]
	s.settle(n.left)
	s.settle(n.right)
	n.maxLen = max(n.end-n.start, s.nodes[n.left].maxLen, s.nodes[n.right].maxLen)
	n.stale = false
}

func (s *Set) leftmost(i int32) int32 {
	for s.nodes[i].left != 0 {
		i = s.nodes[i].left
	}
	return i
}

func (s *Set) rightmost(i int32) int32 {
	for s.nodes[i].right != 0 {
		i = s.nodes[i].right
	}
	return i
}

// prev returns the node before i in order, or 0.
func (s *Set) prev(i int32) int32 {
	if l := s.nodes[i].left; l != 0 {
		return s.rightmost(l)
	}
	for {
		p := s.nodes[i].parent
		if p == 0 || s.nodes[p].left != i {
			return p
		}
		i = p
	}
}

// rotateRight makes i's left child the root of i's subtree and returns
// it, with its parent set to i's old parent; the caller links it there.
func (s *Set) rotateRight(i int32) int32 {
	n := &s.nodes[i]
	l := n.left
	ln := &s.nodes[l]
	n.left = ln.right
	if ln.right != 0 {
		s.nodes[ln.right].parent = i
	}
	ln.right, ln.parent, n.parent = i, n.parent, l
	s.fix(i)
	s.fix(l)
	return l
}

// rotateLeft is rotateRight's mirror image.
func (s *Set) rotateLeft(i int32) int32 {
	n := &s.nodes[i]
	r := n.right
	rn := &s.nodes[r]
	n.right = rn.left
	if rn.left != 0 {
		s.nodes[rn.left].parent = i
	}
	rn.left, rn.parent, n.parent = i, n.parent, r
	s.fix(i)
	s.fix(r)
	return r
}

// balance restores the AVL property at i, whose subtrees are balanced and
// differ in height by at most two, and returns the subtree's new root
// (see rotateRight for its parent).
func (s *Set) balance(i int32) int32 {
	s.fix(i)
	n := &s.nodes[i]
	switch d := s.nodes[n.left].height - s.nodes[n.right].height; {
	case d > 1:
		l := &s.nodes[n.left]
		if s.nodes[l.left].height < s.nodes[l.right].height {
			n.left = s.rotateLeft(n.left)
		}
		return s.rotateRight(i)
	case d < -1:
		r := &s.nodes[n.right]
		if s.nodes[r.right].height < s.nodes[r.left].height {
			n.right = s.rotateRight(n.right)
		}
		return s.rotateLeft(i)
	}
	return i
}

// replaceChild puts c (which may be 0) where old was under parent, or at
// the root if parent is 0.
func (s *Set) replaceChild(parent, old, c int32) {
	switch {
	case parent == 0:
		s.root = c
	case s.nodes[parent].left == old:
		s.nodes[parent].left = c
	default:
		s.nodes[parent].right = c
	}
	if c != 0 {
		s.nodes[c].parent = parent
	}
}

// retrace restores heights and the AVL balance from i up to the root
// after a change at or below i, marking the nodes it passes stale. Once a
// subtree comes out with the height it had and its parent is already
// stale (and so everything above it), nothing above can change and
// retrace stops; it always goes on up to through (which may be 0), a
// node that took another's place.
func (s *Set) retrace(i, through int32) {
	for i != 0 {
		h, p := s.nodes[i].height, s.nodes[i].parent
		t := s.balance(i)
		if t != i {
			s.replaceChild(p, i, t)
		}
		if i == through {
			through = 0
		}
		if through == 0 && s.nodes[t].height == h && (p == 0 || s.nodes[p].stale) {
			return
		}
		i = p
	}
}

// newNode returns an unlinked node for r. It may grow s.nodes, so callers
// must not hold pointers into it across the call.
func (s *Set) newNode(r Range) int32 {
	i := s.spare
	if i != 0 {
		s.spare = s.nodes[i].right
	} else {
		if len(s.nodes) == 0 {
			s.nodes = append(s.nodes, node{}) // the sentinel
		}
		if len(s.nodes) > math.MaxInt32 {
			panic("region: too many ranges in a Set")
		}
		i = int32(len(s.nodes))
		s.nodes = append(s.nodes, node{})
	}
	s.nodes[i] = node{start: r.Start, end: r.End, maxLen: r.Len(), height: 1}
	return i
}

// insertAfter adds a node for r just after n in order, or before every
// node if n is 0. r must not overlap n or the node after it.
func (s *Set) insertAfter(n int32, r Range) {
	x := s.newNode(r)
	s.n++
	s.total += r.Len()
	var parent int32
	switch {
	case s.root == 0:
		s.root = x
		s.last = x
		return
	case n == 0:
		parent = s.leftmost(s.root)
		s.nodes[parent].left = x
	case s.nodes[n].right == 0:
		parent = n
		s.nodes[n].right = x
	default:
		parent = s.leftmost(s.nodes[n].right)
		s.nodes[parent].left = x
	}
	s.nodes[x].parent = parent
	s.retrace(parent, 0)
	s.last = x
}

// unlink takes node i out of the tree and puts it on the spare list.
func (s *Set) unlink(i int32) {
	n := s.nodes[i]
	s.n--
	s.total -= n.end - n.start
	var from, through int32
	if n.left == 0 || n.right == 0 {
		c := n.left
		if c == 0 {
			c = n.right
		}
		from = n.parent
		s.replaceChild(from, i, c)
	} else {
		// i's successor m, the leftmost node of its right subtree, takes
		// i's place. m starts with i's height, which is what i's parent
		// knows, and retrace must reach it to mark it stale.
		m := s.leftmost(n.right)
		if s.nodes[m].parent == i {
			from = m
		} else {
			from = s.nodes[m].parent
			mr := s.nodes[m].right
			s.nodes[from].left = mr
			if mr != 0 {
				s.nodes[mr].parent = from
			}
			s.nodes[m].right = n.right
			s.nodes[n.right].parent = m
		}
		s.nodes[m].left = n.left
		s.nodes[n.left].parent = m
		s.nodes[m].height = n.height
		s.replaceChild(n.parent, i, m)
		through = m
	}
	s.retrace(from, through)
	s.nodes[i] = node{right: s.spare}
	s.spare = i
	if s.last == i {
		s.last = 0
	}
}

// reshape gives node i the bounds of r, which must keep it strictly
// between its neighbours.
func (s *Set) reshape(i int32, r Range) {
	n := &s.nodes[i]
	s.total = s.total - (n.end - n.start) + r.Len()
	n.start, n.end = r.Start, r.End
	s.retrace(i, 0)
	s.last = i
}

// cut takes r, a non-empty part of node i, out of s (not bumping gen).
func (s *Set) cut(i int32, r Range) {
	n := s.nodes[i].rng()
	switch {
	case r == n:
		s.unlink(i)
	case r.Start == n.Start:
		s.reshape(i, Range{r.End, n.End})
	default:
		s.reshape(i, Range{n.Start, r.Start})
		if r.End < n.End {
			s.insertAfter(i, Range{r.End, n.End})
		}
	}
}

// floor returns the node with the greatest start <= a, or 0.
func (s *Set) floor(a uint64) int32 {
	// If a lies in the last node changed, or just past its end, that
	// node is the answer: the next one starts beyond its end (ranges
	// that touch are merged).
	if h := s.last; h != 0 {
		if n := &s.nodes[h]; n.start <= a && a <= n.end {
			return h
		}
	}
	var best int32
	nodes := s.nodes // in a register for the whole search
	for t := s.root; t != 0; {
		if n := &nodes[t]; n.start <= a {
			best, t = t, n.right
		} else {
			t = n.left
		}
	}
	return best
}

// below returns the node with the greatest start < a, or 0.
func (s *Set) below(a uint64) int32 {
	if a == 0 {
		return 0
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
func (s *Set) Add(r Range) { s.add(r, nil, false) }

// AddAppend is Add that also appends to held the parts of r that s
// already held, in ascending order, and returns the extended slice.
func (s *Set) AddAppend(held []Range, r Range) []Range { return s.add(r, held, true) }

// add is Add, appending to held what AddAppend reports if report is set.
// (It returns held rather than taking a pointer to it, so that a caller's
// buffer can stay on its stack.)
func (s *Set) add(r Range, held []Range, report bool) []Range {
	if r.Empty() {
		return held
	}
	// The last range starting at or before r.End is the highest one that
	// can merge with r; ranges below it merge while they reach r.Start.
	n := s.floor(r.End)
	if n == 0 || s.nodes[n].end < r.Start {
		s.insertAfter(n, r)
		s.gen++
		return held
	}
	nr := s.nodes[n].rng()
	if nr.ContainsRange(r) {
		if report {
			held = append(held, r)
		}
		return held // already inside
	}
	mark := len(held)
	if report {
		held = appendPart(held, nr, r)
	}
	merged := Range{min(nr.Start, r.Start), max(nr.End, r.End)}
	for {
		p := s.prev(n)
		if p == 0 || s.nodes[p].end < merged.Start {
			break
		}
		pr := s.nodes[p].rng()
		if report {
			held = appendPart(held, pr, r)
		}
		merged.Start = min(merged.Start, pr.Start)
		s.unlink(p)
	}
	slices.Reverse(held[mark:]) // found from the top down
	s.reshape(n, merged)
	s.gen++
	return held
}

// appendPart appends the part of q inside r, if any.
func appendPart(dst []Range, q, r Range) []Range {
	if p := q.Intersect(r); !p.Empty() {
		dst = append(dst, p)
	}
	return dst
}

// Remove takes every address of r out of s, trimming or splitting the
// ranges it overlaps.
func (s *Set) Remove(r Range) { s.remove(r, nil, false) }

// RemoveAppend is Remove that also appends to removed the parts of r that
// s held (what it took out), in ascending order, and returns the extended
// slice.
func (s *Set) RemoveAppend(removed []Range, r Range) []Range { return s.remove(r, removed, true) }

// remove is Remove, appending to removed what RemoveAppend reports if
// report is set.
func (s *Set) remove(r Range, removed []Range, report bool) []Range {
	if r.Empty() {
		return removed
	}
	mark := len(removed)
	changed := false
	// From the highest range that can overlap r down to the lowest.
	for n := s.below(r.End); n != 0 && s.nodes[n].end > r.Start; {
		p := s.prev(n)
		part := s.nodes[n].rng().Intersect(r)
		if report {
			removed = append(removed, part)
		}
		s.cut(n, part)
		changed = true
		n = p
	}
	if changed {
		slices.Reverse(removed[mark:]) // found from the top down
		s.gen++
	}
	return removed
}

// Find returns the range of s that contains a.
func (s *Set) Find(a uint64) (Range, bool) {
	if n := s.floor(a); n != 0 && a < s.nodes[n].end {
		return s.nodes[n].rng(), true
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
	var first int32
	nodes := s.nodes
	for t := s.root; t != 0; {
		if n := &nodes[t]; n.end > r.Start {
			first, t = t, n.left
		} else {
			t = n.right
		}
	}
	if first == 0 || s.nodes[first].start >= r.End {
		return Range{}, false
	}
	return s.nodes[first].rng().Intersect(r), true
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
	return n != 0 && s.nodes[n].end > r.Start
}

// Covers reports whether every address of r is in s; it is true for an
// empty r. Because touching ranges are merged, r is covered only if a
// single range of s contains it.
func (s *Set) Covers(r Range) bool {
	if r.Empty() {
		return true
	}
	n := s.floor(r.Start)
	return n != 0 && r.End <= s.nodes[n].end
}

// Len returns the number of ranges in s.
func (s *Set) Len() int { return s.n }

// Total returns the number of addresses (bytes) in s.
func (s *Set) Total() uint64 { return s.total }

// Largest returns the length of the longest range in s, 0 if s is empty.
func (s *Set) Largest() uint64 {
	if s.root == 0 {
		return 0
	}
	s.settle(s.root)
	return s.nodes[s.root].maxLen
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
func (s *Set) seek(stack []int32, a uint64) []int32 {
	nodes := s.nodes
	for t := s.root; t != 0; {
		if n := &nodes[t]; n.end > a {
			stack = append(stack, t)
			t = n.left
		} else {
			t = n.right
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
	stack := s.seek(make([]int32, 0, 48), from)
	gen := s.gen
	for len(stack) > 0 {
		t := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := &s.nodes[t]
		if n.start >= to {
			return
		}
		r := Range{max(n.start, from), min(n.end, to)}
		for c := n.right; c != 0; c = s.nodes[c].left {
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
	c.nodes = slices.Clone(s.nodes)
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
func (s *Set) firstFit(within Range, size, align uint64) (int32, Range, bool) {
	if align < PageSize {
		align = PageSize
	}
	if size == 0 || align&(align-1) != 0 || within.Len() < size || s.root == 0 {
		return 0, Range{}, false
	}
	s.settle(s.root)
	return s.firstFitIn(s.root, within, size, align)
}

func (s *Set) firstFitIn(t int32, w Range, size, align uint64) (int32, Range, bool) {
	nodes := s.nodes
	for t != 0 && nodes[t].maxLen >= size {
		n := &nodes[t]
		// Nodes on the left end before n.start; they matter only if
		// n.start is above w.Start. (Checking the left child's maxLen
		// here, as the loop would, saves a call where it cannot fit.)
		if n.start > w.Start && nodes[n.left].maxLen >= size {
			if i, r, ok := s.firstFitIn(n.left, w, size, align); ok {
				return i, r, true
			}
		}
		if n.start >= w.End {
			break
		}
		if n.end-n.start >= size {
			if r, ok := fitIn(Range{max(n.start, w.Start), min(n.end, w.End)}, size, align); ok {
				return t, r, true
			}
		}
		if n.end >= w.End {
			break // everything on the right starts past w
		}
		t = n.right
	}
	return 0, Range{}, false
}

// takeFirstFit is FirstFit followed by Remove of the place found, with
// one search instead of two.
func (s *Set) takeFirstFit(within Range, size, align uint64) (Range, bool) {
	i, r, ok := s.firstFit(within, size, align)
	if ok {
		s.cut(i, r)
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
