package rewrite

import (
	"testing"

	"github.com/mmapguard/mmapguard/region"
)

// TestPoolGivenBackAfterItsThread: pool space a thread's call gives back
// (an munmap turned into a reservation, a failed mmap's chunk reserved
// again) is not handed out again until that thread has made its next
// call, exited (Settle) or forked a child (whose copy has it free): the
// reservation over it is a call the thread makes after the decision, and
// would land on another thread's new mapping there.
func TestPoolGivenBackAfterItsThread(t *testing.T) {
	const n = 64 * page
	alloc := func(t *testing.T, g *Guard, task int) region.Range {
		t.Helper()
		a := g.Decide(mmap(0, n, protRW, anonPriv, ^uint64(0), 0), Caller{Task: task})
		if a.Outcome != Rerouted {
			t.Fatalf("task %d: mmap(NULL) not rerouted: %v", task, a)
		}
		r := region.Range{Start: a.Steps[0].Call.Args[0], End: a.Steps[0].Call.Args[0] + n}
		g.Complete(a, r.Start)
		checkModel(t, g)
		return r
	}
	unmap := func(t *testing.T, g *Guard, task int, r region.Range) {
		t.Helper()
		a := g.Decide(call64(sysMunmap64, r.Start, r.Len()), Caller{Task: task})
		if a.Verdict != Run || steps(a) != reservation(ABI64, r, MapFixed).String() {
			t.Fatalf("task %d: munmap %v: %v", task, r, a)
		}
		checkModel(t, g)
	}

	t.Run("munmap", func(t *testing.T) {
		g := newGuard(t, opts{poolAll: true})
		x := alloc(t, g, 1)
		unmap(t, g, 1, x)
		if y := alloc(t, g, 2); y.Overlaps(x) {
			t.Fatalf("task 2 got %v while task 1's reservation of %v may be on its way", y, x)
		}
		// Task 1's next call: its reservation is there.
		if y := alloc(t, g, 1); y != x {
			t.Errorf("task 1's next mmap got %v, want its old chunk %v", y, x)
		}
	})

	t.Run("exit", func(t *testing.T) {
		g := newGuard(t, opts{poolAll: true})
		x := alloc(t, g, 1)
		unmap(t, g, 1, x)
		g.Settle(1)
		if y := alloc(t, g, 2); y != x {
			t.Errorf("after task 1 is gone, task 2 got %v, want %v", y, x)
		}
	})

	t.Run("failed mmap", func(t *testing.T) {
		g := newGuard(t, opts{poolAll: true})
		a := g.Decide(mmap(0, n, protRW, MapPrivate, anyFd, 0), Caller{Task: 1})
		if a.Outcome != Rerouted || !a.Exit {
			t.Fatalf("file mmap(NULL) not rerouted: %v", a)
		}
		x := region.Range{Start: a.Steps[0].Call.Args[0], End: a.Steps[0].Call.Args[0] + n}
		fix := g.Complete(a, Err(EBADF))
		if len(fix.After) != 1 || fix.After[0].String() != reservation(ABI64, x, MapFixed).String() {
			t.Fatalf("rollback of %v: After %v", x, fix.After)
		}
		if y := alloc(t, g, 2); y.Overlaps(x) {
			t.Fatalf("task 2 got %v before task 1 reserved %v again", y, x)
		}
		g.Settle(1)
		if y := alloc(t, g, 2); y != x {
			t.Errorf("after task 1's reservation, task 2 got %v, want %v", y, x)
		}
	})

	t.Run("given back twice", func(t *testing.T) {
		// Task 1 gives x back; task 2 maps x itself (MAP_FIXED) and
		// gives it back too before task 1 is seen again: x waits for
		// both.
		g := newGuard(t, opts{poolAll: true})
		x := alloc(t, g, 1)
		unmap(t, g, 1, x)
		a := g.Decide(mmap(x.Start, n, protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 2})
		g.Complete(a, x.Start)
		unmap(t, g, 2, x)
		g.Settle(1)
		if y := alloc(t, g, 3); y.Overlaps(x) {
			t.Fatalf("task 3 got %v while task 2's reservation of %v may be on its way", y, x)
		}
		g.Settle(2)
		if y := alloc(t, g, 3); y != x {
			t.Errorf("after both, task 3 got %v, want %v", y, x)
		}
	})

	t.Run("mapped meanwhile", func(t *testing.T) {
		// What the program maps itself before the space settles stays
		// its own.
		g := newGuard(t, opts{poolAll: true})
		x := alloc(t, g, 1)
		unmap(t, g, 1, x)
		a := g.Decide(mmap(x.Start, n, protRW, anonPriv|MapFixed, ^uint64(0), 0), Caller{Task: 2})
		g.Complete(a, x.Start)
		g.Settle(1)
		if y := alloc(t, g, 3); y.Overlaps(x) {
			t.Fatalf("task 3 got %v over the program's own mapping %v", y, x)
		}
	})

	t.Run("fork", func(t *testing.T) {
		g := newGuard(t, opts{poolAll: true})
		x := alloc(t, g, 1)
		unmap(t, g, 1, x)
		c, _ := g.Fork(ABI64)
		if y := alloc(t, c, 7); y != x {
			t.Errorf("the forked child got %v, want %v (no call of its parent's is under way in it)", y, x)
		}
		if y := alloc(t, g, 2); y.Overlaps(x) {
			t.Errorf("the parent's task 2 got %v while task 1's reservation of %v may be on its way", y, x)
		}
	})
}
