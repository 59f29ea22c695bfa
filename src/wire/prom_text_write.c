/*
 * prom_text_write.c - writer of the Prometheus text exposition format 0.0.4 and of
 * OpenMetrics 1.0 text (see prom_text.h).
 *
 * Two passes. The first groups the batch's metrics into families by the name their TYPE
 * line carries, since several OpenTelemetry metrics can map to one Prometheus family and
 * a family must appear once. The second writes each family: its metadata, then every
 * point of every member, leaving out a series (label set) the family already has.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "hex.h"
#include "prom_text.h"

typedef struct wfam {
	size_t name_off, name_len; /* TYPE-line name, in w->names */
	size_t unit_off, unit_len; /* UNIT word, in w->names; 0 length: none */
	sonde__prom_kind kind;
	uint64_t hash;
	uint32_t *members; /* metric indexes */
	size_t n, cap;
	sonde_str help;
	bool target; /* target_info, from the resources */
} wfam;

/* One label being assembled: sanitized name and value text in w->lt. */
typedef struct lab {
	size_t name_off, name_len;
	const char *orig; /* original key, to order values merged into one name */
	size_t orig_len;
	size_t val_off, val_len;
	bool keep;
} lab;

typedef struct seen_slot {
	uint64_t hash;
	size_t off, len; /* in w->seen */
	bool used;
} seen_slot;

typedef struct writer {
	const sonde_batch *b;
	sonde_prom_write_opts o;
	bool om;
	sonde_buf *out;
	sonde_buf names;
	wfam *fams;
	size_t nfams, capfams;
	uint32_t *slots; /* family name -> index + 1 */
	size_t nslots;
	lab *labs;
	size_t nlabs, caplabs;
	sonde_buf lt;   /* label names and values being assembled */
	sonde_buf ls;   /* the current point's rendered labels: a="x",b="y" */
	sonde_buf xl;   /* an exemplar's rendered labels */
	sonde_buf seen; /* series written in the current family */
	seen_slot *sslots;
	size_t nsslots, nseen;
	bool oom;
} writer;

static int reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 8;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		ncap *= 2;
	}
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static const char *bufp(const sonde_buf *b, size_t off)
{
	return b->data ? b->data + off : "";
}

/* ---- Text ------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	if (c < 0x80)
		return 1;
	size_t k;
	uint32_t cp, min;
	if ((c & 0xe0) == 0xc0)
		k = 1, cp = c & 0x1f, min = 0x80;
	else if ((c & 0xf0) == 0xe0)
		k = 2, cp = c & 0x0f, min = 0x800;
	else if ((c & 0xf8) == 0xf0)
		k = 3, cp = c & 0x07, min = 0x10000;
	else
		return 0;
	if (n <= k)
		return 0;
	for (size_t j = 1; j <= k; j++) {
		if ((s[j] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[j] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k + 1;
}

/* Appends s escaped: backslash and newline always, '"' when quote; bytes that are not
 * UTF-8 become U+FFFD, since both formats are UTF-8. */
static void escape(sonde_buf *out, const char *s, size_t n, bool quote)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\\') {
			sonde_buf_puts(out, "\\\\");
		} else if (c == '\n') {
			sonde_buf_puts(out, "\\n");
		} else if (c == '"' && quote) {
			sonde_buf_puts(out, "\\\"");
		} else if (c < 0x80) {
			sonde_buf_putc(out, (char)c);
		} else {
			size_t k = utf8_len((const unsigned char *)s + i, n - i);
			if (k == 0) {
				sonde_buf_puts(out, "\xef\xbf\xbd");
				i++;
				continue;
			}
			sonde_buf_append(out, s + i, k);
			i += k;
			continue;
		}
		i++;
	}
}

static void put_u64(sonde_buf *out, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sonde_buf_append(out, tmp + sizeof(tmp) - n, n);
}

static void put_i64(sonde_buf *out, int64_t v)
{
	if (v < 0) {
		sonde_buf_putc(out, '-');
		put_u64(out, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(out, (uint64_t)v);
	}
}

/* A time in ns (as int64: before 1970 is negative) as OpenMetrics seconds. */
static void put_seconds(sonde_buf *out, uint64_t t)
{
	int64_t ns = (int64_t)t;
	uint64_t mag = ns < 0 ? (uint64_t)0 - t : t;
	if (ns < 0)
		sonde_buf_putc(out, '-');
	put_u64(out, mag / 1000000000u);
	uint32_t frac = (uint32_t)(mag % 1000000000u);
	if (frac) {
		char d[10];
		int n = 9;
		for (int i = 8; i >= 0; i--, frac /= 10)
			d[i] = (char)('0' + frac % 10);
		while (d[n - 1] == '0')
			n--;
		sonde_buf_putc(out, '.');
		sonde_buf_append(out, d, (size_t)n);
	}
}

/* A sample's time, when asked for; 0 (and in 0.0.4 anything under a millisecond, which
 * would read back as 0) means unknown and is left out. */
static void put_time(writer *w, uint64_t t)
{
	int64_t ms = (int64_t)t / 1000000;
	if (!w->o.timestamps || t == 0 || (!w->om && ms == 0))
		return;
	sonde_buf_putc(w->out, ' ');
	if (w->om)
		put_seconds(w->out, t);
	else
		put_i64(w->out, ms);
}

/* ---- Labels ----------------------------------------------------------------------- */

/* Adds a label from an attribute (v) or a plain string (sv). Returns 1 when added, 0 when
 * its name sanitizes to nothing, -ENOMEM. */
static int add_lab(writer *w, const char *key, size_t key_len, const sonde_value *v, const char *sv,
                   size_t svn)
{
	size_t name_off = w->lt.len;
	sonde_prom_sanitize(&w->lt, key, key_len, false);
	size_t name_len = w->lt.len - name_off;
	if (name_len == 0)
		return 0;
	if (reserve((void **)&w->labs, &w->caplabs, w->nlabs + 1, sizeof(lab)) < 0) {
		w->oom = true;
		return -ENOMEM;
	}
	lab *l = &w->labs[w->nlabs++];
	l->name_off = name_off;
	l->name_len = name_len;
	l->orig = key;
	l->orig_len = key_len;
	l->val_off = w->lt.len;
	if (v)
		sonde__prom_value_text(&w->lt, v);
	else
		sonde_buf_append(&w->lt, sv, svn);
	l->val_len = w->lt.len - l->val_off;
	l->keep = true;
	return 1;
}

static int cmp_lab_names(const lab *x, const lab *y, const char *base)
{
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(base + x->name_off, base + y->name_off, n);
	if (c)
		return c;
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

static int cmp_lab_orig(const lab *x, const lab *y)
{
	size_t n = x->orig_len < y->orig_len ? x->orig_len : y->orig_len;
	int c = n ? memcmp(x->orig, y->orig, n) : 0;
	if (c)
		return c;
	return x->orig_len < y->orig_len ? -1 : x->orig_len > y->orig_len;
}

/* Insertion sort for the usual handful of labels, heap sort beyond: qsort has no
 * context pointer for the names' buffer. */
static void sort_labs(lab *v, size_t n, const char *base)
{
#define LAB_LESS(a, b)                        \
	(cmp_lab_names((a), (b), base) < 0 || \
	 (cmp_lab_names((a), (b), base) == 0 && cmp_lab_orig((a), (b)) < 0))
	if (n <= 16) {
		for (size_t i = 1; i < n; i++) {
			lab t = v[i];
			size_t j = i;
			while (j > 0 && LAB_LESS(&t, &v[j - 1])) {
				v[j] = v[j - 1];
				j--;
			}
			v[j] = t;
		}
		return;
	}
	/* Heap sort. */
	for (size_t start = n / 2; start-- > 0;) {
		size_t root = start;
		for (;;) {
			size_t child = 2 * root + 1;
			if (child >= n)
				break;
			if (child + 1 < n && LAB_LESS(&v[child], &v[child + 1]))
				child++;
			if (!LAB_LESS(&v[root], &v[child]))
				break;
			lab t = v[root];
			v[root] = v[child];
			v[child] = t;
			root = child;
		}
	}
	for (size_t end = n; end-- > 1;) {
		lab t = v[0];
		v[0] = v[end];
		v[end] = t;
		size_t root = 0;
		for (;;) {
			size_t child = 2 * root + 1;
			if (child >= end)
				break;
			if (child + 1 < end && LAB_LESS(&v[child], &v[child + 1]))
				child++;
			if (!LAB_LESS(&v[root], &v[child]))
				break;
			t = v[root];
			v[root] = v[child];
			v[child] = t;
			root = child;
		}
	}
#undef LAB_LESS
}

/* Sorts the labels and merges those whose sanitized names clash: their values joined by
 * ';' in the order of the original keys, as the compatibility spec says. */
static void merge_labs(writer *w)
{
	if (w->lt.oom) {
		w->oom = true;
		return;
	}
	sort_labs(w->labs, w->nlabs, bufp(&w->lt, 0));
	size_t o = 0;
	for (size_t i = 0; i < w->nlabs; i++) {
		if (o > 0 && cmp_lab_names(&w->labs[o - 1], &w->labs[i], bufp(&w->lt, 0)) == 0) {
			lab *d = &w->labs[o - 1];
			size_t off = w->lt.len;
			sonde_buf_append(&w->lt, bufp(&w->lt, d->val_off), d->val_len);
			sonde_buf_putc(&w->lt, ';');
			sonde_buf_append(&w->lt, bufp(&w->lt, w->labs[i].val_off), w->labs[i].val_len);
			d->val_off = off;
			d->val_len = w->lt.len - off;
			continue;
		}
		w->labs[o++] = w->labs[i];
	}
	w->nlabs = o;
	if (w->lt.oom)
		w->oom = true;
}

static void render_labs(writer *w, sonde_buf *out)
{
	sonde_buf_reset(out);
	bool first = true;
	for (size_t i = 0; i < w->nlabs; i++) {
		const lab *l = &w->labs[i];
		if (!l->keep)
			continue;
		if (!first)
			sonde_buf_putc(out, ',');
		first = false;
		sonde_buf_append(out, bufp(&w->lt, l->name_off), l->name_len);
		sonde_buf_puts(out, "=\"");
		escape(out, bufp(&w->lt, l->val_off), l->val_len, true);
		sonde_buf_putc(out, '"');
	}
	if (out->oom)
		w->oom = true;
}

/* Renders a point's labels into w->ls: its attributes (less the one the type reserves)
 * and the scope's name and version. */
static void point_labels(writer *w, const sonde_metric_data *m, const sonde_attrs *attrs,
                         const char *reserved)
{
	w->nlabs = 0;
	sonde_buf_reset(&w->lt);
	for (uint32_t i = 0; i < attrs->count; i++) {
		const sonde_kv *kv = &attrs->items[i];
		int rc = add_lab(w, kv->key.ptr, kv->key.len, &kv->value, NULL, 0);
		if (rc < 0)
			return;
		if (rc > 0 && reserved && w->labs[w->nlabs - 1].name_len == strlen(reserved) &&
		    memcmp(bufp(&w->lt, w->labs[w->nlabs - 1].name_off), reserved, strlen(reserved)) == 0)
			w->nlabs--; /* le on a histogram, quantile on a summary: ours */
	}
	if (m && !w->o.no_scope_labels) {
		if (m->scope->name.len &&
		    add_lab(w, "otel_scope_name", 15, NULL, m->scope->name.ptr, m->scope->name.len) < 0)
			return;
		if (m->scope->version.len && add_lab(w, "otel_scope_version", 18, NULL, m->scope->version.ptr,
		                                     m->scope->version.len) < 0)
			return;
	}
	merge_labs(w);
	render_labs(w, &w->ls);
}

/* OpenMetrics limits an exemplar's label names and values to 128 characters together:
 * the ids go first, then other attributes while they fit. */
static void exemplar_labels(writer *w, const sonde_exemplar *ex)
{
	w->nlabs = 0;
	sonde_buf_reset(&w->lt);
	char hex[33];
	if (!sonde_id_is_zero(ex->trace_id, 16)) {
		sonde_hex_encode(hex, ex->trace_id, 16);
		if (add_lab(w, "trace_id", 8, NULL, hex, 32) < 0)
			return;
	}
	if (!sonde_id_is_zero(ex->span_id, 8)) {
		sonde_hex_encode(hex, ex->span_id, 8);
		if (add_lab(w, "span_id", 7, NULL, hex, 16) < 0)
			return;
	}
	for (uint32_t i = 0; i < ex->filtered_attrs.count; i++) {
		const sonde_kv *kv = &ex->filtered_attrs.items[i];
		if (add_lab(w, kv->key.ptr, kv->key.len, &kv->value, NULL, 0) < 0)
			return;
	}
	merge_labs(w);
	size_t budget = 128;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < w->nlabs; i++) {
			lab *l = &w->labs[i];
			const char *nm = bufp(&w->lt, l->name_off);
			bool id = (l->name_len == 8 && memcmp(nm, "trace_id", 8) == 0) ||
			          (l->name_len == 7 && memcmp(nm, "span_id", 7) == 0);
			if (id != (pass == 0))
				continue;
			size_t cost = l->name_len + l->val_len;
			l->keep = cost <= budget;
			if (l->keep)
				budget -= cost;
		}
	}
	render_labs(w, &w->xl);
}

/* ---- Series already written ------------------------------------------------------- */

static void seen_reset(writer *w)
{
	sonde_buf_reset(&w->seen);
	if (w->nsslots)
		memset(w->sslots, 0, w->nsslots * sizeof(seen_slot));
	w->nseen = 0;
}

/* Remembers the current point's series; false when the family already has it. */
static bool seen_add(writer *w, uint64_t t)
{
	if ((w->nseen + 1) * 2 > w->nsslots) {
		size_t ns = w->nsslots ? w->nsslots * 2 : 64;
		seen_slot *s = calloc(ns, sizeof(*s));
		if (!s) {
			w->oom = true;
			return false;
		}
		for (size_t i = 0; i < w->nsslots; i++) {
			if (!w->sslots[i].used)
				continue;
			size_t j = (size_t)w->sslots[i].hash & (ns - 1);
			while (s[j].used)
				j = (j + 1) & (ns - 1);
			s[j] = w->sslots[i];
		}
		free(w->sslots);
		w->sslots = s;
		w->nsslots = ns;
	}
	/* Without timestamps the label set is the series; with them, label set and time. */
	size_t off = w->seen.len;
	sonde_buf_append(&w->seen, bufp(&w->ls, 0), w->ls.len);
	if (w->o.timestamps) {
		uint64_t shown = w->om ? t : (uint64_t)((int64_t)t / 1000000); /* as put_time() writes it */
		sonde_buf_append(&w->seen, &shown, sizeof(shown));
	}
	if (w->seen.oom) {
		w->oom = true;
		return false;
	}
	size_t len = w->seen.len - off;
	uint64_t h = sonde_hash_bytes(w->seen.data + off, len, 0);
	size_t mask = w->nsslots - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		seen_slot *s = &w->sslots[i];
		if (!s->used) {
			*s = (seen_slot){h, off, len, true};
			w->nseen++;
			return true;
		}
		if (s->hash == h && s->len == len &&
		    memcmp(w->seen.data + s->off, w->seen.data + off, len) == 0) {
			w->seen.len = off;
			return false;
		}
	}
}

/* ---- Samples ---------------------------------------------------------------------- */

static void sample_name(writer *w, const wfam *f, const char *suffix, const char *xname, const char *xval)
{
	sonde_buf *out = w->out;
	sonde_buf_append(out, bufp(&w->names, f->name_off), f->name_len);
	sonde_buf_puts(out, suffix);
	if (w->ls.len || xname) {
		sonde_buf_putc(out, '{');
		sonde_buf_append(out, bufp(&w->ls, 0), w->ls.len);
		if (xname) {
			if (w->ls.len)
				sonde_buf_putc(out, ',');
			sonde_buf_puts(out, xname);
			sonde_buf_puts(out, "=\"");
			sonde_buf_puts(out, xval);
			sonde_buf_putc(out, '"');
		}
		sonde_buf_putc(out, '}');
	}
	sonde_buf_putc(out, ' ');
}

static void sample_end(writer *w, uint64_t t, const sonde_exemplar *ex)
{
	put_time(w, t);
	if (ex && w->om) {
		exemplar_labels(w, ex);
		sonde_buf_puts(w->out, " # {");
		sonde_buf_append(w->out, bufp(&w->xl, 0), w->xl.len);
		sonde_buf_puts(w->out, "} ");
		if (ex->value_kind == SONDE_NUM_INT)
			put_i64(w->out, ex->value.i);
		else
			sonde__prom_double(w->out, ex->value.d, false);
		if (ex->time_ns) {
			sonde_buf_putc(w->out, ' ');
			put_seconds(w->out, ex->time_ns);
		}
	}
	sonde_buf_putc(w->out, '\n');
}

static double ex_value(const sonde_exemplar *e)
{
	return e->value_kind == SONDE_NUM_INT ? (double)e->value.i : e->value.d;
}

static void write_created(writer *w, const wfam *f, const sonde_point *p)
{
	if (!w->om || p->start_time_ns == 0)
		return;
	sample_name(w, f, "_created", NULL, NULL);
	put_seconds(w->out, p->start_time_ns);
	sample_end(w, p->time_ns, NULL);
}

static void write_number_point(writer *w, const wfam *f, const sonde_point *p)
{
	const char *suffix = "";
	const sonde_exemplar *ex = NULL;
	if (f->kind == SONDE__PROM_COUNTER && w->om) {
		suffix = "_total";
		for (uint32_t i = 0; i < p->exemplars_count; i++)
			if (p->exemplars[i].value_kind != SONDE_NUM_NONE)
				ex = &p->exemplars[i];
	} else if (f->kind == SONDE__PROM_INFO && w->om) {
		suffix = "_info";
	}
	sample_name(w, f, suffix, NULL, NULL);
	if (p->u.number.kind == SONDE_NUM_INT)
		put_i64(w->out, p->u.number.v.i);
	else
		sonde__prom_double(w->out, p->u.number.v.d, false);
	sample_end(w, p->time_ns, ex);
	if (f->kind == SONDE__PROM_COUNTER)
		write_created(w, f, p);
}

static bool bounds_ok(const double *b, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		if (isnan(b[i]) || b[i] == INFINITY || (i > 0 && !(b[i] > b[i - 1])))
			return false;
	return true;
}

static void write_hist_point(writer *w, const wfam *f, const sonde_point *p)
{
	const __typeof__(p->u.hist) *h = &p->u.hist;
	bool full = h->bucket_counts_count == h->bounds_count + 1 && bounds_ok(h->bounds, h->bounds_count);
	uint32_t nb = full ? h->bucket_counts_count : 1;
	uint64_t total = h->count;
	if (!full && h->bucket_counts_count) {
		total = 0;
		for (uint32_t i = 0; i < h->bucket_counts_count; i++)
			total += h->bucket_counts[i];
	}
	/* The largest exemplar of each bucket goes on that bucket's sample. */
	const sonde_exemplar **best = NULL;
	if (w->om && p->exemplars_count) {
		best = calloc(nb, sizeof(*best));
		if (!best) {
			w->oom = true;
			return;
		}
		for (uint32_t i = 0; i < p->exemplars_count; i++) {
			const sonde_exemplar *e = &p->exemplars[i];
			if (e->value_kind == SONDE_NUM_NONE)
				continue;
			double v = ex_value(e);
			uint32_t lo = 0, hi = nb - 1; /* first bucket whose bound is >= v */
			while (lo < hi) {
				uint32_t mid = lo + (hi - lo) / 2;
				if (v <= h->bounds[mid])
					hi = mid;
				else
					lo = mid + 1;
			}
			if (!best[lo] || v > ex_value(best[lo]))
				best[lo] = e;
		}
	}
	uint64_t cum = 0;
	sonde_buf le = SONDE_BUF_INIT;
	for (uint32_t i = 0; i < nb; i++) {
		uint64_t add = full ? h->bucket_counts[i] : total;
		cum = cum + add < cum ? UINT64_MAX : cum + add; /* cumulative counts never decrease */
		sonde_buf_reset(&le);
		if (i + 1 < nb)
			sonde__prom_double(&le, h->bounds[i], w->om);
		else
			sonde_buf_puts(&le, "+Inf");
		if (le.oom)
			break;
		sample_name(w, f, "_bucket", "le", le.data);
		put_u64(w->out, cum);
		sample_end(w, p->time_ns, best ? best[i] : NULL);
	}
	if (le.oom)
		w->oom = true;
	sonde_buf_release(&le);
	free(best);
	bool gauge = f->kind == SONDE__PROM_GAUGEHISTOGRAM && w->om;
	sample_name(w, f, gauge ? "_gcount" : "_count", NULL, NULL);
	put_u64(w->out, h->count);
	sample_end(w, p->time_ns, NULL);
	if (h->has_sum) {
		sample_name(w, f, gauge ? "_gsum" : "_sum", NULL, NULL);
		sonde__prom_double(w->out, h->sum, false);
		sample_end(w, p->time_ns, NULL);
	}
	if (f->kind == SONDE__PROM_HISTOGRAM)
		write_created(w, f, p);
}

static int cmp_q(const void *a, const void *b)
{
	double x = ((const sonde_quantile *)a)->quantile, y = ((const sonde_quantile *)b)->quantile;
	return x < y ? -1 : x > y;
}

static void write_summary_point(writer *w, const wfam *f, const sonde_point *p)
{
	uint32_t n = p->u.summary.quantiles_count;
	sonde_quantile *q = NULL;
	if (n) {
		q = malloc(n * sizeof(*q));
		if (!q) {
			w->oom = true;
			return;
		}
		memcpy(q, p->u.summary.quantiles, n * sizeof(*q));
		qsort(q, n, sizeof(*q), cmp_q);
	}
	sonde_buf qv = SONDE_BUF_INIT;
	for (uint32_t i = 0; i < n; i++) {
		if (!(q[i].quantile >= 0 && q[i].quantile <= 1) ||
		    (i > 0 && q[i].quantile == q[i - 1].quantile))
			continue;
		sonde_buf_reset(&qv);
		sonde__prom_double(&qv, q[i].quantile, w->om);
		if (qv.oom)
			break;
		sample_name(w, f, "", "quantile", qv.data);
		sonde__prom_double(w->out, q[i].value, false);
		sample_end(w, p->time_ns, NULL);
	}
	if (qv.oom)
		w->oom = true;
	sonde_buf_release(&qv);
	free(q);
	sample_name(w, f, "_sum", NULL, NULL);
	sonde__prom_double(w->out, p->u.summary.sum, false);
	sample_end(w, p->time_ns, NULL);
	sample_name(w, f, "_count", NULL, NULL);
	put_u64(w->out, p->u.summary.count);
	sample_end(w, p->time_ns, NULL);
	write_created(w, f, p);
}

/* ---- Families --------------------------------------------------------------------- */

static sonde__prom_kind flavor_kind(sonde__prom_kind k, bool om)
{
	if (om)
		return k;
	switch (k) {
	case SONDE__PROM_INFO:
	case SONDE__PROM_STATESET: return SONDE__PROM_GAUGE;
	case SONDE__PROM_GAUGEHISTOGRAM: return SONDE__PROM_HISTOGRAM;
	default: return k;
	}
}

static const char *type_word(sonde__prom_kind k, bool om)
{
	switch (flavor_kind(k, om)) {
	case SONDE__PROM_COUNTER: return "counter";
	case SONDE__PROM_GAUGE: return "gauge";
	case SONDE__PROM_UNKNOWN: return om ? "unknown" : "untyped";
	case SONDE__PROM_INFO: return "info";
	case SONDE__PROM_STATESET: return "stateset";
	case SONDE__PROM_HISTOGRAM: return "histogram";
	case SONDE__PROM_GAUGEHISTOGRAM: return "gaugehistogram";
	case SONDE__PROM_SUMMARY: return "summary";
	case SONDE__PROM_SKIP: break;
	}
	return "untyped";
}

/* Finds or adds the family whose name is names[off, off+len). */
static wfam *family_for(writer *w, size_t off, size_t len, sonde__prom_kind kind)
{
	const char *name = bufp(&w->names, off);
	uint64_t h = sonde_hash_bytes(name, len, 0);
	if ((w->nfams + 1) * 2 > w->nslots) {
		size_t ns = w->nslots ? w->nslots * 2 : 64;
		uint32_t *s = calloc(ns, sizeof(*s));
		if (!s)
			return NULL;
		for (size_t i = 0; i < w->nfams; i++) {
			size_t j = (size_t)w->fams[i].hash & (ns - 1);
			while (s[j])
				j = (j + 1) & (ns - 1);
			s[j] = (uint32_t)i + 1;
		}
		free(w->slots);
		w->slots = s;
		w->nslots = ns;
	}
	size_t mask = w->nslots - 1, i;
	for (i = (size_t)h & mask; w->slots[i]; i = (i + 1) & mask) {
		wfam *f = &w->fams[w->slots[i] - 1];
		if (f->hash == h && f->name_len == len &&
		    memcmp(bufp(&w->names, f->name_off), name, len) == 0)
			return f;
	}
	if (w->nfams >= UINT32_MAX - 1 ||
	    reserve((void **)&w->fams, &w->capfams, w->nfams + 1, sizeof(wfam)) < 0)
		return NULL;
	wfam *f = &w->fams[w->nfams];
	memset(f, 0, sizeof(*f));
	f->name_off = off;
	f->name_len = len;
	f->kind = kind;
	f->hash = h;
	f->help = (sonde_str){"", 0};
	w->slots[i] = (uint32_t)++w->nfams;
	return f;
}

static int add_member(wfam *f, size_t mi)
{
	if (reserve((void **)&f->members, &f->cap, f->n + 1, sizeof(uint32_t)) < 0)
		return -ENOMEM;
	f->members[f->n++] = (uint32_t)mi;
	return 0;
}

static int group(writer *w)
{
	const sonde_batch *b = w->b;
	if (!w->o.no_target_info) {
		for (size_t i = 0; i < b->metrics_count; i++) {
			if (b->metrics[i].resource->attrs.count == 0 ||
			    sonde__prom_kind_of(&b->metrics[i]) == SONDE__PROM_SKIP)
				continue;
			size_t off = w->names.len;
			sonde_buf_puts(&w->names, w->om ? "target" : "target_info");
			if (w->names.oom)
				return -ENOMEM;
			wfam *f = family_for(w, off, w->names.len - off, SONDE__PROM_INFO);
			if (!f)
				return -ENOMEM;
			f->target = true;
			f->help = SONDE_STR_LIT("Target metadata");
			break;
		}
	}
	for (size_t i = 0; i < b->metrics_count; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		sonde__prom_kind k = sonde__prom_kind_of(m);
		if (k == SONDE__PROM_SKIP)
			continue;
		size_t off = w->names.len;
		sonde__prom_family_name(&w->names, m, k,
		                        w->om ? SONDE_PROM_OPENMETRICS_1 : SONDE_PROM_TEXT_004);
		if (w->names.oom)
			return -ENOMEM;
		size_t len = w->names.len - off;
		wfam *f = family_for(w, off, len, k);
		if (!f)
			return -ENOMEM;
		/* One TYPE per name: a metric of another type under the same name is dropped. */
		if (flavor_kind(f->kind, w->om) != flavor_kind(k, w->om))
			continue;
		if (f->n == 0 && !f->target && k != SONDE__PROM_INFO && k != SONDE__PROM_STATESET &&
		    m->unit.len) {
			size_t uo = w->names.len;
			sonde_prom_unit_suffix(&w->names, m->unit.ptr, m->unit.len,
			                       m->type == SONDE_METRIC_GAUGE);
			size_t ul = w->names.len - uo;
			const char *fn = bufp(&w->names, f->name_off);
			size_t base_len = f->name_len - (!w->om && k == SONDE__PROM_COUNTER ? 6 : 0);
			if (ul && base_len > ul && fn[base_len - ul - 1] == '_' &&
			    memcmp(fn + base_len - ul, bufp(&w->names, uo), ul) == 0) {
				f->unit_off = uo;
				f->unit_len = ul;
			}
		}
		if (f->help.len == 0)
			f->help = m->description;
		if (add_member(f, i) < 0)
			return -ENOMEM;
	}
	return w->names.oom ? -ENOMEM : 0;
}

static void write_target(writer *w, const wfam *f)
{
	const sonde_resource *last = NULL;
	for (size_t i = 0; i < w->b->metrics_count && !w->oom; i++) {
		const sonde_metric_data *m = &w->b->metrics[i];
		if (m->resource == last || m->resource->attrs.count == 0 ||
		    sonde__prom_kind_of(m) == SONDE__PROM_SKIP)
			continue;
		last = m->resource;
		point_labels(w, NULL, &m->resource->attrs, NULL);
		if (!seen_add(w, 0))
			continue;
		sample_name(w, f, w->om ? "_info" : "", NULL, NULL);
		sonde_buf_putc(w->out, '1');
		sample_end(w, 0, NULL);
	}
}

static void write_help(writer *w, const wfam *f)
{
	if (!f->help.len)
		return;
	sonde_buf_puts(w->out, "# HELP ");
	sonde_buf_append(w->out, bufp(&w->names, f->name_off), f->name_len);
	sonde_buf_putc(w->out, ' ');
	escape(w->out, f->help.ptr, f->help.len, w->om);
	sonde_buf_putc(w->out, '\n');
}

static void write_family(writer *w, const wfam *f)
{
	sonde_buf *out = w->out;
	const char *name = bufp(&w->names, f->name_off);
	/* HELP first as Prometheus clients write it; OpenMetrics prefers TYPE, UNIT, HELP. */
	if (!w->om)
		write_help(w, f);
	sonde_buf_puts(out, "# TYPE ");
	sonde_buf_append(out, name, f->name_len);
	sonde_buf_putc(out, ' ');
	sonde_buf_puts(out, type_word(f->kind, w->om));
	sonde_buf_putc(out, '\n');
	if (w->om && f->unit_len) {
		sonde_buf_puts(out, "# UNIT ");
		sonde_buf_append(out, name, f->name_len);
		sonde_buf_putc(out, ' ');
		sonde_buf_append(out, bufp(&w->names, f->unit_off), f->unit_len);
		sonde_buf_putc(out, '\n');
	}
	if (w->om)
		write_help(w, f);
	seen_reset(w);
	if (f->target) {
		write_target(w, f);
	}
	for (size_t j = 0; j < f->n && !w->oom; j++) {
		const sonde_metric_data *m = &w->b->metrics[f->members[j]];
		sonde__prom_kind k = sonde__prom_kind_of(m);
		const char *reserved = k == SONDE__PROM_HISTOGRAM || k == SONDE__PROM_GAUGEHISTOGRAM ? "le"
		                       : k == SONDE__PROM_SUMMARY ? "quantile"
		                                                  : NULL;
		for (uint32_t i = 0; i < m->points_count && !w->oom; i++) {
			const sonde_point *p = &m->points[i];
			if (p->flags & 1) /* no recorded value */
				continue;
			if ((m->type == SONDE_METRIC_GAUGE || m->type == SONDE_METRIC_SUM) &&
			    p->u.number.kind == SONDE_NUM_NONE)
				continue;
			point_labels(w, m, &p->attrs, reserved);
			if (w->oom || !seen_add(w, p->time_ns))
				continue;
			if (m->type == SONDE_METRIC_HISTOGRAM)
				write_hist_point(w, f, p);
			else if (m->type == SONDE_METRIC_SUMMARY)
				write_summary_point(w, f, p);
			else
				write_number_point(w, f, p);
		}
	}
}

int sonde_prom_text_write_opts(const sonde_batch *b, const sonde_prom_write_opts *opts, sonde_buf *out)
{
	writer w;
	memset(&w, 0, sizeof(w));
	w.b = b;
	if (opts)
		w.o = *opts;
	w.om = w.o.flavor == SONDE_PROM_OPENMETRICS_1;
	w.out = out;
	size_t start = out->len;
	bool was_oom = out->oom;
	int rc = group(&w);
	for (size_t i = 0; rc == 0 && i < w.nfams && !w.oom && !out->oom; i++)
		write_family(&w, &w.fams[i]);
	if (rc == 0 && w.om)
		sonde_buf_puts(out, "# EOF\n");
	if (rc == 0 && (w.oom || out->oom))
		rc = -ENOMEM;
	if (rc) { /* leave out as it was */
		out->len = start;
		if (out->cap)
			out->data[start] = '\0';
		out->oom = was_oom;
	}
	for (size_t i = 0; i < w.nfams; i++)
		free(w.fams[i].members);
	free(w.fams);
	free(w.slots);
	free(w.labs);
	free(w.sslots);
	sonde_buf_release(&w.names);
	sonde_buf_release(&w.lt);
	sonde_buf_release(&w.ls);
	sonde_buf_release(&w.xl);
	sonde_buf_release(&w.seen);
	return rc;
}

int sonde_prom_text_write(const sonde_batch *b, sonde_prom_flavor flavor, sonde_buf *out)
{
	sonde_prom_write_opts o = {.flavor = flavor};
	return sonde_prom_text_write_opts(b, &o, out);
}
