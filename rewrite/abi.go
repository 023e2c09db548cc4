package rewrite

import (
	"fmt"

	"github.com/mmapguard/mmapguard/region"
)

// ABI is the system-call convention a call was made with.
type ABI uint8

const (
	// ABI64 is the native x86-64 convention (syscall instruction).
	ABI64 ABI = iota
	// ABI32 is the i386 convention (int $0x80 or sysenter from a 64-bit
	// or 32-bit process): other numbers, and only the low 32 bits of each
	// argument register count.
	ABI32
)

func (a ABI) String() string {
	switch a {
	case ABI64:
		return "x86_64"
	case ABI32:
		return "i386"
	}
	return fmt.Sprintf("abi(%d)", uint8(a))
}

// Op is the kind of mapping call, independent of ABI.
type Op uint8

// The mapping calls a Guard decides on. OpOther is anything else: it is
// allowed.
const (
	OpOther        Op = iota
	OpMmap            // mmap (x86-64) and mmap2 (i386, offset in pages)
	OpOldMmap         // i386 old_mmap: the six arguments are in memory
	OpMunmap          //
	OpMremap          //
	OpMprotect        //
	OpPkeyMprotect    //
	OpMadvise         //
	OpMlock           // mlock, mlock2, munlock
	OpMseal           //
	OpBrk             //
	OpShmat           // shmat, and i386 ipc(SHMAT, ...)
	OpIPC             // i386 ipc multiplexer, any other sub-call
	OpClone           //
	OpClone3          //
	OpShmdt           // shmdt, and i386 ipc(SHMDT, ...)
	OpMsync           //
	OpMincore         //
	OpMbind           //
	OpGetMempolicy    //
	OpRemapFile       // remap_file_pages
	OpIoDestroy       // io_destroy
	OpIoSetup         // io_setup
	OpArchPrctl       // arch_prctl (x86-64; only ARCH_MAP_VDSO_* reach the tracer)
)

var opNames = [...]string{
	OpOther: "other", OpMmap: "mmap", OpOldMmap: "old_mmap", OpMunmap: "munmap",
	OpMremap: "mremap", OpMprotect: "mprotect", OpPkeyMprotect: "pkey_mprotect",
	OpMadvise: "madvise", OpMlock: "mlock", OpMseal: "mseal", OpBrk: "brk",
	OpShmat: "shmat", OpIPC: "ipc", OpClone: "clone", OpClone3: "clone3",
	OpShmdt: "shmdt", OpMsync: "msync", OpMincore: "mincore", OpMbind: "mbind",
	OpGetMempolicy: "get_mempolicy", OpRemapFile: "remap_file_pages",
	OpIoDestroy: "io_destroy", OpIoSetup: "io_setup", OpArchPrctl: "arch_prctl",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Syscall numbers, from the kernel's arch/x86/entry/syscalls tables.
const (
	sysMmap64         = 9
	sysMprotect64     = 10
	sysMunmap64       = 11
	sysBrk64          = 12
	sysMremap64       = 25
	sysMadvise64      = 28
	sysShmat64        = 30
	sysClone64        = 56
	sysShmdt64        = 67
	sysMlock64        = 149
	sysMunlock64      = 150
	sysMlock2_64      = 325
	sysPkeyMprotect64 = 329
	sysClone3_64      = 435
	sysMseal64        = 462
	sysMsync64        = 26
	sysMincore64      = 27
	sysMbind64        = 237
	sysGetMempolicy64 = 239
	sysRemapFile64    = 216
	sysIoDestroy64    = 207
	sysIoSetup64      = 206
	sysArchPrctl64    = 158

	sysBrk32          = 45
	sysOldMmap32      = 90
	sysMunmap32       = 91
	sysIPC32          = 117
	sysClone32        = 120
	sysMprotect32     = 125
	sysMlock32        = 150
	sysMunlock32      = 151
	sysMremap32       = 163
	sysMmap2_32       = 192
	sysMadvise32      = 219
	sysMlock2_32      = 376
	sysPkeyMprotect32 = 380
	sysShmat32        = 397
	sysShmdt32        = 398
	sysClone3_32      = 435
	sysMseal32        = 462
	sysMsync32        = 144
	sysMincore32      = 218
	sysMbind32        = 274
	sysGetMempolicy32 = 275
	sysRemapFile32    = 257
	sysIoDestroy32    = 246
	sysIoSetup32      = 245

	// ipcSHMAT and ipcSHMDT are the ipc(2) multiplexer's sub-calls for
	// shmat and shmdt.
	ipcSHMAT = 21
	ipcSHMDT = 22
)

// ops64 and ops32 map call numbers to Ops. They are arrays indexed by
// number rather than maps: Classify is on the path of every decision.
var ops64 = [...]Op{
	sysMmap64: OpMmap, sysMprotect64: OpMprotect, sysMunmap64: OpMunmap,
	sysBrk64: OpBrk, sysMremap64: OpMremap, sysMadvise64: OpMadvise,
	sysShmat64: OpShmat, sysClone64: OpClone, sysMlock64: OpMlock,
	sysMunlock64: OpMlock, sysMlock2_64: OpMlock, sysPkeyMprotect64: OpPkeyMprotect,
	sysClone3_64: OpClone3, sysMseal64: OpMseal, sysShmdt64: OpShmdt,
	sysMsync64: OpMsync, sysMincore64: OpMincore, sysMbind64: OpMbind,
	sysGetMempolicy64: OpGetMempolicy, sysRemapFile64: OpRemapFile,
	sysIoDestroy64: OpIoDestroy, sysIoSetup64: OpIoSetup, sysArchPrctl64: OpArchPrctl,
}

var ops32 = [...]Op{
	sysBrk32: OpBrk, sysOldMmap32: OpOldMmap, sysMunmap32: OpMunmap,
	sysIPC32: OpIPC, sysClone32: OpClone, sysMprotect32: OpMprotect,
	sysMlock32: OpMlock, sysMunlock32: OpMlock, sysMremap32: OpMremap,
	sysMmap2_32: OpMmap, sysMadvise32: OpMadvise, sysMlock2_32: OpMlock,
	sysPkeyMprotect32: OpPkeyMprotect, sysShmat32: OpShmat, sysClone3_32: OpClone3,
	sysMseal32: OpMseal, sysShmdt32: OpShmdt, sysMsync32: OpMsync,
	sysMincore32: OpMincore, sysMbind32: OpMbind, sysGetMempolicy32: OpGetMempolicy,
	sysRemapFile32: OpRemapFile, sysIoDestroy32: OpIoDestroy, sysIoSetup32: OpIoSetup,
}

// Classify names the mapping call that number nr is in the given ABI.
func Classify(abi ABI, nr uint64) Op {
	switch {
	case abi == ABI64 && nr < uint64(len(ops64)):
		return ops64[nr]
	case abi == ABI32 && nr < uint64(len(ops32)):
		return ops32[nr]
	}
	return OpOther
}

// Mapping-related constants from the kernel's uapi headers (x86).
const (
	ProtNone  = 0x0
	ProtRead  = 0x1
	ProtWrite = 0x2
	ProtExec  = 0x4

	MapShared         = 0x01
	MapPrivate        = 0x02
	MapSharedValidate = 0x03
	MapDroppable      = 0x08 // Linux 6.11
	MapType           = 0x0f
	MapFixed          = 0x10
	MapAnonymous      = 0x20
	Map32Bit          = 0x40
	MapGrowsDown      = 0x100
	MapNoReserve      = 0x4000
	MapFixedNoReplace = 0x100000
	MapHugetlb        = 0x40000
	MapSync           = 0x80000
	// MapHugeShift is where MAP_HUGETLB's flags keep log2 of the huge
	// page size (6 bits; 0 for the system's default size).
	MapHugeShift = 26

	MremapMayMove   = 1
	MremapFixed     = 2
	MremapDontUnmap = 4

	ShmRnd   = 0o20000
	ShmRemap = 0o40000

	CloneUntraced = 0x00800000

	MadvDontFork   = 10
	MadvDoFork     = 11
	MadvWipeOnFork = 18
	// MADV_POPULATE_READ and _WRITE fault the range in and stop at the
	// first hole (ENOMEM) instead of going on to the next mapping.
	MadvPopulateRead  = 22
	MadvPopulateWrite = 23

	ProtSem       = 0x8        // accepted by mprotect, and ignored
	ProtGrowsDown = 0x01000000 // mprotect: extend to the start of a growsdown mapping
	ProtGrowsUp   = 0x02000000

	MlockOnFault = 1 // mlock2

	MsAsync      = 1
	MsInvalidate = 2
	MsSync       = 4

	MpolDefault = 0 // mbind mode
	// MpolModeFlags are the mode flags mbind takes in its mode argument:
	// MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING.
	MpolModeFlags = 1<<15 | 1<<14 | 1<<13
	// get_mempolicy flags.
	MpolFNode        = 1
	MpolFAddr        = 2
	MpolFMemsAllowed = 4
)

// Errno values the guard answers with (x86, asm-generic).
const (
	EPERM  = 1
	EBADF  = 9
	ENOMEM = 12
	EACCES = 13
	EFAULT = 14
	EEXIST = 17
	EINVAL = 22
	ENOSYS = 38
)

// Err encodes -errno the way a syscall returns it in a 64-bit register.
func Err(errno int) uint64 { return uint64(-int64(errno)) }

// Failed reports whether a raw return value is an error, and which errno.
// Values in [-4095, -1] are errors, as in the kernel's IS_ERR_VALUE.
// For ABI32 only the low 32 bits are looked at.
func Failed(abi ABI, ret uint64) (errno int, failed bool) {
	v := int64(ret)
	if abi == ABI32 {
		v = int64(int32(uint32(ret)))
	}
	if v < 0 && v >= -4095 {
		return int(-v), true
	}
	return 0, false
}

// HugeUnknown is Call.HugePage for a mapping that may hold huge pages of
// a size the tracer could not learn.
const HugeUnknown = ^uint64(0)

// hugeMax is the largest huge page on x86-64: how far the kernel may
// round a length beyond what the call says.
const hugeMax = 1 << 30

// ArenaSpan is the most a BPF arena maps (4 GiB), and the lines its
// mapping may not cross: the kernel (arena_get_unmapped_area) moves a
// range that crosses one up to it, MAP_FIXED or not, so that the low 32
// bits of an address in the arena name one place.
const ArenaSpan = 1 << 32

// crossesArenaLine reports whether n bytes from addr cross a 4 GiB line.
func crossesArenaLine(addr, n uint64) bool {
	if n == 0 {
		return false
	}
	last := addr + n - 1
	return last >= addr && addr/ArenaSpan != last/ArenaSpan
}

// ArenaLine reports where the kernel maps fixed mmap c of a BPF arena
// (Call.Arena) whose range crosses a 4 GiB line: at that line, and
// length bytes from there, replacing what is there up to an address
// beyond the range the program named (an unaligned address too, which
// ends up aligned). ok is false for every other call, which maps where
// it says or fails; and for an arena's mapping the kernel refuses before
// it looks at the address (a file offset, a length of more than 4 GiB).
func ArenaLine(c Call) (line uint64, ok bool) {
	if !c.Arena || c.Op() != OpMmap {
		return 0, false
	}
	r, ok := arenaMove(c.ABI, c.Args)
	return r.Start, ok
}

// arenaMove reports where the kernel would map fixed mmap call args
// (mmap's or mmap2's; an old_mmap's block as mmap2's but for the offset,
// in bytes there, 0 both ways) if the descriptor were a BPF arena's,
// whatever it was at the tracer's look: the range of its length from
// the 4 GiB line its range crosses. ok is false where an arena's would
// map where it says, or fail before the kernel looks at the address.
func arenaMove(abi ABI, args [6]uint64) (region.Range, bool) {
	addr, length, flags, off := args[0], args[1], args[3], args[5]
	if flags&MapAnonymous != 0 || flags&(MapFixed|MapFixedNoReplace) == 0 {
		return region.Range{}, false
	}
	if abi == ABI32 {
		addr, length, off = addr&0xffffffff, length&0xffffffff, off&0xffffffff
	}
	n, ok := region.PageUp(length)
	if !ok || n == 0 || n > ArenaSpan || off != 0 || !crossesArenaLine(addr, n) {
		return region.Range{}, false
	}
	line := (addr/ArenaSpan + 1) * ArenaSpan
	return region.Range{Start: line, End: satAdd(line, n)}, true
}

// ArenaMoveOf is arenaMove for an mmap or old_mmap call (the block the
// tracer read for the latter).
func ArenaMoveOf(c Call) (region.Range, bool) {
	switch c.Op() {
	case OpMmap:
		return arenaMove(c.ABI, c.Args)
	case OpOldMmap:
		if c.HaveMem {
			return arenaMove(c.ABI, c.Mem)
		}
	}
	return region.Range{}, false
}
