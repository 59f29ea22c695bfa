/*
 * stats_abtest.c - reading and tallying the input of an A/B test (see stats_abtest.h):
 * CSV with a header, or JSON Lines, of per-unit outcomes or aggregate counts.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "sonde/status.h"
#include "stats_abtest.h"

void sonde_abtest_data_init(sonde_abtest_data *d)
{
	memset(d, 0, sizeof(*d));
}

void sonde_abtest_data_release(sonde_abtest_data *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->variants_count; i++) {
		free(d->variants[i].name);
		free(d->variants[i].values);
	}
	free(d->variants);
	for (size_t i = 0; i < d->segments_count; i++)
		free(d->segments[i]);
	free(d->segments);
	free(d->cells);
	sonde_abtest_data_init(d);
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static bool name_is(const char *name, const char *s, size_t n)
{
	return strlen(name) == n && memcmp(name, s, n) == 0;
}

ssize_t sonde_abtest_find_variant(const sonde_abtest_data *d, const char *name)
{
	for (size_t i = 0; i < d->variants_count; i++)
		if (!strcmp(d->variants[i].name, name))
			return (ssize_t)i;
	return -1;
}

/* The index of variant s[0..n), added if new: >= 0, -EINVAL (too many) or -ENOMEM. */
static ssize_t variant_of(sonde_abtest_data *d, const char *s, size_t n)
{
	for (size_t i = 0; i < d->variants_count; i++)
		if (name_is(d->variants[i].name, s, n))
			return (ssize_t)i;
	if (d->variants_count == SONDE_ABTEST_MAX_VARIANTS)
		return -EINVAL;
	if (!d->variants) {
		d->variants = calloc(SONDE_ABTEST_MAX_VARIANTS, sizeof(*d->variants));
		if (!d->variants)
			return -ENOMEM;
	}
	sonde_abtest_variant *v = &d->variants[d->variants_count];
	if (!(v->name = dup_n(s, n)))
		return -ENOMEM;
	return (ssize_t)d->variants_count++;
}

/* The index of segment s[0..n), added if new. */
static ssize_t segment_of(sonde_abtest_data *d, const char *s, size_t n)
{
	for (size_t i = 0; i < d->segments_count; i++)
		if (name_is(d->segments[i], s, n))
			return (ssize_t)i;
	if (d->segments_count == SONDE_ABTEST_MAX_SEGMENTS)
		return -EINVAL;
	if (d->segments_count % 16 == 0) {
		size_t cap = d->segments_count + 16;
		char **ns = realloc(d->segments, cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		d->segments = ns;
		sonde_abtest_cell *nc = realloc(d->cells, cap * SONDE_ABTEST_MAX_VARIANTS * sizeof(*nc));
		if (!nc)
			return -ENOMEM;
		memset(nc + d->segments_count * SONDE_ABTEST_MAX_VARIANTS, 0,
		       16 * SONDE_ABTEST_MAX_VARIANTS * sizeof(*nc));
		d->cells = nc;
	}
	if (!(d->segments[d->segments_count] = dup_n(s, n)))
		return -ENOMEM;
	return (ssize_t)d->segments_count++;
}

static int add_value(sonde_abtest_variant *v, double x)
{
	if (v->values_count == v->values_cap) {
		size_t cap = v->values_cap ? v->values_cap * 2 : 64;
		double *nv = realloc(v->values, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		v->values = nv;
		v->values_cap = cap;
	}
	v->values[v->values_count++] = x;
	return 0;
}

/* One row, whatever its syntax. */
typedef struct row {
	const char *variant, *segment;
	size_t variant_len, segment_len;
	bool has_variant, has_segment;
	int converted; /* -1 none, 0, 1 */
	bool has_value;
	double value;
	bool has_users, has_conversions;
	uint64_t users, conversions;
} row;

/* Adds a row; on failure fills err for the row starting at offset. */
static int add_row(sonde_abtest_data *d, const row *r, size_t offset, size_t line, sonde_wire_error *err)
{
	if (!r->has_variant || r->variant_len == 0)
		return sonde_wire_fail(err, offset, line, "variant", "expected a variant name");
	bool agg = r->has_users;
	if (!agg && r->has_conversions)
		return sonde_wire_fail(err, offset, line, "users", "expected users with conversions");
	if (!agg && r->converted < 0 && !r->has_value && !d->has_value)
		return sonde_wire_fail(
		        err, offset, line, "converted",
		        "expected converted or value (per-unit rows), or users and conversions");
	if (d->variants_count && agg != d->aggregate)
		return sonde_wire_fail(err, offset, line, agg ? "users" : "variant",
		                       "expected every row to be %s, as the first one",
		                       d->aggregate ? "counts (users, conversions)" : "a unit's outcome");
	if (agg && r->conversions > r->users)
		return sonde_wire_fail(err, offset, line, "conversions", "expected conversions <= users");
	ssize_t v = variant_of(d, r->variant, r->variant_len);
	if (v == -ENOMEM)
		return -ENOMEM;
	if (v < 0)
		return sonde_wire_fail(err, offset, line, "variant", "expected at most %d variants",
		                       SONDE_ABTEST_MAX_VARIANTS);
	d->aggregate = agg;
	ssize_t s = -1;
	if (r->has_segment) {
		s = segment_of(d, r->segment, r->segment_len);
		if (s == -ENOMEM)
			return -ENOMEM;
		if (s < 0)
			return sonde_wire_fail(err, offset, line, "segment", "expected at most %d segments",
			                       SONDE_ABTEST_MAX_SEGMENTS);
	}
	sonde_abtest_variant *var = &d->variants[v];
	uint64_t users = agg ? r->users : 1;
	uint64_t conv = agg ? r->conversions : r->converted > 0;
	if (var->users > UINT64_MAX - users)
		return sonde_wire_fail(err, offset, line, "users", "expected a total below 2^64");
	var->users += users;
	var->conversions += conv;
	if (s >= 0) {
		sonde_abtest_cell *c = &d->cells[(size_t)s * SONDE_ABTEST_MAX_VARIANTS + (size_t)v];
		c->users += users;
		c->conversions += conv;
	}
	if (agg || r->converted >= 0)
		d->has_conversion = true;
	if (r->has_value && !agg) {
		d->has_value = true;
		if (add_value(var, r->value) < 0)
			return -ENOMEM;
	}
	return 0;
}

int sonde_abtest_add_counts(sonde_abtest_data *d, const char *name, size_t name_len, const char *segment,
                            size_t segment_len, uint64_t conversions, uint64_t users)
{
	if (d->variants_count && !d->aggregate)
		return -EINVAL;
	row r = {.variant = name,
	         .variant_len = name_len,
	         .has_variant = true,
	         .segment = segment,
	         .segment_len = segment_len,
	         .has_segment = segment != NULL,
	         .converted = -1,
	         .has_users = true,
	         .has_conversions = true,
	         .users = users,
	         .conversions = conversions};
	sonde_wire_error err;
	int rc = add_row(d, &r, 0, 0, &err);
	return rc == SONDE_EPARSE ? -EINVAL : rc;
}

/* ---- Cell parsing ----------------------------------------------------------------------- */

static void trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t' || **p == '\r')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t' || (*p)[*n - 1] == '\r'))
		(*n)--;
}

static bool ieq(const char *p, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i] >= 'A' && p[i] <= 'Z' ? (char)(p[i] + 32) : p[i];
		if (c != lit[i])
			return false;
	}
	return true;
}

static bool parse_bool(const char *p, size_t n, int *out)
{
	if (ieq(p, n, "1") || ieq(p, n, "true") || ieq(p, n, "yes"))
		*out = 1;
	else if (ieq(p, n, "0") || ieq(p, n, "false") || ieq(p, n, "no"))
		*out = 0;
	else
		return false;
	return true;
}

static bool parse_finite(const char *p, size_t n, double *out)
{
	return n > 0 && sonde_json_parse_double(p, n, out) == 0 && isfinite(*out);
}

static bool parse_count(const char *p, size_t n, uint64_t *out)
{
	if (n == 0 || n > 19)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*out = v;
	return true;
}

enum col {
	COL_OTHER,
	COL_VARIANT,
	COL_CONVERTED,
	COL_VALUE,
	COL_SEGMENT,
	COL_USERS,
	COL_CONVERSIONS,
};

static enum col col_of(const char *p, size_t n)
{
	if (ieq(p, n, "variant") || ieq(p, n, "group") || ieq(p, n, "arm"))
		return COL_VARIANT;
	if (ieq(p, n, "converted") || ieq(p, n, "conversion"))
		return COL_CONVERTED;
	if (ieq(p, n, "value") || ieq(p, n, "metric"))
		return COL_VALUE;
	if (ieq(p, n, "segment"))
		return COL_SEGMENT;
	if (ieq(p, n, "users") || ieq(p, n, "total") || ieq(p, n, "visitors") || ieq(p, n, "n"))
		return COL_USERS;
	if (ieq(p, n, "conversions") || ieq(p, n, "successes"))
		return COL_CONVERSIONS;
	return COL_OTHER;
}

static const char *const col_names[] = {"",        "variant", "converted",  "value",
                                        "segment", "users",   "conversions"};

/* Fills a row field from a cell, or fails naming the column. */
static int set_field(row *r, enum col c, bool aggregate, const char *p, size_t n, size_t offset, size_t line,
                     sonde_wire_error *err)
{
	switch (c) {
	case COL_VARIANT:
		r->variant = p;
		r->variant_len = n;
		r->has_variant = true;
		break;
	case COL_SEGMENT:
		r->segment = p;
		r->segment_len = n;
		r->has_segment = n > 0;
		break;
	case COL_CONVERTED:
		if (aggregate) { /* "converted" in a header with users: the conversions column */
			if (!parse_count(p, n, &r->conversions))
				return sonde_wire_fail(err, offset, line, "converted", "expected a count");
			r->has_conversions = true;
		} else if (!parse_bool(p, n, &r->converted)) {
			return sonde_wire_fail(err, offset, line, "converted",
			                       "expected 0, 1, true or false");
		}
		break;
	case COL_VALUE:
		if (n == 0)
			break;
		if (!parse_finite(p, n, &r->value))
			return sonde_wire_fail(err, offset, line, "value", "expected a finite number");
		r->has_value = true;
		break;
	case COL_USERS:
		if (!parse_count(p, n, &r->users))
			return sonde_wire_fail(err, offset, line, "users", "expected a count");
		r->has_users = true;
		break;
	case COL_CONVERSIONS:
		if (!parse_count(p, n, &r->conversions))
			return sonde_wire_fail(err, offset, line, "conversions", "expected a count");
		r->has_conversions = true;
		break;
	case COL_OTHER: break;
	}
	return 0;
}

/* ---- CSV ---------------------------------------------------------------------------------- */

#define MAX_COLUMNS 256

typedef struct cell {
	const char *p;
	size_t n, off;
} cell;

/* Splits a line into cells (quoted cells unescaped into scratch, which holds n bytes).
 * Returns the count, or -1 for an unclosed quote, text after a closing quote, or too
 * many cells. */
static int split(const char *s, size_t n, cell *cells, char *scratch)
{
	int k = 0;
	size_t i = 0;
	for (;;) {
		if (k == MAX_COLUMNS)
			return -1;
		cell *c = &cells[k++];
		c->off = i;
		if (i < n && s[i] == '"') {
			char *out = scratch;
			size_t w = 0;
			for (i++;; i++) {
				if (i >= n)
					return -1;
				if (s[i] == '"') {
					if (i + 1 < n && s[i + 1] == '"') {
						out[w++] = '"';
						i++;
						continue;
					}
					i++;
					break;
				}
				out[w++] = s[i];
			}
			c->p = out;
			c->n = w;
			scratch += w;
			while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
				i++;
			if (i < n && s[i] != ',')
				return -1;
		} else {
			size_t j = i;
			while (j < n && s[j] != ',')
				j++;
			c->p = s + i;
			c->n = j - i;
			trim(&c->p, &c->n);
			i = j;
		}
		if (i >= n)
			return k;
		i++;
	}
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static int read_csv(sonde_abtest_data *d, const char *buf, size_t len, sonde_wire_error *err)
{
	cell *cells = malloc(MAX_COLUMNS * sizeof(*cells));
	char *scratch = malloc(len + 1);
	enum col cols[MAX_COLUMNS];
	int ncols = -1, rc = 0;
	bool aggregate = false;
	if (!cells || !scratch) {
		rc = -ENOMEM;
		goto out;
	}
	size_t pos = 0, line = 0;
	while (pos < len) {
		size_t start = pos, end = pos;
		while (end < len && buf[end] != '\n')
			end++;
		pos = end < len ? end + 1 : end;
		line++;
		const char *s = buf + start;
		size_t n = end - start;
		if (blank(s, n))
			continue;
		int k = split(s, n, cells, scratch);
		if (k < 0) {
			rc = sonde_wire_fail(
			        err, start, line, NULL,
			        "expected comma-separated cells (a quote is not closed, text follows a "
			        "closing quote, or there are more than %d cells)",
			        MAX_COLUMNS);
			goto out;
		}
		if (ncols < 0) {
			bool seen[COL_CONVERSIONS + 1] = {false};
			for (int i = 0; i < k; i++) {
				cols[i] = col_of(cells[i].p, cells[i].n);
				if (cols[i] != COL_OTHER && seen[cols[i]]) {
					rc = sonde_wire_fail(
					        err, start + cells[i].off, line, col_names[cols[i]],
					        "expected one column of that name in the header");
					goto out;
				}
				seen[cols[i]] = true;
			}
			ncols = k;
			aggregate = seen[COL_USERS];
			for (int i = 0; aggregate && i < k; i++)
				if (cols[i] == COL_VALUE)
					cols[i] = COL_OTHER; /* counts carry no values */
			if (!seen[COL_VARIANT]) {
				rc = sonde_wire_fail(
				        err, start, line, "variant",
				        "expected a header naming a variant column (variant, group or "
				        "arm)");
				goto out;
			}
			if (!aggregate && !seen[COL_CONVERTED] && !seen[COL_VALUE]) {
				rc = sonde_wire_fail(
				        err, start, line, "converted",
				        "expected a header with converted and/or value columns, or "
				        "users and conversions");
				goto out;
			}
			if (aggregate && !seen[COL_CONVERSIONS] && !seen[COL_CONVERTED]) {
				rc = sonde_wire_fail(err, start, line, "conversions",
				                     "expected a conversions column next to users");
				goto out;
			}
			if (seen[COL_VALUE])
				d->has_value = !aggregate;
			continue;
		}
		if (k != ncols) {
			rc = sonde_wire_fail(err, start, line, NULL,
			                     "expected %d cells as in the header, found %d", ncols, k);
			goto out;
		}
		row r = {.converted = -1};
		for (int i = 0; i < k; i++) {
			rc = set_field(&r, cols[i], aggregate, cells[i].p, cells[i].n, start + cells[i].off,
			               line, err);
			if (rc < 0)
				goto out;
		}
		rc = add_row(d, &r, start, line, err);
		if (rc < 0)
			goto out;
	}
	if (ncols < 0)
		rc = sonde_wire_fail(err, 0, 1, NULL, "expected a header line and rows");
out:
	free(cells);
	free(scratch);
	return rc;
}

/* ---- JSON Lines --------------------------------------------------------------------------- */

/* Reads one object (the line buf[start..end)) into d. */
static int read_json_line(sonde_abtest_data *d, const char *buf, size_t start, size_t end, size_t line,
                          sonde_wire_error *err)
{
	sonde_json_reader jr;
	sonde_json_reader_init(&jr, buf + start, end - start);
	row r = {.converted = -1};
	const char *field = NULL;
	/* Copies of the strings: the reader's scratch buffer is reused by the next string. */
	char *variant = NULL, *segment = NULL;
	int rc = sonde_json_enter_object(&jr);
	const char *k;
	size_t kn;
	while (rc == 0 && (rc = sonde_json_next_key(&jr, &k, &kn)) > 0) {
		enum col c = col_of(k, kn);
		field = col_names[c];
		const char *sv;
		size_t sn;
		rc = 0;
		if (c == COL_VARIANT || c == COL_SEGMENT) {
			if ((rc = sonde_json_read_str(&jr, &sv, &sn)) < 0)
				break;
			char **slot = c == COL_VARIANT ? &variant : &segment;
			free(*slot);
			if (!(*slot = dup_n(sv, sn))) {
				rc = -ENOMEM;
				break;
			}
			rc = set_field(&r, c, false, *slot, sn, start, line, err);
		} else if (c == COL_CONVERTED) {
			sonde_json_tok t = sonde_json_peek(&jr);
			if (t == SONDE_JSON_TRUE || t == SONDE_JSON_FALSE) {
				bool b;
				rc = sonde_json_read_bool(&jr, &b);
				r.converted = b;
			} else {
				int64_t v;
				rc = sonde_json_read_i64(&jr, &v);
				if (rc == 0 && (v == 0 || v == 1))
					r.converted = (int)v;
				else if (rc == 0)
					rc = sonde_json_fail(&jr, "expected 0, 1, true or false");
			}
		} else if (c == COL_VALUE) {
			if (sonde_json_peek(&jr) == SONDE_JSON_NULL) {
				rc = sonde_json_skip(&jr);
			} else {
				rc = sonde_json_read_f64(&jr, &r.value);
				if (rc == 0 && !isfinite(r.value))
					rc = sonde_json_fail(&jr, "expected a finite number");
				r.has_value = rc == 0;
			}
		} else if (c == COL_USERS || c == COL_CONVERSIONS) {
			rc = sonde_json_read_u64(&jr, c == COL_USERS ? &r.users : &r.conversions);
			if (c == COL_USERS)
				r.has_users = rc == 0;
			else
				r.has_conversions = rc == 0;
		} else {
			field = NULL;
			rc = sonde_json_skip(&jr);
		}
	}
	if (rc == 0)
		rc = sonde_json_finish(&jr);
	if (rc == -ENOMEM) {
		/* nothing to add */
	} else if (rc < 0 && jr.failed) {
		rc = sonde_wire_fail(err, start + jr.err_offset, line, field, "%s", jr.err_msg);
	} else if (rc == 0) {
		if (r.has_value && !d->variants_count)
			d->has_value = true;
		rc = add_row(d, &r, start, line, err);
	}
	free(variant);
	free(segment);
	sonde_json_reader_release(&jr);
	return rc;
}

static int read_jsonl(sonde_abtest_data *d, const char *buf, size_t len, sonde_wire_error *err)
{
	size_t pos = 0, line = 0;
	bool any = false;
	while (pos < len) {
		size_t start = pos, end = pos;
		while (end < len && buf[end] != '\n')
			end++;
		pos = end < len ? end + 1 : end;
		line++;
		if (blank(buf + start, end - start))
			continue;
		int rc = read_json_line(d, buf, start, end, line, err);
		if (rc < 0)
			return rc;
		any = true;
	}
	return any ? 0 : sonde_wire_fail(err, 0, 1, NULL, "expected rows");
}

int sonde_abtest_read(sonde_abtest_data *d, const char *buf, size_t len, sonde_wire_error *err)
{
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	if (i < len && buf[i] == '{')
		return read_jsonl(d, buf, len, err);
	return read_csv(d, buf, len, err);
}
