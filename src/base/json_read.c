/*
 * json_read.c - the streaming JSON reader (see json.h): a tokenizer driven by a small state
 * machine and an explicit container stack, and the convenience layer format readers use.
 *
 * String bodies are scanned eight bytes at a time for the bytes that need a closer look
 * ('"', '\\', control characters, non-ASCII); a string without escapes is returned where
 * it lies in the input, one with escapes is decoded into the scratch buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sonde/status.h"
#include "json.h"

#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* What the reader expects next (sonde_json_reader.state). */
enum {
	ST_VALUE,     /* the top-level value */
	ST_OBJ_FIRST, /* after '{': a key or '}' */
	ST_OBJ_COLON, /* after a key: ':' and the member's value */
	ST_OBJ_NEXT,  /* after a member: ',' and a key, or '}' */
	ST_ARR_FIRST, /* after '[': a value or ']' */
	ST_ARR_NEXT,  /* after an element: ',' and a value, or ']' */
	ST_DONE,      /* after the top-level value: only whitespace */
};

/* Bytes a string body may hold as they are: printable ASCII except '"' and '\\'. */
static const uint8_t plain_tab[256] = {
        [0x20] = 1,
        [0x21] = 1,
        [0x23 ... 0x5b] = 1,
        [0x5d ... 0x7f] = 1,
};

/* Hex digit value plus one; 0 for other bytes. */
static const uint8_t hex_val[256] = {
        ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
        ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
        ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline bool isdig(unsigned c)
{
	return c - '0' < 10;
}

void sonde_json_reader_init(sonde_json_reader *r, const char *buf, size_t len)
{
	if (!buf) {
		buf = "";
		len = 0;
	}
	r->buf = r->pos = buf;
	r->end = buf + len;
	r->str = "";
	r->str_len = 0;
	r->num = "";
	r->num_len = 0;
	r->failed = false;
	r->err_offset = 0;
	r->err_msg[0] = '\0';
	r->depth = 0;
	r->state = ST_VALUE;
	r->scratch = NULL;
	r->scratch_cap = 0;
	r->peeked = false;
	r->peek_tok = SONDE_JSON_EOF;
	r->tok_start = buf;
	r->oom = false;
}

void sonde_json_reader_release(sonde_json_reader *r)
{
	if (!r)
		return;
	free(r->scratch);
	r->scratch = NULL;
	r->scratch_cap = 0;
}

static void set_error(sonde_json_reader *r, const char *at, const char *msg)
{
	if (r->failed)
		return;
	r->failed = true;
	r->err_offset = (size_t)(at - r->buf);
	size_t n = strlen(msg);
	if (n >= sizeof(r->err_msg))
		n = sizeof(r->err_msg) - 1;
	memcpy(r->err_msg, msg, n);
	r->err_msg[n] = '\0';
}

static __attribute__((cold, noinline)) sonde_json_tok fail_at(sonde_json_reader *r, const unsigned char *at,
                                                              const char *msg)
{
	set_error(r, (const char *)at, msg);
	return SONDE_JSON_ERROR;
}

/* The status a convenience call returns once the reader has failed. */
static inline int status_of(const sonde_json_reader *r)
{
	return r->oom ? -ENOMEM : SONDE_EPARSE;
}

static __attribute__((cold, noinline)) int fail_tok(sonde_json_reader *r, const char *msg)
{
	set_error(r, r->tok_start, msg);
	return status_of(r);
}

static __attribute__((cold, noinline)) int grow_scratch(sonde_json_reader *r, size_t need)
{
	size_t cap = r->scratch_cap ? r->scratch_cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	char *p = realloc(r->scratch, cap);
	if (!p) {
		r->oom = true;
		return -ENOMEM;
	}
	r->scratch = p;
	r->scratch_cap = cap;
	return 0;
}

static inline int reserve_scratch(sonde_json_reader *r, size_t need)
{
	return LIKELY(need <= r->scratch_cap) ? 0 : grow_scratch(r, need);
}

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
	return (const unsigned char *)sonde_json_skip_ws((const char *)p, (const char *)end);
}

/* Advances to the first byte of p[0..end) that is not plain_tab, or end. */
static inline const unsigned char *scan_plain(const unsigned char *p, const unsigned char *end)
{
	while (end - p >= 8) {
		uint64_t m = sonde__json_special8(load64(p));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (m)
			return p + (__builtin_ctzll(m) >> 3);
#else
		if (m)
			break;
#endif
		p += 8;
	}
	while (p < end && plain_tab[*p])
		p++;
	return p;
}

static inline size_t put_utf8(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* The value of the four hex digits at p, or -1. */
static inline int32_t hex4(const unsigned char *p)
{
	int32_t a = hex_val[p[0]] - 1, b = hex_val[p[1]] - 1, c = hex_val[p[2]] - 1, d = hex_val[p[3]] - 1;
	if ((a | b | c | d) < 0)
		return -1;
	return a << 12 | b << 8 | c << 4 | d;
}

/*
 * A \u escape at p: appends its code point to the scratch buffer at *o (which has room
 * for 4 bytes) and returns the position after it, or NULL with the error set. A high
 * surrogate pairs with an escaped low one right after it; any other surrogate stands
 * alone and reads as U+FFFD.
 */
static const unsigned char *read_u_escape(sonde_json_reader *r, const unsigned char *p,
                                          const unsigned char *end, size_t *o)
{
	static const char bad_hex[] = "invalid \\u escape (expected 4 hex digits)";
	int32_t u = end - p >= 6 ? hex4(p + 2) : -1;
	if (u < 0) {
		fail_at(r, p, bad_hex);
		return NULL;
	}
	p += 6;
	uint32_t cp = (uint32_t)u;
	if (cp >= 0xD800 && cp <= 0xDFFF) {
		cp = 0xFFFD;
		if (u <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
			int32_t lo = hex4(p + 2);
			if (lo < 0) {
				fail_at(r, p, bad_hex);
				return NULL;
			}
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((uint32_t)(u - 0xD800) << 10) + (uint32_t)(lo - 0xDC00);
				p += 6;
			}
		}
	}
	*o += put_utf8(r->scratch + *o, cp);
	return p;
}

/*
 * The rest of a string from its first escape at p (start is the first byte of the
 * body): decodes into the scratch buffer. Returns the position after the closing quote,
 * or NULL with the error set.
 */
static __attribute__((noinline)) const unsigned char *read_escaped(sonde_json_reader *r,
                                                                   const unsigned char *start,
                                                                   const unsigned char *p,
                                                                   const unsigned char *end)
{
	size_t o = (size_t)(p - start);
	if (reserve_scratch(r, o + 64) < 0)
		goto oom;
	memcpy(r->scratch, start, o);
	for (;;) {
		/* p is at a byte that is not plain (or at end). */
		if (UNLIKELY(p == end)) {
			fail_at(r, p, "unexpected end of input in string");
			return NULL;
		}
		unsigned c = *p;
		if (c == '"') {
			r->str = r->scratch;
			r->str_len = o;
			return p + 1;
		}
		/* Room for the longest thing one step can write (4 bytes). */
		if (reserve_scratch(r, o + 4) < 0)
			goto oom;
		if (c == '\\') {
			if (end - p < 2) {
				fail_at(r, end, "unexpected end of input in string");
				return NULL;
			}
			unsigned e = p[1];
			char ch;
			switch (e) {
			case '"': ch = '"'; break;
			case '\\': ch = '\\'; break;
			case '/': ch = '/'; break;
			case 'b': ch = '\b'; break;
			case 'f': ch = '\f'; break;
			case 'n': ch = '\n'; break;
			case 'r': ch = '\r'; break;
			case 't': ch = '\t'; break;
			case 'u':
				p = read_u_escape(r, p, end, &o);
				if (!p)
					return NULL;
				goto plain;
			default: fail_at(r, p, "invalid escape"); return NULL;
			}
			r->scratch[o++] = ch;
			p += 2;
		} else if (c < 0x20) {
			fail_at(r, p, "control character in string (must be escaped)");
			return NULL;
		} else {
			size_t k = sonde__utf8_len(p, end);
			if (!k) {
				fail_at(r, p, "invalid UTF-8 in string");
				return NULL;
			}
			memcpy(r->scratch + o, p, k);
			o += k;
			p += k;
		}
	plain:;
		const unsigned char *q = scan_plain(p, end);
		size_t n = (size_t)(q - p);
		if (reserve_scratch(r, o + n + 4) < 0)
			goto oom;
		memcpy(r->scratch + o, p, n);
		o += n;
		p = q;
	}
oom:
	fail_at(r, p, "out of memory");
	return NULL;
}

/* A string whose opening quote is at p[-1]. Returns the position after the closing quote,
 * or NULL with the error set. */
static inline const unsigned char *read_string(sonde_json_reader *r, const unsigned char *p,
                                               const unsigned char *end)
{
	const unsigned char *start = p;
	for (;;) {
		p = scan_plain(p, end);
		if (UNLIKELY(p == end)) {
			fail_at(r, p, "unexpected end of input in string");
			return NULL;
		}
		unsigned c = *p;
		if (LIKELY(c == '"')) {
			r->str = (const char *)start;
			r->str_len = (size_t)(p - start);
			return p + 1;
		}
		if (c == '\\')
			return read_escaped(r, start, p, end);
		if (c < 0x20) {
			fail_at(r, p, "control character in string (must be escaped)");
			return NULL;
		}
		size_t k = sonde__utf8_len(p, end);
		if (!k) {
			fail_at(r, p, "invalid UTF-8 in string");
			return NULL;
		}
		p += k;
	}
}

static inline uint8_t state_after_value(const sonde_json_reader *r)
{
	if (!r->depth)
		return ST_DONE;
	return r->stack[r->depth - 1] == 'o' ? ST_OBJ_NEXT : ST_ARR_NEXT;
}

sonde_json_tok sonde_json_next(sonde_json_reader *r)
{
	if (r->peeked) {
		r->peeked = false;
		return r->peek_tok;
	}
	if (UNLIKELY(r->failed))
		return SONDE_JSON_ERROR;
	const unsigned char *p = (const unsigned char *)r->pos;
	const unsigned char *const end = (const unsigned char *)r->end;
	sonde_json_tok tok;

	p = skip_ws(p, end);
	switch (r->state) {
	case ST_VALUE: goto value;
	case ST_OBJ_FIRST:
		if (p < end && *p == '}')
			goto close;
		if (p < end && *p != '"')
			return fail_at(r, p, "expected string as object key or '}'");
		goto key;
	case ST_OBJ_COLON:
		if (LIKELY(p < end && *p == ':')) {
			p = skip_ws(p + 1, end);
			goto value;
		}
		if (p == end)
			goto eof;
		return fail_at(r, p, "expected ':' after object key");
	case ST_OBJ_NEXT:
		if (LIKELY(p < end && *p == ',')) {
			p = skip_ws(p + 1, end);
			if (p < end && *p != '"')
				return fail_at(r, p, "expected string as object key");
			goto key;
		}
		if (p < end && *p == '}')
			goto close;
		if (p == end)
			goto eof;
		return fail_at(r, p, "expected ',' or '}' after object member");
	case ST_ARR_FIRST:
		if (p < end && *p == ']')
			goto close;
		goto value;
	case ST_ARR_NEXT:
		if (LIKELY(p < end && *p == ',')) {
			p = skip_ws(p + 1, end);
			goto value;
		}
		if (p < end && *p == ']')
			goto close;
		if (p == end)
			goto eof;
		return fail_at(r, p, "expected ',' or ']' after array element");
	case ST_DONE:
		r->pos = (const char *)p;
		r->tok_start = (const char *)p;
		if (p == end)
			return SONDE_JSON_EOF;
		return fail_at(r, p, "unexpected data after the top-level value");
	default: return fail_at(r, p, "reader state corrupted");
	}

key:
	if (UNLIKELY(p == end))
		goto eof;
	r->tok_start = (const char *)p;
	p = read_string(r, p + 1, end);
	if (UNLIKELY(!p))
		return SONDE_JSON_ERROR;
	r->pos = (const char *)p;
	r->state = ST_OBJ_COLON;
	return SONDE_JSON_KEY;

close:
	/* p is at the '}' or ']' that the state allows. */
	r->tok_start = (const char *)p;
	r->depth--;
	r->pos = (const char *)(p + 1);
	r->state = state_after_value(r);
	return *p == '}' ? SONDE_JSON_OBJ_END : SONDE_JSON_ARR_END;

value:
	if (UNLIKELY(p == end))
		goto eof;
	r->tok_start = (const char *)p;
	switch (*p) {
	case '"':
		p = read_string(r, p + 1, end);
		if (UNLIKELY(!p))
			return SONDE_JSON_ERROR;
		tok = SONDE_JSON_STRING;
		break;
	case '{':
	case '[':
		if (UNLIKELY(r->depth >= SONDE_JSON_MAX_DEPTH))
			return fail_at(r, p, "nesting deeper than 512");
		if (*p == '{') {
			r->stack[r->depth++] = 'o';
			r->state = ST_OBJ_FIRST;
			tok = SONDE_JSON_OBJ_BEGIN;
		} else {
			r->stack[r->depth++] = 'a';
			r->state = ST_ARR_FIRST;
			tok = SONDE_JSON_ARR_BEGIN;
		}
		r->pos = (const char *)(p + 1);
		return tok;
	case '-':
	case '0' ... '9': {
		const unsigned char *s = p;
		if (*p == '-') {
			p++;
			if (p == end || !isdig(*p))
				return fail_at(r, p, "expected digit after '-'");
		}
		if (*p == '0') {
			p++;
			if (p < end && isdig(*p))
				return fail_at(r, p, "leading zeros are not allowed in numbers");
		} else {
			while (p < end && isdig(*p))
				p++;
		}
		if (p < end && *p == '.') {
			p++;
			if (p == end || !isdig(*p))
				return fail_at(r, p, "expected digit after '.' in number");
			while (p < end && isdig(*p))
				p++;
		}
		if (p < end && (*p | 0x20) == 'e') {
			p++;
			if (p < end && (*p == '+' || *p == '-'))
				p++;
			if (p == end || !isdig(*p))
				return fail_at(r, p, "expected digit in exponent");
			while (p < end && isdig(*p))
				p++;
		}
		r->num = (const char *)s;
		r->num_len = (size_t)(p - s);
		tok = SONDE_JSON_NUMBER;
		break;
	}
	case 't':
		if (end - p < 4 || memcmp(p, "true", 4))
			return fail_at(r, p, "expected value");
		p += 4;
		tok = SONDE_JSON_TRUE;
		break;
	case 'f':
		if (end - p < 5 || memcmp(p, "false", 5))
			return fail_at(r, p, "expected value");
		p += 5;
		tok = SONDE_JSON_FALSE;
		break;
	case 'n':
		if (end - p < 4 || memcmp(p, "null", 4))
			return fail_at(r, p, "expected value");
		p += 4;
		tok = SONDE_JSON_NULL;
		break;
	case ']':
		return fail_at(r, p, r->state == ST_ARR_NEXT ? "expected value after ','" : "expected value");
	default: return fail_at(r, p, "expected value");
	}
	r->pos = (const char *)p;
	r->state = state_after_value(r);
	return tok;

eof:
	return fail_at(r, p, "unexpected end of input");
}

sonde_json_tok sonde_json_peek(sonde_json_reader *r)
{
	if (r->peeked)
		return r->peek_tok;
	sonde_json_tok t = sonde_json_next(r);
	if (t != SONDE_JSON_ERROR) {
		r->peeked = true;
		r->peek_tok = t;
	}
	return t;
}

int sonde_json_enter_object(sonde_json_reader *r)
{
	sonde_json_tok t = sonde_json_next(r);
	if (LIKELY(t == SONDE_JSON_OBJ_BEGIN))
		return 0;
	return t == SONDE_JSON_ERROR ? status_of(r) : fail_tok(r, "expected object");
}

int sonde_json_enter_array(sonde_json_reader *r)
{
	sonde_json_tok t = sonde_json_next(r);
	if (LIKELY(t == SONDE_JSON_ARR_BEGIN))
		return 0;
	return t == SONDE_JSON_ERROR ? status_of(r) : fail_tok(r, "expected array");
}

int sonde_json_next_key(sonde_json_reader *r, const char **key, size_t *key_len)
{
	sonde_json_tok t = sonde_json_next(r);
	if (LIKELY(t == SONDE_JSON_KEY)) {
		*key = r->str;
		*key_len = r->str_len;
		return 1;
	}
	if (t == SONDE_JSON_OBJ_END)
		return 0;
	return t == SONDE_JSON_ERROR ? status_of(r) : fail_tok(r, "expected object member");
}

int sonde_json_next_elem(sonde_json_reader *r)
{
	sonde_json_tok t = sonde_json_peek(r);
	switch (t) {
	case SONDE_JSON_ERROR: return status_of(r);
	case SONDE_JSON_ARR_END: r->peeked = false; return 0;
	case SONDE_JSON_OBJ_BEGIN:
	case SONDE_JSON_ARR_BEGIN:
	case SONDE_JSON_STRING:
	case SONDE_JSON_NUMBER:
	case SONDE_JSON_TRUE:
	case SONDE_JSON_FALSE:
	case SONDE_JSON_NULL: return 1;
	default: return fail_tok(r, "expected array element");
	}
}

const char *sonde_json_raw_object(sonde_json_reader *r)
{
	if (sonde_json_peek(r) != SONDE_JSON_OBJ_BEGIN)
		return NULL;
	return r->pos; /* the peek entered the object: pos is past its '{' */
}

void sonde_json_raw_object_end(sonde_json_reader *r, const char *after)
{
	/* As the '}' would: leave the container the peek entered. */
	r->peeked = false;
	r->depth--;
	r->pos = after;
	r->tok_start = after - 1;
	r->state = state_after_value(r);
}

int sonde_json_skip(sonde_json_reader *r)
{
	sonde_json_tok t = sonde_json_next(r);
	switch (t) {
	case SONDE_JSON_ERROR: return status_of(r);
	case SONDE_JSON_STRING:
	case SONDE_JSON_NUMBER:
	case SONDE_JSON_TRUE:
	case SONDE_JSON_FALSE:
	case SONDE_JSON_NULL: return 0;
	case SONDE_JSON_OBJ_BEGIN:
	case SONDE_JSON_ARR_BEGIN: break;
	default: return fail_tok(r, "expected value");
	}
	/* The reader checks the nesting; only its level matters here. */
	uint32_t stop = r->depth - 1;
	while (r->depth > stop) {
		if (sonde_json_next(r) == SONDE_JSON_ERROR)
			return status_of(r);
	}
	return 0;
}

int sonde_json_read_str(sonde_json_reader *r, const char **s, size_t *n)
{
	sonde_json_tok t = sonde_json_next(r);
	if (LIKELY(t == SONDE_JSON_STRING)) {
		*s = r->str;
		*n = r->str_len;
		return 0;
	}
	return t == SONDE_JSON_ERROR ? status_of(r) : fail_tok(r, "expected string");
}

/* Reads a number or string token as an integer: sign and magnitude. */
static int read_int(sonde_json_reader *r, bool *neg, uint64_t *mag)
{
	sonde_json_tok t = sonde_json_next(r);
	const char *s;
	size_t n;
	if (t == SONDE_JSON_NUMBER) {
		s = r->num;
		n = r->num_len;
	} else if (t == SONDE_JSON_STRING) {
		s = r->str;
		n = r->str_len;
	} else {
		return t == SONDE_JSON_ERROR ? status_of(r) : fail_tok(r, "expected integer");
	}
	int rc = sonde__json_parse_int(s, n, neg, mag);
	if (rc == SONDE_ELIMIT)
		return fail_tok(r, "integer out of range");
	if (rc < 0)
		return fail_tok(r, "expected integer");
	return 0;
}

int sonde_json_read_i64(sonde_json_reader *r, int64_t *out)
{
	bool neg;
	uint64_t mag;
	int rc = read_int(r, &neg, &mag);
	if (rc < 0)
		return rc;
	if (neg) {
		if (mag > (uint64_t)INT64_MAX + 1)
			return fail_tok(r, "integer out of range");
		*out = mag ? (int64_t)(0 - mag) : 0;
	} else {
		if (mag > (uint64_t)INT64_MAX)
			return fail_tok(r, "integer out of range");
		*out = (int64_t)mag;
	}
	return 0;
}

int sonde_json_read_u64(sonde_json_reader *r, uint64_t *out)
{
	bool neg;
	uint64_t mag;
	int rc = read_int(r, &neg, &mag);
	if (rc < 0)
		return rc;
	if (neg && mag)
		return fail_tok(r, "integer out of range");
	*out = mag;
	return 0;
}

int sonde_json_read_f64(sonde_json_reader *r, double *out)
{
	sonde_json_tok t = sonde_json_next(r);
	const char *s;
	size_t n;
	if (t == SONDE_JSON_NUMBER) {
		s = r->num;
		n = r->num_len;
	} else if (t == SONDE_JSON_STRING) {
		s = r->str;
		n = r->str_len;
		if (n == 3 && !memcmp(s, "NaN", 3)) {
			*out = __builtin_nan("");
			return 0;
		}
		if (n == 8 && !memcmp(s, "Infinity", 8)) {
			*out = __builtin_inf();
			return 0;
		}
		if (n == 9 && !memcmp(s, "-Infinity", 9)) {
			*out = -__builtin_inf();
			return 0;
		}
	} else {
		return t == SONDE_JSON_ERROR ? status_of(r) : fail_tok(r, "expected number");
	}
	int rc = sonde_json_parse_double(s, n, out);
	if (rc == -ENOMEM) {
		r->oom = true;
		return fail_tok(r, "out of memory");
	}
	if (rc < 0)
		return fail_tok(r, "expected number");
	return 0;
}

int sonde_json_read_bool(sonde_json_reader *r, bool *out)
{
	sonde_json_tok t = sonde_json_next(r);
	if (t == SONDE_JSON_TRUE || t == SONDE_JSON_FALSE) {
		*out = t == SONDE_JSON_TRUE;
		return 0;
	}
	return t == SONDE_JSON_ERROR ? status_of(r) : fail_tok(r, "expected true or false");
}

int sonde_json_finish(sonde_json_reader *r)
{
	if (r->failed)
		return status_of(r);
	if (r->peeked ? r->peek_tok != SONDE_JSON_EOF : r->state != ST_DONE) {
		const char *at = r->peeked ? r->tok_start : r->pos;
		set_error(r, at, "expected end of the top-level value");
		return SONDE_EPARSE;
	}
	sonde_json_tok t = sonde_json_next(r);
	if (t == SONDE_JSON_EOF)
		return 0;
	return t == SONDE_JSON_ERROR ? status_of(r)
	                             : fail_tok(r, "unexpected data after the top-level value");
}

int sonde_json_fail(sonde_json_reader *r, const char *msg)
{
	set_error(r, r->tok_start, msg);
	return SONDE_EPARSE;
}

size_t sonde_json_line_of(const sonde_json_reader *r, size_t offset)
{
	size_t len = (size_t)(r->end - r->buf);
	if (offset > len)
		offset = len;
	size_t line = 1;
	const char *p = r->buf, *end = r->buf + offset;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		line++;
		p++;
	}
	return line;
}
