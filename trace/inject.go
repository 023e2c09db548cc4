package trace

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/plainfile"
	"github.com/mmapguard/mmapguard/internal/procfile"
	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// An injection runs calls of the guard's choosing in a stopped task and
// then lets the task go on as if it had made only its own call.
//
// Each call is run by pointing the instruction pointer at a syscall
// instruction with the call in the registers and resuming with
// PTRACE_SYSCALL: the task stops at the call's entry (and, for a trapped
// class, at a seccomp stop, which is let through), then at its exit,
// where the result is read. From a seccomp stop the first call can
// instead take the stopped call's place, with no rewinding at all.
//
// The instruction is the one the task stopped at (two bytes behind the
// instruction pointer at a syscall stop), or, at an exec event where the
// task is not in a call of its own, two bytes written over the program's
// entry point and restored afterwards.
//
// There, each call runs with PTRACE_SINGLESTEP instead: the task runs
// the one instruction and stops right after it (a SIGTRAP; for a system
// call, at its exit, as the kernel reports a step out of a call), with
// no stop at the call's entry. A call the filter traps still stops at
// its seccomp stop first, where it is checked as before. Either way the
// step's stop shows what ran: the call's number (orig_rax, -1 after any
// other instruction), its ABI and the instruction pointer right behind
// insn; anything else is the program's own code, run because another
// process wrote over insn (see checkInjected), and the process is
// killed: one instruction, not the program's code up to its next
// trapped call, as PTRACE_CONT would have let run. A call stops once
// (twice where trapped) instead of twice (three times), and the exec
// event's first resume once more for execve's own exit: six stops at an
// exec instead of eight, five instead of nine at the first program's;
// four at an exec where the program's filters can be suspended for the
// calls (see suspendSeccomp), so that none of them is trapped.
type injection struct {
	abi   rewrite.ABI
	saved unix.PtraceRegs // where the task goes on afterwards
	insn  uint64          // address of the syscall instruction used
	poked bool            // insn was written by us; restore orig
	step  bool            // calls run with PTRACE_SINGLESTEP
	// inExecve: the task is still in execve, whose exit, with its
	// result written over rax, is the first step's stop.
	inExecve bool
	// suspended: the task's seccomp filters are suspended
	// (PTRACE_O_SUSPEND_SECCOMP) while the calls run, single-stepped.
	suspended bool
	orig      [2]byte

	calls   []rewrite.Call
	i       int  // the call running now
	entered bool // it has entered the kernel: its next exit stop is its own

	// next is told each call's result and may change calls; when it
	// returns done, the task goes on with its rax set to final.
	next  func(i int, ret uint64) (done bool)
	final uint64

	// await is set while the task runs its own call and the guard wants
	// to see the result.
	await *rewrite.Action
	// inPlace is set while the task runs a call rewritten at its seccomp
	// stop (see rewriteInPlace).
	inPlace *inPlace
	// observe is set while the task runs its own call unchanged and only
	// the event log wants the result.
	observe bool
}

// inPlace remembers what a rewritten call looked like, to put the
// registers back at its exit.
type inPlace struct {
	action   *rewrite.Action
	origNr   uint64
	origArgs [6]uint64
	call     rewrite.Call
	// wantCode: the rewrite would have taken one stop with the code
	// page, which is mapped at its exit (see wantsCode).
	wantCode bool
}

// start runs inj.calls[0]. inPlace says the task is at a seccomp stop of
// its own call, which the first injected call replaces.
func (t *tracer) start(tk *task, inj *injection, inPlace bool) {
	tk.inj = inj
	inj.i = 0
	if inPlace {
		regs := inj.saved
		loadCall(&regs, inj.calls[0])
		regs.Rax = inj.saved.Rax
		inj.entered = true
		if err := setRegs(tk.tid, &regs); err != nil {
			t.lost(tk, err)
			return
		}
		t.resume(tk, sysStep, 0)
		return
	}
	t.runCurrent(tk)
}

// runCurrent points the task at the syscall instruction with the current
// call loaded.
func (t *tracer) runCurrent(tk *task) {
	inj := tk.inj
	regs := inj.saved
	loadCall(&regs, inj.calls[inj.i])
	// orig_rax -1: the kernel must not take the stop we resume from as
	// an interrupted call to restart.
	regs.Orig_rax = ^uint64(0)
	regs.Rip = inj.insn
	if inj.abi == rewrite.ABI64 && regs.Cs != user64CS {
		// A 64-bit process running 32-bit code (it forked there with
		// int $0x80), in __USER32_CS or in a code segment of its own
		// LDT (modify_ldt: Wine's 16- and 32-bit code): the guard's
		// 64-bit calls run in 64-bit mode, where their syscall
		// instruction is legal (at the linear address insn, which is
		// where it was read or written: a 64-bit segment has no base);
		// the task's own code segment comes back with its registers.
		regs.Cs = user64CS
	}
	inj.entered = false
	if err := setRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return
	}
	if inj.step {
		t.resumeAs(tk, singleStep, 0)
		return
	}
	t.resume(tk, sysStep, 0)
}

// running reports whether the task was sent to run the injection's
// current call from the syscall instruction at insn (not its own call,
// rewritten or awaited, which is past its entry already).
func (inj *injection) running() bool {
	return inj.inPlace == nil && !inj.observe && inj.await == nil && inj.i < len(inj.calls)
}

// checkInjected checks, at the entry or seccomp stop of a call the task
// makes while it should be making the injection's current call, that
// this is that call, made from insn. Anything else is the program's own
// code, run by the resume meant for the guard's call: an instruction
// another thread rewrote meanwhile, the program's syscall instruction
// gone, a jump back into it with registers of its choosing. Let through,
// its call would pass as the guard's, unchecked; the process is killed
// instead (fail closed). It reports whether the call is the injection's.
func (t *tracer) checkInjected(tk *task, si syscallInfo) bool {
	inj := tk.inj
	c := inj.calls[inj.i]
	abi, ok := abiOf(si.arch)
	args := si.args
	if si.op == syscallInfoEntry && (t.regsOnly || forceRegs) {
		// Read from the registers, an entry stop does not say which
		// entry the call took (i386 calls from 64-bit code look like
		// 64-bit ones): read the arguments where the injection's ABI
		// has them. A call through the other entry with the same
		// number and registers is not a mapping call.
		var r unix.PtraceRegs
		if err := getRegs(tk.tid, &r); err != nil {
			t.lost(tk, err)
			return false
		}
		abi, ok = inj.abi, true
		args = callArgs(&r, abi)
	}
	same := ok && abi == inj.abi && si.ip == inj.insn+2 && si.nr == c.Nr
	for i := 0; same && i < len(c.Args); i++ {
		a, b := args[i], c.Args[i]
		if abi == rewrite.ABI32 {
			a, b = a&0xffffffff, b&0xffffffff
		}
		same = a == b
	}
	if !same {
		t.failClosed(tk, fmt.Sprintf("made a call of its own (nr %d at %#x) where the guard ran %v at %#x", si.nr, si.ip, c, inj.insn))
	}
	return same
}

// syscallStop handles a syscall-entry or syscall-exit stop; only
// injections (and calls whose result the guard wants) ask for them.
func (t *tracer) syscallStop(tk *task) {
	inj := tk.inj
	if inj == nil {
		t.resume(tk, cont, 0)
		return
	}
	if inj.inPlace != nil {
		// Resumed with PTRACE_SYSCALL from its seccomp stop, past the
		// entry: this is the call's exit.
		t.finishInPlace(tk)
		return
	}
	if inj.observe {
		ret, err := peekUser(tk.tid, offRax)
		if err != nil {
			t.lost(tk, err)
			return
		}
		tk.inj = nil
		t.emit(tk, ret, true)
		t.resume(tk, cont, 0)
		return
	}
	si, err := t.stopInfo(tk, false)
	if err != nil {
		t.lost(tk, err)
		return
	}
	if si.op == syscallInfoEntry && inj.entered && (t.regsOnly || forceRegs) {
		// Read from the registers, an exit whose result is -ENOSYS looks
		// like an entry; but once the call has entered, the next syscall
		// stop is its exit.
		si.op, si.rval = syscallInfoExit, int64(rewrite.Err(rewrite.ENOSYS))
	}
	switch {
	case si.op == syscallInfoEntry:
		if inj.running() && !t.checkInjected(tk, si) {
			return
		}
		inj.entered = true
		t.resume(tk, sysStep, 0)
		return
	case si.op != syscallInfoExit:
		t.resume(tk, sysStep, 0)
		return
	case !inj.entered:
		// The exit of the call before ours (execve's, after the exec
		// event), which writes its result over rax: load ours again.
		t.runCurrent(tk)
		return
	}
	ret := uint64(si.rval)
	if inj.await != nil {
		t.completeAwaited(tk, ret)
		return
	}
	t.injectedExit(tk, ret)
}

// stepTrap handles a SIGTRAP stop of a task running the guard's calls
// with PTRACE_SINGLESTEP (see injection), and reports whether it was the
// step's. A SIGTRAP another process sent is held, as any signal that
// comes during the guard's calls, whether or not the step's merged with
// it. At insn nothing has run: the first step's stop is the exit of the
// call the task was in at the exec event, execve, whose result
// overwrote rax, and the call is loaded again; another such stop (an
// instruction of the program's that jumps to itself, written over insn)
// is the program's code. Right behind insn, the current call must have
// run, through the ABI's instruction; its result is in rax.
func (t *tracer) stepTrap(tk *task) bool {
	inj := tk.inj
	if !inj.step || !inj.running() {
		return false
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return true
	}
	h := holdSignal(tk.tid, syscall.SIGTRAP)
	sent := !h.ok || int32(binary.LittleEndian.Uint32(h.info[8:])) <= 0 // si_code: SI_USER, SI_TKILL, SI_QUEUE...
	if sent {
		h.seq = t.nextJob()
		tk.deferred = append(tk.deferred, h)
	}
	c := inj.calls[inj.i]
	switch {
	case regs.Rip == inj.insn && (inj.inExecve || sent):
		inj.inExecve = false
		t.runCurrent(tk)
		return true
	case regs.Rip != inj.insn+2:
		t.failClosed(tk, fmt.Sprintf("ran code of its own (to %#x) where the guard ran %v at %#x", regs.Rip, c, inj.insn))
		return true
	}
	si, err := t.stopInfo(tk, false)
	if err != nil {
		t.lost(tk, err)
		return true
	}
	if abi, ok := abiOf(si.arch); !ok || abi != inj.abi || regs.Orig_rax != c.Nr {
		t.failClosed(tk, fmt.Sprintf("made a call of its own (nr %d, arch %#x) where the guard ran %v at %#x", int64(regs.Orig_rax), si.arch, c, inj.insn))
		return true
	}
	t.injectedExit(tk, regs.Rax)
	return true
}

// injectedExit takes the result of the injection's current call, and
// runs the next or ends the injection.
func (t *tracer) injectedExit(tk *task, ret uint64) {
	inj := tk.inj
	if c := inj.calls[inj.i]; c.Forged(ret) {
		// The program's filter answered the guard's call: what it was
		// to reserve may be free.
		t.failClosed(tk, fmt.Sprintf("the guard's %v returned %#x: a seccomp filter of the program's answered it", c, ret))
		return
	}
	if inj.next(inj.i, ret) {
		if tk.inj == nil {
			return // next killed the process (fail closed)
		}
		t.endInjection(tk)
		return
	}
	inj.i++
	if inj.i >= len(inj.calls) {
		t.endInjection(tk)
		return
	}
	t.runCurrent(tk)
}

func (t *tracer) endInjection(tk *task) {
	inj := tk.inj
	tk.inj = nil
	if tk.sp != nil && tk.sp.guard != nil {
		// The guard's calls for this task are done: what they reserved
		// again may go back to the pool (see rewrite.Guard.Settle).
		tk.sp.guard.Settle(tk.tid)
	}
	if err := t.restoreTask(tk, inj); err != nil {
		t.lost(tk, err)
		return
	}
	t.emit(tk, inj.final, true)
	if tk.handoff {
		// The first program, guarded now: over to PTRACE_SEIZE.
		tk.handoff = false
		if t.cfg.SignalsReady != nil {
			<-t.cfg.SignalsReady
		}
		t.handOver(tk)
		return
	}
	t.sendDeferred(tk) // before it runs: see sendDeferred
	t.resume(tk, cont, 0)
}

// restoreTask puts a task that ran the guard's calls back as it was for
// the program: its seccomp filters on again, the instruction written at
// insn gone, and its registers, with rax the result it gets.
func (t *tracer) restoreTask(tk *task, inj *injection) error {
	if inj.suspended {
		// Before anything of the program's runs.
		if err := t.suspendSeccomp(tk, false); err != nil {
			return err
		}
		inj.suspended = false
	}
	if inj.poked {
		if err := poke(tk.tid, inj.insn, inj.orig[:]); err != nil {
			return err
		}
		inj.poked = false
	}
	regs := inj.saved
	regs.Rax = inj.final
	return setRegs(tk.tid, &regs)
}

// extraCall is a call injected after the reservations (the code page,
// the filter). done is told its result and returns false if it killed
// the process.
type extraCall struct {
	call rewrite.Call
	done func(ret uint64) bool
}

// startInjection runs guard-made calls (reservations) in a task stopped
// at an event, not in a call of its own. atExec, at an exec event, the
// syscall instruction is written over the new program's entry point and
// restored afterwards; otherwise (a forked child's first stop) the task
// stands just after the instruction of its fork, which is used if it is
// the ABI's syscall instruction. The extra calls run after the
// reservations.
func (t *tracer) startInjection(tk *task, abi rewrite.ABI, calls []rewrite.Call, atExec bool, extra []extraCall) {
	t.inject(tk, abi, calls, atExec, false, extra)
}

// inject is startInjection; with blind (at an exec, see newProgram) a
// reservation that finds its range occupied reads the layout and
// reserves the free parts instead.
func (t *tracer) inject(tk *task, abi rewrite.ABI, calls []rewrite.Call, atExec, blind bool, extra []extraCall) {
	if len(calls) == 0 && len(extra) == 0 {
		// Nothing to reserve (an i386 program, all of whose guarded
		// ranges lie above 4 GiB): nothing to write either.
		t.resume(tk, cont, 0)
		return
	}
	poke := atExec
	inj := &injection{abi: abi, calls: calls}
	if err := getRegs(tk.tid, &inj.saved); err != nil {
		t.lost(tk, err)
		return
	}
	inj.insn = inj.saved.Rip - 2
	if !poke {
		// A forked child stands after its fork's instruction, which is
		// the syscall instruction of its ABI only if it forked through
		// that ABI's entry: a 64-bit process can fork through int $0x80
		// (the same length: the i386 numbers would run). Else write one.
		var prev [2]byte
		code := syscallInsn[abi]
		if err := peek(tk.tid, inj.insn, prev[:]); err != nil || prev != code {
			poke = true
		}
	}
	if poke {
		inj.insn = inj.saved.Rip
		if err := t.pokeSyscall(tk, inj); err != nil {
			// Nothing could be reserved: the program must not run.
			t.failClosed(tk, fmt.Sprintf("cannot run the reservation calls at %#x: %v%s", inj.insn, err, memoryRefusedHint(tk.tid, err)))
			return
		}
		// (The step's stop needs PTRACE_GET_SYSCALL_INFO to tell
		// the ABI of what ran.)
		inj.step = atExec && !noStep && !t.regsOnly && !forceRegs && stepSafe(tk.tid)
		inj.inExecve = inj.step && !tk.handoff
		if inj.step {
			stepInjections.Add(1)
		}
		if inj.step && !tk.handoff && !t.noSuspend && !noSuspend {
			// The filter is the program's now (inherited): its
			// seccomp stops for the guard's own calls are suspended
			// (see suspendSeccomp).
			switch err := t.suspendSeccomp(tk, true); {
			case err == nil:
				inj.suspended = true
				suspendedInjections.Add(1)
			case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL):
				t.noSuspend = true // (not CAP_SYS_ADMIN, or mmapguard itself under seccomp)
			default:
				t.lost(tk, err)
				return
			}
		}
	}
	inj.final = inj.saved.Rax
	if atExec {
		// At the exec event execve has not stored its result yet: the
		// program starts with 0 in rax, as execve returns.
		inj.final = 0
	}
	nres := len(calls)
	if len(extra) > 0 {
		inj.calls = calls[:nres:nres]
		for _, e := range extra {
			inj.calls = append(inj.calls, e.call)
		}
	}
	g := tk.sp.guard
	inj.next = func(i int, ret uint64) bool {
		c := inj.calls[i]
		if i >= nres {
			if !extra[i-nres].done(ret) {
				tk.inj = nil
				return true
			}
			return false
		}
		if e, failed := rewrite.Failed(abi, ret); failed && blind && e == rewrite.EEXIST {
			// Something is in this range: reserve around it.
			maps, err := region.ReadMaps(tk.tid)
			if err != nil {
				t.failClosed(tk, fmt.Sprintf("reading its maps at exec: %v", err))
				return true
			}
			r := region.Range{Start: c.Args[0], End: c.Args[0] + c.Args[1]}
			more, occupied := g.ReserveIn(abi, r, withStackRoom(tk.tid, maps, inj.saved.Rsp, g.Policy(), abi))
			if len(occupied) == 0 {
				// Nothing is there: the EEXIST was not the kernel's
				// (a seccomp filter of the program's answered for it).
				t.failClosed(tk, fmt.Sprintf("cannot reserve %v: EEXIST where its layout shows nothing", r))
				return true
			}
			if !t.occupiedAtExec(tk, occupied) {
				return true
			}
			rest := inj.calls[i+1:]
			inj.calls = append(append(append([]rewrite.Call{}, inj.calls[:i+1]...), more...), rest...)
			nres += len(more)
			return false
		}
		if e, failed := rewrite.Failed(abi, ret); failed && (e == rewrite.EPERM || e == rewrite.EACCES) {
			if r, ok := rewrite.IsReservation(c); ok && r.Start < mmapMinAddr() {
				// Below vm.mmap_min_addr only a task with
				// CAP_SYS_RAWIO may map, and the kernel places
				// nothing there of its own accord: the program can
				// no more map there than the guard can, and that part
				// stays the guard's in the model. The rest is
				// reserved with a call of its own.
				if r.End > mmapMinAddr() {
					d := c
					d.Args[0], d.Args[1] = mmapMinAddr(), r.End-mmapMinAddr()
					rest := inj.calls[i+1:]
					inj.calls = append(append(append([]rewrite.Call{}, inj.calls[:i+1]...), d), rest...)
					nres++
				}
				return false
			}
		}
		g.Injected(c, ret)
		if e, failed := rewrite.Failed(abi, ret); failed {
			r := region.Range{Start: c.Args[0], End: c.Args[0] + c.Args[1]}
			// EEXIST: a mapping is there, the program's, and nothing is
			// free; unless a filter of the program's forged it: the
			// layout says.
			if covered, err := coveredNow(tk.tid, r); e == rewrite.EEXIST && err == nil && covered {
				return false
			}
			if g.Policy().OverlapsProtected(r) {
				// A protected range the kernel is still free to use:
				// the program must not run. Killed while still stopped,
				// it dies before its first instruction.
				t.failClosed(tk, fmt.Sprintf("cannot reserve %v in a protected range: %v%s", r, errnoOf(abi, ret), asLimitHint(tk.pid, e)))
				return true
			}
			t.warnf("cannot reserve %v of the pool: %v; the pool is smaller", r, errnoOf(abi, ret))
		}
		return false
	}
	t.start(tk, inj, false)
}

// asLimitHint says why a reservation the kernel refused with ENOMEM
// failed when the process has an address-space limit (RLIMIT_AS,
// ulimit -v): reservations count against it with their whole size, so
// a limit below the protected ranges' size leaves the program unable to
// run under the guard at all, where natively it runs (docs/run.md).
func asLimitHint(pid int, e int) string {
	var lim unix.Rlimit
	if e != rewrite.ENOMEM || unix.Prlimit(pid, unix.RLIMIT_AS, nil, &lim) != nil || lim.Cur == unix.RLIM_INFINITY {
		return ""
	}
	return fmt.Sprintf(" (its address-space limit, ulimit -v, is %s, and the guard's reservations count "+
		"against it with their whole size: raise the limit by the size of the protected ranges, or protect less)",
		region.HumanSize(lim.Cur))
}

func (t *tracer) pokeSyscall(tk *task, inj *injection) error {
	if err := peek(tk.tid, inj.insn, inj.orig[:]); err != nil {
		return err
	}
	code := syscallInsn[inj.abi]
	if err := poke(tk.tid, inj.insn, code[:]); err != nil {
		return err
	}
	inj.poked = true
	return nil
}

// noStep makes exec injections run their calls with PTRACE_SYSCALL, as
// on kernels without PTRACE_GET_SYSCALL_INFO (tests).
var noStep = false

// noSuspend makes exec injections leave the program's seccomp filters
// on, as for a tracer without CAP_SYS_ADMIN (tests).
var noSuspend = false

// suspendedInjections counts the injections run with the program's
// filters suspended (tests).
var suspendedInjections atomic.Int64

// stepSafe reports whether a task that has just exec'd may run the
// guard's calls single-stepped: the kernel sends each step's SIGTRAP as
// a fault, forced, which unblocks SIGTRAP and makes it SIG_DFL where it
// was ignored, and merges with one already pending. Where SIGTRAP is
// blocked, ignored or pending (a parent's doing, kept across the exec:
// rare), the calls run with PTRACE_SYSCALL instead, which leaves all
// three as they were (the first form changed them: a program started
// with SIGTRAP ignored died of its own; found by the sixteenth session's
// hunt).
func stepSafe(tid int) bool {
	f, ok := procStatus(tid, "SigPnd", "ShdPnd", "SigBlk", "SigIgn")
	if !ok {
		return false
	}
	for _, v := range f {
		b, err := strconv.ParseUint(v, 16, 64)
		if err != nil || b&sigBit(syscall.SIGTRAP) != 0 {
			return false
		}
	}
	return true
}

// suspendSeccomp turns PTRACE_O_SUSPEND_SECCOMP on or off for a stopped
// task, with the options it has otherwise. At an exec the guard's
// calls, single-stepped and checked at each step (see injection), need
// no seccomp stop of their own, and the filter the program inherited
// traps each: with the filters suspended a call stops once, an exec
// four times instead of six. Only a tracer with CAP_SYS_ADMIN that is
// not itself under seccomp may set it (EPERM otherwise; EINVAL without
// CONFIG_CHECKPOINT_RESTORE). The injection turns it off before the
// program runs an instruction of its own, or the process dies.
func (t *tracer) suspendSeccomp(tk *task, on bool) error {
	opts := ptraceOptions
	if tk.exitOpt {
		opts = leaderOptions
	}
	if on {
		opts |= unix.PTRACE_O_SUSPEND_SECCOMP
	}
	return ptrace(unix.PTRACE_SETOPTIONS, tk.tid, 0, uintptr(opts))
}

// stepInjections counts the injections run with PTRACE_SINGLESTEP
// (tests).
var stepInjections atomic.Int64

func errnoOf(abi rewrite.ABI, ret uint64) error {
	if e, failed := rewrite.Failed(abi, ret); failed {
		return syscall.Errno(e)
	}
	return nil
}

// seccompStop decides on a trapped call and carries the decision out.
func (t *tracer) seccompStop(tk *task) {
	if inj := tk.inj; inj != nil {
		// One of our own calls, trapped on its way in: let it run, if
		// it is ours.
		if inj.running() {
			si, err := t.stopInfo(tk, true)
			if err != nil {
				t.lost(tk, err)
				return
			}
			if !t.checkInjected(tk, si) {
				return
			}
		}
		inj.entered = true
		if inj.step && inj.running() {
			t.resumeAs(tk, singleStep, 0) // out of the call, to its exit
			return
		}
		t.resume(tk, sysStep, 0)
		return
	}
	if t.holdForCode(tk) {
		return
	}
	si, err := t.stopInfo(tk, true)
	if err != nil {
		t.lost(tk, err)
		return
	}
	if len(tk.sp.fliers) > 0 && t.holdForFlights(tk, si) {
		return
	}
	t.res.Stops++
	if len(tk.tramps) > 0 && t.trampFailure(tk, si) {
		return
	}
	abi, ok := abiOf(si.arch)
	if !ok {
		// The filter kills unknown architectures before they get here;
		// fail closed if one does.
		_ = unix.Kill(tk.tid, unix.SIGKILL)
		return
	}
	if !t.regsOnly && !forceRegs && !seccomp.Code(si.retData).Valid() {
		// SECCOMP_RET_TRACE from a filter of the program's (or of
		// whatever started it), not the guard's: without a tracer the
		// kernel answers ENOSYS, and so does the guard, whatever its
		// own filter would have said (the program's, the newer, gave
		// its data, and the call may not run).
		t.refuse(tk, rewrite.Err(rewrite.ENOSYS))
		return
	}
	c := rewrite.Call{ABI: abi, Nr: si.nr, Args: si.args}
	if t.cfg.Place != nil && !t.placement(tk, &c, si.ip) {
		return // refused: a strict placement conflict
	}
	if installsFilter(abi, si.nr, si.args) {
		t.otherFilters = 1
	}
	if (t.regsOnly || forceRegs) && installsFilter(abi, si.nr, si.args) {
		// Without PTRACE_GET_SYSCALL_INFO the ABI of a call is read from
		// the filter's return data, which a filter of the program's
		// could forge: on such kernels the program may not add one.
		t.refuse(tk, rewrite.Err(rewrite.EPERM))
		return
	}
	t.fillMemory(tk, &c)
	g := tk.sp.guard
	who := rewrite.Caller{Task: tk.tid, Placed: t.cfg.Place != nil && tk.inSpan}
	var at *Attribution
	if t.attr != nil {
		at = t.attribute(tk, si)
		who.Owner = t.ownerCall(tk, si, &at)
	}
	a := g.Decide(c, who)
	if a.Warn != "" {
		t.warnf("%s", a.Warn)
	}
	if a.Outcome == rewrite.Denied && g.Policy().Strict && !t.strictWarned {
		// Once: a program that fails on it says nothing of why (ld.so
		// mapping a non-PIE image: "not a dynamic executable").
		t.strictWarned = true
		t.warnf("--strict refused %v in process %d with EPERM (%s); further refusals are not shown "+
			"(-o FILE logs each; --owner lets named code place there)", c, tk.pid, a.Why)
	}
	if g.Reservations() > t.mapLimit/4 {
		t.warnf("the program's mappings split the guard's reservations into over %d pieces, each a mapping "+
			"that counts against vm.max_map_count (%d): near it the program's mmap fails with ENOMEM; "+
			"raise it (sysctl vm.max_map_count) or protect less", t.mapLimit/4, t.mapLimit)
	}
	if t.cfg.Events != nil {
		tk.ev = &Event{Time: time.Now(), Pid: tk.pid, Tid: tk.tid, IP: si.ip, Call: c, Action: a,
			Caller: at, Owner: who.Owner, File: mappedFile(tk.tid, c)}
	}
	if a.Verdict == rewrite.Allow || a.Verdict == rewrite.Run {
		// The calls the kernel may run: the program's as it made it,
		// a rewrite's.
		prog := rewrite.Call{ABI: abi, Nr: si.nr, Args: si.args}
		run := prog
		if len(a.Steps) == 1 {
			run = a.Steps[0].Call
		}
		var take region.Range
		if a.Verdict == rewrite.Allow {
			take = takeSpan(c)
		}
		for _, st := range a.Steps {
			take = cover(take, takeSpan(st.Call))
		}
		t.fly(tk, actionSpan(c, a), true, take, prog, run)
	}
	if a.Hole {
		t.freezeFor(tk, func() { t.carryOut(tk, si, abi, a) })
		return
	}
	t.carryOut(tk, si, abi, a)
}

// carryOut does what the guard decided for the call a task is stopped in
// at a seccomp stop.
func (t *tracer) carryOut(tk *task, si syscallInfo, abi rewrite.ABI, a *rewrite.Action) {
	switch a.Verdict {
	case rewrite.Allow:
		if !a.Exit {
			if tk.ev != nil || tk.spanObj != nil {
				tk.inj = &injection{abi: abi, entered: true, observe: true}
				t.resume(tk, sysStep, 0)
				return
			}
			t.resume(tk, cont, 0)
			return
		}
		t.awaitResult(tk, abi, a)
	case rewrite.Return:
		t.emit(tk, a.Ret, true)
		t.refuse(tk, a.Ret)
	case rewrite.Run:
		if len(a.Steps) == 1 {
			t.rewriteInPlace(tk, si, abi, a)
			return
		}
		t.runAction(tk, abi, a)
	case rewrite.Kill:
		t.emit(tk, 0, false)
		_ = unix.Kill(tk.tid, unix.SIGKILL)
	}
}

// refuse skips the call a task is stopped in at a seccomp stop, with ret
// as its result.
func (t *tracer) refuse(tk *task, ret uint64) {
	// orig_rax -1 skips the call; rax is then its result. Two words
	// poked cost less than a GETREGS and a SETREGS.
	if err := pokeUser(tk.tid, offOrigRax, ^uint64(0)); err != nil {
		t.lost(tk, err)
		return
	}
	if err := pokeUser(tk.tid, offRax, ret); err != nil {
		t.lost(tk, err)
		return
	}
	t.resume(tk, cont, 0)
}

// mappedFile names the file a file-backed mmap maps, from the
// descriptor (as strace -y does); "" for anything else.
func mappedFile(tid int, c rewrite.Call) string {
	if c.Op() != rewrite.OpMmap || c.Args[3]&rewrite.MapAnonymous != 0 || int32(c.Args[4]) < 0 {
		return ""
	}
	p, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", tid, int32(c.Args[4])))
	if err != nil {
		return ""
	}
	return p
}

// sameIPCNamespace reports whether a task shares the tracer's System V
// IPC namespace.
func sameIPCNamespace(tid int) bool {
	self, err1 := os.Readlink("/proc/self/ns/ipc")
	other, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", tid))
	return err1 == nil && err2 == nil && self == other
}

// emit reports the event of the task's trapped call, if one is pending.
func (t *tracer) emit(tk *task, ret uint64, seen bool) {
	if seen {
		t.noteSpan(tk, ret)
	}
	tk.spanObj = nil
	ev := tk.ev
	if ev == nil {
		return
	}
	tk.ev = nil
	ev.Result, ev.Seen = ret, seen
	t.cfg.Events(*ev)
}

// fillMemory reads what a call keeps in memory (old_mmap's arguments)
// and looks up what the guard needs to know about a shared memory
// segment.
func (t *tracer) fillMemory(tk *task, c *rewrite.Call) {
	// The kernel uses the low 32 bits of an i386 call's registers, and
	// so does Decide: so must every lookup here.
	args := c.Args
	if c.ABI == rewrite.ABI32 {
		for i := range args {
			args[i] &= 0xffffffff
		}
	}
	switch c.Op() {
	case rewrite.OpOldMmap:
		var b [24]byte
		// Read as the kernel would for the program: a block it cannot
		// read (PROT_NONE, unmapped) is EFAULT.
		if peekAsProgram(tk.tid, args[0], b[:]) == nil {
			for i := range c.Mem {
				c.Mem[i] = uint64(uint32(b[4*i]) | uint32(b[4*i+1])<<8 | uint32(b[4*i+2])<<16 | uint32(b[4*i+3])<<24)
			}
			c.HaveMem = true
			c.HugePage, c.LateFail, c.BadFd = mmapFile(tk.tid, c.Mem[3], c.Mem[4])
			c.Arena = c.LateFail && c.Mem[3]&rewrite.MapAnonymous == 0 && bpfArena(tk.tid, c.Mem[4])
		}
	case rewrite.OpMmap:
		c.HugePage, c.LateFail, c.BadFd = mmapFile(tk.tid, args[3], args[4])
		// (A regular file, which an arena is not, leaves LateFail false.)
		c.Arena = c.LateFail && args[3]&rewrite.MapAnonymous == 0 && bpfArena(tk.tid, args[4])
	case rewrite.OpMremap:
		c.HugePage, c.OldAIO = hugePageAt(tk.tid, args[0], args[1])
	case rewrite.OpShmdt:
		c.ShmDetaches, c.ShmDetachesUnknown = shmDetaches(tk.tid, args[0])
	case rewrite.OpShmat, rewrite.OpIPC:
		if c.Op() == rewrite.OpIPC && args[0]&0xffff == ipcShmdt {
			c.ShmDetaches, c.ShmDetachesUnknown = shmDetaches(tk.tid, args[4])
			return
		}
		id := args[0]
		if c.Op() == rewrite.OpIPC {
			id = args[1]
		}
		// The id means something only in the program's IPC namespace;
		// looked up in another it could name another segment. Leave
		// the size unknown then, which the guard answers with EINVAL.
		if !sameIPCNamespace(tk.tid) {
			return
		}
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(int(int32(id)), unix.IPC_STAT, &d); err == nil {
			c.ShmSize = d.Segsz
		}
	}
}

// File system types (statfs's f_type) where the mmap method of a
// regular file fails only for MAP_SYNC (checked apart) or a file system
// shut down: ext2/3/4, XFS, Btrfs, tmpfs (memfds too). Not overlayfs: it
// hands the mapping to the file of the layer below, which can be of any
// file system (sysfs, whose attribute files fail with ENODEV after the
// unmap; FUSE with direct I/O; NFS), and an unprivileged program can
// mount one in a user namespace of its own; what the layers are cannot
// be told from the descriptor. hugetlbfs holds every huge page mapping's
// file (MAP_HUGETLB's too).
const (
	ext4Magic      = 0xef53
	xfsMagic       = 0x58465342
	btrfsMagic     = 0x9123683e
	tmpfsMagic     = 0x01021994
	hugetlbfsMagic = 0x958458f6
)

// mmapFile looks at what an mmap with these flags and descriptor maps
// (see rewrite.Call.HugePage and LateFail). huge is the huge page size:
// MAP_HUGETLB's size bits or the system's default for an anonymous
// mapping, the file system's block size for a file on hugetlbfs (a
// hugetlbfs file, a MFD_HUGETLB memfd). lateFail says the file's mmap
// method may fail after the kernel has unmapped the target: huge pages
// (none may be free), MAP_SYNC (refused where the file has no DAX), and
// anything but a regular file on a file system known not to fail so (a
// perf event, a device, FUSE, NFS, overlayfs), or a file that cannot be
// looked at. badFd says the descriptor is not open: the kernel refuses
// the call (EBADF) before anything else.
func mmapFile(tid int, flags, fd uint64) (huge uint64, lateFail, badFd bool) {
	if flags&rewrite.MapAnonymous != 0 {
		if flags&rewrite.MapHugetlb == 0 {
			return 0, false, false
		}
		if bits := flags >> rewrite.MapHugeShift & 0x3f; bits != 0 {
			return 1 << bits, true, false
		}
		return defaultHugePage(), true, false
	}
	if int32(fd) < 0 {
		return 0, false, true // the kernel refuses it before it unmaps anything
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", tid, int32(fd))
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return 0, false, true // no such descriptor: the kernel refuses the call
		}
		// Not allowed to look (a program that made itself not
		// dumpable, mmapguard not root): the size is unknown.
		return rewrite.HugeUnknown, true, false
	}
	if fs.Type == hugetlbfsMagic {
		return uint64(fs.Bsize), true, false
	}
	if flags&rewrite.MapType == rewrite.MapSharedValidate && flags&rewrite.MapSync != 0 {
		return 0, true, false
	}
	switch uint32(fs.Type) {
	case ext4Magic, xfsMagic, btrfsMagic, tmpfsMagic:
	default:
		return 0, true, false
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, true, false // a device (/dev/zero too), or gone meanwhile
	}
	return 0, false, false
}

// bpfArena reports whether descriptor fd of process tid is a BPF arena
// (BPF_MAP_TYPE_ARENA, Linux 6.9), whose mapping the kernel moves up to
// a 4 GiB line where it would cross one (see rewrite.ArenaLine).
func bpfArena(tid int, fd uint64) bool {
	if int32(fd) < 0 {
		return false
	}
	if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", tid, int32(fd))); err != nil || l != bpfMapName {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%d", tid, int32(fd)))
	if err != nil {
		// Not allowed to look (see mmapFile): it may be one.
		return true
	}
	return strings.Contains(string(b), "\nmap_type:\t33\n")
}

// bpfMapName is what /proc names a BPF map's descriptor and mappings.
const bpfMapName = "anon_inode:bpf-map"

// hugePageAt returns the huge page size of the mapping at addr in
// process tid (see rewrite.Call.HugePage), for an mremap of length
// bytes from addr: found through /proc/PID/map_files where mmapguard may
// follow those links (root), else by the mapping's name, which does not
// tell a memfd or a deleted file on hugetlbfs from others
// (rewrite.HugeUnknown for those, and where the layout cannot be read).
// aio says a mapping the call moves is an AIO ring, which the kernel
// unmaps itself at io_destroy.
//
// Since Linux 6.17 a move that keeps the length moves every mapping in
// the old range, each on its own: a hugetlb mapping after the first is
// rounded up to its huge pages where the guard counted the pages asked
// for, and moved back out it left a hole the guard did not know of
// (twelfth session). So every mapping in the range is looked at: one of
// huge pages that is not alone in it makes the size HugeUnknown (the
// guard then refuses the call next to a guarded range, as for a file it
// cannot tell), and a ring anywhere in it is aio.
func hugePageAt(tid int, addr, length uint64) (size uint64, aio bool) {
	maps, err := region.ReadMaps(tid)
	if err != nil {
		return rewrite.HugeUnknown, false
	}
	end := satAdd(addr, max(length, 1))
	pieces, huge := 0, false
	for _, m := range maps {
		if m.End <= addr || m.Start >= end {
			continue
		}
		pieces++
		if m.Path == "/[aio] (deleted)" {
			aio = true
			continue
		}
		h := mappingHugePage(tid, m)
		if m.Contains(addr) {
			size = h
		}
		huge = huge || h != 0
	}
	if pieces > 1 && huge {
		return rewrite.HugeUnknown, aio
	}
	return size, aio
}

// mappingHugePage is the huge page size of mapping m of process tid: 0
// for ordinary pages, rewrite.HugeUnknown where its file cannot be
// looked at (see hugePageAt).
func mappingHugePage(tid int, m region.Mapping) uint64 {
	if m.Inode == 0 {
		return 0 // anonymous memory (huge pages are always a file's)
	}
	var st unix.Statfs_t
	err := unix.Statfs(fmt.Sprintf("/proc/%d/map_files/%x-%x", tid, m.Start, m.End), &st)
	if err != nil && !strings.HasSuffix(m.Path, " (deleted)") && strings.HasPrefix(m.Path, "/") {
		err = unix.Statfs(fmt.Sprintf("/proc/%d/root%s", tid, m.Path), &st)
	}
	switch {
	case err == nil && st.Type == hugetlbfsMagic:
		return uint64(st.Bsize)
	case err == nil:
		return 0
	}
	return rewrite.HugeUnknown
}

// defaultHugePage is the system's default huge page size
// (Hugepagesize in /proc/meminfo), read once.
var defaultHugePage = sync.OnceValue(func() uint64 {
	b, err := procfile.Read("/proc/meminfo")
	if err != nil {
		return rewrite.HugeUnknown
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Hugepagesize:"); ok {
			f := strings.Fields(v)
			if n, err := strconv.ParseUint(f[0], 10, 64); err == nil && len(f) == 2 && f[1] == "kB" && n > 0 {
				return n << 10
			}
		}
	}
	return rewrite.HugeUnknown
})

// ipcShmdt is the ipc(2) call number of shmdt (i386).
const ipcShmdt = 22

// shmDetaches finds, in the layout of process pid, what shmdt(addr)
// would detach, by the kernel's rule (ipc/shm.c): the first System V
// shared memory mapping at or above addr whose offset in its segment is
// its distance from addr names the segment, and every mapping of that
// segment placed so goes. Such mappings are named /SYSV<key> (deleted)
// in /proc/PID/maps and live on the kernel's own file systems (see
// sysvShmDevs: a file of the program's with that name is not one); a
// segment is told by its device and inode (its id). unknown says the
// layout could not be read, or those file systems not learnt.
func shmDetaches(pid int, addr uint64) (out []region.Range, unknown bool) {
	devs := sysvShmDevs()
	maps, err := region.ReadMaps(pid)
	if err != nil || devs == nil {
		return nil, true
	}
	var dev string
	var ino uint64
	for _, m := range maps {
		if m.Start < addr || !strings.HasPrefix(m.Path, "/SYSV") || !slices.Contains(devs, m.Dev) || m.Start-addr != m.Offset {
			continue
		}
		if out == nil {
			dev, ino = m.Dev, m.Inode
		} else if m.Dev != dev || m.Inode != ino {
			continue
		}
		out = append(out, m.Range)
	}
	return out, false
}

// sysvShmDevs returns the devices of the file systems the kernel keeps
// System V shared memory segments on (its internal tmpfs, and the
// internal hugetlbfs for SHM_HUGETLB segments, where it has huge
// pages), learnt once by attaching segments of mmapguard's own and
// looking at its own layout; nil if not even the first can be.
var sysvShmDevs = sync.OnceValue(func() []string {
	var devs []string
	const shmHugetlb, shmNoreserve, shmHugeShift = 0o4000, 0o10000, 26 // SHM_HUGETLB, SHM_NORESERVE, SHM_HUGE_SHIFT
	type probe struct{ size, flags int }
	probes := []probe{{int(region.PageSize), 0}}
	// Each huge page size has an internal hugetlbfs of its own.
	if ents, err := os.ReadDir("/sys/kernel/mm/hugepages"); err == nil {
		for _, e := range ents {
			kb, ok := strings.CutPrefix(e.Name(), "hugepages-")
			n, err := strconv.ParseUint(strings.TrimSuffix(kb, "kB"), 10, 64)
			if !ok || err != nil || n == 0 || n&(n-1) != 0 {
				continue
			}
			size := n << 10
			probes = append(probes, probe{int(size), shmHugetlb | shmNoreserve | bits.TrailingZeros64(size)<<shmHugeShift})
		}
	}
	for _, pr := range probes {
		size, flags := pr.size, pr.flags
		id, err := unix.SysvShmGet(unix.IPC_PRIVATE, size, unix.IPC_CREAT|0o600|flags)
		if err != nil {
			continue
		}
		b, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
		_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		if err != nil {
			continue
		}
		at := uint64(uintptr(unsafe.Pointer(&b[0])))
		if maps, err := region.ReadMaps(os.Getpid()); err == nil {
			for _, m := range maps {
				if m.Start == at {
					devs = append(devs, m.Dev)
				}
			}
		}
		_ = unix.SysvShmDetach(b)
	}
	if len(devs) == 0 {
		return nil
	}
	return devs
})

// awaitResult lets the call run and stops at its exit, where the guard
// learns the result (Complete) and may want reservations put back.
func (t *tracer) awaitResult(tk *task, abi rewrite.ABI, a *rewrite.Action) {
	tk.inj = &injection{abi: abi, entered: true, await: a}
	t.resume(tk, sysStep, 0)
}

// verified checks, after a file mapping that asked for it (see
// rewrite.Action.Verify) succeeded, what another thread may have done
// by swapping its descriptor for one of huge pages between the tracer's
// look and the kernel's (a huge mapping is longer than its length
// says, by up to 1 GiB): that no mapping of huge pages covering its
// start reaches beyond what was decided into a guarded range, and that
// none of the guard's reservations in protected ranges within reach is
// gone (such a mapping, moved on by yet another thread, takes them
// along). If either is not so, or the layout cannot be looked at, it
// fails closed and reports false. Other mappings of huge pages in
// reach are the program's own business.
func (t *tracer) verified(tk *task, abi rewrite.ABI, a *rewrite.Action, ret uint64) bool {
	if a.Verify.Empty() {
		return true
	}
	if _, failed := rewrite.Failed(abi, ret); failed {
		return true
	}
	v := a.Verify
	if c := a.Call(); c.Op() == rewrite.OpMmap && c.Args[3]&(rewrite.MapFixed|rewrite.MapFixedNoReplace) != 0 && ret != v.Start {
		// A fixed mapping returns its address. Elsewhere, it was a
		// BPF arena's the kernel moved up to a 4 GiB line (a
		// descriptor swapped for an arena after the tracer's look),
		// or an arena's decided at the line that was swapped for
		// another file: the guard decided on another range than
		// the one the kernel mapped.
		t.failClosed(tk, fmt.Sprintf("the fixed file mapping decided at %v landed at %#x (a descriptor swapped for a BPF arena's, or from one)", v, ret))
		return false
	}
	window := region.Range{Start: v.Start, End: satAdd(v.End, hugeMax)}
	huge, err := hugeMappingsIn(tk.tid, window)
	if err != nil {
		t.failClosed(tk, fmt.Sprintf("cannot look at the layout after the file mapping at %v: %v", v, err))
		return false
	}
	g := tk.sp.guard
	for _, h := range huge {
		if h.Contains(v.Start) && h.End > v.End && g.Policy().OverlapsGuarded(region.Range{Start: v.End, End: h.End}) {
			t.failClosed(tk, fmt.Sprintf("huge pages at %v after the mapping decided at %v (a file descriptor swapped for one of huge pages, or a System V segment of huge pages)", h, v))
			return false
		}
	}
	if want := g.ProtectedReservations(window); len(want) > 0 {
		gone, err := uncovered(tk.tid, want, region.ReadMaps)
		if err == nil && !gone.Empty() {
			// maps, the cheap read, may show the middle of another
			// task's call (a move's target unmapped before the mapping
			// arrives: see layoutAfter): looked at again under the mmap
			// lock before the process is killed.
			gone, err = uncovered(tk.tid, want, region.ReadMapsLocked)
		}
		if err != nil {
			t.failClosed(tk, fmt.Sprintf("cannot read the layout after the file mapping at %v: %v", v, err))
			return false
		}
		if !gone.Empty() {
			t.failClosed(tk, fmt.Sprintf("part of the reservation at %v is gone after the file mapping at %v (a descriptor swapped for one of huge pages)", gone, v))
			return false
		}
	}
	return true
}

// uncovered returns the first of rs that the task's layout, as read
// returns it, does not cover, or the empty range.
func uncovered(tid int, rs []region.Range, read func(int) ([]region.Mapping, error)) (region.Range, error) {
	maps, err := read(tid)
	if err != nil {
		return region.Range{}, err
	}
	for _, r := range rs {
		if !coveredIn(maps, r, func(region.Mapping) bool { return true }) {
			return r, nil
		}
	}
	return region.Range{}, nil
}

// satAdd is a+b, or the largest address if that overflows.
func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

// hugeMax is the largest huge page on x86-64.
const hugeMax = 1 << 30

// hugeMappingsIn returns the mappings of huge pages that overlap window
// in process tid: through PROCMAP_QUERY, or on kernels before 6.11 from
// /proc/PID/smaps.
func hugeMappingsIn(tid int, window region.Range) ([]region.Range, error) {
	f, err := plainfile.Open(fmt.Sprintf("/proc/%d/maps", tid))
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []region.Range
	for addr, n := window.Start, 0; addr < window.End; n++ {
		if n == 1<<16 {
			return nil, fmt.Errorf("more than %d mappings in %v", n, window)
		}
		q := procmapQuery{Size: uint64(unsafe.Sizeof(procmapQuery{})), QueryFlags: procmapQueryCoveringOrNext, QueryAddr: addr}
		_, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), procmapQueryIoctl, uintptr(unsafe.Pointer(&q)))
		switch e {
		case 0:
		case unix.ENOENT:
			return out, nil // nothing more above addr
		case unix.ENOTTY, unix.EINVAL:
			return smapsHugeIn(tid, window)
		default:
			return nil, e
		}
		if q.VMAStart >= window.End || q.VMAEnd <= addr {
			break
		}
		if q.VMAPageSize > region.PageSize {
			out = append(out, region.Range{Start: q.VMAStart, End: q.VMAEnd})
		}
		addr = q.VMAEnd
	}
	return out, nil
}

// smapsHugeIn is hugeMappingsIn from /proc/PID/smaps.
func smapsHugeIn(tid int, window region.Range) ([]region.Range, error) {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/smaps", tid))
	if err != nil {
		return nil, err
	}
	var out []region.Range
	var cur region.Range
	for l := range strings.SplitSeq(string(b), "\n") {
		if m, err := region.ParseMapsLine(l); err == nil {
			cur = m.Range
			continue
		}
		if v, ok := strings.CutPrefix(l, "KernelPageSize:"); ok && cur.Overlaps(window) {
			f := strings.Fields(v)
			if n, err := strconv.ParseUint(f[0], 10, 64); err == nil && len(f) == 2 && n<<10 > region.PageSize {
				out = append(out, cur)
			}
		}
	}
	return out, nil
}

// procmapQuery is struct procmap_query (linux/fs.h, Linux 6.11), the
// argument of the PROCMAP_QUERY ioctl on /proc/PID/maps.
type procmapQuery struct {
	Size, QueryFlags, QueryAddr                               uint64
	VMAStart, VMAEnd, VMAFlags, VMAPageSize, VMAOffset, Inode uint64
	DevMajor, DevMinor, VMANameSize, BuildIDSize              uint32
	VMANameAddr, BuildIDAddr                                  uint64
}

// procmapQueryIoctl is PROCMAP_QUERY: _IOWR('f', 17, struct procmap_query);
// procmapQueryCoveringOrNext is PROCMAP_QUERY_COVERING_OR_NEXT_VMA.
const (
	procmapQueryIoctl          = 0xc0686611
	procmapQueryCoveringOrNext = 0x10
)

// layoutAfter reads the layout after a call whose action asks for it
// (rewrite.Action.Rescan, or RescanFailed and the call failed), before
// Complete: rescan says it did, and gaps are the parts of the guarded
// ranges nothing maps. After a failed length-keeping MREMAP_FIXED it
// also tells the guard how much of the old range the kernel moved
// before it failed (rewrite.Guard.MovedPart): the mappings before the
// first one still in the old range, which had no holes (the guard sees
// to that before a move into a guarded range). ran says the move itself
// ran (not only a step before it that failed).
func (t *tracer) layoutAfter(tid int, g *rewrite.Guard, a *rewrite.Action, ret uint64, ran bool) (gaps []region.Range, rescan bool, err error) {
	c := a.Call()
	_, failed := rewrite.Failed(c.ABI, ret)
	if !a.Rescan && !(a.RescanFailed && failed) {
		return nil, false, nil
	}
	// Read under the mmap lock: the other tasks are not always held
	// (a failed MREMAP_DONTUNMAP within the guarded ranges), and since
	// Linux 6.17 maps shows the target of another task's MREMAP_FIXED
	// free in the middle of its move, which Refill then took for a gap
	// of its own: its reservation found the moved mapping there (EEXIST)
	// and the process was killed (testdata/midmove.c).
	maps, err := region.ReadMapsLocked(tid)
	if err != nil {
		return nil, false, err
	}
	if failed && ran && c.Op() == rewrite.OpMremap {
		old, n, dst := c.Args[0], c.Args[1], c.Args[4]
		if c.ABI == rewrite.ABI32 {
			old, n, dst = uint64(uint32(old)), uint64(uint32(n)), uint64(uint32(dst))
		}
		if src, ok := region.Span(old, n); ok {
			if c.Args[3]&rewrite.MremapDontUnmap != 0 {
				g.MovedPart(a, arrived(maps, src, dst))
			} else {
				moved := src.Len()
				for _, m := range maps {
					if m.Overlaps(src) {
						moved = max(m.Start, src.Start) - src.Start
						break
					}
				}
				g.MovedPart(a, moved)
			}
		}
	}
	return gapsIn(t.cfg.Policy.Guarded(), maps), true, nil
}

// arrived tells how much of src a failed MREMAP_FIXED with
// MREMAP_DONTUNMAP moved to dst before it failed. Such a move leaves the
// old mappings in place, emptied, so only the target tells: the kernel
// unmapped it whole, then moved the old range's mappings there one by
// one, so what it moved is the start of the target that holds, offset
// for offset, mappings like the old range's (the same permissions, the
// same file). A mapping there that looks like the guard's reservation
// ends it: the call may have failed before the kernel unmapped the
// target, and a PROT_NONE mapping of the program's that did arrive is
// then given up to the reservation put back (its pages lost, as before;
// never a reservation taken for the program's).
func arrived(maps []region.Mapping, src region.Range, dst uint64) uint64 {
	at := func(addr uint64) (region.Mapping, bool) {
		i := sort.Search(len(maps), func(i int) bool { return maps[i].End > addr })
		if i < len(maps) && maps[i].Start <= addr {
			return maps[i], true
		}
		return region.Mapping{}, false
	}
	var off uint64
	for off < src.Len() {
		s, ok1 := at(src.Start + off)
		d, ok2 := at(dst + off)
		if !ok1 || !ok2 || rewrite.LooksReserved(d) || d.Perms != s.Perms || d.Inode != s.Inode || d.Dev != s.Dev {
			break
		}
		off = min(s.End-src.Start, d.End-dst, src.Len())
	}
	return off
}

// gapsIn returns the parts of ranges no mapping of maps covers.
func gapsIn(ranges []region.Range, maps []region.Mapping) []region.Range {
	var gaps region.Set
	for _, r := range ranges {
		gaps.Add(r)
	}
	for _, m := range maps {
		gaps.Remove(m.Range)
	}
	return gaps.Ranges()
}

// completeAwaited handles the exit stop of a call run by awaitResult.
func (t *tracer) completeAwaited(tk *task, ret uint64) {
	inj := tk.inj
	g := tk.sp.guard
	if !t.verified(tk, inj.abi, inj.await, ret) {
		return
	}
	gaps, rescan, err := t.layoutAfter(tk.tid, g, inj.await, ret, true)
	if err != nil {
		t.failClosed(tk, fmt.Sprintf("cannot read the layout after %v: %v", inj.await.Call(), err))
		return
	}
	fix := g.Complete(inj.await, ret)
	if rescan {
		fix.After = append(fix.After, g.Refill(tk.tid, inj.abi, rewrite.Unplanned(gaps, fix.After))...)
	}
	if len(fix.After) == 0 {
		tk.inj = nil
		t.emit(tk, ret, true)
		t.resume(tk, cont, 0)
		return
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return
	}
	t.runAfter(tk, inj.abi, regs, regs.Rip-2, regs.Rax, fix.After)
}

// runAfter runs the After calls of a call's Fix (reservations put back)
// in a task stopped just after that call, from the syscall instruction
// at insn, and then lets it go on with regs and final as the call's
// result.
func (t *tracer) runAfter(tk *task, abi rewrite.ABI, regs unix.PtraceRegs, insn, final uint64, after []rewrite.Call, extra ...extraCall) {
	n := len(after)
	calls := after[:n:n]
	for _, e := range extra {
		calls = append(calls, e.call)
	}
	for _, c := range after {
		t.fly(tk, flightSpan(c), false, region.Range{})
	}
	inj := &injection{abi: abi, saved: regs, insn: insn, final: final, calls: calls}
	inj.next = func(i int, r uint64) bool {
		if i >= n {
			if !extra[i-n].done(r) {
				tk.inj = nil
				return true
			}
			return false
		}
		return t.putBack(tk, abi, inj.calls[i], r)
	}
	tk.inj = inj
	t.runCurrent(tk)
}

// injected records the result of a call of the guard's that a task ran
// for a call of its own (Injected). A reservation that failed changed
// nothing in the kernel, yet the model gives up all of its range, the
// parts that were the guard's before it too: the layout, read now, gives
// those back (Kept). Before, a munmap over a page of the program's and
// the reservation beside it, rewritten into one reservation that failed
// (EAGAIN under mlockall(MCL_FUTURE) and a small RLIMIT_MEMLOCK, or the
// program's own seccomp filter's answer), left the guard's reservation to
// the program, whose mprotect then made it read-write, with --strict too
// (found in the thirteenth session). It returns false if the task was
// killed instead, its layout unreadable.
func (t *tracer) injected(tk *task, c rewrite.Call, ret uint64) bool {
	g := tk.sp.guard
	g.Injected(c, ret)
	r, ok := rewrite.IsReservation(c)
	if _, failed := rewrite.Failed(c.ABI, ret); !ok || !failed {
		return true
	}
	maps, err := region.ReadMapsLocked(tk.tid) // (not the middle of another task's call: see layoutAfter)
	if err != nil {
		t.failClosed(tk, fmt.Sprintf("cannot read the layout after a failed reservation of %v: %v", r, err))
		return false
	}
	g.Kept(r, maps)
	return true
}

// putBack tells the guard the result of a reservation it put back after
// a call. One that failed over a protected range may leave part of it
// free for the kernel to hand out: a mapping moved out while RLIMIT_AS
// (or RLIMIT_MEMLOCK under mlockall) leaves no room to reserve its old
// place. Then the process is killed (fail closed), and putBack reports
// true. Often nothing was freed, though: a MAP_FIXED of the program's
// refused by the same limit left the reservation in place, and EEXIST
// says a mapping is there (unless a seccomp filter of the program's
// forged it); the layout says which.
//
// Below vm.mmap_min_addr a reservation refused with EPERM (or EACCES,
// an LSM's answer) is no hole, as at an exec (see inject): only a task
// with CAP_SYS_RAWIO may map there, which this one is not, and the
// kernel places nothing there of its own accord; that part stays the
// guard's in the model, and only the rest must still be covered. A
// program that gave up root and exec'd under a range starting at 0 was
// killed after its own MAP_FIXED at 0 failed with EPERM, as natively.
// (A task that has the capability got its EPERM elsewhere, a seccomp
// filter of the program's, say: that is looked at as any failure.)
func (t *tracer) putBack(tk *task, abi rewrite.ABI, c rewrite.Call, ret uint64) bool {
	g := tk.sp.guard
	e, failed := rewrite.Failed(abi, ret)
	if failed && (e == rewrite.EPERM || e == rewrite.EACCES) {
		if r, ok := rewrite.IsReservation(c); ok && r.Start < mmapMinAddr() && !hasCap(tk.tid, unix.CAP_SYS_RAWIO) {
			if r.End <= mmapMinAddr() {
				return false
			}
			c.Args[0], c.Args[1] = mmapMinAddr(), r.End-mmapMinAddr()
		}
	}
	g.Injected(c, ret)
	if !failed {
		return false
	}
	r := region.Range{Start: c.Args[0], End: c.Args[0] + c.Args[1]}
	maps, err := region.ReadMapsLocked(tk.tid) // (not the middle of another task's call: see layoutAfter)
	if err == nil && coveredIn(maps, r, func(region.Mapping) bool { return true }) {
		// What covers it may be the reservation itself, which the
		// failed call left in place (a rollback refused by the limit
		// that refused the program's call): the guard's still.
		// Anything else in a protected range arrived while the range
		// was free, since the call before (the other tasks held or
		// not: a task asleep in the kernel that a freeze went on
		// without, woken meanwhile, grows a MAP_GROWSDOWN mapping
		// above the hole into it when its call writes there): nobody
		// asked for it there.
		if m, ok := intruder(maps, r, g); ok {
			t.failClosed(tk, fmt.Sprintf("cannot put back the reservation of %v in a protected range: %v; %v arrived there meanwhile",
				r, syscall.Errno(e), fmtMapping(m)))
			return true
		}
		g.Kept(r, maps)
		return false
	}
	if !g.Policy().OverlapsProtected(r) {
		return false
	}
	t.failClosed(tk, fmt.Sprintf("cannot put back the reservation of %v in a protected range: %v", r, syscall.Errno(e)))
	return true
}

// intruder returns a mapping in maps, inside r and a protected range,
// that does not look like one of the guard's reservations (nor is its
// code page): a put-back reservation found it there.
func intruder(maps []region.Mapping, r region.Range, g *rewrite.Guard) (region.Mapping, bool) {
	code := g.Code()
	for _, m := range maps {
		in := m.Intersect(r)
		if in.Empty() || rewrite.LooksReserved(m) || !g.Policy().OverlapsProtected(in) {
			continue
		}
		if !code.Empty() && code.ContainsRange(in) {
			continue
		}
		return m, true
	}
	return region.Mapping{}, false
}

// coveredNow reports whether r is covered by mappings, whatever they are,
// in the task's layout.
func coveredNow(tid int, r region.Range) (bool, error) {
	return coveredBy(tid, r, func(region.Mapping) bool { return true })
}

// coveredBy reports whether r is covered by mappings that all pass ok in
// the task's layout, read under the mmap lock (not the middle of another
// task's call: see layoutAfter).
func coveredBy(tid int, r region.Range, ok func(region.Mapping) bool) (bool, error) {
	maps, err := region.ReadMapsLocked(tid)
	if err != nil {
		return false, err
	}
	return coveredIn(maps, r, ok), nil
}

// coveredIn reports whether r is covered by mappings of maps (sorted, as
// read) for which ok holds.
func coveredIn(maps []region.Mapping, r region.Range, ok func(region.Mapping) bool) bool {
	pos := r.Start
	for _, m := range maps {
		if m.End <= pos || m.Start > pos {
			continue
		}
		if !ok(m) {
			return false
		}
		pos = m.End
		if pos >= r.End {
			return true
		}
	}
	return false
}

// runAction carries out a Run action: its steps in order, the first in
// place of the stopped call, with Undo on failure and Complete at the
// end.
func (t *tracer) runAction(tk *task, abi rewrite.ABI, a *rewrite.Action) {
	g := tk.sp.guard
	inj := &injection{abi: abi}
	if err := getRegs(tk.tid, &inj.saved); err != nil {
		t.lost(tk, err)
		return
	}
	inj.insn = inj.saved.Rip - 2
	steps := a.Steps
	for _, s := range steps {
		inj.calls = append(inj.calls, s.Call)
	}
	phase := 0 // 0: steps, 1: undo, 2: after
	var result uint64
	at := 0 // the step whose result is result
	finish := func() bool {
		inj.final = result
		if !a.Exit {
			return true
		}
		if !t.verified(tk, inj.abi, a, result) {
			return true // the process is being killed
		}
		gaps, rescan, err := t.layoutAfter(tk.tid, g, a, result, steps[at].Call.Op() == a.Call().Op())
		if err != nil {
			t.failClosed(tk, fmt.Sprintf("cannot read the layout after %v: %v", a.Call(), err))
			return true
		}
		fix := g.Complete(a, result)
		if rescan {
			fix.After = append(fix.After, g.Refill(tk.tid, inj.abi, rewrite.Unplanned(gaps, fix.After))...)
		}
		if len(fix.After) == 0 {
			return true
		}
		phase = 2
		// Run the After calls next: they replace the queue.
		inj.calls = append(inj.calls[:inj.i+1], fix.After...)
		return false
	}
	inj.next = func(i int, ret uint64) bool {
		switch phase {
		case 0:
			if !t.injected(tk, inj.calls[i], ret) {
				return true
			}
			_, failed := rewrite.Failed(abi, ret)
			at = i
			if steps[i].OrElse {
				if failed {
					return false // the next step instead
				}
				result = ret
				return finish()
			}
			tolerated := steps[i].Tolerate || steps[i].Continue != 0 && ret == steps[i].Continue
			if failed && !tolerated {
				result = ret
				if steps[i].FailRet != 0 {
					result = steps[i].FailRet
				}
				var undo []rewrite.Call
				for j := i - 1; j >= 0; j-- {
					undo = append(undo, steps[j].Undo...)
				}
				if len(undo) > 0 {
					phase = 1
					inj.calls = append(inj.calls[:i+1], undo...)
					return false
				}
				return finish()
			}
			if i == len(steps)-1 {
				result = ret
				if a.FixRet && (!failed || tolerated) {
					result = a.Ret
				}
				return finish()
			}
			return false
		case 1:
			if i == len(inj.calls)-1 {
				return finish()
			}
			return false
		default:
			return t.putBack(tk, abi, inj.calls[i], ret)
		}
	}
	inj.final = inj.saved.Rax
	t.start(tk, inj, true)
}

// rewriteInPlace runs a one-step action as the stopped call itself: its
// number and arguments are changed at the seccomp stop (one
// PTRACE_SET_SYSCALL_INFO where the kernel has it), and at the exit stop
// finishInPlace puts the registers back.
func (t *tracer) rewriteInPlace(tk *task, si syscallInfo, abi rewrite.ABI, a *rewrite.Action) {
	if t.oneStop(tk, si, abi, a) {
		return
	}
	c := a.Steps[0].Call
	tk.inj = &injection{abi: abi, entered: true,
		inPlace: &inPlace{action: a, origNr: si.nr, origArgs: si.args, call: c, wantCode: wantsCode(tk, si.nr, abi, a)}}
	if err := t.setCall(tk, si, c); err != nil {
		t.lost(tk, err)
		return
	}
	t.resume(tk, sysStep, 0)
}

// setCall replaces the call a task is stopped in at a seccomp stop.
func (t *tracer) setCall(tk *task, si syscallInfo, c rewrite.Call) error {
	if !t.noSetInfo && !forceRegs {
		err := setSyscallInfo(tk.tid, si, c.Nr, c.Args)
		if err == nil || errors.Is(err, unix.ESRCH) {
			return err
		}
		// Older kernels (before 6.16) do not know the request.
		t.noSetInfo = true
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		return err
	}
	rax := regs.Rax
	loadCall(&regs, c)
	regs.Rax = rax
	return setRegs(tk.tid, &regs)
}

// finishInPlace handles the exit stop of a call rewritten in place. The
// argument registers are put back as the program left them (both system
// call conventions preserve them, and compiled code may rely on it), the
// result is fixed if the action says so, and the guard learns it.
func (t *tracer) finishInPlace(tk *task) {
	inj := tk.inj
	ip := inj.inPlace
	a := ip.action
	g := tk.sp.guard
	var ret, final uint64
	var fix rewrite.Fix
	read := a.Exit || a.FixRet || tk.ev != nil || tk.spanObj != nil
	if read {
		// Only then does the result matter here.
		var err error
		if ret, err = peekUser(tk.tid, offRax); err != nil {
			t.lost(tk, err)
			return
		}
		final = ret
		if _, failed := rewrite.Failed(inj.abi, ret); !failed && a.FixRet {
			final = a.Ret
		}
		if ip.call.Forged(ret) {
			t.failClosed(tk, fmt.Sprintf("the guard's %v returned %#x: a seccomp filter of the program's answered it", ip.call, ret))
			return
		}
		if !t.injected(tk, ip.call, ret) {
			return
		}
		if a.Exit && t.verified(tk, inj.abi, a, final) {
			fix = g.Complete(a, final)
		}
	}
	if err := t.restoreRegs(tk, inj.abi, ip, ret, final); err != nil {
		t.lost(tk, err)
		return
	}
	var extra []extraCall
	if ip.wantCode && wantsCode(tk, ip.origNr, inj.abi, a) {
		extra = append(extra, t.codeCall(tk))
	}
	if len(fix.After) == 0 && len(extra) == 0 {
		tk.inj = nil
		g.Settle(tk.tid)
		t.emit(tk, final, true)
		t.resume(tk, cont, 0)
		return
	}
	// Reservations to put back, or the code page to map: run them from
	// here, then return final.
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return
	}
	if !read {
		final = regs.Rax // the call's own result, unread so far
	}
	t.runAfter(tk, inj.abi, regs, regs.Rip-2, final, fix.After, extra...)
}

// restoreRegs puts back, at the exit of a call rewritten in place, the
// registers the rewrite changed (arguments, orig_rax) and sets the result
// when it differs from the call's. One or two words are poked
// (PTRACE_POKEUSER); for more, a GETREGS and a SETREGS are fewer requests.
func (t *tracer) restoreRegs(tk *task, abi rewrite.ABI, ip *inPlace, ret, final uint64) error {
	offs := argOffsets[abi]
	type word struct {
		off uintptr
		v   uint64
	}
	var words [8]word
	n := 0
	for i, v := range ip.origArgs {
		if v != ip.call.Args[i] {
			words[n] = word{offs[i], v}
			n++
		}
	}
	if ip.origNr != ip.call.Nr {
		words[n] = word{offOrigRax, ip.origNr}
		n++
	}
	if final != ret {
		words[n] = word{offRax, final}
		n++
	}
	if n <= 2 {
		for _, w := range words[:n] {
			if err := pokeUser(tk.tid, w.off, w.v); err != nil {
				return err
			}
		}
		return nil
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		return err
	}
	for i := range ip.origArgs {
		setArg(&regs, abi, i, ip.origArgs[i])
	}
	regs.Orig_rax = ip.origNr
	if final != ret {
		// Otherwise rax holds the call's result, which the caller may
		// not have read (ret and final are then both 0).
		regs.Rax = final
	}
	return setRegs(tk.tid, &regs)
}

// hasCap reports whether task tid has capability c in its effective set
// (true where that cannot be read: the cautious answer for its callers).
func hasCap(tid int, c uint) bool {
	f, ok := procStatus(tid, "CapEff")
	if !ok {
		return true
	}
	set, err := strconv.ParseUint(f[0], 16, 64)
	return err != nil || set&(1<<c) != 0
}

// mmapMinAddr is vm.mmap_min_addr: the kernel maps nothing below it
// unless a task with CAP_SYS_RAWIO asks for it there (65536 where the
// file cannot be read, the usual value).
var mmapMinAddr = sync.OnceValue(func() uint64 {
	b, err := procfile.Read("/proc/sys/vm/mmap_min_addr")
	if err != nil {
		return 1 << 16
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 1 << 16
	}
	if up, ok := region.PageUp(v); ok {
		return up
	}
	return v
})

// fmtMapping describes a mapping as /proc/PID/maps shows it, in short.
func fmtMapping(m region.Mapping) string {
	s := fmt.Sprintf("%v %s", m.Range, m.Perms)
	if m.Path != "" {
		s += " " + m.Path
	}
	return s
}
