package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mmapguard/mmapguard/internal/plainfile"
	"github.com/mmapguard/mmapguard/rewrite"
	"github.com/mmapguard/mmapguard/trace"
)

// eventLog writes one line per trapped call: text that reads like
// strace's, or JSON lines for tools (the schema is in docs/log.md).
type eventLog struct {
	// mu guards w and err: the tracer's thread writes events, a timer
	// flushes them (see flushSoon).
	mu   sync.Mutex
	w    *bufio.Writer
	json bool
	err  error
	// flushing: a flush is due within flushDelay; untimed: lines are
	// flushed at the end only (see flushSoon).
	flushing, untimed bool
	// byCaller counts the logged calls per caller class and object, for
	// the summary.
	byCaller map[callerKey]int
	// spans remembers, per process, the object ld.so is loading: its
	// span mapping, which the segment mappings that follow fall inside.
	spans map[int]loadSpan
}

// notObject reports whether a file the loader mapped is known not to be
// an ELF object: ld.so maps its cache (/etc/ld.so.cache) whole, a call
// shaped like an object's span that loads no object. A file that cannot
// be read now counts as an object.
func (*eventLog) notObject(path string) bool {
	f, err := plainfile.Open(path)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }() // read-only
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	return err != nil || string(magic) != elf.ELFMAG
}

type loadSpan struct {
	file       string
	start, end uint64
}

// loadNote recognises ld.so loading an object: the mapping of its whole
// span (a file mapping without MAP_FIXED made by the loader), then its
// segments (MAP_FIXED mappings of the same file inside the span). It
// returns the object and which part this call is ("span", "segment"), or
// "" for any other call.
func (l *eventLog) loadNote(e trace.Event) (file, part string) {
	c := e.Call
	if e.File == "" || c.Op() != rewrite.OpMmap || !e.Seen {
		return "", ""
	}
	if _, failed := rewrite.Failed(c.ABI, e.Result); failed {
		return "", ""
	}
	if c.Args[3]&(rewrite.MapFixed|rewrite.MapFixedNoReplace) == 0 {
		if e.Caller == nil || e.Caller.Class != trace.ClassLoader || c.Args[5] != 0 || l.notObject(e.File) {
			return "", ""
		}
		if l.spans == nil {
			l.spans = map[int]loadSpan{}
		}
		l.spans[e.Pid] = loadSpan{e.File, e.Result, e.Result + c.Args[1]}
		return e.File, "span"
	}
	if s, ok := l.spans[e.Pid]; ok && s.file == e.File && s.start <= e.Result && e.Result+c.Args[1] <= s.end+0xfff {
		return e.File, "segment"
	}
	return "", ""
}

type callerKey struct{ class, object string }

func newEventLog(w io.Writer, format string) (*eventLog, error) {
	if format != "text" && format != "" && format != "json" {
		return nil, usagef("--log-format %q: want text or json", format)
	}
	return &eventLog{w: bufio.NewWriterSize(w, 64<<10), json: format == "json", untimed: !timersAllowed()}, nil
}

// flushDelay is the longest an event line waits in the buffer: a log
// read while the program runs (tail -f, as with strace -o) shows each
// call within it, and a SIGKILL of mmapguard loses no more than it (and
// the summary, written at the end).
const flushDelay = 100 * time.Millisecond

// timerFiles is the descriptor limit under which mmapguard sets no
// timer of its own (the log is flushed at the end only, the late
// signals are caught at once): a timer starts the Go runtime's poller,
// whose two descriptors it takes, and the runtime throws where it
// cannot have them (under ulimit -n 8, with the log's and the program's
// start's own).
const timerFiles = 64

// timersAllowed reports whether mmapguard's descriptor limit allows it a
// timer (see timerFiles).
func timersAllowed() bool {
	var lim syscall.Rlimit
	return syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur >= timerFiles
}

// flushSoon makes sure what was written is flushed within flushDelay.
// Called with mu held.
func (l *eventLog) flushSoon() {
	if l.flushing || l.untimed || l.err != nil {
		return
	}
	l.flushing = true
	time.AfterFunc(flushDelay, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.flushing = false
		if err := l.w.Flush(); l.err == nil {
			l.err = err
		}
	})
}

// Event is called on the tracer's thread for every trapped call.
func (l *eventLog) Event(e trace.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Caller != nil {
		if l.byCaller == nil {
			l.byCaller = map[callerKey]int{}
		}
		obj := e.Caller.Caller.Object
		if obj == "" {
			obj = e.Caller.Site.Object
		}
		l.byCaller[callerKey{e.Caller.Class, obj}]++
	}
	if l.err != nil {
		return
	}
	if l.json {
		j := jsonEvent(e)
		if file, part := l.loadNote(e); part != "" {
			j.Load = &logLoad{Object: file, Part: part}
		}
		b, err := json.Marshal(j)
		if err == nil {
			err = l.writeLine(append(b, '\n'))
		}
		l.err = err
		l.flushSoon()
		return
	}
	line := textEvent(e)
	if file, part := l.loadNote(e); part == "span" {
		line += " [ld.so maps " + baseName(file) + "]"
	} else if part == "segment" {
		line += " [segment of " + baseName(file) + "]"
	}
	l.err = l.writeLine([]byte(line + "\n"))
	l.flushSoon()
}

// writeLine buffers a line, writing out what is buffered first if it
// does not fit: each write of the log holds whole lines. The -o file
// may take the program's output too (-o /dev/stdout, a pipe or the
// same open file: see sharedStd), which lands between two writes; a
// full buffer written out ended in the middle of a line, which the
// program's output then cut in two (TestEventLogWholeLines). A line
// longer than the buffer goes out in a write of its own. Called with
// mu held.
func (l *eventLog) writeLine(b []byte) error {
	if len(b) > l.w.Available() && l.w.Buffered() > 0 {
		if err := l.w.Flush(); err != nil {
			return err
		}
	}
	_, err := l.w.Write(b)
	return err
}

// Flush writes out what is buffered.
func (l *eventLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); l.err == nil {
		l.err = err
	}
	return l.err
}

// textEvent renders an event like a line of strace -f -tt:
//
//	08:00:01.123456 [pid 1234] mmap(0x10000000, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x200000000000 <rerouted: placed in the pool at ...>
func textEvent(e trace.Event) string {
	var b strings.Builder
	b.WriteString(e.Time.Format("15:04:05.000000"))
	if e.Tid != e.Pid {
		fmt.Fprintf(&b, " [pid %d/%d] ", e.Pid, e.Tid)
	} else {
		fmt.Fprintf(&b, " [pid %d] ", e.Pid)
	}
	c := e.Call
	b.WriteString(callName(c))
	b.WriteByte('(')
	for i, a := range decodeArgs(c) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.value)
		if a.name == "fd" && e.File != "" {
			b.WriteString("<" + escapeName(e.File) + ">")
		}
	}
	b.WriteByte(')')
	if c.ABI == rewrite.ABI32 {
		b.WriteString(" [i386]")
	}
	if e.Seen {
		b.WriteString(" = ")
		b.WriteString(resultString(c, e.Result))
	} else {
		b.WriteString(" = ?")
	}
	a := e.Action
	if a != nil && (a.Outcome != rewrite.Allowed || a.Why != "") {
		fmt.Fprintf(&b, " <%s", a.Outcome)
		if a.Why != "" {
			b.WriteString(": " + a.Why)
		}
		if _, failed := rewrite.Failed(c.ABI, e.Result); e.Seen && failed && (a.Outcome == rewrite.Rerouted || a.Outcome == rewrite.Rewritten) {
			// What the guard meant to do; the kernel refused it (a bad
			// descriptor, no memory), and the program has the error.
			b.WriteString("; the call failed")
		}
		b.WriteByte('>')
	}
	if at := e.Caller; at != nil {
		fmt.Fprintf(&b, " by %s (%s", frameText(at.Caller, at.Site), at.Class)
		if e.Owner {
			b.WriteString(", owner")
		}
		b.WriteByte(')')
	}
	return b.String()
}

// logLine is one JSON line of the event log; docs/log.md documents it.
type logLine struct {
	Time     string            `json:"time"`
	Pid      int               `json:"pid"`
	Tid      int               `json:"tid"`
	IP       string            `json:"ip"`
	ABI      string            `json:"abi"`
	Syscall  string            `json:"syscall"`
	Nr       uint64            `json:"nr"`
	Args     map[string]string `json:"args"`
	Decision string            `json:"decision"`
	Why      string            `json:"why,omitempty"`
	Steps    []string          `json:"steps,omitempty"`
	Result   *string           `json:"result"`
	Errno    string            `json:"errno,omitempty"`
	Caller   *logFrame         `json:"caller,omitempty"`
	Site     *logFrame         `json:"site,omitempty"`
	Class    string            `json:"class,omitempty"`
	How      string            `json:"how,omitempty"`
	Owner    bool              `json:"owner,omitempty"`
	File     string            `json:"file,omitempty"`
	Load     *logLoad          `json:"load,omitempty"`
}

// logLoad marks ld.so loading an object.
type logLoad struct {
	Object string `json:"object"`
	Part   string `json:"part"`
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// logFrame is a place in the code, in the JSON log.
type logFrame struct {
	Addr   string `json:"addr"`
	Object string `json:"object"`
	Symbol string `json:"symbol,omitempty"`
	Offset string `json:"offset"`
}

func jsonFrame(f trace.Frame) *logFrame {
	if f.Addr == 0 {
		return nil
	}
	return &logFrame{Addr: fmt.Sprintf("%#x", f.Addr), Object: f.Object, Symbol: f.Symbol, Offset: fmt.Sprintf("%#x", f.Offset)}
}

// frameText renders the caller like "libfoo.so!func+0x12", falling back
// to the site, then to a bare address.
func frameText(caller, site trace.Frame) string {
	f := caller
	if f.Addr == 0 {
		f = site
	}
	if f.Addr == 0 {
		return "unknown"
	}
	obj := f.Object
	if obj == "" {
		obj = "anonymous memory"
	} else if i := strings.LastIndexByte(obj, '/'); i >= 0 {
		obj = obj[i+1:]
	}
	if f.Symbol != "" {
		return fmt.Sprintf("%s!%s+%#x", obj, f.Symbol, f.Offset)
	}
	return fmt.Sprintf("%s+%#x", obj, f.Offset)
}

func jsonEvent(e trace.Event) logLine {
	c := e.Call
	l := logLine{
		Time:    e.Time.UTC().Format(time.RFC3339Nano),
		Pid:     e.Pid,
		Tid:     e.Tid,
		IP:      fmt.Sprintf("%#x", e.IP),
		ABI:     c.ABI.String(),
		Syscall: callName(c),
		Nr:      c.Nr,
		Args:    map[string]string{},
	}
	for _, a := range decodeArgs(c) {
		l.Args[a.name] = a.value
	}
	if a := e.Action; a != nil {
		l.Decision = a.Outcome.String()
		l.Why = a.Why
		for _, s := range a.Steps {
			l.Steps = append(l.Steps, s.Call.String())
		}
	}
	if e.Seen {
		r := resultString(c, e.Result)
		if errno, failed := rewrite.Failed(c.ABI, e.Result); failed {
			l.Errno = errnoName(errno)
			r = "-1"
		}
		l.Result = &r
	}
	l.File = e.File
	if at := e.Caller; at != nil {
		l.Caller, l.Site = jsonFrame(at.Caller), jsonFrame(at.Site)
		l.Class, l.How, l.Owner = at.Class, at.How, e.Owner
	}
	return l
}

func callName(c rewrite.Call) string {
	if c.Op() == rewrite.OpMmap && c.ABI == rewrite.ABI32 {
		return "mmap2"
	}
	if c.Op() == rewrite.OpOther {
		return "syscall_" + strconv.FormatUint(c.Nr, 10)
	}
	return c.Op().String()
}

func resultString(c rewrite.Call, ret uint64) string {
	if errno, failed := rewrite.Failed(c.ABI, ret); failed {
		return "-1 " + errnoName(errno)
	}
	switch c.Op() {
	case rewrite.OpMmap, rewrite.OpOldMmap, rewrite.OpMremap, rewrite.OpShmat, rewrite.OpBrk:
		return fmt.Sprintf("%#x", ret)
	}
	return strconv.FormatUint(ret, 10)
}

type arg struct{ name, value string }

// decodeArgs names a call's arguments and renders them as strace does:
// addresses in hex, sizes in decimal, flags by name.
func decodeArgs(c rewrite.Call) []arg {
	a := c.Args
	if c.ABI == rewrite.ABI32 {
		// The kernel uses only the low 32 bits of each register of an
		// i386 call (a 64-bit program's int $0x80 may leave junk above).
		for i := range a {
			a[i] &= 0xffffffff
		}
	}
	hex := func(v uint64) string { return fmt.Sprintf("%#x", v) }
	addr := func(v uint64) string {
		if v == 0 {
			return "NULL"
		}
		return hex(v)
	}
	dec := func(v uint64) string { return strconv.FormatUint(v, 10) }
	// fds, ids and keys are C ints: the low 32 bits, signed.
	fd := func(v uint64) string { return strconv.FormatInt(int64(int32(v)), 10) }
	switch c.Op() {
	case rewrite.OpMmap:
		name := "offset"
		if c.ABI == rewrite.ABI32 {
			name = "pgoffset"
		}
		return []arg{{"addr", addr(a[0])}, {"length", dec(a[1])}, {"prot", flagNames(a[2], protNames, "PROT_NONE")},
			{"flags", flagNames(a[3], mapNames, "0")}, {"fd", fd(a[4])}, {name, dec(a[5])}}
	case rewrite.OpOldMmap:
		return []arg{{"args", hex(a[0])}}
	case rewrite.OpMunmap, rewrite.OpMseal:
		return []arg{{"addr", hex(a[0])}, {"length", dec(a[1])}}
	case rewrite.OpMprotect:
		return []arg{{"addr", hex(a[0])}, {"length", dec(a[1])}, {"prot", flagNames(a[2], protNames, "PROT_NONE")}}
	case rewrite.OpPkeyMprotect:
		return []arg{{"addr", hex(a[0])}, {"length", dec(a[1])}, {"prot", flagNames(a[2], protNames, "PROT_NONE")}, {"pkey", fd(a[3])}}
	case rewrite.OpMadvise:
		return []arg{{"addr", hex(a[0])}, {"length", dec(a[1])}, {"advice", adviceName(a[2])}}
	case rewrite.OpMlock:
		return []arg{{"addr", hex(a[0])}, {"length", dec(a[1])}}
	case rewrite.OpMremap:
		return []arg{{"old_addr", hex(a[0])}, {"old_length", dec(a[1])}, {"new_length", dec(a[2])},
			{"flags", flagNames(a[3], mremapNames, "0")}, {"new_addr", hex(a[4])}}
	case rewrite.OpBrk:
		return []arg{{"addr", addr(a[0])}}
	case rewrite.OpShmat:
		return []arg{{"shmid", fd(a[0])}, {"shmaddr", addr(a[1])}, {"shmflg", flagNames(a[2], shmNames, "0")}}
	case rewrite.OpClone:
		return []arg{{"flags", hex(a[0])}}
	case rewrite.OpMsync:
		return []arg{{"addr", hex(a[0])}, {"length", dec(a[1])}, {"flags", flagNames(uint64(uint32(a[2])), msyncNames, "0")}}
	case rewrite.OpMincore:
		return []arg{{"addr", hex(a[0])}, {"length", dec(a[1])}, {"vec", addr(a[2])}}
	case rewrite.OpMbind:
		return []arg{{"addr", hex(a[0])}, {"length", dec(a[1])}, {"mode", hex(a[2])}, {"nodemask", addr(a[3])},
			{"maxnode", dec(a[4])}, {"flags", hex(a[5])}}
	case rewrite.OpIoDestroy:
		return []arg{{"ctx_id", hex(a[0])}}
	case rewrite.OpIoSetup:
		return []arg{{"nr_events", dec(a[0])}, {"ctxp", addr(a[1])}}
	case rewrite.OpRemapFile:
		return []arg{{"addr", hex(a[0])}, {"size", dec(a[1])}, {"prot", flagNames(a[2], protNames, "0")},
			{"pgoff", dec(a[3])}, {"flags", hex(a[4])}}
	case rewrite.OpGetMempolicy:
		return []arg{{"mode", addr(a[0])}, {"nodemask", addr(a[1])}, {"maxnode", dec(a[2])}, {"addr", hex(a[3])},
			{"flags", flagNames(a[4], mempolicyNames, "0")}}
	}
	var out []arg
	for i, v := range a {
		out = append(out, arg{fmt.Sprintf("arg%d", i), hex(v)})
	}
	return out
}

type flagBit struct {
	bit  uint64
	name string
}

var (
	protNames = []flagBit{{rewrite.ProtRead, "PROT_READ"}, {rewrite.ProtWrite, "PROT_WRITE"}, {rewrite.ProtExec, "PROT_EXEC"},
		{0x01000000, "PROT_GROWSDOWN"}, {0x02000000, "PROT_GROWSUP"}}
	mapNames = []flagBit{{rewrite.MapShared, "MAP_SHARED"}, {rewrite.MapPrivate, "MAP_PRIVATE"}, {0x03, "MAP_SHARED_VALIDATE"},
		{rewrite.MapFixed, "MAP_FIXED"}, {rewrite.MapAnonymous, "MAP_ANONYMOUS"}, {rewrite.Map32Bit, "MAP_32BIT"},
		{rewrite.MapGrowsDown, "MAP_GROWSDOWN"}, {0x800, "MAP_DENYWRITE"}, {0x1000, "MAP_EXECUTABLE"},
		{0x2000, "MAP_LOCKED"}, {rewrite.MapNoReserve, "MAP_NORESERVE"}, {0x8000, "MAP_POPULATE"},
		{0x10000, "MAP_NONBLOCK"}, {0x20000, "MAP_STACK"}, {0x40000, "MAP_HUGETLB"}, {0x80000, "MAP_SYNC"},
		{rewrite.MapFixedNoReplace, "MAP_FIXED_NOREPLACE"}, {0x4000000, "MAP_UNINITIALIZED"}}
	mremapNames = []flagBit{{rewrite.MremapMayMove, "MREMAP_MAYMOVE"}, {rewrite.MremapFixed, "MREMAP_FIXED"},
		{rewrite.MremapDontUnmap, "MREMAP_DONTUNMAP"}}
	shmNames = []flagBit{{0o10000, "SHM_RDONLY"}, {rewrite.ShmRnd, "SHM_RND"}, {rewrite.ShmRemap, "SHM_REMAP"},
		{0o100000, "SHM_EXEC"}}
	msyncNames = []flagBit{{rewrite.MsAsync, "MS_ASYNC"}, {rewrite.MsInvalidate, "MS_INVALIDATE"},
		{rewrite.MsSync, "MS_SYNC"}}
	mempolicyNames = []flagBit{{rewrite.MpolFNode, "MPOL_F_NODE"}, {rewrite.MpolFAddr, "MPOL_F_ADDR"},
		{rewrite.MpolFMemsAllowed, "MPOL_F_MEMS_ALLOWED"}}
)

// flagNames renders v as NAME|NAME|0xREST. For mmap flags the two type
// bits are one field (MAP_SHARED, MAP_PRIVATE or MAP_SHARED_VALIDATE),
// decoded first.
func flagNames(v uint64, names []flagBit, zero string) string {
	if v == 0 {
		return zero
	}
	var parts []string
	rest := v
	if len(names) > 0 && names[0].name == "MAP_SHARED" {
		switch v & 0x0f {
		case 0x01:
			parts = append(parts, "MAP_SHARED")
		case 0x02:
			parts = append(parts, "MAP_PRIVATE")
		case 0x03:
			parts = append(parts, "MAP_SHARED_VALIDATE")
		}
		rest &^= 0x03
		names = names[3:]
	}
	for _, n := range names {
		if rest&n.bit == n.bit && n.bit != 0 {
			parts = append(parts, n.name)
			rest &^= n.bit
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("%#x", rest))
	}
	return strings.Join(parts, "|")
}

var adviceNames = map[uint64]string{
	0: "MADV_NORMAL", 1: "MADV_RANDOM", 2: "MADV_SEQUENTIAL", 3: "MADV_WILLNEED", 4: "MADV_DONTNEED",
	8: "MADV_FREE", 9: "MADV_REMOVE", 10: "MADV_DONTFORK", 11: "MADV_DOFORK", 12: "MADV_MERGEABLE",
	13: "MADV_UNMERGEABLE", 14: "MADV_HUGEPAGE", 15: "MADV_NOHUGEPAGE", 16: "MADV_DONTDUMP",
	17: "MADV_DODUMP", 18: "MADV_WIPEONFORK", 19: "MADV_KEEPONFORK", 20: "MADV_COLD", 21: "MADV_PAGEOUT",
	22: "MADV_POPULATE_READ", 23: "MADV_POPULATE_WRITE", 24: "MADV_DONTNEED_LOCKED", 25: "MADV_COLLAPSE",
	100: "MADV_HWPOISON", 101: "MADV_SOFT_OFFLINE", 102: "MADV_GUARD_INSTALL", 103: "MADV_GUARD_REMOVE",
}

func adviceName(v uint64) string {
	if n, ok := adviceNames[v]; ok {
		return n
	}
	return strconv.FormatUint(v, 10)
}

var errnoNames = map[int]string{
	1: "EPERM", 9: "EBADF", 11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 14: "EFAULT", 16: "EBUSY",
	17: "EEXIST", 19: "ENODEV", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 38: "ENOSYS", 75: "EOVERFLOW",
}

func errnoName(e int) string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return "E" + strconv.Itoa(e)
}

// escapeName writes a file name's control characters (a newline would
// start a line of its own, which could pass for an event) in octal, as
// /proc/PID/maps writes a newline (\012), and doubles its backslashes,
// so that a name's own "\012" reads "\\012".
func escapeName(name string) string {
	if !strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		switch ch := name[i]; {
		case ch == '\\':
			b.WriteString(`\\`)
		case ch < 0x20 || ch == 0x7f:
			fmt.Fprintf(&b, "\\%03o", ch)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}
