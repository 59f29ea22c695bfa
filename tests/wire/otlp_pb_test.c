/* otlp_pb_test.c - OTLP protobuf reader and writer: round trips of batches that use every
 * field and value kind, byte-exact messages computed by hand from the .proto field
 * numbers, packed and unpacked repeated fields, and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_pb.h"
#include "pbwire.h"
#include "sonde/status.h"
#include "telemetry.h"

#if defined(__has_include)
#if __has_include("otlp_json.h")
#include "otlp_json.h"
#define HAVE_OTLP_JSON 1
#endif
#endif

/* ---- Building batches ---------------------------------------------------------------- */

static sonde_str S(sonde_batch *b, const char *s)
{
	return sonde_batch_intern(b, s, strlen(s));
}

static sonde_value vstr(sonde_batch *b, const char *s)
{
	sonde_value v = {.kind = SONDE_VAL_STRING};
	v.u.str = sonde_batch_strdup(b, s, strlen(s));
	return v;
}

static sonde_value vint(int64_t i)
{
	sonde_value v = {.kind = SONDE_VAL_INT};
	v.u.i = i;
	return v;
}

static sonde_value vdbl(double d)
{
	sonde_value v = {.kind = SONDE_VAL_DOUBLE};
	v.u.d = d;
	return v;
}

static sonde_value vbool(bool x)
{
	sonde_value v = {.kind = SONDE_VAL_BOOL};
	v.u.b = x;
	return v;
}

static sonde_value vbytes(sonde_batch *b, const void *p, size_t n)
{
	sonde_value v = {.kind = SONDE_VAL_BYTES};
	v.u.str = sonde_batch_strdup(b, p, n);
	return v;
}

static sonde_value varray(sonde_batch *b, uint32_t n, const sonde_value *items)
{
	sonde_value v = {.kind = SONDE_VAL_ARRAY};
	v.u.array.items = sonde_batch_alloc(b, n * sizeof(sonde_value) + 1);
	if (n)
		memcpy(v.u.array.items, items, n * sizeof(sonde_value));
	v.u.array.count = n;
	return v;
}

static sonde_attrs mkattrs(sonde_batch *b, uint32_t n, const char *const *keys, const sonde_value *vals)
{
	sonde_attrs a = {sonde_batch_alloc(b, n * sizeof(sonde_kv) + 1), n};
	for (uint32_t i = 0; i < n; i++) {
		a.items[i].key = S(b, keys[i]);
		a.items[i].value = vals[i];
	}
	return a;
}

static sonde_value vkvlist(sonde_batch *b, uint32_t n, const char *const *keys, const sonde_value *vals)
{
	sonde_value v = {.kind = SONDE_VAL_KVLIST};
	v.u.kvlist = mkattrs(b, n, keys, vals);
	return v;
}

/* Attributes holding every kind of value, defaults included. */
static sonde_attrs every_value(sonde_batch *b)
{
	sonde_value inner[] = {vint(1), vstr(b, "x"), {.kind = SONDE_VAL_EMPTY}};
	sonde_value nested_arr = varray(b, 3, inner);
	sonde_value arr_items[] = {vstr(b, "a"), vint(-7),  {.kind = SONDE_VAL_EMPTY},
	                           nested_arr,   vdbl(2.5), vbool(false)};
	static const char *const kl_keys[] = {"k1", "", "k3"};
	sonde_value kl_inner_vals[] = {vint(42), vbool(true), varray(b, 0, NULL)};
	sonde_value kl_vals[] = {
	        vkvlist(b, 3, kl_keys, kl_inner_vals), vstr(b, ""), {.kind = SONDE_VAL_EMPTY}};
	static const char *const keys[] = {
	        "str",     "empty.str",   "long.str", "bool.true",   "bool.false", "int.zero",     "int.neg",
	        "int.min", "int.max",     "dbl.zero", "dbl.negzero", "dbl.nan",    "dbl.inf",      "dbl.pi",
	        "bytes",   "bytes.empty", "array",    "array.empty", "kvlist",     "kvlist.empty", "empty",
	};
	static const uint8_t raw[] = {0, 1, 2, 0xff, 0x80, 'z'};
	sonde_value vals[] = {
	        vstr(b, "hello"),
	        vstr(b, ""),
	        vstr(b, "a string value that is longer than the interning threshold of the reader"),
	        vbool(true),
	        vbool(false),
	        vint(0),
	        vint(-1),
	        vint(INT64_MIN),
	        vint(INT64_MAX),
	        vdbl(0.0),
	        vdbl(-0.0),
	        vdbl(NAN),
	        vdbl(-INFINITY),
	        vdbl(3.141592653589793),
	        vbytes(b, raw, sizeof(raw)),
	        vbytes(b, "", 0),
	        varray(b, 6, arr_items),
	        varray(b, 0, NULL),
	        vkvlist(b, 3, kl_keys, kl_vals),
	        vkvlist(b, 0, NULL, NULL),
	        {.kind = SONDE_VAL_EMPTY},
	};
	return mkattrs(b, sizeof(keys) / sizeof(keys[0]), keys, vals);
}

static sonde_attrs one_attr(sonde_batch *b, const char *k, sonde_value v)
{
	return mkattrs(b, 1, &k, &v);
}

static void fill_id(uint8_t *id, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		id[i] = (uint8_t)(seed + i * 17 + 1);
}

/* Two resources (one of them empty) with two scopes each (one empty). */
static void make_groups(sonde_batch *b, sonde_resource **res, sonde_scope **sc)
{
	res[0] = sonde_batch_new_resource(b);
	res[0]->attrs = every_value(b);
	res[0]->dropped_attrs_count = 3;
	res[0]->schema_url = S(b, "https://opentelemetry.io/schemas/1.21.0");
	res[1] = sonde_batch_new_resource(b);
	sc[0] = sonde_batch_new_scope(b);
	sc[0]->name = S(b, "io.sonde.test");
	sc[0]->version = S(b, "1.2.3");
	sc[0]->attrs = one_attr(b, "scope.attr", vint(5));
	sc[0]->dropped_attrs_count = 1;
	sc[0]->schema_url = S(b, "https://example.com/scope-schema");
	sc[1] = sonde_batch_new_scope(b);
	sc[2] = sonde_batch_new_scope(b);
	sc[2]->name = S(b, "second");
	sc[3] = sonde_batch_new_scope(b);
}

static sonde_batch *make_traces(void)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[2];
	sonde_scope *sc[4];
	make_groups(b, res, sc);
	for (int i = 0; i < 6; i++) {
		sonde_span_data *s = sonde_batch_add_span(b, res[i < 3 ? 0 : 1],
		                                          sc[i < 2   ? 0
		                                             : i < 3 ? 1
		                                             : i < 5 ? 2
		                                                     : 3]);
		if (i == 5)
			continue; /* a span with every field at its default */
		fill_id(s->trace_id, 16, (uint8_t)i);
		fill_id(s->span_id, 8, (uint8_t)(i + 100));
		if (i)
			fill_id(s->parent_span_id, 8, (uint8_t)(i + 99));
		s->trace_state = S(b, i == 1 ? "vendor=abc,other=1" : "");
		s->flags = i == 0 ? 0x301 : (uint32_t)i;
		s->name = S(b, i == 2 ? "" : "GET /api/users/{id}");
		s->kind = (sonde_span_kind)(i % 6);
		s->start_ns = 1700000000000000000ull + (uint64_t)i;
		s->end_ns = i == 3 ? 0 : 1700000000123456789ull;
		s->attrs = i == 0 ? every_value(b) : one_attr(b, "http.status_code", vint(200 + i));
		s->dropped_attrs_count = (uint32_t)i * 1000;
		s->dropped_events_count = i == 1 ? 4 : 0;
		s->dropped_links_count = i == 1 ? 0xffffffffu : 0;
		s->status_code = (sonde_status_code)(i % 3);
		s->status_message = i == 2 ? S(b, "boom: something failed") : S(b, "");
		if (i < 2) {
			s->events_count = 3;
			s->events = sonde_batch_alloc(b, 3 * sizeof(sonde_span_event));
			s->events[0].time_ns = 1700000000000000100ull;
			s->events[0].name = S(b, "exception");
			s->events[0].attrs = one_attr(b, "exception.message", vstr(b, "bad things"));
			s->events[0].dropped_attrs_count = 2;
			s->events[1].name = S(b, "");
			s->events[2].time_ns = 1;
			s->events[2].name = S(b, "e3");
			s->events[2].attrs = every_value(b);
			s->links_count = 2;
			s->links = sonde_batch_alloc(b, 2 * sizeof(sonde_span_link));
			fill_id(s->links[0].trace_id, 16, 200);
			fill_id(s->links[0].span_id, 8, 210);
			s->links[0].trace_state = S(b, "k=v");
			s->links[0].attrs = one_attr(b, "link.kind", vstr(b, "follows"));
			s->links[0].dropped_attrs_count = 9;
			s->links[0].flags = 0x101;
			s->links[1].trace_state = S(b, "");
		}
	}
	return b;
}

static sonde_exemplar *mk_exemplars(sonde_batch *b, uint32_t *count)
{
	sonde_exemplar *ex = sonde_batch_alloc(b, 3 * sizeof(sonde_exemplar));
	ex[0].filtered_attrs = one_attr(b, "user", vstr(b, "u1"));
	ex[0].time_ns = 1700000000000000500ull;
	ex[0].value_kind = SONDE_NUM_DOUBLE;
	ex[0].value.d = 0.0;
	fill_id(ex[0].span_id, 8, 1);
	fill_id(ex[0].trace_id, 16, 2);
	ex[1].value_kind = SONDE_NUM_INT;
	ex[1].value.i = -12;
	ex[2].value_kind = SONDE_NUM_NONE;
	ex[2].time_ns = 7;
	*count = 3;
	return ex;
}

static sonde_batch *make_metrics(void)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[2];
	sonde_scope *sc[4];
	make_groups(b, res, sc);
	sonde_metric_data *m;
	sonde_point *p;

	m = sonde_batch_add_metric(b, res[0], sc[0]);
	m->name = S(b, "queue.depth");
	m->description = S(b, "items waiting");
	m->unit = S(b, "{item}");
	m->type = SONDE_METRIC_GAUGE;
	m->metadata = one_attr(b, "prometheus.type", vstr(b, "gauge"));
	m->points_count = 4;
	m->points = p = sonde_batch_alloc(b, 4 * sizeof(sonde_point));
	p[0].attrs = one_attr(b, "queue", vstr(b, "a"));
	p[0].start_time_ns = 1;
	p[0].time_ns = 1700000000000000000ull;
	p[0].u.number.kind = SONDE_NUM_DOUBLE;
	p[0].u.number.v.d = 0.0; /* a oneof member: kept even at zero */
	p[1].u.number.kind = SONDE_NUM_INT;
	p[1].u.number.v.i = 0;
	p[1].flags = 1;
	p[1].exemplars = mk_exemplars(b, &p[1].exemplars_count);
	p[2].u.number.kind = SONDE_NUM_INT;
	p[2].u.number.v.i = INT64_MIN;
	p[3].u.number.kind = SONDE_NUM_NONE;

	m = sonde_batch_add_metric(b, res[0], sc[0]);
	m->name = S(b, "http.server.requests");
	m->type = SONDE_METRIC_SUM;
	m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	m->is_monotonic = true;
	m->points_count = 1;
	m->points = p = sonde_batch_alloc(b, sizeof(sonde_point));
	p[0].attrs = every_value(b);
	p[0].u.number.kind = SONDE_NUM_DOUBLE;
	p[0].u.number.v.d = 12.75;
	p[0].exemplars = mk_exemplars(b, &p[0].exemplars_count);

	m = sonde_batch_add_metric(b, res[0], sc[1]);
	m->name = S(b, "updown");
	m->type = SONDE_METRIC_SUM;
	m->temporality = SONDE_TEMPORALITY_DELTA;

	m = sonde_batch_add_metric(b, res[0], sc[1]);
	m->name = S(b, "http.server.duration");
	m->unit = S(b, "ms");
	m->type = SONDE_METRIC_HISTOGRAM;
	m->temporality = SONDE_TEMPORALITY_DELTA;
	m->points_count = 3;
	m->points = p = sonde_batch_alloc(b, 3 * sizeof(sonde_point));
	p[0].time_ns = 5;
	p[0].u.hist.count = 10;
	p[0].u.hist.has_sum = true;
	p[0].u.hist.sum = 0.0;
	p[0].u.hist.has_min = true;
	p[0].u.hist.min = -1.5;
	p[0].u.hist.has_max = true;
	p[0].u.hist.max = 0.0;
	static const uint64_t counts[] = {1, 0, 7, UINT64_MAX};
	static const double bounds[] = {-1.0, 0.0, 100.5};
	p[0].u.hist.bucket_counts = sonde_batch_alloc(b, sizeof(counts));
	memcpy(p[0].u.hist.bucket_counts, counts, sizeof(counts));
	p[0].u.hist.bucket_counts_count = 4;
	p[0].u.hist.bounds = sonde_batch_alloc(b, sizeof(bounds));
	memcpy(p[0].u.hist.bounds, bounds, sizeof(bounds));
	p[0].u.hist.bounds_count = 3;
	p[0].exemplars = mk_exemplars(b, &p[0].exemplars_count);
	p[0].flags = 1;
	p[1].u.hist.count = 3; /* no sum/min/max, no buckets */
	p[2].attrs = one_attr(b, "k", vint(1));
	p[2].u.hist.has_max = true;
	p[2].u.hist.max = NAN;

	m = sonde_batch_add_metric(b, res[1], sc[2]);
	m->name = S(b, "latency.exp");
	m->type = SONDE_METRIC_EXP_HISTOGRAM;
	m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	m->points_count = 2;
	m->points = p = sonde_batch_alloc(b, 2 * sizeof(sonde_point));
	p[0].attrs = one_attr(b, "route", vstr(b, "/x"));
	p[0].start_time_ns = 10;
	p[0].time_ns = 20;
	p[0].u.exp.count = 9;
	p[0].u.exp.has_sum = true;
	p[0].u.exp.sum = 123.25;
	p[0].u.exp.has_min = true;
	p[0].u.exp.has_max = true;
	p[0].u.exp.max = 99.0;
	p[0].u.exp.scale = -3;
	p[0].u.exp.zero_count = 2;
	p[0].u.exp.zero_threshold = 1e-9;
	static const uint64_t pos[] = {1, 2, 0, 300};
	static const uint64_t neg[] = {5};
	p[0].u.exp.positive.offset = -2;
	p[0].u.exp.positive.counts = sonde_batch_alloc(b, sizeof(pos));
	memcpy(p[0].u.exp.positive.counts, pos, sizeof(pos));
	p[0].u.exp.positive.count = 4;
	p[0].u.exp.negative.offset = 7;
	p[0].u.exp.negative.counts = sonde_batch_alloc(b, sizeof(neg));
	memcpy(p[0].u.exp.negative.counts, neg, sizeof(neg));
	p[0].u.exp.negative.count = 1;
	p[0].exemplars = mk_exemplars(b, &p[0].exemplars_count);
	p[1].u.exp.scale = 20;
	p[1].u.exp.negative.offset = INT32_MIN;

	m = sonde_batch_add_metric(b, res[1], sc[2]);
	m->name = S(b, "rpc.summary");
	m->type = SONDE_METRIC_SUMMARY;
	m->points_count = 2;
	m->points = p = sonde_batch_alloc(b, 2 * sizeof(sonde_point));
	p[0].u.summary.count = 100;
	p[0].u.summary.sum = 512.5;
	p[0].u.summary.quantiles_count = 3;
	p[0].u.summary.quantiles = sonde_batch_alloc(b, 3 * sizeof(sonde_quantile));
	p[0].u.summary.quantiles[0] = (sonde_quantile){0.0, 1.0};
	p[0].u.summary.quantiles[1] = (sonde_quantile){0.5, 0.0};
	p[0].u.summary.quantiles[2] = (sonde_quantile){1.0, 99.0};
	p[0].flags = 1;
	p[1].attrs = one_attr(b, "a", vbool(true));

	m = sonde_batch_add_metric(b, res[1], sc[3]);
	m->name = S(b, "no.data");
	m->type = SONDE_METRIC_NONE;

	m = sonde_batch_add_metric(b, res[1], sc[3]);
	m->name = S(b, "empty.gauge");
	m->type = SONDE_METRIC_GAUGE;
	return b;
}

static sonde_batch *make_logs(void)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[2];
	sonde_scope *sc[4];
	make_groups(b, res, sc);
	sonde_log_data *l;

	l = sonde_batch_add_log(b, res[0], sc[0]);
	l->time_ns = 1700000000000000000ull;
	l->observed_time_ns = 1700000000000000001ull;
	l->severity_number = 17;
	l->severity_text = S(b, "ERROR");
	l->body = vstr(b, "disk full\nsecond line");
	l->attrs = every_value(b);
	l->dropped_attrs_count = 4;
	l->flags = 1;
	fill_id(l->trace_id, 16, 9);
	fill_id(l->span_id, 8, 10);
	l->event_name = S(b, "device.disk.full");

	l = sonde_batch_add_log(b, res[0], sc[1]);
	static const char *const keys[] = {"msg", "n", "nested"};
	sonde_value inner[] = {vint(1), vint(2)};
	sonde_value vals[] = {vstr(b, "structured"), vdbl(1.5), varray(b, 2, inner)};
	l->body = vkvlist(b, 3, keys, vals);
	l->severity_number = -1; /* int32 on the wire: a 10-byte varint */

	l = sonde_batch_add_log(b, res[1], sc[2]);
	l->body = vbytes(b, "\x00\x01", 2);
	l->severity_number = 24;

	sonde_batch_add_log(b, res[1], sc[3]); /* all defaults */
	l = sonde_batch_add_log(b, res[1], sc[3]);
	l->body = vint(0);
	return b;
}

/* ---- Helpers ----------------------------------------------------------------------------- */

static void dump(const char *what, const void *p, size_t n)
{
	fprintf(stderr, "%s (%zu bytes):", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", ((const uint8_t *)p)[i]);
	fprintf(stderr, "\n");
}

static void expect_bytes(const sonde_buf *out, const uint8_t *want, size_t n)
{
	if (out->len != n || memcmp(out->data, want, n) != 0) {
		dump("got ", out->data, out->len);
		dump("want", want, n);
		fail();
	}
}

static void expect_equal(const sonde_batch *a, const sonde_batch *b)
{
	char why[256];
	if (!sonde_batch_equal(a, b, why, sizeof(why))) {
		fprintf(stderr, "batches differ: %s\n", why);
		fail();
	}
}

static bool contains(const sonde_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i + n <= b->len; i++)
		if (!memcmp(b->data + i, s, n))
			return true;
	return false;
}

static size_t count_of(const sonde_batch *b, sonde_signal sig)
{
	return sig == SONDE_SIGNAL_TRACES    ? b->spans_count
	       : sig == SONDE_SIGNAL_METRICS ? b->metrics_count
	                                     : b->logs_count;
}

/* write -> read -> compare, and write again -> same bytes. */
static void round_trip(sonde_batch *src, sonde_signal sig)
{
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(src, sig, &out), 0);
	sonde_batch *back = sonde_batch_new();
	sonde_wire_error err;
	memset(&err, 0, sizeof(err));
	int rc = sonde_otlp_pb_read(back, sig, out.data, out.len, &err);
	if (rc)
		fprintf(stderr, "read failed: %d at %zu, %s: %s\n", rc, err.offset, err.field, err.msg);
	assert_int_equal(rc, 0);
	expect_equal(src, back);

	sonde_buf again = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(back, sig, &again), 0);
	expect_bytes(&again, (const uint8_t *)out.data, out.len);

	/* Every string in a record points somewhere. */
	for (size_t i = 0; i < back->spans_count; i++)
		assert_non_null(back->spans[i].name.ptr);
	sonde_buf_release(&again);
	sonde_buf_release(&out);
	sonde_batch_free(back);
}

/* ---- Round trips ------------------------------------------------------------------------- */

static void test_traces_round_trip(void **state)
{
	(void)state;
	sonde_batch *b = make_traces();
	round_trip(b, SONDE_SIGNAL_TRACES);
	sonde_batch_free(b);
}

static void test_metrics_round_trip(void **state)
{
	(void)state;
	sonde_batch *b = make_metrics();
	round_trip(b, SONDE_SIGNAL_METRICS);
	sonde_batch_free(b);
}

static void test_logs_round_trip(void **state)
{
	(void)state;
	sonde_batch *b = make_logs();
	round_trip(b, SONDE_SIGNAL_LOGS);
	sonde_batch_free(b);
}

static void test_empty_and_range(void **state)
{
	(void)state;
	sonde_batch *b = make_traces();
	sonde_buf out = SONDE_BUF_INIT;
	/* A signal without records is an empty request: zero bytes. */
	assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_LOGS, &out), 0);
	assert_int_equal(out.len, 0);
	sonde_batch *e = sonde_batch_new();
	assert_int_equal(sonde_otlp_pb_read(e, SONDE_SIGNAL_LOGS, out.data, out.len, NULL), 0);
	assert_int_equal(sonde_otlp_pb_read(e, SONDE_SIGNAL_TRACES, NULL, 0, NULL), 0);
	assert_int_equal(e->spans_count + e->logs_count + e->metrics_count, 0);

	/* A range: spans 2..4 form their own groups. */
	assert_int_equal(sonde_otlp_pb_write_range(b, SONDE_SIGNAL_TRACES, 2, 3, &out), 0);
	assert_int_equal(sonde_otlp_pb_read(e, SONDE_SIGNAL_TRACES, out.data, out.len, NULL), 0);
	assert_int_equal(e->spans_count, 3);
	for (size_t i = 0; i < 3; i++)
		assert_true(sonde_span_data_equal(&e->spans[i], &b->spans[2 + i]));
	assert_ptr_not_equal(e->spans[0].resource, e->spans[1].resource); /* res0 | res1 */
	assert_ptr_equal(e->spans[1].resource, e->spans[2].resource);

	/* Reading appends. */
	assert_int_equal(sonde_otlp_pb_read(e, SONDE_SIGNAL_TRACES, out.data, out.len, NULL), 0);
	assert_int_equal(e->spans_count, 6);

	/* Bad ranges and signals; the buffer is untouched. */
	size_t len = out.len;
	assert_int_equal(sonde_otlp_pb_write_range(b, SONDE_SIGNAL_TRACES, 5, 2, &out), -EINVAL);
	assert_int_equal(sonde_otlp_pb_write_range(b, SONDE_SIGNAL_TRACES, 7, 0, &out), -EINVAL);
	assert_int_equal(sonde_otlp_pb_write_range(b, SONDE_SIGNAL_TRACES, 6, 0, &out), 0);
	assert_int_equal(sonde_otlp_pb_write(b, (sonde_signal)7, &out), -EINVAL);
	assert_int_equal(out.len, len);
	assert_int_equal(sonde_otlp_pb_read(e, (sonde_signal)3, out.data, out.len, NULL), -EINVAL);
	sonde_buf_release(&out);
	sonde_batch_free(e);
	sonde_batch_free(b);
}

/* ---- Byte-exact messages ----------------------------------------------------------------- */

static void test_span_bytes(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	sonde_span_data *s = sonde_batch_add_span(b, sonde_batch_new_resource(b), sonde_batch_new_scope(b));
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = (uint8_t)(i + 1);
	for (int i = 0; i < 8; i++)
		s->span_id[i] = (uint8_t)(0x11 + i);
	s->name = S(b, "x");
	s->kind = SONDE_SPAN_KIND_SERVER;
	s->start_ns = 1;
	s->end_ns = 2;
	s->attrs = one_attr(b, "k", vint(5));
	s->status_code = SONDE_STATUS_ERROR;
	s->flags = 1;
	static const uint8_t want[] = {
	        0x0a, 0x4a, /* ExportTraceServiceRequest.resource_spans (1), 74 */
	        0x12, 0x48, /* ResourceSpans.scope_spans (2), 72 */
	        0x12, 0x46, /* ScopeSpans.spans (2), 70 */
	        0x0a, 0x10, 1,    2,    3,    4,    5,    6,    7,    8,
	        9,    10,   11,   12,   13,   14,   15,   16,               /* trace_id (1) */
	        0x12, 0x08, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, /* span_id (2) */
	        0x2a, 0x01, 'x',                                            /* name (5) */
	        0x30, 0x02,                                                 /* kind (6) SERVER */
	        0x39, 1,    0,    0,    0,    0,    0,    0,    0,    /* start_time_unix_nano (7) fixed64 */
	        0x41, 2,    0,    0,    0,    0,    0,    0,    0,    /* end_time_unix_nano (8) fixed64 */
	        0x4a, 0x07, 0x0a, 0x01, 'k',  0x12, 0x02, 0x18, 0x05, /* attributes (9): k = int 5 */
	        0x7a, 0x02, 0x18, 0x02,                               /* status (15): code (3) ERROR */
	        0x85, 0x01, 1,    0,    0,    0,                      /* flags (16) fixed32 */
	};
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_TRACES, &out), 0);
	expect_bytes(&out, want, sizeof(want));
	sonde_buf_release(&out);

	/* Event, link, status message, parent and the dropped counts. */
	sonde_batch_clear(b);
	s = sonde_batch_add_span(b, sonde_batch_new_resource(b), sonde_batch_new_scope(b));
	memset(s->parent_span_id, 0xaa, 8);
	s->trace_state = S(b, "t");
	s->dropped_attrs_count = 1;
	s->dropped_events_count = 2;
	s->dropped_links_count = 300;
	s->status_message = S(b, "m");
	s->events_count = 1;
	s->events = sonde_batch_alloc(b, sizeof(sonde_span_event));
	s->events[0].time_ns = 3;
	s->events[0].name = S(b, "e");
	s->events[0].dropped_attrs_count = 4;
	s->links_count = 1;
	s->links = sonde_batch_alloc(b, sizeof(sonde_span_link));
	memset(s->links[0].span_id, 0xbb, 8);
	s->links[0].trace_state = S(b, "u");
	s->links[0].attrs = one_attr(b, "b", vbool(false));
	s->links[0].dropped_attrs_count = 5;
	s->links[0].flags = 0x100;
	static const uint8_t want2[] = {
	        0x0a, 0x4c, 0x12, 0x4a, 0x12, 0x48, 0x1a, 0x01, 't',        /* trace_state (3) */
	        0x22, 0x08, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, /* parent_span_id (4) */
	        0x50, 0x01,                                        /* dropped_attributes_count (10) */
	        0x5a, 0x0e,                                        /* events (11) */
	        0x09, 3,    0,    0,    0,    0,    0,    0,    0, /*   time_unix_nano (1) */
	        0x12, 0x01, 'e',                                   /*   name (2) */
	        0x20, 0x04,                                        /*   dropped_attributes_count (4) */
	        0x60, 0x02,                                        /* dropped_events_count (12) */
	        0x6a, 0x1d,                                        /* links (13) */
	        0x12, 0x08, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, /* span_id (2) */
	        0x1a, 0x01, 'u',                                            /*   trace_state (3) */
	        0x22, 0x07, 0x0a, 0x01, 'b',  0x12, 0x02, 0x10, 0x00,       /*   attributes (4): b = false */
	        0x28, 0x05,                   /*   dropped_attributes_count (5) */
	        0x35, 0x00, 0x01, 0x00, 0x00, /*   flags (6) fixed32 */
	        0x70, 0xac, 0x02,             /* dropped_links_count (14) */
	        0x7a, 0x03, 0x12, 0x01, 'm',  /* status (15): message (2) */
	};
	assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_TRACES, &out), 0);
	expect_bytes(&out, want2, sizeof(want2));
	sonde_batch *back = sonde_batch_new();
	assert_int_equal(sonde_otlp_pb_read(back, SONDE_SIGNAL_TRACES, want2, sizeof(want2), NULL), 0);
	expect_equal(b, back);
	sonde_batch_free(back);
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

static void test_resource_scope_and_values_bytes(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res = sonde_batch_new_resource(b);
	res->attrs = one_attr(b, "s", vstr(b, "v"));
	res->dropped_attrs_count = 1;
	res->schema_url = S(b, "R");
	sonde_scope *sc = sonde_batch_new_scope(b);
	sc->name = S(b, "n");
	sc->version = S(b, "v");
	sc->attrs = one_attr(b, "d", vdbl(1.0));
	sc->dropped_attrs_count = 2;
	sc->schema_url = S(b, "S");
	sonde_log_data *l = sonde_batch_add_log(b, res, sc);
	sonde_value arr[] = {vstr(b, ""), {.kind = SONDE_VAL_EMPTY}};
	static const char *const k[] = {"y"};
	sonde_value kv[] = {vbytes(b, "\x01", 1)};
	sonde_value body_items[] = {varray(b, 2, arr), vkvlist(b, 1, k, kv), vint(-1)};
	l->body = varray(b, 3, body_items);
	static const uint8_t exact[] = {
	        0x0a, 0x5b,                                                /* resource_logs (1), 91 */
	        0x0a, 0x0c,                                                /* resource (1), 12 */
	        0x0a, 0x08, 0x0a, 0x01, 's',  0x12, 0x03, 0x0a, 0x01, 'v', /* attributes (1): s = "v" */
	        0x10, 0x01,                                                /* dropped_attributes_count (2) */
	        0x12, 0x48,                                                /* scope_logs (2), 72 */
	        0x0a, 0x18,                                                /* scope (1), 24 */
	        0x0a, 0x01, 'n',                                           /*   name (1) */
	        0x12, 0x01, 'v',                                           /*   version (2) */
	        0x1a, 0x0e, 0x0a, 0x01, 'd',  0x12, 0x09,                  /*   attributes (3): d = */
	        0x21, 0,    0,    0,    0,    0,    0,    0xf0, 0x3f,      /*     double_value (4) 1.0 */
	        0x20, 0x02,                   /*   dropped_attributes_count (4) */
	        0x12, 0x29,                   /* log_records (2), 41 */
	        0x2a, 0x27,                   /*   body (5), 39 */
	        0x2a, 0x25,                   /*     array_value (5), 37 */
	        0x0a, 0x08, 0x2a, 0x06,       /*       [0] array_value, 6 */
	        0x0a, 0x02, 0x0a, 0x00,       /*         [0] string_value "" */
	        0x0a, 0x00,                   /*         [1] empty */
	        0x0a, 0x0c, 0x32, 0x0a,       /*       [1] kvlist_value (6), 10 */
	        0x0a, 0x08, 0x0a, 0x01, 'y',  /*         values (1): key (1) "y" */
	        0x12, 0x03, 0x3a, 0x01, 0x01, /*         value (2): bytes_value (7) 01 */
	        0x0a, 0x0b, 0x18,             /*       [2] int_value (3) -1: 10 bytes */
	        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
	        0x1a, 0x01, 'S', /*   schema_url (3) of ScopeLogs */
	        0x1a, 0x01, 'R', /* schema_url (3) of ResourceLogs */
	};
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_LOGS, &out), 0);
	expect_bytes(&out, exact, sizeof(exact));
	sonde_batch *back = sonde_batch_new();
	assert_int_equal(sonde_otlp_pb_read(back, SONDE_SIGNAL_LOGS, exact, sizeof(exact), NULL), 0);
	expect_equal(b, back);
	sonde_batch_free(back);
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

static void test_log_bytes(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	sonde_log_data *l = sonde_batch_add_log(b, sonde_batch_new_resource(b), sonde_batch_new_scope(b));
	l->time_ns = 1;
	l->severity_number = 9;
	l->severity_text = S(b, "INFO");
	l->body = vstr(b, "hi");
	l->attrs = one_attr(b, "a", vint(1));
	l->dropped_attrs_count = 2;
	l->flags = 1;
	memset(l->trace_id, 0x01, 16);
	memset(l->span_id, 0x02, 8);
	l->observed_time_ns = 3;
	l->event_name = S(b, "e");
	static const uint8_t want[] = {
	        0x0a, 0x53, 0x12, 0x51, 0x12, 0x4f, 0x09, 1,    0,    0, 0, 0, 0, 0, 0, /* time_unix_nano (1) */
	        0x10, 0x09,                                           /* severity_number (2) */
	        0x1a, 0x04, 'I',  'N',  'F',  'O',                    /* severity_text (3) */
	        0x2a, 0x04, 0x0a, 0x02, 'h',  'i',                    /* body (5) */
	        0x32, 0x07, 0x0a, 0x01, 'a',  0x12, 0x02, 0x18, 0x01, /* attributes (6) */
	        0x38, 0x02,                                           /* dropped_attributes_count (7) */
	        0x45, 1,    0,    0,    0,                            /* flags (8) fixed32 */
	        0x4a, 0x10, 1,    1,    1,    1,    1,    1,    1,    1, 1, 1, 1, 1, 1, 1,
	        1,    1,                                                 /* trace_id (9) */
	        0x52, 0x08, 2,    2,    2,    2,    2,    2,    2,    2, /* span_id (10) */
	        0x59, 3,    0,    0,    0,    0,    0,    0,    0,       /* observed_time_unix_nano (11) */
	        0x62, 0x01, 'e',                                         /* event_name (12) */
	};
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_LOGS, &out), 0);
	expect_bytes(&out, want, sizeof(want));
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

static void test_metric_bytes(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res = sonde_batch_new_resource(b);
	sonde_scope *sc = sonde_batch_new_scope(b);
	sonde_metric_data *m = sonde_batch_add_metric(b, res, sc);
	m->name = S(b, "c");
	m->description = S(b, "d");
	m->unit = S(b, "u");
	m->type = SONDE_METRIC_SUM;
	m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	m->is_monotonic = true;
	m->metadata = one_attr(b, "m", vbool(true));
	m->points_count = 1;
	m->points = sonde_batch_alloc(b, sizeof(sonde_point));
	m->points[0].time_ns = 2;
	m->points[0].u.number.kind = SONDE_NUM_INT;
	m->points[0].u.number.v.i = -1;
	m->points[0].flags = 1;
	m->points[0].exemplars_count = 1;
	m->points[0].exemplars = sonde_batch_alloc(b, sizeof(sonde_exemplar));
	m->points[0].exemplars[0].value_kind = SONDE_NUM_DOUBLE;
	m->points[0].exemplars[0].value.d = 0.0;
	memset(m->points[0].exemplars[0].span_id, 0x05, 8);
	memset(m->points[0].exemplars[0].trace_id, 0x06, 16);

	m = sonde_batch_add_metric(b, res, sc);
	m->type = SONDE_METRIC_HISTOGRAM;
	m->temporality = SONDE_TEMPORALITY_DELTA;
	m->points_count = 1;
	sonde_point *p = m->points = sonde_batch_alloc(b, sizeof(sonde_point));
	p->u.hist.count = 3;
	p->u.hist.has_sum = true;
	p->u.hist.sum = 0.0;
	p->u.hist.has_max = true;
	p->u.hist.max = 2.0;
	static uint64_t counts[] = {1, 2};
	static double bounds[] = {1.0};
	p->u.hist.bucket_counts = counts;
	p->u.hist.bucket_counts_count = 2;
	p->u.hist.bounds = bounds;
	p->u.hist.bounds_count = 1;

	m = sonde_batch_add_metric(b, res, sc);
	m->type = SONDE_METRIC_EXP_HISTOGRAM;
	m->points_count = 1;
	p = m->points = sonde_batch_alloc(b, sizeof(sonde_point));
	p->u.exp.scale = -1;
	p->u.exp.zero_count = 1;
	static uint64_t pos[] = {1, 300};
	p->u.exp.positive.offset = -2;
	p->u.exp.positive.counts = pos;
	p->u.exp.positive.count = 2;
	p->u.exp.zero_threshold = 0.5;

	m = sonde_batch_add_metric(b, res, sc);
	m->type = SONDE_METRIC_SUMMARY;
	m->points_count = 1;
	p = m->points = sonde_batch_alloc(b, sizeof(sonde_point));
	p->u.summary.count = 4;
	p->u.summary.sum = 2.0;
	p->u.summary.quantiles_count = 1;
	static sonde_quantile q[] = {{0.5, 1.0}};
	p->u.summary.quantiles = q;

	m = sonde_batch_add_metric(b, res, sc);
	m->type = SONDE_METRIC_GAUGE;

	static const uint8_t want[] = {
	        0x0a, 0xec, 0x01,                                        /* resource_metrics (1), 236 */
	        0x12, 0xe9, 0x01,                                        /* scope_metrics (2), 233 */
	        0x12, 0x55,                                              /* metrics (2): Sum, 85 */
	        0x0a, 0x01, 'c',  0x12, 0x01, 'd',  0x1a, 0x01, 'u',     /* name, description, unit */
	        0x3a, 0x41,                                              /*   sum (7), 65 */
	        0x0a, 0x3b,                                              /*     data_points (1), 59 */
	        0x19, 2,    0,    0,    0,    0,    0,    0,    0,       /*       time_unix_nano (3) */
	        0x2a, 0x25,                                              /*       exemplars (5), 37 */
	        0x19, 0,    0,    0,    0,    0,    0,    0,    0,       /*         as_double (3) 0.0 */
	        0x22, 0x08, 5,    5,    5,    5,    5,    5,    5,    5, /*         span_id (4) */
	        0x2a, 0x10, 6,    6,    6,    6,    6,    6,    6,    6,
	        6,    6,    6,    6,    6,    6,    6,    6,          /* trace_id (5) */
	        0x31, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* as_int (6) sfixed64 -1 */
	        0x40, 0x01,                                           /*       flags (8) */
	        0x10, 0x02,                                           /*     aggregation_temporality (2) */
	        0x18, 0x01,                                           /*     is_monotonic (3) */
	        0x62, 0x07, 0x0a, 0x01, 'm',  0x12, 0x02, 0x10, 0x01, /* metadata (12) */
	        0x12, 0x3d,                                           /* metrics (2): Histogram, 61 */
	        0x4a, 0x3b,                                           /*   histogram (9), 59 */
	        0x0a, 0x37,                                           /*     data_points (1), 55 */
	        0x21, 3,    0,    0,    0,    0,    0,    0,    0,    /*       count (4) fixed64 */
	        0x29, 0,    0,    0,    0,    0,    0,    0,    0,    /*       sum (5) optional: 0.0 kept */
	        0x32, 0x10, 1,    0,    0,    0,    0,    0,    0,    0,
	        2,    0,    0,    0,    0,    0,    0,    0,                /* bucket_counts (6) packed */
	        0x3a, 0x08, 0,    0,    0,    0,    0,    0,    0xf0, 0x3f, /* explicit_bounds (7) packed */
	        0x61, 0,    0,    0,    0,    0,    0,    0,    0x40,       /*       max (12) 2.0 */
	        0x10, 0x01,                                        /*     aggregation_temporality (2) */
	        0x12, 0x21,                                        /* metrics (2): ExponentialHistogram, 33 */
	        0x52, 0x1f,                                        /*   exponential_histogram (10), 31 */
	        0x0a, 0x1d,                                        /*     data_points (1), 29 */
	        0x30, 0x01,                                        /*       scale (6) sint32 -1 */
	        0x39, 1,    0,    0,    0,    0,    0,    0,    0, /*       zero_count (7) fixed64 */
	        0x42, 0x07,                                        /*       positive (8) */
	        0x08, 0x03,                                        /*         offset (1) sint32 -2 */
	        0x12, 0x03, 0x01, 0xac, 0x02, /*         bucket_counts (2) packed varints */
	        0x71, 0,    0,    0,    0,    0,    0,    0xe0, 0x3f, /*       zero_threshold (14) 0.5 */
	        0x12, 0x2a,                                           /* metrics (2): Summary, 42 */
	        0x5a, 0x28,                                           /*   summary (11), 40 */
	        0x0a, 0x26,                                           /*     data_points (1), 38 */
	        0x21, 4,    0,    0,    0,    0,    0,    0,    0,    /*       count (4) fixed64 */
	        0x29, 0,    0,    0,    0,    0,    0,    0,    0x40, /*       sum (5) 2.0 */
	        0x32, 0x12,                                           /*       quantile_values (6) */
	        0x09, 0,    0,    0,    0,    0,    0,    0xe0, 0x3f, /*         quantile (1) 0.5 */
	        0x11, 0,    0,    0,    0,    0,    0,    0xf0, 0x3f, /*         value (2) 1.0 */
	        0x12, 0x02, 0x2a, 0x00,                               /* metrics (2): empty Gauge (5) */
	};
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_METRICS, &out), 0);
	expect_bytes(&out, want, sizeof(want));
	sonde_batch *back = sonde_batch_new();
	assert_int_equal(sonde_otlp_pb_read(back, SONDE_SIGNAL_METRICS, want, sizeof(want), NULL), 0);
	expect_equal(b, back);
	sonde_batch_free(back);
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

/* ---- Packed and unpacked repeated fields ---------------------------------------------------- */

static void test_packed_and_unpacked(void **state)
{
	(void)state;
	/* HistogramDataPoint with bucket_counts 1, 2, 3 and explicit_bounds 0.5, 1.5 written
	 * three ways: packed, unpacked, and mixed (packed chunk then single elements). Also
	 * exponential buckets 4, 5 packed and unpacked. */
	static const uint8_t
	        packed[] =
	                {
	                        0x0a, 0x55, 0x12, 0x53, 0x12, 0x30, 0x4a, 0x2e, 0x0a, 0x2c, 0x32, 0x18,
	                        1,    0,    0,    0,    0,    0,    0,    0,    2,    0,    0,    0,
	                        0,    0,    0,    0,    3,    0,    0,    0,    0,    0,    0,    0,
	                        0x3a, 0x10, 0,    0,    0,    0,    0,    0,    0xe0, 0x3f, 0,    0,
	                        0,    0,    0,    0,    0xf8, 0x3f, 0x12, 0x1f, 0x52, 0x1d, 0x0a, 0x1b,
	                        0x42, 0x04, 0x12, 0x02, 0x04, 0x05, /* positive: bucket_counts packed */
	                        0x4a, 0x13, 0x12, 0x02, 0x04, 0x05, /* negative: packed chunk, then */
	                        0x10, 0x06,                         /*   one unpacked element 6, then */
	                        0x12, 0x00,                         /*   an empty packed chunk, then */
	                        0x12, 0x09, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, /* 2^63-1 */
	                };
	static const uint8_t
	        unpacked
	                [] =
	                        {
	                                0x0a, 0x56, 0x12, 0x54, 0x12, 0x32, 0x4a, 0x30, 0x0a, 0x2e,
	                                0x31, 1,    0,    0,    0,    0,    0,    0,    0,    0x39,
	                                0,    0,    0,    0,    0,    0,    0xe0, 0x3f, 0x31, 2,
	                                0,    0,    0,    0,    0,    0,    0,    0x39, 0,    0,
	                                0,    0,    0,    0,    0xf8, 0x3f, 0x32, 0x08, 3,    0,
	                                0,    0,    0,    0,    0,    0, /* the last count packed: both forms mix */
	                                0x12, 0x1e, 0x52, 0x1c, 0x0a, 0x1a, 0x42, 0x04, 0x10, 0x04,
	                                0x10, 0x05, /* positive: bucket_counts unpacked */
	                                0x4a, 0x12, 0x10, 0x04, 0x10, 0x05, 0x10, 0x06, 0x10, 0xff,
	                                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x12, 0x00,
	                        };
	sonde_batch *a = sonde_batch_new(), *b = sonde_batch_new();
	sonde_wire_error err;
	int rc = sonde_otlp_pb_read(a, SONDE_SIGNAL_METRICS, packed, sizeof(packed), &err);
	if (rc)
		fprintf(stderr, "%s: %s at %zu\n", err.field, err.msg, err.offset);
	assert_int_equal(rc, 0);
	rc = sonde_otlp_pb_read(b, SONDE_SIGNAL_METRICS, unpacked, sizeof(unpacked), &err);
	if (rc)
		fprintf(stderr, "%s: %s at %zu\n", err.field, err.msg, err.offset);
	assert_int_equal(rc, 0);
	assert_int_equal(a->metrics_count, 2);
	const sonde_point *h = &a->metrics[0].points[0];
	assert_int_equal(a->metrics[0].type, SONDE_METRIC_HISTOGRAM);
	assert_int_equal(h->u.hist.bucket_counts_count, 3);
	assert_int_equal(h->u.hist.bucket_counts[2], 3);
	assert_int_equal(h->u.hist.bounds_count, 2);
	assert_true(h->u.hist.bounds[1] == 1.5);
	const sonde_point *e = &a->metrics[1].points[0];
	assert_int_equal(e->u.exp.positive.count, 2);
	assert_int_equal(e->u.exp.negative.count, 4);
	assert_true(e->u.exp.negative.counts[3] == INT64_MAX);
	expect_equal(a, b);

	/* The writer packs. */
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_METRICS, &out), 0);
	assert_true(contains(&out, "\x32\x18\x01", 3));
	assert_true(contains(&out, "\x12\x02\x04\x05", 4));
	sonde_buf_release(&out);

	/* A packed fixed64 field whose length is not a multiple of 8 is rejected. */
	uint8_t bad[sizeof(packed)];
	memcpy(bad, packed, sizeof(bad));
	bad[11] = 0x17; /* bucket_counts length 24 -> 23 */
	size_t before = b->metrics_count;
	assert_int_equal(sonde_otlp_pb_read(b, SONDE_SIGNAL_METRICS, bad, sizeof(bad), &err), SONDE_EPARSE);
	assert_int_equal(b->metrics_count, before);
	sonde_batch_free(a);
	sonde_batch_free(b);
}

/* ---- Malformed input ------------------------------------------------------------------------ */

static void truncate_everywhere(sonde_batch *(*make)(void), sonde_signal sig)
{
	sonde_batch *src = make();
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(src, sig, &out), 0);
	/* The target already holds the records once; each failed read must leave exactly them. */
	sonde_batch *t = sonde_batch_new();
	assert_int_equal(sonde_otlp_pb_read(t, sig, out.data, out.len, NULL), 0);
	size_t n = count_of(t, sig);
	size_t failures = 0;
	for (size_t len = 0; len < out.len; len++) {
		uint8_t *copy = malloc(len + 1); /* exact size, so ASan sees any over-read */
		memcpy(copy, out.data, len);
		sonde_wire_error err;
		memset(&err, 0, sizeof(err));
		int rc = sonde_otlp_pb_read(t, sig, copy, len, &err);
		if (rc < 0) {
			assert_int_equal(rc, SONDE_EPARSE);
			assert_true(err.offset <= len);
			assert_true(err.msg[0] != '\0');
			failures++;
		}
		assert_int_equal(t->spans_count + t->metrics_count + t->logs_count,
		                 rc < 0 ? n : count_of(t, sig));
		if (rc == 0) {
			/* A prefix that ends between ResourceX messages is a valid request. */
			switch (sig) {
			case SONDE_SIGNAL_TRACES: t->spans_count = n; break;
			case SONDE_SIGNAL_METRICS: t->metrics_count = n; break;
			case SONDE_SIGNAL_LOGS: t->logs_count = n; break;
			}
		}
		free(copy);
	}
	assert_true(failures > out.len / 2);
	expect_equal(src, t);
	sonde_buf_release(&out);
	sonde_batch_free(t);
	sonde_batch_free(src);
}

static void test_truncated_everywhere(void **state)
{
	(void)state;
	truncate_everywhere(make_traces, SONDE_SIGNAL_TRACES);
	truncate_everywhere(make_metrics, SONDE_SIGNAL_METRICS);
	truncate_everywhere(make_logs, SONDE_SIGNAL_LOGS);
}

/* Flips each byte of a valid message in turn: every read must fail cleanly or produce a
 * batch that survives its own round trip. */
static void corrupt_everywhere(sonde_batch *(*make)(void), sonde_signal sig)
{
	sonde_batch *src = make();
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_pb_write(src, sig, &out), 0);
	/* Two of these patterns per byte, rotating, keep the test fast under ASan. */
	static const uint8_t flips[] = {0xff, 0x01, 0x80, 0x07};
	for (size_t i = 0; i < out.len; i++) {
		for (size_t k = 0; k < 2; k++) {
			uint8_t *copy = malloc(out.len);
			memcpy(copy, out.data, out.len);
			copy[i] ^= flips[(i + k) % sizeof(flips)];
			sonde_batch *t = sonde_batch_new();
			int rc = sonde_otlp_pb_read(t, sig, copy, out.len, NULL);
			if (rc == 0) {
				round_trip(t, sig);
			} else {
				assert_true(rc == SONDE_EPARSE || rc == SONDE_ELIMIT);
				assert_int_equal(count_of(t, sig), 0);
			}
			sonde_batch_free(t);
			free(copy);
		}
	}
	sonde_buf_release(&out);
	sonde_batch_free(src);
}

static void test_corrupted_bytes(void **state)
{
	(void)state;
	corrupt_everywhere(make_traces, SONDE_SIGNAL_TRACES);
	corrupt_everywhere(make_metrics, SONDE_SIGNAL_METRICS);
	corrupt_everywhere(make_logs, SONDE_SIGNAL_LOGS);
}

/* Reads msg (one ResourceX with one ScopeX holding `record`) and expects a failure naming
 * field. The batch holds one record beforehand and keeps it. */
static void expect_bad(sonde_signal sig, const uint8_t *record, size_t n, int want_rc, const char *field,
                       size_t want_offset)
{
	uint8_t msg[512];
	assert_true(n + 6 <= sizeof(msg) && n < 120);
	msg[0] = 0x0a;
	msg[1] = (uint8_t)(n + 4);
	msg[2] = 0x12;
	msg[3] = (uint8_t)(n + 2);
	msg[4] = 0x12;
	msg[5] = (uint8_t)n;
	memcpy(msg + 6, record, n);
	sonde_batch *b = sonde_batch_new();
	static const uint8_t one[] = {0x0a, 0x04, 0x12, 0x02, 0x12, 0x00};
	assert_int_equal(sonde_otlp_pb_read(b, sig, one, sizeof(one), NULL), 0);
	assert_int_equal(count_of(b, sig), 1);
	sonde_wire_error err;
	memset(&err, 0, sizeof(err));
	int rc = sonde_otlp_pb_read(b, sig, msg, n + 6, &err);
	if (rc != want_rc || strcmp(err.field, field) != 0 || err.offset != want_offset) {
		fprintf(stderr, "rc %d, offset %zu, field '%s': %s\n", rc, err.offset, err.field, err.msg);
		fprintf(stderr, "want rc %d, offset %zu, field '%s'\n", want_rc, want_offset, field);
		fail();
	}
	assert_int_equal(count_of(b, sig), 1);
	sonde_batch_free(b);
}

static void test_bad_ids_and_values(void **state)
{
	(void)state;
	uint8_t rec[64];
	/* Span.trace_id of 15 bytes. */
	rec[0] = 0x0a;
	rec[1] = 15;
	memset(rec + 2, 1, 15);
	expect_bad(SONDE_SIGNAL_TRACES, rec, 17, SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].trace_id", 7);
	/* Span.span_id of 9 bytes, parent_span_id of 7. */
	rec[0] = 0x12;
	rec[1] = 9;
	expect_bad(SONDE_SIGNAL_TRACES, rec, 11, SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].span_id", 7);
	rec[0] = 0x22;
	rec[1] = 7;
	expect_bad(SONDE_SIGNAL_TRACES, rec, 9, SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].parent_span_id", 7);
	/* A link's trace_id of 17 bytes, in the second link. */
	static const uint8_t link[] = {0x6a, 0x00, 0x6a, 0x13, 0x0a, 0x11, 1, 1, 1, 1, 1, 1,
	                               1,    1,    1,    1,    1,    1,    1, 1, 1, 1, 1};
	expect_bad(SONDE_SIGNAL_TRACES, link, sizeof(link), SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].links[1].trace_id", 11);
	/* Span.kind 6 and status code 3. */
	static const uint8_t kind[] = {0x30, 0x06};
	expect_bad(SONDE_SIGNAL_TRACES, kind, sizeof(kind), SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].kind", 7);
	static const uint8_t code[] = {0x7a, 0x02, 0x18, 0x03};
	expect_bad(SONDE_SIGNAL_TRACES, code, sizeof(code), SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].status.code", 9);
	/* Span.name with the wrong wire type (varint). */
	static const uint8_t name[] = {0x28, 0x01};
	expect_bad(SONDE_SIGNAL_TRACES, name, sizeof(name), SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].name", 7);
	/* An attribute value's string whose length runs past its message. */
	static const uint8_t attr[] = {0x4a, 0x06, 0x0a, 0x01, 'k', 0x12, 0x01, 0x0a};
	expect_bad(SONDE_SIGNAL_TRACES, attr, sizeof(attr), SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].attributes[0].value.string_value", 14);
	/* LogRecord.span_id of 16 bytes. */
	rec[0] = 0x52;
	rec[1] = 16;
	expect_bad(SONDE_SIGNAL_LOGS, rec, 18, SONDE_EPARSE,
	           "resource_logs[0].scope_logs[0].log_records[0].span_id", 7);
	/* An exemplar's span_id of 3 bytes inside a gauge point. */
	static const uint8_t ex[] = {0x2a, 0x09, 0x0a, 0x07, 0x2a, 0x05, 0x22, 0x03, 1, 2, 3};
	expect_bad(
	        SONDE_SIGNAL_METRICS, ex, sizeof(ex), SONDE_EPARSE,
	        "resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points[0].exemplars[0].span_id",
	        13);
	/* Temporality 3. */
	static const uint8_t temp[] = {0x3a, 0x02, 0x10, 0x03};
	expect_bad(SONDE_SIGNAL_METRICS, temp, sizeof(temp), SONDE_EPARSE,
	           "resource_metrics[0].scope_metrics[0].metrics[0].sum.aggregation_temporality", 9);
	/* A group (wire type 3) in an unknown span field; a known field as a group. */
	static const uint8_t group[] = {0xa3, 0x01, 0xa4, 0x01};
	expect_bad(SONDE_SIGNAL_TRACES, group, sizeof(group), SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0]", 8);
	static const uint8_t group2[] = {0x5b, 0x5c};
	expect_bad(SONDE_SIGNAL_TRACES, group2, sizeof(group2), SONDE_EPARSE,
	           "resource_spans[0].scope_spans[0].spans[0].events", 7);
}

static void test_unknown_fields_skipped(void **state)
{
	(void)state;
	/* Unknown fields of each wire type at several levels, around a span named "n". */
	static const uint8_t exact[] = {
	        0xa0, 0x06, 0x01,                            /* request: field 100 varint */
	        0x0a, 0x3b,                                  /* resource_spans, 59 */
	        0x21, 1,    2,    3,   4,   5,   6, 7, 8,    /* ResourceSpans: field 4 i64 */
	        0x12, 0x30,                                  /* scope_spans, 48 */
	        0x25, 1,    2,    3,   4,                    /* ScopeSpans: field 4 i32 */
	        0x12, 0x26,                                  /* spans, 38 */
	        0x88, 0x01, 0x05,                            /* Span: field 17 varint */
	        0x2a, 0x01, 'n',                             /* name (5) */
	        0xfa, 0x3e, 0x03, 'x', 'y', 'z',             /* Span: field 1007 len */
	        0x4a, 0x0e,                                  /* attributes (9), 14 */
	        0x0a, 0x01, 'k',                             /*   key (1) */
	        0x12, 0x09,                                  /*   value (2), 9 */
	        0x40, 0x01,                                  /*     AnyValue: field 8 varint */
	        0x18, 0x07,                                  /*     int_value (3) 7 */
	        0x4d, 1,    2,    3,   4,                    /*     AnyValue: field 9 i32 */
	        0x99, 0x02, 1,    2,   3,   4,   5, 6, 7, 8, /* Span: field 35 i64 */
	        0x1a, 0x01, 'u',                             /* ScopeSpans.schema_url (3) */
	};
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	int rc = sonde_otlp_pb_read(b, SONDE_SIGNAL_TRACES, exact, sizeof(exact), &err);
	if (rc)
		fprintf(stderr, "%s: %s at %zu\n", err.field, err.msg, err.offset);
	assert_int_equal(rc, 0);
	assert_int_equal(b->spans_count, 1);
	assert_int_equal(b->spans[0].name.len, 1);
	assert_int_equal(b->spans[0].attrs.count, 1);
	assert_int_equal(b->spans[0].attrs.items[0].value.kind, SONDE_VAL_INT);
	assert_int_equal(b->spans[0].attrs.items[0].value.u.i, 7);
	assert_string_equal(b->spans[0].scope->schema_url.ptr, "u");
	sonde_batch_free(b);
}

/* A value nested `depth` levels deep (an attribute's own value is level 1). */
static sonde_value nest(sonde_batch *b, int depth, bool kvlist)
{
	sonde_value v = vint(depth);
	for (int i = 1; i < depth; i++) {
		if (kvlist) {
			static const char *const k[] = {"n"};
			v = vkvlist(b, 1, k, &v);
		} else {
			v = varray(b, 1, &v);
		}
	}
	return v;
}

static void test_value_depth_limit(void **state)
{
	(void)state;
	for (int kv = 0; kv < 2; kv++) {
		sonde_batch *b = sonde_batch_new();
		sonde_log_data *l =
		        sonde_batch_add_log(b, sonde_batch_new_resource(b), sonde_batch_new_scope(b));
		l->body = nest(b, SONDE_OTLP_PB_MAX_VALUE_DEPTH, kv);
		l->attrs = one_attr(b, "deep", nest(b, SONDE_OTLP_PB_MAX_VALUE_DEPTH, !kv));
		round_trip(b, SONDE_SIGNAL_LOGS);

		/* One more level: the writer refuses and leaves the buffer as it was. */
		sonde_buf out = SONDE_BUF_INIT;
		sonde_buf_puts(&out, "keep");
		l->body = nest(b, SONDE_OTLP_PB_MAX_VALUE_DEPTH + 1, kv);
		assert_int_equal(sonde_otlp_pb_write(b, SONDE_SIGNAL_LOGS, &out), SONDE_ELIMIT);
		assert_int_equal(out.len, 4);
		assert_string_equal(out.data, "keep");

		/* And the reader refuses it when built by hand: 65 nested array_values. */
		sonde_buf msg = SONDE_BUF_INIT;
		sonde_pb_writer w;
		sonde_pb_writer_init(&w, &msg);
		sonde_pb_open(&w, 1);
		sonde_pb_open(&w, 2);
		sonde_pb_open(&w, 2);
		sonde_pb_open(&w, 5); /* body: level 1 */
		for (int i = 1; i < SONDE_OTLP_PB_MAX_VALUE_DEPTH + 1; i++) {
			sonde_pb_open(&w, 5); /* array_value */
			sonde_pb_open(&w, 1); /* values[0]: level i + 1 */
		}
		sonde_pb_put_varint_field(&w, 3, 1);
		while (w.depth)
			sonde_pb_close(&w);
		sonde_batch *t = sonde_batch_new();
		sonde_wire_error err;
		assert_int_equal(sonde_otlp_pb_read(t, SONDE_SIGNAL_LOGS, msg.data, msg.len, &err),
		                 SONDE_ELIMIT);
		assert_int_equal(t->logs_count, 0);
		assert_non_null(strstr(err.field, "body.array_value[0]"));
		sonde_batch_free(t);
		sonde_buf_release(&msg);
		sonde_buf_release(&out);
		sonde_batch_free(b);
	}
}

static void test_oneof_and_repeats(void **state)
{
	(void)state;
	/* A metric whose data oneof is set twice: the later (sum) wins; a span whose name
	 * appears twice: the later wins; a Status split in two messages merges. */
	static const uint8_t m3[] = {
	        0x0a, 0x14, 0x12, 0x12, 0x12, 0x10,
	        0x4a, 0x04, 0x0a, 0x00, 0x10, 0x02, /* histogram: one empty point, cumulative */
	        0x3a, 0x08,                         /* then sum: */
	        0x0a, 0x02, 0x40, 0x05,             /*   data_points: flags (8) 5 */
	        0x18, 0x01, 0x10, 0x01,             /*   is_monotonic, delta */
	};
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	int rc = sonde_otlp_pb_read(b, SONDE_SIGNAL_METRICS, m3, sizeof(m3), &err);
	if (rc)
		fprintf(stderr, "%s: %s at %zu\n", err.field, err.msg, err.offset);
	assert_int_equal(rc, 0);
	assert_int_equal(b->metrics[0].type, SONDE_METRIC_SUM);
	assert_int_equal(b->metrics[0].points_count, 1);
	assert_int_equal(b->metrics[0].points[0].flags, 5);
	assert_true(b->metrics[0].is_monotonic);
	assert_int_equal(b->metrics[0].temporality, SONDE_TEMPORALITY_DELTA);
	round_trip(b, SONDE_SIGNAL_METRICS);

	static const uint8_t span[] = {
	        0x0a, 0x13, 0x12, 0x11, 0x12, 0x0f, 0x2a, 0x01, 'a',  0x2a, 0x01,
	        'b',  0x7a, 0x02, 0x18, 0x02, 0x7a, 0x03, 0x12, 0x01, 'm',
	};
	assert_int_equal(sonde_otlp_pb_read(b, SONDE_SIGNAL_TRACES, span, sizeof(span), NULL), 0);
	assert_string_equal(b->spans[0].name.ptr, "b");
	assert_int_equal(b->spans[0].status_code, SONDE_STATUS_ERROR);
	assert_string_equal(b->spans[0].status_message.ptr, "m");
	/* Old-style counts (uint64 varint) are accepted too. */
	static const uint8_t oldcount[] = {
	        0x0a, 0x0a, 0x12, 0x08, 0x12, 0x06, 0x4a, 0x04, 0x0a, 0x02, 0x20, 0x09,
	};
	assert_int_equal(sonde_otlp_pb_read(b, SONDE_SIGNAL_METRICS, oldcount, sizeof(oldcount), NULL), 0);
	assert_int_equal(b->metrics[1].points[0].u.hist.count, 9);
	sonde_batch_free(b);
}

#ifdef HAVE_OTLP_JSON
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void test_otlp_json_examples(void **state)
{
	(void)state;
	const char *data = getenv("SONDE_DATA");
	if (!data)
		skip();
	static const char *const files[] = {"trace.json", "metrics.json", "logs.json", "events.json"};
	int done = 0;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[1024];
		snprintf(path, sizeof(path), "%s/otlp-examples/%s", data, files[i]);
		size_t len;
		char *text = slurp(path, &len);
		if (!text)
			continue;
		sonde_batch *j = sonde_batch_new(), *p = sonde_batch_new();
		sonde_wire_error err;
		int rc = sonde_otlp_json_read(j, text, len, &err);
		if (rc)
			fprintf(stderr, "%s: json read failed: %s: %s\n", files[i], err.field, err.msg);
		assert_int_equal(rc, 0);
		assert_true(j->spans_count + j->metrics_count + j->logs_count > 0);
		for (int sig = 0; sig < 3; sig++) {
			sonde_buf out = SONDE_BUF_INIT;
			assert_int_equal(sonde_otlp_pb_write(j, (sonde_signal)sig, &out), 0);
			rc = sonde_otlp_pb_read(p, (sonde_signal)sig, out.data, out.len, &err);
			if (rc)
				fprintf(stderr, "%s: pb read failed: %s: %s\n", files[i], err.field, err.msg);
			assert_int_equal(rc, 0);
			sonde_buf_release(&out);
		}
		char why[256];
		if (!sonde_batch_equal(j, p, why, sizeof(why))) {
			fprintf(stderr, "%s: %s\n", files[i], why);
			fail();
		}
		sonde_batch_free(j);
		sonde_batch_free(p);
		free(text);
		done++;
	}
	if (!done)
		skip();
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_traces_round_trip),
	        cmocka_unit_test(test_metrics_round_trip),
	        cmocka_unit_test(test_logs_round_trip),
	        cmocka_unit_test(test_empty_and_range),
	        cmocka_unit_test(test_span_bytes),
	        cmocka_unit_test(test_resource_scope_and_values_bytes),
	        cmocka_unit_test(test_log_bytes),
	        cmocka_unit_test(test_metric_bytes),
	        cmocka_unit_test(test_packed_and_unpacked),
	        cmocka_unit_test(test_truncated_everywhere),
	        cmocka_unit_test(test_corrupted_bytes),
	        cmocka_unit_test(test_bad_ids_and_values),
	        cmocka_unit_test(test_unknown_fields_skipped),
	        cmocka_unit_test(test_value_depth_limit),
	        cmocka_unit_test(test_oneof_and_repeats),
#ifdef HAVE_OTLP_JSON
	        cmocka_unit_test(test_otlp_json_examples),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
