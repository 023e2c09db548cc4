package trace

import (
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// TestTrampCode decodes the code page's code and checks what the tracer
// relies on: the entry points and the failure report's address are
// instruction boundaries, the jumps land where the comments say, the
// report names the page's own start, and the code fits in the page.
func TestTrampCode(t *testing.T) {
	type insn struct {
		off int
		i   x86asm.Inst
	}
	var all []insn
	at := map[int]x86asm.Inst{}
	for off := 0; off < len(trampCode); {
		i, err := x86asm.Decode(trampCode[off:], 64)
		if err != nil {
			t.Fatalf("offset %d: %v", off, err)
		}
		all = append(all, insn{off, i})
		at[off] = i
		off += i.Len
	}
	for _, off := range []int{trampKeep, trampFix, trampFail, trampFailEnd, carry, carryFixed, carryPush, carryFixedPush, carryFailEnd} {
		if _, ok := at[off]; !ok {
			t.Errorf("offset %d is not an instruction boundary", off)
		}
	}
	want := map[int]string{
		trampKeep - 2:    "SYSCALL",
		trampKeep:        "CMP RAX, -0xfff",
		trampFix - 2:     "SYSCALL",
		trampFix:         "CMP RAX, -0xfff",
		trampFix + 8:     "POP RAX",
		53:               "JMP RCX",
		trampFailEnd - 2: "SYSCALL",
		trampFailEnd:     "UD2",
		// The carry path: a restart lands on a ud2 (a syscall would
		// overwrite r11, the carried rdi); the push the tracer knows
		// by its address; rdi from r11, then r11 the flags.
		carry - 2:        "UD2",
		carry:            "LEA RSP, [RSP-0x80]",
		carryPush:        "PUSHFQ",
		95:               "MOV RDI, R11",
		102:              "POPFQ",
		103:              "LEA RSP, [RSP+0x80]",
		111:              "JMP RCX",
		carryFixed - 2:   "UD2",
		carryFixed:       "LEA RSP, [RSP-0x80]",
		carryFixedPush:   "PUSHFQ",
		121:              "AND R10, -0x11",
		133:              "POPFQ",
		carryFailEnd - 2: "SYSCALL",
		carryFailEnd:     "UD2",
	}
	for off, w := range want {
		// x86asm shows a SIB byte without an index as "+Reg(0)".
		if got := strings.ReplaceAll(at[off].String(), "+Reg(0)", ""); got != w {
			t.Errorf("offset %d: %q, want %q", off, got, w)
		}
	}
	// rcx from the frame's return address (its seventh word after the
	// first is gone), and the stack pointer back where the program had
	// it: 6 words popped + the return address + the red zone.
	mov := at[28]
	if m, ok := mov.Args[1].(x86asm.Mem); mov.Op != x86asm.MOV || mov.Args[0] != x86asm.RCX || !ok || m.Base != x86asm.RSP ||
		m.Disp != 48 {
		t.Errorf("offset 28: %v, want mov rcx, [rsp+48]", mov)
	}
	lea := at[45]
	if m, ok := lea.Args[1].(x86asm.Mem); lea.Op != x86asm.LEA || lea.Args[0] != x86asm.RSP || !ok || m.Base != x86asm.RSP ||
		m.Disp != 8+redZone {
		t.Errorf("offset 45: %v, want lea rsp, [rsp+136]", lea)
	}
	// Jumps: both failure checks go to the report, the keep entry to
	// the common part.
	jumps := map[int]int{8: 55, 15: 28, 25: 55, 93: 133, 131: 95}
	for off, target := range jumps {
		i := at[off]
		rel, ok := i.Args[0].(x86asm.Rel)
		if !ok || off+i.Len+int(rel) != target {
			t.Errorf("offset %d: %v goes to %d, want %d", off, i, off+i.Len+int(rel), target)
		}
	}
	// lea rdi, [rip+disp]: the page's start.
	if m, ok := at[98].Args[1].(x86asm.Mem); at[98].Op != x86asm.MOV || at[98].Args[0] != x86asm.R11 || !ok || m.Base != x86asm.RSP || m.Disp != 0 {
		t.Errorf("offset 98: %v, want mov r11, [rsp]", at[98])
	}
	for _, off := range []int{58, 137} {
		ld := at[off]
		if m, ok := ld.Args[1].(x86asm.Mem); !ok || ld.Op != x86asm.LEA || m.Base != x86asm.RIP || off+ld.Len+int(m.Disp) != 0 {
			t.Errorf("offset %d: %v does not load the page's start", off, ld)
		}
	}
	// No RET anywhere: a shadow stack would refuse one without its CALL.
	for _, i := range all {
		if i.i.Op == x86asm.RET {
			t.Errorf("offset %d: %v", i.off, i.i)
		}
	}
	// Six argument registers popped, in the frame's order.
	var pops []string
	for _, i := range all {
		if i.off >= 36 && i.off < 45 {
			pops = append(pops, i.i.String())
		}
	}
	if got := len(pops); got != 6 || pops[0] != "POP RDI" || pops[1] != "POP RSI" || pops[2] != "POP RDX" ||
		pops[3] != "POP R10" || pops[4] != "POP R8" || pops[5] != "POP R9" {
		t.Errorf("pops %v", pops)
	}
	if len(trampCode) > 4096 {
		t.Errorf("%d bytes: more than a page", len(trampCode))
	}
}
