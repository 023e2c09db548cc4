package trace

import (
	"strconv"
	"strings"
	"testing"

	"golang.org/x/arch/x86/x86asm"

	"github.com/mmapguard/mmapguard/region"
	"github.com/mmapguard/mmapguard/rewrite"
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
	for _, off := range []int{trampKeep, trampFix, trampFail, trampFailEnd, carry64, carry32, carryFixed64, carryFixed32, carryFail, carryFailEnd} {
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
		carryFail:        "ADD AL, 0x7f",
		carryFail + 2:    "SAHF",
		carryFail + 3:    "MOV RDX, RDI",
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
	jumps := map[int]int{8: 55, 15: 28, 25: 55}
	for off, target := range jumps {
		i := at[off]
		rel, ok := i.Args[0].(x86asm.Rel)
		if !ok || off+i.Len+int(rel) != target {
			t.Errorf("offset %d: %v goes to %d, want %d", off, i, off+i.Len+int(rel), target)
		}
	}
	// lea rdi, [rip+disp]: the page's start.
	// The carry entries: a restart lands on a ud2 (a syscall would
	// overwrite r11 and rcx); the flags the test changes kept in ax and
	// put back; rdi from r8, r8 -1 in the width the entry is for.
	for _, e := range []struct {
		at          int
		fixed, wide bool
	}{{carry64, false, true}, {carry32, false, false}, {carryFixed64, true, true}, {carryFixed32, true, false}} {
		want := []string{"XCHG RDI, RAX", "SETO AL", "LAHF"}
		if e.fixed {
			want = append(want, "AND R10, -0x11")
		}
		want = append(want, "CMP RDI, -0xfff", "JAE", "ADD AL, 0x7f", "SAHF", "MOV RAX, RDI", "MOV RDI, R8")
		if e.wide {
			want = append(want, "MOV R8, -0x1")
		} else {
			want = append(want, "MOV R8L, -0x1") // x86asm's name for r8d
		}
		want = append(want, "JMP RCX")
		if at[e.at-2].Op != x86asm.UD2 {
			t.Errorf("offset %d: %v, want ud2 before the entry", e.at-2, at[e.at-2])
		}
		off := e.at
		for _, w := range want {
			i, ok := at[off]
			if got := i.String(); !ok || !strings.HasPrefix(got, w) {
				t.Errorf("entry %d, offset %d: %q, want %q", e.at, off, got, w)
				break
			}
			if i.Op == x86asm.JAE {
				if rel, ok := i.Args[0].(x86asm.Rel); !ok || off+i.Len+int(rel) != carryFail {
					t.Errorf("entry %d, offset %d: %v does not go to the failure report", e.at, off, i)
				}
			}
			off += i.Len
		}
	}
	// The carry code touches no memory: it may run on any stack.
	for _, i := range all {
		if i.off < carry64-2 || i.off == carryFail+6 {
			continue // the frame code; the report's lea of the page
		}
		for _, a := range i.i.Args {
			if _, ok := a.(x86asm.Mem); ok {
				t.Errorf("offset %d: %v touches memory", i.off, i.i)
			}
		}
		switch i.i.Op {
		case x86asm.PUSH, x86asm.POP, x86asm.PUSHFQ, x86asm.POPFQ, x86asm.CALL:
			t.Errorf("offset %d: %v uses the stack", i.off, i.i)
		}
	}
	for _, off := range []int{58, carryFail + 6} {
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

// TestCodePageLazy: a new program's code page is one of its
// reservations until its first rewritten mmap that could take one stop;
// that rewrite takes two (and returns its own result, also when it is
// the kernel's choice, with no pool), and the code is mapped at its
// exit, once, even when four threads make their first rewrites together;
// the rewrites after it take one stop. A child forked before maps its
// own. The program's munmap across the code page leaves it.
func TestCodePageLazy(t *testing.T) {
	bin := buildC(t, "lazycode", "-pthread")
	noPool, err := rewrite.NewPolicy([]region.Range{lowRange}, region.Range{}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    *rewrite.Policy
	}{
		{"pool", testPolicy(t)},
		{"no pool", noPool},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := codeCallsRun.Load()
			out, res := guardedBy(t, tc.p, bin, "0x"+strconv.FormatUint(tc.p.Code.Start, 16))
			if n := codeCallsRun.Load() - before; n != 2 {
				t.Errorf("the code page was mapped %d times, want 2 (the child, then the parent once)", n)
			}
			want := "start ---p\nchild after a rewrite r-xp\nparent after the child ---p\nafter four threads r-xp\n" +
				"three more, 3 outside the range\ncode mappings 1\nown page mapped, munmap across the code page 0, then r-xp\n"
			if res.ExitCode() != 0 || out != want {
				t.Fatalf("exit %d, output:\n%s\nwant:\n%s", res.ExitCode(), out, want)
			}
			// Ten rewrites: the child's first and the first racing
			// thread's take two stops; the three after the threads, the
			// munmap across the code page (rewritten around it) and the
			// last take one, and so do the racers whose calls come once
			// the code is there (none to three). (The bound was 4 to 7
			// of 9 until the fifth session, which found the munmap
			// counted and 8 in about one run in ten.)
			if res.OneStop < 5 || res.OneStop > 8 {
				t.Errorf("%d one-stop rewrites, want 5 to 8 of the 10", res.OneStop)
			}
		})
	}
}

// TestCodePageForkRace: a process's first rewrite, after which the code
// page is mapped and written, races a fork in another thread; the
// child's copy of the model may say the code is there when its memory
// was copied before (the fork itself does not stop). Its first rewrite
// must not jump into a page without the code.
func TestCodePageForkRace(t *testing.T) {
	raceProbe(t, "lazyfork", "300", "0 of 300 children died\n")
}

// raceProbe runs testdata/NAME.c, a probe racing a process's first
// rewrite TRIES times, under the guard, and wants its exit 0 and output
// want.
func raceProbe(t *testing.T, name, tries, want string) {
	t.Helper()
	out, res := guarded(t, buildC(t, name, "-pthread"), tries)
	if res.ExitCode() != 0 || out != want {
		t.Fatalf("exit %d, output:\n%s", res.ExitCode(), out)
	}
}

// TestCodePageHeldCalls: a process's first rewrite, at whose exit the
// code is mapped over the guard's reservation with MAP_FIXED, races
// another thread's own MAP_FIXED at the code page; that thread's page
// must stay its own, whichever call comes first (the program's other
// calls wait while the code is mapped).
func TestCodePageHeldCalls(t *testing.T) {
	raceProbe(t, "lazyfixed", "300", "0 of 300 tries lost B's page\n")
}

// TestCodePageStop: a process is stopped (SIGSTOP, as by ^Z) while its
// first rewrite's exit maps the code page and other threads' trapped
// calls are held meanwhile: the stop must reach its parent (a code call
// caught by the stop before it ran is given up, and the held calls go
// on to take the stop). A SIGSTOP the mapping thread took during the
// code call is held back and sent to it again at the end: sent after
// the thread was let go, it went with the thread when that ended at
// once, and the process never stopped (one try in 2,000-4,000 lost its
// stop, in one run of this test in ten to twenty).
func TestCodePageStop(t *testing.T) {
	raceProbe(t, "lazystop", "400", "0 of 400 tries hung, 0 lost their stop\n")
}

// TestDeferredSignalThreadExit: a signal sent to the process while the
// guard runs calls of its own in a thread (its first rewrite's code
// call) is held back until they are done, then sent to that thread
// again; the thread leaves (SYS_exit) right after its call, and is the
// only one that does not block the signal. The signal must still be
// handled or pending, as natively: sent again before the thread runs,
// not after (a thread-directed signal dies with its thread). The
// TestCodePageStop flake was this, with a SIGSTOP: the process never
// stopped.
func TestDeferredSignalThreadExit(t *testing.T) {
	raceProbe(t, "deferexit", "400", "0 of 400 tries lost the signal\n")
}

// TestCodePageEagerPoolAll: with --pool-all, where ld.so's first mmap
// is already a rewrite, the code page is mapped at exec with the
// reservations, so that even that rewrite takes one stop.
func TestCodePageEagerPoolAll(t *testing.T) {
	p, err := rewrite.NewPolicy([]region.Range{lowRange}, rewrite.DefaultPool, true, false)
	if err != nil {
		t.Fatal(err)
	}
	before := codeCallsRun.Load()
	out, res := guardedBy(t, p, "cat", "/proc/self/maps")
	if res.ExitCode() != 0 || !strings.Contains(out, "200000000000-200000001000 r-xp ") {
		t.Fatalf("exit %d, no code page at the pool's start in cat's maps:\n%s", res.ExitCode(), out)
	}
	if n := codeCallsRun.Load() - before; n != 1 {
		t.Errorf("the code page was mapped %d times, want once, at the exec", n)
	}
	// Every rewrite (cat's munmaps) and reroute (its mmaps) on the
	// one-stop path, the first included.
	if want := res.Stats.Outcomes[rewrite.Rewritten] + res.Stats.Outcomes[rewrite.Rerouted]; want == 0 || res.OneStop != want {
		t.Errorf("%d one-stop rewrites of %d rewrites and reroutes (stats %+v)", res.OneStop, want, res.Stats)
	}
}
