package trace

import (
	"encoding/binary"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// This file is the one home of the raw ptrace plumbing. Every function
// here must be called from the tracer's locked OS thread.

// Requests and constants x/sys/unix does not spell out (linux/ptrace.h).
const (
	ptraceGetSyscallInfo = 0x420e
	ptraceListen         = 0x4208

	syscallInfoNone    = 0
	syscallInfoEntry   = 1
	syscallInfoExit    = 2
	syscallInfoSeccomp = 3

	ptraceEventStop = 128
)

// ptrace makes one request. Requests never block (a tracee is only
// touched while stopped), so the raw form is used: it spares the Go
// scheduler's bookkeeping around a system call, on the path of every stop.
func ptrace(req int, pid int, addr, data uintptr) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), addr, data, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// ptracePtr makes one request whose data is the address of memory of
// mmapguard's (registers, siginfo, a word read). The address must reach
// the system call as a pointer, converted to uintptr only in the call
// expression of the (assembly) system call function: converted by the
// caller, as an argument of ptrace, it is a bare number to the compiler,
// and a goroutine stack that is copied meanwhile (it grows on entering
// ptrace, after a shrink by the garbage collector) leaves the kernel to
// read or write the old, freed copy: registers read as zeros (a
// PTRACE_SETREGS with a null cs refused with EIO), a result word read
// as 0 (taken for a forged one), a PTRACE_GET_SYSCALL_INFO of nothing.
func ptracePtr(req int, pid int, addr uintptr, data unsafe.Pointer) error {
	_, _, e := unix.RawSyscall6(unix.SYS_PTRACE, uintptr(req), uintptr(pid), addr, uintptr(data), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// seize attaches to pid with the given PTRACE_O_* options, without
// stopping it.
func seize(pid int, opts int) error {
	return os.NewSyscallError("ptrace(PTRACE_SEIZE)", ptrace(unix.PTRACE_SEIZE, pid, 0, uintptr(opts)))
}

func cont(tid, sig int) error    { return ptrace(unix.PTRACE_CONT, tid, 0, uintptr(sig)) }
func sysStep(tid, sig int) error { return ptrace(unix.PTRACE_SYSCALL, tid, 0, uintptr(sig)) }

// singleStep runs one instruction; a system call it makes stops at its
// exit, before the next instruction (see injection).
func singleStep(tid, sig int) error { return ptrace(unix.PTRACE_SINGLESTEP, tid, 0, uintptr(sig)) }
func listen(tid int) error          { return ptrace(ptraceListen, tid, 0, 0) }
func interrupt(tid int) error       { return ptrace(unix.PTRACE_INTERRUPT, tid, 0, 0) }

// getRegs and setRegs use PTRACE_GETREGS and PTRACE_SETREGS, which give
// every tracee's registers in the tracer's own (x86-64) layout. x/sys's
// PtraceGetRegs uses PTRACE_GETREGSET, which gives a 32-bit process's
// registers in the 32-bit layout instead.
func getRegs(tid int, r *unix.PtraceRegs) error {
	return ptracePtr(unix.PTRACE_GETREGS, tid, 0, unsafe.Pointer(r))
}

func setRegs(tid int, r *unix.PtraceRegs) error {
	return ptracePtr(unix.PTRACE_SETREGS, tid, 0, unsafe.Pointer(r))
}

func eventMsg(tid int) (uint64, error) {
	var m uint64
	err := ptracePtr(unix.PTRACE_GETEVENTMSG, tid, 0, unsafe.Pointer(&m))
	return m, err
}

// inStop reports whether a traced task still stands in the ptrace stop
// it was last reported in: a request on it (PTRACE_GETEVENTMSG, which
// reads nothing of the task's) succeeds. A SIGKILL ends the stop, and
// the request fails (ESRCH) from the moment it is sent, while the task
// may still have its memory: false then says only that what the task
// tells may come from after its stop.
func inStop(tid int) bool {
	_, err := eventMsg(tid)
	return err == nil
}

// syscallInfo is struct ptrace_syscall_info, decoded.
type syscallInfo struct {
	op      uint8
	arch    uint32
	ip, sp  uint64
	nr      uint64    // entry and seccomp
	args    [6]uint64 // entry and seccomp
	retData uint32    // seccomp
	rval    int64     // exit
	isError bool      // exit
}

func getSyscallInfo(tid int) (syscallInfo, error) {
	var buf [88]byte
	if err := ptracePtr(ptraceGetSyscallInfo, tid, uintptr(len(buf)), unsafe.Pointer(&buf[0])); err != nil {
		return syscallInfo{}, os.NewSyscallError("ptrace(PTRACE_GET_SYSCALL_INFO)", err)
	}
	le := binary.LittleEndian
	si := syscallInfo{
		op:   buf[0],
		arch: le.Uint32(buf[4:]),
		ip:   le.Uint64(buf[8:]),
		sp:   le.Uint64(buf[16:]),
	}
	switch si.op {
	case syscallInfoEntry, syscallInfoSeccomp:
		si.nr = le.Uint64(buf[24:])
		for i := range si.args {
			si.args[i] = le.Uint64(buf[32+8*i:])
		}
		si.retData = le.Uint32(buf[80:])
	case syscallInfoExit:
		si.rval = int64(le.Uint64(buf[24:]))
		si.isError = buf[32] != 0
	}
	return si, nil
}

// peek reads len(b) bytes of tracee memory at addr.
func peek(tid int, addr uint64, b []byte) error {
	if err := peekAsProgram(tid, addr, b); err != nil {
		// process_vm_readv refuses memory that is not readable; ptrace
		// can still read it.
		_, perr := unix.PtracePeekData(tid, uintptr(addr), b)
		return perr
	}
	return nil
}

// peekAsProgram reads tracee memory only where the tracee itself could:
// for arguments the kernel would read from user space, which must fail
// (EFAULT) where the program's own access would, PROT_NONE included.
func peekAsProgram(tid int, addr uint64, b []byte) error {
	n, err := unix.ProcessVMReadv(tid, []unix.Iovec{{Base: &b[0], Len: uint64(len(b))}},
		[]unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}, 0)
	if err == nil && n != len(b) {
		err = syscall.EFAULT
	}
	return err
}

// poke writes b into tracee memory at addr, even into read-only text.
func poke(tid int, addr uint64, b []byte) error {
	_, err := unix.PtracePokeData(tid, uintptr(addr), b)
	return err
}

// noKcmp makes sameMM fail, as kcmp does for an unprivileged tracer of
// a program that made itself not dumpable (tests run as root).
var noKcmp = false

// sameMM reports whether two tasks share one address space, with kcmp
// (KCMP_VM). ok is false where kcmp is not available.
func sameMM(a, b int) (same, ok bool) {
	const kcmpVM = 1
	if noKcmp {
		return false, false
	}
	r, _, e := unix.Syscall6(unix.SYS_KCMP, uintptr(a), uintptr(b), kcmpVM, 0, 0, 0)
	if e != 0 {
		return false, false
	}
	return r == 0, true
}

const ptraceSetSyscallInfo = 0x4212

// setSyscallInfo changes the number and arguments of the call a task is
// stopped in at a seccomp stop (PTRACE_SET_SYSCALL_INFO, Linux 6.16),
// one request instead of GETREGS and SETREGS. The struct must be whole
// (88 bytes), with zero flags and reserved fields and the current op.
func setSyscallInfo(tid int, si syscallInfo, nr uint64, args [6]uint64) error {
	var buf [88]byte
	le := binary.LittleEndian
	buf[0] = si.op
	le.PutUint32(buf[4:], si.arch)
	le.PutUint64(buf[8:], si.ip)
	le.PutUint64(buf[16:], si.sp)
	le.PutUint64(buf[24:], nr)
	for i, a := range args {
		le.PutUint64(buf[32+8*i:], a)
	}
	le.PutUint32(buf[80:], si.retData)
	return ptracePtr(ptraceSetSyscallInfo, tid, uintptr(len(buf)), unsafe.Pointer(&buf[0]))
}

// pokeUser writes one register of a stopped task (PTRACE_POKEUSER; off
// is the offset in struct user_regs_struct).
func pokeUser(tid int, off uintptr, v uint64) error {
	return ptrace(unix.PTRACE_POKEUSR, tid, off, uintptr(v))
}

// peekUser reads one register of a stopped task.
func peekUser(tid int, off uintptr) (uint64, error) {
	var v uint64
	err := ptracePtr(unix.PTRACE_PEEKUSR, tid, off, unsafe.Pointer(&v))
	return v, err
}

// cloneKind reads, from a task stopped at a clone, fork or vfork event,
// what it made: a thread of its own process, and whether the new task
// shares its memory. The call still stands in the registers: x86-64
// clone (56, flags in rdi), fork (57), vfork (58); i386 clone (120,
// flags in ebx), fork (2), vfork (190). Only these make such an event
// (clone3 is refused by the filter), and the two ABIs' numbers for them
// do not overlap. ok is false for anything else.
func cloneKind(tid int) (thread, sharesVM, ok bool) {
	var r unix.PtraceRegs
	if err := getRegs(tid, &r); err != nil {
		return false, false, false
	}
	var flags uint64
	// The kernel runs the call named by the low 32 bits of the number
	// (an int): rax 0x1_00000038 is clone. The full orig_rax would
	// match no case, and the kind would be guessed (see adopt).
	switch uint32(r.Orig_rax) {
	case unix.SYS_CLONE:
		flags = r.Rdi
	case 120:
		flags = uint64(uint32(r.Rbx))
	case unix.SYS_FORK, 2:
		return false, false, true
	case unix.SYS_VFORK, 190:
		return false, true, true
	default:
		return false, false, false
	}
	return flags&unix.CLONE_THREAD != 0, flags&unix.CLONE_VM != 0, true
}
