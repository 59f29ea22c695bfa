/*
 * metrics_test.c - libsonde metrics: every instrument kind, bound and unbound attributes,
 * cardinality overflow, cumulative and delta readers, exponential histogram scales checked
 * against hand-worked buckets, summary quantiles against exact ones on heavy-tailed data,
 * many threads (run under TSan by `make tsan`), fork, and the Prometheus text.
 *
 * Instruments live for the process, so every test uses its own meter.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics_internal.h"
#include "sonde/metrics.h"
#include "telemetry.h"

/* ---- Helpers ------------------------------------------------------------------------- */

#define assert_near(a, b, eps)                                                                         \
	do {                                                                                           \
		double a_ = (a), b_ = (b);                                                             \
		if (!(fabs(a_ - b_) <= (eps)))                                                         \
			fail_msg("%s = %.17g, expected %.17g (within %g)", #a, a_, b_, (double)(eps)); \
	} while (0)

static sonde_batch *collect(sonde_metric_reader *r)
{
	sonde_batch *b = sonde_batch_new();
	assert_non_null(b);
	assert_int_equal(sonde_metric_reader_collect(r, b), 0);
	return b;
}

static sonde_batch *collect_cumulative(void)
{
	sonde_metric_reader *r = sonde_metric_reader_new(SONDE_METRICS_CUMULATIVE);
	assert_non_null(r);
	sonde_batch *b = collect(r);
	sonde_metric_reader_free(r);
	return b;
}

static const sonde_metric_data *find_metric(const sonde_batch *b, const char *scope, const char *name)
{
	for (size_t i = 0; i < b->metrics_count; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		if (strcmp(m->name.ptr, name) == 0 && strcmp(m->scope->name.ptr, scope) == 0)
			return m;
	}
	return NULL;
}

/* The point whose attributes are exactly the given "k=v" strings (string values only), or
 * with no attributes when n == 0. */
static const sonde_point *find_point(const sonde_metric_data *m, size_t n, ...)
{
	if (!m)
		return NULL;
	for (uint32_t p = 0; p < m->points_count; p++) {
		const sonde_point *pt = &m->points[p];
		if (pt->attrs.count != n)
			continue;
		va_list ap;
		va_start(ap, n);
		bool ok = true;
		for (size_t i = 0; i < n; i++) {
			const char *kv = va_arg(ap, const char *);
			const char *eq = strchr(kv, '=');
			char key[128];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
			const sonde_value *v = sonde_attrs_get(&pt->attrs, key);
			char text[128] = "";
			if (v && v->kind == SONDE_VAL_STRING)
				snprintf(text, sizeof(text), "%s", v->u.str.ptr);
			else if (v && v->kind == SONDE_VAL_INT)
				snprintf(text, sizeof(text), "%lld", (long long)v->u.i);
			else if (v && v->kind == SONDE_VAL_BOOL)
				snprintf(text, sizeof(text), "%s", v->u.b ? "true" : "false");
			if (!v || strcmp(text, eq + 1) != 0)
				ok = false;
		}
		va_end(ap);
		if (ok)
			return pt;
	}
	return NULL;
}

static int64_t int_of(const sonde_point *pt)
{
	assert_non_null(pt);
	assert_int_equal(pt->u.number.kind, SONDE_NUM_INT);
	return pt->u.number.v.i;
}

static double dbl_of(const sonde_point *pt)
{
	assert_non_null(pt);
	assert_int_equal(pt->u.number.kind, SONDE_NUM_DOUBLE);
	return pt->u.number.v.d;
}

static char diag_text[4096];
static void capture_diag(void *ud, const char *msg)
{
	(void)ud;
	snprintf(diag_text + strlen(diag_text), sizeof(diag_text) - strlen(diag_text), "%s\n", msg);
}

/* ---- Counters, gauges ------------------------------------------------------------------- */

static void test_counter_bound_and_unbound(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.counter", "1.0", NULL);
	assert_ptr_equal(m, sonde_meter_get("t.counter", "1.0", NULL));
	sonde_instrument *c = sonde_counter_new(m, "requests", "{request}", "Requests served");
	assert_ptr_equal(c, sonde_counter_new(m, "requests", "{request}", "again"));
	sonde_attr get[] = {SONDE_ATTR_STR("method", "GET"), SONDE_ATTR_INT("code", 200)};
	sonde_attr get_swapped[] = {SONDE_ATTR_INT("code", 200), SONDE_ATTR_STR("method", "GET")};
	sonde_attr post[] = {SONDE_ATTR_STR("method", "POST"), SONDE_ATTR_INT("code", 200)};
	sonde_series *bound = sonde_instrument_bind(c, get, 2);
	sonde_series_add(bound, 5);
	sonde_instrument_add(c, 2, get_swapped, 2); /* same set, other order */
	sonde_instrument_add(c, 1, post, 2);
	sonde_instrument_add(c, -7, post, 2); /* a counter does not go down */
	sonde_instrument_add(c, 3, NULL, 0);
	sonde_series_add_double(bound, 1.6); /* rounded to 2 */
	sonde_attr dup[] = {SONDE_ATTR_STR("method", "PUT"), SONDE_ATTR_INT("code", 200),
	                    SONDE_ATTR_STR("method", "POST")};
	sonde_instrument_add(c, 10, dup, 3); /* the last value of a key wins: POST */

	sonde_instrument *d = sonde_counter_new_double(m, "bytes", "By", NULL);
	sonde_instrument_add_double(d, 1.25, NULL, 0);
	sonde_instrument_add(d, 2, NULL, 0);
	sonde_instrument_add_double(d, -1, NULL, 0);

	sonde_batch *b = collect_cumulative();
	const sonde_metric_data *md = find_metric(b, "t.counter", "requests");
	assert_non_null(md);
	assert_int_equal(md->type, SONDE_METRIC_SUM);
	assert_true(md->is_monotonic);
	assert_int_equal(md->temporality, SONDE_TEMPORALITY_CUMULATIVE);
	assert_string_equal(md->unit.ptr, "{request}");
	assert_string_equal(md->description.ptr, "Requests served");
	assert_string_equal(md->scope->version.ptr, "1.0");
	assert_int_equal(md->points_count, 3);
	assert_int_equal(int_of(find_point(md, 2, "method=GET", "code=200")), 9);
	assert_int_equal(int_of(find_point(md, 2, "method=POST", "code=200")), 11);
	assert_int_equal(int_of(find_point(md, 0)), 3);
	const sonde_metric_data *bd = find_metric(b, "t.counter", "bytes");
	assert_near(dbl_of(find_point(bd, 0)), 3.25, 1e-12);
	/* The resource names the service. */
	assert_non_null(sonde_attrs_get(&md->resource->attrs, "service.name"));
	sonde_batch_free(b);
}

/* One call site (one array, rewritten between calls), as the per-thread lookup cache sees
 * it: every rewrite must reach its own series. */
static void add_from(sonde_instrument *c, sonde_attr *site, int64_t v)
{
	sonde_instrument_add(c, v, site, 2);
}

static void test_unbound_cache_rewrites(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.cache", NULL, NULL);
	sonde_instrument *c = sonde_counter_new(m, "c", NULL, NULL);
	sonde_attr site[2];
	char buf[16];
	for (int round = 0; round < 3; round++) {
		/* Literals (read-only memory): the pointer fast path. */
		site[0] = SONDE_ATTR_STR("k", "a");
		site[1] = SONDE_ATTR_INT("n", 1);
		add_from(c, site, 1);
		add_from(c, site, 1);
		site[0].v.s = "b"; /* another literal, same key */
		add_from(c, site, 10);
		site[1].v.i = 2; /* same pointers, another number */
		add_from(c, site, 100);
		/* A mutable buffer rewritten in place: same pointer, other bytes. */
		snprintf(buf, sizeof(buf), "x");
		site[0].v.s = buf;
		site[1].v.i = 1;
		add_from(c, site, 1000);
		snprintf(buf, sizeof(buf), "y");
		add_from(c, site, 10000);
		/* The attributes swapped: the same sets, found through the other order. */
		sonde_attr swapped[2] = {SONDE_ATTR_INT("n", 1), SONDE_ATTR_STR("k", "a")};
		add_from(c, swapped, 100000);
	}
	sonde_batch *b = collect_cumulative();
	const sonde_metric_data *md = find_metric(b, "t.cache", "c");
	assert_int_equal(md->points_count, 5);
	assert_int_equal(int_of(find_point(md, 2, "k=a", "n=1")), 3 * 100002);
	assert_int_equal(int_of(find_point(md, 2, "k=b", "n=1")), 3 * 10);
	assert_int_equal(int_of(find_point(md, 2, "k=b", "n=2")), 3 * 100);
	assert_int_equal(int_of(find_point(md, 2, "k=x", "n=1")), 3 * 1000);
	assert_int_equal(int_of(find_point(md, 2, "k=y", "n=1")), 3 * 10000);
	sonde_batch_free(b);
}

/* The cache keeps a snapshot per attribute: a key or value in writable memory is compared
 * byte by byte even when its pointer is unchanged, a bool is compared by its byte alone,
 * and a key that became NULL (not kept) is not taken for the cached one. */
static void test_unbound_cache_snapshot(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.cache.snap", NULL, NULL);
	sonde_instrument *c = sonde_counter_new(m, "c", NULL, NULL);
	char key[16], val[16];
	sonde_attr site[3];
	for (int round = 0; round < 2; round++) {
		/* A literal key with a value in a buffer, a key in a buffer, and a bool. */
		snprintf(val, sizeof(val), "GET");
		snprintf(key, sizeof(key), "route");
		site[0] = SONDE_ATTR_STR("method", val);
		site[1] = SONDE_ATTR_STR(key, "/a");
		memset(&site[2], 0xa5, sizeof(site[2])); /* the union's unused bytes are garbage */
		site[2].key = "ok";
		site[2].type = SONDE_ATTR_BOOL;
		site[2].v.b = true;
		sonde_instrument_add(c, 1, site, 3);
		sonde_instrument_add(c, 1, site, 3);
		snprintf(val, sizeof(val), "PUT"); /* same pointer, other bytes */
		sonde_instrument_add(c, 10, site, 3);
		snprintf(key, sizeof(key), "path"); /* the key rewritten in place */
		sonde_instrument_add(c, 100, site, 3);
		snprintf(val, sizeof(val), "PUTS"); /* longer than the series' value */
		sonde_instrument_add(c, 1000, site, 3);
		snprintf(val, sizeof(val), "PU"); /* shorter */
		sonde_instrument_add(c, 10000, site, 3);
		site[2].v.b = false;
		sonde_instrument_add(c, 100000, site, 3);
		site[2].key = NULL; /* not kept: a set of two */
		sonde_instrument_add(c, 1000000, site, 3);
	}
	sonde_batch *b = collect_cumulative();
	const sonde_metric_data *md = find_metric(b, "t.cache.snap", "c");
	assert_int_equal(md->points_count, 7);
	assert_int_equal(int_of(find_point(md, 3, "method=GET", "route=/a", "ok=true")), 2 * 2);
	assert_int_equal(int_of(find_point(md, 3, "method=PUT", "route=/a", "ok=true")), 2 * 10);
	assert_int_equal(int_of(find_point(md, 3, "method=PUT", "path=/a", "ok=true")), 2 * 100);
	assert_int_equal(int_of(find_point(md, 3, "method=PUTS", "path=/a", "ok=true")), 2 * 1000);
	assert_int_equal(int_of(find_point(md, 3, "method=PU", "path=/a", "ok=true")), 2 * 10000);
	assert_int_equal(int_of(find_point(md, 3, "method=PU", "path=/a", "ok=false")), 2 * 100000);
	assert_int_equal(int_of(find_point(md, 2, "method=PU", "path=/a")), 2 * 1000000);
	sonde_batch_free(b);
}

static void test_updown_and_gauge(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.updown", NULL, NULL);
	sonde_instrument *u = sonde_updown_counter_new(m, "queue.length", "{item}", NULL);
	sonde_series *s = sonde_instrument_bind(u, NULL, 0);
	sonde_series_add(s, 10);
	sonde_series_add(s, -4);
	sonde_instrument *g = sonde_gauge_new(m, "temperature", "Cel", NULL);
	sonde_attr room[] = {SONDE_ATTR_STR("room", "a")};
	sonde_instrument_set(g, 20.5, room, 1);
	sonde_instrument_set(g, 21.5, room, 1);
	sonde_instrument *never = sonde_gauge_new(m, "never.set", NULL, NULL);
	(void)never;
	sonde_batch *b = collect_cumulative();
	const sonde_metric_data *md = find_metric(b, "t.updown", "queue.length");
	assert_int_equal(md->type, SONDE_METRIC_SUM);
	assert_false(md->is_monotonic);
	assert_int_equal(int_of(find_point(md, 0)), 6);
	const sonde_metric_data *gd = find_metric(b, "t.updown", "temperature");
	assert_int_equal(gd->type, SONDE_METRIC_GAUGE);
	assert_int_equal(gd->points_count, 1);
	assert_near(dbl_of(find_point(gd, 1, "room=a")), 21.5, 0);
	assert_null(find_metric(b, "t.updown", "never.set"));
	sonde_batch_free(b);
}

/* ---- Histograms ------------------------------------------------------------------------ */

static void test_explicit_histogram(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.hist", NULL, NULL);
	sonde_instrument *h = sonde_histogram_new(m, "latency", "ms", NULL, NULL, 0);
	sonde_series *s = sonde_instrument_bind(h, NULL, 0);
	/* Default bounds 0,5,10,25,...: buckets are upper-inclusive. */
	double vals[] = {-1, 0, 5, 5.0001, 10000, 10001, 77};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		sonde_series_record(s, vals[i]);
	sonde_series_record(s, NAN);        /* ignored */
	sonde_series_record_ns(s, 2500000); /* 2.5 ms */
	sonde_series *timed =
	        sonde_instrument_bind(sonde_histogram_new(m, "timed", "ms", NULL, NULL, 0), NULL, 0);
	{
		SONDE_TIMER_SCOPE(timed); /* records the block's duration when it is left */
		struct timespec ts = {0, 2000000};
		nanosleep(&ts, NULL);
	}
	sonde_series_record_since(timed, sonde_timer_start());
	double bounds[] = {1, 2};
	sonde_instrument *h2 = sonde_histogram_new(m, "sizes", "By", NULL, bounds, 2);
	sonde_attr a[] = {SONDE_ATTR_STR("k", "v")};
	sonde_instrument_record(h2, 1.5, a, 1);
	sonde_instrument_record(h2, 3, a, 1);

	sonde_batch *b = collect_cumulative();
	const sonde_metric_data *md = find_metric(b, "t.hist", "latency");
	assert_int_equal(md->type, SONDE_METRIC_HISTOGRAM);
	const sonde_point *pt = find_point(md, 0);
	assert_non_null(pt);
	assert_int_equal(pt->u.hist.bounds_count, 15);
	assert_int_equal(pt->u.hist.bucket_counts_count, 16);
	uint64_t want[16] = {2, 2, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1};
	want[1] = 2; /* 5 and 2.5 (the timer) */
	for (int i = 0; i < 16; i++)
		assert_int_equal(pt->u.hist.bucket_counts[i], want[i]);
	assert_int_equal(pt->u.hist.count, 8);
	assert_near(pt->u.hist.sum, -1 + 0 + 5 + 5.0001 + 10000 + 10001 + 77 + 2.5, 1e-9);
	assert_true(pt->u.hist.has_min && pt->u.hist.has_max);
	assert_near(pt->u.hist.min, -1, 0);
	assert_near(pt->u.hist.max, 10001, 0);
	/* Two timings in ms: the scope slept 2 ms, so at least one lands above 0 (bucket 1 or
	 * later); the second is a near-zero duration. */
	const sonde_point *tp = find_point(find_metric(b, "t.hist", "timed"), 0);
	assert_int_equal(tp->u.hist.count, 2);
	assert_true(tp->u.hist.max >= 2.0 && tp->u.hist.max < 1000);
	assert_true(tp->u.hist.min >= 0 && tp->u.hist.min < 2.0);
	const sonde_point *p2 = find_point(find_metric(b, "t.hist", "sizes"), 1, "k=v");
	assert_non_null(p2);
	assert_int_equal(p2->u.hist.bucket_counts[0], 0);
	assert_int_equal(p2->u.hist.bucket_counts[1], 1);
	assert_int_equal(p2->u.hist.bucket_counts[2], 1);
	sonde_batch_free(b);
}

static void test_exp_index_mapping(void **state)
{
	(void)state;
	/* Scale 0: bucket i is (2^i, 2^(i+1)]. */
	assert_int_equal(sonde__exp_index(1, 0), -1);
	assert_int_equal(sonde__exp_index(2, 0), 0);
	assert_int_equal(sonde__exp_index(3, 0), 1);
	assert_int_equal(sonde__exp_index(4, 0), 1);
	assert_int_equal(sonde__exp_index(4.0001, 0), 2);
	/* Scale -1: base 4: (1, 4] is bucket 0, (4, 16] bucket 1. */
	assert_int_equal(sonde__exp_index(4, -1), 0);
	assert_int_equal(sonde__exp_index(5, -1), 1);
	assert_int_equal(sonde__exp_index(0.5, -1), -1);
	/* Scale 1: base sqrt(2): 1.5 is in (sqrt2, 2] = bucket 1; 2 is the end of bucket 1. */
	assert_int_equal(sonde__exp_index(1.5, 1), 1);
	assert_int_equal(sonde__exp_index(2, 1), 1);
	assert_int_equal(sonde__exp_index(1.4, 1), 0);
	/* Scale 20 near 1: 1 + 2^-19 is just past 2^(1/2^20). */
	assert_int_equal(sonde__exp_index(1, 20), -1);
	assert_int_equal(sonde__exp_index(1 + 1e-6, 20), 1);
	/* Lower boundaries. */
	assert_near(sonde__exp_lower(3, 0), 8, 0);
	assert_near(sonde__exp_lower(1, 1), sqrt(2), 1e-15);
	assert_near(sonde__exp_lower(-3, 1), 1 / (2 * sqrt(2)), 1e-15);
}

static void test_exp_index_table_matches_log(void **state)
{
	(void)state;
	/* Scales 1..10 use a boundary table; it must agree with floor(log2(v) * 2^scale) (in
	 * long double) except within rounding distance of a boundary. */
	uint64_t x = 0x243f6a8885a308d3ULL;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double v = ldexp(1.0 + (double)(x >> 11) / 9007199254740992.0, (int)(x % 200) - 100);
		for (int32_t scale = 1; scale <= 10; scale++) {
			long double pos = log2l((long double)v) * (long double)(1 << scale);
			long double fl = floorl(pos);
			if (pos - fl < 1e-9L || fl + 1 - pos < 1e-9L)
				continue; /* next to a boundary */
			int32_t want = (int32_t)fl;
			if (sonde__exp_index(v, scale) != want)
				fail_msg("v=%.17g scale %d: index %d, expected %d", v, scale,
				         sonde__exp_index(v, scale), want);
		}
	}
}

static void test_exp_histogram_hand_worked(void **state)
{
	(void)state;
	/* 1, 2 and 4 at scale s fall in buckets -1, 2^s - 1 and 2^(s+1) - 1: the range
	 * 2^(s+1) + 1 fits 160 buckets first at s = 6 (129), so 20 downscales to 6. */
	sonde__exph h;
	sonde__exph_init(&h, 160, 20);
	sonde__exph_record(&h, 1, 1);
	assert_int_equal(h.scale, 20);
	sonde__exph_record(&h, 2, 1);
	sonde__exph_record(&h, 4, 1);
	assert_int_equal(h.scale, 6);
	assert_int_equal(h.pos.lo, -1);
	assert_int_equal(h.pos.n, 129);
	assert_int_equal(h.pos.c[0], 1);
	assert_int_equal(h.pos.c[64], 1);
	assert_int_equal(h.pos.c[128], 1);
	/* With 4 buckets: scale 0, buckets -1, 0, 1. */
	sonde__exph_init(&h, 4, 20);
	sonde__exph_record(&h, 1, 1);
	sonde__exph_record(&h, 2, 1);
	sonde__exph_record(&h, 4, 1);
	assert_int_equal(h.scale, 0);
	assert_int_equal(h.pos.lo, -1);
	assert_int_equal(h.pos.n, 3);
	/* Zero bucket and negatives (the scale is shared by both signs). */
	sonde__exph_record(&h, 0, 2);
	sonde__exph_record(&h, -3, 1);
	assert_int_equal(h.zero, 2);
	assert_int_equal(h.neg.lo, 1);
	assert_int_equal(h.neg.n, 1);
	assert_int_equal(sonde__exph_count(&h), 6);
	assert_near(h.sum, 1 + 2 + 4 - 3, 0);
	assert_near(h.min, -3, 0);
	assert_near(h.max, 4, 0);
	/* 1e-3..1e3 spans 19.93 octaves: at scale 3 (8 buckets per octave) the indexes run from
	 * floor(-9.966 * 8) = -80 to floor(9.966 * 8) = 79, exactly 160 buckets. */
	sonde__exph_init(&h, 160, 20);
	for (int i = 0; i <= 1000; i++)
		sonde__exph_record(&h, pow(10, -3 + 6.0 * i / 1000), 1);
	assert_int_equal(h.scale, 3);
	assert_int_equal(sonde__exph_count(&h), 1001);
	assert_int_equal(h.pos.lo, -80);
	assert_int_equal(h.pos.n, 160);
	/* Merging a coarser histogram downscales the finer one. */
	sonde__exph a, b2;
	sonde__exph_init(&a, 160, 20);
	sonde__exph_init(&b2, 160, 20);
	sonde__exph_record(&a, 1.5, 1);
	sonde__exph_record(&b2, 1, 1);
	sonde__exph_record(&b2, 2, 1);
	sonde__exph_record(&b2, 4, 1); /* b2 at scale 6 */
	sonde__exph_merge(&a, &b2);
	assert_int_equal(a.scale, 6);
	assert_int_equal(sonde__exph_count(&a), 4);
	assert_int_equal(a.pos.c[sonde__exp_index(1.5, 6) - a.pos.lo], 1);
	/* Subtracting an earlier state leaves what came after. */
	sonde__exph_sub(&a, &b2);
	assert_int_equal(sonde__exph_count(&a), 1);
	assert_int_equal(a.pos.n, 1);
	assert_int_equal(a.pos.lo, sonde__exp_index(1.5, 6));
}

static void test_exp_histogram_instrument(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.exp", NULL, NULL);
	sonde_instrument *h = sonde_exp_histogram_new(m, "exp", "s", NULL);
	sonde_series *s = sonde_instrument_bind(h, NULL, 0);
	sonde_series_record(s, 1);
	sonde_series_record(s, 2);
	sonde_series_record(s, 4);
	sonde_series_record(s, 0);
	sonde_series_record(s, -2);
	sonde_series_record(s, INFINITY); /* ignored */
	sonde_batch *b = collect_cumulative();
	const sonde_metric_data *md = find_metric(b, "t.exp", "exp");
	assert_int_equal(md->type, SONDE_METRIC_EXP_HISTOGRAM);
	const sonde_point *pt = find_point(md, 0);
	assert_int_equal(pt->u.exp.scale, 6);
	assert_int_equal(pt->u.exp.count, 5);
	assert_int_equal(pt->u.exp.zero_count, 1);
	assert_int_equal(pt->u.exp.positive.offset, -1);
	assert_int_equal(pt->u.exp.positive.count, 129);
	assert_int_equal(pt->u.exp.positive.counts[64], 1);
	assert_int_equal(pt->u.exp.negative.offset, 63); /* 2 ends bucket 2^6 - 1 */
	assert_int_equal(pt->u.exp.negative.count, 1);
	assert_near(pt->u.exp.sum, 5, 0);
	assert_near(pt->u.exp.min, -2, 0);
	assert_near(pt->u.exp.max, 4, 0);
	sonde_batch_free(b);
}

/* ---- Summaries --------------------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void test_sketch_bins_accuracy(void **state)
{
	(void)state;
	/* Every bin's reported value is within 1% of values at both of its edges. */
	for (double v = 1e-9; v < 9e12; v *= 1.0037) {
		uint32_t bin = sonde__sk_bin(v);
		double est = sonde__sk_value(bin);
		assert_true(fabs(est - v) <= 0.01 * v);
	}
	assert_int_equal(sonde__sk_bin(1e-9), 0);
}

static void test_summary_quantiles_heavy_tail(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.summary", NULL, NULL);
	double qs[] = {0.5, 0.9, 0.99, 0.999};
	sonde_instrument *sm = sonde_summary_new(m, "rpc.duration", "s", NULL, qs, 4);
	sonde_series *s = sonde_instrument_bind(sm, NULL, 0);
	enum { N = 200000 };
	double *v = malloc(N * sizeof(double));
	assert_non_null(v);
	uint64_t x = 88172645463325252ULL;
	double sum = 0;
	for (int i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double u = ((double)(x >> 11) + 0.5) / 9007199254740992.0;
		v[i] = 0.001 * pow(u, -1 / 1.2); /* Pareto, alpha 1.2: a heavy tail */
		sonde_series_record(s, v[i]);
		sum += v[i];
	}
	sonde_batch *b = collect_cumulative();
	const sonde_point *pt = find_point(find_metric(b, "t.summary", "rpc.duration"), 0);
	assert_non_null(pt);
	assert_int_equal(pt->u.summary.count, N);
	assert_true(fabs(pt->u.summary.sum - sum) <= 1e-9 * sum);
	qsort(v, N, sizeof(double), cmp_d);
	assert_int_equal(pt->u.summary.quantiles_count, 4);
	for (int i = 0; i < 4; i++) {
		double exact = v[(size_t)floor(qs[i] * (N - 1))];
		double got = pt->u.summary.quantiles[i].value;
		if (fabs(got - exact) > 0.01 * exact)
			fail_msg("q%g: got %.9g, exact %.9g", qs[i], got, exact);
	}
	free(v);
	sonde_batch_free(b);
}

static void test_summary_window_moves(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.window", NULL, NULL);
	double q = 0.5;
	sonde_instrument_opts o = {.kind = SONDE_INSTRUMENT_SUMMARY,
	                           .name = "w",
	                           .quantiles = &q,
	                           .quantiles_count = 1,
	                           .max_age_ms = 100,
	                           .age_buckets = 1};
	sonde_instrument *sm = sonde_instrument_new(m, &o);
	for (int i = 0; i < 100; i++)
		sonde_instrument_record(sm, 1.0, NULL, 0);
	sonde_batch *b = collect_cumulative();
	const sonde_point *pt = find_point(find_metric(b, "t.window", "w"), 0);
	assert_true(fabs(pt->u.summary.quantiles[0].value - 1.0) <= 0.01);
	sonde_batch_free(b);
	struct timespec ts = {0, 250 * 1000000};
	nanosleep(&ts, NULL); /* the window (100 ms) moves past the first values */
	for (int i = 0; i < 10; i++)
		sonde_instrument_record(sm, 100.0, NULL, 0);
	b = collect_cumulative();
	pt = find_point(find_metric(b, "t.window", "w"), 0);
	assert_int_equal(pt->u.summary.count, 110); /* count and sum stay cumulative */
	assert_true(fabs(pt->u.summary.quantiles[0].value - 100.0) <= 1.0);
	sonde_batch_free(b);
}

/* ---- Cardinality, temporality, observables -------------------------------------------- */

static void test_cardinality_overflow(void **state)
{
	(void)state;
	diag_text[0] = '\0';
	sonde_set_diagnostics(capture_diag, NULL);
	sonde_meter *m = sonde_meter_get("t.card", NULL, NULL);
	sonde_instrument_opts o = {.kind = SONDE_INSTRUMENT_COUNTER,
	                           .name = "hits",
	                           .value_type = SONDE_METRIC_INT,
	                           .cardinality_limit = 5};
	sonde_instrument *c = sonde_instrument_new(m, &o);
	/* The plain series counts as one: 3 attribute sets, then the overflow series. */
	sonde_instrument_add(c, 1, NULL, 0);
	for (int i = 0; i < 10; i++) {
		char user[16];
		snprintf(user, sizeof(user), "u%d", i);
		sonde_attr a[] = {SONDE_ATTR_STR("user", user)};
		sonde_instrument_add(c, 1, a, 1);
		sonde_instrument_add(c, 1, a, 1);
	}
	sonde_attr first[] = {SONDE_ATTR_STR("user", "u0")};
	sonde_instrument_add(c, 100, first, 1); /* an existing set keeps its series */
	sonde_set_diagnostics(NULL, NULL);
	assert_non_null(strstr(diag_text, "cardinality limit"));
	sonde_batch *b = collect_cumulative();
	const sonde_metric_data *md = find_metric(b, "t.card", "hits");
	assert_int_equal(md->points_count, 5);
	assert_int_equal(int_of(find_point(md, 1, "user=u0")), 102);
	assert_int_equal(int_of(find_point(md, 1, "user=u2")), 2);
	assert_null(find_point(md, 1, "user=u3"));
	assert_int_equal(int_of(find_point(md, 1, "otel.metric.overflow=true")), 14);
	int64_t total = 0;
	for (uint32_t i = 0; i < md->points_count; i++)
		total += md->points[i].u.number.v.i;
	assert_int_equal(total, 1 + 20 + 100);
	sonde_batch_free(b);
}

static void test_delta_temporality(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.delta", NULL, NULL);
	sonde_instrument *c = sonde_counter_new(m, "c", NULL, NULL);
	sonde_instrument *h = sonde_histogram_new(m, "h", NULL, NULL, NULL, 0);
	sonde_instrument *e = sonde_exp_histogram_new(m, "e", NULL, NULL);
	sonde_metric_reader *d = sonde_metric_reader_new(SONDE_METRICS_DELTA);
	sonde_instrument_add(c, 5, NULL, 0);
	sonde_instrument_record(h, 7, NULL, 0);
	sonde_instrument_record(e, 1, NULL, 0);
	sonde_instrument_record(e, 2, NULL, 0);
	sonde_batch *b = collect(d);
	const sonde_metric_data *md = find_metric(b, "t.delta", "c");
	assert_int_equal(md->temporality, SONDE_TEMPORALITY_DELTA);
	assert_int_equal(int_of(find_point(md, 0)), 5);
	uint64_t first_time = find_point(md, 0)->time_ns;
	sonde_batch_free(b);
	sonde_instrument_add(c, 3, NULL, 0);
	sonde_instrument_record(h, 7, NULL, 0);
	sonde_instrument_record(h, 30, NULL, 0);
	sonde_instrument_record(e, 4, NULL, 0);
	b = collect(d);
	md = find_metric(b, "t.delta", "c");
	assert_int_equal(int_of(find_point(md, 0)), 3);
	assert_int_equal(find_point(md, 0)->start_time_ns, first_time);
	const sonde_point *hp = find_point(find_metric(b, "t.delta", "h"), 0);
	assert_int_equal(hp->u.hist.count, 2);
	assert_int_equal(hp->u.hist.bucket_counts[2], 1); /* 7 in (5, 10] */
	assert_int_equal(hp->u.hist.bucket_counts[4], 1); /* 30 in (25, 50] */
	assert_near(hp->u.hist.sum, 37, 0);
	assert_false(hp->u.hist.has_min);
	const sonde_point *ep = find_point(find_metric(b, "t.delta", "e"), 0);
	assert_int_equal(ep->u.exp.count, 1);
	assert_int_equal(ep->u.exp.positive.count, 1);
	assert_int_equal(ep->u.exp.positive.offset, sonde__exp_index(4, ep->u.exp.scale));
	sonde_batch_free(b);
	/* A cumulative reader sees everything. */
	b = collect_cumulative();
	assert_int_equal(int_of(find_point(find_metric(b, "t.delta", "c"), 0)), 8);
	assert_int_equal(find_point(find_metric(b, "t.delta", "h"), 0)->u.hist.count, 3);
	sonde_batch_free(b);
	sonde_metric_reader_free(d);
}

static int64_t observed_total = 100;
static void observe_cb(sonde_observer *o, void *ud)
{
	(void)ud;
	sonde_attr a[] = {SONDE_ATTR_STR("cpu", "0")};
	sonde_observe_int(o, observed_total, a, 1);
	sonde_attr b[] = {SONDE_ATTR_STR("cpu", "1")};
	sonde_observe_int(o, observed_total * 2, b, 1);
}

static void gauge_cb(sonde_observer *o, void *ud)
{
	sonde_observe(o, *(double *)ud, NULL, 0);
}

static void test_observable_instruments(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.obs", NULL, NULL);
	sonde_instrument_opts o = {.kind = SONDE_INSTRUMENT_OBSERVABLE_COUNTER,
	                           .name = "cpu.time",
	                           .unit = "s",
	                           .value_type = SONDE_METRIC_INT,
	                           .callback = observe_cb};
	sonde_instrument_new(m, &o);
	static double temp = 36.6;
	sonde_instrument_opts g = {.kind = SONDE_INSTRUMENT_OBSERVABLE_GAUGE,
	                           .name = "temp",
	                           .callback = gauge_cb,
	                           .callback_ud = &temp};
	sonde_instrument_new(m, &g);
	sonde_instrument_opts u = {.kind = SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER, .name = "no.callback"};
	sonde_instrument *bad = sonde_instrument_new(m, &u); /* needs a callback: a no-op */
	sonde_instrument_add(bad, 1, NULL, 0);

	sonde_metric_reader *d = sonde_metric_reader_new(SONDE_METRICS_DELTA);
	sonde_batch *b = collect(d);
	const sonde_metric_data *md = find_metric(b, "t.obs", "cpu.time");
	assert_true(md->is_monotonic);
	assert_int_equal(int_of(find_point(md, 1, "cpu=0")), 100);
	assert_int_equal(int_of(find_point(md, 1, "cpu=1")), 200);
	assert_near(dbl_of(find_point(find_metric(b, "t.obs", "temp"), 0)), 36.6, 0);
	assert_null(find_metric(b, "t.obs", "no.callback"));
	sonde_batch_free(b);
	observed_total = 130;
	temp = 37;
	b = collect(d);
	md = find_metric(b, "t.obs", "cpu.time");
	assert_int_equal(int_of(find_point(md, 1, "cpu=0")), 30);
	assert_int_equal(int_of(find_point(md, 1, "cpu=1")), 60);
	assert_near(dbl_of(find_point(find_metric(b, "t.obs", "temp"), 0)), 37, 0);
	sonde_batch_free(b);
	b = collect_cumulative();
	assert_int_equal(int_of(find_point(find_metric(b, "t.obs", "cpu.time"), 1, "cpu=1")), 260);
	sonde_batch_free(b);
	sonde_metric_reader_free(d);
}

static void test_bad_instruments_are_noops(void **state)
{
	(void)state;
	diag_text[0] = '\0';
	sonde_set_diagnostics(capture_diag, NULL);
	sonde_meter *m = sonde_meter_get("t.bad", NULL, NULL);
	sonde_instrument *a = sonde_counter_new(m, "1starts.with.digit", NULL, NULL);
	double bad_bounds[] = {5, 1};
	sonde_instrument *h = sonde_histogram_new(m, "h", NULL, NULL, bad_bounds, 2);
	sonde_set_diagnostics(NULL, NULL);
	assert_non_null(strstr(diag_text, "not a valid instrument name"));
	assert_non_null(strstr(diag_text, "strictly ascending"));
	sonde_instrument_add(a, 1, NULL, 0);
	sonde_instrument_record(h, 1, NULL, 0);
	sonde_series_add(sonde_instrument_bind(a, NULL, 0), 1);
	sonde_instrument_record(a, 1, NULL, 0); /* wrong kind: ignored */
	sonde_batch *b = collect_cumulative();
	for (size_t i = 0; i < b->metrics_count; i++)
		assert_string_not_equal(b->metrics[i].scope->name.ptr, "t.bad");
	sonde_batch_free(b);
}

/* ---- Threads ------------------------------------------------------------------------------ */

enum { THREADS = 8, ADDS = 20000 };
static sonde_instrument *thr_counter, *thr_hist, *thr_exp, *thr_sum;
static sonde_series *thr_bound;

static void *thread_main(void *arg)
{
	intptr_t id = (intptr_t)arg;
	char name[16];
	snprintf(name, sizeof(name), "w%d", (int)(id % 4));
	sonde_attr a[] = {SONDE_ATTR_STR("worker", name), SONDE_ATTR_BOOL("ok", true)};
	for (int i = 0; i < ADDS; i++) {
		sonde_series_add(thr_bound, 1);
		sonde_instrument_add(thr_counter, 2, a, 2);
		sonde_instrument_record(thr_hist, (double)(i % 100), NULL, 0);
		sonde_instrument_record(thr_exp, (double)(1 + i % 1000) * (id + 1), NULL, 0);
		sonde_instrument_record(thr_sum, 1.0, NULL, 0);
	}
	return NULL;
}

static void *collector_main(void *arg)
{
	_Atomic bool *stop = arg;
	sonde_metric_reader *d = sonde_metric_reader_new(SONDE_METRICS_DELTA);
	while (!atomic_load(stop)) {
		sonde_batch *b = sonde_batch_new();
		sonde_metric_reader_collect(d, b);
		sonde_batch_free(b);
		char *text;
		size_t len;
		if (sonde_metrics_prometheus_text(false, &text, &len) == 0)
			free(text);
	}
	sonde_metric_reader_free(d);
	return NULL;
}

static void test_many_threads(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.threads", NULL, NULL);
	thr_counter = sonde_counter_new(m, "ops", NULL, NULL);
	thr_bound = sonde_instrument_bind(sonde_counter_new(m, "bound", NULL, NULL), NULL, 0);
	thr_hist = sonde_histogram_new(m, "h", NULL, NULL, NULL, 0);
	thr_exp = sonde_exp_histogram_new(m, "e", NULL, NULL);
	thr_sum = sonde_summary_new(m, "s", NULL, NULL, NULL, 0);
	_Atomic bool stop = false;
	pthread_t col, t[THREADS];
	assert_int_equal(pthread_create(&col, NULL, collector_main, &stop), 0);
	for (intptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, thread_main, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop, true);
	pthread_join(col, NULL);
	/* The threads have exited: their cells were folded into the series. */
	sonde_batch *b = collect_cumulative();
	assert_int_equal(int_of(find_point(find_metric(b, "t.threads", "bound"), 0)), THREADS * ADDS);
	const sonde_metric_data *ops = find_metric(b, "t.threads", "ops");
	assert_int_equal(ops->points_count, 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(ops->points[i].u.number.v.i, 2 * 2 * ADDS);
	const sonde_point *hp = find_point(find_metric(b, "t.threads", "h"), 0);
	assert_int_equal(hp->u.hist.count, THREADS * ADDS);
	assert_near(hp->u.hist.sum, THREADS * (ADDS / 100) * 4950.0, 0);
	const sonde_point *ep = find_point(find_metric(b, "t.threads", "e"), 0);
	assert_int_equal(ep->u.exp.count, THREADS * ADDS);
	assert_near(ep->u.exp.min, 1, 0);
	assert_near(ep->u.exp.max, 1000.0 * THREADS, 0);
	const sonde_point *sp = find_point(find_metric(b, "t.threads", "s"), 0);
	assert_int_equal(sp->u.summary.count, THREADS * ADDS);
	assert_true(fabs(sp->u.summary.quantiles[0].value - 1.0) <= 0.01);
	sonde_batch_free(b);
}

/* ---- fork --------------------------------------------------------------------------------- */

static void test_fork_child_starts_clean(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.fork", NULL, NULL);
	sonde_instrument *c = sonde_counter_new(m, "c", NULL, NULL);
	sonde_series *s = sonde_instrument_bind(c, NULL, 0);
	sonde_series_add(s, 10);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Child: the parent's 10 are not reported; the handle still works. */
		int rc = 0;
		sonde_batch *b = sonde_batch_new();
		sonde_metric_reader *r = sonde_metric_reader_new(SONDE_METRICS_CUMULATIVE);
		sonde_metric_reader_collect(r, b);
		const sonde_metric_data *md = find_metric(b, "t.fork", "c");
		if (!md || md->points[0].u.number.v.i != 0) /* bound: reported, at zero */
			rc = 1;
		sonde_batch_free(b);
		sonde_series_add(s, 3);
		b = sonde_batch_new();
		sonde_metric_reader_collect(r, b);
		md = find_metric(b, "t.fork", "c");
		if (!md || md->points[0].u.number.v.i != 3)
			rc |= 2;
		sonde_batch_free(b);
		sonde_metric_reader_free(r);
		_exit(rc);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sonde_series_add(s, 1);
	sonde_batch *b = collect_cumulative();
	assert_int_equal(int_of(find_point(find_metric(b, "t.fork", "c"), 0)), 11);
	sonde_batch_free(b);
}

/* ---- Prometheus text ------------------------------------------------------------------- */

static void test_prometheus_text(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("t.prom", "2.0", NULL);
	sonde_instrument *c = sonde_counter_new(m, "http.requests", "{request}",
	                                        "Requests \\ with \"quotes\"\nand a newline");
	sonde_attr a[] = {SONDE_ATTR_STR("path", "/a\"b\\c\nd")};
	sonde_instrument_add(c, 4, a, 1);
	sonde_instrument *h = sonde_histogram_new(m, "http.duration", "s", NULL, NULL, 0);
	sonde_instrument_record(h, 0.2, NULL, 0);
	sonde_instrument *g = sonde_gauge_new(m, "cache.hits", "1", NULL);
	sonde_instrument_set(g, 0.5, NULL, 0);
	sonde_instrument *e = sonde_exp_histogram_new(m, "payload", "By", NULL);
	sonde_instrument_record(e, 1, NULL, 0);
	sonde_instrument_record(e, 4, NULL, 0);
	char *text;
	size_t len;
	assert_int_equal(sonde_metrics_prometheus_text(false, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "# TYPE http_requests_total counter\n"));
	assert_non_null(strstr(text,
	                       "http_requests_total{otel_scope_name=\"t.prom\",otel_scope_version=\"2.0\","
	                       "path=\"/a\\\"b\\\\c\\nd\"} 4\n"));
	assert_non_null(
	        strstr(text, "# HELP http_requests_total Requests \\\\ with \"quotes\"\\nand a newline\n"));
	assert_non_null(strstr(text, "# TYPE http_duration_seconds histogram\n"));
	assert_non_null(strstr(text, "http_duration_seconds_bucket{otel_scope_name=\"t.prom\",otel_scope_"
	                             "version=\"2.0\",le=\"5\"} 1\n"));
	assert_non_null(strstr(text, "# TYPE cache_hits_ratio gauge\n")); /* unit "1" on a gauge */
	/* The exponential histogram as a classic one: 1 ends bucket -1, 4 ends bucket 2^s+... */
	assert_non_null(strstr(text, "# TYPE payload_bytes histogram\n"));
	assert_non_null(strstr(
	        text,
	        "payload_bytes_bucket{otel_scope_name=\"t.prom\",otel_scope_version=\"2.0\",le=\"1\"} 1\n"));
	assert_non_null(strstr(
	        text,
	        "payload_bytes_bucket{otel_scope_name=\"t.prom\",otel_scope_version=\"2.0\",le=\"4\"} 2\n"));
	assert_non_null(strstr(text, "target_info{"));
	free(text);
	assert_int_equal(sonde_metrics_prometheus_text(true, &text, &len), 0);
	assert_non_null(strstr(text, "# TYPE http_requests counter\n"));
	assert_non_null(strstr(text, "# EOF\n"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_counter_bound_and_unbound),
	        cmocka_unit_test(test_unbound_cache_rewrites),
	        cmocka_unit_test(test_unbound_cache_snapshot),
	        cmocka_unit_test(test_updown_and_gauge),
	        cmocka_unit_test(test_explicit_histogram),
	        cmocka_unit_test(test_exp_index_mapping),
	        cmocka_unit_test(test_exp_index_table_matches_log),
	        cmocka_unit_test(test_exp_histogram_hand_worked),
	        cmocka_unit_test(test_exp_histogram_instrument),
	        cmocka_unit_test(test_sketch_bins_accuracy),
	        cmocka_unit_test(test_summary_quantiles_heavy_tail),
	        cmocka_unit_test(test_summary_window_moves),
	        cmocka_unit_test(test_cardinality_overflow),
	        cmocka_unit_test(test_delta_temporality),
	        cmocka_unit_test(test_observable_instruments),
	        cmocka_unit_test(test_bad_instruments_are_noops),
	        cmocka_unit_test(test_many_threads),
	        cmocka_unit_test(test_fork_child_starts_clean),
	        cmocka_unit_test(test_prometheus_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
