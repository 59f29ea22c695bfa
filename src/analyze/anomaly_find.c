/*
 * anomaly_find.c - anomalies in a store's metric series, with the logs, spans and
 * services around each one (see anomaly_find.h).
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anomaly_find.h"
#include "buf.h"
#include "hex.h"
#include "sonde/types.h"

#define MAX_WINDOWS_PER_SERIES 64
#define MAX_ERROR_KEYS         256
#define MAX_TRACE_IDS          1024
#define MAX_SERVICES           64
#define KEY_LEN                160

size_t sonde_anomaly_error_key(const char *body, size_t n, char *out, size_t cap)
{
	size_t w = 0;
	for (size_t i = 0; i < n && w + 1 < cap; i++) {
		if (body[i] >= '0' && body[i] <= '9') {
			out[w++] = '#';
			while (i + 1 < n && body[i + 1] >= '0' && body[i + 1] <= '9')
				i++;
		} else {
			out[w++] = body[i] == '\n' || body[i] == '\r' || body[i] == '\t' ? ' ' : body[i];
		}
	}
	out[w] = 0;
	return w;
}

static const char *service_of(const sonde_resource *r)
{
	const sonde_value *v = r ? sonde_attrs_get(&r->attrs, "service.name") : NULL;
	return v && v->kind == SONDE_VAL_STRING ? v->u.str.ptr : "";
}

typedef struct counter {
	char name[KEY_LEN];
	uint64_t count;
} counter;

/* What the context scans gather for one window. */
typedef struct gather {
	counter keys[MAX_ERROR_KEYS];
	size_t nkeys;
	counter services[MAX_SERVICES];
	size_t nservices;
	uint8_t traces[MAX_TRACE_IDS][16];
	size_t ntraces;
	uint64_t failed_traces_total;
	sonde_anomaly_found *f;
} gather;

static void bump(counter *c, size_t *n, size_t cap, const char *name, size_t len)
{
	if (len >= KEY_LEN)
		len = KEY_LEN - 1;
	for (size_t i = 0; i < *n; i++)
		if (strlen(c[i].name) == len && !memcmp(c[i].name, name, len)) {
			c[i].count++;
			return;
		}
	if (*n == cap)
		return;
	memcpy(c[*n].name, name, len);
	c[*n].name[len] = 0;
	c[*n].count = 1;
	(*n)++;
}

static int on_log(void *ctx, const sonde_log_data *log)
{
	gather *g = ctx;
	g->f->error_logs++;
	char key[KEY_LEN];
	size_t n = 0;
	if (log->body.kind == SONDE_VAL_STRING)
		n = sonde_anomaly_error_key(log->body.u.str.ptr, log->body.u.str.len, key, sizeof key);
	else
		n = (size_t)snprintf(key, sizeof key, "(structured body)");
	bump(g->keys, &g->nkeys, MAX_ERROR_KEYS, key, n);
	const char *svc = service_of(log->resource);
	if (*svc)
		bump(g->services, &g->nservices, MAX_SERVICES, svc, strlen(svc));
	return 0;
}

static int on_span(void *ctx, const sonde_span_data *span)
{
	gather *g = ctx;
	const char *svc = service_of(span->resource);
	if (*svc)
		bump(g->services, &g->nservices, MAX_SERVICES, svc, strlen(svc));
	if (span->status_code != SONDE_STATUS_ERROR)
		return 0;
	g->f->failed_spans++;
	for (size_t i = 0; i < g->ntraces; i++)
		if (!memcmp(g->traces[i], span->trace_id, 16))
			return 0;
	g->failed_traces_total++;
	if (g->ntraces < MAX_TRACE_IDS)
		memcpy(g->traces[g->ntraces++], span->trace_id, 16);
	return 0;
}

static int by_count_desc(const void *a, const void *b)
{
	const counter *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int gather_context(sonde_store *s, sonde_anomaly_found *f, sonde_arena *arena)
{
	gather *g = calloc(1, sizeof *g);
	if (!g)
		return -ENOMEM;
	g->f = f;
	sonde_query q = {0};
	q.since_ns = f->context_since_ns;
	q.until_ns = f->context_until_ns;
	q.errors_only = true;
	int rc = sonde_store_scan_logs(s, &q, on_log, g);
	if (rc >= 0) {
		q.errors_only = false;
		rc = sonde_store_scan_spans(s, &q, SONDE_FIELDS_BASE, on_span, g);
	}
	if (rc < 0)
		goto done;
	qsort(g->keys, g->nkeys, sizeof g->keys[0], by_count_desc);
	for (size_t i = 0; i < g->nkeys && i < SONDE_ANOMALY_TOP_ERRORS; i++) {
		f->top_errors[i].name = sonde_arena_strndup(arena, g->keys[i].name, strlen(g->keys[i].name));
		f->top_errors[i].count = g->keys[i].count;
		f->top_errors_count++;
	}
	for (size_t i = 0; i < g->ntraces && i < SONDE_ANOMALY_TRACES; i++) {
		sonde_hex_encode(f->failed_traces[i], g->traces[i], 16);
		f->failed_traces[i][32] = 0;
		f->failed_traces_count++;
	}
	f->failed_traces_total = g->failed_traces_total;
	qsort(g->services, g->nservices, sizeof g->services[0], by_count_desc);
	f->services = sonde_arena_zalloc(arena, (g->nservices + 1) * sizeof *f->services);
	rc = f->services ? 0 : -ENOMEM;
	for (size_t i = 0; f->services && i < g->nservices; i++) {
		f->services[i].name =
		        sonde_arena_strndup(arena, g->services[i].name, strlen(g->services[i].name));
		f->services[i].count = g->services[i].count;
		f->services_count++;
	}
done:
	free(g);
	return rc;
}

static char *attrs_text(sonde_arena *arena, const sonde_attrs *a)
{
	sonde_buf b = SONDE_BUF_INIT;
	for (uint32_t i = 0; i < a->count; i++) {
		const sonde_kv *kv = &a->items[i];
		char num[64];
		const char *v = num;
		size_t vn;
		switch (kv->value.kind) {
		case SONDE_VAL_STRING:
			v = kv->value.u.str.ptr;
			vn = kv->value.u.str.len;
			break;
		case SONDE_VAL_INT:
			vn = (size_t)snprintf(num, sizeof num, "%lld", (long long)kv->value.u.i);
			break;
		case SONDE_VAL_DOUBLE: vn = (size_t)snprintf(num, sizeof num, "%g", kv->value.u.d); break;
		case SONDE_VAL_BOOL:
			vn = (size_t)snprintf(num, sizeof num, "%s", kv->value.u.b ? "true" : "false");
			break;
		default: vn = (size_t)snprintf(num, sizeof num, "..."); break;
		}
		if (i)
			sonde_buf_append(&b, ", ", 2);
		sonde_buf_append(&b, kv->key.ptr, kv->key.len);
		sonde_buf_append(&b, "=", 1);
		sonde_buf_append(&b, v, vn);
	}
	char *out = sonde_arena_strndup(arena, b.len ? b.data : "", b.len);
	sonde_buf_release(&b);
	return out;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int by_start(const void *a, const void *b)
{
	const sonde_anomaly_found *x = a, *y = b;
	if (x->window.start_ns != y->window.start_ns)
		return x->window.start_ns < y->window.start_ns ? -1 : 1;
	return strcmp(x->metric, y->metric);
}

static bool same_series(const sonde_metric_data *a, const sonde_metric_data *b)
{
	return a->resource == b->resource && a->name.len == b->name.len &&
	       !memcmp(a->name.ptr, b->name.ptr, a->name.len) && a->points_count && b->points_count &&
	       sonde_attrs_equal(&a->points[0].attrs, &b->points[0].attrs);
}

/* Adds the anomalies of one series (metrics[first..last)) to out. */
static int one_series(sonde_store *s, const sonde_batch *b, size_t first, size_t last,
                      const sonde_anomaly_find_opts *o, sonde_anomaly_report *out, size_t *cap)
{
	size_t n = 0;
	for (size_t i = first; i < last; i++)
		n += b->metrics[i].points_count;
	uint64_t *t = malloc((n ? n : 1) * sizeof *t);
	double *v = malloc((n ? n : 1) * sizeof *v);
	double *sc = malloc((n ? n : 1) * sizeof *sc);
	sonde_anomaly_point *dp = malloc((n ? n : 1) * sizeof *dp);
	sonde_anomaly_window *w = malloc(MAX_WINDOWS_PER_SERIES * sizeof *w);
	int rc = -ENOMEM;
	if (!t || !v || !sc || !dp || !w)
		goto done;
	size_t k = 0;
	for (size_t i = first; i < last; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		for (uint32_t j = 0; j < m->points_count; j++) {
			const sonde_point *p = &m->points[j];
			if (p->u.number.kind == SONDE_NUM_NONE)
				continue;
			t[k] = p->time_ns;
			v[k] = p->u.number.kind == SONDE_NUM_INT ? (double)p->u.number.v.i : p->u.number.v.d;
			k++;
		}
	}
	n = k;
	out->series++;
	out->points += n;
	if ((rc = sonde_anomaly_score_series(t, v, n, sc, dp)) < 0)
		goto done;
	uint64_t gap = o->merge_gap_ns;
	if (!gap && n > 1) {
		uint64_t *d = malloc((n - 1) * sizeof *d);
		if (!d) {
			rc = -ENOMEM;
			goto done;
		}
		for (size_t i = 1; i < n; i++)
			d[i - 1] = t[i] - t[i - 1];
		qsort(d, n - 1, sizeof *d, cmp_u64);
		gap = 10 * d[(n - 1) / 2];
		free(d);
	}
	double threshold = o->threshold > 0 ? o->threshold : SONDE_ANOMALY_THRESHOLD;
	size_t nw = sonde_anomaly_windows(t, v, sc, dp, n, threshold, gap, w, MAX_WINDOWS_PER_SERIES);
	if (nw > MAX_WINDOWS_PER_SERIES)
		nw = MAX_WINDOWS_PER_SERIES;
	const sonde_metric_data *m = &b->metrics[first];
	const char *metric = sonde_arena_strndup(&out->arena, m->name.ptr, m->name.len);
	const char *svc = service_of(m->resource);
	const char *service = sonde_arena_strndup(&out->arena, svc, strlen(svc));
	const char *attrs = m->points_count ? attrs_text(&out->arena, &m->points[0].attrs) : "";
	if (!metric || !service || !attrs)
		goto done;
	uint64_t ctx = o->context_ns ? o->context_ns : 300000000000ull;
	for (size_t i = 0; i < nw; i++) {
		if (out->count == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			sonde_anomaly_found *items = realloc(out->items, nc * sizeof *items);
			if (!items) {
				rc = -ENOMEM;
				goto done;
			}
			out->items = items;
			*cap = nc;
		}
		sonde_anomaly_found *f = &out->items[out->count];
		memset(f, 0, sizeof *f);
		f->metric = metric;
		f->service = service;
		f->attrs = attrs;
		f->window = w[i];
		f->context_since_ns = w[i].start_ns > ctx ? w[i].start_ns - ctx : 0;
		f->context_until_ns = w[i].end_ns + ctx + 1;
		if ((rc = gather_context(s, f, &out->arena)) < 0)
			goto done;
		out->count++;
	}
	rc = 0;
done:
	free(t);
	free(v);
	free(sc);
	free(dp);
	free(w);
	return rc;
}

ssize_t sonde_anomaly_find(sonde_store *s, const sonde_query *q, const sonde_anomaly_find_opts *o,
                           sonde_anomaly_report *out)
{
	static const sonde_anomaly_find_opts defaults;
	if (!o)
		o = &defaults;
	memset(out, 0, sizeof *out);
	sonde_arena_init(&out->arena);
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return -ENOMEM;
	sonde_query pq = *q;
	pq.operation = NULL;
	pq.limit = 0;
	pq.sort = SONDE_SORT_DEFAULT;
	ssize_t rc = sonde_store_select_points(s, &pq, b);
	size_t cap = 0;
	for (size_t i = 0; rc >= 0 && i < b->metrics_count;) {
		size_t j = i + 1;
		while (j < b->metrics_count && same_series(&b->metrics[i], &b->metrics[j]))
			j++;
		const sonde_metric_data *m = &b->metrics[i];
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)m->name.len, m->name.ptr);
		/* Without a pattern, the telemetry pipeline's own metrics (OpenTelemetry SDKs'
		 * otel.sdk.*, libsonde's sonde.*) are left out: they describe the exporter, not
		 * the service. A pattern that names them selects them. */
		bool self = !strncmp(name, "otel.sdk.", 9) || !strncmp(name, "sonde.", 6);
		bool wanted = (m->type == SONDE_METRIC_GAUGE || m->type == SONDE_METRIC_SUM) &&
		              (o->metric_glob ? fnmatch(o->metric_glob, name, 0) == 0 : !self);
		if (wanted)
			rc = one_series(s, b, i, j, o, out, &cap);
		i = j;
	}
	sonde_batch_free(b);
	if (rc < 0)
		return rc;
	if (out->count > 1)
		qsort(out->items, out->count, sizeof *out->items, by_start);
	return (ssize_t)out->count;
}

void sonde_anomaly_report_release(sonde_anomaly_report *r)
{
	if (!r)
		return;
	free(r->items);
	sonde_arena_release(&r->arena);
	memset(r, 0, sizeof *r);
}
