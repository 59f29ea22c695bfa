/*
 * symbolize.h - addresses to functions, source lines and inlined frames.
 *
 * A sonde_symbolizer opens object files (executables, shared objects) once and keeps them:
 * their ELF information (elfinfo.h), their symbols, and the DWARF debug information found
 * in them or in a separate debug file (by build-id under each debug directory's .build-id/,
 * then by .gnu_debuglink beside the file, in its .debug/ folder, and under each debug
 * directory). Files with the same build-id share one entry, so a library seen under two
 * paths, or in two processes, is read once. Kernel addresses resolve through /proc/kallsyms
 * and addresses in JIT code through /tmp/perf-PID.map.
 *
 * Ownership: files and every string handed out belong to the symbolizer and live until
 * sonde_symbolizer_free(). Not thread-safe.
 */
#ifndef SONDE_SYMBOLIZE_H
#define SONDE_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfinfo.h"

typedef struct sonde_symbolizer sonde_symbolizer;
typedef struct sonde_symfile sonde_symfile;

typedef struct sonde_symbolizer_opts {
	const char *const *debug_dirs; /* NULL: { "/usr/lib/debug" } */
	size_t debug_dirs_count;
	bool no_lines; /* skip DWARF (no file:line, no inlined frames) */
	bool no_demangle;
	/* A folder (created when missing) for uncompressed copies, named BUILD-ID.debug, of
	 * debug files whose DWARF sections are compressed (Debian's -dbg packages). Such a
	 * file is inflated in memory (elfinflate.h; 15-25 ms for glibc's) when no copy is
	 * there, and the copy is written by sonde_symbolizer_free(), after the caller's
	 * output; later runs open it instead. NULL: no copies, inflate every time. */
	const char *debug_cache;
} sonde_symbolizer_opts;

/* One frame of a symbolized address. Strings are interned in the symbolizer. */
typedef struct sonde_symloc {
	const char *function; /* "" when unknown */
	const char *file;     /* "" when unknown */
	uint32_t line;        /* 0 when unknown */
	bool inlined;         /* inlined into the next entry */
} sonde_symloc;

/* opts may be NULL. Returns NULL when out of memory. */
sonde_symbolizer *sonde_symbolizer_new(const sonde_symbolizer_opts *opts);
/* Writes the debug cache copies inflated in this run (see debug_cache; a folder that
 * cannot be written is ignored), then frees the symbolizer, its files and strings. NULL
 * is a no-op. */
void sonde_symbolizer_free(sonde_symbolizer *s);

/* Opens the object file at path (or, when that fails, at alt_path, which may be NULL, e.g.
 * /proc/PID/map_files/...), or returns the file already open with the same identity or
 * build-id. *out is borrowed until sonde_symbolizer_free(). Returns 0, -errno, or
 * SONDE_EPARSE when the file is not ELF. Failures are remembered: a path that failed
 * fails again at once. */
int sonde_symbolizer_file(sonde_symbolizer *s, const char *path, const char *alt_path, sonde_symfile **out);

/* The file's ELF information; borrowed. */
const sonde_elf_info *sonde_symfile_elf(const sonde_symfile *f);
/* The file's bytes (a private read-only view); borrowed. */
const uint8_t *sonde_symfile_image(const sonde_symfile *f, size_t *len);
/* Where the DWARF came from: the file itself, a separate debug file's path, or NULL. */
const char *sonde_symfile_debug_path(const sonde_symfile *f);

/* The call frame information of the file, for unwinding: its .eh_frame (NULL when it has
 * none), and the .debug_frame of the file or of its separate debug file (NULL when neither
 * has one; opens the DWARF on first use). Borrowed from the symbolizer; addresses are ELF
 * virtual addresses. */
struct Dwarf_CFI_s *sonde_symfile_eh_cfi(sonde_symfile *f);
struct Dwarf_CFI_s *sonde_symfile_debug_cfi(sonde_symbolizer *s, sonde_symfile *f);

/* Symbolizes the ELF virtual address vaddr of f into out[0..max), innermost first: inlined
 * frames (inlined = true) and then the function that holds them. Returns how many entries
 * were written (>= 1 when max >= 1; an unknown function gives function ""). */
size_t sonde_symfile_symbolize(sonde_symbolizer *s, sonde_symfile *f, uint64_t vaddr, sonde_symloc *out,
                               size_t max);

/* The kernel symbol at a kernel address from /proc/kallsyms (read once), or "" when the
 * addresses are hidden or unknown. Interned; never NULL. *module receives "[kernel.kallsyms]"
 * or "[module_name]". */
const char *sonde_symbolizer_kernel(sonde_symbolizer *s, uint64_t addr, const char **module);

/* The symbol covering addr in /tmp/perf-PID.map (read once per pid), or NULL. Interned. */
const char *sonde_symbolizer_perfmap(sonde_symbolizer *s, pid_t pid, uint64_t addr);

/* Parses the text of a perf map file ("START SIZE NAME" per line, hex numbers), calling fn
 * for each entry. Returns 0, fn's non-zero value, or SONDE_EPARSE with err filled. */
typedef int (*sonde_perfmap_fn)(void *ctx, uint64_t start, uint64_t size, const char *name, size_t name_len);
int sonde_perfmap_parse(const char *buf, size_t len, sonde_perfmap_fn fn, void *ctx, sonde_wire_error *err);

/* Interns a string in the symbolizer (for callers that build names, e.g. "lib.so+0x10").
 * NULL when out of memory. */
const char *sonde_symbolizer_intern(sonde_symbolizer *s, const char *str);

#endif
