package seccomp

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// FuzzFilter checks the generated program against Evaluate for random
// policies and inputs. The seed corpus in testdata/fuzz/FuzzFilter and
// the f.Add calls run with every plain `go test`.
//
// Arguments:
//   - ranges: six bytes per range (see fuzzPolicy);
//   - mode: bit 0 TrapNullHint, bit 1 TrapAll, bit 2 sets the x32 bit,
//     bit 3 TrapFileMaps, bit 6 TrapMap32,
//     bits 4-5 pick the arch (x86_64, x86_64, i386, a foreign one);
//   - nr: below 0x8000 an index into the calls that matter for the arch,
//     otherwise a raw number;
//   - edge: bit 0 moves args[0] next to a range boundary (and for an
//     x86-64 get_mempolicy, whose address is args[3], args[3] with it),
//     bit 15 moves the end args[0]+args[1] next to one (the deltas come
//     from the low bits of args[0] and args[1]);
//   - a0..a5: the arguments.
func FuzzFilter(f *testing.F) {
	one := []byte{0x10, 0, 0, 0, 0, 0x7f} // 0x10000, 128 pages
	two := append([]byte{0, 0, 0, 0x10, 2, 0xff}, one...)
	f.Add(one, uint8(0), uint16(0), uint16(1), uint64(0), uint64(0x1000), uint64(3), uint64(fixed), uint64(0), uint64(0))
	f.Add(two, uint8(0), uint16(1), uint16(0x8003), uint64(0xfff0), uint64(2), uint64(0), uint64(0), uint64(0), uint64(0))
	f.Add(two, uint8(1), uint16(0), uint16(0), uint64(0x20000), uint64(0x1000), uint64(3), uint64(anon), uint64(0), uint64(0))
	f.Add(two, uint8(8), uint16(0), uint16(0), uint64(0), uint64(0x5000), uint64(1), uint64(mapPrivate), uint64(3), uint64(0))
	f.Add(two, uint8(8), uint16(0), uint16(0), uint64(0), uint64(0x5000), uint64(1), uint64(mapPrivate), uint64(3), uint64(1<<32))
	f.Add(two, uint8(2), uint16(5), uint16(0), uint64(0x7f0000000000), uint64(0x1000), uint64(0), uint64(0), uint64(0), uint64(0))
	f.Add(two, uint8(0x20), uint16(0), uint16(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0))
	f.Add(two, uint8(0x30), uint16(3), uint16(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0))
	f.Add(two, uint8(0x40), uint16(0), uint16(0), uint64(0), uint64(0x1000), uint64(3), uint64(anon|map32Bit), uint64(0), uint64(0))
	f.Add(two, uint8(0x49), uint16(0), uint16(0), uint64(0), uint64(0x1000), uint64(3), uint64(mapPrivate|map32Bit), uint64(3), uint64(0))
	f.Add(two, uint8(4), uint16(0), uint16(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0), uint64(0))
	f.Add([]byte{}, uint8(0), uint16(0), uint16(0), uint64(max64), uint64(2), uint64(0), uint64(fixed), uint64(0), uint64(0))
	f.Add(one, uint8(0), uint16(0x8000|nr64Munmap), uint16(1), uint64(0xffffffffffffffff), uint64(1), uint64(0), uint64(0), uint64(0), uint64(0))
	f.Add(one, uint8(0), uint16(0x8000|nr64Mremap), uint16(1), uint64(0), uint64(0), uint64(0x1000), uint64(maymove), uint64(0), uint64(0))
	f.Add(two, uint8(0), uint16(0x8000|nr64GetMempolicy), uint16(3), uint64(0xffff), uint64(0), uint64(0), uint64(0), uint64(mpolFAddr), uint64(0))
	f.Add(two, uint8(0), uint16(0x8000|nr64Msync), uint16(0x8001), uint64(0), uint64(0x1000), uint64(msAsync), uint64(0), uint64(0), uint64(0))
	f.Fuzz(func(t *testing.T, ranges []byte, mode uint8, nr, edge uint16, a0, a1, a2, a3, a4, a5 uint64) {
		p := fuzzPolicy(ranges, mode)
		prog, err := Build(p)
		if errors.Is(err, ErrTooLarge) {
			t.Skip("policy too large")
		}
		if err != nil {
			t.Fatalf("Build(%+v): %v", p, err)
		}
		d := fuzzData(p, mode, nr, edge, [6]uint64{a0, a1, a2, a3, a4, a5})
		if got, want := newVM(t, prog).run(d), Evaluate(p, d); got != want {
			t.Fatalf("policy %+v\ndata %+v\nprogram returned %s, Evaluate %s\n%s",
				p, d, RetString(got), RetString(want), prog.Disassemble())
		}
	})
}

// fuzzPolicy makes a valid policy from six bytes per range: a 32-bit
// page number, a byte whose bits 0-1 shift the start further up (to
// reach all of user space), bits 2-3 scale the length by 256^n pages, bit
// 7 makes the range protected too; and a length of 1 to 256 pages.
func fuzzPolicy(b []byte, mode uint8) Policy {
	p := Policy{TrapNullHint: mode&1 != 0, TrapAll: mode&2 != 0, TrapFileMaps: mode&8 != 0, TrapMap32: mode&0x40 != 0}
	const maxRanges = 64
	for i := 0; i+6 <= len(b) && i < 6*maxRanges; i += 6 {
		page := uint64(binary.LittleEndian.Uint32(b[i:]))
		ctl := b[i+4]
		start := (page << (ctl & 3)) * region.PageSize
		pages := uint64(b[i+5]) + 1
		pages <<= 8 * ((ctl >> 2) & 3)
		if start >= region.UserEnd-region.PageSize {
			start %= region.UserEnd - region.PageSize
			start &^= region.PageSize - 1
		}
		end := min(start+pages*region.PageSize, region.UserEnd)
		r := region.Range{Start: start, End: end}
		p.Guarded = append(p.Guarded, r)
		if ctl&0x80 != 0 {
			p.Protected = append(p.Protected, r)
		}
	}
	return p
}

func fuzzData(p Policy, mode uint8, nr, edge uint16, args [6]uint64) Data {
	d := Data{Args: args, IP: 0x401000}
	var table []syscallDef
	switch (mode >> 4) & 3 {
	case 0, 1:
		d.Arch, table = AuditArchX86_64, syscalls64
	case 2:
		d.Arch, table = AuditArchI386, syscalls32
	case 3:
		// Any arch but the two the filter knows. Odd, so never x86_64;
		// i386 is odd and replaced.
		d.Arch = uint32(args[5]) | 1
		if d.Arch == AuditArchI386 {
			d.Arch = 0xc00000b7
		}
	}
	if nr < 0x8000 && len(table) > 0 {
		d.Nr = table[int(nr)%len(table)].nr
	} else {
		d.Nr = int32(nr & 0x7fff)
	}
	if mode&4 != 0 {
		d.Nr = int32(uint32(d.Nr) | X32SyscallBit)
	}
	var bounds []uint64
	for _, r := range append(append([]region.Range{}, p.Guarded...), p.Protected...) {
		bounds = append(bounds, r.Start, r.End)
	}
	if len(bounds) > 0 {
		if edge&1 != 0 {
			d.Args[0] = bounds[int(edge>>1)%len(bounds)] + uint64(int64(int16(args[0])))
		}
		if edge&0x8000 != 0 {
			end := bounds[int(edge>>8)%len(bounds)] + uint64(int64(int16(args[1])))
			d.Args[1] = end - d.Args[0]
		}
		if edge&1 != 0 && d.Arch == AuditArchX86_64 && d.Nr == nr64GetMempolicy {
			d.Args[3] = d.Args[0]
		}
	}
	return d
}
