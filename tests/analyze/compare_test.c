/*
 * compare_test.c - `sonde compare`'s analysis over constructed stores whose answer is
 * known: a 30% p95 regression on 2000 requests is a regression; a 20% change on 40 noisy
 * requests is not significant, so no change; an error burst is a regression; operations on
 * one side only are new or gone; version selection by prefix.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "compare.h"
#include "selector.h"
#include "store.h"
#include "telemetry.h"

#include "analyze/release_fixture.h"

static const sonde_cmp_op *find(const sonde_compare_result *r, const char *op)
{
	for (size_t i = 0; i < r->count; i++)
		if (strcmp(r->ops[i].operation, op) == 0)
			return &r->ops[i];
	fail_msg("no operation %s", op);
	return NULL;
}

static void run(sonde_store *st, const char *bv, const char *cv, sonde_compare_result *r)
{
	sonde_selection b = {.store = st, .version = bv}, c = {.store = st, .version = cv};
	assert_int_equal(sonde_compare_run(&b, &c, NULL, r), 0);
}

static void test_regression_large(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /checkout", 2000, 100, 0.3, 0.0);
	add_spans(st, "2", "GET /checkout", 2000, 130, 0.3, 0.0);
	add_spans(st, "1", "GET /home", 2000, 20, 0.3, 0.0);
	add_spans(st, "2", "GET /home", 2000, 20, 0.3, 0.0);
	sonde_compare_result r;
	run(st, "1", "2", &r);
	const sonde_cmp_op *op = find(&r, "GET /checkout");
	assert_int_equal(op->verdict, SONDE_CMP_REGRESSION);
	assert_true(op->p95_change > 0.2 && op->p95_change < 0.45);
	assert_true(op->mwu.p < 1e-6);
	assert_true(op->hl.shift > 20e6 && op->hl.shift < 40e6); /* median shift 30ms */
	assert_true(op->hl.lo < op->hl.shift && op->hl.shift < op->hl.hi);
	assert_int_equal(op->severity, SONDE_SEV_LOW);
	assert_true(op->reasons_count >= 1 && strstr(op->reasons[0], "p95 rose"));
	assert_int_equal(find(&r, "GET /home")->verdict, SONDE_CMP_NO_CHANGE);
	assert_int_equal(r.regressions, 1);
	assert_int_equal(r.unchanged, 1);
	assert_ptr_equal(&r.ops[0], op); /* regressions first */
	sonde_compare_result_release(&r);
	sonde_store_close(st);
}

static void test_small_noisy_not_significant(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /search", 40, 100, 0.8, 0.0);
	add_spans(st, "2", "GET /search", 40, 120, 0.8, 0.0);
	sonde_compare_result r;
	run(st, "1", "2", &r);
	const sonde_cmp_op *op = find(&r, "GET /search");
	assert_true(op->mwu.p > 0.05);
	assert_int_equal(op->verdict, SONDE_CMP_NO_CHANGE);
	assert_int_equal(r.regressions, 0);
	sonde_compare_result_release(&r);
	sonde_store_close(st);
}

static void test_error_burst_and_new_gone(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "POST /pay", 1000, 50, 0.3, 0.01);
	add_spans(st, "2.0.1", "POST /pay", 1000, 50, 0.3, 0.15);
	add_spans(st, "1", "GET /old", 100, 10, 0.3, 0.0);
	add_spans(st, "2.0.1", "GET /new", 100, 10, 0.3, 0.0);
	add_spans(st, "20", "GET /other", 100, 10, 0.3, 0.0); /* not version 2 */
	sonde_compare_result r;
	run(st, "1", "2", &r);
	const sonde_cmp_op *op = find(&r, "POST /pay");
	assert_int_equal(op->verdict, SONDE_CMP_REGRESSION);
	assert_true(op->errors_worse);
	assert_false(op->latency_worse);
	assert_int_equal(op->severity, SONDE_SEV_HIGH); /* about +14 points */
	assert_int_equal(find(&r, "GET /old")->verdict, SONDE_CMP_GONE);
	assert_int_equal(find(&r, "GET /new")->verdict, SONDE_CMP_NEW);
	for (size_t i = 0; i < r.count; i++)
		assert_string_not_equal(r.ops[i].operation, "GET /other");
	assert_int_equal(r.regressions, 1);
	assert_int_equal(r.added, 1);
	assert_int_equal(r.removed, 1);
	sonde_compare_result_release(&r);
	sonde_store_close(st);
}

static void test_improvement_and_reservoir(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /list", 3000, 200, 0.3, 0.0);
	add_spans(st, "2", "GET /list", 3000, 100, 0.3, 0.0);
	sonde_selection b = {.store = st, .version = "1"}, c = {.store = st, .version = "2"};
	sonde_compare_opts o = {.max_samples = 500};
	sonde_compare_result r;
	assert_int_equal(sonde_compare_run(&b, &c, &o, &r), 0);
	const sonde_cmp_op *op = find(&r, "GET /list");
	assert_int_equal(op->verdict, SONDE_CMP_IMPROVEMENT);
	assert_int_equal(op->base.sampled, 500);
	assert_false(op->base.sample_exact);
	assert_int_equal(op->base.count, 3000);
	sonde_compare_result_release(&r);
	sonde_store_close(st);
}

static void test_version_rule(void **state)
{
	(void)state;
	assert_true(sonde_selection_version_ok("2", "2", 1));
	assert_true(sonde_selection_version_ok("2", "2.1.3", 5));
	assert_false(sonde_selection_version_ok("2", "20", 2));
	assert_false(sonde_selection_version_ok("1.4", "1.40", 4));
	assert_true(sonde_selection_version_ok("1.4", "1.4.2", 5));
	assert_true(sonde_selection_version_ok(NULL, "x", 1));
}

static void test_sample(void **state)
{
	(void)state;
	sonde_sample s;
	sonde_sample_init(&s, 100);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(sonde_sample_add(&s, i), 0);
	assert_int_equal(s.n, 100);
	assert_int_equal(s.seen, 10000);
	double mean = 0;
	for (size_t i = 0; i < s.n; i++)
		mean += s.v[i] / 100;
	assert_true(mean > 3500 && mean < 6500); /* uniform over 0..9999: 5000 */
	sonde_sample_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_regression_large),
	        cmocka_unit_test(test_small_noisy_not_significant),
	        cmocka_unit_test(test_error_burst_and_new_gone),
	        cmocka_unit_test(test_improvement_and_reservoir),
	        cmocka_unit_test(test_version_rule),
	        cmocka_unit_test(test_sample),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
