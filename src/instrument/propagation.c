/*
 * propagation.c - W3C Trace Context (traceparent, tracestate, levels 1 and 2) and W3C
 * Baggage: parsing, validation, normalisation and formatting, and their injection into and
 * extraction from carriers. Pure computation on caller memory: no allocation, no locks.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sonde/propagation.h"

enum {
	TRACEPARENT_LEN = 55,
	TS_KEY_MAX = 256,
	TS_TENANT_MAX = 241,
	TS_SYSTEM_MAX = 14,
	TS_VALUE_MAX = 256,
	TS_TRUNCATE_FIRST = 128, /* members longer than this go first when truncating */
	KNOWN_FLAGS = SONDE_TRACE_FLAG_SAMPLED | SONDE_TRACE_FLAG_RANDOM,
};

static const char hexdigits[] = "0123456789abcdef";

static bool is_ows(char ch)
{
	return ch == ' ' || ch == '\t';
}

static void trim_ows(const char **s, size_t *n)
{
	while (*n && is_ows(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_ows((*s)[*n - 1]))
		(*n)--;
}

static int lower_hex_val(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* W3C ids are lower-case only: upper case makes the whole header invalid. */
static bool lower_hex_decode(uint8_t *out, const char *s, size_t nbytes)
{
	for (size_t i = 0; i < nbytes; i++) {
		int hi = lower_hex_val(s[2 * i]), lo = lower_hex_val(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}

bool sonde_span_context_is_valid(const sonde_span_context *c)
{
	return c && !all_zero(c->trace_id, sizeof(c->trace_id)) && !all_zero(c->span_id, sizeof(c->span_id));
}

/* ---- traceparent ---------------------------------------------------------------- */

int sonde_traceparent_parse(const char *s, size_t n, sonde_span_context *c)
{
	if (!s || !c)
		return -EINVAL;
	trim_ows(&s, &n);
	if (n < TRACEPARENT_LEN)
		return -EINVAL;
	uint8_t version;
	if (!lower_hex_decode(&version, s, 1) || version == 0xff)
		return -EINVAL;
	/* Version 00 is exactly 55 characters; a later version may append fields after a
	 * '-', which this parser, knowing only version 00, ignores. */
	if (version == 0 ? n != TRACEPARENT_LEN : n > TRACEPARENT_LEN && s[TRACEPARENT_LEN] != '-')
		return -EINVAL;
	if (s[2] != '-' || s[35] != '-' || s[52] != '-')
		return -EINVAL;
	uint8_t trace_id[16], span_id[8], flags;
	if (!lower_hex_decode(trace_id, s + 3, 16) || !lower_hex_decode(span_id, s + 36, 8) ||
	    !lower_hex_decode(&flags, s + 53, 1))
		return -EINVAL;
	if (all_zero(trace_id, 16) || all_zero(span_id, 8))
		return -EINVAL;
	memcpy(c->trace_id, trace_id, 16);
	memcpy(c->span_id, span_id, 8);
	c->trace_flags = flags;
	return 0;
}

static char *hex_put(char *p, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		*p++ = hexdigits[b[i] >> 4];
		*p++ = hexdigits[b[i] & 15];
	}
	return p;
}

void sonde_traceparent_format(const sonde_span_context *c, char out[56])
{
	/* Version 00 defines only the sampled and random flags; the others are sent as zero,
	 * as the specification asks of a sender. */
	uint8_t flags = c->trace_flags & KNOWN_FLAGS;
	char *p = out;
	*p++ = '0';
	*p++ = '0';
	*p++ = '-';
	p = hex_put(p, c->trace_id, 16);
	*p++ = '-';
	p = hex_put(p, c->span_id, 8);
	*p++ = '-';
	p = hex_put(p, &flags, 1);
	*p = '\0';
}

/* ---- tracestate ----------------------------------------------------------------- */

typedef struct ts_member {
	const char *p; /* "key=value", OWS trimmed */
	size_t len;
	size_t key_len;
} ts_member;

static bool is_lcalpha(char ch)
{
	return ch >= 'a' && ch <= 'z';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_keychar(char ch)
{
	return is_lcalpha(ch) || is_digit(ch) || ch == '_' || ch == '-' || ch == '*' || ch == '/';
}

static bool keychars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_keychar(s[i]))
			return false;
	}
	return true;
}

/* simple-key = lcalpha 0*255(keychar); multi-tenant key = tenant-id "@" system-id with
 * tenant-id = (lcalpha / DIGIT) 0*240(keychar), system-id = lcalpha 0*13(keychar). */
static bool ts_key_valid(const char *k, size_t n)
{
	const char *at = memchr(k, '@', n);
	if (!at)
		return n >= 1 && n <= TS_KEY_MAX && is_lcalpha(k[0]) && keychars(k, n);
	size_t tn = (size_t)(at - k), sn = n - tn - 1;
	const char *sys = at + 1;
	return tn >= 1 && tn <= TS_TENANT_MAX && (is_lcalpha(k[0]) || is_digit(k[0])) && keychars(k, tn) &&
	       sn >= 1 && sn <= TS_SYSTEM_MAX && is_lcalpha(sys[0]) && keychars(sys, sn);
}

static bool is_ts_nblk(char ch)
{
	return ch >= 0x21 && ch <= 0x7e && ch != ',' && ch != '=';
}

/* value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr. */
static bool ts_value_valid(const char *v, size_t n)
{
	if (n < 1 || n > TS_VALUE_MAX || !is_ts_nblk(v[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] != ' ' && !is_ts_nblk(v[i]))
			return false;
	}
	return true;
}

/* Splits s into its list members, validating each. Returns the number of members, or -1
 * when the list is invalid (bad member, duplicate key, more than the maximum). */
static int ts_split(const char *s, size_t n, ts_member *m, int max)
{
	int count = 0;
	size_t i = 0;
	while (i <= n) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		const char *p = s + i;
		size_t len = j - i;
		trim_ows(&p, &len);
		i = j + 1;
		if (len == 0)
			continue;
		const char *eq = memchr(p, '=', len);
		if (!eq)
			return -1;
		size_t kl = (size_t)(eq - p);
		if (!ts_key_valid(p, kl) || !ts_value_valid(eq + 1, len - kl - 1))
			return -1;
		for (int k = 0; k < count; k++) {
			if (m[k].key_len == kl && memcmp(m[k].p, p, kl) == 0)
				return -1;
		}
		if (count == max)
			return -1;
		m[count++] = (ts_member){.p = p, .len = len, .key_len = kl};
	}
	return count;
}

static size_t ts_total(const ts_member *m, int count)
{
	size_t total = 0;
	for (int i = 0; i < count; i++)
		total += m[i].len;
	return count ? total + (size_t)count - 1 : 0;
}

static void ts_remove(ts_member *m, int *count, int at)
{
	memmove(&m[at], &m[at + 1], (size_t)(*count - at - 1) * sizeof(*m));
	(*count)--;
}

/* W3C truncation: members over 128 characters go first (the last one first), then members
 * from the end, until the list fits. */
static void ts_truncate(ts_member *m, int *count)
{
	while (ts_total(m, *count) > SONDE_TRACESTATE_MAX_LEN) {
		int victim = *count - 1;
		for (int i = *count - 1; i >= 0; i--) {
			if (m[i].len > TS_TRUNCATE_FIRST) {
				victim = i;
				break;
			}
		}
		ts_remove(m, count, victim);
	}
}

/* Writes the members, comma-separated, into buf (which may overlap the members: the
 * output never runs ahead of the input when both live in buf). */
static size_t ts_join(char *buf, const ts_member *m, int count)
{
	size_t len = 0;
	for (int i = 0; i < count; i++) {
		if (i)
			buf[len++] = ',';
		memmove(buf + len, m[i].p, m[i].len);
		len += m[i].len;
	}
	buf[len] = '\0';
	return len;
}

int sonde_tracestate_parse(const char *s, size_t n, sonde_span_context *c)
{
	if (!c)
		return -EINVAL;
	ts_member m[SONDE_TRACESTATE_MAX_MEMBERS];
	int count = s ? ts_split(s, n, m, SONDE_TRACESTATE_MAX_MEMBERS) : (n ? -1 : 0);
	if (count < 0) {
		c->trace_state[0] = '\0';
		c->trace_state_len = 0;
		return -EINVAL;
	}
	ts_truncate(m, &count);
	/* The input may be c->trace_state itself; ts_join copies forward only. */
	c->trace_state_len = (uint16_t)ts_join(c->trace_state, m, count);
	return 0;
}

/* Splits c's stored list without validating it, so a caller-built trace state never
 * makes lookups fail. */
static int ts_split_stored(const sonde_span_context *c, ts_member *m, int max)
{
	size_t n = strnlen(c->trace_state, sizeof(c->trace_state));
	if (c->trace_state_len < n)
		n = c->trace_state_len;
	const char *s = c->trace_state;
	int count = 0;
	size_t i = 0;
	while (i < n && count < max) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		const char *p = s + i;
		size_t len = j - i;
		trim_ows(&p, &len);
		i = j + 1;
		if (!len)
			continue;
		const char *eq = memchr(p, '=', len);
		m[count++] = (ts_member){.p = p, .len = len, .key_len = eq ? (size_t)(eq - p) : len};
	}
	return count;
}

const char *sonde_tracestate_get(const sonde_span_context *c, const char *key, size_t *len)
{
	if (!c || !key)
		return NULL;
	ts_member m[SONDE_TRACESTATE_MAX_MEMBERS + 1];
	int count = ts_split_stored(c, m, SONDE_TRACESTATE_MAX_MEMBERS + 1);
	size_t kl = strlen(key);
	for (int i = 0; i < count; i++) {
		if (m[i].key_len == kl && m[i].len > kl && memcmp(m[i].p, key, kl) == 0) {
			if (len)
				*len = m[i].len - kl - 1;
			return m[i].p + kl + 1;
		}
	}
	return NULL;
}

static int ts_drop_key(ts_member *m, int count, const char *key, size_t kl)
{
	for (int i = 0; i < count; i++) {
		if (m[i].key_len == kl && memcmp(m[i].p, key, kl) == 0) {
			ts_remove(m, &count, i);
			i--;
		}
	}
	return count;
}

int sonde_tracestate_set(sonde_span_context *c, const char *key, const char *value)
{
	if (!c || !key || !value)
		return -EINVAL;
	size_t kl = strlen(key), vl = strlen(value);
	if (!ts_key_valid(key, kl) || !ts_value_valid(value, vl) || kl + 1 + vl > SONDE_TRACESTATE_MAX_LEN)
		return -EINVAL;
	ts_member m[SONDE_TRACESTATE_MAX_MEMBERS + 1];
	int count = ts_split_stored(c, m, SONDE_TRACESTATE_MAX_MEMBERS + 1);
	count = ts_drop_key(m, count, key, kl);
	/* The new member goes first, as the most recent vendor's must; the list is rebuilt in
	 * a scratch buffer since the old members are read from c. */
	char out[SONDE_TRACESTATE_MAX_LEN + 1];
	size_t len = 0;
	memcpy(out, key, kl);
	len += kl;
	out[len++] = '=';
	memcpy(out + len, value, vl);
	len += vl;
	int kept = 1;
	for (int i = 0; i < count && kept < SONDE_TRACESTATE_MAX_MEMBERS; i++) {
		if (len + 1 + m[i].len > SONDE_TRACESTATE_MAX_LEN)
			break;
		out[len++] = ',';
		memcpy(out + len, m[i].p, m[i].len);
		len += m[i].len;
		kept++;
	}
	memcpy(c->trace_state, out, len);
	c->trace_state[len] = '\0';
	c->trace_state_len = (uint16_t)len;
	return 0;
}

int sonde_tracestate_delete(sonde_span_context *c, const char *key)
{
	if (!c || !key)
		return -EINVAL;
	ts_member m[SONDE_TRACESTATE_MAX_MEMBERS + 1];
	int count = ts_split_stored(c, m, SONDE_TRACESTATE_MAX_MEMBERS + 1);
	int left = ts_drop_key(m, count, key, strlen(key));
	if (left != count)
		c->trace_state_len = (uint16_t)ts_join(c->trace_state, m, left);
	return 0;
}

/* ---- baggage -------------------------------------------------------------------- */

/* RFC 7230 tchar. */
static bool is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return true;
	return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E */
static bool is_baggage_octet(unsigned char ch)
{
	return ch >= 0x21 && ch <= 0x7e && ch != '"' && ch != ',' && ch != ';' && ch != '\\';
}

static bool all_tchar(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_tchar((unsigned char)s[i]))
			return false;
	}
	return n > 0;
}

static bool all_baggage_octets(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_baggage_octet((unsigned char)s[i]))
			return false;
	}
	return true;
}

static char empty_props[] = "";

void sonde_baggage_init(sonde_baggage *b)
{
	b->count = 0;
	b->used = 0;
}

/* Bytes the live strings take, leaving out the value and properties of skip (being
 * replaced). */
static size_t bag_live(const sonde_baggage *b, const sonde_baggage_entry *skip)
{
	size_t live = 0;
	for (uint32_t i = 0; i < b->count; i++) {
		const sonde_baggage_entry *e = &b->entries[i];
		live += strlen(e->key) + 1;
		if (e == skip)
			continue;
		live += strlen(e->value) + 1;
		if (e->properties != empty_props)
			live += strlen(e->properties) + 1;
	}
	return live;
}

/* Moves the live strings to the front of the storage, reclaiming what replaced values
 * left behind. Strings parked on empty_props take no room. */
static void bag_compact(sonde_baggage *b)
{
	char tmp[sizeof(b->storage)];
	size_t used = 0;
	for (uint32_t i = 0; i < b->count; i++) {
		sonde_baggage_entry *e = &b->entries[i];
		char **fields[3] = {&e->key, &e->value, &e->properties};
		for (int f = 0; f < 3; f++) {
			if (*fields[f] == empty_props)
				continue;
			size_t l = strlen(*fields[f]) + 1;
			memcpy(tmp + used, *fields[f], l);
			*fields[f] = b->storage + used;
			used += l;
		}
	}
	memcpy(b->storage, tmp, used);
	b->used = used;
}

static int hexval_any(char ch)
{
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return lower_hex_val(ch);
}

/* Percent-decodes s[0..n) into out (at most n bytes + NUL). A '%' not followed by two hex
 * digits is kept as it is: lenient, and still stable through format and parse. */
static size_t pct_decode(char *out, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n && (hi = hexval_any(s[i + 1])) >= 0 &&
		    (lo = hexval_any(s[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return o;
}

/* Validates one property ("key", "key=value", OWS around the parts) and appends its
 * normalised form to props. */
static bool prop_normalise(const char *p, size_t n, char *props, size_t *plen)
{
	trim_ows(&p, &n);
	const char *eq = memchr(p, '=', n);
	const char *k = p, *v = NULL;
	size_t kl = eq ? (size_t)(eq - p) : n, vl = 0;
	if (eq) {
		v = eq + 1;
		vl = n - kl - 1;
		trim_ows(&v, &vl);
	}
	trim_ows(&k, &kl);
	if (!all_tchar(k, kl) || (eq && !all_baggage_octets(v, vl)))
		return false;
	if (*plen)
		props[(*plen)++] = ';';
	memcpy(props + *plen, k, kl);
	*plen += kl;
	if (eq) {
		props[(*plen)++] = '=';
		memcpy(props + *plen, v, vl);
		*plen += vl;
	}
	return true;
}

static sonde_baggage_entry *bag_find(const sonde_baggage *b, const char *key)
{
	for (uint32_t i = 0; i < b->count; i++) {
		if (strcmp(b->entries[i].key, key) == 0)
			return (sonde_baggage_entry *)&b->entries[i];
	}
	return NULL;
}

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	p[n] = '\0';
	return p + n + 1;
}

/* Stores key/value/properties (lengths given; none may point into b's storage) as a new
 * entry or over the value and properties of the entry with the same key. Fails with
 * -E2BIG, b unchanged, when the members or the storage are exhausted. */
static int bag_put(sonde_baggage *b, const char *key, size_t kl, const char *value, size_t vl,
                   const char *props, size_t pl)
{
	sonde_baggage_entry *e = NULL;
	for (uint32_t i = 0; i < b->count; i++) {
		if (strlen(b->entries[i].key) == kl && memcmp(b->entries[i].key, key, kl) == 0) {
			e = &b->entries[i];
			break;
		}
	}
	if (!e && b->count == SONDE_BAGGAGE_MAX_MEMBERS)
		return -E2BIG;
	size_t need = (e ? 0 : kl + 1) + vl + 1 + (pl ? pl + 1 : 0);
	if (sizeof(b->storage) - b->used < need) {
		if (sizeof(b->storage) - bag_live(b, e) < need)
			return -E2BIG;
		if (e) {
			e->value = empty_props;
			e->properties = empty_props;
		}
		bag_compact(b);
	}
	char *p = b->storage + b->used;
	b->used += need;
	if (!e) {
		/* Filled in before it is counted, so a compaction never sees half an entry. */
		sonde_baggage_entry *ne = &b->entries[b->count];
		ne->key = p;
		p = put_str(p, key, kl);
		ne->value = p;
		p = put_str(p, value, vl);
		ne->properties = pl ? p : empty_props;
		if (pl)
			put_str(p, props, pl);
		b->count++;
		return 0;
	}
	e->value = p;
	p = put_str(p, value, vl);
	e->properties = pl ? p : empty_props;
	if (pl)
		put_str(p, props, pl);
	return 0;
}

/* Parses one list member into b. Returns 0 (added), 1 (invalid: skipped), or -E2BIG. */
static int bag_member(sonde_baggage *b, const char *s, size_t n)
{
	const char *eq = memchr(s, '=', n);
	if (!eq)
		return 1;
	const char *k = s;
	size_t kl = (size_t)(eq - s);
	trim_ows(&k, &kl);
	if (!all_tchar(k, kl))
		return 1;
	const char *v = eq + 1;
	size_t rest = n - (size_t)(eq + 1 - s);
	const char *semi = memchr(v, ';', rest);
	size_t vl = semi ? (size_t)(semi - v) : rest;
	trim_ows(&v, &vl);
	if (!all_baggage_octets(v, vl))
		return 1;
	/* Decoded key and value and normalised properties are never longer than their raw
	 * text (the properties lose their leading ';'), so one scratch buffer the size of the
	 * storage holds whatever could be stored. */
	size_t props_raw = semi ? n - (size_t)(semi - s) : 0;
	if (kl + 1 + vl + 1 + props_raw > SONDE_BAGGAGE_MAX_LEN)
		return -E2BIG;
	char scratch[SONDE_BAGGAGE_MAX_LEN];
	char *key = scratch;
	size_t dkl = pct_decode(key, k, kl);
	char *value = key + dkl + 1;
	size_t dvl = pct_decode(value, v, vl);
	char *props = value + dvl + 1;
	size_t pl = 0;
	while (semi) {
		const char *p = semi + 1;
		size_t left = n - (size_t)(p - s);
		semi = memchr(p, ';', left);
		size_t l = semi ? (size_t)(semi - p) : left;
		if (!prop_normalise(p, l, props, &pl))
			return 1;
	}
	/* A key or value that decodes to a NUL cannot be kept in a C string. */
	if (strlen(key) != dkl || strlen(value) != dvl || dkl == 0)
		return 1;
	return bag_put(b, key, dkl, value, dvl, props, pl);
}

int sonde_baggage_parse(sonde_baggage *b, const char *s, size_t n)
{
	if (!b || (!s && n))
		return -EINVAL;
	/* Control characters (other than tab) cannot be in a header field: the whole value
	 * is suspect, so none of it is taken. */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return -EINVAL;
	}
	int skipped = 0;
	bool full = false;
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && s[j] != ',')
			j++;
		const char *p = s + i;
		size_t len = j - i;
		trim_ows(&p, &len);
		i = j + 1;
		if (!len)
			continue;
		int rc = bag_member(b, p, len);
		if (rc == 1)
			skipped++;
		else if (rc < 0)
			full = true;
	}
	return full ? -E2BIG : skipped;
}

int sonde_baggage_set(sonde_baggage *b, const char *key, const char *value)
{
	if (!b || !key || !*key || !value)
		return -EINVAL;
	size_t kl = strlen(key), vl = strlen(value);
	if (kl + vl + 2 > SONDE_BAGGAGE_MAX_LEN)
		return -E2BIG;
	/* The caller may pass strings borrowed from b itself, which a compaction moves. */
	char scratch[SONDE_BAGGAGE_MAX_LEN];
	uintptr_t lo = (uintptr_t)b->storage, hi = lo + sizeof(b->storage);
	uintptr_t k = (uintptr_t)key, v = (uintptr_t)value;
	if ((k >= lo && k < hi) || (v >= lo && v < hi)) {
		memcpy(scratch, key, kl + 1);
		memcpy(scratch + kl + 1, value, vl + 1);
		key = scratch;
		value = scratch + kl + 1;
	}
	return bag_put(b, key, kl, value, vl, NULL, 0);
}

const char *sonde_baggage_get(const sonde_baggage *b, const char *key)
{
	if (!b || !key)
		return NULL;
	const sonde_baggage_entry *e = bag_find(b, key);
	return e ? e->value : NULL;
}

/* Percent-encodes s: keys keep their tchars, values their baggage-octets; '%' is always
 * encoded so decoding gives back the original bytes. Returns the encoded length, writing
 * only while it fits in cap (out may be NULL to measure). */
static size_t pct_encode(char *out, size_t cap, const char *s, bool key)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		bool plain = *p != '%' && (key ? is_tchar(*p) : is_baggage_octet(*p));
		if (plain) {
			if (out && o < cap)
				out[o] = (char)*p;
			o++;
		} else {
			if (out && o + 3 <= cap) {
				out[o] = '%';
				out[o + 1] = "0123456789ABCDEF"[*p >> 4];
				out[o + 2] = "0123456789ABCDEF"[*p & 15];
			}
			o += 3;
		}
	}
	return o;
}

int sonde_baggage_format(const sonde_baggage *b, char *out, size_t cap)
{
	if (!b || (!out && cap))
		return -EINVAL;
	size_t len = 0;
	bool left_out_for_cap = false;
	for (uint32_t i = 0; i < b->count; i++) {
		const sonde_baggage_entry *e = &b->entries[i];
		size_t kl = pct_encode(NULL, 0, e->key, true), vl = pct_encode(NULL, 0, e->value, false);
		size_t pl = strlen(e->properties);
		size_t ml = kl + 1 + vl + (pl ? pl + 1 : 0);
		size_t total = len + (len ? 1 : 0) + ml;
		if (total > SONDE_BAGGAGE_MAX_LEN)
			continue;
		if (total + 1 > cap) {
			left_out_for_cap = true;
			continue;
		}
		if (len)
			out[len++] = ',';
		len += pct_encode(out + len, kl, e->key, true);
		out[len++] = '=';
		len += pct_encode(out + len, vl, e->value, false);
		if (pl) {
			out[len++] = ';';
			memcpy(out + len, e->properties, pl);
			len += pl;
		}
	}
	if (cap)
		out[len] = '\0';
	if (len == 0 && left_out_for_cap)
		return -E2BIG;
	return (int)len;
}

/* ---- carriers ------------------------------------------------------------------- */

int sonde_propagation_inject(const sonde_carrier *carrier, const sonde_span_context *c,
                             const sonde_baggage *bag)
{
	if (!carrier || !carrier->set)
		return -EINVAL;
	int rc;
	if (c && sonde_span_context_is_valid(c)) {
		char tp[56];
		sonde_traceparent_format(c, tp);
		if ((rc = carrier->set(carrier->ctx, "traceparent", tp)) < 0)
			return rc;
		if (c->trace_state_len && c->trace_state[0]) {
			if ((rc = carrier->set(carrier->ctx, "tracestate", c->trace_state)) < 0)
				return rc;
		}
	}
	if (bag && bag->count) {
		char buf[SONDE_BAGGAGE_MAX_LEN + 1];
		int n = sonde_baggage_format(bag, buf, sizeof(buf));
		if (n > 0 && (rc = carrier->set(carrier->ctx, "baggage", buf)) < 0)
			return rc;
	}
	return 0;
}

int sonde_propagation_extract(const sonde_carrier *carrier, sonde_span_context *c, sonde_baggage *bag)
{
	if (!carrier || !carrier->get || !c)
		return -EINVAL;
	if (bag) {
		const char *v = carrier->get(carrier->ctx, "baggage");
		if (v)
			(void)sonde_baggage_parse(bag, v, strlen(v));
	}
	memset(c, 0, sizeof(*c));
	const char *tp = carrier->get(carrier->ctx, "traceparent");
	if (!tp)
		return -ENOENT;
	sonde_span_context parsed;
	memset(&parsed, 0, sizeof(parsed));
	/* An invalid traceparent invalidates tracestate too: it is not even read. */
	if (sonde_traceparent_parse(tp, strlen(tp), &parsed) < 0)
		return -EINVAL;
	parsed.is_remote = true;
	const char *ts = carrier->get(carrier->ctx, "tracestate");
	if (ts)
		(void)sonde_tracestate_parse(ts, strlen(ts), &parsed);
	*c = parsed;
	return 0;
}
