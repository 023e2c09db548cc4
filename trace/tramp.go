package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// One-stop rewrites.
//
// A call rewritten at its seccomp stop changes argument registers that
// the system call convention promises to keep, so the tracer used to
// stop again at the call's exit to put them back: two stops per rewrite.
// Instead, at the seccomp stop the tracer writes the program's argument
// registers and its return address on the program's stack (below the
// 128-byte red zone, where a signal frame would go too), rewrites the
// call, and points the instruction pointer at a few instructions in the
// guard's code page (rewrite.Guard.Code, the first page of the pool).
// The kernel runs the rewritten call and returns there; the code checks
// the result and, if it is not an error, puts the flags and the six
// argument registers back and jumps back to the program, leaving the
// stack pointer as it was, rcx and r11 as the kernel left them. No
// second stop. (The carry path, below, does the same for the commonest
// rewrites without writing a frame.)
//
// An error result needs the guard (Complete rolls back what Decide
// assumed), so then the code reports it with a call the filter traps:
// munmap(code page, 1) from a known address, with the result in rdx. The
// tracer recognises it by its instruction pointer and stack pointer,
// skips it, and finishes the call as the exit stop would have.
//
// Only calls whose successful result the guard ignores
// (rewrite.Action.QuietOnSuccess), in 64-bit programs, without the event
// log (which wants every result), take this path.
const (
	trampKeep    = 2  // entry: the program gets the call's own result
	trampFix     = 19 // entry: the program gets the frame's first word
	trampFail    = 55 // the failure report
	trampFailEnd = 77 // instruction pointer after the failure report's syscall
	trampFrame   = 8  // words: fixed result, rdi, rsi, rdx, r10, r8, r9, return address
	redZone      = 128

	carry64      = 81  // entry: rdi back from r8, r8 -1
	carry32      = 120 // entry: rdi back from r8, r8 0xffffffff
	carryFixed64 = 158 // entry: carry64, and MAP_FIXED out of r10
	carryFixed32 = 201 // entry: carry32, and MAP_FIXED out of r10
	carryFail    = 241 // the carry code's failure report
	carryFailEnd = 266 // instruction pointer after it
)

// trampCode is the code page's code (offsets in the comments). The
// kernel returns into it with rcx pointing at it (rcx equal to the
// instruction pointer and r11 to the flags let it take the fast sysret
// way back). A syscall instruction stands just before each entry: a
// call the kernel restarts (interrupted by a signal) is run again from
// there. The way back to the program is a jump through rcx, which the
// convention wants to hold the return address anyway: no `ret` without
// a `call`, which a shadow stack would refuse.
var trampCode = []byte{
	0x0f, 0x05, //                         0  syscall (restarts of keep)
	// keep (2): skip the fixed-result word.
	0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, // 2  cmp rax, -4095
	0x73, 0x2d, //                         8  jae fail (55)
	0x48, 0x8d, 0x64, 0x24, 0x08, //       10 lea rsp, [rsp+8]
	0xeb, 0x0b, //                         15 jmp common (28)
	0x0f, 0x05, //                         17 syscall (restarts of fix)
	// fix (19): the result is the frame's first word.
	0x48, 0x3d, 0x01, 0xf0, 0xff, 0xff, // 19 cmp rax, -4095
	0x73, 0x1c, //                         25 jae fail (55)
	0x58, //                               27 pop rax
	// common (28): rcx is the return address, the flags come from r11
	// (the kernel keeps them there), then the argument registers, then
	// the stack pointer as it was, and back to the program.
	0x48, 0x8b, 0x4c, 0x24, 0x30, //       28 mov rcx, [rsp+48]
	0x41, 0x53, //                         33 push r11
	0x9d,       //                         35 popfq
	0x5f,       //                         36 pop rdi
	0x5e,       //                         37 pop rsi
	0x5a,       //                         38 pop rdx
	0x41, 0x5a, //                         39 pop r10
	0x41, 0x58, //                         41 pop r8
	0x41, 0x59, //                         43 pop r9
	0x48, 0x8d, 0xa4, 0x24, 0x88, 0x00, 0x00, 0x00, // 45 lea rsp, [rsp+136]
	0xff, 0xe1, //                         53 jmp rcx
	// fail (55): munmap(code page, 1), result in rdx.
	0x48, 0x89, 0xc2, //                   55 mov rdx, rax
	0x48, 0x8d, 0x3d, 0xbf, 0xff, 0xff, 0xff, // 58 lea rdi, [rip-65] (the page)
	0xbe, 0x01, 0x00, 0x00, 0x00, //       65 mov esi, 1
	0xb8, 0x0b, 0x00, 0x00, 0x00, //       70 mov eax, 11 (munmap)
	0x0f, 0x05, //                         75 syscall
	0x0f, 0x0b, //                         77 ud2
	// The carry code (see "The carry path"): four entries, for a rewrite
	// of rdi alone or with MAP_FIXED added to r10, and for fd -1 passed
	// in all 64 bits of r8 or in its low 32 (as glibc does). The kernel
	// returns to one through iret with rcx the program's return address,
	// r11 its flags as its syscall instruction left them, r8 its rdi and
	// the program's flags. No memory is touched: the flags the test
	// changes are kept in ax (seto, lahf) and put back (add al, 0x7f sets
	// OF from al, sahf the others).
	0x0f, 0x0b, // 79 ud2 (a restart of carry64: see carryFault)
	// carry64 (81)
	0x48, 0x97, // 81 xchg rdi, rax (the result in rdi)
	0x0f, 0x90, 0xc0, // 83 seto al
	0x9f,                                     // 86 lahf
	0x48, 0x81, 0xff, 0x01, 0xf0, 0xff, 0xff, // 87 cmp rdi, -4095
	0x0f, 0x83, 0x8d, 0x00, 0x00, 0x00, // 94 jae carryFail (241)
	0x04, 0x7f, // 100 add al, 0x7f (OF from al)
	0x9e,             // 102 sahf (SF ZF AF PF CF from ah)
	0x48, 0x89, 0xf8, // 103 mov rax, rdi
	0x4c, 0x89, 0xc7, // 106 mov rdi, r8
	0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, // 109 mov r8, -1
	0xff, 0xe1, // 116 jmp rcx
	0x0f, 0x0b, // 118 ud2 (a restart of carry32)
	// carry32 (120)
	0x48, 0x97, // 120 xchg rdi, rax (the result in rdi)
	0x0f, 0x90, 0xc0, // 122 seto al
	0x9f,                                     // 125 lahf
	0x48, 0x81, 0xff, 0x01, 0xf0, 0xff, 0xff, // 126 cmp rdi, -4095
	0x0f, 0x83, 0x66, 0x00, 0x00, 0x00, // 133 jae carryFail (241)
	0x04, 0x7f, // 139 add al, 0x7f (OF from al)
	0x9e,             // 141 sahf (SF ZF AF PF CF from ah)
	0x48, 0x89, 0xf8, // 142 mov rax, rdi
	0x4c, 0x89, 0xc7, // 145 mov rdi, r8
	0x41, 0xb8, 0xff, 0xff, 0xff, 0xff, // 148 mov r8d, -1
	0xff, 0xe1, // 154 jmp rcx
	0x0f, 0x0b, // 156 ud2 (a restart of carryFixed64)
	// carryFixed64 (158)
	0x48, 0x97, // 158 xchg rdi, rax (the result in rdi)
	0x0f, 0x90, 0xc0, // 160 seto al
	0x9f,                   // 163 lahf
	0x49, 0x83, 0xe2, 0xef, // 164 and r10, ~MAP_FIXED
	0x48, 0x81, 0xff, 0x01, 0xf0, 0xff, 0xff, // 168 cmp rdi, -4095
	0x0f, 0x83, 0x3c, 0x00, 0x00, 0x00, // 175 jae carryFail (241)
	0x04, 0x7f, // 181 add al, 0x7f (OF from al)
	0x9e,             // 183 sahf (SF ZF AF PF CF from ah)
	0x48, 0x89, 0xf8, // 184 mov rax, rdi
	0x4c, 0x89, 0xc7, // 187 mov rdi, r8
	0x49, 0xc7, 0xc0, 0xff, 0xff, 0xff, 0xff, // 190 mov r8, -1
	0xff, 0xe1, // 197 jmp rcx
	0x0f, 0x0b, // 199 ud2 (a restart of carryFixed32)
	// carryFixed32 (201)
	0x48, 0x97, // 201 xchg rdi, rax (the result in rdi)
	0x0f, 0x90, 0xc0, // 203 seto al
	0x9f,                   // 206 lahf
	0x49, 0x83, 0xe2, 0xef, // 207 and r10, ~MAP_FIXED
	0x48, 0x81, 0xff, 0x01, 0xf0, 0xff, 0xff, // 211 cmp rdi, -4095
	0x0f, 0x83, 0x11, 0x00, 0x00, 0x00, // 218 jae carryFail (241)
	0x04, 0x7f, // 224 add al, 0x7f (OF from al)
	0x9e,             // 226 sahf (SF ZF AF PF CF from ah)
	0x48, 0x89, 0xf8, // 227 mov rax, rdi
	0x4c, 0x89, 0xc7, // 230 mov rdi, r8
	0x41, 0xb8, 0xff, 0xff, 0xff, 0xff, // 233 mov r8d, -1
	0xff, 0xe1, // 239 jmp rcx
	// carryFail (241)
	0x04, 0x7f, // 241 add al, 0x7f
	0x9e,             // 243 sahf
	0x48, 0x89, 0xfa, // 244 mov rdx, rdi
	0x48, 0x8d, 0x3d, 0x02, 0xff, 0xff, 0xff, // 247 lea rdi, [rip-254] (the page)
	0xbe, 0x01, 0x00, 0x00, 0x00, // 254 mov esi, 1
	0xb8, 0x0b, 0x00, 0x00, 0x00, // 259 mov eax, 11 (munmap)
	0x0f, 0x05, // 264 syscall
	0x0f, 0x0b, // 266 ud2
}

// trampCall is a rewrite under way on the one-stop path: what the
// failure report needs to finish it.
type trampCall struct {
	action   *rewrite.Action
	call     rewrite.Call // as run
	origArgs [6]uint64
	ip, sp   uint64 // the program's, after its syscall instruction
	flags    uint64 // the program's (frame path only)
	// frame is the stack pointer of the failure report: the frame's
	// start, or for carry the program's own.
	frame   uint64
	carried bool // the carry path
}

// maxTramps bounds the one-stop rewrites remembered per task. A rewrite
// that succeeds is never heard of again, so its record stays until one
// made at the same stack pointer replaces it or it is the oldest of too
// many: enough for signal handlers nested in signal handlers, each
// making rewrites from its own depth while an outer one has not reached
// its check yet.
const maxTramps = 64

// oneStop carries out a one-step rewrite on the one-stop path, if it can
// (see above). It reports whether it did.
func (t *tracer) oneStop(tk *task, si syscallInfo, abi rewrite.ABI, a *rewrite.Action) bool {
	code := tk.sp.guard.Code()
	if code.Empty() || !oneStopFits(tk, abi, a) || !a.Verify.Empty() {
		// A mapping to check afterwards needs the call's exit stop.
		return false
	}
	if entry, ok := t.carryEntry(tk, si, a); ok {
		if done := t.carryStop(tk, si, a, code.Start+entry); done {
			return true
		}
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return true
	}
	tc := &trampCall{action: a, call: a.Steps[0].Call, ip: regs.Rip, sp: regs.Rsp, flags: regs.Eflags,
		origArgs: [6]uint64{regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8, regs.R9}}
	tc.frame = regs.Rsp - redZone - 8*trampFrame
	var frame [8 * trampFrame]byte
	le := binary.LittleEndian
	if a.FixRet {
		le.PutUint64(frame[0:], a.Ret)
	}
	for i, v := range tc.origArgs {
		le.PutUint64(frame[8+8*i:], v)
	}
	le.PutUint64(frame[56:], regs.Rip)
	if err := writeAsProgram(tk.tid, tc.frame, frame[:]); err != nil {
		// No room on its stack (a guard page there, or the stack pointer
		// not on a stack): the two-stop way.
		return false
	}
	rax := regs.Rax
	loadCall(&regs, tc.call)
	regs.Rax = rax
	regs.Rsp = tc.frame
	regs.Rip = code.Start + trampKeep
	if a.FixRet {
		regs.Rip = code.Start + trampFix
	}
	regs.Rcx = regs.Rip
	if err := setRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return true
	}
	t.remember(tk, tc)
	t.resume(tk, cont, 0)
	return true
}

// oneStopFits reports whether a rewrite could take the one-stop path,
// given the code page.
func oneStopFits(tk *task, abi rewrite.ABI, a *rewrite.Action) bool {
	// (Not a call the other tasks are held for (Hole): the freeze ends
	// when its holder has no injection left, which a one-stop rewrite
	// does not leave, and they ran on before the call did: a file
	// mapping rerouted into the pool whose mmap failed after unmapping
	// its target left a gap in the pool for them; found in the
	// thirteenth session.)
	return abi == rewrite.ABI64 && tk.ev == nil && tk.spanObj == nil && !noOneStop && a.QuietOnSuccess() &&
		!a.MapsProtected(tk.sp.guard.Policy()) && !a.Hole
}

// remember keeps a one-stop rewrite under way for its failure report. A
// frame at the same place is overwritten: forget it. Others may still
// report (a signal handler's rewrite on another stack while an outer one
// has not reached its check yet); the oldest go first.
func (t *tracer) remember(tk *task, tc *trampCall) {
	keep := tk.tramps[:0]
	for _, o := range tk.tramps {
		if o.frame != tc.frame {
			keep = append(keep, o)
		}
	}
	if len(keep) == maxTramps {
		keep = append(keep[:0], keep[1:]...)
	}
	tk.tramps = append(keep, tc)
	t.res.OneStop++
	if oneStopSignal != 0 {
		_ = unix.Tgkill(tk.pid, tk.tid, oneStopSignal)
	}
}

// oneStopSignal is sent to a task with each one-stop rewrite, so that
// it is pending when the call returns into the code page (tests).
var oneStopSignal syscall.Signal

// The carry path.
//
// Most rewrites of a hint change only rdi (a hint dropped), or rdi and
// the MAP_FIXED bit of r10 (a hint moved into the pool), of an anonymous
// mapping asked for with fd -1, which the kernel does not read. For
// those the tracer writes nothing: with one PTRACE_SET_SYSCALL_INFO it
// changes the call and puts the program's rdi in the descriptor's place
// (r8), and with one PTRACE_POKEUSER it points the instruction pointer
// at carry or carryFixed: two requests instead of GETREGS, a
// process_vm_writev and SETREGS. The kernel returns there through iret
// (rcx is no longer the instruction pointer), which restores rcx (the
// program's return address, as its syscall instruction left it), r11
// (the program's flags, as that instruction left them) and the flags.
// The code checks the result with the flags kept in ax, puts them, rdi,
// r8 (-1, in 64 or 32 bits: four entries) and r10 back and jumps back
// through rcx; it touches no memory.
// A failure is reported as on the frame path, with the flags already
// back (so the report's own syscall leaves them in r11).
//
// The kernel never restarts an anonymous mmap; should it, the call would
// run again from the instruction before the entry, where a ud2 stands
// instead of a syscall (which would overwrite r11 and rcx): see
// carryFault.

// carryEntry returns the code page entry that can finish a's rewrite of
// the call si describes on the carry path, if there is one.
func (t *tracer) carryEntry(tk *task, si syscallInfo, a *rewrite.Action) (uint64, bool) {
	if t.noSetInfo || forceRegs || noCarry || !hasLAHF() || a.FixRet || len(a.Steps) != 1 {
		return 0, false
	}
	c, o := a.Steps[0].Call, si.args
	n := c.Args
	if c.Nr != si.nr || n[1] != o[1] || n[2] != o[2] || n[4] != o[4] || n[5] != o[5] ||
		o[3]&rewrite.MapAnonymous == 0 || uint32(o[4]) != 0xffffffff || (o[4]>>32 != 0 && o[4]>>32 != 0xffffffff) {
		return 0, false
	}
	if t.otherFilters == 0 {
		// Checked once: the guard's filter is the only one the first
		// program had (later ones the guard sees installed).
		t.otherFilters = 1
		if n, ok := seccompFilters(tk.tid); ok && n == 1 {
			t.otherFilters = -1
		}
	}
	if t.otherFilters > 0 {
		// A filter of the program's sees the rewritten call with its
		// descriptor changed: it might refuse it.
		return 0, false
	}
	wide := o[4]>>32 != 0
	switch {
	case n[3] == o[3] && wide:
		return carry64, true
	case n[3] == o[3]:
		return carry32, true
	case o[3]&rewrite.MapFixed == 0 && n[3] == o[3]|rewrite.MapFixed && wide:
		return carryFixed64, true
	case o[3]&rewrite.MapFixed == 0 && n[3] == o[3]|rewrite.MapFixed:
		return carryFixed32, true
	}
	return 0, false
}

// carryStop starts a rewrite on the carry path. It reports false if the
// kernel has no PTRACE_SET_SYSCALL_INFO (nothing was changed then).
func (t *tracer) carryStop(tk *task, si syscallInfo, a *rewrite.Action, entry uint64) bool {
	c := a.Steps[0].Call
	args := c.Args
	args[4] = si.args[0] // the program's rdi, in the ignored descriptor
	if err := setSyscallInfo(tk.tid, si, c.Nr, args); err != nil {
		if errors.Is(err, unix.ESRCH) {
			t.lost(tk, err)
			return true
		}
		// Older kernels (before 6.16) do not know the request.
		t.noSetInfo = true
		return false
	}
	if carryRestarts > 0 {
		// As if the kernel had restarted the call (see carryRestarts).
		carryRestarts--
		entry -= 2
	}
	if err := pokeUser(tk.tid, offRip, entry); err != nil {
		t.lost(tk, err)
		return true
	}
	t.remember(tk, &trampCall{action: a, call: c, origArgs: si.args, ip: si.ip, sp: si.sp, frame: si.sp, carried: true})
	t.resume(tk, cont, 0)
	return true
}

// seccompFilters reads how many seccomp filters task tid runs under.
func seccompFilters(tid int) (int, bool) {
	f, ok := procStatus(tid, "Seccomp_filters")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(f[0])
	return n, err == nil
}

// noCarry turns the carry path off (tests compare the paths).
var noCarry = false

// carryRestarts makes that many carry rewrites return to the ud2 before
// their entry, where a call the kernel restarts resumes (tests; the
// rewritten call has run, which a restarted one has not, so a mapping
// is left behind).
var carryRestarts = 0

// carryFault handles, at a signal-delivery-stop for sig, a restart of a
// call on the carry path: a SIGILL at the ud2 before the entry, with the
// program's stack pointer. The rewritten call did not happen; the
// program's own call is made again, from its own syscall instruction,
// and the filter sends it to the guard anew. It reports whether the stop
// was one; the signal is then not delivered. (The SIGILL, raised by the
// kernel, has unblocked it and reset it to the default action if the
// program blocked or ignored it.)
func (t *tracer) carryFault(tk *task, sig syscall.Signal) bool {
	code := tk.sp.guard.Code()
	if code.Empty() || sig != syscall.SIGILL {
		return false
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return true
	}
	switch regs.Rip - code.Start {
	case carry64 - 2, carry32 - 2, carryFixed64 - 2, carryFixed32 - 2:
	default:
		return false
	}
	if regs.Rip < code.Start || !kernelSent(tk.tid) {
		return false
	}
	var tc *trampCall
	for i, o := range tk.tramps {
		if o.carried && o.sp == regs.Rsp {
			tc = o
			tk.tramps = append(tk.tramps[:i], tk.tramps[i+1:]...)
			break
		}
	}
	if tc == nil {
		return false
	}
	// (A forged restart, a jump to the ud2 with a remembered stack
	// pointer, makes the guard take back what the call assumed: the pool
	// chunk it was moved to is reserved again, over whatever is there. No
	// reservation of a protected range is given up: unlike a failure
	// report (trampFailure), nothing here needs checking against the
	// kernel's layout.)
	ret := rewrite.Err(int(unix.EINTR))
	g := tk.sp.guard
	if !t.injected(tk, tc.call, ret) {
		return true
	}
	var fix rewrite.Fix
	if tc.action.Exit {
		fix = g.Complete(tc.action, ret)
	}
	// The flags are the program's: nothing ran since the call. But a
	// fault sets RF in the flags it saves, which a syscall leaves out of
	// r11 and which would hide a breakpoint on the next instruction.
	tc.flags = regs.Eflags &^ eflagsRF
	t.finishTramp(tk, tc, &regs, ret, fix, true)
	return true
}

// eflagsRF is the resume flag.
const eflagsRF = 1 << 16

// kernelSent reports whether the signal a task is stopped for comes
// from the kernel (a fault), not from kill or tgkill.
func kernelSent(tid int) bool {
	var si [128]byte
	if ptracePtr(unix.PTRACE_GETSIGINFO, tid, 0, unsafe.Pointer(&si[0])) != nil {
		return false
	}
	return int32(binary.LittleEndian.Uint32(si[8:])) > 0 // si_code
}

// trampFailure recognises, at a seccomp stop, the code page's report of
// a failed one-stop rewrite, and finishes that call. It reports whether
// the stop was one.
func (t *tracer) trampFailure(tk *task, si syscallInfo) bool {
	code := tk.sp.guard.Code()
	if len(tk.tramps) == 0 || code.Empty() || si.arch != auditArchX86_64 || si.nr != unix.SYS_MUNMAP ||
		si.args[0] != code.Start || (si.ip != code.Start+trampFailEnd && si.ip != code.Start+carryFailEnd) {
		return false
	}
	carried := si.ip == code.Start+carryFailEnd
	var tc *trampCall
	for i, o := range tk.tramps {
		if o.frame == si.sp && o.carried == carried {
			tc = o
			tk.tramps = append(tk.tramps[:i], tk.tramps[i+1:]...)
			break
		}
	}
	if tc == nil {
		return false // not one of ours: the program's own munmap
	}
	ret := si.args[2]
	g := tk.sp.guard
	if _, ok := rewrite.IsReservation(tc.call); ok {
		// The report is the program's own code and could be forged (a
		// jump to it with the stack pointer at an old frame): believed,
		// it would make the guard give up a reservation it holds. A
		// reservation that really failed leaves the program's mapping
		// there, so ask the kernel.
		r := region.Range{Start: tc.call.Args[0], End: tc.call.Args[0] + tc.call.Args[1]}
		if held, err := reservedNow(tk.tid, r); err != nil || held {
			t.failClosed(tk, fmt.Sprintf("a failure report from the guard's code page for %v, which the kernel shows reserved", r))
			return true
		}
	}
	if !t.injected(tk, tc.call, ret) {
		return true
	}
	var fix rewrite.Fix
	if tc.action.Exit && t.verified(tk, rewrite.ABI64, tc.action, ret) {
		fix = g.Complete(tc.action, ret)
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return true
	}
	if tc.carried {
		// The carry code put the flags back before its report, whose
		// syscall instruction copied them to r11.
		tc.flags = regs.R11
	}
	regs.Orig_rax = ^uint64(0) // the report itself is skipped
	t.finishTramp(tk, tc, &regs, ret, fix, false)
	return true
}

// finishTramp ends a one-stop rewrite from a stop of the tracer's own
// (a failure report, a fault of the carry code): the task goes back to
// just after the program's syscall instruction, as if the call had
// returned ret there, after the reservations fix asks for. With again,
// it goes back to the program's syscall instruction instead, to make
// its call again.
func (t *tracer) finishTramp(tk *task, tc *trampCall, regs *unix.PtraceRegs, ret uint64, fix rewrite.Fix, again bool) {
	regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8, regs.R9 =
		tc.origArgs[0], tc.origArgs[1], tc.origArgs[2], tc.origArgs[3], tc.origArgs[4], tc.origArgs[5]
	regs.Rip, regs.Rsp, regs.Rcx = tc.ip, tc.sp, tc.ip
	regs.Eflags, regs.R11 = tc.flags, tc.flags
	final := ret
	if again {
		regs.Rip, final = tc.ip-2, tc.call.Nr
	}
	regs.Rax = final
	if len(fix.After) == 0 {
		if err := setRegs(tk.tid, regs); err != nil {
			t.lost(tk, err)
			return
		}
		t.resume(tk, cont, 0)
		return
	}
	// Reservations to put back first, from the program's own syscall
	// instruction.
	t.runAfter(tk, rewrite.ABI64, *regs, tc.ip-2, final, fix.After)
}

// reservedNow reports whether r is covered by reservation-like mappings
// (PROT_NONE, private, anonymous) in the task's layout.
func reservedNow(tid int, r region.Range) (bool, error) {
	return coveredBy(tid, r, rewrite.LooksReserved)
}

// endCode ends a code call in sp (done, or its task gone): the calls of
// the space's other tasks held meanwhile are handled now (see
// holdForCode).
func (t *tracer) endCode(sp *space) {
	sp.codeTask = nil
	t.ready = append(t.ready, sp.codeWaiters...)
	sp.codeWaiters = nil
}

// stopCodeCall gives up a code call whose task a group-stop (SIGSTOP,
// ^Z) catches on its way to the call, before it ran: the task would wait
// there for SIGCONT with the other tasks of its space held, and those
// could not take the stop, which would then never be complete for the
// program's parent. The task's registers go back to the end of its own
// call, the held tasks are handled, and the code page stays pending, to
// be mapped at a later rewrite. It reports false if the task was lost.
func (t *tracer) stopCodeCall(tk *task) bool {
	sp, inj := tk.sp, tk.inj
	// (Single-stepped, a call may have run with its step's stop still
	// to come: it is seen to its end, and the stop sent again after.)
	if sp == nil || sp.codeTask != tk || inj == nil || !inj.running() || inj.entered || inj.step || inj.i != len(inj.calls)-1 {
		return true
	}
	if c, want := inj.calls[inj.i], sp.guard.CodeCall(); c.Nr != want.Nr || c.Args != want.Args {
		return true
	}
	// (At an exec, the syscall instruction written over the entry point
	// goes too: left there, the program ran it and went on two bytes
	// into its first instruction, and died of SIGSEGV, in some 2% of
	// processes stopped and continued at their exec under --pool-all;
	// found by the sixteenth session's hunt.)
	if err := t.restoreTask(tk, inj); err != nil {
		t.lost(tk, err) // (which ends the code call)
		return false
	}
	tk.inj = nil
	t.endCode(sp)
	t.emit(tk, inj.final, true)
	t.sendDeferred(tk) // pending again, delivered after SIGCONT
	return true
}

// holdForCode keeps a task of a space whose code page is being mapped
// at the seccomp stop of its own call until the code call is over:
// nothing the program does can then meet the code call in the kernel
// (its MAP_FIXED over the page, or a reservation it puts back there, run
// before or after the guard's mapping). It reports whether it held tk.
func (t *tracer) holdForCode(tk *task) bool {
	sp := tk.sp
	if sp == nil || sp.codeTask == nil || sp.codeTask == tk {
		return false
	}
	tk.codeHeld = true
	sp.codeWaiters = append(sp.codeWaiters, tk)
	return true
}

// wantsCode reports whether a rewritten mmap that takes two stops would
// have taken one with the code page, which is not mapped yet (see
// rewrite.Guard.PendingCode): the code goes there at its exit
// (codeCall), once per address space, for the rewrites after it. Only an
// mmap's: the code call runs from the program's syscall instruction,
// whose page a rewritten munmap or mprotect may have taken away.
func wantsCode(tk *task, nr uint64, abi rewrite.ABI, a *rewrite.Action) bool {
	return nr == unix.SYS_MMAP && tk.sp.codeTask == nil && !tk.sp.guard.PendingCode().Empty() && oneStopFits(tk, abi, a)
}

// codeCall maps the guard's code page over its reservation there and
// writes the code into it. It runs after a rewrite that wanted it (see
// wantsCode), from the program's syscall instruction like the
// reservations put back after a call; a new program's exec does not pay
// for it (a call, three stops), nor does a program that never needs a
// rewrite.
func (t *tracer) codeCall(tk *task) extraCall {
	sp := tk.sp
	g := sp.guard
	page := g.PendingCode()
	sp.codeTask = tk
	codeCallsRun.Add(1)
	return extraCall{call: g.CodeCall(), done: func(ret uint64) bool {
		t.endCode(sp)
		if g.PendingCode() != page {
			// Not the guard's page any more: cannot happen while the
			// space's other calls are held, but nothing is written
			// into a page that could be the program's.
			return true
		}
		if _, failed := rewrite.Failed(rewrite.ABI64, ret); failed {
			t.warnf("cannot map the guard's code page at %#x: %v; rewrites take two stops", page.Start, errnoOf(rewrite.ABI64, ret))
			// A MAP_FIXED that fails leaves the old mapping, since
			// Linux 6.12; before, perhaps nothing.
			kept, err := reservedNow(tk.tid, page)
			g.DropCode(err == nil && kept)
			return true
		}
		if err := poke(tk.tid, page.Start, trampCode); err != nil {
			t.warnf("cannot write the guard's code page at %#x: %v; rewrites take two stops", page.Start, err)
			g.DropCode(true)
			return true
		}
		g.CodeWritten()
		return true
	}}
}

// eagerCode returns the code call to make at an exec, after the
// reservations, where the program's first rewrite is certain: with
// --pool-all, ld.so's first mmap is one. Mapped there, it saves that
// rewrite its second stop.
func (t *tracer) eagerCode(tk *task) []extraCall {
	g := tk.sp.guard
	if !g.Policy().PoolAll || g.PendingCode().Empty() || noOneStop {
		return nil
	}
	return []extraCall{t.codeCall(tk)}
}

// checkForkedCode makes sure that where a forked child's copy of the
// model has the code page, its memory has the code: the kernel copied
// the memory when the fork ran, and the parent may have mapped and
// written the code between that and the fork's event (fork stops for
// nothing). Otherwise the child maps its own when it needs it.
func checkForkedCode(child int, g *rewrite.Guard) {
	code := g.Code()
	if code.Empty() {
		return
	}
	got := make([]byte, len(trampCode))
	if peekAsProgram(child, code.Start, got) != nil || !bytes.Equal(got, trampCode) {
		g.CodeMissing()
	}
}

// codeCallsRun counts the code pages mapped (tests check there is one
// per address space).
var codeCallsRun atomic.Int64

// noOneStop turns the one-stop path off (tests compare both paths).
var noOneStop = false
