/* telemetry_test.c - the batch: adding records, ownership, deep comparison. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "telemetry.h"

/* Builds a batch with one span per resource/scope group, a log, and a histogram. */
static sonde_batch *build(double nan_or_value)
{
	sonde_batch *b = sonde_batch_new();
	sonde_resource *r = sonde_batch_new_resource(b);
	sonde_kv *kv = sonde_batch_alloc(b, 2 * sizeof(*kv));
	kv[0].key = sonde_batch_intern(b, "service.name", 12);
	kv[0].value.kind = SONDE_VAL_STRING;
	kv[0].value.u.str = sonde_batch_strdup(b, "checkout", 8);
	kv[1].key = sonde_batch_intern(b, "weights", 7);
	kv[1].value.kind = SONDE_VAL_ARRAY;
	kv[1].value.u.array.count = 2;
	kv[1].value.u.array.items = sonde_batch_alloc(b, 2 * sizeof(sonde_value));
	kv[1].value.u.array.items[0] = (sonde_value){.kind = SONDE_VAL_DOUBLE, .u.d = nan_or_value};
	kv[1].value.u.array.items[1] = (sonde_value){.kind = SONDE_VAL_INT, .u.i = -3};
	r->attrs = (sonde_attrs){kv, 2};
	sonde_scope *s1 = sonde_batch_new_scope(b), *s2 = sonde_batch_new_scope(b);
	s1->name = sonde_batch_intern(b, "lib", 3);
	s2->name = sonde_batch_intern(b, "lib", 3);
	for (int i = 0; i < 3; i++) {
		sonde_span_data *sp = sonde_batch_add_span(b, r, i < 2 ? s1 : s2);
		assert_non_null(sp);
		sp->trace_id[0] = 1;
		sp->span_id[0] = (uint8_t)(i + 1);
		sp->name = sonde_batch_intern(b, "GET /cart", 9);
		sp->start_ns = 1000 + (uint64_t)i;
		sp->end_ns = 2000;
		sp->kind = SONDE_SPAN_KIND_SERVER;
		sp->events = sonde_batch_alloc(b, sizeof(sonde_span_event));
		sp->events_count = 1;
		sp->events[0].name = sonde_batch_intern(b, "exception", 9);
		sp->events[0].time_ns = 1500;
	}
	sonde_log_data *l = sonde_batch_add_log(b, r, s1);
	l->severity_number = 17;
	l->severity_text = sonde_batch_intern(b, "ERROR", 5);
	l->body.kind = SONDE_VAL_STRING;
	l->body.u.str = sonde_batch_strdup(b, "payment failed", 14);
	sonde_metric_data *m = sonde_batch_add_metric(b, r, s1);
	m->name = sonde_batch_intern(b, "latency", 7);
	m->type = SONDE_METRIC_HISTOGRAM;
	m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
	m->points = sonde_batch_alloc(b, sizeof(sonde_point));
	m->points_count = 1;
	m->points[0].u.hist.count = 3;
	m->points[0].u.hist.bounds_count = 1;
	m->points[0].u.hist.bounds = sonde_batch_alloc(b, sizeof(double));
	m->points[0].u.hist.bounds[0] = 0.5;
	m->points[0].u.hist.bucket_counts_count = 2;
	m->points[0].u.hist.bucket_counts = sonde_batch_alloc(b, 2 * sizeof(uint64_t));
	m->points[0].u.hist.bucket_counts[0] = 1;
	m->points[0].u.hist.bucket_counts[1] = 2;
	return b;
}

static void test_add_and_lookup(void **state)
{
	(void)state;
	sonde_batch *b = build(1.5);
	assert_int_equal(b->spans_count, 3);
	assert_int_equal(b->logs_count, 1);
	assert_int_equal(b->metrics_count, 1);
	/* Fresh records have empty strings, never NULL. */
	assert_non_null(b->spans[0].trace_state.ptr);
	assert_non_null(b->logs[0].event_name.ptr);
	/* Interned names share storage. */
	assert_ptr_equal(b->spans[0].name.ptr, b->spans[2].name.ptr);
	const sonde_value *v = sonde_attrs_get(&b->spans[0].resource->attrs, "service.name");
	assert_non_null(v);
	assert_string_equal(v->u.str.ptr, "checkout");
	assert_null(sonde_attrs_get(&b->spans[0].resource->attrs, "service"));
	sonde_batch_free(b);
	sonde_batch_free(NULL);
}

static void test_equal_detects_every_difference(void **state)
{
	(void)state;
	char why[128];
	sonde_batch *a = build(NAN), *b = build(NAN);
	assert_true(sonde_batch_equal(a, b, why, sizeof(why))); /* NaN == NaN for round trips */

	b->spans[1].end_ns++;
	assert_false(sonde_batch_equal(a, b, why, sizeof(why)));
	assert_non_null(strstr(why, "span 1"));
	b->spans[1].end_ns--;

	b->spans[2].events[0].time_ns++;
	assert_false(sonde_batch_equal(a, b, NULL, 0));
	b->spans[2].events[0].time_ns--;

	b->metrics[0].points[0].u.hist.bucket_counts[1] = 9;
	assert_false(sonde_batch_equal(a, b, why, sizeof(why)));
	assert_non_null(strstr(why, "metric 0"));
	b->metrics[0].points[0].u.hist.bucket_counts[1] = 2;

	b->logs[0].severity_number = 9;
	assert_false(sonde_batch_equal(a, b, NULL, 0));
	b->logs[0].severity_number = 17;

	/* Resource attribute values are compared through the records. */
	((sonde_resource *)b->spans[0].resource)->attrs.items[1].value.u.array.items[1].u.i = 4;
	assert_false(sonde_batch_equal(a, b, NULL, 0));
	((sonde_resource *)b->spans[0].resource)->attrs.items[1].value.u.array.items[1].u.i = -3;
	assert_true(sonde_batch_equal(a, b, NULL, 0));

	/* Grouping: the third span sits in a scope group of its own. */
	b->spans[2].scope = b->spans[1].scope;
	assert_false(sonde_batch_equal(a, b, why, sizeof(why)));
	assert_non_null(strstr(why, "grouping"));
	sonde_batch_free(a);
	sonde_batch_free(b);
}

static void test_clear_reuses(void **state)
{
	(void)state;
	sonde_batch *b = build(2.0);
	sonde_batch_clear(b);
	assert_int_equal(b->spans_count, 0);
	sonde_resource *r = sonde_batch_new_resource(b);
	sonde_scope *s = sonde_batch_new_scope(b);
	for (int i = 0; i < 10000; i++)
		assert_non_null(sonde_batch_add_span(b, r, s));
	assert_int_equal(b->spans_count, 10000);
	sonde_batch_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_add_and_lookup),
	        cmocka_unit_test(test_equal_detects_every_difference),
	        cmocka_unit_test(test_clear_reuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
