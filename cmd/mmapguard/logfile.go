package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/internal/plainfile"
)

// logFile is run's -o file. It is opened before the program starts, so
// that a path that cannot be written is found then, but an existing file
// keeps its contents until the first write: a run that ends before the
// program has run (exec refused, the tracer refused) leaves it as it
// was, and removes only a file it created itself. Never removing what
// was there matters beyond a user's old log: as root, -o /dev/null is
// a device that must stay.
type logFile struct {
	f       *os.File
	created bool // the open created the file
	trunc   bool // a regular file with contents that are not yet dropped
	written bool // something was written
}

// openLog opens name for writing, creating it if need be, without
// truncating it.
func openLog(name string) (*logFile, error) {
	f, err := plainfile.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err == nil {
		return &logFile{f: f, created: true}, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// It exists (a file, or a device or pipe such as /dev/stderr): open
	// it as it is. (A symbolic link to nothing exists too: its target
	// is created, and not removed.)
	f, err = plainfile.OpenFile(name, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = plainfile.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o666)
	}
	if errors.Is(err, unix.ENXIO) {
		// A socket cannot be opened, not even through /proc/self/fd:
		// -o /dev/stderr of a systemd service (its output goes to the
		// journal through a socket) failed, and the program did not
		// run. The socket mmapguard writes to already is written to
		// through that descriptor (TestRunLogToSocketStd).
		if st, serr := os.Stat(name); serr == nil && st.Mode()&fs.ModeSocket != 0 {
			if std := sharedStd(st, name); std != nil {
				return &logFile{f: std}, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if st.IsDir() {
		_ = f.Close()
		return nil, fmt.Errorf("%s: is a directory", name)
	}
	if st.Mode().IsRegular() {
		if std := sharedStd(st, name); std != nil {
			_ = f.Close()
			return &logFile{f: std}, nil
		}
	}
	return &logFile{f: f, trunc: st.Mode().IsRegular() && st.Size() > 0}, nil
}

// sharedStd returns a duplicate of mmapguard's standard output or error
// when that is the regular file (or socket) st is (-o /dev/stdout, -o
// /dev/stderr with the output sent to a file, or -o naming the file the
// output goes to), nil otherwise. The program writes there too: the log must go
// through the same open file, at its offset and with its O_APPEND, and
// leave what is there alone. Opened anew, the file was truncated at the
// log's first write and written from offset 0, and the program's output
// was lost under the summary (`mmapguard run -o /dev/stdout -- PROG >
// out.txt`; TestRunLogSharedWithOutput).
//
// Where both are that file, the one name says is taken (-o /dev/stderr
// with > out 2>> out: two open files of one, the second appending): the
// log went through standard output's, at its offset, and wrote over
// what the program had appended to standard error since.
func sharedStd(st os.FileInfo, name string) *os.File {
	want, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	fds := []int{1, 2}
	switch name {
	case "/dev/stderr", "/dev/fd/2", "/proc/self/fd/2":
		fds = []int{2, 1}
	}
	for _, fd := range fds {
		var s syscall.Stat_t
		if syscall.Fstat(fd, &s) != nil || s.Dev != want.Dev || s.Ino != want.Ino {
			continue
		}
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		if err != nil || fl&unix.O_ACCMODE == unix.O_RDONLY {
			continue
		}
		dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			continue
		}
		return os.NewFile(uintptr(dup), st.Name())
	}
	return nil
}

// Write drops the file's old contents before its first write.
func (l *logFile) Write(b []byte) (int, error) {
	if l.trunc {
		if err := l.f.Truncate(0); err != nil {
			return 0, err
		}
		l.trunc = false
	}
	l.written = true
	return l.f.Write(b)
}

// Close closes the file. An existing file that was never written is
// truncated first: the run happened, and its log is empty.
func (l *logFile) Close() error {
	var err error
	if l.trunc {
		err = l.f.Truncate(0)
		l.trunc = false
	}
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Abandon closes the file of a run that failed: a file the open created
// and nothing was written to (the program never ran) is removed, an
// existing one is left as it was.
func (l *logFile) Abandon() {
	_ = l.f.Close()
	if l.created && !l.written {
		_ = os.Remove(l.f.Name())
	}
}
