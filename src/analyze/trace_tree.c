/*
 * trace_tree.c - the span tree of one trace and its critical path (see trace_tree.h for
 * the definitions).
 *
 * Design notes. Everything is done in passes over flat arrays, never by recursion, so the
 * depth of a trace costs nothing on the C stack:
 *   1. an open-addressing table maps span ids to node indexes;
 *   2. each node gets its parent (parent_span_id, else a link into the trace) and the
 *      relation to it; parent chains that loop are cut;
 *   3. one (radix) sort of all nodes by start time fills every child list in order;
 *   4. an explicit stack gives the depth-first order, in which parents precede children,
 *      so one forward pass clips each child to its parent's clipped interval;
 *   5. two stable radix sorts of the critical-path nodes, by end descending and then by
 *      parent, give each span its children in the order the walk wants them (ties in
 *      start order); because the bound a span is revisited with only decreases, a
 *      cursor per span finds the next child in amortised O(1);
 *   6. the walk itself is a loop over (current span, bound).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hash.h"
#include "hex.h"
#include "keymap.h"
#include "sql_norm.h"
#include "trace_tree.h"

#define NONE SONDE_TNODE_NONE

typedef struct tree_priv {
	uint32_t *idmap; /* (index + 1) per slot, 0 empty; capacity idmask + 1 */
	size_t idmask;
	sonde_keymap nplus1_keys; /* keys of the last sonde_trace_nplus1() call */
} tree_priv;

static uint64_t id_key(const uint8_t id[8])
{
	uint64_t k;
	memcpy(&k, id, 8);
	return k;
}

static uint32_t id_find(const sonde_trace_tree *t, const uint8_t id[8])
{
	const tree_priv *p = t->priv;
	uint64_t k = id_key(id);
	if (k == 0)
		return NONE;
	for (size_t i = sonde_hash_u64(k) & p->idmask;; i = (i + 1) & p->idmask) {
		uint32_t v = p->idmap[i];
		if (v == 0)
			return NONE;
		if (id_key(t->nodes[v - 1].span->span_id) == k)
			return v - 1;
	}
}

/* Adds node i under its span id unless the id is zero or taken. Returns false for a
 * duplicate. */
static bool id_add(sonde_trace_tree *t, uint32_t i)
{
	tree_priv *p = t->priv;
	uint64_t k = id_key(t->nodes[i].span->span_id);
	if (k == 0)
		return true;
	size_t j = sonde_hash_u64(k) & p->idmask;
	for (; p->idmap[j]; j = (j + 1) & p->idmask)
		if (id_key(t->nodes[p->idmap[j] - 1].span->span_id) == k)
			return false;
	p->idmap[j] = i + 1;
	return true;
}

sonde_str sonde_span_service(const sonde_span_data *s)
{
	if (s->resource) {
		const sonde_value *v = sonde_attrs_get(&s->resource->attrs, "service.name");
		if (v && v->kind == SONDE_VAL_STRING)
			return v->u.str;
	}
	return SONDE_STR_LIT("");
}

bool sonde_span_is_error(const sonde_span_data *s)
{
	return s->status_code == SONDE_STATUS_ERROR;
}

const sonde_span_event *sonde_span_exception(const sonde_span_data *s)
{
	for (uint32_t i = 0; i < s->events_count; i++)
		if (s->events[i].name.len == 9 && memcmp(s->events[i].name.ptr, "exception", 9) == 0)
			return &s->events[i];
	return NULL;
}

static bool same_trace(const sonde_span_data *a, const sonde_span_data *b)
{
	return memcmp(a->trace_id, b->trace_id, 16) == 0;
}

/* Step 2: the parent of node i and how it relates. */
static void find_parent(sonde_trace_tree *t, uint32_t i)
{
	sonde_tnode *nd = &t->nodes[i];
	const sonde_span_data *s = nd->span;
	nd->parent = NONE;
	nd->rel = SONDE_REL_ROOT;
	if (!sonde_id_is_zero(s->parent_span_id, 8)) {
		uint32_t p = id_find(t, s->parent_span_id);
		if (p != NONE && p != i && same_trace(t->nodes[p].span, s)) {
			nd->parent = p;
			bool async = t->nodes[p].span->kind == SONDE_SPAN_KIND_PRODUCER &&
			             s->kind == SONDE_SPAN_KIND_CONSUMER;
			nd->rel = async ? SONDE_REL_FOLLOWS : SONDE_REL_CHILD_OF;
			return;
		}
		nd->orphan = true;
	}
	for (uint32_t l = 0; l < s->links_count; l++) {
		const sonde_span_link *ln = &s->links[l];
		if (!sonde_id_is_zero(ln->trace_id, 16) && memcmp(ln->trace_id, s->trace_id, 16) != 0)
			continue;
		uint32_t p = id_find(t, ln->span_id);
		if (p != NONE && p != i && same_trace(t->nodes[p].span, s)) {
			nd->parent = p;
			nd->rel = SONDE_REL_FOLLOWS;
			return;
		}
	}
}

/* Cuts parent chains that loop: walking up from each node, a node met twice on the same
 * walk closes a cycle, and the link that closes it is dropped. state: 0 unseen, 1 on the
 * current walk, 2 done. path holds the current walk. */
static void break_cycles(sonde_trace_tree *t, uint8_t *state, uint32_t *path)
{
	for (uint32_t i = 0; i < t->count; i++) {
		size_t n = 0;
		uint32_t cur = i;
		while (cur != NONE && state[cur] == 0) {
			state[cur] = 1;
			path[n++] = cur;
			uint32_t p = t->nodes[cur].parent;
			if (p != NONE && state[p] == 1) {
				t->nodes[cur].parent = NONE;
				t->nodes[cur].rel = SONDE_REL_ROOT;
				t->nodes[cur].orphan = true;
				t->cycles_broken++;
				break;
			}
			cur = p;
		}
		while (n)
			state[path[--n]] = 2;
	}
}

/* A sort key and the node it belongs to. */
typedef struct rkey {
	uint64_t key;
	uint32_t idx;
} rkey;

/* Sorts v[0..n) by key, stably (equal keys keep their order), with a least-significant-
 * digit radix sort: 8 passes of 8 bits, skipping those in which every key has the same
 * digit (the high bits of timestamps). tmp has room for n keys. Linear time: a trace of
 * 100,000 spans sorts several times faster than with qsort(). Returns the sorted array,
 * which is v or tmp. */
static rkey *radix_sort(rkey *v, rkey *tmp, size_t n)
{
	for (int shift = 0; shift < 64; shift += 8) {
		size_t count[256] = {0};
		for (size_t i = 0; i < n; i++)
			count[(v[i].key >> shift) & 0xff]++;
		if (n == 0 || count[(v[0].key >> shift) & 0xff] == n)
			continue;
		size_t pos = 0;
		for (int d = 0; d < 256; d++) {
			size_t c = count[d];
			count[d] = pos;
			pos += c;
		}
		for (size_t i = 0; i < n; i++)
			tmp[count[(v[i].key >> shift) & 0xff]++] = v[i];
		rkey *sw = v;
		v = tmp;
		tmp = sw;
	}
	return v;
}

typedef struct cp_key {
	uint32_t parent;
	uint32_t idx;
	uint64_t end;
} cp_key;

typedef struct seg_vec {
	sonde_cp_segment *v;
	size_t n, cap;
} seg_vec;

static int seg_push(seg_vec *sv, uint32_t node, uint64_t start, uint64_t end)
{
	if (start == end)
		return 0;
	if (sv->n == sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 64;
		sonde_cp_segment *v = realloc(sv->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n++] = (sonde_cp_segment){node, start, end};
	return 0;
}

/* Step 5 and 6: the critical path over the clipped intervals cs/ce. by_start is every
 * node in start order. Each span's children on the path must come together, the last to
 * finish first and, among those that end together, the first to start: two stable sorts
 * of the start order, by end descending and then by parent, give exactly that. */
static int critical_path(sonde_trace_tree *t, const uint64_t *cs, const uint64_t *ce, const rkey *by_start)
{
	size_t n = t->count, m = 0;
	int rc = -ENOMEM;
	cp_key *keys = malloc((n ? n : 1) * sizeof(*keys));
	rkey *rk = malloc((n ? n : 1) * sizeof(*rk)), *rtmp = malloc((n ? n : 1) * sizeof(*rtmp));
	uint32_t *first = malloc((n ? n : 1) * sizeof(*first)); /* run start per node, in keys */
	uint32_t *left = calloc(n ? n : 1, sizeof(*left));      /* children left per node */
	seg_vec sv = {0};
	if (!keys || !rk || !rtmp || !first || !left)
		goto out;
	for (size_t k = 0; k < n; k++) {
		uint32_t i = by_start[k].idx;
		const sonde_tnode *nd = &t->nodes[i];
		if (nd->on_path && nd->parent != NONE)
			rk[m++] = (rkey){~ce[i], i};
	}
	rkey *sorted = radix_sort(rk, rtmp, m);
	for (size_t k = 0; k < m; k++)
		sorted[k].key = t->nodes[sorted[k].idx].parent;
	sorted = radix_sort(sorted, sorted == rk ? rtmp : rk, m);
	for (size_t k = 0; k < m; k++) {
		uint32_t i = sorted[k].idx;
		keys[k] = (cp_key){t->nodes[i].parent, i, ce[i]};
		if (left[keys[k].parent] == 0)
			first[keys[k].parent] = (uint32_t)k;
		left[keys[k].parent]++;
	}
	for (size_t r = 0; r < t->roots_count; r++) {
		uint32_t root = t->roots[r], cur = root;
		size_t mark = sv.n;
		bool bounded = false;
		uint64_t bound = 0;
		for (;;) {
			uint64_t limit = bounded ? bound : ce[cur];
			/* Children that end after the bound cannot come before it; since the bound
			 * only decreases, they never can again. */
			while (bounded && left[cur] && keys[first[cur]].end > bound) {
				first[cur]++;
				left[cur]--;
			}
			if (left[cur]) {
				const cp_key *lfc = &keys[first[cur]];
				first[cur]++; /* taken: never again, even when it ends at its own start */
				left[cur]--;
				if ((rc = seg_push(&sv, cur, lfc->end, limit)) < 0)
					goto out;
				cur = lfc->idx;
				bounded = false;
				continue;
			}
			if ((rc = seg_push(&sv, cur, cs[cur], limit)) < 0)
				goto out;
			if (cur == root)
				break;
			bound = cs[cur];
			bounded = true;
			cur = t->nodes[cur].parent;
		}
		/* The walk goes backwards in time: put this root's segments in time order. */
		for (size_t a = mark, b = sv.n; a + 1 < b; a++, b--) {
			sonde_cp_segment tmp = sv.v[a];
			sv.v[a] = sv.v[b - 1];
			sv.v[b - 1] = tmp;
		}
	}
	for (size_t k = 0; k < sv.n; k++) {
		uint64_t d = sv.v[k].end_ns - sv.v[k].start_ns;
		t->nodes[sv.v[k].node].cp_ns += d;
		t->cp_total_ns += d;
	}
	t->cp = sv.v;
	t->cp_count = sv.n;
	sv.v = NULL;
	rc = 0;
out:
	free(sv.v);
	free(keys);
	free(rk);
	free(rtmp);
	free(first);
	free(left);
	return rc;
}

/* Self time: the span's duration less the union of its child-of children's overlap with
 * it. Children are in start order, so one sweep merges their intervals. */
static void self_times(sonde_trace_tree *t)
{
	for (uint32_t i = 0; i < t->count; i++) {
		sonde_tnode *nd = &t->nodes[i];
		uint64_t s = nd->start_ns, e = nd->end_ns, covered = 0;
		uint64_t run_s = 0, run_e = 0;
		bool in_run = false;
		for (uint32_t k = 0; k < nd->child_count; k++) {
			const sonde_tnode *c = &t->nodes[t->children[nd->first_child + k]];
			if (c->rel != SONDE_REL_CHILD_OF)
				continue;
			uint64_t cs = c->start_ns > s ? c->start_ns : s, ce = c->end_ns < e ? c->end_ns : e;
			if (cs >= ce)
				continue;
			if (in_run && cs <= run_e) {
				if (ce > run_e)
					run_e = ce;
				continue;
			}
			if (in_run)
				covered += run_e - run_s;
			run_s = cs;
			run_e = ce;
			in_run = true;
		}
		if (in_run)
			covered += run_e - run_s;
		nd->self_ns = (e - s) - covered;
	}
}

int sonde_trace_tree_build(const sonde_span_data *spans, size_t n, sonde_trace_tree **out)
{
	if (n >= UINT32_MAX)
		return -EINVAL;
	int rc = -ENOMEM;
	sonde_trace_tree *t = calloc(1, sizeof(*t));
	tree_priv *p = calloc(1, sizeof(*p));
	size_t alloc_n = n ? n : 1;
	rkey *order = malloc(alloc_n * sizeof(*order)), *order_tmp = malloc(alloc_n * sizeof(*order_tmp));
	uint32_t *scratch = malloc(alloc_n * sizeof(*scratch));
	uint8_t *state = calloc(alloc_n, 1);
	uint64_t *cs = malloc(alloc_n * sizeof(*cs)), *ce = malloc(alloc_n * sizeof(*ce));
	if (!t || !p || !order || !order_tmp || !scratch || !state || !cs || !ce)
		goto fail;
	t->priv = p;
	sonde_keymap_init(&p->nplus1_keys);
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	p->idmask = cap - 1;
	p->idmap = calloc(cap, sizeof(*p->idmap));
	t->nodes = calloc(alloc_n, sizeof(*t->nodes));
	t->children = malloc(alloc_n * sizeof(*t->children));
	t->roots = malloc(alloc_n * sizeof(*t->roots));
	t->preorder = malloc(alloc_n * sizeof(*t->preorder));
	if (!p->idmap || !t->nodes || !t->children || !t->roots || !t->preorder)
		goto fail;
	t->count = n;

	/* Step 1: nodes and the id table. */
	for (uint32_t i = 0; i < n; i++) {
		sonde_tnode *nd = &t->nodes[i];
		nd->span = &spans[i];
		nd->service = sonde_span_service(&spans[i]);
		nd->start_ns = spans[i].start_ns;
		nd->end_ns = spans[i].end_ns > spans[i].start_ns ? spans[i].end_ns : spans[i].start_ns;
		if (!id_add(t, i))
			t->dup_ids++;
		if (i == 0 || nd->start_ns < t->start_ns)
			t->start_ns = nd->start_ns;
		if (i == 0 || nd->end_ns > t->end_ns)
			t->end_ns = nd->end_ns;
	}
	/* Step 2: parents. */
	for (uint32_t i = 0; i < n; i++)
		find_parent(t, i);
	break_cycles(t, state, scratch);

	/* Step 3: child lists and roots, in start order. */
	for (uint32_t i = 0; i < n; i++)
		order[i] = (rkey){t->nodes[i].start_ns, i};
	const rkey *by_start = radix_sort(order, order_tmp, n);
	for (uint32_t i = 0; i < n; i++)
		if (t->nodes[i].parent != NONE)
			t->nodes[t->nodes[i].parent].child_count++;
	uint32_t pos = 0;
	for (uint32_t i = 0; i < n; i++) {
		t->nodes[i].first_child = pos;
		pos += t->nodes[i].child_count;
		scratch[i] = t->nodes[i].first_child; /* fill cursor */
	}
	for (size_t k = 0; k < n; k++) {
		uint32_t i = by_start[k].idx;
		uint32_t par = t->nodes[i].parent;
		if (par == NONE)
			t->roots[t->roots_count++] = i;
		else
			t->children[scratch[par]++] = i;
	}

	/* Step 4: depth-first order with an explicit stack (scratch), then clipping. */
	size_t sp = 0, np = 0;
	for (size_t r = t->roots_count; r-- > 0;)
		scratch[sp++] = t->roots[r];
	while (sp) {
		uint32_t i = scratch[--sp];
		sonde_tnode *nd = &t->nodes[i];
		t->preorder[np++] = i;
		if (nd->parent != NONE)
			nd->depth = t->nodes[nd->parent].depth + 1;
		for (uint32_t k = nd->child_count; k-- > 0;)
			scratch[sp++] = t->children[nd->first_child + k];
	}
	for (size_t k = 0; k < np; k++) {
		uint32_t i = t->preorder[k];
		sonde_tnode *nd = &t->nodes[i];
		cs[i] = nd->start_ns;
		ce[i] = nd->end_ns;
		if (nd->parent == NONE) {
			nd->on_path = true;
			continue;
		}
		uint32_t par = nd->parent;
		if (nd->rel != SONDE_REL_CHILD_OF || !t->nodes[par].on_path)
			continue;
		uint64_t ps = cs[par], pe = ce[par];
		bool keep = cs[i] >= ps ? cs[i] < pe : ce[i] > ps;
		if (!keep)
			continue;
		nd->on_path = true;
		if (cs[i] < ps)
			cs[i] = ps;
		if (ce[i] > pe)
			ce[i] = pe;
	}
	self_times(t);
	if ((rc = critical_path(t, cs, ce, by_start)) < 0)
		goto fail;
	free(order);
	free(order_tmp);
	free(scratch);
	free(state);
	free(cs);
	free(ce);
	*out = t;
	return 0;
fail:
	free(order);
	free(order_tmp);
	free(scratch);
	free(state);
	free(cs);
	free(ce);
	if (t)
		t->priv = p;
	sonde_trace_tree_free(t);
	if (!t)
		free(p);
	return rc;
}

void sonde_trace_tree_free(sonde_trace_tree *t)
{
	if (!t)
		return;
	tree_priv *p = t->priv;
	if (p) {
		free(p->idmap);
		sonde_keymap_release(&p->nplus1_keys);
		free(p);
	}
	free(t->nodes);
	free(t->children);
	free(t->roots);
	free(t->preorder);
	free(t->cp);
	free(t);
}

uint32_t sonde_trace_slowest(const sonde_trace_tree *t, bool by_self)
{
	uint32_t best = NONE;
	uint64_t best_v = 0;
	for (uint32_t i = 0; i < t->count; i++) {
		const sonde_tnode *nd = &t->nodes[i];
		if (!by_self && nd->parent == NONE && t->count > 1)
			continue;
		uint64_t v = by_self ? nd->self_ns : nd->end_ns - nd->start_ns;
		if (best == NONE || v > best_v) {
			best = i;
			best_v = v;
		}
	}
	return best;
}

static int cmp_share(const void *a, const void *b)
{
	const sonde_cp_share *x = a, *y = b;
	if (x->cp_ns != y->cp_ns)
		return x->cp_ns > y->cp_ns ? -1 : 1;
	int c = strcmp(x->service.ptr, y->service.ptr);
	return c ? c : strcmp(x->operation.ptr, y->operation.ptr);
}

ssize_t sonde_trace_cp_shares(const sonde_trace_tree *t, bool by_operation, sonde_cp_share **out)
{
	sonde_keymap km;
	sonde_keymap_init(&km);
	sonde_buf key = SONDE_BUF_INIT;
	sonde_cp_share *v = NULL;
	size_t n = 0, cap = 0;
	for (uint32_t i = 0; i < t->count; i++) {
		const sonde_tnode *nd = &t->nodes[i];
		if (!nd->cp_ns)
			continue;
		sonde_buf_reset(&key);
		sonde_buf_append(&key, nd->service.ptr, nd->service.len);
		if (by_operation) {
			sonde_buf_putc(&key, '\0');
			sonde_buf_append(&key, nd->span->name.ptr, nd->span->name.len);
		}
		uint32_t g;
		int rc = key.oom ? -ENOMEM
		                 : sonde_keymap_upsert(&km, key.data, key.len, (uint32_t)n, &g, NULL);
		if (rc < 0)
			goto oom;
		if (rc == 1) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				sonde_cp_share *nv = realloc(v, cap * sizeof(*nv));
				if (!nv)
					goto oom;
				v = nv;
			}
			v[n++] = (sonde_cp_share){nd->service,
			                          by_operation ? nd->span->name : SONDE_STR_LIT(""), 0, 0, 0};
		}
		v[g].cp_ns += nd->cp_ns;
		v[g].spans++;
	}
	for (size_t k = 0; k < n; k++)
		v[k].share = t->cp_total_ns ? (double)v[k].cp_ns / (double)t->cp_total_ns : 0;
	if (n)
		qsort(v, n, sizeof(*v), cmp_share);
	sonde_keymap_release(&km);
	sonde_buf_release(&key);
	*out = v;
	return (ssize_t)n;
oom:
	sonde_keymap_release(&km);
	sonde_buf_release(&key);
	free(v);
	return -ENOMEM;
}

static int cmp_nplus1(const void *a, const void *b)
{
	const sonde_nplus1 *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->total_ns != y->total_ns)
		return x->total_ns > y->total_ns ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

ssize_t sonde_trace_nplus1(sonde_trace_tree *t, uint32_t min_count, sonde_nplus1 **out)
{
	tree_priv *p = t->priv;
	sonde_keymap_release(&p->nplus1_keys);
	sonde_keymap *km = &p->nplus1_keys;
	sonde_buf key = SONDE_BUF_INIT;
	sonde_nplus1 *v = NULL;
	size_t n = 0, cap = 0;
	if (min_count < 2)
		min_count = 2;
	for (uint32_t i = 0; i < t->count; i++) {
		const sonde_tnode *par = &t->nodes[i];
		if (par->child_count < min_count)
			continue;
		size_t group_base = n;
		for (uint32_t k = 0; k < par->child_count; k++) {
			uint32_t ci = t->children[par->first_child + k];
			const sonde_tnode *c = &t->nodes[ci];
			sonde_str stmt, sys;
			bool db = sonde_span_db_statement(c->span, &stmt, &sys);
			sonde_buf_reset(&key);
			sonde_buf_append(&key, &i, sizeof(i));
			sonde_buf_append(&key, c->service.ptr, c->service.len);
			sonde_buf_putc(&key, '\0');
			sonde_buf_append(&key, c->span->name.ptr, c->span->name.len);
			sonde_buf_putc(&key, '\0');
			size_t stmt_off = key.len;
			if (db)
				sonde_sql_normalize(stmt.ptr, stmt.len, &key);
			uint32_t g;
			const char *copy;
			int rc = key.oom ? -ENOMEM
			                 : sonde_keymap_upsert(km, key.data, key.len, (uint32_t)n, &g, &copy);
			if (rc < 0)
				goto oom;
			if (rc == 1) {
				if (n == cap) {
					cap = cap ? cap * 2 : 16;
					sonde_nplus1 *nv = realloc(v, cap * sizeof(*nv));
					if (!nv)
						goto oom;
					v = nv;
				}
				v[n++] = (sonde_nplus1){
				        i, ci, 0, 0, c->service, c->span->name, db ? copy + stmt_off : NULL};
			}
			v[g].count++;
			v[g].total_ns += c->end_ns - c->start_ns;
		}
		/* Keep only this parent's groups that repeat often enough. */
		size_t w = group_base;
		for (size_t g = group_base; g < n; g++)
			if (v[g].count >= min_count)
				v[w++] = v[g];
		/* Their keymap values now point past the array; the map is only used to group
		 * the children of one parent, whose key starts with its index, so stale values
		 * are never looked up again. */
		n = w;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_nplus1);
	sonde_buf_release(&key);
	*out = v;
	return (ssize_t)n;
oom:
	sonde_buf_release(&key);
	free(v);
	return -ENOMEM;
}
