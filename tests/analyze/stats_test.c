/*
 * stats_test.c - the statistics of stats.h on values checked by hand (and against the
 * textbook formulas), and their edge cases: empty samples, zero counts, ties, zero
 * variance. stats_ref_test.sh compares the same functions with scipy and statsmodels on
 * hundreds of random cases.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "stats.h"

#define assert_near(a, b, rel)                                                   \
	do {                                                                     \
		double a_ = (a), b_ = (b);                                       \
		if (!(fabs(a_ - b_) <= (rel)*fabs(b_) + 1e-300)) {               \
			print_error("%s = %.17g, expected %.17g\n", #a, a_, b_); \
			fail();                                                  \
		}                                                                \
	} while (0)

static void test_descriptive(void **state)
{
	(void)state;
	const double x[] = {4, 1, 3, 2};
	assert_near(sonde_stats_mean(x, 4), 2.5, 1e-15);
	assert_near(sonde_stats_variance(x, 4), 5.0 / 3, 1e-15);
	const double s[] = {1, 2, 3, 4};
	/* h = 3 * 0.95 = 2.85: 3 + 0.85 * (4 - 3). */
	assert_near(sonde_stats_quantile_sorted(s, 4, 0.95), 3.85, 1e-15);
	assert_near(sonde_stats_quantile_sorted(s, 4, 0.5), 2.5, 1e-15);
	assert_true(isnan(sonde_stats_quantile_sorted(s, 0, 0.5)));
	assert_true(isnan(sonde_stats_variance(x, 1)));

	/* Quartiles of 1..9 and 100: q1 = 3.25, q3 = 7.75, IQR 4.5, upper fence 14.5. */
	const double o[] = {100, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	sonde_stats_summary sum;
	assert_int_equal(sonde_stats_summarize(o, 10, &sum), 0);
	assert_near(sum.q1, 3.25, 1e-15);
	assert_near(sum.q3, 7.75, 1e-15);
	assert_near(sum.fence_hi, 14.5, 1e-15);
	assert_int_equal(sum.outliers_high, 1);
	assert_int_equal(sum.outliers_low, 0);
	assert_true(sonde_stats_is_outlier(&sum, 100));
	assert_false(sonde_stats_is_outlier(&sum, 9));
	assert_near(sum.median, 5.5, 1e-15);

	assert_int_equal(sonde_stats_summarize(o, 0, &sum), -EINVAL);
	assert_true(isnan(sum.mean));
	assert_int_equal(sonde_stats_summarize(o, 1, &sum), 0);
	assert_true(isnan(sum.sd));
	assert_near(sum.p99, 100, 0);
}

static void test_mann_whitney(void **state)
{
	(void)state;
	const double x[] = {1, 2, 3}, y[] = {4, 5, 6};
	sonde_mwu_result r;
	/* Complete separation: U1 = 0, and 2 of the C(6,3) = 20 arrangements are as extreme. */
	assert_int_equal(sonde_stats_mann_whitney(x, 3, y, 3, SONDE_MWU_AUTO, &r), 0);
	assert_true(r.exact);
	assert_near(r.u1, 0, 0);
	assert_near(r.u2, 9, 0);
	assert_near(r.p, 0.1, 1e-15);
	assert_near(r.auc, 1, 0);

	/* Asymptotic: mu = 4.5, sigma = sqrt(9 * 7 / 12), z = (9 - 4.5 - 0.5) / sigma. */
	assert_int_equal(sonde_stats_mann_whitney(x, 3, y, 3, SONDE_MWU_ASYMPTOTIC, &r), 0);
	assert_false(r.exact);
	assert_near(r.z, 4 / sqrt(63.0 / 12), 1e-15);
	assert_near(r.p, 0.080856, 1e-4);

	/* All values tied: sigma is 0, z -inf, p 1. */
	const double t[] = {2, 2, 2, 2};
	assert_int_equal(sonde_stats_mann_whitney(t, 2, t + 2, 2, SONDE_MWU_AUTO, &r), 0);
	assert_false(r.exact);
	assert_near(r.p, 1, 0);
	assert_near(r.u1, 2, 0);

	/* Ties between the samples: ranks 1, 2.5, 2.5, 4 -> R1 = 1 + 2.5 = 3.5, U1 = 0.5. */
	const double a[] = {1, 2}, b[] = {2, 3};
	assert_int_equal(sonde_stats_mann_whitney(a, 2, b, 2, SONDE_MWU_AUTO, &r), 0);
	assert_near(r.u1, 0.5, 0);

	/* n = 1 each: U1 = 0, exact p = 2 * 1/2 = 1. */
	assert_int_equal(sonde_stats_mann_whitney(x, 1, y, 1, SONDE_MWU_AUTO, &r), 0);
	assert_near(r.p, 1, 0);

	assert_int_equal(sonde_stats_mann_whitney(x, 0, y, 3, SONDE_MWU_AUTO, &r), -EINVAL);
	assert_true(isnan(r.p));
	const double bad[] = {NAN};
	assert_int_equal(sonde_stats_mann_whitney(bad, 1, y, 3, SONDE_MWU_AUTO, &r), -EINVAL);
}

/* The k-th smallest difference by listing them all. */
static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void test_hodges_lehmann(void **state)
{
	(void)state;
	/* y = x + 2 exactly: every order statistic of the differences near the middle is 2. */
	const double x[] = {1, 2, 3, 4, 5}, y[] = {3, 4, 5, 6, 7};
	sonde_hl_result h;
	assert_int_equal(sonde_stats_hodges_lehmann(x, 5, y, 5, 0.95, &h), 0);
	assert_near(h.shift, 2, 0);
	assert_true(h.lo <= 2 && h.hi >= 2);

	/* Too small for 95%: k = floor(2 - 1.96 sqrt(4 * 5 / 12)) < 1. */
	assert_int_equal(sonde_stats_hodges_lehmann(x, 2, y, 2, 0.95, &h), 0);
	assert_true(isinf(h.lo) && h.lo < 0 && isinf(h.hi));
	assert_int_equal(h.k, 0);

	/* Large samples go through the selection; compare with the sorted list of all. */
	enum { N1 = 173, N2 = 151 };
	double *a = malloc(N1 * sizeof(*a)), *b = malloc(N2 * sizeof(*b));
	double *d = malloc((size_t)N1 * N2 * sizeof(*d));
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(d);
	uint32_t seed = 12345;
	for (int i = 0; i < N1; i++) {
		seed = seed * 1103515245u + 12345u;
		a[i] = (double)(seed >> 16 & 0x3ff) / 8; /* coarse: many ties */
	}
	for (int j = 0; j < N2; j++) {
		seed = seed * 1103515245u + 12345u;
		b[j] = (double)(seed >> 16 & 0x3ff) / 8 + 10;
	}
	for (int i = 0; i < N1; i++)
		for (int j = 0; j < N2; j++)
			d[(size_t)i * N2 + j] = b[j] - a[i];
	qsort(d, (size_t)N1 * N2, sizeof(*d), cmp);
	size_t total = (size_t)N1 * N2;
	assert_int_equal(sonde_stats_hodges_lehmann(a, N1, b, N2, 0.9, &h), 0);
	assert_near(h.shift, (d[total / 2 - 1] + d[total / 2]) / 2, 0);
	assert_true(h.k > 0);
	assert_near(h.lo, d[h.k - 1], 0);
	assert_near(h.hi, d[total - h.k], 0);
	free(a);
	free(b);
	free(d);

	assert_int_equal(sonde_stats_hodges_lehmann(x, 5, y, 5, 1.0, &h), -EINVAL);
	assert_int_equal(sonde_stats_hodges_lehmann(x, 5, y, 0, 0.95, &h), -EINVAL);
}

static void test_proportions(void **state)
{
	(void)state;
	sonde_test_result r;
	/* Pooled p = 0.15: z = -0.1 / sqrt(0.15 * 0.85 * 0.02). */
	assert_int_equal(sonde_stats_prop_ztest(10, 100, 20, 100, &r), 0);
	assert_near(r.stat, -0.1 / sqrt(0.15 * 0.85 * 0.02), 1e-14);
	assert_near(r.p, 0.047670380656161, 1e-12);
	/* Nobody converted, or everybody: undefined. */
	assert_int_equal(sonde_stats_prop_ztest(0, 10, 0, 10, &r), 0);
	assert_true(isnan(r.stat) && isnan(r.p));
	assert_int_equal(sonde_stats_prop_ztest(10, 10, 10, 10, &r), 0);
	assert_true(isnan(r.p));
	assert_int_equal(sonde_stats_prop_ztest(11, 10, 1, 10, &r), -EINVAL);
	assert_int_equal(sonde_stats_prop_ztest(1, 0, 1, 10, &r), -EINVAL);

	double lo, hi;
	assert_int_equal(sonde_stats_prop_diff_ci(10, 100, 20, 100, 0.95, &lo, &hi), 0);
	double half = sonde_stats_z_crit(0.95) * sqrt(0.1 * 0.9 / 100 + 0.2 * 0.8 / 100);
	assert_near(lo, 0.1 - half, 1e-14);
	assert_near(hi, 0.1 + half, 1e-14);
	assert_near(sonde_stats_z_crit(0.95), 1.959963984540054, 1e-14);

	assert_near(sonde_stats_cohen_h(0, 1), M_PI, 1e-15);
	assert_near(sonde_stats_cohen_h(0.5, 0.5), 0, 0);
	assert_true(isnan(sonde_stats_cohen_h(-0.1, 0.5)));

	double lift;
	assert_int_equal(sonde_stats_lift_ci(0.1, 0.0009, 0.2, 0.0016, 0.95, &lift, &lo, &hi), 0);
	assert_near(lift, 1, 1e-15);
	assert_near(hi - lift, sonde_stats_z_crit(0.95) * 2 * sqrt(0.09 + 0.04), 1e-14);
	assert_int_equal(sonde_stats_lift_ci(0, 0, 0.2, 0.0016, 0.95, &lift, &lo, &hi), 0);
	assert_true(isnan(lift));
}

static void test_means(void **state)
{
	(void)state;
	const double x[] = {1, 2, 3}, y[] = {4, 5, 7};
	sonde_stats_moments a = sonde_stats_moments_of(x, 3), b = sonde_stats_moments_of(y, 3);
	sonde_test_result r;
	/* va = 1/3, vb = 7/3 / 3; t = -10/3 / sqrt(10/9) = -sqrt(10); df = (10/9)^2 / ((1/9 +
	 * 49/81) / 2). */
	assert_int_equal(sonde_stats_welch_ttest(&a, &b, &r), 0);
	assert_near(r.stat, -sqrt(10.0), 1e-14);
	assert_near(r.df, (100.0 / 81) / ((1.0 / 9 + 49.0 / 81) / 2), 1e-14);
	assert_near(r.p, 0.041914517471454, 1e-10);

	/* Zero variance in both, equal means: undefined. Different means: t infinite. */
	const double c[] = {5, 5, 5}, e[] = {6, 6};
	sonde_stats_moments mc = sonde_stats_moments_of(c, 3), me = sonde_stats_moments_of(e, 2);
	assert_int_equal(sonde_stats_welch_ttest(&mc, &mc, &r), 0);
	assert_true(isnan(r.stat) && isnan(r.p));
	assert_int_equal(sonde_stats_welch_ttest(&mc, &me, &r), 0);
	assert_true(isinf(r.stat) && r.stat < 0);
	/* One observation: no variance, NaN. */
	sonde_stats_moments one = sonde_stats_moments_of(x, 1);
	assert_int_equal(sonde_stats_welch_ttest(&one, &b, &r), 0);
	assert_true(isnan(r.p));
	sonde_stats_moments none = sonde_stats_moments_of(x, 0);
	assert_int_equal(sonde_stats_welch_ttest(&none, &b, &r), -EINVAL);

	double lo, hi;
	assert_int_equal(sonde_stats_mean_diff_ci(&a, &b, 0.95, &lo, &hi), 0);
	assert_near((lo + hi) / 2, 10.0 / 3, 1e-14);
	assert_true(lo < 0 + 10.0 / 3 && hi > 10.0 / 3);
}

static void test_power(void **state)
{
	(void)state;
	/* The classic: h = 0.2, alpha 0.05, power 0.8 needs 392.4 per group. */
	double n;
	assert_int_equal(sonde_stats_solve_nobs1(0.2, 0.05, 0.8, 1, &n), 0);
	assert_near(n, 392.443, 1e-5);
	assert_near(sonde_stats_power(0.2, n, 0.05, 1), 0.8, 1e-13);
	assert_near(sonde_stats_power(-0.2, n, 0.05, 1), 0.8, 1e-13);
	/* With twice as many in the second group the first needs fewer. */
	double n2;
	assert_int_equal(sonde_stats_solve_nobs1(0.2, 0.05, 0.8, 2, &n2), 0);
	assert_true(n2 < n);
	assert_int_equal(sonde_stats_solve_nobs1(0, 0.05, 0.8, 1, &n), -EINVAL);
	assert_true(isnan(n));
	assert_int_equal(sonde_stats_solve_nobs1(0.2, 0.05, 0.01, 1, &n), -EINVAL);
	/* No effect: power is alpha. */
	assert_near(sonde_stats_power(0, 100, 0.05, 1), 0.05, 1e-14);
}

static void test_chisquare_holm(void **state)
{
	(void)state;
	sonde_test_result r;
	const double o[] = {480, 520}, w[] = {1, 1};
	assert_int_equal(sonde_stats_chisquare(o, w, 2, &r), 0);
	assert_near(r.stat, 1.6, 1e-15);
	assert_near(r.df, 1, 0);
	assert_near(r.p, 0.205903210732068, 1e-12);
	const double z[] = {0, 0};
	assert_int_equal(sonde_stats_chisquare(z, w, 2, &r), -EINVAL);
	const double w0[] = {1, 0};
	assert_int_equal(sonde_stats_chisquare(o, w0, 2, &r), -EINVAL);

	const double p[] = {0.01, 0.04, 0.03};
	double adj[3];
	bool rej[3];
	assert_int_equal(sonde_stats_holm(p, 3, 0.05, adj, rej), 0);
	assert_near(adj[0], 0.03, 1e-15);
	assert_near(adj[1], 0.06, 1e-15);
	assert_near(adj[2], 0.06, 1e-15);
	assert_true(rej[0]);
	assert_false(rej[1] || rej[2]);
	const double big[] = {0.6, 0.7};
	assert_int_equal(sonde_stats_holm(big, 2, 0.05, adj, NULL), 0);
	assert_near(adj[0], 1, 0);
	const double nan[] = {NAN};
	assert_int_equal(sonde_stats_holm(nan, 1, 0.05, adj, rej), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_descriptive),    cmocka_unit_test(test_mann_whitney),
	        cmocka_unit_test(test_hodges_lehmann), cmocka_unit_test(test_proportions),
	        cmocka_unit_test(test_means),          cmocka_unit_test(test_power),
	        cmocka_unit_test(test_chisquare_holm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
