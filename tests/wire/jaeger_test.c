/* jaeger_test.c - Jaeger JSON: processes, references, typed tags, logs, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "hex.h"
#include "jaeger.h"
#include "sonde/status.h"
#include "wire_test_util.h"

/* The opening of a document whose first span has its required members. */
#define SPAN1 "{\"data\":[{\"traceID\":\"0000000000000001\",\"spans\":[{\"spanID\":\"0000000000000001\""

/* Two traces; in the second, processes come before spans and one span is 64-bit. */
static const char doc[] =
        "{\"data\": [\n"
        " {\"traceID\": \"5b8aa5a2d2c872e8321cf37308d69df2\",\n"
        "  \"spans\": [\n"
        "   {\"traceID\": \"5b8aa5a2d2c872e8321cf37308d69df2\", \"spanID\": \"051581bf3cb55c13\", \"flags\": "
        "3,\n"
        "    \"operationName\": \"HTTP GET /\", \"references\": [], \"startTime\": 1485467191639875,\n"
        "    \"duration\": 22938, \"processID\": \"p1\", \"warnings\": null,\n"
        "    \"tags\": [{\"key\": \"span.kind\", \"type\": \"string\", \"value\": \"server\"},\n"
        "             {\"key\": \"http.status_code\", \"type\": \"int64\", \"value\": 500},\n"
        "             {\"key\": \"big\", \"type\": \"int64\", \"value\": \"9007199254740993\"},\n"
        "             {\"value\": 0.5, \"key\": \"ratio\", \"type\": \"float64\"},\n"
        "             {\"key\": \"sampled\", \"type\": \"bool\", \"value\": true},\n"
        "             {\"key\": \"blob\", \"type\": \"binary\", \"value\": \"AAEC\"},\n"
        "             {\"key\": \"error\", \"type\": \"bool\", \"value\": true},\n"
        "             {\"key\": \"otel.status_description\", \"type\": \"string\", \"value\": \"bad "
        "gateway\"},\n"
        "             {\"key\": \"otel.scope.name\", \"type\": \"string\", \"value\": \"net/http\"},\n"
        "             {\"key\": \"untyped\", \"value\": 7}],\n"
        "    \"logs\": [{\"timestamp\": 1485467191639880, \"fields\": [\n"
        "               {\"key\": \"event\", \"type\": \"string\", \"value\": \"retry\"},\n"
        "               {\"key\": \"attempt\", \"type\": \"int64\", \"value\": 2}]},\n"
        "             {\"timestamp\": 1485467191639890, \"fields\": [\n"
        "               {\"key\": \"message\", \"type\": \"string\", \"value\": \"hi\"}]}]},\n"
        "   {\"traceID\": \"5b8aa5a2d2c872e8321cf37308d69df2\", \"spanID\": \"0000000000000002\",\n"
        "    \"operationName\": \"query\", \"startTime\": 1485467191639900, \"duration\": 10,\n"
        "    \"references\": [\n"
        "      {\"refType\": \"FOLLOWS_FROM\", \"traceID\": \"00000000000000000000000000000009\",\n"
        "       \"spanID\": "
        "\"0000000000000009\"},\n"
        "      {\"refType\": \"CHILD_OF\", \"traceID\": \"5b8aa5a2d2c872e8321cf37308d69df2\", \"spanID\": "
        "\"051581bf3cb55c13\"},\n"
        "      {\"refType\": \"CHILD_OF\", \"spanID\": \"0000000000000007\"}],\n"
        "    \"tags\": [{\"key\": \"span.kind\", \"type\": \"string\", \"value\": \"client\"},\n"
        "             {\"key\": \"otel.status_code\", \"type\": \"string\", \"value\": \"OK\"}],\n"
        "    \"processID\": \"p2\"},\n"
        "   {\"traceID\": \"5b8aa5a2d2c872e8321cf37308d69df2\", \"spanID\": \"0000000000000003\",\n"
        "    \"operationName\": \"again\", \"startTime\": 1485467191639901, \"duration\": 1, \"processID\": "
        "\"p1\"}],\n"
        "  \"processes\": {\n"
        "   \"p1\": {\"serviceName\": \"frontend\", \"tags\": [{\"key\": \"hostname\", \"type\": \"string\", "
        "\"value\": \"h1\"}]},\n"
        "   \"p2\": {\"serviceName\": \"db\", \"tags\": []}},\n"
        "  \"warnings\": null},\n"
        " {\"processes\": {\"p1\": {\"serviceName\": \"frontend\"}},\n"
        "  \"traceID\": \"00000000000000a1\",\n"
        "  \"spans\": [{\"spanID\": \"00000000000000b2\", \"operationName\": \"solo\", \"startTime\": 5,\n"
        "              \"duration\": 0, \"processID\": \"p1\", \"parentSpanID\": \"00000000000000c3\"}]}],\n"
        " \"total\": 0, \"limit\": 0, \"offset\": 0, \"errors\": null}\n";

static void test_read(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	expect_read_ok(sonde_jaeger_read, b, doc);
	assert_int_equal(b->spans_count, 4);

	const sonde_span_data *s = &b->spans[0];
	assert_id(s->trace_id, 16, "5b8aa5a2d2c872e8321cf37308d69df2");
	assert_id(s->span_id, 8, "051581bf3cb55c13");
	assert_true(sonde_id_is_zero(s->parent_span_id, 8));
	assert_str(s->name, "HTTP GET /");
	assert_int_equal(s->kind, SONDE_SPAN_KIND_SERVER);
	assert_int_equal(s->flags, 1);
	assert_int_equal(s->start_ns, 1485467191639875000ull);
	assert_int_equal(s->end_ns - s->start_ns, 22938000ull);
	assert_int_equal(s->status_code, SONDE_STATUS_ERROR);
	assert_str(s->status_message, "bad gateway");
	assert_str(s->scope->name, "net/http");
	assert_int_equal(s->attrs.count, 6);
	assert_str(s->attrs.items[0].key, "http.status_code");
	assert_int_equal(attr(&s->attrs, "http.status_code")->kind, SONDE_VAL_INT);
	assert_int_equal(attr(&s->attrs, "http.status_code")->u.i, 500);
	assert_int_equal(attr(&s->attrs, "big")->u.i, 9007199254740993ll);
	assert_int_equal(attr(&s->attrs, "ratio")->kind, SONDE_VAL_DOUBLE);
	assert_true(attr(&s->attrs, "ratio")->u.d == 0.5);
	assert_int_equal(attr(&s->attrs, "sampled")->kind, SONDE_VAL_BOOL);
	assert_true(attr(&s->attrs, "sampled")->u.b);
	const sonde_value *blob = attr(&s->attrs, "blob");
	assert_int_equal(blob->kind, SONDE_VAL_BYTES);
	assert_int_equal(blob->u.str.len, 3);
	assert_memory_equal(blob->u.str.ptr, "\0\1\2", 3);
	assert_int_equal(attr(&s->attrs, "untyped")->kind, SONDE_VAL_INT);
	assert_null(sonde_attrs_get(&s->attrs, "span.kind"));
	assert_null(sonde_attrs_get(&s->attrs, "error"));
	assert_int_equal(s->events_count, 2);
	assert_str(s->events[0].name, "retry");
	assert_int_equal(s->events[0].time_ns, 1485467191639880000ull);
	assert_int_equal(s->events[0].attrs.count, 1);
	assert_int_equal(attr(&s->events[0].attrs, "attempt")->u.i, 2);
	assert_str(s->events[1].name, "log");
	assert_str(attr(&s->events[1].attrs, "message")->u.str, "hi");
	assert_int_equal(s->resource->attrs.count, 2);
	assert_str(s->resource->attrs.items[0].key, "service.name");
	assert_str(s->resource->attrs.items[0].value.u.str, "frontend");
	assert_str(attr(&s->resource->attrs, "hostname")->u.str, "h1");

	/* First CHILD_OF is the parent; every other reference is a link. */
	const sonde_span_data *q = &b->spans[1];
	assert_id(q->parent_span_id, 8, "051581bf3cb55c13");
	assert_int_equal(q->kind, SONDE_SPAN_KIND_CLIENT);
	assert_int_equal(q->status_code, SONDE_STATUS_OK);
	assert_int_equal(q->attrs.count, 0);
	assert_int_equal(q->links_count, 2);
	assert_id(q->links[0].trace_id, 16, "00000000000000000000000000000009");
	assert_id(q->links[0].span_id, 8, "0000000000000009");
	assert_str(attr(&q->links[0].attrs, "opentracing.ref_type")->u.str, "follows_from");
	assert_id(q->links[1].trace_id, 16, "5b8aa5a2d2c872e8321cf37308d69df2");
	assert_id(q->links[1].span_id, 8, "0000000000000007");
	assert_str(attr(&q->links[1].attrs, "opentracing.ref_type")->u.str, "child_of");
	assert_str(attr(&q->resource->attrs, "service.name")->u.str, "db");
	assert_int_equal(q->scope->name.len, 0);

	/* One resource per process per trace. */
	assert_ptr_equal(b->spans[2].resource, s->resource);
	assert_ptr_not_equal(q->resource, s->resource);
	assert_int_equal(b->spans[2].kind, SONDE_SPAN_KIND_INTERNAL);
	assert_int_equal(b->spans[2].status_code, SONDE_STATUS_UNSET);

	const sonde_span_data *solo = &b->spans[3];
	assert_id(solo->trace_id, 16, "000000000000000000000000000000a1");
	assert_id(solo->parent_span_id, 8, "00000000000000c3");
	assert_ptr_not_equal(solo->resource, s->resource);
	assert_str(attr(&solo->resource->attrs, "service.name")->u.str, "frontend");
	assert_int_equal(solo->start_ns, 5000);
	assert_int_equal(solo->end_ns, 5000);
	sonde_batch_free(b);
}

static void test_shapes(void **state)
{
	(void)state;
	static const char bare[] =
	        "{\"traceID\": \"0000000000000001\", \"spans\": [{\"spanID\": \"0000000000000001\",\n"
	        "  \"process\": {\"serviceName\": \"inline\", \"tags\": null}}]}";
	static const char array[] =
	        "[{\"traceID\": \"0000000000000001\", \"spans\": [{\"spanID\": \"0000000000000001\"}]},\n"
	        " {\"traceID\": \"0000000000000002\", \"spans\": [{\"spanID\": \"0000000000000002\"}]}]";
	static const char none[] = "{\"data\": null, \"errors\": [{\"code\": 400, \"msg\": \"x\"}]}";
	sonde_batch *b = sonde_batch_new();
	assert_int_equal(sonde_jaeger_read(b, bare, strlen(bare), NULL), 0);
	assert_int_equal(b->spans_count, 1);
	assert_str(attr(&b->spans[0].resource->attrs, "service.name")->u.str, "inline");
	assert_int_equal(sonde_jaeger_read(b, array, strlen(array), NULL), 0);
	assert_int_equal(b->spans_count, 3);
	assert_int_equal(b->spans[2].trace_id[15], 2);
	assert_int_equal(b->spans[1].resource->attrs.count, 0);
	assert_int_equal(sonde_jaeger_read(b, none, strlen(none), NULL), 0);
	assert_int_equal(b->spans_count, 3);
	sonde_batch_free(b);
}

static void expect_error(const char *in, const char *at, const char *field, const char *msg_part)
{
	static const char good[] = SPAN1 "}]}]}";
	expect_read_error(sonde_jaeger_read, good, in, at, field, msg_part);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error(SPAN1 ","
	                   "\"processID\":\"p9\"}],\"processes\":{\"p1\":{\"serviceName\":\"a\"}}}]}",
	             "\"p9\"", "data[0].spans[0].processID", "processes");
	expect_error("{\"data\":[{\"spans\":[{\"spanID\":\"1\"}]}]}", "\"1\"", "data[0].spans[0].spanID",
	             "16 hex digits");
	expect_error("{\"data\":[{\"spans\":[{\"spanID\":\"0000000000000001\"}]}]}", "{\"spanID\"",
	             "data[0].spans[0]", "traceID");
	expect_error("{\"data\":[{\"traceID\":\"0000000000000001\",\"spans\":[{}]}]}", "{}",
	             "data[0].spans[0]", "spanID");
	expect_error(SPAN1 ","
	                   "\"tags\":[{\"key\":\"a\",\"type\":\"int64\",\"value\":\"x1\"}]}]}]}",
	             "\"x1\"", "data[0].spans[0].tags[0].value", "int64");
	expect_error(SPAN1 ","
	                   "\"tags\":[{\"key\":\"a\",\"type\":\"int32\",\"value\":1}]}]}]}",
	             "\"int32\"", "data[0].spans[0].tags[0].type", "int64");
	expect_error(SPAN1
	             ","
	             "\"logs\":[{\"fields\":[{\"key\":\"b\",\"type\":\"binary\",\"value\":\"!!\"}]}]}]}]}",
	             "\"!!\"", "data[0].spans[0].logs[0].fields[0].value", "base64");
	expect_error(SPAN1 ","
	                   "\"references\":[{\"refType\":\"SIBLING\",\"spanID\":\"0000000000000002\"}]}]}]}",
	             "\"SIBLING\"", "data[0].spans[0].references[0].refType", "CHILD_OF");
	expect_error("{\"data\":[{\"traceID\":\"0000000000000001\","
	             "\"processes\":{\"p1\":{\"serviceName\":3}}}]}",
	             "3}", "data[0].processes.p1.serviceName", "string");
	expect_error("\"x\"", "\"x\"", "", "Jaeger");
	expect_error("{\"data\":[{\"traceID\":\"0000000000000001\",\"spans\":[", NULL, "data[0].spans[0]",
	             "end");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_read),
	        cmocka_unit_test(test_shapes),
	        cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
