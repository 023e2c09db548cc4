package seccomp

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestEval: Eval gives the kernel's result for the calls the tracer asks
// about (its own reservations, which must stop) and for calls that must
// not stop, the same as the test interpreter for every policy.
func TestEval(t *testing.T) {
	const fixedNoReplace = unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_NORESERVE | unix.MAP_FIXED_NOREPLACE
	mmap := func(addr, size, flags uint64) Data {
		return Data{Nr: unix.SYS_MMAP, Arch: AuditArchX86_64, IP: 0x401002,
			Args: [6]uint64{addr, size, unix.PROT_READ, flags, ^uint64(0), 0}}
	}
	for _, c := range []struct {
		name  string
		d     Data
		trace bool
	}{
		{"reservation in the range", mmap(0x10000, 0x7fff0000, fixedNoReplace), true},
		{"reservation in the pool", mmap(poolRange.Start, 1<<30, fixedNoReplace), true},
		{"MAP_FIXED far away", mmap(0x7f0000000000, 0x1000, fixedNoReplace), false},
		{"NULL hint", mmap(0, 0x1000, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS), false},
		{"getpid", Data{Nr: unix.SYS_GETPID, Arch: AuditArchX86_64}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, pol := range []Policy{defaultPolicy, nullHintPolicy, fileMapPolicy} {
				p, err := Build(pol)
				if err != nil {
					t.Fatal(err)
				}
				got, err := p.Eval(c.d)
				if err != nil {
					t.Fatal(err)
				}
				if want := newVM(t, p).run(c.d); got != want {
					t.Errorf("Eval = %#x, the test interpreter %#x", got, want)
				}
				if pol.TrapNullHint && c.name == "NULL hint" {
					continue // trapped in the pool-all mode
				}
				if trace := got&0xffff0000 == RetTrace; trace != c.trace {
					t.Errorf("Eval = %#x: RetTrace %v, want %v", got, trace, c.trace)
				}
			}
		})
	}
}
