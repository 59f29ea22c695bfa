/*
 * csv_metrics_read.c - CSV metric series into gauges (see csv_metrics.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "csv_metrics.h"
#include "logline.h"
#include "sonde/status.h"

typedef struct cell {
	const char *p; /* unquoted text: into the input, or into the row's scratch */
	size_t n;
	size_t off; /* offset of the cell in the line */
} cell;

/* Splits line into cells; quoted cells are unescaped into scratch (which the caller sized
 * to the line's length). Returns the number of cells, or -1 when a quote is not closed
 * or there are too many cells. */
static int split(const char *s, size_t n, cell *cells, char *scratch)
{
	int k = 0;
	size_t i = 0;
	for (;;) {
		if (k == SONDE_CSV_MAX_COLUMNS)
			return -1;
		cell *c = &cells[k++];
		c->off = i;
		if (i < n && s[i] == '"') {
			size_t w = 0;
			char *out = scratch;
			i++;
			for (;;) {
				if (i >= n)
					return -1;
				if (s[i] == '"') {
					if (i + 1 < n && s[i + 1] == '"') {
						out[w++] = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				out[w++] = s[i++];
			}
			c->p = out;
			c->n = w;
			scratch += w;
			if (i < n && s[i] != ',')
				return -1;
		} else {
			size_t j = i;
			while (j < n && s[j] != ',')
				j++;
			c->p = s + i;
			c->n = j - i;
			i = j;
		}
		if (i >= n)
			return k;
		i++; /* the comma */
	}
}

static void trim(const char **p, size_t *n)
{
	while (*n && (**p == ' ' || **p == '\t')) {
		(*p)++;
		(*n)--;
	}
	while (*n && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
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

static bool parse_double(const char *p, size_t n, double *out)
{
	char tmp[64];
	trim(&p, &n);
	if (n == 0 || n >= sizeof tmp)
		return false;
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	char *end;
	*out = strtod(tmp, &end);
	return end == tmp + n &&
	       (tmp[0] == '-' || tmp[0] == '+' || tmp[0] == '.' || (tmp[0] >= '0' && tmp[0] <= '9'));
}

static bool parse_time(const char *p, size_t n, uint64_t default_ns, uint64_t *ns)
{
	trim(&p, &n);
	if (n == 0)
		return false;
	if (sonde_logtime_parse(p, n, default_ns, ns) == n)
		return true;
	double d;
	return parse_double(p, n, &d) && sonde_logtime_epoch(d, ns);
}

typedef struct line_it {
	const char *buf;
	size_t len, pos, lineno;
} line_it;

static bool next_line(line_it *it, const char **s, size_t *n, size_t *off)
{
	if (it->pos >= it->len)
		return false;
	const char *p = it->buf + it->pos;
	const char *nl = memchr(p, '\n', it->len - it->pos);
	size_t l = nl ? (size_t)(nl - p) : it->len - it->pos;
	*off = it->pos;
	it->pos += l + (nl ? 1 : 0);
	it->lineno++;
	if (l && p[l - 1] == '\r')
		l--;
	*s = p;
	*n = l;
	return true;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

typedef struct column {
	sonde_point *pts;
	size_t n, cap;
} column;

int sonde_csv_metrics_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                           sonde_wire_error *err)
{
	size_t before = b->metrics_count;
	cell *hdr = calloc(SONDE_CSV_MAX_COLUMNS, sizeof *hdr),
	     *row = calloc(SONDE_CSV_MAX_COLUMNS, sizeof *row);
	column *cols = calloc(SONDE_CSV_MAX_COLUMNS, sizeof *cols);
	char *scratch = NULL;
	size_t scratch_cap = 0;
	int rc = hdr && row && cols ? 0 : -ENOMEM;
	line_it it = {buf, len, 0, 0};
	const char *s;
	size_t n, off;
	int ncols = 0, tcol = 0;
	sonde_str names[SONDE_CSV_MAX_COLUMNS];
	while (rc == 0 && next_line(&it, &s, &n, &off)) {
		if (blank(s, n))
			continue;
		if (n > scratch_cap) {
			char *ns = realloc(scratch, n);
			if (!ns) {
				rc = -ENOMEM;
				break;
			}
			scratch = ns;
			scratch_cap = n;
		}
		if (ncols == 0) {
			ncols = split(s, n, hdr, scratch);
			if (ncols < 2) {
				rc = sonde_wire_fail(
				        err, off, it.lineno, "header",
				        ncols < 0 ? "expected cells separated by commas, quotes closed"
				                  : "expected a time column and at least one value column");
				break;
			}
			tcol = 0;
			for (int i = 0; i < ncols; i++) {
				const char *p = hdr[i].p;
				size_t pn = hdr[i].n;
				trim(&p, &pn);
				if (ieq(p, pn, "timestamp") || ieq(p, pn, "time") || ieq(p, pn, "ts") ||
				    ieq(p, pn, "date") || ieq(p, pn, "datetime")) {
					tcol = i;
					break;
				}
			}
			for (int i = 0; i < ncols; i++) {
				const char *p = hdr[i].p;
				size_t pn = hdr[i].n;
				trim(&p, &pn);
				if (i != tcol && pn == 0) {
					rc = sonde_wire_fail(err, off + hdr[i].off, it.lineno, "header",
					                     "expected a name for column %d", i + 1);
					break;
				}
				names[i] = sonde_batch_intern(b, p, pn);
				if (!names[i].ptr)
					rc = -ENOMEM;
			}
			continue;
		}
		int k = split(s, n, row, scratch);
		if (k != ncols) {
			rc = sonde_wire_fail(err, off, it.lineno, "", "expected %d cells, found %d%s", ncols,
			                     k < 0 ? 0 : k, k < 0 ? " (a quote is not closed)" : "");
			break;
		}
		uint64_t t;
		if (!parse_time(row[tcol].p, row[tcol].n, default_time_ns, &t)) {
			rc = sonde_wire_fail(err, off + row[tcol].off, it.lineno, names[tcol].ptr,
			                     "expected a timestamp or an epoch number");
			break;
		}
		for (int i = 0; i < ncols && rc == 0; i++) {
			if (i == tcol)
				continue;
			const char *p = row[i].p;
			size_t pn = row[i].n;
			trim(&p, &pn);
			if (pn == 0)
				continue;
			double v;
			if (!parse_double(p, pn, &v) || !isfinite(v)) {
				rc = sonde_wire_fail(err, off + row[i].off, it.lineno, names[i].ptr,
				                     "expected a number");
				break;
			}
			column *c = &cols[i];
			if (c->n == c->cap) {
				size_t cap = c->cap ? c->cap * 2 : 256;
				sonde_point *np = realloc(c->pts, cap * sizeof *np);
				if (!np) {
					rc = -ENOMEM;
					break;
				}
				c->pts = np;
				c->cap = cap;
			}
			sonde_point *pt = &c->pts[c->n++];
			memset(pt, 0, sizeof *pt);
			pt->time_ns = t;
			pt->u.number.kind = SONDE_NUM_DOUBLE;
			pt->u.number.v.d = v;
		}
	}
	if (rc == 0 && ncols > 0) {
		sonde_resource *res = sonde_batch_new_resource(b);
		sonde_scope *sc = sonde_batch_new_scope(b);
		if (!res || !sc)
			rc = -ENOMEM;
		for (int i = 0; i < ncols && rc == 0; i++) {
			if (i == tcol || cols[i].n == 0)
				continue;
			sonde_metric_data *m = sonde_batch_add_metric(b, res, sc);
			sonde_point *pts = sonde_batch_alloc(b, cols[i].n * sizeof *pts);
			if (!m || !pts) {
				rc = -ENOMEM;
				break;
			}
			memcpy(pts, cols[i].pts, cols[i].n * sizeof *pts);
			m->name = names[i];
			m->type = SONDE_METRIC_GAUGE;
			m->points = pts;
			m->points_count = (uint32_t)cols[i].n;
		}
	}
	if (rc < 0)
		b->metrics_count = before;
	for (int i = 0; cols && i < SONDE_CSV_MAX_COLUMNS; i++)
		free(cols[i].pts);
	free(cols);
	free(hdr);
	free(row);
	free(scratch);
	return rc;
}

bool sonde_csv_metrics_sniff(const char *buf, size_t len)
{
	line_it it = {buf, len < 65536 ? len : 65536, 0, 0};
	const char *s;
	size_t n, off;
	cell *hdr = calloc(SONDE_CSV_MAX_COLUMNS, sizeof *hdr),
	     *row = calloc(SONDE_CSV_MAX_COLUMNS, sizeof *row);
	char *scratch = malloc(it.len + 1);
	bool ok = false;
	int ncols = 0;
	while (hdr && row && scratch && next_line(&it, &s, &n, &off)) {
		if (blank(s, n))
			continue;
		if (memchr(s, '{', n) || memchr(s, '=', n))
			break;
		if (ncols == 0) {
			ncols = split(s, n, hdr, scratch);
			if (ncols < 2)
				break;
			double d;
			uint64_t t;
			/* Header cells are names: not numbers, not times, not sentences. */
			for (int i = 0; i < ncols; i++)
				if (hdr[i].n == 0 || hdr[i].n > 64 || parse_double(hdr[i].p, hdr[i].n, &d) ||
				    parse_time(hdr[i].p, hdr[i].n, 4102444800ull * 1000000000u, &t))
					ncols = 0;
			if (ncols == 0)
				break;
			continue;
		}
		if (it.pos >= it.len && it.len < len)
			break; /* the sample ends mid-line */
		int k = split(s, n, row, scratch);
		if (k != ncols)
			break;
		/* One cell is a time; every other is a number or empty, and one at least a number. */
		uint64_t t;
		int tcol = -1, numbers = 0;
		double d;
		for (int i = 0; i < k && tcol < 0; i++)
			if (parse_time(row[i].p, row[i].n, 4102444800ull * 1000000000u, &t))
				tcol = i;
		ok = tcol >= 0;
		for (int i = 0; i < k && ok; i++) {
			if (i == tcol || blank(row[i].p, row[i].n))
				continue;
			if (parse_double(row[i].p, row[i].n, &d))
				numbers++;
			else
				ok = false;
		}
		ok = ok && numbers > 0;
		break;
	}
	free(hdr);
	free(row);
	free(scratch);
	return ok;
}
