package main

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/mmapguard/mmapguard/internal/plainfile"
)

// execFormatHint says why the kernel refused to exec path with ENOEXEC
// (exec format error) and what to do, from what the file holds: a
// shell script without a #! line, an ELF file for another machine or
// cut short, a Windows program, or nothing.
func execFormatHint(path string) string {
	const generic = "Give a program the kernel can run (an ELF binary for this machine, or a script starting with #!)."
	f, err := plainfile.Open(path)
	if err != nil {
		return generic
	}
	defer func() { _ = f.Close() }() // read-only: a failed close loses nothing
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	switch {
	case n == 0:
		return path + " is empty: give the program itself."
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		ef, err := elf.NewFile(f)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Sprintf("%s is an ELF file cut short: build or copy it again.", path)
		}
		if err != nil {
			return fmt.Sprintf("%s is a broken ELF file (%v): it may be cut short; build or copy it again.", path, err)
		}
		if ef.Class != elf.ELFCLASS64 || ef.Machine != elf.EM_X86_64 {
			return fmt.Sprintf("%s is an ELF file for %v (%v), not for this machine (x86-64): run it on its own kind of machine, or under an emulator such as qemu-user.", path, ef.Machine, ef.Class)
		}
		if ef.Type != elf.ET_EXEC && ef.Type != elf.ET_DYN {
			return fmt.Sprintf("%s is an ELF %v, not a program: link it into one.", path, ef.Type)
		}
		return fmt.Sprintf("The kernel refused %s, an x86-64 ELF program: it may be damaged (readelf -lW %s shows its segments); build or copy it again.", path, path)
	case bytes.HasPrefix(head, []byte("MZ")):
		return path + " is a Windows program: run it with Wine (mmapguard run ... -- wine " + path + ")."
	case utf8.Valid(head) && !bytes.ContainsRune(head, 0):
		return path + " looks like a script without a #! line (a shell runs such a file itself, execve does not): make its first line #!/bin/sh (or its interpreter's), or run the interpreter: mmapguard run ... -- sh " + path + "."
	}
	return generic
}

// missingInterpHint says which interpreter is missing when the kernel
// found path but answered its exec with ENOENT: the interpreter its #!
// line names, or an ELF program's loader (PT_INTERP); "" when neither
// is missing.
func missingInterpHint(path string) string {
	f, err := plainfile.Open(path)
	if err != nil {
		return ""
	}
	defer func() { _ = f.Close() }() // read-only: a failed close loses nothing
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	var interp, what, fix string
	switch {
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bytes.Cut(head[2:], []byte("\n"))
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			return ""
		}
		interp, what, fix = fields[0], "its #! line", "install it, or correct the #! line"
	case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
		ef, err := elf.NewFile(f)
		if err != nil {
			return ""
		}
		for _, p := range ef.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err == nil {
					interp = strings.TrimRight(string(b), "\x00")
				}
			}
		}
		what, fix = "its ELF interpreter (PT_INTERP)", "install the C library it was built for, or run it on the system it was built for"
	}
	if interp == "" {
		return ""
	}
	if _, err := os.Stat(interp); err == nil {
		return ""
	}
	return fmt.Sprintf("%s exists, but %s names %s, which does not: %s.", path, what, interp, fix)
}
