package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

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
// (the hint dropped, the register put back at the call's exit), then an
// munmap the filter lets through. ns/call is callbench's own measure of
// its loop; compare the sub-benchmarks with each other.
func BenchmarkTrappedCall(b *testing.B) {
	bins := build(b)
	n := strconv.Itoa(max(b.N, 1000))
	runs := []struct {
		name string
		env  []string
		argv []string
	}{
		{"native", []string{"CALLBENCH_NATIVE=1"}, []string{bins["callbench"], "hint", n}},
		{"ctracer", nil, []string{bins["ctracer"], bins["callbench"], "hint", n}},
		{"mmapguard", nil, []string{bins["mmapguard"], "run", "--pool", "none", "--protect", "0x10000-0x80000000", "--",
			bins["callbench"], "hint", n}},
		{"strace", []string{"CALLBENCH_NATIVE=1"}, []string{"strace", "-f", "--seccomp-bpf", "-e", "trace=mmap",
			"-o", "/dev/null", bins["callbench"], "hint", n}},
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
// must cost next to nothing.
func BenchmarkFarCalls(b *testing.B) {
	bins := build(b)
	n := strconv.Itoa(max(b.N, 1000))
	for _, r := range []struct {
		name string
		argv []string
	}{
		{"native", []string{bins["callbench"], "far", n, "4"}},
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
// itself) is started to the program's main, which prints the time:
// ns/start is the mean over b.N starts.
func BenchmarkStartup(b *testing.B) {
	bins := build(b)
	for _, r := range []struct {
		name string
		argv []string
	}{
		{"native", []string{bins["callbench"], "start"}},
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

// BenchmarkPrograms runs real programs natively and under mmapguard:
// ns/op is the wall time of one whole run.
func BenchmarkPrograms(b *testing.B) {
	bins := build(b)
	dir := b.TempDir()
	src := filepath.Join(dir, "hello.c")
	if err := os.WriteFile(src, []byte("#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	progs := []struct {
		name string
		argv []string
	}{
		{"python3", []string{"python3", "-c", "import ssl, sqlite3, json, decimal, asyncio, threading"}},
		{"gcc", []string{"gcc", "-c", "-o", filepath.Join(dir, "hello.o"), src}},
		{"node", []string{"node", "-e", "0"}},
		{"java", []string{"java", "-version"}},
	}
	guard := []string{bins["mmapguard"], "run", "-q", "--protect", "0x10000-0x80000000", "--"}
	for _, p := range progs {
		for _, mode := range []string{"native", "mmapguard"} {
			argv := p.argv
			if mode == "mmapguard" {
				argv = append(guard[:len(guard):len(guard)], p.argv...)
			}
			b.Run(p.name+"/"+mode, func(b *testing.B) {
				for b.Loop() {
					cmd := exec.Command(argv[0], argv[1:]...)
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("%v: %v\n%s", argv, err, out)
					}
				}
			})
		}
	}
}
