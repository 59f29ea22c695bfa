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
	sonde_errors_templater t = {mask_template_of, scratch};
	return t;
}
