package main

import (
	"strings"
	"syscall"
	"testing"
)

// TestRunStrictRandomLoaderMessage: with --strict, a protected range in
// the TiB below the stack, where the kernel puts a 64-bit program's
// loader and vDSO at a random place at exec, kills the program in most
// runs (fail closed). The message names that cause: it said only
// "RLIMIT_STACK unlimited ... or personality ADDR_COMPAT_LAYOUT", with
// an 8 MiB stack limit and the default layout, pointing the user at the
// stack limit, which changes nothing. The range here catches them in
// about 94% of runs; a few runs are tried until one is killed.
func TestRunStrictRandomLoaderMessage(t *testing.T) {
	var r runResult
	for range 8 {
		r = mmapguard(t, nil, "run", "--strict", "-q", "--protect", "0x7e0000000000-0x7ff000000000", "--", "/bin/true")
		if r.sig != 0 {
			break
		}
	}
	if r.sig != syscall.SIGKILL {
		t.Fatalf("never killed in 8 runs (the kernel's choice fell outside the range each time?): %v", r)
	}
	for _, want := range []string{"fail closed", "at random", "address-space randomisation"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the message does not say %q: %v", want, r)
		}
	}
	if strings.Contains(r.stderr, "ADDR_COMPAT_LAYOUT") {
		t.Errorf("the message blames the i386 legacy layout for a 64-bit program's: %v", r)
	}
}
