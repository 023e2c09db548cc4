package trace

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/procfile"
)

// A freeze keeps every other task of an address space stopped while one
// task runs a call that frees part of a guarded range (rewrite.Action's
// Hole: a mapping moved out by mremap, a heap shrinking out, a shmdt
// across a range's edge) and until the reservation is back over it.
// Without it, another thread's mapping call that the filter lets through
// (MAP_32BIT, a NULL hint once the top of memory is full) could land in
// the hole.
//
// The other tasks are stopped with PTRACE_INTERRUPT. The call runs only
// once each has reported a stop: one already in the kernel finishes its
// call first, which is fine, since the hole does not exist yet. Stops of
// frozen tasks are kept and handled, in order, once the reservation is
// back. A PTRACE_INTERRUPT that a task answered with another stop stays
// pending and shows up later as one more stop, which the event loop
// resumes.
//
// A task blocked in vfork (until its child execs or exits) cannot stop
// before that, and cannot run either: it is interrupted but not waited
// for. Nor, once freezeGrace has passed, is a task asleep in the kernel
// in a call that cannot place a mapping (see lookAtSleepers): a thread in
// a userfaultfd fault or a FUSE read that the holder itself is to serve
// would never stop. New tasks whose space is not known yet are kept until
// no space is frozen.
type freeze struct {
	holder  *task
	waiting map[int]bool // interrupted, not stopped yet
	started bool         // the holder's call is under way
	run     func()       // carries out the holder's action
	stashed []waitStop
}

// waitStop is one wait4 report kept for later.
type waitStop struct {
	tid int
	ws  unix.WaitStatus
}

// freezeFor stops the other tasks of tk's space, then runs run. If the
// space has no other task (and no new one on its way), run runs now.
func (t *tracer) freezeFor(tk *task, run func()) {
	sp := tk.sp
	fr := &freeze{holder: tk, waiting: map[int]bool{}, run: run}
	others := false
	for _, o := range t.tasks {
		if o == tk || o.sp != sp && o.sp != nil {
			continue
		}
		// A new task of the space (or of a space not known yet) whose
		// first stop is on its way or held: the freeze keeps that stop.
		// One held at its seccomp stop since the code page was mapped
		// (holdForCode) stands still too; its stop is kept likewise.
		others = true
		if o.sp == nil || o.born || o.held || o.codeHeld || o.flightHeld || o.exiting {
			// (An exiting task runs nothing of the program's any more: a
			// leader may stay a zombie until its threads are gone,
			// never to stop again.)
			continue
		}
		if err := t.interruptTask(o); err != nil {
			// Gone (its exit is on its way): nothing to wait for.
			continue
		}
		if !t.vforkBlocked(o) {
			fr.waiting[o.tid] = true
		}
	}
	if !others {
		run()
		return
	}
	sp.frozen = fr
	t.freezes++
	t.res.Freezes++
	if len(fr.waiting) == 0 {
		fr.started = true
		fr.run()
		return
	}
	if t.sleepersAt.IsZero() {
		t.sleepersAt = time.Now()
	}
}

// freezeGrace is how long a freeze waits for the tasks it interrupted
// before it looks at those that have not stopped (lookAtSleepers): a
// task on a CPU or runnable stops within microseconds; one that has not
// by then is usually asleep in the kernel. A variable for tests.
var freezeGrace = 2 * time.Millisecond

// lookAtSleepers lets each freeze that still waits go on without the
// tasks asleep in the kernel in a call that cannot place a mapping
// (/proc/TID/syscall: a call number not in mayPlace, or -1, a task
// asleep outside any call, in a page fault): one woken later stops
// before it runs any code of the program's again, at the
// PTRACE_INTERRUPT still pending, and can no more map anything
// meanwhile than a stopped one. A task a freeze waits for may be asleep
// for good until the holder has run (a thread whose userfaultfd fault,
// in MADV_POPULATE or a call's copy from user memory, the holder's
// thread serves; a FUSE server's read): the freeze would then never
// start. Tasks still running, or asleep in a call that may place a
// mapping (an mmap waiting for the lock), are waited for still, and
// looked at again after freezeGrace.
func (t *tracer) lookAtSleepers() {
	var ready []*freeze
	again := false
	for sp := range t.spaces {
		fr := sp.frozen
		if fr == nil || fr.started || len(fr.waiting) == 0 {
			continue
		}
		for tid := range fr.waiting {
			if asleepHarmless(tid) {
				delete(fr.waiting, tid)
			}
		}
		if len(fr.waiting) == 0 {
			ready = append(ready, fr)
		} else {
			again = true
		}
	}
	if again {
		t.sleepersAt = time.Now()
	}
	for _, fr := range ready {
		if !fr.started {
			fr.started = true
			fr.run()
		}
	}
}

// asleepHarmless reports whether a task is asleep in the kernel where it
// cannot place a mapping before it stops (see lookAtSleepers).
func asleepHarmless(tid int) bool {
	procReads.Add(1)
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/syscall", tid))
	if err != nil {
		return false // (gone: its exit is on its way, and ends the wait)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return false
	}
	nr, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return false // "running": on a CPU or about to be
	}
	if nr < 0 || !mayPlace[nr] {
		return true
	}
	// An mremap, fork or munmap whose work is done, waiting for a
	// userfaultfd monitor to read its event (UFFD_FEATURE_EVENT_REMAP,
	// _FORK, _UNMAP), with the mmap lock released: it places nothing
	// more before it stops. The monitor may be a thread the freeze has
	// stopped: the mover then waited for the freeze, and the freeze for
	// the mover, for good (a program whose thread moved a registered
	// mapping far from every range, while another mapped a device under
	// --pool-all; twelfth session).
	w, err := procfile.Read(fmt.Sprintf("/proc/%d/wchan", tid))
	return err == nil && strings.HasPrefix(string(w), "userfaultfd_event_wait_completion")
}

// mayPlace holds the numbers of the calls that may place a mapping where
// the kernel chooses, or copy or replace the address space, in either
// ABI (the file does not tell which: a number of one taken for the
// other's only makes a freeze wait as before): mmap, mremap, shmat, brk,
// io_setup (the AIO ring), arch_prctl (ARCH_MAP_VDSO, and a shadow stack
// with ARCH_SHSTK_ENABLE), map_shadow_stack, ioctl (drivers that map,
// i915's legacy GEM mmap), the fork family and exec.
var mayPlace = map[int64]bool{
	// x86-64
	9: true, 25: true, 30: true, 12: true, 206: true, 158: true, 453: true, 16: true,
	56: true, 57: true, 58: true, 435: true, 59: true, 322: true,
	// i386
	90: true, 192: true, 163: true, 117: true, 397: true, 45: true, 245: true, 384: true, 54: true,
	120: true, 2: true, 190: true, 11: true, 358: true,
}

// vforkBlocked reports whether a task waits in vfork (clone with
// CLONE_VFORK, memory shared or not) for a child that has not exec'd or
// exited yet.
func (t *tracer) vforkBlocked(tk *task) bool {
	return tk.vforkChild != 0 && t.tasks[tk.vforkChild] != nil
}

// stash keeps a stop that must wait for a freeze to end, and starts the
// holder's call once every task it waits for has stopped. It reports
// whether it kept the stop.
func (t *tracer) stash(tid int, ws unix.WaitStatus) bool {
	tk := t.tasks[tid]
	if ws.Exited() || ws.Signaled() {
		// Its kept stops are stale now.
		t.bornStash = dropStops(t.bornStash, tid)
		for sp := range t.spaces {
			if sp.frozen != nil {
				sp.frozen.stashed = dropStops(sp.frozen.stashed, tid)
			}
		}
		if tk != nil && tk.sp != nil && tk.sp.frozen != nil {
			t.stopped(tk.sp.frozen, tid)
		}
		return false
	}
	if !ws.Stopped() {
		return false
	}
	if tk == nil || tk.sp == nil {
		// A new task: its space is not known yet, and could be a frozen
		// one.
		t.bornStash = append(t.bornStash, waitStop{tid, ws})
		return true
	}
	fr := tk.sp.frozen
	if fr == nil || fr.holder == tk {
		return false
	}
	fr.stashed = append(fr.stashed, waitStop{tid, ws})
	t.stopped(fr, tid)
	return true
}

// stopped notes that a task a freeze waits for has stopped (or exited).
func (t *tracer) stopped(fr *freeze, tid int) {
	if !fr.waiting[tid] {
		return
	}
	delete(fr.waiting, tid)
	if len(fr.waiting) == 0 && !fr.started {
		fr.started = true
		t.sleepersDone()
		fr.run()
	}
}

// sleepersDone ends the wait for a look at sleepers (lookAtSleepers) once
// no freeze waits for a task any more. Until freezeGrace had passed the
// loop went on polling (WNOHANG and a pause when nothing was reported)
// through the holder's call and the calls that put the reservation
// back, a pause for each of their stops that had not come at once: a
// freeze with one other thread, asleep in pause(), cost 0.45 ms, and
// 0.1 ms after.
func (t *tracer) sleepersDone() {
	for sp := range t.spaces {
		if fr := sp.frozen; fr != nil && !fr.started && len(fr.waiting) > 0 {
			return
		}
	}
	t.sleepersAt = time.Time{}
}

// thawIfDone ends a freeze whose holder is done (its call and the After
// calls are over: no injection left) or gone, and handles the kept
// stops.
func (t *tracer) thawIfDone(sp *space) {
	fr := sp.frozen
	if fr == nil || !fr.started {
		if fr != nil && t.tasks[fr.holder.tid] != fr.holder {
			// The holder vanished before its call ran.
			fr.started = true
		} else {
			return
		}
	}
	if t.tasks[fr.holder.tid] == fr.holder && fr.holder.inj != nil {
		return
	}
	t.endFreeze(sp)
}

// endFreeze ends sp's freeze and handles the kept stops.
func (t *tracer) endFreeze(sp *space) {
	fr := sp.frozen
	sp.frozen = nil
	t.freezes--
	for _, s := range fr.stashed {
		t.handle(s.tid, s.ws)
	}
	if t.freezes == 0 && len(t.bornStash) > 0 {
		born := t.bornStash
		t.bornStash = nil
		for _, s := range born {
			t.handle(s.tid, s.ws)
		}
	}
	if t.freezes == 0 && t.settleDue {
		t.settleDue = false
		if t.nHeld > 0 {
			t.settleHeld()
		}
	}
}

// dropStops removes tid's stops from a list of kept stops.
func dropStops(l []waitStop, tid int) []waitStop {
	out := l[:0]
	for _, s := range l {
		if s.tid != tid {
			out = append(out, s)
		}
	}
	return out
}
