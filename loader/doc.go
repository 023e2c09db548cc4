// Package loader decides where shared objects should be mapped and
// gives the tracer what it needs to recognise the system ELF loader
// (ld.so) mapping them. It is pure: it reads ELF files given by path or
// reader, never a process.
//
// # Why placement works from the outside
//
// ld.so maps an ET_DYN object in two steps. First one mmap reserves the
// object's whole span, file-backed from offset 0, with the first PT_LOAD's
// page-aligned p_vaddr as the address hint (0 for an ordinary object, so
// the kernel chooses). Whatever address A that call returns, ld.so takes
// the load bias to be A minus that p_vaddr and maps every segment with
// MAP_FIXED at its p_vaddr plus the bias, inside the span; relocation, TLS,
// constructors and dependencies all follow from the bias. So steering that
// one call places the whole object, and ld.so does the rest unchanged.
// FirstMap describes the call (including the anonymous reservation glibc
// makes first for segments aligned above the page size), MatchesMapping
// recognises its shape, and SegmentsAt says where the later segment
// mappings must land.
//
// Throughout, an object's base is the address where its span starts:
// the address that first mmap must return. An object linked at L (its
// LinkBase) and placed at base B has load bias B - L, and its segment at
// p_vaddr V lands at V + B - L.
//
// # Reading objects
//
// Open and Read accept x86-64 ELF files of type ET_DYN (libraries, PIE
// programs) and ET_EXEC (fixed programs, which cannot move) and check the
// program headers the way ld.so would: PT_LOADs sorted and disjoint, file
// bytes inside the file, p_vaddr and p_offset congruent modulo the page
// size, a span inside user space. The soname comes from PT_DYNAMIC, as
// ld.so reads it. A Wine-style builtin .dll.so exports its PE header as
// data under the symbol __wine_spec_nt_header; Read finds it in .dynsym
// (or .symtab), maps its address to a file offset through the PT_LOADs,
// and reads the IMAGE_NT_HEADERS there for the optional header's
// ImageBase, PE32 or PE32+. Everything read is bounded by the file's size
// and small fixed limits, never a panic. An inconsistency in what ld.so
// needs to map the object (the ELF header's program header fields and
// the PT_LOADs) is an error naming the file and the field; one in what
// only placement reads (section headers, symbol tables, the PE header,
// DT_SONAME) is not, since ld.so loads such a file all the same: the
// object is read without that part, and Object.Skipped says what was
// lost (a PE ImageBase, a soname to match rules against).
//
// # Choosing bases
//
// A Planner takes objects in load order and gives each a Placement, by
// this precedence: an explicit Rule (PATTERN=ADDR, the pattern a glob
// matched against the path, the file name or the soname); the object's
// own non-zero link base; its PE ImageBase; a RangeRule that packs objects
// without a base of their own into a range, first fit; otherwise none,
// and ld.so and the kernel choose. Spans that overlap an earlier
// placement or a range the program already has mapped, that leave user
// space, or that find their range full come back as a *ConflictError in
// the Placement. The error carries the caller's choice of outcome: by
// default the object loads wherever ld.so puts it, with a warning; in
// strict mode the load fails. ParsePlacementFile reads many rules from a
// file ("place PATTERN ADDR", "range RANGE PATTERN").
package loader
