// Package trace is mmapguard's ptrace engine: it starts a program under
// the guard, follows every thread and process it creates, and carries out
// what package rewrite decides for each trapped call.
//
// # Launch
//
// Run starts mmapguard's own executable again as a small shim (argv[0]
// "mmapguard-shim", MMAPGUARD_SHIM_FD in its environment; MaybeShim at
// the top of main recognises it). The tracer seizes the shim with
// PTRACE_SEIZE and the options it needs (TRACESECCOMP, TRACECLONE,
// TRACEFORK, TRACEVFORK, TRACEEXEC, TRACESYSGOOD, EXITKILL) and only then
// sends it the filter policy through a pipe. The shim, on its one locked
// thread, sets no_new_privs, installs the seccomp filter without TSYNC
// and execs the program: the exec ends the shim's other threads, and the
// filter survives it. A re-exec'd shim rather than a raw fork is what Go
// allows: after fork only async-signal-safe work is possible, and a
// filter installed in the parent first would trap the tracer itself. The
// shim's own trapped calls (its runtime maps memory and starts threads)
// are let through until the program's exec.
//
// # Reservations at exec
//
// At each PTRACE_EVENT_EXEC the new program has not run an instruction.
// The tracer reads its maps, asks the new address space's Guard for the
// reservation calls, and runs them there: it writes a syscall instruction
// over the entry point, points the registers at it with one call loaded,
// lets it run to the call's exit stop, repeats, and finally restores the
// two bytes and the registers. Waiting for the first trapped call instead
// would be too late: the filter lets mmap(NULL) through in the kernel, and
// a static program maps memory before anything traps.
//
// # The event loop
//
// One goroutine, locked to its OS thread (every ptrace request must come
// from the thread that attached), waits with wait4(-1, __WALL) and
// handles each stop:
//
//   - seccomp stop: read the call (PTRACE_GET_SYSCALL_INFO, or the
//     registers and the filter's return data on kernels before 5.3), ask
//     Guard.Decide, and act: continue; skip the call with a result
//     (orig_rax -1); run the action's steps, the first in place of the
//     call and the others by rewinding the instruction pointer two bytes
//     to the syscall instruction; or kill.
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
//     PTRACE_LISTEN, so the program stays stopped until SIGCONT; other
//     signals are passed on, except during an injection, when they are
//     held and sent again (tgkill) once the task is back in its own code.
//   - a task that vanishes mid-stop (ESRCH) is dropped; the others go on.
//
// Run returns when every traced task has exited, with the wait status of
// the first process: the caller passes it on as its own exit status.
package trace
