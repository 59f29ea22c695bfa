/*
 * export_otlp_http.c - the OTLP/HTTP exporter of traces, metrics and logs: Export*ServiceRequest
 * as protobuf or JSON, optionally gzipped, POSTed to <endpoint>/v1/traces, /v1/metrics and
 * /v1/logs with the retry policy of http_client_internal.h; partial successes are
 * reported, never retried. Each signal's endpoint may also be given alone
 * (OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_ENDPOINT).
 *
 * Settings come from the config, else the OTEL_EXPORTER_OTLP_TRACES_* variables, else the
 * OTEL_EXPORTER_OTLP_* ones, else the defaults; a bad environment value is reported and
 * the next source is tried, a bad config value makes the constructor fail. A timeout
 * variable of 0 means the default, as timeout_ms = 0 in the config does.
 */
#define ZLIB_CONST
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "env_internal.h"
#include "exporter_internal.h"
#include "http_client_internal.h"
#include "json.h"
#include "otlp_json.h"
#include "otlp_pb.h"
#include "pbwire.h"

#define DEFAULT_ENDPOINT   "http://localhost:4318"
#define TRACES_PATH        "v1/traces"
#define LOGS_PATH          "v1/logs"
#define METRICS_PATH       "v1/metrics"
#define DEFAULT_TIMEOUT_MS 10000u
/* The request size the OTLP specification recommends clients stay under (before
 * compression); larger batches are split in halves until they fit. */
#define MAX_REQUEST_BYTES  (20u << 20)

typedef struct otlp_exporter {
	sonde_exporter base;
	sonde__http_client http[3]; /* by sonde_signal: to /v1/traces, /v1/metrics, /v1/logs */
	sonde_otlp_protocol protocol;
	bool gzip;
	uint32_t timeout_ms;
	sonde_buf body; /* the encoded request, reused by every export */
	sonde_buf gz;   /* its gzip form */
} otlp_exporter;

/* ---- Settings ------------------------------------------------------------------------ */

/* Returns a heap copy of base with path ("v1/traces", "v1/logs") appended (one '/'
 * between them). */
static char *signal_url(const char *base, const char *path)
{
	size_t n = strlen(base), pn = strlen(path);
	bool slash = n > 0 && base[n - 1] == '/';
	char *url = malloc(n + pn + 2);
	if (url) {
		memcpy(url, base, n);
		if (!slash)
			url[n++] = '/';
		memcpy(url + n, path, pn + 1);
	}
	return url;
}

/* A full traces URL made into another signal's: a trailing "v1/traces" becomes path
 * ("v1/logs", "v1/metrics"); any other URL is used as it is. */
static char *from_traces_url(const char *url, const char *path)
{
	size_t n = strlen(url), t = sizeof(TRACES_PATH) - 1, pn = strlen(path);
	if (n >= t && strcmp(url + n - t, TRACES_PATH) == 0) {
		char *u = malloc(n - t + pn + 1);
		if (u) {
			memcpy(u, url, n - t);
			memcpy(u + n - t, path, pn + 1);
		}
		return u;
	}
	return strdup(url);
}

static const char *const signal_paths[] = {TRACES_PATH, METRICS_PATH, LOGS_PATH};
static const char *const signal_endpoint_env[] = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                                  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                                                  "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"};
static const char *const signal_headers_env[] = {"OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                                                 "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
                                                 "OTEL_EXPORTER_OTLP_LOGS_HEADERS"};
static const char *const signal_items[] = {"span", "metric", "log record"};

/* An environment URL, trimmed and checked. Returns 1 (*out set), 0 (unset or bad,
 * reported), -ENOMEM. */
static int env_url(const char *name, const char *append, char **out)
{
	char *v;
	int rc = sonde__env_str(name, &v);
	if (rc <= 0)
		return rc;
	if (!sonde__http_url_ok(v)) {
		sonde__diag("sonde: %s=\"%.128s\" ignored: expected an http:// or https:// URL", name, v);
		free(v);
		return 0;
	}
	if (append) {
		*out = signal_url(v, append);
		free(v);
		return *out ? 1 : -ENOMEM;
	}
	*out = v;
	return 1;
}

/* The URL of one signal: the config's endpoint, else OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT
 * (used as is), else OTEL_EXPORTER_OTLP_ENDPOINT (path appended), else the default. */
static int resolve_url(const sonde_otlp_http_config *cfg, sonde_signal sig, char **out)
{
	*out = NULL;
	const char *path = signal_paths[sig];
	if (cfg && cfg->endpoint) {
		if (!sonde__http_url_ok(cfg->endpoint)) {
			sonde__diag("sonde: otlp-http: endpoint \"%.128s\" is not an http:// or https:// URL",
			            cfg->endpoint);
			return -EINVAL;
		}
		if (cfg->full_url)
			*out = sig == SONDE_SIGNAL_TRACES ? strdup(cfg->endpoint)
			                                  : from_traces_url(cfg->endpoint, path);
		else
			*out = signal_url(cfg->endpoint, path);
		return *out ? 0 : -ENOMEM;
	}
	int rc = env_url(signal_endpoint_env[sig], NULL, out);
	if (rc == 0)
		rc = env_url("OTEL_EXPORTER_OTLP_ENDPOINT", path, out);
	if (rc == 0) {
		*out = signal_url(DEFAULT_ENDPOINT, path);
		rc = *out ? 1 : -ENOMEM;
	}
	return rc < 0 ? rc : 0;
}

static const char *const protocols[] = {"http/protobuf", "http/json", "grpc"};

static sonde_otlp_protocol env_protocol(void)
{
	static const char *const names[] = {"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	                                    "OTEL_EXPORTER_OTLP_PROTOCOL"};
	for (size_t i = 0; i < 2; i++) {
		int k = sonde__env_choice(names[i], protocols, 3);
		if (k == 2) {
			sonde__diag("sonde: %s=grpc is not supported by libsonde; using http/protobuf",
			            names[i]);
			return SONDE_OTLP_HTTP_PROTOBUF;
		}
		if (k >= 0)
			return k == 1 ? SONDE_OTLP_HTTP_JSON : SONDE_OTLP_HTTP_PROTOBUF;
	}
	return SONDE_OTLP_HTTP_PROTOBUF;
}

static bool env_gzip(void)
{
	static const char *const names[] = {"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
	                                    "OTEL_EXPORTER_OTLP_COMPRESSION"};
	static const char *const kinds[] = {"gzip", "none"};
	for (size_t i = 0; i < 2; i++) {
		int k = sonde__env_choice(names[i], kinds, 2);
		if (k >= 0)
			return k == 0;
	}
	return false;
}

static uint32_t env_timeout(void)
{
	uint32_t ms;
	if (sonde__env_ms("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", &ms) > 0 ||
	    sonde__env_ms("OTEL_EXPORTER_OTLP_TIMEOUT", &ms) > 0)
		return ms ? ms : DEFAULT_TIMEOUT_MS;
	return DEFAULT_TIMEOUT_MS;
}

typedef struct header_ctx {
	sonde__http_client *http;
	const char *what;
} header_ctx;

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Adds one configured header, refusing names that are not HTTP tokens, values that could
 * end the header line, and the headers the exporter itself must control. */
static int add_user_header(void *ud, const char *key, const char *value, size_t value_len)
{
	static const char *const reserved[] = {"content-type", "content-encoding", "content-length",
	                                       "transfer-encoding", "expect"};
	header_ctx *h = ud;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		if (!is_tchar(*p)) {
			sonde__diag("sonde: %s: header \"%.64s\" ignored: not a valid header name", h->what,
			            key);
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (strcasecmp(key, reserved[i]) == 0) {
			sonde__diag("sonde: %s: header \"%s\" ignored: set by the exporter", h->what, key);
			return 0;
		}
	}
	if (memchr(value, '\r', value_len) || memchr(value, '\n', value_len) || strlen(value) != value_len) {
		sonde__diag("sonde: %s: header \"%.64s\" ignored: value holds CR, LF or NUL", h->what, key);
		return 0;
	}
	size_t kn = strlen(key);
	char *line = malloc(kn + value_len + 3);
	if (!line)
		return -ENOMEM;
	memcpy(line, key, kn);
	/* "Name:" with nothing after it would remove the header in libcurl; "Name;" sends it
	 * empty. */
	if (value_len == 0) {
		line[kn] = ';';
		line[kn + 1] = '\0';
	} else {
		line[kn] = ':';
		line[kn + 1] = ' ';
		memcpy(line + kn + 2, value, value_len + 1);
	}
	int rc = sonde__http_client_add_header(h->http, line);
	free(line);
	return rc;
}

static int add_headers(sonde__http_client *http, sonde_signal sig, const sonde_otlp_http_config *cfg)
{
	const char *const names[] = {signal_headers_env[sig], "OTEL_EXPORTER_OTLP_HEADERS"};
	header_ctx h = {http, "otlp-http"};
	if (cfg && cfg->headers) {
		int rc = sonde__kvlist_parse(cfg->headers, "otlp-http headers", add_user_header, &h);
		return rc < 0 ? rc : 0;
	}
	/* The signal-specific list replaces the general one entirely. */
	for (size_t i = 0; i < 2; i++) {
		const char *v = sonde__env_get(names[i]);
		if (v) {
			h.what = names[i];
			int rc = sonde__kvlist_parse(v, names[i], add_user_header, &h);
			return rc < 0 ? rc : 0;
		}
	}
	return 0;
}

/* ---- Export ------------------------------------------------------------------------- */

static int gzip_body(const sonde_buf *in, sonde_buf *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	/* windowBits 15 + 16: deflate with the gzip wrapper (RFC 1952), as Content-Encoding:
	 * gzip requires. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	sonde_buf_reset(out);
	int rc = 0;
	uLong bound = deflateBound(&zs, (uLong)in->len);
	if (sonde_buf_grow(out, bound) < 0) {
		rc = -ENOMEM;
		goto done;
	}
	zs.next_in = (const Bytef *)in->data;
	zs.avail_in = (uInt)in->len;
	zs.next_out = (Bytef *)out->data;
	zs.avail_out = (uInt)bound;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		rc = -ENOMEM;
		goto done;
	}
	out->len = zs.total_out;
	out->data[out->len] = '\0';
done:
	deflateEnd(&zs);
	return rc;
}

static void report_partial(const char *what, int64_t rejected, const char *msg, size_t msg_len)
{
	if (rejected > 0 || msg_len > 0)
		sonde__diag("sonde: otlp-http: partial success: %lld %s(s) rejected%s%.*s",
		            (long long)rejected, what, msg_len ? ": " : "",
		            (int)(msg_len > 300 ? 300 : msg_len), msg);
}

/* ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; } with
 * ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }. */
static int partial_pb(const char *what, const char *p, size_t n)
{
	sonde_pb_reader r, sub;
	uint32_t field, wt;
	int64_t rejected = 0;
	const uint8_t *msg = NULL;
	size_t msg_len = 0;
	int rc;
	sonde_pb_reader_init(&r, p, n);
	while ((rc = sonde_pb_next_field(&r, &field, &wt)) > 0) {
		if (field != 1 || wt != SONDE_PB_LEN) {
			if (sonde_pb_skip(&r, wt) < 0)
				return SONDE_EPARSE;
			continue;
		}
		if (sonde_pb_read_submsg(&r, &sub) < 0)
			return SONDE_EPARSE;
		while ((rc = sonde_pb_next_field(&sub, &field, &wt)) > 0) {
			uint64_t v = 0;
			if (field == 1 && wt == SONDE_PB_VARINT) {
				rc = sonde_pb_read_varint(&sub, &v);
				rejected = (int64_t)v;
			} else if (field == 2 && wt == SONDE_PB_LEN) {
				rc = sonde_pb_read_bytes(&sub, &msg, &msg_len);
			} else {
				rc = sonde_pb_skip(&sub, wt);
			}
			if (rc < 0)
				return SONDE_EPARSE;
		}
		if (rc < 0)
			return SONDE_EPARSE;
	}
	if (rc < 0)
		return SONDE_EPARSE;
	report_partial(what, rejected, (const char *)msg, msg_len);
	return 0;
}

static bool key_is(const char *k, size_t n, const char *camel, const char *snake)
{
	return (n == strlen(camel) && memcmp(k, camel, n) == 0) ||
	       (n == strlen(snake) && memcmp(k, snake, n) == 0);
}

static int partial_json(const char *what, const char *p, size_t n)
{
	sonde_json_reader r;
	const char *k;
	size_t kn;
	int64_t rejected = 0;
	char msg[320];
	size_t msg_len = 0;
	int rc;
	sonde_json_reader_init(&r, p, n);
	if ((rc = sonde_json_enter_object(&r)) < 0)
		goto out;
	while ((rc = sonde_json_next_key(&r, &k, &kn)) > 0) {
		if (!key_is(k, kn, "partialSuccess", "partial_success") ||
		    sonde_json_peek(&r) == SONDE_JSON_NULL) {
			if ((rc = sonde_json_skip(&r)) < 0)
				goto out;
			continue;
		}
		if ((rc = sonde_json_enter_object(&r)) < 0)
			goto out;
		while ((rc = sonde_json_next_key(&r, &k, &kn)) > 0) {
			if (key_is(k, kn, "rejectedSpans", "rejected_spans") ||
			    key_is(k, kn, "rejectedLogRecords", "rejected_log_records")) {
				rc = sonde_json_read_i64(&r, &rejected);
			} else if (key_is(k, kn, "errorMessage", "error_message")) {
				const char *s;
				size_t sn;
				rc = sonde_json_read_str(&r, &s, &sn);
				if (rc == 0) {
					msg_len = sn < sizeof(msg) ? sn : sizeof(msg);
					memcpy(msg, s, msg_len);
				}
			} else {
				rc = sonde_json_skip(&r);
			}
			if (rc < 0)
				goto out;
		}
		if (rc < 0)
			goto out;
	}
	if (rc == 0)
		rc = sonde_json_finish(&r);
out:
	sonde_json_reader_release(&r);
	if (rc < 0)
		return rc;
	report_partial(what, rejected, msg, msg_len);
	return 0;
}

/* Reads the 2xx response; its format follows its Content-Type, or the request's. */
static void check_response(otlp_exporter *x, const sonde__http_client *h, const char *what)
{
	if (h->resp.len == 0)
		return;
	bool json = strstr(h->content_type, "json") != NULL;
	if (!h->content_type[0])
		json = x->protocol == SONDE_OTLP_HTTP_JSON;
	int rc = json ? partial_json(what, h->resp.data, h->resp.len)
	              : partial_pb(what, h->resp.data, h->resp.len);
	if (rc < 0)
		sonde__diag("sonde: otlp-http: %s answered HTTP %ld with an unreadable %s body (%zu bytes)",
		            h->url, h->status, json ? "JSON" : "protobuf", h->resp.len);
}

/* Sends records [first, first+count) of one signal, in halves when the
 * request would be too large. */
static int send_range(otlp_exporter *x, const sonde_batch *b, sonde_signal sig, size_t first, size_t count,
                      uint64_t deadline_ns)
{
	const char *what = signal_items[sig];
	sonde_buf_reset(&x->body);
	int rc = x->protocol == SONDE_OTLP_HTTP_JSON
	                 ? sonde_otlp_json_write_range(b, sig, first, count, &x->body, 0)
	                 : sonde_otlp_pb_write_range(b, sig, first, count, &x->body);
	if (rc < 0) {
		sonde__diag("sonde: otlp-http: encoding %zu %s(s) failed (%d)", count, what, rc);
		return rc;
	}
	if (x->body.len > MAX_REQUEST_BYTES) {
		if (count == 1) {
			sonde__diag("sonde: otlp-http: a %s of %zu bytes exceeds the request limit; dropped",
			            what, x->body.len);
			return -EMSGSIZE;
		}
		size_t half = count / 2;
		int r1 = send_range(x, b, sig, first, half, deadline_ns);
		int r2 = send_range(x, b, sig, first + half, count - half, deadline_ns);
		return r1 < 0 ? r1 : r2;
	}
	const sonde_buf *out = &x->body;
	if (x->gzip) {
		if ((rc = gzip_body(&x->body, &x->gz)) < 0)
			return rc;
		out = &x->gz;
	}
	sonde__http_client *h = &x->http[sig];
	rc = sonde__http_post(h, out->data, out->len, deadline_ns, &x->base.retries);
	if (rc == 0)
		check_response(x, h, what);
	return rc;
}

static int otlp_export(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	otlp_exporter *x = (otlp_exporter *)e;
	uint64_t limit = sonde__mono_ns() + (uint64_t)x->timeout_ms * 1000000u;
	if (limit < deadline_ns)
		deadline_ns = limit;
	const size_t counts[] = {b->spans_count, b->metrics_count, b->logs_count};
	int rc = 0;
	for (int sig = 0; sig < 3; sig++)
		if (counts[sig]) {
			int r = send_range(x, b, (sonde_signal)sig, 0, counts[sig], deadline_ns);
			if (rc == 0)
				rc = r;
		}
	return rc;
}

static int otlp_shutdown(sonde_exporter *e, uint64_t deadline_ns)
{
	otlp_exporter *x = (otlp_exporter *)e;
	for (int sig = 0; sig < 3; sig++)
		sonde__http_client_release(&x->http[sig]);
	sonde_buf_release(&x->body);
	sonde_buf_release(&x->gz);
	return 0;
}

/* The buffers too may have been in use by the parent's exporter thread: abandoned. */
static void otlp_after_fork_child(sonde_exporter *e)
{
	otlp_exporter *x = (otlp_exporter *)e;
	for (int sig = 0; sig < 3; sig++)
		sonde__http_client_after_fork(&x->http[sig]);
	x->body = (sonde_buf)SONDE_BUF_INIT;
	x->gz = (sonde_buf)SONDE_BUF_INIT;
}

static void otlp_destroy(sonde_exporter *e)
{
	otlp_shutdown(e, 0);
	free(e);
}

static const sonde_exporter_ops otlp_ops = {
        .name = "otlp-http",
        .deliver = otlp_export,
        .force_flush = NULL,
        .shutdown = otlp_shutdown,
        .destroy = otlp_destroy,
        .after_fork_child = otlp_after_fork_child,
};

/* Prepares the client of one signal: its URL, content type, compression and headers.
 * On failure nothing is left to release. */
static int client_setup(otlp_exporter *x, sonde__http_client *h, sonde_signal sig,
                        const sonde_otlp_http_config *cfg)
{
	char *url;
	int rc = resolve_url(cfg, sig, &url);
	if (rc < 0)
		return rc;
	rc = sonde__http_client_init(h, "otlp-http", url);
	free(url);
	if (rc < 0)
		return rc;
	rc = sonde__http_client_add_header(h, x->protocol == SONDE_OTLP_HTTP_JSON
	                                              ? "Content-Type: application/json"
	                                              : "Content-Type: application/x-protobuf");
	if (rc == 0 && x->gzip)
		rc = sonde__http_client_add_header(h, "Content-Encoding: gzip");
	if (rc == 0)
		rc = add_headers(h, sig, cfg);
	if (rc < 0)
		sonde__http_client_release(h);
	return rc;
}

sonde_exporter *sonde_exporter_otlp_http_new(const sonde_otlp_http_config *cfg)
{
	if (cfg && cfg->protocol_set && cfg->protocol != SONDE_OTLP_HTTP_PROTOBUF &&
	    cfg->protocol != SONDE_OTLP_HTTP_JSON) {
		sonde__diag("sonde: otlp-http: unknown protocol %d", (int)cfg->protocol);
		return NULL;
	}
	otlp_exporter *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->base.ops = &otlp_ops;
	x->protocol = cfg && cfg->protocol_set ? cfg->protocol : env_protocol();
	x->gzip = cfg && (cfg->gzip || cfg->gzip_set) ? cfg->gzip : env_gzip();
	x->timeout_ms = cfg && cfg->timeout_ms ? cfg->timeout_ms : env_timeout();
	int rc = 0, sig;
	for (sig = 0; sig < 3 && rc == 0; sig++)
		rc = client_setup(x, &x->http[sig], (sonde_signal)sig, cfg);
	if (rc < 0)
		for (int k = 0; k < sig - 1; k++)
			sonde__http_client_release(&x->http[k]);
	if (rc < 0) {
		free(x);
		return NULL;
	}
	return &x->base;
}
