package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"io"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// startIgnored returns the signals mmapguard was started with ignored,
// which the program must start with ignored too: a shell's `trap ”
// PIPE`, a background job's SIGINT and SIGQUIT, nohup's SIGHUP, and
// systemd's SIGPIPE (IgnoreSIGPIPE=yes) pass on across exec.
//
// Before any of mmapguard's code runs, the Go runtime puts its own
// handler on nearly every signal (it leaves only SIGHUP and SIGINT
// ignored), and a signal with a handler reaches a child as SIG_DFL. The
// dispositions mmapguard started with survive only in the runtime's
// table runtime.fwdSig, which is read here from mmapguard's own memory,
// at the address its symbol table gives. In a binary without a symbol
// table (built with -ldflags=-s) only SIGHUP and SIGINT are found.
//
// SIGCHLD and SIGURG are left out: the tracer must see its children's
// exits, and the runtime preempts goroutines with SIGURG (the default
// action of both is to ignore them anyway).
func startIgnored() []os.Signal {
	var sigs []os.Signal
	table := fwdSig()
	for s := syscall.Signal(1); s < 65; s++ {
		switch {
		case s == syscall.SIGKILL || s == syscall.SIGSTOP || s == syscall.SIGCHLD || s == syscall.SIGURG:
		case s == syscall.SIGHUP || s == syscall.SIGINT:
			// Left ignored by the runtime: no table needed.
			if signal.Ignored(s) {
				sigs = append(sigs, s)
			}
		case table != nil && table[s] == sigIgn, kernelIgnored(s):
			sigs = append(sigs, s)
		}
	}
	return sigs
}

// splitIgnored splits the forwarded signals into those to catch at
// once and those mmapguard was started with ignored (see startIgnored).
func splitIgnored(forwarded, ignored []os.Signal) (now, later []os.Signal) {
	for _, s := range forwarded {
		if slices.Contains(ignored, s) {
			later = append(later, s)
		} else {
			now = append(now, s)
		}
	}
	return now, later
}

const (
	sigDfl = 0
	sigIgn = 1
	nsig   = 65 // _NSIG on linux/amd64: fwdSig's length
)

// fwdSig reads the Go runtime's runtime.fwdSig: for each signal, the
// disposition mmapguard was started with. It returns nil where that
// cannot be done with confidence (no symbol table, a table of another
// shape, or a value other than SIG_DFL and SIG_IGN, the only ones exec
// leaves).
func fwdSig() *[nsig]uint64 {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	symtab := f.SectionByType(elf.SHT_SYMTAB)
	if symtab == nil || int(symtab.Link) >= len(f.Sections) {
		return nil
	}
	strtab := f.Sections[symtab.Link]
	// Two symbols are wanted among thousands: read the table in
	// chunks, and compare names only for entries of the kinds and sizes
	// they have, reading each such name on its own.
	const entSize = 24 // Elf64_Sym
	var table, self uint64
	tableName, selfName := []byte("runtime.fwdSig"), []byte("main.startIgnored")
	name := make([]byte, max(len(tableName), len(selfName))+1)
	buf := make([]byte, 512*entSize)
	r := symtab.Open()
	for done := false; !done; {
		n, err := io.ReadFull(r, buf)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			done = true
		} else if err != nil {
			return nil
		}
		for off := 0; off+entSize <= n; off += entSize {
			e := buf[off : off+entSize]
			kind := elf.SymType(e[4] & 0xf)
			size := binary.LittleEndian.Uint64(e[16:])
			var want []byte
			switch {
			case kind == elf.STT_OBJECT && size == nsig*8 && table == 0:
				want = tableName
			case kind == elf.STT_FUNC && self == 0 && f.Type == elf.ET_DYN:
				want = selfName
			default:
				continue
			}
			nm := name[:len(want)+1]
			if _, err := strtab.ReadAt(nm, int64(binary.LittleEndian.Uint32(e[0:]))); err != nil {
				continue
			}
			if !bytes.Equal(nm[:len(want)], want) || nm[len(want)] != 0 {
				continue
			}
			if v := binary.LittleEndian.Uint64(e[8:]); kind == elf.STT_OBJECT {
				table = v
			} else {
				self = v
			}
			if table != 0 && (self != 0 || f.Type != elf.ET_DYN) {
				done = true
				break
			}
		}
	}
	if table == 0 {
		return nil
	}
	if f.Type == elf.ET_DYN {
		// A position-independent mmapguard: the table moved with it.
		if self == 0 {
			return nil
		}
		table += uint64(reflect.ValueOf(startIgnored).Pointer()) - self
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		return nil
	}
	defer func() { _ = mem.Close() }()
	var raw [nsig * 8]byte
	if n, err := unix.Pread(int(mem.Fd()), raw[:], int64(table)); err != nil || n != len(raw) {
		return nil
	}
	var t [nsig]uint64
	for i := range t {
		t[i] = binary.LittleEndian.Uint64(raw[8*i:])
		if t[i] != sigDfl && t[i] != sigIgn {
			return nil
		}
	}
	return &t
}
