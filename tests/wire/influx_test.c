/*
 * influx_test.c - tests of the InfluxDB line protocol writer: escaping, the fields of
 * every metric type, tags, and the values line protocol cannot carry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "influx.h"

static sonde_attrs mk_attrs(sonde_batch *b, size_t n, const char *const *kv)
{
	sonde_attrs a = {NULL, (uint32_t)n};
	if (!n)
		return a;
	a.items = sonde_batch_alloc(b, n * sizeof(sonde_kv));
	for (size_t i = 0; i < n; i++) {
		a.items[i].key = sonde_batch_intern(b, kv[2 * i], strlen(kv[2 * i]));
		a.items[i].value.kind = SONDE_VAL_STRING;
		a.items[i].value.u.str = sonde_batch_strdup(b, kv[2 * i + 1], strlen(kv[2 * i + 1]));
	}
	return a;
}

static sonde_metric_data *mk_metric(sonde_batch *b, const sonde_resource *r, const sonde_scope *s,
                                    const char *name, sonde_metric_type type, uint32_t npoints)
{
	sonde_metric_data *m = sonde_batch_add_metric(b, r, s);
	m->name = sonde_batch_intern(b, name, strlen(name));
	m->type = type;
	m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	m->points = sonde_batch_alloc(b, npoints * sizeof(sonde_point));
	m->points_count = npoints;
	for (uint32_t i = 0; i < npoints; i++)
		m->points[i].time_ns = 1700000000000000001ULL;
	return m;
}

static void check(const sonde_batch *b, const char *want)
{
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_influx_write(b, &out), 0);
	const char *got = out.data ? out.data : "";
	if (strcmp(got, want) != 0)
		fail_msg("line protocol differs\n--- got:\n%s--- want:\n%s", got, want);
	sonde_buf_release(&out);
}

static void test_escaping(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = sonde_batch_new_resource(b);
	sonde_scope *s = sonde_batch_new_scope(b);
	sonde_metric_data *m = mk_metric(b, r, s, "cpu load,total=x", SONDE_METRIC_GAUGE, 1);
	static const char *const kv[] = {"host name", "a,b=c d", "k=ey,", "line\nbreak", "empty", ""};
	m->points[0].attrs = mk_attrs(b, 3, kv);
	m->points[0].u.number.kind = SONDE_NUM_DOUBLE;
	m->points[0].u.number.v.d = 0.5;
	/* Measurement: commas and spaces (not '='); tags: commas, '=' and spaces too; no
	 * empty tag values; tags sorted by key. */
	check(b, "cpu\\ load\\,total=x,host\\ name=a\\,b\\=c\\ d,k\\=ey\\,=line\\nbreak value=0.5 "
	         "1700000000000000001\n");
	sonde_batch_free(b);
}

static void test_types(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = sonde_batch_new_resource(b);
	static const char *const res_kv[] = {"service.name", "shop", "host.name", "h1"};
	r->attrs = mk_attrs(b, 2, res_kv);
	sonde_scope *s = sonde_batch_new_scope(b);

	sonde_metric_data *m = mk_metric(b, r, s, "requests", SONDE_METRIC_SUM, 2);
	static const char *const get[] = {"method", "GET"};
	m->points[0].attrs = mk_attrs(b, 1, get);
	m->points[0].u.number.kind = SONDE_NUM_INT;
	m->points[0].u.number.v.i = -42;
	/* A point attribute overrides the resource's service.name; no time: no timestamp. */
	static const char *const svc[] = {"service.name", "other"};
	m->points[1].attrs = mk_attrs(b, 1, svc);
	m->points[1].time_ns = 0;
	m->points[1].u.number.kind = SONDE_NUM_DOUBLE;
	m->points[1].u.number.v.d = 1e6;

	m = mk_metric(b, r, s, "latency", SONDE_METRIC_HISTOGRAM, 1);
	static const double bounds[] = {0.5, 1};
	static const uint64_t counts[] = {1, 2, 3};
	sonde_point *p = &m->points[0];
	p->u.hist.bounds = (double *)bounds;
	p->u.hist.bounds_count = 2;
	p->u.hist.bucket_counts = (uint64_t *)counts;
	p->u.hist.bucket_counts_count = 3;
	p->u.hist.count = 6;
	p->u.hist.has_sum = true;
	p->u.hist.sum = 4.5;
	p->u.hist.has_min = true;
	p->u.hist.min = 0.1;

	m = mk_metric(b, r, s, "rpc", SONDE_METRIC_SUMMARY, 1);
	static sonde_quantile qs[] = {{0.5, 0.2}, {0.99, NAN}};
	m->points[0].u.summary.quantiles = qs;
	m->points[0].u.summary.quantiles_count = 2;
	m->points[0].u.summary.count = 9;
	m->points[0].u.summary.sum = 2;

	m = mk_metric(b, r, s, "exp", SONDE_METRIC_EXP_HISTOGRAM, 1);
	m->points[0].u.exp.count = 3;
	m->points[0].u.exp.zero_count = 1;

	/* Nothing line protocol can carry: no line. */
	m = mk_metric(b, r, s, "nan", SONDE_METRIC_GAUGE, 2);
	m->points[0].u.number.kind = SONDE_NUM_DOUBLE;
	m->points[0].u.number.v.d = NAN;
	m->points[1].u.number.kind = SONDE_NUM_DOUBLE;
	m->points[1].u.number.v.d = INFINITY;
	/* Flagged "no recorded value": no line. */
	m = mk_metric(b, r, s, "novalue", SONDE_METRIC_GAUGE, 1);
	m->points[0].flags = 1;
	m->points[0].u.number.kind = SONDE_NUM_INT;

	check(b, "requests,method=GET,service.name=shop value=-42i 1700000000000000001\n"
	         "requests,service.name=other value=1e+06\n"
	         "latency,service.name=shop count=6i,sum=4.5,min=0.1,le_0.5=1i,le_1=3i,le_+Inf=6i "
	         "1700000000000000001\n"
	         "rpc,service.name=shop count=9i,sum=2,quantile_0.5=0.2 1700000000000000001\n"
	         "exp,service.name=shop count=3i,zero_count=1i 1700000000000000001\n");
	sonde_batch_free(b);
}

static void test_empty(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	check(b, "");
	sonde_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_escaping),
	        cmocka_unit_test(test_types),
	        cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
