/*
 * errors.h - error analysis, the engine of `sonde errors`: error-or-worse log records
 * (severity_number >= 17) and failed spans (status ERROR, with their exception events)
 * grouped by message template, each group with its count, time span, services,
 * endpoints, users and hosts, a category with a hypothesis and the usual checks, its
 * rate over time with spikes and periodicity, the values that concentrate it, and the
 * stack frames its traces share; then cascades: groups of several services whose onsets
 * chain within a window, with the service where each began.
 *
 * Use: sonde_errors_new(), then feed records with sonde_errors_add_log() and
 * sonde_errors_add_span() (or let sonde_errors_run() scan a store), then
 * sonde_errors_finish(), read sonde_errors_result(), and sonde_errors_free(). Records
 * are borrowed for the add call only; the engine copies what it keeps, and keeps per
 * group only counters, small tables of values and a few example traces, so memory does
 * not grow with the number of records.
 *
 * Templates: a message is grouped by the template a sonde_errors_templater gives it: by
 * default the log template miner (logmine.h, through errors_miner.c), reporting for each
 * group the template the miner ended with; the masker of errors_mask.c (numbers, hex,
 * UUIDs, addresses, quoted strings -> <*>) is the other templater on offer.
 *
 * Not thread-safe: an engine belongs to one thread at a time.
 */
#ifndef SONDE_ERRORS_H
#define SONDE_ERRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "stackparse.h"
#include "store.h"
#include "telemetry.h"

/* ---- Templates ----------------------------------------------------------------------- */

/* Gives a message its template. Two kinds of templater plug in:
 *  - Simple (describe NULL): template_of returns the template's id (stable: a hash of the
 *    template) and sets *template_text to the template, NUL-terminated and borrowed until
 *    the next call with the same ctx (the engine copies it).
 *  - Keyed (describe set), for a learning miner whose templates change as it reads:
 *    template_of returns a key (a handle on the template that took the message; nonzero)
 *    and sets *template_text to any non-NULL string. The engine groups records by key and
 *    calls describe(ctx, key, false, ...) when a key first appears (the template's id and
 *    text as they stand), then, in sonde_errors_finish(), describe(ctx, key, true, ...)
 *    for every key: the template each ended in (the first final call may refine the
 *    templates; keys whose templates merged get one id, and their groups become one).
 *    describe returns 0, -ENOENT when the key's template is gone (the group keeps what it
 *    had) or -ENOMEM; the text is borrowed until the next call. adopt (optional) returns
 *    the key of a template given by its text, for sonde_errors_merge().
 * Either returns 0 from template_of with *template_text NULL when out of memory. */
typedef struct sonde_errors_templater {
	uint64_t (*template_of)(void *ctx, const char *body, size_t len, const char **template_text);
	void *ctx;
	int (*describe)(void *ctx, uint64_t key, bool final, uint64_t *id, const char **template_text);
	uint64_t (*adopt)(void *ctx, const char *template_text, size_t len);
} sonde_errors_templater;

/* The masker (errors_mask.c): appends s[0..n) to out with quoted strings and
 * words holding a digit replaced by <*>. */
void sonde_errors_mask(const char *s, size_t n, sonde_buf *out);
/* A simple templater over sonde_errors_mask(), using scratch (borrowed; the caller
 * releases it after the engine is freed) for the masked text. */
sonde_errors_templater sonde_errors_mask_templater(sonde_buf *scratch);
/* The shape of s[0..n): a nonzero 64-bit hash of it with every word holding a digit
 * (words split as sonde_errors_mask() splits them) taken as one and the same word, save
 * for what else it holds (hex letters, other letters, dots, other punctuation) and whether
 * it has eight bytes or more. Two messages of one shape differ only in such words, which
 * the log template miner never tells apart as events; the miner templater caches its
 * answer per shape. */
uint64_t sonde_errors_shape(const char *s, size_t n);

/* The log template miner (logmine.h) as a keyed templater (errors_miner.c): the default
 * of the engine. The miner reads the first few messages of each shape
 * (sonde_errors_shape()) and then one in 64; the others take the template the last
 * one read got, which is where the miner would have put them (they differ from it only
 * in words holding a digit). At the end the miner's templates are refined, and each key
 * resolves to the template it ended in. Not thread-safe. */
typedef struct sonde_errors_miner sonde_errors_miner;
/* Returns 0 and *out (free with sonde_errors_miner_free() after the engine that uses
 * it), or -ENOMEM. */
int sonde_errors_miner_new(sonde_errors_miner **out);
/* NULL is a no-op. */
void sonde_errors_miner_free(sonde_errors_miner *m);
/* A templater over m (borrowed until the engine is freed). */
sonde_errors_templater sonde_errors_miner_templater(sonde_errors_miner *m);

/* ---- Categories and rules ------------------------------------------------------------ */

typedef enum sonde_error_category {
	SONDE_ERRCAT_UNKNOWN = 0,
	SONDE_ERRCAT_INPUT,      /* input validation */
	SONDE_ERRCAT_MODEL,      /* model inference */
	SONDE_ERRCAT_INFRA,      /* infrastructure */
	SONDE_ERRCAT_RESOURCE,   /* resource exhaustion */
	SONDE_ERRCAT_THIRDPARTY, /* third party */
	SONDE_ERRCAT_COUNT,
} sonde_error_category;

/* "input_validation", "model_inference", "infrastructure", "resource_exhaustion",
 * "third_party", "unknown". Static strings. */
const char *sonde_error_category_name(sonde_error_category c);
/* The category called name (as above, or with spaces or dashes for underscores), or -1. */
int sonde_error_category_parse(const char *name, size_t n);
/* What errors of the category usually mean, and what to check and do next: static
 * sentences. */
const char *sonde_error_category_hypothesis(sonde_error_category c);
const char *sonde_error_category_checks(sonde_error_category c);

/* What a rule looks at. */
typedef enum sonde_error_rule_field {
	SONDE_ERRFIELD_TEXT = 0, /* the message (and the error type) */
	SONDE_ERRFIELD_TYPE,     /* the error type: exception.type or error.type */
	SONDE_ERRFIELD_STATUS,   /* the HTTP status code: "503", or a class "5xx" */
	SONDE_ERRFIELD_ATTR,     /* an attribute: key=value (the value may hold a pattern) */
	SONDE_ERRFIELD_SERVICE,  /* the service name */
} sonde_error_rule_field;

/* A category rule. Patterns match case-insensitively, starting at a word boundary and
 * ending at one unless they end with '*' (a prefix). */
typedef struct sonde_error_rule {
	sonde_error_category category;
	sonde_error_rule_field field;
	const char *key;     /* ATTR: the attribute key; else NULL */
	const char *pattern; /* what to find */
	const char *origin;  /* "FILE:LINE" for a user rule, "built-in" otherwise */
} sonde_error_rule;

/* A set of user rules, tried in order before the built-in ones (first match wins). */
typedef struct sonde_error_rules {
	sonde_error_rule *items; /* owned */
	size_t count, cap;
	sonde_arena arena; /* owns the strings */
} sonde_error_rules;

void sonde_error_rules_init(sonde_error_rules *r);
void sonde_error_rules_release(sonde_error_rules *r);
/* Parses a rules file (format in docs/errors.md; one rule per line:
 * `CATEGORY FIELD PATTERN`, # comments) from text[0..len) named name, appending to r.
 * On a bad line returns SONDE_EFORMAT (r unchanged) and writes "NAME:LINE: message" into
 * err[0..err_len); -ENOMEM when out of memory. */
int sonde_error_rules_parse(sonde_error_rules *r, const char *name, const char *text, size_t len, char *err,
                            size_t err_len);
/* The built-in rules: a static array of *count rules. */
const sonde_error_rule *sonde_error_rules_builtin(size_t *count);

/* What the categoriser reads of a group. Strings may be NULL. */
typedef struct sonde_error_facts {
	const char *message;    /* an example message (not the template: numbers matter) */
	const char *error_type; /* exception.type / error.type */
	const char *status;     /* HTTP status code as text */
	const sonde_attrs *attrs;
	const char *service;
} sonde_error_facts;

/* The first rule (user rules first; user may be NULL) that matches f, or NULL
 * (unknown). */
const sonde_error_rule *sonde_error_rules_match(const sonde_error_rules *user, const sonde_error_facts *f);

/* ---- Results ------------------------------------------------------------------------- */

/* One value of a dimension (user, endpoint, host) and the records that carry it. */
typedef struct sonde_error_share {
	const char *value;
	uint64_t count;
} sonde_error_share;

enum { SONDE_ERRDIM_USER = 0, SONDE_ERRDIM_ENDPOINT, SONDE_ERRDIM_HOST, SONDE_ERRDIM_COUNT };

/* "user", "endpoint", "host". */
const char *sonde_error_dim_name(int dim);

typedef struct sonde_error_dim {
	sonde_error_share *top; /* the most frequent values, most first (at most 5) */
	size_t top_count;
	size_t distinct;     /* distinct values seen (at most 1024 are told apart) */
	uint64_t with_value; /* records that carry a value */
	bool concentrated;   /* the rule of docs/errors.md holds: top[0] carries a
	                          disproportionate share */
	double top_share;    /* top[0].count / with_value */
} sonde_error_dim;

/* A run of consecutive buckets each over three times the mean (and holding at least 5
 * errors). */
typedef struct sonde_error_spike {
	uint64_t onset_ns; /* start of the first bucket of the run */
	uint64_t end_ns;   /* end of its last bucket */
	uint64_t peak;     /* the largest bucket of the run */
} sonde_error_spike;

/* Errors per bucket over the window. */
typedef struct sonde_error_series {
	uint64_t start_ns;  /* start of bucket 0 (a multiple of bucket_ns) */
	uint64_t bucket_ns; /* 1 s, 1 min or 1 h, chosen from the window */
	uint64_t *counts;
	size_t count;
	double mean; /* errors per bucket */
	sonde_error_spike *spikes;
	size_t spikes_count;
	uint64_t period_ns; /* a period the counts repeat with, or 0 */
	double period_acf;  /* the autocorrelation at that lag */
} sonde_error_series;

typedef struct sonde_error_group {
	uint64_t template_id;
	const char *template_text;
	const char *example;    /* the first message seen, whole */
	const char *error_type; /* "" when no record said */
	uint64_t count, logs, spans;
	uint64_t first_ns, last_ns;
	uint64_t onset_ns;     /* first spike's onset, else first_ns */
	const char **services; /* in order of first appearance */
	size_t services_count;
	sonde_error_dim dims[SONDE_ERRDIM_COUNT];
	sonde_error_category category;
	const sonde_error_rule *rule; /* the rule that gave the category, or NULL */
	sonde_error_series series;
	size_t traces; /* stack traces parsed (at most the first 32 seen) */
	sonde_stack_lang trace_lang;
	sonde_stack_frame *common_frames; /* in at least half of those traces, innermost first */
	size_t common_count;
	size_t common_traces; /* traces that hold every common frame (for the report) */
} sonde_error_group;

/* Groups whose onsets chain within the cascade window across at least two services. */
typedef struct sonde_error_cluster {
	uint64_t start_ns, end_ns; /* first and last onset */
	const char *origin_service;
	bool origin_by_traces;  /* origin from traces linking services (else earliest onset) */
	uint64_t linked_traces; /* traces with errors in two or more of its services */
	const char **services;  /* in onset order */
	size_t services_count;
	size_t *groups; /* indexes into the result's groups, in onset order */
	size_t groups_count;
} sonde_error_cluster;

typedef struct sonde_errors_result {
	sonde_error_group *groups; /* most errors first */
	size_t groups_count;
	uint64_t total, logs, spans;
	uint64_t since_ns, until_ns;   /* the window (asked, else the data's) */
	sonde_error_series overall;    /* every error */
	sonde_error_cluster *clusters; /* earliest first */
	size_t clusters_count;
} sonde_errors_result;

/* ---- The engine ---------------------------------------------------------------------- */

typedef struct sonde_errors_opts {
	sonde_errors_templater templater; /* template_of NULL: a miner of the engine's own */
	const sonde_error_rules *rules;   /* user rules (borrowed until free), or NULL */
	uint64_t since_ns, until_ns;      /* the window asked; 0: the data's */
	uint64_t cascade_window_ns;       /* onsets this close chain; 0: 60 s */
	size_t max_traces;                /* stack traces parsed per group; 0: 32 */
} sonde_errors_opts;

typedef struct sonde_errors sonde_errors;

/* Returns a new engine (free with sonde_errors_free()), or NULL when out of memory. o may
 * be NULL; it is copied (the rules and templater it points to are borrowed). */
sonde_errors *sonde_errors_new(const sonde_errors_opts *o);
void sonde_errors_free(sonde_errors *e);

/* Counts one log record. Records under severity 17 are ignored (returns 0). Returns 0 or
 * -ENOMEM. */
int sonde_errors_add_log(sonde_errors *e, const sonde_log_data *lg);
/* Counts one span. Spans whose status is not ERROR are ignored. Returns 0 or -ENOMEM. */
int sonde_errors_add_span(sonde_errors *e, const sonde_span_data *sp);

/* Scans the store: the error log records and the failed spans matching q (its window,
 * service and attributes; errors_only is implied) through the adds. Returns 0 or a
 * negative code (sonde_store_errmsg() says more). */
int sonde_errors_run(sonde_errors *e, sonde_store *s, const sonde_query *q);

/* Adds what b counted to a, as if a had been given b's records too: the way to analyse
 * parts of a store (time ranges, say) in parallel threads, one engine each, created with
 * the same options. Neither may be finished; b is left as it was (free it after). With
 * keyed templaters (the miner), b's templates are adopted by a's templater by their text.
 * Returns 0, -EINVAL (one is finished), -ENOTSUP (a's templater is keyed and cannot
 * adopt) or -ENOMEM (a may then hold part of b). */
int sonde_errors_merge(sonde_errors *a, const sonde_errors *b);

/* Computes the groups, categories, series, concentrations, common frames and cascades.
 * Call once, after the last add. Returns 0 or -ENOMEM. */
int sonde_errors_finish(sonde_errors *e);
/* The result, valid after sonde_errors_finish() until sonde_errors_free(). */
const sonde_errors_result *sonde_errors_result_get(const sonde_errors *e);

/* ---- Building blocks, exposed for the tests ------------------------------------------ */

/* Spikes and periodicity of counts[0..n) (bucket i starts at start_ns + i * bucket_ns):
 * fills s (which takes counts: freed with the series). Returns 0 or -ENOMEM. */
int sonde_error_series_analyse(sonde_error_series *s, uint64_t start_ns, uint64_t bucket_ns, uint64_t *counts,
                               size_t n);
void sonde_error_series_release(sonde_error_series *s);

#endif
