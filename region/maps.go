package region

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/mmapguard/mmapguard/internal/procfile"
)

// Mapping is one line of /proc/PID/maps:
//
//	7f3c1a000000-7f3c1a021000 r-xp 00000000 fd:01 1835 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
//
// Its Range is taken as the kernel prints it and is not checked against
// UserEnd: the [vsyscall] page, at 0xffffffffff600000, lies above user
// space yet appears in every x86-64 process's maps. Code that feeds
// mappings into a Set or Pool should leave it out.
type Mapping struct {
	Range
	Perms  string // "r-xp": read, write, execute, then p (private) or s (shared)
	Offset uint64 // offset into the file, in bytes
	Dev    string // device as major:minor in hex, e.g. "fd:01"
	Inode  uint64 // 0 for anonymous mappings
	// Path is everything after the inode column: a file's path (spaces
	// kept, newlines shown by the kernel as \012), a pseudo name such as
	// [heap] or [anon:name], or "" for an anonymous mapping.
	Path string
}

const deletedSuffix = " (deleted)"

func (m Mapping) perm(i int, c byte) bool { return len(m.Perms) > i && m.Perms[i] == c }

// Readable reports whether the mapping may be read.
func (m Mapping) Readable() bool { return m.perm(0, 'r') }

// Writable reports whether the mapping may be written.
func (m Mapping) Writable() bool { return m.perm(1, 'w') }

// Executable reports whether the mapping may be executed.
func (m Mapping) Executable() bool { return m.perm(2, 'x') }

// Shared reports whether the mapping is shared (MAP_SHARED) rather than
// private copy-on-write.
func (m Mapping) Shared() bool { return m.perm(3, 's') }

// Pseudo reports whether Path is a name in brackets given by the kernel
// rather than a file: [heap], [stack], [vdso], [vvar], [vsyscall],
// [anon:name], [anon_shmem:name] and the like.
func (m Mapping) Pseudo() bool {
	return len(m.Path) >= 2 && m.Path[0] == '[' && m.Path[len(m.Path)-1] == ']'
}

// Deleted reports whether the mapped file has been unlinked; the kernel
// then appends " (deleted)" to its path. A file whose real name ends in
// " (deleted)" looks the same; maps gives no way to tell them apart.
// Memfd mappings (/memfd:NAME) always look deleted.
func (m Mapping) Deleted() bool {
	return !m.Pseudo() && strings.HasSuffix(m.Path, deletedSuffix)
}

// File returns the path of the mapped file without any " (deleted)"
// suffix, or "" for anonymous mappings and pseudo entries. Files without
// a path in the file system keep the kernel's name for them, such as
// /memfd:NAME or anon_inode:NAME.
func (m Mapping) File() string {
	if m.Pseudo() {
		return ""
	}
	return strings.TrimSuffix(m.Path, deletedSuffix)
}

// AnonName returns NAME for an anonymous mapping named with
// PR_SET_VMA_ANON_NAME, shown as [anon:NAME] (or [anon_shmem:NAME] for
// shared anonymous memory); "" otherwise.
func (m Mapping) AnonName() string {
	for _, p := range []string{"[anon:", "[anon_shmem:"} {
		if strings.HasPrefix(m.Path, p) && strings.HasSuffix(m.Path, "]") {
			return m.Path[len(p) : len(m.Path)-1]
		}
	}
	return ""
}

// MemfdName returns NAME for a mapping of a memfd_create(2) file, shown
// as "/memfd:NAME (deleted)"; "" otherwise.
func (m Mapping) MemfdName() string {
	if f := m.File(); strings.HasPrefix(f, "/memfd:") && m.Deleted() {
		return f[len("/memfd:"):]
	}
	return ""
}

// String formats m as a maps line (with single spaces before the path).
func (m Mapping) String() string {
	s := fmt.Sprintf("%08x-%08x %s %08x %s %d", m.Start, m.End, m.Perms, m.Offset, m.Dev, m.Inode)
	if m.Path != "" {
		s += " " + m.Path
	}
	return s
}

// MapsError reports a /proc/PID/maps line that could not be parsed.
type MapsError struct {
	Line  int    // 1-based line number; 0 when parsing a single line
	Text  string // the line
	Field string // the column at fault: "range", "perms", "offset", "dev" or "inode"
	Err   error  // wraps ErrSyntax, or the Range sentinel for a bad range
}

// Error names the line, the column and what is wrong with it.
func (e *MapsError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("maps line %d %q: %s: %v", e.Line, e.Text, e.Field, e.Err)
	}
	return fmt.Sprintf("maps line %q: %s: %v", e.Text, e.Field, e.Err)
}

// Unwrap returns the underlying error.
func (e *MapsError) Unwrap() error { return e.Err }

// ParseMapsLine parses one line of /proc/PID/maps (a trailing newline is
// allowed). The kernel separates the five columns before the path with
// single spaces (more are accepted) and then pads with spaces to line
// paths up; the path is the rest of the line after that padding, inner
// and trailing spaces included. (A path that starts with a space
// would lose it; real paths are absolute.) The error is a *MapsError.
func ParseMapsLine(line string) (Mapping, error) {
	text := strings.TrimSuffix(line, "\n")
	fail := func(field string, err error) (Mapping, error) {
		return Mapping{}, &MapsError{Text: text, Field: field, Err: err}
	}
	rest := text
	next := func() string {
		tok, after, _ := strings.Cut(strings.TrimLeft(rest, " "), " ")
		rest = after
		return tok
	}
	var m Mapping

	rng := next()
	lo, hi, found := strings.Cut(rng, "-")
	start, err1 := strconv.ParseUint(lo, 16, 64)
	end, err2 := strconv.ParseUint(hi, 16, 64)
	switch {
	case !found || err1 != nil || err2 != nil:
		return fail("range", fmt.Errorf("%w: %q is not START-END in hex", ErrSyntax, rng))
	case end < start:
		return fail("range", ErrReversed)
	case end == start:
		return fail("range", ErrEmpty)
	case start%PageSize != 0 || end%PageSize != 0:
		return fail("range", ErrUnaligned)
	}
	m.Range = Range{start, end}

	m.Perms = next()
	if !validPerms(m.Perms) {
		return fail("perms", fmt.Errorf("%w: %q is not like r-xp", ErrSyntax, m.Perms))
	}

	off := next()
	var err error
	if m.Offset, err = strconv.ParseUint(off, 16, 64); err != nil {
		return fail("offset", fmt.Errorf("%w: %q is not a hex number", ErrSyntax, off))
	}

	m.Dev = next()
	if !validDev(m.Dev) {
		return fail("dev", fmt.Errorf("%w: %q is not MAJOR:MINOR in hex", ErrSyntax, m.Dev))
	}

	ino := next()
	if m.Inode, err = strconv.ParseUint(ino, 10, 64); err != nil {
		return fail("inode", fmt.Errorf("%w: %q is not a decimal number", ErrSyntax, ino))
	}

	m.Path = strings.TrimLeft(rest, " ")
	return m, nil
}

func validPerms(p string) bool {
	return len(p) == 4 &&
		(p[0] == 'r' || p[0] == '-') &&
		(p[1] == 'w' || p[1] == '-') &&
		(p[2] == 'x' || p[2] == '-') &&
		(p[3] == 'p' || p[3] == 's')
}

func validDev(d string) bool {
	major, minor, ok := strings.Cut(d, ":")
	return ok && isHex(major) && isHex(minor)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// ParseMaps parses the contents of a /proc/PID/maps file. Empty lines are
// skipped. The first bad line stops parsing; its *MapsError carries the
// line number.
func ParseMaps(r io.Reader) ([]Mapping, error) { return parseLines(r, false) }

// ParseSmaps parses the contents of a /proc/PID/smaps file: its mapping
// lines, as ParseMaps does, skipping the lines of fields that follow
// each ("Rss:        12 kB", "VmFlags: rd wr mr mw me ac"), whose first
// word ends with a colon. Line numbers in errors count every line.
func ParseSmaps(r io.Reader) ([]Mapping, error) { return parseLines(r, true) }

func parseLines(r io.Reader, smaps bool) ([]Mapping, error) {
	var out []Mapping
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20) // a path is at most PATH_MAX, but be generous
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" {
			continue
		}
		if first, _, _ := strings.Cut(text, " "); smaps && strings.HasSuffix(first, ":") {
			continue
		}
		m, err := ParseMapsLine(text)
		if err != nil {
			err.(*MapsError).Line = line
			return out, err
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read maps: %w", err)
	}
	return out, nil
}

// ReadMaps reads and parses /proc/PID/maps; pid 0 means the calling
// process. The kernel builds the file as it is read, so a process that
// changes its mappings meanwhile can yield a mix of before and after;
// read a stopped process for an exact picture. Since Linux 6.17 it
// shows the middle of a call, too, where another task of the address
// space may be in one: see ReadMapsLocked.
func ReadMaps(pid int) ([]Mapping, error) {
	return readMaps(pid, false)
}

// ReadMapsLocked is ReadMaps from /proc/PID/smaps (its mapping lines
// only), which the kernel reads under the address space's mmap lock, a
// piece at a time. Since Linux 6.17 maps is read without that lock, each
// mapping looked up and locked on its own, so it can show the middle of
// a call another task holds the lock for: an MREMAP_FIXED unmaps its
// target, then moves the mapping there, and a read in between shows the
// target free, where no mmap can ever find it free. A gap in smaps was
// free at a moment another task could have mapped there. It costs more
// (a walk of each mapping's page tables, some twenty lines per mapping):
// for a layout read while other tasks of the space may be in a call.
func ReadMapsLocked(pid int) ([]Mapping, error) {
	return readMaps(pid, true)
}

func readMaps(pid int, smaps bool) ([]Mapping, error) {
	file := "maps"
	if smaps {
		file = "smaps"
	}
	if pid < 0 {
		return nil, fmt.Errorf("read %s: invalid pid %d", file, pid)
	}
	name := "/proc/self/" + file
	if pid != 0 {
		name = "/proc/" + strconv.Itoa(pid) + "/" + file
	}
	bp := mapsBuf.Get().(*[]byte)
	defer mapsBuf.Put(bp)
	data, err := procfile.ReadInto(name, (*bp)[:0])
	*bp = data
	if err != nil {
		return nil, fmt.Errorf("read %s of pid %d: %w", file, pid, err)
	}
	ms, err := parseLines(bytes.NewReader(data), smaps)
	if err != nil {
		return ms, fmt.Errorf("pid %d: %w", pid, err)
	}
	return ms, nil
}

// mapsBuf holds buffers for ReadMaps: os.ReadFile starts small for a
// file whose size stat reports as 0 and reads it in several calls, each
// of which has the kernel find its place in the layout again; the guard
// reads the maps of stopped processes, where every microsecond is theirs.
var mapsBuf = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}
