package trace

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/procfile"
)

// orphanedGroup does for the tracer's process group what the kernel
// does for a process group that becomes orphaned with a stopped member:
// it sends each member SIGHUP, then SIGCONT (POSIX; Linux's
// kill_orphaned_pgrp). It runs when a traced process has ended.
//
// The first program starts in the tracer's process group. Without the
// tracer, that group stops being kept from orphanhood by the first
// program once it ends (its parent, a shell, is in another group of the
// same session); under the guard the tracer, whose parent is that shell,
// is still a member, waiting for the program's other processes, and
// keeps it from being orphaned. A background child the program left
// stopped (`sh -c 'sleep 100 & kill -STOP $!'`, a job stopped by
// SIGTTIN) then never got the kernel's SIGHUP and SIGCONT, stayed
// stopped, and the tracer waited for it for good: the terminal hung
// where the program natively returned at once. So once the first
// program has ended, the group is taken as orphaned when no traced
// member's parent is in another group of the session (the tracer itself
// not counted), and on the change to orphaned the stopped group gets
// the kernel's signals, from the tracer (SI_USER, where the kernel's
// come as SI_KERNEL).
//
// The look is made once the stops already waiting have been handled
// (the tracer's loop, orphanDue), not at the exit's report: wait4 reports
// the tracer's own children first, so a program that ended as soon as
// it heard of its child's stop (waitpid WUNTRACED) was reported ended
// while the child's group-stop, which came first, still waited. Looked
// at then, the group was orphaned with no member stopped, no signal was
// sent, and the child stayed stopped for good (CI, about 1 run in 40 on
// a loaded machine). A member resumed with a stop signal and not yet
// reported stopped counts as stopped: natively it would already be.
func (t *tracer) orphanedGroup() {
	if _, ok := t.tasks[t.mainPid]; ok {
		return // the tracer stands for the first program, as its parent's child
	}
	me := os.Getpid()
	pgrp, sid := unix.Getpgrp(), 0
	if s, err := unix.Getsid(0); err == nil {
		sid = s
	}
	_, parentPgrp, parentSid, ok := statIDs(os.Getppid())
	if !ok || parentPgrp == pgrp || parentSid != sid {
		// The tracer never kept its group from orphanhood: the kernel's
		// own rule holds.
		return
	}
	t.orphanedGroupIn(me, pgrp, sid)
}

// orphanedGroupIn is orphanedGroup once the tracer (me) is known to keep
// its group pgrp of session sid from orphanhood. The traced members are
// looked at first, then the member that kept the group last time (a
// pipeline's cat), and only then every process in /proc: a program that
// forks a thousand short children after its first process ended paid a
// scan of /proc for each exit (1.5 ms each with 80 processes on the
// machine, more than doubling its time; found in the eleventh session's
// review).
func (t *tracer) orphanedGroupIn(me, pgrp, sid int) {
	if t.pgrpOrphaned {
		// The kernel signals a group only on its change to orphaned
		// (kill_orphaned_pgrp, at the exit of the last member whose
		// parent was in another group of the session): later exits
		// send nothing, and need no look at /proc.
		return
	}
	var members []int
	for _, tk := range t.tasks {
		if tk.pid == 0 || tk.tid != tk.pid {
			continue
		}
		if _, g, s, ok := statIDs(tk.pid); ok && g == pgrp && s == sid {
			members = append(members, tk.pid)
		}
	}
	if len(members) == 0 {
		return // nobody of the program's to signal
	}
	// Every member of the group counts, traced or not: in a pipeline
	// (mmapguard run ... | cat) the other commands, whose parent is the
	// shell, keep the group from orphanhood natively too.
	if t.pgrpKeeper != 0 && keeps(t.pgrpKeeper, me, pgrp, sid) {
		return
	}
	t.pgrpKeeper = 0
	if k := keeperOf(me, pgrp, sid); k != 0 {
		if k > 0 {
			t.pgrpKeeper = k
		}
		return
	}
	t.pgrpOrphaned = true
	stopped := false
	for _, tk := range t.tasks {
		if (tk.groupStop || tk.stopping != 0 && stopsOn(tk.pid, tk.stopping)) && tk.pid != 0 {
			if _, g, _, ok := statIDs(tk.pid); ok && g == pgrp {
				stopped = true
				break
			}
		}
	}
	if !stopped {
		return
	}
	for _, pid := range members {
		_ = syscall.Kill(pid, syscall.SIGHUP)
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
}

// orphanDiscards reports whether the kernel would discard the stop
// signal a task is stopped for, were the tracer not a member of its
// group: SIGTSTP, SIGTTIN or SIGTTOU with the default action (stop), in
// the tracer's group once it is taken for orphaned (orphanedGroup).
// Linux discards those in an orphaned group (get_signal: nobody is left
// to continue the process); under the guard the tracer keeps the group
// from orphanhood, and the process stopped for good, the tracer waiting
// for it, where natively it went on and ended (a child that raised
// SIGTSTP once its parent had ended: TestRunOrphanedLateStop). Not a
// SIGTTIN or SIGTTOU the kernel sent (a terminal's, for a background
// read or write): natively the terminal would have failed the call with
// EIO instead of sending it, and dropped, it would come again at each
// restart of the call. (A terminal's SIGTSTP, ^Z, is dropped as natively.)
func (t *tracer) orphanDiscards(tk *task, sig syscall.Signal) bool {
	if !t.pgrpOrphaned || sig == syscall.SIGSTOP || !groupStopSig(sig) || tk.pid == 0 ||
		sig != syscall.SIGTSTP && kernelSent(tk.tid) {
		return false
	}
	if _, g, _, ok := statIDs(tk.pid); !ok || g != unix.Getpgrp() {
		return false
	}
	return stopsOn(tk.pid, sig)
}

// stopsOn reports whether process pid stops on signal sig: SIGSTOP
// always; SIGTSTP, SIGTTIN and SIGTTOU unless it catches or ignores
// them (/proc/PID/status's SigCgt and SigIgn).
func stopsOn(pid int, sig syscall.Signal) bool {
	if sig == syscall.SIGSTOP {
		return true
	}
	set, ok := procfile.SignalSet(pid, "SigCgt", "SigIgn")
	return ok && set&(uint64(1)<<(uint(sig)-1)) == 0
}

// procScans counts keeperOf's scans of /proc, for the tests.
var procScans atomic.Int64

// keeps reports whether pid, not the tracer's child, is a member of
// process group pgrp (session sid) whose parent is in another group of
// the same session: what keeps a group from being orphaned.
func keeps(pid, me, pgrp, sid int) bool {
	m, ok := readIDs(pid)
	if !ok || m.ppid == me {
		return false
	}
	p, ok := readIDs(m.ppid)
	return ok && keepsGroup(m, p, pgrp, sid, globalInit(m.ppid), sid == 0 && !inInitPidNS())
}

// keepsGroup is the kernel's rule (will_become_orphaned_pgrp) for one
// process m, whose parent is p: m keeps process group pgrp of session
// sid from orphanhood when it is a member whose parent is in another
// group of the same session, unless m is a zombie with no thread left
// or its parent is the global init (parentInit). Without that last
// exemption a child the program left behind, handed to init when the
// program ended, kept the group where init shares the session: on a
// machine whose init starts the tests without a session of their own
// (session 0, as CI's), the group was never taken for orphaned and the
// stopped child stayed stopped for good.
//
// sidHidden says the session reads 0 because its leader lies outside
// the tracer's PID namespace, where every such session reads 0: the
// parent's session cannot be shown to be the same one, and the parent
// is taken not to keep the group. Taken for the same, a child handed to
// the namespace's init kept the group for good where natively the
// sessions differ (a hang); the cost the other way is a SIGHUP and
// SIGCONT where natively the group stays kept.
func keepsGroup(m, p procEntry, pgrp, sid int, parentInit, sidHidden bool) bool {
	if m.pgrp != pgrp || m.sid != sid || m.state == 'Z' && m.threads <= 1 || parentInit || sidHidden {
		return false
	}
	return p.pgrp != pgrp && p.sid == sid
}

// initPidNSIno is the inode number of the initial PID namespace
// (the kernel's PROC_PID_INIT_INO).
const initPidNSIno = 0xEFFFFFFC

// inInitPidNS reports whether the tracer is in the initial PID
// namespace (true where that cannot be read: no namespaces).
var inInitPidNS = sync.OnceValue(func() bool {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return true
	}
	return st.Ino == initPidNSIno
})

// globalInit reports whether pid is the kernel's global init: pid 1,
// seen from the initial PID namespace. In a PID namespace of its own,
// the tracer's pid 1 is that namespace's init, which the kernel's rule
// counts as any other parent.
func globalInit(pid int) bool {
	return pid == 1 && inInitPidNS()
}

// keeperOf returns a member of process group pgrp (session sid) other
// than the tracer (me) that keeps it from being orphaned (see keeps), 0
// if none does, or -1 if /proc cannot be read (cannot tell: taken as
// kept). It looks at every process in /proc.
func keeperOf(me, pgrp, sid int) int {
	procScans.Add(1)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return -1
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == me {
			continue
		}
		if keeps(pid, me, pgrp, sid) {
			return pid
		}
	}
	return 0
}

// procEntry is what /proc/PID/stat says of a process that the rule on
// orphaned groups looks at.
type procEntry struct {
	state                    byte // R, S, T, t, Z...
	ppid, pgrp, sid, threads int
}

// readIDs reads a process's state, parent, process group, session and
// number of threads from /proc/PID/stat.
func readIDs(pid int) (procEntry, bool) {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procEntry{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procEntry{}, false
	}
	// After the command: state (field 3), ppid, pgrp, session, ...,
	// num_threads (field 20).
	f := bytes.Fields(b[i+1:])
	if len(f) < 18 || len(f[0]) != 1 {
		return procEntry{}, false
	}
	var id procEntry
	id.state = f[0][0]
	for _, v := range []struct {
		dst *int
		i   int
	}{{&id.ppid, 1}, {&id.pgrp, 2}, {&id.sid, 3}, {&id.threads, 17}} {
		n, err := strconv.Atoi(string(f[v.i]))
		if err != nil {
			return procEntry{}, false
		}
		*v.dst = n
	}
	return id, true
}

// statIDs reads a process's parent, process group and session from
// /proc/PID/stat.
func statIDs(pid int) (ppid, pgrp, sid int, ok bool) {
	id, ok := readIDs(pid)
	return id.ppid, id.pgrp, id.sid, ok
}
