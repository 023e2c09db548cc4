package seccomp_test

import (
	"fmt"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/seccomp"
)

func ExampleBuild() {
	low := region.Must(0x10000, 0x80000000)
	pool := region.Must(0x100000000000, 0x200000000000)
	prog, err := seccomp.Build(seccomp.Policy{
		Guarded:   []region.Range{low, pool},
		Protected: []region.Range{low},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(prog.Len() <= seccomp.MaxInstructions)
	// Output: true
}

func ExampleEvaluate() {
	p := seccomp.Policy{Guarded: []region.Range{region.Must(0x10000, 0x80000000)}}
	munmap := seccomp.Data{
		Nr:   11, // munmap
		Arch: seccomp.AuditArchX86_64,
		Args: [6]uint64{0x20000, 0x1000},
	}
	ret := seccomp.Evaluate(p, munmap)
	action, data := seccomp.DecodeRet(ret)
	code := seccomp.Code(data)
	fmt.Println(action == seccomp.RetTrace, code.Class(), code.ABI(), code.Reason())
	fmt.Println(seccomp.RetString(ret))

	munmap.Args[0] = 0x7f0000000000
	fmt.Println(seccomp.RetString(seccomp.Evaluate(p, munmap)))
	// Output:
	// true munmap x86_64 range-overlap
	// TRACE(munmap/x86_64/range-overlap)
	// ALLOW
}
