package seccomp

import (
	"testing"

	"golang.org/x/net/bpf"
)

func BenchmarkBuild(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    Policy
	}{
		{"default", defaultPolicy},
		{"200 ranges", Policy{Guarded: spreadRanges(200), Protected: spreadRanges(200)[:50]}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Build(bc.p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFilterVM runs the program in x/net/bpf's VM: a measure of the
// path lengths, not of the kernel's (JIT-compiled) speed.
func BenchmarkFilterVM(b *testing.B) {
	many := Policy{Guarded: spreadRanges(200)}
	for _, bc := range []struct {
		name string
		p    Policy
		d    Data
	}{
		{"default/getpid", defaultPolicy, x64(39)},
		{"default/mmap-null", defaultPolicy, x64(nr64Mmap, 0, 0x1000, protRW, anon)},
		{"default/munmap-far", defaultPolicy, x64(nr64Munmap, 0x7f0000000000, 0x1000)},
		{"default/mmap-fixed-inside", defaultPolicy, x64(nr64Mmap, 0x20000, 0x1000, protRW, fixed)},
		{"200 ranges/munmap-far", many, x64(nr64Munmap, 0x7ffff0000000, 0x1000)},
		{"200 ranges/munmap-in-last", many, x64(nr64Munmap, many.Guarded[199].Start, 0x1000)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			prog, err := Build(bc.p)
			if err != nil {
				b.Fatal(err)
			}
			v, err := bpf.NewVM(prog.Instructions())
			if err != nil {
				b.Fatal(err)
			}
			in := vmInput(bc.d)
			want := Evaluate(bc.p, bc.d)
			for b.Loop() {
				n, err := v.Run(in)
				if err != nil || uint32(n) != want {
					b.Fatalf("got %#x, %v; want %#x", n, err, want)
				}
			}
		})
	}
}
