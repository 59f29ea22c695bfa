/*
 * shop_service.c - a small multi-threaded "shop" instrumented with libsonde: an HTTP-ish
 * front end hands each order to a worker thread through a queue, carrying the trace
 * context across the hop as a W3C traceparent header, and answers when it is done; workers query a fake database (nested
 * spans, one slow N+1 pattern), price the order (CPU work, for the profiler), call a
 * payment service that fails now and then (error status, exception event), and every span
 * is exported to a file of OTLP JSON lines. It leaks one small record per order on purpose
 * (remember_order), for `sonde mem` to find.
 *
 * It also logs (records stamped with the trace of the order they belong to, into the same
 * OTLP JSON file) and counts orders and their durations in libsonde metrics, written as a
 * Prometheus exposition at exit; its hot functions are profiled scopes (SONDE_PROFILE_SCOPE),
 * reported like cProfile on stderr when SHOP_PROFILE_REPORT is set.
 *
 *     shop_service [REQUESTS] [OUT.jsonl] [METRICS.prom]
 *         (defaults: 40, shop-traces.jsonl, shop-metrics.prom)
 *
 * Then: sonde convert --to text OUT.jsonl
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sonde/export.h"
#include "sonde/log.h"
#include "sonde/metrics.h"
#include "sonde/profile.h"
#include "sonde/propagation.h"
#include "sonde/trace.h"

enum { WORKERS = 3, QUEUE = 64 };

/* A message between threads: an order id and the headers that carry the context. */
typedef struct message {
	int order;
	int *done; /* set (under q_mu) when the order is processed; the front end waits for it */
	char traceparent[64];
	char tracestate[SONDE_TRACESTATE_MAX_LEN + 1];
} message;

static message queue[QUEUE];
static int q_head, q_tail, q_closed;
static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static sonde_tracer *tracer;
static sonde_instrument *orders_total;
static sonde_series *duration_of[2]; /* order.status = paid, failed */

/* Carrier callbacks over a message's two header fields. */
static int msg_set(void *ctx, const char *key, const char *value)
{
	message *m = ctx;
	if (strcmp(key, "traceparent") == 0)
		snprintf(m->traceparent, sizeof(m->traceparent), "%s", value);
	else if (strcmp(key, "tracestate") == 0)
		snprintf(m->tracestate, sizeof(m->tracestate), "%s", value);
	return 0;
}

static const char *msg_get(void *ctx, const char *key)
{
	message *m = ctx;
	if (strcmp(key, "traceparent") == 0)
		return m->traceparent[0] ? m->traceparent : NULL;
	if (strcmp(key, "tracestate") == 0)
		return m->tracestate[0] ? m->tracestate : NULL;
	return NULL;
}

static void sleep_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static void db_query(const char *statement, long us)
{
	SONDE_PROFILE_SCOPE("db_query");
	sonde_span_opts o = {.kind = SONDE_SPAN_KIND_CLIENT};
	sonde_span *s = sonde_span_start_ex(tracer, "SELECT shop", &o);
	sonde_span_set_str(s, "db.system", "postgresql");
	sonde_span_set_str(s, "db.statement", statement);
	sleep_us(us);
	sonde_span_end(s);
}

/* CPU work, so that a profile of the service has something to show: discounts cost
 * about twice what tax does. */
static volatile double price_sink;

__attribute__((noinline)) static double apply_discounts(int order)
{
	SONDE_PROFILE_SCOPE("apply_discounts");
	double p = 100.0 + order;
	for (int i = 0; i < 4000000; i++)
		p = p * 0.9999999 + (i & 7) * 1e-7;
	return p;
}

__attribute__((noinline)) static double compute_tax(double price)
{
	SONDE_PROFILE_SCOPE("compute_tax");
	double t = price;
	for (int i = 0; i < 2000000; i++)
		t = t * 1.0000001 - (i & 3) * 1e-7;
	return t - price;
}

static void price_order(int order)
{
	SONDE_PROFILE_SCOPE("price_order");
	SONDE_SPAN_SCOPE(s, tracer, "price order");
	double p = apply_discounts(order);
	price_sink = p + compute_tax(p);
	sonde_span_set_double(s, "order.total", price_sink);
}

static int charge(int order)
{
	sonde_span_opts o = {.kind = SONDE_SPAN_KIND_CLIENT};
	sonde_span *s = sonde_span_start_ex(tracer, "POST /payments", &o);
	sonde_span_set_str(s, "peer.service", "payments");
	sonde_span_set_int(s, "order.id", order);
	sleep_us(800 + (order % 5) * 300);
	int rc = 0;
	if (order % 7 == 3) {
		sonde_span_record_exception(s, "PaymentDeclined", "card declined by issuer",
		                            "charge (shop_service.c)");
		SONDE_LOG(SONDE_LOG_ERROR, "payment declined by issuer", SONDE_ATTR_INT("order.id", order),
		          SONDE_ATTR_STR("peer.service", "payments"),
		          SONDE_ATTR_STR("card", "4111 1111 1111 1111"));
		rc = -1;
	} else {
		sonde_span_set_status(s, SONDE_STATUS_OK, NULL);
	}
	sonde_span_end(s);
	return rc;
}

/* Keeps a note of each order for an audit that never reads it, and never frees it: the leak
 * `sonde mem` finds in the demo (one small record per order). */
typedef struct order_note {
	int order;
	int items;
	char summary[48];
} order_note;

static order_note *_Atomic last_note;

__attribute__((noinline)) static void remember_order(int order, int items)
{
	order_note *n = malloc(sizeof *n);
	if (!n)
		return;
	n->order = order;
	n->items = items;
	snprintf(n->summary, sizeof n->summary, "order %d: %d items", order, items);
	last_note = n; /* overwritten by the next order; the previous note is lost */
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&q_mu);
		while (q_head == q_tail && !q_closed)
			pthread_cond_wait(&q_cv, &q_mu);
		if (q_head == q_tail) {
			pthread_mutex_unlock(&q_mu);
			return NULL;
		}
		message m = queue[q_head++ % QUEUE];
		pthread_cond_broadcast(&q_cv);
		pthread_mutex_unlock(&q_mu);

		/* Continue the trace the front end started, on this thread. */
		sonde_carrier carrier = {.ctx = &m, .get = msg_get};
		sonde_span_context parent;
		sonde_propagation_extract(&carrier, &parent, NULL);
		sonde_span_opts o = {.kind = SONDE_SPAN_KIND_CONSUMER, .parent = &parent};
		sonde_span *job = sonde_span_start_ex(tracer, "process order", &o);
		sonde_span_set_int(job, "order.id", m.order);
		uint64_t t0 = sonde_timer_start();
		SONDE_LOGF(SONDE_LOG_INFO, "processing order %d", m.order);
		db_query("SELECT * FROM orders WHERE id = 17", 300);
		int items = 4 + m.order % 4;
		for (int i = 0; i < items; i++) /* one query per item: an N+1 pattern */
			db_query("SELECT * FROM items WHERE order_id = 17 AND line = 1", 150);
		sonde_span_add_event(job, "items loaded", (sonde_attr[]){SONDE_ATTR_INT("items", items)}, 1);
		price_order(m.order);
		remember_order(m.order, items);
		int failed = charge(m.order) < 0;
		if (failed)
			sonde_span_set_status(job, SONDE_STATUS_ERROR, "payment failed");
		sonde_attr st = SONDE_ATTR_STR("order.status", failed ? "failed" : "paid");
		sonde_instrument_add(orders_total, 1, &st, 1);
		sonde_series_record_since(duration_of[failed], t0);
		sonde_span_end(job);
		pthread_mutex_lock(&q_mu);
		*m.done = 1;
		pthread_cond_broadcast(&q_cv);
		pthread_mutex_unlock(&q_mu);
	}
}

int main(int argc, char **argv)
{
	int requests = argc > 1 ? atoi(argv[1]) : 40;
	const char *out = argc > 2 ? argv[2] : "shop-traces.jsonl";
	const char *metrics_out = argc > 3 ? argv[3] : "shop-metrics.prom";
	sonde_trace_config cfg = {.service_name = "shop", .service_version = "1.4.2"};
	cfg.exporters[0] = sonde_exporter_file_new(out);
	cfg.exporters_count = 1;
	cfg.batch.schedule_delay_ms = 200;
	if (!cfg.exporters[0] || sonde_trace_init(&cfg) != 0) {
		fprintf(stderr, "shop_service: cannot start tracing to %s\n", out);
		return 1;
	}
	tracer = sonde_tracer_get("shop.orders", "1.4.2", NULL);
	sonde_meter *meter = sonde_meter_get("shop.orders", "1.4.2", NULL);
	orders_total = sonde_counter_new(meter, "shop.orders", "{order}", "Orders processed, by outcome");
	static const double bounds[] = {0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1};
	sonde_instrument *order_duration =
	        sonde_histogram_new(meter, "shop.order.duration", "s", "Time to process an order", bounds,
	                            sizeof bounds / sizeof bounds[0]);
	for (int f = 0; f < 2; f++)
		duration_of[f] = sonde_instrument_bind(
		        order_duration, (sonde_attr[]){SONDE_ATTR_STR("order.status", f ? "failed" : "paid")},
		        1);
	pthread_t th[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int r = 0; r < requests; r++) {
		sonde_span_opts o = {.kind = SONDE_SPAN_KIND_SERVER};
		sonde_span *req = sonde_span_start_ex(tracer, "POST /orders", &o);
		sonde_span_set_str(req, "http.request.method", "POST");
		sonde_span_set_str(req, "http.route", "/orders");
		sonde_span_set_int(req, "enduser.id", 1000 + r % 9);
		{
			SONDE_SPAN_SCOPE(v, tracer, "validate order"); /* ends with the block */
			sonde_span_set_int(v, "order.lines", 2 + r % 3);
			sleep_us(100);
		}
		int done = 0;
		message m = {.order = r, .done = &done};
		sonde_span_context ctx;
		sonde_span_context_get(req, &ctx);
		sonde_carrier carrier = {.ctx = &m, .set = msg_set};
		sonde_propagation_inject(&carrier, &ctx, NULL);
		pthread_mutex_lock(&q_mu);
		while (q_tail - q_head == QUEUE)
			pthread_cond_wait(&q_cv, &q_mu);
		queue[q_tail++ % QUEUE] = m;
		pthread_cond_broadcast(&q_cv);
		while (!done) /* the response waits for the order to be processed */
			pthread_cond_wait(&q_cv, &q_mu);
		pthread_mutex_unlock(&q_mu);
		sonde_span_set_int(req, "http.response.status_code", 201);
		sonde_span_end(req);
		sleep_us(500);
	}
	pthread_mutex_lock(&q_mu);
	q_closed = 1;
	pthread_cond_broadcast(&q_cv);
	pthread_mutex_unlock(&q_mu);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	char *text;
	size_t len;
	FILE *mf = fopen(metrics_out, "w");
	if (mf && sonde_metrics_prometheus_text(false, &text, &len) == 0) {
		fwrite(text, 1, len, mf);
		free(text);
	}
	if (mf)
		fclose(mf);
	if (getenv("SHOP_PROFILE_REPORT")) /* the profiled scopes, as a cProfile-style table */
		sonde_profile_report(stderr, SONDE_PROFILE_SORT_CUMTIME);
	int rc = sonde_trace_shutdown(5000);
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	fprintf(stderr, "shop_service: %d requests, %llu spans started, %llu exported, %llu dropped -> %s\n",
	        requests, (unsigned long long)st.spans_started, (unsigned long long)st.spans_exported,
	        (unsigned long long)st.spans_dropped, out);
	return rc == 0 ? 0 : 1;
}
