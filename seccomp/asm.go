package seccomp

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// A small assembler for classic BPF with symbolic jump targets.
//
// The builder emits instructions in program order and names jump targets
// with labels; assemble turns the labels into offsets. Classic BPF only
// jumps forward, and a conditional jump reaches at most 255 instructions
// ahead (its offsets are 8 bits), while an unconditional `ja` reaches
// anywhere (32 bits). assemble therefore lays the program out backwards,
// from its last instruction to its first: when a jump is placed, every
// instruction after it is already placed and the distance to each target
// is exact. A conditional jump whose target is too far is given a
// trampoline, a `ja` to the target placed right after the jump (which
// never falls through, so nothing else runs into it). A trampoline already
// placed within reach of a later jump to the same target is reused.

// label names a position in the program: the instruction emitted after
// bind(label).
type label int

// item is one entry of the program being built: an instruction, a jump to
// labels, or the position of a label.
type item struct {
	kind    itemKind
	ins     bpf.Instruction // itemInsn
	cond    bpf.JumpTest    // itemCond: JumpEqual, JumpGreaterThan, JumpGreaterOrEqual or JumpBitsSet
	val     uint32          // itemCond: the constant compared with A
	x       bool            // itemCond: compare A with X instead of val
	jt, jf  label           // itemCond: targets; itemJump: jt
	lbl     label           // itemLabel
	comment string
}

type itemKind uint8

const (
	itemInsn  itemKind = iota // ins
	itemCond                  // if A <cond> val goto jt else goto jf
	itemJump                  // goto jt
	itemLabel                 // lbl is bound here
)

// maxCondSkip is the furthest a conditional jump reaches.
const maxCondSkip = 255

// assembler collects the items of a program.
type assembler struct {
	items   []item
	nlabels int
}

func (a *assembler) newLabel() label {
	a.nlabels++
	return label(a.nlabels)
}

// bind places l at the next instruction.
func (a *assembler) bind(l label) { a.items = append(a.items, item{kind: itemLabel, lbl: l}) }

// emit appends an instruction; comment, if any, is shown by Disassemble.
func (a *assembler) emit(ins bpf.Instruction, comment string) {
	a.items = append(a.items, item{kind: itemInsn, ins: ins, comment: comment})
}

// jumpIf appends "if A <cond> val goto jt else goto jf". Only the four
// tests classic BPF has natively may be used, so that one item is one
// kernel instruction with the meaning it shows.
func (a *assembler) jumpIf(cond bpf.JumpTest, val uint32, jt, jf label, comment string) {
	switch cond {
	case bpf.JumpEqual, bpf.JumpGreaterThan, bpf.JumpGreaterOrEqual, bpf.JumpBitsSet:
	default:
		panic(fmt.Sprintf("seccomp: jump test %v has no classic BPF opcode", cond))
	}
	a.items = append(a.items, item{kind: itemCond, cond: cond, val: val, jt: jt, jf: jf, comment: comment})
}

// jumpIfX is jumpIf comparing A with X.
func (a *assembler) jumpIfX(cond bpf.JumpTest, jt, jf label, comment string) {
	a.jumpIf(cond, 0, jt, jf, comment)
	a.items[len(a.items)-1].x = true
}

// jump appends "goto l".
func (a *assembler) jump(l label, comment string) {
	a.items = append(a.items, item{kind: itemJump, jt: l, comment: comment})
}

// Convenience forms of emit.
func (a *assembler) ldAbs(off uint32, comment string) {
	a.emit(bpf.LoadAbsolute{Off: off, Size: 4}, comment)
}
func (a *assembler) ldMem(slot int, comment string) {
	a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: slot}, comment)
}
func (a *assembler) ldxMem(slot int, comment string) {
	a.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slot}, comment)
}
func (a *assembler) st(slot int, comment string) {
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: slot}, comment)
}
func (a *assembler) ret(v uint32) { a.emit(bpf.RetConstant{Val: v}, "") }

// assembled is a laid-out program with its comments.
type assembled struct {
	insns    []bpf.Instruction
	comments []string
}

// assemble resolves labels, inserting trampolines for conditional jumps
// that reach too far.
func (a *assembler) assemble() (assembled, error) {
	// Walk backwards. n counts the instructions placed so far, from the
	// end; an instruction placed when n instructions follow it jumps to a
	// label at distance n - pos[label], where pos[label] is the value n
	// had when the label's own instruction had just been placed.
	// pos and tramp (target -> pos of its nearest trampoline) are
	// indexed by label; -1 is unbound. Slices, not maps: the filter is
	// built while the program starts, and every microsecond shows.
	var (
		rev      = make([]bpf.Instruction, 0, len(a.items)+8)
		comments = make([]string, 0, len(a.items)+8)
		pos      = make([]int, a.nlabels+1)
		tramp    = make([]int, a.nlabels+1)
	)
	for i := range pos {
		pos[i], tramp[i] = -1, -1
	}
	place := func(ins bpf.Instruction, comment string) {
		rev = append(rev, ins)
		comments = append(comments, comment)
	}
	target := func(l label) (int, error) {
		p := pos[l]
		if p < 0 {
			return 0, fmt.Errorf("jump to label %d: not bound after the jump (classic BPF jumps forward only)", l)
		}
		if p == 0 {
			return 0, fmt.Errorf("jump to label %d: bound at the end of the program", l)
		}
		return p, nil
	}
	// inReach reports whether l, or a trampoline to it, is at most
	// limit instructions ahead of an instruction about to be placed.
	inReach := func(l label, limit int) bool {
		n := len(rev)
		if p := pos[l]; p >= 0 && n-p <= limit {
			return true
		}
		t := tramp[l]
		return t >= 0 && n-t <= limit
	}
	// reach returns the position to jump to for target l from an
	// instruction about to be placed, at most limit instructions ahead:
	// l itself, or a trampoline to it, placing one if needed.
	reach := func(l label, limit int) (int, error) {
		p, err := target(l)
		if err != nil {
			return 0, err
		}
		n := len(rev)
		if n-p <= limit {
			return p, nil
		}
		if t := tramp[l]; t >= 0 && n-t <= limit {
			return t, nil
		}
		place(bpf.Jump{Skip: uint32(len(rev) - p)}, "trampoline")
		tramp[l] = len(rev)
		return len(rev), nil
	}
	for i := len(a.items) - 1; i >= 0; i-- {
		it := a.items[i]
		switch it.kind {
		case itemLabel:
			pos[it.lbl] = len(rev)
		case itemInsn:
			place(it.ins, it.comment)
		case itemJump:
			p, err := target(it.jt)
			if err != nil {
				return assembled{}, err
			}
			if len(rev) == p {
				// The target is the next instruction: nothing to do.
				// Labels bound here now denote that instruction.
				continue
			}
			place(bpf.Jump{Skip: uint32(len(rev) - p)}, it.comment)
		case itemCond:
			// The true target is resolved first. If the false target
			// will need a trampoline, that trampoline goes between the
			// jump and the true target's: leave room for it.
			slack := 0
			if !inReach(it.jf, maxCondSkip) {
				slack = 1
			}
			pt, err := reach(it.jt, maxCondSkip-slack)
			if err != nil {
				return assembled{}, err
			}
			pf, err := reach(it.jf, maxCondSkip)
			if err != nil {
				return assembled{}, err
			}
			n := len(rev)
			if n-pt > maxCondSkip || n-pf > maxCondSkip {
				return assembled{}, fmt.Errorf("conditional jump to labels %d and %d out of reach (%d, %d)", it.jt, it.jf, n-pt, n-pf)
			}
			if it.x {
				place(bpf.JumpIfX{Cond: it.cond, SkipTrue: uint8(n - pt), SkipFalse: uint8(n - pf)}, it.comment)
			} else {
				place(bpf.JumpIf{Cond: it.cond, Val: it.val, SkipTrue: uint8(n - pt), SkipFalse: uint8(n - pf)}, it.comment)
			}
		}
	}
	out := assembled{
		insns:    make([]bpf.Instruction, len(rev)),
		comments: make([]string, len(rev)),
	}
	for i := range rev {
		out.insns[len(rev)-1-i] = rev[i]
		out.comments[len(rev)-1-i] = comments[i]
	}
	return out, nil
}

// checkProgram checks what the kernel's classic BPF checker checks for a
// seccomp filter (bpf_check_classic, check_load_and_stores and
// seccomp_check_filter), so that a builder bug shows up as a Build error
// and in the VM tests rather than as EINVAL at install time: jumps land
// inside the program, the program ends in a return, loads from
// seccomp_data are aligned words inside it, and a scratch word is never
// read on a path where it was not written first.
func checkProgram(insns []bpf.Instruction) error {
	n := len(insns)
	if n == 0 {
		return fmt.Errorf("empty program")
	}
	switch insns[n-1].(type) {
	case bpf.RetA, bpf.RetConstant:
	default:
		return fmt.Errorf("last instruction %d is not a return", n-1)
	}
	// masks[pc] is the set of scratch words written on every path seen so
	// far into pc; the walk mirrors the kernel's check_load_and_stores.
	masks := make([]uint16, n)
	for i := range masks {
		masks[i] = 0xffff
	}
	valid := uint16(0)
	for pc, ins := range insns {
		valid &= masks[pc]
		jumpTo := func(skip int) error {
			t := pc + 1 + skip
			if t >= n {
				return fmt.Errorf("instruction %d jumps to %d, past the end", pc, t)
			}
			masks[t] &= valid
			return nil
		}
		switch ins := ins.(type) {
		case bpf.StoreScratch:
			if ins.N < 0 || ins.N > 15 {
				return fmt.Errorf("instruction %d: scratch word %d", pc, ins.N)
			}
			valid |= 1 << ins.N
		case bpf.LoadScratch:
			if ins.N < 0 || ins.N > 15 || valid&(1<<ins.N) == 0 {
				return fmt.Errorf("instruction %d reads scratch word %d before every path into it writes it", pc, ins.N)
			}
		case bpf.LoadAbsolute:
			if ins.Size != 4 || ins.Off%4 != 0 || ins.Off >= dataSize {
				return fmt.Errorf("instruction %d: load of %d bytes at %d is not an aligned word of seccomp_data", pc, ins.Size, ins.Off)
			}
		case bpf.Jump:
			if err := jumpTo(int(ins.Skip)); err != nil {
				return err
			}
			valid = 0xffff
		case bpf.JumpIf, bpf.JumpIfX:
			jt, jf := jumpSkips(ins)
			if err := jumpTo(int(jt)); err != nil {
				return err
			}
			if err := jumpTo(int(jf)); err != nil {
				return err
			}
			valid = 0xffff
		case bpf.LoadConstant, bpf.ALUOpConstant, bpf.ALUOpX, bpf.TAX, bpf.TXA, bpf.RetA, bpf.RetConstant:
		default:
			return fmt.Errorf("instruction %d: %T is not used in seccomp filters here", pc, ins)
		}
	}
	return nil
}

// jumpSkips returns the offsets of a conditional jump.
func jumpSkips(ins bpf.Instruction) (jt, jf uint8) {
	switch ins := ins.(type) {
	case bpf.JumpIf:
		return ins.SkipTrue, ins.SkipFalse
	case bpf.JumpIfX:
		return ins.SkipTrue, ins.SkipFalse
	}
	return 0, 0
}

func hex(v uint64) string { return fmt.Sprintf("%#x", v) }
