/*
 * queries.h - database calls grouped by normalised statement: how often each runs, how
 * long it takes, which calls are slow, and where one statement repeats under a single
 * parent span (the N+1 pattern).
 *
 * A database span has db.system (or db.system.name) and db.query.text (or the older
 * db.statement); see sql_norm.h. Spans are fed one at a time (from a store scan, or any
 * array), so memory grows with the number of distinct statements and of (trace, parent,
 * statement) triples, not of spans.
 *
 * Lifetime: sonde_queries_init() / sonde_queries_release() on a caller-embedded struct;
 * the groups and strings belong to it. Not thread-safe.
 */
#ifndef SONDE_QUERIES_H
#define SONDE_QUERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "keymap.h"
#include "latency.h"
#include "telemetry.h"

typedef struct sonde_query_group {
	const char *statement; /* normalised; owned by the sonde_queries */
	const char *system;    /* db.system; owned */
	const char *service;   /* service of the first call seen; owned */
	uint64_t count, errors;
	uint64_t total_ns, max_ns;
	double mean_ns, p95_ns;  /* set by sonde_queries_finish() */
	uint64_t slow;           /* calls at or over the slow threshold */
	uint64_t nplus1_parents; /* parent spans under which it ran >= nplus1_min times */
	uint64_t nplus1_max;     /* the most times it ran under one parent */
	uint8_t slowest_trace[16];
	uint8_t slowest_span[8];
	sonde_latency_dist dist;
} sonde_query_group;

/* One slow call, for the "slow calls" list. */
typedef struct sonde_slow_call {
	uint32_t group; /* index into groups */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint64_t start_ns, duration_ns;
} sonde_slow_call;

typedef struct sonde_queries {
	/* settings, read by add and finish */
	uint64_t slow_ns;    /* a call this long or longer is slow (default 100 ms) */
	uint32_t nplus1_min; /* repeats under one parent that make an N+1 (default 5) */
	size_t slow_keep;    /* how many slow calls to keep, slowest first (default 20) */
	/* results */
	sonde_query_group *groups; /* owned */
	size_t count, cap;
	sonde_slow_call *slow; /* owned; the slowest slow_keep calls at or over slow_ns */
	size_t slow_count;
	uint64_t spans_seen, db_spans;
	/* private */
	sonde_keymap keys, triples;
	uint32_t *triple_counts; /* per triple; its group index in triple_groups */
	uint32_t *triple_groups;
	size_t triples_n, triples_cap;
	sonde_buf scratch;
} sonde_queries;

/* Initialises with the default settings; change them before the first add. */
void sonde_queries_init(sonde_queries *q);
void sonde_queries_release(sonde_queries *q);
/* Looks at one span; non-database spans only count in spans_seen. Returns 0 or -ENOMEM. */
int sonde_queries_add(sonde_queries *q, const sonde_span_data *s);
/* Computes means, p95s and N+1 counts, and sorts groups by total time, largest first
 * (slow calls are kept slowest first). Call once, after the last add. */
void sonde_queries_finish(sonde_queries *q);

#endif
