/*
 * json.h - a strict, streaming (pull) JSON reader and a fast JSON writer.
 *
 * Reader: sonde_json_reader walks a complete in-memory document (RFC 8259) token by token
 * without building a tree, validating as it goes. Strings come back unescaped, pointing
 * into the input when they hold no escape and into the reader's scratch buffer otherwise
 * (valid until the next call on the reader). Any malformed input makes the call return
 * SONDE_JSON_ERROR and leaves the reader in a sticky error state with err_offset (byte
 * offset of the problem) and err_msg (what was expected) set. Nesting is limited to
 * SONDE_JSON_MAX_DEPTH. The reader never reads past buf+len, never allocates except
 * for its scratch buffer, and never recurses. Strings must be valid UTF-8 (no overlong
 * forms, no UTF-8-encoded surrogates); an escaped surrogate without its partner (\uD800
 * alone) is accepted and read as U+FFFD, as most JSON readers do.
 *
 * Typical use by a format reader:
 *
 *     sonde_json_reader r;
 *     sonde_json_reader_init(&r, buf, len);
 *     if (sonde_json_enter_object(&r) < 0) goto bad;
 *     const char *k; size_t kn;
 *     while ((rc = sonde_json_next_key(&r, &k, &kn)) > 0) {
 *             if (kn == 4 && !memcmp(k, "name", 4)) rc = sonde_json_read_str(&r, &s, &sn);
 *             else rc = sonde_json_skip(&r);
 *             if (rc < 0) goto bad;
 *     }
 *     if (rc < 0 || sonde_json_finish(&r) < 0) goto bad;
 *
 * Writer: sonde_json_writer appends to a sonde_buf, inserting commas and colons itself,
 * escaping strings, writing numbers in the shortest form that reads back exactly.
 *
 * Neither is thread-safe; each object belongs to one thread at a time.
 */
#ifndef SONDE_JSON_H
#define SONDE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

#define SONDE_JSON_MAX_DEPTH 512

typedef enum sonde_json_tok {
	SONDE_JSON_ERROR = -1,
	SONDE_JSON_EOF = 0,   /* the document's single value has been read completely */
	SONDE_JSON_OBJ_BEGIN, /* { */
	SONDE_JSON_OBJ_END,   /* } */
	SONDE_JSON_ARR_BEGIN, /* [ */
	SONDE_JSON_ARR_END,   /* ] */
	SONDE_JSON_KEY,       /* an object member's name: str, str_len */
	SONDE_JSON_STRING,    /* str, str_len */
	SONDE_JSON_NUMBER,    /* num (text as in the input, validated), num_len */
	SONDE_JSON_TRUE,
	SONDE_JSON_FALSE,
	SONDE_JSON_NULL,
} sonde_json_tok;

typedef struct sonde_json_reader {
	const char *buf, *pos, *end;
	/* Result of the last token. */
	const char *str; /* KEY, STRING: unescaped UTF-8, not NUL-terminated */
	size_t str_len;
	const char *num; /* NUMBER: the literal */
	size_t num_len;
	/* Error state (sticky). */
	bool failed;
	size_t err_offset; /* byte offset into buf */
	char err_msg[96];  /* "expected ',' or '}' after object member", ... */
	/* Internal: container stack and state. */
	uint32_t depth;
	uint8_t state;
	uint8_t stack[SONDE_JSON_MAX_DEPTH]; /* 'o' or 'a' per open container */
	char *scratch;                       /* owned; freed by sonde_json_reader_release() */
	size_t scratch_cap;
	bool peeked; /* a token was peeked and not consumed */
	sonde_json_tok peek_tok;
	const char *tok_start; /* first byte of the last token, for error offsets */
	bool oom;              /* the error is a failed allocation: calls return -ENOMEM */
} sonde_json_reader;

/* Prepares to read buf[0..len) (borrowed until the reader is released). A UTF-8 BOM is
 * not accepted (RFC 8259 says a reader MAY ignore it; we reject, as JSONTestSuite's n_
 * cases allow either way for i_ only). Leading and trailing whitespace are allowed. */
void sonde_json_reader_init(sonde_json_reader *r, const char *buf, size_t len);
/* Frees the scratch buffer. NULL is a no-op. */
void sonde_json_reader_release(sonde_json_reader *r);

/* Returns the next token, or SONDE_JSON_EOF after the top-level value and trailing
 * whitespace (trailing garbage is an error), or SONDE_JSON_ERROR. */
sonde_json_tok sonde_json_next(sonde_json_reader *r);
/* Returns the next token without consuming it (str/num are valid as after next()). */
sonde_json_tok sonde_json_peek(sonde_json_reader *r);

/* Convenience layer. Each returns 0 on success or SONDE_EPARSE with the error state set
 * (err_msg names what was expected, e.g. "expected string"; err_offset is where the
 * offending token starts), or -ENOMEM when the scratch buffer could not grow. */

/* Consumes '{' / '['. */
int sonde_json_enter_object(sonde_json_reader *r);
int sonde_json_enter_array(sonde_json_reader *r);
/* Inside an object: returns 1 and the next member's key (the value is read next), 0 when
 * the object ended (its '}' is consumed), or SONDE_EPARSE. */
int sonde_json_next_key(sonde_json_reader *r, const char **key, size_t *key_len);
/* Inside an array: returns 1 when another element follows (not consumed), 0 when the
 * array ended (its ']' is consumed), or SONDE_EPARSE. */
int sonde_json_next_elem(sonde_json_reader *r);
/* Skips the next value, however deeply nested. */
int sonde_json_skip(sonde_json_reader *r);
/* Reads a string value. */
int sonde_json_read_str(sonde_json_reader *r, const char **s, size_t *n);
/* Reads an integer given as a JSON number or as a string holding one (the proto3 JSON
 * mapping writes 64-bit integers as strings). Any literal whose value is an exact integer
 * is accepted ("12", "1.2e1", "12.0"); values with a fractional part ("1.5", "1e-3") and
 * values out of range are errors. */
int sonde_json_read_i64(sonde_json_reader *r, int64_t *out);
int sonde_json_read_u64(sonde_json_reader *r, uint64_t *out);
/* Reads a double given as a number, or as a string holding a number, "NaN", "Infinity"
 * or "-Infinity" (proto3 JSON mapping). Correctly rounded; magnitudes beyond the double
 * range round to infinity or zero as IEEE 754 says. */
int sonde_json_read_f64(sonde_json_reader *r, double *out);
int sonde_json_read_bool(sonde_json_reader *r, bool *out);
/* Returns 0 when the document ended cleanly (nothing but whitespace after the value). */
int sonde_json_finish(sonde_json_reader *r);
/* Sets the error state by hand (for schema errors found by a format reader): offset is
 * the position of the last token read. Returns SONDE_EPARSE. */
int sonde_json_fail(sonde_json_reader *r, const char *msg);
/* For a caller's own fast path over a small object whose shape it knows: when the next
 * token is a '{' (peeked or not), returns the text just past it, else NULL (nothing
 * consumed). The caller scans the text itself and then either calls
 * sonde_json_raw_object_end() with the position just past the object's '}', or does
 * nothing and reads the object with the calls above. Whatever it accepts must be JSON the
 * reader accepts (strict: no control characters or invalid UTF-8 in strings), which the
 * reader no longer checks for that object. */
const char *sonde_json_raw_object(sonde_json_reader *r);
void sonde_json_raw_object_end(sonde_json_reader *r, const char *after);
/* Past the JSON whitespace (space, tab, LF, CR) at p, stopping at end: what the reader
 * skips between tokens, for such a scan (and the reader's own). */
static inline const char *sonde_json_skip_ws(const char *p, const char *end)
{
	if (__builtin_expect(p < end && (unsigned char)*p > ' ', 1))
		return p;
	while (p < end) {
		char c = *p;
		if (c == ' ') {
			/* Indentation comes in long runs of spaces. */
			uint64_t w;
			while (end - p >= 8 && (memcpy(&w, p, 8), w == 0x2020202020202020ull))
				p += 8;
			while (p < end && *p == ' ')
				p++;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			p++;
		} else {
			break;
		}
	}
	return p;
}
/* Line (1-based) of a byte offset, for messages. */
size_t sonde_json_line_of(const sonde_json_reader *r, size_t offset);

/* Parses a number literal (as produced in r->num) into a correctly rounded double.
 * Returns 0, SONDE_EPARSE when s[0..n) is not exactly a JSON number, or -ENOMEM. */
int sonde_json_parse_double(const char *s, size_t n, double *out);

typedef struct sonde_json_writer {
	sonde_buf *out; /* borrowed */
	uint32_t depth;
	bool need_comma; /* a value was written at this level */
	bool after_key;  /* a key was just written: next value needs no comma */
	int pretty;      /* 0: compact; N > 0: indent by N spaces */
} sonde_json_writer;

/* Writes into out (borrowed). pretty = 0 for compact output. Out of memory shows as
 * out->oom. Successive top-level values are separated by a newline (JSON Lines). */
void sonde_json_writer_init(sonde_json_writer *w, sonde_buf *out, int pretty);
void sonde_json_obj_begin(sonde_json_writer *w);
void sonde_json_obj_end(sonde_json_writer *w);
void sonde_json_arr_begin(sonde_json_writer *w);
void sonde_json_arr_end(sonde_json_writer *w);
/* Writes a member name; the next call writes its value. */
void sonde_json_key(sonde_json_writer *w, const char *k, size_t n);
static inline void sonde_json_key_cstr(sonde_json_writer *w, const char *k)
{
	sonde_json_key(w, k, __builtin_strlen(k));
}
/* Strings are escaped per RFC 8259 (", \, control characters); bytes that are not valid
 * UTF-8 are written as U+FFFD so the output is always valid JSON. */
void sonde_json_str(sonde_json_writer *w, const char *s, size_t n);
void sonde_json_i64(sonde_json_writer *w, int64_t v);
void sonde_json_u64(sonde_json_writer *w, uint64_t v);
/* 64-bit integers as decimal strings, as the proto3 JSON mapping writes them. */
void sonde_json_i64_str(sonde_json_writer *w, int64_t v);
void sonde_json_u64_str(sonde_json_writer *w, uint64_t v);
/* Shortest round-trip form; NaN and infinities as the strings "NaN", "Infinity",
 * "-Infinity" (proto3 JSON mapping), since JSON has no literal for them. */
void sonde_json_f64(sonde_json_writer *w, double v);
void sonde_json_bool(sonde_json_writer *w, bool v);
void sonde_json_null(sonde_json_writer *w);
/* Writes pre-encoded JSON text as one value (trusted; not validated). */
void sonde_json_raw(sonde_json_writer *w, const char *json, size_t n);

/* The shortest decimal text of v that reads back exactly ("0.1", "1.5e-7", "42"), with
 * "NaN", "Inf" and "-Inf" for the values JSON cannot write: for writers of any text
 * format. out needs 32 bytes; returns the length (no NUL is written). */
size_t sonde_fmt_double(char *out, double v);

/*
 * Internal: shared by json_read.c, json_write.c and json_num.c; not for other callers.
 */

/* If the literal s[0..n) is a JSON number whose value is an integer, stores its sign and
 * magnitude and returns 0; SONDE_EPARSE if it is not a number or not integral,
 * SONDE_ELIMIT if the magnitude exceeds UINT64_MAX. */
int sonde__json_parse_int(const char *s, size_t n, bool *neg, uint64_t *mag);
/* Decimal text, not NUL-terminated; out needs 20 (u64), 20 (i64) or 32 (f64) bytes.
 * sonde__json_fmt_f64 takes finite values only. Return the length. */
size_t sonde__json_fmt_u64(char *out, uint64_t v);
size_t sonde__json_fmt_i64(char *out, int64_t v);
size_t sonde__json_fmt_f64(char *out, double v);

/* Length of the well-formed UTF-8 sequence at p (p < end, *p >= 0x80), 0 if there is
 * none: stray continuation bytes, overlong forms, surrogates, code points past U+10FFFF
 * and sequences cut short by end are all rejected. */
static inline size_t sonde__utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t avail = (size_t)(end - p);
	if (c < 0xC2)
		return 0;
	if (c < 0xE0)
		return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
		if (avail < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80)
			return 0;
		return 3;
	}
	if (c < 0xF5) {
		unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
		if (avail < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
			return 0;
		return 4;
	}
	return 0;
}

/* Eight bytes of string body at once: a mask whose lowest set bit (bit 7 of byte i, in
 * memory order on little-endian machines) marks the first byte that is '"', '\\', a
 * control character or non-ASCII. Higher bits may be spurious; the lowest never is. */
static inline uint64_t sonde__json_special8(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
	return (((q - ones) & ~q) | ((b - ones) & ~b) | ((v - ones * 0x20) & ~v) | v) & high;
}

#endif
