/*
 * store.c - the store's front door: picks the backend a URI names and forwards every
 * call of store.h to it through its ops (store_internal.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sonde/status.h"
#include "store_internal.h"

int sonde__store_fail(sonde_store *s, int rc, const char *fmt, ...)
{
	if (s) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static void set_msg(char *errmsg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(char *errmsg, size_t len, const char *fmt, ...)
{
	if (!errmsg || len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, len, fmt, ap);
	va_end(ap);
}

int sonde_store_open(const char *uri, unsigned flags, sonde_store **out, char *errmsg, size_t errmsg_len)
{
	*out = NULL;
	set_msg(errmsg, errmsg_len, "%s", "");
	if (!uri || !uri[0]) {
		set_msg(errmsg, errmsg_len, "the store location is empty");
		return -EINVAL;
	}
	const char *target = uri;
	if (strncmp(uri, "sqlite:", 7) == 0)
		target = uri + 7;
	else if (strncmp(uri, "file:", 5) == 0)
		target = uri + 5;
	else if (strncmp(uri, "clickhouse://", 13) == 0) {
		int rc = sonde__store_clickhouse_ops.open(uri + 13, flags, out, errmsg, errmsg_len);
		if (rc == 0)
			(*out)->ops = &sonde__store_clickhouse_ops;
		return rc;
	} else if (strstr(uri, "://")) {
		set_msg(errmsg, errmsg_len,
		        "%s: unknown store scheme; use a file path (SQLite) or clickhouse://", uri);
		return SONDE_EUNSUPPORTED;
	}
	if (!target[0]) {
		set_msg(errmsg, errmsg_len, "%s: no path after the scheme", uri);
		return -EINVAL;
	}
	int rc = sonde__store_sqlite_ops.open(target, flags, out, errmsg, errmsg_len);
	if (rc == 0)
		(*out)->ops = &sonde__store_sqlite_ops;
	return rc;
}

void sonde_store_close(sonde_store *s)
{
	if (s)
		s->ops->close(s);
}

const char *sonde_store_backend(const sonde_store *s)
{
	return s->ops->name;
}

const char *sonde_store_errmsg(const sonde_store *s)
{
	return s ? s->errmsg : "";
}

int sonde_store_append(sonde_store *s, const sonde_batch *b, const sonde_append_opts *opts,
                       sonde_append_stats *stats)
{
	s->errmsg[0] = '\0';
	return s->ops->append(s, b, opts, stats);
}

ssize_t sonde_store_get_trace(sonde_store *s, const uint8_t trace_id[16], bool with_logs, sonde_batch *out)
{
	s->errmsg[0] = '\0';
	return s->ops->get_trace(s, trace_id, with_logs, out);
}

ssize_t sonde_store_find_traces(sonde_store *s, const sonde_query *q, sonde_trace_list *out)
{
	memset(out, 0, sizeof *out);
	sonde_arena_init(&out->arena);
	s->errmsg[0] = '\0';
	return s->ops->find_traces(s, q, out);
}

void sonde_trace_list_release(sonde_trace_list *l)
{
	if (!l)
		return;
	free(l->items);
	sonde_arena_release(&l->arena);
	l->items = NULL;
	l->count = 0;
}

ssize_t sonde_store_select_spans(sonde_store *s, const sonde_query *q, unsigned fields, sonde_batch *out)
{
	s->errmsg[0] = '\0';
	return s->ops->select_spans(s, q, fields, out);
}

int sonde_store_scan_spans(sonde_store *s, const sonde_query *q, unsigned fields, sonde_span_fn fn, void *ctx)
{
	s->errmsg[0] = '\0';
	return s->ops->scan_spans(s, q, fields, fn, ctx);
}

/* Only a backend that keeps templates can filter by them. */
static int template_filter_ok(sonde_store *s, const sonde_query *q)
{
	if (q && q->template_id && !s->ops->scan_templates)
		return sonde__store_fail(s, SONDE_EUNSUPPORTED, "the %s backend keeps no log templates",
		                         s->ops->name);
	return 0;
}

ssize_t sonde_store_select_logs(sonde_store *s, const sonde_query *q, sonde_batch *out)
{
	s->errmsg[0] = '\0';
	int rc = template_filter_ok(s, q);
	return rc < 0 ? rc : s->ops->select_logs(s, q, out);
}

int sonde_store_scan_logs(sonde_store *s, const sonde_query *q, sonde_log_fn fn, void *ctx)
{
	s->errmsg[0] = '\0';
	int rc = template_filter_ok(s, q);
	return rc < 0 ? rc : s->ops->scan_logs(s, q, fn, ctx);
}

int sonde_store_scan_templates(sonde_store *s, sonde_template_fn fn, void *ctx)
{
	s->errmsg[0] = '\0';
	if (!s->ops->scan_templates)
		return sonde__store_fail(s, SONDE_EUNSUPPORTED, "the %s backend keeps no log templates",
		                         s->ops->name);
	return s->ops->scan_templates(s, fn, ctx);
}

ssize_t sonde_store_select_points(sonde_store *s, const sonde_query *q, sonde_batch *out)
{
	s->errmsg[0] = '\0';
	return s->ops->select_points(s, q, out);
}

int sonde_store_scan_points(sonde_store *s, const sonde_query *q, sonde_point_fn fn, void *ctx)
{
	s->errmsg[0] = '\0';
	return s->ops->scan_points(s, q, fn, ctx);
}

ssize_t sonde_store_aggregate_spans(sonde_store *s, const sonde_query *q, const sonde_agg_key *keys,
                                    size_t keys_count, sonde_agg_value_fn on_value, void *ctx,
                                    sonde_agg_result *out)
{
	memset(out, 0, sizeof *out);
	sonde_arena_init(&out->arena);
	s->errmsg[0] = '\0';
	if (keys_count > SONDE_AGG_MAX_KEYS)
		return sonde__store_fail(s, -EINVAL, "at most %d aggregation keys", SONDE_AGG_MAX_KEYS);
	for (size_t i = 0; i < keys_count; i++)
		if ((keys[i].kind == SONDE_KEY_ATTR || keys[i].kind == SONDE_KEY_ATTR_ANY) &&
		    (!keys[i].attr || !keys[i].attr[0]))
			return sonde__store_fail(s, -EINVAL, "an attribute key needs an attribute name");
	return s->ops->aggregate_spans(s, q, keys, keys_count, on_value, ctx, out);
}

void sonde_agg_result_release(sonde_agg_result *r)
{
	if (!r)
		return;
	free(r->groups);
	sonde_arena_release(&r->arena);
	r->groups = NULL;
	r->count = 0;
}

int sonde_store_info_get(sonde_store *s, sonde_store_info *out)
{
	memset(out, 0, sizeof *out);
	s->errmsg[0] = '\0';
	return s->ops->info(s, out);
}

int sonde_store_prune(sonde_store *s, uint64_t before_ns, bool vacuum, sonde_prune_stats *stats)
{
	sonde_prune_stats dummy;
	memset(stats ? stats : &dummy, 0, sizeof dummy);
	s->errmsg[0] = '\0';
	return s->ops->prune(s, before_ns, vacuum, stats ? stats : &dummy);
}
