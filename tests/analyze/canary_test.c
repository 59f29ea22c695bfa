/*
 * canary_test.c - canary analysis over constructed stores: identical releases pass; an
 * error burst fails with the rule and the test as reasons; a significant p95 rise within
 * the rule's threshold is marginal; a p95 rise beyond the rule on too few requests to be
 * significant is marginal; CPU points are found and compared; rules parse and reject.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "canary.h"
#include "selector.h"
#include "store.h"
#include "telemetry.h"

#include "analyze/release_fixture.h"

static void run(sonde_store *st, const char *bv, const char *cv, const sonde_canary_opts *o,
                sonde_canary_result *r)
{
	sonde_selection b = {.store = st, .version = bv}, c = {.store = st, .version = cv};
	assert_int_equal(sonde_canary_run(&b, &c, o, r), 0);
}

static bool has_reason(const sonde_canary_result *r, const char *s)
{
	for (size_t i = 0; i < r->reasons_count; i++)
		if (strstr(r->reasons[i], s))
			return true;
	return false;
}

static void test_identical_pass(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /", 1500, 50, 0.3, 0.01);
	add_spans(st, "2", "GET /", 1500, 50, 0.3, 0.01);
	sonde_canary_result r;
	run(st, "1", "2", NULL, &r);
	assert_int_equal(r.verdict, SONDE_CANARY_VERDICT_PASS);
	assert_true(r.score == 100);
	assert_int_equal(r.breaches_count, 0);
	assert_true(r.entry_spans);
	assert_int_equal(r.metrics[SONDE_CANARY_CPU].cls, SONDE_CANARY_NODATA);
	sonde_canary_result_release(&r);
	sonde_store_close(st);
}

static void test_error_burst_fail(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /", 1000, 50, 0.3, 0.01);
	add_spans(st, "2", "GET /", 1000, 50, 0.3, 0.20);
	sonde_canary_result r;
	run(st, "1", "2", NULL, &r);
	assert_int_equal(r.verdict, SONDE_CANARY_VERDICT_FAIL);
	assert_true(r.score == 0);
	assert_int_equal(r.metrics[SONDE_CANARY_ERROR_RATE].cls, SONDE_CANARY_FAIL);
	assert_true(r.metrics[SONDE_CANARY_ERROR_RATE].p < 1e-6);
	assert_true(r.breaches_count >= 2); /* error rate above 5%, success rate down > 5 points */
	assert_true(has_reason(&r, "error_rate>5%:critical"));
	assert_true(has_reason(&r, "error_rate worse"));
	sonde_canary_result_release(&r);
	sonde_store_close(st);
}

static void test_significant_small_rise_marginal(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /", 2000, 100, 0.2, 0.0);
	add_spans(st, "2", "GET /", 2000, 118, 0.2, 0.0);
	sonde_canary_result r;
	run(st, "1", "2", NULL, &r);
	/* p95 up about 18%: beyond the 10% tolerance and significant, within the 25% rule */
	assert_int_equal(r.metrics[SONDE_CANARY_P95].cls, SONDE_CANARY_FAIL);
	assert_int_equal(r.breaches_count, 0);
	assert_true(r.score == 50);
	assert_int_equal(r.verdict, SONDE_CANARY_VERDICT_MARGINAL);
	sonde_canary_result_release(&r);
	sonde_store_close(st);
}

static void test_rule_without_significance_marginal(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /", 12, 100, 1.0, 0.0);
	add_spans(st, "2", "GET /", 12, 140, 1.0, 0.0);
	sonde_canary_result r;
	run(st, "1", "2", NULL, &r);
	assert_true(r.metrics[SONDE_CANARY_P95].p > 0.05);
	assert_true(r.metrics[SONDE_CANARY_P95].change > 0.25); /* the data are seeded: this holds */
	assert_int_equal(r.breaches_count, 1);
	assert_true(r.score == 60);
	assert_int_equal(r.verdict, SONDE_CANARY_VERDICT_MARGINAL);
	sonde_canary_result_release(&r);
	sonde_store_close(st);
}

static void add_cpu(sonde_store *st, const char *ver, double level)
{
	sonde_batch *b = sonde_batch_new();
	const sonde_resource *res = resource(b, "shop", ver);
	const sonde_scope *sc = sonde_batch_new_scope(b);
	sonde_metric_data *m = sonde_batch_add_metric(b, res, sc);
	m->name = sonde_batch_intern(b, "process.cpu.utilization", 23);
	m->type = SONDE_METRIC_GAUGE;
	m->points_count = 60;
	m->points = sonde_batch_alloc(b, 60 * sizeof(sonde_point));
	uint64_t t0 = 1700000000000000000ull + (ver[0] == '2' ? 3600000000000ull : 0);
	for (int i = 0; i < 60; i++) {
		m->points[i].time_ns = t0 + (uint64_t)i * 1000000000ull;
		m->points[i].u.number.kind = SONDE_NUM_DOUBLE;
		m->points[i].u.number.v.d = level + 0.02 * uniform();
	}
	assert_int_equal(sonde_store_append(st, b, NULL, NULL), 0);
	sonde_batch_free(b);
}

static void test_cpu(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /", 500, 50, 0.3, 0.0);
	add_spans(st, "2", "GET /", 500, 50, 0.3, 0.0);
	add_cpu(st, "1", 0.20);
	add_cpu(st, "2", 0.40);
	sonde_canary_rule rule;
	char msg[256];
	assert_int_equal(sonde_canary_rule_parse("cpu.change>50%:medium", &rule, msg, sizeof msg), 0);
	sonde_canary_opts o = {.rules = &rule, .rules_count = 1};
	sonde_canary_result r;
	run(st, "1", "2", &o, &r);
	const sonde_canary_value *v = &r.metrics[SONDE_CANARY_CPU];
	assert_string_equal(v->source, "process.cpu.utilization");
	assert_int_equal(v->cls, SONDE_CANARY_FAIL);
	assert_true(v->change > 0.7 && v->change < 1.2);
	assert_int_equal(r.breaches_count, 1);
	/* statistics: error rate and p95 pass, cpu fails: 66.7; less 20 for the rule */
	assert_true(fabs(r.score - (200.0 / 3 - 20)) < 1e-9);
	assert_int_equal(r.verdict, SONDE_CANARY_VERDICT_FAIL);
	sonde_canary_result_release(&r);
	sonde_store_close(st);
}

static void test_rules_parse(void **state)
{
	(void)state;
	sonde_canary_rule r;
	char msg[256];
	assert_int_equal(sonde_canary_rule_parse("error_rate>5%:critical", &r, msg, sizeof msg), 0);
	assert_int_equal(r.metric, SONDE_CANARY_ERROR_RATE);
	assert_int_equal(r.of, SONDE_RULE_VALUE);
	assert_int_equal(r.op, SONDE_RULE_GT);
	assert_true(fabs(r.threshold - 0.05) < 1e-15);
	assert_int_equal(r.severity, SONDE_SEV_CRITICAL);
	assert_int_equal(sonde_canary_rule_parse("p95>=800ms", &r, msg, sizeof msg), 0);
	assert_int_equal(r.op, SONDE_RULE_GE);
	assert_true(r.threshold == 800e6);
	assert_int_equal(r.severity, SONDE_SEV_HIGH);
	assert_int_equal(sonde_canary_rule_parse("success_rate.delta<-5pt:critical", &r, msg, sizeof msg), 0);
	assert_int_equal(r.of, SONDE_RULE_DELTA);
	assert_true(fabs(r.threshold + 0.05) < 1e-15);
	assert_int_equal(sonde_canary_rule_parse("throughput.change<-50%:low", &r, msg, sizeof msg), 0);
	assert_int_equal(sonde_canary_rule_parse("latency>5%", &r, msg, sizeof msg), -EINVAL);
	assert_non_null(strstr(msg, "unknown metric"));
	assert_int_equal(sonde_canary_rule_parse("error_rate>5", &r, msg, sizeof msg), -EINVAL);
	assert_int_equal(sonde_canary_rule_parse("p95.change>25%:severe", &r, msg, sizeof msg), -EINVAL);
	assert_int_equal(sonde_canary_rule_parse("p95=5ms", &r, msg, sizeof msg), -EINVAL);
	assert_int_equal(sonde_canary_rule_parse("p95>5parsecs", &r, msg, sizeof msg), -EINVAL);
}

static void test_no_data(void **state)
{
	(void)state;
	sonde_store *st = open_mem();
	add_spans(st, "1", "GET /", 10, 50, 0.3, 0.0);
	sonde_selection b = {.store = st, .version = "1"}, c = {.store = st, .version = "3"};
	sonde_canary_result r;
	assert_int_equal(sonde_canary_run(&b, &c, NULL, &r), -ENODATA);
	sonde_canary_result_release(&r);
	sonde_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_identical_pass),
	        cmocka_unit_test(test_error_burst_fail),
	        cmocka_unit_test(test_significant_small_rise_marginal),
	        cmocka_unit_test(test_rule_without_significance_marginal),
	        cmocka_unit_test(test_cpu),
	        cmocka_unit_test(test_rules_parse),
	        cmocka_unit_test(test_no_data),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
