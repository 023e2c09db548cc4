package trace

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mmapguard/mmapguard/loader"
	"github.com/mmapguard/mmapguard/region"
)

// The attribution tests run testdata/attrib/attrib_prog, which stops
// each of its mmap calls in a SIGSYS handler (a seccomp filter returns
// SECCOMP_RET_TRAP) with the registers a tracer would see at its
// seccomp stop. While the call is held, the test reads the process's
// layout from /proc/PID/maps and its memory from /proc/PID/mem, as the
// tracer would through ptrace, and attributes the call. No tracer is
// involved: the attribution engine is tested on its own.

const (
	libcFile = "libc.so.6"
	ldsoFile = "ld-linux-x86-64.so.2"
)

// attribFixtures are the built programs and libraries.
type attribFixtures struct {
	prog, lib, wrapCFI, wrapFP, fakeLibc string
}

func buildAttrib(t testing.TB) attribFixtures {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join("..", "testdata", "attrib")
	fx := attribFixtures{
		prog:    filepath.Join(dir, "attrib_prog"),
		lib:     filepath.Join(dir, "attrib_lib.so"),
		wrapCFI: filepath.Join(dir, "libattribwrap-cfi.so"),
		wrapFP:  filepath.Join(dir, "libattribwrap-fp.so"),
		// Named like libc, so it is taken for a wrapper library.
		fakeLibc: filepath.Join(dir, "fake", "libc.so.6"),
	}
	if err := os.Mkdir(filepath.Dir(fx.fakeLibc), 0o755); err != nil {
		t.Fatal(err)
	}
	builds := [][]string{
		{"-O2", "-Wall", "-o", fx.prog, filepath.Join(src, "attrib_prog.c"), "-pthread", "-ldl"},
		// Linked to run at 0x7d000000: its link-time addresses are not
		// its file offsets, so symbolizing it needs the load bias right.
		{"-O2", "-Wall", "-shared", "-fPIC", "-Wl,-Ttext-segment=0x7d000000", "-o", fx.lib, filepath.Join(src, "attrib_lib.c")},
		{"-O2", "-Wall", "-shared", "-fPIC", "-fomit-frame-pointer", "-o", fx.wrapCFI, filepath.Join(src, "attrib_wrap.c")},
		{"-O2", "-Wall", "-shared", "-fPIC", "-fno-omit-frame-pointer", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
			"-o", fx.wrapFP, filepath.Join(src, "attrib_wrap.c")},
		// No padding between functions: fake_fatal's return address is
		// fake_after's first byte.
		{"-O2", "-Wall", "-shared", "-fPIC", "-nostdlib", "-Wl,-Bsymbolic", "-fno-reorder-functions", "-falign-functions=1",
			"-o", fx.fakeLibc, filepath.Join(src, "attrib_fakelibc.c")},
	}
	for _, args := range builds {
		if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
			t.Fatalf("cc %v: %v\n%s", args, err, out)
		}
	}
	return fx
}

// procMem reads a live process's memory through /proc/PID/mem, as a
// tracer may.
type procMem struct{ f *os.File }

func (m procMem) ReadAt(p []byte, addr uint64) error {
	if addr > 1<<62 {
		return fmt.Errorf("address %#x out of range", addr)
	}
	n, err := m.f.ReadAt(p, int64(addr))
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// pageCache is a Memory that reads whole pages through src once and
// keeps them, so a held call can be attributed again after the
// process is gone.
type pageCache struct {
	src   Memory
	pages map[uint64][]byte
}

func (c *pageCache) ReadAt(p []byte, addr uint64) error {
	for len(p) > 0 {
		pg := addr &^ (region.PageSize - 1)
		b, ok := c.pages[pg]
		if !ok {
			b = make([]byte, region.PageSize)
			if err := c.src.ReadAt(b, pg); err != nil {
				return err
			}
			c.pages[pg] = b
		}
		n := copy(p, b[addr-pg:])
		p, addr = p[n:], addr+uint64(n)
	}
	return nil
}

// attribEvent is one trapped call of the fixture.
type attribEvent struct {
	step          string
	pid, tid      int
	rip, rsp, rbp uint64
	at            Attribution
}

// runAttrib runs the fixture's steps and calls held for every trapped
// call while it is held, after SetMaps; then the call goes on.
func runAttrib(t testing.TB, fx attribFixtures, steps string, a *Attributor, held func(ev *attribEvent, mem Memory)) []attribEvent {
	t.Helper()
	evR, evW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer evR.Close()
	defer ctlW.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(fx.prog, steps, fx.lib, fx.wrapCFI, fx.wrapFP, fx.fakeLibc)
	cmd.ExtraFiles = []*os.File{evW, ctlR} // fds 3 and 4
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	evW.Close()
	ctlR.Close()
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid
	memFile, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer memFile.Close()
	mem := procMem{memFile}

	var events []attribEvent
	step := ""
	rd := bufio.NewReader(evR)
	for {
		if err := evR.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
			t.Fatal(err)
		}
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("fixture: %v after %d events (step %q); stderr: %s", err, len(events), step, stderr.String())
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "done":
			if err := cmd.Wait(); err != nil {
				t.Fatalf("fixture: %v; stderr: %s", err, stderr.String())
			}
			return events
		case len(f) >= 2 && f[0] == "mark":
			if f[1] == "failed" {
				t.Fatalf("fixture: step %s failed", strings.Join(f[2:], " "))
			}
			step = f[1]
		case len(f) == 6 && f[0] == "trap":
			var v [5]uint64
			for i := range v {
				if v[i], err = strconv.ParseUint(f[i+1], 0, 64); err != nil {
					t.Fatalf("bad line %q", line)
				}
			}
			ev := attribEvent{step: step, pid: pid, tid: int(v[0]), rip: v[1], rsp: v[2], rbp: v[3]}
			maps, err := region.ReadMaps(pid)
			if err != nil {
				t.Fatal(err)
			}
			a.SetMaps(pid, maps)
			ev.at = a.Attribute(pid, mem, ev.rip, ev.rsp, ev.rbp)
			if held != nil {
				held(&ev, mem)
			}
			events = append(events, ev)
			if _, err := ctlW.Write([]byte{1}); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("fixture said %q", line)
		}
	}
}

// want is what one step's trapped calls must be attributed as. Empty
// fields are not checked.
type want struct {
	siteObject, siteSymbol     string
	callerObject, callerSymbol string
	class, how                 string
	onStack                    string // a symbol that must be among the walked frames
	callerIsSite               bool
	min, max                   int // number of calls
}

func TestAttributeFixture(t *testing.T) {
	fx := buildAttrib(t)
	a := NewAttributor()
	a.Wrappers = append(a.Wrappers, "libattribwrap-*.so")

	// Alongside each held call, check what a wrong memory does to it:
	// the walk must fail, never report something else.
	type probe struct {
		step             string
		unreadable, junk Attribution
	}
	var probes []probe
	jitOffsets := map[string]uint64{}
	// The same calls seen without separate debug files: libc's internal
	// functions have no names then, and nothing else may change.
	plain := NewAttributor()
	plain.Wrappers, plain.DebugDirs = a.Wrappers, nil
	plainStacks := map[string][][]Frame{}
	libDeleted, seenDeleted := false, false
	events := runAttrib(t, fx, "all", a, func(ev *attribEvent, mem Memory) {
		maps, err := region.ReadMaps(ev.pid)
		if err != nil {
			t.Fatal(err)
		}
		plain.SetMaps(ev.pid, maps)
		pa := plain.Attribute(ev.pid, mem, ev.rip, ev.rsp, ev.rbp)
		plainStacks[ev.step] = append(plainStacks[ev.step], pa.Stack)
		if pa.Class != ev.at.Class || pa.How != ev.at.How || len(pa.Stack) != len(ev.at.Stack) ||
			pa.Caller.Addr != ev.at.Caller.Addr || pa.Caller.Object != ev.at.Caller.Object {
			t.Errorf("%s: without debug files %v, with %v", ev.step, pa, ev.at)
		}
		switch ev.step {
		case "dlopen":
			// ld.so has the file open: delete it, so that the library
			// can only be read through /proc/PID/map_files.
			if !libDeleted {
				if err := os.Remove(fx.lib); err != nil {
					t.Fatal(err)
				}
				libDeleted = true
			}
		case "lib-libc":
			for _, m := range maps {
				seenDeleted = seenDeleted || m.Path == fx.lib+" (deleted)"
			}
		case "libc", "malloc", "wrap-cfi", "wrap-fp":
			p := probe{step: ev.step}
			p.unreadable = a.Attribute(ev.pid, failMem{}, ev.rip, ev.rsp, ev.rbp)
			p.junk = a.Attribute(ev.pid, junkStack{mem, ev.rsp}, ev.rip, ev.rsp, ev.rbp)
			probes = append(probes, p)
		case "jit", "jit-libc":
			// The JIT page is the anonymous r-xp mapping the frame is in.
			f := ev.at.Site
			if ev.step == "jit-libc" {
				f = ev.at.Caller
			}
			for _, m := range maps {
				if m.Contains(f.Addr) && m.Path == "" && m.Perms == "r-xp" {
					jitOffsets[ev.step] = f.Addr - m.Start
				}
			}
		}
	})

	prog, lib := fx.prog, fx.lib
	wrapCFI, wrapFP := filepath.Base(fx.wrapCFI), filepath.Base(fx.wrapFP)
	wants := map[string]want{
		"libc":    {siteObject: libcFile, siteSymbol: "mmap", callerObject: prog, callerSymbol: "do_libc_mmap", class: ClassProgram, how: HowReturnAddress},
		"syscall": {siteObject: libcFile, siteSymbol: "syscall", callerObject: prog, callerSymbol: "do_syscall_mmap", class: ClassProgram, how: HowReturnAddress},
		"inline":  {siteObject: prog, siteSymbol: "do_inline_mmap", callerIsSite: true, class: ClassProgram, how: HowSite},
		"malloc":  {siteObject: libcFile, siteSymbol: "mmap", callerObject: prog, callerSymbol: "do_malloc", class: ClassMalloc, how: HowEHFrame, onStack: "malloc"},
		"calloc":  {siteObject: libcFile, siteSymbol: "mmap", callerObject: prog, callerSymbol: "do_calloc", class: ClassMalloc, how: HowEHFrame, onStack: "calloc"},
		"thread": {siteObject: libcFile, siteSymbol: "mmap", callerObject: prog, callerSymbol: "do_thread", class: ClassThreadStack,
			how: HowEHFrame, onStack: "pthread_create"},
		"thread-mmap":   {siteObject: libcFile, siteSymbol: "mmap", callerObject: prog, callerSymbol: "thread_fn", class: ClassProgram, how: HowReturnAddress},
		"thread-malloc": {siteObject: libcFile, siteSymbol: "mmap", callerObject: prog, callerSymbol: "thread_fn", class: ClassMalloc, how: HowEHFrame, onStack: "malloc", max: 2},
		// ld.so maps the object (its span, then its segments): every
		// call is the loader's, made from ld.so's own mmap.
		"dlopen":     {siteObject: ldsoFile, callerObject: ldsoFile, class: ClassLoader, how: HowReturnAddress, min: 2, max: 8},
		"lib-libc":   {siteObject: libcFile, siteSymbol: "mmap", callerObject: lib, callerSymbol: "lib_map", class: ClassProgram, how: HowReturnAddress},
		"lib-inline": {siteObject: lib, siteSymbol: "lib_raw", callerIsSite: true, class: ClassProgram, how: HowSite},
		"jit-setup":  {siteObject: libcFile, callerObject: prog, callerSymbol: "do_jit_setup", class: ClassProgram, how: HowReturnAddress},
		"jit":        {siteObject: "", callerIsSite: true, class: ClassJIT, how: HowSite},
		"jit-libc":   {siteObject: libcFile, siteSymbol: "mmap", callerObject: "", class: ClassJIT, how: HowReturnAddress},
		"wrap-load":  {siteObject: ldsoFile, callerObject: ldsoFile, class: ClassLoader, min: 4, max: 16},
		// The wrapper has pushed and reserved stack: the word at rsp is
		// not the return address, and the unwind data says so.
		"wrap-cfi": {siteObject: wrapCFI, siteSymbol: "wrap_mmap", callerObject: prog, callerSymbol: "do_wrap", class: ClassProgram, how: HowEHFrame},
		// No unwind data: the frame pointer.
		"wrap-fp":   {siteObject: wrapFP, siteSymbol: "wrap_mmap", callerObject: prog, callerSymbol: "do_wrap", class: ClassProgram, how: HowFramePointer},
		"fake-load": {siteObject: ldsoFile, callerObject: ldsoFile, class: ClassLoader, min: 2, max: 8},
		// pthread_create -> malloc -> mmap: the nearest family, malloc.
		"fake-chain": {siteObject: fx.fakeLibc, siteSymbol: "mmap", callerObject: prog, callerSymbol: "do_fake_chain", class: ClassMalloc,
			how: HowEHFrame, onStack: "pthread_create"},
		// Through a call that ends its function.
		"fake-noreturn": {siteObject: fx.fakeLibc, siteSymbol: "mmap", callerObject: prog, callerSymbol: "do_fake_fatal", class: ClassProgram,
			how: HowEHFrame, onStack: "fake_fatal"},
	}
	bystep := map[string][]attribEvent{}
	for _, ev := range events {
		bystep[ev.step] = append(bystep[ev.step], ev)
		var stack []string
		for _, f := range ev.at.Stack {
			stack = append(stack, f.String())
		}
		t.Logf("%-13s %s: %s", ev.step, ev.at.Class, strings.Join(stack, " <- "))
	}
	for step, w := range wants {
		t.Run(step, func(t *testing.T) {
			evs := bystep[step]
			lo, hi := max(w.min, 1), max(w.max, 1)
			if len(evs) < lo || len(evs) > hi {
				t.Fatalf("%d trapped calls, want %d to %d", len(evs), lo, hi)
			}
			for _, ev := range evs {
				checkAttribution(t, ev, w)
			}
		})
	}
	for step := range bystep {
		if _, ok := wants[step]; !ok {
			t.Errorf("calls in unexpected step %q: %v", step, bystep[step])
		}
	}
	// libc's internal frames: named only from libc6-dbg's debug file,
	// when it is installed.
	libcDebug := false
	if s, err := loader.OpenSymbols("/lib/x86_64-linux-gnu/libc.so.6"); err == nil {
		_, err := os.Stat(loader.DebugFile("/usr/lib/debug", s.BuildID))
		libcDebug = err == nil
	}
	for _, step := range []string{"malloc", "thread-malloc"} {
		for i, ev := range bystep[step] {
			plainStack := plainStacks[step][i]
			for j, f := range ev.at.Stack[1 : len(ev.at.Stack)-2] { // between mmap and malloc
				if f.Symbol == "" && libcDebug || plainStack[j+1].Symbol != "" {
					t.Errorf("%s: internal libc frame %d named %q from the debug file, %q without (libc6-dbg installed: %v)",
						step, j+1, f.Symbol, plainStack[j+1].Symbol, libcDebug)
				}
			}
		}
	}
	if st := bystep["malloc"]; len(st) == 1 && libcDebug && !slices.ContainsFunc(st[0].at.Stack, func(f Frame) bool { return f.Symbol == "sysmalloc" }) {
		t.Errorf("malloc: no sysmalloc frame with libc6-dbg installed")
	}

	if !seenDeleted {
		t.Errorf("attrib_lib.so not shown deleted in the maps: the map_files path was not tried")
	}
	if off := jitOffsets["jit"]; off != 8 {
		t.Errorf("jit: the syscall instruction is at offset %#x of the JIT page, want 8", off)
	}
	if off := jitOffsets["jit-libc"]; off != 64+4 {
		t.Errorf("jit-libc: the call instruction is at offset %#x of the JIT page, want 0x44", off)
	}
	for _, ev := range bystep["thread-mmap"] {
		if ev.tid == ev.pid {
			t.Errorf("thread-mmap: made by the main thread %d", ev.tid)
		}
	}

	if len(probes) != 4 {
		t.Fatalf("%d probes, want 4", len(probes))
	}
	for _, p := range probes {
		for name, at := range map[string]Attribution{"unreadable memory": p.unreadable, "a junk stack": p.junk} {
			if at.Caller != (Frame{}) || at.How != HowUnknown {
				t.Errorf("%s with %s: caller %v by %s, want unknown", p.step, name, at.Caller, at.How)
			}
		}
		if p.unreadable.Site.Confirmed {
			t.Errorf("%s: site confirmed without memory", p.step)
		}
		if p.unreadable.Class != ClassUnknown {
			t.Errorf("%s with unreadable memory: class %s, want unknown", p.step, p.unreadable.Class)
		}
	}

	// The cache: every object mapped is still there; dropping the
	// process drops them all.
	if len(a.objs) == 0 {
		t.Error("no objects cached")
	}
	a.SetMaps(events[0].pid, nil)
	if len(a.objs) != 0 || len(a.refs) != 0 || len(a.procs) != 0 {
		t.Errorf("after forgetting the process: %d objects, %d references, %d processes", len(a.objs), len(a.refs), len(a.procs))
	}
}

func checkAttribution(t *testing.T, ev attribEvent, w want) {
	t.Helper()
	at := ev.at
	fail := func(format string, args ...any) {
		t.Helper()
		var stack []string
		for _, f := range at.Stack {
			stack = append(stack, f.String())
		}
		t.Errorf("call at rip %#x: %s\n\tattribution %v\n\tstack %s", ev.rip, fmt.Sprintf(format, args...), at, strings.Join(stack, " <- "))
	}
	objectIs := func(got, want string) bool {
		return got == want || !strings.Contains(want, "/") && want != "" && filepath.Base(got) == want
	}
	if at.Site.Addr != ev.rip-2 || !at.Site.Confirmed {
		fail("site %#x confirmed %v, want the syscall instruction at %#x", at.Site.Addr, at.Site.Confirmed, ev.rip-2)
	}
	if !objectIs(at.Site.Object, w.siteObject) {
		fail("site object %q, want %q", at.Site.Object, w.siteObject)
	}
	if w.siteSymbol != "" && at.Site.Symbol != w.siteSymbol {
		fail("site symbol %q, want %q", at.Site.Symbol, w.siteSymbol)
	}
	if at.Class != w.class {
		fail("class %q, want %q", at.Class, w.class)
	}
	if w.how != "" && at.How != w.how {
		fail("found by %q, want %q", at.How, w.how)
	}
	if len(at.Stack) == 0 || at.Stack[0] != at.Site || at.Stack[len(at.Stack)-1] != at.Caller {
		fail("the stack does not run from the site to the caller")
	}
	if w.callerIsSite {
		if at.Caller != at.Site {
			fail("caller %v, want the site itself", at.Caller)
		}
		return
	}
	if !at.Caller.Confirmed || at.Caller.Addr == 0 {
		fail("caller %v not confirmed", at.Caller)
	}
	if !objectIs(at.Caller.Object, w.callerObject) {
		fail("caller object %q, want %q", at.Caller.Object, w.callerObject)
	}
	if w.callerSymbol != "" && at.Caller.Symbol != w.callerSymbol {
		fail("caller symbol %q, want %q", at.Caller.Symbol, w.callerSymbol)
	}
	if w.onStack != "" && !slices.ContainsFunc(at.Stack, func(f Frame) bool { return f.Symbol == w.onStack }) {
		fail("no frame in %s", w.onStack)
	}
}

// countingMem counts the reads made through it.
type countingMem struct {
	mem   Memory
	reads int
}

func (c *countingMem) ReadAt(p []byte, addr uint64) error {
	c.reads++
	return c.mem.ReadAt(p, addr)
}

// failMem fails every read.
type failMem struct{}

func (failMem) ReadAt([]byte, uint64) error { return errors.New("unreadable") }

// junkStack reads like mem, except that the 64 KiB from sp hold a
// pattern that is no address: no return address can be found there.
type junkStack struct {
	mem Memory
	sp  uint64
}

func (j junkStack) ReadAt(p []byte, addr uint64) error {
	if err := j.mem.ReadAt(p, addr); err != nil {
		return err
	}
	for i := range p {
		if a := addr + uint64(i); a >= j.sp && a < j.sp+64<<10 {
			p[i] = 0x5a
		}
	}
	return nil
}

// fakeMem is memory made of a few byte ranges.
type fakeMem map[uint64][]byte

func (f fakeMem) ReadAt(p []byte, addr uint64) error {
	for start, b := range f {
		if addr >= start && addr-start <= uint64(len(b)) && uint64(len(p)) <= uint64(len(b))-(addr-start) {
			copy(p, b[addr-start:])
			return nil
		}
	}
	return fmt.Errorf("no memory at %#x", addr)
}

func TestCallEndingAt(t *testing.T) {
	tests := []struct {
		name string
		code []byte
		want int // 0: not a call
	}{
		{"call rel32", []byte{0x90, 0x90, 0xe8, 0x10, 0x20, 0x30, 0x40}, 5},
		// 0x48 could be REX.W, which a call does not use: more likely the
		// last byte of the instruction before (a disp8 of 0x48).
		{"call rel32 after 0x48", []byte{0x8b, 0x7c, 0x24, 0x48, 0xe8, 0x10, 0x20, 0x30, 0x40}, 5},
		{"notrack call *%rax", []byte{0x90, 0x3e, 0xff, 0xd0}, 3},
		{"call *%rax", []byte{0x90, 0x90, 0x90, 0xff, 0xd0}, 2},
		{"call *%r8", []byte{0x90, 0x90, 0x41, 0xff, 0xd0}, 3},
		{"call *(%rax)", []byte{0x90, 0x90, 0x90, 0xff, 0x10}, 2},
		{"call *0x8(%rax)", []byte{0x90, 0x90, 0xff, 0x50, 0x08}, 3},
		{"call *0x8(%rsp)", []byte{0x90, 0xff, 0x54, 0x24, 0x08}, 4},
		{"call *disp32(%rip)", []byte{0x90, 0xff, 0x15, 0x00, 0x10, 0x00, 0x00}, 6},
		{"call *disp32(%rsp)", []byte{0xff, 0x94, 0x24, 0x00, 0x01, 0x00, 0x00}, 7},
		{"call *disp32(%r12)", []byte{0x41, 0xff, 0x94, 0x24, 0x00, 0x01, 0x00, 0x00}, 8},
		{"call *%fs:disp32", []byte{0x64, 0xff, 0x14, 0x25, 0x10, 0x00, 0x00, 0x00}, 8},
		{"jmp rel32", []byte{0x90, 0x90, 0xe9, 0x10, 0x20, 0x30, 0x40}, 0},
		{"jmp *%rax", []byte{0x90, 0x90, 0x90, 0xff, 0xe0}, 0},
		{"far call", []byte{0x90, 0x90, 0x90, 0xff, 0x18}, 0},
		{"push *(%rax)", []byte{0x90, 0x90, 0x90, 0xff, 0x30}, 0},
		{"mov (%rsp),%rax", []byte{0x90, 0x48, 0x8b, 0x04, 0x24}, 0},
		{"call ending a byte early", []byte{0xe8, 0x10, 0x20, 0x30, 0x40, 0x90}, 0},
		{"call rel32 cut short", []byte{0xe8, 0x10, 0x20, 0x30}, 0},
		{"zeros", make([]byte, 9), 0},
		{"nothing", nil, 0},
	}
	for _, tt := range tests {
		got, ok := callEndingAt(tt.code)
		if ok != (tt.want != 0) || got != tt.want {
			t.Errorf("%s: % x: got %d %v, want %d", tt.name, tt.code, got, ok, tt.want)
		}
	}
}

func TestCallBefore(t *testing.T) {
	a := NewAttributor()
	a.SetMaps(1, []Mapping{
		{Range: region.Range{Start: 0x10000, End: 0x11000}, Perms: "r-xp"},
		{Range: region.Range{Start: 0x11000, End: 0x12000}, Perms: "rw-p"},
		{Range: region.Range{Start: 0x20000, End: 0x21000}, Perms: "r-xp"},
	})
	code := make([]byte, 0x1000)
	copy(code[0x100:], []byte{0xe8, 1, 2, 3, 4})             // call at 0x10100, returns to 0x10105
	copy(code[0x200:], []byte{0x90, 0x90, 0x90, 0x90})       // no call before 0x10204
	copy(code[0xffb:], []byte{0xe8, 1, 2, 3, 4})             // a call ending at the mapping's end
	copy(code[0x000:], []byte{0xd0, 0x90, 0x90, 0x90})       // ff d0 would straddle 0x1ffff..0x10001: no mapping before
	data := bytes.Repeat([]byte{0xe8, 0, 0, 0, 0}, 0x1000/5) // looks like calls, but not executable
	mem := fakeMem{0x10000: code, 0x11000: data, 0x20000: {0xff, 0xd0}}
	w := walker{a: a, pid: 1, mem: mem, maps: a.procs[1].maps, objs: a.procs[1].objs}
	tests := []struct {
		ra   uint64
		call uint64
		ok   bool
	}{
		{0x10105, 0x10100, true},
		{0x10204, 0, false},
		{0x11000, 0x10ffb, true},
		{0x10001, 0, false},
		{0x11005, 0, false}, // in rw- memory
		{0x20002, 0x20000, true},
		{0x30000, 0, false}, // unmapped
		{0, 0, false},
		{1, 0, false},
	}
	for _, tt := range tests {
		call, ok := w.callBefore(tt.ra)
		if call != tt.call || ok != tt.ok {
			t.Errorf("callBefore(%#x) = %#x %v, want %#x %v", tt.ra, call, ok, tt.call, tt.ok)
		}
	}
}

// TestAttributeWithoutLayout: calls in a process SetMaps never saw, or
// at addresses outside its mappings, are unknown, with no guesses.
func TestAttributeWithoutLayout(t *testing.T) {
	a := NewAttributor()
	mem := fakeMem{0x10000: make([]byte, 0x1000)}
	at := a.Attribute(42, mem, 0x10010, 0x10800, 0)
	if at.Class != ClassUnknown || at.How != HowUnknown || at.Caller != (Frame{}) || at.Site.Object != "" {
		t.Errorf("unknown process: %+v", at)
	}
	a.SetMaps(42, []Mapping{{Range: region.Range{Start: 0x10000, End: 0x11000}, Perms: "rw-p"}})
	if at := a.Attribute(42, mem, 0x10010, 0x10800, 0); at.Class != ClassUnknown {
		t.Errorf("site in anonymous non-executable memory: class %s", at.Class)
	}
	if at := a.Attribute(42, mem, 1, 0x10800, 0); at.Class != ClassUnknown || at.How != HowUnknown {
		t.Errorf("rip 1: %+v", at)
	}
}

// TestAttributeWalkLimit: a chain of wrapper frames longer than the
// walk allows ends as unknown after maxWalk frames.
func TestAttributeWalkLimit(t *testing.T) {
	fx := buildAttrib(t)
	// wrap-fp under libc's name: a wrapper library without CFI, walked
	// by frame pointers.
	lib, text := copyFixture(t, fx.wrapFP, "libc.so.6")
	fi, err := os.Stat(lib)
	if err != nil {
		t.Fatal(err)
	}
	s, err := loader.OpenSymbols(lib)
	if err != nil {
		t.Fatal(err)
	}
	sym, ok := s.Find("wrap_mmap")
	if !ok {
		t.Fatal("no wrap_mmap")
	}
	off, ok := fileOffsetOf(s, sym.Value)
	if !ok {
		t.Fatal("no file offset for wrap_mmap")
	}
	// The whole file mapped at base from offset 0; a return address
	// just after wrap_mmap's call to clear.
	const base = 0x400000
	code := make([]byte, (len(text)+0xfff)&^0xfff)
	copy(code, text)
	var ra uint64
	for i := off; i+5 < off+sym.Size; i++ {
		if code[i] == 0xe8 {
			ra = base + i + 5
			break
		}
	}
	if ra == 0 {
		t.Fatal("no call in wrap_mmap")
	}
	// maxWalk+4 frames, each 16 bytes above the last, each returning
	// into wrap_mmap.
	const sp = 0x7f0000000000
	stack := make([]byte, 0x1000)
	for i := range maxWalk + 4 {
		fp := 0x100 + 16*i
		binary.LittleEndian.PutUint64(stack[fp:], sp+uint64(fp)+16)
		binary.LittleEndian.PutUint64(stack[fp+8:], ra)
	}
	a := NewAttributor()
	a.SetMaps(7, []Mapping{
		{Range: region.Range{Start: base, End: base + uint64(len(code))}, Perms: "r-xp", Dev: "00:00", Inode: fi.Sys().(*syscall.Stat_t).Ino, Path: lib},
		{Range: region.Range{Start: sp, End: sp + 0x1000}, Perms: "rw-p"},
	})
	at := a.Attribute(7, fakeMem{base: code, sp: stack}, ra, sp, sp+0x100)
	if at.How != HowUnknown || at.Caller != (Frame{}) || at.Class != ClassUnknown {
		t.Errorf("endless wrapper frames: %v", at)
	}
	if len(at.Stack) != maxWalk+1 {
		t.Errorf("walked %d frames, want %d", len(at.Stack)-1, maxWalk)
	}
	for _, f := range at.Stack[1:] {
		if f.Object != lib || f.Symbol != "wrap_mmap" || !f.Confirmed {
			t.Errorf("frame %v", f)
		}
	}
}

func fileOffsetOf(s *loader.Symbols, vaddr uint64) (uint64, bool) {
	for _, g := range s.Segments {
		if vaddr >= g.Vaddr && vaddr-g.Vaddr < g.Filesz {
			return vaddr - g.Vaddr + g.Offset, true
		}
	}
	return 0, false
}

// ---- CFI ----

// cfiBuilder assembles an .eh_frame section at address addr.
type cfiBuilder struct {
	addr uint64
	b    []byte
}

// cie appends a "zR" CIE (code alignment 1, data alignment -8, return
// address register 16, FDE pointers pcrel|sdata4) with the given initial
// instructions, and returns its offset.
func (c *cfiBuilder) cie(insns ...byte) int {
	off := len(c.b)
	body := []byte{0, 0, 0, 0, 1, 'z', 'R', 0, 1, 0x78, 16, 1, 0x1b}
	body = append(body, insns...)
	for len(body)%8 != 4 {
		body = append(body, 0)
	}
	c.b = binary.LittleEndian.AppendUint32(c.b, uint32(len(body)))
	c.b = append(c.b, body...)
	return off
}

// fde appends an FDE for [begin, begin+n) using the CIE at cieOff.
func (c *cfiBuilder) fde(cieOff int, begin, n uint64, insns ...byte) {
	start := len(c.b) + 4
	body := binary.LittleEndian.AppendUint32(nil, uint32(start-cieOff))
	pcField := c.addr + uint64(start) + 4
	body = binary.LittleEndian.AppendUint32(body, uint32(int32(int64(begin)-int64(pcField))))
	body = binary.LittleEndian.AppendUint32(body, uint32(n))
	body = append(body, 0) // augmentation data length
	body = append(body, insns...)
	for len(body)%8 != 4 {
		body = append(body, 0)
	}
	c.b = binary.LittleEndian.AppendUint32(c.b, uint32(len(body)))
	c.b = append(c.b, body...)
}

func (c *cfiBuilder) table() *cfiTable {
	return parseCFI(loader.UnwindSection{Addr: c.addr, Data: append(slices.Clone(c.b), 0, 0, 0, 0)})
}

// A function with a prologue, a frame pointer and an epilogue in the
// middle (remember/restore state), as gcc lays it out.
func testCFI() *cfiBuilder {
	c := &cfiBuilder{addr: 0x2000}
	cie := c.cie(0x0c, 7, 8, 0x90, 1) // def_cfa rsp+8; offset ra at cfa-8
	c.fde(cie, 0x1000, 0x40,
		0x41,     // advance 1 -> 0x1001
		0x0e, 16, // def_cfa_offset 16
		0x86, 2, // offset rbp at cfa-16
		0x43,    // advance 3 -> 0x1004
		0x0d, 6, // def_cfa_register rbp
		0x02, 0x10, // advance_loc1 16 -> 0x1014
		0x0a,       // remember_state
		0x0c, 7, 8, // def_cfa rsp+8 (after leave)
		0xc6,          // restore rbp
		0x41,          // advance 1 -> 0x1015
		0x0b,          // restore_state
		0x03, 0x10, 0, // advance_loc2 16 -> 0x1025
		0x2e, 0x10, // GNU_args_size
		0x13, 0x7e, // def_cfa_offset_sf: -2 * -8 = 16 (still rbp)
		0x12, 7, 0x7d, // def_cfa_sf rsp, -3 * -8 = 24
	)
	c.fde(cie, 0x1100, 0x10,
		0x0f, 3, 0x77, 8, 0x22, // def_cfa_expression (PLT-like)
	)
	c.fde(cie, 0x1200, 0x10,
		0x07, 16, // undefined ra: the outermost frame
	)
	c.fde(cie, 0x1300, 0x10,
		0x04, 8, 0, 0, 0, // advance_loc4 8 -> 0x1308
		0x14, 6, 2, // val_offset rbp = cfa-16
		0x0a, 0x0a, 0x0b, // remember twice, restore once
		0x05, 6, 3, // offset_extended rbp at cfa-24
		0x0b, // restore_state: rbp val_offset again
		0x17, // an unassigned opcode: no row from here on
	)
	return c
}

func TestCFIRows(t *testing.T) {
	tab := testCFI().table()
	if len(tab.fdes) != 4 || len(tab.cies) != 1 {
		t.Fatalf("%d FDEs, %d CIEs; want 4, 1", len(tab.fdes), len(tab.cies))
	}
	tests := []struct {
		pc   uint64
		top  bool
		want string // cfiRow.String(); "" for no row
	}{
		{0x0fff, true, ""},
		{0x1000, true, "rsp+8  c-8"},
		{0x1001, true, "rsp+16 c-16 c-8"},
		{0x1003, true, "rsp+16 c-16 c-8"},
		{0x1004, true, "rbp+16 c-16 c-8"},
		{0x1014, true, "rsp+8  c-8"},
		{0x1015, true, "rbp+16 c-16 c-8"},
		{0x1024, true, "rbp+16 c-16 c-8"},
		{0x1025, true, "rsp+24 c-16 c-8"},
		{0x103f, true, "rsp+24 c-16 c-8"},
		{0x1040, true, "rsp+24 c-16 c-8"}, // a syscall ending the function: looked up by rip-1
		{0x1040, false, ""},
		{0x1105, true, "exp  c-8"},
		{0x1205, true, "rsp+8  u"},
		{0x1300, true, "rsp+8  c-8"},
		{0x1308, true, ""}, // the unknown instruction is reached
		{0x1307, true, "rsp+8  c-8"},
		{0x2000, true, ""},
	}
	for _, tt := range tests {
		row, ok := tab.row(tt.pc, tt.top)
		got := ""
		if ok {
			got = row.String()
		}
		if got != tt.want {
			t.Errorf("row(%#x, top %v) = %q, want %q", tt.pc, tt.top, got, tt.want)
		}
	}
	if r, _ := tab.row(0x1000, true); !r.isEntry() || r.unsupported() {
		t.Errorf("entry row %v: isEntry %v unsupported %v", r, r.isEntry(), r.unsupported())
	}
	if r, _ := tab.row(0x1105, true); !r.unsupported() {
		t.Errorf("expression row %v is supported?", r)
	}
}

// readelfRows runs readelf --debug-dump=frames-interp on path and
// returns, for every row it prints, the CFA and the rbp and return
// address columns.
func readelfRows(t *testing.T, path string) map[uint64][3]string {
	t.Helper()
	// N: not the separate debug file's (NOBITS) copy.
	out, err := exec.Command("readelf", "-wNF", path).Output()
	if err != nil {
		t.Fatalf("readelf -wNF %s: %v", path, err)
	}
	rows := map[uint64][3]string{}
	var cols []string
	inFDE := false
	var end uint64 // of the current FDE's range: readelf prints rows past it
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 6 && f[3] == "FDE":
			_, rng, _ := strings.Cut(f[5], "..")
			end, err = strconv.ParseUint(rng, 16, 64)
			inFDE = err == nil
		case len(f) >= 4 && f[3] == "CIE":
			inFDE = false
		case len(f) > 0 && f[0] == "LOC":
			cols = f
		case len(f) >= 2 && f[1] == "ZERO":
			inFDE = false
		case inFDE && len(f) == len(cols) && len(f) >= 2:
			loc, err := strconv.ParseUint(f[0], 16, 64)
			if err != nil || loc >= end {
				continue
			}
			var r [3]string
			r[0] = f[1]
			for i, c := range cols {
				switch c {
				case "rbp":
					r[1] = f[i]
				case "ra":
					r[2] = f[i]
				}
			}
			rows[loc] = r
		}
	}
	return rows
}

// TestCFIAgreesWithReadelf runs the interpreter at every row readelf
// prints for libc, ld.so and a fixture, and compares the CFA rule, rbp's
// and the return address's.
func TestCFIAgreesWithReadelf(t *testing.T) {
	fx := buildAttrib(t)
	for _, p := range []string{"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2", fx.prog, fx.wrapCFI} {
		t.Run(filepath.Base(p), func(t *testing.T) {
			s, err := loader.OpenSymbols(p)
			if err != nil {
				t.Fatal(err)
			}
			tab := parseCFI(s.EHFrame)
			rows := readelfRows(t, p)
			if len(rows) < 10 && !strings.HasSuffix(p, ".so") {
				t.Fatalf("readelf printed only %d rows", len(rows))
			}
			bad := 0
			for loc, want := range rows {
				row, ok := tab.row(loc, true)
				if !ok && want[0] == "exp" && want[2] == "exp" {
					continue // a signal frame: not unwound through
				}
				if !ok {
					t.Errorf("%#x: no row, readelf has %v", loc, want)
					bad++
					continue
				}
				cfa := fmt.Sprintf("%s%+d", dwarfName(row.cfaReg), row.cfaOff)
				if row.cfaExpr {
					cfa = "exp"
				}
				if cfa != want[0] || !ruleMatches(row.fp, want[1]) || !ruleMatches(row.ra, want[2]) {
					t.Errorf("%#x: got %v, readelf has %v", loc, row, want)
					bad++
				}
				if bad > 10 {
					t.Fatal("too many differences")
				}
			}
			t.Logf("%d rows compared", len(rows))
		})
	}
}

// ruleMatches compares a rule with readelf's column ("" when the FDE
// never mentions the register; "u" both for not-yet-saved and for
// DW_CFA_undefined).
func ruleMatches(r regRule, col string) bool {
	switch {
	case col == "" || col == "u":
		return r.kind == ruleSame || r.kind == ruleUndefined
	case strings.HasPrefix(col, "c"):
		n, err := strconv.ParseInt(col[1:], 10, 64)
		return err == nil && r.kind == ruleOffset && r.off == n
	}
	return r.kind == ruleOther || r.kind == ruleValOffset
}

// FuzzCFI feeds parseCFI and row arbitrary .eh_frame bytes. Seeds: the
// hand-built section of TestCFIRows, ld.so's real one, and cut or bent
// copies. Nothing may panic, and every FDE indexed must be a sane range.
func FuzzCFI(f *testing.F) {
	seed := testCFI().b
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(seed[:7])
	bent := slices.Clone(seed)
	binary.LittleEndian.PutUint32(bent, 0xffffffff)
	f.Add(bent)
	bent = slices.Clone(seed)
	bent[len(bent)/2] ^= 0x80
	f.Add(bent)
	// The start of a real one (small seeds keep minimizing quick).
	s, err := loader.OpenSymbols("/lib64/ld-linux-x86-64.so.2")
	if err != nil || len(s.EHFrame.Data) < 2048 {
		f.Fatalf("ld.so's .eh_frame: %v", err)
	}
	f.Add(s.EHFrame.Data[:2048])
	f.Add(s.EHFrame.Data[:300])
	f.Fuzz(func(t *testing.T, data []byte) {
		const addr = 0x2000
		tab := parseCFI(loader.UnwindSection{Addr: addr, Data: data})
		for i, d := range tab.fdes {
			if d.end <= d.begin || int(d.cie) >= len(tab.cies) || d.insns[0] > d.insns[1] || d.insns[1] > len(data) {
				t.Fatalf("FDE %d: %+v", i, d)
			}
			if i > 0 && d.begin < tab.fdes[i-1].begin {
				t.Fatal("FDEs not sorted")
			}
			if i < 64 {
				for _, pc := range []uint64{d.begin, d.begin + (d.end-d.begin)/2, d.end - 1, d.end} {
					tab.row(pc, true)
					tab.row(pc, false)
				}
			}
		}
		tab.row(addr, true)
		tab.row(0, true)
		tab.row(^uint64(0), false)
	})
}

// BenchmarkAttribute attributes held calls with a warm object cache:
// "libc" is mmap called by the program (one step, by return address),
// "malloc" is malloc(64 MiB), the fixture's longest walk (mmap,
// sysmalloc_mmap, sysmalloc, _int_malloc, malloc, the program: five
// steps, four by CFI). "cached" reads memory from pages copied before
// timing, which isolates the engine; "procmem" reads through
// /proc/PID/mem as a tracer would, one system call per read.
func BenchmarkAttribute(b *testing.B) {
	fx := buildAttrib(b)
	a := NewAttributor()
	runAttrib(b, fx, "libc,malloc", a, func(ev *attribEvent, mem Memory) {
		cache := &pageCache{src: mem, pages: map[uint64][]byte{}}
		want := a.Attribute(ev.pid, cache, ev.rip, ev.rsp, ev.rbp)
		if want.Caller == (Frame{}) {
			b.Fatalf("%s: attributed as %v", ev.step, want)
		}
		for _, m := range []struct {
			name string
			mem  Memory
		}{{"cached", cache}, {"procmem", mem}} {
			b.Run(ev.step+"/"+m.name, func(b *testing.B) {
				mem := &countingMem{mem: m.mem}
				for b.Loop() {
					if at := a.Attribute(ev.pid, mem, ev.rip, ev.rsp, ev.rbp); at.Caller != want.Caller {
						b.Fatalf("attributed as %v, then %v", want, at)
					}
				}
				b.ReportMetric(float64(mem.reads)/float64(b.N), "reads/op")
			})
		}
	})
}

// Check that the fixture's objects are what the tests think they are.
func TestAttribFixtureObjects(t *testing.T) {
	fx := buildAttrib(t)
	for _, c := range []struct {
		path  string
		ehSec bool
	}{{fx.wrapCFI, true}, {fx.wrapFP, false}} {
		s, err := loader.OpenSymbols(c.path)
		if err != nil {
			t.Fatal(err)
		}
		sym, _ := s.Find("wrap_mmap")
		row, ok := parseCFI(s.EHFrame).row(sym.Value, true)
		if ok != c.ehSec {
			t.Errorf("%s: CFI for wrap_mmap %v (%v), want %v", c.path, ok, row, c.ehSec)
		}
	}
}

// TestWalkRules runs single steps over a made-up libc and program whose
// objects are planted in the cache: which method is used when, and that
// a step the unwind data rules out is not rescued by a guess.
func TestWalkRules(t *testing.T) {
	const (
		libcBase = 0x100000
		progBase = 0x200000
		sp       = 0x7f0000000100
	)
	c := &cfiBuilder{addr: 0} // link addresses are file offsets
	cie := c.cie(0x0c, 7, 8, 0x90, 1)
	c.fde(cie, 0x1000, 0x100, 0x0c, 7, 32, 0x0f, 3, 0x77, 8, 0x22) // rsp+32, then an expression: not followed
	c.fde(cie, 0x2000, 0x100, 0x07, 16)                            // return address undefined: outermost
	c.fde(cie, 0x3000, 0x100, 0x0c, 7, 0)                          // CFA = rsp: no progress
	c.fde(cie, 0x4000, 0x100, 0x0e, 16)                            // rsp+16
	c.fde(cie, 0x5000, 0x100, 0x0e, 16)                            // rsp+16
	seg := []loader.Segment{{Vaddr: 0, Offset: 0, Filesz: 0x10000, Memsz: 0x10000, Flags: elf.PF_R | elf.PF_X}}
	a := NewAttributor()
	a.SetMaps(1, []Mapping{
		{Range: region.Range{Start: libcBase, End: libcBase + 0x10000}, Perms: "r-xp", Dev: "00:01", Inode: 1, Path: "/fake/libc.so.6"},
		{Range: region.Range{Start: progBase, End: progBase + 0x10000}, Perms: "r-xp", Dev: "00:01", Inode: 2, Path: "/fake/prog"},
		{Range: region.Range{Start: sp &^ 0xfff, End: sp&^0xfff + 0x1000}, Perms: "rw-p"},
	})
	a.objs[attribKey{"/fake/libc.so.6", "00:01", 1}] = &attribObject{role: roleWrapper,
		syms: &loader.Symbols{Segments: seg, EHFrame: loader.UnwindSection{Addr: 0, Data: append(c.b, 0, 0, 0, 0)}}}
	a.objs[attribKey{"/fake/prog", "00:01", 2}] = &attribObject{role: roleOther, syms: &loader.Symbols{Segments: seg}}

	prog := make([]byte, 0x10000)
	copy(prog[0x100:], []byte{0xe8, 0, 0, 0, 0}) // a call: 0x200105 is a return address
	const good, bad = progBase + 0x105, progBase + 0x205
	libc := make([]byte, 0x10000)
	tests := []struct {
		name  string
		site  uint64            // link address in the fake libc
		words map[uint64]uint64 // stack words, by offset from sp
		fp    uint64
		how   string
	}{
		{"expression: the word at rsp", 0x1010, map[uint64]uint64{0: good, 24: bad}, 0, HowReturnAddress},
		{"return address undefined", 0x2010, map[uint64]uint64{0: good}, 0, HowUnknown},
		{"no progress", 0x3010, map[uint64]uint64{0: good, ^uint64(7): good}, 0, HowUnknown},
		{"CFI rules out the frame pointer", 0x4010, map[uint64]uint64{8: bad, 0x48: good}, sp + 0x40, HowUnknown},
		{"CFI", 0x5010, map[uint64]uint64{8: good}, 0, HowEHFrame},
		{"no FDE: the frame pointer", 0x6010, map[uint64]uint64{0: bad, 0x48: good}, sp + 0x40, HowFramePointer},
		{"no FDE, rbp below rsp", 0x6010, map[uint64]uint64{0: bad, ^uint64(0x37): good}, sp - 0x40, HowUnknown},
	}
	for _, tt := range tests {
		stack := make([]byte, 0x1000)
		for off, v := range tt.words {
			binary.LittleEndian.PutUint64(stack[(sp&0xfff)+off:], v) // offsets wrap for negative ones
		}
		mem := fakeMem{libcBase: libc, progBase: prog, sp &^ 0xfff: stack}
		at := a.Attribute(1, mem, libcBase+tt.site+2, sp, tt.fp)
		if at.How != tt.how {
			t.Errorf("%s: found by %q, want %q (%v)", tt.name, at.How, tt.how, at)
			continue
		}
		want := Frame{Addr: progBase + 0x100, Object: "/fake/prog", Offset: 0x100, Confirmed: true}
		if tt.how == HowUnknown {
			want = Frame{}
		}
		if at.Caller != want {
			t.Errorf("%s: caller %+v, want %+v", tt.name, at.Caller, want)
		}
	}
}

func TestClassOf(t *testing.T) {
	m := func(perms, path string) *Mapping { return &Mapping{Perms: perms, Path: path} }
	tests := []struct {
		m    *Mapping
		want string
	}{
		{nil, ClassUnknown},
		{m("r-xp", "/usr/bin/prog"), ClassProgram},
		{m("r-xp", "/usr/bin/prog (deleted)"), ClassProgram},
		{m("r-xp", ""), ClassJIT},
		{m("rwxp", "[anon:v8 code]"), ClassJIT},
		{m("r-xs", "/memfd:jit (deleted)"), ClassJIT},
		{m("rw-p", ""), ClassUnknown},
		{m("r-xp", "[vdso]"), ClassUnknown}, // the kernel's code, no file of the program's
	}
	for _, tt := range tests {
		if got := classOf(tt.m); got != tt.want {
			t.Errorf("classOf(%v) = %s, want %s", tt.m, got, tt.want)
		}
	}
	for sym, want := range map[string]string{
		"malloc": ClassMalloc, "sysmalloc_mmap.constprop.0": ClassMalloc, "tcache_init.part.0": ClassMalloc,
		"pthread_create": ClassThreadStack, "allocate_stack": ClassThreadStack, "mmap": "", "": "", "mallocx": "",
	} {
		if got := familyClass(sym); got != want {
			t.Errorf("familyClass(%q) = %q, want %q", sym, got, want)
		}
	}
}

// TestAttributorReusesIdle: an object no process maps any more is kept
// for the next process that maps the same file (a build runs one
// compiler process after another), and read again once the file has
// changed in place.
func TestAttributorReusesIdle(t *testing.T) {
	fx := buildAttrib(t)
	lib, data := copyFixture(t, fx.lib, "lib.so")
	m, rip := libMapMapping(t, lib)
	mem := fakeMem{m.Start: make([]byte, 0x10000)}
	key := attribKey{lib, "fe:00", m.Inode}

	const p1, p2, p3 = 1<<22 + 1, 1<<22 + 2, 1<<22 + 3
	a := NewAttributor()
	a.SetMaps(p1, []Mapping{m})
	if at := a.Attribute(p1, mem, rip, 0, 0); at.Site.Symbol != "lib_map" {
		t.Fatalf("first process: site %v", at.Site)
	}
	obj := a.objs[key]
	a.SetMaps(p1, nil)
	a.SetMaps(p2, []Mapping{m})
	if at := a.Attribute(p2, mem, rip, 0, 0); at.Site.Symbol != "lib_map" {
		t.Fatalf("second process: site %v", at.Site)
	}
	if a.objs[key] != obj {
		t.Fatal("the object was read again for the next process that maps it")
	}
	a.SetMaps(p2, nil)
	// Rewritten in place (same inode): read again.
	if err := os.WriteFile(lib, append(data, 0), 0o755); err != nil {
		t.Fatal(err)
	}
	a.SetMaps(p3, []Mapping{m})
	a.Attribute(p3, mem, rip, 0, 0)
	if a.objs[key] == obj {
		t.Fatal("an object of a file changed since was reused")
	}
	a.SetMaps(p3, nil)
	if len(a.objs) != 0 || len(a.refs) != 0 || len(a.procs) != 0 {
		t.Errorf("all gone: %d objects, %d references, %d processes", len(a.objs), len(a.refs), len(a.procs))
	}
}

// TestAttributorCache: an object is read once, kept while any process
// maps it, dropped when none does, and a file replaced under the same
// path is another object.
func TestAttributorCache(t *testing.T) {
	fx := buildAttrib(t)
	m, rip := libMapMapping(t, fx.lib)
	mem := fakeMem{m.Start: make([]byte, 0x10000)}

	// Process ids above pid_max: no /proc entries to fall back on.
	const p1, p2 = 1<<22 + 1, 1<<22 + 2
	a := NewAttributor()
	a.SetMaps(p1, []Mapping{m})
	a.SetMaps(p2, []Mapping{m})
	at1 := a.Attribute(p1, mem, rip, 0, 0)
	at2 := a.Attribute(p2, mem, rip, 0, 0)
	if at1.Site.Symbol != "lib_map" || at1.Site.Offset != 0 || at2.Site != at1.Site || at1.Class != ClassProgram || at1.How != HowSite {
		t.Fatalf("attributions %v and %v, want the site lib_map+0", at1, at2)
	}
	key := attribKey{fx.lib, "fe:00", m.Inode}
	obj := a.objs[key]
	if len(a.objs) != 1 || obj == nil {
		t.Fatalf("%d objects cached", len(a.objs))
	}
	a.SetMaps(p1, []Mapping{m}) // unchanged layout: the same object
	a.SetMaps(p1, nil)          // process 1 gone; 2 still maps it
	if a.objs[key] != obj {
		t.Fatal("object dropped or read again while mapped")
	}
	// Same path, another inode (the file was replaced): another object.
	m2 := m
	m2.Inode++
	a.SetMaps(p2, []Mapping{m2})
	if len(a.objs) != 0 || len(a.refs) != 1 {
		t.Fatalf("after the old file's last mapping went: %d objects, %d references", len(a.objs), len(a.refs))
	}
	at := a.Attribute(p2, mem, rip, 0, 0)
	if at.Site.Symbol != "" || at.Site.Object != fx.lib {
		// The path now names a file with another inode than the
		// mapping's, and map_files has no such mapping: no symbols
		// rather than another file's.
		t.Errorf("replaced file: site %v", at.Site)
	}
	a.SetMaps(p2, nil)
	if len(a.objs) != 0 || len(a.refs) != 0 || len(a.procs) != 0 {
		t.Errorf("all gone: %d objects, %d references, %d processes", len(a.objs), len(a.refs), len(a.procs))
	}
}

// copyFixture copies a built fixture to a new temporary directory under
// name, and returns the copy's path and contents.
func copyFixture(t *testing.T, src, name string) (string, []byte) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst, data
}

// libMapMapping maps the attribution fixture's library lib as one
// executable mapping at 0x10000 and returns it, with an address inside
// lib_map.
func libMapMapping(t *testing.T, lib string) (Mapping, uint64) {
	t.Helper()
	s, err := loader.OpenSymbols(lib)
	if err != nil {
		t.Fatal(err)
	}
	sym, _ := s.Find("lib_map")
	var text loader.Segment
	for _, g := range s.Segments {
		if g.Flags&elf.PF_X != 0 {
			text = g
		}
	}
	fi, err := os.Stat(lib)
	if err != nil {
		t.Fatal(err)
	}
	const start = 0x10000
	off := text.Offset &^ 0xfff
	m := Mapping{Range: region.Range{Start: start, End: start + 0x10000}, Perms: "r-xp", Offset: off,
		Dev: "fe:00", Inode: fi.Sys().(*syscall.Stat_t).Ino, Path: lib}
	return m, start + (sym.Value - text.Vaddr + text.Offset - off) + 2
}
