/* otlp_json_test.c - OTLP/JSON: the official examples, every rule of the JSON mapping,
 * JSON lines, malformed input, and round trips through the writer. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hex.h"
#include "otlp_json.h"
#include "sonde/status.h"

/* Test documents are written with ' for " to keep them readable; q() swaps them. The
 * returned buffer is reused by the next call. */
static const char *q(const char *s)
{
	static char buf[8192];
	size_t n = strlen(s);
	assert_true(n < sizeof(buf));
	for (size_t i = 0; i <= n; i++)
		buf[i] = s[i] == '\'' ? '"' : s[i];
	return buf;
}

static sonde_batch *new_batch(void)
{
	sonde_batch *b = sonde_batch_new();
	assert_non_null(b);
	return b;
}

static void read_into(sonde_batch *b, const char *json)
{
	sonde_wire_error err = {0};
	int rc = sonde_otlp_json_read(b, json, strlen(json), &err);
	if (rc != 0)
		fail_msg("read failed (%d): offset %zu line %zu field '%s': %s\n  input: %s", rc, err.offset,
		         err.line, err.field, err.msg, json);
}

/* Reads a document written with ' for ". */
static sonde_batch *rd(const char *doc)
{
	sonde_batch *b = new_batch();
	read_into(b, q(doc));
	return b;
}

/* Expects doc (with ' for ") to fail with SONDE_EPARSE and to leave a batch that already
 * holds records unchanged. Returns the error. */
static sonde_wire_error rd_bad(const char *doc)
{
	static const char seed[] =
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"seed\"}]}]}],"
	        "\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"severityText\":\"x\"}]}]}],"
	        "\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"m\"}]}]}]}";
	sonde_batch *b = new_batch();
	read_into(b, seed);
	const char *json = q(doc);
	sonde_wire_error err;
	memset(&err, 0, sizeof(err));
	int rc = sonde_otlp_json_read(b, json, strlen(json), &err);
	if (rc != SONDE_EPARSE)
		fail_msg("expected SONDE_EPARSE, got %d for: %s", rc, json);
	assert_int_equal(b->spans_count, 1);
	assert_int_equal(b->logs_count, 1);
	assert_int_equal(b->metrics_count, 1);
	assert_string_equal(b->spans[0].name.ptr, "seed");
	assert_true(err.msg[0] != '\0');
	assert_true(err.offset <= strlen(json));
	assert_true(err.line >= 1);
	sonde_batch_free(b);
	return err;
}

static void assert_batches_equal(const sonde_batch *a, const sonde_batch *b, const char *what)
{
	char why[256];
	if (!sonde_batch_equal(a, b, why, sizeof(why)))
		fail_msg("%s: %s", what, why);
}

/* Writes every signal of b (compact and indented), reads it back and compares; then does
 * the same through JSON lines. */
static void round_trip(const sonde_batch *b)
{
	for (int pretty = 0; pretty <= 2; pretty += 2) {
		sonde_batch *back = new_batch();
		for (int sig = 0; sig < 3; sig++) {
			sonde_buf out = SONDE_BUF_INIT;
			assert_int_equal(sonde_otlp_json_write(b, (sonde_signal)sig, &out, pretty), 0);
			read_into(back, out.data);
			sonde_buf_release(&out);
		}
		assert_batches_equal(b, back, pretty ? "pretty round trip" : "compact round trip");
		sonde_batch_free(back);
	}
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_jsonl_write(b, &out), 0);
	sonde_batch *back = new_batch();
	sonde_wire_error err;
	int rc = sonde_otlp_jsonl_read(back, out.data ? out.data : "", out.len, &err);
	if (rc)
		fail_msg("jsonl re-read: line %zu field %s: %s", err.line, err.field, err.msg);
	assert_batches_equal(b, back, "jsonl round trip");
	sonde_batch_free(back);
	sonde_buf_release(&out);
}

/* Writes one signal of b compactly; the caller frees the result. */
static char *write_sig(const sonde_batch *b, sonde_signal sig)
{
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_json_write(b, sig, &out, 0), 0);
	return sonde_buf_detach(&out, NULL);
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("expected to find %s in %s", needle, hay);
}

static void assert_not_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		fail_msg("did not expect %s in %s", needle, hay);
}

static bool str_is(sonde_str s, const char *want)
{
	return s.ptr && s.len == strlen(want) && !memcmp(s.ptr, want, s.len);
}
#define assert_str(s, want)                                                                   \
	do {                                                                                  \
		if (!str_is((s), (want)))                                                     \
			fail_msg("got \"%.*s\", want \"%s\"", (int)(s).len, (s).ptr, (want)); \
	} while (0)

/* ---- The official examples ------------------------------------------------------- */

static char *slurp_example(const char *name, size_t *len)
{
	const char *dir = getenv("SONDE_DATA");
	if (!dir)
		return NULL;
	char path[1024];
	snprintf(path, sizeof(path), "%s/otlp-examples/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (cap - n < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		if (got == 0)
			break;
		n += got;
	}
	fclose(f);
	*len = n;
	return buf;
}

static sonde_batch *read_example(const char *name)
{
	size_t len = 0;
	char *buf = slurp_example(name, &len);
	if (!buf) {
		print_message("SONDE_DATA/otlp-examples/%s not available\n", name);
		skip();
	}
	sonde_batch *b = new_batch();
	sonde_wire_error err;
	int rc = sonde_otlp_json_read(b, buf, len, &err);
	if (rc)
		fail_msg("%s: line %zu field %s: %s", name, err.line, err.field, err.msg);
	free(buf);
	round_trip(b);
	return b;
}

static void test_example_trace(void **state)
{
	(void)state;
	sonde_batch *b = read_example("trace.json");
	assert_int_equal(b->spans_count, 1);
	const sonde_span_data *s = &b->spans[0];
	/* The example writes ids in upper case. */
	static const uint8_t tid[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
	                                0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
	static const uint8_t sid[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
	static const uint8_t pid[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73};
	assert_memory_equal(s->trace_id, tid, 16);
	assert_memory_equal(s->span_id, sid, 8);
	assert_memory_equal(s->parent_span_id, pid, 8);
	assert_str(s->name, "I'm a server span");
	assert_int_equal(s->kind, SONDE_SPAN_KIND_SERVER);
	assert_true(s->start_ns == 1544712660000000000ull);
	assert_true(s->end_ns == 1544712661000000000ull);
	const sonde_value *v = sonde_attrs_get(&s->attrs, "my.span.attr");
	assert_non_null(v);
	assert_int_equal(v->kind, SONDE_VAL_STRING);
	assert_str(v->u.str, "some value");
	v = sonde_attrs_get(&s->resource->attrs, "service.name");
	assert_non_null(v);
	assert_str(v->u.str, "my.service");
	assert_str(s->scope->name, "my.library");
	assert_str(s->scope->version, "1.0.0");
	assert_int_equal(s->scope->attrs.count, 1);

	/* Written back: lower-case ids, 64-bit integers as strings, enums as numbers. */
	char *out = write_sig(b, SONDE_SIGNAL_TRACES);
	assert_contains(out, "\"traceId\":\"5b8efff798038103d269b633813fc60c\"");
	assert_contains(out, "\"parentSpanId\":\"eee19b7ec3c1b173\"");
	assert_contains(out, "\"startTimeUnixNano\":\"1544712660000000000\"");
	assert_contains(out, "\"kind\":2");
	assert_not_contains(out, "droppedAttributesCount");
	assert_not_contains(out, "traceState");
	assert_not_contains(out, "status");
	free(out);
	sonde_batch_free(b);
}

static void test_example_metrics(void **state)
{
	(void)state;
	sonde_batch *b = read_example("metrics.json");
	assert_int_equal(b->metrics_count, 4);
	const sonde_metric_data *m = &b->metrics[0];
	assert_str(m->name, "my.counter");
	assert_str(m->unit, "1");
	assert_str(m->description, "I am a Counter");
	assert_int_equal(m->type, SONDE_METRIC_SUM);
	assert_int_equal(m->temporality, SONDE_TEMPORALITY_DELTA);
	assert_true(m->is_monotonic);
	assert_int_equal(m->points_count, 1);
	assert_int_equal(m->points[0].u.number.kind, SONDE_NUM_DOUBLE);
	assert_true(m->points[0].u.number.v.d == 5.0);
	assert_true(m->points[0].start_time_ns == 1544712660300000000ull);

	m = &b->metrics[1];
	assert_int_equal(m->type, SONDE_METRIC_GAUGE);
	assert_true(m->points[0].u.number.v.d == 10.0);
	assert_true(m->points[0].start_time_ns == 0);

	m = &b->metrics[2];
	assert_int_equal(m->type, SONDE_METRIC_HISTOGRAM);
	const sonde_point *p = &m->points[0];
	assert_int_equal(p->u.hist.count, 2);
	assert_true(p->u.hist.has_sum && p->u.hist.sum == 2.0);
	assert_int_equal(p->u.hist.bucket_counts_count, 2);
	assert_int_equal(p->u.hist.bucket_counts[0], 1);
	assert_int_equal(p->u.hist.bucket_counts[1], 1);
	assert_int_equal(p->u.hist.bounds_count, 1);
	assert_true(p->u.hist.bounds[0] == 1.0);
	assert_true(p->u.hist.has_min && p->u.hist.min == 0.0);
	assert_true(p->u.hist.has_max && p->u.hist.max == 2.0);
	assert_str(p->attrs.items[0].key, "my.histogram.attr");

	m = &b->metrics[3];
	assert_int_equal(m->type, SONDE_METRIC_EXP_HISTOGRAM);
	p = &m->points[0];
	assert_int_equal(p->u.exp.count, 3);
	assert_int_equal(p->u.exp.scale, 0);
	assert_int_equal(p->u.exp.zero_count, 1);
	assert_int_equal(p->u.exp.positive.offset, 1);
	assert_int_equal(p->u.exp.positive.count, 2);
	assert_int_equal(p->u.exp.positive.counts[0], 0);
	assert_int_equal(p->u.exp.positive.counts[1], 2);
	assert_int_equal(p->u.exp.negative.count, 0);
	assert_true(p->u.exp.has_max && p->u.exp.max == 5.0);

	/* min 0 is kept because has_min is set; zero_threshold 0 is the default and goes. */
	char *out = write_sig(b, SONDE_SIGNAL_METRICS);
	assert_contains(out, "\"bucketCounts\":[\"1\",\"1\"]");
	assert_contains(out, "\"count\":\"2\",\"sum\":2,");
	assert_contains(out, "\"min\":0,\"max\":2");
	assert_contains(out, "\"aggregationTemporality\":1,\"isMonotonic\":true");
	assert_not_contains(out, "zeroThreshold");
	free(out);
	sonde_batch_free(b);
}

static void test_example_logs(void **state)
{
	(void)state;
	sonde_batch *b = read_example("logs.json");
	assert_int_equal(b->logs_count, 1);
	const sonde_log_data *l = &b->logs[0];
	assert_int_equal(l->body.kind, SONDE_VAL_STRING);
	assert_str(l->body.u.str, "Example log record");
	assert_int_equal(l->severity_number, 10);
	assert_str(l->severity_text, "Information");
	assert_int_equal(l->trace_id[0], 0x5b);
	assert_int_equal(l->span_id[7], 0x74);
	assert_true(l->time_ns == 1544712660300000000ull);
	const sonde_value *v = sonde_attrs_get(&l->attrs, "boolean.attribute");
	assert_true(v && v->kind == SONDE_VAL_BOOL && v->u.b);
	v = sonde_attrs_get(&l->attrs, "int.attribute");
	assert_true(v && v->kind == SONDE_VAL_INT && v->u.i == 10);
	v = sonde_attrs_get(&l->attrs, "double.attribute");
	assert_true(v && v->kind == SONDE_VAL_DOUBLE && v->u.d == 637.704);
	v = sonde_attrs_get(&l->attrs, "array.attribute");
	assert_true(v && v->kind == SONDE_VAL_ARRAY && v->u.array.count == 2);
	assert_str(v->u.array.items[1].u.str, "values");
	v = sonde_attrs_get(&l->attrs, "map.attribute");
	assert_true(v && v->kind == SONDE_VAL_KVLIST && v->u.kvlist.count == 1);
	assert_str(v->u.kvlist.items[0].key, "some.map.key");
	assert_str(v->u.kvlist.items[0].value.u.str, "some value");
	sonde_batch_free(b);
}

static void test_example_events(void **state)
{
	(void)state;
	sonde_batch *b = read_example("events.json");
	assert_int_equal(b->logs_count, 1);
	const sonde_log_data *l = &b->logs[0];
	assert_str(l->event_name, "browser.page_view");
	assert_int_equal(l->severity_number, 9);
	assert_int_equal(l->body.kind, SONDE_VAL_KVLIST);
	assert_int_equal(l->body.u.kvlist.count, 4);
	const sonde_value *v = sonde_attrs_get(&l->body.u.kvlist, "type");
	assert_true(v && v->kind == SONDE_VAL_INT && v->u.i == 0);
	v = sonde_attrs_get(&l->body.u.kvlist, "title");
	assert_str(v->u.str, "Free Online GUID Generator");
	static const uint8_t zero[16];
	assert_memory_equal(l->trace_id, zero, 16);
	sonde_batch_free(b);
}

/* ---- Rules of the mapping ---------------------------------------------------------- */

static void test_integers_as_strings_or_numbers(void **state)
{
	(void)state;
	sonde_batch *b = rd("{'resourceSpans':[{'scopeSpans':[{'spans':["
	                    "{'startTimeUnixNano':'18446744073709551615','endTimeUnixNano':12,"
	                    " 'flags':'257','droppedAttributesCount':3,'attributes':["
	                    "  {'key':'a','value':{'intValue':'-9223372036854775808'}},"
	                    "  {'key':'b','value':{'intValue':42}},"
	                    "  {'key':'c','value':{'intValue':'1e3'}},"
	                    "  {'key':'d','value':{'intValue':-7}}]},"
	                    "{'startTimeUnixNano':1.5e1,'endTimeUnixNano':'0'}]}]}]}");
	assert_int_equal(b->spans_count, 2);
	const sonde_span_data *s = &b->spans[0];
	assert_true(s->start_ns == UINT64_MAX);
	assert_true(s->end_ns == 12);
	assert_int_equal(s->flags, 257);
	assert_int_equal(s->dropped_attrs_count, 3);
	assert_true(s->attrs.items[0].value.u.i == INT64_MIN);
	assert_true(s->attrs.items[1].value.u.i == 42);
	assert_true(s->attrs.items[2].value.u.i == 1000);
	assert_true(s->attrs.items[3].value.u.i == -7);
	assert_true(b->spans[1].start_ns == 15);
	char *out = write_sig(b, SONDE_SIGNAL_TRACES);
	assert_contains(out, "\"startTimeUnixNano\":\"18446744073709551615\"");
	assert_contains(out, "{\"intValue\":\"-9223372036854775808\"}");
	assert_contains(out, "\"flags\":257");
	free(out);
	round_trip(b);
	sonde_batch_free(b);

	/* Out of range, fractional, signed where unsigned, malformed. */
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'startTimeUnixNano':"
	       "'18446744073709551616'}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'startTimeUnixNano':'-1'}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'startTimeUnixNano':1.5}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'startTimeUnixNano':'012'}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'startTimeUnixNano':'12a'}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'startTimeUnixNano':true}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'flags':4294967296}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'droppedAttributesCount':-1}]}]}]}");
	sonde_wire_error e = rd_bad("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'attributes':["
	                            "{'key':'a','value':{'intValue':'9223372036854775808'}}]}]}]}]}");
	assert_string_equal(e.field, "resourceLogs[0].scopeLogs[0].logRecords[0]."
	                             "attributes[0].value.intValue");
}

static void test_enum_names(void **state)
{
	(void)state;
	sonde_batch *b = rd("{'resourceSpans':[{'scopeSpans':[{'spans':["
	                    "{'kind':'SPAN_KIND_CLIENT','status':{'code':'STATUS_CODE_ERROR','message':"
	                    "'boom'}},"
	                    "{'kind':5,'status':{'code':1}},"
	                    "{'kind':'SPAN_KIND_UNSPECIFIED','status':{}}]}]}],"
	                    "'resourceLogs':[{'scopeLogs':[{'logRecords':["
	                    "{'severityNumber':'SEVERITY_NUMBER_INFO'},{'severityNumber':"
	                    "'SEVERITY_NUMBER_FATAL4'},"
	                    "{'severityNumber':'SEVERITY_NUMBER_WARN2'},{'severityNumber':17}]}]}],"
	                    "'resourceMetrics':[{'scopeMetrics':[{'metrics':["
	                    "{'sum':{'aggregationTemporality':'AGGREGATION_TEMPORALITY_CUMULATIVE'}},"
	                    "{'histogram':{'aggregationTemporality':'AGGREGATION_TEMPORALITY_DELTA'}},"
	                    "{'exponentialHistogram':{'aggregationTemporality':2}}]}]}]}");
	assert_int_equal(b->spans[0].kind, SONDE_SPAN_KIND_CLIENT);
	assert_int_equal(b->spans[0].status_code, SONDE_STATUS_ERROR);
	assert_str(b->spans[0].status_message, "boom");
	assert_int_equal(b->spans[1].kind, SONDE_SPAN_KIND_CONSUMER);
	assert_int_equal(b->spans[1].status_code, SONDE_STATUS_OK);
	assert_int_equal(b->spans[2].kind, SONDE_SPAN_KIND_UNSPECIFIED);
	assert_int_equal(b->logs[0].severity_number, 9);
	assert_int_equal(b->logs[1].severity_number, 24);
	assert_int_equal(b->logs[2].severity_number, 14);
	assert_int_equal(b->logs[3].severity_number, 17);
	assert_int_equal(b->metrics[0].temporality, SONDE_TEMPORALITY_CUMULATIVE);
	assert_int_equal(b->metrics[1].temporality, SONDE_TEMPORALITY_DELTA);
	assert_int_equal(b->metrics[2].temporality, SONDE_TEMPORALITY_CUMULATIVE);
	char *out = write_sig(b, SONDE_SIGNAL_TRACES);
	assert_contains(out, "\"kind\":3");
	assert_contains(out, "\"status\":{\"message\":\"boom\",\"code\":2}");
	free(out);
	out = write_sig(b, SONDE_SIGNAL_LOGS);
	assert_contains(out, "\"severityNumber\":24");
	free(out);
	round_trip(b);
	sonde_batch_free(b);

	sonde_wire_error e = rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'kind':"
	                            "'SPAN_KIND_BOGUS'}]}]}]}");
	assert_string_equal(e.field, "resourceSpans[0].scopeSpans[0].spans[0].kind");
	assert_non_null(strstr(e.msg, "SpanKind"));
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'kind':6}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'kind':-1}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'kind':'span_kind_server'}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'status':{'code':3}}]}]}]}");
	rd_bad("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'severityNumber':25}]}]}]}");
	rd_bad("{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'sum':{'aggregationTemporality':"
	       "'DELTA'}}]}]}]}");
}

static void test_bytes_base64(void **state)
{
	(void)state;
	sonde_batch *b = rd("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'attributes':["
	                    "{'key':'std','value':{'bytesValue':'+/+/'}},"
	                    "{'key':'url','value':{'bytesValue':'-_-_'}},"
	                    "{'key':'pad','value':{'bytesValue':'_w=='}},"
	                    "{'key':'nopad','value':{'bytesValue':'_w'}},"
	                    "{'key':'empty','value':{'bytesValue':''}},"
	                    "{'key':'text','value':{'bytesValue':'aGVsbG8AeA'}}],"
	                    "'body':{'bytesValue':'AAEC'}}]}]}]}");
	const sonde_attrs *a = &b->logs[0].attrs;
	static const char hi[] = "\xfb\xff\xbf";
	for (int i = 0; i < 2; i++) {
		assert_int_equal(a->items[i].value.kind, SONDE_VAL_BYTES);
		assert_int_equal(a->items[i].value.u.str.len, 3);
		assert_memory_equal(a->items[i].value.u.str.ptr, hi, 3);
	}
	for (int i = 2; i < 4; i++) {
		assert_int_equal(a->items[i].value.u.str.len, 1);
		assert_int_equal((unsigned char)a->items[i].value.u.str.ptr[0], 0xff);
	}
	assert_int_equal(a->items[4].value.kind, SONDE_VAL_BYTES);
	assert_int_equal(a->items[4].value.u.str.len, 0);
	assert_non_null(a->items[4].value.u.str.ptr);
	assert_int_equal(a->items[5].value.u.str.len, 7);
	assert_memory_equal(a->items[5].value.u.str.ptr, "hello\0x", 7);
	assert_int_equal(b->logs[0].body.kind, SONDE_VAL_BYTES);
	/* Written with the standard alphabet and padding. */
	char *out = write_sig(b, SONDE_SIGNAL_LOGS);
	assert_contains(out, "{\"bytesValue\":\"+/+/\"}");
	assert_contains(out, "{\"bytesValue\":\"/w==\"}");
	assert_contains(out, "{\"bytesValue\":\"\"}");
	assert_contains(out, "{\"bytesValue\":\"aGVsbG8AeA==\"}");
	free(out);
	round_trip(b);
	sonde_batch_free(b);

	sonde_wire_error e = rd_bad("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'body':{'bytesValue':"
	                            "'a!b='}}]}]}]}");
	assert_string_equal(e.field, "resourceLogs[0].scopeLogs[0].logRecords[0].body.bytesValue");
	assert_string_equal(e.msg, "expected base64");
	rd_bad("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'body':{'bytesValue':'abcde'}}]}]}]}");
	rd_bad("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'body':{'bytesValue':'ab='}}]}]}]}");
	rd_bad("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'body':{'bytesValue':12}}]}]}]}");
}

/* A document with every kind of member, in camelCase; unknown members and nulls are
 * spliced into it by the tests below. */
static const char full_doc[] =
        "{'resourceSpans':[{'resource':{'attributes':[{'key':'service.name','value':{'stringValue':'svc'}}],"
        "  'droppedAttributesCount':1},'schemaUrl':'https://opentelemetry.io/schemas/1.21.0',"
        " 'scopeSpans':[{'scope':{'name':'lib','version':'2','attributes':[{'key':'k','value':{"
        "'boolValue':false}}],"
        "   'droppedAttributesCount':2},'schemaUrl':'s1',"
        "  'spans':[{'traceId':'0102030405060708090a0b0c0d0e0f10','spanId':'1112131415161718',"
        "   'traceState':'a=b','parentSpanId':'2122232425262728','flags':769,'name':'op','kind':3,"
        "   'startTimeUnixNano':'1000','endTimeUnixNano':'2000',"
        "   'attributes':[{'key':'x','value':{'doubleValue':1.25}}],'droppedAttributesCount':4,"
        "   'events':[{'timeUnixNano':'1500','name':'ev','attributes':[{'key':'e','value':{'intValue':'1'}}],"
        "     'droppedAttributesCount':5}],'droppedEventsCount':6,"
        "   'links':[{'traceId':'a1a2a3a4a5a6a7a8a9aaabacadaeafb0','spanId':'b1b2b3b4b5b6b7b8',"
        "'traceState':'c=d',"
        "     'attributes':[{'key':'l','value':{'stringValue':'v'}}],'droppedAttributesCount':7,'flags':1}],"
        "   'droppedLinksCount':8,'status':{'message':'bad','code':2}}]}]}],"
        "'resourceLogs':[{'resource':{},'scopeLogs':[{'scope':{'name':'logger'},"
        "  'logRecords':[{'timeUnixNano':'11','observedTimeUnixNano':'12','severityNumber':13,"
        "   'severityText':'WARN','body':{'kvlistValue':{'values':[{'key':'k','value':"
        "   {'arrayValue':{'values':[{'intValue':'1'},{'kvlistValue':{}},{}]}}}]}},"
        "   'attributes':[{'key':'a','value':{}}],"
        "   'droppedAttributesCount':14,'flags':1,'traceId':'0102030405060708090a0b0c0d0e0f10',"
        "   'spanId':'1112131415161718','eventName':'evt'}]}]}],"
        "'resourceMetrics':[{'resource':{'attributes':[{'key':'r','value':{'stringValue':'m'}}]},"
        " 'scopeMetrics':[{'scope':{'name':'meter'},'metrics':["
        "  {'name':'g','description':'d','unit':'ms','metadata':[{'key':'md','value':{'stringValue':'1'}}],"
        "   'gauge':{'dataPoints':[{'attributes':[{'key':'p','value':{'stringValue':'q'}}],"
        "    'startTimeUnixNano':'1','timeUnixNano':'2','asInt':'-3','flags':1,"
        "    'exemplars':[{'filteredAttributes':[{'key':'f','value':{'stringValue':'g'}}],'timeUnixNano':'3',"
        "     'asDouble':0.5,'spanId':'1112131415161718','traceId':'0102030405060708090a0b0c0d0e0f10'},"
        "     {'asInt':'7'}]}]}},"
        "  {'name':'s','sum':{'dataPoints':[{'asDouble':0},{}],'aggregationTemporality':1,'isMonotonic':"
        "true}},"
        "  {'name':'h','histogram':{'dataPoints':[{'count':'5','sum':0,'bucketCounts':['1','2','2'],"
        "    'explicitBounds':[-1.5,2],'min':-3,'max':4,'exemplars':[{'asInt':'1'}]},{'count':'1'}],"
        "   'aggregationTemporality':2}},"
        "  {'name':'e','exponentialHistogram':{'dataPoints':[{'count':'9','sum':12.5,'scale':-2,"
        "'zeroCount':'1',"
        "    'positive':{'offset':-3,'bucketCounts':['1','0','4']},'negative':{'offset':2,'bucketCounts':["
        "'3']},"
        "    'flags':1,'min':0,'max':9,'zeroThreshold':1e-9,'exemplars':[{'asDouble':2}]}],"
        "   'aggregationTemporality':1}},"
        "  {'name':'q','summary':{'dataPoints':[{'count':'4','sum':10,'quantileValues':[{'quantile':0.5,"
        "    'value':2},{'quantile':1,'value':7}],'timeUnixNano':'5'}]}},"
        "  {'name':'none'}]}]}]}";

static void check_full(const sonde_batch *b)
{
	assert_int_equal(b->spans_count, 1);
	assert_int_equal(b->logs_count, 1);
	assert_int_equal(b->metrics_count, 6);
	const sonde_span_data *s = &b->spans[0];
	assert_int_equal(s->resource->dropped_attrs_count, 1);
	assert_str(s->resource->schema_url, "https://opentelemetry.io/schemas/1.21.0");
	assert_str(s->scope->version, "2");
	assert_int_equal(s->scope->dropped_attrs_count, 2);
	assert_str(s->scope->schema_url, "s1");
	assert_int_equal(s->trace_id[15], 0x10);
	assert_int_equal(s->span_id[0], 0x11);
	assert_int_equal(s->parent_span_id[7], 0x28);
	assert_str(s->trace_state, "a=b");
	assert_int_equal(s->flags, 769);
	assert_int_equal(s->dropped_attrs_count, 4);
	assert_int_equal(s->events_count, 1);
	assert_true(s->events[0].time_ns == 1500);
	assert_str(s->events[0].name, "ev");
	assert_int_equal(s->events[0].dropped_attrs_count, 5);
	assert_int_equal(s->dropped_events_count, 6);
	assert_int_equal(s->links_count, 1);
	assert_int_equal(s->links[0].trace_id[0], 0xa1);
	assert_int_equal(s->links[0].span_id[7], 0xb8);
	assert_str(s->links[0].trace_state, "c=d");
	assert_int_equal(s->links[0].dropped_attrs_count, 7);
	assert_int_equal(s->links[0].flags, 1);
	assert_int_equal(s->dropped_links_count, 8);
	assert_int_equal(s->status_code, SONDE_STATUS_ERROR);
	assert_str(s->status_message, "bad");

	const sonde_log_data *l = &b->logs[0];
	assert_true(l->observed_time_ns == 12);
	assert_int_equal(l->dropped_attrs_count, 14);
	assert_int_equal(l->flags, 1);
	assert_str(l->event_name, "evt");
	assert_int_equal(l->attrs.items[0].value.kind, SONDE_VAL_EMPTY);
	const sonde_value *arr = &l->body.u.kvlist.items[0].value;
	assert_int_equal(arr->kind, SONDE_VAL_ARRAY);
	assert_int_equal(arr->u.array.count, 3);
	assert_int_equal(arr->u.array.items[1].kind, SONDE_VAL_KVLIST);
	assert_int_equal(arr->u.array.items[1].u.kvlist.count, 0);
	assert_int_equal(arr->u.array.items[2].kind, SONDE_VAL_EMPTY);

	const sonde_metric_data *m = &b->metrics[0];
	assert_int_equal(m->type, SONDE_METRIC_GAUGE);
	assert_str(m->metadata.items[0].key, "md");
	const sonde_point *p = &m->points[0];
	assert_int_equal(p->u.number.kind, SONDE_NUM_INT);
	assert_true(p->u.number.v.i == -3);
	assert_int_equal(p->exemplars_count, 2);
	assert_int_equal(p->exemplars[0].value_kind, SONDE_NUM_DOUBLE);
	assert_true(p->exemplars[0].value.d == 0.5);
	assert_int_equal(p->exemplars[0].span_id[0], 0x11);
	assert_str(p->exemplars[0].filtered_attrs.items[0].key, "f");
	assert_int_equal(p->exemplars[1].value_kind, SONDE_NUM_INT);
	m = &b->metrics[1];
	assert_int_equal(m->points[0].u.number.kind, SONDE_NUM_DOUBLE);
	assert_int_equal(m->points[1].u.number.kind, SONDE_NUM_NONE);
	m = &b->metrics[2];
	assert_true(m->points[0].u.hist.has_sum);
	assert_false(m->points[1].u.hist.has_sum);
	assert_true(m->points[0].u.hist.bounds[0] == -1.5);
	assert_true(m->points[0].u.hist.min == -3);
	m = &b->metrics[3];
	p = &m->points[0];
	assert_int_equal(p->u.exp.scale, -2);
	assert_int_equal(p->u.exp.positive.offset, -3);
	assert_int_equal(p->u.exp.positive.count, 3);
	assert_int_equal(p->u.exp.negative.offset, 2);
	assert_int_equal(p->u.exp.negative.counts[0], 3);
	assert_true(p->u.exp.zero_threshold == 1e-9);
	assert_int_equal(p->flags, 1);
	m = &b->metrics[4];
	assert_int_equal(m->type, SONDE_METRIC_SUMMARY);
	assert_int_equal(m->points[0].u.summary.count, 4);
	assert_int_equal(m->points[0].u.summary.quantiles_count, 2);
	assert_true(m->points[0].u.summary.quantiles[1].value == 7);
	assert_int_equal(b->metrics[5].type, SONDE_METRIC_NONE);
}

static void test_every_field(void **state)
{
	(void)state;
	sonde_batch *b = rd(full_doc);
	check_full(b);
	round_trip(b);
	/* Defaults are omitted, set optionals are kept. */
	char *out = write_sig(b, SONDE_SIGNAL_METRICS);
	assert_contains(out, "{\"dataPoints\":[{\"asDouble\":0},{}],");
	assert_contains(out, "\"count\":\"5\",\"sum\":0,");
	assert_contains(out, "\"zeroThreshold\":1e-9");
	free(out);
	sonde_batch_free(b);
}

/* Replaces each '@' in doc with ins. */
static char *splice(const char *doc, const char *ins)
{
	size_t n = 0, k = strlen(ins);
	for (const char *p = doc; *p; p++)
		n += *p == '@' ? k : 1;
	char *out = malloc(n + 1), *o = out;
	assert_non_null(out);
	for (const char *p = doc; *p; p++) {
		if (*p == '@') {
			memcpy(o, ins, k);
			o += k;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

static void test_unknown_fields_and_nulls(void **state)
{
	(void)state;
	/* Put an extra member at the start of every object of full_doc: "{" -> "{@". */
	char *marked = splice(full_doc, "");
	size_t n = strlen(marked);
	char *doc = malloc(n * 2 + 1), *o = doc;
	for (size_t i = 0; i < n; i++) {
		*o++ = marked[i];
		if (marked[i] == '{')
			*o++ = '@';
	}
	*o = '\0';
	sonde_batch *want = rd(full_doc);
	static const char *const extras[] = {
	        "'zzUnknown':{'a':[1,{'b':null}],'traceId':'not hex'},",
	        "'instrumentationLibrarySpans':[],",
	        "'future_field':'x','another':12.5e3,'flag':true,'nothing':null,",
	        /* Known names in the wrong message are unknown there, and null is absence. */
	        "'kind':null,'dataPoints':null,'spans':null,'values':null,",
	};
	for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
		char *d = splice(doc, extras[i]);
		/* "{@}" leaves a trailing comma before '}': drop it. */
		for (char *p = d; (p = strstr(p, ",}")) != NULL;)
			memmove(p, p + 1, strlen(p));
		sonde_batch *b = rd(d);
		assert_batches_equal(want, b, extras[i]);
		sonde_batch_free(b);
		free(d);
	}
	free(doc);
	free(marked);
	sonde_batch_free(want);

	/* null members read as absent. */
	sonde_batch *b = rd("{'resourceSpans':[{'resource':null,'schemaUrl':null,'scopeSpans':[{'scope':null,"
	                    "'spans':[{'traceId':null,'name':null,'kind':null,'attributes':null,'events':"
	                    "null,"
	                    "'status':null,'startTimeUnixNano':null}]}]}],'resourceLogs':null,"
	                    "'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'name':'x','sum':null,"
	                    "'gauge':{'dataPoints':[{'asDouble':null,'attributes':[{'key':'k','value':"
	                    "null}]}]}}]}]}]}");
	assert_int_equal(b->spans_count, 1);
	assert_str(b->spans[0].name, "");
	assert_int_equal(b->spans[0].attrs.count, 0);
	assert_int_equal(b->spans[0].kind, 0);
	assert_int_equal(b->metrics[0].type, SONDE_METRIC_GAUGE);
	assert_int_equal(b->metrics[0].points[0].u.number.kind, SONDE_NUM_NONE);
	assert_int_equal(b->metrics[0].points[0].attrs.items[0].value.kind, SONDE_VAL_EMPTY);
	sonde_batch_free(b);

	/* Unknown members are skipped whatever they hold, but they must still be JSON. */
	rd_bad("{'x':[1,2,}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'x':{'y':]}}]}]}]}");
}

static void test_snake_case(void **state)
{
	(void)state;
	sonde_batch *camel = rd(full_doc);
	static const char *const names[] = {
	        "resourceSpans",
	        "resourceMetrics",
	        "resourceLogs",
	        "scopeSpans",
	        "scopeMetrics",
	        "scopeLogs",
	        "schemaUrl",
	        "logRecords",
	        "droppedAttributesCount",
	        "traceId",
	        "spanId",
	        "traceState",
	        "parentSpanId",
	        "startTimeUnixNano",
	        "endTimeUnixNano",
	        "droppedEventsCount",
	        "droppedLinksCount",
	        "timeUnixNano",
	        "stringValue",
	        "boolValue",
	        "intValue",
	        "doubleValue",
	        "arrayValue",
	        "kvlistValue",
	        "bytesValue",
	        "observedTimeUnixNano",
	        "severityNumber",
	        "severityText",
	        "eventName",
	        "exponentialHistogram",
	        "dataPoints",
	        "aggregationTemporality",
	        "isMonotonic",
	        "asDouble",
	        "asInt",
	        "filteredAttributes",
	        "bucketCounts",
	        "explicitBounds",
	        "zeroCount",
	        "zeroThreshold",
	        "quantileValues",
	};
	/* Rewrite every camelCase key to snake_case. */
	size_t n = strlen(full_doc);
	char *doc = malloc(n * 2 + 1);
	assert_non_null(doc);
	strcpy(doc, full_doc);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char from[64], to[64], *o = to;
		snprintf(from, sizeof(from), "'%s'", names[i]);
		for (const char *p = from; *p; p++) {
			if (*p >= 'A' && *p <= 'Z') {
				*o++ = '_';
				*o++ = (char)(*p - 'A' + 'a');
			} else {
				*o++ = *p;
			}
		}
		*o = '\0';
		char *p;
		while ((p = strstr(doc, from)) != NULL) {
			size_t fl = strlen(from), tl = strlen(to);
			memmove(p + tl, p + fl, strlen(p + fl) + 1);
			memcpy(p, to, tl);
		}
	}
	assert_non_null(strstr(doc, "'start_time_unix_nano'"));
	assert_null(strstr(doc, "'timeUnixNano'"));
	sonde_batch *snake = rd(doc);
	assert_batches_equal(camel, snake, "snake_case");
	check_full(snake);
	sonde_batch_free(snake);
	sonde_batch_free(camel);
	free(doc);
}

static void test_nan_and_infinity(void **state)
{
	(void)state;
	sonde_batch *b = rd("{'resourceMetrics':[{'scopeMetrics':[{'metrics':["
	                    "{'name':'h','histogram':{'dataPoints':[{'sum':'NaN','min':'-Infinity','max':"
	                    "'Infinity',"
	                    "  'explicitBounds':['-Infinity',0,'1.5']}]}},"
	                    "{'name':'g','gauge':{'dataPoints':[{'asDouble':'NaN'}]}},"
	                    "{'name':'q','summary':{'dataPoints':[{'sum':'Infinity','quantileValues':[{"
	                    "'value':'NaN'}]}]}}]}]}],"
	                    "'resourceLogs':[{'scopeLogs':[{'logRecords':[{'body':{'doubleValue':"
	                    "'-Infinity'}}]}]}]}");
	const sonde_point *p = &b->metrics[0].points[0];
	assert_true(isnan(p->u.hist.sum));
	assert_true(isinf(p->u.hist.min) && p->u.hist.min < 0);
	assert_true(isinf(p->u.hist.max) && p->u.hist.max > 0);
	assert_true(isinf(p->u.hist.bounds[0]));
	assert_true(p->u.hist.bounds[2] == 1.5);
	assert_true(isnan(b->metrics[1].points[0].u.number.v.d));
	assert_true(isinf(b->metrics[2].points[0].u.summary.sum));
	assert_true(isnan(b->metrics[2].points[0].u.summary.quantiles[0].value));
	assert_true(isinf(b->logs[0].body.u.d));
	char *out = write_sig(b, SONDE_SIGNAL_METRICS);
	assert_contains(out, "\"sum\":\"NaN\"");
	assert_contains(out, "\"explicitBounds\":[\"-Infinity\",0,1.5]");
	free(out);
	round_trip(b);
	sonde_batch_free(b);
	rd_bad("{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'gauge':{'dataPoints':[{'asDouble':"
	       "'nan'}]}}]}]}]}");
	rd_bad("{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'gauge':{'dataPoints':[{'asDouble':"
	       "true}]}}]}]}]}");
}

/* Builds a log whose body nests depth arrays, each holding the next one. */
static char *nested_doc(int depth)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_buf_puts(&b, "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":");
	for (int i = 1; i < depth; i++)
		sonde_buf_puts(&b, i % 2 ? "{\"arrayValue\":{\"values\":["
		                         : "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":");
	sonde_buf_puts(&b, "{\"intValue\":\"1\"}");
	for (int i = depth - 1; i >= 1; i--)
		sonde_buf_puts(&b, i % 2 ? "]}}" : "}]}}");
	sonde_buf_puts(&b, "}]}]}]}");
	assert_false(b.oom);
	return sonde_buf_detach(&b, NULL);
}

static void test_nested_values_and_depth(void **state)
{
	(void)state;
	sonde_batch *b = rd("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'body':{'arrayValue':{'values':["
	                    "{'arrayValue':{'values':[{'stringValue':'a'},{'arrayValue':{}}]}},"
	                    "{'kvlistValue':{'values':[{'key':'x','value':{'arrayValue':{'values':[{"
	                    "'boolValue':true}]}}},"
	                    "  {'key':'y'},{'value':{'intValue':'2'}}]}},"
	                    "{},{'stringValue':''}]}}}]}]}]}");
	const sonde_value *v = &b->logs[0].body;
	assert_int_equal(v->kind, SONDE_VAL_ARRAY);
	assert_int_equal(v->u.array.count, 4);
	const sonde_value *inner = &v->u.array.items[0];
	assert_int_equal(inner->u.array.count, 2);
	assert_str(inner->u.array.items[0].u.str, "a");
	assert_int_equal(inner->u.array.items[1].kind, SONDE_VAL_ARRAY);
	assert_int_equal(inner->u.array.items[1].u.array.count, 0);
	const sonde_value *kv = &v->u.array.items[1];
	assert_int_equal(kv->kind, SONDE_VAL_KVLIST);
	assert_int_equal(kv->u.kvlist.count, 3);
	assert_true(kv->u.kvlist.items[0].value.u.array.items[0].u.b);
	assert_int_equal(kv->u.kvlist.items[1].value.kind, SONDE_VAL_EMPTY);
	assert_str(kv->u.kvlist.items[2].key, "");
	assert_int_equal(v->u.array.items[2].kind, SONDE_VAL_EMPTY);
	assert_int_equal(v->u.array.items[3].kind, SONDE_VAL_STRING);
	assert_non_null(v->u.array.items[3].u.str.ptr);
	round_trip(b);
	sonde_batch_free(b);

	/* 64 levels are fine, 65 are not. */
	char *doc = nested_doc(SONDE_OTLP_JSON_MAX_VALUE_DEPTH);
	b = new_batch();
	read_into(b, doc);
	round_trip(b);
	sonde_batch_free(b);
	free(doc);
	doc = nested_doc(SONDE_OTLP_JSON_MAX_VALUE_DEPTH + 1);
	b = new_batch();
	sonde_wire_error err;
	assert_int_equal(sonde_otlp_json_read(b, doc, strlen(doc), &err), SONDE_EPARSE);
	assert_non_null(strstr(err.msg, "64"));
	assert_int_equal(b->logs_count, 0);
	free(doc);
	/* Much deeper input stops at the JSON reader's limit or ours, without recursion trouble. */
	doc = nested_doc(5000);
	assert_int_equal(sonde_otlp_json_read(b, doc, strlen(doc), &err), SONDE_EPARSE);
	free(doc);

	/* The writer refuses values the reader would refuse, and leaves out as it was. */
	sonde_value *chain = sonde_batch_alloc(b, sizeof(sonde_value) * 70);
	for (int i = 0; i < 69; i++) {
		chain[i].kind = SONDE_VAL_ARRAY;
		chain[i].u.array.items = &chain[i + 1];
		chain[i].u.array.count = 1;
	}
	chain[69].kind = SONDE_VAL_INT;
	sonde_log_data *l = sonde_batch_add_log(b, sonde_batch_new_resource(b), sonde_batch_new_scope(b));
	l->body = chain[0];
	sonde_buf out = SONDE_BUF_INIT;
	sonde_buf_puts(&out, "keep");
	assert_int_equal(sonde_otlp_json_write(b, SONDE_SIGNAL_LOGS, &out, 0), -EINVAL);
	assert_string_equal(out.data, "keep");
	assert_int_equal(sonde_otlp_jsonl_write(b, &out), -EINVAL);
	assert_string_equal(out.data, "keep");
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

static void test_ids(void **state)
{
	(void)state;
	sonde_batch *b = rd("{'resourceSpans':[{'scopeSpans':[{'spans':["
	                    "{'traceId':'ABCDEFabcdef0123456789ABCDEFabcd','spanId':'','parentSpanId':''},"
	                    "{'spanId':'00000000000000FF'}]}]}]}");
	assert_int_equal(b->spans[0].trace_id[0], 0xab);
	assert_int_equal(b->spans[0].trace_id[3], 0xab);
	assert_true(sonde_id_is_zero(b->spans[0].span_id, 8));
	assert_true(sonde_id_is_zero(b->spans[1].trace_id, 16));
	assert_int_equal(b->spans[1].span_id[7], 0xff);
	char *out = write_sig(b, SONDE_SIGNAL_TRACES);
	assert_contains(out, "\"traceId\":\"abcdefabcdef0123456789abcdefabcd\"");
	assert_contains(out, "{\"spanId\":\"00000000000000ff\"}");
	assert_not_contains(out, "parentSpanId");
	free(out);
	round_trip(b);
	sonde_batch_free(b);

	sonde_wire_error e = rd_bad("{'resourceSpans':[{'scopeSpans':[{},{'spans':[{},{'traceId':"
	                            "'0102'}]}]}]}");
	assert_string_equal(e.field, "resourceSpans[0].scopeSpans[1].spans[1].traceId");
	assert_string_equal(e.msg, "expected 32 hex digits");
	e = rd_bad("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'spanId':'0102030405060708AA'}]}]}]}");
	assert_string_equal(e.field, "resourceLogs[0].scopeLogs[0].logRecords[0].spanId");
	assert_string_equal(e.msg, "expected 16 hex digits");
	e = rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'links':[{'spanId':"
	           "'zz02030405060708'}]}]}]}]}");
	assert_string_equal(e.field, "resourceSpans[0].scopeSpans[0].spans[0].links[0].spanId");
	rd_bad("{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'gauge':{'dataPoints':[{'exemplars':[{"
	       "'traceId':'AQIDBAUGBwgJCgsMDQ4PEA=='}]}]}}]}]}]}");
	rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'traceId':1}]}]}]}");
}

/* ---- Structure, errors, JSON lines, ranges --------------------------------------- */

static void test_grouping(void **state)
{
	(void)state;
	/* "resource" after "scopeSpans", two resources with two scopes each, an empty scope. */
	sonde_batch *b = rd("{'resourceSpans':["
	                    "{'scopeSpans':[{'spans':[{'name':'a'},{'name':'b'}],'scope':{'name':'s1'}},"
	                    "  {'scope':{'name':'s2'},'spans':[{'name':'c'}]},{'scope':{'name':'empty'}}],"
	                    " 'resource':{'attributes':[{'key':'r','value':{'intValue':'1'}}]}},"
	                    "{'resource':{'attributes':[{'key':'r','value':{'intValue':'2'}}]},"
	                    " 'scopeSpans':[{'scope':{'name':'s1'},'spans':[{'name':'d'}]},{'spans':[{"
	                    "'name':'e'}]}]}]}");
	assert_int_equal(b->spans_count, 5);
	assert_ptr_equal(b->spans[0].resource, b->spans[2].resource);
	assert_ptr_equal(b->spans[0].scope, b->spans[1].scope);
	assert_ptr_not_equal(b->spans[1].scope, b->spans[2].scope);
	assert_ptr_not_equal(b->spans[2].resource, b->spans[3].resource);
	assert_true(sonde_attrs_get(&b->spans[0].resource->attrs, "r")->u.i == 1);
	assert_true(sonde_attrs_get(&b->spans[3].resource->attrs, "r")->u.i == 2);
	assert_str(b->spans[0].scope->name, "s1");
	assert_str(b->spans[2].scope->name, "s2");
	assert_str(b->spans[4].scope->name, "");
	round_trip(b);
	char *out = write_sig(b, SONDE_SIGNAL_TRACES);
	const char *p = out;
	int resources = 0, scopes = 0;
	while ((p = strstr(p, "\"scopeSpans\"")) != NULL)
		resources++, p++;
	for (p = out; (p = strstr(p, "\"spans\"")) != NULL; p++)
		scopes++;
	assert_int_equal(resources, 2);
	assert_int_equal(scopes, 4);
	free(out);
	sonde_batch_free(b);

	/* An empty request, and one per signal in one document. */
	b = rd("{}");
	assert_int_equal(b->spans_count + b->logs_count + b->metrics_count, 0);
	out = write_sig(b, SONDE_SIGNAL_LOGS);
	assert_string_equal(out, "{}");
	free(out);
	read_into(b, q(" {'resourceSpans':[],'resourceLogs':[{}],'resourceMetrics':[{'scopeMetrics':["
	               "]}]} \n"));
	assert_int_equal(b->spans_count + b->logs_count + b->metrics_count, 0);
	sonde_batch_free(b);
}

static void test_malformed(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "   ",
	        "null",
	        "[]",
	        "'resourceSpans'",
	        "{",
	        "{'resourceSpans':[",
	        "{'resourceSpans':{}}",
	        "{'resourceSpans':[[]]}",
	        "{'resourceSpans':[{'scopeSpans':{}}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[1]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':1}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':'a'}]}]}]} x",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':'a'}]}]}]}{}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':'a',}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'name' 'a'}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':{}}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':1}]}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'k','value':'v'}]}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'k','value':{"
	        "'stringValue':1}}]}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'k','value':{"
	        "'boolValue':'true'}}]}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'k','value':{"
	        "'arrayValue':[]}}]}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'k','value':{"
	        "'kvlistValue':{'values':[1]}}}]}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'events':[{'name':'e','timeUnixNano':"
	        "'x'}]}]}]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'spans':[{'status':[]}]}]}]}",
	        "{'resourceSpans':[{'resource':[],'scopeSpans':[]}]}",
	        "{'resourceSpans':[{'scopeSpans':[{'scope':{'name':false}}]}]}",
	        "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'sum':{'isMonotonic':1}}]}]}]}",
	        "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'histogram':{'dataPoints':[{"
	        "'bucketCounts':[1,'x']}]}}]}]}]}",
	        "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'histogram':{'dataPoints':[{"
	        "'explicitBounds':'1'}]}}]}]}]}",
	        "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'exponentialHistogram':{'dataPoints':[{"
	        "'scale':2147483648}]}}]}]}]}",
	        "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'exponentialHistogram':{'dataPoints':[{"
	        "'positive':{'offset':'a'}}]}}]}]}]}",
	        "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[{'summary':{'dataPoints':[{"
	        "'quantileValues':[{'quantile':'x'}]}]}}]}]}]}",
	        "{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'body':'text'}]}]}]}",
	        "{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'severityText':'\\x'}]}]}]}",
	        "{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'severityText':'a\x01'}]}]}]}",
	        "{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'severityText':'\xff'}]}]}]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		rd_bad(bad[i]);

	/* Offsets and fields point at the problem. */
	const char *doc = "{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':'a'},{'name':7}]}]}]}";
	sonde_wire_error e = rd_bad(doc);
	assert_int_equal(e.offset, (size_t)(strstr(doc, "7}") - doc));
	assert_int_equal(e.line, 1);
	assert_string_equal(e.field, "resourceSpans[0].scopeSpans[0].spans[1].name");
	assert_string_equal(e.msg, "expected string");
	doc = "{'resourceMetrics':[{'scopeMetrics':[{'metrics':[\n{'name':'m',\n'gauge':{'dataPoints':[{"
	      "'unknownField':[}]}}]}]}]}";
	e = rd_bad(doc);
	assert_int_equal(e.line, 3);
	assert_int_equal(e.offset, (size_t)(strstr(doc, "}]}}]") - doc));
	assert_string_equal(e.field, "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints["
	                             "0].unknownField");
	e = rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'k','value':{"
	           "'arrayValue':{'values':[{'intValue':'x'}]}}}]}]}]}]}");
	assert_string_equal(e.field, "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.arrayValue."
	                             "values[0].intValue");
	/* A path too long for the field keeps its end. */
	char *deep = nested_doc(20);
	char *x = strstr(deep, "\"1\"");
	x[1] = 'x';
	sonde_batch *db = new_batch();
	assert_int_equal(sonde_otlp_json_read(db, deep, strlen(deep), &e), SONDE_EPARSE);
	assert_int_equal(strncmp(e.field, "...", 3), 0);
	assert_int_equal(strlen(e.field), sizeof(e.field) - 1);
	assert_string_equal(e.field + strlen(e.field) - 25, "yValue.values[0].intValue");
	sonde_batch_free(db);
	free(deep);
	e = rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'attributes':[{'key':'a','value':{}},"
	           "7]}]}]}]}");
	assert_string_equal(e.field, "resourceSpans[0].scopeSpans[0].spans[0].attributes[1]");
	assert_string_equal(e.msg, "expected object");
	e = rd_bad("{'resourceSpans':[{'scopeSpans':[{'spans':[{'status':{'code':0}x}]}]}]}");
	assert_string_equal(e.field, "resourceSpans[0].scopeSpans[0].spans[0].status");

	/* A NULL err is allowed. */
	sonde_batch *b = new_batch();
	assert_int_equal(sonde_otlp_json_read(b, "{", 1, NULL), SONDE_EPARSE);
	/* Input is not NUL-terminated: only len bytes are read. */
	assert_int_equal(sonde_otlp_json_read(b, "{}xyz", 2, NULL), 0);
	sonde_batch_free(b);
}

static void test_truncations(void **state)
{
	(void)state;
	/* Every proper prefix of a valid document fails cleanly and leaves the batch empty. */
	const char *doc = q(full_doc);
	size_t n = strlen(doc);
	char *copy = malloc(n);
	assert_non_null(copy);
	sonde_batch *b = new_batch();
	for (size_t i = 0; i < n; i++) {
		memcpy(copy, doc, i);
		sonde_wire_error err;
		int rc = sonde_otlp_json_read(b, copy, i, &err);
		if (rc != SONDE_EPARSE)
			fail_msg("prefix of %zu bytes: %d", i, rc);
		assert_int_equal(b->spans_count + b->logs_count + b->metrics_count, 0);
		assert_true(err.offset <= i);
	}
	free(copy);
	sonde_batch_free(b);
}

static void test_jsonl(void **state)
{
	(void)state;
	char lines[2048];
	snprintf(lines, sizeof(lines), "%s",
	         q("{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':'one'}]}]}]}\n"
	           "\n"
	           "  \r\n"
	           "{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'severityText':'two'}]}]}]}\r\n"
	           "{}\n"
	           "{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':'three'}]}]}]}"));
	sonde_batch *b = new_batch();
	sonde_wire_error err;
	assert_int_equal(sonde_otlp_jsonl_read(b, lines, strlen(lines), &err), 0);
	assert_int_equal(b->spans_count, 2);
	assert_int_equal(b->logs_count, 1);
	assert_str(b->spans[1].name, "three");
	/* Each line is its own request: its own resource. */
	assert_ptr_not_equal(b->spans[0].resource, b->spans[1].resource);
	assert_str(b->logs[0].severity_text, "two");
	round_trip(b);

	/* An error on line 3 names line 3, counts the offset from the start of the input, and
	 * adds nothing, not even the good lines before it. */
	snprintf(lines, sizeof(lines), "%s",
	         q("{'resourceSpans':[{'scopeSpans':[{'spans':[{'name':'ok'}]}]}]}\n"
	           "{'resourceLogs':[{'scopeLogs':[{'logRecords':[{'severityText':'ok'}]}]}]}\n"
	           "{'resourceSpans':[{'scopeSpans':[{'spans':[{'kind':9}]}]}]}\n"
	           "{}\n"));
	memset(&err, 0, sizeof(err));
	assert_int_equal(sonde_otlp_jsonl_read(b, lines, strlen(lines), &err), SONDE_EPARSE);
	assert_int_equal(err.line, 3);
	assert_int_equal(err.offset, (size_t)(strstr(lines, "9}") - lines));
	assert_string_equal(err.field, "resourceSpans[0].scopeSpans[0].spans[0].kind");
	assert_int_equal(b->spans_count, 2);
	assert_int_equal(b->logs_count, 1);
	/* A document split over two lines is two broken lines. */
	snprintf(lines, sizeof(lines), "%s", q("{}\n{'resourceSpans':\n[]}\n"));
	assert_int_equal(sonde_otlp_jsonl_read(b, lines, strlen(lines), &err), SONDE_EPARSE);
	assert_int_equal(err.line, 2);
	/* Empty input and blank lines only: nothing to add, no error. */
	assert_int_equal(sonde_otlp_jsonl_read(b, "", 0, &err), 0);
	assert_int_equal(sonde_otlp_jsonl_read(b, "\n \n\t\n", 5, &err), 0);
	assert_int_equal(b->spans_count, 2);

	/* The writer: one line per non-empty signal, traces, metrics, logs. */
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_jsonl_write(b, &out), 0);
	assert_int_equal(out.data[out.len - 1], '\n');
	char *nl = strchr(out.data, '\n');
	assert_non_null(nl);
	assert_true(strncmp(out.data, "{\"resourceSpans\"", 16) == 0);
	assert_true(strncmp(nl + 1, "{\"resourceLogs\"", 15) == 0);
	assert_ptr_equal(strchr(nl + 1, '\n'), out.data + out.len - 1);
	sonde_buf_release(&out);
	sonde_batch_free(b);
	b = new_batch();
	assert_int_equal(sonde_otlp_jsonl_write(b, &out), 0);
	assert_int_equal(out.len, 0);
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

static void test_write_range(void **state)
{
	(void)state;
	sonde_batch *b = rd("{'resourceSpans':["
	                    "{'resource':{'attributes':[{'key':'r','value':{'intValue':'1'}}]},"
	                    " 'scopeSpans':[{'scope':{'name':'a'},'spans':[{'name':'0'},{'name':'1'}]},"
	                    "  {'scope':{'name':'b'},'spans':[{'name':'2'}]}]},"
	                    "{'resource':{'attributes':[{'key':'r','value':{'intValue':'2'}}]},"
	                    " 'scopeSpans':[{'scope':{'name':'c'},'spans':[{'name':'3'},{'name':'4'}]}]}]}");
	assert_int_equal(b->spans_count, 5);
	for (size_t first = 0; first <= 5; first++) {
		for (size_t count = 0; first + count <= 5; count++) {
			sonde_buf out = SONDE_BUF_INIT;
			int pretty = (int)(count % 3);
			int rc = sonde_otlp_json_write_range(b, SONDE_SIGNAL_TRACES, first, count, &out,
			                                     pretty);
			assert_int_equal(rc, 0);
			sonde_batch *part = new_batch();
			read_into(part, out.data);
			assert_int_equal(part->spans_count, count);
			/* The same spans, and groups that start where the source's do. */
			const sonde_span_data *src = &b->spans[first], *got = part->spans;
			for (size_t i = 0; i < count; i++) {
				assert_true(sonde_span_data_equal(&got[i], &src[i]));
				if (i == 0)
					continue;
				assert_int_equal(got[i].resource == got[i - 1].resource,
				                 src[i].resource == src[i - 1].resource);
				assert_int_equal(got[i].scope == got[i - 1].scope,
				                 src[i].scope == src[i - 1].scope);
			}
			sonde_batch_free(part);
			sonde_buf_release(&out);
		}
	}
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_json_write_range(b, SONDE_SIGNAL_TRACES, 4, 2, &out, 0), -EINVAL);
	assert_int_equal(sonde_otlp_json_write_range(b, SONDE_SIGNAL_TRACES, 6, 0, &out, 0), -EINVAL);
	assert_int_equal(sonde_otlp_json_write_range(b, SONDE_SIGNAL_TRACES, 1, SIZE_MAX, &out, 0), -EINVAL);
	assert_int_equal(sonde_otlp_json_write_range(b, SONDE_SIGNAL_LOGS, 0, 1, &out, 0), -EINVAL);
	assert_int_equal(out.len, 0);
	/* Output is appended to what the buffer holds. */
	sonde_buf_puts(&out, "x");
	assert_int_equal(sonde_otlp_json_write_range(b, SONDE_SIGNAL_TRACES, 0, 0, &out, 0), 0);
	assert_string_equal(out.data, "x{}");
	sonde_buf_release(&out);
	sonde_batch_free(b);
}

static void test_escapes_and_strings(void **state)
{
	(void)state;
	sonde_batch *b = rd("{'resourceLogs':[{'scopeLogs':[{'logRecords':[{"
	                    "'body':{'stringValue':"
	                    "'line\\nbreak \\'q\\' \\\\ \\u00e9\\ud83d\\ude00 \\u0000end'},"
	                    "'attributes':[{'key':'k\\u0065y','value':{'stringValue':'\\ud800'}}],"
	                    "'severityText':'\xc3\xa9t\xc3\xa9'}]}]}]}");
	const sonde_log_data *l = &b->logs[0];
	static const char want[] = "line\nbreak \"q\" \\ \xc3\xa9\xf0\x9f\x98\x80 \0end";
	assert_int_equal(l->body.u.str.len, sizeof(want) - 1);
	assert_memory_equal(l->body.u.str.ptr, want, sizeof(want) - 1);
	assert_str(l->attrs.items[0].key, "key");
	assert_str(l->attrs.items[0].value.u.str, "\xef\xbf\xbd");
	assert_str(l->severity_text, "\xc3\xa9t\xc3\xa9");
	round_trip(b);
	sonde_batch_free(b);
}

/* KeyValues the fast way and the reader's way: the same values, the same errors. */
static void test_attribute_forms(void **state)
{
	(void)state;
	static const char head[] = "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
	                           "\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\","
	                           "\"attributes\":[";
	static const char tail[] = "]}]}]}]}";
	static const struct {
		const char *kv;
		const char *key;
		sonde_value_kind kind;
		const char *str; /* SONDE_VAL_STRING */
		int64_t i;       /* SONDE_VAL_INT, SONDE_VAL_BOOL */
	} ok[] = {
	        {"{\"key\":\"a\",\"value\":{\"stringValue\":\"x\"}}", "a", SONDE_VAL_STRING, "x", 0},
	        {" { \"key\" : \"a\" ,\n\t\"value\" : { \"stringValue\" : \"a longer value of 40 bytes, past "
	         "16.\" } } ",
	         "a", SONDE_VAL_STRING, "a longer value of 40 bytes, past 16.", 0},
	        {"{\"key\":\"\",\"value\":{\"stringValue\":\"\"}}", "", SONDE_VAL_STRING, "", 0},
	        {"{\"key\":\"n\",\"value\":{\"intValue\":\"12\"}}", "n", SONDE_VAL_INT, NULL, 12},
	        {"{\"key\":\"n\",\"value\":{\"intValue\":12}}", "n", SONDE_VAL_INT, NULL, 12},
	        {"{\"key\":\"n\",\"value\":{\"intValue\":\"-5\"}}", "n", SONDE_VAL_INT, NULL, -5},
	        {"{\"key\":\"n\",\"value\":{\"intValue\":\"1234567890123456789\"}}", "n", SONDE_VAL_INT, NULL,
	         1234567890123456789ll},
	        {"{\"key\":\"n\",\"value\":{\"intValue\":1.2e1}}", "n", SONDE_VAL_INT, NULL, 12},
	        {"{\"key\":\"b\",\"value\":{\"boolValue\":true}}", "b", SONDE_VAL_BOOL, NULL, 1},
	        {"{\"key\":\"b\",\"value\":{\"boolValue\":false}}", "b", SONDE_VAL_BOOL, NULL, 0},
	        {"{\"key\":\"e\",\"value\":{\"stringValue\":\"caf\\u00e9\"}}", "e", SONDE_VAL_STRING,
	         "caf\xc3\xa9", 0},
	        {"{\"key\":\"e\",\"value\":{\"stringValue\":\"caf\xc3\xa9 and a few more bytes\"}}", "e",
	         SONDE_VAL_STRING, "caf\xc3\xa9 and a few more bytes", 0},
	        {"{\"key\":\"q\",\"value\":{\"stringValue\":\"say \\\"hi\\\"\"}}", "q", SONDE_VAL_STRING,
	         "say \"hi\"", 0},
	        {"{\"value\":{\"stringValue\":\"x\"},\"key\":\"late\"}", "late", SONDE_VAL_STRING, "x", 0},
	        {"{\"key\":\"a\",\"value\":{\"stringValue\":\"x\"},\"key\":\"again\"}", "again",
	         SONDE_VAL_STRING, "x", 0},
	        {"{\"key\":\"m\",\"value\":{\"stringValue\":\"x\",\"intValue\":\"3\"}}", "m", SONDE_VAL_INT,
	         NULL, 3},
	        {"{\"key\":\"d\",\"value\":{\"doubleValue\":2}}", "d", SONDE_VAL_DOUBLE, NULL, 2},
	        {"{\"key\":\"z\",\"value\":{}}", "z", SONDE_VAL_EMPTY, NULL, 0},
	        {"{\"key\":\"z\",\"value\":null}", "z", SONDE_VAL_EMPTY, NULL, 0},
	};
	for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
		char doc[512];
		snprintf(doc, sizeof doc, "%s%s%s", head, ok[k].kv, tail);
		sonde_batch *b = sonde_batch_new();
		sonde_wire_error err;
		int rc = sonde_otlp_json_read(b, doc, strlen(doc), &err);
		if (rc != 0)
			fail_msg("%s: %s", ok[k].kv, err.msg);
		assert_int_equal(b->spans[0].attrs.count, 1);
		const sonde_kv *kv = &b->spans[0].attrs.items[0];
		assert_str(kv->key, ok[k].key);
		assert_int_equal(kv->value.kind, ok[k].kind);
		if (ok[k].kind == SONDE_VAL_STRING)
			assert_str(kv->value.u.str, ok[k].str);
		else if (ok[k].kind == SONDE_VAL_INT)
			assert_true(kv->value.u.i == ok[k].i);
		else if (ok[k].kind == SONDE_VAL_BOOL)
			assert_int_equal(kv->value.u.b, ok[k].i);
		else if (ok[k].kind == SONDE_VAL_DOUBLE)
			assert_true(kv->value.u.d == (double)ok[k].i);
		sonde_batch_free(b);
	}
	/* Not JSON, or not a KeyValue: the same errors as token by token. */
	static const struct {
		const char *kv, *msg;
	} bad[] = {
	        {"{\"key\":\"a\",\"value\":{\"stringValue\":\"x\x01y\"}}", "control character"},
	        {"{\"key\":\"a\",\"value\":{\"stringValue\":\"x\xff\"}}", "UTF-8"},
	        {"{\"key\":\"a\",\"value\":{\"intValue\":\"0012\"}}", ""},
	        {"{\"key\":\"a\",\"value\":{\"intValue\":1.5}}", "integer"},
	        {"{\"key\":\"a\",\"value\":{\"boolValue\":tru}}", "expected value"},
	        {"{\"key\":\"a\",\"value\":{\"stringValue\":\"x\"}", "expected ',' or '}'"},
	        {"{\"key\":\"a\",\"value\":{\"stringValue\":\"x\"}}}", "expected ',' or ']'"},
	};
	for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
		char doc[512];
		snprintf(doc, sizeof doc, "%s%s%s", head, bad[k].kv, tail);
		sonde_batch *b = sonde_batch_new();
		sonde_wire_error err;
		if (sonde_otlp_json_read(b, doc, strlen(doc), &err) != SONDE_EPARSE)
			fail_msg("%s: read", bad[k].kv);
		if (!strstr(err.msg, bad[k].msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", bad[k].kv, err.msg, bad[k].msg);
		assert_int_equal(b->spans_count, 0);
		sonde_batch_free(b);
	}
}

/* Streaming: in exporter order every span is declared final as soon as it is read, with
 * its resource and scope already whole; a resource or scope set after spans of it makes
 * the read answer 1 with the batch as it was, and the whole read still takes it. */
typedef struct stream_seen {
	size_t calls, last;
	char service[2][16];
} stream_seen;

static int on_stream(void *ctx, sonde_batch *b, size_t final)
{
	stream_seen *s = ctx;
	s->calls++;
	assert_true(final >= s->last && final <= b->spans_count);
	for (size_t i = s->last; i < final && i < 2; i++) {
		const sonde_kv *kv =
		        b->spans[i].resource->attrs.count ? &b->spans[i].resource->attrs.items[0] : NULL;
		snprintf(s->service[i], sizeof s->service[i], "%.*s", kv ? (int)kv->value.u.str.len : 0,
		         kv ? kv->value.u.str.ptr : "");
	}
	s->last = final;
	return 0;
}

static void test_stream_order(void **state)
{
	(void)state;
	static const char ordered[] =
	        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
	        "{\"stringValue\":\"api\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},\"spans\":["
	        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203331\",\"name\":"
	        "\"a\"},"
	        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"b7ad6b7169203332\",\"name\":"
	        "\"b\"}"
	        "]}]}]}";
	static const char *const late[] = {
	        /* the resource after its scopeSpans */
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
	        "\"0af7651916cd43dd8448eb211c80319c\","
	        "\"spanId\":\"b7ad6b7169203331\"}]}],\"resource\":{\"attributes\":[{\"key\":\"service.name\","
	        "\"value\":{\"stringValue\":\"api\"}}]}}]}",
	        /* the scope after its spans */
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
	        "\"0af7651916cd43dd8448eb211c80319c\","
	        "\"spanId\":\"b7ad6b7169203331\"}],\"scope\":{\"name\":\"s\"}}]}]}",
	        /* a schemaUrl after the spans */
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
	        "\"0af7651916cd43dd8448eb211c80319c\","
	        "\"spanId\":\"b7ad6b7169203331\"}]}],\"schemaUrl\":\"https://s\"}]}",
	};
	stream_seen seen = {0};
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err;
	assert_int_equal(sonde_otlp_json_read_stream(b, ordered, strlen(ordered), &err, on_stream, &seen), 0);
	assert_int_equal(b->spans_count, 2);
	assert_true(seen.calls >= 2); /* after each span (and again at the group's end) */
	assert_int_equal(seen.last, 2);
	assert_string_equal(seen.service[0], "api");
	assert_string_equal(seen.service[1], "api");
	sonde_batch_free(b);

	for (size_t k = 0; k < sizeof late / sizeof late[0]; k++) {
		b = sonde_batch_new();
		memset(&seen, 0, sizeof seen);
		assert_int_equal(
		        sonde_otlp_json_read_stream(b, late[k], strlen(late[k]), &err, on_stream, &seen), 1);
		assert_int_equal(seen.calls, 1); /* the span was declared final, wrongly */
		assert_int_equal(b->spans_count, 0);
		assert_int_equal(sonde_otlp_json_read(b, late[k], strlen(late[k]), &err), 0);
		assert_int_equal(b->spans_count, 1);
		sonde_batch_free(b);
	}
	/* Members that change nothing of spans read may come late: no restart. */
	static const char fine[] =
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[]}],\"resource\":{}},"
	        "{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\","
	        "\"spanId\":\"b7ad6b7169203331\"}]},{\"scope\":{\"name\":\"t\"}}]}]}";
	b = sonde_batch_new();
	memset(&seen, 0, sizeof seen);
	assert_int_equal(sonde_otlp_json_read_stream(b, fine, strlen(fine), &err, on_stream, &seen), 0);
	assert_int_equal(b->spans_count, 1);
	sonde_batch_free(b);
}

/* got, span `at` of a streaming read, is the whole read's want: ids, times, attributes,
 * events, links, status, resource and scope (sonde_span_data_equal). */
static void expect_same_span(const sonde_span_data *got, const sonde_span_data *want, size_t at)
{
	if (!sonde_span_data_equal(got, want))
		fail_msg("span %zu (%s) differs from the whole read's (%s)", at, got->name.ptr,
		         want->name.ptr);
}

/* A callback that takes spans (they leave the batch, and the reader reuses their memory
 * once none read since is left): each span taken must hold what the whole read gives. */
typedef struct take_ctx {
	const sonde_batch *whole;
	size_t next, calls;
} take_ctx;

static int on_take(void *ctx, sonde_batch *b, size_t final)
{
	take_ctx *t = ctx;
	t->calls++;
	if (final < 5)
		return 0;
	/* Every other call leaves the last span behind, so memory is not reused then. */
	size_t n = t->calls % 2 ? final : final - 1;
	for (size_t i = 0; i < n; i++, t->next++)
		expect_same_span(&b->spans[i], &t->whole->spans[t->next], t->next);
	return (int)n;
}

static void test_stream_take(void **state)
{
	(void)state;
	sonde_buf doc = SONDE_BUF_INIT;
	sonde_buf_puts(&doc, "{\"resourceSpans\":[");
	for (int g = 0; g < 3; g++) {
		sonde_buf_printf(
		        &doc,
		        "%s{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
		        "{\"stringValue\":\"svc-%d\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"s\"},"
		        "\"spans\":[",
		        g ? "," : "", g);
		for (int i = 0; i < 700; i++) {
			int k = g * 1000 + i;
			sonde_buf_printf(
			        &doc,
			        "%s{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"%016x\","
			        "\"name\":\"op-%d\",\"traceState\":\"k=v%d\",\"attributes\":[{\"key\":\"url."
			        "full\","
			        "\"value\":{\"stringValue\":\"https://example.com/items/"
			        "%d?page=%d\"}},{\"key\":"
			        "\"n\",\"value\":{\"intValue\":\"%d\"}},{\"key\":\"raw\",\"value\":{"
			        "\"bytesValue\":"
			        "\"aGVsbG8gd29ybGQ=\"}},{\"key\":\"tags\",\"value\":{\"arrayValue\":{"
			        "\"values\":"
			        "[{\"stringValue\":\"alpha-%d\"},{\"stringValue\":\"beta-%d\"}]}}},{\"key\":"
			        "\"esc\","
			        "\"value\":{\"stringValue\":\"a\\\"quote\\\" "
			        "%d\"}}],\"events\":[{\"name\":\"ev\","
			        "\"attributes\":[{\"key\":\"detail\",\"value\":{\"stringValue\":\"event "
			        "detail %d\"}}]}],"
			        "\"links\":[{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":"
			        "\"b7ad6b7169203331\",\"traceState\":\"link-state-%d\"}],\"status\":{"
			        "\"code\":2,"
			        "\"message\":\"failure number %d\"}}",
			        i ? "," : "", k + 1, k % 13, k, k, k % 7, k, k, k, k, k, k, k);
		}
		sonde_buf_puts(&doc, "]}]}");
	}
	sonde_buf_puts(&doc, "]}");

	sonde_wire_error err;
	sonde_batch *whole = sonde_batch_new();
	/* Three spans already in the batch: taken first, from their own memory. */
	static const char pre[] =
	        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
	        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"00000000000000a1\","
	        "\"name\":\"pre-1\",\"status\":{\"message\":\"before the read\"}},"
	        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"00000000000000a2\","
	        "\"name\":\"pre-2\"},"
	        "{\"traceId\":\"0af7651916cd43dd8448eb211c80319c\",\"spanId\":\"00000000000000a3\","
	        "\"name\":\"pre-3\"}]}]}]}";
	assert_int_equal(sonde_otlp_json_read(whole, pre, strlen(pre), &err), 0);
	assert_int_equal(sonde_otlp_json_read(whole, (char *)doc.data, doc.len, &err), 0);
	assert_int_equal(whole->spans_count, 3 + 2100);

	sonde_batch *b = sonde_batch_new();
	assert_int_equal(sonde_otlp_json_read(b, pre, strlen(pre), &err), 0);
	take_ctx t = {.whole = whole};
	assert_int_equal(sonde_otlp_json_read_stream(b, (char *)doc.data, doc.len, &err, on_take, &t), 0);
	assert_true(t.next > 2000);
	/* What was not taken is in the batch, whole, after the read. */
	assert_int_equal(t.next + b->spans_count, whole->spans_count);
	for (size_t i = 0; i < b->spans_count; i++)
		expect_same_span(&b->spans[i], &whole->spans[t.next + i], t.next + i);
	sonde_batch_free(b);

	/* A failed read leaves the spans not taken as they were; the taken ones are gone. */
	b = sonde_batch_new();
	assert_int_equal(sonde_otlp_json_read(b, pre, strlen(pre), &err), 0);
	t.next = t.calls = 0;
	assert_int_equal(sonde_otlp_json_read_stream(b, (char *)doc.data, doc.len - 10, &err, on_take, &t),
	                 SONDE_EPARSE);
	assert_int_equal(b->spans_count, 0);
	sonde_batch_free(b);
	b = sonde_batch_new();
	assert_int_equal(sonde_otlp_json_read(b, pre, strlen(pre), &err), 0);
	assert_int_equal(sonde_otlp_json_read_stream(b, "{\"resourceSpans\":[{]}", 21, &err, on_take, &t),
	                 SONDE_EPARSE);
	assert_int_equal(b->spans_count, 3);
	sonde_batch_free(b);

	sonde_batch_free(whole);
	sonde_buf_release(&doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_example_trace),
	        cmocka_unit_test(test_example_metrics),
	        cmocka_unit_test(test_example_logs),
	        cmocka_unit_test(test_example_events),
	        cmocka_unit_test(test_integers_as_strings_or_numbers),
	        cmocka_unit_test(test_enum_names),
	        cmocka_unit_test(test_bytes_base64),
	        cmocka_unit_test(test_every_field),
	        cmocka_unit_test(test_unknown_fields_and_nulls),
	        cmocka_unit_test(test_snake_case),
	        cmocka_unit_test(test_nan_and_infinity),
	        cmocka_unit_test(test_nested_values_and_depth),
	        cmocka_unit_test(test_ids),
	        cmocka_unit_test(test_grouping),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_truncations),
	        cmocka_unit_test(test_jsonl),
	        cmocka_unit_test(test_write_range),
	        cmocka_unit_test(test_escapes_and_strings),
	        cmocka_unit_test(test_stream_order),
	        cmocka_unit_test(test_stream_take),
	        cmocka_unit_test(test_attribute_forms),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
