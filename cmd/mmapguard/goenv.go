package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
)

// ownRuntime gives mmapguard's Go runtime its defaults back where the
// environment set them for the program. GOGC, GOMEMLIMIT and GOMAXPROCS
// are read by every Go program at its start, mmapguard too, while a
// user sets them for the Go program run under the guard (GOMEMLIMIT=1GiB
// for a service, GOGC=off for a benchmark): the program gets them
// unchanged, in the environment it inherits. A small GOMEMLIMIT made
// mmapguard collect its garbage at every few stops (948 collections for
// a shell loop of 50 execs under --trace-all, none without it). (GODEBUG
// is mmapguard's too: its traces, gctrace=1, go to mmapguard's stderr
// with the program's; they are read before main, for good.)
func ownRuntime() {
	if _, set := os.LookupEnv("GOGC"); set {
		debug.SetGCPercent(100)
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		debug.SetMemoryLimit(math.MaxInt64)
	}
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		runtime.SetDefaultGOMAXPROCS()
	}
}
