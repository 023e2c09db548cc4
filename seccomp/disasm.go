package seccomp

import (
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// Disassemble renders the program one numbered line per instruction.
// Loads from seccomp_data name the field (nr, arch, args[3].lo), jumps
// give their targets as absolute instruction numbers, returns decode the
// result ("ret TRACE(mmap/x86_64/fixed-overlap)"), and a comment after
// ";" says what a step is for.
func (p *Program) Disassemble() string {
	var b strings.Builder
	for i, ins := range p.insns {
		text, auto := disasm(i, ins)
		comment := p.comments[i]
		if comment == "" {
			comment = auto
		}
		line := fmt.Sprintf("%4d: %s", i, text)
		if comment != "" {
			line = fmt.Sprintf("%-44s ; %s", line, comment)
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// disasm renders instruction i, and offers a comment for it.
func disasm(i int, ins bpf.Instruction) (text, comment string) {
	switch ins := ins.(type) {
	case bpf.LoadAbsolute:
		return "ld " + fieldName(ins.Off, ins.Size), ""
	case bpf.LoadScratch:
		return fmt.Sprintf("%s M[%d]", ldName(ins.Dst), ins.N), slotName(ins.N)
	case bpf.StoreScratch:
		op := "st"
		if ins.Src == bpf.RegX {
			op = "stx"
		}
		return fmt.Sprintf("%s M[%d]", op, ins.N), slotName(ins.N)
	case bpf.LoadConstant:
		text = fmt.Sprintf("%s #%s", ldName(ins.Dst), imm(ins.Val))
		if a, data := DecodeRet(ins.Val); a == RetTrace && Code(data).Valid() {
			comment = RetString(ins.Val)
		}
		return text, comment
	case bpf.TAX:
		return "tax", ""
	case bpf.TXA:
		return "txa", ""
	case bpf.ALUOpConstant:
		return fmt.Sprintf("%s #%s", aluName(ins.Op), imm(ins.Val)), ""
	case bpf.ALUOpX:
		return aluName(ins.Op) + " x", ""
	case bpf.Jump:
		return fmt.Sprintf("ja %d", i+1+int(ins.Skip)), ""
	case bpf.JumpIf:
		return fmt.Sprintf("%s #%s jt %d jf %d", jumpName(ins.Cond), imm(ins.Val),
			i+1+int(ins.SkipTrue), i+1+int(ins.SkipFalse)), ""
	case bpf.JumpIfX:
		return fmt.Sprintf("%s x jt %d jf %d", jumpName(ins.Cond),
			i+1+int(ins.SkipTrue), i+1+int(ins.SkipFalse)), ""
	case bpf.RetA:
		return "ret a", ""
	case bpf.RetConstant:
		return "ret " + RetString(ins.Val), ""
	}
	return fmt.Sprint(ins), ""
}

// fieldName names a word of seccomp_data.
func fieldName(off uint32, size int) string {
	if size != 4 || off%4 != 0 || off >= dataSize {
		return fmt.Sprintf("[%d:%d]", off, size)
	}
	half := ".lo"
	if off%8 == offHiWord {
		half = ".hi"
	}
	switch {
	case off == offNr:
		return "nr"
	case off == offArch:
		return "arch"
	case off < offArgs:
		return "ip" + half
	}
	return fmt.Sprintf("args[%d]%s", (off-offArgs)/8, half)
}

func slotName(n int) string {
	if n >= 0 && n < len(slotNames) {
		return slotNames[n]
	}
	return ""
}

func ldName(r bpf.Register) string {
	if r == bpf.RegX {
		return "ldx"
	}
	return "ld"
}

func imm(v uint32) string {
	if v < 1024 {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%#x", v)
}

func aluName(op bpf.ALUOp) string {
	switch op {
	case bpf.ALUOpAdd:
		return "add"
	case bpf.ALUOpSub:
		return "sub"
	case bpf.ALUOpMul:
		return "mul"
	case bpf.ALUOpDiv:
		return "div"
	case bpf.ALUOpOr:
		return "or"
	case bpf.ALUOpAnd:
		return "and"
	case bpf.ALUOpShiftLeft:
		return "lsh"
	case bpf.ALUOpShiftRight:
		return "rsh"
	case bpf.ALUOpMod:
		return "mod"
	case bpf.ALUOpXor:
		return "xor"
	}
	return fmt.Sprintf("alu(%d)", op)
}

func jumpName(c bpf.JumpTest) string {
	switch c {
	case bpf.JumpEqual:
		return "jeq"
	case bpf.JumpGreaterThan:
		return "jgt"
	case bpf.JumpGreaterOrEqual:
		return "jge"
	case bpf.JumpBitsSet:
		return "jset"
	}
	return fmt.Sprintf("j(%d)", c)
}
