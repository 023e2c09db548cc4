// Package plainfile opens files as *os.File without the runtime's
// poller.
//
// os.Open and os.OpenFile register every file with the poller, and the
// first registration creates the poller itself: an epoll instance and an
// eventfd. Under a descriptor limit that leaves no room for those two
// (ulimit -n 7, where the file itself still fits), the runtime does not
// return an error but dies with "fatal error: runtime: eventfd failed"
// and a stack dump. mmapguard never waits on the files it opens (logs,
// ELF objects, /proc), so it opens them here, as blocking descriptors
// that the os package leaves to plain system calls: the limit then gives
// the usual EMFILE, which mmapguard can explain.
package plainfile

import (
	"os"
	"syscall"
)

// OpenFile is os.OpenFile without the poller; flag and perm are as for
// os.OpenFile (O_CLOEXEC is added). A descriptor opened with O_NONBLOCK
// (to open a FIFO without waiting for a writer) is made blocking before
// it is wrapped, or the os package would register it after all. Its
// errors are *os.PathError, as os.OpenFile's.
func OpenFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(name, flag|syscall.O_CLOEXEC, syscallMode(perm))
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	if flag&syscall.O_NONBLOCK != 0 {
		if err := syscall.SetNonblock(fd, false); err != nil {
			_ = syscall.Close(fd)
			return nil, &os.PathError{Op: "fcntl", Path: name, Err: err}
		}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Open opens name for reading, as os.Open without the poller.
func Open(name string) (*os.File, error) {
	return OpenFile(name, os.O_RDONLY, 0)
}

// syscallMode converts perm's permission, setuid, setgid and sticky bits
// to the open system call's mode.
func syscallMode(perm os.FileMode) uint32 {
	m := uint32(perm.Perm())
	if perm&os.ModeSetuid != 0 {
		m |= syscall.S_ISUID
	}
	if perm&os.ModeSetgid != 0 {
		m |= syscall.S_ISGID
	}
	if perm&os.ModeSticky != 0 {
		m |= syscall.S_ISVTX
	}
	return m
}
