/*
 * logmine_mask.c - the miner's tokenizer: cuts a message at white space and masks the
 * variables inside each token as placeholder codes, with hand-written scanners (no
 * regular expressions), in one pass over the bytes and without allocating.
 *
 * A token is first stripped of surrounding brackets, quotes and punctuation; its core is
 * then tried as a whole (block id, URL, e-mail, request id, UUID, IP, timestamp, hex,
 * number with or without a unit, path, identifier with underscores and digits), then as
 * key=value with the value tried as a whole; failing that, every run of letters and
 * digits that holds a digit becomes <NUM>, <HEX> or <ID>, and placeholders joined by
 * '.', '-' or '_' collapse into one.
 */
#include <string.h>

#include "hash.h"
#include "logmine.h"
#include "logmine_internal.h"

const char *const sonde__logmine_ph_names[LM_PH_COUNT] = {
        NULL,    "<*>",    "<NUM>", "<HEX>", "<IP>",  "<UUID>", "<PATH>", "<URL>",  "<EMAIL>",
        "<DUR>", "<SIZE>", "<TS>",  "<BLK>", "<REQ>", "<ID>",   "<BOOL>", "<NULL>",
};

/* Byte classes for the tokenizer's fast path: 1 white space, 2 digit, 4 one of / \\ @ ~,
 * 8 other control byte, 16 ASCII letter. */
static const unsigned char lm_class[256] = {
        8,  8,  8,  8,  8,  8,  8,  8,  8,  1,  1,  1,  1,  1,  8,  8,  8,  8,  8,  8,  8,  8,  8,  8,
        8,  8,  8,  8,  8,  8,  8,  8,  1,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  4,
        2,  2,  2,  2,  2,  2,  2,  2,  2,  2,  0,  0,  0,  0,  0,  0,  4,  16, 16, 16, 16, 16, 16, 16,
        16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 0,  4,  0,  0,  0,
        0,  16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16,
        16, 16, 16, 0,  0,  0,  4,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
        0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
        0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
        0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
        0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
        0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};

static inline int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}
static inline int is_alpha(unsigned char c)
{
	return (unsigned char)((c | 0x20) - 'a') < 26;
}
static inline int is_alnum(unsigned char c)
{
	return is_digit(c) || is_alpha(c);
}
static inline int is_hex(unsigned char c)
{
	return is_digit(c) || (unsigned char)((c | 0x20) - 'a') < 6;
}
static inline int is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Digits d.d.d.d (each 1-3 digits); returns bytes used or 0. */
static size_t scan_ipv4(const unsigned char *s, size_t n)
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
		size_t st = i;
		while (i < n && is_digit(s[i]) && i - st < 4)
			i++;
		if (i == st || i - st > 3)
			return 0;
	}
	return i;
}

/* An optional ":port" or "/prefix" after an address. */
static size_t scan_port(const unsigned char *s, size_t n, size_t i)
{
	if (i + 1 < n && (s[i] == ':' || s[i] == '/') && is_digit(s[i + 1])) {
		size_t j = i + 1;
		while (j < n && is_digit(s[j]))
			j++;
		return j;
	}
	return i;
}

static int whole_ip(const unsigned char *s, size_t n)
{
	size_t i = 0;
	if (n && s[0] == '/')
		i = 1; /* Java's InetAddress.toString(): "/10.0.0.1:50010" */
	size_t k = scan_ipv4(s + i, n - i);
	if (k) {
		i = scan_port(s, n, i + k);
		return i == n;
	}
	/* IPv6: hex groups and colons (at least two), "::" allowed, maybe [..]:port. */
	size_t b = 0, e = n;
	if (n && s[0] == '[') {
		size_t j = 1;
		while (j < n && s[j] != ']')
			j++;
		if (j >= n)
			return 0;
		b = 1;
		e = j;
		if (scan_port(s, n, j + 1) != n)
			return 0;
	}
	int colons = 0, letters = 0, dcolon = 0, group = 0;
	for (size_t j = b; j < e; j++) {
		if (s[j] == ':') {
			colons++;
			if (j + 1 < e && s[j + 1] == ':')
				dcolon = 1;
			group = 0;
		} else if (is_hex(s[j])) {
			if (++group > 4)
				return 0;
			letters |= !is_digit(s[j]);
		} else if (s[j] == '.' && colons >= 2) {
			return scan_ipv4(s + j - group, e - (j - group)) == e - (j - group);
		} else {
			return 0;
		}
	}
	return colons >= 2 && (dcolon || colons == 7) && (letters || dcolon);
}

static int whole_uuid(const unsigned char *s, size_t n)
{
	static const unsigned char groups[5] = {8, 4, 4, 4, 12};
	if (n != 36)
		return 0;
	size_t i = 0;
	for (int g = 0; g < 5; g++) {
		if (g) {
			if (s[i] != '-')
				return 0;
			i++;
		}
		for (int k = 0; k < groups[g]; k++, i++)
			if (!is_hex(s[i]))
				return 0;
	}
	return 1;
}

static int whole_url(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (is_alnum(s[i]) || s[i] == '+' || s[i] == '.' || s[i] == '-'))
		i++;
	return i > 0 && is_alpha(s[0]) && i + 3 < n && s[i] == ':' && s[i + 1] == '/' && s[i + 2] == '/';
}

static int whole_email(const unsigned char *s, size_t n)
{
	size_t at = 0, i;
	for (i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '@') {
			if (at)
				return 0;
			at = i;
		} else if (!is_alnum(c) && c != '.' && c != '_' && c != '-' && c != '+' && c != '%') {
			return 0;
		}
	}
	if (!at || at + 1 >= n)
		return 0;
	const unsigned char *d = memchr(s + at + 1, '.', n - at - 1);
	return d && d > s + at + 1 && d < s + n - 1 && is_alpha(s[n - 1]);
}

/* Dates and times: digits with separators, e.g. 2016-09-28, 15:16:01, 2005-06-03-15.42.50.675872,
 * 2016/9/27:20:30:31.455, 2017-05-16T00:00:00.008Z, 20171223-22:15:29:606. */
static int whole_ts(const unsigned char *s, size_t n)
{
	int colons = 0, dashes = 0, slashes = 0, digits = 0;
	if (!n || !is_digit(s[0]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (is_digit(c))
			digits++;
		else if (c == ':')
			colons++;
		else if (c == '-')
			dashes++;
		else if (c == '/')
			slashes++;
		else if (c != '.' && c != ',' && c != 'T' && c != 'Z' && c != '+')
			return 0;
		if (i && !is_digit(c) && !is_digit(s[i - 1]))
			return 0;
	}
	if (!is_digit(s[n - 1]) && s[n - 1] != 'Z')
		return 0;
	return digits >= 4 && (colons >= 2 || (dashes >= 2 && dashes + colons >= 2) || slashes >= 2);
}

static int unit_dur(const unsigned char *u, size_t n)
{
	static const char *const units[] = {"ns",  "us",   "ms", "s",  "sec", "secs", "m",
	                                    "min", "mins", "h",  "hr", "hrs", "d"};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i]) == n && memcmp(units[i], u, n) == 0)
			return 1;
	return n == 3 && u[0] == 0xc2 && u[1] == 0xb5 && u[2] == 's';
}

static int unit_size(const unsigned char *u, size_t n)
{
	static const char *const units[] = {"b",   "kb",  "mb", "gb", "tb", "kib",   "mib",
	                                    "gib", "tib", "k",  "g",  "t",  "bytes", "byte"};
	if (n == 0 || n > 5)
		return 0;
	char low[6];
	for (size_t i = 0; i < n; i++)
		low[i] = (char)(u[i] | 0x20);
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i]) == n && memcmp(units[i], low, n) == 0)
			return 1;
	return 0;
}

/* A number, maybe signed, with dots (1.5, 6.1.7601), maybe with a unit. Returns the code or 0. */
static int whole_number(const unsigned char *s, size_t n)
{
	size_t i = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	size_t st = i;
	while (i < n && (is_digit(s[i]) || (s[i] == '.' && i > st && i + 1 < n && is_digit(s[i + 1]))))
		i++;
	if (i == st)
		return 0;
	if (i == n)
		return LM_PH_NUM;
	if (unit_dur(s + i, n - i))
		return LM_PH_DUR;
	if (unit_size(s + i, n - i))
		return LM_PH_SIZE;
	return 0;
}

static int whole_hex(const unsigned char *s, size_t n)
{
	if (n > 2 && s[0] == '0' && (s[1] | 0x20) == 'x') {
		for (size_t i = 2; i < n; i++)
			if (!is_hex(s[i]))
				return 0;
		return 1;
	}
	if (n < 8)
		return 0;
	int digits = 0, letters = 0;
	for (size_t i = 0; i < n; i++) {
		if (!is_hex(s[i]))
			return 0;
		if (is_digit(s[i]))
			digits = 1;
		else
			letters = 1;
	}
	return digits && letters;
}

static int whole_path(const unsigned char *s, size_t n)
{
	if (n >= 2 && s[0] == '/' && s[1] != '/')
		return is_alnum(s[1]) || s[1] == '.' || s[1] == '_' || s[1] == '~' || s[1] == '-';
	if (n >= 3 && s[0] == '~' && s[1] == '/')
		return 1;
	if (n >= 3 && (s[0] == '.' && (s[1] == '/' || (s[1] == '.' && s[2] == '/'))))
		return 1;
	if (n >= 3 && is_alpha(s[0]) && s[1] == ':' && s[2] == '\\')
		return 1;
	return 0;
}

/* Identifiers such as appattempt_1445144423722_0020_000001 or rdd_42_20: letters first,
 * then underscores and digits. */
static int whole_id(const unsigned char *s, size_t n)
{
	int under = 0, digits = 0;
	if (!n || !is_alpha(s[0]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '_')
			under = 1;
		else if (is_digit(s[i]))
			digits++;
		else if (!is_alpha(s[i]) && s[i] != '-')
			return 0;
	}
	return under && digits >= 1;
}

/* Host names with digits: cp-1.tcloud-pg0.utah.cloudlab.us (two or more dots, letters last). */
static int whole_host(const unsigned char *s, size_t n)
{
	int dots = 0, digits = 0;
	if (!n || !is_alnum(s[0]) || !is_alpha(s[n - 1]))
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (i + 1 < n && s[i + 1] == '.')
				return 0;
			dots++;
		} else if (is_digit(s[i])) {
			digits = 1;
		} else if (!is_alpha(s[i]) && s[i] != '-') {
			return 0;
		}
	}
	return dots >= 2 && digits;
}

/* MAC-like addresses: six or more two-digit hex groups joined by ':' or '-'. */
static int whole_mac(const unsigned char *s, size_t n)
{
	if (n < 17 || (n + 1) % 3 != 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (i % 3 == 2) {
			if (s[i] != ':' && s[i] != '-')
				return 0;
		} else if (!is_hex(s[i])) {
			return 0;
		}
	}
	return 1;
}

/* host:port, host/ip, host/ip:port (Java's InetSocketAddress), with a letter in host. */
static int whole_hostport(const unsigned char *s, size_t n)
{
	size_t i = 0;
	int letter = 0, hosty = 0; /* a digit, dot or dash: not a key (CurrentState:112) */
	while (i < n && (is_alnum(s[i]) || s[i] == '-' || s[i] == '.' || s[i] == '_')) {
		letter |= is_alpha(s[i]);
		hosty |= is_digit(s[i]) || s[i] == '-' || s[i] == '.';
		i++;
	}
	if (!letter || !hosty || i == 0 || i == n || !is_alnum(s[0]))
		return 0;
	if (s[i] == '/') {
		size_t k = scan_ipv4(s + i + 1, n - i - 1);
		if (!k)
			return 0;
		i += 1 + k;
		if (i == n)
			return 1;
	}
	if (s[i] != ':' || i + 1 >= n || n - i - 1 > 5)
		return 0;
	for (size_t j = i + 1; j < n; j++)
		if (!is_digit(s[j]))
			return 0;
	return 1;
}

static int eq_nocase(const unsigned char *s, size_t n, const char *w)
{
	size_t k = 0;
	while (k < n && w[k] && (s[k] | 0x20) == w[k])
		k++;
	return k == n && !w[k];
}

/* true/false and null/nil, any case: values, not words. */
static int whole_literal(const unsigned char *s, size_t n)
{
	if (eq_nocase(s, n, "true") || eq_nocase(s, n, "false"))
		return LM_PH_BOOL;
	if (eq_nocase(s, n, "null") || eq_nocase(s, n, "nil"))
		return LM_PH_NULL;
	return 0;
}

/* The placeholder a whole core gets, or 0. */
static int classify(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	/* one pass for the features that rule scanners out; plain integers end here */
	int colon = 0, slash = 0, at = 0, other = 0, sign = s[0] == '-' || s[0] == '+';
	for (size_t i = sign; i < n; i++) {
		unsigned char c = s[i];
		if (is_digit(c))
			continue;
		colon |= c == ':';
		slash |= c == '/' || c == '\\';
		at |= c == '@';
		other = 1;
	}
	if (!other)
		return n > (size_t)sign ? LM_PH_NUM : 0;
	if (n <= 5) {
		int lit = whole_literal(s, n);
		if (lit)
			return lit;
	}
	if (n > 4 && memcmp(s, "blk_", 4) == 0) {
		size_t i = 4 + (s[4] == '-');
		size_t st = i;
		while (i < n && is_digit(s[i]))
			i++;
		if (i == n && i > st)
			return LM_PH_BLK;
	}
	if (n == 40 && memcmp(s, "req-", 4) == 0 && whole_uuid(s + 4, 36))
		return LM_PH_REQ;
	if (whole_uuid(s, n))
		return LM_PH_UUID;
	if (colon && slash && whole_url(s, n))
		return LM_PH_URL;
	if (at && whole_email(s, n))
		return LM_PH_EMAIL;
	if (whole_ip(s, n))
		return LM_PH_IP;
	if (whole_ts(s, n))
		return LM_PH_TS;
	if ((s[0] == 'v' || s[0] == 'V') && n > 1 && is_digit(s[1]) &&
	    whole_number(s + 1, n - 1) == LM_PH_NUM)
		return LM_PH_NUM; /* a version: v1.2.3 */
	if ((colon || slash) && whole_hostport(s, n))
		return LM_PH_IP;
	int c = whole_number(s, n);
	if (c)
		return c;
	if (whole_hex(s, n) || whole_mac(s, n))
		return LM_PH_HEX;
	if (whole_path(s, n))
		return LM_PH_PATH;
	if (whole_id(s, n) || whole_host(s, n))
		return LM_PH_ID;
	return 0;
}

static inline int lead_punct(unsigned char c)
{
	return c == '(' || c == '[' || c == '{' || c == '<' || c == '\'' || c == '"' || c == '`';
}
static inline int trail_punct(unsigned char c)
{
	return c == ')' || c == ']' || c == '}' || c == '>' || c == '\'' || c == '"' || c == '`' ||
	       c == ',' || c == ';' || c == ':' || c == '.' || c == '!' || c == '?';
}

/* A token that holds true/false/null/nil, maybe in brackets or quotes or before a comma
 * or after key= (the tokenizer's fast path sends only these to the scanners). */
static int maybe_literal(const unsigned char *s, size_t n)
{
	if (n < 3)
		return 0;
	size_t b = 0, e = n;
	const unsigned char *eq = n <= 64 ? memchr(s, '=', n) : NULL;
	if (eq)
		b = (size_t)(eq - s) + 1; /* key=true */
	else if (n > 9)
		return 0;
	while (b < e && lead_punct(s[b]))
		b++;
	while (e > b && trail_punct(s[e - 1]))
		e--;
	return e - b >= 3 && e - b <= 5 && whole_literal(s + b, e - b);
}

/* Masks digit-holding alphanumeric runs of s[0..n) into out; returns bytes written. */
static size_t mask_runs(const unsigned char *s, size_t n, char *out)
{
	size_t o = 0, i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (!is_alnum(c)) {
			/* a minus sign starts a number when it does not follow a word character */
			if (c == '-' && i + 1 < n && is_digit(s[i + 1]) && (i == 0 || !is_alnum(s[i - 1]))) {
				size_t j = i + 1;
				while (j < n && is_alnum(s[j]))
					j++;
				int alldig = 1;
				for (size_t k = i + 1; k < j; k++)
					alldig &= is_digit(s[k]);
				if (alldig) {
					out[o++] = LM_PH_NUM;
					i = j;
					goto collapse;
				}
			}
			out[o++] = c < 0x20 ? '?' : (char)c;
			i++;
			continue;
		}
		size_t j = i;
		int digits = 0, hexonly = 1;
		while (j < n && is_alnum(s[j])) {
			digits |= is_digit(s[j]);
			hexonly &= is_hex(s[j]);
			j++;
		}
		if (!digits) {
			memcpy(out + o, s + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		int alldig = 1;
		for (size_t k = i; k < j; k++)
			alldig &= is_digit(s[k]);
		size_t nd = 0;
		for (size_t k = i; k < j; k++)
			nd += is_digit(s[k]);
		if (!alldig && nd < 4 && !(hexonly && j - i >= 8)) {
			/* a name with a few digits (eth0, imps2, Slf4jLogger) stays */
			memcpy(out + o, s + i, j - i);
			o += j - i;
			i = j;
			continue;
		}
		out[o++] = alldig ? LM_PH_NUM : hexonly ? LM_PH_HEX : LM_PH_ID;
		i = j;
	collapse:
		/* <A>.<B>, <A>-<B>, <A>_<B> -> one placeholder */
		if (o >= 3 && (unsigned char)out[o - 1] < 0x20 &&
		    (out[o - 2] == '.' || out[o - 2] == '-' || out[o - 2] == '_') &&
		    (unsigned char)out[o - 3] < 0x20 && out[o - 3] != '?') {
			int a = (unsigned char)out[o - 3], b = (unsigned char)out[o - 1];
			out[o - 3] = (char)(a == b ? a : LM_PH_ID);
			o -= 2;
		}
	}
	return o;
}

size_t sonde__logmine_mask_token(const char *raw, size_t n, char *out)
{
	const unsigned char *s = (const unsigned char *)raw;
	/* Fast path: a token without digits, '/', '\\' or '@' holds no variable any
	 * scanner knows (every one of them needs one of those), so it is copied. */
	int interesting = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (is_digit(c) || c == '/' || c == '\\' || c == '@' || c == '~')
			interesting = 1;
		out[i] = c < 0x20 ? '?' : (char)c;
	}
	if (!interesting && !maybe_literal(s, n))
		return n;
	size_t b = 0, e = n;
	while (b < e && lead_punct(s[b]))
		b++;
	while (e > b && trail_punct(s[e - 1]))
		e--;
	int c = classify(s + b, e - b);
	if (!c && b > 0 && s[b - 1] == '[' && whole_ip(s + b - 1, e - b + 1)) {
		b--; /* [2001:db8::7]:443 */
		c = LM_PH_IP;
	}
	size_t o = 0;
	if (!c && e - b > 2) {
		/* key=value: the value as a whole */
		const unsigned char *eq = memchr(s + b, '=', e - b);
		if (eq && eq > s + b && eq + 1 < s + e) {
			int v = classify(eq + 1, (size_t)(s + e - eq - 1));
			if (v) {
				for (size_t i = 0; i < (size_t)(eq + 1 - s); i++)
					out[o++] = s[i] < 0x20 ? '?' : (char)s[i];
				out[o++] = (char)v;
				for (size_t i = e; i < n; i++)
					out[o++] = s[i] < 0x20 ? '?' : (char)s[i];
				return o;
			}
		}
	}
	if (!c)
		return mask_runs(s, n, out);
	for (size_t i = 0; i < b; i++)
		out[o++] = (char)s[i];
	out[o++] = (char)c;
	for (size_t i = e; i < n; i++)
		out[o++] = (char)s[i];
	return o;
}

int sonde__logmine_is_word(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	int letters = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || is_digit(s[i]))
			return 0;
		letters |= is_alpha(s[i]);
	}
	return letters;
}

static void tok_finish(lm_tok *t, const char *scratch)
{
	const unsigned char *s = (const unsigned char *)scratch + t->off;
	int codes = 0, code = 0, letters = 0, digits = 0, alnum_out = 0;
	for (size_t i = 0; i < t->len; i++) {
		unsigned char c = s[i];
		if (c < 0x20) {
			codes++;
			code = c;
		} else if (is_digit(c)) {
			digits = 1;
		} else if (is_alpha(c)) {
			letters = 1;
		}
	}
	alnum_out = letters || digits;
	t->ph = codes > 0;
	t->word = (uint8_t)(letters && !digits && !codes);
	t->code1 = (uint8_t)(codes == 1 && !alnum_out ? code : 0);
	t->varlike = (uint8_t)(digits || codes);
	t->h = sonde_hash_bytes(s, t->len, 0x6c6f676d696e65ULL);
}

static int is_month(const unsigned char *s, size_t n)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	if (n != 3)
		return 0;
	for (size_t i = 0; i < 36; i += 3)
		if (memcmp(months + i, s, 3) == 0)
			return 1;
	return 0;
}

static int is_weekday(const unsigned char *s, size_t n)
{
	static const char days[] = "MonTueWedThuFriSatSun";
	if (n != 3 && !(n == 4 && s[3] == ','))
		return 0;
	for (size_t i = 0; i < 21; i += 3)
		if (memcmp(days + i, s, 3) == 0)
			return 1;
	return 0;
}

static int is_size_unit(const unsigned char *s, size_t n)
{
	static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"};
	while (n && trail_punct(s[n - 1]))
		n--;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i]) == n && memcmp(units[i], s, n) == 0)
			return 1;
	return 0;
}

/* The masked token is exactly one placeholder code (with punctuation around it). */
static inline int tok_code(const lm_tok *t, const char *scratch, int code)
{
	(void)scratch;
	return t->code1 == code;
}

/* Replaces toks[a..b] by one token: the code, then the masked trailing punctuation of
 * toks[b]. */
static void merge_toks(lm_tok *toks, size_t *nt, size_t a, size_t b, int code, char *scratch)
{
	const lm_tok *last = &toks[b];
	size_t tl = 0;
	while (tl < last->len && trail_punct((unsigned char)scratch[last->off + last->len - 1 - tl]))
		tl++;
	char *o = scratch + toks[a].off;
	size_t lead = 0;
	while (lead < toks[a].len && lead_punct((unsigned char)o[lead]))
		lead++;
	memmove(o + lead + 1, scratch + last->off + last->len - tl, tl);
	o[lead] = (char)code;
	toks[a].len = (uint32_t)(lead + 1 + tl);
	toks[a].rlen = last->roff + last->rlen - toks[a].roff;
	tok_finish(&toks[a], scratch);
	memmove(&toks[a + 1], &toks[b + 1], (*nt - b - 1) * sizeof(lm_tok));
	*nt -= b - a;
}

/* Variables that span tokens: "Fri Jun 17 20:10:40 2005", "2017-05-16 00:00:00.008",
 * "2.1 KB", "/v2/servers HTTP/1.1". */
static void merge_spans(const char *msg, lm_tok *toks, size_t *nt, char *scratch)
{
	const unsigned char *m = (const unsigned char *)msg;
	for (size_t i = 0; i + 1 < *nt; i++) {
		lm_tok *t = toks;
		const unsigned char *r = m + t[i].roff;
		size_t b = i;
		if (is_weekday(r, t[i].rlen) && i + 1 < *nt && is_month(m + t[i + 1].roff, t[i + 1].rlen))
			b = i + 1;
		if (is_month(m + t[b].roff, t[b].rlen) && b + 2 < *nt &&
		    tok_code(&t[b + 1], scratch, LM_PH_NUM) && t[b + 1].rlen <= 3 &&
		    tok_code(&t[b + 2], scratch, LM_PH_TS)) {
			size_t e = b + 2;
			if (e + 1 < *nt && tok_code(&t[e + 1], scratch, LM_PH_NUM) && t[e + 1].rlen == 4)
				e++;
			merge_toks(toks, nt, i, e, LM_PH_TS, scratch);
			continue;
		}
		if (tok_code(&t[i], scratch, LM_PH_TS) && tok_code(&t[i + 1], scratch, LM_PH_TS) &&
		    !trail_punct(r[t[i].rlen - 1])) {
			merge_toks(toks, nt, i, i + 1, LM_PH_TS, scratch);
			continue;
		}
		if (tok_code(&t[i], scratch, LM_PH_NUM) && !trail_punct(r[t[i].rlen - 1]) &&
		    is_size_unit(m + t[i + 1].roff, t[i + 1].rlen)) {
			merge_toks(toks, nt, i, i + 1, LM_PH_SIZE, scratch);
			continue;
		}
		/* lists of ids: "delete blk_1 blk_2 blk_3" is one variable of any length */
		int c = t[i].code1;
		if (c && c != LM_PH_NUM && c != LM_PH_TS && c != LM_PH_WILD && t[i + 1].code1 == c &&
		    t[i].len == 1 && (unsigned char)scratch[t[i + 1].off] == c) {
			/* bare items; the last may end in punctuation, none may open a bracket */
			size_t e = i + 1;
			while (e + 1 < *nt && t[e].len == 1 && t[e + 1].code1 == c &&
			       (unsigned char)scratch[t[e + 1].off] == c)
				e++;
			merge_toks(toks, nt, i, e, c, scratch);
			continue;
		}
		if ((tok_code(&t[i], scratch, LM_PH_PATH) || tok_code(&t[i], scratch, LM_PH_URL)) &&
		    t[i + 1].rlen >= 6 && memcmp(m + t[i + 1].roff, "HTTP/", 5) == 0)
			merge_toks(toks, nt, i, i + 1, LM_PH_PATH, scratch);
	}
}

size_t sonde__logmine_tokenize(const char *msg, size_t n, char *scratch, lm_tok *toks)
{
	const unsigned char *s = (const unsigned char *)msg;
	size_t i = 0, o = 0, nt = 0;
	int any_ph = 0;
	while (i < n) {
		while (i < n && is_space(s[i]))
			i++;
		if (i >= n)
			break;
		size_t st = i;
		unsigned cls = 0;
		if (nt == SONDE_LOGMINE_MAX_TOKENS - 1) {
			cls = 2 | 4 | 8;
			i = n;
			while (i > st && is_space(s[i - 1]))
				i--;
		} else {
			unsigned char k;
			while (i < n && !((k = lm_class[s[i]]) & 1)) {
				cls |= k;
				i++;
			}
		}
		lm_tok *t = &toks[nt++];
		t->roff = (uint32_t)st;
		t->rlen = (uint32_t)(i - st);
		t->off = (uint32_t)o;
		if (!(cls & (2 | 4 | 8)) && !maybe_literal(s + st, i - st)) {
			/* letters and punctuation only: nothing to mask, a word if it has letters */
			memcpy(scratch + o, msg + st, i - st);
			t->len = (uint32_t)(i - st);
			t->ph = 0;
			t->code1 = 0;
			t->varlike = 0;
			t->word = (cls & 16) != 0;
			t->h = sonde_hash_bytes(scratch + o, t->len, 0x6c6f676d696e65ULL);
		} else {
			t->len = (uint32_t)sonde__logmine_mask_token(msg + st, i - st, scratch + o);
			tok_finish(t, scratch);
			any_ph |= t->ph;
		}
		o += t->len;
	}
	if (any_ph)
		merge_spans(msg, toks, &nt, scratch);
	return nt;
}

size_t sonde__logmine_parse_template(const char *text, size_t n, char *scratch, lm_tok *toks)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0, o = 0, nt = 0;
	while (i < n && nt < SONDE_LOGMINE_MAX_TOKENS) {
		while (i < n && is_space(s[i]))
			i++;
		if (i >= n)
			break;
		size_t st = i;
		while (i < n && !is_space(s[i]))
			i++;
		lm_tok *t = &toks[nt++];
		t->roff = (uint32_t)st;
		t->rlen = (uint32_t)(i - st);
		t->off = (uint32_t)o;
		for (size_t j = st; j < i;) {
			int code = 0;
			if (s[j] == '<') {
				for (int c = 1; c < LM_PH_COUNT; c++) {
					size_t l = strlen(sonde__logmine_ph_names[c]);
					if (l <= i - j && memcmp(s + j, sonde__logmine_ph_names[c], l) == 0) {
						code = c;
						j += l;
						break;
					}
				}
			}
			if (code) {
				scratch[o++] = (char)code;
			} else {
				unsigned char c = s[j++];
				scratch[o++] = c < 0x20 ? '?' : (char)c;
			}
		}
		t->len = (uint32_t)(o - t->off);
		tok_finish(t, scratch);
	}
	return nt;
}
