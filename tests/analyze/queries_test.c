/*
 * queries_test.c - statement normalisation, and database calls grouped by statement
 * with their counts, slow calls and N+1 patterns.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "queries.h"
#include "sql_norm.h"

static void norm_is(const char *in, const char *want)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_sql_normalize(in, strlen(in), &b);
	assert_false(b.oom);
	if (strcmp(b.len ? b.data : "", want) != 0)
		fail_msg("normalising [%s]: got [%s], want [%s]", in, b.len ? b.data : "", want);
	sonde_buf_release(&b);
}

static void test_normalise(void **state)
{
	(void)state;
	/* Literals. */
	norm_is("SELECT * FROM users WHERE id = 42", "SELECT * FROM users WHERE id = ?");
	norm_is("SELECT * FROM users WHERE name = 'O''Brien' AND x = 'a\\'b'",
	        "SELECT * FROM users WHERE name = ? AND x = ?");
	norm_is("select 3.14, 1e10, 2.5E-3, .5, 0xFF, x'0A', E'\\n', N'abc'",
	        "select ?, ?, ?, ?, ?, ?, ?, ?");
	norm_is("SELECT $$a 'quoted' body$$, $tag$x$tag$", "SELECT ?, ?");
	/* Signs: a sign after an operator or keyword goes with its number; a binary minus stays. */
	norm_is("SELECT -1, a-1, a - 2, b=-3 WHERE c > -4.5", "SELECT ?, a-?, a - ?, b=? WHERE c > ?");
	/* Identifiers that contain digits, and quoted identifiers, are kept. */
	norm_is("SELECT t1.col2 FROM \"Table 3\" JOIN `x1` ON t1.id=`x1`.id",
	        "SELECT t1.col2 FROM \"Table 3\" JOIN `x1` ON t1.id=`x1`.id");
	/* Whitespace and comments. */
	norm_is("  SELECT\n\t*   FROM  t -- trailing\n WHERE /* c */ a = 1  ", "SELECT * FROM t WHERE a = ?");
	norm_is("SELECT f( a , b ) FROM t", "SELECT f(a, b) FROM t");
	/* IN lists collapse, whatever their length and placeholder style. */
	norm_is("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (?)");
	norm_is("SELECT * FROM t WHERE id in ('a','b')", "SELECT * FROM t WHERE id in (?)");
	norm_is("DELETE FROM t WHERE id NOT IN ($1, $2, $3, $4)", "DELETE FROM t WHERE id NOT IN (?)");
	norm_is("SELECT * FROM t WHERE id IN (?, ?)", "SELECT * FROM t WHERE id IN (?)");
	norm_is("SELECT * FROM t WHERE id IN (:a, :b)", "SELECT * FROM t WHERE id IN (?)");
	norm_is("SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v = 2)",
	        "SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE v = ?)");
	/* VALUES tuples collapse to one. */
	norm_is("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
	        "INSERT INTO t (a, b) VALUES (?, ?)");
	norm_is("INSERT INTO t VALUES (1, now()), (2, now())", "INSERT INTO t VALUES (?, now())");
	/* Placeholders and casts are kept as written. */
	norm_is("SELECT a::int FROM t WHERE b = $1 AND c = :name AND d = @p1",
	        "SELECT a::int FROM t WHERE b = $1 AND c = :name AND d = @p1");
	/* Anything goes in: unterminated literals, lone quotes, binary bytes. */
	norm_is("SELECT 'unterminated", "SELECT ?");
	norm_is("SELECT \"open", "SELECT \"open");
	norm_is("", "");
	norm_is("GET user:1234", "GET user:?");
	norm_is("VALUES (", "VALUES (");
	const char bin[] = {'S', 0, (char)0xff, '\'', 1};
	sonde_buf b = SONDE_BUF_INIT;
	sonde_sql_normalize(bin, sizeof(bin), &b);
	assert_false(b.oom);
	sonde_buf_release(&b);
}

/* Builds a batch of database spans for the accumulator. */
typedef struct qb {
	sonde_batch *b;
	sonde_resource *res;
	sonde_scope *scope;
} qb;

static void add_db(qb *t, uint8_t trace, uint8_t parent, uint8_t id, uint64_t dur, const char *stmt, bool err)
{
	sonde_span_data *s = sonde_batch_add_span(t->b, t->res, t->scope);
	s->trace_id[15] = trace;
	s->span_id[7] = id;
	s->span_id[6] = trace;
	s->parent_span_id[7] = parent;
	s->parent_span_id[6] = trace;
	s->start_ns = 1000;
	s->end_ns = 1000 + dur;
	s->status_code = err ? SONDE_STATUS_ERROR : SONDE_STATUS_UNSET;
	s->name = sonde_batch_intern(t->b, "query", 5);
	if (!stmt)
		return;
	sonde_kv *kv = sonde_batch_alloc(t->b, 2 * sizeof(*kv));
	kv[0].key = sonde_batch_intern(t->b, "db.system", 9);
	kv[0].value.kind = SONDE_VAL_STRING;
	kv[0].value.u.str = sonde_batch_intern(t->b, "mysql", 5);
	kv[1].key = sonde_batch_intern(t->b, "db.query.text", 13);
	kv[1].value.kind = SONDE_VAL_STRING;
	kv[1].value.u.str = sonde_batch_strdup(t->b, stmt, strlen(stmt));
	s->attrs = (sonde_attrs){kv, 2};
}

/*
 * Trace 1: parent 1 runs "SELECT ... id = ?" 6 times (an N+1), 10 ms each, and one
 * 250 ms report query. Trace 2: parent 1 runs the same select 3 times (1 ms, one failed).
 * One span without a statement is not a database span.
 *   select: count 9, total 63 ms, max 10 ms, one N+1 parent (6 >= 5), most repeats 6.
 *   report: count 1, total 250 ms, slow (>= 100 ms): first by total time.
 */
static void test_accumulate(void **state)
{
	(void)state;
	qb t = {sonde_batch_new(), NULL, NULL};
	t.res = sonde_batch_new_resource(t.b);
	t.scope = sonde_batch_new_scope(t.b);
	for (int i = 0; i < 6; i++) {
		char stmt[64];
		snprintf(stmt, sizeof(stmt), "SELECT name FROM items WHERE id = %d", 10 + i);
		add_db(&t, 1, 1, (uint8_t)(10 + i), 10000000, stmt, false);
	}
	add_db(&t, 1, 1, 30, 250000000, "SELECT sum(x) FROM big WHERE day >= '2024-01-01'", false);
	for (int i = 0; i < 3; i++)
		add_db(&t, 2, 1, (uint8_t)(40 + i), 1000000, "SELECT name FROM items WHERE id = 99", i == 1);
	add_db(&t, 2, 0, 50, 5, NULL, false);
	sonde_queries q;
	sonde_queries_init(&q);
	for (size_t i = 0; i < t.b->spans_count; i++)
		assert_int_equal(sonde_queries_add(&q, &t.b->spans[i]), 0);
	sonde_queries_finish(&q);
	assert_int_equal(q.spans_seen, 11);
	assert_int_equal(q.db_spans, 10);
	assert_int_equal(q.count, 2);
	const sonde_query_group *rep = &q.groups[0], *sel = &q.groups[1];
	assert_string_equal(rep->statement, "SELECT sum(x) FROM big WHERE day >= ?");
	assert_string_equal(rep->system, "mysql");
	assert_int_equal(rep->slow, 1);
	assert_string_equal(sel->statement, "SELECT name FROM items WHERE id = ?");
	assert_int_equal(sel->count, 9);
	assert_int_equal(sel->errors, 1);
	assert_int_equal(sel->total_ns, 63000000);
	assert_int_equal(sel->max_ns, 10000000);
	assert_true(sel->mean_ns == 7000000);
	assert_true(sel->p95_ns == 10000000);
	assert_int_equal(sel->nplus1_parents, 1);
	assert_int_equal(sel->nplus1_max, 6);
	assert_int_equal(sel->slowest_trace[15], 1);
	assert_int_equal(q.slow_count, 1);
	assert_int_equal(q.slow[0].group, 0);
	assert_int_equal(q.slow[0].duration_ns, 250000000);
	sonde_queries_release(&q);
	sonde_batch_free(t.b);
}

/* The slow list keeps only the slowest slow_keep calls. */
static void test_slow_keep(void **state)
{
	(void)state;
	qb t = {sonde_batch_new(), NULL, NULL};
	t.res = sonde_batch_new_resource(t.b);
	t.scope = sonde_batch_new_scope(t.b);
	for (int i = 0; i < 50; i++)
		add_db(&t, 3, 1, (uint8_t)i, 1000 + (uint64_t)i, "SELECT 1", false);
	sonde_queries q;
	sonde_queries_init(&q);
	q.slow_ns = 1000;
	q.slow_keep = 3;
	for (size_t i = 0; i < t.b->spans_count; i++)
		assert_int_equal(sonde_queries_add(&q, &t.b->spans[i]), 0);
	sonde_queries_finish(&q);
	assert_int_equal(q.slow_count, 3);
	assert_int_equal(q.slow[0].duration_ns, 1049);
	assert_int_equal(q.slow[2].duration_ns, 1047);
	assert_int_equal(q.groups[0].slow, 50);
	assert_int_equal(q.groups[0].nplus1_max, 50);
	sonde_queries_release(&q);
	sonde_batch_free(t.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_normalise),
	        cmocka_unit_test(test_accumulate),
	        cmocka_unit_test(test_slow_keep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
