/*
 * influx_write.c - writer of InfluxDB line protocol (see influx.h).
 *
 * Escaping follows the line protocol reference: a backslash before commas and spaces in
 * measurements, and before commas, equals signs and spaces in tag keys, tag values and
 * field keys. Line protocol cannot carry a newline in those, so one is written as the
 * two characters \n. Tags are sorted by key, as InfluxDB recommends.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "influx.h"
#include "prom_text.h"

typedef struct tag {
	const char *key;
	size_t key_len;
	size_t val_off, val_len; /* in the writer's scratch */
	uint32_t seq;            /* input order, to keep the first of equal keys */
} tag;

typedef struct iw {
	sonde_buf *out;
	sonde_buf vals;   /* tag values as text */
	sonde_buf fields; /* the line's fields */
	tag *tags;
	size_t ntags, cap;
	bool oom;
} iw;

static void esc(sonde_buf *out, const char *s, size_t n, bool eq_too)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == ',' || c == ' ' || (eq_too && c == '=')) {
			sonde_buf_putc(out, '\\');
			sonde_buf_putc(out, c);
		} else if (c == '\n') {
			sonde_buf_puts(out, "\\n");
		} else if (c == '\r') {
			sonde_buf_puts(out, "\\r");
		} else {
			sonde_buf_putc(out, c);
		}
	}
}

static int cmp_tag(const void *a, const void *b)
{
	const tag *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = n ? memcmp(x->key, y->key, n) : 0;
	if (c)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void add_tag(iw *w, const char *key, size_t key_len, const sonde_value *v)
{
	if (key_len == 0)
		return;
	size_t off = w->vals.len;
	sonde__prom_value_text(&w->vals, v);
	if (w->vals.len == off) /* line protocol has no empty tag values */
		return;
	if (w->ntags == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 16;
		tag *t = realloc(w->tags, ncap * sizeof(*t));
		if (!t) {
			w->oom = true;
			return;
		}
		w->tags = t;
		w->cap = ncap;
	}
	w->tags[w->ntags] = (tag){key, key_len, off, w->vals.len - off, (uint32_t)w->ntags};
	w->ntags++;
}

static void field_start(iw *w, const char *key)
{
	if (w->fields.len)
		sonde_buf_putc(&w->fields, ',');
	esc(&w->fields, key, strlen(key), true);
	sonde_buf_putc(&w->fields, '=');
}

static void field_double(iw *w, const char *key, double d)
{
	if (!isfinite(d))
		return;
	field_start(w, key);
	sonde__prom_double(&w->fields, d, false);
}

static void field_int(iw *w, const char *key, int64_t v)
{
	field_start(w, key);
	sonde_buf_printf(&w->fields, "%" PRId64 "i", v);
}

static void field_count(iw *w, const char *key, uint64_t v)
{
	if (v > (uint64_t)INT64_MAX) { /* beyond the integer type: a float */
		field_double(w, key, (double)v);
		return;
	}
	field_int(w, key, (int64_t)v);
}

/* "le_0.5", "quantile_0.99". */
static void field_name(sonde_buf *name, const char *prefix, double d)
{
	sonde_buf_reset(name);
	sonde_buf_puts(name, prefix);
	sonde__prom_double(name, d, false);
}

static void point_fields(iw *w, const sonde_metric_data *m, const sonde_point *p, sonde_buf *name)
{
	sonde_buf_reset(&w->fields);
	switch (m->type) {
	case SONDE_METRIC_GAUGE:
	case SONDE_METRIC_SUM:
		if (p->u.number.kind == SONDE_NUM_INT)
			field_int(w, "value", p->u.number.v.i);
		else if (p->u.number.kind == SONDE_NUM_DOUBLE)
			field_double(w, "value", p->u.number.v.d);
		break;
	case SONDE_METRIC_HISTOGRAM: {
		const __typeof__(p->u.hist) *h = &p->u.hist;
		field_count(w, "count", h->count);
		if (h->has_sum)
			field_double(w, "sum", h->sum);
		if (h->has_min)
			field_double(w, "min", h->min);
		if (h->has_max)
			field_double(w, "max", h->max);
		uint64_t cum = 0;
		if (h->bucket_counts_count == h->bounds_count + 1) {
			for (uint32_t i = 0; i < h->bounds_count; i++) {
				cum += h->bucket_counts[i];
				field_name(name, "le_", h->bounds[i]);
				if (!name->oom)
					field_count(w, name->data, cum);
			}
			cum += h->bucket_counts[h->bounds_count];
		} else {
			cum = h->count;
		}
		field_count(w, "le_+Inf", cum);
		break;
	}
	case SONDE_METRIC_EXP_HISTOGRAM: {
		const __typeof__(p->u.exp) *h = &p->u.exp;
		field_count(w, "count", h->count);
		if (h->has_sum)
			field_double(w, "sum", h->sum);
		if (h->has_min)
			field_double(w, "min", h->min);
		if (h->has_max)
			field_double(w, "max", h->max);
		field_count(w, "zero_count", h->zero_count);
		break;
	}
	case SONDE_METRIC_SUMMARY:
		field_count(w, "count", p->u.summary.count);
		field_double(w, "sum", p->u.summary.sum);
		for (uint32_t i = 0; i < p->u.summary.quantiles_count; i++) {
			const sonde_quantile *q = &p->u.summary.quantiles[i];
			if (isnan(q->quantile))
				continue;
			field_name(name, "quantile_", q->quantile);
			if (!name->oom)
				field_double(w, name->data, q->value);
		}
		break;
	case SONDE_METRIC_NONE: break;
	}
	if (name->oom)
		w->oom = true;
}

static void write_point(iw *w, const sonde_metric_data *m, const sonde_point *p, sonde_buf *name)
{
	point_fields(w, m, p, name);
	if (w->fields.len == 0)
		return;
	w->ntags = 0;
	sonde_buf_reset(&w->vals);
	for (uint32_t i = 0; i < p->attrs.count; i++)
		add_tag(w, p->attrs.items[i].key.ptr, p->attrs.items[i].key.len, &p->attrs.items[i].value);
	const sonde_value *svc = sonde_attrs_get(&m->resource->attrs, "service.name");
	if (svc)
		add_tag(w, "service.name", 12, svc);
	if (w->vals.oom || w->oom) {
		w->oom = true;
		return;
	}
	if (w->ntags > 1)
		qsort(w->tags, w->ntags, sizeof(tag), cmp_tag);
	sonde_buf *out = w->out;
	esc(out, m->name.ptr, m->name.len, false);
	for (size_t i = 0; i < w->ntags; i++) {
		const tag *t = &w->tags[i];
		if (i > 0 && t->key_len == t[-1].key_len && memcmp(t->key, t[-1].key, t->key_len) == 0)
			continue; /* a point attribute wins over the resource's service.name */
		sonde_buf_putc(out, ',');
		esc(out, t->key, t->key_len, true);
		sonde_buf_putc(out, '=');
		esc(out, w->vals.data + t->val_off, t->val_len, true);
	}
	sonde_buf_putc(out, ' ');
	sonde_buf_append(out, w->fields.data, w->fields.len);
	if (p->time_ns)
		sonde_buf_printf(out, " %" PRId64, (int64_t)p->time_ns);
	sonde_buf_putc(out, '\n');
}

int sonde_influx_write(const sonde_batch *b, sonde_buf *out)
{
	iw w;
	memset(&w, 0, sizeof(w));
	w.out = out;
	sonde_buf name = SONDE_BUF_INIT;
	size_t start = out->len;
	bool was_oom = out->oom;
	for (size_t i = 0; i < b->metrics_count && !w.oom && !out->oom; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		if (m->name.len == 0)
			continue;
		for (uint32_t j = 0; j < m->points_count && !w.oom; j++) {
			const sonde_point *p = &m->points[j];
			if (!(p->flags & 1)) /* skip "no recorded value" */
				write_point(&w, m, p, &name);
		}
	}
	int rc = w.oom || out->oom || w.fields.oom ? -ENOMEM : 0;
	if (rc) {
		out->len = start;
		if (out->cap)
			out->data[start] = '\0';
		out->oom = was_oom;
	}
	free(w.tags);
	sonde_buf_release(&w.vals);
	sonde_buf_release(&w.fields);
	sonde_buf_release(&name);
	return rc;
}
