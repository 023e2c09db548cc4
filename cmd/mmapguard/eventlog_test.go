package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/trace"
)

func TestFlagNames(t *testing.T) {
	cases := []struct {
		v     uint64
		names []flagBit
		zero  string
		want  string
	}{
		{0x22, mapNames, "0", "MAP_PRIVATE|MAP_ANONYMOUS"},
		{0x32, mapNames, "0", "MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS"},
		{0x100003, mapNames, "0", "MAP_SHARED_VALIDATE|MAP_FIXED_NOREPLACE"},
		{0x4022 | 0x80000000, mapNames, "0", "MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|0x80000000"},
		{0, protNames, "PROT_NONE", "PROT_NONE"},
		{7, protNames, "PROT_NONE", "PROT_READ|PROT_WRITE|PROT_EXEC"},
		{3, mremapNames, "0", "MREMAP_MAYMOVE|MREMAP_FIXED"},
	}
	for _, tc := range cases {
		if got := flagNames(tc.v, tc.names, tc.zero); got != tc.want {
			t.Errorf("flagNames(%#x) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func testEvent() trace.Event {
	c := rewrite.Call{ABI: rewrite.ABI64, Nr: 9, Args: [6]uint64{0x10000000, 8192, 3, 0x22, ^uint64(0), 0}}
	return trace.Event{
		Time: time.Date(2026, 11, 26, 8, 0, 1, 123456000, time.UTC), Pid: 100, Tid: 101, IP: 0x7f0000001234,
		Call:   c,
		Action: &rewrite.Action{Verdict: rewrite.Run, Outcome: rewrite.Rerouted, Why: "placed in the pool"},
		Result: 0x200000000000, Seen: true,
	}
}

func TestTextEvent(t *testing.T) {
	got := textEvent(testEvent())
	want := "08:00:01.123456 [pid 100/101] mmap(0x10000000, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x200000000000 <rerouted: placed in the pool>"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	e := testEvent()
	e.Result = rewrite.Err(rewrite.EPERM)
	e.Action = &rewrite.Action{Verdict: rewrite.Return, Outcome: rewrite.Denied, Why: "strict"}
	if got := textEvent(e); !strings.Contains(got, "= -1 EPERM <denied: strict>") {
		t.Errorf("denied event: %s", got)
	}
	for _, tc := range []struct {
		nr   uint64
		args [6]uint64
		want string
	}{
		{26, [6]uint64{0x50000000, 4096, rewrite.MsSync | rewrite.MsInvalidate}, "msync(0x50000000, 4096, MS_INVALIDATE|MS_SYNC)"},
		{27, [6]uint64{0x50000000, 4096, 0x7f0000001000}, "mincore(0x50000000, 4096, 0x7f0000001000)"},
		{237, [6]uint64{0x50000000, 4096, 2, 0x7f0000001000, 64, 0}, "mbind(0x50000000, 4096, 0x2, 0x7f0000001000, 64, 0x0)"},
		{239, [6]uint64{0x7f0000001000, 0, 0, 0x50000000, rewrite.MpolFAddr}, "get_mempolicy(0x7f0000001000, NULL, 0, 0x50000000, MPOL_F_ADDR)"},
		{216, [6]uint64{0x7fff0000, 8192, 0, 1, 0}, "remap_file_pages(0x7fff0000, 8192, 0, 1, 0x0)"},
	} {
		e := testEvent()
		e.Call = rewrite.Call{ABI: rewrite.ABI64, Nr: tc.nr, Args: tc.args}
		e.Result = rewrite.Err(rewrite.ENOMEM)
		if got := textEvent(e); !strings.Contains(got, tc.want+" = -1 ENOMEM") {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestJSONEvent(t *testing.T) {
	var buf bytes.Buffer
	l, err := newEventLog(&buf, "json")
	if err != nil {
		t.Fatal(err)
	}
	l.Event(testEvent())
	e := testEvent()
	e.Seen = false
	l.Event(e)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"syscall": "mmap", "pid": 100.0, "tid": 101.0, "decision": "rerouted",
		"result": "0x200000000000", "abi": "x86_64", "time": "2026-11-26T08:00:01.123456Z"} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if args := got["args"].(map[string]any); args["flags"] != "MAP_PRIVATE|MAP_ANONYMOUS" || args["fd"] != "-1" {
		t.Errorf("args %v", args)
	}
	var unseen map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &unseen); err != nil || unseen["result"] != nil {
		t.Errorf("unseen result: %v %v", unseen["result"], err)
	}
	if _, err := newEventLog(&buf, "yaml"); err == nil {
		t.Error("log format yaml accepted")
	}
}

// TestLoadNoteObjectsOnly: ld.so's mapping of its cache
// (/etc/ld.so.cache, a file mapping from offset 0 without MAP_FIXED, by
// the loader) is not an object's span: no "[ld.so maps ld.so.cache]",
// no "load" in JSON; an ELF object's is.
func TestLoadNoteObjectsOnly(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "ld.so.cache")
	if err := os.WriteFile(cache, []byte("glibc-ld.so.cache1.1 and more"), 0o644); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		want bool
	}{{cache, false}, {self, true}} {
		var buf bytes.Buffer
		l, _ := newEventLog(&buf, "text")
		e := testEvent()
		e.Call = rewrite.Call{ABI: rewrite.ABI64, Nr: 9, Args: [6]uint64{0, 47983, 1, 2, 3, 0}}
		e.File, e.Result = tc.file, 0x7f0000000000
		e.Caller = &trace.Attribution{Class: trace.ClassLoader}
		l.Event(e)
		_ = l.Flush()
		if got := strings.Contains(buf.String(), "[ld.so maps "); got != tc.want {
			t.Errorf("%s: labelled a load %v, want %v: %s", tc.file, got, tc.want, buf.String())
		}
	}
}

// TestTextEventNames: a file name with a newline in it is one line of
// the log, written as /proc/PID/maps writes it (\012), with its own
// backslashes doubled: written raw, the rest of the name made a line of
// its own that could pass for an event. An i386 call's arguments are
// the low 32 bits the kernel uses, as its decision says, not the
// 64-bit registers a 64-bit program's int $0x80 left (found by the
// sixteenth session's hunt).
func TestTextEventNames(t *testing.T) {
	e := testEvent()
	e.Call.Args[3], e.Call.Args[4] = rewrite.MapPrivate, 3
	e.File = "/tmp/data\n12:00:00.000000 [pid 1] mmap(0x10000) = 0x10000 by fake\\x"
	got := textEvent(e)
	if strings.Contains(got, "\n") || !strings.Contains(got, `3</tmp/data\01212:00:00.000000 [pid 1] mmap(0x10000) = 0x10000 by fake\\x>`) {
		t.Errorf("got  %q", got)
	}
	e = testEvent()
	e.Call = rewrite.Call{ABI: rewrite.ABI32, Nr: 192, Args: [6]uint64{0x130000000, 0x100001000, 1, rewrite.MapPrivate | rewrite.MapAnonymous, 0xffffffff, 0x7ffd00000401}}
	if got := textEvent(e); !strings.Contains(got, "mmap2(0x30000000, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 1025)") {
		t.Errorf("i386 call: got %s", got)
	}
}

// writeCalls records each Write it gets.
type writeCalls struct{ calls [][]byte }

func (w *writeCalls) Write(b []byte) (int, error) {
	w.calls = append(w.calls, bytes.Clone(b))
	return len(b), nil
}

// TestEventLogWholeLines: each write of the log ends a line, in either
// format. The -o file may be the program's own output too (-o
// /dev/stdout, a pipe or the same open file), and the program writes
// between two of the log's writes: a buffer written out full ended in
// the middle of a line, and the program's output cut that line in two
// (660 of 16,000 JSON lines unreadable with -o /dev/stdout --log-format
// json --trace-all and a program printing as it maps).
func TestEventLogWholeLines(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var w writeCalls
		l, err := newEventLog(&w, format)
		if err != nil {
			t.Fatal(err)
		}
		l.untimed = true // flushed here only
		for range 5000 {
			l.Event(testEvent())
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if len(w.calls) < 2 {
			t.Fatalf("%s: %d writes, want the buffer written out more than once", format, len(w.calls))
		}
		for i, b := range w.calls {
			if len(b) == 0 || b[len(b)-1] != '\n' {
				t.Errorf("%s: write %d of %d ends in the middle of a line: ...%q", format, i+1, len(w.calls), b[max(0, len(b)-40):])
				break
			}
		}
	}
}
