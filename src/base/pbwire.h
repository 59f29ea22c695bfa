/*
 * pbwire.h - protocol buffers wire format: varints, tags, length-delimited fields.
 *
 * The decoder is a cursor over a byte range; nested messages are decoded by taking a
 * sub-cursor over the field's bytes. It never reads past its end and reports truncation,
 * overlong varints and wrong wire types as SONDE_EPARSE with the byte offset. The encoder
 * appends to a sonde_buf; a nested message is written by opening it (reserving its length
 * prefix), writing its fields, and closing it (which fixes the length).
 * Not thread-safe; one cursor or writer per thread.
 */
#ifndef SONDE_PBWIRE_H
#define SONDE_PBWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum {
	SONDE_PB_VARINT = 0,
	SONDE_PB_I64 = 1,
	SONDE_PB_LEN = 2,
	SONDE_PB_SGROUP = 3,
	SONDE_PB_EGROUP = 4,
	SONDE_PB_I32 = 5,
};

typedef struct sonde_pb_reader {
	const uint8_t *base; /* start of the whole input, for offsets in errors */
	const uint8_t *pos, *end;
	size_t err_offset;   /* set on failure */
	const char *err_msg; /* static string, set on failure */
} sonde_pb_reader;

void sonde_pb_reader_init(sonde_pb_reader *r, const void *buf, size_t len);
/* Reads the next field's tag. Returns 1 with *field and *wire_type set, 0 at the end of the
 * range, or SONDE_EPARSE. Field number 0 is an error. */
int sonde_pb_next_field(sonde_pb_reader *r, uint32_t *field, uint32_t *wire_type);
int sonde_pb_read_varint(sonde_pb_reader *r, uint64_t *out);
int sonde_pb_read_fixed64(sonde_pb_reader *r, uint64_t *out);
int sonde_pb_read_fixed32(sonde_pb_reader *r, uint32_t *out);
int sonde_pb_read_double(sonde_pb_reader *r, double *out);
/* A length-delimited field: its bytes (borrowed from the input). */
int sonde_pb_read_bytes(sonde_pb_reader *r, const uint8_t **p, size_t *n);
/* Opens a sub-reader over a length-delimited field (offsets stay relative to base). */
int sonde_pb_read_submsg(sonde_pb_reader *r, sonde_pb_reader *sub);
/* Skips a field of the given wire type (groups are rejected). */
int sonde_pb_skip(sonde_pb_reader *r, uint32_t wire_type);
/* Copies a sub-reader's error into its parent and returns SONDE_EPARSE. */
int sonde_pb_fail(sonde_pb_reader *r, const uint8_t *at, const char *msg);

typedef struct sonde_pb_writer {
	sonde_buf *out; /* borrowed */
	/* Start offsets of open nested messages. */
	size_t stack[64];
	uint32_t depth;
	bool overflow;   /* sticky: nesting deeper than the stack */
} sonde_pb_writer;

void sonde_pb_writer_init(sonde_pb_writer *w, sonde_buf *out);
void sonde_pb_put_varint_field(sonde_pb_writer *w, uint32_t field, uint64_t v);
void sonde_pb_put_sint64_field(sonde_pb_writer *w, uint32_t field, int64_t v); /* zigzag */
void sonde_pb_put_fixed64_field(sonde_pb_writer *w, uint32_t field, uint64_t v);
void sonde_pb_put_fixed32_field(sonde_pb_writer *w, uint32_t field, uint32_t v);
void sonde_pb_put_double_field(sonde_pb_writer *w, uint32_t field, double v);
void sonde_pb_put_bytes_field(sonde_pb_writer *w, uint32_t field, const void *p, size_t n);
/* Begins a nested message in field; every put until the matching close goes inside it. */
void sonde_pb_open(sonde_pb_writer *w, uint32_t field);
void sonde_pb_close(sonde_pb_writer *w);
/* Raw varint (for packed repeated fields written by hand). */
void sonde_pb_put_varint(sonde_buf *out, uint64_t v);

#endif
