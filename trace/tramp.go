package trace

import (
	"encoding/binary"
	"fmt"

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
// argument registers back and returns to the program with `ret 128`,
// leaving the stack pointer as it was, rcx and r11 as the kernel left
// them. No second stop.
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
}

// trampCall is a rewrite under way on the one-stop path: what the
// failure report needs to finish it.
type trampCall struct {
	action   *rewrite.Action
	call     rewrite.Call // as run
	origArgs [6]uint64
	ip, sp   uint64 // the program's, after its syscall instruction
	flags    uint64
	frame    uint64 // the stack pointer the code starts with
}

// maxTramps bounds the one-stop rewrites remembered per task (nested
// ones come from signal handlers).
const maxTramps = 8

// oneStop carries out a one-step rewrite on the one-stop path, if it can
// (see above). It reports whether it did.
func (t *tracer) oneStop(tk *task, si syscallInfo, abi rewrite.ABI, a *rewrite.Action) bool {
	code := tk.sp.guard.Code()
	if abi != rewrite.ABI64 || code.Empty() || tk.ev != nil || tk.spanObj != nil || noOneStop || !a.QuietOnSuccess() {
		return false
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
	// A frame at the same place is overwritten: forget it. Others may
	// still report (a signal handler's rewrite on another stack while
	// an outer one has not reached its check yet); the oldest go first.
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
	t.resume(tk, cont, 0)
	return true
}

// trampFailure recognises, at a seccomp stop, the code page's report of
// a failed one-stop rewrite, and finishes that call. It reports whether
// the stop was one.
func (t *tracer) trampFailure(tk *task, si syscallInfo) bool {
	code := tk.sp.guard.Code()
	if len(tk.tramps) == 0 || code.Empty() || si.arch != auditArchX86_64 || si.nr != unix.SYS_MUNMAP ||
		si.args[0] != code.Start || si.ip != code.Start+trampFailEnd {
		return false
	}
	var tc *trampCall
	for i, o := range tk.tramps {
		if o.frame == si.sp {
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
	if rewrite.IsReservation(tc.call) {
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
	g.Injected(tc.call, ret)
	var fix rewrite.Fix
	if tc.action.Exit {
		fix = g.Complete(tc.action, ret)
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return true
	}
	// Back to just after the program's syscall instruction, as if the
	// call had returned ret there.
	regs.Rdi, regs.Rsi, regs.Rdx, regs.R10, regs.R8, regs.R9 =
		tc.origArgs[0], tc.origArgs[1], tc.origArgs[2], tc.origArgs[3], tc.origArgs[4], tc.origArgs[5]
	regs.Rip, regs.Rsp, regs.Rcx = tc.ip, tc.sp, tc.ip
	regs.Eflags, regs.R11 = tc.flags, tc.flags
	regs.Orig_rax = ^uint64(0) // the report itself is skipped
	regs.Rax = ret
	if len(fix.After) == 0 {
		if err := setRegs(tk.tid, &regs); err != nil {
			t.lost(tk, err)
			return true
		}
		t.resume(tk, cont, 0)
		return true
	}
	// Reservations to put back first, from the program's own syscall
	// instruction.
	t.runAfter(tk, rewrite.ABI64, regs, tc.ip-2, ret, fix.After)
	return true
}

// reservedNow reports whether r is covered by reservation-like mappings
// (PROT_NONE, private, anonymous) in the task's layout.
func reservedNow(tid int, r region.Range) (bool, error) {
	maps, err := region.ReadMaps(tid)
	if err != nil {
		return false, err
	}
	pos := r.Start
	for _, m := range maps {
		if m.End <= pos || m.Start > pos {
			continue
		}
		if m.Perms != "---p" || m.Inode != 0 || m.Path != "" {
			return false, nil
		}
		pos = m.End
		if pos >= r.End {
			return true, nil
		}
	}
	return false, nil
}

// codeCalls maps the guard's code page in a new program and writes the
// code into it (after the reservations).
func (t *tracer) codeCalls(tk *task) []extraCall {
	g := tk.sp.guard
	if g.Code().Empty() {
		return nil
	}
	return []extraCall{{call: g.CodeCall(), done: func(ret uint64) bool {
		if _, failed := rewrite.Failed(rewrite.ABI64, ret); failed {
			t.warnf("cannot map the guard's code page at %#x: %v; rewrites take two stops", g.Code().Start, errnoOf(rewrite.ABI64, ret))
			g.DropCode(false)
			return true
		}
		if err := poke(tk.tid, g.Code().Start, trampCode); err != nil {
			t.warnf("cannot write the guard's code page at %#x: %v; rewrites take two stops", g.Code().Start, err)
			g.DropCode(true)
		}
		return true
	}}}
}

// noOneStop turns the one-stop path off (tests compare both paths).
var noOneStop = false
