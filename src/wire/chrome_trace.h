/*
 * chrome_trace.h - the Trace Event Format (Chrome's about:tracing JSON, also written by
 * torch.profiler, VizTracer, Perfetto's JSON export and many others) read into spans.
 *
 * The input is a JSON array of events, or an object whose "traceEvents" member is one
 * (other members such as displayTimeUnit and otherData are skipped). An array whose
 * closing ']' is missing, perhaps after a trailing comma, is accepted as the format
 * allows. Events become spans so:
 *
 *   X (complete)         a span [ts, ts + dur]
 *   B / E                a span; E closes the innermost open B of the same pid and tid
 *                        and its args are appended; an E with nothing open is skipped
 *   b / e, S / F (async) a span; an end closes the innermost open begin of the same
 *                        cat, id and name (ids are per process unless given as
 *                        id2.global); its spans nest by time on a track of their own
 *   i, I, n (instant)    an event on the innermost span of the same pid and tid that
 *                        contains ts, or a span of zero duration when there is none
 *   M (metadata)         process_name names the resource (service.name) of a pid,
 *                        thread_name sets thread.name on the spans of that thread
 *   anything else        skipped (counters, flows, samples, objects, marks)
 *
 * Spans still open at the end close at the latest time seen in the file. Parents come
 * from time: per thread (or async track), spans ordered by start, longer first, have as
 * parent the innermost earlier span that contains them. ts and dur are microseconds,
 * possibly fractional; they are converted to nanoseconds exactly (decimal digits past the
 * third are rounded). All spans of one file share one trace id, a hash of the input bytes;
 * span ids are hashes of pid, tid, start and event position, unique and non-zero, so
 * reading the same bytes again gives the same ids.
 *
 * Attributes: chrome.cat (when cat is set), process.pid, thread.id, thread.name, then the
 * args: strings, bools, numbers (an integer literal that fits int64 as INT, any other as
 * DOUBLE), null as an empty value, arrays of scalars as arrays, nested objects flattened
 * into dotted keys ("args": {"a": {"b": 1}} gives a.b = 1), and arrays holding arrays or
 * objects as their compact JSON text. Each pid gets one resource with service.name (when
 * named) and process.pid. All spans share one empty scope and are INTERNAL.
 *
 * Thread-safety: no global state; a batch belongs to one thread at a time.
 */
#ifndef SONDE_CHROME_TRACE_H
#define SONDE_CHROME_TRACE_H

#include <stddef.h>

#include "telemetry.h"
#include "wire_error.h"

/* Reads a Trace Event Format document and appends its spans to b in the order of the
 * events that began them. Returns 0, SONDE_EPARSE with err filled in (byte offset, line,
 * field such as "traceEvents[12].ts", what was expected) or -ENOMEM; on failure b is left
 * as it was (arena memory aside). err may be NULL. */
int sonde_chrome_trace_read(sonde_batch *b, const char *buf, size_t len, sonde_wire_error *err);

#endif
