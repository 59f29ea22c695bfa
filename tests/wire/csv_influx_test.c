/*
 * csv_influx_test.c - the CSV metrics and Influx line protocol readers: series and
 * points as the headers promise, quoting and escapes, errors naming line and field, what
 * influx.h writes reads back, and every NAB series reads whole.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv_metrics.h"
#include "formats.h"
#include "influx.h"
#include "influx_read.h"
#include "sonde/status.h"

#define NS 1000000000ull

static void test_csv(void **state)
{
	const char *in = "time, cpu ,\"mem,used\"\r\n"
	                 "2024-01-02T03:04:05Z,1.5,\"2\"\r\n"
	                 "\n"
	                 "1704164646,,3e2\n";
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err = {0};
	assert_int_equal(sonde_csv_metrics_read(b, in, strlen(in), 0, &err), 0);
	assert_int_equal(b->metrics_count, 2);
	assert_string_equal(b->metrics[0].name.ptr, "cpu");
	assert_int_equal(b->metrics[0].points_count, 1);
	assert_int_equal(b->metrics[0].points[0].time_ns, 1704164645 * NS);
	assert_true(b->metrics[0].points[0].u.number.v.d == 1.5);
	assert_string_equal(b->metrics[1].name.ptr, "mem,used");
	assert_int_equal(b->metrics[1].points_count, 2);
	assert_int_equal(b->metrics[1].points[1].time_ns, 1704164646 * NS);
	assert_true(b->metrics[1].points[1].u.number.v.d == 300);
	assert_int_equal(b->metrics[1].type, SONDE_METRIC_GAUGE);

	const char *bad = "timestamp,value\n2024-01-02 00:00:00,1\n2024-01-02 00:00:01,abc\n";
	assert_int_equal(sonde_csv_metrics_read(b, bad, strlen(bad), 0, &err), SONDE_EPARSE);
	assert_int_equal(err.line, 3);
	assert_string_equal(err.field, "value");
	assert_int_equal(err.offset, (size_t)(strstr(bad, "abc") - bad));
	const char *bad2 = "timestamp,value\nnot a time,1\n";
	assert_int_equal(sonde_csv_metrics_read(b, bad2, strlen(bad2), 0, &err), SONDE_EPARSE);
	assert_string_equal(err.field, "timestamp");
	const char *bad3 = "timestamp,value\n2024-01-02 00:00:00,1,2\n";
	assert_int_equal(sonde_csv_metrics_read(b, bad3, strlen(bad3), 0, &err), SONDE_EPARSE);
	assert_non_null(strstr(err.msg, "expected 2 cells"));
	assert_int_equal(b->metrics_count, 2);
	sonde_batch_free(b);
}

static void test_influx(void **state)
{
	const char *in = "# a comment\n"
	                 "cpu,host=a\\ b,service.name=api usage=0.5,idle=10i,up=t 1700000000000000001\n"
	                 "cpu,host=a\\ b,service.name=api usage=0.25,note=\"x \\\" y\" 1700000000000000002\n"
	                 "disk value=3u\n";
	sonde_batch *b = sonde_batch_new();
	sonde_wire_error err = {0};
	int rc = sonde_influx_read(b, in, strlen(in), 42, &err);
	if (rc)
		fail_msg("rc %d line %zu field %s: %s", rc, err.line, err.field, err.msg);
	assert_int_equal(b->metrics_count, 4);
	const sonde_metric_data *m = &b->metrics[0];
	assert_string_equal(m->name.ptr, "cpu_usage");
	assert_int_equal(m->points_count, 2);
	assert_true(m->points[1].u.number.v.d == 0.25);
	assert_int_equal(m->points[1].time_ns, 1700000000000000002ull);
	assert_string_equal(sonde_attrs_get(&m->points[0].attrs, "host")->u.str.ptr, "a b");
	assert_null(sonde_attrs_get(&m->points[0].attrs, "service.name"));
	assert_string_equal(sonde_attrs_get(&m->resource->attrs, "service.name")->u.str.ptr, "api");
	assert_string_equal(b->metrics[1].name.ptr, "cpu_idle");
	assert_int_equal(b->metrics[1].points[0].u.number.kind, SONDE_NUM_INT);
	assert_int_equal(b->metrics[1].points[0].u.number.v.i, 10);
	assert_string_equal(b->metrics[2].name.ptr, "cpu_up");
	assert_int_equal(b->metrics[2].points[0].u.number.v.i, 1);
	assert_string_equal(b->metrics[3].name.ptr, "disk");
	assert_int_equal(b->metrics[3].points[0].time_ns, 42);

	const char *bads[][3] = {
	        {"cpu usage=0.5\ncpu usage=abc\n", "usage", "expected a number"},
	        {"cpu usage=1 12x\n", "timestamp", "nanoseconds"},
	        {"cpu,host usage=1\n", "tag", "tag=value"},
	        {"cpu\n", "", "space before the fields"},
	        {"cpu usage=99999999999999999999i\n", "usage", "64 bits"},
	        {"cpu s=\"open\n", "s", "closing quote"},
	};
	for (size_t i = 0; i < sizeof bads / sizeof bads[0]; i++) {
		memset(&err, 0, sizeof err);
		assert_int_equal(sonde_influx_read(b, bads[i][0], strlen(bads[i][0]), 0, &err), SONDE_EPARSE);
		if (strcmp(err.field, bads[i][1]) != 0 || !strstr(err.msg, bads[i][2]))
			fail_msg("'%s': field '%s' msg '%s'", bads[i][0], err.field, err.msg);
	}
	assert_int_equal(b->metrics_count, 4);
	sonde_batch_free(b);
}

/* Gauges written by influx.h read back with their names, values, times and tags. */
static void test_influx_round_trip(void **state)
{
	const char *in =
	        "cpu,host=h1 value=0.5 1700000000000000000\ncpu,host=h2 value=7i 1700000000000000000\n";
	sonde_batch *a = sonde_batch_new(), *c = sonde_batch_new();
	assert_int_equal(sonde_influx_read(a, in, strlen(in), 0, NULL), 0);
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_influx_write(a, &out), 0);
	assert_int_equal(sonde_influx_read(c, out.data, out.len, 0, NULL), 0);
	char why[128];
	if (!sonde_batch_equal(a, c, why, sizeof why))
		fail_msg("%s\n%s", why, out.data);
	sonde_buf_release(&out);
	sonde_batch_free(a);
	sonde_batch_free(c);
}

static void test_nab(void **state)
{
	const char *data = getenv("SONDE_DATA");
	char dir[512];
	snprintf(dir, sizeof dir, "%s/nab/data/realKnownCause", data ? data : "../shared/data");
	DIR *d = opendir(dir);
	if (!d)
		skip();
	struct dirent *e;
	int files = 0;
	static char buf[4 << 20];
	while ((e = readdir(d))) {
		if (!strstr(e->d_name, ".csv"))
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		FILE *f = fopen(path, "rb");
		assert_non_null(f);
		size_t n = fread(buf, 1, sizeof buf, f);
		fclose(f);
		size_t rows = 0;
		for (size_t i = 0; i < n; i++)
			rows += buf[i] == '\n';
		const sonde_format *fmt = sonde_format_detect(buf, n);
		if (!fmt || strcmp(fmt->name, "csv") != 0)
			fail_msg("%s detected as %s", e->d_name, fmt ? fmt->name : "nothing");
		sonde_batch *b = sonde_batch_new();
		sonde_wire_error err = {0};
		if (sonde_csv_metrics_read(b, buf, n, 0, &err) != 0)
			fail_msg("%s:%zu: %s: %s", e->d_name, err.line, err.field, err.msg);
		assert_int_equal(b->metrics_count, 1);
		assert_string_equal(b->metrics[0].name.ptr, "value");
		/* A row per line less the header (the last line may lack its newline). */
		if (b->metrics[0].points_count != rows - 1 && b->metrics[0].points_count != rows)
			fail_msg("%s: %u points for %zu lines", e->d_name, b->metrics[0].points_count, rows);
		sonde_batch_free(b);
		files++;
	}
	closedir(d);
	assert_true(files > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_csv),
	        cmocka_unit_test(test_influx),
	        cmocka_unit_test(test_influx_round_trip),
	        cmocka_unit_test(test_nab),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
