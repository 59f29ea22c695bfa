/*
 * journal.c - incidents, their entries and the event journal (journal.h), kept in three
 * tables of the SQLite store:
 *   journal_incidents(num, title, severity, resolved, created_ns, resolved_ns, author)
 *   journal_entries(incident, seq, kind, time_ns, author, text, source, detail, ref)
 *   journal_events(id, time_ns, kind, source, summary, detail, incident)
 *
 * The tables are not part of the store's versioned schema: they are created with
 * CREATE TABLE IF NOT EXISTS before the first write, and a read first asks sqlite_master
 * whether they exist (a store that never held an incident, or a read-only one, has none,
 * and reads as empty). Numbers (incident num, entry seq, event id) are given by the
 * INSERT itself (max + 1 in the same statement), so two writers never share one.
 */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json.h"
#include "journal.h"
#include "sonde/status.h"
#include "store_internal.h"

static const char *const severity_names[] = {"CRITICAL", "HIGH", "MEDIUM", "LOW"};
static const char *const kind_names[] = {"repro",      "evidence", "hypothesis", "verify",
                                         "root-cause", "fix",      "action",     "note"};

const char *sonde_incident_severity_name(sonde_incident_severity s)
{
	return (unsigned)s < 4 ? severity_names[s] : "UNKNOWN";
}

int sonde_incident_severity_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (name && strcasecmp(name, severity_names[i]) == 0)
			return i;
	return -1;
}

const char *sonde_entry_kind_name(sonde_entry_kind k)
{
	return (unsigned)k < SONDE_ENTRY_KIND_COUNT ? kind_names[k] : "unknown";
}

int sonde_entry_kind_parse(const char *name)
{
	for (int i = 0; i < SONDE_ENTRY_KIND_COUNT; i++)
		if (name && strcmp(name, kind_names[i]) == 0)
			return i;
	return -1;
}

int sonde_incident_id_parse(const char *id, int64_t *num)
{
	if (!id)
		return -EINVAL;
	if (strncasecmp(id, "INC-", 4) == 0)
		id += 4;
	if (*id < '1' || *id > '9')
		return -EINVAL;
	int64_t v = 0;
	for (; *id; id++) {
		if (*id < '0' || *id > '9' || v > (INT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (*id - '0');
	}
	*num = v;
	return 0;
}

/* ---- Access to the database ---------------------------------------------------------- */

static const char schema_sql[] =
        "CREATE TABLE IF NOT EXISTS journal_incidents(num INTEGER PRIMARY KEY, title TEXT NOT NULL,"
        " severity INTEGER NOT NULL, resolved INTEGER NOT NULL DEFAULT 0, created_ns INTEGER NOT NULL,"
        " resolved_ns INTEGER NOT NULL DEFAULT 0, author TEXT NOT NULL DEFAULT '');"
        "CREATE TABLE IF NOT EXISTS journal_entries(incident INTEGER NOT NULL, seq INTEGER NOT NULL,"
        " kind TEXT NOT NULL, time_ns INTEGER NOT NULL, author TEXT NOT NULL, text TEXT NOT NULL,"
        " source TEXT NOT NULL, detail TEXT NOT NULL, ref INTEGER NOT NULL DEFAULT 0,"
        " PRIMARY KEY(incident, seq)) WITHOUT ROWID;"
        "CREATE TABLE IF NOT EXISTS journal_events(id INTEGER PRIMARY KEY, time_ns INTEGER NOT NULL,"
        " kind TEXT NOT NULL, source TEXT NOT NULL, summary TEXT NOT NULL, detail TEXT NOT NULL,"
        " incident INTEGER);"
        "CREATE INDEX IF NOT EXISTS journal_events_time ON journal_events(time_ns, id);";

/* The store's connection, or a SONDE_EUNSUPPORTED failure recorded on s. */
static int db_of(sonde_store *s, sqlite3 **db)
{
	*db = sonde__store_sqlite_db(s);
	if (!*db)
		return sonde__store_fail(s, SONDE_EUNSUPPORTED,
		                         "incidents need the SQLite store (this is %s)",
		                         s ? sonde_store_backend(s) : "no store");
	return 0;
}

static int db_fail(sonde_store *s, sqlite3 *db, int src, const char *what)
{
	int rc = src == SQLITE_READONLY ? -EROFS : src == SQLITE_NOMEM ? -ENOMEM : -EIO;
	if (src == SQLITE_READONLY)
		return sonde__store_fail(s, rc, "%s: the store is open read-only", what);
	return sonde__store_fail(s, rc, "%s: %s", what, sqlite3_errmsg(db));
}

/* Creates the tables when missing (writers only). */
static int ensure_tables(sonde_store *s, sqlite3 *db)
{
	int src = sqlite3_exec(db, schema_sql, NULL, NULL, NULL);
	return src == SQLITE_OK ? 0 : db_fail(s, db, src, "creating the journal tables");
}

/* 1 when the journal tables exist, 0 when not, or a negative code. */
static int have_tables(sonde_store *s, sqlite3 *db)
{
	sqlite3_stmt *st;
	int src = sqlite3_prepare_v2(
	        db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_events'", -1, &st,
	        NULL);
	if (src != SQLITE_OK)
		return db_fail(s, db, src, "reading the journal");
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	if (src == SQLITE_ROW)
		return 1;
	return src == SQLITE_DONE ? 0 : db_fail(s, db, src, "reading the journal");
}

static int prepare(sonde_store *s, sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	int src = sqlite3_prepare_v2(db, sql, -1, st, NULL);
	return src == SQLITE_OK ? 0 : db_fail(s, db, src, "journal");
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

/* Runs a write statement to its end and finalizes it. */
static int step_done(sonde_store *s, sqlite3 *db, sqlite3_stmt *st, const char *what)
{
	int src = sqlite3_step(st);
	int rc = src == SQLITE_DONE || src == SQLITE_ROW ? 0 : db_fail(s, db, src, what);
	sqlite3_finalize(st);
	return rc;
}

/* Checks that j (NULL or "" allowed) is one JSON object. */
static int check_detail(sonde_store *s, const char *j, const char *what)
{
	if (!j || !*j)
		return 0;
	sonde_json_reader r;
	sonde_json_reader_init(&r, j, strlen(j));
	int rc = sonde_json_peek(&r) == SONDE_JSON_OBJ_BEGIN ? sonde_json_skip(&r) : SONDE_EPARSE;
	if (rc == 0)
		rc = sonde_json_finish(&r);
	sonde_json_reader_release(&r);
	return rc == 0 ? 0 : sonde__store_fail(s, -EINVAL, "%s: the detail is not a JSON object", what);
}

/* Parses id and checks the incident exists (tables must exist). Sets *num. */
static int incident_num(sonde_store *s, sqlite3 *db, const char *id, int64_t *num)
{
	if (sonde_incident_id_parse(id, num) < 0)
		return sonde__store_fail(s, -EINVAL, "'%s' is not an incident id (INC-1, INC-2, ...)",
		                         id ? id : "");
	int have = have_tables(s, db);
	if (have <= 0)
		return have < 0 ? have : sonde__store_fail(s, -ENOENT, "no incident %s in this store", id);
	sqlite3_stmt *st;
	int rc = prepare(s, db, "SELECT 1 FROM journal_incidents WHERE num = ?", &st);
	if (rc < 0)
		return rc;
	sqlite3_bind_int64(st, 1, *num);
	int src = sqlite3_step(st);
	sqlite3_finalize(st);
	if (src == SQLITE_ROW)
		return 0;
	if (src != SQLITE_DONE)
		return db_fail(s, db, src, "reading the journal");
	return sonde__store_fail(s, -ENOENT, "no incident INC-%" PRId64 " in this store", *num);
}

static char *adup(sonde_arena *a, const unsigned char *t)
{
	const char *s = t ? (const char *)t : "";
	return sonde_arena_strndup(a, s, strlen(s));
}

/* ---- Incidents ----------------------------------------------------------------------- */

int sonde_incident_create(sonde_store *s, const char *title, sonde_incident_severity sev, uint64_t created_ns,
                          const char *author, char *id_out, size_t id_cap)
{
	sqlite3 *db;
	int rc = db_of(s, &db);
	if (rc < 0)
		return rc;
	if (!title || !*title)
		return sonde__store_fail(s, -EINVAL, "an incident needs a title");
	if ((unsigned)sev > SONDE_SEV_LOW)
		return sonde__store_fail(s, -EINVAL, "severity %d is not one of CRITICAL, HIGH, MEDIUM, LOW",
		                         sev);
	if (!id_out || id_cap < 24)
		return sonde__store_fail(s, -EINVAL, "the id buffer is too small");
	if ((rc = ensure_tables(s, db)) < 0)
		return rc;
	sqlite3_stmt *st;
	if ((rc = prepare(
	             s, db,
	             "INSERT INTO journal_incidents(num, title, severity, created_ns, author)"
	             " SELECT coalesce(max(num), 0) + 1, ?, ?, ?, ? FROM journal_incidents RETURNING num",
	             &st)) < 0)
		return rc;
	bind_text(st, 1, title);
	sqlite3_bind_int(st, 2, (int)sev);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)created_ns);
	bind_text(st, 4, author);
	int src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		rc = db_fail(s, db, src, "creating an incident");
		sqlite3_finalize(st);
		return rc;
	}
	int64_t num = sqlite3_column_int64(st, 0);
	src = sqlite3_step(st);
	sqlite3_finalize(st);
	if (src != SQLITE_DONE)
		return db_fail(s, db, src, "creating an incident");
	snprintf(id_out, id_cap, "INC-%" PRId64, num);
	return 0;
}

int sonde_incident_add_entry(sonde_store *s, const char *id, const sonde_incident_entry *e, int64_t *seq_out)
{
	sqlite3 *db;
	int64_t num;
	int rc = db_of(s, &db);
	if (rc < 0)
		return rc;
	if ((unsigned)e->kind >= SONDE_ENTRY_KIND_COUNT)
		return sonde__store_fail(s, -EINVAL, "entry kind %d is unknown", e->kind);
	if ((rc = check_detail(s, e->detail_json, sonde_entry_kind_name(e->kind))) < 0)
		return rc;
	if ((rc = incident_num(s, db, id, &num)) < 0)
		return rc;
	sqlite3_stmt *st;
	if (e->kind == SONDE_ENTRY_VERIFY) {
		/* The ref-th hypothesis must exist. */
		if ((rc = prepare(s, db,
		                  "SELECT count(*) FROM journal_entries WHERE incident = ? AND kind = "
		                  "'hypothesis'",
		                  &st)) < 0)
			return rc;
		sqlite3_bind_int64(st, 1, num);
		int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
		sqlite3_finalize(st);
		if (e->ref < 1 || e->ref > n)
			return sonde__store_fail(s, -EINVAL,
			                         "%s has no hypothesis %" PRId64 " (it has %" PRId64 ")", id,
			                         e->ref, n);
	}
	if ((rc = prepare(
	             s, db,
	             "INSERT INTO journal_entries(incident, seq, kind, time_ns, author, text, source, detail,"
	             " ref) SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM"
	             " journal_entries WHERE incident = ?1 RETURNING seq",
	             &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, num);
	bind_text(st, 2, sonde_entry_kind_name(e->kind));
	sqlite3_bind_int64(st, 3, (sqlite3_int64)e->time_ns);
	bind_text(st, 4, e->author);
	bind_text(st, 5, e->text);
	bind_text(st, 6, e->source);
	bind_text(st, 7, e->detail_json && *e->detail_json ? e->detail_json : "{}");
	sqlite3_bind_int64(st, 8, e->ref);
	int src = sqlite3_step(st);
	int64_t seq = src == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	if (src == SQLITE_ROW)
		src = sqlite3_step(st);
	sqlite3_finalize(st);
	if (src != SQLITE_DONE)
		return db_fail(s, db, src, "adding an entry");
	if (seq_out)
		*seq_out = seq;
	return 0;
}

int sonde_incident_resolve(sonde_store *s, const char *id, uint64_t when_ns)
{
	sqlite3 *db;
	int64_t num;
	int rc = db_of(s, &db);
	if (rc < 0 || (rc = incident_num(s, db, id, &num)) < 0)
		return rc;
	sqlite3_stmt *st;
	if ((rc = prepare(s, db,
	                  "UPDATE journal_incidents SET resolved = 1, resolved_ns = ? WHERE num = ? AND "
	                  "resolved = 0",
	                  &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)when_ns);
	sqlite3_bind_int64(st, 2, num);
	return step_done(s, db, st, "resolving an incident");
}

#define INCIDENT_COLS                                                                    \
	"i.num, i.title, i.severity, i.resolved, i.created_ns, i.resolved_ns, i.author," \
	" (SELECT count(*) FROM journal_entries e WHERE e.incident = i.num)"

static void read_incident(sqlite3_stmt *st, sonde_arena *a, sonde_incident *inc)
{
	memset(inc, 0, sizeof *inc);
	inc->num = sqlite3_column_int64(st, 0);
	snprintf(inc->id, sizeof inc->id, "INC-%" PRId64, inc->num);
	inc->title = adup(a, sqlite3_column_text(st, 1));
	int sev = sqlite3_column_int(st, 2);
	inc->severity = (unsigned)sev <= SONDE_SEV_LOW ? (sonde_incident_severity)sev : SONDE_SEV_LOW;
	inc->resolved = sqlite3_column_int(st, 3) != 0;
	inc->created_ns = (uint64_t)sqlite3_column_int64(st, 4);
	inc->resolved_ns = (uint64_t)sqlite3_column_int64(st, 5);
	inc->author = adup(a, sqlite3_column_text(st, 6));
	inc->entries = (size_t)sqlite3_column_int64(st, 7);
}

int sonde_incident_get(sonde_store *s, const char *id, sonde_incident_record *out)
{
	memset(out, 0, sizeof *out);
	sonde_arena_init(&out->arena);
	sqlite3 *db;
	int64_t num;
	int rc = db_of(s, &db);
	if (rc < 0 || (rc = incident_num(s, db, id, &num)) < 0)
		return rc;
	sqlite3_stmt *st;
	if ((rc = prepare(s, db, "SELECT " INCIDENT_COLS " FROM journal_incidents i WHERE num = ?", &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, num);
	int src = sqlite3_step(st);
	if (src != SQLITE_ROW) {
		sqlite3_finalize(st);
		return db_fail(s, db, src, "reading an incident");
	}
	read_incident(st, &out->arena, &out->inc);
	sqlite3_finalize(st);
	if (out->inc.entries) {
		out->entries = sonde_arena_zalloc(&out->arena, out->inc.entries * sizeof *out->entries);
		if (!out->entries)
			return -ENOMEM;
	}
	if ((rc = prepare(s, db,
	                  "SELECT seq, kind, time_ns, author, text, source, detail, ref FROM journal_entries"
	                  " WHERE incident = ? ORDER BY seq",
	                  &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, num);
	while ((src = sqlite3_step(st)) == SQLITE_ROW && out->count < out->inc.entries) {
		sonde_incident_entry *e = &out->entries[out->count++];
		e->seq = sqlite3_column_int64(st, 0);
		int k = sonde_entry_kind_parse((const char *)sqlite3_column_text(st, 1));
		e->kind = k < 0 ? SONDE_ENTRY_NOTE : (sonde_entry_kind)k;
		e->time_ns = (uint64_t)sqlite3_column_int64(st, 2);
		e->author = adup(&out->arena, sqlite3_column_text(st, 3));
		e->text = adup(&out->arena, sqlite3_column_text(st, 4));
		e->source = adup(&out->arena, sqlite3_column_text(st, 5));
		e->detail_json = adup(&out->arena, sqlite3_column_text(st, 6));
		e->ref = sqlite3_column_int64(st, 7);
		if (!e->author || !e->text || !e->source || !e->detail_json) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
	}
	rc = src == SQLITE_DONE || src == SQLITE_ROW ? 0 : db_fail(s, db, src, "reading an incident");
	sqlite3_finalize(st);
	return rc;
}

void sonde_incident_record_release(sonde_incident_record *r)
{
	if (!r)
		return;
	sonde_arena_release(&r->arena);
	r->entries = NULL;
	r->count = 0;
}

/* A copy of an arena-held array of count items of elem bytes with twice the room (*cap,
 * 16 at first), or NULL when out of memory (*cap then unchanged). */
static void *grow(sonde_arena *a, const void *items, size_t count, size_t *cap, size_t elem)
{
	size_t ncap = *cap ? *cap * 2 : 16;
	void *n = sonde_arena_alloc(a, ncap * elem);
	if (!n)
		return NULL;
	if (count)
		memcpy(n, items, count * elem);
	*cap = ncap;
	return n;
}

ssize_t sonde_incident_list_all(sonde_store *s, sonde_incident_list *out)
{
	memset(out, 0, sizeof *out);
	sonde_arena_init(&out->arena);
	sqlite3 *db;
	int rc = db_of(s, &db);
	if (rc < 0 || (rc = have_tables(s, db)) <= 0)
		return rc;
	sqlite3_stmt *st;
	if ((rc = prepare(s, db, "SELECT " INCIDENT_COLS " FROM journal_incidents i ORDER BY num", &st)) < 0)
		return rc;
	size_t cap = 0;
	int src;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == cap) {
			void *n = grow(&out->arena, out->items, out->count, &cap, sizeof *out->items);
			if (!n) {
				sqlite3_finalize(st);
				return -ENOMEM;
			}
			out->items = n;
		}
		read_incident(st, &out->arena, &out->items[out->count++]);
	}
	rc = src == SQLITE_DONE ? 0 : db_fail(s, db, src, "listing incidents");
	sqlite3_finalize(st);
	return rc < 0 ? rc : (ssize_t)out->count;
}

void sonde_incident_list_release(sonde_incident_list *l)
{
	if (!l)
		return;
	sonde_arena_release(&l->arena);
	l->items = NULL;
	l->count = 0;
}

/* ---- Events -------------------------------------------------------------------------- */

int sonde_store_event_add(sonde_store *s, const sonde_event *ev, int64_t *id_out)
{
	sqlite3 *db;
	int rc = db_of(s, &db);
	if (rc < 0)
		return rc;
	if (!ev->kind || !*ev->kind)
		return sonde__store_fail(s, -EINVAL, "an event needs a kind");
	if ((rc = check_detail(s, ev->detail_json, ev->kind)) < 0)
		return rc;
	int64_t num = 0;
	if ((rc = ensure_tables(s, db)) < 0)
		return rc;
	if (ev->incident_id && *ev->incident_id && (rc = incident_num(s, db, ev->incident_id, &num)) < 0)
		return rc;
	sqlite3_stmt *st;
	if ((rc = prepare(s, db,
	                  "INSERT INTO journal_events(time_ns, kind, source, summary, detail, incident)"
	                  " VALUES (?, ?, ?, ?, ?, ?)",
	                  &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)ev->time_ns);
	bind_text(st, 2, ev->kind);
	bind_text(st, 3, ev->source);
	bind_text(st, 4, ev->summary);
	bind_text(st, 5, ev->detail_json && *ev->detail_json ? ev->detail_json : "{}");
	if (num)
		sqlite3_bind_int64(st, 6, num);
	else
		sqlite3_bind_null(st, 6);
	if ((rc = step_done(s, db, st, "adding an event")) < 0)
		return rc;
	if (id_out)
		*id_out = sqlite3_last_insert_rowid(db);
	return 0;
}

ssize_t sonde_store_events(sonde_store *s, const sonde_event_query *q, sonde_event_list *out)
{
	memset(out, 0, sizeof *out);
	sonde_arena_init(&out->arena);
	static const sonde_event_query all = {0};
	if (!q)
		q = &all;
	sqlite3 *db;
	int rc = db_of(s, &db);
	if (rc < 0 || (rc = have_tables(s, db)) <= 0)
		return rc;
	int64_t num = 0;
	if (q->incident_id && *q->incident_id && (rc = incident_num(s, db, q->incident_id, &num)) < 0)
		return rc;
	sqlite3_stmt *st;
	if ((rc = prepare(s, db,
	                  "SELECT id, time_ns, kind, source, summary, detail, incident FROM journal_events"
	                  " WHERE time_ns >= ?1 AND (?2 = 0 OR time_ns < ?2) AND (?3 IS NULL OR kind = ?3)"
	                  " AND (?4 = 0 OR incident = ?4) ORDER BY time_ns, id LIMIT ?5",
	                  &st)) < 0)
		return rc;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)q->since_ns);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)q->until_ns);
	if (q->kind && *q->kind)
		bind_text(st, 3, q->kind);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_int64(st, 4, num);
	sqlite3_bind_int64(st, 5, q->limit ? (sqlite3_int64)q->limit : -1);
	size_t cap = 0;
	int src;
	while ((src = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->count == cap) {
			void *n = grow(&out->arena, out->items, out->count, &cap, sizeof *out->items);
			if (!n) {
				sqlite3_finalize(st);
				return -ENOMEM;
			}
			out->items = n;
		}
		sonde_event *e = &out->items[out->count++];
		e->id = sqlite3_column_int64(st, 0);
		e->time_ns = (uint64_t)sqlite3_column_int64(st, 1);
		e->kind = adup(&out->arena, sqlite3_column_text(st, 2));
		e->source = adup(&out->arena, sqlite3_column_text(st, 3));
		e->summary = adup(&out->arena, sqlite3_column_text(st, 4));
		e->detail_json = adup(&out->arena, sqlite3_column_text(st, 5));
		char idbuf[32] = "";
		if (sqlite3_column_type(st, 6) != SQLITE_NULL)
			snprintf(idbuf, sizeof idbuf, "INC-%" PRId64, (int64_t)sqlite3_column_int64(st, 6));
		e->incident_id = sonde_arena_strndup(&out->arena, idbuf, strlen(idbuf));
		if (!e->kind || !e->source || !e->summary || !e->detail_json || !e->incident_id) {
			sqlite3_finalize(st);
			return -ENOMEM;
		}
	}
	rc = src == SQLITE_DONE ? 0 : db_fail(s, db, src, "reading events");
	sqlite3_finalize(st);
	return rc < 0 ? rc : (ssize_t)out->count;
}

void sonde_event_list_release(sonde_event_list *l)
{
	if (!l)
		return;
	sonde_arena_release(&l->arena);
	l->items = NULL;
	l->count = 0;
}
