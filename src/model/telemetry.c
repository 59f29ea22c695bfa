/*
 * telemetry.c - the batch that owns telemetry records, and deep comparison of records
 * (see telemetry.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry.h"

/* Arena memory a cleared batch keeps for reuse. */
enum { BATCH_KEEP_BYTES = 256 << 20 };

sonde_batch *sonde_batch_new(void)
{
	sonde_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	sonde_arena_init(&b->arena);
	sonde_intern_init(&b->strings, &b->arena);
	return b;
}

void sonde_batch_clear(sonde_batch *b)
{
	sonde_intern_release(&b->strings);
	sonde_arena_reset(&b->arena, BATCH_KEEP_BYTES);
	sonde_intern_init(&b->strings, &b->arena);
	b->spans_count = b->logs_count = b->metrics_count = 0;
}

void sonde_batch_free(sonde_batch *b)
{
	if (!b)
		return;
	sonde_intern_release(&b->strings);
	sonde_arena_release(&b->arena);
	free(b->spans);
	free(b->logs);
	free(b->metrics);
	free(b);
}

void *sonde_batch_alloc(sonde_batch *b, size_t n)
{
	return sonde_arena_zalloc(&b->arena, n);
}

sonde_str sonde_batch_intern(sonde_batch *b, const char *s, size_t n)
{
	const char *p = sonde_intern_str(&b->strings, s, n);
	return (sonde_str){p, p ? n : 0};
}

sonde_str sonde_batch_strdup(sonde_batch *b, const char *s, size_t n)
{
	const char *p = sonde_arena_strndup(&b->arena, s, n);
	return (sonde_str){p, p ? n : 0};
}

static const sonde_str empty_str = {"", 0};

sonde_resource *sonde_batch_new_resource(sonde_batch *b)
{
	sonde_resource *r = sonde_batch_alloc(b, sizeof(*r));
	if (r)
		r->schema_url = empty_str;
	return r;
}

sonde_scope *sonde_batch_new_scope(sonde_batch *b)
{
	sonde_scope *s = sonde_batch_alloc(b, sizeof(*s));
	if (s) {
		s->name = s->version = s->schema_url = empty_str;
	}
	return s;
}

/* Grows a record array to hold one more element; returns 0 or -1. */
static int grow(void **arr, size_t *cap, size_t count, size_t elem)
{
	if (count < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 64;
	if (ncap > SIZE_MAX / elem)
		return -1;
	void *p = realloc(*arr, ncap * elem);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

sonde_span_data *sonde_batch_add_span(sonde_batch *b, const sonde_resource *res, const sonde_scope *scope)
{
	if (grow((void **)&b->spans, &b->spans_cap, b->spans_count, sizeof(sonde_span_data)) < 0)
		return NULL;
	sonde_span_data *s = &b->spans[b->spans_count++];
	memset(s, 0, sizeof(*s));
	s->resource = res;
	s->scope = scope;
	s->trace_state = s->name = s->status_message = empty_str;
	return s;
}

sonde_log_data *sonde_batch_add_log(sonde_batch *b, const sonde_resource *res, const sonde_scope *scope)
{
	if (grow((void **)&b->logs, &b->logs_cap, b->logs_count, sizeof(sonde_log_data)) < 0)
		return NULL;
	sonde_log_data *l = &b->logs[b->logs_count++];
	memset(l, 0, sizeof(*l));
	l->resource = res;
	l->scope = scope;
	l->severity_text = l->event_name = empty_str;
	return l;
}

sonde_metric_data *sonde_batch_add_metric(sonde_batch *b, const sonde_resource *res, const sonde_scope *scope)
{
	if (grow((void **)&b->metrics, &b->metrics_cap, b->metrics_count, sizeof(sonde_metric_data)) < 0)
		return NULL;
	sonde_metric_data *m = &b->metrics[b->metrics_count++];
	memset(m, 0, sizeof(*m));
	m->resource = res;
	m->scope = scope;
	m->name = m->description = m->unit = empty_str;
	return m;
}

const sonde_value *sonde_attrs_get(const sonde_attrs *attrs, const char *key)
{
	size_t n = strlen(key);
	for (uint32_t i = 0; i < attrs->count; i++) {
		const sonde_kv *kv = &attrs->items[i];
		if (kv->key.len == n && memcmp(kv->key.ptr, key, n) == 0)
			return &kv->value;
	}
	return NULL;
}

/* ---- Comparison ------------------------------------------------------------------ */

static bool str_eq(sonde_str a, sonde_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool dbl_eq(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	return memcmp(&a, &b, sizeof(a)) == 0 || a == b;
}

bool sonde_value_equal(const sonde_value *a, const sonde_value *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case SONDE_VAL_EMPTY: return true;
	case SONDE_VAL_STRING:
	case SONDE_VAL_BYTES: return str_eq(a->u.str, b->u.str);
	case SONDE_VAL_BOOL: return a->u.b == b->u.b;
	case SONDE_VAL_INT: return a->u.i == b->u.i;
	case SONDE_VAL_DOUBLE: return dbl_eq(a->u.d, b->u.d);
	case SONDE_VAL_ARRAY:
		if (a->u.array.count != b->u.array.count)
			return false;
		for (uint32_t i = 0; i < a->u.array.count; i++)
			if (!sonde_value_equal(&a->u.array.items[i], &b->u.array.items[i]))
				return false;
		return true;
	case SONDE_VAL_KVLIST: return sonde_attrs_equal(&a->u.kvlist, &b->u.kvlist);
	}
	return false;
}

bool sonde_attrs_equal(const sonde_attrs *a, const sonde_attrs *b)
{
	if (a->count != b->count)
		return false;
	for (uint32_t i = 0; i < a->count; i++) {
		if (!str_eq(a->items[i].key, b->items[i].key) ||
		    !sonde_value_equal(&a->items[i].value, &b->items[i].value))
			return false;
	}
	return true;
}

bool sonde_resource_equal(const sonde_resource *a, const sonde_resource *b)
{
	return sonde_attrs_equal(&a->attrs, &b->attrs) && a->dropped_attrs_count == b->dropped_attrs_count &&
	       str_eq(a->schema_url, b->schema_url);
}

bool sonde_scope_equal(const sonde_scope *a, const sonde_scope *b)
{
	return str_eq(a->name, b->name) && str_eq(a->version, b->version) &&
	       sonde_attrs_equal(&a->attrs, &b->attrs) && a->dropped_attrs_count == b->dropped_attrs_count &&
	       str_eq(a->schema_url, b->schema_url);
}

static bool event_eq(const sonde_span_event *a, const sonde_span_event *b)
{
	return a->time_ns == b->time_ns && str_eq(a->name, b->name) &&
	       sonde_attrs_equal(&a->attrs, &b->attrs) && a->dropped_attrs_count == b->dropped_attrs_count;
}

static bool link_eq(const sonde_span_link *a, const sonde_span_link *b)
{
	return !memcmp(a->trace_id, b->trace_id, 16) && !memcmp(a->span_id, b->span_id, 8) &&
	       str_eq(a->trace_state, b->trace_state) && sonde_attrs_equal(&a->attrs, &b->attrs) &&
	       a->dropped_attrs_count == b->dropped_attrs_count && a->flags == b->flags;
}

bool sonde_span_data_equal(const sonde_span_data *a, const sonde_span_data *b)
{
	if (memcmp(a->trace_id, b->trace_id, 16) || memcmp(a->span_id, b->span_id, 8) ||
	    memcmp(a->parent_span_id, b->parent_span_id, 8) || !str_eq(a->trace_state, b->trace_state) ||
	    a->flags != b->flags || !str_eq(a->name, b->name) || a->kind != b->kind ||
	    a->start_ns != b->start_ns || a->end_ns != b->end_ns ||
	    !sonde_attrs_equal(&a->attrs, &b->attrs) || a->dropped_attrs_count != b->dropped_attrs_count ||
	    a->events_count != b->events_count || a->dropped_events_count != b->dropped_events_count ||
	    a->links_count != b->links_count || a->dropped_links_count != b->dropped_links_count ||
	    a->status_code != b->status_code || !str_eq(a->status_message, b->status_message))
		return false;
	for (uint32_t i = 0; i < a->events_count; i++)
		if (!event_eq(&a->events[i], &b->events[i]))
			return false;
	for (uint32_t i = 0; i < a->links_count; i++)
		if (!link_eq(&a->links[i], &b->links[i]))
			return false;
	return sonde_resource_equal(a->resource, b->resource) && sonde_scope_equal(a->scope, b->scope);
}

bool sonde_log_data_equal(const sonde_log_data *a, const sonde_log_data *b)
{
	return a->time_ns == b->time_ns && a->observed_time_ns == b->observed_time_ns &&
	       a->severity_number == b->severity_number && str_eq(a->severity_text, b->severity_text) &&
	       sonde_value_equal(&a->body, &b->body) && sonde_attrs_equal(&a->attrs, &b->attrs) &&
	       a->dropped_attrs_count == b->dropped_attrs_count && a->flags == b->flags &&
	       !memcmp(a->trace_id, b->trace_id, 16) && !memcmp(a->span_id, b->span_id, 8) &&
	       str_eq(a->event_name, b->event_name) && sonde_resource_equal(a->resource, b->resource) &&
	       sonde_scope_equal(a->scope, b->scope);
}

static bool exemplar_eq(const sonde_exemplar *a, const sonde_exemplar *b)
{
	if (!sonde_attrs_equal(&a->filtered_attrs, &b->filtered_attrs) || a->time_ns != b->time_ns ||
	    a->value_kind != b->value_kind || memcmp(a->span_id, b->span_id, 8) ||
	    memcmp(a->trace_id, b->trace_id, 16))
		return false;
	if (a->value_kind == SONDE_NUM_DOUBLE)
		return dbl_eq(a->value.d, b->value.d);
	if (a->value_kind == SONDE_NUM_INT)
		return a->value.i == b->value.i;
	return true;
}

static bool exp_buckets_eq(const sonde_exp_buckets *a, const sonde_exp_buckets *b)
{
	return a->offset == b->offset && a->count == b->count &&
	       (a->count == 0 || !memcmp(a->counts, b->counts, a->count * sizeof(uint64_t)));
}

static bool point_eq(sonde_metric_type type, const sonde_point *a, const sonde_point *b)
{
	if (!sonde_attrs_equal(&a->attrs, &b->attrs) || a->start_time_ns != b->start_time_ns ||
	    a->time_ns != b->time_ns || a->flags != b->flags || a->exemplars_count != b->exemplars_count)
		return false;
	for (uint32_t i = 0; i < a->exemplars_count; i++)
		if (!exemplar_eq(&a->exemplars[i], &b->exemplars[i]))
			return false;
	switch (type) {
	case SONDE_METRIC_NONE: return true;
	case SONDE_METRIC_GAUGE:
	case SONDE_METRIC_SUM:
		if (a->u.number.kind != b->u.number.kind)
			return false;
		if (a->u.number.kind == SONDE_NUM_DOUBLE)
			return dbl_eq(a->u.number.v.d, b->u.number.v.d);
		if (a->u.number.kind == SONDE_NUM_INT)
			return a->u.number.v.i == b->u.number.v.i;
		return true;
	case SONDE_METRIC_HISTOGRAM: {
		const __typeof__(a->u.hist) *x = &a->u.hist, *y = &b->u.hist;
		if (x->count != y->count || x->has_sum != y->has_sum || x->has_min != y->has_min ||
		    x->has_max != y->has_max || (x->has_sum && !dbl_eq(x->sum, y->sum)) ||
		    (x->has_min && !dbl_eq(x->min, y->min)) || (x->has_max && !dbl_eq(x->max, y->max)) ||
		    x->bucket_counts_count != y->bucket_counts_count || x->bounds_count != y->bounds_count)
			return false;
		for (uint32_t i = 0; i < x->bucket_counts_count; i++)
			if (x->bucket_counts[i] != y->bucket_counts[i])
				return false;
		for (uint32_t i = 0; i < x->bounds_count; i++)
			if (!dbl_eq(x->bounds[i], y->bounds[i]))
				return false;
		return true;
	}
	case SONDE_METRIC_EXP_HISTOGRAM: {
		const __typeof__(a->u.exp) *x = &a->u.exp, *y = &b->u.exp;
		return x->count == y->count && x->has_sum == y->has_sum && x->has_min == y->has_min &&
		       x->has_max == y->has_max && (!x->has_sum || dbl_eq(x->sum, y->sum)) &&
		       (!x->has_min || dbl_eq(x->min, y->min)) && (!x->has_max || dbl_eq(x->max, y->max)) &&
		       x->scale == y->scale && x->zero_count == y->zero_count &&
		       dbl_eq(x->zero_threshold, y->zero_threshold) &&
		       exp_buckets_eq(&x->positive, &y->positive) &&
		       exp_buckets_eq(&x->negative, &y->negative);
	}
	case SONDE_METRIC_SUMMARY: {
		const __typeof__(a->u.summary) *x = &a->u.summary, *y = &b->u.summary;
		if (x->count != y->count || !dbl_eq(x->sum, y->sum) ||
		    x->quantiles_count != y->quantiles_count)
			return false;
		for (uint32_t i = 0; i < x->quantiles_count; i++)
			if (!dbl_eq(x->quantiles[i].quantile, y->quantiles[i].quantile) ||
			    !dbl_eq(x->quantiles[i].value, y->quantiles[i].value))
				return false;
		return true;
	}
	}
	return false;
}

bool sonde_metric_data_equal(const sonde_metric_data *a, const sonde_metric_data *b)
{
	if (!str_eq(a->name, b->name) || !str_eq(a->description, b->description) ||
	    !str_eq(a->unit, b->unit) || !sonde_attrs_equal(&a->metadata, &b->metadata) ||
	    a->type != b->type || a->points_count != b->points_count)
		return false;
	if ((a->type == SONDE_METRIC_SUM || a->type == SONDE_METRIC_HISTOGRAM ||
	     a->type == SONDE_METRIC_EXP_HISTOGRAM) &&
	    a->temporality != b->temporality)
		return false;
	if (a->type == SONDE_METRIC_SUM && a->is_monotonic != b->is_monotonic)
		return false;
	for (uint32_t i = 0; i < a->points_count; i++)
		if (!point_eq(a->type, &a->points[i], &b->points[i]))
			return false;
	return sonde_resource_equal(a->resource, b->resource) && sonde_scope_equal(a->scope, b->scope);
}

/* Group boundaries: record i starts a new resource (scope) group when its resource
 * (scope) object differs from record i-1's. Both batches must agree. */
#define GROUP_CHECK(arr, i, what)                                                                       \
	do {                                                                                            \
		bool ra = (i) == 0 || a->arr[i].resource != a->arr[(i)-1].resource;                     \
		bool rb = (i) == 0 || b->arr[i].resource != b->arr[(i)-1].resource;                     \
		bool sa = (i) == 0 || a->arr[i].scope != a->arr[(i)-1].scope;                           \
		bool sb = (i) == 0 || b->arr[i].scope != b->arr[(i)-1].scope;                           \
		if (ra != rb || sa != sb) {                                                             \
			if (why)                                                                        \
				snprintf(why, why_len, "%s %zu: resource/scope grouping differs", what, \
				         (size_t)(i));                                                  \
			return false;                                                                   \
		}                                                                                       \
	} while (0)

bool sonde_batch_equal(const sonde_batch *a, const sonde_batch *b, char *why, size_t why_len)
{
	if (a->spans_count != b->spans_count || a->logs_count != b->logs_count ||
	    a->metrics_count != b->metrics_count) {
		if (why)
			snprintf(why, why_len,
			         "record counts differ: %zu/%zu/%zu spans/logs/metrics vs %zu/%zu/%zu",
			         a->spans_count, a->logs_count, a->metrics_count, b->spans_count,
			         b->logs_count, b->metrics_count);
		return false;
	}
	for (size_t i = 0; i < a->spans_count; i++) {
		GROUP_CHECK(spans, i, "span");
		if (!sonde_span_data_equal(&a->spans[i], &b->spans[i])) {
			if (why)
				snprintf(why, why_len, "span %zu (%s) differs", i, a->spans[i].name.ptr);
			return false;
		}
	}
	for (size_t i = 0; i < a->logs_count; i++) {
		GROUP_CHECK(logs, i, "log");
		if (!sonde_log_data_equal(&a->logs[i], &b->logs[i])) {
			if (why)
				snprintf(why, why_len, "log record %zu differs", i);
			return false;
		}
	}
	for (size_t i = 0; i < a->metrics_count; i++) {
		GROUP_CHECK(metrics, i, "metric");
		if (!sonde_metric_data_equal(&a->metrics[i], &b->metrics[i])) {
			if (why)
				snprintf(why, why_len, "metric %zu (%s) differs", i, a->metrics[i].name.ptr);
			return false;
		}
	}
	return true;
}
