/*
 * store_internal.h - what the store's backends share: the ops struct each backend
 * implements (one file each: store_sqlite.c, later store_clickhouse.c) and the header
 * every backend's handle starts with.
 *
 * store.c parses the URI, picks the backend and forwards each public call through the
 * ops; a backend's handle embeds struct sonde_store as its first member so that the
 * public pointer and the backend's pointer are the same address.
 */
#ifndef SONDE_STORE_INTERNAL_H
#define SONDE_STORE_INTERNAL_H

#include "arena.h"
#include "store.h"

typedef struct sonde_store_ops {
	const char *name;
	/* Opens target (the URI less its scheme) into *out; on failure writes errmsg. */
	int (*open)(const char *target, unsigned flags, sonde_store **out, char *errmsg, size_t errmsg_len);
	void (*close)(sonde_store *s);
	int (*append)(sonde_store *s, const sonde_batch *b, const sonde_append_opts *opts,
	              sonde_append_stats *stats);
	ssize_t (*get_trace)(sonde_store *s, const uint8_t trace_id[16], bool with_logs, sonde_batch *out);
	ssize_t (*find_traces)(sonde_store *s, const sonde_query *q, sonde_trace_list *out);
	ssize_t (*select_spans)(sonde_store *s, const sonde_query *q, unsigned fields, sonde_batch *out);
	int (*scan_spans)(sonde_store *s, const sonde_query *q, unsigned fields, sonde_span_fn fn, void *ctx);
	ssize_t (*select_logs)(sonde_store *s, const sonde_query *q, sonde_batch *out);
	int (*scan_logs)(sonde_store *s, const sonde_query *q, sonde_log_fn fn, void *ctx);
	ssize_t (*select_points)(sonde_store *s, const sonde_query *q, sonde_batch *out);
	int (*scan_points)(sonde_store *s, const sonde_query *q, sonde_point_fn fn, void *ctx);
	ssize_t (*aggregate_spans)(sonde_store *s, const sonde_query *q, const sonde_agg_key *keys,
	                           size_t keys_count, sonde_agg_value_fn on_value, void *ctx,
	                           sonde_agg_result *out);
	int (*info)(sonde_store *s, sonde_store_info *out);
	int (*prune)(sonde_store *s, uint64_t before_ns, bool vacuum, sonde_prune_stats *stats);
	/* NULL: the backend keeps no log templates (store.c answers SONDE_EUNSUPPORTED). */
	int (*scan_templates)(sonde_store *s, sonde_template_fn fn, void *ctx);
} sonde_store_ops;

struct sonde_store {
	const sonde_store_ops *ops;
	char errmsg[320]; /* the last failure, a sentence; "" when none */
};

/* Records a failure message on s (printf-style) and returns rc, for `return
 * sonde__store_fail(s, rc, ...)`. */
int sonde__store_fail(sonde_store *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

extern const sonde_store_ops sonde__store_sqlite_ops;
extern const sonde_store_ops sonde__store_clickhouse_ops;

/* The SQLite connection of a store of the SQLite backend, NULL for other backends: for
 * the journal (journal.c), which keeps its own tables in the same database. Borrowed
 * until the store is closed. */
struct sqlite3 *sonde__store_sqlite_db(sonde_store *s);

/* Holding one transaction over several appends (SQLite backend only; for ingest.c, which
 * stores the first batches of a document while the rest is still being read and must be
 * able to take them back if it turns out bad). SONDE__HOLD_BEGIN starts a transaction
 * that the following sonde_store_append() calls continue instead of each committing its
 * own; SONDE__HOLD_COMMIT commits it, SONDE__HOLD_ROLLBACK takes it back (after a failed
 * append, whose own failure already rolled it back, only the hold ends). Returns 0, a
 * store error (message in sonde_store_errmsg()), or -ENOTSUP for another backend or a
 * read-only store. */
enum { SONDE__HOLD_BEGIN, SONDE__HOLD_COMMIT, SONDE__HOLD_ROLLBACK };
int sonde__store_sqlite_hold(sonde_store *s, int op);

/* The SQL that moves a SQLite store from from_version to from_version + 1 (NULL past the
 * current version); tests build old stores with it. */
const char *sonde__store_sqlite_migration(int from_version);

/* ---- A map from byte strings to integers, for the backends --------------------------
 * Open addressing, keys copied into the map's arena. clear keeps the table's memory for
 * the next batch. */

typedef struct sonde__keymap_ent {
	uint64_t h;
	const uint8_t *k; /* NULL: empty slot */
	uint32_t klen;
	uint64_t v;
} sonde__keymap_ent;

typedef struct sonde__keymap {
	sonde__keymap_ent *e; /* owned */
	size_t mask, count;
	sonde_arena arena; /* the keys */
} sonde__keymap;

void sonde__keymap_init(sonde__keymap *m);
void sonde__keymap_release(sonde__keymap *m);
void sonde__keymap_clear(sonde__keymap *m);
/* The hash the map files key[0..n) under, for callers that look up and then add the same
 * key (the _h calls take it instead of hashing again). */
uint64_t sonde__keymap_hash(const void *k, size_t n);
/* The entry of key[0..n), or NULL. */
sonde__keymap_ent *sonde__keymap_get(const sonde__keymap *m, const void *k, size_t n);
sonde__keymap_ent *sonde__keymap_get_h(const sonde__keymap *m, const void *k, size_t n, uint64_t h);
/* Adds key[0..n) with value v unless present. Returns 1 added, 0 present (*ent set
 * either way when ent is non-NULL), -ENOMEM, or -EINVAL for a key over 4 GiB. */
int sonde__keymap_put(sonde__keymap *m, const void *k, size_t n, uint64_t v, sonde__keymap_ent **ent);
int sonde__keymap_put_h(sonde__keymap *m, const void *k, size_t n, uint64_t h, uint64_t v,
                        sonde__keymap_ent **ent);

/* store_writeback.c: the name of a SQLite VFS that is "unix" but starts the kernel's
 * write-back of database and log files every few MB written, so that SQLite's syncs do not
 * wait for all of it at once; NULL when it could not be registered (use the default). */
const char *sonde__sqlite_writeback_vfs(void);

/* The last successful append's time in its presence query and in its INSERTs, in ns, of
 * a store opened on ClickHouse (a profile of the append path for sonde serve's bench).
 * Returns 0, or -EINVAL for another backend's store. */
int sonde__ch_append_times(const sonde_store *s, uint64_t *presence_ns, uint64_t *insert_ns);

#endif
