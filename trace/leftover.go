package trace

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalLeftovers passes sig, a signal mmapguard got for the program
// after the first program's process had ended, to the processes the
// guard still follows outside mmapguard's own process group, and
// returns how many it reached.
//
// mmapguard waits for every process it guards, and what the program
// left running in a session or group of its own (a daemon: `erl -sname`
// starts `epmd -daemon`, `setsid cmd &`) kept it running after the
// program had ended, where natively the command had returned. Such
// processes get no signal sent to mmapguard's group (a terminal's ^C,
// timeout(1)'s), and the one sent to mmapguard went to the ended
// program's pid and was lost: `timeout 10 mmapguard run -- erl -sname
// a ...` never returned, and only SIGKILL ended mmapguard (and, through
// PTRACE_O_EXITKILL, the daemon). Those left in mmapguard's group get
// a group's signal as natively, and are left alone here (a second copy
// would run their handlers twice).
//
// It reads /proc, as it runs on the forwarder's goroutine, apart from
// the tracer's: a process is taken for the guard's when its TracerPid
// is tracer, the id of the tracer's thread (TracerPid is a thread's id,
// not its process's: Run traces from its caller's thread, which need
// not be mmapguard's main one), checked again once a pidfd holds it,
// so that a pid reused meanwhile is never signalled (a new process the
// guard traces is the program's too). A zombie is skipped, but not a
// leader that has left while other threads of its process live (main
// returning through pthread_exit): /proc shows it as a zombie, and a
// signal to the process reaches them, as natively.
func signalLeftovers(sig syscall.Signal, tracer int) int {
	me, pgrp := os.Getpid(), unix.Getpgrp()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == me || !tracedBy(pid, tracer) {
			continue
		}
		id, ok := readIDs(pid)
		if !ok || id.pgrp == pgrp || id.state == 'Z' && id.threads <= 1 {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		if tracedBy(pid, tracer) && unix.PidfdSendSignal(fd, sig, nil, 0) == nil {
			n++
		}
		_ = unix.Close(fd)
	}
	return n
}

// tracedBy reports whether process pid's tracer is the thread tracer.
func tracedBy(pid, tracer int) bool {
	f, ok := procStatus(pid, "TracerPid")
	return ok && f[0] == strconv.Itoa(tracer)
}
