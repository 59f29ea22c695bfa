/*
 * base64.h - base64 (RFC 4648) for bytes carried in text formats, such as OTLP/JSON's
 * bytesValue.
 *
 * The encoder writes the standard alphabet with '=' padding. The decoder is lenient in the
 * ways the proto3 JSON mapping asks for: it takes the standard and the URL-safe alphabet
 * (even mixed) and padding or none, but rejects anything else, whitespace included.
 */
#ifndef SONDE_BASE64_H
#define SONDE_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the padded encoding of n bytes, or 0 when that would overflow size_t. */
size_t sonde_base64_encoded_len(size_t n);
/* Writes the padded standard encoding of in[0..n) to out, which must have room for
 * sonde_base64_encoded_len(n) bytes (no NUL is written). Returns the length written. */
size_t sonde_base64_encode(char *out, const uint8_t *in, size_t n);

/* Upper bound of the bytes that decoding n characters can yield. */
static inline size_t sonde_base64_decoded_max(size_t n)
{
	return n / 4 * 3 + 2;
}
/* Decodes s[0..n) into out (room for sonde_base64_decoded_max(n) bytes) and stores the
 * byte count in *out_len. Returns 0, or -1 when s is not base64: a character outside both
 * alphabets, misplaced or excess padding, or a length no encoding has. Bits below the last
 * full byte are ignored. On failure out and *out_len are unspecified. */
int sonde_base64_decode(uint8_t *out, size_t *out_len, const char *s, size_t n);

#endif
