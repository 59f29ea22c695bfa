/*
 * term_test.c - the terminal renderers: column widths with unicode and colour, sparklines,
 * and golden files for the trace waterfall and report, the latency and queries tables.
 *
 * Golden files live in tests/render/golden/. After an intended change, regenerate them
 * with tests/render/regen_term_golden.sh (which runs this test with SONDE_REGEN_GOLDEN=1)
 * and review the diff.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"
#include "term_report.h"

static void check_golden(const char *name, const sonde_buf *got)
{
	char path[256];
	snprintf(path, sizeof(path), "tests/render/golden/%s", name);
	const char *data = got->len ? got->data : "";
	if (getenv("SONDE_REGEN_GOLDEN")) {
		FILE *f = fopen(path, "wb");
		assert_non_null(f);
		fwrite(data, 1, got->len, f);
		fclose(f);
		return;
	}
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: missing; run tests/render/regen_term_golden.sh", path);
	static char want[1 << 20];
	size_t n = fread(want, 1, sizeof(want) - 1, f);
	fclose(f);
	want[n] = '\0';
	if (n != got->len || memcmp(want, data, n) != 0) {
		/* Show the first line that differs. */
		size_t i = 0, line = 1;
		while (i < n && i < got->len && want[i] == data[i])
			line += want[i++] == '\n';
		fail_msg("%s differs from the output at line %zu:\n--- got:\n%s\n--- want:\n%s", path, line,
		         data, want);
	}
}

static void test_columns_and_text(void **state)
{
	(void)state;
	assert_int_equal(sonde_term_columns("abc", 3), 3);
	assert_int_equal(sonde_term_columns("\xe2\x96\x81\xe2\x96\x88", 6), 2);
	assert_int_equal(sonde_term_columns("\x1b[31mred\x1b[0m", 12), 3);
	sonde_buf b = SONDE_BUF_INIT;
	sonde_term_text(&b, "a\nb\x1b[2Jc", 8);
	assert_string_equal(b.data, "a\\nb\\x1b[2Jc");
	sonde_buf_reset(&b);
	const uint64_t v[] = {0, 1, 4, 8};
	sonde_term_sparkline(&b, v, 4);
	/* 0 -> blank; 1/8 of the max rounds to the lowest block; 4/8 to the middle; 8 full. */
	assert_string_equal(b.data, " \xe2\x96\x82\xe2\x96\x85\xe2\x96\x88");
	sonde_buf_release(&b);
}

/* Durations: the latency units, and from 100 s on the two largest of m, h and d. */
static void test_duration(void **state)
{
	(void)state;
	static const struct {
		uint64_t ns;
		const char *want;
	} cases[] = {
	        {812, "812ns"},
	        {3200, "3.20us"},
	        {12500000, "12.5ms"},
	        {1204000000, "1.204s"},
	        {99999000000ull, "99.999s"},
	        {100000000000ull, "1m40s"},
	        {307000000000ull, "5m07s"},
	        {3599000000000ull, "59m59s"},
	        {7500000000000ull, "2h05m"},
	        {7200000000000ull, "2h"},
	        {300000000000ull, "5m"},
	        {86400000000000ull, "1d"},
	        {172800000000000ull, "2d"},
	        {273600000000000ull, "3d04h"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		sonde_buf b = SONDE_BUF_INIT;
		sonde_term_duration(&b, cases[i].ns);
		assert_string_equal(b.data, cases[i].want);
		sonde_buf_release(&b);
	}
}

static void test_table(void **state)
{
	(void)state;
	static const char *const h[] = {"NAME", "COUNT", "SPARK"};
	sonde_table t;
	sonde_table_init(&t, 3, h, "lrl");
	sonde_table_cell(&t, "checkout");
	sonde_table_cell(&t, "%d", 12345);
	sonde_table_cell(&t, "\xe2\x96\x81\xe2\x96\x88");
	sonde_table_cell_text(&t, "db\tx", 4);
	sonde_table_cell(&t, "7");
	sonde_table_cell(&t, "%s", "");
	sonde_buf out = SONDE_BUF_INIT;
	sonde_term_opts o = {.color = false, .width = 80};
	assert_int_equal(sonde_table_render(&t, &o, &out), 0);
	assert_string_equal(out.data, "NAME      COUNT  SPARK\n"
	                              "checkout  12345  \xe2\x96\x81\xe2\x96\x88\n"
	                              "db\\tx         7\n");
	sonde_buf_reset(&out);
	o.color = true;
	assert_int_equal(sonde_table_render(&t, &o, &out), 0);
	assert_string_equal(out.data, "\x1b[1mNAME      COUNT  SPARK\x1b[0m\n"
	                              "checkout  12345  \xe2\x96\x81\xe2\x96\x88\n"
	                              "db\\tx         7\n");
	sonde_buf_release(&out);
	sonde_table_release(&t);
}

/* ---- A small shop trace ------------------------------------------------------------- */

typedef struct shop {
	sonde_batch *b;
	sonde_resource *res[4];
	sonde_scope *scope;
} shop;

static const char *const svc[] = {"frontend", "cart", "orders-db", "mailer"};

static sonde_span_data *span(shop *s, int res, uint8_t id, uint8_t parent, uint64_t start_us, uint64_t end_us,
                             sonde_span_kind kind, const char *name)
{
	sonde_span_data *sp = sonde_batch_add_span(s->b, s->res[res], s->scope);
	sp->trace_id[0] = 0xab;
	sp->trace_id[15] = 0x01;
	sp->span_id[7] = id;
	sp->parent_span_id[7] = parent;
	sp->start_ns = 1700000000000000000ull + start_us * 1000;
	sp->end_ns = 1700000000000000000ull + end_us * 1000;
	sp->kind = kind;
	sp->name = sonde_batch_intern(s->b, name, strlen(name));
	return sp;
}

static void str_kv(shop *s, sonde_kv *kv, const char *k, const char *v)
{
	kv->key = sonde_batch_intern(s->b, k, strlen(k));
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = sonde_batch_strdup(s->b, v, strlen(v));
}

static void build_shop(shop *s)
{
	s->b = sonde_batch_new();
	s->scope = sonde_batch_new_scope(s->b);
	for (int i = 0; i < 4; i++) {
		s->res[i] = sonde_batch_new_resource(s->b);
		sonde_kv *kv = sonde_batch_alloc(s->b, sizeof(*kv));
		str_kv(s, kv, "service.name", svc[i]);
		s->res[i]->attrs = (sonde_attrs){kv, 1};
	}
	span(s, 0, 1, 0, 0, 120000, SONDE_SPAN_KIND_SERVER, "POST /checkout");
	span(s, 0, 2, 1, 1000, 31000, SONDE_SPAN_KIND_CLIENT, "cart.get");
	span(s, 1, 3, 2, 2000, 30000, SONDE_SPAN_KIND_SERVER, "GetCart");
	for (uint8_t k = 0; k < 5; k++) {
		char stmt[80];
		snprintf(stmt, sizeof(stmt), "SELECT price FROM items WHERE sku = 'SKU-%u'", 100 + k);
		sonde_span_data *q = span(s, 2, (uint8_t)(10 + k), 3, 3000 + k * 5000, 7000 + k * 5000,
		                          SONDE_SPAN_KIND_CLIENT, "SELECT items");
		sonde_kv *kv = sonde_batch_alloc(s->b, 2 * sizeof(*kv));
		str_kv(s, &kv[0], "db.system", "postgresql");
		str_kv(s, &kv[1], "db.statement", stmt);
		q->attrs = (sonde_attrs){kv, 2};
	}
	sonde_span_data *pay = span(s, 0, 4, 1, 32000, 110000, SONDE_SPAN_KIND_CLIENT, "charge card");
	pay->status_code = SONDE_STATUS_ERROR;
	pay->status_message = sonde_batch_strdup(s->b, "card declined", 13);
	pay->events = sonde_batch_alloc(s->b, sizeof(sonde_span_event));
	pay->events_count = 1;
	pay->events[0].name = sonde_batch_intern(s->b, "exception", 9);
	pay->events[0].time_ns = pay->end_ns;
	sonde_kv *ev = sonde_batch_alloc(s->b, 2 * sizeof(*ev));
	str_kv(s, &ev[0], "exception.type", "PaymentError");
	str_kv(s, &ev[1], "exception.message", "insufficient funds");
	pay->events[0].attrs = (sonde_attrs){ev, 2};
	span(s, 0, 5, 1, 111000, 112000, SONDE_SPAN_KIND_PRODUCER, "enqueue mail");
	span(s, 3, 6, 5, 115000, 190000, SONDE_SPAN_KIND_CONSUMER, "send mail");
	/* A log record of the failed call. */
	sonde_log_data *l = sonde_batch_add_log(s->b, s->res[0], s->scope);
	l->time_ns = pay->end_ns;
	l->severity_number = 17;
	l->severity_text = sonde_batch_intern(s->b, "ERROR", 5);
	l->body.kind = SONDE_VAL_STRING;
	l->body.u.str = sonde_batch_strdup(s->b, "payment failed: card declined", 29);
	memcpy(l->trace_id, pay->trace_id, 16);
	memcpy(l->span_id, pay->span_id, 8);
}

static void test_trace_golden(void **state)
{
	(void)state;
	shop s;
	build_shop(&s);
	sonde_trace_report r;
	assert_int_equal(sonde_trace_report_from_batch(s.b, NULL, &r), 0);
	/* What the golden file shows, checked here too: the critical path skips the async
	 * mail and runs through the cart call and the failed charge. */
	assert_int_equal(r.tree->cp_total_ns, 120000000);
	assert_int_equal(r.errors_count, 1);
	assert_int_equal(r.nplus1_count, 1);
	sonde_buf out = SONDE_BUF_INIT;
	sonde_term_opts o = {.color = false, .width = 110};
	assert_int_equal(sonde_render_trace_text(&r, &o, 0, &out), 0);
	check_golden("trace.txt", &out);
	sonde_buf_reset(&out);
	o.color = true;
	assert_int_equal(sonde_render_trace_text(&r, &o, 4, &out), 0);
	check_golden("trace_color_4rows.txt", &out);
	sonde_buf_reset(&out);
	assert_int_equal(sonde_render_trace_json(&r, &out), 0);
	check_golden("trace.json", &out);
	sonde_buf_release(&out);
	sonde_trace_report_release(&r);
}

static void test_queries_and_latency_golden(void **state)
{
	(void)state;
	shop s;
	build_shop(&s);
	sonde_queries q;
	sonde_queries_init(&q);
	q.slow_ns = 4000000;
	sonde_latency_table main, ops;
	sonde_latency_table_init(&main);
	sonde_latency_table_init(&ops);
	for (size_t i = 0; i < s.b->spans_count; i++) {
		const sonde_span_data *sp = &s.b->spans[i];
		assert_int_equal(sonde_queries_add(&q, sp), 0);
		sonde_str sv = sonde_span_service(sp);
		ssize_t row = sonde_latency_table_row(&main, sv.ptr, NULL);
		assert_true(row >= 0);
		assert_int_equal(sonde_latency_table_add(&main, (size_t)row, sp->start_ns,
		                                         sp->end_ns - sp->start_ns, sonde_span_is_error(sp)),
		                 0);
		row = sonde_latency_table_row(&ops, sv.ptr, sp->name.ptr);
		assert_int_equal(sonde_latency_table_add(&ops, (size_t)row, sp->start_ns,
		                                         sp->end_ns - sp->start_ns, sonde_span_is_error(sp)),
		                 0);
	}
	sonde_queries_finish(&q);
	sonde_latency_table_finish(&main, false);
	sonde_latency_table_finish(&ops, true);
	sonde_buf out = SONDE_BUF_INIT;
	sonde_term_opts o = {.color = false, .width = 110};
	assert_int_equal(sonde_render_queries_text(&q, 0, &o, &out), 0);
	check_golden("queries.txt", &out);
	sonde_buf_reset(&out);
	assert_int_equal(sonde_render_queries_json(&q, 0, &out), 0);
	check_golden("queries.json", &out);
	sonde_buf_reset(&out);
	sonde_latency_view v = {.main = &main, .ops = &ops, .by_name = "SERVICE", .window_ns = 190000000};
	assert_int_equal(sonde_render_latency_text(&v, &o, &out), 0);
	check_golden("latency.txt", &out);
	sonde_buf_reset(&out);
	assert_int_equal(sonde_render_latency_json(&v, &out), 0);
	check_golden("latency.json", &out);
	sonde_buf_release(&out);
	sonde_latency_table_release(&main);
	sonde_latency_table_release(&ops);
	sonde_queries_release(&q);
	sonde_batch_free(s.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_columns_and_text),
	        cmocka_unit_test(test_duration),
	        cmocka_unit_test(test_table),
	        cmocka_unit_test(test_trace_golden),
	        cmocka_unit_test(test_queries_and_latency_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
