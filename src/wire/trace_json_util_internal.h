/*
 * trace_json_util_internal.h - what the readers of the JSON trace formats (Zipkin v2,
 * Jaeger JSON, Chrome's Trace Event Format) share: schema errors and their report, JSON
 * values as sonde_values, hex ids, microseconds, scopes, and the tag tables of Zipkin's
 * reader and writer.
 *
 * Internal to src/wire: zipkin_read.c, zipkin_write.c, jaeger_read.c,
 * chrome_trace_read.c and logline_read.c use it; nothing else should. Every function works on the caller's
 * reader and batch and keeps no state of its own.
 */
#ifndef SONDE_TRACE_JSON_UTIL_INTERNAL_H
#define SONDE_TRACE_JSON_UTIL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "json.h"
#include "ptrmap.h"
#include "telemetry.h"
#include "wire_error.h"

/* A schema error found by a format reader (as opposed to a JSON syntax error, which the
 * sonde_json_reader holds itself). Zero-filled means none. */
typedef struct sonde__tj_err {
	bool custom; /* set: the error is off and msg below, not the reader's */
	size_t off;  /* byte offset into the input */
	char msg[96];
} sonde__tj_err;

/* True when k[0..n) is exactly the string lit. */
bool sonde__tj_key_is(const char *k, size_t n, const char *lit);
/* True when s is exactly the string lit. */
bool sonde__tj_str_is(sonde_str s, const char *lit);

/* Makes room for one more element in the heap array *items of *cap elements of elem
 * bytes, count of them in use, doubling *cap (16 at first) when it is full; *items and
 * *cap are updated, and the caller frees *items. Returns 0, or -ENOMEM with both left
 * as they were. */
int sonde__tj_reserve(void **items, size_t *cap, size_t count, size_t elem);
/* Copies n elements of elem bytes from items into b's arena. Returns the copy (owned by
 * b; valid, if empty, when n is 0), or NULL when out of memory. */
void *sonde__tj_batch_copy(sonde_batch *b, const void *items, size_t n, size_t elem);
/* Sets kv to the attribute key = the string val (both borrowed: they must live in the
 * batch the attribute goes to). */
void sonde__tj_str_attr(sonde_kv *kv, sonde_str key, sonde_str val);

/* The byte offset where the token r read last starts (before any, where r stands). */
size_t sonde__tj_tok_offset(const sonde_json_reader *r);
/* What a reader call that returned a token of SONDE_JSON_ERROR means: -ENOMEM when r
 * failed to allocate, else SONDE_EPARSE. */
int sonde__tj_tok_error(const sonde_json_reader *r);
/* Records the schema error msg (copied, cut to fit) at byte offset off in e. Returns
 * SONDE_EPARSE. */
int sonde__tj_fail_at(sonde__tj_err *e, size_t off, const char *msg);
/* Records the schema error msg at the token r read last. Returns SONDE_EPARSE. */
int sonde__tj_fail(sonde__tj_err *e, const sonde_json_reader *r, const char *msg);
/* Fills err (NULL is allowed) with the error that stopped the read of buf[0..len): the
 * schema error in e if there is one, else r's own; field names where it was (may be
 * empty). Returns SONDE_EPARSE. */
int sonde__tj_report(const sonde__tj_err *e, const sonde_json_reader *r, sonde_wire_error *err,
                     const char *buf, size_t len, const char *field);
/* Consumes a null if one is next. Returns 1 then, 0 when another value is next (not
 * consumed), or the error of a malformed one (SONDE_EPARSE or -ENOMEM). */
int sonde__tj_take_null(sonde_json_reader *r);
/* Enters the object next in r, or consumes a null, which stands for an absent one.
 * Returns 1 when it entered an object, 0 for null, or SONDE_EPARSE or -ENOMEM. */
int sonde__tj_enter_object_or_null(sonde_json_reader *r);
/* As sonde__tj_enter_object_or_null(), for an array. */
int sonde__tj_enter_array_or_null(sonde_json_reader *r);

/* Parses s[0..n), an optional sign ('-' or '+') and decimal digits only, into *out.
 * Returns false, *out untouched, for anything else or a value outside int64. */
bool sonde__tj_parse_i64(const char *s, size_t n, int64_t *out);
/* Reads the value whose first token, first, r has just returned into *out: a string,
 * bool or null as such, a number as an INT when it is an integer literal that fits and
 * else a DOUBLE (with finite_only, a number that only an infinity holds is refused), an
 * array of scalars as an ARRAY, and any other array or object as the STRING of its
 * compact JSON text, built in text (scratch the caller owns; reset first). Strings are
 * copied into b. Iterative, so nesting costs no stack. Returns 0, SONDE_EPARSE (r's error
 * state says why when the JSON is at fault) or -ENOMEM. */
int sonde__tj_read_value(sonde_batch *b, sonde_json_reader *r, sonde_json_tok first, bool finite_only,
                         sonde_value *out, sonde_buf *text);

/* Decodes s[0..sn), the text of the string token r has just read, into the n-byte id
 * out: 2n hex digits, or for a trace id (n == 16) also 16 digits, which are
 * left-padded with zero bytes. Returns 0, or SONDE_EPARSE with "expected 16 or 32 hex
 * digits" (trace id) or "expected 16 hex digits" recorded in e at that token. */
int sonde__tj_decode_id(sonde__tj_err *e, const sonde_json_reader *r, uint8_t *out, size_t n, const char *s,
                        size_t sn);
/* Reads a count of microseconds that fits in uint64 nanoseconds, or null. Returns 0 with
 * *us set, 1 for null (*us untouched), or SONDE_EPARSE (with "expected microseconds below
 * 2^64 nanoseconds" recorded in e when the count is too large) or -ENOMEM. */
int sonde__tj_read_us(sonde__tj_err *e, sonde_json_reader *r, uint64_t *us);

/* The IP address family (AF_INET or AF_INET6) of the text s[0..n), or 0 when it is
 * neither a valid IPv4 nor a valid IPv6 address. */
int sonde__tj_ip_family(const char *s, size_t n);

/* Sets *out to b's scope of this name and version (each empty when absent), creating it
 * on first use; scopes (the caller's, freed by it) maps interned (name, version) pairs
 * to the scopes already made, so equal scopes are one object. Returns 0 or -ENOMEM. */
int sonde__tj_scope(sonde_batch *b, sonde_ptrmap *scopes, sonde_str name, sonde_str version,
                    const sonde_scope **out);

/* Zipkin tags that stand for span fields (status, scope, dropped counts, trace state):
 * the reader never makes them attributes, and so the writer never writes an attribute
 * under one of them. zipkin_read.c's K_* follow their order. NULL-terminated. */
extern const char *const sonde__tj_zipkin_field_tags[];
/* Finds the shape of the collector's name|{json}|dropped form of a Zipkin annotation in
 * v[0..n): sets *bar1 and *bar2 to the first and the last '|', and returns true, when
 * a '{' follows the first and a '}' comes before the last (what follows the last is not
 * checked). */
bool sonde__tj_zipkin_collector_bars(const char *v, size_t n, size_t *bar1, size_t *bar2);
/* Zipkin tags that, when one holds the remote endpoint's service name, address or port,
 * mean the endpoint came from that tag (OpenTelemetry's ranking, best first): the writer
 * takes the endpoint from them, and the reader then adds nothing for it. NULL-terminated. */
extern const char *const sonde__tj_zipkin_name_sources[];
extern const char *const sonde__tj_zipkin_addr_sources[];
extern const char *const sonde__tj_zipkin_port_sources[];

#endif
