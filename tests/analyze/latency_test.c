/*
 * latency_test.c - the DDSketch's error bound against exact quantiles on heavy-tailed
 * data, merging, exact quantiles for small groups, histograms and latency tables.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "latency.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

/* Pareto with shape 1.1 and scale 50us (heavy tail: the mean barely exists), mixed with
 * a lognormal body around 2ms: the shape of real request latencies. */
static uint64_t heavy(void)
{
	if (uniform() < 0.3)
		return (uint64_t)(50000.0 / pow(uniform(), 1 / 1.1));
	double z = sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
	return (uint64_t)exp(log(2e6) + 0.8 * z);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double exact_q(const uint64_t *sorted, size_t n, double q)
{
	return (double)sorted[(size_t)floor(q * (double)(n - 1))];
}

static const double qs[] = {0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999};

static void check_bound(const sonde_ddsketch *s, const uint64_t *sorted, size_t n)
{
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		double want = exact_q(sorted, n, qs[k]), got = sonde_ddsketch_quantile(s, qs[k]);
		double err = fabs(got - want) / want;
		if (err > 0.01)
			fail_msg("q %g: sketch %g, exact %g, relative error %g > 1%%", qs[k], got, want, err);
	}
	assert_true(sonde_ddsketch_quantile(s, 0) == (double)sorted[0]);
	assert_true(sonde_ddsketch_quantile(s, 1) == (double)sorted[n - 1]);
}

static void test_sketch_error_bound(void **state)
{
	(void)state;
	const size_t n = 300000;
	uint64_t *v = malloc(n * sizeof(*v));
	sonde_ddsketch s;
	sonde_ddsketch_init(&s, SONDE_DDSKETCH_ALPHA);
	for (size_t i = 0; i < n; i++) {
		v[i] = heavy() + 1;
		assert_int_equal(sonde_ddsketch_add(&s, (double)v[i], 1), 0);
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	assert_true(v[n - 1] > 100 * v[n / 2]); /* it is heavy-tailed */
	assert_int_equal(s.count, n);
	check_bound(&s, v, n);
	/* Memory stays small: buckets span log(max/min)/log(gamma), not n. */
	assert_true(s.nbuckets < 6000);
	sonde_ddsketch_release(&s);
	free(v);
}

/* Sketches of two halves, merged, equal the sketch of the whole, bucket by bucket. */
static void test_sketch_merge(void **state)
{
	(void)state;
	const size_t n = 100000;
	uint64_t *v = malloc(n * sizeof(*v));
	sonde_ddsketch a, b, all;
	sonde_ddsketch_init(&a, SONDE_DDSKETCH_ALPHA);
	sonde_ddsketch_init(&b, SONDE_DDSKETCH_ALPHA);
	sonde_ddsketch_init(&all, SONDE_DDSKETCH_ALPHA);
	for (size_t i = 0; i < n; i++) {
		/* The halves cover different ranges, so the merge must grow both ends. */
		v[i] = i < n / 2 ? heavy() / 1000 : heavy() * 10;
		assert_int_equal(sonde_ddsketch_add(i < n / 2 ? &a : &b, (double)v[i], 1), 0);
		assert_int_equal(sonde_ddsketch_add(&all, (double)v[i], 1), 0);
	}
	assert_int_equal(sonde_ddsketch_merge(&a, &b), 0);
	assert_int_equal(a.count, all.count);
	assert_int_equal(a.zero_count, all.zero_count);
	assert_true(a.min == all.min && a.max == all.max);
	for (int32_t i = all.offset; i < all.offset + (int32_t)all.nbuckets; i++) {
		uint64_t ca =
		        i >= a.offset && i < a.offset + (int32_t)a.nbuckets ? a.counts[i - a.offset] : 0;
		assert_int_equal(ca, all.counts[i - all.offset]);
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t z = 0;
	while (z < n && v[z] == 0)
		z++;
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
		double want = exact_q(v, n, qs[k]), got = sonde_ddsketch_quantile(&a, qs[k]);
		if (want >= 1)
			assert_true(fabs(got - want) / want <= 0.01);
	}
	sonde_ddsketch c;
	sonde_ddsketch_init(&c, 0.02);
	assert_int_equal(sonde_ddsketch_merge(&c, &a), -EINVAL);
	sonde_ddsketch_release(&a);
	sonde_ddsketch_release(&b);
	sonde_ddsketch_release(&all);
	sonde_ddsketch_release(&c);
	free(v);
}

/* Small groups are exact; past SONDE_LATENCY_EXACT_MAX values they switch to the sketch
 * and stay within 1%. */
static void test_dist_exact_then_sketch(void **state)
{
	(void)state;
	sonde_latency_dist d;
	sonde_latency_dist_init(&d);
	assert_true(sonde_latency_dist_quantile(&d, 0.5) == 0);
	for (uint64_t i = 100; i >= 1; i--)
		assert_int_equal(sonde_latency_dist_add(&d, i * 1000), 0);
	assert_true(sonde_latency_dist_is_exact(&d));
	/* rank floor(0.5 * 99) = 49 -> the 50th value, 50000; p99: rank 98 -> 99000. */
	assert_true(sonde_latency_dist_quantile(&d, 0.5) == 50000);
	assert_true(sonde_latency_dist_quantile(&d, 0.99) == 99000);
	assert_true(sonde_latency_dist_quantile(&d, 1) == 100000);
	const size_t n = 50000;
	uint64_t *v = malloc((n + 100) * sizeof(*v));
	for (size_t i = 0; i < 100; i++)
		v[i] = (i + 1) * 1000;
	for (size_t i = 0; i < n; i++) {
		v[100 + i] = heavy() + 1;
		assert_int_equal(sonde_latency_dist_add(&d, v[100 + i]), 0);
	}
	assert_false(sonde_latency_dist_is_exact(&d));
	assert_int_equal(sonde_latency_dist_count(&d), n + 100);
	qsort(v, n + 100, sizeof(*v), cmp_u64);
	/* A quantile moves the values still pending into the sketch. */
	assert_true(sonde_latency_dist_quantile(&d, 0.5) > 0);
	assert_int_equal(d.pending_n, 0);
	check_bound(&d.sketch, v, n + 100);
	/* Merging an exact distribution into a sketched one, and the other way. */
	sonde_latency_dist e;
	sonde_latency_dist_init(&e);
	assert_int_equal(sonde_latency_dist_add(&e, 5), 0);
	assert_int_equal(sonde_latency_dist_merge(&e, &d), 0);
	assert_int_equal(sonde_latency_dist_count(&e), n + 101);
	assert_false(sonde_latency_dist_is_exact(&e));
	assert_true(sonde_latency_dist_quantile(&e, 0) == 5);
	sonde_latency_dist_release(&e);
	sonde_latency_dist_release(&d);
	free(v);
}

/* Values added SONDE_DDSKETCH_BATCH at a time make the sketch one at a time makes. */
static void test_sketch_add_values(void **state)
{
	(void)state;
	enum { N = 10000 };
	uint64_t *v = malloc(N * sizeof(*v));
	for (size_t i = 0; i < N; i++)
		v[i] = i % 97 == 0 ? 0 : heavy();
	sonde_ddsketch one, many;
	sonde_ddsketch_init(&one, SONDE_DDSKETCH_ALPHA);
	sonde_ddsketch_init(&many, SONDE_DDSKETCH_ALPHA);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(sonde_ddsketch_add(&one, (double)v[i], 1), 0);
	for (size_t i = 0, k = 1; i < N; i += k, k = k % SONDE_DDSKETCH_BATCH + 1)
		assert_int_equal(sonde_ddsketch_add_values(&many, v + i, i + k <= N ? k : N - i), 0);
	assert_int_equal(many.count, one.count);
	assert_int_equal(many.zero_count, one.zero_count);
	assert_true(many.min == one.min && many.max == one.max);
	for (int32_t b = one.offset; b < one.offset + (int32_t)one.nbuckets; b++) {
		uint64_t got = b >= many.offset && b < many.offset + (int32_t)many.nbuckets
		                       ? many.counts[b - many.offset]
		                       : 0;
		assert_int_equal(got, one.counts[b - one.offset]);
	}
	for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++)
		assert_true(sonde_ddsketch_quantile(&many, qs[k]) == sonde_ddsketch_quantile(&one, qs[k]));
	assert_int_equal(sonde_ddsketch_add_values(&many, v, SONDE_DDSKETCH_BATCH + 1), -EINVAL);
	assert_int_equal(many.count, N);
	sonde_ddsketch_release(&one);
	sonde_ddsketch_release(&many);
	free(v);
}

/* A sketched distribution with values still pending counts them everywhere: count,
 * histogram, merge, quantiles. */
static void test_dist_pending(void **state)
{
	(void)state;
	const size_t n = SONDE_LATENCY_EXACT_MAX + 10;
	sonde_latency_dist d, e;
	sonde_latency_dist_init(&d);
	sonde_latency_dist_init(&e);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sonde_latency_dist_add(&d, 1000 + i), 0);
	/* The largest value, alone in the top bin, is one of the pending ones. */
	assert_int_equal(sonde_latency_dist_add(&d, 5000000), 0);
	assert_true(d.pending_n > 0);
	assert_int_equal(sonde_latency_dist_count(&d), n + 1);
	uint64_t bins[8], total = 0;
	double lo, hi;
	sonde_latency_dist_histogram(&d, bins, 8, &lo, &hi);
	for (int i = 0; i < 8; i++)
		total += bins[i];
	assert_int_equal(total, n + 1);
	assert_true(lo == 1000 && hi == 5000000);
	assert_int_equal(bins[7], 1);
	/* Merged while pending: every value arrives. */
	assert_int_equal(sonde_latency_dist_merge(&e, &d), 0);
	assert_int_equal(sonde_latency_dist_count(&e), n + 1);
	assert_true(sonde_latency_dist_quantile(&e, 1) == 5000000);
	assert_true(sonde_latency_dist_quantile(&d, 1) == 5000000);
	assert_int_equal(d.pending_n, 0);
	assert_int_equal(d.sketch.count, n + 1);
	double p50 = sonde_latency_dist_quantile(&d, 0.5), want = 1000 + (double)(n / 2);
	assert_true(fabs(p50 - want) <= want * 0.01);
	sonde_latency_dist_release(&d);
	sonde_latency_dist_release(&e);
}

static void test_histogram(void **state)
{
	(void)state;
	sonde_latency_dist d;
	sonde_latency_dist_init(&d);
	/* 10 values at 1us, 5 at 1ms: log-spaced bins put them at both ends. */
	for (int i = 0; i < 10; i++)
		sonde_latency_dist_add(&d, 1000);
	for (int i = 0; i < 5; i++)
		sonde_latency_dist_add(&d, 1000000);
	uint64_t bins[8];
	double lo, hi;
	sonde_latency_dist_histogram(&d, bins, 8, &lo, &hi);
	assert_true(lo == 1000 && hi == 1000000);
	assert_int_equal(bins[0], 10);
	assert_int_equal(bins[7], 5);
	for (int i = 1; i < 7; i++)
		assert_int_equal(bins[i], 0);
	sonde_latency_dist_release(&d);
}

static void test_table(void **state)
{
	(void)state;
	sonde_latency_table t;
	sonde_latency_table_init(&t);
	ssize_t a = sonde_latency_table_row(&t, "cart", NULL);
	ssize_t b = sonde_latency_table_row(&t, "db", "SELECT");
	assert_int_equal(sonde_latency_table_row(&t, "cart", NULL), a);
	assert_true(a >= 0 && b >= 0 && a != b);
	for (int i = 0; i < 10; i++)
		assert_int_equal(sonde_latency_table_add(&t, (size_t)a, 1000 + (uint64_t)i, 100, i == 3), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sonde_latency_table_add(&t, (size_t)b, 5000, 1000, false), 0);
	sonde_latency_table_finish(&t, true);
	assert_int_equal(t.count, 2);
	assert_int_equal(t.total_ns, 4000);
	assert_string_equal(t.rows[0].key, "db"); /* 3000 ns in all, the most */
	assert_string_equal(t.rows[0].key2, "SELECT");
	assert_true(t.rows[0].share == 0.75);
	assert_string_equal(t.rows[1].key, "cart");
	assert_null(t.rows[1].key2);
	assert_int_equal(t.rows[1].errors, 1);
	assert_int_equal(t.rows[1].first_ns, 1000);
	assert_int_equal(t.rows[1].last_ns, 1009);
	assert_true(t.rows[1].p50_ns == 100 && t.rows[1].exact);
	sonde_latency_table_release(&t);
	sonde_latency_table_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_sketch_error_bound),
	        cmocka_unit_test(test_sketch_merge),
	        cmocka_unit_test(test_dist_exact_then_sketch),
	        cmocka_unit_test(test_sketch_add_values),
	        cmocka_unit_test(test_dist_pending),
	        cmocka_unit_test(test_histogram),
	        cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
