// Package seccomp builds the classic-BPF seccomp filter that sends
// mapping calls to mmapguard's tracer, and installs it.
//
// Build is pure: it turns a Policy into a Program, a list of BPF
// instructions, and makes no system call. Install (install_linux.go) is
// the one function that touches the kernel: prctl(PR_SET_NO_NEW_PRIVS)
// and seccomp(SECCOMP_SET_MODE_FILTER). Evaluate states in plain Go what
// the program must return for any input; the tests run every program in
// golang.org/x/net/bpf's VM and compare.
//
// # What the filter decides
//
// The filter sees struct seccomp_data (Data): the system call number, the
// AUDIT_ARCH_* of the entry used, and the six argument registers. It
// returns one of
//
//   - ALLOW: the kernel runs the call; no stop.
//   - TRACE(code): the call stops in the tracer, which reads the 16-bit
//     code with PTRACE_GETEVENTMSG. Without a tracer the call fails with
//     ENOSYS, so a lost tracer leaves the guard closed, not open.
//   - ERRNO(ENOSYS): x32 calls, clone3 (its flags are in memory, out
//     of the filter's reach; glibc falls back to clone), and the three
//     io_uring calls (a ring's IORING_OP_MADVISE is madvise done by the
//     kernel, out of the filter's sight; programs fall back to the plain
//     calls, as on a kernel without io_uring).
//   - ERRNO(EPERM): clone with CLONE_UNTRACED, which would escape the
//     tracer.
//   - KILL_PROCESS: any architecture other than x86-64 and i386.
//
// A call is decided in the kernel whenever the answer does not need the
// tracer (see Evaluate for the full rules): an mmap without MAP_FIXED
// whose hint is not inside a protected range, a munmap, mprotect,
// madvise, msync, mincore, mbind, remap_file_pages... whose range
// [addr, addr+len) does not
// overlap a guarded range (an empty range counts as its address: mremap
// with old_len 0 names the mapping there), and a get_mempolicy whose
// MPOL_F_ADDR address is not inside one. io_destroy goes to the tracer
// when a guarded range lies within 1 GiB above its context (the ring's
// address): the ring it unmaps has the size it had at io_setup, at most
// 256 MiB, which the filter cannot see. io_setup always does: a failure
// at its end unmaps the new ring wherever it is by then. Everything else of a mapping
// kind is sent to the tracer, which answers a call aimed at a
// reservation as the kernel answers one aimed at unmapped memory. i386
// mapping calls always are: they are rare, and the kernel uses only the
// low 32 bits of their registers, which a comparison on all 64 could be
// fooled by.
//
// An mremap with MREMAP_FIXED always goes to the tracer (reason
// FixedTarget) instead of having its new range checked in the kernel:
// classic BPF only jumps forward, so one copy of the range search can test
// one range per call, and testing the new range too would need a second
// copy of the search, halving the number of ranges a program can hold.
// Such mremaps are rare.
//
// # Return data
//
// TRACE carries a Code in its 16 data bits:
//
//	bits  0-7   Class   which call (mmap, munmap, mmap2, ipc ...)
//	bits  8-11  Reason  why it was sent (always, fixed-overlap, hint-inside,
//	                    range-overlap, fixed-target, null-hint, wrap)
//	bits 12-13  ABI     x86_64 (1) or i386 (2)
//
// Every field of a valid code is non-zero. Code.String renders it as
// "mmap/x86_64/fixed-overlap".
//
// # Layout of the program
//
// Program.Disassemble shows a program with numbered lines. In order:
//
//  1. ld arch; x86-64 goes on, i386 jumps to its block, anything else
//     returns KILL_PROCESS.
//  2. The x86-64 block: ld nr; the x32 bit returns ERRNO(ENOSYS); then a
//     binary search over the numbers of the calls the filter singles out
//     (jge splits, leaves of at most four jeq, each leaf ending in
//     ALLOW). A call that is not singled out runs only loads of nr and
//     arch and comparisons with constants, a path the kernel's seccomp
//     action cache (Linux 5.11) recognises when the filter is attached:
//     from then on such calls do not run the filter at all. The kernel
//     finds those paths by walking the filter for every number, so the
//     search keeps each walk short (see dispatch).
//  3. The bodies of the singled-out x86-64 calls: constant returns (brk,
//     clone3, io_uring), the clone flag test, the shmat address test, the mmap flag
//     test and hint search, and for every range call "ldx #result; ja
//     overlap".
//  4. The i386 block: ld nr; the same search, whose bodies are mostly
//     constant TRACE returns, plus the ipc, clone and clone3 tests.
//  5. The overlap check, one block shared by every range call of every
//     class, so that the program grows with the number of ranges and not
//     with classes × ranges. It stores the result passed in X to M[0],
//     computes addr = args[0] and end = args[0]+args[1] into M[1]..M[4] as
//     32-bit halves (an end that overflows 64 bits returns the result
//     with reason Wrap), then runs a binary search over the merged guarded
//     ranges: O(log n) comparisons per call, about ten instructions per
//     range in the program. A hit returns "ld M[0]; ret a", a miss ALLOW.
//     An empty range, and get_mempolicy's address args[3] (a second
//     entry, before the search), are searched as [addr, addr|0xfff): the
//     guarded ranges are page-aligned, so that overlaps one exactly when
//     addr lies in it.
//
// The result travels in X rather than being stored by each caller because
// of the kernel's check that scratch memory is written before it is read
// (check_load_and_stores): it treats the instruction after a return as
// reachable from it, so the block, which follows a return, cannot rely on
// words stored before the jump into it.
//
// Scratch memory: M[0] the result to return on a hit, M[1]/M[2] the low
// and high words of the address, M[3]/M[4] those of the end.
//
// # Jumps
//
// The builder names jump targets with labels and a small assembler
// (asm.go) turns them into offsets. A conditional jump reaches at most 255
// instructions ahead; the assembler lays the program out from its end, so
// every distance is known when a jump is placed, and routes a jump that
// is too long through a trampoline, an unconditional ja placed right
// after it, sharing a trampoline between jumps to the same target where
// one is in reach. The assembled program is checked the way the kernel
// checks it (checkProgram) before Build returns it. A program may hold at
// most MaxInstructions (4096) instructions; the default policy needs
// about 350, and about 390 guarded ranges fit.
package seccomp
