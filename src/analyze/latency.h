/*
 * latency.h - latency distributions: exact quantiles for small groups, a mergeable
 * relative-error sketch for large ones, and the per-group tables of `sonde latency`.
 *
 * sonde_ddsketch is a DDSketch (Masson, Rim and Lee, VLDB 2019) over positive values:
 * value v lands in bucket ceil(log_gamma(v)) with gamma = (1 + a) / (1 - a), and a
 * bucket's estimate 2 gamma^i / (gamma + 1) is within relative error a of every value
 * in it. Quantile q answers the value of rank floor(q * (n - 1)) (0-based) among the
 * sorted values, within relative error a; sketches with the same a merge by adding
 * counts. Values below 1 (durations under a nanosecond) count in a zero bucket.
 *
 * sonde_latency_dist keeps the values themselves while there are at most
 * SONDE_LATENCY_EXACT_MAX (quantiles are then exact, with the same rank rule) and a
 * sketch always, so that large groups need constant memory.
 *
 * Lifetimes: _init/_release on caller-embedded structs. Not thread-safe.
 */
#ifndef SONDE_LATENCY_H
#define SONDE_LATENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Relative accuracy of sonde's sketches: 0.5%, half the 1% promised to users, which
 * leaves room for floating-point error near bucket boundaries. */
#define SONDE_DDSKETCH_ALPHA 0.005

typedef struct sonde_ddsketch {
	double gamma, log_gamma; /* from alpha */
	uint64_t *counts;        /* owned; counts[k] is bucket offset + k */
	int32_t offset;
	uint32_t nbuckets;
	uint64_t zero_count; /* values < 1 */
	uint64_t count;
	double min, max;
} sonde_ddsketch;

/* Initialises an empty sketch with relative accuracy alpha (0 < alpha < 1). */
void sonde_ddsketch_init(sonde_ddsketch *s, double alpha);
void sonde_ddsketch_release(sonde_ddsketch *s);
/* Adds value v (v >= 0; NaN is ignored) n times. Returns 0 or -ENOMEM (sketch unchanged). */
int sonde_ddsketch_add(sonde_ddsketch *s, double v, uint64_t n);
/* Most values sonde_ddsketch_add_values() takes at once. */
#define SONDE_DDSKETCH_BATCH 64
/* Adds v[0..n) (n <= SONDE_DDSKETCH_BATCH), each once: the same sketch as n calls of
 * sonde_ddsketch_add(), with the buckets' counts touched together (faster when many
 * sketches take turns). Returns 0, -EINVAL (n too large) or -ENOMEM (sketch unchanged). */
int sonde_ddsketch_add_values(sonde_ddsketch *s, const uint64_t *v, size_t n);
/* Adds every count of src into dst. Both must have the same alpha. Returns 0, -EINVAL
 * (different alpha) or -ENOMEM (dst unchanged). */
int sonde_ddsketch_merge(sonde_ddsketch *dst, const sonde_ddsketch *src);
/* The value at quantile q (0..1), within the sketch's relative accuracy; 0 when empty.
 * q = 0 and q = 1 answer the exact min and max. */
double sonde_ddsketch_quantile(const sonde_ddsketch *s, double q);
/* Lower and upper value bounds of the k-th non-empty bucket walk: a callback-free view
 * used by histograms. Bucket index i covers (gamma^(i-1), gamma^i]. */
double sonde_ddsketch_bucket_value(const sonde_ddsketch *s, int32_t index);

#define SONDE_LATENCY_EXACT_MAX 2048

typedef struct sonde_latency_dist {
	sonde_ddsketch sketch;
	uint64_t *exact; /* owned; the values while count <= SONDE_LATENCY_EXACT_MAX, else NULL */
	size_t exact_n, exact_cap;
	bool exact_sorted;
	bool overflowed; /* more values than EXACT_MAX were added: quantiles from the sketch */
	/* Once overflowed: values added but not yet in the sketch, which takes them
	 * SONDE_DDSKETCH_BATCH at a time (every function below counts them). */
	uint32_t pending_n;
	uint64_t pending[SONDE_DDSKETCH_BATCH];
} sonde_latency_dist;

void sonde_latency_dist_init(sonde_latency_dist *d);
void sonde_latency_dist_release(sonde_latency_dist *d);
/* Adds one duration. Returns 0 or -ENOMEM. */
int sonde_latency_dist_add(sonde_latency_dist *d, uint64_t ns);
/* Adds every value of src to dst (exact while the sum stays small). Returns 0 or -ENOMEM. */
int sonde_latency_dist_merge(sonde_latency_dist *dst, const sonde_latency_dist *src);
uint64_t sonde_latency_dist_count(const sonde_latency_dist *d);
/* Quantile q (0..1) in ns, exact or within the sketch's accuracy; 0 when empty. May
 * sort the exact values in place. */
double sonde_latency_dist_quantile(sonde_latency_dist *d, double q);
/* True when quantiles are exact. */
bool sonde_latency_dist_is_exact(const sonde_latency_dist *d);
/* Fills bins[0..nbins) with counts over nbins log-spaced ranges from the smallest to
 * the largest value (for a sparkline). Sets *lo and *hi to the range's ends. */
void sonde_latency_dist_histogram(const sonde_latency_dist *d, uint64_t *bins, size_t nbins, double *lo,
                                  double *hi);

/* ---- Per-group latency tables -------------------------------------------------------- */

#define SONDE_LATENCY_BINS 16

/* One row of `sonde latency`: a group's counts and distribution. */
typedef struct sonde_latency_row {
	const char *key;  /* group value(s), borrowed from the table */
	const char *key2; /* second key (downstream target), or NULL */
	uint64_t count, errors;
	uint64_t sum_ns, min_ns, max_ns;
	uint64_t first_ns, last_ns; /* start times of the first and last span */
	double p50_ns, p95_ns, p99_ns, p999_ns;
	bool exact;                        /* quantiles exact (small group) */
	uint64_t bins[SONDE_LATENCY_BINS]; /* log-spaced histogram, min_ns..max_ns */
	double share;                      /* sum_ns / the table's sum_ns */
	sonde_latency_dist dist;           /* owned by the table */
} sonde_latency_row;

typedef struct sonde_latency_table {
	sonde_latency_row *rows; /* owned */
	size_t count, cap;
	uint64_t total_ns; /* sum of every row's sum_ns */
	void *priv;        /* owned: key storage */
} sonde_latency_table;

void sonde_latency_table_init(sonde_latency_table *t);
void sonde_latency_table_release(sonde_latency_table *t);
/* The row for (key, key2) (key2 may be NULL), created empty when new. Returns its index,
 * or -ENOMEM. Row pointers move when rows are added: hold indexes. */
ssize_t sonde_latency_table_row(sonde_latency_table *t, const char *key, const char *key2);
/* Adds one span to row i. Returns 0 or -ENOMEM. */
int sonde_latency_table_add(sonde_latency_table *t, size_t i, uint64_t start_ns, uint64_t duration_ns,
                            bool error);
/* Adds everything row src holds (counts, times, distribution) to row i. src may belong
 * to another table, finished or not. Returns 0 or -ENOMEM. */
int sonde_latency_table_merge(sonde_latency_table *t, size_t i, const sonde_latency_row *src);
/* Computes every row's quantiles, histogram and share, and sorts the rows: by count
 * (by_total false) or by sum of durations (true), largest first. Call once, when every
 * span is in: rows cannot be looked up or added afterwards. */
void sonde_latency_table_finish(sonde_latency_table *t, bool by_total);

#endif
