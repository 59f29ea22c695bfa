/*
 * export_zipkin.c - the Zipkin exporter: the batch as one Zipkin v2 JSON array POSTed to
 * /api/v2/spans, with the retry policy the OTLP exporter uses (http_client_internal.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "env_internal.h"
#include "exporter_internal.h"
#include "http_client_internal.h"
#include "zipkin.h"

#define DEFAULT_URL        "http://localhost:9411/api/v2/spans"
#define DEFAULT_TIMEOUT_MS 10000u

typedef struct zipkin_exporter {
	sonde_exporter base;
	sonde__http_client http;
	uint32_t timeout_ms;
	sonde_buf body; /* reused by every export */
} zipkin_exporter;

static int zipkin_export(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	zipkin_exporter *x = (zipkin_exporter *)e;
	if (b->spans_count == 0)
		return 0;
	uint64_t limit = sonde__mono_ns() + (uint64_t)x->timeout_ms * 1000000u;
	if (limit < deadline_ns)
		deadline_ns = limit;
	sonde_buf_reset(&x->body);
	int rc = sonde_zipkin_write(b, &x->body);
	if (rc < 0) {
		sonde__diag("sonde: zipkin: encoding %zu span(s) failed (%d)", b->spans_count, rc);
		return rc;
	}
	return sonde__http_post(&x->http, x->body.data, x->body.len, deadline_ns, &x->base.retries);
}

static int zipkin_shutdown(sonde_exporter *e, uint64_t deadline_ns)
{
	zipkin_exporter *x = (zipkin_exporter *)e;
	sonde__http_client_release(&x->http);
	sonde_buf_release(&x->body);
	return 0;
}

static void zipkin_after_fork_child(sonde_exporter *e)
{
	zipkin_exporter *x = (zipkin_exporter *)e;
	sonde__http_client_after_fork(&x->http);
	x->body = (sonde_buf)SONDE_BUF_INIT;
}

static void zipkin_destroy(sonde_exporter *e)
{
	zipkin_shutdown(e, 0);
	free(e);
}

static const sonde_exporter_ops zipkin_ops = {
        .name = "zipkin",
        .deliver = zipkin_export,
        .force_flush = NULL,
        .shutdown = zipkin_shutdown,
        .destroy = zipkin_destroy,
        .after_fork_child = zipkin_after_fork_child,
};

/* The URL from the argument, else OTEL_EXPORTER_ZIPKIN_ENDPOINT (a bad one is reported and
 * ignored), else the default. Returns a heap copy, or NULL (reported when invalid). */
static char *resolve_url(const char *url)
{
	if (url) {
		if (!sonde__http_url_ok(url)) {
			sonde__diag("sonde: zipkin: \"%.128s\" is not an http:// or https:// URL", url);
			return NULL;
		}
		return strdup(url);
	}
	char *v;
	int rc = sonde__env_str("OTEL_EXPORTER_ZIPKIN_ENDPOINT", &v);
	if (rc < 0)
		return NULL;
	if (rc > 0) {
		if (sonde__http_url_ok(v))
			return v;
		sonde__diag("sonde: OTEL_EXPORTER_ZIPKIN_ENDPOINT=\"%.128s\" ignored: expected an http:// or "
		            "https:// URL",
		            v);
		free(v);
	}
	return strdup(DEFAULT_URL);
}

sonde_exporter *sonde_exporter_zipkin_new(const char *url, uint32_t timeout_ms)
{
	char *u = resolve_url(url);
	if (!u)
		return NULL;
	zipkin_exporter *x = calloc(1, sizeof(*x));
	if (!x) {
		free(u);
		return NULL;
	}
	x->base.ops = &zipkin_ops;
	x->timeout_ms = timeout_ms;
	if (!x->timeout_ms &&
	    (sonde__env_ms("OTEL_EXPORTER_ZIPKIN_TIMEOUT", &x->timeout_ms) <= 0 || !x->timeout_ms))
		x->timeout_ms = DEFAULT_TIMEOUT_MS;
	int rc = sonde__http_client_init(&x->http, "zipkin", u);
	free(u);
	if (rc < 0) {
		free(x);
		return NULL;
	}
	if (sonde__http_client_add_header(&x->http, "Content-Type: application/json") < 0) {
		zipkin_destroy(&x->base);
		return NULL;
	}
	return &x->base;
}
