/*
 * metric_export_test.c - the metric exporters driven by libsonde's runtime: the OTLP JSON
 * lines file (one ExportMetricsServiceRequest per line, read back with the wire reader)
 * and the InfluxDB line-protocol exporter to a file and over HTTP to a loopback listener
 * (libmicrohttpd), read back with the influx reader; the values must be those recorded.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "influx_read.h"
#include "otlp_json.h"
#include "sonde/export.h"
#include "sonde/metrics.h"
#include "sonde/trace.h"
#include "telemetry.h"

static char diag_log[8192];
static pthread_mutex_t diag_mu = PTHREAD_MUTEX_INITIALIZER;

static void on_diag(void *ud, const char *msg)
{
	pthread_mutex_lock(&diag_mu);
	size_t n = strlen(diag_log);
	snprintf(diag_log + n, sizeof diag_log - n, "%s\n", msg);
	pthread_mutex_unlock(&diag_mu);
}

static char tmpdir[PATH_MAX];

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t cap = 0;
	*len = 0;
	for (;;) {
		if (*len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t r = fread(buf + *len, 1, cap - *len - 1, f);
		*len += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

/* Instruments of this test's meter and what they recorded. */
static sonde_instrument *requests, *latency, *temp;

static void record(void)
{
	static bool done;
	if (done) /* cumulative: a second test sees the same totals */
		return;
	done = true;
	sonde_meter *m = sonde_meter_get("t.export", "1.0", NULL);
	requests = sonde_counter_new(m, "t.requests", "{request}", "Requests");
	static const double bounds[] = {1, 10, 100};
	latency = sonde_histogram_new(m, "t.latency", "ms", NULL, bounds, 3);
	temp = sonde_gauge_new(m, "t.temperature", "Cel", NULL);
	sonde_attr get = SONDE_ATTR_STR("http.request.method", "GET");
	sonde_attr post = SONDE_ATTR_STR("http.request.method", "POST, with comma");
	sonde_instrument_add(requests, 7, &get, 1);
	sonde_instrument_add(requests, 3, &post, 1);
	const double lat[] = {0.5, 5, 5, 50, 500};
	for (size_t i = 0; i < 5; i++)
		sonde_instrument_record(latency, lat[i], NULL, 0);
	sonde_instrument_set(temp, 21.5, NULL, 0);
}

static const sonde_metric_data *find(const sonde_batch *b, const char *name)
{
	const sonde_metric_data *last = NULL;
	for (size_t i = 0; i < b->metrics_count; i++)
		if (strcmp(b->metrics[i].name.ptr, name) == 0)
			last = &b->metrics[i];
	return last;
}

static const sonde_point *point_with(const sonde_metric_data *m, const char *key, const char *value)
{
	assert_non_null(m);
	for (uint32_t i = 0; i < m->points_count; i++) {
		const sonde_value *v = key ? sonde_attrs_get(&m->points[i].attrs, key) : NULL;
		if (!key ? m->points[i].attrs.count == 0
		         : (v && v->kind == SONDE_VAL_STRING && strcmp(v->u.str.ptr, value) == 0))
			return &m->points[i];
	}
	fail_msg("%s: no point %s=%s", m->name.ptr, key ? key : "", value ? value : "");
	return NULL;
}

/* Checks what an influx reader made of our lines: gauges named after the measurement
 * (field value) or measurement_field. */
static void check_influx(const char *text, size_t len)
{
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err = {0};
	int rc = sonde_influx_read(b, text, len, 1, &err);
	if (rc != 0)
		fail_msg("influx read: line %zu: %s: %s", err.line, err.field, err.msg);
	const sonde_point *p = point_with(find(b, "t.requests"), "http.request.method", "GET");
	assert_int_equal(p->u.number.kind, SONDE_NUM_INT);
	assert_int_equal(p->u.number.v.i, 7);
	p = point_with(find(b, "t.requests"), "http.request.method", "POST, with comma");
	assert_int_equal(p->u.number.v.i, 3);
	p = point_with(find(b, "t.latency_count"), NULL, NULL);
	assert_true(p->u.number.kind == SONDE_NUM_INT ? p->u.number.v.i == 5 : p->u.number.v.d == 5);
	assert_true(point_with(find(b, "t.latency_sum"), NULL, NULL)->u.number.v.d == 560.5);
	/* Cumulative bucket counts: <=1: 1, <=10: 3, <=100: 4, +Inf: 5. */
	p = point_with(find(b, "t.latency_le_10"), NULL, NULL);
	assert_true(p->u.number.kind == SONDE_NUM_INT ? p->u.number.v.i == 3 : p->u.number.v.d == 3);
	assert_true(point_with(find(b, "t.temperature"), NULL, NULL)->u.number.v.d == 21.5);
	/* The service travels as a tag, read back into the resource. */
	const sonde_value *svc = sonde_attrs_get(&find(b, "t.requests")->resource->attrs, "service.name");
	assert_non_null(svc);
	assert_string_equal(svc->u.str.ptr, "export-test");
	sonde_batch_free(b);
}

static void test_file_and_influx_file(void **state)
{
	snprintf(tmpdir, sizeof tmpdir, "%s/sonde-mexp-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	char jsonl[PATH_MAX + 16], lp[PATH_MAX + 16];
	snprintf(jsonl, sizeof jsonl, "%s/metrics.jsonl", tmpdir);
	snprintf(lp, sizeof lp, "%s/metrics.lp", tmpdir);
	sonde_set_diagnostics(on_diag, NULL);
	record();
	sonde_trace_config cfg = {.service_name = "export-test", .metrics_interval_ms = 3600000};
	cfg.exporters[0] = sonde_exporter_file_new(jsonl);
	cfg.exporters[1] = sonde_exporter_influx_new(&(sonde_influx_config){.path = lp});
	assert_non_null(cfg.exporters[0]);
	assert_non_null(cfg.exporters[1]);
	cfg.exporters_count = 2;
	assert_int_equal(sonde_trace_init(&cfg), 0);
	assert_int_equal(sonde_trace_force_flush(10000), 0);
	assert_int_equal(sonde_trace_shutdown(10000), 0);

	/* The OTLP file: every line one metrics request, all of them readable. */
	size_t len;
	char *text = slurp(jsonl, &len);
	assert_non_null(text);
	size_t lines = 0;
	for (char *p = text; *p; p = strchr(p, '\n') + 1) {
		assert_non_null(strchr(p, '\n'));
		assert_int_equal(strncmp(p, "{\"resourceMetrics\":", 19), 0);
		lines++;
	}
	assert_true(lines >= 2); /* the flush, then shutdown */
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err = {0};
	if (sonde_otlp_jsonl_read(b, text, len, &err) != 0)
		fail_msg("jsonl read: line %zu: %s: %s", err.line, err.field, err.msg);
	const sonde_metric_data *m = find(b, "t.requests");
	assert_non_null(m);
	assert_int_equal(m->type, SONDE_METRIC_SUM);
	assert_true(m->is_monotonic);
	assert_int_equal(m->temporality, SONDE_TEMPORALITY_CUMULATIVE);
	assert_string_equal(m->unit.ptr, "{request}");
	assert_int_equal(point_with(m, "http.request.method", "GET")->u.number.v.i, 7);
	assert_int_equal(point_with(m, "http.request.method", "POST, with comma")->u.number.v.i, 3);
	m = find(b, "t.latency");
	assert_int_equal(m->type, SONDE_METRIC_HISTOGRAM);
	const sonde_point *h = point_with(m, NULL, NULL);
	assert_int_equal(h->u.hist.count, 5);
	assert_true(h->u.hist.sum == 560.5);
	assert_true(h->u.hist.min == 0.5 && h->u.hist.max == 500);
	assert_int_equal(h->u.hist.bucket_counts_count, 4);
	const uint64_t want[4] = {1, 2, 1, 1};
	for (int i = 0; i < 4; i++)
		assert_int_equal(h->u.hist.bucket_counts[i], want[i]);
	assert_true(point_with(find(b, "t.temperature"), NULL, NULL)->u.number.v.d == 21.5);
	sonde_batch_free(b);
	free(text);

	/* The line-protocol file. */
	text = slurp(lp, &len);
	assert_non_null(text);
	check_influx(text, len);
	free(text);
	unlink(jsonl);
	unlink(lp);
	rmdir(tmpdir);
}

/* ---- HTTP --------------------------------------------------------------------------- */

static struct listener {
	pthread_mutex_t mu;
	char url[512];
	char auth[256];
	char ctype[128];
	char *body;
	size_t len;
	int requests;
	int fail_first; /* answer 503 to this many requests first */
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	char *url = cls;
	size_t n = strlen(url);
	snprintf(url + n, 512 - n, "%c%s=%s", strchr(url, '?') ? '&' : '?', key, value ? value : "");
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size,
                                  void **con_cls)
{
	if (!*con_cls) {
		*con_cls = (void *)1;
		return MHD_YES;
	}
	pthread_mutex_lock(&L.mu);
	if (*upload_size) {
		L.body = realloc(L.body, L.len + *upload_size + 1);
		memcpy(L.body + L.len, upload, *upload_size);
		L.len += *upload_size;
		L.body[L.len] = '\0';
		*upload_size = 0;
		pthread_mutex_unlock(&L.mu);
		return MHD_YES;
	}
	unsigned status = MHD_HTTP_NO_CONTENT;
	if (L.fail_first > 0) {
		L.fail_first--;
		status = MHD_HTTP_SERVICE_UNAVAILABLE;
		free(L.body);
		L.body = NULL;
		L.len = 0;
	} else {
		snprintf(L.url, sizeof L.url, "%s %s", method, url);
		MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, (MHD_KeyValueIterator)query_arg, L.url);
		const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
		const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
		snprintf(L.auth, sizeof L.auth, "%s", a ? a : "");
		snprintf(L.ctype, sizeof L.ctype, "%s", t ? t : "");
	}
	L.requests++;
	pthread_mutex_unlock(&L.mu);
	struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (status != MHD_HTTP_NO_CONTENT)
		MHD_add_response_header(r, "Retry-After", "0");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void test_influx_http(void **state)
{
	struct MHD_Daemon *d =
	        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL,
	                         (MHD_AccessHandlerCallback)on_request, NULL, MHD_OPTION_SOCK_ADDR,
	                         (struct sockaddr *)&(struct sockaddr_in){
	                                 .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
	                         MHD_OPTION_END);
	if (!d)
		skip();
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	char base[64];
	snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)info->port);
	L.fail_first = 1; /* the exporter retries a 503 */

	record();
	sonde_trace_config cfg = {.service_name = "export-test", .metrics_interval_ms = 3600000};
	cfg.exporters[0] = sonde_exporter_influx_new(&(sonde_influx_config){
	        .endpoint = base, .org = "my org", .bucket = "b1", .token = "s3cr3t", .timeout_ms = 5000});
	assert_non_null(cfg.exporters[0]);
	cfg.exporters_count = 1;
	assert_int_equal(sonde_trace_init(&cfg), 0);
	assert_int_equal(sonde_trace_force_flush(10000), 0);
	pthread_mutex_lock(&L.mu);
	assert_true(L.requests >= 2);
	assert_string_equal(L.url, "POST /api/v2/write?bucket=b1&org=my org&precision=ns");
	assert_string_equal(L.auth, "Token s3cr3t");
	assert_string_equal(L.ctype, "text/plain; charset=utf-8");
	assert_non_null(L.body);
	check_influx(L.body, L.len);
	pthread_mutex_unlock(&L.mu);
	assert_int_equal(sonde_trace_shutdown(10000), 0);
	MHD_stop_daemon(d);
	free(L.body);
	L.body = NULL;
}

static void test_influx_bad_settings(void **state)
{
	diag_log[0] = '\0';
	sonde_set_diagnostics(on_diag, NULL);
	assert_null(sonde_exporter_influx_new(NULL));
	assert_null(sonde_exporter_influx_new(&(sonde_influx_config){.path = "/x", .endpoint = "http://h"}));
	assert_null(
	        sonde_exporter_influx_new(&(sonde_influx_config){.endpoint = "ftp://h:8086", .bucket = "b"}));
	assert_null(sonde_exporter_influx_new(&(sonde_influx_config){.endpoint = "http://h:8086"}));
	assert_non_null(strstr(diag_log, "give a bucket"));
	assert_null(sonde_exporter_influx_new(&(sonde_influx_config){.path = "/nonexistent-dir/x.lp"}));
	assert_non_null(strstr(diag_log, "cannot open /nonexistent-dir/x.lp"));
	assert_null(sonde_exporter_influx_new(&(sonde_influx_config){
	        .endpoint = "http://h:8086", .bucket = "b", .token = "a\r\nX-Evil: 1"}));
	/* InfluxDB 1: /write?db=. */
	sonde_exporter *e = sonde_exporter_influx_new(
	        &(sonde_influx_config){.endpoint = "http://h:8086/", .db = "telegraf"});
	assert_non_null(e);
	sonde_exporter_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_file_and_influx_file),
	        cmocka_unit_test(test_influx_http),
	        cmocka_unit_test(test_influx_bad_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
