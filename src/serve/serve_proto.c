/*
 * serve_proto.c - the request path of sonde serve without the HTTP server: routes,
 * content types, bounded gunzip, body -> model through the readers of src/wire, the
 * partial-success check, and the OTLP response and google.rpc.Status bodies.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "json.h"
#include "otlp_json.h"
#include "otlp_pb.h"
#include "pbwire.h"
#include "serve.h"
#include "sonde/status.h"
#include "zipkin.h"

sonde_serve_route sonde_serve_route_of(const char *path)
{
	static const struct {
		const char *path;
		sonde_serve_route route;
	} routes[] = {
	        {"/v1/traces", SONDE_ROUTE_TRACES}, {"/v1/metrics", SONDE_ROUTE_METRICS},
	        {"/v1/logs", SONDE_ROUTE_LOGS},     {"/api/v2/spans", SONDE_ROUTE_ZIPKIN},
	        {"/health", SONDE_ROUTE_HEALTH},    {"/healthz", SONDE_ROUTE_HEALTH},
	        {"/metrics", SONDE_ROUTE_SELF},
	};
	if (!path)
		return SONDE_ROUTE_OTHER;
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
		size_t n = strlen(routes[i].path);
		/* A trailing slash is forgiven, as collectors do. */
		if (strncmp(path, routes[i].path, n) == 0 &&
		    (path[n] == '\0' || (path[n] == '/' && !path[n + 1])))
			return routes[i].route;
	}
	return SONDE_ROUTE_OTHER;
}

const char *sonde_serve_route_name(sonde_serve_route r)
{
	static const char *const names[] = {"traces", "metrics", "logs", "zipkin", "health", "self", "other"};
	return (unsigned)r < SONDE_ROUTE_COUNT_ ? names[r] : "other";
}

int sonde_serve_content_type(const char *value, sonde_serve_encoding *out)
{
	if (!value)
		return -EINVAL;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t n = strcspn(value, ";");
	while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	static const struct {
		const char *type;
		sonde_serve_encoding enc;
	} types[] = {
	        {"application/x-protobuf", SONDE_SERVE_PROTOBUF},
	        {"application/protobuf", SONDE_SERVE_PROTOBUF},
	        {"application/json", SONDE_SERVE_JSON},
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		if (strlen(types[i].type) == n && strncasecmp(value, types[i].type, n) == 0) {
			*out = types[i].enc;
			return 0;
		}
	}
	return -EINVAL;
}

int sonde_serve_gunzip(const void *in, size_t len, size_t limit, sonde_buf *out, char *msg, size_t msg_len)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	/* 15 + 32: a gzip or a zlib header, detected. */
	if (inflateInit2(&z, 15 + 32) != Z_OK)
		return -ENOMEM;
	size_t start = out->len;
	int rc = 0;
	z.next_in = (Bytef *)(uintptr_t)in;
	size_t in_left = len;
	for (;;) {
		if (z.avail_in == 0 && in_left) {
			z.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
			in_left -= z.avail_in;
		}
		size_t produced = out->len - start, room = limit - produced;
		/* At the limit, a one-byte probe tells a stream that ends there from one that
		 * goes on (a bomb stops here, having produced limit bytes). */
		uint8_t probe;
		bool probing = produced >= limit;
		if (probing) {
			z.next_out = &probe;
			z.avail_out = 1;
		} else {
			if (room > (1u << 20))
				room = 1u << 20;
			if (sonde_buf_grow(out, room) < 0) {
				rc = -ENOMEM;
				goto fail;
			}
			z.next_out = (Bytef *)out->data + out->len;
			z.avail_out = (uInt)room;
		}
		int zr = inflate(&z, Z_NO_FLUSH);
		if (probing) {
			if (z.avail_out == 0) {
				rc = SONDE_ELIMIT;
				if (msg)
					snprintf(msg, msg_len, "the body inflates to more than %zu bytes",
					         limit);
				goto fail;
			}
		} else {
			out->len += room - z.avail_out;
			out->data[out->len] = '\0';
		}
		if (zr == Z_STREAM_END) {
			if (z.avail_in || in_left) {
				rc = SONDE_EPARSE;
				if (msg)
					snprintf(msg, msg_len, "bad gzip stream: %zu bytes after its end",
					         (size_t)z.avail_in + in_left);
				goto fail;
			}
			break;
		}
		if (zr == Z_BUF_ERROR) {
			if (z.avail_in == 0 && in_left == 0) {
				rc = SONDE_EPARSE;
				if (msg)
					snprintf(msg, msg_len,
					         "bad gzip stream: truncated after %zu bytes of output",
					         out->len - start);
				goto fail;
			}
			continue;
		}
		if (zr != Z_OK) {
			rc = zr == Z_MEM_ERROR ? -ENOMEM : SONDE_EPARSE;
			if (msg)
				snprintf(msg, msg_len, "bad gzip stream: %s", z.msg ? z.msg : "damaged");
			goto fail;
		}
	}
	inflateEnd(&z);
	return 0;
fail:
	inflateEnd(&z);
	out->len = start;
	if (out->cap)
		out->data[start] = '\0';
	return rc;
}

/* Puts b back to the record counts it had (records appended since are forgotten; their
 * arena memory stays until the batch is cleared). */
static void truncate_batch(sonde_batch *b, size_t spans, size_t logs, size_t metrics)
{
	b->spans_count = spans;
	b->logs_count = logs;
	b->metrics_count = metrics;
}

int sonde_serve_decode(sonde_batch *b, sonde_serve_route r, sonde_serve_encoding enc, const void *body,
                       size_t len, sonde_wire_error *err)
{
	size_t s0 = b->spans_count, l0 = b->logs_count, m0 = b->metrics_count;
	int rc;
	if (r == SONDE_ROUTE_ZIPKIN)
		return sonde_zipkin_read(b, body, len, err);
	if (r != SONDE_ROUTE_TRACES && r != SONDE_ROUTE_METRICS && r != SONDE_ROUTE_LOGS)
		return sonde_wire_fail(err, 0, 0, NULL, "no telemetry is posted to this path");
	if (enc == SONDE_SERVE_PROTOBUF) {
		sonde_signal sig = r == SONDE_ROUTE_TRACES    ? SONDE_SIGNAL_TRACES
		                   : r == SONDE_ROUTE_METRICS ? SONDE_SIGNAL_METRICS
		                                              : SONDE_SIGNAL_LOGS;
		return sonde_otlp_pb_read(b, sig, body, len, err);
	}
	if ((rc = sonde_otlp_json_read(b, body, len, err)) != 0)
		return rc;
	/* The JSON reader takes any of the three; a request carries its route's signal only. */
	const char *other = NULL;
	if (r != SONDE_ROUTE_TRACES && b->spans_count != s0)
		other = "resourceSpans";
	else if (r != SONDE_ROUTE_METRICS && b->metrics_count != m0)
		other = "resourceMetrics";
	else if (r != SONDE_ROUTE_LOGS && b->logs_count != l0)
		other = "resourceLogs";
	if (other) {
		truncate_batch(b, s0, l0, m0);
		return sonde_wire_fail(err, 0, 0, other,
		                       "not part of an Export%sServiceRequest (post it to /v1/%s)",
		                       r == SONDE_ROUTE_TRACES    ? "Trace"
		                       : r == SONDE_ROUTE_METRICS ? "Metrics"
		                                                  : "Logs",
		                       other[8] == 'S'   ? "traces"
		                       : other[8] == 'M' ? "metrics"
		                                         : "logs");
	}
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

size_t sonde_serve_drop_invalid(sonde_batch *b, size_t first, char *msg, size_t msg_len)
{
	size_t kept = first, dropped = 0;
	for (size_t i = first; i < b->spans_count; i++) {
		const sonde_span_data *sp = &b->spans[i];
		bool bad_trace = all_zero(sp->trace_id, 16), bad_span = all_zero(sp->span_id, 8);
		if (bad_trace || bad_span) {
			if (dropped++ == 0 && msg)
				snprintf(msg, msg_len, "span %zu of the request (\"%.64s\"): %s is all zero",
				         i - first, sp->name.ptr, bad_trace ? "trace_id" : "span_id");
			continue;
		}
		if (kept != i)
			b->spans[kept] = b->spans[i];
		kept++;
	}
	b->spans_count = kept;
	return dropped;
}

int sonde_serve_write_response(sonde_buf *out, sonde_serve_route r, sonde_serve_encoding enc,
                               uint64_t rejected, const char *msg)
{
	size_t start = out->len;
	bool partial = rejected || (msg && *msg);
	if (enc == SONDE_SERVE_PROTOBUF) {
		/* Export*ServiceResponse { Export*PartialSuccess partial_success = 1; }
		 * Export*PartialSuccess { int64 rejected_* = 1; string error_message = 2; } */
		if (partial) {
			sonde_pb_writer w;
			sonde_pb_writer_init(&w, out);
			sonde_pb_open(&w, 1);
			if (rejected)
				sonde_pb_put_varint_field(&w, 1, rejected);
			if (msg && *msg)
				sonde_pb_put_bytes_field(&w, 2, msg, strlen(msg));
			sonde_pb_close(&w);
		}
	} else {
		sonde_json_writer w;
		sonde_json_writer_init(&w, out, 0);
		sonde_json_obj_begin(&w);
		if (partial) {
			sonde_json_key_cstr(&w, "partialSuccess");
			sonde_json_obj_begin(&w);
			if (rejected) {
				sonde_json_key_cstr(&w, r == SONDE_ROUTE_METRICS ? "rejectedDataPoints"
				                        : r == SONDE_ROUTE_LOGS  ? "rejectedLogRecords"
				                                                 : "rejectedSpans");
				sonde_json_u64_str(&w, rejected);
			}
			if (msg && *msg) {
				sonde_json_key_cstr(&w, "errorMessage");
				sonde_json_str(&w, msg, strlen(msg));
			}
			sonde_json_obj_end(&w);
		}
		sonde_json_obj_end(&w);
	}
	if (out->oom) {
		out->len = start;
		return -ENOMEM;
	}
	return 0;
}

int sonde_serve_write_status(sonde_buf *out, sonde_serve_encoding enc, int grpc_code, const char *msg)
{
	size_t start = out->len;
	if (enc == SONDE_SERVE_PROTOBUF) {
		/* google.rpc.Status { int32 code = 1; string message = 2; repeated Any details = 3; } */
		sonde_pb_writer w;
		sonde_pb_writer_init(&w, out);
		if (grpc_code)
			sonde_pb_put_varint_field(&w, 1, (uint64_t)(int64_t)grpc_code);
		if (msg && *msg)
			sonde_pb_put_bytes_field(&w, 2, msg, strlen(msg));
	} else {
		sonde_json_writer w;
		sonde_json_writer_init(&w, out, 0);
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "code");
		sonde_json_i64(&w, grpc_code);
		sonde_json_key_cstr(&w, "message");
		sonde_json_str(&w, msg ? msg : "", msg ? strlen(msg) : 0);
		sonde_json_obj_end(&w);
	}
	if (out->oom) {
		out->len = start;
		return -ENOMEM;
	}
	return 0;
}

int sonde_serve_parse_listen(const char *s, char *host, size_t host_len, uint16_t *port)
{
	if (!s || !*s)
		return -EINVAL;
	const char *colon;
	const char *h = s;
	size_t hn;
	if (*s == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		h = s + 1;
		hn = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* no port, or an IPv6 address without brackets */
		hn = (size_t)(colon - s);
	}
	const char *p = colon + 1;
	if (!*p || strlen(p) > 5)
		return -EINVAL;
	unsigned long v = 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	if (hn == 0) {
		h = "127.0.0.1";
		hn = strlen(h);
	}
	if (hn >= host_len)
		return -EINVAL;
	memcpy(host, h, hn);
	host[hn] = '\0';
	*port = (uint16_t)v;
	return 0;
}
