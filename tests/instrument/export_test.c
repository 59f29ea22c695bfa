/* export_test.c - libsonde's exporters called through their ops: the file and console
 * exporters on real descriptors, OTEL_* parsing, and OTLP/HTTP and Zipkin against
 * tests/instrument/receiver.js (node), including throttling, failures, partial success, a
 * slow peer, a peer that hangs up and one that is not there. The receiver tests are skipped
 * (77) when node or tests/interop/node_modules is missing. */
#define _GNU_SOURCE /* pipe2 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "env_internal.h"
#include "exporter_internal.h"
#include "otlp_json.h"
#include "hex.h"
#include "sonde/export.h"
#include "sonde/log.h"
#include "sonde/metrics.h"
#include "sonde/trace.h"
#include "zipkin.h"

#define MS 1000000ull

/* ---- Diagnostics ---------------------------------------------------------------------- */

static char diag_log[16384];
static size_t diag_len;

static void on_diag(void *ud, const char *msg)
{
	size_t n = strlen(msg);
	if (diag_len + n + 2 < sizeof(diag_log)) {
		memcpy(diag_log + diag_len, msg, n);
		diag_len += n;
		diag_log[diag_len++] = '\n';
		diag_log[diag_len] = '\0';
	}
}

static void diag_reset(void)
{
	diag_len = 0;
	diag_log[0] = '\0';
}

#define assert_diag_has(s)                                                            \
	do {                                                                          \
		if (!strstr(diag_log, (s)))                                           \
			fail_msg("diagnostics lack \"%s\"; got:\n%s", (s), diag_log); \
	} while (0)

static const char *const otel_vars[] = {
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT",
        "OTEL_EXPORTER_ZIPKIN_TIMEOUT",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof(otel_vars) / sizeof(otel_vars[0]); i++)
		unsetenv(otel_vars[i]);
}

static int per_test_setup(void **state)
{
	clear_env();
	diag_reset();
	return 0;
}

/* ---- The batch ----------------------------------------------------------------------- */

static sonde_str str(sonde_batch *b, const char *s)
{
	sonde_str r = sonde_batch_strdup(b, s, strlen(s));
	assert_non_null(r.ptr);
	return r;
}

static sonde_kv *kvs(sonde_batch *b, uint32_t n)
{
	sonde_kv *kv = sonde_batch_alloc(b, n * sizeof(*kv));
	assert_non_null(kv);
	return kv;
}

static void set_str(sonde_batch *b, sonde_kv *kv, const char *k, const char *v)
{
	kv->key = str(b, k);
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = str(b, v);
}

static void set_int(sonde_batch *b, sonde_kv *kv, const char *k, int64_t v)
{
	kv->key = str(b, k);
	kv->value.kind = SONDE_VAL_INT;
	kv->value.u.i = v;
}

static void fill_id(uint8_t *id, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		id[i] = (uint8_t)(seed + i * 17);
}

/* Every attribute type of the model, nested values included. */
static sonde_attrs rich_attrs(sonde_batch *b)
{
	sonde_kv *kv = kvs(b, 8);
	set_str(b, &kv[0], "http.request.method", "GET");
	kv[1].key = str(b, "flag");
	kv[1].value.kind = SONDE_VAL_BOOL;
	kv[1].value.u.b = true;
	set_int(b, &kv[2], "big", -9007199254740993ll);
	kv[3].key = str(b, "ratio");
	kv[3].value.kind = SONDE_VAL_DOUBLE;
	kv[3].value.u.d = 0.1;
	kv[4].key = str(b, "list");
	kv[4].value.kind = SONDE_VAL_ARRAY;
	sonde_value *items = sonde_batch_alloc(b, 3 * sizeof(*items));
	assert_non_null(items);
	items[0].kind = SONDE_VAL_STRING;
	items[0].u.str = str(b, "a");
	items[1].kind = SONDE_VAL_INT;
	items[1].u.i = 42;
	items[2].kind = SONDE_VAL_DOUBLE;
	items[2].u.d = -2.5;
	kv[4].value.u.array.items = items;
	kv[4].value.u.array.count = 3;
	kv[5].key = str(b, "map");
	kv[5].value.kind = SONDE_VAL_KVLIST;
	sonde_kv *inner = kvs(b, 2);
	set_str(b, &inner[0], "k", "v \"quoted\" \xc3\xa9");
	set_int(b, &inner[1], "n", 7);
	kv[5].value.u.kvlist.items = inner;
	kv[5].value.u.kvlist.count = 2;
	kv[6].key = str(b, "blob");
	kv[6].value.kind = SONDE_VAL_BYTES;
	kv[6].value.u.str = sonde_batch_strdup(b, "\x00\x01\xfe\xff", 4);
	set_str(b, &kv[7], "server.address", "db.example");
	return (sonde_attrs){kv, 8};
}

static sonde_batch *make_batch(void)
{
	sonde_batch *b = sonde_batch_new();
	assert_non_null(b);
	sonde_resource *r1 = sonde_batch_new_resource(b);
	sonde_resource *r2 = sonde_batch_new_resource(b);
	sonde_scope *s1 = sonde_batch_new_scope(b);
	sonde_scope *s2 = sonde_batch_new_scope(b);
	sonde_scope *s3 = sonde_batch_new_scope(b);
	assert_true(r1 && r2 && s1 && s2 && s3);
	sonde_kv *ra = kvs(b, 2);
	set_str(b, &ra[0], "service.name", "export-test");
	set_int(b, &ra[1], "process.pid", 4242);
	r1->attrs = (sonde_attrs){ra, 2};
	r1->schema_url = str(b, "https://opentelemetry.io/schemas/1.26.0");
	sonde_kv *rb = kvs(b, 1);
	set_str(b, &rb[0], "service.name", "other-service");
	r2->attrs = (sonde_attrs){rb, 1};
	s1->name = str(b, "sonde.test");
	s1->version = str(b, "1.2.3");
	s2->name = str(b, "sonde.other");
	s3->name = str(b, "sonde.third");
	s3->version = str(b, "0.0.1");

	static const char *const names[] = {"GET /checkout", "SELECT orders", "render", "queue publish",
	                                    "other root"};
	for (int i = 0; i < 5; i++) {
		sonde_span_data *s = sonde_batch_add_span(b, i < 4 ? r1 : r2, i < 3 ? s1 : i < 4 ? s2 : s3);
		assert_non_null(s);
		fill_id(s->trace_id, 16, i < 4 ? 0x10 : 0x90);
		fill_id(s->span_id, 8, (uint8_t)(0x21 + i));
		if (i > 0 && i < 4)
			fill_id(s->parent_span_id, 8, 0x21);
		s->name = str(b, names[i]);
		s->kind = (sonde_span_kind)(i % 5 + 1);
		s->start_ns = 1763794949000000000ull + (uint64_t)i * 1000000u;
		s->end_ns = s->start_ns + 2500000u + (uint64_t)i * 1000u;
		s->flags = 0x301;
		if (i == 0) {
			s->trace_state = str(b, "vendor=a,ot=th:8");
			s->attrs = rich_attrs(b);
			s->dropped_attrs_count = 2;
		} else {
			sonde_kv *kv = kvs(b, 1);
			set_int(b, &kv[0], "index", i);
			s->attrs = (sonde_attrs){kv, 1};
		}
		if (i == 1) {
			s->events = sonde_batch_alloc(b, 2 * sizeof(*s->events));
			assert_non_null(s->events);
			s->events_count = 2;
			s->events[0].time_ns = s->start_ns + 100;
			s->events[0].name = str(b, "cache miss");
			s->events[1].time_ns = s->start_ns + 200;
			s->events[1].name = str(b, "exception");
			sonde_kv *ea = kvs(b, 2);
			set_str(b, &ea[0], "exception.type", "IOError");
			set_str(b, &ea[1], "exception.message", "disk on fire");
			s->events[1].attrs = (sonde_attrs){ea, 2};
			s->status_code = SONDE_STATUS_ERROR;
			s->status_message = str(b, "query failed");
			s->dropped_events_count = 1;
		}
		if (i == 2) {
			s->links = sonde_batch_alloc(b, sizeof(*s->links));
			assert_non_null(s->links);
			s->links_count = 1;
			fill_id(s->links[0].trace_id, 16, 0x55);
			fill_id(s->links[0].span_id, 8, 0x66);
			s->links[0].trace_state = str(b, "k=v");
			s->links[0].flags = 0x101;
			sonde_kv *la = kvs(b, 1);
			set_str(b, &la[0], "link.reason", "batch");
			s->links[0].attrs = (sonde_attrs){la, 1};
			s->status_code = SONDE_STATUS_OK;
		}
	}
	return b;
}

static void assert_batches_equal(const sonde_batch *want, const sonde_batch *got)
{
	char why[256];
	if (!sonde_batch_equal(want, got, why, sizeof(why)))
		fail_msg("batches differ: %s", why);
}

/* ---- Small helpers ------------------------------------------------------------------- */

static char tmpdir[PATH_MAX];

static void make_tmpdir(void)
{
	if (tmpdir[0])
		return;
	snprintf(tmpdir, sizeof(tmpdir), "%s/sonde-export-XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static uint64_t deadline_in(uint64_t ms)
{
	return sonde__mono_ns() + ms * MS;
}

static uint64_t elapsed_ms(uint64_t t0)
{
	return (sonde__mono_ns() - t0) / MS;
}

/* A TCP port on 127.0.0.1 where nothing listens: bound, never listened on, so connecting
 * is refused and no other process can take it during the test. */
static int closed_port(int *fd_out)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	socklen_t al = sizeof(a);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	*fd_out = fd;
	return ntohs(a.sin_port);
}

/* ---- OTEL_* parsing ------------------------------------------------------------------ */

static void test_parse_ms(void **state)
{
	uint32_t v = 7;
	assert_int_equal(sonde__parse_ms("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(sonde__parse_ms(" 2500\t", &v), 0);
	assert_int_equal(v, 2500);
	assert_int_equal(sonde__parse_ms("4294967295", &v), 0);
	assert_int_equal(v, UINT32_MAX);
	assert_int_equal(sonde__parse_ms("4294967296", &v), -EINVAL);
	assert_int_equal(sonde__parse_ms("-5", &v), -EINVAL);
	assert_int_equal(sonde__parse_ms("1.5", &v), -EINVAL);
	assert_int_equal(sonde__parse_ms("10s", &v), -EINVAL);
	assert_int_equal(sonde__parse_ms("", &v), -EINVAL);
	assert_int_equal(v, UINT32_MAX);

	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "abc", 1);
	assert_int_equal(sonde__env_ms("OTEL_EXPORTER_OTLP_TIMEOUT", &v), -EINVAL);
	assert_diag_has("OTEL_EXPORTER_OTLP_TIMEOUT=\"abc\" ignored");
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "  ", 1);
	assert_int_equal(sonde__env_ms("OTEL_EXPORTER_OTLP_TIMEOUT", &v), 0);
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1500", 1);
	assert_int_equal(sonde__env_ms("OTEL_EXPORTER_OTLP_TIMEOUT", &v), 1);
	assert_int_equal(v, 1500);
}

static void test_env_bool_choice_str(void **state)
{
	bool b = true;
	assert_int_equal(sonde__env_bool("SONDE_TEST_BOOL", &b), 0);
	setenv("SONDE_TEST_BOOL", " TRUE ", 1);
	assert_int_equal(sonde__env_bool("SONDE_TEST_BOOL", &b), 1);
	assert_true(b);
	setenv("SONDE_TEST_BOOL", "False", 1);
	assert_int_equal(sonde__env_bool("SONDE_TEST_BOOL", &b), 1);
	assert_false(b);
	setenv("SONDE_TEST_BOOL", "yes", 1);
	b = true;
	assert_int_equal(sonde__env_bool("SONDE_TEST_BOOL", &b), -EINVAL);
	assert_false(b);
	assert_diag_has("SONDE_TEST_BOOL=\"yes\"");
	unsetenv("SONDE_TEST_BOOL");

	static const char *const kinds[] = {"gzip", "none"};
	assert_int_equal(sonde__env_choice("SONDE_TEST_CHOICE", kinds, 2), -ENOENT);
	setenv("SONDE_TEST_CHOICE", "GZip ", 1);
	assert_int_equal(sonde__env_choice("SONDE_TEST_CHOICE", kinds, 2), 0);
	setenv("SONDE_TEST_CHOICE", "zstd", 1);
	assert_int_equal(sonde__env_choice("SONDE_TEST_CHOICE", kinds, 2), -EINVAL);
	assert_diag_has("SONDE_TEST_CHOICE=\"zstd\"");
	unsetenv("SONDE_TEST_CHOICE");

	char *s = (char *)"x";
	setenv("SONDE_TEST_STR", "  http://h:1/  ", 1);
	assert_int_equal(sonde__env_str("SONDE_TEST_STR", &s), 1);
	assert_string_equal(s, "http://h:1/");
	free(s);
	setenv("SONDE_TEST_STR", "", 1);
	assert_int_equal(sonde__env_str("SONDE_TEST_STR", &s), 0);
	assert_null(s);
	assert_null(sonde__env_get("SONDE_TEST_STR"));
	unsetenv("SONDE_TEST_STR");
}

static void test_percent_decode(void **state)
{
	char out[32];
	assert_int_equal(sonde__percent_decode("a%20b%2c%2C+", 12, out), 6);
	assert_string_equal(out, "a b,,+");
	assert_int_equal(sonde__percent_decode("%00x", 4, out), 2);
	assert_int_equal(out[0], 0);
	assert_int_equal(sonde__percent_decode("%4", 2, out), -EINVAL);
	assert_int_equal(sonde__percent_decode("%zz", 3, out), -EINVAL);
	assert_int_equal(sonde__percent_decode("ab%", 3, out), -EINVAL);
	assert_int_equal(sonde__percent_decode("", 0, out), 0);
}

typedef struct kv_seen {
	char text[512];
	int calls;
} kv_seen;

static int collect_kv(void *ud, const char *key, const char *value, size_t value_len)
{
	kv_seen *s = ud;
	size_t n = strlen(s->text);
	snprintf(s->text + n, sizeof(s->text) - n, "[%s|%.*s|%zu]", key, (int)value_len, value, value_len);
	s->calls++;
	return 0;
}

static int stop_at_second(void *ud, const char *key, const char *value, size_t value_len)
{
	kv_seen *s = ud;
	return ++s->calls == 2 ? -ECANCELED : 0;
}

static void test_kvlist(void **state)
{
	kv_seen s = {"", 0};
	int n = sonde__kvlist_parse(" a=1 , b = x%20y ,c=%2C,,bad, =v,d=%zz,e=,f=g=h, api-key = s%3Dcr%25t ",
	                            "TEST_LIST", collect_kv, &s);
	assert_int_equal(n, 6);
	assert_string_equal(s.text, "[a|1|1][b|x y|3][c|,|1][e||0][f|g=h|3][api-key|s=cr%t|6]");
	assert_diag_has("TEST_LIST: member \"bad\" ignored");
	assert_diag_has("TEST_LIST: member \"=v\" ignored: empty key");
	assert_diag_has("TEST_LIST: value of \"d\" ignored: bad percent escape");

	kv_seen s2 = {"", 0};
	assert_int_equal(sonde__kvlist_parse("", "X", collect_kv, &s2), 0);
	assert_int_equal(sonde__kvlist_parse(" , ,", "X", collect_kv, &s2), 0);
	assert_int_equal(s2.calls, 0);
	kv_seen s3 = {"", 0};
	assert_int_equal(sonde__kvlist_parse("a=1,b=2,c=3", "X", stop_at_second, &s3), -ECANCELED);
}

/* The URL an exporter would POST to, read from the diagnostic of an export whose deadline
 * has already passed (no request is made). */
static void expect_url(sonde_exporter *e, const char *url)
{
	assert_non_null(e);
	sonde_batch *b = make_batch();
	diag_reset();
	assert_int_equal(e->ops->deliver(e, b, sonde__mono_ns()), -ETIMEDOUT);
	char want[512];
	snprintf(want, sizeof(want), "POST %s: deadline reached after 0 attempt(s)", url);
	assert_diag_has(want);
	assert_int_equal(e->retries, 0);
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static void test_otlp_endpoint_precedence(void **state)
{
	expect_url(sonde_exporter_otlp_http_new(NULL), "http://localhost:4318/v1/traces");

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318", 1);
	expect_url(sonde_exporter_otlp_http_new(NULL), "http://collector:4318/v1/traces");
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", " https://collector:4318/base/ ", 1);
	expect_url(sonde_exporter_otlp_http_new(NULL), "https://collector:4318/base/v1/traces");
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/base", 1);
	expect_url(sonde_exporter_otlp_http_new(NULL), "http://collector:4318/base/v1/traces");

	/* The signal-specific variable wins and is used as is. */
	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/custom", 1);
	expect_url(sonde_exporter_otlp_http_new(NULL), "http://traces:9999/custom");

	/* The config wins over both; full_url keeps it as is. */
	sonde_otlp_http_config cfg = {.endpoint = "http://cfg:1234/"};
	expect_url(sonde_exporter_otlp_http_new(&cfg), "http://cfg:1234/v1/traces");
	cfg.full_url = true;
	cfg.endpoint = "http://cfg:1234/ingest";
	expect_url(sonde_exporter_otlp_http_new(&cfg), "http://cfg:1234/ingest");

	/* A bad variable is reported and the next source used. */
	diag_reset();
	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://traces/x", 1);
	sonde_exporter *e = sonde_exporter_otlp_http_new(NULL);
	assert_diag_has("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=\"ftp://traces/x\" ignored");
	expect_url(e, "http://collector:4318/base/v1/traces");

	/* A bad config is an error. */
	diag_reset();
	cfg.endpoint = "collector:4318";
	assert_null(sonde_exporter_otlp_http_new(&cfg));
	assert_diag_has("endpoint \"collector:4318\" is not an http");
	cfg.endpoint = "http:///v1/traces";
	assert_null(sonde_exporter_otlp_http_new(&cfg));
	cfg.endpoint = "http://a b/";
	assert_null(sonde_exporter_otlp_http_new(&cfg));
	cfg = (sonde_otlp_http_config){.protocol_set = true, .protocol = (sonde_otlp_protocol)7};
	assert_null(sonde_exporter_otlp_http_new(&cfg));
	assert_diag_has("unknown protocol 7");
}

static void test_otlp_bad_env_values(void **state)
{
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
	setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml", 1);
	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", 1);
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "-1", 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "ok=1,broken,bad name=x,content-type=text/plain,x=%0d%0a", 1);
	sonde_exporter *e = sonde_exporter_otlp_http_new(NULL);
	assert_non_null(e);
	assert_string_equal(e->ops->name, "otlp-http");
	assert_diag_has("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=\"http/xml\" ignored");
	assert_diag_has("OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported");
	assert_diag_has("OTEL_EXPORTER_OTLP_COMPRESSION=\"zstd\" ignored");
	assert_diag_has("OTEL_EXPORTER_OTLP_TIMEOUT=\"-1\" ignored");
	assert_diag_has("member \"broken\" ignored");
	assert_diag_has("header \"bad name\" ignored");
	assert_diag_has("header \"content-type\" ignored: set by the exporter");
	assert_diag_has("header \"x\" ignored: value holds CR, LF or NUL");
	sonde_exporter_free(e);
}

static void test_zipkin_url(void **state)
{
	expect_url(sonde_exporter_zipkin_new(NULL, 0), "http://localhost:9411/api/v2/spans");
	setenv("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "http://zipkin:9411/api/v2/spans", 1);
	setenv("OTEL_EXPORTER_ZIPKIN_TIMEOUT", "soon", 1);
	sonde_exporter *e = sonde_exporter_zipkin_new(NULL, 0);
	assert_diag_has("OTEL_EXPORTER_ZIPKIN_TIMEOUT=\"soon\" ignored");
	expect_url(e, "http://zipkin:9411/api/v2/spans");
	expect_url(sonde_exporter_zipkin_new("https://z:1/spans", 100), "https://z:1/spans");
	setenv("OTEL_EXPORTER_ZIPKIN_ENDPOINT", "zipkin:9411", 1);
	diag_reset();
	e = sonde_exporter_zipkin_new(NULL, 0);
	assert_diag_has("OTEL_EXPORTER_ZIPKIN_ENDPOINT=\"zipkin:9411\" ignored");
	expect_url(e, "http://localhost:9411/api/v2/spans");
	assert_null(sonde_exporter_zipkin_new("localhost:9411", 0));
	sonde_exporter_free(NULL);
}

/* ---- File and console -------------------------------------------------------------- */

static void test_file_exporter(void **state)
{
	make_tmpdir();
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/spans.jsonl", tmpdir);
	unlink(path);
	mode_t old = umask(022);
	sonde_exporter *e = sonde_exporter_file_new(path);
	umask(old);
	assert_non_null(e);
	assert_string_equal(e->ops->name, "file");
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);

	sonde_batch *b = make_batch();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(1000)), 0);
	size_t len;
	char *text = read_file(path, &len);
	assert_true(len > 0 && text[len - 1] == '\n');
	assert_ptr_equal(strchr(text, '\n'), text + len - 1);
	sonde_batch *got = sonde_batch_new();
	sonde_wire_error err = {0};
	assert_int_equal(sonde_otlp_jsonl_read(got, text, len, &err), 0);
	assert_batches_equal(b, got);
	sonde_batch_free(got);
	free(text);

	/* Appends, and an empty batch writes nothing. */
	sonde_batch *empty = sonde_batch_new();
	assert_int_equal(e->ops->deliver(e, empty, deadline_in(1000)), 0);
	assert_int_equal(e->ops->deliver(e, b, deadline_in(1000)), 0);
	assert_int_equal(e->ops->force_flush(e, deadline_in(1000)), 0);
	text = read_file(path, &len);
	got = sonde_batch_new();
	assert_int_equal(sonde_otlp_jsonl_read(got, text, len, &err), 0);
	assert_int_equal(got->spans_count, 2 * b->spans_count);
	free(text);
	sonde_batch_free(got);

	assert_int_equal(e->ops->shutdown(e, deadline_in(1000)), 0);
	assert_int_equal(e->ops->deliver(e, b, deadline_in(1000)), -EBADF);
	sonde_exporter_free(e);

	/* A second exporter appends to the existing file. */
	e = sonde_exporter_file_new(path);
	assert_int_equal(e->ops->deliver(e, b, deadline_in(1000)), 0);
	sonde_exporter_free(e);
	text = read_file(path, &len);
	got = sonde_batch_new();
	assert_int_equal(sonde_otlp_jsonl_read(got, text, len, &err), 0);
	assert_int_equal(got->spans_count, 3 * b->spans_count);
	free(text);
	sonde_batch_free(got);
	unlink(path);
	sonde_batch_free(empty);
	sonde_batch_free(b);
}

static void test_file_exporter_errors(void **state)
{
	make_tmpdir();
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/no/such/dir/spans.jsonl", tmpdir);
	assert_null(sonde_exporter_file_new(path));
	assert_diag_has("file: cannot open");
	assert_diag_has("no/such/dir/spans.jsonl");
	assert_null(sonde_exporter_file_new(NULL));
	assert_null(sonde_exporter_file_new(""));

	if (access("/dev/full", W_OK) != 0) {
		print_message("no /dev/full: write errors not tested\n");
		return;
	}
	diag_reset();
	sonde_exporter *e = sonde_exporter_file_new("/dev/full");
	assert_non_null(e);
	sonde_batch *b = make_batch();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(1000)), -ENOSPC);
	assert_diag_has("file: writing /dev/full:");
	e->ops->shutdown(e, deadline_in(1000));
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static void test_console_exporter(void **state)
{
	make_tmpdir();
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/console.txt", tmpdir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	sonde_exporter *e = sonde_exporter_console_new(fd);
	assert_non_null(e);
	assert_string_equal(e->ops->name, "console");
	sonde_batch *b = make_batch();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(1000)), 0);
	sonde_exporter_free(e);
	/* The descriptor stays the application's. */
	assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);
	close(fd);
	size_t len;
	char *text = read_file(path, &len);
	for (size_t i = 0; i < b->spans_count; i++) {
		if (!strstr(text, b->spans[i].name.ptr))
			fail_msg("console output lacks \"%s\":\n%s", b->spans[i].name.ptr, text);
	}
	size_t lines = 0;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	assert_true(lines >= b->spans_count);
	free(text);
	unlink(path);
	sonde_batch_free(b);
	assert_null(sonde_exporter_console_new(-1));
}

static void test_console_broken_and_full_pipe(void **state)
{
	sonde_batch *b = make_batch();
	int p[2];

	/* Reader gone: EPIPE, and the process survives the SIGPIPE. */
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	close(p[0]);
	sonde_exporter *e = sonde_exporter_console_new(p[1]);
	assert_int_equal(e->ops->deliver(e, b, deadline_in(1000)), -EPIPE);
	sigset_t pending;
	sigpending(&pending);
	assert_false(sigismember(&pending, SIGPIPE));
	assert_diag_has("console: writing to fd");
	sonde_exporter_free(e);
	close(p[1]);

	/* Reader asleep: the export gives up at its deadline. */
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	char junk[4096];
	memset(junk, 'x', sizeof(junk));
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);
	e = sonde_exporter_console_new(p[1]);
	uint64_t t0 = sonde__mono_ns();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(200)), -ETIMEDOUT);
	uint64_t took = elapsed_ms(t0);
	assert_true(took >= 190 && took < 400);
	sonde_exporter_free(e);
	close(p[0]);
	close(p[1]);
	sonde_batch_free(b);
}

/* No peer at all: refused connections are retried with backoff until the deadline. */
static void test_otlp_no_peer(void **state)
{
	int hold;
	int port = closed_port(&hold);
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	sonde_otlp_http_config cfg = {.endpoint = url};
	sonde_exporter *e = sonde_exporter_otlp_http_new(&cfg);
	assert_non_null(e);
	sonde_batch *b = make_batch();
	uint64_t t0 = sonde__mono_ns();
	int rc = e->ops->deliver(e, b, deadline_in(700));
	uint64_t took = elapsed_ms(t0);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(took <= 700 + 200);
	assert_true(e->retries >= 1);
	assert_diag_has("deadline reached after");
	print_message("no peer: %d after %llu ms, %llu retries\n", rc, (unsigned long long)took,
	              (unsigned long long)e->retries);
	sonde_exporter_free(e);
	sonde_batch_free(b);
	close(hold);
}

/* ---- The receiver -------------------------------------------------------------------- */

static struct receiver {
	pid_t pid;
	int port;
	char out[PATH_MAX + 32];
	char base[64]; /* http://127.0.0.1:PORT */
} rcv = {.pid = -1};

static const char *src_root(void)
{
	const char *s = getenv("SONDE_SRC");
	return s && *s ? s : ".";
}

static bool in_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		return false;
	char buf[PATH_MAX];
	for (const char *p = path; *p;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? p : ".", prog);
		if (access(buf, X_OK) == 0)
			return true;
		p += n + (e ? 1 : 0);
	}
	return false;
}

static bool receiver_available(char *why, size_t cap)
{
	char p[PATH_MAX];
	if (!in_path("node")) {
		snprintf(why, cap, "node is not installed");
		return false;
	}
	snprintf(p, sizeof(p), "%s/tests/interop/node_modules/@opentelemetry/otlp-transformer", src_root());
	if (access(p, R_OK) != 0) {
		snprintf(why, cap, "%s is missing (npm ci --prefix tests/interop)", p);
		return false;
	}
	return true;
}

static int start_receiver(void **state)
{
	make_tmpdir();
	snprintf(rcv.out, sizeof(rcv.out), "%s/received.jsonl", tmpdir);
	char script[PATH_MAX];
	snprintf(script, sizeof(script), "%s/tests/instrument/receiver.js", src_root());
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(p[1], 1);
		execlp("node", "node", script, rcv.out, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	rcv.pid = pid;
	char line[32];
	size_t n = 0;
	while (n < sizeof(line) - 1) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		if (poll(&pfd, 1, 15000) <= 0)
			break;
		ssize_t r = read(p[0], line + n, 1);
		if (r <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(p[0]);
	rcv.port = atoi(line);
	if (rcv.port <= 0) {
		fprintf(stderr, "receiver.js did not print its port (got \"%s\")\n", line);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		rcv.pid = -1;
		return -1;
	}
	snprintf(rcv.base, sizeof(rcv.base), "http://127.0.0.1:%d", rcv.port);
	return 0;
}

static int stop_receiver(void **state)
{
	if (rcv.pid > 0) {
		kill(rcv.pid, SIGTERM);
		waitpid(rcv.pid, NULL, 0);
		rcv.pid = -1;
	}
	unlink(rcv.out);
	return 0;
}

static size_t ignore_body(char *p, size_t size, size_t n, void *ud)
{
	return size * n;
}

/* Switches the receiver's mode (POST /control) with the test's own libcurl handle. */
static void receiver_mode(const char *json)
{
	CURL *h = curl_easy_init();
	assert_non_null(h);
	char url[96];
	snprintf(url, sizeof(url), "%s/control", rcv.base);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ignore_body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	curl_easy_cleanup(h);
}

static void clear_received(void)
{
	assert_int_equal(truncate(rcv.out, 0), 0);
}

static int receiver_setup(void **state)
{
	per_test_setup(state);
	receiver_mode("{\"mode\":\"ok\"}");
	return truncate(rcv.out, 0);
}

/* The lines the receiver wrote: returns the count, and in *text the whole file (caller
 * frees). */
static size_t received(char **text)
{
	size_t len, lines = 0;
	*text = read_file(rcv.out, &len);
	for (size_t i = 0; i < len; i++)
		lines += (*text)[i] == '\n';
	return lines;
}

/* Line k (0-based) of text, NUL-terminated in place. */
static char *line_of(char *text, size_t k)
{
	char *p = text;
	for (size_t i = 0; i < k; i++) {
		p = strchr(p, '\n');
		assert_non_null(p);
		p++;
	}
	char *e = strchr(p, '\n');
	assert_non_null(e);
	*e = '\0';
	return p;
}

/* The request body of a receiver line ({"_meta":{...},"body":BODY}). */
static const char *body_of(char *line, size_t *len)
{
	char *b = strstr(line, ",\"body\":");
	assert_non_null(b);
	b += 8;
	size_t n = strlen(b);
	assert_true(n > 0 && b[n - 1] == '}');
	b[n - 1] = '\0';
	*len = n - 1;
	return b;
}

#define assert_line_has(line, s)                                              \
	do {                                                                  \
		if (!strstr((line), (s)))                                     \
			fail_msg("receiver line lacks %s:\n%s", (s), (line)); \
	} while (0)

/* Checks that the receiver's request k decodes to b. */
static void expect_otlp_request(size_t k, const sonde_batch *b, const char *content_type, bool gzip)
{
	char *text;
	assert_true(received(&text) > k);
	char *line = line_of(text, k);
	char want[160];
	snprintf(want, sizeof(want), "\"contentType\":\"%s\"", content_type);
	assert_line_has(line, want);
	assert_line_has(line, gzip ? "\"contentEncoding\":\"gzip\"" : "\"contentEncoding\":null");
	assert_line_has(line, "\"userAgent\":\"sonde-libsonde/" SONDE_VERSION "\"");
	assert_line_has(line, "\"error\":null");
	size_t len;
	const char *body = body_of(line, &len);
	sonde_batch *got = sonde_batch_new();
	sonde_wire_error err = {0};
	if (sonde_otlp_json_read(got, body, len, &err) != 0)
		fail_msg("receiver body unreadable: %s at %s\n%s", err.msg, err.field, body);
	assert_batches_equal(b, got);
	sonde_batch_free(got);
	free(text);
}

static sonde_exporter *otlp_to_receiver(sonde_otlp_protocol proto, bool gzip, const char *headers)
{
	sonde_otlp_http_config cfg = {.endpoint = rcv.base,
	                              .protocol = proto,
	                              .protocol_set = true,
	                              .gzip = gzip,
	                              .headers = headers};
	sonde_exporter *e = sonde_exporter_otlp_http_new(&cfg);
	assert_non_null(e);
	return e;
}

static void test_otlp_protobuf(void **state)
{
	sonde_exporter *e = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	sonde_batch *b = make_batch();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	expect_otlp_request(0, b, "application/x-protobuf", false);
	/* The second export reuses the connection. */
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	char *text;
	assert_int_equal(received(&text), 2);
	char *l0 = line_of(text, 0), *l1 = line_of(l0 + strlen(l0) + 1, 0);
	const char *p0 = strstr(l0, "\"remotePort\":"), *p1 = strstr(l1, "\"remotePort\":");
	assert_non_null(p0);
	assert_non_null(p1);
	assert_int_equal(atoi(p0 + 13), atoi(p1 + 13));
	free(text);
	assert_int_equal(e->retries, 0);
	assert_string_equal(diag_log, "");
	/* An empty batch sends nothing. */
	sonde_batch *empty = sonde_batch_new();
	assert_int_equal(e->ops->deliver(e, empty, deadline_in(5000)), 0);
	assert_int_equal(received(&text), 2);
	free(text);
	assert_int_equal(e->ops->shutdown(e, deadline_in(1000)), 0);
	sonde_exporter_free(e);
	sonde_batch_free(empty);
	sonde_batch_free(b);
}

static void test_otlp_json_with_headers(void **state)
{
	sonde_exporter *e =
	        otlp_to_receiver(SONDE_OTLP_HTTP_JSON, false,
	                         "x-sonde-test=a%20b%2Cc, Authorization = Bearer t0k3n ,x-empty=");
	sonde_batch *b = make_batch();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	expect_otlp_request(0, b, "application/json", false);
	char *text;
	received(&text);
	assert_line_has(text, "[\"x-sonde-test\",\"a b,c\"]");
	assert_line_has(text, "[\"authorization\",\"Bearer t0k3n\"]");
	assert_line_has(text, "[\"x-empty\",\"\"]");
	assert_line_has(text, "\"path\":\"/v1/traces\"");
	free(text);
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static void test_otlp_gzip(void **state)
{
	for (int proto = 0; proto < 2; proto++) {
		clear_received();
		sonde_exporter *e = otlp_to_receiver((sonde_otlp_protocol)proto, true, NULL);
		sonde_batch *b = make_batch();
		assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
		expect_otlp_request(0, b, proto ? "application/json" : "application/x-protobuf", true);
		sonde_exporter_free(e);
		sonde_batch_free(b);
	}
	/* A setting made with gzip_set stands against the environment, either way. */
	for (int want = 0; want < 2; want++) {
		clear_received();
		setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", want ? "none" : "gzip", 1);
		sonde_otlp_http_config cfg = {
		        .endpoint = rcv.base, .protocol_set = true, .gzip = want, .gzip_set = true};
		sonde_exporter *e = sonde_exporter_otlp_http_new(&cfg);
		assert_non_null(e);
		sonde_batch *b = make_batch();
		assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
		expect_otlp_request(0, b, "application/x-protobuf", want);
		sonde_exporter_free(e);
		sonde_batch_free(b);
	}
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
}

/* Everything from OTEL_* variables: base endpoint with a path, protocol, compression,
 * headers (the traces list replaces the general one). */
static void test_otlp_from_env(void **state)
{
	char base[128];
	snprintf(base, sizeof(base), "%s/prefix/", rcv.base);
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base, 1);
	setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
	setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip", 1);
	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "none", 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "general=1", 1);
	setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key=k%3Dv%25,tenant=t1", 1);
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "4000", 1);
	sonde_exporter *e = sonde_exporter_otlp_http_new(NULL);
	assert_non_null(e);
	sonde_batch *b = make_batch();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	expect_otlp_request(0, b, "application/json", true);
	char *text;
	received(&text);
	assert_line_has(text, "\"path\":\"/prefix/v1/traces\"");
	assert_line_has(text, "[\"api-key\",\"k=v%\"]");
	assert_line_has(text, "[\"tenant\",\"t1\"]");
	assert_null(strstr(text, "general"));
	free(text);
	assert_string_equal(diag_log, "");
	sonde_exporter_free(e);

	/* The traces endpoint is used as is. */
	clear_received();
	char full[128];
	snprintf(full, sizeof(full), "%s/custom/v1/traces", rcv.base);
	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", full, 1);
	setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf", 1);
	e = sonde_exporter_otlp_http_new(NULL);
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	expect_otlp_request(0, b, "application/x-protobuf", true);
	received(&text);
	assert_line_has(text, "\"path\":\"/custom/v1/traces\"");
	free(text);
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static void test_zipkin(void **state)
{
	char url[128];
	snprintf(url, sizeof(url), "%s/api/v2/spans", rcv.base);
	sonde_exporter *e = sonde_exporter_zipkin_new(url, 0);
	assert_non_null(e);
	assert_string_equal(e->ops->name, "zipkin");
	sonde_batch *b = make_batch();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	char *text;
	assert_int_equal(received(&text), 1);
	char *line = line_of(text, 0);
	assert_line_has(line, "\"path\":\"/api/v2/spans\"");
	assert_line_has(line, "\"contentType\":\"application/json\"");
	assert_line_has(line, "\"status\":202");
	assert_line_has(line, "\"zipkinProblems\":[]");
	assert_line_has(line, "\"userAgent\":\"sonde-libsonde/" SONDE_VERSION "\"");
	size_t len;
	const char *body = body_of(line, &len);
	sonde_batch *got = sonde_batch_new();
	sonde_wire_error err = {0};
	if (sonde_zipkin_read(got, body, len, &err) != 0)
		fail_msg("zipkin body unreadable: %s at %s", err.msg, err.field);

	/* What Zipkin can carry arrived: names, ids, parents, attributes (as strings). */
	assert_int_equal(got->spans_count, b->spans_count);
	for (size_t i = 0; i < b->spans_count; i++) {
		const sonde_span_data *w = &b->spans[i], *g = NULL;
		for (size_t j = 0; j < got->spans_count; j++)
			if (!memcmp(got->spans[j].span_id, w->span_id, 8))
				g = &got->spans[j];
		assert_non_null(g);
		assert_string_equal(g->name.ptr, w->name.ptr);
		assert_memory_equal(g->trace_id, w->trace_id, 16);
		assert_memory_equal(g->parent_span_id, w->parent_span_id, 8);
		assert_int_equal(g->status_code == SONDE_STATUS_ERROR, w->status_code == SONDE_STATUS_ERROR);
	}
	const sonde_value *m = sonde_attrs_get(&got->spans[0].attrs, "http.request.method");
	assert_non_null(m);
	assert_string_equal(m->u.str.ptr, "GET");
	const sonde_value *big = sonde_attrs_get(&got->spans[0].attrs, "big");
	assert_non_null(big);
	assert_string_equal(big->u.str.ptr, "-9007199254740993");

	/* And exactly what sonde's own writer and reader make of the batch. */
	sonde_buf zb = SONDE_BUF_INIT;
	assert_int_equal(sonde_zipkin_write(b, &zb), 0);
	sonde_batch *want = sonde_batch_new();
	assert_int_equal(sonde_zipkin_read(want, zb.data, zb.len, &err), 0);
	assert_batches_equal(want, got);
	sonde_buf_release(&zb);
	sonde_batch_free(want);
	sonde_batch_free(got);
	free(text);

	/* The retry policy is the OTLP exporter's. */
	receiver_mode("{\"mode\":\"429\",\"n\":1}");
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	assert_int_equal(e->retries, 1);
	assert_int_equal(received(&text), 3);
	free(text);
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static void test_retry_after_503(void **state)
{
	receiver_mode("{\"mode\":\"503-retry-after\",\"n\":1,\"retryAfter\":\"1\"}");
	sonde_exporter *e = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	sonde_batch *b = make_batch();
	uint64_t t0 = sonde__mono_ns();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	uint64_t took = elapsed_ms(t0);
	assert_true(e->retries >= 1);
	assert_true(took >= 1000);
	assert_true(took < 3000);
	char *text;
	assert_int_equal(received(&text), 2);
	assert_line_has(text, "\"status\":503");
	free(text);
	expect_otlp_request(1, b, "application/x-protobuf", false);
	print_message("503 + Retry-After: 1 -> delivered after %llu ms\n", (unsigned long long)took);

	/* A Retry-After beyond the deadline ends the export at once. */
	clear_received();
	receiver_mode("{\"mode\":\"503-retry-after\",\"n\":1,\"retryAfter\":\"30\"}");
	diag_reset();
	t0 = sonde__mono_ns();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(3000)), -ETIMEDOUT);
	assert_true(elapsed_ms(t0) < 1000);
	assert_diag_has("deadline reached after 1 attempt(s); last: HTTP 503");

	/* The HTTP-date form. */
	clear_received();
	char date[64], cmd[160];
	time_t when = time(NULL) + 2;
	struct tm tm;
	gmtime_r(&when, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(cmd, sizeof(cmd), "{\"mode\":\"503-retry-after\",\"n\":1,\"retryAfter\":\"%s\"}", date);
	receiver_mode(cmd);
	t0 = sonde__mono_ns();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	took = elapsed_ms(t0);
	assert_true(took >= 900 && took < 3500);
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static void test_retry_429(void **state)
{
	receiver_mode("{\"mode\":\"429\",\"n\":2}");
	sonde_exporter *e = otlp_to_receiver(SONDE_OTLP_HTTP_JSON, false, NULL);
	sonde_batch *b = make_batch();
	uint64_t t0 = sonde__mono_ns();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	uint64_t took = elapsed_ms(t0);
	assert_int_equal(e->retries, 2);
	/* Full jitter: at most 250 ms + 500 ms of backoff. */
	assert_true(took < 750 + 500);
	char *text;
	assert_int_equal(received(&text), 3);
	free(text);
	expect_otlp_request(2, b, "application/json", false);
	assert_string_equal(diag_log, "");
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static void test_permanent_500(void **state)
{
	receiver_mode("{\"mode\":\"500\"}");
	for (int proto = 0; proto < 2; proto++) {
		diag_reset();
		sonde_exporter *e = otlp_to_receiver((sonde_otlp_protocol)proto, false, NULL);
		sonde_batch *b = make_batch();
		uint64_t t0 = sonde__mono_ns();
		int rc = e->ops->deliver(e, b, deadline_in(5000));
		assert_true(rc < 0 && rc != -ETIMEDOUT);
		assert_true(elapsed_ms(t0) < 1000);
		assert_int_equal(e->retries, 0);
		assert_diag_has("HTTP 500, not retried: ");
		/* The protobuf Status is decoded; the JSON one is shown as text. */
		assert_diag_has("receiver.js: failing on purpose");
		sonde_exporter_free(e);
		sonde_batch_free(b);
	}
	char *text;
	assert_int_equal(received(&text), 2);
	free(text);
}

static void test_partial_success(void **state)
{
	receiver_mode("{\"mode\":\"partial\"}");
	for (int proto = 0; proto < 2; proto++) {
		diag_reset();
		sonde_exporter *e = otlp_to_receiver((sonde_otlp_protocol)proto, false, NULL);
		sonde_batch *b = make_batch();
		assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
		assert_int_equal(e->retries, 0);
		assert_diag_has(
		        "partial success: 3 span(s) rejected: receiver.js rejected 3 spans on purpose");
		sonde_exporter_free(e);
		sonde_batch_free(b);
	}
	char *text;
	assert_int_equal(received(&text), 2);
	free(text);
}

static void test_slow_peer(void **state)
{
	receiver_mode("{\"mode\":\"slow\",\"delayMs\":3000}");
	sonde_exporter *e = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	sonde_batch *b = make_batch();
	uint64_t t0 = sonde__mono_ns();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(800)), -ETIMEDOUT);
	uint64_t took = elapsed_ms(t0);
	print_message("slow peer: -ETIMEDOUT after %llu ms (deadline 800)\n", (unsigned long long)took);
	assert_true(took >= 790 && took <= 800 + 200);
	sonde_exporter_free(e);

	/* The configured timeout bounds the export when it comes before the deadline. */
	sonde_otlp_http_config cfg = {.endpoint = rcv.base, .timeout_ms = 400};
	e = sonde_exporter_otlp_http_new(&cfg);
	t0 = sonde__mono_ns();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(10000)), -ETIMEDOUT);
	took = elapsed_ms(t0);
	assert_true(took >= 390 && took <= 400 + 200);
	sonde_exporter_free(e);

	setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "300", 1);
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.base, 1);
	e = sonde_exporter_otlp_http_new(NULL);
	t0 = sonde__mono_ns();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(10000)), -ETIMEDOUT);
	took = elapsed_ms(t0);
	assert_true(took >= 290 && took <= 300 + 200);
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static void test_peer_hangs_up(void **state)
{
	receiver_mode("{\"mode\":\"close\"}");
	sonde_exporter *e = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	sonde_batch *b = make_batch();
	uint64_t t0 = sonde__mono_ns();
	int rc = e->ops->deliver(e, b, deadline_in(1200));
	uint64_t took = elapsed_ms(t0);
	assert_int_equal(rc, -ETIMEDOUT);
	assert_true(took <= 1200 + 200);
	assert_true(e->retries >= 1);
	char *text;
	size_t n = received(&text);
	assert_true(n >= 2);
	assert_line_has(text, "\"status\":\"closed\"");
	free(text);
	print_message("peer hangs up: %zu attempts in %llu ms\n", n, (unsigned long long)took);
	assert_diag_has("deadline reached after");

	/* Once the peer behaves again, the same exporter delivers. */
	receiver_mode("{\"mode\":\"ok\"}");
	clear_received();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	expect_otlp_request(0, b, "application/x-protobuf", false);
	sonde_exporter_free(e);
	sonde_batch_free(b);
}

static int remote_port_of(char *text, size_t k)
{
	char *copy = strdup(text);
	assert_non_null(copy);
	const char *p = strstr(line_of(copy, k), "\"remotePort\":");
	assert_non_null(p);
	int port = atoi(p + 13);
	free(copy);
	return port;
}

/* A child after fork() drops the inherited connection and opens its own; the parent's
 * connection is untouched and still reused. */
static void test_after_fork(void **state)
{
	sonde_exporter *e = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	sonde_batch *b = make_batch();
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child leaks what after_fork_child abandons, so it ends with _exit: no
		 * leak check, no cmocka. */
		e->ops->after_fork_child(e);
		int rc = e->ops->deliver(e, b, deadline_in(5000));
		sonde_exporter_free(e);
		if (rc < 0)
			_exit(10 + (-rc & 0x7f));
		/* The other exporters abandon their buffers and carry on. */
		int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
		sonde_exporter *others[] = {sonde_exporter_console_new(fd),
		                            sonde_exporter_file_new("/dev/null")};
		for (size_t i = 0; i < 2; i++) {
			if (!others[i] || others[i]->ops->deliver(others[i], b, deadline_in(1000)) < 0)
				_exit(2);
			others[i]->ops->after_fork_child(others[i]);
			if (others[i]->ops->deliver(others[i], b, deadline_in(1000)) < 0)
				_exit(3);
			sonde_exporter_free(others[i]);
		}
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(e->ops->deliver(e, b, deadline_in(5000)), 0);
	char *text;
	assert_int_equal(received(&text), 3);
	int p0 = remote_port_of(text, 0), p1 = remote_port_of(text, 1), p2 = remote_port_of(text, 2);
	assert_int_not_equal(p1, p0);
	assert_int_equal(p2, p0);
	free(text);
	expect_otlp_request(1, b, "application/x-protobuf", false);
	sonde_exporter_free(e);

	sonde_batch_free(b);
}

/* ---- End to end: the runtime, three exporters at once, the JS decoder ---------------- */

typedef struct e2e_ids {
	sonde_span_context root, query, job, step;
} e2e_ids;

/* Work that hops threads: a detached span started under the request, resumed on a
 * worker, with a child there. */
static void *e2e_worker(void *arg)
{
	e2e_ids *ids = arg;
	sonde_tracer *t = sonde_tracer_get("e2e", "1.0", NULL);
	sonde_span_opts o = {
	        .kind = SONDE_SPAN_KIND_PRODUCER, .parent = &ids->root, .flags = SONDE_SPAN_DETACHED};
	sonde_span *job = sonde_span_start_ex(t, "enqueue invoice", &o);
	sonde_span_context_get(job, &ids->job);
	sonde_span_push(job);
	sonde_span *step = sonde_span_start(t, "render pdf");
	sonde_span_set_int(step, "pages", 3);
	sonde_span_context_get(step, &ids->step);
	sonde_span_end(step);
	sonde_span_pop();
	sonde_span_end(job);
	return NULL;
}

/* The spans of one receiver request, read back by sonde's OTLP JSON reader (the receiver
 * wrote the JS decoder's view of protobuf bodies as OTLP JSON). */
static sonde_batch *e2e_request(char *text, size_t nlines, const char *content_type, const char *path)
{
	for (size_t k = 0; k < nlines; k++) {
		char *copy = strdup(text);
		char *line = line_of(copy, k);
		char want[96];
		snprintf(want, sizeof(want), "\"contentType\":\"%s\"", content_type);
		if (strstr(line, want) && strstr(line, path)) {
			assert_line_has(line, "\"error\":null");
			size_t len;
			const char *body = body_of(line, &len);
			sonde_batch *b = sonde_batch_new();
			sonde_wire_error err = {0};
			int rc = strstr(path, "zipkin") || strstr(path, "spans")
			                 ? sonde_zipkin_read(b, body, len, &err)
			                 : sonde_otlp_json_read(b, body, len, &err);
			if (rc != 0)
				fail_msg("%s body unreadable: %s at %s", content_type, err.msg, err.field);
			if (strstr(path, "spans"))
				assert_line_has(line, "\"zipkinProblems\":[]");
			free(copy);
			return b;
		}
		free(copy);
	}
	fail_msg("no %s request to %s among %zu", content_type, path, nlines);
	return NULL;
}

static const sonde_span_data *span_named(const sonde_batch *b, const char *name)
{
	for (size_t i = 0; i < b->spans_count; i++)
		if (strcmp(b->spans[i].name.ptr, name) == 0)
			return &b->spans[i];
	fail_msg("no span named %s", name);
	return NULL;
}

static void assert_parent(const sonde_batch *b, const char *name, const sonde_span_context *self,
                          const sonde_span_context *parent)
{
	const sonde_span_data *s = span_named(b, name);
	assert_memory_equal(s->span_id, self->span_id, 8);
	assert_memory_equal(s->trace_id, self->trace_id, 16);
	if (parent)
		assert_memory_equal(s->parent_span_id, parent->span_id, 8);
	else
		assert_true(s->parent_span_id[0] == 0 &&
		            !memcmp(s->parent_span_id, s->parent_span_id + 1, 7));
}

/* libsonde's runtime exporting through OTLP/HTTP protobuf, OTLP/HTTP JSON (gzip) and
 * Zipkin at once to the node receiver: what the OpenTelemetry JS decoder decodes is the
 * tree the test built, parents, attributes, events, links and status included; the Zipkin
 * body keeps to the Zipkin v2 schema. */
static void test_runtime_end_to_end(void **state)
{
	char zipkin_url[160];
	snprintf(zipkin_url, sizeof(zipkin_url), "%s/api/v2/spans", rcv.base);
	sonde_trace_config cfg = {
	        .service_name = "e2e-test", .service_version = "2.1.0", .metrics_off = true};
	cfg.exporters[0] = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	cfg.exporters[1] = otlp_to_receiver(SONDE_OTLP_HTTP_JSON, true, NULL);
	cfg.exporters[2] = sonde_exporter_zipkin_new(zipkin_url, 5000);
	assert_non_null(cfg.exporters[2]);
	cfg.exporters_count = 3;
	assert_int_equal(sonde_trace_init(&cfg), 0);

	e2e_ids ids;
	sonde_span_context other = {0}; /* no trace state: traceparent_parse fills ids and flags */
	const char *tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
	assert_int_equal(sonde_traceparent_parse(tp, strlen(tp), &other), 0);
	sonde_tracer *t = sonde_tracer_get("e2e", "1.0", NULL);
	sonde_span_opts server = {.kind = SONDE_SPAN_KIND_SERVER};
	sonde_span *root = sonde_span_start_ex(t, "GET /orders/{id}", &server);
	sonde_span_context_get(root, &ids.root);
	sonde_span_set_str(root, "http.route", "/orders/{id}");
	sonde_span_set_int(root, "http.response.status_code", 500);
	sonde_span_set_double(root, "load", 0.25);
	sonde_span_set_bool(root, "cache.hit", false);
	sonde_span_add_link(root, &other, (sonde_attr[]){SONDE_ATTR_STR("link.reason", "retry of")}, 1);

	sonde_span_opts client = {.kind = SONDE_SPAN_KIND_CLIENT};
	sonde_span *query = sonde_span_start_ex(t, "SELECT orders", &client);
	sonde_span_context_get(query, &ids.query);
	sonde_span_set_str(query, "db.system", "postgresql");
	sonde_span_add_event(query, "connection acquired", (sonde_attr[]){SONDE_ATTR_INT("pool.waiting", 2)},
	                     1);
	sonde_span_record_exception(query, "TimeoutError", "statement timeout after 5s", "at orders.c:42");
	sonde_span_end(query);

	pthread_t worker;
	assert_int_equal(pthread_create(&worker, NULL, e2e_worker, &ids), 0);
	assert_int_equal(pthread_join(worker, NULL), 0);
	sonde_span_set_status(root, SONDE_STATUS_ERROR, "upstream failed");
	sonde_span_end(root);
	assert_int_equal(sonde_trace_shutdown(10000), 0);

	char *text;
	size_t n = received(&text);
	assert_int_equal(n, 3);
	sonde_batch *pb = e2e_request(text, n, "application/x-protobuf", "/v1/traces");
	sonde_batch *js = e2e_request(text, n, "application/json", "/v1/traces");
	sonde_batch *zk = e2e_request(text, n, "application/json", "/api/v2/spans");
	free(text);
	/* The protobuf and the JSON request say the same. */
	assert_batches_equal(pb, js);

	for (int k = 0; k < 2; k++) {
		const sonde_batch *b = k ? zk : pb;
		assert_int_equal(b->spans_count, 4);
		assert_parent(b, "GET /orders/{id}", &ids.root, NULL);
		assert_parent(b, "SELECT orders", &ids.query, &ids.root);
		assert_parent(b, "enqueue invoice", &ids.job, &ids.root);
		assert_parent(b, "render pdf", &ids.step, &ids.job);
		const sonde_span_data *q = span_named(b, "SELECT orders");
		assert_int_equal(q->kind, SONDE_SPAN_KIND_CLIENT);
		assert_int_equal(span_named(b, "enqueue invoice")->kind, SONDE_SPAN_KIND_PRODUCER);
		assert_int_equal(q->status_code, SONDE_STATUS_ERROR);
		const sonde_span_data *r = span_named(b, "GET /orders/{id}");
		assert_true(r->start_ns <= q->start_ns && q->end_ns <= r->end_ns);
		if (k == 1)
			break; /* Zipkin carries no more of what follows in OTLP's shape */
		assert_string_equal(q->status_message.ptr, "statement timeout after 5s");
		assert_int_equal(q->events_count, 2);
		assert_string_equal(q->events[0].name.ptr, "connection acquired");
		assert_string_equal(q->events[1].name.ptr, "exception");
		const sonde_value *et = sonde_attrs_get(&q->events[1].attrs, "exception.type");
		assert_non_null(et);
		assert_string_equal(et->u.str.ptr, "TimeoutError");
		assert_int_equal(sonde_attrs_get(&r->attrs, "http.response.status_code")->u.i, 500);
		assert_true(sonde_attrs_get(&r->attrs, "load")->u.d == 0.25);
		assert_false(sonde_attrs_get(&r->attrs, "cache.hit")->u.b);
		assert_int_equal(r->links_count, 1);
		assert_memory_equal(r->links[0].trace_id, other.trace_id, 16);
		assert_memory_equal(r->links[0].span_id, other.span_id, 8);
		assert_string_equal(r->status_message.ptr, "upstream failed");
		assert_int_equal(sonde_attrs_get(&span_named(b, "render pdf")->attrs, "pages")->u.i, 3);
		const sonde_value *svc = sonde_attrs_get(&r->resource->attrs, "service.name");
		assert_non_null(svc);
		assert_string_equal(svc->u.str.ptr, "e2e-test");
		assert_string_equal(r->scope->name.ptr, "e2e");
	}
	/* Zipkin: the status travels in the error tag, which sonde's reader turns back into
	 * the status message. */
	assert_string_equal(span_named(zk, "SELECT orders")->status_message.ptr,
	                    "statement timeout after 5s");
	sonde_batch_free(pb);
	sonde_batch_free(js);
	sonde_batch_free(zk);
}

/* Logs through the runtime's OTLP/HTTP exporter, protobuf and JSON (gzip), to the node
 * receiver: what the OpenTelemetry JS decoder decodes from /v1/logs is what was recorded -
 * severity, body, attributes, the trace context of the span they were written in, the
 * resource - with the secret redacted before it left the process. */
static void test_runtime_logs_end_to_end(void **state)
{
	(void)state;
	sonde_trace_config cfg = {.service_name = "e2e-logs"};
	cfg.exporters[0] = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	cfg.exporters[1] = otlp_to_receiver(SONDE_OTLP_HTTP_JSON, true, NULL);
	cfg.exporters_count = 2;
	assert_int_equal(sonde_trace_init(&cfg), 0);
	sonde_tracer *t = sonde_tracer_get("e2e", "1.0", NULL);
	sonde_span *s = sonde_span_start(t, "checkout");
	sonde_span_context ctx;
	sonde_span_context_get(s, &ctx);
	sonde_attr a[] = {SONDE_ATTR_STR("order.id", "A-17"), SONDE_ATTR_INT("attempt", 2),
	                  SONDE_ATTR_STR("password", "hunter2")};
	sonde_log(SONDE_LOG_ERROR, "payment declined", a, 3);
	sonde_span_end(s);
	sonde_log(SONDE_LOG_INFO, "no span here", NULL, 0);
	assert_int_equal(sonde_trace_shutdown(10000), 0);

	char *text;
	size_t n = received(&text);
	sonde_batch *pb = e2e_request(text, n, "application/x-protobuf", "/v1/logs");
	sonde_batch *js = e2e_request(text, n, "application/json", "/v1/logs");
	free(text);
	for (int k = 0; k < 2; k++) {
		const sonde_batch *b = k ? js : pb;
		assert_int_equal(b->logs_count, 2);
		const sonde_log_data *e = &b->logs[0], *i = &b->logs[1];
		if (e->severity_number != 17) {
			const sonde_log_data *tmp = e;
			e = i;
			i = tmp;
		}
		assert_int_equal(e->severity_number, 17);
		assert_string_equal(e->severity_text.ptr, "ERROR");
		assert_string_equal(e->body.u.str.ptr, "payment declined");
		assert_memory_equal(e->trace_id, ctx.trace_id, 16);
		assert_memory_equal(e->span_id, ctx.span_id, 8);
		assert_string_equal(sonde_attrs_get(&e->attrs, "order.id")->u.str.ptr, "A-17");
		assert_int_equal(sonde_attrs_get(&e->attrs, "attempt")->u.i, 2);
		assert_string_equal(sonde_attrs_get(&e->attrs, "password")->u.str.ptr,
		                    "[redacted: password]");
		assert_string_equal(sonde_attrs_get(&e->resource->attrs, "service.name")->u.str.ptr,
		                    "e2e-logs");
		assert_int_equal(i->severity_number, 9);
		assert_true(sonde_id_is_zero(i->trace_id, 16));
		assert_true(e->time_ns > 1700000000000000000ull);
	}
	sonde_batch_free(pb);
	sonde_batch_free(js);
}

static const sonde_metric_data *metric_named(const sonde_batch *b, const char *name)
{
	for (size_t i = 0; i < b->metrics_count; i++)
		if (strcmp(b->metrics[i].name.ptr, name) == 0)
			return &b->metrics[i];
	fail_msg("no metric named %s", name);
	return NULL;
}

/* Metrics pushed by the runtime through OTLP/HTTP protobuf and JSON to the node receiver:
 * the OpenTelemetry JS decoder reads /v1/metrics and finds the counter's value, the
 * histogram's count, sum and buckets, and the service's resource. */
static void test_runtime_metrics_end_to_end(void **state)
{
	(void)state;
	sonde_meter *m = sonde_meter_get("e2e.metrics", "1.0", NULL);
	sonde_instrument *orders = sonde_counter_new(m, "e2e.orders", "{order}", "Orders");
	static const double bounds[] = {1, 10, 100};
	sonde_instrument *lat = sonde_histogram_new(m, "e2e.latency", "ms", NULL, bounds, 3);
	sonde_attr paid = SONDE_ATTR_STR("status", "paid");
	sonde_instrument_add(orders, 5, &paid, 1);
	sonde_instrument_record(lat, 0.5, NULL, 0);
	sonde_instrument_record(lat, 20, NULL, 0);
	sonde_instrument_record(lat, 500, NULL, 0);

	sonde_trace_config cfg = {.service_name = "e2e-metrics", .metrics_interval_ms = 3600000};
	cfg.exporters[0] = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	cfg.exporters[1] = otlp_to_receiver(SONDE_OTLP_HTTP_JSON, true, NULL);
	cfg.exporters_count = 2;
	assert_int_equal(sonde_trace_init(&cfg), 0);
	assert_int_equal(sonde_trace_force_flush(10000), 0);
	assert_int_equal(sonde_trace_shutdown(10000), 0);

	char *text;
	size_t n = received(&text);
	sonde_batch *pb = e2e_request(text, n, "application/x-protobuf", "/v1/metrics");
	sonde_batch *js = e2e_request(text, n, "application/json", "/v1/metrics");
	free(text);
	for (int k = 0; k < 2; k++) {
		const sonde_batch *b = k ? js : pb;
		const sonde_metric_data *c = metric_named(b, "e2e.orders");
		assert_int_equal(c->type, SONDE_METRIC_SUM);
		assert_true(c->is_monotonic);
		assert_int_equal(c->temporality, SONDE_TEMPORALITY_CUMULATIVE);
		assert_int_equal(c->points_count, 1);
		assert_int_equal(c->points[0].u.number.v.i, 5);
		assert_string_equal(sonde_attrs_get(&c->points[0].attrs, "status")->u.str.ptr, "paid");
		assert_string_equal(c->scope->name.ptr, "e2e.metrics");
		assert_string_equal(sonde_attrs_get(&c->resource->attrs, "service.name")->u.str.ptr,
		                    "e2e-metrics");
		const sonde_metric_data *h = metric_named(b, "e2e.latency");
		assert_int_equal(h->type, SONDE_METRIC_HISTOGRAM);
		assert_int_equal(h->points[0].u.hist.count, 3);
		assert_true(h->points[0].u.hist.sum == 520.5);
		assert_int_equal(h->points[0].u.hist.bucket_counts_count, 4);
		for (int i = 0; i < 4; i++)
			assert_int_equal(h->points[0].u.hist.bucket_counts[i],
			                 i == 1 ? 0 : 1); /* (..1] (1,10] (10,100] (100..) */
	}
	sonde_batch_free(pb);
	sonde_batch_free(js);
}

/* Resident set size in KiB (from /proc/self/status). */
static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

/* The runtime with the real OTLP exporter against a peer that throttles forever, one that
 * answers too slowly, and none at all: the application thread's starts and ends all
 * return while the exporter is stuck (none of its spans has been exported when its loop
 * ends), what does not fit is dropped and counted, memory stays flat, and shutdown comes
 * back although the peer never accepts anything. */
static void test_runtime_faults(void **state)
{
	int hold;
	int port = closed_port(&hold);
	char dead[64];
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", port);
	const char *const modes[] = {
	        "{\"mode\":\"503-retry-after\",\"n\":1000000,\"retryAfter\":\"30\"}",
	        "{\"mode\":\"slow\",\"delayMs\":20000}", NULL, /* no peer */
	};
	for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		if (modes[m])
			receiver_mode(modes[m]);
		sonde_otlp_http_config ocfg = {.endpoint = modes[m] ? rcv.base : dead, .timeout_ms = 1000};
		sonde_trace_config cfg = {
		        .service_name = "faults",
		        .batch = {.max_queue_size = 512, .schedule_delay_ms = 50, .export_timeout_ms = 1000}};
		cfg.exporters[0] = sonde_exporter_otlp_http_new(&ocfg);
		assert_non_null(cfg.exporters[0]);
		cfg.exporters_count = 1;
		/* The previous round's shutdown may have timed out: its exporter thread finishes
		 * its export call (bounded by the 1 s export timeout) before tracing can start
		 * again. */
		int rc, tries = 0;
		while ((rc = sonde_trace_init(&cfg)) == -EBUSY && tries++ < 1000)
			usleep(10000);
		assert_int_equal(rc, 0);
		sonde_tracer *t = sonde_tracer_get("faults", NULL, NULL);

		long rss0 = rss_kib();
		enum { N = 200000 };
		for (int i = 0; i < N; i++) {
			sonde_span *sp = sonde_span_start(t, "request");
			sonde_span_set_int(sp, "i", i);
			sonde_span_set_str(sp, "payload", "a value of some forty bytes, more or less");
			sonde_span_end(sp);
		}
		long rss1 = rss_kib();
		sonde_tracer_stats st;
		sonde_tracer_stats_get(&st);
		assert_int_equal(st.spans_exported, 0);
		assert_true(st.spans_dropped > 0);
		/* Every start returned and every end too: a span is dropped at start (no free
		 * slot) or at end (the queue to the exporter full), and counted either way. */
		assert_int_equal(st.spans_started, st.spans_ended);
		assert_true(st.spans_started <= N);
		assert_true(st.spans_started + st.spans_dropped >= N);
		/* 200,000 spans of ~100 bytes would be 20 MB if they were queued: they are not. */
		assert_true(rss1 - rss0 < 8 * 1024);

		uint64_t t0 = sonde__mono_ns();
		rc = sonde_trace_shutdown(1500);
		uint64_t took = elapsed_ms(t0);
		print_message("fault %zu: %llu dropped of %d, rss +%ld KiB, shutdown %d after %llu ms\n", m,
		              (unsigned long long)st.spans_dropped, N, rss1 - rss0, rc,
		              (unsigned long long)took);
		assert_true(rc == 0 || rc == -ETIMEDOUT);
		/* Behaviour, not speed: it came back though the peer never took anything. */
		assert_true(took < 1500 + 5000);
		sonde_tracer_stats_get(&st);
		assert_int_equal(st.spans_exported, 0);
	}
	/* The last round's exporter thread, if orphaned, frees its exporter when done. */
	sonde_trace_config none = {.service_name = "faults"};
	none.exporters[0] = sonde_exporter_console_new(2);
	none.exporters_count = 1;
	int rc, tries = 0;
	while ((rc = sonde_trace_init(&none)) == -EBUSY && tries++ < 1000)
		usleep(10000);
	assert_int_equal(rc, 0);
	assert_int_equal(sonde_trace_shutdown(1000), 0);
	close(hold);
}

/* A batch over the 20 MiB request size the OTLP specification recommends is split into
 * requests that each stay under it; a single span over it is dropped and reported. */
static void test_otlp_split_large_batch(void **state)
{
	enum { SPANS = 12, VALUE = 3 << 20 };
	char *big = malloc(VALUE + 1);
	assert_non_null(big);
	memset(big, 'x', VALUE);
	big[VALUE] = '\0';
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = sonde_batch_new_resource(b);
	sonde_scope *sc = sonde_batch_new_scope(b);
	assert_true(r && sc);
	sc->name = str(b, "split");
	for (int i = 0; i < SPANS; i++) {
		sonde_span_data *sp = sonde_batch_add_span(b, r, sc);
		assert_non_null(sp);
		fill_id(sp->trace_id, 16, 0x42);
		fill_id(sp->span_id, 8, (uint8_t)(0x10 + i));
		sp->name = str(b, "bulk");
		sp->start_ns = 1763794949000000000ull;
		sp->end_ns = sp->start_ns + 1000;
		sonde_kv *kv = kvs(b, 1);
		set_str(b, &kv[0], "payload", big);
		sp->attrs = (sonde_attrs){kv, 1};
	}
	sonde_exporter *e = otlp_to_receiver(SONDE_OTLP_HTTP_PROTOBUF, false, NULL);
	assert_int_equal(e->ops->deliver(e, b, deadline_in(30000)), 0);
	char *text;
	size_t n = received(&text);
	/* 12 spans of 3 MiB: 36 MiB, halved into two requests of 18 MiB. */
	assert_int_equal(n, 2);
	size_t spans = 0;
	for (size_t k = 0; k < n; k++) {
		char *copy = strdup(text);
		char *line = line_of(copy, k);
		assert_line_has(line, "\"status\":200");
		size_t len;
		const char *body = body_of(line, &len);
		sonde_batch *got = sonde_batch_new();
		sonde_wire_error err = {0};
		assert_int_equal(sonde_otlp_json_read(got, body, len, &err), 0);
		assert_int_equal(got->spans_count, SPANS / 2);
		assert_int_equal(sonde_attrs_get(&got->spans[0].attrs, "payload")->u.str.len, VALUE);
		spans += got->spans_count;
		sonde_batch_free(got);
		free(copy);
	}
	assert_int_equal(spans, SPANS);
	free(text);

	/* One span alone over the limit cannot be split. */
	sonde_batch *one = sonde_batch_new();
	sonde_resource *r1 = sonde_batch_new_resource(one);
	sonde_scope *s1 = sonde_batch_new_scope(one);
	sonde_span_data *sp = sonde_batch_add_span(one, r1, s1);
	assert_non_null(sp);
	fill_id(sp->trace_id, 16, 0x43);
	fill_id(sp->span_id, 8, 0x01);
	sp->name = str(one, "huge");
	sonde_kv *kv = kvs(one, 7);
	for (int i = 0; i < 7; i++) {
		char key[8];
		snprintf(key, sizeof(key), "p%d", i);
		set_str(one, &kv[i], key, big);
	}
	sp->attrs = (sonde_attrs){kv, 7};
	clear_received();
	assert_int_equal(e->ops->deliver(e, one, deadline_in(30000)), -EMSGSIZE);
	assert_diag_has("exceeds the request limit; dropped");
	assert_int_equal(received(&text), 0);
	free(text);
	sonde_exporter_free(e);
	sonde_batch_free(one);
	sonde_batch_free(b);
	free(big);
}

int main(void)
{
	sonde_set_diagnostics(on_diag, NULL);
	clear_env();
	const struct CMUnitTest local[] = {
	        cmocka_unit_test_setup(test_parse_ms, per_test_setup),
	        cmocka_unit_test_setup(test_env_bool_choice_str, per_test_setup),
	        cmocka_unit_test_setup(test_percent_decode, per_test_setup),
	        cmocka_unit_test_setup(test_kvlist, per_test_setup),
	        cmocka_unit_test_setup(test_otlp_endpoint_precedence, per_test_setup),
	        cmocka_unit_test_setup(test_otlp_bad_env_values, per_test_setup),
	        cmocka_unit_test_setup(test_zipkin_url, per_test_setup),
	        cmocka_unit_test_setup(test_file_exporter, per_test_setup),
	        cmocka_unit_test_setup(test_file_exporter_errors, per_test_setup),
	        cmocka_unit_test_setup(test_console_exporter, per_test_setup),
	        cmocka_unit_test_setup(test_console_broken_and_full_pipe, per_test_setup),
	        cmocka_unit_test_setup(test_otlp_no_peer, per_test_setup),
	};
	const struct CMUnitTest remote[] = {
	        cmocka_unit_test_setup(test_otlp_protobuf, receiver_setup),
	        cmocka_unit_test_setup(test_otlp_json_with_headers, receiver_setup),
	        cmocka_unit_test_setup(test_otlp_gzip, receiver_setup),
	        cmocka_unit_test_setup(test_otlp_from_env, receiver_setup),
	        cmocka_unit_test_setup(test_zipkin, receiver_setup),
	        cmocka_unit_test_setup(test_retry_after_503, receiver_setup),
	        cmocka_unit_test_setup(test_retry_429, receiver_setup),
	        cmocka_unit_test_setup(test_permanent_500, receiver_setup),
	        cmocka_unit_test_setup(test_partial_success, receiver_setup),
	        cmocka_unit_test_setup(test_slow_peer, receiver_setup),
	        cmocka_unit_test_setup(test_peer_hangs_up, receiver_setup),
	        cmocka_unit_test_setup(test_after_fork, receiver_setup),
	        cmocka_unit_test_setup(test_otlp_split_large_batch, receiver_setup),
	        cmocka_unit_test_setup(test_runtime_end_to_end, receiver_setup),
	        cmocka_unit_test_setup(test_runtime_logs_end_to_end, receiver_setup),
	        cmocka_unit_test_setup(test_runtime_metrics_end_to_end, receiver_setup),
	        cmocka_unit_test_setup(test_runtime_faults, receiver_setup),
	};
	int failed = cmocka_run_group_tests_name("export", local, NULL, NULL);
	char why[PATH_MAX + 64];
	if (!receiver_available(why, sizeof(why))) {
		fprintf(stderr, "skipping the receiver tests: %s\n", why);
		failed = failed ? failed : 77;
	} else {
		failed +=
		        cmocka_run_group_tests_name("export-receiver", remote, start_receiver, stop_receiver);
	}
	if (tmpdir[0])
		rmdir(tmpdir);
	return failed;
}
