/*
 * stats.c - descriptive statistics, the tests on proportions and means, intervals, power,
 * the chi-square goodness of fit and Holm's correction (see stats.h). The rank methods
 * (Mann-Whitney, Hodges-Lehmann) live in stats_rank.c.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "stats.h"
#include "stats_internal.h"

/* ---- GSL, guarded --------------------------------------------------------------------- */

double sonde__norm_sf(double z)
{
	if (isnan(z))
		return NAN;
	if (isinf(z))
		return z > 0 ? 0.0 : 1.0;
	return gsl_cdf_ugaussian_Q(z);
}

double sonde__norm_cdf(double z)
{
	if (isnan(z))
		return NAN;
	if (isinf(z))
		return z > 0 ? 1.0 : 0.0;
	return gsl_cdf_ugaussian_P(z);
}

double sonde__norm_isf(double p)
{
	if (!(p > 0 && p < 1))
		return NAN;
	return gsl_cdf_ugaussian_Qinv(p);
}

/* Upper tail of Student's t with df degrees of freedom. */
static double t_sf(double t, double df)
{
	if (isnan(t) || !(df > 0))
		return NAN;
	if (isinf(t))
		return t > 0 ? 0.0 : 1.0;
	return gsl_cdf_tdist_Q(t, df);
}

static double t_isf(double p, double df)
{
	if (!(p > 0 && p < 1) || !(df > 0) || isinf(df))
		return isinf(df) ? sonde__norm_isf(p) : NAN;
	return gsl_cdf_tdist_Qinv(p, df);
}

double sonde_stats_z_crit(double conf)
{
	if (!(conf > 0 && conf < 1))
		return NAN;
	return sonde__norm_isf((1 - conf) / 2);
}

/* ---- Descriptive ------------------------------------------------------------------------ */

double sonde_stats_mean(const double *x, size_t n)
{
	if (n == 0)
		return NAN;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += x[i];
	return s / (double)n;
}

double sonde_stats_variance(const double *x, size_t n)
{
	if (n < 2)
		return NAN;
	double m = sonde_stats_mean(x, n), s = 0;
	for (size_t i = 0; i < n; i++)
		s += (x[i] - m) * (x[i] - m);
	return s / (double)(n - 1);
}

double sonde_stats_sd(const double *x, size_t n)
{
	return sqrt(sonde_stats_variance(x, n));
}

double sonde_stats_quantile_sorted(const double *s, size_t n, double q)
{
	if (n == 0 || isnan(q))
		return NAN;
	if (q <= 0)
		return s[0];
	if (q >= 1)
		return s[n - 1];
	double h = (double)(n - 1) * q;
	size_t lo = (size_t)floor(h);
	if (lo + 1 >= n)
		return s[n - 1];
	double frac = h - (double)lo;
	return s[lo] + frac * (s[lo + 1] - s[lo]);
}

int sonde__cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int sonde_stats_summarize(const double *x, size_t n, sonde_stats_summary *out)
{
	memset(out, 0, sizeof(*out));
	out->mean = out->sd = out->min = out->max = out->median = NAN;
	out->q1 = out->q3 = out->p95 = out->p99 = out->fence_lo = out->fence_hi = NAN;
	if (n == 0)
		return -EINVAL;
	double *s = malloc(n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s, x, n * sizeof(*s));
	qsort(s, n, sizeof(*s), sonde__cmp_double);
	out->n = n;
	out->mean = sonde_stats_mean(x, n);
	out->sd = sonde_stats_sd(x, n);
	out->min = s[0];
	out->max = s[n - 1];
	out->median = sonde_stats_quantile_sorted(s, n, 0.5);
	out->q1 = sonde_stats_quantile_sorted(s, n, 0.25);
	out->q3 = sonde_stats_quantile_sorted(s, n, 0.75);
	out->p95 = sonde_stats_quantile_sorted(s, n, 0.95);
	out->p99 = sonde_stats_quantile_sorted(s, n, 0.99);
	double iqr = out->q3 - out->q1;
	out->fence_lo = out->q1 - 1.5 * iqr;
	out->fence_hi = out->q3 + 1.5 * iqr;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < out->fence_lo)
			out->outliers_low++;
		else if (s[i] > out->fence_hi)
			out->outliers_high++;
	}
	free(s);
	return 0;
}

bool sonde_stats_is_outlier(const sonde_stats_summary *s, double v)
{
	return v < s->fence_lo || v > s->fence_hi;
}

sonde_stats_moments sonde_stats_moments_of(const double *x, size_t n)
{
	sonde_stats_moments m = {(double)n, sonde_stats_mean(x, n), sonde_stats_variance(x, n)};
	return m;
}

/* ---- Proportions ------------------------------------------------------------------------- */

static void test_nan(sonde_test_result *out)
{
	out->stat = out->df = out->p = NAN;
}

int sonde_stats_prop_ztest(uint64_t c1, uint64_t n1, uint64_t c2, uint64_t n2, sonde_test_result *out)
{
	test_nan(out);
	if (n1 == 0 || n2 == 0 || c1 > n1 || c2 > n2)
		return -EINVAL;
	double p1 = (double)c1 / (double)n1, p2 = (double)c2 / (double)n2;
	double pooled = ((double)c1 + (double)c2) / ((double)n1 + (double)n2);
	double var = pooled * (1 - pooled) * (1.0 / (double)n1 + 1.0 / (double)n2);
	double z = (p1 - p2) / sqrt(var);
	out->stat = z;
	out->p = 2 * sonde__norm_sf(fabs(z));
	return 0;
}

int sonde_stats_prop_diff_ci(uint64_t c1, uint64_t n1, uint64_t c2, uint64_t n2, double conf, double *lo,
                             double *hi)
{
	*lo = *hi = NAN;
	if (n1 == 0 || n2 == 0 || c1 > n1 || c2 > n2 || !(conf > 0 && conf < 1))
		return -EINVAL;
	double p1 = (double)c1 / (double)n1, p2 = (double)c2 / (double)n2;
	double var = p2 * (1 - p2) / (double)n2 + p1 * (1 - p1) / (double)n1;
	double d = sonde_stats_z_crit(conf) * sqrt(var);
	*lo = (p2 - p1) - d;
	*hi = (p2 - p1) + d;
	return 0;
}

double sonde_stats_cohen_h(double p1, double p2)
{
	if (!(p1 >= 0 && p1 <= 1 && p2 >= 0 && p2 <= 1))
		return NAN;
	return 2 * (asin(sqrt(p2)) - asin(sqrt(p1)));
}

/* ---- Means ------------------------------------------------------------------------------- */

/* Welch's standard error and degrees of freedom. */
static void welch(const sonde_stats_moments *a, const sonde_stats_moments *b, double *se, double *df)
{
	double va = a->var / a->n, vb = b->var / b->n;
	*se = sqrt(va + vb);
	*df = (va + vb) * (va + vb) / (va * va / (a->n - 1) + vb * vb / (b->n - 1));
}

int sonde_stats_welch_ttest(const sonde_stats_moments *a, const sonde_stats_moments *b,
                            sonde_test_result *out)
{
	test_nan(out);
	if (!(a->n >= 1 && b->n >= 1))
		return -EINVAL;
	double se, df;
	welch(a, b, &se, &df);
	out->stat = (a->mean - b->mean) / se;
	out->df = df;
	out->p = 2 * t_sf(fabs(out->stat), df);
	return 0;
}

int sonde_stats_mean_diff_ci(const sonde_stats_moments *a, const sonde_stats_moments *b, double conf,
                             double *lo, double *hi)
{
	*lo = *hi = NAN;
	if (!(a->n >= 1 && b->n >= 1) || !(conf > 0 && conf < 1))
		return -EINVAL;
	double se, df;
	welch(a, b, &se, &df);
	double d = t_isf((1 - conf) / 2, df) * se;
	*lo = (b->mean - a->mean) - d;
	*hi = (b->mean - a->mean) + d;
	return 0;
}

int sonde_stats_lift_ci(double est_a, double var_a, double est_b, double var_b, double conf, double *lift,
                        double *lo, double *hi)
{
	*lift = *lo = *hi = NAN;
	if (!(conf > 0 && conf < 1))
		return -EINVAL;
	if (est_a == 0)
		return 0;
	double r = est_b / est_a;
	double se = fabs(r) * sqrt(var_a / (est_a * est_a) + var_b / (est_b * est_b));
	if (est_b == 0)
		se = sqrt(var_b) / fabs(est_a); /* the limit of the formula above as est_b -> 0 */
	double d = sonde_stats_z_crit(conf) * se;
	*lift = r - 1;
	*lo = *lift - d;
	*hi = *lift + d;
	return 0;
}

/* ---- Power ------------------------------------------------------------------------------- */

double sonde_stats_power(double effect, double nobs1, double alpha, double ratio)
{
	if (isnan(effect) || !(nobs1 > 0) || !(alpha > 0 && alpha < 1) || !(ratio >= 0))
		return NAN;
	double n = ratio > 0 ? 1.0 / (1.0 / nobs1 + 1.0 / (nobs1 * ratio)) : nobs1;
	double crit = sonde__norm_isf(alpha / 2);
	double shift = effect * sqrt(n);
	return sonde__norm_sf(crit - shift) + sonde__norm_cdf(-crit - shift);
}

int sonde_stats_solve_nobs1(double effect, double alpha, double power, double ratio, double *nobs1)
{
	*nobs1 = NAN;
	if (!(effect != 0) || isnan(effect) || !(alpha > 0 && alpha < 1) || !(power > alpha && power < 1) ||
	    !(ratio > 0))
		return -EINVAL;
	/* Power rises monotonically with nobs1 from alpha (at 0) to 1: bracket, then bisect
	 * to the last representable bit. */
	double lo = 0, hi = 2;
	while (sonde_stats_power(effect, hi, alpha, ratio) < power) {
		lo = hi;
		hi *= 2;
		if (hi > 1e300)
			return -EINVAL;
	}
	for (int i = 0; i < 2000; i++) {
		double mid = lo + (hi - lo) / 2;
		if (mid <= lo || mid >= hi)
			break;
		if (sonde_stats_power(effect, mid, alpha, ratio) < power)
			lo = mid;
		else
			hi = mid;
	}
	/* Of the two neighbours, the one whose power is nearer the target. */
	double plo = sonde_stats_power(effect, lo, alpha, ratio),
	       phi = sonde_stats_power(effect, hi, alpha, ratio);
	*nobs1 = (lo > 0 && fabs(plo - power) < fabs(phi - power)) ? lo : hi;
	return 0;
}

/* ---- Chi-square and Holm ----------------------------------------------------------------- */

int sonde_stats_chisquare(const double *observed, const double *weights, size_t k, sonde_test_result *out)
{
	test_nan(out);
	if (k < 2)
		return -EINVAL;
	double total = 0, wsum = 0;
	for (size_t i = 0; i < k; i++) {
		if (!(weights[i] > 0) || isinf(weights[i]) || !(observed[i] >= 0) || isinf(observed[i]))
			return -EINVAL;
		total += observed[i];
		wsum += weights[i];
	}
	if (!(total > 0))
		return -EINVAL;
	double stat = 0;
	for (size_t i = 0; i < k; i++) {
		double e = weights[i] / wsum * total;
		stat += (observed[i] - e) * (observed[i] - e) / e;
	}
	out->stat = stat;
	out->df = (double)(k - 1);
	out->p = gsl_cdf_chisq_Q(stat, out->df);
	return 0;
}

typedef struct holm_item {
	double p;
	size_t i;
} holm_item;

static int holm_cmp(const void *a, const void *b)
{
	const holm_item *x = a, *y = b;
	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i); /* stable, as numpy's mergesort */
}

int sonde_stats_holm(const double *p, size_t k, double alpha, double *adjusted, bool *reject)
{
	if (k == 0)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (!(p[i] >= 0 && p[i] <= 1))
			return -EINVAL;
	if (!(alpha > 0 && alpha < 1))
		return -EINVAL;
	holm_item *s = malloc(k * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < k; i++)
		s[i] = (holm_item){p[i], i};
	qsort(s, k, sizeof(*s), holm_cmp);
	double run = 0;
	bool stopped = false;
	for (size_t r = 0; r < k; r++) {
		double factor = (double)(k - r);
		if (s[r].p > alpha / factor)
			stopped = true;
		double adj = s[r].p * factor;
		if (adj > run)
			run = adj;
		if (adjusted)
			adjusted[s[r].i] = run > 1 ? 1 : run;
		if (reject)
			reject[s[r].i] = !stopped;
	}
	free(s);
	return 0;
}
