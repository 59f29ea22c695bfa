/*
 * fuzz_elf.c - libFuzzer target for the ELF reader (src/profile/elfinfo.c): any bytes
 * either read as an ELF image whose tables are consistent, or fail with SONDE_EPARSE and
 * a field; lookups and offset conversions on what was read stay in bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elfinfo.h"
#include "sonde/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libelf reads the image in place (it may convert it): give it a copy of its own. */
	void *img = malloc(size ? size : 1);
	if (!img)
		return 0;
	memcpy(img, data, size);
	sonde_elf_info info;
	sonde_wire_error err;
	int rc = sonde_elf_info_read(&info, img, size, &err);
	if (rc != 0) {
		if (rc != SONDE_EPARSE || !err.field[0])
			abort();
		free(img);
		return 0;
	}
	if (info.nsegs > SONDE_ELF_MAX_SEGS || info.build_id_len > SONDE_ELF_MAX_BUILD_ID ||
	    memchr(info.debuglink, '\0', sizeof(info.debuglink)) == NULL)
		abort();
	if (info.eh_frame_hdr_size &&
	    (info.eh_frame_hdr_offset > size || info.eh_frame_hdr_size > size - info.eh_frame_hdr_offset))
		abort();
	char hex[2 * SONDE_ELF_MAX_BUILD_ID + 1];
	sonde_elf_info_build_id_hex(&info, hex);
	if (strlen(hex) != 2 * info.build_id_len)
		abort();
	for (size_t i = 0; i < info.nsyms; i++) {
		if (!info.syms[i].name || (i && info.syms[i].addr <= info.syms[i - 1].addr))
			abort();
		(void)strlen(info.syms[i].name);
		const sonde_elf_sym *s = sonde_elf_info_lookup(&info, info.syms[i].addr);
		if (!s || s->addr > info.syms[i].addr)
			abort();
		sonde_elf_info_lookup(&info, info.syms[i].addr - 1);
		sonde_elf_info_lookup(&info, info.syms[i].addr + info.syms[i].size);
	}
	for (size_t i = 0; i < info.nsegs; i++) {
		uint64_t v, o;
		if (sonde_elf_info_offset(&info, info.segs[i].vaddr, &o) == 0 && info.segs[i].filesz &&
		    sonde_elf_info_vaddr(&info, o, &v) != 0)
			abort();
	}
	sonde_elf_info_release(&info);
	free(img);
	return 0;
}
