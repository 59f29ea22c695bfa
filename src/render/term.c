/*
 * term.c - tables, sparklines and the trace waterfall for terminals (see term.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"
#include "text_write.h"

const char *sonde_term_sgr(const sonde_term_opts *o, const char *seq)
{
	if (!o || !o->color)
		return "";
	if (strcmp(seq, SONDE_SGR_RESET) == 0)
		return "\x1b[0m";
	if (strcmp(seq, SONDE_SGR_BOLD) == 0)
		return "\x1b[1m";
	if (strcmp(seq, SONDE_SGR_DIM) == 0)
		return "\x1b[2m";
	if (strcmp(seq, SONDE_SGR_RED) == 0)
		return "\x1b[31m";
	if (strcmp(seq, SONDE_SGR_YELLOW) == 0)
		return "\x1b[33m";
	if (strcmp(seq, SONDE_SGR_CYAN) == 0)
		return "\x1b[36m";
	return "";
}

void sonde_term_text(sonde_buf *out, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != 0x7f)
			continue;
		sonde_buf_append(out, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '\n': sonde_buf_puts(out, "\\n"); break;
		case '\t': sonde_buf_puts(out, "\\t"); break;
		case '\r': sonde_buf_puts(out, "\\r"); break;
		default: sonde_buf_printf(out, "\\x%02x", c); break;
		}
	}
	sonde_buf_append(out, s + run, n - run);
}

size_t sonde_term_columns(const char *s, size_t n)
{
	size_t cols = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0x1b && i + 1 < n && s[i + 1] == '[') {
			i += 2;
			while (i < n && !((unsigned char)s[i] >= 0x40 && (unsigned char)s[i] <= 0x7e))
				i++;
			continue;
		}
		if ((c & 0xc0) != 0x80)
			cols++;
	}
	return cols;
}

void sonde_term_duration(sonde_buf *out, uint64_t ns)
{
	sonde_text_duration(out, ns);
}

void sonde_term_sparkline(sonde_buf *out, const uint64_t *v, size_t n)
{
	static const char *const blocks[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83", "\xe2\x96\x84",
	                                     "\xe2\x96\x85", "\xe2\x96\x86", "\xe2\x96\x87", "\xe2\x96\x88"};
	uint64_t max = 0;
	for (size_t i = 0; i < n; i++)
		max = v[i] > max ? v[i] : max;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == 0) {
			sonde_buf_putc(out, ' ');
			continue;
		}
		size_t level = (size_t)((double)v[i] * 7.0 / (double)max + 0.5);
		sonde_buf_puts(out, blocks[level > 7 ? 7 : level]);
	}
}

/* ---- Tables -------------------------------------------------------------------------- */

void sonde_table_init(sonde_table *t, size_t ncols, const char *const *headers, const char *align)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->headers = headers;
	t->align = align;
	sonde_arena_init(&t->arena);
}

void sonde_table_release(sonde_table *t)
{
	if (!t)
		return;
	free(t->cells);
	sonde_arena_release(&t->arena);
	sonde_buf_release(&t->scratch);
	memset(t, 0, sizeof(*t));
}

static void push_cell(sonde_table *t, const char *s, size_t n)
{
	if (t->ncells == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		char **c = realloc(t->cells, cap * sizeof(*c));
		if (!c) {
			t->oom = true;
			return;
		}
		t->cells = c;
		t->cap = cap;
	}
	char *copy = sonde_arena_strndup(&t->arena, s, n);
	if (!copy) {
		t->oom = true;
		return;
	}
	t->cells[t->ncells++] = copy;
}

void sonde_table_cell(sonde_table *t, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		push_cell(t, "", 0);
		return;
	}
	if ((size_t)n < sizeof(small)) {
		push_cell(t, small, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		t->oom = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	push_cell(t, big, (size_t)n);
	free(big);
}

void sonde_table_cell_text(sonde_table *t, const char *s, size_t n)
{
	sonde_buf_reset(&t->scratch);
	sonde_term_text(&t->scratch, s, n);
	if (t->scratch.oom) {
		t->oom = true;
		return;
	}
	push_cell(t, t->scratch.len ? t->scratch.data : "", t->scratch.len);
}

size_t sonde_table_rows(const sonde_table *t)
{
	return t->ncols ? (t->ncells + t->ncols - 1) / t->ncols : 0;
}

static void pad(sonde_buf *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sonde_buf_putc(out, ' ');
}

int sonde_table_render(const sonde_table *t, const sonde_term_opts *o, sonde_buf *out)
{
	if (t->oom)
		return -ENOMEM;
	size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (size_t c = 0; c < t->ncols; c++)
		w[c] = sonde_term_columns(t->headers[c], strlen(t->headers[c]));
	for (size_t i = 0; i < t->ncells; i++) {
		size_t c = i % t->ncols, cols = sonde_term_columns(t->cells[i], strlen(t->cells[i]));
		w[c] = cols > w[c] ? cols : w[c];
	}
	size_t rows = sonde_table_rows(t);
	for (size_t r = 0; r <= rows; r++) {
		if (r == 0)
			sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_BOLD));
		for (size_t c = 0; c < t->ncols; c++) {
			size_t i = (r - 1) * t->ncols + c;
			const char *s = r == 0 ? t->headers[c] : i < t->ncells ? t->cells[i] : "";
			size_t cols = sonde_term_columns(s, strlen(s));
			bool right = t->align && t->align[c] == 'r', last = c + 1 == t->ncols;
			if (c)
				sonde_buf_puts(out, "  ");
			if (right)
				pad(out, w[c] - cols);
			sonde_buf_puts(out, s);
			if (!right && !last)
				pad(out, w[c] - cols);
		}
		if (r == 0)
			sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_RESET));
		/* No trailing blanks: a right-aligned or padded last column never ends in one, but
		 * an empty last cell leaves the separator. */
		while (out->len && out->data[out->len - 1] == ' ')
			out->len--;
		sonde_buf_putc(out, '\n');
	}
	free(w);
	return out->oom ? -ENOMEM : 0;
}

/* ---- Waterfall ----------------------------------------------------------------------- */

enum { MAX_SHOWN_DEPTH = 12, MAX_LABEL = 56, MAX_SERVICE = 20 };

/* Appends s truncated to at most max display columns ("…" marks a cut). */
static void put_clipped(sonde_buf *out, const char *s, size_t n, size_t max)
{
	size_t start = out->len;
	sonde_term_text(out, s, n);
	size_t cols = sonde_term_columns(out->data + start, out->len - start);
	if (cols <= max)
		return;
	/* Cut at the (max-1)th code point and add the ellipsis. */
	size_t seen = 0, i = start;
	for (; i < out->len; i++) {
		if (((unsigned char)out->data[i] & 0xc0) != 0x80) {
			if (seen == max - 1)
				break;
			seen++;
		}
	}
	out->len = i;
	sonde_buf_puts(out, "\xe2\x80\xa6");
}

/* The tree branches in front of node i: one connector per level. */
static void put_prefix(sonde_buf *out, const uint8_t *last, uint32_t depth)
{
	uint32_t from = 1;
	if (depth > MAX_SHOWN_DEPTH) {
		sonde_buf_printf(out, "[+%u]", depth - MAX_SHOWN_DEPTH);
		from = depth - MAX_SHOWN_DEPTH + 1;
	}
	for (uint32_t d = from; d <= depth; d++) {
		if (d < depth)
			sonde_buf_puts(out, last[d] ? "   " : "\xe2\x94\x82  ");
		else
			sonde_buf_puts(out,
			               last[d] ? "\xe2\x94\x94\xe2\x94\x80 " : "\xe2\x94\x9c\xe2\x94\x80 ");
	}
}

static bool is_last_child(const sonde_trace_tree *t, uint32_t i)
{
	const sonde_tnode *nd = &t->nodes[i];
	if (nd->parent == SONDE_TNODE_NONE)
		return t->roots_count && t->roots[t->roots_count - 1] == i;
	const sonde_tnode *p = &t->nodes[nd->parent];
	return t->children[p->first_child + p->child_count - 1] == i;
}

static size_t to_col(uint64_t ns, uint64_t t0, uint64_t span, size_t w)
{
	if (ns <= t0 || span == 0)
		return 0;
	double f = (double)(ns - t0) / (double)span;
	size_t c = (size_t)(f * (double)w);
	return c >= w ? w - 1 : c;
}

int sonde_term_waterfall(const sonde_trace_tree *t, const sonde_term_opts *o, size_t max_rows, sonde_buf *out)
{
	size_t n = t->count, rows = max_rows && max_rows < n ? max_rows : n;
	int rc = -ENOMEM;
	uint8_t *last = calloc(n + 1, 1);
	uint32_t *seg_first = calloc(n + 1, sizeof(*seg_first)); /* CSR of segments per node */
	uint32_t *seg_idx = malloc((t->cp_count ? t->cp_count : 1) * sizeof(*seg_idx));
	char *bar = NULL;
	sonde_buf label = SONDE_BUF_INIT;
	if (!last || !seg_first || !seg_idx)
		goto out;
	for (size_t k = 0; k < t->cp_count; k++)
		seg_first[t->cp[k].node + 1]++;
	for (size_t i = 0; i < n; i++)
		seg_first[i + 1] += seg_first[i];
	{
		uint32_t *fill = calloc(n + 1, sizeof(*fill));
		if (!fill)
			goto out;
		for (size_t k = 0; k < t->cp_count; k++) {
			uint32_t nd = t->cp[k].node;
			seg_idx[seg_first[nd] + fill[nd]++] = (uint32_t)k;
		}
		free(fill);
	}
	/* Column widths from the rows shown. */
	size_t label_w = 4, svc_w = 7;
	for (size_t r = 0; r < rows; r++) {
		uint32_t i = t->preorder[r];
		const sonde_tnode *nd = &t->nodes[i];
		uint32_t d = nd->depth > MAX_SHOWN_DEPTH ? MAX_SHOWN_DEPTH + 4 : nd->depth;
		size_t cols = 3 * d + 2 + sonde_term_columns(nd->span->name.ptr, nd->span->name.len);
		label_w = cols > label_w ? cols : label_w;
		size_t sc = sonde_term_columns(nd->service.ptr, nd->service.len);
		svc_w = sc > svc_w ? sc : svc_w;
	}
	label_w = label_w > MAX_LABEL ? MAX_LABEL : label_w;
	svc_w = svc_w > MAX_SERVICE ? MAX_SERVICE : svc_w;
	int width = o && o->width > 0 ? o->width : 120;
	long bw = (long)width - (long)label_w - (long)svc_w - 9 - 8;
	size_t bar_w = bw < 20 ? 20 : (size_t)bw;
	bar = malloc(bar_w);
	if (!bar)
		goto out;
	uint64_t t0 = t->start_ns, span = t->end_ns - t->start_ns;

	sonde_buf_printf(out, "%s%-*s  %-*s  %9s  ", sonde_term_sgr(o, SONDE_SGR_BOLD), (int)label_w, "SPAN",
	                 (int)svc_w, "SERVICE", "DURATION");
	sonde_buf_puts(out, "0");
	sonde_buf_reset(&label);
	sonde_term_duration(&label, span);
	if (bar_w > label.len + 1)
		pad(out, bar_w - 1 - label.len);
	sonde_buf_append(out, label.data, label.len);
	sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_RESET));
	sonde_buf_putc(out, '\n');

	for (size_t r = 0; r < rows; r++) {
		uint32_t i = t->preorder[r];
		const sonde_tnode *nd = &t->nodes[i];
		last[nd->depth] = is_last_child(t, i);
		bool err = sonde_span_is_error(nd->span), follows = nd->rel == SONDE_REL_FOLLOWS;
		/* Label: branches, a marker, the name. */
		sonde_buf_reset(&label);
		put_prefix(&label, last, nd->depth);
		sonde_buf_puts(&label, err ? "!" : follows ? "~" : " ");
		size_t used = sonde_term_columns(label.data, label.len);
		put_clipped(&label, nd->span->name.ptr, nd->span->name.len,
		            used + 1 < label_w ? label_w - used : 1);
		size_t cols = sonde_term_columns(label.data, label.len);
		if (err)
			sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_RED));
		else if (follows)
			sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_CYAN));
		sonde_buf_append(out, label.data, label.len);
		if (err || follows)
			sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_RESET));
		pad(out, label_w > cols ? label_w - cols : 0);
		sonde_buf_puts(out, "  ");
		size_t s0 = out->len;
		put_clipped(out, nd->service.ptr, nd->service.len, svc_w);
		size_t sc = sonde_term_columns(out->data + s0, out->len - s0);
		pad(out, svc_w > sc ? svc_w - sc : 0);
		sonde_buf_puts(out, "  ");
		sonde_buf_reset(&label);
		sonde_term_duration(&label, nd->end_ns - nd->start_ns);
		pad(out, label.len < 9 ? 9 - label.len : 0);
		sonde_buf_append(out, label.data, label.len);
		sonde_buf_puts(out, "  ");
		/* Bar: ' ' outside the span, '-' inside, '#' on the critical path; then drawn. */
		memset(bar, ' ', bar_w);
		/* Intervals are half-open: the last column is the one holding end - 1. */
		size_t a = to_col(nd->start_ns, t0, span, bar_w);
		size_t b = nd->end_ns > nd->start_ns ? to_col(nd->end_ns - 1, t0, span, bar_w) : a;
		for (size_t c = a; c <= b; c++)
			bar[c] = '-';
		for (uint32_t k = seg_first[i]; k < seg_first[i + 1]; k++) {
			const sonde_cp_segment *sg = &t->cp[seg_idx[k]];
			size_t x = to_col(sg->start_ns, t0, span, bar_w),
			       y = to_col(sg->end_ns - 1, t0, span, bar_w);
			for (size_t c = x; c <= y; c++)
				bar[c] = '#';
		}
		size_t end = bar_w;
		while (end && bar[end - 1] == ' ')
			end--;
		bool in_cp = false;
		for (size_t c = 0; c < end; c++) {
			if (bar[c] == '#' && !in_cp) {
				sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_RED));
				in_cp = true;
			} else if (bar[c] != '#' && in_cp) {
				sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_RESET));
				in_cp = false;
			}
			sonde_buf_puts(out, bar[c] == '#'   ? "\xe2\x96\x88"
			                    : bar[c] == '-' ? "\xe2\x94\x80"
			                                    : " ");
		}
		if (in_cp)
			sonde_buf_puts(out, sonde_term_sgr(o, SONDE_SGR_RESET));
		sonde_buf_putc(out, '\n');
	}
	if (rows < n)
		sonde_buf_printf(out, "... %zu more spans not shown\n", n - rows);
	rc = out->oom || label.oom ? -ENOMEM : 0;
out:
	free(last);
	free(seg_first);
	free(seg_idx);
	free(bar);
	sonde_buf_release(&label);
	return rc;
}
