package trace

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
)

// tailJmp is a static program whose first instruction is a jmp in the
// last two bytes of its code, which ends at a page's end with nothing
// mapped after it: natively it exits with status 7.
const tailJmp = `	.section .text
	.globl _start
	.p2align 12
pad:	.fill 4080, 1, 0x90
body:	mov $60, %eax
	mov $7, %edi
	syscall
	.fill 2, 1, 0xcc
_start:	jmp body
`

// TestHandoverEntryAtPageEnd: the hand-over's stub (see handoffAt) fits
// where the program's first instruction lies in the last bytes of its
// code: until the eighteenth session's review such a program was killed
// at its start, the stub written over its first instruction running
// past the end of its mapping (an EIO of PTRACE_POKEDATA).
func TestHandoverEntryAtPageEnd(t *testing.T) {
	dir := t.TempDir()
	src, bin := filepath.Join(dir, "tailjmp.S"), filepath.Join(dir, "tailjmp")
	if err := os.WriteFile(src, []byte(tailJmp), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cc", "-nostdlib", "-static", "-no-pie", "-o", bin, src).CombinedOutput(); err != nil {
		t.Skipf("cc: %v\n%s", err, out)
	}
	if err := exec.Command(bin).Run(); err == nil || err.(*exec.ExitError).ExitCode() != 7 {
		t.Skipf("natively: %v, want exit status 7", err)
	}
	// A protected range away from the program: one around it would have
	// its free pages reserved, the page after its code too.
	p, err := rewrite.NewPolicy([]region.Range{region.Must(0x10000, 0x20000)}, rewrite.DefaultPool, false, false)
	if err != nil {
		t.Fatal(err)
	}
	out, res, err := escapeWatched(t, p, 30*time.Second, bin)
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, out)
	}
	if res.ExitCode() != 7 {
		t.Errorf("status %v, want exit status 7 as natively; output:\n%s", res.Status, out)
	}
}

func TestHandoffAt(t *testing.T) {
	for _, c := range []struct{ ip, want uint64 }{
		{0x401000, 0x401000},
		{0x401ff7, 0x401ff7}, // the stub's 9 bytes end at the page's end
		{0x401ff8, 0x401ff7},
		{0x401ffe, 0x401ff7},
		{0x401fff, 0x401ff7},
	} {
		if got := handoffAt(c.ip, 9); got != c.want {
			t.Errorf("handoffAt(%#x, 9) = %#x, want %#x", c.ip, got, c.want)
		}
	}
}
