/*
 * serve_internal.h - what the files of the serve subsystem share: the server's state, a
 * request's state, and the counters behind GET /metrics.
 *
 * Locking: srv->mu guards the queue, the admission counters and every counter in
 * srv->st; the writer thread holds it only to take requests and to post results. A
 * request belongs to the HTTP thread of its connection until it is queued, to the writer
 * while queued (its connection suspended), and to its connection again once the writer has
 * set done and resumed it.
 */
#ifndef SONDE_SERVE_INTERNAL_H
#define SONDE_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "serve.h"
#include "serve_journal.h"
#include "store.h"

/* Status codes counted per route in GET /metrics. */
enum { SONDE__SERVE_CODES = 12 };
extern const unsigned sonde__serve_codes[SONDE__SERVE_CODES];

/* Upper bounds, in seconds, of the latency histograms' buckets (one more bucket: +Inf). */
enum { SONDE__SERVE_LAT_BOUNDS = 14 };
extern const double sonde__serve_lat_bounds[SONDE__SERVE_LAT_BOUNDS];

typedef struct sonde__serve_hist {
	uint64_t counts[SONDE__SERVE_LAT_BOUNDS + 1];
	uint64_t count;
	double sum_s;
} sonde__serve_hist;

typedef struct sonde__serve_stats {
	uint64_t by_code[SONDE_ROUTE_COUNT_][SONDE__SERVE_CODES + 1]; /* last: other codes */
	uint64_t bytes_wire, bytes_decoded;
	uint64_t added[3], present[3], rejected[3]; /* spans, logs, points */
	uint64_t batches, store_errors;
	sonde__serve_hist write_s;   /* one store transaction */
	sonde__serve_hist request_s; /* an export request, headers received to answer */
} sonde__serve_stats;

typedef struct sonde__serve_req sonde__serve_req;

/* Where one acknowledged request's time went, in ns (a profile for bench/serve_bench):
 * receiving its body (headers to queued), waiting for the decoder, decoding, waiting for
 * a committer, its transaction's presence query and INSERTs (ClickHouse; 0 otherwise)
 * and the rest of the transaction, then from the transaction's end to its answer. */
enum {
	SONDE__PH_RECEIVE,
	SONDE__PH_QUEUE,
	SONDE__PH_DECODE,
	SONDE__PH_COMMIT_WAIT,
	SONDE__PH_PRESENCE,
	SONDE__PH_INSERT,
	SONDE__PH_COMMIT_REST,
	SONDE__PH_RESPOND,
	SONDE__PH_TOTAL,
	SONDE__PH_COUNT
};
typedef struct sonde__serve_phases {
	uint64_t ns[SONDE__PH_COUNT];
} sonde__serve_phases;

/* Starts (on) or stops recording a sonde__serve_phases per acknowledged request, and
 * drops what was recorded. */
void sonde__serve_phases_record(sonde_serve *srv, bool on);
/* Records rq's sample, answered at now. Caller holds srv->mu. */
void sonde__serve_phases_add(sonde_serve *srv, const sonde__serve_req *rq, uint64_t now);
/* Moves the recorded samples out: *out (malloc'd, the caller frees it) and *n. */
void sonde__serve_phases_take(sonde_serve *srv, sonde__serve_phases **out, size_t *n);

struct sonde_serve {
	sonde_serve_opts o;
	char host[256];
	struct MHD_Daemon *daemon;
	int listen_fd; /* after quiesce: closed once the daemon is stopped */
	uint16_t port;
	sonde_store *store; /* the writer's from start to stop */
	/* The committers' handles (store[0] is store): as many as o.committers. */
	sonde_store *stores[SONDE_SERVE_MAX_COMMITTERS];
	uint64_t start_ns;

	pthread_mutex_t mu;
	pthread_cond_t cv;             /* the writer waits for work; stop waits for drain */
	sonde__serve_req *head, *tail; /* requests waiting for the writer, in arrival order */
	size_t queued, queued_bytes;   /* in the list */
	size_t admitted;               /* requests holding a slot */
	size_t writing;                /* taken by the writer, not yet done */
	bool stopping;                 /* new requests are answered 503 */
	bool writer_exit;              /* the writer returns once the queue is empty */
	pthread_t writer;
	bool writer_started;
	sonde__serve_stats st;
	sonde__journal *journal; /* opts.journal_dir's, or NULL */
	sonde_serve_replay replay;
	sonde_buf replay_warnings;
	/* sonde__serve_phases_record: samples of acknowledged requests, when on. */
	bool phases_on;
	sonde__serve_phases *phases;
	size_t phases_n, phases_cap;
};

/* Counts an answer of status code to a request of route r. Caller holds srv->mu. */
void sonde__serve_count(sonde_serve *srv, sonde_serve_route r, unsigned code);
/* Adds a duration to a histogram. Caller holds srv->mu. */
void sonde__serve_observe(sonde__serve_hist *h, double seconds);
/* Appends the Prometheus text exposition of srv's counters to out. Takes srv->mu.
 * Returns 0 or -ENOMEM. */
int sonde__serve_metrics_text(sonde_serve *srv, sonde_buf *out);

/* Replays the segments srv->journal found at open into srv->store (serve_replay.c),
 * fills srv->replay and removes them. Returns 0, or a negative code with errmsg when a
 * segment cannot be read or the store cannot write (the segments then stay). */
int sonde__serve_replay(sonde_serve *srv, char *errmsg, size_t errmsg_len);

/* The metric points of b's metrics from the from-th on, and all of b's records (spans,
 * log records and points): what a group's --batch bound counts (serve_writer.c). */
size_t sonde__serve_points(const sonde_batch *b, size_t from);
size_t sonde__serve_records(const sonde_batch *b);

/* The writer thread (serve_writer.c). */
void *sonde__serve_writer_main(void *arg);

/* A request's states. */
enum {
	SONDE__REQ_RECEIVING = 0, /* body arriving */
	SONDE__REQ_QUEUED,        /* with the writer; connection suspended */
	SONDE__REQ_DONE,          /* the writer decided the answer */
	SONDE__REQ_ANSWERED,      /* the response is queued */
};

struct sonde__serve_req {
	sonde_serve *srv;
	struct MHD_Connection *conn;
	sonde__serve_req *next; /* in the queue */
	sonde_serve_route route;
	sonde_serve_encoding enc;
	bool gzip;
	bool too_large; /* the body went over max_body_bytes while arriving */
	bool admitted;  /* holds a slot */
	int state;
	uint64_t t0_ns; /* headers received (CLOCK_MONOTONIC) */
	/* Queued, taken by the decoder, decoded, its transaction started and ended, and that
	 * transaction's presence query and INSERTs (ns): for sonde__serve_phases. */
	uint64_t t_queued, t_taken, t_decoded, t_commit0, t_commit1;
	uint64_t presence_ns, insert_ns;
	sonde_buf body; /* as received, then inflated */
	size_t wire_len;
	/* Set by the writer. */
	unsigned status;   /* HTTP status */
	int grpc_code;     /* of the Status body of a failure */
	uint64_t rejected; /* partial success */
	char msg[400];     /* the failure, or the partial success's error_message */
};

uint64_t sonde__serve_now_ns(void);

#endif
