/*
 * redact.c - the secret detectors behind redact.h.
 *
 * One left-to-right scan: at each position the detectors are tried in a fixed order and
 * the first that matches replaces its span; text between matches is copied. Detectors
 * anchor on cheap first characters (a digit, 'e', 'A', '-', 'B'/'b', '@'), so ordinary
 * text costs a table lookup per byte.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "redact.h"

/* ---- Character classes --------------------------------------------------------------- */

static inline bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_upper_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || is_digit(c);
}

static inline bool is_alnum(unsigned char c)
{
	return is_upper_alnum(c) || (c >= 'a' && c <= 'z');
}

static inline bool is_b64url(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '_';
}

/* RFC 6750 b64token characters. */
static inline bool is_b64token(unsigned char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/';
}

static inline unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* A word boundary before p: start of text or a character that is not alphanumeric. */
static inline bool boundary_before(const unsigned char *s, size_t i)
{
	return i == 0 || !is_alnum(s[i - 1]);
}

static inline bool boundary_at(const unsigned char *s, size_t n, size_t i)
{
	return i >= n || !is_alnum(s[i]);
}

/* ---- Detectors: each returns the length of the secret starting at s[i], or 0 -------- */

/* header.payload.signature, where header and payload are base64url JSON objects (so they
 * start with "eyJ", the encoding of '{"'). */
static size_t match_jwt(const unsigned char *s, size_t n, size_t i)
{
	if (n - i < 10 || memcmp(s + i, "eyJ", 3) != 0 || !boundary_before(s, i))
		return 0;
	size_t j = i, parts = 0;
	for (;;) {
		size_t start = j;
		while (j < n && is_b64url(s[j]))
			j++;
		if (j - start < (parts < 2 ? 4u : 1u))
			return 0;
		if (parts == 1 && memcmp(s + start, "eyJ", 3) != 0)
			return 0;
		parts++;
		if (parts == 3)
			return j - i;
		if (j >= n || s[j] != '.')
			return 0;
		j++;
	}
}

/* "Bearer <token>": the token is replaced, the scheme kept. Returns the token's length and
 * its offset from i in *skip. */
static size_t match_bearer(const unsigned char *s, size_t n, size_t i, size_t *skip)
{
	static const char scheme[] = "bearer";
	if (n - i < 8 || lower(s[i]) != 'b' || !boundary_before(s, i))
		return 0;
	for (size_t k = 0; k < 6; k++)
		if (lower(s[i + k]) != (unsigned char)scheme[k])
			return 0;
	size_t j = i + 6;
	if (s[j] != ' ' && s[j] != '\t')
		return 0;
	while (j < n && (s[j] == ' ' || s[j] == '\t'))
		j++;
	size_t start = j;
	while (j < n && is_b64token(s[j]))
		j++;
	while (j < n && s[j] == '=')
		j++;
	if (j - start < 8)
		return 0;
	*skip = start - i;
	return j - start;
}

/* AWS access key ids: a four-letter kind prefix and 16 upper-case letters or digits. */
static size_t match_aws_key(const unsigned char *s, size_t n, size_t i)
{
	static const char *const prefixes[] = {"AKIA", "ASIA", "AGPA", "AIDA", "AROA",
	                                       "AIPA", "ANPA", "ANVA", "APKA"};
	if (n - i < 20 || s[i] != 'A' || !boundary_before(s, i) || !boundary_at(s, n, i + 20))
		return 0;
	bool known = false;
	for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]) && !known; k++)
		known = memcmp(s + i, prefixes[k], 4) == 0;
	if (!known)
		return 0;
	for (size_t k = 4; k < 20; k++)
		if (!is_upper_alnum(s[i + k]))
			return 0;
	return 20;
}

static const unsigned char *find(const unsigned char *s, size_t n, const char *needle)
{
	size_t m = strlen(needle);
	for (size_t i = 0; i + m <= n; i++)
		if (s[i] == (unsigned char)needle[0] && memcmp(s + i, needle, m) == 0)
			return s + i;
	return NULL;
}

/* A PEM private key block, from "-----BEGIN ... PRIVATE KEY-----" to its END line (or to
 * the end of the text when the END line is missing: a cut key is still a key). A header
 * without PRIVATE KEY whose closing dashes run into another BEGIN ("-----BEGIN -----BEGIN
 * RSA PRIVATE KEY-----") joins the block that follows: replacing that block alone would
 * leave the outer header running on past the marker, into a block of its own on a second
 * look (found by fuzz_redact). */
static size_t match_pem(const unsigned char *s, size_t n, size_t i)
{
	size_t b = i, head;
	for (;;) {
		if (n - b < 16 || memcmp(s + b, "-----BEGIN ", 11) != 0)
			return 0;
		const unsigned char *eol = find(s + b + 11, n - b - 11, "-----");
		if (!eol)
			return 0;
		head = (size_t)(eol - s);
		if (find(s + b + 11, head - b - 11, "PRIVATE KEY"))
			break;
		b = head; /* the header's closing dashes: the last five of the run may begin one */
		while (b + 5 < n && s[b + 5] == '-')
			b++;
	}
	const unsigned char *end = find(s + head + 5, n - head - 5, "-----END ");
	if (!end)
		return n - i;
	const unsigned char *close = find(end + 9, (size_t)(s + n - end - 9), "-----");
	return close ? (size_t)(close + 5 - (s + i)) : n - i;
}

/* Payment card numbers: 13 to 19 digits, optionally grouped by single spaces or dashes,
 * starting with an issuer prefix (2-6) and passing the Luhn check. Order ids, epoch
 * milliseconds and phone numbers fail one test or the other. */
static size_t match_card(const unsigned char *s, size_t n, size_t i, size_t *run_end)
{
	*run_end = i + 1;
	if (!is_digit(s[i]) || !boundary_before(s, i))
		return 0;
	unsigned char digits[19];
	size_t nd = 0, j = i, end = i;
	bool too_long = false;
	while (j < n) {
		if (is_digit(s[j])) {
			if (nd == 19)
				too_long = true; /* some other number: no part of it is a card */
			else
				digits[nd++] = s[j] - '0';
			end = ++j;
		} else if ((s[j] == ' ' || s[j] == '-') && j + 1 < n && is_digit(s[j + 1]) && nd > 0) {
			j++;
		} else {
			break;
		}
	}
	*run_end = end;
	if (too_long || nd < 13 || s[i] < '2' || s[i] > '6' || !boundary_at(s, n, end))
		return 0;
	unsigned sum = 0;
	for (size_t k = 0; k < nd; k++) {
		unsigned d = digits[nd - 1 - k];
		if (k & 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0 ? end - i : 0;
}

/* US social security numbers, ddd-dd-dddd, with the rules the SSA assigns by: area not
 * 000, 666 or 9xx; group not 00; serial not 0000. */
static size_t match_ssn(const unsigned char *s, size_t n, size_t i)
{
	if (n - i < 11 || !boundary_before(s, i) || !boundary_at(s, n, i + 11) || s[i + 3] != '-' ||
	    s[i + 6] != '-')
		return 0;
	static const int pos[] = {0, 1, 2, 4, 5, 7, 8, 9, 10};
	for (size_t k = 0; k < 9; k++)
		if (!is_digit(s[i + pos[k]]))
			return 0;
	if (i > 0 && (s[i - 1] == '-' || s[i - 1] == '.'))
		return 0; /* part of a longer dashed number or a version */
	if (i + 11 < n && s[i + 11] == '-')
		return 0;
	int area = (s[i] - '0') * 100 + (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
	int group = (s[i + 4] - '0') * 10 + (s[i + 5] - '0');
	bool serial_zero = !memcmp(s + i + 7, "0000", 4);
	if (area == 0 || area == 666 || area >= 900 || group == 0 || serial_zero)
		return 0;
	return 11;
}

/* E-mail addresses: local@domain.tld. Returns the length from the start of the local part,
 * which begins *back bytes before i (i is the '@'). */
static size_t match_email(const unsigned char *s, size_t n, size_t i, size_t *back)
{
	if (s[i] != '@' || i == 0)
		return 0;
	size_t a = i;
	while (a > 0 && (is_alnum(s[a - 1]) || s[a - 1] == '.' || s[a - 1] == '_' || s[a - 1] == '%' ||
	                 s[a - 1] == '+' || s[a - 1] == '-'))
		a--;
	if (a == i)
		return 0;
	size_t j = i + 1;
	while (j < n && (is_alnum(s[j]) || s[j] == '-' || s[j] == '.'))
		j++;
	/* The domain: the longest run of labels that ends with a dot inside it and a
	 * top-level label of two or more characters. A shorter last label is left out rather
	 * than the whole address: otherwise "a@b.example.c", cut before ".c" by a neighbour's
	 * replacement, would be an address only on a second pass. A sentence's full stop is
	 * not part of the domain either. */
	for (;;) {
		while (j > i + 1 && s[j - 1] == '.')
			j--;
		size_t last_dot = j;
		while (last_dot > i + 1 && s[last_dot - 1] != '.')
			last_dot--;
		if (last_dot <= i + 2)
			return 0;
		if (j - last_dot >= 2)
			break;
		j = last_dot - 1;
	}
	*back = i - a;
	return j - a;
}

/* ---- The scan ------------------------------------------------------------------------- */

static void marker(sonde_buf *out, const char *what)
{
	sonde_buf_puts(out, "[redacted: ");
	sonde_buf_puts(out, what);
	sonde_buf_putc(out, ']');
}

/* One scan of s[0, n): appends it to out with every secret-looking span replaced. Returns
 * how many were. */
static int scan(const sonde__redactor *r, const unsigned char *s, size_t n, sonde_buf *out)
{
	int count = 0;
	size_t copied = 0; /* s[copied, i) is waiting to be copied */
	for (size_t i = 0; i < n;) {
		size_t len = 0, skip = 0, back = 0, run_end = 0;
		const char *what = NULL;
		unsigned char c = s[i];
		if (c == 'e' && (len = match_jwt(s, n, i)))
			what = "jwt";
		else if ((c == 'B' || c == 'b') && (len = match_bearer(s, n, i, &skip)))
			what = "bearer token";
		else if (c == 'A' && (len = match_aws_key(s, n, i)))
			what = "aws access key";
		else if (c == '-' && (len = match_pem(s, n, i)))
			what = "private key";
		else if (is_digit(c) && (len = match_ssn(s, n, i)))
			what = "ssn";
		else if (is_digit(c) && (len = match_card(s, n, i, &run_end)))
			what = "card number";
		else if (c == '@' && (r->flags & SONDE__REDACT_EMAIL) && (len = match_email(s, n, i, &back)))
			what = "email";
		if (!what) {
			/* A digit run that is no card is skipped whole: no part of it is one. */
			i = is_digit(c) && run_end > i ? run_end : i + 1;
			continue;
		}
		size_t from = i + skip - back; /* the secret's first byte */
		if (from < copied)
			from = copied;
		sonde_buf_append(out, s + copied, from - copied);
		marker(out, what);
		count++;
		i = i + skip - back + len;
		copied = i;
	}
	sonde_buf_append(out, s + copied, n - copied);
	return count;
}

/* Passes after the first that found something, at most (each pass that replaces consumes
 * what made a secret, so the text settles in a pass or two). */
enum { MAX_PASSES = 8 };

int sonde__redact_text(const sonde__redactor *r, const char *text, size_t n, sonde_buf *out)
{
	size_t limit = r->max_value_len && n > r->max_value_len ? r->max_value_len : n;
	size_t start_len = out->len;
	int count = 0;
	if (r->flags & SONDE__REDACT_OFF) {
		sonde_buf_append(out, text, limit);
	} else {
		int k = count = scan(r, (const unsigned char *)text, n, out);
		/* A replacement can make a secret of what was around it, one that the scan had
		 * passed over (an address that took a PEM header's closing dashes for a domain
		 * label left the header running on: found by fuzz_redact): scan the result again
		 * until a pass replaces nothing, so that the output holds nothing a scan would
		 * replace. Only text that had a secret pays for it (on the exporter thread). */
		sonde_buf tmp = SONDE_BUF_INIT;
		for (int pass = 0; k > 0 && pass < MAX_PASSES && !out->oom; pass++) {
			sonde_buf_reset(&tmp);
			sonde_buf_append(&tmp, out->data + start_len, out->len - start_len);
			if (tmp.oom) {
				out->oom = true;
				break;
			}
			out->len = start_len;
			k = scan(r, (const unsigned char *)tmp.data, tmp.len, out);
			count += k;
		}
		sonde_buf_release(&tmp);
		/* Cut after redaction, so that no secret is half-kept by the cut. */
		if (r->max_value_len && out->len - start_len > r->max_value_len)
			out->len = start_len + r->max_value_len;
	}
	if (r->max_value_len && n > r->max_value_len) {
		/* Do not end inside a UTF-8 sequence. */
		while (out->len > start_len && ((unsigned char)out->data[out->len - 1] & 0xC0) == 0x80)
			out->len--;
		if (out->len > start_len && ((unsigned char)out->data[out->len - 1] & 0xC0) == 0xC0)
			out->len--;
		sonde_buf_printf(out, "...[truncated from %zu bytes]", n);
	}
	return out->oom ? -ENOMEM : count;
}

/* ---- Keys ------------------------------------------------------------------------------ */

/* Compares case-insensitively, with '-' and '_' alike. */
static bool key_contains(const char *key, size_t len, const char *word)
{
	size_t m = strlen(word);
	for (size_t i = 0; i + m <= len; i++) {
		size_t k = 0;
		for (; k < m; k++) {
			unsigned char a = lower((unsigned char)key[i + k]), b = (unsigned char)word[k];
			if (a == '-')
				a = '_';
			if (a != b)
				break;
		}
		if (k == m)
			return true;
	}
	return false;
}

bool sonde__redact_key(const sonde__redactor *r, const char *key, size_t len)
{
	static const char *const words[] = {"password",    "passwd",    "secret",        "token",
	                                    "api_key",     "apikey",    "authorization", "cookie",
	                                    "private_key", "credential"};
	if (r->flags & SONDE__REDACT_OFF)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (key_contains(key, len, words[i]))
			return true;
	for (const char *p = r->extra_keys; p && *p;) {
		size_t m = strcspn(p, ",");
		size_t a = 0, b = m;
		while (a < b && p[a] == ' ')
			a++;
		while (b > a && p[b - 1] == ' ')
			b--;
		if (b > a && b - a == len) {
			size_t k = 0;
			while (k < len && lower((unsigned char)p[a + k]) == lower((unsigned char)key[k]))
				k++;
			if (k == len)
				return true;
		}
		p += m + (p[m] == ',');
	}
	return false;
}

int sonde__redact_key_marker(const char *key, size_t len, sonde_buf *out)
{
	sonde_buf_puts(out, "[redacted: ");
	sonde_buf_append(out, key, len);
	sonde_buf_putc(out, ']');
	return out->oom ? -ENOMEM : 0;
}
