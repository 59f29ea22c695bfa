/*
 * investigate.h - the investigations behind `sonde trace`, `sonde latency` and
 * `sonde queries`: each asks the store (store.h only) for what it needs and runs the
 * in-memory analyses (trace_tree.h, latency.h, queries.h) over the answer.
 *
 * Lifetimes: results are caller-embedded structs filled here and freed with their
 * _release function (also after a failure). The store is borrowed for the call. Not
 * thread-safe; distinct stores and results may be used from distinct threads.
 */
#ifndef SONDE_INVESTIGATE_H
#define SONDE_INVESTIGATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "latency.h"
#include "queries.h"
#include "store.h"
#include "trace_tree.h"

/* ---- One trace --------------------------------------------------------------------- */

typedef struct sonde_trace_report_opts {
	uint32_t nplus1_min;        /* repeats under one parent that count as N+1; 0: 5 */
	uint64_t metrics_margin_ns; /* metric points are taken from the trace's window widened
	                               by this much on each side (scrapes are seconds apart);
	                               0: none */
	size_t max_points;          /* most metric points; 0: 500 */
} sonde_trace_report_opts;

typedef struct sonde_trace_report {
	sonde_batch *batch;                    /* owned: the trace's spans (in start order) and its logs */
	sonde_batch *points;                   /* owned: metric points of the trace's services, or NULL */
	sonde_trace_tree *tree;                /* owned; indexes batch->spans */
	sonde_cp_share *services, *operations; /* owned (free()): critical path shares */
	size_t services_count, operations_count;
	sonde_nplus1 *nplus1; /* owned (free()) */
	size_t nplus1_count;
	uint32_t slowest;      /* longest non-root span (node index) */
	uint32_t slowest_self; /* span with the largest self time */
	uint32_t *errors;      /* owned (free()): error spans, node indexes in start order */
	size_t errors_count;
	uint64_t points_since_ns, points_until_ns; /* the window the points were taken from */
} sonde_trace_report;

/* Fetches trace id (16 bytes) with its logs, and the metric points of its services in
 * its window, and analyses it. Returns 0, -ENOENT when the store has no such trace, or
 * another negative code (sonde_store_errmsg() says more). */
int sonde_trace_report_build(sonde_store *s, const uint8_t id[16], const sonde_trace_report_opts *o,
                             sonde_trace_report *out);
/* Analyses the spans already in b (taken: the report frees it), without a store and
 * without metric points. Returns 0 or -ENOMEM. */
int sonde_trace_report_from_batch(sonde_batch *b, const sonde_trace_report_opts *o, sonde_trace_report *out);
void sonde_trace_report_release(sonde_trace_report *r);

/* ---- Latency ------------------------------------------------------------------------- */

typedef enum sonde_latency_by {
	SONDE_LATENCY_BY_SERVICE = 0,
	SONDE_LATENCY_BY_OPERATION,
	SONDE_LATENCY_BY_ATTR,
} sonde_latency_by;

/* Latency of the spans matching q (as for sonde_store_aggregate_spans()), grouped by
 * service, operation (key = service, key2 = span name) or an attribute's value (attr).
 * Fills main (rows sorted by count) and ops (per operation, sorted by total time: the
 * operations that hold the largest share of all span time). Both tables are initialised
 * here. Returns 0 or a negative code. */
int sonde_latency_run(sonde_store *s, const sonde_query *q, sonde_latency_by by, const char *attr,
                      sonde_latency_table *main, sonde_latency_table *ops);

/* sonde_latency_run() and, when down is non-NULL, sonde_latency_downstream() into down,
 * in one pass over the spans (two when q's kinds leave client spans out). The tables are
 * initialised here; release all three (down when non-NULL) even on failure. Returns 0 or
 * a negative code. */
int sonde_latency_run_all(sonde_store *s, const sonde_query *q, sonde_latency_by by, const char *attr,
                          sonde_latency_table *main, sonde_latency_table *ops, sonde_latency_table *down);

/* The latency each service sees from its downstream dependencies: CLIENT spans matching
 * q, grouped by service (key) and the dependency they call (key2: peer.service, else
 * db.system, else server.address, else "?"), sorted by count. Returns 0 or a negative
 * code. */
int sonde_latency_downstream(sonde_store *s, const sonde_query *q, sonde_latency_table *out);

/* ---- Database calls ----------------------------------------------------------------- */

/* Feeds every database span matching q into acc (set its thresholds first) and finishes
 * it. Returns 0 or a negative code. */
int sonde_queries_run(sonde_store *s, const sonde_query *q, sonde_queries *acc);

#endif
