package trace

import (
	"fmt"
	"math/bits"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestShmDetachesSysVOnly: shmDetaches takes for System V shared memory
// only mappings on the kernel's own file systems, not a file of the
// program's named like one (found in the sixth session: a program in a
// mount namespace of its own mapped /SYSVfake where the tracer would
// take it for the segment, and the real piece went unseen).
func TestShmDetachesSysVOnly(t *testing.T) {
	const fake = "/SYSVmmapguard-test"
	if err := os.WriteFile(fake, make([]byte, 4096), 0o600); err != nil {
		t.Fatalf("%v (the test runs as root)", err)
	}
	defer func() { _ = os.Remove(fake) }()
	f, err := os.Open(fake)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	b, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Munmap(b) }()
	at := uint64(uintptr(unsafe.Pointer(&b[0])))
	if got, unknown := shmDetaches(os.Getpid(), at); len(got) != 0 || unknown {
		t.Errorf("a file named %s taken for a segment: %v (unknown %v)", fake, got, unknown)
	}

	id, err := unix.SysvShmGet(unix.IPC_PRIVATE, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatal(err)
	}
	seg, err := unix.SysvShmAttach(id, 0, 0)
	_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.SysvShmDetach(seg) }()
	sat := uint64(uintptr(unsafe.Pointer(&seg[0])))
	got, unknown := shmDetaches(os.Getpid(), sat)
	if unknown || len(got) != 1 || got[0].Start != sat || got[0].End != sat+4096 {
		t.Errorf("a real segment at %#x: %v (unknown %v)", sat, got, unknown)
	}
}

// TestShmDetachesHugeSegments: a piece of a SHM_HUGETLB segment is found
// for every huge page size the kernel offers (each lives on an internal
// hugetlbfs of its own; found in the sixth session: 1 GiB pieces went
// unseen and their shmdt left a 1 GiB hole).
func TestShmDetachesHugeSegments(t *testing.T) {
	ents, err := os.ReadDir("/sys/kernel/mm/hugepages")
	if err != nil || len(ents) == 0 {
		t.Fatalf("no huge page sizes in /sys/kernel/mm/hugepages: %v", err)
	}
	for _, e := range ents {
		var kb uint64
		if _, err := fmt.Sscanf(e.Name(), "hugepages-%dkB", &kb); err != nil {
			continue
		}
		size := kb << 10
		t.Run(e.Name(), func(t *testing.T) {
			const shmHugetlb, shmNoreserve = 0o4000, 0o10000
			id, err := unix.SysvShmGet(unix.IPC_PRIVATE, int(size), unix.IPC_CREAT|0o600|shmHugetlb|shmNoreserve|bits.TrailingZeros64(size)<<26)
			if err != nil {
				t.Fatalf("shmget(SHM_HUGETLB, %d): %v", size, err)
			}
			seg, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
			_, _ = unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = unix.SysvShmDetach(seg) }()
			at := uint64(uintptr(unsafe.Pointer(&seg[0])))
			got, unknown := shmDetaches(os.Getpid(), at)
			if unknown || len(got) != 1 || got[0].Start != at || got[0].End != at+size {
				t.Errorf("a %d-byte huge segment at %#x: %v (unknown %v)", size, at, got, unknown)
			}
		})
	}
}
