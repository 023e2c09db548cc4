package seccomp

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"golang.org/x/net/bpf"

	"github.com/mmapguard/mmapguard/region"
)

// MaxInstructions is the most instructions a classic BPF program may have
// (BPF_MAXINSNS); the kernel refuses longer seccomp filters.
const MaxInstructions = 4096

// ErrTooLarge is wrapped by the error Build returns when the policy's
// program would exceed MaxInstructions.
var ErrTooLarge = errors.New("program exceeds BPF_MAXINSNS (4096 instructions)")

// TooLargeError is the error Build returns (wrapped) for a policy whose
// program would exceed MaxInstructions. It unwraps to ErrTooLarge.
type TooLargeError struct {
	Instructions int // what the policy's program needs
	Guarded      int // guarded ranges, after merging
	Protected    int // protected ranges, after merging
	Fit          int // about how many ranges in all would fit
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%d guarded and %d protected ranges (after merging) need %d instructions: %v; about %d ranges in all would fit",
		e.Guarded, e.Protected, e.Instructions, ErrTooLarge, e.Fit)
}

func (e *TooLargeError) Unwrap() error { return ErrTooLarge }

// Program is a seccomp filter built from a Policy.
type Program struct {
	insns    []bpf.Instruction
	raw      []bpf.RawInstruction
	comments []string
}

// Instructions returns the program's instructions (a copy).
func (p *Program) Instructions() []bpf.Instruction { return slices.Clone(p.insns) }

// Raw returns the program in the kernel's struct sock_filter encoding (a
// copy), ready for seccomp(2).
func (p *Program) Raw() []bpf.RawInstruction { return slices.Clone(p.raw) }

// Len is the number of instructions.
func (p *Program) Len() int { return len(p.insns) }

// Scratch memory words the program uses (M[0]..M[15] in classic BPF).
const (
	slotCode   = 0 // the TRACE result the overlap check returns on a hit
	slotAddrLo = 1 // the call's address
	slotAddrHi = 2
	slotEndLo  = 3 // the call's address + length
	slotEndHi  = 4
)

var slotNames = [...]string{
	slotCode:   "code",
	slotAddrLo: "addr.lo",
	slotAddrHi: "addr.hi",
	slotEndLo:  "end.lo",
	slotEndHi:  "end.hi",
}

// Build turns a policy into a seccomp filter. It fails if a range is not
// valid (see package region) or if the program would not fit in
// MaxInstructions (a *TooLargeError, which says how many ranges would).
func Build(p Policy) (*Program, error) {
	guarded, err := normalize(p.Guarded)
	if err != nil {
		return nil, fmt.Errorf("seccomp: build: guarded %w", err)
	}
	protected, err := normalize(p.Protected)
	if err != nil {
		return nil, fmt.Errorf("seccomp: build: protected %w", err)
	}
	prog, err := generate(p, guarded, protected)
	if err != nil {
		return nil, fmt.Errorf("seccomp: build: %w", err)
	}
	if prog.Len() > MaxInstructions {
		return nil, fmt.Errorf("seccomp: build: %w", &TooLargeError{
			Instructions: prog.Len(),
			Guarded:      len(guarded),
			Protected:    len(protected),
			Fit:          rangesThatFit(p, guarded, protected),
		})
	}
	return prog, nil
}

// normalize checks each range and returns them sorted with overlapping
// and touching ranges merged: the overlap and containment tests only need
// the union.
func normalize(rs []region.Range) ([]region.Range, error) {
	for _, r := range rs {
		if _, err := region.New(r.Start, r.End); err != nil {
			return nil, err // a *region.RangeError naming the range
		}
	}
	out := slices.Clone(rs)
	slices.SortFunc(out, func(a, b region.Range) int { return cmp.Compare(a.Start, b.Start) })
	merged := out[:0]
	for _, r := range out {
		if k := len(merged) - 1; k >= 0 && r.Start <= merged[k].End {
			merged[k].End = max(merged[k].End, r.End)
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

// rangesThatFit finds, by bisection, the largest number of ranges (taken
// from the front of both lists in proportion) whose program fits.
func rangesThatFit(p Policy, guarded, protected []region.Range) int {
	total := len(guarded) + len(protected)
	take := func(k int) ([]region.Range, []region.Range) {
		g := len(guarded) * k / total
		return guarded[:g], protected[:min(k-g, len(protected))]
	}
	lo, hi := 0, total // fits(lo) holds; fits(hi) does not
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		g, pr := take(mid)
		prog, err := generate(p, g, pr)
		if err == nil && prog.Len() <= MaxInstructions {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// generate emits the program for already normalised ranges.
func generate(p Policy, guarded, protected []region.Range) (*Program, error) {
	g := &gen{
		p:         p,
		guarded:   guarded,
		protected: protected,
	}
	// About 12 items per range, and 660 for the rest (both ABIs'
	// dispatch and their labels): growing the slice once more doubled
	// the memory a build takes, all of it faulted in fresh at the start.
	g.a.items = make([]item, 0, 660+12*(len(guarded)+len(protected)))
	g.program()
	out, err := g.a.assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	if err := checkProgram(out.insns); err != nil {
		return nil, fmt.Errorf("generated program is invalid: %w", err)
	}
	raw, err := bpf.Assemble(out.insns)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return &Program{insns: out.insns, raw: raw, comments: out.comments}, nil
}

// gen generates the program's items. Its methods emit one block each;
// doc.go describes the layout.
type gen struct {
	a         assembler
	p         Policy
	guarded   []region.Range
	protected []region.Range

	rangeArgs label // the shared overlap check, bound when first used
	addrArg3  label // its entry for the address args[3] alone (get_mempolicy)
	// hugeArgs: its entry for the calls whose length the kernel may
	// round up to a huge page: the end is moved up by hugeMax.
	hugeArgs label
	// fileArgs: its entry for fixed file mappings, which may reach
	// fileReach past their end: the end is moved up by that.
	fileArgs label
}

// fastPath reports whether range calls are decided in the kernel. With
// no guarded range nothing can overlap, and those calls are allowed.
func (g *gen) fastPath() bool { return !g.p.TrapAll && len(g.guarded) > 0 }

func (g *gen) program() {
	a := &g.a
	x86, notX86, i386, kill := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
	a.ldAbs(offArch, "arch")
	a.jumpIf(bpf.JumpEqual, AuditArchX86_64, x86, notX86, "AUDIT_ARCH_X86_64")
	a.bind(notX86)
	a.jumpIf(bpf.JumpEqual, AuditArchI386, i386, kill, "AUDIT_ARCH_I386")
	a.bind(kill)
	a.ret(RetKillProcess)

	a.bind(x86)
	g.x86_64()
	a.bind(i386)
	g.i386()

	if g.rangeArgs != 0 || g.addrArg3 != 0 || g.hugeArgs != 0 || g.fileArgs != 0 {
		g.overlapCheck()
	}
}

// dispatch emits the syscall-number tests of one ABI, with nr in A,
// followed by the bodies. body(c) returns the emitter of class c's code,
// which must end in a return or a jump; nil means the call is allowed,
// and it is left out of the tests.
//
// The tests are a binary search over the singled-out numbers, not a
// chain of jeq: when the filter is attached, the kernel prepares its
// action cache by walking the filter from the top for every number of
// both ABIs (seccomp_cache_prepare, with interrupts off), so a chain of
// 27 tests cost each of about 900 walks its whole length, 0.1 ms of every
// run's start (seccomp() took 0.26 ms for the default policy, 0.02 ms
// for a one-instruction filter). A walk now takes at most eight tests. A
// call the filter singles out pays the same few comparisons each time,
// a few nanoseconds once compiled.
func (g *gen) dispatch(abi ABI, body func(Class) func()) {
	type pending struct {
		l    label
		emit func()
	}
	var later []pending
	var nums []numberTest
	for _, d := range syscallTable(abi) {
		b := body(d.class)
		if b == nil {
			continue
		}
		hit := g.a.newLabel()
		nums = append(nums, numberTest{nr: uint32(d.nr), hit: hit, what: abi.String() + " " + d.class.String()})
		later = append(later, pending{hit, b})
	}
	slices.SortFunc(nums, func(x, y numberTest) int { return cmp.Compare(x.nr, y.nr) })
	g.numberSearch(abi, nums)
	for _, pb := range later {
		g.a.bind(pb.l)
		pb.emit()
	}
}

// numberTest is one singled-out system call number of dispatch.
type numberTest struct {
	nr   uint32
	hit  label
	what string // "x86_64 mmap"
}

// numberLeaf is the most numbers a leaf of numberSearch tests one by one.
const numberLeaf = 4

// numberSearch emits the binary search of dispatch over nums (sorted by
// number), nr in A: a hit jumps to its label, a number not among them
// returns ALLOW.
func (g *gen) numberSearch(abi ABI, nums []numberTest) {
	a := &g.a
	if len(nums) <= numberLeaf {
		for _, n := range nums {
			next := a.newLabel()
			a.jumpIf(bpf.JumpEqual, n.nr, n.hit, next, n.what)
			a.bind(next)
		}
		a.ret(RetAllow)
		return
	}
	mid := len(nums) / 2
	low, high := a.newLabel(), a.newLabel()
	a.jumpIf(bpf.JumpGreaterOrEqual, nums[mid].nr, high, low, abi.String()+" nr >= "+strconv.Itoa(int(nums[mid].nr))+"?")
	a.bind(low)
	g.numberSearch(abi, nums[:mid])
	a.bind(high)
	g.numberSearch(abi, nums[mid:])
}

func (g *gen) x86_64() {
	a := &g.a
	x32, native := a.newLabel(), a.newLabel()
	a.ldAbs(offNr, "nr")
	a.jumpIf(bpf.JumpBitsSet, X32SyscallBit, x32, native, "x32 system call")
	a.bind(x32)
	a.ret(ErrnoRet(ENOSYS))
	a.bind(native)
	g.dispatch(ABI64, g.body64)
}

func (g *gen) i386() {
	g.a.ldAbs(offNr, "nr")
	g.dispatch(ABI32, g.body32)
}

// retBody returns a body that just returns v.
func (g *gen) retBody(v uint32) func() { return func() { g.a.ret(v) } }

func (g *gen) body64(c Class) func() {
	a := &g.a
	trace := func(r Reason) uint32 { return NewCode(c, ABI64, r).Ret() }
	if body := g.commonBody(c, ABI64); body != nil {
		return body
	}
	switch c {
	case Shmdt:
		return g.retBody(trace(Always))
	case Brk:
		if g.p.TrapAll {
			return g.retBody(trace(Always))
		}
		// The reservations stop the heap from growing into a guarded
		// range in the kernel itself: brk never needs the tracer.
		return g.retBody(RetAllow)
	case Shmat:
		if g.p.TrapAll {
			return g.retBody(trace(Always))
		}
		return func() {
			allow, yes := a.newLabel(), a.newLabel()
			g.argZero(1, "shmaddr", "", "", allow, yes)
			a.bind(allow)
			a.ret(RetAllow)
			a.bind(yes)
			a.ret(trace(Always))
		}
	}
	if g.p.TrapAll {
		return g.retBody(trace(Always))
	}
	switch c {
	case Mmap:
		return g.mmapBody
	case Mremap:
		if !g.fastPath() {
			return nil
		}
		return func() {
			fixed, old := a.newLabel(), a.newLabel()
			a.ldAbs(offArgLo(3), "flags")
			a.jumpIf(bpf.JumpBitsSet, mremapFixed, fixed, old, "MREMAP_FIXED")
			a.bind(fixed)
			a.ret(trace(FixedTarget))
			a.bind(old)
			// The old range of a huge mapping is rounded up to a huge
			// page.
			g.toHugeOverlapCheck(trace(RangeOverlap))
		}
	case Munmap, Mprotect, PkeyMprotect, Madvise, Mlock, Mlock2, Munlock, Mseal, Msync, Mincore, Mbind, RemapFilePages:
		if !g.fastPath() {
			return nil
		}
		return func() { g.toOverlapCheck(trace(RangeOverlap)) }
	case IoDestroy:
		// The ring it unmaps, from args[0], has the size it had at
		// io_setup, at most 256 MiB (see rewrite's decideIoDestroy):
		// the tracer's where [args[0], args[0]+args[1]+1 GiB) reaches a
		// guarded range (args[1], which io_destroy does not have, only
		// widens it).
		if !g.fastPath() {
			return nil
		}
		return func() { g.toHugeOverlapCheck(trace(RangeOverlap)) }
	case IoSetup:
		// Where its ring ends up if the call fails is not in its
		// arguments (see rewrite's decideIoSetup).
		if !g.fastPath() {
			return nil
		}
		return g.retBody(trace(Always))
	case GetMempolicy:
		if !g.fastPath() {
			return nil
		}
		return func() {
			byAddr, allow := a.newLabel(), a.newLabel()
			a.ldAbs(offArgLo(4), "get_mempolicy flags")
			a.jumpIf(bpf.JumpBitsSet, mpolFAddr, byAddr, allow, "MPOL_F_ADDR")
			a.bind(allow)
			a.ret(RetAllow)
			a.bind(byAddr)
			g.toAddrCheck(trace(RangeOverlap))
		}
	}
	panic(fmt.Sprintf("seccomp: no x86_64 rule for %v", c))
}

func (g *gen) body32(c Class) func() {
	a := &g.a
	if body := g.commonBody(c, ABI32); body != nil {
		return body
	}
	switch c {
	case Ipc:
		return func() {
			yes, no, notAt := a.newLabel(), a.newLabel(), a.newLabel()
			a.ldAbs(offArgLo(0), "ipc call")
			a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: ipcCallMask}, "without the version")
			a.jumpIf(bpf.JumpEqual, ipcShmat, yes, notAt, "SHMAT")
			a.bind(notAt)
			a.jumpIf(bpf.JumpEqual, ipcShmdt, yes, no, "SHMDT")
			a.bind(no)
			a.ret(RetAllow)
			a.bind(yes)
			a.ret(NewCode(Ipc, ABI32, Always).Ret())
		}
	}
	return g.retBody(NewCode(c, ABI32, Always).Ret())
}

// prctlBody refuses the PR_SET_MM operations that can move the program
// break (and with it what a brk "shrink" unmaps) over reservations:
// PR_SET_MM_MAP needs no privilege. The others (a process title's
// argument area, say) are allowed. PR_SET_SECCOMP goes to the tracer,
// which must know of the program's own filters. Other prctl calls are
// allowed.
func (g *gen) prctlBody(abi ABI) {
	a := &g.a
	deny, mm, notMM, trace, allow := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
	a.ldAbs(offArgLo(0), "prctl option")
	a.jumpIf(bpf.JumpEqual, prSetMM, mm, notMM, "PR_SET_MM")
	a.bind(mm)
	a.ldAbs(offArgLo(1), "PR_SET_MM operation")
	for _, op := range prSetMMBreakOps {
		next := a.newLabel()
		a.jumpIf(bpf.JumpEqual, op, deny, next, "")
		a.bind(next)
	}
	a.ret(RetAllow)
	a.bind(notMM)
	a.jumpIf(bpf.JumpEqual, prSetSeccomp, trace, allow, "PR_SET_SECCOMP")
	a.bind(allow)
	a.ret(RetAllow)
	a.bind(deny)
	a.ret(ErrnoRet(EPERM))
	a.bind(trace)
	a.ret(NewCode(Prctl, abi, Always).Ret())
}

// archPrctlBody refuses ARCH_ENABLE_TAGGED_ADDR as the kernel does on a
// CPU without Linear Address Masking (see taggedAddrErrno): with it, the kernel ignores the tag
// bits of the addresses munmap, mprotect, madvise, mremap's old address
// and their kind are given, and a tagged address inside a guarded range
// looks far from it to the filter's comparisons, which see all 64 bits.
// ARCH_MAP_VDSO_X32, _32 and _64 map a new vDSO with their address as a
// hint, which reservations keep out of a guarded range but for the room
// left below a stack in one (trace.withStackRoom): they go to the tracer,
// which drops a hint near a guarded range (rare calls: CRIU's restore).
// Other arch_prctl calls are allowed.
func (g *gen) archPrctlBody(abi ABI) {
	a := &g.a
	deny, notTagged, vdsoLow, trace, allow := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
	a.ldAbs(offArgLo(0), "arch_prctl option")
	a.jumpIf(bpf.JumpEqual, archTaggedAddr, deny, notTagged, "ARCH_ENABLE_TAGGED_ADDR")
	a.bind(notTagged)
	a.jumpIf(bpf.JumpGreaterOrEqual, archMapVdsoX32, vdsoLow, allow, "ARCH_MAP_VDSO_X32 or above")
	a.bind(vdsoLow)
	a.jumpIf(bpf.JumpGreaterThan, archMapVdso64, allow, trace, "above ARCH_MAP_VDSO_64")
	a.bind(allow)
	a.ret(RetAllow)
	a.bind(deny)
	a.ret(ErrnoRet(taggedAddrErrno()))
	a.bind(trace)
	a.ret(NewCode(ArchPrctl, abi, Always).Ret())
}

// refuseArg0 answers errno where the low half of args[0] (what) passes
// test against k (why), and allows the call otherwise.
func (g *gen) refuseArg0(what string, test bpf.JumpTest, k uint32, why string, errno uint16) {
	a := &g.a
	deny, allow := a.newLabel(), a.newLabel()
	a.ldAbs(offArgLo(0), what)
	a.jumpIf(test, k, deny, allow, why)
	a.bind(allow)
	a.ret(RetAllow)
	a.bind(deny)
	a.ret(ErrnoRet(errno))
}

// seccompBody refuses a filter that asks for a user-notification
// listener (SECCOMP_RET_USER_NOTIF outranks SECCOMP_RET_TRACE: with a
// listener the program could answer its own mapping calls and never
// reach the tracer), answering EBUSY as the kernel does when a listener
// is already in the way, and sends other new filters to the tracer.
func (g *gen) seccompBody(abi ABI) {
	a := &g.a
	filter, deny, trace, allow := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
	a.ldAbs(offArgLo(0), "seccomp operation")
	a.jumpIf(bpf.JumpEqual, seccompSetFilter, filter, allow, "SECCOMP_SET_MODE_FILTER")
	a.bind(filter)
	a.ldAbs(offArgLo(1), "seccomp flags")
	a.jumpIf(bpf.JumpBitsSet, flagListener, deny, trace, "SECCOMP_FILTER_FLAG_NEW_LISTENER")
	a.bind(allow)
	a.ret(RetAllow)
	a.bind(deny)
	a.ret(ErrnoRet(EBUSY))
	a.bind(trace)
	a.ret(NewCode(Seccomp, abi, Always).Ret())
}

// commonBody is the code for the classes that are the same in both ABIs
// (see evaluateCommon), or nil for any other class.
func (g *gen) commonBody(c Class, abi ABI) func() {
	switch c {
	case Clone3, IoUringSetup, IoUringEnter, IoUringRegister, Uselib:
		return g.retBody(ErrnoRet(ENOSYS))
	case ProcessMadvise:
		return g.processMadviseBody
	case Clone:
		return g.cloneBody
	case Prctl:
		return func() { g.prctlBody(abi) }
	case ArchPrctl:
		return func() { g.archPrctlBody(abi) }
	case Seccomp:
		return func() { g.seccompBody(abi) }
	}
	return nil
}

// cloneBody denies CLONE_UNTRACED, which would start a child the tracer
// cannot follow. Only the low 32 bits of the flags count, in both ABIs.
func (g *gen) cloneBody() {
	g.refuseArg0("clone flags", bpf.JumpBitsSet, cloneUntraced, "CLONE_UNTRACED", EPERM)
}

// processMadviseBody lets process_madvise through only with advice that
// cannot unmap or change what a child inherits (harmlessAdvice); the rest
// gets EINVAL, as on kernels before 6.15. Only the low 32 bits of the
// advice count (the kernel takes an int).
func (g *gen) processMadviseBody() {
	a := &g.a
	allow := a.newLabel()
	a.ldAbs(offArgLo(3), "process_madvise advice")
	for _, adv := range harmlessAdvice {
		next := a.newLabel()
		a.jumpIf(bpf.JumpEqual, adv, allow, next, "")
		a.bind(next)
	}
	a.ret(ErrnoRet(EINVAL))
	a.bind(allow)
	a.ret(RetAllow)
}

func (g *gen) mmapBody() {
	a := &g.a
	code := func(r Reason) uint32 { return NewCode(Mmap, ABI64, r).Ret() }
	fixed, hint := a.newLabel(), a.newLabel()
	a.ldAbs(offArgLo(3), "flags")
	a.jumpIf(bpf.JumpBitsSet, mapFixed|mapFixedNoreplace, fixed, hint, "MAP_FIXED|MAP_FIXED_NOREPLACE")

	a.bind(hint)
	if g.p.TrapFileMaps {
		isAnon, offLo, file, rest := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
		a.jumpIf(bpf.JumpBitsSet, mapAnonymous, isAnon, offLo, "MAP_ANONYMOUS")
		a.bind(offLo)
		g.argZero(5, "offset", "", "offset 0", file, rest)
		a.bind(isAnon)
		// ld.so reserves an object aligned above the page size with an
		// anonymous PROT_NONE mapping first.
		a.ldAbs(offArgLo(2), "prot")
		a.jumpIf(bpf.JumpEqual, 0, file, rest, "PROT_NONE")
		a.bind(file)
		a.ret(code(FileMap))
		a.bind(rest)
	}
	if g.p.TrapMap32 {
		is32, hi, no := a.newLabel(), a.newLabel(), a.newLabel()
		a.ldAbs(offArgLo(3), "flags")
		a.jumpIf(bpf.JumpBitsSet, map32Bit, is32, no, "MAP_32BIT")
		a.bind(is32)
		g.argZero(0, "hint", "", "", hi, no)
		a.bind(hi)
		a.ret(code(Map32))
		a.bind(no)
	}
	switch {
	case g.p.TrapNullHint:
		g.nullHintCheck(code(NullHint))
	case len(g.protected) == 0:
		a.ret(RetAllow)
	default:
		g.hintCheck(code(HintInside))
	}

	a.bind(fixed)
	if g.p.TrapFileMaps {
		// The segments ld.so maps inside a placed object's span, so the
		// tracer can check they land there.
		file, notFile := a.newLabel(), a.newLabel()
		a.ldAbs(offArgLo(3), "flags")
		a.jumpIf(bpf.JumpBitsSet, mapAnonymous, notFile, file, "MAP_ANONYMOUS")
		a.bind(file)
		a.ret(code(FileMap))
		a.bind(notFile)
	}
	if len(g.guarded) == 0 {
		a.ret(RetAllow)
		return
	}
	// A MAP_HUGETLB mapping may be longer than its length says: the
	// kernel rounds it up to a huge page. A file's may be too
	// (hugetlbfs, a MFD_HUGETLB memfd), or lie elsewhere: the kernel
	// moves a BPF arena's fixed mapping that crosses a 4 GiB line up to
	// the line, up to its length (4 GiB at most) past the range asked
	// for.
	anon, file, huge, small := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
	a.ldAbs(offArgLo(3), "flags")
	a.jumpIf(bpf.JumpBitsSet, mapAnonymous, anon, file, "MAP_ANONYMOUS")
	a.bind(file)
	g.toFileOverlapCheck(code(FixedOverlap))
	a.bind(anon)
	a.jumpIf(bpf.JumpBitsSet, mapHugetlb, huge, small, "MAP_HUGETLB")
	a.bind(huge)
	g.toHugeOverlapCheck(code(FixedOverlap))
	a.bind(small)
	g.toOverlapCheck(code(FixedOverlap))
}

// fileReach is the most a fixed file mapping may map past the end of
// its range: a BPF arena's, moved up to a 4 GiB line (Linux 6.9),
// reaches up to its length, at most 4 GiB, past it; more than a huge
// page (hugeMax).
const fileReach = 1 << 32

// hugeMax is the largest huge page on x86-64: the most the kernel may
// round a mapping's length up by.
const hugeMax = 1 << 30

// argZero emits the test of the 64-bit argument args[i] against 0, a
// 32-bit half at a time: to zero if it is 0, to nonZero otherwise. what
// names the argument at its load; lowNote and highNote comment the two
// tests.
func (g *gen) argZero(i int, what, lowNote, highNote string, zero, nonZero label) {
	a := &g.a
	hi := a.newLabel()
	a.ldAbs(offArgLo(i), what)
	a.jumpIf(bpf.JumpEqual, 0, hi, nonZero, lowNote)
	a.bind(hi)
	a.ldAbs(offArgHi(i), "")
	a.jumpIf(bpf.JumpEqual, 0, zero, nonZero, highNote)
}

// nullHintCheck returns hit if args[0] is 0, goes to the overlap check
// with hit otherwise (a hint whose range overlaps a guarded range is
// the tracer's to place; one away from them all is the kernel's).
func (g *gen) nullHintCheck(hit uint32) {
	a := &g.a
	hiZero, hinted := a.newLabel(), a.newLabel()
	g.argZero(0, "hint", "", "", hiZero, hinted)
	a.bind(hiZero)
	a.ret(hit)
	a.bind(hinted)
	if len(g.guarded) == 0 {
		a.ret(RetAllow)
		return
	}
	g.toOverlapCheck(hit)
}

// hintCheck returns hit if args[0] is non-zero and inside a protected
// range, and ALLOW otherwise.
func (g *gen) hintCheck(hit uint32) {
	a := &g.a
	yes, no := a.newLabel(), a.newLabel()
	a.ldAbs(offArgLo(0), "hint")
	a.st(slotAddrLo, "")
	a.ldAbs(offArgHi(0), "")
	a.st(slotAddrHi, "")
	st := accAddrHi
	if g.protected[0].Start == 0 {
		// Address 0 lies in the first range, but it means "no hint".
		nonZero, hiZero := a.newLabel(), a.newLabel()
		a.jumpIf(bpf.JumpEqual, 0, hiZero, nonZero, "")
		a.bind(hiZero)
		a.ldMem(slotAddrLo, "")
		a.jumpIf(bpf.JumpEqual, 0, no, nonZero, "")
		a.bind(nonZero)
		st = accUnknown
	}
	g.search(g.protected, st, func(i int, st acc) {
		g.addrAtLeast(g.protected[i].Start, st, yes, no)
	}, no)
	a.bind(yes)
	a.ret(hit)
	a.bind(no)
	a.ret(RetAllow)
}

// toOverlapCheck jumps to the shared overlap check, which returns ret
// if the call's range overlaps a guarded range.
//
// ret travels in X and is stored into M[code] by the check itself: the
// kernel's checker (check_load_and_stores) accepts a read of scratch
// memory only if every path into it has written the word, and it counts
// the instruction after a return as a path too, so a word written before
// jumping into a block that follows a return does not count as written.
func (g *gen) toOverlapCheck(ret uint32) {
	if g.rangeArgs == 0 {
		g.rangeArgs = g.a.newLabel()
	}
	g.a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: ret}, "")
	g.a.jump(g.rangeArgs, "")
}

// toAddrCheck jumps to the overlap check's entry for one address, args[3]
// (get_mempolicy's), which returns ret if it lies in a guarded range. ret
// travels in X, as for toOverlapCheck.
func (g *gen) toAddrCheck(ret uint32) {
	if g.addrArg3 == 0 {
		g.addrArg3 = g.a.newLabel()
	}
	g.a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: ret}, "")
	g.a.jump(g.addrArg3, "")
}

// saturateEnd ends a carry into the end's high word (in A, just
// stored): on to search unless it overflowed, in which case (at sat) the
// end becomes the last address of the space, and the code after sat
// runs.
func (g *gen) saturateEnd(sat, search label) {
	a := &g.a
	a.jumpIf(bpf.JumpEqual, 0, sat, search, "overflowed: the end of the address space")
	a.bind(sat)
	a.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 0xffffffff}, "")
	a.st(slotEndLo, "")
	a.st(slotEndHi, "")
}

// toFileOverlapCheck is toOverlapCheck for a fixed file mapping,
// which may reach fileReach past its end.
func (g *gen) toFileOverlapCheck(ret uint32) {
	if g.fileArgs == 0 {
		g.fileArgs = g.a.newLabel()
	}
	g.a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: ret}, "")
	g.a.jump(g.fileArgs, "")
}

// toHugeOverlapCheck is toOverlapCheck for a call whose length the
// kernel may round up to a huge page (see hugeReach).
func (g *gen) toHugeOverlapCheck(ret uint32) {
	if g.hugeArgs == 0 {
		g.hugeArgs = g.a.newLabel()
	}
	g.a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: ret}, "")
	g.a.jump(g.hugeArgs, "")
}

// overlapCheck emits the block shared by every range call: it computes
// the range [args[0], args[0]+args[1]) into scratch memory, searches the
// guarded ranges, and returns the result given in X on an overlap (with
// the reason changed to Wrap if the end overflows) or ALLOW. An empty
// range stands for its address, and so does args[3] entering at
// addrArg3: the search is given [addr, addr|0xfff) instead, which
// overlaps a page-aligned range exactly when addr lies in it.
// Entered at hugeArgs, it moves the end up by hugeMax first, at
// fileArgs by fileReach (saturating).
func (g *gen) overlapCheck() {
	a := &g.a
	search, hit, miss, wrap, point := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()

	if g.rangeArgs != 0 {
		lenLo := a.newLabel()
		a.bind(g.rangeArgs)
		a.emit(bpf.TXA{}, "overlap check")
		a.st(slotCode, "")
		g.computeEnd(0, 1, lenLo, wrap)
		// end == addr: the kernel looks up the mapping at addr (mremap
		// with old_len 0) or refuses the call.
		a.bind(lenLo)
		g.argZero(1, "len", "empty range?", "", point, search)
	}
	if g.hugeArgs != 0 {
		more, carry, noCarry, sat := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
		a.bind(g.hugeArgs)
		a.emit(bpf.TXA{}, "overlap check, huge pages")
		a.st(slotCode, "")
		g.computeEnd(0, 1, more, wrap)
		a.bind(more)
		a.ldMem(slotEndLo, "")
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: hugeMax}, "end + 1 GiB")
		a.st(slotEndLo, "")
		a.jumpIf(bpf.JumpGreaterOrEqual, hugeMax, noCarry, carry, "no carry")
		a.bind(carry)
		a.ldMem(slotEndHi, "")
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1}, "the carry")
		a.st(slotEndHi, "")
		g.saturateEnd(sat, search)
		a.bind(noCarry)
		a.jump(search, "")
	}
	if g.fileArgs != 0 {
		more, sat := a.newLabel(), a.newLabel()
		a.bind(g.fileArgs)
		a.emit(bpf.TXA{}, "overlap check, fixed file mappings")
		a.st(slotCode, "")
		g.computeEnd(0, 1, more, wrap)
		a.bind(more)
		a.ldMem(slotEndHi, "")
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: fileReach >> 32}, "end + 4 GiB")
		a.st(slotEndHi, "")
		g.saturateEnd(sat, search)
		a.jump(search, "")
	}
	if g.addrArg3 != 0 {
		a.bind(g.addrArg3)
		a.emit(bpf.TXA{}, "address check")
		a.st(slotCode, "")
		a.ldAbs(offArgHi(3), "addr")
		a.st(slotAddrHi, "")
		a.st(slotEndHi, "")
		a.ldAbs(offArgLo(3), "")
		a.st(slotAddrLo, "")
	}
	// end.hi is addr.hi here.
	a.bind(point)
	a.ldMem(slotAddrLo, "")
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpOr, Val: uint32(region.PageSize - 1)}, "the address's page")
	a.st(slotEndLo, "")

	a.bind(search)
	g.search(g.guarded, accUnknown, func(i int, _ acc) {
		g.endAbove(g.guarded[i].Start, hit, miss)
	}, miss)

	a.bind(hit)
	a.ldMem(slotCode, "")
	a.emit(bpf.RetA{}, "")

	a.bind(wrap)
	a.ldMem(slotCode, "")
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: ^uint32(codeReasonMask)}, "")
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpOr, Val: uint32(Wrap) << codeReasonShift}, "reason wrap")
	a.emit(bpf.RetA{}, "")

	a.bind(miss)
	a.ret(RetAllow)
}

// computeEnd stores the address args[ai] and the end args[ai]+args[li]
// of a range into scratch memory as 32-bit halves, and continues at
// next, or at wrap if the 64-bit sum overflows.
func (g *gen) computeEnd(ai, li int, next, wrap label) {
	a := &g.a
	carry, noCarry, inc, high := a.newLabel(), a.newLabel(), a.newLabel(), a.newLabel()
	a.ldAbs(offArgHi(ai), "addr")
	a.st(slotAddrHi, "")
	a.ldAbs(offArgLo(ai), "")
	a.st(slotAddrLo, "")
	a.emit(bpf.TAX{}, "")
	a.ldAbs(offArgLo(li), "len")
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd}, "")
	a.st(slotEndLo, "")
	// The low word carried out iff the sum came out below the addend in X.
	a.jumpIfX(bpf.JumpGreaterOrEqual, noCarry, carry, "end.lo >= addr.lo: no carry")
	a.bind(carry)
	a.ldAbs(offArgHi(li), "")
	a.jumpIf(bpf.JumpEqual, 0xffffffff, wrap, inc, "len.hi+1 overflows")
	a.bind(inc)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1}, "the carry")
	a.jump(high, "")
	a.bind(noCarry)
	a.ldAbs(offArgHi(li), "")
	a.bind(high)
	a.ldxMem(slotAddrHi, "")
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd}, "")
	a.st(slotEndHi, "")
	// As for the low word: the sum overflowed iff it is below addr.hi.
	a.jumpIfX(bpf.JumpGreaterOrEqual, next, wrap, "end.hi >= addr.hi: no overflow")
}
