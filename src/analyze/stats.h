/*
 * stats.h - the statistics behind sonde's decisions (abtest, bench, compare, canary):
 * descriptive summaries, Mann-Whitney U, the Hodges-Lehmann shift with its confidence
 * interval, the two-proportion z-test, Welch's t-test, confidence intervals for
 * differences and relative lifts, Cohen's h, power and sample size, a chi-square test of
 * sample ratio mismatch, and Holm's correction. Each method is written to agree with the
 * scipy 1.10 / statsmodels 0.13 function named beside it (tests/analyze/stats_ref_test.sh
 * checks this to a relative 1e-9); docs/statistics.md gives definitions and references.
 * Distribution functions come from GSL (gsl_cdf_*), never from hand-made approximations.
 *
 * Conventions. Functions are pure: they never print, and allocate only scratch memory they
 * free before returning. Two-sample functions compare a "first" sample x (baseline, control,
 * A) with a "second" sample y (current, treatment, B); differences and shifts are second
 * minus first, so a positive shift means y is larger (slower, for durations).
 * Return values: 0 on success; -EINVAL when the inputs do not allow the computation at all
 * (an empty sample, more conversions than users, a confidence level outside (0, 1)), and
 * then the outputs are set to NaN; -ENOMEM when scratch memory could not be had. When the
 * inputs are valid but a statistic is undefined (zero variance in both samples, a pooled
 * proportion of 0 or 1, a single observation) the function returns 0 and that field is NaN,
 * as scipy and statsmodels answer nan there; infinities follow IEEE arithmetic as in numpy
 * (a difference of means over a zero standard error is +-inf with p = 0).
 *
 * Thread safety: every function is reentrant; GSL is called only with arguments it accepts
 * (NaN and infinities are handled here), so its error handler is never reached.
 */
#ifndef SONDE_STATS_H
#define SONDE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Descriptive ----------------------------------------------------------------------- */

/* Arithmetic mean of x[0..n); NaN when n == 0. */
double sonde_stats_mean(const double *x, size_t n);
/* Sample variance with n - 1 in the denominator (numpy var(ddof=1)), two-pass; NaN when
 * n < 2. */
double sonde_stats_variance(const double *x, size_t n);
/* Square root of sonde_stats_variance(). */
double sonde_stats_sd(const double *x, size_t n);
/* Quantile q (0..1) of sorted[0..n) (ascending), by linear interpolation between closest
 * ranks: h = (n - 1) q, value = s[floor h] + (h - floor h) (s[floor h + 1] - s[floor h]),
 * numpy's default (method 'linear', Hyndman and Fan type 7). NaN when n == 0. */
double sonde_stats_quantile_sorted(const double *sorted, size_t n, double q);

/* A summary of one sample. Outliers are those outside Tukey's fences: below
 * q1 - 1.5 IQR or above q3 + 1.5 IQR, with the quartiles as above. */
typedef struct sonde_stats_summary {
	size_t n;
	double mean, sd; /* sd: NaN when n < 2 */
	double min, max;
	double median, q1, q3, p95, p99;
	double fence_lo, fence_hi; /* Tukey's fences */
	size_t outliers_low, outliers_high;
} sonde_stats_summary;

/* Summarises x[0..n) (borrowed; not modified). Returns 0, -EINVAL when n == 0 (all
 * fields NaN and counts 0), or -ENOMEM. */
int sonde_stats_summarize(const double *x, size_t n, sonde_stats_summary *out);
/* True when v is outside the fences of s (an outlier). */
bool sonde_stats_is_outlier(const sonde_stats_summary *s, double v);

/* The count, mean and unbiased variance of a sample: what the tests on means need, so that
 * callers may compute them from a stream or keep them from a summary. */
typedef struct sonde_stats_moments {
	double n;
	double mean;
	double var; /* ddof = 1; NaN when n < 2 */
} sonde_stats_moments;

/* Moments of x[0..n) by sonde_stats_mean() and sonde_stats_variance(). */
sonde_stats_moments sonde_stats_moments_of(const double *x, size_t n);

/* ---- Rank tests on two samples --------------------------------------------------------- */

typedef enum sonde_mwu_method {
	SONDE_MWU_AUTO,       /* scipy's 'auto': exact when either sample has <= 8 values and
	                         the pooled values hold no ties, otherwise asymptotic */
	SONDE_MWU_ASYMPTOTIC, /* normal approximation, tie-corrected, with continuity correction */
	SONDE_MWU_EXACT,      /* the exact null distribution (assumes no ties) */
} sonde_mwu_method;

typedef struct sonde_mwu_result {
	double u1;  /* U of the first sample: R1 - n1 (n1 + 1) / 2, R1 its rank sum (midranks) */
	double u2;  /* n1 n2 - u1 */
	double p;   /* two-sided p-value */
	double z;   /* the standardised statistic (asymptotic only; NaN for exact) */
	double auc; /* u2 / (n1 n2): the probability that a value of y exceeds one of x, ties
	                counting one half (the common-language effect size) */
	bool exact; /* which method ran */
} sonde_mwu_result;

/* The two-sided Mann-Whitney U test of x[0..n1) against y[0..n2) as
 * scipy.stats.mannwhitneyu(x, y, use_continuity=True, alternative='two-sided', method)
 * computes it. Asymptotic: z = (max(U1, U2) - n1 n2 / 2 - 0.5) / s with the tie-corrected
 * s = sqrt(n1 n2 / 12 ((n + 1) - sum(t^3 - t) / (n (n - 1)))), p = 2 Q(z) clipped to 1
 * (all values tied: s = 0, p = 1). Exact: p = 2 P(U <= min(U1, U2)) from the count of
 * arrangements (computed in exact integer arithmetic while they fit 127 bits). Values must
 * not be NaN. Returns 0, -EINVAL (an empty sample or NaN; outputs NaN), or -ENOMEM.
 * Time O(n log n); the exact method O(min(n1,n2)^2 max(n1,n2)). */
int sonde_stats_mann_whitney(const double *x, size_t n1, const double *y, size_t n2, sonde_mwu_method method,
                             sonde_mwu_result *out);

typedef struct sonde_hl_result {
	double shift;  /* median of the n1 n2 differences y[j] - x[i] */
	double lo, hi; /* confidence interval; -inf / +inf when the samples are too small */
	double conf;   /* the confidence level asked */
	size_t k;      /* rank of the lower bound (1-based); 0 when unbounded */
} sonde_hl_result;

/* The Hodges-Lehmann estimate of the shift from x to y (median of all pairwise differences
 * y[j] - x[i]; for an even count, the mean of the two middle ones, as numpy's median) and
 * Moses' distribution-free confidence interval: with sigma the tie-corrected standard
 * deviation of U (as in sonde_stats_mann_whitney) and z = Q^-1((1 - conf) / 2),
 * k = floor(n1 n2 / 2 - z sigma); the interval is [d(k), d(n1 n2 - k + 1)] over the sorted
 * differences d(1..n1 n2). When k < 1 the samples cannot give that confidence and the
 * interval is (-inf, +inf). The differences are never materialised: each order statistic
 * is found by randomised selection over the implicit sorted matrix (Monahan 1984), O((n1 +
 * n2) log(n1 n2)) expected time per order statistic after sorting, O(n1 + n2) memory, and
 * deterministic (fixed seed). Returns 0, -EINVAL (empty sample, NaN value, conf outside
 * (0, 1)), or -ENOMEM. */
int sonde_stats_hodges_lehmann(const double *x, size_t n1, const double *y, size_t n2, double conf,
                               sonde_hl_result *out);

/* ---- Proportions ----------------------------------------------------------------------- */

typedef struct sonde_test_result {
	double stat; /* z, t or chi-square */
	double df;   /* degrees of freedom (t, chi-square); NaN for z */
	double p;    /* two-sided p-value (chi-square: upper tail) */
} sonde_test_result;

/* The pooled two-proportion z-test of c1/n1 against c2/n2, as
 * statsmodels.stats.proportion.proportions_ztest([c1, c2], [n1, n2]) (two-sided):
 * z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)) with p = (c1 + c2) / (n1 + n2). Note the
 * sign: first minus second, as statsmodels. A pooled p of 0 or 1 gives z = p = NaN.
 * Returns 0, or -EINVAL (n1 or n2 zero, a count above its total; outputs NaN). */
int sonde_stats_prop_ztest(uint64_t c1, uint64_t n1, uint64_t c2, uint64_t n2, sonde_test_result *out);

/* Wald (unpooled) confidence interval for p2 - p1 at level conf:
 * (p2 - p1) +- z sqrt(p1 (1 - p1) / n1 + p2 (1 - p2) / n2), as statsmodels'
 * confint_proportions_2indep(c2, n2, c1, n1, method='wald', compare='diff'). Returns 0 or
 * -EINVAL. */
int sonde_stats_prop_diff_ci(uint64_t c1, uint64_t n1, uint64_t c2, uint64_t n2, double conf, double *lo,
                             double *hi);

/* Cohen's h effect size of p2 against p1: 2 asin(sqrt(p2)) - 2 asin(sqrt(p1)), as
 * statsmodels' proportion_effectsize(p2, p1). NaN outside [0, 1]. */
double sonde_stats_cohen_h(double p1, double p2);

/* ---- Means ----------------------------------------------------------------------------- */

/* Welch's t-test of the means of a (first) and b (second), as
 * scipy.stats.ttest_ind(a, b, equal_var=False): t = (mean_a - mean_b) / sqrt(va/na + vb/nb),
 * Welch-Satterthwaite df, two-sided p from Student's t. Zero variance in both samples gives
 * t = +-inf or NaN (equal means) and df = p = NaN, as scipy. Returns 0, or -EINVAL when
 * either n is 0. */
int sonde_stats_welch_ttest(const sonde_stats_moments *a, const sonde_stats_moments *b,
                            sonde_test_result *out);

/* Welch confidence interval for mean_b - mean_a at level conf (df as in the test), as
 * statsmodels' CompareMeans(b, a).tconfint_diff(usevar='unequal'). Returns 0 or -EINVAL. */
int sonde_stats_mean_diff_ci(const sonde_stats_moments *a, const sonde_stats_moments *b, double conf,
                             double *lo, double *hi);

/* The relative lift est_b / est_a - 1 of two independent estimates with variances var_a and
 * var_b (of the estimates: p (1 - p) / n for a proportion, s^2 / n for a mean), and its
 * confidence interval at level conf by the delta method:
 * se = (est_b / est_a) sqrt(var_a / est_a^2 + var_b / est_b^2), lift +- z se.
 * est_a == 0 gives NaN throughout. Returns 0 or -EINVAL (conf outside (0, 1)). */
int sonde_stats_lift_ci(double est_a, double var_a, double est_b, double var_b, double conf, double *lift,
                        double *lo, double *hi);

/* ---- Power and sample size -------------------------------------------------------------- */

/* Power of the two-sided two-sample z-test at level alpha for a standardised effect
 * (Cohen's h for proportions) with nobs1 in the first group and ratio * nobs1 in the
 * second, as statsmodels.stats.power.NormalIndPower().power(effect, nobs1, alpha, ratio):
 * with n = 1 / (1/nobs1 + 1/(ratio nobs1)) and c = Q^-1(alpha / 2),
 * power = Q(c - effect sqrt(n)) + P(-c - effect sqrt(n)). NaN for invalid arguments. */
double sonde_stats_power(double effect, double nobs1, double alpha, double ratio);

/* The (fractional) nobs1 at which sonde_stats_power() reaches power, as
 * NormalIndPower().solve_power(effect_size=effect, nobs1=None, alpha, power, ratio); round
 * up for a head count. Returns 0, or -EINVAL (effect 0, alpha or power outside (0, 1),
 * power <= alpha, ratio <= 0; *nobs1 NaN). */
int sonde_stats_solve_nobs1(double effect, double alpha, double power, double ratio, double *nobs1);

/* ---- Goodness of fit and multiple testing ----------------------------------------------- */

/* Pearson's chi-square goodness of fit of observed[0..k) to expected shares (any positive
 * weights, scaled to the observed total), as scipy.stats.chisquare(observed, f_exp):
 * stat = sum (o - e)^2 / e, df = k - 1, p the upper tail. Used for sample ratio mismatch,
 * flagged when p < SONDE_SRM_ALPHA. Returns 0, or -EINVAL (k < 2, a weight <= 0, or no
 * observations). */
int sonde_stats_chisquare(const double *observed, const double *weights, size_t k, sonde_test_result *out);
#define SONDE_SRM_ALPHA 0.001

/* Holm's step-down correction of p[0..k) at family-wise level alpha, as
 * statsmodels.stats.multitest.multipletests(p, alpha, method='holm'): adjusted[i] (may be
 * NULL) and reject[i] (may be NULL) in the input order. NaN p-values are not allowed.
 * Returns 0, -EINVAL, or -ENOMEM. */
int sonde_stats_holm(const double *p, size_t k, double alpha, double *adjusted, bool *reject);

/* The two-sided normal critical value Q^-1((1 - conf) / 2), e.g. 1.96 for conf 0.95. */
double sonde_stats_z_crit(double conf);

#endif
