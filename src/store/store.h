/*
 * store.h - the telemetry store: the one interface through which ingest writes and the
 * analyses read spans, log records and metric points.
 *
 * A store is opened from a URI. A plain path (or "sqlite:PATH", or "file:PATH") is an
 * embedded SQLite database (store_sqlite.c); "clickhouse://host[:port]/db" is a ClickHouse
 * server over its HTTP interface (store_clickhouse*.c), behind the same ops struct
 * (store_internal.h). Callers never learn which backend answers.
 *
 * Writes take a whole sonde_batch (telemetry.h) and store it in one transaction: all of it
 * or none of it (ClickHouse: in several INSERTs; a failed append may leave part of the
 * batch, and repeating it completes the batch). They are idempotent: a span is keyed by (trace id, span id); a log record
 * by its content together with its source and position (see sonde_append_opts); a metric
 * point by its series (name, type, resource, scope, attributes) and time. Appending what
 * is already present adds nothing and counts it as present.
 *
 * Reads come in three shapes: records copied into a caller's batch (get_trace, select_*),
 * records streamed through a callback for scans too large to hold (scan_*), and
 * aggregates computed inside the backend (aggregate_spans), which can also stream each
 * span's duration with its group index so the caller can build quantile sketches without
 * holding the rows.
 *
 * Times are Unix epoch nanoseconds (uint64_t). Intervals are half-open: [since, until).
 * A zero bound is open. Strings passed in are borrowed for the call only.
 *
 * Lifetimes: a sonde_store is created by sonde_store_open() and freed by
 * sonde_store_close(). Results (sonde_trace_list, sonde_agg_result) own their memory and
 * outlive the store; release them with their _release function.
 *
 * Thread safety: one sonde_store handle belongs to one thread at a time. Any number of
 * handles, in any threads or processes, may open the same SQLite store: one writer at a
 * time (others wait up to the busy timeout) and readers that run during a write and see
 * the last committed state.
 *
 * Errors: 0 (or a count) on success, a negative errno or SONDE_E* code (sonde/status.h)
 * on failure; sonde_store_errmsg() then says what happened in a sentence. A failed call
 * changes nothing in the store.
 */
#ifndef SONDE_STORE_H
#define SONDE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "arena.h"
#include "buf.h"
#include "telemetry.h"

typedef struct sonde_store sonde_store;

/* The store a CLI uses when neither --db nor SONDE_DB says otherwise. */
#define SONDE_STORE_DEFAULT_URI "sonde.db"

/* ---- Open and close ------------------------------------------------------------------- */

enum {
	SONDE_STORE_READONLY = 1u << 0, /* never write; the store must exist */
	SONDE_STORE_NOCREATE = 1u << 1, /* fail with -ENOENT when the store does not exist */
	/* For a long-running writer (sonde serve, ingest): SQLite's WAL checkpoints run on a
	 * thread of the store with its own connection instead of inside the commit that
	 * crosses the threshold, so no append waits for the bulk of one (the log stays
	 * bounded: see store_sqlite.c). Other backends ignore it. */
	SONDE_STORE_BG_CHECKPOINT = 1u << 2,
};

/* Opens (and, unless flags say otherwise, creates) the store at uri, migrating an older
 * schema to the current one. On success *out is the store (close with
 * sonde_store_close()). On failure returns a negative code and, when errmsg is non-NULL,
 * writes a sentence naming the store and the problem into errmsg[0..errmsg_len): for
 * example "sonde.db: file is not a database", or "sonde.db: schema version 9 is newer
 * than this sonde (2)". -ENOENT: no such store (NOCREATE, READONLY); SONDE_EFORMAT: not a
 * sonde store, or a damaged one; SONDE_EUNSUPPORTED: a backend this build lacks. */
int sonde_store_open(const char *uri, unsigned flags, sonde_store **out, char *errmsg, size_t errmsg_len);
/* Closes the store. NULL is a no-op. */
void sonde_store_close(sonde_store *s);
/* The backend's name: "sqlite". Static string. */
const char *sonde_store_backend(const sonde_store *s);
/* A sentence on the last failure of a call on s ("" when none). Borrowed until the next
 * call on s. */
const char *sonde_store_errmsg(const sonde_store *s);
/* The schema version this build writes. */
int sonde_store_schema_version(void);

/* ---- Append ---------------------------------------------------------------------------- */

typedef struct sonde_append_opts {
	/* The position of the batch's first log record in its input (a record ordinal, not
	 * bytes); logs[i] is at log_position + i. A log record's identity is a hash of its
	 * content (with resource and scope) and its position, so re-reading a file, or a copy
	 * of it, or the same export in another encoding, never duplicates a line, while
	 * identical lines at different places stay distinct. log_source, when set, is a
	 * namespace mixed into that hash: records of different namespaces never match (NULL
	 * or "": none, which is what ingest uses). */
	const char *log_source;
	uint64_t log_position;
	/* Log templates (issue 8): log_template_ids, when non-NULL, has one entry per log
	 * record of the batch: the id of the template (sonde_log_template.id) its body
	 * matched, 0 for none. templates describe those ids (each id once); a template's
	 * stored row is created or updated in the same transaction from the records actually
	 * added (count, first and last time), so re-appending a batch changes nothing. A
	 * backend without templates (ClickHouse) ignores both. */
	const uint64_t *log_template_ids;
	const struct sonde_log_template *templates;
	size_t templates_count;
	/* Optional: the variable part of every span of the batch already encoded by
	 * sonde_store_encode_spans() into span_enc_data, span_enc[i] for spans[i] (work the
	 * append would do, done by a caller with a spare thread). The SQLite store then
	 * stores those bytes instead of encoding the spans itself; other backends ignore it. */
	const uint8_t *span_enc_data;
	const struct sonde_span_enc *span_enc;
} sonde_append_opts;

/* Where a span's encoded attributes and the rest of its variable part (events, links,
 * status message, flags, ...) are in the buffer sonde_store_encode_spans() wrote. */
typedef struct sonde_span_enc {
	size_t attrs_off, attrs_len; /* attrs_len 0: no attributes */
	size_t rest_off, rest_len;
} sonde_span_enc;

/* Appends the variable part of spans[0..n) to out as the SQLite store keeps it, and
 * where each is to enc[0..n), for sonde_append_opts.span_enc. Thread-safe (it reads only
 * its arguments). Returns 0 or -ENOMEM. */
int sonde_store_encode_spans(sonde_buf *out, const sonde_span_data *spans, size_t n, sonde_span_enc *enc);

/* A log template as stored: the miner's stable id (a hash of the text), its text with
 * named placeholders ("Received block <BLK> of size <NUM>"), and over the stored records
 * that carry it: how many, and the first and last record time. */
typedef struct sonde_log_template {
	uint64_t id;
	const char *text;
	size_t text_len;
	uint64_t count;
	uint64_t first_ns, last_ns;
} sonde_log_template;

typedef struct sonde_append_stats {
	uint64_t spans_added, spans_present; /* present: the key was already stored */
	uint64_t logs_added, logs_present;
	uint64_t points_added, points_present; /* points across all metrics */
} sonde_append_stats;

/* Appends every span, log record and metric point of b in one transaction. opts may be
 * NULL. On success adds the counts to *stats (when non-NULL; the caller zeroes it) and
 * returns 0. On failure nothing of b is stored. b is borrowed for the call. */
int sonde_store_append(sonde_store *s, const sonde_batch *b, const sonde_append_opts *opts,
                       sonde_append_stats *stats);

/* ---- Queries ------------------------------------------------------------------------- */

/* An attribute condition: the attribute `key` of the span (or of its resource) whose
 * value, written as text (strings as they are, integers in decimal, doubles shortest
 * round trip, booleans true/false), equals `value`; value NULL: the key is present. */
typedef struct sonde_attr_match {
	const char *key;
	const char *value;
} sonde_attr_match;

typedef enum sonde_sort {
	SONDE_SORT_DEFAULT = 0,   /* time, oldest first (traces: newest first) */
	SONDE_SORT_TIME_ASC,      /* start time, oldest first */
	SONDE_SORT_TIME_DESC,     /* start time, newest first */
	SONDE_SORT_DURATION_DESC, /* longest first */
	SONDE_SORT_DURATION_ASC,  /* shortest first */
} sonde_sort;

/* One filter for every query; each query says which fields it honours, and a field left
 * zero (or NULL) matches everything. Initialise with `sonde_query q = {0};`. */
typedef struct sonde_query {
	uint64_t since_ns, until_ns;   /* spans and traces: by start; logs, points: by time */
	const char *service;           /* service.name of the resource */
	const char *operation;         /* span name; for points, the metric name */
	uint64_t min_duration_ns;      /* spans, traces: duration >= this */
	uint64_t max_duration_ns;      /* spans, traces: duration <= this; 0: no bound */
	bool errors_only;              /* spans: status ERROR; traces: any such span; logs:
	                                severity ERROR or worse (>= 17) */
	uint32_t kinds;                /* spans: bit (1u << sonde_span_kind) per kind; 0: any */
	bool roots_only;               /* spans: only spans without a parent */
	const uint8_t *trace_id;       /* 16 bytes; spans and logs of this trace only */
	int32_t min_severity;          /* logs: severity_number >= this */
	const char *text;              /* logs: the body (as text) contains this substring */
	const sonde_attr_match *attrs; /* all must hold; spans: on any span of a trace for */
	size_t attrs_count;            /* traces; logs, points: on the record's attributes */
	sonde_sort sort;
	size_t limit;         /* most records (traces, spans, logs, points) returned; 0: no limit */
	uint64_t template_id; /* logs: only records given this template id at ingest
	                         (SQLite backend; others fail with SONDE_EUNSUPPORTED) */
	bool read_ahead;      /* scan_logs, aggregate_spans: the backend may read the next
	                         records on a thread of its own while the callback runs, which
	                         must then not use this store handle (SQLite; other backends
	                         ignore it). Results are the same, in the same order. */
	bool any_order;       /* aggregate_spans with read_ahead: the spans may reach on_value
	                         in any order (still one at a time, on the caller's thread), and
	                         the groups then come in an order that may change from run to
	                         run; counts, sums and windows are the same. The SQLite backend
	                         then reads the table in two halves on two threads of its own
	                         (its own connection for the second: a write committed while the
	                         scan starts may be seen by one half only) when q has no time
	                         window, service, operation, trace id or attribute condition.
	                         Other backends ignore it. */
} sonde_query;

/* ---- Traces ---------------------------------------------------------------------------- */

/* Appends to out every stored span of trace_id (16 bytes), in start order, with its
 * resource and scope (one sonde_resource / sonde_scope per distinct stored one), and,
 * when with_logs, the log records carrying that trace id, in time order. Returns the
 * number of spans appended (0: no such trace), or a negative code. */
ssize_t sonde_store_get_trace(sonde_store *s, const uint8_t trace_id[16], bool with_logs, sonde_batch *out);

/* What sonde_store_find_traces() reports of one trace. Strings point into the owning
 * sonde_trace_list. */
typedef struct sonde_trace_summary {
	uint8_t trace_id[16];
	uint64_t start_ns;    /* earliest span start */
	uint64_t duration_ns; /* latest span end - earliest span start */
	uint32_t span_count;
	uint32_t error_count; /* spans with status ERROR */
	bool has_root;        /* a span without parent is stored; else root_* name the
	                            earliest span */
	const char *root_service;
	const char *root_operation;
	const char **services; /* distinct service names of its spans, sorted */
	size_t services_count;
} sonde_trace_summary;

typedef struct sonde_trace_list {
	sonde_trace_summary *items; /* owned */
	size_t count;
	sonde_arena arena; /* owns the strings */
} sonde_trace_list;

/* Finds traces: honours since/until (trace start), service and operation (some span has
 * them), min/max_duration (trace duration), errors_only (some span failed), attrs (some
 * span, or its resource, has them all), sort (default newest first) and limit (0: 20).
 * Fills *out (initialised here; release with sonde_trace_list_release() even on
 * failure). Returns the number of traces or a negative code. */
ssize_t sonde_store_find_traces(sonde_store *s, const sonde_query *q, sonde_trace_list *out);
void sonde_trace_list_release(sonde_trace_list *l);

/* ---- Spans, logs and points ---------------------------------------------------------- */

/* Which parts of a record a select or scan decodes. The base of a span is its ids,
 * name, kind, times, status code, resource and scope; of a log record, everything but
 * its attributes. Skipping the rest makes scans several times faster. */
enum {
	SONDE_FIELDS_ALL = 0,
	SONDE_FIELDS_BASE = 1, /* leave attributes, events, links, status message empty */
};

/* Appends to out the spans matching q: since/until (start), service, operation,
 * min/max_duration, errors_only, kinds, roots_only, trace_id, attrs, sort (default: start
 * time ascending), limit. Returns the number appended or a negative code. */
ssize_t sonde_store_select_spans(sonde_store *s, const sonde_query *q, unsigned fields, sonde_batch *out);

/* Called once per record of a scan. The record and everything it points to are valid
 * during the call only. Return 0 to go on; any other value stops the scan, which then
 * returns that value. */
typedef int (*sonde_span_fn)(void *ctx, const sonde_span_data *span);
typedef int (*sonde_log_fn)(void *ctx, const sonde_log_data *log);
/* metric holds exactly one point (metric->points[0]). */
typedef int (*sonde_point_fn)(void *ctx, const sonde_metric_data *metric);

/* Streams the spans matching q (as for select_spans) through fn, holding only a few
 * hundred at a time. Returns 0, fn's non-zero value, or a negative code. */
int sonde_store_scan_spans(sonde_store *s, const sonde_query *q, unsigned fields, sonde_span_fn fn,
                           void *ctx);

/* Appends to out the log records matching q: since/until (time; a record without time
 * is placed at its observed time), service, errors_only, min_severity, trace_id, text,
 * attrs, sort (time only), limit. Returns the number appended or a negative code. */
ssize_t sonde_store_select_logs(sonde_store *s, const sonde_query *q, sonde_batch *out);
int sonde_store_scan_logs(sonde_store *s, const sonde_query *q, sonde_log_fn fn, void *ctx);

/* Appends to out the metric points matching q: since/until (point time), service,
 * operation (metric name), attrs (point attributes), limit; ordered by series, then time.
 * Consecutive points of one series go into one sonde_metric_data. Returns the number of
 * points appended or a negative code. */
ssize_t sonde_store_select_points(sonde_store *s, const sonde_query *q, sonde_batch *out);
int sonde_store_scan_points(sonde_store *s, const sonde_query *q, sonde_point_fn fn, void *ctx);

/* ---- Aggregation --------------------------------------------------------------------- */

typedef enum sonde_agg_key_kind {
	SONDE_KEY_SERVICE = 1,    /* service.name of the span's resource */
	SONDE_KEY_OPERATION,      /* span name */
	SONDE_KEY_KIND,           /* "server", "client", ... */
	SONDE_KEY_STATUS,         /* "unset", "ok", "error" */
	SONDE_KEY_ATTR,           /* a span attribute (else a resource attribute) as text */
	SONDE_KEY_PARENT_SERVICE, /* service of the parent span ("" for roots and
	                                 parents not stored) */
	SONDE_KEY_ATTR_ANY,       /* attr is a comma-separated list of attribute keys: the
	                                 value (as for SONDE_KEY_ATTR) of the first that is
	                                 non-empty, "" when none is */
} sonde_agg_key_kind;

typedef struct sonde_agg_key {
	sonde_agg_key_kind kind;
	const char *attr; /* the attribute key for SONDE_KEY_ATTR, keys for _ATTR_ANY */
	/* ATTR and ATTR_ANY: bit (1u << sonde_span_kind) per kind whose spans have the value;
	 * spans of other kinds get "" without their attributes being read (so one pass can
	 * key client spans by their target and the rest by operation alone). 0: all kinds. */
	uint32_t kinds;
} sonde_agg_key;

#define SONDE_AGG_MAX_KEYS 6

/* One group of an aggregation. Durations are end - start in nanoseconds. */
typedef struct sonde_agg_group {
	const char *values[SONDE_AGG_MAX_KEYS]; /* the group's key values as text ("" when the
	                                           span lacks the attribute) */
	uint64_t count;
	uint64_t errors; /* spans with status ERROR */
	uint64_t sum_ns, min_ns, max_ns;
	uint64_t first_start_ns, last_start_ns; /* the window the group's spans cover */
} sonde_agg_group;

typedef struct sonde_agg_result {
	sonde_agg_group *groups; /* owned; in order of first appearance */
	size_t count;
	sonde_arena arena; /* owns the value strings */
} sonde_agg_result;

/* Called for every span aggregated, with the index of its group in the result (stable:
 * groups are only added, never moved in index) and its duration. The group's values are
 * readable during the call as out->groups[group]. Return 0 to go on; non-zero stops the
 * aggregation, which then fails with -ECANCELED. */
typedef int (*sonde_agg_value_fn)(void *ctx, size_t group, uint64_t duration_ns, bool error);

/* Aggregates the spans matching q (as for select_spans, less sort and limit) by the keys
 * (0 to SONDE_AGG_MAX_KEYS; none: one group of everything): count, errors, sum, min,
 * max, time covered. When on_value is non-NULL it also receives every span's duration,
 * for quantiles. Fills *out (initialised here; release with sonde_agg_result_release()
 * even on failure). Returns the number of groups or a negative code. */
ssize_t sonde_store_aggregate_spans(sonde_store *s, const sonde_query *q, const sonde_agg_key *keys,
                                    size_t keys_count, sonde_agg_value_fn on_value, void *ctx,
                                    sonde_agg_result *out);
void sonde_agg_result_release(sonde_agg_result *r);

/* ---- Housekeeping -------------------------------------------------------------------- */

typedef struct sonde_store_info {
	char backend[16]; /* "sqlite" */
	int schema_version;
	uint64_t size_bytes; /* the database file(s): main file plus write-ahead log */
	uint64_t wal_bytes;  /* of which the write-ahead log */
	uint64_t spans, traces, logs, points, series, services;
	uint64_t spans_min_ns, spans_max_ns; /* span starts; 0, 0 when none */
	uint64_t logs_min_ns, logs_max_ns;
	uint64_t points_min_ns, points_max_ns;
} sonde_store_info;

/* Fills *out. Counting is exact, so on a big store this reads the indexes. */
int sonde_store_info_get(sonde_store *s, sonde_store_info *out);

typedef struct sonde_prune_stats {
	uint64_t spans, traces, logs, points; /* records deleted */
} sonde_prune_stats;

/* Deletes, in one transaction, every trace that starts before before_ns (all its spans,
 * so no trace is left partial), every log record and every metric point timed before it.
 * The file does not shrink unless vacuum is set (which rewrites it: slow on big stores).
 * Fills *stats when non-NULL. */
int sonde_store_prune(sonde_store *s, uint64_t before_ns, bool vacuum, sonde_prune_stats *stats);

/* ---- Log templates ------------------------------------------------------------------- */

/* Called once per stored template; t and its text are valid during the call only.
 * Return 0 to go on; any other value stops the scan, which then returns it. */
typedef int (*sonde_template_fn)(void *ctx, const sonde_log_template *t);

/* Streams every stored log template (see sonde_append_opts), most records first (ties
 * by id). Returns 0, fn's non-zero value, SONDE_EUNSUPPORTED for a backend without
 * templates, or a negative code. Counts are over records still stored when the template
 * was last written: prune does not lower them. */
int sonde_store_scan_templates(sonde_store *s, sonde_template_fn fn, void *ctx);

#endif
