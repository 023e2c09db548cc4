package trace

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestHasLAHF checks the guard's own CPUID against the kernel's account
// of the CPU: /proc/cpuinfo's lahf_lm flag is the same bit.
func TestHasLAHF(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	var flags []string
	for line := range strings.Lines(string(info)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			flags = strings.Fields(value)
			break
		}
	}
	if flags == nil {
		t.Fatalf("no flags line in /proc/cpuinfo:\n%s", info)
	}
	if want := slices.Contains(flags, "lahf_lm"); hasLAHF() != want {
		t.Errorf("hasLAHF() = %v, /proc/cpuinfo's lahf_lm says %v", hasLAHF(), want)
	}
	if top, _, _, _ := cpuid(0); top == 0 {
		t.Errorf("CPUID leaf 0 says the highest leaf is 0")
	}
}
