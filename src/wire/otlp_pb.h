/*
 * otlp_pb.h - OTLP in the protobuf wire format: the bodies of OTLP/gRPC and
 * OTLP/HTTP (application/x-protobuf) export requests, read into and written from the
 * telemetry model.
 *
 * Field numbers are those of opentelemetry-proto (collector/{trace,metrics,logs}/v1
 * Export*ServiceRequest and the messages they contain); every field of the model is
 * covered. Readers skip unknown fields, accept packed and unpacked repeated scalars, and
 * treat the TracesData / MetricsData / LogsData messages the same (they share field 1).
 * Writers emit fields in field-number order, omit proto3 default values (zero numbers,
 * empty strings and bytes, all-zero ids) except proto3 `optional` fields and oneof
 * members, and write packed repeated fields. Thread-safe as long as each call has its own
 * batch and buffer.
 */
#ifndef SONDE_OTLP_PB_H
#define SONDE_OTLP_PB_H

#include <stddef.h>

#include "buf.h"
#include "telemetry.h"
#include "wire_error.h"

/* Deepest AnyValue nesting read or written: an attribute's value is depth 1, an element
 * of an array in it depth 2, and so on. */
#define SONDE_OTLP_PB_MAX_VALUE_DEPTH 64

/*
 * Reads an ExportTraceServiceRequest / ExportMetricsServiceRequest /
 * ExportLogsServiceRequest (which one: sig) from buf[0..len) and appends its records to
 * b, one sonde_resource per ResourceX and one sonde_scope per ScopeX message.
 *
 * Returns 0; SONDE_EPARSE when the input is malformed (truncated, bad varint or length,
 * a known field with the wrong wire type, a trace_id that is not 16 bytes or a span_id
 * that is not 8, an enum value the model has no member for); SONDE_ELIMIT when
 * AnyValues nest deeper than SONDE_OTLP_PB_MAX_VALUE_DEPTH; or -ENOMEM. On failure b
 * holds the records it held before (arena memory may be used up) and, unless the failure
 * is -ENOMEM, err (may be NULL) names the byte offset, the field
 * ("resource_spans[0].scope_spans[1].spans[3].trace_id") and what was expected.
 */
int sonde_otlp_pb_read(sonde_batch *b, sonde_signal sig, const void *buf, size_t len, sonde_wire_error *err);

/*
 * Appends b's records of one signal to out as one Export*ServiceRequest. Records are
 * grouped into ResourceX/ScopeX messages by consecutive equal resource and scope
 * pointers, which reproduces the grouping a reader created.
 *
 * Returns 0, -ENOMEM, or SONDE_ELIMIT when an AnyValue nests deeper than
 * SONDE_OTLP_PB_MAX_VALUE_DEPTH. On failure out->len is as it was on entry.
 */
int sonde_otlp_pb_write(const sonde_batch *b, sonde_signal sig, sonde_buf *out);

/* As sonde_otlp_pb_write() for records [first, first + count) of the signal's array
 * (for splitting a large batch into several requests). Returns -EINVAL when the range
 * is not inside the array. */
int sonde_otlp_pb_write_range(const sonde_batch *b, sonde_signal sig, size_t first, size_t count,
                              sonde_buf *out);

#endif
