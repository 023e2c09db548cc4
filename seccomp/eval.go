package seccomp

import (
	"encoding/binary"
	"sync"

	"golang.org/x/net/bpf"
)

// Eval runs the program over d as the kernel would, in
// golang.org/x/net/bpf's interpreter, and returns its result
// (SECCOMP_RET_* with its data). The tracer asks it whether a call of
// its own will stop at a seccomp stop (RetTrace) before it resumes the
// task without a syscall-entry stop. The interpreter is built at the
// first call; Eval is safe for concurrent use.
func (p *Program) Eval(d Data) (uint32, error) {
	p.vmOnce.Do(func() { p.vm, p.vmErr = bpf.NewVM(p.insns) })
	if p.vmErr != nil {
		return 0, p.vmErr
	}
	// The kernel loads each 32-bit word of struct seccomp_data in host
	// byte order (little-endian); the interpreter, written for packets,
	// loads them big-endian: each word is stored reversed. The filter
	// makes only aligned word loads, so none straddles two words.
	var in [dataSize]byte
	b := d.Marshal()
	for i := 0; i+4 <= len(b); i += 4 {
		binary.BigEndian.PutUint32(in[i:], binary.LittleEndian.Uint32(b[i:]))
	}
	n, err := p.vm.Run(in[:])
	return uint32(n), err
}

// vmState is the interpreter Eval builds once.
type vmState struct {
	vmOnce sync.Once
	vm     *bpf.VM
	vmErr  error
}
