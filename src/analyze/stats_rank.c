/*
 * stats_rank.c - the rank methods on two samples (see stats.h): the Mann-Whitney U test,
 * asymptotic and exact, and the Hodges-Lehmann shift with Moses' confidence interval.
 *
 * Both start from sorted copies of the two samples. U comes from a merge of the two that
 * gives midranks to tied runs. The exact null distribution of U for sizes m <= n is the
 * Gaussian binomial coefficient [m + n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i),
 * whose coefficients count the arrangements giving each U; only the coefficients up to
 * min(U1, U2) are needed, built factor by factor in exact 128-bit integers (long double when
 * the total count exceeds 2^120).
 *
 * The order statistics of the pairwise differences y[j] - x[i] are found without listing
 * them: with both samples sorted, row i (fixed x[i]) is ascending in j and the rows descend
 * as i grows, so counting the differences below a pivot takes one pass of two pointers.
 * Each round picks a random remaining candidate as the pivot, counts, and narrows every
 * row's candidate range to the side that holds the wanted rank (Monahan, ACM TOMS 10(3),
 * 1984, algorithm 616); once few candidates remain they are sorted directly.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"
#include "stats_internal.h"

__extension__ typedef __int128 i128;

/* Sorted copies of x and y in one allocation (*xs, then *ys); -EINVAL on NaN. */
static int sorted_pair(const double *x, size_t n1, const double *y, size_t n2, double **xs, double **ys)
{
	if (n1 == 0 || n2 == 0)
		return -EINVAL;
	if (n1 > SIZE_MAX / sizeof(double) - n2)
		return -ENOMEM;
	for (size_t i = 0; i < n1; i++)
		if (isnan(x[i]))
			return -EINVAL;
	for (size_t j = 0; j < n2; j++)
		if (isnan(y[j]))
			return -EINVAL;
	double *s = malloc((n1 + n2) * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s, x, n1 * sizeof(*s));
	memcpy(s + n1, y, n2 * sizeof(*s));
	qsort(s, n1, sizeof(*s), sonde__cmp_double);
	qsort(s + n1, n2, sizeof(*s), sonde__cmp_double);
	*xs = s;
	*ys = s + n1;
	return 0;
}

/* The rank sum of x among the pooled values (midranks for ties) and sum(t^3 - t) over
 * the tied runs. */
static void rank_sums(const double *xs, size_t n1, const double *ys, size_t n2, double *r1, double *tie_term)
{
	size_t i = 0, j = 0, pos = 0;
	double r = 0, tt = 0;
	while (i < n1 || j < n2) {
		double v = (j >= n2 || (i < n1 && xs[i] <= ys[j])) ? xs[i] : ys[j];
		size_t cx = 0, cy = 0;
		while (i < n1 && xs[i] == v)
			i++, cx++;
		while (j < n2 && ys[j] == v)
			j++, cy++;
		double t = (double)(cx + cy);
		double mid = (double)pos + (t + 1) / 2; /* mean of ranks pos+1 .. pos+t */
		r += (double)cx * mid;
		tt += t * t * t - t;
		pos += cx + cy;
	}
	*r1 = r;
	*tie_term = tt;
}

/* log2 of C(m + n, m), as a sum (lgamma() would write the global signgam). */
static double log2_binom(size_t m, size_t n)
{
	double s = 0;
	for (size_t i = 1; i <= m; i++)
		s += log2((double)(n + i) / (double)i);
	return s;
}

/* P(U <= k) under the null for sizes m, n with no ties, from the truncated coefficients
 * of the Gaussian binomial. Returns NaN on allocation failure. */
static double exact_cdf(size_t m, size_t n, size_t k)
{
	if (m > n) {
		size_t t = m;
		m = n;
		n = t;
	}
	if (log2_binom(m, n) < 120) {
		i128 *c = calloc(k + 1, sizeof(*c));
		if (!c)
			return NAN;
		c[0] = 1;
		i128 total = 1;
		for (size_t i = 1; i <= m; i++) {
			size_t up = n + i;
			for (size_t d = k; d >= up && d <= k; d--)
				c[d] -= c[d - up];
			for (size_t d = i; d <= k; d++)
				c[d] += c[d - i];
			total = total * (i128)up / (i128)i;
		}
		i128 below = 0;
		for (size_t d = 0; d <= k; d++)
			below += c[d];
		free(c);
		return (double)below / (double)total;
	}
	long double *c = calloc(k + 1, sizeof(*c));
	if (!c)
		return NAN;
	c[0] = 1;
	long double total = 1;
	for (size_t i = 1; i <= m; i++) {
		size_t up = n + i;
		for (size_t d = k; d >= up && d <= k; d--)
			c[d] -= c[d - up];
		for (size_t d = i; d <= k; d++)
			c[d] += c[d - i];
		total = total * (long double)up / (long double)i;
	}
	long double below = 0;
	for (size_t d = 0; d <= k; d++)
		below += c[d];
	free(c);
	return (double)(below / total);
}

/* The tie-corrected standard deviation of U under the null. */
static double u_sigma(double n1, double n2, double tie_term)
{
	double n = n1 + n2;
	return sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))));
}

int sonde_stats_mann_whitney(const double *x, size_t n1, const double *y, size_t n2, sonde_mwu_method method,
                             sonde_mwu_result *out)
{
	out->u1 = out->u2 = out->p = out->z = out->auc = NAN;
	out->exact = false;
	double *xs, *ys;
	int rc = sorted_pair(x, n1, y, n2, &xs, &ys);
	if (rc < 0)
		return rc;
	double r1, tie_term;
	rank_sums(xs, n1, ys, n2, &r1, &tie_term);
	free(xs);
	double m = (double)n1, n = (double)n2;
	out->u1 = r1 - m * (m + 1) / 2;
	out->u2 = m * n - out->u1;
	out->auc = out->u2 / (m * n);
	if (method == SONDE_MWU_AUTO)
		method = (n1 > 8 && n2 > 8) || tie_term > 0 ? SONDE_MWU_ASYMPTOTIC : SONDE_MWU_EXACT;
	double big = out->u1 > out->u2 ? out->u1 : out->u2;
	double p;
	if (method == SONDE_MWU_EXACT) {
		double small = m * n - big;
		p = 2 * exact_cdf(n1, n2, (size_t)small);
		if (isnan(p))
			return -ENOMEM;
		out->exact = true;
	} else {
		double s = u_sigma(m, n, tie_term);
		out->z = (big - m * n / 2 - 0.5) / s;
		p = 2 * sonde__norm_sf(out->z);
	}
	out->p = p > 1 ? 1 : p < 0 ? 0 : p;
	return 0;
}

/* ---- Hodges-Lehmann --------------------------------------------------------------------- */

typedef struct hl_sel {
	const double *xs, *ys;
	size_t n1, n2;
	size_t *lo, *hi; /* per row i: the candidate columns [lo[i], hi[i]) */
	size_t *lt, *le; /* scratch: per row, columns below / not above the pivot */
	uint64_t rng;
} hl_sel;

static uint64_t next_rand(hl_sel *s)
{
	/* xorshift64*: fast and good enough to pick pivots. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 0x2545F4914F6CDD1DULL;
}

#define HL_DIRECT 4096 /* sort the candidates once no more than this many remain */

/* The k-th smallest (0-based) of the differences ys[j] - xs[i]. *out NaN on -ENOMEM. */
static int hl_select(hl_sel *s, size_t k, double *out)
{
	const double *xs = s->xs, *ys = s->ys;
	size_t n1 = s->n1, n2 = s->n2;
	for (size_t i = 0; i < n1; i++) {
		s->lo[i] = 0;
		s->hi[i] = n2;
	}
	size_t left = n1 * n2; /* candidates remaining */
	for (;;) {
		if (left <= HL_DIRECT) {
			double *c = malloc((left ? left : 1) * sizeof(*c));
			if (!c)
				return -ENOMEM;
			size_t w = 0;
			for (size_t i = 0; i < n1; i++)
				for (size_t j = s->lo[i]; j < s->hi[i]; j++)
					c[w++] = ys[j] - xs[i];
			qsort(c, w, sizeof(*c), sonde__cmp_double);
			*out = c[k];
			free(c);
			return 0;
		}
		size_t r = (size_t)(next_rand(s) % left), row = 0;
		while (r >= s->hi[row] - s->lo[row]) {
			r -= s->hi[row] - s->lo[row];
			row++;
		}
		double pivot = ys[s->lo[row] + r] - xs[row];
		/* Differences below the pivot in row i: a prefix whose length grows with i. */
		size_t a = 0, b = 0, below = 0, equal = 0;
		for (size_t i = 0; i < n1; i++) {
			while (a < n2 && ys[a] - xs[i] < pivot)
				a++;
			if (b < a)
				b = a;
			while (b < n2 && ys[b] - xs[i] <= pivot)
				b++;
			size_t lt = a < s->lo[i] ? s->lo[i] : a > s->hi[i] ? s->hi[i] : a;
			size_t le = b < s->lo[i] ? s->lo[i] : b > s->hi[i] ? s->hi[i] : b;
			s->lt[i] = lt;
			s->le[i] = le;
			below += lt - s->lo[i];
			equal += le - lt;
		}
		if (k < below) {
			for (size_t i = 0; i < n1; i++)
				s->hi[i] = s->lt[i];
			left = below;
		} else if (k < below + equal) {
			*out = pivot;
			return 0;
		} else {
			for (size_t i = 0; i < n1; i++)
				s->lo[i] = s->le[i];
			k -= below + equal;
			left -= below + equal;
		}
	}
}

int sonde_stats_hodges_lehmann(const double *x, size_t n1, const double *y, size_t n2, double conf,
                               sonde_hl_result *out)
{
	out->shift = out->lo = out->hi = NAN;
	out->conf = conf;
	out->k = 0;
	if (!(conf > 0 && conf < 1))
		return -EINVAL;
	if (n1 && n2 > SIZE_MAX / n1)
		return -ENOMEM;
	double *xs, *ys;
	int rc = sorted_pair(x, n1, y, n2, &xs, &ys);
	if (rc < 0)
		return rc;
	hl_sel s = {.xs = xs, .ys = ys, .n1 = n1, .n2 = n2, .rng = 0x9E3779B97F4A7C15ULL};
	s.lo = malloc(4 * n1 * sizeof(size_t));
	if (!s.lo) {
		free(xs);
		return -ENOMEM;
	}
	s.hi = s.lo + n1;
	s.lt = s.hi + n1;
	s.le = s.lt + n1;
	size_t total = n1 * n2;
	double a, b = 0;
	rc = hl_select(&s, (total - 1) / 2, &a);
	if (rc == 0 && total % 2 == 0)
		rc = hl_select(&s, total / 2, &b);
	if (rc < 0)
		goto out;
	out->shift = total % 2 ? a : (a + b) / 2;

	double r1, tie_term;
	rank_sums(xs, n1, ys, n2, &r1, &tie_term);
	double kk = floor((double)total / 2 -
	                  sonde__norm_isf((1 - conf) / 2) * u_sigma((double)n1, (double)n2, tie_term));
	if (kk < 1) {
		out->lo = -INFINITY;
		out->hi = INFINITY;
		goto out;
	}
	out->k = (size_t)kk;
	rc = hl_select(&s, out->k - 1, &out->lo);
	if (rc == 0)
		rc = hl_select(&s, total - out->k, &out->hi);
out:
	free(s.lo);
	free(xs);
	if (rc < 0)
		out->shift = out->lo = out->hi = NAN;
	return rc;
}
