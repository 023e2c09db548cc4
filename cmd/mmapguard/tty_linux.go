package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// foregroundPgrp returns the foreground process group of the
// controlling terminal; an error when there is none.
func foregroundPgrp() (int, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tty.Close() }()
	return unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
}
