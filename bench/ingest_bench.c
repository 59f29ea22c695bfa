/*
 * ingest_bench.c - files into the SQLite store through the ingest engine, end to end:
 * an OTLP JSON file of spans (instrumentation-like: 8-10 attributes and an event each)
 * and a JSON-lines log file, each written to a temporary directory first, then ingested
 * into a fresh store. Prints `name: value unit` lines; the decode and append shares of
 * the span figure are measured apart. The `_cpu` figures divide by the CPU time of the
 * process (every thread, user and system) instead of elapsed time: on a loaded machine
 * they move far less from run to run, so they are the ones to compare A/B. The span file
 * is ingested pipelined (its spans stored while the document is read: the default) and
 * sequentially (read whole, then stored). The pipelined span ingest, the headline figure,
 * runs SPAN_ROUNDS times into a fresh store each time and prints the median (its runs on
 * the `_runs` line): on a shared machine one run can land in a slow minute. Logs are ingested pipelined (reading on one thread,
 * storing on another: the default) and sequentially, and with log templates assigned at
 * ingest as `sonde ingest` does (ingest_templates.h), and without.
 *
 * usage: ingest_bench [SPANS [LOG_LINES [BATCH]]]   (default 200000, 1000000 and the
 * ingest engine's default batch size). With INGEST_BENCH_KEEP set in the environment the
 * temporary directory (spans.json, app.jsonl: the untraced logs) is kept and named on
 * stderr, for profiling `sonde ingest` on the same files.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "formats.h"
#include "ingest.h"
#include "ingest_templates.h"
#include "otlp_json.h"
#include "store.h"

/* n spans in traces of 8, over two services, as an instrumented HTTP service emits. */
static sonde_batch *make_spans(size_t n)
{
	static const char *const names[] = {
	        "GET /api/v1/users/{id}", "POST /api/v1/orders", "SELECT orders", "redis GET", "GET /health",
	        "kafka.produce orders"};
	static const char *const svc[] = {"checkout", "inventory"};
	sonde_batch *b = sonde_batch_new();
	sonde_resource *res[2];
	sonde_scope *sc = sonde_batch_new_scope(b);
	sc->name = bench_str(b, "io.opentelemetry.http");
	for (int r = 0; r < 2; r++) {
		res[r] = sonde_batch_new_resource(b);
		res[r]->attrs.items = sonde_batch_alloc(b, 3 * sizeof(sonde_kv));
		res[r]->attrs.count = 3;
		bench_kv_str(b, &res[r]->attrs.items[0], "service.name", svc[r]);
		bench_kv_str(b, &res[r]->attrs.items[1], "host.name", r ? "api-2.prod" : "api-1.prod");
		bench_kv_int(b, &res[r]->attrs.items[2], "process.pid", 4242 + r);
	}
	uint8_t trace[16], parent[8];
	uint64_t t0 = 1700000000000000000ull;
	for (size_t i = 0; i < n; i++) {
		sonde_span_data *s = sonde_batch_add_span(b, res[i * 2 / n], sc);
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
		s->kind = (sonde_span_kind)(1 + i % 3);
		s->start_ns = t0 + i * 1000;
		s->end_ns = s->start_ns + 1000 + bench_rand() % 5000000;
		uint32_t na = 8 + (uint32_t)(i % 3);
		sonde_kv *kv = sonde_batch_alloc(b, na * sizeof(sonde_kv));
		char url[96];
		snprintf(url, sizeof url, "https://api.example.com/api/v1/users/%llu?page=%u",
		         (unsigned long long)(bench_rand() % 1000000), (unsigned)(i % 50));
		bench_kv_str(b, &kv[0], "http.request.method", i % 2 ? "GET" : "POST");
		bench_kv_str(b, &kv[1], "url.full", url);
		bench_kv_int(b, &kv[2], "http.response.status_code", i % 17 ? 200 : 503);
		bench_kv_str(b, &kv[3], "server.address", "api-1.prod.internal");
		bench_kv_int(b, &kv[4], "server.port", 8080);
		bench_kv_int(b, &kv[5], "http.request.body.size", (int64_t)(bench_rand() % 100000));
		bench_kv_str(b, &kv[6], "network.protocol.version", "1.1");
		bench_kv_str(b, &kv[7], "user_agent.original",
		             "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0");
		for (uint32_t k = 8; k < na; k++)
			bench_kv_int(b, &kv[k], k == 8 ? "db.rows_returned" : "retry.count",
			             (int64_t)(bench_rand() % 1000));
		s->attrs.items = kv;
		s->attrs.count = na;
		s->events = sonde_batch_alloc(b, sizeof(sonde_span_event));
		s->events_count = 1;
		s->events[0].time_ns = s->start_ns + 500;
		s->events[0].name = bench_str(b, "cache.lookup");
		if (i % 17 == 0) {
			s->status_code = SONDE_STATUS_ERROR;
			s->status_message = bench_str(b, "upstream unavailable");
		}
	}
	return b;
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len) {
		if (f)
			fclose(f);
		return -1;
	}
	return fclose(f);
}

enum { PIPELINED = 0, SEQUENTIAL = 1, TEMPLATES = 2 };

static size_t batch_records; /* 0: the ingest engine's default */

/* CPU seconds used so far by the process, all threads, user and system. */
static double cpu_now(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

enum { SPAN_ROUNDS = 3 };

/* The median of SPAN_ROUNDS (3) values. */
static double median3(const double v[SPAN_ROUNDS])
{
	double a = v[0], b = v[1], c = v[2];
	if (a > b) {
		double t = a;
		a = b;
		b = t;
	}
	return c < a ? a : c > b ? b : c;
}

/* Ingests path into a fresh store at db (how: PIPELINED or SEQUENTIAL, plus TEMPLATES);
 * returns seconds, or -1, and the CPU seconds it took in *cpu. */
static double ingest(const char *db, const char *path, sonde_ingest_stats *st, int how, double *cpu)
{
	unlink(db);
	char wal[600];
	snprintf(wal, sizeof wal, "%s-wal", db);
	unlink(wal);
	sonde_store *s;
	char msg[512];
	if (sonde_store_open(db, 0, &s, msg, sizeof msg) < 0) {
		fprintf(stderr, "ingest_bench: %s\n", msg);
		return -1;
	}
	sonde_ingest_opts o = {.default_time_ns = 1700000000000000000ull,
	                       .service = "",
	                       .sequential = how & SEQUENTIAL,
	                       .batch_records = batch_records};
	double t = bench_now(), c = cpu_now();
	sonde_ingest_templates *tpl = NULL;
	int rc = 0;
	if (how & TEMPLATES) {
		rc = sonde_ingest_templates_new(s, &tpl, msg, sizeof msg);
		o.on_logs = sonde_ingest_templates_hook;
		o.logs_ctx = tpl;
	}
	if (rc == 0)
		rc = sonde_ingest_file(s, path, &o, st, NULL, msg, sizeof msg);
	sonde_ingest_templates_free(tpl);
	sonde_store_close(s); /* the final checkpoint is part of the cost */
	t = bench_now() - t;
	*cpu = cpu_now() - c;
	if (rc < 0) {
		fprintf(stderr, "ingest_bench: %s\n", msg);
		return -1;
	}
	return t;
}

int main(int argc, char **argv)
{
	size_t nspans = argc > 1 ? strtoul(argv[1], NULL, 10) : 200000;
	size_t nlogs = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000000;
	batch_records = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
	char dir[] = "/tmp/sonde-ingest-bench-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char json[128], logs[128], db[128];
	snprintf(json, sizeof json, "%s/spans.json", dir);
	snprintf(logs, sizeof logs, "%s/app.jsonl", dir);
	snprintf(db, sizeof db, "%s/bench.db", dir);

	/* Spans: OTLP JSON, one request. */
	sonde_batch *b = make_spans(nspans);
	sonde_buf out = SONDE_BUF_INIT;
	if (sonde_otlp_json_write(b, SONDE_SIGNAL_TRACES, &out, 0) != 0 ||
	    write_file(json, out.data, out.len) != 0)
		return 1;
	size_t json_bytes = out.len;
	/* The decode share alone: the same file read into a batch. */
	sonde_batch *d = sonde_batch_new();
	double t = bench_now(), c = cpu_now();
	if (sonde_otlp_json_read(d, out.data, out.len, NULL) != 0)
		return 1;
	double decode_s = bench_now() - t, decode_cpu = cpu_now() - c;
	sonde_buf_release(&out);
	/* The append share alone: the decoded batch into a fresh store. */
	sonde_store *s;
	char msg[512];
	unlink(db);
	if (sonde_store_open(db, 0, &s, msg, sizeof msg) < 0)
		return 1;
	t = bench_now();
	c = cpu_now();
	for (size_t i = 0; i < d->spans_count; i += 10000) {
		sonde_batch view = *d;
		view.spans = d->spans + i;
		view.spans_count = d->spans_count - i < 10000 ? d->spans_count - i : 10000;
		if (sonde_store_append(s, &view, NULL, NULL) != 0) {
			fprintf(stderr, "ingest_bench: %s\n", sonde_store_errmsg(s));
			return 1;
		}
	}
	sonde_store_close(s);
	double append_s = bench_now() - t, append_cpu = cpu_now() - c;
	sonde_batch_free(d);
	sonde_batch_free(b);

	sonde_ingest_stats st;
	double runs_s[SPAN_ROUNDS], runs_cpu[SPAN_ROUNDS];
	for (int r = 0; r < SPAN_ROUNDS; r++) {
		sonde_ingest_stats_init(&st);
		runs_s[r] = ingest(db, json, &st, PIPELINED, &runs_cpu[r]);
		if (runs_s[r] < 0 || st.appended.spans_added != nspans)
			return 1;
		sonde_ingest_stats_release(&st);
	}
	double spans_s = median3(runs_s), spans_cpu = median3(runs_cpu);
	/* The same file read whole, then stored (the ingest without its pipeline). */
	double spans_seq_cpu;
	sonde_ingest_stats_init(&st);
	double spans_seq_s = ingest(db, json, &st, SEQUENTIAL, &spans_seq_cpu);
	if (spans_seq_s < 0 || st.appended.spans_added != nspans)
		return 1;
	sonde_ingest_stats_release(&st);

	/* Logs: JSON lines as a structured logger writes them, with a trace id on each line
	 * (traced requests) and then without. */
	double logs_s[2], logs_seq_s = 0, logs_tpl_s = 0, logs_cpu[2], seq_cpu = 0, tpl_cpu = 0;
	long log_bytes[2];
	for (int traced = 1; traced >= 0; traced--) {
		FILE *f = fopen(logs, "wb");
		if (!f)
			return 1;
		static const char *const levels[] = {"info", "info", "info", "debug", "warn", "error"};
		for (size_t i = 0; i < nlogs; i++) {
			fprintf(f,
			        "{\"ts\":\"2024-03-01T10:%02u:%02u.%06uZ\",\"level\":\"%s\",\"msg\":"
			        "\"request "
			        "served\",\"service\":\"checkout\",",
			        (unsigned)(i / 60000000 % 60), (unsigned)(i / 1000000 % 60),
			        (unsigned)(i % 1000000), levels[i % 6]);
			if (traced)
				fprintf(f, "\"trace_id\":\"%016llx%016llx\",",
				        (unsigned long long)bench_rand(), (unsigned long long)bench_rand());
			fprintf(f, "\"route\":\"/api/v1/orders\",\"status\":%u,\"duration_ms\":%u}\n",
			        i % 23 ? 200u : 500u, (unsigned)(bench_rand() % 900));
		}
		log_bytes[traced] = ftell(f);
		fclose(f);
		sonde_ingest_stats_init(&st);
		logs_s[traced] = ingest(db, logs, &st, PIPELINED, &logs_cpu[traced]);
		if (logs_s[traced] < 0 || st.appended.logs_added != nlogs)
			return 1;
		sonde_ingest_stats_release(&st);
		if (traced)
			continue;
		/* The untraced file again: sequentially, and with templates. */
		sonde_ingest_stats_init(&st);
		logs_seq_s = ingest(db, logs, &st, SEQUENTIAL, &seq_cpu);
		if (logs_seq_s < 0 || st.appended.logs_added != nlogs)
			return 1;
		sonde_ingest_stats_release(&st);
		sonde_ingest_stats_init(&st);
		logs_tpl_s = ingest(db, logs, &st, PIPELINED | TEMPLATES, &tpl_cpu);
		if (logs_tpl_s < 0 || st.appended.logs_added != nlogs)
			return 1;
		sonde_ingest_stats_release(&st);
	}

	printf("ingest_otlp_json_spans: %.0f spans/s\n", (double)nspans / spans_s);
	printf("ingest_otlp_json_spans_runs:");
	for (int r = 0; r < SPAN_ROUNDS; r++)
		printf(" %.0f", (double)nspans / runs_s[r]);
	printf(" spans/s\n");
	printf("ingest_otlp_json_bytes: %.1f MB/s\n", (double)json_bytes / spans_s / 1e6);
	printf("ingest_otlp_json_spans_sequential: %.0f spans/s\n", (double)nspans / spans_seq_s);
	printf("ingest_otlp_json_decode_only: %.0f spans/s\n", (double)nspans / decode_s);
	printf("ingest_otlp_json_append_only: %.0f spans/s\n", (double)nspans / append_s);
	printf("ingest_jsonl_logs_traced: %.0f lines/s\n", (double)nlogs / logs_s[1]);
	printf("ingest_jsonl_logs_traced_bytes: %.1f MB/s\n", (double)log_bytes[1] / logs_s[1] / 1e6);
	printf("ingest_jsonl_logs_untraced: %.0f lines/s\n", (double)nlogs / logs_s[0]);
	printf("ingest_jsonl_logs_untraced_bytes: %.1f MB/s\n", (double)log_bytes[0] / logs_s[0] / 1e6);
	printf("ingest_jsonl_logs_untraced_sequential: %.0f lines/s\n", (double)nlogs / logs_seq_s);
	printf("ingest_jsonl_logs_untraced_templates: %.0f lines/s\n", (double)nlogs / logs_tpl_s);
	printf("ingest_otlp_json_spans_cpu: %.0f spans/cpu-s\n", (double)nspans / spans_cpu);
	printf("ingest_otlp_json_spans_sequential_cpu: %.0f spans/cpu-s\n", (double)nspans / spans_seq_cpu);
	printf("ingest_otlp_json_decode_only_cpu: %.0f spans/cpu-s\n", (double)nspans / decode_cpu);
	printf("ingest_otlp_json_append_only_cpu: %.0f spans/cpu-s\n", (double)nspans / append_cpu);
	printf("ingest_jsonl_logs_traced_cpu: %.0f lines/cpu-s\n", (double)nlogs / logs_cpu[1]);
	printf("ingest_jsonl_logs_untraced_cpu: %.0f lines/cpu-s\n", (double)nlogs / logs_cpu[0]);
	printf("ingest_jsonl_logs_untraced_sequential_cpu: %.0f lines/cpu-s\n", (double)nlogs / seq_cpu);
	printf("ingest_jsonl_logs_untraced_templates_cpu: %.0f lines/cpu-s\n", (double)nlogs / tpl_cpu);
	if (getenv("INGEST_BENCH_KEEP")) {
		unlink(db);
		fprintf(stderr, "ingest_bench: files kept in %s\n", dir);
		return 0;
	}
	char cmd[200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}
