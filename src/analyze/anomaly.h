/*
 * anomaly.h - streaming anomaly detection over one metric series: each point gets an
 * anomaly score in [0, 1], and scores turn into anomaly windows.
 *
 * The detector keeps, per series, a robust baseline (the rolling median of the last day
 * of points, at least 96 and at most 1440, with a MAD scale that has a floor so that a
 * flat series never divides by zero), daily and weekly seasonal references (the median of
 * the same phase in the previous periods, used when the history covers them and they
 * explain the series better than the plain level), and, for level shifts, a two-sided
 * CUSUM and an EWMA chart of the standardised residuals. A point's evidence is the
 * strongest of these, in robust standard deviations; its score in [0, 1] measures how far
 * that evidence exceeds the strongest evidence of the recent past, so one threshold means
 * the same on calm and on bursty series; a value beyond the range of the recent values
 * (the last 16 windows), when it is clear evidence too, scores by how far beyond it lies,
 * so that a bursty series still tells a jump past all its bursts. A refractory rule damps
 * weaker repeats once the detector has fired, so that one incident gives one high score,
 * not a plateau.
 *
 * Memory is bounded per series (a ring of at most SONDE_ANOMALY_HISTORY points, two
 * windows of at most 1440 and 16 block ranges), and the result depends only on the points
 * seen, in order.
 *
 * Lifetimes: a detector is created by sonde_anomaly_new() and freed by
 * sonde_anomaly_free(). Thread safety: a detector belongs to one thread at a time;
 * different detectors are independent.
 */
#ifndef SONDE_ANOMALY_H
#define SONDE_ANOMALY_H

#include <stddef.h>
#include <stdint.h>

/* Most points of history a detector keeps for its seasonal references. */
#define SONDE_ANOMALY_HISTORY    8192
/* Bounds of the rolling baseline, in points. */
#define SONDE_ANOMALY_WINDOW_MIN 96
#define SONDE_ANOMALY_WINDOW_MAX 1440

typedef struct sonde_anomaly_detector sonde_anomaly_detector;

/* What drove a point's score. */
typedef enum sonde_anomaly_kind {
	SONDE_ANOMALY_NONE = 0,
	SONDE_ANOMALY_SPIKE,    /* far above the rolling level */
	SONDE_ANOMALY_SEASONAL, /* far from the same time of the previous days or weeks */
	SONDE_ANOMALY_SHIFT,    /* a sustained change of level (CUSUM) */
	SONDE_ANOMALY_DIP,      /* far below the rolling level */
} sonde_anomaly_kind;

/* Returns "spike", "dip", "seasonal", "level shift" or "none". Static string. */
const char *sonde_anomaly_kind_name(sonde_anomaly_kind k);

/* The detail of one scored point. */
typedef struct sonde_anomaly_point {
	double score;    /* in [0, 1]; 0 during warm-up */
	double expected; /* the baseline the value was compared with */
	double z;        /* the evidence, in robust standard deviations */
	sonde_anomaly_kind kind;
	int season; /* 0 none, 1 daily, 7 weekly reference in use */
} sonde_anomaly_point;

/* Returns a new detector (free with sonde_anomaly_free()), or NULL when out of memory. */
sonde_anomaly_detector *sonde_anomaly_new(void);
/* Frees the detector. NULL is a no-op. */
void sonde_anomaly_free(sonde_anomaly_detector *d);

/* Feeds the next point (times ascending, Unix ns; a non-finite value is skipped with
 * score 0) and returns its score; fills *detail when non-NULL. */
double sonde_anomaly_update(sonde_anomaly_detector *d, uint64_t time_ns, double value,
                            sonde_anomaly_point *detail);

/* Scores a whole series: scores[i] for (t[i], v[i]). details may be NULL. Returns 0 or
 * -ENOMEM. */
int sonde_anomaly_score_series(const uint64_t *t, const double *v, size_t n, double *scores,
                               sonde_anomaly_point *details);

/* An anomaly window: consecutive points at or over the threshold, merged when less than
 * the merge gap apart. */
typedef struct sonde_anomaly_window {
	uint64_t start_ns, end_ns; /* first and last point over the threshold */
	uint64_t peak_ns;          /* the point with the highest score */
	double peak_score;
	double peak_value;
	double expected;         /* the baseline at the peak */
	sonde_anomaly_kind kind; /* what drove the peak */
	size_t points;           /* points over the threshold */
} sonde_anomaly_window;

/* The default threshold of sonde_anomaly_windows(), from the NAB sweep (docs/anomalies.md). */
#define SONDE_ANOMALY_THRESHOLD 0.5

/* Groups the points whose score is >= threshold into windows, joining two when they are
 * at most merge_gap_ns apart. Fills out[0..cap) and returns how many windows there are
 * (which may exceed cap: only the first cap are written). details may be NULL (kind and
 * expected are then left empty). */
size_t sonde_anomaly_windows(const uint64_t *t, const double *v, const double *scores,
                             const sonde_anomaly_point *details, size_t n, double threshold,
                             uint64_t merge_gap_ns, sonde_anomaly_window *out, size_t cap);

#endif
