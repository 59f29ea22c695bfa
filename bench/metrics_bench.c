/*
 * metrics_bench.c - what a metrics update costs the application thread, and what a
 * Prometheus scrape costs: bound and unbound counter adds, histogram and summary records,
 * two threads adding to one counter, and collect + text encode of 10,000 series.
 * Unbound adds are measured with literal attribute strings (a cache hit compares pointers),
 * with a string in a writable buffer (a hit compares bytes), and from two call sites whose
 * arrays share one address (both must stay cached). Each figure is the median
 * of RUNS runs. Prints "name: value unit" lines.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "sonde/metrics.h"

enum { RUNS = 11, OPS = 4000000, NVALS = 4096, SERIES = 10000 };

static double vals[NVALS];

typedef void (*loop_fn)(void *arg, int ops);

/* ns per operation, median of RUNS. */
static double measure(loop_fn fn, void *arg, int ops)
{
	double r[RUNS];
	fn(arg, ops / 10); /* warm up: cells allocated, caches filled */
	for (int i = 0; i < RUNS; i++) {
		double t0 = bench_now();
		fn(arg, ops);
		r[i] = (bench_now() - t0) * 1e9 / ops;
	}
	return bench_median(r, RUNS);
}

static void loop_bound_add(void *arg, int ops)
{
	sonde_series *s = arg;
	for (int i = 0; i < ops; i++)
		sonde_series_add(s, 1);
}

static sonde_attr attrs3[3];
static void loop_unbound_add(void *arg, int ops)
{
	sonde_instrument *c = arg;
	for (int i = 0; i < ops; i++)
		sonde_instrument_add(c, 1, attrs3, 3);
}

/* The same with the route in a writable buffer: a cache hit compares bytes. */
static sonde_attr attrs3_buf[3];
static char route_buf[32];
static void loop_unbound_add_buf(void *arg, int ops)
{
	sonde_instrument *c = arg;
	for (int i = 0; i < ops; i++)
		sonde_instrument_add(c, 1, attrs3_buf, 3);
}

/* Two call sites whose attribute arrays sit at the same address (two handlers building
 * them at the same stack depth): one array, rewritten with one of two sets before each
 * add. */
static sonde_attr attrs3_get[3], attrs3_post[3];
static void loop_unbound_add_two_sites(void *arg, int ops)
{
	sonde_instrument *c = arg;
	sonde_attr site[3];
	for (int i = 0; i < ops; i++) {
		memcpy(site, i & 1 ? attrs3_post : attrs3_get, sizeof(site));
		__asm__ volatile("" : : "r"(site) : "memory"); /* keep the copy */
		sonde_instrument_add(c, 1, site, 3);
	}
}

static void loop_record(void *arg, int ops)
{
	sonde_series *s = arg;
	for (int i = 0; i < ops; i++)
		sonde_series_record(s, vals[i & (NVALS - 1)]);
}

typedef struct two {
	sonde_series *s;
	int ops;
	double ns;
} two;

static pthread_barrier_t barrier;

static void *two_main(void *arg)
{
	two *t = arg;
	loop_bound_add(t->s, t->ops / 10);
	pthread_barrier_wait(&barrier);
	double t0 = bench_now();
	loop_bound_add(t->s, t->ops);
	t->ns = (bench_now() - t0) * 1e9 / t->ops;
	return NULL;
}

/* Two threads add to the same bound counter at once: ns per add, the slower thread's. */
static double measure_two(sonde_series *s)
{
	double r[RUNS];
	for (int k = 0; k < RUNS; k++) {
		two t[2] = {{s, OPS, 0}, {s, OPS, 0}};
		pthread_t th[2];
		pthread_barrier_init(&barrier, NULL, 2);
		for (int i = 0; i < 2; i++)
			pthread_create(&th[i], NULL, two_main, &t[i]);
		for (int i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&barrier);
		r[k] = t[0].ns > t[1].ns ? t[0].ns : t[1].ns;
	}
	return bench_median(r, RUNS);
}

int main(void)
{
	/* Latency-like values: log-normal around 20 ms, in seconds. */
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < NVALS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double u1 = ((double)(x >> 11) + 0.5) / 9007199254740992.0;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double u2 = ((double)(x >> 11) + 0.5) / 9007199254740992.0;
		vals[i] = 0.02 * exp(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
	}
	sonde_meter *m = sonde_meter_get("bench", NULL, NULL);

	sonde_series *bound = sonde_instrument_bind(sonde_counter_new(m, "bound", NULL, NULL), NULL, 0);
	printf("metrics_bound_counter_add: %.2f ns\n", measure(loop_bound_add, bound, OPS));

	sonde_instrument *unbound = sonde_counter_new(m, "unbound", NULL, NULL);
	attrs3[0] = SONDE_ATTR_STR("http.request.method", "GET");
	attrs3[1] = SONDE_ATTR_STR("http.route", "/api/v1/orders");
	attrs3[2] = SONDE_ATTR_INT("http.response.status_code", 200);
	printf("metrics_unbound_add_3_attrs: %.2f ns\n", measure(loop_unbound_add, unbound, OPS / 2));
	snprintf(route_buf, sizeof(route_buf), "/api/v1/orders");
	attrs3_buf[0] = attrs3[0];
	attrs3_buf[1] = SONDE_ATTR_STR("http.route", route_buf);
	attrs3_buf[2] = attrs3[2];
	printf("metrics_unbound_add_3_attrs_runtime_strings: %.2f ns\n",
	       measure(loop_unbound_add_buf, unbound, OPS / 2));
	attrs3_get[0] = attrs3[0];
	attrs3_get[1] = attrs3[1];
	attrs3_get[2] = attrs3[2];
	attrs3_post[0] = SONDE_ATTR_STR("http.request.method", "POST");
	attrs3_post[1] = attrs3[1];
	attrs3_post[2] = SONDE_ATTR_INT("http.response.status_code", 201);
	printf("metrics_unbound_add_3_attrs_two_sites_one_address: %.2f ns\n",
	       measure(loop_unbound_add_two_sites, unbound, OPS / 2));

	sonde_series *hist =
	        sonde_instrument_bind(sonde_histogram_new(m, "hist", "s", NULL, NULL, 0), NULL, 0);
	printf("metrics_histogram_record_explicit: %.2f ns\n", measure(loop_record, hist, OPS));
	double ms_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};
	sonde_series *hist_s =
	        sonde_instrument_bind(sonde_histogram_new(m, "hist_seconds", "s", NULL, ms_bounds,
	                                                  sizeof(ms_bounds) / sizeof(ms_bounds[0])),
	                              NULL, 0);
	printf("metrics_histogram_record_explicit_spread: %.2f ns\n", measure(loop_record, hist_s, OPS));

	sonde_series *exph = sonde_instrument_bind(sonde_exp_histogram_new(m, "exp", "s", NULL), NULL, 0);
	printf("metrics_histogram_record_exponential: %.2f ns\n", measure(loop_record, exph, OPS));

	sonde_series *two_c = sonde_instrument_bind(sonde_counter_new(m, "shared", NULL, NULL), NULL, 0);
	printf("metrics_two_threads_same_counter_add: %.2f ns\n", measure_two(two_c));

	sonde_series *sum =
	        sonde_instrument_bind(sonde_summary_new(m, "summary", "s", NULL, NULL, 0), NULL, 0);
	printf("metrics_summary_record: %.2f ns\n", measure(loop_record, sum, OPS));

	/* A scrape of 10,000 series: 10 counters x 1000 label values, collected and written as
	 * Prometheus text. */
	sonde_meter *sm = sonde_meter_get("scrape", NULL, NULL);
	for (int i = 0; i < 10; i++) {
		char name[32];
		snprintf(name, sizeof(name), "requests.%d", i);
		sonde_instrument *c = sonde_counter_new(sm, name, "{request}", "Requests served");
		for (int j = 0; j < SERIES / 10; j++) {
			char user[32];
			snprintf(user, sizeof(user), "user-%d", j);
			sonde_attr a[] = {SONDE_ATTR_STR("user", user),
			                  SONDE_ATTR_STR("region", j & 1 ? "eu" : "us")};
			sonde_instrument_add(c, j + 1, a, 2);
		}
	}
	double r[RUNS];
	size_t bytes = 0;
	for (int k = 0; k < RUNS; k++) {
		double t0 = bench_now();
		char *text;
		size_t len;
		if (sonde_metrics_prometheus_text(false, &text, &len) < 0)
			return 1;
		r[k] = (bench_now() - t0) * 1e3;
		bytes = len;
		free(text);
	}
	printf("metrics_scrape_10000_series: %.2f ms\n", bench_median(r, RUNS));
	printf("metrics_scrape_bytes: %zu bytes\n", bytes);
	return 0;
}
