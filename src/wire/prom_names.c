/*
 * prom_names.c - OpenTelemetry <-> Prometheus names, units and number text, shared by the
 * Prometheus and InfluxDB writers (see prom_text.h).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom_text.h"

/* ---- Units ------------------------------------------------------------------------ */

typedef struct unit_map {
	const char *otel;
	const char *prom;
} unit_map;

static const unit_map main_units[] = {
        {"d", "days"},          {"h", "hours"},         {"min", "minutes"},    {"s", "seconds"},
        {"ms", "milliseconds"}, {"us", "microseconds"}, {"ns", "nanoseconds"}, {"By", "bytes"},
        {"KiBy", "kibibytes"},  {"MiBy", "mebibytes"},  {"GiBy", "gibibytes"}, {"TiBy", "tibibytes"},
        {"KBy", "kilobytes"},   {"MBy", "megabytes"},   {"GBy", "gigabytes"},  {"TBy", "terabytes"},
        {"m", "meters"},        {"V", "volts"},         {"A", "amperes"},      {"J", "joules"},
        {"W", "watts"},         {"g", "grams"},         {"Cel", "celsius"},    {"Hz", "hertz"},
        {"%", "percent"},
};

static const unit_map per_units[] = {
        {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
        {"w", "week"},   {"mo", "month"}, {"y", "year"},
};

static bool eq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static const char *map_unit(const unit_map *t, size_t count, const char *s, size_t n, bool to_prom)
{
	for (size_t i = 0; i < count; i++)
		if (eq(s, n, to_prom ? t[i].otel : t[i].prom))
			return to_prom ? t[i].prom : t[i].otel;
	return NULL;
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

void sonde_prom_sanitize(sonde_buf *out, const char *name, size_t len, bool metric)
{
	/* A replaced character after a '_' adds nothing, so runs of them become one '_' and
	 * a name that is valid already comes out as it went in. */
	bool last_us = false;
	if (len > 0 && is_digit((unsigned char)name[0]))
		sonde_buf_putc(out, '_');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		bool ok = is_alpha(c) || is_digit(c) || c == '_' || (metric && c == ':');
		if (!ok && last_us)
			continue;
		sonde_buf_putc(out, ok ? (char)c : '_');
		last_us = !ok || c == '_';
	}
}

static void truncate_to(sonde_buf *out, size_t len)
{
	out->len = len;
	if (out->cap)
		out->data[len] = '\0';
}

#define COUNT(t) (sizeof(t) / sizeof((t)[0]))

/* Appends one side of a unit ("By", "s") mapped through t, else sanitized: runs of
 * characters outside [a-zA-Z0-9] become one '_', none at either end. A sanitized word
 * that is in t is mapped too, so the result is never one of t's OpenTelemetry units;
 * that keeps sonde_prom_unit_from_prom() its inverse. */
static void unit_part(sonde_buf *out, const unit_map *t, size_t count, const char *s, size_t n)
{
	const char *m = map_unit(t, count, s, n, true);
	if (m) {
		sonde_buf_puts(out, m);
		return;
	}
	size_t start = out->len;
	bool last_us = true; /* drops leading '_' */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_alpha(c) || is_digit(c)) {
			sonde_buf_putc(out, (char)c);
			last_us = false;
		} else if (!last_us) {
			sonde_buf_putc(out, '_');
			last_us = true;
		}
	}
	if (out->len > start && out->data[out->len - 1] == '_')
		truncate_to(out, out->len - 1);
	if (out->oom || out->len == start)
		return;
	m = map_unit(t, count, out->data + start, out->len - start, true);
	if (m) {
		truncate_to(out, start);
		sonde_buf_puts(out, m);
	}
}

void sonde_prom_unit_suffix(sonde_buf *out, const char *unit, size_t len, bool gauge)
{
	/* Without {annotations} and blanks: "{packet}/s" -> "/s". */
	sonde_buf t = SONDE_BUF_INIT;
	int depth = 0;
	for (size_t i = 0; i < len; i++) {
		if (unit[i] == '{')
			depth++;
		else if (unit[i] == '}' && depth > 0)
			depth--;
		else if (depth == 0 && unit[i] != ' ')
			sonde_buf_putc(&t, unit[i]);
	}
	if (t.oom) {
		out->oom = true;
		goto done;
	}
	const char *u = t.len ? t.data : "";
	const char *slash = memchr(u, '/', t.len);
	size_t main_n = slash ? (size_t)(slash - u) : t.len;
	size_t start = out->len;
	unit_part(out, main_units, COUNT(main_units), u, main_n);
	bool one = main_n == 1 && u[0] == '1';
	if (!one && out->len - start == 1 && out->data[start] == '1')
		one = true; /* "1." */
	if (one)
		truncate_to(out, start);
	if (slash) {
		size_t mark = out->len;
		if (out->len > start)
			sonde_buf_putc(out, '_');
		sonde_buf_puts(out, "per_");
		size_t before = out->len;
		unit_part(out, per_units, COUNT(per_units), slash + 1, t.len - main_n - 1);
		if (out->len == before) /* "By/" or "By/{x}": nothing to be per */
			truncate_to(out, mark);
	}
	if (one && out->len == start && gauge) /* "1" alone */
		sonde_buf_puts(out, "ratio");
done:
	sonde_buf_release(&t);
}

/* Maps one side of a Prometheus unit back; false when that would not map forward to the
 * same word again (an OpenTelemetry unit of the table that is not a Prometheus word). */
static bool unit_back(sonde_buf *out, const unit_map *t, size_t count, const char *s, size_t n)
{
	const char *m = map_unit(t, count, s, n, false);
	if (m) {
		sonde_buf_puts(out, m);
		return true;
	}
	if (map_unit(t, count, s, n, true))
		return false;
	sonde_buf_append(out, s, n);
	return true;
}

void sonde_prom_unit_from_prom(sonde_buf *out, const char *unit, size_t len)
{
	if (eq(unit, len, "ratio")) {
		sonde_buf_putc(out, '1');
		return;
	}
	const char *main_s = unit, *per_s = NULL;
	size_t main_n = len, per_n = 0;
	if (len > 4 && memcmp(unit, "per_", 4) == 0) {
		main_n = 0;
		per_s = unit + 4;
		per_n = len - 4;
	} else {
		for (size_t i = 0; i + 5 < len; i++) {
			if (memcmp(unit + i, "_per_", 5) == 0) {
				main_n = i;
				per_s = unit + i + 5;
				per_n = len - i - 5;
				break;
			}
		}
	}
	size_t start = out->len;
	if (per_s && main_n > 0 && main_n < len) {
		if (unit_back(out, main_units, COUNT(main_units), main_s, main_n)) {
			sonde_buf_putc(out, '/');
			if (unit_back(out, per_units, COUNT(per_units), per_s, per_n))
				return;
		}
		truncate_to(out, start);
	} else if (per_s) {
		sonde_buf_puts(out, "1/");
		if (unit_back(out, per_units, COUNT(per_units), per_s, per_n))
			return;
		truncate_to(out, start);
	}
	const char *m = map_unit(main_units, COUNT(main_units), unit, len, false);
	if (m)
		sonde_buf_puts(out, m);
	else
		sonde_buf_append(out, unit, len);
}

/* ---- Metric names ----------------------------------------------------------------- */

static const sonde_value *metadata_type(const sonde_metric_data *m)
{
	const sonde_value *v = sonde_attrs_get(&m->metadata, "prometheus.type");
	return v && v->kind == SONDE_VAL_STRING ? v : NULL;
}

static bool meta_is(const sonde_value *v, const char *lit)
{
	return v && eq(v->u.str.ptr, v->u.str.len, lit);
}

sonde__prom_kind sonde__prom_kind_of(const sonde_metric_data *m)
{
	if (m->name.len == 0)
		return SONDE__PROM_SKIP;
	const sonde_value *t = metadata_type(m);
	switch (m->type) {
	case SONDE_METRIC_GAUGE:
		if (meta_is(t, "unknown"))
			return SONDE__PROM_UNKNOWN;
		if (meta_is(t, "info"))
			return SONDE__PROM_INFO;
		if (meta_is(t, "stateset"))
			return SONDE__PROM_STATESET;
		return SONDE__PROM_GAUGE;
	case SONDE_METRIC_SUM:
		if (m->temporality == SONDE_TEMPORALITY_DELTA)
			return SONDE__PROM_SKIP;
		if (m->is_monotonic)
			return SONDE__PROM_COUNTER;
		if (meta_is(t, "info"))
			return SONDE__PROM_INFO;
		if (meta_is(t, "stateset"))
			return SONDE__PROM_STATESET;
		return SONDE__PROM_GAUGE;
	case SONDE_METRIC_HISTOGRAM:
		if (m->temporality == SONDE_TEMPORALITY_DELTA)
			return SONDE__PROM_SKIP;
		if (m->temporality == SONDE_TEMPORALITY_UNSPECIFIED)
			return SONDE__PROM_GAUGEHISTOGRAM;
		return SONDE__PROM_HISTOGRAM;
	case SONDE_METRIC_SUMMARY: return SONDE__PROM_SUMMARY;
	case SONDE_METRIC_NONE:
	case SONDE_METRIC_EXP_HISTOGRAM: break;
	}
	return SONDE__PROM_SKIP;
}

static void add_unit(sonde_buf *out, size_t start, const sonde_metric_data *m);

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

void sonde__prom_family_name(sonde_buf *out, const sonde_metric_data *m, sonde__prom_kind kind,
                             sonde_prom_flavor flavor)
{
	size_t start = out->len;
	sonde_prom_sanitize(out, m->name.ptr, m->name.len, true);
	/* The type suffix comes after the unit: taken off, put back in 0.0.4. */
	const char *type_suffix = kind == SONDE__PROM_COUNTER ? "_total"
	                          : kind == SONDE__PROM_INFO  ? "_info"
	                                                      : NULL;
	if (type_suffix && out->len - start > strlen(type_suffix) &&
	    ends_with(out->data + start, out->len - start, type_suffix))
		truncate_to(out, out->len - strlen(type_suffix));
	if (kind != SONDE__PROM_INFO && kind != SONDE__PROM_STATESET && m->unit.len > 0 && !out->oom)
		add_unit(out, start, m);
	if (type_suffix && flavor == SONDE_PROM_TEXT_004)
		sonde_buf_puts(out, type_suffix);
}

/* Appends "_<unit>" to the name at out[start..] unless the name ends with it already. */
static void add_unit(sonde_buf *out, size_t start, const sonde_metric_data *m)
{
	size_t name_end = out->len;
	sonde_buf_putc(out, '_');
	size_t word = out->len;
	sonde_prom_unit_suffix(out, m->unit.ptr, m->unit.len, m->type == SONDE_METRIC_GAUGE);
	if (out->oom)
		return;
	size_t wlen = out->len - word;
	/* Skip the unit when empty or already the name's suffix ("_seconds"). */
	bool have = wlen == 0 ||
	            (name_end - start == wlen && memcmp(out->data + start, out->data + word, wlen) == 0);
	if (!have && name_end - start > wlen && out->data[name_end - wlen - 1] == '_' &&
	    memcmp(out->data + name_end - wlen, out->data + word, wlen) == 0)
		have = true;
	if (have) {
		truncate_to(out, name_end);
		return;
	}
	if (name_end > start && out->data[name_end - 1] == '_') { /* "foo_" + "_seconds" */
		memmove(out->data + name_end, out->data + word, wlen);
		truncate_to(out, name_end + wlen);
	}
}

bool sonde_prom_family_name(sonde_buf *out, const sonde_metric_data *m, sonde_prom_flavor flavor)
{
	sonde__prom_kind k = sonde__prom_kind_of(m);
	if (k == SONDE__PROM_SKIP)
		return false;
	sonde__prom_family_name(out, m, k, flavor);
	return true;
}

/* ---- Numbers and values ----------------------------------------------------------- */

void sonde__prom_double(sonde_buf *out, double d, bool canonical)
{
	if (isnan(d)) {
		sonde_buf_puts(out, "NaN");
		return;
	}
	if (isinf(d)) {
		sonde_buf_puts(out, d > 0 ? "+Inf" : "-Inf");
		return;
	}
	/* Shortest digits that read back exactly, from %e: "-d.ddde+XX". */
	char tmp[40];
	for (int prec = 0; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	const char *p = tmp;
	bool neg = *p == '-';
	if (neg)
		p++;
	char digits[24];
	int nd = 0;
	for (; *p && *p != 'e'; p++)
		if (is_digit((unsigned char)*p))
			digits[nd++] = *p;
	int exp = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	char o[64];
	size_t n = 0;
	if (neg)
		o[n++] = '-';
	if (exp < -4 || exp >= 6) {
		/* Go's shortest formatting switches to an exponent at 1e+06. */
		o[n++] = digits[0];
		if (nd > 1) {
			o[n++] = '.';
			for (int i = 1; i < nd; i++)
				o[n++] = digits[i];
		}
		n += (size_t)snprintf(o + n, sizeof(o) - n, "e%c%02d", exp < 0 ? '-' : '+',
		                      exp < 0 ? -exp : exp);
	} else if (exp < 0) {
		o[n++] = '0';
		o[n++] = '.';
		for (int i = 0; i < -exp - 1; i++)
			o[n++] = '0';
		for (int i = 0; i < nd; i++)
			o[n++] = digits[i];
	} else {
		for (int i = 0; i <= exp; i++)
			o[n++] = i < nd ? digits[i] : '0';
		if (nd > exp + 1) {
			o[n++] = '.';
			for (int i = exp + 1; i < nd; i++)
				o[n++] = digits[i];
		} else if (canonical) {
			o[n++] = '.';
			o[n++] = '0';
		}
	}
	sonde_buf_append(out, o, n);
}

static void json_string(sonde_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	sonde_buf_putc(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			sonde_buf_putc(out, '\\');
			sonde_buf_putc(out, (char)c);
		} else if (c == '\n') {
			sonde_buf_puts(out, "\\n");
		} else if (c == '\t') {
			sonde_buf_puts(out, "\\t");
		} else if (c == '\r') {
			sonde_buf_puts(out, "\\r");
		} else if (c < 0x20) {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			sonde_buf_append(out, e, 6);
		} else {
			sonde_buf_putc(out, (char)c);
		}
	}
	sonde_buf_putc(out, '"');
}

static void base64(sonde_buf *out, const unsigned char *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = {tab[(v >> 18) & 63], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=',
		             i + 2 < n ? tab[v & 63] : '='};
		sonde_buf_append(out, q, 4);
	}
}

enum { JSON_MAX_DEPTH = 64 };

static void json_value(sonde_buf *out, const sonde_value *v, int depth)
{
	if (depth > JSON_MAX_DEPTH) {
		sonde_buf_puts(out, "null");
		return;
	}
	switch (v->kind) {
	case SONDE_VAL_STRING: json_string(out, v->u.str.ptr, v->u.str.len); return;
	case SONDE_VAL_BOOL: sonde_buf_puts(out, v->u.b ? "true" : "false"); return;
	case SONDE_VAL_INT: sonde_buf_printf(out, "%" PRId64, v->u.i); return;
	case SONDE_VAL_DOUBLE:
		if (!isfinite(v->u.d)) { /* JSON has no NaN or Inf */
			sonde_buf_putc(out, '"');
			sonde__prom_double(out, v->u.d, false);
			sonde_buf_putc(out, '"');
		} else {
			sonde__prom_double(out, v->u.d, false);
		}
		return;
	case SONDE_VAL_BYTES:
		sonde_buf_putc(out, '"');
		base64(out, (const unsigned char *)v->u.str.ptr, v->u.str.len);
		sonde_buf_putc(out, '"');
		return;
	case SONDE_VAL_ARRAY:
		sonde_buf_putc(out, '[');
		for (uint32_t i = 0; i < v->u.array.count; i++) {
			if (i)
				sonde_buf_putc(out, ',');
			json_value(out, &v->u.array.items[i], depth + 1);
		}
		sonde_buf_putc(out, ']');
		return;
	case SONDE_VAL_KVLIST:
		sonde_buf_putc(out, '{');
		for (uint32_t i = 0; i < v->u.kvlist.count; i++) {
			const sonde_kv *kv = &v->u.kvlist.items[i];
			if (i)
				sonde_buf_putc(out, ',');
			json_string(out, kv->key.ptr, kv->key.len);
			sonde_buf_putc(out, ':');
			json_value(out, &kv->value, depth + 1);
		}
		sonde_buf_putc(out, '}');
		return;
	case SONDE_VAL_EMPTY: break;
	}
	sonde_buf_puts(out, "null");
}

void sonde__prom_value_text(sonde_buf *out, const sonde_value *v)
{
	switch (v->kind) {
	case SONDE_VAL_STRING: sonde_buf_append(out, v->u.str.ptr, v->u.str.len); return;
	case SONDE_VAL_BYTES: base64(out, (const unsigned char *)v->u.str.ptr, v->u.str.len); return;
	case SONDE_VAL_EMPTY: return;
	case SONDE_VAL_DOUBLE: sonde__prom_double(out, v->u.d, false); return;
	default: json_value(out, v, 0);
	}
}
