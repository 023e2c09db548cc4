package seccomp

// System call numbers the filter dispatches on.
//
// The x86-64 numbers are those of arch/x86/entry/syscalls/syscall_64.tbl
// (abi "common"); the i386 numbers, seen by the filter when a 64-bit or
// 32-bit process enters the kernel through int $0x80 or the 32-bit vDSO
// entry, are those of arch/x86/entry/syscalls/syscall_32.tbl. The names
// in the comments are the table's names; where the table's entry point
// differs from the name it is given too.
//
// The numbers are part of the kernel ABI and never change, so they are
// spelled out here rather than taken from golang.org/x/sys/unix, which has
// no i386 table in an amd64 build.
const (
	// syscall_64.tbl
	nr64Mmap         = 9   // mmap
	nr64Mprotect     = 10  // mprotect
	nr64Munmap       = 11  // munmap
	nr64Brk          = 12  // brk
	nr64Mremap       = 25  // mremap
	nr64Madvise      = 28  // madvise
	nr64Shmat        = 30  // shmat
	nr64Getpid       = 39  // getpid (only used by tests, through the x32 bit)
	nr64Clone        = 56  // clone
	nr64Shmdt        = 67  // shmdt
	nr64Prctl        = 157 // prctl
	nr64ArchPrctl    = 158 // arch_prctl
	nr64Seccomp      = 317 // seccomp
	nr64Mlock        = 149 // mlock
	nr64Munlock      = 150 // munlock
	nr64Mlock2       = 325 // mlock2
	nr64PkeyMprotect = 329 // pkey_mprotect
	nr64Clone3       = 435 // clone3
	nr64Mseal        = 462 // mseal
	nr64IoUringSetup = 425 // io_uring_setup
	nr64IoUringEnter = 426 // io_uring_enter
	nr64IoUringReg   = 427 // io_uring_register
	nr64ProcMadvise  = 440 // process_madvise
	nr64Uselib       = 134 // uselib
	nr64Msync        = 26  // msync
	nr64Mincore      = 27  // mincore
	nr64Mbind        = 237 // mbind
	nr64GetMempolicy = 239 // get_mempolicy
	nr64RemapFile    = 216 // remap_file_pages
	nr64IoDestroy    = 207 // io_destroy
	nr64IoSetup      = 206 // io_setup

	// syscall_32.tbl
	nr32Brk          = 45  // brk
	nr32OldMmap      = 90  // mmap, entry point sys_old_mmap: arguments in a struct in memory
	nr32Munmap       = 91  // munmap
	nr32Ipc          = 117 // ipc: multiplexer, SHMAT is one of its calls
	nr32Clone        = 120 // clone
	nr32Prctl        = 172 // prctl
	nr32Seccomp      = 354 // seccomp
	nr32Mprotect     = 125 // mprotect
	nr32Mlock        = 150 // mlock
	nr32Munlock      = 151 // munlock
	nr32Mremap       = 163 // mremap
	nr32Mmap2        = 192 // mmap2, entry point sys_mmap_pgoff: offset in pages
	nr32Madvise      = 219 // madvise
	nr32Mlock2       = 376 // mlock2
	nr32PkeyMprotect = 380 // pkey_mprotect
	nr32Shmat        = 397 // shmat
	nr32Shmdt        = 398 // shmdt
	nr32Clone3       = 435 // clone3
	nr32Mseal        = 462 // mseal
	nr32IoUringSetup = 425 // io_uring_setup
	nr32IoUringEnter = 426 // io_uring_enter
	nr32IoUringReg   = 427 // io_uring_register
	nr32ProcMadvise  = 440 // process_madvise
	nr32Uselib       = 86  // uselib
	nr32Msync        = 144 // msync
	nr32Mincore      = 218 // mincore
	nr32Mbind        = 274 // mbind
	nr32GetMempolicy = 275 // get_mempolicy
	nr32RemapFile    = 257 // remap_file_pages
	nr32IoDestroy    = 246 // io_destroy
	nr32IoSetup      = 245 // io_setup
)

// Flag bits the filter tests. Values from the kernel's uapi headers
// (asm-generic/mman-common.h, linux/mman.h, linux/sched.h, linux/ipc.h).
const (
	mapFixed          = 0x10     // MAP_FIXED
	mapAnonymous      = 0x20     // MAP_ANONYMOUS
	mapFixedNoreplace = 0x100000 // MAP_FIXED_NOREPLACE
	mapHugetlb        = 0x40000  // MAP_HUGETLB
	map32Bit          = 0x40     // MAP_32BIT (x86-64)
	mremapFixed       = 2        // MREMAP_FIXED
	cloneUntraced     = 0x800000 // CLONE_UNTRACED
	ipcShmat          = 21       // SHMAT, the ipc(2) call number
	ipcShmdt          = 22       // SHMDT
	prSetSeccomp      = 22       // PR_SET_SECCOMP (linux/prctl.h)
	prSetMM           = 35       // PR_SET_MM
	seccompSetFilter  = 1        // SECCOMP_SET_MODE_FILTER (linux/seccomp.h)
	flagListener      = 8        // SECCOMP_FILTER_FLAG_NEW_LISTENER
	ipcCallMask       = 0xffff   // ipc(2) keeps a version in the call's upper 16 bits
	mpolFAddr         = 2        // MPOL_F_ADDR (linux/mempolicy.h): get_mempolicy looks up the mapping at addr
	archTaggedAddr    = 0x4002   // ARCH_ENABLE_TAGGED_ADDR (asm/prctl.h): Linear Address Masking
	archMapVdsoX32    = 0x2001   // ARCH_MAP_VDSO_X32 (asm/prctl.h); _32 and _64 follow
	archMapVdso64     = 0x2003   // ARCH_MAP_VDSO_64
)

// harmlessAdvice is the advice process_madvise may carry through the
// filter: MADV_WILLNEED, MADV_COLD, MADV_PAGEOUT and MADV_COLLAPSE, the
// set kernels before 6.15 accept for any process (mm/madvise.c). None of
// them maps, unmaps or changes what a child inherits. Since 6.15 a
// process may give itself any advice this way, MADV_DONTFORK included,
// and the ranges are in memory, out of the filter's reach: the rest is
// refused with EINVAL, as those kernels refuse it.
var harmlessAdvice = []uint32{3, 20, 21, 25}

// prSetMMBreakOps are the PR_SET_MM operations that move the program
// break or what bounds it: START_DATA, END_DATA, START_BRK, BRK and MAP
// (linux/prctl.h).
var prSetMMBreakOps = []uint32{3, 4, 6, 7, 14}

// Errno values (x86-64 Linux, asm-generic/errno-base.h and errno.h) the
// filter returns with SECCOMP_RET_ERRNO.
const (
	EPERM  = 1
	EBUSY  = 16
	ENODEV = 19
	EINVAL = 22
	ENOSYS = 38
)

var errnoNames = map[uint16]string{EPERM: "EPERM", EBUSY: "EBUSY", ENODEV: "ENODEV", EINVAL: "EINVAL", ENOSYS: "ENOSYS"}

// syscallDef ties a syscall number of one ABI to its class.
type syscallDef struct {
	nr    int32
	class Class
}

// syscalls64 and syscalls32 list every call the filter singles out, each
// number once (the program searches them sorted: see dispatch).
var syscalls64 = []syscallDef{
	{nr64Mmap, Mmap},
	{nr64Munmap, Munmap},
	{nr64Mprotect, Mprotect},
	{nr64Madvise, Madvise},
	{nr64Brk, Brk},
	{nr64Mremap, Mremap},
	{nr64Clone, Clone},
	{nr64Clone3, Clone3},
	{nr64PkeyMprotect, PkeyMprotect},
	{nr64Mlock, Mlock},
	{nr64Mlock2, Mlock2},
	{nr64Munlock, Munlock},
	{nr64Mseal, Mseal},
	{nr64Shmat, Shmat},
	{nr64Shmdt, Shmdt},
	{nr64Prctl, Prctl},
	{nr64ArchPrctl, ArchPrctl},
	{nr64Seccomp, Seccomp},
	{nr64IoUringSetup, IoUringSetup},
	{nr64IoUringEnter, IoUringEnter},
	{nr64IoUringReg, IoUringRegister},
	{nr64ProcMadvise, ProcessMadvise},
	{nr64Uselib, Uselib},
	{nr64Msync, Msync},
	{nr64Mincore, Mincore},
	{nr64Mbind, Mbind},
	{nr64GetMempolicy, GetMempolicy},
	{nr64RemapFile, RemapFilePages},
	{nr64IoDestroy, IoDestroy},
	{nr64IoSetup, IoSetup},
}

var syscalls32 = []syscallDef{
	{nr32Mmap2, Mmap2},
	{nr32Munmap, Munmap},
	{nr32Mprotect, Mprotect},
	{nr32Madvise, Madvise},
	{nr32Brk, Brk},
	{nr32Mremap, Mremap},
	{nr32OldMmap, OldMmap},
	{nr32Clone, Clone},
	{nr32Clone3, Clone3},
	{nr32PkeyMprotect, PkeyMprotect},
	{nr32Mlock, Mlock},
	{nr32Mlock2, Mlock2},
	{nr32Munlock, Munlock},
	{nr32Mseal, Mseal},
	{nr32Shmat, Shmat},
	{nr32Shmdt, Shmdt},
	{nr32Ipc, Ipc},
	{nr32Prctl, Prctl},
	{nr32Seccomp, Seccomp},
	{nr32IoUringSetup, IoUringSetup},
	{nr32IoUringEnter, IoUringEnter},
	{nr32IoUringReg, IoUringRegister},
	{nr32ProcMadvise, ProcessMadvise},
	{nr32Uselib, Uselib},
	{nr32Msync, Msync},
	{nr32Mincore, Mincore},
	{nr32Mbind, Mbind},
	{nr32GetMempolicy, GetMempolicy},
	{nr32RemapFile, RemapFilePages},
	{nr32IoDestroy, IoDestroy},
	{nr32IoSetup, IoSetup},
}

func syscallTable(abi ABI) []syscallDef {
	switch abi {
	case ABI64:
		return syscalls64
	case ABI32:
		return syscalls32
	}
	return nil
}

// ClassOf returns the class of system call nr in the given ABI, and false
// if the filter does not single that call out (it is always allowed).
func ClassOf(abi ABI, nr int32) (Class, bool) {
	for _, d := range syscallTable(abi) {
		if d.nr == nr {
			return d.class, true
		}
	}
	return 0, false
}

// Number returns the system call number of class c in the given ABI, and
// false if the ABI has no such call (Mmap2, OldMmap and Ipc are i386 only).
func (c Class) Number(abi ABI) (int32, bool) {
	for _, d := range syscallTable(abi) {
		if d.class == c {
			return d.nr, true
		}
	}
	return 0, false
}
