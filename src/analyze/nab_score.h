/*
 * nab_score.h - the Numenta Anomaly Benchmark's scoring rules, to measure an anomaly
 * detector against labelled anomaly windows.
 *
 * NAB scores one detector over a corpus of series. Each point of a series gets a weight
 * from where it lies: inside a labelled window a scaled sigmoid of its position rewards
 * early detections (the window's first point earns the full true-positive weight, its
 * last about none); outside, a point is a false positive, penalised by up to the
 * false-positive weight, less so just after a window. Points in the probationary period
 * (the first 15% of a series, at most 750 points) are ignored. At a threshold T every
 * point whose anomaly score is >= T is a detection; a window scores the weight of its
 * best (earliest) detection, or -fn when it has none; every false positive adds its
 * (negative) weight. The threshold is swept over the corpus to maximise the total, and
 * the raw score is normalised so that a detector that never fires scores 0 and a perfect
 * one 100.
 *
 * Lifetimes: a sonde_nab_corpus owns copies of everything added to it; release it with
 * sonde_nab_corpus_release(). Not thread-safe; one corpus belongs to one thread.
 */
#ifndef SONDE_NAB_SCORE_H
#define SONDE_NAB_SCORE_H

#include <stddef.h>
#include <stdint.h>

/* A profile's weights (NAB's config/profiles.json CostMatrix). */
typedef struct sonde_nab_costs {
	double tp, fp, fn;
} sonde_nab_costs;

/* A labelled window: both ends inclusive, times in ns (any consistent unit works). */
typedef struct sonde_nab_window {
	uint64_t start, end;
} sonde_nab_window;

/* NAB's scaled sigmoid of a relative position: 2/(1+e^(5x)) - 1, and -1 from x >= 3. */
double sonde_nab_scaled_sigmoid(double x);

/* The probationary length of a series of n points: min(floor(0.15 n), 750). */
size_t sonde_nab_probation(size_t n);

/* One point of the corpus, as prepared for the sweep. */
typedef struct sonde__nab_point {
	double score;   /* the detector's anomaly score */
	double weight;  /* NAB's sweep score of a detection here */
	int64_t window; /* corpus-wide window index, or -1 outside every window */
	uint32_t series;
} sonde__nab_point;

typedef struct sonde_nab_corpus {
	sonde__nab_point *points; /* scorable points (probationary ones are left out) */
	size_t count, cap;
	size_t windows;         /* windows with at least one scorable point */
	size_t series;          /* series added */
	int64_t *window_series; /* series of each window, [windows] */
	double *window_best;    /* the best weight a detection in each window can earn */
	size_t windows_cap;
	sonde_nab_costs costs;
} sonde_nab_corpus;

void sonde_nab_corpus_init(sonde_nab_corpus *c, sonde_nab_costs costs);
void sonde_nab_corpus_release(sonde_nab_corpus *c);

/* Adds one series: n points with ascending times t[] and anomaly scores s[] (borrowed for
 * the call), and its windows (ascending, not overlapping; a window's ends are matched to
 * the first point at or after start and the last at or before end; a window holding no
 * point is dropped). Returns the series' index, or -ENOMEM / -EINVAL (unsorted windows). */
int sonde_nab_corpus_add(sonde_nab_corpus *c, const uint64_t *t, const double *s, size_t n,
                         const sonde_nab_window *w, size_t nw);

/* The outcome of scoring at one threshold. */
typedef struct sonde_nab_result {
	double threshold;   /* detections: score >= threshold */
	double raw;         /* NAB's raw score */
	double null_raw;    /* a detector that never fires: -fn per window */
	double perfect_raw; /* every window caught at its first scorable point */
	double normalized;  /* 100 (raw - null) / (perfect - null); 0 with no window */
	size_t tp, fn, fp;  /* windows caught and missed; false-positive points */
} sonde_nab_result;

/* Sweeps the threshold over every distinct score of the corpus (and one above all of
 * them) and fills *out with the threshold that maximises the corpus' raw score (the
 * highest such threshold on ties). Returns 0 or -ENOMEM. */
int sonde_nab_sweep(const sonde_nab_corpus *c, sonde_nab_result *out);

/* Scores the corpus at a fixed threshold, counting only the series i with series_mask[i]
 * non-zero (series_mask NULL: all; it has one byte per series added). */
void sonde_nab_score_at(const sonde_nab_corpus *c, double threshold, const unsigned char *series_mask,
                        sonde_nab_result *out);

#endif
