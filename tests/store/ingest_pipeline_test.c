/*
 * ingest_pipeline_test.c - the pipelined ingest (reading on the caller's thread, storing
 * on a writer thread) stores exactly what the sequential one stores: the same records in
 * the same positions, the same rejected lines in the same order, the same statistics;
 * with --strict a bad line in the middle of a big file stops the ingest with its
 * file:line, every batch before it stored whole and nothing after it; the on_logs hook
 * sees every batch in input order and its template ids are stored. An OTLP JSON document
 * over 1 MB, whose spans are stored while it is read, leaves exactly the rows (ids and
 * all) that reading it whole and then storing it leaves, and when it turns out bad at its
 * end, nothing at all.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <unistd.h>

#include "buf.h"
#include "ingest.h"
#include "sonde/status.h"
#include "store.h"

enum { LINES = 40000, BAD_EVERY = 9973, BATCH = 1000 };

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/sonde-ingest-pipe-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* LINES JSON-lines log records (about 3 MB, so the ingest is pipelined), a bad line every
 * BAD_EVERY lines when with_bad. */
static void make_input(sonde_buf *b, bool with_bad)
{
	for (unsigned i = 1; i <= LINES; i++) {
		char line[200];
		if (with_bad && i % BAD_EVERY == 0)
			snprintf(line, sizeof line, "{\"ts\":\"2024-03-01T10:00:00Z\",\"msg\":\"broken %u\n",
			         i);
		else
			snprintf(line, sizeof line,
			         "{\"ts\":\"2024-03-01T10:%02u:%02u.%03uZ\",\"level\":\"%s\",\"msg\":"
			         "\"request %u "
			         "served in %u ms\",\"service\":\"api\",\"route\":\"/v1/orders\"}\n",
			         i / 60000 % 60, i / 1000 % 60, i % 1000, i % 7 ? "info" : "error", i,
			         i % 500);
		sonde_buf_puts(b, line);
	}
}

typedef struct seen {
	size_t lines[16];
	size_t n;
	uint64_t hook_logs; /* log records the hook saw */
	uint64_t hook_first_ns, hook_last_ns;
	bool hook_in_order;
} seen;

static void on_reject(void *ctx, const char *source, const char *format, const sonde_wire_error *err)
{
	seen *s = ctx;
	if (s->n < 16)
		s->lines[s->n++] = err->line;
}

static const sonde_log_template tpl[] = {
        {.id = 7, .text = "request <NUM> served in <NUM> ms", .text_len = 32},
};

/* Gives every record template 7 and checks that batches come in input order. */
static int on_logs(void *ctx, const sonde_batch *b, sonde_ingest_log_templates *out)
{
	seen *s = ctx;
	for (size_t i = 0; i < b->logs_count; i++) {
		uint64_t t = b->logs[i].time_ns;
		if (t < s->hook_last_ns)
			s->hook_in_order = false;
		if (!s->hook_first_ns)
			s->hook_first_ns = t;
		s->hook_last_ns = t;
		out->template_ids[i] = 7;
	}
	s->hook_logs += b->logs_count;
	out->templates = tpl;
	out->templates_count = 1;
	return 0;
}

typedef struct result {
	int rc;
	char errmsg[300];
	sonde_ingest_stats st;
	seen seen;
	sonde_buf dump; /* every stored record's time, body and position-dependent key */
	ssize_t with_template;
} result;

static void run(const char *name, const sonde_buf *input, bool sequential, bool strict, result *r)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s.db", dir, name);
	sonde_store *s;
	char msg[256];
	assert_int_equal(sonde_store_open(path, 0, &s, msg, sizeof msg), 0);
	memset(r, 0, sizeof *r);
	r->seen.hook_in_order = true;
	sonde_buf_init(&r->dump);
	sonde_ingest_stats_init(&r->st);
	sonde_ingest_opts o = {
	        .default_time_ns = 1700000000000000000ull,
	        .service = "",
	        .batch_records = BATCH,
	        .strict = strict,
	        .sequential = sequential,
	        .on_reject = on_reject,
	        .ctx = &r->seen,
	        .on_logs = on_logs,
	        .logs_ctx = &r->seen,
	};
	r->rc = sonde_ingest_buffer(s, "input.jsonl", input->data, input->len, &o, &r->st, NULL, r->errmsg,
	                            sizeof r->errmsg);
	sonde_batch *out = sonde_batch_new();
	sonde_query q = {0};
	assert_true(sonde_store_select_logs(s, &q, out) >= 0);
	for (size_t i = 0; i < out->logs_count; i++) {
		char line[200];
		snprintf(line, sizeof line, "%llu %.*s\n", (unsigned long long)out->logs[i].time_ns,
		         (int)out->logs[i].body.u.str.len, out->logs[i].body.u.str.ptr);
		sonde_buf_puts(&r->dump, line);
	}
	sonde_batch_clear(out);
	q.template_id = 7;
	r->with_template = sonde_store_select_logs(s, &q, out);
	sonde_batch_free(out);
	/* Re-ingesting the same input adds nothing, pipelined or not. */
	if (r->rc == 0) {
		sonde_ingest_stats again;
		sonde_ingest_stats_init(&again);
		seen dummy = {.hook_in_order = true};
		o.ctx = o.logs_ctx = &dummy;
		assert_int_equal(sonde_ingest_buffer(s, "copy.jsonl", input->data, input->len, &o, &again,
		                                     NULL, NULL, 0),
		                 0);
		assert_int_equal(again.appended.logs_added, 0);
		assert_int_equal(again.appended.logs_present, r->st.appended.logs_added);
		sonde_ingest_stats_release(&again);
	}
	sonde_store_close(s);
}

static void release(result *r)
{
	sonde_buf_release(&r->dump);
	sonde_ingest_stats_release(&r->st);
}

/* Bad lines skipped: the pipelined ingest stores what the sequential one stores. */
static void test_same_as_sequential(void **state)
{
	sonde_buf in = SONDE_BUF_INIT;
	make_input(&in, true);
	assert_true(in.len > 1 << 20);
	result a, b;
	run("seq", &in, true, false, &a);
	run("pipe", &in, false, false, &b);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	size_t bad = LINES / BAD_EVERY;
	assert_int_equal(a.st.rejected, bad);
	assert_int_equal(b.st.rejected, bad);
	assert_int_equal(a.st.appended.logs_added, LINES - bad);
	assert_int_equal(b.st.appended.logs_added, LINES - bad);
	assert_int_equal(a.st.batches, b.st.batches);
	assert_true(b.st.batches >= (LINES - bad) / BATCH);
	assert_int_equal(a.st.bytes, b.st.bytes);
	assert_int_equal(b.seen.n, bad);
	for (size_t i = 0; i < bad; i++) {
		assert_int_equal(a.seen.lines[i], (i + 1) * BAD_EVERY);
		assert_int_equal(b.seen.lines[i], (i + 1) * BAD_EVERY);
	}
	assert_int_equal(a.dump.len, b.dump.len);
	assert_memory_equal(a.dump.data, b.dump.data, a.dump.len);
	/* The hook saw every record once, in input order, and its ids were stored. */
	assert_true(b.seen.hook_in_order);
	assert_int_equal(b.seen.hook_logs, LINES - bad);
	assert_int_equal(b.with_template, (ssize_t)(LINES - bad));
	release(&a);
	release(&b);
	sonde_buf_release(&in);
}

/* --strict: the first bad line stops the ingest with file:line; the lines before it are
 * stored (whole batches, in order), none after it. */
static void test_strict_stops(void **state)
{
	sonde_buf in = SONDE_BUF_INIT;
	make_input(&in, true);
	result a, b;
	run("sseq", &in, true, true, &a);
	run("spipe", &in, false, true, &b);
	assert_int_equal(a.rc, SONDE_EPARSE);
	assert_int_equal(b.rc, SONDE_EPARSE);
	char want[64];
	snprintf(want, sizeof want, "input.jsonl:%d:", BAD_EVERY);
	if (!strstr(b.errmsg, want))
		fail_msg("message '%s' does not name %s", b.errmsg, want);
	assert_string_equal(a.errmsg, b.errmsg);
	assert_int_equal(b.st.appended.logs_added, BAD_EVERY - 1);
	assert_int_equal(a.dump.len, b.dump.len);
	assert_memory_equal(a.dump.data, b.dump.data, a.dump.len);
	release(&a);
	release(&b);
	sonde_buf_release(&in);
}

/* A store failure on the writer stops the reader and is reported: here the hook gives
 * an id it does not describe, which the store refuses. */
static int bad_hook(void *ctx, const sonde_batch *b, sonde_ingest_log_templates *out)
{
	int *calls = ctx;
	++*calls;
	for (size_t i = 0; i < b->logs_count; i++)
		out->template_ids[i] = 99;
	return 0;
}

static void test_writer_failure(void **state)
{
	sonde_buf in = SONDE_BUF_INIT;
	make_input(&in, false);
	char path[128];
	snprintf(path, sizeof path, "%s/fail.db", dir);
	sonde_store *s;
	assert_int_equal(sonde_store_open(path, 0, &s, NULL, 0), 0);
	int calls = 0;
	sonde_ingest_opts o = {
	        .service = "", .batch_records = BATCH, .on_logs = bad_hook, .logs_ctx = &calls};
	sonde_ingest_stats st;
	sonde_ingest_stats_init(&st);
	char msg[300];
	assert_int_equal(sonde_ingest_buffer(s, "in.jsonl", in.data, in.len, &o, &st, NULL, msg, sizeof msg),
	                 -EINVAL);
	assert_non_null(strstr(msg, "not described"));
	assert_int_equal(st.appended.logs_added, 0);
	assert_true(calls < LINES / BATCH); /* the reader stopped early */
	sonde_store_info info;
	assert_int_equal(sonde_store_info_get(s, &info), 0);
	assert_int_equal(info.logs, 0);
	sonde_ingest_stats_release(&st);
	sonde_store_close(s);
	sonde_buf_release(&in);
}

/* ---- OTLP JSON documents ----------------------------------------------------------- */

/* n spans, 5 per trace, numbered from first. */
static void otlp_spans(sonde_buf *b, unsigned first, unsigned n)
{
	for (unsigned i = first; i < first + n; i++) {
		char sp[600];
		unsigned long long t = 1700000000000000000ull + (unsigned long long)i * 1000;
		snprintf(sp, sizeof sp,
		         "%s{\"traceId\":\"%032x\",\"spanId\":\"%016x\",\"parentSpanId\":\"%s\",\"name\":"
		         "\"op%u\",\"kind\":%u,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
		         "\"attributes\":[{\"key\":\"http.route\",\"value\":{\"stringValue\":\"/v1/orders/"
		         "%u\"}},"
		         "{\"key\":\"n\",\"value\":{\"intValue\":\"%u\"}}],\"status\":{\"code\":%u}}",
		         i > first ? "," : "", i / 5 + 1, i + 1, i % 5 ? "00000000000000aa" : "", i % 7,
		         1 + i % 3, t, t + 500 + i % 97, i % 13, i, i % 11 ? 0 : 2);
		sonde_buf_puts(b, sp);
	}
}

/* Three resource groups (the second with its scope, resource and schemaUrl after its
 * spans unless ordered, as exporters write them; the third without a service name) and a
 * log record: about 2.5 MB. bad: the last span's trace id is not hex. */
static void make_otlp(sonde_buf *b, bool bad, bool ordered)
{
	sonde_buf_puts(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
	                  "\"value\":{\"stringValue\":\"api\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
	                  "\"s1\"},\"spans\":[");
	otlp_spans(b, 0, 2601);
	if (ordered) {
		sonde_buf_puts(b, "]}]},{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
		                  "{\"stringValue\":\"db\"}}]},\"schemaUrl\":\"https://s\",\"scopeSpans\":"
		                  "[{\"scope\":{\"name\":\"s2\"},\"spans\":[");
		otlp_spans(b, 2601, 2302);
		sonde_buf_puts(b, "]}]},");
	} else {
		sonde_buf_puts(b, "]}]},{\"scopeSpans\":[{\"spans\":[");
		otlp_spans(b, 2601, 2302);
		sonde_buf_puts(b, "],\"scope\":{\"name\":\"s2\"}}],\"resource\":{\"attributes\":[{\"key\":"
		                  "\"service.name\",\"value\":{\"stringValue\":\"db\"}}]},\"schemaUrl\":"
		                  "\"https://s\"},");
	}
	sonde_buf_puts(b, "{\"resource\":{\"attributes\":[{\"key\":\"host.name\",\"value\":{\"stringValue\":"
	                  "\"h1\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"s3\"},\"spans\":[");
	otlp_spans(b, 4903, 2700);
	if (bad)
		sonde_buf_puts(b, ",{\"traceId\":\"zz\",\"spanId\":\"0000000000000001\"}");
	sonde_buf_puts(b, "]}]}],\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":"
	                  "\"1700000000000000005\",\"body\":{\"stringValue\":\"hello\"}}]}]}]}");
}

/* Every row of the store's tables, as text. */
static void dump_db(const char *path, sonde_buf *out)
{
	static const char *const tables[] = {"strings",   "resources", "scopes", "spans",
	                                     "span_data", "traces",    "logs",   "series"};
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
		char sql[100];
		snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY rowid", tables[t]);
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
		sonde_buf_puts(out, tables[t]);
		sonde_buf_puts(out, ":\n");
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const unsigned char *p = sqlite3_column_blob(st, c);
				int n = sqlite3_column_bytes(st, c);
				for (int k = 0; k < n; k++) {
					char hx[3];
					snprintf(hx, sizeof hx, "%02x", p[k]);
					sonde_buf_puts(out, hx);
				}
				sonde_buf_puts(out, c + 1 < sqlite3_column_count(st) ? "|" : "\n");
			}
		}
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
}

typedef struct otlp_result {
	int rc, rc_again;
	char errmsg[300];
	sonde_ingest_stats st, again;
	sonde_buf dump;
} otlp_result;

static void run_otlp(const char *name, const sonde_buf *in, bool sequential, bool strict, size_t batch,
                     otlp_result *r)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s.db", dir, name);
	sonde_store *s;
	assert_int_equal(sonde_store_open(path, 0, &s, NULL, 0), 0);
	memset(r, 0, sizeof *r);
	sonde_ingest_stats_init(&r->st);
	sonde_ingest_stats_init(&r->again);
	sonde_ingest_opts o = {
	        .service = "svc", .batch_records = batch, .strict = strict, .sequential = sequential};
	r->rc = sonde_ingest_buffer(s, "doc.json", in->data, in->len, &o, &r->st, NULL, r->errmsg,
	                            sizeof r->errmsg);
	/* Again: adds nothing. */
	r->rc_again = sonde_ingest_buffer(s, "doc.json", in->data, in->len, &o, &r->again, NULL, NULL, 0);
	sonde_store_close(s);
	sonde_buf_init(&r->dump);
	dump_db(path, &r->dump);
}

static void otlp_release(otlp_result *r)
{
	sonde_buf_release(&r->dump);
	sonde_ingest_stats_release(&r->st);
	sonde_ingest_stats_release(&r->again);
}

/* Streamed (ordered: the spans are stored as read, encoded by the reader) or read again
 * whole when a resource comes after its spans: the same store as read, then stored. */
static void check_otlp_document(bool ordered, size_t batch, uint64_t batches)
{
	sonde_buf in = SONDE_BUF_INIT;
	make_otlp(&in, false, ordered);
	assert_true(in.len > 2 << 20);
	otlp_result a, b;
	run_otlp("oseq", &in, true, false, batch, &a);
	run_otlp("opipe", &in, false, false, batch, &b);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(a.st.appended.spans_added, 7603);
	assert_int_equal(b.st.appended.spans_added, 7603);
	assert_int_equal(b.st.appended.logs_added, 1);
	assert_int_equal(a.st.batches, b.st.batches);
	assert_int_equal(b.st.batches, batches);
	assert_int_equal(a.st.bytes, b.st.bytes);
	assert_int_equal(a.st.min_time_ns, b.st.min_time_ns);
	assert_int_equal(a.st.max_time_ns, b.st.max_time_ns);
	assert_int_equal(b.st.services_count, 3);
	for (size_t i = 0; i < a.st.services_count; i++)
		assert_string_equal(a.st.services[i], b.st.services[i]);
	assert_int_equal(b.rc_again, 0);
	assert_int_equal(b.again.appended.spans_added, 0);
	assert_int_equal(b.again.appended.spans_present, 7603);
	assert_int_equal(b.again.appended.logs_added, 0);
	assert_true(strstr(b.dump.data, "spans:\n") != NULL);
	assert_int_equal(a.dump.len, b.dump.len);
	assert_memory_equal(a.dump.data, b.dump.data, a.dump.len);
	otlp_release(&a);
	otlp_release(&b);
	sonde_buf_release(&in);
}

static void test_otlp_document(void **state)
{
	(void)state;
	check_otlp_document(true, BATCH, 8);
}

/* Batches larger than the slices a streamed document is handed over in (4,000 spans): the
 * statistics still count the batches of the sequential ingest, one (7,603 spans and the
 * log record), not one per slice. */
static void test_otlp_document_big_batch(void **state)
{
	(void)state;
	check_otlp_document(true, 9000, 1);
}

static void test_otlp_document_restream(void **state)
{
	(void)state;
	check_otlp_document(false, BATCH, 8);
}

/* OTLP JSON lines (as the Collector's file exporter writes) over 1 MB: read and stored on
 * two threads, the spans' variable part encoded by the reading one; the same store as
 * read, then stored. */
static void test_otlp_lines(void **state)
{
	(void)state;
	sonde_buf in = SONDE_BUF_INIT;
	for (unsigned l = 0; l < 20; l++) {
		sonde_buf_puts(&in,
		               "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
		               "\"value\":{\"stringValue\":\"api\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":"
		               "\"s\"},\"spans\":[");
		otlp_spans(&in, l * 400, 400);
		sonde_buf_puts(&in, "]}]}]}\n");
	}
	assert_true(in.len > 1 << 20);
	otlp_result a, b;
	run_otlp("lseq", &in, true, false, BATCH, &a);
	run_otlp("lpipe", &in, false, false, BATCH, &b);
	assert_int_equal(a.rc, 0);
	assert_int_equal(b.rc, 0);
	assert_int_equal(a.st.appended.spans_added, 8000);
	assert_int_equal(b.st.appended.spans_added, 8000);
	assert_int_equal(b.again.appended.spans_present, 8000);
	assert_int_equal(a.dump.len, b.dump.len);
	assert_memory_equal(a.dump.data, b.dump.data, a.dump.len);
	otlp_release(&a);
	otlp_release(&b);
	sonde_buf_release(&in);
}

/* A document bad at its end stores nothing, though most of its spans had been stored
 * (and taken back) while it was read. */
static void test_otlp_bad_document(void **state)
{
	sonde_buf in = SONDE_BUF_INIT;
	make_otlp(&in, true, true);
	for (int strict = 0; strict < 2; strict++) {
		otlp_result a, b;
		run_otlp(strict ? "bseq_s" : "bseq", &in, true, strict, BATCH, &a);
		run_otlp(strict ? "bpipe_s" : "bpipe", &in, false, strict, BATCH, &b);
		assert_int_equal(a.rc, strict ? SONDE_EPARSE : 0);
		assert_int_equal(b.rc, a.rc);
		assert_string_equal(a.errmsg, b.errmsg);
		assert_int_equal(b.st.rejected, 1);
		assert_int_equal(b.st.appended.spans_added, 0);
		assert_int_equal(b.st.batches, 0);
		assert_int_equal(b.st.services_count, 0);
		assert_int_equal(a.dump.len, b.dump.len);
		assert_memory_equal(a.dump.data, b.dump.data, a.dump.len);
		assert_true(strstr(b.dump.data, "spans:\nspan_data:\ntraces:\n") != NULL); /* no span rows */
		otlp_release(&a);
		otlp_release(&b);
	}
	sonde_buf_release(&in);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_same_as_sequential),
	        T(test_strict_stops),
	        T(test_writer_failure),
	        T(test_otlp_document),
	        T(test_otlp_document_big_batch),
	        T(test_otlp_document_restream),
	        T(test_otlp_lines),
	        T(test_otlp_bad_document),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
