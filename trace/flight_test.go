package trace

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mmapguard/mmapguard/region"
)

// TestFlightOverCountsAsLanding: a flight that holdForFlights finds over
// (its task blocked in another call) and drops must count as a landing
// for othersInFlight, like one that lands at its task's stop: the
// flier's call may have run after the copy of a fork whose event is
// handled next (a MAP_FIXED decided, then the fork copied the
// reservation, then the call ran). Dropped silently, the fork was taken
// for one with nothing in flight, and the child got a copy of the model,
// which has the program's mapping where the child has the reservation.
func TestFlightOverCountsAsLanding(t *testing.T) {
	// A task blocked in a call other than its flight's: sleep in
	// clock_nanosleep.
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	flier := cmd.Process.Pid
	for i := 0; ; i++ {
		b, _ := exec.Command("cat", "/proc/"+strconv.Itoa(flier)+"/syscall").Output()
		if f := strings.Fields(string(b)); len(f) > 0 && f[0] != "running" && f[0] != "-1" {
			break
		}
		if i == 200 {
			t.Fatal("sleep never blocked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr := &tracer{tasks: map[int]*task{}}
	sp := &space{}
	at := region.Range{Start: 0x7ff00000, End: 0x7ff04000}
	forker := &task{tid: 1 << 30, sp: sp}
	f := &task{tid: flier, sp: sp, flight: at, flightNr: [2]uint64{unix.SYS_MMAP, unix.SYS_MMAP}}
	w := &task{tid: 1<<30 + 1, sp: sp}
	for _, tk := range []*task{forker, f, w} {
		tr.tasks[tk.tid] = tk
	}
	sp.fliers = []*task{f}
	// The forker was resumed after the flight began, and nothing has
	// landed since.
	forker.landMark = sp.landed
	if !tr.othersInFlight(forker) {
		t.Fatal("a flight in the list is not seen")
	}
	// Another task's madvise over the same pages: the flier is found
	// past its call.
	si := syscallInfo{arch: auditArchX86_64, nr: unix.SYS_MADVISE, args: [6]uint64{at.Start, at.Len(), unix.MADV_NORMAL}}
	if tr.holdForFlights(w, si) {
		t.Fatal("held for a flight whose task is blocked in another call")
	}
	if len(sp.fliers) != 0 {
		t.Fatalf("fliers %v", sp.fliers)
	}
	if !tr.othersInFlight(forker) {
		t.Error("a flight that ended since the forker was resumed, found over by holdForFlights, is not counted: a fork event handled now is taken for one with nothing in flight")
	}
}
