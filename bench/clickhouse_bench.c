/*
 * clickhouse_bench.c - the store's two backends side by side: spans appended per second
 * (batches of 10,000, as `sonde ingest` appends them) into a fresh SQLite store and into
 * a ClickHouse database (and into a second one in batches of 100,000: ClickHouse pays
 * per INSERT, so larger batches go faster), then the time of the `sonde latency` engine
 * (per service and operation, with the downstream table) over all of them on each.
 * Prints `name: value unit` lines.
 *
 * usage: clickhouse_bench [clickhouse://HOST:PORT/DB [SPANS [ROUNDS]]]   (default 1000000 spans)
 * Without a URI (or $SONDE_CH_URI) it says so and exits 0: bench/clickhouse_bench.sh
 * starts a private server and passes one. The databases DB and DB_big should be new.
 * With ROUNDS, only the ClickHouse appends are measured, ROUNDS times each (into DB_rN
 * and DB_bigN), and each figure is the median with the range: on a loaded machine one
 * run says little.
 *
 *        clickhouse_bench --grow URI SPANS STEP
 * appends SPANS spans in batches of 10,000 into one database (URI, new) and prints the
 * rate of each STEP spans as the store grows (append_clickhouse_spans_at_N: the rate of
 * the STEP spans appended onto N stored ones): a sustained rate must hold as it grows.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "investigate.h"
#include "store.h"

/* Spans first..first+n of the run, in traces of 8 over four services: a server span,
 * client calls with peer.service or db.system, internal work; 6 attributes each. */
static void make_spans(sonde_batch *b, size_t first, size_t n)
{
	static const char *const names[] = {
	        "GET /api/v1/users/{id}", "POST /api/v1/orders", "SELECT orders", "redis GET", "GET /health",
	        "kafka.produce orders"};
	static const char *const svc[] = {"checkout", "inventory", "users", "payments"};
	sonde_resource *res[4];
	sonde_scope *sc = sonde_batch_new_scope(b);
	sc->name = bench_str(b, "io.opentelemetry.http");
	for (int r = 0; r < 4; r++) {
		res[r] = sonde_batch_new_resource(b);
		res[r]->attrs.items = sonde_batch_alloc(b, 2 * sizeof(sonde_kv));
		res[r]->attrs.count = 2;
		bench_kv_str(b, &res[r]->attrs.items[0], "service.name", svc[r]);
		bench_kv_str(b, &res[r]->attrs.items[1], "host.name", r % 2 ? "api-2.prod" : "api-1.prod");
	}
	static uint8_t trace[16], parent[8];
	uint64_t t0 = 1700000000000000000ull;
	for (size_t j = 0; j < n; j++) {
		size_t i = first + j;
		sonde_span_data *s = sonde_batch_add_span(b, res[(i / 8) % 4], sc);
		if (i % 8 == 0) {
			for (int k = 0; k < 16; k++)
				trace[k] = (uint8_t)bench_rand();
			memset(parent, 0, 8);
		}
		memcpy(s->trace_id, trace, 16);
		for (int k = 0; k < 8; k++)
			s->span_id[k] = (uint8_t)bench_rand();
		memcpy(s->parent_span_id, parent, 8);
		memcpy(parent, s->span_id, 8);
		s->name = bench_str(b, names[i % 6]);
		s->kind = i % 8 == 0 ? SONDE_SPAN_KIND_SERVER
		          : i % 2    ? SONDE_SPAN_KIND_CLIENT
		                     : SONDE_SPAN_KIND_INTERNAL;
		s->start_ns = t0 + i * 100000;
		s->end_ns = s->start_ns + 1000 + bench_rand() % 50000000;
		sonde_kv *kv = sonde_batch_alloc(b, 6 * sizeof(sonde_kv));
		bench_kv_str(b, &kv[0], "http.request.method", i % 2 ? "GET" : "POST");
		bench_kv_int(b, &kv[1], "http.response.status_code", i % 17 ? 200 : 503);
		bench_kv_str(b, &kv[2], "server.address", "api-1.prod.internal");
		bench_kv_int(b, &kv[3], "server.port", 8080);
		if (i % 4 == 1)
			bench_kv_str(b, &kv[4], "db.system", "postgresql");
		else
			bench_kv_str(b, &kv[4], "peer.service", svc[(i / 3) % 4]);
		bench_kv_str(b, &kv[5], "user_agent.original",
		             "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0");
		s->attrs.items = kv;
		s->attrs.count = 6;
		if (i % 17 == 0)
			s->status_code = SONDE_STATUS_ERROR;
	}
}

/* Appends n spans to uri in appends of batch spans; returns seconds, or -1. With step,
 * prints the rate of each step spans. */
static double fill_steps(const char *uri, size_t n, size_t batch, size_t step)
{
	sonde_store *s;
	char msg[512];
	if (sonde_store_open(uri, 0, &s, msg, sizeof msg) < 0) {
		fprintf(stderr, "clickhouse_bench: %s\n", msg);
		return -1;
	}
	*bench_rng() = 0x9e3779b97f4a7c15ULL;
	sonde_batch *b = sonde_batch_new();
	double gen = 0, t = bench_now(), step_t = t, step_gen = 0;
	uint64_t mid_rng = 0;
	for (size_t i = 0; i < n; i += batch) {
		if (step && i && i % step == 0) {
			double now = bench_now();
			printf("append_clickhouse_spans_at_%zu: %.0f spans/s\n", i - step,
			       (double)step / (now - step_t - (gen - step_gen)));
			fflush(stdout);
			step_t = now;
			step_gen = gen;
		}
		if (step && i == n / 2 / batch * batch)
			mid_rng = *bench_rng();
		double g = bench_now();
		sonde_batch_clear(b);
		make_spans(b, i, n - i < batch ? n - i : batch);
		gen += bench_now() - g;
		if (sonde_store_append(s, b, NULL, NULL) != 0) {
			fprintf(stderr, "clickhouse_bench: %s\n", sonde_store_errmsg(s));
			return -1;
		}
	}
	double end = bench_now();
	if (step && n % step == 0)
		printf("append_clickhouse_spans_at_%zu: %.0f spans/s\n", n - step,
		       (double)step / (end - step_t - (gen - step_gen)));
	/* A retry: the batch from the middle again, onto the whole store; nothing is added. */
	for (int r = 0; step && r < 3; r++) {
		*bench_rng() = mid_rng;
		sonde_batch_clear(b);
		make_spans(b, n / 2 / batch * batch, batch);
		sonde_append_stats st = {0};
		double rt = bench_now();
		if (sonde_store_append(s, b, NULL, &st) != 0 || st.spans_added) {
			fprintf(stderr, "clickhouse_bench: re-append: %s (%llu added)\n",
			        sonde_store_errmsg(s), (unsigned long long)st.spans_added);
			return -1;
		}
		printf("reappend_clickhouse_%zu_onto_%zu: %.1f ms\n", batch, n, (bench_now() - rt) * 1e3);
	}
	sonde_store_close(s);
	sonde_batch_free(b);
	return end - t - gen;
}

static double fill(const char *uri, size_t n, size_t batch)
{
	return fill_steps(uri, n, batch, 0);
}

/* Runs the latency engine as `sonde latency` does; returns seconds, or -1. */
static double latency(const char *uri)
{
	sonde_store *s;
	char msg[512];
	if (sonde_store_open(uri, SONDE_STORE_READONLY, &s, msg, sizeof msg) < 0) {
		fprintf(stderr, "clickhouse_bench: %s\n", msg);
		return -1;
	}
	sonde_latency_table main_t, ops, down;
	sonde_query q = {0};
	double t = bench_now();
	int rc = sonde_latency_run_all(s, &q, SONDE_LATENCY_BY_SERVICE, NULL, &main_t, &ops, &down);
	t = bench_now() - t;
	if (rc < 0)
		fprintf(stderr, "clickhouse_bench: latency: %s\n", sonde_store_errmsg(s));
	sonde_latency_table_release(&main_t);
	sonde_latency_table_release(&ops);
	sonde_latency_table_release(&down);
	sonde_store_close(s);
	return rc < 0 ? -1 : t;
}

/* ROUNDS of both ClickHouse appends, interleaved; prints median and range of each. */
static int append_rounds(const char *ch, size_t n, int rounds)
{
	double *small = calloc((size_t)rounds, sizeof *small), *big = calloc((size_t)rounds, sizeof *big);
	if (!small || !big)
		return 1;
	for (int r = 0; r < rounds; r++) {
		char uri[600];
		snprintf(uri, sizeof uri, "%s_r%d", ch, r);
		double a = fill(uri, n, 10000);
		snprintf(uri, sizeof uri, "%s_big%d", ch, r);
		double b = a < 0 ? -1 : fill(uri, n, 100000);
		if (a < 0 || b < 0)
			return 1;
		small[r] = (double)n / a;
		big[r] = (double)n / b;
	}
	double lo = small[0], hi = small[0], blo = big[0], bhi = big[0];
	for (int r = 1; r < rounds; r++) {
		lo = small[r] < lo ? small[r] : lo;
		hi = small[r] > hi ? small[r] : hi;
		blo = big[r] < blo ? big[r] : blo;
		bhi = big[r] > bhi ? big[r] : bhi;
	}
	printf("append_clickhouse_spans: %.0f spans/s (median of %d, range %.0f-%.0f)\n",
	       bench_median(small, rounds), rounds, lo, hi);
	printf("append_clickhouse_spans_100k_batches: %.0f spans/s (median of %d, range %.0f-%.0f)\n",
	       bench_median(big, rounds), rounds, blo, bhi);
	free(small);
	free(big);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "--grow")) {
		size_t n = strtoul(argv[3], NULL, 10), step = strtoul(argv[4], NULL, 10);
		if (!step || step % 10000) {
			fprintf(stderr, "clickhouse_bench: STEP must be a multiple of 10000\n");
			return 2;
		}
		double t = fill_steps(argv[2], n, 10000, step);
		if (t < 0)
			return 1;
		printf("append_clickhouse_spans_grow_%zu: %.0f spans/s\n", n, (double)n / t);
		return 0;
	}
	const char *ch = argc > 1 ? argv[1] : getenv("SONDE_CH_URI");
	size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	if (!ch || !ch[0]) {
		printf("clickhouse_bench: no ClickHouse URI given (run bench/clickhouse_bench.sh)\n");
		return 0;
	}
	int rounds = argc > 3 ? atoi(argv[3]) : 0;
	if (rounds > 0)
		return append_rounds(ch, n, rounds);
	char dir[] = "/tmp/sonde-ch-bench-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char db[128];
	snprintf(db, sizeof db, "%s/bench.db", dir);
	/* The same spans in appends ten times larger, into a second database. */
	char ch_big[512];
	snprintf(ch_big, sizeof ch_big, "%s_big", ch);
	double sq_s = fill(db, n, 10000), ch_s = sq_s < 0 ? -1 : fill(ch, n, 10000);
	double ch_big_s = ch_s < 0 ? -1 : fill(ch_big, n, 100000);
	if (sq_s < 0 || ch_s < 0 || ch_big_s < 0)
		return 1;
	double sq_l = latency(db), ch_l = sq_l < 0 ? -1 : latency(ch);
	if (sq_l < 0 || ch_l < 0)
		return 1;
	printf("append_sqlite_spans: %.0f spans/s\n", (double)n / sq_s);
	printf("append_clickhouse_spans: %.0f spans/s\n", (double)n / ch_s);
	printf("append_clickhouse_spans_100k_batches: %.0f spans/s\n", (double)n / ch_big_s);
	printf("latency_sqlite_%zu_spans: %.3f s\n", n, sq_l);
	printf("latency_clickhouse_%zu_spans: %.3f s\n", n, ch_l);
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
