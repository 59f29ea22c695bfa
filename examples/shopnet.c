/*
 * shopnet.c - a small shop of three services talking HTTP/1.1 over loopback, each
 * instrumented with libsonde, and the load generator that drives it: the system `make demo`
 * runs through a release that goes wrong (scripts/demo_system.sh).
 *
 *     shopnet frontend --to ORDERS_PORT   [--port N] [--ready FILE] [--workers N]
 *     shopnet orders   --to PAYMENTS_PORT [--port N] [--ready FILE] [--workers N]
 *     shopnet payments [--port N] [--ready FILE] [--workers N]
 *                      [--burst-after MS] [--burst-for MS] [--burst-rate PERCENT]
 *     shopnet loadgen  --to FRONTEND_PORT [--rate N] [--duration S] [--ramp S] [--threads N]
 *
 * The frontend serves POST /api/orders, GET /api/orders/{id} and GET /api/catalog; it
 * validates orders and forwards them to orders, which reads and writes a database (a fake
 * one: each statement is a client span with db.system and db.statement that sleeps as long
 * as the query would take), prices the order (CPU work, for the profiler) and charges it
 * through payments. Trace context crosses every hop as a W3C traceparent header, so one
 * trace spans the three services. Every service logs through sonde_log (records carry the
 * trace of the request; a failure is an exception on the server span and an ERROR record
 * with the same message), and pushes metrics every 100 ms: requests, their duration,
 * errors by type, and the process' resident memory.
 *
 * The release. A service reads its service.version from OTEL_RESOURCE_ATTRIBUTES (else
 * its default: orders "1", frontend "7.3.0", payments "4.1.2"); orders at version 2 or
 * above runs the new code: (a) it loads items one query at a time (N+1) and runs an
 * unindexed scan of order_items that takes 40-100 ms, (b) it charges through payments' new
 * endpoint, POST /v2/authorize, whose acquirer starts failing --burst-after ms after the
 * first call to it, for --burst-for ms, with --burst-rate percent of 503s (the errors
 * cascade: orders and the frontend answer 502), and (c) it keeps an audit copy of every
 * order it never frees (cache_order_audit), a slow leak for `sonde mem` to find. Version 1
 * of orders has none of these. A release is a restart: start orders again with
 * OTEL_RESOURCE_ATTRIBUTES=service.version=2 on the same port (listeners use
 * SO_REUSEPORT), then stop the old one with SIGTERM: it stops accepting, finishes what it
 * is serving, flushes its telemetry and exits 0. Clients reconnect on a closed keep-alive
 * connection, so a rolling restart loses no request.
 *
 * Telemetry goes where libsonde's environment says (OTEL_EXPORTER_OTLP_ENDPOINT, e.g.
 * `sonde serve`), or to a file of OTLP JSON lines with --otlp-file PATH. --ready FILE
 * receives "PORT PID" once the service listens (the port is chosen by the system when
 * --port is 0, the default). The load generator is not instrumented (it stands for the
 * users): it sends --rate requests per second (reached linearly over the first --ramp
 * seconds, default 1) for --duration seconds from --threads connections, as users u1..u12
 * (u7 is a buggy client that sometimes orders 0 items), and prints a summary on stdout and
 * a line per second on stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sonde/export.h"
#include "sonde/log.h"
#include "sonde/metrics.h"
#include "sonde/propagation.h"
#include "sonde/trace.h"

enum {
	MSG_CAP = 16384, /* one HTTP message, headers and body */
	MAX_HEADERS = 32,
	BODY_CAP = 2048,  /* a response body we build */
	IO_TICK_MS = 250, /* socket timeout: how often a blocked read looks at the stop flag */
	IDLE_CLOSE_MS = 5000,
	CALL_TIMEOUT_MS = 10000,
	QUEUE_CAP = 256,
};

/* ---- Settings and process state ----------------------------------------------------- */

typedef struct options {
	const char *role;
	int port;    /* to listen on; 0: any */
	int to_port; /* the service this one calls */
	const char *ready;
	const char *otlp_file;
	int workers;
	double rate, duration_s, ramp_s; /* loadgen */
	int threads;
	int burst_after_ms, burst_for_ms, burst_pct; /* payments */
} options;

static options opt = {
        .workers = 32,
        .rate = 50,
        .duration_s = 10,
        .ramp_s = 1,
        .threads = 12,
        .burst_after_ms = 1500,
        .burst_for_ms = 6000,
        .burst_pct = 30,
};
static char version[64];
static int major_version;
static atomic_bool stopping;
static sonde_tracer *tracer;

static struct {
	sonde_instrument *duration, *requests, *errors, *client_duration;
} m;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A per-thread xorshift generator: the simulation's randomness needs no lock. */
static _Thread_local uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	if (!rng_state)
		rng_state = now_ns() ^ ((uint64_t)(uintptr_t)&rng_state << 16) ^ (uint64_t)getpid();
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

/* ---- HTTP/1.1, just enough ---------------------------------------------------------- */

/* A connection and the message being read from it. Parsing works in place: header names
 * and values point into in[] until the message is consumed. */
typedef struct conn {
	int fd;
	char in[MSG_CAP + 1];
	size_t len;     /* bytes in in[] */
	size_t msg_len; /* bytes of the current message (0: none parsed) */
	char *method, *target;
	int status; /* responses */
	struct {
		const char *name, *value;
	} h[MAX_HEADERS];
	int nh;
	char *body;
	size_t body_len;
	bool close_after; /* the peer said Connection: close */
} conn;

static const char *conn_header(const conn *c, const char *name)
{
	for (int i = 0; i < c->nh; i++)
		if (strcasecmp(c->h[i].name, name) == 0)
			return c->h[i].value;
	return NULL;
}

/* Parses the message at the start of c->in if it is complete. Returns 1 (parsed), 0 (need
 * more bytes) or -EPROTO. It writes NULs into the head: a caller that gets 0 restores the
 * bytes before reading more (conn_read keeps a copy). */
static int conn_parse(conn *c, bool request)
{
	c->in[c->len] = 0;
	char *end = strstr(c->in, "\r\n\r\n");
	if (!end)
		return c->len >= MSG_CAP ? -EPROTO : 0;
	size_t head = (size_t)(end - c->in) + 4;
	char *line = c->in, *eol = strstr(line, "\r\n");
	*eol = 0;
	if (request) {
		char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (!sp2)
			return -EPROTO;
		*sp1 = *sp2 = 0;
		c->method = line;
		c->target = sp1 + 1;
	} else {
		if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12)
			return -EPROTO;
		c->status = atoi(line + 9);
	}
	c->nh = 0;
	c->close_after = false;
	size_t content_length = 0;
	for (char *p = eol + 2; p < end;) {
		char *e = strstr(p, "\r\n");
		*e = 0;
		char *colon = strchr(p, ':');
		if (colon && c->nh < MAX_HEADERS) {
			*colon = 0;
			char *v = colon + 1;
			while (*v == ' ')
				v++;
			c->h[c->nh].name = p;
			c->h[c->nh].value = v;
			c->nh++;
			if (strcasecmp(p, "content-length") == 0)
				content_length = strtoul(v, NULL, 10);
			else if (strcasecmp(p, "connection") == 0 && strcasecmp(v, "close") == 0)
				c->close_after = true;
		}
		p = e + 2;
	}
	if (head + content_length > MSG_CAP)
		return -EPROTO;
	if (c->len < head + content_length)
		return 0; /* the body is not all here: the caller restores the bytes and reads more */
	c->body = c->in + head;
	c->body_len = content_length;
	c->msg_len = head + content_length;
	return 1;
}

/* Reads one message into c. Returns 1, 0 when the peer closed (or, for an idle server
 * connection, when it was idle too long or we are stopping), or a negative errno. */
static int conn_read(conn *c, bool request)
{
	char head_copy[MSG_CAP + 1];
	int waited_ms = 0;
	for (;;) {
		if (c->len) {
			/* conn_parse writes NULs into the head; parse a copy until complete. */
			memcpy(head_copy, c->in, c->len);
			int rc = conn_parse(c, request);
			if (rc != 0)
				return rc;
			memcpy(c->in, head_copy, c->len);
		}
		ssize_t n = recv(c->fd, c->in + c->len, MSG_CAP - c->len, 0);
		if (n > 0) {
			c->len += (size_t)n;
			waited_ms = 0;
			continue;
		}
		if (n == 0)
			return c->len ? -EPROTO : 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		waited_ms += IO_TICK_MS;
		if (request && c->len == 0 && (atomic_load(&stopping) || waited_ms >= IDLE_CLOSE_MS))
			return 0;
		if (waited_ms >= CALL_TIMEOUT_MS)
			return -ETIMEDOUT;
	}
}

/* Drops the message just handled, keeping any bytes of the next one. */
static void conn_consume(conn *c)
{
	memmove(c->in, c->in + c->msg_len, c->len - c->msg_len);
	c->len -= c->msg_len;
	c->msg_len = 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EPIPE;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void set_timeouts(int fd)
{
	struct timeval tv = {0, IO_TICK_MS * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int connect_port(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	set_timeouts(fd);
	return fd;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 402: return "Payment Required";
	case 404: return "Not Found";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* Outgoing headers: a carrier that appends "Key: value\r\n" lines. */
typedef struct headers_out {
	char text[1024];
	size_t len;
} headers_out;

static int headers_set(void *ctx, const char *key, const char *value)
{
	headers_out *h = ctx;
	int n = snprintf(h->text + h->len, sizeof h->text - h->len, "%s: %s\r\n", key, value);
	if (n < 0 || (size_t)n >= sizeof h->text - h->len)
		return -E2BIG;
	h->len += (size_t)n;
	return 0;
}

static const char *conn_get(void *ctx, const char *key)
{
	return conn_header(ctx, key);
}

/* The calling thread's keep-alive connection to the service it calls. */
static _Thread_local conn *downstream;

/* Calls the downstream service: sends METHOD PATH with the headers and body, waits for
 * the answer. On success returns 0 with *status, and the body copied into out (cap bytes,
 * NUL-terminated). A failure other than a timeout (a keep-alive connection the peer closed
 * while restarting, a connection reset) is retried once on a fresh connection. Returns a
 * negative errno when no answer came. */
static int http_call(const char *method, const char *path, const headers_out *hdrs, const char *body,
                     int *status, char *out, size_t cap)
{
	if (!downstream) {
		downstream = calloc(1, sizeof *downstream);
		if (!downstream)
			return -ENOMEM;
		downstream->fd = -1;
	}
	conn *c = downstream;
	char req[4096];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(req, sizeof req,
	                 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n%s",
	                 method, path, opt.to_port, hdrs ? hdrs->text : "", blen, body ? body : "");
	if (n < 0 || (size_t)n >= sizeof req)
		return -E2BIG;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0) {
			c->fd = connect_port(opt.to_port);
			if (c->fd < 0) {
				int e = c->fd;
				c->fd = -1;
				return e;
			}
			c->len = 0;
		}
		int rc = send_all(c->fd, req, (size_t)n);
		if (rc == 0) {
			rc = conn_read(c, false);
			if (rc == 0)
				rc = -ECONNRESET;
		}
		if (rc == 1) {
			*status = c->status;
			size_t k = c->body_len < cap - 1 ? c->body_len : cap - 1;
			memcpy(out, c->body, k);
			out[k] = 0;
			bool close_it = c->close_after;
			conn_consume(c);
			if (close_it) {
				close(c->fd);
				c->fd = -1;
			}
			return 0;
		}
		close(c->fd);
		c->fd = -1;
		/* Once more on a fresh connection: the peer may have closed a keep-alive
		 * connection, or reset one it had queued, while restarting. */
		if (rc == -ETIMEDOUT)
			return rc;
	}
	return -ECONNRESET;
}

/* ---- Telemetry helpers --------------------------------------------------------------- */

/* A response being built by a handler. */
typedef struct response {
	int status;
	bool failed; /* the handler marked the server span failed, with the reason */
	char body[BODY_CAP];
} response;

/* What the request being served on this thread is about: the attributes of its error logs. */
static _Thread_local struct {
	const char *user, *route;
} current;

static void respond(response *r, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void respond(response *r, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	r->status = status;
	vsnprintf(r->body, sizeof r->body, fmt, ap);
	va_end(ap);
}

/* A call to the fake database: a client span named as OpenTelemetry names database spans,
 * lasting as long as the statement would. */
static void db_query(const char *operation, const char *table, const char *statement, long us)
{
	char name[96];
	snprintf(name, sizeof name, "%s shop.%s", operation, table);
	sonde_span_opts o = {.kind = SONDE_SPAN_KIND_CLIENT};
	sonde_span *s = sonde_span_start_ex(tracer, name, &o);
	sonde_span_set_str(s, "db.system", "postgresql");
	sonde_span_set_str(s, "db.name", "shop");
	sonde_span_set_str(s, "db.operation", operation);
	sonde_span_set_str(s, "db.sql.table", table);
	sonde_span_set_str(s, "db.statement", statement);
	sonde_span_set_str(s, "server.address", "db.shop.internal");
	sleep_us(us);
	sonde_span_end(s);
}

/* Calls the downstream service inside a client span, the trace context injected. */
static int traced_call(const char *peer, const char *method, const char *path, const char *user,
                       const char *body, int *status, char *out, size_t cap)
{
	char name[160];
	snprintf(name, sizeof name, "%s %s", method, path);
	sonde_span_opts o = {.kind = SONDE_SPAN_KIND_CLIENT};
	sonde_span *s = sonde_span_start_ex(tracer, name, &o);
	sonde_span_set_str(s, "http.request.method", method);
	sonde_span_set_str(s, "url.path", path);
	sonde_span_set_str(s, "server.address", "127.0.0.1");
	sonde_span_set_int(s, "server.port", opt.to_port);
	sonde_span_set_str(s, "peer.service", peer);
	headers_out h = {.len = 0};
	h.text[0] = 0;
	sonde_span_context ctx;
	sonde_span_context_get(s, &ctx);
	sonde_carrier carrier = {.ctx = &h, .set = headers_set};
	sonde_propagation_inject(&carrier, &ctx, NULL);
	if (user)
		headers_set(&h, "X-User-Id", user);
	uint64_t t0 = sonde_timer_start();
	int rc = http_call(method, path, &h, body, status, out, cap);
	sonde_attr a[] = {SONDE_ATTR_STR("peer.service", peer),
	                  SONDE_ATTR_INT("http.response.status_code", rc == 0 ? *status : 0)};
	if (rc == 0) {
		sonde_span_set_int(s, "http.response.status_code", *status);
		if (*status >= 500) {
			char msg[96];
			snprintf(msg, sizeof msg, "%s answered %d", peer, *status);
			sonde_span_set_status(s, SONDE_STATUS_ERROR, msg);
		}
	} else {
		char msg[160];
		snprintf(msg, sizeof msg, "cannot reach %s at 127.0.0.1:%d: %s", peer, opt.to_port,
		         strerror(-rc));
		sonde_span_record_exception(s, "ConnectionError", msg, NULL);
	}
	sonde_span_end(s);
	sonde_series *ser = sonde_instrument_bind(m.client_duration, a, 2);
	sonde_series_record_since(ser, t0);
	return rc;
}

static void count_error(const char *type)
{
	sonde_attr a = SONDE_ATTR_STR("error.type", type);
	sonde_instrument_add(m.errors, 1, &a, 1);
}

/* Fails the request being served: an exception event on its server span and an ERROR log
 * record with the same message (the record carries the span's trace, the user and the
 * route), so that `sonde errors` sees one failure in both. */
static void fail(sonde_span *span, response *r, const char *type, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
static void fail(sonde_span *span, response *r, const char *type, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sonde_span_record_exception(span, type, msg, NULL);
	sonde_attr a[] = {SONDE_ATTR_STR("exception.type", type), SONDE_ATTR_STR("enduser.id", current.user),
	                  SONDE_ATTR_STR("http.route", current.route)};
	sonde_log(SONDE_LOG_ERROR, msg, a, 3);
	count_error(type);
	r->failed = true;
}

/* Resident memory, from /proc/self/statm, for the process.memory.usage gauge. */
static void observe_memory(sonde_observer *o, void *ud)
{
	(void)ud;
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size, resident;
	if (!f)
		return;
	if (fscanf(f, "%lu %lu", &size, &resident) == 2)
		sonde_observe(o, (double)resident * (double)sysconf(_SC_PAGESIZE), NULL, 0);
	fclose(f);
}

/* ---- The frontend ------------------------------------------------------------------- */

/* Reads "sku" and "qty" from a body like {"sku":"SKU-1042","qty":2}. */
static void parse_order(const char *body, char *sku, size_t cap, int *qty)
{
	const char *s = strstr(body, "\"sku\":\"");
	snprintf(sku, cap, "unknown");
	if (s) {
		s += 7;
		size_t n = strcspn(s, "\"");
		snprintf(sku, cap, "%.*s", (int)(n < cap - 1 ? n : cap - 1), s);
	}
	const char *q = strstr(body, "\"qty\":");
	*qty = q ? atoi(q + 6) : 0;
}

__attribute__((noinline)) static size_t render_catalog(char *out, size_t cap)
{
	size_t len = (size_t)snprintf(out, cap, "{\"items\":[");
	double price = 3.0;
	for (int i = 0; i < 12 && len + 64 < cap; i++) {
		for (int k = 0; k < 20000; k++) /* formatting prices the slow way */
			price = price * 1.0000001 + (k & 3) * 1e-9;
		len += (size_t)snprintf(out + len, cap - len, "%s{\"sku\":\"SKU-%d\",\"price\":%.2f}",
		                        i ? "," : "", 1040 + i, price + i);
	}
	len += (size_t)snprintf(out + len, cap - len, "]}");
	return len;
}

static void frontend_handle(conn *req, const char *route, const char *user, sonde_span *span, response *r)
{
	char out[BODY_CAP];
	int status = 0;
	if (strcmp(route, "/api/catalog") == 0) {
		render_catalog(r->body, sizeof r->body);
		r->status = 200;
		return;
	}
	if (strcmp(route, "/api/orders/{id}") == 0) {
		long id = strtol(req->target + strlen("/api/orders/"), NULL, 10);
		char path[64];
		snprintf(path, sizeof path, "/orders/%ld", id);
		int rc = traced_call("orders", "GET", path, user, NULL, &status, out, sizeof out);
		if (rc < 0 || status >= 500) {
			fail(span, r, "UpstreamError", "orders answered %d for order %ld (user %s)",
			     rc < 0 ? 0 : status, id, user);
			respond(r, 502, "{\"error\":\"orders unavailable\"}");
			return;
		}
		respond(r, status, "%s", out);
		return;
	}
	/* POST /api/orders */
	char sku[32];
	int qty;
	parse_order(req->body, sku, sizeof sku, &qty);
	{
		SONDE_SPAN_SCOPE(v, tracer, "validate order");
		sonde_span_set_str(v, "shop.sku", sku);
		sonde_span_set_int(v, "shop.quantity", qty);
		sleep_us(80);
		if (qty <= 0) {
			/* The client's mistake: a 400, logged, but no failed span (OpenTelemetry
			 * leaves a server span's status unset on 4xx). */
			sonde_attr a[] = {SONDE_ATTR_STR("exception.type", "ValidationError"),
			                  SONDE_ATTR_STR("enduser.id", user),
			                  SONDE_ATTR_STR("http.route", route)};
			char msg[160];
			snprintf(msg, sizeof msg, "quantity %d for sku %s must be positive (user %s)", qty,
			         sku, user);
			sonde_span_add_event(v, "validation failed", a, 1);
			sonde_log(SONDE_LOG_ERROR, msg, a, 3);
			count_error("ValidationError");
			respond(r, 400, "{\"error\":\"quantity must be positive\"}");
			return;
		}
	}
	char body[128];
	snprintf(body, sizeof body, "{\"sku\":\"%s\",\"qty\":%d,\"user\":\"%s\"}", sku, qty, user);
	int rc = traced_call("orders", "POST", "/orders", user, body, &status, out, sizeof out);
	if (rc < 0) {
		fail(span, r, "UpstreamUnavailable", "cannot reach orders at 127.0.0.1:%d: %s (user %s)",
		     opt.to_port, strerror(-rc), user);
		respond(r, 503, "{\"error\":\"orders unavailable\"}");
		return;
	}
	if (status >= 500) {
		char txn[32] = "";
		const char *t = strstr(out, "\"txn\":\"");
		if (t)
			snprintf(txn, sizeof txn, "%.*s", (int)strcspn(t + 7, "\""), t + 7);
		fail(span, r, "UpstreamError", "orders answered %d for sku %s, txn %s (user %s)", status, sku,
		     txn[0] ? txn : "none", user);
		respond(r, 502, "{\"error\":\"order failed\",\"txn\":\"%s\"}", txn);
		return;
	}
	SONDE_LOGF(SONDE_LOG_INFO, "order placed for user %s: %d x %s", user, qty, sku);
	respond(r, status, "%s", out);
}

/* ---- Orders ------------------------------------------------------------------------- */

static atomic_long next_order = 10000;

/* CPU work, so that a profile of orders has something to show: discounts cost about
 * twice what tax does. */
static volatile double price_sink;

__attribute__((noinline)) static double apply_discounts(int qty)
{
	double p = 10.0 * qty;
	for (int i = 0; i < 400000; i++)
		p = p * 0.9999999 + (i & 7) * 1e-7;
	return p;
}

__attribute__((noinline)) static double compute_tax(double price)
{
	double t = price;
	for (int i = 0; i < 200000; i++)
		t = t * 1.0000001 - (i & 3) * 1e-7;
	return t - price;
}

static double price_order(int qty)
{
	SONDE_SPAN_SCOPE(s, tracer, "price order");
	double p = apply_discounts(qty);
	price_sink = p + compute_tax(p);
	sonde_span_set_double(s, "shop.order.total", price_sink);
	return price_sink;
}

/* Version 2 keeps an audit copy of every order "for the new reporting job", which never
 * reads it and never frees it: the slow leak `sonde mem` finds. */
typedef struct order_audit {
	long order;
	char user[16];
	char sku[32];
	char payload[4000];
} order_audit;

static order_audit *_Atomic last_audit;

__attribute__((noinline)) static void cache_order_audit(long order, const char *user, const char *sku)
{
	order_audit *a = malloc(sizeof *a);
	if (!a)
		return;
	a->order = order;
	snprintf(a->user, sizeof a->user, "%s", user);
	snprintf(a->sku, sizeof a->sku, "%s", sku);
	memset(a->payload, 'a', sizeof a->payload);
	last_audit = a; /* the previous copy is lost */
}

static void orders_handle(conn *req, const char *route, const char *user, sonde_span *span, response *r)
{
	char out[BODY_CAP] = "", stmt[256];
	if (strcmp(route, "/orders/{id}") == 0) {
		long id = strtol(req->target + strlen("/orders/"), NULL, 10);
		snprintf(stmt, sizeof stmt, "SELECT id, status, total FROM orders WHERE id = %ld", id);
		db_query("SELECT", "orders", stmt, 600 + rnd(600));
		respond(r, 200, "{\"order_id\":%ld,\"status\":\"paid\"}", id);
		return;
	}
	char sku[32];
	int qty;
	parse_order(req->body, sku, sizeof sku, &qty);
	long order = atomic_fetch_add(&next_order, 1);
	sonde_span_set_int(span, "shop.order.id", order);
	snprintf(stmt, sizeof stmt, "SELECT id, price, stock FROM items WHERE sku = '%s'", sku);
	db_query("SELECT", "items", stmt, 700 + rnd(500));
	if (major_version >= 2) {
		/* The new stock check: one query per related item (N+1), then a scan of
		 * order_items the new "frequently bought together" feature needs, on a
		 * column with no index. */
		int related = 4 + qty;
		for (int i = 0; i < related; i++) {
			snprintf(stmt, sizeof stmt, "SELECT stock FROM inventory WHERE item_id = %d",
			         1040 + (int)rnd(400));
			db_query("SELECT", "inventory", stmt, 300 + rnd(300));
		}
		snprintf(stmt, sizeof stmt,
		         "SELECT sku, count(*) FROM order_items WHERE lower(note) LIKE '%%%s%%' GROUP BY sku",
		         sku);
		db_query("SELECT", "order_items", stmt, 40000 + rnd(60000));
	}
	double total = price_order(qty);
	snprintf(stmt, sizeof stmt,
	         "INSERT INTO orders (id, user_id, sku, qty, total) VALUES (%ld, '%s', '%s', %d, %.2f)",
	         order, user, sku, qty, total);
	db_query("INSERT", "orders", stmt, 800 + rnd(700));
	if (major_version >= 2)
		cache_order_audit(order, user, sku);

	char body[160];
	snprintf(body, sizeof body, "{\"order\":%ld,\"amount\":%.2f,\"user\":\"%s\"}", order, total, user);
	int status = 0;
	const char *path = major_version >= 2 ? "/v2/authorize" : "/charge";
	int rc = traced_call("payments", "POST", path, user, body, &status, out, sizeof out);
	if (rc < 0 || status >= 500) {
		char txn[32] = "none";
		const char *t = strstr(out, "\"txn\":\"");
		if (rc == 0 && t)
			snprintf(txn, sizeof txn, "%.*s", (int)strcspn(t + 7, "\""), t + 7);
		fail(span, r, "PaymentError", "payments answered %d for order %ld (txn %s)",
		     rc == 0 ? status : 0, order, txn);
		respond(r, 502, "{\"error\":\"payment failed\",\"order\":%ld,\"txn\":\"%s\"}", order, txn);
		return;
	}
	if (status == 402) {
		SONDE_LOGF(SONDE_LOG_WARN, "payment declined for order %ld (user %s)", order, user);
		respond(r, 402, "{\"error\":\"payment declined\",\"order\":%ld}", order);
		return;
	}
	SONDE_LOGF(SONDE_LOG_INFO, "order %ld placed: %d x %s, total %.2f", order, qty, sku, total);
	respond(r, 201, "{\"order\":%ld,\"total\":%.2f}", order, total);
}

/* ---- Payments ----------------------------------------------------------------------- */

static _Atomic uint64_t first_v2_ns; /* the first call of /v2/authorize (0: none yet) */

static bool in_burst(void)
{
	uint64_t first = atomic_load(&first_v2_ns), now = now_ns();
	if (!first) {
		uint64_t zero = 0;
		atomic_compare_exchange_strong(&first_v2_ns, &zero, now);
		first = atomic_load(&first_v2_ns);
	}
	uint64_t from = first + (uint64_t)opt.burst_after_ms * 1000000u;
	return now >= from && now < from + (uint64_t)opt.burst_for_ms * 1000000u;
}

static void payments_handle(conn *req, const char *route, const char *user, sonde_span *span, response *r)
{
	char stmt[160];
	long order = 0;
	const char *o = strstr(req->body, "\"order\":");
	if (o)
		order = strtol(o + 8, NULL, 10);
	sonde_span_set_int(span, "shop.order.id", order);
	snprintf(stmt, sizeof stmt, "SELECT balance, card_token FROM accounts WHERE user_id = '%s'", user);
	db_query("SELECT", "accounts", stmt, 400 + rnd(400));
	char txn[24];
	snprintf(txn, sizeof txn, "%08x%04x", (unsigned)rnd(UINT32_MAX), (unsigned)rnd(0xffff));
	bool v2 = strcmp(route, "/v2/authorize") == 0;
	bool refused = v2 && in_burst() && (int)rnd(100) < opt.burst_pct;
	{
		/* The card acquirer, outside the shop: a client span, the wait simulated. */
		sonde_span_opts so = {.kind = SONDE_SPAN_KIND_CLIENT};
		sonde_span *a = sonde_span_start_ex(tracer, "POST acquirer /authorize", &so);
		sonde_span_set_str(a, "peer.service", "acquirer");
		sonde_span_set_str(a, "server.address", "acq-eu-3.cards.example");
		sonde_span_set_str(a, "shop.txn", txn);
		sleep_us(refused ? 1500 + rnd(1000) : 1200 + rnd(1500));
		if (refused) {
			char msg[160];
			snprintf(msg, sizeof msg,
			         "acquirer acq-eu-3 refused txn %s for order %ld: connection reset", txn,
			         order);
			sonde_span_record_exception(a, "AcquirerUnavailable", msg, NULL);
		}
		sonde_span_end(a);
	}
	if (refused) {
		fail(span, r, "AcquirerUnavailable",
		     "acquirer acq-eu-3 refused txn %s for order %ld: connection reset", txn, order);
		respond(r, 503, "{\"error\":\"acquirer unavailable\",\"txn\":\"%s\"}", txn);
		return;
	}
	if (rnd(100) < 2) { /* cards are declined now and then: a business outcome, not an error */
		SONDE_LOGF(SONDE_LOG_WARN, "card declined for order %ld (txn %s)", order, txn);
		respond(r, 402, "{\"declined\":true,\"txn\":\"%s\"}", txn);
		return;
	}
	SONDE_LOGF(SONDE_LOG_INFO, "authorized order %ld (txn %s)", order, txn);
	respond(r, 200, "{\"authorized\":true,\"txn\":\"%s\"}", txn);
}

/* ---- The server --------------------------------------------------------------------- */

typedef void (*handler_fn)(conn *req, const char *route, const char *user, sonde_span *span, response *r);

static handler_fn handler;

/* The route template of a request target, or NULL when no route takes it. */
static const char *route_of(const char *method, const char *target)
{
	const char *role = opt.role;
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	if (strcmp(role, "frontend") == 0) {
		if (post && strcmp(target, "/api/orders") == 0)
			return "/api/orders";
		if (get && strncmp(target, "/api/orders/", 12) == 0)
			return "/api/orders/{id}";
		if (get && strcmp(target, "/api/catalog") == 0)
			return "/api/catalog";
	} else if (strcmp(role, "orders") == 0) {
		if (post && strcmp(target, "/orders") == 0)
			return "/orders";
		if (get && strncmp(target, "/orders/", 8) == 0)
			return "/orders/{id}";
	} else if (post && strcmp(target, "/charge") == 0) {
		return "/charge";
	} else if (post && strcmp(target, "/v2/authorize") == 0) {
		return "/v2/authorize";
	}
	return NULL;
}

/* Serves one request: the server span (continuing the caller's trace), the handler, the
 * metrics. */
static void serve_request(conn *c, response *r)
{
	const char *route = route_of(c->method, c->target);
	const char *user = conn_header(c, "X-User-Id");
	if (!user)
		user = "anonymous";
	sonde_carrier carrier = {.ctx = c, .get = conn_get};
	sonde_span_context parent;
	bool has_parent = sonde_propagation_extract(&carrier, &parent, NULL) == 0;
	char name[160];
	snprintf(name, sizeof name, "%s %s", c->method, route ? route : "");
	sonde_span_opts o = {
	        .kind = SONDE_SPAN_KIND_SERVER, .parent = has_parent ? &parent : NULL, .root = !has_parent};
	sonde_span *span = sonde_span_start_ex(tracer, name, &o);
	sonde_span_set_str(span, "http.request.method", c->method);
	sonde_span_set_str(span, "url.path", c->target);
	sonde_span_set_str(span, "enduser.id", user);
	current.user = user;
	current.route = route ? route : "unmatched";
	r->failed = false;
	uint64_t t0 = sonde_timer_start();
	if (route) {
		sonde_span_set_str(span, "http.route", route);
		handler(c, route, user, span, r);
	} else {
		respond(r, 404, "{\"error\":\"no route\"}");
	}
	sonde_span_set_int(span, "http.response.status_code", r->status);
	if (r->status >= 500 && !r->failed)
		sonde_span_set_status(span, SONDE_STATUS_ERROR, reason(r->status));
	sonde_span_end(span);
	sonde_attr a[] = {SONDE_ATTR_STR("http.route", route ? route : "unmatched"),
	                  SONDE_ATTR_STR("http.request.method", c->method),
	                  SONDE_ATTR_INT("http.response.status_code", r->status)};
	sonde_instrument_add(m.requests, 1, a, 3);
	sonde_series_record_since(sonde_instrument_bind(m.duration, a, 3), t0);
}

static void serve_conn(int fd)
{
	conn *c = calloc(1, sizeof *c);
	response *r = malloc(sizeof *r);
	if (!c || !r)
		goto out;
	c->fd = fd;
	set_timeouts(fd);
	for (;;) {
		int rc = conn_read(c, true);
		if (rc <= 0)
			break;
		serve_request(c, r);
		bool close_it = c->close_after || atomic_load(&stopping);
		char head[256];
		size_t blen = strlen(r->body);
		int n = snprintf(
		        head, sizeof head,
		        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
		        r->status, reason(r->status), blen, close_it ? "Connection: close\r\n" : "");
		if (send_all(fd, head, (size_t)n) != 0 || send_all(fd, r->body, blen) != 0)
			break;
		conn_consume(c);
		if (close_it)
			break;
	}
out:
	close(fd);
	free(c);
	free(r);
}

/* Accepted connections wait here for a worker. */
static struct {
	int fds[QUEUE_CAP];
	int head, tail;
	bool closed;
	pthread_mutex_t mu;
	pthread_cond_t cv;
} q = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Sets up libsonde's buffers of the calling thread before it takes traffic, so that the
 * first requests do not pay for them: a span under a parent that was not sampled records
 * nothing and exports nothing, but takes the thread's first slot. */
static void warm_thread(void)
{
	sonde_span_context unsampled = {.trace_id = {1}, .span_id = {1}, .is_remote = true};
	sonde_span_opts o = {.parent = &unsampled};
	sonde_span_end(sonde_span_start_ex(tracer, "warm-up", &o));
}

static void *worker_main(void *arg)
{
	(void)arg;
	warm_thread();
	for (;;) {
		pthread_mutex_lock(&q.mu);
		while (q.head == q.tail && !q.closed)
			pthread_cond_wait(&q.cv, &q.mu);
		if (q.head == q.tail) {
			pthread_mutex_unlock(&q.mu);
			break;
		}
		int fd = q.fds[q.head++ % QUEUE_CAP];
		pthread_mutex_unlock(&q.mu);
		serve_conn(fd);
	}
	if (downstream && downstream->fd >= 0)
		close(downstream->fd);
	free(downstream);
	downstream = NULL;
	return NULL;
}

static int listen_fd = -1;

static void *accept_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (atomic_load(&stopping))
				break;
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
				sleep_us(10000);
				continue;
			}
			break;
		}
		pthread_mutex_lock(&q.mu);
		if (q.tail - q.head == QUEUE_CAP) {
			pthread_mutex_unlock(&q.mu);
			close(fd);
			continue;
		}
		q.fds[q.tail++ % QUEUE_CAP] = fd;
		pthread_cond_signal(&q.cv);
		pthread_mutex_unlock(&q.mu);
	}
	return NULL;
}

static int open_listener(int port, int *bound_port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one); /* rolling restarts */
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 128) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*bound_port = ntohs(a.sin_port);
	return fd;
}

static void diag(void *ud, const char *msg)
{
	(void)ud;
	fprintf(stderr, "shopnet %s: %s\n", opt.role, msg);
}

/* Starts libsonde for this service: its resource, exporters, batching and metrics. */
static int telemetry_start(const char *service, const char *default_version)
{
	snprintf(version, sizeof version, "%s", default_version);
	const char *env = getenv("OTEL_RESOURCE_ATTRIBUTES");
	for (const char *p = env; p && *p;) {
		size_t n = strcspn(p, ",");
		if (n > 16 && strncmp(p, "service.version=", 16) == 0)
			snprintf(version, sizeof version, "%.*s", (int)(n - 16), p + 16);
		p += n + (p[n] == ',');
	}
	major_version = atoi(version);
	sonde_set_diagnostics(diag, NULL);
	sonde_trace_config cfg = {.service_name = service, .service_version = version};
	if (opt.otlp_file) {
		cfg.exporters[0] = sonde_exporter_file_new(opt.otlp_file);
		if (!cfg.exporters[0])
			return -ENOMEM;
		cfg.exporters_count = 1;
	}
	cfg.batch.schedule_delay_ms = 200;
	cfg.batch.max_queue_size = 16384;
	cfg.batch.max_export_batch_size = 2048;
	/* Metric points every 100 ms unless the environment says otherwise: enough points
	 * for the anomaly detector's baseline within seconds. */
	if (!getenv("OTEL_METRIC_EXPORT_INTERVAL"))
		cfg.metrics_interval_ms = 100;
	int rc = sonde_trace_init(&cfg);
	if (rc != 0)
		return rc;
	tracer = sonde_tracer_get("shopnet", "1.0.0", NULL);
	sonde_metrics_config mc = {.service_name = service, .service_version = version};
	sonde_metrics_configure(&mc);
	sonde_meter *meter = sonde_meter_get("shopnet", "1.0.0", NULL);
	static const double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1};
	size_t nb = sizeof bounds / sizeof bounds[0];
	m.duration = sonde_histogram_new(meter, "http.server.request.duration", "s",
	                                 "Duration of HTTP server requests", bounds, nb);
	m.client_duration = sonde_histogram_new(meter, "http.client.request.duration", "s",
	                                        "Duration of HTTP client requests", bounds, nb);
	m.requests = sonde_counter_new(meter, "http.server.requests", "{request}", "HTTP requests served");
	m.errors = sonde_counter_new(meter, "shop.errors", "{error}", "Failures, by error type");
	/* Series that exist from the start, so that their first failure is a change in a
	 * series with a history, not a new series. */
	static const char *const types[] = {"ValidationError", "UpstreamError", "PaymentError",
	                                    "AcquirerUnavailable"};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		sonde_instrument_bind(m.errors, (sonde_attr[]){SONDE_ATTR_STR("error.type", types[i])}, 1);
	sonde_instrument_opts go = {.kind = SONDE_INSTRUMENT_OBSERVABLE_GAUGE,
	                            .name = "process.memory.usage",
	                            .unit = "By",
	                            .description = "Resident memory of the process",
	                            .callback = observe_memory};
	sonde_instrument_new(meter, &go);
	return 0;
}

static int run_service(void)
{
	static const struct {
		const char *role, *version;
		handler_fn fn;
		bool calls;
	} roles[] = {
	        {"frontend", "7.3.0", frontend_handle, true},
	        {"orders", "1", orders_handle, true},
	        {"payments", "4.1.2", payments_handle, false},
	};
	size_t ri = 0;
	while (ri < 3 && strcmp(roles[ri].role, opt.role) != 0)
		ri++;
	if (roles[ri].calls && !opt.to_port) {
		fprintf(stderr, "shopnet %s: --to PORT is required (the service it calls)\n", opt.role);
		return 2;
	}
	handler = roles[ri].fn;
	/* SIGTERM and SIGINT are waited for by the main thread; every thread inherits the mask. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	int port = 0;
	listen_fd = open_listener(opt.port, &port);
	if (listen_fd < 0) {
		fprintf(stderr, "shopnet %s: cannot listen on 127.0.0.1:%d: %s\n", opt.role, opt.port,
		        strerror(-listen_fd));
		return 1;
	}
	int rc = telemetry_start(opt.role, roles[ri].version);
	if (rc != 0) {
		fprintf(stderr, "shopnet %s: cannot start libsonde: %s\n", opt.role, strerror(-rc));
		return 1;
	}
	pthread_t *workers = calloc((size_t)opt.workers, sizeof *workers), acceptor;
	if (!workers)
		return 1;
	for (int i = 0; i < opt.workers; i++)
		pthread_create(&workers[i], NULL, worker_main, NULL);
	pthread_create(&acceptor, NULL, accept_main, NULL);
	sonde_logf(SONDE_LOG_INFO, "%s %s listening on 127.0.0.1:%d", opt.role, version, port);
	if (opt.ready) {
		char tmp[4096];
		snprintf(tmp, sizeof tmp, "%s.tmp", opt.ready);
		FILE *f = fopen(tmp, "w");
		if (f) {
			fprintf(f, "%d %d\n", port, (int)getpid());
			fclose(f);
			rename(tmp, opt.ready); /* whoever waits for it sees it whole */
		}
	}
	fprintf(stderr, "shopnet %s %s: listening on 127.0.0.1:%d (pid %d)\n", opt.role, version, port,
	        (int)getpid());
	int sig = 0;
	sigwait(&set, &sig);
	atomic_store(&stopping, true);
	shutdown(listen_fd, SHUT_RDWR); /* wakes accept() */
	pthread_join(acceptor, NULL);
	close(listen_fd);
	pthread_mutex_lock(&q.mu);
	q.closed = true;
	pthread_cond_broadcast(&q.cv);
	pthread_mutex_unlock(&q.mu);
	for (int i = 0; i < opt.workers; i++)
		pthread_join(workers[i], NULL);
	free(workers);
	sonde_logf(SONDE_LOG_INFO, "%s %s stopped (signal %d)", opt.role, version, sig);
	rc = sonde_trace_shutdown(5000);
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	fprintf(stderr, "shopnet %s %s: stopped; %llu spans exported, %llu dropped, %llu failed\n", opt.role,
	        version, (unsigned long long)st.spans_exported, (unsigned long long)st.spans_dropped,
	        (unsigned long long)st.spans_failed);
	return rc == 0 ? 0 : 1;
}

/* ---- The load generator ------------------------------------------------------------- */

typedef struct shot {
	uint64_t start_ns, latency_ns;
	int status; /* 0: no answer */
} shot;

static struct {
	shot *shots;
	long total;
	atomic_long next;
	uint64_t t0;
} lg;

static void *loadgen_main(void *arg)
{
	(void)arg;
	char out[BODY_CAP];
	for (;;) {
		long i = atomic_fetch_add(&lg.next, 1);
		if (i >= lg.total)
			break;
		/* The rate ramps up linearly over the first --ramp seconds, as traffic does
		 * when a service joins the load balancer: n(t) = rate t^2 / (2 ramp). */
		double ramp_n = opt.rate * opt.ramp_s / 2,
		       t = i < ramp_n ? sqrt(2 * opt.ramp_s * (double)i / opt.rate)
		                      : opt.ramp_s + ((double)i - ramp_n) / opt.rate;
		uint64_t at = lg.t0 + (uint64_t)(t * 1e9);
		uint64_t now = now_ns();
		if (at > now)
			sleep_us((long)((at - now) / 1000));
		char user[16], body[96], path[64];
		int u = 1 + (int)((i * 7) % 12);
		snprintf(user, sizeof user, "u%d", u);
		headers_out h = {.len = 0};
		h.text[0] = 0;
		headers_set(&h, "X-User-Id", user);
		uint32_t kind = rnd(100);
		const char *method = "POST";
		const char *b = NULL;
		if (kind < 65) {
			/* u7's client has a bug: every fourth of its orders asks for 0 items (counted,
			 * not drawn, so that even a short run has some). */
			static _Atomic unsigned u7_orders;
			int qty = u == 7 && u7_orders++ % 4 == 3 ? 0 : 1 + (int)rnd(4);
			snprintf(body, sizeof body, "{\"sku\":\"SKU-%d\",\"qty\":%d}", 1040 + (int)rnd(12),
			         qty);
			snprintf(path, sizeof path, "/api/orders");
			b = body;
		} else if (kind < 85) {
			method = "GET";
			snprintf(path, sizeof path, "/api/orders/%d", 10000 + (int)rnd(5000));
		} else {
			method = "GET";
			snprintf(path, sizeof path, "/api/catalog");
		}
		shot *s = &lg.shots[i];
		s->start_ns = now_ns();
		int status = 0;
		if (http_call(method, path, &h, b, &status, out, sizeof out) == 0)
			s->status = status;
		s->latency_ns = now_ns() - s->start_ns;
	}
	if (downstream && downstream->fd >= 0)
		close(downstream->fd);
	free(downstream);
	downstream = NULL;
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Prints count, failures and p50/p95 of the shots in [from, to) of start time. */
static void report_window(FILE *f, const char *label, uint64_t from, uint64_t to, uint64_t *scratch)
{
	long n = 0, ok = 0, client = 0, server = 0, none = 0;
	for (long i = 0; i < lg.total; i++) {
		shot *s = &lg.shots[i];
		if (!s->start_ns || s->start_ns < from || s->start_ns >= to)
			continue;
		scratch[n++] = s->latency_ns;
		if (!s->status)
			none++;
		else if (s->status >= 500)
			server++;
		else if (s->status >= 400 && s->status != 402)
			client++;
		else
			ok++;
	}
	if (!n)
		return;
	qsort(scratch, (size_t)n, sizeof *scratch, cmp_u64);
	fprintf(f, "%s %5ld requests %5ld ok %4ld 4xx %4ld 5xx %4ld no answer  p50 %7.1f ms  p95 %7.1f ms\n",
	        label, n, ok, client, server, none, scratch[n / 2] / 1e6, scratch[(n * 95) / 100] / 1e6);
}

static int run_loadgen(void)
{
	if (!opt.to_port || opt.rate <= 0 || opt.duration_s <= 0 || opt.threads <= 0 || opt.ramp_s < 0) {
		fprintf(stderr,
		        "shopnet loadgen: --to PORT is required, and --rate, --duration, --threads > 0\n");
		return 2;
	}
	if (opt.ramp_s > opt.duration_s)
		opt.ramp_s = opt.duration_s;
	lg.total = (long)(opt.rate * (opt.duration_s - opt.ramp_s / 2));
	lg.shots = calloc((size_t)lg.total + 1, sizeof *lg.shots);
	uint64_t *scratch = calloc((size_t)lg.total + 1, sizeof *scratch);
	pthread_t *th = calloc((size_t)opt.threads, sizeof *th);
	if (!lg.shots || !scratch || !th)
		return 1;
	lg.t0 = now_ns();
	for (int i = 0; i < opt.threads; i++)
		pthread_create(&th[i], NULL, loadgen_main, NULL);
	for (int i = 0; i < opt.threads; i++)
		pthread_join(th[i], NULL);
	uint64_t end = now_ns();
	for (uint64_t s = 0; lg.t0 + s * 1000000000u < end; s++) {
		char label[32];
		snprintf(label, sizeof label, "loadgen: second %3llu:", (unsigned long long)s + 1);
		report_window(stderr, label, lg.t0 + s * 1000000000u, lg.t0 + (s + 1) * 1000000000u, scratch);
	}
	report_window(stdout, "loadgen: total:", 0, UINT64_MAX, scratch);
	free(lg.shots);
	free(scratch);
	free(th);
	return 0;
}

/* ---- main ----------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: shopnet frontend|orders|payments [--port N] [--to PORT] [--ready FILE]\n"
	           "                 [--workers N] [--otlp-file PATH]\n"
	           "                 [--burst-after MS] [--burst-for MS] [--burst-rate PERCENT] (payments)\n"
	           "       shopnet loadgen --to PORT [--rate N] [--duration S] [--ramp S] [--threads N]\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	opt.role = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "shopnet: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (strcmp(a, "--port") == 0)
			opt.port = atoi(v);
		else if (strcmp(a, "--to") == 0)
			opt.to_port = atoi(v);
		else if (strcmp(a, "--ready") == 0)
			opt.ready = v;
		else if (strcmp(a, "--otlp-file") == 0)
			opt.otlp_file = v;
		else if (strcmp(a, "--workers") == 0)
			opt.workers = atoi(v);
		else if (strcmp(a, "--rate") == 0)
			opt.rate = atof(v);
		else if (strcmp(a, "--duration") == 0)
			opt.duration_s = atof(v);
		else if (strcmp(a, "--ramp") == 0)
			opt.ramp_s = atof(v);
		else if (strcmp(a, "--threads") == 0)
			opt.threads = atoi(v);
		else if (strcmp(a, "--burst-after") == 0)
			opt.burst_after_ms = atoi(v);
		else if (strcmp(a, "--burst-for") == 0)
			opt.burst_for_ms = atoi(v);
		else if (strcmp(a, "--burst-rate") == 0)
			opt.burst_pct = atoi(v);
		else {
			fprintf(stderr, "shopnet: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (opt.workers < 1 || opt.workers > 1024) {
		fprintf(stderr, "shopnet: --workers must be 1..1024\n");
		return 2;
	}
	if (strcmp(opt.role, "loadgen") == 0)
		return run_loadgen();
	if (strcmp(opt.role, "frontend") == 0 || strcmp(opt.role, "orders") == 0 ||
	    strcmp(opt.role, "payments") == 0)
		return run_service();
	fprintf(stderr, "shopnet: unknown role '%s'\n", opt.role);
	usage(stderr);
	return 2;
}
