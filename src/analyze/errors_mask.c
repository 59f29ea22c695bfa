/*
 * errors_mask.c - the fallback templater of `sonde errors`: masks the parts of a message
 * that vary between occurrences of one failure so that they group together. It stands in
 * until the log template miner (logmine) is plugged in through sonde_errors_templater.
 *
 * Rules, applied left to right in one pass:
 *  - a quoted string ('...' or "..." opened after a non-word character, closed on the same
 *    line within 256 bytes) becomes <*>;
 *  - a word holding a digit becomes <*>. Words are split at white space and at
 *    , ; ( ) [ ] { } < > = / and quotes, so numbers, hex (0x1f, deadbeef01), UUIDs,
 *    IPv4/IPv6 addresses with their port (10.0.0.1:8080), durations (250ms) and ids with
 *    digits in them (req-8f3a) all go, while the words around them stay.
 * The template id is a 64-bit hash of the masked text.
 *
 * sonde_errors_shape() splits words the same way, without the quote rule, for the cache
 * of the miner templater (errors_miner.c).
 */
#include "errors.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hash.h"

/* Bytes that end a word: white space, , ; ( ) [ ] { } < > = / and quotes. */
static const unsigned char delim[256] = {
        [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [','] = 1, [';'] = 1, ['('] = 1, [')'] = 1, ['['] = 1,
        [']'] = 1, ['{'] = 1,  ['}'] = 1,  ['<'] = 1,  ['>'] = 1, ['='] = 1, ['/'] = 1, ['"'] = 1, ['\''] = 1,
};

static bool is_delim(unsigned char c)
{
	return delim[c];
}

static bool is_word(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       c >= 0x80;
}

void sonde_errors_mask(const char *s, size_t n, sonde_buf *out)
{
	/* The output is never longer than three bytes per input byte ("<*>" for a one-byte
	 * word): room is made once, then bytes are written directly. */
	if (n > (SIZE_MAX - 1) / 3) {
		out->oom = true;
		return;
	}
	if (sonde_buf_grow(out, 3 * n) < 0)
		return;
	char *o = out->data + out->len;
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if ((c == '"' || c == '\'') && (i == 0 || !is_word((unsigned char)s[i - 1]))) {
			size_t lim = n - i - 1 < 256 ? n - i - 1 : 256, j;
			for (j = 1; j <= lim; j++)
				if (s[i + j] == (char)c || s[i + j] == '\n')
					break;
			if (j <= lim && s[i + j] == (char)c) {
				memcpy(o, "<*>", 3);
				o += 3;
				i += j + 1;
				continue;
			}
			*o++ = (char)c;
			i++;
			continue;
		}
		if (is_delim(c)) {
			*o++ = (char)c;
			i++;
			continue;
		}
		size_t j = i;
		bool digit = false;
		while (j < n && !is_delim((unsigned char)s[j])) {
			digit |= (unsigned char)(s[j] - '0') < 10;
			j++;
		}
		if (digit) {
			memcpy(o, "<*>", 3);
			o += 3;
		} else {
			memcpy(o, s + i, j - i);
			o += j - i;
		}
		i = j;
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
}

static uint64_t mask_template_of(void *ctx, const char *body, size_t len, const char **template_text)
{
	sonde_buf *b = ctx;
	sonde_buf_reset(b);
	sonde_errors_mask(body, len, b);
	if (b->oom || !b->data) {
		*template_text = NULL;
		return 0;
	}
	*template_text = b->data;
	return sonde_hash_bytes(b->data, b->len, 0x5e770e77);
}

sonde_errors_templater sonde_errors_mask_templater(sonde_buf *scratch)
{
	sonde_errors_templater t = {.template_of = mask_template_of, .ctx = scratch};
	return t;
}

/* Byte classes of the shape: 0 a word byte, 1 a delimiter, 2 a digit. */
static const unsigned char shape_cls[256] = {
        [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [','] = 1, [';'] = 1, ['('] = 1,
        [')'] = 1, ['['] = 1,  [']'] = 1,  ['{'] = 1,  ['}'] = 1, ['<'] = 1, ['>'] = 1,
        ['='] = 1, ['/'] = 1,  ['"'] = 1,  ['\''] = 1, ['0'] = 2, ['1'] = 2, ['2'] = 2,
        ['3'] = 2, ['4'] = 2,  ['5'] = 2,  ['6'] = 2,  ['7'] = 2, ['8'] = 2, ['9'] = 2,
};

#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* A nonzero mask whose lowest set bit is in the first byte of w holding a digit, or 0. */
static inline uint64_t first_digit(uint64_t w)
{
	uint64_t t = w ^ (ONES * '0'); /* digits become 0..9 */
	return (t - ONES * 10) & ~t & HIGHS;
}

/* What a word holding a digit is made of, besides digits: these decide which placeholder
 * the miner makes of it (<NUM>, <HEX>, <IP>, <ID>, ...), so words that differ in them get
 * different shapes. 1: a hex letter, 2: another letter, 4: a dot, 8: other punctuation or
 * a byte of UTF-8; 16 (set from the length): eight bytes or more. */
static unsigned word_flags(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return 0;
	if (c == '.')
		return 4;
	unsigned char l = c | 0x20; /* letters to lowercase; no other byte becomes a letter */
	if (l >= 'a' && l <= 'f')
		return 1;
	return l >= 'g' && l <= 'z' ? 2 : 8;
}

/* The shape of one piece s[0..n) into tmp (room for 2 n bytes); returns its length. Eight
 * bytes without a digit are copied at once; at a digit, the copy goes back to the start
 * of its word and writes two bytes for the whole word: 0x01 (never in text that matters)
 * and 0x40 + its word_flags(). */
static size_t shape_piece(const unsigned char *s, size_t n, unsigned char *tmp)
{
	size_t i = 0, o = 0;
	while (i < n) {
		if (i + 8 <= n) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			uint64_t d = first_digit(w);
			if (!d) {
				memcpy(tmp + o, &w, 8);
				i += 8;
				o += 8;
				continue;
			}
			size_t k = (size_t)__builtin_ctzll(d) / 8;
			memcpy(tmp + o, s + i, k);
			i += k;
			o += k;
		} else {
			unsigned char c = s[i];
			if (shape_cls[c] != 2) {
				tmp[o++] = c;
				i++;
				continue;
			}
		}
		/* s[i] is a digit: the word it is in becomes the two bytes. */
		unsigned flags = 0;
		size_t len = 0;
		for (; o && shape_cls[tmp[o - 1]] != 1; o--, len++)
			flags |= word_flags(tmp[o - 1]);
		for (; i < n && shape_cls[s[i]] != 1; i++, len++)
			flags |= word_flags(s[i]);
		tmp[o++] = 1;
		tmp[o++] = (unsigned char)(0x40 | flags | (len >= 8 ? 16 : 0));
	}
	return o;
}

uint64_t sonde_errors_shape(const char *s, size_t n)
{
	unsigned char tmp[4096]; /* twice MAX_MESSAGE of errors.c: one piece for any message */
	uint64_t h = 0x5ba9e;
	while (n) {
		size_t take = n < sizeof(tmp) / 2 ? n : sizeof(tmp) / 2;
		size_t o = shape_piece((const unsigned char *)s, take, tmp);
		h = sonde_hash_bytes(tmp, o, h);
		s += take;
		n -= take;
	}
	return h | 1;
}
