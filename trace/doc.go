// Package trace is mmapguard's ptrace engine: it starts a program under
// the guard, follows every thread and process it creates, and carries out
// what package rewrite decides for each trapped call.
//
// # Launch
//
// Run starts the program directly (syscall.StartProcess, not
// os.StartProcess, which forks a throwaway child first to probe for
// pidfds), with PTRACE_TRACEME in the child (SysProcAttr.Ptrace), from
// the caller's goroutine locked to its thread for good, with SIGKILL as
// the child's parent-death signal and no_new_privs set on that thread
// (inherited, so that no secure exec clears that signal: it kills the
// program with mmapguard until PTRACE_O_EXITKILL is set, and in the
// hand-over below); the filter is built meanwhile on another. The child stops with SIGTRAP after its execve,
// before the program's first instruction. Until then the child has
// every signal but SIGTRAP blocked (inherited from the tracer thread):
// a signal stopping it in Go's fork code, between PTRACE_TRACEME and
// execve, would wait for a tracer blocked in vfork (a fault the kernel
// raises there, as for an exec failing after its point of no return, is
// delivered: the process dies of it, as natively). SIGSTOP cannot be
// blocked: a child it stops there is found from another thread if the
// launch lasts over a millisecond, killed before it ran anything of the
// program's, and the program started again (launchWatch). Its own mask
// (Config.SigMask, the one the launcher was started with) is put
// back with PTRACE_SETSIGMASK at the exec stop, which is told apart from
// a SIGTRAP someone sent by its sender. Right there, with
// PTRACE_O_TRACESYSGOOD and EXITKILL set, the tracer injects the
// reservations (below) and the filter itself:
// prctl(PR_SET_NO_NEW_PRIVS) and seccomp(SECCOMP_SET_MODE_FILTER), with
// the filter written on the program's stack below its stack pointer and
// zeroed again afterwards. If the kernel refuses the filter, the program
// is killed before it runs and Run returns the error.
//
// A TRACEME tracee cannot be PTRACE_LISTENed to or PTRACE_INTERRUPTed,
// and its children would inherit that mode, so the guarded program is
// then handed over to PTRACE_SEIZE: the signals it got meanwhile are
// sent again, it is detached standing at a stub of the guard's written
// over its first instructions (pause() in a loop: untraced, its exec
// would get no reservations), seized at once with every option
// (TRACESECCOMP, TRACECLONE, TRACEFORK, TRACEVFORK, TRACEEXEC,
// TRACESYSGOOD, EXITKILL) and interrupted; at that stop its code and
// registers are put back. Job control acts on it meanwhile as without
// the guard: no stop signal or SIGCONT of the guard's own is involved.
// No second process start and no second Go runtime (an earlier launch
// re-executed mmapguard as a shim that installed the filter and then
// exec'd the program): about 2 ms less per run.
//
// # Reservations at exec
//
// At each PTRACE_EVENT_EXEC the new program has not run an instruction.
// The tracer asks the new address space's Guard for the reservation
// calls and runs them there: it writes a syscall instruction over the
// entry point, points the registers at it with one call loaded, lets it
// run to the call's exit stop, repeats, and finally restores the two
// bytes and the registers. Waiting for the first trapped call instead
// would be too late: the filter lets mmap(NULL) through in the kernel,
// and a static program maps memory before anything traps.
//
// At each stop of a call of the guard's own (these, reservations put
// back after a call from the program's own instruction, a forked
// child's) the tracer checks that it is that call: number, arguments,
// architecture, from that instruction. A task that makes another call
// there, or faults, runs code that is not the guard's, and is killed. A
// reservation put back that fails over a protected range, leaving part
// of it unmapped, kills the process too.
//
// # The event loop
//
// The caller's goroutine, locked to its OS thread (every ptrace request
// must come from the thread that attached), waits with wait4(-1, __WALL) and
// handles each stop:
//
//   - seccomp stop: read the call (PTRACE_GET_SYSCALL_INFO, or the
//     registers and the filter's return data on kernels before 5.3), ask
//     Guard.Decide, and act: continue; skip the call with a result
//     (orig_rax -1); run the action's steps, the first in place of the
//     call and the others by rewinding the instruction pointer two bytes
//     to the syscall instruction; or kill. A rewrite whose success needs
//     no look takes one stop: it returns into the guard's code page,
//     which puts the registers back (tramp.go). The code goes there at
//     the exit of the first rewrite that could use it (two stops).
//   - syscall-entry and -exit stops: only injections and calls whose
//     result the guard must see (Action.Exit) ask for them.
//   - clone, fork and vfork events: threads and vfork children share the
//     parent's address space (kcmp tells where flags do not); a forked
//     child gets a copy, and reservations are put back where the parent
//     had MADV_DONTFORK mappings before the child runs. A child's first
//     stop can arrive before its parent's event: it waits for it.
//   - exec events: a new address space (an exec from a non-leader thread
//     is reported on the leader's id; the old id is dropped).
//   - group-stops (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) are answered with
//     PTRACE_LISTEN, so the program stays stopped until SIGCONT; a
//     job-control stop of the first program (all but SIGSTOP) is then
//     passed on to Config.JobStop, once no other stop waits, for the
//     launcher to stop likewise where a shell sees it; other
//     signals are passed on, except during an injection, when they are
//     held and sent again (tgkill) once the task is back in its own code,
//     before it runs (a thread that leaves right after its call would
//     lose a signal sent later), their siginfo put back
//     (PTRACE_SETSIGINFO) at their delivery.
//   - a task that vanishes mid-stop (ESRCH) is dropped; the others go on.
//
// Run returns when every traced task has exited, with the wait status of
// the first process: the caller passes it on as its own exit status.
package trace
