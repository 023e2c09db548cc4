// Package rewrite decides what happens to one trapped mapping call.
//
// The tracer (package trace) stops a thread at a seccomp stop, reads the
// call it was about to make, and asks the process's Guard what to do with
// it. The answer is an Action:
//
//   - Allow: run the call as the program made it;
//   - Run: run one or more calls chosen here instead (a rewritten mmap that
//     lands in the pool, an munmap turned into a reservation, a probe
//     followed by the real call), and give the program a stated result;
//   - Return: skip the call and give the program a value or an errno;
//   - Kill: no safe answer exists (an ABI the guard does not understand).
//
// When an Action needs the call's result (to commit or undo a change of the
// address-space model, to put a reservation back after a move), it says so
// with Exit, and the tracer reports the result through Guard.Complete,
// which may answer with more calls to inject.
//
// Nothing here does I/O or touches a process: a Guard is a deterministic
// state machine over the policy and the model of one address space (the
// program's mappings and the guard's own reservations, kept apart, both
// restricted to the guarded ranges: protected ranges and the pool). That is
// what lets the decision be tested exhaustively without a tracee.
//
// # Semantics
//
// Protected ranges: nothing lands in them by anyone's free choice. The
// kernel cannot choose them, because their free parts are covered by
// PROT_NONE reservations; a hint that points inside one is moved out (to
// the pool, or else to the kernel's choice), unless an owner made the call.
// Explicit requests (MAP_FIXED, MAP_FIXED_NOREPLACE, mremap with
// MREMAP_FIXED, shmat with an address) are honoured exactly, as if the
// reservations were not there; a strict policy refuses them (EPERM) to
// everyone but owners.
//
// Reservations are invisible: munmap of a program mapping in a guarded
// range puts a reservation back in the same call (an mmap with MAP_FIXED
// over it, so no hole is ever open), and calls aimed at reservations get
// the errno the kernel gives for unmapped memory.
//
// The pool: rerouted placements get a chunk from a region.Pool and are
// mapped with MAP_FIXED over the guard's reservation there; munmap in the
// pool gives the chunk back. Not at once: the reservation that replaces
// the program's mapping is a call its thread makes after the decision,
// and handed to another thread meanwhile, the chunk would be mapped
// there first and reserved over after. Space given back (by munmap, an
// mremap that shrinks or moves out, shmdt, a failed call's rollback)
// returns to the pool when its thread makes its next call (Caller.Task),
// exits or execs (Guard.Settle): by then what the guard ran for it is
// done.
//
// The model is updated when the decision is taken (so that the next
// decision, perhaps on another thread, already sees it) and rolled back in
// Complete if the kernel refused the call.
package rewrite
