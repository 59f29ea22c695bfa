/*
 * unwind_cfi.c - the fast DWARF unwinder: x86-64 call frame information applied to a
 * sample's registers and stack copy, with the rules of each address parsed once.
 *
 * Design notes. For each (module, ELF virtual address) the walk meets, libdw finds the CFI
 * row (dwarf_cfi_addrframe on the module's .eh_frame, else on the .debug_frame of the file
 * or its separate debug file) and the row is turned into a compact rule: the CFA as a
 * register plus an offset, and for every general register (DWARF 0-16, 16 being the return
 * address) one of same value, undefined, saved at CFA+n, CFA+n as a value, or another
 * register. Rules are cached in an open-addressing hash table, so a stack of known
 * addresses costs one lookup per frame and a few loads from the stack copy: no locks, no
 * system calls, no allocation. Whatever the compact form cannot express (CFA or register
 * expressions, signal frames, an address in no file, memory outside the stack copy, the
 * libunwind loop check) makes the walk give up and say so; unwind_dwarf.c then unwinds
 * the sample with libunwind, which also knows the frame-pointer heuristics for code
 * without CFI. Non-leaf frames look their rule up at the return address minus one, as
 * libunwind does.
 */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

#include "unwind_internal.h"

enum {
	NREGS = 17, /* DWARF x86-64: rax rdx rcx rbx rsi rdi rbp rsp r8-r15, 16 = return address */
	DW_RSP = 7,
	DW_RA = 16,
	MIN_TABLE = 256,
	RECENT = 4096, /* direct-mapped cache of (process address -> rule) */
};

enum {
	R_SAME = 0, /* the caller's value is this frame's */
	R_UNDEF,    /* unknown in the caller */
	R_AT_CFA,   /* saved at CFA + off */
	R_VAL_CFA,  /* the value CFA + off */
	R_REG,      /* the value of register reg in this frame */
};

enum {
	RULE_OK = 1,          /* a usable rule */
	RULE_DEBUG_FRAME = 2, /* from .debug_frame */
	RULE_UNSUPPORTED = 4, /* no FDE, or something the compact form cannot express */
};

typedef struct cfi_rule {
	uint64_t vaddr;  /* key: ELF virtual address looked up */
	uint32_t module; /* key */
	uint8_t flags;   /* RULE_* */
	uint8_t cfa_reg;
	uint8_t kind[NREGS];
	uint8_t reg[NREGS];
	int32_t cfa_off;
	int32_t off[NREGS];
} cfi_rule;

/* A recently used address of the process: its rule without resolving it again. */
typedef struct recent {
	uint64_t addr;
	uint32_t generation; /* of the process's maps */
	uint32_t epoch;      /* of the rule table (0: empty) */
	uint32_t rule;       /* index in rules */
} recent;

struct sonde__cfi_cache {
	cfi_rule *rules; /* open addressing; module SONDE__NO_MODULE marks an empty slot */
	size_t mask, used;
	uint32_t epoch; /* bumped when the rule table moves */
	recent recent[RECENT];
};

/* DWARF register number -> the sample's register. */
static const int8_t dw_to_sample[NREGS] = {
        SONDE_REG_AX,  SONDE_REG_DX,  SONDE_REG_CX,  SONDE_REG_BX,  SONDE_REG_SI,  SONDE_REG_DI,
        SONDE_REG_BP,  SONDE_REG_SP,  SONDE_REG_R8,  SONDE_REG_R9,  SONDE_REG_R10, SONDE_REG_R11,
        SONDE_REG_R12, SONDE_REG_R13, SONDE_REG_R14, SONDE_REG_R15, SONDE_REG_IP,
};

void sonde__cfi_cache_free(sonde__cfi_cache *c)
{
	if (!c)
		return;
	free(c->rules);
	free(c);
}

static uint64_t key_hash(uint32_t module, uint64_t vaddr)
{
	uint64_t h = (vaddr ^ ((uint64_t)module << 40)) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static int cache_grow(sonde__cfi_cache *c)
{
	size_t cap = c->rules ? (c->mask + 1) * 2 : MIN_TABLE;
	cfi_rule *nr = malloc(cap * sizeof(*nr));
	if (!nr)
		return -1;
	for (size_t i = 0; i < cap; i++)
		nr[i].module = SONDE__NO_MODULE;
	for (size_t i = 0; c->rules && i <= c->mask; i++) {
		cfi_rule *r = &c->rules[i];
		if (r->module == SONDE__NO_MODULE)
			continue;
		size_t j = key_hash(r->module, r->vaddr) & (cap - 1);
		while (nr[j].module != SONDE__NO_MODULE)
			j = (j + 1) & (cap - 1);
		nr[j] = *r;
	}
	free(c->rules);
	c->rules = nr;
	c->mask = cap - 1;
	c->epoch++;
	return 0;
}

/* Reads the CFA rule of a libdw frame: register + offset only. */
static bool parse_cfa(Dwarf_Frame *fr, cfi_rule *r)
{
	Dwarf_Op *ops;
	size_t nops;
	if (dwarf_frame_cfa(fr, &ops, &nops) != 0 || nops != 1)
		return false;
	uint64_t reg;
	int64_t off;
	if (ops[0].atom == DW_OP_bregx) {
		reg = ops[0].number;
		off = (int64_t)ops[0].number2;
	} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31) {
		reg = ops[0].atom - DW_OP_breg0;
		off = (int64_t)ops[0].number;
	} else {
		return false;
	}
	if (reg >= DW_RA || off < INT32_MIN || off > INT32_MAX)
		return false;
	r->cfa_reg = (uint8_t)reg;
	r->cfa_off = (int32_t)off;
	return true;
}

/* Reads the rule of DWARF register regno. */
static bool parse_reg(Dwarf_Frame *fr, int regno, cfi_rule *r)
{
	Dwarf_Op mem[3], *ops;
	size_t nops;
	if (dwarf_frame_register(fr, regno, mem, &ops, &nops) != 0)
		return false;
	if (nops == 0) {
		r->kind[regno] = ops ? R_UNDEF : R_SAME;
		return true;
	}
	bool value = ops[nops - 1].atom == DW_OP_stack_value;
	if (value)
		nops--;
	int64_t off = 0;
	if (nops >= 1 && ops[0].atom == DW_OP_call_frame_cfa) {
		if (nops == 2 && ops[1].atom == DW_OP_plus_uconst)
			off = (int64_t)ops[1].number;
		else if (nops == 2 && ops[1].atom == DW_OP_consts)
			return false;
		else if (nops != 1)
			return false;
		if (off < INT32_MIN || off > INT32_MAX)
			return false;
		r->kind[regno] = value ? R_VAL_CFA : R_AT_CFA;
		r->off[regno] = (int32_t)off;
		return true;
	}
	if (value && nops == 1) {
		uint64_t reg;
		if (ops[0].atom == DW_OP_bregx && ops[0].number2 == 0) {
			reg = ops[0].number;
		} else if (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31 && ops[0].number == 0) {
			reg = ops[0].atom - DW_OP_breg0;
		} else {
			return false;
		}
		if (reg >= DW_RA)
			return false;
		r->kind[regno] = R_REG;
		r->reg[regno] = (uint8_t)reg;
		return true;
	}
	return false;
}

/* Fills r from a CFI row; false when the row cannot be expressed. */
static bool rule_from_frame(Dwarf_Frame *fr, cfi_rule *r)
{
	bool signal = false;
	int ra = dwarf_frame_info(fr, NULL, NULL, &signal);
	if (ra != DW_RA || signal || !parse_cfa(fr, r))
		return false;
	for (int i = 0; i < NREGS; i++)
		if (!parse_reg(fr, i, r))
			return false;
	return true;
}

/* Computes the rule of (module, vaddr) of file f. */
static void rule_compute(sonde__procmodel *m, sonde_symfile *f, uint64_t vaddr, cfi_rule *r)
{
	r->flags = RULE_UNSUPPORTED;
	Dwarf_Frame *fr = NULL;
	bool dbg = false;
	Dwarf_CFI *cfi = sonde_symfile_eh_cfi(f);
	if (!cfi || dwarf_cfi_addrframe(cfi, vaddr, &fr) != 0) {
		free(fr);
		fr = NULL;
		cfi = sonde_symfile_debug_cfi(m->sym, f);
		if (!cfi || dwarf_cfi_addrframe(cfi, vaddr, &fr) != 0) {
			free(fr);
			return;
		}
		dbg = true;
	}
	if (rule_from_frame(fr, r))
		r->flags = RULE_OK | (dbg ? RULE_DEBUG_FRAME : 0);
	free(fr);
}

/* The rule of (module, vaddr), computed on first use; NULL when out of memory. */
static const cfi_rule *rule_get(sonde__cfi_cache *c, sonde__procmodel *m, sonde_symfile *f, uint32_t module,
                                uint64_t vaddr)
{
	if (c->rules) {
		for (size_t j = key_hash(module, vaddr) & c->mask;; j = (j + 1) & c->mask) {
			cfi_rule *r = &c->rules[j];
			if (r->module == SONDE__NO_MODULE)
				break;
			if (r->module == module && r->vaddr == vaddr)
				return r;
		}
	}
	if ((!c->rules || (c->used + 1) * 2 > c->mask + 1) && cache_grow(c) != 0)
		return NULL;
	cfi_rule nr;
	memset(&nr, 0, sizeof(nr));
	rule_compute(m, f, vaddr, &nr);
	nr.module = module;
	nr.vaddr = vaddr;
	size_t j = key_hash(module, vaddr) & c->mask;
	while (c->rules[j].module != SONDE__NO_MODULE)
		j = (j + 1) & c->mask;
	c->rules[j] = nr;
	c->used++;
	return &c->rules[j];
}

/* 8 bytes of the stack copy at addr. */
static bool stack_read(const sonde_perf_record *s, uint64_t sp, uint64_t addr, uint64_t *val)
{
	size_t len = s->u.sample.stack_len;
	if (addr < sp || addr - sp > len || len - (addr - sp) < sizeof(*val))
		return false;
	memcpy(val, s->u.sample.stack + (addr - sp), sizeof(*val));
	return true;
}

size_t sonde__cfi_unwind(sonde__cfi_cache **cache, sonde__procmodel *m, sonde__proc *p,
                         const sonde_perf_record *s, uint64_t *ips, size_t max, bool *complete, bool *gave_up,
                         bool *debug_frame)
{
	*complete = false;
	*gave_up = true;
	*debug_frame = false;
	if (!*cache) {
		*cache = calloc(1, sizeof(**cache));
		if (!*cache)
			return 0;
		(*cache)->epoch = 1;
	}
	sonde__cfi_cache *c = *cache;
	uint64_t regs[NREGS], next[NREGS];
	uint32_t valid = (1u << NREGS) - 1, nvalid;
	for (int i = 0; i < NREGS; i++)
		regs[i] = s->u.sample.regs[dw_to_sample[i]];
	const uint64_t sp0 = regs[DW_RSP];
	size_t n = 0;
	while (n < max) {
		uint64_t pc = regs[DW_RA];
		if (pc == 0)
			return n; /* libunwind's business: it stops without saying "end" */
		ips[n++] = pc;
		uint64_t look = n > 1 ? pc - 1 : pc;
		recent *rc = &c->recent[(look ^ (look >> 12)) & (RECENT - 1)];
		const cfi_rule *r;
		if (rc->addr == look && rc->generation == p->generation && rc->epoch == c->epoch) {
			r = &c->rules[rc->rule];
		} else {
			sonde__resolved res;
			if (!sonde__proc_resolve(m, p, look, &res) || !res.file || !res.vaddr_ok)
				return n;
			r = rule_get(c, m, res.file, res.module, res.vaddr);
			if (!r)
				return n;
			*rc = (recent){look, p->generation, c->epoch, (uint32_t)(r - c->rules)};
		}
		if (!(r->flags & RULE_OK))
			return n;
		if (r->flags & RULE_DEBUG_FRAME)
			*debug_frame = true;
		if (!(valid & (1u << r->cfa_reg)))
			return n;
		uint64_t cfa = regs[r->cfa_reg] + (uint64_t)(int64_t)r->cfa_off;
		nvalid = 0;
		for (int i = 0; i < NREGS; i++) {
			uint64_t v = 0;
			bool ok = true;
			switch (r->kind[i]) {
			case R_SAME:
				v = regs[i];
				ok = valid & (1u << i);
				break;
			case R_UNDEF: ok = false; break;
			case R_AT_CFA:
				if (!stack_read(s, sp0, cfa + (uint64_t)(int64_t)r->off[i], &v))
					return n;
				break;
			case R_VAL_CFA: v = cfa + (uint64_t)(int64_t)r->off[i]; break;
			case R_REG:
				v = regs[r->reg[i]];
				ok = valid & (1u << r->reg[i]);
				break;
			}
			next[i] = v;
			if (ok)
				nvalid |= 1u << i;
		}
		/* x86-64: the caller's stack pointer is the CFA unless a rule says otherwise. */
		if (r->kind[DW_RSP] == R_SAME || r->kind[DW_RSP] == R_UNDEF) {
			next[DW_RSP] = cfa;
			nvalid |= 1u << DW_RSP;
		}
		if (!(nvalid & (1u << DW_RA)) || next[DW_RA] == 0) {
			*complete = true; /* the outermost frame (_start, clone) */
			*gave_up = false;
			return n;
		}
		if (next[DW_RA] == pc && next[DW_RSP] == regs[DW_RSP])
			return n; /* the same frame again: libunwind calls it a bad frame */
		memcpy(regs, next, sizeof(regs));
		valid = nvalid;
	}
	*gave_up = false;
	return n;
}
