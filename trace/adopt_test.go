package trace

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/mmapguard/mmapguard/rewrite"
	"golang.org/x/sys/unix"
)

// TestAdoptCreatorKilledAtEvent: a clone event whose creator a SIGKILL
// (another thread's exec, a group exit) took out of its event stop
// after the event was reported, so that its registers cannot be read.
// kcmp then compares the child's memory with whatever the creator has
// left: none once it is past exit_mm, while /proc still shows it
// running (not a zombie, its SIGKILL taken). adopt took that "different"
// for the answer of a live creator and gave a clone(CLONE_VM) child a
// copy of the model of memory that another child shared: that one's
// munmap reached only the old model, and the reservation it left became
// read-write by this child's mprotect (TestEscapeOrphanExec, strict, on
// a loaded machine; escape_orphanexec.c's orphan-clonevm-slowexit makes
// the moment likelier). Here the creator is a live process of its own
// that the tracer has not stopped, as the dying one looks: kcmp says
// "different", and it lives. The child is this test's process, whose
// memory one of its other threads shares, a traced task of the
// creator's space or of another (a child settled so before that got a
// copy); with no sharer, the child is a copy, as of a fork.
func TestAdoptCreatorKilledAtEvent(t *testing.T) {
	creator := exec.Command("sleep", "60")
	if err := creator.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { creator.Process.Kill(); creator.Wait() }()
	child := os.Getpid()
	sharer := otherThread(t)
	if same, ok := sameMM(sharer, child); !ok || !same {
		t.Skipf("kcmp cannot tell that thread %d shares the memory of %d (same %v, ok %v)", sharer, child, same, ok)
	}

	for _, c := range []struct {
		name      string
		sharerIn  string // "creator", "other", or "" for no sharer
		wantSpace string // "creator", "other", or "copy"
	}{
		{"sharer of the creator's space", "creator", "creator"},
		{"sharer settled with a copy", "other", "other"},
		{"no sharer", "", "copy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := testPolicy(t)
			old := &space{guard: rewrite.NewGuard(p), abi: rewrite.ABI64}
			other := &space{guard: rewrite.NewGuard(p), abi: rewrite.ABI64}
			parent := &task{tid: creator.Process.Pid, pid: creator.Process.Pid, sp: old}
			ck := &task{tid: child, born: true}
			tr := &tracer{tasks: map[int]*task{parent.tid: parent, child: ck}, spaces: map[*space]bool{old: true, other: true}, mainPid: -1}
			switch c.sharerIn {
			case "creator":
				tr.tasks[sharer] = &task{tid: sharer, pid: 1 << 22, sp: old}
			case "other":
				tr.tasks[sharer] = &task{tid: sharer, pid: 1 << 22, sp: other}
			}
			if !tr.adopt(ck, parent, unix.PTRACE_EVENT_CLONE) {
				t.Fatalf("adopt killed the child")
			}
			got := "copy"
			switch ck.sp {
			case old:
				got = "creator"
			case other:
				got = "other"
			case nil:
				got = "none"
			}
			if got != c.wantSpace {
				t.Errorf("the child got the space of %s, want %s", got, c.wantSpace)
			}
		})
	}
}

// otherThread returns a thread of this process other than its leader.
func otherThread(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil && tid != os.Getpid() {
			return tid
		}
	}
	t.Skip("this process has one thread")
	return 0
}
