/*
 * canary.h - should this release be rolled back? An automated canary analysis (in the
 * manner of Kayenta) of a current selection against a baseline one (selector.h).
 *
 * Metrics: error rate, success rate, latency p95 and throughput of the requests (spans of
 * kind SERVER or CONSUMER and root spans; all spans when one side has none of those), and
 * CPU and memory where metric points name them (the OpenTelemetry semantic conventions:
 * process.cpu.utilization, process.cpu.time (as a rate), container.cpu.usage,
 * process.memory.usage, container.memory.usage, ... see canary.c; or the names given).
 *
 * Each metric is judged twice:
 *   - statistically: error rate by a two-proportion z-test; p95 by a Mann-Whitney U test
 *     on the request durations (with a Hodges-Lehmann shift); CPU and memory by a
 *     Mann-Whitney test on their point values. A metric fails when it moved in the bad
 *     direction by more than its tolerance AND significantly (p < alpha). Success rate
 *     shares the error-rate test (it is not counted twice) and throughput is judged by
 *     rules only. The score is 100 x the share of tested metrics that pass.
 *   - by threshold rules (sonde_canary_rule): a breached rule of severity critical sets
 *     the score to 0; high, medium and low take 40, 20 and 10 points off.
 * The verdict: pass when the score is at least pass_score, marginal when at least
 * marginal_score, fail below.
 *
 * Lifetimes: sonde_canary_result owns its strings (arena); release with
 * sonde_canary_result_release(). Rules are values (their text is borrowed). Not
 * thread-safe.
 */
#ifndef SONDE_CANARY_H
#define SONDE_CANARY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "compare.h"
#include "selector.h"
#include "stats.h"

typedef enum sonde_canary_metric {
	SONDE_CANARY_ERROR_RATE = 0, /* errors / requests, as a fraction */
	SONDE_CANARY_SUCCESS_RATE,   /* 1 - error rate */
	SONDE_CANARY_P95,            /* request latency p95, ns */
	SONDE_CANARY_THROUGHPUT,     /* requests per second */
	SONDE_CANARY_CPU,            /* median of the CPU points (utilisation or cores) */
	SONDE_CANARY_MEMORY,         /* median of the memory points (bytes) */
	SONDE_CANARY_METRICS,
} sonde_canary_metric;

/* "error_rate", "success_rate", "p95", "throughput", "cpu", "memory". */
const char *sonde_canary_metric_name(sonde_canary_metric m);

/* ---- Rules -------------------------------------------------------------------------------- */

typedef enum sonde_rule_of {
	SONDE_RULE_VALUE = 0, /* the current value */
	SONDE_RULE_CHANGE,    /* relative change: current / baseline - 1 */
	SONDE_RULE_DELTA,     /* difference: current - baseline (rates in fractions) */
} sonde_rule_of;

typedef enum sonde_rule_op { SONDE_RULE_GT, SONDE_RULE_GE, SONDE_RULE_LT, SONDE_RULE_LE } sonde_rule_op;

/* A threshold rule, written METRIC[.change|.delta]OP NUMBER[UNIT][:SEVERITY], e.g.
 * "error_rate>5%:critical", "p95.change>25%:high", "success_rate.delta<-5pt:critical",
 * "p95>800ms", "throughput.change<-50%:medium". OP is >, >=, < or <=. UNIT: % or pt
 * (hundredths), ns/us/ms/s (durations), or none. SEVERITY: low, medium, high (default),
 * critical. */
typedef struct sonde_canary_rule {
	sonde_canary_metric metric;
	sonde_rule_of of;
	sonde_rule_op op;
	double threshold; /* in the metric's unit (fractions for rates and changes, ns) */
	sonde_severity severity;
	const char *text; /* as written (borrowed) */
} sonde_canary_rule;

/* Parses text into *out. Returns 0, or -EINVAL with a sentence saying what was expected
 * in err[0..err_len). */
int sonde_canary_rule_parse(const char *text, sonde_canary_rule *out, char *err, size_t err_len);

/* The default rules: error rate above 5% critical; p95 up more than 25% high; success
 * rate down more than 5 points critical. */
extern const sonde_canary_rule sonde_canary_default_rules[];
extern const size_t sonde_canary_default_rules_count;

/* ---- Analysis ------------------------------------------------------------------------------ */

typedef struct sonde_canary_opts {
	double alpha;                   /* 0: 0.05 */
	double error_tolerance;         /* error-rate rise the statistics tolerate; 0: 0.01 (1 point) */
	double latency_tolerance;       /* relative p95 rise tolerated; 0: 0.10 */
	double resource_tolerance;      /* relative CPU / memory rise tolerated; 0: 0.10 */
	double pass_score;              /* 0: 75 */
	double marginal_score;          /* 0: 50 */
	const sonde_canary_rule *rules; /* NULL: the default rules */
	size_t rules_count;
	const char *cpu_metric, *memory_metric; /* metric names to use; NULL: the conventions */
	size_t max_samples;                     /* as sonde_compare_opts; 0: default */
} sonde_canary_opts;

typedef enum sonde_canary_class {
	SONDE_CANARY_NODATA = 0, /* a side lacks the metric */
	SONDE_CANARY_PASS,       /* no significant change of practical size for the worse */
	SONDE_CANARY_FAIL,       /* worse beyond tolerance, and significant */
	SONDE_CANARY_UNTESTED,   /* present, judged by rules only */
} sonde_canary_class;

typedef struct sonde_canary_value {
	sonde_canary_metric metric;
	double base, cur;       /* NaN when a side lacks it */
	double change, delta;   /* cur / base - 1, cur - base */
	const char *source;     /* what it was computed from (a metric name, "requests") */
	uint64_t base_n, cur_n; /* observations behind each side */
	bool tested;
	double p;         /* the test's two-sided p-value (NaN when undefined) */
	const char *test; /* "two-proportion z", "Mann-Whitney U", or NULL */
	double shift;     /* Hodges-Lehmann shift, for the Mann-Whitney tests */
	sonde_canary_class cls;
} sonde_canary_value;

typedef struct sonde_canary_breach {
	sonde_canary_rule rule;
	double observed; /* the value the rule compared */
} sonde_canary_breach;

typedef enum sonde_canary_verdict {
	SONDE_CANARY_VERDICT_PASS = 0,
	SONDE_CANARY_VERDICT_MARGINAL,
	SONDE_CANARY_VERDICT_FAIL,
} sonde_canary_verdict;

/* "pass", "marginal", "fail". */
const char *sonde_canary_verdict_name(sonde_canary_verdict v);
/* Writes a metric's value as the reports show it into out[0..n): rates as percentages,
 * p95 as a duration, throughput per second, "-" for NaN (no data). */
void sonde_canary_fmt_value(char *out, size_t n, sonde_canary_metric m, double v);

#define SONDE_CANARY_MAX_BREACHES 32
#define SONDE_CANARY_MAX_REASONS  24

typedef struct sonde_canary_result {
	sonde_canary_value metrics[SONDE_CANARY_METRICS];
	sonde_canary_breach breaches[SONDE_CANARY_MAX_BREACHES];
	size_t breaches_count;
	double stat_score; /* 100 x passing tested metrics / tested metrics */
	double score;      /* after the rules, 0..100 */
	sonde_canary_verdict verdict;
	const char *reasons[SONDE_CANARY_MAX_REASONS]; /* plain sentences (arena) */
	size_t reasons_count;
	bool entry_spans; /* requests are entry spans (false: all spans) */
	double base_window_s, cur_window_s;
	sonde_canary_opts opts; /* as used; rules point at the caller's or the defaults */
	sonde_arena arena;
} sonde_canary_result;

/* Runs the analysis. Fills *out (initialised here; release it even on failure). Returns
 * 0, -ENODATA when either selection holds no spans, -EINVAL for bad options, or another
 * negative code (a store error: sonde_store_errmsg() says why). */
int sonde_canary_run(const sonde_selection *base, const sonde_selection *cur, const sonde_canary_opts *opts,
                     sonde_canary_result *out);
void sonde_canary_result_release(sonde_canary_result *r);

#endif
