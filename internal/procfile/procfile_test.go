package procfile

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestRead(t *testing.T) {
	// A file larger than the first buffer, whose size stat gives:
	// read whole, as os.ReadFile reads it.
	want := bytes.Repeat([]byte("0123456789abcdef"), 10000)
	name := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(name, want, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Read(name)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("Read = %d bytes, %v; want %d bytes", len(got), err, len(want))
	}
	// A /proc file, whose size stat gives as 0.
	got, err = Read("/proc/self/status")
	if err != nil || !bytes.Contains(got, []byte("\nVmPeak:")) || !bytes.HasSuffix(got, []byte("\n")) {
		t.Fatalf("Read(/proc/self/status) = %q, %v", got, err)
	}
	// ReadInto appends.
	got, err = ReadInto("/proc/sys/kernel/ostype", []byte("os "))
	if err != nil || string(got) != "os Linux\n" {
		t.Fatalf("ReadInto = %q, %v", got, err)
	}
}

func TestReadErrors(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "none"))
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) || !errors.As(err, &pe) || pe.Op != "open" {
		t.Errorf("Read of a missing file: %v, want an open *PathError for ENOENT", err)
	}
	_, err = Read(t.TempDir())
	if !errors.Is(err, syscall.EISDIR) || !errors.As(err, &pe) || pe.Op != "read" {
		t.Errorf("Read of a directory: %v, want a read *PathError for EISDIR", err)
	}
}

// TestSignalSet: the Go runtime catches SIGURG (its preemption signal)
// and leaves SIGKILL alone; a process that does not exist cannot be read.
func TestSignalSet(t *testing.T) {
	set, ok := SignalSet(os.Getpid(), "SigCgt", "SigIgn")
	if !ok {
		t.Fatal("own status not read")
	}
	if bit := uint64(1) << (uint(syscall.SIGURG) - 1); set&bit == 0 {
		t.Errorf("SigCgt|SigIgn %#x lacks SIGURG", set)
	}
	if bit := uint64(1) << (uint(syscall.SIGKILL) - 1); set&bit != 0 {
		t.Errorf("SigCgt|SigIgn %#x has SIGKILL", set)
	}
	if _, ok := SignalSet(1<<30, "SigCgt"); ok {
		t.Error("the status of no process was read")
	}
}
