/*
 * store_clickhouse.c - the ClickHouse backend of the store (store.h): opening, the schema,
 * appends, info and prune, over ClickHouse's HTTP interface with libcurl. Reads are in
 * store_clickhouse_read.c.
 *
 * Design notes.
 *
 * Target: ClickHouse 18.16 (Debian's): no DateTime64, no Map, one JOIN per SELECT,
 * mutations (ALTER TABLE ... DELETE) but no mutations_sync. Times are UInt64 nanoseconds,
 * ids FixedString(16) / FixedString(8) (all zero: none), attributes parallel
 * Array(String) columns of keys and values as text, for conditions and group keys, next
 * to the exact encoding of store_codec.c (a String), which is what reads decode.
 *
 * Tables (all ReplacingMergeTree; record tables partitioned by day of their time):
 *   sonde_meta(key, value)        the schema version
 *   resources(hash, service, attr_keys, attr_vals, data), scopes(hash, data)
 *                                 each distinct one, keyed by a 16-byte digest of its encoding
 *   spans(...)                    every column of a span, ORDER BY (service, name, start_ns,
 *                                 trace_id, span_id): the analyses' scans by service,
 *                                 operation and time read a key range
 *   trace_index(...)              the narrow part of each span, ORDER BY (trace_id, span_id):
 *                                 the lookup path for trace ids, and what trace summaries
 *                                 are computed from
 *   span_keys(start_ns, trace_id, span_id, sid)
 *                                 ORDER BY start_ns first (schema 2): where an append looks
 *                                 up which of its spans are stored, reading only the
 *                                 batch's time slice; written at the same time as
 *                                 spans and trace_index (three INSERTs at once)
 *   logs(...)                     ORDER BY (time_ns, hkey); hkey as in the SQLite backend
 *   log_index(trace_id, time_ns, hkey)
 *                                 the lookup path for a trace's logs; written before logs,
 *                                 so a record present in logs is always found by trace
 *   series(hash, seq, ...)        one per metric name + type + resource + scope + attributes
 *   points(series, series_seq, time_ns, ...)  ORDER BY (series, time_ns)
 *
 * Idempotence: an append first asks which of its keys are stored (span_keys by the
 * batch's trace ids within its [min, max] start: a retried span repeats its start; logs
 * by the batch's hkeys, points by its series) and inserts only
 * the others, counting them as present; the replacing engines keyed by the same columns
 * remove what two writers racing on the same records both insert, and every read uses
 * FINAL, so nothing is ever read twice. Arrival numbers (sid, seq) give equal times the
 * SQLite backend's order; they are taken from the stored maximum on a handle's first
 * append and counted on from there.
 *
 * Sharded layout (URI clickhouse://H1:P1,H2:P2/DB?cluster=NAME, the cluster in each
 * server's remote_servers): the tables above in DB_local on every shard (created from
 * here, shard by shard: 18.16 has ON CLUSTER only with ZooKeeper), and in DB a
 * Distributed table over each (table_shard: a trace, a log record with its index row, a
 * series with its points, each on one shard). Requests carry insert_distributed_sync=1
 * (an INSERT returns once every shard wrote its rows) and distributed_product_mode=local
 * (subqueries read each shard's own, co-located rows; the resources JOIN is GLOBAL).
 * Prune and OPTIMIZE run on each shard's DB_local. docs/SCALING.md.
 *
 * Durability: an INSERT is acknowledged once ClickHouse has written its parts. A batch
 * goes into several tables (spans, trace_index and span_keys at once), so a writer killed
 * mid-append may leave part of a batch, e.g. a key in span_keys whose span is in neither
 * other table; a span the presence query finds counts as stored only once spans and
 * trace_index both have it (confirm_present, queried only when something is found), so
 * running the same append again adds exactly what is missing.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "hash.h"
#include "hex.h"
#include "json.h"
#include "sonde/status.h"
#include "store_clickhouse_internal.h"
#include "store_codec_internal.h"

enum { CH_SCHEMA_VERSION = 2 };

/* ---- RowBinary ----------------------------------------------------------------------------- */

static const uint8_t *rb_take(sonde__rb *r, size_t n)
{
	if (r->short_ || (size_t)(r->end - r->p) < n) {
		r->short_ = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

uint8_t sonde__rb_u8(sonde__rb *r)
{
	const uint8_t *p = rb_take(r, 1);
	return p ? p[0] : 0;
}

uint64_t sonde__rb_u64(sonde__rb *r)
{
	const uint8_t *p = rb_take(r, 8);
	uint64_t v = 0;
	for (int i = 7; p && i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int64_t sonde__rb_i64(sonde__rb *r)
{
	return (int64_t)sonde__rb_u64(r);
}

int32_t sonde__rb_i32(sonde__rb *r)
{
	const uint8_t *p = rb_take(r, 4);
	uint32_t v =
	        p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24 : 0;
	return (int32_t)v;
}

double sonde__rb_f64(sonde__rb *r)
{
	uint64_t u = sonde__rb_u64(r);
	double d;
	memcpy(&d, &u, sizeof d);
	return d;
}

static uint64_t rb_varint(sonde__rb *r)
{
	uint64_t v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		const uint8_t *p = rb_take(r, 1);
		if (!p)
			return 0;
		v |= (uint64_t)(*p & 0x7f) << shift;
		if (!(*p & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

const uint8_t *sonde__rb_str(sonde__rb *r, size_t *len)
{
	uint64_t n = rb_varint(r);
	if (n > (1u << 30)) {
		r->bad = true;
		n = 0;
	}
	const uint8_t *p = rb_take(r, (size_t)n);
	*len = p ? (size_t)n : 0;
	return p ? p : (const uint8_t *)"";
}

void sonde__rb_fixed(sonde__rb *r, void *out, size_t n)
{
	const uint8_t *p = rb_take(r, n);
	if (p)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

uint64_t sonde__rb_count(sonde__rb *r)
{
	uint64_t n = rb_varint(r);
	if (n > (1u << 30)) {
		r->bad = true;
		return 0;
	}
	return n;
}

static void rbw_varint(sonde_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	sonde_buf_append(b, tmp, n);
}

void sonde__rbw_u8(sonde_buf *b, uint8_t v)
{
	sonde_buf_append(b, &v, 1);
}

void sonde__rbw_u64(sonde_buf *b, uint64_t v)
{
	uint8_t tmp[8];
	for (int i = 0; i < 8; i++)
		tmp[i] = (uint8_t)(v >> (8 * i));
	sonde_buf_append(b, tmp, 8);
}

void sonde__rbw_i32(sonde_buf *b, int32_t v)
{
	uint32_t u = (uint32_t)v;
	uint8_t tmp[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
	sonde_buf_append(b, tmp, 4);
}

void sonde__rbw_f64(sonde_buf *b, double v)
{
	uint64_t u;
	memcpy(&u, &v, sizeof u);
	sonde__rbw_u64(b, u);
}

void sonde__rbw_str(sonde_buf *b, const void *p, size_t n)
{
	rbw_varint(b, n);
	sonde_buf_append(b, p, n);
}

void sonde__rbw_attr_arrays(sonde_buf *b, const sonde_attrs *a, sonde_buf *scratch)
{
	rbw_varint(b, a->count);
	for (uint32_t i = 0; i < a->count; i++)
		sonde__rbw_str(b, a->items[i].key.ptr, a->items[i].key.len);
	rbw_varint(b, a->count);
	for (uint32_t i = 0; i < a->count; i++) {
		sonde_buf_reset(scratch);
		sonde__value_text(&a->items[i].value, scratch);
		sonde__rbw_str(b, scratch->data ? scratch->data : "", scratch->len);
		b->oom |= scratch->oom;
	}
}

bool sonde__ch_attr_kinds(const sonde_attrs *a, sonde_buf *out)
{
	for (uint32_t i = 0; i < a->count; i++) {
		const sonde_value *v = &a->items[i].value;
		if (v->kind == SONDE_VAL_DOUBLE) {
			char tmp[32];
			size_t n = sonde_fmt_double(tmp, v->u.d);
			tmp[n < sizeof tmp ? n : sizeof tmp - 1] = '\0';
			char *end;
			double back = strtod(tmp, &end);
			if (*end || memcmp(&back, &v->u.d, sizeof back) != 0)
				return false;
		} else if (v->kind != SONDE_VAL_STRING && v->kind != SONDE_VAL_INT &&
		           v->kind != SONDE_VAL_BOOL) {
			return false;
		}
		sonde_buf_putc(out, (char)v->kind);
	}
	return true;
}

/* ---- HTTP ---------------------------------------------------------------------------------- */

typedef struct http_ctx {
	ch_store *s;
	CURL *c;
	sonde_buf in;   /* bytes of rows not yet complete */
	size_t pos;     /* where the next row starts in `in` */
	sonde_buf err;  /* the body of a failed request */
	long status;    /* 0 until the first byte */
	char tail[512]; /* the last bytes of the body: where an exception after rows is */
	size_t tail_len;
	sonde__ch_row_fn fn;
	void *ctx;
	int rc; /* fn's stop value or error */
} http_ctx;

static int parse_rows(http_ctx *h)
{
	while (h->pos < h->in.len) {
		sonde__rb r = {(const uint8_t *)h->in.data + h->pos, (const uint8_t *)h->in.data + h->in.len,
		               false, false};
		int rc = h->fn ? h->fn(h->s, &r, h->ctx) : 0;
		if (r.bad)
			return sonde__store_fail(&h->s->base, SONDE_EFORMAT, "%s: a malformed result row",
			                         h->s->uri);
		if (r.short_)
			break;
		if (rc != 0)
			return rc;
		h->pos = (size_t)(r.p - (const uint8_t *)h->in.data);
	}
	if (h->pos > (1u << 16) || h->pos == h->in.len) {
		memmove(h->in.data, h->in.data + h->pos, h->in.len - h->pos);
		h->in.len -= h->pos;
		h->pos = 0;
	}
	return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	http_ctx *h = ud;
	size_t len = size * n;
	if (!h->status)
		curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &h->status);
	if (h->status != 200) {
		if (h->err.len < 4096)
			sonde_buf_append(&h->err, p, len);
		return len;
	}
	if (len >= sizeof h->tail) {
		memcpy(h->tail, p + len - sizeof h->tail, sizeof h->tail);
		h->tail_len = sizeof h->tail;
	} else {
		size_t keep = h->tail_len + len > sizeof h->tail ? sizeof h->tail - len : h->tail_len;
		memmove(h->tail, h->tail + h->tail_len - keep, keep);
		memcpy(h->tail + keep, p, len);
		h->tail_len = keep + len;
	}
	sonde_buf_append(&h->in, p, len);
	if (h->in.oom) {
		h->rc = -ENOMEM;
		return 0;
	}
	int rc = parse_rows(h);
	if (rc != 0) {
		h->rc = rc;
		return 0;
	}
	return len;
}

/* The first line of a ClickHouse exception, without its code prefix and what() suffix. */
static void exception_text(sonde_buf *err, char *out, size_t n)
{
	sonde_buf_putc(err, '\0');
	const char *t = err->data ? err->data : "";
	const char *m = strstr(t, "DB::Exception: ");
	if (m)
		t = m + 15;
	size_t len = strcspn(t, "\n");
	const char *w = strstr(t, ", e.what()");
	if (w && (size_t)(w - t) < len)
		len = (size_t)(w - t);
	while (len && (t[len - 1] == ' ' || t[len - 1] == '\r'))
		len--;
	snprintf(out, n, "%.*s", (int)(len > 240 ? 240 : len), t);
}

/* One HTTP request: its URL, its form (with an external table) and what it receives. */
typedef struct http_req {
	http_ctx h;
	sonde_buf url;
	curl_mime *mime;
	bool async; /* running on s->multi (select_begin) */
} http_req;

/* Sets c up to POST body to the url (query_param: the statement in the URL, for INSERTs
 * and for queries with an external table) and stream the response through fn. With ext,
 * the body is instead a multipart form holding ext's rows as the temporary table "ext":
 * ClickHouse reads it as data, where a long IN list of literals costs parsing time. On
 * success req_finish() must follow. */
static int req_start(ch_store *s, CURL *c, http_req *r, const char *query_param, const sonde__ch_ext *ext,
                     const void *body, size_t n, sonde__ch_row_fn fn, void *ctx)
{
	memset(r, 0, sizeof *r);
	r->h = (http_ctx){.s = s, .c = c, .in = SONDE_BUF_INIT, .err = SONDE_BUF_INIT, .fn = fn, .ctx = ctx};
	sonde_buf *url = &r->url;
	sonde_buf_puts(url, s->url);
	char *esc;
	if (query_param) {
		esc = curl_easy_escape(c, query_param, 0);
		url->oom |= !esc;
		sonde_buf_puts(url, "&query=");
		sonde_buf_puts(url, esc ? esc : "");
		curl_free(esc);
	}
	if (ext) {
		esc = curl_easy_escape(c, ext->structure, 0);
		url->oom |= !esc;
		sonde_buf_puts(url, "&ext_format=RowBinary&ext_structure=");
		sonde_buf_puts(url, esc ? esc : "");
		curl_free(esc);
		curl_mimepart *part;
		if (!(r->mime = curl_mime_init(c)) || !(part = curl_mime_addpart(r->mime)) ||
		    curl_mime_name(part, "ext") != CURLE_OK || curl_mime_filename(part, "ext") != CURLE_OK ||
		    curl_mime_data(part, ext->data ? ext->data : "", ext->len) != CURLE_OK)
			url->oom = true;
	}
	sonde_buf_putc(url, '\0');
	if (url->oom) {
		curl_mime_free(r->mime);
		sonde_buf_release(url);
		return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
	}
	curl_easy_setopt(c, CURLOPT_URL, url->data);
	if (r->mime) {
		curl_easy_setopt(c, CURLOPT_MIMEPOST, r->mime);
	} else {
		curl_easy_setopt(c, CURLOPT_MIMEPOST, NULL);
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->h);
	return 0;
}

/* The outcome of a request that ended with cc; releases it. */
static int req_finish(ch_store *s, http_req *r, CURLcode cc, const char *what)
{
	http_ctx *h = &r->h;
	if (r->mime) {
		curl_easy_setopt(h->c, CURLOPT_MIMEPOST, NULL);
		curl_mime_free(r->mime);
	}
	sonde_buf_release(&r->url);
	int rc = 0;
	/* ClickHouse reports an error met after the first rows (status 200 already sent) as
	 * text at the end of the body, which the row parser may have taken for rows. */
	const char *x = NULL;
	size_t tl = h->tail_len;
	while (tl && (h->tail[tl - 1] == '\n' || h->tail[tl - 1] == '\r'))
		tl--;
	static const char end[] = "e.what() = DB::Exception";
	if (h->status == 200 && tl >= sizeof end - 1 &&
	    memcmp(h->tail + tl - (sizeof end - 1), end, sizeof end - 1) == 0)
		x = memmem(h->tail, tl, "DB::Exception: ", 15);
	if (x) {
		char msg[256];
		sonde_buf t = SONDE_BUF_INIT;
		sonde_buf_append(&t, x, (size_t)(h->tail + tl - x));
		exception_text(&t, msg, sizeof msg);
		sonde_buf_release(&t);
		rc = sonde__store_fail(&s->base, -EIO, "%s: %s: ClickHouse says: %s", s->uri, what, msg);
	} else if (h->rc != 0) {
		rc = h->rc;
	} else if (cc != CURLE_OK) {
		rc = cc == CURLE_COULDNT_CONNECT      ? -ECONNREFUSED
		     : cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
		                                      : -EIO;
		sonde__store_fail(&s->base, rc, "%s: %s: %s", s->uri, what, curl_easy_strerror(cc));
	} else {
		long status = h->status;
		if (!status)
			curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &status);
		if (status != 200) {
			char msg[256];
			exception_text(&h->err, msg, sizeof msg);
			rc = sonde__store_fail(&s->base, -EIO, "%s: %s: ClickHouse says: %s", s->uri, what,
			                       msg[0] ? msg : "an error without a message");
		} else if (h->in.len != h->pos) {
			rc = sonde__store_fail(&s->base, SONDE_EFORMAT,
			                       "%s: %s: the result ends inside a row", s->uri, what);
		}
	}
	sonde_buf_release(&h->in);
	sonde_buf_release(&h->err);
	return rc;
}

static int http_post(ch_store *s, CURL *c, const char *query_param, const sonde__ch_ext *ext,
                     const void *body, size_t n, sonde__ch_row_fn fn, void *ctx, const char *what)
{
	http_req r;
	int rc = req_start(s, c, &r, query_param, ext, body, n, fn, ctx);
	return rc < 0 ? rc : req_finish(s, &r, curl_easy_perform(c), what);
}

/* As sonde__ch_select_ext() with sql (its FORMAT included), but started on s->curl
 * through s->multi and left running while the caller works (rows are fed to fn only
 * inside select_end(), which waits for the end and returns what sonde__ch_select_ext()
 * would). r, sql and ext stay valid until then, and s->curl is not used meanwhile. When
 * no multi handle can be made, select_end() runs the query. */
static int select_begin(ch_store *s, http_req *r, const char *sql, const sonde__ch_ext *ext,
                        sonde__ch_row_fn fn, void *ctx)
{
	int rc = req_start(s, s->curl, r, sql, ext, NULL, 0, fn, ctx);
	if (rc < 0)
		return rc;
	if ((s->multi || (s->multi = curl_multi_init())) &&
	    curl_multi_add_handle(s->multi, s->curl) == CURLM_OK) {
		int running;
		r->async = true;
		curl_multi_perform(s->multi, &running);
	}
	return 0;
}

static int select_end(ch_store *s, http_req *r, const char *what)
{
	if (!r->async)
		return req_finish(s, r, curl_easy_perform(s->curl), what);
	CURLcode cc = CURLE_RECV_ERROR;
	CURLMcode mc = CURLM_OK;
	for (int running = 1; mc == CURLM_OK && running;) {
		mc = curl_multi_perform(s->multi, &running);
		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
	}
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(s->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == s->curl)
			cc = m->data.result;
	curl_multi_remove_handle(s->multi, s->curl);
	return req_finish(s, r, cc, what);
}

int sonde__ch_select(ch_store *s, CURL *c, const char *sql, sonde__ch_row_fn fn, void *ctx, const char *what)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_buf_puts(&b, sql);
	sonde_buf_puts(&b, " FORMAT RowBinary");
	int rc = b.oom ? -ENOMEM : http_post(s, c, NULL, NULL, b.data, b.len, fn, ctx, what);
	sonde_buf_release(&b);
	return rc;
}

int sonde__ch_select_ext(ch_store *s, const char *sql, const sonde__ch_ext *ext, sonde__ch_row_fn fn,
                         void *ctx, const char *what)
{
	sonde_buf b = SONDE_BUF_INIT;
	sonde_buf_puts(&b, sql);
	sonde_buf_puts(&b, " FORMAT RowBinary");
	sonde_buf_putc(&b, '\0');
	int rc = b.oom ? -ENOMEM : http_post(s, s->curl, b.data, ext, NULL, 0, fn, ctx, what);
	sonde_buf_release(&b);
	return rc;
}

int sonde__ch_exec(ch_store *s, const char *sql, const char *what)
{
	return http_post(s, s->curl, NULL, NULL, sql, strlen(sql), NULL, NULL, what);
}

/* INSERTs RowBinary rows into table (its columns in the order the rows have them). */
static int ch_insert(ch_store *s, const char *table, const sonde_buf *rows, const char *what)
{
	if (!rows->len)
		return 0;
	if (rows->oom)
		return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
	char q[128];
	snprintf(q, sizeof q, "INSERT INTO %s FORMAT RowBinary", table);
	return http_post(s, s->curl, q, NULL, rows->data, rows->len, NULL, NULL, what);
}

/* Up to three INSERTs at once, rows[i] into tables[i], on curl, curl2 and curl3 (the
 * server writes their parts in parallel); returns when all are done: 0, or the first
 * failed one's error. Tables without rows are skipped; one after the other when no multi
 * handle can be made. */
static int ch_insert_n(ch_store *s, size_t n, const char *const *tables, const sonde_buf *const *rows,
                       const char *what)
{
	CURL *const handles[3] = {s->curl, s->curl2, s->curl3};
	size_t idx[3], m = 0;
	for (size_t i = 0; i < n && i < 3; i++) {
		if (rows[i]->oom)
			return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
		if (rows[i]->len)
			idx[m++] = i;
	}
	if (m <= 1 || (!s->multi && !(s->multi = curl_multi_init()))) {
		int rc = 0;
		for (size_t k = 0; k < m && rc >= 0; k++)
			rc = ch_insert(s, tables[idx[k]], rows[idx[k]], what);
		return rc < 0 ? rc : 0;
	}
	char q[3][128];
	http_req r[3];
	CURLcode cc[3];
	size_t started = 0;
	int rc = 0;
	for (; started < m; started++) {
		const sonde_buf *b = rows[idx[started]];
		snprintf(q[started], sizeof q[started], "INSERT INTO %s FORMAT RowBinary",
		         tables[idx[started]]);
		if ((rc = req_start(s, handles[started], &r[started], q[started], NULL, b->data, b->len, NULL,
		                    NULL)) < 0)
			break;
		cc[started] = CURLE_SEND_ERROR;
	}
	CURLMcode mc = CURLM_OK;
	size_t added = 0;
	for (; rc == 0 && added < started && mc == CURLM_OK; added++)
		mc = curl_multi_add_handle(s->multi, handles[added]);
	if (mc != CURLM_OK)
		added--;
	for (int running = 1; rc == 0 && mc == CURLM_OK && running;) {
		mc = curl_multi_perform(s->multi, &running);
		if (mc == CURLM_OK && running)
			mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
	}
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(s->multi, &left)))
		if (msg->msg == CURLMSG_DONE)
			for (size_t k = 0; k < started; k++)
				if (msg->easy_handle == handles[k])
					cc[k] = msg->data.result;
	for (size_t k = 0; k < added; k++)
		curl_multi_remove_handle(s->multi, handles[k]);
	/* The last first, so that the message left is the first failed one's. */
	int first = 0;
	for (size_t k = started; k-- > 0;) {
		int rk = req_finish(s, &r[k], rc == 0 ? cc[k] : CURLE_OK, what);
		if (rk < 0)
			first = rk;
	}
	return rc < 0 ? sonde__store_fail(&s->base, rc, "out of memory") : first;
}

void sonde__ch_quote(sonde_buf *b, const void *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	const uint8_t *u = p;
	sonde_buf_putc(b, '\'');
	for (size_t i = 0; i < n; i++) {
		uint8_t c = u[i];
		if (c == '\'' || c == '\\') {
			sonde_buf_putc(b, '\\');
			sonde_buf_putc(b, (char)c);
		} else if (c < 0x20 || c >= 0x7f) {
			char e[4] = {'\\', 'x', hexd[c >> 4], hexd[c & 15]};
			sonde_buf_append(b, e, 4);
		} else {
			sonde_buf_putc(b, (char)c);
		}
	}
	sonde_buf_putc(b, '\'');
}

void sonde__ch_digest(const void *p, size_t n, uint8_t out[16])
{
	uint64_t a = sonde_hash_bytes(p, n, 0x736f6e6465ULL),
	         b = sonde_hash_bytes(p, n, 0x9e3779b97f4a7c15ULL);
	memcpy(out, &a, 8);
	memcpy(out + 8, &b, 8);
}

/* ---- Schema ---------------------------------------------------------------------------------- */

#define DAY(col) " PARTITION BY toYYYYMMDD(toDateTime(intDiv(" col ", 1000000000)))"

/* Schema 2. Ordered by time first, so that an append's presence query reads only the
 * batch's time slice whatever the store holds; small granules, as a slice is a few
 * thousand rows. */
#define SPAN_KEYS_TABLE                                                                    \
	"CREATE TABLE IF NOT EXISTS span_keys (start_ns UInt64, trace_id FixedString(16)," \
	" span_id FixedString(8), sid UInt64) ENGINE = ReplacingMergeTree" DAY(            \
	        "start_ns") " ORDER BY (start_ns, trace_id, span_id) SETTINGS index_granularity = 1024"

static const char *const tables[] = {
        "CREATE TABLE IF NOT EXISTS sonde_meta (key String, value String)"
        " ENGINE = ReplacingMergeTree ORDER BY key",
        "CREATE TABLE IF NOT EXISTS resources (hash FixedString(16), service String,"
        " attr_keys Array(String), attr_vals Array(String), data String)"
        " ENGINE = ReplacingMergeTree ORDER BY hash",
        "CREATE TABLE IF NOT EXISTS scopes (hash FixedString(16), data String)"
        " ENGINE = ReplacingMergeTree ORDER BY hash",
        "CREATE TABLE IF NOT EXISTS spans (service String, name String, start_ns UInt64,"
        " trace_id FixedString(16), span_id FixedString(8), sid UInt64, parent_id FixedString(8),"
        " dur_ns Int64, kind UInt8, status UInt8, resource FixedString(16), scope FixedString(16),"
        " attr_keys Array(String), attr_vals Array(String), attr_kinds String, attrs String, rest String)"
        " ENGINE = ReplacingMergeTree" DAY(
                "start_ns") " ORDER BY (service, name, start_ns, trace_id, span_id)",
        "CREATE TABLE IF NOT EXISTS trace_index (trace_id FixedString(16), span_id FixedString(8), sid "
        "UInt64,"
        " is_root UInt8, start_ns UInt64, dur_ns Int64, service String, name String, status UInt8)"
        " ENGINE = ReplacingMergeTree" DAY("start_ns") " ORDER BY (trace_id, span_id)",
        SPAN_KEYS_TABLE,
        "CREATE TABLE IF NOT EXISTS logs (time_ns UInt64, hkey UInt64, seq UInt64, service String,"
        " severity Int32, has_body UInt8, body String, trace_id FixedString(16), span_id FixedString(8),"
        " resource FixedString(16), scope FixedString(16), attr_keys Array(String), attr_vals Array(String),"
        " rest String) ENGINE = ReplacingMergeTree" DAY("time_ns") " ORDER BY (time_ns, hkey)",
        "CREATE TABLE IF NOT EXISTS log_index (trace_id FixedString(16), time_ns UInt64, hkey UInt64)"
        " ENGINE = ReplacingMergeTree" DAY("time_ns") " ORDER BY (trace_id, time_ns, hkey)",
        "CREATE TABLE IF NOT EXISTS series (hash FixedString(16), seq UInt64, name String, service String,"
        " type UInt8, resource FixedString(16), scope FixedString(16), meta String, attrs String,"
        " attr_keys Array(String), attr_vals Array(String)) ENGINE = ReplacingMergeTree ORDER BY hash",
        "CREATE TABLE IF NOT EXISTS points (series FixedString(16), series_seq UInt64, time_ns UInt64,"
        " vkind UInt8, vi Int64, vd Float64, rest String) ENGINE = ReplacingMergeTree" DAY(
                "time_ns") " ORDER BY (series, time_ns)",
};

/* Each table of tables[] by name, and the sharding key of its Distributed table in the
 * sharded layout: every row with the same replacing key goes to the same shard (FINAL
 * deduplicates within a shard), a trace's spans, index rows and keys all to one shard,
 * as a log record's with its index row and a series' points with the series; the
 * JOINs and IN subqueries of the reads then find what they match on their own shard. */
static const struct {
	const char *name, *key;
} table_shard[] = {
        {"sonde_meta", "cityHash64(key)"},
        {"resources", "cityHash64(hash)"},
        {"scopes", "cityHash64(hash)"},
        {"spans", "cityHash64(trace_id)"},
        {"trace_index", "cityHash64(trace_id)"},
        {"span_keys", "cityHash64(trace_id)"},
        {"logs", "cityHash64(hkey)"},
        {"log_index", "cityHash64(hkey)"},
        {"series", "cityHash64(hash)"},
        {"points", "cityHash64(series)"},
};

static int row_u64(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	uint64_t v = sonde__rb_u64(r);
	if (!r->short_)
		*(uint64_t *)ctx = v;
	return 0;
}

static int row_str(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	size_t n;
	const uint8_t *p = sonde__rb_str(r, &n);
	if (!r->short_)
		snprintf(ctx, 32, "%.*s", (int)(n > 31 ? 31 : n), (const char *)p);
	return 0;
}

/* A count or number the query returns as UInt64 (0 when no row). */
static int query_u64(ch_store *s, const char *sql, uint64_t *out)
{
	*out = 0;
	return sonde__ch_select(s, s->curl, sql, row_u64, out, "reading");
}

/* The first request of a handle: failing here means no ClickHouse answers at the URI. */
static int connect_check(ch_store *s)
{
	uint64_t one = 0;
	return sonde__ch_select(s, s->curl, "SELECT toUInt64(1)", row_u64, &one, "connecting");
}

/* The URL of shard i with database db and the settings every request has. */
static char *shard_url(const ch_store *s, size_t i, const char *db, const char *suffix)
{
	char *u;
	if (asprintf(&u, "http://%s/?database=%s%s&max_query_size=67108864%s", s->shards[i], db, suffix,
	             s->cluster ? "&distributed_product_mode=local&insert_distributed_sync=1" : "") < 0)
		return NULL;
	return u;
}

/* Runs sql on shard i in database db (with suffix appended to its name): the sharded
 * layout's statements on every shard's own tables. */
static int exec_at(ch_store *s, size_t i, const char *db, const char *suffix, const char *sql,
                   const char *what)
{
	char *u = shard_url(s, i, db, suffix), *keep = s->url;
	if (!u)
		return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
	s->url = u;
	int rc = sonde__ch_exec(s, sql, what);
	s->url = keep;
	free(u);
	return rc;
}

/* As exec_at() for a query returning one UInt64. */
static int query_u64_at(ch_store *s, size_t i, const char *db, const char *suffix, const char *sql,
                        uint64_t *out)
{
	char *u = shard_url(s, i, db, suffix), *keep = s->url;
	if (!u)
		return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
	s->url = u;
	int rc = query_u64(s, sql, out);
	s->url = keep;
	free(u);
	return rc;
}

/* For writing a sharded store: the server knows the cluster, with as many shards as
 * the URI lists (its statements go to each of them). */
static int shards_check(ch_store *s)
{
	sonde_buf q = SONDE_BUF_INIT;
	uint64_t n = 0;
	sonde_buf_puts(&q, "SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = ");
	sonde__ch_quote(&q, s->cluster, strlen(s->cluster));
	int rc = q.oom ? -ENOMEM : query_u64(s, q.data, &n);
	sonde_buf_release(&q);
	if (rc == 0 && !n)
		rc = sonde__store_fail(&s->base, -ENOENT,
		                       "%s: the server has no cluster %s in its remote_servers", s->uri,
		                       s->cluster);
	else if (rc == 0 && n != s->nshards)
		rc = sonde__store_fail(
		        &s->base, -EINVAL,
		        "%s: the cluster %s has %llu shards, the URI names %zu; to write, list "
		        "each shard's HTTP host:port (clickhouse://H1:P1,H2:P2/DB?cluster=NAME)",
		        s->uri, s->cluster, (unsigned long long)n, s->nshards);
	return rc;
}

/* Creates a sharded store on every shard (ON CLUSTER needs ZooKeeper, which 18.16 cannot
 * do without): the tables in DB_local, and in DB a Distributed table over each. */
static int shards_create(ch_store *s)
{
	char sql[512];
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < s->nshards; i++) {
		snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS %s", s->db);
		if ((rc = exec_at(s, i, "default", "", sql, "creating the database")) < 0)
			break;
		snprintf(sql, sizeof sql, "CREATE DATABASE IF NOT EXISTS %s_local", s->db);
		if ((rc = exec_at(s, i, "default", "", sql, "creating the database")) < 0)
			break;
		for (size_t t = 0; rc == 0 && t < sizeof tables / sizeof tables[0]; t++)
			rc = exec_at(s, i, s->db, "_local", tables[t], "creating the tables");
		for (size_t t = 0; rc == 0 && t < sizeof tables / sizeof tables[0]; t++) {
			snprintf(sql, sizeof sql,
			         "CREATE TABLE IF NOT EXISTS %s AS %s_local.%s ENGINE = Distributed(%s, "
			         "%s_local, "
			         "%s, %s)",
			         table_shard[t].name, s->db, table_shard[t].name, s->cluster, s->db,
			         table_shard[t].name, table_shard[t].key);
			rc = exec_at(s, i, s->db, "", sql, "creating the distributed tables");
		}
	}
	return rc;
}

/* Checks (and, for writing, creates) the database and its tables. s->url names the
 * default database on entry and url_db (the store's, which it takes) on success. */
static int ch_schema(ch_store *s, unsigned flags, char *url_db)
{
	sonde_buf q = SONDE_BUF_INIT;
	uint64_t n = 0;
	int rc;
	sonde_buf_puts(&q, "SELECT count() FROM system.databases WHERE name = ");
	sonde__ch_quote(&q, s->db, strlen(s->db));
	if ((rc = q.oom ? -ENOMEM : query_u64(s, q.data, &n)) < 0)
		goto out;
	if (!n && (flags & (SONDE_STORE_READONLY | SONDE_STORE_NOCREATE))) {
		rc = sonde__store_fail(&s->base, -ENOENT, "%s: no such database", s->uri);
		goto out;
	}
	if (s->cluster && !s->readonly && (rc = shards_check(s)) < 0)
		goto out;
	sonde_buf_reset(&q);
	sonde_buf_puts(&q, "SELECT count() FROM system.tables WHERE database = ");
	sonde__ch_quote(&q, s->db, strlen(s->db));
	uint64_t ntables = 0, has_meta = 0;
	if (n && (rc = q.oom ? -ENOMEM : query_u64(s, q.data, &ntables)) < 0)
		goto out;
	sonde_buf_puts(&q, " AND name = 'sonde_meta'");
	if (n && (rc = q.oom ? -ENOMEM : query_u64(s, q.data, &has_meta)) < 0)
		goto out;
	if (ntables && !has_meta) {
		rc = sonde__store_fail(
		        &s->base, SONDE_EFORMAT,
		        "%s: a ClickHouse database, but not a sonde store (it has other tables)", s->uri);
		goto out;
	}
	if (has_meta) {
		/* A sharded store is opened with its cluster, a single server's without. */
		uint64_t dist = 0;
		sonde_buf_reset(&q);
		sonde_buf_puts(
		        &q, "SELECT count() FROM system.tables WHERE engine = 'Distributed' AND database = ");
		sonde__ch_quote(&q, s->db, strlen(s->db));
		if ((rc = q.oom ? -ENOMEM : query_u64(s, q.data, &dist)) < 0)
			goto out;
		if (!dist != !s->cluster) {
			rc = sonde__store_fail(&s->base, SONDE_EFORMAT,
			                       dist ? "%s: a sharded store; name its cluster (?cluster=NAME)"
			                            : "%s: a store on one server, not a sharded one; open it "
			                              "without ?cluster=",
			                       s->uri);
			goto out;
		}
		char v[32] = "";
		sonde_buf_reset(&q);
		sonde_buf_printf(&q, "SELECT max(value) FROM %s.sonde_meta WHERE key = 'schema_version'",
		                 s->db);
		if ((rc = q.oom ? -ENOMEM
		                : sonde__ch_select(s, s->curl, q.data, row_str, v,
		                                   "reading the schema version")) < 0)
			goto out;
		int ver = atoi(v);
		if (ver > CH_SCHEMA_VERSION) {
			rc = sonde__store_fail(
			        &s->base, SONDE_EFORMAT,
			        "%s: schema version %d is newer than this sonde knows (%d); use a "
			        "newer sonde",
			        s->uri, ver, CH_SCHEMA_VERSION);
			goto out;
		}
		if (ver == CH_SCHEMA_VERSION || (ver >= 1 && s->readonly))
			goto out; /* reads need nothing of schema 2 */
		if (ver == 1 && !s->cluster) {
			/* 1 -> 2: span_keys, filled from trace_index. */
			free(s->url);
			s->url = url_db;
			url_db = NULL;
			if ((rc = sonde__ch_exec(s, SPAN_KEYS_TABLE, "upgrading the schema")) < 0 ||
			    (rc = sonde__ch_exec(
			             s,
			             "INSERT INTO span_keys SELECT start_ns, trace_id, span_id, sid"
			             " FROM trace_index FINAL",
			             "upgrading the schema")) < 0)
				goto out;
			goto version;
		}
	}
	if (s->readonly) {
		rc = sonde__store_fail(&s->base, SONDE_EFORMAT,
		                       "%s: not a sonde store yet; open it once for writing", s->uri);
		goto out;
	}
	if (s->cluster) {
		rc = shards_create(s);
		goto version;
	}
	sonde_buf_reset(&q);
	sonde_buf_puts(&q, "CREATE DATABASE IF NOT EXISTS ");
	sonde_buf_puts(&q, s->db);
	if ((rc = q.oom ? -ENOMEM : sonde__ch_exec(s, q.data, "creating the database")) < 0)
		goto out;
	free(s->url);
	s->url = url_db;
	url_db = NULL;
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++)
		if ((rc = sonde__ch_exec(s, tables[i], "creating the tables")) < 0)
			goto out;
version:
	if (rc < 0)
		goto out;
	if (url_db) {
		free(s->url);
		s->url = url_db;
		url_db = NULL;
	}
	char ins[128];
	snprintf(ins, sizeof ins, "INSERT INTO sonde_meta VALUES ('schema_version', '%d')",
	         CH_SCHEMA_VERSION);
	rc = sonde__ch_exec(s, ins, "writing the schema version");
out:
	if (rc == 0 && url_db) {
		free(s->url);
		s->url = url_db;
		url_db = NULL;
	}
	free(url_db);
	sonde_buf_release(&q);
	return rc;
}

/* ---- Open and close ---------------------------------------------------------------------- */

static void ch_close(sonde_store *base)
{
	ch_store *s = (ch_store *)base;
	if (s->multi)
		curl_multi_cleanup(s->multi);
	if (s->curl)
		curl_easy_cleanup(s->curl);
	if (s->curl2)
		curl_easy_cleanup(s->curl2);
	if (s->curl3)
		curl_easy_cleanup(s->curl3);
	sonde__keymap_release(&s->res_known);
	sonde__keymap_release(&s->scope_known);
	sonde__keymap_release(&s->series_seq);
	sonde_buf_release(&s->enc);
	sonde_buf_release(&s->enc2);
	sonde_buf_release(&s->key);
	sonde_buf_release(&s->text);
	sonde_buf_release(&s->span_rows);
	sonde_buf_release(&s->index_rows);
	sonde_buf_release(&s->span_stage);
	sonde_buf_release(&s->index_stage);
	free(s->sort_a);
	free(s->sort_b);
	free(s->uri);
	free(s->db);
	free(s->url);
	free(s->cluster);
	for (size_t i = 0; i < s->nshards; i++)
		free(s->shards[i]);
	free(s->shards);
	free(s);
}

static CURL *new_curl(void)
{
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Inserts and scans are large; ClickHouse answers 100-continue with a delay. */
	static struct curl_slist hdr = {(char *)"Expect:", NULL};
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, &hdr);
	return c;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool name_ok(const char *p, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
			return false;
	return true;
}

/* One "host[:port]" of n bytes at t, into "host:port" (port 8123 when none). */
static int parse_host(const char *t, size_t n, char **out)
{
	const char *colon = memchr(t, ':', n);
	size_t hostlen = colon ? (size_t)(colon - t) : n;
	if (!hostlen)
		return -EINVAL;
	long port = 8123;
	if (colon) {
		char *end;
		port = strtol(colon + 1, &end, 10);
		if (end != t + n || end == colon + 1 || port <= 0 || port > 65535)
			return -EINVAL;
	}
	if (asprintf(out, "%.*s:%ld", (int)hostlen, t, port) < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Parses "host[:port][,host[:port]...]/db[?cluster=NAME]" into s->shards, s->db and
 * s->cluster; more than one host only with a cluster. */
static int parse_target(ch_store *s, const char *t)
{
	size_t hl = strcspn(t, "/?");
	const char *d = t[hl] == '/' ? t + hl + 1 : t + hl;
	size_t dl = strcspn(d, "?");
	const char *opt = d[dl] == '?' ? d + dl + 1 : NULL;
	size_t n = 1;
	for (size_t i = 0; i < hl; i++)
		n += t[i] == ',';
	if (!(s->shards = calloc(n, sizeof *s->shards)))
		return -ENOMEM;
	for (const char *h = t; s->nshards < n; s->nshards++) {
		size_t len = strcspn(h, ",/?");
		int rc = parse_host(h, len, &s->shards[s->nshards]);
		if (rc < 0)
			return rc;
		h += len + 1;
	}
	if (opt) {
		if (strncmp(opt, "cluster=", 8) != 0 || !name_ok(opt + 8, strlen(opt + 8)))
			return -EINVAL;
		if (!(s->cluster = strdup(opt + 8)))
			return -ENOMEM;
	} else if (n > 1) {
		return -EINVAL;
	}
	if (!dl) {
		d = "sonde";
		dl = 5;
	}
	if (!name_ok(d, dl))
		return -EINVAL;
	return (s->db = strndup(d, dl)) ? 0 : -ENOMEM;
}

static int ch_open(const char *target, unsigned flags, sonde_store **out, char *errmsg, size_t errmsg_len)
{
	pthread_once(&curl_once, curl_init);
	ch_store *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->readonly = flags & SONDE_STORE_READONLY;
	s->next_tkey = s->next_log_seq = s->next_series_seq = -1;
	sonde__keymap_init(&s->res_known);
	sonde__keymap_init(&s->scope_known);
	sonde__keymap_init(&s->series_seq);
	int rc;
	if (asprintf(&s->uri, "clickhouse://%s", target) < 0) {
		s->uri = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = parse_target(s, target)) < 0) {
		if (rc == -EINVAL)
			sonde__store_fail(
			        &s->base, rc,
			        "%s: expected clickhouse://HOST[:PORT]/DB, or for a sharded store "
			        "clickhouse://HOST:PORT,HOST:PORT.../DB?cluster=NAME, with a database name "
			        "(and cluster name) of letters, digits and _",
			        s->uri);
		goto fail;
	}
	s->curl = new_curl();
	s->curl2 = new_curl();
	s->curl3 = new_curl();
	/* Big IN lists of keys are part of the query text: allow 64 MB of it (shard_url). */
	s->url = shard_url(s, 0, "default", "");
	char *url_db = shard_url(s, 0, s->db, "");
	if (!s->url || !url_db || !s->curl || !s->curl2 || !s->curl3) {
		free(url_db);
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = connect_check(s)) < 0) {
		free(url_db);
		goto fail;
	}
	if ((rc = ch_schema(s, flags, url_db)) < 0) /* takes url_db */
		goto fail;
	s->base.ops = &sonde__store_clickhouse_ops;
	*out = &s->base;
	return 0;
fail:
	if (errmsg && errmsg_len)
		snprintf(errmsg, errmsg_len, "%s", s->base.errmsg[0] ? s->base.errmsg : sonde_strerror(rc));
	ch_close(&s->base);
	return rc;
}

/* ---- Append ---------------------------------------------------------------------------------- */

typedef struct res_ref {
	uint8_t hash[16];
	const char *service;
	size_t service_len;
} res_ref;

/* Per-append: the digest of each resource and scope object of the batch, and the rows
 * of those not yet known to be stored. */
typedef struct app_ctx {
	sonde__keymap objs; /* object pointer -> index + 1 into refs */
	res_ref *refs;
	size_t nrefs, cap;
	sonde_buf res_rows, scope_rows;
	sonde__keymap new_res, new_scopes; /* digests added to the rows above */
} app_ctx;

static int ref_of(ch_store *s, app_ctx *a, bool is_scope, const void *obj, const res_ref **out)
{
	uintptr_t key[2] = {(uintptr_t)obj, is_scope};
	sonde__keymap_ent *e = sonde__keymap_get(&a->objs, key, sizeof key);
	if (e) {
		*out = &a->refs[e->v - 1];
		return 0;
	}
	if (a->nrefs == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		res_ref *n = realloc(a->refs, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		a->refs = n;
		a->cap = cap;
	}
	res_ref *r = &a->refs[a->nrefs];
	memset(r, 0, sizeof *r);
	sonde_buf *enc = &s->enc2;
	sonde_buf_reset(enc);
	if (is_scope)
		sonde__enc_scope(enc, obj);
	else
		sonde__enc_resource(enc, obj);
	if (enc->oom)
		return -ENOMEM;
	sonde__ch_digest(enc->data, enc->len, r->hash);
	r->service = "";
	if (!is_scope) {
		const sonde_value *v = sonde_attrs_get(&((const sonde_resource *)obj)->attrs, "service.name");
		if (v && v->kind == SONDE_VAL_STRING) {
			r->service = v->u.str.ptr;
			r->service_len = v->u.str.len;
		}
	}
	int rc = sonde__keymap_put(&a->objs, key, sizeof key, a->nrefs + 1, NULL);
	if (rc < 0)
		return rc;
	a->nrefs++;
	sonde__keymap *known = is_scope ? &s->scope_known : &s->res_known;
	if (!sonde__keymap_get(known, r->hash, 16) &&
	    (rc = sonde__keymap_put(is_scope ? &a->new_scopes : &a->new_res, r->hash, 16, 0, NULL)) == 1) {
		sonde_buf *rows = is_scope ? &a->scope_rows : &a->res_rows;
		sonde_buf_append(rows, r->hash, 16);
		if (!is_scope) {
			sonde__rbw_str(rows, r->service, r->service_len);
			sonde__rbw_attr_arrays(rows, &((const sonde_resource *)obj)->attrs, &s->text);
		}
		sonde__rbw_str(rows, enc->data, enc->len);
	}
	*out = r;
	return rc < 0 ? rc : 0;
}

/* Appends the ids as a list of string literals: "(lit, lit, ...)". */
/* The keys of ids (all of one length) one after the other: RowBinary rows of one
 * FixedString column. */
static void map_keys(sonde_buf *out, const sonde__keymap *ids)
{
	for (size_t i = 0; ids->e && i <= ids->mask; i++)
		if (ids->e[i].k)
			sonde_buf_append(out, ids->e[i].k, ids->e[i].klen);
}

/* Runs sql with the rows of rows as the table "ext" of the given structure. */
static int select_with(ch_store *s, const char *sql, const char *structure, const sonde_buf *rows,
                       sonde__ch_row_fn fn, void *ctx, const char *what)
{
	if (rows->oom)
		return sonde__store_fail(&s->base, -ENOMEM, "out of memory");
	sonde__ch_ext ext = {structure, rows->data, rows->len};
	return sonde__ch_select_ext(s, sql, &ext, fn, ctx, what);
}

typedef struct trace_state {
	sonde__keymap traces; /* trace id -> next sid of the trace */
	sonde__keymap keys;   /* trace id + span id stored (or added by this append) */
} trace_state;

/* A stored span of trace tid has arrival number sid: the trace's next sid is past it. */
static void trace_sid_seen(trace_state *t, const uint8_t tid[16], uint64_t sid)
{
	sonde__keymap_ent *e = sonde__keymap_get(&t->traces, tid, 16);
	if (e && sid + 1 > e->v)
		e->v = sid + 1;
}

static int row_present_span(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	trace_state *t = ctx;
	uint8_t key[24];
	sonde__rb_fixed(r, key, 24);
	uint64_t sid = sonde__rb_u64(r);
	if (r->short_)
		return 0;
	trace_sid_seen(t, key, sid);
	return sonde__keymap_put(&t->keys, key, 24, 0, NULL) < 0 ? -ENOMEM : 0;
}

/* A (trace id, span id) row of trace_index or spans: marks the key found by the presence
 * query as being in that table too (the bit ctx points to). */
typedef struct confirm_ctx {
	sonde__keymap *keys;
	uint64_t bit;
} confirm_ctx;

static int row_confirm(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	confirm_ctx *c = ctx;
	uint8_t key[24];
	sonde__rb_fixed(r, key, 24);
	if (r->short_)
		return 0;
	sonde__keymap_ent *e = sonde__keymap_get(c->keys, key, 24);
	if (e)
		e->v |= c->bit;
	return 0;
}

/* span_keys is written at the same time as spans and trace_index, so a writer that died
 * during an append may have left a key there without its rows in one of the two: the
 * spans the presence query found count as stored only when both tables have them; the
 * others are written again (the replacing engines remove the copy). The live case finds
 * nothing and makes no query here. */
static int confirm_present(ch_store *s, trace_state *t, uint64_t lo, uint64_t hi, sonde_buf *q)
{
	size_t found = 0;
	sonde__keymap traces;
	sonde__keymap_init(&traces);
	sonde_buf_reset(q);
	int rc = 0;
	for (size_t i = 0; t->keys.e && i <= t->keys.mask && rc >= 0; i++) {
		if (!t->keys.e[i].k)
			continue;
		found++;
		t->keys.e[i].v = 0;
		if ((rc = sonde__keymap_put(&traces, t->keys.e[i].k, 16, 0, NULL)) > 0)
			sonde_buf_append(q, t->keys.e[i].k, 16);
	}
	sonde__keymap_release(&traces);
	if (rc < 0)
		return rc;
	if (!found)
		return 0;
	confirm_ctx ci = {&t->keys, 1}, cs = {&t->keys, 2};
	sonde_buf sql = SONDE_BUF_INIT;
	sonde_buf_printf(&sql,
	                 "SELECT trace_id, span_id FROM spans PREWHERE start_ns >= %llu AND start_ns <= %llu "
	                 "AND trace_id IN ext",
	                 (unsigned long long)lo, (unsigned long long)hi);
	if ((rc = select_with(s, "SELECT trace_id, span_id FROM trace_index PREWHERE trace_id IN ext",
	                      "trace_id FixedString(16)", q, row_confirm, &ci, "reading spans")) < 0 ||
	    (rc = sql.oom ? -ENOMEM
	                  : select_with(s, sql.data, "trace_id FixedString(16)", q, row_confirm, &cs,
	                                "reading spans")) < 0) {
		sonde_buf_release(&sql);
		return rc;
	}
	sonde_buf_release(&sql);
	sonde__keymap both;
	sonde__keymap_init(&both);
	for (size_t i = 0; i <= t->keys.mask && rc >= 0; i++)
		if (t->keys.e[i].k && t->keys.e[i].v == 3)
			rc = sonde__keymap_put(&both, t->keys.e[i].k, 24, 0, NULL);
	if (rc < 0) {
		sonde__keymap_release(&both);
		return rc;
	}
	sonde__keymap_release(&t->keys);
	t->keys = both;
	return 0;
}

/* A (trace id, max(sid)) row: the trace's next sid. */
static int row_trace_next(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	uint8_t key[16];
	sonde__rb_fixed(r, key, 16);
	uint64_t sid = sonde__rb_u64(r);
	if (!r->short_)
		trace_sid_seen(ctx, key, sid);
	return 0;
}

/* The stored traces this append adds spans to continue their sids from their largest,
 * as in SQLite. The presence query saw only the batch's time slice, so a trace it found
 * may have later sids outside it: those traces (few: a retry adds nothing, a live batch
 * mostly new traces) are asked of trace_index. A trace it did not find gets a new
 * arrival number, which cannot collide with any stored sid. */
static int continue_traces(ch_store *s, const sonde_batch *b, trace_state *t, sonde_buf *q)
{
	sonde__keymap cont;
	sonde__keymap_init(&cont);
	int rc = 0;
	sonde_buf_reset(q);
	for (size_t i = 0; i < b->spans_count && rc >= 0; i++) {
		const sonde_span_data *sp = &b->spans[i];
		uint8_t key[24];
		memcpy(key, sp->trace_id, 16);
		memcpy(key + 16, sp->span_id, 8);
		if (sonde__keymap_get(&t->keys, key, 24))
			continue;
		sonde__keymap_ent *te = sonde__keymap_get(&t->traces, sp->trace_id, 16);
		if (te && te->v && (rc = sonde__keymap_put(&cont, sp->trace_id, 16, 0, NULL)) > 0)
			sonde_buf_append(q, sp->trace_id, 16);
	}
	if (rc >= 0 && q->len)
		rc = select_with(s,
		                 "SELECT trace_id, max(sid) FROM trace_index PREWHERE trace_id IN ext GROUP "
		                 "BY trace_id",
		                 "trace_id FixedString(16)", q, row_trace_next, t, "reading spans");
	sonde__keymap_release(&cont);
	return rc < 0 ? rc : 0;
}

/* A span an append adds: its sort keys, its place in the batch, its resource (an index
 * into app_ctx.refs, which grows) and where its rows are. */
typedef struct span_add {
	uint32_t rank;  /* of its (service, name) among the batch's */
	uint64_t start; /* start_ns */
	uint64_t tk[3]; /* trace id, span id as big-endian numbers: compared as bytes */
	size_t i;
	size_t res;
	size_t row, row_len; /* its spans row and trace_index row, in the staging buffers */
	size_t irow, irow_len;
} span_add;

/* ClickHouse's order of two Strings: bytes, then length. */
static int cmp_bytes(const void *p, size_t n, const void *q, size_t m)
{
	int c = n && m ? memcmp(p, q, n < m ? n : m) : 0;
	return c ? c : (n > m) - (n < m);
}

static void load_tk(uint64_t tk[3], const uint8_t key[24])
{
	for (int w = 0; w < 3; w++) {
		uint64_t v = 0;
		for (int k = 0; k < 8; k++)
			v = v << 8 | key[8 * w + k];
		tk[w] = v;
	}
}

/* Orders two load_tk keys as their bytes. */
static int cmp_tk(const uint64_t u[3], const uint64_t v[3])
{
	for (int w = 0; w < 3; w++)
		if (u[w] != v[w])
			return u[w] < v[w] ? -1 : 1;
	return 0;
}

/* The trace_index table's key: (trace_id, span_id). */
static int cmp_trace_key(const void *x, const void *y)
{
	return cmp_tk(((const span_add *)x)->tk, ((const span_add *)y)->tk);
}

/* The spans table's key after (service, name): (start_ns, trace_id, span_id). */
static int cmp_span_key(const void *x, const void *y)
{
	const span_add *u = x, *v = y;
	int c = (u->start > v->start) - (u->start < v->start);
	return c ? c : cmp_trace_key(u, v);
}

/* A (service, name) of a batch. */
typedef struct span_group {
	const char *service, *name;
	size_t service_len, name_len;
	uint32_t rank;
	size_t count, at;
} span_group;

static int cmp_group(const void *x, const void *y)
{
	const span_group *u = *(span_group *const *)x, *v = *(span_group *const *)y;
	int c = cmp_bytes(u->service, u->service_len, v->service, v->service_len);
	return c ? c : cmp_bytes(u->name, u->name_len, v->name, v->name_len);
}

static bool sorted_by(const span_add *v, size_t n, int (*cmp)(const void *, const void *))
{
	for (size_t i = 1; i < n; i++)
		if (cmp(&v[i - 1], &v[i]) > 0)
			return false;
	return true;
}

/* Orders add[0, n) by the spans table's key (service, name, start_ns, trace_id,
 * span_id), into out: a counting sort by the rank of (service, name), which keeps the
 * batch's order (usually by time already) within each, then a sort of those not in
 * order. */
static int order_spans(ch_store *s, const sonde_batch *b, const app_ctx *a, span_add *add, size_t n,
                       span_add *out)
{
	sonde__keymap gm;
	sonde__keymap_init(&gm);
	span_group *g = NULL;
	span_group **byname = NULL;
	size_t ng = 0, cap = 0;
	int rc = 0;
	for (size_t k = 0; k < n; k++) {
		const res_ref *res = &a->refs[add[k].res];
		const sonde_str *name = &b->spans[add[k].i].name;
		sonde_buf *key = &s->key;
		sonde_buf_reset(key);
		uint64_t sl = res->service_len;
		sonde_buf_append(key, &sl, sizeof sl);
		sonde_buf_append(key, res->service, res->service_len);
		sonde_buf_append(key, name->ptr, name->len);
		sonde__keymap_ent *e;
		if (key->oom || (rc = sonde__keymap_put(&gm, key->data, key->len, ng, &e)) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		if (rc == 1) {
			if (ng == cap) {
				cap = cap ? 2 * cap : 16;
				span_group *ng2 = realloc(g, cap * sizeof *g);
				if (!ng2) {
					rc = -ENOMEM;
					goto out;
				}
				g = ng2;
			}
			g[ng++] = (span_group){res->service, name->ptr, res->service_len, name->len, 0, 0, 0};
		}
		g[e->v].count++;
		add[k].rank = (uint32_t)e->v;
	}
	if (!(byname = malloc((ng ? ng : 1) * sizeof *byname))) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < ng; k++)
		byname[k] = &g[k];
	qsort(byname, ng, sizeof *byname, cmp_group);
	size_t at = 0;
	for (size_t k = 0; k < ng; k++) {
		byname[k]->rank = (uint32_t)k;
		byname[k]->at = at;
		at += byname[k]->count;
	}
	for (size_t k = 0; k < n; k++) {
		span_group *gr = &g[add[k].rank];
		add[k].rank = gr->rank;
		out[gr->at++] = add[k];
	}
	for (size_t k = 0, from = 0; k < ng; k++) {
		size_t cnt = byname[k]->count;
		if (!sorted_by(out + from, cnt, cmp_span_key))
			qsort(out + from, cnt, sizeof *out, cmp_span_key);
		from += cnt;
	}
	rc = 0;
out:
	sonde__keymap_release(&gm);
	free(g);
	free(byname);
	return rc;
}

/* A trace_index row's key and where the row is, for sort_keys. */
typedef struct span_key {
	uint64_t tk[3];
	size_t row, len;
} span_key;

static int cmp_span_keys(const void *x, const void *y)
{
	return cmp_tk(((const span_key *)x)->tk, ((const span_key *)y)->tk);
}

/* Sorts v[0, n) by tk into out[0, n): one counting pass on the top 11 bits of the trace
 * id (random: a few keys in each of 2,048 buckets), then each bucket sorted (insertion
 * sort when small). Ids that do not spread (64-bit ones padded with zeros) end in one
 * bucket, which qsort sorts. */
static void sort_keys(const span_key *v, span_key *out, size_t n)
{
	enum { BITS = 11 };
	size_t count[(1 << BITS) + 1] = {0};
	for (size_t i = 0; i < n; i++)
		count[(v[i].tk[0] >> (64 - BITS)) + 1]++;
	for (size_t d = 1; d <= 1 << BITS; d++)
		count[d] += count[d - 1];
	size_t at[1 << BITS];
	memcpy(at, count, sizeof at);
	for (size_t i = 0; i < n; i++)
		out[at[v[i].tk[0] >> (64 - BITS)]++] = v[i];
	for (size_t d = 0; d < 1 << BITS; d++) {
		span_key *p = out + count[d];
		size_t m = count[d + 1] - count[d];
		if (m > 16) {
			qsort(p, m, sizeof *p, cmp_span_keys);
			continue;
		}
		for (size_t i = 1; i < m; i++) {
			span_key x = p[i];
			size_t j = i;
			for (; j > 0 && cmp_span_keys(&p[j - 1], &x) > 0; j--)
				p[j] = p[j - 1];
			p[j] = x;
		}
	}
}

/* A span_keys row: start_ns (RowBinary UInt64, little-endian), trace id, span id, sid. */
enum { KEY_ROW = 40 };

/* span_keys' order: (start_ns, trace_id, span_id). */
static int cmp_key_row(const void *x, const void *y)
{
	uint64_t u, v;
	memcpy(&u, x, 8);
	memcpy(&v, y, 8);
	if (u != v)
		return u < v ? -1 : 1;
	return memcmp((const uint8_t *)x + 8, (const uint8_t *)y + 8, 24);
}

/* The presence query: the stored spans of the batch's traces whose start lies in the
 * batch's [lo, hi]. A retried span repeats its start, so this finds every span stored
 * before, and reads only that time slice of span_keys (ordered by start_ns), whatever the
 * store holds; the trace ids are the external table "ext". */
static void presence_sql(sonde_buf *q, uint64_t lo, uint64_t hi)
{
	sonde_buf_printf(q,
	                 "SELECT trace_id, span_id, sid FROM span_keys PREWHERE start_ns >= %llu AND "
	                 "start_ns <= %llu AND trace_id IN ext",
	                 (unsigned long long)lo, (unsigned long long)hi);
}

/* The spans an append adds and what it found stored. */
typedef struct new_spans {
	size_t nadd;
	uint64_t added, present;
	int64_t next_tkey; /* the next arrival number, past those given */
} new_spans;

/* Decides which spans of b are new (not in t->keys, nor earlier in the batch) and gives
 * each its sid (t->traces: each trace's next, 0 for a trace not stored; out->next_tkey
 * the next arrival number, set by the caller); encodes their rows in the batch's order
 * (reading the batch in its order is what is fast): spans into s->span_stage,
 * trace_index into s->index_stage, span_keys into krows, and their sort keys into
 * add[0, out->nadd). Returns 0 or a negative code. */
static int encode_new(ch_store *s, const sonde_batch *b, app_ctx *a, trace_state *t, span_add *add,
                      sonde_buf *krows, new_spans *out)
{
	sonde_buf *stage = &s->span_stage, *istage = &s->index_stage;
	sonde_buf_reset(stage);
	sonde_buf_reset(istage);
	sonde_buf_reset(krows);
	stage->oom = istage->oom = false;
	out->nadd = 0;
	out->added = out->present = 0;
	int rc;
	for (size_t i = 0; i < b->spans_count; i++) {
		const sonde_span_data *sp = &b->spans[i];
		uint8_t key[24];
		memcpy(key, sp->trace_id, 16);
		memcpy(key + 16, sp->span_id, 8);
		if ((rc = sonde__keymap_put(&t->keys, key, 24, 0, NULL)) < 0)
			return rc;
		if (rc == 0) {
			out->present++;
			continue;
		}
		out->added++;
		const res_ref *res, *scope;
		if ((rc = ref_of(s, a, false, sp->resource, &res)) < 0 ||
		    (rc = ref_of(s, a, true, sp->scope, &scope)) < 0)
			return rc;
		sonde__keymap_ent *te = sonde__keymap_get(&t->traces, sp->trace_id, 16);
		if (!te->v)
			te->v = (uint64_t)out->next_tkey++ << SONDE__CH_ORD_BITS;
		/* The last ordinal stays unused, so that the next sid never runs into the next
		 * trace's: a trace holds at most 2^24 - 1 spans, as in the SQLite backend. */
		uint64_t sid = te->v++;
		if ((sid & ((1u << SONDE__CH_ORD_BITS) - 1)) == (1u << SONDE__CH_ORD_BITS) - 1) {
			char hex[33];
			sonde_hex_encode(hex, sp->trace_id, 16);
			hex[32] = '\0';
			rc = sonde__store_fail(&s->base, -EFBIG, "%s: trace %s has more than %d spans",
			                       s->uri, hex, (1 << SONDE__CH_ORD_BITS) - 1);
			return rc;
		}
		span_add *ad = &add[out->nadd++];
		ad->start = sp->start_ns;
		load_tk(ad->tk, key);
		ad->i = i;
		ad->res = (size_t)(res - a->refs);
		/* The rows, in the batch's order (reading the batch in its order is what is
		 * fast); they are put in order below. */
		int64_t dur = (int64_t)(sp->end_ns - sp->start_ns);
		ad->row = stage->len;
		sonde__rbw_str(stage, res->service, res->service_len);
		sonde__rbw_str(stage, sp->name.ptr, sp->name.len);
		sonde__rbw_u64(stage, sp->start_ns);
		sonde_buf_append(stage, sp->trace_id, 16);
		sonde_buf_append(stage, sp->span_id, 8);
		sonde__rbw_u64(stage, sid);
		sonde_buf_append(stage, sp->parent_span_id, 8);
		sonde__rbw_u64(stage, (uint64_t)dur);
		sonde__rbw_u8(stage, (uint8_t)sp->kind);
		sonde__rbw_u8(stage, (uint8_t)sp->status_code);
		sonde_buf_append(stage, res->hash, 16);
		sonde_buf_append(stage, scope->hash, 16);
		sonde__rbw_attr_arrays(stage, &sp->attrs, &s->text);
		/* Attributes the arrays give back exactly need only their kinds; others (and
		 * spans with any other) are kept encoded. */
		sonde_buf_reset(&s->enc);
		if (sonde__ch_attr_kinds(&sp->attrs, &s->enc)) {
			sonde__rbw_str(stage, s->enc.data ? s->enc.data : "", s->enc.len);
			sonde__rbw_str(stage, "", 0);
		} else {
			sonde__rbw_str(stage, "", 0);
			sonde_buf_reset(&s->enc);
			sonde__enc_attrs(&s->enc, &sp->attrs);
			sonde__rbw_str(stage, s->enc.data ? s->enc.data : "", s->enc.len);
		}
		sonde_buf_reset(&s->enc);
		sonde__enc_span_rest(&s->enc, sp);
		sonde__rbw_str(stage, s->enc.data ? s->enc.data : "", s->enc.len);
		stage->oom |= s->enc.oom;
		ad->row_len = stage->len - ad->row;
		ad->irow = istage->len;
		sonde_buf_append(istage, sp->trace_id, 16);
		sonde_buf_append(istage, sp->span_id, 8);
		sonde__rbw_u64(istage, sid);
		sonde__rbw_u8(istage, sonde_id_is_zero(sp->parent_span_id, 8));
		sonde__rbw_u64(istage, sp->start_ns);
		sonde__rbw_u64(istage, (uint64_t)dur);
		sonde__rbw_str(istage, res->service, res->service_len);
		sonde__rbw_str(istage, sp->name.ptr, sp->name.len);
		sonde__rbw_u8(istage, (uint8_t)sp->status_code);
		ad->irow_len = istage->len - ad->irow;
		sonde__rbw_u64(krows, sp->start_ns);
		sonde_buf_append(krows, sp->trace_id, 16);
		sonde_buf_append(krows, sp->span_id, 8);
		sonde__rbw_u64(krows, sid);
	}
	return stage->oom || istage->oom || krows->oom ? -ENOMEM : 0;
}

int sonde__ch_append_times(const sonde_store *base, uint64_t *presence_ns, uint64_t *insert_ns)
{
	if (strcmp(sonde_store_backend(base), "clickhouse") != 0)
		return -EINVAL;
	const ch_store *s = (const ch_store *)base;
	*presence_ns = s->last_presence_ns;
	*insert_ns = s->last_insert_ns;
	return 0;
}

static int append_spans(ch_store *s, const sonde_batch *b, app_ctx *a, sonde_append_stats *st)
{
	if (!b->spans_count)
		return 0;
	trace_state t, spec;
	sonde__keymap_init(&t.traces);
	sonde__keymap_init(&t.keys);
	sonde__keymap_init(&spec.traces);
	sonde__keymap_init(&spec.keys);
	sonde_buf q = SONDE_BUF_INIT, sql = SONDE_BUF_INIT, krows = SONDE_BUF_INIT;
	sonde_buf *spans = &s->span_rows, *index = &s->index_rows;
	sonde_buf *stage = &s->span_stage, *istage = &s->index_stage;
	sonde_buf *bufs[] = {spans, index, stage, istage};
	for (size_t k = 0; k < 4; k++) {
		sonde_buf_reset(bufs[k]);
		bufs[k]->oom = false;
	}
	int rc = 0;
	if (s->sort_cap < b->spans_count) {
		free(s->sort_a);
		free(s->sort_b);
		s->sort_a = malloc(b->spans_count * sizeof(span_add));
		s->sort_b = malloc(b->spans_count * (sizeof(span_add) > 2 * sizeof(span_key)
		                                             ? sizeof(span_add)
		                                             : 2 * sizeof(span_key)));
		s->sort_cap = s->sort_a && s->sort_b ? b->spans_count : 0;
		if (!s->sort_cap)
			rc = -ENOMEM;
	}
	span_add *add = s->sort_a, *sorted = s->sort_b;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < b->spans_count && rc >= 0; i++) {
		rc = sonde__keymap_put(&t.traces, b->spans[i].trace_id, 16, 0, NULL);
		lo = b->spans[i].start_ns < lo ? b->spans[i].start_ns : lo;
		hi = b->spans[i].start_ns > hi ? b->spans[i].start_ns : hi;
	}
	if (rc < 0)
		goto out;
	if (s->next_tkey < 0) {
		uint64_t m = 0;
		if ((rc = query_u64(s, "SELECT max(intDiv(sid, 16777216)) FROM trace_index", &m)) < 0)
			goto out;
		s->next_tkey = (int64_t)m + 1;
	}
	if (sonde_buf_grow(&krows, b->spans_count * KEY_ROW) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	map_keys(&q, &t.traces);
	presence_sql(&sql, lo, hi);
	sonde_buf_puts(&sql, " FORMAT RowBinary");
	sonde_buf_putc(&sql, '\0');
	if (sql.oom || q.oom) {
		rc = -ENOMEM;
		goto out;
	}
	/* The presence query runs while the rows are encoded as if no span were stored (the
	 * live case: a retry is the exception); when it finds some, they are encoded again. */
	sonde__ch_ext ext = {"trace_id FixedString(16)", q.data, q.len};
	http_req pr;
	uint64_t t_presence = sonde_clock_monotonic_ns();
	if ((rc = select_begin(s, &pr, sql.data, &ext, row_present_span, &t)) < 0)
		goto out;
	new_spans ns = {.next_tkey = s->next_tkey};
	for (size_t i = 0; i < b->spans_count && rc >= 0; i++)
		rc = sonde__keymap_put(&spec.traces, b->spans[i].trace_id, 16, 0, NULL);
	int spec_rc = rc < 0 ? rc : encode_new(s, b, a, &spec, add, &krows, &ns);
	if ((rc = select_end(s, &pr, "reading spans")) < 0)
		goto out;
	s->last_presence_ns = sonde_clock_monotonic_ns() - t_presence;
	bool none_stored = !t.keys.e || !t.keys.count;
	if (!none_stored || spec_rc < 0) {
		if ((rc = confirm_present(s, &t, lo, hi, &q)) < 0 || (rc = continue_traces(s, b, &t, &q)) < 0)
			goto out;
		ns = (new_spans){.next_tkey = s->next_tkey};
		if ((rc = encode_new(s, b, a, &t, add, &krows, &ns)) < 0)
			goto out;
	}
	size_t nadd = ns.nadd;
	int64_t next_tkey = ns.next_tkey;
	st->spans_added += ns.added;
	st->spans_present += ns.present;
	/* The rows in each table's key order: a block that arrives sorted is written as it
	 * is, where the server would otherwise sort it and copy every column. */
	if ((rc = order_spans(s, b, a, add, nadd, sorted)) < 0)
		goto out;
	if (sonde_buf_grow(spans, stage->len) < 0 || sonde_buf_grow(index, istage->len) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < nadd; k++)
		sonde_buf_append(spans, stage->data + sorted[k].row, sorted[k].row_len);
	/* The trace_index rows by (trace_id, span_id), with sorted[] (free again) as room. */
	span_key *keys = (span_key *)sorted, *by_key = keys + nadd;
	for (size_t k = 0; k < nadd; k++)
		keys[k] =
		        (span_key){{add[k].tk[0], add[k].tk[1], add[k].tk[2]}, add[k].irow, add[k].irow_len};
	sort_keys(keys, by_key, nadd);
	for (size_t k = 0; k < nadd; k++)
		sonde_buf_append(index, istage->data + by_key[k].row, by_key[k].len);
	/* span_keys by (start, trace id, span id): batches come mostly in time order. */
	bool in_order = true;
	for (size_t k = 1; k < nadd && in_order; k++)
		in_order = cmp_key_row(krows.data + (k - 1) * KEY_ROW, krows.data + k * KEY_ROW) <= 0;
	if (!in_order)
		qsort(krows.data, nadd, KEY_ROW, cmp_key_row);
	rc = 0;
	/* Resources and scopes first (spans name them), then spans, trace_index and span_keys
	 * at once: one round trip. A key in span_keys whose rows are missing (a writer died)
	 * is caught by confirm_present. */
	static const char *const span_tables[3] = {"spans", "trace_index", "span_keys"};
	const sonde_buf *const span_bufs[3] = {spans, index, &krows};
	uint64_t t_insert = sonde_clock_monotonic_ns();
	if ((rc = ch_insert(s, "resources", &a->res_rows, "writing resources")) < 0 ||
	    (rc = ch_insert(s, "scopes", &a->scope_rows, "writing scopes")) < 0 ||
	    (rc = ch_insert_n(s, 3, span_tables, span_bufs, "writing spans")) < 0)
		goto out;
	s->last_insert_ns = sonde_clock_monotonic_ns() - t_insert;
	sonde_buf_reset(&a->res_rows);
	sonde_buf_reset(&a->scope_rows);
	s->next_tkey = next_tkey;
out:
	sonde__keymap_release(&t.traces);
	sonde__keymap_release(&t.keys);
	sonde__keymap_release(&spec.traces);
	sonde__keymap_release(&spec.keys);
	sonde_buf_release(&q);
	sonde_buf_release(&sql);
	sonde_buf_release(&krows);
	/* Rows of batches larger than usual are not kept. */
	for (size_t k = 0; k < 4; k++)
		if (bufs[k]->cap > ((size_t)48 << 20))
			sonde_buf_release(bufs[k]);
	if (s->sort_cap > 200000) {
		free(s->sort_a);
		free(s->sort_b);
		s->sort_a = s->sort_b = NULL;
		s->sort_cap = 0;
	}
	return rc;
}

/* A stored log record's (time, hkey), as append_logs keys them. */
static int row_present_pair(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	uint64_t key[2];
	key[0] = sonde__rb_u64(r);
	key[1] = sonde__rb_u64(r);
	if (r->short_)
		return 0;
	return sonde__keymap_put(ctx, key, sizeof key, 0, NULL) < 0 ? -ENOMEM : 0;
}

/* A stored point's (series, time), as append_metrics keys them. */
static int row_present_point(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	uint8_t key[24];
	sonde__rb_fixed(r, key, 16);
	uint64_t t = sonde__rb_u64(r);
	if (r->short_)
		return 0;
	memcpy(key + 16, &t, 8);
	return sonde__keymap_put(ctx, key, sizeof key, 0, NULL) < 0 ? -ENOMEM : 0;
}

static int append_logs(ch_store *s, const sonde_batch *b, const sonde_append_opts *opts, app_ctx *a,
                       sonde_append_stats *st)
{
	if (!b->logs_count)
		return 0;
	const char *source = opts && opts->log_source ? opts->log_source : "";
	uint64_t pos = opts ? opts->log_position : 0;
	uint64_t *keys = malloc(b->logs_count * 2 * sizeof *keys); /* time, hkey */
	sonde__keymap present;
	sonde__keymap_init(&present);
	sonde_buf q = SONDE_BUF_INIT, rows = SONDE_BUF_INIT, index = SONDE_BUF_INIT;
	int rc = keys ? 0 : -ENOMEM;
	uint64_t tmin = UINT64_MAX, tmax = 0;
	for (size_t i = 0; rc == 0 && i < b->logs_count; i++) {
		const sonde_log_data *lg = &b->logs[i];
		const res_ref *res, *scope;
		if ((rc = ref_of(s, a, false, lg->resource, &res)) < 0 ||
		    (rc = ref_of(s, a, true, lg->scope, &scope)) < 0)
			break;
		/* The identity, exactly as the SQLite backend computes it. */
		sonde_buf *rest = &s->enc, *key = &s->key;
		sonde_buf_reset(rest);
		sonde_buf_reset(key);
		sonde__enc_log_rest(rest, lg);
		sonde_buf_append(key, rest->data, rest->len);
		sonde__enc_varint(key, (uint64_t)(int64_t)lg->severity_number);
		if (lg->body.kind == SONDE_VAL_STRING)
			sonde__enc_str(key, lg->body.u.str);
		sonde_buf_append(key, lg->trace_id, 16);
		sonde_buf_append(key, lg->span_id, 8);
		sonde_buf_append(key, res->hash, 16);
		sonde_buf_append(key, scope->hash, 16);
		sonde__enc_str(key, (sonde_str){source, strlen(source)});
		sonde__enc_varint(key, pos + i);
		if (rest->oom || key->oom) {
			rc = -ENOMEM;
			break;
		}
		keys[2 * i] = lg->time_ns ? lg->time_ns : lg->observed_time_ns;
		keys[2 * i + 1] = sonde_hash_bytes(key->data, key->len, 0x736f6e6465ULL);
		if (keys[2 * i] < tmin)
			tmin = keys[2 * i];
		if (keys[2 * i] > tmax)
			tmax = keys[2 * i];
	}
	if (rc < 0)
		goto out;
	char sql[160];
	snprintf(sql, sizeof sql,
	         "SELECT time_ns, hkey FROM logs WHERE time_ns >= %llu AND time_ns <= %llu AND hkey IN ext",
	         (unsigned long long)tmin, (unsigned long long)tmax);
	for (size_t i = 0; i < b->logs_count; i++)
		sonde__rbw_u64(&q, keys[2 * i + 1]);
	if ((rc = select_with(s, sql, "hkey UInt64", &q, row_present_pair, &present, "reading logs")) < 0)
		goto out;
	if (s->next_log_seq < 0) {
		uint64_t m = 0;
		if ((rc = query_u64(s, "SELECT max(seq) FROM logs", &m)) < 0)
			goto out;
		s->next_log_seq = (int64_t)m + 1;
	}
	int64_t seq = s->next_log_seq;
	for (size_t i = 0; i < b->logs_count; i++) {
		const sonde_log_data *lg = &b->logs[i];
		if ((rc = sonde__keymap_put(&present, &keys[2 * i], 16, 0, NULL)) < 0)
			goto out;
		if (rc == 0) {
			st->logs_present++;
			continue;
		}
		st->logs_added++;
		const res_ref *res, *scope;
		if ((rc = ref_of(s, a, false, lg->resource, &res)) < 0 ||
		    (rc = ref_of(s, a, true, lg->scope, &scope)) < 0)
			goto out;
		sonde__rbw_u64(&rows, keys[2 * i]);
		sonde__rbw_u64(&rows, keys[2 * i + 1]);
		sonde__rbw_u64(&rows, (uint64_t)seq++);
		sonde__rbw_str(&rows, res->service, res->service_len);
		sonde__rbw_i32(&rows, lg->severity_number);
		bool body = lg->body.kind == SONDE_VAL_STRING;
		sonde__rbw_u8(&rows, body);
		sonde__rbw_str(&rows, body ? lg->body.u.str.ptr : "", body ? lg->body.u.str.len : 0);
		sonde_buf_append(&rows, lg->trace_id, 16);
		if (!sonde_id_is_zero(lg->trace_id, 16)) {
			sonde_buf_append(&index, lg->trace_id, 16);
			sonde__rbw_u64(&index, keys[2 * i]);
			sonde__rbw_u64(&index, keys[2 * i + 1]);
		}
		sonde_buf_append(&rows, lg->span_id, 8);
		sonde_buf_append(&rows, res->hash, 16);
		sonde_buf_append(&rows, scope->hash, 16);
		sonde__rbw_attr_arrays(&rows, &lg->attrs, &s->text);
		sonde_buf_reset(&s->enc);
		sonde__enc_log_rest(&s->enc, lg);
		sonde__rbw_str(&rows, s->enc.data ? s->enc.data : "", s->enc.len);
		rows.oom |= s->enc.oom;
	}
	rc = 0;
	if ((rc = ch_insert(s, "resources", &a->res_rows, "writing resources")) < 0 ||
	    (rc = ch_insert(s, "scopes", &a->scope_rows, "writing scopes")) < 0 ||
	    (rc = ch_insert(s, "log_index", &index, "writing logs")) < 0 ||
	    (rc = ch_insert(s, "logs", &rows, "writing logs")) < 0)
		goto out;
	sonde_buf_reset(&a->res_rows);
	sonde_buf_reset(&a->scope_rows);
	s->next_log_seq = seq;
out:
	free(keys);
	sonde__keymap_release(&present);
	sonde_buf_release(&q);
	sonde_buf_release(&rows);
	sonde_buf_release(&index);
	return rc;
}

typedef struct series_row {
	uint8_t hash[16];
	uint64_t seq;
} series_row;

static int row_series_seq(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)ctx;
	uint8_t h[16];
	sonde__rb_fixed(r, h, 16);
	uint64_t seq = sonde__rb_u64(r);
	if (r->short_)
		return 0;
	return sonde__keymap_put(&s->series_seq, h, 16, seq, NULL) < 0 ? -ENOMEM : 0;
}

static int append_metrics(ch_store *s, const sonde_batch *b, app_ctx *a, sonde_append_stats *st)
{
	size_t npts = 0;
	for (size_t i = 0; i < b->metrics_count; i++)
		npts += b->metrics[i].points_count;
	if (!npts)
		return 0;
	series_row *sr = malloc(npts * sizeof *sr);
	sonde__keymap batch_series, present;
	sonde__keymap_init(&batch_series);
	sonde__keymap_init(&present);
	sonde_buf q = SONDE_BUF_INIT, series = SONDE_BUF_INIT, rows = SONDE_BUF_INIT;
	int rc = sr ? 0 : -ENOMEM;
	size_t k = 0;
	/* Each point's series digest, as the SQLite backend keys series. */
	for (size_t i = 0; rc == 0 && i < b->metrics_count; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		const res_ref *res, *scope;
		if ((rc = ref_of(s, a, false, m->resource, &res)) < 0 ||
		    (rc = ref_of(s, a, true, m->scope, &scope)) < 0)
			break;
		for (uint32_t j = 0; j < m->points_count; j++, k++) {
			sonde_buf *key = &s->key, *attrs = &s->enc;
			sonde_buf_reset(key);
			sonde_buf_reset(attrs);
			sonde__enc_attrs(attrs, &m->points[j].attrs);
			sonde__enc_str(key, m->name);
			sonde__enc_varint(key, (uint64_t)m->type);
			sonde_buf_append(key, res->hash, 16);
			sonde_buf_append(key, scope->hash, 16);
			sonde_buf_append(key, attrs->data, attrs->len);
			if (key->oom || attrs->oom) {
				rc = -ENOMEM;
				break;
			}
			sonde__ch_digest(key->data, key->len, sr[k].hash);
			if (!sonde__keymap_get(&s->series_seq, sr[k].hash, 16) &&
			    (rc = sonde__keymap_put(&batch_series, sr[k].hash, 16, 0, NULL)) < 0)
				break;
			rc = 0;
		}
	}
	if (rc < 0)
		goto out;
	if (batch_series.count) {
		map_keys(&q, &batch_series);
		if ((rc = select_with(s, "SELECT hash, seq FROM series FINAL WHERE hash IN ext",
		                      "hash FixedString(16)", &q, row_series_seq, NULL, "reading series")) <
		    0)
			goto out;
		if (s->next_series_seq < 0) {
			uint64_t m = 0;
			if ((rc = query_u64(s, "SELECT max(seq) FROM series", &m)) < 0)
				goto out;
			s->next_series_seq = (int64_t)m + 1;
		}
	}
	/* Points already stored, among those of the batch's series. */
	sonde__keymap all;
	sonde__keymap_init(&all);
	for (size_t i = 0; i < npts && rc >= 0; i++)
		rc = sonde__keymap_put(&all, sr[i].hash, 16, 0, NULL);
	sonde_buf_reset(&q);
	map_keys(&q, &all);
	sonde__keymap_release(&all);
	if (rc < 0 || (rc = select_with(s, "SELECT series, time_ns FROM points WHERE series IN ext",
	                                "series FixedString(16)", &q, row_present_point, &present,
	                                "reading points")) < 0)
		goto out;
	int64_t seq = s->next_series_seq;
	k = 0;
	for (size_t i = 0; i < b->metrics_count; i++) {
		const sonde_metric_data *m = &b->metrics[i];
		const res_ref *res, *scope;
		if ((rc = ref_of(s, a, false, m->resource, &res)) < 0 ||
		    (rc = ref_of(s, a, true, m->scope, &scope)) < 0)
			goto out;
		for (uint32_t j = 0; j < m->points_count; j++, k++) {
			const sonde_point *p = &m->points[j];
			sonde__keymap_ent *se = sonde__keymap_get(&s->series_seq, sr[k].hash, 16);
			if (!se) {
				if ((rc = sonde__keymap_put(&s->series_seq, sr[k].hash, 16, (uint64_t)seq++,
				                            &se)) < 0)
					goto out;
				sonde_buf_append(&series, sr[k].hash, 16);
				sonde__rbw_u64(&series, se->v);
				sonde__rbw_str(&series, m->name.ptr, m->name.len);
				sonde__rbw_str(&series, res->service, res->service_len);
				sonde__rbw_u8(&series, (uint8_t)m->type);
				sonde_buf_append(&series, res->hash, 16);
				sonde_buf_append(&series, scope->hash, 16);
				sonde_buf_reset(&s->enc);
				sonde__enc_metric_meta(&s->enc, m);
				sonde__rbw_str(&series, s->enc.data ? s->enc.data : "", s->enc.len);
				sonde_buf_reset(&s->enc);
				sonde__enc_attrs(&s->enc, &p->attrs);
				sonde__rbw_str(&series, s->enc.data ? s->enc.data : "", s->enc.len);
				sonde__rbw_attr_arrays(&series, &p->attrs, &s->text);
				series.oom |= s->enc.oom;
			}
			uint8_t pk[24];
			memcpy(pk, sr[k].hash, 16);
			memcpy(pk + 16, &p->time_ns, 8);
			if ((rc = sonde__keymap_put(&present, pk, 24, 0, NULL)) < 0)
				goto out;
			if (rc == 0) {
				st->points_present++;
				continue;
			}
			st->points_added++;
			sonde_buf_append(&rows, sr[k].hash, 16);
			sonde__rbw_u64(&rows, se->v);
			sonde__rbw_u64(&rows, p->time_ns);
			bool number = m->type == SONDE_METRIC_GAUGE || m->type == SONDE_METRIC_SUM;
			uint8_t vk = !number                                ? 0
			             : p->u.number.kind == SONDE_NUM_INT    ? 1
			             : p->u.number.kind == SONDE_NUM_DOUBLE ? 2
			                                                    : 0;
			sonde__rbw_u8(&rows, vk);
			sonde__rbw_u64(&rows, vk == 1 ? (uint64_t)p->u.number.v.i : 0);
			sonde__rbw_f64(&rows, vk == 2 ? p->u.number.v.d : 0.0);
			sonde_buf_reset(&s->enc);
			sonde__enc_point_rest(&s->enc, m->type, p);
			sonde__rbw_str(&rows, s->enc.data ? s->enc.data : "", s->enc.len);
			rows.oom |= s->enc.oom;
		}
	}
	rc = 0;
	if ((rc = ch_insert(s, "resources", &a->res_rows, "writing resources")) < 0 ||
	    (rc = ch_insert(s, "scopes", &a->scope_rows, "writing scopes")) < 0 ||
	    (rc = ch_insert(s, "series", &series, "writing series")) < 0 ||
	    (rc = ch_insert(s, "points", &rows, "writing points")) < 0)
		goto out;
	sonde_buf_reset(&a->res_rows);
	sonde_buf_reset(&a->scope_rows);
	s->next_series_seq = seq;
out:
	if (rc < 0)
		sonde__keymap_clear(&s->series_seq);
	free(sr);
	sonde__keymap_release(&batch_series);
	sonde__keymap_release(&present);
	sonde_buf_release(&q);
	sonde_buf_release(&series);
	sonde_buf_release(&rows);
	return rc;
}

static int ch_append(sonde_store *base, const sonde_batch *b, const sonde_append_opts *opts,
                     sonde_append_stats *stats)
{
	ch_store *s = (ch_store *)base;
	if (s->readonly)
		return sonde__store_fail(base, -EROFS, "%s: opened read-only", s->uri);
	sonde_append_stats st = {0};
	s->last_presence_ns = s->last_insert_ns = 0;
	app_ctx a = {.res_rows = SONDE_BUF_INIT, .scope_rows = SONDE_BUF_INIT};
	sonde__keymap_init(&a.objs);
	sonde__keymap_init(&a.new_res);
	sonde__keymap_init(&a.new_scopes);
	int rc;
	if ((rc = append_spans(s, b, &a, &st)) < 0 || (rc = append_logs(s, b, opts, &a, &st)) < 0 ||
	    (rc = append_metrics(s, b, &a, &st)) < 0) {
		if (!s->base.errmsg[0])
			sonde__store_fail(base, rc, "%s: append failed: %s", s->uri, sonde_strerror(rc));
		/* What this handle believed stored may not be: read it again next time. */
		s->next_tkey = s->next_log_seq = s->next_series_seq = -1;
		goto out;
	}
	/* Every resource and scope of the batch is stored now. */
	for (size_t i = 0; i < a.new_res.mask + 1 && a.new_res.e; i++)
		if (a.new_res.e[i].k &&
		    (rc = sonde__keymap_put(&s->res_known, a.new_res.e[i].k, 16, 0, NULL)) < 0)
			goto out;
	for (size_t i = 0; i < a.new_scopes.mask + 1 && a.new_scopes.e; i++)
		if (a.new_scopes.e[i].k &&
		    (rc = sonde__keymap_put(&s->scope_known, a.new_scopes.e[i].k, 16, 0, NULL)) < 0)
			goto out;
	rc = 0;
	if (stats) {
		stats->spans_added += st.spans_added;
		stats->spans_present += st.spans_present;
		stats->logs_added += st.logs_added;
		stats->logs_present += st.logs_present;
		stats->points_added += st.points_added;
		stats->points_present += st.points_present;
	}
out:
	sonde__keymap_release(&a.objs);
	sonde__keymap_release(&a.new_res);
	sonde__keymap_release(&a.new_scopes);
	sonde_buf_release(&a.res_rows);
	sonde_buf_release(&a.scope_rows);
	free(a.refs);
	return rc;
}

/* ---- Info and prune -------------------------------------------------------------------------- */

static int row_u64s(ch_store *s, sonde__rb *r, void *ctx)
{
	(void)s;
	uint64_t v[6];
	for (int i = 0; i < 6; i++)
		v[i] = sonde__rb_u64(r);
	if (!r->short_)
		memcpy(ctx, v, sizeof v);
	return 0;
}

static int ch_info(sonde_store *base, sonde_store_info *out)
{
	ch_store *s = (ch_store *)base;
	snprintf(out->backend, sizeof out->backend, "clickhouse");
	out->schema_version = CH_SCHEMA_VERSION;
	uint64_t v[6] = {0};
	sonde_buf q = SONDE_BUF_INIT;
	sonde_buf_puts(&q,
	               "SELECT toUInt64(sum(bytes_on_disk)) FROM system.parts WHERE active AND database = ");
	sonde__ch_quote(&q, s->db, strlen(s->db));
	int rc = q.oom ? -ENOMEM : 0;
	if (!rc && !s->cluster) {
		rc = query_u64(s, q.data, &out->size_bytes);
	} else if (!rc) {
		/* Sharded: the parts of DB_local on each shard the URI names. */
		q.len--;
		sonde_buf_puts(&q, "_local'");
		out->size_bytes = 0;
		for (size_t i = 0; rc == 0 && i < s->nshards; i++) {
			uint64_t b = 0;
			if ((rc = q.oom ? -ENOMEM : query_u64_at(s, i, "default", "", q.data, &b)) == 0)
				out->size_bytes += b;
		}
	}
	sonde_buf_release(&q);
	if (rc < 0)
		return rc;
	if ((rc = sonde__ch_select(
	             s, s->curl,
	             "SELECT (SELECT count() FROM spans FINAL), (SELECT uniqExact(trace_id) FROM "
	             "trace_index),"
	             " (SELECT count() FROM logs FINAL), (SELECT count() FROM points FINAL),"
	             " (SELECT count() FROM series FINAL), (SELECT uniqExact(service) FROM resources)",
	             row_u64s, v, "counting")) < 0)
		return rc;
	out->spans = v[0];
	out->traces = v[1];
	out->logs = v[2];
	out->points = v[3];
	out->series = v[4];
	out->services = v[5];
	memset(v, 0, sizeof v);
	if ((rc = sonde__ch_select(
	             s, s->curl,
	             "SELECT (SELECT if(count() = 0, 0, min(start_ns)) FROM trace_index),"
	             " (SELECT max(start_ns) FROM trace_index),"
	             " (SELECT if(count() = 0, 0, min(time_ns)) FROM logs), (SELECT max(time_ns) FROM logs),"
	             " (SELECT if(count() = 0, 0, min(time_ns)) FROM points), (SELECT max(time_ns) FROM "
	             "points)",
	             row_u64s, v, "reading time ranges")) < 0)
		return rc;
	out->spans_min_ns = v[0];
	out->spans_max_ns = v[1];
	out->logs_min_ns = v[2];
	out->logs_max_ns = v[3];
	out->points_min_ns = v[4];
	out->points_max_ns = v[5];
	return 0;
}

/* Waits until every mutation of the store's tables is done (18.16 has no
 * mutations_sync), for at most a minute. */
static int wait_mutations(ch_store *s)
{
	sonde_buf q = SONDE_BUF_INIT;
	sonde_buf_puts(&q, "SELECT count() FROM system.mutations WHERE NOT is_done AND database = ");
	sonde__ch_quote(&q, s->db, strlen(s->db));
	if (s->cluster) {
		q.len--;
		sonde_buf_puts(&q, "_local'");
	}
	int rc = q.oom ? -ENOMEM : 0;
	for (int i = 0; rc == 0 && i < 1200; i++) {
		uint64_t n = 0, m;
		for (size_t k = 0; rc == 0 && k < (s->cluster ? s->nshards : 1); k++)
			if ((rc = s->cluster ? query_u64_at(s, k, "default", "", q.data, &m)
			                     : query_u64(s, q.data, &m)) == 0)
				n += m;
		if (rc < 0 || n == 0)
			break;
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (i == 1199)
			rc = sonde__store_fail(&s->base, -ETIMEDOUT,
			                       "%s: deletions still running after a minute", s->uri);
	}
	sonde_buf_release(&q);
	return rc;
}

/* Runs a statement on the store's own tables: on one server, or on each shard's DB_local
 * (where the subqueries of the conditions read the shard's own rows: a trace, a log
 * record, a series is whole on its shard). */
static int exec_shards(ch_store *s, const char *sql, const char *what)
{
	if (!s->cluster)
		return sonde__ch_exec(s, sql, what);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < s->nshards; i++)
		rc = exec_at(s, i, s->db, "_local", sql, what);
	return rc;
}

static int ch_prune(sonde_store *base, uint64_t before_ns, bool vacuum, sonde_prune_stats *stats)
{
	ch_store *s = (ch_store *)base;
	if (s->readonly)
		return sonde__store_fail(base, -EROFS, "%s: opened read-only", s->uri);
	char old[200], q[1024];
	snprintf(old, sizeof old,
	         "trace_id IN (SELECT trace_id FROM trace_index GROUP BY trace_id HAVING min(start_ns) < "
	         "%llu)",
	         (unsigned long long)before_ns);
	uint64_t v[6] = {0};
	snprintf(q, sizeof q,
	         "SELECT (SELECT count() FROM spans FINAL WHERE %s), (SELECT uniqExact(trace_id) FROM "
	         "trace_index"
	         " WHERE %s), (SELECT count() FROM logs FINAL WHERE time_ns < %llu),"
	         " (SELECT count() FROM points FINAL WHERE time_ns < %llu), toUInt64(0), toUInt64(0)",
	         old, old, (unsigned long long)before_ns, (unsigned long long)before_ns);
	int rc = sonde__ch_select(s, s->curl, q, row_u64s, v, "counting what to delete");
	if (rc < 0)
		return rc;
	/* One mutation at a time, each finished before the next: the spans' condition reads
	 * trace_index, which must not have lost those traces yet. The index goes last, so a
	 * prune that stops half way leaves spans that trace lookups no longer find rather than
	 * the reverse (the same order as appends); span_keys, where appends see what is
	 * stored, goes first, so an append never takes a deleted span for a stored one. */
	static const struct {
		const char *table;
		bool by_trace;
		int counted; /* the count that says there is something to delete */
	} dels[] = {{"span_keys", true, 0}, {"spans", true, 0},      {"trace_index", true, 0},
	            {"logs", false, 2},     {"log_index", false, 2}, {"points", false, 3}};
	for (size_t i = 0; i < sizeof dels / sizeof dels[0]; i++) {
		if (!v[dels[i].counted])
			continue;
		if (dels[i].by_trace)
			snprintf(q, sizeof q, "ALTER TABLE %s DELETE WHERE %s", dels[i].table, old);
		else
			snprintf(q, sizeof q, "ALTER TABLE %s DELETE WHERE time_ns < %llu", dels[i].table,
			         (unsigned long long)before_ns);
		if ((rc = exec_shards(s, q, "deleting")) < 0 || (rc = wait_mutations(s)) < 0)
			return rc;
	}
	stats->spans = v[0];
	stats->traces = v[1];
	stats->logs = v[2];
	stats->points = v[3];
	for (size_t i = 0; vacuum && i < sizeof dels / sizeof dels[0]; i++) {
		snprintf(q, sizeof q, "OPTIMIZE TABLE %s FINAL", dels[i].table);
		if ((rc = exec_shards(s, q, "merging")) < 0)
			return rc;
	}
	return 0;
}

const sonde_store_ops sonde__store_clickhouse_ops = {
        .name = "clickhouse",
        .open = ch_open,
        .close = ch_close,
        .append = ch_append,
        .get_trace = sonde__ch_get_trace,
        .find_traces = sonde__ch_find_traces,
        .select_spans = sonde__ch_select_spans,
        .scan_spans = sonde__ch_scan_spans,
        .select_logs = sonde__ch_select_logs,
        .scan_logs = sonde__ch_scan_logs,
        .select_points = sonde__ch_select_points,
        .scan_points = sonde__ch_scan_points,
        .aggregate_spans = sonde__ch_aggregate_spans,
        .info = ch_info,
        .prune = ch_prune,
};
