/*
 * store_sqlite.c - the embedded SQLite backend of the store (store.h).
 *
 * Design notes.
 *
 * Schema (version 6; PRAGMA user_version holds it, migrations[] moves a store from any
 * older version to the current one in one transaction):
 *   strings(id, s)              every service name, span name and metric name, once
 *   resources(id, hash, service_id, data), scopes(id, hash, data)
 *                               each distinct resource / scope, keyed by a 128-bit hash
 *                               of its encoding (store_codec.c)
 *   spans(id, trace_key, span_id, trace_id, parent_id, start_ns, dur_ns, service_id,
 *         name_id, kind, status, resource_id, scope_id)
 *                               narrow on purpose: a scan for latency reads only these;
 *                               id = (trace_key << 24) + the span's ordinal in its trace
 *   span_data(id, attrs, rest)  the variable part of a span, same id as its spans row;
 *                               attrs with well-known keys as references (version 5)
 *   traces(trace_key, trace_id, start_ns, end_ns, spans, errors, has_root, root_start_ns,
 *          root_service_id, root_name_id)
 *                               one summary per trace, kept up to date by every append;
 *                               trace_key is given in order of arrival
 *   logs(id, time_ns, hkey, service_id, severity, body, trace_id, span_id, resource_id,
 *        scope_id, rest, template_id)
 *   templates(id, text, count, first_ns, last_ns)
 *                               log templates (version 4): id the miner's 64-bit hash of
 *                               the text (stored as a signed integer), count and times
 *                               over the records given that template_id
 *   series(id, hash, name_id, service_id, type, resource_id, scope_id, meta, attrs)
 *   points(series_id, time_ns, value, rest)
 * Ids are BLOBs (16 and 8 bytes), times INTEGER nanoseconds, a root's parent_id NULL.
 *
 * Clustering: ids are random, so an index on them takes every new span at a random place
 * and a batch dirties most of its pages. Spans are instead keyed by their trace's integer
 * key: an append looks each trace up once in traces(trace_id) (the only random write,
 * one per trace), gives a new trace the next key and puts a trace's spans after its last
 * stored one, so the span b-trees grow at their end and a trace is one rowid range of
 * spans and of span_data.
 *
 * Idempotence: spans are unique on (trace_key, span_id), log records on (time_ns, hkey) where
 * hkey is a 64-bit hash of content, position and an optional namespace (the time is part
 * of the content, so this is uniqueness of the hash among records of one nanosecond, and
 * the index doubles as the time index with inserts that land near its end), points on
 * (series_id, time_ns). Log records and points go in by INSERT OR IGNORE, which counts what
 * the database ignored as present. An append decides which spans are new before it writes
 * them (a new trace has no stored spans; a stored trace's spans are looked up by that
 * index; a span repeated in a batch counts once), so that spans go in by multi-row
 * INSERTs (append_spans). The traces row is updated only from spans actually inserted.
 *
 * Durability: WAL journal, synchronous=NORMAL. An append is one transaction, so a process
 * killed at any moment leaves whole batches only; a power cut may lose the last
 * transactions but never corrupts the file. Readers in other connections see the last
 * committed batch while a writer works.
 *
 * With SONDE_STORE_BG_CHECKPOINT a thread of the handle, on its own connection, runs the
 * WAL checkpoints (PASSIVE, so never blocking the writer) once a commit leaves the log
 * over CKPT_PAGES pages; the writer's connection has its automatic checkpoints turned
 * off by the WAL hook that wakes that thread. A commit then costs the same whenever it
 * happens, instead of one commit in many also copying the whole log into the database.
 * Past twice the threshold the writer copies what the thread has not yet copied itself,
 * so that the log, which starts over only once fully copied, stays bounded; when it starts
 * over, its file is cut back to twice the threshold (journal_size_limit).
 *
 * Caches: the handle remembers the ids of strings, resources, scopes and series it has
 * looked up or written. Rows of those tables are never changed or deleted once
 * committed, so a cache stays true while other processes write; entries added during a
 * transaction that rolls back are dropped with the whole cache.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"
#include "hex.h"
#include "ptrmap.h"
#include "sonde/status.h"
#include "store_codec_internal.h"
#include "store_internal.h"

enum { SCHEMA_VERSION = 6 };
#ifndef PAGE_SIZE_NEW
#define PAGE_SIZE_NEW "16384"
#endif

/* ---- Ids by key ------------------------------------------------------------------------
 * The store's keymap (store_internal.h) holding ids, which are never 0. Callers hash a key
 * once (sonde__keymap_hash), look it up, and add it when the database gave it an id. */

/* The id stored under k (hashed as h), or 0. */
static int64_t id_get(const sonde__keymap *m, const void *k, size_t n, uint64_t h)
{
	const sonde__keymap_ent *e = sonde__keymap_get_h(m, k, n, h);
	return e ? (int64_t)e->v : 0;
}

/* Remembers id under k. Returns 0 or a negative errno. */
static int id_put(sonde__keymap *m, const void *k, size_t n, uint64_t h, int64_t id)
{
	int rc = sonde__keymap_put_h(m, k, n, h, (uint64_t)id, NULL);
	return rc < 0 ? rc : 0;
}

/* ---- The handle ---------------------------------------------------------------------- */

/* The checkpoint thread's state (see the design notes). */
typedef struct sq_ckpt {
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sqlite3 *db;   /* the thread's own connection */
	int wal_pages; /* the log's size after the last commit (guarded by mu) */
	bool stop;     /* (guarded by mu) */
} sq_ckpt;

enum { CKPT_PAGES = 256 }; /* 4 MB of log at the page size of a new store */

/* Appends insert rows MULTI_ROWS at a time, through statements of 1, 2, 4 .. MULTI_ROWS
 * rows (13 parameters a span row: 832 for the largest, within SQLite's 32,766). */
enum { MULTI_SIZES = 7, MULTI_ROWS = 1 << (MULTI_SIZES - 1) };

typedef struct sq_store {
	sonde_store base;
	sqlite3 *db;
	sq_ckpt *ckpt; /* NULL: SQLite's automatic checkpoints */
	char *path;
	bool readonly;
	bool held; /* a transaction is held over appends (sonde__store_sqlite_hold) */
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *get_str_id, *ins_str, *get_str;
	sqlite3_stmt *get_res, *ins_res, *get_res_data;
	sqlite3_stmt *get_scope, *ins_scope, *get_scope_data;
	sqlite3_stmt *upsert_trace;
	sqlite3_stmt *get_trace_key, *last_span_id, *last_trace_key, *span_exists, *last_data_id;
	/* The largest rowid of spans and of span_data, read at each append's start and moved
	 * by its inserts: a row whose id is the next one goes in without it (tail_row). */
	int64_t tail_spans, tail_data;
	/* Multi-row INSERTs of 2^i rows, prepared on first use (see append_spans). */
	sqlite3_stmt *ins_spans_n[MULTI_SIZES], *ins_span_data_n[MULTI_SIZES], *ins_traces_n[MULTI_SIZES];
	sqlite3_stmt *ins_logs_n[MULTI_SIZES];
	sqlite3_stmt *last_log_id, *log_id_of, *upsert_template;
	sqlite3_stmt *get_series, *ins_series, *ins_point;
	/* Committed ids (see the design notes). */
	sonde__keymap str_ids, res_ids, scope_ids, series_ids;
	sonde_str *strs; /* by id; ptr NULL: not loaded */
	size_t strs_cap;
	sonde_arena strs_arena;
	/* Scratch for appends. */
	sonde_buf enc, enc2, key;
	sonde_buf row_spans; /* span_data blobs of the span rows in `rows` */
	sonde_buf row_rest;  /* rest blobs of the log rows in `lrows` */
	sonde__keymap traces;
	struct span_key *seen; /* (trace index, span id) of one append's spans: a hash set */
	size_t seen_cap;       /* its slots, a power of two; 0: none */
	struct span_row *rows; /* the spans of one append waiting for their INSERT */
	struct log_row *lrows; /* the same for log records */
	sonde__keymap tpl_ix;  /* template id -> 1 + index in tpl_acc, per append */
	struct tpl_acc *tpl_acc;
	size_t tpl_cap;
} sq_store;

/* What one append adds to a template's row. */
typedef struct tpl_acc {
	uint64_t id;
	uint64_t count, first, last;
	const sonde_log_template *t; /* its description in the append's options */
} tpl_acc;

/* Reading a resource's data and service, a scope's data, by id: the store's statements
 * and those of a second reader's connection. */
#define SQL_GET_RES_DATA   "SELECT data, service_id FROM resources WHERE id = ?1"
#define SQL_GET_SCOPE_DATA "SELECT data FROM scopes WHERE id = ?1"

/* The store's error for SQLite's rc on db (the store's connection, or a reader's own). */
static int sq_rc_on(sq_store *s, sqlite3 *db, int rc, const char *what)
{
	int neg = rc == SQLITE_NOMEM                              ? -ENOMEM
	          : rc == SQLITE_BUSY                             ? -EBUSY
	          : rc == SQLITE_LOCKED                           ? -EBUSY
	          : rc == SQLITE_FULL                             ? -ENOSPC
	          : rc == SQLITE_READONLY                         ? -EROFS
	          : (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) ? SONDE_EFORMAT
	                                                          : -EIO;
	return sonde__store_fail(&s->base, neg, "%s: %s: %s", s->path, what, sqlite3_errmsg(db));
}

static int sq_rc(sq_store *s, int rc, const char *what)
{
	return sq_rc_on(s, s->db, rc, what);
}

static int exec(sq_store *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sq_rc(s, rc, "executing SQL");
}

static int prep(sq_store *s, sqlite3_stmt **st, const char *sql)
{
	int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
	return rc == SQLITE_OK ? 0 : sq_rc(s, rc, "preparing a statement");
}

/* Runs a statement that returns no rows (or whose rows are ignored) and resets it. */
static int step_done(sq_store *s, sqlite3_stmt *st)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : sq_rc(s, rc, "writing");
}

static void clear_caches(sq_store *s)
{
	sonde__keymap_clear(&s->str_ids);
	sonde__keymap_clear(&s->res_ids);
	sonde__keymap_clear(&s->scope_ids);
	sonde__keymap_clear(&s->series_ids);
	free(s->strs);
	s->strs = NULL;
	s->strs_cap = 0;
	sonde_arena_reset(&s->strs_arena, 0);
}

/* ---- Schema and migrations --------------------------------------------------------- */

/* migrations[v] moves a store from version v to v + 1. */
static const char *const migrations[SCHEMA_VERSION] = {
        /* 0 -> 1: the first schema. */
        "CREATE TABLE strings(id INTEGER PRIMARY KEY, s TEXT NOT NULL UNIQUE);"
        "CREATE TABLE resources(id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE,"
        " service_id INTEGER NOT NULL, data BLOB NOT NULL);"
        "CREATE TABLE scopes(id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, data BLOB NOT NULL);"
        "CREATE TABLE spans(id INTEGER PRIMARY KEY, trace_id BLOB NOT NULL, span_id BLOB NOT NULL,"
        " parent_id BLOB, start_ns INTEGER NOT NULL, dur_ns INTEGER NOT NULL,"
        " service_id INTEGER NOT NULL, name_id INTEGER NOT NULL, kind INTEGER NOT NULL,"
        " status INTEGER NOT NULL, resource_id INTEGER NOT NULL, scope_id INTEGER NOT NULL);"
        "CREATE UNIQUE INDEX spans_key ON spans(trace_id, span_id);"
        "CREATE INDEX spans_start ON spans(start_ns);"
        "CREATE INDEX spans_op ON spans(service_id, name_id, start_ns);"
        "CREATE TABLE span_data(id INTEGER PRIMARY KEY, attrs BLOB, rest BLOB);"
        "CREATE TABLE logs(id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL, hkey INTEGER NOT NULL,"
        " service_id INTEGER NOT NULL, severity INTEGER NOT NULL, body TEXT, trace_id BLOB,"
        " span_id BLOB, resource_id INTEGER NOT NULL, scope_id INTEGER NOT NULL, rest BLOB);"
        "CREATE UNIQUE INDEX logs_key ON logs(time_ns, hkey);"
        "CREATE INDEX logs_trace ON logs(trace_id) WHERE trace_id IS NOT NULL;"
        "CREATE TABLE series(id INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, name_id INTEGER NOT NULL,"
        " service_id INTEGER NOT NULL, type INTEGER NOT NULL, resource_id INTEGER NOT NULL,"
        " scope_id INTEGER NOT NULL, meta BLOB, attrs BLOB);"
        "CREATE TABLE points(series_id INTEGER NOT NULL, time_ns INTEGER NOT NULL, value, rest BLOB,"
        " PRIMARY KEY(series_id, time_ns)) WITHOUT ROWID;"
        "CREATE INDEX points_time ON points(time_ns);",
        /* 1 -> 2: a summary row per trace, so that finding traces does not group spans. */
        "CREATE TABLE traces(trace_id BLOB PRIMARY KEY, start_ns INTEGER NOT NULL,"
        " end_ns INTEGER NOT NULL, spans INTEGER NOT NULL, errors INTEGER NOT NULL,"
        " has_root INTEGER NOT NULL, root_start_ns INTEGER NOT NULL, root_service_id INTEGER NOT NULL,"
        " root_name_id INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE INDEX traces_start ON traces(start_ns);"
        "INSERT INTO traces SELECT trace_id, min(start_ns), max(start_ns + dur_ns), count(*),"
        " sum(status = 2), max(parent_id IS NULL), 0, 0, 0 FROM spans GROUP BY trace_id;"
        "UPDATE traces SET (root_start_ns, root_service_id, root_name_id) = (SELECT start_ns, service_id,"
        " name_id FROM spans s WHERE s.trace_id = traces.trace_id ORDER BY parent_id IS NOT NULL,"
        " start_ns LIMIT 1);",
        /* 2 -> 3: spans clustered by trace. A trace gets an integer key (traces.trace_key,
         * given in order of arrival); its spans have rowids (trace_key << 24) + ordinal and
         * are unique on (trace_key, span_id), so appends write at the end of every span
         * b-tree instead of at random places, and a trace is one rowid range. */
        "CREATE TABLE traces3(trace_key INTEGER PRIMARY KEY, trace_id BLOB NOT NULL UNIQUE,"
        " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, spans INTEGER NOT NULL,"
        " errors INTEGER NOT NULL, has_root INTEGER NOT NULL, root_start_ns INTEGER NOT NULL,"
        " root_service_id INTEGER NOT NULL, root_name_id INTEGER NOT NULL);"
        "INSERT INTO traces3(trace_id, start_ns, end_ns, spans, errors, has_root, root_start_ns,"
        " root_service_id, root_name_id) SELECT trace_id, start_ns, end_ns, spans, errors, has_root,"
        " root_start_ns, root_service_id, root_name_id FROM traces ORDER BY start_ns, trace_id;"
        "CREATE TEMP TABLE span_ids3(old INTEGER PRIMARY KEY, new INTEGER NOT NULL, trace_key INTEGER);"
        "INSERT INTO span_ids3 SELECT s.id, (t.trace_key << 24) + row_number() OVER"
        " (PARTITION BY t.trace_key ORDER BY s.start_ns, s.id) - 1, t.trace_key"
        " FROM spans s JOIN traces3 t ON t.trace_id = s.trace_id;"
        "CREATE TABLE spans3(id INTEGER PRIMARY KEY, trace_key INTEGER NOT NULL, span_id BLOB NOT NULL,"
        " trace_id BLOB NOT NULL, parent_id BLOB, start_ns INTEGER NOT NULL, dur_ns INTEGER NOT NULL,"
        " service_id INTEGER NOT NULL, name_id INTEGER NOT NULL, kind INTEGER NOT NULL,"
        " status INTEGER NOT NULL, resource_id INTEGER NOT NULL, scope_id INTEGER NOT NULL);"
        "INSERT INTO spans3 SELECT m.new, m.trace_key, s.span_id, s.trace_id, s.parent_id, s.start_ns,"
        " s.dur_ns, s.service_id, s.name_id, s.kind, s.status, s.resource_id, s.scope_id"
        " FROM span_ids3 m JOIN spans s ON s.id = m.old ORDER BY m.new;"
        "CREATE TABLE span_data3(id INTEGER PRIMARY KEY, attrs BLOB, rest BLOB);"
        "INSERT INTO span_data3 SELECT m.new, d.attrs, d.rest FROM span_ids3 m JOIN span_data d"
        " ON d.id = m.old ORDER BY m.new;"
        "DROP TABLE span_ids3; DROP TABLE span_data; DROP TABLE spans; DROP TABLE traces;"
        "ALTER TABLE traces3 RENAME TO traces; ALTER TABLE spans3 RENAME TO spans;"
        "ALTER TABLE span_data3 RENAME TO span_data;"
        "CREATE INDEX traces_start ON traces(start_ns);"
        "CREATE UNIQUE INDEX spans_key ON spans(trace_key, span_id);"
        "CREATE INDEX spans_start ON spans(start_ns);"
        "CREATE INDEX spans_op ON spans(service_id, name_id, start_ns);",
        /* 3 -> 4: log templates. Records stored before have no template (NULL). No index
         * on template_id: it would cost every append, and the filter runs inside a time
         * window or over the whole table anyway. */
        "CREATE TABLE templates(id INTEGER PRIMARY KEY, text TEXT NOT NULL, count INTEGER NOT NULL,"
        " first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL);"
        "ALTER TABLE logs ADD COLUMN template_id INTEGER;",
        /* 4 -> 5: span_data.attrs written by version 5 may hold OpenTelemetry's well-known
         * attribute keys as 3-byte references (store_codec.c, sonde__enc_attrs_known), which
         * a version 4 sonde cannot read. Rows written before stay as they are: the
         * decoders read both forms. */
        "SELECT 1;",
        /* 5 -> 6: one time index that also holds the service and the operation, instead of
         * spans(start_ns) and spans(service_id, name_id, start_ns). The latter took each
         * span at one of as many places as there are operations, a descent from the root
         * and page splits in the middle: a quarter of an append's instructions. Filters on
         * service and operation are now read from the index inside a time window and by a
         * scan without one (docs/store.md, round 6). */
        ("DROP INDEX IF EXISTS spans_op; DROP INDEX IF EXISTS spans_start;"
         "CREATE INDEX IF NOT EXISTS spans_time ON spans(start_ns, service_id, name_id);"),
};

static int user_version(sq_store *s, int *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_rc(s, rc, "reading the schema version");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : sq_rc(s, rc, "reading the schema version");
}

static int table_count(sq_store *s, int *n)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_schema", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_rc(s, rc, "reading the schema");
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : sq_rc(s, rc, "reading the schema");
}

static int migrate(sq_store *s)
{
	int v = 0, rc;
	if ((rc = user_version(s, &v)) < 0)
		return rc;
	if (v > SCHEMA_VERSION)
		return sonde__store_fail(&s->base, SONDE_EFORMAT,
		                         "%s: schema version %d is newer than this sonde knows (%d); "
		                         "use a newer sonde",
		                         s->path, v, SCHEMA_VERSION);
	if (v == SCHEMA_VERSION)
		return 0;
	if (s->readonly)
		return sonde__store_fail(&s->base, SONDE_EFORMAT,
		                         "%s: schema version %d needs migrating to %d; open it once "
		                         "for writing",
		                         s->path, v, SCHEMA_VERSION);
	if ((rc = exec(s, "BEGIN IMMEDIATE")) < 0)
		return rc;
	/* Another process may have migrated while this one waited for the lock. */
	int n = 0;
	if ((rc = user_version(s, &v)) < 0 || (rc = table_count(s, &n)) < 0)
		goto fail;
	if (v == 0 && n > 0) {
		rc = sonde__store_fail(&s->base, SONDE_EFORMAT,
		                       "%s: a SQLite database, but not a sonde store (it has other tables)",
		                       s->path);
		goto fail;
	}
	for (; v < SCHEMA_VERSION; v++)
		if ((rc = exec(s, migrations[v])) < 0)
			goto fail;
	char sql[64];
	snprintf(sql, sizeof sql, "PRAGMA user_version = %d", SCHEMA_VERSION);
	if ((rc = exec(s, sql)) < 0 || (rc = exec(s, "COMMIT")) < 0)
		goto fail;
	return 0;
fail:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* ---- SQL functions ------------------------------------------------------------------- */

/* sonde_attr_eq(span_attrs, resource_data, key, value): 1 when the span's attribute key
 * (else the resource's) has the text value (or, value NULL, exists). */
static void fn_attr_eq(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const char *key = (const char *)sqlite3_value_text(argv[2]);
	const char *want =
	        sqlite3_value_type(argv[3]) == SQLITE_NULL ? NULL : (const char *)sqlite3_value_text(argv[3]);
	int want_len = sqlite3_value_bytes(argv[3]);
	if (!key) {
		sqlite3_result_int(ctx, 0);
		return;
	}
	size_t klen = strlen(key);
	sonde_buf b = SONDE_BUF_INIT;
	int found = 0;
	for (int i = 0; i < 2 && !found; i++) {
		const void *blob = sqlite3_value_blob(argv[i]);
		int n = sqlite3_value_bytes(argv[i]);
		if (!blob || n <= 0)
			continue;
		sonde_buf_reset(&b);
		found = sonde__attrs_find_text(blob, (size_t)n, key, klen, &b) == 1;
	}
	int eq = found &&
	         (!want || (b.len == (size_t)want_len && memcmp(b.data ? b.data : "", want, b.len) == 0));
	sonde_buf_release(&b);
	sqlite3_result_int(ctx, eq);
}

/* sonde_log_attrs(rest): the attribute part of a log record's rest blob. */
static void fn_log_attrs(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	sonde__dec d;
	const void *blob = sqlite3_value_blob(argv[0]);
	int n = sqlite3_value_bytes(argv[0]);
	if (!blob || n <= 0) {
		sqlite3_result_null(ctx);
		return;
	}
	sonde__dec_init(&d, NULL, blob, (size_t)n);
	uint64_t x;
	const uint8_t *p;
	if (sonde__dec_varint(&d, &x) < 0 || sonde__dec_varint(&d, &x) < 0 || sonde__dec_varint(&d, &x) < 0 ||
	    x > (uint64_t)(d.end - d.p)) {
		sqlite3_result_null(ctx);
		return;
	}
	p = d.p + x;
	sqlite3_result_blob(ctx, p, (int)(d.end - p), SQLITE_TRANSIENT);
}

/* ---- Open and close ------------------------------------------------------------------ */

static void ckpt_stop(sq_store *s);

static void sq_close(sonde_store *base)
{
	sq_store *s = (sq_store *)base;
	ckpt_stop(s); /* first: the writer's close then checkpoints and removes the log */
	sqlite3_stmt **stmts[] = {
	        &s->begin,          &s->commit,          &s->rollback,      &s->get_str_id,
	        &s->ins_str,        &s->get_str,         &s->get_res,       &s->ins_res,
	        &s->get_res_data,   &s->get_scope,       &s->ins_scope,     &s->get_scope_data,
	        &s->upsert_trace,   &s->last_log_id,     &s->log_id_of,     &s->get_series,
	        &s->ins_series,     &s->ins_point,       &s->get_trace_key, &s->last_span_id,
	        &s->last_trace_key, &s->upsert_template, &s->span_exists,   &s->last_data_id};
	for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
		sqlite3_finalize(*stmts[i]);
	for (int i = 0; i < MULTI_SIZES; i++) {
		sqlite3_finalize(s->ins_spans_n[i]);
		sqlite3_finalize(s->ins_span_data_n[i]);
		sqlite3_finalize(s->ins_traces_n[i]);
		sqlite3_finalize(s->ins_logs_n[i]);
	}
	sqlite3_close(s->db);
	sonde__keymap_release(&s->str_ids);
	sonde__keymap_release(&s->res_ids);
	sonde__keymap_release(&s->scope_ids);
	sonde__keymap_release(&s->series_ids);
	sonde__keymap_release(&s->traces);
	free(s->seen);
	free(s->rows);
	free(s->lrows);
	sonde__keymap_release(&s->tpl_ix);
	free(s->tpl_acc);
	free(s->strs);
	sonde_arena_release(&s->strs_arena);
	sonde_buf_release(&s->enc);
	sonde_buf_release(&s->enc2);
	sonde_buf_release(&s->row_spans);
	sonde_buf_release(&s->row_rest);
	sonde_buf_release(&s->key);
	free(s->path);
	free(s);
}

#define TRACE_BETTER_ROOT                                                                              \
	"(excluded.has_root > has_root OR (excluded.has_root = has_root AND excluded.root_start_ns < " \
	"root_start_ns))"

static int prepare_all(sq_store *s)
{
	int rc = 0;
	struct {
		sqlite3_stmt **st;
		const char *sql;
		bool write;
	} list[] = {
	        {&s->begin, "BEGIN IMMEDIATE", true},
	        {&s->commit, "COMMIT", true},
	        {&s->rollback, "ROLLBACK", true},
	        {&s->get_str_id, "SELECT id FROM strings WHERE s = ?1", false},
	        {&s->ins_str, "INSERT INTO strings(s) VALUES(?1)", true},
	        {&s->get_str, "SELECT s FROM strings WHERE id = ?1", false},
	        {&s->get_res, "SELECT id, service_id FROM resources WHERE hash = ?1", false},
	        {&s->ins_res, "INSERT INTO resources(hash, service_id, data) VALUES(?1, ?2, ?3)", true},
	        {&s->get_res_data, SQL_GET_RES_DATA, false},
	        {&s->get_scope, "SELECT id FROM scopes WHERE hash = ?1", false},
	        {&s->ins_scope, "INSERT INTO scopes(hash, data) VALUES(?1, ?2)", true},
	        {&s->get_scope_data, SQL_GET_SCOPE_DATA, false},
	        {&s->get_trace_key, "SELECT trace_key FROM traces WHERE trace_id = ?1", false},
	        {&s->last_span_id, "SELECT max(id) FROM spans WHERE id BETWEEN ?1 AND ?2", false},
	        {&s->last_trace_key, "SELECT max(trace_key) FROM traces", true},
	        {&s->last_data_id, "SELECT max(id) FROM span_data", true},
	        {&s->span_exists, "SELECT 1 FROM spans WHERE trace_key = ?1 AND span_id = ?2", true},
	        {&s->upsert_trace,
	         "INSERT INTO traces(trace_id, start_ns, end_ns, spans, errors, has_root, root_start_ns,"
	         " root_service_id, root_name_id, trace_key) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
	         " ON CONFLICT(trace_key) DO UPDATE SET start_ns = min(start_ns, excluded.start_ns),"
	         " end_ns = max(end_ns, excluded.end_ns), spans = spans + excluded.spans,"
	         " errors = errors + excluded.errors,"
	         " root_service_id = CASE WHEN " TRACE_BETTER_ROOT
	         " THEN excluded.root_service_id ELSE root_service_id END,"
	         " root_name_id = CASE WHEN " TRACE_BETTER_ROOT
	         " THEN excluded.root_name_id ELSE root_name_id END,"
	         " root_start_ns = CASE WHEN " TRACE_BETTER_ROOT
	         " THEN excluded.root_start_ns ELSE root_start_ns END,"
	         " has_root = max(has_root, excluded.has_root)",
	         true},
	        {&s->last_log_id, "SELECT max(id) FROM logs", true},
	        {&s->log_id_of, "SELECT id FROM logs WHERE time_ns = ?1 AND hkey = ?2", true},
	        {&s->upsert_template,
	         "INSERT INTO templates(id, text, count, first_ns, last_ns) VALUES(?1, ?2, ?3, ?4, ?5)"
	         " ON CONFLICT(id) DO UPDATE SET count = count + excluded.count,"
	         " first_ns = min(first_ns, excluded.first_ns), last_ns = max(last_ns, excluded.last_ns)",
	         true},
	        {&s->get_series, "SELECT id FROM series WHERE hash = ?1", false},
	        {&s->ins_series,
	         "INSERT INTO series(hash, name_id, service_id, type, resource_id, scope_id, meta, attrs)"
	         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	         true},
	        {&s->ins_point,
	         "INSERT OR IGNORE INTO points(series_id, time_ns, value, rest) VALUES(?1, ?2, ?3, ?4)",
	         true},
	};
	for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
		if (list[i].write && s->readonly)
			continue;
		if ((rc = prep(s, list[i].st, list[i].sql)) < 0)
			return rc;
	}
	return 0;
}

/* Process-wide SQLite settings, made once before the first connection: no memory
 * statistics, which sonde never reads and which cost a global mutex around every one of
 * SQLite's allocations (several per inserted row). When SQLite was started before (by
 * something else in the process), the call is refused and changes nothing. */
static void sqlite_setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* ---- Checkpoints off the commit path ---------------------------------------------------- */

/* Called by SQLite on the writer's thread after each commit with the log's size. */
static int ckpt_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	(void)name;
	sq_ckpt *c = arg;
	pthread_mutex_lock(&c->mu);
	c->wal_pages = pages;
	if (pages >= CKPT_PAGES)
		pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	/* The writer starts the log over only once all of it is copied, and the thread,
	 * copying while the writer adds, may never catch up with its end: past twice the
	 * threshold the writer copies the rest itself (little: the thread copied the bulk;
	 * busy, and so skipped, while the thread runs one). */
	if (pages >= 2 * CKPT_PAGES)
		sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

static void *ckpt_main(void *arg)
{
	sq_ckpt *c = arg;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->stop && c->wal_pages < CKPT_PAGES)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->stop)
			break;
		c->wal_pages = 0; /* the next commit tells again how big the log is */
		pthread_mutex_unlock(&c->mu);
		/* PASSIVE: copies what no reader still needs, without waiting for anyone; the
		 * writer starts the log over at its next commit once all of it is copied. */
		sqlite3_wal_checkpoint_v2(c->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* Starts the checkpoint thread of a writable WAL store; without it (no memory, no
 * thread, a connection that cannot open) the store keeps SQLite's own checkpoints. */
static void ckpt_start(sq_store *s, const char *target)
{
	if (s->readonly || strcmp(target, ":memory:") == 0)
		return;
	sq_ckpt *c = calloc(1, sizeof *c);
	if (!c)
		return;
	if (sqlite3_open_v2(target, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
	                    sonde__sqlite_writeback_vfs()) != SQLITE_OK ||
	    sqlite3_exec(c->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(c->db);
		free(c);
		return;
	}
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (pthread_create(&c->th, NULL, ckpt_main, c) != 0) {
		pthread_cond_destroy(&c->cv);
		pthread_mutex_destroy(&c->mu);
		sqlite3_close(c->db);
		free(c);
		return;
	}
	s->ckpt = c;
	sqlite3_wal_hook(s->db, ckpt_wal_hook, c); /* replaces the automatic checkpoints */
	/* When the log starts over, its file is cut back to twice the threshold (at the page
	 * size of a new store): a burst the thread could not keep up with (a starved thread,
	 * a long reader) leaves no oversized file behind. */
	sqlite3_exec(s->db, "PRAGMA journal_size_limit = 8388608", NULL, NULL, NULL);
}

static void ckpt_stop(sq_store *s)
{
	sq_ckpt *c = s->ckpt;
	if (!c)
		return;
	sqlite3_wal_hook(s->db, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->th, NULL);
	sqlite3_close(c->db);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	s->ckpt = NULL;
}

static int sq_open(const char *target, unsigned flags, sonde_store **out, char *errmsg, size_t errmsg_len)
{
	static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
	pthread_once(&setup_once, sqlite_setup);
	sq_store *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->path = strdup(target);
	if (!s->path) {
		free(s);
		return -ENOMEM;
	}
	s->base.ops = &sonde__store_sqlite_ops;
	s->readonly = flags & SONDE_STORE_READONLY;
	sonde__keymap_init(&s->str_ids);
	sonde__keymap_init(&s->res_ids);
	sonde__keymap_init(&s->scope_ids);
	sonde__keymap_init(&s->series_ids);
	sonde__keymap_init(&s->traces);
	sonde__keymap_init(&s->tpl_ix);
	sonde_arena_init(&s->strs_arena);
	int rc;
	struct stat stt;
	if ((flags & (SONDE_STORE_READONLY | SONDE_STORE_NOCREATE)) && stat(target, &stt) != 0) {
		rc = sonde__store_fail(&s->base, -errno, "%s: %s", target, strerror(errno));
		goto fail;
	}
	int oflags = s->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	/* A writer writes through the VFS that starts write-back early (store_writeback.c). */
	int src = sqlite3_open_v2(target, &s->db, oflags | SQLITE_OPEN_NOMUTEX,
	                          s->readonly ? NULL : sonde__sqlite_writeback_vfs());
	if (src != SQLITE_OK) {
		rc = sonde__store_fail(&s->base, src == SQLITE_CANTOPEN ? -ENOENT : -EIO,
		                       "%s: cannot open: %s", target,
		                       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(src));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 0);
	sqlite3_busy_timeout(s->db, 10000);
	/* The first statement reads the header: a file that is not a database fails here. */
	/* secure_delete (on in Debian's build) zeroes every new page and every cell an
	 * append moves or replaces: about 760 instructions a span, for bytes that are not
	 * deleted data but stale copies of live rows. Off for appends; prune, which does
	 * delete, turns it on for its transaction (sq_prune). */
	if ((rc = exec(s,
	               "PRAGMA synchronous = NORMAL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536;"
	               " PRAGMA mmap_size = 1073741824; PRAGMA secure_delete = OFF")) < 0)
		goto fail_db;
	int v = 0;
	if ((rc = user_version(s, &v)) < 0)
		goto fail_db;
	/* A new store gets bigger pages than SQLite's 4 KB default: fewer, shallower b-trees and
	 * fewer page writes per appended record. Only possible before the first table. */
	int ntables = 0;
	if (!s->readonly && v == 0 && (rc = table_count(s, &ntables)) == 0 && ntables == 0)
		rc = exec(s, "PRAGMA page_size = " PAGE_SIZE_NEW);
	if (rc < 0)
		goto fail_db;
	/* Checkpoints (which sync) every 32 MB of log rather than every 4 MB. */
	if (!s->readonly && (rc = exec(s, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 8192")) < 0)
		goto fail_db;
	if ((rc = migrate(s)) < 0)
		goto fail;
	if (sqlite3_create_function(s->db, "sonde_attr_eq", 4, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
	                            fn_attr_eq, NULL, NULL) != SQLITE_OK ||
	    sqlite3_create_function(s->db, "sonde_log_attrs", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
	                            fn_log_attrs, NULL, NULL) != SQLITE_OK) {
		rc = sq_rc(s, SQLITE_ERROR, "registering functions");
		goto fail;
	}
	if ((rc = prepare_all(s)) < 0)
		goto fail;
	if (flags & SONDE_STORE_BG_CHECKPOINT)
		ckpt_start(s, target);
	*out = &s->base;
	return 0;
fail_db:
	if (rc == SONDE_EFORMAT || rc == -EIO) {
		rc = sonde__store_fail(&s->base, SONDE_EFORMAT, "%s: not a sonde store (%s)", target,
		                       sqlite3_errmsg(s->db));
	}
fail:
	if (errmsg && errmsg_len)
		snprintf(errmsg, errmsg_len, "%s", s->base.errmsg);
	sq_close(&s->base);
	return rc;
}

/* ---- Strings, resources, scopes ------------------------------------------------------ */

/* Id of string str (inserted when new, unless lookup_only: then 0 when absent). */
static int string_id(sq_store *s, const char *str, size_t n, bool lookup_only, int64_t *id)
{
	uint64_t h = sonde__keymap_hash(str, n);
	int64_t got = id_get(&s->str_ids, str, n, h);
	if (got) {
		*id = got;
		return 0;
	}
	sqlite3_bind_text(s->get_str_id, 1, str, (int)n, SQLITE_STATIC);
	int rc = sqlite3_step(s->get_str_id);
	if (rc == SQLITE_ROW)
		got = sqlite3_column_int64(s->get_str_id, 0);
	sqlite3_reset(s->get_str_id);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_rc(s, rc, "reading strings");
	if (!got) {
		if (lookup_only) {
			*id = 0;
			return 0;
		}
		sqlite3_bind_text(s->ins_str, 1, str, (int)n, SQLITE_STATIC);
		if ((rc = step_done(s, s->ins_str)) < 0)
			return rc;
		got = sqlite3_last_insert_rowid(s->db);
	}
	*id = got;
	return id_put(&s->str_ids, str, n, h, got);
}

/* The string with this id, or "" when there is none. */
static int string_of(sq_store *s, int64_t id, sonde_str *out)
{
	*out = SONDE_STR_LIT("");
	if (id <= 0)
		return 0;
	if ((uint64_t)id < s->strs_cap && s->strs[id].ptr) {
		*out = s->strs[id];
		return 0;
	}
	if ((uint64_t)id >= s->strs_cap) {
		size_t cap = s->strs_cap ? s->strs_cap : 256;
		while (cap <= (uint64_t)id)
			cap *= 2;
		sonde_str *n = realloc(s->strs, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		memset(n + s->strs_cap, 0, (cap - s->strs_cap) * sizeof *n);
		s->strs = n;
		s->strs_cap = cap;
	}
	sqlite3_bind_int64(s->get_str, 1, id);
	int rc = sqlite3_step(s->get_str);
	if (rc == SQLITE_ROW) {
		const char *t = (const char *)sqlite3_column_text(s->get_str, 0);
		size_t n = (size_t)sqlite3_column_bytes(s->get_str, 0);
		char *copy = sonde_arena_strndup(&s->strs_arena, t ? t : "", n);
		if (!copy) {
			sqlite3_reset(s->get_str);
			return -ENOMEM;
		}
		s->strs[id] = (sonde_str){copy, n};
		*out = s->strs[id];
	}
	sqlite3_reset(s->get_str);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_rc(s, rc, "reading strings");
}

static void digest(const void *p, size_t n, uint8_t out[16])
{
	uint64_t a = sonde_hash_bytes(p, n, 0x736f6e6465ULL),
	         b = sonde_hash_bytes(p, n, 0x9e3779b97f4a7c15ULL);
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

typedef struct res_ref {
	int64_t id, service_id;
	uint8_t hash[16];
} res_ref;

/* Finds or inserts a resource (scope when is_scope) by the hash of its encoding. */
static int blob_id(sq_store *s, bool is_scope, const void *res, res_ref *ref)
{
	sonde_buf *e = &s->enc2;
	sonde_buf_reset(e);
	if (is_scope)
		sonde__enc_scope(e, res);
	else
		sonde__enc_resource(e, res);
	if (e->oom)
		return -ENOMEM;
	digest(e->data, e->len, ref->hash);
	sonde__keymap *m = is_scope ? &s->scope_ids : &s->res_ids;
	uint64_t h = sonde__keymap_hash(ref->hash, 16);
	ref->service_id = 0;
	int64_t got = id_get(m, ref->hash, 16, h);
	/* A cached resource id packs the service id in the high half: both are small. */
	if (got) {
		ref->id = got & 0xffffffff;
		ref->service_id = got >> 32;
		return 0;
	}
	sqlite3_stmt *get = is_scope ? s->get_scope : s->get_res;
	sqlite3_bind_blob(get, 1, ref->hash, 16, SQLITE_STATIC);
	int rc = sqlite3_step(get);
	if (rc == SQLITE_ROW) {
		got = sqlite3_column_int64(get, 0);
		if (!is_scope)
			ref->service_id = sqlite3_column_int64(get, 1);
	}
	sqlite3_reset(get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_rc(s, rc, "reading resources");
	if (!got) {
		if (!is_scope) {
			const sonde_value *v =
			        sonde_attrs_get(&((const sonde_resource *)res)->attrs, "service.name");
			const char *svc = v && v->kind == SONDE_VAL_STRING ? v->u.str.ptr : "";
			size_t svc_len = v && v->kind == SONDE_VAL_STRING ? v->u.str.len : 0;
			if ((rc = string_id(s, svc, svc_len, false, &ref->service_id)) < 0)
				return rc;
			sqlite3_bind_blob(s->ins_res, 1, ref->hash, 16, SQLITE_STATIC);
			sqlite3_bind_int64(s->ins_res, 2, ref->service_id);
			sqlite3_bind_blob(s->ins_res, 3, e->data, (int)e->len, SQLITE_STATIC);
			rc = step_done(s, s->ins_res);
		} else {
			sqlite3_bind_blob(s->ins_scope, 1, ref->hash, 16, SQLITE_STATIC);
			sqlite3_bind_blob(s->ins_scope, 2, e->data, (int)e->len, SQLITE_STATIC);
			rc = step_done(s, s->ins_scope);
		}
		if (rc < 0)
			return rc;
		got = sqlite3_last_insert_rowid(s->db);
	}
	ref->id = got;
	if (got > 0xffffffff || ref->service_id > 0x7fffffff)
		return 0; /* too big to pack: not cached */
	return id_put(m, ref->hash, 16, h, got | ref->service_id << 32);
}

/* Per-append lookups of a batch's resource and scope objects. */
typedef struct ref_cache {
	sonde_ptrmap map;
	sonde_arena arena;
} ref_cache;

static int ref_of(sq_store *s, ref_cache *c, bool is_scope, const void *obj, const res_ref **out)
{
	sonde_ptrmap_key k = {obj, NULL, is_scope};
	res_ref *r = sonde_ptrmap_find(&c->map, k);
	if (r) {
		*out = r;
		return 0;
	}
	r = sonde_arena_alloc(&c->arena, sizeof *r);
	if (!r)
		return -ENOMEM;
	int rc = blob_id(s, is_scope, obj, r);
	if (rc < 0 || (rc = sonde_ptrmap_add(&c->map, k, r)) < 0)
		return rc;
	*out = r;
	return 0;
}

/* ---- Append ---------------------------------------------------------------------------- */

/* A span's rowid: its trace's key in the high bits, its ordinal in the trace below. */
enum { SPAN_ORD_BITS = 24 };
#define SPAN_ORD_MAX ((int64_t)1 << SPAN_ORD_BITS)

typedef struct trace_acc {
	uint8_t id[16];
	int64_t key;      /* traces.trace_key */
	int64_t next_ord; /* the ordinal of the trace's next stored span */
	uint64_t start, end, root_start;
	uint32_t spans, errors; /* of the spans inserted by this append */
	bool stored;            /* the store held the trace before this append */
	bool has_root;
	int64_t root_service, root_name;
} trace_acc;

/* A span row waiting for its INSERT: the span, its ids, and where its span_data blobs are
 * (sonde_store_encode_spans): in s->row_spans, or in the caller's encoding
 * (sonde_append_opts.span_enc_data) when the append has one. */
typedef struct span_row {
	const sonde_span_data *sp;
	int64_t rowid, key, service, name, res, scope;
	sonde_span_enc enc;
} span_row;

/* Finds (or gives) the key of every trace of b and where its next span goes: an existing
 * trace continues after its last stored span, a new one gets the next key. tix[i] is
 * span i's index in *accp. */
static int trace_keys(sq_store *s, const sonde_batch *b, trace_acc **accp, size_t *acc_np, uint32_t *tix)
{
	trace_acc *acc = NULL;
	size_t acc_n = 0, acc_cap = 0;
	int64_t next_key = 0;
	int rc = 0;
	sonde__keymap_clear(&s->traces);
	for (size_t i = 0; i < b->spans_count; i++) {
		const uint8_t *tid = b->spans[i].trace_id;
		uint64_t h = sonde__keymap_hash(tid, 16);
		int64_t idx = id_get(&s->traces, tid, 16, h);
		if (idx) {
			tix[i] = (uint32_t)(idx - 1);
			continue;
		}
		if (acc_n == acc_cap) {
			size_t cap = acc_cap ? acc_cap * 2 : 64;
			trace_acc *na = realloc(acc, cap * sizeof *na);
			if (!na) {
				rc = -ENOMEM;
				goto fail;
			}
			acc = na;
			acc_cap = cap;
		}
		if ((rc = id_put(&s->traces, tid, 16, h, (int64_t)acc_n + 1)) < 0)
			goto fail;
		trace_acc *t = &acc[acc_n];
		memset(t, 0, sizeof *t);
		memcpy(t->id, tid, 16);
		tix[i] = (uint32_t)acc_n++;
		sqlite3_bind_blob(s->get_trace_key, 1, tid, 16, SQLITE_STATIC);
		int src = sqlite3_step(s->get_trace_key);
		if (src == SQLITE_ROW)
			t->key = sqlite3_column_int64(s->get_trace_key, 0);
		sqlite3_reset(s->get_trace_key);
		if (src != SQLITE_ROW && src != SQLITE_DONE) {
			rc = sq_rc(s, src, "reading traces");
			goto fail;
		}
		if (t->key) {
			t->stored = true;
			int64_t base = t->key * SPAN_ORD_MAX;
			sqlite3_bind_int64(s->last_span_id, 1, base);
			sqlite3_bind_int64(s->last_span_id, 2, base + SPAN_ORD_MAX - 1);
			src = sqlite3_step(s->last_span_id);
			if (src == SQLITE_ROW && sqlite3_column_type(s->last_span_id, 0) == SQLITE_INTEGER)
				t->next_ord = sqlite3_column_int64(s->last_span_id, 0) - base + 1;
			sqlite3_reset(s->last_span_id);
			if (src != SQLITE_ROW) {
				rc = sq_rc(s, src, "reading spans");
				goto fail;
			}
			continue;
		}
		if (!next_key) {
			src = sqlite3_step(s->last_trace_key);
			next_key = src == SQLITE_ROW ? sqlite3_column_int64(s->last_trace_key, 0) + 1 : 0;
			sqlite3_reset(s->last_trace_key);
			if (src != SQLITE_ROW) {
				rc = sq_rc(s, src, "reading traces");
				goto fail;
			}
		}
		if (next_key >= INT64_MAX / SPAN_ORD_MAX) {
			rc = sonde__store_fail(&s->base, -EOVERFLOW, "%s: no trace keys left", s->path);
			goto fail;
		}
		t->key = next_key++;
	}
	*accp = acc;
	*acc_np = acc_n;
	return 0;
fail:
	free(acc);
	return rc;
}

/* The statement inserting 2^lg rows: `head`, that many `row`s (comma-separated), `tail`. */
static int multi_stmt(sq_store *s, sqlite3_stmt **slot, const char *head, const char *row, const char *tail,
                      int lg)
{
	if (*slot)
		return 0;
	sonde_buf sql = SONDE_BUF_INIT;
	sonde_buf_puts(&sql, head);
	for (int r = 0; r < 1 << lg; r++) {
		if (r)
			sonde_buf_putc(&sql, ',');
		sonde_buf_puts(&sql, row);
	}
	sonde_buf_puts(&sql, tail);
	sonde_buf_putc(&sql, '\0');
	int rc = sql.oom ? sonde__store_fail(&s->base, -ENOMEM, "out of memory") : prep(s, slot, sql.data);
	sonde_buf_release(&sql);
	return rc;
}

#define SQL_INS_SPANS                                                                                       \
	"INSERT OR IGNORE INTO spans(trace_id, span_id, parent_id, start_ns, dur_ns, service_id, name_id, " \
	"kind, status, resource_id, scope_id, id, trace_key) VALUES"
#define SQL_INS_SPANS_ROW     "(?,?,?,?,?,?,?,?,?,?,?,?,?)"
#define SQL_INS_SPAN_DATA     "INSERT OR IGNORE INTO span_data(id, attrs, rest) VALUES"
#define SQL_INS_SPAN_DATA_ROW "(?,?,?)"
#define SQL_INS_TRACES                                                                                     \
	"INSERT OR IGNORE INTO traces(trace_id, start_ns, end_ns, spans, errors, has_root, root_start_ns," \
	" root_service_id, root_name_id, trace_key) VALUES"
#define SQL_INS_TRACES_ROW "(?,?,?,?,?,?,?,?,?,?)"

/* Steps a multi-row INSERT of n rows, all of which must be new: the append decided that
 * before (OR IGNORE only spares SQLite a statement journal). */
static int step_rows(sq_store *s, sqlite3_stmt *st, int n, const char *what)
{
	int rc = step_done(s, st);
	if (rc == 0 && sqlite3_changes(s->db) != n)
		rc = sonde__store_fail(&s->base, SONDE_EFORMAT, "%s: %s: %d of %d rows were already stored",
		                       s->path, what, n - sqlite3_changes(s->db), n);
	return rc;
}

/* One multi-row statement of a write_chunks() call: prepares (multi_stmt) the statement of
 * 2^lg rows, binds rows [first, first + 2^lg) of what ctx points at, and steps it. */
typedef int (*chunk_fn)(sq_store *s, void *ctx, int lg, size_t first);

/* Writes n rows (at most MULTI_ROWS) by statements of 2^i rows, the largest first. */
static int write_chunks(sq_store *s, size_t n, chunk_fn fn, void *ctx)
{
	size_t done = 0;
	for (int lg = MULTI_SIZES - 1; lg >= 0; lg--) {
		if (n - done < (size_t)1 << lg)
			continue;
		int rc = fn(s, ctx, lg, done);
		if (rc < 0)
			return rc;
		done += (size_t)1 << lg;
	}
	return 0;
}

/* Binds rowid id at parameter i of q, a row of a table whose largest rowid is *tail. The
 * row that comes next (id == *tail + 1, every span of a new trace but its first) is
 * given NULL, for which SQLite takes the table's largest rowid plus one (the same id)
 * from its cursor, which an insert leaves on the last row; an explicit rowid is looked
 * up from the root of the b-tree first (OP_NotExists), about 1,300 instructions a row
 * (docs/store.md, round 8). */
static void tail_row(sqlite3_stmt *q, int i, int64_t id, int64_t *tail)
{
	if (id == *tail + 1)
		sqlite3_bind_null(q, i);
	else
		sqlite3_bind_int64(q, i, id);
	if (id > *tail)
		*tail = id;
}

/* The statement inserted its rows under the ids the append gave them: the last one's is
 * the one SQLite reports (a NULL id given by tail_row took the one intended). */
static int check_tail(sq_store *s, int64_t want, const char *what)
{
	sqlite3_int64 got = sqlite3_last_insert_rowid(s->db);
	if (got == want)
		return 0;
	return sonde__store_fail(&s->base, SONDE_EFORMAT, "%s: %s: row stored as %lld, not %lld", s->path,
	                         what, (long long)got, (long long)want);
}

/* Inserts span rows [first, first + 2^lg) of s->rows and their span_data (write_chunks);
 * ctx: the buffer the rows' blob offsets are in. */
static int span_chunk(sq_store *s, void *ctx, int lg, size_t first)
{
	const uint8_t *blobs = ctx;
	int m = 1 << lg, rc;
	if ((rc = multi_stmt(s, &s->ins_spans_n[lg], SQL_INS_SPANS, SQL_INS_SPANS_ROW, "", lg)) < 0 ||
	    (rc = multi_stmt(s, &s->ins_span_data_n[lg], SQL_INS_SPAN_DATA, SQL_INS_SPAN_DATA_ROW, "", lg)) <
	            0)
		return rc;
	sqlite3_stmt *q = s->ins_spans_n[lg], *d = s->ins_span_data_n[lg];
	for (int r = 0; r < m; r++) {
		const span_row *w = &s->rows[first + (size_t)r];
		const sonde_span_data *sp = w->sp;
		int o = r * 13;
		sqlite3_bind_blob(q, o + 1, sp->trace_id, 16, SQLITE_STATIC);
		sqlite3_bind_blob(q, o + 2, sp->span_id, 8, SQLITE_STATIC);
		if (sonde_id_is_zero(sp->parent_span_id, 8))
			sqlite3_bind_null(q, o + 3);
		else
			sqlite3_bind_blob(q, o + 3, sp->parent_span_id, 8, SQLITE_STATIC);
		sqlite3_bind_int64(q, o + 4, (int64_t)sp->start_ns);
		sqlite3_bind_int64(q, o + 5, (int64_t)(sp->end_ns - sp->start_ns));
		sqlite3_bind_int64(q, o + 6, w->service);
		sqlite3_bind_int64(q, o + 7, w->name);
		sqlite3_bind_int(q, o + 8, (int)sp->kind);
		sqlite3_bind_int(q, o + 9, (int)sp->status_code);
		sqlite3_bind_int64(q, o + 10, w->res);
		sqlite3_bind_int64(q, o + 11, w->scope);
		tail_row(q, o + 12, w->rowid, &s->tail_spans);
		sqlite3_bind_int64(q, o + 13, w->key);
		o = r * 3;
		tail_row(d, o + 1, w->rowid, &s->tail_data);
		if (w->enc.attrs_len)
			sqlite3_bind_blob(d, o + 2, blobs + w->enc.attrs_off, (int)w->enc.attrs_len,
			                  SQLITE_STATIC);
		else
			sqlite3_bind_null(d, o + 2);
		sqlite3_bind_blob(d, o + 3, blobs + w->enc.rest_off, (int)w->enc.rest_len, SQLITE_STATIC);
	}
	int64_t last = s->rows[first + (size_t)m - 1].rowid;
	if ((rc = step_rows(s, q, m, "spans")) < 0 || (rc = check_tail(s, last, "spans")) < 0 ||
	    (rc = step_rows(s, d, m, "span_data")) < 0)
		return rc;
	return check_tail(s, last, "span_data");
}

/* Inserts the n (at most MULTI_ROWS) span rows waiting in s->rows, and their span_data,
 * whose blobs are in pre (the caller's encoding) or, when it is NULL, in s->row_spans;
 * then empties s->row_spans. */
static int flush_span_rows(sq_store *s, size_t n, const uint8_t *pre)
{
	int rc = write_chunks(s, n, span_chunk, (void *)(pre ? pre : (const uint8_t *)s->row_spans.data));
	sonde_buf_reset(&s->row_spans);
	return rc;
}

/* Binds trace t's row at parameters o + 1 .. o + 10 of q: the order of SQL_INS_TRACES_ROW
 * and of upsert_trace. */
static void bind_trace(sqlite3_stmt *q, int o, const trace_acc *t)
{
	sqlite3_bind_blob(q, o + 1, t->id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(q, o + 2, (int64_t)t->start);
	sqlite3_bind_int64(q, o + 3, (int64_t)t->end);
	sqlite3_bind_int64(q, o + 4, t->spans);
	sqlite3_bind_int64(q, o + 5, t->errors);
	sqlite3_bind_int(q, o + 6, t->has_root);
	sqlite3_bind_int64(q, o + 7, (int64_t)t->root_start);
	sqlite3_bind_int64(q, o + 8, t->root_service);
	sqlite3_bind_int64(q, o + 9, t->root_name);
	sqlite3_bind_int64(q, o + 10, t->key);
}

/* Inserts the rows of new traces [first, first + 2^lg) of the array ctx (write_chunks). */
static int trace_chunk(sq_store *s, void *ctx, int lg, size_t first)
{
	const trace_acc *const *batch = ctx;
	int rc = multi_stmt(s, &s->ins_traces_n[lg], SQL_INS_TRACES, SQL_INS_TRACES_ROW, "", lg);
	if (rc < 0)
		return rc;
	sqlite3_stmt *q = s->ins_traces_n[lg];
	for (int r = 0; r < 1 << lg; r++)
		bind_trace(q, r * 10, batch[first + (size_t)r]);
	return step_rows(s, q, 1 << lg, "traces");
}

/* Writes the traces rows of this append: new traces MULTI_ROWS at a time, stored ones
 * through the upsert, which merges into their row. */
static int store_traces(sq_store *s, const trace_acc *acc, size_t acc_n)
{
	const trace_acc *batch[MULTI_ROWS];
	size_t nb = 0;
	int rc = 0;
	for (size_t i = 0; i < acc_n && rc == 0; i++) {
		const trace_acc *t = &acc[i];
		if (!t->spans)
			continue;
		if (t->stored) {
			bind_trace(s->upsert_trace, 0, t);
			rc = step_done(s, s->upsert_trace);
			continue;
		}
		batch[nb++] = t;
		if (nb == MULTI_ROWS) {
			rc = write_chunks(s, nb, trace_chunk, (void *)batch);
			nb = 0;
		}
	}
	return rc < 0 ? rc : write_chunks(s, nb, trace_chunk, (void *)batch);
}

/* A span met in this append: its span id and 1 + its trace's index (0: a free slot). */
typedef struct span_key {
	uint64_t span_id;
	uint32_t trace; /* 1 + index in the append's trace_acc array */
} span_key;

/* Empties the set of spans met, sized for n spans (at most half full). */
static int seen_reset(sq_store *s, size_t n)
{
	size_t cap = 64;
	while (cap < 2 * n)
		cap *= 2;
	if (cap > s->seen_cap) {
		span_key *e = realloc(s->seen, cap * sizeof *e);
		if (!e)
			return -ENOMEM;
		s->seen = e;
		s->seen_cap = cap;
	} else {
		cap = s->seen_cap;
	}
	memset(s->seen, 0, cap * sizeof *s->seen);
	return 0;
}

/* Adds (ti, span id) to the set of spans met; false when it was there already. The keys
 * sit in the slots themselves: span ids are random, so they hash themselves. */
static bool seen_add(sq_store *s, uint32_t ti, const uint8_t id[8])
{
	uint64_t sid;
	memcpy(&sid, id, 8);
	size_t mask = s->seen_cap - 1;
	for (size_t i = (sid ^ (sid >> 29) ^ ti * 0x9e3779b97f4a7c15ULL) & mask;; i = (i + 1) & mask) {
		span_key *e = &s->seen[i];
		if (!e->trace) {
			e->span_id = sid;
			e->trace = ti + 1;
			return true;
		}
		if (e->span_id == sid && e->trace == ti + 1)
			return false;
	}
}

/* Whether span sp of trace t (index ti in this append) is new: not stored before, and
 * not met earlier in this append. */
static int span_is_new(sq_store *s, const trace_acc *t, uint32_t ti, const sonde_span_data *sp, bool *isnew)
{
	*isnew = false;
	if (!seen_add(s, ti, sp->span_id))
		return 0;
	if (t->stored) {
		sqlite3_bind_int64(s->span_exists, 1, t->key);
		sqlite3_bind_blob(s->span_exists, 2, sp->span_id, 8, SQLITE_STATIC);
		int src = sqlite3_step(s->span_exists);
		sqlite3_reset(s->span_exists);
		if (src == SQLITE_ROW)
			return 0;
		if (src != SQLITE_DONE)
			return sq_rc(s, src, "reading spans");
	}
	*isnew = true;
	return 0;
}

/* The largest rowid of a table (0 when it is empty) into *tail: q is last_span_id (lo
 * >= 0, given the whole range) or last_data_id (lo < 0). */
static int table_tail(sq_store *s, sqlite3_stmt *q, int64_t lo, int64_t *tail)
{
	if (lo >= 0) {
		sqlite3_bind_int64(q, 1, lo);
		sqlite3_bind_int64(q, 2, INT64_MAX);
	}
	int src = sqlite3_step(q);
	*tail = src == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	sqlite3_reset(q);
	return src == SQLITE_ROW ? 0 : sq_rc(s, src, "reading spans");
}

/* Appends b's spans. Which spans are new is decided first (a new trace has no stored
 * spans; a stored trace's are looked up; a span repeated in the batch counts once), so
 * that the rows go in by multi-row INSERTs: one statement keeps SQLite's cursors open
 * over MULTI_ROWS rows, and rows that arrive in key order take its append paths instead
 * of a descent from the root per b-tree per row (about a third of the instructions of a
 * span row and its three indexes, measured with callgrind). */
static int append_spans(sq_store *s, const sonde_batch *b, const sonde_append_opts *opts, ref_cache *rc_cache,
                        sonde_append_stats *st)
{
	const sonde_span_enc *enc = opts ? opts->span_enc : NULL;
	const uint8_t *pre = enc ? opts->span_enc_data : NULL;
	trace_acc *acc = NULL;
	size_t acc_n = 0, nrows = 0;
	if (!b->spans_count)
		return 0;
	if (b->spans_count > UINT32_MAX)
		return sonde__store_fail(&s->base, -E2BIG, "%s: too many spans in one batch", s->path);
	uint32_t *tix = malloc(b->spans_count * sizeof *tix);
	if (!tix)
		return -ENOMEM;
	if (!s->rows && !(s->rows = malloc(MULTI_ROWS * sizeof *s->rows))) {
		free(tix);
		return -ENOMEM;
	}
	if (seen_reset(s, b->spans_count) < 0) {
		free(tix);
		return -ENOMEM;
	}
	sonde_buf_reset(&s->row_spans);
	int rc = trace_keys(s, b, &acc, &acc_n, tix);
	if (rc < 0 || (rc = table_tail(s, s->last_span_id, 0, &s->tail_spans)) < 0 ||
	    (rc = table_tail(s, s->last_data_id, -1, &s->tail_data)) < 0)
		goto out;
	/* Consecutive spans mostly share their resource and scope objects, and a few names
	 * (interned, so the same pointer) repeat: those lookups are remembered by pointer for
	 * this append, during which the batch does not change. */
	const sonde_resource *last_res = NULL;
	const sonde_scope *last_scope = NULL;
	const res_ref *res = NULL, *scope = NULL;
	struct {
		const char *ptr;
		size_t len;
		int64_t id;
	} names[16] = {{0}};
	for (size_t i = 0; i < b->spans_count; i++) {
		const sonde_span_data *sp = &b->spans[i];
		trace_acc *t = &acc[tix[i]];
		int64_t name_id;
		bool isnew;
		if ((rc = span_is_new(s, t, tix[i], sp, &isnew)) < 0)
			goto out;
		if (!isnew) {
			st->spans_present++;
			continue;
		}
		if (sp->resource != last_res || !res) {
			if ((rc = ref_of(s, rc_cache, false, sp->resource, &res)) < 0)
				goto out;
			last_res = sp->resource;
		}
		if (sp->scope != last_scope || !scope) {
			if ((rc = ref_of(s, rc_cache, true, sp->scope, &scope)) < 0)
				goto out;
			last_scope = sp->scope;
		}
		size_t slot = ((uintptr_t)sp->name.ptr >> 3 ^ sp->name.len) & 15;
		if (names[slot].ptr && names[slot].ptr == sp->name.ptr && names[slot].len == sp->name.len) {
			name_id = names[slot].id;
		} else {
			if ((rc = string_id(s, sp->name.ptr, sp->name.len, false, &name_id)) < 0)
				goto out;
			names[slot].ptr = sp->name.ptr;
			names[slot].len = sp->name.len;
			names[slot].id = name_id;
		}
		if (t->next_ord >= SPAN_ORD_MAX) {
			char hex[33];
			sonde_hex_encode(hex, sp->trace_id, 16);
			hex[32] = '\0';
			rc = sonde__store_fail(&s->base, -EFBIG, "%s: trace %s has more than %lld spans",
			                       s->path, hex, (long long)(SPAN_ORD_MAX - 1));
			goto out;
		}
		bool root = sonde_id_is_zero(sp->parent_span_id, 8);
		int64_t dur = (int64_t)(sp->end_ns - sp->start_ns);
		span_row *w = &s->rows[nrows++];
		*w = (span_row){.sp = sp,
		                .rowid = t->key * SPAN_ORD_MAX + t->next_ord,
		                .key = t->key,
		                .service = res->service_id,
		                .name = name_id,
		                .res = res->id,
		                .scope = scope->id};
		st->spans_added++;
		t->next_ord++;
		if (enc)
			w->enc = enc[i];
		else if ((rc = sonde_store_encode_spans(&s->row_spans, sp, 1, &w->enc)) < 0)
			goto out;
		if (nrows == MULTI_ROWS) {
			if ((rc = flush_span_rows(s, nrows, pre)) < 0)
				goto out;
			nrows = 0;
		}

		uint64_t end = sp->start_ns + (uint64_t)dur;
		if (t->spans == 0) {
			t->start = sp->start_ns;
			t->end = end;
			t->has_root = root;
			t->root_start = sp->start_ns;
			t->root_service = res->service_id;
			t->root_name = name_id;
		} else {
			if ((int64_t)sp->start_ns < (int64_t)t->start)
				t->start = sp->start_ns;
			if ((int64_t)end > (int64_t)t->end)
				t->end = end;
			if ((root && !t->has_root) ||
			    (root == t->has_root && (int64_t)sp->start_ns < (int64_t)t->root_start)) {
				t->has_root = root;
				t->root_start = sp->start_ns;
				t->root_service = res->service_id;
				t->root_name = name_id;
			}
		}
		t->spans++;
		t->errors += sp->status_code == SONDE_STATUS_ERROR;
	}
	if (nrows && (rc = flush_span_rows(s, nrows, pre)) < 0)
		goto out;
	rc = store_traces(s, acc, acc_n);
out:
	free(acc);
	free(tix);
	return rc;
}

/* Counts an added record of template tid at time t into this append's accumulators. */
static int template_note(sq_store *s, uint64_t tid, uint64_t t, size_t *n)
{
	uint64_t h = sonde__keymap_hash(&tid, sizeof tid);
	int64_t ix = id_get(&s->tpl_ix, &tid, sizeof tid, h);
	if (!ix) {
		if (*n == s->tpl_cap) {
			size_t cap = s->tpl_cap ? s->tpl_cap * 2 : 64;
			tpl_acc *na = realloc(s->tpl_acc, cap * sizeof *na);
			if (!na)
				return -ENOMEM;
			s->tpl_acc = na;
			s->tpl_cap = cap;
		}
		int rc = id_put(&s->tpl_ix, &tid, sizeof tid, h, (int64_t)*n + 1);
		if (rc < 0)
			return rc;
		s->tpl_acc[*n] = (tpl_acc){.id = tid, .first = t, .last = t};
		ix = (int64_t)++ * n;
	}
	tpl_acc *a = &s->tpl_acc[ix - 1];
	a->count++;
	if (t < a->first)
		a->first = t;
	if (t > a->last)
		a->last = t;
	return 0;
}

/* Writes the rows of the templates this append added records to. Every id given in
 * log_template_ids must be described in opts->templates. */
static int store_templates(sq_store *s, const sonde_append_opts *opts, size_t n)
{
	for (size_t j = 0; j < opts->templates_count; j++) {
		uint64_t id = opts->templates[j].id;
		int64_t ix = id_get(&s->tpl_ix, &id, sizeof id, sonde__keymap_hash(&id, sizeof id));
		if (ix)
			s->tpl_acc[ix - 1].t = &opts->templates[j];
	}
	for (size_t i = 0; i < n; i++) {
		const tpl_acc *a = &s->tpl_acc[i];
		const sonde_log_template *t = a->t;
		if (!t || !t->text)
			return sonde__store_fail(&s->base, -EINVAL,
			                         "%s: log template %016llx is used but not described",
			                         s->path, (unsigned long long)a->id);
		sqlite3_stmt *q = s->upsert_template;
		sqlite3_bind_int64(q, 1, (int64_t)a->id);
		sqlite3_bind_text(q, 2, t->text, (int)t->text_len, SQLITE_STATIC);
		sqlite3_bind_int64(q, 3, (int64_t)a->count);
		sqlite3_bind_int64(q, 4, (int64_t)a->first);
		sqlite3_bind_int64(q, 5, (int64_t)a->last);
		int rc = step_done(s, q);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A log record waiting for its INSERT: its columns, and its rest blob in s->row_rest. */
typedef struct log_row {
	const sonde_log_data *lg;
	int64_t hkey, time, service, res, scope, tid;
	size_t rest_off, rest_len;
	bool added;
} log_row;

#define SQL_INS_LOGS                                                                               \
	"INSERT OR IGNORE INTO logs(hkey, time_ns, service_id, severity, body, trace_id, span_id," \
	" resource_id, scope_id, rest, template_id) VALUES"
#define SQL_INS_LOGS_ROW "(?,?,?,?,?,?,?,?,?,?,?)"

/* Inserts log rows [first, first + 2^lg) of s->lrows (write_chunks) and marks those
 * added. A record already stored (the same time and identity hash) is ignored. New rows
 * take the ids after the largest, *(int64_t *)ctx on: when the statement adds fewer rows
 * than it has, its rows are looked up and those with an id from there on are the added
 * ones (a repeated ingest; a fresh one adds every row). */
static int log_chunk(sq_store *s, void *ctx, int lg, size_t first)
{
	int64_t *next_id = ctx;
	int m = 1 << lg;
	int rc = multi_stmt(s, &s->ins_logs_n[lg], SQL_INS_LOGS, SQL_INS_LOGS_ROW, "", lg);
	if (rc < 0)
		return rc;
	sqlite3_stmt *q = s->ins_logs_n[lg];
	log_row *rows = s->lrows + first;
	for (int r = 0; r < m; r++) {
		const log_row *w = &rows[r];
		const sonde_log_data *l = w->lg;
		int o = r * 11;
		sqlite3_bind_int64(q, o + 1, w->hkey);
		sqlite3_bind_int64(q, o + 2, w->time);
		sqlite3_bind_int64(q, o + 3, w->service);
		sqlite3_bind_int(q, o + 4, l->severity_number);
		if (l->body.kind == SONDE_VAL_STRING)
			sqlite3_bind_text(q, o + 5, l->body.u.str.ptr, (int)l->body.u.str.len, SQLITE_STATIC);
		else
			sqlite3_bind_null(q, o + 5);
		if (sonde_id_is_zero(l->trace_id, 16))
			sqlite3_bind_null(q, o + 6);
		else
			sqlite3_bind_blob(q, o + 6, l->trace_id, 16, SQLITE_STATIC);
		if (sonde_id_is_zero(l->span_id, 8))
			sqlite3_bind_null(q, o + 7);
		else
			sqlite3_bind_blob(q, o + 7, l->span_id, 8, SQLITE_STATIC);
		sqlite3_bind_int64(q, o + 8, w->res);
		sqlite3_bind_int64(q, o + 9, w->scope);
		sqlite3_bind_blob(q, o + 10, s->row_rest.data + w->rest_off, (int)w->rest_len, SQLITE_STATIC);
		if (w->tid)
			sqlite3_bind_int64(q, o + 11, w->tid);
		else
			sqlite3_bind_null(q, o + 11);
	}
	if ((rc = step_done(s, q)) < 0)
		return rc;
	int changes = sqlite3_changes(s->db);
	for (int r = 0; r < m; r++) {
		log_row *w = &rows[r];
		w->added = changes == m;
		if (changes == m || changes == 0)
			continue;
		/* Some were stored before: the rows this statement added are those whose id is
		 * past the last one before it. */
		sqlite3_bind_int64(s->log_id_of, 1, w->time);
		sqlite3_bind_int64(s->log_id_of, 2, w->hkey);
		int src = sqlite3_step(s->log_id_of);
		if (src == SQLITE_ROW)
			w->added = sqlite3_column_int64(s->log_id_of, 0) >= *next_id;
		sqlite3_reset(s->log_id_of);
		if (src != SQLITE_ROW && src != SQLITE_DONE)
			return sq_rc(s, src, "reading logs");
	}
	/* New rows took the ids after the largest (none is deleted within an append). */
	*next_id += changes;
	return 0;
}

/* Inserts the n (at most MULTI_ROWS) log records waiting in s->lrows (log_chunk), counts
 * them as added or present, notes the added ones' templates, and empties s->row_rest. */
static int flush_log_rows(sq_store *s, size_t n, int64_t *next_id, sonde_append_stats *st, size_t *ntpl)
{
	int rc = write_chunks(s, n, log_chunk, next_id);
	sonde_buf_reset(&s->row_rest);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const log_row *w = &s->lrows[i];
		if (!w->added) {
			st->logs_present++;
			continue;
		}
		st->logs_added++;
		if (w->tid)
			rc = template_note(s, (uint64_t)w->tid, (uint64_t)w->time, ntpl);
	}
	return rc < 0 ? rc : 0;
}

static int append_logs(sq_store *s, const sonde_batch *b, const sonde_append_opts *opts, ref_cache *c,
                       sonde_append_stats *st)
{
	const char *source = opts && opts->log_source ? opts->log_source : "";
	size_t source_len = strlen(source);
	uint64_t pos = opts ? opts->log_position : 0;
	const uint64_t *tids = opts ? opts->log_template_ids : NULL;
	size_t ntpl = 0, nrows = 0;
	int rc;
	if (!b->logs_count)
		return 0;
	if (!s->lrows && !(s->lrows = malloc(MULTI_ROWS * sizeof *s->lrows)))
		return -ENOMEM;
	sonde__keymap_clear(&s->tpl_ix);
	sonde_buf_reset(&s->row_rest);
	/* Records get ids in batch order after the last stored one. */
	int64_t next_id = 1;
	int src = sqlite3_step(s->last_log_id);
	if (src == SQLITE_ROW)
		next_id = sqlite3_column_int64(s->last_log_id, 0) + 1;
	sqlite3_reset(s->last_log_id);
	if (src != SQLITE_ROW)
		return sq_rc(s, src, "reading logs");
	const sonde_resource *last_res = NULL;
	const sonde_scope *last_scope = NULL;
	const res_ref *res = NULL, *scope = NULL;
	for (size_t i = 0; i < b->logs_count; i++) {
		const sonde_log_data *lg = &b->logs[i];
		/* Consecutive records mostly share their resource and scope objects. */
		if (lg->resource != last_res || !res) {
			if ((rc = ref_of(s, c, false, lg->resource, &res)) < 0)
				return rc;
			last_res = lg->resource;
		}
		if (lg->scope != last_scope || !scope) {
			if ((rc = ref_of(s, c, true, lg->scope, &scope)) < 0)
				return rc;
			last_scope = lg->scope;
		}
		sonde_buf *rest = &s->row_rest, *key = &s->key;
		size_t rest_off = rest->len;
		sonde_buf_reset(key);
		sonde__enc_log_rest(rest, lg);
		/* The identity: content (rest holds times, severity text, attributes, event name
		 * and a non-string body), the columns' content, resource, scope, source, position. */
		sonde_buf_append(key, rest->data + rest_off, rest->len - rest_off);
		sonde__enc_varint(key, (uint64_t)(int64_t)lg->severity_number);
		if (lg->body.kind == SONDE_VAL_STRING)
			sonde__enc_str(key, lg->body.u.str);
		sonde_buf_append(key, lg->trace_id, 16);
		sonde_buf_append(key, lg->span_id, 8);
		sonde_buf_append(key, res->hash, 16);
		sonde_buf_append(key, scope->hash, 16);
		sonde__enc_str(key, (sonde_str){source, source_len});
		sonde__enc_varint(key, pos + i);
		if (rest->oom || key->oom)
			return -ENOMEM;
		uint64_t t = lg->time_ns ? lg->time_ns : lg->observed_time_ns;
		s->lrows[nrows++] = (log_row){
		        .lg = lg,
		        .hkey = (int64_t)sonde_hash_bytes(key->data, key->len, 0x736f6e6465ULL),
		        .time = (int64_t)t,
		        .service = res->service_id,
		        .res = res->id,
		        .scope = scope->id,
		        .tid = tids ? (int64_t)tids[i] : 0,
		        .rest_off = rest_off,
		        .rest_len = rest->len - rest_off,
		};
		if (nrows == MULTI_ROWS) {
			if ((rc = flush_log_rows(s, nrows, &next_id, st, &ntpl)) < 0)
				return rc;
			nrows = 0;
		}
	}
	if (nrows && (rc = flush_log_rows(s, nrows, &next_id, st, &ntpl)) < 0)
		return rc;
	return ntpl ? store_templates(s, opts, ntpl) : 0;
}

static int series_id(sq_store *s, const sonde_metric_data *m, const sonde_point *p, const res_ref *res,
                     const res_ref *scope, int64_t *out)
{
	sonde_buf *k = &s->key, *attrs = &s->enc;
	sonde_buf_reset(k);
	sonde_buf_reset(attrs);
	sonde__enc_attrs(attrs, &p->attrs);
	sonde__enc_str(k, m->name);
	sonde__enc_varint(k, (uint64_t)m->type);
	sonde_buf_append(k, res->hash, 16);
	sonde_buf_append(k, scope->hash, 16);
	sonde_buf_append(k, attrs->data, attrs->len);
	if (k->oom || attrs->oom)
		return -ENOMEM;
	uint8_t hash[16];
	digest(k->data, k->len, hash);
	uint64_t h = sonde__keymap_hash(hash, 16);
	int64_t got = id_get(&s->series_ids, hash, 16, h);
	if (got) {
		*out = got;
		return 0;
	}
	sqlite3_bind_blob(s->get_series, 1, hash, 16, SQLITE_STATIC);
	int rc = sqlite3_step(s->get_series);
	if (rc == SQLITE_ROW)
		got = sqlite3_column_int64(s->get_series, 0);
	sqlite3_reset(s->get_series);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_rc(s, rc, "reading series");
	if (!got) {
		int64_t name_id;
		if ((rc = string_id(s, m->name.ptr, m->name.len, false, &name_id)) < 0)
			return rc;
		sonde_buf *meta = &s->enc2;
		sonde_buf_reset(meta);
		sonde__enc_metric_meta(meta, m);
		if (meta->oom)
			return -ENOMEM;
		sqlite3_stmt *q = s->ins_series;
		sqlite3_bind_blob(q, 1, hash, 16, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, name_id);
		sqlite3_bind_int64(q, 3, res->service_id);
		sqlite3_bind_int(q, 4, (int)m->type);
		sqlite3_bind_int64(q, 5, res->id);
		sqlite3_bind_int64(q, 6, scope->id);
		sqlite3_bind_blob(q, 7, meta->data, (int)meta->len, SQLITE_STATIC);
		sqlite3_bind_blob(q, 8, attrs->data, (int)attrs->len, SQLITE_STATIC);
		if ((rc = step_done(s, q)) < 0)
			return rc;
		got = sqlite3_last_insert_rowid(s->db);
	}
	*out = got;
	return id_put(&s->series_ids, hash, 16, h, got);
}

static int append_metrics(sq_store *s, const sonde_batch *b, ref_cache *c, sonde_append_stats *st)
{
	int rc;
	for (size_t i = 0; i < b->metrics_count; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		const res_ref *res, *scope;
		if ((rc = ref_of(s, c, false, m->resource, &res)) < 0 ||
		    (rc = ref_of(s, c, true, m->scope, &scope)) < 0)
			return rc;
		for (uint32_t j = 0; j < m->points_count; j++) {
			const sonde_point *p = &m->points[j];
			int64_t sid = 0;
			if ((rc = series_id(s, m, p, res, scope, &sid)) < 0)
				return rc;
			sonde_buf_reset(&s->enc);
			sonde__enc_point_rest(&s->enc, m->type, p);
			if (s->enc.oom)
				return -ENOMEM;
			sqlite3_stmt *q = s->ins_point;
			sqlite3_bind_int64(q, 1, sid);
			sqlite3_bind_int64(q, 2, (int64_t)p->time_ns);
			bool number = m->type == SONDE_METRIC_GAUGE || m->type == SONDE_METRIC_SUM;
			if (number && p->u.number.kind == SONDE_NUM_INT)
				sqlite3_bind_int64(q, 3, p->u.number.v.i);
			else if (number && p->u.number.kind == SONDE_NUM_DOUBLE)
				sqlite3_bind_double(q, 3, p->u.number.v.d);
			else
				sqlite3_bind_null(q, 3);
			sqlite3_bind_blob(q, 4, s->enc.data, (int)s->enc.len, SQLITE_STATIC);
			if ((rc = step_done(s, q)) < 0)
				return rc;
			if (sqlite3_changes(s->db))
				st->points_added++;
			else
				st->points_present++;
		}
	}
	return 0;
}

static int sq_append(sonde_store *base, const sonde_batch *b, const sonde_append_opts *opts,
                     sonde_append_stats *stats)
{
	sq_store *s = (sq_store *)base;
	if (s->readonly)
		return sonde__store_fail(base, -EROFS, "%s: opened read-only", s->path);
	sonde_append_stats st = {0};
	ref_cache c;
	sonde_ptrmap_init(&c.map);
	sonde_arena_init(&c.arena);
	int rc = 0;
	if (s->held && sqlite3_get_autocommit(s->db)) {
		/* An append of the hold failed and took the transaction back with it. */
		rc = sonde__store_fail(base, -EIO, "%s: the held transaction was rolled back", s->path);
		goto out;
	}
	if (!s->held && (rc = step_done(s, s->begin)) < 0)
		goto out;
	if ((rc = append_spans(s, b, opts, &c, &st)) < 0 || (rc = append_logs(s, b, opts, &c, &st)) < 0 ||
	    (rc = append_metrics(s, b, &c, &st)) < 0 || (!s->held && (rc = step_done(s, s->commit)) < 0)) {
		int keep = rc;
		char msg[sizeof s->base.errmsg];
		memcpy(msg, s->base.errmsg, sizeof msg);
		if (!sqlite3_get_autocommit(s->db))
			step_done(s, s->rollback);
		memcpy(s->base.errmsg, msg, sizeof msg);
		if (!s->base.errmsg[0])
			sonde__store_fail(base, keep, "%s: append failed: %s", s->path, sonde_strerror(keep));
		clear_caches(s);
		rc = keep;
		goto out;
	}
	if (stats) {
		stats->spans_added += st.spans_added;
		stats->spans_present += st.spans_present;
		stats->logs_added += st.logs_added;
		stats->logs_present += st.logs_present;
		stats->points_added += st.points_added;
		stats->points_present += st.points_present;
	}
out:
	sonde_ptrmap_release(&c.map);
	sonde_arena_release(&c.arena);
	return rc;
}

/* ---- Building queries ---------------------------------------------------------------- */

typedef struct bindv {
	int type; /* 0 int, 1 text, 2 blob */
	int64_t i;
	const void *p;
	int n;
} bindv;

typedef struct qbuild {
	sonde_buf sql;
	bindv binds[48];
	int nbinds;
	bool none; /* a name that is not stored: nothing can match */
} qbuild;

static void qb_int(qbuild *qb, const char *clause, int64_t v)
{
	sonde_buf_puts(&qb->sql, clause);
	if (qb->nbinds < 48)
		qb->binds[qb->nbinds++] = (bindv){0, v, NULL, 0};
}

static void qb_text(qbuild *qb, const char *clause, const char *t)
{
	sonde_buf_puts(&qb->sql, clause);
	if (qb->nbinds < 48)
		qb->binds[qb->nbinds++] = (bindv){1, 0, t, -1};
}

/* Adds `clause` bound to the id of a stored name (a service, an operation); a name the
 * store has never seen matches nothing. NULL name: no condition. */
static int qb_name(sq_store *s, qbuild *qb, const char *clause, const char *name)
{
	if (!name)
		return 0;
	int64_t id;
	int rc = string_id(s, name, strlen(name), true, &id);
	if (rc < 0)
		return rc;
	qb->none |= id == 0;
	qb_int(qb, clause, id);
	return 0;
}

static void qb_blob(qbuild *qb, const char *clause, const void *p, int n)
{
	sonde_buf_puts(&qb->sql, clause);
	if (qb->nbinds < 48)
		qb->binds[qb->nbinds++] = (bindv){2, 0, p, n};
}

/* Binds qb's parameters to st, which runs qb's query (perhaps with more after it). */
static void qb_bind(const qbuild *qb, sqlite3_stmt *st)
{
	for (int i = 0; i < qb->nbinds; i++) {
		const bindv *b = &qb->binds[i];
		if (b->type == 0)
			sqlite3_bind_int64(st, i + 1, b->i);
		else if (b->type == 1)
			sqlite3_bind_text(st, i + 1, b->p, b->n, SQLITE_STATIC);
		else
			sqlite3_bind_blob(st, i + 1, b->p, b->n, SQLITE_STATIC);
	}
}

static int qb_prepare(sq_store *s, qbuild *qb, sqlite3_stmt **st)
{
	if (qb->sql.oom)
		return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
	if (qb->nbinds >= 48)
		return sonde__store_fail(&s->base, -E2BIG, "too many query conditions");
	int rc = sqlite3_prepare_v2(s->db, qb->sql.data, -1, st, NULL);
	if (rc != SQLITE_OK)
		return sq_rc(s, rc, "preparing a query");
	qb_bind(qb, *st);
	return 0;
}

/* The key of trace_id (0: not stored). */
static int trace_key_of(sq_store *s, const uint8_t *trace_id, int64_t *key)
{
	*key = 0;
	sqlite3_bind_blob(s->get_trace_key, 1, trace_id, 16, SQLITE_STATIC);
	int rc = sqlite3_step(s->get_trace_key);
	if (rc == SQLITE_ROW)
		*key = sqlite3_column_int64(s->get_trace_key, 0);
	sqlite3_reset(s->get_trace_key);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_rc(s, rc, "reading traces");
}

/* Adds the conditions of q on spans aliased `s` (with span_data `d` and resources `r`
 * joined when attrs are asked for). */
static int qb_span_where(sq_store *s, qbuild *qb, const sonde_query *q)
{
	int rc;
	if (q->since_ns)
		qb_int(qb, " AND s.start_ns >= ?", (int64_t)q->since_ns);
	if (q->until_ns)
		qb_int(qb, " AND s.start_ns < ?", (int64_t)q->until_ns);
	if ((rc = qb_name(s, qb, " AND s.service_id = ?", q->service)) < 0)
		return rc;
	if ((rc = qb_name(s, qb, " AND s.name_id = ?", q->operation)) < 0)
		return rc;
	if (q->min_duration_ns)
		qb_int(qb, " AND s.dur_ns >= ?", (int64_t)q->min_duration_ns);
	if (q->max_duration_ns)
		qb_int(qb, " AND s.dur_ns <= ?", (int64_t)q->max_duration_ns);
	if (q->errors_only)
		sonde_buf_puts(&qb->sql, " AND s.status = 2");
	if (q->kinds)
		qb_int(qb, " AND ((1 << s.kind) & ?) != 0", q->kinds);
	if (q->roots_only)
		sonde_buf_puts(&qb->sql, " AND s.parent_id IS NULL");
	if (q->trace_id) {
		/* A trace's spans are one rowid range. */
		int64_t key = 0;
		if ((rc = trace_key_of(s, q->trace_id, &key)) < 0)
			return rc;
		qb->none |= key == 0;
		qb_int(qb, " AND s.id BETWEEN ?", key * SPAN_ORD_MAX);
		qb_int(qb, " AND ?", key * SPAN_ORD_MAX + SPAN_ORD_MAX - 1);
	}
	for (size_t i = 0; i < q->attrs_count; i++) {
		qb_text(qb, " AND sonde_attr_eq(d.attrs, r.data, ?, ", q->attrs[i].key);
		if (q->attrs[i].value)
			qb_text(qb, "?)", q->attrs[i].value);
		else
			sonde_buf_puts(&qb->sql, "NULL)");
	}
	return 0;
}

/* ---- Reading records ----------------------------------------------------------------- */

/* Resources and scopes of one read, by id, decoded once into the batch that holds them. */
typedef struct meta_cache {
	sonde_ptrmap map;
	sonde_batch *b;       /* where they live */
	int64_t last_id[2];   /* the last resource [0] and scope [1] asked for ... */
	const void *last[2];  /* ... and what they are (NULL: none yet): records come in runs */
	sqlite3_stmt *get[2]; /* reading a resource [0], a scope [1]; NULL: the store's */
} meta_cache;

static int meta_get(sq_store *s, meta_cache *mc, bool is_scope, int64_t id, const void **out)
{
	if (mc->last[is_scope] && mc->last_id[is_scope] == id) {
		*out = mc->last[is_scope];
		return 0;
	}
	sonde_ptrmap_key k = {NULL, NULL, (uint64_t)id * 2 + is_scope};
	void *got = sonde_ptrmap_find(&mc->map, k);
	if (got) {
		mc->last_id[is_scope] = id;
		mc->last[is_scope] = *out = got;
		return 0;
	}
	sqlite3_stmt *q = mc->get[is_scope] ? mc->get[is_scope]
	                  : is_scope        ? s->get_scope_data
	                                    : s->get_res_data;
	sqlite3_bind_int64(q, 1, id);
	int rc = sqlite3_step(q);
	void *obj = is_scope ? (void *)sonde_batch_new_scope(mc->b) : (void *)sonde_batch_new_resource(mc->b);
	if (!obj) {
		sqlite3_reset(q);
		return -ENOMEM;
	}
	if (rc == SQLITE_ROW) {
		sonde__dec d;
		sonde__dec_init(&d, mc->b, sqlite3_column_blob(q, 0), (size_t)sqlite3_column_bytes(q, 0));
		int drc = is_scope ? sonde__dec_scope(&d, obj) : sonde__dec_resource(&d, obj);
		if (drc < 0) {
			sqlite3_reset(q);
			return drc == -ENOMEM
			               ? -ENOMEM
			               : sonde__store_fail(&s->base, SONDE_EFORMAT, "%s: damaged %s %lld",
			                                   s->path, is_scope ? "scope" : "resource",
			                                   (long long)id);
		}
	} else if (rc != SQLITE_DONE) {
		sqlite3_reset(q);
		return sq_rc(s, rc, "reading resources");
	}
	sqlite3_reset(q);
	if ((rc = sonde_ptrmap_add(&mc->map, k, obj)) < 0)
		return rc;
	mc->last_id[is_scope] = id;
	mc->last[is_scope] = *out = obj;
	return 0;
}

static int damaged(sq_store *s, const char *what, int rc)
{
	if (rc == -ENOMEM)
		return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
	return sonde__store_fail(&s->base, SONDE_EFORMAT, "%s: damaged %s record", s->path, what);
}

static void copy_blob(uint8_t *dst, size_t n, sqlite3_stmt *st, int col)
{
	const void *p = sqlite3_column_blob(st, col);
	if (p && (size_t)sqlite3_column_bytes(st, col) == n)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

#define SPAN_COLS                                                                                 \
	"s.trace_id, s.span_id, s.parent_id, s.start_ns, s.dur_ns, s.name_id, s.kind, s.status, " \
	"s.resource_id,"                                                                          \
	" s.scope_id"

/* Fills sp from a row of SPAN_COLS (+ d.attrs, d.rest at 10, 11 when full). Decoded
 * parts go into data; resource and scope into mc. */
static int row_span(sq_store *s, sqlite3_stmt *st, bool full, meta_cache *mc, sonde_batch *data,
                    sonde_span_data *sp)
{
	const void *res, *scope;
	int rc;
	if ((rc = meta_get(s, mc, false, sqlite3_column_int64(st, 8), &res)) < 0 ||
	    (rc = meta_get(s, mc, true, sqlite3_column_int64(st, 9), &scope)) < 0)
		return rc;
	sp->resource = res;
	sp->scope = scope;
	copy_blob(sp->trace_id, 16, st, 0);
	copy_blob(sp->span_id, 8, st, 1);
	copy_blob(sp->parent_span_id, 8, st, 2);
	sp->start_ns = (uint64_t)sqlite3_column_int64(st, 3);
	sp->end_ns = sp->start_ns + (uint64_t)sqlite3_column_int64(st, 4);
	if ((rc = string_of(s, sqlite3_column_int64(st, 5), &sp->name)) < 0)
		return rc;
	sp->kind = (sonde_span_kind)sqlite3_column_int(st, 6);
	sp->status_code = (sonde_status_code)sqlite3_column_int(st, 7);
	if (!full)
		return 0;
	sonde__dec d;
	if (sqlite3_column_type(st, 10) == SQLITE_BLOB) {
		sonde__dec_init(&d, data, sqlite3_column_blob(st, 10), (size_t)sqlite3_column_bytes(st, 10));
		if ((rc = sonde__dec_attrs(&d, &sp->attrs, 0)) < 0)
			return damaged(s, "span", rc);
	}
	if (sqlite3_column_type(st, 11) == SQLITE_BLOB) {
		sonde__dec_init(&d, data, sqlite3_column_blob(st, 11), (size_t)sqlite3_column_bytes(st, 11));
		if ((rc = sonde__dec_span_rest(&d, sp)) < 0)
			return damaged(s, "span", rc);
	}
	return 0;
}

/* Builds the span query for q. */
static int span_query(sq_store *s, const sonde_query *q, bool full, bool for_select, qbuild *qb)
{
	bool join = full || q->attrs_count;
	sonde_buf_puts(&qb->sql, "SELECT " SPAN_COLS);
	sonde_buf_puts(&qb->sql, full ? ", d.attrs, d.rest" : ", NULL, NULL");
	sonde_buf_puts(&qb->sql, " FROM spans s");
	if (join)
		sonde_buf_puts(&qb->sql, " LEFT JOIN span_data d ON d.id = s.id");
	if (q->attrs_count)
		sonde_buf_puts(&qb->sql, " LEFT JOIN resources r ON r.id = s.resource_id");
	sonde_buf_puts(&qb->sql, " WHERE 1");
	int rc = qb_span_where(s, qb, q);
	if (rc < 0)
		return rc;
	switch (q->sort) {
	case SONDE_SORT_DEFAULT:
		if (for_select)
			sonde_buf_puts(&qb->sql, " ORDER BY s.start_ns, s.id");
		break;
	case SONDE_SORT_TIME_ASC: sonde_buf_puts(&qb->sql, " ORDER BY s.start_ns, s.id"); break;
	case SONDE_SORT_TIME_DESC: sonde_buf_puts(&qb->sql, " ORDER BY s.start_ns DESC, s.id"); break;
	case SONDE_SORT_DURATION_DESC: sonde_buf_puts(&qb->sql, " ORDER BY s.dur_ns DESC, s.id"); break;
	case SONDE_SORT_DURATION_ASC: sonde_buf_puts(&qb->sql, " ORDER BY s.dur_ns, s.id"); break;
	}
	if (q->limit)
		qb_int(qb, " LIMIT ?", (int64_t)(q->limit > INT64_MAX ? INT64_MAX : q->limit));
	return 0;
}

static ssize_t sq_select_spans(sonde_store *base, const sonde_query *q, unsigned fields, sonde_batch *out)
{
	sq_store *s = (sq_store *)base;
	qbuild qb = {.sql = SONDE_BUF_INIT};
	sqlite3_stmt *st = NULL;
	meta_cache mc = {.b = out};
	sonde_ptrmap_init(&mc.map);
	size_t before = out->spans_count;
	bool full = fields != SONDE_FIELDS_BASE;
	ssize_t rc = span_query(s, q, full, true, &qb);
	if (rc < 0 || qb.none || (rc = qb_prepare(s, &qb, &st)) < 0)
		goto out;
	int src;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		sonde_span_data tmp = {0};
		if ((rc = row_span(s, st, full, &mc, out, &tmp)) < 0)
			goto out;
		sonde_span_data *sp = sonde_batch_add_span(out, tmp.resource, tmp.scope);
		if (!sp) {
			rc = -ENOMEM;
			goto out;
		}
		*sp = tmp;
		/* Names live in the handle's cache; the batch must own its strings. */
		sp->name = sonde_batch_intern(out, tmp.name.ptr, tmp.name.len);
		if (!sp->name.ptr) {
			rc = -ENOMEM;
			goto out;
		}
	}
	if (src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading spans");
out:
	if (rc < 0)
		out->spans_count = before;
	sqlite3_finalize(st);
	sonde_buf_release(&qb.sql);
	sonde_ptrmap_release(&mc.map);
	return rc < 0 ? rc : (ssize_t)(out->spans_count - before);
}

static int sq_scan_spans(sonde_store *base, const sonde_query *q, unsigned fields, sonde_span_fn fn,
                         void *ctx)
{
	sq_store *s = (sq_store *)base;
	qbuild qb = {.sql = SONDE_BUF_INIT};
	sqlite3_stmt *st = NULL;
	sonde_batch *meta = sonde_batch_new(), *data = sonde_batch_new();
	meta_cache mc = {.b = meta};
	sonde_ptrmap_init(&mc.map);
	bool full = fields != SONDE_FIELDS_BASE;
	int rc = meta && data ? 0 : -ENOMEM;
	if (rc < 0 || (rc = span_query(s, q, full, false, &qb)) < 0 || qb.none ||
	    (rc = qb_prepare(s, &qb, &st)) < 0)
		goto out;
	int src;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		sonde_span_data sp = {0};
		if (data->arena.bytes_used > (1u << 20))
			sonde_batch_clear(data);
		if ((rc = row_span(s, st, full, &mc, data, &sp)) < 0)
			goto out;
		if ((rc = fn(ctx, &sp)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading spans");
out:
	sqlite3_finalize(st);
	sonde_buf_release(&qb.sql);
	sonde_ptrmap_release(&mc.map);
	sonde_batch_free(meta);
	sonde_batch_free(data);
	return rc;
}

/* ---- Logs ---------------------------------------------------------------------------- */

#define LOG_COLS "l.severity, l.body, l.trace_id, l.span_id, l.resource_id, l.scope_id, l.rest"

static int log_query(sq_store *s, const sonde_query *q, bool for_select, qbuild *qb)
{
	int rc;
	sonde_buf_puts(&qb->sql, "SELECT " LOG_COLS " FROM logs l");
	if (q->attrs_count)
		sonde_buf_puts(&qb->sql, " LEFT JOIN resources r ON r.id = l.resource_id");
	sonde_buf_puts(&qb->sql, " WHERE 1");
	if (q->since_ns)
		qb_int(qb, " AND l.time_ns >= ?", (int64_t)q->since_ns);
	if (q->until_ns)
		qb_int(qb, " AND l.time_ns < ?", (int64_t)q->until_ns);
	if ((rc = qb_name(s, qb, " AND l.service_id = ?", q->service)) < 0)
		return rc;
	if (q->errors_only)
		sonde_buf_puts(&qb->sql, " AND l.severity >= 17");
	if (q->min_severity)
		qb_int(qb, " AND l.severity >= ?", q->min_severity);
	if (q->trace_id)
		qb_blob(qb, " AND l.trace_id = ?", q->trace_id, 16);
	if (q->text)
		qb_text(qb, " AND instr(l.body, ?) > 0", q->text);
	if (q->template_id)
		qb_int(qb, " AND l.template_id = ?", (int64_t)q->template_id);
	for (size_t i = 0; i < q->attrs_count; i++) {
		/* A log record's attributes sit inside rest, after its times and severity text:
		 * the function is given the decoded attributes through sonde_log_attrs(). */
		qb_text(qb, " AND sonde_attr_eq(sonde_log_attrs(l.rest), r.data, ?, ", q->attrs[i].key);
		if (q->attrs[i].value)
			qb_text(qb, "?)", q->attrs[i].value);
		else
			sonde_buf_puts(&qb->sql, "NULL)");
	}
	if (q->sort == SONDE_SORT_TIME_DESC)
		sonde_buf_puts(&qb->sql, " ORDER BY l.time_ns DESC, l.id");
	else if (for_select || q->sort != SONDE_SORT_DEFAULT)
		sonde_buf_puts(&qb->sql, " ORDER BY l.time_ns, l.id");
	if (q->limit)
		qb_int(qb, " LIMIT ?", (int64_t)(q->limit > INT64_MAX ? INT64_MAX : q->limit));
	return 0;
}

static int row_log(sq_store *s, sqlite3_stmt *st, meta_cache *mc, sonde_batch *data, sonde_log_data *lg)
{
	const void *res, *scope;
	int rc;
	if ((rc = meta_get(s, mc, false, sqlite3_column_int64(st, 4), &res)) < 0 ||
	    (rc = meta_get(s, mc, true, sqlite3_column_int64(st, 5), &scope)) < 0)
		return rc;
	lg->resource = res;
	lg->scope = scope;
	lg->severity_number = sqlite3_column_int(st, 0);
	copy_blob(lg->trace_id, 16, st, 2);
	copy_blob(lg->span_id, 8, st, 3);
	sonde__dec d;
	sonde__dec_init(&d, data, sqlite3_column_blob(st, 6), (size_t)sqlite3_column_bytes(st, 6));
	if ((rc = sonde__dec_log_rest(&d, lg)) < 0)
		return damaged(s, "log", rc);
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		lg->body.kind = SONDE_VAL_STRING;
		lg->body.u.str = sonde_batch_strdup(data, (const char *)sqlite3_column_text(st, 1),
		                                    (size_t)sqlite3_column_bytes(st, 1));
		if (!lg->body.u.str.ptr)
			return -ENOMEM;
	}
	return 0;
}

static ssize_t sq_select_logs(sonde_store *base, const sonde_query *q, sonde_batch *out)
{
	sq_store *s = (sq_store *)base;
	qbuild qb = {.sql = SONDE_BUF_INIT};
	sqlite3_stmt *st = NULL;
	meta_cache mc = {.b = out};
	sonde_ptrmap_init(&mc.map);
	size_t before = out->logs_count;
	ssize_t rc = log_query(s, q, true, &qb);
	if (rc < 0 || qb.none || (rc = qb_prepare(s, &qb, &st)) < 0)
		goto out;
	int src;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		sonde_log_data tmp = {0};
		if ((rc = row_log(s, st, &mc, out, &tmp)) < 0)
			goto out;
		sonde_log_data *lg = sonde_batch_add_log(out, tmp.resource, tmp.scope);
		if (!lg) {
			rc = -ENOMEM;
			goto out;
		}
		*lg = tmp;
	}
	if (src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading logs");
out:
	if (rc < 0)
		out->logs_count = before;
	sqlite3_finalize(st);
	sonde_buf_release(&qb.sql);
	sonde_ptrmap_release(&mc.map);
	return rc < 0 ? rc : (ssize_t)(out->logs_count - before);
}

/* Reading ahead (sonde_query.read_ahead): a thread of the scan steps the statement and
 * decodes rows into one chunk while the caller's thread consumes the other; chunks go
 * back and forth in order, so the caller sees exactly the rows, in the order, of a plain
 * scan. The reader holds db_mu while it fills a chunk, and the caller's thread takes it
 * for any other use of the handle during the scan.
 *
 * A scan whose order does not matter (sonde_query.any_order) may have two sources: the
 * table read in two rowid halves, the second on a connection of its own, each on its own
 * thread into its own two chunks; the caller then takes whichever source has a chunk
 * ready (in turn when both have), so both readers work while it consumes. */
enum { RA_ROWS = 1024, RA_SOURCES = 2 };

typedef struct ra_chunk {
	void *rows;        /* RA_ROWS rows of row_size bytes */
	size_t n;          /* rows filled */
	sonde_batch *data; /* what the rows point to, cleared before each fill */
	sonde_buf blobs;   /* the same, for readers that copy bytes */
	bool full;         /* filled, waiting for the caller */
	sqlite3_stmt *st;  /* the statement the rows come from (its source's) */
	void *ctx;         /* the source's decoding context */
} ra_chunk;

struct readahead;

/* One statement read in order on one thread into two chunks. */
typedef struct ra_source {
	struct readahead *r;
	sqlite3_stmt *st;
	sqlite3 *db;  /* st's connection when it is not the store's (owned, with st) */
	bool owns_st; /* st is finalized with the read-ahead */
	void *ctx;    /* decode's, for this source's rows */
	/* Blocks: st has two last parameters, a rowid range, and reads blocks of RA_ROWS
	 * rowids from `lo` on, every `stride`-th one, up to `hi`; else st is read through. */
	bool blocks;
	int64_t lo, hi, stride;
	sqlite3_stmt *pin; /* blocks: a statement left open, so that the connection keeps one
	                      read transaction across blocks (one snapshot); owned */
	pthread_t th;
	bool started;
	ra_chunk chunk[2];
	int next;  /* the chunk the caller takes next */
	bool done; /* the reader has filled its last chunk */
	int rc;    /* the reader's result */
} ra_source;

typedef struct readahead {
	sq_store *s;
	/* Decodes the current row of c->st into row k of c; 0 or a negative code. */
	int (*decode)(struct readahead *r, ra_chunk *c, void *row);
	const char *what; /* "reading logs", ... for errors */
	size_t row_size;
	bool any_order; /* the caller takes any source's next chunk; else the sources' in turn */
	pthread_mutex_t mu, db_mu;
	pthread_cond_t cv;
	ra_source src[RA_SOURCES];
	int nsrc;
	int turn;    /* the source the caller looks at first */
	bool stop;   /* the caller stopped the scan: the readers quit */
	int halt_rc; /* the caller has had a failed source's last chunk: the scan ends */
} readahead;

/* The store's error for a failed step of p's statement (called holding db_mu when p reads
 * on the store's connection). */
static int ra_fail(ra_source *p, int src)
{
	readahead *r = p->r;
	pthread_mutex_lock(&r->mu); /* the other reader may fail at the same time */
	int rc = sq_rc_on(r->s, p->db ? p->db : r->s->db, src, r->what);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

static void *ra_reader(void *arg)
{
	ra_source *p = arg;
	readahead *r = p->r;
	int rc = 0;
	for (int i = 0;; i ^= 1) {
		ra_chunk *c = &p->chunk[i];
		pthread_mutex_lock(&r->mu);
		while (c->full && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		bool stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
		sonde_batch_clear(c->data);
		sonde_buf_reset(&c->blobs);
		c->n = 0;
		int src = SQLITE_ROW;
		if (!p->db)
			pthread_mutex_lock(&r->db_mu);
		bool more = true; /* blocks: another block of this source follows */
		if (p->blocks) {
			/* One block a chunk: at most RA_ROWS rowids, so its rows all fit. */
			int np = sqlite3_bind_parameter_count(p->st);
			sqlite3_reset(p->st);
			sqlite3_bind_int64(p->st, np - 1, p->lo);
			sqlite3_bind_int64(p->st, np, p->lo + RA_ROWS);
			more = p->lo <= p->hi - p->stride;
			p->lo += p->stride;
		}
		while (c->n < RA_ROWS && (src = sqlite3_step(p->st)) == SQLITE_ROW) {
			if ((rc = r->decode(r, c, (char *)c->rows + c->n * r->row_size)) < 0)
				break;
			c->n++;
		}
		if (rc == 0 && src != SQLITE_ROW && src != SQLITE_DONE)
			rc = ra_fail(p, src);
		if (!p->db)
			pthread_mutex_unlock(&r->db_mu);
		bool last = rc < 0 || (p->blocks ? !more : src != SQLITE_ROW);
		pthread_mutex_lock(&r->mu);
		c->full = true;
		p->done = last;
		p->rc = rc;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (last)
			break;
	}
	return NULL;
}

/* Frees r (its threads are not running). */
static void ra_free(readahead *r)
{
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->db_mu);
	pthread_mutex_destroy(&r->mu);
	for (int k = 0; k < r->nsrc; k++) {
		ra_source *p = &r->src[k];
		for (int i = 0; i < 2; i++) {
			free(p->chunk[i].rows);
			sonde_batch_free(p->chunk[i].data);
			sonde_buf_release(&p->chunk[i].blobs);
		}
		if (p->owns_st)
			sqlite3_finalize(p->st);
		sqlite3_finalize(p->pin);
		sqlite3_close_v2(p->db); /* once statements of it that others hold are gone */
	}
	free(r);
}

/* Stops the readers, frees r, and returns the first reader's failure (0 or a negative
 * code). NULL is a no-op. */
static int ra_finish(readahead *r)
{
	if (!r)
		return 0;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	int rc = r->halt_rc;
	for (int k = 0; k < r->nsrc; k++) {
		if (r->src[k].started)
			pthread_join(r->src[k].th, NULL);
		if (rc == 0)
			rc = r->src[k].rc;
	}
	ra_free(r);
	return rc;
}

/* A read-ahead of nothing yet (NULL: no memory). */
static readahead *ra_new(sq_store *s, const char *what, size_t row_size,
                         int (*decode)(readahead *, ra_chunk *, void *))
{
	readahead *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->s = s;
	r->decode = decode;
	r->what = what;
	r->row_size = row_size;
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->db_mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	return r;
}

/* Adds st (on the store's connection when db is NULL, else on db) as a source of r, its
 * rows decoded with ctx; with owns, r finalizes st (and closes db) even when this fails.
 * Returns the source (to set blocks on), NULL when there is no memory. */
static ra_source *ra_add(readahead *r, sqlite3_stmt *st, sqlite3 *db, bool owns, void *ctx)
{
	ra_source *p = &r->src[r->nsrc++];
	p->r = r;
	p->st = st;
	p->db = db;
	p->owns_st = owns;
	p->ctx = ctx;
	bool ok = true;
	for (int i = 0; i < 2; i++) {
		sonde_buf_init(&p->chunk[i].blobs);
		p->chunk[i].st = st;
		p->chunk[i].ctx = ctx;
		ok &= (p->chunk[i].rows = malloc(RA_ROWS * r->row_size)) != NULL &&
		      (p->chunk[i].data = sonde_batch_new()) != NULL;
	}
	return ok ? p : NULL;
}

/* Starts r's readers, the last source first, so that when a thread cannot start none
 * has read anything (r is then freed and false returned: the caller reads itself). */
static bool ra_run(readahead *r)
{
	for (int k = r->nsrc - 1; k >= 0; k--) {
		if (pthread_create(&r->src[k].th, NULL, ra_reader, &r->src[k]) != 0) {
			ra_finish(r);
			return false;
		}
		r->src[k].started = true;
	}
	return true;
}

/* Starts reading st ahead. Returns NULL (having read nothing) when there is no memory
 * or no thread: the caller then reads st itself. */
static readahead *ra_start(sq_store *s, sqlite3_stmt *st, const char *what, size_t row_size,
                           int (*decode)(readahead *, ra_chunk *, void *), void *ctx)
{
	readahead *r = ra_new(s, what, row_size, decode);
	if (!r)
		return NULL;
	if (!ra_add(r, st, NULL, false, ctx)) {
		ra_free(r);
		return NULL;
	}
	return ra_run(r) ? r : NULL;
}

/* The next filled chunk (give it back with ra_next() or ra_finish()), or NULL at the end
 * (ra_finish() then tells the readers' result): the sources' chunks in turn (one source:
 * its chunks in order; blocks of two: the blocks in rowid order), or in any order the
 * next of whichever source has one ready. */
static ra_chunk *ra_next(readahead *r, ra_chunk *prev)
{
	pthread_mutex_lock(&r->mu);
	if (prev) {
		prev->full = false;
		pthread_cond_broadcast(&r->cv);
	}
	ra_chunk *c = NULL;
	ra_source *from = NULL;
	/* In turn, only the source whose turn it is may give the next chunk; in any order,
	 * whichever has one ready. Chunks of one source are filled and taken in one order:
	 * when its next one is not full, none is, and a source that is done has no more. */
	int look = r->any_order ? r->nsrc : 1;
	while (!r->halt_rc) {
		bool live = false;
		for (int k = 0; k < look && !c; k++) {
			int i = (r->turn + k) % r->nsrc;
			ra_source *p = &r->src[i];
			if (p->chunk[p->next].full) {
				c = &p->chunk[p->next];
				p->next ^= 1;
				r->turn = (i + 1) % r->nsrc;
				from = p;
			} else if (!p->done) {
				live = true;
			}
		}
		if (c || !live)
			break;
		pthread_cond_wait(&r->cv, &r->mu);
	}
	/* The last chunk of a source that failed: the rows after it in a plain read would
	 * never come, so no other source's either. */
	if (from && from->done && from->rc < 0 && !from->chunk[from->next].full)
		r->halt_rc = from->rc;
	pthread_mutex_unlock(&r->mu);
	return c;
}

static int ra_decode_log(readahead *r, ra_chunk *c, void *row)
{
	sonde_log_data *lg = row;
	memset(lg, 0, sizeof(*lg));
	return row_log(r->s, c->st, c->ctx, c->data, lg);
}

static readahead *ra_start_log_blocks(sq_store *s, const qbuild *qb, meta_cache *mc, meta_cache *mc2);

static int sq_scan_logs(sonde_store *base, const sonde_query *q, sonde_log_fn fn, void *ctx)
{
	sq_store *s = (sq_store *)base;
	qbuild qb = {.sql = SONDE_BUF_INIT};
	sqlite3_stmt *st = NULL;
	sonde_batch *meta = sonde_batch_new(), *data = sonde_batch_new();
	meta_cache mc = {.b = meta}, mc2 = {.b = NULL}; /* mc2: the second reader's */
	sonde_ptrmap_init(&mc.map);
	sonde_ptrmap_init(&mc2.map);
	int rc = meta && data ? 0 : -ENOMEM;
	if (rc < 0 || (rc = log_query(s, q, false, &qb)) < 0 || qb.none || (rc = qb_prepare(s, &qb, &st)) < 0)
		goto out;
	/* Blocks of rowids read on two threads only where the plain query reads the table in
	 * rowid order: no condition an index serves (time, trace), no sort, no limit. */
	readahead *r = NULL;
	if (q->read_ahead && !q->since_ns && !q->until_ns && !q->trace_id && !q->attrs_count && !q->limit &&
	    q->sort == SONDE_SORT_DEFAULT)
		r = ra_start_log_blocks(s, &qb, &mc, &mc2);
	if (q->read_ahead && !r)
		r = ra_start(s, st, "reading logs", sizeof(sonde_log_data), ra_decode_log, &mc);
	if (r) {
		ra_chunk *c = NULL;
		while (rc == 0 && (c = ra_next(r, c)))
			for (size_t k = 0; k < c->n && rc == 0; k++)
				rc = fn(ctx, (const sonde_log_data *)c->rows + k);
		int rrc = ra_finish(r);
		if (rc == 0)
			rc = rrc;
		goto out;
	}
	int src;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		sonde_log_data lg = {0};
		if (data->arena.bytes_used > (1u << 20))
			sonde_batch_clear(data);
		if ((rc = row_log(s, st, &mc, data, &lg)) < 0)
			goto out;
		if ((rc = fn(ctx, &lg)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading logs");
out:
	sqlite3_finalize(st);
	sonde_buf_release(&qb.sql);
	sonde_ptrmap_release(&mc.map);
	sonde_batch_free(meta);
	sonde_batch_free(data);
	sqlite3_finalize(mc2.get[0]);
	sqlite3_finalize(mc2.get[1]);
	sonde_ptrmap_release(&mc2.map);
	sonde_batch_free(mc2.b);
	return rc;
}

/* ---- Points -------------------------------------------------------------------------- */

static int point_query(sq_store *s, const sonde_query *q, qbuild *qb)
{
	int rc;
	sonde_buf_puts(&qb->sql,
	               "SELECT p.series_id, p.time_ns, p.value, p.rest, m.name_id, m.type, m.resource_id,"
	               " m.scope_id, m.meta, m.attrs FROM points p JOIN series m ON m.id = p.series_id"
	               " WHERE 1");
	if (q->since_ns)
		qb_int(qb, " AND p.time_ns >= ?", (int64_t)q->since_ns);
	if (q->until_ns)
		qb_int(qb, " AND p.time_ns < ?", (int64_t)q->until_ns);
	if ((rc = qb_name(s, qb, " AND m.service_id = ?", q->service)) < 0)
		return rc;
	if ((rc = qb_name(s, qb, " AND m.name_id = ?", q->operation)) < 0)
		return rc;
	for (size_t i = 0; i < q->attrs_count; i++) {
		qb_text(qb, " AND sonde_attr_eq(m.attrs, NULL, ?, ", q->attrs[i].key);
		if (q->attrs[i].value)
			qb_text(qb, "?)", q->attrs[i].value);
		else
			sonde_buf_puts(&qb->sql, "NULL)");
	}
	sonde_buf_puts(&qb->sql, " ORDER BY p.series_id, p.time_ns");
	if (q->limit)
		qb_int(qb, " LIMIT ?", (int64_t)(q->limit > INT64_MAX ? INT64_MAX : q->limit));
	return 0;
}

/* Fills m (its series part, when new_series) and p from a row of point_query. */
static int row_point(sq_store *s, sqlite3_stmt *st, meta_cache *mc, sonde_batch *data, bool new_series,
                     sonde_metric_data *m, sonde_point *p)
{
	int rc;
	sonde__dec d;
	if (new_series) {
		const void *res, *scope;
		if ((rc = meta_get(s, mc, false, sqlite3_column_int64(st, 6), &res)) < 0 ||
		    (rc = meta_get(s, mc, true, sqlite3_column_int64(st, 7), &scope)) < 0)
			return rc;
		memset(m, 0, sizeof *m);
		m->resource = res;
		m->scope = scope;
		sonde_str name;
		if ((rc = string_of(s, sqlite3_column_int64(st, 4), &name)) < 0)
			return rc;
		m->name = sonde_batch_intern(data, name.ptr, name.len);
		if (!m->name.ptr)
			return -ENOMEM;
		int type = sqlite3_column_int(st, 5);
		if (type < SONDE_METRIC_NONE || type > SONDE_METRIC_SUMMARY)
			return damaged(s, "series", -1);
		m->type = (sonde_metric_type)type;
		sonde__dec_init(&d, data, sqlite3_column_blob(st, 8), (size_t)sqlite3_column_bytes(st, 8));
		if ((rc = sonde__dec_metric_meta(&d, m)) < 0)
			return damaged(s, "series", rc);
	}
	memset(p, 0, sizeof *p);
	sonde__dec_init(&d, data, sqlite3_column_blob(st, 9), (size_t)sqlite3_column_bytes(st, 9));
	if ((rc = sonde__dec_attrs(&d, &p->attrs, 0)) < 0)
		return damaged(s, "series", rc);
	p->time_ns = (uint64_t)sqlite3_column_int64(st, 1);
	sonde__dec_init(&d, data, sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3));
	if ((rc = sonde__dec_point_rest(&d, m->type, p)) < 0)
		return damaged(s, "point", rc);
	if (m->type == SONDE_METRIC_GAUGE || m->type == SONDE_METRIC_SUM) {
		int t = sqlite3_column_type(st, 2);
		if (t == SQLITE_INTEGER) {
			p->u.number.kind = SONDE_NUM_INT;
			p->u.number.v.i = sqlite3_column_int64(st, 2);
		} else if (t == SQLITE_FLOAT) {
			p->u.number.kind = SONDE_NUM_DOUBLE;
			p->u.number.v.d = sqlite3_column_double(st, 2);
		}
	}
	return 0;
}

static ssize_t sq_select_points(sonde_store *base, const sonde_query *q, sonde_batch *out)
{
	sq_store *s = (sq_store *)base;
	qbuild qb = {.sql = SONDE_BUF_INIT};
	sqlite3_stmt *st = NULL;
	meta_cache mc = {.b = out};
	sonde_ptrmap_init(&mc.map);
	size_t before = out->metrics_count;
	ssize_t rc = point_query(s, q, &qb), n = 0;
	sonde_point *pts = NULL;
	size_t npts = 0, cap = 0;
	int64_t cur = 0;
	if (rc < 0 || qb.none || (rc = qb_prepare(s, &qb, &st)) < 0)
		goto out;
	int src;
	sonde_metric_data tmpm = {0};
	for (;;) {
		src = sqlite3_step(st);
		int64_t sid = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		if ((src != SQLITE_ROW || sid != cur) && npts) {
			sonde_metric_data *m = sonde_batch_add_metric(out, tmpm.resource, tmpm.scope);
			sonde_point *arr = sonde_batch_alloc(out, npts * sizeof *arr);
			if (!m || !arr) {
				rc = -ENOMEM;
				goto out;
			}
			*m = tmpm;
			memcpy(arr, pts, npts * sizeof *arr);
			m->points = arr;
			m->points_count = (uint32_t)npts;
			npts = 0;
		}
		if (src != SQLITE_ROW)
			break;
		if (npts == cap) {
			cap = cap ? cap * 2 : 64;
			sonde_point *np = realloc(pts, cap * sizeof *np);
			if (!np) {
				rc = -ENOMEM;
				goto out;
			}
			pts = np;
		}
		if ((rc = row_point(s, st, &mc, out, sid != cur, &tmpm, &pts[npts])) < 0)
			goto out;
		npts++;
		n++;
		cur = sid;
	}
	if (src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading points");
out:
	if (rc < 0)
		out->metrics_count = before;
	free(pts);
	sqlite3_finalize(st);
	sonde_buf_release(&qb.sql);
	sonde_ptrmap_release(&mc.map);
	return rc < 0 ? rc : n;
}

static int sq_scan_points(sonde_store *base, const sonde_query *q, sonde_point_fn fn, void *ctx)
{
	sq_store *s = (sq_store *)base;
	qbuild qb = {.sql = SONDE_BUF_INIT};
	sqlite3_stmt *st = NULL;
	sonde_batch *meta = sonde_batch_new(), *data = sonde_batch_new();
	meta_cache mc = {.b = meta};
	sonde_ptrmap_init(&mc.map);
	int rc = meta && data ? 0 : -ENOMEM;
	if (rc < 0 || (rc = point_query(s, q, &qb)) < 0 || qb.none || (rc = qb_prepare(s, &qb, &st)) < 0)
		goto out;
	int src;
	sonde_metric_data m = {0};
	int64_t cur = 0;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t sid = sqlite3_column_int64(st, 0);
		sonde_point p;
		if (sid != cur) {
			/* The series part lives in meta until the scan ends. */
			if ((rc = row_point(s, st, &mc, meta, true, &m, &p)) < 0)
				goto out;
			cur = sid;
		} else {
			if (data->arena.bytes_used > (1u << 20))
				sonde_batch_clear(data);
			if ((rc = row_point(s, st, &mc, data, false, &m, &p)) < 0)
				goto out;
		}
		m.points = &p;
		m.points_count = 1;
		if ((rc = fn(ctx, &m)) != 0)
			goto out;
	}
	if (src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading points");
out:
	sqlite3_finalize(st);
	sonde_buf_release(&qb.sql);
	sonde_ptrmap_release(&mc.map);
	sonde_batch_free(meta);
	sonde_batch_free(data);
	return rc;
}

/* ---- Traces -------------------------------------------------------------------------- */

static ssize_t sq_get_trace(sonde_store *base, const uint8_t trace_id[16], bool with_logs, sonde_batch *out)
{
	sonde_query q = {.trace_id = trace_id, .sort = SONDE_SORT_TIME_ASC};
	size_t spans_before = out->spans_count;
	ssize_t n = sq_select_spans(base, &q, SONDE_FIELDS_ALL, out);
	if (n < 0 || !with_logs || n == 0)
		return n;
	ssize_t rc = sq_select_logs(base, &q, out);
	if (rc < 0) {
		out->spans_count = spans_before;
		return rc;
	}
	return n;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static ssize_t sq_find_traces(sonde_store *base, const sonde_query *q, sonde_trace_list *out)
{
	sq_store *s = (sq_store *)base;
	qbuild qb = {.sql = SONDE_BUF_INIT};
	sqlite3_stmt *st = NULL, *svc = NULL;
	ssize_t rc = 0;
	size_t cap = 0;
	sonde_buf_puts(&qb.sql,
	               "SELECT t.trace_id, t.start_ns, t.end_ns - t.start_ns, t.spans, t.errors, t.has_root,"
	               " t.root_service_id, t.root_name_id, t.trace_key FROM traces t WHERE 1");
	if (q->since_ns)
		qb_int(&qb, " AND t.start_ns >= ?", (int64_t)q->since_ns);
	if (q->until_ns)
		qb_int(&qb, " AND t.start_ns < ?", (int64_t)q->until_ns);
	if (q->min_duration_ns)
		qb_int(&qb, " AND t.end_ns - t.start_ns >= ?", (int64_t)q->min_duration_ns);
	if (q->max_duration_ns)
		qb_int(&qb, " AND t.end_ns - t.start_ns <= ?", (int64_t)q->max_duration_ns);
	if (q->errors_only)
		sonde_buf_puts(&qb.sql, " AND t.errors > 0");
	if (q->trace_id)
		qb_blob(&qb, " AND t.trace_id = ?", q->trace_id, 16);
	if (q->service || q->operation || q->attrs_count || q->kinds || q->roots_only) {
		sonde_query sq = {0};
		sq.service = q->service;
		sq.operation = q->operation;
		sq.attrs = q->attrs;
		sq.attrs_count = q->attrs_count;
		sq.kinds = q->kinds;
		sq.roots_only = q->roots_only;
		sonde_buf_puts(&qb.sql, " AND EXISTS (SELECT 1 FROM spans s");
		if (q->attrs_count)
			sonde_buf_puts(&qb.sql,
			               " LEFT JOIN span_data d ON d.id = s.id LEFT JOIN resources r ON"
			               " r.id = s.resource_id");
		sonde_buf_puts(&qb.sql,
		               " WHERE s.id BETWEEN t.trace_key << 24 AND (t.trace_key << 24) + 16777215");
		if ((rc = qb_span_where(s, &qb, &sq)) < 0)
			goto out;
		sonde_buf_puts(&qb.sql, ")");
	}
	switch (q->sort) {
	case SONDE_SORT_TIME_ASC: sonde_buf_puts(&qb.sql, " ORDER BY t.start_ns"); break;
	case SONDE_SORT_DURATION_DESC: sonde_buf_puts(&qb.sql, " ORDER BY t.end_ns - t.start_ns DESC"); break;
	case SONDE_SORT_DURATION_ASC: sonde_buf_puts(&qb.sql, " ORDER BY t.end_ns - t.start_ns"); break;
	default: sonde_buf_puts(&qb.sql, " ORDER BY t.start_ns DESC"); break;
	}
	size_t limit = q->limit ? q->limit : 20;
	qb_int(&qb, " LIMIT ?", (int64_t)(limit > INT64_MAX ? INT64_MAX : limit));
	if (qb.none || (rc = qb_prepare(s, &qb, &st)) < 0)
		goto out;
	int src = sqlite3_prepare_v2(
	        s->db, "SELECT DISTINCT service_id FROM spans WHERE id BETWEEN ?1 AND ?2", -1, &svc, NULL);
	if (src != SQLITE_OK) {
		rc = sq_rc(s, src, "preparing a query");
		goto out;
	}
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == cap) {
			cap = cap ? cap * 2 : 32;
			sonde_trace_summary *n = realloc(out->items, cap * sizeof *n);
			if (!n) {
				rc = -ENOMEM;
				goto out;
			}
			out->items = n;
		}
		sonde_trace_summary *t = &out->items[out->count];
		memset(t, 0, sizeof *t);
		copy_blob(t->trace_id, 16, st, 0);
		t->start_ns = (uint64_t)sqlite3_column_int64(st, 1);
		t->duration_ns = (uint64_t)sqlite3_column_int64(st, 2);
		t->span_count = (uint32_t)sqlite3_column_int64(st, 3);
		t->error_count = (uint32_t)sqlite3_column_int64(st, 4);
		t->has_root = sqlite3_column_int(st, 5) != 0;
		sonde_str a, b;
		if ((rc = string_of(s, sqlite3_column_int64(st, 6), &a)) < 0 ||
		    (rc = string_of(s, sqlite3_column_int64(st, 7), &b)) < 0)
			goto out;
		t->root_service = sonde_arena_strndup(&out->arena, a.ptr, a.len);
		t->root_operation = sonde_arena_strndup(&out->arena, b.ptr, b.len);
		if (!t->root_service || !t->root_operation) {
			rc = -ENOMEM;
			goto out;
		}
		/* Services of the trace. */
		int64_t key = sqlite3_column_int64(st, 8);
		sqlite3_bind_int64(svc, 1, key * SPAN_ORD_MAX);
		sqlite3_bind_int64(svc, 2, key * SPAN_ORD_MAX + SPAN_ORD_MAX - 1);
		size_t ns = 0, scap = 8;
		const char **names = sonde_arena_alloc(&out->arena, scap * sizeof *names);
		int r2;
		while (names && (r2 = sqlite3_step(svc)) == SQLITE_ROW) {
			sonde_str nm;
			if ((rc = string_of(s, sqlite3_column_int64(svc, 0), &nm)) < 0) {
				sqlite3_reset(svc);
				goto out;
			}
			if (ns == scap) {
				const char **nn = sonde_arena_alloc(&out->arena, scap * 2 * sizeof *nn);
				if (!nn) {
					names = NULL;
					break;
				}
				memcpy(nn, names, scap * sizeof *nn);
				names = nn;
				scap *= 2;
			}
			names[ns] = sonde_arena_strndup(&out->arena, nm.ptr, nm.len);
			if (!names[ns]) {
				names = NULL;
				break;
			}
			ns++;
		}
		sqlite3_reset(svc);
		if (!names) {
			rc = -ENOMEM;
			goto out;
		}
		qsort(names, ns, sizeof *names, cmp_str);
		t->services = names;
		t->services_count = ns;
		out->count++;
	}
	if (src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading traces");
out:
	sqlite3_finalize(st);
	sqlite3_finalize(svc);
	sonde_buf_release(&qb.sql);
	return rc < 0 ? rc : (ssize_t)out->count;
}

/* ---- Aggregation --------------------------------------------------------------------- */

static const char *const kind_names[] = {"unspecified", "internal", "server",
                                         "client",      "producer", "consumer"};
static const char *const status_names[] = {"unset", "ok", "error"};

/* Values of resource attributes met during one aggregation, by (resource id, key). */
typedef struct res_attrs {
	sonde__keymap map; /* -> index + 1 in vals */
	const char **vals;
	size_t n, cap;
} res_attrs;

/* The text of attribute key[0..klen) of resource rid ("" when it lacks it), interned in
 * vals; read from the store once per resource and key (holding r's db_mu when r is
 * reading ahead on the store's connection). */
static int res_attr(sq_store *s, readahead *r, res_attrs *ra, sonde_intern *vals, int64_t rid,
                    const char *key, size_t klen, const char **out)
{
	struct {
		int64_t rid;
		uintptr_t key;
		uint64_t klen;
	} k = {rid, (uintptr_t)key, klen};
	uint64_t h = sonde__keymap_hash(&k, sizeof k);
	int64_t got = id_get(&ra->map, &k, sizeof k, h);
	if (got) {
		*out = ra->vals[got - 1];
		return 0;
	}
	sonde_buf text = SONDE_BUF_INIT;
	if (r)
		pthread_mutex_lock(&r->db_mu);
	sqlite3_bind_int64(s->get_res_data, 1, rid);
	int rc = sqlite3_step(s->get_res_data);
	if (rc == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(s->get_res_data, 0);
		int n = sqlite3_column_bytes(s->get_res_data, 0);
		if (blob && n > 0)
			sonde__attrs_find_text(blob, (size_t)n, key, klen, &text);
	}
	sqlite3_reset(s->get_res_data);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rc = sq_rc(s, rc, "reading resources");
	else
		rc = 0;
	if (r)
		pthread_mutex_unlock(&r->db_mu);
	if (rc < 0) {
		sonde_buf_release(&text);
		return rc;
	}
	bool oom = text.oom;
	const char *v = oom ? NULL : sonde_intern_str(vals, text.len ? text.data : "", text.len);
	sonde_buf_release(&text);
	if (!v)
		return -ENOMEM;
	if (ra->n == ra->cap) {
		size_t cap = ra->cap ? ra->cap * 2 : 16;
		const char **nv = realloc(ra->vals, cap * sizeof *nv);
		if (!nv)
			return -ENOMEM;
		ra->vals = nv;
		ra->cap = cap;
	}
	ra->vals[ra->n++] = v;
	*out = v;
	return id_put(&ra->map, &k, sizeof k, h, (int64_t)ra->n);
}

/* One row of the aggregation's query, as read (attrs: lent by sqlite when read in the
 * caller's thread, else copied into the chunk's blobs at attrs_off). */
typedef struct agg_row {
	int64_t service, name, kind, status, dur, start, resource, parent_service;
	size_t attrs_off;
	int attrs_n; /* 0: none */
} agg_row;

/* How one reader (the caller's thread, or a source of a read-ahead) reads the rows of the
 * aggregation's query: which columns it needs, and, when only spans of some kinds need
 * their attributes, a statement over span_data that it steps along with the scan. */
typedef struct agg_src {
	bool want_res, want_parent; /* columns 7 (resource) and 8 (parent's service) */
	uint32_t attr_kinds;        /* with attrs: spans of these kinds get theirs from it */
	sqlite3_stmt *attrs;        /* SQL_AGG_ATTRS on db, or NULL: column 6 has them; owned */
	sqlite3 *db;
	bool started;
	int64_t at; /* the id of the row attrs is on; INT64_MAX: past the last */
} agg_src;

#define SQL_AGG_ATTRS "SELECT id, attrs FROM span_data WHERE id >= ?1"

/* Rows stepped over before attrs is sought again. The scan reads spans in rowid order
 * (span_data's too), so the next span that needs its attributes is usually a few rows
 * on: stepping there costs less than a lookup per span. */
enum { AGG_ATTRS_STEPS = 8 };

/* Points *blob, *n at the attributes of span id (NULL, 0 when it has none), valid until
 * a's next use. SQLITE_OK or the failed step's code. */
static int agg_src_attrs(agg_src *a, int64_t id, const void **blob, int *n)
{
	*blob = NULL;
	*n = 0;
	bool seek = !a->started || id < a->at;
	for (int k = 0;; k++) {
		if (seek) {
			sqlite3_reset(a->attrs);
			sqlite3_bind_int64(a->attrs, 1, id);
			a->started = true;
			seek = false;
			k = 0;
		} else if (a->at >= id) {
			break;
		}
		int rc = sqlite3_step(a->attrs);
		if (rc == SQLITE_DONE) {
			a->at = INT64_MAX;
			break;
		}
		if (rc != SQLITE_ROW) {
			a->started = false;
			return rc;
		}
		a->at = sqlite3_column_int64(a->attrs, 0);
		seek = a->at < id && k + 1 >= AGG_ATTRS_STEPS;
	}
	if (a->at == id) {
		*blob = sqlite3_column_blob(a->attrs, 1);
		*n = *blob ? sqlite3_column_bytes(a->attrs, 1) : 0;
	}
	return SQLITE_OK;
}

/* Reads the current row of st into row; *attrs (n = row->attrs_n) lent by sqlite. */
static int agg_fill(agg_src *a, sqlite3_stmt *st, agg_row *row, const void **attrs)
{
	row->service = sqlite3_column_int64(st, 0);
	row->name = sqlite3_column_int64(st, 1);
	row->kind = sqlite3_column_int64(st, 2);
	row->status = sqlite3_column_int64(st, 3);
	row->dur = sqlite3_column_int64(st, 4);
	row->start = sqlite3_column_int64(st, 5);
	row->resource = a->want_res ? sqlite3_column_int64(st, 7) : 0;
	row->parent_service = a->want_parent ? sqlite3_column_int64(st, 8) : 0;
	row->attrs_off = 0;
	row->attrs_n = 0;
	*attrs = NULL;
	if (!a->attrs) {
		*attrs = sqlite3_column_blob(st, 6);
		row->attrs_n = *attrs ? sqlite3_column_bytes(st, 6) : 0;
	} else if (row->kind >= 0 && row->kind < 32 && (a->attr_kinds >> row->kind & 1)) {
		return agg_src_attrs(a, sqlite3_column_int64(st, 9), attrs, &row->attrs_n);
	}
	return SQLITE_OK;
}

static int ra_decode_agg(readahead *r, ra_chunk *c, void *row)
{
	agg_row *ar = row;
	const void *attrs;
	agg_src *a = c->ctx;
	int src = agg_fill(a, c->st, ar, &attrs);
	if (src != SQLITE_OK) {
		pthread_mutex_lock(&r->mu); /* the other reader may fail at the same time */
		int rc = sq_rc_on(r->s, a->db, src, "reading span attributes");
		pthread_mutex_unlock(&r->mu);
		return rc;
	}
	if (ar->attrs_n > 0) {
		ar->attrs_off = c->blobs.len;
		sonde_buf_append(&c->blobs, attrs, (size_t)ar->attrs_n);
		if (c->blobs.oom)
			return -ENOMEM;
	}
	return 0;
}

static void ra_lock_db(readahead *r)
{
	if (r)
		pthread_mutex_lock(&r->db_mu);
}

static void ra_unlock_db(readahead *r)
{
	if (r)
		pthread_mutex_unlock(&r->db_mu);
}

/* Prepares qb's query on db with tail (more conditions, on parameters numbered after
 * qb's) appended, qb's parameters bound. 0, or -1 on failure. */
static int qb_prepare_tail(sqlite3 *db, const qbuild *qb, const char *tail, sqlite3_stmt **st)
{
	*st = NULL;
	if (qb->sql.oom || qb->nbinds >= 48)
		return -1;
	sonde_buf sql = SONDE_BUF_INIT;
	sonde_buf_printf(&sql, "%s%s", qb->sql.data, tail);
	int rc = sql.oom ? SQLITE_NOMEM : sqlite3_prepare_v2(db, sql.data, -1, st, NULL);
	sonde_buf_release(&sql);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(*st);
		*st = NULL;
		return -1;
	}
	qb_bind(qb, *st);
	return 0;
}

/* The smallest and largest rowid of table (a literal name); false when it is empty or
 * they cannot be read. */
static bool id_range(sq_store *s, const char *table, int64_t *lo, int64_t *hi)
{
	/* Two subqueries: min() and max() in one query would read the whole table. */
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT (SELECT min(id) FROM %s), (SELECT max(id) FROM %s)", table, table);
	sqlite3_stmt *mm = NULL;
	bool got = sqlite3_prepare_v2(s->db, sql, -1, &mm, NULL) == SQLITE_OK &&
	           sqlite3_step(mm) == SQLITE_ROW && sqlite3_column_type(mm, 0) != SQLITE_NULL;
	if (got) {
		*lo = sqlite3_column_int64(mm, 0);
		*hi = sqlite3_column_int64(mm, 1);
	}
	sqlite3_finalize(mm);
	return got;
}

/* A second, read-only connection to the store's file, for a reader thread (NULL: none,
 * or the store is not a plain file). */
static sqlite3 *second_db(sq_store *s)
{
	if (!s->path[0] || strcmp(s->path, ":memory:") == 0 || strncmp(s->path, "file:", 5) == 0)
		return NULL;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(s->path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 10000);
	sqlite3_exec(db, "PRAGMA cache_size = -65536; PRAGMA mmap_size = 1073741824", NULL, NULL, NULL);
	return db;
}

/* For an aggregation in any order (sonde_query.any_order): reads the spans of qb's query
 * in two rowid halves on two threads, the second half on a read-only connection of its
 * own. NULL (having read nothing) when the table is too small to be worth it or anything
 * fails: the caller then reads as usual. src[k] decodes source k's rows; src[1].attrs,
 * when src[0].attrs is set, is prepared here on the second connection (the caller
 * finalizes it, after the read-ahead). Spans are clustered by trace in rowid order and
 * a trace's key grows by one per trace, so halves of the id range are about halves of
 * the spans. */
static readahead *ra_start_halves(sq_store *s, const qbuild *qb, agg_src src[RA_SOURCES])
{
	int64_t lo = 0, hi = 0;
	if (!id_range(s, "spans", &lo, &hi) || hi - lo < 2 * RA_ROWS)
		return NULL;
	int64_t mid = lo + (hi - lo) / 2 + 1;
	sqlite3 *db2 = second_db(s);
	if (!db2)
		return NULL;
	char ta[64], tb[64];
	snprintf(ta, sizeof ta, " AND s.id < ?%d", qb->nbinds + 1);
	snprintf(tb, sizeof tb, " AND s.id >= ?%d", qb->nbinds + 1);
	sqlite3_stmt *a = NULL, *b = NULL;
	readahead *r = NULL;
	if (qb_prepare_tail(s->db, qb, ta, &a) < 0 || qb_prepare_tail(db2, qb, tb, &b) < 0 ||
	    (src[0].attrs && sqlite3_prepare_v2(db2, SQL_AGG_ATTRS, -1, &src[1].attrs, NULL) != SQLITE_OK) ||
	    !(r = ra_new(s, "reading spans", sizeof(agg_row), ra_decode_agg))) {
		sqlite3_finalize(a);
		sqlite3_finalize(b);
		sqlite3_finalize(src[1].attrs);
		src[1].attrs = NULL;
		sqlite3_close(db2);
		return NULL;
	}
	src[1].db = db2;
	sqlite3_bind_int64(a, qb->nbinds + 1, mid);
	sqlite3_bind_int64(b, qb->nbinds + 1, mid);
	r->any_order = true;
	bool ok = ra_add(r, a, NULL, true, &src[0]);
	/* db2 closes once src[1].attrs is finalized too (sqlite3_close_v2()). */
	if (!ra_add(r, b, db2, true, &src[1]) || !ok) {
		ra_free(r);
		return NULL;
	}
	return ra_run(r) ? r : NULL;
}

/* For a scan of logs in rowid order (read_ahead): reads blocks of RA_ROWS rowids on two
 * threads, the even blocks on the store's connection, the odd ones on a read-only
 * connection of its own (decoded with mc2, whose statements read that connection), and
 * the caller takes the blocks in turn: the same rows in the same order as one reader,
 * with the stepping and decoding shared by two. NULL (having read nothing) when the
 * table is small or anything fails; mc2's statements and batch are the caller's to free
 * either way, after the read-ahead. */
static readahead *ra_start_log_blocks(sq_store *s, const qbuild *qb, meta_cache *mc, meta_cache *mc2)
{
	int64_t lo = 0, hi = 0;
	if (!id_range(s, "logs", &lo, &hi) || hi - lo < 4 * RA_ROWS)
		return NULL;
	sqlite3 *db2 = second_db(s);
	if (!db2)
		return NULL;
	char tail[64];
	snprintf(tail, sizeof tail, " AND l.id >= ?%d AND l.id < ?%d", qb->nbinds + 1, qb->nbinds + 2);
	sqlite3_stmt *a = NULL, *b = NULL;
	readahead *r = NULL;
	if (!(mc2->b = sonde_batch_new()) ||
	    sqlite3_prepare_v2(db2, SQL_GET_RES_DATA, -1, &mc2->get[0], NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db2, SQL_GET_SCOPE_DATA, -1, &mc2->get[1], NULL) != SQLITE_OK ||
	    qb_prepare_tail(s->db, qb, tail, &a) < 0 || qb_prepare_tail(db2, qb, tail, &b) < 0 ||
	    !(r = ra_new(s, "reading logs", sizeof(sonde_log_data), ra_decode_log))) {
		sqlite3_finalize(a);
		sqlite3_finalize(b);
		sqlite3_close_v2(db2);
		return NULL;
	}
	ra_source *pa = ra_add(r, a, NULL, true, mc), *pb = ra_add(r, b, db2, true, mc2);
	if (!pa || !pb) {
		ra_free(r);
		return NULL;
	}
	/* Each reader resets its statement between blocks: an open statement on each
	 * connection keeps its read transaction, begun here, to the end of the scan. */
	if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM logs", -1, &pa->pin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db2, "SELECT 1 FROM logs", -1, &pb->pin, NULL) != SQLITE_OK ||
	    sqlite3_step(pa->pin) != SQLITE_ROW || sqlite3_step(pb->pin) != SQLITE_ROW) {
		ra_free(r);
		return NULL;
	}
	pa->blocks = pb->blocks = true;
	pa->lo = lo;
	pb->lo = lo + RA_ROWS;
	pa->hi = pb->hi = hi;
	pa->stride = pb->stride = 2 * RA_ROWS;
	return ra_run(r) ? r : NULL;
}

static ssize_t sq_aggregate_spans(sonde_store *base, const sonde_query *q, const sonde_agg_key *keys,
                                  size_t nkeys, sonde_agg_value_fn on_value, void *ctx, sonde_agg_result *out)
{
	sq_store *s = (sq_store *)base;
	qbuild qb = {.sql = SONDE_BUF_INIT};
	sqlite3_stmt *st = NULL;
	bool want_attrs = false, want_parent = false;
	uint32_t attr_kinds = 0; /* spans of these kinds need their attributes; 0: all */
	bool attr_all_kinds = false;
	for (size_t i = 0; i < nkeys; i++) {
		bool a = keys[i].kind == SONDE_KEY_ATTR || keys[i].kind == SONDE_KEY_ATTR_ANY;
		want_attrs |= a;
		want_parent |= keys[i].kind == SONDE_KEY_PARENT_SERVICE;
		if (a && keys[i].kinds)
			attr_kinds |= keys[i].kinds;
		else if (a)
			attr_all_kinds = true;
	}
	bool join_attrs = (want_attrs && attr_all_kinds) || q->attrs_count;
	sonde_buf_puts(&qb.sql, "SELECT s.service_id, s.name_id, s.kind, s.status, s.dur_ns, s.start_ns");
	if (want_attrs && !join_attrs) {
		/* Only spans of some kinds need attributes: read them for those alone, from
		 * span_data stepped along with the scan (agg_src_attrs()). */
		sonde_buf_puts(&qb.sql, ", NULL, s.resource_id");
	} else {
		/* Resource attributes are looked up once per resource (res_attr()), not per span. */
		sonde_buf_puts(&qb.sql, want_attrs ? ", d.attrs, s.resource_id" : ", NULL, NULL");
	}
	sonde_buf_puts(&qb.sql, want_parent ? ", p.service_id, s.id" : ", 0, s.id");
	sonde_buf_puts(&qb.sql, " FROM spans s");
	if (join_attrs)
		sonde_buf_puts(&qb.sql, " LEFT JOIN span_data d ON d.id = s.id");
	if (q->attrs_count)
		sonde_buf_puts(&qb.sql, " LEFT JOIN resources r ON r.id = s.resource_id");
	if (want_parent)
		sonde_buf_puts(&qb.sql,
		               " LEFT JOIN spans p ON p.trace_key = s.trace_key AND p.span_id = s.parent_id");
	sonde_buf_puts(&qb.sql, " WHERE 1");
	sonde__keymap groups;
	sonde__keymap_init(&groups);
	sonde_intern attr_vals;
	sonde_intern_init(&attr_vals, &out->arena);
	res_attrs rattrs = {.vals = NULL};
	sonde__keymap_init(&rattrs.map);
	sonde_buf text = SONDE_BUF_INIT;
	size_t cap = 0;
	readahead *r = NULL;
	ra_chunk *c = NULL;
	size_t ck = 0;
	int src = SQLITE_DONE;
	/* The last value of each key met for spans without attributes, by resource. */
	struct res_memo {
		int64_t rid;
		const char *v; /* NULL: none */
	} memos[SONDE_AGG_MAX_KEYS][16];
	memset(memos, 0, sizeof memos);
	/* [0]: the caller's thread or the store's connection; [1]: the second half's. */
	agg_src asrc[RA_SOURCES];
	for (int k = 0; k < RA_SOURCES; k++)
		asrc[k] = (agg_src){
		        .want_res = want_attrs, .want_parent = want_parent, .attr_kinds = attr_kinds};
	asrc[0].db = s->db;
	ssize_t rc = qb_span_where(s, &qb, q);
	if (rc < 0 || qb.none || (rc = qb_prepare(s, &qb, &st)) < 0)
		goto out;
	if (want_attrs && !join_attrs &&
	    (src = sqlite3_prepare_v2(s->db, SQL_AGG_ATTRS, -1, &asrc[0].attrs, NULL)) != SQLITE_OK) {
		rc = sq_rc(s, src, "reading span attributes");
		goto out;
	}
	src = SQLITE_DONE;
	/* Halves by rowid only for a full scan: a condition an index serves would have each
	 * half walk the whole index range. */
	if (q->read_ahead && q->any_order && !q->since_ns && !q->until_ns && !q->service && !q->operation &&
	    !q->trace_id && !q->attrs_count)
		r = ra_start_halves(s, &qb, asrc);
	if (q->read_ahead && !r)
		r = ra_start(s, st, "reading spans", sizeof(agg_row), ra_decode_agg, &asrc[0]);
	for (;;) {
		agg_row one;
		const agg_row *row = &one;
		const void *blob;
		if (r) {
			while (!c || ck == c->n) {
				ck = 0;
				if (!(c = ra_next(r, c)))
					goto done;
			}
			row = (const agg_row *)c->rows + ck++;
			blob = row->attrs_n ? c->blobs.data + row->attrs_off : NULL;
		} else {
			if ((src = sqlite3_step(st)) != SQLITE_ROW)
				break;
			int a = agg_fill(&asrc[0], st, &one, &blob);
			if (a != SQLITE_OK) {
				rc = sq_rc(s, a, "reading span attributes");
				goto out;
			}
		}
		int64_t key[SONDE_AGG_MAX_KEYS] = {0};
		const char *attr_text[SONDE_AGG_MAX_KEYS] = {0};
		for (size_t i = 0; i < nkeys; i++) {
			switch (keys[i].kind) {
			case SONDE_KEY_SERVICE: key[i] = row->service; break;
			case SONDE_KEY_OPERATION: key[i] = row->name; break;
			case SONDE_KEY_KIND: key[i] = row->kind; break;
			case SONDE_KEY_STATUS: key[i] = row->status; break;
			case SONDE_KEY_PARENT_SERVICE: key[i] = row->parent_service; break;
			case SONDE_KEY_ATTR:
			case SONDE_KEY_ATTR_ANY: {
				int64_t kind = row->kind;
				bool has = !keys[i].kinds ||
				           (kind >= 0 && kind < 32 && (keys[i].kinds >> kind & 1));
				const char *list = keys[i].attr ? keys[i].attr : "";
				int n = row->attrs_n;
				const char *v = "";
				/* Without span attributes the value is the resource's alone. */
				struct res_memo *memo =
				        has && !(blob && n > 0) ? &memos[i][row->resource & 15] : NULL;
				if (memo && memo->v && memo->rid == row->resource) {
					v = memo->v;
					has = false;
				}
				while (has) {
					size_t klen = keys[i].kind == SONDE_KEY_ATTR_ANY ? strcspn(list, ",")
					                                                 : strlen(list);
					sonde_buf_reset(&text);
					if (blob && n > 0 &&
					    sonde__attrs_find_text(blob, (size_t)n, list, klen, &text))
						v = sonde_intern_str(&attr_vals, text.len ? text.data : "",
						                     text.len);
					else if ((rc = res_attr(s, r, &rattrs, &attr_vals, row->resource,
					                        list, klen, &v)) < 0)
						goto out;
					if (!v) {
						rc = -ENOMEM;
						goto out;
					}
					if (keys[i].kind == SONDE_KEY_ATTR || v[0] || !list[klen]) {
						if (memo)
							*memo = (struct res_memo){row->resource, v};
						break;
					}
					list += klen + 1;
				}
				attr_text[i] = v;
				key[i] = (int64_t)(intptr_t)v;
				break;
			}
			}
		}
		uint64_t h = sonde__keymap_hash(key, sizeof key);
		int64_t gi = id_get(&groups, key, sizeof key, h);
		if (!gi) {
			if (out->count == cap) {
				cap = cap ? cap * 2 : 64;
				sonde_agg_group *ng = realloc(out->groups, cap * sizeof *ng);
				if (!ng) {
					rc = -ENOMEM;
					goto out;
				}
				out->groups = ng;
			}
			sonde_agg_group *g = &out->groups[out->count];
			memset(g, 0, sizeof *g);
			g->min_ns = UINT64_MAX;
			for (size_t i = 0; i < SONDE_AGG_MAX_KEYS; i++)
				g->values[i] = "";
			for (size_t i = 0; i < nkeys; i++) {
				sonde_str v = SONDE_STR_LIT("");
				switch (keys[i].kind) {
				case SONDE_KEY_SERVICE:
				case SONDE_KEY_OPERATION:
				case SONDE_KEY_PARENT_SERVICE:
					ra_lock_db(r);
					rc = string_of(s, key[i], &v);
					ra_unlock_db(r);
					if (rc < 0)
						goto out;
					break;
				case SONDE_KEY_KIND:
					v.ptr = key[i] >= 0 && key[i] <= 5 ? kind_names[key[i]] : "unknown";
					v.len = strlen(v.ptr);
					break;
				case SONDE_KEY_STATUS:
					v.ptr = key[i] >= 0 && key[i] <= 2 ? status_names[key[i]] : "unknown";
					v.len = strlen(v.ptr);
					break;
				case SONDE_KEY_ATTR:
				case SONDE_KEY_ATTR_ANY: v.ptr = attr_text[i]; break;
				}
				if (keys[i].kind == SONDE_KEY_ATTR || keys[i].kind == SONDE_KEY_ATTR_ANY)
					g->values[i] = v.ptr;
				else if (!(g->values[i] = sonde_arena_strndup(&out->arena, v.ptr, v.len))) {
					rc = -ENOMEM;
					goto out;
				}
			}
			if ((rc = id_put(&groups, key, sizeof key, h, (int64_t)out->count + 1)) < 0)
				goto out;
			gi = (int64_t)++out->count;
		}
		sonde_agg_group *g = &out->groups[gi - 1];
		int64_t dur = row->dur;
		uint64_t d = dur < 0 ? 0 : (uint64_t)dur;
		uint64_t start = (uint64_t)row->start;
		bool err = row->status == SONDE_STATUS_ERROR;
		if (g->count == 0 || start < g->first_start_ns)
			g->first_start_ns = start;
		if (start > g->last_start_ns)
			g->last_start_ns = start;
		g->count++;
		g->errors += err;
		g->sum_ns += d;
		if (d < g->min_ns)
			g->min_ns = d;
		if (d > g->max_ns)
			g->max_ns = d;
		if (on_value && on_value(ctx, (size_t)gi - 1, d, err) != 0) {
			rc = sonde__store_fail(base, -ECANCELED, "aggregation stopped by the caller");
			goto out;
		}
	}
	if (src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading spans");
done:
	if (r) {
		rc = ra_finish(r);
		r = NULL;
	}
out:
	ra_finish(r); /* before the statement goes */
	sqlite3_finalize(st);
	for (int k = 0; k < RA_SOURCES; k++)
		sqlite3_finalize(asrc[k].attrs); /* the second closes its connection */
	sonde_buf_release(&qb.sql);
	sonde_buf_release(&text);
	sonde__keymap_release(&groups);
	sonde__keymap_release(&rattrs.map);
	free(rattrs.vals);
	sonde_intern_release(&attr_vals);
	return rc < 0 ? rc : (ssize_t)out->count;
}

/* ---- Info and prune ------------------------------------------------------------------ */

static int query_i64s(sq_store *s, const char *sql, int64_t *vals, int n)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_rc(s, rc, "preparing a query");
	rc = sqlite3_step(st);
	for (int i = 0; i < n; i++)
		vals[i] = rc == SQLITE_ROW ? sqlite3_column_int64(st, i) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_rc(s, rc, "reading");
}

static int sq_info(sonde_store *base, sonde_store_info *out)
{
	sq_store *s = (sq_store *)base;
	snprintf(out->backend, sizeof out->backend, "sqlite");
	out->schema_version = SCHEMA_VERSION;
	struct stat stt;
	if (stat(s->path, &stt) == 0)
		out->size_bytes = (uint64_t)stt.st_size;
	size_t plen = strlen(s->path);
	char *wal = malloc(plen + 5);
	if (wal) {
		memcpy(wal, s->path, plen);
		memcpy(wal + plen, "-wal", 5);
		if (stat(wal, &stt) == 0) {
			out->wal_bytes = (uint64_t)stt.st_size;
			out->size_bytes += out->wal_bytes;
		}
		free(wal);
	}
	int rc;
	int64_t v[6];
	/* One read transaction, so the counts agree with each other. */
	if ((rc = exec(s, "BEGIN")) < 0)
		return rc;
	if ((rc = query_i64s(
	             s,
	             "SELECT (SELECT count(*) FROM spans), (SELECT count(*) FROM traces),"
	             " (SELECT count(*) FROM logs), (SELECT count(*) FROM points),"
	             " (SELECT count(*) FROM series), (SELECT count(DISTINCT service_id) FROM resources)",
	             v, 6)) < 0)
		goto out;
	out->spans = (uint64_t)v[0];
	out->traces = (uint64_t)v[1];
	out->logs = (uint64_t)v[2];
	out->points = (uint64_t)v[3];
	out->series = (uint64_t)v[4];
	out->services = (uint64_t)v[5];
	if ((rc = query_i64s(s,
	                     "SELECT (SELECT min(start_ns) FROM spans), (SELECT max(start_ns) FROM spans),"
	                     " (SELECT min(time_ns) FROM logs), (SELECT max(time_ns) FROM logs),"
	                     " (SELECT min(time_ns) FROM points), (SELECT max(time_ns) FROM points)",
	                     v, 6)) < 0)
		goto out;
	out->spans_min_ns = (uint64_t)v[0];
	out->spans_max_ns = (uint64_t)v[1];
	out->logs_min_ns = (uint64_t)v[2];
	out->logs_max_ns = (uint64_t)v[3];
	out->points_min_ns = (uint64_t)v[4];
	out->points_max_ns = (uint64_t)v[5];
out:
	sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
	return rc;
}

static int run_delete(sq_store *s, const char *sql, int64_t before, uint64_t *count)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_rc(s, rc, "preparing a delete");
	sqlite3_bind_int64(st, 1, before);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sq_rc(s, rc, "deleting");
	if (count)
		*count = (uint64_t)sqlite3_changes(s->db);
	return 0;
}

static int sq_prune_tx(sq_store *s, int64_t before, sonde_prune_stats *stats);

static int sq_prune(sonde_store *base, uint64_t before_ns, bool vacuum, sonde_prune_stats *stats)
{
	sq_store *s = (sq_store *)base;
	if (s->readonly)
		return sonde__store_fail(base, -EROFS, "%s: opened read-only", s->path);
	int64_t before = before_ns > INT64_MAX ? INT64_MAX : (int64_t)before_ns;
	/* What prune deletes is overwritten in the file, not left in free space (sq_open
	 * turns secure_delete off for appends). */
	int rc = exec(s, "PRAGMA secure_delete = ON");
	if (rc < 0)
		return rc;
	rc = sq_prune_tx(s, before, stats);
	int off = exec(s, "PRAGMA secure_delete = OFF");
	if (rc < 0)
		return rc;
	if (off < 0)
		return off;
	if (vacuum && (rc = exec(s, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM")) < 0)
		return rc;
	return 0;
}

/* The transaction of sq_prune. */
static int sq_prune_tx(sq_store *s, int64_t before, sonde_prune_stats *stats)
{
	int rc = exec(s, "BEGIN IMMEDIATE");
	if (rc < 0)
		return rc;
	if ((rc = exec(s, "CREATE TEMP TABLE IF NOT EXISTS prune_traces3(trace_key INTEGER PRIMARY KEY);"
	                  " DELETE FROM prune_traces3")) < 0 ||
	    (rc = run_delete(s, "INSERT INTO prune_traces3 SELECT trace_key FROM traces WHERE start_ns < ?1",
	                     before, NULL)) < 0 ||
	    (rc = run_delete(
	             s,
	             "DELETE FROM span_data WHERE id IN (SELECT s.id FROM prune_traces3 p JOIN spans s"
	             " ON s.trace_key = p.trace_key) AND ?1 IS NOT NULL",
	             before, NULL)) < 0 ||
	    (rc = run_delete(s,
	                     "DELETE FROM spans WHERE trace_key IN (SELECT trace_key FROM prune_traces3) AND "
	                     "?1 IS NOT"
	                     " NULL",
	                     before, &stats->spans)) < 0 ||
	    (rc = run_delete(s, "DELETE FROM traces WHERE start_ns < ?1", before, &stats->traces)) < 0 ||
	    (rc = run_delete(s, "DELETE FROM logs WHERE time_ns < ?1", before, &stats->logs)) < 0 ||
	    (rc = run_delete(s, "DELETE FROM points WHERE time_ns < ?1", before, &stats->points)) < 0 ||
	    (rc = exec(s, "DELETE FROM prune_traces3; COMMIT")) < 0) {
		char msg[sizeof s->base.errmsg];
		memcpy(msg, s->base.errmsg, sizeof msg);
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		memcpy(s->base.errmsg, msg, sizeof msg);
		memset(stats, 0, sizeof *stats);
		return rc;
	}
	return 0;
}

/* ---- Log templates ------------------------------------------------------------------- */

static int sq_scan_templates(sonde_store *base, sonde_template_fn fn, void *ctx)
{
	sq_store *s = (sq_store *)base;
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(s->db,
	                            "SELECT id, text, count, first_ns, last_ns FROM templates"
	                            " ORDER BY count DESC, id",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return sq_rc(s, rc, "reading templates");
	int src;
	rc = 0;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		const char *text = (const char *)sqlite3_column_text(st, 1);
		sonde_log_template t = {
		        .id = (uint64_t)sqlite3_column_int64(st, 0),
		        .text = text ? text : "",
		        .text_len = (size_t)sqlite3_column_bytes(st, 1),
		        .count = (uint64_t)sqlite3_column_int64(st, 2),
		        .first_ns = (uint64_t)sqlite3_column_int64(st, 3),
		        .last_ns = (uint64_t)sqlite3_column_int64(st, 4),
		};
		if ((rc = fn(ctx, &t)) != 0)
			break;
	}
	if (rc == 0 && src != SQLITE_DONE)
		rc = sq_rc(s, src, "reading templates");
	sqlite3_finalize(st);
	return rc;
}

const sonde_store_ops sonde__store_sqlite_ops = {
        .name = "sqlite",
        .open = sq_open,
        .close = sq_close,
        .append = sq_append,
        .get_trace = sq_get_trace,
        .find_traces = sq_find_traces,
        .select_spans = sq_select_spans,
        .scan_spans = sq_scan_spans,
        .select_logs = sq_select_logs,
        .scan_logs = sq_scan_logs,
        .select_points = sq_select_points,
        .scan_points = sq_scan_points,
        .aggregate_spans = sq_aggregate_spans,
        .info = sq_info,
        .prune = sq_prune,
        .scan_templates = sq_scan_templates,
};

const char *sonde__store_sqlite_migration(int from_version)
{
	return from_version >= 0 && from_version < SCHEMA_VERSION ? migrations[from_version] : NULL;
}

int sonde_store_schema_version(void)
{
	return SCHEMA_VERSION;
}

int sonde__store_sqlite_hold(sonde_store *base, int op)
{
	if (!base || base->ops != &sonde__store_sqlite_ops)
		return -ENOTSUP;
	sq_store *s = (sq_store *)base;
	if (s->readonly)
		return -ENOTSUP;
	int rc = 0;
	switch (op) {
	case SONDE__HOLD_BEGIN:
		if (s->held)
			return -EINVAL;
		if ((rc = step_done(s, s->begin)) == 0)
			s->held = true;
		return rc;
	case SONDE__HOLD_COMMIT:
		if (!s->held)
			return -EINVAL;
		s->held = false;
		if (sqlite3_get_autocommit(s->db))
			return sonde__store_fail(base, -EIO, "%s: the held transaction was rolled back",
			                         s->path);
		if ((rc = step_done(s, s->commit)) < 0) {
			char msg[sizeof s->base.errmsg];
			memcpy(msg, s->base.errmsg, sizeof msg);
			if (!sqlite3_get_autocommit(s->db))
				step_done(s, s->rollback);
			memcpy(s->base.errmsg, msg, sizeof msg);
			clear_caches(s);
		}
		return rc;
	case SONDE__HOLD_ROLLBACK:
		if (!s->held)
			return -EINVAL;
		s->held = false;
		if (!sqlite3_get_autocommit(s->db))
			rc = step_done(s, s->rollback);
		/* Ids cached during the transaction are gone with it. */
		clear_caches(s);
		return rc;
	default: return -EINVAL;
	}
}

struct sqlite3 *sonde__store_sqlite_db(sonde_store *s)
{
	return s && s->ops == &sonde__store_sqlite_ops ? ((sq_store *)s)->db : NULL;
}
