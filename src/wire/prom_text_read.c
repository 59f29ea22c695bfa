/*
 * prom_text_read.c - reader of the Prometheus text exposition format 0.0.4 and of
 * OpenMetrics 1.0 text (see prom_text.h).
 *
 * One pass over the lines. Descriptors (HELP, TYPE, UNIT) create families; each sample is
 * resolved to a family and a role (plain value, _bucket, _sum, _created...) and merged
 * into the family's point for its label set, found through a hash of the sorted labels
 * without le/quantile. Metrics are built at the end, once every family is complete, so a
 * failure anywhere leaves the batch's metrics untouched.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "hex.h"
#include "prom_text.h"
#include "sonde/status.h"

enum ftype {
	FT_UNTYPED, /* no TYPE line */
	FT_COUNTER,
	FT_GAUGE,
	FT_HISTOGRAM,
	FT_GAUGEHISTOGRAM,
	FT_SUMMARY,
	FT_INFO,
	FT_STATESET,
	FT_UNKNOWN, /* "unknown" or "untyped" */
};

static const char *const type_words[] = {
        [FT_UNTYPED] = "unknown",
        [FT_COUNTER] = "counter",
        [FT_GAUGE] = "gauge",
        [FT_HISTOGRAM] = "histogram",
        [FT_GAUGEHISTOGRAM] = "gaugehistogram",
        [FT_SUMMARY] = "summary",
        [FT_INFO] = "info",
        [FT_STATESET] = "stateset",
        [FT_UNKNOWN] = "unknown",
};

/* What a sample is to its family, from its name's suffix. */
enum role { R_VALUE, R_TOTAL, R_CREATED, R_BUCKET, R_COUNT, R_SUM, R_GCOUNT, R_GSUM, R_INFO, R_COUNT_ };

static const char *const role_suffix[R_COUNT_] = {
        "", "_total", "_created", "_bucket", "_count", "_sum", "_gcount", "_gsum", "_info",
};

enum { NONE = (size_t)-1 };

typedef struct label {
	const char *name;
	size_t name_len;
	size_t off;          /* input offset of the name, for errors */
	size_t val, val_len; /* unescaped value, in the labelset's vals */
	uint32_t idx;        /* position in the sample, kept across sorting */
} label;

typedef struct labelset {
	label *v;
	size_t n, cap;
	sonde_buf vals;
} labelset;

typedef struct bucket {
	double le;
	uint64_t cum;
} bucket;

typedef struct point {
	uint64_t hash;
	size_t key_off, key_len; /* canonical label key, in the family's keys */
	sonde_attrs attrs;
	size_t line, off; /* first sample, for errors found at the end */
	bool has_ts, has_value, has_start, has_count, has_sum;
	uint64_t time_ns, start_ns, count;
	double value, sum;
	bucket *bk;
	size_t nbk, capbk;
	sonde_quantile *q;
	size_t nq, capq;
	sonde_exemplar *ex;
	size_t nex, capex;
} point;

typedef struct family {
	sonde_str name; /* interned */
	uint64_t hash;
	enum ftype type;
	bool typed, has_help, has_unit, closed;
	sonde_str help, unit;
	size_t nsamples;
	point *pts;
	size_t npts, cappts;
	uint32_t *slots; /* label key -> latest point index + 1 */
	size_t nslots;   /* power of two, or 0 */
	sonde_buf keys;
	size_t last; /* point of the last sample (samples of a point come together) */
} family;

typedef struct reader {
	sonde_batch *b;
	const char *buf;
	size_t len;
	size_t line;
	bool om, eof;
	uint64_t default_ns;
	sonde_wire_error *err;
	family *fams;
	size_t nfams, capfams;
	uint32_t *fslots; /* family name -> index + 1 */
	size_t nfslots;
	size_t cur;      /* family of the last line, or NONE */
	labelset ls, xs; /* the sample's labels and its exemplar's */
	sonde_buf key, tmp;
} reader;

#define FAIL(r, off, field, ...) sonde_wire_fail((r)->err, (off), (r)->line, (field), __VA_ARGS__)

/* ---- Small helpers ---------------------------------------------------------------- */

static int reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 4;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		ncap *= 2;
	}
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_start(char c, bool metric)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
}

static bool is_name_char(char c, bool metric)
{
	return is_name_start(c, metric) || is_digit(c);
}

static const char *skip_blanks(const char *p, const char *e)
{
	while (p < e && is_blank(*p))
		p++;
	return p;
}

static const char *token_end(const char *p, const char *e)
{
	while (p < e && !is_blank(*p))
		p++;
	return p;
}

static bool mem_eq(const char *a, size_t an, const char *b, size_t bn)
{
	return an == bn && memcmp(a, b, an) == 0;
}

static bool lit_eq(const char *s, size_t n, const char *lit)
{
	return mem_eq(s, n, lit, strlen(lit));
}

static bool lit_ieq(const char *s, size_t n, const char *lit)
{
	if (strlen(lit) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return true;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k;
		uint32_t cp, min;
		if ((c & 0xe0) == 0xc0)
			k = 1, cp = c & 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			k = 2, cp = c & 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			k = 3, cp = c & 0x07, min = 0x10000;
		else
			return false;
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/* Short strings are interned (label values repeat across series), long ones copied. */
static sonde_str keep_str(sonde_batch *b, const char *s, size_t n)
{
	return n <= 64 ? sonde_batch_intern(b, s, n) : sonde_batch_strdup(b, s, n);
}

/* ---- Numbers ---------------------------------------------------------------------- */

/* A Prometheus float: decimal with optional exponent, NaN, [+-]Inf or [+-]Infinity (any
 * case). Returns 0, -1 when malformed, or -ENOMEM. */
static int parse_float(const char *s, size_t n, double *out)
{
	size_t i = 0;
	bool neg = false;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (lit_ieq(s + i, n - i, "inf") || lit_ieq(s + i, n - i, "infinity")) {
		*out = neg ? -INFINITY : INFINITY;
		return 0;
	}
	if (lit_ieq(s, n, "nan")) {
		*out = NAN;
		return 0;
	}
	size_t digits = 0;
	while (i < n && is_digit(s[i]))
		i++, digits++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && is_digit(s[i]))
			i++, digits++;
	}
	if (digits == 0)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t ed = 0;
		while (i < n && is_digit(s[i]))
			i++, ed++;
		if (ed == 0)
			return -1;
	}
	if (i != n)
		return -1;
	char small[64];
	char *t = n < sizeof(small) ? small : malloc(n + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, s, n);
	t[n] = '\0';
	*out = strtod(t, NULL);
	if (t != small)
		free(t);
	return 0;
}

/* A count: a non-negative integer, written as digits or as an integral float. */
static int parse_count(const char *s, size_t n, uint64_t *out)
{
	size_t i = 0;
	while (i < n && is_digit(s[i]))
		i++;
	if (n > 0 && i == n) {
		uint64_t v = 0;
		for (i = 0; i < n; i++) {
			if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
				return -1;
			v = v * 10 + (uint64_t)(s[i] - '0');
		}
		*out = v;
		return 0;
	}
	double d;
	int rc = parse_float(s, n, &d);
	if (rc < 0)
		return rc;
	if (!(d >= 0 && d < 18446744073709551616.0 && d == floor(d)))
		return -1;
	*out = (uint64_t)d;
	return 0;
}

/* Milliseconds as an int64 (0.0.4) to nanoseconds. */
static int parse_ms(const char *s, size_t n, uint64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n)
		return -1;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > (uint64_t)INT64_MAX / 1000000)
			return -2;
	}
	uint64_t ns = v * 1000000;
	*out = neg ? (uint64_t)0 - ns : ns;
	return 0;
}

/* Seconds as a decimal (OpenMetrics timestamps and _created values) to nanoseconds,
 * exactly: digits beyond the nanosecond are cut off. Magnitudes up to 2^63 ns. */
static int parse_seconds(const char *s, size_t n, uint64_t *out)
{
	size_t i = 0;
	bool neg = false;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	const char *ip = s + i;
	size_t in = 0, fn = 0;
	while (i < n && is_digit(s[i]))
		i++, in++;
	const char *fp = s + i + 1;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && is_digit(s[i]))
			i++, fn++;
	}
	if (in + fn == 0)
		return -1;
	long exp = 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		bool eneg = false;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		size_t ed = 0;
		while (i < n && is_digit(s[i])) {
			if (exp < 100000)
				exp = exp * 10 + (s[i] - '0');
			i++, ed++;
		}
		if (ed == 0)
			return -1;
		if (eneg)
			exp = -exp;
	}
	if (i != n)
		return -1;
	/* The digits d1..dk (integer then fraction) times 10^(exp - fn + 9) nanoseconds:
	 * keep the first k + exp - fn + 9 digits, then pad with zeros. */
	long k = (long)(in + fn);
	long keep = k + exp - (long)fn + 9;
	uint64_t limit = neg ? (uint64_t)1 << 63 : (uint64_t)INT64_MAX;
	uint64_t v = 0;
	for (long d = 0; d < keep && d < k; d++) {
		unsigned digit = d < (long)in ? (unsigned)(ip[d] - '0') : (unsigned)(fp[d - (long)in] - '0');
		if (v > (limit - digit) / 10)
			return -2;
		v = v * 10 + digit;
	}
	for (long d = k; d < keep && v != 0; d++) { /* zeros after the digits */
		if (v > limit / 10)
			return -2;
		v *= 10;
	}
	*out = neg ? (uint64_t)0 - v : v;
	return 0;
}

/* ---- Hash tables ------------------------------------------------------------------ */

static size_t fam_find(const reader *r, const char *name, size_t n, uint64_t h)
{
	if (!r->nfslots)
		return NONE;
	size_t mask = r->nfslots - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint32_t s = r->fslots[i];
		if (!s)
			return NONE;
		const family *f = &r->fams[s - 1];
		if (f->hash == h && mem_eq(f->name.ptr, f->name.len, name, n))
			return s - 1;
	}
}

static void fam_slot_put(uint32_t *slots, size_t nslots, uint64_t h, uint32_t v)
{
	size_t mask = nslots - 1;
	size_t i = (size_t)h & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = v;
}

/* Adds a family (no TYPE yet); *out is its index. */
static int fam_add(reader *r, const char *name, size_t n, uint64_t h, size_t *out)
{
	if (r->nfams >= UINT32_MAX - 1)
		return -ENOMEM;
	if ((r->nfams + 1) * 2 > r->nfslots) {
		size_t ns = r->nfslots ? r->nfslots * 2 : 64;
		uint32_t *slots = calloc(ns, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		for (size_t i = 0; i < r->nfams; i++)
			fam_slot_put(slots, ns, r->fams[i].hash, (uint32_t)i + 1);
		free(r->fslots);
		r->fslots = slots;
		r->nfslots = ns;
	}
	if (reserve((void **)&r->fams, &r->capfams, r->nfams + 1, sizeof(family)) < 0)
		return -ENOMEM;
	sonde_str s = sonde_batch_intern(r->b, name, n);
	if (!s.ptr)
		return -ENOMEM;
	family *f = &r->fams[r->nfams];
	memset(f, 0, sizeof(*f));
	f->name = s;
	f->hash = h;
	f->type = FT_UNTYPED;
	f->help = f->unit = (sonde_str){"", 0};
	f->last = NONE;
	fam_slot_put(r->fslots, r->nfslots, h, (uint32_t)r->nfams + 1);
	*out = r->nfams++;
	return 0;
}

static size_t pt_find(const family *f, const char *key, size_t n, uint64_t h, size_t *slot)
{
	size_t mask = f->nslots - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint32_t s = f->slots[i];
		if (!s) {
			*slot = i;
			return NONE;
		}
		const point *p = &f->pts[s - 1];
		if (p->hash == h && mem_eq(f->keys.data + p->key_off, p->key_len, key, n)) {
			*slot = i;
			return s - 1;
		}
	}
}

static int pt_grow_table(family *f)
{
	if ((f->npts + 1) * 2 <= f->nslots)
		return 0;
	size_t ns = f->nslots ? f->nslots * 2 : 8;
	uint32_t *slots = calloc(ns, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	/* Only the latest point of each label set is in the table. */
	for (size_t i = 0; i < f->nslots; i++) {
		uint32_t s = f->slots[i];
		if (s)
			fam_slot_put(slots, ns, f->pts[s - 1].hash, s);
	}
	free(f->slots);
	f->slots = slots;
	f->nslots = ns;
	return 0;
}

/* ---- Lines ------------------------------------------------------------------------ */

static void switch_family(reader *r, size_t fi)
{
	if (r->cur != NONE && r->cur != fi)
		r->fams[r->cur].closed = true;
	r->cur = fi;
}

/* Reads a metric name at *pp. */
static int read_metric_name(reader *r, const char **pp, const char *e, const char **name, size_t *n)
{
	const char *p = *pp;
	if (p >= e || !is_name_start(*p, true))
		return FAIL(r, (size_t)(p - r->buf), "metric name", "expected a metric name");
	const char *s = p;
	while (p < e && is_name_char(*p, true))
		p++;
	*name = s;
	*n = (size_t)(p - s);
	*pp = p;
	return 0;
}

/* Unescapes a HELP text. 0.0.4 knows \\ and \n; OpenMetrics also \" and keeps other
 * escapes as written. */
static int unescape_help(reader *r, const char *p, const char *e, sonde_buf *out)
{
	sonde_buf_reset(out);
	while (p < e) {
		const char *bs = memchr(p, '\\', (size_t)(e - p));
		const char *stop = bs ? bs : e;
		sonde_buf_append(out, p, (size_t)(stop - p));
		if (!bs)
			break;
		char c = bs + 1 < e ? bs[1] : '\0';
		if (c == '\\' || c == 'n' || (r->om && c == '"')) {
			sonde_buf_putc(out, c == 'n' ? '\n' : c);
		} else if (r->om) {
			sonde_buf_putc(out, '\\');
			if (bs + 1 < e)
				sonde_buf_putc(out, c);
		} else {
			return FAIL(r, (size_t)(bs - r->buf), "HELP",
			            "expected \\\\ or \\n after a backslash");
		}
		p = bs + 2;
	}
	if (out->oom)
		return -ENOMEM;
	if (!utf8_valid((const unsigned char *)(out->len ? out->data : ""), out->len))
		return FAIL(r, (size_t)(e - r->buf), "HELP", "expected valid UTF-8");
	return 0;
}

/* Parses "{name="value",...}" at *pp (which points at '{') into ls. */
static int read_labels(reader *r, const char **pp, const char *e, labelset *ls, const char *what)
{
	const char *p = *pp + 1;
	ls->n = 0;
	sonde_buf_reset(&ls->vals);
	if (sonde_buf_grow(&ls->vals, 64) < 0)
		return -ENOMEM;
	for (;;) {
		p = skip_blanks(p, e);
		if (p < e && *p == '}')
			break;
		if (p >= e || !is_name_start(*p, false))
			return FAIL(r, (size_t)(p - r->buf), what, "expected a label name or '}'");
		if (reserve((void **)&ls->v, &ls->cap, ls->n + 1, sizeof(label)) < 0 || ls->n >= UINT32_MAX)
			return -ENOMEM;
		label *l = &ls->v[ls->n];
		l->name = p;
		l->off = (size_t)(p - r->buf);
		l->idx = (uint32_t)ls->n;
		while (p < e && is_name_char(*p, false))
			p++;
		l->name_len = (size_t)(p - l->name);
		p = skip_blanks(p, e);
		if (p >= e || *p != '=')
			return FAIL(r, (size_t)(p - r->buf), what, "expected '=' after label name");
		p = skip_blanks(p + 1, e);
		if (p >= e || *p != '"')
			return FAIL(r, (size_t)(p - r->buf), what, "expected '\"' to open the label value");
		p++;
		l->val = ls->vals.len;
		for (;;) {
			const char *q = p;
			while (q < e && *q != '"' && *q != '\\')
				q++;
			sonde_buf_append(&ls->vals, p, (size_t)(q - p));
			if (q >= e)
				return FAIL(r, (size_t)(e - r->buf), what,
				            "expected '\"' to close the label value");
			if (*q == '"') {
				p = q + 1;
				break;
			}
			char c = q + 1 < e ? q[1] : '\0';
			if (c == '\\' || c == '"' || c == 'n') {
				sonde_buf_putc(&ls->vals, c == 'n' ? '\n' : c);
			} else if (r->om && q + 1 < e) {
				sonde_buf_putc(&ls->vals, '\\');
				sonde_buf_putc(&ls->vals, c);
			} else {
				return FAIL(r, (size_t)(q - r->buf), what,
				            "expected \\\\, \\\" or \\n after a backslash");
			}
			p = q + 2;
		}
		if (ls->vals.oom)
			return -ENOMEM;
		l->val_len = ls->vals.len - l->val;
		if (!utf8_valid((const unsigned char *)ls->vals.data + l->val, l->val_len))
			return FAIL(r, l->off, what, "expected valid UTF-8 in the value of label %.*s",
			            (int)l->name_len, l->name);
		ls->n++;
		p = skip_blanks(p, e);
		if (p < e && *p == ',') {
			p++;
			continue;
		}
		if (p < e && *p == '}')
			break;
		return FAIL(r, (size_t)(p - r->buf), what, "expected ',' or '}' after a label");
	}
	*pp = p + 1;
	return 0;
}

static int cmp_label(const void *a, const void *b)
{
	const label *x = a, *y = b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int c = memcmp(x->name, y->name, n);
	if (c)
		return c;
	return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* Sorts ls by name and rejects a repeated name. */
static int sort_labels(reader *r, labelset *ls, const char *what)
{
	if (ls->n > 1)
		qsort(ls->v, ls->n, sizeof(label), cmp_label);
	for (size_t i = 1; i < ls->n; i++) {
		const label *a = &ls->v[i - 1], *b = &ls->v[i];
		if (mem_eq(a->name, a->name_len, b->name, b->name_len)) {
			const label *later = a->off > b->off ? a : b;
			return FAIL(r, later->off, what, "duplicate label name %.*s", (int)b->name_len,
			            b->name);
		}
	}
	return 0;
}

static size_t find_label(const labelset *ls, const char *name)
{
	for (size_t i = 0; i < ls->n; i++)
		if (lit_eq(ls->v[i].name, ls->v[i].name_len, name))
			return i;
	return NONE;
}

/* Copies ls (sorted) into attrs in the sample's order, leaving out entry skip. */
static int make_attrs(reader *r, const labelset *ls, size_t skip, sonde_attrs *out)
{
	size_t n = ls->n - (skip != NONE);
	out->count = (uint32_t)n;
	out->items = NULL;
	if (!n)
		return 0;
	out->items = sonde_batch_alloc(r->b, n * sizeof(sonde_kv));
	if (!out->items)
		return -ENOMEM;
	uint32_t skip_idx = skip != NONE ? ls->v[skip].idx : UINT32_MAX;
	for (size_t i = 0; i < ls->n; i++) {
		if (i == skip)
			continue;
		const label *l = &ls->v[i];
		size_t at = l->idx - (l->idx > skip_idx);
		sonde_kv *kv = &out->items[at];
		kv->key = sonde_batch_intern(r->b, l->name, l->name_len);
		kv->value.kind = SONDE_VAL_STRING;
		kv->value.u.str = keep_str(r->b, ls->vals.data + l->val, l->val_len);
		if (!kv->key.ptr || !kv->value.u.str.ptr)
			return -ENOMEM;
	}
	return 0;
}

static bool accepts(const reader *r, enum ftype t, enum role role)
{
	switch (t) {
	case FT_UNTYPED:
	case FT_GAUGE:
	case FT_UNKNOWN:
	case FT_STATESET: return role == R_VALUE;
	case FT_COUNTER: return r->om ? role == R_TOTAL || role == R_CREATED : role == R_VALUE;
	case FT_HISTOGRAM:
		return role == R_BUCKET || role == R_COUNT || role == R_SUM || (r->om && role == R_CREATED);
	case FT_GAUGEHISTOGRAM: return role == R_BUCKET || role == R_GCOUNT || role == R_GSUM;
	case FT_SUMMARY:
		return role == R_VALUE || role == R_COUNT || role == R_SUM || (r->om && role == R_CREATED);
	case FT_INFO: return role == R_INFO;
	}
	return false;
}

/* Whether a sample named name belongs to family f, and as what. */
static bool fits(const reader *r, const family *f, const char *name, size_t n, enum role *role)
{
	if (n < f->name.len || memcmp(name, f->name.ptr, f->name.len) != 0)
		return false;
	for (int i = 0; i < R_COUNT_; i++) {
		if (lit_eq(name + f->name.len, n - f->name.len, role_suffix[i]) &&
		    accepts(r, f->type, (enum role)i)) {
			*role = (enum role)i;
			return true;
		}
	}
	return false;
}

/* Finds (or creates) the family of a sample and the sample's role in it. */
static int resolve(reader *r, const char *name, size_t n, size_t off, size_t *fi, enum role *role)
{
	if (r->cur != NONE && fits(r, &r->fams[r->cur], name, n, role)) {
		*fi = r->cur;
		return 0;
	}
	uint64_t h = sonde_hash_bytes(name, n, 0);
	size_t exact = fam_find(r, name, n, h);
	size_t found = NONE;
	if (exact != NONE && accepts(r, r->fams[exact].type, R_VALUE)) {
		found = exact;
		*role = R_VALUE;
	}
	for (int i = 1; i < R_COUNT_ && found == NONE; i++) {
		size_t sl = strlen(role_suffix[i]);
		if (n <= sl || !lit_eq(name + n - sl, sl, role_suffix[i]))
			continue;
		size_t stem = fam_find(r, name, n - sl, sonde_hash_bytes(name, n - sl, 0));
		if (stem != NONE && accepts(r, r->fams[stem].type, (enum role)i)) {
			found = stem;
			*role = (enum role)i;
		}
	}
	if (found == NONE && exact != NONE)
		return FAIL(r, off, "metric name", "expected a sample name of %s family %.*s, not %.*s",
		            type_words[r->fams[exact].type], (int)r->fams[exact].name.len,
		            r->fams[exact].name.ptr, (int)n, name);
	if (found == NONE) {
		int rc = fam_add(r, name, n, h, &found);
		if (rc < 0)
			return rc;
		*role = R_VALUE;
	}
	const family *f = &r->fams[found];
	if (r->om && found != r->cur && f->closed)
		return FAIL(
		        r, off, "metric name",
		        "expected the samples of family %.*s together, not interleaved with other families",
		        (int)f->name.len, f->name.ptr);
	switch_family(r, found);
	*fi = found;
	return 0;
}

/* Appends "u32 len, bytes" for each label of ls but skip: the point's identity. */
static void build_key(sonde_buf *key, const labelset *ls, size_t skip)
{
	sonde_buf_reset(key);
	for (size_t i = 0; i < ls->n; i++) {
		if (i == skip)
			continue;
		const label *l = &ls->v[i];
		uint32_t nl = (uint32_t)l->name_len, vl = (uint32_t)l->val_len;
		sonde_buf_append(key, &nl, sizeof(nl));
		sonde_buf_append(key, l->name, l->name_len);
		sonde_buf_append(key, &vl, sizeof(vl));
		sonde_buf_append(key, ls->vals.data + l->val, l->val_len);
	}
}

/* Finds the point for the sample's label set and timestamp, creating it when the label
 * set is new or the sample starts another point of the same series (another timestamp
 * for a role the point already has). A bucket has its role filled when its le does not
 * ascend (bucket_repeats); then 1 is returned, rather than an error, when no new point
 * starts, for the caller to report the le. */
static int get_point(reader *r, family *f, size_t skip, bool has_ts, uint64_t ts, bool bucket_repeats,
                     enum role role, size_t off, point **out)
{
	build_key(&r->key, &r->ls, skip);
	if (r->key.oom)
		return -ENOMEM;
	const char *key = r->key.len ? r->key.data : "";
	uint64_t h = sonde_hash_bytes(key, r->key.len, 0x9e3779b97f4a7c15ULL);
	size_t slot = NONE, pi = NONE;
	int rc;
	if (f->last != NONE && f->pts[f->last].hash == h &&
	    mem_eq(f->keys.data + f->pts[f->last].key_off, f->pts[f->last].key_len, key, r->key.len)) {
		pi = f->last;
	} else {
		rc = pt_grow_table(f);
		if (rc < 0)
			return rc;
		pi = pt_find(f, key, r->key.len, h, &slot);
	}
	if (pi != NONE) {
		point *p = &f->pts[pi];
		bool filled = false;
		switch (role) {
		case R_VALUE: /* a quantile repeats only in another point (checked at the end) */
			filled = f->type == FT_SUMMARY ? has_ts != p->has_ts || (has_ts && p->time_ns != ts)
			                               : p->has_value;
			break;
		case R_TOTAL:
		case R_INFO: filled = p->has_value; break;
		case R_CREATED: filled = p->has_start; break;
		case R_COUNT:
		case R_GCOUNT: filled = p->has_count; break;
		case R_SUM:
		case R_GSUM: filled = p->has_sum; break;
		case R_BUCKET: filled = bucket_repeats; break;
		case R_COUNT_: break;
		}
		if (!filled) {
			f->last = pi;
			*out = p;
			return 0;
		}
		/* A sample with another timestamp (or with one where the point has none, or
		 * the other way round) starts the series' next point. */
		if (has_ts == p->has_ts && (!has_ts || p->time_ns == ts))
			return role == R_BUCKET ? 1
			                        : FAIL(r, off, "metric name",
			                               "duplicate %s sample for the same labels",
			                               role == R_VALUE ? "value" : role_suffix[role] + 1);
	}
	if (slot == NONE) { /* found through f->last: the table has not been searched */
		rc = pt_grow_table(f);
		if (rc < 0)
			return rc;
		pt_find(f, key, r->key.len, h, &slot);
	}
	if (reserve((void **)&f->pts, &f->cappts, f->npts + 1, sizeof(point)) < 0 ||
	    f->npts >= UINT32_MAX - 1)
		return -ENOMEM;
	point *p = &f->pts[f->npts];
	memset(p, 0, sizeof(*p));
	p->hash = h;
	p->key_off = f->keys.len;
	p->key_len = r->key.len;
	sonde_buf_append(&f->keys, key, r->key.len);
	if (f->keys.oom)
		return -ENOMEM;
	p->line = r->line;
	p->off = off;
	p->has_ts = has_ts;
	p->time_ns = has_ts ? ts : r->default_ns;
	rc = make_attrs(r, &r->ls, skip, &p->attrs);
	if (rc < 0)
		return rc;
	f->slots[slot] = (uint32_t)f->npts + 1;
	f->last = f->npts++;
	*out = p;
	return 0;
}

/* Parses the exemplar of the sample just read and attaches it to p. */
static int add_exemplar(reader *r, point *p, const char *v, size_t vn, const char *ts, size_t tn)
{
	int rc = sort_labels(r, &r->xs, "exemplar");
	if (rc)
		return rc;
	sonde_exemplar ex;
	memset(&ex, 0, sizeof(ex));
	double d;
	rc = parse_float(v, vn, &d);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return FAIL(r, (size_t)(v - r->buf), "exemplar", "expected a number as the exemplar's value");
	ex.value_kind = SONDE_NUM_DOUBLE;
	ex.value.d = d;
	if (ts) {
		rc = parse_seconds(ts, tn, &ex.time_ns);
		if (rc < 0)
			return FAIL(r, (size_t)(ts - r->buf), "exemplar", "expected a timestamp in seconds");
	}
	/* trace_id and span_id become the exemplar's ids when they are ids; everything else
	 * becomes a filtered attribute. */
	size_t skip_t = NONE, skip_s = NONE;
	for (size_t i = 0; i < r->xs.n; i++) {
		const label *l = &r->xs.v[i];
		const char *val = r->xs.vals.data + l->val;
		if (lit_eq(l->name, l->name_len, "trace_id") &&
		    sonde_hex_decode(ex.trace_id, 16, val, l->val_len) == 0)
			skip_t = i;
		else if (lit_eq(l->name, l->name_len, "span_id") &&
		         sonde_hex_decode(ex.span_id, 8, val, l->val_len) == 0)
			skip_s = i;
	}
	if (skip_t == NONE)
		memset(ex.trace_id, 0, sizeof(ex.trace_id));
	if (skip_s == NONE)
		memset(ex.span_id, 0, sizeof(ex.span_id));
	size_t n = r->xs.n - (skip_t != NONE) - (skip_s != NONE);
	if (n) {
		ex.filtered_attrs.items = sonde_batch_alloc(r->b, n * sizeof(sonde_kv));
		if (!ex.filtered_attrs.items)
			return -ENOMEM;
		/* Original order, without the id labels. */
		uint32_t *pos = calloc(r->xs.n, sizeof(uint32_t));
		if (!pos)
			return -ENOMEM;
		for (size_t i = 0; i < r->xs.n; i++)
			pos[r->xs.v[i].idx] = (uint32_t)i + 1;
		for (size_t j = 0; j < r->xs.n; j++) {
			size_t i = pos[j] - 1;
			if (i == skip_t || i == skip_s)
				continue;
			const label *l = &r->xs.v[i];
			sonde_kv *kv = &ex.filtered_attrs.items[ex.filtered_attrs.count++];
			kv->key = sonde_batch_intern(r->b, l->name, l->name_len);
			kv->value.kind = SONDE_VAL_STRING;
			kv->value.u.str = keep_str(r->b, r->xs.vals.data + l->val, l->val_len);
			if (!kv->key.ptr || !kv->value.u.str.ptr) {
				free(pos);
				return -ENOMEM;
			}
		}
		free(pos);
	}
	if (reserve((void **)&p->ex, &p->capex, p->nex + 1, sizeof(sonde_exemplar)) < 0 ||
	    p->nex >= UINT32_MAX)
		return -ENOMEM;
	p->ex[p->nex++] = ex;
	return 0;
}

static int sample_line(reader *r, const char *p, const char *e)
{
	const char *name;
	size_t nlen;
	size_t name_off = (size_t)(p - r->buf);
	int rc = read_metric_name(r, &p, e, &name, &nlen);
	if (rc)
		return rc;
	p = skip_blanks(p, e);
	r->ls.n = 0;
	if (p < e && *p == '{') {
		rc = read_labels(r, &p, e, &r->ls, "labels");
		if (rc)
			return rc;
		p = skip_blanks(p, e);
	}
	const char *val = p;
	p = token_end(p, e);
	size_t vlen = (size_t)(p - val);
	if (vlen == 0)
		return FAIL(r, (size_t)(val - r->buf), "value",
		            "expected a value after the metric name and labels");
	p = skip_blanks(p, e);
	const char *ts = NULL;
	size_t tlen = 0;
	if (p < e && *p != '#') {
		ts = p;
		p = token_end(p, e);
		tlen = (size_t)(p - ts);
		p = skip_blanks(p, e);
	}
	const char *xv = NULL, *xts = NULL;
	size_t xvlen = 0, xtlen = 0;
	if (p < e && *p == '#') {
		if (!r->om)
			return FAIL(r, (size_t)(p - r->buf), "sample",
			            "expected the end of the line (exemplars need OpenMetrics)");
		p = skip_blanks(p + 1, e);
		if (p >= e || *p != '{')
			return FAIL(r, (size_t)(p - r->buf), "exemplar",
			            "expected '{' to open the exemplar's labels");
		rc = read_labels(r, &p, e, &r->xs, "exemplar");
		if (rc)
			return rc;
		p = skip_blanks(p, e);
		xv = p;
		p = token_end(p, e);
		xvlen = (size_t)(p - xv);
		if (xvlen == 0)
			return FAIL(r, (size_t)(xv - r->buf), "exemplar", "expected the exemplar's value");
		p = skip_blanks(p, e);
		if (p < e) {
			xts = p;
			p = token_end(p, e);
			xtlen = (size_t)(p - xts);
			p = skip_blanks(p, e);
		}
	}
	if (p < e)
		return FAIL(r, (size_t)(p - r->buf), "sample", "expected the end of the line");

	size_t fi = NONE;
	enum role role = R_VALUE;
	rc = resolve(r, name, nlen, name_off, &fi, &role);
	if (rc)
		return rc;
	rc = sort_labels(r, &r->ls, "labels");
	if (rc)
		return rc;
	family *f = &r->fams[fi];

	/* le and quantile are not part of the point's label set. */
	size_t skip = NONE;
	double bound = 0;
	const char *special = role == R_BUCKET                             ? "le"
	                      : (role == R_VALUE && f->type == FT_SUMMARY) ? "quantile"
	                                                                   : NULL;
	if (special) {
		skip = find_label(&r->ls, special);
		if (skip == NONE)
			return FAIL(r, name_off, special, "expected a %s label on %.*s", special, (int)nlen,
			            name);
		const label *l = &r->ls.v[skip];
		rc = parse_float(r->ls.vals.data + l->val, l->val_len, &bound);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0 || isnan(bound))
			return FAIL(r, l->off, special, "expected a number as the %s label's value", special);
		if (role == R_VALUE && !(bound >= 0 && bound <= 1))
			return FAIL(r, l->off, special, "expected a quantile between 0 and 1");
	}

	bool has_ts = ts != NULL;
	uint64_t ts_ns = 0;
	if (has_ts) {
		rc = r->om ? parse_seconds(ts, tlen, &ts_ns) : parse_ms(ts, tlen, &ts_ns);
		if (rc < 0)
			return FAIL(r, (size_t)(ts - r->buf), "timestamp",
			            rc == -2 ? "expected a timestamp within 292 years of 1970"
			            : r->om  ? "expected a timestamp in seconds"
			                     : "expected a timestamp in integer milliseconds");
	}

	/* A bucket is already there when its le does not ascend: either a duplicate, or the
	 * first bucket of the series' next point (another timestamp). */
	point *pt;
	rc = get_point(r, f, skip, has_ts, ts_ns, false, role, name_off, &pt);
	if (rc < 0)
		return rc;
	if (role == R_BUCKET && pt->nbk > 0 && !(bound > pt->bk[pt->nbk - 1].le)) {
		rc = get_point(r, f, skip, has_ts, ts_ns, true, role, name_off, &pt);
		if (rc < 0)
			return rc;
		if (rc > 0)
			return FAIL(r, r->ls.v[skip].off, "le", "expected le values in increasing order");
	}

	const char *field = "value";
	switch (role) {
	case R_VALUE:
		if (f->type == FT_SUMMARY) {
			double v;
			rc = parse_float(val, vlen, &v);
			if (rc == 0) {
				if (reserve((void **)&pt->q, &pt->capq, pt->nq + 1, sizeof(sonde_quantile)) <
				    0)
					return -ENOMEM;
				pt->q[pt->nq++] = (sonde_quantile){bound, v};
			}
			break;
		}
		/* fallthrough */
	case R_TOTAL:
	case R_INFO:
		rc = parse_float(val, vlen, &pt->value);
		pt->has_value = rc == 0;
		break;
	case R_CREATED:
		rc = parse_seconds(val, vlen, &pt->start_ns);
		pt->has_start = rc == 0;
		field = "_created";
		break;
	case R_COUNT:
	case R_GCOUNT:
		rc = parse_count(val, vlen, &pt->count);
		pt->has_count = rc == 0;
		field = "count";
		break;
	case R_SUM:
	case R_GSUM:
		rc = parse_float(val, vlen, &pt->sum);
		pt->has_sum = rc == 0;
		break;
	case R_BUCKET: {
		uint64_t cum;
		rc = parse_count(val, vlen, &cum);
		field = "count";
		if (rc)
			break;
		if (pt->nbk > 0 && cum < pt->bk[pt->nbk - 1].cum)
			return FAIL(r, (size_t)(val - r->buf), "count",
			            "expected cumulative bucket counts that do not decrease");
		if (reserve((void **)&pt->bk, &pt->capbk, pt->nbk + 1, sizeof(bucket)) < 0)
			return -ENOMEM;
		pt->bk[pt->nbk++] = (bucket){bound, cum};
		break;
	}
	case R_COUNT_: break;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return FAIL(r, (size_t)(val - r->buf), field,
		            role == R_CREATED ? "expected a creation time in seconds"
		            : strcmp(field, "count") == 0
		                    ? "expected a non-negative integer count"
		                    : "expected a number (like 1, -2.5e3, NaN or +Inf)");
	if (xv && f->type != FT_SUMMARY) {
		rc = add_exemplar(r, pt, xv, xvlen, xts, xtlen);
		if (rc)
			return rc;
	}
	f->nsamples++;
	return 0;
}

static int parse_type_word(const char *s, size_t n, enum ftype *t)
{
	static const struct {
		const char *w;
		enum ftype t;
	} words[] = {
	        {"counter", FT_COUNTER},     {"gauge", FT_GAUGE},
	        {"histogram", FT_HISTOGRAM}, {"gaugehistogram", FT_GAUGEHISTOGRAM},
	        {"summary", FT_SUMMARY},     {"info", FT_INFO},
	        {"stateset", FT_STATESET},   {"unknown", FT_UNKNOWN},
	        {"untyped", FT_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (lit_eq(s, n, words[i].w)) {
			*t = words[i].t;
			return 0;
		}
	}
	return -1;
}

/* A line starting with '#': HELP, TYPE, UNIT, EOF or a comment. */
static int comment_line(reader *r, const char *p, const char *e)
{
	p = skip_blanks(p, e);
	const char *kw = p;
	p = token_end(p, e);
	size_t kwn = (size_t)(p - kw);
	int which = lit_eq(kw, kwn, "HELP")              ? 'H'
	            : lit_eq(kw, kwn, "TYPE")            ? 'T'
	            : (r->om && lit_eq(kw, kwn, "UNIT")) ? 'U'
	            : (r->om && lit_eq(kw, kwn, "EOF"))  ? 'E'
	                                                 : 0;
	if (!which)
		return 0;
	const char *field = which == 'H' ? "HELP" : which == 'T' ? "TYPE" : which == 'U' ? "UNIT" : "EOF";
	if (which == 'E') {
		if (skip_blanks(p, e) != e)
			return FAIL(r, (size_t)(p - r->buf), field, "expected nothing after # EOF");
		r->eof = true;
		return 0;
	}
	const char *q = skip_blanks(p, e);
	if (q == p)
		return FAIL(r, (size_t)(p - r->buf), field, "expected a metric name after %s", field);
	p = q;
	const char *name;
	size_t nlen;
	size_t name_off = (size_t)(p - r->buf);
	int rc = read_metric_name(r, &p, e, &name, &nlen);
	if (rc)
		return rc;
	if (p < e && !is_blank(*p))
		return FAIL(r, (size_t)(p - r->buf), "metric name", "expected a blank after the metric name");

	enum ftype type = FT_UNTYPED;
	const char *unit = NULL;
	size_t unit_len = 0;
	if (which == 'H') {
		if (p < e)
			p++; /* the one blank before the text; the rest is text */
		p = skip_blanks(p, e);
		rc = unescape_help(r, p, e, &r->tmp);
		if (rc)
			return rc;
	} else if (which == 'T') {
		p = skip_blanks(p, e);
		const char *w = p;
		p = token_end(p, e);
		if (parse_type_word(w, (size_t)(p - w), &type) < 0)
			return FAIL(r, (size_t)(w - r->buf), field,
			            "expected counter, gauge, histogram, gaugehistogram, summary, info, "
			            "stateset, "
			            "unknown or untyped");
		if (skip_blanks(p, e) != e)
			return FAIL(r, (size_t)(p - r->buf), field,
			            "expected the end of the line after the type");
	} else {
		p = skip_blanks(p, e);
		unit = p;
		while (p < e && is_name_char(*p, true))
			p++;
		unit_len = (size_t)(p - unit);
		if (skip_blanks(p, e) != e)
			return FAIL(r, (size_t)(p - r->buf), field, "expected a unit made of [a-zA-Z0-9_:]");
	}

	uint64_t h = sonde_hash_bytes(name, nlen, 0);
	size_t fi = fam_find(r, name, nlen, h);
	if (fi == NONE) {
		rc = fam_add(r, name, nlen, h, &fi);
		if (rc < 0)
			return rc;
	}
	family *f = &r->fams[fi];
	if (r->om && f->nsamples > 0)
		return FAIL(r, name_off, field, "expected %s before the samples of %.*s", field, (int)nlen,
		            name);
	if (r->om && fi != r->cur && f->closed)
		return FAIL(r, name_off, field, "expected the lines of family %.*s together, not interleaved",
		            (int)nlen, name);
	switch (which) {
	case 'H':
		if (f->has_help)
			return FAIL(r, name_off, field, "duplicate HELP line for %.*s", (int)nlen, name);
		f->has_help = true;
		f->help = sonde_batch_strdup(r->b, r->tmp.len ? r->tmp.data : "", r->tmp.len);
		if (!f->help.ptr)
			return -ENOMEM;
		break;
	case 'T':
		if (f->typed)
			return FAIL(r, name_off, field, "duplicate TYPE line for %.*s", (int)nlen, name);
		if (f->nsamples > 0)
			return FAIL(r, name_off, field, "expected TYPE before the samples of %.*s", (int)nlen,
			            name);
		f->typed = true;
		f->type = type;
		break;
	case 'U':
		if (f->has_unit)
			return FAIL(r, name_off, field, "duplicate UNIT line for %.*s", (int)nlen, name);
		f->has_unit = true;
		f->unit = sonde_batch_intern(r->b, unit, unit_len); /* converted in build() */
		if (!f->unit.ptr)
			return -ENOMEM;
		break;
	}
	switch_family(r, fi);
	return 0;
}

/* OpenMetrics when a line is "# EOF" or starts with "# UNIT ", or a TYPE names a type
 * only OpenMetrics has. */
static bool detect_om(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t n = (size_t)(e - p);
		if (n >= 5 && p[0] == '#') {
			if (lit_eq(p, n, "# EOF") || (n >= 7 && memcmp(p, "# UNIT ", 7) == 0))
				return true;
			if (n > 7 && memcmp(p, "# TYPE ", 7) == 0) {
				const char *t = e;
				while (t > p && is_blank(t[-1]))
					t--;
				const char *w = t;
				while (w > p && !is_blank(w[-1]))
					w--;
				size_t wn = (size_t)(t - w);
				if (lit_eq(w, wn, "info") || lit_eq(w, wn, "stateset") ||
				    lit_eq(w, wn, "gaugehistogram"))
					return true;
			}
		}
		p = nl ? nl + 1 : end;
	}
	return false;
}

/* ---- Building the metrics --------------------------------------------------------- */

static int cmp_quantile(const void *a, const void *b)
{
	double x = ((const sonde_quantile *)a)->quantile, y = ((const sonde_quantile *)b)->quantile;
	return x < y ? -1 : x > y;
}

static int build_point(reader *r, const family *f, point *p, sonde_point *o)
{
	o->attrs = p->attrs;
	o->time_ns = p->time_ns;
	o->start_time_ns = p->has_start ? p->start_ns : 0;
	if (p->nex) {
		o->exemplars = sonde_batch_alloc(r->b, p->nex * sizeof(sonde_exemplar));
		if (!o->exemplars)
			return -ENOMEM;
		memcpy(o->exemplars, p->ex, p->nex * sizeof(sonde_exemplar));
		o->exemplars_count = (uint32_t)p->nex;
	}
	r->line = p->line;
	switch (f->type) {
	case FT_HISTOGRAM:
	case FT_GAUGEHISTOGRAM: {
		if (p->nbk == 0 || p->bk[p->nbk - 1].le != INFINITY)
			return FAIL(r, p->off, "le", "expected a bucket with le=\"+Inf\" in histogram %.*s",
			            (int)f->name.len, f->name.ptr);
		size_t nb = p->nbk;
		o->u.hist.bucket_counts = sonde_batch_alloc(r->b, nb * sizeof(uint64_t));
		o->u.hist.bounds = sonde_batch_alloc(r->b, (nb - 1) * sizeof(double) + 1);
		if (!o->u.hist.bucket_counts || !o->u.hist.bounds)
			return -ENOMEM;
		for (size_t i = 0; i < nb; i++) {
			o->u.hist.bucket_counts[i] = p->bk[i].cum - (i ? p->bk[i - 1].cum : 0);
			if (i + 1 < nb)
				o->u.hist.bounds[i] = p->bk[i].le;
		}
		o->u.hist.bucket_counts_count = (uint32_t)nb;
		o->u.hist.bounds_count = (uint32_t)(nb - 1);
		o->u.hist.count = p->has_count ? p->count : p->bk[nb - 1].cum;
		o->u.hist.has_sum = p->has_sum;
		o->u.hist.sum = p->has_sum ? p->sum : 0;
		return 0;
	}
	case FT_SUMMARY:
		if (p->nq) {
			qsort(p->q, p->nq, sizeof(sonde_quantile), cmp_quantile);
			for (size_t i = 1; i < p->nq; i++)
				if (p->q[i].quantile == p->q[i - 1].quantile)
					return FAIL(r, p->off, "quantile",
					            "duplicate quantile in summary %.*s", (int)f->name.len,
					            f->name.ptr);
			o->u.summary.quantiles = sonde_batch_alloc(r->b, p->nq * sizeof(sonde_quantile));
			if (!o->u.summary.quantiles)
				return -ENOMEM;
			memcpy(o->u.summary.quantiles, p->q, p->nq * sizeof(sonde_quantile));
			o->u.summary.quantiles_count = (uint32_t)p->nq;
		}
		o->u.summary.count = p->has_count ? p->count : 0;
		o->u.summary.sum = p->has_sum ? p->sum : 0;
		return 0;
	default:
		if (!p->has_value)
			return FAIL(r, p->off, "metric name", "expected a %s sample for this point of %.*s",
			            f->type == FT_COUNTER ? "_total" : "value", (int)f->name.len,
			            f->name.ptr);
		o->u.number.kind = SONDE_NUM_DOUBLE;
		o->u.number.v.d = p->value;
		return 0;
	}
}

static int build(reader *r)
{
	if (!r->nfams)
		return 0;
	sonde_resource *res = sonde_batch_new_resource(r->b);
	sonde_scope *scope = sonde_batch_new_scope(r->b);
	sonde_str key = sonde_batch_intern(r->b, "prometheus.type", 15);
	if (!res || !scope || !key.ptr)
		return -ENOMEM;
	for (size_t i = 0; i < r->nfams; i++) {
		family *f = &r->fams[i];
		sonde_point *pts = NULL;
		if (f->npts) {
			pts = sonde_batch_alloc(r->b, f->npts * sizeof(sonde_point));
			if (!pts)
				return -ENOMEM;
			for (size_t j = 0; j < f->npts; j++) {
				int rc = build_point(r, f, &f->pts[j], &pts[j]);
				if (rc)
					return rc;
			}
		}
		sonde_kv *meta = sonde_batch_alloc(r->b, sizeof(sonde_kv));
		if (!meta)
			return -ENOMEM;
		meta->key = key;
		meta->value.kind = SONDE_VAL_STRING;
		meta->value.u.str =
		        sonde_batch_intern(r->b, type_words[f->type], strlen(type_words[f->type]));
		/* Info and OpenMetrics counters are named as their samples are, like 0.0.4 names
		 * counters: "build_info", "requests_total". */
		sonde_str name = f->name;
		if (f->type == FT_INFO || (f->type == FT_COUNTER && r->om)) {
			sonde_buf_reset(&r->tmp);
			sonde_buf_append(&r->tmp, f->name.ptr, f->name.len);
			sonde_buf_puts(&r->tmp, f->type == FT_INFO ? "_info" : "_total");
			if (r->tmp.oom)
				return -ENOMEM;
			name = sonde_batch_intern(r->b, r->tmp.data, r->tmp.len);
		}
		/* "ratio" is the unit "1" of gauges only: the writer writes "1" as "ratio" for
		 * gauges alone. */
		sonde_str unit = f->unit;
		bool gauge = f->type != FT_COUNTER && f->type != FT_HISTOGRAM &&
		             f->type != FT_GAUGEHISTOGRAM && f->type != FT_SUMMARY;
		if (unit.len && (gauge || !lit_eq(unit.ptr, unit.len, "ratio"))) {
			sonde_buf_reset(&r->tmp);
			sonde_prom_unit_from_prom(&r->tmp, unit.ptr, unit.len);
			if (r->tmp.oom)
				return -ENOMEM;
			unit = sonde_batch_intern(r->b, r->tmp.data, r->tmp.len);
		}
		if (!meta->value.u.str.ptr || !name.ptr || !unit.ptr)
			return -ENOMEM;
		sonde_metric_data *m = sonde_batch_add_metric(r->b, res, scope);
		if (!m)
			return -ENOMEM;
		m->name = name;
		m->description = f->help;
		m->unit = unit;
		m->metadata.items = meta;
		m->metadata.count = 1;
		m->points = pts;
		m->points_count = (uint32_t)f->npts;
		switch (f->type) {
		case FT_COUNTER:
			m->type = SONDE_METRIC_SUM;
			m->is_monotonic = true;
			m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
			break;
		case FT_HISTOGRAM:
			m->type = SONDE_METRIC_HISTOGRAM;
			m->temporality = SONDE_TEMPORALITY_CUMULATIVE;
			break;
		case FT_GAUGEHISTOGRAM:
			m->type = SONDE_METRIC_HISTOGRAM;
			m->temporality = SONDE_TEMPORALITY_UNSPECIFIED;
			break;
		case FT_SUMMARY: m->type = SONDE_METRIC_SUMMARY; break;
		default: m->type = SONDE_METRIC_GAUGE; break;
		}
	}
	return 0;
}

/* ---- Entry point ------------------------------------------------------------------ */

static void reader_release(reader *r)
{
	for (size_t i = 0; i < r->nfams; i++) {
		family *f = &r->fams[i];
		for (size_t j = 0; j < f->npts; j++) {
			free(f->pts[j].bk);
			free(f->pts[j].q);
			free(f->pts[j].ex);
		}
		free(f->pts);
		free(f->slots);
		sonde_buf_release(&f->keys);
	}
	free(r->fams);
	free(r->fslots);
	free(r->ls.v);
	free(r->xs.v);
	sonde_buf_release(&r->ls.vals);
	sonde_buf_release(&r->xs.vals);
	sonde_buf_release(&r->key);
	sonde_buf_release(&r->tmp);
}

static int read_lines(reader *r)
{
	size_t pos = 0;
	while (pos < r->len) {
		r->line++;
		const char *s = r->buf + pos;
		const char *nl = memchr(s, '\n', r->len - pos);
		const char *e = nl ? nl : r->buf + r->len;
		size_t next = nl ? (size_t)(nl - r->buf) + 1 : r->len;
		const char *p = skip_blanks(s, e);
		int rc = 0;
		if (p < e)
			rc = *p == '#' ? comment_line(r, p + 1, e) : sample_line(r, p, e);
		if (rc)
			return rc;
		if (r->eof) {
			if (next != r->len) {
				r->line++;
				return FAIL(r, next, "EOF", "expected nothing after # EOF");
			}
			return 0;
		}
		pos = next;
	}
	if (r->om)
		return FAIL(r, r->len, "EOF", "expected \"# EOF\" as the last line of OpenMetrics text");
	return 0;
}

int sonde_prom_text_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                         sonde_wire_error *err)
{
	reader r;
	memset(&r, 0, sizeof(r));
	r.b = b;
	r.buf = buf;
	r.len = len;
	r.err = err;
	r.default_ns = default_time_ns;
	r.cur = NONE;
	r.om = detect_om(buf, len);
	size_t metrics_before = b->metrics_count;
	int rc = read_lines(&r);
	if (rc == 0)
		rc = build(&r);
	if (rc) {
		b->metrics_count = metrics_before;
		if (rc != SONDE_EPARSE && err)
			sonde_wire_fail(err, 0, 0, NULL, "out of memory");
		if (rc != SONDE_EPARSE)
			rc = -ENOMEM;
	}
	reader_release(&r);
	return rc;
}
