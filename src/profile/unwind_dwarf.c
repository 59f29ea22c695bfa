/*
 * unwind_dwarf.c - DWARF unwinding of sampled user stacks: sonde's own walk over cached
 * CFI rules (unwind_cfi.c), and libunwind's remote interface where that walk gives up.
 *
 * Design notes. Most samples are unwound by unwind_cfi.c alone: rules parsed once per
 * address, no locks, no system calls. When it gives up (an address in no file or without
 * CFI, a rule it cannot express, a signal frame, memory outside the stack copy), the sample
 * is unwound again from the start with libunwind, except that a walk which used
 * .debug_frame rules (which this libunwind cannot read) keeps whichever walk is deeper.
 * SONDE_UNWINDER_LIBUNWIND uses libunwind alone; SONDE_UNWINDER_CHECK runs both on every
 * sample and counts the samples whose frames differ (a test asserts none do).
 *
 * libunwind. Each sampled process gets one libunwind address space whose accessors
 * read: registers from the sample; memory from the copy of the stack when the address
 * lies in it, otherwise from the mapped file's image (the .eh_frame_hdr search table and
 * .eh_frame the unwinder needs). find_proc_info locates the module of an address and hands
 * libunwind its .eh_frame_hdr binary-search table (UNW_INFO_FORMAT_REMOTE_TABLE), as perf
 * does; where a module has no table libunwind falls back to the frame pointer. Each
 * address space caches unwind rules by address (UNW_CACHE_GLOBAL), flushed when the
 * process's maps change. That cache takes a lock and blocks signals (a sigprocmask system
 * call or two) on every step; libunwind's lock-free per-thread cache is compiled out of
 * Debian's build, which turns UNW_CACHE_PER_THREAD into UNW_CACHE_GLOBAL. A module with
 * .debug_frame alone (no .eh_frame) gets the frame-pointer fallback: this libunwind build
 * does not export its .debug_frame search.
 */
#include <libunwind.h>
#include <stdlib.h>
#include <string.h>

#include "profiler.h"
#include "unwind_internal.h"

enum { MAX_CHECK = 256 }; /* frames kept for a comparison (the profiler asks for at most 256) */

/* Exported by libunwind but not declared in its headers (perf declares it the same way). */
extern int UNW_OBJ(dwarf_search_unwind_table)(unw_addr_space_t as, unw_word_t ip, unw_dyn_info_t *di,
                                              unw_proc_info_t *pi, int need_unwind_info, void *arg);

typedef struct dwarf_proc {
	unw_addr_space_t as;
	uint32_t generation;   /* of the maps the cache was filled under */
	sonde__cfi_cache *cfi; /* the fast walk's rules */
} dwarf_proc;

typedef struct uctx {
	sonde__procmodel *m;
	sonde__proc *p;
	const sonde_perf_record *s;
	uint64_t sp;
	/* The module find_proc_info last used: its image and load bias. */
	const uint8_t *img;
	size_t img_len;
	const sonde_elf_info *elf;
	uint64_t bias;
} uctx;

/* libunwind's x86-64 register numbers -> the sample's registers. */
static int reg_index(unw_regnum_t r)
{
	switch (r) {
	case UNW_X86_64_RAX: return SONDE_REG_AX;
	case UNW_X86_64_RDX: return SONDE_REG_DX;
	case UNW_X86_64_RCX: return SONDE_REG_CX;
	case UNW_X86_64_RBX: return SONDE_REG_BX;
	case UNW_X86_64_RSI: return SONDE_REG_SI;
	case UNW_X86_64_RDI: return SONDE_REG_DI;
	case UNW_X86_64_RBP: return SONDE_REG_BP;
	case UNW_X86_64_RSP: return SONDE_REG_SP;
	case UNW_X86_64_R8: return SONDE_REG_R8;
	case UNW_X86_64_R9: return SONDE_REG_R9;
	case UNW_X86_64_R10: return SONDE_REG_R10;
	case UNW_X86_64_R11: return SONDE_REG_R11;
	case UNW_X86_64_R12: return SONDE_REG_R12;
	case UNW_X86_64_R13: return SONDE_REG_R13;
	case UNW_X86_64_R14: return SONDE_REG_R14;
	case UNW_X86_64_R15: return SONDE_REG_R15;
	case UNW_X86_64_RIP: return SONDE_REG_IP;
	default: return -1;
	}
}

/* Reads 8 bytes at file offset off of an image. */
static bool image_read(const uint8_t *img, size_t len, uint64_t off, unw_word_t *val)
{
	if (!img || off > len || len - off < sizeof(*val))
		return false;
	memcpy(val, img + off, sizeof(*val));
	return true;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write, void *arg)
{
	(void)as;
	uctx *c = arg;
	if (write)
		return -UNW_EINVAL;
	const sonde_perf_record *s = c->s;
	if (addr >= c->sp && addr - c->sp <= s->u.sample.stack_len &&
	    s->u.sample.stack_len - (addr - c->sp) >= sizeof(*valp)) {
		memcpy(valp, s->u.sample.stack + (addr - c->sp), sizeof(*valp));
		return 0;
	}
	/* Unwind tables: first in the module find_proc_info chose, whose read-only segment
	 * may be absent from the maps we were told about. */
	uint64_t off;
	if (c->elf && addr >= c->bias && sonde_elf_info_offset(c->elf, addr - c->bias, &off) == 0 &&
	    image_read(c->img, c->img_len, off, valp))
		return 0;
	sonde__resolved r;
	if (sonde__proc_resolve(c->m, c->p, addr, &r) && r.file) {
		size_t len;
		const uint8_t *img = sonde_symfile_image(r.file, &len);
		if (image_read(img, len, r.offset, valp))
			return 0;
	}
	return -UNW_EINVAL;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t regnum, unw_word_t *valp, int write, void *arg)
{
	(void)as;
	uctx *c = arg;
	int i = reg_index(regnum);
	if (write || i < 0)
		return -UNW_EBADREG;
	*valp = c->s->u.sample.regs[i];
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t num, unw_fpreg_t *val, int write, void *arg)
{
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *cu, void *arg)
{
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *bufp, size_t buf_len, unw_word_t *offp,
                         void *arg)
{
	return -UNW_EINVAL;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dil_addr, void *arg)
{
	return -UNW_ENOINFO;
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	/* libunwind frees what dwarf_search_unwind_table() allocated itself. */
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi, int need_unwind_info,
                          void *arg)
{
	uctx *c = arg;
	sonde__resolved r;
	if (!sonde__proc_resolve(c->m, c->p, ip, &r) || !r.file || !r.vaddr_ok)
		return -UNW_ENOINFO;
	const sonde_elf_info *e = sonde_symfile_elf(r.file);
	size_t len;
	const uint8_t *img = sonde_symfile_image(r.file, &len);
	if (e->eh_frame_hdr_size < 12 || e->eh_frame_hdr_offset > len || len - e->eh_frame_hdr_offset < 12)
		return -UNW_ENOINFO;
	const uint8_t *hdr = img + e->eh_frame_hdr_offset;
	/* version 1; eh_frame_ptr pcrel|sdata4; fde_count udata4; table datarel|sdata4 */
	if (hdr[0] != 1 || hdr[1] != 0x1b || hdr[2] != 0x03 || hdr[3] != 0x3b)
		return -UNW_ENOINFO;
	uint64_t fde_count = rd32(hdr + 8);
	if (fde_count == 0 || fde_count * 8 > e->eh_frame_hdr_size - 12)
		return -UNW_ENOINFO;
	uint64_t bias = ip - r.vaddr;
	c->img = img;
	c->img_len = len;
	c->elf = e;
	c->bias = bias;
	unw_dyn_info_t di;
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = r.map->start;
	di.end_ip = r.map->end;
	di.u.rti.segbase = bias + e->eh_frame_hdr_vaddr;
	di.u.rti.table_data = bias + e->eh_frame_hdr_vaddr + 12;
	di.u.rti.table_len = fde_count * 8 / sizeof(unw_word_t);
	return UNW_OBJ(dwarf_search_unwind_table)(as, ip, &di, pi, need_unwind_info, arg);
}

static unw_accessors_t accessors = {
        .find_proc_info = find_proc_info,
        .put_unwind_info = put_unwind_info,
        .get_dyn_info_list_addr = get_dyn_info_list_addr,
        .access_mem = access_mem,
        .access_reg = access_reg,
        .access_fpreg = access_fpreg,
        .resume = resume,
        .get_proc_name = get_proc_name,
};

static size_t libunwind_walk(dwarf_proc *d, sonde__procmodel *m, sonde__proc *p, const sonde_perf_record *s,
                             uint64_t *ips, size_t max, bool *complete);

static size_t dwarf_unwind(sonde__procmodel *m, sonde__proc *p, const sonde_perf_record *s, uint64_t *ips,
                           size_t max, bool *complete)
{
	*complete = false;
	if (!s->u.sample.has_regs || max == 0)
		return 0;
	dwarf_proc *d = p->unwind_state;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d)
			return 0;
		d->generation = p->generation;
		p->unwind_state = d;
	}
	if (m->dwarf_unwinder == SONDE_UNWINDER_LIBUNWIND)
		return libunwind_walk(d, m, p, s, ips, max, complete);
	bool gave_up, dbg;
	size_t n = sonde__cfi_unwind(&d->cfi, m, p, s, ips, max, complete, &gave_up, &dbg);
	if (!gave_up) {
		m->dwarf_fast++;
		if (m->dwarf_unwinder == SONDE_UNWINDER_CHECK) {
			uint64_t lips[MAX_CHECK];
			bool lc;
			size_t ln = libunwind_walk(d, m, p, s, lips, max < MAX_CHECK ? max : MAX_CHECK, &lc);
			m->dwarf_checked++;
			if (ln != n || lc != *complete || memcmp(lips, ips, n * sizeof(*ips)) != 0)
				m->dwarf_differ++;
		}
		return n;
	}
	uint64_t fips[MAX_CHECK];
	size_t fn = n < MAX_CHECK ? n : MAX_CHECK;
	if (dbg)
		memcpy(fips, ips, fn * sizeof(*ips));
	n = libunwind_walk(d, m, p, s, ips, max, complete);
	if (dbg && fn > n) {
		memcpy(ips, fips, fn * sizeof(*ips));
		n = fn;
		*complete = false;
	}
	return n;
}

/* The sample unwound by libunwind alone. */
static size_t libunwind_walk(dwarf_proc *d, sonde__procmodel *m, sonde__proc *p, const sonde_perf_record *s,
                             uint64_t *ips, size_t max, bool *complete)
{
	*complete = false;
	if (!d->as) {
		d->as = unw_create_addr_space(&accessors, 0);
		if (!d->as)
			return 0;
		unw_set_caching_policy(d->as, UNW_CACHE_GLOBAL);
		unw_set_cache_size(d->as, 1024, 0);
		d->generation = p->generation;
	}
	if (d->generation != p->generation) {
		unw_flush_cache(d->as, 0, 0);
		d->generation = p->generation;
	}
	uctx c = {m, p, s, s->u.sample.regs[SONDE_REG_SP], NULL, 0, NULL, 0};
	unw_cursor_t cur;
	size_t n = 0;
	if (unw_init_remote(&cur, d->as, &c) != 0) {
		ips[n++] = s->u.sample.regs[SONDE_REG_IP];
		return n;
	}
	int rc;
	do {
		unw_word_t ip;
		if (unw_get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0)
			break;
		ips[n++] = ip;
		rc = unw_step(&cur);
		if (rc == 0)
			*complete = true;
	} while (rc > 0 && n < max);
	/* Unwinding may have re-read the maps; the cache belongs to what it read. */
	d->generation = p->generation;
	return n;
}

static void dwarf_proc_release(sonde__proc *p)
{
	dwarf_proc *d = p->unwind_state;
	if (!d)
		return;
	if (d->as)
		unw_destroy_addr_space(d->as);
	sonde__cfi_cache_free(d->cfi);
	free(d);
	p->unwind_state = NULL;
}

const sonde__unwinder_ops sonde__unwind_dwarf = {"dwarf", dwarf_unwind, dwarf_proc_release};
