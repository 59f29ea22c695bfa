/* zipkin_test.c - Zipkin v2 JSON: reading, writing, the OpenTelemetry mapping, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "sonde/status.h"
#include "wire_test_util.h"
#include "zipkin.h"

/* A span's required members, valid. */
#define IDS "\"traceId\":\"0000000000000001\",\"id\":\"0000000000000001\""

static const char two_spans[] =
        "[\n"
        "  {\"traceId\": \"4e441824ec2b6a44ffdc9bb9a6453df3\", \"id\": \"ffdc9bb9a6453df3\",\n"
        "   \"name\": \"get /cart\", \"kind\": \"SERVER\", \"timestamp\": 1502787600000000,\n"
        "   \"duration\": 150000, \"localEndpoint\": {\"serviceName\": \"frontend\", \"ipv4\": "
        "\"10.0.0.1\",\n"
        "   \"port\": 8080}, \"remoteEndpoint\": {\"ipv6\": \"2001:db8::c001\", \"port\": 51000},\n"
        "   \"tags\": {\"http.method\": \"GET\", \"otel.status_code\": \"ERROR\", \"error\": \"boom\",\n"
        "            \"otel.scope.name\": \"io.sonde\", \"otel.scope.version\": \"1.2\"},\n"
        "   \"annotations\": [{\"timestamp\": 1502787600000100, \"value\": \"ws\"},\n"
        "                   {\"timestamp\": 1502787600000200,\n"
        "                    \"value\": \"\\\"exception\\\": {\\\"type\\\": \\\"E\\\", \\\"n\\\": 3, "
        "\\\"f\\\": 1.5,"
        " \\\"ok\\\": true, \\\"xs\\\": [1, 2], \\\"o\\\": {\\\"a\\\": [1]},"
        " \\\"otel.dropped_attributes_count\\\": 2}\"},\n"
        "                   {\"timestamp\": 1502787600000300, \"value\": "
        "\"retry|{\\\"n\\\":\\\"2\\\"}|1\"}]},\n"
        "  {\"traceId\": \"ffdc9bb9a6453df3\", \"parentId\": \"ffdc9bb9a6453df3\", \"id\": "
        "\"0000000000000001\",\n"
        "   \"name\": \"select\", \"kind\": \"CLIENT\", \"timestamp\": 1502787600000010, \"duration\": 5,\n"
        "   \"localEndpoint\": {\"serviceName\": \"frontend\"},\n"
        "   \"remoteEndpoint\": {\"serviceName\": \"db\", \"ipv4\": \"10.0.0.9\", \"port\": 5432},\n"
        "   \"tags\": {\"db.system\": \"postgresql\", \"error\": \"true\"}, \"debug\": true, \"shared\": "
        "false},\n"
        "  {\"traceId\": \"4e441824ec2b6a44ffdc9bb9a6453df3\", \"id\": \"0000000000000002\",\n"
        "   \"localEndpoint\": {\"serviceName\": \"backend\"}, \"tags\": {\"otel.status_code\": \"OK\"}}\n"
        "]\n";

static void assert_str_attr(const sonde_attrs *a, const char *key, const char *want)
{
	const sonde_value *v = attr(a, key);
	assert_int_equal(v->kind, SONDE_VAL_STRING);
	assert_str(v->u.str, want);
}

static void test_read(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	expect_read_ok(sonde_zipkin_read, b, two_spans);
	assert_int_equal(b->spans_count, 3);

	const sonde_span_data *s = &b->spans[0];
	assert_id(s->trace_id, 16, "4e441824ec2b6a44ffdc9bb9a6453df3");
	assert_id(s->span_id, 8, "ffdc9bb9a6453df3");
	assert_true(sonde_id_is_zero(s->parent_span_id, 8));
	assert_str(s->name, "get /cart");
	assert_int_equal(s->kind, SONDE_SPAN_KIND_SERVER);
	assert_int_equal(s->start_ns, 1502787600000000000ull);
	assert_int_equal(s->end_ns, 1502787600150000000ull);
	assert_int_equal(s->status_code, SONDE_STATUS_ERROR);
	assert_str(s->status_message, "boom");
	assert_str(s->scope->name, "io.sonde");
	assert_str(s->scope->version, "1.2");
	/* Reserved tags are fields, not attributes; endpoints add theirs at the end. */
	assert_int_equal(s->attrs.count, 5);
	assert_str(s->attrs.items[0].key, "http.method");
	assert_str_attr(&s->attrs, "network.local.address", "10.0.0.1");
	assert_str_attr(&s->attrs, "network.local.port", "8080");
	assert_str_attr(&s->attrs, "network.peer.address", "2001:db8::c001");
	assert_str_attr(&s->attrs, "network.peer.port", "51000");
	assert_null(sonde_attrs_get(&s->attrs, "error"));
	assert_int_equal(s->resource->attrs.count, 1);
	assert_str_attr(&s->resource->attrs, "service.name", "frontend");

	assert_int_equal(s->events_count, 3);
	assert_str(s->events[0].name, "ws");
	assert_int_equal(s->events[0].time_ns, 1502787600000100000ull);
	assert_int_equal(s->events[0].attrs.count, 0);
	const sonde_span_event *ev = &s->events[1];
	assert_str(ev->name, "exception");
	assert_int_equal(ev->dropped_attrs_count, 2);
	assert_int_equal(ev->attrs.count, 6);
	assert_str_attr(&ev->attrs, "type", "E");
	assert_int_equal(attr(&ev->attrs, "n")->kind, SONDE_VAL_INT);
	assert_int_equal(attr(&ev->attrs, "n")->u.i, 3);
	assert_int_equal(attr(&ev->attrs, "f")->kind, SONDE_VAL_DOUBLE);
	assert_true(attr(&ev->attrs, "f")->u.d == 1.5);
	assert_int_equal(attr(&ev->attrs, "ok")->kind, SONDE_VAL_BOOL);
	assert_int_equal(attr(&ev->attrs, "xs")->kind, SONDE_VAL_ARRAY);
	assert_int_equal(attr(&ev->attrs, "xs")->u.array.count, 2);
	assert_int_equal(attr(&ev->attrs, "xs")->u.array.items[1].u.i, 2);
	assert_str_attr(&ev->attrs, "o", "{\"a\":[1]}");
	/* The collector's name|{json}|dropped form. */
	assert_str(s->events[2].name, "retry");
	assert_int_equal(s->events[2].dropped_attrs_count, 1);
	assert_str_attr(&s->events[2].attrs, "n", "2");

	const sonde_span_data *c = &b->spans[1];
	assert_id(c->trace_id, 16, "0000000000000000ffdc9bb9a6453df3");
	assert_id(c->parent_span_id, 8, "ffdc9bb9a6453df3");
	assert_int_equal(c->kind, SONDE_SPAN_KIND_CLIENT);
	assert_int_equal(c->end_ns - c->start_ns, 5000);
	assert_int_equal(c->status_code, SONDE_STATUS_ERROR);
	assert_str(c->status_message, "");
	assert_int_equal(c->attrs.count, 4);
	assert_str_attr(&c->attrs, "db.system", "postgresql");
	assert_str_attr(&c->attrs, "peer.service", "db");
	assert_str_attr(&c->attrs, "network.peer.address", "10.0.0.9");
	assert_str_attr(&c->attrs, "network.peer.port", "5432");
	/* Same service, same resource object; no scope tags, the empty scope. */
	assert_ptr_equal(c->resource, s->resource);
	assert_int_equal(c->scope->name.len, 0);

	const sonde_span_data *d = &b->spans[2];
	assert_ptr_not_equal(d->resource, s->resource);
	assert_str_attr(&d->resource->attrs, "service.name", "backend");
	assert_int_equal(d->kind, SONDE_SPAN_KIND_INTERNAL);
	assert_int_equal(d->status_code, SONDE_STATUS_OK);
	assert_int_equal(d->start_ns, 0);
	assert_int_equal(d->attrs.count, 0);
	assert_ptr_equal(d->scope, c->scope);
	sonde_batch_free(b);
}

/* read -> write -> read gives an equal batch. */
static void test_reread(void **state)
{
	(void)state;
	sonde_batch *a = sonde_batch_new(), *b = sonde_batch_new();
	sonde_buf out = SONDE_BUF_INIT;
	sonde_wire_error err;
	char why[256];
	assert_int_equal(sonde_zipkin_read(a, two_spans, strlen(two_spans), &err), 0);
	assert_int_equal(sonde_zipkin_write(a, &out), 0);
	int rc = sonde_zipkin_read(b, out.data, out.len, &err);
	if (rc != 0)
		fail_msg("re-read %d at %zu %s: %s\n%s", rc, err.offset, err.field, err.msg, out.data);
	if (!sonde_batch_equal(a, b, why, sizeof(why)))
		fail_msg("%s\n%s", why, out.data);
	sonde_buf_release(&out);
	sonde_batch_free(a);
	sonde_batch_free(b);
}

static sonde_str s_(sonde_batch *b, const char *s)
{
	return sonde_batch_strdup(b, s, strlen(s));
}

static sonde_kv kv_str(sonde_batch *b, const char *k, const char *v)
{
	sonde_kv kv = {sonde_batch_intern(b, k, strlen(k)), {.kind = SONDE_VAL_STRING}};
	kv.value.u.str = s_(b, v);
	return kv;
}

/* A model batch with every feature Zipkin can carry, written and read back. */
static void test_write_read(void **state)
{
	(void)state;
	sonde_batch *m = sonde_batch_new(), *r = sonde_batch_new();
	sonde_resource *res = sonde_batch_new_resource(m);
	sonde_kv *rkv = sonde_batch_alloc(m, 2 * sizeof(sonde_kv));
	rkv[0] = kv_str(m, "service.name", "checkout");
	rkv[1] = kv_str(m, "host.name", "h1"); /* no place in Zipkin */
	res->attrs = (sonde_attrs){rkv, 2};
	sonde_scope *scope = sonde_batch_new_scope(m);
	scope->name = s_(m, "lib");
	scope->version = s_(m, "0.9");

	sonde_span_data *sp = sonde_batch_add_span(m, res, scope);
	memset(sp->trace_id, 0xab, 16);
	memset(sp->span_id, 0x11, 8);
	memset(sp->parent_span_id, 0x22, 8);
	sp->name = s_(m, "charge");
	sp->kind = SONDE_SPAN_KIND_PRODUCER;
	sp->start_ns = 1700000000123456789ull;
	sp->end_ns = sp->start_ns + 2500000;
	sp->status_code = SONDE_STATUS_ERROR;
	sp->status_message = s_(m, "card declined");
	sp->dropped_attrs_count = 3;
	sp->dropped_events_count = 4;
	sp->trace_state = s_(m, "k=v");
	sonde_kv *kv = sonde_batch_alloc(m, 7 * sizeof(sonde_kv));
	kv[0] = kv_str(m, "peer.service", "payments");
	kv[1] = (sonde_kv){sonde_batch_intern(m, "retries", 7), {.kind = SONDE_VAL_INT, .u.i = -2}};
	kv[2] = (sonde_kv){sonde_batch_intern(m, "ok", 2), {.kind = SONDE_VAL_BOOL, .u.b = false}};
	kv[3] = (sonde_kv){sonde_batch_intern(m, "ratio", 5), {.kind = SONDE_VAL_DOUBLE, .u.d = 0.25}};
	sonde_value *arr = sonde_batch_alloc(m, 2 * sizeof(sonde_value));
	arr[0] = (sonde_value){.kind = SONDE_VAL_STRING, .u.str = s_(m, "a")};
	arr[1] = (sonde_value){.kind = SONDE_VAL_STRING, .u.str = s_(m, "b\"")};
	kv[4] = (sonde_kv){sonde_batch_intern(m, "tags", 4), {.kind = SONDE_VAL_ARRAY}};
	kv[4].value.u.array.items = arr;
	kv[4].value.u.array.count = 2;
	kv[5] = (sonde_kv){sonde_batch_intern(m, "network.peer.port", 17), {.kind = SONDE_VAL_INT}};
	kv[5].value.u.i = 443;
	kv[6] = kv_str(m, "network.peer.address", "192.168.1.7");
	sp->attrs = (sonde_attrs){kv, 7};
	sp->events = sonde_batch_alloc(m, 3 * sizeof(sonde_span_event));
	sp->events_count = 3;
	sp->events[0] = (sonde_span_event){sp->start_ns + 1000, s_(m, "sent"), {NULL, 0}, 0};
	sp->events[1] = (sonde_span_event){sp->start_ns + 2000, s_(m, "ack"), {NULL, 0}, 5};
	sonde_kv *ekv = sonde_batch_alloc(m, 1 * sizeof(sonde_kv));
	ekv[0] = (sonde_kv){sonde_batch_intern(m, "bytes", 5), {.kind = SONDE_VAL_INT, .u.i = 512}};
	sp->events[1].attrs = (sonde_attrs){ekv, 1};
	sp->events[2] = (sonde_span_event){sp->start_ns + 3000, s_(m, "a|{}|0"), {NULL, 0}, 0};

	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_zipkin_write(m, &out), 0);
	sonde_wire_error err;
	int rc = sonde_zipkin_read(r, out.data, out.len, &err);
	if (rc != 0)
		fail_msg("read back %d at %zu %s: %s\n%s", rc, err.offset, err.field, err.msg, out.data);
	assert_non_null(strstr(out.data, "\"remoteEndpoint\":{\"serviceName\":\"payments\","
	                                 "\"ipv4\":\"192.168.1.7\",\"port\":443}"));
	assert_non_null(strstr(out.data, "\"timestamp\":1700000000123456,\"duration\":2500,"));
	assert_int_equal(r->spans_count, 1);
	const sonde_span_data *s = &r->spans[0];
	assert_memory_equal(s->trace_id, sp->trace_id, 16);
	assert_memory_equal(s->span_id, sp->span_id, 8);
	assert_memory_equal(s->parent_span_id, sp->parent_span_id, 8);
	assert_str(s->name, "charge");
	assert_int_equal(s->kind, SONDE_SPAN_KIND_PRODUCER);
	assert_int_equal(s->start_ns, sp->start_ns / 1000 * 1000);
	assert_int_equal(s->end_ns, s->start_ns + 2500000);
	assert_int_equal(s->status_code, SONDE_STATUS_ERROR);
	assert_str(s->status_message, "card declined");
	assert_int_equal(s->dropped_attrs_count, 3);
	assert_int_equal(s->dropped_events_count, 4);
	assert_str(s->trace_state, "k=v");
	assert_str(s->scope->name, "lib");
	assert_str(s->scope->version, "0.9");
	assert_int_equal(s->resource->attrs.count, 1);
	assert_str_attr(&s->resource->attrs, "service.name", "checkout");
	assert_int_equal(s->attrs.count, 7);
	assert_str_attr(&s->attrs, "peer.service", "payments");
	assert_str_attr(&s->attrs, "retries", "-2");
	assert_str_attr(&s->attrs, "ok", "false");
	assert_str_attr(&s->attrs, "ratio", "0.25");
	assert_str_attr(&s->attrs, "tags", "[\"a\",\"b\\\"\"]");
	assert_str_attr(&s->attrs, "network.peer.port", "443");
	assert_str_attr(&s->attrs, "network.peer.address", "192.168.1.7");
	assert_int_equal(s->events_count, 3);
	assert_str(s->events[0].name, "sent");
	assert_int_equal(s->events[0].time_ns, sp->events[0].time_ns / 1000 * 1000);
	assert_str(s->events[1].name, "ack");
	assert_int_equal(s->events[1].dropped_attrs_count, 5);
	assert_int_equal(attr(&s->events[1].attrs, "bytes")->u.i, 512);
	assert_str(s->events[2].name, "a|{}|0");
	assert_int_equal(s->events[2].attrs.count, 0);
	sonde_buf_release(&out);
	sonde_batch_free(m);
	sonde_batch_free(r);
}

static void test_write_exact(void **state)
{
	(void)state;
	static const char in[] = "[{\"traceId\":\"00000000000000010000000000000002\","
	                         "\"id\":\"00000000000000a1\",\"name\":\"x\",\"timestamp\":10,"
	                         "\"duration\":2,\"tags\":{\"k\":\"v\"}}]";
	sonde_batch *b = sonde_batch_new();
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_zipkin_read(b, in, strlen(in), NULL), 0);
	assert_int_equal(sonde_zipkin_write(b, &out), 0);
	assert_string_equal(out.data, in);
	/* Status codes and the empty case. */
	b->spans[0].status_code = SONDE_STATUS_OK;
	b->spans[0].kind = SONDE_SPAN_KIND_CONSUMER;
	sonde_buf_reset(&out);
	assert_int_equal(sonde_zipkin_write(b, &out), 0);
	assert_non_null(strstr(out.data, "\"kind\":\"CONSUMER\""));
	assert_non_null(strstr(out.data, "\"tags\":{\"k\":\"v\",\"otel.status_code\":\"OK\"}"));
	sonde_batch_clear(b);
	sonde_buf_reset(&out);
	assert_int_equal(sonde_zipkin_write(b, &out), 0);
	assert_string_equal(out.data, "[]");
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

/* A list of traces, as /api/v2/traces returns; nulls mean absent. */
static void test_list_of_traces(void **state)
{
	(void)state;
	static const char in[] =
	        "[[{" IDS ",\"parentId\":null,"
	        "\"name\":null,\"kind\":null,\"tags\":null,\"annotations\":null,\"localEndpoint\":null}],"
	        "[{\"traceId\":\"0000000000000002\",\"id\":\"0000000000000002\","
	        "\"parentId\":\"0000000000000000\"}]]";
	sonde_batch *b = sonde_batch_new();
	assert_int_equal(sonde_zipkin_read(b, in, strlen(in), NULL), 0);
	assert_int_equal(b->spans_count, 2);
	assert_true(sonde_id_is_zero(b->spans[1].parent_span_id, 8));
	assert_int_equal(b->spans[0].resource->attrs.count, 0);
	sonde_batch_free(b);
}

static void expect_error(const char *in, const char *at, const char *field, const char *msg_part)
{
	static const char good[] = "[{" IDS "}]";
	sonde_wire_error err = expect_read_error(sonde_zipkin_read, good, in, at, field, msg_part);
	assert_int_equal(err.line, 1);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("{\"traceId\":\"1\"}", "{", "", "array");
	expect_error("[{\"traceId\":\"00000000000000011\",\"id\":\"0000000000000001\"}]",
	             "\"00000000000000011\"", "[0].traceId", "16 or 32 hex digits");
	expect_error("[{" IDS "},"
	             "{\"traceId\":\"0000000000000001\",\"id\":\"000000000000000g\"}]",
	             "\"000000000000000g\"", "[1].id", "16 hex digits");
	expect_error("[{\"traceId\":\"0000000000000000\",\"id\":\"0000000000000001\"}]",
	             "\"0000000000000000\"", "[0].traceId", "non-zero");
	expect_error("[{\"traceId\":\"0000000000000001\"}]", "{", "[0]", "expected id");
	expect_error("[{\"id\":\"0000000000000001\"}]", "{", "[0]", "expected traceId");
	expect_error("[{" IDS ",\"kind\":\"LOCAL\"}]", "\"LOCAL\"", "[0].kind", "CLIENT");
	expect_error("[{" IDS ",\"timestamp\":-1}]", "-1", "[0].timestamp", "");
	expect_error("[{" IDS ",\"tags\":{\"a\":[]}}]", "[]", "[0].tags.a", "string");
	expect_error("[{" IDS ",\"annotations\":"
	             "[{\"value\":\"x\",\"timestamp\":1},{\"value\":\"y\"}]}]",
	             "{\"value\":\"y\"", "[0].annotations[1]", "timestamp");
	expect_error("[{" IDS ",\"localEndpoint\":"
	             "{\"port\":\"x\"}}]",
	             "\"x\"", "[0].localEndpoint.port", "");
	expect_error("[{" IDS "} x", "x", "", "");
	expect_error("[{" IDS, NULL, "[0]", "end");
	sonde_wire_error err;
	sonde_batch *b = sonde_batch_new();
	assert_int_equal(sonde_zipkin_read(b, "", 0, &err), SONDE_EPARSE);
	assert_int_equal(sonde_zipkin_read(b, "[]", 2, &err), 0);
	assert_int_equal(b->spans_count, 0);
	sonde_batch_free(b);
}

/* Status tags: the values the writer must avoid sending as plain error tags. */
static void test_status_messages(void **state)
{
	(void)state;
	static const char *const msgs[] = {"", "true", "false", "x"};
	for (int code = SONDE_STATUS_OK; code <= SONDE_STATUS_ERROR; code++) {
		for (size_t i = 0; i < 4; i++) {
			sonde_batch *m = sonde_batch_new(), *r = sonde_batch_new();
			sonde_resource *res = sonde_batch_new_resource(m);
			sonde_span_data *s = sonde_batch_add_span(m, res, sonde_batch_new_scope(m));
			s->trace_id[0] = s->span_id[0] = 1;
			s->kind = SONDE_SPAN_KIND_INTERNAL;
			s->status_code = (sonde_status_code)code;
			s->status_message = sonde_batch_strdup(m, msgs[i], strlen(msgs[i]));
			sonde_buf out = SONDE_BUF_INIT;
			char why[128];
			assert_int_equal(sonde_zipkin_write(m, &out), 0);
			assert_int_equal(sonde_zipkin_read(r, out.data, out.len, NULL), 0);
			if (!sonde_batch_equal(m, r, why, sizeof(why)))
				fail_msg("status %d message '%s': %s\n%s", code, msgs[i], why, out.data);
			sonde_buf_release(&out);
			sonde_batch_free(m);
			sonde_batch_free(r);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_read),
	        cmocka_unit_test(test_reread),
	        cmocka_unit_test(test_write_read),
	        cmocka_unit_test(test_write_exact),
	        cmocka_unit_test(test_list_of_traces),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_status_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
