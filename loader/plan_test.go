package loader

import (
	"errors"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// synth builds an object without a file: one segment of size bytes at
// linkBase, and a PE header with imageBase if it is non-zero.
func synth(path, soname string, linkBase, size, imageBase uint64) *Object {
	o := &Object{
		Path:     path,
		Soname:   soname,
		Segments: []Segment{{Vaddr: linkBase, Memsz: size, Filesz: size, Flags: 5}},
		Span:     region.Range{Start: linkBase, End: linkBase + size},
		LinkBase: linkBase,
		Align:    region.PageSize,
	}
	if imageBase != 0 {
		o.PE = &PEHeader{Symbol: NTHeaderSymbol, Magic: peMagic64, ImageBase: imageBase}
	}
	return o
}

// aligned gives a synthetic object segments aligned to align.
func aligned(o *Object, align uint64) *Object {
	o.Align = align
	for i := range o.Segments {
		o.Segments[i].Align = align
	}
	return o
}

func TestPlannerPrecedence(t *testing.T) {
	const (
		ruleBase  = 0x50000000
		linkBase  = 0x7d000000
		imageBase = 0x6a000000
	)
	pack := region.Must(0x10000000, 0x20000000)
	planner := func() *Planner {
		return &Planner{
			Rules:  []Rule{{Pattern: "ruled*", Base: ruleBase}},
			Ranges: []RangeRule{{Range: pack, Pattern: "*"}},
		}
	}
	tests := []struct {
		name   string
		obj    *Object
		source Source
		base   uint64
		why    string
	}{
		{"rule beats everything", synth("/x/ruled.so", "", linkBase, 0x4000, imageBase), SourceRule, ruleBase, "matches its file name"},
		{"rule by soname", synth("/x/other.so", "ruled.so.1", 0, 0x4000, 0), SourceRule, ruleBase, "matches its soname"},
		{"link base beats PE and range", synth("/x/a.so", "", linkBase, 0x4000, imageBase), SourceLinkBase, linkBase, "p_vaddr"},
		{"PE beats range", synth("/x/b.so", "", 0, 0x4000, imageBase), SourcePEImageBase, imageBase, "ImageBase 0x6a000000"},
		{"self-referential PE is no wish", synth("/x/c.so", "", 0, 0x4000, 0x1000), SourceRange, pack.Start, "packed by range rule"},
		{"range packs the rest", synth("/x/d.so", "", 0, 0x4000, 0), SourceRange, pack.Start, "first fit"},
		{"executable stays put", &Object{Path: "/bin/x", Kind: Executable, LinkBase: 0x400000, Span: region.Must(0x400000, 0x401000), Align: 0x1000}, SourceLinkBase, 0x400000, "ET_EXEC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := planner().Plan(tt.obj)[0]
			if pl.Source != tt.source || pl.Base != tt.base {
				t.Errorf("Source %v base %#x, want %v %#x (%s)", pl.Source, pl.Base, tt.source, tt.base, pl.Why)
			}
			if pl.Conflict != nil || !pl.Placed() {
				t.Errorf("not placed: %v", pl.Conflict)
			}
			if want := (region.Range{Start: tt.base, End: tt.base + tt.obj.Span.Len()}); pl.SpanAt() != want {
				t.Errorf("SpanAt() = %v, want %v", pl.SpanAt(), want)
			}
			if pl.Bias() != tt.base-tt.obj.LinkBase {
				t.Errorf("Bias() = %#x", pl.Bias())
			}
			if !strings.Contains(pl.Why, tt.why) {
				t.Errorf("Why = %q, want it to mention %q", pl.Why, tt.why)
			}
		})
	}
	t.Run("nothing", func(t *testing.T) {
		pl := (&Planner{}).Plan(synth("/x/e.so", "", 0, 0x4000, 0))[0]
		if pl.Source != SourceNone || pl.Placed() || !pl.SpanAt().Empty() || pl.Conflict != nil {
			t.Errorf("got %+v, want no placement", pl)
		}
	})
	t.Run("rule cannot move an executable", func(t *testing.T) {
		p := &Planner{Rules: []Rule{{Pattern: "x", Base: 0x500000}}}
		pl := p.Plan(&Object{Path: "/bin/x", Kind: Executable, LinkBase: 0x400000, Span: region.Must(0x400000, 0x401000)})[0]
		if pl.Base != 0x400000 || !strings.Contains(pl.Why, "cannot move it") {
			t.Errorf("got base %#x, %q", pl.Base, pl.Why)
		}
	})
}

func TestPlannerConflicts(t *testing.T) {
	tests := []struct {
		name     string
		planner  Planner
		occupied []region.Range
		objs     []*Object
		kind     ConflictKind
		msg      []string // substrings of the conflict's message
	}{
		{
			name:    "two objects want one base",
			planner: Planner{Rules: []Rule{{Pattern: "*.dll.so", Base: 0x7d000000}}},
			objs:    []*Object{synth("/w/a.dll.so", "", 0, 0x4000, 0), synth("/w/b.dll.so", "", 0, 0x2000, 0)},
			kind:    ConflictOverlap,
			msg:     []string{"/w/b.dll.so wants 0x7d000000-0x7d002000 (rule)", "/w/a.dll.so holds 0x7d000000-0x7d004000 (rule)"},
		},
		{
			name: "link base inside another's span",
			objs: []*Object{synth("/w/a.so", "", 0x7d000000, 0x10000, 0), synth("/w/b.so", "", 0x7d008000, 0x1000, 0)},
			kind: ConflictOverlap,
			msg:  []string{"/w/b.so wants 0x7d008000-0x7d009000 (p_vaddr)", "/w/a.so holds 0x7d000000-0x7d010000 (p_vaddr)"},
		},
		{
			name:     "base inside a mapping the program has",
			occupied: []region.Range{region.Must(0x6a002000, 0x6a003000)},
			objs:     []*Object{synth("/w/pe.dll.so", "", 0, 0x4000, 0x6a000000)},
			kind:     ConflictOccupied,
			msg:      []string{"/w/pe.dll.so wants 0x6a000000-0x6a004000 (PE ImageBase)", "0x6a002000-0x6a003000 is already mapped"},
		},
		{
			name:    "span past the end of user space",
			planner: Planner{Rules: []Rule{{Pattern: "a.so", Base: region.UserEnd - 0x1000}}},
			objs:    []*Object{synth("a.so", "", 0, 0x2000, 0)},
			kind:    ConflictOutside,
			msg:     []string{"a.so wants 0x7fffffffe000-0x800000000000 (rule)", "past the end of user space"},
		},
		{
			name: "span wraps",
			objs: []*Object{synth("a.so", "", 0, 0x2000, 0xfffffffffffff000)},
			kind: ConflictOutside,
			msg:  []string{"wrap"},
		},
		{
			name:    "base below mmap_min_addr",
			planner: Planner{Rules: []Rule{{Pattern: "a.so", Base: 0x1000}}},
			objs:    []*Object{synth("a.so", "", 0, 0x2000, 0)},
			kind:    ConflictOutside,
			msg:     []string{"below 0x10000"},
		},
		{
			name: "unaligned ImageBase",
			objs: []*Object{synth("a.so", "", 0, 0x2000, 0x6a000800)},
			kind: ConflictUnaligned,
			msg:  []string{"a.so wants base 0x6a000800 (PE ImageBase), which is not page-aligned"},
		},
		{
			name:    "base not a multiple of p_align",
			planner: Planner{Rules: []Rule{{Pattern: "a.so", Base: 0x10001000}}},
			objs:    []*Object{aligned(synth("a.so", "", 0, 0x801000, 0), 0x200000)},
			kind:    ConflictUnaligned,
			msg:     []string{"a.so wants base 0x10001000 (rule), which is not a multiple of its segments' alignment 0x200000", "move it up to 0x10200000"},
		},
		{
			name: "link base not a multiple of p_align",
			objs: []*Object{aligned(synth("a.so", "", 0x7d001000, 0x3000, 0), 0x10000)},
			kind: ConflictUnaligned,
			msg:  []string{"a.so wants base 0x7d001000 (p_vaddr), which is not a multiple of its segments' alignment 0x10000"},
		},
		{
			name:    "range full",
			planner: Planner{Ranges: []RangeRule{{Range: region.Must(0x10000000, 0x10005000), Pattern: "*"}}},
			objs:    []*Object{synth("a.so", "", 0, 0x3000, 0), synth("b.so", "", 0, 0x3000, 0)},
			kind:    ConflictRangeFull,
			msg:     []string{"b.so (0x3000 bytes) does not fit in placement range 0x10000000-0x10005000", "0x2000 bytes free"},
		},
		{
			name:     "range full because of a mapping",
			planner:  Planner{Ranges: []RangeRule{{Range: region.Must(0x10000000, 0x10005000), Pattern: "*"}}},
			occupied: []region.Range{region.Must(0x10001000, 0x10002000)},
			objs:     []*Object{synth("a.so", "", 0, 0x4000, 0)},
			kind:     ConflictRangeFull,
			msg:      []string{"0x4000 bytes free, the largest free piece 0x3000 bytes"},
		},
	}
	for _, tt := range tests {
		for _, strict := range []bool{false, true} {
			name := tt.name
			if strict {
				name += "/strict"
			}
			t.Run(name, func(t *testing.T) {
				p := tt.planner
				p.Strict = strict
				p.Occupy(tt.occupied...)
				pls := p.Plan(tt.objs...)
				for _, pl := range pls[:len(pls)-1] {
					if !pl.Placed() {
						t.Errorf("%s not placed: %v", pl.Object.Path, pl.Conflict)
					}
				}
				last := pls[len(pls)-1]
				c := last.Conflict
				if c == nil {
					t.Fatalf("no conflict: %+v", last)
				}
				if last.Placed() || !last.SpanAt().Empty() {
					t.Errorf("conflicting placement counts as placed: SpanAt %v", last.SpanAt())
				}
				if c.Kind != tt.kind || c.Strict != strict {
					t.Errorf("conflict kind %v strict %v, want %v %v", c.Kind, c.Strict, tt.kind, strict)
				}
				var err error = c
				var ce *ConflictError
				if !errors.As(err, &ce) {
					t.Fatal("not a *ConflictError")
				}
				for _, m := range tt.msg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("message %q lacks %q", err, m)
					}
				}
				outcome := "it loads where ld.so puts it"
				if strict {
					outcome = "the load fails"
				}
				if !strings.HasSuffix(err.Error(), outcome) {
					t.Errorf("message %q does not end with %q", err, outcome)
				}
				// A conflicting object is not recorded: the next one may
				// have the place it wanted.
				for _, held := range p.Placements() {
					if held.Object == last.Object {
						t.Errorf("conflicting %s recorded as placed", held.Object.Path)
					}
				}
			})
		}
	}
}

func TestPlannerPacking(t *testing.T) {
	rng := region.Must(0x10000000, 0x10100000)
	p := &Planner{
		Rules:  []Rule{{Pattern: "fixed.so", Base: 0x10004000}},
		Ranges: []RangeRule{{Range: rng, Pattern: "*.dll.so"}},
	}
	big := synth("big.dll.so", "", 0, 0x5000, 0)
	aligned := synth("aligned.dll.so", "", 0, 0x1000, 0)
	aligned.Align = 0x10000
	objs := []*Object{
		synth("a.dll.so", "", 0, 0x3000, 0), // 0x10000000-0x10003000
		big,                                 // does not fit before fixed.so: after it
		synth("b.dll.so", "", 0, 0x1000, 0), // the hole before fixed.so
		aligned,                             // next 64K boundary above
		synth("plain.so", "", 0, 0x1000, 0), // no range matches
		// fixed.so comes last in load order yet keeps its base: fixed
		// bases are claimed before anything is packed.
		synth("fixed.so", "", 0, 0x2000, 0),
	}
	want := []uint64{0x10000000, 0x10006000, 0x10003000, 0x10010000, 0, 0x10004000}
	pls := p.Plan(objs...)
	for i, pl := range pls {
		if pl.Base != want[i] || pl.Conflict != nil {
			t.Errorf("%s at %#x (%v, %s), want %#x", pl.Object.Path, pl.Base, pl.Conflict, pl.Why, want[i])
		}
	}
	// A later Plan (a dlopen) packs around what is placed, and Forget
	// frees a span again.
	next := synth("c.dll.so", "", 0, 0x2000, 0)
	if pl := p.Plan(next)[0]; pl.Base != 0x1000b000 {
		t.Errorf("later object at %#x, want 0x1000b000", pl.Base)
	}
	p.Forget(big)
	if pl := p.Plan(synth("d.dll.so", "", 0, 0x4000, 0))[0]; pl.Base != 0x10006000 {
		t.Errorf("after Forget, object at %#x, want 0x10006000", pl.Base)
	}
}

// TestPlannerBusy: a range packs around what SetBusy says is mapped
// now (the pool's chunks and the guard's code page under --pool-all),
// and what a later SetBusy leaves out is free again, unlike Occupy's.
func TestPlannerBusy(t *testing.T) {
	rng := region.Must(0x200000000000, 0x200000100000)
	p := &Planner{Ranges: []RangeRule{{Range: rng, Pattern: "*"}}}
	p.SetBusy(region.Must(0x200000000000, 0x200000001000), region.Must(0x200000002000, 0x200000010000))
	if pl := p.Plan(synth("a.so", "", 0, 0x2000, 0))[0]; pl.Base != 0x200000010000 || pl.Conflict != nil {
		t.Errorf("a.so at %#x (%v), want 0x200000010000, past what is busy", pl.Base, pl.Conflict)
	}
	p.SetBusy(region.Must(0x200000000000, 0x200000001000))
	if pl := p.Plan(synth("b.so", "", 0, 0x2000, 0))[0]; pl.Base != 0x200000001000 || pl.Conflict != nil {
		t.Errorf("b.so at %#x (%v), want 0x200000001000, busy no more", pl.Base, pl.Conflict)
	}
}

func TestPlannerRangeBelowMinAddr(t *testing.T) {
	p := &Planner{Ranges: []RangeRule{{Range: region.Must(0, 0x100000), Pattern: "*"}}}
	if pl := p.Plan(synth("a.so", "", 0, 0x1000, 0))[0]; pl.Base != MinAddr {
		t.Errorf("packed at %#x, want MinAddr", pl.Base)
	}
}

// TestPlanFixtures plans real objects built by the C compiler: each
// source of a base, a conflict between two of them, and a range packing
// several.
func TestPlanFixtures(t *testing.T) {
	names := []string{"libplain.so", "liblinked.so", "pe64.dll.so", "pe32.dll.so", "both.dll.so", "selfref.dll.so", "pack1.dll.so", "pack2.dll.so", "pack3.dll.so"}
	var objs []*Object
	for _, n := range names {
		objs = append(objs, openFixture(t, n))
	}
	rules, ranges, err := ParsePlacementFile(strings.NewReader(`
		place libplain.so 0x40000000
		range 0x20000000-0x30000000 *.dll.so
	`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Planner{Rules: rules, Ranges: ranges}
	pls := p.Plan(objs...)
	want := []struct {
		source   Source
		base     uint64
		conflict bool
	}{
		{SourceRule, 0x40000000, false},
		{SourceLinkBase, 0x7d000000, false},
		{SourcePEImageBase, 0x6a000000, false},
		{SourcePEImageBase, 0x6b000000, false},
		{SourceLinkBase, 0x7d000000, true}, // liblinked.so holds it
		{SourceRange, 0x20000000, false},   // self-referential ImageBase
		{SourceRange, 0, false},            // bases checked below
		{SourceRange, 0, false},
		{SourceRange, 0, false},
	}
	for i, pl := range pls {
		w := want[i]
		if pl.Source != w.source || (w.base != 0 && pl.Base != w.base) || (pl.Conflict != nil) != w.conflict {
			t.Errorf("%s: %v at %#x, conflict %v; want %v at %#x, conflict %v", names[i], pl.Source, pl.Base, pl.Conflict, w.source, w.base, w.conflict)
		}
	}
	if c := pls[4].Conflict; c == nil || c.Other != objs[1].Path {
		t.Errorf("both.dll.so conflict %v, want one naming liblinked.so", c)
	}
	// The packed objects follow each other, each at the first page (the
	// fixtures' alignment) after the one before.
	prev := pls[5].SpanAt()
	for _, pl := range pls[6:] {
		if pl.Base != prev.End {
			t.Errorf("%s packed at %#x, want %#x right after the previous one", pl.Object.Path, pl.Base, prev.End)
		}
		prev = pl.SpanAt()
	}
}
