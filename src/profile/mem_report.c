/*
 * mem_report.c - the analysis of `sonde mem` recordings (see mem_report.h).
 *
 * Two replays: the first keeps the live blocks in a hash table (pointer -> size, stack)
 * and finds the totals, the peak (its sequence number), the heap over time and what is
 * live at the end; the second stops at the peak's event and counts what is live then.
 * Stacks are symbolized last, with the module map snapshot of the generation each stack
 * was taken in.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem_report.h"
#include "procmaps.h"
#include "symbolize.h"

typedef struct block {
	uint64_t ptr, size;
	uint32_t stack;
	double est; /* estimated bytes it stands for */
} block;

/* Open addressing on ptr (never 0), linear probing, deletion by backward shift. */
typedef struct livemap {
	block *slots;
	size_t mask, count;
} livemap;

static size_t lm_hash(uint64_t p, size_t mask)
{
	return (size_t)(((p >> 4) * 0x9E3779B97F4A7C15ull) >> 29) & mask;
}

static int lm_grow(livemap *m)
{
	size_t cap = m->slots ? (m->mask + 1) * 2 : 1024;
	block *n = calloc(cap, sizeof *n);
	if (!n)
		return -ENOMEM;
	for (size_t i = 0; m->slots && i <= m->mask; i++) {
		if (!m->slots[i].ptr)
			continue;
		size_t j = lm_hash(m->slots[i].ptr, cap - 1);
		while (n[j].ptr)
			j = (j + 1) & (cap - 1);
		n[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = n;
	m->mask = cap - 1;
	return 0;
}

static block *lm_find(const livemap *m, uint64_t p)
{
	if (!m->slots)
		return NULL;
	for (size_t i = lm_hash(p, m->mask);; i = (i + 1) & m->mask) {
		if (m->slots[i].ptr == p)
			return &m->slots[i];
		if (!m->slots[i].ptr)
			return NULL;
	}
}

/* Inserts b (its ptr absent). */
static int lm_put(livemap *m, const block *b)
{
	if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
		int rc = lm_grow(m);
		if (rc)
			return rc;
	}
	size_t i = lm_hash(b->ptr, m->mask);
	while (m->slots[i].ptr)
		i = (i + 1) & m->mask;
	m->slots[i] = *b;
	m->count++;
	return 0;
}

static void lm_del(livemap *m, block *b)
{
	size_t i = (size_t)(b - m->slots), j = i;
	for (;;) {
		m->slots[i].ptr = 0;
		for (;;) {
			j = (j + 1) & m->mask;
			if (!m->slots[j].ptr) {
				m->count--;
				return;
			}
			size_t h = lm_hash(m->slots[j].ptr, m->mask);
			if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
				continue;
			m->slots[i] = m->slots[j];
			i = j;
			break;
		}
	}
}

double sonde_mem_weight(const sonde_memfile_info *info, uint64_t size)
{
	if (info->all || info->sample_bytes == 0 || size == 0)
		return 1;
	return 1 / -expm1(-(double)size / (double)info->sample_bytes);
}

typedef struct replay {
	const sonde_memfile_info *info;
	livemap live;
	double *counts; /* [stack * SONDE_MEM_TYPES + type] */
	size_t nstacks;
	double live_bytes;
	uint64_t now_ns;
	/* pass 1 */
	sonde_mem_report *r;
	uint64_t peak_seq;
	double *tl_last; /* last value seen in each timeline point, NAN when none */
	/* pass 2 */
	int pass;
} replay;

static void count(replay *rp, uint32_t stack, int type, double v)
{
	if (stack < rp->nstacks)
		rp->counts[(size_t)stack * SONDE_MEM_TYPES + (size_t)type] += v;
}

static void timeline(replay *rp)
{
	sonde_mem_report *r = rp->r;
	uint64_t end = r->info.end_ns ? r->info.end_ns : 1;
	size_t i = rp->now_ns >= end ? r->timeline_len - 1
	                             : (size_t)((double)rp->now_ns / (double)end * (double)r->timeline_len);
	if (i >= r->timeline_len)
		i = r->timeline_len - 1;
	if (isnan(r->timeline_bytes[i]) || rp->live_bytes > r->timeline_bytes[i])
		r->timeline_bytes[i] = rp->live_bytes;
	rp->tl_last[i] = rp->live_bytes;
}

static void grew(replay *rp, uint64_t seq)
{
	if (rp->pass == 1 && rp->live_bytes > rp->r->peak_bytes) {
		rp->r->peak_bytes = rp->live_bytes;
		rp->r->peak_ns = rp->now_ns;
		rp->peak_seq = seq;
	}
}

static int release(replay *rp, block *b)
{
	rp->live_bytes -= b->est;
	lm_del(&rp->live, b);
	return 0;
}

static int on_event(void *ctx, const sonde_mem_event *e)
{
	replay *rp = ctx;
	if (rp->pass == 2 && e->seq > rp->peak_seq)
		return 1;
	sonde_mem_report *r = rp->r;
	int rc = 0;
	switch (e->kind) {
	case SONDE_MEMEV_TIME: rp->now_ns = e->size; return 0;
	case SONDE_MEMEV_ALLOC:
	case SONDE_MEMEV_MMAP:
	case SONDE_MEMEV_TEMP: {
		double w = sonde_mem_weight(rp->info, e->size);
		block b = {e->ptr, e->size, e->stack, w * (double)e->size};
		block *old = lm_find(&rp->live, e->ptr);
		if (old)
			release(rp, old); /* a block we never saw freed (e.g. inherited) */
		if (rp->pass == 1) {
			r->alloc_bytes += b.est;
			r->alloc_count += w;
			count(rp, e->stack, SONDE_MEM_ALLOC_SPACE, b.est);
			count(rp, e->stack, SONDE_MEM_ALLOC_OBJECTS, w);
		}
		rp->live_bytes += b.est;
		grew(rp, e->seq);
		if (e->kind == SONDE_MEMEV_TEMP && !(rp->pass == 2 && e->seq == rp->peak_seq)) {
			if (rp->pass == 1) {
				r->temp_count += w;
				r->temp_bytes += b.est;
				r->free_count += w;
				count(rp, e->stack, SONDE_MEM_TEMP_OBJECTS, w);
				timeline(rp);
			}
			rp->live_bytes -= b.est;
			break;
		}
		rc = lm_put(&rp->live, &b);
		break;
	}
	case SONDE_MEMEV_FREE: {
		block *b = lm_find(&rp->live, e->ptr);
		if (b) {
			if (rp->pass == 1)
				r->free_count += b->size ? b->est / (double)b->size : 1;
			release(rp, b);
		}
		break;
	}
	case SONDE_MEMEV_MUNMAP: {
		block *b = lm_find(&rp->live, e->ptr);
		if (!b)
			break;
		if (e->size >= b->size) {
			release(rp, b);
			break;
		}
		block rest = *b;
		double per = b->est / (double)b->size;
		release(rp, b);
		rest.ptr += e->size;
		rest.size -= e->size;
		rest.est = per * (double)rest.size;
		rp->live_bytes += rest.est;
		rc = lm_put(&rp->live, &rest);
		break;
	}
	}
	if (rp->pass == 1)
		timeline(rp);
	return rc;
}

/* --- symbolization --- */

typedef struct mapent {
	uint64_t start, end, pgoff;
	const char *path; /* interned in the symbolizer */
} mapent;

typedef struct snapshot {
	uint32_t gen;
	mapent *ents;
	size_t n, cap;
	sonde_symbolizer *sym;
} snapshot;

static int add_map(void *ctx, const sonde_map_entry *e)
{
	snapshot *s = ctx;
	if (!(e->prot & SONDE_MAP_EXEC) || !e->path_len)
		return 0;
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 64;
		mapent *m = realloc(s->ents, nc * sizeof *m);
		if (!m)
			return -ENOMEM;
		s->ents = m;
		s->cap = nc;
	}
	char path[4096];
	size_t len = e->path_len < sizeof path - 1 ? e->path_len : sizeof path - 1;
	memcpy(path, e->path, len);
	path[len] = 0;
	const char *ip = sonde_symbolizer_intern(s->sym, path);
	if (!ip)
		return -ENOMEM;
	s->ents[s->n++] = (mapent){e->start, e->end, e->pgoff, ip};
	return 0;
}

static const mapent *find_map(const snapshot *s, uint64_t addr)
{
	for (size_t i = 0; i < s->n; i++)
		if (addr >= s->ents[i].start && addr < s->ents[i].end)
			return &s->ents[i];
	return NULL;
}

static int push(uint32_t **frames, size_t *n, size_t *cap, int64_t id)
{
	if (id < 0)
		return (int)id;
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		uint32_t *p = realloc(*frames, nc * sizeof *p);
		if (!p)
			return -ENOMEM;
		*frames = p;
		*cap = nc;
	}
	(*frames)[(*n)++] = (uint32_t)id;
	return 0;
}

/* Symbolizes raw stack id into t; returns the table's stack id or a negative error. */
static int64_t symbolize_stack(const sonde_memfile *f, uint32_t id, snapshot *snaps, size_t nsnaps,
                               sonde_symbolizer *sym, sonde_stacktab *t, uint32_t **frames, size_t *cap)
{
	size_t depth, n = 0;
	uint32_t gen;
	const uint64_t *ips = sonde_memfile_stack(f, id, &depth, &gen);
	for (size_t k = 0; k < depth; k++) {
		uint64_t addr = ips[k] ? ips[k] - 1 : 0; /* return addresses: the call is just before */
		const mapent *m = NULL;
		for (size_t s = 0; s < nsnaps && !m; s++)
			if (snaps[s].gen == gen)
				m = find_map(&snaps[s], addr);
		for (size_t s = nsnaps; s-- > 0 && !m;)
			m = find_map(&snaps[s], addr);
		int rc;
		if (!m) {
			sonde_frame fr = {"", "", "[unknown]", ips[k], 0, false};
			rc = push(frames, &n, cap, sonde_stacktab_intern_frame(t, &fr));
			if (rc)
				return rc;
			continue;
		}
		uint64_t off = addr - m->start + m->pgoff, vaddr = 0;
		sonde_symfile *file = NULL;
		if (sonde_symbolizer_file(sym, m->path, NULL, &file) != 0 ||
		    sonde_elf_info_vaddr(sonde_symfile_elf(file), off, &vaddr) != 0) {
			sonde_frame fr = {"", "", m->path, off, 0, false};
			rc = push(frames, &n, cap, sonde_stacktab_intern_frame(t, &fr));
			if (rc)
				return rc;
			continue;
		}
		sonde_symloc locs[32];
		size_t nl = sonde_symfile_symbolize(sym, file, vaddr, locs, 32);
		if (nl == 1 && !*locs[0].function) {
			sonde_frame fr = {"", "", m->path, vaddr, 0, false};
			rc = push(frames, &n, cap, sonde_stacktab_intern_frame(t, &fr));
			if (rc)
				return rc;
			continue;
		}
		for (size_t j = 0; j < nl; j++) {
			sonde_frame fr = {locs[j].function, locs[j].file,   m->path, vaddr,
			                  locs[j].line,     locs[j].inlined};
			rc = push(frames, &n, cap, sonde_stacktab_intern_frame(t, &fr));
			if (rc)
				return rc;
		}
	}
	return sonde_stacktab_intern_stack(t, *frames, n);
}

static const char *const type_names[SONDE_MEM_TYPES][2] = {
        {"alloc_space", "bytes"},  {"alloc_objects", "count"}, {"peak_space", "bytes"},
        {"peak_objects", "count"}, {"leak_space", "bytes"},    {"leak_objects", "count"},
        {"temp_objects", "count"},
};

/* A count for the table: rounded, and kept far from int64 overflow (sums of stacks). */
static int64_t clamp(double v)
{
	if (!(v > 0))
		return 0;
	return v > 1e15 ? (int64_t)1e15 : llround(v);
}

static int build_table(const sonde_memfile *f, const sonde_mem_report_opts *opts, const double *counts,
                       sonde_stacktab *t)
{
	for (int k = 0; k < SONDE_MEM_TYPES; k++)
		if (sonde_stacktab_add_type(t, type_names[k][0], type_names[k][1]) < 0)
			return -ENOMEM;
	sonde_symbolizer_opts so = {0};
	if (opts && opts->debug_dirs) {
		so.debug_dirs = opts->debug_dirs;
		so.debug_dirs_count = opts->debug_dirs_count;
	}
	sonde_symbolizer *sym = sonde_symbolizer_new(&so);
	size_t nsnaps = sonde_memfile_maps_count(f);
	snapshot *snaps = calloc(nsnaps ? nsnaps : 1, sizeof *snaps);
	uint32_t *frames = NULL;
	size_t cap = 0;
	int rc = sym && snaps ? 0 : -ENOMEM;
	if (opts && opts->no_symbols)
		nsnaps = 0;
	for (size_t i = 0; i < nsnaps && rc == 0; i++) {
		size_t len;
		const char *text = sonde_memfile_maps(f, i, &len, &snaps[i].gen);
		snaps[i].sym = sym;
		int prc = sonde_procmaps_parse(text, len, add_map, &snaps[i], NULL);
		if (prc == -ENOMEM)
			rc = prc; /* a malformed snapshot keeps the lines before the problem */
	}
	size_t nstacks = sonde_memfile_stacks_count(f);
	for (uint32_t id = 0; id < nstacks && rc == 0; id++) {
		const double *c = counts + (size_t)id * SONDE_MEM_TYPES;
		bool any = false;
		for (int k = 0; k < SONDE_MEM_TYPES; k++)
			any |= c[k] != 0;
		if (!any)
			continue;
		int64_t sid = symbolize_stack(f, id, snaps, nsnaps, sym, t, &frames, &cap);
		if (sid < 0) {
			rc = (int)sid;
			break;
		}
		for (int k = 0; k < SONDE_MEM_TYPES; k++)
			if (c[k] != 0)
				sonde_stacktab_add(t, (uint32_t)sid, (size_t)k, clamp(c[k]));
	}
	for (size_t i = 0; snaps && i < nsnaps; i++)
		free(snaps[i].ents);
	free(snaps);
	free(frames);
	sonde_symbolizer_free(sym);
	return rc;
}

int sonde_mem_report_build(const sonde_memfile *f, const sonde_mem_report_opts *opts, sonde_mem_report **out)
{
	sonde_mem_report *r = calloc(1, sizeof *r);
	replay rp = {0};
	int rc = -ENOMEM;
	if (!r)
		return rc;
	r->info = *sonde_memfile_info_get(f);
	r->timeline_len = opts && opts->timeline_points ? opts->timeline_points : 512;
	r->timeline_bytes = malloc(r->timeline_len * sizeof *r->timeline_bytes);
	rp.tl_last = malloc(r->timeline_len * sizeof *rp.tl_last);
	rp.nstacks = sonde_memfile_stacks_count(f);
	rp.counts = calloc(rp.nstacks ? rp.nstacks * SONDE_MEM_TYPES : 1, sizeof *rp.counts);
	r->tab = sonde_stacktab_new();
	if (!r->timeline_bytes || !rp.tl_last || !rp.counts || !r->tab)
		goto fail;
	for (size_t i = 0; i < r->timeline_len; i++)
		r->timeline_bytes[i] = rp.tl_last[i] = NAN;
	rp.info = &r->info;
	rp.r = r;
	rp.pass = 1;
	rc = sonde_memfile_replay(f, on_event, &rp);
	if (rc)
		goto fail;
	/* Points with no event carry the heap size of the point before. */
	double last = 0;
	for (size_t i = 0; i < r->timeline_len; i++) {
		if (isnan(r->timeline_bytes[i]))
			r->timeline_bytes[i] = last;
		else
			last = rp.tl_last[i];
	}
	for (size_t i = 0; rp.live.slots && i <= rp.live.mask; i++) {
		const block *b = &rp.live.slots[i];
		if (!b->ptr)
			continue;
		double w = b->est / (double)(b->size ? b->size : 1);
		r->leak_bytes += b->est;
		r->leak_count += b->size ? w : 1;
		count(&rp, b->stack, SONDE_MEM_LEAK_SPACE, b->est);
		count(&rp, b->stack, SONDE_MEM_LEAK_OBJECTS, b->size ? w : 1);
	}
	free(rp.live.slots);
	memset(&rp.live, 0, sizeof rp.live);
	rp.live_bytes = 0;
	if (r->peak_bytes > 0) {
		rp.pass = 2;
		rc = sonde_memfile_replay(f, on_event, &rp);
		if (rc < 0)
			goto fail;
		for (size_t i = 0; rp.live.slots && i <= rp.live.mask; i++) {
			const block *b = &rp.live.slots[i];
			if (!b->ptr)
				continue;
			count(&rp, b->stack, SONDE_MEM_PEAK_SPACE, b->est);
			count(&rp, b->stack, SONDE_MEM_PEAK_OBJECTS, b->size ? b->est / (double)b->size : 1);
		}
	}
	rc = build_table(f, opts, rp.counts, r->tab);
	if (rc)
		goto fail;
	free(rp.live.slots);
	free(rp.counts);
	free(rp.tl_last);
	*out = r;
	return 0;
fail:
	free(rp.live.slots);
	free(rp.counts);
	free(rp.tl_last);
	sonde_mem_report_free(r);
	return rc < 0 ? rc : -ENOMEM;
}

void sonde_mem_report_free(sonde_mem_report *r)
{
	if (!r)
		return;
	free(r->timeline_bytes);
	sonde_stacktab_free(r->tab);
	free(r);
}

static void human_bytes(sonde_buf *out, double b)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	sonde_buf_printf(out, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void xml_text(sonde_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '<')
			sonde_buf_puts(out, "&lt;");
		else if (*s == '>')
			sonde_buf_puts(out, "&gt;");
		else if (*s == '&')
			sonde_buf_puts(out, "&amp;");
		else
			sonde_buf_putc(out, *s);
	}
}

int sonde_mem_plot_svg(const sonde_mem_report *r, const char *title, sonde_buf *out)
{
	const double w = 900, h = 320, left = 90, right = 20, top = 40, bottom = 40;
	double pw = w - left - right, ph = h - top - bottom;
	double maxb = r->peak_bytes > 0 ? r->peak_bytes : 1;
	size_t n = r->timeline_len;
	double secs = (double)r->info.end_ns / 1e9;
	sonde_buf_printf(out,
	                 "<?xml version=\"1.0\" standalone=\"no\"?>\n"
	                 "<svg version=\"1.1\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" "
	                 "xmlns=\"http://www.w3.org/2000/svg\" font-family=\"Verdana\" font-size=\"12\">\n"
	                 "<rect x=\"0\" y=\"0\" width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n"
	                 "<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"16\">",
	                 w, h, w, h, w / 2);
	xml_text(out, title ? title : "Heap over time");
	sonde_buf_puts(out, "</text>\n");
	sonde_buf_printf(out,
	                 "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#000\"/>\n"
	                 "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#000\"/>\n",
	                 left, top, left, top + ph, left, top + ph, left + pw, top + ph);
	for (int k = 0; k <= 4; k++) {
		double y = top + ph - ph * k / 4;
		sonde_buf_printf(out, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", left - 6, y + 4);
		human_bytes(out, maxb * k / 4);
		sonde_buf_printf(
		        out,
		        "</text>\n<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
		        left, y, left + pw, y);
		double x = left + pw * k / 4;
		sonde_buf_printf(out, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%.3g s</text>\n", x,
		                 top + ph + 18, secs * k / 4);
	}
	sonde_buf_printf(out,
	                 "<polyline fill=\"rgba(230,120,40,0.25)\" stroke=\"#d0601a\" stroke-width=\"1.5\" "
	                 "points=\"%.1f,%.1f",
	                 left, top + ph);
	for (size_t i = 0; i < n; i++) {
		double x0 = left + pw * (double)i / (double)n, x1 = left + pw * (double)(i + 1) / (double)n;
		double y = top + ph - ph * r->timeline_bytes[i] / maxb;
		sonde_buf_printf(out, " %.1f,%.1f %.1f,%.1f", x0, y, x1, y);
	}
	sonde_buf_printf(out, " %.1f,%.1f\"/>\n", left + pw, top + ph);
	double px = left + pw * (r->info.end_ns ? (double)r->peak_ns / (double)r->info.end_ns : 0);
	sonde_buf_printf(
	        out,
	        "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#c00\"/>\n<text x=\"%.1f\" y=\"%.1f\" "
	        "fill=\"#c00\">peak ",
	        px, top, px + 6 < left + pw - 120 ? px + 6 : px - 120, top - 6 > 30 ? top - 6 : top + 14);
	human_bytes(out, r->peak_bytes);
	sonde_buf_printf(out, " at %.3g s</text>\n</svg>\n", (double)r->peak_ns / 1e9);
	return out->oom ? -ENOMEM : 0;
}
