package seccomp

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/mmapguard/mmapguard/region"
)

// TestSyscallNumbers pins the numbers to the kernel's tables
// (arch/x86/entry/syscalls/syscall_64.tbl and syscall_32.tbl), written
// out here a second time on purpose.
func TestSyscallNumbers(t *testing.T) {
	for _, tc := range []struct {
		abi   ABI
		class Class
		nr    int32
	}{
		{ABI64, Mmap, 9}, {ABI64, Mprotect, 10}, {ABI64, Munmap, 11}, {ABI64, Brk, 12},
		{ABI64, Mremap, 25}, {ABI64, Madvise, 28}, {ABI64, Shmat, 30}, {ABI64, Clone, 56},
		{ABI64, Mlock, 149}, {ABI64, Munlock, 150}, {ABI64, Mlock2, 325},
		{ABI64, PkeyMprotect, 329}, {ABI64, Clone3, 435}, {ABI64, Mseal, 462},
		{ABI64, Shmdt, 67}, {ABI64, Prctl, 157}, {ABI64, Seccomp, 317},
		{ABI64, IoUringSetup, 425}, {ABI64, IoUringEnter, 426}, {ABI64, IoUringRegister, 427},
		{ABI64, ProcessMadvise, 440}, {ABI64, Uselib, 134},
		{ABI64, Msync, 26}, {ABI64, Mincore, 27}, {ABI64, Mbind, 237}, {ABI64, GetMempolicy, 239},
		{ABI64, RemapFilePages, 216},
		{ABI64, IoDestroy, 207}, {ABI64, IoSetup, 206}, {ABI64, ArchPrctl, 158},

		{ABI32, Brk, 45}, {ABI32, OldMmap, 90}, {ABI32, Munmap, 91}, {ABI32, Ipc, 117},
		{ABI32, Clone, 120}, {ABI32, Mprotect, 125}, {ABI32, Mlock, 150}, {ABI32, Munlock, 151},
		{ABI32, Mremap, 163}, {ABI32, Mmap2, 192}, {ABI32, Madvise, 219}, {ABI32, Mlock2, 376},
		{ABI32, PkeyMprotect, 380}, {ABI32, Shmat, 397}, {ABI32, Clone3, 435}, {ABI32, Mseal, 462},
		{ABI32, Shmdt, 398}, {ABI32, Prctl, 172}, {ABI32, Seccomp, 354},
		{ABI32, IoUringSetup, 425}, {ABI32, IoUringEnter, 426}, {ABI32, IoUringRegister, 427},
		{ABI32, ProcessMadvise, 440}, {ABI32, Uselib, 86},
		{ABI32, Msync, 144}, {ABI32, Mincore, 218}, {ABI32, Mbind, 274}, {ABI32, GetMempolicy, 275},
		{ABI32, RemapFilePages, 257},
		{ABI32, IoDestroy, 246}, {ABI32, IoSetup, 245},
	} {
		if c, ok := ClassOf(tc.abi, tc.nr); !ok || c != tc.class {
			t.Errorf("ClassOf(%v, %d) = %v, %v; want %v", tc.abi, tc.nr, c, ok, tc.class)
		}
		if nr, ok := tc.class.Number(tc.abi); !ok || nr != tc.nr {
			t.Errorf("%v.Number(%v) = %d, %v; want %d", tc.class, tc.abi, nr, ok, tc.nr)
		}
	}
	if len(syscalls64) != 30 || len(syscalls32) != 31 {
		t.Errorf("tables have %d and %d entries; the test lists 30 and 31", len(syscalls64), len(syscalls32))
	}
	for _, c := range []Class{Mmap2, OldMmap, Ipc} {
		if _, ok := c.Number(ABI64); ok {
			t.Errorf("%v has an x86_64 number", c)
		}
	}
	if _, ok := Mmap.Number(ABI32); ok {
		t.Error("mmap (x86_64 only) has an i386 number")
	}
}

func TestCode(t *testing.T) {
	for c := Class(1); c < classEnd; c++ {
		for _, abi := range []ABI{ABI64, ABI32} {
			for r := Reason(1); r < reasonEnd; r++ {
				code := NewCode(c, abi, r)
				if code.Class() != c || code.ABI() != abi || code.Reason() != r || !code.Valid() {
					t.Fatalf("NewCode(%v, %v, %v) = %#x decodes as %v/%v/%v", c, abi, r, uint16(code), code.Class(), code.ABI(), code.Reason())
				}
				action, data := DecodeRet(code.Ret())
				if action != RetTrace || Code(data) != code {
					t.Fatalf("DecodeRet(%#x) = %#x, %#x", code.Ret(), action, data)
				}
			}
		}
	}
	if Code(0).Valid() {
		t.Error("code 0 is valid")
	}
	if Code(0xc000 | uint16(NewCode(Mmap, ABI64, Always))).Valid() {
		t.Error("a code with bits 14-15 set is valid")
	}
	for _, tc := range []struct {
		ret  uint32
		want string
	}{
		{NewCode(Mmap, ABI64, FixedOverlap).Ret(), "TRACE(mmap/x86_64/fixed-overlap)"},
		{NewCode(Ipc, ABI32, Always).Ret(), "TRACE(ipc/i386/always)"},
		{NewCode(Mremap, ABI64, FixedTarget).Ret(), "TRACE(mremap/x86_64/fixed-target)"},
		{NewCode(Munmap, ABI64, Wrap).Ret(), "TRACE(munmap/x86_64/wrap)"},
		{RetTrace | 0xffff, "TRACE(class(255)/abi(3)/reason(15))"},
		{RetAllow, "ALLOW"},
		{RetKillProcess, "KILL_PROCESS"},
		{ErrnoRet(ENOSYS), "ERRNO(ENOSYS)"},
		{ErrnoRet(EPERM), "ERRNO(EPERM)"},
		{ErrnoRet(12), "ERRNO(12)"},
	} {
		if got := RetString(tc.ret); got != tc.want {
			t.Errorf("RetString(%#x) = %q, want %q", tc.ret, got, tc.want)
		}
	}
}

func TestBuildRejectsInvalidRanges(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    Policy
		want error
	}{
		{"unaligned guarded start", Policy{Guarded: []region.Range{{Start: 0x10001, End: 0x20000}}}, region.ErrUnaligned},
		{"unaligned protected end", Policy{Protected: []region.Range{{Start: 0x10000, End: 0x20001}}}, region.ErrUnaligned},
		{"empty", Policy{Guarded: []region.Range{lowRange, {Start: 0x10000, End: 0x10000}}}, region.ErrEmpty},
		{"reversed", Policy{Guarded: []region.Range{{Start: 0x20000, End: 0x10000}}}, region.ErrReversed},
		{"beyond user space", Policy{Guarded: []region.Range{{Start: 0x10000, End: 1 << 63}}}, region.ErrBeyondUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(tc.p)
			if !errors.Is(err, tc.want) {
				t.Errorf("Build error %v, want one wrapping %v", err, tc.want)
			}
		})
	}
}

func TestBuildMergesRanges(t *testing.T) {
	merged := Policy{Guarded: []region.Range{{Start: 0x10000, End: 0x90000}, poolRange}, Protected: []region.Range{lowRange}}
	split := Policy{
		Guarded: []region.Range{
			poolRange,
			{Start: 0x40000, End: 0x90000}, // overlaps the next
			{Start: 0x10000, End: 0x50000},
			{Start: 0x20000, End: 0x30000}, // inside
			{Start: 0x50000, End: 0x60000}, // touches
		},
		Protected: []region.Range{{Start: 0x10000, End: 0x40000000}, {Start: 0x40000000, End: 0x80000000}},
	}
	a, err := Build(merged)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(split)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(a.Raw(), b.Raw()) {
		t.Errorf("overlapping and touching ranges were not merged:\n%s\nversus\n%s", a.Disassemble(), b.Disassemble())
	}
	if len(split.Guarded) != 5 || split.Guarded[0] != poolRange {
		t.Error("Build modified the policy's slice")
	}
}

var disasmLine = regexp.MustCompile(`^ *(\d+): (\S+)(.*)$`)

func TestDisassemble(t *testing.T) {
	for _, p := range []Policy{defaultPolicy, trapAllPolicy, {Guarded: spreadRanges(200)}} {
		prog, err := Build(p)
		if err != nil {
			t.Fatal(err)
		}
		text := prog.Disassemble()
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		if len(lines) != prog.Len() {
			t.Fatalf("%d lines for %d instructions", len(lines), prog.Len())
		}
		for i, line := range lines {
			m := disasmLine.FindStringSubmatch(line)
			if m == nil || m[1] != strconv.Itoa(i) {
				t.Fatalf("line %d is %q", i, line)
			}
			// Jump targets are absolute and must agree with the offsets.
			switch ins := prog.insns[i].(type) {
			case bpf.JumpIf:
				want := fmt.Sprintf("jt %d jf %d", i+1+int(ins.SkipTrue), i+1+int(ins.SkipFalse))
				if !strings.Contains(line, want) {
					t.Errorf("line %q lacks %q", line, want)
				}
			case bpf.Jump:
				if want := fmt.Sprintf("ja %d", i+1+int(ins.Skip)); !strings.Contains(line, want) {
					t.Errorf("line %q lacks %q", line, want)
				}
			}
		}
	}
	prog, _ := Build(trapAllPolicy)
	for _, want := range []string{
		"ld arch", "ld nr", "ret TRACE(mmap/x86_64/always)", "ret ERRNO(ENOSYS)",
		"ret KILL_PROCESS", "ret TRACE(ipc/i386/always)", "ld args[0].lo",
	} {
		if !strings.Contains(prog.Disassemble(), want) {
			t.Errorf("trap-all disassembly lacks %q", want)
		}
	}
	prog, _ = Build(defaultPolicy)
	for _, want := range []string{"ldx #0x7ff01201", "; TRACE(mmap/x86_64/fixed-overlap)", "ret a", "st M[0]", "jge x"} {
		if !strings.Contains(prog.Disassemble(), want) {
			t.Errorf("default disassembly lacks %q", want)
		}
	}
}

// TestKernelCacheSeesConstantAllow emulates the kernel's
// seccomp_is_const_allow (kernel/seccomp.c): when a filter is attached,
// the kernel runs it for every syscall number with only nr and arch
// known, and calls whose path touches neither the arguments nor memory
// and ends in ALLOW skip the filter from then on. Every call the filter
// does not single out must be such a call, or each of them pays for the
// filter.
func TestKernelCacheSeesConstantAllow(t *testing.T) {
	for name, p := range map[string]Policy{"default": defaultPolicy, "trap all": trapAllPolicy, "empty": {}} {
		prog, err := Build(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, arch := range []struct {
			audit uint32
			abi   ABI
		}{{AuditArchX86_64, ABI64}, {AuditArchI386, ABI32}} {
			for nr := int32(0); nr < 470; nr++ {
				class, listed := ClassOf(arch.abi, nr)
				constAllow, walked := constantAllow(prog.Raw(), arch.audit, nr)
				if walked > maxCacheWalk {
					t.Errorf("%s: %v call %d walks %d instructions when the kernel prepares its cache, want at most %d", name, arch.abi, nr, walked, maxCacheWalk)
				}
				if listed && class == Brk && arch.abi == ABI64 && !p.TrapAll {
					// brk is settled in the kernel unless everything is trapped.
					if !constAllow {
						t.Errorf("%s: brk is not seen as always allowed", name)
					}
					continue
				}
				if !listed && !constAllow {
					t.Errorf("%s: %v call %d is not seen as always allowed", name, arch.abi, nr)
				}
				// With no guarded range the range calls are allowed
				// outright, and left out of the program.
				if listed && constAllow && len(p.Guarded) > 0 {
					t.Errorf("%s: %v call %d (singled out) is seen as always allowed", name, arch.abi, nr)
				}
			}
		}
	}
}

// maxCacheWalk bounds the instructions the kernel's emulation walks for
// one number: it walks the filter for every number of both ABIs, with
// interrupts off, each time a filter is attached. Through a chain of
// jeq, a number not singled out walked 32 instructions for the default
// policy; through the binary search, at most 12 (the arch and x32
// tests, three splits, a leaf of four and the return).
const maxCacheWalk = 12

// constantAllow is the kernel's emulation, over the raw encoding. It
// also returns how many instructions it walked.
func constantAllow(prog []bpf.RawInstruction, arch uint32, nr int32) (allow bool, walked int) {
	const (
		ldAbsW = 0x20 // BPF_LD|BPF_W|BPF_ABS
		retK   = 0x06 // BPF_RET|BPF_K
		ja     = 0x05 // BPF_JMP|BPF_JA
		jeqK   = 0x15
		jgeK   = 0x35
		jgtK   = 0x25
		jsetK  = 0x45
		andK   = 0x54 // BPF_ALU|BPF_AND|BPF_K
	)
	var a uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		walked++
		switch ins.Op {
		case ldAbsW:
			switch ins.K {
			case offNr:
				a = uint32(nr)
			case offArch:
				a = arch
			default:
				return false, walked
			}
		case retK:
			return ins.K == RetAllow, walked
		case ja:
			pc += int(ins.K)
		case jeqK, jgeK, jgtK, jsetK:
			var res bool
			switch ins.Op {
			case jeqK:
				res = a == ins.K
			case jgeK:
				res = a >= ins.K
			case jgtK:
				res = a > ins.K
			case jsetK:
				res = a&ins.K != 0
			}
			if res {
				pc += int(ins.Jt)
			} else {
				pc += int(ins.Jf)
			}
		case andK:
			a &= ins.K
		default:
			return false, walked
		}
	}
	return false, walked
}

// TestSyscallTablesUnique: each number is singled out once per ABI. The
// program searches the numbers sorted (dispatch), where a number listed
// twice would go to either of its bodies, not the first as in the old
// chain of tests.
func TestSyscallTablesUnique(t *testing.T) {
	for _, abi := range []ABI{ABI64, ABI32} {
		seen := map[int32]Class{}
		for _, d := range syscallTable(abi) {
			if c, dup := seen[d.nr]; dup {
				t.Errorf("%v: number %d listed for %v and %v", abi, d.nr, c, d.class)
			}
			seen[d.nr] = d.class
		}
	}
}
