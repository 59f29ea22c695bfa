/*
 * fuzz_serve_decode.c - the request decoding path of sonde serve, HTTP body -> model:
 * the first input byte picks the route (traces, metrics, logs, Zipkin), the encoding
 * (protobuf, JSON) and whether the body is gzipped; the rest is the body. The body is
 * inflated with a limit, decoded onto a batch that already holds records, checked for
 * partial success, and answered. A refused body must leave the batch exactly as it was;
 * an accepted one must leave only spans with valid ids after the check.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"
#include "sonde/status.h"

static const char seed_json[] = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
                                "\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\"}]}]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const sonde_serve_route routes[4] = {SONDE_ROUTE_TRACES, SONDE_ROUTE_METRICS, SONDE_ROUTE_LOGS,
	                                            SONDE_ROUTE_ZIPKIN};
	sonde_serve_route r = routes[data[0] & 3];
	sonde_serve_encoding enc = (data[0] & 4) ? SONDE_SERVE_JSON : SONDE_SERVE_PROTOBUF;
	bool gzip = (data[0] & 8) != 0;
	const uint8_t *body = data + 1;
	size_t len = size - 1;

	sonde_buf plain = SONDE_BUF_INIT;
	if (gzip) {
		char msg[200];
		int rc = sonde_serve_gunzip(body, len, 1u << 20, &plain, msg, sizeof msg);
		if (rc < 0) {
			if (plain.len != 0 || (rc != SONDE_ELIMIT && rc != SONDE_EPARSE && rc != -ENOMEM) ||
			    !msg[0])
				abort();
			sonde_buf_release(&plain);
			return 0;
		}
		body = (const uint8_t *)(plain.data ? plain.data : "");
		len = plain.len;
	}

	sonde_batch *b = sonde_batch_new();
	if (!b)
		abort();
	sonde_wire_error err;
	/* A batch that already holds a request, as the writer's does. */
	if (sonde_serve_decode(b, SONDE_ROUTE_TRACES, SONDE_SERVE_JSON, seed_json, sizeof seed_json - 1,
	                       &err) != 0 ||
	    b->spans_count != 1)
		abort();
	size_t s0 = b->spans_count, l0 = b->logs_count, m0 = b->metrics_count;
	int rc = sonde_serve_decode(b, r, enc, body, len, &err);
	if (rc != 0) {
		if (b->spans_count != s0 || b->logs_count != l0 || b->metrics_count != m0)
			abort();
		if (rc != -ENOMEM && !err.msg[0])
			abort();
	} else {
		if (r != SONDE_ROUTE_TRACES && r != SONDE_ROUTE_ZIPKIN && b->spans_count != s0)
			abort(); /* another signal's records on this route */
		char msg[200];
		size_t before = b->spans_count;
		size_t dropped = sonde_serve_drop_invalid(b, s0, msg, sizeof msg);
		if (b->spans_count + dropped != before)
			abort();
		static const uint8_t zero[16];
		for (size_t i = 0; i < b->spans_count; i++)
			if (!memcmp(b->spans[i].trace_id, zero, 16) || !memcmp(b->spans[i].span_id, zero, 8))
				abort();
		sonde_buf out = SONDE_BUF_INIT;
		if (sonde_serve_write_response(&out, r == SONDE_ROUTE_ZIPKIN ? SONDE_ROUTE_TRACES : r, enc,
		                               dropped, dropped ? msg : NULL) != 0)
			abort();
		sonde_buf_release(&out);
	}
	sonde_batch_free(b);
	sonde_buf_release(&plain);
	return 0;
}
