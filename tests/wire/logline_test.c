/*
 * logline_test.c - the log readers and their timestamp and level recognisers: every
 * layout logline.h promises, JSON-lines field names, continuation lines, errors that name
 * the line and field, and the real Loghub files (detected, every line timed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "logline.h"
#include "sonde/status.h"

#define NS  1000000000ull
/* 2024-06-15T00:00:00Z, the "now" for year-less layouts. */
#define NOW (1718409600ull * NS)

static uint64_t parse(const char *s)
{
	uint64_t ns = 0;
	size_t k = sonde_logtime_parse(s, strlen(s), NOW, &ns);
	if (k == 0)
		fail_msg("no timestamp in '%s'", s);
	return ns;
}

static void test_layouts(void **state)
{
	/* 2005-06-03 15:42:50 UTC is 1117813370. */
	assert_int_equal(parse("2005-06-03T15:42:50Z"), 1117813370 * NS);
	assert_int_equal(parse("2005-06-03T15:42:50.5Z"), 1117813370 * NS + 500000000);
	assert_int_equal(parse("2005-06-03T17:42:50+02:00"), 1117813370 * NS);
	assert_int_equal(parse("2005-06-03T10:42:50-0500"), 1117813370 * NS);
	assert_int_equal(parse("2005-06-03 15:42:50,123"), 1117813370 * NS + 123000000);
	assert_int_equal(parse("2005/06/03 15:42:50"), 1117813370 * NS);
	assert_int_equal(parse("2005-06-03-15.42.50.675872"), 1117813370 * NS + 675872000);
	assert_int_equal(parse("Sat Jun 03 15:42:50 2005"), 1117813370 * NS);
	assert_int_equal(parse("03/Jun/2005:17:42:50 +0200"), 1117813370 * NS);
	assert_int_equal(parse("Jun 03, 2005 3:42:50 PM"), 1117813370 * NS);
	assert_int_equal(parse("Jun 03, 2005 12:42:50 AM"), (1117813370 - 15 * 3600) * NS);
	assert_int_equal(parse("05/06/03 15:42:50"), 1117813370 * NS);
	assert_int_equal(parse("050603 154250"), 1117813370 * NS);
	assert_int_equal(parse("20050603-15:42:50:606"), 1117813370 * NS + 606000000);
	assert_int_equal(parse("1117813370"), 1117813370 * NS);
	/* Syslog has no year: the year of NOW (2024), or the one before for a future date. */
	assert_int_equal(parse("Jun  3 15:42:50"), 1717429370 * NS);
	assert_int_equal(parse("Dec 31 23:00:00"), 1704063600 * NS);
	uint64_t ns;
	const char *bad[] = {"2005-13-03T15:42:50Z",
	                     "2005-06-03T25:42:50",
	                     "2005-06-03",
	                     "Jun 33 15:42:50",
	                     "123456789",
	                     "2005-06-03T15:42:50abc",
	                     "hello",
	                     "Foo Jun 03 15:42:50 2005"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (sonde_logtime_parse(bad[i], strlen(bad[i]), NOW, &ns) != 0)
			fail_msg("'%s' should not parse", bad[i]);
	size_t at, len;
	const char *l = "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova";
	assert_true(sonde_logtime_find(l, strlen(l), NOW, &ns, &at, &len));
	assert_int_equal(at, 35);
	assert_int_equal(len, 23);
}

static void test_levels(void **state)
{
	size_t at, len;
	const char *l = "2017-05-16 00:00:00.008 25746 INFO nova.osapi";
	assert_int_equal(sonde_log_severity_find(l, strlen(l), &at, &len), 9);
	assert_int_equal(at, 30);
	l = "[Sun Dec 04 04:47:44 2005] [error] mod_jk child";
	assert_int_equal(sonde_log_severity_find(l, strlen(l), &at, &len), 17);
	l = "2016-09-28 04:30:30, Info                  CBS    Loaded";
	assert_int_equal(sonde_log_severity_find(l, strlen(l), &at, &len), 9);
	l = "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown";
	assert_int_equal(sonde_log_severity_find(l, strlen(l), &at, &len), 0);
	l = "x log.error_count=3 WARNING: disk";
	assert_int_equal(sonde_log_severity_find(l, strlen(l), &at, &len), 13);
	assert_int_equal(sonde_log_severity("FATAL", 5), 21);
	assert_int_equal(sonde_log_severity("information", 11), 0);
}

static void test_text(void **state)
{
	const char *in = "2024-01-02 03:04:05,006 ERROR [main] app: failed\r\n"
	                 "java.lang.IllegalStateException: x\n" /* no indent: a record of its own */
	                 "\tat a.b(C.java:1)\n"
	                 "Caused by: java.io.IOException\n"
	                 "\n"
	                 "2024-01-02 03:04:06,000 INFO [main] app: ok\n";
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err = {0};
	assert_int_equal(sonde_logtext_read(b, in, strlen(in), NOW, &err), 0);
	assert_int_equal(b->logs_count, 3);
	assert_int_equal(b->logs[0].time_ns, 1704164645006000000ull);
	assert_int_equal(b->logs[0].severity_number, 17);
	assert_string_equal(b->logs[0].severity_text.ptr, "ERROR");
	assert_string_equal(b->logs[0].body.u.str.ptr, "2024-01-02 03:04:05,006 ERROR [main] app: failed");
	assert_int_equal(b->logs[1].time_ns, 0);
	assert_string_equal(
	        b->logs[1].body.u.str.ptr,
	        "java.lang.IllegalStateException: x\n\tat a.b(C.java:1)\nCaused by: java.io.IOException");
	assert_int_equal(b->logs[2].severity_number, 9);
	/* A control byte is refused with its line. */
	const char *bad = "ok line\nbad \001 line\n";
	assert_int_equal(sonde_logtext_read(b, bad, strlen(bad), NOW, &err), SONDE_EPARSE);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.offset, 12);
	assert_int_equal(b->logs_count, 3);
	sonde_batch_free(b);
}

static void test_jsonl(void **state)
{
	const char *in =
	        "{\"ts\":\"2024-01-02T03:04:05.5Z\",\"level\":\"warn\",\"msg\":\"slow\",\"trace_id\":"
	        "\"0af7651916cd43dd8448eb211c80319c\",\"span_id\":\"b7ad6b7169203331\",\"service\":\"api\","
	        "\"user\":\"bob\",\"n\":3,\"ok\":true,\"ctx\":{\"a\":1}}\n"
	        "\n"
	        "{\"time\":1704164645123,\"severity\":50,\"message\":\"boom\",\"traceId\":"
	        "\"8448eb211c80319c\"}\n"
	        "{\"@timestamp\":1704164645.25,\"log.level\":\"ERROR\",\"body\":{\"k\":\"v\"}}\n"
	        "{\"t\":1704164645000000000,\"lvl\":\"info\",\"msg\":\"a\",\"message\":\"b\"}\n";
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err = {0};
	int rc = sonde_logjson_read(b, in, strlen(in), NOW, &err);
	if (rc)
		fail_msg("rc %d line %zu %s %s", rc, err.line, err.field, err.msg);
	assert_int_equal(b->logs_count, 4);
	const sonde_log_data *l = &b->logs[0];
	assert_int_equal(l->time_ns, 1704164645500000000ull);
	assert_int_equal(l->severity_number, 13);
	assert_string_equal(l->severity_text.ptr, "warn");
	assert_string_equal(l->body.u.str.ptr, "slow");
	assert_int_equal(l->trace_id[0], 0x0a);
	assert_int_equal(l->span_id[7], 0x31);
	const sonde_value *svc = sonde_attrs_get(&l->resource->attrs, "service.name");
	assert_non_null(svc);
	assert_string_equal(svc->u.str.ptr, "api");
	assert_int_equal(l->attrs.count, 4);
	assert_int_equal(sonde_attrs_get(&l->attrs, "n")->u.i, 3);
	assert_true(sonde_attrs_get(&l->attrs, "ok")->u.b);
	assert_int_equal(b->logs[1].time_ns, 1704164645123000000ull);
	assert_int_equal(b->logs[1].severity_number, 17); /* bunyan 50 */
	assert_int_equal(b->logs[1].trace_id[8], 0x84);   /* 16 digits, left-padded */
	assert_int_equal(b->logs[1].trace_id[0], 0);
	assert_int_equal(b->logs[2].time_ns, 1704164645250000000ull);
	assert_int_equal(b->logs[2].severity_number, 17);
	assert_int_equal(b->logs[3].time_ns, 1704164645000000000ull);
	assert_string_equal(b->logs[3].body.u.str.ptr, "a");
	assert_non_null(sonde_attrs_get(&b->logs[3].attrs, "message"));

	const char *bad = "{\"msg\":\"a\"}\n{\"msg\":\"b\",\"trace_id\":\"xyz\"}\n";
	assert_int_equal(sonde_logjson_read(b, bad, strlen(bad), NOW, &err), SONDE_EPARSE);
	assert_int_equal(err.line, 2);
	assert_string_equal(err.field, "trace_id");
	assert_int_equal(err.offset, (size_t)(strstr(bad, "\"xyz") - bad));
	const char *bad2 = "{\"msg\":\"a\"}\n{\"msg\":\"b\",}\n";
	assert_int_equal(sonde_logjson_read(b, bad2, strlen(bad2), NOW, &err), SONDE_EPARSE);
	assert_int_equal(err.line, 2);
	const char *bad3 = "{\"msg\":\"a\",\"ts\":\"yesterday\"}\n";
	assert_int_equal(sonde_logjson_read(b, bad3, strlen(bad3), NOW, &err), SONDE_EPARSE);
	assert_string_equal(err.field, "ts");
	assert_int_equal(b->logs_count, 4);
	sonde_batch_free(b);
}

static const char *detect(const char *s)
{
	const sonde_format *f = sonde_format_detect(s, strlen(s));
	return f ? f->name : "none";
}

static void test_detect(void **state)
{
	assert_string_equal(detect("{\"ts\":1,\"msg\":\"a\"}\n{\"ts\":2,\"msg\":\"b\"}\n"), "logs-jsonl");
	assert_string_equal(detect("{\"level\":\"info\",\"message\":\"a\"}"), "logs-jsonl");
	assert_string_equal(detect("{\"foo\":1}"), "none");
	assert_string_equal(detect("2024-01-02 03:04:05 INFO a\n2024-01-02 03:04:06 WARN b\n"), "logs-text");
	assert_string_equal(detect("Jun 14 15:16:01 combo sshd[1]: x\n"), "logs-text");
	assert_string_equal(detect("timestamp,value\n2014-04-01 00:00:00,19.7\n"), "csv");
	assert_string_equal(detect("time,cpu,mem\n1700000000,1,2\n"), "csv");
	assert_string_equal(detect("cpu,host=a usage=0.5 1700000000000000000\n"), "influx");
	assert_string_equal(detect("# comment\ncpu value=1i\n"), "influx");
	assert_string_equal(detect("up 1\n"), "prom");
	assert_string_equal(detect("up{job=\"a\"} 1 1700000000000\n"), "prom");
	assert_string_equal(detect("# HELP up x\n# TYPE up gauge\nup 1\n"), "prom");
	assert_string_equal(
	        detect("2016-09-28 04:30:30, Info CBS a, b\n2016-09-28 04:30:31, Info CBS c, d\n"),
	        "logs-text");
}

/* Every Loghub file is detected as text logs, and every line gets a time. */
static void test_loghub(void **state)
{
	const char *data = getenv("SONDE_DATA");
	if (!data)
		data = "../shared/data";
	const char *systems[] = {"HDFS",    "Hadoop", "Spark",     "BGL",
	                         "Windows", "Linux",  "HealthApp", "OpenStack"};
	int seen = 0;
	for (size_t i = 0; i < sizeof systems / sizeof systems[0]; i++) {
		char path[512];
		snprintf(path, sizeof path, "%s/loghub2k/%s/%s_2k.log", data, systems[i], systems[i]);
		FILE *f = fopen(path, "rb");
		if (!f)
			continue;
		seen++;
		static char buf[1 << 20];
		size_t n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		const sonde_format *fmt = sonde_format_detect(buf, n);
		if (!fmt || strcmp(fmt->name, "logs-text") != 0)
			fail_msg("%s detected as %s", systems[i], fmt ? fmt->name : "nothing");
		sonde_batch *b = sonde_batch_new();
		sonde_wire_error err = {0};
		assert_int_equal(sonde_logtext_read(b, buf, n, NOW, &err), 0);
		size_t timed = 0, leveled = 0;
		for (size_t j = 0; j < b->logs_count; j++) {
			timed += b->logs[j].time_ns != 0;
			leveled += b->logs[j].severity_number != 0;
		}
		if (b->logs_count != 2000 || timed != 2000)
			fail_msg("%s: %zu records, %zu timed", systems[i], b->logs_count, timed);
		/* Layouts with a level field give it on (nearly) every line. */
		if (strcmp(systems[i], "Linux") != 0 && strcmp(systems[i], "HealthApp") != 0 &&
		    leveled < 1990)
			fail_msg("%s: %zu of 2000 lines have a level", systems[i], leveled);
		sonde_batch_free(b);
	}
	if (!seen)
		skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_layouts), cmocka_unit_test(test_levels), cmocka_unit_test(test_text),
	        cmocka_unit_test(test_jsonl),   cmocka_unit_test(test_detect), cmocka_unit_test(test_loghub),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
