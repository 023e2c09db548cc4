// Package region is the address arithmetic of mmapguard: page-aligned,
// half-open ranges of a process's address space, sets of disjoint ranges,
// the pool allocator that hands out chunks of a reserved range, and the
// parser for /proc/PID/maps.
//
// Everything here is pure computation over uint64 addresses and depends on
// the standard library only. Arithmetic that could wrap (start+length,
// rounding up to a page) is checked: a caller gets an error or a false
// result, never a silently wrapped address.
//
// The address space modelled is x86-64 user space with 4-level paging:
// addresses from 0 up to UserEnd (0x7ffffffff000, the kernel's TASK_SIZE).
// A mapping can never extend past UserEnd, so New and ParseRange refuse a
// Range that does. The one exception a tracer meets is the legacy
// [vsyscall] page at 0xffffffffff600000: ParseMapsLine reports it as it
// is, and callers leave it out of their models.
//
// # Ranges
//
// A Range is [Start, End). New and ParseRange check it (page-aligned,
// non-empty, ordered, inside user space) and wrap one of the sentinels
// ErrUnaligned, ErrEmpty, ErrReversed, ErrBeyondUser, ErrOverflow or
// ErrSyntax in a *RangeError, so callers test with errors.Is and users
// read which input broke which rule.
//
// # Sets
//
// A Set holds disjoint ranges and keeps them maximal: adding a range that
// overlaps or touches others merges them. It is an AVL tree ordered by
// Start, so adding, removing and every query cost O(log n) even for the
// 65,530 mappings a process may hold (vm.max_map_count). Each tree node
// also records the longest range in its subtree; FirstFit uses that to
// skip subtrees that cannot hold a request, which keeps first-fit search
// fast in a fragmented set. Within and Gaps walk the tree in order from
// the first range concerned, costing O(log n + k) for k results. The
// nodes sit in one slice and link to each other by index, so even a set
// of that size gives the garbage collector nothing to scan, and Clone is
// a single copy.
//
// # Pools
//
// A Pool is the bookkeeping for one range set aside for mappings that
// mmapguard steers out of protected ranges: a Set of free pieces, handed
// out first fit, lowest address first. Requests of 2 MiB or more are
// 2 MiB-aligned where possible, as the kernel aligns large anonymous
// mappings for transparent huge pages, so rerouting a mapping does not
// cost it huge pages. Take records space the program mapped in the pool
// by itself; Clone copies a pool when the process forks. Failures wrap
// ErrInvalidSize, ErrInvalidAlign or ErrPoolExhausted; the last says what
// was asked and how much is free.
//
// # /proc/PID/maps
//
// ParseMapsLine splits a maps line into its columns. The path column is
// whatever follows the inode and its padding, spaces included, so file
// names with spaces, " (deleted)" files, memfd names and [anon:NAME]
// labels survive intact. Bad lines give a *MapsError naming the line
// (and, from ParseMaps, its number) and the column at fault.
// ReadMapsLocked reads the same lines from /proc/PID/smaps, which the
// kernel reads under the mmap lock where it reads maps without it since
// Linux 6.17: for a layout read while another task may be in a call.
package region
