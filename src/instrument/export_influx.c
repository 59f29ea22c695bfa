/*
 * export_influx.c - the InfluxDB line-protocol metric exporter (export.h,
 * sonde_exporter_influx_new): each batch's metrics as lines (src/wire influx.h) appended to
 * a file, or POSTed to InfluxDB's /api/v2/write (2.x, token auth) or /write (1.x, and
 * Telegraf's http_listener_v2) with the retry policy the OTLP exporter uses
 * (http_client_internal.h). Spans and log records are ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "env_internal.h"
#include "exporter_internal.h"
#include "http_client_internal.h"
#include "influx.h"

#define DEFAULT_TIMEOUT_MS 10000u

typedef struct influx_exporter {
	sonde_exporter base;
	bool http;
	sonde__http_client client; /* http */
	int fd;                    /* file: owned, -1 after shutdown */
	char *path;                /* file, for diagnostics */
	uint32_t timeout_ms;
	sonde_buf body; /* reused by every export */
} influx_exporter;

static int write_all(int fd, const char *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t w = write(fd, p + done, n - done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)w;
	}
	return 0;
}

static int influx_export(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	influx_exporter *x = (influx_exporter *)e;
	if (b->metrics_count == 0)
		return 0;
	sonde_buf_reset(&x->body);
	int rc = sonde_influx_write(b, &x->body);
	if (rc == 0 && x->body.oom)
		rc = -ENOMEM;
	if (rc < 0) {
		sonde__diag("sonde: influx: encoding %zu metric(s) failed (%d)", b->metrics_count, rc);
		return rc;
	}
	if (x->body.len == 0)
		return 0;
	if (!x->http) {
		if (x->fd < 0)
			return -EBADF;
		rc = write_all(x->fd, x->body.data, x->body.len);
		if (rc < 0)
			sonde__diag("sonde: influx: writing %s: %s", x->path, strerror(-rc));
		return rc;
	}
	uint64_t limit = sonde__mono_ns() + (uint64_t)x->timeout_ms * 1000000u;
	if (limit < deadline_ns)
		deadline_ns = limit;
	return sonde__http_post(&x->client, x->body.data, x->body.len, deadline_ns, &x->base.retries);
}

static int influx_shutdown(sonde_exporter *e, uint64_t deadline_ns)
{
	influx_exporter *x = (influx_exporter *)e;
	int rc = 0;
	if (x->http) {
		sonde__http_client_release(&x->client);
	} else if (x->fd >= 0) {
		if (fdatasync(x->fd) < 0 && errno != EINVAL && errno != EROFS)
			rc = -errno;
		if (close(x->fd) < 0 && rc == 0 && errno != EINTR)
			rc = -errno;
		x->fd = -1;
		if (rc < 0)
			sonde__diag("sonde: influx: closing %s: %s", x->path, strerror(-rc));
	}
	sonde_buf_release(&x->body);
	return rc;
}

static void influx_after_fork_child(sonde_exporter *e)
{
	influx_exporter *x = (influx_exporter *)e;
	if (x->http)
		sonde__http_client_after_fork(&x->client);
	x->body = (sonde_buf)SONDE_BUF_INIT;
}

static void influx_destroy(sonde_exporter *e)
{
	influx_exporter *x = (influx_exporter *)e;
	if (x->http)
		sonde__http_client_release(&x->client);
	else if (x->fd >= 0)
		close(x->fd);
	sonde_buf_release(&x->body);
	free(x->path);
	free(x);
}

static const sonde_exporter_ops influx_ops = {
        .name = "influx",
        .deliver = influx_export,
        .force_flush = NULL,
        .shutdown = influx_shutdown,
        .destroy = influx_destroy,
        .after_fork_child = influx_after_fork_child,
};

/* Appends s percent-encoded (RFC 3986 unreserved characters kept) to out. */
static void put_query_value(sonde_buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '.' || c == '_' || c == '~') {
			sonde_buf_putc(out, (char)c);
		} else {
			sonde_buf_putc(out, '%');
			sonde_buf_putc(out, hex[c >> 4]);
			sonde_buf_putc(out, hex[c & 15]);
		}
	}
}

/* The write URL: the endpoint as given when it already names a write path, else the
 * endpoint + /write?db= (db set) or /api/v2/write?org=&bucket=, with precision=ns. Heap
 * string or NULL (reported). */
static char *write_url(const sonde_influx_config *cfg)
{
	const char *ep = cfg->endpoint;
	if (!sonde__http_url_ok(ep)) {
		sonde__diag("sonde: influx: \"%.128s\" is not an http:// or https:// URL", ep);
		return NULL;
	}
	if (strstr(ep, "/write"))
		return strdup(ep);
	if (!cfg->db && !cfg->bucket) {
		sonde__diag("sonde: influx: %s: give a bucket (InfluxDB 2) or a db (InfluxDB 1)", ep);
		return NULL;
	}
	sonde_buf u = SONDE_BUF_INIT;
	size_t n = strlen(ep);
	while (n && ep[n - 1] == '/')
		n--;
	sonde_buf_append(&u, ep, n);
	if (cfg->db) {
		sonde_buf_puts(&u, "/write?db=");
		put_query_value(&u, cfg->db);
	} else {
		sonde_buf_puts(&u, "/api/v2/write?bucket=");
		put_query_value(&u, cfg->bucket);
		if (cfg->org) {
			sonde_buf_puts(&u, "&org=");
			put_query_value(&u, cfg->org);
		}
	}
	sonde_buf_puts(&u, "&precision=ns");
	sonde_buf_putc(&u, '\0');
	if (u.oom) {
		sonde_buf_release(&u);
		return NULL;
	}
	size_t len;
	return sonde_buf_detach(&u, &len);
}

sonde_exporter *sonde_exporter_influx_new(const sonde_influx_config *cfg)
{
	if (!cfg || (!cfg->path == !cfg->endpoint)) {
		sonde__diag("sonde: influx: give either a file path or an HTTP endpoint");
		return NULL;
	}
	influx_exporter *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->base.ops = &influx_ops;
	x->fd = -1;
	x->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	if (cfg->path) {
		x->path = strdup(cfg->path);
		x->fd = x->path ? open(cfg->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
		if (x->fd < 0) {
			if (x->path)
				sonde__diag("sonde: influx: cannot open %s: %s", cfg->path, strerror(errno));
			influx_destroy(&x->base);
			return NULL;
		}
		return &x->base;
	}
	char *url = write_url(cfg);
	if (!url) {
		free(x);
		return NULL;
	}
	x->http = true;
	int rc = sonde__http_client_init(&x->client, "influx", url);
	free(url);
	if (rc < 0) {
		free(x);
		return NULL;
	}
	char auth[1024];
	if (sonde__http_client_add_header(&x->client, "Content-Type: text/plain; charset=utf-8") < 0)
		rc = -ENOMEM;
	if (rc == 0 && cfg->token) {
		if (strpbrk(cfg->token, "\r\n") || strlen(cfg->token) > sizeof auth - 32) {
			sonde__diag("sonde: influx: the token holds a line break or is too long");
			rc = -EINVAL;
		} else {
			snprintf(auth, sizeof auth, "Authorization: Token %s", cfg->token);
			rc = sonde__http_client_add_header(&x->client, auth);
		}
	}
	if (rc < 0) {
		influx_destroy(&x->base);
		return NULL;
	}
	return &x->base;
}
