/*
 * logtime.c - timestamps and levels as log files write them (see logline.h for the
 * layouts). Pure functions over bytes; nothing here allocates.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "logline.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Reads exactly k digits at s[*i]. */
static bool digits(const char *s, size_t n, size_t *i, int k, int *out)
{
	int v = 0;
	if (*i + (size_t)k > n)
		return false;
	for (int j = 0; j < k; j++) {
		char c = s[*i + (size_t)j];
		if (!is_digit(c))
			return false;
		v = v * 10 + (c - '0');
	}
	*i += (size_t)k;
	*out = v;
	return true;
}

/* Reads 1 or 2 digits. */
static bool digits12(const char *s, size_t n, size_t *i, int *out)
{
	if (*i < n && is_digit(s[*i]) && *i + 1 < n && is_digit(s[*i + 1]))
		return digits(s, n, i, 2, out);
	return digits(s, n, i, 1, out);
}

static bool lit(const char *s, size_t n, size_t *i, char c)
{
	if (*i < n && s[*i] == c) {
		(*i)++;
		return true;
	}
	return false;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), after Howard Hinnant's
 * days_from_civil. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool valid(int y, int mo, int d, int h, int mi, int sec)
{
	static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return y >= 1970 && y <= 2262 && mo >= 1 && mo <= 12 && d >= 1 && d <= mdays[mo - 1] && h >= 0 &&
	       h <= 23 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 60;
}

static bool make(int y, int mo, int d, int h, int mi, int sec, uint64_t frac_ns, int64_t offset_s,
                 uint64_t *ns)
{
	if (!valid(y, mo, d, h, mi, sec))
		return false;
	int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
	if (secs < 0 || secs >= INT64_MAX / 1000000000 - 1)
		return false;
	*ns = (uint64_t)secs * 1000000000u + frac_ns;
	return true;
}

/* A fraction after '.' or ',' (or ':' when colon_frac): up to 9 digits kept. */
static uint64_t fraction(const char *s, size_t n, size_t *i, bool colon_frac)
{
	if (*i + 1 >= n || !(s[*i] == '.' || s[*i] == ',' || (colon_frac && s[*i] == ':')) ||
	    !is_digit(s[*i + 1]))
		return 0;
	(*i)++;
	uint64_t v = 0;
	int k = 0;
	while (*i < n && is_digit(s[*i])) {
		if (k < 9) {
			v = v * 10 + (uint64_t)(s[*i] - '0');
			k++;
		}
		(*i)++;
	}
	while (k++ < 9)
		v *= 10;
	return v;
}

/* A zone: Z, +HH:MM, +HHMM, +HH, or " +0000" after a space (CLF). */
static int64_t zone(const char *s, size_t n, size_t *i)
{
	if (*i < n && (s[*i] == 'Z' || s[*i] == 'z')) {
		(*i)++;
		return 0;
	}
	size_t j = *i;
	if (j < n && s[j] == ' ' && j + 1 < n && (s[j + 1] == '+' || s[j + 1] == '-'))
		j++;
	if (j < n && (s[j] == '+' || s[j] == '-')) {
		int sign = s[j] == '-' ? -1 : 1, hh, mm = 0;
		j++;
		if (!digits(s, n, &j, 2, &hh))
			return 0;
		size_t k = j;
		if (lit(s, n, &k, ':') && digits(s, n, &k, 2, &mm))
			j = k;
		else if (!digits(s, n, &j, 2, &mm))
			mm = 0;
		if (hh > 14 || mm > 59)
			return 0;
		*i = j;
		return sign * (hh * 3600 + mm * 60);
	}
	return 0;
}

static const char months[12][4] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};

static int month_of(const char *s, size_t n, size_t *i)
{
	if (*i + 3 > n)
		return 0;
	for (int m = 0; m < 12; m++)
		if (lower(s[*i]) == months[m][0] && lower(s[*i + 1]) == months[m][1] &&
		    lower(s[*i + 2]) == months[m][2]) {
			*i += 3;
			return m + 1;
		}
	return 0;
}

static bool weekday(const char *s, size_t n, size_t *i)
{
	static const char days[7][4] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
	if (*i + 3 > n)
		return false;
	for (int d = 0; d < 7; d++)
		if (lower(s[*i]) == days[d][0] && lower(s[*i + 1]) == days[d][1] &&
		    lower(s[*i + 2]) == days[d][2]) {
			*i += 3;
			return true;
		}
	return false;
}

static bool hms(const char *s, size_t n, size_t *i, int *h, int *mi, int *sec)
{
	return digits(s, n, i, 2, h) && lit(s, n, i, ':') && digits(s, n, i, 2, mi) && lit(s, n, i, ':') &&
	       digits(s, n, i, 2, sec);
}

static int year_of(uint64_t t_ns)
{
	time_t t = (time_t)(t_ns / 1000000000u);
	struct tm tm;
	if (!gmtime_r(&t, &tm))
		return 1970;
	return tm.tm_year + 1900;
}

/* The end of a timestamp must not run into a word or number. */
static bool boundary(const char *s, size_t n, size_t i)
{
	if (i >= n)
		return true;
	char c = s[i];
	return !(is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z'));
}

/* 2024-05-01T12:00:00.123Z and relatives; also 2005-06-03-15.42.50.675872 (BGL). */
static size_t iso(const char *s, size_t n, uint64_t *ns)
{
	size_t i = 0;
	int y, mo, d, h, mi, sec;
	if (!digits(s, n, &i, 4, &y))
		return 0;
	char sep = i < n ? s[i] : 0;
	if (sep != '-' && sep != '/' && sep != '.')
		return 0;
	i++;
	if (!digits(s, n, &i, 2, &mo) || !lit(s, n, &i, sep) || !digits(s, n, &i, 2, &d))
		return 0;
	if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ' || s[i] == '_'))
		i++;
	else if (i < n && s[i] == '-' && sep == '-') { /* BGL: 2005-06-03-15.42.50.675872 */
		i++;
		if (!digits(s, n, &i, 2, &h) || !lit(s, n, &i, '.') || !digits(s, n, &i, 2, &mi) ||
		    !lit(s, n, &i, '.') || !digits(s, n, &i, 2, &sec))
			return 0;
		uint64_t frac = fraction(s, n, &i, false);
		if (!boundary(s, n, i) || !make(y, mo, d, h, mi, sec, frac, 0, ns))
			return 0;
		return i;
	} else
		return 0;
	if (!hms(s, n, &i, &h, &mi, &sec))
		return 0;
	uint64_t frac = fraction(s, n, &i, false);
	int64_t off = zone(s, n, &i);
	if (!boundary(s, n, i) || !make(y, mo, d, h, mi, sec, frac, off, ns))
		return 0;
	return i;
}

/* Jun 14 15:16:01 (syslog) and Jan 02, 2006 3:04:05 PM (java.util.logging). */
static size_t syslog_time(const char *s, size_t n, uint64_t default_ns, uint64_t *ns)
{
	size_t i = 0;
	int mo = month_of(s, n, &i), d, h, mi, sec, y;
	if (!mo || !lit(s, n, &i, ' '))
		return 0;
	lit(s, n, &i, ' ');
	if (!digits12(s, n, &i, &d))
		return 0;
	if (lit(s, n, &i, ',')) { /* java.util.logging */
		if (!lit(s, n, &i, ' ') || !digits(s, n, &i, 4, &y) || !lit(s, n, &i, ' ') ||
		    !digits12(s, n, &i, &h) || !lit(s, n, &i, ':') || !digits(s, n, &i, 2, &mi) ||
		    !lit(s, n, &i, ':') || !digits(s, n, &i, 2, &sec))
			return 0;
		if (i + 3 <= n && s[i] == ' ' && (lower(s[i + 1]) == 'a' || lower(s[i + 1]) == 'p') &&
		    lower(s[i + 2]) == 'm') {
			if (h < 1 || h > 12)
				return 0;
			h = h % 12 + (lower(s[i + 1]) == 'p' ? 12 : 0);
			i += 3;
		}
		return boundary(s, n, i) && make(y, mo, d, h, mi, sec, 0, 0, ns) ? i : 0;
	}
	if (!lit(s, n, &i, ' ') || !hms(s, n, &i, &h, &mi, &sec))
		return 0;
	uint64_t frac = fraction(s, n, &i, false);
	if (!boundary(s, n, i))
		return 0;
	y = year_of(default_ns);
	if (!make(y, mo, d, h, mi, sec, frac, 0, ns))
		return 0;
	if (*ns > default_ns + 86400ull * 1000000000u && !make(y - 1, mo, d, h, mi, sec, frac, 0, ns))
		return 0;
	return i;
}

/* Sun Dec 04 04:47:44 2005 (ctime, Apache error log). */
static size_t ctime_time(const char *s, size_t n, uint64_t *ns)
{
	size_t i = 0;
	int mo, d, h, mi, sec, y;
	if (!weekday(s, n, &i) || !lit(s, n, &i, ' ') || !(mo = month_of(s, n, &i)) || !lit(s, n, &i, ' '))
		return 0;
	lit(s, n, &i, ' ');
	if (!digits12(s, n, &i, &d) || !lit(s, n, &i, ' ') || !hms(s, n, &i, &h, &mi, &sec))
		return 0;
	uint64_t frac = fraction(s, n, &i, false);
	if (!lit(s, n, &i, ' ') || !digits(s, n, &i, 4, &y) || !boundary(s, n, i))
		return 0;
	return make(y, mo, d, h, mi, sec, frac, 0, ns) ? i : 0;
}

/* 10/Oct/2000:13:55:36 -0700 (Common Log Format). */
static size_t clf_time(const char *s, size_t n, uint64_t *ns)
{
	size_t i = 0;
	int mo, d, h, mi, sec, y;
	if (!digits(s, n, &i, 2, &d) || !lit(s, n, &i, '/') || !(mo = month_of(s, n, &i)) ||
	    !lit(s, n, &i, '/') || !digits(s, n, &i, 4, &y) || !lit(s, n, &i, ':') ||
	    !hms(s, n, &i, &h, &mi, &sec))
		return 0;
	int64_t off = zone(s, n, &i);
	return boundary(s, n, i) && make(y, mo, d, h, mi, sec, 0, off, ns) ? i : 0;
}

/* 17/06/09 20:10:40 (yy/MM/dd), 081109 203615 (yyMMdd HHmmss), 20171223-22:15:29:606. */
static size_t compact_time(const char *s, size_t n, uint64_t *ns)
{
	size_t i = 0;
	int y, mo, d, h, mi, sec;
	if (digits(s, n, &i, 2, &y) && lit(s, n, &i, '/')) {
		if (!digits(s, n, &i, 2, &mo) || !lit(s, n, &i, '/') || !digits(s, n, &i, 2, &d) ||
		    !lit(s, n, &i, ' ') || !hms(s, n, &i, &h, &mi, &sec))
			return 0;
		uint64_t frac = fraction(s, n, &i, false);
		return boundary(s, n, i) && make(2000 + y, mo, d, h, mi, sec, frac, 0, ns) ? i : 0;
	}
	i = 0;
	if (digits(s, n, &i, 6, &y) && lit(s, n, &i, ' ')) {
		d = y % 100;
		mo = y / 100 % 100;
		y = 2000 + y / 10000;
		int t;
		if (!digits(s, n, &i, 6, &t))
			return 0;
		h = t / 10000;
		mi = t / 100 % 100;
		sec = t % 100;
		return boundary(s, n, i) && make(y, mo, d, h, mi, sec, 0, 0, ns) ? i : 0;
	}
	i = 0;
	if (digits(s, n, &i, 4, &y) && digits(s, n, &i, 2, &mo) && digits(s, n, &i, 2, &d) &&
	    lit(s, n, &i, '-')) {
		if (!digits12(s, n, &i, &h) || !lit(s, n, &i, ':') || !digits12(s, n, &i, &mi) ||
		    !lit(s, n, &i, ':') || !digits12(s, n, &i, &sec))
			return 0;
		uint64_t frac = fraction(s, n, &i, true);
		return boundary(s, n, i) && make(y, mo, d, h, mi, sec, frac, 0, ns) ? i : 0;
	}
	return 0;
}

/* A 10-digit epoch in seconds, optionally with a fraction. */
static size_t epoch_time(const char *s, size_t n, uint64_t *ns)
{
	size_t i = 0;
	int hi, lo;
	if (!digits(s, n, &i, 5, &hi) || !digits(s, n, &i, 5, &lo) || hi < 10000)
		return 0;
	uint64_t frac = fraction(s, n, &i, false);
	uint64_t secs = (uint64_t)hi * 100000u + (uint64_t)lo;
	if (!boundary(s, n, i) || secs >= (uint64_t)INT64_MAX / 1000000000u - 1)
		return 0;
	*ns = secs * 1000000000u + frac;
	return i;
}

size_t sonde_logtime_parse(const char *s, size_t n, uint64_t default_time_ns, uint64_t *ns)
{
	if (n == 0)
		return 0;
	size_t k;
	if (is_digit(s[0])) {
		if ((k = iso(s, n, ns)) || (k = clf_time(s, n, ns)) || (k = compact_time(s, n, ns)) ||
		    (k = epoch_time(s, n, ns)))
			return k;
		return 0;
	}
	if ((k = ctime_time(s, n, ns)) || (k = syslog_time(s, n, default_time_ns, ns)))
		return k;
	return 0;
}

bool sonde_logtime_find(const char *line, size_t n, uint64_t default_time_ns, uint64_t *ns, size_t *at,
                        size_t *len)
{
	size_t lim = n < 128 ? n : 128;
	for (size_t i = 0; i < lim; i++) {
		if (i > 0) {
			char p = line[i - 1];
			if (is_digit(p) || (lower(p) >= 'a' && lower(p) <= 'z') || p == '_' || p == '-' ||
			    p == '.' || p == ':' || p == '/')
				continue;
		}
		size_t k = sonde_logtime_parse(line + i, n - i, default_time_ns, ns);
		if (k) {
			*at = i;
			*len = k;
			return true;
		}
	}
	return false;
}

bool sonde_logtime_epoch(double v, uint64_t *ns)
{
	if (!(v >= 0) || v >= 9.2e18)
		return false;
	/* Whole units and the fraction apart, so that integral inputs stay exact. */
	uint64_t unit = v < 1e11 ? 1000000000u : v < 1e14 ? 1000000u : v < 1e17 ? 1000u : 1u;
	double whole = floor(v);
	double x = whole * (double)unit;
	if (!(x < 9.2e18)) /* int64 nanoseconds, as the store and every writer keep them */
		return false;
	*ns = (uint64_t)whole * unit + (uint64_t)llround((v - whole) * (double)unit);
	return true;
}

int32_t sonde_log_severity(const char *s, size_t n)
{
	static const struct {
		const char *w;
		int32_t sev;
	} words[] = {
	        {"trace", 1},     {"finest", 1}, {"finer", 5},  {"fine", 5},    {"debug", 5},
	        {"dbg", 5},       {"config", 9}, {"info", 9},   {"notice", 10}, {"warn", 13},
	        {"warning", 13},  {"error", 17}, {"err", 17},   {"severe", 17}, {"crit", 21},
	        {"critical", 21}, {"fatal", 21}, {"alert", 22}, {"emerg", 23},  {"emergency", 23},
	        {"panic", 24},
	};
	if (n < 3 || n > 9)
		return 0;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t wl = strlen(words[i].w);
		if (wl != n)
			continue;
		size_t j = 0;
		while (j < n && lower(s[j]) == words[i].w[j])
			j++;
		if (j == n)
			return words[i].sev;
	}
	return 0;
}

int32_t sonde_log_severity_find(const char *line, size_t n, size_t *at, size_t *len)
{
	size_t lim = n < 160 ? n : 160;
	size_t i = 0;
	while (i < lim) {
		while (i < lim && !((lower(line[i]) >= 'a' && lower(line[i]) <= 'z')))
			i++;
		size_t j = i;
		while (j < n && lower(line[j]) >= 'a' && lower(line[j]) <= 'z')
			j++;
		/* A whole word: not glued to letters, digits, or identifier punctuation. */
		bool left = i == 0 || !(is_digit(line[i - 1]) || line[i - 1] == '_' || line[i - 1] == '.' ||
		                        line[i - 1] == '-' || line[i - 1] == '$');
		bool right = j >= n || !(is_digit(line[j]) || line[j] == '_' || line[j] == '.' ||
		                         line[j] == '-' || line[j] == '(' || line[j] == '$');
		if (j > i && left && right) {
			int32_t sev = sonde_log_severity(line + i, j - i);
			if (sev) {
				*at = i;
				*len = j - i;
				return sev;
			}
		}
		i = j > i ? j : i + 1;
	}
	return 0;
}

bool sonde_logtext_is_continuation(const char *line, size_t n)
{
	if (n == 0)
		return false;
	if (line[0] == ' ' || line[0] == '\t')
		return true;
	return n >= 10 && memcmp(line, "Caused by:", 10) == 0;
}
