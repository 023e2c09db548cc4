package seccomp

import "fmt"

// Actions a seccomp filter can return, in the upper 16 bits of its 32-bit
// result (SECCOMP_RET_* in linux/seccomp.h). The lower 16 bits carry data:
// an errno for RetErrno, a Code for RetTrace.
const (
	RetKillProcess uint32 = 0x80000000 // SECCOMP_RET_KILL_PROCESS
	RetKillThread  uint32 = 0x00000000 // SECCOMP_RET_KILL_THREAD
	RetTrap        uint32 = 0x00030000 // SECCOMP_RET_TRAP
	RetErrno       uint32 = 0x00050000 // SECCOMP_RET_ERRNO
	RetUserNotif   uint32 = 0x7fc00000 // SECCOMP_RET_USER_NOTIF
	RetTrace       uint32 = 0x7ff00000 // SECCOMP_RET_TRACE
	RetLog         uint32 = 0x7ffc0000 // SECCOMP_RET_LOG
	RetAllow       uint32 = 0x7fff0000 // SECCOMP_RET_ALLOW

	RetActionMask uint32 = 0xffff0000 // SECCOMP_RET_ACTION_FULL
	RetDataMask   uint32 = 0x0000ffff // SECCOMP_RET_DATA
)

// DecodeRet splits a filter result into its action (one of the Ret*
// constants) and its 16 bits of data.
func DecodeRet(ret uint32) (action uint32, data uint16) {
	return ret & RetActionMask, uint16(ret & RetDataMask)
}

// ErrnoRet is the filter result that fails a call with errno e.
func ErrnoRet(e uint16) uint32 { return RetErrno | uint32(e) }

// RetString renders a filter result the way Disassemble shows it:
// "ALLOW", "ERRNO(ENOSYS)", "TRACE(mmap/x86_64/fixed-overlap)".
func RetString(ret uint32) string {
	action, data := DecodeRet(ret)
	switch action {
	case RetAllow:
		return plain("ALLOW", data)
	case RetKillProcess:
		return plain("KILL_PROCESS", data)
	case RetKillThread:
		return plain("KILL_THREAD", data)
	case RetTrap:
		return fmt.Sprintf("TRAP(%d)", data)
	case RetLog:
		return plain("LOG", data)
	case RetUserNotif:
		return plain("USER_NOTIF", data)
	case RetErrno:
		if name, ok := errnoNames[data]; ok {
			return "ERRNO(" + name + ")"
		}
		return fmt.Sprintf("ERRNO(%d)", data)
	case RetTrace:
		return "TRACE(" + Code(data).String() + ")"
	}
	return fmt.Sprintf("%#08x", ret)
}

func plain(name string, data uint16) string {
	if data == 0 {
		return name
	}
	return fmt.Sprintf("%s(%#x)", name, data)
}

// Code is the 16-bit datum the filter attaches to SECCOMP_RET_TRACE; the
// tracer reads it with PTRACE_GETEVENTMSG at the seccomp stop. It says
// which call was trapped (Class), through which entry (ABI), and why
// (Reason):
//
//	bits  0-7   Class
//	bits  8-11  Reason
//	bits 12-13  ABI
//	bits 14-15  zero
//
// No valid code is zero: every field of a valid code is non-zero.
type Code uint16

const (
	codeClassMask   = 0x00ff
	codeReasonShift = 8
	codeReasonMask  = 0x0f00
	codeABIShift    = 12
	codeABIMask     = 0x3000
)

// NewCode packs a class, an ABI and a reason into a Code.
func NewCode(c Class, abi ABI, r Reason) Code {
	return Code(uint16(c)&codeClassMask |
		uint16(r)<<codeReasonShift&codeReasonMask |
		uint16(abi)<<codeABIShift&codeABIMask)
}

// Class is the kind of call that was trapped.
func (c Code) Class() Class { return Class(c & codeClassMask) }

// ABI is the system call entry the call came through.
func (c Code) ABI() ABI { return ABI((c & codeABIMask) >> codeABIShift) }

// Reason is why the filter sent the call to the tracer.
func (c Code) Reason() Reason { return Reason((c & codeReasonMask) >> codeReasonShift) }

// Ret is the filter result that sends a call to the tracer with code c.
func (c Code) Ret() uint32 { return RetTrace | uint32(c) }

// Valid reports whether every field of c is one this package defines.
func (c Code) Valid() bool {
	return c&^(codeClassMask|codeReasonMask|codeABIMask) == 0 &&
		c.Class().valid() && c.ABI().valid() && c.Reason().valid()
}

// String renders c as class/abi/reason, e.g. "mmap/x86_64/fixed-overlap".
func (c Code) String() string {
	return c.Class().String() + "/" + c.ABI().String() + "/" + c.Reason().String()
}

// Class names the system call a trapped call belongs to. The same class
// covers a call in both ABIs (munmap is 11 on x86-64 and 91 on i386); the
// i386-only calls have classes of their own.
type Class uint8

// The classes. Clone, Clone3 and the classes from IoUringSetup to Uselib
// never reach the tracer (the filter answers them itself) but are named
// so that logs can say what the filter did.
const (
	Mmap            Class = iota + 1 // mmap (x86-64)
	Mmap2                            // mmap2 (i386; offset in pages)
	OldMmap                          // old_mmap (i386 number 90; arguments in memory)
	Munmap                           // munmap
	Mremap                           // mremap
	Mprotect                         // mprotect
	PkeyMprotect                     // pkey_mprotect
	Madvise                          // madvise
	Brk                              // brk
	Shmat                            // shmat
	Ipc                              // ipc with call SHMAT (i386)
	Mlock                            // mlock
	Mlock2                           // mlock2
	Munlock                          // munlock
	Mseal                            // mseal
	Clone                            // clone
	Clone3                           // clone3
	Shmdt                            // shmdt
	Prctl                            // prctl: PR_SET_MM refused, PR_SET_SECCOMP trapped
	ArchPrctl                        // arch_prctl (x86-64): ARCH_ENABLE_TAGGED_ADDR refused, ARCH_MAP_VDSO_* trapped
	Seccomp                          // seccomp: listeners refused, filters trapped
	IoUringSetup                     // io_uring_setup: refused (ENOSYS)
	IoUringEnter                     // io_uring_enter: refused (ENOSYS)
	IoUringRegister                  // io_uring_register: refused (ENOSYS)
	ProcessMadvise                   // process_madvise: only harmless advice
	Uselib                           // uselib: refused (ENOSYS)
	Msync                            // msync
	Mincore                          // mincore
	Mbind                            // mbind
	GetMempolicy                     // get_mempolicy with MPOL_F_ADDR (its address is args[3])
	RemapFilePages                   // remap_file_pages
	IoDestroy                        // io_destroy: the kernel unmaps the AIO ring with its io_setup size
	IoSetup                          // io_setup: a failure unmaps the new ring wherever it is then
	classEnd
)

var classNames = [...]string{
	Mmap:         "mmap",
	Mmap2:        "mmap2",
	OldMmap:      "old_mmap",
	Munmap:       "munmap",
	Mremap:       "mremap",
	Mprotect:     "mprotect",
	PkeyMprotect: "pkey_mprotect",
	Madvise:      "madvise",
	Brk:          "brk",
	Shmat:        "shmat",
	Ipc:          "ipc",
	Mlock:        "mlock",
	Mlock2:       "mlock2",
	Munlock:      "munlock",
	Mseal:        "mseal",
	Clone:        "clone",
	Clone3:       "clone3",
	Shmdt:        "shmdt",
	Prctl:        "prctl",
	ArchPrctl:    "arch_prctl",
	Seccomp:      "seccomp",

	IoUringSetup:    "io_uring_setup",
	IoUringEnter:    "io_uring_enter",
	IoUringRegister: "io_uring_register",
	ProcessMadvise:  "process_madvise",
	Uselib:          "uselib",
	Msync:           "msync",
	Mincore:         "mincore",
	Mbind:           "mbind",
	GetMempolicy:    "get_mempolicy",
	RemapFilePages:  "remap_file_pages",
	IoDestroy:       "io_destroy",
	IoSetup:         "io_setup",
}

func (c Class) valid() bool { return c != 0 && c < classEnd }

func (c Class) String() string {
	if c.valid() {
		return classNames[c]
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// ABI is the system call entry a call came through: the native x86-64
// one, or the i386 one (int $0x80 and friends, AUDIT_ARCH_I386), which a
// 64-bit process can use too.
type ABI uint8

const (
	ABI64 ABI = 1 // x86-64, AUDIT_ARCH_X86_64
	ABI32 ABI = 2 // i386, AUDIT_ARCH_I386
)

func (a ABI) valid() bool { return a == ABI64 || a == ABI32 }

func (a ABI) String() string {
	switch a {
	case ABI64:
		return "x86_64"
	case ABI32:
		return "i386"
	}
	return fmt.Sprintf("abi(%d)", uint8(a))
}

// Reason says why the filter sent a call to the tracer.
type Reason uint8

const (
	// Always: the call is trapped whatever its arguments (brk; every
	// i386 mapping call; shmat with an address; every mapping call under
	// Policy.TrapAll).
	Always Reason = iota + 1
	// FixedOverlap: an mmap with MAP_FIXED or MAP_FIXED_NOREPLACE whose
	// range overlaps a guarded range.
	FixedOverlap
	// HintInside: an mmap without MAP_FIXED whose non-zero hint address
	// lies inside a protected range.
	HintInside
	// RangeOverlap: the call's range (for mremap, its old range)
	// overlaps a guarded range; an empty range [addr, addr) counts as the
	// address addr (the kernel looks up the mapping there: mremap with
	// old_len 0), and so does get_mempolicy's address args[3].
	RangeOverlap
	// FixedTarget: an mremap with MREMAP_FIXED. Its new range is not
	// checked in the kernel (see the package documentation): the tracer
	// sees every such call.
	FixedTarget
	// NullHint: an mmap without MAP_FIXED under Policy.TrapNullHint
	// whose hint is 0 or whose range overlaps a guarded range.
	NullHint
	// Wrap: addr+len of the call's range overflows 64 bits; such a range
	// is treated as overlapping every guarded range.
	Wrap
	// FileMap: a file-backed mmap without MAP_FIXED from file offset 0,
	// under Policy.TrapFileMaps: the shape of ld.so's first mapping of
	// a shared object, which placement may move.
	FileMap
	// Map32: a 64-bit mmap with MAP_32BIT and no hint, under
	// Policy.TrapMap32.
	Map32
	reasonEnd
)

var reasonNames = [...]string{
	Always:       "always",
	FixedOverlap: "fixed-overlap",
	HintInside:   "hint-inside",
	RangeOverlap: "range-overlap",
	FixedTarget:  "fixed-target",
	NullHint:     "null-hint",
	Wrap:         "wrap",
	FileMap:      "file-map",
	Map32:        "map-32bit",
}

func (r Reason) valid() bool { return r != 0 && r < reasonEnd }

func (r Reason) String() string {
	if r.valid() {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}
