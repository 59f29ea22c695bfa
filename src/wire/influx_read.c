/*
 * influx_read.c - InfluxDB line protocol into gauges (see influx_read.h).
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "influx_read.h"
#include "ptrmap.h"
#include "sonde/status.h"

/* Reads a name (measurement, tag key or value, field key) up to an unescaped stop
 * character, unescaping into out. Returns the index after it. */
static size_t read_name(const char *s, size_t n, size_t i, const char *stops, sonde_buf *out)
{
	sonde_buf_reset(out);
	while (i < n && !strchr(stops, s[i])) {
		if (s[i] == '\\' && i + 1 < n &&
		    (s[i + 1] == ',' || s[i + 1] == ' ' || s[i + 1] == '=' || s[i + 1] == '\\')) {
			sonde_buf_putc(out, s[i + 1]);
			i += 2;
			continue;
		}
		sonde_buf_putc(out, s[i++]);
	}
	return i;
}

typedef struct pending {
	size_t metric; /* index into the batch's metrics */
	sonde_point pt;
} pending;

typedef struct rd {
	sonde_batch *b;
	sonde_ptrmap metrics;   /* (name, resource) -> metric index + 1 */
	sonde_ptrmap resources; /* service name -> resource */
	const sonde_resource *plain;
	const sonde_scope *scope;
	pending *pend;
	size_t npend, cap;
	sonde_kv *tags;
	size_t ntags, tags_cap;
	sonde_buf name, tmp;
} rd;

static int resource_for(rd *r, sonde_str svc, const sonde_resource **out)
{
	if (!svc.ptr) {
		if (!r->plain && !(r->plain = sonde_batch_new_resource(r->b)))
			return -ENOMEM;
		*out = r->plain;
		return 0;
	}
	sonde_ptrmap_key k = {svc.ptr, NULL, 0};
	sonde_resource *res = sonde_ptrmap_find(&r->resources, k);
	if (!res) {
		res = sonde_batch_new_resource(r->b);
		sonde_kv *kv = sonde_batch_alloc(r->b, sizeof *kv);
		if (!res || !kv)
			return -ENOMEM;
		kv->key = SONDE_STR_LIT("service.name");
		kv->value.kind = SONDE_VAL_STRING;
		kv->value.u.str = svc;
		res->attrs.items = kv;
		res->attrs.count = 1;
		if (sonde_ptrmap_add(&r->resources, k, res) < 0)
			return -ENOMEM;
	}
	*out = res;
	return 0;
}

static int add_point(rd *r, sonde_str name, const sonde_resource *res, const sonde_point *pt)
{
	sonde_ptrmap_key k = {name.ptr, res, 0};
	void *v = sonde_ptrmap_find(&r->metrics, k);
	size_t idx;
	if (v) {
		idx = (size_t)(uintptr_t)v - 1;
	} else {
		sonde_metric_data *m = sonde_batch_add_metric(r->b, res, r->scope);
		if (!m)
			return -ENOMEM;
		m->name = name;
		m->type = SONDE_METRIC_GAUGE;
		idx = r->b->metrics_count - 1;
		if (sonde_ptrmap_add(&r->metrics, k, (void *)(uintptr_t)(idx + 1)) < 0)
			return -ENOMEM;
	}
	if (r->npend == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		pending *np = realloc(r->pend, cap * sizeof *np);
		if (!np)
			return -ENOMEM;
		r->pend = np;
		r->cap = cap;
	}
	r->pend[r->npend].metric = idx;
	r->pend[r->npend].pt = *pt;
	r->npend++;
	return 0;
}

static bool parse_i64(const char *s, size_t n, bool is_unsigned, int64_t *out)
{
	if (n == 0 || n > 20)
		return false;
	bool neg = s[0] == '-';
	size_t i = neg ? 1 : 0;
	if (i == n || (neg && is_unsigned))
		return false;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return false;
		*out = (int64_t)(0 - v);
	} else {
		if (v > INT64_MAX)
			return false;
		*out = (int64_t)v;
	}
	return true;
}

static int line(rd *r, const char *s, size_t n, size_t off, size_t lineno, uint64_t default_ns,
                sonde_wire_error *err)
{
	sonde_buf *nb = &r->name;
	size_t i = read_name(s, n, 0, ", ", nb);
	if (nb->len == 0)
		return sonde_wire_fail(err, off, lineno, "measurement", "expected a measurement name");
	sonde_str meas = sonde_batch_intern(r->b, nb->data, nb->len);
	if (!meas.ptr)
		return -ENOMEM;
	sonde_str svc = {NULL, 0};
	r->ntags = 0;
	while (i < n && s[i] == ',') {
		size_t kstart = i + 1;
		i = read_name(s, n, i + 1, "=, ", nb);
		if (nb->len == 0 || i >= n || s[i] != '=')
			return sonde_wire_fail(err, off + kstart, lineno, "tag", "expected tag=value");
		sonde_str key = sonde_batch_intern(r->b, nb->data, nb->len);
		i = read_name(s, n, i + 1, ", ", nb);
		if (nb->len == 0)
			return sonde_wire_fail(err, off + i, lineno, key.ptr ? key.ptr : "tag",
			                       "expected a tag value");
		sonde_str val = sonde_batch_intern(r->b, nb->data, nb->len);
		if (!key.ptr || !val.ptr)
			return -ENOMEM;
		if (key.len == 12 && memcmp(key.ptr, "service.name", 12) == 0) {
			svc = val;
			continue;
		}
		if (r->ntags == r->tags_cap) {
			size_t cap = r->tags_cap ? r->tags_cap * 2 : 16;
			sonde_kv *nt = realloc(r->tags, cap * sizeof *nt);
			if (!nt)
				return -ENOMEM;
			r->tags = nt;
			r->tags_cap = cap;
		}
		sonde_kv *kv = &r->tags[r->ntags++];
		kv->key = key;
		kv->value.kind = SONDE_VAL_STRING;
		kv->value.u.str = val;
	}
	if (i >= n || s[i] != ' ')
		return sonde_wire_fail(err, off + i, lineno, "", "expected a space before the fields");
	while (i < n && s[i] == ' ')
		i++;
	/* Fields are parsed first and kept aside, since the timestamp comes after them. */
	struct {
		sonde_str name;
		sonde_num_kind kind;
		double d;
		int64_t v;
	} fields[64];
	size_t nf = 0;
	for (;;) {
		size_t fstart = i;
		i = read_name(s, n, i, "=, ", nb);
		if (nb->len == 0 || i >= n || s[i] != '=')
			return sonde_wire_fail(err, off + fstart, lineno, "field", "expected field=value");
		char fname[128];
		size_t fl = nb->len < sizeof fname - 1 ? nb->len : sizeof fname - 1;
		memcpy(fname, nb->data, fl);
		fname[fl] = '\0';
		i++;
		size_t vstart = i;
		bool skip = false;
		sonde_num_kind kind = SONDE_NUM_DOUBLE;
		double d = 0;
		int64_t iv = 0;
		if (i < n && s[i] == '"') {
			i++;
			while (i < n && s[i] != '"')
				i += s[i] == '\\' && i + 1 < n ? 2 : 1;
			if (i >= n)
				return sonde_wire_fail(err, off + vstart, lineno, fname,
				                       "expected a closing quote");
			i++;
			skip = true;
		} else {
			size_t j = i;
			while (j < n && s[j] != ',' && s[j] != ' ')
				j++;
			const char *v = s + i;
			size_t vn = j - i;
			i = j;
			if (vn && (v[vn - 1] == 'i' || v[vn - 1] == 'u')) {
				if (!parse_i64(v, vn - 1, v[vn - 1] == 'u', &iv))
					return sonde_wire_fail(err, off + vstart, lineno, fname,
					                       "expected an integer that fits in 64 bits");
				kind = SONDE_NUM_INT;
			} else if ((vn == 1 && (v[0] == 't' || v[0] == 'T')) ||
			           (vn == 4 && (!memcmp(v, "true", 4) || !memcmp(v, "True", 4) ||
			                        !memcmp(v, "TRUE", 4)))) {
				kind = SONDE_NUM_INT;
				iv = 1;
			} else if ((vn == 1 && (v[0] == 'f' || v[0] == 'F')) ||
			           (vn == 5 && (!memcmp(v, "false", 5) || !memcmp(v, "False", 5) ||
			                        !memcmp(v, "FALSE", 5)))) {
				kind = SONDE_NUM_INT;
				iv = 0;
			} else {
				char tmp[64];
				char *end;
				if (vn == 0 || vn >= sizeof tmp)
					return sonde_wire_fail(err, off + vstart, lineno, fname,
					                       "expected a number");
				memcpy(tmp, v, vn);
				tmp[vn] = '\0';
				d = strtod(tmp, &end);
				if (end != tmp + vn ||
				    !(tmp[0] == '-' || tmp[0] == '.' || (tmp[0] >= '0' && tmp[0] <= '9')) ||
				    !isfinite(d))
					return sonde_wire_fail(err, off + vstart, lineno, fname,
					                       "expected a number");
			}
		}
		if (!skip) {
			if (nf == sizeof fields / sizeof fields[0])
				return sonde_wire_fail(err, off + vstart, lineno, fname,
				                       "expected at most 64 fields");
			sonde_str fn;
			if (fl == 5 && memcmp(fname, "value", 5) == 0) {
				fn = meas;
			} else {
				sonde_buf_reset(&r->tmp);
				sonde_buf_append(&r->tmp, meas.ptr, meas.len);
				sonde_buf_putc(&r->tmp, '_');
				sonde_buf_append(&r->tmp, nb->data, nb->len);
				if (r->tmp.oom)
					return -ENOMEM;
				fn = sonde_batch_intern(r->b, r->tmp.data, r->tmp.len);
				if (!fn.ptr)
					return -ENOMEM;
			}
			fields[nf].name = fn;
			fields[nf].kind = kind;
			fields[nf].d = d;
			fields[nf].v = iv;
			nf++;
		}
		if (i < n && s[i] == ',') {
			i++;
			continue;
		}
		break;
	}
	uint64_t t = default_ns;
	while (i < n && s[i] == ' ')
		i++;
	if (i < n) {
		int64_t ts;
		size_t tstart = i;
		while (i < n && s[i] != ' ')
			i++;
		if (!parse_i64(s + tstart, i - tstart, false, &ts) || ts < 0)
			return sonde_wire_fail(err, off + tstart, lineno, "timestamp",
			                       "expected nanoseconds since the epoch");
		t = (uint64_t)ts;
		while (i < n && s[i] == ' ')
			i++;
		if (i < n)
			return sonde_wire_fail(err, off + i, lineno, "", "expected the end of the line");
	}
	const sonde_resource *res;
	int rc = resource_for(r, svc, &res);
	if (rc < 0)
		return rc;
	sonde_kv *tags = NULL;
	if (r->ntags) {
		tags = sonde_batch_alloc(r->b, r->ntags * sizeof *tags);
		if (!tags)
			return -ENOMEM;
		memcpy(tags, r->tags, r->ntags * sizeof *tags);
	}
	for (size_t f = 0; f < nf; f++) {
		sonde_point pt = {0};
		pt.attrs.items = tags;
		pt.attrs.count = (uint32_t)r->ntags;
		pt.time_ns = t;
		pt.u.number.kind = fields[f].kind;
		if (fields[f].kind == SONDE_NUM_INT)
			pt.u.number.v.i = fields[f].v;
		else
			pt.u.number.v.d = fields[f].d;
		if ((rc = add_point(r, fields[f].name, res, &pt)) < 0)
			return rc;
	}
	return 0;
}

int sonde_influx_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                      sonde_wire_error *err)
{
	size_t before = b->metrics_count;
	rd r = {.b = b, .name = SONDE_BUF_INIT, .tmp = SONDE_BUF_INIT};
	sonde_ptrmap_init(&r.metrics);
	sonde_ptrmap_init(&r.resources);
	int rc = (r.scope = sonde_batch_new_scope(b)) ? 0 : -ENOMEM;
	size_t pos = 0, lineno = 0;
	while (rc == 0 && pos < len) {
		const char *p = buf + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - p) : len - pos, off = pos;
		pos += l + (nl ? 1 : 0);
		lineno++;
		if (l && p[l - 1] == '\r')
			l--;
		size_t k = 0;
		while (k < l && (p[k] == ' ' || p[k] == '\t'))
			k++;
		if (k == l || p[k] == '#')
			continue;
		rc = line(&r, p + k, l - k, off + k, lineno, default_time_ns, err);
	}
	if (r.name.oom || r.tmp.oom)
		rc = -ENOMEM;
	/* Points go to their metrics, in the order read. */
	size_t *counts = NULL;
	size_t nm = b->metrics_count - before;
	if (rc == 0 && nm) {
		counts = calloc(nm, sizeof *counts);
		if (!counts)
			rc = -ENOMEM;
		for (size_t i = 0; rc == 0 && i < r.npend; i++)
			counts[r.pend[i].metric - before]++;
		for (size_t m = 0; rc == 0 && m < nm; m++) {
			sonde_metric_data *md = &b->metrics[before + m];
			md->points = sonde_batch_alloc(b, counts[m] * sizeof(sonde_point));
			if (!md->points)
				rc = -ENOMEM;
		}
		for (size_t i = 0; rc == 0 && i < r.npend; i++) {
			sonde_metric_data *md = &b->metrics[r.pend[i].metric];
			md->points[md->points_count++] = r.pend[i].pt;
		}
	}
	if (rc < 0)
		b->metrics_count = before;
	free(counts);
	free(r.pend);
	free(r.tags);
	sonde_buf_release(&r.name);
	sonde_buf_release(&r.tmp);
	sonde_ptrmap_release(&r.metrics);
	sonde_ptrmap_release(&r.resources);
	return rc;
}

/* Whether line p[0..l) has the shape measurement[,tags] SP field=...: the part before
 * the first unescaped space has no braces, quotes or angle brackets, and the part after
 * it starts with key=. */
static bool influx_shape(const char *p, size_t l)
{
	size_t i = 0;
	while (i < l && p[i] != ' ') {
		if (strchr("{}\"[<>", p[i]))
			return false;
		i += p[i] == '\\' ? 2 : 1;
	}
	if (i == 0 || i >= l)
		return false;
	i++;
	size_t j = i;
	while (j < l && p[j] != '=' && p[j] != ' ' && p[j] != ',')
		j++;
	return j > i && j < l && p[j] == '=' && j + 1 < l;
}

bool sonde_influx_sniff(const char *buf, size_t len)
{
	/* The first lines that are neither blank nor comments (up to SNIFF_LINES, within the
	 * first 64 KB) all have the shape: one line of prose with an "x=y" in it is not line
	 * protocol (a README's first line is the usual one). */
	enum { SNIFF_LINES = 8 };
	size_t pos = 0, seen = 0;
	if (len > 65536)
		len = 65536;
	while (pos < len && seen < SNIFF_LINES) {
		const char *p = buf + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t l = nl ? (size_t)(nl - p) : len - pos;
		pos += l + (nl ? 1 : 0);
		if (l && p[l - 1] == '\r')
			l--;
		if (l == 0 || p[0] == '#')
			continue;
		if (!nl && seen && pos >= len && len == 65536)
			break; /* a line cut by the window */
		if (!influx_shape(p, l))
			return false;
		seen++;
	}
	return seen > 0;
}
