// nt_header: a shared object that carries an embedded PE header the way
// Wine's builtin .dll.so files do: an IMAGE_NT_HEADERS laid out as data
// and exported under the name __wine_spec_nt_header. The loader tests
// read its optional header's ImageBase.
//
//   -DPE32            the 32-bit form (optional header magic 0x10b,
//                     ImageBase a 32-bit field); otherwise PE32+ (0x20b)
//   -DIMAGE_BASE=N    the ImageBase to write (default 0x6a000000)
//   -DHIDDEN          give the symbol hidden visibility: it is then in
//                     .symtab only, not in .dynsym
#include <stdint.h>

#ifndef IMAGE_BASE
#define IMAGE_BASE 0x6a000000
#endif

#ifdef HIDDEN
#define VISIBILITY __attribute__((visibility("hidden")))
#else
#define VISIBILITY __attribute__((visibility("default")))
#endif

// IMAGE_FILE_HEADER: 20 bytes, the same in both forms.
struct coff_header {
	uint16_t machine;
	uint16_t section_count;
	uint32_t timestamp;
	uint32_t symbol_table_offset;
	uint32_t symbol_count;
	uint16_t optional_header_size;
	uint16_t characteristics;
};

struct data_dir {
	uint32_t rva, size;
};

#ifdef PE32
// IMAGE_OPTIONAL_HEADER32: 224 bytes.
struct optional_header {
	uint16_t magic;                 // 0x10b
	uint8_t linker_major, linker_minor;
	uint32_t code_size, init_data_size, uninit_data_size;
	uint32_t entry_rva, code_rva;
	uint32_t data_rva;              // PE32 only
	uint32_t image_base;            // 32 bits in PE32
	uint32_t section_align, file_align;
	uint16_t os_major, os_minor, image_major, image_minor, subsys_major, subsys_minor;
	uint32_t win32_version, image_size, headers_size, checksum;
	uint16_t subsystem, dll_characteristics;
	uint32_t stack_reserve, stack_commit, heap_reserve, heap_commit;
	uint32_t loader_flags, dir_count;
	struct data_dir dirs[16];
};
#define MACHINE 0x14c
#define MAGIC 0x10b
#else
// IMAGE_OPTIONAL_HEADER64: 240 bytes.
struct optional_header {
	uint16_t magic;                 // 0x20b
	uint8_t linker_major, linker_minor;
	uint32_t code_size, init_data_size, uninit_data_size;
	uint32_t entry_rva, code_rva;
	uint64_t image_base;            // 64 bits in PE32+, no data_rva before it
	uint32_t section_align, file_align;
	uint16_t os_major, os_minor, image_major, image_minor, subsys_major, subsys_minor;
	uint32_t win32_version, image_size, headers_size, checksum;
	uint16_t subsystem, dll_characteristics;
	uint64_t stack_reserve, stack_commit, heap_reserve, heap_commit;
	uint32_t loader_flags, dir_count;
	struct data_dir dirs[16];
};
#define MACHINE 0x8664
#define MAGIC 0x20b
#endif

struct nt_headers {
	uint32_t signature;             // "PE\0\0"
	struct coff_header file;
	struct optional_header optional;
};

_Static_assert(sizeof(struct coff_header) == 20, "IMAGE_FILE_HEADER is 20 bytes");
#ifdef PE32
_Static_assert(sizeof(struct optional_header) == 224, "IMAGE_OPTIONAL_HEADER32 is 224 bytes");
#else
_Static_assert(sizeof(struct optional_header) == 240, "IMAGE_OPTIONAL_HEADER64 is 240 bytes");
#endif

VISIBILITY const struct nt_headers __wine_spec_nt_header = {
	.signature = 0x00004550,
	.file = {
		.machine = MACHINE,
		.optional_header_size = sizeof(struct optional_header),
		.characteristics = 0x2022,  // DLL, large-address-aware, executable
	},
	.optional = {
		.magic = MAGIC,
		.image_base = IMAGE_BASE,
		.section_align = 0x1000,
		.file_align = 0x1000,
		.image_size = 0x20000,
		.headers_size = 0x1000,
		.subsystem = 3,
		.dir_count = 16,
	},
};

// Keep a reference from code so the header survives garbage collection
// of unused sections.
const void *nt_header(void) { return &__wine_spec_nt_header; }
