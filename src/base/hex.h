/*
 * hex.h - hexadecimal encoding of trace and span ids.
 *
 * Readers accept either case (the OTLP examples use upper case); writers emit lower case,
 * as W3C trace context and OTLP/JSON require.
 */
#ifndef SONDE_HEX_H
#define SONDE_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes 2*n lower-case hex digits of bytes to out (no NUL). */
void sonde_hex_encode(char *out, const uint8_t *bytes, size_t n);
/* Decodes exactly 2*n hex digits (either case) from s into out. Returns 0, or -1 when
 * slen != 2*n or a character is not a hex digit (out is then unspecified). */
int sonde_hex_decode(uint8_t *out, size_t n, const char *s, size_t slen);
/* True when all n bytes are zero: the "absent" id. */
bool sonde_id_is_zero(const uint8_t *id, size_t n);

#endif
