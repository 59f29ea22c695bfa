/*
 * selector.c - selections of stored telemetry for compare and canary (see selector.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ingest.h"
#include "selector.h"
#include "sonde/status.h"

bool sonde_selection_version_ok(const char *want, const char *v, size_t n)
{
	if (!want)
		return true;
	size_t w = strlen(want);
	if (n < w || memcmp(v, want, w) != 0)
		return false;
	return n == w || v[w] == '.';
}

static const sonde_value *version_of(const sonde_attrs *a)
{
	const sonde_value *v = a ? sonde_attrs_get(a, "service.version") : NULL;
	return v && v->kind == SONDE_VAL_STRING ? v : NULL;
}

bool sonde_selection_match(const sonde_selection *s, const sonde_resource *res, const sonde_attrs *attrs)
{
	if (!s->version)
		return true;
	const sonde_value *v = res ? version_of(&res->attrs) : NULL;
	if (!v)
		v = version_of(attrs);
	return v && sonde_selection_version_ok(s->version, v->u.str.ptr, v->u.str.len);
}

void sonde_selection_query(const sonde_selection *s, sonde_query *q)
{
	memset(q, 0, sizeof(*q));
	q->since_ns = s->since_ns;
	q->until_ns = s->until_ns;
	q->service = s->service;
}

typedef struct filter_ctx {
	const sonde_selection *s;
	sonde_span_fn span_fn;
	sonde_point_fn point_fn;
	void *ctx;
} filter_ctx;

static int span_filter(void *ctx, const sonde_span_data *sp)
{
	filter_ctx *f = ctx;
	if (!sonde_selection_match(f->s, sp->resource, &sp->attrs))
		return 0;
	return f->span_fn(f->ctx, sp);
}

static int point_filter(void *ctx, const sonde_metric_data *m)
{
	filter_ctx *f = ctx;
	if (!sonde_selection_match(f->s, m->resource, NULL))
		return 0;
	return f->point_fn(f->ctx, m);
}

int sonde_selection_scan_spans(const sonde_selection *s, unsigned fields, sonde_span_fn fn, void *ctx)
{
	sonde_query q;
	sonde_selection_query(s, &q);
	filter_ctx f = {.s = s, .span_fn = fn, .ctx = ctx};
	return sonde_store_scan_spans(s->store, &q, fields, span_filter, &f);
}

int sonde_selection_scan_points(const sonde_selection *s, sonde_point_fn fn, void *ctx)
{
	sonde_query q;
	sonde_selection_query(s, &q);
	filter_ctx f = {.s = s, .point_fn = fn, .ctx = ctx};
	return sonde_store_scan_points(s->store, &q, point_filter, &f);
}

int sonde_selection_collect(const sonde_selection *s, sonde_batch *out)
{
	sonde_query q;
	sonde_selection_query(s, &q);
	size_t sp0 = out->spans_count, lg0 = out->logs_count, mt0 = out->metrics_count;
	ssize_t n = sonde_store_select_spans(s->store, &q, SONDE_FIELDS_ALL, out);
	if (n >= 0)
		n = sonde_store_select_logs(s->store, &q, out);
	if (n >= 0)
		n = sonde_store_select_points(s->store, &q, out);
	if (n < 0)
		return (int)n;
	if (!s->version)
		return 0;
	/* Keep what passes the version condition, in place and in order. */
	size_t k = sp0;
	for (size_t i = sp0; i < out->spans_count; i++)
		if (sonde_selection_match(s, out->spans[i].resource, &out->spans[i].attrs))
			out->spans[k++] = out->spans[i];
	out->spans_count = k;
	k = lg0;
	for (size_t i = lg0; i < out->logs_count; i++)
		if (sonde_selection_match(s, out->logs[i].resource, NULL))
			out->logs[k++] = out->logs[i];
	out->logs_count = k;
	k = mt0;
	for (size_t i = mt0; i < out->metrics_count; i++)
		if (sonde_selection_match(s, out->metrics[i].resource, NULL))
			out->metrics[k++] = out->metrics[i];
	out->metrics_count = k;
	return 0;
}

int sonde_selection_load_file(const char *path, sonde_store **out, char *errmsg, size_t errmsg_len)
{
	*out = NULL;
	sonde_store *st;
	char msg[512];
	int rc = sonde_store_open("sqlite::memory:", 0, &st, msg, sizeof(msg));
	if (rc < 0) {
		snprintf(errmsg, errmsg_len, "%s: cannot make a temporary store: %s", path, msg);
		return rc;
	}
	sonde_ingest_opts o = {.strict = true};
	sonde_ingest_stats stats;
	sonde_ingest_stats_init(&stats);
	rc = sonde_ingest_file(st, path, &o, &stats, NULL, errmsg, errmsg_len);
	if (rc == 0 && stats.appended.spans_added + stats.appended.spans_present + stats.appended.logs_added +
	                               stats.appended.points_added ==
	                       0) {
		snprintf(errmsg, errmsg_len, "%s: holds no spans, log records or metric points", path);
		rc = SONDE_EFORMAT;
	}
	sonde_ingest_stats_release(&stats);
	if (rc < 0) {
		sonde_store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}
