/*
 * queries.c - database calls by normalised statement (see queries.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "queries.h"
#include "sql_norm.h"
#include "trace_tree.h"

void sonde_queries_init(sonde_queries *q)
{
	memset(q, 0, sizeof(*q));
	q->slow_ns = 100000000;
	q->nplus1_min = 5;
	q->slow_keep = 20;
	sonde_keymap_init(&q->keys);
	sonde_keymap_init(&q->triples);
}

void sonde_queries_release(sonde_queries *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->count; i++)
		sonde_latency_dist_release(&q->groups[i].dist);
	free(q->groups);
	free(q->slow);
	free(q->triple_counts);
	free(q->triple_groups);
	sonde_keymap_release(&q->keys);
	sonde_keymap_release(&q->triples);
	sonde_buf_release(&q->scratch);
	sonde_queries_init(q);
}

static int cmp_slow(const void *a, const void *b)
{
	const sonde_slow_call *x = a, *y = b;
	if (x->duration_ns != y->duration_ns)
		return x->duration_ns > y->duration_ns ? -1 : 1;
	return memcmp(x->span_id, y->span_id, 8);
}

static int keep_slow(sonde_queries *q, uint32_t g, const sonde_span_data *s, uint64_t dur)
{
	if (q->slow_keep == 0)
		return 0;
	size_t cap = 4 * q->slow_keep;
	if (!q->slow) {
		q->slow = malloc(cap * sizeof(*q->slow));
		if (!q->slow)
			return -ENOMEM;
	}
	if (q->slow_count == cap) {
		qsort(q->slow, q->slow_count, sizeof(*q->slow), cmp_slow);
		q->slow_count = q->slow_keep;
	}
	sonde_slow_call *c = &q->slow[q->slow_count++];
	c->group = g;
	memcpy(c->trace_id, s->trace_id, 16);
	memcpy(c->span_id, s->span_id, 8);
	c->start_ns = s->start_ns;
	c->duration_ns = dur;
	return 0;
}

/* Counts one more call of group g under the span's parent. */
static int count_triple(sonde_queries *q, uint32_t g, const sonde_span_data *s)
{
	if (sonde_id_is_zero(s->parent_span_id, 8))
		return 0;
	unsigned char key[28];
	memcpy(key, s->trace_id, 16);
	memcpy(key + 16, s->parent_span_id, 8);
	memcpy(key + 24, &g, 4);
	if (q->triples_n == q->triples_cap) {
		size_t cap = q->triples_cap ? q->triples_cap * 2 : 64;
		uint32_t *c = realloc(q->triple_counts, cap * sizeof(*c));
		if (!c)
			return -ENOMEM;
		q->triple_counts = c;
		uint32_t *gr = realloc(q->triple_groups, cap * sizeof(*gr));
		if (!gr)
			return -ENOMEM;
		q->triple_groups = gr;
		q->triples_cap = cap;
	}
	uint32_t t;
	int rc = sonde_keymap_upsert(&q->triples, key, sizeof(key), (uint32_t)q->triples_n, &t, NULL);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		q->triple_counts[q->triples_n] = 0;
		q->triple_groups[q->triples_n] = g;
		q->triples_n++;
	}
	q->triple_counts[t]++;
	return 0;
}

static const char *copy_str(sonde_queries *q, sonde_str s)
{
	return sonde_arena_strndup(&q->keys.arena, s.ptr, s.len);
}

int sonde_queries_add(sonde_queries *q, const sonde_span_data *s)
{
	q->spans_seen++;
	sonde_str stmt, sys;
	if (!sonde_span_db_statement(s, &stmt, &sys))
		return 0;
	q->db_spans++;
	sonde_buf_reset(&q->scratch);
	sonde_sql_normalize(stmt.ptr, stmt.len, &q->scratch);
	size_t stmt_len = q->scratch.len;
	sonde_buf_putc(&q->scratch, '\0');
	sonde_buf_append(&q->scratch, sys.ptr, sys.len);
	if (q->scratch.oom)
		return -ENOMEM;
	if (q->count == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		sonde_query_group *v = realloc(q->groups, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		q->groups = v;
		q->cap = cap;
	}
	uint32_t g;
	const char *key;
	int rc = sonde_keymap_upsert(&q->keys, q->scratch.data, q->scratch.len, (uint32_t)q->count, &g, &key);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		sonde_query_group *ng = &q->groups[q->count];
		memset(ng, 0, sizeof(*ng));
		ng->statement = key;
		ng->system = key + stmt_len + 1;
		ng->service = copy_str(q, sonde_span_service(s));
		if (!ng->service)
			ng->service = ""; /* out of memory: the group stands, unnamed */
		sonde_latency_dist_init(&ng->dist);
		q->count++;
	}
	sonde_query_group *gr = &q->groups[g];
	uint64_t dur = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
	if ((rc = sonde_latency_dist_add(&gr->dist, dur)) < 0)
		return rc;
	if (gr->count == 0 || dur > gr->max_ns) {
		gr->max_ns = dur;
		memcpy(gr->slowest_trace, s->trace_id, 16);
		memcpy(gr->slowest_span, s->span_id, 8);
	}
	gr->count++;
	gr->errors += sonde_span_is_error(s);
	gr->total_ns += dur;
	if (dur >= q->slow_ns) {
		gr->slow++;
		if ((rc = keep_slow(q, g, s, dur)) < 0)
			return rc;
	}
	return count_triple(q, g, s);
}

typedef struct order_key {
	uint64_t total;
	uint32_t idx;
} order_key;

static int cmp_order(const void *a, const void *b)
{
	const order_key *x = a, *y = b;
	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void sonde_queries_finish(sonde_queries *q)
{
	for (size_t t = 0; t < q->triples_n; t++) {
		sonde_query_group *g = &q->groups[q->triple_groups[t]];
		uint32_t c = q->triple_counts[t];
		if (c >= q->nplus1_min)
			g->nplus1_parents++;
		if (c > g->nplus1_max)
			g->nplus1_max = c;
	}
	for (size_t i = 0; i < q->count; i++) {
		sonde_query_group *g = &q->groups[i];
		g->mean_ns = g->count ? (double)g->total_ns / (double)g->count : 0;
		g->p95_ns = sonde_latency_dist_quantile(&g->dist, 0.95);
	}
	/* Sort groups by total time and renumber the slow calls' group indexes. */
	order_key *ord = malloc((q->count ? q->count : 1) * sizeof(*ord));
	sonde_query_group *sorted = malloc((q->count ? q->count : 1) * sizeof(*sorted));
	uint32_t *where = malloc((q->count ? q->count : 1) * sizeof(*where));
	if (ord && sorted && where) {
		for (size_t i = 0; i < q->count; i++)
			ord[i] = (order_key){q->groups[i].total_ns, (uint32_t)i};
		qsort(ord, q->count, sizeof(*ord), cmp_order);
		for (size_t i = 0; i < q->count; i++) {
			sorted[i] = q->groups[ord[i].idx];
			where[ord[i].idx] = (uint32_t)i;
		}
		memcpy(q->groups, sorted, q->count * sizeof(*sorted));
		for (size_t i = 0; i < q->slow_count; i++)
			q->slow[i].group = where[q->slow[i].group];
	}
	/* Out of memory only leaves the groups in first-seen order. */
	free(ord);
	free(sorted);
	free(where);
	if (q->slow_count) {
		qsort(q->slow, q->slow_count, sizeof(*q->slow), cmp_slow);
		if (q->slow_count > q->slow_keep)
			q->slow_count = q->slow_keep;
	}
}
