/*
 * prom_text_test.c - tests of the Prometheus text / OpenMetrics reader and writer: real-
 * world-like expositions, every escaping rule, every error with its line, the OTel name
 * mapping, round trips both ways, and `promtool check metrics` on the writer's output.
 */
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
#include <sys/wait.h>

#include "prom_text.h"
#include "sonde/status.h"

/* ---- Helpers ---------------------------------------------------------------------- */

static sonde_batch *read_ok(const char *text)
{
	sonde_batch *b = sonde_batch_new();
	assert_non_null(b);
	sonde_wire_error err;
	memset(&err, 0, sizeof(err));
	int rc = sonde_prom_text_read(b, text, strlen(text), 7, &err);
	if (rc != 0)
		fail_msg("read failed: line %zu offset %zu field %s: %s\n--- input:\n%s", err.line,
		         err.offset, err.field, err.msg, text);
	return b;
}

static char *write_text(const sonde_batch *b, sonde_prom_flavor flavor)
{
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_prom_text_write(b, flavor, &out), 0);
	if (!out.data)
		return strdup("");
	return sonde_buf_detach(&out, NULL);
}

static const sonde_metric_data *find_metric(const sonde_batch *b, const char *name)
{
	for (size_t i = 0; i < b->metrics_count; i++)
		if (strlen(name) == b->metrics[i].name.len &&
		    memcmp(b->metrics[i].name.ptr, name, b->metrics[i].name.len) == 0)
			return &b->metrics[i];
	fail_msg("no metric named %s", name);
	return NULL;
}

static const char *attr(const sonde_attrs *a, const char *key)
{
	const sonde_value *v = sonde_attrs_get(a, key);
	if (!v)
		return NULL;
	assert_int_equal(v->kind, SONDE_VAL_STRING);
	return v->u.str.ptr;
}

/* The point of m whose attribute key equals val (or the only point when key is NULL). */
static const sonde_point *point_where(const sonde_metric_data *m, const char *key, const char *val)
{
	for (uint32_t i = 0; i < m->points_count; i++) {
		if (!key)
			return &m->points[i];
		const char *v = attr(&m->points[i].attrs, key);
		if (v && strcmp(v, val) == 0)
			return &m->points[i];
	}
	fail_msg("metric %s has no point with %s=%s", m->name.ptr, key, val);
	return NULL;
}

static double num(const sonde_point *p)
{
	return p->u.number.kind == SONDE_NUM_INT ? (double)p->u.number.v.i : p->u.number.v.d;
}

static void assert_text(const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("text differs\n--- got:\n%s--- want:\n%s", got, want);
}

static const char *meta_type(const sonde_metric_data *m)
{
	return attr(&m->metadata, "prometheus.type");
}

/* ---- Reading: real-world-like expositions ----------------------------------------- */

/* The example of the Prometheus exposition format documentation, in spirit. */
static const char doc_example[] =
        "# HELP http_requests_total The total number of HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
        "http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n"
        "\n"
        "# Escaping in label values:\n"
        "msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find "
        "file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n"
        "\n"
        "metric_without_timestamp_and_labels 12.47\n"
        "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
        "# HELP http_request_duration_seconds A histogram of the request duration.\n"
        "# TYPE http_request_duration_seconds histogram\n"
        "http_request_duration_seconds_bucket{le=\"0.05\"} 24054\n"
        "http_request_duration_seconds_bucket{le=\"0.1\"} 33444\n"
        "http_request_duration_seconds_bucket{le=\"0.2\"} 100392\n"
        "http_request_duration_seconds_bucket{le=\"0.5\"} 129389\n"
        "http_request_duration_seconds_bucket{le=\"1\"} 133988\n"
        "http_request_duration_seconds_bucket{le=\"+Inf\"} 144320\n"
        "http_request_duration_seconds_sum 53423\n"
        "http_request_duration_seconds_count 144320\n"
        "# HELP rpc_duration_seconds A summary of the RPC duration in seconds.\n"
        "# TYPE rpc_duration_seconds summary\n"
        "rpc_duration_seconds{quantile=\"0.01\"} 3102\n"
        "rpc_duration_seconds{quantile=\"0.05\"} 3272\n"
        "rpc_duration_seconds{quantile=\"0.5\"} 4773\n"
        "rpc_duration_seconds{quantile=\"0.9\"} 9001\n"
        "rpc_duration_seconds{quantile=\"0.99\"} 76656\n"
        "rpc_duration_seconds_sum 1.7560473e+07\n"
        "rpc_duration_seconds_count 2693\n";

static void test_read_doc_example(void **state)
{
	(void)state;
	sonde_batch *b = read_ok(doc_example);
	assert_int_equal(b->metrics_count, 6);

	const sonde_metric_data *c = find_metric(b, "http_requests_total");
	assert_int_equal(c->type, SONDE_METRIC_SUM);
	assert_true(c->is_monotonic);
	assert_int_equal(c->temporality, SONDE_TEMPORALITY_CUMULATIVE);
	assert_string_equal(c->description.ptr, "The total number of HTTP requests.");
	assert_string_equal(meta_type(c), "counter");
	assert_int_equal(c->points_count, 2);
	const sonde_point *p = point_where(c, "code", "400");
	assert_true(num(p) == 3);
	assert_int_equal(p->time_ns, 1395066363000ULL * 1000000);
	/* Label order as read. */
	assert_string_equal(p->attrs.items[0].key.ptr, "method");
	assert_string_equal(p->attrs.items[1].key.ptr, "code");

	const sonde_metric_data *e = find_metric(b, "msdos_file_access_time_seconds");
	assert_int_equal(e->type, SONDE_METRIC_GAUGE);
	assert_string_equal(meta_type(e), "unknown");
	assert_string_equal(attr(&e->points[0].attrs, "path"), "C:\\DIR\\FILE.TXT");
	assert_string_equal(attr(&e->points[0].attrs, "error"), "Cannot find file:\n\"FILE.TXT\"");
	assert_true(num(&e->points[0]) == 1.458255915e9);
	assert_int_equal(e->points[0].time_ns, 7); /* the default */

	const sonde_metric_data *w = find_metric(b, "something_weird");
	assert_true(isinf(num(&w->points[0])) && num(&w->points[0]) > 0);
	assert_int_equal((int64_t)w->points[0].time_ns, -3982045LL * 1000000);

	const sonde_metric_data *h = find_metric(b, "http_request_duration_seconds");
	assert_int_equal(h->type, SONDE_METRIC_HISTOGRAM);
	assert_int_equal(h->temporality, SONDE_TEMPORALITY_CUMULATIVE);
	const sonde_point *hp = &h->points[0];
	assert_int_equal(hp->u.hist.bounds_count, 5);
	assert_int_equal(hp->u.hist.bucket_counts_count, 6);
	const double bounds[] = {0.05, 0.1, 0.2, 0.5, 1};
	const uint64_t counts[] = {24054,           33444 - 24054,   100392 - 33444,
	                           129389 - 100392, 133988 - 129389, 144320 - 133988};
	for (int i = 0; i < 5; i++)
		assert_true(hp->u.hist.bounds[i] == bounds[i]);
	for (int i = 0; i < 6; i++)
		assert_int_equal(hp->u.hist.bucket_counts[i], counts[i]);
	assert_int_equal(hp->u.hist.count, 144320);
	assert_true(hp->u.hist.has_sum && hp->u.hist.sum == 53423);

	const sonde_metric_data *s = find_metric(b, "rpc_duration_seconds");
	assert_int_equal(s->type, SONDE_METRIC_SUMMARY);
	assert_int_equal(s->points[0].u.summary.quantiles_count, 5);
	assert_true(s->points[0].u.summary.quantiles[2].quantile == 0.5);
	assert_true(s->points[0].u.summary.quantiles[2].value == 4773);
	assert_true(s->points[0].u.summary.sum == 1.7560473e+07);
	assert_int_equal(s->points[0].u.summary.count, 2693);
	sonde_batch_free(b);
}

/* A node_exporter-like excerpt with a Go client's summary and histogram, tabs, extra
 * blanks, comments and a trailing comma in a label set. */
static const char node_exporter[] =
        "# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.\n"
        "# TYPE go_gc_duration_seconds summary\n"
        "go_gc_duration_seconds{quantile=\"0\"} 2.4e-05\n"
        "go_gc_duration_seconds{quantile=\"0.25\"} 3.3901e-05\n"
        "go_gc_duration_seconds{quantile=\"0.5\"} 4.0809e-05\n"
        "go_gc_duration_seconds{quantile=\"0.75\"} 5.9001e-05\n"
        "go_gc_duration_seconds{quantile=\"1\"} 0.000402806\n"
        "go_gc_duration_seconds_sum 0.012488367\n"
        "go_gc_duration_seconds_count 219\n"
        "# HELP go_goroutines Number of goroutines that currently exist.\n"
        "# TYPE go_goroutines gauge\n"
        "go_goroutines 8\n"
        "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n"
        "# TYPE node_cpu_seconds_total counter\n"
        "node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 1.21478335e+06\n"
        "node_cpu_seconds_total{cpu=\"0\",mode=\"iowait\"} 1230.12\n"
        "node_cpu_seconds_total{cpu=\"1\",mode=\"idle\",} 1.21371957e+06\n"
        "# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.\n"
        "# TYPE node_filesystem_avail_bytes gauge\n"
        "node_filesystem_avail_bytes{device=\"/dev/sda1\",fstype=\"ext4\",mountpoint=\"/\"} "
        "4.2088128512e+10\n"
        "node_filesystem_avail_bytes{device=\"tmpfs\",fstype=\"tmpfs\",mountpoint=\"/run\"} 1.6581632e+09\n"
        "# a comment that is not metadata\n"
        "#\n"
        "   # HELP node_load1 1m load average.\n"
        "# TYPE node_load1 gauge\n"
        "node_load1\t0.21\n"
        "  node_load5 { } 0.3  \n"
        "# HELP prometheus_http_request_duration_seconds Histogram of latencies for HTTP requests.\n"
        "# TYPE prometheus_http_request_duration_seconds histogram\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/metrics\",le=\"0.1\"} 150\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/metrics\",le=\"0.2\"} 150\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/metrics\",le=\"0.4\"} 151\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/metrics\",le=\"1\"} 151\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/metrics\",le=\"+Inf\"} 151\n"
        "prometheus_http_request_duration_seconds_sum{handler=\"/metrics\"} 0.52\n"
        "prometheus_http_request_duration_seconds_count{handler=\"/metrics\"} 151\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/api\",le=\"0.1\"} 3\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/api\",le=\"0.2\"} 4\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/api\",le=\"0.4\"} 4\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/api\",le=\"1\"} 5\n"
        "prometheus_http_request_duration_seconds_bucket{handler=\"/api\",le=\"+Inf\"} 5\n"
        "prometheus_http_request_duration_seconds_sum{handler=\"/api\"} 0.9\n"
        "prometheus_http_request_duration_seconds_count{handler=\"/api\"} 5\n";

static void test_read_node_exporter(void **state)
{
	(void)state;
	sonde_batch *b = read_ok(node_exporter);
	assert_int_equal(b->metrics_count, 7);
	const sonde_metric_data *s = find_metric(b, "go_gc_duration_seconds");
	assert_int_equal(s->points[0].u.summary.quantiles_count, 5);
	assert_true(s->points[0].u.summary.quantiles[0].quantile == 0);
	assert_true(s->points[0].u.summary.quantiles[4].quantile == 1);
	assert_true(s->points[0].u.summary.quantiles[4].value == 0.000402806);
	assert_int_equal(s->points[0].u.summary.count, 219);

	const sonde_metric_data *cpu = find_metric(b, "node_cpu_seconds_total");
	assert_int_equal(cpu->points_count, 3);
	const sonde_point *p = point_where(cpu, "cpu", "1");
	assert_int_equal(p->attrs.count, 2);
	assert_true(num(p) == 1.21371957e+06);

	const sonde_metric_data *l1 = find_metric(b, "node_load1");
	assert_string_equal(l1->description.ptr, "1m load average.");
	assert_true(num(&l1->points[0]) == 0.21);
	const sonde_metric_data *l5 = find_metric(b, "node_load5");
	assert_int_equal(l5->points[0].attrs.count, 0);
	assert_string_equal(meta_type(l5), "unknown");

	const sonde_metric_data *h = find_metric(b, "prometheus_http_request_duration_seconds");
	assert_int_equal(h->points_count, 2);
	const sonde_point *api = point_where(h, "handler", "/api");
	assert_int_equal(api->attrs.count, 1); /* le is not a label of the point */
	const uint64_t want[] = {3, 1, 0, 1, 0};
	assert_int_equal(api->u.hist.bucket_counts_count, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(api->u.hist.bucket_counts[i], want[i]);
	assert_int_equal(api->u.hist.count, 5);
	assert_true(api->u.hist.sum == 0.9);
	sonde_batch_free(b);
}

static const char openmetrics[] =
        "# TYPE acme_http_router_request_seconds summary\n"
        "# UNIT acme_http_router_request_seconds seconds\n"
        "# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.\n"
        "acme_http_router_request_seconds_sum{path=\"/api/v1\",method=\"GET\"} 9036.32\n"
        "acme_http_router_request_seconds_count{path=\"/api/v1\",method=\"GET\"} 807283.0\n"
        "acme_http_router_request_seconds_created{path=\"/api/v1\",method=\"GET\"} 1605281325.0\n"
        "# TYPE go_goroutines gauge\n"
        "# HELP go_goroutines Number of goroutines that currently exist.\n"
        "go_goroutines 69 1520879607.789\n"
        "# TYPE process_cpu_seconds counter\n"
        "# UNIT process_cpu_seconds seconds\n"
        "# HELP process_cpu_seconds Total user and system CPU time spent in seconds \\\"quoted\\\".\n"
        "process_cpu_seconds_total 4.20072246e+06 # "
        "{trace_id=\"0af7651916cd43dd8448eb211c80319c\",span_id=\"b7ad6b7169203331\",user=\"x\"} 1 "
        "1520879607.000000001\n"
        "process_cpu_seconds_created 1520430000.123\n"
        "# TYPE foo histogram\n"
        "foo_bucket{le=\"0.01\"} 0\n"
        "foo_bucket{le=\"0.1\"} 8 # {} 0.054\n"
        "foo_bucket{le=\"1\"} 11 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n"
        "foo_bucket{le=\"10\"} 17 # {trace_id=\"oHg5SJYRHA0\"} 9.8 1520879607.789\n"
        "foo_bucket{le=\"+Inf\"} 17\n"
        "foo_count 17\n"
        "foo_sum 324789.3\n"
        "foo_created  1520430000.123\n"
        "# TYPE build info\n"
        "build_info{name=\"pretty name\",version=\"8.2.7\"} 1\n"
        "# TYPE state stateset\n"
        "state{state=\"a\"} 0\n"
        "state{state=\"bb\"} 1\n"
        "# TYPE gh gaugehistogram\n"
        "gh_bucket{le=\"0.01\"} 20.0\n"
        "gh_bucket{le=\"+Inf\"} 42.0\n"
        "gh_gcount 42.0\n"
        "gh_gsum 3289.3\n"
        "# TYPE mystery unknown\n"
        "mystery 42.23\n"
        "# TYPE multi gauge\n"
        "multi 17.0 123\n"
        "multi 18.0 456\n"
        "# EOF\n";

static void test_read_openmetrics(void **state)
{
	(void)state;
	sonde_batch *b = read_ok(openmetrics);
	assert_int_equal(b->metrics_count, 9);

	const sonde_metric_data *s = find_metric(b, "acme_http_router_request_seconds");
	assert_string_equal(s->unit.ptr, "s");
	assert_int_equal(s->type, SONDE_METRIC_SUMMARY);
	assert_int_equal(s->points[0].u.summary.count, 807283);
	assert_int_equal(s->points[0].start_time_ns, 1605281325000000000ULL);

	const sonde_metric_data *g = find_metric(b, "go_goroutines");
	assert_int_equal(g->points[0].time_ns, 1520879607789000000ULL);

	const sonde_metric_data *c = find_metric(b, "process_cpu_seconds_total");
	assert_int_equal(c->type, SONDE_METRIC_SUM);
	assert_string_equal(c->unit.ptr, "s");
	assert_string_equal(c->description.ptr,
	                    "Total user and system CPU time spent in seconds \"quoted\".");
	const sonde_point *cp = &c->points[0];
	assert_true(num(cp) == 4.20072246e+06);
	assert_int_equal(cp->start_time_ns, 1520430000123000000ULL);
	assert_int_equal(cp->exemplars_count, 1);
	const sonde_exemplar *ex = &cp->exemplars[0];
	assert_int_equal(ex->trace_id[0], 0x0a);
	assert_int_equal(ex->trace_id[15], 0x9c);
	assert_int_equal(ex->span_id[0], 0xb7);
	assert_int_equal(ex->time_ns, 1520879607000000001ULL);
	assert_int_equal(ex->filtered_attrs.count, 1);
	assert_string_equal(attr(&ex->filtered_attrs, "user"), "x");

	const sonde_metric_data *h = find_metric(b, "foo");
	assert_int_equal(h->type, SONDE_METRIC_HISTOGRAM);
	const sonde_point *hp = &h->points[0];
	assert_int_equal(hp->exemplars_count, 3);
	assert_true(hp->exemplars[0].value.d == 0.054);
	/* Not a hex id: kept as an attribute. */
	assert_string_equal(attr(&hp->exemplars[1].filtered_attrs, "trace_id"), "KOO5S4vxi0o");
	assert_int_equal(hp->exemplars[2].time_ns, 1520879607789000000ULL);
	assert_int_equal(hp->start_time_ns, 1520430000123000000ULL);

	const sonde_metric_data *info = find_metric(b, "build_info");
	assert_int_equal(info->type, SONDE_METRIC_GAUGE);
	assert_string_equal(meta_type(info), "info");
	assert_string_equal(attr(&info->points[0].attrs, "version"), "8.2.7");

	const sonde_metric_data *st = find_metric(b, "state");
	assert_string_equal(meta_type(st), "stateset");
	assert_int_equal(st->points_count, 2);

	const sonde_metric_data *gh = find_metric(b, "gh");
	assert_int_equal(gh->type, SONDE_METRIC_HISTOGRAM);
	assert_int_equal(gh->temporality, SONDE_TEMPORALITY_UNSPECIFIED);
	assert_int_equal(gh->points[0].u.hist.count, 42);
	assert_int_equal(gh->points[0].u.hist.bucket_counts[1], 22);

	assert_string_equal(meta_type(find_metric(b, "mystery")), "unknown");

	/* Two points of one series, told apart by their timestamps. */
	const sonde_metric_data *mu = find_metric(b, "multi");
	assert_int_equal(mu->points_count, 2);
	assert_int_equal(mu->points[1].time_ns, 456000000000ULL);
	assert_true(num(&mu->points[1]) == 18);
	sonde_batch_free(b);
}

static void test_read_flavor_detection(void **state)
{
	(void)state;
	/* 0.0.4: timestamps are milliseconds. */
	sonde_batch *b = read_ok("a 1 1500\n");
	assert_int_equal(b->metrics[0].points[0].time_ns, 1500000000ULL);
	sonde_batch_free(b);
	/* # EOF makes it OpenMetrics: seconds. */
	b = read_ok("a 1 1500\n# EOF");
	assert_int_equal(b->metrics[0].points[0].time_ns, 1500000000000ULL);
	sonde_batch_free(b);
	/* So does # UNIT (and then # EOF is required). */
	sonde_wire_error err;
	b = sonde_batch_new();
	const char *t = "# UNIT a_seconds seconds\na_seconds 1\n";
	assert_int_equal(sonde_prom_text_read(b, t, strlen(t), 0, &err), SONDE_EPARSE);
	assert_string_equal(err.field, "EOF");
	sonde_batch_free(b);
	/* A timed and an untimed sample of one series are two points. */
	b = read_ok("a 1 1500\na 2\n");
	assert_int_equal(b->metrics[0].points_count, 2);
	assert_int_equal(b->metrics[0].points[1].time_ns, 7);
	sonde_batch_free(b);
	/* A summary's points at two times. */
	b = read_ok("# TYPE s summary\ns{quantile=\"0.5\"} 1 100\ns_count 1 100\n"
	            "s{quantile=\"0.5\"} 2 200\ns_count 3 200\n");
	assert_int_equal(b->metrics[0].points_count, 2);
	assert_int_equal(b->metrics[0].points[1].u.summary.count, 3);
	assert_true(b->metrics[0].points[1].u.summary.quantiles[0].value == 2);
	sonde_batch_free(b);
	/* Empty input: nothing. */
	b = read_ok("");
	assert_int_equal(b->metrics_count, 0);
	sonde_batch_free(b);
}

/* ---- Escaping --------------------------------------------------------------------- */

static void test_escaping(void **state)
{
	(void)state;
	/* 0.0.4 HELP knows \\ and \n only; a quote is a plain character. */
	sonde_batch *b =
	        read_ok("# HELP a back\\\\slash\\nnew \"line\"\n# TYPE a gauge\na{l=\"q\\\"b\\\\n\\n\"} 1\n");
	const sonde_metric_data *m = &b->metrics[0];
	assert_string_equal(m->description.ptr, "back\\slash\nnew \"line\"");
	assert_string_equal(attr(&m->points[0].attrs, "l"), "q\"b\\n\n");
	char *t = write_text(b, SONDE_PROM_TEXT_004);
	assert_text(t, "# HELP a back\\\\slash\\nnew \"line\"\n# TYPE a gauge\na{l=\"q\\\"b\\\\n\\n\"} 1\n");
	free(t);
	/* OpenMetrics escapes the quote in HELP too. */
	t = write_text(b, SONDE_PROM_OPENMETRICS_1);
	assert_text(t, "# TYPE a gauge\n# HELP a back\\\\slash\\nnew \\\"line\\\"\na{l=\"q\\\"b\\\\n\\n\"} "
	               "1\n# EOF\n");
	free(t);
	sonde_batch_free(b);

	/* OpenMetrics keeps an unknown escape as written. */
	b = read_ok("# HELP a x\\ty\nb{l=\"\\d\"} 1\n# EOF\n");
	assert_string_equal(b->metrics[0].description.ptr, "x\\ty");
	assert_string_equal(attr(&b->metrics[1].points[0].attrs, "l"), "\\d");
	sonde_batch_free(b);

	/* Label values are UTF-8; the writer replaces bytes that are not. */
	b = read_ok("a{l=\"h\xc3\xa9\xe2\x82\xac\"} 1\n");
	assert_string_equal(attr(&b->metrics[0].points[0].attrs, "l"), "h\xc3\xa9\xe2\x82\xac");
	sonde_batch_free(b);
	b = sonde_batch_new();
	sonde_resource *res = sonde_batch_new_resource(b);
	sonde_scope *sc = sonde_batch_new_scope(b);
	sonde_metric_data *g = sonde_batch_add_metric(b, res, sc);
	g->name = SONDE_STR_LIT("g");
	g->type = SONDE_METRIC_GAUGE;
	g->points = sonde_batch_alloc(b, sizeof(sonde_point));
	g->points_count = 1;
	g->points[0].attrs.items = sonde_batch_alloc(b, sizeof(sonde_kv));
	g->points[0].attrs.count = 1;
	g->points[0].attrs.items[0].key = SONDE_STR_LIT("bad");
	g->points[0].attrs.items[0].value.kind = SONDE_VAL_STRING;
	g->points[0].attrs.items[0].value.u.str = SONDE_STR_LIT("a\xff"
	                                                        "b");
	g->points[0].u.number.kind = SONDE_NUM_INT;
	g->points[0].u.number.v.i = -5;
	t = write_text(b, SONDE_PROM_TEXT_004);
	assert_text(t, "# TYPE g gauge\ng{bad=\"a\xef\xbf\xbd"
	               "b\"} -5\n");
	free(t);
	sonde_batch_free(b);
}

/* ---- Errors ----------------------------------------------------------------------- */

typedef struct bad_case {
	const char *text;
	size_t line;
	const char *field;
	const char *msg; /* a substring of the message */
} bad_case;

static const bad_case bad_cases[] = {
        {"a{x=\"1\",x=\"2\"} 1\n", 1, "labels", "duplicate label name x"},
        {"ok 1\n{a=\"b\"} 1\n", 2, "metric name", "expected a metric name"},
        {"a{1x=\"1\"} 1\n", 1, "labels", "label name"},
        {"a{x \"1\"} 1\n", 1, "labels", "'='"},
        {"a{x=1} 1\n", 1, "labels", "open the label value"},
        {"a{x=\"1} 1\n", 1, "labels", "close the label value"},
        {"a{x=\"1\" y=\"2\"} 1\n", 1, "labels", "',' or '}'"},
        {"a{x=\"\\q\"} 1\n", 1, "labels", "after a backslash"},
        {"a{x=\"\xc3\x28\"} 1\n", 1, "labels", "UTF-8"},
        {"a\n", 1, "value", "expected a value"},
        {"\n\na abc\n", 3, "value", "expected a number"},
        {"a 0x10\n", 1, "value", "expected a number"},
        {"a 1 1.5\n", 1, "timestamp", "integer milliseconds"},
        {"a 1 99999999999999999999\n", 1, "timestamp", "292 years"},
        {"a 1 2 3\n", 1, "sample", "end of the line"},
        {"a 1 # {x=\"y\"} 1\n", 1, "sample", "OpenMetrics"},
        {"a 1\na 2\n", 2, "metric name", "duplicate value sample"},
        {"# HELP a x\n# HELP a y\n", 2, "HELP", "duplicate HELP"},
        {"# HELP a x\\q\n", 1, "HELP", "after a backslash"},
        {"# TYPE a gauge\n# TYPE a gauge\n", 2, "TYPE", "duplicate TYPE"},
        {"a 1\n# TYPE a gauge\n", 2, "TYPE", "before the samples"},
        {"# TYPE a bogus\n", 1, "TYPE", "expected counter"},
        {"# TYPE a gauge extra\n", 1, "TYPE", "end of the line"},
        {"# TYPE\n", 1, "TYPE", "metric name"},
        {"# TYPE h histogram\nh 1\n", 2, "metric name", "histogram family h"},
        {"# TYPE h histogram\nh_bucket 1\n", 2, "le", "expected a le label"},
        {"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n", 2, "le", "number"},
        {"# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n", 2, "le", "number"},
        {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"0.5\"} 2\n", 3, "le", "increasing"},
        {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 2\n", 3, "le", "increasing"},
        {"# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\n", 3, "count", "do not decrease"},
        {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1.5\n", 2, "count", "non-negative integer"},
        {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} -1\n", 2, "count", "non-negative integer"},
        {"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_count 1\n", 2, "le", "+Inf"},
        {"# TYPE h histogram\nh_sum 1\nh_count 1\n", 2, "le", "+Inf"},
        {"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count x\n", 3, "count", "integer"},
        {"# TYPE s summary\ns 1\n", 2, "quantile", "expected a quantile label"},
        {"# TYPE s summary\ns{quantile=\"1.5\"} 1\n", 2, "quantile", "between 0 and 1"},
        {"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.50\"} 2\n", 2, "quantile",
         "duplicate quantile"},
        {"# TYPE s summary\ns_sum 1\ns_sum 2\n", 3, "metric name", "duplicate sum"},
        /* OpenMetrics. */
        {"# TYPE a info\na_info 1\n", 2, "EOF", "# EOF"},
        {"# EOF\na 1\n", 2, "EOF", "nothing after"},
        {"a 1\n# EOF\n\n", 3, "EOF", "nothing after"},
        {"# TYPE c counter\nc 1\n# EOF\n", 2, "metric name", "counter family c"},
        {"# TYPE c counter\nc_created 1\n# EOF\n", 2, "metric name", "_total"},
        {"# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n# EOF\n", 5, "metric name", "interleaved"},
        {"# TYPE a gauge\na 1\n# HELP a late\n# EOF\n", 3, "HELP", "before the samples"},
        {"# UNIT a s x\n# EOF\n", 1, "UNIT", "unit"},
        {"# UNIT a s\n# UNIT a s\n# EOF\n", 2, "UNIT", "duplicate UNIT"},
        {"a 1 1.5.5\n# EOF\n", 1, "timestamp", "seconds"},
        {"a 1 # x\n# EOF\n", 1, "exemplar", "'{'"},
        {"a 1 # {}\n# EOF\n", 1, "exemplar", "value"},
        {"a 1 # {} x\n# EOF\n", 1, "exemplar", "number"},
        {"a 1 # {} 1 y\n# EOF\n", 1, "exemplar", "seconds"},
        {"a 1 # {x=\"1\",x=\"2\"} 1\n# EOF\n", 1, "exemplar", "duplicate label"},
        {"# TYPE c counter\nc_total 1\nc_created x\n# EOF\n", 3, "_created", "creation time"},
};

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const bad_case *c = &bad_cases[i];
		sonde_batch *b = read_ok("keep{x=\"y\"} 1\n");
		sonde_wire_error err;
		memset(&err, 0, sizeof(err));
		int rc = sonde_prom_text_read(b, c->text, strlen(c->text), 0, &err);
		if (rc != SONDE_EPARSE || err.line != c->line || strcmp(err.field, c->field) != 0 ||
		    !strstr(err.msg, c->msg))
			fail_msg("case %zu (%s): rc %d line %zu field '%s' msg '%s'; want line %zu field "
			         "'%s' msg ~'%s'",
			         i, c->text, rc, err.line, err.field, err.msg, c->line, c->field, c->msg);
		assert_true(err.offset <= strlen(c->text));
		/* The batch is as it was. */
		assert_int_equal(b->metrics_count, 1);
		assert_string_equal(b->metrics[0].name.ptr, "keep");
		sonde_batch_free(b);
	}
}

/* ---- Name mapping ----------------------------------------------------------------- */

static void test_name_mapping(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		bool metric;
		const char *out;
	} names[] = {
	        {"http.server.duration", true, "http_server_duration"},
	        {"a..b--c", true, "a_b_c"},
	        {"a._b", true, "a__b"},
	        {"valid__name_", true, "valid__name_"},
	        {"ns:sub.metric", true, "ns:sub_metric"},
	        {"ns:sub.label", false, "ns_sub_label"},
	        {"2xx", true, "_2xx"},
	        {"__reserved__", false, "__reserved__"},
	        {"caf\xc3\xa9", true, "caf_"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		sonde_buf o = SONDE_BUF_INIT;
		sonde_prom_sanitize(&o, names[i].in, strlen(names[i].in), names[i].metric);
		if (strcmp(o.data ? o.data : "", names[i].out) != 0)
			fail_msg("sanitize(%s) = %s, want %s", names[i].in, o.data, names[i].out);
		sonde_buf_release(&o);
	}

	static const struct {
		const char *unit;
		bool gauge;
		const char *prom;
	} units[] = {
	        {"s", false, "seconds"},
	        {"ms", false, "milliseconds"},
	        {"us", false, "microseconds"},
	        {"ns", false, "nanoseconds"},
	        {"min", false, "minutes"},
	        {"h", false, "hours"},
	        {"d", false, "days"},
	        {"By", false, "bytes"},
	        {"KiBy", false, "kibibytes"},
	        {"MBy", false, "megabytes"},
	        {"m", false, "meters"},
	        {"V", false, "volts"},
	        {"A", false, "amperes"},
	        {"J", false, "joules"},
	        {"W", false, "watts"},
	        {"g", false, "grams"},
	        {"Cel", false, "celsius"},
	        {"Hz", false, "hertz"},
	        {"%", false, "percent"},
	        {"1", true, "ratio"},
	        {"1", false, ""},
	        {"{packet}", false, ""},
	        {"{packet}/s", false, "per_second"},
	        {"By/s", false, "bytes_per_second"},
	        {"m/h", false, "meters_per_hour"},
	        {"By{compressed}", false, "bytes"},
	        {"widgets", false, "widgets"},
	        {"foo.bar/baz", false, "foo_bar_per_baz"},
	        {"", false, ""},
	        /* Found by fuzzing: what sanitizes to an OpenTelemetry unit is mapped too. */
	        {"s__", false, "seconds"},
	        {"1.", true, "ratio"},
	        {"x/s_per_m", false, "x_per_s_per_m"},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		sonde_buf o = SONDE_BUF_INIT;
		sonde_prom_unit_suffix(&o, units[i].unit, strlen(units[i].unit), units[i].gauge);
		if (strcmp(o.data ? o.data : "", units[i].prom) != 0)
			fail_msg("unit(%s) = %s, want %s", units[i].unit, o.data, units[i].prom);
		sonde_buf_release(&o);
	}

	static const struct {
		const char *prom, *otel;
	} back[] = {
	        {"seconds", "s"},
	        {"milliseconds", "ms"},
	        {"bytes", "By"},
	        {"ratio", "1"},
	        {"bytes_per_second", "By/s"},
	        {"per_second", "1/s"},
	        {"widgets", "widgets"},
	        {"celsius", "Cel"},
	        /* Kept when mapping back would not map forward to the same word. */
	        {"m_per_s", "m_per_s"},
	        {"seconds_per_m", "seconds_per_m"},
	        {"x_per_s_per_m", "x/s_per_m"},
	        {"per_s", "per_s"},
	};
	for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
		sonde_buf o = SONDE_BUF_INIT;
		sonde_prom_unit_from_prom(&o, back[i].prom, strlen(back[i].prom));
		if (strcmp(o.data ? o.data : "", back[i].otel) != 0)
			fail_msg("unit_from_prom(%s) = %s, want %s", back[i].prom, o.data, back[i].otel);
		sonde_buf_release(&o);
	}

	/* Mapping back and forth again is stable for every unit above. */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		sonde_buf w = SONDE_BUF_INIT, u = SONDE_BUF_INIT, w2 = SONDE_BUF_INIT;
		sonde_prom_unit_suffix(&w, units[i].unit, strlen(units[i].unit), units[i].gauge);
		if (w.len == 0) {
			sonde_buf_release(&w);
			continue;
		}
		sonde_prom_unit_from_prom(&u, w.data, w.len);
		sonde_prom_unit_suffix(&w2, u.data, u.len, units[i].gauge);
		if (strcmp(w.data, w2.data ? w2.data : "") != 0)
			fail_msg("unit %s -> %s -> %s -> %s", units[i].unit, w.data, u.data, w2.data);
		sonde_buf_release(&w);
		sonde_buf_release(&u);
		sonde_buf_release(&w2);
	}

	static const struct {
		const char *name, *unit;
		sonde_metric_type type;
		bool monotonic;
		const char *meta;
		const char *p004, *om;
	} fams[] = {
	        {"http.server.duration", "s", SONDE_METRIC_HISTOGRAM, false, NULL,
	         "http_server_duration_seconds", "http_server_duration_seconds"},
	        {"requests", "", SONDE_METRIC_SUM, true, NULL, "requests_total", "requests"},
	        {"requests_total", "", SONDE_METRIC_SUM, true, NULL, "requests_total", "requests"},
	        {"cpu.time", "s", SONDE_METRIC_SUM, true, NULL, "cpu_time_seconds_total", "cpu_time_seconds"},
	        {"cpu_seconds_total", "s", SONDE_METRIC_SUM, true, NULL, "cpu_seconds_total", "cpu_seconds"},
	        {"seconds_before_birthday", "s", SONDE_METRIC_GAUGE, false, NULL,
	         "seconds_before_birthday_seconds", "seconds_before_birthday_seconds"},
	        {"mem.util", "1", SONDE_METRIC_GAUGE, false, NULL, "mem_util_ratio", "mem_util_ratio"},
	        {"queue.len", "1", SONDE_METRIC_SUM, false, NULL, "queue_len", "queue_len"},
	        {"net.io", "By/s", SONDE_METRIC_GAUGE, false, NULL, "net_io_bytes_per_second",
	         "net_io_bytes_per_second"},
	        {"net.dropped", "{packet}", SONDE_METRIC_SUM, true, NULL, "net_dropped_total", "net_dropped"},
	        {"build_info", "", SONDE_METRIC_GAUGE, false, "info", "build_info", "build"},
	        {"trailing.", "s", SONDE_METRIC_GAUGE, false, NULL, "trailing_seconds", "trailing_seconds"},
	        {"_total", "", SONDE_METRIC_SUM, true, NULL, "_total_total", "_total"},
	        {"x_", "", SONDE_METRIC_SUM, true, NULL, "x__total", "x_"},
	};
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		sonde_metric_data m;
		memset(&m, 0, sizeof(m));
		m.name = (sonde_str){fams[i].name, strlen(fams[i].name)};
		m.unit = (sonde_str){fams[i].unit, strlen(fams[i].unit)};
		m.description = SONDE_STR_LIT("");
		m.type = fams[i].type;
		m.is_monotonic = fams[i].monotonic;
		m.temporality = SONDE_TEMPORALITY_CUMULATIVE;
		sonde_kv meta = {SONDE_STR_LIT("prometheus.type"), {.kind = SONDE_VAL_STRING}};
		if (fams[i].meta) {
			meta.value.u.str = (sonde_str){fams[i].meta, strlen(fams[i].meta)};
			m.metadata.items = &meta;
			m.metadata.count = 1;
		}
		for (int fl = 0; fl < 2; fl++) {
			sonde_buf o = SONDE_BUF_INIT;
			assert_true(sonde_prom_family_name(&o, &m, (sonde_prom_flavor)fl));
			const char *want = fl ? fams[i].om : fams[i].p004;
			if (strcmp(o.data, want) != 0)
				fail_msg("family(%s, %s, flavor %d) = %s, want %s", fams[i].name,
				         fams[i].unit, fl, o.data, want);
			sonde_buf_release(&o);
		}
	}
	/* Delta sums and exponential histograms are not written. */
	sonde_metric_data m;
	memset(&m, 0, sizeof(m));
	m.name = SONDE_STR_LIT("x");
	m.type = SONDE_METRIC_SUM;
	m.temporality = SONDE_TEMPORALITY_DELTA;
	sonde_buf o = SONDE_BUF_INIT;
	assert_false(sonde_prom_family_name(&o, &m, SONDE_PROM_TEXT_004));
	m.type = SONDE_METRIC_EXP_HISTOGRAM;
	m.temporality = SONDE_TEMPORALITY_CUMULATIVE;
	assert_false(sonde_prom_family_name(&o, &m, SONDE_PROM_TEXT_004));
	assert_int_equal(o.len, 0);
	sonde_buf_release(&o);
}

static void test_double_format(void **state)
{
	(void)state;
	static const struct {
		double d;
		const char *plain, *canonical;
	} cases[] = {
	        {0, "0", "0.0"},
	        {1, "1", "1.0"},
	        {0.005, "0.005", "0.005"},
	        {2.5, "2.5", "2.5"},
	        {100000, "100000", "100000.0"},
	        {1e6, "1e+06", "1e+06"},
	        {1234567, "1.234567e+06", "1.234567e+06"},
	        {1e-5, "1e-05", "1e-05"},
	        {0.0001, "0.0001", "0.0001"},
	        {0.1, "0.1", "0.1"},
	        {-3.25, "-3.25", "-3.25"},
	        {1.1e23, "1.1e+23", "1.1e+23"},
	        {0.30000000000000004, "0.30000000000000004", "0.30000000000000004"},
	        {INFINITY, "+Inf", "+Inf"},
	        {-INFINITY, "-Inf", "-Inf"},
	        {NAN, "NaN", "NaN"},
	        {5e-324, "5e-324", "5e-324"},
	        {1.7976931348623157e308, "1.7976931348623157e+308", "1.7976931348623157e+308"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int c = 0; c < 2; c++) {
			sonde_buf o = SONDE_BUF_INIT;
			sonde__prom_double(&o, cases[i].d, c);
			const char *want = c ? cases[i].canonical : cases[i].plain;
			if (strcmp(o.data, want) != 0)
				fail_msg("double %.17g canonical %d: %s, want %s", cases[i].d, c, o.data,
				         want);
			if (isfinite(cases[i].d))
				assert_true(strtod(o.data, NULL) == cases[i].d);
			sonde_buf_release(&o);
		}
	}
}

/* ---- Writing OpenTelemetry metrics ------------------------------------------------ */

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
                                    const char *name, const char *unit, const char *desc,
                                    sonde_metric_type type, uint32_t npoints)
{
	sonde_metric_data *m = sonde_batch_add_metric(b, r, s);
	m->name = sonde_batch_intern(b, name, strlen(name));
	m->unit = sonde_batch_intern(b, unit, strlen(unit));
	m->description = sonde_batch_intern(b, desc, strlen(desc));
	m->type = type;
	m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	m->points = sonde_batch_alloc(b, npoints * sizeof(sonde_point));
	m->points_count = npoints;
	for (uint32_t i = 0; i < npoints; i++)
		m->points[i].time_ns = 1700000000000000000ULL;
	return m;
}

/* One metric of every kind, from one resource and scope. */
static sonde_batch *otel_batch(void)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = sonde_batch_new_resource(b);
	static const char *const res_kv[] = {"service.name", "shop", "host.name", "h1"};
	r->attrs = mk_attrs(b, 2, res_kv);
	sonde_scope *s = sonde_batch_new_scope(b);
	s->name = SONDE_STR_LIT("io.sonde.test");
	s->version = SONDE_STR_LIT("1.2");

	sonde_metric_data *m =
	        mk_metric(b, r, s, "process.memory.usage", "By", "Memory in use.", SONDE_METRIC_GAUGE, 2);
	static const char *const used[] = {"state", "used"}, *const free_[] = {"state", "free"};
	m->points[0].attrs = mk_attrs(b, 1, used);
	m->points[0].u.number.kind = SONDE_NUM_INT;
	m->points[0].u.number.v.i = 1024;
	m->points[1].attrs = mk_attrs(b, 1, free_);
	m->points[1].u.number.kind = SONDE_NUM_INT;
	m->points[1].u.number.v.i = 2048;

	m = mk_metric(b, r, s, "http.server.requests", "{request}", "Requests served.", SONDE_METRIC_SUM, 1);
	m->is_monotonic = true;
	static const char *const get[] = {"http.method", "GET", "a.b", "1", "a_b", "2"};
	m->points[0].attrs = mk_attrs(b, 3, get);
	m->points[0].start_time_ns = 1600000000500000000ULL;
	m->points[0].u.number.kind = SONDE_NUM_DOUBLE;
	m->points[0].u.number.v.d = 10.5;
	m->points[0].exemplars = sonde_batch_alloc(b, sizeof(sonde_exemplar));
	m->points[0].exemplars_count = 1;
	m->points[0].exemplars[0].value_kind = SONDE_NUM_DOUBLE;
	m->points[0].exemplars[0].value.d = 1.5;
	m->points[0].exemplars[0].trace_id[15] = 1;
	m->points[0].exemplars[0].span_id[7] = 2;
	m->points[0].exemplars[0].time_ns = 1700000000250000000ULL;

	m = mk_metric(b, r, s, "queue.size", "1", "Items queued.", SONDE_METRIC_SUM, 1);
	m->points[0].u.number.kind = SONDE_NUM_INT;
	m->points[0].u.number.v.i = -3;

	m = mk_metric(b, r, s, "cpu.utilization", "1", "CPU in use.", SONDE_METRIC_GAUGE, 1);
	m->points[0].u.number.kind = SONDE_NUM_DOUBLE;
	m->points[0].u.number.v.d = 0.25;

	m = mk_metric(b, r, s, "http.server.duration", "s", "Request latency.", SONDE_METRIC_HISTOGRAM, 1);
	static const char *const route[] = {"route", "/a", "le", "dropped"};
	sonde_point *p = &m->points[0];
	p->attrs = mk_attrs(b, 2, route);
	p->start_time_ns = 1600000000000000000ULL;
	static const double bounds[] = {0.005, 0.01, 0.1, 1};
	static const uint64_t counts[] = {1, 2, 3, 4, 5};
	p->u.hist.bounds = (double *)bounds;
	p->u.hist.bounds_count = 4;
	p->u.hist.bucket_counts = (uint64_t *)counts;
	p->u.hist.bucket_counts_count = 5;
	p->u.hist.count = 15;
	p->u.hist.has_sum = true;
	p->u.hist.sum = 3.25;
	p->exemplars = sonde_batch_alloc(b, 3 * sizeof(sonde_exemplar));
	p->exemplars_count = 3;
	p->exemplars[0].value_kind = SONDE_NUM_DOUBLE;
	p->exemplars[0].value.d = 0.05; /* bucket le=0.1 */
	p->exemplars[1].value_kind = SONDE_NUM_DOUBLE;
	p->exemplars[1].value.d = 0.07; /* also le=0.1, and larger: wins */
	p->exemplars[1].trace_id[0] = 0xab;
	p->exemplars[2].value_kind = SONDE_NUM_INT;
	p->exemplars[2].value.i = 7; /* +Inf */

	m = mk_metric(b, r, s, "rpc.latency", "s", "RPC latency.", SONDE_METRIC_SUMMARY, 1);
	static sonde_quantile qs[] = {{0.99, 0.9}, {0.5, 0.1}};
	m->points[0].u.summary.quantiles = qs;
	m->points[0].u.summary.quantiles_count = 2;
	m->points[0].u.summary.count = 7;
	m->points[0].u.summary.sum = 1.5;

	m = mk_metric(b, r, s, "delta.counter", "", "Not representable.", SONDE_METRIC_SUM, 1);
	m->temporality = SONDE_TEMPORALITY_DELTA;
	m->is_monotonic = true;
	m->points[0].u.number.kind = SONDE_NUM_INT;

	m = mk_metric(b, r, s, "exp.hist", "", "Not in text formats.", SONDE_METRIC_EXP_HISTOGRAM, 1);

	/* Two metrics of one family: merged. */
	static const char *const q1[] = {"queue", "a"}, *const q2[] = {"queue", "b"};
	m = mk_metric(b, r, s, "jobs.done", "", "Jobs done.", SONDE_METRIC_SUM, 1);
	m->is_monotonic = true;
	m->points[0].attrs = mk_attrs(b, 1, q1);
	m->points[0].u.number.kind = SONDE_NUM_INT;
	m->points[0].u.number.v.i = 4;
	m = mk_metric(b, r, s, "jobs_done_total", "", "Other help, dropped.", SONDE_METRIC_SUM, 2);
	m->is_monotonic = true;
	m->points[0].attrs = mk_attrs(b, 1, q2);
	m->points[0].u.number.kind = SONDE_NUM_INT;
	m->points[0].u.number.v.i = 5;
	m->points[1].attrs = mk_attrs(b, 1, q1); /* the same series again: written once */
	m->points[1].u.number.kind = SONDE_NUM_INT;
	m->points[1].u.number.v.i = 99;
	/* Same name, other type: dropped. */
	m = mk_metric(b, r, s, "jobs.done.total", "", "A gauge.", SONDE_METRIC_GAUGE, 1);
	m->points[0].u.number.kind = SONDE_NUM_INT;
	return b;
}

static const char otel_004[] =
        "# HELP target_info Target metadata\n"
        "# TYPE target_info gauge\n"
        "target_info{host_name=\"h1\",service_name=\"shop\"} 1\n"
        "# HELP process_memory_usage_bytes Memory in use.\n"
        "# TYPE process_memory_usage_bytes gauge\n"
        "process_memory_usage_bytes{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\",state="
        "\"used\"} 1024\n"
        "process_memory_usage_bytes{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\",state="
        "\"free\"} 2048\n"
        "# HELP http_server_requests_total Requests served.\n"
        "# TYPE http_server_requests_total counter\n"
        "http_server_requests_total{a_b=\"1;2\",http_method=\"GET\",otel_scope_name=\"io.sonde.test\",otel_"
        "scope_version=\"1.2\"} 10.5\n"
        "# HELP queue_size Items queued.\n"
        "# TYPE queue_size gauge\n"
        "queue_size{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\"} -3\n"
        "# HELP cpu_utilization_ratio CPU in use.\n"
        "# TYPE cpu_utilization_ratio gauge\n"
        "cpu_utilization_ratio{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\"} 0.25\n"
        "# HELP http_server_duration_seconds Request latency.\n"
        "# TYPE http_server_duration_seconds histogram\n"
        "http_server_duration_seconds_bucket{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\","
        "route=\"/a\",le=\"0.005\"} 1\n"
        "http_server_duration_seconds_bucket{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\","
        "route=\"/a\",le=\"0.01\"} 3\n"
        "http_server_duration_seconds_bucket{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\","
        "route=\"/a\",le=\"0.1\"} 6\n"
        "http_server_duration_seconds_bucket{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\","
        "route=\"/a\",le=\"1\"} 10\n"
        "http_server_duration_seconds_bucket{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\","
        "route=\"/a\",le=\"+Inf\"} 15\n"
        "http_server_duration_seconds_count{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\","
        "route=\"/a\"} 15\n"
        "http_server_duration_seconds_sum{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\",route="
        "\"/a\"} 3.25\n"
        "# HELP rpc_latency_seconds RPC latency.\n"
        "# TYPE rpc_latency_seconds summary\n"
        "rpc_latency_seconds{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\",quantile=\"0.5\"} "
        "0.1\n"
        "rpc_latency_seconds{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\",quantile=\"0.99\"} "
        "0.9\n"
        "rpc_latency_seconds_sum{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\"} 1.5\n"
        "rpc_latency_seconds_count{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\"} 7\n"
        "# HELP jobs_done_total Jobs done.\n"
        "# TYPE jobs_done_total counter\n"
        "jobs_done_total{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\",queue=\"a\"} 4\n"
        "jobs_done_total{otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\",queue=\"b\"} 5\n";

#define SCOPE_LABELS "otel_scope_name=\"io.sonde.test\",otel_scope_version=\"1.2\""

static const char otel_om[] =
        "# TYPE target info\n"
        "# HELP target Target metadata\n"
        "target_info{host_name=\"h1\",service_name=\"shop\"} 1\n"
        "# TYPE process_memory_usage_bytes gauge\n"
        "# UNIT process_memory_usage_bytes bytes\n"
        "# HELP process_memory_usage_bytes Memory in use.\n"
        "process_memory_usage_bytes{" SCOPE_LABELS ",state=\"used\"} 1024\n"
        "process_memory_usage_bytes{" SCOPE_LABELS ",state=\"free\"} 2048\n"
        "# TYPE http_server_requests counter\n"
        "# HELP http_server_requests Requests served.\n"
        "http_server_requests_total{a_b=\"1;2\",http_method=\"GET\"," SCOPE_LABELS "} 10.5 # "
        "{span_id=\"0000000000000002\",trace_id=\"00000000000000000000000000000001\"} 1.5 1700000000.25\n"
        "http_server_requests_created{a_b=\"1;2\",http_method=\"GET\"," SCOPE_LABELS "} 1600000000.5\n"
        "# TYPE queue_size gauge\n"
        "# HELP queue_size Items queued.\n"
        "queue_size{" SCOPE_LABELS "} -3\n"
        "# TYPE cpu_utilization_ratio gauge\n"
        "# UNIT cpu_utilization_ratio ratio\n"
        "# HELP cpu_utilization_ratio CPU in use.\n"
        "cpu_utilization_ratio{" SCOPE_LABELS "} 0.25\n"
        "# TYPE http_server_duration_seconds histogram\n"
        "# UNIT http_server_duration_seconds seconds\n"
        "# HELP http_server_duration_seconds Request latency.\n"
        "http_server_duration_seconds_bucket{" SCOPE_LABELS ",route=\"/a\",le=\"0.005\"} 1\n"
        "http_server_duration_seconds_bucket{" SCOPE_LABELS ",route=\"/a\",le=\"0.01\"} 3\n"
        "http_server_duration_seconds_bucket{" SCOPE_LABELS
        ",route=\"/a\",le=\"0.1\"} 6 # {trace_id=\"ab000000000000000000000000000000\"} 0.07\n"
        "http_server_duration_seconds_bucket{" SCOPE_LABELS ",route=\"/a\",le=\"1.0\"} 10\n"
        "http_server_duration_seconds_bucket{" SCOPE_LABELS ",route=\"/a\",le=\"+Inf\"} 15 # {} 7\n"
        "http_server_duration_seconds_count{" SCOPE_LABELS ",route=\"/a\"} 15\n"
        "http_server_duration_seconds_sum{" SCOPE_LABELS ",route=\"/a\"} 3.25\n"
        "http_server_duration_seconds_created{" SCOPE_LABELS ",route=\"/a\"} 1600000000\n"
        "# TYPE rpc_latency_seconds summary\n"
        "# UNIT rpc_latency_seconds seconds\n"
        "# HELP rpc_latency_seconds RPC latency.\n"
        "rpc_latency_seconds{" SCOPE_LABELS ",quantile=\"0.5\"} 0.1\n"
        "rpc_latency_seconds{" SCOPE_LABELS ",quantile=\"0.99\"} 0.9\n"
        "rpc_latency_seconds_sum{" SCOPE_LABELS "} 1.5\n"
        "rpc_latency_seconds_count{" SCOPE_LABELS "} 7\n"
        "# TYPE jobs_done counter\n"
        "# HELP jobs_done Jobs done.\n"
        "jobs_done_total{" SCOPE_LABELS ",queue=\"a\"} 4\n"
        "jobs_done_total{" SCOPE_LABELS ",queue=\"b\"} 5\n"
        "# TYPE jobs_done_total gauge\n"
        "# HELP jobs_done_total A gauge.\n"
        "jobs_done_total{" SCOPE_LABELS "} 0\n"
        "# EOF\n";

static void test_write_otel(void **state)
{
	(void)state;
	sonde_batch *b = otel_batch();
	char *t = write_text(b, SONDE_PROM_TEXT_004);
	assert_text(t, otel_004);
	free(t);
	t = write_text(b, SONDE_PROM_OPENMETRICS_1);
	assert_text(t, otel_om);
	free(t);

	/* Options: timestamps, no target_info, no scope labels. */
	sonde_prom_write_opts o = {.flavor = SONDE_PROM_TEXT_004,
	                           .timestamps = true,
	                           .no_target_info = true,
	                           .no_scope_labels = true};
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_prom_text_write_opts(b, &o, &out), 0);
	assert_null(strstr(out.data, "target_info"));
	assert_null(strstr(out.data, "otel_scope"));
	assert_non_null(strstr(out.data, "queue_size -3 1700000000000\n"));
	sonde_buf_reset(&out);
	o.flavor = SONDE_PROM_OPENMETRICS_1;
	assert_int_equal(sonde_prom_text_write_opts(b, &o, &out), 0);
	assert_non_null(strstr(out.data, "queue_size -3 1700000000\n"));
	sonde_buf_release(&out);

	/* An empty batch: nothing, or just # EOF. */
	sonde_batch *e = sonde_batch_new();
	t = write_text(e, SONDE_PROM_TEXT_004);
	assert_text(t, "");
	free(t);
	t = write_text(e, SONDE_PROM_OPENMETRICS_1);
	assert_text(t, "# EOF\n");
	free(t);
	sonde_batch_free(e);
	sonde_batch_free(b);
}

/* OpenTelemetry -> text -> model: names mapped, values, buckets and labels kept. */
static void test_roundtrip_otel(void **state)
{
	(void)state;
	sonde_batch *b = otel_batch();
	for (int fl = 0; fl < 2; fl++) {
		char *t = write_text(b, (sonde_prom_flavor)fl);
		sonde_batch *r = read_ok(t);
		free(t);
		const char *mem = "process_memory_usage_bytes";
		const sonde_metric_data *m = find_metric(r, mem);
		assert_int_equal(m->type, SONDE_METRIC_GAUGE);
		assert_string_equal(m->description.ptr, "Memory in use.");
		assert_string_equal(m->unit.ptr, fl ? "By" : "");
		assert_true(num(point_where(m, "state", "free")) == 2048);
		assert_string_equal(attr(&m->points[0].attrs, "otel_scope_name"), "io.sonde.test");

		m = find_metric(r, "http_server_requests_total");
		assert_int_equal(m->type, SONDE_METRIC_SUM);
		assert_true(m->is_monotonic);
		assert_true(num(&m->points[0]) == 10.5);
		assert_string_equal(attr(&m->points[0].attrs, "a_b"), "1;2");
		assert_int_equal(m->points[0].start_time_ns, fl ? 1600000000500000000ULL : 0);
		assert_int_equal(m->points[0].exemplars_count, fl ? 1 : 0);
		if (fl) {
			assert_int_equal(m->points[0].exemplars[0].trace_id[15], 1);
			assert_int_equal(m->points[0].exemplars[0].span_id[7], 2);
			assert_int_equal(m->points[0].exemplars[0].time_ns, 1700000000250000000ULL);
		}

		m = find_metric(r, "http_server_duration_seconds");
		assert_int_equal(m->type, SONDE_METRIC_HISTOGRAM);
		const sonde_point *p = &m->points[0];
		assert_int_equal(p->u.hist.bounds_count, 4);
		for (int i = 0; i < 5; i++)
			assert_int_equal(p->u.hist.bucket_counts[i], (uint64_t)i + 1);
		assert_true(p->u.hist.bounds[0] == 0.005 && p->u.hist.bounds[3] == 1);
		assert_int_equal(p->u.hist.count, 15);
		assert_true(p->u.hist.sum == 3.25);
		assert_null(sonde_attrs_get(&p->attrs, "le"));
		assert_int_equal(p->exemplars_count, fl ? 2 : 0);

		m = find_metric(r, "rpc_latency_seconds");
		assert_int_equal(m->points[0].u.summary.quantiles_count, 2);
		assert_true(m->points[0].u.summary.quantiles[1].quantile == 0.99);
		assert_true(m->points[0].u.summary.quantiles[1].value == 0.9);

		m = &r->metrics[7]; /* OpenMetrics has a gauge of that name too */
		assert_string_equal(m->name.ptr, "jobs_done_total");
		assert_int_equal(m->type, SONDE_METRIC_SUM);
		assert_int_equal(m->points_count, 2);
		assert_true(num(point_where(m, "queue", "a")) == 4);

		m = find_metric(r, "target_info");
		assert_string_equal(attr(&m->points[0].attrs, "service_name"), "shop");
		sonde_batch_free(r);
	}
	sonde_batch_free(b);
}

/* Prometheus -> model -> text -> model -> text: the second text equals the first and the
 * models read from them are equal. */
static void check_stable(const char *input)
{
	sonde_batch *b1 = read_ok(input);
	for (int fl = 0; fl < 2; fl++) {
		char *t1 = write_text(b1, (sonde_prom_flavor)fl);
		sonde_batch *b2 = read_ok(t1);
		char *t2 = write_text(b2, (sonde_prom_flavor)fl);
		assert_text(t2, t1);
		sonde_batch *b3 = read_ok(t2);
		char why[256];
		if (!sonde_batch_equal(b2, b3, why, sizeof(why)))
			fail_msg("flavor %d: %s", fl, why);
		sonde_batch_free(b2);
		sonde_batch_free(b3);
		free(t1);
		free(t2);
	}
	sonde_batch_free(b1);
}

static void test_roundtrip_prometheus(void **state)
{
	(void)state;
	check_stable(doc_example);
	check_stable(node_exporter);
	check_stable(openmetrics);
	/* And a native exposition comes back as written, in 0.0.4. */
	const char *native =
	        "# HELP a_total Things.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n"
	        "# HELP g A gauge.\n# TYPE g gauge\ng 1.5\n"
	        "# HELP h A histogram.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
	        "h_count 2\nh_sum 7\n";
	sonde_batch *b = read_ok(native);
	char *t = write_text(b, SONDE_PROM_TEXT_004);
	assert_text(t, native);
	free(t);
	sonde_batch_free(b);
}

/* Many series in one family: linear, not quadratic. */
static void test_many_series(void **state)
{
	(void)state;
	enum { N = 100000 };
	sonde_buf in = SONDE_BUF_INIT;
	sonde_buf_puts(&in, "# TYPE h histogram\n");
	for (int i = 0; i < N; i++) {
		sonde_buf_printf(&in, "h_bucket{id=\"%d\",le=\"1\"} 1\n", i);
		sonde_buf_printf(&in, "h_bucket{id=\"%d\",le=\"+Inf\"} 2\n", i);
		sonde_buf_printf(&in, "h_count{id=\"%d\"} 2\n", i);
	}
	for (int i = 0; i < N; i++)
		sonde_buf_printf(&in, "g{id=\"%d\"} %d\n", i, i);
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	assert_int_equal(sonde_prom_text_read(b, in.data, in.len, 0, &err), 0);
	assert_int_equal(b->metrics_count, 2);
	assert_int_equal(b->metrics[0].points_count, N);
	assert_int_equal(b->metrics[1].points_count, N);
	assert_int_equal(b->metrics[0].points[N - 1].u.hist.bucket_counts[1], 1);
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_prom_text_write(b, SONDE_PROM_TEXT_004, &out), 0);
	assert_true(out.len > in.len / 2);
	sonde_buf_release(&out);
	sonde_buf_release(&in);
	sonde_batch_free(b);
}

/* Every metric kind in 0.0.4 must satisfy `promtool check metrics` when it is installed. */
static void test_promtool(void **state)
{
	(void)state;
	if (system("command -v promtool >/dev/null 2>&1") != 0) {
		print_message("promtool not installed: skipping the promtool check\n");
		skip();
	}
	const char *dir = getenv("SONDE_BUILD");
	char path[4096], cmd[8400];
	snprintf(path, sizeof(path), "%s/prom_text_test.prom", dir && *dir ? dir : "/tmp");
	sonde_batch *b = otel_batch();
	char *t = write_text(b, SONDE_PROM_TEXT_004);
	sonde_batch_free(b);
	/* Plus what the reader makes of Prometheus' own types. */
	b = read_ok("# HELP up Whether the target is up.\n# TYPE up untyped\nup 1\n"
	            "# HELP build Build.\n# TYPE build info\nbuild_info{version=\"1\"} 1\n"
	            "# HELP st States.\n# TYPE st stateset\nst{st=\"a\"} 1\n"
	            "# HELP gh Queue sizes.\n# TYPE gh gaugehistogram\ngh_bucket{le=\"1.0\"} 2\n"
	            "gh_bucket{le=\"+Inf\"} 3\ngh_gcount 3\ngh_gsum 4\n# EOF\n");
	char *t2 = write_text(b, SONDE_PROM_TEXT_004);
	sonde_batch_free(b);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(t, f);
	fputs(t2, f);
	fclose(f);
	free(t);
	free(t2);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", path);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char output[4096];
	size_t n = fread(output, 1, sizeof(output) - 1, p);
	output[n] = '\0';
	int status = pclose(p);
	if (status != 0 || n != 0)
		fail_msg("promtool check metrics %s: exit %d, output:\n%s", path, WEXITSTATUS(status),
		         output);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_read_doc_example),
	        cmocka_unit_test(test_read_node_exporter),
	        cmocka_unit_test(test_read_openmetrics),
	        cmocka_unit_test(test_read_flavor_detection),
	        cmocka_unit_test(test_escaping),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_name_mapping),
	        cmocka_unit_test(test_double_format),
	        cmocka_unit_test(test_write_otel),
	        cmocka_unit_test(test_roundtrip_otel),
	        cmocka_unit_test(test_roundtrip_prometheus),
	        cmocka_unit_test(test_many_series),
	        cmocka_unit_test(test_promtool),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
