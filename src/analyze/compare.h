/*
 * compare.h - did this release make things slower? Per service and operation, two
 * selections of spans (a baseline and a current one, selector.h) compared: counts,
 * throughput, error rates, latency p50/p95/p99, a Mann-Whitney U test and a
 * Hodges-Lehmann shift with its confidence interval on the durations, and a two-proportion
 * z-test on the errors (stats.h). Each operation gets a verdict that needs BOTH a change of
 * practical size AND statistical significance, a severity, and reasons in plain words.
 * `sonde compare` renders the result; so can any other report (HTML), from the structs
 * alone.
 *
 * Memory per operation and side is bounded: quantiles come from a sonde_latency_dist
 * (exact up to SONDE_LATENCY_EXACT_MAX durations, a DDSketch of 0.5% relative accuracy
 * beyond), and the tests run on the durations themselves up to max_samples per group and
 * side, on a uniform reservoir sample of that size beyond (sonde_sample).
 *
 * Lifetimes: a sonde_compare_result owns everything it points to (arena); release it with
 * sonde_compare_result_release(). Not thread-safe.
 */
#ifndef SONDE_COMPARE_H
#define SONDE_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "latency.h"
#include "selector.h"
#include "stats.h"

/* ---- A bounded sample ------------------------------------------------------------------- */

/* The values themselves while at most max were added; beyond, a uniform random sample of
 * max of them (reservoir sampling, Vitter's algorithm R, with a fixed-seed generator so
 * results repeat). */
typedef struct sonde_sample {
	double *v; /* owned */
	size_t n, cap, max;
	uint64_t seen; /* values offered */
	uint64_t rng;
} sonde_sample;

#define SONDE_SAMPLE_DEFAULT_MAX 20000

/* max 0: SONDE_SAMPLE_DEFAULT_MAX. */
void sonde_sample_init(sonde_sample *s, size_t max);
void sonde_sample_release(sonde_sample *s);
/* Offers one value. Returns 0 or -ENOMEM. */
int sonde_sample_add(sonde_sample *s, double v);
/* True when the sample holds every value offered. */
static inline bool sonde_sample_is_exact(const sonde_sample *s)
{
	return s->seen == s->n;
}

/* ---- Verdicts ---------------------------------------------------------------------------- */

typedef enum sonde_cmp_verdict {
	SONDE_CMP_NO_CHANGE = 0,
	SONDE_CMP_REGRESSION,
	SONDE_CMP_IMPROVEMENT,
	SONDE_CMP_NEW,  /* only in the current selection */
	SONDE_CMP_GONE, /* only in the baseline */
} sonde_cmp_verdict;

typedef enum sonde_severity {
	SONDE_SEV_NONE = 0,
	SONDE_SEV_LOW,
	SONDE_SEV_MEDIUM,
	SONDE_SEV_HIGH,
	SONDE_SEV_CRITICAL,
} sonde_severity;

/* "regression", "improvement", "no change", "new", "gone". */
const char *sonde_cmp_verdict_name(sonde_cmp_verdict v);
/* "", "low", "medium", "high", "critical". */
const char *sonde_severity_name(sonde_severity s);

typedef struct sonde_compare_opts {
	double min_change;       /* relative p95 change of practical size; 0: 0.20 (+20%) */
	double min_error_change; /* error-rate change of practical size, in absolute rate;
	                            0: 0.01 (one percentage point) */
	double alpha;            /* significance level; 0: 0.05. Intervals are at 1 - alpha. */
	const char *service;     /* only this service (NULL: all) */
	size_t max_samples;      /* durations kept per group and side; 0: SONDE_SAMPLE_DEFAULT_MAX */
} sonde_compare_opts;

/* One side of one operation. */
typedef struct sonde_cmp_side {
	uint64_t count, errors;
	double error_rate;             /* errors / count; NaN when count is 0 */
	double throughput;             /* spans per second over the selection's window; NaN
	                                   when the window is unknown (one instant) */
	double p50_ns, p95_ns, p99_ns; /* as `sonde latency` computes them (latency.h) */
	double mean_ns;
	size_t sampled;    /* durations the tests used */
	bool sample_exact; /* sampled == count */
} sonde_cmp_side;

#define SONDE_CMP_MAX_REASONS 6

typedef struct sonde_cmp_op {
	const char *service, *operation; /* owned by the result */
	sonde_cmp_side base, cur;
	double p50_change, p95_change, p99_change; /* cur / base - 1; NaN when a side is empty */
	double throughput_change;                  /* cur / base - 1, NaN when unknown */
	double error_rate_delta;                   /* cur - base (absolute rate) */
	/* Tests (valid when both sides have spans; tests_run false otherwise). */
	bool tests_run;
	sonde_mwu_result mwu;               /* base durations (x) against current (y) */
	sonde_hl_result hl;                 /* shift of current against baseline, ns, CI at 1 - alpha */
	sonde_test_result errors_z;         /* two-proportion z (statsmodels' sign: base - cur); p
	                               NaN when neither side has an error (or both all) */
	bool latency_worse, latency_better; /* practical AND significant */
	bool errors_worse, errors_better;
	sonde_cmp_verdict verdict;
	sonde_severity severity;                    /* of a regression (NONE otherwise) */
	const char *reasons[SONDE_CMP_MAX_REASONS]; /* plain sentences, owned by the result */
	size_t reasons_count;
} sonde_cmp_op;

typedef struct sonde_compare_result {
	sonde_cmp_op *ops; /* owned; regressions first (most severe, then largest p95 change),
	                      then improvements, no change, new, gone */
	size_t count;
	size_t regressions, improvements, unchanged, added, removed;
	double base_window_s, cur_window_s; /* seconds the throughput divides by (NaN: unknown) */
	uint64_t base_spans, cur_spans;     /* spans read on each side */
	sonde_compare_opts opts;            /* as used (defaults filled in) */
	sonde_arena arena;                  /* owns the strings */
} sonde_compare_result;

/* Compares the spans of base with those of cur. Fills *out (initialised here; release
 * with sonde_compare_result_release() even on failure). Returns 0 or a negative code
 * (-EINVAL: bad options; a store error: sonde_store_errmsg() of the store says why). */
int sonde_compare_run(const sonde_selection *base, const sonde_selection *cur, const sonde_compare_opts *opts,
                      sonde_compare_result *out);
void sonde_compare_result_release(sonde_compare_result *r);

/* ---- Shared with canary.c --------------------------------------------------------------- */

/* The window of a selection in seconds: until - since when both are set, else the span
 * of start times seen (last - first); NaN when that is zero (fewer than two instants). */
double sonde_cmp_window_s(const sonde_selection *s, uint64_t first_ns, uint64_t last_ns, uint64_t count);
/* Writes a duration in ns as "12.3ms", "850us", "1.25s" into out[0..n). */
void sonde_cmp_fmt_ns(char *out, size_t n, double ns);

#endif
