package bench

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFarCallsDoNotStop: mmap(NULL)/munmap pairs far from any protected
// range are settled by the filter in the kernel. Under mmapguard
// --protect 0x10000-0x80000000 the stops of a run of callbench's "far"
// loop in 4 threads must not grow with the number of iterations: the
// same count for 1,000 and for 20,000 iterations (the few there are come
// from start-up, not from the loop), and few.
func TestFarCallsDoNotStop(t *testing.T) {
	bins := build(t)
	dir := t.TempDir()
	stops := map[int]uint64{}
	for _, n := range []int{1000, 20000} {
		log := filepath.Join(dir, "log"+strconv.Itoa(n))
		argv := guardedWithLog(bins, log, mappingHeavy(bins, n)...)
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		stops[n] = summaryStops(t, log)
	}
	t.Logf("stops: %d for 1,000 iterations, %d for 20,000 (4 threads)", stops[1000], stops[20000])
	if stops[1000] != stops[20000] {
		t.Errorf("stops %d for 1,000 iterations but %d for 20,000: the loop's far calls stop in the tracer",
			stops[1000], stops[20000])
	}
	// callbench makes no mapping call near the protected range; its
	// start-up (ld.so, libc, 4 thread stacks) needs none to stop either.
	if stops[20000] > 8 {
		t.Errorf("%d stops: want a handful at most", stops[20000])
	}
}

// TestPoolAllPlacesInPool runs callbench's "pool" loop under the
// reference C tracer (ctracer -p) and under mmapguard --pool-all, in 1
// and in 8 threads: callbench checks that every mapping lies in the
// default pool and fails otherwise. Both tracers must stop at least for
// every mmap and every munmap of the loop (they trap the same calls), and
// without a tracer the same check must fail (so it proves something).
func TestPoolAllPlacesInPool(t *testing.T) {
	bins := build(t)
	const n = 300
	if out, err := exec.Command(bins["callbench"], "pool", "10", "1").CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "mapped outside the pool") {
		t.Fatalf("callbench pool without a tracer: %v, %q; want it to report a mapping outside the pool", err, out)
	}
	for _, threads := range []int{1, 8} {
		args := []string{"pool", strconv.Itoa(n), strconv.Itoa(threads)}
		want := uint64(2 * n * threads)

		cmd := exec.Command(bins["ctracer"], append([]string{"-p", bins["callbench"]}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("ctracer, %d threads: %v\n%s%s", threads, err, out.String(), errb.String())
		}
		var cstops, cexits uint64
		for _, l := range strings.Split(errb.String(), "\n") {
			f := strings.Fields(l)
			if len(f) == 5 && f[0] == "ctracer" && f[1] == "stops" && f[3] == "exits" {
				cstops, _ = strconv.ParseUint(f[2], 10, 64)
				cexits, _ = strconv.ParseUint(f[4], 10, 64)
			}
		}
		if cstops < want || cexits < want {
			t.Errorf("ctracer, %d threads: %d seccomp stops and %d exit stops, want at least %d of each; stderr:\n%s",
				threads, cstops, cexits, want, errb.String())
		}

		log := filepath.Join(t.TempDir(), "log")
		argv := append([]string{bins["mmapguard"], "run", "-q", "-o", log, "--pool-all", "--protect", "0x10000-0x80000000", "--",
			bins["callbench"]}, args...)
		if o, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("mmapguard, %d threads: %v\n%s", threads, err, o)
		}
		mstops := summaryStops(t, log)
		if mstops < want {
			t.Errorf("mmapguard, %d threads: %d stops, want at least %d", threads, mstops, want)
		}
		t.Logf("%d threads x %d iterations: ctracer %d seccomp stops (%d exit stops), mmapguard %d stops",
			threads, n, cstops, cexits, mstops)
	}
}
