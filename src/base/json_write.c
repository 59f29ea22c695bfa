/*
 * json_write.c - the JSON writer (see json.h): separators and indentation, string
 * escaping, and numbers.
 *
 * Each call reserves room for the most it can write and then stores straight into the
 * buffer, so the common case costs no per-byte bounds checks or function calls.
 */
#include <math.h>
#include <string.h>

#include "json.h"

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static const char spaces[] = "                                                                ";

static void newline_indent(sonde_json_writer *w)
{
	sonde_buf_putc(w->out, '\n');
	size_t n = (size_t)w->depth * (size_t)w->pretty;
	while (n) {
		size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
		sonde_buf_append(w->out, spaces, k);
		n -= k;
	}
}

/* Whatever must precede a value or a key: nothing after a key, else a comma after an
 * earlier sibling, and in pretty mode a new line. */
static inline void separate(sonde_json_writer *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth == 0) {
		if (w->need_comma)
			sonde_buf_putc(w->out, '\n');
		return;
	}
	if (w->need_comma)
		sonde_buf_putc(w->out, ',');
	if (w->pretty)
		newline_indent(w);
}

void sonde_json_writer_init(sonde_json_writer *w, sonde_buf *out, int pretty)
{
	w->out = out;
	w->depth = 0;
	w->need_comma = false;
	w->after_key = false;
	w->pretty = pretty > 0 ? pretty : 0;
}

static void open_container(sonde_json_writer *w, char c)
{
	separate(w);
	sonde_buf_putc(w->out, c);
	w->depth++;
	w->need_comma = false;
}

static void close_container(sonde_json_writer *w, char c)
{
	if (w->depth)
		w->depth--;
	if (w->pretty && w->need_comma)
		newline_indent(w);
	sonde_buf_putc(w->out, c);
	w->need_comma = true;
	w->after_key = false;
}

void sonde_json_obj_begin(sonde_json_writer *w)
{
	open_container(w, '{');
}

void sonde_json_obj_end(sonde_json_writer *w)
{
	close_container(w, '}');
}

void sonde_json_arr_begin(sonde_json_writer *w)
{
	open_container(w, '[');
}

void sonde_json_arr_end(sonde_json_writer *w)
{
	close_container(w, ']');
}

static const char hexdig[] = "0123456789abcdef";

/* Input bytes per reservation: bounds the worst case (6 output bytes per input byte)
 * for long strings. */
enum { STR_CHUNK = 4096 };

/* Appends s[0..n) as a quoted JSON string. */
static void write_string(sonde_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	bool first = true;
	do {
		size_t chunk = (size_t)(end - p) < STR_CHUNK ? (size_t)(end - p) : STR_CHUNK;
		/* 6 bytes per input byte, 3 more for a sequence that runs past the chunk,
		 * 8 for the word-at-a-time stores, the quotes. */
		if (sonde_buf_grow(b, 6 * (chunk + 3) + 8 + 2) < 0)
			return;
		char *o = b->data + b->len;
		if (first) {
			*o++ = '"';
			first = false;
		}
		const unsigned char *lim = p + chunk;
		while (p < lim) {
			/* Copy eight bytes at a time; keep only those before a special one. */
			while (lim - p >= 8) {
				uint64_t v = load64(p);
				uint64_t m = sonde__json_special8(v);
				memcpy(o, &v, 8);
				if (m) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
					unsigned k = (unsigned)__builtin_ctzll(m) >> 3;
					p += k;
					o += k;
#endif
					break;
				}
				p += 8;
				o += 8;
			}
			while (p < lim && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
				*o++ = (char)*p++;
			if (p >= lim)
				break;
			unsigned c = *p;
			if (c >= 0x80) {
				size_t k = sonde__utf8_len(p, end);
				if (k) {
					memcpy(o, p, k);
					o += k;
					p += k;
				} else {
					memcpy(o, "\xEF\xBF\xBD", 3);
					o += 3;
					p++;
				}
				continue;
			}
			*o++ = '\\';
			switch (c) {
			case '"': *o++ = '"'; break;
			case '\\': *o++ = '\\'; break;
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			case '\b': *o++ = 'b'; break;
			case '\f': *o++ = 'f'; break;
			default:
				memcpy(o, "u00", 3);
				o[3] = hexdig[c >> 4];
				o[4] = hexdig[c & 15];
				o += 5;
			}
			p++;
		}
		b->len = (size_t)(o - b->data);
		b->data[b->len] = '\0';
	} while (p < end);
	sonde_buf_putc(b, '"');
}

void sonde_json_key(sonde_json_writer *w, const char *k, size_t n)
{
	separate(w);
	write_string(w->out, k, n);
	if (w->pretty)
		sonde_buf_append(w->out, ": ", 2);
	else
		sonde_buf_putc(w->out, ':');
	w->need_comma = true;
	w->after_key = true;
}

void sonde_json_str(sonde_json_writer *w, const char *s, size_t n)
{
	separate(w);
	write_string(w->out, s, n);
	w->need_comma = true;
}

/* Appends text of at most 40 bytes produced by fmt straight into the buffer. */
#define APPEND_FORMATTED(b, fmt, v)                                 \
	do {                                                        \
		if (sonde_buf_grow((b), 40) == 0) {                 \
			(b)->len += fmt((b)->data + (b)->len, (v)); \
			(b)->data[(b)->len] = '\0';                 \
		}                                                   \
	} while (0)

void sonde_json_i64(sonde_json_writer *w, int64_t v)
{
	separate(w);
	APPEND_FORMATTED(w->out, sonde__json_fmt_i64, v);
	w->need_comma = true;
}

void sonde_json_u64(sonde_json_writer *w, uint64_t v)
{
	separate(w);
	APPEND_FORMATTED(w->out, sonde__json_fmt_u64, v);
	w->need_comma = true;
}

void sonde_json_i64_str(sonde_json_writer *w, int64_t v)
{
	separate(w);
	sonde_buf_putc(w->out, '"');
	APPEND_FORMATTED(w->out, sonde__json_fmt_i64, v);
	sonde_buf_putc(w->out, '"');
	w->need_comma = true;
}

void sonde_json_u64_str(sonde_json_writer *w, uint64_t v)
{
	separate(w);
	sonde_buf_putc(w->out, '"');
	APPEND_FORMATTED(w->out, sonde__json_fmt_u64, v);
	sonde_buf_putc(w->out, '"');
	w->need_comma = true;
}

void sonde_json_f64(sonde_json_writer *w, double v)
{
	separate(w);
	if (isnan(v))
		sonde_buf_append(w->out, "\"NaN\"", 5);
	else if (isinf(v))
		sonde_buf_puts(w->out, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		APPEND_FORMATTED(w->out, sonde__json_fmt_f64, v);
	w->need_comma = true;
}

void sonde_json_bool(sonde_json_writer *w, bool v)
{
	separate(w);
	if (v)
		sonde_buf_append(w->out, "true", 4);
	else
		sonde_buf_append(w->out, "false", 5);
	w->need_comma = true;
}

void sonde_json_null(sonde_json_writer *w)
{
	separate(w);
	sonde_buf_append(w->out, "null", 4);
	w->need_comma = true;
}

void sonde_json_raw(sonde_json_writer *w, const char *json, size_t n)
{
	separate(w);
	sonde_buf_append(w->out, json, n);
	w->need_comma = true;
}
