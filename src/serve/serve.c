/*
 * serve.c - the HTTP side of sonde serve: libmicrohttpd's request handler (routing,
 * content negotiation, size limits, admission), the hand-over of complete bodies to the
 * writer thread (serve_writer.c), the answers, and starting and stopping it all.
 *
 * A POST's handler runs in three steps on the thread of its connection: the headers
 * (route, Content-Type, Content-Encoding, Content-Length, a free slot: any failure is
 * answered at once), the body chunks (kept up to max_body_bytes), and the end of the body
 * (gunzip, then the request is queued and its connection suspended). The writer resumes
 * the connection when it has decided the answer, and libmicrohttpd calls the handler a
 * last time to send it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "serve.h"
#include "serve_internal.h"
#include "sonde/status.h"

uint64_t sonde__serve_now_ns(void)
{
	return sonde_clock_monotonic_ns();
}

/* google.rpc.Code values for the Status of a failed request. */
enum {
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
};

static bool is_export(sonde_serve_route r)
{
	return r <= SONDE_ROUTE_ZIPKIN;
}

/* Sends status with body[0..len) of type ctype; adds Retry-After to 429 and 503, Allow
 * when allow is set, Connection: close while stopping. Counts it. */
static enum MHD_Result respond(sonde_serve *srv, struct MHD_Connection *conn, sonde_serve_route r,
                               unsigned status, const char *ctype, const char *body, size_t len,
                               const char *allow)
{
	struct MHD_Response *resp =
	        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (status == MHD_HTTP_TOO_MANY_REQUESTS || status == MHD_HTTP_SERVICE_UNAVAILABLE) {
		char ra[16];
		snprintf(ra, sizeof ra, "%u", srv->o.retry_after_s);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ra);
	}
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	pthread_mutex_lock(&srv->mu);
	bool stopping = srv->stopping;
	sonde__serve_count(srv, r, status);
	pthread_mutex_unlock(&srv->mu);
	if (stopping)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	enum MHD_Result rc = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result send_text(sonde_serve *srv, struct MHD_Connection *conn, sonde_serve_route r,
                                 unsigned status, const char *allow, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));
static enum MHD_Result send_text(sonde_serve *srv, struct MHD_Connection *conn, sonde_serve_route r,
                                 unsigned status, const char *allow, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof text - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof text - 2)
		n = (int)sizeof text - 2;
	text[n++] = '\n';
	text[n] = '\0';
	return respond(srv, conn, r, status, "text/plain; charset=utf-8", text, (size_t)n, allow);
}

static const char *ctype_of(sonde_serve_encoding enc)
{
	return enc == SONDE_SERVE_JSON ? "application/json" : "application/x-protobuf";
}

/* A failed export request: a google.rpc.Status in the request's encoding (OTLP), or the
 * message as text (Zipkin). */
static enum MHD_Result send_failure(sonde_serve *srv, struct MHD_Connection *conn, sonde_serve_route r,
                                    sonde_serve_encoding enc, unsigned status, int grpc_code, const char *msg)
{
	if (r == SONDE_ROUTE_ZIPKIN)
		return send_text(srv, conn, r, status, NULL, "%s", msg);
	sonde_buf out = SONDE_BUF_INIT;
	if (sonde_serve_write_status(&out, enc, grpc_code, msg) < 0) {
		sonde_buf_release(&out);
		return MHD_NO;
	}
	enum MHD_Result rc =
	        respond(srv, conn, r, status, ctype_of(enc), out.data ? out.data : "", out.len, NULL);
	sonde_buf_release(&out);
	return rc;
}

/* The answer the writer decided for rq. */
static enum MHD_Result send_result(sonde_serve *srv, sonde__serve_req *rq)
{
	uint64_t now = sonde__serve_now_ns();
	pthread_mutex_lock(&srv->mu);
	sonde__serve_observe(&srv->st.request_s, (double)(now - rq->t0_ns) / 1e9);
	if (srv->phases_on && (rq->status == MHD_HTTP_OK || rq->status == MHD_HTTP_ACCEPTED))
		sonde__serve_phases_add(srv, rq, now);
	pthread_mutex_unlock(&srv->mu);
	rq->state = SONDE__REQ_ANSWERED;
	if (rq->status != MHD_HTTP_OK && rq->status != MHD_HTTP_ACCEPTED)
		return send_failure(srv, rq->conn, rq->route, rq->enc, rq->status, rq->grpc_code, rq->msg);
	if (rq->route == SONDE_ROUTE_ZIPKIN)
		return respond(srv, rq->conn, rq->route, MHD_HTTP_ACCEPTED, NULL, "", 0, NULL);
	sonde_buf out = SONDE_BUF_INIT;
	if (sonde_serve_write_response(&out, rq->route, rq->enc, rq->rejected,
	                               rq->rejected ? rq->msg : NULL) < 0) {
		sonde_buf_release(&out);
		return MHD_NO;
	}
	enum MHD_Result rc = respond(srv, rq->conn, rq->route, MHD_HTTP_OK, ctype_of(rq->enc),
	                             out.data ? out.data : "", out.len, NULL);
	sonde_buf_release(&out);
	return rc;
}

static enum MHD_Result handle_get(sonde_serve *srv, struct MHD_Connection *conn, sonde_serve_route r,
                                  const char *method)
{
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return send_text(srv, conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD", "%s takes GET",
		                 r == SONDE_ROUTE_SELF ? "/metrics" : "/health");
	if (r == SONDE_ROUTE_HEALTH) {
		pthread_mutex_lock(&srv->mu);
		bool stopping = srv->stopping;
		pthread_mutex_unlock(&srv->mu);
		if (stopping)
			return send_text(srv, conn, r, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "stopping");
		return send_text(srv, conn, r, MHD_HTTP_OK, NULL, "ok");
	}
	sonde_buf out = SONDE_BUF_INIT;
	if (sonde__serve_metrics_text(srv, &out) < 0) {
		sonde_buf_release(&out);
		return send_text(srv, conn, r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
	}
	enum MHD_Result rc = respond(srv, conn, r, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
	                             out.data ? out.data : "", out.len, NULL);
	sonde_buf_release(&out);
	return rc;
}

/* The headers of a request: answers what can be answered now, else admits an export
 * request and returns its state in *rq_out. */
static enum MHD_Result on_headers(sonde_serve *srv, struct MHD_Connection *conn, const char *url,
                                  const char *method, sonde__serve_req **rq_out)
{
	sonde_serve_route r = sonde_serve_route_of(url);
	if (r == SONDE_ROUTE_OTHER)
		return send_text(
		        srv, conn, r, MHD_HTTP_NOT_FOUND, NULL,
		        "no such path: %.200s (sonde serve takes POST /v1/traces, /v1/metrics, /v1/logs, "
		        "/api/v2/spans; GET /health, /metrics)",
		        url);
	if (!is_export(r))
		return handle_get(srv, conn, r, method);
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return send_text(srv, conn, r, MHD_HTTP_METHOD_NOT_ALLOWED, "POST", "%.200s takes POST", url);

	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	sonde_serve_encoding enc = SONDE_SERVE_JSON;
	if (r == SONDE_ROUTE_ZIPKIN) {
		if (ct && sonde_serve_content_type(ct, &enc) < 0)
			return send_text(srv, conn, r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
			                 "Content-Type %.100s is not supported: post Zipkin v2 JSON "
			                 "(application/json)",
			                 ct);
		if (enc != SONDE_SERVE_JSON)
			return send_text(
			        srv, conn, r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
			        "Zipkin protobuf is not supported: post Zipkin v2 JSON (application/json)");
	} else if (sonde_serve_content_type(ct, &enc) < 0) {
		return send_text(srv, conn, r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL,
		                 "Content-Type %.100s is not supported: use application/x-protobuf or "
		                 "application/json",
		                 ct ? ct : "(none)");
	}
	const char *ce = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING);
	bool gzip = false;
	if (ce && strcasecmp(ce, "gzip") == 0)
		gzip = true;
	else if (ce && *ce && strcasecmp(ce, "identity") != 0)
		return send_failure(srv, conn, r, enc, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, GRPC_INVALID_ARGUMENT,
		                    "Content-Encoding is not supported: use gzip or none");
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno == 0 && end != cl && n > srv->o.max_body_bytes) {
			char msg[160];
			snprintf(msg, sizeof msg, "the body (%llu bytes) is over the limit of %zu bytes", n,
			         srv->o.max_body_bytes);
			return send_failure(srv, conn, r, enc, MHD_HTTP_CONTENT_TOO_LARGE,
			                    GRPC_RESOURCE_EXHAUSTED, msg);
		}
	}
	pthread_mutex_lock(&srv->mu);
	bool stopping = srv->stopping, full = srv->admitted >= srv->o.queue_requests;
	if (!stopping && !full)
		srv->admitted++;
	pthread_mutex_unlock(&srv->mu);
	if (stopping)
		return send_failure(srv, conn, r, enc, MHD_HTTP_SERVICE_UNAVAILABLE, GRPC_UNAVAILABLE,
		                    "the server is stopping");
	if (full)
		return send_failure(srv, conn, r, enc, MHD_HTTP_TOO_MANY_REQUESTS, GRPC_RESOURCE_EXHAUSTED,
		                    "the ingestion queue is full: retry later");
	sonde__serve_req *rq = calloc(1, sizeof *rq);
	if (!rq) {
		pthread_mutex_lock(&srv->mu);
		srv->admitted--;
		pthread_mutex_unlock(&srv->mu);
		return MHD_NO;
	}
	rq->srv = srv;
	rq->conn = conn;
	rq->route = r;
	rq->enc = enc;
	rq->gzip = gzip;
	rq->admitted = true;
	rq->t0_ns = sonde__serve_now_ns();
	sonde_buf_init(&rq->body);
	*rq_out = rq;
	return MHD_YES;
}

/* The whole body has arrived: inflate it, then queue it for the writer. */
static enum MHD_Result on_body(sonde_serve *srv, sonde__serve_req *rq)
{
	char msg[200];
	if (rq->too_large) {
		snprintf(msg, sizeof msg, "the body is over the limit of %zu bytes", srv->o.max_body_bytes);
		rq->state = SONDE__REQ_ANSWERED;
		return send_failure(srv, rq->conn, rq->route, rq->enc, MHD_HTTP_CONTENT_TOO_LARGE,
		                    GRPC_RESOURCE_EXHAUSTED, msg);
	}
	if (rq->body.oom) {
		rq->state = SONDE__REQ_ANSWERED;
		return send_failure(srv, rq->conn, rq->route, rq->enc, MHD_HTTP_SERVICE_UNAVAILABLE,
		                    GRPC_UNAVAILABLE, "out of memory: retry later");
	}
	rq->wire_len = rq->body.len;
	if (rq->gzip) {
		sonde_buf plain = SONDE_BUF_INIT;
		int rc = sonde_serve_gunzip(rq->body.data, rq->body.len, srv->o.max_body_bytes, &plain, msg,
		                            sizeof msg);
		sonde_buf_release(&rq->body);
		if (rc < 0) {
			sonde_buf_release(&plain);
			rq->state = SONDE__REQ_ANSWERED;
			if (rc == SONDE_ELIMIT) {
				char m2[260];
				snprintf(m2, sizeof m2, "%s (the limit applies after gunzip)", msg);
				return send_failure(srv, rq->conn, rq->route, rq->enc,
				                    MHD_HTTP_CONTENT_TOO_LARGE, GRPC_RESOURCE_EXHAUSTED, m2);
			}
			if (rc == -ENOMEM)
				return send_failure(srv, rq->conn, rq->route, rq->enc,
				                    MHD_HTTP_SERVICE_UNAVAILABLE, GRPC_UNAVAILABLE,
				                    "out of memory: retry later");
			return send_failure(srv, rq->conn, rq->route, rq->enc, MHD_HTTP_BAD_REQUEST,
			                    GRPC_INVALID_ARGUMENT, msg);
		}
		rq->body = plain;
	}
	pthread_mutex_lock(&srv->mu);
	srv->st.bytes_wire += rq->wire_len;
	srv->st.bytes_decoded += rq->body.len;
	bool closing = srv->writer_exit;
	bool full = srv->queued && srv->queued_bytes + rq->body.len > srv->o.queue_bytes;
	if (!closing && !full) {
		/* Suspended before it is visible to the writer, whose resume must follow. */
		MHD_suspend_connection(rq->conn);
		rq->state = SONDE__REQ_QUEUED;
		rq->t_queued = sonde__serve_now_ns();
		if (srv->tail)
			srv->tail->next = rq;
		else
			srv->head = rq;
		srv->tail = rq;
		srv->queued++;
		srv->queued_bytes += rq->body.len;
		pthread_cond_broadcast(&srv->cv);
	}
	pthread_mutex_unlock(&srv->mu);
	if (closing) {
		rq->state = SONDE__REQ_ANSWERED;
		return send_failure(srv, rq->conn, rq->route, rq->enc, MHD_HTTP_SERVICE_UNAVAILABLE,
		                    GRPC_UNAVAILABLE, "the server is stopping");
	}
	if (full) {
		rq->state = SONDE__REQ_ANSWERED;
		return send_failure(srv, rq->conn, rq->route, rq->enc, MHD_HTTP_TOO_MANY_REQUESTS,
		                    GRPC_RESOURCE_EXHAUSTED, "the ingestion queue is full: retry later");
	}
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls)
{
	sonde_serve *srv = cls;
	sonde__serve_req *rq = *con_cls;
	if (!rq) {
		enum MHD_Result rc = on_headers(srv, conn, url, method, &rq);
		*con_cls = rq;
		return rc;
	}
	switch (rq->state) {
	case SONDE__REQ_RECEIVING:
		if (*upload_data_size) {
			size_t n = *upload_data_size;
			*upload_data_size = 0;
			if (!rq->too_large && rq->body.len + n > srv->o.max_body_bytes) {
				rq->too_large = true;
				sonde_buf_release(&rq->body);
			}
			if (!rq->too_large)
				sonde_buf_append(&rq->body, upload_data, n);
			return MHD_YES;
		}
		return on_body(srv, rq);
	case SONDE__REQ_DONE: return send_result(srv, rq);
	default: return MHD_YES;
	}
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	sonde_serve *srv = cls;
	sonde__serve_req *rq = *con_cls;
	if (!rq)
		return;
	*con_cls = NULL;
	pthread_mutex_lock(&srv->mu);
	if (rq->admitted) {
		srv->admitted--;
		pthread_cond_broadcast(&srv->cv);
	}
	pthread_mutex_unlock(&srv->mu);
	sonde_buf_release(&rq->body);
	free(rq);
}

int sonde_serve_start(const sonde_serve_opts *opts, sonde_serve **out, char *errmsg, size_t errmsg_len)
{
	char dummy[8];
	if (!errmsg) {
		errmsg = dummy;
		errmsg_len = sizeof dummy;
	}
	errmsg[0] = '\0';
	*out = NULL;
	sonde_serve *srv = calloc(1, sizeof *srv);
	if (!srv)
		return -ENOMEM;
	if (opts)
		srv->o = *opts;
	sonde_serve_opts *o = &srv->o;
	snprintf(srv->host, sizeof srv->host, "%s", o->host ? o->host : "127.0.0.1");
	o->host = srv->host;
	if (!o->max_body_bytes)
		o->max_body_bytes = SONDE_SERVE_DEFAULT_MAX_BODY;
	if (!o->queue_requests)
		o->queue_requests = 64;
	if (!o->queue_bytes)
		o->queue_bytes = 256u << 20;
	if (!o->batch_records)
		o->batch_records = o->journal_dir ? 1000000 : 10000;
	if (!o->journal_max_bytes)
		o->journal_max_bytes = 256u << 20;
	if (!o->threads)
		o->threads = 2;
	if (!o->retry_after_s)
		o->retry_after_s = 1;
	if (!o->conn_timeout_s)
		o->conn_timeout_s = 60;
	if (!o->max_connections)
		o->max_connections = 1024;
	const char *db = o->db_uri ? o->db_uri : SONDE_STORE_DEFAULT_URI;
	o->db_uri = NULL; /* borrowed for the call only */
	const char *journal_dir = o->journal_dir;
	o->journal_dir = NULL;
	sonde_buf_init(&srv->replay_warnings);
	srv->listen_fd = -1;
	srv->start_ns = sonde__serve_now_ns();
	pthread_mutex_init(&srv->mu, NULL);
	pthread_cond_init(&srv->cv, NULL);

	struct addrinfo hints = {
	        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	char portstr[8];
	snprintf(portstr, sizeof portstr, "%u", (unsigned)o->port);
	int gai = getaddrinfo(srv->host, portstr, &hints, &ai);
	if (gai != 0 || !ai) {
		snprintf(errmsg, errmsg_len, "cannot listen on %s: %s", srv->host, gai_strerror(gai));
		pthread_mutex_destroy(&srv->mu);
		pthread_cond_destroy(&srv->cv);
		free(srv);
		return -EINVAL;
	}
	struct sockaddr_storage sa;
	memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
	bool v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);

	int rc = sonde_store_open(db, SONDE_STORE_BG_CHECKPOINT, &srv->store, errmsg, errmsg_len);
	if (rc == 0 && journal_dir) {
		rc = sonde__journal_open(journal_dir, 0, o->journal_sync, &srv->journal, errmsg, errmsg_len);
		/* What a previous server journaled and may not have committed, before any new
		 * request. */
		if (rc == 0)
			rc = sonde__serve_replay(srv, errmsg, errmsg_len);
		if (rc < 0)
			sonde_store_close(srv->store);
	}
	if (rc < 0) {
		sonde__journal_close(srv->journal);
		sonde_buf_release(&srv->replay_warnings);
		pthread_mutex_destroy(&srv->mu);
		pthread_cond_destroy(&srv->cv);
		free(srv);
		return rc;
	}
	/* Several transactions in flight only where the backend takes concurrent writers
	 * (ClickHouse: concurrent INSERTs); SQLite has one writer at a time. One by default:
	 * on a host that ClickHouse shares, smaller concurrent INSERTs cost its CPU more than
	 * they save in waiting (docs/serve.md, Speed). */
	if (!o->committers || strcmp(sonde_store_backend(srv->store), "sqlite") == 0)
		o->committers = 1;
	if (o->committers > SONDE_SERVE_MAX_COMMITTERS)
		o->committers = SONDE_SERVE_MAX_COMMITTERS;
	srv->stores[0] = srv->store;
	for (unsigned i = 1; i < o->committers && rc == 0; i++)
		rc = sonde_store_open(db, SONDE_STORE_BG_CHECKPOINT, &srv->stores[i], errmsg, errmsg_len);
	if (rc == 0 && (rc = -pthread_create(&srv->writer, NULL, sonde__serve_writer_main, srv)) != 0)
		snprintf(errmsg, errmsg_len, "cannot start the writer thread: %s", strerror(-rc));
	if (rc != 0) {
		for (unsigned i = 1; i < o->committers; i++)
			sonde_store_close(srv->stores[i]);
		sonde_store_close(srv->store);
		sonde__journal_close(srv->journal);
		sonde_buf_release(&srv->replay_warnings);
		pthread_mutex_destroy(&srv->mu);
		pthread_cond_destroy(&srv->cv);
		free(srv);
		return rc;
	}
	srv->writer_started = true;

	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_AUTO;
	if (v6)
		flags |= MHD_USE_IPv6;
	errno = 0;
	srv->daemon = MHD_start_daemon(
	        flags, o->port, NULL, NULL, handle, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->threads, MHD_OPTION_NOTIFY_COMPLETED, completed,
	        srv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned)o->max_connections, MHD_OPTION_END);
	if (!srv->daemon) {
		int e = errno ? errno : EADDRINUSE;
		snprintf(errmsg, errmsg_len, "cannot listen on %s%s%s:%u: %s", v6 ? "[" : "", srv->host,
		         v6 ? "]" : "", (unsigned)o->port, strerror(e));
		sonde_serve_stop(srv, 0, NULL);
		return -e;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : o->port;
	*out = srv;
	return 0;
}

void sonde_serve_replay_get(const sonde_serve *s, sonde_serve_replay *out)
{
	*out = s->replay;
	out->warnings = s->replay_warnings.len ? s->replay_warnings.data : "";
}

uint16_t sonde_serve_port(const sonde_serve *s)
{
	return s->port;
}

void sonde_serve_totals_get(sonde_serve *s, sonde_serve_totals *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&s->mu);
	const sonde__serve_stats *st = &s->st;
	for (int r = 0; r < SONDE_ROUTE_COUNT_; r++) {
		for (int c = 0; c <= SONDE__SERVE_CODES; c++) {
			uint64_t n = st->by_code[r][c];
			out->requests += n;
			if (c == SONDE__SERVE_CODES || !is_export((sonde_serve_route)r))
				continue;
			unsigned code = sonde__serve_codes[c];
			if (code == 200 || code == 202)
				out->accepted += n;
			else if (code == 400 || code == 413 || code == 415)
				out->bad += n;
			else if (code == 429)
				out->throttled += n;
			else if (code == 503)
				out->unavailable += n;
		}
	}
	out->spans = st->added[0] + st->present[0];
	out->logs = st->added[1] + st->present[1];
	out->points = st->added[2] + st->present[2];
	out->rejected_records = st->rejected[0] + st->rejected[1] + st->rejected[2];
	out->journal_left = s->journal ? sonde__journal_backlog(s->journal) : 0;
	out->batches = st->batches;
	out->bytes_wire = st->bytes_wire;
	out->bytes_decoded = st->bytes_decoded;
	out->queue_depth = s->admitted;
	pthread_mutex_unlock(&s->mu);
}

int sonde_serve_stop(sonde_serve *s, uint32_t drain_ms, sonde_serve_totals *totals)
{
	if (!s)
		return 0;
	int rc = 0;
	if (s->daemon) {
		pthread_mutex_lock(&s->mu);
		s->stopping = true;
		pthread_cond_broadcast(&s->cv); /* a writer waiting on the journal's bound */
		pthread_mutex_unlock(&s->mu);
		MHD_socket fd = MHD_quiesce_daemon(s->daemon);
		uint64_t deadline = sonde__serve_now_ns() + (uint64_t)drain_ms * 1000000u;
		pthread_mutex_lock(&s->mu);
		/* Everything queued is written and answered whatever the deadline: a suspended
		 * connection must be resumed before the daemon stops. */
		while (s->admitted > 0) {
			if (!s->queued && !s->writing && sonde__serve_now_ns() >= deadline)
				break;
			struct timespec ts;
			sonde_clock_realtime_after(&ts, 50);
			pthread_cond_timedwait(&s->cv, &s->mu, &ts);
		}
		if (s->admitted > 0)
			rc = -ETIMEDOUT;
		/* Bodies completing from now on are answered 503 instead of being queued. */
		s->writer_exit = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		MHD_stop_daemon(s->daemon);
		s->daemon = NULL;
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	if (s->writer_started) {
		pthread_mutex_lock(&s->mu);
		s->writer_exit = true;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->writer, NULL);
	}
	if (totals)
		sonde_serve_totals_get(s, totals);
	for (unsigned i = 1; i < s->o.committers; i++)
		sonde_store_close(s->stores[i]);
	sonde_store_close(s->store);
	/* Segments whose records were all committed go; the others stay for the next start. */
	sonde__journal_close(s->journal);
	sonde_buf_release(&s->replay_warnings);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s->phases);
	free(s);
	return rc;
}
