package region

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMapsLine(t *testing.T) {
	type flags struct{ r, w, x, s, deleted, pseudo bool }
	tests := []struct {
		name  string
		line  string
		want  Mapping
		flags flags
		file  string
		anon  string
		memfd string
	}{
		{
			name:  "executable file",
			line:  "5622c56d2000-5622c56d7000 r-xp 00002000 fe:00 247026                     /usr/bin/cat",
			want:  Mapping{Range{0x5622c56d2000, 0x5622c56d7000}, "r-xp", 0x2000, "fe:00", 247026, "/usr/bin/cat"},
			flags: flags{r: true, x: true},
			file:  "/usr/bin/cat",
		},
		{
			name:  "anonymous with the kernel's trailing space",
			line:  "7feae0fc0000-7feae0fe2000 rw-p 00000000 00:00 0 ",
			want:  Mapping{Range{0x7feae0fc0000, 0x7feae0fe2000}, "rw-p", 0, "00:00", 0, ""},
			flags: flags{r: true, w: true},
		},
		{
			name: "anonymous without trailing space",
			line: "7feae0fc0000-7feae0fe2000 ---p 00000000 00:00 0",
			want: Mapping{Range{0x7feae0fc0000, 0x7feae0fe2000}, "---p", 0, "00:00", 0, ""},
		},
		{
			name:  "trailing newline",
			line:  "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/dbus-daemon\n",
			want:  Mapping{Range{0x400000, 0x452000}, "r-xp", 0, "08:02", 173521, "/usr/bin/dbus-daemon"},
			flags: flags{r: true, x: true},
			file:  "/usr/bin/dbus-daemon",
		},
		{
			name:  "shared file",
			line:  "7feae1228000-7feae122f000 r--s 00000000 fe:00 325737                     /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
			want:  Mapping{Range{0x7feae1228000, 0x7feae122f000}, "r--s", 0, "fe:00", 325737, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache"},
			flags: flags{r: true, s: true},
			file:  "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
		},
		{
			name:  "spaces in the path",
			line:  "7f0000001000-7f0000002000 r--p 00001000 103:02 42   /home/user/My Games/Some  Game/lib thing.dll.so",
			want:  Mapping{Range{0x7f0000001000, 0x7f0000002000}, "r--p", 0x1000, "103:02", 42, "/home/user/My Games/Some  Game/lib thing.dll.so"},
			flags: flags{r: true},
			file:  "/home/user/My Games/Some  Game/lib thing.dll.so",
		},
		{
			name:  "path ending in a space",
			line:  "7f0000001000-7f0000002000 r--p 00000000 fe:00 42   /tmp/odd ",
			want:  Mapping{Range{0x7f0000001000, 0x7f0000002000}, "r--p", 0, "fe:00", 42, "/tmp/odd "},
			flags: flags{r: true},
			file:  "/tmp/odd ",
		},
		{
			name:  "deleted file",
			line:  "7f5d2c000000-7f5d2c021000 r-xp 00000000 fe:01 9913  /usr/lib/libold.so.1 (deleted)",
			want:  Mapping{Range{0x7f5d2c000000, 0x7f5d2c021000}, "r-xp", 0, "fe:01", 9913, "/usr/lib/libold.so.1 (deleted)"},
			flags: flags{r: true, x: true, deleted: true},
			file:  "/usr/lib/libold.so.1",
		},
		{
			name:  "deleted file with spaces",
			line:  "7f5d2c000000-7f5d2c021000 rw-s 00000000 00:01 1234  /dev/shm/my segment (deleted)",
			want:  Mapping{Range{0x7f5d2c000000, 0x7f5d2c021000}, "rw-s", 0, "00:01", 1234, "/dev/shm/my segment (deleted)"},
			flags: flags{r: true, w: true, s: true, deleted: true},
			file:  "/dev/shm/my segment",
		},
		{
			name:  "memfd",
			line:  "7f1e00000000-7f1e80000000 ---s 00000000 00:01 3077  /memfd:mmapguard reserve (deleted)",
			want:  Mapping{Range{0x7f1e00000000, 0x7f1e80000000}, "---s", 0, "00:01", 3077, "/memfd:mmapguard reserve (deleted)"},
			flags: flags{s: true, deleted: true},
			file:  "/memfd:mmapguard reserve",
			memfd: "mmapguard reserve",
		},
		{
			name:  "heap",
			line:  "5622e27d1000-5622e27f2000 rw-p 00000000 00:00 0                          [heap]",
			want:  Mapping{Range{0x5622e27d1000, 0x5622e27f2000}, "rw-p", 0, "00:00", 0, "[heap]"},
			flags: flags{r: true, w: true, pseudo: true},
		},
		{
			name:  "stack",
			line:  "7ffd0b1e5000-7ffd0b206000 rw-p 00000000 00:00 0                          [stack]",
			want:  Mapping{Range{0x7ffd0b1e5000, 0x7ffd0b206000}, "rw-p", 0, "00:00", 0, "[stack]"},
			flags: flags{r: true, w: true, pseudo: true},
		},
		{
			name:  "vdso",
			line:  "7feae1238000-7feae123a000 r-xp 00000000 00:00 0                          [vdso]",
			want:  Mapping{Range{0x7feae1238000, 0x7feae123a000}, "r-xp", 0, "00:00", 0, "[vdso]"},
			flags: flags{r: true, x: true, pseudo: true},
		},
		{
			name:  "vvar_vclock",
			line:  "7feae1236000-7feae1238000 r--p 00000000 00:00 0                          [vvar_vclock]",
			want:  Mapping{Range{0x7feae1236000, 0x7feae1238000}, "r--p", 0, "00:00", 0, "[vvar_vclock]"},
			flags: flags{r: true, pseudo: true},
		},
		{
			name:  "vsyscall above user space",
			line:  "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]",
			want:  Mapping{Range{0xffffffffff600000, 0xffffffffff601000}, "--xp", 0, "00:00", 0, "[vsyscall]"},
			flags: flags{x: true, pseudo: true},
		},
		{
			name:  "anon name with spaces",
			line:  "7f3a00000000-7f3a00100000 rw-p 00000000 00:00 0    [anon:wine reserved (low 2G)]",
			want:  Mapping{Range{0x7f3a00000000, 0x7f3a00100000}, "rw-p", 0, "00:00", 0, "[anon:wine reserved (low 2G)]"},
			flags: flags{r: true, w: true, pseudo: true},
			anon:  "wine reserved (low 2G)",
		},
		{
			name:  "anon_shmem name",
			line:  "7f3a00000000-7f3a00100000 rw-s 00000000 00:01 7    [anon_shmem:ring buffer]",
			want:  Mapping{Range{0x7f3a00000000, 0x7f3a00100000}, "rw-s", 0, "00:01", 7, "[anon_shmem:ring buffer]"},
			flags: flags{r: true, w: true, s: true, pseudo: true},
			anon:  "ring buffer",
		},
		{
			name:  "anon inode",
			line:  "7f3a00000000-7f3a00001000 r--p 00000000 00:0f 1057 anon_inode:[perf_event]",
			want:  Mapping{Range{0x7f3a00000000, 0x7f3a00001000}, "r--p", 0, "00:0f", 1057, "anon_inode:[perf_event]"},
			flags: flags{r: true},
			file:  "anon_inode:[perf_event]",
		},
		{
			name:  "large offset, inode and device",
			line:  "7f0000000000-7f0000001000 r--p 7fffffff0000 259:1a 18446744073709551615 /big",
			want:  Mapping{Range{0x7f0000000000, 0x7f0000001000}, "r--p", 0x7fffffff0000, "259:1a", 1<<64 - 1, "/big"},
			flags: flags{r: true},
			file:  "/big",
		},
		{
			name:  "several spaces between columns",
			line:  "1000-2000  r--p  00000000  00:00  0",
			want:  Mapping{Range{0x1000, 0x2000}, "r--p", 0, "00:00", 0, ""},
			flags: flags{r: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMapsLine(tt.line)
			if err != nil {
				t.Fatal(err)
			}
			if m != tt.want {
				t.Fatalf("got %+v\nwant %+v", m, tt.want)
			}
			got := flags{m.Readable(), m.Writable(), m.Executable(), m.Shared(), m.Deleted(), m.Pseudo()}
			if got != tt.flags {
				t.Errorf("flags %+v, want %+v", got, tt.flags)
			}
			if m.File() != tt.file || m.AnonName() != tt.anon || m.MemfdName() != tt.memfd {
				t.Errorf("File, AnonName, MemfdName = %q, %q, %q; want %q, %q, %q",
					m.File(), m.AnonName(), m.MemfdName(), tt.file, tt.anon, tt.memfd)
			}
			// String gives a line that parses back to the same mapping.
			if back, err := ParseMapsLine(m.String()); err != nil || back != m {
				t.Errorf("round trip through %q: %+v, %v", m.String(), back, err)
			}
		})
	}
}

func TestParseMapsLineErrors(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		field string
		err   error
	}{
		{"empty line", "", "range", ErrSyntax},
		{"no dash", "5622c56d2000 r-xp 00002000 fe:00 247026 /usr/bin/cat", "range", ErrSyntax},
		{"0x prefix", "0x1000-0x2000 r-xp 00000000 fe:00 1 /x", "range", ErrSyntax},
		{"non-hex address", "1000-2g00 r-xp 00000000 fe:00 1 /x", "range", ErrSyntax},
		{"address past 64 bits", "10000000000000000-10000000000001000 r-xp 00000000 fe:00 1 /x", "range", ErrSyntax},
		{"reversed", "2000-1000 r-xp 00000000 fe:00 1 /x", "range", ErrReversed},
		{"empty range", "1000-1000 r-xp 00000000 fe:00 1 /x", "range", ErrEmpty},
		{"unaligned", "1000-1800 r-xp 00000000 fe:00 1 /x", "range", ErrUnaligned},
		{"perms too short", "1000-2000 r-x 00000000 fe:00 1 /x", "perms", ErrSyntax},
		{"perms wrong letter", "1000-2000 r-xq 00000000 fe:00 1 /x", "perms", ErrSyntax},
		{"perms out of order", "1000-2000 xrwp 00000000 fe:00 1 /x", "perms", ErrSyntax},
		{"missing perms", "1000-2000", "perms", ErrSyntax},
		{"bad offset", "1000-2000 r-xp 0000z000 fe:00 1 /x", "offset", ErrSyntax},
		{"missing offset", "1000-2000 r-xp", "offset", ErrSyntax},
		{"dev without colon", "1000-2000 r-xp 00000000 fe00 1 /x", "dev", ErrSyntax},
		{"dev not hex", "1000-2000 r-xp 00000000 fx:00 1 /x", "dev", ErrSyntax},
		{"dev half missing", "1000-2000 r-xp 00000000 fe: 1 /x", "dev", ErrSyntax},
		{"inode in hex", "1000-2000 r-xp 00000000 fe:00 1a /x", "inode", ErrSyntax},
		{"inode negative", "1000-2000 r-xp 00000000 fe:00 -1 /x", "inode", ErrSyntax},
		{"missing inode", "1000-2000 r-xp 00000000 fe:00", "inode", ErrSyntax},
		{"columns swapped", "1000-2000 00000000 r-xp fe:00 1 /x", "perms", ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMapsLine(tt.line)
			var me *MapsError
			if !errors.As(err, &me) {
				t.Fatalf("ParseMapsLine(%q) = %+v, %v; want a *MapsError", tt.line, m, err)
			}
			if me.Field != tt.field || !errors.Is(err, tt.err) {
				t.Errorf("error %v: field %q, want %q wrapping %q", err, me.Field, tt.field, tt.err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.field) || !strings.Contains(msg, tt.line) {
				t.Errorf("message %q does not name the field and the line", msg)
			}
		})
	}
}

const sampleMaps = `5622c56d0000-5622c56d2000 r--p 00000000 fe:00 247026                     /usr/bin/cat
5622c56d2000-5622c56d7000 r-xp 00002000 fe:00 247026                     /usr/bin/cat
5622e27d1000-5622e27f2000 rw-p 00000000 00:00 0                          [heap]
7feae0fc0000-7feae0fe2000 rw-p 00000000 00:00 0 

7feae1238000-7feae123a000 r-xp 00000000 00:00 0                          [vdso]
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`

func TestParseMaps(t *testing.T) {
	ms, err := ParseMaps(strings.NewReader(sampleMaps))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, m := range ms {
		paths = append(paths, m.Path)
	}
	want := []string{"/usr/bin/cat", "/usr/bin/cat", "[heap]", "", "[vdso]", "[vsyscall]"}
	if strings.Join(paths, "|") != strings.Join(want, "|") {
		t.Fatalf("paths %q, want %q", paths, want)
	}

	bad := strings.Replace(sampleMaps, "[vdso]\n", "[vdso]\nnot a maps line\n", 1)
	ms, err = ParseMaps(strings.NewReader(bad))
	var me *MapsError
	if !errors.As(err, &me) || me.Line != 7 || !strings.Contains(err.Error(), "line 7") {
		t.Fatalf("bad line 7: %v", err)
	}
	if len(ms) != 5 {
		t.Errorf("got %d mappings before the bad line, want 5", len(ms))
	}

	if ms, err := ParseMaps(strings.NewReader("")); err != nil || len(ms) != 0 {
		t.Errorf("empty input: %v, %v", ms, err)
	}
}

// sampleSmaps is sampleMaps's first lines as /proc/PID/smaps shows them:
// each mapping line followed by its fields.
const sampleSmaps = `5622c56d0000-5622c56d2000 r--p 00000000 fe:00 247026                     /usr/bin/cat
Size:                  8 kB
KernelPageSize:        4 kB
Rss:                   8 kB
Anonymous:             0 kB
THPeligible:           0
ProtectionKey:         0
VmFlags: rd mr mw me sd
5622e27d1000-5622e27f2000 rw-p 00000000 00:00 0                          [heap]
Size:                132 kB
AnonHugePages:         0 kB
FilePmdMapped:         0 kB
VmFlags: rd wr mr mw me ac sd
`

func TestParseSmaps(t *testing.T) {
	ms, err := ParseSmaps(strings.NewReader(sampleSmaps))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Path != "/usr/bin/cat" || ms[1].Range != (Range{0x5622e27d1000, 0x5622e27f2000}) || ms[1].Path != "[heap]" {
		t.Fatalf("got %v", ms)
	}
	bad := strings.Replace(sampleSmaps, "Size:                132 kB\n", "Size:                132 kB\nnot a maps line\n", 1)
	var me *MapsError
	if _, err := ParseSmaps(strings.NewReader(bad)); !errors.As(err, &me) || me.Line != 11 {
		t.Fatalf("bad line 11: %v", err)
	}
}

func TestReadMapsSelf(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	type reader struct {
		name string
		read func(int) ([]Mapping, error)
		pid  int
	}
	for _, r := range []reader{{"ReadMaps", ReadMaps, 0}, {"ReadMaps", ReadMaps, os.Getpid()}, {"ReadMapsLocked", ReadMapsLocked, os.Getpid()}} {
		pid := r.pid
		ms, err := r.read(pid)
		if err != nil {
			t.Fatalf("%s(%d): %v", r.name, pid, err)
		}
		found := false
		var prev Range
		for i, m := range ms {
			if i > 0 && m.Start < prev.End {
				t.Errorf("%s(%d): %v is not above %v", r.name, pid, m.Range, prev)
			}
			prev = m.Range
			if m.Executable() && m.File() == exe {
				found = true
			}
		}
		if !found {
			t.Errorf("%s(%d): no executable mapping of %s among %d mappings", r.name, pid, exe, len(ms))
		}
	}
}

func TestReadMapsErrors(t *testing.T) {
	if _, err := ReadMaps(-1); err == nil {
		t.Error("ReadMaps(-1) succeeded")
	}
	// Pid numbers stop well below this (PID_MAX_LIMIT is 2^22).
	if _, err := ReadMaps(1 << 30); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "1073741824") {
		t.Errorf("ReadMaps of a pid that cannot exist: %v", err)
	}
}
