// Package bench holds the end-to-end benchmarks: C workloads run natively,
// under mmapguard, under a minimal C ptrace tracer doing the same rewrite
// (testdata/ctracer.c; with -p, what --pool-all does), and under strace,
// side by side in one run; real programs and a mapping-heavy one,
// natively, under the C tracer and guarded, in interleaved rounds,
// reported as medians. Its
// tests check what the benchmarks rely on: far calls never stop, and
// under both tracers' pool-all every mapping lands in the pool. See
// docs/PERFORMANCE.md for the figures and the commands.
package bench
