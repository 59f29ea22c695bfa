/*
 * jaeger.h - Jaeger's JSON trace format, as the Jaeger UI's "Download JSON" and the query
 * service's /api/traces return it, read into the telemetry model.
 *
 * The document is {"data": [trace...], ...} (a bare trace object or an array of traces is
 * accepted too); a trace is {traceID, spans: [...], processes: {id: {serviceName, tags}}}.
 * The mapping follows what OpenTelemetry's Jaeger translation does:
 *
 *   process                 -> one resource per processID per trace: service.name, then
 *                              the process tags (a span's inline "process" works too)
 *   operationName           -> name;  startTime, duration (us) -> start_ns, end_ns
 *   references              -> the first CHILD_OF is the parent (else the legacy
 *                              parentSpanID); every other reference becomes a link with
 *                              the attribute opentracing.ref_type = child_of/follows_from
 *   tags [{key, type, value}] -> typed attributes (string, bool, int64 as a number or a
 *                              decimal string, float64, binary as base64 bytes; a missing
 *                              type is taken from the JSON value)
 *   tag span.kind           -> kind (client, server, producer, consumer, internal; no tag
 *                              is INTERNAL)
 *   tags otel.status_code, otel.status_description, error=true -> status
 *   tags otel.scope.name/.version (or otel.library.*) -> instrumentation scope
 *   tag w3c.tracestate      -> trace_state;  flags bit 0 (sampled) -> flags bit 0
 *   logs [{timestamp, fields}] -> events named by their "event" field (else "log"),
 *                              the other fields as attributes
 *
 * The tags that become fields are not kept as attributes. warnings are skipped.
 * Thread-safety: no global state; a batch belongs to one thread at a time.
 */
#ifndef SONDE_JAEGER_H
#define SONDE_JAEGER_H

#include <stddef.h>

#include "telemetry.h"
#include "wire_error.h"

/* Reads a Jaeger JSON document and appends its spans to b, trace by trace in document
 * order. traceID is 16 or 32 hex digits (a 64-bit id is left-padded), spanID 16.
 * Returns 0, SONDE_EPARSE with err filled in (byte offset, line, field such as
 * "data[0].spans[3].spanID", what was expected) or -ENOMEM; on failure b is left as it
 * was (arena memory aside). err may be NULL. */
int sonde_jaeger_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err);

#endif
