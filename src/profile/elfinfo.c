/*
 * elfinfo.c - the ELF reader over libelf (see elfinfo.h).
 *
 * libelf validates headers and table bounds; on top of it every count, offset and string
 * taken from the image is checked here before use. Symbols: STT_FUNC and STT_GNU_IFUNC
 * with a defined section, sorted by address; among symbols at one address one name wins,
 * so aliases do not split a function's samples: one with a size, then global before weak
 * before local (glibc's local "__libc_start_main_alias_2" loses to __libc_start_main), then
 * the shorter name.
 */
#include <errno.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>

#include "elfinfo.h"
#include "sonde/status.h"

static void elf_lib_init(void)
{
	static int done;
	if (!done) {
		elf_version(EV_CURRENT);
		done = 1;
	}
}

static void read_build_id(sonde_elf_info *info, Elf_Data *data)
{
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;
	while (data && (off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && name_off + 4 <= data->d_size &&
		    memcmp((const char *)data->d_buf + name_off, "GNU", 4) == 0 && nh.n_descsz > 0 &&
		    nh.n_descsz <= SONDE_ELF_MAX_BUILD_ID && desc_off + nh.n_descsz <= data->d_size) {
			memcpy(info->build_id, (const char *)data->d_buf + desc_off, nh.n_descsz);
			info->build_id_len = nh.n_descsz;
			return;
		}
	}
}

static void read_debuglink(sonde_elf_info *info, Elf_Data *data)
{
	if (!data || !data->d_buf || data->d_size < 5)
		return;
	const char *p = data->d_buf;
	size_t n = strnlen(p, data->d_size);
	if (n == 0 || n >= sizeof(info->debuglink) || n == data->d_size)
		return;
	size_t crc_off = (n + 4) & ~(size_t)3;
	if (crc_off + 4 > data->d_size)
		return;
	memcpy(info->debuglink, p, n);
	info->debuglink[n] = '\0';
	memcpy(&info->debuglink_crc, p + crc_off, 4);
}

static int bind_rank(int binding)
{
	return binding == STB_GLOBAL ? 0 : binding == STB_WEAK ? 1 : 2;
}

static int sym_cmp(const void *a, const void *b)
{
	const sonde_elf_sym *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* The best name of a run of aliases comes first. */
	if ((x->size != 0) != (y->size != 0))
		return x->size ? -1 : 1;
	int rx = bind_rank(x->binding), ry = bind_rank(y->binding);
	if (rx != ry)
		return rx - ry;
	size_t lx = strlen(x->name), ly = strlen(y->name);
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Appends the function symbols of one symbol table section. */
static int read_symbols(sonde_elf_info *info, Elf *elf, Elf_Scn *scn, const GElf_Shdr *sh, size_t *cap)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	if (!data || sh->sh_entsize == 0)
		return 0;
	size_t n = data->d_size / sh->sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym s;
		if (!gelf_getsym(data, (int)i, &s))
			break;
		int type = GELF_ST_TYPE(s.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF || s.st_value == 0)
			continue;
		const char *name = elf_strptr(elf, sh->sh_link, s.st_name);
		if (!name || !*name)
			continue;
		if (info->nsyms == *cap) {
			size_t nc = *cap ? *cap * 2 : 256;
			sonde_elf_sym *p = realloc(info->syms, nc * sizeof(*p));
			if (!p)
				return -ENOMEM;
			info->syms = p;
			*cap = nc;
		}
		info->syms[info->nsyms++] =
		        (sonde_elf_sym){s.st_value, s.st_size, name, GELF_ST_BIND(s.st_info)};
	}
	return 0;
}

static int read_info(sonde_elf_info *info, void *image, size_t len, bool symbols, sonde_wire_error *err)
{
	memset(info, 0, sizeof(*info));
	elf_lib_init();
	Elf *elf = elf_memory(image, len);
	int rc = 0;
	if (!elf)
		return sonde_wire_fail(err, 0, 0, "header", "not an ELF file: %s", elf_errmsg(-1));
	GElf_Ehdr eh;
	if (elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &eh)) {
		rc = sonde_wire_fail(err, 0, 0, "header", "expected an ELF header (\\x7fELF)");
		goto fail;
	}
	info->elf = elf;
	info->type = eh.e_type;
	info->machine = eh.e_machine;
	info->is_64 = gelf_getclass(elf) == ELFCLASS64;

	size_t nph = 0;
	if (elf_getphdrnum(elf, &nph) != 0) {
		rc = sonde_wire_fail(err, (size_t)eh.e_phoff, 0, "program headers", "unreadable: %s",
		                     elf_errmsg(-1));
		goto fail;
	}
	for (size_t i = 0; i < nph; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(elf, (int)i, &ph))
			break;
		bool wraps = ph.p_offset > UINT64_MAX - ph.p_filesz ||
		             ph.p_offset > UINT64_MAX - ph.p_memsz || ph.p_vaddr > UINT64_MAX - ph.p_memsz ||
		             ph.p_vaddr > UINT64_MAX - ph.p_filesz;
		if (ph.p_type == PT_LOAD && wraps)
			continue; /* a segment that wraps around is not one we can map addresses with */
		if (ph.p_type == PT_LOAD && info->nsegs < SONDE_ELF_MAX_SEGS) {
			info->segs[info->nsegs++] =
			        (sonde_elf_seg){ph.p_offset, ph.p_vaddr, ph.p_filesz, ph.p_memsz, ph.p_flags};
		} else if (ph.p_type == PT_GNU_EH_FRAME && ph.p_offset <= len &&
		           ph.p_filesz <= len - ph.p_offset) {
			info->eh_frame_hdr_vaddr = ph.p_vaddr;
			info->eh_frame_hdr_offset = ph.p_offset;
			info->eh_frame_hdr_size = ph.p_filesz;
		} else if (ph.p_type == PT_NOTE && !info->build_id_len && ph.p_offset <= len &&
		           ph.p_filesz <= len - ph.p_offset) {
			Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
			                                   ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
			read_build_id(info, d);
		}
	}

	size_t shstrndx;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		shstrndx = 0;
	size_t symcap = 0;
	Elf_Scn *scn = NULL, *dynsym = NULL;
	GElf_Shdr dynsym_sh;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *name = shstrndx ? elf_strptr(elf, shstrndx, sh.sh_name) : NULL;
		if (sh.sh_type == SHT_NOTE && !info->build_id_len && sh.sh_type != SHT_NOBITS)
			read_build_id(info, elf_getdata(scn, NULL));
		else if (sh.sh_type == SHT_SYMTAB) {
			if (symbols && (rc = read_symbols(info, elf, scn, &sh, &symcap)) != 0)
				goto fail;
			info->has_symtab = true;
		} else if (sh.sh_type == SHT_DYNSYM) {
			dynsym = scn;
			dynsym_sh = sh;
		} else if (name && strcmp(name, ".gnu_debuglink") == 0 && sh.sh_type != SHT_NOBITS)
			read_debuglink(info, elf_getdata(scn, NULL));
		else if (name && strcmp(name, ".debug_info") == 0 && sh.sh_type != SHT_NOBITS &&
		         sh.sh_size > 0)
			info->has_debug_info = true;
	}
	if (symbols && !info->has_symtab && dynsym &&
	    (rc = read_symbols(info, elf, dynsym, &dynsym_sh, &symcap)) != 0)
		goto fail;
	if (info->nsyms) {
		qsort(info->syms, info->nsyms, sizeof(*info->syms), sym_cmp);
		size_t w = 1;
		for (size_t r = 1; r < info->nsyms; r++)
			if (info->syms[r].addr != info->syms[w - 1].addr)
				info->syms[w++] = info->syms[r];
		info->nsyms = w;
	}
	return 0;
fail:
	free(info->syms);
	elf_end(elf);
	memset(info, 0, sizeof(*info));
	return rc == -ENOMEM ? -ENOMEM : rc ? rc : SONDE_EPARSE;
}

int sonde_elf_info_read(sonde_elf_info *info, void *image, size_t len, sonde_wire_error *err)
{
	return read_info(info, image, len, true, err);
}

int sonde_elf_info_read_headers(sonde_elf_info *info, void *image, size_t len, sonde_wire_error *err)
{
	return read_info(info, image, len, false, err);
}

void sonde_elf_info_release(sonde_elf_info *info)
{
	if (!info)
		return;
	free(info->syms);
	if (info->elf)
		elf_end(info->elf);
	memset(info, 0, sizeof(*info));
}

const sonde_elf_sym *sonde_elf_info_lookup(const sonde_elf_info *info, uint64_t vaddr)
{
	size_t lo = 0, hi = info->nsyms;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (info->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const sonde_elf_sym *s = &info->syms[lo - 1];
	if (s->size ? vaddr - s->addr < s->size : vaddr - s->addr < 4096)
		return s;
	/* A large function may hold smaller symbols (local labels with sizes). */
	for (size_t k = 2; k <= 8 && k <= lo; k++) {
		const sonde_elf_sym *p = &info->syms[lo - k];
		if (p->size && vaddr - p->addr < p->size)
			return p;
	}
	return NULL;
}

int sonde_elf_info_vaddr(const sonde_elf_info *info, uint64_t offset, uint64_t *vaddr)
{
	for (size_t i = 0; i < info->nsegs; i++) {
		const sonde_elf_seg *s = &info->segs[i];
		if (offset >= s->offset &&
		    offset - s->offset < (s->memsz > s->filesz ? s->memsz : s->filesz)) {
			*vaddr = offset - s->offset + s->vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

int sonde_elf_info_offset(const sonde_elf_info *info, uint64_t vaddr, uint64_t *offset)
{
	for (size_t i = 0; i < info->nsegs; i++) {
		const sonde_elf_seg *s = &info->segs[i];
		if (vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz) {
			*offset = vaddr - s->vaddr + s->offset;
			return 0;
		}
	}
	return -ENOENT;
}

void sonde_elf_info_build_id_hex(const sonde_elf_info *info, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < info->build_id_len; i++) {
		out[2 * i] = hex[info->build_id[i] >> 4];
		out[2 * i + 1] = hex[info->build_id[i] & 15];
	}
	out[2 * info->build_id_len] = '\0';
}
