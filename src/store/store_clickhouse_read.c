/*
 * store_clickhouse_read.c - the reads of the ClickHouse backend (store.h): queries built
 * from a sonde_query, results streamed in RowBinary and decoded into the caller's batch
 * or callback, and aggregations computed inside ClickHouse.
 *
 * Every read uses FINAL, so rows two writers both inserted count once. Conditions on
 * attributes use the Array(String) columns: a span's own attribute, else its resource's
 * (joined from resources, the one JOIN 18.16 allows per SELECT). Records come back in
 * the SQLite backend's order: time, then arrival (sid, seq).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonde/status.h"
#include "store_clickhouse_internal.h"
#include "store_codec_internal.h"

static const uint8_t zero_id[16];

/* ---- Building conditions --------------------------------------------------------------- */

static void q_lit(sonde_buf *q, const char *s)
{
	sonde__ch_quote(q, s, strlen(s));
}

/* The text of attribute key of the row (its own, else its resource's, joined as
 * r_keys / r_vals); "" when neither has it. */
static void q_attr_value(sonde_buf *q, const char *key, size_t klen, bool with_resource)
{
	sonde_buf_puts(q, "if(has(attr_keys, ");
	sonde__ch_quote(q, key, klen);
	sonde_buf_puts(q, "), attr_vals[indexOf(attr_keys, ");
	sonde__ch_quote(q, key, klen);
	sonde_buf_puts(q, ")], ");
	if (with_resource) {
		sonde_buf_puts(q, "r_vals[indexOf(r_keys, ");
		sonde__ch_quote(q, key, klen);
		sonde_buf_puts(q, ")])");
	} else {
		sonde_buf_puts(q, "'')");
	}
}

/* One attribute condition, as the SQLite backend's sonde_attr_eq(). */
static void q_attr_cond(sonde_buf *q, const sonde_attr_match *m, bool with_resource)
{
	size_t klen = strlen(m->key);
	sonde_buf_puts(q, " AND ");
	if (!m->value) {
		sonde_buf_puts(q, "(has(attr_keys, ");
		sonde__ch_quote(q, m->key, klen);
		if (with_resource) {
			sonde_buf_puts(q, ") OR has(r_keys, ");
			sonde__ch_quote(q, m->key, klen);
		}
		sonde_buf_puts(q, "))");
		return;
	}
	sonde_buf_puts(q, "if(has(attr_keys, ");
	sonde__ch_quote(q, m->key, klen);
	sonde_buf_puts(q, "), attr_vals[indexOf(attr_keys, ");
	sonde__ch_quote(q, m->key, klen);
	sonde_buf_puts(q, ")] = ");
	q_lit(q, m->value);
	if (with_resource) {
		sonde_buf_puts(q, ", has(r_keys, ");
		sonde__ch_quote(q, m->key, klen);
		sonde_buf_puts(q, ") AND r_vals[indexOf(r_keys, ");
		sonde__ch_quote(q, m->key, klen);
		sonde_buf_puts(q, ")] = ");
		q_lit(q, m->value);
		sonde_buf_puts(q, ")");
	} else {
		sonde_buf_puts(q, ", 0)");
	}
}

#define RES_JOIN                                                                                           \
	" ANY LEFT JOIN (SELECT hash AS resource, attr_keys AS r_keys, attr_vals AS r_vals FROM resources" \
	" FINAL) USING resource"

/* RES_JOIN for s: GLOBAL in the sharded layout, where a trace's spans and their resource
 * are on different shards (the resources are read once and sent to every shard). */
static const char *res_join(const ch_store *s)
{
	return s->cluster ? " GLOBAL" RES_JOIN : RES_JOIN;
}

/* Adds the conditions of q on the spans table (joined with RES_JOIN when q has
 * attribute conditions). */
static void q_span_where(sonde_buf *b, const sonde_query *q)
{
	if (q->since_ns)
		sonde_buf_printf(b, " AND start_ns >= %llu", (unsigned long long)q->since_ns);
	if (q->until_ns)
		sonde_buf_printf(b, " AND start_ns < %llu", (unsigned long long)q->until_ns);
	if (q->service) {
		sonde_buf_puts(b, " AND service = ");
		q_lit(b, q->service);
	}
	if (q->operation) {
		sonde_buf_puts(b, " AND name = ");
		q_lit(b, q->operation);
	}
	if (q->min_duration_ns)
		sonde_buf_printf(b, " AND dur_ns >= %lld", (long long)q->min_duration_ns);
	if (q->max_duration_ns)
		sonde_buf_printf(b, " AND dur_ns <= %lld", (long long)q->max_duration_ns);
	if (q->errors_only)
		sonde_buf_puts(b, " AND status = 2");
	if (q->kinds) {
		sonde_buf_puts(b, " AND kind IN (");
		bool first = true;
		for (int k = 0; k < 32; k++)
			if (q->kinds >> k & 1) {
				sonde_buf_printf(b, "%s%d", first ? "" : ",", k);
				first = false;
			}
		sonde_buf_puts(b, ")");
	}
	if (q->roots_only) {
		sonde_buf_puts(b, " AND parent_id = ");
		sonde__ch_quote(b, zero_id, 8);
	}
	if (q->trace_id) {
		/* The index gives the trace's sort keys in spans: a few ranges of its primary key. */
		sonde_buf_puts(b, " AND trace_id = ");
		sonde__ch_quote(b, q->trace_id, 16);
		sonde_buf_puts(
		        b,
		        " AND (service, name, start_ns) IN (SELECT service, name, start_ns FROM trace_index"
		        " WHERE trace_id = ");
		sonde__ch_quote(b, q->trace_id, 16);
		sonde_buf_puts(b, ")");
	}
	for (size_t i = 0; i < q->attrs_count; i++)
		q_attr_cond(b, &q->attrs[i], true);
}

static int oom(ch_store *s)
{
	return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
}

/* ---- Resources and scopes of one read ---------------------------------------------------- */

typedef struct meta_cache {
	sonde__keymap map; /* hash + kind byte -> object */
	sonde_batch *b;    /* where they live */
} meta_cache;

typedef struct blob_ctx {
	sonde_buf data;
	bool found;
} blob_ctx;

static int row_blob(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	blob_ctx *c = ctx;
	size_t n;
	const uint8_t *p = sonde__rb_str(r, &n);
	if (r->short_)
		return 0;
	sonde_buf_reset(&c->data);
	sonde_buf_append(&c->data, p, n);
	c->found = true;
	return c->data.oom ? -ENOMEM : 0;
}

static int meta_get(ch_store *s, meta_cache *mc, bool is_scope, const uint8_t hash[16], const void **out)
{
	uint8_t key[17];
	memcpy(key, hash, 16);
	key[16] = is_scope;
	sonde__keymap_ent *e = sonde__keymap_get(&mc->map, key, sizeof key);
	if (e) {
		*out = (const void *)(uintptr_t)e->v;
		return 0;
	}
	sonde_buf q = SONDE_BUF_INIT;
	blob_ctx c = {SONDE_BUF_INIT, false};
	sonde_buf_puts(&q, is_scope ? "SELECT data FROM scopes WHERE hash = "
	                            : "SELECT data FROM resources WHERE hash = ");
	sonde__ch_quote(&q, hash, 16);
	sonde_buf_puts(&q, " LIMIT 1");
	int rc = q.oom ? -ENOMEM : sonde__ch_select(s, s->curl2, q.data, row_blob, &c, "reading resources");
	void *obj = NULL;
	if (rc == 0) {
		obj = is_scope ? (void *)sonde_batch_new_scope(mc->b)
		               : (void *)sonde_batch_new_resource(mc->b);
		rc = obj ? 0 : -ENOMEM;
	}
	if (rc == 0 && c.found) {
		sonde__dec d;
		sonde__dec_init(&d, mc->b, c.data.data, c.data.len);
		int drc = is_scope ? sonde__dec_scope(&d, obj) : sonde__dec_resource(&d, obj);
		if (drc < 0)
			rc = drc == -ENOMEM ? -ENOMEM
			                    : sonde__store_fail(&s->base, SONDE_EFORMAT, "%s: a damaged %s",
			                                        s->uri, is_scope ? "scope" : "resource");
	}
	if (rc == 0 &&
	    (rc = sonde__keymap_put(&mc->map, key, sizeof key, (uint64_t)(uintptr_t)obj, NULL)) > 0)
		rc = 0;
	sonde_buf_release(&q);
	sonde_buf_release(&c.data);
	if (rc == 0)
		*out = obj;
	return rc;
}

static int damaged(ch_store *s, const char *what, int rc)
{
	if (rc == -ENOMEM)
		return oom(s);
	return sonde__store_fail(&s->base, SONDE_EFORMAT, "%s: a damaged %s record", s->uri, what);
}

int sonde__ch_attrs_from_arrays(sonde__rb *keys, sonde__rb *vals, const uint8_t *kinds, uint64_t n,
                                sonde_batch *b, sonde_attrs *out)
{
	sonde_kv *kv = n ? sonde_batch_alloc(b, n * sizeof *kv) : NULL;
	if (n && !kv)
		return -ENOMEM;
	char tmp[64];
	for (uint64_t i = 0; i < n; i++) {
		size_t kl, vl;
		const uint8_t *k = sonde__rb_str(keys, &kl), *v = sonde__rb_str(vals, &vl);
		memset(&kv[i], 0, sizeof kv[i]);
		kv[i].key = sonde_batch_intern(b, (const char *)k, kl);
		if (!kv[i].key.ptr)
			return -ENOMEM;
		sonde_value *val = &kv[i].value;
		val->kind = (sonde_value_kind)kinds[i];
		char *end = tmp;
		if (val->kind == SONDE_VAL_STRING) {
			val->u.str = sonde_batch_strdup(b, (const char *)v, vl);
			if (!val->u.str.ptr)
				return -ENOMEM;
			continue;
		}
		if (vl == 0 || vl >= sizeof tmp)
			return -1;
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		switch (val->kind) {
		case SONDE_VAL_INT: val->u.i = strtoll(tmp, &end, 10); break;
		case SONDE_VAL_DOUBLE: val->u.d = strtod(tmp, &end); break;
		case SONDE_VAL_BOOL:
			val->u.b = strcmp(tmp, "true") == 0;
			end = val->u.b || strcmp(tmp, "false") == 0 ? tmp + vl : tmp;
			break;
		default: return -1;
		}
		if (end != tmp + vl)
			return -1;
	}
	out->items = kv;
	out->count = (uint32_t)n;
	return keys->short_ || vals->short_ ? -1 : 0;
}

/* ---- Spans --------------------------------------------------------------------------------- */

#define SPAN_COLS "trace_id, span_id, parent_id, start_ns, dur_ns, name, kind, status, resource, scope"

typedef struct span_read {
	meta_cache mc;
	sonde_batch *data; /* where decoded parts go */
	bool full, select; /* select: append to data; else call fn */
	sonde_span_fn fn;
	void *ctx;
	int err;
} span_read;

static int row_span(ch_store *s, sonde__rb *r, void *ctx)
{
	span_read *c = ctx;
	sonde_span_data sp = {0};
	uint8_t rh[16], sh[16];
	sonde__rb_fixed(r, sp.trace_id, 16);
	sonde__rb_fixed(r, sp.span_id, 8);
	sonde__rb_fixed(r, sp.parent_span_id, 8);
	sp.start_ns = sonde__rb_u64(r);
	sp.end_ns = sp.start_ns + (uint64_t)sonde__rb_i64(r);
	size_t nlen, alen, rlen;
	const uint8_t *name = sonde__rb_str(r, &nlen);
	sp.kind = (sonde_span_kind)sonde__rb_u8(r);
	sp.status_code = (sonde_status_code)sonde__rb_u8(r);
	sonde__rb_fixed(r, rh, 16);
	sonde__rb_fixed(r, sh, 16);
	uint64_t nk = sonde__rb_count(r);
	sonde__rb keys = *r;
	for (uint64_t i = 0; i < nk; i++)
		sonde__rb_str(r, &alen);
	uint64_t nv = sonde__rb_count(r);
	sonde__rb vals = *r;
	for (uint64_t i = 0; i < nv; i++)
		sonde__rb_str(r, &alen);
	size_t klen;
	const uint8_t *kinds = sonde__rb_str(r, &klen);
	const uint8_t *attrs = sonde__rb_str(r, &alen);
	const uint8_t *rest = sonde__rb_str(r, &rlen);
	if (r->short_)
		return 0;
	if (!c->select && c->data->arena.bytes_used > (1u << 20))
		sonde_batch_clear(c->data);
	int rc;
	if ((rc = meta_get(s, &c->mc, false, rh, (const void **)&sp.resource)) < 0 ||
	    (rc = meta_get(s, &c->mc, true, sh, (const void **)&sp.scope)) < 0)
		return rc;
	sp.name = c->select ? sonde_batch_intern(c->data, (const char *)name, nlen)
	                    : sonde_batch_strdup(c->data, (const char *)name, nlen);
	if (!sp.name.ptr)
		return oom(s);
	if (c->full) {
		sonde__dec d;
		if (alen) {
			sonde__dec_init(&d, c->data, attrs, alen);
			if ((rc = sonde__dec_attrs(&d, &sp.attrs, 0)) < 0)
				return damaged(s, "span", rc);
		} else if (klen) {
			if (nk != klen || nv != klen)
				return damaged(s, "span", -1);
			if ((rc = sonde__ch_attrs_from_arrays(&keys, &vals, kinds, klen, c->data,
			                                      &sp.attrs)) < 0)
				return damaged(s, "span", rc);
		}
		if (rlen) {
			sonde__dec_init(&d, c->data, rest, rlen);
			if ((rc = sonde__dec_span_rest(&d, &sp)) < 0)
				return damaged(s, "span", rc);
		}
	}
	if (!c->select)
		return c->fn(c->ctx, &sp);
	sonde_span_data *out = sonde_batch_add_span(c->data, sp.resource, sp.scope);
	if (!out)
		return oom(s);
	*out = sp;
	return 0;
}

static void span_query(const ch_store *s, const sonde_query *q, bool full, sonde_buf *b)
{
	sonde_buf_puts(b, "SELECT " SPAN_COLS);
	sonde_buf_puts(b, full ? ", attr_keys, attr_vals, attr_kinds, attrs, rest"
	                       : ", emptyArrayString(), emptyArrayString(), '', '', ''");
	sonde_buf_puts(b, " FROM spans FINAL");
	if (q->attrs_count)
		sonde_buf_puts(b, res_join(s));
	sonde_buf_puts(b, " WHERE 1");
	q_span_where(b, q);
	switch (q->sort) {
	case SONDE_SORT_DEFAULT:
	case SONDE_SORT_TIME_ASC: sonde_buf_puts(b, " ORDER BY start_ns, sid"); break;
	case SONDE_SORT_TIME_DESC: sonde_buf_puts(b, " ORDER BY start_ns DESC, sid"); break;
	case SONDE_SORT_DURATION_DESC: sonde_buf_puts(b, " ORDER BY dur_ns DESC, sid"); break;
	case SONDE_SORT_DURATION_ASC: sonde_buf_puts(b, " ORDER BY dur_ns, sid"); break;
	}
	if (q->limit)
		sonde_buf_printf(b, " LIMIT %llu",
		                 (unsigned long long)(q->limit > INT64_MAX ? INT64_MAX : q->limit));
}

ssize_t sonde__ch_select_spans(sonde_store *base, const sonde_query *q, unsigned fields, sonde_batch *out)
{
	ch_store *s = (ch_store *)base;
	sonde_buf b = SONDE_BUF_INIT;
	span_read c = {.data = out, .full = fields != SONDE_FIELDS_BASE, .select = true};
	c.mc.b = out;
	sonde__keymap_init(&c.mc.map);
	size_t before = out->spans_count;
	span_query(s, q, c.full, &b);
	int rc = b.oom ? oom(s) : sonde__ch_select(s, s->curl, b.data, row_span, &c, "reading spans");
	if (rc < 0)
		out->spans_count = before;
	sonde_buf_release(&b);
	sonde__keymap_release(&c.mc.map);
	return rc < 0 ? rc : (ssize_t)(out->spans_count - before);
}

int sonde__ch_scan_spans(sonde_store *base, const sonde_query *q, unsigned fields, sonde_span_fn fn,
                         void *ctx)
{
	ch_store *s = (ch_store *)base;
	sonde_buf b = SONDE_BUF_INIT;
	sonde_batch *meta = sonde_batch_new(), *data = sonde_batch_new();
	span_read c = {.data = data, .full = fields != SONDE_FIELDS_BASE, .fn = fn, .ctx = ctx};
	c.mc.b = meta;
	sonde__keymap_init(&c.mc.map);
	span_query(s, q, c.full, &b);
	int rc = !meta || !data || b.oom
	                 ? oom(s)
	                 : sonde__ch_select(s, s->curl, b.data, row_span, &c, "reading spans");
	sonde_buf_release(&b);
	sonde__keymap_release(&c.mc.map);
	sonde_batch_free(meta);
	sonde_batch_free(data);
	return rc;
}

/* ---- Logs ---------------------------------------------------------------------------------- */

typedef struct log_read {
	meta_cache mc;
	sonde_batch *data;
	bool select;
	sonde_log_fn fn;
	void *ctx;
} log_read;

static int row_log(ch_store *s, sonde__rb *r, void *ctx)
{
	log_read *c = ctx;
	sonde_log_data lg = {0};
	uint8_t rh[16], sh[16];
	lg.severity_number = sonde__rb_i32(r);
	uint8_t has_body = sonde__rb_u8(r);
	size_t blen, rlen;
	const uint8_t *body = sonde__rb_str(r, &blen);
	sonde__rb_fixed(r, lg.trace_id, 16);
	sonde__rb_fixed(r, lg.span_id, 8);
	sonde__rb_fixed(r, rh, 16);
	sonde__rb_fixed(r, sh, 16);
	const uint8_t *rest = sonde__rb_str(r, &rlen);
	if (r->short_)
		return 0;
	if (!c->select && c->data->arena.bytes_used > (1u << 20))
		sonde_batch_clear(c->data);
	int rc;
	if ((rc = meta_get(s, &c->mc, false, rh, (const void **)&lg.resource)) < 0 ||
	    (rc = meta_get(s, &c->mc, true, sh, (const void **)&lg.scope)) < 0)
		return rc;
	sonde__dec d;
	sonde__dec_init(&d, c->data, rest, rlen);
	if ((rc = sonde__dec_log_rest(&d, &lg)) < 0)
		return damaged(s, "log", rc);
	if (has_body) {
		lg.body.kind = SONDE_VAL_STRING;
		lg.body.u.str = sonde_batch_strdup(c->data, (const char *)body, blen);
		if (!lg.body.u.str.ptr)
			return oom(s);
	}
	if (!c->select)
		return c->fn(c->ctx, &lg);
	sonde_log_data *out = sonde_batch_add_log(c->data, lg.resource, lg.scope);
	if (!out)
		return oom(s);
	*out = lg;
	return 0;
}

static void log_query(const ch_store *s, const sonde_query *q, sonde_buf *b)
{
	sonde_buf_puts(
	        b,
	        "SELECT severity, has_body, body, trace_id, span_id, resource, scope, rest FROM logs FINAL");
	if (q->attrs_count)
		sonde_buf_puts(b, res_join(s));
	sonde_buf_puts(b, " WHERE 1");
	if (q->since_ns)
		sonde_buf_printf(b, " AND time_ns >= %llu", (unsigned long long)q->since_ns);
	if (q->until_ns)
		sonde_buf_printf(b, " AND time_ns < %llu", (unsigned long long)q->until_ns);
	if (q->service) {
		sonde_buf_puts(b, " AND service = ");
		q_lit(b, q->service);
	}
	if (q->errors_only)
		sonde_buf_puts(b, " AND severity >= 17");
	if (q->min_severity)
		sonde_buf_printf(b, " AND severity >= %d", (int)q->min_severity);
	if (q->trace_id) {
		sonde_buf_puts(b, " AND trace_id = ");
		sonde__ch_quote(b, q->trace_id, 16);
		sonde_buf_puts(
		        b, " AND (time_ns, hkey) IN (SELECT time_ns, hkey FROM log_index WHERE trace_id = ");
		sonde__ch_quote(b, q->trace_id, 16);
		sonde_buf_puts(b, ")");
	}
	if (q->text) {
		sonde_buf_puts(b, " AND has_body AND position(body, ");
		q_lit(b, q->text);
		sonde_buf_puts(b, ") > 0");
	}
	for (size_t i = 0; i < q->attrs_count; i++)
		q_attr_cond(b, &q->attrs[i], true);
	sonde_buf_puts(b, q->sort == SONDE_SORT_TIME_DESC ? " ORDER BY time_ns DESC, seq"
	                                                  : " ORDER BY time_ns, seq");
	if (q->limit)
		sonde_buf_printf(b, " LIMIT %llu",
		                 (unsigned long long)(q->limit > INT64_MAX ? INT64_MAX : q->limit));
}

ssize_t sonde__ch_select_logs(sonde_store *base, const sonde_query *q, sonde_batch *out)
{
	ch_store *s = (ch_store *)base;
	sonde_buf b = SONDE_BUF_INIT;
	log_read c = {.data = out, .select = true};
	c.mc.b = out;
	sonde__keymap_init(&c.mc.map);
	size_t before = out->logs_count;
	log_query(s, q, &b);
	int rc = b.oom ? oom(s) : sonde__ch_select(s, s->curl, b.data, row_log, &c, "reading logs");
	if (rc < 0)
		out->logs_count = before;
	sonde_buf_release(&b);
	sonde__keymap_release(&c.mc.map);
	return rc < 0 ? rc : (ssize_t)(out->logs_count - before);
}

int sonde__ch_scan_logs(sonde_store *base, const sonde_query *q, sonde_log_fn fn, void *ctx)
{
	ch_store *s = (ch_store *)base;
	sonde_buf b = SONDE_BUF_INIT;
	sonde_batch *meta = sonde_batch_new(), *data = sonde_batch_new();
	log_read c = {.data = data, .fn = fn, .ctx = ctx};
	c.mc.b = meta;
	sonde__keymap_init(&c.mc.map);
	log_query(s, q, &b);
	int rc = !meta || !data || b.oom ? oom(s)
	                                 : sonde__ch_select(s, s->curl, b.data, row_log, &c, "reading logs");
	sonde_buf_release(&b);
	sonde__keymap_release(&c.mc.map);
	sonde_batch_free(meta);
	sonde_batch_free(data);
	return rc;
}

/* ---- Points -------------------------------------------------------------------------------- */

typedef struct point_read {
	meta_cache mc;
	sonde_batch *data; /* points (and, selecting, everything) */
	sonde_batch *meta; /* series parts while scanning */
	bool select;
	sonde_point_fn fn;
	void *ctx;
	uint8_t cur[16]; /* the series being read */
	bool have_cur;
	sonde_metric_data m; /* its series part */
	sonde_point *pts;    /* selecting: its points so far */
	size_t npts, cap;
	ssize_t n;
} point_read;

/* Moves the points gathered for the current series into one sonde_metric_data. */
static int flush_series(point_read *c)
{
	if (!c->npts)
		return 0;
	sonde_metric_data *m = sonde_batch_add_metric(c->data, c->m.resource, c->m.scope);
	sonde_point *arr = sonde_batch_alloc(c->data, c->npts * sizeof *arr);
	if (!m || !arr)
		return -ENOMEM;
	*m = c->m;
	memcpy(arr, c->pts, c->npts * sizeof *arr);
	m->points = arr;
	m->points_count = (uint32_t)c->npts;
	c->npts = 0;
	return 0;
}

static int row_point(ch_store *s, sonde__rb *r, void *ctx)
{
	point_read *c = ctx;
	uint8_t hash[16], rh[16], sh[16];
	sonde__rb_fixed(r, hash, 16);
	sonde_point p = {0};
	p.time_ns = sonde__rb_u64(r);
	uint8_t vk = sonde__rb_u8(r);
	int64_t vi = sonde__rb_i64(r);
	double vd = sonde__rb_f64(r);
	size_t restn, namen, metan, attrsn;
	const uint8_t *rest = sonde__rb_str(r, &restn);
	const uint8_t *name = sonde__rb_str(r, &namen);
	uint8_t type = sonde__rb_u8(r);
	sonde__rb_fixed(r, rh, 16);
	sonde__rb_fixed(r, sh, 16);
	const uint8_t *meta = sonde__rb_str(r, &metan);
	const uint8_t *attrs = sonde__rb_str(r, &attrsn);
	if (r->short_)
		return 0;
	int rc;
	sonde__dec d;
	bool new_series = !c->have_cur || memcmp(hash, c->cur, 16) != 0;
	if (new_series) {
		if (c->select && (rc = flush_series(c)) < 0)
			return oom(s);
		sonde_batch *mb = c->select ? c->data : c->meta;
		memset(&c->m, 0, sizeof c->m);
		if ((rc = meta_get(s, &c->mc, false, rh, (const void **)&c->m.resource)) < 0 ||
		    (rc = meta_get(s, &c->mc, true, sh, (const void **)&c->m.scope)) < 0)
			return rc;
		c->m.name = sonde_batch_intern(mb, (const char *)name, namen);
		if (!c->m.name.ptr)
			return oom(s);
		if (type > SONDE_METRIC_SUMMARY)
			return damaged(s, "series", -1);
		c->m.type = (sonde_metric_type)type;
		sonde__dec_init(&d, mb, meta, metan);
		if ((rc = sonde__dec_metric_meta(&d, &c->m)) < 0)
			return damaged(s, "series", rc);
		memcpy(c->cur, hash, 16);
		c->have_cur = true;
	} else if (!c->select && c->data->arena.bytes_used > (1u << 20)) {
		sonde_batch_clear(c->data);
	}
	sonde__dec_init(&d, c->data, attrs, attrsn);
	if ((rc = sonde__dec_attrs(&d, &p.attrs, 0)) < 0)
		return damaged(s, "series", rc);
	sonde__dec_init(&d, c->data, rest, restn);
	if ((rc = sonde__dec_point_rest(&d, c->m.type, &p)) < 0)
		return damaged(s, "point", rc);
	if (c->m.type == SONDE_METRIC_GAUGE || c->m.type == SONDE_METRIC_SUM) {
		if (vk == 1) {
			p.u.number.kind = SONDE_NUM_INT;
			p.u.number.v.i = vi;
		} else if (vk == 2) {
			p.u.number.kind = SONDE_NUM_DOUBLE;
			p.u.number.v.d = vd;
		}
	}
	c->n++;
	if (!c->select) {
		sonde_metric_data m = c->m;
		m.points = &p;
		m.points_count = 1;
		return c->fn(c->ctx, &m);
	}
	if (c->npts == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		sonde_point *np = realloc(c->pts, cap * sizeof *np);
		if (!np)
			return oom(s);
		c->pts = np;
		c->cap = cap;
	}
	c->pts[c->npts++] = p;
	return 0;
}

static void point_query(const sonde_query *q, sonde_buf *b)
{
	sonde_buf_puts(b,
	               "SELECT series, time_ns, vkind, vi, vd, rest, name, type, resource, scope, meta, attrs"
	               " FROM points FINAL ANY LEFT JOIN (SELECT hash AS series, name, type, resource, scope,"
	               " meta, attrs FROM series FINAL) USING series WHERE 1");
	if (q->since_ns)
		sonde_buf_printf(b, " AND time_ns >= %llu", (unsigned long long)q->since_ns);
	if (q->until_ns)
		sonde_buf_printf(b, " AND time_ns < %llu", (unsigned long long)q->until_ns);
	if (q->service || q->operation || q->attrs_count) {
		sonde_buf_puts(b, " AND series IN (SELECT hash FROM series FINAL WHERE 1");
		if (q->service) {
			sonde_buf_puts(b, " AND service = ");
			q_lit(b, q->service);
		}
		if (q->operation) {
			sonde_buf_puts(b, " AND name = ");
			q_lit(b, q->operation);
		}
		for (size_t i = 0; i < q->attrs_count; i++)
			q_attr_cond(b, &q->attrs[i], false);
		sonde_buf_puts(b, ")");
	}
	sonde_buf_puts(b, " ORDER BY series_seq, time_ns");
	if (q->limit)
		sonde_buf_printf(b, " LIMIT %llu",
		                 (unsigned long long)(q->limit > INT64_MAX ? INT64_MAX : q->limit));
}

ssize_t sonde__ch_select_points(sonde_store *base, const sonde_query *q, sonde_batch *out)
{
	ch_store *s = (ch_store *)base;
	sonde_buf b = SONDE_BUF_INIT;
	point_read c = {.data = out, .select = true};
	c.mc.b = out;
	sonde__keymap_init(&c.mc.map);
	size_t before = out->metrics_count;
	point_query(q, &b);
	int rc = b.oom ? oom(s) : sonde__ch_select(s, s->curl, b.data, row_point, &c, "reading points");
	if (rc == 0 && flush_series(&c) < 0)
		rc = oom(s);
	if (rc < 0)
		out->metrics_count = before;
	free(c.pts);
	sonde_buf_release(&b);
	sonde__keymap_release(&c.mc.map);
	return rc < 0 ? rc : c.n;
}

int sonde__ch_scan_points(sonde_store *base, const sonde_query *q, sonde_point_fn fn, void *ctx)
{
	ch_store *s = (ch_store *)base;
	sonde_buf b = SONDE_BUF_INIT;
	sonde_batch *meta = sonde_batch_new(), *data = sonde_batch_new();
	point_read c = {.data = data, .meta = meta, .fn = fn, .ctx = ctx};
	c.mc.b = meta;
	sonde__keymap_init(&c.mc.map);
	point_query(q, &b);
	int rc = !meta || !data || b.oom
	                 ? oom(s)
	                 : sonde__ch_select(s, s->curl, b.data, row_point, &c, "reading points");
	sonde_buf_release(&b);
	sonde__keymap_release(&c.mc.map);
	sonde_batch_free(meta);
	sonde_batch_free(data);
	return rc;
}

/* ---- Traces -------------------------------------------------------------------------------- */

ssize_t sonde__ch_get_trace(sonde_store *base, const uint8_t trace_id[16], bool with_logs, sonde_batch *out)
{
	sonde_query q = {.trace_id = trace_id, .sort = SONDE_SORT_TIME_ASC};
	size_t spans_before = out->spans_count;
	ssize_t n = sonde__ch_select_spans(base, &q, SONDE_FIELDS_ALL, out);
	if (n <= 0 || !with_logs)
		return n;
	ssize_t rc = sonde__ch_select_logs(base, &q, out);
	if (rc < 0) {
		out->spans_count = spans_before;
		return rc;
	}
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct trace_read {
	sonde_trace_list *out;
	size_t cap;
} trace_read;

static int row_trace(ch_store *s, sonde__rb *r, void *ctx)
{
	trace_read *c = ctx;
	sonde_trace_summary t = {0};
	sonde__rb_fixed(r, t.trace_id, 16);
	t.start_ns = sonde__rb_u64(r);
	t.duration_ns = (uint64_t)sonde__rb_i64(r);
	t.span_count = (uint32_t)sonde__rb_u64(r);
	t.error_count = (uint32_t)sonde__rb_u64(r);
	t.has_root = sonde__rb_u8(r) != 0;
	size_t sl, nl;
	const uint8_t *svc = sonde__rb_str(r, &sl);
	const uint8_t *op = sonde__rb_str(r, &nl);
	uint64_t ns = sonde__rb_count(r);
	sonde__rb save = *r;
	for (uint64_t i = 0; i < ns; i++) {
		size_t l;
		sonde__rb_str(r, &l);
	}
	sonde__rb_u64(r); /* the ordering key */
	if (r->short_)
		return 0;
	sonde_trace_list *out = c->out;
	if (out->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 32;
		sonde_trace_summary *n = realloc(out->items, cap * sizeof *n);
		if (!n)
			return oom(s);
		out->items = n;
		c->cap = cap;
	}
	t.root_service = sonde_arena_strndup(&out->arena, (const char *)svc, sl);
	t.root_operation = sonde_arena_strndup(&out->arena, (const char *)op, nl);
	const char **names = sonde_arena_alloc(&out->arena, (ns ? ns : 1) * sizeof *names);
	if (!t.root_service || !t.root_operation || !names)
		return oom(s);
	for (uint64_t i = 0; i < ns; i++) {
		size_t l;
		const uint8_t *p = sonde__rb_str(&save, &l);
		if (!(names[i] = sonde_arena_strndup(&out->arena, (const char *)p, l)))
			return oom(s);
	}
	qsort(names, ns, sizeof *names, cmp_str);
	t.services = names;
	t.services_count = ns;
	out->items[out->count++] = t;
	return 0;
}

ssize_t sonde__ch_find_traces(sonde_store *base, const sonde_query *q, sonde_trace_list *out)
{
	ch_store *s = (ch_store *)base;
	sonde_buf b = SONDE_BUF_INIT;
	/* The root: a span without parent before any other, then the earliest, then the first
	 * stored, as the SQLite backend keeps it. */
	sonde_buf_puts(
	        &b,
	        "SELECT trace_id, min(start_ns) AS ts, max(toInt64(start_ns) + dur_ns) - toInt64(ts) AS td,"
	        " count(), toUInt64(sum(status = 2)) AS errs, max(is_root),"
	        " argMin(service, (1 - is_root, start_ns, sid)), argMin(name, (1 - is_root, start_ns, sid)),"
	        " groupUniqArray(service), min(sid) AS tk FROM trace_index FINAL WHERE 1");
	if (q->trace_id) {
		sonde_buf_puts(&b, " AND trace_id = ");
		sonde__ch_quote(&b, q->trace_id, 16);
	}
	if (q->service || q->operation || q->attrs_count || q->kinds || q->roots_only) {
		sonde_query sq = {0};
		sq.service = q->service;
		sq.operation = q->operation;
		sq.attrs = q->attrs;
		sq.attrs_count = q->attrs_count;
		sq.kinds = q->kinds;
		sq.roots_only = q->roots_only;
		/* Sharded with a resource condition: the subquery's GLOBAL JOIN works only at
		 * the top level, so it runs here and its trace ids go to the shards. */
		sonde_buf_puts(&b, s->cluster && q->attrs_count
		                           ? " AND trace_id GLOBAL IN (SELECT trace_id FROM spans FINAL"
		                           : " AND trace_id IN (SELECT trace_id FROM spans FINAL");
		if (q->attrs_count)
			sonde_buf_puts(&b, res_join(s));
		sonde_buf_puts(&b, " WHERE 1");
		q_span_where(&b, &sq);
		sonde_buf_puts(&b, ")");
	}
	sonde_buf_puts(&b, " GROUP BY trace_id HAVING 1");
	if (q->since_ns)
		sonde_buf_printf(&b, " AND ts >= %llu", (unsigned long long)q->since_ns);
	if (q->until_ns)
		sonde_buf_printf(&b, " AND ts < %llu", (unsigned long long)q->until_ns);
	if (q->min_duration_ns)
		sonde_buf_printf(&b, " AND td >= %lld", (long long)q->min_duration_ns);
	if (q->max_duration_ns)
		sonde_buf_printf(&b, " AND td <= %lld", (long long)q->max_duration_ns);
	if (q->errors_only)
		sonde_buf_puts(&b, " AND errs > 0");
	switch (q->sort) {
	case SONDE_SORT_TIME_ASC: sonde_buf_puts(&b, " ORDER BY ts, tk"); break;
	case SONDE_SORT_DURATION_DESC: sonde_buf_puts(&b, " ORDER BY td DESC, tk"); break;
	case SONDE_SORT_DURATION_ASC: sonde_buf_puts(&b, " ORDER BY td, tk"); break;
	default: sonde_buf_puts(&b, " ORDER BY ts DESC, tk DESC"); break;
	}
	size_t limit = q->limit ? q->limit : 20;
	sonde_buf_printf(&b, " LIMIT %llu", (unsigned long long)(limit > INT64_MAX ? INT64_MAX : limit));
	trace_read c = {.out = out};
	int rc = b.oom ? oom(s) : sonde__ch_select(s, s->curl, b.data, row_trace, &c, "reading traces");
	sonde_buf_release(&b);
	return rc < 0 ? rc : (ssize_t)out->count;
}

/* ---- Aggregation --------------------------------------------------------------------------- */

typedef struct agg_read {
	sonde_agg_result *out;
	size_t nkeys, cap;
	bool values;
	sonde_agg_value_fn on_value;
	void *ctx;
} agg_read;

static int row_group(ch_store *s, sonde__rb *r, void *ctx)
{
	agg_read *c = ctx;
	const uint8_t *v[SONDE_AGG_MAX_KEYS];
	size_t vl[SONDE_AGG_MAX_KEYS];
	for (size_t i = 0; i < c->nkeys; i++)
		v[i] = sonde__rb_str(r, &vl[i]);
	sonde_agg_group g = {0};
	g.count = sonde__rb_u64(r);
	g.errors = sonde__rb_u64(r);
	g.sum_ns = sonde__rb_u64(r);
	g.min_ns = sonde__rb_u64(r);
	g.max_ns = sonde__rb_u64(r);
	g.first_start_ns = sonde__rb_u64(r);
	g.last_start_ns = sonde__rb_u64(r);
	uint64_t nd = 0, ne = 0;
	const uint8_t *durs = NULL, *errs = NULL;
	if (c->values) {
		nd = sonde__rb_count(r);
		durs = r->p;
		for (uint64_t i = 0; i < nd; i++)
			sonde__rb_u64(r);
		ne = sonde__rb_count(r);
		errs = r->p;
		for (uint64_t i = 0; i < ne; i++)
			sonde__rb_u8(r);
	}
	if (r->short_)
		return 0;
	if (g.count == 0) /* no keys and no span: ClickHouse answers one empty row */
		return 0;
	if (nd != ne)
		return sonde__store_fail(&s->base, SONDE_EFORMAT,
		                         "%s: an aggregation row with unequal arrays", s->uri);
	sonde_agg_result *out = c->out;
	if (out->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		sonde_agg_group *n = realloc(out->groups, cap * sizeof *n);
		if (!n)
			return oom(s);
		out->groups = n;
		c->cap = cap;
	}
	for (size_t i = 0; i < SONDE_AGG_MAX_KEYS; i++)
		g.values[i] = "";
	for (size_t i = 0; i < c->nkeys; i++)
		if (!(g.values[i] = sonde_arena_strndup(&out->arena, (const char *)v[i], vl[i])))
			return oom(s);
	size_t gi = out->count++;
	out->groups[gi] = g;
	for (uint64_t i = 0; i < nd; i++) {
		uint64_t d = 0;
		for (int k = 7; k >= 0; k--)
			d = d << 8 | durs[8 * i + (uint64_t)k];
		if (c->on_value(c->ctx, gi, d, errs[i] != 0) != 0)
			return sonde__store_fail(&s->base, -ECANCELED, "aggregation stopped by the caller");
	}
	return 0;
}

/* The expression of one group key over the inner query's columns. */
static void q_key(sonde_buf *b, const sonde_agg_key *k)
{
	switch (k->kind) {
	case SONDE_KEY_SERVICE: sonde_buf_puts(b, "service"); break;
	case SONDE_KEY_OPERATION: sonde_buf_puts(b, "name"); break;
	case SONDE_KEY_KIND:
		sonde_buf_puts(
		        b,
		        "transform(kind, [0, 1, 2, 3, 4, 5], ['unspecified', 'internal', 'server', 'client',"
		        " 'producer', 'consumer'], 'unknown')");
		break;
	case SONDE_KEY_STATUS:
		sonde_buf_puts(b, "transform(status, [0, 1, 2], ['unset', 'ok', 'error'], 'unknown')");
		break;
	case SONDE_KEY_PARENT_SERVICE: sonde_buf_puts(b, "parent_service"); break;
	case SONDE_KEY_ATTR:
	case SONDE_KEY_ATTR_ANY: {
		if (k->kinds) {
			sonde_buf_puts(b, "if(kind IN (");
			bool first = true;
			for (int i = 0; i < 32; i++)
				if (k->kinds >> i & 1) {
					sonde_buf_printf(b, "%s%d", first ? "" : ",", i);
					first = false;
				}
			sonde_buf_puts(b, "), ");
		}
		const char *list = k->attr;
		size_t nkeys = 0;
		if (k->kind == SONDE_KEY_ATTR) {
			q_attr_value(b, list, strlen(list), true);
		} else {
			/* The first non-empty value of the list. */
			sonde_buf_puts(b, "multiIf(");
			for (;;) {
				size_t klen = strcspn(list, ",");
				if (!list[klen]) {
					q_attr_value(b, list, klen, true);
					break;
				}
				q_attr_value(b, list, klen, true);
				sonde_buf_puts(b, " != '', ");
				q_attr_value(b, list, klen, true);
				sonde_buf_puts(b, ", ");
				list += klen + 1;
				nkeys++;
			}
			if (!nkeys) {
				/* multiIf needs a condition: one key stands alone. */
				sonde_buf_puts(b, " != '', ");
				q_attr_value(b, k->attr, strlen(k->attr), true);
				sonde_buf_puts(b, ", ''");
			}
			sonde_buf_puts(b, ")");
		}
		if (k->kinds)
			sonde_buf_puts(b, ", '')");
		break;
	}
	}
}

ssize_t sonde__ch_aggregate_spans(sonde_store *base, const sonde_query *q, const sonde_agg_key *keys,
                                  size_t nkeys, sonde_agg_value_fn on_value, void *ctx, sonde_agg_result *out)
{
	ch_store *s = (ch_store *)base;
	bool want_attrs = q->attrs_count > 0, want_parent = false;
	for (size_t i = 0; i < nkeys; i++) {
		want_attrs |= keys[i].kind == SONDE_KEY_ATTR || keys[i].kind == SONDE_KEY_ATTR_ANY;
		want_parent |= keys[i].kind == SONDE_KEY_PARENT_SERVICE;
	}
	/* Inner: the matching spans with their key values (k0, k1, ...); 18.16 allows one JOIN
	 * per SELECT, so the parent's service is joined one level up. */
	sonde_buf in = SONDE_BUF_INIT, b = SONDE_BUF_INIT;
	sonde_buf_puts(&in, "SELECT toUInt64(greatest(dur_ns, 0)) AS d, start_ns, status");
	if (want_parent)
		sonde_buf_puts(&in, ", trace_id, parent_id");
	for (size_t i = 0; i < nkeys; i++) {
		if (keys[i].kind == SONDE_KEY_PARENT_SERVICE) {
			sonde_buf_printf(&in, ", '' AS k%zu", i);
			continue;
		}
		sonde_buf_puts(&in, ", ");
		q_key(&in, &keys[i]);
		sonde_buf_printf(&in, " AS k%zu", i);
	}
	sonde_buf_puts(&in, " FROM spans FINAL");
	if (want_attrs)
		sonde_buf_puts(&in, res_join(s));
	sonde_buf_puts(&in, " WHERE 1");
	q_span_where(&in, q);
	sonde_buf_puts(&b, "SELECT ");
	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].kind == SONDE_KEY_PARENT_SERVICE)
			sonde_buf_printf(&b, "parent_service AS g%zu, ", i);
		else
			sonde_buf_printf(&b, "k%zu AS g%zu, ", i, i);
	sonde_buf_puts(&b, "count(), toUInt64(sum(status = 2)), sum(d), min(d), max(d), min(start_ns) AS fst,"
	                   " max(start_ns)");
	if (on_value)
		sonde_buf_puts(&b, ", groupArray(d), groupArray(toUInt8(status = 2))");
	sonde_buf_puts(&b, " FROM (");
	sonde_buf_append(&b, in.data, in.len);
	sonde_buf_puts(&b, ")");
	if (want_parent)
		sonde_buf_puts(
		        &b, " ANY LEFT JOIN (SELECT trace_id, span_id AS parent_id, service AS parent_service"
		            " FROM trace_index FINAL) USING (trace_id, parent_id)");
	sonde_buf_puts(&b, " GROUP BY ");
	for (size_t i = 0; i < nkeys; i++)
		sonde_buf_printf(&b, "%sg%zu", i ? ", " : "", i);
	if (!nkeys)
		sonde_buf_puts(&b, "toUInt8(0)");
	/* Groups in order of their first span, as a scan in time order meets them. */
	sonde_buf_puts(&b, " ORDER BY fst");
	for (size_t i = 0; i < nkeys; i++)
		sonde_buf_printf(&b, ", g%zu", i);
	agg_read c = {
	        .out = out, .nkeys = nkeys, .values = on_value != NULL, .on_value = on_value, .ctx = ctx};
	int rc = in.oom || b.oom ? oom(s)
	                         : sonde__ch_select(s, s->curl, b.data, row_group, &c, "aggregating spans");
	sonde_buf_release(&in);
	sonde_buf_release(&b);
	return rc < 0 ? rc : (ssize_t)out->count;
}
