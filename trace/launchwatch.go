package trace

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/procfile"
)

// A launch stopped for good.
//
// Go's child calls PTRACE_TRACEME and then execve, while the launching
// thread, its tracer, waits in vfork for that execve (startTraced). Every
// signal but SIGTRAP is blocked in the child, but SIGSTOP cannot be: one
// that comes during PTRACE_TRACEME is taken on its way back to user
// space, by a task traced now, which stops to report it to a tracer
// that cannot answer before the child's execve, which the child cannot
// reach before its tracer answers. Only SIGKILL ends that (the vfork
// wait is killable, the launcher's group-stop cannot complete either):
// a `kill -STOP` of the process group, or of the child, in its first
// tens of microseconds left mmapguard and the program stopped for good,
// a SIGCONT changing nothing (/proc: the launching thread in D state in
// kernel_clone, the child in a tracing stop, ptrace_stop in get_signal,
// TracerPid the launching thread; TestRunStopAtStart's group mode hung
// so about one start in 250, and with the stop in the first 150 µs 7
// starts of 600 in the group mode and 3 of 600 in the pid mode, whose
// waitpid then never returned: the eighteenth session's hunt).
//
// So a launch that takes longer than launchLook is looked at from
// another thread: a child of the launching thread stopped for its
// tracer with SIGSTOP while the launch is not done yet (the launching
// thread cannot have resumed it: a stop after the exec comes after the
// exec's SIGTRAP, which the launcher waits for only once the launch is
// done) is in that stop. It has run nothing of the program: it is
// killed and the program started again (startTraced), with the signals
// pending for it (blocked until its exec) sent to the new process (see
// awaitExec); the stop and a SIGCONT are not: the new process has
// another pid, which the stop's sender does not know to continue. A
// SIGTRAP, which Go's child has unblocked, stops it there as well: such
// a stop is told from the exec's own (see preExecStop), and the SIGTRAP
// sent to the new process. A
// launch that ends before launchLook costs a timer (and where it is the
// process's first, the start of the Go runtime's poller: not under a
// descriptor limit below launchWatchFiles, which goes unwatched). The
// look needs a processor of the Go runtime's while the launching thread
// keeps its own in vfork: with GOMAXPROCS=1 it came only after the
// launch, too late, and the run stayed stopped for good as before the
// watch. GOMAXPROCS is 1 wherever mmapguard may use one CPU only
// (taskset -c 0, a cgroup's CPU limit of one, a one-CPU machine), so
// the watch raises it to 2 for the launch, and puts it back after (the
// eighteenth session's review: 5 of 300 runs under taskset -c 0 hung
// with a SIGSTOP in their first 150 µs, none with the raise).
//
// (A pending signal carried over loses its siginfo: the new process
// gets it from mmapguard, by tgkill.)
//
// A stop of the world of the Go runtime's (a garbage collection) that
// begins while the child stands stopped there waits for good for the
// launching thread's processor, and the look with it: the launch runs
// with collection off (see noCollection; TestLaunchStopBeforeExec runs
// with collections as frequent as GOGC=1 makes them, which hung it
// until the nineteenth session).

// cldTrapped is si_code CLD_TRAPPED (a ptrace stop).
const cldTrapped = 4

// launchLook is how long a launch runs before it is looked at, and
// again between looks.
const launchLook = time.Millisecond

// launchWatchFiles is the descriptor limit under which a launch is not
// watched: its timer starts the Go runtime's poller, which needs two
// descriptors, and throws where it cannot have them (see
// internal/plainfile).
const launchWatchFiles = 64

// launchWatch looks at one launch (see above).
type launchWatch struct {
	tid   int // the launching thread
	mu    sync.Mutex
	timer *time.Timer
	child int // the launching thread's child, once seen
	done  atomic.Bool
	// killed is set once the child is killed, pending before with the
	// signals it had pending.
	killed  atomic.Bool
	pending []heldSignal
	// procs is the GOMAXPROCS to put back at the end, 0 if it was not
	// raised (see above).
	procs int
	// looks counts the looks, for tests.
	looks atomic.Int32
}

// watchLaunch starts looking at the launch the calling thread is about
// to make (locked to it); nil where it is not watched.
func watchLaunch() *launchWatch {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) != nil || lim.Cur < launchWatchFiles {
		return nil
	}
	w := &launchWatch{tid: unix.Gettid()}
	if runtime.GOMAXPROCS(0) < 2 {
		w.procs = runtime.GOMAXPROCS(2)
	}
	w.mu.Lock()
	w.timer = time.AfterFunc(launchLook, w.look)
	w.mu.Unlock()
	return w
}

// end ends the watch once the launch is done; killed says the child was
// killed (see above), and pending are its pending signals then.
func (w *launchWatch) end() (killed bool, pending []heldSignal) {
	if w == nil {
		return false, nil
	}
	w.done.Store(true)
	w.mu.Lock()
	w.timer.Stop()
	w.mu.Unlock()
	if w.procs != 0 {
		runtime.GOMAXPROCS(w.procs)
	}
	if w.killed.Load() {
		return true, w.pending
	}
	return false, nil
}

// look looks whether the launching thread's child stopped before its
// exec (see above), and kills it if so; it looks again launchLook later
// while the child has not stopped or ended. (Without a wait: blocked in
// a system call, the look would hold the runtime's second processor,
// which the launcher's other goroutines need meanwhile.)
func (w *launchWatch) look() {
	w.looks.Add(1)
	if w.done.Load() {
		return
	}
	if w.child == 0 {
		w.child = launchChild(w.tid)
	}
	if w.child == 0 {
		w.again() // not forked yet (or no /proc)
		return
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, w.child, &info, unix.WEXITED|unix.WNOWAIT|unix.WNOHANG|unix.WALL, nil); err != nil {
		if err == unix.EINTR {
			w.again()
		}
		return
	}
	// siginfo_t for SIGCHLD: si_code at 8, si_pid at 16, si_status at
	// 24 (si_pid 0: no report yet).
	b := (*[unsafe.Sizeof(info)]byte)(unsafe.Pointer(&info))
	code := int32(binary.LittleEndian.Uint32(b[8:]))
	from := int32(binary.LittleEndian.Uint32(b[16:]))
	status := syscall.Signal(binary.LittleEndian.Uint32(b[24:]))
	if from == 0 {
		w.again()
		return
	}
	if code != cldTrapped || w.done.Load() || !preExecStop(status, w.child) {
		return // its exec's stop, or an end
	}
	w.pending = pendingSignals(w.child)
	if status == syscall.SIGTRAP {
		// Sent (kill -TRAP): it kills the new process as it would
		// have killed this one, once the program's own mask is back.
		w.pending = append(w.pending, heldSignal{sig: syscall.SIGTRAP})
	}
	w.killed.Store(true)
	_ = unix.Kill(w.child, unix.SIGKILL)
}

// preExecStop reports whether a ptrace stop with signal sig of child,
// the launching thread's child, came before its exec, in the window
// where nobody can answer it (see above): SIGSTOP, or SIGTRAP, whose
// stop is mostly the exec's own. The kernel clears a task's
// PF_FORKNOEXEC at its exec, before the exec's SIGTRAP stop, and
// /proc/PID/stat shows it to anyone; where it cannot be read, a child
// that still shares mmapguard's memory (kcmp) has not exec'd, and a
// SIGSTOP stop is taken for one before the exec unless kcmp says
// otherwise (a stop after the exec comes after the exec's SIGTRAP stop,
// which the launcher answers only once the launch is done). Until the
// eighteenth session's review only SIGSTOP was looked for, and a
// SIGTRAP sent in the window (SIGTRAP is the one signal Go's child has
// unblocked there) left the run stopped for good (1 of 300 runs with a
// kill -TRAP of the program in its first 150 µs). (kcmp alone is
// refused to a user without CAP_SYS_PTRACE: mmapguard is not dumpable,
// and the child shares its memory.)
func preExecStop(sig syscall.Signal, child int) bool {
	if sig != syscall.SIGSTOP && sig != syscall.SIGTRAP {
		return false
	}
	if pre, ok := forkedNoExec(child); ok {
		return pre
	}
	same, ok := sameMM(unix.Getpid(), child)
	if sig == syscall.SIGSTOP {
		return !ok || same
	}
	return ok && same
}

// pfForkNoExec is the kernel's PF_FORKNOEXEC: forked, no exec yet.
const pfForkNoExec = 0x40

// forkedNoExec reports whether process pid has not exec'd since its
// fork (PF_FORKNOEXEC in /proc/PID/stat's flags); ok is false where
// that cannot be read.
func forkedNoExec(pid int) (pre, ok bool) {
	if noProcFlags {
		return false, false
	}
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false, false
	}
	// After the name in parentheses: state, ppid, pgrp, session,
	// tty_nr, tpgid, flags.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return false, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 {
		return false, false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		return false, false
	}
	return flags&pfForkNoExec != 0, true
}

// noProcFlags has tests do without forkedNoExec.
var noProcFlags bool

// again has the launch looked at again launchLook later.
func (w *launchWatch) again() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done.Load() {
		w.timer.Reset(launchLook)
	}
}

// launchChild returns the first child of thread tid, 0 if none.
func launchChild(tid int) int {
	b, err := procfile.Read(fmt.Sprintf("/proc/self/task/%d/children", tid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// pendingSignals returns the signals pending for a task (its own and its
// process's), lowest first, as the kernel takes them, but SIGKILL,
// SIGSTOP and SIGCONT (see above).
func pendingSignals(tid int) []heldSignal {
	var m uint64
	if f, ok := procStatus(tid, "ShdPnd", "SigPnd"); ok {
		for _, v := range f {
			if b, err := strconv.ParseUint(v, 16, 64); err == nil {
				m |= b
			}
		}
	}
	m &^= sigBit(syscall.SIGKILL) | sigBit(syscall.SIGSTOP) | sigBit(syscall.SIGCONT)
	var held []heldSignal
	for s := syscall.Signal(1); s <= 64; s++ {
		if m&sigBit(s) != 0 {
			held = append(held, heldSignal{sig: s})
		}
	}
	return held
}
