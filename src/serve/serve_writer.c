/*
 * serve_writer.c - the writer of sonde serve: two threads in a pipeline. The decoder
 * takes queued requests in arrival order and decodes them into a group (one batch); the
 * committer appends a group to the store in one transaction and only then resumes each
 * request's connection with its answer. While the committer writes one group, the decoder
 * fills the next, and hands it over the moment the committer is free: a group holds what
 * arrived during the previous commit (at most opts.batch_records records), so idle every
 * request is committed alone at once, and under load transactions grow just enough to keep
 * up (group commit) while no request waits behind more than one commit before its own.
 *
 * With opts.committers > 1 (a backend that takes concurrent writers: ClickHouse) there
 * are that many committer threads, each with its own store handle (srv->stores[i]); the
 * decoder hands its group to any free one, so that many transactions are in flight and
 * groups are what arrived while all were busy. There are committers + 1 groups: one
 * filling, one per committer; a committer gives its group back (srv->mu) when done.
 *
 * Each committer is the only user of its store handle while the server runs. A request
 * whose body does not decode is answered 400 by the decoder at once and takes no part in
 * a transaction. When the append of a group of several requests fails, each is tried
 * again alone, so one request the store refuses does not fail the others. Decoded records
 * held are bounded by about (committers + 1) * opts.batch_records.
 *
 * Each request carries the times it was taken, decoded and committed (and, on ClickHouse,
 * its transaction's presence query and INSERTs: sonde__ch_append_times); the server keeps
 * them as a sonde__serve_phases per answer only while a bench asks for them
 * (sonde__serve_phases_record), so bench/serve_bench can say where a request's time goes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "clock.h"
#include "serve.h"
#include "serve_internal.h"
#include "sonde/status.h"
#include "store_internal.h"

enum { GROUP_MAX = 256 };

enum {
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_UNAVAILABLE = 14,
};

/* Requests decoded into one batch, to be appended in one transaction. With a journal,
 * the requests are answered when they join it (rq is not kept) and js says where their
 * records are in the journal. */
typedef struct group {
	sonde_batch *b;
	sonde__serve_req *rq[GROUP_MAX];
	size_t n;
	sonde__journal_span js;
	bool has_logs; /* one request with log records is in it */
	bool closed;   /* takes no more requests (a second one with logs is waiting) */
} group;

/* A committer thread: its store handle and the group it is committing. */
typedef struct committer {
	sonde_serve *srv;
	struct pipe_state *p;
	sonde_store *store; /* its own: handles are not shared between threads */
	group *g;           /* the group being committed; NULL: free */
	sonde_batch *alone; /* for requests retried alone */
	pthread_t th;
} committer;

/* What the decoder and the committers share; guarded by srv->mu. */
typedef struct pipe_state {
	sonde_serve *srv;
	pthread_cond_t cv; /* the committers wait for a group */
	committer c[SONDE_SERVE_MAX_COMMITTERS];
	unsigned nc;                              /* committer threads running */
	group *spare[SONDE_SERVE_MAX_COMMITTERS]; /* groups neither filling nor committing */
	unsigned nspare;
	bool exit; /* the committers return once free */
} pipe_state;

size_t sonde__serve_points(const sonde_batch *b, size_t from)
{
	size_t n = 0;
	for (size_t i = from; i < b->metrics_count; i++)
		n += b->metrics[i].points_count;
	return n;
}

size_t sonde__serve_records(const sonde_batch *b)
{
	return b->spans_count + b->logs_count + sonde__serve_points(b, 0);
}

/* Decides rq's answer: 503 (UNAVAILABLE, retryable) with the message fmt makes. */
static void fail_store(sonde__serve_req *rq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_store(sonde__serve_req *rq, const char *fmt, ...)
{
	rq->status = 503;
	rq->grpc_code = GRPC_UNAVAILABLE;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rq->msg, sizeof rq->msg, fmt, ap);
	va_end(ap);
}

/* Takes out of b what the last request decoded onto it (the counts were s0, l0, m0). */
static void take_back(sonde_batch *b, size_t s0, size_t l0, size_t m0)
{
	b->spans_count = s0;
	b->logs_count = l0;
	b->metrics_count = m0;
}

/* Takes rq's records back out of g (take_back) and closes g: rq waits for the next group.
 * Returns false, add()'s answer for that. */
static bool to_next_group(group *g, sonde__serve_req *rq, size_t s0, size_t l0, size_t m0)
{
	take_back(g->b, s0, l0, m0);
	rq->rejected = 0;
	rq->msg[0] = '\0';
	g->closed = true;
	return false;
}

/* Decodes rq's body onto b. On failure decides rq's answer (400) and returns false. */
static bool decode(sonde_batch *b, sonde__serve_req *rq)
{
	size_t s0 = b->spans_count;
	sonde_wire_error err;
	memset(&err, 0, sizeof err);
	int rc = sonde_serve_decode(b, rq->route, rq->enc, rq->body.data ? rq->body.data : "", rq->body.len,
	                            &err);
	if (rc == 0) {
		rq->rejected = sonde_serve_drop_invalid(b, s0, rq->msg, sizeof rq->msg);
		return true;
	}
	if (rc == -ENOMEM) {
		fail_store(rq, "out of memory: retry later");
		return false;
	}
	rq->status = 400;
	rq->grpc_code = GRPC_INVALID_ARGUMENT;
	const char *what = rq->route == SONDE_ROUTE_ZIPKIN ? "Zipkin v2 JSON"
	                   : rq->enc == SONDE_SERVE_JSON   ? "OTLP JSON"
	                                                   : "OTLP protobuf";
	if (err.line)
		snprintf(rq->msg, sizeof rq->msg, "bad %s body: line %zu, offset %zu%s%s: %s", what, err.line,
		         err.offset, err.field[0] ? ": field " : "", err.field, err.msg);
	else
		snprintf(rq->msg, sizeof rq->msg, "bad %s body: offset %zu%s%s: %s", what, err.offset,
		         err.field[0] ? ": field " : "", err.field, err.msg);
	return false;
}

/* Appends b; on success adds to the counters and returns 0, else the store's code with
 * its message in msg. */
static int append(sonde_serve *srv, sonde_store *store, const sonde_batch *b, char *msg, size_t msg_len)
{
	sonde_append_opts ao = {.log_source = NULL, .log_position = 0};
	sonde_append_stats as;
	memset(&as, 0, sizeof as);
	uint64_t t0 = sonde__serve_now_ns();
	int rc = sonde_store_append(store, b, &ao, &as);
	double dt = (double)(sonde__serve_now_ns() - t0) / 1e9;
	pthread_mutex_lock(&srv->mu);
	if (rc == 0) {
		srv->st.batches++;
		sonde__serve_observe(&srv->st.write_s, dt);
		srv->st.added[0] += as.spans_added;
		srv->st.present[0] += as.spans_present;
		srv->st.added[1] += as.logs_added;
		srv->st.present[1] += as.logs_present;
		srv->st.added[2] += as.points_added;
		srv->st.present[2] += as.points_present;
	} else {
		srv->st.store_errors++;
	}
	pthread_mutex_unlock(&srv->mu);
	if (rc != 0) {
		const char *m = sonde_store_errmsg(store);
		snprintf(msg, msg_len, "the store could not write: %s", m && *m ? m : sonde_strerror(rc));
	}
	return rc;
}

/* Journal mode: appends g until the store takes it, waiting 100 ms doubling to 5 s
 * between tries (each failure counted in store_errors), and then gives its records back
 * to the journal. Gives up when the server is stopping: the records stay in the journal
 * for the next start. */
static void commit_journaled(committer *c, group *g)
{
	sonde_serve *srv = c->srv;
	char msg[400];
	uint64_t wait_ms = 100;
	while (append(srv, c->store, g->b, msg, sizeof msg) != 0) {
		uint64_t until = sonde__serve_now_ns() + wait_ms * 1000000u;
		pthread_mutex_lock(&srv->mu);
		while (!srv->stopping && !srv->writer_exit && sonde__serve_now_ns() < until) {
			struct timespec ts;
			sonde_clock_realtime_after(&ts, 20);
			pthread_cond_timedwait(&srv->cv, &srv->mu, &ts);
		}
		/* Stopping: one more try, then what is not committed stays in the journal (the
		 * stop must not wait for a store that is down; the queue still drains). */
		bool stop = srv->stopping || srv->writer_exit;
		pthread_mutex_unlock(&srv->mu);
		if (stop && append(srv, c->store, g->b, msg, sizeof msg) != 0)
			return;
		if (stop)
			break;
		wait_ms = wait_ms * 2 > 5000 ? 5000 : wait_ms * 2;
	}
	sonde__journal_done(srv->journal, &g->js);
}

/* Ends the writer's part in n requests whose answers are decided: releases their bodies,
 * resumes their connections, and gives them up. */
static void finish(sonde_serve *srv, sonde__serve_req *const *rqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		sonde_buf_release(&rqs[i]->body);
		rqs[i]->state = SONDE__REQ_DONE;
	}
	/* After a resume the request belongs to its connection again (and may be freed at
	 * once): nothing of it is touched afterwards. */
	for (size_t i = 0; i < n; i++)
		MHD_resume_connection(rqs[i]->conn);
	pthread_mutex_lock(&srv->mu);
	srv->writing -= n;
	pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mu);
}

/* Appends group g (its requests that decoded) on c's store handle and decides every
 * answer. */
static void commit(committer *c, group *g)
{
	sonde_serve *srv = c->srv;
	if (srv->journal) {
		if (g->n)
			commit_journaled(c, g);
		return;
	}
	char msg[400];
	uint64_t t0 = sonde__serve_now_ns();
	int rc = g->n ? append(srv, c->store, g->b, msg, sizeof msg) : 0;
	uint64_t presence = 0, insert = 0;
	if (rc == 0)
		sonde__ch_append_times(c->store, &presence, &insert);
	if (rc != 0 && g->n > 1) {
		/* Each alone, so that one the store refuses does not fail the rest. */
		if (!c->alone)
			c->alone = sonde_batch_new();
		for (size_t i = 0; i < g->n; i++) {
			sonde__serve_req *rq = g->rq[i];
			if (!c->alone) {
				fail_store(rq, "out of memory: retry later");
				continue;
			}
			sonde_batch_clear(c->alone);
			if (decode(c->alone, rq) && append(srv, c->store, c->alone, msg, sizeof msg) != 0)
				fail_store(rq, "%s", msg);
		}
	} else if (rc != 0) {
		fail_store(g->rq[0], "%s", msg);
	}
	uint64_t rejected = 0, t1 = sonde__serve_now_ns();
	for (size_t i = 0; i < g->n; i++) {
		sonde__serve_req *rq = g->rq[i];
		rq->t_commit0 = t0;
		rq->t_commit1 = t1;
		rq->presence_ns = presence;
		rq->insert_ns = insert;
		if (!rq->status) {
			rq->status = rq->route == SONDE_ROUTE_ZIPKIN ? 202 : 200;
			rejected += rq->rejected;
		}
	}
	if (rejected) {
		pthread_mutex_lock(&srv->mu);
		srv->st.rejected[0] += rejected;
		pthread_mutex_unlock(&srv->mu);
	}
	finish(srv, g->rq, g->n);
}

void sonde__serve_phases_record(sonde_serve *srv, bool on)
{
	pthread_mutex_lock(&srv->mu);
	srv->phases_on = on;
	srv->phases_n = 0;
	pthread_mutex_unlock(&srv->mu);
}

void sonde__serve_phases_take(sonde_serve *srv, sonde__serve_phases **out, size_t *n)
{
	pthread_mutex_lock(&srv->mu);
	*out = srv->phases;
	*n = srv->phases_n;
	srv->phases = NULL;
	srv->phases_n = srv->phases_cap = 0;
	pthread_mutex_unlock(&srv->mu);
}

static uint64_t span_ns(uint64_t from, uint64_t to)
{
	return to > from ? to - from : 0;
}

void sonde__serve_phases_add(sonde_serve *srv, const sonde__serve_req *rq, uint64_t now)
{
	if (srv->phases_n == srv->phases_cap) {
		size_t cap = srv->phases_cap ? srv->phases_cap * 2 : 1024;
		sonde__serve_phases *p = realloc(srv->phases, cap * sizeof *p);
		if (!p)
			return;
		srv->phases = p;
		srv->phases_cap = cap;
	}
	sonde__serve_phases *p = &srv->phases[srv->phases_n++];
	uint64_t commit = span_ns(rq->t_commit0, rq->t_commit1);
	p->ns[SONDE__PH_RECEIVE] = span_ns(rq->t0_ns, rq->t_queued);
	p->ns[SONDE__PH_QUEUE] = span_ns(rq->t_queued, rq->t_taken);
	p->ns[SONDE__PH_DECODE] = span_ns(rq->t_taken, rq->t_decoded);
	p->ns[SONDE__PH_COMMIT_WAIT] = span_ns(rq->t_decoded, rq->t_commit0);
	p->ns[SONDE__PH_PRESENCE] = rq->presence_ns;
	p->ns[SONDE__PH_INSERT] = rq->insert_ns;
	p->ns[SONDE__PH_COMMIT_REST] = span_ns(rq->presence_ns + rq->insert_ns, commit);
	p->ns[SONDE__PH_RESPOND] = span_ns(rq->t_commit1, now);
	p->ns[SONDE__PH_TOTAL] = span_ns(rq->t0_ns, now);
}

static void group_reset(group *g)
{
	if (g->b)
		sonde_batch_clear(g->b);
	g->n = 0;
	g->has_logs = false;
	g->closed = false;
	memset(&g->js, 0, sizeof g->js);
}

static void *committer_main(void *arg)
{
	committer *c = arg;
	pipe_state *p = c->p;
	sonde_serve *srv = p->srv;
	for (;;) {
		pthread_mutex_lock(&srv->mu);
		while (!c->g && !p->exit)
			pthread_cond_wait(&p->cv, &srv->mu);
		group *g = c->g;
		pthread_mutex_unlock(&srv->mu);
		if (!g)
			break;
		commit(c, g);
		group_reset(g);
		pthread_mutex_lock(&srv->mu);
		c->g = NULL;
		p->spare[p->nspare++] = g;
		pthread_cond_broadcast(&srv->cv);
		pthread_mutex_unlock(&srv->mu);
	}
	return NULL;
}

/* A committer with no group, or NULL. Caller holds srv->mu. */
static committer *free_committer(pipe_state *p)
{
	for (unsigned i = 0; i < p->nc; i++)
		if (!p->c[i].g)
			return &p->c[i];
	return NULL;
}

/* Whether a committer is writing a group. Caller holds srv->mu. */
static bool committing(const pipe_state *p)
{
	for (unsigned i = 0; i < p->nc; i++)
		if (p->c[i].g)
			return true;
	return false;
}

/* Takes the first queued request. Caller holds srv->mu. */
static sonde__serve_req *pop_locked(sonde_serve *srv)
{
	sonde__serve_req *rq = srv->head;
	srv->head = rq->next;
	if (!srv->head)
		srv->tail = NULL;
	rq->next = NULL;
	srv->queued--;
	srv->queued_bytes -= rq->body.len;
	srv->writing++;
	return rq;
}

/* Journal mode with opts.journal_sync: requests journaled and answered, waiting for
 * one fdatasync before their connections are resumed. */
typedef struct acks {
	sonde__serve_req *rq[GROUP_MAX];
	size_t n;
} acks;

/* Syncs the journal, then resumes the requests of a (503 when the sync failed: the
 * records may still be committed, and a retry is idempotent). */
static void acks_flush(sonde_serve *srv, acks *a)
{
	if (!a->n)
		return;
	int rc = sonde__journal_sync(srv->journal);
	for (size_t i = 0; rc < 0 && i < a->n; i++) {
		sonde__serve_req *rq = a->rq[i];
		if (rq->status == 200 || rq->status == 202)
			fail_store(rq, "the journal could not be synced: %s", strerror(-rc));
	}
	finish(srv, a->rq, a->n);
	a->n = 0;
}

/* Journal mode: rq decoded onto g's batch from s0, l0, m0; appends its body to the journal
 * and answers it. Returns false when rq must go to the next group (g's records already
 * span as many segments as a group may name). */
static bool add_journaled(sonde_serve *srv, group *g, sonde__serve_req *rq, acks *a, size_t s0, size_t l0,
                          size_t m0, bool has_logs)
{
	sonde_batch *b = g->b;
	rq->t_commit0 = sonde__serve_now_ns();
	int rc = sonde__journal_append(srv->journal, rq->route, rq->enc, rq->body.data ? rq->body.data : "",
	                               rq->body.len, &g->js);
	rq->t_commit1 = sonde__serve_now_ns();
	if (rc < 0) {
		if (rc == -E2BIG && g->n)
			return to_next_group(g, rq, s0, l0, m0);
		take_back(b, s0, l0, m0);
		fail_store(rq, "the journal could not write: %s", strerror(-rc));
		pthread_mutex_lock(&srv->mu);
		srv->st.store_errors++;
		pthread_mutex_unlock(&srv->mu);
		finish(srv, &rq, 1);
		return true;
	}
	g->has_logs |= has_logs;
	g->n++;
	if (sonde__serve_records(b) >= srv->o.batch_records)
		g->closed = true;
	rq->status = rq->route == SONDE_ROUTE_ZIPKIN ? 202 : 200;
	if (rq->rejected) {
		pthread_mutex_lock(&srv->mu);
		srv->st.rejected[0] += rq->rejected;
		pthread_mutex_unlock(&srv->mu);
	}
	if (!srv->o.journal_sync) {
		finish(srv, &rq, 1);
		return true;
	}
	if (a->n == GROUP_MAX)
		acks_flush(srv, a);
	a->rq[a->n++] = rq;
	return true;
}

/* Decodes rq into g; answers it at once when it does not decode. Returns false when rq
 * must wait for the next group (it has log records and g has some already). */
static bool add(sonde_serve *srv, group *g, sonde__serve_req *rq, acks *a)
{
	if (!g->b && !(g->b = sonde_batch_new())) {
		fail_store(rq, "out of memory: retry later");
		finish(srv, &rq, 1);
		return true;
	}
	sonde_batch *b = g->b;
	size_t s0 = b->spans_count, l0 = b->logs_count, m0 = b->metrics_count;
	rq->t_taken = sonde__serve_now_ns();
	bool ok = decode(b, rq);
	rq->t_decoded = sonde__serve_now_ns();
	if (!ok) {
		finish(srv, &rq, 1);
		return true;
	}
	bool has_logs = b->logs_count > l0;
	if (has_logs && g->has_logs) /* log positions count from 0 in each request */
		return to_next_group(g, rq, s0, l0, m0);
	if (srv->journal)
		return add_journaled(srv, g, rq, a, s0, l0, m0, has_logs);
	g->has_logs |= has_logs;
	g->rq[g->n++] = rq;
	if (g->n == GROUP_MAX || sonde__serve_records(b) >= srv->o.batch_records)
		g->closed = true;
	return true;
}

void *sonde__serve_writer_main(void *arg)
{
	sonde_serve *srv = arg;
	static group zero;
	static pipe_state pzero;
	pipe_state *p = malloc(sizeof *p);
	unsigned ncommit = srv->o.committers ? srv->o.committers : 1;
	/* One group filling, one per committer. */
	group *groups = calloc(ncommit + 1, sizeof *groups);
	if (p)
		*p = pzero;
	bool pipelined = p && groups && pthread_cond_init(&p->cv, NULL) == 0;
	if (pipelined) {
		p->srv = srv;
		for (unsigned i = 0; i < ncommit; i++) {
			committer *c = &p->c[p->nc];
			c->srv = srv;
			c->p = p;
			c->store = srv->stores[i];
			if (pthread_create(&c->th, NULL, committer_main, c) != 0)
				break;
			p->nc++;
		}
		for (unsigned i = 1; i <= p->nc; i++)
			p->spare[p->nspare++] = &groups[i];
		if (!p->nc) {
			pthread_cond_destroy(&p->cv);
			pipelined = false;
		}
	}
	/* Without a committer thread (none could start) the decoder commits on store 0. */
	committer self = {.srv = srv, .p = p, .store = srv->store};
	group *fill = groups;
	if (fill)
		*fill = zero;
	sonde__serve_req *carry = NULL;
	acks a = {.n = 0};
	for (;;) {
		sonde__serve_req *rq = NULL;
		committer *c;
		pthread_mutex_lock(&srv->mu);
		for (;;) {
			/* Journaled and not committed over the bound: take no request until the
			 * committers catch up (the queue fills, new requests get 429). Not while
			 * stopping: the committers then give up on a store that fails, and what was
			 * admitted is journaled and answered. */
			bool over = srv->journal && !srv->stopping &&
			            sonde__journal_backlog(srv->journal) >= srv->o.journal_max_bytes;
			if (pipelined && fill->n && (c = free_committer(p))) {
				/* A committer is free: it takes what is decoded. */
				c->g = fill;
				pthread_cond_broadcast(&p->cv);
				fill = p->spare[--p->nspare];
				continue;
			}
			if (!pipelined && fill && fill->n &&
			    (fill->closed || over || (!carry && !srv->head))) {
				pthread_mutex_unlock(&srv->mu);
				acks_flush(srv, &a);
				commit(&self, fill);
				group_reset(fill);
				pthread_mutex_lock(&srv->mu);
				continue;
			}
			if (fill && !fill->closed && (carry || (srv->head && !over))) {
				rq = carry ? carry : pop_locked(srv);
				carry = NULL;
				break;
			}
			if (!fill && srv->head) {
				/* No memory for a group: answer 503 one by one. */
				rq = pop_locked(srv);
				break;
			}
			if (a.n) {
				/* Nothing to take now: one sync for the requests answered so far. */
				pthread_mutex_unlock(&srv->mu);
				acks_flush(srv, &a);
				pthread_mutex_lock(&srv->mu);
				continue;
			}
			if (!carry && !srv->head && (!fill || !fill->n) && !(pipelined && committing(p)) &&
			    srv->writer_exit)
				break;
			pthread_cond_wait(&srv->cv, &srv->mu);
		}
		pthread_mutex_unlock(&srv->mu);
		if (!rq)
			break; /* writer_exit and nothing left */
		if (!fill) {
			fail_store(rq, "out of memory: retry later");
			finish(srv, &rq, 1);
			continue;
		}
		if (!add(srv, fill, rq, &a))
			carry = rq;
	}
	if (pipelined) {
		pthread_mutex_lock(&srv->mu);
		p->exit = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&srv->mu);
		for (unsigned i = 0; i < p->nc; i++) {
			pthread_join(p->c[i].th, NULL);
			sonde_batch_free(p->c[i].alone);
		}
		pthread_cond_destroy(&p->cv);
	}
	sonde_batch_free(self.alone);
	for (unsigned i = 0; groups && i <= ncommit; i++)
		sonde_batch_free(groups[i].b);
	free(groups);
	free(p);
	return NULL;
}
