/*
 * serve.h - sonde serve: an OTLP/HTTP and Zipkin v2 receiver in front of the store.
 *
 * A sonde_serve is an HTTP server (libmicrohttpd) that takes OTLP export requests (POST
 * /v1/traces, /v1/metrics, /v1/logs; protobuf or JSON; gzip or not) and Zipkin v2 JSON
 * (POST /api/v2/spans), and a writer (a decoder and a committer thread) that decodes them
 * with the readers of src/wire and appends them to a store (store.h: any backend) in
 * batched transactions.
 * GET /health (or /healthz) answers whether it runs; GET /metrics exposes its own
 * counters in the Prometheus text format.
 *
 * Design notes
 *
 *   Admission. A POST takes one of opts.queue_requests slots when its headers arrive and
 *   gives it back when its response has been sent. With no slot free it is answered 429
 *   with Retry-After at once, before its body is read, so memory stays bounded by about
 *   queue_requests * max_body_bytes (bodies waiting) plus one batch being written. The
 *   bodies of admitted requests waiting for the writer are also bounded in total
 *   (opts.queue_bytes; over it: 429).
 *
 *   Durability. A request is answered only after the writer has decoded it and the
 *   store has committed the transaction holding its records (sonde_store_append
 *   returned 0): 200 (202 for Zipkin) therefore means "stored". The connection is
 *   suspended meanwhile, holding no thread. A body that does not decode is answered 400
 *   and nothing of it is stored; a failed append is answered 503 (retry) and nothing of
 *   the requests in that transaction is stored. Appends are idempotent, so a client's
 *   retry never duplicates records; a request's log records are positioned by their
 *   ordinal in that request, so a retried request matches itself.
 *
 *   Batching. The writer is two threads in a pipeline: a decoder takes requests in
 *   arrival order and decodes them into a group (one batch), a committer appends a group
 *   in one transaction and then answers its requests. The decoder hands its group over
 *   the moment the committer is free, so a group holds what arrived during the previous
 *   commit, at most opts.batch_records records (group commit): idle, every request is
 *   written at once; under load transactions grow and their cost is shared, and no
 *   request waits behind more than one commit before its own. At most one request with
 *   log records goes into a transaction (log positions are per request). With
 *   opts.committers > 1 (ClickHouse) there are that many committers, each on its own
 *   store handle: a group goes to whichever is free, so that many transactions are in
 *   flight at once (durability is per request and unchanged).
 *
 *   Journal. With opts.journal_dir (serve_journal.h), a request that decodes is appended
 *   to a local write-ahead journal and answered at once (200 then means "in the journal";
 *   with opts.journal_sync also fdatasync'ed, one sync for all the requests answered
 *   together); its records join a group that a committer appends later, and the journal
 *   forgets them once committed. A failed commit cannot fail requests already answered:
 *   it is retried (100 ms doubling to 5 s) until it succeeds or the server stops, and
 *   what is not committed stays in the journal. sonde_serve_start first replays the
 *   segments a previous server left into the store, then removes them. Journaled and not
 *   yet committed bytes are bounded (opts.journal_max_bytes): over the bound the decoder
 *   takes no request, the queue fills and new requests get 429. Groups grow to
 *   opts.batch_records (1,000,000 by default in this mode: a commit that takes long
 *   makes the next group larger instead of stopping the decoder).
 *
 *   Shutdown. sonde_serve_stop() stops accepting connections, answers new requests on
 *   open connections 503, waits until every admitted request has been written and
 *   answered (requests still uploading get until the drain deadline), then stops the
 *   server and the writer and closes the store.
 *
 * Thread safety: sonde_serve_start/stop belong to one thread; sonde_serve_port and
 * sonde_serve_totals_get may be called from any thread while the server runs. The
 * helpers of the request path (content types, gunzip, decode, responses) keep no state.
 * The library never prints, exits, or installs signal handlers.
 */
#ifndef SONDE_SERVE_H
#define SONDE_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "telemetry.h"
#include "wire_error.h"

typedef struct sonde_serve sonde_serve;

#define SONDE_SERVE_DEFAULT_LISTEN   "127.0.0.1:4318"
#define SONDE_SERVE_DEFAULT_MAX_BODY (16u << 20)

/* The most committers a server runs (sonde_serve_opts.committers). */
enum { SONDE_SERVE_MAX_COMMITTERS = 16 };

typedef struct sonde_serve_opts {
	const char *host;         /* numeric IPv4 or IPv6 address, or a name; NULL: 127.0.0.1 */
	uint16_t port;            /* 0: an ephemeral port (sonde_serve_port() tells which) */
	const char *db_uri;       /* the store (store.h URI); NULL: SONDE_STORE_DEFAULT_URI */
	size_t max_body_bytes;    /* largest body, on the wire and after gunzip; 0: 16 MiB */
	size_t queue_requests;    /* requests admitted and not yet answered; 0: 64 */
	size_t queue_bytes;       /* bodies waiting for the writer, in total; 0: 256 MiB */
	size_t batch_records;     /* records per transaction (soft); 0: 10000 (journal: 1000000) */
	unsigned committers;      /* transactions in flight at once, each on its own store handle
	                             (ClickHouse; SQLite always 1: one writer at a time); 0: 1;
	                             at most SONDE_SERVE_MAX_COMMITTERS */
	unsigned threads;         /* HTTP threads; 0: 2 */
	unsigned retry_after_s;   /* the Retry-After of 429 and 503; 0: 1 */
	unsigned conn_timeout_s;  /* idle connections are closed after this; 0: 60 */
	unsigned max_connections; /* open connections at most; 0: 1024 */
	/* The write-ahead journal (see Journal above): its directory, or NULL for none. */
	const char *journal_dir;
	bool journal_sync;        /* fdatasync the journal before acknowledging */
	size_t journal_max_bytes; /* journaled and not yet committed, at most; 0: 256 MiB */
} sonde_serve_opts;

/* What sonde_serve_start replayed from the journal (all 0 without one). */
typedef struct sonde_serve_replay {
	uint64_t segments;            /* segment files read (and removed) */
	uint64_t requests;            /* records replayed into the store */
	uint64_t spans, logs, points; /* their records */
	uint64_t skipped;             /* records that no longer decode */
	uint64_t dropped_bytes;       /* torn or corrupt tails dropped */
	const char *warnings;         /* one line per problem met ("" when none); borrowed
	                                     until sonde_serve_stop */
} sonde_serve_replay;

/* What the server has done so far (all counters since start). */
typedef struct sonde_serve_totals {
	uint64_t requests;                  /* every HTTP request answered */
	uint64_t accepted;                  /* export requests answered 200/202 (stored, or with a
	                                     * journal journaled) */
	uint64_t bad;                       /* answered 400 / 413 / 415 */
	uint64_t throttled;                 /* answered 429 */
	uint64_t unavailable;               /* answered 503 (stopping, or the store failed) */
	uint64_t spans, logs, points;       /* records stored (added or already present) */
	uint64_t rejected_records;          /* dropped by partial success */
	uint64_t batches;                   /* transactions committed */
	uint64_t bytes_wire, bytes_decoded; /* request bodies as received, after gunzip */
	size_t queue_depth;                 /* admitted requests not yet answered */
	uint64_t journal_left;              /* with a journal: bytes of journaled records not in the
	                                     * store (at stop: left for the next start) */
} sonde_serve_totals;

/* Opens the store at opts->db_uri and starts the server and the writer. On success *out
 * is the server (stop it with sonde_serve_stop()). On failure returns a negative code
 * (-EADDRINUSE, -EINVAL for a bad host, a store error...) and writes a sentence into
 * errmsg[0..errmsg_len) when errmsg is non-NULL. opts may be NULL (all defaults);
 * strings in opts are borrowed for the call. */
int sonde_serve_start(const sonde_serve_opts *opts, sonde_serve **out, char *errmsg, size_t errmsg_len);
/* What the start replayed from opts.journal_dir into *out. */
void sonde_serve_replay_get(const sonde_serve *s, sonde_serve_replay *out);
/* The port the server listens on (useful with port 0). */
uint16_t sonde_serve_port(const sonde_serve *s);
/* Fills *out with the counters so far. */
void sonde_serve_totals_get(sonde_serve *s, sonde_serve_totals *out);
/* Stops the server as the design notes say, waiting at most drain_ms for requests still
 * being uploaded, closes the store and frees s. Fills *totals (when non-NULL) with the
 * final counters. Returns 0, or -ETIMEDOUT when some admitted request could not be
 * answered within drain_ms (its data was not acknowledged). NULL is a no-op. */
int sonde_serve_stop(sonde_serve *s, uint32_t drain_ms, sonde_serve_totals *totals);

/* Splits "HOST:PORT", "[V6]:PORT" or ":PORT" (host 127.0.0.1) into host[0..host_len) and
 * *port. Returns 0 or -EINVAL. */
int sonde_serve_parse_listen(const char *s, char *host, size_t host_len, uint16_t *port);

/* ---- The request path, for the server, its tests and its fuzz target ---------------- */

typedef enum sonde_serve_route {
	SONDE_ROUTE_TRACES = 0, /* POST /v1/traces */
	SONDE_ROUTE_METRICS,    /* POST /v1/metrics */
	SONDE_ROUTE_LOGS,       /* POST /v1/logs */
	SONDE_ROUTE_ZIPKIN,     /* POST /api/v2/spans */
	SONDE_ROUTE_HEALTH,     /* GET /health, /healthz */
	SONDE_ROUTE_SELF,       /* GET /metrics */
	SONDE_ROUTE_OTHER,      /* anything else (404) */
	SONDE_ROUTE_COUNT_,
} sonde_serve_route;

typedef enum sonde_serve_encoding {
	SONDE_SERVE_PROTOBUF = 0, /* application/x-protobuf (or application/protobuf) */
	SONDE_SERVE_JSON = 1,     /* application/json */
} sonde_serve_encoding;

/* The route of a URL path; SONDE_ROUTE_OTHER when none. */
sonde_serve_route sonde_serve_route_of(const char *path);
/* The route's name in metrics and messages: "traces", "metrics", "logs", "zipkin",
 * "health", "self", "other". Static string. */
const char *sonde_serve_route_name(sonde_serve_route r);

/* The encoding a Content-Type value names (media type compared case-insensitively,
 * parameters ignored). Returns 0, or -EINVAL for anything else (NULL included). */
int sonde_serve_content_type(const char *value, sonde_serve_encoding *out);

/* Inflates a gzip (or zlib) stream in[0..len) onto out, producing at most limit bytes.
 * Returns 0; SONDE_ELIMIT when the output would exceed limit (a decompression bomb stops
 * there); SONDE_EPARSE when the stream is damaged or truncated (msg says how); -ENOMEM.
 * On failure out->len is as it was. msg may be NULL. */
int sonde_serve_gunzip(const void *in, size_t len, size_t limit, sonde_buf *out, char *msg, size_t msg_len);

/* Decodes one request body of route r (TRACES, METRICS, LOGS: enc says how; ZIPKIN: Zipkin
 * v2 JSON) and appends its records to b. A body of one OTLP signal sent to another's route
 * is refused. Returns 0, SONDE_EPARSE or SONDE_ELIMIT with err filled in, or -ENOMEM; on
 * failure b holds exactly the records it held before. */
int sonde_serve_decode(sonde_batch *b, sonde_serve_route r, sonde_serve_encoding enc, const void *body,
                       size_t len, sonde_wire_error *err);

/* Drops the spans of b from index first on that OTLP calls invalid (an all-zero trace id
 * or span id), keeping the others in order. Returns how many were dropped and, when any
 * were, writes a sentence naming the first into msg[0..msg_len). */
size_t sonde_serve_drop_invalid(sonde_batch *b, size_t first, char *msg, size_t msg_len);

/* Appends the Export*ServiceResponse of route r (TRACES, METRICS or LOGS) in encoding
 * enc: empty when rejected is 0 and msg is NULL or empty, else with its partial_success
 * (rejected_spans / rejected_data_points / rejected_log_records, error_message). Returns
 * 0 or -ENOMEM. */
int sonde_serve_write_response(sonde_buf *out, sonde_serve_route r, sonde_serve_encoding enc,
                               uint64_t rejected, const char *msg);
/* Appends a google.rpc.Status {code, message} in encoding enc. Returns 0 or -ENOMEM. */
int sonde_serve_write_status(sonde_buf *out, sonde_serve_encoding enc, int grpc_code, const char *msg);

#endif
