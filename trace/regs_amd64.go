package trace

import (
	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// Audit architectures of the two ABIs an x86-64 task can call with.
const (
	auditArchX86_64 = 0xc000003e
	auditArchI386   = 0x40000003
)

// syscallInsn is the instruction injected to run a call from an event
// stop: syscall (0f 05) for a 64-bit task, int $0x80 (cd 80) for i386.
// Both are two bytes, which is also how far a stopped call's instruction
// pointer is rewound to run it again.
var syscallInsn = map[rewrite.ABI][2]byte{
	rewrite.ABI64: {0x0f, 0x05},
	rewrite.ABI32: {0xcd, 0x80},
}

// loadCall puts call c into the registers the kernel reads at syscall
// entry (rax holds the number when the instruction executes; orig_rax
// is what a seccomp or entry stop reports and what the kernel runs if
// changed there).
func loadCall(r *unix.PtraceRegs, c rewrite.Call) {
	r.Orig_rax = c.Nr
	r.Rax = c.Nr
	if c.ABI == rewrite.ABI32 {
		r.Rbx, r.Rcx, r.Rdx, r.Rsi, r.Rdi, r.Rbp = c.Args[0], c.Args[1], c.Args[2], c.Args[3], c.Args[4], c.Args[5]
		return
	}
	r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9 = c.Args[0], c.Args[1], c.Args[2], c.Args[3], c.Args[4], c.Args[5]
}

// setArg sets argument i of a call in the registers of the given ABI.
func setArg(r *unix.PtraceRegs, abi rewrite.ABI, i int, v uint64) {
	var p *uint64
	if abi == rewrite.ABI32 {
		p = [6]*uint64{&r.Rbx, &r.Rcx, &r.Rdx, &r.Rsi, &r.Rdi, &r.Rbp}[i]
	} else {
		p = [6]*uint64{&r.Rdi, &r.Rsi, &r.Rdx, &r.R10, &r.R8, &r.R9}[i]
	}
	*p = v
}

// abiOf maps a seccomp_data / syscall-info arch to an ABI.
func abiOf(arch uint32) (rewrite.ABI, bool) {
	switch arch {
	case auditArchX86_64:
		return rewrite.ABI64, true
	case auditArchI386:
		return rewrite.ABI32, true
	}
	return 0, false
}

// User code segments: a task running 32-bit code has __USER32_CS, one
// running 64-bit code __USER_CS.
const (
	user32CS = 0x23
	user64CS = 0x33
)

// regsInfo reads a stop's call from the registers, for kernels without
// PTRACE_GET_SYSCALL_INFO (before 5.3). At a seccomp stop the ABI comes
// from the filter's return data (an int $0x80 call from 64-bit code looks
// the same as a native one in the registers); at other stops from the
// code segment. The return data is the guard's own only as long as the
// program adds no filter of its own that returns SECCOMP_RET_TRACE (the
// newest filter's data wins): in this mode the tracer refuses the
// program's filters (see installsFilter).
func regsInfo(tid int, atSeccomp bool) (syscallInfo, error) {
	var r unix.PtraceRegs
	if err := getRegs(tid, &r); err != nil {
		return syscallInfo{}, err
	}
	// The kernel takes the call number from the low 32 bits of orig_rax
	// (do_syscall_64 takes an int): so must the guard, or a number with
	// garbage above bit 31 would be misread.
	si := syscallInfo{ip: r.Rip, sp: r.Rsp, nr: uint64(uint32(r.Orig_rax)), arch: auditArchX86_64}
	if r.Cs == user32CS {
		si.arch = auditArchI386
	}
	switch {
	case atSeccomp:
		si.op = syscallInfoSeccomp
		data, err := eventMsg(tid)
		if err != nil {
			return syscallInfo{}, err
		}
		si.retData = uint32(data)
		if seccomp.Code(data).ABI() == seccomp.ABI32 {
			si.arch = auditArchI386
		}
	case r.Rax == rewrite.Err(rewrite.ENOSYS):
		// The kernel sets rax to -ENOSYS on the way in.
		si.op = syscallInfoEntry
	default:
		si.op = syscallInfoExit
		si.rval = int64(r.Rax)
	}
	abi := rewrite.ABI64
	if si.arch == auditArchI386 {
		abi = rewrite.ABI32
	}
	si.args = callArgs(&r, abi)
	return si, nil
}

// callArgs reads a call's six arguments from the registers of an ABI.
func callArgs(r *unix.PtraceRegs, abi rewrite.ABI) [6]uint64 {
	if abi == rewrite.ABI32 {
		return [6]uint64{r.Rbx, r.Rcx, r.Rdx, r.Rsi, r.Rdi, r.Rbp}
	}
	return [6]uint64{r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9}
}

// installsFilter reports whether a call adds a seccomp filter:
// seccomp(SECCOMP_SET_MODE_FILTER, ...) or prctl(PR_SET_SECCOMP,
// SECCOMP_MODE_FILTER, ...), in either ABI.
func installsFilter(abi rewrite.ABI, nr uint64, args [6]uint64) bool {
	const (
		seccompSetModeFilter = 1
		prSetSeccomp         = 22
		seccompModeFilter    = 2
	)
	sec, prctl := uint64(317), uint64(157)
	if abi == rewrite.ABI32 {
		sec, prctl = 354, 172
	}
	switch nr {
	case sec:
		return uint32(args[0]) == seccompSetModeFilter
	case prctl:
		return uint32(args[0]) == prSetSeccomp && uint32(args[1]) == seccompModeFilter
	}
	return false
}

// Offsets of registers in struct user_regs_struct, for PTRACE_POKEUSER.
const (
	offRbp     = 4 * 8
	offRbx     = 5 * 8
	offR11     = 6 * 8
	offR10     = 7 * 8
	offR9      = 8 * 8
	offR8      = 9 * 8
	offRax     = 10 * 8
	offRcx     = 11 * 8
	offRdx     = 12 * 8
	offRsi     = 13 * 8
	offRdi     = 14 * 8
	offOrigRax = 15 * 8
	offRip     = 16 * 8
)

// argOffsets are where each ABI passes the six arguments.
var argOffsets = map[rewrite.ABI][6]uintptr{
	rewrite.ABI64: {offRdi, offRsi, offRdx, offR10, offR8, offR9},
	rewrite.ABI32: {offRbx, offRcx, offRdx, offRsi, offRdi, offRbp},
}
