package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mmapguard/mmapguard/region"
)

func TestMaps(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := strconv.Itoa(cmd.Process.Pid)
	var maps []region.Mapping
	for range 1000 { // until it has exec'd sleep, and its loader mapped libc
		maps, _ = region.ReadMaps(cmd.Process.Pid)
		if len(maps) > 0 && strings.HasSuffix(maps[0].File(), "/sleep") &&
			slices.ContainsFunc(maps, func(m region.Mapping) bool { return strings.Contains(m.File(), "libc") }) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if len(maps) == 0 {
		t.Fatal("no maps for sleep")
	}
	img := maps[0].Range
	// A range over its image collides: listed with P, exit 1.
	r := callMain("maps", "-p", pid, "-c", "--protect", img.String())
	if r.code != exitError || !strings.Contains(r.stdout, "P "+img.String()) || !strings.Contains(r.stdout, "/sleep") {
		t.Errorf("colliding range: %v", r)
	}
	// A free range: nothing listed with -c, exit 0, all of it free.
	r = callMain("maps", "-p", pid, "-c", "--protect", "0x10000-0x20000")
	if r.code != 0 || strings.Contains(r.stdout, "P ") || !strings.Contains(r.stdout, "0 used by 0 mapping(s), 64K free") {
		t.Errorf("free range: %v", r)
	}
	// A pool over its image collides too: listed with p, exit 1,
	// summarised (exit 0 and no summary: the eighteenth session).
	r = callMain("maps", "-p", pid, "-c", "--pool", fmt.Sprintf("%#x+4M", img.Start))
	if r.code != exitError || !strings.Contains(r.stdout, "p "+img.String()) || !strings.Contains(r.stdout, "\npool "+fmt.Sprintf("%#x", img.Start)) {
		t.Errorf("colliding pool: %v, want status 1, the mapping marked p and the pool summarised", r)
	}
	// Without -c every mapping is listed.
	r = callMain("maps", "-p", pid)
	if r.code != 0 || strings.Count(r.stdout, "\n") < len(maps) {
		t.Errorf("full listing of %d mappings: %v", len(maps), r)
	}
	for _, bad := range [][]string{{"maps"}, {"maps", "-p", "0"}, {"maps", "-p", pid, "extra"}, {"maps", "-p", pid, "--protect", "0x10001-0x20000"}} {
		if r := callMain(bad...); r.code != exitUsage || r.stderr == "" {
			t.Errorf("%v: want a usage error, got %v", bad, r)
		}
	}
}

// TestMapsOfGuardedProcess: in a process mmapguard guards, its
// reservations fill the protected range's free parts; they are marked as
// the guard's and are no collision (exit 0 with -c).
func TestMapsOfGuardedProcess(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "pid")
	done := make(chan mainResult, 1)
	go func() {
		done <- callMain("run", "-q", "--protect", "0x10000-0x80000000", "--", "sh", "-c", "echo $$ > "+mark+"; exec sleep 30")
	}()
	pid := waitGuardedSleep(mark)
	if pid == 0 {
		t.Fatal("the guarded sleep did not start")
	}
	defer func() { _ = syscall.Kill(pid, syscall.SIGKILL); <-done }()
	r := callMain("maps", "-p", strconv.Itoa(pid), "-c", "--protect", "0x10000-0x80000000")
	if r.code != 0 || !strings.Contains(r.stdout, "r 0x10000-0x80000000") || strings.Contains(r.stdout, "P ") {
		t.Errorf("a guarded process's reservation taken for a collision: %v", r)
	}
	// The summary does not count the reservation as the program's use
	// (it said "2.0G used by 1 mapping(s), 0 free" of a range the
	// program had nothing in).
	if want := "(2.0G): 0 used by 0 mapping(s), 2.0G reserved by mmapguard, 0 free"; !strings.Contains(r.stdout, want) {
		t.Errorf("the summary of a guarded process's range does not say %q: %v", want, r)
	}
}

// TestMapsOfGuardedProcessRenamed: the reservations are recognised
// whatever name mmapguard was installed under, when maps runs from the
// same binary as the tracer.
func TestMapsOfGuardedProcessRenamed(t *testing.T) {
	dir := t.TempDir()
	mg := filepath.Join(dir, "mg")
	b, err := os.ReadFile(mmapguardBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mg, b, 0o755); err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(dir, "pid")
	cmd := exec.Command(mg, "run", "-q", "--protect", "0x10000-0x80000000", "--", "sh", "-c", "echo $$ > "+mark+"; exec sleep 30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := waitGuardedSleep(mark)
	if pid == 0 {
		t.Fatal("the guarded sleep did not start")
	}
	r := runBin(t, mg, nil, "maps", "-p", strconv.Itoa(pid), "-c", "--protect", "0x10000-0x80000000")
	if r.code != 0 || !strings.Contains(r.stdout, "r 0x10000-0x80000000") || strings.Contains(r.stdout, "P ") {
		t.Errorf("mg maps: a guarded process's reservation taken for a collision: %v", r)
	}
}

// TestMapsErrors: a process that cannot be shown ends maps with 2, not
// with 1, which means "a collision" to a script.
func TestMapsErrors(t *testing.T) {
	self := strconv.Itoa(os.Getpid()) // a process maps may read
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "2"}, "process 2 is a kernel thread: it has no user address space"}, // kthreadd
		{[]string{"-p", "999999999"}, "no process 999999999"},
		{[]string{"-p", "-5"}, `"-5" is not a process ID: give a positive number`},
		{[]string{"-p", "0"}, `"0" is not a process ID`},
		{[]string{"-p", "abc"}, `"abc" is not a process ID`},
		{[]string{"-p", "99999999999999999999"}, "not a process ID"},
		{nil, "give one with -p PID"},
		{[]string{"-p", "1", "-p", "2"}, "-p: a second process (2, after 1): maps shows one process at a time"},
		{[]string{"-p", "1", "--protect", "0x10001-0x20000"}, "round the start down and the end up"},
		{[]string{"-p", "1", "--pool", "0x10000-"}, "want START-END or START+SIZE"},
		{[]string{"-p", "1", "-c"}, "-c needs ranges to check against: it lists the mappings that collide with a --protect RANGE or the --pool RANGE; give one, e.g. mmapguard maps -p 1 --protect"},
		{[]string{"-p", "1", "-c", "--pool", "none"}, "-c needs ranges to check against"},
		// The ranges are checked as run and explain check them.
		{[]string{"-p", self, "--protect", "0x10000-0x80000000", "--protect", "0x20000-0x30000"},
			"protected ranges 0x10000-0x80000000 and 0x20000-0x30000 overlap; give their union, 0x10000-0x80000000, as one --protect"},
		{[]string{"-p", self, "--protect", "0x10000-0x80000000", "--pool", "0x40000000+1G"},
			"pool 0x40000000-0x80000000 overlaps protected range 0x10000-0x80000000; move the pool with --pool"},
		{[]string{"-p", self, "--pool", "0x0+16M"}, "pool 0x0-0x1000000 starts below 0x10000"},
		{[]string{"-p", self, "--pool", "0x100000000+1M"}, "smaller than the minimum 4M"},
	} {
		r := callMain(append([]string{"maps"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("maps %q: %v, want status 2 and %q", c.args, r, c.want)
		}
	}
	// A zombie: said so, not "a kernel thread".
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	pid := cmd.Process.Pid
	for range 1000 { // until it has exited (nothing waits for it yet)
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if r := callMain("maps", "-p", strconv.Itoa(pid)); r.code != 2 || !strings.Contains(r.stderr, "is a zombie") {
		t.Errorf("maps of a zombie: %v, want status 2 and \"is a zombie\"", r)
	}
}

// TestMapsControlCharacters: a mapped file whose name holds control
// characters (an escape sequence, a tab) is listed with them escaped as
// \ooo, as the kernel writes a newline there (\012): written as they
// were, they drove the terminal.
func TestMapsControlCharacters(t *testing.T) {
	name := filepath.Join(t.TempDir(), "esc\x1b[31mred\tx")
	if err := os.WriteFile(name, make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	b, err := syscall.Mmap(int(f.Fd()), 0, 4096, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Munmap(b) }()
	r := callMain("maps", "-p", strconv.Itoa(os.Getpid()))
	if r.code != 0 || strings.ContainsAny(r.stdout, "\x1b\t") || !strings.Contains(r.stdout, "/esc\\033[31mred\\011x") {
		t.Errorf("maps of a file named with control characters: want them escaped as \\033 and \\011; got %q", r.stdout)
	}
}

// TestMapsLeaderExited: a process whose main thread has left with
// pthread_exit while another thread lives on is shown, through that
// thread (it was called "a zombie ... it has exited", status 2: its
// leader is one, and shows no layout).
func TestMapsLeaderExited(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "leader.c")
	prog := `#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *live(void *a) { (void)a; puts("ready"); fflush(stdout); for (;;) pause(); }
int main(void) { pthread_t t; pthread_create(&t, 0, live, 0); pthread_exit(0); }
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "leader_exits")
	if out, err := exec.Command("cc", "-o", bin, src, "-lpthread").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("the program did not get ready: %v", err)
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	for range 1000 { // until its leader is a zombie
		if st, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r := callMain("maps", "-p", pid, "--protect", "0x10000-0x20000")
	if r.code != 0 || !strings.Contains(r.stdout, bin) || !strings.Contains(r.stdout, "[stack]") ||
		!strings.Contains(r.stderr, "main thread has exited; its other threads live on: the layout was read through thread") {
		t.Errorf("maps of a process whose main thread has exited: %v, want status 0, its layout and a note", r)
	}
}

// TestMapsProcessExits: maps of a process killed while its layout is read
// (testdata/maps_many.c: some 50,000 mappings) prints the whole layout
// or fails with status 2; never a layout cut short with status 0, which
// is what the read gives once the process has let its memory go (6 runs
// of 8 in a reviewer's tries, with -c then reporting no collision).
func TestMapsProcessExits(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "maps_many")
	if out, err := exec.Command("cc", "-O1", "-Wall", "-o", bin, "../../testdata/maps_many.c").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	mg := mmapguardBin(t)
	cut := 0
	for i := range 8 {
		child := exec.Command(bin)
		out, err := child.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := child.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
			t.Fatalf("maps_many did not get ready: %v", err)
		}
		full, err := region.ReadMaps(child.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		// Killed at 0-35 ms into the read (which takes some 150 ms).
		go func() {
			time.Sleep(time.Duration(i*5) * time.Millisecond)
			_ = child.Process.Kill()
		}()
		r := runBin(t, mg, nil, "maps", "-p", strconv.Itoa(child.Process.Pid), "--protect", "0x10000+64K")
		_ = child.Wait()
		lines := strings.Count(r.stdout, "\n")
		switch {
		case r.code == 0 && lines < len(full):
			t.Errorf("kill at %d ms: status 0 with %d lines, for %d mappings:\n%s", i*5, lines, len(full), r.stderr)
		case r.code == 0:
		case r.code == 2 && r.stdout == "":
			cut++
		default:
			t.Errorf("kill at %d ms: want the whole layout, or status 2 and nothing on stdout:\n%v", i*5, r)
		}
	}
	t.Logf("%d of 8 reads saw the process go", cut)
}
