package seccomp

import (
	"errors"
	"math"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// Policies used across the tests.
var (
	lowRange  = region.Range{Start: 0x10000, End: 0x80000000}
	poolRange = region.Range{Start: 0x100000000000, End: 0x200000000000}

	defaultPolicy = Policy{
		Guarded:   []region.Range{lowRange, poolRange},
		Protected: []region.Range{lowRange},
	}
	nullHintPolicy = Policy{
		Guarded:      defaultPolicy.Guarded,
		Protected:    defaultPolicy.Protected,
		TrapNullHint: true,
	}
	trapAllPolicy = Policy{
		Guarded:   defaultPolicy.Guarded,
		Protected: defaultPolicy.Protected,
		TrapAll:   true,
	}
	fileMapPolicy = Policy{
		Guarded:      defaultPolicy.Guarded,
		Protected:    defaultPolicy.Protected,
		TrapFileMaps: true,
	}
	map32Policy = Policy{
		Guarded:   defaultPolicy.Guarded,
		Protected: defaultPolicy.Protected,
		TrapMap32: true,
	}
	zeroStartPolicy = Policy{
		Guarded:   []region.Range{{Start: 0, End: 0x10000}},
		Protected: []region.Range{{Start: 0, End: 0x10000}},
	}
	// Two protected ranges a page apart, and one that ends at the top
	// of user space.
	edgeRanges = []region.Range{
		{Start: 0x10000, End: 0x40000000},
		{Start: 0x40001000, End: 0x80000000},
		{Start: 0x7fff00000000, End: 0x7ffffffff000},
	}
	edgesPolicy = Policy{Guarded: edgeRanges, Protected: edgeRanges}
)

const (
	protRW        = 0x3
	protGrowsDown = 0x01000000 // PROT_GROWSDOWN
	mapPrivate    = 0x02
	mapAnon       = 0x20
	anon          = mapPrivate | mapAnon
	fixed         = anon | mapFixed
	noreplace     = anon | mapFixedNoreplace
	maymove       = 1
	dontunmap     = 4
	msAsync       = 1 // MS_ASYNC
	sigchld       = 17
	threadFlag    = 0x10000 // CLONE_THREAD
	max64         = math.MaxUint64
)

func x64(nr int32, args ...uint64) Data { return data(AuditArchX86_64, nr, args) }
func i32(nr int32, args ...uint64) Data { return data(AuditArchI386, nr, args) }

func data(arch uint32, nr int32, args []uint64) Data {
	d := Data{Nr: nr, Arch: arch, IP: 0x7f0000001234}
	copy(d.Args[:], args)
	return d
}

func tr(c Class, abi ABI, r Reason) uint32 { return NewCode(c, abi, r).Ret() }

var (
	allow  = RetAllow
	kill   = RetKillProcess
	enosys = ErrnoRet(ENOSYS)
	eperm  = ErrnoRet(EPERM)
	ebusy  = ErrnoRet(EBUSY)
	einval = ErrnoRet(EINVAL)
)

type filterCase struct {
	name string
	d    Data
	want uint32
}

// The expected results below are written out by hand from the rules; each
// case is checked against both the generated program (in the VM) and
// Evaluate.
var filterCases = []struct {
	policy string
	p      Policy
	cases  []filterCase
}{
	{"default", defaultPolicy, []filterCase{
		// Huge pages: the kernel rounds the length up, by up to 1 GiB.
		{"mmap fixed MAP_HUGETLB of a page below the range trapped", x64(nr64Mmap, 0, 0x1000, protRW, fixed|mapHugetlb), tr(Mmap, ABI64, FixedOverlap)},
		{"mmap fixed anonymous page below the range allowed", x64(nr64Mmap, 0, 0x1000, protRW, fixed), allow},
		{"mmap fixed file page below the range trapped", x64(nr64Mmap, 0, 0x1000, protRW, mapPrivate|mapFixed, 3, 0), tr(Mmap, ABI64, FixedOverlap)},
		// A file's fixed mapping may be a BPF arena's, which the kernel
		// moves up to the 4 GiB line it crosses: up to 4 GiB further.
		{"mmap fixed file 4 GiB below the range allowed", x64(nr64Mmap, poolRange.Start-0x100000000-0x1000, 0x1000, protRW, mapPrivate|mapFixed, 3, 0), allow},
		{"mmap fixed file just under 4 GiB below the pool trapped", x64(nr64Mmap, poolRange.Start-0x100000000, 0x1000, protRW, mapPrivate|mapFixed, 3, 0), tr(Mmap, ABI64, FixedOverlap)},
		{"mmap fixed file 1 GiB below the pool trapped", x64(nr64Mmap, poolRange.Start-0x40000000-0x1000, 0x1000, protRW, mapPrivate|mapFixed, 3, 0), tr(Mmap, ABI64, FixedOverlap)},
		{"mmap fixed MAP_HUGETLB 1 GiB below the pool allowed", x64(nr64Mmap, poolRange.Start-0x40000000-0x1000, 0x1000, protRW, fixed|mapHugetlb), allow},
		{"mmap fixed file crossing 4 GiB, 3 GiB below the pool, trapped", x64(nr64Mmap, poolRange.Start-0x100000000-0x60000000, 0xc0000000, protRW, mapPrivate|mapFixed, 3, 0), tr(Mmap, ABI64, FixedOverlap)},
		{"mmap fixed file at the top saturates", x64(nr64Mmap, 0xffffffffffff0000, 0x1000, protRW, mapPrivate|mapFixed, 3, 0), allow},
		{"mremap of a page below the range trapped", x64(nr64Mremap, 0, 0x1000, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"mremap far allowed", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x2000, maymove), allow},
		// Architecture and x32.
		{"unknown arch aarch64 is killed", data(0xc00000b7, 172, nil), kill},
		{"arch zero is killed", data(0, 9, nil), kill},
		{"x32 getpid gets ENOSYS", x64(int32(nr64Getpid | X32SyscallBit)), enosys},
		{"x32 mmap gets ENOSYS", x64(int32(nr64Mmap | X32SyscallBit)), enosys},
		{"nr -1 has the x32 bit and gets ENOSYS", x64(-1), enosys},
		{"x86_64 getpid allowed", x64(39), allow},
		{"x86_64 read allowed", x64(0, 0, 0x20000, 100), allow},
		{"x86_64 pread64 is not singled out", x64(17, 3, 0x20000, 0x1000), allow},
		{"i386 getpid allowed", i32(20), allow},

		// mmap without MAP_FIXED.
		{"mmap NULL hint allowed", x64(nr64Mmap, 0, 0x1000, protRW, anon, max64, 0), allow},
		{"mmap hint at protected start", x64(nr64Mmap, 0x10000, 0x1000, protRW, anon), tr(Mmap, ABI64, HintInside)},
		{"mmap hint at last protected page", x64(nr64Mmap, 0x7ffff000, 0x1000, protRW, anon), tr(Mmap, ABI64, HintInside)},
		{"mmap hint at last protected byte", x64(nr64Mmap, 0x7fffffff, 0x1000, protRW, anon), tr(Mmap, ABI64, HintInside)},
		{"mmap hint at protected end allowed", x64(nr64Mmap, 0x80000000, 0x1000, protRW, anon), allow},
		{"mmap hint just below protected allowed", x64(nr64Mmap, 0xffff, 0x100000, protRW, anon), allow},
		{"mmap hint with high word set allowed", x64(nr64Mmap, 0x100010000, 0x1000, protRW, anon), allow},
		{"mmap hint with high bit set allowed", x64(nr64Mmap, 0x8000000000010000, 0x1000, protRW, anon), allow},
		{"mmap hint in pool (guarded, not protected) allowed", x64(nr64Mmap, 0x100000001000, 0x1000, protRW, anon), allow},
		{"mmap MAP_FIXED only in flags high word is not fixed", x64(nr64Mmap, 0x20000, 0x1000, protRW, anon|mapFixed<<32), tr(Mmap, ABI64, HintInside)},
		{"mmap MAP_FIXED only in flags high word, far hint", x64(nr64Mmap, 0x7f0000000000, 0x1000, protRW, anon|mapFixed<<32), allow},

		// mmap with MAP_FIXED or MAP_FIXED_NOREPLACE.
		{"fixed inside protected", x64(nr64Mmap, 0x7fff0000, 0x10000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"noreplace inside protected", x64(nr64Mmap, 0x20000, 0x1000, protRW, noreplace), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed ending exactly at start allowed", x64(nr64Mmap, 0, 0x10000, protRW, fixed), allow},
		{"fixed ending one byte past start", x64(nr64Mmap, 0, 0x10001, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed one page straddling start", x64(nr64Mmap, 0xf000, 0x2000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed starting exactly at end allowed", x64(nr64Mmap, 0x80000000, 0x1000, protRW, fixed), allow},
		{"fixed last page inside", x64(nr64Mmap, 0x7ffff000, 0x1000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed far away allowed", x64(nr64Mmap, 0x7f0000000000, 0x100000, protRW, fixed), allow},
		{"fixed in pool", x64(nr64Mmap, 0x100000001000, 0x1000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed ending exactly at pool start allowed", x64(nr64Mmap, 0xfffffff0000, 0x10000, protRW, fixed), allow},
		{"fixed ending one page into pool", x64(nr64Mmap, 0xfffffff0000, 0x11000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed starting at pool end allowed", x64(nr64Mmap, 0x200000000000, 0x1000, protRW, fixed), allow},
		{"fixed in the gap allowed", x64(nr64Mmap, 0x90000000, 0x1000, protRW, fixed), allow},
		{"fixed from the gap over the pool", x64(nr64Mmap, 0x90000000, 0x7f0000000000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed zero length in the gap allowed", x64(nr64Mmap, 0x90000000, 0, protRW, fixed), allow},
		{"fixed zero length inside", x64(nr64Mmap, 0x20000, 0, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed zero length at start: its address is inside", x64(nr64Mmap, 0x10000, 0, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed zero length at end allowed", x64(nr64Mmap, 0x80000000, 0, protRW, fixed), allow},
		{"fixed huge length from zero", x64(nr64Mmap, 0, 1<<63, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed low word looks inside, high word far", x64(nr64Mmap, 0x100010000, 0x1000, protRW, fixed), allow},
		{"fixed carry into high word stays in the gap", x64(nr64Mmap, 0xfffff000, 0x1000, protRW, fixed), allow},
		{"fixed carry into high word reaches the pool", x64(nr64Mmap, 0xfffff000, 0x100000000000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed end is 2^64-1, no wrap, above all ranges", x64(nr64Mmap, 0xffffffff00000000, 0xffffffff, protRW, fixed), allow},
		{"fixed wrap through the high word", x64(nr64Mmap, 0xfffffffffffff000, 0x2000, protRW, fixed), tr(Mmap, ABI64, Wrap)},
		{"fixed wrap by a carry only", x64(nr64Mmap, max64, 1, protRW, fixed), tr(Mmap, ABI64, Wrap)},
		{"fixed wrap with len.hi all ones and a carry", x64(nr64Mmap, 1, max64, protRW, fixed), tr(Mmap, ABI64, Wrap)},
		{"fixed wrap from a low address", x64(nr64Mmap, 0x1000, max64-0xfff+1, protRW, fixed), tr(Mmap, ABI64, Wrap)},

		// munmap and the other range calls.
		{"munmap inside", x64(nr64Munmap, 0x20000, 0x1000), tr(Munmap, ABI64, RangeOverlap)},
		{"munmap far away allowed", x64(nr64Munmap, 0x7f0000000000, 0x1000), allow},
		{"munmap ending at start allowed", x64(nr64Munmap, 0xf000, 0x1000), allow},
		{"munmap straddling end", x64(nr64Munmap, 0x7ffff000, 0x2000), tr(Munmap, ABI64, RangeOverlap)},
		{"munmap wrap", x64(nr64Munmap, 0x7f0000000000, max64), tr(Munmap, ABI64, Wrap)},
		{"mprotect inside", x64(nr64Mprotect, 0x20000, 0x1000, 1), tr(Mprotect, ABI64, RangeOverlap)},
		{"mprotect far allowed", x64(nr64Mprotect, 0x7f0000000000, 0x1000, 1), allow},
		// PROT_GROWSDOWN moves the start down to the start of the
		// growsdown mapping at addr: the program's own (a reservation
		// is never one), so the range from addr is what counts.
		{"mprotect PROT_GROWSDOWN at the range's end allowed", x64(nr64Mprotect, 0x80000000, 0x1000, 1|protGrowsDown), allow},
		{"mprotect PROT_GROWSDOWN of the last page inside trapped", x64(nr64Mprotect, 0x7ffff000, 0x1000, 1|protGrowsDown), tr(Mprotect, ABI64, RangeOverlap)},
		{"pkey_mprotect inside pool", x64(nr64PkeyMprotect, 0x100000000000, 0x1000, 1, 0), tr(PkeyMprotect, ABI64, RangeOverlap)},
		{"pkey_mprotect far allowed", x64(nr64PkeyMprotect, 0x7f0000000000, 0x1000, 1, 0), allow},
		{"madvise inside", x64(nr64Madvise, 0x20000, 0x1000, 4), tr(Madvise, ABI64, RangeOverlap)},
		{"madvise far allowed", x64(nr64Madvise, 0xc000000000, 0x400000, 4), allow},
		{"mlock inside", x64(nr64Mlock, 0x20000, 0x1000), tr(Mlock, ABI64, RangeOverlap)},
		{"mlock far allowed", x64(nr64Mlock, 0x7f0000000000, 0x1000), allow},
		// mlock rounds the start down and the end up: with page-aligned
		// ranges that overlaps exactly where [addr, addr+len) does.
		{"mlock of the last byte below the range allowed", x64(nr64Mlock, 0xffff, 1), allow},
		{"mlock of two bytes across the range's start trapped", x64(nr64Mlock, 0xffff, 2), tr(Mlock, ABI64, RangeOverlap)},
		{"mlock length 0 at the last byte below allowed", x64(nr64Mlock, 0xffff, 0), allow},
		{"mlock length 0 a byte inside trapped", x64(nr64Mlock, 0x10001, 0), tr(Mlock, ABI64, RangeOverlap)},
		{"mlock2 inside", x64(nr64Mlock2, 0x20000, 0x1000, 1), tr(Mlock2, ABI64, RangeOverlap)},
		{"mlock2 far allowed", x64(nr64Mlock2, 0x7f0000000000, 0x1000, 1), allow},
		{"munlock inside", x64(nr64Munlock, 0x20000, 0x1000), tr(Munlock, ABI64, RangeOverlap)},
		{"munlock far allowed", x64(nr64Munlock, 0x7f0000000000, 0x1000), allow},
		{"mseal inside pool", x64(nr64Mseal, 0x1fffffff0000, 0x10000, 0), tr(Mseal, ABI64, RangeOverlap)},
		{"mseal far allowed", x64(nr64Mseal, 0x7f0000000000, 0x1000, 0), allow},
		{"msync inside", x64(nr64Msync, 0x50000000, 0x1000, msAsync), tr(Msync, ABI64, RangeOverlap)},
		{"msync straddling start", x64(nr64Msync, 0xf000, 0x2000, msAsync), tr(Msync, ABI64, RangeOverlap)},
		{"msync far allowed", x64(nr64Msync, 0x7f0000000000, 0x1000, msAsync), allow},
		{"msync ending at start allowed", x64(nr64Msync, 0xf000, 0x1000, msAsync), allow},
		{"mincore inside", x64(nr64Mincore, 0x50000000, 0x1000, 0x7f0000001000), tr(Mincore, ABI64, RangeOverlap)},
		{"mincore in the pool", x64(nr64Mincore, 0x100000000000, 0x1000, 0x7f0000001000), tr(Mincore, ABI64, RangeOverlap)},
		{"mincore far allowed", x64(nr64Mincore, 0x7f0000000000, 0x1000, 0x7f0000001000), allow},
		{"mbind inside", x64(nr64Mbind, 0x50000000, 0x1000, 2, 0x7f0000001000, 64, 0), tr(Mbind, ABI64, RangeOverlap)},
		{"mbind far allowed", x64(nr64Mbind, 0x7f0000000000, 0x1000, 2, 0x7f0000001000, 64, 0), allow},
		{"mbind wrap", x64(nr64Mbind, 0x7f0000000000, max64, 2), tr(Mbind, ABI64, Wrap)},
		{"remap_file_pages inside", x64(nr64RemapFile, 0x50000000, 0x2000, 0, 1, 0), tr(RemapFilePages, ABI64, RangeOverlap)},
		{"remap_file_pages straddling end", x64(nr64RemapFile, 0x7ffff000, 0x2000, 0, 1, 0), tr(RemapFilePages, ABI64, RangeOverlap)},
		{"remap_file_pages in the pool", x64(nr64RemapFile, 0x100000000000, 0x1000, 0, 1, 0), tr(RemapFilePages, ABI64, RangeOverlap)},
		{"remap_file_pages far allowed", x64(nr64RemapFile, 0x7f0000000000, 0x1000, 0, 1, 0), allow},
		{"remap_file_pages from mid-page below across the start trapped (the kernel rounds both down: conservative)", x64(nr64RemapFile, 0xf800, 0x1000, 0, 1, 0), tr(RemapFilePages, ABI64, RangeOverlap)},
		{"io_destroy just below the range", x64(nr64IoDestroy, 0xf000), tr(IoDestroy, ABI64, RangeOverlap)},
		{"io_destroy less than 1 GiB below the pool", x64(nr64IoDestroy, 0xfffc0001000), tr(IoDestroy, ABI64, RangeOverlap)},
		{"io_destroy, a large second argument", x64(nr64IoDestroy, 0x7f0000000000, max64), tr(IoDestroy, ABI64, Wrap)},
		{"io_destroy far allowed", x64(nr64IoDestroy, 0x7f0000000000), allow},
		{"io_destroy 1 GiB below the pool allowed", x64(nr64IoDestroy, 0xfffc0000000), allow},
		{"io_setup", x64(nr64IoSetup, 4096, 0x7f0000000000), tr(IoSetup, ABI64, Always)},
		{"i386 io_setup", i32(nr32IoSetup, 4096, 0x90000000), tr(IoSetup, ABI32, Always)},
		{"arch_prctl ARCH_ENABLE_TAGGED_ADDR refused", x64(nr64ArchPrctl, 0x4002, 6), ErrnoRet(taggedAddrErrno())},
		{"arch_prctl ARCH_ENABLE_TAGGED_ADDR, high word ignored", x64(nr64ArchPrctl, 1<<32|0x4002, 6), ErrnoRet(taggedAddrErrno())},
		{"arch_prctl ARCH_SET_FS allowed", x64(nr64ArchPrctl, 0x1002, 0x7f0000001000), allow},
		{"arch_prctl ARCH_MAP_VDSO_X32 traced", x64(nr64ArchPrctl, 0x2001, 0x7f0000001000), tr(ArchPrctl, ABI64, Always)},
		{"arch_prctl ARCH_MAP_VDSO_32 traced", x64(nr64ArchPrctl, 0x2002, 0x50000000), tr(ArchPrctl, ABI64, Always)},
		{"arch_prctl ARCH_MAP_VDSO_64 traced, high word ignored", x64(nr64ArchPrctl, 1<<32|0x2003, 0), tr(ArchPrctl, ABI64, Always)},
		{"arch_prctl 0x2000 allowed", x64(nr64ArchPrctl, 0x2000, 0x50000000), allow},
		{"arch_prctl 0x2004 allowed", x64(nr64ArchPrctl, 0x2004, 0x50000000), allow},
		{"i386 arch_prctl allowed", i32(384, 0x4002, 6), allow},
		{"i386 arch_prctl ARCH_MAP_VDSO_32 allowed (the i386 entry has no vDSO operations)", i32(384, 0x2002, 0x20000), allow},

		// Calls the filter does not list, aimed inside: none maps,
		// unmaps or moves anything there.
		{"set_mempolicy_home_node inside allowed (a reservation has no policy to change)", x64(450, 0x20000, 0x1000, 0, 0), allow},
		{"i386 set_mempolicy_home_node inside allowed", i32(450, 0xdead000000020000, 0x1000, 0, 0), allow},
		{"map_shadow_stack inside allowed (MAP_FIXED_NOREPLACE, and never below 4 GiB)", x64(453, 0x20000, 0x1000, 0), allow},
		{"i386 number 453 allowed (no map_shadow_stack there)", i32(453, 0x20000, 0x1000, 0), allow},
		{"mlockall allowed", x64(151, 3), allow},
		{"userfaultfd allowed (its ioctls are out of sight; they move no mapping)", x64(323, 0), allow},

		// An empty range stands for its address: mremap with old_len 0
		// looks up the mapping there.
		{"mremap old_len 0 at protected start", x64(nr64Mremap, 0x10000, 0, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"mremap old_len 0 inside", x64(nr64Mremap, 0x50000000, 0, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"mremap old_len 0 at pool start", x64(nr64Mremap, 0x100000000000, 0, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"mremap old_len 0 at protected end allowed", x64(nr64Mremap, 0x80000000, 0, 0x1000, maymove), allow},
		{"mremap old_len 0 just below trapped (a huge mapping's old range may reach 1 GiB further)", x64(nr64Mremap, 0xf000, 0, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"mremap old_len 0 far allowed", x64(nr64Mremap, 0x7f0000000000, 0, 0x1000, maymove), allow},
		{"mremap old_len 0 at the last protected byte", x64(nr64Mremap, 0x7fffffff, 0, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"mremap old_len 0, address high word set, allowed", x64(nr64Mremap, 0x100010000, 0, 0x1000, maymove), allow},
		{"mremap old_len only in the high word is no empty range", x64(nr64Mremap, 0xf000, 1<<32, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"munmap zero length at start", x64(nr64Munmap, 0x10000, 0), tr(Munmap, ABI64, RangeOverlap)},

		// get_mempolicy with MPOL_F_ADDR looks up the mapping at args[3].
		{"get_mempolicy MPOL_F_ADDR inside", x64(nr64GetMempolicy, 0x7f0000001000, 0, 0, 0x50000000, mpolFAddr), tr(GetMempolicy, ABI64, RangeOverlap)},
		{"get_mempolicy MPOL_F_ADDR at protected start", x64(nr64GetMempolicy, 0, 0, 0, 0x10000, mpolFAddr), tr(GetMempolicy, ABI64, RangeOverlap)},
		{"get_mempolicy MPOL_F_ADDR at the last protected byte", x64(nr64GetMempolicy, 0, 0, 0, 0x7fffffff, mpolFAddr), tr(GetMempolicy, ABI64, RangeOverlap)},
		{"get_mempolicy MPOL_F_ADDR|MPOL_F_NODE in the pool", x64(nr64GetMempolicy, 0, 0, 0, 0x1fffffffffff, mpolFAddr|1), tr(GetMempolicy, ABI64, RangeOverlap)},
		{"get_mempolicy MPOL_F_ADDR at protected end allowed", x64(nr64GetMempolicy, 0, 0, 0, 0x80000000, mpolFAddr), allow},
		{"get_mempolicy MPOL_F_ADDR just below allowed", x64(nr64GetMempolicy, 0, 0, 0, 0xffff, mpolFAddr), allow},
		{"get_mempolicy MPOL_F_ADDR far allowed", x64(nr64GetMempolicy, 0, 0, 0, 0x7f0000000000, mpolFAddr), allow},
		{"get_mempolicy MPOL_F_ADDR, address high word set, allowed", x64(nr64GetMempolicy, 0, 0, 0, 0x150000000, mpolFAddr), allow},
		{"get_mempolicy MPOL_F_ADDR, address -1, allowed", x64(nr64GetMempolicy, 0, 0, 0, max64, mpolFAddr), allow},
		{"get_mempolicy without MPOL_F_ADDR allowed", x64(nr64GetMempolicy, 0x7f0000001000, 0, 0, 0x50000000, 0), allow},
		{"get_mempolicy MPOL_F_ADDR only in the high word allowed", x64(nr64GetMempolicy, 0, 0, 0, 0x50000000, mpolFAddr<<32), allow},
		{"get_mempolicy MPOL_F_ADDR with a length-like args[1] inside", x64(nr64GetMempolicy, 0, 0x1000, 0, 0x20000, mpolFAddr), tr(GetMempolicy, ABI64, RangeOverlap)},

		// mremap.
		{"mremap old range inside", x64(nr64Mremap, 0x20000, 0x1000, 0x2000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"mremap far, no flags allowed", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x2000, 0), allow},
		{"mremap far, MAYMOVE allowed", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x2000, maymove), allow},
		{"mremap far, MAYMOVE|DONTUNMAP allowed", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x1000, maymove|dontunmap), allow},
		// Without MREMAP_FIXED, new_addr is a hint (MREMAP_DONTUNMAP
		// passes it to get_unmapped_area), which the kernel takes only
		// where nothing is mapped: every free page of a guarded range
		// is reserved.
		{"mremap far, MAYMOVE|DONTUNMAP, new address inside, allowed", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x1000, maymove|dontunmap, 0x20000), allow},
		{"mremap far, MAYMOVE|DONTUNMAP, new address reaching in from below, allowed", x64(nr64Mremap, 0x7f0000000000, 0x4000, 0x4000, maymove|dontunmap, 0xf000), allow},
		{"mremap far, DONTUNMAP|FIXED trapped", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x1000, maymove|dontunmap|mremapFixed, 0x7e0000000000), tr(Mremap, ABI64, FixedTarget)},
		// Growing in place needs the pages after the mapping free: a
		// reservation stops it, however far below it starts.
		{"mremap growing in place into the pool from 1 GiB below allowed", x64(nr64Mremap, poolRange.Start-0x40000000-0x1000, 0x1000, 0x80001000, 0), allow},
		{"mremap old range ending a byte less than 1 GiB below the pool trapped", x64(nr64Mremap, poolRange.Start-0x40000000-0x1000, 0x1001, 0x1000, 0), tr(Mremap, ABI64, RangeOverlap)},
		{"mremap MREMAP_FIXED into protected", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x1000, maymove|mremapFixed, 0x20000), tr(Mremap, ABI64, FixedTarget)},
		{"mremap MREMAP_FIXED far is still trapped", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x1000, maymove|mremapFixed, 0x7e0000000000), tr(Mremap, ABI64, FixedTarget)},
		{"mremap MREMAP_FIXED only in flags high word", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x1000, mremapFixed<<32, 0x20000), allow},

		// brk, shmat, clone, clone3.
		{"brk settled in the kernel", x64(nr64Brk, 0x7fff0000), allow},
		{"shmat with NULL address allowed", x64(nr64Shmat, 3, 0, 0), allow},
		{"shmat with an address", x64(nr64Shmat, 3, 0x7f0000000000, 0), tr(Shmat, ABI64, Always)},
		{"shmat with only a high address word", x64(nr64Shmat, 3, 0x100000000, 0), tr(Shmat, ABI64, Always)},
		{"clone fork-like allowed", x64(nr64Clone, sigchld), allow},
		{"clone pthread flags allowed", x64(nr64Clone, 0x3d0f00), allow},
		{"clone CLONE_UNTRACED denied", x64(nr64Clone, cloneUntraced|sigchld), eperm},
		{"clone CLONE_UNTRACED only in the high word allowed", x64(nr64Clone, cloneUntraced<<32|sigchld), allow},
		{"clone3 gets ENOSYS", x64(nr64Clone3, 0x7f0000001000, 88), enosys},
		{"io_uring_setup gets ENOSYS", x64(nr64IoUringSetup, 8, 0x7f0000001000), enosys},
		{"io_uring_enter gets ENOSYS", x64(nr64IoUringEnter, 3, 1, 1, 1), enosys},
		{"io_uring_register gets ENOSYS", x64(nr64IoUringReg, 3, 8, 0, 0), enosys},
		{"uselib gets ENOSYS", x64(nr64Uselib, 0x7f0000001000), enosys},
		{"process_madvise MADV_DONTFORK refused", x64(nr64ProcMadvise, 3, 0x7f0000001000, 1, 10, 0), einval},
		{"process_madvise MADV_DONTNEED refused", x64(nr64ProcMadvise, 3, 0x7f0000001000, 1, 4, 0), einval},
		{"process_madvise MADV_COLD hidden in the high word refused", x64(nr64ProcMadvise, 3, 0x7f0000001000, 1, 20<<32, 0), einval},
		{"process_madvise MADV_COLD allowed", x64(nr64ProcMadvise, 3, 0x7f0000001000, 1, 20, 0), allow},
		{"process_madvise MADV_PAGEOUT with junk in the high word allowed", x64(nr64ProcMadvise, 3, 0x7f0000001000, 1, 0xdead<<32|21, 0), allow},
		{"process_madvise MADV_WILLNEED allowed", x64(nr64ProcMadvise, 3, 0x7f0000001000, 1, 3, 0), allow},
		{"process_madvise MADV_COLLAPSE allowed", x64(nr64ProcMadvise, 3, 0x7f0000001000, 1, 25, 0), allow},

		// i386: every mapping call is trapped, whatever the arguments.
		{"i386 mmap2 NULL", i32(nr32Mmap2, 0, 0x1000, protRW, anon, max64, 0), tr(Mmap2, ABI32, Always)},
		{"i386 mmap2 with high words set", i32(nr32Mmap2, 0xffffffff00000000, 0xffffffff00001000, 3, 0xffffffff00000022), tr(Mmap2, ABI32, Always)},
		{"i386 old mmap", i32(nr32OldMmap, 0xffffd000), tr(OldMmap, ABI32, Always)},
		{"i386 munmap far", i32(nr32Munmap, 0xf7000000, 0x1000), tr(Munmap, ABI32, Always)},
		{"i386 munmap hiding an address in the upper half", i32(nr32Munmap, 0x7f0000020000, 0x1000), tr(Munmap, ABI32, Always)},
		{"i386 mremap", i32(nr32Mremap, 0xf7000000, 0x1000, 0x2000, maymove), tr(Mremap, ABI32, Always)},
		{"i386 mprotect", i32(nr32Mprotect, 0xf7000000, 0x1000, 1), tr(Mprotect, ABI32, Always)},
		{"i386 pkey_mprotect", i32(nr32PkeyMprotect, 0xf7000000, 0x1000, 1, 0), tr(PkeyMprotect, ABI32, Always)},
		{"i386 madvise", i32(nr32Madvise, 0xf7000000, 0x1000, 4), tr(Madvise, ABI32, Always)},
		{"i386 brk", i32(nr32Brk, 0), tr(Brk, ABI32, Always)},
		{"i386 shmat with NULL address", i32(nr32Shmat, 3, 0, 0), tr(Shmat, ABI32, Always)},
		{"i386 mlock", i32(nr32Mlock, 0xf7000000, 0x1000), tr(Mlock, ABI32, Always)},
		{"i386 munlock", i32(nr32Munlock, 0xf7000000, 0x1000), tr(Munlock, ABI32, Always)},
		{"i386 mlock2", i32(nr32Mlock2, 0xf7000000, 0x1000, 0), tr(Mlock2, ABI32, Always)},
		{"i386 mseal", i32(nr32Mseal, 0xf7000000, 0x1000, 0), tr(Mseal, ABI32, Always)},
		{"i386 msync", i32(nr32Msync, 0xf7000000, 0x1000, msAsync), tr(Msync, ABI32, Always)},
		{"i386 mincore", i32(nr32Mincore, 0xf7000000, 0x1000, 0xffffd000), tr(Mincore, ABI32, Always)},
		{"i386 mbind", i32(nr32Mbind, 0xf7000000, 0x1000, 0), tr(Mbind, ABI32, Always)},
		{"i386 remap_file_pages", i32(nr32RemapFile, 0xf7000000, 0x1000, 0, 1, 0), tr(RemapFilePages, ABI32, Always)},
		{"i386 get_mempolicy without MPOL_F_ADDR", i32(nr32GetMempolicy, 0xffffd000, 0, 0, 0, 0), tr(GetMempolicy, ABI32, Always)},
		{"i386 ipc SHMAT", i32(nr32Ipc, ipcShmat, 3, 0, 0, 0x20000), tr(Ipc, ABI32, Always)},
		{"i386 ipc SHMAT with version 2", i32(nr32Ipc, 2<<16|ipcShmat, 3), tr(Ipc, ABI32, Always)},
		{"i386 ipc SHMAT with junk in the high word", i32(nr32Ipc, 0xdead000000000000|ipcShmat, 3), tr(Ipc, ABI32, Always)},
		{"i386 ipc SHMAT only in the high word allowed", i32(nr32Ipc, ipcShmat<<32, 3), allow},
		{"i386 ipc SHMDT trapped", i32(nr32Ipc, 22, 0, 0, 0, 0x20000), tr(Ipc, ABI32, Always)},
		{"prctl PR_SET_MM_MAP refused", x64(nr64Prctl, 35, 14), eperm},
		{"prctl PR_SET_MM_BRK refused", x64(nr64Prctl, 35, 7), eperm},
		{"prctl PR_SET_MM_START_BRK refused", x64(nr64Prctl, 35, 6), eperm},
		{"prctl PR_SET_MM_ARG_START allowed", x64(nr64Prctl, 35, 8), allow},
		{"prctl PR_SET_SECCOMP trapped", x64(nr64Prctl, 22, 2), tr(Prctl, ABI64, Always)},
		{"prctl PR_SET_NAME allowed", x64(nr64Prctl, 15), allow},
		{"i386 prctl PR_SET_MM_MAP refused", i32(nr32Prctl, 35, 14), eperm},
		{"i386 prctl PR_SET_MM_EXE_FILE allowed", i32(nr32Prctl, 35, 13), allow},
		{"seccomp listener refused", x64(nr64Seccomp, 1, 8), ebusy},
		{"seccomp filter trapped", x64(nr64Seccomp, 1, 0), tr(Seccomp, ABI64, Always)},
		{"seccomp get-action allowed", x64(nr64Seccomp, 2, 0), allow},
		{"i386 seccomp listener refused", i32(nr32Seccomp, 1, 8), ebusy},
		{"shmdt trapped", x64(nr64Shmdt, 0x7f0000000000), tr(Shmdt, ABI64, Always)},
		{"i386 clone allowed", i32(nr32Clone, sigchld), allow},
		{"i386 clone CLONE_UNTRACED denied", i32(nr32Clone, cloneUntraced|sigchld), eperm},
		{"i386 clone CLONE_UNTRACED only in the high word allowed", i32(nr32Clone, cloneUntraced<<32|sigchld), allow},
		{"i386 clone3 gets ENOSYS", i32(nr32Clone3, 0xffffd000, 88), enosys},
		{"i386 io_uring_setup gets ENOSYS", i32(nr32IoUringSetup, 8, 0xffffd000), enosys},
		{"i386 io_uring_enter gets ENOSYS", i32(nr32IoUringEnter, 3, 1, 1, 1), enosys},
		{"i386 io_uring_register gets ENOSYS", i32(nr32IoUringReg, 3, 8, 0, 0), enosys},
		{"i386 uselib gets ENOSYS", i32(nr32Uselib, 0xffffd000), enosys},
		{"i386 process_madvise MADV_WIPEONFORK refused", i32(nr32ProcMadvise, 3, 0xffffd000, 1, 18, 0), einval},
		{"i386 process_madvise MADV_PAGEOUT allowed", i32(nr32ProcMadvise, 3, 0xffffd000, 1, 21, 0), allow},
		{"i386 number 9 (link) is not mmap", i32(9, 0x20000, 0x1000, 3, fixed), allow},
		{"i386 number 11 (execve) is not munmap", i32(11, 0x20000, 0x1000), allow},
		{"i386 number 56 (mpx) is not clone", i32(56, cloneUntraced), allow},
		{"x86_64 number 192 (lgetxattr) is not mmap2", x64(192, 0x20000), allow},
		{"x86_64 number 117 (setresuid) is not ipc", x64(117, ipcShmat), allow},
	}},
	{"null hint", nullHintPolicy, []filterCase{
		{"mmap NULL hint trapped", x64(nr64Mmap, 0, 0x1000, protRW, anon), tr(Mmap, ABI64, NullHint)},
		{"mmap hint inside trapped as null-hint", x64(nr64Mmap, 0x20000, 0x1000, protRW, anon), tr(Mmap, ABI64, NullHint)},
		{"mmap far hint allowed", x64(nr64Mmap, 0x7f0000000000, 0x1000, protRW, anon), allow},
		{"mmap hint in the pool trapped", x64(nr64Mmap, poolRange.Start+0x1000, 0x1000, protRW, anon), tr(Mmap, ABI64, NullHint)},
		{"mmap hint below reaching into the range trapped", x64(nr64Mmap, 0x8000, 0x10000, protRW, anon), tr(Mmap, ABI64, NullHint)},
		{"mmap hint below ending at the range allowed", x64(nr64Mmap, 0x8000, 0x8000, protRW, anon), allow},
		{"mmap hint high word only trapped if it overlaps", x64(nr64Mmap, 1<<32, 0x1000, protRW, anon), allow},
		{"mmap hint wrapping trapped", x64(nr64Mmap, max64&^0xfff, 0x2000, protRW, anon), tr(Mmap, ABI64, Wrap)},
		{"mmap fixed inside", x64(nr64Mmap, 0x20000, 0x1000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"mmap fixed far allowed", x64(nr64Mmap, 0x7f0000000000, 0x1000, protRW, fixed), allow},
		{"munmap far allowed", x64(nr64Munmap, 0x7f0000000000, 0x1000), allow},
		{"shmat NULL allowed", x64(nr64Shmat, 3, 0, 0), allow},
	}},
	{"trap all", trapAllPolicy, []filterCase{
		{"mmap NULL", x64(nr64Mmap, 0, 0x1000, protRW, anon), tr(Mmap, ABI64, Always)},
		{"mmap fixed far", x64(nr64Mmap, 0x7f0000000000, 0x1000, protRW, fixed), tr(Mmap, ABI64, Always)},
		{"munmap far", x64(nr64Munmap, 0x7f0000000000, 0x1000), tr(Munmap, ABI64, Always)},
		{"munmap wrap", x64(nr64Munmap, max64, 2), tr(Munmap, ABI64, Always)},
		{"mremap far", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x2000, maymove), tr(Mremap, ABI64, Always)},
		{"mremap fixed", x64(nr64Mremap, 0x7f0000000000, 0x1000, 0x2000, maymove|mremapFixed, 0x20000), tr(Mremap, ABI64, Always)},
		{"mprotect far", x64(nr64Mprotect, 0x7f0000000000, 0x1000, 1), tr(Mprotect, ABI64, Always)},
		{"pkey_mprotect far", x64(nr64PkeyMprotect, 0x7f0000000000, 0x1000, 1), tr(PkeyMprotect, ABI64, Always)},
		{"madvise far", x64(nr64Madvise, 0x7f0000000000, 0x1000, 4), tr(Madvise, ABI64, Always)},
		{"mlock far", x64(nr64Mlock, 0x7f0000000000, 0x1000), tr(Mlock, ABI64, Always)},
		{"mlock2 far", x64(nr64Mlock2, 0x7f0000000000, 0x1000), tr(Mlock2, ABI64, Always)},
		{"munlock far", x64(nr64Munlock, 0x7f0000000000, 0x1000), tr(Munlock, ABI64, Always)},
		{"mseal far", x64(nr64Mseal, 0x7f0000000000, 0x1000), tr(Mseal, ABI64, Always)},
		{"msync far", x64(nr64Msync, 0x7f0000000000, 0x1000), tr(Msync, ABI64, Always)},
		{"mincore far", x64(nr64Mincore, 0x7f0000000000, 0x1000), tr(Mincore, ABI64, Always)},
		{"mbind far", x64(nr64Mbind, 0x7f0000000000, 0x1000), tr(Mbind, ABI64, Always)},
		{"get_mempolicy without MPOL_F_ADDR", x64(nr64GetMempolicy, 0x7f0000001000), tr(GetMempolicy, ABI64, Always)},
		{"shmat NULL", x64(nr64Shmat, 3, 0, 0), tr(Shmat, ABI64, Always)},
		{"brk", x64(nr64Brk, 0), tr(Brk, ABI64, Always)},
		{"clone allowed", x64(nr64Clone, sigchld), allow},
		{"clone CLONE_UNTRACED denied", x64(nr64Clone, cloneUntraced|sigchld), eperm},
		{"clone3 ENOSYS", x64(nr64Clone3), enosys},
		{"io_uring_enter ENOSYS", x64(nr64IoUringEnter), enosys},
		{"getpid allowed", x64(39), allow},
		{"x32 ENOSYS", x64(int32(nr64Mmap | X32SyscallBit)), enosys},
		{"i386 mmap2", i32(nr32Mmap2), tr(Mmap2, ABI32, Always)},
		{"i386 ipc SHMDT trapped", i32(nr32Ipc, 22), tr(Ipc, ABI32, Always)},
	}},
	{"file maps", fileMapPolicy, []filterCase{
		{"file mmap at offset 0 trapped", x64(nr64Mmap, 0, 0x5000, 1, mapPrivate, 3, 0), tr(Mmap, ABI64, FileMap)},
		{"file mmap at offset 0 with a hint trapped", x64(nr64Mmap, 0x7d000000, 0x5000, 1, mapPrivate, 3, 0), tr(Mmap, ABI64, FileMap)},
		{"file mmap at another offset allowed", x64(nr64Mmap, 0, 0x5000, 1, mapPrivate, 3, 0x1000), allow},
		{"file mmap, offset only in the high word, allowed", x64(nr64Mmap, 0, 0x5000, 1, mapPrivate, 3, 1<<32), allow},
		{"anonymous mmap allowed", x64(nr64Mmap, 0, 0x5000, 3, anon, 0, 0), allow},
		{"anonymous PROT_NONE mmap trapped", x64(nr64Mmap, 0, 0x400000, 0, anon, ^uint64(0), 0), tr(Mmap, ABI64, FileMap)},
		{"anonymous mmap, PROT_NONE only in the high word, allowed", x64(nr64Mmap, 0, 0x400000, 1<<32|1, anon, ^uint64(0), 0), allow},
		{"anonymous hint inside still trapped", x64(nr64Mmap, 0x20000, 0x1000, 3, anon, ^uint64(0), 0), tr(Mmap, ABI64, HintInside)},
		{"fixed file segment far away trapped", x64(nr64Mmap, 0x7f0000000000, 0x1000, 5, mapPrivate|mapFixed, 3, 0x2000), tr(Mmap, ABI64, FileMap)},
		{"fixed anonymous far away allowed", x64(nr64Mmap, 0x7f0000000000, 0x1000, 3, fixed, ^uint64(0), 0), allow},
	}},
	{"MAP_32BIT", map32Policy, []filterCase{
		{"MAP_32BIT without a hint trapped", x64(nr64Mmap, 0, 0x1000, protRW, anon|map32Bit, ^uint64(0), 0), tr(Mmap, ABI64, Map32)},
		{"MAP_32BIT file mapping without a hint trapped", x64(nr64Mmap, 0, 0x1000, protRW, mapPrivate|map32Bit, 3, 0), tr(Mmap, ABI64, Map32)},
		{"MAP_32BIT only in the high word allowed", x64(nr64Mmap, 0, 0x1000, protRW, anon|map32Bit<<32, ^uint64(0), 0), allow},
		{"MAP_32BIT hint above 4 GiB (low word 0) allowed", x64(nr64Mmap, 0x100000000, 0x1000, protRW, anon|map32Bit, ^uint64(0), 0), allow},
		{"MAP_32BIT hint inside trapped as a hint", x64(nr64Mmap, 0x50000000, 0x1000, protRW, anon|map32Bit, ^uint64(0), 0), tr(Mmap, ABI64, HintInside)},
		{"MAP_32BIT fixed far away allowed", x64(nr64Mmap, 0x7f0000000000, 0x1000, protRW, fixed|map32Bit, ^uint64(0), 0), allow},
		{"plain mmap without a hint allowed", x64(nr64Mmap, 0, 0x1000, protRW, anon), allow},
		{"i386 mmap2 trapped as always", i32(nr32Mmap2, 0, 0x1000, protRW, anon|map32Bit), tr(Mmap2, ABI32, Always)},
	}},
	{"empty", Policy{}, []filterCase{
		{"mmap fixed anywhere allowed", x64(nr64Mmap, 0x20000, 0x1000, protRW, fixed), allow},
		{"mmap hint anywhere allowed", x64(nr64Mmap, 0x20000, 0x1000, protRW, anon), allow},
		{"munmap allowed", x64(nr64Munmap, 0x20000, 0x1000), allow},
		{"munmap wrap allowed: nothing to guard", x64(nr64Munmap, max64, 2), allow},
		{"mremap fixed allowed: nothing to guard", x64(nr64Mremap, 0x20000, 0x1000, 0x1000, maymove|mremapFixed, 0x30000), allow},
		{"msync allowed", x64(nr64Msync, 0x20000, 0x1000, msAsync), allow},
		{"get_mempolicy MPOL_F_ADDR allowed: nothing to guard", x64(nr64GetMempolicy, 0, 0, 0, 0x20000, mpolFAddr), allow},
		{"i386 mincore still trapped", i32(nr32Mincore, 0x20000, 0x1000, 0xffffd000), tr(Mincore, ABI32, Always)},
		{"brk allowed", x64(nr64Brk, 0), allow},
		{"shmat with an address still trapped", x64(nr64Shmat, 3, 0x20000, 0), tr(Shmat, ABI64, Always)},
		{"clone CLONE_UNTRACED still denied", x64(nr64Clone, cloneUntraced), eperm},
		{"i386 munmap still trapped", i32(nr32Munmap, 0x20000, 0x1000), tr(Munmap, ABI32, Always)},
		{"unknown arch still killed", data(0xc00000b7, 0, nil), kill},
	}},
	{"edges", edgesPolicy, []filterCase{
		{"fixed at the page between two ranges allowed", x64(nr64Mmap, 0x40000000, 0x1000, protRW, fixed), allow},
		{"fixed at the page between and a byte more trapped", x64(nr64Mmap, 0x40000000, 0x1001, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed from the first range's last page to the page between trapped", x64(nr64Mmap, 0x3ffff000, 0x2000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"munmap of the page between allowed", x64(nr64Munmap, 0x40000000, 0x1000), allow},
		{"madvise of the page between allowed", x64(nr64Madvise, 0x40000000, 0x1000, 10), allow},
		{"mprotect PROT_GROWSDOWN at the page between allowed", x64(nr64Mprotect, 0x40000000, 0x1000, protGrowsDown), allow},
		{"hint at the page between allowed (taken only where free)", x64(nr64Mmap, 0x40000000, 0x2000, protRW, anon), allow},
		{"hint at the second range's start trapped", x64(nr64Mmap, 0x40001000, 0x1000, protRW, anon), tr(Mmap, ABI64, HintInside)},
		{"mremap old_len 0 at the page between trapped (1 GiB margin)", x64(nr64Mremap, 0x40000000, 0, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
		{"hint at the top range's last page trapped", x64(nr64Mmap, 0x7fffffffe000, 0x1000, protRW, anon), tr(Mmap, ABI64, HintInside)},
		{"hint at the top of user space allowed (the kernel ignores it)", x64(nr64Mmap, 0x7ffffffff000, 0x1000, protRW, anon), allow},
		{"fixed across the top trapped", x64(nr64Mmap, 0x7fffffffe000, 0x2000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed at the top allowed (ENOMEM)", x64(nr64Mmap, 0x7ffffffff000, 0x1000, protRW, fixed), allow},
		{"munmap above the top allowed (EINVAL)", x64(nr64Munmap, 0x7ffffffff000, 0x800000000000), allow},
		{"munmap from the top wrapping trapped", x64(nr64Munmap, 0x7ffffffff000, max64-0x7ffffffff000+0x2000), tr(Munmap, ABI64, Wrap)},
		{"mprotect ending at the top trapped", x64(nr64Mprotect, 0x7ffffffe0000, 0x1f000, 1), tr(Mprotect, ABI64, RangeOverlap)},
		{"mremap far below the top range allowed", x64(nr64Mremap, 0x7ffe00000000, 0x1000, 0x1000, maymove), allow},
		{"mremap within 1 GiB below the top range trapped", x64(nr64Mremap, 0x7ffec0001000, 0x1000, 0x1000, maymove), tr(Mremap, ABI64, RangeOverlap)},
	}},
	{"range from zero", zeroStartPolicy, []filterCase{
		{"mmap NULL hint is no hint", x64(nr64Mmap, 0, 0x1000, protRW, anon), allow},
		{"mmap hint inside first page", x64(nr64Mmap, 0x1000, 0x1000, protRW, anon), tr(Mmap, ABI64, HintInside)},
		{"mmap hint with zero low word", x64(nr64Mmap, 0x100000000, 0x1000, protRW, anon), allow},
		{"mmap hint at end allowed", x64(nr64Mmap, 0x10000, 0x1000, protRW, anon), allow},
		{"fixed at zero", x64(nr64Mmap, 0, 0x1000, protRW, fixed), tr(Mmap, ABI64, FixedOverlap)},
		{"fixed at end allowed", x64(nr64Mmap, 0x10000, 0x1000, protRW, fixed), allow},
		{"munmap zero length at zero: address 0 is inside", x64(nr64Munmap, 0, 0), tr(Munmap, ABI64, RangeOverlap)},
		{"munmap zero length at end allowed", x64(nr64Munmap, 0x10000, 0), allow},
		{"get_mempolicy MPOL_F_ADDR at zero", x64(nr64GetMempolicy, 0, 0, 0, 0, mpolFAddr), tr(GetMempolicy, ABI64, RangeOverlap)},
	}},
}

func TestFilter(t *testing.T) {
	for _, pc := range filterCases {
		t.Run(pc.policy, func(t *testing.T) {
			prog, err := Build(pc.p)
			if err != nil {
				t.Fatal(err)
			}
			v := newVM(t, prog)
			failed := false
			for _, c := range pc.cases {
				got := v.run(c.d)
				if got != c.want {
					t.Errorf("%s: program returned %s, want %s (data %+v)", c.name, RetString(got), RetString(c.want), c.d)
					failed = true
				}
				if e := Evaluate(pc.p, c.d); e != c.want {
					t.Errorf("%s: Evaluate returned %s, want %s", c.name, RetString(e), RetString(c.want))
				}
			}
			if failed {
				t.Logf("program:\n%s", prog.Disassemble())
			}
		})
	}
}

// gridPolicies are checked exhaustively against Evaluate over inputs
// placed around every range boundary.
var gridPolicies = map[string]Policy{
	"default":         defaultPolicy,
	"null hint":       nullHintPolicy,
	"MAP_32BIT":       map32Policy,
	"trap all":        trapAllPolicy,
	"empty":           {},
	"range from zero": zeroStartPolicy,
	"edges":           edgesPolicy,
	"pool only":       {Guarded: []region.Range{poolRange}},
	"protected only":  {Protected: []region.Range{lowRange}},
	"many shapes": {
		Guarded: []region.Range{
			{Start: 0x1000, End: 0x2000},           // one page
			{Start: 0xfffff000, End: 0x100001000},  // across a 4 GiB line
			{Start: 0x100000000, End: 0x200000000}, // 4 GiB aligned at both ends
			{Start: 0x300000000, End: 0x300002000}, // same high word as the next
			{Start: 0x300010000, End: 0x3ffff0000}, // same high word as the previous
			{Start: 0x7fffffffe000, End: 0x7ffffffff000},
		},
		Protected: []region.Range{
			{Start: 0xfffff000, End: 0x100001000},
			{Start: 0x100000000, End: 0x100001000},
			{Start: 0x300000000, End: 0x300002000},
		},
	},
}

// interestingAddrs returns addresses around every boundary of p's ranges,
// and around the edges of the word halves.
func interestingAddrs(p Policy) []uint64 {
	set := map[uint64]bool{}
	add := func(x uint64) {
		for _, d := range []uint64{0, 1, 0x1000} {
			set[x+d] = true
			set[x-d] = true
		}
	}
	for _, r := range append(append([]region.Range{}, p.Guarded...), p.Protected...) {
		add(r.Start)
		add(r.End)
	}
	for _, x := range []uint64{0, 0x80000000, 1 << 32, 1 << 47, 1 << 63, max64} {
		add(x)
	}
	out := make([]uint64, 0, len(set))
	for x := range set {
		out = append(out, x)
	}
	return out
}

func TestFilterGrid(t *testing.T) {
	lengths := []uint64{0, 1, 0x1000, 0x10000, 0xffffffff, 1 << 32, 1 << 40, 1 << 63, max64}
	for name, p := range gridPolicies {
		t.Run(name, func(t *testing.T) {
			prog, err := Build(p)
			if err != nil {
				t.Fatal(err)
			}
			v := newVM(t, prog)
			addrs := interestingAddrs(p)
			var inputs []Data
			for _, abi := range []struct {
				arch  uint32
				table []syscallDef
			}{{AuditArchX86_64, syscalls64}, {AuditArchI386, syscalls32}} {
				for _, def := range abi.table {
					for _, addr := range addrs {
						for _, l := range lengths {
							for _, flags := range []uint64{anon, fixed, noreplace, maymove | mremapFixed, cloneUntraced, anon | map32Bit} {
								inputs = append(inputs, data(abi.arch, def.nr, []uint64{addr, l, l, flags, addr ^ 0x10000, 0}))
							}
							// get_mempolicy's address is args[3], its flags args[4].
							inputs = append(inputs, data(abi.arch, def.nr, []uint64{l, 0, l, addr, l | mpolFAddr, 0}))
						}
					}
				}
			}
			bad := 0
			for _, d := range inputs {
				if got, want := v.run(d), Evaluate(p, d); got != want {
					bad++
					if bad <= 10 {
						t.Errorf("%+v: program %s, Evaluate %s", d, RetString(got), RetString(want))
					}
				}
			}
			if bad > 0 {
				t.Logf("%d of %d inputs differ; program:\n%s", bad, len(inputs), prog.Disassemble())
			}
		})
	}
}

// spreadRanges returns n disjoint ranges spread over user space, with
// gaps of varying size and boundaries on both sides of 4 GiB lines.
func spreadRanges(n int) []region.Range {
	rs := make([]region.Range, 0, n)
	step := (region.UserEnd / uint64(n+1)) &^ (region.PageSize - 1)
	for i := range n {
		start := uint64(i+1)*step - uint64(i%7)*0x1000
		size := uint64(1+i%5) * 0x1000 << (i % 13)
		rs = append(rs, region.Range{Start: start, End: start + size})
	}
	return rs
}

func TestManyRanges(t *testing.T) {
	ranges := spreadRanges(200)
	p := Policy{Guarded: ranges, Protected: ranges[:100]}
	prog, err := Build(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("200 guarded and 100 protected ranges: %d instructions", prog.Len())
	trampolines := 0
	for _, c := range prog.comments {
		if c == "trampoline" {
			trampolines++
		}
	}
	if trampolines == 0 {
		t.Errorf("expected long jumps through trampolines in a %d-instruction program", prog.Len())
	}
	v := newVM(t, prog)
	addrs := interestingAddrs(p)
	bad := 0
	for _, addr := range addrs {
		for _, l := range []uint64{0, 1, 0x1000, 0x2000, 1 << 20, 1 << 40} {
			for _, d := range []Data{
				x64(nr64Mmap, addr, l, protRW, fixed),
				x64(nr64Mmap, addr, l, protRW, anon),
				x64(nr64Munmap, addr, l),
				x64(nr64Mremap, addr, l, l, maymove),
			} {
				if got, want := v.run(d), Evaluate(p, d); got != want {
					bad++
					if bad <= 10 {
						t.Errorf("%+v: program %s, Evaluate %s", d, RetString(got), RetString(want))
					}
				}
			}
		}
	}
	// Every range must be hit from inside, and its neighbourhood missed.
	for _, r := range ranges {
		if got := v.run(x64(nr64Munmap, r.Start, 0x1000)); got != tr(Munmap, ABI64, RangeOverlap) {
			t.Errorf("munmap at start of %v: %s", r, RetString(got))
		}
		if got := v.run(x64(nr64Munmap, r.End, 0x1000)); got != allow {
			t.Errorf("munmap at end of %v: %s", r, RetString(got))
		}
	}
}

func TestBuildRefusesTooLarge(t *testing.T) {
	p := Policy{Guarded: spreadRanges(1000)}
	_, err := Build(p)
	if err == nil {
		t.Fatal("a 1000-range policy was built")
	}
	var tooLarge *TooLargeError
	if !errors.As(err, &tooLarge) || !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error is not a *TooLargeError wrapping ErrTooLarge: %v", err)
	}
	t.Log(err)
	fit := tooLarge.Fit
	if tooLarge.Instructions <= MaxInstructions || tooLarge.Guarded != 1000 {
		t.Errorf("implausible error: %+v", tooLarge)
	}
	if fit < 250 || fit >= 1000 {
		t.Errorf("implausible number of ranges that fit: %d", fit)
	}
	ok, err := Build(Policy{Guarded: spreadRanges(1000)[:fit]})
	if err != nil {
		t.Fatalf("the %d ranges said to fit do not: %v", fit, err)
	}
	if ok.Len() > MaxInstructions {
		t.Fatalf("built a program of %d instructions", ok.Len())
	}
	if _, err := Build(Policy{Guarded: spreadRanges(1000)[:fit+20]}); err == nil {
		t.Errorf("%d ranges fit although the estimate said %d", fit+20, fit)
	}
}
