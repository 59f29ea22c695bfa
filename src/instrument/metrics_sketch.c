/*
 * metrics_sketch.c - the relative-error quantile sketch behind summaries, in the manner of
 * DDSketch (Masson, Rim, Lee, VLDB 2019): logarithmic bins, so that reporting a bin's
 * representative value is within 1% of any value that fell in it; bins of sketches with
 * the same mapping simply add, so per-thread sketches merge exactly.
 *
 * The mapping avoids log() on the hot path: with v = 2^e * (1 + s), s in [0, 1), it uses
 * L(v) = e + P(s), where the cubic P(s) = A s^3 + B s^2 + C s (A = 6/35, B = -3/5,
 * C = 10/7; P(0) = 0, P(1) = 1) follows log2(1 + s) closely and is monotonic. Bins are
 * floor(L(v) * M) - base. A bin is 1/M wide in L; L grows at least C = 10/7 times as fast
 * as ln v (the minimum of P'(s) (1 + s) on [0, 1], reached at s = 0), so a bin spans at
 * most 1 / (M C) in ln v, and M = 35 makes that less than ln((1 + a) / (1 - a)) for
 * a = 0.01: every bin's upper to lower bound ratio is below (1 + a) / (1 - a), and the
 * value 2 lo hi / (lo + hi) is within a of everything in [lo, hi]. 2560 bins cover 73
 * octaves: [1e-9, about 9e12).
 */
#include <math.h>

#include "metrics_internal.h"

#define SK_A (6.0 / 35.0)
#define SK_B (-3.0 / 5.0)
#define SK_C (10.0 / 7.0)
#define SK_M 35.0

/* L(v) for v > 0, finite and normal. */
static double sk_l(double v)
{
	uint64_t b = sonde__bits(v);
	int32_t e = (int32_t)((b >> 52) & 0x7ff) - 1023;
	double s = sonde__d((b & ((1ULL << 52) - 1)) | 0x3ff0000000000000ULL) - 1.0;
	return (double)e + ((SK_A * s + SK_B) * s + SK_C) * s;
}

/* The bin of SONDE__SK_MIN becomes bin 0. A constant expression the compiler folds. */
static int64_t sk_base(void)
{
	return (int64_t)floor(sk_l(SONDE__SK_MIN) * SK_M);
}

uint32_t sonde__sk_bin(double v)
{
	double x = floor(sk_l(v) * SK_M) - (double)sk_base();
	if (x < 0)
		return 0;
	if (x >= SONDE__SK_BINS - 1)
		return SONDE__SK_BINS - 1;
	return (uint32_t)x;
}

/* The inverse of L: the v with L(v) = x. */
static double sk_linv(double x)
{
	double e = floor(x);
	double f = x - e;
	double lo = 0, hi = 1;
	for (int i = 0; i < 60; i++) {
		double mid = (lo + hi) / 2;
		if (((SK_A * mid + SK_B) * mid + SK_C) * mid < f)
			lo = mid;
		else
			hi = mid;
	}
	return ldexp(1.0 + (lo + hi) / 2, (int)e);
}

double sonde__sk_value(uint32_t bin)
{
	double k = (double)sk_base() + (double)bin;
	double lo = sk_linv(k / SK_M), hi = sk_linv((k + 1) / SK_M);
	return 2 * lo * hi / (lo + hi);
}

double sonde__sk_quantile(uint64_t zero, const uint64_t *bins, uint64_t n, double q)
{
	if (n == 0)
		return NAN;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	double rank = floor(q * (double)(n - 1));
	uint64_t seen = zero;
	if ((double)seen > rank)
		return 0;
	for (uint32_t i = 0; i < SONDE__SK_BINS; i++) {
		seen += bins[i];
		if ((double)seen > rank)
			return sonde__sk_value(i);
	}
	for (uint32_t i = SONDE__SK_BINS; i-- > 0;) /* n exceeded the counts: the highest bin */
		if (bins[i])
			return sonde__sk_value(i);
	return 0;
}
