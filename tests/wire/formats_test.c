/* formats_test.c - the format table and content sniffing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "formats.h"

static const char *detect(const char *s)
{
	const sonde_format *f = sonde_format_detect(s, strlen(s));
	return f ? f->name : "none";
}

static void test_detect(void **state)
{
	(void)state;
	assert_string_equal(detect("{\"resourceSpans\":[]}"), "otlp-json");
	assert_string_equal(detect("  \n{\n  \"resourceMetrics\": [\n  {\"x\":1}]\n}"), "otlp-json");
	assert_string_equal(detect("{\"resourceSpans\":[\n{\"scopeSpans\":[]}]}"), "otlp-json");
	assert_string_equal(detect("{\"resourceLogs\":[]}\n{\"resourceSpans\":[]}\n"), "otlp-jsonl");
	assert_string_equal(detect("{\"resource_spans\":[]}\r\n\r\n{\"resource_logs\":[]}"), "otlp-jsonl");
	assert_string_equal(detect("[{\"traceId\":\"0af7651916cd43dd\",\"id\":\"b7ad6b7169203331\"}]"),
	                    "zipkin");
	assert_string_equal(detect("{\"data\":[{\"traceID\":\"1\",\"spans\":[]}]}"), "jaeger");
	assert_string_equal(detect("{\"traceEvents\":[{\"ph\":\"X\"}]}"), "chrome");
	assert_string_equal(detect("[{\"name\":\"a\",\"ph\":\"B\",\"ts\":1}"), "chrome");
	assert_string_equal(detect("# HELP up x\n# TYPE up gauge\nup 1\n"), "prom");
	assert_string_equal(detect("up{job=\"a\"} 1\n"), "prom");
	assert_string_equal(detect("# TYPE up gauge\nup 1\n# EOF\n"), "openmetrics");
	assert_string_equal(detect("\x0a\x10\x0a\x0e\x0a\x0c\x73\x65\x72"), "otlp-proto");
	assert_string_equal(detect(""), "none");
	assert_string_equal(detect("   "), "none");
	assert_string_equal(detect("{\"foo\":1}"), "none");
	assert_string_equal(detect("[1,2]"), "none");
	assert_string_equal(detect("\x01\x02\x03"), "none");
	/* Line protocol: every one of the first lines has its shape. */
	assert_string_equal(detect("cpu,host=a usage=1.5 1700000000000000000\n# c\n\ncpu,host=b usage=2\n"),
	                    "influx");
	assert_string_equal(detect("mem free=1i\r\nmem free=2i\r\n"), "influx");
	/* Text that is neither: a README whose first line has an x="y" in it, a CSV of log
	 * templates, prose starting with a letter. */
	assert_string_equal(detect("<p align=\"center\"> <a href=\"x\">logo</a></p>\n\n<div>\n# Loghub\n"),
	                    "none");
	assert_string_equal(detect("README note=1\nThis is prose, not telemetry.\n"), "none");
	assert_string_equal(detect("EventId,EventTemplate\nE1,\"<*> ddr error(s) detected\"\n"), "none");
	assert_string_equal(detect("Hello world\n"), "none");
}

static void test_find_and_capabilities(void **state)
{
	(void)state;
	for (size_t i = 0; i < sonde_formats_count; i++) {
		const sonde_format *f = &sonde_formats[i];
		assert_ptr_equal(sonde_format_find(f->name), f);
		assert_true(f->read || f->write);
	}
	assert_null(sonde_format_find("yaml"));
	assert_null(sonde_format_find("jaeger")->write);
	assert_non_null(sonde_format_find("influx")->read);
}

static void test_write_signal(void **state)
{
	(void)state;
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = sonde_batch_new_resource(b);
	sonde_scope *s = sonde_batch_new_scope(b);
	sonde_signal sig;
	assert_int_equal(sonde_write_signal(b, NULL, &sig), 0);
	assert_int_equal(sig, SONDE_SIGNAL_TRACES);
	sonde_batch_add_log(b, r, s);
	assert_int_equal(sonde_write_signal(b, NULL, &sig), 0);
	assert_int_equal(sig, SONDE_SIGNAL_LOGS);
	sonde_batch_add_span(b, r, s);
	assert_int_equal(sonde_write_signal(b, NULL, &sig), -EINVAL);
	sonde_write_opts o = {.signal = SONDE_SIGNAL_LOGS, .signal_set = true};
	assert_int_equal(sonde_write_signal(b, &o, &sig), 0);
	assert_int_equal(sig, SONDE_SIGNAL_LOGS);
	sonde_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_detect),
	        cmocka_unit_test(test_find_and_capabilities),
	        cmocka_unit_test(test_write_signal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
