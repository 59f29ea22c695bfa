/*
 * readahead_test.c - sonde_query.read_ahead: scan_logs and aggregate_spans read on a
 * thread of their own give exactly what a plain read gives (the same records, in the
 * same order, with the same fields; the same groups and streamed values), across many
 * chunks of rows, with filters, and a callback that stops the scan stops it at the same
 * record with its value returned. In any order (sonde_query.any_order: two halves of the
 * table on two threads), aggregate_spans gives the same groups with the same figures and
 * the same durations for each. Attribute keys for client spans alone give each client
 * span its own attributes (or its resource's), in every way of reading.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "store.h"

#define STORE_TEST_NAME "readahead-test"
#include "../lib/store_tmpdir.h"

#define T0 1700000000000000000ull

enum { LOGS = 5000, SPANS = 6000, SERVICES = 3 };

static void set_str(sonde_batch *b, sonde_kv *kv, const char *k, const char *v)
{
	kv->key = sonde_batch_intern(b, k, strlen(k));
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = sonde_batch_strdup(b, v, strlen(v));
}

static sonde_store *open_store(void)
{
	sonde_store *s = NULL;
	char msg[256];
	if (sonde_store_open(path, 0, &s, msg, sizeof msg) != 0)
		fail_msg("open %s: %s", path, msg);
	return s;
}

/* Resources svc-0 .. svc-(SERVICES-1) in b; with host, svc-2 also has a server.address. */
static void add_services(sonde_batch *b, sonde_resource *res[SERVICES], bool host)
{
	for (int i = 0; i < SERVICES; i++) {
		char name[16];
		snprintf(name, sizeof name, "svc-%d", i);
		res[i] = sonde_batch_new_resource(b);
		res[i]->attrs.count = host && i == 2 ? 2 : 1;
		res[i]->attrs.items = sonde_batch_alloc(b, res[i]->attrs.count * sizeof(sonde_kv));
		set_str(b, &res[i]->attrs.items[0], "service.name", name);
		if (res[i]->attrs.count == 2)
			set_str(b, &res[i]->attrs.items[1], "server.address", "host-2");
	}
}

/* LOGS log records and SPANS spans over SERVICES services; client spans carry a
 * peer.service (most of them) so that attribute keys have something to read. */
static sonde_store *fill(void)
{
	sonde_store *s = open_store();
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[SERVICES];
	add_services(b, res, false);
	sonde_scope *sc = sonde_batch_new_scope(b);
	for (int i = 0; i < LOGS; i++) {
		sonde_log_data *lg = sonde_batch_add_log(b, res[i % SERVICES], sc);
		lg->time_ns = T0 + (uint64_t)i * 1000;
		lg->severity_number = 9 + 4 * (i % 4); /* info, warn, error, fatal */
		char body[64];
		snprintf(body, sizeof body, "record %d of shape %d", i, i % 7);
		lg->body.kind = SONDE_VAL_STRING;
		lg->body.u.str = sonde_batch_strdup(b, body, strlen(body));
		lg->attrs.items = sonde_batch_alloc(b, sizeof(sonde_kv));
		lg->attrs.count = 1;
		char u[16];
		snprintf(u, sizeof u, "u%d", i % 13);
		set_str(b, &lg->attrs.items[0], "user_id", u);
		if (i % 5 == 0)
			lg->trace_id[0] = (uint8_t)(i + 1), lg->trace_id[15] = 1;
	}
	const char *ops[] = {"GET /a", "GET /b", "POST /c", "db query"};
	for (int i = 0; i < SPANS; i++) {
		sonde_span_data *sp = sonde_batch_add_span(b, res[i % SERVICES], sc);
		uint64_t t = (uint64_t)i / 10 + 1, id = (uint64_t)i + 1;
		memcpy(sp->trace_id, &t, 8);
		memcpy(sp->span_id, &id, 8);
		const char *op = ops[(i / 3) % 4];
		sp->name = sonde_batch_intern(b, op, strlen(op));
		sp->kind = i % 3 == 0 ? SONDE_SPAN_KIND_CLIENT : SONDE_SPAN_KIND_SERVER;
		sp->start_ns = T0 + (uint64_t)i * 7919 % 1000003;
		sp->end_ns = sp->start_ns + 1000 + (uint64_t)i * 104729 % 5000000;
		sp->status_code = i % 17 == 0 ? SONDE_STATUS_ERROR : SONDE_STATUS_UNSET;
		if (sp->kind == SONDE_SPAN_KIND_CLIENT && i % 4) {
			sp->attrs.items = sonde_batch_alloc(b, sizeof(sonde_kv));
			sp->attrs.count = 1;
			set_str(b, &sp->attrs.items[0], "peer.service", i % 8 ? "db" : "cache");
		}
	}
	assert_int_equal(sonde_store_append(s, b, NULL, NULL), 0);
	sonde_batch_free(b);
	return s;
}

/* What a scan's callback saw, as text, one line per record. */
typedef struct seen {
	sonde_buf text;
	size_t n, stop_at; /* stop_at: return 7 at this record (1-based); 0: never */
} seen;

static int on_log(void *ctx, const sonde_log_data *lg)
{
	seen *x = ctx;
	sonde_buf_printf(&x->text, "%llu %d %.*s %.*s %s %zu", (unsigned long long)lg->time_ns,
	                 lg->severity_number, (int)lg->severity_text.len, lg->severity_text.ptr,
	                 (int)lg->body.u.str.len, lg->body.u.str.ptr,
	                 lg->resource && lg->resource->attrs.count
	                         ? lg->resource->attrs.items[0].value.u.str.ptr
	                         : "-",
	                 (size_t)lg->attrs.count);
	for (size_t i = 0; i < lg->attrs.count; i++)
		sonde_buf_printf(&x->text, " %.*s=%.*s", (int)lg->attrs.items[i].key.len,
		                 lg->attrs.items[i].key.ptr, (int)lg->attrs.items[i].value.u.str.len,
		                 lg->attrs.items[i].value.u.str.ptr);
	for (int i = 0; i < 16; i++)
		sonde_buf_printf(&x->text, "%02x", lg->trace_id[i]);
	sonde_buf_putc(&x->text, '\n');
	return ++x->n == x->stop_at ? 7 : 0;
}

static void scan_both(sonde_store *s, sonde_query q, size_t stop_at, int want_rc, size_t want_n)
{
	seen a = {.text = SONDE_BUF_INIT, .stop_at = stop_at},
	     b = {.text = SONDE_BUF_INIT, .stop_at = stop_at};
	q.read_ahead = false;
	assert_int_equal(sonde_store_scan_logs(s, &q, on_log, &a), want_rc);
	q.read_ahead = true;
	assert_int_equal(sonde_store_scan_logs(s, &q, on_log, &b), want_rc);
	assert_int_equal(a.n, want_n);
	assert_int_equal(b.n, want_n);
	assert_false(a.text.oom || b.text.oom);
	assert_int_equal(a.text.len, b.text.len);
	assert_memory_equal(a.text.data, b.text.data, a.text.len);
	sonde_buf_release(&a.text);
	sonde_buf_release(&b.text);
}

static void test_scan_logs(void **state)
{
	(void)state;
	sonde_store *s = fill();
	scan_both(s, (sonde_query){0}, 0, 0, LOGS);
	scan_both(s, (sonde_query){.errors_only = true}, 0, 0, LOGS / 2);
	scan_both(s, (sonde_query){.service = "svc-1", .since_ns = T0 + 1000000}, 0, 0,
	          (LOGS - 1000) / 3 + 1);
	scan_both(s, (sonde_query){.service = "no such"}, 0, 0, 0);
	/* Stopped by the callback: in the first chunk, in a later one, at the very end. */
	scan_both(s, (sonde_query){0}, 3, 7, 3);
	scan_both(s, (sonde_query){0}, 2500, 7, 2500);
	scan_both(s, (sonde_query){0}, LOGS, 7, LOGS);
	sonde_store_close(s);
}

/* The durations aggregate_spans streamed, as text: group index, duration, error. */
static int on_value(void *ctx, size_t group, uint64_t dur, bool err)
{
	seen *x = ctx;
	sonde_buf_printf(&x->text, "%zu %llu %d\n", group, (unsigned long long)dur, err);
	return ++x->n == x->stop_at ? 1 : 0;
}

/* What `sonde latency` asks: per operation, with the downstream of client spans. */
static const sonde_agg_key lat[] = {
        {SONDE_KEY_SERVICE, NULL, 0},
        {SONDE_KEY_OPERATION, NULL, 0},
        {SONDE_KEY_KIND, NULL, 0},
        {SONDE_KEY_ATTR_ANY, "peer.service,db.system,server.address", 1u << SONDE_SPAN_KIND_CLIENT}};
/* Attributes of every span, resource attributes, the parent's service, the status. */
static const sonde_agg_key other[] = {{SONDE_KEY_ATTR, "peer.service", 0},
                                      {SONDE_KEY_ATTR, "service.name", 0},
                                      {SONDE_KEY_PARENT_SERVICE, NULL, 0},
                                      {SONDE_KEY_STATUS, NULL, 0}};

/* Two groups' figures are the same. */
static void assert_same_figures(const sonde_agg_group *x, const sonde_agg_group *y)
{
	assert_int_equal(x->count, y->count);
	assert_int_equal(x->errors, y->errors);
	assert_int_equal(x->sum_ns, y->sum_ns);
	assert_int_equal(x->min_ns, y->min_ns);
	assert_int_equal(x->max_ns, y->max_ns);
	assert_int_equal(x->first_start_ns, y->first_start_ns);
	assert_int_equal(x->last_start_ns, y->last_start_ns);
}

/* The streamed values, as text, are the same; both texts are released. */
static void assert_same_values(sonde_buf *a, sonde_buf *b)
{
	assert_int_equal(a->len, b->len);
	assert_memory_equal(a->data, b->data, a->len);
	sonde_buf_release(a);
	sonde_buf_release(b);
}

static void agg_both(sonde_store *s, sonde_query q, const sonde_agg_key *keys, size_t nkeys, size_t stop_at,
                     size_t want_n)
{
	sonde_agg_result ra, rb;
	seen a = {.text = SONDE_BUF_INIT, .stop_at = stop_at},
	     b = {.text = SONDE_BUF_INIT, .stop_at = stop_at};
	q.read_ahead = false;
	ssize_t na = sonde_store_aggregate_spans(s, &q, keys, nkeys, on_value, &a, &ra);
	q.read_ahead = true;
	ssize_t nb = sonde_store_aggregate_spans(s, &q, keys, nkeys, on_value, &b, &rb);
	assert_int_equal(na, nb);
	if (stop_at) {
		assert_int_equal(na, -ECANCELED);
		assert_int_equal(a.n, stop_at);
	} else {
		assert_true(na > 0);
		assert_int_equal(a.n, want_n);
		assert_int_equal(ra.count, rb.count);
		for (size_t g = 0; g < ra.count; g++) {
			const sonde_agg_group *x = &ra.groups[g], *y = &rb.groups[g];
			for (size_t k = 0; k < nkeys; k++)
				assert_string_equal(x->values[k], y->values[k]);
			assert_same_figures(x, y);
		}
	}
	assert_same_values(&a.text, &b.text);
	sonde_agg_result_release(&ra);
	sonde_agg_result_release(&rb);
}

static void test_aggregate_spans(void **state)
{
	(void)state;
	sonde_store *s = fill();
	agg_both(s, (sonde_query){0}, lat, 4, 0, SPANS);
	agg_both(s, (sonde_query){0}, other, 4, 0, SPANS);
	agg_both(s, (sonde_query){.service = "svc-2"}, lat, 2, 0, SPANS / 3);
	/* Stopped by the callback, early and late. */
	agg_both(s, (sonde_query){0}, lat, 4, 5, 5);
	agg_both(s, (sonde_query){0}, lat, 4, 4000, 4000);
	sonde_store_close(s);
}

/* What aggregate_spans streamed in any order, one line per span naming its group by
 * its values rather than its index (indexes follow the order of first appearance). */
typedef struct keyed {
	sonde_buf text;
	const sonde_agg_result *agg;
	size_t nkeys, n, stop_at;
} keyed;

static int on_keyed(void *ctx, size_t group, uint64_t dur, bool err)
{
	keyed *x = ctx;
	for (size_t k = 0; k < x->nkeys; k++)
		sonde_buf_printf(&x->text, "%s|", x->agg->groups[group].values[k]);
	sonde_buf_printf(&x->text, "%llu %d\n", (unsigned long long)dur, err);
	return ++x->n == x->stop_at ? 1 : 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the lines of t in place. */
static void sort_lines(sonde_buf *t)
{
	size_t n = 0, cap = 1024;
	char **v = malloc(cap * sizeof *v);
	for (char *p = t->data; p && p < t->data + t->len;) {
		char *e = strchr(p, '\n');
		*e = '\0';
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof *v);
		v[n++] = p;
		p = e + 1;
	}
	qsort(v, n, sizeof *v, cmp_line);
	sonde_buf out = SONDE_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		sonde_buf_printf(&out, "%s\n", v[i]);
	free(v);
	sonde_buf_release(t);
	*t = out;
}

/* Aggregates in order (read in this thread) and in any order (read ahead, in two halves
 * of the table on two threads): the same groups, each with the same figures, and the
 * same durations streamed for each group. */
static void agg_any_order(sonde_store *s, sonde_query q, const sonde_agg_key *keys, size_t nkeys,
                          size_t want_n)
{
	sonde_agg_result ra, rb;
	keyed a = {.text = SONDE_BUF_INIT, .agg = &ra, .nkeys = nkeys},
	      b = {.text = SONDE_BUF_INIT, .agg = &rb, .nkeys = nkeys};
	q.read_ahead = false;
	ssize_t na = sonde_store_aggregate_spans(s, &q, keys, nkeys, on_keyed, &a, &ra);
	q.read_ahead = true;
	q.any_order = true;
	ssize_t nb = sonde_store_aggregate_spans(s, &q, keys, nkeys, on_keyed, &b, &rb);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_int_equal(a.n, want_n);
	assert_int_equal(b.n, want_n);
	for (size_t g = 0; g < ra.count; g++) {
		const sonde_agg_group *x = &ra.groups[g], *y = NULL;
		for (size_t h = 0; h < rb.count && !y; h++) {
			size_t k = 0;
			while (k < nkeys && strcmp(x->values[k], rb.groups[h].values[k]) == 0)
				k++;
			if (k == nkeys)
				y = &rb.groups[h];
		}
		assert_non_null(y);
		assert_same_figures(x, y);
	}
	sort_lines(&a.text);
	sort_lines(&b.text);
	assert_same_values(&a.text, &b.text);
	sonde_agg_result_release(&ra);
	sonde_agg_result_release(&rb);
}

static void test_aggregate_any_order(void **state)
{
	(void)state;
	sonde_store *s = fill();
	agg_any_order(s, (sonde_query){0}, lat, 4, SPANS);
	agg_any_order(s, (sonde_query){0}, other, 4, SPANS);
	/* Conditions that leave the halves on (kinds, errors) and that turn them off. */
	agg_any_order(s, (sonde_query){.kinds = 1u << SONDE_SPAN_KIND_CLIENT}, lat, 4, SPANS / 3);
	agg_any_order(s, (sonde_query){.errors_only = true}, lat, 2, (SPANS + 16) / 17);
	agg_any_order(s, (sonde_query){.service = "svc-2"}, lat, 2, SPANS / 3);
	/* Stopped by the callback: exactly that many values, and the caller's code. */
	keyed k = {.text = SONDE_BUF_INIT, .nkeys = 0, .stop_at = 4000};
	sonde_agg_result r;
	k.agg = &r;
	sonde_query q = {.read_ahead = true, .any_order = true};
	assert_int_equal(sonde_store_aggregate_spans(s, &q, lat, 4, on_keyed, &k, &r), -ECANCELED);
	assert_int_equal(k.n, 4000);
	sonde_agg_result_release(&r);
	sonde_buf_release(&k.text);
	sonde_store_close(s);
}

/* ---- Attributes of client spans only ---------------------------------------------- */

/* Span i of attrs_fill(): client or not, and the dependency `sonde latency` keys it by
 * (peer.service, else db.system, else server.address, of the span, else of its
 * resource). Client spans come in runs with gaps of 1 and 11 rows, so that the store
 * both steps to the next span's attributes and seeks them. */
static bool attrs_client(int i)
{
	return i % 23 == 0 || i % 23 == 1 || i % 23 == 12;
}

static const char *attrs_target(int i, char *buf, size_t n)
{
	if (!attrs_client(i))
		return "";
	if (i % 46 == 1) /* no span attributes: the resource's, which svc-2 alone has */
		return i % SERVICES == 2 ? "host-2" : "";
	if (i % 23 == 12)
		return "pg";
	snprintf(buf, n, "p%d", i % 5);
	return buf;
}

static uint64_t attrs_start(int i)
{
	return T0 + (uint64_t)i * 7919 % 1000003;
}

static sonde_store *attrs_fill(void)
{
	sonde_store *s = open_store();
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[SERVICES];
	add_services(b, res, true);
	sonde_scope *sc = sonde_batch_new_scope(b);
	for (int i = 0; i < SPANS; i++) {
		sonde_span_data *sp = sonde_batch_add_span(b, res[i % SERVICES], sc);
		uint64_t t = (uint64_t)i / 10 + 1, id = (uint64_t)i + 1;
		memcpy(sp->trace_id, &t, 8);
		memcpy(sp->span_id, &id, 8);
		sp->name = sonde_batch_intern(b, "op", 2);
		sp->kind = attrs_client(i) ? SONDE_SPAN_KIND_CLIENT : SONDE_SPAN_KIND_SERVER;
		sp->start_ns = attrs_start(i);
		sp->end_ns = sp->start_ns + 1000 + (uint64_t)i;
		char v[16];
		const char *target = attrs_target(i, v, sizeof v);
		/* Every span has attributes but the resource-only client ones: the rows stepped
		 * over are not empty. */
		if (attrs_client(i) && i % 46 == 1)
			continue;
		sp->attrs.count = 1;
		sp->attrs.items = sonde_batch_alloc(b, sizeof(sonde_kv));
		if (!attrs_client(i))
			set_str(b, &sp->attrs.items[0], "http.route", "/r");
		else
			set_str(b, &sp->attrs.items[0], i % 23 == 12 ? "db.system" : "peer.service", target);
	}
	assert_int_equal(sonde_store_append(s, b, NULL, NULL), 0);
	sonde_batch_free(b);
	return s;
}

/* The groups by service, kind and dependency of the spans starting at or after since:
 * as many, with the counts attrs_fill() made. */
static void attrs_check(sonde_store *s, sonde_query q)
{
	static const sonde_agg_key keys[] = {
	        {SONDE_KEY_SERVICE, NULL, 0},
	        {SONDE_KEY_KIND, NULL, 0},
	        {SONDE_KEY_ATTR_ANY, "peer.service,db.system,server.address", 1u << SONDE_SPAN_KIND_CLIENT}};
	struct {
		char key[64];
		uint64_t count;
	} want[64];
	size_t nwant = 0;
	for (int i = 0; i < SPANS; i++) {
		if (q.since_ns && attrs_start(i) < q.since_ns)
			continue;
		char v[16], key[64];
		snprintf(key, sizeof key, "svc-%d|%s|%s", i % SERVICES, attrs_client(i) ? "client" : "server",
		         attrs_target(i, v, sizeof v));
		size_t k = 0;
		while (k < nwant && strcmp(want[k].key, key) != 0)
			k++;
		if (k == nwant) {
			assert_true(nwant < 64);
			snprintf(want[nwant].key, sizeof want[nwant].key, "%s", key);
			want[nwant++].count = 0;
		}
		want[k].count++;
	}
	sonde_agg_result r;
	ssize_t n = sonde_store_aggregate_spans(s, &q, keys, 3, NULL, NULL, &r);
	assert_int_equal(n, (ssize_t)nwant);
	for (size_t g = 0; g < r.count; g++) {
		char key[64];
		snprintf(key, sizeof key, "%s|%s|%s", r.groups[g].values[0], r.groups[g].values[1],
		         r.groups[g].values[2]);
		size_t k = 0;
		while (k < nwant && strcmp(want[k].key, key) != 0)
			k++;
		if (k == nwant)
			fail_msg("unexpected group %s", key);
		assert_int_equal(r.groups[g].count, want[k].count);
	}
	sonde_agg_result_release(&r);
}

/* Attribute keys limited to client spans (what `sonde latency` asks) give each client
 * span its own attribute, whether read in this thread, ahead, in any order, or in the
 * order of an index (a time window), and spans without attributes their resource's. */
static void test_aggregate_client_attrs(void **state)
{
	(void)state;
	sonde_store *s = attrs_fill();
	for (int m = 0; m < 6; m++) {
		sonde_query q = {.read_ahead = m % 3 > 0,
		                 .any_order = m % 3 == 2,
		                 .since_ns = m >= 3 ? T0 + 300000 : 0};
		attrs_check(s, q);
	}
	sonde_store_close(s);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {T(test_scan_logs), T(test_aggregate_spans),
	                                   T(test_aggregate_any_order), T(test_aggregate_client_attrs)};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
