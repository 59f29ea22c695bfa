/*
 * otlp_json_write.c - writes a sonde_batch as OTLP/JSON export requests and as the
 * Collector's JSON lines (see otlp_json.h).
 *
 * Output is the canonical proto3 JSON form: lowerCamelCase keys, ids in lower-case hex,
 * 64-bit integers as decimal strings, enums as integers, and no member that holds its
 * default value (except sum/min/max when the point says they are set, and the chosen
 * member of a oneof). Records are regrouped into ResourceX/ScopeX wherever consecutive
 * records share resource and scope objects.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "hex.h"
#include "json.h"
#include "otlp_json.h"

typedef struct wr {
	sonde_json_writer w;
	sonde_buf tmp; /* scratch for quoted hex and base64 */
	int err;       /* first failure other than out of memory */
} wr;

#define KEY(x, lit) sonde_json_key(&(x)->w, lit, sizeof(lit) - 1)

static void w_str(wr *x, const char *key, size_t key_len, sonde_str s)
{
	if (s.len == 0)
		return;
	sonde_json_key(&x->w, key, key_len);
	sonde_json_str(&x->w, s.ptr, s.len);
}
#define STR(x, lit, s) w_str(x, lit, sizeof(lit) - 1, s)

static void w_u32(wr *x, const char *key, size_t key_len, uint32_t v)
{
	if (v == 0)
		return;
	sonde_json_key(&x->w, key, key_len);
	sonde_json_u64(&x->w, v);
}
#define U32(x, lit, v) w_u32(x, lit, sizeof(lit) - 1, v)

static void w_u64s(wr *x, const char *key, size_t key_len, uint64_t v)
{
	if (v == 0)
		return;
	sonde_json_key(&x->w, key, key_len);
	sonde_json_u64_str(&x->w, v);
}
#define U64S(x, lit, v) w_u64s(x, lit, sizeof(lit) - 1, v)

static void w_f64(wr *x, const char *key, size_t key_len, double v)
{
	if (v == 0)
		return;
	sonde_json_key(&x->w, key, key_len);
	sonde_json_f64(&x->w, v);
}
#define F64(x, lit, v) w_f64(x, lit, sizeof(lit) - 1, v)

/* A trace or span id; all zero means absent. */
static void w_id(wr *x, const char *key, size_t key_len, const uint8_t *id, size_t n)
{
	if (sonde_id_is_zero(id, n))
		return;
	char q[2 + 32];
	q[0] = '"';
	sonde_hex_encode(q + 1, id, n);
	q[1 + 2 * n] = '"';
	sonde_json_key(&x->w, key, key_len);
	sonde_json_raw(&x->w, q, 2 * n + 2);
}
#define ID(x, lit, id, n) w_id(x, lit, sizeof(lit) - 1, id, n)

static void w_bytes(wr *x, sonde_str s)
{
	size_t n = sonde_base64_encoded_len(s.len);
	if (n == 0 && s.len) {
		x->tmp.oom = true;
		return;
	}
	sonde_buf_reset(&x->tmp);
	if (sonde_buf_grow(&x->tmp, n + 2) < 0)
		return;
	char *q = x->tmp.data;
	q[0] = '"';
	sonde_base64_encode(q + 1, (const uint8_t *)s.ptr, s.len);
	q[n + 1] = '"';
	sonde_json_raw(&x->w, q, n + 2);
}

static void w_value(wr *x, const sonde_value *v, unsigned depth);

/* KeyValues whose values are at nesting level depth. */
static void w_kvs(wr *x, const sonde_attrs *a, unsigned depth)
{
	sonde_json_arr_begin(&x->w);
	for (uint32_t i = 0; i < a->count; i++) {
		const sonde_kv *kv = &a->items[i];
		sonde_json_obj_begin(&x->w);
		KEY(x, "key");
		sonde_json_str(&x->w, kv->key.ptr, kv->key.len);
		KEY(x, "value");
		w_value(x, &kv->value, depth);
		sonde_json_obj_end(&x->w);
	}
	sonde_json_arr_end(&x->w);
}

static void w_attrs(wr *x, const char *key, size_t key_len, const sonde_attrs *a)
{
	if (a->count == 0)
		return;
	sonde_json_key(&x->w, key, key_len);
	w_kvs(x, a, 1);
}
#define ATTRS(x, lit, a) w_attrs(x, lit, sizeof(lit) - 1, a)

static void w_value(wr *x, const sonde_value *v, unsigned depth)
{
	sonde_json_obj_begin(&x->w);
	if (depth > SONDE_OTLP_JSON_MAX_VALUE_DEPTH) {
		/* The reader would refuse it: fail rather than write what cannot be read back. */
		if (!x->err)
			x->err = -EINVAL;
		sonde_json_obj_end(&x->w);
		return;
	}
	switch (v->kind) {
	case SONDE_VAL_EMPTY: break;
	case SONDE_VAL_STRING:
		KEY(x, "stringValue");
		sonde_json_str(&x->w, v->u.str.ptr, v->u.str.len);
		break;
	case SONDE_VAL_BOOL:
		KEY(x, "boolValue");
		sonde_json_bool(&x->w, v->u.b);
		break;
	case SONDE_VAL_INT:
		KEY(x, "intValue");
		sonde_json_i64_str(&x->w, v->u.i);
		break;
	case SONDE_VAL_DOUBLE:
		KEY(x, "doubleValue");
		sonde_json_f64(&x->w, v->u.d);
		break;
	case SONDE_VAL_ARRAY:
		KEY(x, "arrayValue");
		sonde_json_obj_begin(&x->w);
		if (v->u.array.count) {
			KEY(x, "values");
			sonde_json_arr_begin(&x->w);
			for (uint32_t i = 0; i < v->u.array.count; i++)
				w_value(x, &v->u.array.items[i], depth + 1);
			sonde_json_arr_end(&x->w);
		}
		sonde_json_obj_end(&x->w);
		break;
	case SONDE_VAL_KVLIST:
		KEY(x, "kvlistValue");
		sonde_json_obj_begin(&x->w);
		if (v->u.kvlist.count) {
			KEY(x, "values");
			w_kvs(x, &v->u.kvlist, depth + 1);
		}
		sonde_json_obj_end(&x->w);
		break;
	case SONDE_VAL_BYTES:
		KEY(x, "bytesValue");
		w_bytes(x, v->u.str);
		break;
	}
	sonde_json_obj_end(&x->w);
}

/* ---- Resource and scope ----------------------------------------------------------- */

static void w_resource(wr *x, const sonde_resource *r)
{
	KEY(x, "resource");
	sonde_json_obj_begin(&x->w);
	ATTRS(x, "attributes", &r->attrs);
	U32(x, "droppedAttributesCount", r->dropped_attrs_count);
	sonde_json_obj_end(&x->w);
}

static void w_scope(wr *x, const sonde_scope *s)
{
	KEY(x, "scope");
	sonde_json_obj_begin(&x->w);
	STR(x, "name", s->name);
	STR(x, "version", s->version);
	ATTRS(x, "attributes", &s->attrs);
	U32(x, "droppedAttributesCount", s->dropped_attrs_count);
	sonde_json_obj_end(&x->w);
}

/* ---- Records ---------------------------------------------------------------------- */

static void w_span(wr *x, const sonde_span_data *s)
{
	sonde_json_obj_begin(&x->w);
	ID(x, "traceId", s->trace_id, 16);
	ID(x, "spanId", s->span_id, 8);
	STR(x, "traceState", s->trace_state);
	ID(x, "parentSpanId", s->parent_span_id, 8);
	U32(x, "flags", s->flags);
	STR(x, "name", s->name);
	U32(x, "kind", (uint32_t)s->kind);
	U64S(x, "startTimeUnixNano", s->start_ns);
	U64S(x, "endTimeUnixNano", s->end_ns);
	ATTRS(x, "attributes", &s->attrs);
	U32(x, "droppedAttributesCount", s->dropped_attrs_count);
	if (s->events_count) {
		KEY(x, "events");
		sonde_json_arr_begin(&x->w);
		for (uint32_t i = 0; i < s->events_count; i++) {
			const sonde_span_event *e = &s->events[i];
			sonde_json_obj_begin(&x->w);
			U64S(x, "timeUnixNano", e->time_ns);
			STR(x, "name", e->name);
			ATTRS(x, "attributes", &e->attrs);
			U32(x, "droppedAttributesCount", e->dropped_attrs_count);
			sonde_json_obj_end(&x->w);
		}
		sonde_json_arr_end(&x->w);
	}
	U32(x, "droppedEventsCount", s->dropped_events_count);
	if (s->links_count) {
		KEY(x, "links");
		sonde_json_arr_begin(&x->w);
		for (uint32_t i = 0; i < s->links_count; i++) {
			const sonde_span_link *l = &s->links[i];
			sonde_json_obj_begin(&x->w);
			ID(x, "traceId", l->trace_id, 16);
			ID(x, "spanId", l->span_id, 8);
			STR(x, "traceState", l->trace_state);
			ATTRS(x, "attributes", &l->attrs);
			U32(x, "droppedAttributesCount", l->dropped_attrs_count);
			U32(x, "flags", l->flags);
			sonde_json_obj_end(&x->w);
		}
		sonde_json_arr_end(&x->w);
	}
	U32(x, "droppedLinksCount", s->dropped_links_count);
	if (s->status_code != SONDE_STATUS_UNSET || s->status_message.len) {
		KEY(x, "status");
		sonde_json_obj_begin(&x->w);
		STR(x, "message", s->status_message);
		U32(x, "code", (uint32_t)s->status_code);
		sonde_json_obj_end(&x->w);
	}
	sonde_json_obj_end(&x->w);
}

static void w_log(wr *x, const sonde_log_data *l)
{
	sonde_json_obj_begin(&x->w);
	U64S(x, "timeUnixNano", l->time_ns);
	U64S(x, "observedTimeUnixNano", l->observed_time_ns);
	if (l->severity_number) {
		KEY(x, "severityNumber");
		sonde_json_i64(&x->w, l->severity_number);
	}
	STR(x, "severityText", l->severity_text);
	if (l->body.kind != SONDE_VAL_EMPTY) {
		KEY(x, "body");
		w_value(x, &l->body, 1);
	}
	ATTRS(x, "attributes", &l->attrs);
	U32(x, "droppedAttributesCount", l->dropped_attrs_count);
	U32(x, "flags", l->flags);
	ID(x, "traceId", l->trace_id, 16);
	ID(x, "spanId", l->span_id, 8);
	STR(x, "eventName", l->event_name);
	sonde_json_obj_end(&x->w);
}

static void w_number(wr *x, const char *dkey, size_t dkey_len, const char *ikey, size_t ikey_len,
                     sonde_num_kind kind, double d, int64_t i)
{
	if (kind == SONDE_NUM_DOUBLE) {
		sonde_json_key(&x->w, dkey, dkey_len);
		sonde_json_f64(&x->w, d);
	} else if (kind == SONDE_NUM_INT) {
		sonde_json_key(&x->w, ikey, ikey_len);
		sonde_json_i64_str(&x->w, i);
	}
}

static void w_exemplars(wr *x, const sonde_point *p)
{
	if (!p->exemplars_count)
		return;
	KEY(x, "exemplars");
	sonde_json_arr_begin(&x->w);
	for (uint32_t i = 0; i < p->exemplars_count; i++) {
		const sonde_exemplar *e = &p->exemplars[i];
		sonde_json_obj_begin(&x->w);
		ATTRS(x, "filteredAttributes", &e->filtered_attrs);
		U64S(x, "timeUnixNano", e->time_ns);
		w_number(x, "asDouble", 8, "asInt", 5, e->value_kind, e->value.d, e->value.i);
		ID(x, "spanId", e->span_id, 8);
		ID(x, "traceId", e->trace_id, 16);
		sonde_json_obj_end(&x->w);
	}
	sonde_json_arr_end(&x->w);
}

static void w_u64_list(wr *x, const char *key, size_t key_len, const uint64_t *v, uint32_t n)
{
	if (!n)
		return;
	sonde_json_key(&x->w, key, key_len);
	sonde_json_arr_begin(&x->w);
	for (uint32_t i = 0; i < n; i++)
		sonde_json_u64_str(&x->w, v[i]);
	sonde_json_arr_end(&x->w);
}

static void w_exp_buckets(wr *x, const char *key, size_t key_len, const sonde_exp_buckets *b)
{
	if (b->offset == 0 && b->count == 0)
		return;
	sonde_json_key(&x->w, key, key_len);
	sonde_json_obj_begin(&x->w);
	if (b->offset) {
		KEY(x, "offset");
		sonde_json_i64(&x->w, b->offset);
	}
	w_u64_list(x, "bucketCounts", 12, b->counts, b->count);
	sonde_json_obj_end(&x->w);
}

/* sum/min/max of (exponential) histograms: written when set, whatever their value. */
static void w_opt(wr *x, const char *key, size_t key_len, bool has, double v)
{
	if (!has)
		return;
	sonde_json_key(&x->w, key, key_len);
	sonde_json_f64(&x->w, v);
}

static void w_point(wr *x, sonde_metric_type type, const sonde_point *p)
{
	sonde_json_obj_begin(&x->w);
	ATTRS(x, "attributes", &p->attrs);
	U64S(x, "startTimeUnixNano", p->start_time_ns);
	U64S(x, "timeUnixNano", p->time_ns);
	switch (type) {
	case SONDE_METRIC_NONE: break;
	case SONDE_METRIC_GAUGE:
	case SONDE_METRIC_SUM:
		w_number(x, "asDouble", 8, "asInt", 5, p->u.number.kind, p->u.number.v.d, p->u.number.v.i);
		w_exemplars(x, p);
		break;
	case SONDE_METRIC_HISTOGRAM: {
		const __typeof__(p->u.hist) *h = &p->u.hist;
		U64S(x, "count", h->count);
		w_opt(x, "sum", 3, h->has_sum, h->sum);
		w_u64_list(x, "bucketCounts", 12, h->bucket_counts, h->bucket_counts_count);
		if (h->bounds_count) {
			KEY(x, "explicitBounds");
			sonde_json_arr_begin(&x->w);
			for (uint32_t i = 0; i < h->bounds_count; i++)
				sonde_json_f64(&x->w, h->bounds[i]);
			sonde_json_arr_end(&x->w);
		}
		w_exemplars(x, p);
		w_opt(x, "min", 3, h->has_min, h->min);
		w_opt(x, "max", 3, h->has_max, h->max);
		break;
	}
	case SONDE_METRIC_EXP_HISTOGRAM: {
		const __typeof__(p->u.exp) *e = &p->u.exp;
		U64S(x, "count", e->count);
		w_opt(x, "sum", 3, e->has_sum, e->sum);
		if (e->scale) {
			KEY(x, "scale");
			sonde_json_i64(&x->w, e->scale);
		}
		U64S(x, "zeroCount", e->zero_count);
		w_exp_buckets(x, "positive", 8, &e->positive);
		w_exp_buckets(x, "negative", 8, &e->negative);
		w_exemplars(x, p);
		w_opt(x, "min", 3, e->has_min, e->min);
		w_opt(x, "max", 3, e->has_max, e->max);
		F64(x, "zeroThreshold", e->zero_threshold);
		break;
	}
	case SONDE_METRIC_SUMMARY: {
		const __typeof__(p->u.summary) *s = &p->u.summary;
		U64S(x, "count", s->count);
		F64(x, "sum", s->sum);
		if (s->quantiles_count) {
			KEY(x, "quantileValues");
			sonde_json_arr_begin(&x->w);
			for (uint32_t i = 0; i < s->quantiles_count; i++) {
				sonde_json_obj_begin(&x->w);
				F64(x, "quantile", s->quantiles[i].quantile);
				F64(x, "value", s->quantiles[i].value);
				sonde_json_obj_end(&x->w);
			}
			sonde_json_arr_end(&x->w);
		}
		break;
	}
	}
	U32(x, "flags", p->flags);
	sonde_json_obj_end(&x->w);
}

static void w_metric(wr *x, const sonde_metric_data *m)
{
	static const struct {
		const char *key;
		size_t len;
	} data_key[] = {
	        [SONDE_METRIC_GAUGE] = {"gauge", 5},
	        [SONDE_METRIC_SUM] = {"sum", 3},
	        [SONDE_METRIC_HISTOGRAM] = {"histogram", 9},
	        [SONDE_METRIC_EXP_HISTOGRAM] = {"exponentialHistogram", 20},
	        [SONDE_METRIC_SUMMARY] = {"summary", 7},
	};
	sonde_json_obj_begin(&x->w);
	STR(x, "name", m->name);
	STR(x, "description", m->description);
	STR(x, "unit", m->unit);
	if (m->type > SONDE_METRIC_NONE && m->type <= SONDE_METRIC_SUMMARY) {
		sonde_json_key(&x->w, data_key[m->type].key, data_key[m->type].len);
		sonde_json_obj_begin(&x->w);
		if (m->points_count) {
			KEY(x, "dataPoints");
			sonde_json_arr_begin(&x->w);
			for (uint32_t i = 0; i < m->points_count; i++)
				w_point(x, m->type, &m->points[i]);
			sonde_json_arr_end(&x->w);
		}
		if (m->type == SONDE_METRIC_SUM || m->type == SONDE_METRIC_HISTOGRAM ||
		    m->type == SONDE_METRIC_EXP_HISTOGRAM)
			U32(x, "aggregationTemporality", (uint32_t)m->temporality);
		if (m->type == SONDE_METRIC_SUM && m->is_monotonic) {
			KEY(x, "isMonotonic");
			sonde_json_bool(&x->w, true);
		}
		sonde_json_obj_end(&x->w);
	}
	ATTRS(x, "metadata", &m->metadata);
	sonde_json_obj_end(&x->w);
}

/* ---- Requests --------------------------------------------------------------------- */

/* Per-signal layout: key names and access to the records' groups. */
typedef struct sigdesc {
	const char *res_key, *scope_key, *rec_key;
	size_t res_key_len, scope_key_len, rec_key_len;
} sigdesc;

static const sigdesc sigdescs[] = {
        [SONDE_SIGNAL_TRACES] = {"resourceSpans", "scopeSpans", "spans", 13, 10, 5},
        [SONDE_SIGNAL_METRICS] = {"resourceMetrics", "scopeMetrics", "metrics", 15, 12, 7},
        [SONDE_SIGNAL_LOGS] = {"resourceLogs", "scopeLogs", "logRecords", 12, 9, 10},
};

static const sonde_resource *rec_resource(const sonde_batch *b, sonde_signal sig, size_t i)
{
	return sig == SONDE_SIGNAL_TRACES    ? b->spans[i].resource
	       : sig == SONDE_SIGNAL_METRICS ? b->metrics[i].resource
	                                     : b->logs[i].resource;
}

static const sonde_scope *rec_scope(const sonde_batch *b, sonde_signal sig, size_t i)
{
	return sig == SONDE_SIGNAL_TRACES    ? b->spans[i].scope
	       : sig == SONDE_SIGNAL_METRICS ? b->metrics[i].scope
	                                     : b->logs[i].scope;
}

static void w_record(wr *x, const sonde_batch *b, sonde_signal sig, size_t i)
{
	if (sig == SONDE_SIGNAL_TRACES)
		w_span(x, &b->spans[i]);
	else if (sig == SONDE_SIGNAL_METRICS)
		w_metric(x, &b->metrics[i]);
	else
		w_log(x, &b->logs[i]);
}

static void w_request(wr *x, const sonde_batch *b, sonde_signal sig, size_t first, size_t end)
{
	const sigdesc *d = &sigdescs[sig];
	sonde_json_obj_begin(&x->w);
	if (first < end) {
		sonde_json_key(&x->w, d->res_key, d->res_key_len);
		sonde_json_arr_begin(&x->w);
	}
	size_t i = first;
	while (i < end) {
		const sonde_resource *res = rec_resource(b, sig, i);
		sonde_json_obj_begin(&x->w);
		w_resource(x, res);
		sonde_json_key(&x->w, d->scope_key, d->scope_key_len);
		sonde_json_arr_begin(&x->w);
		while (i < end && rec_resource(b, sig, i) == res) {
			const sonde_scope *scope = rec_scope(b, sig, i);
			sonde_json_obj_begin(&x->w);
			w_scope(x, scope);
			sonde_json_key(&x->w, d->rec_key, d->rec_key_len);
			sonde_json_arr_begin(&x->w);
			while (i < end && rec_resource(b, sig, i) == res && rec_scope(b, sig, i) == scope)
				w_record(x, b, sig, i++);
			sonde_json_arr_end(&x->w);
			STR(x, "schemaUrl", scope->schema_url);
			sonde_json_obj_end(&x->w);
		}
		sonde_json_arr_end(&x->w);
		STR(x, "schemaUrl", res->schema_url);
		sonde_json_obj_end(&x->w);
	}
	if (first < end)
		sonde_json_arr_end(&x->w);
	sonde_json_obj_end(&x->w);
}

static size_t sig_count(const sonde_batch *b, sonde_signal sig)
{
	return sig == SONDE_SIGNAL_TRACES    ? b->spans_count
	       : sig == SONDE_SIGNAL_METRICS ? b->metrics_count
	                                     : b->logs_count;
}

int sonde_otlp_json_write_range(const sonde_batch *b, sonde_signal sig, size_t first, size_t count,
                                sonde_buf *out, int pretty)
{
	if ((unsigned)sig > SONDE_SIGNAL_LOGS)
		return -EINVAL;
	size_t n = sig_count(b, sig);
	if (first > n || count > n - first)
		return -EINVAL;
	if (out->oom)
		return -ENOMEM;
	const size_t at_entry = out->len;
	wr x;
	sonde_json_writer_init(&x.w, out, pretty);
	sonde_buf_init(&x.tmp);
	x.err = 0;
	w_request(&x, b, sig, first, first + count);
	int rc = x.err;
	if (out->oom || x.tmp.oom)
		rc = -ENOMEM;
	sonde_buf_release(&x.tmp);
	if (rc < 0) {
		out->len = at_entry;
		if (out->cap)
			out->data[out->len] = '\0';
	}
	return rc;
}

int sonde_otlp_json_write(const sonde_batch *b, sonde_signal sig, sonde_buf *out, int pretty)
{
	if ((unsigned)sig > SONDE_SIGNAL_LOGS)
		return -EINVAL;
	return sonde_otlp_json_write_range(b, sig, 0, sig_count(b, sig), out, pretty);
}

int sonde_otlp_jsonl_write(const sonde_batch *b, sonde_buf *out)
{
	static const sonde_signal order[] = {SONDE_SIGNAL_TRACES, SONDE_SIGNAL_METRICS, SONDE_SIGNAL_LOGS};
	const size_t at_entry = out->len;
	for (size_t k = 0; k < 3; k++) {
		size_t n = sig_count(b, order[k]);
		if (n == 0)
			continue;
		int rc = sonde_otlp_json_write_range(b, order[k], 0, n, out, 0);
		if (rc == 0) {
			sonde_buf_putc(out, '\n');
			if (out->oom)
				rc = -ENOMEM;
		}
		if (rc < 0) {
			out->len = at_entry;
			if (out->cap)
				out->data[out->len] = '\0';
			return rc;
		}
	}
	return 0;
}
