/*
 * telemetry.h - the OpenTelemetry data model in C: the one span, log record and metric
 * that every reader produces, every writer consumes, and the store keeps.
 *
 * A sonde_batch owns everything: an arena for records and the arrays they point to, and a
 * string interner (equal keys and names share one copy). Records are appended with
 * sonde_batch_add_*(), which return a zeroed record to fill in; pointers inside records
 * (strings, attribute arrays, events, points) must point into the batch's arena or to
 * static storage, so that sonde_batch_free() releases all of it at once.
 *
 * Grouping mirrors OTLP: every record names the resource and instrumentation scope it
 * belongs to. Readers create one sonde_resource per ResourceSpans/-Logs/-Metrics and one
 * sonde_scope per ScopeSpans/-Logs/-Metrics they meet; writers regroup consecutive records
 * that share the same resource and scope objects, which reproduces the input's grouping.
 *
 * Ownership: a batch and all it holds belong to one thread at a time. Pointers into a
 * batch are borrowed until sonde_batch_free(). The record arrays (spans, logs, metrics)
 * may move when records are added: hold indexes, not pointers, while still appending.
 */
#ifndef SONDE_TELEMETRY_H
#define SONDE_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "intern.h"
#include "sonde/types.h"

/* A string: ptr is NUL-terminated for convenience but may hold NUL bytes; len counts
 * bytes. The empty string is {"", 0}; ptr is never NULL in a record written by sonde. */
typedef struct sonde_str {
	const char *ptr;
	size_t len;
} sonde_str;

#define SONDE_STR_LIT(s) ((sonde_str){(s), sizeof(s) - 1})

/* The three OTLP signals; OTLP sends each in its own request. */
typedef enum sonde_signal {
	SONDE_SIGNAL_TRACES = 0,
	SONDE_SIGNAL_METRICS = 1,
	SONDE_SIGNAL_LOGS = 2,
} sonde_signal;

/* ---- Attributes and any-values (common.proto: AnyValue, KeyValue) ---------------- */

typedef enum sonde_value_kind {
	SONDE_VAL_EMPTY = 0, /* AnyValue with no value set */
	SONDE_VAL_STRING,
	SONDE_VAL_BOOL,
	SONDE_VAL_INT,
	SONDE_VAL_DOUBLE,
	SONDE_VAL_ARRAY,
	SONDE_VAL_KVLIST,
	SONDE_VAL_BYTES,
} sonde_value_kind;

typedef struct sonde_value sonde_value;
typedef struct sonde_kv sonde_kv;

/* A list of key/value pairs: attributes, or the kvlist_value of an AnyValue. Order is
 * kept as read; duplicate keys are kept too (OTLP forbids them, but readers do not lose
 * data). */
typedef struct sonde_attrs {
	sonde_kv *items;
	uint32_t count;
} sonde_attrs;

struct sonde_value {
	sonde_value_kind kind;
	union {
		sonde_str str; /* STRING; BYTES (raw bytes, not base64) */
		bool b;        /* BOOL */
		int64_t i;     /* INT */
		double d;      /* DOUBLE */
		struct {
			sonde_value *items;
			uint32_t count;
		} array;            /* ARRAY */
		sonde_attrs kvlist; /* KVLIST */
	} u;
};

struct sonde_kv {
	sonde_str key;
	sonde_value value;
};

/* ---- Resource and instrumentation scope ----------------------------------------- */

typedef struct sonde_resource {
	sonde_attrs attrs;
	uint32_t dropped_attrs_count;
	sonde_str schema_url; /* ResourceSpans/-Logs/-Metrics.schema_url */
} sonde_resource;

typedef struct sonde_scope {
	sonde_str name;
	sonde_str version;
	sonde_attrs attrs;
	uint32_t dropped_attrs_count;
	sonde_str schema_url; /* ScopeSpans/-Logs/-Metrics.schema_url */
} sonde_scope;

/* ---- Traces (trace.proto) ------------------------------------------------------- */

typedef struct sonde_span_event {
	uint64_t time_ns;
	sonde_str name;
	sonde_attrs attrs;
	uint32_t dropped_attrs_count;
} sonde_span_event;

typedef struct sonde_span_link {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	sonde_str trace_state;
	sonde_attrs attrs;
	uint32_t dropped_attrs_count;
	uint32_t flags;
} sonde_span_link;

typedef struct sonde_span_data {
	const sonde_resource *resource; /* borrowed from the batch; never NULL once added */
	const sonde_scope *scope;       /* borrowed from the batch; never NULL once added */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8]; /* all zero: a root span */
	sonde_str trace_state;
	uint32_t flags; /* W3C trace flags in bits 0-7, OTLP bits 8-9 */
	sonde_str name;
	sonde_span_kind kind;
	uint64_t start_ns; /* Unix epoch nanoseconds */
	uint64_t end_ns;
	sonde_attrs attrs;
	uint32_t dropped_attrs_count;
	sonde_span_event *events;
	uint32_t events_count;
	uint32_t dropped_events_count;
	sonde_span_link *links;
	uint32_t links_count;
	uint32_t dropped_links_count;
	sonde_status_code status_code;
	sonde_str status_message;
} sonde_span_data;

/* ---- Logs (logs.proto) ---------------------------------------------------------- */

typedef struct sonde_log_data {
	const sonde_resource *resource;
	const sonde_scope *scope;
	uint64_t time_ns;          /* 0: unknown */
	uint64_t observed_time_ns; /* 0: unknown */
	int32_t severity_number;   /* SeverityNumber: 0 unspecified, 1-4 TRACE ... 21-24 FATAL */
	sonde_str severity_text;
	sonde_value body;
	sonde_attrs attrs;
	uint32_t dropped_attrs_count;
	uint32_t flags;
	uint8_t trace_id[16]; /* all zero: none */
	uint8_t span_id[8];   /* all zero: none */
	sonde_str event_name; /* LogRecord.event_name (field 12) */
} sonde_log_data;

/* ---- Metrics (metrics.proto) ---------------------------------------------------- */

typedef enum sonde_metric_type {
	SONDE_METRIC_NONE = 0, /* Metric with no data set */
	SONDE_METRIC_GAUGE,
	SONDE_METRIC_SUM,
	SONDE_METRIC_HISTOGRAM,
	SONDE_METRIC_EXP_HISTOGRAM,
	SONDE_METRIC_SUMMARY,
} sonde_metric_type;

typedef enum sonde_temporality {
	SONDE_TEMPORALITY_UNSPECIFIED = 0,
	SONDE_TEMPORALITY_DELTA = 1,
	SONDE_TEMPORALITY_CUMULATIVE = 2,
} sonde_temporality;

/* Which member of a number carries the value (NumberDataPoint's oneof, Exemplar's oneof). */
typedef enum sonde_num_kind {
	SONDE_NUM_NONE = 0,
	SONDE_NUM_DOUBLE,
	SONDE_NUM_INT,
} sonde_num_kind;

typedef struct sonde_exemplar {
	sonde_attrs filtered_attrs;
	uint64_t time_ns;
	sonde_num_kind value_kind;
	union {
		double d;
		int64_t i;
	} value;
	uint8_t span_id[8];
	uint8_t trace_id[16];
} sonde_exemplar;

typedef struct sonde_quantile {
	double quantile; /* 0..1 */
	double value;
} sonde_quantile;

/* Buckets of one sign of an exponential histogram: counts[i] is the count of bucket
 * index offset + i. */
typedef struct sonde_exp_buckets {
	int32_t offset;
	uint64_t *counts;
	uint32_t count;
} sonde_exp_buckets;

/* One data point of any metric type; the members used depend on the metric's type. */
typedef struct sonde_point {
	sonde_attrs attrs;
	uint64_t start_time_ns;
	uint64_t time_ns;
	uint32_t flags;            /* DataPointFlags: bit 0 = no recorded value */
	sonde_exemplar *exemplars; /* not used by SUMMARY */
	uint32_t exemplars_count;
	union {
		/* GAUGE, SUM */
		struct {
			sonde_num_kind kind;
			union {
				double d;
				int64_t i;
			} v;
		} number;
		/* HISTOGRAM: bucket_counts has bounds_count + 1 entries, or 0 entries. */
		struct {
			uint64_t count;
			bool has_sum, has_min, has_max;
			double sum, min, max;
			uint64_t *bucket_counts;
			uint32_t bucket_counts_count;
			double *bounds; /* explicit_bounds, ascending */
			uint32_t bounds_count;
		} hist;
		/* EXP_HISTOGRAM */
		struct {
			uint64_t count;
			bool has_sum, has_min, has_max;
			double sum, min, max;
			int32_t scale;
			uint64_t zero_count;
			double zero_threshold;
			sonde_exp_buckets positive, negative;
		} exp;
		/* SUMMARY */
		struct {
			uint64_t count;
			double sum;
			sonde_quantile *quantiles;
			uint32_t quantiles_count;
		} summary;
	} u;
} sonde_point;

typedef struct sonde_metric_data {
	const sonde_resource *resource;
	const sonde_scope *scope;
	sonde_str name;
	sonde_str description;
	sonde_str unit;
	sonde_attrs metadata; /* Metric.metadata (field 12) */
	sonde_metric_type type;
	sonde_temporality temporality; /* SUM, HISTOGRAM, EXP_HISTOGRAM */
	bool is_monotonic;             /* SUM */
	sonde_point *points;
	uint32_t points_count;
} sonde_metric_data;

/* ---- The batch -------------------------------------------------------------------- */

typedef struct sonde_batch {
	sonde_arena arena;      /* owns every record, array and string of the batch */
	sonde_intern strings;   /* interned strings, allocated in arena */
	sonde_span_data *spans; /* heap arrays, owned; may move when records are added */
	size_t spans_count, spans_cap;
	sonde_log_data *logs;
	size_t logs_count, logs_cap;
	sonde_metric_data *metrics;
	size_t metrics_count, metrics_cap;
} sonde_batch;

/* Returns a new empty batch, or NULL when out of memory. Caller frees with
 * sonde_batch_free(). */
sonde_batch *sonde_batch_new(void);
/* Frees the batch and everything it holds. NULL is a no-op. */
void sonde_batch_free(sonde_batch *b);
/* Empties the batch (all records and strings), keeping it usable. */
void sonde_batch_clear(sonde_batch *b);

/* Returns a zeroed resource / scope owned by the batch (empty strings set), or NULL. */
sonde_resource *sonde_batch_new_resource(sonde_batch *b);
sonde_scope *sonde_batch_new_scope(sonde_batch *b);

/* Appends a zeroed record bound to resource and scope (both non-NULL, from this batch)
 * and returns it, or NULL when out of memory. The pointer is valid until the next add of
 * the same kind of record. Strings are set to the empty string. */
sonde_span_data *sonde_batch_add_span(sonde_batch *b, const sonde_resource *res, const sonde_scope *scope);
sonde_log_data *sonde_batch_add_log(sonde_batch *b, const sonde_resource *res, const sonde_scope *scope);
sonde_metric_data *sonde_batch_add_metric(sonde_batch *b, const sonde_resource *res,
                                          const sonde_scope *scope);

/* Allocation helpers for readers: memory owned by the batch's arena. */
void *sonde_batch_alloc(sonde_batch *b, size_t n); /* zero-filled; NULL when out of memory */
/* Interned copy (for keys, names and other repeated strings); NULL ptr on failure. */
sonde_str sonde_batch_intern(sonde_batch *b, const char *s, size_t n);
/* Plain copy into the arena (for long or unique values); NULL ptr on failure. */
sonde_str sonde_batch_strdup(sonde_batch *b, const char *s, size_t n);

/* ---- Comparison, for tests and round-trip checks -------------------------------- */

/* Compares two values deeply. NaN equals NaN here (a round trip must keep it). */
bool sonde_value_equal(const sonde_value *a, const sonde_value *b);
bool sonde_attrs_equal(const sonde_attrs *a, const sonde_attrs *b);
bool sonde_resource_equal(const sonde_resource *a, const sonde_resource *b);
bool sonde_scope_equal(const sonde_scope *a, const sonde_scope *b);
bool sonde_span_data_equal(const sonde_span_data *a, const sonde_span_data *b);
bool sonde_log_data_equal(const sonde_log_data *a, const sonde_log_data *b);
bool sonde_metric_data_equal(const sonde_metric_data *a, const sonde_metric_data *b);
/* Compares two batches record by record, including each record's resource and scope and
 * where resource/scope groups begin. On a difference, returns false and, when why is
 * non-NULL, writes a description ("span 3: name differs") into why[0..why_len). */
bool sonde_batch_equal(const sonde_batch *a, const sonde_batch *b, char *why, size_t why_len);

/* Looks up an attribute by key; returns the value or NULL (borrowed from attrs). */
const sonde_value *sonde_attrs_get(const sonde_attrs *attrs, const char *key);

#endif
