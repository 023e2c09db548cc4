package main

import (
	"bytes"
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/plainfile"
	"github.com/mmapguard/mmapguard/internal/procfile"
)

// foregroundPgrp returns the foreground process group of the
// controlling terminal; an error when there is none.
func foregroundPgrp() (int, error) {
	tty, err := plainfile.OpenFile("/dev/tty", os.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tty.Close() }()
	return unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
}

// hasTerminal reports whether mmapguard has a controlling terminal. It
// keeps the answer for its run: a process gets one only by opening a
// terminal as its session's leader, which mmapguard never does (its
// opens of /dev/tty say O_NOCTTY), and the program, another process,
// cannot give mmapguard one. It can lose one, though: when its
// session's leader ends (a nohup'd job after its terminal hung up), the
// answer is then out of date (see docs/run.md, Signals).
//
// The kernel says so in /proc/self/stat: tty_nr, the device number of
// the controlling terminal, 0 for none. An open of /dev/tty (ENXIO
// without one) is the fallback: where /dev has no such node (a
// sandbox's or a container's /dev of its own) it fails with ENOENT,
// which says nothing, and was taken for a terminal: a kill -TTIN of a
// setsid'd mmapguard was then discarded by the kernel, and the
// program's handler never ran (TestRunJobSignalsWithoutDevTTY).
func hasTerminal() bool {
	var buf [512]byte
	if b, err := procfile.ReadInto("/proc/self/stat", buf[:0]); err == nil {
		// pid (comm) state ppid pgrp session tty_nr ...; comm may
		// hold spaces and parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 4 {
				return f[4] != "0"
			}
		}
	}
	fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		// ENXIO: no controlling terminal. Another error (a /dev
		// without the node, no descriptor left) says nothing: taken
		// for a terminal, as before.
		return !errors.Is(err, unix.ENXIO)
	}
	_ = unix.Close(fd)
	return true
}

// hangUpAsLeader does, at the end of the first program's process, what
// the kernel does at a session leader's exit, when mmapguard leads its
// session in the program's place (script(1), ssh -t, a terminal
// emulator's child): the terminal's foreground process group gets
// SIGHUP, and the session loses its terminal (TIOCNOTTY by the leader,
// which sends SIGCONT after the SIGHUP as well, where a leader's exit on
// a pseudo-terminal sends SIGHUP alone). Natively the program led the
// session, and a process it left in the foreground group (`sh -c
// 'sleep 60 &'`) ended with it; under the guard it ran on, and kept the
// session, and mmapguard, waiting until it ended.
func hangUpAsLeader() {
	if sid, err := unix.Getsid(0); err != nil || sid != os.Getpid() {
		return
	}
	fd, err := unix.Open("/dev/tty", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return // no terminal, or hung up already
	}
	defer func() { _ = unix.Close(fd) }()
	_ = unix.IoctlSetInt(fd, unix.TIOCNOTTY, 0)
}
