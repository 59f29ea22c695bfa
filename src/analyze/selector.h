/*
 * selector.h - a selection of stored telemetry: the "SEL" of `sonde compare` and
 * `sonde canary` (baseline and current). A selection is a store (the user's, or a
 * temporary in-memory store holding a telemetry file) narrowed by a time window, a
 * service.name and a service.version; every part is optional and the parts combine with
 * AND. The CLI parses SEL text into this struct (cli_select.c); the analyses only read it.
 *
 * Version matching: the record's service.version (on its resource, else on a span's own
 * attributes) equals version, or starts with version followed by '.', so "2" selects
 * "2", "2.0" and "2.1.3" but not "20"; "1.4" selects "1.4.2".
 *
 * Lifetimes: the struct borrows its store and strings; whoever filled it keeps them
 * alive while it is used. A store opened by sonde_selection_load_file() is owned by the
 * caller (close it with sonde_store_close()). Not thread-safe (a store handle is not).
 */
#ifndef SONDE_SELECTOR_H
#define SONDE_SELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "telemetry.h"

typedef struct sonde_selection {
	sonde_store *store;          /* borrowed; where the records are */
	uint64_t since_ns, until_ns; /* [since, until) on span start / record time; 0: open */
	const char *service;         /* service.name, or NULL: any */
	const char *version;         /* service.version as above, or NULL: any */
	const char *label;           /* the selection as the user wrote it, for reports */
} sonde_selection;

/* True when version v[0..n) is selected by want (NULL: any) under the rule above. */
bool sonde_selection_version_ok(const char *want, const char *v, size_t n);
/* True when a record with this resource (and, for spans, these own attributes; may be
 * NULL) passes the version condition of s. The time and service conditions are the
 * store's to apply (see sonde_selection_query()). */
bool sonde_selection_match(const sonde_selection *s, const sonde_resource *res, const sonde_attrs *attrs);
/* Fills q (zeroed here) with the conditions the store applies itself: window and service. */
void sonde_selection_query(const sonde_selection *s, sonde_query *q);

/* Streams the selected spans (fields as for sonde_store_scan_spans; with a version
 * condition, spans whose resource lacks service.version are matched on their own
 * attributes only when fields is SONDE_FIELDS_ALL). Returns 0, fn's non-zero value, or a
 * negative code (sonde_store_errmsg() says why). */
int sonde_selection_scan_spans(const sonde_selection *s, unsigned fields, sonde_span_fn fn, void *ctx);
/* Streams the selected metric points (one per call, as sonde_store_scan_points). */
int sonde_selection_scan_points(const sonde_selection *s, sonde_point_fn fn, void *ctx);

/* Appends every selected span, log record and metric point to out (time window, service,
 * version). Records of the store that pass the window and service but not the version are
 * read and dropped, so memory grows with the window, not with the selection. Returns 0
 * or a negative code. */
int sonde_selection_collect(const sonde_selection *s, sonde_batch *out);

/* Reads the telemetry file at path (any format `sonde ingest` reads, detected from its
 * content) into a new in-memory store, *out. On failure returns a negative code and
 * writes a sentence naming the file and the problem (with line and offset for a bad
 * record) into errmsg[0..errmsg_len). Bad records are not skipped: the whole file must
 * read. */
int sonde_selection_load_file(const char *path, sonde_store **out, char *errmsg, size_t errmsg_len);

#endif
