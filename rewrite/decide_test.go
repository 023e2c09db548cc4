package rewrite

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

const (
	pLo, pHi   = 0x10000, 0x80000000 // protected
	poolLo     = 0x200000000000
	poolHi     = 0x300000000000
	exeLo      = 0x400000 // a non-PIE executable inside the protected range
	exeHi      = 0x402000
	anyFd      = 3
	anonPriv   = MapPrivate | MapAnonymous
	protRW     = ProtRead | ProtWrite
	page       = region.PageSize
	outsideLib = 0x7f0000000000
)

type opts struct {
	noPool, poolAll, strict bool
}

func newGuard(t testing.TB, o opts) *Guard {
	t.Helper()
	pool := region.Range{Start: poolLo, End: poolHi}
	if o.noPool {
		pool = region.Range{}
	}
	p, err := NewPolicy([]region.Range{{Start: pLo, End: pHi}}, pool, o.poolAll, o.strict)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGuard(p)
	maps := []region.Mapping{
		{Range: region.Range{Start: exeLo, End: exeHi}, Perms: "r-xp", Path: "/usr/bin/old"},
		{Range: region.Range{Start: 0x7ffc00000000, End: 0x7ffc00021000}, Perms: "rw-p", Path: "[stack]"},
	}
	calls, occ := g.Reserve(ABI64, maps)
	if len(occ) != 1 || occ[0].Path != "/usr/bin/old" {
		t.Fatalf("Reserve occupied = %v, want the executable", occ)
	}
	for _, c := range calls {
		g.Injected(c, c.Args[0])
	}
	checkModel(t, g)
	return g
}

func mmap(addr, n, prot, flags, fd, off uint64) Call {
	return Call{ABI: ABI64, Nr: sysMmap64, Args: [6]uint64{addr, n, prot, flags, fd, off}}
}

func call64(nr uint64, args ...uint64) Call {
	c := Call{ABI: ABI64, Nr: nr}
	copy(c.Args[:], args)
	return c
}

func call32(nr uint64, args ...uint64) Call {
	c := Call{ABI: ABI32, Nr: nr}
	copy(c.Args[:], args)
	return c
}

func steps(a *Action) string {
	var s []string
	for _, st := range a.Steps {
		s = append(s, st.Call.String())
	}
	return strings.Join(s, "; ")
}

// checkModel verifies the model's invariants: reservations and program
// mappings are disjoint and lie inside the guarded ranges.
func checkModel(t testing.TB, g *Guard) {
	t.Helper()
	var guarded region.Set
	for _, r := range g.policy.Guarded() {
		guarded.Add(r)
	}
	for r := range g.reserved.All() {
		if g.mapped.Overlaps(r) {
			t.Errorf("reservation %v overlaps a program mapping: %v", r, g.mapped.String())
		}
		if !guarded.Covers(r) {
			t.Errorf("reservation %v outside guarded ranges", r)
		}
	}
	for r := range g.mapped.All() {
		if !guarded.Covers(r) {
			t.Errorf("program mapping %v tracked outside guarded ranges", r)
		}
	}
}

type want struct {
	verdict Verdict
	outcome Outcome
	ret     uint64 // for Return, and Run with FixRet
	steps   string // for Run, as steps() prints them
	exit    bool
	hole    bool // the call can free part of a guarded range until its After calls
}

func TestDecide(t *testing.T) {
	fixed := uint64(anonPriv | MapFixed)
	noRepl := uint64(anonPriv | MapFixedNoReplace)
	res := func(a, n uint64) string {
		return reservation(ABI64, region.Range{Start: a, End: a + n}, MapFixed).String()
	}
	cases := []struct {
		name  string
		o     opts
		owner bool
		setup func(*Guard)
		call  Call
		want  want
	}{
		// mmap without a hint: the kernel's choice, reservations keep it out.
		{name: "mmap/null-hint", call: mmap(0, 4096, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/null-hint/pool-all", o: opts{poolAll: true}, call: mmap(0, 4096, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x1000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/null-hint/pool-all/2MiB-aligned", o: opts{poolAll: true}, setup: func(g *Guard) {
			g.Decide(mmap(0, 4096, protRW, anonPriv, ^uint64(0), 0), Caller{})
		}, call: mmap(0, 4<<20, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000200000, 0x400000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/hint-inside/to-pool", call: mmap(0x10000000, 8192, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x2000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/hint-inside/unaligned-hint", call: mmap(0x10000123, 100, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x64, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/hint-inside/no-pool", o: opts{noPool: true}, call: mmap(0x10000000, 8192, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rewritten,
				steps: "mmap(0x0, 0x2000, 0x3, 0x22, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/hint-at-start", call: mmap(pLo, 4096, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x1000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		// arch_prctl(ARCH_MAP_VDSO_*, hint): a hint whose image could
		// reach a guarded range is dropped.
		{name: "arch_prctl/vdso64-hint-inside", call: call64(sysArchPrctl64, 0x2003, 0x30000000),
			want: want{verdict: Run, outcome: Rewritten, steps: "arch_prctl(0x2003, 0x0)"}},
		{name: "arch_prctl/vdso32-hint-just-below", call: call64(sysArchPrctl64, 0x2002, pLo-page),
			want: want{verdict: Run, outcome: Rewritten, steps: "arch_prctl(0x2002, 0x0)"}},
		{name: "arch_prctl/vdso64-hint-in-pool", call: call64(sysArchPrctl64, 1<<32|0x2003, poolLo+page),
			want: want{verdict: Run, outcome: Rewritten, steps: "arch_prctl(0x100002003, 0x0)"}},
		{name: "arch_prctl/vdso64-hint-far", call: call64(sysArchPrctl64, 0x2003, outsideLib),
			want: want{verdict: Allow}},
		{name: "arch_prctl/vdso64-no-hint", call: call64(sysArchPrctl64, 0x2003, 0),
			want: want{verdict: Allow}},
		{name: "arch_prctl/set-fs", call: call64(sysArchPrctl64, 0x1002, 0x30000000),
			want: want{verdict: Allow}},
		{name: "mmap/hint-just-below", call: mmap(pLo-page, 2*page, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/hint-at-end", call: mmap(pHi, 4096, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/hint-last-page", call: mmap(pHi-page, 4096, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x1000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/hint-inside/owner", owner: true, call: mmap(0x10000000, 8192, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rewritten, exit: true,
				steps: "mmap(0x10000000, 0x2000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/hint-inside/owner/32bit", owner: true, call: mmap(0x50000000, 8192, protRW, anonPriv|Map32Bit, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rewritten, exit: true,
				steps: "mmap(0x50000000, 0x2000, 0x3, 0x72, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/hint-inside/32bit", call: mmap(0x50000000, 8192, protRW, anonPriv|Map32Bit, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/hint-inside/owner/occupied", owner: true, call: mmap(exeLo, 8192, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/hint-inside/owner/straddles-end", owner: true, call: mmap(pHi-page, 2*page, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/file/hint-inside/to-pool", call: mmap(0x20000000, 3*page, ProtRead, MapPrivate, anyFd, 0x3000),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x3000, 0x1, 0x12, 0x3, 0x3000)"}},
		{name: "mmap/hint-outside/pool-all", o: opts{poolAll: true}, call: mmap(0xc000000000, 1<<20, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/hint-inside/pool-all", o: opts{poolAll: true}, call: mmap(0x10000000, 8192, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x2000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		// A hint to a free place in the pool is honoured there, as the
		// kernel honours one to a free place.
		{name: "mmap/hint-in-pool/pool-all", o: opts{poolAll: true}, call: mmap(poolLo+1<<30, 4096, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200040000000, 0x1000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		// One to the code page (not free) goes first fit.
		{name: "mmap/hint-at-code-page/pool-all", o: opts{poolAll: true}, call: mmap(poolLo, 4096, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x1000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/hint-straddling-pool-end/pool-all", o: opts{poolAll: true}, call: mmap(poolHi-page, 2*page, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rerouted, exit: true,
				steps: "mmap(0x200000001000, 0x2000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "mmap/pool-exhausted", o: opts{poolAll: true}, call: mmap(0, 32<<40, ProtNone, anonPriv|MapNoReserve, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/32bit", o: opts{poolAll: true}, call: mmap(0, 4096, protRW, anonPriv|Map32Bit, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/zero-length", call: mmap(0x10000000, 0, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "mmap/huge-length-overflows", call: mmap(0x10000000, ^uint64(0)-10, protRW, anonPriv, ^uint64(0), 0),
			want: want{verdict: Allow}},

		// MAP_FIXED and MAP_FIXED_NOREPLACE.
		{name: "fixed/inside/honoured", call: mmap(0x10000000, 4096, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Allow, exit: true}},
		{name: "fixed/outside", call: mmap(outsideLib, 4096, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "fixed/straddles-start", call: mmap(pLo-page, 2*page, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Allow, exit: true}},
		{name: "fixed/ends-at-start", call: mmap(pLo-page, page, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "fixed/length-not-page-multiple-touches", call: mmap(pLo-page, page+1, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Allow, exit: true}},
		{name: "fixed/strict/denied", o: opts{strict: true}, call: mmap(0x10000000, 4096, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "fixed/strict/owner", o: opts{strict: true}, owner: true, call: mmap(0x10000000, 4096, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Allow, exit: true}},
		{name: "fixed/strict/pool-is-not-protected", o: opts{strict: true}, call: mmap(poolLo, 4096, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Allow, exit: true}},
		{name: "fixed/unaligned", call: mmap(0x10000001, 4096, protRW, fixed, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "noreplace/over-reservation", call: mmap(0x10000000, 4096, protRW, noRepl, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rewritten, exit: true,
				steps: "mmap(0x10000000, 0x1000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "noreplace/over-program", call: mmap(exeLo, 4096, protRW, noRepl, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "noreplace/over-program-bad-fd", call: mmap(exeLo, 4096, ProtRead, MapPrivate|MapFixedNoReplace, 999, 0),
			want: want{verdict: Allow}},
		{name: "noreplace/past-user-space", call: mmap(0x10000000, 1<<63, protRW, noRepl, ^uint64(0), 0),
			want: want{verdict: Allow}},
		// The kernel's own errors come first: no such type (EINVAL), no
		// open descriptor (EBADF); EPERM only for a call it would run.
		{name: "fixed/strict-no-such-type", o: opts{strict: true}, call: mmap(0x10000000, 4096, protRW, MapAnonymous|MapFixed, ^uint64(0), 0),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EINVAL)}},
		{name: "fixed/strict-droppable", o: opts{strict: true}, call: mmap(0x10000000, 4096, protRW, MapDroppable|MapAnonymous|MapFixed, ^uint64(0), 0),
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "fixed/strict-bad-fd", o: opts{strict: true}, call: func() Call {
			c := mmap(0x10000000, 4096, ProtRead, MapShared|MapFixed, 999, 0)
			c.BadFd = true
			return c
		}(), want: want{verdict: Return, outcome: Emulated, ret: Err(EBADF)}},
		{name: "fixed/strict-past-user-space", o: opts{strict: true}, call: mmap(0x10000000, 1<<47, protRW, MapPrivate|MapAnonymous|MapFixed, ^uint64(0), 0),
			want: want{verdict: Allow}},
		{name: "fixed/strict-unaligned-offset", o: opts{strict: true}, call: mmap(0x10000000, 4096, protRW, MapPrivate|MapAnonymous|MapFixed, ^uint64(0), 1),
			want: want{verdict: Allow}},
		// (A file mapped over a protected range holds the other threads:
		// see TestLateFailHolds.)
		{name: "noreplace/straddles-end", call: mmap(pHi-page, 2*page, ProtRead, MapPrivate|MapFixedNoReplace, anyFd, 0x5000),
			want: want{verdict: Run, outcome: Rewritten, exit: true, hole: true, ret: pHi - page,
				steps: "mmap(0x80000000, 0x1000, 0x0, 0x104022, 0xffffffffffffffff, 0x0); mmap(0x7ffff000, 0x2000, 0x1, 0x12, 0x3, 0x5000)"}},
		// No such descriptor: the kernel's EBADF comes first (a
		// placeholder made it EEXIST where the outside was mapped).
		{name: "noreplace/straddles-end-bad-fd", call: func() Call {
			c := mmap(pHi-page, 2*page, ProtRead, MapShared|MapFixedNoReplace, 999, 0)
			c.BadFd = true
			return c
		}(), want: want{verdict: Allow}},
		// A private anonymous mapping across the edge is mapped in
		// pieces (the same memory as one mapping).
		{name: "noreplace/straddles-end-anonymous", call: mmap(pHi-page, 2*page, protRW, MapPrivate|MapAnonymous|MapFixedNoReplace, ^uint64(0), 0),
			want: want{verdict: Run, outcome: Rewritten, exit: true, ret: pHi - page,
				steps: "mmap(0x80000000, 0x1000, 0x3, 0x100022, 0xffffffffffffffff, 0x0); mmap(0x7ffff000, 0x1000, 0x3, 0x32, 0xffffffffffffffff, 0x0)"}},
		{name: "noreplace/strict", o: opts{strict: true}, call: mmap(0x10000000, 4096, protRW, noRepl, ^uint64(0), 0),
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},

		// munmap.
		{name: "munmap/outside", call: call64(sysMunmap64, outsideLib, 4096),
			want: want{verdict: Allow}},
		{name: "munmap/program-mapping-inside", call: call64(sysMunmap64, exeLo, exeHi-exeLo),
			want: want{verdict: Run, outcome: Rewritten, ret: 0, steps: res(exeLo, exeHi-exeLo)}},
		{name: "munmap/reservation-only", call: call64(sysMunmap64, 0x10000000, 4096),
			want: want{verdict: Return, outcome: Emulated, ret: 0}},
		{name: "munmap/straddles-start", setup: func(g *Guard) {
			a := g.Decide(mmap(pLo, page, protRW, fixed, ^uint64(0), 0), Caller{})
			g.Complete(a, pLo)
		}, call: call64(sysMunmap64, pLo-page, 2*page),
			want: want{verdict: Run, outcome: Rewritten, ret: 0,
				steps: "munmap(0xf000, 0x1000); " + res(pLo, page)}},
		{name: "munmap/unaligned", call: call64(sysMunmap64, exeLo+1, 4096),
			want: want{verdict: Allow}},
		{name: "munmap/zero", call: call64(sysMunmap64, exeLo, 0),
			want: want{verdict: Allow}},
		{name: "munmap/pool-chunk", o: opts{poolAll: true}, setup: func(g *Guard) {
			a := g.Decide(mmap(0, 3*page, protRW, anonPriv, ^uint64(0), 0), Caller{})
			g.Complete(a, poolLo)
		}, call: call64(sysMunmap64, poolLo, 3*page),
			// The code page (the pool's first) stays as it is.
			want: want{verdict: Run, outcome: Rewritten, ret: 0, steps: res(poolLo+page, 2*page)}},

		// mprotect, pkey_mprotect, mlock.
		{name: "mprotect/program-mapping", call: call64(sysMprotect64, exeLo, page, protRW),
			want: want{verdict: Allow}},
		{name: "mprotect/reservation", call: call64(sysMprotect64, 0x10000000, page, protRW),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "mprotect/program-then-reservation", call: call64(sysMprotect64, exeLo, 3*page, protRW),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM),
				steps: "mprotect(0x400000, 0x2000, 0x3)"}},
		{name: "mprotect/zero-length", call: call64(sysMprotect64, 0x10000000, 0, protRW),
			want: want{verdict: Allow}},
		{name: "mprotect/unaligned", call: call64(sysMprotect64, 0x10000001, page, protRW),
			want: want{verdict: Allow}},
		{name: "mprotect/huge-length-covers-reservation", call: call64(sysMprotect64, 0x10000000, 1<<50, protRW),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "pkey_mprotect/reservation", call: call64(sysPkeyMprotect64, 0x10000000, page, protRW, 0xffffffff),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "mlock/unaligned-rounds-into-reservation", call: call64(sysMlock64, exeHi-10, 20),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM),
				steps: "mlock(0x401000, 0x1000)"}},
		{name: "mseal/reservation", call: call64(sysMseal64, 0x10000000, page, 0),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "mseal/program", call: call64(sysMseal64, exeLo, page, 0),
			want: want{verdict: Allow}},

		// The kernel's own checks of the arguments come before it looks
		// for a mapping: their errno, not the reservation's.
		{name: "mprotect/reservation/unknown-prot-bit", call: call64(sysMprotect64, 0x10000000, page, 0x10),
			want: want{verdict: Allow}},
		{name: "mprotect/reservation/prot-bit-in-high-word", call: call64(sysMprotect64, 0x10000000, page, 1<<32|ProtRead),
			want: want{verdict: Allow}},
		{name: "mprotect/reservation/growsdown-and-growsup", call: call64(sysMprotect64, 0x10000000, page, ProtGrowsDown|ProtGrowsUp|ProtRead),
			want: want{verdict: Allow}},
		{name: "mprotect/reservation/prot-sem-and-growsup", call: call64(sysMprotect64, 0x10000000, page, ProtSem|ProtGrowsUp|ProtRead),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "mprotect/program-then-reservation/unknown-prot-bit", call: call64(sysMprotect64, exeLo, 3*page, 0x40),
			want: want{verdict: Allow}},
		{name: "i386/mprotect/reservation/high-word-ignored", call: call32(sysMprotect32, 0x10000000, page, 1<<32|ProtRead),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "pkey_mprotect/reservation/pkey-checked-by-probe", call: call64(sysPkeyMprotect64, 0x10000000, page, protRW, 1),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM),
				steps: "pkey_mprotect(0x8000000000000000, 0x1000, 0x2000000, 0x1)"}},
		{name: "pkey_mprotect/program-then-reservation/pkey-checked-by-prefix", call: call64(sysPkeyMprotect64, exeLo, 3*page, protRW, 1),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM),
				steps: "pkey_mprotect(0x400000, 0x2000, 0x3, 0x1)"}},
		{name: "i386/pkey_mprotect/reservation/pkey-checked-by-probe", call: call32(sysPkeyMprotect32, 0x10000000, page, protRW, 3),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM),
				steps: "pkey_mprotect(0xfffff000, 0x1000, 0x2000000, 0x3) [i386]"}},
		{name: "mlock2/reservation/unknown-flag", call: call64(sysMlock2_64, 0x10000000, page, 2),
			want: want{verdict: Allow}},
		{name: "mlock2/reservation/flag-in-high-word-ignored", call: call64(sysMlock2_64, 0x10000000, page, 1<<32),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "mlock(0x10000000, 0x0)"}},
		{name: "mlock/reservation/rlimit-checked-by-probe", call: call64(sysMlock64, 0x10000000, page),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "mlock(0x10000000, 0x0)"}},
		{name: "i386/mlock2/reservation/rlimit-checked-by-probe", call: call32(sysMlock2_32, 0x10000000, page, MlockOnFault),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "mlock(0x10000000, 0x0) [i386]"}},
		{name: "munlock/reservation", call: call64(sysMunlock64, 0x10000000, page),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		// A length within a page of 2^64 wraps to one page in the
		// kernel (PAGE_ALIGN(len + offset in the page)), or to none.
		{name: "mlock/reservation/length-wraps-to-a-page", call: call64(sysMlock64, 0x10000800, 0xfffffffffffff900),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "mlock(0x10000000, 0x0)"}},
		{name: "mlock2/reservation/length-wraps-to-a-page", call: call64(sysMlock2_64, 0x10000800, 0xfffffffffffff900, MlockOnFault),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "mlock(0x10000000, 0x0)"}},
		{name: "munlock/reservation/length-wraps-to-a-page", call: call64(sysMunlock64, 0x10000800, 0xfffffffffffff900),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "mlock/reservation/length-wraps-to-none", call: call64(sysMlock64, 0x10000000, 0xffffffffffffffff),
			want: want{verdict: Allow}},
		{name: "mseal/reservation/flags", call: call64(sysMseal64, 0x10000000, page, 1),
			want: want{verdict: Allow}},

		// msync, mincore, mbind and get_mempolicy(MPOL_F_ADDR) of a
		// reservation: the errno of unmapped memory.
		{name: "msync/reservation", call: call64(sysMsync64, 0x10000000, page, MsAsync),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "msync/reservation/sync", call: call64(sysMsync64, 0x10000000, 16*page, MsSync|MsInvalidate),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "msync/program", call: call64(sysMsync64, exeLo, 2*page, MsSync),
			want: want{verdict: Allow}},
		{name: "msync/program-then-reservation/async", call: call64(sysMsync64, exeLo, 4*page, MsAsync),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "msync/program-then-reservation/sync", call: call64(sysMsync64, exeLo, 4*page, MsSync),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "msync(0x400000, 0x2000, 0x4)"}},
		{name: "msync/across-start/invalidate", call: call64(sysMsync64, pLo-2*page, 4*page, MsInvalidate),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "msync(0xe000, 0x2000, 0x2)"}},
		{name: "msync/unknown-flag", call: call64(sysMsync64, 0x10000000, page, 8),
			want: want{verdict: Allow}},
		{name: "msync/async-and-sync", call: call64(sysMsync64, 0x10000000, page, MsAsync|MsSync),
			want: want{verdict: Allow}},
		{name: "msync/flag-in-high-word-ignored", call: call64(sysMsync64, 0x10000000, page, 1<<32|MsAsync),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "msync/unaligned", call: call64(sysMsync64, 0x10000001, page, MsAsync),
			want: want{verdict: Allow}},
		{name: "msync/zero-length", call: call64(sysMsync64, 0x10000000, 0, MsAsync),
			want: want{verdict: Allow}},
		{name: "msync/length-rounds-to-zero", call: call64(sysMsync64, 0x10000000, ^uint64(0), MsAsync),
			want: want{verdict: Allow}},
		{name: "i386/msync/reservation", call: call32(sysMsync32, 0x10000000, page, MsSync),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "mincore/reservation", call: call64(sysMincore64, 0x10000000, page, 0x7f0000001000),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "mincore/program-then-reservation", call: call64(sysMincore64, exeLo, 4*page, 0x7f0000001000),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "mincore(0x400000, 0x2000, 0x7f0000001000)"}},
		{name: "mincore/program", call: call64(sysMincore64, exeLo, 2*page, 0x7f0000001000),
			want: want{verdict: Allow}},
		{name: "mincore/unaligned", call: call64(sysMincore64, 0x10000001, page, 0x7f0000001000),
			want: want{verdict: Allow}},
		{name: "mincore/zero-length", call: call64(sysMincore64, 0x10000000, 0, 0x7f0000001000),
			want: want{verdict: Allow}},
		{name: "mincore/vector-outside-user-space", call: call64(sysMincore64, 0x10000000, 2*page, region.UserEnd-1),
			want: want{verdict: Allow}},
		{name: "mincore/range-past-user-space", call: call64(sysMincore64, exeLo, 1<<50, 1<<63),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "i386/mincore/reservation", call: call32(sysMincore32, 0x10000000, page, 0xffffd000),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "mbind/reservation", call: call64(sysMbind64, 0x10000000, page, 2, 0x7f0000001000, 64, 0),
			want: want{verdict: Run, outcome: Emulated, ret: Err(EFAULT),
				steps: "mbind(0x8000000000000000, 0x1000, 0x2, 0x7f0000001000, 0x40, 0x0)"}},
		{name: "mbind/program-and-reservation", call: call64(sysMbind64, exeLo, 4*page, 2, 0x7f0000001000, 64, 1),
			want: want{verdict: Run, outcome: Emulated, ret: Err(EFAULT),
				steps: "mbind(0x8000000000000000, 0x1000, 0x2, 0x7f0000001000, 0x40, 0x1)"}},
		{name: "mbind/program", call: call64(sysMbind64, exeLo, 2*page, 2, 0x7f0000001000, 64, 0),
			want: want{verdict: Allow}},
		{name: "mbind/default/reservation", call: call64(sysMbind64, 0x10000000, page, MpolDefault|1<<15),
			want: want{verdict: Run, outcome: Emulated, ret: Err(EFAULT),
				steps: "mbind(0x8000000000000000, 0x1000, 0x8000, 0x0, 0x0, 0x0)"}},
		{name: "mbind/default/program-and-reservation", call: call64(sysMbind64, exeLo, 4*page, MpolDefault),
			want: want{verdict: Allow}},
		{name: "mbind/default/across-start", call: call64(sysMbind64, pLo-page, 2*page, MpolDefault),
			want: want{verdict: Allow}},
		{name: "mbind/unaligned", call: call64(sysMbind64, 0x10000001, page, 2, 0x7f0000001000, 64, 0),
			want: want{verdict: Allow}},
		{name: "mbind/zero-length", call: call64(sysMbind64, 0x10000000, 0, 2, 0x7f0000001000, 64, 0),
			want: want{verdict: Allow}},
		{name: "i386/mbind/reservation", call: call32(sysMbind32, 0x10000000, page, 2, 0xffffd000, 64, 0),
			want: want{verdict: Run, outcome: Emulated, ret: Err(EFAULT),
				steps: "mbind(0xfffff000, 0x1000, 0x2, 0xffffd000, 0x40, 0x0) [i386]"}},
		{name: "get_mempolicy/addr/reservation", call: call64(sysGetMempolicy64, 0x7f0000001000, 0, 0, 0x10000000, MpolFAddr),
			want: want{verdict: Run, outcome: Emulated, ret: Err(EFAULT),
				steps: "get_mempolicy(0x7f0000001000, 0x0, 0x0, 0x8000000000000000, 0x2)"}},
		{name: "get_mempolicy/addr/program", call: call64(sysGetMempolicy64, 0x7f0000001000, 0, 0, exeLo, MpolFAddr),
			want: want{verdict: Allow}},
		{name: "get_mempolicy/node-addr/reservation", call: call64(sysGetMempolicy64, 0x7f0000001000, 0, 0, 0x10000000, MpolFNode|MpolFAddr),
			want: want{verdict: Allow}},
		{name: "get_mempolicy/no-addr", call: call64(sysGetMempolicy64, 0x7f0000001000, 0, 0, 0x10000000, 0),
			want: want{verdict: Allow}},
		{name: "get_mempolicy/unknown-flag", call: call64(sysGetMempolicy64, 0x7f0000001000, 0, 0, 0x10000000, MpolFAddr|8),
			want: want{verdict: Allow}},
		{name: "get_mempolicy/mems-allowed-with-addr", call: call64(sysGetMempolicy64, 0x7f0000001000, 0, 0, 0x10000000, MpolFAddr|MpolFMemsAllowed),
			want: want{verdict: Allow}},
		{name: "i386/get_mempolicy/addr/reservation", call: call32(sysGetMempolicy32, 0xffffd000, 0, 0, 0x10000000, MpolFAddr),
			want: want{verdict: Run, outcome: Emulated, ret: Err(EFAULT),
				steps: "get_mempolicy(0xffffd000, 0x0, 0x0, 0xfffff000, 0x2) [i386]"}},

		// madvise.
		{name: "madvise/reservation-dontfork", call: call64(sysMadvise64, 0x10000000, page, MadvDontFork),
			want: want{verdict: Return, outcome: Emulated, ret: Err(ENOMEM)}},
		{name: "madvise/program-and-reservation", call: call64(sysMadvise64, exeLo, 4*page, 4),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "madvise(0x400000, 0x2000, 0x4)"}},
		{name: "madvise/config-advice-on-reservation", call: call64(sysMadvise64, 0x10000000, page, 101),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "madvise(0x10000000, 0x0, 0x65)"}},
		{name: "madvise/config-advice-on-program-and-reservation", call: call64(sysMadvise64, exeLo, 4*page, 12),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "madvise(0x400000, 0x2000, 0xc)"}},
		{name: "madvise/unknown-advice-on-reservation", call: call64(sysMadvise64, 0x10000000, page, 77),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EINVAL)}},
		{name: "madvise/program", call: call64(sysMadvise64, exeLo, page, MadvDontFork),
			want: want{verdict: Allow}},
		// MADV_POPULATE_* stops at the first hole: nothing after a
		// reservation is faulted in.
		{name: "madvise/reservation-then-program", call: call64(sysMadvise64, exeLo-page, 4*page, 4),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "madvise(0x400000, 0x2000, 0x4)"}},
		{name: "madvise/populate/reservation-then-program", call: call64(sysMadvise64, exeLo-page, 4*page, MadvPopulateRead),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "madvise(0x3ff000, 0x0, 0x16)"}},
		{name: "madvise/populate/program-then-reservation", call: call64(sysMadvise64, exeLo, 4*page, MadvPopulateWrite),
			want: want{verdict: Run, outcome: Emulated, ret: Err(ENOMEM), steps: "madvise(0x400000, 0x2000, 0x17)"}},

		// mremap.
		{name: "mremap/outside", call: call64(sysMremap64, outsideLib, page, 2*page, MremapMayMove),
			want: want{verdict: Allow}},
		{name: "mremap/reservation", call: call64(sysMremap64, 0x10000000, page, 2*page, MremapMayMove),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EFAULT)}},
		// A move keeping the length from outside: since Linux 6.17 the
		// kernel moves every mapping of the old range and leaves the
		// target under its holes as it was: msync looks for a hole
		// first (the program then gets EFAULT), the other threads held.
		{name: "mremap/fixed-into-protected", call: call64(sysMremap64, outsideLib, page, page, MremapMayMove|MremapFixed, 0x10000000),
			want: want{verdict: Run, outcome: Rewritten, exit: true, hole: true,
				steps: "msync(0x7f0000000000, 0x1000, 0x1); mremap(0x7f0000000000, 0x1000, 0x1000, 0x3, 0x10000000)"}},
		// Growing, the kernel wants one mapping: no look first. It
		// unmaps the target first and may fail after that (a shrink of
		// a sealed tail): the other threads are held.
		{name: "mremap/fixed-grow-into-protected", call: call64(sysMremap64, outsideLib, page, 2*page, MremapMayMove|MremapFixed, 0x10000000),
			want: want{verdict: Allow, exit: true, hole: true}},
		{name: "mremap/fixed-shrink-into-protected", call: call64(sysMremap64, outsideLib, 2*page, page, MremapMayMove|MremapFixed, 0x10000000),
			want: want{verdict: Allow, exit: true, hole: true}},
		{name: "mremap/fixed-into-protected/strict", o: opts{strict: true},
			call: call64(sysMremap64, outsideLib, page, page, MremapMayMove|MremapFixed, 0x10000000),
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "mremap/dontunmap-into-protected/strict", o: opts{strict: true},
			call: call64(sysMremap64, outsideLib, page, page, MremapMayMove|MremapFixed|MremapDontUnmap, 0x10000000),
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "mremap/shrink-in-protected", call: call64(sysMremap64, exeLo, 2*page, page, 0),
			want: want{verdict: Run, outcome: Rewritten, ret: exeLo, steps: res(exeLo+page, page)}},
		{name: "mremap/shrink-in-protected-old-past-user-space", call: call64(sysMremap64, exeLo, 1<<47, page, MremapMayMove),
			want: want{verdict: Allow}},
		{name: "mremap/move-out-of-protected", call: call64(sysMremap64, exeLo, 2*page, 8*page, MremapMayMove),
			want: want{verdict: Allow, exit: true, hole: true}},
		{name: "mremap/fixed-out-of-protected", call: call64(sysMremap64, exeLo, 2*page, 2*page, MremapMayMove|MremapFixed, outsideLib),
			want: want{verdict: Allow, exit: true, hole: true}},
		{name: "mremap/dontunmap-out-of-protected", call: call64(sysMremap64, exeLo, 2*page, 2*page, MremapMayMove|MremapDontUnmap),
			want: want{verdict: Allow, exit: true}},
		{name: "mremap/grow-from-below-into-protected", call: call64(sysMremap64, pLo-page, page, 2*page, MremapMayMove),
			want: want{verdict: Allow}},
		{name: "mremap/bad-flags", call: call64(sysMremap64, 0x10000000, page, 2*page, 8),
			want: want{verdict: Allow}},
		{name: "mremap/reservation/old-len-0", call: call64(sysMremap64, 0x10000000, 0, page, MremapMayMove),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EFAULT)}},
		{name: "mremap/reservation/old-len-rounds-to-0", call: call64(sysMremap64, 0x10000000, ^uint64(0), page, MremapMayMove),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EFAULT)}},
		{name: "mremap/reservation/new-len-past-user-space", call: call64(sysMremap64, 0x10000000, page, region.UserEnd+page, MremapMayMove),
			want: want{verdict: Allow}},
		// A new length past user space is refused (EINVAL) before the
		// kernel looks at the old range, which here reaches a
		// reservation (it got EFAULT).
		{name: "mremap/new-len-past-user-space", call: call64(sysMremap64, pLo-2*page, 8*page, 1<<63, 0),
			want: want{verdict: Allow}},
		// The same length, no new address: the kernel changes nothing
		// (it got EFAULT for an old range reaching a reservation).
		{name: "mremap/same-length-reaching-reservation", call: call64(sysMremap64, pLo-2*page, 4*page, 4*page, 0),
			want: want{verdict: Allow}},
		{name: "mremap/same-length-maymove", call: call64(sysMremap64, pLo-2*page, 4*page, 4*page, MremapMayMove),
			want: want{verdict: Allow}},
		{name: "mremap/reservation/new-len-0", call: call64(sysMremap64, 0x10000000, page, 0, MremapMayMove),
			want: want{verdict: Allow}},
		{name: "mremap/reservation/dontunmap-unaligned-target", call: call64(sysMremap64, 0x10000000, page, page, MremapMayMove|MremapDontUnmap, 0x123),
			want: want{verdict: Allow}},
		{name: "mremap/reservation/dontunmap-lengths-equal-rounded", call: call64(sysMremap64, 0x10000000, page-1, page, MremapMayMove|MremapDontUnmap),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EFAULT)}},
		{name: "mremap/reservation/fixed-target-overlaps", call: call64(sysMremap64, 0x10000000, 2*page, 2*page, MremapMayMove|MremapFixed, 0x10000000+page),
			want: want{verdict: Allow}},
		{name: "mremap/reservation/fixed-target-past-user-space", call: call64(sysMremap64, 0x10000000, page, page, MremapMayMove|MremapFixed, region.UserEnd),
			want: want{verdict: Allow}},
		{name: "mremap/program/old-len-0", call: call64(sysMremap64, exeLo, 0, page, MremapMayMove),
			want: want{verdict: Allow}},
		{name: "i386/mremap/reservation/old-len-0", call: call32(sysMremap32, 0x10000000, 0, page, MremapMayMove),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EFAULT)}},

		// brk.
		{name: "brk/unknown-break", call: call64(sysBrk64, 0),
			want: want{verdict: Allow, exit: true}},
		{name: "brk/grow-into-protected", setup: func(g *Guard) { g.SetBrk(pLo - 2*page) },
			call: call64(sysBrk64, pLo+page),
			want: want{verdict: Return, outcome: Emulated, ret: pLo - 2*page}},
		{name: "brk/grow-below", setup: func(g *Guard) { g.SetBrk(pLo - 4*page) },
			call: call64(sysBrk64, pLo-2*page),
			want: want{verdict: Allow, exit: true}},
		{name: "brk/shrink-out-of-guarded", setup: func(g *Guard) { g.SetBrk(pLo + 4*page) },
			call: call64(sysBrk64, pLo-2*page),
			want: want{verdict: Allow, exit: true, hole: true}},
		{name: "brk/shrink-below", setup: func(g *Guard) { g.SetBrk(pLo - 2*page) },
			call: call64(sysBrk64, pLo-4*page),
			want: want{verdict: Allow, exit: true}},

		// shmat.
		{name: "shmat/null", call: call64(sysShmat64, 5, 0, 0),
			want: want{verdict: Allow}},
		{name: "shmat/inside", call: Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, 0x10000000, 0}, ShmSize: 3 * page},
			want: want{verdict: Run, outcome: Rewritten, exit: true, steps: "shmat(0x5, 0x10000000, 0x4000)"}},
		{name: "shmat/remap", call: Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, 0x10000000, ShmRemap}, ShmSize: page},
			want: want{verdict: Allow, exit: true}},
		{name: "shmat/strict", o: opts{strict: true}, call: Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, 0x10000000, ShmRemap}, ShmSize: page},
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "shmat/over-program", call: Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, exeLo, 0}, ShmSize: page},
			want: want{verdict: Allow}},
		{name: "shmat/unknown-size", call: call64(sysShmat64, 5, 0x10000000, 0),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EINVAL)}},
		{name: "shmat/rnd", call: Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, 0x10000123, ShmRnd}, ShmSize: page},
			want: want{verdict: Run, outcome: Rewritten, exit: true, steps: "shmat(0x5, 0x10000123, 0x6000)"}},

		// clone.
		{name: "clone/thread", call: call64(sysClone64, 0x3d0f00),
			want: want{verdict: Allow}},
		{name: "clone/untraced", call: call64(sysClone64, CloneUntraced|17),
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "clone3", call: call64(sysClone3_64, 0x7fff0000, 88),
			want: want{verdict: Return, outcome: Denied, ret: Err(ENOSYS)}},

		// i386.
		{name: "i386/mmap2/hint-inside/kernel-choice", call: call32(sysMmap2_32, 0x10000000, page, protRW, anonPriv, 0xffffffff, 0),
			want: want{verdict: Run, outcome: Rewritten,
				steps: "mmap(0x0, 0x1000, 0x3, 0x22, 0xffffffff, 0x0) [i386]"}},
		{name: "i386/mmap2/upper-half-hidden", call: call32(sysMmap2_32, 0x1_10000000, page, protRW, anonPriv|MapFixed, 0xffffffff, 0),
			want: want{verdict: Allow, exit: true}},
		{name: "i386/mmap2/fixed/strict", o: opts{strict: true}, call: call32(sysMmap2_32, 0xdead_00001000_0, page, protRW, anonPriv|MapFixed, 0xffffffff, 0),
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "i386/old_mmap/unreadable", call: call32(sysOldMmap32, 0x1000),
			want: want{verdict: Return, outcome: Emulated, ret: Err(EFAULT)}},
		{name: "i386/old_mmap/runs-as-mmap2", call: Call{ABI: ABI32, Nr: sysOldMmap32, Args: [6]uint64{0xffd000},
			Mem: [6]uint64{0x90000000, page, protRW, anonPriv, 0xffffffff, 0}, HaveMem: true},
			want: want{verdict: Run, outcome: Rewritten,
				steps: "mmap(0x90000000, 0x1000, 0x3, 0x22, 0xffffffff, 0x0) [i386]"}},
		{name: "i386/old_mmap/fixed-inside-strict", o: opts{strict: true}, call: Call{ABI: ABI32, Nr: sysOldMmap32, Args: [6]uint64{0xffd000},
			Mem: [6]uint64{0x10000000, page, protRW, anonPriv | MapFixed, 0xffffffff, 0}, HaveMem: true},
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "i386/old_mmap/unaligned-offset", call: Call{ABI: ABI32, Nr: sysOldMmap32,
			Mem: [6]uint64{0, page, protRW, MapPrivate, 3, 100}, HaveMem: true},
			want: want{verdict: Return, outcome: Emulated, ret: Err(EINVAL)}},
		{name: "i386/munmap/program", call: call32(sysMunmap32, exeLo, page),
			want: want{verdict: Run, outcome: Rewritten, ret: 0,
				steps: "mmap(0x400000, 0x1000, 0x0, 0x4032, 0xffffffff, 0x0) [i386]"}},
		{name: "i386/ipc-shmat/inside", call: Call{ABI: ABI32, Nr: sysIPC32, Args: [6]uint64{ipcSHMAT, 5, 0, 0xffc000, 0x10000000}, ShmSize: page},
			want: want{verdict: Run, outcome: Rewritten, exit: true, steps: "ipc(0x15, 0x5, 0x4000, 0xffc000, 0x10000000, 0x0) [i386]"}},
		{name: "i386/ipc-other", call: call32(sysIPC32, 1, 2, 3),
			want: want{verdict: Allow}},
		{name: "i386/clone/untraced-low-word", call: call32(sysClone32, 0xffffffff_00000000|CloneUntraced),
			want: want{verdict: Return, outcome: Denied, ret: Err(EPERM)}},
		{name: "i386/clone/untraced-only-in-high-word", call: call32(sysClone32, uint64(CloneUntraced)<<32|17),
			want: want{verdict: Allow}},
		{name: "i386/clone3", call: call32(sysClone3_32, 0, 0),
			want: want{verdict: Return, outcome: Denied, ret: Err(ENOSYS)}},
		{name: "unknown-abi", call: Call{ABI: 7, Nr: 9},
			want: want{verdict: Kill, outcome: Killed}},
		{name: "other-syscall", call: call64(1, 1, 0, 0),
			want: want{verdict: Allow}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, tc.o)
			if tc.setup != nil {
				tc.setup(g)
			}
			a := g.Decide(tc.call, Caller{Owner: tc.owner})
			got := want{verdict: a.Verdict, outcome: a.Outcome, exit: a.Exit, hole: a.Hole, steps: steps(a)}
			if a.Verdict == Return || a.FixRet {
				got.ret = a.Ret
			}
			if got != tc.want {
				t.Errorf("Decide(%v)\n got %+v\nwant %+v\naction: %v", tc.call, got, tc.want, a)
			}
			checkModel(t, g)
		})
	}
}

// TestOwnerHintWhy: an owner's hint the guard leaves to the kernel says
// why: a mapping of the program's there, or a range crossing the edge
// of the guarded ranges (qemu-i386 -B 0x1000000 asks for 4 GiB from
// there), which is not "occupied".
func TestOwnerHintWhy(t *testing.T) {
	for _, tc := range []struct {
		call Call
		why  string
	}{
		{mmap(exeLo, 8192, protRW, anonPriv, ^uint64(0), 0), "owner hint occupied: the kernel's choice"},
		{mmap(pHi-page, 2*page, protRW, anonPriv, ^uint64(0), 0), "owner hint crosses a guarded range's edge: the kernel's choice"},
	} {
		g := newGuard(t, opts{})
		if a := g.Decide(tc.call, Caller{Owner: true}); a.Verdict != Allow || a.Why != tc.why {
			t.Errorf("Decide(%v): %v %q, want Allow %q", tc.call, a.Verdict, a.Why, tc.why)
		}
	}
}

// TestWhyFormatting checks the Why builders against the fmt verbs they
// stand in for.
func TestWhyFormatting(t *testing.T) {
	for _, x := range []uint64{0, 1, 0xf, 0x10, 0xdeadbeef, 0x200000000000, 1 << 63, ^uint64(0)} {
		if got, want := whyAddr("hint ", x, " dropped"), fmt.Sprintf("hint %#x dropped", x); got != want {
			t.Errorf("whyAddr = %q, want %q", got, want)
		}
		r := region.Range{Start: x / 2, End: x}
		if got, want := whyRange("at ", r, ""), fmt.Sprintf("at %v", r); got != want {
			t.Errorf("whyRange = %q, want %q", got, want)
		}
	}
}

// TestShmdt: a segment attached inside a guarded range is detached by
// mapping a reservation over it (no hole); pieces of it unmapped since
// are left alone; an address with nothing attached gets EINVAL.
func TestShmdt(t *testing.T) {
	g := newGuard(t, opts{})
	at := Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, 0x10000000, 0}, ShmSize: 4 * page}
	a := g.Decide(at, Caller{})
	if a.Verdict != Run {
		t.Fatalf("shmat: %v", a)
	}
	g.Complete(a, 0x10000000)
	child, _ := g.Fork(ABI64)
	// The program unmaps the attachment's second page itself.
	if u := g.Decide(call64(sysMunmap64, 0x10000000+page, page), Caller{}); u.Verdict != Run {
		t.Fatalf("munmap: %v", u)
	}
	d := g.Decide(shmdt64(0x10000000, rng(0x10000000, page), rng(0x10000000+2*page, 2*page)), Caller{})
	res := func(a, n uint64) string {
		return reservation(ABI64, region.Range{Start: a, End: a + n}, MapFixed).String()
	}
	want := res(0x10000000, page) + "; " + res(0x10000000+2*page, 2*page)
	if d.Verdict != Run || !d.FixRet || d.Ret != 0 || steps(d) != want {
		t.Errorf("shmdt: %v\nwant steps %s", d, want)
	}
	checkModel(t, g)
	if again := g.Decide(call64(sysShmdt64, 0x10000000), Caller{}); again.Verdict != Return || again.Ret != Err(EINVAL) {
		t.Errorf("second shmdt: %v, want EINVAL", again)
	}
	if out := g.Decide(call64(sysShmdt64, outsideLib), Caller{}); out.Verdict != Allow {
		t.Errorf("shmdt outside: %v, want allow", out)
	}
	// The forked child inherited the whole attachment.
	cd := child.Decide(shmdt64(0x10000000, rng(0x10000000, 4*page)), Caller{})
	if cd.Verdict != Run || steps(cd) != res(0x10000000, 4*page) {
		t.Errorf("child's shmdt: %v", cd)
	}
	// A segment across the range's end: only the kernel can detach the
	// part outside, and which pieces it detaches the layout cannot tell
	// (another attachment of the segment may stand first at the
	// address), so the call runs with the other threads held, the
	// layout read after it.
	edge := Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{6, pHi - page, ShmRemap}, ShmSize: 2 * page}
	ea := g.Decide(edge, Caller{})
	g.Complete(ea, pHi-page)
	ed := g.Decide(shmdt64(pHi-page, rng(pHi-page, 2*page)), Caller{})
	if ed.Verdict != Allow || !ed.Exit || !ed.Hole || !ed.Rescan {
		t.Errorf("shmdt across the edge: %v (exit %v, hole %v, rescan %v), want allow with exit, hole and rescan", ed, ed.Exit, ed.Hole, ed.Rescan)
	}
	// i386 ipc(SHMDT) names the address in its fifth argument.
	g2 := newGuard(t, opts{})
	a2 := g2.Decide(Call{ABI: ABI32, Nr: sysIPC32, Args: [6]uint64{ipcSHMAT, 5, 0, 0xffc000, 0x20000000}, ShmSize: page}, Caller{})
	g2.Complete(a2, 0)
	d2c := call32(sysIPC32, ipcSHMDT, 0, 0, 0, 0x20000000)
	d2c.ShmDetaches = []region.Range{rng(0x20000000, page)}
	if d2 := g2.Decide(d2c, Caller{}); d2.Verdict != Run {
		t.Errorf("ipc SHMDT: %v", d2)
	}
}

// shmdt64 is shmdt(addr), with what the kernel would detach as the
// tracer reads it from the layout.
func shmdt64(addr uint64, detaches ...region.Range) Call {
	c := call64(sysShmdt64, addr)
	c.ShmDetaches = detaches
	return c
}

// rng is [start, start+n).
func rng(start, n uint64) region.Range { return region.Range{Start: start, End: start + n} }

// TestMadviseAdviceIsAnInt: the kernel takes madvise's advice as an int,
// so the guard looks at its low 32 bits only: MADV_DONTFORK with garbage
// above them applies, and a forked child must get a reservation there;
// known advice aimed at a reservation gets ENOMEM, not EINVAL.
func TestMadviseAdviceIsAnInt(t *testing.T) {
	g := newGuard(t, opts{})
	if a := g.Decide(call64(sysMadvise64, exeLo, exeHi-exeLo, 1<<32|MadvDontFork), Caller{}); a.Verdict != Allow {
		t.Fatalf("madvise(own, MADV_DONTFORK) = %v, want allow", a)
	}
	want := reservation(ABI64, region.Range{Start: exeLo, End: exeHi}, MapFixedNoReplace).String()
	if _, calls := g.Fork(ABI64); len(calls) != 1 || calls[0].String() != want {
		t.Errorf("fork after MADV_DONTFORK with garbage in the high word: calls %v, want %s", calls, want)
	}
	if a := g.Decide(call64(sysMadvise64, 0x10000000, page, 1<<32|4), Caller{}); a.Verdict != Return || a.Ret != Err(ENOMEM) {
		t.Errorf("madvise(reservation, 1<<32|MADV_DONTNEED) = %v, want ENOMEM", a)
	}
}

// TestPoolReservationFailure: a part of the pool that could not be
// reserved (something else holds it) is never handed out.
func TestPoolReservationFailure(t *testing.T) {
	p, err := NewPolicy([]region.Range{{Start: pLo, End: pHi}}, region.Range{Start: poolLo, End: poolHi}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGuard(p)
	calls, _ := g.Reserve(ABI64, nil)
	for _, c := range calls {
		ret := c.Args[0]
		if c.Args[0] == poolLo { // the code page with it
			ret = Err(EEXIST) // the pool's reservation failed
		}
		g.Injected(c, ret)
	}
	a := g.Decide(mmap(0, page, protRW, anonPriv, ^uint64(0), 0), Caller{})
	if a.Outcome == Rerouted {
		t.Errorf("rerouted into an unreserved pool: %v", a)
	}
	if !g.PendingCode().Empty() {
		t.Errorf("PendingCode() = %v: the code page's reservation failed, it is not the guard's to map over", g.PendingCode())
	}
}

func TestPlace(t *testing.T) {
	lib := func(place uint64, strict bool) Call {
		c := mmap(0, 5*page, ProtRead, MapPrivate, anyFd, 0)
		c.Place, c.PlaceStrict = place, strict
		return c
	}
	cases := []struct {
		name string
		call Call
		want want
	}{
		{"outside guarded: NOREPLACE, else as made", lib(0x7d0000000000, false),
			want{verdict: Run, outcome: Rewritten,
				steps: "mmap(0x7d0000000000, 0x5000, 0x1, 0x100002, 0x3, 0x0); mmap(0x0, 0x5000, 0x1, 0x2, 0x3, 0x0)"}},
		{"outside guarded, strict: NOREPLACE only", lib(0x7d0000000000, true),
			want{verdict: Run, outcome: Rewritten, steps: "mmap(0x7d0000000000, 0x5000, 0x1, 0x100002, 0x3, 0x0)"}},
		{"inside a protected range: over the reservation, the other threads held", lib(0x30000000, false),
			want{verdict: Run, outcome: Rewritten, exit: true, hole: true, steps: "mmap(0x30000000, 0x5000, 0x1, 0x12, 0x3, 0x0)"}},
		{"inside, over the program's mapping: left to ld.so", lib(exeLo, false),
			want{verdict: Allow}},
		{"inside, over the program's mapping, strict: EEXIST", lib(exeLo, true),
			want{verdict: Return, outcome: Emulated, ret: Err(EEXIST)}},
		{"past user space, strict: EEXIST", lib(region.UserEnd-page, true),
			want{verdict: Return, outcome: Emulated, ret: Err(EEXIST)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, opts{strict: true})
			a := g.Decide(tc.call, Caller{})
			got := want{verdict: a.Verdict, outcome: a.Outcome, exit: a.Exit, hole: a.Hole, steps: steps(a)}
			if a.Verdict == Return || a.FixRet {
				got.ret = a.Ret
			}
			if got != tc.want {
				t.Errorf("got %+v\nwant %+v\n%v", got, tc.want, a)
			}
			checkModel(t, g)
		})
	}
}

// TestMap32Warn: a MAP_32BIT mmap without an address is the kernel's,
// but where the guarded ranges cover its whole window (1-2 GiB) it
// cannot succeed, and the action carries a warning that says why (mono's
// JIT died of SIGSEGV with no word of it).
func TestMap32Warn(t *testing.T) {
	for _, tc := range []struct {
		protect region.Range
		warn    bool
	}{
		{region.Range{Start: 0x10000, End: 0x80000000}, true},
		{region.Range{Start: 0x40000000, End: 0x80000000}, true},
		{region.Range{Start: 0x10000, End: 0x7fff0000}, false},
		{region.Range{Start: 0x10000, End: 0x40000000}, false},
	} {
		p, err := NewPolicy([]region.Range{tc.protect}, DefaultPool, false, false)
		if err != nil {
			t.Fatal(err)
		}
		g := NewGuard(p)
		a := g.Decide(mmap(0, 8192, protRW, anonPriv|Map32Bit, ^uint64(0), 0), Caller{})
		if a.Verdict != Allow || (a.Warn != "") != tc.warn {
			t.Errorf("protect %v: %v %q, warning %q; want Allow, a warning %v", tc.protect, a.Verdict, a.Why, a.Warn, tc.warn)
		}
		if p.Map32Blocked() != tc.warn {
			t.Errorf("protect %v: Map32Blocked %v", tc.protect, p.Map32Blocked())
		}
		// With an address the kernel honours only where it is free
		// and below 2 GiB, else it looks in the same window: a hint
		// above 2 GiB, or in a guarded range (SBCL's static space at
		// 0x50000000), fails too, and is warned of.
		for _, hint := range []uint64{0x90000000, 0x50000000, 0x7ffff000} {
			if a := g.Decide(mmap(hint, 8192, protRW, anonPriv|Map32Bit, ^uint64(0), 0), Caller{}); a.Verdict != Allow || (a.Warn != "") != tc.warn {
				t.Errorf("protect %v, a hint at %#x: %v %q, warning %q; want Allow, a warning %v", tc.protect, hint, a.Verdict, a.Why, a.Warn, tc.warn)
			}
		}
		// One it can honour, free and below 2 GiB: no warning.
		if tc.protect.Start >= 0x40000000 {
			if a := g.Decide(mmap(0x10000000, 8192, protRW, anonPriv|Map32Bit, ^uint64(0), 0), Caller{}); a.Warn != "" {
				t.Errorf("protect %v, a free hint: warning %q", tc.protect, a.Warn)
			}
		}
	}
}

// TestHintUndoneWarn: a program that unmaps at once the pool chunk
// each of its hints into a protected range was moved to, 256 times in a
// row, is told of it once (LuaJIT, its image in a protected range,
// looked for its JIT's code buffer near it for good, with no word from
// the guard); Go's runtime, which gives up after at most 128 arena
// hints, is not, nor one that maps and unmaps a buffer at one hint over
// and over. One that keeps a chunk starts the count again, and so does
// one whose munmap is of something else.
func TestHintUndoneWarn(t *testing.T) {
	const n = 0x10000
	hint := func(g *Guard, i int) uint64 {
		t.Helper()
		a := g.Decide(mmap(0x30000000+uint64(i)*n, n, protRW, anonPriv, ^uint64(0), 0), Caller{Task: 1})
		if a.Verdict != Run || a.Outcome != Rerouted || a.Warn != "" {
			t.Fatalf("hint %d: %v %v %q, warning %q; want rerouted, no warning", i, a.Verdict, a.Outcome, a.Why, a.Warn)
		}
		at := a.Steps[0].Call.Args[0]
		g.Complete(a, at)
		return at
	}
	undo := func(g *Guard, at uint64) string {
		t.Helper()
		a := g.Decide(call64(sysMunmap64, at, n), Caller{Task: 1})
		if a.Verdict != Run {
			t.Fatalf("munmap %#x: %v %q; want run", at, a.Verdict, a.Why)
		}
		g.Complete(a, 0)
		return a.Warn
	}
	g := newGuard(t, opts{})
	for i := range 3 * hintsUndoneWarn {
		w := undo(g, hint(g, i))
		if (w != "") != (i == hintsUndoneWarn-1) {
			t.Fatalf("unmap %d: warning %q; want one at the %dth only", i, w, hintsUndoneWarn)
		}
		if w != "" && (!strings.Contains(w, "0x10000-0x80000000") || !strings.Contains(w, "--owner")) {
			t.Errorf("warning %q: want the protected range and --owner named", w)
		}
	}
	// The same hint each time: a scratch buffer, used and unmapped, not
	// a search.
	g = newGuard(t, opts{})
	for i := range 3 * hintsUndoneWarn {
		if w := undo(g, hint(g, 0)); w != "" {
			t.Fatalf("unmap %d of the same hint: warning %q", i, w)
		}
	}
	g = newGuard(t, opts{})
	for i := range 2 * hintsUndoneWarn {
		at := hint(g, i)
		if i == hintsUndoneWarn/2 {
			continue // kept: the count starts again
		}
		if w := undo(g, at); w != "" {
			t.Fatalf("unmap %d: warning %q, after a chunk the program kept %d hints before", i, w, i-hintsUndoneWarn/2)
		}
		if i == hintsUndoneWarn+2 {
			break
		}
	}
	g = newGuard(t, opts{})
	for i := range 2 * hintsUndoneWarn {
		at := hint(g, i)
		if i == 3 {
			// Half of it: not what the hint got.
			a := g.Decide(call64(sysMunmap64, at, n/2), Caller{Task: 1})
			g.Complete(a, 0)
			continue
		}
		if w := undo(g, at); (w != "") != (i == 3+hintsUndoneWarn) {
			t.Fatalf("unmap %d: warning %q; want one at %d only", i, w, 3+hintsUndoneWarn)
		}
	}
}

// TestPoolFullWarn: a call the guard would put in the pool, which has no
// room left, goes where the kernel chooses (a hint into a protected
// range dropped), with a warning that names the pool and --pool: a
// 4 MiB pool under --pool-all ran out in python3, and nothing but -o's
// summary said so. Calls that fit say nothing.
func TestPoolFullWarn(t *testing.T) {
	pool := region.Range{Start: 0x100000000000, End: 0x100000000000 + 4<<20}
	for _, poolAll := range []bool{false, true} {
		p, err := NewPolicy([]region.Range{{Start: pLo, End: pHi}}, pool, poolAll, false)
		if err != nil {
			t.Fatal(err)
		}
		g := NewGuard(p)
		for i := range 8 {
			addr := uint64(0x30000000)
			if poolAll && i%2 == 1 {
				addr = 0
			}
			a := g.Decide(mmap(addr, 1<<20, protRW, anonPriv, ^uint64(0), 0), Caller{})
			full := i >= 4 // NewGuard alone: no code page taken yet
			if full != (a.Outcome != Rerouted) {
				t.Fatalf("pool-all %v, call %d: %v %q; want rerouted %v", poolAll, i, a.Outcome, a.Why, !full)
			}
			if !full {
				if a.Warn != "" {
					t.Errorf("pool-all %v, call %d: warning %q in a pool with room", poolAll, i, a.Warn)
				}
				g.Complete(a, a.Steps[0].Call.Args[0])
				continue
			}
			if !strings.Contains(a.Warn, pool.String()) || !strings.Contains(a.Warn, "--pool") {
				t.Errorf("pool-all %v, call %d: warning %q; want one naming the pool and --pool", poolAll, i, a.Warn)
			}
			if addr != 0 && (a.Verdict != Run || len(a.Steps) != 1 || a.Steps[0].Call.Args[0] != 0) {
				t.Errorf("pool-all %v, call %d: %v %q; want the hint dropped", poolAll, i, a.Verdict, a.Why)
			}
			if addr == 0 && a.Verdict != Allow {
				t.Errorf("pool-all %v, call %d: %v %q; want the kernel's choice", poolAll, i, a.Verdict, a.Why)
			}
		}
		if s := g.Stats(); s.PoolExhausted != 4 {
			t.Errorf("pool-all %v: %d exhausted, want 4", poolAll, s.PoolExhausted)
		}
	}
}

// TestOwnerMap32: an owner's MAP_32BIT mmap without an address gets the
// lowest free run of the guard's reservations from 1 GiB up, where the
// kernel would put it without them (mono's JIT under --owner mono got
// ENOMEM); the next one goes above it. Others' get the kernel's ENOMEM.
func TestOwnerMap32(t *testing.T) {
	g := newGuard(t, opts{})
	var prev uint64
	for i := range 2 {
		c := mmap(0, 0x10000, protRW, anonPriv|Map32Bit, ^uint64(0), 0)
		a := g.Decide(c, Caller{Owner: true})
		if a.Verdict != Run || a.Outcome != Rewritten || len(a.Steps) != 1 {
			t.Fatalf("call %d: %v %v %q, want one rewritten step", i, a.Verdict, a.Outcome, a.Why)
		}
		at := a.Steps[0].Call.Args[0]
		if at < 0x40000000 || at+0x10000 > 0x80000000 || at <= prev || a.Steps[0].Call.Args[3]&MapFixed == 0 {
			t.Fatalf("call %d: placed at %#x (flags %#x), want MAP_FIXED in 0x40000000-0x80000000 above %#x", i, at, a.Steps[0].Call.Args[3], prev)
		}
		g.Complete(a, at)
		prev = at
	}
	if a := g.Decide(mmap(0, 0x10000, protRW, anonPriv|Map32Bit, ^uint64(0), 0), Caller{}); a.Verdict != Allow || a.Warn == "" {
		t.Errorf("not an owner: %v %q, warning %q; want Allow with a warning", a.Verdict, a.Why, a.Warn)
	}
	// A hint that ends above 2 GiB the kernel does not honour: it looks
	// as for none (natively 0x90000000 gets a place from 1 GiB up), and
	// the owner's gets that run too, with no warning to name it with
	// --owner (it got ENOMEM and that warning: the review of 90c4b47).
	for _, hint := range []uint64{0x90000000, 0x7fffc000, 0x110000000} {
		c := mmap(hint, 0x10000, protRW, anonPriv|Map32Bit, ^uint64(0), 0)
		a := g.Decide(c, Caller{Owner: true})
		if a.Verdict != Run || a.Outcome != Rewritten || len(a.Steps) != 1 || a.Warn != "" {
			t.Fatalf("hint %#x: %v %v %q, warning %q; want one rewritten step, no warning", hint, a.Verdict, a.Outcome, a.Why, a.Warn)
		}
		at := a.Steps[0].Call.Args[0]
		if at < 0x40000000 || at+0x10000 > 0x80000000 || at <= prev || a.Steps[0].Call.Args[3]&MapFixed == 0 {
			t.Fatalf("hint %#x: placed at %#x (flags %#x), want MAP_FIXED in 0x40000000-0x80000000 above %#x", hint, at, a.Steps[0].Call.Args[3], prev)
		}
		g.Complete(a, at)
		prev = at
	}
}

// TestMayDontCopy: only a trapped file mmap or mremap can leave, in a
// guarded range, a mapping a forked child does not inherit without the
// guard's record of it; a fork keeps what its parent may have.
func TestMayDontCopy(t *testing.T) {
	g := newGuard(t, opts{})
	g.Decide(mmap(0x10000000, 8192, protRW, anonPriv, ^uint64(0), 0), Caller{})
	if g.MayDontCopy() {
		t.Fatal("set by an anonymous mmap")
	}
	g.Decide(mmap(0x10000000, 8192, protRW, MapPrivate, 3, 0), Caller{})
	if !g.MayDontCopy() {
		t.Fatal("not set by a file mmap")
	}
	if c, _ := g.Fork(ABI64); !c.MayDontCopy() {
		t.Fatal("not kept by a fork")
	}
	h := newGuard(t, opts{})
	h.Decide(Call{ABI: ABI64, Nr: sysMremap64, Args: [6]uint64{0x10000000, 4096, 8192, 1, 0, 0}}, Caller{})
	if !h.MayDontCopy() {
		t.Fatal("not set by an mremap")
	}
}

// TestLateFailHolds: a file mapping put over part of a protected range
// holds the other threads (Hole) until the gap a late failure of the
// file's mmap leaves is covered again, whatever the file (another thread
// can swap the descriptor after the tracer looked): the program's
// MAP_FIXED over its own mapping or over a reservation,
// MAP_FIXED_NOREPLACE over a reservation. A hint placed in the pool holds
// them only for a file whose mmap may fail so (Call.LateFail); an
// anonymous mapping, or a file mapped away from the guarded ranges,
// never.
func TestLateFailHolds(t *testing.T) {
	for _, c := range []struct {
		name       string
		call       Call
		hold, late bool // with LateFail false, and true
	}{
		{"fixed over own", mmap(pLo+0x100000, 2*page, ProtRead, MapShared|MapFixed, anyFd, 0), true, true},
		{"fixed over a reservation", mmap(pLo+0x200000, 2*page, ProtRead, MapShared|MapFixed, anyFd, 0), true, true},
		{"noreplace over a reservation", mmap(pLo+0x200000, 2*page, ProtRead, MapShared|MapFixedNoReplace, anyFd, 0), true, true},
		{"hint placed in the pool", mmap(pLo+0x200000, 2*page, ProtRead, MapShared, anyFd, 0), false, true},
		{"anonymous fixed over a reservation", mmap(pLo+0x200000, 2*page, ProtRead, anonPriv|MapFixed, ^uint64(0), 0), false, false},
		{"fixed outside", mmap(outsideLib, 2*page, ProtRead, MapShared|MapFixed, anyFd, 0), false, false},
	} {
		for _, late := range []bool{false, true} {
			g := newGuard(t, opts{})
			own := g.Decide(mmap(pLo+0x100000, 2*page, protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 1})
			g.Complete(own, pLo+0x100000)
			call := c.call
			call.LateFail = late
			a := g.Decide(call, Caller{Task: 1})
			want := c.hold
			if late {
				want = c.late
			}
			if a.Hole != want {
				t.Errorf("%s, LateFail %v: Hole %v, want %v (%v)", c.name, late, a.Hole, want, a)
			}
		}
	}
}

// TestRemapFilePages: remap_file_pages over the program's own mapping in
// a guarded range runs with the other threads held and, if it fails,
// the layout looked at (its file's mmap may fail after the kernel
// unmapped the range); aimed at a reservation, outside the guarded
// ranges, or refused by the kernel's own checks, it runs as it is.
func TestRemapFilePages(t *testing.T) {
	for _, c := range []struct {
		name string
		call Call
		hold bool
	}{
		{"own", call64(sysRemapFile64, pLo+0x100000, 2*page, 0, 5, 0), true},
		{"own, unaligned", call64(sysRemapFile64, pLo+0x100000+10, 2*page+10, 0, 5, 0), true},
		{"own and the reservation after it", call64(sysRemapFile64, pLo+0x100000, 4*page, 0, 5, 0), true},
		{"the image", call64(sysRemapFile64, exeLo, page, 0, 1, 0), true},
		{"own, i386", call32(sysRemapFile32, pLo+0x100000, 2*page, 0, 5, 0), true},
		{"own, i386, address in the high word", call32(sysRemapFile32, 1<<32|pLo+0x100000, 2*page, 0, 5, 0), true},
		{"reservation", call64(sysRemapFile64, pLo+0x200000, 2*page, 0, 5, 0), false},
		{"outside", call64(sysRemapFile64, outsideLib, 2*page, 0, 5, 0), false},
		{"prot (EINVAL first)", call64(sysRemapFile64, pLo+0x100000, 2*page, ProtRead, 5, 0), false},
		{"size below a page (EINVAL first)", call64(sysRemapFile64, pLo+0x100000, page-1, 0, 5, 0), false},
	} {
		g := newGuard(t, opts{})
		own := g.Decide(mmap(pLo+0x100000, 2*page, protRW, MapShared|MapFixed, anyFd, 0), Caller{Task: 1})
		g.Complete(own, pLo+0x100000)
		a := g.Decide(c.call, Caller{Task: 1})
		if a.Verdict != Allow || a.Hole != c.hold || a.Exit != c.hold || a.RescanFailed != c.hold {
			t.Errorf("%s: %v with Hole %v, Exit %v, RescanFailed %v; want allowed, all %v", c.name, a, a.Hole, a.Exit, a.RescanFailed, c.hold)
		}
		if !c.hold {
			continue
		}
		// Failed after the unmap: the gap the layout shows is reserved
		// again, and the model has a reservation there.
		if fix := g.Complete(a, Err(EINVAL)); len(fix.After) != 0 {
			t.Errorf("%s: Complete after a failure asks for %v; the layout's gaps are Refill's", c.name, fix.After)
		}
		gap := region.Range{Start: pLo + 0x100000, End: pLo + 0x102000}
		calls := g.Refill(1, c.call.ABI, []region.Range{gap})
		if len(calls) != 1 || calls[0].Args[0] != gap.Start || calls[0].Args[1] != gap.Len() {
			t.Errorf("%s: Refill(%v) = %v, want one reservation over it", c.name, gap, calls)
		}
		checkModel(t, g)
	}
	g := newGuard(t, opts{})
	for _, c := range []Call{call64(sysIoDestroy64, outsideLib), call32(sysIoDestroy32, 1<<32|0xc0000000)} {
		if a := g.Decide(c, Caller{Task: 1}); a.Verdict != Allow || a.Hole || a.Rescan {
			t.Errorf("%v: %v with Hole %v, Rescan %v; want allowed as it is", c, a, a.Hole, a.Rescan)
		}
	}
}

// TestShmdtRecordDemoted: a shmdt at an address whose recorded
// attachment the layout does not show first there (another segment
// attached since with SHM_REMAP, outside the ranges) is taken for one at
// an attachment the guard did not see: with the other threads held and
// the layout read after it, under --strict too (the thing at addr can be
// unmapped before the call runs, and the recorded segment then
// detached: the thirteenth session's review); the record, of a segment
// across an edge, is dropped (a later shmdt there is told by the
// layout).
func TestShmdtRecordDemoted(t *testing.T) {
	for _, strict := range []bool{false, true} {
		g := newGuard(t, opts{strict: strict})
		at := uint64(poolLo - page)
		attach := Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, at, ShmRemap}, ShmSize: 2 * page}
		a := g.Decide(attach, Caller{Task: 1})
		if a.Verdict == Return {
			t.Fatalf("strict %v: shmat across the pool's start: %v", strict, a)
		}
		g.Complete(a, at)
		d := call64(sysShmdt64, at)
		d.ShmDetaches = []region.Range{{Start: at, End: poolLo}} // another segment's page at addr
		if a := g.Decide(d, Caller{Task: 1}); a.Verdict != Allow || !a.Hole || !a.Rescan || !a.Exit {
			t.Errorf("strict %v: %v with Hole %v, Rescan %v; want the layout read after it, the others held", strict, a, a.Hole, a.Rescan)
		}
		if _, kept := g.shm[at]; kept {
			t.Errorf("strict %v: the record at %#x, across the pool's edge, was kept", strict, at)
		}
	}
}

// TestShmdtDetachesOtherPieces: the kernel's shmdt(addr) detaches the
// first System V mapping at or above addr whose offset is its distance
// from addr, of any segment, and that segment's pieces so placed. Where
// that is not exactly what the record at addr holds in the guarded
// ranges, the call runs with the others held and the layout is read
// after it (the fourteenth session's hunt): a record whose pieces were
// all unmapped let it run unwatched (another segment's piece moved into
// the range was detached, a hole); one emulated over its pieces
// detached them instead of the other segment's page; one across the
// range's end put reservations back over its recorded pieces only.
// With the layout agreeing, the record is used as before; with nothing
// to detach, EINVAL.
func TestShmdtDetachesOtherPieces(t *testing.T) {
	in := uint64(0x10000000)
	cases := []struct {
		name     string
		at, size uint64
		unmap    []region.Range // the program's munmaps of its pieces
		detaches []region.Range // what the layout shows the kernel would detach
	}{
		{"record emptied, another segment's page at its offset", in, 4 * page,
			[]region.Range{rng(in, 4*page)}, []region.Range{rng(in+2*page, page)}},
		{"another segment's page first", in, 4 * page,
			[]region.Range{rng(in, page)}, []region.Range{rng(in, page)}},
		{"a piece moved out and back in, across the end", pHi - 2*page, 4 * page,
			nil, []region.Range{rng(pHi-2*page, 4*page), rng(pHi+8*page, page)}},
	}
	for _, c := range cases {
		g := newGuard(t, opts{})
		a := g.Decide(Call{ABI: ABI64, Nr: sysShmat64, Args: [6]uint64{5, c.at, ShmRemap}, ShmSize: c.size}, Caller{Task: 1})
		g.Complete(a, c.at)
		for _, u := range c.unmap {
			if m := g.Decide(call64(sysMunmap64, u.Start, u.Len()), Caller{Task: 1}); m.Exit {
				g.Complete(m, 0)
			}
		}
		if c.name == "a piece moved out and back in, across the end" {
			// The model takes the piece moved back for the program's:
			// the record loses it.
			g.detach(rng(pHi-page, page), nil)
		}
		d := g.Decide(shmdt64(c.at, c.detaches...), Caller{Task: 1})
		if d.Verdict != Allow || !d.Hole || !d.Rescan || !d.Exit {
			t.Errorf("%s: %v with Hole %v, Rescan %v, Exit %v; want the layout read after it, the others held", c.name, d, d.Hole, d.Rescan, d.Exit)
		}
		// Nothing to detach: the kernel's EINVAL, or the guard's.
		if none := g.Decide(shmdt64(c.at), Caller{Task: 1}); none.Verdict == Run || none.Verdict == Return && none.Ret != Err(EINVAL) {
			t.Errorf("%s: shmdt with nothing to detach: %v, want EINVAL", c.name, none)
		}
	}
}

// TestIoSetup: io_setup stops and is seen to its end, and after a
// failure the layout is read (a failure unmaps the new ring with its
// whole size from wherever it is then). While one is in progress, an
// AIO ring may not move to within the largest ring's size below a
// guarded range; once it is over, it may again (io_destroy is decided
// on its own), and a ring's move far off is never refused.
func TestIoSetup(t *testing.T) {
	for _, abi := range []ABI{ABI64, ABI32} {
		setup, move := call64(sysIoSetup64, 4096, outsideLib), call64(sysMremap64, outsideLib, page, page, MremapMayMove|MremapFixed, pLo-page)
		far := call64(sysMremap64, outsideLib, page, page, MremapMayMove|MremapFixed, outsideLib+maxAIORing)
		if abi == ABI32 {
			setup = call32(sysIoSetup32, 4096, 0x90000000)
			move = call32(sysMremap32, 0x90000000, page, page, MremapMayMove|MremapFixed, pLo-page)
			far = call32(sysMremap32, 0x90000000, page, page, MremapMayMove|MremapFixed, 0xe0000000)
		}
		move.OldAIO, far.OldAIO = true, true
		g := newGuard(t, opts{})
		s := g.Decide(setup, Caller{Task: 1})
		if s.Verdict != Allow || !s.Exit || !s.RescanFailed || s.Hole {
			t.Errorf("%v: %v with Exit %v, RescanFailed %v, Hole %v; want allowed, seen to its end, the layout read after a failure, no threads held",
				setup, s, s.Exit, s.RescanFailed, s.Hole)
		}
		if a := g.Decide(move, Caller{Task: 2}); a.Verdict != Return || a.Ret != Err(EINVAL) {
			t.Errorf("%v during io_setup: %v, want EINVAL", move, a)
		}
		if a := g.Decide(far, Caller{Task: 2}); a.Verdict == Return {
			t.Errorf("%v during io_setup: %v, want it let through", far, a)
		} else if a.Exit {
			g.Complete(a, a.Call().Args[4])
		}
		g.Complete(s, Err(EFAULT))
		if a := g.Decide(move, Caller{Task: 2}); a.Verdict == Return {
			t.Errorf("%v after io_setup: %v, want it let through", move, a)
		}
		checkModel(t, g)
	}
}

// TestIoDestroy: io_destroy of a ring that can reach a guarded range
// runs with the other threads held and the layout read after it: the
// kernel unmaps the ring with the size it had at io_setup (at most 256
// MiB and a page), from wherever mremap put it, which can reach into a
// guarded range from outside. One farther off runs as it is. A gap where the model has its own
// reservation (the kernel unmapped it unseen) is reserved again as it
// was; one where it has the program's mapping is counted reserved.
func TestIoDestroy(t *testing.T) {
	for _, c := range []Call{call64(sysIoDestroy64, pLo-page), call32(sysIoDestroy32, pLo-page)} {
		g := newGuard(t, opts{})
		own := g.Decide(mmap(pLo+0x100000, 2*page, protRW, MapPrivate|MapAnonymous|MapFixed, anyFd, 0), Caller{Task: 1})
		g.Complete(own, pLo+0x100000)
		a := g.Decide(c, Caller{Task: 1})
		if a.Verdict != Allow || !a.Hole || !a.Exit || !a.Rescan {
			t.Errorf("%v: %v with Hole %v, Exit %v, Rescan %v; want allowed, all true", c, a, a.Hole, a.Exit, a.Rescan)
		}
		g.Complete(a, 0)
		reservedGap := region.Range{Start: pLo + 0x200000, End: pLo + 0x204000}
		ownGap := region.Range{Start: pLo + 0x100000, End: pLo + 0x102000}
		calls := g.Refill(1, c.ABI, []region.Range{reservedGap, ownGap})
		if len(calls) != 2 || calls[0].Args[0] != reservedGap.Start || calls[0].Args[1] != reservedGap.Len() ||
			calls[1].Args[0] != ownGap.Start || calls[1].Args[1] != ownGap.Len() {
			t.Errorf("%v: Refill(%v, %v) = %v, want a reservation over each", c, reservedGap, ownGap, calls)
		}
		checkModel(t, g)
	}
}

// TestArenaMmap: a BPF arena's mapping, which the kernel moves up to the
// 4 GiB line its range crosses (eighteenth session).
func TestArenaMmap(t *testing.T) {
	arena := func(c Call) Call { c.Arena = true; return c }
	for _, tc := range []struct {
		name string
		o    opts
		c    Call
		want string // the action's String, or its prefix
	}{
		// poolLo is a 4 GiB line: a range across it is moved into
		// the pool.
		{"fixed across the line below the pool, reaching into it", opts{},
			arena(mmap(poolLo-0x1000, 0x2000, protRW, MapShared|MapFixed, anyFd, 0)), "emulated = -EINVAL"},
		{"unaligned fixed across it", opts{},
			arena(mmap(poolLo-0x1123, 0x2000, protRW, MapShared|MapFixed, anyFd, 0)), "emulated = -EINVAL"},
		{"i386 fixed across 4 GiB", opts{},
			arena(call32(sysMmap2_32, 0xfffff000, 0x2000, protRW, MapShared|MapFixed, anyFd, 0)), "emulated = -EINVAL"},
		{"fixed across a line far from every range: as the kernel runs it", opts{},
			arena(mmap(0x100fffff000, 0x2000, protRW, MapShared|MapFixed, anyFd, 0)), "allowed"},
		{"fixed across a line in the pool, moved over more of the pool", opts{},
			arena(mmap(poolLo+0xfffff000, 0x2000, protRW, MapShared|MapFixed, anyFd, 0)), "emulated = -EINVAL"},
		{"hint in the protected range: dropped, never the pool", opts{},
			arena(mmap(0x30000000, 0xfff00000, protRW, MapShared, anyFd, 0)), "rewritten: mmap(0x0,"},
		{"no address under --pool-all: the kernel's choice", opts{poolAll: true},
			arena(mmap(0, 0xfff00000, protRW, MapShared, anyFd, 0)), "allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, tc.o)
			a := g.Decide(tc.c, Caller{Task: 1})
			if got := a.String(); !strings.HasPrefix(got, tc.want) {
				t.Errorf("Decide(%v) = %s, want %s", tc.c, got, tc.want)
			}
			checkModel(t, g)
		})
	}
	line, ok := ArenaLine(Call{ABI: ABI64, Nr: sysMmap64, Args: [6]uint64{0x60000000, 0xc0000000, protRW, MapShared | MapFixed, anyFd, 0}, Arena: true})
	if !ok || line != 0x100000000 {
		t.Errorf("ArenaLine(0x60000000, 3 GiB) = %#x, %v; want 0x100000000", line, ok)
	}
	if _, ok := ArenaLine(Call{ABI: ABI64, Nr: sysMmap64, Args: [6]uint64{0x100000000, 1 << 32, protRW, MapShared | MapFixed, anyFd, 0}, Arena: true}); ok {
		t.Errorf("ArenaLine of a range from a line, 4 GiB: moved")
	}
}

// TestArenaSwapSeen: a fixed file mapping across a 4 GiB line that a
// BPF arena's would take into a guarded range, decided as the file the
// tracer found (a memfd, huge pages): another thread can put an arena
// on the descriptor before the kernel takes it (eighteenth session's
// review). The call is seen to its end (a success elsewhere fails
// closed), with the other threads held and the layout read after a
// failure; one whose arena would stay outside every range is not.
func TestArenaSwapSeen(t *testing.T) {
	huge := func(c Call, size uint64) Call { c.HugePage, c.LateFail = size, true; return c }
	for _, tc := range []struct {
		name   string
		c      Call
		seen   bool
		verify region.Range
	}{
		{"unaligned, let through as one the kernel refuses",
			mmap(poolLo-0x1123, 0x2000, protRW, MapShared|MapFixed, anyFd, 0), true,
			region.Range{Start: poolLo - 0x1123, End: poolLo - 0x1123 + 0x2000}},
		{"aligned below the line",
			mmap(poolLo-0x1000, 0x2000, protRW, MapPrivate|MapFixed, anyFd, 0), true,
			region.Range{Start: poolLo - 0x1000, End: poolLo + 0x1000}},
		{"huge pages below the line",
			huge(mmap(poolLo-0x200000, 0x300000, protRW, MapShared|MapFixed, anyFd, 0), 0x200000), true,
			region.Range{Start: poolLo - 0x200000, End: poolLo + 0x200000}},
		{"i386 across 4 GiB into nothing guarded", call32(sysMmap2_32, 0xfffff000, 0x2000, protRW, MapShared|MapFixed, anyFd, 0), false, region.Range{}},
		{"across a line far from every range", mmap(0x100fffff000, 0x2000, protRW, MapShared|MapFixed, anyFd, 0), false, region.Range{}},
		{"at a line", mmap(poolLo-0x2000, 0x2000, protRW, MapShared|MapFixed, anyFd, 0), false, region.Range{}},
		{"with an offset (an arena's is refused)", mmap(poolLo-0x1000, 0x2000, protRW, MapShared|MapFixed, anyFd, 0x1000), false, region.Range{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, opts{})
			a := g.Decide(tc.c, Caller{Task: 1})
			if a.Verdict != Allow && a.Verdict != Run {
				t.Fatalf("Decide(%v) = %s, want it run", tc.c, a)
			}
			if seen := a.Exit && a.Hole && a.RescanFailed; seen != tc.seen {
				t.Errorf("Decide(%v): Exit %v, Hole %v, RescanFailed %v; want all %v", tc.c, a.Exit, a.Hole, a.RescanFailed, tc.seen)
			}
			if tc.seen && a.Verify != tc.verify {
				t.Errorf("Decide(%v): Verify %v, want %v", tc.c, a.Verify, tc.verify)
			}
			checkModel(t, g)
		})
	}
}

// TestArenaSwapSeenOwner: an owner's hint in a protected range across a
// 4 GiB line is mapped there with MAP_FIXED by the guard: seen to its
// end too (a success elsewhere is taken for a forged answer).
func TestArenaSwapSeenOwner(t *testing.T) {
	p, err := NewPolicy([]region.Range{{Start: 0xff000000, End: 0x101000000}}, region.Range{Start: poolLo, End: poolHi}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGuard(p)
	calls, _ := g.Reserve(ABI64, nil)
	for _, c := range calls {
		g.Injected(c, c.Args[0])
	}
	c := mmap(0xfffff000, 0x2000, protRW, MapPrivate, anyFd, 0)
	a := g.Decide(c, Caller{Task: 1, Owner: true})
	if a.Verdict != Run || len(a.Steps) != 1 || a.Steps[0].Call.Args[0] != 0xfffff000 {
		t.Fatalf("Decide(%v) = %s, want it placed at its hint", c, a)
	}
	if !a.Exit || !a.Hole || !a.RescanFailed {
		t.Errorf("Decide(%v): Exit %v, Hole %v, RescanFailed %v; want all true", c, a.Exit, a.Hole, a.RescanFailed)
	}
}
