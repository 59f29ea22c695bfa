/*
 * serve_writer.c - the writer thread of sonde serve: takes queued requests in arrival
 * order, decodes them into one batch, appends it to the store in one transaction, and
 * only then resumes each request's connection with its answer.
 *
 * The writer is the only user of the store handle while the server runs. A request whose
 * body does not decode is answered 400 and takes no part in the transaction. When the
 * append of a group of several requests fails, each is tried again alone, so one request
 * the store refuses does not fail the others.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <microhttpd.h>

#include "serve.h"
#include "serve_internal.h"
#include "sonde/status.h"

enum { GROUP_MAX = 256 };

enum {
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_UNAVAILABLE = 14,
};

static size_t records_of(const sonde_batch *b, size_t *points_out)
{
	size_t points = 0;
	for (size_t i = 0; i < b->metrics_count; i++)
		points += b->metrics[i].points_count;
	if (points_out)
		*points_out = points;
	return b->spans_count + b->logs_count + points;
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
		rq->status = 503;
		rq->grpc_code = GRPC_UNAVAILABLE;
		snprintf(rq->msg, sizeof rq->msg, "out of memory: retry later");
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
static int append(sonde_serve *srv, const sonde_batch *b, char *msg, size_t msg_len)
{
	sonde_append_opts ao = {.log_source = NULL, .log_position = 0};
	sonde_append_stats as;
	memset(&as, 0, sizeof as);
	uint64_t t0 = sonde__serve_now_ns();
	int rc = sonde_store_append(srv->store, b, &ao, &as);
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
		const char *m = sonde_store_errmsg(srv->store);
		snprintf(msg, msg_len, "the store could not write: %s", m && *m ? m : sonde_strerror(rc));
	}
	return rc;
}

static sonde__serve_req *pop(sonde_serve *srv)
{
	pthread_mutex_lock(&srv->mu);
	sonde__serve_req *rq = srv->head;
	if (rq) {
		srv->head = rq->next;
		if (!srv->head)
			srv->tail = NULL;
		rq->next = NULL;
		srv->queued--;
		srv->queued_bytes -= rq->body.len;
		srv->writing++;
	}
	pthread_mutex_unlock(&srv->mu);
	return rq;
}

static void fail_store(sonde__serve_req *rq, const char *msg)
{
	rq->status = 503;
	rq->grpc_code = GRPC_UNAVAILABLE;
	snprintf(rq->msg, sizeof rq->msg, "%s", msg);
}

void *sonde__serve_writer_main(void *arg)
{
	sonde_serve *srv = arg;
	sonde_batch *b = sonde_batch_new();
	sonde__serve_req *grp[GROUP_MAX];
	sonde__serve_req *carry = NULL;
	for (;;) {
		pthread_mutex_lock(&srv->mu);
		while (!carry && !srv->head && !srv->writer_exit)
			pthread_cond_wait(&srv->cv, &srv->mu);
		bool idle = !carry && !srv->head;
		pthread_mutex_unlock(&srv->mu);
		if (idle)
			break; /* writer_exit and nothing left */

		size_t n = 0, pending = 0;
		bool group_logs = false;
		if (b)
			sonde_batch_clear(b);
		while (n < GROUP_MAX) {
			sonde__serve_req *rq = carry ? carry : pop(srv);
			carry = NULL;
			if (!rq)
				break;
			if (!b) {
				b = sonde_batch_new();
				if (!b) {
					rq->status = 503;
					rq->grpc_code = GRPC_UNAVAILABLE;
					snprintf(rq->msg, sizeof rq->msg, "out of memory: retry later");
					grp[n++] = rq;
					continue;
				}
			}
			size_t s0 = b->spans_count, l0 = b->logs_count, m0 = b->metrics_count;
			if (!decode(b, rq)) {
				grp[n++] = rq;
				continue;
			}
			bool has_logs = b->logs_count > l0;
			if (has_logs && group_logs) {
				/* Log positions count from 0 in each request: its own transaction. */
				b->spans_count = s0;
				b->logs_count = l0;
				b->metrics_count = m0;
				rq->rejected = 0;
				rq->msg[0] = '\0';
				carry = rq;
				break;
			}
			group_logs |= has_logs;
			grp[n++] = rq;
			pending++;
			if (records_of(b, NULL) >= srv->o.batch_records)
				break;
		}

		if (pending) {
			char msg[400];
			int rc = append(srv, b, msg, sizeof msg);
			if (rc != 0 && pending > 1) {
				/* Each alone, so that one the store refuses does not fail the rest. */
				for (size_t i = 0; i < n; i++) {
					sonde__serve_req *rq = grp[i];
					if (rq->status)
						continue;
					sonde_batch_clear(b);
					if (decode(b, rq) && append(srv, b, msg, sizeof msg) != 0)
						fail_store(rq, msg);
				}
			} else if (rc != 0) {
				for (size_t i = 0; i < n; i++)
					if (!grp[i]->status)
						fail_store(grp[i], msg);
			}
		}
		uint64_t rejected = 0;
		for (size_t i = 0; i < n; i++) {
			sonde__serve_req *rq = grp[i];
			if (!rq->status) {
				rq->status = rq->route == SONDE_ROUTE_ZIPKIN ? 202 : 200;
				rejected += rq->rejected;
			}
			sonde_buf_release(&rq->body);
			rq->state = SONDE__REQ_DONE;
		}
		if (rejected) {
			pthread_mutex_lock(&srv->mu);
			srv->st.rejected[0] += rejected;
			pthread_mutex_unlock(&srv->mu);
		}
		/* After a resume the request belongs to its connection again (and may be freed at
		 * once): nothing of it is touched afterwards. */
		for (size_t i = 0; i < n; i++)
			MHD_resume_connection(grp[i]->conn);
		pthread_mutex_lock(&srv->mu);
		srv->writing -= n;
		pthread_cond_broadcast(&srv->cv);
		pthread_mutex_unlock(&srv->mu);
	}
	sonde_batch_free(b);
	return NULL;
}
