package trace

import "sync"

// cpuid runs the CPUID instruction for leaf, subleaf 0.
//
//go:noescape
func cpuid(leaf uint32) (eax, ebx, ecx, edx uint32)

// hasLAHF says whether LAHF and SAHF run in 64-bit mode (CPUID leaf
// 0x80000001, ECX bit 0), which the carry path's code needs (see
// carryEntry). Asked the first time a rewrite could take that path, not
// at every start: under a hypervisor each CPUID is an exit to it, and
// golang.org/x/sys/cpu, which told this before, asks some twenty of
// them in its init (0.06-0.3 ms of each start on the development VM).
var hasLAHF = sync.OnceValue(func() bool {
	if top, _, _, _ := cpuid(0x80000000); top < 0x80000001 {
		return false
	}
	_, _, ecx, _ := cpuid(0x80000001)
	return ecx&1 != 0
})
