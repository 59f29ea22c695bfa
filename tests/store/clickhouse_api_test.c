/*
 * clickhouse_api_test.c - the ClickHouse backend through store.h, against the SQLite
 * backend as the reference: the same batch (every kind of span, log and metric part,
 * attributes of every value kind) is appended to both, twice, and every read of store.h
 * (select and scan of spans, logs, points, get_trace, find_traces, aggregate_spans)
 * under a list of filters must give the same records, serialised as OTLP JSON, in the
 * same order. The RowBinary writer and reader are checked on their own too, and
 * ClickHouse's exceptions must become the store's messages.
 *
 * Needs a server: SONDE_CH_URI=clickhouse://127.0.0.1:PORT/DB (a new database);
 * tests/store/clickhouse_test.sh starts one and runs this. Without it: skipped (77).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlp_json.h"
#include "store.h"
#include "store_clickhouse_internal.h"

#define MS 1000000ull
#define T0 1700000000000000000ull

static const char *ch_uri;
static char dir[64], path[128];
static sonde_store *sq, *ch;

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

static sonde_resource *resource(sonde_batch *b, const char *service, const char *zone)
{
	sonde_resource *r = sonde_batch_new_resource(b);
	r->attrs.items = kvs(b, 2);
	r->attrs.count = 2;
	set_str(b, &r->attrs.items[0], "service.name", service);
	set_str(b, &r->attrs.items[1], "cloud.zone", zone);
	return r;
}

static void id_of(uint8_t *out, size_t n, unsigned v)
{
	memset(out, 0, n);
	out[n - 1] = (uint8_t)v;
	out[0] = 0xab;
	out[1] = '\''; /* a quote and a backslash in every id: literals must escape them */
	out[2] = '\\';
}

/* Three traces over three services; every span part; logs with string and other bodies,
 * with and without trace ids, at equal times; a metric of each type. */
static sonde_batch *sample(void)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[3] = {resource(b, "frontend", "a"), resource(b, "db", "b"),
	                          resource(b, "it's", "a")};
	sonde_scope *sc = sonde_batch_new_scope(b);
	sc->name = SONDE_STR_LIT("lib");
	sc->version = SONDE_STR_LIT("1.2");
	static const char *const names[] = {"GET /cart", "SELECT", "redis GET", "POST /pay\\x"};
	for (unsigned i = 0; i < 24; i++) {
		unsigned t = 1 + i / 8, k = i % 8;
		sonde_span_data *sp = sonde_batch_add_span(b, res[(i / 3) % 3], sc);
		id_of(sp->trace_id, 16, t);
		id_of(sp->span_id, 8, 1 + k);
		if (k)
			id_of(sp->parent_span_id, 8, k < 4 ? 1 : k - 2);
		sp->name = sonde_batch_intern(b, names[i % 4], strlen(names[i % 4]));
		/* Equal start times in a trace and across traces. */
		sp->start_ns = T0 + (uint64_t)(t * 1000 + (k / 2) * 10) * MS;
		sp->end_ns = sp->start_ns + (uint64_t)(5 + (i * 7) % 40) * MS;
		sp->kind = k ? (k % 2 ? SONDE_SPAN_KIND_CLIENT : SONDE_SPAN_KIND_INTERNAL)
		             : SONDE_SPAN_KIND_SERVER;
		sp->status_code = i % 5 == 2   ? SONDE_STATUS_ERROR
		                  : i % 5 == 3 ? SONDE_STATUS_OK
		                               : SONDE_STATUS_UNSET;
		if (sp->status_code == SONDE_STATUS_ERROR)
			sp->status_message = SONDE_STR_LIT("deadlock");
		sp->attrs.items = kvs(b, 5);
		sp->attrs.count = 3;
		set_str(b, &sp->attrs.items[0], "http.route", i % 2 ? "/cart" : "/home");
		set_int(b, &sp->attrs.items[1], "http.status_code", i % 3 ? 200 : 503);
		sp->attrs.items[2].key = SONDE_STR_LIT("ratio");
		sp->attrs.items[2].value.kind = i % 2 ? SONDE_VAL_DOUBLE : SONDE_VAL_BOOL;
		if (i % 2)
			sp->attrs.items[2].value.u.d = 0.1 * i;
		else
			sp->attrs.items[2].value.u.b = i % 4 == 0;
		if (k % 2) {
			set_str(b, &sp->attrs.items[sp->attrs.count++], i % 3 ? "peer.service" : "db.system",
			        i % 3 ? "users" : "postgresql");
		}
		if (i % 4 == 1) {
			sonde_kv *kv = &sp->attrs.items[sp->attrs.count++];
			kv->key = SONDE_STR_LIT("list");
			kv->value.kind = SONDE_VAL_ARRAY;
			kv->value.u.array.items = sonde_batch_alloc(b, 2 * sizeof(sonde_value));
			kv->value.u.array.count = 2;
			kv->value.u.array.items[0].kind = SONDE_VAL_INT;
			kv->value.u.array.items[0].u.i = -3;
			kv->value.u.array.items[1].kind = SONDE_VAL_STRING;
			kv->value.u.array.items[1].u.str = SONDE_STR_LIT("x\ny");
		}
		if (k == 0) {
			sp->trace_state = SONDE_STR_LIT("k=v");
			sp->flags = 0x301;
			sp->events = sonde_batch_alloc(b, sizeof(sonde_span_event));
			sp->events_count = 1;
			sp->events[0].name = SONDE_STR_LIT("exception");
			sp->events[0].time_ns = sp->start_ns + MS;
			sp->links = sonde_batch_alloc(b, sizeof(sonde_span_link));
			sp->links_count = 1;
			id_of(sp->links[0].trace_id, 16, 9);
			id_of(sp->links[0].span_id, 8, 9);
		}
	}
	for (unsigned i = 0; i < 8; i++) {
		sonde_log_data *lg = sonde_batch_add_log(b, res[i % 3], sc);
		lg->time_ns = T0 + (uint64_t)(1000 + (i / 3) * 10) * MS; /* equal times */
		lg->severity_number = (int32_t)(5 + 4 * (i % 5));
		lg->body.kind = i == 5 ? SONDE_VAL_INT : SONDE_VAL_STRING;
		if (i == 5)
			lg->body.u.i = 42;
		else
			lg->body.u.str =
			        i % 2 ? SONDE_STR_LIT("deadlock detected") : SONDE_STR_LIT("served '/cart'");
		if (i % 2)
			id_of(lg->trace_id, 16, 1 + i % 3);
		lg->attrs.items = kvs(b, 1);
		lg->attrs.count = 1;
		set_str(b, &lg->attrs.items[0], "db.table", i % 2 ? "carts" : "users");
	}
	sonde_metric_data *g = sonde_batch_add_metric(b, res[0], sc);
	g->name = SONDE_STR_LIT("queue_depth");
	g->type = SONDE_METRIC_GAUGE;
	g->unit = SONDE_STR_LIT("1");
	g->points = sonde_batch_alloc(b, 4 * sizeof(sonde_point));
	g->points_count = 4;
	for (int i = 0; i < 4; i++) {
		g->points[i].time_ns = T0 + (uint64_t)(i / 2) * 1000 * MS;
		g->points[i].attrs.items = kvs(b, 1);
		g->points[i].attrs.count = 1;
		set_str(b, &g->points[i].attrs.items[0], "queue", i % 2 ? "b" : "a");
		g->points[i].u.number.kind = i ? SONDE_NUM_DOUBLE : SONDE_NUM_INT;
		if (i)
			g->points[i].u.number.v.d = 2.5 * i;
		else
			g->points[i].u.number.v.i = 7;
	}
	sonde_metric_data *h = sonde_batch_add_metric(b, res[1], sc);
	h->name = SONDE_STR_LIT("latency");
	h->type = SONDE_METRIC_HISTOGRAM;
	h->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	h->points = sonde_batch_alloc(b, sizeof(sonde_point));
	h->points_count = 1;
	h->points[0].time_ns = T0;
	h->points[0].start_time_ns = T0 - 1000 * MS;
	h->points[0].u.hist.count = 5;
	h->points[0].u.hist.has_sum = true;
	h->points[0].u.hist.sum = 12.5;
	static uint64_t counts[3] = {1, 3, 1};
	static double bounds[2] = {1, 10};
	h->points[0].u.hist.bucket_counts = counts;
	h->points[0].u.hist.bucket_counts_count = 3;
	h->points[0].u.hist.bounds = bounds;
	h->points[0].u.hist.bounds_count = 2;
	return b;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/sonde-ch-api-test-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/t.db", dir);
	char msg[320];
	if (sonde_store_open(path, 0, &sq, msg, sizeof msg) != 0 ||
	    sonde_store_open(ch_uri, 0, &ch, msg, sizeof msg) != 0) {
		fprintf(stderr, "open: %s\n", msg);
		return -1;
	}
	sonde_batch *b = sample();
	for (int round = 0; round < 2; round++) {
		sonde_append_stats a = {0}, c = {0};
		if (sonde_store_append(sq, b, NULL, &a) != 0 || sonde_store_append(ch, b, NULL, &c) != 0) {
			fprintf(stderr, "append: %s %s\n", sonde_store_errmsg(sq), sonde_store_errmsg(ch));
			sonde_batch_free(b);
			return -1;
		}
		if (memcmp(&a, &c, sizeof a) != 0 ||
		    (round == 0 ? a.spans_added != 24 : a.spans_present != 24)) {
			fprintf(stderr, "append %d: stats differ (sqlite %llu/%llu, clickhouse %llu/%llu)\n",
			        round, (unsigned long long)a.spans_added, (unsigned long long)a.spans_present,
			        (unsigned long long)c.spans_added, (unsigned long long)c.spans_present);
			sonde_batch_free(b);
			return -1;
		}
	}
	sonde_batch_free(b);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sonde_store_close(sq);
	sonde_store_close(ch);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Asserts two serialisations are equal, printing both when not. */
static void same(const char *what, int i, const sonde_buf *a, const sonde_buf *b)
{
	if (a->len != b->len || memcmp(a->data, b->data, a->len) != 0)
		fail_msg("%s, query %d:\nsqlite:     %.*s\nclickhouse: %.*s", what, i, (int)a->len, a->data,
		         (int)b->len, b->data);
}

static void json_of(const sonde_batch *b, sonde_signal sig, sonde_buf *out)
{
	sonde_buf_reset(out);
	assert_int_equal(sonde_otlp_json_write(b, sig, out, 0), 0);
}

static uint8_t trace1[16], trace_none[16];

/* The queries every read is run with. */
static sonde_query queries(int i, bool *last)
{
	static const sonde_attr_match route = {"http.route", "/cart"}, zone = {"cloud.zone", "a"},
	                              has_peer = {"peer.service", NULL}, table = {"db.table", "carts"},
	                              queue = {"queue", "b"};
	sonde_query q = {0};
	switch (i) {
	case 0: break;
	case 1: q.service = "db"; break;
	case 2: q.operation = "SELECT", q.sort = SONDE_SORT_DURATION_DESC; break;
	case 3:
		q.since_ns = T0 + 1010 * MS, q.until_ns = T0 + 2020 * MS, q.sort = SONDE_SORT_TIME_DESC;
		break;
	case 4:
		q.min_duration_ns = 20 * MS, q.max_duration_ns = 35 * MS, q.sort = SONDE_SORT_DURATION_ASC;
		break;
	case 5: q.errors_only = true; break;
	case 6: q.kinds = 1u << SONDE_SPAN_KIND_CLIENT, q.limit = 5; break;
	case 7: q.roots_only = true; break;
	case 8: q.trace_id = trace1; break;
	case 9: q.attrs = &route, q.attrs_count = 1; break;
	case 10: q.attrs = &zone, q.attrs_count = 1, q.service = "it's"; break;
	case 11: q.attrs = &has_peer, q.attrs_count = 1; break;
	case 12: q.trace_id = trace_none; break;
	case 13: q.service = "nobody"; break;
	case 14: q.min_severity = 13, q.text = "dead"; break;
	case 15: q.attrs = &table, q.attrs_count = 1, q.sort = SONDE_SORT_TIME_DESC; break;
	case 16: q.operation = "queue_depth", q.attrs = &queue, q.attrs_count = 1; break;
	default: q.limit = 3, *last = true; break;
	}
	return q;
}

static int count_span(void *ctx, const sonde_span_data *sp)
{
	sonde_batch *b = ctx;
	sonde_span_data *c = sonde_batch_add_span(b, sp->resource, sp->scope);
	*c = *sp;
	/* Scanned records live during the call only: keep copies of what JSON reads. */
	c->name = sonde_batch_strdup(b, sp->name.ptr, sp->name.len);
	c->attrs = (sonde_attrs){0};
	c->events_count = 0;
	c->links_count = 0;
	c->status_message = (sonde_str){0};
	c->trace_state = (sonde_str){0};
	c->resource = NULL;
	c->scope = NULL;
	return b->spans_count == 100 ? 7 : 0;
}

static void test_spans(void **state)
{
	(void)state;
	sonde_buf a = SONDE_BUF_INIT, c = SONDE_BUF_INIT;
	bool last = false;
	for (int i = 0; !last; i++) {
		sonde_query q = queries(i, &last);
		for (unsigned fields = 0; fields < 2; fields++) {
			sonde_batch *x = sonde_batch_new(), *y = sonde_batch_new();
			ssize_t nx = sonde_store_select_spans(sq, &q, fields, x),
			        ny = sonde_store_select_spans(ch, &q, fields, y);
			assert_true(nx >= 0);
			if (ny != nx)
				fail_msg("query %d: %zd spans from sqlite, %zd from clickhouse (%s)", i, nx,
				         ny, sonde_store_errmsg(ch));
			json_of(x, SONDE_SIGNAL_TRACES, &a);
			json_of(y, SONDE_SIGNAL_TRACES, &c);
			same("select_spans", i, &a, &c);
			sonde_batch_free(x);
			sonde_batch_free(y);
		}
		/* A scan sees the records of the select, in time order (no sort asked). */
		if (q.sort == SONDE_SORT_DEFAULT) {
			sonde_batch *x = sonde_batch_new(), *y = sonde_batch_new();
			assert_int_equal(sonde_store_select_spans(sq, &q, SONDE_FIELDS_BASE, x) >= 0, 1);
			int rc = sonde_store_scan_spans(ch, &q, SONDE_FIELDS_BASE, count_span, y);
			assert_int_equal(rc, 0);
			assert_int_equal(x->spans_count, y->spans_count);
			for (size_t k = 0; k < x->spans_count; k++) {
				assert_memory_equal(x->spans[k].span_id, y->spans[k].span_id, 8);
				assert_int_equal(x->spans[k].end_ns, y->spans[k].end_ns);
			}
			sonde_batch_free(x);
			sonde_batch_free(y);
		}
	}
	sonde_buf_release(&a);
	sonde_buf_release(&c);
}

static void test_traces(void **state)
{
	(void)state;
	bool last = false;
	for (int i = 0; !last; i++) {
		sonde_query q = queries(i, &last);
		sonde_trace_list x, y;
		ssize_t nx = sonde_store_find_traces(sq, &q, &x), ny = sonde_store_find_traces(ch, &q, &y);
		if (nx != ny)
			fail_msg("query %d: %zd traces from sqlite, %zd from clickhouse (%s)", i, nx, ny,
			         sonde_store_errmsg(ch));
		for (size_t k = 0; k < x.count; k++) {
			const sonde_trace_summary *s = &x.items[k], *t = &y.items[k];
			assert_memory_equal(s->trace_id, t->trace_id, 16);
			assert_int_equal(s->start_ns, t->start_ns);
			assert_int_equal(s->duration_ns, t->duration_ns);
			assert_int_equal(s->span_count, t->span_count);
			assert_int_equal(s->error_count, t->error_count);
			assert_int_equal(s->has_root, t->has_root);
			assert_string_equal(s->root_service, t->root_service);
			assert_string_equal(s->root_operation, t->root_operation);
			assert_int_equal(s->services_count, t->services_count);
			for (size_t j = 0; j < s->services_count; j++)
				assert_string_equal(s->services[j], t->services[j]);
		}
		sonde_trace_list_release(&x);
		sonde_trace_list_release(&y);
	}
	sonde_buf a = SONDE_BUF_INIT, c = SONDE_BUF_INIT;
	for (unsigned t = 0; t <= 4; t++) {
		uint8_t id[16];
		id_of(id, 16, t);
		sonde_batch *x = sonde_batch_new(), *y = sonde_batch_new();
		assert_int_equal(sonde_store_get_trace(sq, id, true, x),
		                 sonde_store_get_trace(ch, id, true, y));
		json_of(x, SONDE_SIGNAL_TRACES, &a);
		json_of(y, SONDE_SIGNAL_TRACES, &c);
		same("get_trace spans", (int)t, &a, &c);
		json_of(x, SONDE_SIGNAL_LOGS, &a);
		json_of(y, SONDE_SIGNAL_LOGS, &c);
		same("get_trace logs", (int)t, &a, &c);
		sonde_batch_free(x);
		sonde_batch_free(y);
	}
	sonde_buf_release(&a);
	sonde_buf_release(&c);
}

static int keep_log(void *ctx, const sonde_log_data *lg)
{
	sonde_buf *out = ctx;
	sonde_buf_printf(out, "%d %llu|", lg->severity_number, (unsigned long long)lg->time_ns);
	return 0;
}

static int keep_point(void *ctx, const sonde_metric_data *m)
{
	sonde_buf *out = ctx;
	sonde_buf_printf(out, "%.*s %llu %u|", (int)m->name.len, m->name.ptr,
	                 (unsigned long long)m->points[0].time_ns, m->points_count);
	return 0;
}

static void test_logs_points(void **state)
{
	(void)state;
	sonde_buf a = SONDE_BUF_INIT, c = SONDE_BUF_INIT;
	bool last = false;
	for (int i = 0; !last; i++) {
		sonde_query q = queries(i, &last);
		sonde_batch *x = sonde_batch_new(), *y = sonde_batch_new();
		ssize_t nx = sonde_store_select_logs(sq, &q, x), ny = sonde_store_select_logs(ch, &q, y);
		if (nx != ny)
			fail_msg("query %d: %zd logs from sqlite, %zd from clickhouse (%s)", i, nx, ny,
			         sonde_store_errmsg(ch));
		json_of(x, SONDE_SIGNAL_LOGS, &a);
		json_of(y, SONDE_SIGNAL_LOGS, &c);
		same("select_logs", i, &a, &c);
		nx = sonde_store_select_points(sq, &q, x);
		ny = sonde_store_select_points(ch, &q, y);
		if (nx != ny)
			fail_msg("query %d: %zd points from sqlite, %zd from clickhouse (%s)", i, nx, ny,
			         sonde_store_errmsg(ch));
		json_of(x, SONDE_SIGNAL_METRICS, &a);
		json_of(y, SONDE_SIGNAL_METRICS, &c);
		same("select_points", i, &a, &c);
		sonde_batch_free(x);
		sonde_batch_free(y);
		if (q.sort == SONDE_SORT_DEFAULT) {
			sonde_buf_reset(&a);
			sonde_buf_reset(&c);
			assert_int_equal(sonde_store_scan_logs(sq, &q, keep_log, &a), 0);
			assert_int_equal(sonde_store_scan_logs(ch, &q, keep_log, &c), 0);
			same("scan_logs", i, &a, &c);
			sonde_buf_reset(&a);
			sonde_buf_reset(&c);
			assert_int_equal(sonde_store_scan_points(sq, &q, keep_point, &a), 0);
			assert_int_equal(sonde_store_scan_points(ch, &q, keep_point, &c), 0);
			same("scan_points", i, &a, &c);
		}
	}
	sonde_buf_release(&a);
	sonde_buf_release(&c);
}

typedef struct vals {
	uint64_t sum[64], n[64], errs[64];
} vals;

static int on_value(void *ctx, size_t g, uint64_t d, bool err)
{
	vals *v = ctx;
	if (g < 64) {
		v->sum[g] += d;
		v->n[g]++;
		v->errs[g] += err;
	}
	return 0;
}

/* A group as a line of text, to compare sets of groups whatever their order. */
static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void groups_text(const sonde_agg_result *r, size_t nkeys, const vals *v, sonde_buf *out)
{
	char **lines = calloc(r->count + 1, sizeof *lines);
	for (size_t g = 0; g < r->count; g++) {
		sonde_buf l = SONDE_BUF_INIT;
		for (size_t k = 0; k < nkeys; k++)
			sonde_buf_printf(&l, "%s|", r->groups[g].values[k]);
		const sonde_agg_group *x = &r->groups[g];
		sonde_buf_printf(&l, "%llu %llu %llu %llu %llu %llu %llu", (unsigned long long)x->count,
		                 (unsigned long long)x->errors, (unsigned long long)x->sum_ns,
		                 (unsigned long long)x->min_ns, (unsigned long long)x->max_ns,
		                 (unsigned long long)x->first_start_ns, (unsigned long long)x->last_start_ns);
		if (g < 64)
			sonde_buf_printf(&l, " v %llu %llu %llu", (unsigned long long)v->sum[g],
			                 (unsigned long long)v->n[g], (unsigned long long)v->errs[g]);
		sonde_buf_putc(&l, '\0');
		lines[g] = l.data;
	}
	qsort(lines, r->count, sizeof *lines, cmp_line);
	sonde_buf_reset(out);
	for (size_t g = 0; g < r->count; g++) {
		sonde_buf_puts(out, lines[g]);
		sonde_buf_putc(out, '\n');
		free(lines[g]);
	}
	free(lines);
}

static void test_aggregate(void **state)
{
	(void)state;
	static const sonde_agg_key sets[][4] = {
	        {{SONDE_KEY_SERVICE, NULL, 0}, {SONDE_KEY_OPERATION, NULL, 0}},
	        {{SONDE_KEY_KIND, NULL, 0}, {SONDE_KEY_STATUS, NULL, 0}},
	        {{SONDE_KEY_ATTR, "http.route", 0},
	         {SONDE_KEY_ATTR, "cloud.zone", 0},
	         {SONDE_KEY_ATTR, "list", 0}},
	        {{SONDE_KEY_SERVICE, NULL, 0},
	         {SONDE_KEY_KIND, NULL, 0},
	         {SONDE_KEY_ATTR_ANY, "peer.service,db.system,cloud.zone", 1u << SONDE_SPAN_KIND_CLIENT}},
	        {{SONDE_KEY_PARENT_SERVICE, NULL, 0}, {SONDE_KEY_SERVICE, NULL, 0}},
	        {{SONDE_KEY_ATTR, "ratio", 0}, {SONDE_KEY_ATTR_ANY, "nothing", 0}},
	};
	static const size_t nkeys[] = {2, 2, 3, 3, 2, 2};
	sonde_buf a = SONDE_BUF_INIT, c = SONDE_BUF_INIT;
	for (size_t k = 0; k < sizeof nkeys / sizeof nkeys[0] + 1; k++) {
		size_t nk = k < sizeof nkeys / sizeof nkeys[0] ? nkeys[k] : 0;
		bool last = false;
		for (int i = 0; !last; i++) {
			sonde_query q = queries(i, &last);
			sonde_agg_result x, y;
			vals vx = {0}, vy = {0};
			ssize_t nx = sonde_store_aggregate_spans(sq, &q, sets[k % 6], nk, on_value, &vx, &x);
			ssize_t ny = sonde_store_aggregate_spans(ch, &q, sets[k % 6], nk, on_value, &vy, &y);
			if (nx != ny)
				fail_msg(
				        "keys %zu query %d: %zd groups from sqlite, %zd from clickhouse (%s)",
				        k, i, nx, ny, sonde_store_errmsg(ch));
			groups_text(&x, nk, &vx, &a);
			groups_text(&y, nk, &vy, &c);
			same("aggregate_spans", (int)(k * 100 + (size_t)i), &a, &c);
			sonde_agg_result_release(&x);
			sonde_agg_result_release(&y);
		}
	}
	sonde_buf_release(&a);
	sonde_buf_release(&c);
}

static void test_info(void **state)
{
	(void)state;
	sonde_store_info x, y;
	assert_int_equal(sonde_store_info_get(sq, &x), 0);
	assert_int_equal(sonde_store_info_get(ch, &y), 0);
	assert_string_equal(y.backend, "clickhouse");
	assert_int_equal(x.spans, y.spans);
	assert_int_equal(x.traces, y.traces);
	assert_int_equal(x.logs, y.logs);
	assert_int_equal(x.points, y.points);
	assert_int_equal(x.series, y.series);
	assert_int_equal(x.services, y.services);
	assert_int_equal(x.spans_min_ns, y.spans_min_ns);
	assert_int_equal(x.spans_max_ns, y.spans_max_ns);
	assert_int_equal(x.logs_min_ns, y.logs_min_ns);
	assert_int_equal(x.points_max_ns, y.points_max_ns);
}

static int count_rows(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	sonde__rb_u64(r);
	sonde__rb_u8(r);
	if (!r->short_)
		++*(uint64_t *)ctx;
	return 0;
}

/* ClickHouse's exceptions become the store's message: one before the first row (HTTP
 * 500), and one met after rows were sent (HTTP 200, text at the end of the body). */
static void test_errors(void **state)
{
	(void)state;
	ch_store *s = (ch_store *)ch;
	uint64_t n = 0;
	int rc = sonde__ch_select(s, s->curl, "SELECT nosuchcolumn FROM spans", count_rows, &n, "reading");
	assert_int_equal(rc, -EIO);
	if (!strstr(sonde_store_errmsg(ch), "ClickHouse says: ") ||
	    !strstr(sonde_store_errmsg(ch), "nosuchcolumn"))
		fail_msg("message: %s", sonde_store_errmsg(ch));
	n = 0;
	rc = sonde__ch_select(s, s->curl,
	                      "SELECT number, throwIf(number = 300000) FROM system.numbers LIMIT 1000000",
	                      count_rows, &n, "reading");
	assert_int_equal(rc, -EIO);
	if (!strstr(sonde_store_errmsg(ch), "throwIf"))
		fail_msg("message: %s", sonde_store_errmsg(ch));
	n = 0;
	rc = sonde__ch_select(s, s->curl, "SELECT number, toUInt8(1) FROM system.numbers LIMIT 1000000",
	                      count_rows, &n, "reading");
	assert_int_equal(rc, 0);
	assert_int_equal(n, 1000000);
}

/* RowBinary: what the writer writes, the reader reads back; a cut row is short. */
static void test_rowbinary(void **state)
{
	(void)state;
	sonde_buf b = SONDE_BUF_INIT;
	sonde__rbw_u8(&b, 0xfe);
	sonde__rbw_u64(&b, 0x0102030405060708ull);
	sonde__rbw_i32(&b, -5);
	sonde__rbw_f64(&b, 0.1);
	char big[300];
	memset(big, 'x', sizeof big);
	sonde__rbw_str(&b, big, sizeof big);
	sonde__rbw_str(&b, "", 0);
	assert_int_equal(b.len, 1 + 8 + 4 + 8 + 2 + 300 + 1);
	assert_int_equal((uint8_t)b.data[1], 0x08);  /* little-endian */
	assert_int_equal((uint8_t)b.data[21], 0xac); /* LEB128 of 300: ac 02 */
	assert_int_equal((uint8_t)b.data[22], 0x02);
	for (size_t cut = 0; cut <= b.len; cut++) {
		sonde__rb r = {(const uint8_t *)b.data, (const uint8_t *)b.data + cut, false, false};
		uint8_t u8 = sonde__rb_u8(&r);
		uint64_t u64 = sonde__rb_u64(&r);
		int32_t i32 = sonde__rb_i32(&r);
		double d = sonde__rb_f64(&r);
		size_t n1, n2;
		const uint8_t *s1 = sonde__rb_str(&r, &n1);
		sonde__rb_str(&r, &n2);
		assert_false(r.bad);
		if (cut < b.len) {
			assert_true(r.short_);
			continue;
		}
		assert_false(r.short_);
		assert_int_equal(u8, 0xfe);
		assert_int_equal(u64, 0x0102030405060708ull);
		assert_int_equal(i32, -5);
		assert_true(d == 0.1);
		assert_int_equal(n1, 300);
		assert_memory_equal(s1, big, 300);
		assert_int_equal(n2, 0);
	}
	/* A string longer than anything ClickHouse sends is refused, not read. */
	static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x0f};
	sonde__rb r = {huge, huge + sizeof huge, false, false};
	size_t n;
	sonde__rb_str(&r, &n);
	assert_true(r.bad || r.short_);
	sonde_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest unit[] = {cmocka_unit_test(test_rowbinary)};
	int rc = cmocka_run_group_tests(unit, NULL, NULL);
	ch_uri = getenv("SONDE_CH_URI");
	if (!ch_uri || !ch_uri[0]) {
		printf("skip: SONDE_CH_URI is not set (tests/store/clickhouse_test.sh runs this with a "
		       "server)\n");
		return rc ? rc : 77;
	}
	id_of(trace1, 16, 1);
	id_of(trace_none, 16, 77);
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spans),       cmocka_unit_test(test_traces),
	        cmocka_unit_test(test_logs_points), cmocka_unit_test(test_aggregate),
	        cmocka_unit_test(test_info),        cmocka_unit_test(test_errors),
	};
	return rc | cmocka_run_group_tests(tests, setup, teardown);
}
