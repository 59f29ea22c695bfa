/*
 * query_bench.c - the investigation verbs at scale: `sonde trace` on a 100,000-span trace,
 * end to end (the command, run as a process) and in-process (fetch, analyse, render), and
 * `sonde latency` over many spans (as the command, and in-process in one pass and in two).
 *
 * The data is generated through the store API into SQLite databases under $TMPDIR (kept
 * between runs, keyed by schema version and size, since generating 10 million spans takes
 * a while; delete /tmp/sonde-query-bench-* to regenerate). Usage:
 *   query_bench [latency-spans]     (default 10000000; 0 skips the latency part)
 * The sonde command is $SONDE_BIN, else ../sonde next to this program. Prints
 * "name: value unit" lines; timed figures are the median of 3 runs.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "investigate.h"
#include "store.h"
#include "telemetry.h"
#include "term_report.h"

enum { RUNS = 3, SERVICES = 20, OPS = 10, TRACE_SPANS = 100000 };

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double uniform(void)
{
	return ((double)(next() >> 11) + 0.5) / 9007199254740992.0;
}

typedef struct gen {
	sonde_batch *b;
	sonde_resource *res[SERVICES];
	sonde_scope *scope;
	sonde_str ops[OPS];
} gen;

static void gen_init(gen *g)
{
	g->b = sonde_batch_new();
	g->scope = sonde_batch_new_scope(g->b);
	g->scope->name = sonde_batch_intern(g->b, "bench", 5);
	for (int i = 0; i < SERVICES; i++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "service-%02d", i);
		g->res[i] = sonde_batch_new_resource(g->b);
		sonde_kv *kv = sonde_batch_alloc(g->b, sizeof(*kv));
		kv->key = sonde_batch_intern(g->b, "service.name", 12);
		kv->value.kind = SONDE_VAL_STRING;
		kv->value.u.str = sonde_batch_intern(g->b, name, (size_t)n);
		g->res[i]->attrs = (sonde_attrs){kv, 1};
	}
	for (int i = 0; i < OPS; i++) {
		char name[32];
		int n = snprintf(name, sizeof(name), "GET /api/v1/op%d", i);
		g->ops[i] = sonde_batch_intern(g->b, name, (size_t)n);
	}
}

static sonde_span_data *gen_span(gen *g, const uint8_t trace[16], uint64_t id, uint64_t parent,
                                 uint64_t start, uint64_t dur)
{
	uint64_t r = next();
	sonde_span_data *s = sonde_batch_add_span(g->b, g->res[r % SERVICES], g->scope);
	memcpy(s->trace_id, trace, 16);
	memcpy(s->span_id, &id, 8);
	if (parent)
		memcpy(s->parent_span_id, &parent, 8);
	s->name = g->ops[(r >> 8) % OPS];
	s->kind = (r >> 16) % 3 == 0 ? SONDE_SPAN_KIND_CLIENT : SONDE_SPAN_KIND_SERVER;
	s->start_ns = start;
	s->end_ns = start + dur;
	s->status_code = (r >> 24) % 100 == 0 ? SONDE_STATUS_ERROR : SONDE_STATUS_UNSET;
	return s;
}

static int append(sonde_store *st, gen *g)
{
	int rc = sonde_store_append(st, g->b, NULL, NULL);
	if (rc < 0)
		fprintf(stderr, "query_bench: append: %s\n", sonde_store_errmsg(st));
	/* Keep resources, scope and names: only the spans go. */
	g->b->spans_count = 0;
	return rc;
}

static const uint8_t big_trace[16] = {0xbe, 0x0c, 0x4b, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
static const uint64_t T0 = 1700000000000000000ull;

/* One trace of TRACE_SPANS spans: a root, 1000 children, each with 99 grandchildren
 * running one after another. */
static int make_big_trace(const char *path)
{
	char msg[256];
	sonde_store *st;
	if (sonde_store_open(path, 0, &st, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "query_bench: %s\n", msg);
		return -1;
	}
	gen g;
	gen_init(&g);
	uint64_t id = 1;
	gen_span(&g, big_trace, id++, 0, T0, 1000000000ull * 100);
	for (int c = 0; c < 999; c++) {
		uint64_t cid = id++, cstart = T0 + (uint64_t)c * 100000000ull;
		gen_span(&g, big_trace, cid, 1, cstart, 100000000ull);
		for (int k = 0; k < 99; k++)
			gen_span(&g, big_trace, id++, cid, cstart + (uint64_t)k * 1000000ull, 900000ull);
	}
	while (id <= TRACE_SPANS)
		gen_span(&g, big_trace, id++, 1, T0, 1000);
	int rc = append(st, &g);
	sonde_batch_free(g.b);
	sonde_store_close(st);
	return rc;
}

/* n spans in traces of 10: a root and nine children. */
static int make_many(const char *path, uint64_t n)
{
	char msg[256];
	sonde_store *st;
	if (sonde_store_open(path, 0, &st, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "query_bench: %s\n", msg);
		return -1;
	}
	gen g;
	gen_init(&g);
	uint8_t trace[16] = {0};
	double t = now();
	for (uint64_t i = 0; i < n; i += 10) {
		uint64_t tn = i / 10 + 1, start = T0 + tn * 1000000ull;
		memcpy(trace, &tn, 8);
		uint64_t root = tn << 8 | 1;
		uint64_t rdur = (uint64_t)exp(log(20e6) +
		                              0.8 * sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform()));
		gen_span(&g, trace, root, 0, start, rdur);
		for (uint64_t k = 1; k < 10 && i + k < n; k++)
			gen_span(&g, trace, tn << 8 | (k + 1), root, start + k, rdur / (1 + next() % 20));
		if (g.b->spans_count >= 50000 && append(st, &g) < 0)
			goto fail;
	}
	if (g.b->spans_count && append(st, &g) < 0)
		goto fail;
	fprintf(stderr, "query_bench: generated %llu spans in %.1f s\n", (unsigned long long)n, now() - t);
	sonde_batch_free(g.b);
	sonde_store_close(st);
	return 0;
fail:
	sonde_batch_free(g.b);
	sonde_store_close(st);
	return -1;
}

static bool exists(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0;
}

static double last_cpu; /* user + system seconds of the last run() */

/* CPU time (user + system) so far, in seconds, of who: RUSAGE_SELF (this process) or
 * RUSAGE_THREAD (the calling thread). */
static double cpu_of(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

/* Runs argv with stdout to /dev/null; returns the wall time or -1. */
static double run(char *const argv[])
{
	fflush(stdout); /* or the child's freopen() writes our buffer a second time */
	double t = now();
	pid_t pid = fork();
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (pid < 0 || wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	last_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return now() - t;
}

int main(int argc, char **argv)
{
	uint64_t many = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char sonde[PATH_MAX], self[PATH_MAX], big[PATH_MAX], many_db[PATH_MAX];
	if (getenv("SONDE_BIN")) {
		snprintf(sonde, sizeof(sonde), "%s", getenv("SONDE_BIN"));
	} else {
		snprintf(self, sizeof(self), "%s", argv[0]);
		snprintf(sonde, sizeof(sonde), "%s/../sonde", dirname(self));
	}
	/* Named by schema version too: a store of an older layout is not reused. */
	int v = sonde_store_schema_version();
	snprintf(big, sizeof(big), "%s/sonde-query-bench-v%d-trace100k.db", tmp, v);
	snprintf(many_db, sizeof(many_db), "%s/sonde-query-bench-v%d-%llu.db", tmp, v,
	         (unsigned long long)many);
	if (!exists(big) && make_big_trace(big) < 0)
		return 1;

	/* In-process: fetch, analyse, render as JSON. */
	double t[RUNS];
	for (int r = 0; r < RUNS; r++) {
		double t0 = now();
		sonde_store *st;
		char msg[256];
		if (sonde_store_open(big, SONDE_STORE_READONLY, &st, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "query_bench: %s\n", msg);
			return 1;
		}
		sonde_trace_report rep;
		int rc = sonde_trace_report_build(st, big_trace, NULL, &rep);
		sonde_buf out = SONDE_BUF_INIT;
		if (rc == 0)
			rc = sonde_render_trace_json(&rep, &out);
		if (rc < 0 || rep.tree->count != TRACE_SPANS) {
			fprintf(stderr, "query_bench: trace report failed (%d)\n", rc);
			return 1;
		}
		sonde_buf_release(&out);
		sonde_trace_report_release(&rep);
		sonde_store_close(st);
		t[r] = now() - t0;
	}
	printf("trace_100k_spans_in_process: %.1f ms\n", median(t, RUNS) * 1e3);

	char id[] = "be0c4b10000000000000000000000001";
	char dbarg[PATH_MAX + 8];
	snprintf(dbarg, sizeof(dbarg), "--db=%s", big);
	char *trace_json[] = {sonde, "trace", id, dbarg, "--json", NULL};
	char *trace_text[] = {sonde, "trace", id, dbarg, "--color=never", NULL};
	char *trace_all[] = {sonde, "trace", id, dbarg, "--rows=0", "--color=never", NULL};
	char *const *cmds[] = {trace_json, trace_text, trace_all};
	const char *names[] = {"trace_100k_spans_cli_json", "trace_100k_spans_cli_text",
	                       "trace_100k_spans_cli_text_all_rows"};
	for (int c = 0; c < 3; c++) {
		for (int r = 0; r < RUNS; r++) {
			if ((t[r] = run(cmds[c])) < 0) {
				fprintf(stderr, "query_bench: %s %s failed\n", sonde, "trace");
				return 1;
			}
		}
		printf("%s: %.1f ms\n", names[c], median(t, RUNS) * 1e3);
	}

	if (many == 0)
		return 0;
	if (!exists(many_db) && make_many(many_db, many) < 0)
		return 1;
	snprintf(dbarg, sizeof(dbarg), "--db=%s", many_db);
	char *latency[] = {sonde, "latency", dbarg, NULL};
	char *latency_op[] = {sonde, "latency", dbarg, "--by=operation", "--no-downstream", NULL};
	double cpu[RUNS];
	for (int r = 0; r < RUNS; r++) {
		if ((t[r] = run(latency)) < 0) {
			fprintf(stderr, "query_bench: %s latency failed\n", sonde);
			return 1;
		}
		cpu[r] = last_cpu;
	}
	printf("latency_%llu_spans_cli: %.2f s\n", (unsigned long long)many, median(t, RUNS));
	/* CPU time (user + system) is the steadier figure on a shared machine. */
	printf("latency_%llu_spans_cli_cpu: %.2f s\n", (unsigned long long)many, median(cpu, RUNS));
	for (int r = 0; r < RUNS; r++)
		if ((t[r] = run(latency_op)) < 0)
			return 1;
	printf("latency_by_operation_%llu_spans_cli: %.2f s\n", (unsigned long long)many, median(t, RUNS));

	/* In-process: what `sonde latency` asks of the store, as two passes (per operation,
	 * then client spans by dependency) and as one: read in this thread, read ahead on a
	 * thread of the store, and read ahead in any order (two halves of the table on two
	 * threads of the store, as `sonde latency` asks). */
	for (int mode = 0; mode < 4; mode++) {
		bool one = mode > 0;
		double pc[RUNS], tc[RUNS];
		for (int r = 0; r < RUNS; r++) {
			double t0 = now(), p0 = cpu_of(RUSAGE_SELF), c0 = cpu_of(RUSAGE_THREAD);
			sonde_store *st;
			char msg[256];
			if (sonde_store_open(many_db, SONDE_STORE_READONLY, &st, msg, sizeof(msg)) < 0) {
				fprintf(stderr, "query_bench: %s\n", msg);
				return 1;
			}
			sonde_query q = {.read_ahead = mode >= 2, .any_order = mode == 3};
			sonde_latency_table main_t, ops, down;
			int rc = one ? sonde_latency_run_all(st, &q, SONDE_LATENCY_BY_SERVICE, NULL, &main_t,
			                                     &ops, &down)
			             : sonde_latency_run(st, &q, SONDE_LATENCY_BY_SERVICE, NULL, &main_t,
			                                 &ops);
			if (!one && rc == 0)
				rc = sonde_latency_downstream(st, &q, &down);
			else if (!one)
				sonde_latency_table_init(&down);
			if (rc < 0 || main_t.count != SERVICES || down.count == 0) {
				fprintf(stderr, "query_bench: latency failed (%d): %s\n", rc,
				        sonde_store_errmsg(st));
				return 1;
			}
			sonde_latency_table_release(&main_t);
			sonde_latency_table_release(&ops);
			sonde_latency_table_release(&down);
			sonde_store_close(st);
			t[r] = now() - t0;
			pc[r] = cpu_of(RUSAGE_SELF) - p0;
			tc[r] = cpu_of(RUSAGE_THREAD) - c0;
		}
		printf("latency_%llu_spans_in_process_%s: %.2f s\n", (unsigned long long)many,
		       (const char *[]){"two_passes", "one_pass", "one_pass_read_ahead",
		                        "one_pass_read_ahead_any_order"}[mode],
		       median(t, RUNS));
		if (mode >= 2) {
			/* The store's reader threads have the rest: on an idle machine the wall
			 * time would be about the largest of the threads' shares. */
			const char *m = mode == 3 ? "_any_order" : "";
			printf("latency_%llu_spans_in_process_one_pass_read_ahead%s_cpu: %.2f s\n",
			       (unsigned long long)many, m, median(pc, RUNS));
			printf("latency_%llu_spans_in_process_one_pass_read_ahead%s_caller_thread_cpu: "
			       "%.2f s\n",
			       (unsigned long long)many, m, median(tc, RUNS));
		}
	}
	return 0;
}
