package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
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
//
// It also returns the signal mask mmapguard was started with, for the
// program (nil where it cannot be read, as for the table): the runtime
// unblocks SIGHUP, SIGINT, SIGTERM, SIGCHLD and others on each of its
// threads before any of mmapguard's code runs, and a program started
// from one of them got that mask, not the one it should inherit (a
// SIGTERM a parent blocked for it was delivered). The mask survives in
// runtime.initSigmask, read as runtime.fwdSig is.
func startIgnored() (sigs []os.Signal, mask *unix.Sigset_t) {
	table, initMask := runtimeStart()
	if initMask != nil {
		mask = new(unix.Sigset_t)
		mask.Val[0] = *initMask
	}
	for s := syscall.Signal(1); s < 65; s++ {
		switch {
		case s == syscall.SIGKILL || s == syscall.SIGSTOP || s == syscall.SIGCHLD || s == syscall.SIGURG:
		case s == syscall.SIGHUP || s == syscall.SIGINT:
			// Left ignored by the runtime: no table needed.
			if signal.Ignored(s) {
				sigs = append(sigs, s)
			}
		case table != nil && table[s] == sigIgn:
			sigs = append(sigs, s)
		case (s == syscall.SIGTSTP || s == syscall.SIGTTIN || s == syscall.SIGTTOU) && kernelIgnored(s):
			// The runtime leaves these alone until asked: the kernel
			// still has what mmapguard started with.
			sigs = append(sigs, s)
		}
	}
	return sigs, mask
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

// runtimeStart reads the Go runtime's runtime.fwdSig: for each signal,
// the disposition mmapguard was started with, and runtime.initSigmask,
// the signal mask it was started with. It returns nil for either where
// that cannot be done with confidence (no symbol table, a table of
// another shape, or a value other than SIG_DFL and SIG_IGN, the only
// ones exec leaves).
//
// It runs on the start's path, cold: the ELF headers are read by hand
// with a few preads (debug/elf's parse of every section took a quarter
// of a millisecond there).
func runtimeStart() (fwd *[nsig]uint64, initMask *uint64) {
	// (unix.Open, not os.Open: the os package would start its poller
	// for the file, an epoll instance and an eventfd, on every start.)
	fd, err := unix.Open("/proc/self/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil
	}
	defer func() { _ = unix.Close(fd) }()
	le := binary.LittleEndian
	var eh [64]byte // Elf64_Ehdr
	if n, err := unix.Pread(fd, eh[:], 0); err != nil || n != len(eh) || string(eh[:4]) != elf.ELFMAG ||
		elf.Class(eh[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(eh[elf.EI_DATA]) != elf.ELFDATA2LSB {
		return nil, nil
	}
	typ := elf.Type(le.Uint16(eh[16:]))
	shoff, shentsize, shnum := le.Uint64(eh[40:]), int(le.Uint16(eh[58:])), int(le.Uint16(eh[60:]))
	if shentsize != 64 || shnum == 0 || shnum > 1024 {
		return nil, nil
	}
	sh := make([]byte, shnum*shentsize)
	if n, err := unix.Pread(fd, sh, int64(shoff)); err != nil || n != len(sh) {
		return nil, nil
	}
	section := func(i int) (typ uint32, link uint32, off, size uint64) {
		h := sh[i*shentsize:]
		return le.Uint32(h[4:]), le.Uint32(h[40:]), le.Uint64(h[24:]), le.Uint64(h[32:])
	}
	var symOff, symSize, strOff, strSize uint64
	for i := range shnum {
		t, link, off, size := section(i)
		if elf.SectionType(t) == elf.SHT_SYMTAB && int(link) < shnum {
			symOff, symSize = off, size
			_, _, strOff, strSize = section(int(link))
			break
		}
	}
	if symSize == 0 {
		return nil, nil // stripped
	}
	// Three symbols are wanted among thousands: read the table in
	// chunks, from its end (Go's linker puts the runtime's data symbols
	// in its last fifth), and compare names only for entries of the
	// kinds and sizes they have, reading each such name on its own.
	const entSize = 24 // Elf64_Sym
	var table, maskAddr, self uint64
	tableName, maskName, selfName := []byte("runtime.fwdSig"), []byte("runtime.initSigmask"), []byte("main.startIgnored")
	// The names are read through a window of the string table: those
	// of neighbouring symbols lie near each other there, and a pread
	// for each name of the many 8-byte variables cost a tenth of a
	// millisecond.
	var win [16 << 10]byte
	winOff, winLen := uint64(0), 0
	nameAt := func(off uint64, n int) []byte {
		if off < winOff || off+uint64(n) > winOff+uint64(winLen) {
			winOff = off - min(off, uint64(len(win))/2)
			k, err := unix.Pread(fd, win[:min(uint64(len(win)), strSize-winOff)], int64(strOff+winOff))
			if err != nil || k < 0 {
				k = 0
			}
			winLen = k
			if off < winOff || off+uint64(n) > winOff+uint64(winLen) {
				return nil
			}
		}
		return win[off-winOff : off-winOff+uint64(n)]
	}
	var buf [340 * entSize]byte
	symSize -= symSize % entSize
	for end := symSize; end > 0 && (table == 0 || maskAddr == 0 || typ == elf.ET_DYN && self == 0); {
		start := end - min(uint64(len(buf)), end)
		n, err := unix.Pread(fd, buf[:end-start], int64(symOff+start))
		if err != nil || n != int(end-start) {
			return nil, nil
		}
		end = start
		for off := 0; off < n; off += entSize {
			e := buf[off : off+entSize]
			kind := elf.SymType(e[4] & 0xf)
			size := le.Uint64(e[16:])
			var want []byte
			var addr *uint64
			switch {
			case kind == elf.STT_OBJECT && size == nsig*8 && table == 0:
				want, addr = tableName, &table
			case kind == elf.STT_OBJECT && size == 8 && maskAddr == 0:
				want, addr = maskName, &maskAddr
			case kind == elf.STT_FUNC && self == 0 && typ == elf.ET_DYN:
				want, addr = selfName, &self
			default:
				continue
			}
			nameOff := uint64(le.Uint32(e[0:]))
			if nameOff+uint64(len(want)) >= strSize {
				continue
			}
			nm := nameAt(nameOff, len(want)+1)
			if nm == nil || !bytes.Equal(nm[:len(want)], want) || nm[len(want)] != 0 {
				continue
			}
			*addr = le.Uint64(e[8:])
		}
	}
	if typ == elf.ET_DYN {
		// A position-independent mmapguard: the variables moved with it.
		if self == 0 {
			return nil, nil
		}
		bias := uint64(reflect.ValueOf(startIgnored).Pointer()) - self
		if table != 0 {
			table += bias
		}
		if maskAddr != 0 {
			maskAddr += bias
		}
	}
	if table == 0 && maskAddr == 0 {
		return nil, nil
	}
	mem, err := unix.Open("/proc/self/mem", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil
	}
	defer func() { _ = unix.Close(mem) }()
	if maskAddr != 0 {
		// A sigset of two 32-bit words, signal N at bit N-1.
		var raw [8]byte
		if n, err := unix.Pread(mem, raw[:], int64(maskAddr)); err == nil && n == len(raw) {
			m := le.Uint64(raw[:])
			initMask = &m
		}
	}
	if table == 0 {
		return nil, initMask
	}
	var raw [nsig * 8]byte
	if n, err := unix.Pread(mem, raw[:], int64(table)); err != nil || n != len(raw) {
		return nil, initMask
	}
	var t [nsig]uint64
	for i := range t {
		t[i] = le.Uint64(raw[8*i:])
		if t[i] != sigDfl && t[i] != sigIgn {
			return nil, initMask
		}
	}
	return &t, initMask
}
