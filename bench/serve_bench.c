/*
 * serve_bench.c - sonde serve end to end: an in-process server on loopback, client
 * threads POSTing OTLP protobuf export requests (each with its own trace ids) with
 * libcurl over keep-alive connections, and the store it writes. Prints the sustained rate
 * of spans acknowledged (and so stored), then the request latency at 80% of that rate,
 * and checks that the store holds every acknowledged span.
 *
 *     serve_bench [--db URI] [--seconds S] [--clients N] [--spans K] [--batch N] [--load F]
 *                 [--rate SPANS_PER_S] [--committers N] [--fill N] [--settle S]
 *                 [--journal DIR] [--journal-sync 1] [--between S]
 *
 * Defaults: a temporary SQLite file, 3 s per phase, 4 clients, 500 spans per request,
 * load 0.8. Metric names say the backend: serve_sqlite_* or serve_clickhouse_*.
 *
 * Phase 1 (sustained): N closed-loop clients send as fast as they are answered.
 * Phase 2 (latency): an open-loop generator sends at F times the phase-1 rate on a fixed
 * schedule, whatever the answers (up to 64 requests in flight, the server's queue), and
 * measures each request's latency from the moment the schedule said to send it: a request
 * that could not be sent on time because the server was slow counts its waiting, so that
 * queueing shows in the quantiles instead of slowing the load down (no coordinated
 * omission). --rate skips phase 1 and offers load * SPANS_PER_S in phase 2.
 *
 * --fill N first appends N other spans (ids of their own, earlier times, batches of
 * 50,000) straight into the store, then waits --settle seconds (default 0) for the
 * backend's background work (ClickHouse's merges): the phases then run on a store that
 * already holds N spans. --committers N: transactions in flight (serve opts.committers).
 * --between S: seconds of rest between the closed loop and the open loop (default 0), so
 * that the open loop does not run against the store's after-work of the first phase
 * (ClickHouse merges the parts the closed loop made for a while after it).
 * --journal DIR: the server acknowledges once a request is in its write-ahead journal in
 * DIR (opts.journal_dir; --journal-sync 1: fdatasync'ed too); the check at the end runs
 * after the stop, which commits everything journaled.
 *
 * Phase 2 also prints where the server's time went for its acknowledged requests, p50 and
 * p99 of each part (serve_internal.h's sonde__serve_phases): receive (headers to queued),
 * queue (waiting for the decoder), decode, commit_wait (decoded, waiting for a committer:
 * the commit in progress and the group's filling), presence and insert (ClickHouse: the
 * transaction's presence query, encoding overlapped, and its INSERTs; 0 for SQLite),
 * commit_rest (the rest of the transaction), respond (transaction end to the answer) and
 * server_total (headers to answer).
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "otlp_pb.h"
#include "serve.h"
#include "serve_internal.h"
#include "store.h"

typedef struct body {
	char *data;
	size_t len;
} body;

static body *bodies;
static size_t bodies_count;
static atomic_size_t next_body;
static atomic_int stop_flag;
static char url[128];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The resource (service "bench") and scope of the bench's spans, new in b. */
static sonde_resource *bench_meta(sonde_batch *b, sonde_scope **sc)
{
	sonde_resource *res = sonde_batch_new_resource(b);
	*sc = sonde_batch_new_scope(b);
	res->attrs.items = sonde_batch_alloc(b, sizeof(sonde_kv));
	res->attrs.count = 1;
	res->attrs.items[0].key = SONDE_STR_LIT("service.name");
	res->attrs.items[0].value.kind = SONDE_VAL_STRING;
	res->attrs.items[0].value.u.str = SONDE_STR_LIT("bench");
	(*sc)->name = SONDE_STR_LIT("serve_bench");
	return res;
}

/* One request of k spans: 10 traces of k/10 spans, ids from seq. */
static int make_body(size_t seq, size_t k, body *out)
{
	sonde_batch *b = sonde_batch_new();
	sonde_scope *sc;
	sonde_resource *res = bench_meta(b, &sc);
	static const char *const ops[] = {"GET /orders", "SELECT orders", "charge", "render", "cache get"};
	uint64_t t0 = 1700000000000000000ull + seq * 1000000ull;
	for (size_t i = 0; i < k; i++) {
		sonde_span_data *s = sonde_batch_add_span(b, res, sc);
		uint64_t trace = seq * 10 + i / (k / 10 ? k / 10 : 1) + 1;
		memcpy(s->trace_id, &trace, 8);
		s->trace_id[15] = 0x5e;
		uint64_t sid = seq * 100000 + i + 1;
		memcpy(s->span_id, &sid, 8);
		if (i % (k / 10 ? k / 10 : 1)) {
			uint64_t parent = sid - 1;
			memcpy(s->parent_span_id, &parent, 8);
		}
		s->name = (sonde_str){ops[i % 5], strlen(ops[i % 5])};
		s->kind = i % 5 == 0 ? SONDE_SPAN_KIND_SERVER : SONDE_SPAN_KIND_CLIENT;
		s->start_ns = t0 + i * 1000;
		s->end_ns = s->start_ns + 500 + i % 97;
	}
	sonde_buf buf = SONDE_BUF_INIT;
	int rc = sonde_otlp_pb_write(b, SONDE_SIGNAL_TRACES, &buf);
	sonde_batch_free(b);
	out->data = buf.data;
	out->len = buf.len;
	return rc;
}

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return sz * n;
}

typedef struct client {
	pthread_t th;
	uint64_t interval_ns; /* paced: one request per interval; 0: as fast as answered */
	uint64_t ok, throttled, failed;
	uint64_t *lat_ns;
	size_t lat_count, lat_cap;
} client;

static void *client_main(void *arg)
{
	client *c = arg;
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	uint64_t next = now_ns();
	while (!atomic_load(&stop_flag)) {
		if (c->interval_ns) {
			uint64_t t = now_ns();
			if (t < next) {
				struct timespec ts = {0, (long)(next - t)};
				nanosleep(&ts, NULL);
			}
			next += c->interval_ns;
		}
		size_t i = atomic_fetch_add(&next_body, 1);
		if (i >= bodies_count) {
			atomic_store(&stop_flag, 1);
			break;
		}
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodies[i].data);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)bodies[i].len);
		uint64_t t0 = now_ns();
		CURLcode cr = curl_easy_perform(h);
		long code = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		uint64_t dt = now_ns() - t0;
		if (cr == CURLE_OK && code == 200) {
			c->ok++;
			if (c->lat_count == c->lat_cap) {
				c->lat_cap = c->lat_cap ? c->lat_cap * 2 : 1024;
				c->lat_ns = realloc(c->lat_ns, c->lat_cap * sizeof *c->lat_ns);
			}
			c->lat_ns[c->lat_count++] = dt;
		} else if (code == 429 || code == 503) {
			c->throttled++;
			usleep(10000);
		} else {
			c->failed++;
		}
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Prints the p50 and p99 of each part of the server's time for the requests it
 * acknowledged while recording (serve_internal.h's sonde__serve_phases). */
static void print_phases(sonde_serve *srv, const char *backend, int pct)
{
	static const char *const names[SONDE__PH_COUNT] = {"receive",     "queue",    "decode",
	                                                   "commit_wait", "presence", "insert",
	                                                   "commit_rest", "respond",  "server_total"};
	sonde__serve_phases *ph;
	size_t n;
	sonde__serve_phases_take(srv, &ph, &n);
	uint64_t *v = malloc((n ? n : 1) * sizeof *v);
	for (int k = 0; k < SONDE__PH_COUNT && v && n; k++) {
		for (size_t i = 0; i < n; i++)
			v[i] = ph[i].ns[k];
		qsort(v, n, sizeof *v, cmp_u64);
		printf("serve_%s_open%d_%s_p50: %.2f ms\n", backend, pct, names[k], (double)v[n / 2] / 1e6);
		printf("serve_%s_open%d_%s_p99: %.2f ms\n", backend, pct, names[k],
		       (double)v[(n * 99) / 100] / 1e6);
	}
	free(v);
	free(ph);
}

/* Runs n clients for seconds (interval_ns per client; 0: flat out). Returns requests
 * acknowledged; fills the latency quantiles in ms. */
static uint64_t run(size_t n, double seconds, uint64_t interval_ns, double *elapsed_s, double *p50,
                    double *p99, uint64_t *throttled)
{
	client *cs = calloc(n, sizeof *cs);
	atomic_store(&stop_flag, 0);
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		cs[i].interval_ns = interval_ns;
		pthread_create(&cs[i].th, NULL, client_main, &cs[i]);
	}
	while (!atomic_load(&stop_flag) && (double)(now_ns() - t0) / 1e9 < seconds)
		usleep(10000);
	atomic_store(&stop_flag, 1);
	uint64_t ok = 0;
	size_t lat_n = 0;
	*throttled = 0;
	for (size_t i = 0; i < n; i++) {
		pthread_join(cs[i].th, NULL);
		ok += cs[i].ok;
		*throttled += cs[i].throttled;
		lat_n += cs[i].lat_count;
		if (cs[i].failed)
			fprintf(stderr, "serve_bench: client %zu: %llu requests failed\n", i,
			        (unsigned long long)cs[i].failed);
	}
	*elapsed_s = (double)(now_ns() - t0) / 1e9;
	uint64_t *all = malloc((lat_n ? lat_n : 1) * sizeof *all);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		memcpy(all + k, cs[i].lat_ns, cs[i].lat_count * sizeof *all);
		k += cs[i].lat_count;
		free(cs[i].lat_ns);
	}
	qsort(all, lat_n, sizeof *all, cmp_u64);
	*p50 = lat_n ? (double)all[lat_n / 2] / 1e6 : 0;
	*p99 = lat_n ? (double)all[(lat_n * 99) / 100] / 1e6 : 0;
	free(all);
	free(cs);
	return ok;
}

enum { OPEN_INFLIGHT = 64 };

/* One slot of the open-loop generator: a handle and the request it carries. */
typedef struct slot {
	CURL *h;
	uint64_t sched_ns; /* when the schedule said to send it */
	bool busy;
} slot;

/* Sends requests at req_per_s on a fixed schedule for seconds, at most OPEN_INFLIGHT at
 * once (a request due while all are busy waits, and its latency counts the wait).
 * Returns requests acknowledged; fills the quantiles of their latency (from the
 * scheduled time to the answer) in ms, and the requests sent per second. */
static uint64_t run_open(double req_per_s, double seconds, double *sent_per_s, double *p50, double *p99,
                         double *p999, uint64_t *throttled)
{
	CURLM *m = curl_multi_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/x-protobuf");
	hdr = curl_slist_append(hdr, "Expect:");
	slot slots[OPEN_INFLIGHT];
	for (size_t i = 0; i < OPEN_INFLIGHT; i++) {
		slots[i].h = curl_easy_init();
		slots[i].busy = false;
		curl_easy_setopt(slots[i].h, CURLOPT_URL, url);
		curl_easy_setopt(slots[i].h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(slots[i].h, CURLOPT_WRITEFUNCTION, discard);
		curl_easy_setopt(slots[i].h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(slots[i].h, CURLOPT_PRIVATE, &slots[i]);
	}
	uint64_t interval = (uint64_t)(1e9 / req_per_s);
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(seconds * 1e9);
	uint64_t due = 0; /* requests the schedule has asked for */
	uint64_t started = 0, ok = 0, failed = 0;
	size_t lat_n = 0, lat_cap = 1024, inflight = 0;
	uint64_t *lat = malloc(lat_cap * sizeof *lat);
	*throttled = 0;
	for (;;) {
		uint64_t t = now_ns();
		if (t < end)
			due = (t - t0) / interval + 1;
		/* Start what is due, oldest first, while a slot is free. */
		while (started < due && inflight < OPEN_INFLIGHT) {
			size_t i = atomic_fetch_add(&next_body, 1);
			if (i >= bodies_count) {
				due = started;
				end = t;
				break;
			}
			slot *sl = NULL;
			for (size_t k = 0; k < OPEN_INFLIGHT && !sl; k++)
				if (!slots[k].busy)
					sl = &slots[k];
			sl->busy = true;
			sl->sched_ns = t0 + started * interval;
			curl_easy_setopt(sl->h, CURLOPT_POSTFIELDS, bodies[i].data);
			curl_easy_setopt(sl->h, CURLOPT_POSTFIELDSIZE, (long)bodies[i].len);
			curl_multi_add_handle(m, sl->h);
			started++;
			inflight++;
		}
		if (t >= end && !inflight)
			break;
		int running;
		curl_multi_perform(m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			slot *sl;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&sl);
			long code = 0;
			curl_easy_getinfo(sl->h, CURLINFO_RESPONSE_CODE, &code);
			uint64_t dt = now_ns() - sl->sched_ns;
			if (msg->data.result == CURLE_OK && code == 200) {
				ok++;
				if (lat_n == lat_cap) {
					lat_cap *= 2;
					lat = realloc(lat, lat_cap * sizeof *lat);
				}
				lat[lat_n++] = dt;
			} else if (code == 429 || code == 503) {
				(*throttled)++;
			} else {
				failed++;
			}
			curl_multi_remove_handle(m, sl->h);
			sl->busy = false;
			inflight--;
		}
		/* Sleep until the next request is due or something arrives. */
		t = now_ns();
		uint64_t next = t0 + due * interval;
		int wait_ms = t >= end ? 100 : next > t ? (int)((next - t) / 1000000) : 0;
		if (started < due && inflight == OPEN_INFLIGHT)
			wait_ms = 100;
		if (wait_ms > 0 || inflight)
			curl_multi_poll(m, NULL, 0, wait_ms, NULL);
	}
	*sent_per_s = (double)started / ((double)(now_ns() - t0) / 1e9);
	if (failed)
		fprintf(stderr, "serve_bench: %llu requests failed\n", (unsigned long long)failed);
	qsort(lat, lat_n, sizeof *lat, cmp_u64);
	*p50 = lat_n ? (double)lat[lat_n / 2] / 1e6 : 0;
	*p99 = lat_n ? (double)lat[(lat_n * 99) / 100] / 1e6 : 0;
	*p999 = lat_n ? (double)lat[(lat_n * 999) / 1000] / 1e6 : 0;
	free(lat);
	for (size_t i = 0; i < OPEN_INFLIGHT; i++)
		curl_easy_cleanup(slots[i].h);
	curl_slist_free_all(hdr);
	curl_multi_cleanup(m);
	return ok;
}

/* Appends n spans into db (traces of 10, ids apart from the requests', times before
 * theirs) in batches of 50,000. Returns 0 or the store's code. */
static int fill(const char *db, size_t n)
{
	sonde_store *st;
	char err[256];
	int rc = sonde_store_open(db, 0, &st, err, sizeof err);
	if (rc < 0) {
		fprintf(stderr, "serve_bench: %s\n", err);
		return rc;
	}
	sonde_batch *b = sonde_batch_new();
	uint64_t t0 = 1700000000000000000ull - (uint64_t)n * 1000u, start = now_ns();
	for (size_t done = 0; done < n && rc == 0;) {
		sonde_batch_clear(b);
		sonde_scope *sc;
		sonde_resource *res = bench_meta(b, &sc);
		static const char *const ops[] = {"GET /orders", "SELECT orders", "charge", "render",
		                                  "cache get"};
		for (size_t k = 0; k < 50000 && done < n; k++, done++) {
			sonde_span_data *sp = sonde_batch_add_span(b, res, sc);
			uint64_t trace = done / 10 + 1, sid = done + 1;
			memcpy(sp->trace_id, &trace, 8);
			sp->trace_id[15] = 0xf1;
			memcpy(sp->span_id, &sid, 8);
			if (done % 10) {
				uint64_t parent = sid - 1;
				memcpy(sp->parent_span_id, &parent, 8);
			}
			sp->name = (sonde_str){ops[done % 5], strlen(ops[done % 5])};
			sp->kind = done % 5 == 0 ? SONDE_SPAN_KIND_SERVER : SONDE_SPAN_KIND_CLIENT;
			sp->start_ns = t0 + done * 1000u;
			sp->end_ns = sp->start_ns + 500 + done % 97;
		}
		sonde_append_opts ao = {0};
		if ((rc = sonde_store_append(st, b, &ao, NULL)) < 0)
			fprintf(stderr, "serve_bench: filling: %s\n", sonde_store_errmsg(st));
	}
	double el = (double)(now_ns() - start) / 1e9;
	if (rc == 0)
		printf("serve_fill_spans_per_s: %.0f spans/s (%zu spans)\n", (double)n / el, n);
	sonde_batch_free(b);
	sonde_store_close(st);
	return rc;
}

/* Sleeps s seconds (fractions too). */
static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

/* Waits until srv's journal has nothing left to commit; returns the seconds it took. */
static double journal_drain(sonde_serve *srv)
{
	uint64_t t0 = now_ns();
	while (sonde__journal_backlog(srv->journal) > 0)
		sleep_s(0.005);
	return (double)(now_ns() - t0) / 1e9;
}

int main(int argc, char **argv)
{
	const char *db = NULL;
	double seconds = 3, load = 0.8, fixed_rate = 0;
	size_t clients = 4, spans = 500, batch = 0, committers = 0, fill_n = 0;
	double settle_s = 0, between_s = 0;
	const char *journal = NULL;
	bool journal_sync = false;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--db"))
			db = argv[i + 1];
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--clients"))
			clients = (size_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--spans"))
			spans = (size_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--batch"))
			batch = (size_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--load"))
			load = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--rate"))
			fixed_rate = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--committers"))
			committers = (size_t)atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--fill"))
			fill_n = (size_t)atoll(argv[i + 1]);
		else if (!strcmp(argv[i], "--settle"))
			settle_s = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--between"))
			between_s = atof(argv[i + 1]);
		else if (!strcmp(argv[i], "--journal"))
			journal = argv[i + 1];
		else if (!strcmp(argv[i], "--journal-sync"))
			journal_sync = atoi(argv[i + 1]) != 0;
	}
	if (spans < 10)
		spans = 10;
	const char *backend = db && !strncmp(db, "clickhouse:", 11) ? "clickhouse" : "sqlite";
	char tmpdb[] = "/tmp/serve_bench.XXXXXX";
	char path[64];
	if (!db) {
		if (!mkdtemp(tmpdb))
			return 1;
		snprintf(path, sizeof path, "%s/bench.db", tmpdb);
		db = path;
	}
	/* Enough distinct requests for both phases at 300,000 spans/s (journal: 600,000, as
	 * acknowledging runs ahead of committing). */
	bodies_count = (size_t)(seconds * 2 * (journal ? 600000 : 300000) / (double)spans) + 16;
	bodies = calloc(bodies_count, sizeof *bodies);
	for (size_t i = 0; i < bodies_count; i++)
		if (make_body(i, spans, &bodies[i]) != 0)
			return 1;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (fill_n && fill(db, fill_n) != 0)
		return 1;
	if (settle_s > 0)
		sleep_s(settle_s);
	sonde_serve_opts o = {.host = "127.0.0.1",
	                      .db_uri = db,
	                      .batch_records = batch,
	                      .queue_requests = 64,
	                      .committers = (unsigned)committers,
	                      .journal_dir = journal,
	                      .journal_sync = journal_sync};
	sonde_serve *srv;
	char err[256];
	if (sonde_serve_start(&o, &srv, err, sizeof err) != 0) {
		fprintf(stderr, "serve_bench: %s\n", err);
		return 1;
	}
	snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/traces", (unsigned)sonde_serve_port(srv));
	if (journal)
		printf("serve_journal: %s%s\n", journal,
		       journal_sync ? " (fdatasync before each answer)" : "");

	double el, p50, p99, p999;
	uint64_t thr;
	uint64_t ok = 0;
	double rate = fixed_rate;
	if (fixed_rate <= 0) {
		ok = run(clients, seconds, 0, &el, &p50, &p99, &thr);
		rate = (double)ok * (double)spans / el;
		if (journal) {
			/* Acknowledged is journaled: the sustained rate is what the store committed,
			 * so wait until the journal has nothing left to commit. */
			double drain = journal_drain(srv);
			printf("serve_%s_journaled_spans_per_s: %.0f spans/s\n", backend, rate);
			printf("serve_%s_journal_drain: %.2f s\n", backend, drain);
			rate = (double)ok * (double)spans / (el + drain);
		}
		printf("serve_%s_spans_per_s: %.0f spans/s\n", backend, rate);
		printf("serve_%s_requests_per_s: %.0f requests/s\n", backend, (double)ok / el);
		printf("serve_%s_saturated_p50_latency: %.2f ms\n", backend, p50);
		printf("serve_%s_saturated_p99_latency: %.2f ms\n", backend, p99);
		printf("serve_%s_saturated_throttled: %llu requests\n", backend, (unsigned long long)thr);
	}

	/* At load times that rate, open loop. */
	double target_req_s = load * rate / (double)spans, sent;
	uint64_t ok2 = 0;
	if (target_req_s > 0 && between_s > 0)
		sleep_s(between_s);
	if (target_req_s > 0) {
		sonde__serve_phases_record(srv, true);
		ok2 = run_open(target_req_s, seconds, &sent, &p50, &p99, &p999, &thr);
		int pct = (int)(load * 100 + 0.5);
		if (journal) {
			/* Whether the store kept up: what was journaled and not yet committed when the
			 * phase ended, and how long it took to commit it. */
			uint64_t left = sonde__journal_backlog(srv->journal);
			double drain = journal_drain(srv);
			printf("serve_%s_open%d_journal_backlog_at_end: %llu bytes\n", backend, pct,
			       (unsigned long long)left);
			printf("serve_%s_open%d_journal_drain: %.2f s\n", backend, pct, drain);
		}
		print_phases(srv, backend, pct);
		printf("serve_%s_open%d_offered: %.0f spans/s\n", backend, pct, sent * (double)spans);
		printf("serve_%s_open%d_p50_latency: %.2f ms\n", backend, pct, p50);
		printf("serve_%s_open%d_p99_latency: %.2f ms\n", backend, pct, p99);
		printf("serve_%s_open%d_p999_latency: %.2f ms\n", backend, pct, p999);
		printf("serve_%s_open%d_throttled: %llu requests\n", backend, pct, (unsigned long long)thr);
	}

	sonde_serve_totals t;
	sonde_serve_stop(srv, 5000, &t);
	sonde_store *s;
	sonde_store_info info;
	if (sonde_store_open(db, SONDE_STORE_READONLY, &s, err, sizeof err) == 0 &&
	    sonde_store_info_get(s, &info) == 0) {
		uint64_t want = (ok + ok2) * spans + fill_n;
		printf("serve_spans_stored: %llu spans (acknowledged and filled %llu)\n",
		       (unsigned long long)info.spans, (unsigned long long)want);
		printf("serve_transactions: %llu batches\n", (unsigned long long)t.batches);
		if (info.spans < want) {
			fprintf(stderr, "serve_bench: acknowledged spans missing from the store\n");
			return 1;
		}
		sonde_store_close(s);
	}
	for (size_t i = 0; i < bodies_count; i++)
		free(bodies[i].data);
	free(bodies);
	curl_global_cleanup();
	if (db == path) {
		char cmd[128];
		snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdb);
		if (system(cmd) != 0)
			return 1;
	}
	return 0;
}
