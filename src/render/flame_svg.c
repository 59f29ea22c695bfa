/*
 * flame_svg.c - flame graphs (ordinary and differential) as interactive SVG (see
 * flame_svg.h).
 *
 * Design, for speed on large profiles (the goal is 100 MB/s of folded input, parse
 * included, in memory under twice the input): no tree is built. Every frame gets a label
 * rank (labels sorted by name, kind, module, so equal labels merge and siblings come out
 * alphabetical); the stacks are sorted by their root-first sequence of ranks; one pass
 * then walks them in order keeping only the path of open frames: a frame closes, with
 * its width known, when the next stack leaves it. That is flamegraph.pl's algorithm over
 * integers instead of strings. Closed frames too narrow to draw are pooled per depth into
 * runs of adjacent siblings; what is drawn is at most a few thousand rectangles whatever
 * the input size, so the SVG costs nothing next to the sort.
 */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "flame_svg.h"
#include "hash.h"
#include "intern.h"
#include "json.h"
#include "profile_formats.h"

enum {
	FRAME_H = 16,   /* pixels per level */
	FONT_PX = 12,   /* text size */
	PAD_X = 10,     /* left and right margins */
	PAD_BOTTOM = 34 /* room for the details line */
};
#define CHAR_W (FONT_PX * 0.59) /* average glyph width of Verdana at FONT_PX */

/* Special labels beyond the ranks of real ones. */
#define LABEL_ALL    UINT32_MAX
#define LABEL_MERGED (UINT32_MAX - 1)

typedef struct label {
	const char *name;   /* interned in the builder's table */
	const char *module; /* interned */
	uint8_t kind;       /* sonde_frame_kind */
	uint32_t rank;
} label;

typedef struct entry {
	const uint32_t *frames; /* leaf first, borrowed from the table */
	uint32_t depth;
	uint8_t tab;   /* 0: after (or the only table), 1: before */
	int64_t count; /* after's count, or 0 */
	double before; /* before's count scaled to after's total, or 0 */
} entry;

typedef struct node {
	uint32_t label; /* rank, LABEL_ALL or LABEL_MERGED */
	uint32_t depth; /* 0: the "all" frame */
	uint32_t merged;
	int64_t x, w; /* in samples of after */
	double bw;    /* before's width, scaled */
} node;

typedef struct bucket {
	int64_t x, w;
	double bw;
	uint32_t n;
} bucket;

typedef struct builder {
	sonde_arena arena;
	sonde_intern strings;
	label *labels;
	size_t nlabels, labels_cap;
	uint32_t *slots; /* label index + 1 by hash */
	size_t mask;
	uint32_t *rank_of[2]; /* frame id -> rank, per table */
	uint32_t *by_rank;    /* rank -> label index */

	entry *ents;
	size_t nents;

	node *nodes;
	size_t nnodes, nodes_cap;
	bucket *buckets;
	uint32_t *open_rank;
	int64_t *open_x;
	double *open_b;
	size_t open_cap;
	uint32_t max_depth;
	int64_t min_w;
	bool oom;
} builder;

static void builder_release(builder *b)
{
	sonde_intern_release(&b->strings);
	sonde_arena_release(&b->arena);
	free(b->labels);
	free(b->slots);
	free(b->rank_of[0]);
	free(b->rank_of[1]);
	free(b->by_rank);
	free(b->ents);
	free(b->nodes);
	free(b->buckets);
	free(b->open_rank);
	free(b->open_x);
	free(b->open_b);
}

static uint64_t label_hash(const char *name, const char *module, uint8_t kind)
{
	return sonde_hash_mix((uintptr_t)name ^ 0x9e3779b97f4a7c15ULL, (uintptr_t)module * 31 + kind + 1);
}

/* The label index of (name, module, kind); strings already interned. */
static uint32_t label_of(builder *b, const char *name, const char *module, uint8_t kind)
{
	if ((b->nlabels + 1) * 2 > (b->slots ? b->mask + 1 : 0)) {
		size_t cap = b->slots ? (b->mask + 1) * 2 : 1024;
		uint32_t *s = calloc(cap, sizeof(*s));
		if (!s) {
			b->oom = true;
			return 0;
		}
		for (size_t i = 0; i < b->nlabels; i++) {
			const label *l = &b->labels[i];
			size_t j = label_hash(l->name, l->module, l->kind) & (cap - 1);
			while (s[j])
				j = (j + 1) & (cap - 1);
			s[j] = (uint32_t)(i + 1);
		}
		free(b->slots);
		b->slots = s;
		b->mask = cap - 1;
	}
	size_t j = label_hash(name, module, kind) & b->mask;
	for (; b->slots[j]; j = (j + 1) & b->mask) {
		const label *l = &b->labels[b->slots[j] - 1];
		if (l->name == name && l->module == module && l->kind == kind)
			return b->slots[j] - 1;
	}
	if (b->nlabels == b->labels_cap) {
		size_t cap = b->labels_cap ? b->labels_cap * 2 : 256;
		label *l = realloc(b->labels, cap * sizeof(*l));
		if (!l) {
			b->oom = true;
			return 0;
		}
		b->labels = l;
		b->labels_cap = cap;
	}
	b->labels[b->nlabels] = (label){name, module, kind, 0};
	b->slots[j] = (uint32_t)(b->nlabels + 1);
	return (uint32_t)b->nlabels++;
}

/* Gives every frame of t its label; rank_of[tab] holds label indexes until ranking. */
static void label_frames(builder *b, const sonde_stacktab *t, int tab)
{
	size_t n = sonde_stacktab_frames_count(t);
	b->rank_of[tab] = malloc((n ? n : 1) * sizeof(uint32_t));
	if (!b->rank_of[tab]) {
		b->oom = true;
		return;
	}
	sonde_buf name = SONDE_BUF_INIT;
	for (size_t i = 0; i < n && !b->oom; i++) {
		const sonde_frame *f = sonde_stacktab_frame(t, (uint32_t)i);
		sonde_buf_reset(&name);
		sonde_profile_frame_name(f, &name);
		if (!name.len)
			sonde_buf_puts(&name, "[unknown]");
		const char *nm = name.oom ? NULL : sonde_intern_str(&b->strings, name.data, name.len);
		const char *mod = sonde_intern_str(&b->strings, f->module, strlen(f->module));
		if (!nm || !mod) {
			b->oom = true;
			break;
		}
		b->rank_of[tab][i] = label_of(b, nm, mod, (uint8_t)sonde_frame_kind_of(f));
	}
	sonde_buf_release(&name);
}

static int label_cmp(const void *x, const void *y, void *ctx)
{
	const label *labels = ctx;
	const label *a = &labels[*(const uint32_t *)x], *c = &labels[*(const uint32_t *)y];
	int r = strcmp(a->name, c->name);
	if (r)
		return r;
	if (a->kind != c->kind)
		return a->kind < c->kind ? -1 : 1;
	return strcmp(a->module, c->module);
}

/* Sorts the labels and turns rank_of[] from label indexes into ranks. */
static void rank_labels(builder *b, const sonde_stacktab *const *tabs, int ntabs)
{
	b->by_rank = malloc((b->nlabels ? b->nlabels : 1) * sizeof(*b->by_rank));
	if (!b->by_rank) {
		b->oom = true;
		return;
	}
	for (size_t i = 0; i < b->nlabels; i++)
		b->by_rank[i] = (uint32_t)i;
	qsort_r(b->by_rank, b->nlabels, sizeof(*b->by_rank), label_cmp, b->labels);
	for (size_t r = 0; r < b->nlabels; r++)
		b->labels[b->by_rank[r]].rank = (uint32_t)r;
	for (int k = 0; k < ntabs; k++) {
		size_t n = sonde_stacktab_frames_count(tabs[k]);
		for (size_t i = 0; i < n; i++)
			b->rank_of[k][i] = b->labels[b->rank_of[k][i]].rank;
	}
}

static int entry_cmp(const void *x, const void *y, void *ctx)
{
	uint32_t *const *rank_of = ctx;
	const entry *a = x, *c = y;
	const uint32_t *ra = rank_of[a->tab], *rc = rank_of[c->tab];
	uint32_t n = a->depth < c->depth ? a->depth : c->depth;
	for (uint32_t i = 1; i <= n; i++) {
		uint32_t p = ra[a->frames[a->depth - i]], q = rc[c->frames[c->depth - i]];
		if (p != q)
			return p < q ? -1 : 1;
	}
	if (a->depth != c->depth)
		return a->depth < c->depth ? -1 : 1;
	return 0;
}

static void add_entries(builder *b, const sonde_stacktab *t, size_t type, int tab, double scale)
{
	size_t n = sonde_stacktab_stacks_count(t);
	for (size_t s = 0; s < n; s++) {
		int64_t c = sonde_stacktab_count(t, (uint32_t)s, type);
		if (c <= 0)
			continue;
		size_t depth;
		const uint32_t *fr = sonde_stacktab_stack(t, (uint32_t)s, &depth);
		entry *e = &b->ents[b->nents++];
		*e = (entry){fr, (uint32_t)depth, (uint8_t)tab, tab == 0 ? c : 0,
		             tab == 1 ? (double)c * scale : 0};
	}
}

static void emit(builder *b, node nd)
{
	if (b->nnodes == b->nodes_cap) {
		size_t cap = b->nodes_cap ? b->nodes_cap * 2 : 1024;
		node *p = realloc(b->nodes, cap * sizeof(*p));
		if (!p) {
			b->oom = true;
			return;
		}
		b->nodes = p;
		b->nodes_cap = cap;
	}
	b->nodes[b->nnodes++] = nd;
	if (nd.depth > b->max_depth)
		b->max_depth = nd.depth;
}

static void flush_bucket(builder *b, uint32_t depth)
{
	bucket *k = &b->buckets[depth];
	if (k->n && k->w >= b->min_w && k->w > 0)
		emit(b, (node){LABEL_MERGED, depth, k->n, k->x, k->w, k->bw});
	k->n = 0;
}

/* Closes the open frame at depth d (1-based: the "all" frame is depth 0), which ends at
 * x (samples) and xb (before). */
static void close_frame(builder *b, uint32_t d, int64_t x, double xb)
{
	if (d + 1 < b->open_cap)
		flush_bucket(b, d + 1);
	node nd = {b->open_rank[d], d, 0, b->open_x[d], x - b->open_x[d], xb - b->open_b[d]};
	bucket *k = &b->buckets[d];
	if (nd.w >= b->min_w && nd.w > 0) {
		flush_bucket(b, d);
		emit(b, nd);
		return;
	}
	if (k->n && k->x + k->w != nd.x)
		flush_bucket(b, d);
	if (!k->n) {
		k->x = nd.x;
		k->w = 0;
		k->bw = 0;
	}
	k->w += nd.w;
	k->bw += nd.bw;
	k->n++;
}

static bool open_room(builder *b, size_t need)
{
	if (need <= b->open_cap)
		return true;
	size_t cap = b->open_cap ? b->open_cap : 64;
	while (cap < need)
		cap *= 2;
	uint32_t *r = realloc(b->open_rank, cap * sizeof(*r));
	if (r)
		b->open_rank = r;
	int64_t *x = realloc(b->open_x, cap * sizeof(*x));
	if (x)
		b->open_x = x;
	double *xb = realloc(b->open_b, cap * sizeof(*xb));
	if (xb)
		b->open_b = xb;
	bucket *k = realloc(b->buckets, (cap + 1) * sizeof(*k));
	if (k) {
		memset(k + b->open_cap, 0, (cap + 1 - b->open_cap) * sizeof(*k));
		b->buckets = k;
	}
	if (!r || !x || !xb || !k) {
		b->oom = true;
		return false;
	}
	b->open_cap = cap;
	return true;
}

/* The walk over sorted stacks; frames at depth 1.. (0 is "all"). */
static void walk(builder *b, int64_t total, double total_before)
{
	size_t open = 0; /* open frames at depths 1..open */
	int64_t x = 0;
	double xb = 0;
	if (!open_room(b, 2))
		return;
	for (size_t i = 0; i < b->nents && !b->oom; i++) {
		const entry *e = &b->ents[i];
		const uint32_t *ranks = b->rank_of[e->tab];
		if (!open_room(b, (size_t)e->depth + 2))
			return;
		size_t common = 0;
		while (common < open && common < e->depth &&
		       b->open_rank[common + 1] == ranks[e->frames[e->depth - 1 - common]])
			common++;
		while (open > common) {
			close_frame(b, (uint32_t)open, x, xb);
			open--;
		}
		for (; open < e->depth; open++) {
			b->open_rank[open + 1] = ranks[e->frames[e->depth - 1 - open]];
			b->open_x[open + 1] = x;
			b->open_b[open + 1] = xb;
		}
		x += e->count;
		xb += e->before;
	}
	while (open > 0) {
		close_frame(b, (uint32_t)open, x, xb);
		open--;
	}
	flush_bucket(b, 1);
	emit(b, (node){LABEL_ALL, 0, 0, 0, total, total_before});
}

/* Colours. */

typedef struct rgb {
	int r, g, b;
} rgb;

/* Three numbers in [0, 1) from a name, stable across runs. */
static void name_hash(const char *s, double v[3])
{
	uint64_t h = sonde_hash_bytes(s, strlen(s), 0x6a09e667);
	for (int i = 0; i < 3; i++)
		v[i] = (double)((h >> (i * 21)) & 0xfffff) / 1048576.0;
}

static rgb hsl(double h, double s, double l)
{
	double c = (1 - fabs(2 * l - 1)) * s, hp = h / 60.0, x = c * (1 - fabs(fmod(hp, 2) - 1)),
	       m = l - c / 2;
	double r = 0, g = 0, b = 0;
	if (hp < 1)
		r = c, g = x;
	else if (hp < 2)
		r = x, g = c;
	else if (hp < 3)
		g = c, b = x;
	else if (hp < 4)
		g = x, b = c;
	else if (hp < 5)
		r = x, b = c;
	else
		r = c, b = x;
	return (rgb){(int)lround((r + m) * 255), (int)lround((g + m) * 255), (int)lround((b + m) * 255)};
}

static rgb colour_of(const sonde_flame_opts *o, const label *l, uint32_t which)
{
	if (which == LABEL_MERGED)
		return (rgb){200, 200, 200};
	const char *name = which == LABEL_ALL ? "all" : l->name;
	double v[3];
	name_hash(name, v);
	uint8_t kind = which == LABEL_ALL ? SONDE_FRAME_USER : l->kind;
	if (kind == SONDE_FRAME_THREAD)
		return (rgb){(int)(120 + 40 * v[0]), (int)(140 + 40 * v[0]), (int)(200 + 40 * v[0])};
	if (o->colors == SONDE_FLAME_COLOR_MODULE && which != LABEL_ALL && l->module[0]) {
		double m[3];
		name_hash(l->module, m);
		return hsl(m[0] * 360.0, 0.45 + 0.25 * v[1], 0.62 + 0.12 * v[2]);
	}
	switch (kind) {
	case SONDE_FRAME_KERNEL: return (rgb){(int)(190 + 65 * v[0]), (int)(90 + 65 * v[0]), 0};
	case SONDE_FRAME_INLINED:
		return (rgb){(int)(50 + 60 * v[0]), (int)(165 + 55 * v[0]), (int)(165 + 55 * v[0])};
	case SONDE_FRAME_JIT:
		return (rgb){(int)(50 + 60 * v[0]), (int)(200 + 55 * v[0]), (int)(50 + 60 * v[0])};
	default: return (rgb){(int)(205 + 50 * v[2]), (int)(230 * v[0]), (int)(55 * v[1])};
	}
}

static rgb diff_colour(double delta, double max_abs)
{
	if (max_abs <= 0 || delta == 0)
		return (rgb){250, 250, 250};
	double r = fabs(delta) / max_abs;
	int c = (int)lround(220 * (1 - r));
	return delta > 0 ? (rgb){255, c, c} : (rgb){c, c, 255};
}

/* Text. */

/* Appends s[0..n) escaped for XML text and attributes; bytes that are not valid UTF-8,
 * and control characters, become '?'. */
static void put_xml(sonde_buf *out, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		const unsigned char *q = p;
		while (q < end && *q >= 0x20 && *q < 0x80 && *q != '&' && *q != '<' && *q != '>' && *q != '"')
			q++;
		sonde_buf_append(out, p, (size_t)(q - p));
		p = q;
		if (p >= end)
			break;
		unsigned c = *p;
		if (c == '&')
			sonde_buf_append(out, "&amp;", 5), p++;
		else if (c == '<')
			sonde_buf_append(out, "&lt;", 4), p++;
		else if (c == '>')
			sonde_buf_append(out, "&gt;", 4), p++;
		else if (c == '"')
			sonde_buf_append(out, "&quot;", 6), p++;
		else if (c < 0x80)
			sonde_buf_putc(out, '?'), p++;
		else {
			size_t k = sonde__utf8_len(p, end);
			/* U+FFFE and U+FFFF are not XML characters either. */
			if (k == 3 && p[0] == 0xEF && p[1] == 0xBF && p[2] >= 0xBE)
				k = 0;
			if (k) {
				sonde_buf_append(out, p, k);
				p += k;
			} else {
				sonde_buf_putc(out, '?');
				p++;
			}
		}
	}
}

/* Appends v with thousands separators. */
static void put_count(sonde_buf *out, int64_t v)
{
	char d[32];
	int n = snprintf(d, sizeof(d), "%" PRId64, v < 0 ? -v : v);
	if (v < 0)
		sonde_buf_putc(out, '-');
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			sonde_buf_putc(out, ',');
		sonde_buf_putc(out, d[i]);
	}
}

static size_t utf8_chars(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/* Bytes of the first k characters of s[0..n). */
static size_t utf8_prefix(const char *s, size_t n, size_t k)
{
	size_t i = 0;
	for (size_t c = 0; i < n; i++) {
		if (((unsigned char)s[i] & 0xC0) != 0x80 && c++ == k)
			break;
	}
	return i;
}

/* The label text that fits w pixels ("" when fewer than 3 characters fit), as the
 * script's fit() computes it. */
static void put_fitted(sonde_buf *out, const char *name, double w)
{
	double room = (w - 6) / CHAR_W;
	if (room < 3)
		return;
	size_t max = (size_t)room, n = strlen(name);
	if (utf8_chars(name, n) <= max) {
		put_xml(out, name, n);
		return;
	}
	put_xml(out, name, utf8_prefix(name, n, max - 2));
	sonde_buf_append(out, "..", 2);
}

static const char *kind_word(uint8_t kind)
{
	switch (kind) {
	case SONDE_FRAME_KERNEL: return "kernel";
	case SONDE_FRAME_INLINED: return "inlined";
	case SONDE_FRAME_JIT: return "JIT";
	case SONDE_FRAME_THREAD: return "thread";
	default: return NULL;
	}
}

/* The script: hover details, click to zoom, search with the matched share, reset. It keys
 * everything off the drawn geometry, so the SVG needs no other data. */
static const char script[] =
        "\"use strict\";\n"
        "var svg, frames, details, searchbtn, unzoombtn, matchedtxt, W, PAD = 10, CHAR_W = 12 * 0.59;\n"
        "var searching = null, zoomed = null, gs = [];\n"
        "function init(evt) {\n"
        "\tsvg = document.documentElement;\n"
        "\tframes = document.getElementById(\"frames\");\n"
        "\tdetails = document.getElementById(\"details\").firstChild;\n"
        "\tsearchbtn = document.getElementById(\"search\");\n"
        "\tunzoombtn = document.getElementById(\"unzoom\");\n"
        "\tmatchedtxt = document.getElementById(\"matched\").firstChild;\n"
        "\tW = +svg.getAttribute(\"width\");\n"
        "\tfor (var g = frames.firstElementChild; g; g = g.nextElementSibling) {\n"
        "\t\tvar r = g.querySelector(\"rect\");\n"
        "\t\tg.ox = +r.getAttribute(\"x\"); g.ow = +r.getAttribute(\"width\"); g.oy = "
        "+r.getAttribute(\"y\");\n"
        "\t\tg.ofill = r.getAttribute(\"fill\");\n"
        "\t\tgs.push(g);\n"
        "\t}\n"
        "\tframes.addEventListener(\"click\", function (e) { var g = frame_of(e.target); if (g) zoom(g); "
        "});\n"
        "\tframes.addEventListener(\"mouseover\", function (e) {\n"
        "\t\tvar g = frame_of(e.target); if (g) details.nodeValue = g.querySelector(\"title\").textContent;\n"
        "\t});\n"
        "\tframes.addEventListener(\"mouseout\", function () { details.nodeValue = \" \"; });\n"
        "\tsearchbtn.addEventListener(\"click\", search_prompt);\n"
        "\tunzoombtn.addEventListener(\"click\", unzoom);\n"
        "\twindow.addEventListener(\"keydown\", function (e) {\n"
        "\t\tif (e.keyCode === 114 || ((e.ctrlKey || e.metaKey) && e.keyCode === 70)) {\n"
        "\t\t\te.preventDefault(); search_prompt();\n"
        "\t\t} else if (e.key === \"Escape\") { reset_search(); unzoom(); }\n"
        "\t});\n"
        "}\n"
        "function frame_of(n) {\n"
        "\twhile (n && n !== frames) { if (n.parentNode === frames) return n; n = n.parentNode; }\n"
        "\treturn null;\n"
        "}\n"
        "function name_of(g) {\n"
        "\tvar t = g.querySelector(\"title\").textContent, i = t.lastIndexOf(\" (\");\n"
        "\treturn i >= 0 ? t.substring(0, i) : t;\n"
        "}\n"
        "function fit(g, w) {\n"
        "\tvar t = g.querySelector(\"text\"), name = name_of(g), room = Math.floor((w - 6) / CHAR_W);\n"
        "\tvar chars = Array.from(name);\n"
        "\tif (room < 3) t.textContent = \"\";\n"
        "\telse if (chars.length <= room) t.textContent = name;\n"
        "\telse t.textContent = chars.slice(0, room - 2).join(\"\") + \"..\";\n"
        "}\n"
        "function place(g, x, w) {\n"
        "\tvar r = g.querySelector(\"rect\"), t = g.querySelector(\"text\");\n"
        "\tr.setAttribute(\"x\", x.toFixed(2)); r.setAttribute(\"width\", w.toFixed(2));\n"
        "\tt.setAttribute(\"x\", (x + 3).toFixed(2)); fit(g, w);\n"
        "}\n"
        "function zoom(z) {\n"
        "\tvar x = z.ox, w = z.ow, y = z.oy, scale = (W - 2 * PAD) / w, eps = 1e-3;\n"
        "\tunzoombtn.classList.remove(\"hide\");\n"
        "\tfor (var i = 0; i < gs.length; i++) {\n"
        "\t\tvar g = gs[i], fx = g.ox, fw = g.ow, fy = g.oy;\n"
        "\t\tvar rootward = INVERTED ? fy < y : fy > y;\n"
        "\t\tif (fy === y ? g === z : rootward && fx <= x + eps && fx + fw >= x + w - eps) {\n"
        "\t\t\tg.classList.remove(\"hide\"); g.classList.toggle(\"parent\", g !== z); place(g, PAD, W - 2 * "
        "PAD);\n"
        "\t\t} else if (!rootward && fy !== y && fx >= x - eps && fx + fw <= x + w + eps) {\n"
        "\t\t\tg.classList.remove(\"hide\", \"parent\"); place(g, PAD + (fx - x) * scale, fw * scale);\n"
        "\t\t} else {\n"
        "\t\t\tg.classList.add(\"hide\");\n"
        "\t\t}\n"
        "\t}\n"
        "\tzoomed = z;\n"
        "\tif (searching) search(searching);\n"
        "}\n"
        "function unzoom() {\n"
        "\tzoomed = null;\n"
        "\tunzoombtn.classList.add(\"hide\");\n"
        "\tfor (var i = 0; i < gs.length; i++) {\n"
        "\t\tgs[i].classList.remove(\"hide\", \"parent\"); place(gs[i], gs[i].ox, gs[i].ow);\n"
        "\t}\n"
        "\tif (searching) search(searching);\n"
        "}\n"
        "function search_prompt() {\n"
        "\tif (searching) { reset_search(); return; }\n"
        "\tvar term = prompt(\"Search for (regular expression):\", \"\");\n"
        "\tif (term) search(term);\n"
        "}\n"
        "function reset_search() {\n"
        "\tsearching = null;\n"
        "\tfor (var i = 0; i < gs.length; i++) gs[i].querySelector(\"rect\").setAttribute(\"fill\", "
        "gs[i].ofill);\n"
        "\tsearchbtn.classList.remove(\"show\"); searchbtn.firstChild.nodeValue = \"Search\";\n"
        "\tmatchedtxt.nodeValue = \" \";\n"
        "}\n"
        "function search(term) {\n"
        "\tvar re;\n"
        "\ttry { re = new RegExp(term); } catch (e) { alert(\"invalid regular expression: \" + term); "
        "return; }\n"
        "\tsearching = term;\n"
        "\tvar lo = zoomed ? zoomed.ox : PAD, hi = zoomed ? zoomed.ox + zoomed.ow : W - PAD, spans = [];\n"
        "\tfor (var i = 0; i < gs.length; i++) {\n"
        "\t\tvar g = gs[i], r = g.querySelector(\"rect\");\n"
        "\t\tif (re.test(name_of(g))) {\n"
        "\t\t\tr.setAttribute(\"fill\", \"rgb(230,0,230)\");\n"
        "\t\t\tvar a = Math.max(g.ox, lo), b = Math.min(g.ox + g.ow, hi);\n"
        "\t\t\tif (b > a) spans.push([a, b]);\n"
        "\t\t} else {\n"
        "\t\t\tr.setAttribute(\"fill\", g.ofill);\n"
        "\t\t}\n"
        "\t}\n"
        "\t/* The union of the matched spans: a match inside another counts once. */\n"
        "\tspans.sort(function (p, q) { return p[0] - q[0]; });\n"
        "\tvar sum = 0, end = -Infinity;\n"
        "\tfor (var j = 0; j < spans.length; j++) {\n"
        "\t\tif (spans[j][1] <= end) continue;\n"
        "\t\tsum += spans[j][1] - Math.max(spans[j][0], end); end = spans[j][1];\n"
        "\t}\n"
        "\tsearchbtn.classList.add(\"show\"); searchbtn.firstChild.nodeValue = \"Reset Search\";\n"
        "\tmatchedtxt.nodeValue = \"Matched: \" + (100 * sum / (hi - lo)).toFixed(1) + \"%\";\n"
        "}\n";

typedef struct svg_ctx {
	const builder *b;
	const sonde_flame_opts *o;
	const char *unit; /* "samples", "nanoseconds", ... */
	int64_t total;
	double total_before;
	bool diff;
	double max_delta;
	double scale; /* pixels per sample */
	int height, top;
} svg_ctx;

static void put_px(sonde_buf *out, double v)
{
	sonde_buf_printf(out, "%.2f", v);
}

static void put_frame(sonde_buf *out, const svg_ctx *c, const node *nd)
{
	const builder *b = c->b;
	const label *l = nd->label < LABEL_MERGED ? &b->labels[b->by_rank[nd->label]] : NULL;
	double x1 = round((PAD_X + (double)nd->x * c->scale) * 100) / 100;
	double x2 = round((PAD_X + (double)(nd->x + nd->w) * c->scale) * 100) / 100;
	double w = x2 - x1;
	int y = c->o->inverted ? c->top + (int)nd->depth * FRAME_H
	                       : c->height - PAD_BOTTOM - ((int)nd->depth + 1) * FRAME_H;
	char name[96];
	const char *nm = name;
	if (nd->label == LABEL_ALL)
		nm = "all";
	else if (nd->label == LABEL_MERGED)
		snprintf(name, sizeof(name), "(%u frames)", nd->merged);
	else
		nm = l->name;
	double share = c->total ? 100.0 * (double)nd->w / (double)c->total : 0;
	sonde_buf_puts(out, "<g><title>");
	put_xml(out, nm, strlen(nm));
	sonde_buf_puts(out, " (");
	put_count(out, nd->w);
	sonde_buf_printf(out, " %s, %.2f%%", c->unit, share);
	if (c->diff) {
		double before = c->total ? 100.0 * nd->bw / (double)c->total : 0;
		sonde_buf_printf(out, "; before %.2f%%, %+.2f pp", before, share - before);
	}
	if (nd->label == LABEL_MERGED) {
		sonde_buf_printf(out, "; each narrower than %.2g%%",
		                 100 * (c->o->min_share > 0 ? c->o->min_share : 0.001));
	} else if (l) {
		const char *kw = kind_word(l->kind);
		if (kw && l->kind != SONDE_FRAME_THREAD)
			sonde_buf_printf(out, "; %s", kw);
		if (l->module[0] && l->kind != SONDE_FRAME_THREAD) {
			const char *slash = strrchr(l->module, '/');
			const char *base = slash && slash[1] ? slash + 1 : l->module;
			sonde_buf_puts(out, "; in ");
			put_xml(out, base, strlen(base));
		}
	}
	sonde_buf_puts(out, ")</title><rect x=\"");
	put_px(out, x1);
	sonde_buf_printf(out, "\" y=\"%d\" width=\"", y);
	put_px(out, w);
	rgb col = c->diff && nd->label != LABEL_MERGED ? diff_colour((double)nd->w - nd->bw, c->max_delta)
	                                               : colour_of(c->o, l, nd->label);
	sonde_buf_printf(out, "\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" rx=\"2\" ry=\"2\"/><text x=\"",
	                 FRAME_H - 1, col.r, col.g, col.b);
	put_px(out, x1 + 3);
	sonde_buf_printf(out, "\" y=\"%.1f\">", y + FRAME_H - 4.5);
	put_fitted(out, nm, w);
	sonde_buf_puts(out, "</text></g>\n");
}

static void write_svg(const builder *b, const sonde_flame_opts *o, const char *unit, int64_t total,
                      double total_before, bool diff, sonde_buf *out)
{
	unsigned width = o->width_px ? o->width_px : 1200;
	if (width < 100)
		width = 100;
	svg_ctx c = {b, o, unit, total, total_before, diff, 0, 0, 0, 0};
	c.top = o->subtitle ? 60 : 40;
	c.height = c.top + ((int)b->max_depth + 1) * FRAME_H + PAD_BOTTOM;
	c.scale = total > 0 ? (double)(width - 2 * PAD_X) / (double)total : 0;
	if (diff)
		for (size_t i = 0; i < b->nnodes; i++)
			if (b->nodes[i].label != LABEL_ALL &&
			    fabs((double)b->nodes[i].w - b->nodes[i].bw) > c.max_delta)
				c.max_delta = fabs((double)b->nodes[i].w - b->nodes[i].bw);
	const char *title = o->title ? o->title : diff ? "Differential Flame Graph" : "Flame Graph";
	sonde_buf_printf(
	        out,
	        "<?xml version=\"1.0\" standalone=\"no\"?>\n"
	        "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
	        "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n"
	        "<svg version=\"1.1\" width=\"%u\" height=\"%d\" onload=\"init(evt)\" viewBox=\"0 0 %u %d\" "
	        "xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n"
	        "<!-- Flame graph by sonde (https://github.com/brendangregg/FlameGraph's layout). -->\n",
	        width, c.height, width, c.height);
	sonde_buf_puts(out, "<defs><linearGradient id=\"background\" y1=\"0\" y2=\"1\" x1=\"0\" x2=\"0\">"
	                    "<stop stop-color=\"#eeeeee\" offset=\"5%\"/><stop stop-color=\"");
	sonde_buf_puts(out, diff ? "#e0e0ff" : "#eeeeb0");
	sonde_buf_puts(out,
	               "\" offset=\"95%\"/></linearGradient></defs>\n"
	               "<style type=\"text/css\">\n"
	               "text { font-family: Verdana, sans-serif; font-size: 12px; fill: rgb(0,0,0); }\n"
	               "#title { text-anchor: middle; font-size: 17px; }\n"
	               "#subtitle { text-anchor: middle; fill: rgb(160,160,160); }\n"
	               "#search, #unzoom { cursor: pointer; }\n"
	               "#search { opacity: 0.3; } #search.show { opacity: 1; }\n"
	               "#matched { text-anchor: end; }\n"
	               "#frames > g:hover > rect { stroke: black; stroke-width: 0.5; cursor: pointer; }\n"
	               ".hide { display: none; } .parent { opacity: 0.5; }\n"
	               "</style>\n<script type=\"text/ecmascript\"><![CDATA[\n");
	sonde_buf_printf(out, "var INVERTED = %s;\n", o->inverted ? "true" : "false");
	sonde_buf_puts(out, script);
	sonde_buf_puts(out, "]]></script>\n");
	sonde_buf_printf(out,
	                 "<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%d\" fill=\"url(#background)\"/>\n",
	                 width, c.height);
	sonde_buf_printf(out, "<text id=\"title\" x=\"%u\" y=\"24\">", width / 2);
	put_xml(out, title, strlen(title));
	sonde_buf_puts(out, "</text>\n");
	if (o->subtitle) {
		sonde_buf_printf(out, "<text id=\"subtitle\" x=\"%u\" y=\"44\">", width / 2);
		put_xml(out, o->subtitle, strlen(o->subtitle));
		sonde_buf_puts(out, "</text>\n");
	}
	sonde_buf_printf(out, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", PAD_X, c.height - 12);
	sonde_buf_printf(out, "<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"24\">Reset Zoom</text>\n",
	                 PAD_X);
	sonde_buf_printf(out, "<text id=\"search\" x=\"%u\" y=\"24\">Search</text>\n", width - PAD_X - 90);
	sonde_buf_printf(out, "<text id=\"matched\" x=\"%u\" y=\"%d\"> </text>\n", width - PAD_X,
	                 c.height - 12);
	sonde_buf_puts(out, "<g id=\"frames\">\n");
	/* Root first, then by depth and position: a stable, readable order. */
	for (size_t i = b->nnodes; i-- > 0;)
		put_frame(out, &c, &b->nodes[i]);
	sonde_buf_puts(out, "</g>\n</svg>\n");
}

static int node_cmp(const void *x, const void *y)
{
	const node *a = x, *c = y;
	/* Descending, as write_svg walks backwards: root first, then depth, then x. */
	if (a->depth != c->depth)
		return a->depth > c->depth ? -1 : 1;
	if (a->x != c->x)
		return a->x > c->x ? -1 : 1;
	return 0;
}

static const char *unit_word(const sonde_sample_type *st)
{
	if (!st)
		return "samples";
	if (strcmp(st->unit, "count") == 0 || !st->unit[0])
		return st->name;
	return st->unit;
}

static int render(const sonde_stacktab *before, const sonde_stacktab *after, const sonde_flame_opts *opts,
                  sonde_buf *out)
{
	static const sonde_flame_opts defaults;
	const sonde_flame_opts *o = opts ? opts : &defaults;
	size_t ta = o->type, tb = 0;
	size_t na = sonde_stacktab_types_count(after);
	if (na && ta >= na)
		return -EINVAL;
	const sonde_sample_type *st = na ? sonde_stacktab_type(after, ta) : NULL;
	if (before) {
		size_t nb = sonde_stacktab_types_count(before);
		bool found = !st && nb == 0;
		for (size_t k = 0; st && k < nb; k++)
			if (strcmp(sonde_stacktab_type(before, k)->name, st->name) == 0) {
				tb = k;
				found = true;
			}
		if (!found && nb)
			return -EINVAL;
	}
	builder b = {0};
	sonde_arena_init(&b.arena);
	sonde_intern_init(&b.strings, &b.arena);
	const sonde_stacktab *tabs[2] = {after, before};
	int ntabs = before ? 2 : 1;
	int64_t total = na ? sonde_stacktab_total(after, ta) : 0, total_b = 0;
	for (int k = 0; k < ntabs && !b.oom; k++)
		label_frames(&b, tabs[k], k);
	if (!b.oom)
		rank_labels(&b, tabs, ntabs);
	size_t nents =
	        sonde_stacktab_stacks_count(after) + (before ? sonde_stacktab_stacks_count(before) : 0);
	b.ents = malloc((nents ? nents : 1) * sizeof(*b.ents));
	b.oom |= !b.ents;
	if (!b.oom) {
		if (na)
			add_entries(&b, after, ta, 0, 1.0);
		if (before && sonde_stacktab_types_count(before)) {
			/* Normalise before to after's total, counting only positive counts as the
			 * walk does. */
			int64_t pos = 0;
			for (size_t s = 0; s < sonde_stacktab_stacks_count(before); s++) {
				int64_t c = sonde_stacktab_count(before, (uint32_t)s, tb);
				pos += c > 0 ? c : 0;
			}
			total_b = pos;
			add_entries(&b, before, tb, 1, pos ? (double)total / (double)pos : 0);
		}
		qsort_r(b.ents, b.nents, sizeof(*b.ents), entry_cmp, b.rank_of);
	}
	int64_t pos_total = 0;
	for (size_t i = 0; i < b.nents; i++)
		pos_total += b.ents[i].count;
	double min_share = o->min_share > 0 ? o->min_share : 0.001;
	b.min_w = (int64_t)ceil(min_share * (double)pos_total);
	if (!b.oom)
		walk(&b, pos_total, before ? (total_b ? (double)pos_total : 0) : 0);
	int rc = -ENOMEM;
	if (!b.oom) {
		qsort(b.nodes, b.nnodes, sizeof(*b.nodes), node_cmp);
		write_svg(&b, o, unit_word(st), pos_total, 0, before != NULL, out);
		rc = out->oom ? -ENOMEM : 0;
	}
	builder_release(&b);
	return rc;
}

int sonde_flame_svg(const sonde_stacktab *t, const sonde_flame_opts *opts, sonde_buf *out)
{
	return render(NULL, t, opts, out);
}

int sonde_flame_diff_svg(const sonde_stacktab *before, const sonde_stacktab *after,
                         const sonde_flame_opts *opts, sonde_buf *out)
{
	return render(before, after, opts, out);
}
