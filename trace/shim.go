package trace

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"

	"github.com/mmapguard/mmapguard/seccomp"
)

// shimEnv marks a process started as the launch shim. Its value is the
// number of the file descriptor the tracer sends the filter policy on.
const shimEnv = "MMAPGUARD_SHIM_FD"

// MaybeShim turns the current process into the launch shim if the tracer
// started it as one, and then never returns: it waits until the tracer
// has seized it, installs the seccomp filter and execs the program. It
// must be the first thing main (and TestMain, in tests that launch
// programs) does; in any other process it returns at once.
func MaybeShim() {
	if os.Getenv(shimEnv) == "" || len(os.Args) == 0 || os.Args[0] != shimArgv0 {
		return
	}
	// The filter goes on this thread only (no TSYNC), and this thread
	// then execs: the exec ends every other thread of the shim, and the
	// filter survives it.
	runtime.LockOSThread()
	os.Exit(shim())
}

func shim() int {
	fd := 0
	if _, err := fmt.Sscan(os.Getenv(shimEnv), &fd); err != nil || fd < 3 || len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "mmapguard: shim started without a policy channel; run programs with 'mmapguard run'")
		return 127
	}
	f := os.NewFile(uintptr(fd), "policy")
	// The tracer writes the policy only after it has seized this
	// process, and then closes its end: reading to EOF is the wait.
	data, err := io.ReadAll(f)
	_ = f.Close()
	if err != nil || len(data) == 0 {
		fmt.Fprintln(os.Stderr, "mmapguard: the tracer went away before the program started")
		return 127
	}
	var p seccomp.Policy
	if err := json.Unmarshal(data, &p); err != nil {
		fmt.Fprintf(os.Stderr, "mmapguard: bad policy from the tracer: %v\n", err)
		return 127
	}
	prog, err := seccomp.Build(p)
	if err == nil {
		err = seccomp.Install(prog, 0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "mmapguard: %v\n", err)
		return 127
	}
	_ = os.Unsetenv(shimEnv)
	path, argv := os.Args[1], os.Args[2:]
	err = syscall.Exec(path, argv, os.Environ())
	// Only a failed exec gets here; answer like a shell.
	fmt.Fprintf(os.Stderr, "mmapguard: exec %s: %v\n", path, err)
	if err == syscall.ENOENT {
		return 127
	}
	return 126
}
