/*
 * investigate.c - the store-backed investigations (see investigate.h): what each asks the
 * store, and how the answers feed the in-memory analyses.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "investigate.h"
#include "keymap.h"

/* ---- One trace --------------------------------------------------------------------- */

void sonde_trace_report_release(sonde_trace_report *r)
{
	if (!r)
		return;
	sonde_trace_tree_free(r->tree);
	sonde_batch_free(r->batch);
	sonde_batch_free(r->points);
	free(r->services);
	free(r->operations);
	free(r->nplus1);
	free(r->errors);
	memset(r, 0, sizeof(*r));
}

int sonde_trace_report_from_batch(sonde_batch *b, const sonde_trace_report_opts *o, sonde_trace_report *out)
{
	memset(out, 0, sizeof(*out));
	out->batch = b;
	int rc = sonde_trace_tree_build(b->spans, b->spans_count, &out->tree);
	if (rc < 0)
		return rc;
	sonde_trace_tree *t = out->tree;
	ssize_t n = sonde_trace_cp_shares(t, false, &out->services);
	if (n < 0)
		return (int)n;
	out->services_count = (size_t)n;
	if ((n = sonde_trace_cp_shares(t, true, &out->operations)) < 0)
		return (int)n;
	out->operations_count = (size_t)n;
	if ((n = sonde_trace_nplus1(t, o && o->nplus1_min ? o->nplus1_min : 5, &out->nplus1)) < 0)
		return (int)n;
	out->nplus1_count = (size_t)n;
	out->slowest = sonde_trace_slowest(t, false);
	out->slowest_self = sonde_trace_slowest(t, true);
	for (uint32_t i = 0; i < t->count; i++)
		out->errors_count += sonde_span_is_error(t->nodes[i].span);
	if (out->errors_count) {
		out->errors = malloc(out->errors_count * sizeof(*out->errors));
		if (!out->errors)
			return -ENOMEM;
		size_t k = 0;
		for (uint32_t i = 0; i < t->count; i++)
			if (sonde_span_is_error(t->nodes[i].span))
				out->errors[k++] = i;
	}
	return 0;
}

/* Metric points of each service of the trace (those on the critical path first), in the
 * trace's window widened by the margin. */
static int fetch_points(sonde_store *s, sonde_trace_report *r, const sonde_trace_report_opts *o)
{
	const sonde_trace_tree *t = r->tree;
	uint64_t margin = o ? o->metrics_margin_ns : 0;
	size_t max = o && o->max_points ? o->max_points : 500;
	r->points_since_ns = t->start_ns > margin ? t->start_ns - margin : 1;
	r->points_until_ns = t->end_ns + margin + 1;
	r->points = sonde_batch_new();
	if (!r->points)
		return -ENOMEM;
	sonde_keymap seen;
	sonde_keymap_init(&seen);
	int rc = 0;
	size_t got = 0;
	for (size_t k = 0; k < r->services_count + t->count && got < max && rc == 0; k++) {
		sonde_str svc = k < r->services_count ? r->services[k].service
		                                      : t->nodes[k - r->services_count].service;
		uint32_t v;
		if (!svc.len)
			continue;
		int added = sonde_keymap_upsert(&seen, svc.ptr, svc.len, 0, &v, NULL);
		if (added <= 0) {
			rc = added;
			continue;
		}
		sonde_query q = {.since_ns = r->points_since_ns,
		                 .until_ns = r->points_until_ns,
		                 .service = svc.ptr,
		                 .limit = max - got};
		ssize_t n = sonde_store_select_points(s, &q, r->points);
		if (n < 0)
			rc = (int)n;
		else
			got += (size_t)n;
	}
	sonde_keymap_release(&seen);
	return rc;
}

int sonde_trace_report_build(sonde_store *s, const uint8_t id[16], const sonde_trace_report_opts *o,
                             sonde_trace_report *out)
{
	memset(out, 0, sizeof(*out));
	sonde_batch *b = sonde_batch_new();
	if (!b)
		return -ENOMEM;
	ssize_t n = sonde_store_get_trace(s, id, true, b);
	if (n <= 0) {
		sonde_batch_free(b);
		return n == 0 ? -ENOENT : (int)n;
	}
	int rc = sonde_trace_report_from_batch(b, o, out);
	if (rc < 0)
		return rc;
	return fetch_points(s, out, o);
}

/* ---- Latency ------------------------------------------------------------------------- */

/* Maps the aggregation's group indexes to rows of a table as spans stream in. */
typedef struct lat_ctx {
	sonde_latency_table *t;
	sonde_agg_result *agg;
	int nkeys; /* 1: key only; 2: key and key2 */
	bool downstream;
	size_t *rows; /* group -> row */
	size_t n, cap;
	int err;
} lat_ctx;

/* The dependency a client span calls, from the downstream aggregation's key values:
 * peer.service, db.system, server.address. */
static const char *target_of(const sonde_agg_group *g)
{
	for (int k = 1; k < 4; k++)
		if (g->values[k] && g->values[k][0])
			return g->values[k];
	return "?";
}

static int lat_value(void *ctx, size_t group, uint64_t duration_ns, bool error)
{
	lat_ctx *c = ctx;
	while (group >= c->n) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			size_t *r = realloc(c->rows, cap * sizeof(*r));
			if (!r) {
				c->err = -ENOMEM;
				return 1;
			}
			c->rows = r;
			c->cap = cap;
		}
		const sonde_agg_group *g = &c->agg->groups[c->n];
		const char *k1 = g->values[0] ? g->values[0] : "";
		const char *k2 = c->downstream  ? target_of(g)
		                 : c->nkeys > 1 ? (g->values[1] ? g->values[1] : "")
		                                : NULL;
		ssize_t row = sonde_latency_table_row(c->t, k1, k2);
		if (row < 0) {
			c->err = (int)row;
			return 1;
		}
		c->rows[c->n++] = (size_t)row;
	}
	int rc = sonde_latency_table_add(c->t, c->rows[group], 0, duration_ns, error);
	if (rc < 0) {
		c->err = rc;
		return 1;
	}
	return 0;
}

/* Runs one aggregation into t, rows keyed by the first one or two keys (or, downstream,
 * by service and target). */
static int aggregate_into(sonde_store *s, const sonde_query *q, const sonde_agg_key *keys, size_t nkeys,
                          bool downstream, sonde_latency_table *t)
{
	sonde_agg_result agg;
	lat_ctx c = {.t = t, .agg = &agg, .nkeys = nkeys > 1 ? 2 : 1, .downstream = downstream};
	ssize_t n = sonde_store_aggregate_spans(s, q, keys, nkeys, lat_value, &c, &agg);
	int rc = n < 0 ? (c.err ? c.err : (int)n) : 0;
	/* The backend's window per group gives each row its first and last start. */
	for (size_t g = 0; rc == 0 && g < agg.count && g < c.n; g++) {
		sonde_latency_row *r = &t->rows[c.rows[g]];
		const sonde_agg_group *ag = &agg.groups[g];
		if (ag->first_start_ns && (r->first_ns == 0 || ag->first_start_ns < r->first_ns))
			r->first_ns = ag->first_start_ns;
		if (ag->last_start_ns > r->last_ns)
			r->last_ns = ag->last_start_ns;
	}
	sonde_agg_result_release(&agg);
	free(c.rows);
	return rc;
}

/* One pass for sonde_latency_run_all(): each group of the aggregation (service,
 * operation, and with downstream its kind and dependency, and by attribute its value)
 * maps to a row of ops, of main (by attribute) and, for client groups, of down. */
typedef struct lat1_ctx {
	sonde_agg_result *agg;
	sonde_latency_table *ops, *main, *down; /* main: by attribute only; down: may be NULL */
	size_t kkind, ktarget, kattr;           /* key indexes */
	struct lat1_map {
		size_t op, main, down; /* SIZE_MAX: none */
	} * map;
	size_t n, cap;
	int err;
} lat1_ctx;

static int lat1_map_group(lat1_ctx *c, size_t group)
{
	while (group >= c->n) {
		if (c->n == c->cap) {
			size_t cap = c->cap ? c->cap * 2 : 64;
			struct lat1_map *m = realloc(c->map, cap * sizeof(*m));
			if (!m)
				return -ENOMEM;
			c->map = m;
			c->cap = cap;
		}
		const sonde_agg_group *g = &c->agg->groups[c->n];
		struct lat1_map *m = &c->map[c->n];
		m->main = m->down = SIZE_MAX;
		ssize_t r = sonde_latency_table_row(c->ops, g->values[0], g->values[1]);
		if (r < 0)
			return (int)r;
		m->op = (size_t)r;
		if (c->main) {
			if ((r = sonde_latency_table_row(c->main, g->values[c->kattr], NULL)) < 0)
				return (int)r;
			m->main = (size_t)r;
		}
		if (c->down && strcmp(g->values[c->kkind], "client") == 0) {
			const char *target = g->values[c->ktarget][0] ? g->values[c->ktarget] : "?";
			if ((r = sonde_latency_table_row(c->down, g->values[0], target)) < 0)
				return (int)r;
			m->down = (size_t)r;
		}
		c->n++;
	}
	return 0;
}

static int lat1_value(void *ctx, size_t group, uint64_t duration_ns, bool error)
{
	lat1_ctx *c = ctx;
	int rc = lat1_map_group(c, group);
	const struct lat1_map *m = &c->map[group];
	if (rc == 0)
		rc = sonde_latency_table_add(c->ops, m->op, 0, duration_ns, error);
	if (rc == 0 && m->main != SIZE_MAX)
		rc = sonde_latency_table_add(c->main, m->main, 0, duration_ns, error);
	if (rc == 0 && m->down != SIZE_MAX)
		rc = sonde_latency_table_add(c->down, m->down, 0, duration_ns, error);
	if (rc < 0) {
		c->err = rc;
		return 1;
	}
	return 0;
}

/* Widens row's first and last start to the group's window. */
static void lat1_window(sonde_latency_table *t, size_t row, const sonde_agg_group *g)
{
	if (row == SIZE_MAX)
		return;
	sonde_latency_row *r = &t->rows[row];
	if (g->first_start_ns && (r->first_ns == 0 || g->first_start_ns < r->first_ns))
		r->first_ns = g->first_start_ns;
	if (g->last_start_ns > r->last_ns)
		r->last_ns = g->last_start_ns;
}

int sonde_latency_run_all(sonde_store *s, const sonde_query *q, sonde_latency_by by, const char *attr,
                          sonde_latency_table *main, sonde_latency_table *ops, sonde_latency_table *down)
{
	sonde_latency_table_init(main);
	sonde_latency_table_init(ops);
	if (down)
		sonde_latency_table_init(down);
	/* Client spans outside q's kinds: the downstream needs a pass of its own. */
	bool down_apart = down && q->kinds && !(q->kinds & (1u << SONDE_SPAN_KIND_CLIENT));
	sonde_agg_key keys[SONDE_AGG_MAX_KEYS] = {{SONDE_KEY_SERVICE, NULL, 0},
	                                          {SONDE_KEY_OPERATION, NULL, 0}};
	size_t nkeys = 2;
	lat1_ctx c = {.ops = ops,
	              .main = by == SONDE_LATENCY_BY_ATTR ? main : NULL,
	              .down = down && !down_apart ? down : NULL};
	if (c.down) {
		c.kkind = nkeys;
		keys[nkeys++] = (sonde_agg_key){SONDE_KEY_KIND, NULL, 0};
		c.ktarget = nkeys;
		keys[nkeys++] = (sonde_agg_key){SONDE_KEY_ATTR_ANY, "peer.service,db.system,server.address",
		                                1u << SONDE_SPAN_KIND_CLIENT};
	}
	if (c.main) {
		c.kattr = nkeys;
		keys[nkeys++] = (sonde_agg_key){SONDE_KEY_ATTR, attr, 0};
	}
	sonde_agg_result agg;
	c.agg = &agg;
	ssize_t n = sonde_store_aggregate_spans(s, q, keys, nkeys, lat1_value, &c, &agg);
	int rc = n < 0 ? (c.err ? c.err : (int)n) : 0;
	/* Rows also see groups that streamed no value (none do today, but map them all). */
	if (rc == 0 && agg.count)
		rc = lat1_map_group(&c, agg.count - 1);
	for (size_t g = 0; rc == 0 && g < agg.count; g++) {
		lat1_window(ops, c.map[g].op, &agg.groups[g]);
		if (c.main)
			lat1_window(main, c.map[g].main, &agg.groups[g]);
		if (c.down)
			lat1_window(down, c.map[g].down, &agg.groups[g]);
	}
	sonde_agg_result_release(&agg);
	free(c.map);
	if (rc == 0 && by != SONDE_LATENCY_BY_ATTR) {
		/* Per-service rows are the operations rolled up. */
		for (size_t i = 0; i < ops->count && rc == 0; i++) {
			const sonde_latency_row *src = &ops->rows[i];
			ssize_t r = sonde_latency_table_row(
			        main, src->key, by == SONDE_LATENCY_BY_OPERATION ? src->key2 : NULL);
			rc = r < 0 ? (int)r : sonde_latency_table_merge(main, (size_t)r, src);
		}
	}
	if (rc < 0)
		return rc;
	sonde_latency_table_finish(main, false);
	sonde_latency_table_finish(ops, true);
	if (down_apart)
		return sonde_latency_downstream(s, q, down);
	if (down)
		sonde_latency_table_finish(down, false);
	return 0;
}

int sonde_latency_run(sonde_store *s, const sonde_query *q, sonde_latency_by by, const char *attr,
                      sonde_latency_table *main, sonde_latency_table *ops)
{
	return sonde_latency_run_all(s, q, by, attr, main, ops, NULL);
}

int sonde_latency_downstream(sonde_store *s, const sonde_query *q, sonde_latency_table *out)
{
	sonde_latency_table_init(out);
	static const sonde_agg_key keys[] = {
	        {SONDE_KEY_SERVICE, NULL, 0},
	        {SONDE_KEY_ATTR, "peer.service", 0},
	        {SONDE_KEY_ATTR, "db.system", 0},
	        {SONDE_KEY_ATTR, "server.address", 0},
	};
	sonde_query cq = *q;
	cq.kinds = 1u << SONDE_SPAN_KIND_CLIENT;
	int rc = aggregate_into(s, &cq, keys, 4, true, out);
	if (rc < 0)
		return rc;
	sonde_latency_table_finish(out, false);
	return 0;
}

/* ---- Database calls ----------------------------------------------------------------- */

typedef struct q_ctx {
	sonde_queries *acc;
	bool skip_old_key; /* second pass: spans with db.system were counted in the first */
} q_ctx;

static int query_span(void *ctx, const sonde_span_data *span)
{
	q_ctx *c = ctx;
	if (c->skip_old_key && sonde_attrs_get(&span->attrs, "db.system"))
		return 0;
	return sonde_queries_add(c->acc, span) < 0 ? -ENOMEM : 0;
}

int sonde_queries_run(sonde_store *s, const sonde_query *q, sonde_queries *acc)
{
	/* Database spans carry db.system (older semantic conventions) or db.system.name
	 * (newer); one scan per key, so the store can use its attribute filter. */
	static const char *const keys[] = {"db.system", "db.system.name"};
	sonde_attr_match *m = malloc((q->attrs_count + 1) * sizeof(*m));
	if (!m)
		return -ENOMEM;
	if (q->attrs_count)
		memcpy(m, q->attrs, q->attrs_count * sizeof(*m));
	int rc = 0;
	for (int k = 0; k < 2 && rc == 0; k++) {
		m[q->attrs_count] = (sonde_attr_match){keys[k], NULL};
		sonde_query dq = *q;
		dq.attrs = m;
		dq.attrs_count = q->attrs_count + 1;
		dq.sort = SONDE_SORT_DEFAULT;
		dq.limit = 0;
		q_ctx c = {acc, k == 1};
		rc = sonde_store_scan_spans(s, &dq, SONDE_FIELDS_ALL, query_span, &c);
	}
	free(m);
	if (rc < 0)
		return rc;
	sonde_queries_finish(acc);
	return 0;
}
