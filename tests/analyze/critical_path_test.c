/*
 * critical_path_test.c - the span tree and critical path of hand-built traces, each
 * expected result worked out by hand in the comment above its test, following the walk
 * described in trace_tree.h ("LFC" = the last-finishing child the walk takes; "bound" =
 * the start of the child it came back from).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_tree.h"

/* A trace under construction: spans are named by one letter, which is also their id. */
typedef struct tb {
	sonde_batch *b;
	sonde_resource *res[4];
	sonde_scope *scope;
} tb;

static const char *const services[] = {"frontend", "cart", "db", "queue"};

static void tb_init(tb *t)
{
	t->b = sonde_batch_new();
	assert_non_null(t->b);
	t->scope = sonde_batch_new_scope(t->b);
	for (int i = 0; i < 4; i++) {
		t->res[i] = sonde_batch_new_resource(t->b);
		sonde_kv *kv = sonde_batch_alloc(t->b, sizeof(*kv));
		kv->key = sonde_batch_intern(t->b, "service.name", 12);
		kv->value.kind = SONDE_VAL_STRING;
		kv->value.u.str = sonde_batch_intern(t->b, services[i], strlen(services[i]));
		t->res[i]->attrs = (sonde_attrs){kv, 1};
	}
}

static void set_id(uint8_t id[8], uint32_t v)
{
	memset(id, 0, 8);
	id[4] = (uint8_t)(v >> 24);
	id[5] = (uint8_t)(v >> 16);
	id[6] = (uint8_t)(v >> 8);
	id[7] = (uint8_t)v;
}

/* Adds span `id` under `parent` (0: root) in service svc; returns its index. */
static size_t add_full(tb *t, uint32_t id, uint32_t parent, uint64_t start, uint64_t end, int svc,
                       sonde_span_kind kind, const char *name)
{
	sonde_span_data *s = sonde_batch_add_span(t->b, t->res[svc], t->scope);
	assert_non_null(s);
	s->trace_id[15] = 7;
	set_id(s->span_id, id);
	if (parent)
		set_id(s->parent_span_id, parent);
	s->start_ns = start;
	s->end_ns = end;
	s->kind = kind;
	char nm[32];
	if (!name) {
		snprintf(nm, sizeof(nm), "op-%c", id < 128 ? (char)id : '#');
		name = nm;
	}
	s->name = sonde_batch_intern(t->b, name, strlen(name));
	return t->b->spans_count - 1;
}

static size_t add(tb *t, char id, char parent, uint64_t start, uint64_t end)
{
	return add_full(t, (uint32_t)id, (uint32_t)parent, start, end, 0, SONDE_SPAN_KIND_INTERNAL, NULL);
}

/* Adds a link from span index i to span id `to` in the same trace, with an attribute
 * like the one the Jaeger reader writes for FOLLOWS_FROM references. */
static void link_to(tb *t, size_t i, char to)
{
	sonde_span_data *s = &t->b->spans[i];
	s->links = sonde_batch_alloc(t->b, sizeof(sonde_span_link));
	s->links_count = 1;
	set_id(s->links[0].span_id, (uint32_t)to);
	memcpy(s->links[0].trace_id, s->trace_id, 16);
}

typedef struct seg {
	char id;
	uint64_t start, end;
} seg;

static char node_letter(const sonde_trace_tree *tr, uint32_t n)
{
	return (char)tr->nodes[n].span->span_id[7];
}

static uint32_t node_of(const sonde_trace_tree *tr, char id)
{
	for (uint32_t i = 0; i < tr->count; i++)
		if (tr->nodes[i].span->span_id[7] == (uint8_t)id && tr->nodes[i].span->span_id[6] == 0)
			return i;
	fail_msg("no span %c", id);
	return 0;
}

static void check_path(const sonde_trace_tree *tr, const seg *want, size_t n)
{
	char got[512] = "", exp[512] = "";
	size_t gl = 0, el = 0;
	for (size_t i = 0; i < tr->cp_count; i++)
		gl += (size_t)snprintf(
		        got + gl, sizeof(got) - gl, "%c[%llu,%llu] ", node_letter(tr, tr->cp[i].node),
		        (unsigned long long)tr->cp[i].start_ns, (unsigned long long)tr->cp[i].end_ns);
	for (size_t i = 0; i < n; i++)
		el += (size_t)snprintf(exp + el, sizeof(exp) - el, "%c[%llu,%llu] ", want[i].id,
		                       (unsigned long long)want[i].start, (unsigned long long)want[i].end);
	assert_string_equal(got, exp);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += want[i].end - want[i].start;
	assert_int_equal(tr->cp_total_ns, total);
}

static sonde_trace_tree *build(tb *t)
{
	sonde_trace_tree *tr = NULL;
	assert_int_equal(sonde_trace_tree_build(t->b->spans, t->b->spans_count, &tr), 0);
	assert_non_null(tr);
	return tr;
}

/*
 * A [100,200] with B [110,130] and C [150,180]:
 *   A, no bound: LFC C (ends 180)        -> A [180,200]; into C
 *   C has no children                    -> C [150,180]; back to A, bound 150
 *   A: B ends 130 <= 150, LFC B          -> A [130,150]; into B
 *   B has no children                    -> B [110,130]; back to A, bound 110
 *   A: nothing left                      -> A [100,110]; A is the root: done.
 * In time order: A[100,110] B[110,130] A[130,150] C[150,180] A[180,200], total 100.
 * Self times: A 100 - 20 - 30 = 50, B 20, C 30.
 */
static void test_two_sequential_children(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add(&t, 'A', 0, 100, 200);
	add(&t, 'B', 'A', 110, 130);
	add(&t, 'C', 'A', 150, 180);
	sonde_trace_tree *tr = build(&t);
	static const seg want[] = {
	        {'A', 100, 110}, {'B', 110, 130}, {'A', 130, 150}, {'C', 150, 180}, {'A', 180, 200}};
	check_path(tr, want, 5);
	assert_int_equal(tr->nodes[node_of(tr, 'A')].self_ns, 50);
	assert_int_equal(tr->nodes[node_of(tr, 'A')].cp_ns, 50);
	assert_int_equal(tr->nodes[node_of(tr, 'B')].self_ns, 20);
	assert_int_equal(tr->nodes[node_of(tr, 'C')].depth, 1);
	assert_int_equal(tr->roots_count, 1);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * Overlapping children. A [1000,2000]; B [1100,1600]; C [1300,1800]; D [1350,1500].
 *   A, no bound: LFC C (1800)            -> A [1800,2000]; into C
 *   C: no children                       -> C [1300,1800]; back to A, bound 1300
 *   A: B ends 1600, D 1500, both > 1300  -> nothing left: A [1000,1300]; done.
 * Path A[1000,1300] C[1300,1800] A[1800,2000], total 1000; B and D are hidden behind C.
 * Self time of A: children cover [1100,1800] (union of the three) -> 1000 - 700 = 300.
 */
static void test_overlapping_children(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add(&t, 'A', 0, 1000, 2000);
	add(&t, 'B', 'A', 1100, 1600);
	add(&t, 'C', 'A', 1300, 1800);
	add(&t, 'D', 'A', 1350, 1500);
	sonde_trace_tree *tr = build(&t);
	static const seg want[] = {{'A', 1000, 1300}, {'C', 1300, 1800}, {'A', 1800, 2000}};
	check_path(tr, want, 3);
	assert_int_equal(tr->nodes[node_of(tr, 'A')].self_ns, 300);
	assert_int_equal(tr->nodes[node_of(tr, 'B')].cp_ns, 0);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * Clock skew. A [1000,2000];
 *   B [900,1200]  starts before A        -> clipped to [1000,1200]
 *   C [1500,2300] ends after A           -> clipped to [1500,2000]
 *   D [1900,2500] child of C             -> clipped to C's clipped interval: [1900,2000]
 *   E [2100,2200] wholly after A         -> dropped, and its child F [2120,2150] with it
 *   G [800,950]   wholly before A        -> dropped
 * Walk:
 *   A, no bound: LFC C (2000)            -> A [2000,2000] is empty, not recorded; into C
 *   C, no bound: LFC D (2000)            -> C [2000,2000] empty; into D
 *   D: no children                       -> D [1900,2000]; back to C, bound 1900
 *   C: nothing left                      -> C [1500,1900]; back to A, bound 1500
 *   A: B ends 1200 <= 1500, LFC B        -> A [1200,1500]; into B
 *   B: no children                       -> B [1000,1200]; back to A, bound 1000
 *   A: nothing left                      -> A [1000,1000] empty; done.
 * Path B[1000,1200] A[1200,1500] C[1500,1900] D[1900,2000], total 1000.
 * Self times use the unclipped spans: A is covered by B's [1000,1200] and C's
 * [1500,2000] -> 300; C [1500,2300] by D [1900,2300] -> 400; E by F -> 100 - 30 = 70.
 */
static void test_clock_skew(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add(&t, 'A', 0, 1000, 2000);
	add(&t, 'B', 'A', 900, 1200);
	add(&t, 'C', 'A', 1500, 2300);
	add(&t, 'D', 'C', 1900, 2500);
	add(&t, 'E', 'A', 2100, 2200);
	add(&t, 'F', 'E', 2120, 2150);
	add(&t, 'G', 'A', 800, 950);
	sonde_trace_tree *tr = build(&t);
	static const seg want[] = {
	        {'B', 1000, 1200}, {'A', 1200, 1500}, {'C', 1500, 1900}, {'D', 1900, 2000}};
	check_path(tr, want, 4);
	assert_int_equal(tr->nodes[node_of(tr, 'A')].self_ns, 300);
	assert_int_equal(tr->nodes[node_of(tr, 'C')].self_ns, 400);
	assert_int_equal(tr->nodes[node_of(tr, 'E')].self_ns, 70);
	assert_false(tr->nodes[node_of(tr, 'E')].on_path);
	assert_false(tr->nodes[node_of(tr, 'F')].on_path);
	assert_false(tr->nodes[node_of(tr, 'G')].on_path);
	assert_true(tr->nodes[node_of(tr, 'D')].on_path);
	/* Waterfall order: by start time under each parent: G, B, C (D), E (F). */
	char order[16] = "";
	for (size_t i = 0; i < tr->count; i++)
		order[i] = node_letter(tr, tr->preorder[i]);
	assert_string_equal(order, "AGBCDEF");
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * Follows-from and asynchronous work. A [1000,2000] server span;
 *   M [1050,1150] child of A (blocking)
 *   P [1100,1200] PRODUCER child of A
 *   Q [1300,3000] CONSUMER child of P    -> follows from P (producer/consumer): left out
 *   R [1400,2900] child of Q             -> left out with Q
 *   L [1500,1900] no parent, links to A  -> follows from A: left out
 * Walk:
 *   A, no bound: children on the path are P (1200) and M (1150); LFC P -> A [1200,2000]
 *   P: its only child Q is follows-from  -> P [1100,1200]; back to A, bound 1100
 *   A: M ends 1150 > 1100                -> A [1000,1100]; done.
 * Path A[1000,1100] P[1100,1200] A[1200,2000], total 1000.
 * Self time of A counts only child-of children: M and P cover [1050,1200] -> 850.
 * Without the async rules L would be a second root and Q would hold the path to 3000.
 */
static void test_follows_from(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add_full(&t, 'A', 0, 1000, 2000, 0, SONDE_SPAN_KIND_SERVER, NULL);
	add(&t, 'M', 'A', 1050, 1150);
	add_full(&t, 'P', 'A', 1100, 1200, 0, SONDE_SPAN_KIND_PRODUCER, NULL);
	add_full(&t, 'Q', 'P', 1300, 3000, 3, SONDE_SPAN_KIND_CONSUMER, NULL);
	add(&t, 'R', 'Q', 1400, 2900);
	size_t l = add(&t, 'L', 0, 1500, 1900);
	link_to(&t, l, 'A');
	sonde_trace_tree *tr = build(&t);
	static const seg want[] = {{'A', 1000, 1100}, {'P', 1100, 1200}, {'A', 1200, 2000}};
	check_path(tr, want, 3);
	assert_int_equal(tr->roots_count, 1);
	assert_int_equal(tr->nodes[node_of(tr, 'L')].rel, SONDE_REL_FOLLOWS);
	assert_int_equal(tr->nodes[node_of(tr, 'L')].parent, node_of(tr, 'A'));
	assert_int_equal(tr->nodes[node_of(tr, 'Q')].rel, SONDE_REL_FOLLOWS);
	assert_int_equal(tr->nodes[node_of(tr, 'R')].rel, SONDE_REL_CHILD_OF);
	assert_false(tr->nodes[node_of(tr, 'R')].on_path);
	assert_int_equal(tr->nodes[node_of(tr, 'A')].self_ns, 850);
	assert_int_equal(tr->nodes[node_of(tr, 'P')].self_ns, 100);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * A child that outlives its parent (fire-and-forget work not marked as async).
 * A [1000,2000]; B [1500,5000] child of A -> clipped to [1500,2000]; C [3000,4000] child of
 * B starts after B's clipped end -> dropped.
 *   A, no bound: LFC B (2000)            -> A [2000,2000] empty; into B
 *   B: C was dropped                     -> B [1500,2000]; back to A, bound 1500
 *   A: nothing left                      -> A [1000,1500]; done.
 * Path A[1000,1500] B[1500,2000]. Self time of B (unclipped) 3500 - 1000 = 2500.
 */
static void test_child_outlives_parent(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add(&t, 'A', 0, 1000, 2000);
	add(&t, 'B', 'A', 1500, 5000);
	add(&t, 'C', 'B', 3000, 4000);
	sonde_trace_tree *tr = build(&t);
	static const seg want[] = {{'A', 1000, 1500}, {'B', 1500, 2000}};
	check_path(tr, want, 2);
	assert_int_equal(tr->nodes[node_of(tr, 'B')].self_ns, 2500);
	assert_int_equal(tr->end_ns, 5000);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * Orphans become roots, each root walked on its own in start order.
 * A [1000,2000] root; X [3000,3500] has parent id 'Z', which is not in the trace; Y
 * [3100,3200] child of X.
 *   A: no children                       -> A [1000,2000]
 *   X, no bound: LFC Y                   -> X [3200,3500]; Y [3100,3200]; back, bound 3100
 *   X: nothing left                      -> X [3000,3100]
 * Path A[1000,2000] X[3000,3100] Y[3100,3200] X[3200,3500], total 1500.
 */
static void test_orphans(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add(&t, 'X', 'Z', 3000, 3500);
	add(&t, 'Y', 'X', 3100, 3200);
	add(&t, 'A', 0, 1000, 2000);
	sonde_trace_tree *tr = build(&t);
	static const seg want[] = {
	        {'A', 1000, 2000}, {'X', 3000, 3100}, {'Y', 3100, 3200}, {'X', 3200, 3500}};
	check_path(tr, want, 4);
	assert_int_equal(tr->roots_count, 2);
	assert_true(tr->nodes[node_of(tr, 'X')].orphan);
	assert_false(tr->nodes[node_of(tr, 'A')].orphan);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * Ties and back-to-back children. A [1000,2000]; B [1000,1400]; C [1400,2000];
 * D [1700,2000].
 *   A, no bound: C and D both end at 2000; C starts first -> LFC C: A [2000,2000] empty
 *   C: no children                       -> C [1400,2000]; back to A, bound 1400
 *   A: D ends 2000 > 1400, skipped; B ends 1400 <= 1400 -> LFC B: A [1400,1400] empty
 *   B: no children                       -> B [1000,1400]; back to A, bound 1000
 *   A: nothing left                      -> A [1000,1000] empty; done.
 * Path B[1000,1400] C[1400,2000]: all of A's time is its children's. (Jaeger's UI takes
 * only children ending strictly before the bound and would give A [1000,1400] instead
 * of B.)
 */
static void test_ties_and_back_to_back(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add(&t, 'A', 0, 1000, 2000);
	add(&t, 'B', 'A', 1000, 1400);
	add(&t, 'D', 'A', 1700, 2000);
	add(&t, 'C', 'A', 1400, 2000);
	sonde_trace_tree *tr = build(&t);
	static const seg want[] = {{'B', 1000, 1400}, {'C', 1400, 2000}};
	check_path(tr, want, 2);
	assert_int_equal(tr->nodes[node_of(tr, 'A')].self_ns, 0);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * Zero-length children at the bound must not loop. A [1000,2000]; B [1500,1500];
 * C [1500,1500]; D [1200,1500].
 *   A, no bound: B, C and D end at 1500; D starts first -> LFC D: A [1500,2000]
 *   D: no children                       -> D [1200,1500]; back to A, bound 1200
 *   A: B, C end 1500 > 1200              -> A [1000,1200]; done.
 * Path A[1000,1200] D[1200,1500] A[1500,2000].
 */
static void test_zero_length_children(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add(&t, 'A', 0, 1000, 2000);
	add(&t, 'B', 'A', 1500, 1500);
	add(&t, 'C', 'A', 1500, 1500);
	add(&t, 'D', 'A', 1200, 1500);
	sonde_trace_tree *tr = build(&t);
	static const seg want[] = {{'A', 1000, 1200}, {'D', 1200, 1500}, {'A', 1500, 2000}};
	check_path(tr, want, 3);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/* A parent chain that loops (A's parent is B, B's is A) is cut, and every span is still
 * in the tree once. */
static void test_cycle(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add(&t, 'A', 'B', 1000, 2000);
	add(&t, 'B', 'A', 1100, 1900);
	add(&t, 'C', 'C', 1200, 1300); /* its own parent */
	sonde_trace_tree *tr = build(&t);
	assert_int_equal(tr->cycles_broken, 1);
	assert_int_equal(tr->roots_count, 2); /* one of A, B; and C */
	size_t seen = 0;
	for (size_t i = 0; i < tr->count; i++)
		seen += tr->preorder[i] < tr->count;
	assert_int_equal(seen, 3);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * Shares: services and operations on the path of test_two_sequential_children, with B in
 * service "cart" and C in "db": frontend holds A's 50, db 30, cart 20.
 */
static void test_shares_and_slowest(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add_full(&t, 'A', 0, 100, 200, 0, SONDE_SPAN_KIND_SERVER, "GET /");
	add_full(&t, 'B', 'A', 110, 130, 1, SONDE_SPAN_KIND_CLIENT, "cart.get");
	add_full(&t, 'C', 'A', 150, 180, 2, SONDE_SPAN_KIND_CLIENT, "SELECT");
	sonde_trace_tree *tr = build(&t);
	sonde_cp_share *sh = NULL;
	ssize_t n = sonde_trace_cp_shares(tr, false, &sh);
	assert_int_equal(n, 3);
	assert_string_equal(sh[0].service.ptr, "frontend");
	assert_int_equal(sh[0].cp_ns, 50);
	assert_true(sh[0].share > 0.499 && sh[0].share < 0.501);
	assert_string_equal(sh[1].service.ptr, "db");
	assert_string_equal(sh[2].service.ptr, "cart");
	free(sh);
	n = sonde_trace_cp_shares(tr, true, &sh);
	assert_int_equal(n, 3);
	assert_string_equal(sh[1].operation.ptr, "SELECT");
	free(sh);
	assert_int_equal(node_letter(tr, sonde_trace_slowest(tr, false)), 'C');
	assert_int_equal(node_letter(tr, sonde_trace_slowest(tr, true)), 'A');
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

static void add_db_attr(tb *t, size_t i, const char *stmt)
{
	sonde_span_data *s = &t->b->spans[i];
	sonde_kv *kv = sonde_batch_alloc(t->b, 2 * sizeof(*kv));
	kv[0].key = sonde_batch_intern(t->b, "db.system", 9);
	kv[0].value.kind = SONDE_VAL_STRING;
	kv[0].value.u.str = sonde_batch_intern(t->b, "postgresql", 10);
	kv[1].key = sonde_batch_intern(t->b, "db.statement", 12);
	kv[1].value.kind = SONDE_VAL_STRING;
	kv[1].value.u.str = sonde_batch_strdup(t->b, stmt, strlen(stmt));
	s->attrs = (sonde_attrs){kv, 2};
}

/* N+1: 6 selects differing only in the id under one parent form one group; 3 other
 * calls do not reach the threshold of 5; 5 identical calls under another parent are
 * their own group. */
static void test_nplus1(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	add_full(&t, 'A', 0, 0, 10000, 0, SONDE_SPAN_KIND_SERVER, "GET /orders");
	add_full(&t, 'B', 'A', 5000, 9000, 0, SONDE_SPAN_KIND_INTERNAL, "render");
	for (uint32_t k = 0; k < 6; k++) {
		char stmt[64];
		snprintf(stmt, sizeof(stmt), "SELECT * FROM items WHERE order_id = %u", 100 + k);
		size_t i = add_full(&t, 1000 + k, 'A', 100 + k * 100, 150 + k * 100, 2,
		                    SONDE_SPAN_KIND_CLIENT, "SELECT");
		add_db_attr(&t, i, stmt);
	}
	for (uint32_t k = 0; k < 3; k++)
		add_full(&t, 2000 + k, 'A', 1000 + k * 100, 1050 + k * 100, 1, SONDE_SPAN_KIND_CLIENT,
		         "cart.get");
	for (uint32_t k = 0; k < 5; k++)
		add_full(&t, 3000 + k, 'B', 5000 + k * 100, 5010 + k * 100, 1, SONDE_SPAN_KIND_CLIENT,
		         "price.get");
	sonde_trace_tree *tr = build(&t);
	sonde_nplus1 *np = NULL;
	ssize_t n = sonde_trace_nplus1(tr, 5, &np);
	assert_int_equal(n, 2);
	assert_int_equal(np[0].count, 6);
	assert_int_equal(np[0].total_ns, 300);
	assert_string_equal(np[0].statement, "SELECT * FROM items WHERE order_id = ?");
	assert_string_equal(np[0].service.ptr, "db");
	assert_int_equal(node_letter(tr, np[0].parent), 'A');
	assert_int_equal(np[1].count, 5);
	assert_null(np[1].statement);
	assert_string_equal(np[1].operation.ptr, "price.get");
	free(np);
	n = sonde_trace_nplus1(tr, 7, &np);
	assert_int_equal(n, 0);
	free(np);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * 100,000 spans: a root R [0, 100000*10+10] with 99,999 back-to-back children, child k
 * at [10k, 10k+10) for k = 1..99999, and nothing else. The path is R [0,10], then every
 * child in turn, then nothing of R after the last child (which ends at 1,000,000,
 * before R's end 1,000,010): R [1000000,1000010]. So 100,001 segments, total 1,000,010.
 */
static void test_wide_100k(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	const uint32_t n = 100000;
	add_full(&t, 1, 0, 0, (uint64_t)n * 10 + 10, 0, SONDE_SPAN_KIND_SERVER, "root");
	for (uint32_t k = 1; k < n; k++)
		add_full(&t, 1 + k, 1, (uint64_t)k * 10, (uint64_t)k * 10 + 10, 1, SONDE_SPAN_KIND_CLIENT,
		         "call");
	sonde_trace_tree *tr = build(&t);
	assert_int_equal(tr->cp_count, n + 1);
	assert_int_equal(tr->cp_total_ns, (uint64_t)n * 10 + 10);
	assert_int_equal(tr->cp[0].start_ns, 0);
	assert_int_equal(tr->cp[0].end_ns, 10);
	assert_int_equal(tr->cp[1].start_ns, 10);
	assert_int_equal(tr->cp[n].start_ns, (uint64_t)n * 10);
	assert_int_equal(tr->nodes[0].self_ns, 20);
	sonde_nplus1 *np = NULL;
	assert_int_equal(sonde_trace_nplus1(tr, 5, &np), 1);
	assert_int_equal(np[0].count, n - 1);
	free(np);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

/*
 * A chain 100,000 deep: span k (k = 1..N) is the child of span k-1 and runs
 * [k, 2N + 2 - k), nested inside its parent with one unit on each side.
 *   Going down, each span's LFC is its child: span k holds [2N+1-k, 2N+2-k) after it.
 *   The deepest span N has no child: [N, N+2).
 *   Coming back up, each span k < N holds [k, k+1) before its child.
 * 2N segments in all: N of length 1 before, N-1 of length 1 after, and the deepest of 2,
 * total 2N; the first is span 1 [1,2) and the last span 1 [2N, 2N+1).
 */
static void test_deep_chain_100k(void **state)
{
	(void)state;
	tb t;
	tb_init(&t);
	const uint64_t n = 100000;
	for (uint64_t k = 1; k <= n; k++)
		add_full(&t, (uint32_t)k, (uint32_t)(k - 1), k, 2 * n + 2 - k, 0, SONDE_SPAN_KIND_INTERNAL,
		         "nest");
	sonde_trace_tree *tr = build(&t);
	assert_int_equal(tr->cp_count, 2 * n - 1);
	assert_int_equal(tr->cp_total_ns, 2 * n);
	assert_int_equal(tr->cp[0].start_ns, 1);
	assert_int_equal(tr->cp[0].end_ns, 2);
	assert_int_equal(tr->cp[tr->cp_count - 1].start_ns, 2 * n);
	assert_int_equal(tr->cp[tr->cp_count - 1].end_ns, 2 * n + 1);
	assert_int_equal(tr->nodes[n - 1].depth, n - 1);
	assert_int_equal(tr->nodes[n - 1].cp_ns, 2);
	assert_int_equal(tr->nodes[0].self_ns, 2);
	assert_int_equal(tr->preorder[n - 1], n - 1);
	sonde_trace_tree_free(tr);
	sonde_batch_free(t.b);
}

static void test_empty(void **state)
{
	(void)state;
	sonde_trace_tree *tr = NULL;
	assert_int_equal(sonde_trace_tree_build(NULL, 0, &tr), 0);
	assert_int_equal(tr->count, 0);
	assert_int_equal(tr->cp_count, 0);
	assert_int_equal(sonde_trace_slowest(tr, true), SONDE_TNODE_NONE);
	sonde_trace_tree_free(tr);
	sonde_trace_tree_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_two_sequential_children),
	        cmocka_unit_test(test_overlapping_children),
	        cmocka_unit_test(test_clock_skew),
	        cmocka_unit_test(test_follows_from),
	        cmocka_unit_test(test_child_outlives_parent),
	        cmocka_unit_test(test_orphans),
	        cmocka_unit_test(test_ties_and_back_to_back),
	        cmocka_unit_test(test_zero_length_children),
	        cmocka_unit_test(test_cycle),
	        cmocka_unit_test(test_shares_and_slowest),
	        cmocka_unit_test(test_nplus1),
	        cmocka_unit_test(test_wide_100k),
	        cmocka_unit_test(test_deep_chain_100k),
	        cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
