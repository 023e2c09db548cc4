package trace

import (
	"golang.org/x/sys/unix"
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
// for. New tasks whose space is not known yet are kept until no space is
// frozen.
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
		if err := interrupt(o.tid); err != nil {
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
	}
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
		fr.run()
	}
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
