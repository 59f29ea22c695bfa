/*
 * otlp_json.h - OTLP/JSON: the export requests of OTLP/HTTP in the proto3 JSON mapping, and
 * the JSON-lines files the OpenTelemetry Collector's file exporter writes.
 *
 * Reading follows the proto3 JSON mapping as the OTLP specification amends it: keys in
 * lowerCamelCase or the original snake_case; trace and span ids as hex (any case); 64-bit
 * integers as strings or numbers; enums as integers or names; bytesValue as base64 of
 * either alphabet, padded or not; null meaning absent; unknown fields skipped. Writing
 * emits the canonical form: lowerCamelCase, lower-case hex, 64-bit integers as strings,
 * enums as integers, fields holding their default omitted.
 *
 * Readers are safe on untrusted input: malformed input is SONDE_EPARSE with err filled in,
 * never a crash. Thread-safety: the functions keep no global state; a batch and a buffer
 * belong to one thread at a time.
 */
#ifndef SONDE_OTLP_JSON_H
#define SONDE_OTLP_JSON_H

#include <stddef.h>

#include "buf.h"
#include "telemetry.h"
#include "wire_error.h"

/* AnyValues nest at most this deep (an attribute's value is level 1); the reader rejects
 * deeper input and the writer refuses to produce it. */
#define SONDE_OTLP_JSON_MAX_VALUE_DEPTH 64

/* Reads one OTLP/JSON document: ExportTraceServiceRequest, ExportMetricsServiceRequest or
 * ExportLogsServiceRequest (a document may carry any of resourceSpans/resourceMetrics/
 * resourceLogs; an empty object is valid). Appends to b. Each ResourceX and ScopeX of the
 * input becomes its own sonde_resource and sonde_scope. Returns 0, SONDE_EPARSE (err says
 * where: byte offset, line, field path such as "resourceSpans[0].scopeSpans[0].spans[2].
 * traceId", and what was expected) or -ENOMEM. On failure b is left as it was. err may be
 * NULL. */
int sonde_otlp_json_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err);

/* Called by sonde_otlp_json_read_stream() when spans[0..final) of b are final: read whole,
 * and neither they nor the resources and scopes they point to will change again (later
 * spans may still be added, which moves b->spans: copy what you keep). Returns a negative
 * code, which stops the read with that code, or n >= 0 to go on: the callback is done
 * with spans[0..n), which are taken out of b. What a span taken owns alone (its
 * attribute, event and link arrays and strings not interned) may then be reused for the
 * spans that follow; its name, strings interned in b, and its resource and scope live as
 * long as b. A document read so keeps in memory only the spans not yet taken. */
typedef int (*sonde_otlp_json_spans_fn)(void *ctx, sonde_batch *b, size_t final);

/* As sonde_otlp_json_read(), calling on_spans (when not NULL) as spans become final, so
 * that a caller can store them while the rest is read: after every span, on the word of
 * the exporters, which write a ResourceSpans' resource and schemaUrl before its
 * scopeSpans, and a ScopeSpans' scope and schemaUrl before its spans. A document that
 * sets a resource or scope after spans of it were declared final returns 1, with b left
 * as it was: read it with sonde_otlp_json_read(). On failure b is left as it was, as for
 * sonde_otlp_json_read(). After 1 or a failure, what was declared final was not: the
 * caller undoes what it did with it (spans it took are not put back in b). */
int sonde_otlp_json_read_stream(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err,
                                sonde_otlp_json_spans_fn on_spans, void *ctx);

/* Reads the JSON-lines form the OpenTelemetry Collector's file exporter writes: one request
 * per line; blank lines are skipped; err->line is set and err->offset counts from buf. All
 * lines or none are added. */
int sonde_otlp_jsonl_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err);

/* Appends b's records of one signal to out as one request document; pretty = 0 for compact
 * output, N > 0 to indent by N spaces. Records are grouped into ResourceX/ScopeX by
 * consecutive equal resource and scope pointers. A signal without records is "{}".
 * Returns 0, -ENOMEM, or -EINVAL when a value nests deeper than
 * SONDE_OTLP_JSON_MAX_VALUE_DEPTH; on failure out is truncated back to its length at entry. */
int sonde_otlp_json_write(const sonde_batch *b, sonde_signal sig, sonde_buf *out, int pretty);

/* As sonde_otlp_json_write(), for records [first, first+count) of one signal (for exporters
 * that send in chunks). -EINVAL when the range is not within the batch. */
int sonde_otlp_json_write_range(const sonde_batch *b, sonde_signal sig, size_t first, size_t count,
                                sonde_buf *out, int pretty);

/* Appends JSON lines: each non-empty signal of b as one compact line ending in '\n', in the
 * order traces, metrics, logs. An empty batch appends nothing. */
int sonde_otlp_jsonl_write(const sonde_batch *b, sonde_buf *out);

#endif
