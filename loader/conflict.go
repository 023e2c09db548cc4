package loader

import (
	"fmt"

	"github.com/mmapguard/mmapguard/region"
)

// ConflictKind says why a wanted span cannot be had.
type ConflictKind int

const (
	// ConflictOverlap: the span overlaps an object placed before it.
	ConflictOverlap ConflictKind = iota
	// ConflictOccupied: the span overlaps a range already mapped.
	ConflictOccupied
	// ConflictOutside: the span starts below MinAddr, ends past
	// region.UserEnd or overflows.
	ConflictOutside
	// ConflictRangeFull: the placement range has no free piece the
	// object fits in.
	ConflictRangeFull
	// ConflictUnaligned: the base is not page-aligned (a PE ImageBase
	// can be anything), or not a multiple of the alignment of an object
	// whose segments are aligned above the page size (Align set), which
	// ld.so would move up to the next multiple.
	ConflictUnaligned
)

func (k ConflictKind) String() string {
	switch k {
	case ConflictOverlap:
		return "overlap"
	case ConflictOccupied:
		return "occupied"
	case ConflictOutside:
		return "outside user space"
	case ConflictRangeFull:
		return "range full"
	case ConflictUnaligned:
		return "unaligned"
	}
	return fmt.Sprintf("ConflictKind(%d)", int(k))
}

// ConflictError reports an object that cannot have the span it wants.
//
// What happens then is the caller's to enforce, and Strict says which:
// by default (Strict false) the object is left to ld.so, which maps it
// wherever the kernel puts it, and the conflict is a warning; with Strict
// the load fails (at start-up the program cannot start, a dlopen returns
// an error and the program carries on).
type ConflictError struct {
	Kind   ConflictKind
	Object string       // path of the object that wanted the span
	Source Source       // where its wish came from
	Base   uint64       // the base it wanted (0 for ConflictRangeFull)
	Span   region.Range // the span it wanted (empty for ConflictRangeFull, ConflictUnaligned and a span that wraps)
	Size   uint64       // its span's length

	// ConflictOverlap: the object that holds the span, where, and why.
	Other       string
	OtherSpan   region.Range
	OtherSource Source

	// ConflictOccupied: the first occupied range inside Span.
	Occupied region.Range

	// ConflictRangeFull: the range, its free bytes and its largest
	// free piece.
	PlaceRange    region.Range
	Free, Largest uint64

	// ConflictUnaligned of a page-aligned base: the object's
	// alignment (Object.Align), which the base is no multiple of.
	Align uint64

	Strict bool
}

// Error says what conflicts with what, naming both sides, and what
// happens to the load.
func (e *ConflictError) Error() string {
	return e.Problem() + "; " + e.Outcome()
}

// Problem is Error without the outcome.
func (e *ConflictError) Problem() string {
	switch e.Kind {
	case ConflictOverlap:
		return fmt.Sprintf("%s wants %v (%s) but %s holds %v (%s)", e.Object, e.Span, e.Source, e.Other, e.OtherSpan, e.OtherSource)
	case ConflictOccupied:
		return fmt.Sprintf("%s wants %v (%s) but %v is already mapped", e.Object, e.Span, e.Source, e.Occupied)
	case ConflictOutside:
		switch {
		case e.Span.Empty():
			return fmt.Sprintf("%s wants base 0x%x (%s) but its 0x%x bytes would wrap past the end of the address space", e.Object, e.Base, e.Source, e.Size)
		case e.Base < MinAddr:
			return fmt.Sprintf("%s wants %v (%s), below 0x%x, the lowest address mmap allows", e.Object, e.Span, e.Source, MinAddr)
		}
		return fmt.Sprintf("%s wants %v (%s), past the end of user space (0x%x)", e.Object, e.Span, e.Source, region.UserEnd)
	case ConflictRangeFull:
		return fmt.Sprintf("%s (0x%x bytes) does not fit in placement range %v: 0x%x bytes free, the largest free piece 0x%x bytes",
			e.Object, e.Size, e.PlaceRange, e.Free, e.Largest)
	case ConflictUnaligned:
		if e.Align > region.PageSize {
			up := (e.Base + e.Align - 1) &^ (e.Align - 1)
			return fmt.Sprintf("%s wants base 0x%x (%s), which is not a multiple of its segments' alignment 0x%x (p_align): ld.so maps such an object only at a multiple, and would move it up to 0x%x (give it a base aligned to 0x%x)",
				e.Object, e.Base, e.Source, e.Align, up, e.Align)
		}
		return fmt.Sprintf("%s wants base 0x%x (%s), which is not page-aligned", e.Object, e.Base, e.Source)
	}
	return fmt.Sprintf("%s: conflict %v", e.Object, e.Kind)
}

// Outcome says what becomes of the load, following Strict.
func (e *ConflictError) Outcome() string {
	if e.Strict {
		return "strict placement: the load fails"
	}
	return "it loads where ld.so puts it"
}
