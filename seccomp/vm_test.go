package seccomp

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
)

// vmInput lays out d for golang.org/x/net/bpf's VM.
//
// The kernel runs a seccomp filter over struct seccomp_data in memory and
// loads each 32-bit word in host byte order: little-endian on x86-64.
// x/net/bpf was written for packet filters and loads words big-endian
// (network order). Reversing the bytes of every 32-bit word of the
// kernel's layout makes each load in the VM produce the value the kernel
// would load. Only word loads are used by the filter, all aligned, so
// no load straddles two swapped words.
func vmInput(d Data) []byte {
	b := d.Marshal()
	for i := 0; i+4 <= len(b); i += 4 {
		binary.BigEndian.PutUint32(b[i:], binary.LittleEndian.Uint32(b[i:]))
	}
	return b
}

// vm runs one program over many inputs.
type vm struct {
	t    testing.TB
	prog *Program
	vm   *bpf.VM
}

func newVM(t testing.TB, p *Program) *vm {
	t.Helper()
	v, err := bpf.NewVM(p.Instructions())
	if err != nil {
		t.Fatalf("bpf.NewVM: %v\n%s", err, p.Disassemble())
	}
	return &vm{t: t, prog: p, vm: v}
}

// run returns the filter's result for d. x/net/bpf's VM.Run returns
// int(A) for "ret a" and int(k) for "ret #k" (vm.go), so on a 64-bit
// host the full 32-bit result comes back unchanged;
// TestVMReturnsFull32Bits checks that.
func (v *vm) run(d Data) uint32 {
	v.t.Helper()
	n, err := v.vm.Run(vmInput(d))
	if err != nil {
		v.t.Fatalf("VM run on %+v: %v\n%s", d, err, v.prog.Disassemble())
	}
	return uint32(n)
}

func TestVMReturnsFull32Bits(t *testing.T) {
	for _, want := range []uint32{RetKillProcess, RetAllow, 0xffffffff, NewCode(Mmap, ABI64, Wrap).Ret(), 1} {
		for name, prog := range map[string][]bpf.Instruction{
			"ret k": {bpf.RetConstant{Val: want}},
			"ret a": {bpf.LoadConstant{Dst: bpf.RegA, Val: want}, bpf.RetA{}},
		} {
			v, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatal(err)
			}
			n, err := v.Run(make([]byte, dataSize))
			if err != nil {
				t.Fatal(err)
			}
			if uint32(n) != want || n < 0 {
				t.Errorf("%s %#x: VM returned %#x", name, want, n)
			}
		}
	}
}

// TestVMInputByteOrder checks that every word of seccomp_data reaches the
// VM with the value the kernel's load would give.
func TestVMInputByteOrder(t *testing.T) {
	d := Data{
		Nr:   -2, // 0xfffffffe
		Arch: AuditArchX86_64,
		IP:   0x1122334455667788,
		Args: [6]uint64{0x0102030405060708, 0x1112131415161718, 0x2122232425262728, 0x3132333435363738, 0x4142434445464748, 0x5152535455565758},
	}
	want := map[uint32]uint32{
		offNr: 0xfffffffe, offArch: AuditArchX86_64,
		offIP: 0x55667788, offIP + 4: 0x11223344,
	}
	for i, a := range d.Args {
		want[offArgLo(i)] = uint32(a)
		want[offArgHi(i)] = uint32(a >> 32)
	}
	in := vmInput(d)
	for off, w := range want {
		v, err := bpf.NewVM([]bpf.Instruction{bpf.LoadAbsolute{Off: off, Size: 4}, bpf.RetA{}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Run(in)
		if err != nil {
			t.Fatal(err)
		}
		if uint32(got) != w {
			t.Errorf("load at %d (%s): got %#x, want %#x", off, fieldName(off, 4), got, w)
		}
	}
}
