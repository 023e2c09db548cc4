package seccomp

import (
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// farProgram builds: if nr == 1 goto far else goto next; nops; far: ret 2;
// next (placed after the padding): ret 3. With pad nops between the
// jump and its target, the conditional jump cannot reach when pad > 255.
func farProgram(pad int) *assembler {
	var a assembler
	far, near := a.newLabel(), a.newLabel()
	a.ldAbs(offNr, "")
	a.jumpIf(bpf.JumpEqual, 1, far, near, "")
	a.bind(near)
	for range pad {
		a.emit(bpf.TXA{}, "") // a filler that does not disturb A for the test
	}
	a.ret(3)
	a.bind(far)
	a.ret(2)
	return &a
}

func TestAssemblerTrampolines(t *testing.T) {
	for _, tc := range []struct {
		name        string
		pad         int
		trampolines int
	}{
		{"short jump needs none", 10, 0},
		{"jump of exactly 255 needs none", 254, 0},
		{"jump of 256 needs one", 255, 1},
		{"very long jump needs one", 3000, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := farProgram(tc.pad).assemble()
			if err != nil {
				t.Fatal(err)
			}
			if err := checkProgram(out.insns); err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, c := range out.comments {
				if c == "trampoline" {
					n++
				}
			}
			if n != tc.trampolines {
				t.Errorf("%d trampolines, want %d", n, tc.trampolines)
			}
			prog := &Program{insns: out.insns, comments: out.comments}
			v := newVM(t, prog)
			// The filler (txa) sets A from X (0), which does not matter:
			// the return values are constants.
			if got := v.run(Data{Nr: 1}); got != 2 {
				t.Errorf("nr 1: got %d, want 2", got)
			}
			if got := v.run(Data{Nr: 5}); got != 3 {
				t.Errorf("nr 5: got %d, want 3", got)
			}
		})
	}
}

// TestAssemblerReusesTrampolines: many far jumps to one target share
// trampolines instead of getting one each.
func TestAssemblerReusesTrampolines(t *testing.T) {
	var a assembler
	target := a.newLabel()
	a.ldAbs(offNr, "")
	const tests = 100
	for i := range tests {
		next := a.newLabel()
		a.jumpIf(bpf.JumpEqual, uint32(i), target, next, "")
		a.bind(next)
	}
	a.ret(0)
	for range 600 {
		a.emit(bpf.TXA{}, "")
	}
	a.ret(1)
	a.bind(target)
	a.ret(2)
	out, err := a.assemble()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range out.comments {
		if c == "trampoline" {
			n++
		}
	}
	if n == 0 || n > 2 {
		t.Errorf("%d trampolines for %d far jumps to one target, want 1 or 2", n, tests)
	}
	v := newVM(t, &Program{insns: out.insns, comments: out.comments})
	for i := range tests {
		if got := v.run(Data{Nr: int32(i)}); got != 2 {
			t.Fatalf("nr %d: got %d, want 2", i, got)
		}
	}
	if got := v.run(Data{Nr: tests}); got != 0 {
		t.Errorf("nr %d: got %d, want 0", tests, got)
	}
}

func TestAssemblerDropsJumpToNext(t *testing.T) {
	var a assembler
	next := a.newLabel()
	a.ldAbs(offNr, "")
	a.jump(next, "")
	a.bind(next)
	a.ret(1)
	out, err := a.assemble()
	if err != nil {
		t.Fatal(err)
	}
	if len(out.insns) != 2 {
		t.Errorf("got %d instructions, want 2: %v", len(out.insns), out.insns)
	}
}

func TestAssemblerErrors(t *testing.T) {
	t.Run("backward jump", func(t *testing.T) {
		var a assembler
		back := a.newLabel()
		a.bind(back)
		a.ldAbs(offNr, "")
		a.jump(back, "")
		a.ret(0)
		if _, err := a.assemble(); err == nil || !strings.Contains(err.Error(), "forward") {
			t.Errorf("got %v, want an error about forward jumps", err)
		}
	})
	t.Run("jump to the end", func(t *testing.T) {
		var a assembler
		end := a.newLabel()
		a.ldAbs(offNr, "")
		a.jumpIf(bpf.JumpEqual, 0, end, end, "")
		a.ret(0)
		a.bind(end)
		if _, err := a.assemble(); err == nil {
			t.Error("a jump past the last instruction was assembled")
		}
	})
}

// TestCheckProgram checks the mirror of the kernel's program checks,
// in particular the scratch-memory rule that shaped the overlap check.
func TestCheckProgram(t *testing.T) {
	ld := bpf.LoadAbsolute{Off: offNr, Size: 4}
	for _, tc := range []struct {
		name  string
		prog  []bpf.Instruction
		valid bool
	}{
		{"store then load", []bpf.Instruction{ld, bpf.StoreScratch{N: 3}, bpf.LoadScratch{N: 3}, bpf.RetA{}}, true},
		{"load before any store", []bpf.Instruction{ld, bpf.LoadScratch{N: 3}, bpf.RetA{}}, false},
		{"store on one branch only", []bpf.Instruction{
			ld,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 0, SkipFalse: 1},
			bpf.StoreScratch{N: 0},
			bpf.LoadScratch{N: 0},
			bpf.RetA{},
		}, false},
		{"store on both branches", []bpf.Instruction{
			ld,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 0, SkipFalse: 2},
			bpf.StoreScratch{N: 0},
			bpf.Jump{Skip: 1},
			bpf.StoreScratch{N: 0},
			bpf.LoadScratch{N: 0},
			bpf.RetA{},
		}, true},
		// The kernel treats the instruction after a return as reachable
		// with what was valid before the return: a block that follows a
		// return cannot rely on words its callers stored.
		{"store before jumping over a return", []bpf.Instruction{
			ld,
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 1, SkipTrue: 0, SkipFalse: 2},
			bpf.StoreScratch{N: 0},
			bpf.Jump{Skip: 1},
			bpf.RetConstant{Val: 0},
			bpf.LoadScratch{N: 0},
			bpf.RetA{},
		}, false},
		{"no return at the end", []bpf.Instruction{ld}, false},
		{"unaligned load", []bpf.Instruction{bpf.LoadAbsolute{Off: 2, Size: 4}, bpf.RetA{}}, false},
		{"load past seccomp_data", []bpf.Instruction{bpf.LoadAbsolute{Off: 64, Size: 4}, bpf.RetA{}}, false},
		{"byte load", []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 1}, bpf.RetA{}}, false},
		{"jump past the end", []bpf.Instruction{bpf.Jump{Skip: 1}, bpf.RetA{}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkProgram(tc.prog)
			if (err == nil) != tc.valid {
				t.Errorf("checkProgram = %v, want valid=%v", err, tc.valid)
			}
		})
	}
}

// TestAssemblerRandomPrograms assembles random programs of forward
// jumps over random distances, many of them beyond a conditional jump's
// reach, and checks in the VM that every path ends where the labels say.
func TestAssemblerRandomPrograms(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for prog := range 3000 {
		type node struct {
			ret    bool
			val    uint32 // compared with nr, or returned
			jt, jf int    // successor nodes
		}
		n := 2 + rng.IntN(12)
		nodes := make([]node, n)
		for i := range nodes {
			if i == n-1 || rng.IntN(4) == 0 {
				nodes[i] = node{ret: true, val: uint32(1000 + i)}
				continue
			}
			nodes[i] = node{val: uint32(rng.IntN(8)), jt: i + 1 + rng.IntN(n-1-i), jf: i + 1 + rng.IntN(n-1-i)}
		}
		var a assembler
		labels := make([]label, n)
		for i := range labels {
			labels[i] = a.newLabel()
		}
		a.ldAbs(offNr, "")
		for i, nd := range nodes {
			if i > 0 {
				for range rng.IntN([]int{3, 130, 300}[rng.IntN(3)]) {
					a.emit(bpf.TAX{}, "") // leaves A alone
				}
			}
			a.bind(labels[i])
			if nd.ret {
				a.ret(nd.val)
			} else {
				a.jumpIf(bpf.JumpEqual, nd.val, labels[nd.jt], labels[nd.jf], "")
			}
		}
		out, err := a.assemble()
		if err != nil {
			t.Fatal(err)
		}
		if err := checkProgram(out.insns); err != nil {
			t.Fatal(err)
		}
		v := newVM(t, &Program{insns: out.insns, comments: out.comments})
		for nr := range uint32(9) {
			i := 0
			for !nodes[i].ret {
				if nr == nodes[i].val {
					i = nodes[i].jt
				} else {
					i = nodes[i].jf
				}
			}
			if got := v.run(Data{Nr: int32(nr)}); got != nodes[i].val {
				t.Fatalf("program %d, nr %d: got %d, want %d\n%s", prog, nr, got, nodes[i].val,
					(&Program{insns: out.insns, comments: out.comments}).Disassemble())
			}
		}
	}
}

// TestAssemblerSlackForSecondTrampoline: the true target sits exactly at
// the limit and the false target needs a trampoline, which goes between
// the jump and the true target and pushes it out of reach.
func TestAssemblerSlackForSecondTrampoline(t *testing.T) {
	var a assembler
	near, far := a.newLabel(), a.newLabel()
	a.ldAbs(offNr, "")
	a.jumpIf(bpf.JumpEqual, 1, near, far, "")
	for range maxCondSkip {
		a.emit(bpf.TAX{}, "")
	}
	a.bind(near)
	a.ret(1)
	for range 300 {
		a.emit(bpf.TAX{}, "")
	}
	a.bind(far)
	a.ret(2)
	out, err := a.assemble()
	if err != nil {
		t.Fatal(err)
	}
	v := newVM(t, &Program{insns: out.insns, comments: out.comments})
	if got := v.run(Data{Nr: 1}); got != 1 {
		t.Errorf("nr 1: got %d, want 1", got)
	}
	if got := v.run(Data{Nr: 2}); got != 2 {
		t.Errorf("nr 2: got %d, want 2", got)
	}
}
