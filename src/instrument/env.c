/*
 * env.c - OTEL_* environment variables: lookup, the duration, boolean and enum forms of the
 * specification, and the percent-encoded "k=v,k2=v2" lists of headers and resource
 * attributes. Bad values are reported and ignored, as the specification asks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "env_internal.h"
#include "exporter_internal.h"

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Narrows [*s, *e) to exclude blanks at both ends. */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

const char *sonde__env_get(const char *name)
{
	const char *v = getenv(name);
	if (!v)
		return NULL;
	for (const char *p = v; *p; p++)
		if (!is_blank(*p))
			return v;
	return NULL;
}

int sonde__env_str(const char *name, char **out)
{
	*out = NULL;
	const char *v = sonde__env_get(name);
	if (!v)
		return 0;
	const char *e = v + strlen(v);
	trim(&v, &e);
	char *copy = strndup(v, (size_t)(e - v));
	if (!copy)
		return -ENOMEM;
	*out = copy;
	return 1;
}

int sonde__parse_ms(const char *s, uint32_t *out_ms)
{
	const char *e = s + strlen(s);
	trim(&s, &e);
	if (s == e)
		return -EINVAL;
	uint64_t v = 0;
	for (const char *p = s; p < e; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*out_ms = (uint32_t)v;
	return 0;
}

/* Both durations and counts are whole numbers in uint32; only the message differs. */
static int env_whole(const char *name, uint32_t *out, const char *expected)
{
	const char *v = sonde__env_get(name);
	if (!v)
		return 0;
	if (sonde__parse_ms(v, out) < 0) {
		sonde__diag("sonde: %s=\"%.64s\" ignored: expected %s", name, v, expected);
		return -EINVAL;
	}
	return 1;
}

int sonde__env_ms(const char *name, uint32_t *out_ms)
{
	return env_whole(name, out_ms, "a whole number of milliseconds");
}

int sonde__env_u32(const char *name, uint32_t *out)
{
	return env_whole(name, out, "a non-negative whole number");
}

/* Compares the trimmed value with word, ignoring case. */
static bool value_is(const char *v, const char *word)
{
	const char *e = v + strlen(v);
	trim(&v, &e);
	size_t n = strlen(word);
	return (size_t)(e - v) == n && strncasecmp(v, word, n) == 0;
}

int sonde__env_bool(const char *name, bool *out)
{
	const char *v = sonde__env_get(name);
	if (!v)
		return 0;
	*out = false;
	if (value_is(v, "true")) {
		*out = true;
		return 1;
	}
	if (value_is(v, "false"))
		return 1;
	sonde__diag("sonde: %s=\"%.64s\" taken as false: expected true or false", name, v);
	return -EINVAL;
}

int sonde__env_choice(const char *name, const char *const *choices, size_t n)
{
	const char *v = sonde__env_get(name);
	if (!v)
		return -ENOENT;
	for (size_t i = 0; i < n; i++)
		if (value_is(v, choices[i]))
			return (int)i;
	sonde__diag("sonde: %s=\"%.64s\" ignored: not a supported value", name, v);
	return -EINVAL;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

ssize_t sonde__percent_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		int hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
		int lo = hi < 0 ? -1 : hex_digit(s[i + 2]);
		if (lo < 0)
			return -EINVAL;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	return (ssize_t)o;
}

int sonde__kvlist_parse(const char *list, const char *what, sonde__kv_fn fn, void *ud)
{
	size_t len = strlen(list);
	/* One scratch block holds every key and decoded value: neither grows in decoding. */
	char *scratch = malloc(len + 2);
	if (!scratch)
		return -ENOMEM;
	int count = 0, rc = 0;
	const char *p = list, *end = list + len;
	while (p < end) {
		const char *m = p, *me = memchr(p, ',', (size_t)(end - p));
		if (!me)
			me = end;
		p = me + 1;
		trim(&m, &me);
		if (m == me)
			continue;
		const char *eq = memchr(m, '=', (size_t)(me - m));
		if (!eq) {
			sonde__diag("sonde: %s: member \"%.*s\" ignored: expected key=value", what,
			            (int)(me - m > 64 ? 64 : me - m), m);
			continue;
		}
		const char *k = m, *ke = eq, *v = eq + 1, *ve = me;
		trim(&k, &ke);
		trim(&v, &ve);
		if (k == ke) {
			sonde__diag("sonde: %s: member \"%.*s\" ignored: empty key", what,
			            (int)(me - m > 64 ? 64 : me - m), m);
			continue;
		}
		size_t kn = (size_t)(ke - k);
		memcpy(scratch, k, kn);
		scratch[kn] = '\0';
		ssize_t vn = sonde__percent_decode(v, (size_t)(ve - v), scratch + kn + 1);
		if (vn < 0) {
			sonde__diag("sonde: %s: value of \"%.64s\" ignored: bad percent escape", what,
			            scratch);
			continue;
		}
		rc = fn(ud, scratch, scratch + kn + 1, (size_t)vn);
		if (rc < 0)
			break;
		count++;
	}
	free(scratch);
	return rc < 0 ? rc : count;
}
