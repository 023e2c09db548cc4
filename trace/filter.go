package trace

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/seccomp"
)

// System call numbers of the filter's installation, by ABI.
var (
	nrPrctl   = map[rewrite.ABI]uint64{rewrite.ABI64: unix.SYS_PRCTL, rewrite.ABI32: 172}
	nrSeccomp = map[rewrite.ABI]uint64{rewrite.ABI64: unix.SYS_SECCOMP, rewrite.ABI32: 354}
	nrBrk     = map[rewrite.ABI]uint64{rewrite.ABI64: unix.SYS_BRK, rewrite.ABI32: 45}
)

// filterGap is how far below the stack pointer the filter goes. At the
// entry point the kernel has put argv, envp and auxv above the stack
// pointer and extended the stack mapping 128 KiB below the arguments.
const filterGap = 4096

// filterBytes encodes a program as the kernel's struct sock_filter array.
func filterBytes(p *seccomp.Program) []byte {
	raw := p.Raw()
	b := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		b = binary.LittleEndian.AppendUint16(b, r.Op)
		b = append(b, r.Jt, r.Jf)
		b = binary.LittleEndian.AppendUint32(b, r.K)
	}
	return b
}

// filterCalls writes the seccomp filter into the task's memory below sp
// and returns the calls that install it: prctl(PR_SET_NO_NEW_PRIVS, 1),
// then seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog). Below the stack
// pointer nothing lives yet at a program's entry point; the bytes are
// zeroed again once the kernel has its copy. If the kernel refuses
// either call, the program is killed before it runs and Run returns the
// error.
func (t *tracer) filterCalls(tk *task, abi rewrite.ABI, sp uint64) ([]extraCall, error) {
	n := len(t.filter) / 8
	// struct sock_fprog: unsigned short len, then the pointer (8 bytes
	// in, aligned, for x86-64; 4 bytes at offset 4 for i386).
	var head []byte
	if abi == rewrite.ABI32 {
		head = make([]byte, 8)
	} else {
		head = make([]byte, 16)
	}
	size := len(head) + len(t.filter)
	addr := (sp - filterGap - uint64(size)) &^ 15
	if abi == rewrite.ABI32 && addr+uint64(size) > 1<<32 {
		return nil, fmt.Errorf("stack pointer %#x is not a 32-bit address", sp)
	}
	binary.LittleEndian.PutUint16(head, uint16(n))
	if abi == rewrite.ABI32 {
		binary.LittleEndian.PutUint32(head[4:], uint32(addr)+uint32(len(head)))
	} else {
		binary.LittleEndian.PutUint64(head[8:], addr+uint64(len(head)))
	}
	if err := writeMem(tk.tid, addr, append(head, t.filter...)); err != nil {
		return nil, fmt.Errorf("writing it below the stack pointer %#x: %w", sp, err)
	}
	failed := func(what string, ret uint64) bool {
		if _, bad := rewrite.Failed(abi, ret); !bad {
			return false
		}
		t.startErr = fmt.Errorf("installing the seccomp filter in the program: %s: %w", what, errnoOf(abi, ret))
		// The program must not run unguarded; killed while still
		// stopped, it never runs an instruction.
		t.kill(tk)
		return true
	}
	return []extraCall{
		{call: rewrite.Call{ABI: abi, Nr: nrPrctl[abi], Args: [6]uint64{unix.PR_SET_NO_NEW_PRIVS, 1}},
			done: func(ret uint64) bool { return !failed("prctl(PR_SET_NO_NEW_PRIVS)", ret) }},
		{call: rewrite.Call{ABI: abi, Nr: nrSeccomp[abi], Args: [6]uint64{unix.SECCOMP_SET_MODE_FILTER, 0, addr}},
			done: func(ret uint64) bool {
				if failed("seccomp(SECCOMP_SET_MODE_FILTER)", ret) {
					return false
				}
				// The kernel has its copy: give the stack back as it was.
				if err := writeMem(tk.tid, addr, make([]byte, size)); err != nil {
					t.lost(tk, err)
					return false
				}
				return true
			}},
	}, nil
}

// writeMem writes b into a stopped task's memory at addr, with one
// process_vm_writev (word by word with PTRACE_POKEDATA where that fails).
func writeMem(tid int, addr uint64, b []byte) error {
	if writeAsProgram(tid, addr, b) == nil {
		return nil
	}
	return poke(tid, addr, b)
}

// writeAsProgram writes b into a task's memory only where the program
// itself could write (process_vm_writev: no write to read-only or
// PROT_NONE pages, which PTRACE_POKEDATA forces).
func writeAsProgram(tid int, addr uint64, b []byte) error {
	local := []unix.Iovec{{Base: unsafe.SliceData(b), Len: uint64(len(b))}}
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(b)}}
	n, err := unix.ProcessVMWritev(tid, local, remote, 0)
	if err == nil && n != len(b) {
		err = fmt.Errorf("process_vm_writev wrote %d of %d bytes", n, len(b))
	}
	return err
}
