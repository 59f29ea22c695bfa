/*
 * serve_proto_test.c - the request path of sonde serve without a server: routes, content
 * types, --listen parsing, bounded gunzip (limits, bombs, damage), decoding per route
 * (a body of another signal is refused and leaves the batch as it was), the partial-
 * success check, and the bytes of the OTLP responses and google.rpc.Status.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "serve.h"
#include "sonde/status.h"

static void test_routes(void **state)
{
	(void)state;
	assert_int_equal(sonde_serve_route_of("/v1/traces"), SONDE_ROUTE_TRACES);
	assert_int_equal(sonde_serve_route_of("/v1/traces/"), SONDE_ROUTE_TRACES);
	assert_int_equal(sonde_serve_route_of("/v1/metrics"), SONDE_ROUTE_METRICS);
	assert_int_equal(sonde_serve_route_of("/v1/logs"), SONDE_ROUTE_LOGS);
	assert_int_equal(sonde_serve_route_of("/api/v2/spans"), SONDE_ROUTE_ZIPKIN);
	assert_int_equal(sonde_serve_route_of("/health"), SONDE_ROUTE_HEALTH);
	assert_int_equal(sonde_serve_route_of("/healthz"), SONDE_ROUTE_HEALTH);
	assert_int_equal(sonde_serve_route_of("/metrics"), SONDE_ROUTE_SELF);
	assert_int_equal(sonde_serve_route_of("/v1/tracesx"), SONDE_ROUTE_OTHER);
	assert_int_equal(sonde_serve_route_of("/v1/traces//"), SONDE_ROUTE_OTHER);
	assert_int_equal(sonde_serve_route_of("/"), SONDE_ROUTE_OTHER);
	assert_int_equal(sonde_serve_route_of(NULL), SONDE_ROUTE_OTHER);
	assert_string_equal(sonde_serve_route_name(SONDE_ROUTE_ZIPKIN), "zipkin");
}

static void test_content_types(void **state)
{
	(void)state;
	sonde_serve_encoding e = SONDE_SERVE_JSON;
	assert_int_equal(sonde_serve_content_type("application/x-protobuf", &e), 0);
	assert_int_equal(e, SONDE_SERVE_PROTOBUF);
	assert_int_equal(sonde_serve_content_type(" Application/JSON ; charset=utf-8", &e), 0);
	assert_int_equal(e, SONDE_SERVE_JSON);
	assert_int_equal(sonde_serve_content_type("application/protobuf", &e), 0);
	assert_int_equal(e, SONDE_SERVE_PROTOBUF);
	assert_int_equal(sonde_serve_content_type("application/jsonx", &e), -EINVAL);
	assert_int_equal(sonde_serve_content_type("text/plain", &e), -EINVAL);
	assert_int_equal(sonde_serve_content_type("", &e), -EINVAL);
	assert_int_equal(sonde_serve_content_type(NULL, &e), -EINVAL);
}

static void test_listen(void **state)
{
	(void)state;
	char host[64];
	uint16_t port = 1;
	assert_int_equal(sonde_serve_parse_listen("127.0.0.1:4318", host, sizeof host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 4318);
	assert_int_equal(sonde_serve_parse_listen("[::1]:0", host, sizeof host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(sonde_serve_parse_listen(":9411", host, sizeof host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 9411);
	assert_int_equal(sonde_serve_parse_listen("localhost:80", host, sizeof host, &port), 0);
	assert_string_equal(host, "localhost");
	const char *bad[] = {"", "4318", "host:", "host:65536", "host:12a", "::1:4318", "[::1]4318", "h:-1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(sonde_serve_parse_listen(bad[i], host, sizeof host, &port), -EINVAL);
	assert_int_equal(sonde_serve_parse_listen("averylonghostname:1", host, 8, &port), -EINVAL);
}

/* gzip of in[0..n) into a malloc'd buffer. */
static unsigned char *gz(const void *in, size_t n, size_t *out_len)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&z, n);
	unsigned char *out = malloc(cap);
	assert_non_null(out);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

static void test_gunzip(void **state)
{
	(void)state;
	const char text[] = "{\"resourceSpans\":[]}";
	size_t zn;
	unsigned char *z = gz(text, sizeof text - 1, &zn);
	sonde_buf out = SONDE_BUF_INIT;
	char msg[200];
	sonde_buf_puts(&out, "keep");
	assert_int_equal(sonde_serve_gunzip(z, zn, 100, &out, msg, sizeof msg), 0);
	assert_string_equal(out.data, "keep{\"resourceSpans\":[]}");
	/* Exactly at the limit is allowed; one byte over is not. */
	out.len = 4;
	assert_int_equal(sonde_serve_gunzip(z, zn, sizeof text - 1, &out, msg, sizeof msg), 0);
	assert_int_equal(out.len, 4 + sizeof text - 1);
	out.len = 4;
	assert_int_equal(sonde_serve_gunzip(z, zn, sizeof text - 2, &out, msg, sizeof msg), SONDE_ELIMIT);
	assert_int_equal(out.len, 4);
	assert_non_null(strstr(msg, "more than"));
	/* Truncated, damaged, trailing garbage, empty. */
	assert_int_equal(sonde_serve_gunzip(z, zn - 5, 100, &out, msg, sizeof msg), SONDE_EPARSE);
	assert_non_null(strstr(msg, "truncated"));
	assert_int_equal(out.len, 4);
	unsigned char *dam = malloc(zn + 3);
	memcpy(dam, z, zn);
	dam[12] ^= 0xff;
	assert_int_equal(sonde_serve_gunzip(dam, zn, 100, &out, msg, sizeof msg), SONDE_EPARSE);
	memcpy(dam, z, zn);
	memcpy(dam + zn, "abc", 3);
	assert_int_equal(sonde_serve_gunzip(dam, zn + 3, 100, &out, msg, sizeof msg), SONDE_EPARSE);
	assert_non_null(strstr(msg, "after its end"));
	assert_int_equal(sonde_serve_gunzip("", 0, 100, &out, msg, sizeof msg), SONDE_EPARSE);
	assert_int_equal(out.len, 4);
	free(dam);
	free(z);
	/* A bomb: 64 MiB of zeros in ~64 KiB stops at the limit. */
	size_t big = 64u << 20;
	char *zeros = calloc(1, big);
	assert_non_null(zeros);
	z = gz(zeros, big, &zn);
	free(zeros);
	assert_true(zn < big / 100);
	out.len = 0;
	assert_int_equal(sonde_serve_gunzip(z, zn, 1u << 20, &out, msg, sizeof msg), SONDE_ELIMIT);
	assert_int_equal(out.len, 0);
	assert_true(out.cap < (4u << 20));
	free(z);
	sonde_buf_release(&out);
}

static const char trace_json[] =
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0102030405060708\",\"name\":\"a\"},"
        "{\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"0102030405060709\",\"name\":\"b\"},"
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"0000000000000000\",\"name\":\"c\"},"
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"010203040506070a\",\"name\":\"d\"}"
        "]}]}]}";

static void test_decode(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	assert_int_equal(sonde_serve_decode(b, SONDE_ROUTE_TRACES, SONDE_SERVE_JSON, trace_json,
	                                    strlen(trace_json), &err),
	                 0);
	assert_int_equal(b->spans_count, 4);
	/* The same body on the logs route: refused, nothing added. */
	assert_int_equal(sonde_serve_decode(b, SONDE_ROUTE_LOGS, SONDE_SERVE_JSON, trace_json,
	                                    strlen(trace_json), &err),
	                 SONDE_EPARSE);
	assert_string_equal(err.field, "resourceSpans");
	assert_non_null(strstr(err.msg, "/v1/traces"));
	assert_int_equal(b->spans_count, 4);
	/* Bad JSON and bad protobuf leave the batch as it was. */
	assert_int_equal(sonde_serve_decode(b, SONDE_ROUTE_TRACES, SONDE_SERVE_JSON,
	                                    "{\"resourceSpans\":[1]}", 21, &err),
	                 SONDE_EPARSE);
	assert_int_equal(b->spans_count, 4);
	const unsigned char badpb[] = {0x0a, 0x05, 0x12, 0x10};
	assert_int_equal(
	        sonde_serve_decode(b, SONDE_ROUTE_TRACES, SONDE_SERVE_PROTOBUF, badpb, sizeof badpb, &err),
	        SONDE_EPARSE);
	assert_int_equal(b->spans_count, 4);
	/* An empty protobuf body is an empty request. */
	assert_int_equal(sonde_serve_decode(b, SONDE_ROUTE_METRICS, SONDE_SERVE_PROTOBUF, "", 0, &err), 0);
	assert_int_equal(sonde_serve_decode(b, SONDE_ROUTE_HEALTH, SONDE_SERVE_JSON, "{}", 2, &err),
	                 SONDE_EPARSE);
	/* Zipkin. */
	const char zk[] = "[{\"traceId\":\"5af7183fb1d4cf5f\",\"id\":\"0000000000000001\",\"name\":\"z\"}]";
	assert_int_equal(sonde_serve_decode(b, SONDE_ROUTE_ZIPKIN, SONDE_SERVE_JSON, zk, strlen(zk), &err),
	                 0);
	assert_int_equal(b->spans_count, 5);

	/* Partial success: b and c are dropped, a, d and the Zipkin span kept in order. */
	char msg[200] = "";
	assert_int_equal(sonde_serve_drop_invalid(b, 0, msg, sizeof msg), 2);
	assert_int_equal(b->spans_count, 3);
	assert_string_equal(b->spans[0].name.ptr, "a");
	assert_string_equal(b->spans[1].name.ptr, "d");
	assert_string_equal(b->spans[2].name.ptr, "z");
	assert_non_null(strstr(msg, "span 1 of the request"));
	assert_non_null(strstr(msg, "trace_id is all zero"));
	assert_int_equal(sonde_serve_drop_invalid(b, 0, msg, sizeof msg), 0);
	sonde_batch_free(b);
}

static void test_responses(void **state)
{
	(void)state;
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_serve_write_response(&out, SONDE_ROUTE_TRACES, SONDE_SERVE_PROTOBUF, 0, NULL),
	                 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(sonde_serve_write_response(&out, SONDE_ROUTE_TRACES, SONDE_SERVE_JSON, 0, ""), 0);
	assert_string_equal(out.data, "{}");
	sonde_buf_reset(&out);
	/* partial_success (1) { rejected_spans (1) = 3, error_message (2) = "no" } */
	assert_int_equal(sonde_serve_write_response(&out, SONDE_ROUTE_TRACES, SONDE_SERVE_PROTOBUF, 3, "no"),
	                 0);
	const unsigned char want[] = {0x0a, 0x06, 0x08, 0x03, 0x12, 0x02, 'n', 'o'};
	assert_int_equal(out.len, sizeof want);
	assert_memory_equal(out.data, want, sizeof want);
	sonde_buf_reset(&out);
	assert_int_equal(
	        sonde_serve_write_response(&out, SONDE_ROUTE_METRICS, SONDE_SERVE_JSON, 7, "bad \"x\""), 0);
	assert_string_equal(
	        out.data,
	        "{\"partialSuccess\":{\"rejectedDataPoints\":\"7\",\"errorMessage\":\"bad \\\"x\\\"\"}}");
	sonde_buf_reset(&out);
	assert_int_equal(sonde_serve_write_response(&out, SONDE_ROUTE_LOGS, SONDE_SERVE_JSON, 1, NULL), 0);
	assert_string_equal(out.data, "{\"partialSuccess\":{\"rejectedLogRecords\":\"1\"}}");
	sonde_buf_reset(&out);
	/* google.rpc.Status { code (1) = 3, message (2) = "bad" } */
	assert_int_equal(sonde_serve_write_status(&out, SONDE_SERVE_PROTOBUF, 3, "bad"), 0);
	const unsigned char st[] = {0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'};
	assert_int_equal(out.len, sizeof st);
	assert_memory_equal(out.data, st, sizeof st);
	sonde_buf_reset(&out);
	assert_int_equal(sonde_serve_write_status(&out, SONDE_SERVE_JSON, 14, "stopping"), 0);
	assert_string_equal(out.data, "{\"code\":14,\"message\":\"stopping\"}");
	sonde_buf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_routes), cmocka_unit_test(test_content_types),
	        cmocka_unit_test(test_listen), cmocka_unit_test(test_gunzip),
	        cmocka_unit_test(test_decode), cmocka_unit_test(test_responses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
