/*
 * anomaly_find.h - anomalies in the metric series of a store, with their context: runs
 * the detector of anomaly.h over every series (a metric name with its resource and point
 * attributes) and, for each anomaly window, gathers from the same store what happened
 * around it: error logs and their most frequent messages, failed spans and their traces,
 * the services active.
 *
 * Lifetimes: a sonde_anomaly_report owns everything it points to; release it with
 * sonde_anomaly_report_release(). Thread safety: as for the store handle.
 */
#ifndef SONDE_ANOMALY_FIND_H
#define SONDE_ANOMALY_FIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "anomaly.h"
#include "arena.h"
#include "store.h"

#define SONDE_ANOMALY_TOP_ERRORS 3
#define SONDE_ANOMALY_TRACES     5

typedef struct sonde_anomaly_count {
	const char *name;
	uint64_t count;
} sonde_anomaly_count;

/* One anomaly of one series and its context. Strings point into the report's arena. */
typedef struct sonde_anomaly_found {
	const char *metric;
	const char *service; /* service.name of the series' resource; "" when none */
	const char *attrs;   /* the point attributes as "k=v, k=v"; "" when none */
	sonde_anomaly_window window;
	uint64_t context_since_ns, context_until_ns; /* the window widened by the context */
	uint64_t error_logs;                         /* severity ERROR or worse */
	sonde_anomaly_count top_errors[SONDE_ANOMALY_TOP_ERRORS];
	size_t top_errors_count;
	uint64_t failed_spans;                        /* status ERROR */
	char failed_traces[SONDE_ANOMALY_TRACES][33]; /* hex trace ids, first seen first */
	size_t failed_traces_count;
	uint64_t failed_traces_total;  /* distinct traces with a failed span */
	sonde_anomaly_count *services; /* services with spans or logs in the context, most first */
	size_t services_count;
} sonde_anomaly_found;

typedef struct sonde_anomaly_report {
	sonde_anomaly_found *items; /* by window start */
	size_t count;
	size_t series; /* series examined */
	uint64_t points;
	sonde_arena arena;
} sonde_anomaly_report;

typedef struct sonde_anomaly_find_opts {
	const char *metric_glob; /* fnmatch(3) pattern on the metric name; NULL: every metric
	                            but the pipeline's own (otel.sdk.*, sonde.*) */
	double threshold;        /* 0: SONDE_ANOMALY_THRESHOLD */
	uint64_t merge_gap_ns;   /* windows closer than this merge; 0: 10 sampling steps */
	uint64_t context_ns;     /* context before and after a window; 0: 5 minutes */
} sonde_anomaly_find_opts;

/* Finds the anomalies in the points matching q (since/until, service, attrs; q->operation
 * and q->limit are ignored) and their context; o NULL: the defaults. Fills *out (initialised here; release with
 * sonde_anomaly_report_release() even on failure). Returns the number of anomalies or a
 * negative code (sonde_store_errmsg() says more for store failures). */
ssize_t sonde_anomaly_find(sonde_store *s, const sonde_query *q, const sonde_anomaly_find_opts *o,
                           sonde_anomaly_report *out);
void sonde_anomaly_report_release(sonde_anomaly_report *r);

/* The key error log messages are grouped by: the body with every run of digits replaced
 * by '#' and cut to cap - 1 bytes; writes a NUL-terminated key to out (cap >= 1) and
 * returns its length. Kept alone so that the log template miner can replace it. */
size_t sonde_anomaly_error_key(const char *body, size_t n, char *out, size_t cap);

#endif
