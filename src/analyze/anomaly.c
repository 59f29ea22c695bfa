/*
 * anomaly.c - the streaming anomaly detector and the windowing of its scores (see
 * anomaly.h).
 *
 * Design notes. A point is judged before it joins the history, so a spike never hides
 * itself. The sampling step is learnt from the first STEP_POINTS intervals (their median);
 * until then, and until MIN_HISTORY points are seen, scores are 0. The residual model is
 * one of three: the rolling median (level), or the median of the same phase in up to
 * three previous days (daily) or weeks (weekly). Each model's mean absolute residual is
 * tracked (outliers clipped so that an incident does not teach the model that incidents
 * are normal); a seasonal model takes over only once it has seen a full baseline window
 * of residuals and explains the series clearly better than the level does. The CUSUM and
 * the EWMA chart run over the chosen model's standardised residuals. The score is not the
 * evidence itself but its surprise: the evidence over the largest of the recent past (a
 * decaying maximum that one point can raise only by Z_CAP), so that scores mean the same
 * on a calm series and on a bursty one, and one threshold serves every series. The one
 * exception is a new extreme, a value out of the range of the last EXT_BLOCKS windows:
 * it scores by how far out it lies, since on a bursty series the surprise would rank a
 * jump past every burst as one more burst.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "anomaly.h"

#define STEP_POINTS 32
#define MIN_HISTORY 64
#define DAY_NS      86400000000000.0

/* Tuned on NAB with one configuration for every series (docs/anomalies.md); each can be
 * overridden with -D for tuning runs of bench/nab_eval. */
#ifndef RATIO_HALF
#define RATIO_HALF 1.1 /* surprise (evidence over the recent maximum) that scores 0.5 */
#endif
#ifndef RATIO_POW
#define RATIO_POW 4.0 /* how sharply the score rises around RATIO_HALF */
#endif
#ifndef SEASON_GAIN
#define SEASON_GAIN 0.85 /* a seasonal model must cut the residual below this share */
#endif
#ifndef CUSUM_K
#define CUSUM_K 1.0 /* CUSUM slack, in sd */
#endif
#ifndef CUSUM_Z
#define CUSUM_Z 0.25 /* z-equivalent of one unit of CUSUM sum */
#endif
#ifndef CUSUM_H
#define CUSUM_H 40.0 /* a CUSUM sum this high declares a shift and restarts */
#endif
#ifndef Z_MIN
#define Z_MIN 3.5 /* evidence below this never surprises */
#endif
#ifndef Z_CAP
#define Z_CAP 1.5 /* one point raises the remembered maximum at most this much */
#endif
#ifndef ZMAX_HALF_LIFE
#define ZMAX_HALF_LIFE 8.0 /* in baseline windows */
#endif
#ifndef EWMA_ALPHA
#define EWMA_ALPHA 0.05 /* weight of the newest residual in the EWMA chart */
#endif
#ifndef EWMA_WEIGHT
#define EWMA_WEIGHT 0.5 /* z-equivalent of one sd of the EWMA chart */
#endif
#ifndef CUSUM_CLIP
#define CUSUM_CLIP 4.0 /* a residual feeds the CUSUM at most this many sd */
#endif
#ifndef REFRACTORY_SPEED
#define REFRACTORY_SPEED 0.5 /* the refractory level halves over window / this */
#endif
#ifndef REFRACTORY_DAMP
#define REFRACTORY_DAMP 0.5 /* a repeat that does not beat its episode scores this share */
#endif
#ifndef RESID_CLIP
#define RESID_CLIP 4.0 /* a residual teaches the scale at most this many scales */
#endif
#ifndef EXT_HALF
#define EXT_HALF 0.02 /* a new extreme beyond the range by this share of it scores 0.5 */
#endif
#ifndef EXT_Z
#define EXT_Z 4.0 /* a new extreme counts when its evidence is at least this, in sd */
#endif
#ifndef EXT_BLOCKS
#define EXT_BLOCKS 16 /* the range is that of the last this many windows */
#endif
#ifndef EXT_REST
#define EXT_REST 1.0 /* after a new-extreme alarm, the next waits this many windows */
#endif
#ifndef FLOOR_SHARE
#define FLOOR_SHARE 0.3 /* the scale is at least this share of the mean deviation */
#endif

const char *sonde_anomaly_kind_name(sonde_anomaly_kind k)
{
	switch (k) {
	case SONDE_ANOMALY_SPIKE: return "spike";
	case SONDE_ANOMALY_DIP: return "dip";
	case SONDE_ANOMALY_SEASONAL: return "seasonal";
	case SONDE_ANOMALY_SHIFT: return "level shift";
	default: return "none";
	}
}

/* A rolling window of the last `limit` values, kept both in arrival order (ring) and
 * sorted, for the median and the MAD. */
typedef struct rollwin {
	double ring[SONDE_ANOMALY_WINDOW_MAX];
	double sorted[SONDE_ANOMALY_WINDOW_MAX];
	size_t n, head, limit;
} rollwin;

static size_t lower_bound(const double *a, size_t n, double v)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void rw_drop_oldest(rollwin *w)
{
	size_t tail = (w->head + SONDE_ANOMALY_WINDOW_MAX - w->n) % SONDE_ANOMALY_WINDOW_MAX;
	size_t at = lower_bound(w->sorted, w->n, w->ring[tail]);
	memmove(&w->sorted[at], &w->sorted[at + 1], (w->n - at - 1) * sizeof(double));
	w->n--;
}

static void rw_push(rollwin *w, double v)
{
	while (w->n >= w->limit)
		rw_drop_oldest(w);
	w->ring[w->head] = v;
	w->head = (w->head + 1) % SONDE_ANOMALY_WINDOW_MAX;
	size_t at = lower_bound(w->sorted, w->n, v);
	memmove(&w->sorted[at + 1], &w->sorted[at], (w->n - at) * sizeof(double));
	w->sorted[at] = v;
	w->n++;
}

static double median_sorted(const double *a, size_t n)
{
	return n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]);
}

/* The MAD of the window around med: the distances to med below and above it are two
 * sorted runs, merged just far enough to reach the middle. */
static double rw_mad(const rollwin *w, double med)
{
	size_t n = w->n;
	size_t r = lower_bound(w->sorted, n, med);
	ssize_t l = (ssize_t)r - 1;
	double prev = 0, cur = 0;
	for (size_t k = 0; k <= n / 2; k++) {
		double dl = l >= 0 ? med - w->sorted[l] : INFINITY;
		double dr = r < n ? w->sorted[r] - med : INFINITY;
		prev = cur;
		if (dl <= dr) {
			cur = dl;
			l--;
		} else {
			cur = dr;
			r++;
		}
	}
	return n % 2 ? cur : 0.5 * (prev + cur);
}

enum { MODEL_LEVEL, MODEL_DAY, MODEL_WEEK, MODELS };

struct sonde_anomaly_detector {
	uint64_t n; /* finite points seen */
	uint64_t last_t;
	uint64_t diffs[STEP_POINTS];
	size_t ndiffs;
	uint64_t step_ns;      /* 0 until learnt */
	size_t period[MODELS]; /* points per period (MODEL_DAY, MODEL_WEEK); 0: unusable */
	rollwin level;
	double hist[SONDE_ANOMALY_HISTORY]; /* ring of the values, newest at hist_head - 1 */
	size_t hist_n, hist_head;
	double absdev[MODELS]; /* mean absolute residual of each model */
	double spread[MODELS]; /* mean absolute residual of each model, unclipped */
	uint64_t resid_n[MODELS];
	double ewma; /* EWMA of the standardised residual: the level against the baseline */
	double cusum_pos, cusum_neg;
	size_t run_pos, run_neg; /* points since each sum was last zero */
	int model;               /* the residual model in use */
	double refractory;       /* the score a new episode must beat */
	double refractory_decay;
	double zmax, zmax_decay; /* the decaying maximum of past evidence */
	/* The range of the recent values: the minimum and maximum of each of the last
	 * EXT_BLOCKS complete blocks of one window (a ring, the newest at nblocks - 1) and of
	 * the block being filled. */
	double block_lo[EXT_BLOCKS], block_hi[EXT_BLOCKS];
	uint64_t nblocks;
	size_t fill;
	double cur_lo, cur_hi;
	uint64_t ext_last; /* the point (d->n) of the last new-extreme alarm, 0 none */
};

sonde_anomaly_detector *sonde_anomaly_new(void)
{
	sonde_anomaly_detector *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->level.limit = SONDE_ANOMALY_WINDOW_MAX;
	d->refractory_decay = 0.99;
	d->zmax_decay = 0.999;
	return d;
}

void sonde_anomaly_free(sonde_anomaly_detector *d)
{
	free(d);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void learn_step(sonde_anomaly_detector *d)
{
	uint64_t tmp[STEP_POINTS];
	memcpy(tmp, d->diffs, sizeof tmp);
	qsort(tmp, STEP_POINTS, sizeof tmp[0], cmp_u64);
	d->step_ns = tmp[STEP_POINTS / 2] ? tmp[STEP_POINTS / 2] : 1;
	double per_day = DAY_NS / (double)d->step_ns;
	size_t w = per_day < SONDE_ANOMALY_WINDOW_MIN   ? SONDE_ANOMALY_WINDOW_MIN
	           : per_day > SONDE_ANOMALY_WINDOW_MAX ? SONDE_ANOMALY_WINDOW_MAX
	                                                : (size_t)llround(per_day);
	d->level.limit = w;
	while (d->level.n > w)
		rw_drop_oldest(&d->level);
	/* A period needs at least a few points per cycle, and three cycles in the history. */
	if (per_day >= 8 && per_day * 3 <= SONDE_ANOMALY_HISTORY)
		d->period[MODEL_DAY] = (size_t)llround(per_day);
	if (per_day >= 8 && per_day * 7 * 2 <= SONDE_ANOMALY_HISTORY)
		d->period[MODEL_WEEK] = (size_t)llround(per_day * 7);
	/* An episode's refractory level halves over about a third of the window. */
	d->refractory_decay = pow(0.5, REFRACTORY_SPEED / (double)w);
	d->zmax_decay = pow(0.5, 1.0 / (ZMAX_HALF_LIFE * (double)w));
}

/* The value k periods back, or NAN when the history does not reach it. */
static double hist_back(const sonde_anomaly_detector *d, size_t back)
{
	if (back == 0 || back > d->hist_n)
		return NAN;
	return d->hist[(d->hist_head + SONDE_ANOMALY_HISTORY - back) % SONDE_ANOMALY_HISTORY];
}

/* The median of the same phase in up to three previous periods of p points. */
static double seasonal_ref(const sonde_anomaly_detector *d, size_t p)
{
	double v[3];
	int k = 0;
	for (int i = 1; i <= 3; i++) {
		double x = hist_back(d, p * (size_t)i);
		if (!isnan(x))
			v[k++] = x;
	}
	if (k == 0)
		return NAN;
	if (k == 1)
		return v[0];
	if (k == 2)
		return 0.5 * (v[0] + v[1]);
	double lo = fmin(v[0], fmin(v[1], v[2])), hi = fmax(v[0], fmax(v[1], v[2]));
	return v[0] + v[1] + v[2] - lo - hi;
}

static void remember(sonde_anomaly_detector *d, double x)
{
	rw_push(&d->level, x);
	d->hist[d->hist_head] = x;
	d->hist_head = (d->hist_head + 1) % SONDE_ANOMALY_HISTORY;
	if (d->hist_n < SONDE_ANOMALY_HISTORY)
		d->hist_n++;
}

/* How far x lies outside the range of the recent values (those of the last EXT_BLOCKS
 * windows), in ranges: 0 inside it. Then x joins the range. */
static double extreme(sonde_anomaly_detector *d, double x)
{
	double lo = d->fill ? d->cur_lo : INFINITY, hi = d->fill ? d->cur_hi : -INFINITY;
	uint64_t k = d->nblocks < EXT_BLOCKS ? d->nblocks : EXT_BLOCKS;
	for (uint64_t i = 0; i < k; i++) {
		lo = fmin(lo, d->block_lo[(d->nblocks - 1 - i) % EXT_BLOCKS]);
		hi = fmax(hi, d->block_hi[(d->nblocks - 1 - i) % EXT_BLOCKS]);
	}
	double ext = hi > lo ? (fmax(x - hi, 0) + fmax(lo - x, 0)) / (hi - lo) : 0;
	d->cur_lo = d->fill ? fmin(d->cur_lo, x) : x;
	d->cur_hi = d->fill ? fmax(d->cur_hi, x) : x;
	if (++d->fill >= d->level.limit) {
		d->block_lo[d->nblocks % EXT_BLOCKS] = d->cur_lo;
		d->block_hi[d->nblocks % EXT_BLOCKS] = d->cur_hi;
		d->nblocks++;
		d->fill = 0;
	}
	return ext;
}

static double ratio_to_score(double z)
{
	if (!(z > 0))
		return 0;
	double p = pow(z / RATIO_HALF, RATIO_POW);
	return isinf(p) ? 1.0 : p / (p + 1.0);
}

double sonde_anomaly_update(sonde_anomaly_detector *d, uint64_t time_ns, double x,
                            sonde_anomaly_point *detail)
{
	sonde_anomaly_point pt = {0};
	if (!isfinite(x))
		goto out;
	if (d->n > 0 && d->ndiffs < STEP_POINTS) {
		d->diffs[d->ndiffs++] = time_ns > d->last_t ? time_ns - d->last_t : 0;
		if (d->ndiffs == STEP_POINTS)
			learn_step(d);
	}
	d->n++;
	d->last_t = time_ns;
	double ext = extreme(d, x);
	if (d->n <= MIN_HISTORY || !d->step_ns) {
		pt.expected = x;
		remember(d, x);
		goto out;
	}

	double med = median_sorted(d->level.sorted, d->level.n);
	double mad = rw_mad(&d->level, med);
	/* A change of less than 0.1% of the level is never evidence: a near-constant gauge
	 * (a process' memory) would otherwise alarm on its last digits. Neutral on NAB. */
	double tiny = 1e-3 * fmax(fabs(med), 1.0);
	double floor_[MODELS];
	for (int m = 0; m < MODELS; m++)
		floor_[m] = fmax(FLOOR_SHARE * d->spread[m], tiny);
	double resid[MODELS], expect[MODELS];
	expect[MODEL_LEVEL] = med;
	resid[MODEL_LEVEL] = x - med;
	for (int m = MODEL_DAY; m < MODELS; m++) {
		expect[m] = d->period[m] ? seasonal_ref(d, d->period[m]) : NAN;
		resid[m] = x - expect[m];
	}
	double scale_level =
	        fmax(1.4826 * mad, fmax(0.5 * 1.2533 * d->absdev[MODEL_LEVEL], floor_[MODEL_LEVEL]));

	/* The model in use: the level, unless a warmed-up seasonal model does clearly better. */
	int use = MODEL_LEVEL;
	double best = d->absdev[MODEL_LEVEL];
	for (int m = MODEL_DAY; m < MODELS; m++) {
		if (isnan(resid[m]) || d->resid_n[m] < d->level.limit)
			continue;
		if (d->absdev[m] < SEASON_GAIN * best) {
			use = m;
			best = d->absdev[m];
		}
	}
	double scale = use == MODEL_LEVEL ? scale_level : fmax(1.2533 * d->absdev[use], floor_[use]);
	double z = fabs(resid[use]) / scale;
	pt.kind = use != MODEL_LEVEL ? SONDE_ANOMALY_SEASONAL
	          : resid[use] < 0   ? SONDE_ANOMALY_DIP
	                             : SONDE_ANOMALY_SPIKE;
	pt.season = use == MODEL_DAY ? 1 : use == MODEL_WEEK ? 7 : 0;
	pt.expected = expect[use];

	if (use != d->model) {
		d->model = use;
		d->cusum_pos = d->cusum_neg = 0;
		d->run_pos = d->run_neg = 0;
		d->ewma = 0;
	}
	double u = resid[use] / scale;
	u = fmax(-CUSUM_CLIP, fmin(CUSUM_CLIP, u));
	d->cusum_pos = fmax(0, d->cusum_pos + u - CUSUM_K);
	d->cusum_neg = fmax(0, d->cusum_neg - u - CUSUM_K);
	d->run_pos = d->cusum_pos > 0 ? d->run_pos + 1 : 0;
	d->run_neg = d->cusum_neg > 0 ? d->run_neg + 1 : 0;
	double sum = fmax(d->cusum_pos, d->cusum_neg);
	double zc = CUSUM_Z * sum;
	if (zc > z) {
		z = zc;
		pt.kind = SONDE_ANOMALY_SHIFT;
	}
	/* The EWMA chart: a sustained drift too slow for the spike test. Its standard
	 * deviation under noise alone is sqrt(alpha / (2 - alpha)). */
	d->ewma += EWMA_ALPHA * (u - d->ewma);
	double ze = EWMA_WEIGHT * fabs(d->ewma) / sqrt(EWMA_ALPHA / (2.0 - EWMA_ALPHA));
	if (ze > z) {
		z = ze;
		pt.kind = SONDE_ANOMALY_SHIFT;
	}
	bool shifted = sum >= CUSUM_H;
	size_t run = d->cusum_pos >= d->cusum_neg ? d->run_pos : d->run_neg;
	if (shifted) {
		d->cusum_pos = d->cusum_neg = 0;
		d->run_pos = d->run_neg = 0;
		d->ewma = 0;
	}
	pt.z = z;

	/* Surprise: the evidence against the strongest evidence of the recent past, so that a
	 * series that is always bursty does not alarm on every burst. */
	double ratio = z / fmax(d->zmax, Z_MIN);
	d->zmax = fmax(d->zmax * d->zmax_decay, fmin(z, Z_CAP * fmax(d->zmax, Z_MIN)));
	double raw = ratio_to_score(ratio);
	/* A new extreme: a value beyond everything seen in the last EXT_BLOCKS windows, once a
	 * window of history is in and when it is clear evidence too (a record of plain noise is
	 * not news), scores by how far beyond the range it lies, however bursty the recent past:
	 * a series whose bursts keep the remembered maximum high still tells a jump past all of
	 * them. One alarm per EXT_REST windows: the first point of an episode is what counts. */
	if (ext > 0 && d->n > d->level.limit && z >= EXT_Z &&
	    (!d->ext_last || (double)(d->n - d->ext_last) > EXT_REST * (double)d->level.limit)) {
		d->ext_last = d->n;
		raw = fmax(raw, 1.0 / (1.0 + EXT_HALF / ext));
	}
	pt.score = raw > d->refractory ? raw : raw * REFRACTORY_DAMP;
	d->refractory = fmax(d->refractory * d->refractory_decay, raw);

	/* Learn, with residuals clipped so that an incident does not become the norm; the
	 * spread, unclipped, keeps a series that is flat between bursts from scoring every
	 * burst as infinitely unlikely. */
	for (int m = 0; m < MODELS; m++) {
		if (isnan(resid[m]))
			continue;
		double a = fabs(resid[m]);
		if (d->resid_n[m] > 0)
			a = fmin(a, RESID_CLIP * fmax(1.2533 * d->absdev[m], floor_[m]));
		d->resid_n[m]++;
		double rate = fmax(1.0 / (double)d->resid_n[m], 2.0 / ((double)d->level.limit + 1.0));
		d->spread[m] += rate * (fabs(resid[m]) - d->spread[m]);
		d->absdev[m] += rate * (a - d->absdev[m]);
	}
	remember(d, x);
	/* After a declared shift the baseline restarts from the points of the new level. */
	if (shifted) {
		size_t keep = run + 1 < d->level.limit ? run + 1 : d->level.limit;
		d->level.n = 0;
		for (size_t i = keep; i > 0; i--)
			rw_push(&d->level, hist_back(d, i));
	}
out:
	if (detail)
		*detail = pt;
	return pt.score;
}

int sonde_anomaly_score_series(const uint64_t *t, const double *v, size_t n, double *scores,
                               sonde_anomaly_point *details)
{
	sonde_anomaly_detector *d = sonde_anomaly_new();
	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		scores[i] = sonde_anomaly_update(d, t[i], v[i], details ? &details[i] : NULL);
	sonde_anomaly_free(d);
	return 0;
}

size_t sonde_anomaly_windows(const uint64_t *t, const double *v, const double *scores,
                             const sonde_anomaly_point *details, size_t n, double threshold,
                             uint64_t merge_gap_ns, sonde_anomaly_window *out, size_t cap)
{
	size_t count = 0;
	sonde_anomaly_window cur;
	bool open = false;
	for (size_t i = 0; i < n; i++) {
		if (!(scores[i] >= threshold))
			continue;
		if (open && t[i] - cur.end_ns > merge_gap_ns) {
			if (count < cap)
				out[count] = cur;
			count++;
			open = false;
		}
		if (!open) {
			memset(&cur, 0, sizeof cur);
			cur.start_ns = t[i];
			cur.peak_score = -1;
			open = true;
		}
		cur.end_ns = t[i];
		cur.points++;
		if (scores[i] > cur.peak_score) {
			cur.peak_score = scores[i];
			cur.peak_ns = t[i];
			cur.peak_value = v[i];
			cur.expected = details ? details[i].expected : 0;
			cur.kind = details ? details[i].kind : SONDE_ANOMALY_NONE;
		}
	}
	if (open) {
		if (count < cap)
			out[count] = cur;
		count++;
	}
	return count;
}
