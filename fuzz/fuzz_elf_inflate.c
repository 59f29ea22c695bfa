/*
 * fuzz_elf_inflate.c - libFuzzer target for the ELF section inflater
 * (src/profile/elfinflate.c): any bytes either fail with SONDE_EPARSE, or give an image
 * that the ELF reader accepts, whose section header table lies inside it, and in which
 * no section is compressed any more; with and without the sections a symbolizer never reads,
 * and through libdeflate and the zlib fallback.
 */
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "elfinflate.h"
#include "elfinfo.h"
#include "sonde/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, const sonde_elf_inflate_opts *opts)
{
	void *out;
	size_t len;
	int rc = sonde_elf_inflate(data, size, opts, &out, &len);
	if (rc != 0) {
		if (rc != SONDE_EPARSE && rc != -ENOMEM)
			abort();
		return;
	}
	Elf64_Ehdr eh;
	if (len < sizeof(eh))
		abort();
	memcpy(&eh, out, sizeof(eh));
	if (eh.e_shoff > len || (len - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum)
		abort();
	for (size_t i = 0; i < eh.e_shnum; i++) {
		Elf64_Shdr sh;
		memcpy(&sh, (const uint8_t *)out + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		if (sh.sh_flags & SHF_COMPRESSED)
			abort();
		if (sh.sh_type != SHT_NOBITS && sh.sh_size &&
		    (sh.sh_offset > len || sh.sh_size > len - sh.sh_offset))
			abort();
	}
	sonde_elf_info info;
	if (sonde_elf_info_read_headers(&info, out, len, NULL) == 0)
		sonde_elf_info_release(&info);
	munmap(out, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Every section kept (libdeflate when installed), then the symbolizer's options with
	 * the zlib fallback on odd sizes. */
	check(data, size, NULL);
	sonde_elf_inflate_opts o = {.drop_unread = true, .zlib_only = size % 2 == 1};
	check(data, size, &o);
	return 0;
}
