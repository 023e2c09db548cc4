package rewrite

import (
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// TestCodePage: the first page of the pool is the guard's code page. It
// is reserved with the rest of the pool until the tracer maps the code
// over that reservation (PendingCode, CodeCall, CodeWritten; CodeMissing
// in a child forked meanwhile). The pool never hands it out, even after the program
// gives back memory around it; the program's calls treat it as a
// reservation, and its munmap across it leaves it; a fork keeps it; an
// explicit MAP_FIXED over it makes it the program's.
func TestCodePage(t *testing.T) {
	g := newGuard(t, opts{poolAll: true})
	want := region.Range{Start: poolLo, End: poolLo + page}
	if !g.Code().Empty() || g.PendingCode() != want {
		t.Fatalf("before the code is written: Code() = %v, PendingCode() = %v, want none and %v", g.Code(), g.PendingCode(), want)
	}
	if pending, _ := g.Fork(ABI64); !pending.Code().Empty() || pending.PendingCode() != want {
		t.Errorf("forked before the code is written: Code() = %v, PendingCode() = %v", pending.Code(), pending.PendingCode())
	}
	for _, r := range g.Reserved() {
		if r.Overlaps(want) && (r.Start != poolLo || r.End != poolHi) {
			t.Errorf("reserved %v: the code page should be in the model's reservations", r)
		}
	}
	if c := g.CodeCall(); c.Args[0] != poolLo || c.Args[1] != page || c.Args[2] != ProtRead|ProtExec ||
		c.Args[3] != MapPrivate|MapAnonymous|MapFixed {
		t.Errorf("CodeCall() = %v", c)
	}
	g.CodeWritten()
	code := g.Code()
	if code != want || !g.PendingCode().Empty() {
		t.Fatalf("Code() = %v, PendingCode() = %v, want %v and none", code, g.PendingCode(), want)
	}
	missing, _ := g.Fork(ABI64)
	if missing.Code() != want {
		t.Errorf("forked child's code page %v, want %v", missing.Code(), want)
	}
	missing.CodeMissing()
	if !missing.Code().Empty() || missing.PendingCode() != want {
		t.Errorf("CodeMissing: Code() = %v, PendingCode() = %v", missing.Code(), missing.PendingCode())
	}
	// Fill the start of the pool, give it all back in one munmap, fill
	// again: the code page is never handed out.
	var got []region.Range
	for range 8 {
		a := g.Decide(mmap(0, 3*page, protRW, anonPriv, ^uint64(0), 0), Caller{})
		if a.Verdict != Run {
			t.Fatalf("pool-all mmap: %v", a)
		}
		r := region.Range{Start: a.Steps[0].Call.Args[0], End: a.Steps[0].Call.Args[0] + 3*page}
		g.Complete(a, r.Start)
		got = append(got, r)
	}
	last := got[len(got)-1]
	if u := g.Decide(call64(sysMunmap64, poolLo, last.End-poolLo), Caller{}); u.Verdict != Run {
		t.Fatalf("munmap across the code page: %v", u)
	}
	for range 8 {
		a := g.Decide(mmap(0, page, protRW, anonPriv, ^uint64(0), 0), Caller{})
		if r := (region.Range{Start: a.Steps[0].Call.Args[0], End: a.Steps[0].Call.Args[0] + page}); r.Overlaps(code) {
			t.Fatalf("the pool handed out the code page: %v", a)
		}
		g.Complete(a, a.Steps[0].Call.Args[0])
	}
	checkModel(t, g)
	// munmap of the code page and the page after it: the reservation
	// put back leaves the code page out; of the code page alone,
	// answered without the kernel.
	if a := g.Decide(call64(sysMunmap64, poolLo, 2*page), Caller{}); a.Verdict != Return && (len(a.Steps) != 1 ||
		a.Steps[0].Call.String() != reservation(ABI64, region.Range{Start: poolLo + page, End: poolLo + 2*page}, MapFixed).String()) {
		t.Errorf("munmap across the code page: %v", a)
	}
	if a := g.Decide(call64(sysMunmap64, poolLo, page), Caller{}); a.Verdict != Return {
		t.Errorf("munmap of the code page: %v, want it answered without the kernel", a)
	}
	// The program's calls aimed at it see a reservation.
	if a := g.Decide(call64(sysMprotect64, poolLo, page, protRW), Caller{}); a.Verdict != Return || a.Ret != Err(ENOMEM) {
		t.Errorf("mprotect of the code page: %v, want ENOMEM", a)
	}
	if a := g.Decide(call64(sysMadvise64, poolLo, page, MadvDontFork), Caller{}); a.Verdict != Return {
		t.Errorf("madvise of the code page: %v, want it answered without the kernel", a)
	}
	child, _ := g.Fork(ABI64)
	if child.Code() != code {
		t.Errorf("forked child's code page %v, want %v", child.Code(), code)
	}
	// An explicit MAP_FIXED there is the program's choice: the page is
	// its own from then on.
	a := g.Decide(mmap(poolLo, page, protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{})
	g.Complete(a, poolLo)
	if !g.Code().Empty() || !g.PendingCode().Empty() {
		t.Errorf("Code() = %v, PendingCode() = %v after the program mapped over it", g.Code(), g.PendingCode())
	}
	if child.Code() != code {
		t.Errorf("the child's code page went with the parent's")
	}
}

// TestCodePageNoPool: without a pool the code page is a page of its own
// below the default pool's start, guarded (so the program's calls there
// stop) and reserved; a protected range there pushes it a GiB lower.
func TestCodePageNoPool(t *testing.T) {
	g := newGuard(t, opts{noPool: true})
	want := region.Range{Start: 0x1ffffffff000, End: 0x200000000000}
	if g.PendingCode() != want || g.Policy().Code != want {
		t.Fatalf("no pool: PendingCode() = %v, policy %v, want %v", g.PendingCode(), g.Policy().Code, want)
	}
	if gr := g.Policy().Guarded(); len(gr) != 2 || gr[1] != want {
		t.Errorf("guarded %v, want the protected range and the code page", gr)
	}
	if a := g.Decide(call64(sysMprotect64, want.Start, page, protRW), Caller{}); a.Verdict != Return || a.Ret != Err(ENOMEM) {
		t.Errorf("mprotect of the code page: %v, want ENOMEM", a)
	}
	p, err := NewPolicy([]region.Range{{Start: 0x1fff00000000, End: 0x200000000000}}, region.Range{}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := (region.Range{Start: 0x1ffefffff000, End: 0x1fff00000000}); p.Code != want {
		t.Errorf("code page under a protected range: %v, want %v", p.Code, want)
	}
}

// TestCodePageAbsent: no code page for an i386 program, or when its page
// is taken at exec.
func TestCodePageAbsent(t *testing.T) {
	p, err := NewPolicy([]region.Range{{Start: pLo, End: pHi}}, region.Range{Start: poolLo, End: poolHi}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	g32 := NewGuard(p)
	g32.Reserve(ABI32, nil)
	g32.CodeWritten()
	if !g32.Code().Empty() || !g32.PendingCode().Empty() {
		t.Errorf("i386: Code() = %v, PendingCode() = %v", g32.Code(), g32.PendingCode())
	}
	gOcc := NewGuard(p)
	gOcc.Reserve(ABI64, []region.Mapping{{Range: region.Range{Start: poolLo, End: poolLo + page}, Perms: "rw-p"}})
	gOcc.CodeWritten()
	if !gOcc.Code().Empty() || !gOcc.PendingCode().Empty() {
		t.Errorf("first pool page occupied: Code() = %v, PendingCode() = %v", gOcc.Code(), gOcc.PendingCode())
	}
}

// TestQuietOnSuccess: actions whose successful result Complete ignores.
func TestQuietOnSuccess(t *testing.T) {
	g := newGuard(t, opts{})
	cases := []struct {
		name string
		c    Call
		want bool
	}{
		{"reroute to the pool", mmap(0x10000000, page, protRW, anonPriv, ^uint64(0), 0), true},
		{"mremap moving out", call64(sysMremap64, exeLo, 2*page, 8*page, MremapMayMove), false},
		{"brk", call64(sysBrk64, 0), false},
		{"shmat over a reservation", Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, 0x10000000, 0}, ShmSize: page}, false},
		{"munmap of a program mapping", call64(sysMunmap64, exeLo, page), true},
	}
	for _, c := range cases {
		if got := g.Decide(c.c, Caller{}).QuietOnSuccess(); got != c.want {
			t.Errorf("%s: QuietOnSuccess() = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestReserveBlind: without the layout, one call per guarded range (the
// code page in it, still a reservation); a range found occupied (EEXIST)
// is reserved again from the layout, around what is there.
func TestReserveBlind(t *testing.T) {
	p, err := NewPolicy([]region.Range{{Start: pLo, End: pHi}}, region.Range{Start: poolLo, End: poolHi}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGuard(p)
	calls := g.ReserveBlind(ABI64)
	want := []string{
		reservation(ABI64, region.Range{Start: pLo, End: pHi}, MapFixedNoReplace).String(),
		reservation(ABI64, region.Range{Start: poolLo, End: poolHi}, MapFixedNoReplace).String(),
	}
	if len(calls) != 2 || calls[0].String() != want[0] || calls[1].String() != want[1] {
		t.Fatalf("ReserveBlind = %v, want %v", calls, want)
	}
	if g.PendingCode() != (region.Range{Start: poolLo, End: poolLo + page}) {
		t.Errorf("PendingCode() = %v", g.PendingCode())
	}
	// The protected range holds a non-PIE image: EEXIST, then the layout.
	maps := []region.Mapping{{Range: region.Range{Start: exeLo, End: exeHi}, Perms: "r-xp", Path: "/usr/bin/old"}}
	more, occ := g.ReserveIn(ABI64, region.Range{Start: pLo, End: pHi}, maps)
	if len(occ) != 1 || len(more) != 2 || more[0].Args[0] != pLo || more[0].Args[0]+more[0].Args[1] != exeLo ||
		more[1].Args[0] != exeHi || more[1].Args[0]+more[1].Args[1] != pHi {
		t.Fatalf("ReserveIn = %v, occupied %v", more, occ)
	}
	for _, c := range more {
		g.Injected(c, c.Args[0])
	}
	g.Injected(calls[1], calls[1].Args[0])
	checkModel(t, g)
	if got := g.Mapped(); len(got) != 1 || got[0] != (region.Range{Start: exeLo, End: exeHi}) {
		t.Errorf("mapped %v, want the image", got)
	}
	if st := g.Stats(); st.Reservations != 3 || st.ReserveFailures != 0 {
		t.Errorf("stats %+v: want 3 reservations, no failure", st)
	}
	// An i386 program: the pool above 4 GiB is left alone, no code page.
	g32 := NewGuard(p)
	if c := g32.ReserveBlind(ABI32); len(c) != 1 || c[0].Args[0] != pLo || !g32.PendingCode().Empty() {
		t.Errorf("i386 ReserveBlind = %v, code %v", c, g32.PendingCode())
	}
}

// TestCodePageUnmappedByTail: an mremap shrinking a mapping of the
// program's just below the pool, whose old range reaches over the pool's
// first page (the code page), would have the kernel unmap that tail, the
// code page with it, while another thread may be on its way through a
// trampoline there (SIGSEGV in most runs; found in the twelfth
// session): it is refused with EFAULT, the code page left as it is.
// Where the kernel does unmap the code page behind the guard's back (an
// io_destroy's ring reaching into the pool: Refill), the code is mapped
// again when next wanted.
func TestCodePageUnmappedByTail(t *testing.T) {
	want := region.Range{Start: poolLo, End: poolLo + page}
	for _, fixed := range []bool{true, false} {
		g := newGuard(t, opts{})
		g.CodeWritten()
		own := g.Decide(mmap(poolLo-2*page, 2*page, protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 1})
		g.Complete(own, poolLo-2*page)
		c := call64(sysMremap64, poolLo-2*page, 3*page, page, MremapMayMove)
		if fixed {
			c = call64(sysMremap64, poolLo-2*page, 3*page, page, MremapMayMove|MremapFixed, outsideLib)
		}
		a := g.Decide(c, Caller{Task: 1})
		if a.Verdict != Return || a.Ret != Err(EFAULT) {
			t.Errorf("fixed %v: %v, want EFAULT", fixed, a)
		}
		if g.Code() != want {
			t.Errorf("fixed %v: Code() = %v, want %v", fixed, g.Code(), want)
		}
	}
	g := newGuard(t, opts{})
	g.CodeWritten()
	g.Refill(1, ABI64, []region.Range{{Start: poolLo - page, End: poolLo + 64*page}})
	if !g.Code().Empty() || g.PendingCode() != want {
		t.Errorf("after a refill over it, Code() = %v, PendingCode() = %v, want none and %v", g.Code(), g.PendingCode(), want)
	}
}
