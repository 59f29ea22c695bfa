/*
 * store_test.c - the SQLite store through store.h: batches come back as they went in,
 * appends are idempotent, filters and aggregates count right, prune removes whole traces,
 * an older schema is migrated, and a damaged or foreign file is refused with a clear
 * message instead of a crash.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sonde/status.h"
#include "store.h"
#include "store_internal.h"

#define STORE_TEST_NAME "store-test"
#include "../lib/store_tmpdir.h"

#define MS 1000000ull
#define T0 1700000000000000000ull

static sonde_store *open_ok(void)
{
	sonde_store *s = NULL;
	char msg[256];
	int rc = sonde_store_open(path, 0, &s, msg, sizeof msg);
	if (rc != 0)
		fail_msg("open %s: %d %s", path, rc, msg);
	return s;
}

static sonde_kv *kvs(sonde_batch *b, size_t n)
{
	return sonde_batch_alloc(b, n * sizeof(sonde_kv));
}

static void set_str(sonde_batch *b, sonde_kv *kv, const char *k, const char *v)
{
	kv->key = sonde_batch_intern(b, k, strlen(k));
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = sonde_batch_strdup(b, v, strlen(v));
}

static void set_int(sonde_batch *b, sonde_kv *kv, const char *k, int64_t v)
{
	kv->key = sonde_batch_intern(b, k, strlen(k));
	kv->value.kind = SONDE_VAL_INT;
	kv->value.u.i = v;
}

static sonde_resource *resource(sonde_batch *b, const char *service)
{
	sonde_resource *r = sonde_batch_new_resource(b);
	r->attrs.items = kvs(b, 2);
	r->attrs.count = 2;
	set_str(b, &r->attrs.items[0], "service.name", service);
	set_str(b, &r->attrs.items[1], "host.name", "h1");
	return r;
}

static void id_of(uint8_t *out, size_t n, unsigned v)
{
	memset(out, 0, n);
	out[n - 1] = (uint8_t)v;
	out[0] = 0xab;
}

/* Adds a span of trace t, id sid, parent pid (0: root), [start, start + dur) ms after T0. */
static sonde_span_data *span(sonde_batch *b, const sonde_resource *r, const sonde_scope *sc, unsigned t,
                             unsigned sid, unsigned pid, const char *name, uint64_t start_ms, uint64_t dur_ms)
{
	sonde_span_data *sp = sonde_batch_add_span(b, r, sc);
	id_of(sp->trace_id, 16, t);
	id_of(sp->span_id, 8, sid);
	if (pid)
		id_of(sp->parent_span_id, 8, pid);
	sp->name = sonde_batch_intern(b, name, strlen(name));
	sp->start_ns = T0 + start_ms * MS;
	sp->end_ns = sp->start_ns + dur_ms * MS;
	sp->kind = pid ? SONDE_SPAN_KIND_CLIENT : SONDE_SPAN_KIND_SERVER;
	return sp;
}

/* Two traces over two services, with every kind of span part, two logs and a metric of
 * each type. */
static sonde_batch *sample_batch(void)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *fe = resource(b, "frontend"), *db = resource(b, "db");
	sonde_scope *sc = sonde_batch_new_scope(b);
	sc->name = SONDE_STR_LIT("lib");
	sc->version = SONDE_STR_LIT("1.2");

	sonde_span_data *root = span(b, fe, sc, 1, 1, 0, "GET /cart", 0, 100);
	root->attrs.items = kvs(b, 2);
	root->attrs.count = 2;
	set_str(b, &root->attrs.items[0], "http.route", "/cart");
	set_int(b, &root->attrs.items[1], "http.status_code", 200);
	root->trace_state = SONDE_STR_LIT("k=v");
	root->flags = 0x301;
	root->events = sonde_batch_alloc(b, sizeof(sonde_span_event));
	root->events_count = 1;
	root->events[0].name = SONDE_STR_LIT("exception");
	root->events[0].time_ns = T0 + 50 * MS;
	root->events[0].attrs.items = kvs(b, 1);
	root->events[0].attrs.count = 1;
	set_str(b, &root->events[0].attrs.items[0], "exception.message", "boom");
	root->links = sonde_batch_alloc(b, sizeof(sonde_span_link));
	root->links_count = 1;
	id_of(root->links[0].trace_id, 16, 9);
	id_of(root->links[0].span_id, 8, 9);
	root->dropped_links_count = 3;

	sonde_span_data *q1 = span(b, db, sc, 1, 2, 1, "SELECT", 10, 30);
	q1->status_code = SONDE_STATUS_ERROR;
	q1->status_message = SONDE_STR_LIT("deadlock");
	span(b, db, sc, 1, 3, 1, "SELECT", 45, 20);

	sonde_span_data *r2 = span(b, fe, sc, 2, 1, 0, "GET /home", 1000, 10);
	r2->attrs.items = kvs(b, 1);
	r2->attrs.count = 1;
	set_str(b, &r2->attrs.items[0], "http.route", "/home");

	sonde_log_data *lg = sonde_batch_add_log(b, db, sc);
	lg->time_ns = T0 + 20 * MS;
	lg->severity_number = 17;
	lg->severity_text = SONDE_STR_LIT("ERROR");
	lg->body.kind = SONDE_VAL_STRING;
	lg->body.u.str = SONDE_STR_LIT("deadlock detected");
	id_of(lg->trace_id, 16, 1);
	id_of(lg->span_id, 8, 2);
	lg->attrs.items = kvs(b, 1);
	lg->attrs.count = 1;
	set_str(b, &lg->attrs.items[0], "db.table", "carts");
	sonde_log_data *lg2 = sonde_batch_add_log(b, fe, sc);
	lg2->time_ns = T0 + 2000 * MS;
	lg2->severity_number = 9;
	lg2->body.kind = SONDE_VAL_INT;
	lg2->body.u.i = 42;

	sonde_metric_data *g = sonde_batch_add_metric(b, fe, sc);
	g->name = SONDE_STR_LIT("queue_depth");
	g->type = SONDE_METRIC_GAUGE;
	g->unit = SONDE_STR_LIT("1");
	g->points = sonde_batch_alloc(b, 2 * sizeof(sonde_point));
	g->points_count = 2;
	for (int i = 0; i < 2; i++) {
		g->points[i].time_ns = T0 + (uint64_t)i * 1000 * MS;
		g->points[i].u.number.kind = i ? SONDE_NUM_DOUBLE : SONDE_NUM_INT;
		if (i)
			g->points[i].u.number.v.d = 2.5;
		else
			g->points[i].u.number.v.i = 7;
	}
	sonde_metric_data *h = sonde_batch_add_metric(b, fe, sc);
	h->name = SONDE_STR_LIT("latency");
	h->type = SONDE_METRIC_HISTOGRAM;
	h->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	h->points = sonde_batch_alloc(b, sizeof(sonde_point));
	h->points_count = 1;
	sonde_point *hp = &h->points[0];
	hp->time_ns = T0;
	hp->start_time_ns = T0 - 1000 * MS;
	hp->attrs.items = kvs(b, 1);
	hp->attrs.count = 1;
	set_str(b, &hp->attrs.items[0], "route", "/cart");
	hp->u.hist.count = 5;
	hp->u.hist.has_sum = true;
	hp->u.hist.sum = 12.5;
	static uint64_t counts[3] = {1, 3, 1};
	static double bounds[2] = {1, 10};
	hp->u.hist.bucket_counts = counts;
	hp->u.hist.bucket_counts_count = 3;
	hp->u.hist.bounds = bounds;
	hp->u.hist.bounds_count = 2;
	sonde_metric_data *sm = sonde_batch_add_metric(b, db, sc);
	sm->name = SONDE_STR_LIT("rpc");
	sm->type = SONDE_METRIC_SUMMARY;
	sm->points = sonde_batch_alloc(b, sizeof(sonde_point));
	sm->points_count = 1;
	sm->points[0].time_ns = T0;
	sm->points[0].u.summary.count = 3;
	sm->points[0].u.summary.sum = 9;
	static sonde_quantile qs[1] = {{0.5, 2}};
	sm->points[0].u.summary.quantiles = qs;
	sm->points[0].u.summary.quantiles_count = 1;
	sonde_metric_data *e = sonde_batch_add_metric(b, db, sc);
	e->name = SONDE_STR_LIT("size");
	e->type = SONDE_METRIC_EXP_HISTOGRAM;
	e->temporality = SONDE_TEMPORALITY_DELTA;
	e->points = sonde_batch_alloc(b, sizeof(sonde_point));
	e->points_count = 1;
	e->points[0].time_ns = T0;
	e->points[0].u.exp.count = 4;
	e->points[0].u.exp.scale = -2;
	static uint64_t pos[2] = {1, 3};
	e->points[0].u.exp.positive.offset = -1;
	e->points[0].u.exp.positive.counts = pos;
	e->points[0].u.exp.positive.count = 2;
	return b;
}

static const sonde_span_data *find_span(const sonde_batch *b, const uint8_t *tid, const uint8_t *sid)
{
	for (size_t i = 0; i < b->spans_count; i++)
		if (memcmp(b->spans[i].trace_id, tid, 16) == 0 && memcmp(b->spans[i].span_id, sid, 8) == 0)
			return &b->spans[i];
	return NULL;
}

static void test_round_trip(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *in = sample_batch();
	sonde_append_stats st = {0};
	assert_int_equal(sonde_store_append(s, in, NULL, &st), 0);
	assert_int_equal(st.spans_added, 4);
	assert_int_equal(st.logs_added, 2);
	assert_int_equal(st.points_added, 5);
	sonde_store_close(s);

	s = open_ok();
	sonde_batch *out = sonde_batch_new();
	uint8_t t1[16];
	id_of(t1, 16, 1);
	assert_int_equal(sonde_store_get_trace(s, t1, true, out), 3);
	assert_int_equal(out->logs_count, 1);
	for (size_t i = 0; i < 3; i++) {
		const sonde_span_data *want = find_span(in, out->spans[i].trace_id, out->spans[i].span_id);
		assert_non_null(want);
		if (!sonde_span_data_equal(want, &out->spans[i]))
			fail_msg("span %zu (%s) differs after the round trip", i, out->spans[i].name.ptr);
		assert_true(sonde_resource_equal(want->resource, out->spans[i].resource));
		assert_true(sonde_scope_equal(want->scope, out->spans[i].scope));
	}
	/* Start order. */
	assert_true(out->spans[0].start_ns <= out->spans[1].start_ns);
	assert_true(out->spans[1].start_ns <= out->spans[2].start_ns);
	assert_true(sonde_log_data_equal(&in->logs[0], &out->logs[0]));
	assert_true(sonde_resource_equal(in->logs[0].resource, out->logs[0].resource));

	sonde_batch_clear(out);
	sonde_query q = {0};
	assert_int_equal(sonde_store_select_logs(s, &q, out), 2);
	assert_true(sonde_log_data_equal(&in->logs[1], &out->logs[1])); /* an int body */

	sonde_batch_clear(out);
	assert_int_equal(sonde_store_select_points(s, &q, out), 5);
	assert_int_equal(out->metrics_count, 4);
	for (size_t i = 0; i < out->metrics_count; i++) {
		const sonde_metric_data *m = &out->metrics[i];
		bool found = false;
		for (size_t j = 0; j < in->metrics_count; j++)
			if (in->metrics[j].name.len == m->name.len &&
			    memcmp(in->metrics[j].name.ptr, m->name.ptr, m->name.len) == 0) {
				if (!sonde_metric_data_equal(&in->metrics[j], m))
					fail_msg("metric %s differs after the round trip", m->name.ptr);
				found = true;
			}
		assert_true(found);
	}
	/* An unknown trace is no error. */
	uint8_t t9[16];
	id_of(t9, 16, 99);
	assert_int_equal(sonde_store_get_trace(s, t9, true, out), 0);
	sonde_batch_free(out);
	sonde_batch_free(in);
	sonde_store_close(s);
}

static void test_idempotent(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *in = sample_batch();
	sonde_append_stats st = {0};
	assert_int_equal(sonde_store_append(s, in, NULL, &st), 0);
	sonde_store_info a, b;
	assert_int_equal(sonde_store_info_get(s, &a), 0);
	memset(&st, 0, sizeof st);
	assert_int_equal(sonde_store_append(s, in, NULL, &st), 0);
	assert_int_equal(st.spans_added, 0);
	assert_int_equal(st.spans_present, 4);
	assert_int_equal(st.logs_added, 0);
	assert_int_equal(st.logs_present, 2);
	assert_int_equal(st.points_added, 0);
	assert_int_equal(st.points_present, 5);
	assert_int_equal(sonde_store_info_get(s, &b), 0);
	assert_int_equal(a.spans, 4);
	assert_int_equal(b.spans, 4);
	assert_int_equal(b.traces, 2);
	assert_int_equal(b.logs, 2);
	assert_int_equal(b.points, 5);
	/* The trace summary did not double. */
	sonde_trace_list l;
	sonde_query q = {.sort = SONDE_SORT_TIME_ASC};
	assert_int_equal(sonde_store_find_traces(s, &q, &l), 2);
	assert_int_equal(l.items[0].span_count, 3);
	sonde_trace_list_release(&l);
	/* The same log content at another position is another record. */
	sonde_append_opts o = {.log_source = "x.log", .log_position = 10};
	memset(&st, 0, sizeof st);
	assert_int_equal(sonde_store_append(s, in, &o, &st), 0);
	assert_int_equal(st.logs_added, 2);
	memset(&st, 0, sizeof st);
	assert_int_equal(sonde_store_append(s, in, &o, &st), 0);
	assert_int_equal(st.logs_added, 0);
	sonde_batch_free(in);
	sonde_store_close(s);
}

/* A trace whose spans arrive in two batches, the root last, gets one right summary. */
static void test_trace_across_batches(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = resource(b, "api");
	sonde_scope *sc = sonde_batch_new_scope(b);
	span(b, r, sc, 5, 2, 1, "child", 10, 500);
	assert_int_equal(sonde_store_append(s, b, NULL, NULL), 0);
	sonde_trace_list l;
	sonde_query q = {0};
	assert_int_equal(sonde_store_find_traces(s, &q, &l), 1);
	assert_false(l.items[0].has_root);
	assert_string_equal(l.items[0].root_operation, "child");
	sonde_trace_list_release(&l);
	sonde_batch_clear(b);
	r = resource(b, "api");
	sc = sonde_batch_new_scope(b);
	span(b, r, sc, 5, 1, 0, "root", 0, 100);
	assert_int_equal(sonde_store_append(s, b, NULL, NULL), 0);
	assert_int_equal(sonde_store_find_traces(s, &q, &l), 1);
	assert_true(l.items[0].has_root);
	assert_string_equal(l.items[0].root_operation, "root");
	assert_string_equal(l.items[0].root_service, "api");
	assert_int_equal(l.items[0].span_count, 2);
	assert_int_equal(l.items[0].start_ns, T0);
	assert_int_equal(l.items[0].duration_ns, 510 * MS);
	sonde_trace_list_release(&l);
	sonde_batch_free(b);
	sonde_store_close(s);
}

/* Spans go in by multi-row INSERTs (64 rows, then 32, 16 .. 1): a batch of 203 spans in 7
 * traces, with a span repeated inside the batch, then a batch mixing stored spans of a
 * stored trace with new ones, and spans of a new trace. Every span is counted once, each
 * trace keeps its spans and attributes, and every span's data row is its own. */
static void test_multi_row_append(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = resource(b, "api");
	sonde_scope *sc = sonde_batch_new_scope(b);
	for (unsigned i = 0; i < 203; i++) {
		sonde_span_data *sp = span(b, r, sc, 20 + i / 29, 1 + i % 29, i % 29 ? 1 : 0, "op", i, 5);
		sp->attrs.items = kvs(b, 1);
		sp->attrs.count = 1;
		set_int(b, &sp->attrs.items[0], "i", (int64_t)i);
	}
	span(b, r, sc, 20, 3, 1, "op", 2, 5); /* again, later in the same batch */
	sonde_append_stats st = {0};
	assert_int_equal(sonde_store_append(s, b, NULL, &st), 0);
	assert_int_equal(st.spans_added, 203);
	assert_int_equal(st.spans_present, 1);

	/* Trace 21 again: three stored spans and two new ones; trace 40 is new. */
	sonde_batch_clear(b);
	r = resource(b, "api");
	sc = sonde_batch_new_scope(b);
	span(b, r, sc, 21, 1, 0, "op", 29, 5);
	span(b, r, sc, 21, 100, 1, "late", 300, 7);
	span(b, r, sc, 21, 2, 1, "op", 30, 5);
	span(b, r, sc, 21, 101, 1, "late", 301, 7);
	span(b, r, sc, 40, 1, 0, "new", 400, 9);
	span(b, r, sc, 21, 29, 1, "op", 57, 5);
	memset(&st, 0, sizeof st);
	assert_int_equal(sonde_store_append(s, b, NULL, &st), 0);
	assert_int_equal(st.spans_added, 3);
	assert_int_equal(st.spans_present, 3);

	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.spans, 206);
	assert_int_equal(info.traces, 8);
	sonde_batch *out = sonde_batch_new();
	uint8_t tid[16];
	id_of(tid, 16, 21);
	assert_int_equal(sonde_store_get_trace(s, tid, false, out), 31);
	unsigned late = 0;
	for (size_t i = 0; i < out->spans_count; i++) {
		const sonde_span_data *sp = &out->spans[i];
		if (sp->name.len == 4) {
			late++;
			assert_int_equal(sp->attrs.count, 0);
			continue;
		}
		/* Span k of trace 21 carries attribute i = 29 + k - 1. */
		unsigned k = sp->span_id[7];
		assert_int_equal(sp->attrs.count, 1);
		assert_int_equal(sp->attrs.items[0].value.u.i, 29 + k - 1);
	}
	assert_int_equal(late, 2);
	sonde_trace_list l;
	sonde_query q = {0};
	assert_int_equal(sonde_store_find_traces(s, &q, &l), 8);
	size_t found = 0;
	for (size_t i = 0; i < l.count; i++) {
		if (memcmp(l.items[i].trace_id, tid, 16) != 0)
			continue;
		found++;
		assert_int_equal(l.items[i].span_count, 31);
		assert_int_equal(l.items[i].start_ns, T0 + 29 * MS);
		assert_int_equal(l.items[i].duration_ns, (301 + 7 - 29) * MS);
	}
	assert_int_equal(found, 1);
	sonde_trace_list_release(&l);
	sonde_batch_clear(out);
	id_of(tid, 16, 26); /* the last trace: 203 - 6 * 29 = 29 spans, the tail of the chunks */
	assert_int_equal(sonde_store_get_trace(s, tid, false, out), 29);
	for (size_t i = 0; i < out->spans_count; i++)
		assert_int_equal(out->spans[i].attrs.items[0].value.u.i,
		                 6 * 29 + out->spans[i].span_id[7] - 1);

	/* Trace 40, the last stored, continues at the end of both tables (its rows go in
	 * under the next rowid, which SQLite gives), around a late span of trace 21 (under its
	 * own). Each row keeps its data row: attribute i is 1000 + the span id. */
	sonde_batch_clear(b);
	r = resource(b, "api");
	sc = sonde_batch_new_scope(b);
	const unsigned third[][2] = {{40, 2}, {40, 3}, {21, 102}, {40, 4}, {21, 103}};
	for (size_t i = 0; i < sizeof third / sizeof third[0]; i++) {
		sonde_span_data *sp = span(b, r, sc, third[i][0], third[i][1], 1, "third", 500 + i, 1);
		sp->attrs.items = kvs(b, 1);
		sp->attrs.count = 1;
		set_int(b, &sp->attrs.items[0], "i", 1000 + third[i][1]);
	}
	memset(&st, 0, sizeof st);
	assert_int_equal(sonde_store_append(s, b, NULL, &st), 0);
	assert_int_equal(st.spans_added, 5);
	const unsigned want[][2] = {{40, 4}, {21, 33}};
	for (size_t t = 0; t < 2; t++) {
		sonde_batch_clear(out);
		id_of(tid, 16, want[t][0]);
		assert_int_equal(sonde_store_get_trace(s, tid, false, out), want[t][1]);
		unsigned third_n = 0;
		for (size_t i = 0; i < out->spans_count; i++) {
			const sonde_span_data *sp = &out->spans[i];
			if (sp->name.len != 5 || memcmp(sp->name.ptr, "third", 5) != 0)
				continue;
			third_n++;
			assert_int_equal(sp->attrs.count, 1);
			assert_int_equal(sp->attrs.items[0].value.u.i, 1000 + sp->span_id[7]);
		}
		assert_int_equal(third_n, t ? 2 : 3);
	}
	sonde_batch_free(out);
	sonde_batch_free(b);
	sonde_store_close(s);
}

static void test_filters(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *in = sample_batch();
	assert_int_equal(sonde_store_append(s, in, NULL, NULL), 0);
	sonde_trace_list l;
	sonde_query q = {.sort = SONDE_SORT_DURATION_DESC};
	assert_int_equal(sonde_store_find_traces(s, &q, &l), 2);
	assert_int_equal(l.items[0].duration_ns, 100 * MS);
	assert_int_equal(l.items[0].error_count, 1);
	assert_true(l.items[0].has_root);
	assert_string_equal(l.items[0].root_service, "frontend");
	assert_string_equal(l.items[0].root_operation, "GET /cart");
	assert_int_equal(l.items[0].services_count, 2);
	assert_string_equal(l.items[0].services[0], "db");
	assert_string_equal(l.items[0].services[1], "frontend");
	assert_int_equal(l.items[1].duration_ns, 10 * MS);
	sonde_trace_list_release(&l);

	sonde_query e = {.errors_only = true};
	assert_int_equal(sonde_store_find_traces(s, &e, &l), 1);
	sonde_trace_list_release(&l);
	sonde_query d = {.service = "db"};
	assert_int_equal(sonde_store_find_traces(s, &d, &l), 1);
	sonde_trace_list_release(&l);
	sonde_query nx = {.service = "nowhere"};
	assert_int_equal(sonde_store_find_traces(s, &nx, &l), 0);
	sonde_trace_list_release(&l);
	sonde_query md = {.min_duration_ns = 50 * MS};
	assert_int_equal(sonde_store_find_traces(s, &md, &l), 1);
	sonde_trace_list_release(&l);
	sonde_attr_match am = {"http.route", "/home"};
	sonde_query aq = {.attrs = &am, .attrs_count = 1};
	assert_int_equal(sonde_store_find_traces(s, &aq, &l), 1);
	assert_string_equal(l.items[0].root_operation, "GET /home");
	sonde_trace_list_release(&l);
	sonde_attr_match ai = {"http.status_code", "200"}; /* integers compare as text */
	aq.attrs = &ai;
	assert_int_equal(sonde_store_find_traces(s, &aq, &l), 1);
	sonde_trace_list_release(&l);
	sonde_attr_match ar = {"host.name", NULL}; /* a resource attribute, present */
	aq.attrs = &ar;
	assert_int_equal(sonde_store_find_traces(s, &aq, &l), 2);
	sonde_trace_list_release(&l);
	sonde_query w = {.since_ns = T0 + 500 * MS};
	assert_int_equal(sonde_store_find_traces(s, &w, &l), 1);
	sonde_trace_list_release(&l);

	sonde_batch *out = sonde_batch_new();
	sonde_query sq = {.service = "db", .operation = "SELECT"};
	assert_int_equal(sonde_store_select_spans(s, &sq, SONDE_FIELDS_BASE, out), 2);
	assert_int_equal(out->spans[0].attrs.count, 0);
	sonde_batch_clear(out);
	sonde_query k = {.kinds = 1u << SONDE_SPAN_KIND_SERVER};
	assert_int_equal(sonde_store_select_spans(s, &k, 0, out), 2);
	sonde_batch_clear(out);
	sonde_query rt = {.roots_only = true, .limit = 1, .sort = SONDE_SORT_TIME_DESC};
	assert_int_equal(sonde_store_select_spans(s, &rt, 0, out), 1);
	assert_string_equal(out->spans[0].name.ptr, "GET /home");
	sonde_batch_clear(out);
	sonde_query lq = {.errors_only = true};
	assert_int_equal(sonde_store_select_logs(s, &lq, out), 1);
	sonde_batch_clear(out);
	sonde_query lt = {.text = "deadl"};
	assert_int_equal(sonde_store_select_logs(s, &lt, out), 1);
	sonde_batch_clear(out);
	sonde_attr_match la = {"db.table", "carts"};
	sonde_query lat = {.attrs = &la, .attrs_count = 1};
	assert_int_equal(sonde_store_select_logs(s, &lat, out), 1);
	sonde_batch_clear(out);
	sonde_query pq = {.operation = "queue_depth", .since_ns = T0 + 1};
	assert_int_equal(sonde_store_select_points(s, &pq, out), 1);
	assert_true(out->metrics[0].points[0].u.number.kind == SONDE_NUM_DOUBLE);
	sonde_batch_clear(out);
	sonde_attr_match pa = {"route", "/cart"};
	sonde_query pqa = {.attrs = &pa, .attrs_count = 1};
	assert_int_equal(sonde_store_select_points(s, &pqa, out), 1);
	sonde_batch_free(out);
	sonde_batch_free(in);
	sonde_store_close(s);
}

static int count_span(void *ctx, const sonde_span_data *sp)
{
	size_t *n = ctx;
	(*n)++;
	return *n == 2 ? 7 : 0;
}

static void test_scan_stops(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *in = sample_batch();
	assert_int_equal(sonde_store_append(s, in, NULL, NULL), 0);
	size_t n = 0;
	sonde_query q = {0};
	assert_int_equal(sonde_store_scan_spans(s, &q, SONDE_FIELDS_BASE, count_span, &n), 7);
	assert_int_equal(n, 2);
	sonde_batch_free(in);
	sonde_store_close(s);
}

typedef struct durs {
	size_t calls;
	uint64_t sum[8];
} durs;

static int on_dur(void *ctx, size_t group, uint64_t d, bool err)
{
	durs *x = ctx;
	x->calls++;
	if (group < 8)
		x->sum[group] += d;
	return 0;
}

static void test_aggregate(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *in = sample_batch();
	assert_int_equal(sonde_store_append(s, in, NULL, NULL), 0);
	sonde_agg_key keys[2] = {{SONDE_KEY_SERVICE, NULL, 0}, {SONDE_KEY_OPERATION, NULL, 0}};
	sonde_agg_result r;
	durs x = {0};
	sonde_query q = {0};
	assert_int_equal(sonde_store_aggregate_spans(s, &q, keys, 2, on_dur, &x, &r), 3);
	assert_int_equal(x.calls, 4);
	bool seen = false;
	for (size_t i = 0; i < r.count; i++) {
		const sonde_agg_group *g = &r.groups[i];
		assert_int_equal(x.sum[i], g->sum_ns);
		if (strcmp(g->values[0], "db") == 0) {
			assert_string_equal(g->values[1], "SELECT");
			assert_int_equal(g->count, 2);
			assert_int_equal(g->errors, 1);
			assert_int_equal(g->sum_ns, 50 * MS);
			assert_int_equal(g->min_ns, 20 * MS);
			assert_int_equal(g->max_ns, 30 * MS);
			assert_int_equal(g->first_start_ns, T0 + 10 * MS);
			assert_int_equal(g->last_start_ns, T0 + 45 * MS);
			seen = true;
		}
	}
	assert_true(seen);
	sonde_agg_result_release(&r);

	/* By an attribute; spans without it form the "" group. */
	sonde_agg_key ak = {SONDE_KEY_ATTR, "http.route", 0};
	assert_int_equal(sonde_store_aggregate_spans(s, &q, &ak, 1, NULL, NULL, &r), 3);
	size_t empty = 0;
	for (size_t i = 0; i < r.count; i++)
		if (r.groups[i].values[0][0] == '\0')
			empty = r.groups[i].count;
	assert_int_equal(empty, 2);
	sonde_agg_result_release(&r);

	/* By parent service: the db spans are called from frontend. */
	sonde_agg_key pk[2] = {{SONDE_KEY_PARENT_SERVICE, NULL, 0}, {SONDE_KEY_SERVICE, NULL, 0}};
	sonde_query cq = {.service = "db"};
	assert_int_equal(sonde_store_aggregate_spans(s, &cq, pk, 2, NULL, NULL, &r), 1);
	assert_string_equal(r.groups[0].values[0], "frontend");
	assert_string_equal(r.groups[0].values[1], "db");
	sonde_agg_result_release(&r);

	/* The first non-empty of several attributes, for server spans only: the first root has
	 * a status code, the second only a route; the client spans get "" unread. A resource
	 * attribute counts when the span lacks the key. */
	sonde_agg_key any[2] = {
	        {SONDE_KEY_ATTR_ANY, "db.missing,http.status_code,http.route", 1u << SONDE_SPAN_KIND_SERVER},
	        {SONDE_KEY_ATTR_ANY, "nothing,service.name", 1u << SONDE_SPAN_KIND_CLIENT}};
	assert_int_equal(sonde_store_aggregate_spans(s, &q, any, 2, NULL, NULL, &r), 3);
	for (size_t i = 0; i < r.count; i++) {
		const sonde_agg_group *g = &r.groups[i];
		if (strcmp(g->values[0], "200") == 0)
			assert_string_equal(g->values[1], "");
		else if (strcmp(g->values[0], "/home") == 0)
			assert_string_equal(g->values[1], "");
		else if (strcmp(g->values[0], "") == 0) {
			assert_string_equal(g->values[1], "db");
			assert_int_equal(g->count, 2);
		} else
			fail_msg("unexpected group '%s'", g->values[0]);
	}
	sonde_agg_result_release(&r);

	/* No keys: one group. */
	assert_int_equal(sonde_store_aggregate_spans(s, &q, NULL, 0, NULL, NULL, &r), 1);
	assert_int_equal(r.groups[0].count, 4);
	sonde_agg_result_release(&r);
	sonde_batch_free(in);
	sonde_store_close(s);
}

static void test_prune(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *in = sample_batch();
	assert_int_equal(sonde_store_append(s, in, NULL, NULL), 0);
	sonde_prune_stats ps;
	/* Trace 1 starts at T0 (spans up to T0+100ms); trace 2 at T0+1s. */
	assert_int_equal(sonde_store_prune(s, T0 + 30 * MS, false, &ps), 0);
	assert_int_equal(ps.traces, 1);
	assert_int_equal(ps.spans, 3); /* the whole trace, its later spans too */
	assert_int_equal(ps.logs, 1);
	assert_int_equal(ps.points, 4);
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.spans, 1);
	assert_int_equal(info.traces, 1);
	assert_int_equal(info.logs, 1);
	assert_int_equal(info.points, 1);
	assert_int_equal(info.spans_min_ns, T0 + 1000 * MS);
	assert_int_equal(sonde_store_prune(s, T0 + 5000 * MS, true, &ps), 0);
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.spans + info.logs + info.points + info.traces, 0);
	/* Pruned data comes back when appended again. */
	sonde_append_stats st = {0};
	assert_int_equal(sonde_store_append(s, in, NULL, &st), 0);
	assert_int_equal(st.spans_added, 4);
	sonde_batch_free(in);
	sonde_store_close(s);
}

/* Whether the file at p holds the bytes m (a file that is not there holds nothing). */
static bool file_holds(const char *p, const char *m)
{
	FILE *f = fopen(p, "rb");
	if (!f)
		return false;
	size_t cap = 1 << 20, len = 0, n, mlen = strlen(m);
	char *data = malloc(cap);
	assert_non_null(data);
	while ((n = fread(data + len, 1, cap - len, f)) > 0) {
		len += n;
		if (len == cap) {
			cap *= 2;
			data = realloc(data, cap);
			assert_non_null(data);
		}
	}
	fclose(f);
	bool found = false;
	for (size_t i = 0; i + mlen <= len && !found; i++)
		found = memcmp(data + i, m, mlen) == 0;
	free(data);
	return found;
}

/* Appends run with secure_delete off (the stale copies they leave are of live rows);
 * what prune deletes is overwritten, not left in the file's free space. */
static void test_prune_overwrites(void **state)
{
	(void)state;
	const char *marker = "pruned-marker-7f3c9a";
	sonde_store *s = open_ok();
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = resource(b, "frontend");
	sonde_scope *sc = sonde_batch_new_scope(b);
	for (int i = 0; i < 200; i++) {
		sonde_span_data *sp = span(b, r, sc, 0x40 + i / 8, 1 + i, i % 8 ? i : 0, "GET", i, 5);
		sp->attrs.items = kvs(b, 1);
		sp->attrs.count = 1;
		set_str(b, &sp->attrs.items[0], "note", marker);
	}
	assert_int_equal(sonde_store_append(s, b, NULL, NULL), 0);
	sonde_store_close(s);
	char wal[sizeof path + 8];
	snprintf(wal, sizeof wal, "%s-wal", path);
	assert_true(file_holds(path, marker) || file_holds(wal, marker));
	s = open_ok();
	sonde_prune_stats ps;
	assert_int_equal(sonde_store_prune(s, T0 + 10000 * MS, false, &ps), 0);
	assert_int_equal(ps.spans, 200);
	sonde_store_close(s); /* the last close checkpoints the log into the file */
	assert_false(file_holds(path, marker));
	assert_false(file_holds(wal, marker));
	/* Appends go on after a prune (secure_delete back off, the store usable). */
	s = open_ok();
	sonde_append_stats st = {0};
	assert_int_equal(sonde_store_append(s, b, NULL, &st), 0);
	assert_int_equal(st.spans_added, 200);
	sonde_batch_free(b);
	sonde_store_close(s);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
}

/* A version 1 store (before the traces table) is migrated on open, and its spans show up
 * as traces. */
static void test_migration(void **state)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, sonde__store_sqlite_migration(0));
	/* Empty resource and scope encodings: no attributes, no dropped count, empty strings. */
	exec_sql(db,
	         "PRAGMA user_version = 1;"
	         "INSERT INTO strings VALUES(1, 'svc'), (2, 'root'), (3, 'child');"
	         "INSERT INTO resources VALUES(1, x'01', 1, x'000000');"
	         "INSERT INTO scopes VALUES(1, x'01', x'0000000000');"
	         "INSERT INTO spans VALUES(1, x'0102030405060708090a0b0c0d0e0f10', x'0000000000000001', NULL,"
	         " 1000, 500, 1, 2, 2, 0, 1, 1);"
	         "INSERT INTO spans VALUES(2, x'0102030405060708090a0b0c0d0e0f10', x'0000000000000002',"
	         " x'0000000000000001', 900, 700, 1, 3, 3, 2, 1, 1);");
	sqlite3_close(db);

	sonde_store *s = open_ok();
	sonde_trace_list l;
	sonde_query q = {0};
	assert_int_equal(sonde_store_find_traces(s, &q, &l), 1);
	assert_int_equal(l.items[0].span_count, 2);
	assert_int_equal(l.items[0].error_count, 1);
	assert_int_equal(l.items[0].start_ns, 900);
	assert_int_equal(l.items[0].duration_ns, 700);
	assert_true(l.items[0].has_root);
	assert_string_equal(l.items[0].root_operation, "root");
	sonde_trace_list_release(&l);
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.schema_version, sonde_store_schema_version());
	/* Spans without span_data rows read back with empty attributes. */
	sonde_batch *out = sonde_batch_new();
	uint8_t tid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	assert_int_equal(sonde_store_get_trace(s, tid, false, out), 2);
	assert_string_equal(out->spans[0].name.ptr, "child");
	sonde_batch_free(out);
	sonde_store_close(s);
}

static int64_t query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return v;
}

/* A version 2 store (spans keyed by trace id) is migrated to version 3 (spans clustered
 * by trace key): every span keeps its attributes, the trace summaries stay, and appending
 * to a migrated trace continues its range without duplicating what is there. */
static void test_migration_2_to_3(void **state)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, sonde__store_sqlite_migration(0));
	exec_sql(db, sonde__store_sqlite_migration(1));
	/* Trace 1 (two spans, ids 1 and 3, interleaved with trace 2's span id 2). */
	exec_sql(db,
	         "PRAGMA user_version = 2;"
	         "INSERT INTO strings VALUES(1, 'svc'), (2, 'root'), (3, 'child');"
	         "INSERT INTO resources VALUES(1, x'01', 1, x'000000');"
	         "INSERT INTO scopes VALUES(1, x'01', x'0000000000');"
	         "INSERT INTO spans VALUES(1, x'ab000000000000000000000000000001', x'ab00000000000001', NULL,"
	         " 1000, 500, 1, 2, 2, 0, 1, 1);"
	         "INSERT INTO spans VALUES(2, x'ab000000000000000000000000000002', x'ab00000000000009', NULL,"
	         " 5000, 100, 1, 2, 2, 0, 1, 1);"
	         "INSERT INTO spans VALUES(3, x'ab000000000000000000000000000001', x'ab00000000000002',"
	         " x'ab00000000000001', 1100, 300, 1, 3, 3, 2, 1, 1);"
	         "INSERT INTO span_data VALUES(3, NULL, NULL);"
	         "INSERT INTO traces VALUES(x'ab000000000000000000000000000001', 1000, 1500, 2, 1, 1, 1000, "
	         "1, 2);"
	         "INSERT INTO traces VALUES(x'ab000000000000000000000000000002', 5000, 5100, 1, 0, 1, 5000, "
	         "1, 2);");
	sqlite3_close(db);

	sonde_store *s = open_ok();
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.schema_version, sonde_store_schema_version());
	assert_int_equal(info.spans, 3);
	assert_int_equal(info.traces, 2);
	sonde_batch *out = sonde_batch_new();
	uint8_t t1[16];
	id_of(t1, 16, 1);
	assert_int_equal(sonde_store_get_trace(s, t1, false, out), 2);
	assert_int_equal(out->spans[0].start_ns, 1000);
	assert_int_equal(out->spans[1].start_ns, 1100);
	assert_int_equal(out->spans[1].parent_span_id[7], 1);
	assert_int_equal(out->spans[1].status_code, SONDE_STATUS_ERROR);
	/* Re-appending a stored span adds nothing; a new span of trace 1 lands in its range. */
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = resource(b, "svc");
	sonde_scope *sc = sonde_batch_new_scope(b);
	span(b, r, sc, 1, 2, 1, "child", 0, 1);
	span(b, r, sc, 1, 7, 1, "late", 0, 1);
	sonde_append_stats st = {0};
	assert_int_equal(sonde_store_append(s, b, NULL, &st), 0);
	assert_int_equal(st.spans_added, 1);
	assert_int_equal(st.spans_present, 1);
	sonde_batch_clear(out);
	assert_int_equal(sonde_store_get_trace(s, t1, false, out), 3);
	sonde_trace_list l;
	sonde_query q = {.trace_id = t1};
	assert_int_equal(sonde_store_find_traces(s, &q, &l), 1);
	assert_int_equal(l.items[0].span_count, 3);
	assert_int_equal(l.items[0].error_count, 1);
	sonde_trace_list_release(&l);
	sonde_batch_free(b);
	sonde_batch_free(out);
	sonde_store_close(s);

	/* The layout: one key per trace, the spans of a trace one rowid range, data rows by the
	 * same ids. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(query_int(db, "SELECT count(DISTINCT trace_key) FROM traces"), 2);
	assert_int_equal(query_int(db,
	                           "SELECT count(*) FROM spans s JOIN traces t ON t.trace_key = s.trace_key"
	                           " AND t.trace_id = s.trace_id WHERE s.id >> 24 = s.trace_key"),
	                 4);
	assert_int_equal(query_int(db, "SELECT count(*) FROM span_data d JOIN spans s ON s.id = d.id"), 2);
	assert_int_equal(
	        query_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
	sqlite3_close(db);
}

/* A batch of n log records, body "user N logged in" (i even) or "disk N full" (odd), one a
 * second from T0 + first seconds, with template ids 0xa1 / 0xb2 given in ids. */
static sonde_batch *template_logs(size_t first, size_t n, uint64_t *ids)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = resource(b, "api");
	sonde_scope *sc = sonde_batch_new_scope(b);
	for (size_t i = first; i < first + n; i++) {
		sonde_log_data *lg = sonde_batch_add_log(b, r, sc);
		lg->time_ns = T0 + i * 1000 * MS;
		lg->severity_number = 9;
		lg->body.kind = SONDE_VAL_STRING;
		char text[64];
		snprintf(text, sizeof text, i % 2 ? "disk %zu full" : "user %zu logged in", i);
		lg->body.u.str = sonde_batch_intern(b, text, strlen(text));
		ids[i - first] = i % 2 ? 0xb2 : 0xa1;
	}
	return b;
}

typedef struct tpl_seen {
	uint64_t id[4], count[4], first[4], last[4];
	char text[4][64];
	size_t n;
} tpl_seen;

static int collect_tpl(void *ctx, const sonde_log_template *t)
{
	tpl_seen *ts = ctx;
	if (ts->n == 4)
		return 1;
	ts->id[ts->n] = t->id;
	ts->count[ts->n] = t->count;
	ts->first[ts->n] = t->first_ns;
	ts->last[ts->n] = t->last_ns;
	snprintf(ts->text[ts->n], sizeof ts->text[0], "%.*s", (int)t->text_len, t->text);
	ts->n++;
	return 0;
}

static const sonde_log_template two_templates[] = {
        {.id = 0xa1, .text = "user <NUM> logged in", .text_len = 20},
        {.id = 0xb2, .text = "disk <NUM> full", .text_len = 15},
};

/* Log records go in 64 at a time; a statement whose records were partly stored before
 * tells the new ones apart. Records 0..99, then 50..149 at the same positions: 50 present,
 * 50 added, and the templates count each record once. */
static void test_logs_partly_stored(void **state)
{
	sonde_store *s = open_ok();
	uint64_t ids[100];
	sonde_batch *b = template_logs(0, 100, ids);
	sonde_append_opts ao = {.log_template_ids = ids, .templates = two_templates, .templates_count = 2};
	sonde_append_stats st = {0};
	assert_int_equal(sonde_store_append(s, b, &ao, &st), 0);
	assert_int_equal(st.logs_added, 100);
	sonde_batch_free(b);
	b = template_logs(50, 100, ids);
	ao.log_position = 50;
	memset(&st, 0, sizeof st);
	assert_int_equal(sonde_store_append(s, b, &ao, &st), 0);
	assert_int_equal(st.logs_added, 50);
	assert_int_equal(st.logs_present, 50);
	tpl_seen ts = {.n = 0};
	assert_int_equal(sonde_store_scan_templates(s, collect_tpl, &ts), 0);
	assert_int_equal(ts.n, 2);
	assert_int_equal(ts.count[0] + ts.count[1], 150);
	assert_int_equal(ts.count[0], 75);
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.logs, 150);
	/* In time order, each record once. */
	sonde_batch *out = sonde_batch_new();
	sonde_query q = {0};
	assert_int_equal(sonde_store_select_logs(s, &q, out), 150);
	for (size_t i = 0; i < out->logs_count; i++)
		assert_int_equal(out->logs[i].time_ns, T0 + i * 1000 * MS);
	sonde_batch_free(out);
	sonde_batch_free(b);
	sonde_store_close(s);
}

/* Template ids go in with the records, come back as a filter, and the templates' counts
 * and times cover the records added, so re-appending changes nothing. */
static void test_templates(void **state)
{
	sonde_store *s = open_ok();
	uint64_t ids[5];
	sonde_batch *b = template_logs(0, 5, ids);
	sonde_append_opts ao = {.log_template_ids = ids, .templates = two_templates, .templates_count = 2};
	sonde_append_stats st = {0};
	assert_int_equal(sonde_store_append(s, b, &ao, &st), 0);
	assert_int_equal(st.logs_added, 5);
	/* Again: nothing added, no count doubled. */
	assert_int_equal(sonde_store_append(s, b, &ao, &st), 0);
	assert_int_equal(st.logs_present, 5);
	tpl_seen ts = {.n = 0};
	assert_int_equal(sonde_store_scan_templates(s, collect_tpl, &ts), 0);
	assert_int_equal(ts.n, 2);
	assert_int_equal(ts.id[0], 0xa1); /* most records first */
	assert_int_equal(ts.count[0], 3);
	assert_string_equal(ts.text[0], "user <NUM> logged in");
	assert_int_equal(ts.first[0], T0);
	assert_int_equal(ts.last[0], T0 + 4000 * MS);
	assert_int_equal(ts.id[1], 0xb2);
	assert_int_equal(ts.count[1], 2);
	assert_int_equal(ts.first[1], T0 + 1000 * MS);
	assert_int_equal(ts.last[1], T0 + 3000 * MS);

	/* A later batch (the next positions) adds to the counts and widens the times. */
	sonde_batch *b2 = template_logs(5, 2, ids);
	ao.log_position = 5;
	assert_int_equal(sonde_store_append(s, b2, &ao, NULL), 0);
	ts.n = 0;
	assert_int_equal(sonde_store_scan_templates(s, collect_tpl, &ts), 0);
	assert_int_equal(ts.count[0], 4);
	assert_int_equal(ts.last[1], T0 + 5000 * MS);

	/* The filter. */
	sonde_batch *out = sonde_batch_new();
	sonde_query q = {.template_id = 0xb2};
	assert_int_equal(sonde_store_select_logs(s, &q, out), 3);
	for (size_t i = 0; i < out->logs_count; i++)
		assert_non_null(strstr(out->logs[i].body.u.str.ptr, "disk"));
	sonde_batch_clear(out);
	q.template_id = 0xc3;
	assert_int_equal(sonde_store_select_logs(s, &q, out), 0);

	/* An id used but not described fails the append, which then stores nothing. */
	sonde_batch *b3 = template_logs(10, 2, ids);
	ids[0] = 0xc3;
	ao.log_position = 10;
	assert_int_equal(sonde_store_append(s, b3, &ao, NULL), -EINVAL);
	assert_non_null(strstr(sonde_store_errmsg(s), "not described"));
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.logs, 7);
	sonde_batch_free(out);
	sonde_batch_free(b3);
	sonde_batch_free(b2);
	sonde_batch_free(b);
	sonde_store_close(s);
}

/* A version 3 store (no templates) is migrated to version 4: its log records stay and
 * have no template; new ones get theirs. */
static void test_migration_3_to_4(void **state)
{
	/* A version 3 store with a record: one written now, taken back to the version 3
	 * layout (what the 3 -> 4 migration adds, removed). */
	sonde_store *s = open_ok();
	uint64_t ids[2];
	sonde_batch *b = template_logs(0, 1, ids);
	assert_int_equal(sonde_store_append(s, b, NULL, NULL), 0);
	sonde_batch_free(b);
	sonde_store_close(s);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db,
	         "DROP TABLE templates; ALTER TABLE logs DROP COLUMN template_id; PRAGMA user_version = 3;");
	sqlite3_close(db);

	s = open_ok();
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.schema_version, sonde_store_schema_version());
	assert_int_equal(info.logs, 1);
	sonde_batch *out = sonde_batch_new();
	sonde_query q = {0};
	assert_int_equal(sonde_store_select_logs(s, &q, out), 1);
	assert_string_equal(out->logs[0].body.u.str.ptr, "user 0 logged in");
	tpl_seen ts = {.n = 0};
	assert_int_equal(sonde_store_scan_templates(s, collect_tpl, &ts), 0);
	assert_int_equal(ts.n, 0);
	b = template_logs(1, 2, ids);
	sonde_append_opts ao = {.log_template_ids = ids, .templates = two_templates, .templates_count = 2};
	assert_int_equal(sonde_store_append(s, b, &ao, NULL), 0);
	sonde_batch_clear(out);
	q.template_id = 0xa1;
	assert_int_equal(sonde_store_select_logs(s, &q, out), 1); /* the old record has none */
	assert_int_equal(out->logs[0].time_ns, T0 + 2000 * MS);
	sonde_batch_free(b);
	sonde_batch_free(out);
	sonde_store_close(s);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(query_int(db, "SELECT count(*) FROM logs WHERE template_id IS NULL"), 1);
	assert_int_equal(
	        query_int(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
	sqlite3_close(db);
}

static void expect_open_error(int want, const char *msg_part)
{
	sonde_store *s = NULL;
	char msg[256];
	int rc = sonde_store_open(path, 0, &s, msg, sizeof msg);
	if (rc != want || !strstr(msg, msg_part))
		fail_msg("open: rc %d (want %d), message '%s' (want '%s')", rc, want, msg, msg_part);
	assert_null(s);
}

static void test_bad_files(void **state)
{
	FILE *f = fopen(path, "wb");
	for (int i = 0; i < 200; i++)
		fputs("this is not a database at all\n", f);
	fclose(f);
	expect_open_error(SONDE_EFORMAT, "not a sonde store");
	expect_open_error(SONDE_EFORMAT, path);

	unlink(path);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "CREATE TABLE customers(id INTEGER)");
	sqlite3_close(db);
	expect_open_error(SONDE_EFORMAT, "not a sonde store");

	unlink(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "PRAGMA user_version = 99");
	sqlite3_close(db);
	expect_open_error(SONDE_EFORMAT, "newer than this sonde");

	unlink(path);
	sonde_store *s = NULL;
	char msg[256];
	assert_int_equal(sonde_store_open(path, SONDE_STORE_NOCREATE, &s, msg, sizeof msg), -ENOENT);
	assert_int_equal(sonde_store_open("mongodb://localhost:27017/x", 0, &s, msg, sizeof msg),
	                 SONDE_EUNSUPPORTED);
	assert_non_null(strstr(msg, "unknown store scheme"));
}

/* A damaged attribute blob makes reading fail with a message, not crash. */
static void test_damaged_record(void **state)
{
	sonde_store *s = open_ok();
	sonde_batch *in = sample_batch();
	assert_int_equal(sonde_store_append(s, in, NULL, NULL), 0);
	sonde_store_close(s);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	exec_sql(db, "UPDATE span_data SET attrs = x'05ff' WHERE attrs IS NOT NULL");
	exec_sql(db, "UPDATE span_data SET rest = x'ffffffffffffffffffffff' WHERE attrs IS NULL");
	sqlite3_close(db);
	s = open_ok();
	sonde_batch *out = sonde_batch_new();
	uint8_t t1[16];
	id_of(t1, 16, 1);
	assert_int_equal(sonde_store_get_trace(s, t1, false, out), SONDE_EFORMAT);
	assert_non_null(strstr(sonde_store_errmsg(s), "damaged"));
	assert_int_equal(out->spans_count, 0);
	/* The narrow columns still read. */
	sonde_query q = {0};
	assert_int_equal(sonde_store_select_spans(s, &q, SONDE_FIELDS_BASE, out), 4);
	sonde_batch_free(out);
	sonde_batch_free(in);
	sonde_store_close(s);
}

/* A read-only handle reads, refuses writes, and sees what another handle committed. */
static void test_two_handles(void **state)
{
	sonde_store *w = open_ok();
	sonde_store *r = NULL;
	char msg[256];
	assert_int_equal(sonde_store_open(path, SONDE_STORE_READONLY, &r, msg, sizeof msg), 0);
	sonde_batch *in = sample_batch();
	assert_int_equal(sonde_store_append(r, in, NULL, NULL), -EROFS);
	assert_int_equal(sonde_store_append(w, in, NULL, NULL), 0);
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(r, &info), 0);
	assert_int_equal(info.spans, 4);
	sonde_batch_free(in);
	sonde_store_close(r);
	sonde_store_close(w);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_round_trip),
	        T(test_idempotent),
	        T(test_trace_across_batches),
	        T(test_multi_row_append),
	        T(test_filters),
	        T(test_scan_stops),
	        T(test_aggregate),
	        T(test_prune),
	        T(test_prune_overwrites),
	        T(test_migration),
	        T(test_migration_2_to_3),
	        T(test_bad_files),
	        T(test_damaged_record),
	        T(test_two_handles),
	        T(test_templates),
	        T(test_logs_partly_stored),
	        T(test_migration_3_to_4),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
