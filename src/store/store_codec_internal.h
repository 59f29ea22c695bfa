/*
 * store_codec_internal.h - the compact binary encoding the store keeps the variable parts
 * of records in: attributes, span events and links, resources, scopes, log details and
 * metric points other than plain numbers.
 *
 * The encoding is varints (LEB128) for counts, lengths and integers, zigzag for signed
 * ones, 8 little-endian bytes for doubles, and a kind byte before each value. Decoding
 * trusts nothing (a damaged file is outside input): every length is checked against the
 * end, nesting is bounded, and a bad blob makes the decoder fail, never read past the end.
 */
#ifndef SONDE_STORE_CODEC_INTERNAL_H
#define SONDE_STORE_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "telemetry.h"

/* Deepest nesting of values (arrays and kvlists) the decoder accepts. */
#define SONDE__CODEC_MAX_DEPTH 64

void sonde__enc_varint(sonde_buf *out, uint64_t v);
void sonde__enc_str(sonde_buf *out, sonde_str s);
void sonde__enc_value(sonde_buf *out, const sonde_value *v);
void sonde__enc_attrs(sonde_buf *out, const sonde_attrs *a);
/* The same, with OpenTelemetry's well-known keys written as 3-byte references (see
 * store_codec.c); the decoders read both forms. For stored columns only: never for bytes
 * that are hashed into an identity (log records, series), whose hash must not change. */
void sonde__enc_attrs_known(sonde_buf *out, const sonde_attrs *a);
void sonde__enc_resource(sonde_buf *out, const sonde_resource *r);
void sonde__enc_scope(sonde_buf *out, const sonde_scope *s);
/* Everything of a span that has no column: flags, trace state, dropped counts, status
 * message, events, links. */
void sonde__enc_span_rest(sonde_buf *out, const sonde_span_data *sp);
/* Everything of a log record that has no column: its time and observed time (the column
 * holds the time it is filed under), severity text, attributes, dropped
 * count, flags, event name, and the body when it is not a string. */
void sonde__enc_log_rest(sonde_buf *out, const sonde_log_data *lg);
/* A metric's description, unit, metadata, temporality and monotonicity. */
void sonde__enc_metric_meta(sonde_buf *out, const sonde_metric_data *m);
/* A point's start time, flags, exemplars and, for types other than gauge and sum, its
 * distribution. */
void sonde__enc_point_rest(sonde_buf *out, sonde_metric_type type, const sonde_point *p);

/* A decoder over one blob. Memory for what it decodes comes from b (strings copied into
 * b's arena, keys interned); every function returns 0 or -1 (damaged blob: ok is false)
 * or -ENOMEM. */
typedef struct sonde__dec {
	const uint8_t *p, *end;
	sonde_batch *b;
} sonde__dec;

static inline void sonde__dec_init(sonde__dec *d, sonde_batch *b, const void *blob, size_t n)
{
	d->p = blob;
	d->end = (const uint8_t *)blob + n;
	d->b = b;
}

int sonde__dec_varint(sonde__dec *d, uint64_t *v);
int sonde__dec_str(sonde__dec *d, sonde_str *s);
int sonde__dec_value(sonde__dec *d, sonde_value *v, int depth);
int sonde__dec_attrs(sonde__dec *d, sonde_attrs *a, int depth);
int sonde__dec_resource(sonde__dec *d, sonde_resource *r);
int sonde__dec_scope(sonde__dec *d, sonde_scope *s);
int sonde__dec_span_rest(sonde__dec *d, sonde_span_data *sp);
int sonde__dec_log_rest(sonde__dec *d, sonde_log_data *lg);
int sonde__dec_metric_meta(sonde__dec *d, sonde_metric_data *m);
int sonde__dec_point_rest(sonde__dec *d, sonde_metric_type type, sonde_point *p);

/* Finds key in an encoded attribute list without decoding the rest, and writes its value
 * as text into out (strings as they are; integers in decimal; doubles shortest round
 * trip; true/false; other kinds as their JSON-like text). Returns 1 when found, 0 when
 * absent, -1 when the blob is damaged. */
int sonde__attrs_find_text(const void *blob, size_t n, const char *key, size_t key_len, sonde_buf *out);
/* The text form of a value, as sonde__attrs_find_text writes it. */
void sonde__value_text(const sonde_value *v, sonde_buf *out);

#endif
