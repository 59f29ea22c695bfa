/*
 * zipkin.h - Zipkin v2 JSON spans (the body of POST /api/v2/spans, and what the Zipkin UI
 * and /api/v2/trace/{id} return), read into and written from the telemetry model.
 *
 * Both directions follow the OpenTelemetry specification's Zipkin mapping
 * (trace/sdk_exporters/zipkin.md and common/mapping-to-non-otlp.md):
 *
 *   localEndpoint.serviceName  <-> resource attribute service.name (one resource per name)
 *   kind CLIENT/SERVER/...     <-> span kind; no kind (or "INTERNAL") is INTERNAL
 *   timestamp, duration (us)   <-> start_ns, end_ns
 *   tags otel.status_code, error, otel.status_description <-> status (an error tag other
 *                                 than "false" means ERROR, its value the message;
 *                                 "true" alone is an empty message)
 *   tags otel.scope.name/.version (or otel.library.*) <-> instrumentation scope
 *   tags otel.dropped_attributes_count/_events_count/_links_count <-> dropped counts
 *   tag w3c.tracestate         <-> trace_state
 *   other tags                 <-> attributes; written as strings (bools "true"/"false",
 *                                 numbers in decimal, arrays and maps as JSON text, bytes
 *                                 as base64), so they read back as strings
 *   annotations                <-> events: the value is the event name, or
 *                                 "name":{attributes as JSON} when the event has
 *                                 attributes (its dropped count goes in that object as
 *                                 otel.dropped_attributes_count); the collector's form
 *                                 name|{json}|dropped is read too
 *   remoteEndpoint             -> peer.service, network.peer.address, network.peer.port
 *                                 (each unless a tag already says it)
 *   localEndpoint ipv4/ipv6/port -> network.local.address, network.local.port
 *
 * The writer fills remoteEndpoint from peer.service (for CLIENT and PRODUCER spans also
 * from server.address, net.peer.name and the other names the specification ranks) and
 * network.peer.address/port, and localEndpoint's address from network.local.address/port;
 * those attributes stay in tags too. Not representable, so not written: links, flags,
 * resource attributes other than service.name, scope attributes. The tag keys the mapping
 * reserves are always read as the fields above and never as attributes, so
 * read -> write -> read gives back an equal batch.
 *
 * Thread-safety: no global state; a batch and a buffer belong to one thread at a time.
 */
#ifndef SONDE_ZIPKIN_H
#define SONDE_ZIPKIN_H

#include <stddef.h>

#include "buf.h"
#include "telemetry.h"
#include "wire_error.h"

/* Reads a JSON array of Zipkin v2 spans (an array of such arrays, as /api/v2/traces
 * returns, is accepted too) and appends them to b. traceId must be 16 or 32 hex digits
 * (a 64-bit id is left-padded with zeros), id and parentId 16; ids may not be all zero,
 * except a zero parentId which means none. debug and shared are read and dropped.
 * Returns 0, SONDE_EPARSE with err filled in (byte offset, line, field such as
 * "[3].traceId", what was expected) or -ENOMEM; on failure b is left as it was (arena
 * memory aside). err may be NULL. */
int sonde_zipkin_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err);

/* Appends b's spans to out as one compact Zipkin v2 JSON array: lower-case hex ids (a
 * trace id whose upper half is zero as 16 digits), times in whole microseconds (a
 * non-zero duration under 1us is written as 1), fields that are absent or empty left
 * out. Returns 0 or -ENOMEM (out is then truncated back to its length at entry). */
int sonde_zipkin_write(const sonde_batch *b, sonde_buf *out);
/* The same, indented by pretty spaces a level (0: compact), as sonde_json_writer_init. */
int sonde_zipkin_write_pretty(const sonde_batch *b, sonde_buf *out, int pretty);

#endif
