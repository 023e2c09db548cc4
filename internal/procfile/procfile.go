// Package procfile reads the small files of /proc (a process's status,
// stat, auxv or syscall; a sysctl) with plain system calls.
//
// os.ReadFile registers every file it opens with the runtime's poller:
// the first open creates the poller itself (epoll_create1, an eventfd,
// epoll_ctl), and each later one makes an epoll_ctl that a /proc file
// refuses, or, for a sysctl file (which supports poll), an epoll_ctl
// to add it and another to remove it at close. mmapguard reads these
// files while it starts the program, and while traced processes wait
// in their stops; it never waits on them.
package procfile

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"syscall"
)

// Read returns the contents of the file name. Its errors are
// *os.PathError, as os.ReadFile's, so errors.Is finds the errno.
//
// The first buffer holds a whole status file (1.4-1.6 KiB; longer with
// many CPUs or memory nodes), read at each exec: from 512 bytes it took
// four reads and the one that finds the end, from 4 KiB one and that.
func Read(name string) ([]byte, error) {
	return ReadInto(name, make([]byte, 0, 4096))
}

// ReadInto appends the contents of the file name to buf, growing it as
// needed, and returns the result (buf as far as it was filled, with an
// error).
func ReadInto(name string, buf []byte) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return buf, &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer func() { _ = syscall.Close(fd) }() // read only: nothing to lose
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return buf, &os.PathError{Op: "read", Path: name, Err: err}
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// SignalSet returns the union of the signal masks of process pid's
// /proc/PID/status fields keys (SigPnd, ShdPnd, SigBlk, SigIgn, SigCgt:
// bit N-1 for signal N). ok is false if the file cannot be read.
func SignalSet(pid int, keys ...string) (set uint64, ok bool) {
	b, err := Read("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, found := bytes.Cut(line, []byte(":"))
		if !found || !slices.Contains(keys, string(k)) {
			continue
		}
		if m, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64); err == nil {
			set |= m
		}
	}
	return set, true
}
