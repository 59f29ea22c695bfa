/* report_html_test.c - the HTML report (report_html.h): escaping of everything that comes
 * from the store, a report over an empty store, a report over a small store with traces,
 * errors and a metric series, and the Markdown converter of the post-mortem section. The
 * page in a real browser is tested by report_html_test.sh. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_html.h"
#include "stacktab.h"
#include "store.h"

#define STORE_TEST_NAME "report-test"
#include "../lib/store_tmpdir.h"

#define MS 1000000ull
#define T0 1700000000000000000ull

static sonde_store *open_ok(void)
{
	sonde_store *s = NULL;
	char msg[256];
	int rc = sonde_store_open(path, 0, &s, msg, sizeof msg);
	if (rc != 0)
		fail_msg("open %s: %d %s", path, rc, msg);
	return s;
}

static const char *escaped(const char *in)
{
	static sonde_buf b = SONDE_BUF_INIT;
	sonde_buf_reset(&b);
	sonde_html_escape(&b, in, strlen(in));
	return b.len ? b.data : "";
}

static void test_escape(void **state)
{
	(void)state;
	assert_string_equal(escaped("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
	assert_string_equal(escaped("a & b \"c\" 'd'"), "a &amp; b &quot;c&quot; &#39;d&#39;");
	assert_string_equal(escaped("plain text, 12%"), "plain text, 12%");
	/* Control characters are dropped, tab and newline kept. */
	assert_string_equal(escaped("a\x01"
	                            "b\tc\nd\x7f"),
	                    "ab\tc\nd");
	/* Valid UTF-8 passes; invalid bytes become U+FFFD. */
	assert_string_equal(escaped("caf\xC3\xA9 \xE2\x86\x92"), "caf\xC3\xA9 \xE2\x86\x92");
	assert_string_equal(escaped("x\xC3"
	                            "y"),
	                    "x\xEF\xBF\xBDy");
	assert_string_equal(escaped("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
	/* Embedded NUL bytes (sonde_str may hold them) are dropped, not a cut. */
	sonde_buf b = SONDE_BUF_INIT;
	sonde_html_escape(&b, "a\0<", 3);
	assert_int_equal(b.len, 5);
	assert_memory_equal(b.data, "a&lt;", 5);
	sonde_buf_release(&b);
}

static void test_empty_store(void **state)
{
	(void)state;
	sonde_store *s = open_ok();
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_report_html(s, NULL, &out), 0);
	assert_non_null(strstr(out.data, "<!DOCTYPE html>"));
	assert_non_null(strstr(out.data, "No data"));
	assert_non_null(strstr(out.data, "the store is empty"));
	assert_non_null(strstr(out.data, "No traces in this window."));
	assert_non_null(strstr(out.data, "No errors in this window"));
	assert_non_null(strstr(out.data, "No metric series in this window."));
	assert_non_null(strstr(out.data, "No profile given"));
	assert_non_null(strstr(out.data, "Content-Security-Policy"));
	assert_non_null(strstr(out.data, "</html>\n"));
	/* No chart without data. */
	assert_null(strstr(out.data, "<svg"));
	sonde_buf_release(&out);
	sonde_store_close(s);
}

static sonde_kv *kvs(sonde_batch *b, size_t n)
{
	return sonde_batch_alloc(b, n * sizeof(sonde_kv));
}

static void set_str(sonde_batch *b, sonde_kv *kv, const char *k, const char *v)
{
	kv->key = sonde_batch_intern(b, k, strlen(k));
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = sonde_batch_strdup(b, v, strlen(v));
}

static sonde_resource *resource(sonde_batch *b, const char *service)
{
	sonde_resource *r = sonde_batch_new_resource(b);
	r->attrs.items = kvs(b, 1);
	r->attrs.count = 1;
	set_str(b, &r->attrs.items[0], "service.name", service);
	return r;
}

static sonde_span_data *span(sonde_batch *b, const sonde_resource *r, const sonde_scope *sc, unsigned t,
                             unsigned sid, unsigned pid, const char *name, uint64_t start_ms, uint64_t dur_ms)
{
	sonde_span_data *sp = sonde_batch_add_span(b, r, sc);
	sp->trace_id[0] = 0xab;
	sp->trace_id[14] = (uint8_t)(t >> 8);
	sp->trace_id[15] = (uint8_t)t;
	sp->span_id[0] = 0xcd;
	sp->span_id[6] = (uint8_t)(sid >> 8);
	sp->span_id[7] = (uint8_t)sid;
	if (pid) {
		sp->parent_span_id[0] = 0xcd;
		sp->parent_span_id[6] = (uint8_t)(pid >> 8);
		sp->parent_span_id[7] = (uint8_t)pid;
	}
	sp->name = sonde_batch_intern(b, name, strlen(name));
	sp->start_ns = T0 + start_ms * MS;
	sp->end_ns = sp->start_ns + dur_ms * MS;
	sp->kind = pid ? SONDE_SPAN_KIND_CLIENT : SONDE_SPAN_KIND_SERVER;
	return sp;
}

#define EVIL "<script>alert(1)</script>"

/* Sixty traces over a minute, one slow with a hostile span name; failed spans with a
 * hostile message; a gauge with a step; and a log record with a hostile body. */
static void fill_store(sonde_store *s)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *fe = resource(b, "frontend\"><img src=x>"), *db = resource(b, "db");
	sonde_scope *sc = sonde_batch_new_scope(b);
	for (unsigned t = 1; t <= 60; t++) {
		uint64_t at = t * 1000, dur = t == 30 ? 900 : 20 + t % 7;
		span(b, fe, sc, t, 1, 0, "GET /cart", at, dur);
		sonde_span_data *q =
		        span(b, db, sc, t, 2, 1, t == 30 ? EVIL : "SELECT cart", at + 2, dur - 4);
		if (t >= 40 && t < 46) {
			q->status_code = SONDE_STATUS_ERROR;
			q->status_message =
			        sonde_batch_intern(b, "db timeout <b>" EVIL, strlen("db timeout <b>" EVIL));
		}
	}
	sonde_log_data *lg = sonde_batch_add_log(b, db, sc);
	lg->time_ns = T0 + 41000 * MS;
	lg->severity_number = 17;
	lg->body.kind = SONDE_VAL_STRING;
	lg->body.u.str = sonde_batch_intern(b, "disk full " EVIL, strlen("disk full " EVIL));
	sonde_metric_data *m = sonde_batch_add_metric(b, fe, sc);
	m->name = SONDE_STR_LIT("queue_depth");
	m->type = SONDE_METRIC_GAUGE;
	m->points_count = 120;
	m->points = sonde_batch_alloc(b, m->points_count * sizeof(sonde_point));
	for (uint32_t i = 0; i < m->points_count; i++) {
		m->points[i].time_ns = T0 + (uint64_t)i * 500 * MS;
		m->points[i].u.number.kind = SONDE_NUM_DOUBLE;
		m->points[i].u.number.v.d = (i >= 90 && i < 96 ? 80.0 : 10.0) + (double)(i % 3);
	}
	assert_int_equal(sonde_store_append(s, b, NULL, NULL), 0);
	sonde_batch_free(b);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_report_escapes_store(void **state)
{
	(void)state;
	sonde_store *s = open_ok();
	fill_store(s);
	sonde_stacktab *prof = sonde_stacktab_new();
	assert_non_null(prof);
	assert_int_equal(sonde_stacktab_add_type(prof, "samples", "count"), 0);
	sonde_frame f = {.function = EVIL, .file = "", .module = ""};
	int64_t fr = sonde_stacktab_intern_frame(prof, &f);
	assert_true(fr >= 0);
	uint32_t frames[1] = {(uint32_t)fr};
	int64_t st = sonde_stacktab_intern_stack(prof, frames, 1);
	assert_true(st >= 0);
	assert_int_equal(sonde_stacktab_add(prof, (uint32_t)st, 0, 7), 0);
	const char md[] = "# Summary\n\nThe **db** was <em>slow</em>: `" EVIL "`.\n";
	sonde_report_verdict v = {T0, "canary", "sonde canary", "fail", EVIL};
	sonde_report_opts o = {.title = "t " EVIL,
	                       .profile = prof,
	                       .profile_name = EVIL,
	                       .verdicts = &v,
	                       .verdicts_count = 1,
	                       .verdicts_known = true,
	                       .incident_id = EVIL,
	                       .postmortem_md = md,
	                       .postmortem_len = sizeof md - 1};
	sonde_buf out = SONDE_BUF_INIT;
	assert_int_equal(sonde_report_html(s, &o, &out), 0);
	const char *h = out.data;
	/* Exactly one script element: the report's own. */
	assert_int_equal(count(h, "<script"), 1);
	assert_null(strstr(h, "<img"));
	assert_null(strstr(h, "<em>slow"));
	assert_null(strstr(h, "<b>" EVIL));
	assert_non_null(strstr(h, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(h, "frontend&quot;&gt;&lt;img src=x&gt;"));
	/* Every section is there, with its charts. */
	const char *ids[] = {"id=\"overview\"",     "id=\"traces\"",       "id=\"errors\"",
	                     "id=\"anomalies\"",    "id=\"flame\"",        "id=\"verdicts\"",
	                     "id=\"postmortem\"",   "id=\"waterfall\"",    "id=\"chart-p95\"",
	                     "id=\"slow-traces\"",  "id=\"error-groups\"", "id=\"flamegraph\"",
	                     "id=\"services\"",     "id=\"cp-shares\"",    "id=\"chart-throughput\"",
	                     "id=\"chart-errors\"", "id=\"verdict-table\""};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
		if (!strstr(h, ids[i]))
			fail_msg("the report lacks %s", ids[i]);
	assert_non_null(strstr(h, "class=\"cp\""));
	assert_non_null(strstr(h, "<h3>Summary</h3>"));
	assert_non_null(strstr(h, "<strong>db</strong>"));
	assert_non_null(strstr(h, "data:image/svg+xml;base64,"));
	assert_null(strstr(h, "http://"));
	assert_null(strstr(h, "https://"));
	/* The slow trace (900 ms) heads the table. */
	assert_non_null(strstr(h, "900 ms"));
	sonde_buf_release(&out);
	sonde_stacktab_free(prof);
	sonde_store_close(s);
}

static const char *md_html(const char *md)
{
	static sonde_buf b = SONDE_BUF_INIT;
	sonde_buf_reset(&b);
	sonde_markdown_html(md, strlen(md), 0, &b);
	return b.len ? b.data : "";
}

static void test_markdown(void **state)
{
	(void)state;
	assert_string_equal(md_html("# Title\n"), "<h1>Title</h1>\n");
	assert_string_equal(md_html("## Impact ##\n"), "<h2>Impact</h2>\n");
	assert_string_equal(md_html("one\ntwo\n\nthree"), "<p>one\ntwo</p>\n<p>three</p>\n");
	assert_string_equal(md_html("- a\n- **b**\n"),
	                    "<ul>\n<li>a</li>\n<li><strong>b</strong></li>\n</ul>\n");
	assert_string_equal(md_html("1. x\n2. y\n"), "<ol>\n<li>x</li>\n<li>y</li>\n</ol>\n");
	assert_string_equal(md_html("| a | b |\n|---|:-:|\n| 1 | a\\|b |\n"),
	                    "<table>\n<thead><tr><th>a</th><th>b</th></tr>\n</thead>\n<tbody>\n"
	                    "<tr><td>1</td><td>a|b</td></tr>\n</tbody>\n</table>\n");
	assert_string_equal(md_html("```\n<b>&\n```\n"), "<pre><code>&lt;b&gt;&amp;\n</code></pre>\n");
	assert_string_equal(md_html("*em* and _em_ and snake_case_name"),
	                    "<p><em>em</em> and <em>em</em> and snake_case_name</p>\n");
	assert_string_equal(md_html("a `<i>` b"), "<p>a <code>&lt;i&gt;</code> b</p>\n");
	assert_string_equal(md_html("<script>x</script>"), "<p>&lt;script&gt;x&lt;/script&gt;</p>\n");
	assert_string_equal(md_html("[link](javascript:alert(1))"), "<p>[link](javascript:alert(1))</p>\n");
	assert_string_equal(md_html("> quoted\n> more\n"), "<blockquote>quoted more</blockquote>\n");
	assert_string_equal(md_html("---\n"), "<hr>\n");
	assert_string_equal(md_html("2 * 3 * 4"), "<p>2 * 3 * 4</p>\n");
	assert_string_equal(md_html("**unclosed"), "<p>**unclosed</p>\n");
	/* Heading shift: # under the report's h2. */
	sonde_buf b = SONDE_BUF_INIT;
	sonde_markdown_html("# T\n###### U\n", 12, 2, &b);
	assert_string_equal(b.data, "<h3>T</h3>\n<h6>U</h6>\n");
	sonde_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_escape),
	        cmocka_unit_test(test_markdown),
	        cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_report_escapes_store, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
