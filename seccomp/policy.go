package seccomp

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"

	"github.com/mmapguard/mmapguard/region"
)

// Architecture tokens of seccomp_data.arch (linux/audit.h), and the bit
// that marks an x32 system call number on the x86-64 entry.
const (
	AuditArchX86_64 = 0xc000003e // AUDIT_ARCH_X86_64
	AuditArchI386   = 0x40000003 // AUDIT_ARCH_I386
	X32SyscallBit   = 0x40000000 // __X32_SYSCALL_BIT
)

// Flags for Install, passed to seccomp(SECCOMP_SET_MODE_FILTER)
// (SECCOMP_FILTER_FLAG_* in linux/seccomp.h).
const (
	FlagTSync      uint = 1 << 0 // SECCOMP_FILTER_FLAG_TSYNC: install on every thread of the process
	FlagLog        uint = 1 << 1 // SECCOMP_FILTER_FLAG_LOG
	FlagSpecAllow  uint = 1 << 2 // SECCOMP_FILTER_FLAG_SPEC_ALLOW
	FlagTSyncESRCH uint = 1 << 4 // SECCOMP_FILTER_FLAG_TSYNC_ESRCH: fail with ESRCH, not a thread id

	flagNewListener uint = 1 << 3 // SECCOMP_FILTER_FLAG_NEW_LISTENER, refused by Install
)

// ErrNotSupported is returned by Install where seccomp filters do not
// exist (any OS but Linux).
var ErrNotSupported = errors.New("seccomp filters are not supported on this platform")

// Policy says which calls the kernel may settle alone and which must stop
// in the tracer. Some rules hold for every policy, the zero Policy
// included: shmat with an address and every i386 mapping call are
// trapped (brk only with TrapAll); clone3, clone with CLONE_UNTRACED,
// io_uring, uselib, process_madvise with advice that could unmap or
// change what a child inherits, x32 calls and unknown architectures are
// refused.
//
// Every range must be valid in the sense of package region: page-aligned,
// non-empty and inside user space. Ranges may overlap or touch; Build
// merges them.
type Policy struct {
	// Guarded is the protected ranges together with the pool: a call
	// whose range [addr, addr+len) overlaps one of these must reach the
	// tracer. This covers MAP_FIXED mmaps, munmap, mremap (old range, and
	// new range with MREMAP_FIXED), mprotect, pkey_mprotect, madvise,
	// mlock, mlock2, munlock, mseal, msync, mincore, mbind and
	// remap_file_pages, and get_mempolicy with MPOL_F_ADDR, whose
	// address must not lie in one.
	Guarded []region.Range
	// Protected is the protected ranges only: an mmap without MAP_FIXED
	// whose hint address lies inside one of these must reach the tracer,
	// which may place the mapping there for an allowed requester.
	Protected []region.Range
	// TrapNullHint sends every mmap without MAP_FIXED whose hint is 0
	// or whose range overlaps a guarded range to the tracer (the
	// pool-all mode, where the tracer places every mapping the kernel
	// would otherwise choose a place for). A hint away from every
	// guarded range stays in the kernel: the tracer would honour it.
	TrapNullHint bool
	// TrapMap32 sends every 64-bit mmap with MAP_32BIT, without
	// MAP_FIXED and with hint 0, to the tracer (reason Map32): for a
	// policy whose guarded ranges cover the whole window the kernel
	// searches for such a mapping (1-2 GiB), where it cannot succeed and
	// the tracer says why.
	TrapMap32 bool
	// TrapFileMaps sends every file-backed mmap without MAP_FIXED from
	// file offset 0 to the tracer: ld.so's first mapping of each shared
	// object, which the tracer may place (see package loader); every
	// anonymous PROT_NONE mmap without MAP_FIXED: the reservation ld.so
	// makes first for an object aligned above the page size; and every
	// file-backed MAP_FIXED mmap: the segments of such an object, which
	// the tracer checks land inside its span.
	TrapFileMaps bool
	// TrapAll turns the in-kernel fast path off: every call of a mapping
	// class reaches the tracer (for logging every call).
	TrapAll bool
}

// Data is struct seccomp_data, the input of a seccomp filter.
type Data struct {
	Nr   int32     // system call number, in the numbering of Arch
	Arch uint32    // AUDIT_ARCH_* of the entry used
	IP   uint64    // instruction pointer at the call
	Args [6]uint64 // the six argument registers, all 64 bits of each
}

// Offsets into struct seccomp_data. Each 64-bit field is loaded by the
// filter as two 32-bit words: on little-endian x86-64 the low word comes
// first.
const (
	offNr      = 0
	offArch    = 4
	offIP      = 8
	offArgs    = 16
	dataSize   = 64
	offLowWord = 0
	offHiWord  = 4
)

func offArgLo(i int) uint32 { return uint32(offArgs + 8*i + offLowWord) }
func offArgHi(i int) uint32 { return uint32(offArgs + 8*i + offHiWord) }

// Marshal returns d as the kernel lays it out in memory on x86-64: 64
// bytes, little-endian.
func (d Data) Marshal() []byte {
	b := make([]byte, dataSize)
	binary.LittleEndian.PutUint32(b[offNr:], uint32(d.Nr))
	binary.LittleEndian.PutUint32(b[offArch:], d.Arch)
	binary.LittleEndian.PutUint64(b[offIP:], d.IP)
	for i, a := range d.Args {
		binary.LittleEndian.PutUint64(b[offArgs+8*i:], a)
	}
	return b
}

// Evaluate returns what the program Build(p) returns for input d. It is
// written directly from the rules below, independently of the generated
// code, and serves as the oracle the program is tested against; a tracer
// may also use it to re-derive a decision.
//
// By architecture:
//   - AUDIT_ARCH_X86_64 with the x32 bit set in nr: ERRNO(ENOSYS).
//   - AUDIT_ARCH_I386: the i386 rules.
//   - anything else: KILL_PROCESS.
//
// x86-64 (addr, len = args[0], args[1] unless said otherwise):
//   - clone3: ERRNO(ENOSYS); glibc then falls back to clone.
//   - io_uring_setup, io_uring_enter, io_uring_register: ERRNO(ENOSYS).
//     A ring runs madvise (IORING_OP_MADVISE) in the kernel, where no
//     filter sees it; without io_uring programs use the plain calls.
//   - process_madvise: ALLOW with MADV_WILLNEED, MADV_COLD, MADV_PAGEOUT
//     or MADV_COLLAPSE in the low word of args[3], else ERRNO(EINVAL)
//     (since Linux 6.15 a process may give itself any advice this way,
//     over ranges in memory the filter cannot read).
//   - uselib: ERRNO(ENOSYS) (it maps an ELF library at the addresses in
//     its headers, on kernels that still have it).
//   - clone with CLONE_UNTRACED in the low 32 bits of args[0]:
//     ERRNO(EPERM); other clones: ALLOW (ptrace follows them).
//   - brk: TRACE with TrapAll, else ALLOW: the kernel refuses to grow the
//     heap over a mapping, and the free parts of guarded ranges are all
//     reserved at exec, so brk can never reach one.
//   - shmat: TRACE, except ALLOW when args[1] (the address) is 0 and
//     TrapAll is off.
//   - with TrapAll, every other mapping call: TRACE always.
//   - mmap with MAP_FIXED or MAP_FIXED_NOREPLACE in the low word of
//     args[3]: TRACE if [addr, addr+len) overlaps a guarded range; for
//     a file mapping or one with MAP_HUGETLB, whose length the kernel
//     may round up to a huge page, [addr, addr+len+1 GiB) (the end
//     saturating at the top of the address space).
//   - other mmaps: with TrapFileMaps, TRACE (reason FileMap) the shapes
//     described there. Then with TrapMap32: TRACE (reason Map32) if
//     MAP_32BIT is in the low word of args[3] and addr is 0. Then with TrapNullHint: TRACE if addr is 0 or
//     [addr, addr+len) overlaps a guarded range, else ALLOW (a hint
//     away from every guarded range is the program's, and where the
//     kernel puts the mapping if the hint is taken is no guarded range:
//     those are reserved). Without it: TRACE if addr != 0 lies inside
//     a protected range; else ALLOW.
//   - munmap, mprotect, pkey_mprotect, madvise, mlock, mlock2, munlock,
//     mseal, msync, mincore, mbind, remap_file_pages: TRACE if
//     [addr, addr+len) overlaps a guarded range. (remap_file_pages maps
//     the file of a shared mapping again over [addr, addr+len), MAP_FIXED,
//     and its mmap method may fail after the kernel has unmapped the
//     range: a gap.)
//   - mremap with MREMAP_FIXED in the low word of args[3]: TRACE
//     (reason FixedTarget) if there is any guarded range. Other mremaps:
//     TRACE if the old range [args[0], args[0]+args[1]+1 GiB) overlaps
//     a guarded range (the old range of a huge mapping is rounded up to
//     a huge page; the end saturates).
//   - get_mempolicy with MPOL_F_ADDR in the low word of args[4] (the
//     flags): TRACE if the address args[3] lies inside a guarded range;
//     without it: ALLOW (the kernel looks up no mapping then, or refuses
//     the flags).
//   - an empty range [addr, addr) overlaps a guarded range if addr lies
//     inside it: the kernel looks up the mapping at addr for mremap with
//     old_len 0, and refuses or ignores the other empty ranges.
//   - a range whose end overflows 64 bits overlaps every guarded range
//     (reason Wrap); with no guarded range nothing overlaps.
//   - everything else: ALLOW.
//
// i386: old_mmap, mmap2, munmap, mremap, mprotect, pkey_mprotect,
// madvise, brk, shmat, mlock, mlock2, munlock, mseal, msync, mincore,
// mbind, get_mempolicy, remap_file_pages, and ipc with call SHMAT (the
// low 16 bits of args[0]): TRACE always. clone: as on x86-64 (the low 32 bits are all
// i386 has). clone3, the io_uring calls, process_madvise and uselib: as
// on x86-64. Everything else: ALLOW.
func Evaluate(p Policy, d Data) uint32 {
	switch d.Arch {
	case AuditArchX86_64:
		if uint32(d.Nr)&X32SyscallBit != 0 {
			return ErrnoRet(ENOSYS)
		}
		return evaluate64(p, d)
	case AuditArchI386:
		return evaluate32(d)
	}
	return RetKillProcess
}

func evaluate64(p Policy, d Data) uint32 {
	class, ok := ClassOf(ABI64, d.Nr)
	if !ok {
		return RetAllow
	}
	trace := func(r Reason) uint32 { return NewCode(class, ABI64, r).Ret() }
	if ret, ok := evaluateCommon(class, ABI64, d); ok {
		return ret
	}
	switch class {
	case Shmdt:
		return trace(Always)
	case Brk:
		if p.TrapAll {
			return trace(Always)
		}
		return RetAllow
	case Shmat:
		if d.Args[1] == 0 && !p.TrapAll {
			return RetAllow
		}
		return trace(Always)
	}
	if p.TrapAll {
		return trace(Always)
	}
	switch class {
	case Mmap:
		if flags := uint32(d.Args[3]); flags&(mapFixed|mapFixedNoreplace) != 0 {
			if p.TrapFileMaps && flags&mapAnonymous == 0 {
				return trace(FileMap)
			}
			if flags&mapAnonymous == 0 {
				return reachOverlapRet(p.Guarded, d.Args[0], d.Args[1], fileReach, trace(FixedOverlap))
			}
			if flags&mapHugetlb != 0 {
				return hugeOverlapRet(p.Guarded, d.Args[0], d.Args[1], trace(FixedOverlap))
			}
			return overlapRet(p.Guarded, d.Args[0], d.Args[1], trace(FixedOverlap))
		}
		if p.TrapFileMaps {
			anonymous := uint32(d.Args[3])&mapAnonymous != 0
			if !anonymous && d.Args[5] == 0 || anonymous && uint32(d.Args[2]) == 0 {
				return trace(FileMap)
			}
		}
		if p.TrapMap32 && uint32(d.Args[3])&map32Bit != 0 && d.Args[0] == 0 {
			return trace(Map32)
		}
		if p.TrapNullHint {
			if d.Args[0] == 0 {
				return trace(NullHint)
			}
			return overlapRet(p.Guarded, d.Args[0], d.Args[1], trace(NullHint))
		}
		if d.Args[0] != 0 && inside(p.Protected, d.Args[0]) {
			return trace(HintInside)
		}
		return RetAllow
	case Mremap:
		if uint32(d.Args[3])&mremapFixed != 0 && len(p.Guarded) > 0 {
			return trace(FixedTarget)
		}
		return hugeOverlapRet(p.Guarded, d.Args[0], d.Args[1], trace(RangeOverlap))
	case IoDestroy:
		return hugeOverlapRet(p.Guarded, d.Args[0], d.Args[1], trace(RangeOverlap))
	case IoSetup:
		if len(p.Guarded) == 0 {
			return RetAllow
		}
		return trace(Always)
	case GetMempolicy:
		if uint32(d.Args[4])&mpolFAddr == 0 {
			return RetAllow
		}
		return overlapRet(p.Guarded, d.Args[3], 0, trace(RangeOverlap))
	default:
		return overlapRet(p.Guarded, d.Args[0], d.Args[1], trace(RangeOverlap))
	}
}

// hugeOverlapRet is overlapRet for a call whose length the kernel may
// round up to a huge page: the range's end is moved up by hugeMax,
// saturating at the top of the address space.
func hugeOverlapRet(rs []region.Range, addr, length uint64, hit uint32) uint32 {
	return reachOverlapRet(rs, addr, length, hugeMax, hit)
}

// reachOverlapRet is overlapRet for a call that may map up to reach
// bytes past the end of its range, saturating at the top of the address
// space.
func reachOverlapRet(rs []region.Range, addr, length, reach uint64, hit uint32) uint32 {
	if len(rs) == 0 {
		return RetAllow
	}
	end, carry := bits.Add64(addr, length, 0)
	if carry != 0 {
		return overlapRet(rs, addr, length, hit) // Wrap
	}
	if end, carry = bits.Add64(end, reach, 0); carry != 0 {
		end = ^uint64(0)
	}
	return overlapRet(rs, addr, end-addr, hit)
}

// overlapRet returns hit if [addr, addr+length) overlaps one of rs (if
// addr lies in one of them, for length 0), the same code with reason
// Wrap if addr+length overflows (and rs is not empty), and ALLOW
// otherwise.
func overlapRet(rs []region.Range, addr, length uint64, hit uint32) uint32 {
	if len(rs) == 0 {
		return RetAllow
	}
	if length == 0 {
		if inside(rs, addr) {
			return hit
		}
		return RetAllow
	}
	end, carry := bits.Add64(addr, length, 0)
	if carry != 0 {
		c := Code(hit & RetDataMask)
		return NewCode(c.Class(), c.ABI(), Wrap).Ret()
	}
	for _, r := range rs {
		if addr < r.End && end > r.Start {
			return hit
		}
	}
	return RetAllow
}

func inside(rs []region.Range, addr uint64) bool {
	for _, r := range rs {
		if r.Start <= addr && addr < r.End {
			return true
		}
	}
	return false
}

func evaluate32(d Data) uint32 {
	class, ok := ClassOf(ABI32, d.Nr)
	if !ok {
		return RetAllow
	}
	if ret, ok := evaluateCommon(class, ABI32, d); ok {
		return ret
	}
	switch class {
	case Ipc:
		if call := uint32(d.Args[0]) & ipcCallMask; call != ipcShmat && call != ipcShmdt {
			return RetAllow
		}
	}
	return NewCode(class, ABI32, Always).Ret()
}

// evaluateCommon is the rule for the classes that are the same in both
// ABIs: clone3, io_uring and uselib refused, process_madvise refused
// unless its advice is harmless, clone refused with CLONE_UNTRACED, the
// break-moving PR_SET_MM operations and listener filters refused, new
// filters traced. ok is false for any other class.
func evaluateCommon(class Class, abi ABI, d Data) (ret uint32, ok bool) {
	switch class {
	case Clone3, IoUringSetup, IoUringEnter, IoUringRegister, Uselib:
		return ErrnoRet(ENOSYS), true
	case ProcessMadvise:
		if slices.Contains(harmlessAdvice, uint32(d.Args[3])) {
			return RetAllow, true
		}
		return ErrnoRet(EINVAL), true
	case Clone:
		if uint32(d.Args[0])&cloneUntraced != 0 {
			return ErrnoRet(EPERM), true
		}
		return RetAllow, true
	case Prctl, Seccomp:
		return evaluateControl(class, abi, d), true
	case ArchPrctl:
		switch op := uint32(d.Args[0]); {
		case op == archTaggedAddr:
			return ErrnoRet(taggedAddrErrno()), true
		case op >= archMapVdsoX32 && op <= archMapVdso64:
			return NewCode(ArchPrctl, abi, Always).Ret(), true
		}
		return RetAllow, true
	}
	return 0, false
}

func evaluateControl(class Class, abi ABI, d Data) uint32 {
	op := uint32(d.Args[0])
	switch {
	case class == Prctl && op == prSetMM:
		if slices.Contains(prSetMMBreakOps, uint32(d.Args[1])) {
			return ErrnoRet(EPERM)
		}
		return RetAllow
	case class == Prctl && op == prSetSeccomp:
		return NewCode(class, abi, Always).Ret()
	case class == Seccomp && op == seccompSetFilter && uint32(d.Args[1])&flagListener != 0:
		return ErrnoRet(EBUSY)
	case class == Seccomp && op == seccompSetFilter:
		return NewCode(class, abi, Always).Ret()
	}
	return RetAllow
}
