/*
 * elfinfo.h - the ELF reader: what the profiler needs to know about an executable or a
 * shared object (or its separate debug file).
 *
 * It reads an ELF image held in memory (usually a private mapping of the file) with
 * libelf and keeps: the loadable segments (to turn file offsets into ELF virtual
 * addresses), the GNU build-id, the .gnu_debuglink name, where .eh_frame_hdr lies (for
 * DWARF unwinding), whether DWARF debug information is present, and a sorted table of
 * function symbols from .symtab, or from .dynsym when there is no .symtab. The image is
 * outside input and never trusted.
 *
 * Ownership: a sonde_elf_info owns its arrays; symbol names and the Elf handle point into
 * the image, which the caller keeps alive and unchanged until sonde_elf_info_release().
 * Not thread-safe; distinct infos may be used from distinct threads.
 */
#ifndef SONDE_ELFINFO_H
#define SONDE_ELFINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire_error.h"

typedef struct sonde_elf_sym {
	uint64_t addr; /* ELF virtual address */
	uint64_t size; /* 0 when the symbol table does not say */
	const char *name;
	int binding; /* STB_GLOBAL, STB_WEAK, STB_LOCAL */
} sonde_elf_sym;

typedef struct sonde_elf_seg {
	uint64_t offset, vaddr, filesz, memsz;
	uint32_t flags; /* PF_X, PF_W, PF_R */
} sonde_elf_seg;

enum { SONDE_ELF_MAX_SEGS = 32, SONDE_ELF_MAX_BUILD_ID = 64 };

typedef struct sonde_elf_info {
	void *elf;   /* the libelf handle (Elf *), borrowed from nobody: released with the info */
	int type;    /* ET_EXEC, ET_DYN, ... */
	int machine; /* EM_X86_64, ... */
	bool is_64;
	sonde_elf_seg segs[SONDE_ELF_MAX_SEGS]; /* PT_LOAD segments, in file order */
	size_t nsegs;
	uint8_t build_id[SONDE_ELF_MAX_BUILD_ID];
	size_t build_id_len; /* 0: none */
	char debuglink[256]; /* "" when there is no .gnu_debuglink */
	uint32_t debuglink_crc;
	uint64_t eh_frame_hdr_vaddr, eh_frame_hdr_offset, eh_frame_hdr_size; /* size 0: none */
	bool has_debug_info; /* a .debug_info section with contents */
	bool has_symtab;     /* symbols came from .symtab (else .dynsym or none) */
	sonde_elf_sym *syms; /* sorted by address, one per address; owned */
	size_t nsyms;
} sonde_elf_info;

/* Reads the ELF image image[0..len) into info. The image must stay valid and unchanged
 * until the info is released (libelf may read it lazily). Returns 0, -ENOMEM, or
 * SONDE_EPARSE with err (may be NULL) saying what is wrong (err->field names the part:
 * "header", "program headers", "sections", ...). On failure info holds nothing to free. */
int sonde_elf_info_read(sonde_elf_info *info, void *image, size_t len, sonde_wire_error *err);
/* The same without the symbol table (nsyms 0; has_symtab still says whether there is a
 * .symtab): for a file read only for its DWARF, e.g. a debug file's uncompressed copy. */
int sonde_elf_info_read_headers(sonde_elf_info *info, void *image, size_t len, sonde_wire_error *err);
/* Frees what the info owns. NULL is a no-op; a released info may be read into again. */
void sonde_elf_info_release(sonde_elf_info *info);

/* The function symbol covering vaddr, or NULL. Borrowed from info. */
const sonde_elf_sym *sonde_elf_info_lookup(const sonde_elf_info *info, uint64_t vaddr);
/* Turns a file offset into the ELF virtual address of the loadable segment holding it.
 * Returns 0, or -ENOENT when no PT_LOAD segment covers the offset. */
int sonde_elf_info_vaddr(const sonde_elf_info *info, uint64_t offset, uint64_t *vaddr);
/* The reverse: the file offset of an ELF virtual address. 0 or -ENOENT. */
int sonde_elf_info_offset(const sonde_elf_info *info, uint64_t vaddr, uint64_t *offset);
/* Writes the build-id as lower-case hex into out (at least 2 * SONDE_ELF_MAX_BUILD_ID + 1
 * bytes); "" when there is none. */
void sonde_elf_info_build_id_hex(const sonde_elf_info *info, char *out);

#endif
