/*
 * pbwire.h - protocol buffers wire format: varints, tags, length-delimited fields.
 *
 * The decoder is a cursor over a byte range; nested messages are decoded by taking a
 * sub-cursor over the field's bytes. It never reads past its end and reports truncation,
 * overlong varints and wrong wire types as SONDE_EPARSE with the byte offset. The encoder
 * appends to a sonde_buf; a nested message is written by opening it (reserving its length
 * prefix), writing its fields, and closing it (which fixes the length).
 * Not thread-safe; one cursor or writer per thread.
 *
 * The hot paths (one-byte varints, fixed-width reads) are inline here; pbwire.c holds the
 * general cases and the writer.
 */
#ifndef SONDE_PBWIRE_H
#define SONDE_PBWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "sonde/status.h"

enum {
	SONDE_PB_VARINT = 0,
	SONDE_PB_I64 = 1,
	SONDE_PB_LEN = 2,
	SONDE_PB_SGROUP = 3,
	SONDE_PB_EGROUP = 4,
	SONDE_PB_I32 = 5,
};

/* Largest field number protobuf allows (2^29 - 1). */
#define SONDE_PB_MAX_FIELD 536870911u
/* Deepest nesting of open messages in one sonde_pb_writer. */
#define SONDE_PB_MAX_DEPTH 256

typedef struct sonde_pb_reader {
	const uint8_t *base; /* start of the whole input, for offsets in errors */
	const uint8_t *pos, *end;
	size_t err_offset;   /* set on failure */
	const char *err_msg; /* static string, set on failure */
} sonde_pb_reader;

void sonde_pb_reader_init(sonde_pb_reader *r, const void *buf, size_t len);
/* Records a failure at byte `at` (inside r's input) with a static message and returns
 * SONDE_EPARSE. Every failing read below calls it, so err_offset and err_msg of the
 * reader that failed say what went wrong. */
int sonde_pb_fail(sonde_pb_reader *r, const uint8_t *at, const char *msg);

/* General case of sonde_pb_read_varint(): up to 10 bytes; a 10th byte above 1 (a value
 * past 64 bits) or an 11th byte is an error. Non-minimal encodings ("0x80 0x00") are
 * accepted, as protobuf parsers do. */
int sonde__pb_read_varint_slow(sonde_pb_reader *r, uint64_t *out);

static inline int sonde_pb_read_varint(sonde_pb_reader *r, uint64_t *out)
{
	if (r->pos < r->end && *r->pos < 0x80) {
		*out = *r->pos++;
		return 0;
	}
	return sonde__pb_read_varint_slow(r, out);
}

/* Reads the next field's tag. Returns 1 with *field and *wire_type set, 0 at the end of the
 * range, or SONDE_EPARSE. Field number 0, numbers above SONDE_PB_MAX_FIELD and wire types
 * 6 and 7 are errors. */
int sonde__pb_next_field_slow(sonde_pb_reader *r, uint32_t *field, uint32_t *wire_type);

static inline int sonde_pb_next_field(sonde_pb_reader *r, uint32_t *field, uint32_t *wire_type)
{
	if (r->pos >= r->end)
		return 0;
	uint8_t t = *r->pos;
	if (t < 0x80 && t >= 8 && (t & 7) != 6 && (t & 7) != 7) {
		r->pos++;
		*field = t >> 3;
		*wire_type = t & 7;
		return 1;
	}
	return sonde__pb_next_field_slow(r, field, wire_type);
}

static inline uint64_t sonde_pb_load_le64(const uint8_t *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
	       (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
}

static inline uint32_t sonde_pb_load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline int sonde_pb_read_fixed64(sonde_pb_reader *r, uint64_t *out)
{
	if (r->end - r->pos < 8) {
		sonde_pb_fail(r, r->pos, "truncated fixed64");
		return SONDE_EPARSE;
	}
	*out = sonde_pb_load_le64(r->pos);
	r->pos += 8;
	return 0;
}

static inline int sonde_pb_read_fixed32(sonde_pb_reader *r, uint32_t *out)
{
	if (r->end - r->pos < 4) {
		sonde_pb_fail(r, r->pos, "truncated fixed32");
		return SONDE_EPARSE;
	}
	*out = sonde_pb_load_le32(r->pos);
	r->pos += 4;
	return 0;
}

static inline int sonde_pb_read_double(sonde_pb_reader *r, double *out)
{
	uint64_t v;
	if (sonde_pb_read_fixed64(r, &v) < 0)
		return SONDE_EPARSE;
	memcpy(out, &v, sizeof(*out));
	return 0;
}

/* A length-delimited field: its bytes (borrowed from the input). */
static inline int sonde_pb_read_bytes(sonde_pb_reader *r, const uint8_t **p, size_t *n)
{
	const uint8_t *at = r->pos;
	uint64_t len;
	if (sonde_pb_read_varint(r, &len) < 0)
		return SONDE_EPARSE;
	if (len > (uint64_t)(r->end - r->pos)) {
		sonde_pb_fail(r, at, "length runs past the end of the message");
		return SONDE_EPARSE;
	}
	*p = r->pos;
	*n = (size_t)len;
	r->pos += len;
	return 0;
}

/* Opens a sub-reader over a length-delimited field (offsets stay relative to base). */
static inline int sonde_pb_read_submsg(sonde_pb_reader *r, sonde_pb_reader *sub)
{
	const uint8_t *p;
	size_t n;
	if (sonde_pb_read_bytes(r, &p, &n) < 0)
		return SONDE_EPARSE;
	sub->base = r->base;
	sub->pos = p;
	sub->end = p + n;
	sub->err_offset = 0;
	sub->err_msg = NULL;
	return 0;
}

/* Skips a field of the given wire type (groups are rejected). */
int sonde_pb_skip(sonde_pb_reader *r, uint32_t wire_type);

/* ZigZag coding of sint32/sint64. A sint32 is decoded from the low 32 bits of its
 * varint, as protobuf does. */
static inline uint64_t sonde_pb_zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t sonde_pb_unzigzag64(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}
static inline int32_t sonde_pb_unzigzag32(uint64_t v)
{
	uint32_t u = (uint32_t)v;
	return (int32_t)(u >> 1) ^ -(int32_t)(u & 1);
}

/* Bytes a varint of v takes (1-10). */
static inline size_t sonde_pb_varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Encodes v at p (room for 10 bytes needed); returns the bytes written. */
static inline size_t sonde_pb_encode_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

typedef struct sonde_pb_writer {
	sonde_buf *out; /* borrowed */
	/* Offset of the length prefix reserved for each open nested message, and its width. */
	size_t stack[SONDE_PB_MAX_DEPTH];
	uint8_t width[SONDE_PB_MAX_DEPTH];
	uint32_t depth;
	bool overflow; /* sticky: nesting deeper than the stack, or close without open */
} sonde_pb_writer;

/* Every put appends to w->out; a failed append sets w->out->oom (sticky), so a caller
 * writes a whole message and then checks out->oom and w->overflow once. */
void sonde_pb_writer_init(sonde_pb_writer *w, sonde_buf *out);
void sonde_pb_put_tag(sonde_pb_writer *w, uint32_t field, uint32_t wire_type);
void sonde_pb_put_varint_field(sonde_pb_writer *w, uint32_t field, uint64_t v);
void sonde_pb_put_sint64_field(sonde_pb_writer *w, uint32_t field, int64_t v); /* zigzag */
void sonde_pb_put_fixed64_field(sonde_pb_writer *w, uint32_t field, uint64_t v);
void sonde_pb_put_fixed32_field(sonde_pb_writer *w, uint32_t field, uint32_t v);
void sonde_pb_put_double_field(sonde_pb_writer *w, uint32_t field, double v);
void sonde_pb_put_bytes_field(sonde_pb_writer *w, uint32_t field, const void *p, size_t n);
/* Begins a nested message in field; every put until the matching close goes inside it.
 * One length byte is reserved; close moves the body when the length needs more. */
void sonde_pb_open(sonde_pb_writer *w, uint32_t field);
/* As sonde_pb_open(), reserving as many length bytes as a body of size_hint bytes needs:
 * when the guess has the right width, close moves nothing. The output is the same. */
void sonde_pb_open_hint(sonde_pb_writer *w, uint32_t field, size_t size_hint);
void sonde_pb_close(sonde_pb_writer *w);
/* Raw varint (for packed repeated fields written by hand). */
void sonde_pb_put_varint(sonde_buf *out, uint64_t v);
/* Raw little-endian fixed-width values (packed fixed64 / double fields). */
void sonde_pb_put_le64(sonde_buf *out, uint64_t v);

#endif
