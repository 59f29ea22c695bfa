/*
 * otlp_pb_write.c - writes a batch's records as an OTLP export request in the protobuf
 * wire format (see otlp_pb.h).
 *
 * Fields go out in field-number order. Nested messages use the pbwire open/close pair,
 * which reserves a length prefix and moves the body only when the prefix was guessed too
 * short or too long. Small messages (attributes, events) guess one byte; a record guesses
 * the previous record's size and a ResourceX/ScopeX group its record count times the
 * average record size, so the multi-megabyte group bodies are almost never moved (a
 * sizing pass instead would cost about as much as the encoding itself).
 */
#include <errno.h>
#include <string.h>

#include "hex.h"
#include "otlp_pb.h"
#include "pbwire.h"
#include "sonde/status.h"

typedef struct wr {
	sonde_pb_writer w;
	bool too_deep;      /* an AnyValue nests deeper than SONDE_OTLP_PB_MAX_VALUE_DEPTH */
	size_t last_record; /* bytes of the previous record: the size hint of the next one */
} wr;

static inline void put_str(wr *o, uint32_t field, sonde_str s)
{
	if (s.len)
		sonde_pb_put_bytes_field(&o->w, field, s.ptr, s.len);
}

static inline void put_id(wr *o, uint32_t field, const uint8_t *id, size_t n)
{
	if (!sonde_id_is_zero(id, n))
		sonde_pb_put_bytes_field(&o->w, field, id, n);
}

static inline void put_u64(wr *o, uint32_t field, uint64_t v)
{
	if (v)
		sonde_pb_put_varint_field(&o->w, field, v);
}

static inline void put_fixed64(wr *o, uint32_t field, uint64_t v)
{
	if (v)
		sonde_pb_put_fixed64_field(&o->w, field, v);
}

static inline void put_fixed32(wr *o, uint32_t field, uint32_t v)
{
	if (v)
		sonde_pb_put_fixed32_field(&o->w, field, v);
}

/* A plain proto3 double: omitted when its bits are zero (so -0.0 is kept). */
static inline void put_double(wr *o, uint32_t field, double v)
{
	uint64_t bits;
	memcpy(&bits, &v, sizeof(bits));
	if (bits)
		sonde_pb_put_fixed64_field(&o->w, field, bits);
}

/* ---- common.proto ------------------------------------------------------------------ */

static void put_kv(wr *o, uint32_t field, const sonde_kv *kv, unsigned depth);

/* The fields of an AnyValue (its oneof member is written even when it is a default). */
static void put_value(wr *o, const sonde_value *v, unsigned depth)
{
	if (depth > SONDE_OTLP_PB_MAX_VALUE_DEPTH) {
		o->too_deep = true;
		return;
	}
	switch (v->kind) {
	case SONDE_VAL_STRING: sonde_pb_put_bytes_field(&o->w, 1, v->u.str.ptr, v->u.str.len); break;
	case SONDE_VAL_BOOL: sonde_pb_put_varint_field(&o->w, 2, v->u.b); break;
	case SONDE_VAL_INT: sonde_pb_put_varint_field(&o->w, 3, (uint64_t)v->u.i); break;
	case SONDE_VAL_DOUBLE: sonde_pb_put_double_field(&o->w, 4, v->u.d); break;
	case SONDE_VAL_ARRAY:
		sonde_pb_open(&o->w, 5);
		for (uint32_t i = 0; i < v->u.array.count; i++) {
			sonde_pb_open(&o->w, 1);
			put_value(o, &v->u.array.items[i], depth + 1);
			sonde_pb_close(&o->w);
		}
		sonde_pb_close(&o->w);
		break;
	case SONDE_VAL_KVLIST:
		sonde_pb_open(&o->w, 6);
		for (uint32_t i = 0; i < v->u.kvlist.count; i++)
			put_kv(o, 1, &v->u.kvlist.items[i], depth + 1);
		sonde_pb_close(&o->w);
		break;
	case SONDE_VAL_BYTES: sonde_pb_put_bytes_field(&o->w, 7, v->u.str.ptr, v->u.str.len); break;
	case SONDE_VAL_EMPTY:
	default: break;
	}
}

/* A KeyValue; the value is written even when empty, as most encoders do. */
static void put_kv(wr *o, uint32_t field, const sonde_kv *kv, unsigned depth)
{
	sonde_pb_open(&o->w, field);
	put_str(o, 1, kv->key);
	sonde_pb_open(&o->w, 2);
	put_value(o, &kv->value, depth);
	sonde_pb_close(&o->w);
	sonde_pb_close(&o->w);
}

static void put_attrs(wr *o, uint32_t field, const sonde_attrs *a)
{
	for (uint32_t i = 0; i < a->count; i++)
		put_kv(o, field, &a->items[i], 1);
}

/* Resource { attributes = 1; dropped_attributes_count = 2; }, omitted when empty. */
static void put_resource(wr *o, const sonde_resource *res)
{
	if (!res || (!res->attrs.count && !res->dropped_attrs_count))
		return;
	sonde_pb_open(&o->w, 1);
	put_attrs(o, 1, &res->attrs);
	put_u64(o, 2, res->dropped_attrs_count);
	sonde_pb_close(&o->w);
}

/* InstrumentationScope { name = 1; version = 2; attributes = 3; dropped = 4; }. */
static void put_scope(wr *o, const sonde_scope *sc)
{
	if (!sc || (!sc->name.len && !sc->version.len && !sc->attrs.count && !sc->dropped_attrs_count))
		return;
	sonde_pb_open(&o->w, 1);
	put_str(o, 1, sc->name);
	put_str(o, 2, sc->version);
	put_attrs(o, 3, &sc->attrs);
	put_u64(o, 4, sc->dropped_attrs_count);
	sonde_pb_close(&o->w);
}

/* ---- Records ----------------------------------------------------------------------- */

static void put_span(wr *o, const sonde_span_data *s)
{
	sonde_pb_open_hint(&o->w, 2, o->last_record);
	put_id(o, 1, s->trace_id, 16);
	put_id(o, 2, s->span_id, 8);
	put_str(o, 3, s->trace_state);
	put_id(o, 4, s->parent_span_id, 8);
	put_str(o, 5, s->name);
	put_u64(o, 6, (uint64_t)s->kind);
	put_fixed64(o, 7, s->start_ns);
	put_fixed64(o, 8, s->end_ns);
	put_attrs(o, 9, &s->attrs);
	put_u64(o, 10, s->dropped_attrs_count);
	for (uint32_t i = 0; i < s->events_count; i++) {
		const sonde_span_event *ev = &s->events[i];
		sonde_pb_open(&o->w, 11);
		put_fixed64(o, 1, ev->time_ns);
		put_str(o, 2, ev->name);
		put_attrs(o, 3, &ev->attrs);
		put_u64(o, 4, ev->dropped_attrs_count);
		sonde_pb_close(&o->w);
	}
	put_u64(o, 12, s->dropped_events_count);
	for (uint32_t i = 0; i < s->links_count; i++) {
		const sonde_span_link *ln = &s->links[i];
		sonde_pb_open(&o->w, 13);
		put_id(o, 1, ln->trace_id, 16);
		put_id(o, 2, ln->span_id, 8);
		put_str(o, 3, ln->trace_state);
		put_attrs(o, 4, &ln->attrs);
		put_u64(o, 5, ln->dropped_attrs_count);
		put_fixed32(o, 6, ln->flags);
		sonde_pb_close(&o->w);
	}
	put_u64(o, 14, s->dropped_links_count);
	if (s->status_code || s->status_message.len) {
		sonde_pb_open(&o->w, 15);
		put_str(o, 2, s->status_message);
		put_u64(o, 3, (uint64_t)s->status_code);
		sonde_pb_close(&o->w);
	}
	put_fixed32(o, 16, s->flags);
	sonde_pb_close(&o->w);
}

static void put_log(wr *o, const sonde_log_data *l)
{
	sonde_pb_open_hint(&o->w, 2, o->last_record);
	put_fixed64(o, 1, l->time_ns);
	/* int32: negative values are sign-extended to 10 bytes, as protobuf does. */
	put_u64(o, 2, (uint64_t)(int64_t)l->severity_number);
	put_str(o, 3, l->severity_text);
	if (l->body.kind != SONDE_VAL_EMPTY) {
		sonde_pb_open(&o->w, 5);
		put_value(o, &l->body, 1);
		sonde_pb_close(&o->w);
	}
	put_attrs(o, 6, &l->attrs);
	put_u64(o, 7, l->dropped_attrs_count);
	put_fixed32(o, 8, l->flags);
	put_id(o, 9, l->trace_id, 16);
	put_id(o, 10, l->span_id, 8);
	put_fixed64(o, 11, l->observed_time_ns);
	put_str(o, 12, l->event_name);
	sonde_pb_close(&o->w);
}

static void put_exemplars(wr *o, uint32_t field, const sonde_point *pt)
{
	for (uint32_t i = 0; i < pt->exemplars_count; i++) {
		const sonde_exemplar *ex = &pt->exemplars[i];
		sonde_pb_open(&o->w, field);
		put_fixed64(o, 2, ex->time_ns);
		if (ex->value_kind == SONDE_NUM_DOUBLE)
			sonde_pb_put_double_field(&o->w, 3, ex->value.d);
		put_id(o, 4, ex->span_id, 8);
		put_id(o, 5, ex->trace_id, 16);
		if (ex->value_kind == SONDE_NUM_INT)
			sonde_pb_put_fixed64_field(&o->w, 6, (uint64_t)ex->value.i);
		put_attrs(o, 7, &ex->filtered_attrs);
		sonde_pb_close(&o->w);
	}
}

static void put_number_point(wr *o, const sonde_point *pt)
{
	put_fixed64(o, 2, pt->start_time_ns);
	put_fixed64(o, 3, pt->time_ns);
	if (pt->u.number.kind == SONDE_NUM_DOUBLE)
		sonde_pb_put_double_field(&o->w, 4, pt->u.number.v.d);
	put_exemplars(o, 5, pt);
	if (pt->u.number.kind == SONDE_NUM_INT)
		sonde_pb_put_fixed64_field(&o->w, 6, (uint64_t)pt->u.number.v.i);
	put_attrs(o, 7, &pt->attrs);
	put_u64(o, 8, pt->flags);
}

/* A packed repeated fixed64 or double field (n values of 8 bytes). */
static void put_packed64(wr *o, uint32_t field, const void *vals, uint32_t n, bool dbl)
{
	if (!n)
		return;
	sonde_pb_put_tag(&o->w, field, SONDE_PB_LEN);
	sonde_pb_put_varint(o->w.out, (uint64_t)n * 8);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t bits;
		if (dbl)
			memcpy(&bits, (const double *)vals + i, sizeof(bits));
		else
			bits = ((const uint64_t *)vals)[i];
		sonde_pb_put_le64(o->w.out, bits);
	}
}

static void put_hist_point(wr *o, const sonde_point *pt)
{
	const __typeof__(pt->u.hist) *h = &pt->u.hist;
	put_fixed64(o, 2, pt->start_time_ns);
	put_fixed64(o, 3, pt->time_ns);
	put_fixed64(o, 4, h->count);
	if (h->has_sum)
		sonde_pb_put_double_field(&o->w, 5, h->sum);
	put_packed64(o, 6, h->bucket_counts, h->bucket_counts_count, false);
	put_packed64(o, 7, h->bounds, h->bounds_count, true);
	put_exemplars(o, 8, pt);
	put_attrs(o, 9, &pt->attrs);
	put_u64(o, 10, pt->flags);
	if (h->has_min)
		sonde_pb_put_double_field(&o->w, 11, h->min);
	if (h->has_max)
		sonde_pb_put_double_field(&o->w, 12, h->max);
}

/* Buckets { sint32 offset = 1; repeated uint64 bucket_counts = 2 (packed); } */
static void put_buckets(wr *o, uint32_t field, const sonde_exp_buckets *bk)
{
	if (!bk->offset && !bk->count)
		return;
	sonde_pb_open(&o->w, field);
	if (bk->offset)
		sonde_pb_put_sint64_field(&o->w, 1, bk->offset);
	if (bk->count) {
		sonde_pb_open(&o->w, 2);
		for (uint32_t i = 0; i < bk->count; i++)
			sonde_pb_put_varint(o->w.out, bk->counts[i]);
		sonde_pb_close(&o->w);
	}
	sonde_pb_close(&o->w);
}

static void put_exp_point(wr *o, const sonde_point *pt)
{
	const __typeof__(pt->u.exp) *e = &pt->u.exp;
	put_attrs(o, 1, &pt->attrs);
	put_fixed64(o, 2, pt->start_time_ns);
	put_fixed64(o, 3, pt->time_ns);
	put_fixed64(o, 4, e->count);
	if (e->has_sum)
		sonde_pb_put_double_field(&o->w, 5, e->sum);
	if (e->scale)
		sonde_pb_put_sint64_field(&o->w, 6, e->scale);
	put_fixed64(o, 7, e->zero_count);
	put_buckets(o, 8, &e->positive);
	put_buckets(o, 9, &e->negative);
	put_u64(o, 10, pt->flags);
	put_exemplars(o, 11, pt);
	if (e->has_min)
		sonde_pb_put_double_field(&o->w, 12, e->min);
	if (e->has_max)
		sonde_pb_put_double_field(&o->w, 13, e->max);
	put_double(o, 14, e->zero_threshold);
}

static void put_summary_point(wr *o, const sonde_point *pt)
{
	const __typeof__(pt->u.summary) *s = &pt->u.summary;
	put_fixed64(o, 2, pt->start_time_ns);
	put_fixed64(o, 3, pt->time_ns);
	put_fixed64(o, 4, s->count);
	put_double(o, 5, s->sum);
	for (uint32_t i = 0; i < s->quantiles_count; i++) {
		sonde_pb_open(&o->w, 6);
		put_double(o, 1, s->quantiles[i].quantile);
		put_double(o, 2, s->quantiles[i].value);
		sonde_pb_close(&o->w);
	}
	put_attrs(o, 7, &pt->attrs);
	put_u64(o, 8, pt->flags);
}

static void put_metric(wr *o, const sonde_metric_data *m)
{
	static const uint32_t data_field[] = {
	        [SONDE_METRIC_GAUGE] = 5,          [SONDE_METRIC_SUM] = 7,      [SONDE_METRIC_HISTOGRAM] = 9,
	        [SONDE_METRIC_EXP_HISTOGRAM] = 10, [SONDE_METRIC_SUMMARY] = 11,
	};
	sonde_pb_open_hint(&o->w, 2, o->last_record);
	put_str(o, 1, m->name);
	put_str(o, 2, m->description);
	put_str(o, 3, m->unit);
	if (m->type > SONDE_METRIC_NONE && m->type <= SONDE_METRIC_SUMMARY) {
		sonde_pb_open(&o->w, data_field[m->type]);
		for (uint32_t i = 0; i < m->points_count; i++) {
			const sonde_point *pt = &m->points[i];
			sonde_pb_open(&o->w, 1);
			switch (m->type) {
			case SONDE_METRIC_HISTOGRAM: put_hist_point(o, pt); break;
			case SONDE_METRIC_EXP_HISTOGRAM: put_exp_point(o, pt); break;
			case SONDE_METRIC_SUMMARY: put_summary_point(o, pt); break;
			default: put_number_point(o, pt); break;
			}
			sonde_pb_close(&o->w);
		}
		if (m->type == SONDE_METRIC_SUM || m->type == SONDE_METRIC_HISTOGRAM ||
		    m->type == SONDE_METRIC_EXP_HISTOGRAM)
			put_u64(o, 2, (uint64_t)m->temporality);
		if (m->type == SONDE_METRIC_SUM && m->is_monotonic)
			sonde_pb_put_varint_field(&o->w, 3, 1);
		sonde_pb_close(&o->w);
	}
	put_attrs(o, 12, &m->metadata);
	sonde_pb_close(&o->w);
}

/* ---- Envelopes --------------------------------------------------------------------- */

static void record_owners(const sonde_batch *b, sonde_signal sig, size_t i, const sonde_resource **res,
                          const sonde_scope **sc)
{
	switch (sig) {
	case SONDE_SIGNAL_TRACES:
		*res = b->spans[i].resource;
		*sc = b->spans[i].scope;
		return;
	case SONDE_SIGNAL_METRICS:
		*res = b->metrics[i].resource;
		*sc = b->metrics[i].scope;
		return;
	case SONDE_SIGNAL_LOGS:
		*res = b->logs[i].resource;
		*sc = b->logs[i].scope;
		return;
	}
	*res = NULL;
	*sc = NULL;
}

/* Ends a ScopeX (schema_url = 3 comes after the records) or a ResourceX (likewise). */
static void close_group(wr *o, sonde_str schema_url)
{
	put_str(o, 3, schema_url);
	sonde_pb_close(&o->w);
}

/* How many records from i on share its resource (and, with same_scope, its scope). */
static size_t run_length(const sonde_batch *b, sonde_signal sig, size_t i, size_t end, bool same_scope)
{
	const sonde_resource *res, *r;
	const sonde_scope *sc, *s;
	record_owners(b, sig, i, &res, &sc);
	size_t k = i + 1;
	for (; k < end; k++) {
		record_owners(b, sig, k, &r, &s);
		if (r != res || (same_scope && s != sc))
			break;
	}
	return k - i;
}

int sonde_otlp_pb_write_range(const sonde_batch *b, sonde_signal sig, size_t first, size_t count,
                              sonde_buf *out)
{
	size_t total;
	switch (sig) {
	case SONDE_SIGNAL_TRACES: total = b->spans_count; break;
	case SONDE_SIGNAL_METRICS: total = b->metrics_count; break;
	case SONDE_SIGNAL_LOGS: total = b->logs_count; break;
	default: return -EINVAL;
	}
	if (first > total || count > total - first)
		return -EINVAL;
	if (out->oom)
		return -ENOMEM;
	size_t entry_len = out->len, end = first + count;
	wr o;
	sonde_pb_writer_init(&o.w, out);
	o.too_deep = false;
	o.last_record = 0;
	/* Group sizes are guessed from the records written so far (at first: 256 bytes
	 * each), so that the group's length prefix rarely has to grow. */
	size_t written = 0, avg = 256;
	const sonde_resource *cur_res = NULL;
	const sonde_scope *cur_sc = NULL;
	static const sonde_str no_url = {"", 0};
	for (size_t i = first; i < end; i++) {
		const sonde_resource *res;
		const sonde_scope *sc;
		record_owners(b, sig, i, &res, &sc);
		if (i == first || res != cur_res) {
			if (i != first) {
				close_group(&o, cur_sc ? cur_sc->schema_url : no_url);
				close_group(&o, cur_res ? cur_res->schema_url : no_url);
			}
			sonde_pb_open_hint(&o.w, 1, run_length(b, sig, i, end, false) * avg);
			put_resource(&o, res);
			sonde_pb_open_hint(&o.w, 2, run_length(b, sig, i, end, true) * avg);
			put_scope(&o, sc);
		} else if (sc != cur_sc) {
			close_group(&o, cur_sc ? cur_sc->schema_url : no_url);
			sonde_pb_open_hint(&o.w, 2, run_length(b, sig, i, end, true) * avg);
			put_scope(&o, sc);
		}
		cur_res = res;
		cur_sc = sc;
		size_t before = out->len;
		switch (sig) {
		case SONDE_SIGNAL_TRACES: put_span(&o, &b->spans[i]); break;
		case SONDE_SIGNAL_METRICS: put_metric(&o, &b->metrics[i]); break;
		case SONDE_SIGNAL_LOGS: put_log(&o, &b->logs[i]); break;
		}
		o.last_record = out->len - before;
		written += o.last_record;
		avg = written / (i - first + 1);
	}
	if (count) {
		close_group(&o, cur_sc ? cur_sc->schema_url : no_url);
		close_group(&o, cur_res ? cur_res->schema_url : no_url);
	}
	int rc = 0;
	if (out->oom)
		rc = -ENOMEM;
	else if (o.too_deep || o.w.overflow || o.w.depth)
		rc = SONDE_ELIMIT;
	if (rc < 0) {
		/* Undo the partial request; the buffer stays usable. */
		out->oom = false;
		out->len = entry_len;
		if (out->data)
			out->data[entry_len] = '\0';
	}
	return rc;
}

int sonde_otlp_pb_write(const sonde_batch *b, sonde_signal sig, sonde_buf *out)
{
	size_t total;
	switch (sig) {
	case SONDE_SIGNAL_TRACES: total = b->spans_count; break;
	case SONDE_SIGNAL_METRICS: total = b->metrics_count; break;
	case SONDE_SIGNAL_LOGS: total = b->logs_count; break;
	default: return -EINVAL;
	}
	return sonde_otlp_pb_write_range(b, sig, 0, total, out);
}
