/*
 * json_num.c - JSON number conversion: correctly rounded text to double, exact text to
 * integer, and the integer and shortest round-trip double formatting the writer uses.
 *
 * Text to double takes Clinger's fast path when the digits and the power of ten are both
 * exact doubles (one IEEE operation rounds correctly); everything else goes to strtod_l in
 * the "C" locale, which glibc and musl round correctly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonde/status.h"
#include "json.h"

/* Exponents beyond this are equivalent to infinity for every purpose here; saturating
 * keeps the arithmetic in range. */
enum { EXP_CAP = 1000000000 };

/* A number literal cut into its parts. The value is (int digits . frac digits) * 10^exp. */
typedef struct numparts {
	bool neg;
	const char *ip, *fp; /* integer and fraction digits */
	size_t in, fn;
	int64_t exp;
} numparts;

static inline bool isdig(char c)
{
	return (unsigned)(c - '0') < 10;
}

static int split_number(const char *s, size_t n, numparts *np)
{
	const char *p = s, *end = s + n;
	np->neg = false;
	if (p < end && *p == '-') {
		np->neg = true;
		p++;
	}
	if (p == end || !isdig(*p))
		return SONDE_EPARSE;
	np->ip = p;
	if (*p == '0')
		p++;
	else
		while (p < end && isdig(*p))
			p++;
	np->in = (size_t)(p - np->ip);
	np->fp = p;
	np->fn = 0;
	if (p < end && *p == '.') {
		np->fp = ++p;
		while (p < end && isdig(*p))
			p++;
		np->fn = (size_t)(p - np->fp);
		if (!np->fn)
			return SONDE_EPARSE;
	}
	np->exp = 0;
	if (p < end && (*p == 'e' || *p == 'E')) {
		bool eneg = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		const char *e0 = p;
		int64_t e = 0;
		for (; p < end && isdig(*p); p++)
			if (e < EXP_CAP)
				e = e * 10 + (*p - '0');
		if (p == e0)
			return SONDE_EPARSE;
		np->exp = eneg ? -e : e;
	}
	return p == end ? 0 : SONDE_EPARSE;
}

/* The i-th digit of int digits followed by frac digits. */
static inline unsigned digit_at(const numparts *np, size_t i)
{
	return (unsigned)((i < np->in ? np->ip[i] : np->fp[i - np->in]) - '0');
}

int sonde__json_parse_int(const char *s, size_t n, bool *neg, uint64_t *mag)
{
	numparts np;
	if (split_number(s, n, &np) < 0)
		return SONDE_EPARSE;
	size_t total = np.in + np.fn, keep = total;
	int64_t e = np.exp - (int64_t)np.fn;
	if (e < 0) {
		/* The last -e digits are the fraction: they must all be zero. */
		size_t drop = (uint64_t)-e > total ? total : (size_t)-e;
		for (size_t i = total - drop; i < total; i++)
			if (digit_at(&np, i))
				return SONDE_EPARSE;
		keep = total - drop;
		e = 0;
	}
	uint64_t m = 0;
	for (size_t i = 0; i < keep; i++) {
		unsigned d = digit_at(&np, i);
		if (m > (UINT64_MAX - d) / 10)
			return SONDE_ELIMIT;
		m = m * 10 + d;
	}
	if (m)
		for (; e > 0; e--) {
			if (m > UINT64_MAX / 10)
				return SONDE_ELIMIT;
			m *= 10;
		}
	*neg = np.neg;
	*mag = m;
	return 0;
}

/* The "C" locale, created on first use and kept for the life of the process. */
static locale_t c_locale(void)
{
	static locale_t cached;
	locale_t l = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
	if (l)
		return l;
	l = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!l)
		return (locale_t)0;
	locale_t expected = (locale_t)0;
	if (!__atomic_compare_exchange_n(&cached, &expected, l, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		freelocale(l);
		return expected;
	}
	return l;
}

static double strtod_c(const char *s)
{
	locale_t l = c_locale();
	/* Without a locale object, strtod still works in the usual case of a program that
	 * never called setlocale(). */
	return l ? strtod_l(s, NULL, l) : strtod(s, NULL);
}

static const double pow10_exact[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static const uint64_t pow10_u64[] = {
        1ull,
        10ull,
        100ull,
        1000ull,
        10000ull,
        100000ull,
        1000000ull,
        10000000ull,
        100000000ull,
        1000000000ull,
        10000000000ull,
        100000000000ull,
        1000000000000ull,
        10000000000000ull,
        100000000000000ull,
        1000000000000000ull,
        10000000000000000ull,
};

int sonde_json_parse_double(const char *s, size_t n, double *out)
{
	numparts np;
	if (split_number(s, n, &np) < 0)
		return SONDE_EPARSE;
	/* Up to 19 significant digits fit a uint64_t; note whether any digit beyond is
	 * non-zero. */
	uint64_t m = 0;
	int nsig = 0;
	int64_t dropped = 0;
	bool inexact = false;
	size_t total = np.in + np.fn;
	for (size_t i = 0; i < total; i++) {
		unsigned d = digit_at(&np, i);
		if (nsig < 19) {
			m = m * 10 + d;
			if (m)
				nsig++;
		} else {
			dropped++;
			inexact |= d != 0;
		}
	}
	if (!m) {
		*out = np.neg ? -0.0 : 0.0;
		return 0;
	}
#if FLT_EVAL_METHOD == 0
	int64_t e10 = np.exp - (int64_t)np.fn + dropped;
	if (!inexact && m <= (1ull << 53)) {
		double v = (double)m;
		bool ok = true;
		if (e10 >= 0 && e10 <= 22) {
			v *= pow10_exact[e10];
		} else if (e10 < 0 && e10 >= -22) {
			v /= pow10_exact[-e10];
		} else if (e10 > 22 && e10 <= 22 + 16 && m <= (1ull << 53) / pow10_u64[e10 - 22]) {
			/* m * 10^(e10-22) is still an exact integer below 2^53. */
			v = (double)(m * pow10_u64[e10 - 22]) * 1e22;
		} else {
			ok = false;
		}
		if (ok) {
			*out = np.neg ? -v : v;
			return 0;
		}
	}
#endif
	char small[128], *copy = small;
	if (n >= sizeof(small)) {
		copy = malloc(n + 1);
		if (!copy)
			return -ENOMEM;
	}
	memcpy(copy, s, n);
	copy[n] = '\0';
	*out = strtod_c(copy);
	if (copy != small)
		free(copy);
	return 0;
}

static const char digits2[201] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";

size_t sonde__json_fmt_u64(char *out, uint64_t v)
{
	char tmp[20], *p = tmp + sizeof(tmp);
	while (v >= 100) {
		unsigned i = (unsigned)(v % 100) * 2;
		v /= 100;
		p -= 2;
		memcpy(p, digits2 + i, 2);
	}
	if (v >= 10) {
		p -= 2;
		memcpy(p, digits2 + v * 2, 2);
	} else {
		*--p = (char)('0' + v);
	}
	size_t n = (size_t)(tmp + sizeof(tmp) - p);
	memcpy(out, p, n);
	return n;
}

size_t sonde__json_fmt_i64(char *out, int64_t v)
{
	if (v >= 0)
		return sonde__json_fmt_u64(out, (uint64_t)v);
	out[0] = '-';
	return 1 + sonde__json_fmt_u64(out + 1, (uint64_t)0 - (uint64_t)v);
}

/* printf's decimal point follows LC_NUMERIC; put '.' back whatever it was. */
static size_t c_decimal_point(char *s, size_t n)
{
	size_t j = 0;
	bool in_point = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (isdig(c) || c == '-' || c == '+' || c == 'e') {
			s[j++] = c;
			in_point = false;
		} else if (!in_point) {
			s[j++] = '.';
			in_point = true;
		}
	}
	return j;
}

size_t sonde__json_fmt_f64(char *out, double v)
{
	if (v == 0) {
		if (signbit(v)) {
			memcpy(out, "-0", 2);
			return 2;
		}
		out[0] = '0';
		return 1;
	}
	if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v)
		return sonde__json_fmt_i64(out, (int64_t)v);
	/* The fewest of 15, 16 and 17 significant digits that read back exactly (17 always
	 * do), as "[-]d.ddde[+-]x". */
	char tmp[40];
	size_t len;
	for (int prec = 15;; prec++) {
		int r = snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		len = c_decimal_point(tmp, r > 0 && (size_t)r < sizeof(tmp) ? (size_t)r : 0);
		double back;
		if (prec == 17 || (sonde_json_parse_double(tmp, len, &back) == 0 && back == v))
			break;
	}
	tmp[len] = '\0';
	/* Split into digits and a decimal exponent and lay them out as JavaScript's
	 * Number.prototype.toString does ("0.00125", "12.5", "1.25e-30", "1e21"), which is
	 * what JSON written by JavaScript exporters looks like. */
	const char *p = tmp;
	char *o = out;
	if (*p == '-')
		*o++ = *p++;
	char digs[24];
	int k = 0;
	for (; *p && *p != 'e'; p++)
		if (isdig(*p) && k < (int)sizeof(digs))
			digs[k++] = *p;
	int e = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;
	while (k > 1 && digs[k - 1] == '0')
		k--;
	int point = e + 1; /* digits before the decimal point */
	if (point > -6 && point <= 21) {
		if (point >= k) {
			memcpy(o, digs, (size_t)k);
			memset(o + k, '0', (size_t)(point - k));
			o += point;
		} else if (point > 0) {
			memcpy(o, digs, (size_t)point);
			o[point] = '.';
			memcpy(o + point + 1, digs + point, (size_t)(k - point));
			o += k + 1;
		} else {
			memcpy(o, "0.", 2);
			memset(o + 2, '0', (size_t)-point);
			memcpy(o + 2 - point, digs, (size_t)k);
			o += 2 - point + k;
		}
	} else {
		*o++ = digs[0];
		if (k > 1) {
			*o++ = '.';
			memcpy(o, digs + 1, (size_t)(k - 1));
			o += k - 1;
		}
		char ebuf[8];
		int elen = snprintf(ebuf, sizeof(ebuf), "e%d", e);
		memcpy(o, ebuf, (size_t)elen);
		o += elen;
	}
	return (size_t)(o - out);
}

size_t sonde_fmt_double(char *out, double v)
{
	if (isnan(v)) {
		memcpy(out, "NaN", 3);
		return 3;
	}
	if (isinf(v)) {
		memcpy(out, v < 0 ? "-Inf" : "Inf", v < 0 ? 4 : 3);
		return v < 0 ? 4 : 3;
	}
	return sonde__json_fmt_f64(out, v);
}
