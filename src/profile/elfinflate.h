/*
 * elfinflate.h - an uncompressed copy, in memory, of an ELF file whose sections are
 * compressed (SHF_COMPRESSED with ELFCOMPRESS_ZLIB: Debian's -dbg packages).
 *
 * libdw inflates every compressed section when it opens a file, with zlib. The symbolizer
 * instead builds the uncompressed image itself, with libdeflate when the library is
 * installed (looked up with dlopen: no build dependency; about twice as fast as zlib) and
 * zlib otherwise, and opens the DWARF from that image; the same bytes are what the debug
 * cache keeps (symbolize.h). The image is outside input and never trusted: every offset
 * and size is checked, and anything unusual (32-bit or big-endian files, extended section
 * numbering, other compression types, loadable sections after a compressed one, sizes that
 * do not add up) is refused with SONDE_EPARSE so that the caller can fall back to libelf.
 *
 * A symbolizer reads neither location lists nor macro and name-index sections, so
 * sonde_elf_inflate_opts.drop_unread leaves them out of the image (about a seventh of the
 * bytes of glibc's debug file, and of the time to inflate it).
 *
 * Ownership: the image returned is an anonymous mapping owned by the caller (munmap).
 * Thread-safe.
 */
#ifndef SONDE_ELFINFLATE_H
#define SONDE_ELFINFLATE_H

#include <stdbool.h>
#include <stddef.h>

/* Upper bound of the uncompressed image: larger files are refused (SONDE_EPARSE). */
#define SONDE_ELF_INFLATE_MAX ((size_t)1 << 32)

typedef struct sonde_elf_inflate_opts {
	/* Sections the symbolizer never reads (.debug_loc, .debug_loclists, .debug_macro,
	 * .debug_macinfo, .debug_pubnames, .debug_pubtypes, .debug_gnu_pubnames,
	 * .debug_gnu_pubtypes) become SHT_NOBITS sections without contents (their size and
	 * alignment those of the uncompressed data), as in strip --only-keep-debug. */
	bool drop_unread;
	/* Inflate with zlib even when libdeflate is installed (to test the fallback). */
	bool zlib_only;
} sonde_elf_inflate_opts;

/* Builds in *out (an anonymous mapping of *out_len bytes, munmap() it) the ELF image
 * img[0..len) with its compressed sections inflated: the bytes before the first
 * compressed section as they are, then each later section in file order (inflated ones
 * with SHF_COMPRESSED cleared and the alignment their header gives), then the section
 * header table. opts may be NULL (every section kept; libdeflate when installed). Returns
 * 0, -ENOMEM, or SONDE_EPARSE when the file has no compressed section or is not one this
 * handles (see above). */
int sonde_elf_inflate(const void *img, size_t len, const sonde_elf_inflate_opts *opts, void **out,
                      size_t *out_len);

#endif
