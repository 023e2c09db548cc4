// Package bench holds the end-to-end benchmarks: C workloads run natively,
// under mmapguard, under a minimal C ptrace tracer doing the same rewrite
// (testdata/ctracer.c), and under strace, side by side in one run. See
// docs/PERFORMANCE.md for the figures and the command.
package bench
