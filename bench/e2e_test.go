package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	buildOnce sync.Once
	bins      map[string]string
	buildErr  error
)

// build compiles mmapguard, callbench and ctracer once per test binary.
func build(tb testing.TB) map[string]string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "mmapguard-bench")
		if err != nil {
			buildErr = err
			return
		}
		bins = map[string]string{
			"mmapguard": filepath.Join(dir, "mmapguard"),
			"callbench": filepath.Join(dir, "callbench"),
			"ctracer":   filepath.Join(dir, "ctracer"),
		}
		steps := [][]string{
			{"go", "build", "-o", bins["mmapguard"], "../cmd/mmapguard"},
			{"cc", "-O2", "-pthread", "-o", bins["callbench"], "testdata/callbench.c"},
			{"cc", "-O2", "-o", bins["ctracer"], "testdata/ctracer.c"},
		}
		for _, s := range steps {
			if out, err := exec.Command(s[0], s[1:]...).CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("%v: %v\n%s", s, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return bins
}

// pinned runs argv on CPU 1 (tracer and tracee on one CPU: cross-CPU
// wake-ups dominate otherwise on this VM) and returns its stdout.
func pinned(tb testing.TB, env []string, argv ...string) string {
	tb.Helper()
	cmd := exec.Command("taskset", append([]string{"-c", "1"}, argv...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%v: %v\n%s%s", argv, err, out.String(), errb.String())
	}
	return out.String()
}

func nsPerIter(tb testing.TB, out string) float64 {
	tb.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "ns/iter "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	tb.Fatalf("no ns/iter in %q", out)
	return 0
}

// BenchmarkTrappedCall: one mmap per iteration whose hint points into the
// protected range 0x10000-0x80000000, rewritten to the kernel's choice
// (the hint dropped), then an munmap the filter lets through. The C
// tracer puts the register back at the call's exit (two stops);
// mmapguard through its code page (one stop, see trace/tramp.go).
// ns/call is callbench's own measure of its loop; compare the
// sub-benchmarks with each other.
func BenchmarkTrappedCall(b *testing.B) {
	compareTracers(b, "hint", nil, []string{"--pool", "none"}, "mmap")
}

// BenchmarkEmulatedCall: one mprotect per iteration aimed at a page of
// the protected range that the program has not mapped (a reservation,
// under mmapguard), answered ENOMEM without running the call: one stop
// per call. The C tracer (-e) answers the same calls the same way;
// strace traces them (and stops again at each exit to print the result).
func BenchmarkEmulatedCall(b *testing.B) {
	compareTracers(b, "deny", []string{"-e"}, nil, "mprotect")
}

// compareTracers runs callbench's workload natively, under the C tracer
// (with ctracerFlags), under mmapguard (with guardFlags and the protected
// range 0x10000-0x80000000) and under strace tracing straceCalls, each
// pinned to one CPU, and reports callbench's own ns per iteration.
func compareTracers(b *testing.B, workload string, ctracerFlags, guardFlags []string, straceCalls string) {
	bins := build(b)
	n := strconv.Itoa(max(b.N, 1000))
	work := []string{bins["callbench"], workload, n}
	guard := append(append([]string{bins["mmapguard"], "run"}, guardFlags...), "--protect", "0x10000-0x80000000", "--")
	runs := []struct {
		name string
		env  []string
		argv []string
	}{
		{"native", []string{"CALLBENCH_NATIVE=1"}, work},
		{"ctracer", nil, append(append([]string{bins["ctracer"]}, ctracerFlags...), work...)},
		{"mmapguard", nil, append(guard, work...)},
		{"strace", []string{"CALLBENCH_NATIVE=1"}, append([]string{"strace", "-f", "--seccomp-bpf", "-e", "trace=" + straceCalls,
			"-o", "/dev/null"}, work...)},
	}
	for _, r := range runs {
		b.Run(r.name, func(b *testing.B) {
			out := pinned(b, r.env, r.argv...)
			b.ReportMetric(nsPerIter(b, out), "ns/call")
		})
	}
}

// BenchmarkFarCalls: mmap(NULL)/munmap pairs in 4 threads, far from any
// protected range: the filter settles them in the kernel, so mmapguard
// must cost next to nothing. ctracer (its "hint" filter, which reads
// mmap's arguments and allows everything else, a tracer attached that
// is never woken) shows the floor any seccomp-and-ptrace guard pays:
// a filter run per mmap and the kernel's slower system call path for a
// task with a filter.
func BenchmarkFarCalls(b *testing.B) {
	bins := build(b)
	n := strconv.Itoa(max(b.N, 1000))
	for _, r := range []struct {
		name string
		argv []string
	}{
		{"native", []string{bins["callbench"], "far", n, "4"}},
		{"ctracer", []string{bins["ctracer"], bins["callbench"], "far", n, "4"}},
		{"mmapguard", []string{bins["mmapguard"], "run", "-o", os.DevNull, "--protect", "0x10000-0x80000000", "--",
			bins["callbench"], "far", n, "4"}},
	} {
		b.Run(r.name, func(b *testing.B) {
			out := pinned(b, []string{"CALLBENCH_NATIVE=1"}, r.argv...)
			b.ReportMetric(nsPerIter(b, out), "ns/call")
		})
	}
}

// BenchmarkStartup measures from just before mmapguard (or the program
// itself, or the C reference tracer with it) is started to the program's
// main, which prints the time: ns/start is the mean over b.N starts.
func BenchmarkStartup(b *testing.B) {
	bins := build(b)
	for _, r := range []struct {
		name string
		argv []string
	}{
		{"native", []string{bins["callbench"], "start"}},
		{"ctracer", []string{bins["ctracer"], bins["callbench"], "start"}},
		{"mmapguard", []string{bins["mmapguard"], "run", "--protect", "0x10000-0x80000000", "--", bins["callbench"], "start"}},
	} {
		b.Run(r.name, func(b *testing.B) {
			var total float64
			for b.Loop() {
				var ts unix.Timespec
				if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
					b.Fatal(err)
				}
				out, err := exec.Command(r.argv[0], r.argv[1:]...).Output()
				if err != nil {
					b.Fatalf("%v: %v", r.argv, err)
				}
				v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "start ")
				at, err := strconv.ParseFloat(v, 64)
				if !ok || err != nil {
					b.Fatalf("output %q", out)
				}
				total += at - float64(ts.Nano())
			}
			b.ReportMetric(total/float64(b.N), "ns/start")
		})
	}
}

// BenchmarkPoolAll: callbench's "pool" loop (mmap(NULL) of 4 to 32 KiB,
// munmap; the same loop as "far") in 1 and in 64 threads, natively, under
// the reference C tracer doing what --pool-all does (ctracer -p: every
// mmap placed in the pool by rewriting its address and adding MAP_FIXED,
// every munmap there replaced by a reservation, registers put back at the
// exits) and under mmapguard --pool-all. Under both tracers callbench
// checks that each mapping lies in the pool and fails otherwise.
// Each thread makes b.N/T iterations (at least 100); ns/call is
// callbench's measure of its loop per iteration (one mmap and one
// munmap, both trapped: two trapped calls, four stops with the exits).
func BenchmarkPoolAll(b *testing.B) {
	bins := build(b)
	for _, threads := range []int{1, 64} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			n := strconv.Itoa(max(b.N/threads, 100))
			t := strconv.Itoa(threads)
			for _, r := range []struct {
				name string
				env  []string
				argv []string
			}{
				{"native", []string{"CALLBENCH_NATIVE=1"}, []string{bins["callbench"], "pool", n, t}},
				{"ctracer", nil, []string{bins["ctracer"], "-p", bins["callbench"], "pool", n, t}},
				{"mmapguard", nil, []string{bins["mmapguard"], "run", "-q", "--pool-all", "--protect", "0x10000-0x80000000", "--",
					bins["callbench"], "pool", n, t}},
			} {
				b.Run(r.name, func(b *testing.B) {
					out := pinned(b, r.env, r.argv...)
					b.ReportMetric(nsPerIter(b, out), "ns/call")
				})
			}
		})
	}
}

// median returns the median of xs (the mean of the middle two for an
// even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// timing is one whole run of a program: its wall time and the CPU time
// (user + system) of its whole process tree, in ns. Under a tracer the
// tree includes the tracer.
type timing struct{ wall, cpu float64 }

// side is one way of running a program: natively, under the C reference
// tracer, under mmapguard.
type side struct {
	name string
	argv []string
}

// rounds collects the timings of runs of several sides made in rounds,
// one run of each side per round; sides[0] is the native one.
type rounds struct {
	sides   []side
	timings [][]timing // [side][round]
}

// run runs every side once, back to back, starting from a side that
// rotates from one round to the next so that a drift in the machine's
// load weighs on all alike; each run's stdout goes to check (with the
// side's index).
func (rs *rounds) run(b *testing.B, check func(side int, out []byte)) {
	b.Helper()
	one := func(i int) timing {
		argv := rs.sides[i].argv
		cmd := exec.Command(argv[0], argv[1:]...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		err := cmd.Run()
		wall := time.Since(t0)
		if err != nil {
			b.Fatalf("%v: %v\n%s%s", argv, err, out.String(), errb.String())
		}
		if check != nil {
			check(i, out.Bytes())
		}
		cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		return timing{float64(wall.Nanoseconds()), float64(cpu.Nanoseconds())}
	}
	if rs.timings == nil {
		rs.timings = make([][]timing, len(rs.sides))
	}
	n := len(rs.sides)
	first := len(rs.timings[0]) % n
	for k := range n {
		i := (first + k) % n
		rs.timings[i] = append(rs.timings[i], one(i))
	}
}

// report reports, for each side, the medians of its wall and CPU times
// (ms), and for each side but the native one its overhead, the median
// over the rounds of side/native - 1 (%): a round's runs are next to
// each other in time, so a change in the machine's load between rounds
// cancels out. With a "ctracer" side, mmapguard's overhead is also
// reported against it (%over-ctracer: guard/ctracer - 1). ns/op, the
// time of a whole round, is suppressed.
func (rs *rounds) report(b *testing.B) {
	b.ReportMetric(0, "ns/op")
	for _, m := range []struct {
		name string
		get  func(timing) float64
	}{
		{"", func(t timing) float64 { return t.wall }},
		{"cpu-", func(t timing) float64 { return t.cpu }},
	} {
		overhead := func(i, base int) float64 {
			var ratio []float64
			for r := range rs.timings[i] {
				if v := m.get(rs.timings[base][r]); v > 0 {
					ratio = append(ratio, m.get(rs.timings[i][r])/v-1)
				}
			}
			return median(ratio) * 100
		}
		g := len(rs.sides) - 1
		for i, sd := range rs.sides {
			var vs []float64
			for _, t := range rs.timings[i] {
				vs = append(vs, m.get(t))
			}
			b.ReportMetric(median(vs)/1e6, sd.name+"-"+m.name+"ms")
			if i > 0 {
				b.ReportMetric(overhead(i, 0), "%"+m.name+sd.name)
			}
			if i > 0 && i != g && strings.HasPrefix(sd.name, "c") {
				// mmapguard (the last side) over a C tracer's side.
				b.ReportMetric(overhead(g, i), "%"+m.name+"over-"+sd.name)
			}
		}
	}
}

// BenchmarkPrograms runs real programs natively, under the C reference
// tracer and under mmapguard (--protect 0x10000-0x80000000, default
// pool), not pinned. Each of the b.N iterations is a round that runs the
// program once each way, back to back, from a side that rotates; the
// metrics (see rounds.report) are the medians of the wall and CPU times
// of whole runs and the median of the rounds' overheads. ctracer (its
// default mode: a seccomp filter trapping mmap hints into the range, the
// first thread traced, forks not followed, nothing reserved) is the
// floor any seccomp-and-ptrace guard pays for starting a program:
// fork, exec, a filter to install, a tracer to wake and to wait for at
// the end. cfollow (ctracer -f) is the floor of a guard that keeps its
// guarantee in every process and thread: it follows threads, forks and
// execs, and reserves the protected range at each exec before the
// program's first instruction, as mmapguard does (but no pool, no model,
// nothing read). "%over-ctracer" and "%over-cfollow" are mmapguard's
// overhead over each. Run with -benchtime 21x or more: on a shared
// machine a median of a few runs means little.
func BenchmarkPrograms(b *testing.B) {
	bins := build(b)
	dir := b.TempDir()
	src := filepath.Join(dir, "hello.c")
	if err := os.WriteFile(src, []byte("#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	// python3 on PATH may be a version manager's shim (pyenv's is a
	// bash script that runs some 40 processes before the interpreter):
	// run the interpreter itself.
	py, err := exec.Command("python3", "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		b.Fatalf("python3: %v", err)
	}
	progs := []struct {
		name string
		argv []string
	}{
		{"python3", []string{strings.TrimSpace(string(py)), "-c", "import ssl, sqlite3, json, decimal, asyncio, threading"}},
		{"gcc", []string{"gcc", "-c", "-o", filepath.Join(dir, "hello.o"), src}},
		// A real file: the C reference tracer, 600 lines, optimised.
		{"gcc-O2", []string{"gcc", "-O2", "-c", "-o", filepath.Join(dir, "ctracer.o"), filepath.Join("testdata", "ctracer.c")}},
		{"node", []string{"node", "-e", "0"}},
		{"java", []string{"java", "-version"}},
	}
	guard := []string{bins["mmapguard"], "run", "-q", "--protect", "0x10000-0x80000000", "--"}
	for _, p := range progs {
		b.Run(p.name, func(b *testing.B) {
			rs := rounds{sides: []side{
				{"native", p.argv},
				{"ctracer", append([]string{bins["ctracer"]}, p.argv...)},
				{"cfollow", append([]string{bins["ctracer"], "-f"}, p.argv...)},
				{"guard", append(slices.Clip(guard), p.argv...)},
			}}
			for b.Loop() {
				rs.run(b, nil)
			}
			rs.report(b)
		})
	}
}

// summaryStops reads "stops N" from the text summary mmapguard writes at
// the end of its -o log.
func summaryStops(tb testing.TB, log string) uint64 {
	tb.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[0] == "stops" {
			if n, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				return n
			}
		}
	}
	tb.Fatalf("no stops line in the summary of %s:\n%s", log, b)
	return 0
}

// mappingHeavy is the mapping-heavy program: callbench's "far" loop of
// mmap(NULL)/munmap pairs in 4 threads, far from any protected range.
func mappingHeavy(bins map[string]string, iterations int) []string {
	return []string{bins["callbench"], "far", strconv.Itoa(iterations), "4"}
}

// guardedWithLog is argv under mmapguard --protect 0x10000-0x80000000
// (default pool), writing its event log and summary to log.
func guardedWithLog(bins map[string]string, log string, argv ...string) []string {
	return append([]string{bins["mmapguard"], "run", "-q", "-o", log, "--protect", "0x10000-0x80000000", "--"}, argv...)
}

// BenchmarkMappingHeavy: a mapping-heavy program (4 threads, 50,000
// mmap(NULL)/munmap pairs each, far from the protected range), natively,
// under the C reference tracer and under mmapguard with -o, not pinned,
// in rounds as in BenchmarkPrograms, plus "stops", the most stops one
// guarded run's summary reported. Nothing is asserted about time;
// TestFarCallsDoNotStop checks the stops.
func BenchmarkMappingHeavy(b *testing.B) {
	bins := build(b)
	log := filepath.Join(b.TempDir(), "log")
	native := mappingHeavy(bins, 50000)
	guarded := guardedWithLog(bins, log, native...)
	rs := rounds{sides: []side{
		{"native", native},
		{"ctracer", append([]string{bins["ctracer"]}, native...)},
		{"guard", guarded},
	}}
	var stops uint64
	for b.Loop() {
		rs.run(b, func(i int, _ []byte) {
			if i == 2 {
				stops = max(stops, summaryStops(b, log))
			}
		})
	}
	rs.report(b)
	b.ReportMetric(float64(stops), "stops")
}
