package trace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/procfile"
	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// Config describes one program to run under the guard.
type Config struct {
	Policy *rewrite.Policy
	// Filter is the seccomp side of the policy.
	Filter seccomp.Policy
	// Program, if not nil, returns the filter built from Filter, by a
	// caller that builds it off the start's path: Run calls it once the
	// program's process is started. If nil, Run builds the filter
	// itself, in a goroutine of its own while the program starts; but at
	// a Go program's start that goroutine had no processor to run on
	// until the fork was done (os/signal's first Notify held the other,
	// waiting on the runtime's signal thread), and the build, a quarter
	// of a millisecond cold, ran after it (cmd/mmapguard builds it on the
	// goroutine that makes the Notify calls, before them).
	Program func() (*seccomp.Program, error)
	// Path is the program (resolved like a shell would when it has no
	// slash); Args its argv, Args[0] included. Env and Dir default to
	// mmapguard's own.
	Path string
	Args []string
	Env  []string
	Dir  string
	// Stdin, Stdout, Stderr default to mmapguard's own.
	Stdin, Stdout, Stderr *os.File
	// SigMask, if not nil, is the signal mask the program starts with:
	// the one the launcher was started with, which a program inherits
	// across fork and exec. If nil, the program gets the mask of the
	// thread that starts it; in a Go launcher that is not the one it
	// was started with, since the Go runtime unblocks SIGHUP, SIGINT,
	// SIGTERM, SIGCHLD and others on every thread of its own.
	SigMask *unix.Sigset_t
	// Warn receives warnings (ranges that could not be reserved); nil
	// discards them.
	Warn io.Writer
	// Signals, if not nil, delivers signals to forward to the program
	// (those of Forwardable). Once the first program's process has
	// ended, they go to the processes it left running outside the
	// launcher's process group, which nothing else sent to the group
	// reaches (see signalLeftovers).
	Signals <-chan os.Signal
	// SignalsReady, if not nil, is closed once the signals meant for
	// the program are caught for Signals (os/signal's first Notify takes
	// a fifth of a millisecond, which need not delay the fork and exec):
	// the program's first instruction waits for it.
	SignalsReady <-chan struct{}
	// BeforeStart, if not nil, is called on the thread that starts the
	// program, just before it does (per-thread state, such as the
	// capability sets, is what the program inherits); an error ends the
	// run before anything is started.
	BeforeStart func() error
	// Started, if not nil, is called on the tracer's thread once the
	// program's process exists, before its exec completes. A launcher
	// that keeps signals ignored for the fork, so that the program
	// inherits them ignored, catches them again here.
	Started func()
	// Owners name the code allowed to use protected ranges freely
	// (see OwnerRule). Each trapped call is then attributed to its caller.
	Owners []OwnerRule
	// Place, if not nil, places shared objects as ld.so maps them (the
	// filter must then trap file mappings: seccomp.Policy.TrapFileMaps).
	Place *PlaceConfig
	// Events, if not nil, is told of every trapped call of the program
	// and what the guard did, once the result is known. It runs on the
	// tracer's thread, with every tracee of that call stopped: keep it
	// short (a buffered write). Asking for events makes every trapped
	// call stop again at its exit, to see its result.
	Events func(Event)
	// JobStop, if not nil, is called when the first program stops for
	// job control: its process enters a group-stop of SIGTSTP, SIGTTIN
	// or SIGTTOU (^Z, its own raise of SIGTSTP after a handler's
	// clean-up, a read or write of its terminal from the background).
	// A launcher that a shell runs as the job stops itself there with
	// sig, so that the shell sees the job stop as it would without the
	// guard, and returns once continued (SIGCONT); pid is the first
	// program's process, which the launcher must see to it that it
	// continues too should the program be continued alone or end
	// meanwhile (the program waits for the tracer). It runs on the
	// tracer's thread, after the stops of other tasks already waiting
	// have been handled (a signal the whole process group got is then
	// passed on to each), while the program stays stopped. Not for
	// SIGSTOP: a program stopped that way alone is usually continued
	// alone (kill -CONT PID).
	JobStop func(sig syscall.Signal, pid int)
	// Ended, if not nil, is called once the first program's process
	// has ended (the report of its leader's exit, which comes after its
	// last thread's), on the tracer's thread; other processes of the
	// program may run on. A launcher that leads its session in the
	// program's place does there what the kernel does at a session
	// leader's exit.
	Ended func()
}

// Event is one trapped call and what the guard did with it.
type Event struct {
	Time     time.Time
	Pid, Tid int
	// IP is the address just after the system call instruction.
	IP uint64
	// Call is the call as the program made it.
	Call rewrite.Call
	// Action is the guard's decision.
	Action *rewrite.Action
	// Caller is the code that made the call (with Events, always).
	Caller *Attribution
	// File is the file a file-backed mmap maps (from its descriptor).
	File string
	// Owner says an owner rule matched the caller.
	Owner bool
	// Result is what the program saw, when Seen (a process killed by the
	// guard sees nothing).
	Result uint64
	Seen   bool
}

// Result is what happened to the program.
type Result struct {
	// Status is the wait status of the program's first process.
	Status unix.WaitStatus
	// Stats adds up every address space's decisions.
	Stats rewrite.Stats
	// Stops counts seccomp stops of programs under the guard.
	Stops uint64
	// Unreserved lists guarded ranges found occupied at exec.
	Unreserved []string
	// Processes counts the processes traced: the program and every
	// process forked from it.
	Processes int
	// FailedClosed counts processes killed because the guard could not
	// keep its promise for them (a protected range it could not reserve).
	FailedClosed int
	// OneStop counts the rewritten calls finished without a stop at
	// their exit (see oneStop).
	OneStop uint64
	// Freezes counts the times other threads were stopped while a call
	// freed part of a guarded range (see freeze).
	Freezes int
}

// ExitCode is the status a shell would report: the exit code, or 128
// plus the signal that killed the program.
func (r Result) ExitCode() int {
	switch {
	case r.Status.Exited():
		return r.Status.ExitStatus()
	case r.Status.Signaled():
		return 128 + int(r.Status.Signal())
	}
	return 1
}

// ErrNotFound and ErrNotExecutable say why a program could not start.
var (
	ErrNotFound      = errors.New("no such program")
	ErrNotExecutable = errors.New("not an executable file")
)

// DefaultPath is where a name without a '/' is looked for when $PATH
// is not set at all (env -i, some service managers): the C library's
// execvp looks there (confstr(_CS_PATH)), and so runs `env -i ls`.
const DefaultPath = "/bin:/usr/bin"

// Resolve finds the program a command names, as a shell would, and
// checks that it can be executed.
func Resolve(name string) (string, error) {
	if _, set := os.LookupEnv("PATH"); !set && name != "" && !strings.Contains(name, "/") {
		// As execvp: the default path, tried in order; the first
		// file there that exists is the program, runnable or not.
		for dir := range strings.SplitSeq(DefaultPath, ":") {
			p := dir + "/" + name
			if _, err := os.Stat(p); err == nil {
				return Resolve(p)
			}
		}
		return "", fmt.Errorf("%s: %w (not in %s, searched as $PATH is not set)", name, ErrNotFound, DefaultPath)
	}
	path, err := exec.LookPath(name)
	if errors.Is(err, exec.ErrDot) {
		// Found through "." in $PATH: a shell runs it, and so do we.
		err = nil
	}
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			if strings.Contains(name, "/") {
				// A path is taken as it is: no $PATH search.
				return "", fmt.Errorf("%s: %w (no such file)", name, ErrNotFound)
			}
			if st, err := os.Stat(name); err == nil && !st.IsDir() {
				// As in a shell, a name without a '/' is looked
				// for in $PATH only, not in the current directory.
				return "", fmt.Errorf("%s: %w (not in $PATH; to run the file %s in this directory, write ./%s)", name, ErrNotFound, name, name)
			}
			return "", fmt.Errorf("%s: %w (not in $PATH)", name, ErrNotFound)
		}
		var ee *exec.Error
		if errors.As(err, &ee) {
			err = ee.Err // without exec's repetition of the name
		}
		if errors.Is(err, syscall.EISDIR) {
			return "", fmt.Errorf("%s: %w: %w", name, ErrNotExecutable, syscall.EISDIR)
		}
		return "", fmt.Errorf("%s: %w: %w", name, ErrNotExecutable, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	if st.IsDir() {
		return "", fmt.Errorf("%s: %w: %w", path, ErrNotExecutable, syscall.EISDIR)
	}
	if st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s: %w", path, ErrNotExecutable)
	}
	return path, nil
}

// Run starts the program, guards it and every process
// it starts until all have exited, and reports how the first one ended.
// The calling goroutine is locked to its OS thread by Run, for good:
// ptrace requests must come from the thread that attached, and that
// thread starts the program with no_new_privs set on itself (see
// startTraced), which it cannot shed: it must not go on to serve other
// goroutines, whose execs would inherit it. It ends with the goroutine
// (after an error, it may still be the tracer of processes that
// outlive the error, which PTRACE_O_EXITKILL kills then).
func Run(cfg Config) (Result, error) {
	runtime.LockOSThread()
	return run(cfg)
}

const ptraceOptions = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_EXITKILL

// A thread group leader that exits while its other threads live (main
// returning through pthread_exit) stays a zombie, and the kernel reports
// its exit only once they are all gone: a freeze would wait for it to
// stop forever. So the leader of a process with more than one thread
// gets PTRACE_O_TRACEEXIT too, whose stop says it is on its way out: one
// stop more per multithreaded process. The tasks it creates afterwards
// inherit the option and lose it at their first stop (setExitOption).
const leaderOptions = ptraceOptions | unix.PTRACE_O_TRACEEXIT

func run(cfg Config) (Result, error) {
	// The filter is built while the program starts (a millisecond's
	// fork and exec): a policy the kernel would refuse still fails
	// before the program's first instruction.
	build := cfg.Program
	if build == nil {
		type built struct {
			prog *seccomp.Program
			err  error
		}
		buildc := make(chan built, 1)
		go func() {
			prog, err := seccomp.Build(cfg.Filter)
			buildc <- built{prog, err}
		}()
		build = func() (*seccomp.Program, error) {
			b := <-buildc
			return b.prog, b.err
		}
	}
	// The program must not reach into its tracer: attach to it with
	// ptrace (and then make the guard's own calls, or detach the
	// program's threads from it), write its memory through
	// /proc/PID/mem or process_vm_writev, or take its descriptors with
	// pidfd_getfd. Each needs the tracer to be dumpable, or
	// CAP_SYS_PTRACE (see docs/escapes.md).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return Result{}, fmt.Errorf("making mmapguard not dumpable (so that the program cannot attach to it): %w", err)
	}
	if err := quietSIGCHLD(); err != nil {
		// Only slower, not wrong.
		warnOnce(cfg.Warn, "cannot set SA_NOCLDSTOP on SIGCHLD: %v", err)
	}
	if cfg.BeforeStart != nil {
		if err := cfg.BeforeStart(); err != nil {
			_, _ = build()
			return Result{}, err
		}
	}
	collect := noCollection()
	pid, mask, killedEarly, err := startTraced(cfg)
	collect()
	if err == nil && cfg.Started != nil {
		cfg.Started()
	}
	prog, berr := build()
	if berr != nil {
		if err == nil {
			killStarted(pid)
		}
		return Result{}, berr
	}
	if err != nil {
		return Result{}, err
	}
	first, early, err := awaitExec(pid, mask)
	early = append(killedEarly, early...)
	if err != nil {
		if first.Stopped() {
			killStarted(pid) // (not reaped yet: its pid is still its own)
		}
		return Result{}, fmt.Errorf("tracing pid %d: %w%s", pid, err, ptraceHint(err))
	}
	// Forward signals from here, not from the tracer's loop, which
	// sleeps in wait4 while no tracee stops. Through a pidfd, a signal
	// can never reach another process that reused the pid after the
	// program's exit.
	others := new(otherCopies)
	ended := new(atomic.Bool)
	tracerTid := unix.Gettid() // the leftovers' TracerPid (signalLeftovers)
	if cfg.Signals != nil && first.Stopped() {
		pidfd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			killStarted(pid)
			return Result{}, os.NewSyscallError("pidfd_open", err)
		}
		done := make(chan struct{})
		defer close(done)
		go func() {
			defer func() { _ = unix.Close(pidfd) }()
			for {
				select {
				case s := <-cfg.Signals:
					sig, ok := s.(syscall.Signal)
					switch {
					case !ok:
					case ended.Load():
						// Nobody left to take it but what the program
						// left behind (see signalLeftovers). Not a
						// SIGHUP: a terminal's hang-up, which a shell
						// passes on to its jobs (mmapguard's), or the
						// kernel to the session's leader (mmapguard's
						// own hang-up at the program's end,
						// Config.Ended), natively found the command
						// ended, and never reaches a process in a
						// session of its own: that is what setsid is
						// for, and a daemon so left behind was killed
						// by the close of the terminal it had left.
						// Nor SIGALRM and SIGVTALRM: an alarm set before
						// mmapguard's exec is mmapguard's only as the
						// ended program's stand-in, and natively ended
						// with it.
						// Nor the job-control signals and a resize
						// (Untermed): they were meant for the program,
						// which has ended.
						if sig != syscall.SIGHUP && sig != syscall.SIGALRM && sig != syscall.SIGVTALRM &&
							!slices.Contains(Untermed, os.Signal(sig)) {
							signalLeftovers(sig, tracerTid)
						}
					case hangupOfLeader(sig) || !others.came(sig, time.Now()):
						_ = unix.PidfdSendSignal(pidfd, sig, nil, 0)
					}
				case <-done:
					return
				}
			}
		}()
	}
	t := newTracer(cfg, pid)
	t.others = others
	t.ended = ended
	t.filter = filterBytes(prog)
	if breakFilter {
		t.filter[0], t.filter[1] = 0xff, 0xff // no such BPF instruction
	}
	if !first.Stopped() {
		// Gone before its first instruction (killed from outside).
		t.handle(pid, first)
	} else {
		t.programStart(t.tasks[pid], early)
	}
	res, err := t.loop()
	if err == nil && t.startErr != nil {
		err = t.startErr
	}
	return res, err
}

// noCollection turns garbage collection off for the launch, and returns
// the function that turns it back on. A collection's stops of the
// world, and the flush of every processor's caches that ends it, wait
// for each processor of the Go runtime's, and the launching thread keeps
// its own in vfork until the child's exec (startTraced): as long as a
// child stopped before its exec (see launchWatch), for good, the watch
// that ends such a stop waiting with the rest of mmapguard; or as long
// as an exec waits (a write lease on the program, a file system that
// hangs). mmapguard's heap is small so early, but GOGC from a user's
// environment (GOGC=1, meant for a Go program run under the guard) was
// mmapguard's runtime's too, and made collections come during the
// launch (mmapguard's command now ignores it). A memory limit
// (GOMEMLIMIT, or a program that calls Run with one) makes the runtime
// collect with GOGC off too, as its documentation says: it is lifted
// for the launch as well (reasoned, not seen). SetGCPercent(-1) waits
// for a collection's marking to end, but not for one that has passed
// its trigger's test and not begun yet: under GOGC=1 collections come
// back to back, the next one waiting for the end of the last, and it
// began after SetGCPercent returned and marked during the launch (12 of
// 200 tries in TestNoCollection). Where a collection has run,
// runtime.GC waits for such a start (both queue for the runtime's same
// lock) and for that collection's marking, or runs one of its own; and
// a stop of the world of its own (ReadMemStats) waits for the flush
// that ends it.
func noCollection() (restore func()) {
	gc := debug.SetGCPercent(-1)
	limit := debug.SetMemoryLimit(math.MaxInt64)
	// (ReadGCStats, not runtime/metrics: its first Read builds the
	// package's table, 40-70 µs of every start.)
	var stats debug.GCStats
	debug.ReadGCStats(&stats)
	if stats.NumGC > 0 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
	}
	return func() {
		debug.SetMemoryLimit(limit)
		debug.SetGCPercent(gc)
	}
}

// startTraced starts the program with PTRACE_TRACEME: it stops after its
// exec, before its first instruction (see awaitExec). mask is the signal
// mask the program must get back at that stop: cfg.SigMask, or this
// thread's.
//
// Go's child calls PTRACE_TRACEME and then execve, while this thread
// waits in vfork: a signal between the two would stop the child for a
// tracer that cannot answer, for good. With every signal blocked on this
// thread, the child inherits the mask until its exec; the program's own
// mask is put back at its exec stop (awaitExec), and what arrived
// meanwhile is delivered then. All but SIGTRAP: the exec's own SIGTRAP is
// that stop, and blocked it would never come (the program would run
// unguarded). SIGKILL and SIGSTOP cannot be blocked: a child SIGSTOP
// stops there is killed and started again (see launchWatch); early
// holds the signals it had pending, for awaitExec's.
//
// syscall.StartProcess, not os.StartProcess: the latter first forks a
// throwaway child to learn whether the kernel has pidfds, a tenth of a
// millisecond of every start.
func startTraced(cfg Config) (pid int, mask unix.Sigset_t, early []heldSignal, err error) {
	env := cfg.Env
	if env == nil {
		env = os.Environ()
	}
	files := []*os.File{orStd(cfg.Stdin, os.Stdin), orStd(cfg.Stdout, os.Stdout), orStd(cfg.Stderr, os.Stderr)}
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	var all unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	all.Val[0] &^= 1 << (unix.SIGTRAP - 1)
	// no_new_privs before the program's exec, not only with its filter
	// at the exec stop: a secure exec (set-user-ID or set-group-ID to
	// other ids, file capabilities, which a tracer with CAP_SYS_PTRACE
	// lets take effect) clears the parent-death signal, and that signal
	// is what kills the program with mmapguard where PTRACE_O_EXITKILL
	// does not hold yet or any more: between the exec and its
	// PTRACE_SETOPTIONS (awaitExec), a TRACEME tracee without the
	// option, which ran on unguarded when mmapguard was SIGKILLed there,
	// and in the hand-over (handOver), detached, which stayed at its
	// stub, untraced. Under no_new_privs no exec is a secure one, and the
	// program gains no ids, as at every later exec (docs/run.md). The
	// flag is per thread: this one's, inherited by the child.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return 0, mask, nil, fmt.Errorf("setting no_new_privs for the launch: %w", os.NewSyscallError("prctl(PR_SET_NO_NEW_PRIVS)", err))
	}
	var own unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &all, &own); err != nil {
		return 0, mask, nil, fmt.Errorf("blocking signals for the launch: %w", err)
	}
	mask = own
	if cfg.SigMask != nil {
		mask = *cfg.SigMask
	}
	for {
		// A child stopped by SIGSTOP between its PTRACE_TRACEME and its
		// execve is killed and started again (see launchWatch).
		w := watchLaunch()
		pid, _, err = syscall.StartProcess(cfg.Path, cfg.Args, &syscall.ProcAttr{
			Dir:   cfg.Dir,
			Env:   env,
			Files: fds,
			// PTRACE_TRACEME in the child: it stops after its exec,
			// before the program's first instruction.
			Sys: &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL},
		})
		killed, pending := w.end()
		if err != nil || !killed {
			break
		}
		killStarted(pid)
		early = append(early, pending...)
	}
	_ = unix.PthreadSigmask(unix.SIG_SETMASK, &own, nil)
	runtime.KeepAlive(files)
	if err != nil {
		// Fork or exec refused: the kernel's errno either way.
		return 0, mask, nil, &ExecError{Path: cfg.Path, Err: err}
	}
	return pid, mask, early, nil
}

// killStarted kills a program started by startTraced that must not run,
// and reaps it.
func killStarted(pid int) {
	_ = unix.Kill(pid, unix.SIGKILL)
	var ws unix.WaitStatus
	for {
		if err := waitTask(pid, &ws, unix.WALL); err != nil || ws.Exited() || ws.Signaled() {
			return
		}
	}
}

// ExecError says the program could not be started (execve failed).
type ExecError struct {
	Path string
	Err  error
}

func (e *ExecError) Error() string { return fmt.Sprintf("exec %s: %v", e.Path, e.Err) }
func (e *ExecError) Unwrap() error { return e.Err }

// The first program's start.
//
// Go can start a traced process only with PTRACE_TRACEME
// (SysProcAttr.Ptrace): the child stops with SIGTRAP after its execve,
// before the program's first instruction. Such a tracee cannot be
// PTRACE_LISTENed to or PTRACE_INTERRUPTed, and its children would
// inherit that mode. So the program is first made safe where it stands
// (programStart injects its reservations, the code page and the seccomp
// filter, with the options that injection needs set), and only then
// handed over to PTRACE_SEIZE (handOver): the tracer detaches it
// standing at a stub of its own, seizes and interrupts it, and its next
// stop (seized) ends the hand-over. In between it has its reservations
// and filter in place and no tracer for a moment, and runs nothing of
// its own.

// awaitExec waits for the TRACEME child's exec stop. Signals that stop
// it before (it is still in Go's fork code) are held back, and returned
// to be sent to the program once it is guarded.
func awaitExec(pid int, mask unix.Sigset_t) (ws unix.WaitStatus, early []heldSignal, err error) {
	for {
		if err := waitTask(pid, &ws, unix.WALL); err != nil {
			// (ws says nothing then: not stopped, not to be killed.)
			return 0, early, err
		}
		if !ws.Stopped() {
			return ws, early, nil
		}
		sig := ws.StopSignal()
		if sig == syscall.SIGTRAP && isExecTrap(pid) {
			opts := unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_EXITKILL
			err := ptrace(unix.PTRACE_SETOPTIONS, pid, 0, uintptr(opts))
			if err == nil {
				// The program's own signal mask (see run).
				err = ptracePtr(unix.PTRACE_SETSIGMASK, pid, 8, unsafe.Pointer(&mask.Val[0]))
			}
			if errors.Is(err, unix.ESRCH) {
				err = nil // killed meanwhile: its exit is on its way
			}
			return ws, early, os.NewSyscallError("ptrace(PTRACE_SETOPTIONS)", err)
		}
		deliver := 0
		if syncFault(sig) && kernelSent(pid) {
			// A fault: held back, it would stop the child again at once,
			// for good. An exec that fails after the point of no return
			// ends this way (SIGSEGV from the kernel): as natively, the
			// process dies of it.
			deliver = int(sig)
		} else {
			early = append(early, holdSignal(pid, sig))
		}
		if err := cont(pid, deliver); err != nil {
			return ws, early, os.NewSyscallError("ptrace(PTRACE_CONT)", err)
		}
	}
}

// isExecTrap tells the SIGTRAP the kernel sends a PTRACE_TRACEME tracee
// after its exec (from itself: SI_USER with its own pid) from one someone
// else sent before the exec. Mistaking the exec's for an early one would
// let the program run unguarded, so a stop is also taken for the exec's
// when the process no longer runs mmapguard's own executable.
func isExecTrap(pid int) bool {
	var si [128]byte
	if ptracePtr(unix.PTRACE_GETSIGINFO, pid, 0, unsafe.Pointer(&si[0])) == nil {
		// si_signo, si_errno, si_code, then (8-byte aligned) si_pid.
		le := binary.LittleEndian
		if code, sender := int32(le.Uint32(si[8:])), int32(le.Uint32(si[16:])); code == 0 && int(sender) == pid {
			return true
		}
	}
	self, err1 := os.Executable()
	exe, err2 := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err1 != nil || err2 != nil || exe != self
}

// handOver turns the TRACEME tracee, guarded and stopped after its last
// injected call, into a PTRACE_SEIZE tracee: detached, seized at once
// and interrupted (PTRACE_INTERRUPT). seized handles its next stop.
//
// Between the detach and the seize the program is traced by nobody. Run
// on untraced, its forks would not be followed and an exec of its (or
// of such a child's) would get no reservations, so that its NULL-hint
// mmaps, which the filter lets the kernel place, went into the protected
// ranges once it had filled the rest of the address space (found by the
// seventeenth session's strict hunt). While it is detached it therefore
// stands at handoffStub, written over its first instructions (or the end
// of their page: see handoffAt): it runs
// nothing of its own, and waits in pause(2) until the interrupt's stop,
// where seized puts its code and registers back.
//
// Job control works meanwhile as without the guard: a stop signal stops
// it (seized then finds it in that group-stop, its own), a SIGCONT
// continues it (into the stub: pause again). Until the eighteenth
// session the program was detached with a SIGSTOP of the guard's
// instead, seized in that group-stop and continued with a SIGCONT that
// it must not see; a stop signal of the program's own that came meanwhile
// merged with the guard's SIGSTOP, or came between the guard's look at
// the pending signals and its SIGCONT, and was flushed by that SIGCONT
// (TestRunStopAtStart/pid: about one start in fifty lost its stop).
func (t *tracer) handOver(tk *task) {
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return
	}
	stub := handoffStub(regs.Cs)
	at := handoffAt(regs.Rip, len(stub))
	orig := make([]byte, len(stub))
	if err := peek(tk.tid, at, orig); err != nil {
		t.lost(tk, err)
		return
	}
	if err := poke(tk.tid, at, stub); err != nil {
		// (The reservations' syscall instruction was written there.)
		t.lost(tk, err)
		return
	}
	tk.handoffCode, tk.handoffAt, tk.handoffRegs = orig, at, &regs
	if at != regs.Rip {
		moved := regs
		moved.Rip = at
		if err := setRegs(tk.tid, &moved); err != nil {
			t.lost(tk, err)
			return
		}
	}
	// The signals held during the guard's first calls are sent again
	// now, in their order, and taken once it is detached, as without the
	// guard: a stop signal stops it, and a SIGCONT sent since, even while
	// it is detached, ends that stop. (Sent after the seize, a held stop
	// signal would stop it for good where the SIGCONT that should end
	// it came while it was detached.)
	if atHandOver != nil {
		atHandOver(tk)
	}
	t.sendDeferred(tk)
	if err := ptrace(unix.PTRACE_DETACH, tk.tid, 0, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			t.lost(tk, err) // killed meanwhile: its exit is on its way
			return
		}
		t.startErr = fmt.Errorf("handing the program over to PTRACE_SEIZE: %w", os.NewSyscallError("ptrace(PTRACE_DETACH)", err))
		t.kill(tk)
		return
	}
	err := seize(tk.tid, ptraceOptions)
	if err == nil {
		err = os.NewSyscallError("ptrace(PTRACE_INTERRUPT)", interrupt(tk.tid))
	}
	if err != nil {
		if errors.Is(err, unix.ESRCH) || !taskLives(tk.tid) {
			// Killed meanwhile (a zombie cannot be seized: EPERM): its
			// exit, reported to its parent, is on its way.
			t.lost(tk, unix.ESRCH)
			return
		}
		t.startErr = fmt.Errorf("handing the program over to PTRACE_SEIZE: %w%s", err, ptraceHint(err))
		t.kill(tk)
		return
	}
	tk.seizing = true
}

// handoffAt returns where the hand-over's stub of n bytes goes for a
// program whose first instruction is at ip: there, unless the stub
// would run past the end of ip's page, into a page that may not be
// mapped; then at the end of that page, which is the program's code as
// well, its instruction pointer moved there for the hand-over. A
// program whose first instruction lay in the last 8 bytes of its code
// (a jmp back, say) was killed at the start ("input/output error;
// killing its process"): until the eighteenth session the stub was not
// needed for it to run, and its review found that the stub always was
// (TestHandoverEntryAtPageEnd).
func handoffAt(ip uint64, n int) uint64 {
	const page = 4096 // x86-64 and i386
	if ip%page+uint64(n) <= page {
		return ip
	}
	return ip - ip%page + page - uint64(n)
}

// handoffStub returns the code the first program stands at during the
// hand-over (see handOver), for code segment cs: pause() in a loop,
// with the 64-bit or (cs is __USER32_CS) the i386 call, neither of
// which the filter stops.
func handoffStub(cs uint64) []byte {
	if cs == user32CS {
		return []byte{
			0xb8, 29, 0, 0, 0, // mov $29 (pause), %eax
			0xcd, 0x80, // int $0x80
			0xeb, 0xf7, // jmp back to the start
		}
	}
	return []byte{
		0xb8, 34, 0, 0, 0, // mov $34 (pause), %eax
		0x0f, 0x05, // syscall
		0xeb, 0xf7, // jmp back to the start
	}
}

// seized handles the first stop after handOver: the interrupt's, or a
// group-stop the program was in or went into before it (its own), or
// a signal it got before it. Its code and registers go back first,
// before it runs. (Its registers are those of its exec's stop: with
// orig_rax execve's and rax 0, the pause it stood in is not restarted.)
func (t *tracer) seized(tk *task, ws unix.WaitStatus) {
	tk.seizing = false
	if code := tk.handoffCode; code != nil {
		tk.handoffCode = nil
		if err := poke(tk.tid, tk.handoffAt, code); err != nil {
			t.lost(tk, err)
			return
		}
	}
	if saved := tk.handoffRegs; saved != nil {
		tk.handoffRegs = nil
		if err := setRegs(tk.tid, saved); err != nil {
			t.lost(tk, err)
			return
		}
	}
	if len(tk.resent) > 0 {
		// The signals sent again that it took while detached are gone
		// (a blocked one is still pending): their siginfo must not go
		// to a later one (see restoreSigInfo).
		var pending uint64
		if f, ok := procStatus(tk.tid, "SigPnd"); ok {
			pending, _ = strconv.ParseUint(f[0], 16, 64)
		}
		tk.resent = slices.DeleteFunc(tk.resent, func(h heldSignal) bool { return pending&sigBit(h.sig) == 0 })
	}
	if int(ws)>>16 == ptraceEventStop && ws.StopSignal() == syscall.SIGTRAP {
		t.resume(tk, cont, 0) // the interrupt's stop
		return
	}
	t.dispatch(tk.tid, ws)
	if tk.groupStop {
		// Stopped when seized: the interrupt may make it report the
		// same stop again.
		tk.reTrap = true
	}
}

// passMidCall passes on at once a job-control signal that comes while
// the guard runs calls of its own in a task, where its delivery runs
// none of the program's code. A stop signal the program neither catches
// nor ignores stops the task now, as natively (the group-stop is then
// reported as any that meets the guard's calls: see dispatch); a SIGCONT
// it does not catch did all it does when it was sent, and its delivery
// is dropped. Held and sent again after the calls, such a signal took
// effect late and could undo a newer one: a SIGCONT sent again flushed
// the stop the parent had sent since it saw the process continue, and
// the parent, waiting for that stop, waited for good (three processes
// of four threads moving mappings out of the range, stopped and
// continued by their parent: a stop lost in every run of 300 rounds,
// TestJobControlMidCall).
//
// The first program, during its hand-over (see handOver), is traced with
// PTRACE_TRACEME yet: the group-stop a stop signal passed on starts is
// reported as a bare stop, with no siginfo (handoffGroupStop), and cannot
// be listened to. The calls go on, the process stopped as far as the
// kernel and its parent know; the detach puts the task back into that
// stop if it is still in force, and a SIGCONT that came meanwhile has
// ended it. Until the twenty-first session such a stop signal was held
// and sent again right before the detach, unless a SIGCONT was pending
// then: one that came between that look and the tgkill was flushed by
// the stop signal, and the program stayed stopped for good
// (TestRunStopAtStart's pair mode: 1 start in about 3,100).
func (t *tracer) passMidCall(tk *task, sig syscall.Signal) bool {
	switch {
	case sig == syscall.SIGCONT:
		if caught(tk.tid, sig) {
			return false
		}
		if tk.handoff {
			// A stop signal still held from before the exec (see
			// startTraced: one pending in a child started again) was
			// pending, never taken: natively this SIGCONT flushed it.
			// Sent at the hand-over after the SIGCONT was dropped here,
			// it stopped the program for good.
			tk.deferred = slices.DeleteFunc(tk.deferred, func(h heldSignal) bool { return groupStopSig(h.sig) && !h.stop })
		}
		t.resume(tk, sysStep, 0)
	case groupStopSig(sig):
		// (A handler another thread installs between this look and
		// the delivery would run in the middle of the guard's calls,
		// and return to them; a trapped call it made there would
		// have the process killed, failing closed.)
		if !stopsOn(tk.tid, sig) {
			return false
		}
		if t.orphanDiscards(tk, sig) {
			t.resume(tk, sysStep, 0)
			return true
		}
		t.resume(tk, sysStep, int(sig))
		tk.stopping, tk.stopSeq = sig, t.nextJob()
	default:
		return false
	}
	return true
}

// sendDeferred sends a task the signals held back during an injection.
// tgkill gives them a siginfo of its own (SI_TKILL, from mmapguard): the
// one they came with is put back at their delivery (restoreSigInfo).
//
// It is called while the task is still stopped, before it is resumed:
// the signal is then pending when the task returns to user space, and
// taken there, as it would have been without the injection. Sent after
// the resume, it could come too late: a thread that leaves right after
// its call (SYS_exit, the end of a thread's function) has no return to
// user space left, and a signal sent to it alone dies with it. A
// process-directed signal (kill, a ^Z's SIGSTOP) that this thread took
// off the process's queue was then lost for the whole process: the
// stop never came, and a SIGUSR1 the other threads block was neither
// handled nor pending (deferexit.c, TestDeferredSignalThreadExit).
//
// It reports whether it sent a stop signal again.
func (t *tracer) sendDeferred(tk *task) (sentStop bool) {
	// The signals pending before any is sent again here. A stop pending
	// came after every SIGCONT held: a stop held before a SIGCONT in the
	// same list is sent again first, and flushed by the SIGCONT after
	// it, as natively; taken for one sent since, it had the SIGCONT
	// dropped and the program stopped for good (a ^Z, then fg, in the
	// program's first milliseconds). A SIGCONT pending came after every
	// stop signal held (a stop signal's arrival flushes a pending
	// SIGCONT): see below, where it is looked for again right before
	// each stop signal is sent.
	var pending uint64
	if slices.ContainsFunc(tk.deferred, func(h heldSignal) bool { return h.sig == syscall.SIGCONT }) {
		pending = pendingMask(tk.tid)
	}
	contAgain := false
	for _, h := range tk.deferred {
		if h.stop {
			// A group-stop it took part in during the guard's calls
			// (see dispatch): interrupted, it stops at once, and the
			// kernel reports that stop as the group's, with its stop
			// signal, if the group is still stopped (then listened
			// to, as any group-stop), or as a bare trap if a SIGCONT
			// ended it meanwhile (then resumed). A stop signal sent
			// again instead stopped the process anew after its
			// parent had continued it.
			_ = interrupt(tk.tid)
			continue
		}
		if h.sig == syscall.SIGCONT && (pending&stopSignals != 0 || t.stopSince(tk, h.seq)) {
			// (One the program catches: see passMidCall.) Its handler
			// would have run before the stop sent since; sent again
			// now, the SIGCONT would end that stop, or flush it, and
			// the parent waiting for it would wait for good. The
			// handler misses this one.
			continue
		}
		if groupStopSig(h.sig) && pendingMask(tk.tid)&sigBit(syscall.SIGCONT) != 0 {
			// Natively the stop took effect and the SIGCONT, which
			// came after it, ended it: the process runs. Sent again
			// now, the stop signal flushed that SIGCONT and stopped
			// the process for good: a SIGSTOP and a SIGCONT sent to
			// the program a few hundred microseconds apart while the
			// guard ran its first calls, the SIGCONT during the last
			// one (the program takes no signal between it and the
			// hand-over), left it stopped and mmapguard waiting for
			// it (TestRunStopAtStart's pair mode: 16 of 600 starts
			// before this). A stop signal that would stop the process
			// is not sent again then; one the program catches is, its
			// handler running, with the SIGCONT sent again after it.
			// Left: a SIGCONT that comes between this look and the
			// tgkill below is still flushed (the look, a read of
			// /proc, takes some microseconds). With one look before
			// the loop, 2 such starts of 1,000 still hung; with the
			// look here, 1 of 3,100. Since the twenty-first session a
			// stop that would stop the program is not held during
			// the first calls (see passMidCall): only one from before
			// the exec (see startTraced) is still sent here.
			if !caught(tk.tid, h.sig) {
				continue
			}
			contAgain = true
		}
		if unix.Tgkill(tk.pid, tk.tid, h.sig) == nil {
			if h.ok {
				tk.resent = append(tk.resent, h)
			}
			sentStop = sentStop || groupStopSig(h.sig)
		}
	}
	if contAgain {
		// The caught stop signal sent again flushed the SIGCONT that
		// was pending: its handler has run by then natively, and the
		// SIGCONT ran its own after (with mmapguard's siginfo now).
		_ = unix.Tgkill(tk.pid, tk.tid, syscall.SIGCONT)
	}
	tk.deferred = nil
	return sentStop
}

// stopSince reports whether a stop came to tk's process after the
// signal held at jobSeq since, as the tracer saw them: one it passed on
// to a task of the process, or a group-stop held back from one, after
// that. (A stop signal pending, the caller looks at: a SIGCONT flushed
// those sent before it.)
func (t *tracer) stopSince(tk *task, since uint64) bool {
	for _, o := range t.tasks {
		if o.pid != tk.pid {
			continue
		}
		if o.stopSeq > since {
			return true
		}
		for _, h := range o.deferred {
			if h.stop && h.seq > since {
				return true
			}
		}
	}
	return false
}

// stopSignals are the signals that stop a process, as a mask of sigBit.
const stopSignals = 1<<(syscall.SIGSTOP-1) | 1<<(syscall.SIGTSTP-1) | 1<<(syscall.SIGTTIN-1) | 1<<(syscall.SIGTTOU-1)

// pendingMask returns the signals pending for a task, its own and its
// process's, as a mask of sigBit.
func pendingMask(tid int) uint64 {
	var m uint64
	if f, ok := procStatus(tid, "ShdPnd", "SigPnd"); ok {
		for _, v := range f {
			if b, err := strconv.ParseUint(v, 16, 64); err == nil {
				m |= b
			}
		}
	}
	return m
}

// sigBit is sig's bit in /proc/PID/status's signal masks.
func sigBit(sig syscall.Signal) uint64 { return 1 << (sig - 1) }

// interruptTask interrupts a task (PTRACE_INTERRUPT) for the guard's own
// purposes: a freeze, a look at what it is doing. A task listening in a
// group-stop then reports that stop again, which is not a new one.
func (t *tracer) interruptTask(o *task) error {
	err := interrupt(o.tid)
	if err == nil && o.groupStop {
		o.reTrap = true
	}
	return err
}

// nextJob numbers a signal the tracer holds back or a stop signal it
// passes on (see stopSince).
func (t *tracer) nextJob() uint64 {
	t.jobSeq++
	return t.jobSeq
}

// heldSignal is a signal held back from a task, with its siginfo.
type heldSignal struct {
	sig  syscall.Signal
	info [128]byte
	ok   bool // info was read
	// stop: a group-stop the task took part in during an injection (no
	// siginfo): see sendDeferred.
	stop bool
	// seq orders it with the stop signals passed on (see stopSince).
	seq uint64
}

// holdSignal reads the siginfo of the signal a task is stopped for.
func holdSignal(tid int, sig syscall.Signal) heldSignal {
	h := heldSignal{sig: sig}
	h.ok = ptracePtr(unix.PTRACE_GETSIGINFO, tid, 0, unsafe.Pointer(&h.info[0])) == nil
	return h
}

// restoreSigInfo puts back, at the delivery of a signal sendDeferred
// sent again, the siginfo it first came with (a SIGCHLD's child and
// status, a sender's pid), so that the program's handler sees what it
// would have seen.
func (t *tracer) restoreSigInfo(tk *task, sig syscall.Signal) {
	for i, h := range tk.resent {
		if h.sig != sig {
			continue
		}
		var cur [128]byte
		if ptracePtr(unix.PTRACE_GETSIGINFO, tk.tid, 0, unsafe.Pointer(&cur[0])) != nil {
			return
		}
		// si_code, then (8-byte aligned) si_pid.
		le := binary.LittleEndian
		if int32(le.Uint32(cur[8:])) != siTkill || int(int32(le.Uint32(cur[16:]))) != os.Getpid() {
			return // another sender's: delivered as it is
		}
		_ = ptracePtr(unix.PTRACE_SETSIGINFO, tk.tid, 0, unsafe.Pointer(&h.info[0]))
		tk.resent = append(tk.resent[:i], tk.resent[i+1:]...)
		return
	}
}

// siTkill is the si_code of a signal sent with tgkill.
const siTkill = -6

// waitTask waits for one report of task tid.
func waitTask(tid int, ws *unix.WaitStatus, opts int) error {
	for {
		_, err := unix.Wait4(tid, ws, opts, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// threadGroup reads a task's thread group id from /proc (a clone event
// does not say whether the child is a thread); guess is used if that
// fails.
func threadGroup(tid, guess int) int {
	if f, ok := procStatus(tid, "Tgid"); ok {
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n
		}
	}
	return guess
}

// procStatus reads fields of /proc/TID/status by name ("Tgid", "State"),
// their values in the order asked for, trimmed ("" for a field that is
// not there); false when the file cannot be read (the task is gone).
func procStatus(tid int, keys ...string) ([]string, bool) {
	f, err := procStatusErr(tid, keys...)
	return f, err == nil
}

// procStatusErr is procStatus with the reason the file could not be
// read: see gone.
func procStatusErr(tid int, keys ...string) ([]string, error) {
	procReads.Add(1)
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return nil, err
	}
	vals := make([]string, len(keys))
	for l := range strings.SplitSeq(string(b), "\n") {
		name, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		for i, k := range keys {
			if name == k {
				vals[i] = strings.TrimSpace(v)
			}
		}
	}
	return vals, nil
}

// gone reports whether err, from reading a file of /proc/TID, says the
// task is gone (ENOENT, or ESRCH for one that died after the open).
// Other errors (EMFILE, ENFILE, ENOMEM) say nothing about the task:
// mmapguard itself could not read, and a program can bring that about
// (prlimit(2) needs no privilege over a process of the same user, not
// even its being dumpable, and so lowers mmapguard's RLIMIT_NOFILE).
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// notDumpableHint says what to do when mmapguard was refused a file of
// /proc/PID (EACCES): the program made itself not dumpable, which shuts
// an unprivileged tracer out (docs/run.md). Without it the message
// named the file only, and ssh-agent under --pool-all, killed so as it
// daemonizes, left the user to guess.
func notDumpableHint(err error) string {
	if !errors.Is(err, fs.ErrPermission) {
		return ""
	}
	return " (the program made itself not dumpable, as ssh-agent and gpg-agent do, which keeps an " +
		"unprivileged mmapguard out of its /proc files: run mmapguard as root for it)"
}

// failClosed kills a process the guard cannot keep its promise for, and
// says why (always, even with warnings off: the program did not fail by
// itself).
func (t *tracer) failClosed(tk *task, why string) {
	t.reportClosed(tk, why+"; killing it")
	tk.inj = nil
	t.kill(tk)
}

// memoryRefusedHint explains a failed write to process tid's memory (err)
// where the kernel refuses it to an unprivileged tracer: the process is
// not dumpable, as after the exec of a file its user may run but not
// read (mode 0711), and then only a tracer with CAP_SYS_PTRACE may
// write its memory (ptrace_access_vm: EIO). Natively such a program
// runs; under an unprivileged mmapguard it cannot be guarded. The sign:
// the kernel makes the files of a process that is not dumpable root's in
// /proc (not its directory). Empty where that is not the case.
func memoryRefusedHint(tid int, err error) string {
	if !errors.Is(err, unix.EIO) && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EFAULT) || os.Geteuid() == 0 {
		return ""
	}
	var st unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d/stat", tid), &st) != nil || st.Uid != 0 {
		return ""
	}
	return " (the program is not dumpable, as after the exec of a file its user may run but not read, " +
		"and the kernel lets only a tracer with CAP_SYS_PTRACE write to its memory: " +
		"make the file readable, or run mmapguard as root)"
}

// reportClosed says why a process is ended to keep the guarantee, and
// counts it.
func (t *tracer) reportClosed(tk *task, why string) {
	id := tk.pid
	if id <= 0 {
		id = tk.tid // a new task whose process is not known yet
	}
	msg := fmt.Sprintf("mmapguard: pid %d: %s (fail closed)\n", id, why)
	if t.cfg.Warn != nil {
		fmt.Fprint(t.cfg.Warn, msg)
	} else {
		fmt.Fprint(os.Stderr, msg)
	}
	t.res.FailedClosed++
}

func warnOnce(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, "mmapguard: warning: "+format+"\n", a...)
	}
}

func orStd(f, std *os.File) *os.File {
	if f != nil {
		return f
	}
	return std
}

// ptraceHint names the usual causes of a refused PTRACE_SEIZE.
func ptraceHint(err error) string {
	if !errors.Is(err, unix.EPERM) {
		return ""
	}
	hint := " (ptrace refused:"
	if b, err := procfile.Read("/proc/sys/kernel/yama/ptrace_scope"); err == nil && len(b) > 0 && b[0] != '0' {
		hint += " Yama's kernel.yama.ptrace_scope is " + string(b[:1]) + ", set it to 0 or run as root;"
	}
	return hint + " in a container, grant CAP_SYS_PTRACE and allow ptrace in its seccomp profile)"
}

// space is one address space: shared by the threads of a process and
// by a vfork child until it execs.
type space struct {
	guard *rewrite.Guard
	// abi is the ABI of the program exec'd into this space.
	abi rewrite.ABI
	// planner chooses where shared objects go (with Config.Place), and
	// spans says where each placed object's span landed.
	planner *loader.Planner
	// loader is where the program's ELF interpreter (ld.so) has its
	// code: only calls made from there are placed (see placement).
	loader []region.Range
	spans  map[*loader.Object]region.Range
	// frozen is set while the other tasks are kept stopped (see freeze).
	frozen *freeze
	// codeTask is the task mapping the guard's code page, while it does
	// (see codeCall); codeWaiters are the other tasks held at their
	// seccomp stops meanwhile (holdForCode).
	codeTask    *task
	codeWaiters []*task
	// fliers are the tasks with a call in flight, flightWaiters those
	// held at their seccomp stops until a flight that overlaps their
	// call lands (see flight.go); landed counts the flights landed, and
	// landings holds the spans of the last of them (see uncertain), a
	// ring whose oldest is at landHead once it holds maxLandings.
	fliers, flightWaiters []*task
	landed                uint64
	landings              []landing
	landHead              int
	// settler is the new process whose model was just read from its
	// layout (adoptLate) while it makes the reservations that layout
	// lacked; settleWaiters are the processes sharing its memory that
	// joined the space meanwhile, kept stopped until they are made (see
	// settled). broken is set once a task died in a call whose end the
	// guard must see: the model may hold a reservation the kernel
	// unmapped, and no new task may join the space.
	settler       *task
	settleWaiters []*task
	broken        bool
	// ident is the exec this space's program runs (see execIdentity),
	// as last read for a held new process's parent (noteHeldFrom), or
	// inherited from the space a fork copied: for a parent that is
	// dying by the next one's first stop, whose /proc shows none then.
	// Read while a task of the space was in the middle of an exec, it
	// is the new program's: no child of that one's is held with this
	// space as its parent's, and a child of the old one's is killed.
	ident [2]uint64
}

type task struct {
	tid int
	// pid is the task's thread group (process) id.
	pid int
	sp  *space
	// born is true until the new task's first stop has been seen.
	born bool
	// held is set on a new task whose first stop came before its
	// parent's clone event: it waits for the event to get its space
	// (or for an exit: see settleHeld).
	held bool
	// orphan is set on a held task whose creator was ended by an exec
	// of another thread of its process: its event will not come.
	// orphanOf is, for a held process whose parent process exec'd
	// (before its first stop, within lateWindow, or after it), that
	// process's space before the exec, of which it shares or copied
	// the memory if a thread the exec ended made it (see orphanHeld
	// and adoptLate): set when either is seen, kept should the parent
	// process end before the task is settled.
	orphan   bool
	orphanOf *space
	// groupStop is set while the task is in a group-stop (job control:
	// SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU), listened to; any other report
	// of the task clears it (see orphanedGroup).
	groupStop bool
	// stopping is the stop signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU)
	// the task was last resumed with from its signal-delivery-stop: it
	// is on its way to a group-stop, not yet reported; any other report
	// of the task clears it (see orphanedGroup).
	stopping syscall.Signal
	// reTrap: the guard interrupted the task while it listened in a
	// group-stop (see interruptTask).
	reTrap bool
	// stopSeq is when (jobSeq) a stop signal was last passed on to the
	// task (see stopSince).
	stopSeq uint64
	// firstSig is the signal of a new task's first stop: SIGSTOP (or
	// SIGTSTP, SIGTTIN, SIGTTOU) where the task was made while its
	// process was stopping (a new thread joins a group-stop under
	// way), or was sent a stop signal before it ran.
	firstSig syscall.Signal
	// heldThread is set on a held task that is a thread (not its
	// process's leader): its creator is a thread of its own process,
	// and whatever ends the creator before its event (a group exit,
	// another thread's exec) ends it too. It needs no look at /proc:
	// its event or its exit is on the way.
	heldThread bool
	// brkUnknown is set on a new process whose model was read from its
	// layout (adoptLate), which does not show the program break.
	brkUnknown bool
	// preExec is the space the process had before its last exec, kept
	// lateWindow for a child forked by one of its threads that the
	// exec ended, whose first stop comes after the exec (adoptLate).
	preExec   *space
	preExecAt time.Time
	// heldPPid is a held new process's parent process when its first
	// stop was seen: its creator's process then (or, for CLONE_PARENT,
	// the creator's parent), before the death of the creator hands it
	// to a subreaper or init.
	heldPPid int
	// heldFrom is the space of that process when the first stop was
	// seen, and heldExec the exec of the program it ran then (see
	// execIdentity): the memory a held process copied, if its creator
	// (a thread of that process) dies before its event and the process
	// runs that exec (see deadCreatorSpace).
	heldFrom *space
	heldExec [2]uint64
	// probed is set on a task interrupted to see whether it made a held
	// task (see mayHaveMade), until its next stop.
	probed bool
	// inj is the injection in progress, if any.
	inj *injection
	// codeHeld is set while the task is held at its seccomp stop
	// (holdForCode).
	codeHeld bool
	// flight is the span of the call the task was sent on with, which
	// may not be over yet, flightTake what of it the call may map for
	// the program (see uncertain); flightInt says it was interrupted to
	// end it;
	// flightHeld is set while the task waits at its seccomp stop for
	// another's flight (see flight.go).
	flight, flightTake                 region.Range
	flightInt, flightHeld, flightFresh bool
	flightNr                           [2]uint64
	flightArgs                         [2][2]uint64 // (address, length) of each
	// landMark is its space's count of landed flights when the task
	// was last resumed (see othersInFlight).
	landMark uint64
	// deferred are signals that arrived during an injection, sent
	// again once it is over; resent are those sent again whose
	// delivery has not been seen yet (their siginfo is put back then).
	deferred, resent []heldSignal
	// tramps are the one-stop rewrites of this task that may still
	// report a failure (see oneStop).
	tramps []*trampCall
	// For the first program's start (see handOver): handoff is set
	// while it is still a PTRACE_TRACEME tracee, seizing until its
	// first stop under PTRACE_SEIZE.
	handoff, seizing bool
	// handoffRegs are the program's registers at its first instruction
	// and handoffCode the bytes handoffStub replaced at handoffAt (see
	// handoffAt), during the hand-over.
	handoffRegs *unix.PtraceRegs
	handoffCode []byte
	handoffAt   uint64
	// forkCalls are reservations to inject in a forked child before it
	// runs (where its parent had MADV_DONTFORK mappings).
	forkCalls []rewrite.Call
	// ev is the event of the trapped call in progress, when events are
	// wanted.
	ev *Event
	// spanObj is the object whose first mapping the call in progress
	// is (with Config.Place), spanLen its length.
	spanObj *loader.Object
	spanLen uint64
	// spanWant is the base the planner gave spanObj (0 if none): a
	// first mapping that lands elsewhere gives its span back.
	spanWant uint64
	// loadSpan is the span of the object this task's last first
	// mapping placed (empty if it placed none): ld.so's anonymous
	// MAP_FIXED zero-fill of its .bss inside it is the loader's, an
	// allowed requester's even under a strict policy. inSpan says the
	// call in progress is such a mapping, or a segment of a placed
	// object inside its span.
	loadSpan region.Range
	loadObj  *loader.Object // the object placed at loadSpan
	inSpan   bool
	// vforkChild is the child a task vforked, until the task's next
	// stop: it sits in the kernel until that child execs or exits.
	vforkChild int
	// exitOpt is set while the task has PTRACE_O_TRACEEXIT (see
	// leaderOptions); exiting once its exit stop has been seen: it runs
	// no code of the program's any more, and may never stop again.
	exitOpt, exiting bool
	// bornExiting is set on a new task whose first report was its exit
	// stop (see dispatch): it never ran, and is in no space.
	bornExiting bool
}

type tracer struct {
	cfg Config
	// gotFrom says when the first program last got each signal,
	// forwarded (see forwardedTwice); others, when it got one from
	// another process, which the launcher's forwarder reads too.
	gotFrom map[sigCopy]time.Time
	others  *otherCopies
	// mainPid is the first program's pid; -1 once its process has
	// ended.
	mainPid int
	// ended is set once the first program's process has ended, for the
	// launcher's forwarder (see signalLeftovers); nil without one.
	ended  *atomic.Bool
	tasks  map[int]*task
	res    Result
	warned map[string]bool
	// strictWarned is set once a --strict refusal has been warned of.
	strictWarned bool
	// occupiedSeen holds the objects found in guarded ranges at an exec
	// so far, each run by its object and offset (see warnOccupied).
	occupiedSeen map[string]bool
	// mapLimit is vm.max_map_count (see mapCountLimit); past a quarter
	// of it in reservations, the tracer warns.
	mapLimit int
	spaces   map[*space]bool
	// ready are tasks held at their seccomp stops (holdForCode) whose
	// stops are to be handled now.
	ready []*task
	// noSuspend is set once PTRACE_O_SUSPEND_SECCOMP turns out to be
	// refused (see suspendSeccomp).
	noSuspend bool
	// regsOnly is set once PTRACE_GET_SYSCALL_INFO turns out to be
	// missing (Linux before 5.3): stops are read from the registers.
	regsOnly bool
	// noSetInfo is set once PTRACE_SET_SYSCALL_INFO turns out to be
	// missing (Linux before 6.16): calls are changed with SETREGS.
	noSetInfo bool
	// otherFilters is 1 once a traced task is known to run under a
	// seccomp filter that is not the guard's (inherited from
	// mmapguard's own environment, or installed by the program), -1 once
	// known not to: such a filter sees the calls the guard rewrites, and
	// the carry path's (see carryEntry).
	otherFilters int
	// attr finds the code behind each trapped call, when events or
	// owner rules want it.
	attr *Attributor
	// freezes counts the frozen spaces; bornStash keeps the stops of
	// new tasks meanwhile.
	freezes   int
	bornStash []waitStop
	// sleepersAt is when a freeze began to wait for tasks that may be
	// asleep in the kernel (see lookAtSleepers); zero when none does.
	sleepersAt time.Time
	// nHeld counts the held tasks; settleDue asks for settleHeld once
	// no space is frozen.
	nHeld int
	// nHeldProcs counts the held tasks that are not threads: only they
	// need the look for their creator (see wantSettle).
	nHeldProcs int
	settleDue  bool
	// passMade and passPPid keep, during a pass of settleHeld, what
	// mayHaveMade and parentPid found for each task.
	passMade map[*task]bool
	passPPid map[*task]int
	// settleAt is when settleHeld was first asked for since it last
	// ran (see wantSettle); zero when it is not.
	settleAt time.Time
	// goneEarly holds, for a while, the new tasks whose first report was
	// their exit stop and that were gone before their creator's event
	// (which usually never comes: see dispatch), so that an event that
	// does come late is not taken for a child still to stop.
	goneEarly map[int]time.Time
	// filter is the seccomp filter in the kernel's encoding (struct
	// sock_filter array), injected into the first program.
	filter []byte
	// startErr says why the first program could not be guarded at all
	// (killed before its first instruction): Run's error.
	startErr error
	// jobStop is the signal of the first program's job-control stop,
	// seen at jobStopAt, to pass on to Config.JobStop once no other stop
	// waits (see stopJob); 0 when there is none.
	jobStop   syscall.Signal
	jobStopAt time.Time
	// pgrpOrphaned is set once the tracer's process group, the one the
	// first program started in, is orphaned as it would be without the
	// tracer in it (see orphanedGroup).
	pgrpOrphaned bool
	// jobSeq numbers the signals held back and the stop signals passed
	// on, in the order the tracer saw them (see stopSince).
	jobSeq uint64
	// pgrpKeeper is the member that kept that group from orphanhood
	// at the last look (see orphanedGroupIn), 0 if none.
	pgrpKeeper int
	// orphanDue is when a traced process ended, making a look at
	// whether the tracer's group is orphaned due once the stops already
	// waiting are handled (see orphanedGroup); zero when none is due.
	orphanDue time.Time
}

// orphanLook makes the look at the tracer's group that an exit made due
// (see orphanDue).
func (t *tracer) orphanLook() {
	t.orphanDue = time.Time{}
	t.orphanedGroup()
}

// orphanDrain bounds the time a look at whether the tracer's group is
// orphaned waits for the stops already reported to be handled first.
const orphanDrain = 20 * time.Millisecond

// jobStopDrain bounds the time the first program's job-control stop
// waits for the other tasks' stops before it is passed on (see stopJob).
const jobStopDrain = 100 * time.Millisecond

// breakFilter makes the kernel refuse the filter, to test that the
// program then never runs.
var breakFilter = false

// forceRegs makes every tracer read stops from the registers, so that
// the fallback for old kernels is tested here too.
var forceRegs = false

// stopInfo reads the call a task is stopped in.
func (t *tracer) stopInfo(tk *task, atSeccomp bool) (syscallInfo, error) {
	if !t.regsOnly && !forceRegs {
		si, err := getSyscallInfo(tk.tid)
		if !errors.Is(err, unix.EIO) {
			return si, err
		}
		t.regsOnly = true
	}
	return regsInfo(tk.tid, atSeccomp)
}

func newTracer(cfg Config, pid int) *tracer {
	t := &tracer{cfg: cfg, mainPid: pid, tasks: map[int]*task{}, warned: map[string]bool{}, occupiedSeen: map[string]bool{}, spaces: map[*space]bool{},
		mapLimit: mapCountLimit()}
	if cfg.Events != nil || len(cfg.Owners) > 0 {
		t.attr = NewAttributor()
	}
	t.tasks[pid] = &task{tid: pid, pid: pid, sp: &space{}}
	return t
}

// Forwardable are the signals a launcher passes on to the program
// through Config.Signals: the ones a user or a supervisor sends to end
// or poke a program (mmapguard's own list), and the others whose
// default action ends a process and that the Go runtime would drop:
// SIGALRM (an alarm(2) set before mmapguard was exec'd is mmapguard's,
// since exec keeps it and fork does not, and a timeout built on it
// never fired), SIGVTALRM, SIGPWR and SIGSTKFLT; and the fault signals
// sent with kill (SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGSYS,
// SIGTRAP: a kill -ABRT for a core of a program that hangs), which the
// runtime took for a fault of mmapguard's own, with a goroutine dump
// (one the kernel raises for a real fault still is: caught, only a
// signal sent with kill or tgkill is passed on). Not those raised by
// mmapguard's own doing (SIGXCPU, SIGXFSZ: its own limits), nor SIGIO
// (the kernel sends it to a whole process group, mmapguard's copy
// included, for a descriptor set with F_SETOWN to one: passed on, it
// came twice), nor those the runtime keeps for itself (SIGURG, SIGPROF,
// 32 to 34, which signal.Notify cannot catch). And the real-time
// signals 35 to 64 (Realtime), whose default action ends a process and
// which the runtime dropped.
var Forwardable = slices.Concat([]os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	syscall.SIGALRM, syscall.SIGVTALRM, syscall.SIGPWR, syscall.SIGSTKFLT}, Faults, Realtime)

// Realtime are the real-time signals a launcher passes on: 35 (the C
// library's SIGRTMIN+1) to 64. Each signal caught is a round trip with
// the runtime's signal thread: these 30 made every run 0.6-1 ms longer
// caught at its start (see docs/run.md).
var Realtime = func() []os.Signal {
	var rt []os.Signal
	for s := syscall.Signal(35); s <= 64; s++ {
		rt = append(rt, s)
	}
	return rt
}()

// Faults are the fault signals of Forwardable: passed on when sent with
// kill or tgkill (see Forwardable).
var Faults = []os.Signal{syscall.SIGABRT, syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGFPE, syscall.SIGILL, syscall.SIGSYS, syscall.SIGTRAP}

// Untermed are the job-control signals (^Z, a background job's read or
// write, fg's and bg's SIGCONT) and a terminal's resize, which a
// launcher without a controlling terminal passes on to the program too:
// none of them can then come from a terminal or a shell's job control,
// and supervisors send them to the pid they started (gunicorn and
// unicorn add and remove a worker on SIGTTIN and SIGTTOU, nginx and
// Apache end their workers gracefully on SIGWINCH, a kill -TSTP and
// kill -CONT pauses a service). Left to their default actions, a
// SIGTTIN or SIGTTOU stopped mmapguard alone, and the program then
// waited at its next traced call for good; a SIGWINCH, a SIGTSTP and a
// SIGCONT were dropped. With a controlling terminal they are the
// terminal's and the shell's, sent to the program as well.
var Untermed = []os.Signal{syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGCONT, syscall.SIGWINCH}

// forwardWindow is how long two copies of a signal the first program
// gets, one forwarded by mmapguard and one from another process, are
// taken for the same signal (see forwardedTwice).
const forwardWindow = 200 * time.Millisecond

// forwardedTwice reports whether the signal sig the first program is
// about to get is a second copy of one it got a moment ago: a signal
// sent to a whole process group (kill -TERM -PGID), or to every process
// of a cgroup (systemd's stop, in either order), reaches both mmapguard,
// which forwards it, and the program. The two copies merge in the
// kernel while the first is still pending; once the program has taken
// it, the second would run its handler a second time. Mostly the
// forwarder sees the program's copy and passes nothing on (see
// otherCopies.came); a copy that comes later than that is dropped
// here, whichever came first. A signal sent to mmapguard alone still
// reaches the program, as does the same signal sent later than
// forwardWindow. One the program (any traced process) sends is never
// dropped: its own re-raise after a handler's clean-up is not a copy;
// but mmapguard's copy of it, when the program signals its own process
// group with kill(0), is. (A program that takes its signals with
// signalfd or sigwaitinfo has no delivery stop for the tracer to see: it
// can still get both.)
func (t *tracer) forwardedTwice(tid int, sig syscall.Signal) bool {
	if !slices.Contains(Forwardable, os.Signal(sig)) && !slices.Contains(Untermed, os.Signal(sig)) {
		return false
	}
	var si [128]byte
	if ptracePtr(unix.PTRACE_GETSIGINFO, tid, 0, unsafe.Pointer(&si[0])) != nil {
		return false
	}
	const siUser = 0 // SI_USER: kill(2), and pidfd_send_signal without a siginfo
	if int32(binary.LittleEndian.Uint32(si[8:])) != siUser {
		return false
	}
	// Keyed by the copy's kind: forwarded (from mmapguard) or not.
	sender := int(int32(binary.LittleEndian.Uint32(si[16:])))
	mine := sender == os.Getpid()
	now := time.Now()
	if _, traced := t.tasks[sender]; traced {
		// The program's own: never dropped (kill(getpid()) to re-raise
		// after its handler's clean-up, say, after a forwarded copy),
		// but a copy of it that mmapguard forwards next is (a kill(0)
		// of the program's reaches mmapguard too).
		t.others.note(sig, now)
		return false
	}
	if !mine {
		if at, ok := t.gotFrom[sigCopy{sig, true}]; ok {
			// mmapguard's copy came first (more than forwardGrace
			// before this one: see otherCopies.came).
			delete(t.gotFrom, sigCopy{sig, true})
			if now.Sub(at) < forwardWindow && caught(tid, sig) {
				return true
			}
		}
		t.others.note(sig, now)
		return false
	}
	if t.others.take(sig, now) && caught(tid, sig) {
		// The other copy came first, but after the forwarder had
		// stopped waiting for it (forwardGrace: a loaded machine).
		return true
	}
	if t.gotFrom == nil {
		t.gotFrom = map[sigCopy]time.Time{}
	}
	t.gotFrom[sigCopy{sig, true}] = now
	return false
}

// hangupOfLeader reports whether sig is a SIGHUP that mmapguard, the
// leader of its session (script(1), ssh -t, a pty's child), got from
// its terminal's hang-up: the kernel sends that to the session leader
// only, so no copy of the program's is to be waited for. Passed on
// forwardGrace late, it came after the program had read EOF or EIO
// and exited by itself (an interactive bash then hung up no job of
// its own: the fourteenth session's hunt).
func hangupOfLeader(sig syscall.Signal) bool {
	if sig != syscall.SIGHUP {
		return false
	}
	sid, err := unix.Getsid(0)
	return err == nil && sid == os.Getpid()
}

// forwardGrace is how long the forwarder waits, before it passes a
// signal on, for the first program to get the same signal from another
// process (see otherCopies.came).
const forwardGrace = 10 * time.Millisecond

// otherCopies holds, per signal, when the first program last got a copy
// that mmapguard did not forward (its delivery stop; 0 for none), on
// the monotonic clock from monoBase less the time mmapguard spent
// stopped for job control (see clock). The tracer notes them; the
// launcher's forwarder, which runs on another goroutine, takes them.
type otherCopies struct {
	at [65]atomic.Int64
	// stopped is how long mmapguard has been stopped with the program
	// (Config.JobStop), in all.
	stopped atomic.Int64
}

var monoBase = time.Now()

// clock is t on otherCopies' clock, which stands still while mmapguard
// is stopped for job control. A stop signal sent to the whole process
// group (kill -TSTP -PGID without a terminal) stops the program, and
// mmapguard after it, often before mmapguard's own copy has reached
// the forwarder: it gets there once a SIGCONT has continued mmapguard,
// however long after the program's copy, and must still pair with it.
// Passed on, it stopped the job again, for good
// (TestRunGroupStopWithoutTerminal).
func (o *otherCopies) clock(t time.Time) int64 {
	return int64(t.Sub(monoBase)) - o.stopped.Load()
}

// wasStopped adds d, a job-control stop of mmapguard's, to the time
// otherCopies' clock stands still.
func (o *otherCopies) wasStopped(d time.Duration) {
	if o != nil {
		o.stopped.Add(int64(d))
	}
}

func (o *otherCopies) note(sig syscall.Signal, at time.Time) {
	if o != nil && sig > 0 && int(sig) < len(o.at) {
		o.at[sig].Store(o.clock(at) | 1) // never 0
	}
}

// take reports whether a copy of sig came from another process within
// forwardWindow before now, and forgets it: each pairs with one
// forwarded copy.
func (o *otherCopies) take(sig syscall.Signal, now time.Time) bool {
	if o == nil || sig <= 0 || int(sig) >= len(o.at) {
		return false
	}
	at := o.at[sig].Load()
	return at != 0 && time.Duration(o.clock(now)-at) < forwardWindow && o.at[sig].CompareAndSwap(at, 0)
}

// came reports, for a signal mmapguard got at got, whether the first
// program got the same signal from another process too: a signal sent
// to a whole process group (kill -TERM -PGID, timeout(1) on its
// command's group) or to every process of a cgroup (systemd's stop)
// reaches both, within microseconds and in either order. mmapguard
// then passes its copy on not at all. It waits forwardGrace for the
// program's copy, whose delivery stop the tracer must see first.
//
// The tracer used to drop the second copy at its delivery instead, but
// only where the program still had a handler for it: one that had put
// the default action back may have re-raised the signal, and the
// re-raise merges in the kernel with a copy still pending. A handler
// that puts the default action back first, then waits for its children
// with the signal let through (make's, in pselect), and then exits
// (SIGQUIT) or re-raises, died of mmapguard's copy in the middle:
// `kill -QUIT -PGID` of mmapguard run -- make -j4 reported one child of
// four and died of SIGQUIT, where natively make reports all four and
// exits with 1.
func (o *otherCopies) came(sig syscall.Signal, got time.Time) bool {
	deadline := got.Add(forwardGrace)
	for {
		if o.take(sig, got) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// caught reports whether a task has a handler for sig now. A second copy
// is dropped only then: a program that has put the default action back
// has usually done so to re-raise the signal after its clean-up
// (kill(getpid())), and that re-raise merges in the kernel with a copy
// still pending, whose siginfo it then carries.
func caught(tid int, sig syscall.Signal) bool {
	f, ok := procStatus(tid, "SigCgt")
	if !ok {
		return true
	}
	mask, err := strconv.ParseUint(f[0], 16, 64)
	return err != nil || mask&(1<<(sig-1)) != 0
}

// sigCopy names a copy of a signal the first program got: forwarded by
// mmapguard, or from another process.
type sigCopy struct {
	sig       syscall.Signal
	forwarded bool
}

// mapCountLimit reads vm.max_map_count, the most mappings a process may
// have (the kernel's default where it cannot be read).
func mapCountLimit() int {
	b, err := procfile.Read("/proc/sys/vm/max_map_count")
	if err != nil {
		return 65530
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 65530
	}
	return n
}

func (t *tracer) warnf(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if t.warned[msg] {
		return
	}
	t.warned[msg] = true
	if t.cfg.Warn != nil {
		fmt.Fprintf(t.cfg.Warn, "mmapguard: warning: %s\n", msg)
	}
}

// The tracer's goroutine, locked to its thread, goes through the Go
// scheduler once every few milliseconds while stops keep it busy
// (yieldAfter, looked at every yieldEvery stops). Otherwise it never
// does: each wait4 that returns at once takes its processor back on the
// fast path, and the runtime's monitor (sysmon), seeing the same
// goroutine on it for 10 ms, preempts it with a signal, and then, taking
// that for work found, watches again every 20 µs for a millisecond
// before it backs off to 10 ms. Pinned to one CPU with the program,
// as the per-call benchmarks run, those wakes were 4,000 to 8,000 a
// second, each a switch away from the tracer or the program: 214,000
// context switches for 100,000 trapped calls, where the C tracer makes
// 200,000. With the yield, 201,000 (perf stat, docs/PERFORMANCE.md).
const (
	yieldEvery = 64
	yieldAfter = 5 * time.Millisecond
)

func (t *tracer) loop() (Result, error) {
	var stops int
	yielded := time.Now()
	for len(t.tasks) > 0 {
		if stops++; stops%yieldEvery == 0 && time.Since(yielded) > yieldAfter {
			runtime.Gosched()
			yielded = time.Now()
		}
		var ws unix.WaitStatus
		opts := unix.WALL
		if t.jobStop != 0 {
			if time.Since(t.jobStopAt) > jobStopDrain {
				t.stopJob()
				continue
			}
			// Handle the stops already waiting first (see stopJob).
			opts |= unix.WNOHANG
		}
		if !t.sleepersAt.IsZero() {
			if time.Since(t.sleepersAt) >= freezeGrace {
				t.sleepersAt = time.Time{}
				t.lookAtSleepers()
				continue
			}
			opts |= unix.WNOHANG
		}
		if !t.orphanDue.IsZero() {
			if time.Since(t.orphanDue) >= orphanDrain {
				t.orphanLook()
				continue
			}
			opts |= unix.WNOHANG
		}
		if !t.settleAt.IsZero() {
			if t.nHeldProcs == 0 || time.Since(t.settleAt) >= settleGrace {
				t.settleAt = time.Time{}
				t.settleNow()
				continue
			}
			opts |= unix.WNOHANG
		}
		tid, err := unix.Wait4(-1, &ws, opts, nil)
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECHILD {
			break
		}
		if err != nil {
			return t.finish(), fmt.Errorf("wait4: %w", err)
		}
		if tid == 0 {
			if !t.orphanDue.IsZero() {
				// Nothing else waits: the stops that came before the
				// exit are all handled (see orphanedGroup).
				t.orphanLook()
				continue
			}
			if t.jobStop != 0 {
				t.stopJob()
			} else {
				// A settle or a look at a freeze's sleepers is due
				// soon (see wantSettle, lookAtSleepers) and nothing
				// is to be handled meanwhile.
				pollPause()
			}
			continue
		}
		t.handle(tid, ws)
		t.handleReady()
	}
	return t.finish(), nil
}

// stopJob passes the first program's job-control stop on to the
// launcher (Config.JobStop), which stops itself likewise until SIGCONT.
//
// A shell sees a job stop when the process it started stops: under the
// guard that is mmapguard, not the program. mmapguard does not stop of
// its own on ^Z (the launcher catches SIGTSTP): the program decides. A
// program with a handler cleans up first (vim restores the terminal,
// then raises SIGTSTP again with the default action back), and only
// its stop makes the job stop. Had the launcher stopped at the ^Z with
// the program, the tracer would have held the program's copy of the
// signal until fg, and the handler would only then run and stop the
// program again, for good: the shell, which sees mmapguard running,
// would wait for it with the program stopped.
//
// It runs once no other stop waits: the other processes of the job got
// the signal too (a ^Z, a kill(0)), and their copies are passed on
// before the tracer stops with the launcher. Other tasks that keep
// stopping (a child busy with traced calls, which a kill(getpid())
// did not stop) delay it by jobStopDrain at most.
func (t *tracer) stopJob() {
	sig := t.jobStop
	t.jobStop = 0
	start := time.Now()
	t.cfg.JobStop(sig, t.mainPid)
	// (The forwarder, continued at the same moment, waits forwardGrace
	// for a copy: long enough for this to be counted.)
	t.others.wasStopped(time.Since(start))
}

// handleReady handles the seccomp stops of tasks held while their space's
// code page was mapped (holdForCode), once that is over, as if just
// reported: each still stands at its stop (one whose exit came meanwhile
// is gone; one whose thread group another thread's exec took over is no
// longer held). If a freeze has begun meanwhile, the stop waits for its
// end like any other.
func (t *tracer) handleReady() {
	for len(t.ready) > 0 {
		tk := t.ready[0]
		t.ready = t.ready[1:]
		if t.tasks[tk.tid] == tk && (tk.codeHeld || tk.flightHeld) {
			tk.codeHeld, tk.flightHeld = false, false
			if !atSeccompStop(tk.tid) {
				// Not the stop it was held at: another thread's exec
				// has its id now (its report is on its way), or it is
				// gone.
				continue
			}
			t.handle(tk.tid, seccompStopStatus)
		}
	}
}

// atSeccompStop reports whether a stopped task stands at a seccomp stop
// (its siginfo says so: si_code SIGTRAP|PTRACE_EVENT_SECCOMP<<8).
func atSeccompStop(tid int) bool {
	var si [128]byte
	if ptracePtr(unix.PTRACE_GETSIGINFO, tid, 0, unsafe.Pointer(&si[0])) != nil {
		return false
	}
	return int32(binary.LittleEndian.Uint32(si[8:])) == int32(syscall.SIGTRAP)|unix.PTRACE_EVENT_SECCOMP<<8
}

// seccompStopStatus is the wait status of a seccomp stop.
const seccompStopStatus = unix.WaitStatus(0x7f | uint32(syscall.SIGTRAP)<<8 | unix.PTRACE_EVENT_SECCOMP<<16)

// retire forgets a space no task uses any more (its process exited or
// exec'd), adding its counts to the result: a long-running program that
// forks a child per connection or per job must not make mmapguard's
// memory grow with every child it ever had. A space kept frozen or
// mapping its code page is left alone (its tasks are still being
// waited for).
func (t *tracer) retire(sp *space) {
	if sp == nil || !t.spaces[sp] || sp.frozen != nil || sp.codeTask != nil || len(sp.codeWaiters) > 0 {
		return
	}
	for _, tk := range t.tasks {
		if tk.sp == sp {
			return
		}
	}
	t.res.Stats.Add(sp.guard.Stats())
	delete(t.spaces, sp)
}

// procReads counts the reads of /proc/TID/status and /proc/TID/syscall,
// each some 10-20 µs of the tracer's, for the tests: a new thread, however
// its stops come, needs none.
var procReads atomic.Int64

// spacesLeft is the number of spaces the last tracer still had when the
// program ended (tests check that a program that forked and exec'd many
// children left only a few behind).
var spacesLeft atomic.Int64

func (t *tracer) finish() Result {
	spacesLeft.Store(int64(len(t.spaces)))
	for sp := range t.spaces {
		t.res.Stats.Add(sp.guard.Stats())
	}
	return t.res
}

// handle takes one wait4 report.
func (t *tracer) handle(tid int, ws unix.WaitStatus) {
	var sp *space
	if tk := t.tasks[tid]; tk != nil {
		sp = tk.sp
		if tk.preExec != nil && time.Since(tk.preExecAt) > lateWindow {
			tk.preExec = nil
		}
		if !tk.flight.Empty() && (tk.inj == nil || !ws.Stopped()) {
			// Stopped after its call (and the guard's after it), or
			// gone.
			t.land(tk)
		}
	}
	if t.freezes == 0 || t.tasks[tid] == nil && bornExit(ws) || !t.stash(tid, ws) {
		t.dispatch(tid, ws)
	}
	if t.freezes > 0 && sp != nil && sp.frozen != nil {
		t.thawIfDone(sp)
	}
}

func (t *tracer) dispatch(tid int, ws unix.WaitStatus) {
	tk := t.tasks[tid]
	heldJob := t.jobStop
	if tid == t.mainPid {
		// Any report of the first program's leader but the job-control
		// stop itself (set again below) says it is not in that stop
		// any more: continued, or gone.
		t.jobStop = 0
	}
	// A group-stop the guard's own interrupt made the task report
	// again: the same stop (see interruptTask).
	sameStop := tk != nil && tk.groupStop && tk.reTrap
	if tk != nil && ws.Stopped() && tk.probed {
		// Interrupted to see whether it made a held task: stopped now
		// (by the interrupt, or first by another stop), it can tell.
		tk.probed = false
		if t.nHeldProcs > 0 {
			// (Once for all those interrupted, not at each: a pass
			// reads two files of each of the parent's threads, and
			// interrupts those running.)
			t.wantSettle()
		}
	}
	if tk != nil && ws.Stopped() && ws>>16 != unix.PTRACE_EVENT_VFORK {
		tk.vforkChild = 0 // stopped: not in vfork any more
	}
	if tk != nil {
		tk.groupStop = false // set again below if it is one
		tk.reTrap = false
		tk.stopping = 0
	}
	switch {
	case ws.Exited() || ws.Signaled():
		if tid == t.mainPid {
			t.res.Status = ws
			// A later process of the program's may get its pid: the
			// first program's status stands (a reused pid overwrote
			// it, and the run ended with another process's status).
			t.mainPid = -1
			if t.ended != nil {
				t.ended.Store(true)
			}
			if t.cfg.Ended != nil {
				t.cfg.Ended()
			}
		}
		if t.attr != nil && tk != nil && tk.pid == tid {
			t.attr.SetMaps(tid, nil) // the process is gone
		}
		if tk != nil && tk.held {
			t.unhold(tk)
		}
		if tk != nil && tk.inj != nil {
			t.diedMidInjection(tk, ws)
		}
		if tk != nil && tk.ev != nil {
			// A call it died in: logged with no result (docs/log.md),
			// not left out while the summary counts it.
			t.emit(tk, 0, false)
		}
		if tk != nil && tk.sp != nil && tk.sp.settler == tk {
			t.settlerGone(tk.sp)
		}
		if tk != nil && tk.sp != nil && tk.sp.codeTask == tk {
			t.endCode(tk.sp) // gone while mapping the code page
		}
		if tk != nil && tk.sp != nil && tk.sp.guard != nil {
			// Its calls are over: the pool space they gave back can
			// go to the other threads.
			tk.sp.guard.Settle(tid)
		}
		delete(t.tasks, tid)
		if tk != nil {
			t.retire(tk.sp)
		}
		if tk != nil && tk.pid == tid && t.orphanDue.IsZero() {
			t.orphanDue = time.Now()
		}
		if tk != nil && tk.bornExiting && tk.sp == nil {
			// Gone before its creator's event (see bornExit).
			if t.goneEarly == nil {
				t.goneEarly = map[int]time.Time{}
			}
			for id, at := range t.goneEarly {
				if time.Since(at) > lateWindow {
					delete(t.goneEarly, id)
				}
			}
			t.goneEarly[tid] = time.Now()
		}
		if t.nHeldProcs > 0 {
			// Perhaps the creator of a process that waits for its
			// event (see wantSettle; a held thread needs no look).
			t.wantSettle()
		}
		return
	case !ws.Stopped():
		return
	}
	if tk == nil && bornExit(ws) {
		// A new task whose first report is its exit stop (it has
		// PTRACE_O_TRACEEXIT from a leader: see leaderOptions): a
		// fatal signal ended it before it ran an instruction, and
		// its creator with it, as a rule (a group exit, a SIGKILL of
		// its process, another thread's exec), in which case the
		// creator's event never comes. It runs no code of the
		// program's any more and maps nothing: it is let go at once.
		// Held for the event like other new tasks, a thread stayed in
		// its exit stop for good, its process a zombie that its
		// parent waited for, and the run never ended.
		tk = &task{tid: tid, born: true, exiting: true, bornExiting: true}
		t.tasks[tid] = tk
		t.resume(tk, cont, 0)
		return
	}
	if tk == nil {
		// A new task whose first stop came before its creator's event:
		// it waits for the event, which says what it is (see settleHeld
		// for an event that never comes).
		tk = &task{tid: tid, born: true, held: true}
		if int(ws)>>16 == ptraceEventStop {
			tk.firstSig = ws.StopSignal()
		}
		t.tasks[tid] = tk
		t.nHeld++
		if notLeader(tid) {
			tk.heldThread = true
			return
		}
		t.nHeldProcs++
		if tgid, ppid := procIDs(tid); tgid == tid {
			tk.heldPPid = ppid
			if p := t.tasks[ppid]; p != nil {
				if p.preExec != nil && time.Since(p.preExecAt) <= lateWindow && !sameProgram(tid, p.tid) {
					tk.orphanOf = p.preExec
				}
				t.noteHeldFrom(tk, p)
			}
		}
		// Its creator may have died before this stop was seen (its
		// exit, which settles held tasks, came first): see wantSettle.
		t.wantSettle()
		return
	}
	if tk.bornExiting {
		// Ended before it ran (see bornExit): a later stop (Linux
		// reports the new task's pending PTRACE_EVENT_STOP after its
		// exit stop) is not a first stop to settle it at.
		t.resume(tk, cont, 0)
		return
	}
	if tk.seizing {
		t.seized(tk, ws)
		return
	}
	sig := ws.StopSignal()
	event := int(ws) >> 16 // PTRACE_EVENT_*; not TrapCause, which is only for SIGTRAP
	switch {
	case sig == syscall.SIGTRAP|0x80:
		t.syscallStop(tk)
	case sig == syscall.SIGTRAP && event == unix.PTRACE_EVENT_SECCOMP:
		t.seccompStop(tk)
	case sig == syscall.SIGTRAP && (event == unix.PTRACE_EVENT_CLONE || event == unix.PTRACE_EVENT_FORK || event == unix.PTRACE_EVENT_VFORK):
		t.cloneEvent(tk, event)
	case sig == syscall.SIGTRAP && event == unix.PTRACE_EVENT_EXEC:
		t.execEvent(tk)
	case event == ptraceEventStop:
		if tk.born {
			tk.firstSig = sig
			t.firstStop(tk)
			return
		}
		switch sig {
		case syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
			// Group-stop: stay stopped, but keep reporting.
			if !t.stopCodeCall(tk) {
				return
			}
			if tk.inj != nil {
				// Caught on its way to one of the guard's calls (a
				// reservation to put back after a move-out, its space
				// frozen meanwhile): the calls run first, and the stop is
				// sent again once they are done, as a signal that comes
				// during them (sendDeferred). Stopped here, it would keep
				// the freeze on for good, and the frozen threads, which
				// join the group-stop only once thawed, with it: the
				// stop never completed, and the parent waiting for it
				// never sent SIGCONT.
				tk.deferred = append(tk.deferred, heldSignal{sig: sig, stop: true, seq: t.nextJob()})
				t.resume(tk, sysStep, 0)
				return
			}
			if err := listen(tid); err != nil {
				if errors.Is(err, unix.EIO) {
					// Not in that stop any more: a report kept during a
					// freeze and handled after it, the task resumed
					// meanwhile (EIO: its last stop is not a group-stop).
					// A stop still in force stops it again, with a new
					// report; taken for lost, it was killed (about 1 run
					// in 40 of threads stopped and continued while they
					// moved mappings out of a range under --pool-all:
					// the fourteenth session's hunt).
					return
				}
				t.lost(tk, err)
				return
			}
			tk.groupStop = true
			if tid == t.mainPid && sig != syscall.SIGSTOP && t.cfg.JobStop != nil {
				if sameStop {
					// Passed on once: a second JobStop stopped the
					// launcher again after its shell had continued
					// the job (some 5 extra stops in 200 of a program
					// stopping itself while its threads moved
					// mappings, whose freezes interrupt the leader).
					t.jobStop = heldJob
				} else {
					t.jobStop, t.jobStopAt = sig, time.Now()
				}
			}
		default:
			t.resume(tk, cont, 0)
		}
	case event == unix.PTRACE_EVENT_EXIT:
		tk.exiting = true
		if tk.inj != nil {
			// A leader (see leaderOptions), whose exit is reported only
			// once its threads are gone: a freeze it holds ends now.
			if msg, err := eventMsg(tk.tid); err == nil {
				t.diedMidInjection(tk, unix.WaitStatus(msg))
			} else {
				tk.inj = nil
			}
			if tk.sp != nil && tk.sp.codeTask == tk {
				t.endCode(tk.sp)
			}
		}
		if tk.sp != nil && tk.sp.guard != nil {
			tk.sp.guard.Settle(tk.tid) // it makes no call any more
		}
		t.resume(tk, cont, 0)
	case event == unix.PTRACE_EVENT_VFORK_DONE:
		if t.nHeldProcs > 0 {
			// A held process may have waited on this task's being
			// in vfork (see mayHaveMade).
			t.wantSettle()
		}
		t.resume(tk, cont, 0)
	default:
		// Signal-delivery-stop: pass the signal on, unless an injection
		// is under way (then keep it for later).
		if t.cfg.Signals != nil && tk.pid == t.mainPid && t.forwardedTwice(tk.tid, sig) {
			t.resume(tk, cont, 0)
			return
		}
		if tk.inj != nil {
			if sig == syscall.SIGTRAP && t.stepTrap(tk) {
				return
			}
			if syncFault(sig) && kernelSent(tk.tid) {
				// Where the guard's call should run, the task faulted:
				// the instruction it was sent to is not there any more
				// (unmapped, rewritten). Resumed, it would fault again,
				// for good.
				t.failClosed(tk, fmt.Sprintf("%v where the guard ran a call at %#x", sig, tk.inj.insn))
				return
			}
			if tk.handoff && groupStopSig(sig) && handoffGroupStop(tk.tid) {
				t.resume(tk, sysStep, 0) // (see passMidCall)
				return
			}
			if t.passMidCall(tk, sig) {
				return
			}
			h := holdSignal(tk.tid, sig)
			h.seq = t.nextJob()
			tk.deferred = append(tk.deferred, h)
			t.resume(tk, sysStep, 0)
			return
		}
		if tk.born && sig == syscall.SIGSTOP {
			t.firstStop(tk)
			return
		}
		if len(tk.tramps) > 0 && t.carryFault(tk, sig) {
			return
		}
		if len(tk.resent) > 0 {
			t.restoreSigInfo(tk, sig)
		} else if holdEverySignal && !kernelSent(tk.tid) || holdEverySignal && sig == syscall.SIGCHLD {
			// (Tests: as if it had come during an injection.)
			h := holdSignal(tk.tid, sig)
			h.seq = t.nextJob()
			tk.deferred = append(tk.deferred, h)
			t.sendDeferred(tk)
			t.resume(tk, cont, 0)
			return
		}
		if t.orphanDiscards(tk, sig) {
			t.resume(tk, cont, 0)
			return
		}
		t.resume(tk, cont, int(sig))
		if groupStopSig(sig) {
			tk.stopping, tk.stopSeq = sig, t.nextJob()
		}
	}
}

// handoffGroupStop reports whether a stop of a PTRACE_TRACEME tracee
// with a stop signal is its part in a group-stop, not that signal's
// delivery: a group-stop has no siginfo.
func handoffGroupStop(tid int) bool {
	var si [128]byte
	return errors.Is(ptracePtr(unix.PTRACE_GETSIGINFO, tid, 0, unsafe.Pointer(&si[0])), unix.EINVAL)
}

// atProgramStart and atHandOver are called with the first program's
// task at its exec stop, before the guard's first calls, and at its
// hand-over, before the signals held are sent again (tests).
var atProgramStart, atHandOver func(tk *task)

// holdEverySignal makes the tracer hold back every signal a task gets
// from another process (and every SIGCHLD) and send it again at once,
// as after an injection (tests).
var holdEverySignal = false

// syncFault reports whether sig is one a faulting instruction raises
// (when the kernel sends it: see kernelSent).
func syncFault(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGSEGV, syscall.SIGBUS, syscall.SIGILL, syscall.SIGFPE:
		return true
	}
	return false
}

// resume restarts a stopped task; a task that vanished is dropped.
//
// A task in the middle of an injection is always resumed with
// PTRACE_SYSCALL, whatever stop it is at (a group-stop between two
// injected calls, say): its injected calls must be seen to their exit.
func (t *tracer) resume(tk *task, how func(int, int) error, sig int) {
	if tk.inj != nil {
		how = sysStep
	}
	t.resumeAs(tk, how, sig)
}

// resumeAs is resume as asked: for a task running the guard's calls
// with PTRACE_SINGLESTEP (see injection).
func (t *tracer) resumeAs(tk *task, how func(int, int) error, sig int) {
	if err := how(tk.tid, sig); err != nil {
		t.lost(tk, err)
		return
	}
	if tk.sp != nil {
		tk.landMark = tk.sp.landed
	}
	if !tk.flight.Empty() {
		t.flyOn(tk)
	}
}

// lost handles a task that disappeared mid-stop (killed, or its process
// exec'd): its exit will still be reported, or not; either way it is no
// longer ours to drive.
//
// Any other failure leaves the task stopped in a state the guard did not
// intend (a call half rewritten, registers not restored): it cannot be
// let go on, and leaving it stopped would hang its process. Fail closed:
// the process is killed, and the others go on.
func (t *tracer) lost(tk *task, err error) {
	tk.inj = nil
	if tk.sp != nil && tk.sp.codeTask == tk {
		t.endCode(tk.sp)
	}
	if errors.Is(err, unix.ESRCH) {
		return
	}
	t.warnf("tid %d: %v; killing its process to keep the guarantee", tk.tid, err)
	t.kill(tk)
}

// kill ends a task's whole process (never a process group: a task whose
// process is not known yet is killed by its own id), and every other
// process that shares its address space (a clone(CLONE_VM) child, a
// vfork child and its parent): what made the guard give the task up may
// have left that space open.
func (t *tracer) kill(tk *task) {
	target := tk.pid
	if target <= 0 {
		target = tk.tid
	}
	_ = unix.Kill(target, unix.SIGKILL)
	if tk.sp == nil {
		return
	}
	for _, o := range t.tasks {
		if o.sp == tk.sp && o.pid > 0 && o.pid != target {
			_ = unix.Kill(o.pid, unix.SIGKILL)
		}
	}
}

func (t *tracer) cloneEvent(parent *task, event int) {
	msg, err := eventMsg(parent.tid)
	if err != nil {
		t.lost(parent, err)
		return
	}
	child := int(msg)
	if event == unix.PTRACE_EVENT_VFORK {
		parent.vforkChild = child
	}
	ck := t.tasks[child]
	_, gone := t.goneEarly[child]
	delete(t.goneEarly, child)
	if ck == nil && gone && unix.Kill(child, 0) == unix.ESRCH || ck != nil && ck.bornExiting && ck.sp == nil {
		// Made and ended before it ran (see bornExit): nothing of it
		// to guard. (A task that has the id now made it again: with
		// few ids, a new task of the program's can have it within
		// milliseconds, and its event then comes first.)
		t.resume(parent, cont, 0)
		return
	}
	if ck == nil {
		ck = &task{tid: child, born: true}
		t.tasks[child] = ck
	}
	if ck.sp == nil {
		// (Unless its first stop came first and settled it already.)
		if !t.adopt(ck, parent, event) {
			// Killed, and with it whatever shares its space: the
			// creator too where the kind could not be told; a forked
			// child whose layout could not be read alone, and its
			// creator goes on (it stands in its event until resumed).
			if ck.held {
				t.unhold(ck)
			}
			if ck.sp != parent.sp {
				t.resume(parent, cont, 0)
			}
			return
		}
	}
	if ck.pid == parent.pid && parent.tid == parent.pid && !parent.exitOpt {
		// A leader's first thread (see leaderOptions).
		t.setExitOption(parent, true)
	}
	if ck.held {
		t.unhold(ck)
		t.firstStop(ck)
	}
	if t.nHeldProcs > 0 {
		// Another held process may have waited on this creator's being
		// in its call (see creatorMayLive).
		t.wantSettle()
	}
	t.resume(parent, cont, 0)
}

// diedMidInjection handles a task that dies (ws) while the guard runs
// calls in it. The call it was sent to make (a reservation put back, or
// made) has not run, and the tasks that share its address space would go
// on with the range open: they are killed (not when they are dying
// anyway, as when a whole process dies). Whatever killed it: a seccomp
// filter of the program's (SECCOMP_RET_KILL_THREAD: SIGSYS), syscall user
// dispatch whose selector byte the program's own call unmapped (the
// kernel kills the task with SIGSEGV before the call runs, nothing
// stops), a SIGKILL from another process of the program's. The injection
// is over either way.
//
// Only SIGSYS (SECCOMP_RET_KILL_THREAD) kills one thread alone; any
// other death takes the whole thread group, or is another thread's exec
// (which leaves the old address space too): then only tasks of other
// processes (a vfork parent, a clone(CLONE_VM) child) still use it.
//
// The same holds for a task that dies in its own call, decided at its
// seccomp stop, before the exit stop the guard waits for (its result,
// a rewritten call's registers): a SIGKILL skips that stop. The call
// may have run, and what it did is unknown: an mremap that moved a
// mapping out of a guarded range leaves the hole the After calls would
// have reserved again (a vfork child killed while its mremap waits
// for a userfaultfd to read the move's event), a file mapping is not
// checked for huge pages, the model's changes are neither confirmed
// nor rolled back.
func (t *tracer) diedMidInjection(tk *task, ws unix.WaitStatus) {
	if t.lostIoSetup(tk) {
		return
	}
	sigsys := ws.Signaled() && ws.Signal() == syscall.SIGSYS
	inj := tk.inj
	own := inj.await != nil || inj.inPlace != nil
	if (inj.running() || own) && tk.sp != nil {
		tk.sp.broken = true // (see unsure)
	}
	if (inj.running() || own) && t.othersLive(tk, !sigsys) {
		why := fmt.Sprintf("a task running the guard's calls died (%s)", deathOf(ws))
		switch {
		case sigsys:
			why = "a seccomp filter of the program's killed a thread running the guard's calls"
		case own:
			why = fmt.Sprintf("a task died (%s) in a call whose end the guard must see", deathOf(ws))
		}
		t.failClosed(tk, why)
	} else if sigsys && inj.running() {
		// Its last thread, killed by the program's filter before the
		// call's exit could be reported (a filter's SIGSYS that kills
		// is seen by no tracer, and the step's report comes after
		// it): nothing of the program ran after the guard's calls
		// began, and nothing is left to kill, but the death is the
		// guard's doing.
		t.reportClosed(tk, "a seccomp filter of the program's killed it at the guard's calls")
	}
	tk.inj = nil
}

// lostIoSetup forgets an io_setup whose end tk will not reach (it died
// in it, or another thread's exec ended it), and reports whether that
// was tk's injection. Losing it is harmless, unlike the other calls
// whose end the guard waits for: while it ran, no AIO ring could move to
// just below a guarded range (see rewrite's decideIoSetup), so what a
// failure unmaps reaches none. Taken for one of those, its death killed
// the processes sharing the memory (the program itself, after another
// of its threads exec'd), where natively they go on (found by the
// thirteenth session's review).
func (t *tracer) lostIoSetup(tk *task) bool {
	inj := tk.inj
	if inj == nil || inj.await == nil || inj.await.Call().Op() != rewrite.OpIoSetup || tk.sp == nil || tk.sp.guard == nil {
		return false
	}
	tk.sp.guard.Complete(inj.await, rewrite.Err(int(unix.EINTR))) // (counted out of aioSetups)
	tk.inj = nil
	return true
}

// deathOf says how a task died, from its wait status.
func deathOf(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// othersLive reports whether a task other than dead that shares its
// address space (a thread of its process, a clone(CLONE_VM) child's, a
// vfork parent) is neither gone nor on its way out (a group exit sends
// every thread SIGKILL first). With otherProcs, only tasks of other
// processes than dead's count.
func (t *tracer) othersLive(dead *task, otherProcs bool) bool {
	for _, o := range t.tasks {
		if o == dead || o.sp != dead.sp || o.exiting || otherProcs && o.pid == dead.pid {
			continue
		}
		if taskLives(o.tid) {
			return true
		}
	}
	return false
}

// setExitOption gives a stopped task PTRACE_O_TRACEEXIT, or takes it
// away (see leaderOptions). A task that vanished meanwhile is left to its
// exit report.
func (t *tracer) setExitOption(tk *task, on bool) {
	opts := ptraceOptions
	if on {
		opts = leaderOptions
	}
	if err := ptrace(unix.PTRACE_SETOPTIONS, tk.tid, 0, uintptr(opts)); err == nil {
		tk.exitOpt = on
	} else if !errors.Is(err, unix.ESRCH) {
		t.lost(tk, os.NewSyscallError("ptrace(PTRACE_SETOPTIONS)", err))
	}
}

// settleGrace is how long settleHeld waits after it was first asked
// for (wantSettle; a variable for tests, which look at once), settlePoll
// how long the tracer sleeps meanwhile when no report waits.
var settleGrace = 2 * time.Millisecond

const settlePoll = 50 * time.Microsecond

// pollPause sleeps settlePoll, in the kernel (nanosleep on the tracer's
// own thread), not with time.Sleep: the Go runtime waits for a timer
// under 1 ms in epoll_wait, whose timeout counts whole milliseconds, so
// time.Sleep(settlePoll) slept 1.1 ms. Each freeze waits through at
// least one pause for the threads it interrupted, and paid that: a
// program moving pool memory out with mremap (realloc of a large block
// under --pool-all) while another thread slept took 2.3 ms per call,
// 0.75 ms with this pause, which costs 0.1 ms (the timer slack, 50 us
// by default, comes on top of settlePoll).
func pollPause() {
	ts := unix.NsecToTimespec(int64(settlePoll))
	_ = unix.Nanosleep(&ts, nil) // EINTR: the loop looks again sooner
}

// wantSettle asks for settleHeld: a held task's creator may have died
// (a task exited, or a new process's first stop came before its
// creator's event). It runs settleGrace after the first ask at the
// latest, once for all the asks meanwhile, and not at all if no task
// is held by then. For a held process, settleHeld looks for a creator
// that may live among the threads of its parent process, two reads of
// /proc for each: run at every exit and every such first stop, that
// cost some 5 ms each for a parent with 500 threads, a vfork storm
// from one (posix_spawn, Go's os/exec) 25 times the native time. The
// creator's event, which settles the held task for nothing, nearly
// always comes within the grace.
func (t *tracer) wantSettle() {
	if t.settleAt.IsZero() {
		t.settleAt = time.Now()
	}
}

// settleNow runs settleHeld, after the thaw while a space is frozen
// (the event may be among the kept stops).
func (t *tracer) settleNow() {
	if t.nHeldProcs == 0 {
		return
	}
	if t.freezes > 0 {
		t.settleDue = true
		return
	}
	t.settleHeld()
}

// settleHeld lets new tasks waiting for their creator's event go on
// without it where the event will never come: the creator's process was
// killed between making them and reporting them (a group exit ends every
// thread, the creator in its event stop too), or another of its threads
// exec'd (the exec ended the creator: see orphanHeld). Each is settled
// from /proc (firstStop), or killed if its creator's process is gone. A
// task whose creator's process still lives keeps waiting: its event is
// on the way, and it says what /proc cannot (kcmp may be refused, and a
// guess may be wrong: see adopt). So does a new thread (heldThread),
// whose process is its creator's.
func (t *tracer) settleHeld() {
	// What each task may have made, and whose child it is, are read
	// once for all the held tasks of this pass: a storm of spawns from
	// 64 threads had every held child read two files of every thread
	// (5-10 times slower than natively: the fourteenth session's hunt).
	t.passMade, t.passPPid = map[*task]bool{}, map[*task]int{}
	defer func() { t.passMade, t.passPPid = nil, nil }()
	for _, tk := range t.tasks {
		if !tk.held {
			continue
		}
		if !tk.orphan && (tk.heldThread || t.creatorMayLive(tk)) {
			continue
		}
		t.unhold(tk)
		t.firstStop(tk)
	}
}

// unhold ends a task's wait for its creator's event (held).
func (t *tracer) unhold(tk *task) {
	tk.held = false
	t.nHeld--
	if !tk.heldThread {
		t.nHeldProcs--
	}
}

// groupStopSig reports whether sig is a signal that stops a process.
func groupStopSig(sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
		return true
	}
	return false
}

// bornExit reports whether a stop is an exit stop (PTRACE_EVENT_EXIT):
// for a task the tracer does not know yet, a new one ended before its
// first stop.
func bornExit(ws unix.WaitStatus) bool {
	return ws.Stopped() && ws.StopSignal() == syscall.SIGTRAP && int(ws)>>16 == unix.PTRACE_EVENT_EXIT
}

// notLeader reports whether task tid is a thread other than its
// process's leader, at no cost of /proc: tgkill finds a task only within
// the thread group named, so asking for tid in a group of its own id
// fails with ESRCH for any other thread (signal 0 sends nothing). A task
// gone meanwhile counts as one: its exit is reported anyway.
func notLeader(tid int) bool {
	return unix.Tgkill(tid, tid, 0) == unix.ESRCH
}

// creatorMayLive reports whether the process that made a held task may
// still report it: its parent process (its own, for a thread) lives. A
// process made with CLONE_PARENT is its creator's sibling, the child of
// its creator's parent, traced or not (mmapguard itself, for the first
// program's): then a live traced sibling may be its creator.
//
// A process's parent is the one it had at its first stop: its creator
// may have died since, and handed it to a subreaper that lives on but
// will never report it (it waited for its event for good).
func (t *tracer) creatorMayLive(tk *task) bool {
	tgid, ppid := tk.tid, tk.heldPPid // (set only on a process's leader)
	if ppid == 0 {
		tgid, ppid = procIDs(tk.tid)
	}
	want := ppid
	if tgid != tk.tid {
		want = tgid
	}
	for _, o := range t.tasks {
		if o.pid == want && o.sp != nil && o.tid != tk.tid && t.mayHaveMade(o) {
			return true
		}
	}
	if tgid != tk.tid || ppid == 0 {
		return false
	}
	return t.siblingMayHaveMade(tk, ppid)
}

// siblingMayHaveMade reports whether held process tk, a child of
// process ppid, may have been made with CLONE_PARENT by another child
// of ppid's, traced, alive and in the middle of a fork-family call.
func (t *tracer) siblingMayHaveMade(tk *task, ppid int) bool {
	for _, o := range t.tasks {
		if o == tk || o.held || o.sp == nil {
			continue
		}
		if t.parentPid(o) == ppid && t.mayHaveMade(o) {
			return true
		}
	}
	return false
}

// parentPid is procIDs' parent process of task o, read once per pass
// of settleHeld.
func (t *tracer) parentPid(o *task) int {
	if pp, ok := t.passPPid[o]; ok {
		return pp
	}
	_, pp := procIDs(o.tid)
	if t.passPPid != nil {
		t.passPPid[o] = pp
	}
	return pp
}

// inFork reports whether a task may be the creator of a new task whose
// event has not been seen: one in the middle of a fork-family call, on
// its way to the event or stopped in it, as /proc/TID/syscall shows; a
// task in any other call (a subreaper in wait4) made nothing that is
// still to be reported. running is set for a task on a CPU, which that
// file cannot tell from one on its way to its event: it is asked to
// stop (see creatorMayLive). True where the file cannot be read (it
// waits then, as before). True also in an exec, whose event is on its
// way: the exec may have ended the creator, a thread of the same
// process, before its event (see orphanHeld and adoptLate), and the
// task waits for the exec's event. (The numbers of both ABIs are in
// one list: an x86-64 call taken for an i386 fork or exec, open or
// munmap, only makes a held task wait a little longer.)
func inFork(tid int) (fork, running bool) {
	procReads.Add(1)
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/syscall", tid))
	if err != nil {
		return true, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return true, false
	}
	if f[0] == "running" {
		return true, true
	}
	nr, err := strconv.Atoi(f[0])
	if err != nil {
		return true, false
	}
	switch nr {
	case unix.SYS_CLONE, unix.SYS_FORK, unix.SYS_VFORK, 120, 2, 190, // and i386 clone, fork, vfork
		unix.SYS_EXECVE, unix.SYS_EXECVEAT, 11, 358: // and i386 execve, execveat
		return true, false
	}
	return false, false
}

// mayHaveMade reports whether task o may have made a held task whose
// event is still to come (see inFork). One running is interrupted, once
// until its next stop, which is reported like any other: held tasks are
// looked at again then (see dispatch), with o stopped.
func (t *tracer) mayHaveMade(o *task) bool {
	if made, ok := t.passMade[o]; ok {
		return made
	}
	made := t.mayHaveMadeNow(o)
	if t.passMade != nil {
		t.passMade[o] = made
	}
	return made
}

func (t *tracer) mayHaveMadeNow(o *task) bool {
	state, lives := taskState(o.tid)
	if !lives || o.vforkChild != 0 && strings.HasPrefix(state, "D") && t.inVfork(o) {
		// (A task waiting in vfork for its child, whose event was
		// seen, sleeps uninterruptibly (D): it made nothing that is
		// still to be reported. Taken for one that may have, it kept
		// an orphan of another's exec waiting until some process
		// ended, seconds later or never. vforkChild alone is no proof:
		// it stays set until the task's next stop is seen, and a vfork
		// child that ended without exec (a failed posix_spawn, Python's
		// subprocess, Go's os/exec) leaves its creator free to vfork
		// again, its next child held for an event it stands in: those
		// children were killed, as of a creator gone.)
		return false
	}
	fork, running := inFork(o.tid)
	if running && !o.probed {
		if t.interruptTask(o) == nil {
			o.probed = true
		}
	}
	return fork
}

// inVfork reports whether the vfork child whose event task o reported
// last may still hold o in vfork: it lives and has not exec'd (it shares
// o's space). One that exec'd or ended let o go on without a stop of
// o's (vforkChild stays set until o's next stop), and o asleep (D) in
// its next fork-family call, or anywhere, is no proof it made nothing:
// a posix_spawn loop's next child, held for its event, was killed as
// one whose creator is gone (the fourteenth session's review).
func (t *tracer) inVfork(o *task) bool {
	c := t.tasks[o.vforkChild]
	return c != nil && c.sp == o.sp && !c.exiting
}

// orphanHeld marks the new tasks made by threads that tk's exec ended
// before they reported them, at tk's exec event, before tk gets its new
// space: a new process among them shares the memory of the old one, or
// copied it (see adoptLate). settleOrphans lets them go on once tk has
// its new space. It reports whether it marked any.
//
// A held process whose parent is tk's but which a live child of tk's
// may have made with CLONE_PARENT is not one yet: that creator's event
// may be on its way, and tells what its memory is (before, the exec
// gave such a process a copy of tk's old model where it had its
// creator's memory, copied or shared: a reservation of the creator's,
// taken for the program's mapping, could be made read-write). If the
// event does not come, settleHeld settles it as an orphan all the same.
func (t *tracer) orphanHeld(tk *task) bool {
	marked := false
	for _, o := range t.tasks {
		// (Held first, then its creator's pid, each cheaper than the
		// next: a storm of spawns from 64 threads spent half of
		// mmapguard's time here, at each child's exec.)
		if !o.held || creatorPid(o.tid) != tk.pid || t.taskOf(tk.pid, o.tid) == nil {
			continue
		}
		if !o.heldThread {
			o.orphanOf = tk.sp
			if t.siblingMayHaveMade(o, tk.pid) {
				continue
			}
		}
		o.orphan = true
		marked = true
	}
	return marked
}

// settleOrphans settles the tasks orphanHeld marked (after a thaw if a
// space is frozen, as for an exit).
func (t *tracer) settleOrphans() {
	if t.freezes > 0 {
		t.settleDue = true
	} else {
		t.settleHeld()
	}
}

// taskLives reports whether a task is neither gone nor on its way out
// (a zombie, or SIGKILL pending: a group exit sends every thread one).
//
// Where the file cannot be read for another reason than the task being
// gone, it is taken to live: callers fail closed on a live task (kill
// the tasks sharing a space left open, wait for a creator's event),
// and taking it for gone let a program that had lowered mmapguard's
// RLIMIT_NOFILE to 0 keep a hole a killed vfork child left in a
// protected range (TestEscapeUffdKill, nofile).
func taskLives(tid int) bool {
	_, lives := taskState(tid)
	return lives
}

// taskState is taskLives, with the task's state as /proc shows it ("S
// (sleeping)"; "" where it cannot be read).
func taskState(tid int) (state string, lives bool) {
	f, err := procStatusErr(tid, "State", "SigPnd")
	if err != nil {
		return "", !gone(err)
	}
	pending, _ := strconv.ParseUint(f[1], 16, 64)
	return f[0], !strings.HasPrefix(f[0], "Z") && !strings.HasPrefix(f[0], "X") && pending&(1<<(unix.SIGKILL-1)) == 0
}

// adopt gives a new task its process and address space, from the task
// that created it. event is the PTRACE_EVENT_* that reported it, or 0
// when it is not known (the child's first stop came first). It returns
// false if the task was killed instead.
func (t *tracer) adopt(ck, parent *task, event int) bool {
	child := ck.tid
	ck.exitOpt = parent.exitOpt // options are inherited
	var thread, same, known bool
	var shared *space // the space of a sharer that told, if not parent's
	if event != 0 {
		// The creator still stands in its call: its flags say it all.
		thread, same, known = cloneKind(parent.tid)
	}
	if known {
		ck.pid = child
		if thread {
			ck.pid = parent.pid
		}
	} else {
		ck.pid = threadGroup(child, child)
		if event != 0 && event != unix.PTRACE_EVENT_CLONE {
			ck.pid = child
		}
		// clone(CLONE_VFORK) without CLONE_VM is reported as a vfork but
		// gets a copy, clone(CLONE_VM|SIGCHLD) as a fork but shares the
		// memory: ask the kernel whether the memory is shared.
		var ok bool
		same, ok = sameMM(parent.tid, child)
		if (!ok || !same) && event != 0 && ck.pid == child && !inStop(parent.tid) {
			// The creator left its event stop since the event was
			// reported, which only a SIGKILL does (another thread's
			// exec ended it, or a group exit): kcmp may have compared
			// the child's memory with none, and said "different".
			// That the creator is not a zombie yet does not make the
			// answer good: a dying task lets its memory go (exit_mm)
			// well before it is one (exit_notify), and in between
			// /proc shows it running, its SIGKILL taken. Judged alive
			// there, the creator's "different" gave a clone(CLONE_VM)
			// child a copy of the model of the memory it shared with
			// another child: that one's munmap reached only the old
			// model, and the reservation it left became read-write by
			// this child's mprotect (TestEscapeOrphanExec, strict,
			// 1 of 477 children on a loaded machine). The traced tasks
			// that share the child's memory tell instead, as for a
			// child settled without its event (see adoptLate): any
			// space's, since a child settled so before it may have
			// got a copy that is now that memory's model.
			var sp *space
			sp, ok = t.sharer(child, func(o *task) bool { return o.sp != nil }, func(o *task) bool { return o.sp == parent.sp })
			same, shared = sp != nil, sp
		}
		if !ok {
			if ck.pid != child {
				same = true // a thread: CLONE_THREAD needs CLONE_VM
			} else {
				// kcmp refused (a program that is not dumpable, an
				// unprivileged mmapguard). No guess is safe: a shared
				// space taken for a copy gets two models that disagree
				// (one lets mprotect make the other's reservation
				// read-write), a copy taken for shared loses the
				// reservations over its parent's MADV_DONTFORK mappings.
				ck.sp = parent.sp // killed with whatever shares it
				t.failClosed(ck, "cannot tell whether a new process shares its creator's memory")
				return false
			}
		}
	}
	if ck.pid == child {
		t.res.Processes++ // a new process, not a thread
	}
	if shared != nil {
		return t.joinSharer(ck, shared)
	}
	if same {
		ck.sp = parent.sp
		return true
	}
	var g *rewrite.Guard
	var calls []rewrite.Call
	pg := parent.sp.guard
	// Another task's call, decided at its stop (the model changed then),
	// may have run in the kernel before the copy or after it (see
	// flight.go).
	racing := t.othersInFlight(parent)
	if pg.HadOwn() && (pg.MayDontCopy() || racing) {
		// The kernel does not copy some of the program's mappings into
		// the child (VM_DONTCOPY: a perf ring buffer, a driver's
		// mapping, a MADV_DONTFORK one moved in with mremap, which the
		// model does not know of, or one whose MADV_DONTFORK, or munmap,
		// another thread's call the guard has decided but the kernel
		// ran only after the fork): holes in a guarded range. The
		// child's layout is the whole copy, and still (it has run
		// nothing): where it lacks a mapping, it gets a reservation,
		// whatever the model says is there.
		maps, err := region.ReadMaps(child)
		if err != nil {
			ck.sp = &space{guard: pg, abi: parent.sp.abi} // its own: the child alone is killed
			t.failClosed(ck, fmt.Sprintf("cannot read a forked child's layout: %v%s", err, notDumpableHint(err)))
			return false
		}
		g, calls = pg.ForkLayout(parent.sp.abi, gapsIn(t.cfg.Policy.Guarded(), withStackRoom(child, maps, 0, t.cfg.Policy, parent.sp.abi)))
		if racing {
			// A MAP_FIXED decided but not yet run when the kernel
			// copied the parent left the child the reservation the
			// model has taken for the program's mapping (its mprotect
			// would make it read-write): where such a call may have
			// run on either side of the copy, what looks like a
			// reservation in the child is taken for one.
			all, taking := t.uncertain(parent)
			g.Reconcile(maps, all, taking)
		}
	} else {
		// (No mapping of the program's in a guarded range that the
		// kernel might not copy: the model's MADV_DONTFORK record is
		// empty, or exact.)
		g, calls = pg.Fork(parent.sp.abi)
	}
	checkForkedCode(child, g)
	if parent.sp.ident == ([2]uint64{}) {
		// Read once per exec that forks, and copied with the model: a
		// process of this one's that dies while its threads fork is
		// unreadable by the first stop of a child whose event its death
		// lost (no memory: /proc shows zeros), and that child is settled
		// by the exec its space ran (noteHeldFrom, deadCreatorSpace).
		// Read only there, a round process forked by a subreaper, ended
		// while its threads forked, had such a child killed in about
		// one run in three of TestExitWhileForking on a loaded machine.
		if id, ok := execIdentity(parent.tid); ok {
			parent.sp.ident = id
		}
	}
	// The child inherits the parent's objects where they are: it shares
	// the parent's placements.
	ck.sp = &space{guard: g, abi: parent.sp.abi, planner: parent.sp.planner, loader: parent.sp.loader, ident: parent.sp.ident}
	ck.forkCalls = calls
	// A fork made by a signal handler that interrupted the code page's
	// code returns there in the child too, with the same stack: the
	// child's copy of the model finishes those calls.
	for _, tc := range parent.tramps {
		c := *tc
		ck.tramps = append(ck.tramps, &c)
	}
	t.spaces[ck.sp] = true
	return true
}

// joinSharer gives a new process ck the space sp of a traced task that
// kcmp found sharing its memory, and reports whether it lives: it is
// killed if that space is unsure, its model perhaps not its memory's (a
// process whose thread died in a move-out while its memory's reservation
// was away: the model has it, the memory a hole, which the child's
// MAP_32BIT took; the fourteenth session's review).
func (t *tracer) joinSharer(ck *task, sp *space) bool {
	ck.sp = sp
	if t.unsure(sp) {
		t.failClosed(ck, "a new process shares the memory of one that died in a call whose end the guard must see")
		return false
	}
	return true
}

// sharer finds, among the traced tasks in accepts (tid's own task
// aside), the space of one that shares tid's memory, as kcmp tells; nil
// if none does. ok is false if kcmp cannot tell for one that lives and
// that must answer (must); a refusal elsewhere, and a task gone, count
// as no sharer.
func (t *tracer) sharer(tid int, in, must func(*task) bool) (sp *space, ok bool) {
	for _, o := range t.tasks {
		if o.tid == tid || !in(o) {
			continue
		}
		same, ok := sameMM(o.tid, tid)
		if !ok && (!must(o) || !taskLives(o.tid)) {
			continue
		}
		if !ok {
			return nil, false
		}
		if same {
			return o.sp, true
		}
	}
	return nil, true
}

// parentOf finds, among the traced tasks, one of the process that created
// a new task (its own process for a thread, its parent process otherwise),
// from /proc: one that lives if there is one (see taskLives), since a
// zombie (a leader that left with pthread_exit, a thread on its way
// out) neither tells whether the process is ending nor answers kcmp
// for its memory. nil if there is none: that process is gone.
func (t *tracer) parentOf(tid int) *task {
	return t.taskOf(creatorPid(tid), tid)
}

// creatorPid is the process that created a new task, as /proc shows it:
// its own for a thread, its parent otherwise (0 if it cannot be read).
func creatorPid(tid int) int {
	tgid, ppid := procIDs(tid)
	if tgid == tid {
		return ppid
	}
	return tgid
}

// taskOf is parentOf for the creator process want: a traced task of it
// other than tid, a live one if there is one.
func (t *tracer) taskOf(want, tid int) *task {
	var found *task
	for _, other := range t.tasks {
		if other.pid == want && other.sp != nil && other.tid != tid {
			if !other.exiting && taskLives(other.tid) {
				return other
			}
			found = other
		}
	}
	return found
}

// lateWindow is how long after an exec a new process of the exec'd
// process's whose creator is gone is taken for a child of the process
// before the exec (see adoptLate); its first stop comes within
// milliseconds.
const lateWindow = time.Second

// adoptLate gives a held new process ck, whose creator's event will not
// come, the space of its parent process from before its last exec, pre:
// a thread of the parent that forked while another thread exec'd was
// ended by the exec (de_thread) before its event, and the child's first
// stop came after the exec event, or before it (see orphanHeld). The
// kernel made the child all the same, and natively it runs.
// Its memory is a copy of parent's as it was at the fork, which the
// guard's model did not follow to that moment: the model is built anew
// from the child's layout (rewrite.FromLayout), read before it runs
// anything. A child that shares the memory of another traced task (a
// CLONE_VM child, or one of a vfork parent whose child exec'd) shares
// that task's model, which kcmp tells (any traced task's: a process made
// with CLONE_PARENT|CLONE_VM by another child of the parent's, that
// died before its event, shares that one's); where it cannot, the child
// is killed, as in adopt. A held process whose creator died before its
// event, with its whole process (a group exit, a SIGKILL), is settled
// the same way from that process's space (see deadCreatorSpace). It
// returns false if the child was killed.
func (t *tracer) adoptLate(ck *task, pre *space) bool {
	child := ck.tid
	ck.pid = child
	ck.exitOpt = true // (options unknown: firstStop sets them)
	t.res.Processes++
	// Only the old space's tasks must answer: a task of another space
	// that kcmp may not look at (one not dumpable, for an unprivileged
	// mmapguard) is most likely no sharer, and a refusal there killed the
	// child and the old space's tasks with it (the thirteenth session's
	// review).
	sp, ok := t.sharer(child, func(o *task) bool { return o.sp != nil }, func(o *task) bool { return o.sp == pre })
	if !ok {
		ck.sp = pre
		t.failClosed(ck, "cannot tell whether a new process shares its creator's memory")
		return false
	}
	if sp != nil {
		return t.joinSharer(ck, sp)
	}
	maps, err := region.ReadMaps(child)
	if err != nil {
		ck.sp = pre
		t.failClosed(ck, fmt.Sprintf("cannot read the layout of a child made before its parent's exec: %v", err))
		return false
	}
	g, calls := rewrite.FromLayout(pre.guard, pre.abi, maps)
	lateAdopted.Add(1)
	checkForkedCode(child, g)
	ck.sp = &space{guard: g, abi: pre.abi, planner: pre.planner, loader: pre.loader, ident: pre.ident}
	ck.forkCalls = calls
	// The break is the child's creator's, which may be a program exec'd
	// since pre (a child of the new program whose creator was killed
	// before its event): brk(0) asks (see firstStop).
	ck.brkUnknown = true
	// Another new process sharing this memory may join the space before
	// the reservations the layout lacks are made: it waits for them.
	ck.sp.settler = ck
	t.spaces[ck.sp] = true
	return true
}

// noteHeldFrom notes, for held process tk whose parent process has
// task p, p's space and the exec it runs, as the memory tk may be a
// copy of. (A task in the middle of an exec, its event not yet seen,
// shows the new program's with its old space: no child of the new
// program's exists yet, and a child of the old one's does not match.)
// A parent dying already shows none: the exec last read for its space
// stands (a process SIGKILLed while it spawns, whose posix_spawn child
// runs natively, lost it: the fourteenth session's review).
func (t *tracer) noteHeldFrom(tk, p *task) {
	if p.sp == nil || p.sp.guard == nil {
		return
	}
	if id, ok := execIdentity(p.tid); ok && id != ([2]uint64{}) {
		p.sp.ident = id
	}
	if p.sp.ident != ([2]uint64{}) {
		tk.heldFrom, tk.heldExec = p.sp, p.sp.ident
	}
}

// deadCreatorSpace returns the space whose memory a held process copied
// (or shares) when its creator died before its event, or nil: the space
// of its parent process noted at its first stop (noteHeldFrom), if the
// process runs the exec that space ran then (execIdentity: fork copies
// it, exec sets it anew, with arg_start randomized). The creator was a
// process of that exec's: a thread of that process, dead with it (a
// group exit, a SIGKILL: a thread alone cannot be killed, nor leave its
// fork event stop by itself), a child of that process's that made it
// with CLONE_PARENT and died, or, where that process lives on as a
// subreaper, another process of the same exec that died and handed it
// over before its first stop was seen (settleHeld has found that
// neither the parent nor a sibling may still report it). The model is
// read from the process's own layout (see adoptLate): the space gives
// only what an exec sets (the policy, the guard's code page, the
// loader's place), not its pool (see rewrite.FromLayout: a CLONE_PARENT
// child given its grandparent's pool had its own PROT_NONE mapping
// handed out, the fourteenth session's reviews).
//
// Before, every such process was killed: natively it runs, and a
// process whose thread calls exit() while others fork lost 8-10% of
// the children made meanwhile (TestExitWhileForking). Until the
// twenty-first session so was one whose parent process lived on: a
// subreaper's round process whose thread made clone(CLONE_VM) children
// while another exec'd a short program, which ended before their first
// stops were seen (testdata/escape_orphanexec.c under a CPU hog: 12
// children killed in 6 runs of 30 rounds of each route).
func (t *tracer) deadCreatorSpace(tk *task) *space {
	pre := tk.heldFrom
	if pre == nil || pre.guard == nil {
		return nil
	}
	if id, ok := execIdentity(tk.tid); !ok || id != tk.heldExec {
		return nil
	}
	return pre
}

// unsure reports whether a space's model may not be what its memory
// holds: a task of it died, or is dying (SIGKILL pending), in a call
// whose end the guard must see (the reservation a move-out or a
// failure puts back at that end may never come). A new process that
// shares its memory may not join it.
func (t *tracer) unsure(sp *space) bool {
	if sp.broken {
		return true
	}
	for _, o := range t.tasks {
		if o.sp == sp && o.inj != nil && (o.inj.running() || o.inj.await != nil || o.inj.inPlace != nil) && !taskLives(o.tid) {
			return true
		}
	}
	return false
}

// settlerGone fails closed on the processes that joined space sp while
// its settler, gone before its reservations were all made, made them:
// their memory may lack one.
func (t *tracer) settlerGone(sp *space) {
	waiters := sp.settleWaiters
	sp.settler, sp.settleWaiters = nil, nil
	for _, w := range waiters {
		if t.tasks[w.tid] == w {
			t.failClosed(w, "a new process shares the memory of one that died before its reservations were made")
			return // (the kill reaches every process of the space)
		}
	}
}

// settled ends the wait of the processes that joined space sp while
// its settler made its reservations (see adoptLate).
func (t *tracer) settled(sp *space) {
	waiters := sp.settleWaiters
	sp.settler, sp.settleWaiters = nil, nil
	for _, w := range waiters {
		if t.tasks[w.tid] == w {
			t.firstRun(w)
		}
	}
}

// lateAdopted counts the children adoptLate gave a space built from
// their layout (tests).
var lateAdopted atomic.Int64

// sameProgram reports whether tasks a and b run the same exec of a
// program, as far as their memory's layout at exec tells (/proc/PID/stat:
// the start of the code and of the arguments, which a fork copies and
// an exec sets anew, the second randomized): a child made by the program
// its parent exec'd since, not by the one before. True where either
// cannot be read (then the child is not taken for the old program's).
func sameProgram(a, b int) bool {
	ia, okA := execIdentity(a)
	ib, okB := execIdentity(b)
	return !okA || !okB || ia == ib
}

// execIdentity reads startcode and arg_start (fields 26 and 48) of
// /proc/TID/stat.
func execIdentity(tid int) ([2]uint64, bool) {
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/stat", tid))
	if err != nil {
		return [2]uint64{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return [2]uint64{}, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 46 {
		return [2]uint64{}, false
	}
	code, err1 := strconv.ParseUint(f[23], 10, 64)
	args, err2 := strconv.ParseUint(f[45], 10, 64)
	return [2]uint64{code, args}, err1 == nil && err2 == nil
}

// procIDs reads a task's thread group and parent process ids.
func procIDs(tid int) (tgid, ppid int) {
	f, ok := procStatus(tid, "Tgid", "PPid")
	if !ok {
		return 0, 0
	}
	tgid, _ = strconv.Atoi(f[0])
	ppid, _ = strconv.Atoi(f[1])
	return tgid, ppid
}

// firstStop lets a new task run once its space is known, after putting
// back the reservations a forked child did not inherit.
func (t *tracer) firstStop(tk *task) {
	if tk.sp == nil {
		// Its parent's clone event has not been seen yet, and may never
		// be (the parent can be killed between creating the child and
		// reporting it): settle it from /proc now.
		parent := t.parentOf(tk.tid)
		if tk.orphanOf != nil && tk.orphanOf.guard != nil {
			// Made by a thread that its process's exec ended before
			// its event, its first stop before the exec's: a copy of
			// the process before the exec, or a sharer of its memory
			// (or of a creator's that died since: adoptLate looks).
			if !t.adoptLate(tk, tk.orphanOf) {
				tk.born = false
				return
			}
		} else if parent != nil && !tk.orphan && tk.heldPPid != 0 && parent.pid == tk.heldPPid && parent.preExec != nil && time.Since(parent.preExecAt) <= lateWindow {
			// Made by a thread that its process's exec ended before
			// its event, reported after the exec: a copy of the
			// process before it.
			if !t.adoptLate(tk, parent.preExec) {
				tk.born = false
				return
			}
		} else if parent == nil || !tk.orphan {
			// Only an exec ends a creator whose process lives on (see
			// orphanHeld). Any other creator is dead (settleHeld), and
			// the process /proc names as the parent may not be the one
			// whose memory the task copied: a subreaper it was handed
			// to, or a process dying itself. Its model would not be
			// the task's: a reservation taken for the program's
			// mapping could be made read-write. A process that runs
			// the exec its parent process ran at its first stop (a
			// parent that died with its creator, or a subreaper of the
			// same program: see deadCreatorSpace) gets a model read
			// from its own layout (or shares a sharer's), as one whose
			// creator an exec ended; otherwise whatever made it is
			// gone, and with it what its memory holds: it cannot be
			// guarded.
			var pre *space
			if !tk.heldThread {
				pre = t.deadCreatorSpace(tk)
			}
			if pre == nil {
				tk.born = false
				t.failClosed(tk, "a new task whose creator is gone")
				return
			}
			if !t.adoptLate(tk, pre) {
				tk.born = false
				return
			}
		} else if !t.adopt(tk, parent, 0) {
			tk.born = false
			return
		}
	}
	tk.born = false
	if tk.exitOpt {
		// Inherited from a leader: a new thread, or a new process's
		// only one so far.
		t.setExitOption(tk, false)
	}
	if s := tk.sp.settler; s != nil && s != tk && t.tasks[s.tid] == s {
		// Its memory's reservations are still being made (adoptLate).
		tk.sp.settleWaiters = append(tk.sp.settleWaiters, tk)
		return
	}
	if len(tk.forkCalls) == 0 && !tk.brkUnknown {
		t.firstRun(tk)
		return
	}
	calls := tk.forkCalls
	tk.forkCalls = nil
	var extra []extraCall
	if tk.brkUnknown {
		tk.brkUnknown = false
		g, sp := tk.sp.guard, tk.sp
		settler := sp.settler == tk
		extra = append(extra, extraCall{call: rewrite.Call{ABI: tk.sp.abi, Nr: nrBrk[tk.sp.abi]},
			done: func(ret uint64) bool {
				g.SetBrk(ret)
				if settler && sp.settler == tk {
					t.settled(sp)
				}
				return true
			}})
	}
	// The child stands just after the fork's syscall instruction.
	t.startInjection(tk, tk.sp.abi, calls, false, extra)
}

// firstRun lets a new task with nothing to make run, or keeps it in
// the group-stop its first stop was part of.
func (t *tracer) firstRun(tk *task) {
	if groupStopSig(tk.firstSig) {
		// Its first stop is its part in a group-stop: it stays stopped
		// with the others until SIGCONT, as natively. Resumed, it ran
		// while its process was stopped (and a thread that makes
		// threads went on making them).
		if err := listen(tk.tid); err != nil {
			t.lost(tk, err)
			return
		}
		tk.groupStop = true
		return
	}
	t.resume(tk, cont, 0)
}

func (t *tracer) execEvent(tk *task) {
	was, err := eventMsg(tk.tid)
	if err == nil && int(was) != tk.tid {
		// A non-leader thread exec'd: it now has the leader's id.
		if o := t.tasks[int(was)]; o != nil && !o.flight.Empty() {
			t.land(o)
		}
		delete(t.tasks, int(was))
	}
	if !tk.flight.Empty() {
		t.land(tk)
	}
	if sp := tk.sp; sp != nil && sp.guard != nil {
		// The old space lives on in a vfork child's parent: the pool
		// space the exec'ing thread gave back is its to hand out.
		sp.guard.Settle(tk.tid)
		if err == nil {
			sp.guard.Settle(int(was))
		}
	}
	for _, o := range t.tasks {
		if o.vforkChild == tk.tid {
			o.vforkChild = 0 // its vfork is over
		}
	}
	t.lostIoSetup(tk)
	// The old program's per-call state is gone with it, and so are the
	// signals held back from it (after an exec from another thread, this
	// is the old leader's task): they were taken from the old program,
	// which would have handled them, and are not the new one's.
	if tk.ev != nil {
		t.emit(tk, 0, false) // (a call the exec ended: no result)
	}
	tk.inj, tk.ev, tk.spanObj, tk.forkCalls, tk.tramps, tk.deferred, tk.resent = nil, nil, nil, nil, nil, nil, nil
	tk.codeHeld = false // (the old leader's task, held: the exec'ing thread has its id now)
	// The old leader may have been on its way out; the new program has
	// one thread, and its options are the exec'ing thread's.
	tk.exiting = false
	if tk.exitOpt {
		t.setExitOption(tk, false)
	}
	if old := tk.sp; old != nil && old.codeTask == tk {
		// Exec'd from another thread while mapping the code page: a
		// vfork child may still share the old space.
		t.endCode(old)
	}
	if old := tk.sp; old != nil && old.frozen != nil && old.frozen.holder == tk {
		// The thread group leader held a freeze and is gone (its id is
		// the exec'ing thread's now); the other threads are gone too.
		t.endFreeze(old)
	}
	tk.pid = tk.tid
	orphans := t.nHeld > 0 && t.orphanHeld(tk)
	if t.nHeldProcs > 0 {
		t.wantSettle() // (one left waiting on a sibling: see orphanHeld)
	}
	if orphans {
		// Settled once tk has its new space (even if it is killed
		// instead): a child that cannot be told is killed with the
		// tasks of the old space it may share, not the new program.
		defer t.settleOrphans()
	}
	abi := rewrite.ABI64
	var stack uint64
	if si, err := t.stopInfo(tk, false); err == nil {
		if a, ok := abiOf(si.arch); ok {
			abi = a
		}
		stack = si.sp
	}
	calls, blind, ok := t.newProgram(tk, abi, stack)
	if !ok {
		return
	}
	t.inject(tk, abi, calls, true, blind, t.eagerCode(tk))
}

// programStart handles the first program's exec stop (see awaitExec):
// before its first instruction, it gets its reservations, the code page
// and the seccomp filter, injected, and is then handed over to
// PTRACE_SEIZE. early are signals it got before its exec.
func (t *tracer) programStart(tk *task, early []heldSignal) {
	t.res.Processes++
	tk.deferred = append(tk.deferred, early...)
	tk.handoff = true
	if atProgramStart != nil {
		atProgramStart(tk)
	}
	var regs unix.PtraceRegs
	if err := getRegs(tk.tid, &regs); err != nil {
		t.lost(tk, err)
		return
	}
	abi := rewrite.ABI64
	if regs.Cs == user32CS {
		abi = rewrite.ABI32
	}
	calls, blind, ok := t.newProgram(tk, abi, regs.Rsp)
	if !ok {
		return
	}
	fc, err := t.filterCalls(tk, abi, regs.Rsp)
	if err != nil {
		// Unguarded, the program must not run.
		t.startErr = fmt.Errorf("installing the seccomp filter in the program: %w%s", err, memoryRefusedHint(tk.tid, err))
		t.kill(tk)
		return
	}
	t.inject(tk, abi, calls, true, blind, append(t.eagerCode(tk), fc...))
}

// newProgram gives a task that has just exec'd (or the first program) a
// new address space and returns the reservations to inject before it
// runs. ok is false if the process was killed instead. blind says the
// calls were made without reading the layout (see
// rewrite.Guard.ReserveBlind): a reading of /proc/PID/maps less per
// exec, where nothing needs the layout itself (placement, attribution),
// and where the new program's image is not in a guarded range (stack,
// its stack pointer at the exec, says: see imageGuarded), since a blind
// reservation would then fail (EEXIST) and take the layout anyway.
func (t *tracer) newProgram(tk *task, abi rewrite.ABI, stack uint64) (calls []rewrite.Call, blind, ok bool) {
	sp := &space{guard: rewrite.NewGuard(t.cfg.Policy), abi: abi}
	// Threads that shared the old space are gone; a vfork parent keeps
	// the old space, which is its own.
	old := tk.sp
	tk.sp = sp
	t.spaces[sp] = true
	t.retire(old)
	tk.preExec = nil
	if old != nil && old.guard != nil {
		tk.preExec, tk.preExecAt = old, time.Now()
	}
	if t.cfg.Place == nil && t.attr == nil && !readMapsAtExec && !imageGuarded(tk.tid, abi, stack, sp.guard.Policy()) &&
		(sp.guard.Policy().Strict || abi != rewrite.ABI64 || !guardsAny(sp.guard.Policy(), stackRoom(tk.tid, stack, 0))) {
		return sp.guard.ReserveBlind(abi), true, true
	}
	layoutReads.Add(1)
	maps, err := region.ReadMaps(tk.tid)
	if err != nil {
		// Without its layout nothing can be reserved: fail closed.
		t.failClosed(tk, fmt.Sprintf("reading its maps at exec: %v", err))
		return nil, false, false
	}
	if t.cfg.Place != nil {
		sp.planner = t.cfg.Place.planner(maps)
		if sp.loader = interpreterCode(tk.tid, maps); sp.loader == nil {
			exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", tk.tid))
			t.warnf("%s has no ELF interpreter (ld.so): the objects it loads itself are not placed", exe)
		}
	}
	if t.attr != nil {
		t.attr.SetMaps(tk.pid, maps)
	}
	calls, occupied := sp.guard.Reserve(abi, withStackRoom(tk.tid, maps, stack, sp.guard.Policy(), abi))
	if !t.occupiedAtExec(tk, occupied) {
		return nil, false, false
	}
	return calls, false, true
}

// maxStackRoom bounds the room left below a stack whose limit is
// unlimited (or huge): natively it grows until it meets a mapping.
const maxStackRoom = 1 << 30

// stackRoom returns the part of the address space a new program's stack
// may grow down into: RLIMIT_STACK (at most maxStackRoom) below top, the
// end of its stack mapping, or below sp, its stack pointer at the exec,
// when top is 0 (the mapping's end lies a little above).
func stackRoom(tid int, sp, top uint64) region.Range {
	if sp == 0 && top == 0 {
		return region.Range{}
	}
	room := uint64(8 << 20) // the usual limit, if it cannot be read
	var lim unix.Rlimit
	if unix.Prlimit(tid, unix.RLIMIT_STACK, nil, &lim) == nil {
		room = min(lim.Cur, maxStackRoom)
	}
	if top == 0 {
		top = sp &^ 0xfff
	}
	start := uint64(0)
	if top > room {
		start = (top - room) &^ 0xfff
	}
	return region.Range{Start: start, End: top}
}

// guardsAny reports whether r overlaps a guarded range of p.
func guardsAny(p *rewrite.Policy, r region.Range) bool {
	for _, g := range p.Guarded() {
		if g.Overlaps(r) {
			return true
		}
	}
	return false
}

// withStackRoom returns maps with the room a new program's stack (the
// mapping holding sp, the stack pointer at the exec) may grow into (see
// stackRoom), as far as the mapping below it, added as a mapping of the
// program's (stackRoomPath): it is not reserved. A reservation right
// below the stack (a guarded range over the top of the address space,
// where the kernel puts it) stopped its growth at the 132 KiB the
// kernel maps at exec: a program that needed more died of SIGSEGV.
//
// The stack is grown over the room at once (growStack), so that nothing
// is left unreserved there: left free, the room was where the kernel's
// last-resort search, bottom-up to the top of user space once nothing
// below its mmap base is free, put a mapping once the program had filled
// some 100 TiB with PROT_NONE, MAP_NORESERVE mappings. Where the stack
// cannot grow so, or where the program could reach the room with less,
// no room is left and the stack does not grow: with --strict (policy
// p); for an i386 program, whose 2 GiB below a range over its top half
// a program fills with ordinary memory; and under the legacy layout
// (personality ADDR_COMPAT_LAYOUT, vm.legacy_va_layout), where those
// mappings go bottom-up from a third of the address space and reach the
// room as soon as that part is full (found by the sixteenth session's
// review).
// An unlimited RLIMIT_STACK is not that layout on x86-64 (see
// legacyLayout): the mmap base goes down to a sixth of the address
// space, mappings go top-down from there, and the last-resort search
// reaches the room only after some 100 TiB, as with a finite limit.
//
// With sp 0 (a forked child's layout, where the forking thread's stack
// pointer need not be in it) the mapping is the one the kernel calls
// [stack].
func withStackRoom(tid int, maps []region.Mapping, sp uint64, p *rewrite.Policy, abi rewrite.ABI) []region.Mapping {
	if p.Strict || abi != rewrite.ABI64 || legacyLayout(tid) {
		return maps
	}
	for i, m := range maps {
		if sp != 0 && !m.Contains(sp) || sp == 0 && m.Path != "[stack]" {
			continue
		}
		// Only the guarded range the stack grows down into has room
		// left in it, from the stack down.
		var g region.Range
		for _, r := range p.Guarded() {
			if m.Start > r.Start && m.Start <= r.End {
				g = r
			}
		}
		if g.Empty() {
			return maps
		}
		start := max(stackRoom(tid, sp, m.End).Start, g.Start)
		if i > 0 {
			start = max(start, maps[i-1].End)
		}
		if start > g.Start && (i == 0 || maps[i-1].End != start || !rewrite.LooksReserved(maps[i-1])) {
			// The room's lowest page stays reserved: below it lies a
			// mapping of the program's (ld.so's data, where the layout
			// was made with a smaller RLIMIT_STACK than the one read
			// now: another process's prlimit between the exec and the
			// guard's look), and mremap grows a mapping in place into
			// free space above it. A reservation stops that, as it
			// stops brk. (Found by the seventeenth session's hunt:
			// ld.so's data segment grown 1 MiB into the room.)
			//
			// Not where the room reaches the guarded range's start:
			// the stack, grown to it (growStack), covers the range's
			// part and leaves nothing there free for a mapping below
			// to grow into, and below the range it grows on its own,
			// as natively. A reservation of the range's first page
			// stopped it there: a stack whose range started less
			// than its limit below it had less (under setarch -R and
			// --protect 0x7ffffff00000-0x7ffffffff000, under 1 MiB),
			// and a program needing more, which runs natively, died
			// of SIGSEGV (found in review).
			start += region.PageSize
		}
		if start >= m.Start {
			return maps
		}
		if !growStack(tid, start, m.End-start) {
			// Reserved, then: the stack stops there, as with --strict.
			return maps
		}
		room := region.Mapping{Range: region.Range{Start: start, End: m.Start}, Perms: "---p", Path: stackRoomPath}
		return slices.Insert(slices.Clone(maps), i, room)
	}
	return maps
}

// growStack grows the stack of stopped task tid down to addr at once,
// so that the room below it (see withStackRoom) is the stack's mapping
// from the start and no part of the guarded range is left unreserved: a
// word written there through ptrace (PTRACE_POKEDATA, as /proc/PID/mem
// does, grows a stack the kernel's own way, within RLIMIT_STACK and the
// address-space and commit limits, where a fault of the program's would;
// the zeros it writes are a new stack page's). Left free for the stack
// to grow into on its own, the room was the first place the kernel's
// last-resort search found once a program had filled the rest of the
// address space with some 100 TiB of PROT_NONE, MAP_NORESERVE mappings:
// a dozen calls, 6 ms, as any user (found by the seventeenth session's
// hunt). It reports whether the stack reaches addr now; if not (a limit,
// or an accessible mapping less than the kernel's stack guard gap below
// it), the room is reserved and the stack cannot grow.
//
// The kernel checks the stack's new size, size, against the
// RLIMIT_STACK of the process that writes, mmapguard, not the program's
// (whose own limit size is within: see stackRoom): mmapguard's is
// raised for the write where it is lower, and put back. (Its address
// space limit applies too, not the program's; the guard's reservations
// count against the program's anyway, some TiB where a stack has room.)
func growStack(tid int, addr, size uint64) bool {
	var mine unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &mine); err != nil {
		return false
	}
	if mine.Cur != unix.RLIM_INFINITY && mine.Cur < size {
		if mine.Max != unix.RLIM_INFINITY && mine.Max < size {
			return false
		}
		raised := unix.Rlimit{Cur: size, Max: mine.Max}
		if err := unix.Setrlimit(unix.RLIMIT_STACK, &raised); err != nil {
			return false
		}
		// Lowering a soft limit back cannot fail.
		defer func() { _ = unix.Setrlimit(unix.RLIMIT_STACK, &mine) }()
	}
	var zero [8]byte
	return poke(tid, addr, zero[:]) == nil
}

// stackRoomPath names the room left below a stack (see withStackRoom)
// among the mappings found at exec.
const stackRoomPath = "[room for the stack to grow]"

// legacyLayout reports whether process tid places its mappings bottom-up
// (x86's mmap_is_legacy): the personality ADDR_COMPAT_LAYOUT, or
// vm.legacy_va_layout set. Unknown is taken for legacy.
//
// Not RLIMIT_STACK unlimited, which selects the legacy layout in the
// generic mm code (and on x86 kernels of long ago), but not on x86-64
// now: there it only moves the mmap base down to a sixth of the address
// space (ulimit -s unlimited puts libc at about 0x150000000000, setarch
// -L at 0x2b0000000000, on this Linux 6.18). Taken for legacy, it left
// a stack inside a guarded range no room to grow, and a program run
// with ulimit -s unlimited, which runs natively, died of SIGSEGV past
// the 132 KiB mapped at exec (TestStackGrowsInGuardedRange/unlimited).
func legacyLayout(tid int) bool {
	const addrCompatLayout = 0x0200000
	b, err := procfile.Read(fmt.Sprintf("/proc/%d/personality", tid))
	pers, perr := strconv.ParseUint(strings.TrimSpace(string(b)), 16, 32)
	if err != nil || perr != nil || pers&addrCompatLayout != 0 {
		return true
	}
	b, err = procfile.Read("/proc/sys/vm/legacy_va_layout")
	return err != nil || strings.TrimSpace(string(b)) != "0"
}

// readMapsAtExec makes every exec read the layout (tests compare both
// ways).
var readMapsAtExec = false

// layoutReads counts the layouts read at exec (tests check that a PIE
// program's exec reads none, a non-PIE one's one).
var layoutReads atomic.Int64

// imageGuarded reports whether a program that has just exec'd has its
// image in a guarded range (a non-PIE executable linked at 0x400000),
// from the address of its program headers the kernel put in its
// auxiliary vector (AT_PHDR): sp points at argc, then argv, envp and the
// vector, on the new program's stack. Only a hint: a wrong answer costs
// a reading of the layout, or a blind reservation that fails with EEXIST
// and reads it then; false when the vector is not within the first
// 4 KiB.
func imageGuarded(tid int, abi rewrite.ABI, sp uint64, p *rewrite.Policy) bool {
	if sp == 0 {
		return false
	}
	var buf [4096]byte
	n, err := unix.ProcessVMReadv(tid, []unix.Iovec{{Base: &buf[0], Len: uint64(len(buf))}},
		[]unix.RemoteIovec{{Base: uintptr(sp), Len: len(buf)}}, 0)
	if err != nil {
		return false
	}
	phdr, ok := auxvPhdr(buf[:n], abi)
	if !ok {
		return false
	}
	for _, r := range p.Guarded() {
		if r.Contains(phdr) {
			return true
		}
	}
	return false
}

// auxvPhdr finds AT_PHDR in an initial stack (from argc on) of the ABI's
// word size.
func auxvPhdr(b []byte, abi rewrite.ABI) (uint64, bool) {
	w := 8
	if abi == rewrite.ABI32 {
		w = 4
	}
	word := func(i int) (uint64, bool) {
		if (i+1)*w > len(b) {
			return 0, false
		}
		if w == 4 {
			return uint64(binary.LittleEndian.Uint32(b[i*w:])), true
		}
		return binary.LittleEndian.Uint64(b[i*w:]), true
	}
	argc, ok := word(0)
	if !ok || argc > uint64(len(b)/w) {
		return 0, false
	}
	i := int(argc) + 2 // argv's pointers and their NULL
	for {              // envp's, up to their NULL
		v, ok := word(i)
		if !ok {
			return 0, false
		}
		i++
		if v == 0 {
			break
		}
	}
	const atNull, atPhdr = 0, 3
	for ; ; i += 2 {
		typ, ok1 := word(i)
		val, ok2 := word(i + 1)
		if !ok1 || !ok2 || typ == atNull {
			return 0, false
		}
		if typ == atPhdr {
			return val, true
		}
	}
}

// occupiedAtExec takes the mappings a new program has in guarded ranges
// at its exec, before its first instruction: the kernel put them there.
// It warns about them; under a strict policy it kills the program, and
// reports false, if one in a protected range is its vDSO or its loader
// where the kernel chose to put it: with RLIMIT_STACK unlimited (or
// large) an i386 program's mapping base is pushed down to as low as a
// sixth of its 4 GiB, and its loader and vDSO go top-down from about
// 0x2aaaa000; under the legacy layout (personality ADDR_COMPAT_LAYOUT)
// bottom-up from about 0x55555000: where nobody asked for them. The
// program's image, and a
// loader that is not position-independent (AT_BASE 0: it lies at the
// addresses its headers give, like a non-PIE image), are its own.
func (t *tracer) occupiedAtExec(tk *task, occupied []region.Mapping) bool {
	t.warnOccupied(occupied)
	p := tk.sp.guard.Policy()
	if !p.Strict || len(occupied) == 0 {
		return true
	}
	// Without AT_BASE and the layout, the loader cannot be told from the
	// image: the program is not let run on a guess.
	var loader *region.Mapping // a mapping of the loader's file
	base, ok := auxvBase(tk.tid, tk.sp.abi)
	if !ok {
		t.failClosed(tk, "its auxiliary vector (/proc/PID/auxv) cannot be read to tell its loader from its image, "+
			"which lie inside a protected range at its exec")
		return false
	}
	if base != 0 {
		maps, err := region.ReadMaps(tk.tid)
		if err != nil {
			t.failClosed(tk, fmt.Sprintf("its layout cannot be read to tell its loader from its image, "+
				"which lie inside a protected range at its exec: %v", err))
			return false
		}
		for i := range maps {
			if maps[i].Contains(base) && maps[i].Inode != 0 {
				loader = &maps[i]
			}
		}
	}
	for _, m := range occupied {
		if !p.OverlapsProtected(m.Range) {
			continue
		}
		vdso := m.Path == "[vdso]" || strings.HasPrefix(m.Path, "[vvar")
		if vdso || loader != nil && m.Inode == loader.Inode && m.Dev == loader.Dev {
			t.failClosed(tk, fmt.Sprintf("at its exec the kernel put %s at %v, inside a protected range; %s",
				m.Path, m.Range, kernelPlaced(tk.sp.abi)))
			return false
		}
	}
	return true
}

// kernelPlaced says why the kernel put a program's loader or vDSO in a
// protected range at its exec, and what to do. A 64-bit program's go
// top-down from a base chosen at random (address-space randomisation,
// vm.mmap_rnd_bits: 28 bits of pages, 1 TiB, by default) below the
// stack: a protected range in that TiB catches them now and then, in
// some runs and not others, whatever the stack limit. (The message said
// only RLIMIT_STACK and ADDR_COMPAT_LAYOUT, the i386 legacy layout's
// causes, which do not apply there.)
func kernelPlaced(abi rewrite.ABI) string {
	if abi == rewrite.ABI32 {
		return "an i386 program's mapping base is pushed down to as low as 0x2aaaa000 " +
			"by an unlimited or large RLIMIT_STACK (they go top-down from there), " +
			"and the legacy layout (personality ADDR_COMPAT_LAYOUT, setarch -L) puts them bottom-up from about 0x55555000: " +
			"run it with a stack limit of a few MiB (ulimit -s 8192), without setarch -L"
	}
	return "the kernel chooses their place at random (address-space randomisation), " +
		"anywhere in the TiB or so below the stack (0x7eff00000000-0x7ffff8000000 with the default " +
		"vm.mmap_rnd_bits), or lower with a large RLIMIT_STACK: some runs are killed and others not; " +
		"protect no range there with --strict"
}

// auxvFile is where auxvBase reads a task's auxiliary vector (tests
// make it unreadable).
var auxvFile = "/proc/%d/auxv"

// auxvBase reads AT_BASE, where the kernel put the program's loader (0
// for none, or one at fixed addresses), from /proc/TID/auxv, whose words
// are the ABI's.
func auxvBase(tid int, abi rewrite.ABI) (uint64, bool) {
	b, err := procfile.Read(fmt.Sprintf(auxvFile, tid))
	if err != nil {
		return 0, false
	}
	w := 8
	if abi == rewrite.ABI32 {
		w = 4
	}
	word := func(at int) uint64 {
		if w == 4 {
			return uint64(binary.LittleEndian.Uint32(b[at:]))
		}
		return binary.LittleEndian.Uint64(b[at:])
	}
	const atNull, atBase = 0, 7
	for at := 0; at+2*w <= len(b); at += 2 * w {
		switch word(at) {
		case atNull:
			return 0, true
		case atBase:
			return word(at + w), true
		}
	}
	return 0, false
}

// warnOccupied warns about mappings found in guarded ranges at exec, one
// warning per object: a non-PIE image's segments and the bss after them
// are contiguous.
//
// Each run of an object is reported once per run of mmapguard, however
// often it is exec'd, and wherever the kernel put it: one where the
// kernel chose at random (the loader and the vDSO of a program with the
// legacy layout, setarch -L, which go at a third of the address space,
// inside the default pool) is told by its object and its offset from
// that object's first run, not by its addresses. Told by the message,
// a shell script under setarch -L got four warnings (the loader,
// [vvar], [vvar_vclock], [vdso]) and four summary lines per program it
// ran (157 lines for python3 through pyenv's shim).
func (t *tracer) warnOccupied(occupied []region.Mapping) {
	base := map[string]uint64{} // the start of each object's first run
	room := slices.ContainsFunc(occupied, func(m region.Mapping) bool { return m.Path == stackRoomPath })
	for i := 0; i < len(occupied); {
		r, what := occupied[i].Range, occupied[i].Path
		if what == stackRoomPath {
			i++ // (said with the stack's)
			continue
		}
		for i++; i < len(occupied) && occupied[i].Start == r.End &&
			(occupied[i].Path == what || occupied[i].Path == ""); i++ {
			r.End = occupied[i].End
		}
		if what == "" {
			what = "an anonymous mapping"
		}
		if _, ok := base[what]; !ok {
			base[what] = r.Start
		}
		key := fmt.Sprintf("%s+%#x+%#x", what, r.Start-base[what], r.End-r.Start)
		if what == "[stack]" && !room {
			key += " (cannot grow)" // (said of the first such stack)
		}
		if t.occupiedSeen[key] {
			continue
		}
		t.occupiedSeen[key] = true
		msg := fmt.Sprintf("%v is occupied at exec by %s: cannot reserve it", r, what)
		switch {
		case what == "[stack]" && room:
			msg += " (nor the room below it the stack may grow into, up to RLIMIT_STACK, which the stack is given at once)"
		case what == "[stack]":
			msg += "; the rest is reserved right below it, and the stack cannot grow (with --strict, in an i386 program, under the legacy layout, or where the kernel refused to grow it at the exec: RLIMIT_STACK or RLIMIT_AS of mmapguard itself, the commit limit, a mapping just below): a program that needs more stack than this dies of SIGSEGV (keep the range out of the last 16 GiB of user space)"
		}
		if !t.warned[msg] {
			t.res.Unreserved = append(t.res.Unreserved, msg)
		}
		t.warnf("%s", msg)
	}
}
