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
	case bytes.HasPrefix(head, []byte("#!")):
		// The kernel refuses a #! line without an interpreter (or
		// one that is too long) with ENOEXEC.
		interp, _ := shebang(head)
		if interp == "" {
			return path + "'s #! line names no interpreter: write it after the #! (e.g. #!/bin/sh)."
		}
		if ih, err := fileHead(interp, 4); err == nil && !bytes.HasPrefix(ih, []byte(elf.ELFMAG)) && !bytes.HasPrefix(ih, []byte("#!")) {
			return fmt.Sprintf("%s's #! line names %s, which the kernel cannot run (neither an ELF program nor a script with a #! line of its own): give %s a #! line, or name its interpreter instead.", path, interp, interp)
		}
		return fmt.Sprintf("The kernel refused the #! line of %s: it may be longer than the kernel takes (255 bytes); shorten it.", path)
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
	return missingInterp(path, 0)
}

// missingInterp is missingInterpHint for a script that depth scripts
// name as their interpreter (the kernel follows up to four).
func missingInterp(path string, depth int) string {
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
		var crlf bool
		if interp, crlf = shebang(head); interp == "" {
			return ""
		}
		if _, err := os.Stat(interp); err != nil && crlf {
			// The kernel ends the name at a blank or the newline
			// only: "/bin/sh\r" is looked for.
			return fmt.Sprintf("%s has Windows line endings (CRLF): its #! line names %q, with a carriage return, which does not exist; convert the file to Unix line endings (dos2unix %s, or sed -i 's/\\r$//' %s).", path, interp, path, path)
		}
		what, fix = "its #! line", "install it, or correct the #! line"
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
		if depth < 4 {
			// A script as interpreter: its own may be missing.
			if h := missingInterp(interp, depth+1); h != "" {
				return fmt.Sprintf("%s names %s in %s, a script: %s", path, interp, what, h)
			}
		}
		return ""
	}
	return fmt.Sprintf("%s exists, but %s names %s, which does not: %s.", path, what, interp, fix)
}

// shebang returns the interpreter a script's #! line names, as the
// kernel reads it: after blanks, up to the next blank or the newline;
// crlf says the name ends in a carriage return (which the kernel keeps).
func shebang(head []byte) (interp string, crlf bool) {
	line, _, _ := bytes.Cut(head[2:], []byte("\n"))
	line = bytes.TrimLeft(line, " \t")
	if i := bytes.IndexAny(line, " \t"); i >= 0 {
		line = line[:i]
	}
	return string(line), bytes.HasSuffix(line, []byte("\r"))
}

// fileHead returns up to n bytes from the start of the file name.
func fileHead(name string, n int) ([]byte, error) {
	f, err := plainfile.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read-only: a failed close loses nothing
	b := make([]byte, n)
	k, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:k], nil
}
