package loader

import (
	"fmt"
	"slices"

	"github.com/mmapguard/mmapguard/region"
)

// Source says where a placement's base came from, in order of
// precedence.
type Source int

const (
	// SourceNone: nothing asks for a base; ld.so and the kernel choose.
	SourceNone Source = iota
	// SourceRule: an explicit Rule matched the object.
	SourceRule
	// SourceLinkBase: the object's first PT_LOAD has a non-zero p_vaddr.
	SourceLinkBase
	// SourcePEImageBase: the object embeds a PE header with an ImageBase.
	SourcePEImageBase
	// SourceRange: a RangeRule packed the object into its range.
	SourceRange
)

func (s Source) String() string {
	switch s {
	case SourceNone:
		return "none"
	case SourceRule:
		return "rule"
	case SourceLinkBase:
		return "p_vaddr"
	case SourcePEImageBase:
		return "PE ImageBase"
	case SourceRange:
		return "range"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// Placement is the planner's answer for one object.
//
// Base is where the object's span starts: the address ld.so's first
// mmap of the object (the one that reserves the whole span) must return.
// ld.so then computes the load bias, Base - Object.LinkBase, and maps
// each segment at its p_vaddr plus the bias. For an ordinary object
// (LinkBase 0) the bias is Base itself; an object linked at L and placed
// at its own link base has bias 0. Every byte of the object moves by the
// same bias, so the span keeps its shape: Span is Object.Span moved by
// the bias.
type Placement struct {
	Object *Object
	Source Source
	Base   uint64       // wanted start of the span; 0 with SourceNone or a full range
	Span   region.Range // wanted span, [Base, Base+Object.Span.Len()); empty without a Base or when that wraps
	Why    string       // a sentence saying where Base came from
	// Conflict is non-nil when the wanted span cannot be had: the object
	// is then not placed (see ConflictError for what happens instead).
	Conflict *ConflictError
}

// Placed reports whether the object gets its wanted base: it has one
// and no conflict stands in the way.
func (p Placement) Placed() bool {
	return p.Source != SourceNone && p.Conflict == nil && !p.Span.Empty()
}

// SpanAt returns the span the object will occupy: Span when Placed,
// otherwise an empty range, as the address is then the kernel's choice.
func (p Placement) SpanAt() region.Range {
	if !p.Placed() {
		return region.Range{}
	}
	return p.Span
}

// Bias returns the load bias a placed object gets: Base - LinkBase,
// modulo 2^64 as ld.so computes it (an object linked above its new base
// has a "negative" bias).
func (p Placement) Bias() uint64 { return p.Base - p.Object.LinkBase }

// Planner chooses bases for objects in load order. The zero Planner
// has no rules and an empty address space; it places objects only at
// their link base or PE ImageBase.
//
// Precedence, highest first: the first Rule that matches, the object's
// non-zero link base (p_vaddr), its PE header's ImageBase (unless it is
// self-referential, see PEHeader.SelfReferential), the first RangeRule
// that matches, none. A fixed-address executable (ET_EXEC) can only be at
// its link base; rules do not move it.
//
// A Planner remembers what it placed: later calls to Plan (objects
// dlopen'ed later) avoid those spans and name their owners in conflicts.
// A Planner is not safe for concurrent use.
type Planner struct {
	Rules  []Rule
	Ranges []RangeRule
	// Strict is copied into every ConflictError: true means a conflict
	// makes the load fail, false that the object loads where ld.so
	// puts it, with a warning.
	Strict bool

	occupied region.Set
	// busy is what is mapped now besides occupied, as the caller last
	// said (SetBusy).
	busy   region.Set
	placed []Placement
}

// Occupy tells the planner that rs are already mapped by the program: a
// span that overlaps them conflicts, and no range packs into them. Leave
// out the guard's own reservations of protected ranges: a placed object
// is an allowed requester there and its mapping replaces them.
func (p *Planner) Occupy(rs ...region.Range) {
	for _, r := range rs {
		p.occupied.Add(r)
	}
}

// OccupySet is Occupy for every range of s.
func (p *Planner) OccupySet(s *region.Set) {
	for r := range s.All() {
		p.occupied.Add(r)
	}
}

// SetBusy tells the planner what is mapped now besides what Occupy told
// it, replacing what SetBusy told it before: ranges pack into none of
// it. Unlike occupied, it is not kept: what is unmapped later is free
// again. The tracer gives it the program's mappings in the guarded
// ranges, pool chunks and the guard's code page among them, before it
// plans an object: with --pool-all ld.so's own first mappings fill the
// pool first fit from its start, and a --place-range there packed every
// object at the pool's start, over the code page and ld.so's cache,
// and none was placed (a warning for each).
func (p *Planner) SetBusy(rs ...region.Range) {
	p.busy = region.Set{}
	for _, r := range rs {
		p.busy.Add(r)
	}
}

// Placements returns the placements made so far that hold (the objects
// placed and not forgotten), in load order.
func (p *Planner) Placements() []Placement { return slices.Clone(p.placed) }

// Forget drops o's placement, when the program unloads it: its span is
// free again.
func (p *Planner) Forget(o *Object) {
	p.placed = slices.DeleteFunc(p.placed, func(pl Placement) bool { return pl.Object == o })
}

// Plan returns a placement for each object, in the order given, which
// must be load order. It works in two passes. First every object with a
// base of its own (a rule, a link base, a PE ImageBase) claims its span,
// in load order: a span that overlaps one claimed before (now or by an
// earlier Plan), an occupied range or the edge of user space conflicts,
// and the earlier claim keeps it. Then the objects a RangeRule matches are
// packed into the free parts of that range, first fit in load order, each
// aligned to Object.Align: after the fixed claims, so packing never
// takes an address a later object asked for by name.
func (p *Planner) Plan(objs ...*Object) []Placement {
	out := make([]Placement, len(objs))
	var packLater []int
	for i, o := range objs {
		pl, packWith := p.want(o)
		if packWith != nil {
			packLater = append(packLater, i)
			out[i] = pl
			continue
		}
		if pl.Source != SourceNone {
			p.claim(&pl)
		}
		out[i] = pl
	}
	for _, i := range packLater {
		p.pack(&out[i])
	}
	return out
}

// want applies the precedence to one object. For an object that a range
// rule should pack it returns that rule as well.
func (p *Planner) want(o *Object) (Placement, *RangeRule) {
	pl := Placement{Object: o}
	if o.Kind == Executable {
		pl.Source, pl.Base = SourceLinkBase, o.LinkBase
		pl.Why = fmt.Sprintf("a fixed-address executable (ET_EXEC) loads at its link address 0x%x", o.LinkBase)
		for _, r := range p.Rules {
			if _, ok := r.Match(o); ok && r.Base != o.LinkBase {
				pl.Why += fmt.Sprintf("; rule %s cannot move it", r)
				break
			}
		}
		return pl, nil
	}
	for _, r := range p.Rules {
		if what, ok := r.Match(o); ok {
			pl.Source, pl.Base = SourceRule, r.Base
			pl.Why = fmt.Sprintf("rule %s matches its %s", r, what)
			return pl, nil
		}
	}
	if o.LinkBase != 0 {
		pl.Source, pl.Base = SourceLinkBase, o.LinkBase
		pl.Why = fmt.Sprintf("linked to run at 0x%x (p_vaddr of its first PT_LOAD)", o.LinkBase)
		return pl, nil
	}
	pe := o.PE
	if pe != nil && pe.ImageBase != 0 && !pe.SelfReferential(o) {
		pl.Source, pl.Base = SourcePEImageBase, pe.ImageBase
		pl.Why = fmt.Sprintf("its %s header (%s) has ImageBase 0x%x", pe.Format(), pe.Symbol, pe.ImageBase)
		return pl, nil
	}
	for i, r := range p.Ranges {
		if what, ok := r.Match(o); ok {
			pl.Source = SourceRange
			pl.Why = fmt.Sprintf("range rule %s matches its %s", r, what)
			return pl, &p.Ranges[i]
		}
	}
	pl.Why = "no rule matches, its link base is 0 and it has no PE ImageBase: ld.so and the kernel choose"
	if pe != nil && pe.ImageBase == 0 {
		pl.Why = fmt.Sprintf("no rule matches, its link base is 0 and its %s header's ImageBase is 0 (no base wanted): ld.so and the kernel choose", pe.Format())
	}
	if pe != nil && pe.ImageBase != 0 {
		pl.Why = fmt.Sprintf("no rule matches, its link base is 0, and its PE ImageBase 0x%x points into its own span (a relocated self-reference, not a wish): ld.so and the kernel choose", pe.ImageBase)
	}
	return pl, nil
}

// claim checks a fixed base and, when nothing stands in its way, records
// the placement.
func (p *Planner) claim(pl *Placement) {
	o := pl.Object
	size := o.Span.Len()
	end, ok := add(pl.Base, size)
	if pl.Base%region.PageSize != 0 {
		pl.Conflict = p.conflict(pl, ConflictUnaligned)
		return
	}
	if o.Kind != Executable && o.Align > region.PageSize && pl.Base%o.Align != 0 {
		// ld.so (glibc 2.35 and later) reserves room for such an
		// object and maps it at the first multiple of its alignment
		// inside: the base cannot be had, and the object would land
		// up to Align-PageSize bytes higher, over a span nobody
		// checked (the eighteenth session found run placing it so,
		// without a word, and inspect showing the base asked for).
		pl.Conflict = p.conflict(pl, ConflictUnaligned)
		pl.Conflict.Align = o.Align
		return
	}
	if ok {
		pl.Span = region.Range{Start: pl.Base, End: end}
	}
	if !ok || end > region.UserEnd || pl.Base < MinAddr {
		pl.Conflict = p.conflict(pl, ConflictOutside) // an empty Span: it wraps
		return
	}
	if taken, ok := p.occupied.FirstWithin(pl.Span); ok {
		pl.Conflict = p.conflict(pl, ConflictOccupied)
		pl.Conflict.Occupied = taken
		return
	}
	for _, other := range p.placed {
		if other.Span.Overlaps(pl.Span) {
			pl.Conflict = p.conflict(pl, ConflictOverlap)
			pl.Conflict.Other, pl.Conflict.OtherSpan = other.Object.Path, other.Span
			pl.Conflict.OtherSource = other.Source
			return
		}
	}
	p.placed = append(p.placed, *pl)
}

// pack places an object into its range rule's range: the lowest free
// address, aligned to the object's alignment, that leaves room for its
// span. Occupied ranges and every placed span are not free. The usable
// part of a range starts at MinAddr.
func (p *Planner) pack(pl *Placement) {
	o := pl.Object
	var rr *RangeRule
	for i := range p.Ranges {
		if _, ok := p.Ranges[i].Match(o); ok {
			rr = &p.Ranges[i]
			break
		}
	}
	free := region.SetOf(rr.Range)
	free.Remove(region.Range{Start: 0, End: MinAddr})
	for r := range p.occupied.Within(rr.Range) {
		free.Remove(r)
	}
	for r := range p.busy.Within(rr.Range) {
		free.Remove(r)
	}
	for _, other := range p.placed {
		free.Remove(other.Span)
	}
	align := max(o.Align, region.PageSize)
	r, ok := free.FirstFit(rr.Range, o.Span.Len(), align)
	if !ok {
		pl.Conflict = p.conflict(pl, ConflictRangeFull)
		pl.Conflict.PlaceRange = rr.Range
		pl.Conflict.Free, pl.Conflict.Largest = free.Total(), free.Largest()
		return
	}
	pl.Base, pl.Span = r.Start, r
	pl.Why = fmt.Sprintf("packed by range rule %s (first fit, aligned to 0x%x)", rr, align)
	p.placed = append(p.placed, *pl)
}

func (p *Planner) conflict(pl *Placement, kind ConflictKind) *ConflictError {
	return &ConflictError{
		Kind:   kind,
		Object: pl.Object.Path,
		Source: pl.Source,
		Base:   pl.Base,
		Span:   pl.Span,
		Size:   pl.Object.Span.Len(),
		Strict: p.Strict,
	}
}
