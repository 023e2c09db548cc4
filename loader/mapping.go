package loader

import "github.com/mmapguard/mmapguard/region"

// FirstMap describes the first mmap call ld.so (glibc's
// _dl_map_segments) makes for an ET_DYN object, the one that reserves the
// whole span; where it lands decides where the object goes.
//
// With Align at most the page size, the call is
//
//	mmap(Hint, Length, Prot, MAP_PRIVATE, fd, Offset)
//
// With a larger Align (glibc 2.35 and later) it is instead
//
//	mmap(Hint, Reserve, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
//
// followed by mmap(A, Length, Prot, MAP_PRIVATE|MAP_FIXED, fd, Offset)
// at the first multiple A of Align inside that reservation, after which
// ld.so unmaps the reservation's unused ends. Either way, ld.so then maps
// the other segments with MAP_FIXED inside the span and fills the
// zero-filled tails.
type FirstMap struct {
	Hint    uint64 // LinkBase: 0 for ordinary objects
	Length  uint64 // last segment's p_vaddr+p_memsz minus LinkBase, not rounded to pages
	Offset  uint64 // first segment's p_offset rounded down to a page
	Prot    int    // first segment's PROT_* bits
	Reserve uint64 // length of the anonymous reservation; 0 when Align is the page size
}

// FirstMap returns the first mmap ld.so makes for o (the zero FirstMap
// for an object without segments, which Read never returns).
func (o *Object) FirstMap() FirstMap {
	if len(o.Segments) == 0 {
		return FirstMap{}
	}
	first, last := o.Segments[0], o.Segments[len(o.Segments)-1]
	m := FirstMap{
		Hint:   o.LinkBase,
		Length: last.Vaddr + last.Memsz - o.LinkBase,
		Offset: region.PageDown(first.Offset),
		Prot:   first.Prot(),
	}
	if o.Align > region.PageSize {
		if m.Length >= o.Align {
			m.Reserve = m.Length + o.Align
		} else {
			m.Reserve = 2 * o.Align
		}
	}
	return m
}

// MatchesMapping reports whether a file-backed mmap of length bytes at
// file offset fileOffset of this object's file has the shape of ld.so's
// span mapping: the offset equals FirstMap().Offset (0 for every object
// a normal linker writes) and the length, rounded up to pages as the
// kernel rounds it, equals Span.Len().
//
// Shape alone is not identity. It does not look at the file: the caller
// must already know that the descriptor refers to this object (same
// device and inode, or same path). Nor does it check the address, the
// protection or the flags, and the later segment mappings can have the
// same shape in a small object (a segment whose p_offset lies in the
// file's first page is mapped from offset 0 too, and in a one-page object
// its length is the span's). Those come with MAP_FIXED, inside the span;
// the span mapping of an object with Align at most the page size comes
// without it, at Hint. For an object with a larger Align the file mapping
// it matches is the MAP_FIXED one inside an anonymous reservation (see
// FirstMap), which must be recognised by its Reserve length instead.
func (o *Object) MatchesMapping(fileOffset, length uint64) bool {
	if length == 0 || len(o.Segments) == 0 {
		return false
	}
	l, ok := region.PageUp(length)
	return ok && fileOffset == region.PageDown(o.Segments[0].Offset) && l == o.Span.Len()
}

// SegmentsAt returns, for an object whose span starts at base, the pages
// each PT_LOAD segment occupies, in the order of Segments: its p_vaddr
// range moved by the bias base - LinkBase and widened to whole pages.
// A segment with p_memsz 0 gives an empty range. The tracer uses it to
// check that every later mapping of the object lands inside its span.
// The caller makes sure base leaves room for the span (a Placement's
// Base does).
func (o *Object) SegmentsAt(base uint64) []region.Range {
	bias := base - o.LinkBase
	out := make([]region.Range, len(o.Segments))
	for i, s := range o.Segments {
		if s.Memsz == 0 {
			continue
		}
		start := region.PageDown(s.Vaddr + bias)
		end, _ := region.PageUp(s.Vaddr + s.Memsz + bias)
		out[i] = region.Range{Start: start, End: end}
	}
	return out
}

// LoaderMap is one MAP_FIXED mmap glibc's ld.so (_dl_map_segments) makes
// for an object once its span is mapped: a segment's file pages, or the
// anonymous zero pages of a segment's tail past its file data (File
// false, Offset 0).
type LoaderMap struct {
	region.Range        // page-aligned, as the kernel maps it
	Prot         int    // the segment's PROT_* bits
	Offset       uint64 // file offset (page-aligned), for File
	File         bool
}

// LoaderMaps returns the MAP_FIXED mappings ld.so makes for o placed at
// base (its span starting there), in order: with Align above the page
// size the first segment's mapping of the whole span from inside the
// anonymous reservation, then each later segment's file pages
// (p_vaddr+p_filesz rounded up; none for a segment without file data)
// and each segment's anonymous zero pages past the page that holds
// the end of its file data, up to p_vaddr+p_memsz.
func (o *Object) LoaderMaps(base uint64) []LoaderMap {
	var out []LoaderMap
	if len(o.Segments) == 0 {
		return nil
	}
	bias := base - o.LinkBase
	fm := o.FirstMap()
	if l, ok := region.PageUp(fm.Length); ok && fm.Reserve != 0 {
		out = append(out, LoaderMap{Range: region.Range{Start: base, End: base + l}, Prot: fm.Prot, Offset: fm.Offset, File: true})
	}
	for i, s := range o.Segments {
		start := region.PageDown(s.Vaddr) + bias
		end, ok := region.PageUp(s.Vaddr + s.Filesz)
		if !ok {
			continue
		}
		end += bias
		if i > 0 && end > start {
			out = append(out, LoaderMap{Range: region.Range{Start: start, End: end}, Prot: s.Prot(), Offset: region.PageDown(s.Offset), File: true})
		}
		if s.Memsz > s.Filesz {
			zero, ok1 := region.PageUp(s.Vaddr + s.Filesz)
			zeroEnd, ok2 := region.PageUp(s.Vaddr + s.Memsz)
			if ok1 && ok2 && zeroEnd > zero {
				out = append(out, LoaderMap{Range: region.Range{Start: zero + bias, End: zeroEnd + bias}, Prot: s.Prot()})
			}
		}
	}
	return out
}

// IsLoaderMap reports whether a MAP_FIXED mmap(addr, length, prot, ...)
// of this object's file at offset (file true), or an anonymous one (file
// false), is exactly one of ld.so's mappings of o placed at base.
func (o *Object) IsLoaderMap(base, addr, length uint64, prot int, offset uint64, file bool) bool {
	l, ok := region.PageUp(length)
	if !ok || length == 0 {
		return false
	}
	for _, m := range o.LoaderMaps(base) {
		if m.File == file && m.Start == addr && m.Len() == l && m.Prot == prot && (!file || m.Offset == offset) {
			return true
		}
	}
	return false
}
