/* chrome_trace_test.c - the Trace Event Format: phases, nesting, instants, ids, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "chrome_trace.h"
#include "hex.h"
#include "sonde/status.h"
#include "wire_test_util.h"

static const char doc[] =
        "{\"traceEvents\": [\n"
        " {\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"args\": {\"name\": \"trainer\"}},\n"
        " {\"name\": \"outer\", \"cat\": \"cpu_op\", \"ph\": \"X\", \"ts\": 100, \"dur\": 50, \"pid\": 1, "
        "\"tid\": 7,\n"
        "  \"args\": {\"Input Dims\": [[1, 2], [3]], \"flops\": 12, \"frac\": 0.5, \"nested\": {\"a\": "
        "{\"b\": \"c\"}},\n"
        "           \"ok\": true, \"none\": null, \"names\": [\"x\", \"y\"]}},\n"
        " {\"name\": \"inner\", \"ph\": \"X\", \"ts\": 110.5, \"dur\": 10.25, \"pid\": 1, \"tid\": 7},\n"
        " {\"name\": \"sibling\", \"ph\": \"X\", \"ts\": 130, \"dur\": 5, \"pid\": 1, \"tid\": 7},\n"
        " {\"name\": \"same\", \"ph\": \"X\", \"ts\": 130, \"dur\": 5, \"pid\": 1, \"tid\": 7},\n"
        " {\"name\": \"mark\", \"ph\": \"i\", \"ts\": 112, \"pid\": 1, \"tid\": 7, \"s\": \"t\", \"args\": "
        "{\"k\": 1}},\n"
        " {\"name\": \"lonely\", \"ph\": \"I\", \"ts\": 500, \"pid\": 1, \"tid\": 7},\n"
        " {\"name\": \"step\", \"ph\": \"B\", \"ts\": 200, \"pid\": 1, \"tid\": 8, \"args\": {\"a\": 1}},\n"
        " {\"name\": \"sub\", \"ph\": \"B\", \"ts\": 201, \"pid\": 1, \"tid\": 8},\n"
        " {\"ph\": \"E\", \"ts\": 205, \"pid\": 1, \"tid\": 8},\n"
        " {\"ph\": \"E\", \"ts\": 210, \"pid\": 1, \"tid\": 8, \"args\": {\"b\": 2}},\n"
        " {\"ph\": \"E\", \"ts\": 211, \"pid\": 1, \"tid\": 8},\n"
        " {\"name\": \"open\", \"ph\": \"B\", \"ts\": 300, \"pid\": 1, \"tid\": 9},\n"
        " {\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 7, \"args\": {\"name\": "
        "\"main\"}},\n"
        " {\"name\": \"req\", \"cat\": \"net\", \"ph\": \"b\", \"id\": \"0x10\", \"ts\": 150, \"pid\": 1, "
        "\"tid\": 7},\n"
        " {\"name\": \"dns\", \"cat\": \"net\", \"ph\": \"b\", \"id\": \"0x10\", \"ts\": 151, \"pid\": 1, "
        "\"tid\": 7},\n"
        " {\"name\": \"dns\", \"cat\": \"net\", \"ph\": \"e\", \"id\": \"0x10\", \"ts\": 152, \"pid\": 1, "
        "\"tid\": 7},\n"
        " {\"name\": \"req\", \"cat\": \"net\", \"ph\": \"e\", \"id\": \"0x10\", \"ts\": 160, \"pid\": 1, "
        "\"tid\": 7},\n"
        " {\"name\": \"ctr\", \"ph\": \"C\", \"ts\": 100, \"pid\": 1, \"args\": {\"v\": 3}},\n"
        " {\"name\": \"flow\", \"ph\": \"s\", \"id\": 1, \"ts\": 100, \"pid\": 1, \"tid\": 7},\n"
        " {\"name\": \"other\", \"ph\": \"X\", \"ts\": 1, \"dur\": 1, \"pid\": \"gpu\", \"tid\": \"stream "
        "7\"}\n"
        "],\n"
        "\"displayTimeUnit\": \"ms\", \"otherData\": {\"version\": \"x\"}}\n";

static void assert_parent(const sonde_batch *b, size_t child, long parent)
{
	const sonde_span_data *s = &b->spans[child];
	if (parent < 0) {
		if (!sonde_id_is_zero(s->parent_span_id, 8))
			fail_msg("span %zu (%.*s) should be a root", child, (int)s->name.len, s->name.ptr);
		return;
	}
	if (memcmp(s->parent_span_id, b->spans[parent].span_id, 8) != 0)
		fail_msg("span %zu (%.*s) should be a child of %ld", child, (int)s->name.len, s->name.ptr,
		         parent);
}

static void test_read(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	expect_read_ok(sonde_chrome_trace_read, b, doc);
	static const char *const names[] = {"outer", "inner", "sibling", "same", "lonely", "step",
	                                    "sub",   "open",  "req",     "dns",  "other"};
	assert_int_equal(b->spans_count, 11);
	for (size_t i = 0; i < 11; i++) {
		assert_str(b->spans[i].name, names[i]);
		assert_int_equal(b->spans[i].kind, SONDE_SPAN_KIND_INTERNAL);
		assert_memory_equal(b->spans[i].trace_id, b->spans[0].trace_id, 16);
		assert_false(sonde_id_is_zero(b->spans[i].span_id, 8));
		for (size_t j = 0; j < i; j++)
			assert_memory_not_equal(b->spans[i].span_id, b->spans[j].span_id, 8);
	}
	assert_parent(b, 0, -1);
	assert_parent(b, 1, 0);
	assert_parent(b, 2, 0);
	assert_parent(b, 3, 2);
	assert_parent(b, 4, -1);
	assert_parent(b, 5, -1);
	assert_parent(b, 6, 5);
	assert_parent(b, 7, -1);
	assert_parent(b, 8, -1);
	assert_parent(b, 9, 8);
	assert_parent(b, 10, -1);

	const sonde_span_data *outer = &b->spans[0];
	assert_int_equal(outer->start_ns, 100000);
	assert_int_equal(outer->end_ns, 150000);
	assert_int_equal(outer->attrs.count, 11);
	assert_str(outer->attrs.items[0].key, "chrome.cat");
	assert_str(outer->attrs.items[0].value.u.str, "cpu_op");
	assert_int_equal(attr(&outer->attrs, "process.pid")->u.i, 1);
	assert_int_equal(attr(&outer->attrs, "thread.id")->u.i, 7);
	assert_str(attr(&outer->attrs, "thread.name")->u.str, "main");
	assert_int_equal(attr(&outer->attrs, "Input Dims")->kind, SONDE_VAL_STRING);
	assert_str(attr(&outer->attrs, "Input Dims")->u.str, "[[1,2],[3]]");
	assert_int_equal(attr(&outer->attrs, "flops")->kind, SONDE_VAL_INT);
	assert_int_equal(attr(&outer->attrs, "frac")->kind, SONDE_VAL_DOUBLE);
	assert_str(attr(&outer->attrs, "nested.a.b")->u.str, "c");
	assert_int_equal(attr(&outer->attrs, "ok")->kind, SONDE_VAL_BOOL);
	assert_int_equal(attr(&outer->attrs, "none")->kind, SONDE_VAL_EMPTY);
	assert_int_equal(attr(&outer->attrs, "names")->kind, SONDE_VAL_ARRAY);
	assert_str(attr(&outer->attrs, "names")->u.array.items[1].u.str, "y");
	assert_int_equal(outer->resource->attrs.count, 2);
	assert_str(attr(&outer->resource->attrs, "service.name")->u.str, "trainer");
	assert_int_equal(attr(&outer->resource->attrs, "process.pid")->u.i, 1);

	/* Fractional microseconds are kept to the nanosecond. */
	const sonde_span_data *inner = &b->spans[1];
	assert_int_equal(inner->start_ns, 110500);
	assert_int_equal(inner->end_ns, 120750);
	assert_int_equal(inner->events_count, 1);
	assert_str(inner->events[0].name, "mark");
	assert_int_equal(inner->events[0].time_ns, 112000);
	assert_int_equal(attr(&inner->events[0].attrs, "k")->u.i, 1);
	assert_int_equal(outer->events_count, 0);

	const sonde_span_data *lonely = &b->spans[4];
	assert_int_equal(lonely->start_ns, 500000);
	assert_int_equal(lonely->end_ns, 500000);

	const sonde_span_data *step = &b->spans[5], *sub = &b->spans[6];
	assert_int_equal(step->start_ns, 200000);
	assert_int_equal(step->end_ns, 210000);
	assert_int_equal(sub->end_ns, 205000);
	assert_int_equal(attr(&step->attrs, "a")->u.i, 1);
	assert_int_equal(attr(&step->attrs, "b")->u.i, 2);
	assert_null(sonde_attrs_get(&step->attrs, "thread.name"));
	/* Never ended: ends at the latest time in the file. */
	assert_int_equal(b->spans[7].end_ns, 500000);

	const sonde_span_data *req = &b->spans[8], *dns = &b->spans[9];
	assert_int_equal(req->end_ns, 160000);
	assert_int_equal(dns->start_ns, 151000);
	assert_int_equal(dns->end_ns, 152000);
	assert_str(attr(&req->attrs, "chrome.cat")->u.str, "net");
	assert_ptr_equal(req->resource, outer->resource);

	const sonde_span_data *other = &b->spans[10];
	assert_str(attr(&other->attrs, "process.pid")->u.str, "gpu");
	assert_str(attr(&other->attrs, "thread.id")->u.str, "stream 7");
	assert_ptr_not_equal(other->resource, outer->resource);
	assert_int_equal(other->resource->attrs.count, 1);

	/* The same bytes give the same ids. */
	sonde_batch *again = sonde_batch_new();
	char why[128];
	assert_int_equal(sonde_chrome_trace_read(again, doc, strlen(doc), NULL), 0);
	if (!sonde_batch_equal(b, again, why, sizeof(why)))
		fail_msg("re-read differs: %s", why);
	sonde_batch_free(again);
	sonde_batch_free(b);
}

static uint64_t start_of(const char *ts)
{
	char in[128];
	snprintf(in, sizeof(in), "[{\"ph\":\"X\",\"ts\":%s,\"pid\":1,\"tid\":1}]", ts);
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	int rc = sonde_chrome_trace_read(b, in, strlen(in), &err);
	if (rc != 0)
		fail_msg("%s: %d %s", ts, rc, err.msg);
	uint64_t v = b->spans[0].start_ns;
	sonde_batch_free(b);
	return v;
}

static void test_times(void **state)
{
	(void)state;
	assert_int_equal(start_of("1.0005"), 1001);
	assert_int_equal(start_of("1.0004999"), 1000);
	assert_int_equal(start_of("0.0004"), 0);
	assert_int_equal(start_of("1e3"), 1000000);
	assert_int_equal(start_of("\"7.5\""), 7500);
	assert_int_equal(start_of("1700000000123456.789"), 1700000000123456789ull);
	assert_int_equal(start_of("-0"), 0);
}

static void test_shapes(void **state)
{
	(void)state;
	static const char trunc1[] = "[{\"name\":\"a\",\"ph\":\"X\",\"ts\":1,\"dur\":2,\"tid\":1},\n"
	                             " {\"name\":\"b\",\"ph\":\"X\",\"ts\":1.5,\"dur\":1,\"tid\":1},\n";
	static const char trunc2[] = "[{\"name\":\"a\",\"ph\":\"X\",\"ts\":1,\"pid\":1,\"tid\":1}";
	static const char empty1[] = "[";
	static const char empty2[] = "{\"traceEvents\":[],\"stackFrames\":{}}";
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	int rc = sonde_chrome_trace_read(b, trunc1, strlen(trunc1), &err);
	if (rc != 0)
		fail_msg("%d at %zu: %s", rc, err.offset, err.msg);
	assert_int_equal(b->spans_count, 2);
	assert_memory_equal(b->spans[1].parent_span_id, b->spans[0].span_id, 8);
	assert_int_equal(sonde_chrome_trace_read(b, trunc2, strlen(trunc2), NULL), 0);
	assert_int_equal(b->spans_count, 3);
	assert_memory_not_equal(b->spans[2].trace_id, b->spans[0].trace_id, 16);
	assert_int_equal(sonde_chrome_trace_read(b, empty1, strlen(empty1), NULL), 0);
	assert_int_equal(sonde_chrome_trace_read(b, empty2, strlen(empty2), NULL), 0);
	assert_int_equal(b->spans_count, 3);
	sonde_batch_free(b);
}

/* Nested args flatten into dotted keys until the key would pass 64 bytes; deeper objects
 * stay whole, as JSON text. */
static void test_deep_args(void **state)
{
	(void)state;
	static const char in[] =
	        "[{\"ph\":\"X\",\"ts\":1,\"args\":{\"a\":{\"b\":{\"c\":1}},"
	        "\"k0123456789012345678901234567890123456789012345678901234567890123\":{\"x\":{\"y\":2}}}}]";
	sonde_batch *b = sonde_batch_new();
	assert_int_equal(sonde_chrome_trace_read(b, in, strlen(in), NULL), 0);
	const sonde_attrs *a = &b->spans[0].attrs;
	assert_int_equal(attr(a, "a.b.c")->u.i, 1);
	const sonde_value *v = attr(a, "k0123456789012345678901234567890123456789012345678901234567890123");
	assert_int_equal(v->kind, SONDE_VAL_STRING);
	assert_str(v->u.str, "{\"x\":{\"y\":2}}");
	sonde_batch_free(b);
}

static void expect_error(const char *in, const char *at, const char *field, const char *msg_part)
{
	static const char good[] = "[{\"ph\":\"X\",\"ts\":1,\"pid\":1,\"tid\":1}]";
	expect_read_error(sonde_chrome_trace_read, good, in, at, field, msg_part);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("{\"traceEvents\":[{\"ph\":\"X\",\"ts\":1},{\"name\":\"n\",\"ts\":2}]}", "{\"name\"",
	             "traceEvents[1]", "ph");
	expect_error("[{\"ph\":\"X\",\"ts\":-5,\"pid\":1}]", "-5", "[0].ts", "non-negative");
	expect_error("[{\"ph\":\"X\",\"ts\":\"soon\",\"pid\":1}]", "\"soon\"", "[0].ts", "microseconds");
	expect_error("[{\"ph\":\"B\",\"pid\":1}]", "{", "[0]", "ts");
	expect_error("[{\"ph\":\"X\",\"ts\":1,\"args\":[1]}]", "[1]", "[0].args", "object");
	expect_error("[{\"ph\":\"X\",\"ts\":1,\"pid\":{}}]", "{}", "[0].pid", "number or a string");
	expect_error("[{\"ph\":\"X\",\"ts\":1},7]", "7", "[1]", "event object");
	expect_error("{\"displayTimeUnit\":\"ns\"}", "{", "", "traceEvents");
	expect_error("3", "3", "", "array");
	expect_error("[{\"ph\":\"X\",\"ts\":1}] x", "x", "", "after");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_read),   cmocka_unit_test(test_times),
	        cmocka_unit_test(test_shapes), cmocka_unit_test(test_deep_args),
	        cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
