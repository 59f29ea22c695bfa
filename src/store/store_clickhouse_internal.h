/*
 * store_clickhouse_internal.h - what the ClickHouse backend's two files share: the handle,
 * the HTTP calls, and the RowBinary reader and writer. store_clickhouse.c opens stores and writes; store_clickhouse_read.c reads.
 */
#ifndef SONDE_STORE_CLICKHOUSE_INTERNAL_H
#define SONDE_STORE_CLICKHOUSE_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "store_internal.h"

/* A span's ordering key (column sid): its trace's arrival number above, its arrival
 * ordinal in the trace below, as the SQLite backend's rowids, so both order equal
 * start times alike. */
enum { SONDE__CH_ORD_BITS = 24 };

/* ---- RowBinary ----------------------------------------------------------------------------- */

/* A cursor over RowBinary rows. Reading past the end sets short_ (the row is incomplete:
 * more bytes are coming) and yields zeros; callers check it once per row. */
typedef struct sonde__rb {
	const uint8_t *p, *end;
	bool short_;
	bool bad; /* a length that cannot be right */
} sonde__rb;

uint8_t sonde__rb_u8(sonde__rb *r);
uint64_t sonde__rb_u64(sonde__rb *r);
int64_t sonde__rb_i64(sonde__rb *r);
int32_t sonde__rb_i32(sonde__rb *r);
double sonde__rb_f64(sonde__rb *r);
/* A String: *len bytes at the returned pointer (into the response; valid during the row). */
const uint8_t *sonde__rb_str(sonde__rb *r, size_t *len);
/* A FixedString(n) into out. */
void sonde__rb_fixed(sonde__rb *r, void *out, size_t n);
/* The element count of an Array. */
uint64_t sonde__rb_count(sonde__rb *r);

void sonde__rbw_u8(sonde_buf *b, uint8_t v);
void sonde__rbw_u64(sonde_buf *b, uint64_t v);
void sonde__rbw_i32(sonde_buf *b, int32_t v);
void sonde__rbw_f64(sonde_buf *b, double v);
void sonde__rbw_str(sonde_buf *b, const void *p, size_t n);
/* An Array(String) of the attributes' keys and one of their values as text
 * (sonde__value_text). */
void sonde__rbw_attr_arrays(sonde_buf *b, const sonde_attrs *a, sonde_buf *scratch);

/* When every attribute of a is a string, an integer, a boolean or a double whose text
 * reads back to the same bits, appends one kind byte per attribute to out and returns
 * true: the Array(String) columns then give the attributes back exactly. */
bool sonde__ch_attr_kinds(const sonde_attrs *a, sonde_buf *out);
/* The inverse: n attributes from RowBinary arrays of keys and text values (at keys and
 * vals, already checked complete) and their kinds, into b. Returns 0, -1 (a text that is
 * not of its kind) or -ENOMEM. */
int sonde__ch_attrs_from_arrays(sonde__rb *keys, sonde__rb *vals, const uint8_t *kinds, uint64_t n,
                                sonde_batch *b, sonde_attrs *out);

/* ---- The handle ---------------------------------------------------------------------------- */

typedef struct ch_store {
	sonde_store base;
	CURL *curl, *curl2; /* curl2: lookups made while curl streams a result */
	CURL *curl3;        /* the third of the INSERTs an append sends at once */
	CURLM *multi;       /* INSERTs at once (curl, curl2, curl3), made on first use */
	char *uri;          /* for messages: clickhouse://host:port/db */
	char *db;
	char *url; /* http://host:port/?database=db&settings */
	/* The sharded layout (clickhouse://H1:P1,H2:P2/DB?cluster=NAME): the cluster's name
	 * (NULL: one server) and each shard's "host:port" (HTTP), shards[0] the entry. The
	 * shards hold the tables in DB_local; DB holds Distributed tables over them. */
	char *cluster;
	char **shards;
	size_t nshards;
	bool readonly;
	/* What this handle knows is stored (rows that never change once written). */
	sonde__keymap res_known, scope_known, series_seq;
	int64_t next_tkey, next_log_seq, next_series_seq; /* -1: not read yet */
	sonde_buf enc, enc2, key, text;
	/* Kept from one append to the next (growing them anew each time costs page faults):
	 * the spans' and trace_index rows in the batch's order (stage) and in each table's
	 * key order, and the spans' sort arrays (span_add, cap each). */
	sonde_buf span_rows, index_rows, span_stage, index_stage;
	void *sort_a, *sort_b;
	size_t sort_cap;
	/* The last append's wall time waiting for its presence query (from sending it to its
	 * last row, encoding overlapped) and for its INSERTs (sonde__ch_append_times). */
	uint64_t last_presence_ns, last_insert_ns;
} ch_store;

/* Called for each complete row of a result: reads the row from r (checking r->short_
 * before acting on it), returns 0 to go on, a positive value to stop (the query then
 * returns it), or a negative code. */
typedef int (*sonde__ch_row_fn)(ch_store *s, sonde__rb *r, void *ctx);

/* Runs sql (a SELECT; " FORMAT RowBinary" is appended) on handle c (s->curl or
 * s->curl2) and feeds each row to fn as the response streams in. Returns 0, fn's stop
 * value, or a negative code with the store's errmsg set ("what" names the step). */
int sonde__ch_select(ch_store *s, CURL *c, const char *sql, sonde__ch_row_fn fn, void *ctx, const char *what);
/* Rows sent along with a query as the temporary table "ext". */
typedef struct sonde__ch_ext {
	const char *structure; /* its columns, as "trace_id FixedString(16)" */
	const void *data;      /* RowBinary */
	size_t len;
} sonde__ch_ext;

/* As sonde__ch_select() on s->curl, with ext readable in sql as the table "ext". */
int sonde__ch_select_ext(ch_store *s, const char *sql, const sonde__ch_ext *ext, sonde__ch_row_fn fn,
                         void *ctx, const char *what);
/* Runs a statement without result rows. */
int sonde__ch_exec(ch_store *s, const char *sql, const char *what);
/* Appends a string literal ('...', every byte escaped as needed) to b. */
void sonde__ch_quote(sonde_buf *b, const void *p, size_t n);
/* The 16-byte digest of p[0..n) the store keys resources, scopes, series by. */
void sonde__ch_digest(const void *p, size_t n, uint8_t out[16]);

/* The reads (store_clickhouse_read.c), as sonde_store_ops wants them. */
ssize_t sonde__ch_get_trace(sonde_store *s, const uint8_t trace_id[16], bool with_logs, sonde_batch *out);
ssize_t sonde__ch_find_traces(sonde_store *s, const sonde_query *q, sonde_trace_list *out);
ssize_t sonde__ch_select_spans(sonde_store *s, const sonde_query *q, unsigned fields, sonde_batch *out);
int sonde__ch_scan_spans(sonde_store *s, const sonde_query *q, unsigned fields, sonde_span_fn fn, void *ctx);
ssize_t sonde__ch_select_logs(sonde_store *s, const sonde_query *q, sonde_batch *out);
int sonde__ch_scan_logs(sonde_store *s, const sonde_query *q, sonde_log_fn fn, void *ctx);
ssize_t sonde__ch_select_points(sonde_store *s, const sonde_query *q, sonde_batch *out);
int sonde__ch_scan_points(sonde_store *s, const sonde_query *q, sonde_point_fn fn, void *ctx);
ssize_t sonde__ch_aggregate_spans(sonde_store *s, const sonde_query *q, const sonde_agg_key *keys,
                                  size_t nkeys, sonde_agg_value_fn on_value, void *ctx,
                                  sonde_agg_result *out);

#endif
