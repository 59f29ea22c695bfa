/*
 * anomaly_test.c - the streaming anomaly detector on constructed series whose answer is
 * known (a spike, a level shift, a flat series, a daily-seasonal series with one genuine
 * anomaly, noise alone, a bursty series that leaves its range), and the NAB scorer on a
 * tiny example worked by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly.h"
#include "nab_score.h"

#define STEP_NS (300ull * 1000000000ull) /* five minutes */
#define T0_NS   1700000000000000000ull
#define PER_DAY 288

static uint64_t rng_state;

static double uniform(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return ((double)(rng_state >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
	return sqrt(-2.0 * log(uniform())) * cos(2.0 * M_PI * uniform());
}

typedef struct series {
	uint64_t *t;
	double *v, *s;
	sonde_anomaly_point *d;
	size_t n;
} series;

static series make(size_t n)
{
	series x = {calloc(n, sizeof(uint64_t)), calloc(n, sizeof(double)), calloc(n, sizeof(double)),
	            calloc(n, sizeof(sonde_anomaly_point)), n};
	assert_non_null(x.t);
	assert_non_null(x.v);
	assert_non_null(x.s);
	assert_non_null(x.d);
	for (size_t i = 0; i < n; i++)
		x.t[i] = T0_NS + i * STEP_NS;
	rng_state = 0x9e3779b97f4a7c15ull;
	return x;
}

static void score(series *x)
{
	assert_int_equal(sonde_anomaly_score_series(x->t, x->v, x->n, x->s, x->d), 0);
	for (size_t i = 0; i < x->n; i++) {
		assert_false(isnan(x->s[i]));
		assert_true(x->s[i] >= 0 && x->s[i] <= 1);
	}
}

static size_t windows(const series *x, sonde_anomaly_window *w, size_t cap)
{
	return sonde_anomaly_windows(x->t, x->v, x->s, x->d, x->n, SONDE_ANOMALY_THRESHOLD, 10 * STEP_NS, w,
	                             cap);
}

static void release(series *x)
{
	free(x->t);
	free(x->v);
	free(x->s);
	free(x->d);
}

static void test_spike(void **state)
{
	(void)state;
	series x = make(3 * PER_DAY);
	for (size_t i = 0; i < x.n; i++)
		x.v[i] = 100 + gauss();
	x.v[600] = 130;
	score(&x);
	sonde_anomaly_window w[16];
	size_t nw = windows(&x, w, 16);
	bool found = false;
	for (size_t i = 0; i < nw && i < 16; i++)
		found |= w[i].peak_ns == x.t[600];
	assert_true(found);
	assert_true(x.s[600] > 0.5);
	assert_true(nw <= 3);
	release(&x);
}

/* The same outlier downwards is a dip, upwards a spike. */
static void test_dip(void **state)
{
	(void)state;
	series x = make(3 * PER_DAY);
	for (size_t i = 0; i < x.n; i++)
		x.v[i] = 100 + gauss();
	x.v[600] = 70;
	x.v[700] = 130;
	score(&x);
	sonde_anomaly_window w[16];
	size_t nw = windows(&x, w, 16);
	int dips = 0, spikes = 0;
	for (size_t i = 0; i < nw && i < 16; i++) {
		if (w[i].peak_ns == x.t[600]) {
			assert_int_equal(w[i].kind, SONDE_ANOMALY_DIP);
			dips++;
		}
		if (w[i].peak_ns == x.t[700]) {
			assert_int_equal(w[i].kind, SONDE_ANOMALY_SPIKE);
			spikes++;
		}
	}
	assert_int_equal(dips, 1);
	assert_int_equal(spikes, 1);
	assert_string_equal(sonde_anomaly_kind_name(SONDE_ANOMALY_DIP), "dip");
	release(&x);
}

static void test_level_shift(void **state)
{
	(void)state;
	series x = make(3 * PER_DAY);
	for (size_t i = 0; i < x.n; i++)
		x.v[i] = (i < 500 ? 100 : 110) + gauss();
	score(&x);
	sonde_anomaly_window w[16];
	size_t nw = windows(&x, w, 16);
	assert_true(nw >= 1);
	size_t at = 0;
	while (at < nw && w[at].end_ns < x.t[500])
		at++;
	assert_true(at < nw);
	/* The shift is found within a few points of its start. */
	assert_true(w[at].start_ns >= x.t[500]);
	assert_true(w[at].start_ns <= x.t[505]);
	release(&x);
}

static void test_flat(void **state)
{
	(void)state;
	series x = make(2000);
	for (size_t i = 0; i < x.n; i++)
		x.v[i] = 45.0;
	score(&x);
	for (size_t i = 0; i < x.n; i++)
		assert_true(x.s[i] == 0.0);
	sonde_anomaly_window w[4];
	assert_int_equal(windows(&x, w, 4), 0);
	/* A non-finite value is skipped, not propagated. */
	sonde_anomaly_detector *d = sonde_anomaly_new();
	assert_non_null(d);
	for (size_t i = 0; i < 200; i++)
		assert_true(sonde_anomaly_update(d, x.t[i], i == 150 ? NAN : 45.0, NULL) == 0.0);
	sonde_anomaly_free(d);
	release(&x);
}

static void test_daily_seasonal(void **state)
{
	(void)state;
	series x = make(8 * PER_DAY);
	for (size_t i = 0; i < x.n; i++)
		x.v[i] = 100 + 50 * sin(2 * M_PI * (double)(i % PER_DAY) / PER_DAY) + gauss();
	/* The genuine anomaly: on day 7, at the daily trough (value about 50), the series
	 * climbs to 80 for half an hour, a value it reaches every day at another time. */
	size_t trough = 7 * PER_DAY + 3 * PER_DAY / 4;
	for (size_t i = trough; i < trough + 6; i++)
		x.v[i] = 80 + gauss();
	score(&x);
	sonde_anomaly_window w[32];
	size_t nw = windows(&x, w, 32);
	bool found = false;
	size_t others = 0;
	for (size_t i = 0; i < nw && i < 32; i++) {
		if (w[i].start_ns <= x.t[trough + 5] && w[i].end_ns >= x.t[trough]) {
			found = true;
			assert_int_equal(w[i].kind, SONDE_ANOMALY_SEASONAL);
		} else if (w[i].start_ns >= x.t[3 * PER_DAY]) {
			others++; /* a daily peak or trough flagged once the seasons are learnt */
		}
	}
	assert_true(found);
	assert_int_equal(others, 0);
	release(&x);
}

static void test_noise(void **state)
{
	(void)state;
	series x = make(14 * PER_DAY);
	for (size_t i = 0; i < x.n; i++)
		x.v[i] = 20 + 3 * gauss();
	score(&x);
	sonde_anomaly_window w[64];
	size_t nw = windows(&x, w, 64);
	/* 4032 points of noise: a few windows at most (about one per 1000 points). */
	assert_true(nw <= 4);
	release(&x);
}

/* A bursty series (a burst of +5..+10 every 40 points, so bursts are its normal) drops
 * once below everything it has shown: the drop is no larger than the bursts, yet it is
 * the first value out of the series' range, and it is found at once; the bursts are not. */
static void test_new_extreme(void **state)
{
	(void)state;
	series x = make(4 * PER_DAY);
	for (size_t i = 0; i < x.n; i++)
		x.v[i] = 20 + 0.1 * gauss() + (i % 40 == 0 ? 5 + 5 * uniform() : 0);
	x.v[1000] = 12;
	score(&x);
	assert_true(x.s[1000] >= SONDE_ANOMALY_THRESHOLD);
	size_t over = 0;
	for (size_t i = 2 * PER_DAY; i < x.n; i++)
		over += i != 1000 && x.s[i] >= SONDE_ANOMALY_THRESHOLD;
	assert_int_equal(over, 0);
	release(&x);
}

/* 20 points, one window over points 10..14, probation 3 points. Scores: 1.0 at point 1
 * (probationary: ignored), 0.9 at 12 (in the window), 0.8 at 5 (a false positive before
 * any window: weight -0.11). */
static void test_nab_scorer(void **state)
{
	(void)state;
	assert_true(fabs(sonde_nab_scaled_sigmoid(-1.0) - 0.9866142981514303) < 1e-12);
	assert_true(sonde_nab_scaled_sigmoid(3.0) == -1.0);
	assert_true(fabs(sonde_nab_scaled_sigmoid(0.0)) < 1e-15);
	assert_int_equal(sonde_nab_probation(20), 3);
	assert_int_equal(sonde_nab_probation(100000), 750);

	uint64_t t[20];
	double s[20] = {0};
	for (int i = 0; i < 20; i++)
		t[i] = (uint64_t)i;
	s[1] = 1.0;
	s[12] = 0.9;
	s[5] = 0.8;
	sonde_nab_window w = {10, 14};
	sonde_nab_corpus c;
	sonde_nab_corpus_init(&c, (sonde_nab_costs){1.0, 0.11, 1.0});
	assert_int_equal(sonde_nab_corpus_add(&c, t, s, 20, &w, 1), 0);
	assert_int_equal(c.count, 17);
	assert_int_equal(c.windows, 1);

	/* The detection at 12: position -(14 - 12 + 1) / 5 = -0.6, so its weight is
	 * (2 / (1 + e^-3) - 1) / (2 / (1 + e^-5) - 1). */
	double tp = (2.0 / (1.0 + exp(-3.0)) - 1.0) / (2.0 / (1.0 + exp(-5.0)) - 1.0);
	sonde_nab_result r;
	assert_int_equal(sonde_nab_sweep(&c, &r), 0);
	assert_true(r.threshold == 0.9);
	assert_true(fabs(r.raw - tp) < 1e-12);
	assert_int_equal(r.tp, 1);
	assert_int_equal(r.fn, 0);
	assert_int_equal(r.fp, 0);
	assert_true(r.null_raw == -1.0);
	assert_true(fabs(r.perfect_raw - 1.0) < 1e-12);
	assert_true(fabs(r.normalized - 100.0 * (tp + 1.0) / 2.0) < 1e-9);

	sonde_nab_score_at(&c, 0.8, NULL, &r);
	assert_true(fabs(r.raw - (tp - 0.11)) < 1e-12);
	assert_int_equal(r.fp, 1);
	/* At 1.0 only the probationary point fires: the window is missed. */
	sonde_nab_score_at(&c, 1.0, NULL, &r);
	assert_true(r.raw == -1.0);
	assert_int_equal(r.fn, 1);
	/* At 0 everything fires: the window at its first point (1.0), 7 false positives
	 * before it (-0.11 each) and 5 after it, at positions (i - 14) / 4. */
	double after = 0;
	for (int i = 15; i < 20; i++)
		after += 0.11 * (2.0 / (1.0 + exp(5.0 * (i - 14) / 4.0)) - 1.0);
	sonde_nab_score_at(&c, 0.0, NULL, &r);
	assert_true(fabs(r.raw - (1.0 - 7 * 0.11 + after)) < 1e-12);
	assert_int_equal(r.fp, 12);
	unsigned char none = 0;
	sonde_nab_score_at(&c, 0.0, &none, &r);
	assert_true(r.raw == 0.0);
	sonde_nab_corpus_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_spike),          cmocka_unit_test(test_dip),
	        cmocka_unit_test(test_level_shift),    cmocka_unit_test(test_flat),
	        cmocka_unit_test(test_daily_seasonal), cmocka_unit_test(test_noise),
	        cmocka_unit_test(test_new_extreme),    cmocka_unit_test(test_nab_scorer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
