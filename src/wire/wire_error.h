/*
 * wire_error.h - how every reader of outside input says what was wrong and where.
 *
 * A reader that fails fills a sonde_wire_error: the byte offset of the problem, the line
 * when the format is line-oriented or the reader tracks it (0 otherwise), the field being
 * read ("spans[3].traceId", "le", "timestamp"), and what was expected, in a sentence
 * fragment that starts lower case ("expected 32 hex digits"). The CLI prints it as
 * "FILE:LINE: offset N: field F: message".
 */
#ifndef SONDE_WIRE_ERROR_H
#define SONDE_WIRE_ERROR_H

#include <stddef.h>

typedef struct sonde_wire_error {
	size_t offset;  /* byte offset into the input */
	size_t line;    /* 1-based line, or 0 when not known */
	char field[96]; /* field or path being read; may be empty */
	char msg[192];  /* what was expected */
} sonde_wire_error;

/* Fills err (NULL is allowed and ignored). field may be NULL. Always returns
 * SONDE_EPARSE, so a reader can write `return sonde_wire_fail(...)`. */
int sonde_wire_fail(sonde_wire_error *err, size_t offset, size_t line, const char *field, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));

/* 1-based line number of a byte offset in buf (counts '\n' before offset). */
size_t sonde_wire_line_of(const char *buf, size_t len, size_t offset);

#endif
