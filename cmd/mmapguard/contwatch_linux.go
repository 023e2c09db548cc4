package main

import (
	"bytes"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"github.com/mmapguard/mmapguard/internal/procfile"
	"golang.org/x/sys/unix"
)

// contWatchArg, as mmapguard's first argument, makes it the watcher of
// a job stop (see startContWatch), not a command: only mmapguard starts
// it so.
const contWatchArg = "__mmapguard-cont-watch"

// contWatchEvery is how often the watcher looks.
const contWatchEvery = 10 * time.Millisecond

// startContWatch starts, before mmapguard stops itself for the
// program's job-control stop (stopAs), a process that continues
// mmapguard should the program go on without it: continued alone (a
// SIGCONT to its pid, not to the job's process group: `kill -TSTP PID;
// kill -CONT PID`), or ended (a SIGKILL to its pid). A stopped mmapguard
// can do neither itself, and the program, traced by it, waited at its
// next stop until something continued mmapguard: the run hung. Natively
// the program runs on, or its parent sees it end. The watcher is
// mmapguard's own executable in a process group of its own (the
// terminal's ^Z and ^C are not for it), ended with mmapguard
// (PR_SET_PDEATHSIG), and killed and reaped by stopContWatch once
// mmapguard runs again. It returns 0 where the watcher cannot be
// started: mmapguard then waits for a SIGCONT of its own, as before.
func startContWatch(program int) int {
	if program <= 0 {
		return 0
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return 0
	}
	defer func() { _ = null.Close() }()
	fd := null.Fd()
	// The job-control stop signals are blocked on this thread (the
	// tracer's, locked to it) for the start, and so in the child until
	// the watcher ignores them (which drops any pending). Go's child
	// blocks every signal only until its setpgid, then puts back this
	// thread's mask (saved at the fork) with the default actions: a
	// SIGTSTP sent to mmapguard's process group between the clone and
	// the setpgid (a ^Z, a `kill -TSTP -PGID` as the program stops) then
	// stopped the child before its exec, in a group of its own that no
	// SIGCONT of the job's reaches, and this thread waited in vfork for
	// that exec for good: mmapguard never stopped (D, in kernel_clone),
	// the program waited for it (TestRunJobStopWatcherStartStop).
	set := uint64(1)<<(uint(syscall.SIGTSTP)-1) | uint64(1)<<(uint(syscall.SIGTTIN)-1) | uint64(1)<<(uint(syscall.SIGTTOU)-1)
	var mask uint64
	if _, _, e := unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_BLOCK,
		uintptr(unsafe.Pointer(&set)), uintptr(unsafe.Pointer(&mask)), 8, 0, 0); e != 0 {
		return 0
	}
	// (syscall.StartProcess, not os.StartProcess: the latter forks a
	// throwaway child first to learn whether the kernel has pidfds.)
	pid, _, err := syscall.StartProcess("/proc/self/exe",
		[]string{"mmapguard", contWatchArg, strconv.Itoa(os.Getpid()), strconv.Itoa(program)},
		&syscall.ProcAttr{
			Env:   []string{},
			Files: []uintptr{fd, fd, fd},
			Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
		})
	_, _, _ = unix.RawSyscall6(unix.SYS_RT_SIGPROCMASK, unix.SIG_SETMASK,
		uintptr(unsafe.Pointer(&mask)), 0, 8, 0, 0)
	if err != nil {
		return 0
	}
	return pid
}

// stopContWatch ends the watcher startContWatch started. It is reaped
// here, on the tracer's thread: left to the tracer's wait4, its exit
// would be the report of a task it does not know.
func stopContWatch(pid int) {
	if pid <= 0 {
		return
	}
	_ = unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// contWatch is the watcher's main (see startContWatch): once mmapguard,
// process mg, is stopped, it continues it when the program's process
// has a SIGCONT pending (sent to the program since its stop: a stop
// signal's arrival flushed any pending before, and the stopped tracer
// has not taken it) or has ended (a zombie, whose parent, mmapguard,
// cannot reap it), at two looks in a row: a SIGCONT of the whole job
// (fg) continues mmapguard too, which then ends the watcher within
// microseconds, and a second SIGCONT of the watcher's would have been
// one more for the program (mmapguard passes on a SIGCONT it gets
// without a terminal). It then waits to be killed.
func contWatch(args []string) {
	if len(args) != 2 {
		os.Exit(exitUsage)
	}
	mg, err1 := strconv.Atoi(args[0])
	program, err2 := strconv.Atoi(args[1])
	if err1 != nil || err2 != nil {
		os.Exit(exitUsage)
	}
	// Out of the program's reach, as mmapguard is (docs/escapes.md,
	// "The program reaching into mmapguard itself"): exec made it
	// dumpable again.
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	// (Ignored, the job-control stop signals, blocked since the start,
	// lose what is pending: see startContWatch.)
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGPIPE)
	seen := 0
	for {
		if procState(mg) == 'T' && (contPending(program) || ended(program)) {
			seen++
		} else {
			seen = 0
		}
		if seen == 2 {
			_ = unix.Kill(mg, unix.SIGCONT)
			for {
				time.Sleep(time.Hour)
			}
		}
		time.Sleep(contWatchEvery)
	}
}

// procState returns the state letter of /proc/PID/stat (0 if the
// process is gone).
func procState(pid int) byte {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

// ended reports whether process pid has ended (a zombie, or gone).
func ended(pid int) bool {
	s := procState(pid)
	return s == 0 || s == 'Z' || s == 'X'
}

// contPending reports whether process pid has a SIGCONT pending.
func contPending(pid int) bool {
	set, _ := procfile.SignalSet(pid, "SigPnd", "ShdPnd")
	return set&(uint64(1)<<(uint(syscall.SIGCONT)-1)) != 0
}
