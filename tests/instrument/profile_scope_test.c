/*
 * profile_scope_test.c - scoped profiling (include/sonde/profile.h): self and
 * cumulative times of known nesting (busy loops the test times itself; ordering
 * and generous ratios, never tight timing), recursion counted as cProfile
 * counts it, the latency buckets' relative error, many threads (run it under
 * TSan too), 1-in-N sampling, the cProfile-like and JSON reports, the metrics
 * export, and fork.
 *
 * Sites live for the process, so every test uses scope names of its own.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "profile_internal.h"
#include "sonde/metrics.h"
#include "sonde/profile.h"

/* ---- Helpers -------------------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Burns at least ns of wall time. */
static void spin_ns(uint64_t ns)
{
	uint64_t t0 = mono_ns();
	while (mono_ns() - t0 < ns)
		;
}

/* The row of the scope named name (the test's names are unique), copied into
 * out. */
static bool find_row(const char *name, sonde_profile_row *out)
{
	sonde_profile_row *rows;
	size_t n;
	assert_int_equal(sonde_profile_snapshot(SONDE_PROFILE_SORT_NAME, &rows, &n), 0);
	bool found = false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0) {
			*out = rows[i];
			found = true;
		}
	free(rows);
	return found;
}

static sonde_profile_row row_of(const char *name)
{
	sonde_profile_row r;
	if (!find_row(name, &r))
		fail_msg("no row for scope %s", name);
	return r;
}

/* Reads a whole stream written by a report. */
static char *slurp(FILE *f)
{
	long n = ftell(f);
	rewind(f);
	char *s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	return s;
}

/* ---- Nesting -------------------------------------------------------------------------- */

enum { CHILD_NS = 200000, PARENT_NS = 3 * CHILD_NS, NEST_CALLS = 20 };

/* What the test measured itself (CLOCK_MONOTONIC, ns), summed over the calls: the child's
 * busy loop (inside its scope), the span from before the child's call to after its return
 * (around its scope), and the parent's own busy loops (inside its scope, outside the
 * child's). */
static uint64_t in_child_ns, around_child_ns, parent_own_ns;

static void nest_child(void)
{
	SONDE_PROFILE_SCOPE("nest.child");
	uint64_t t = mono_ns();
	spin_ns(CHILD_NS);
	in_child_ns += mono_ns() - t;
}

static void nest_parent(void)
{
	SONDE_PROFILE_SCOPE("nest.parent");
	uint64_t ta = mono_ns();
	spin_ns(PARENT_NS / 2);
	uint64_t tb = mono_ns();
	nest_child();
	uint64_t tc = mono_ns();
	spin_ns(PARENT_NS / 2);
	uint64_t td = mono_ns();
	around_child_ns += tc - tb;
	parent_own_ns += (tb - ta) + (td - tc);
}

static void test_nesting_self_and_cumulative(void **state)
{
	(void)state;
	uint64_t t0 = mono_ns();
	for (int i = 0; i < NEST_CALLS; i++)
		nest_parent();
	double wall_s = (double)(mono_ns() - t0) * 1e-9;

	sonde_profile_row p = row_of("nest.parent"), c = row_of("nest.child");
	assert_int_equal(p.calls, NEST_CALLS);
	assert_int_equal(p.primitive_calls, NEST_CALLS);
	assert_int_equal(c.calls, NEST_CALLS);
	assert_int_equal(c.primitive_calls, NEST_CALLS);
	assert_true(p.line > c.line);
	assert_non_null(strstr(p.file, "profile_scope_test.c"));

	/* Self time is the parent's inclusive time minus its measured child's: the same
	 * ticks. A child has no nested scopes: its self time equals its inclusive time. */
	assert_true(fabs(p.tottime_s + c.cumtime_s - p.cumtime_s) <= 1e-9 * p.cumtime_s + 1e-12);
	assert_true(fabs(c.tottime_s - c.cumtime_s) <= 1e-12 + 1e-9 * c.cumtime_s);
	/* Bracketed by what the test timed itself, whatever the scheduler did (5% for the
	 * TSC calibration, 5 us per call for the clock reads). */
	double slack = 5e-6 * NEST_CALLS;
	assert_true(c.cumtime_s >= 0.95 * (double)in_child_ns * 1e-9);
	assert_true(c.cumtime_s <= 1.05 * (double)around_child_ns * 1e-9 + slack);
	assert_true(p.tottime_s >= 0.95 * (double)parent_own_ns * 1e-9);
	assert_true(p.cumtime_s <= 1.05 * wall_s + slack);
	/* The busy loops last at least what they were asked. */
	assert_true(c.cumtime_s >= 0.9 * NEST_CALLS * CHILD_NS * 1e-9);
	assert_true(p.tottime_s >= 0.9 * NEST_CALLS * PARENT_NS * 1e-9);
	assert_true(p.cumtime_s > p.tottime_s && p.cumtime_s > c.cumtime_s);
	/* Per call and quantiles. Each parent entry outlasts its child's by 3Y. */
	assert_true(fabs(p.percall_cum_s - p.cumtime_s / NEST_CALLS) < 1e-12);
	assert_true(fabs(c.percall_tot_s - c.tottime_s / NEST_CALLS) < 1e-12);
	assert_true(c.p50_s >= 0.9 * CHILD_NS * 1e-9);
	assert_true(c.p50_s <= c.p95_s && c.p95_s <= c.p99_s);
	assert_true(p.p50_s > c.p50_s && p.p99_s > c.p99_s);
	assert_int_equal(p.sample_every, 1);
}

/* ---- Recursion ------------------------------------------------------------------------ */

enum { REC_DEPTH = 5, REC_TIMES = 7 };

static void rec(int depth)
{
	SONDE_PROFILE_SCOPE("rec.fn");
	spin_ns(20000);
	if (depth > 1)
		rec(depth - 1);
}

static void test_recursion_counts_outermost_only(void **state)
{
	(void)state;
	for (int i = 0; i < REC_TIMES; i++)
		rec(REC_DEPTH);
	sonde_profile_row r = row_of("rec.fn");
	assert_int_equal(r.calls, REC_DEPTH * REC_TIMES);
	assert_int_equal(r.primitive_calls, REC_TIMES);
	/* cumtime counts the outermost entries only: it equals the sum of the self
	 * times of all the levels, not the sum of every level's inclusive time (about
	 * 3x as much). */
	assert_true(fabs(r.cumtime_s - r.tottime_s) <= 1e-9 * r.cumtime_s + 1e-12);
	assert_true(r.cumtime_s >= 0.9 * REC_DEPTH * REC_TIMES * 20000e-9);
	assert_true(fabs(r.percall_cum_s - r.cumtime_s / REC_TIMES) < 1e-12);
	/* The histogram has every entry: the innermost levels are short, the
	 * outermost long. */
	assert_true(r.p50_s <= r.p99_s);
	assert_true(r.p99_s >= 0.9 * REC_DEPTH * 20000e-9);

	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(sonde_profile_report(f, SONDE_PROFILE_SORT_CUMTIME), 0);
	char *text = slurp(f);
	fclose(f);
	char want[32];
	snprintf(want, sizeof(want), "%d/%d", REC_DEPTH * REC_TIMES, REC_TIMES);
	const char *line = strstr(text, "rec.fn (");
	assert_non_null(line);
	const char *bol = line;
	while (bol > text && bol[-1] != '\n')
		bol--;
	assert_true(strstr(bol, want) && strstr(bol, want) < line);
	free(text);
}

/* ---- Histogram accuracy --------------------------------------------------------------- */

static void test_bucket_relative_error(void **state)
{
	(void)state;
	for (uint64_t v = 0; v < 32; v++)
		assert_true(sonde__profile_bucket_value(v) == (double)v);
	double worst = 0;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t v = (x >> (x & 31)) & ((1ULL << 48) - 1);
		if (v < 32)
			continue;
		double rel = fabs(sonde__profile_bucket_value(v) - (double)v) / (double)v;
		if (rel > worst)
			worst = rel;
	}
	/* Every octave boundary and its neighbours. */
	for (int e = 5; e < 48; e++)
		for (int d = -1; d <= 1; d++) {
			uint64_t v = (1ULL << e) + (uint64_t)(int64_t)d;
			double rel = fabs(sonde__profile_bucket_value(v) - (double)v) / (double)v;
			if (rel > worst)
				worst = rel;
		}
	assert_true(worst <= 1.0 / 64);
	assert_true(worst > 0.005); /* the buckets are not exact: the check above can fail */
}

/* ---- Threads -------------------------------------------------------------------------- */

enum { THREADS = 6, PER_THREAD = 20000 };

static pthread_barrier_t bar;

static void thr_inner(void)
{
	SONDE_PROFILE_SCOPE("thr.inner");
}

static void *thr_main(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++) {
		SONDE_PROFILE_SCOPE("thr.outer");
		thr_inner();
		thr_inner();
	}
	pthread_barrier_wait(&bar); /* counted, still alive */
	pthread_barrier_wait(&bar); /* snapshot taken */
	return NULL;
}

static void *snapshotter(void *arg)
{
	volatile int *stop = arg;
	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		sonde_profile_row *rows;
		size_t n;
		assert_int_equal(sonde_profile_snapshot(SONDE_PROFILE_SORT_CALLS, &rows, &n), 0);
		free(rows);
		char *text;
		size_t len;
		if (sonde_metrics_prometheus_text(false, &text, &len) == 0)
			free(text);
	}
	return NULL;
}

static void test_many_threads(void **state)
{
	(void)state;
	pthread_t th[THREADS], snap;
	int stop = 0;
	pthread_barrier_init(&bar, NULL, THREADS + 1);
	assert_int_equal(pthread_create(&snap, NULL, snapshotter, &stop), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, NULL), 0);
	pthread_barrier_wait(&bar);
	sonde_profile_row o = row_of("thr.outer"), in = row_of("thr.inner");
	assert_int_equal(o.calls, THREADS * PER_THREAD);
	assert_int_equal(in.calls, 2 * THREADS * PER_THREAD);
	assert_int_equal(in.primitive_calls, 2 * THREADS * PER_THREAD);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(snap, NULL);
	pthread_barrier_destroy(&bar);

	/* The threads are gone: their cells were folded into the sites. */
	sonde_profile_row o2 = row_of("thr.outer"), in2 = row_of("thr.inner");
	assert_int_equal(o2.calls, THREADS * PER_THREAD);
	assert_int_equal(in2.calls, 2 * THREADS * PER_THREAD);
	assert_true(o2.cumtime_s == o.cumtime_s && in2.tottime_s == in.tottime_s);
	assert_true(fabs(o2.tottime_s + in2.cumtime_s - o2.cumtime_s) <= 1e-9 * o2.cumtime_s + 1e-12);
}

/* ---- Sampling ------------------------------------------------------------------------- */

enum { SAMPLE_N = 10, SAMPLE_ROOTS = 1000 };

static void samp_child(void)
{
	SONDE_PROFILE_SCOPE("samp.child");
}

static void *samp_thread(void *arg)
{
	const char *which = arg;
	for (int i = 0; i < SAMPLE_ROOTS; i++) {
		if (which[0] == 'a') {
			SONDE_PROFILE_SCOPE("samp.root");
			samp_child();
			samp_child();
		} else {
			SONDE_PROFILE_SCOPE("samp.env");
		}
	}
	return NULL;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, fn, arg), 0);
	pthread_join(t, NULL);
}

static char diag_msg[512];
static void capture_diag(void *ud, const char *msg)
{
	(void)ud;
	snprintf(diag_msg, sizeof(diag_msg), "%s", msg);
}

static void test_sampling_one_in_n(void **state)
{
	(void)state;
	assert_int_equal(sonde_profile_configure(&(sonde_profile_config){.sample_every = SAMPLE_N}), 0);
	run_thread(samp_thread, "a");
	sonde_profile_row r = row_of("samp.root"), c = row_of("samp.child");
	/* One outermost entry in N is measured, with everything nested in it. */
	assert_int_equal(r.calls, SAMPLE_ROOTS / SAMPLE_N);
	assert_int_equal(c.calls, 2 * SAMPLE_ROOTS / SAMPLE_N);
	assert_int_equal(r.sample_every, SAMPLE_N);
	assert_true(fabs(r.tottime_s + c.cumtime_s - r.cumtime_s) <= 1e-9 * r.cumtime_s + 1e-12);

	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(sonde_profile_report(f, SONDE_PROFILE_SORT_CALLS), 0);
	char *text = slurp(f);
	fclose(f);
	assert_non_null(strstr(text, "sampled: 1 in 10"));
	free(text);

	/* From the environment. */
	setenv("SONDE_PROFILE_SAMPLE", "4", 1);
	assert_int_equal(sonde_profile_configure(NULL), 0);
	run_thread(samp_thread, "b");
	assert_int_equal(row_of("samp.env").calls, SAMPLE_ROOTS / 4);

	/* A bad value is reported and ignored (everything measured). */
	sonde_set_diagnostics(capture_diag, NULL);
	setenv("SONDE_PROFILE_SAMPLE", "ten", 1);
	assert_int_equal(sonde_profile_configure(NULL), 0);
	sonde_set_diagnostics(NULL, NULL);
	assert_non_null(strstr(diag_msg, "SONDE_PROFILE_SAMPLE=ten"));
	unsetenv("SONDE_PROFILE_SAMPLE");
	run_thread(samp_thread, "b");
	assert_int_equal(row_of("samp.env").calls, SAMPLE_ROOTS / 4 + SAMPLE_ROOTS);
	assert_int_equal(sonde_profile_configure(&(sonde_profile_config){.sample_every = 1}), 0);
}

/* ---- Reports -------------------------------------------------------------------------- */

static void rep_few(void)
{
	SONDE_PROFILE_SCOPE("rep.few \"quoted\"");
	spin_ns(300000);
}

static void rep_many(void)
{
	SONDE_PROFILE_SCOPE("rep.many");
}

static void test_reports_sorted(void **state)
{
	(void)state;
	rep_few();
	for (int i = 0; i < 500; i++)
		rep_many();
	sonde_profile_row *rows;
	size_t n;
	assert_int_equal(sonde_profile_snapshot(SONDE_PROFILE_SORT_CALLS, &rows, &n), 0);
	assert_true(n >= 2);
	for (size_t i = 1; i < n; i++)
		assert_true(rows[i - 1].calls >= rows[i].calls);
	free(rows);
	assert_int_equal(sonde_profile_snapshot(SONDE_PROFILE_SORT_PERCALL_CUM, &rows, &n), 0);
	for (size_t i = 1; i < n; i++)
		assert_true(rows[i - 1].percall_cum_s >= rows[i].percall_cum_s);
	free(rows);

	FILE *f = tmpfile();
	assert_non_null(f);
	assert_int_equal(sonde_profile_report(f, SONDE_PROFILE_SORT_CALLS), 0);
	char *text = slurp(f);
	fclose(f);
	assert_non_null(strstr(text, "ncalls"));
	assert_non_null(strstr(text, "tottime"));
	assert_non_null(strstr(text, "cumtime"));
	assert_non_null(strstr(text, "p99"));
	const char *many = strstr(text, "rep.many ("), *few = strstr(text, "rep.few");
	assert_true(many && few && many < few);
	free(text);

	f = tmpfile();
	assert_non_null(f);
	assert_int_equal(sonde_profile_report_json(f, SONDE_PROFILE_SORT_TOTTIME), 0);
	text = slurp(f);
	fclose(f);
	assert_true(strncmp(text, "{\"sample_every\":1,\"scopes\":[", 28) == 0);
	assert_non_null(strstr(text, "\"name\":\"rep.few \\\"quoted\\\"\""));
	assert_non_null(strstr(text, "\"name\":\"rep.many\",\"file\":"));
	assert_non_null(strstr(text, "\"ncalls\":500,\"primitive_calls\":500,\"tottime\":"));
	free(text);
}

/* ---- Metrics export ------------------------------------------------------------------- */

static void met_scope(void)
{
	SONDE_PROFILE_SCOPE("met.scope");
	spin_ns(1000);
}

static void test_metrics_export(void **state)
{
	(void)state;
	for (int i = 0; i < 37; i++)
		met_scope();
	char *text;
	size_t len;
	assert_int_equal(sonde_metrics_prometheus_text(false, &text, &len), 0);
	const char *calls = strstr(text, "sonde_profile_calls_total{");
	if (!calls)
		fail_msg("no sonde_profile_calls_total in:\n%s", text);
	const char *p = strstr(text, "scope=\"met.scope\"");
	assert_non_null(p);
	/* The calls line of this scope ends with its count. */
	const char *line = strstr(text, "sonde_profile_calls_total{");
	bool seen = false;
	while (line) {
		const char *eol = strchr(line, '\n');
		char buf[512];
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		if (n >= sizeof(buf))
			n = sizeof(buf) - 1;
		memcpy(buf, line, n);
		buf[n] = 0;
		if (strstr(buf, "scope=\"met.scope\"")) {
			assert_non_null(strstr(buf, "code_lineno=\""));
			const char *val = strrchr(buf, ' ');
			assert_non_null(val);
			assert_int_equal(strtol(val + 1, NULL, 10), 37);
			seen = true;
		}
		line = strstr(line + 1, "sonde_profile_calls_total{");
	}
	assert_true(seen);
	assert_non_null(strstr(text, "sonde_profile_self_time_seconds_total{"));
	assert_non_null(strstr(text, "sonde_profile_total_time_seconds_total{"));
	assert_non_null(strstr(text, "sonde_profile_latency_seconds{"));
	assert_non_null(strstr(text, "quantile=\"0.99\""));
	free(text);
}

/* ---- fork ----------------------------------------------------------------------------- */

static void fork_leaf(void)
{
	SONDE_PROFILE_SCOPE("fork.leaf");
}

static void test_fork_child_starts_clean(void **state)
{
	(void)state;
	for (int i = 0; i < 5; i++)
		fork_leaf();
	pid_t pid;
	{
		SONDE_PROFILE_SCOPE("fork.open");
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* Nothing the parent measured; the child's own entries count. */
			sonde_profile_row r;
			int bad = 0;
			if (!find_row("fork.leaf", &r) || r.calls != 0)
				bad |= 1;
			fork_leaf();
			fork_leaf();
			if (!find_row("fork.leaf", &r) || r.calls != 2)
				bad |= 2;
			if (!find_row("fork.open", &r) || r.calls != 0)
				bad |= 4;
			if (bad)
				_exit(bad);
		}
	}
	if (pid == 0) {
		/* The scope open at the fork counts once, as entered at the fork. */
		sonde_profile_row r;
		if (!find_row("fork.open", &r) || r.calls != 1 || r.primitive_calls != 1)
			_exit(8);
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The parent keeps its own counts. */
	assert_int_equal(row_of("fork.leaf").calls, 5);
	assert_int_equal(row_of("fork.open").calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_nesting_self_and_cumulative),
	        cmocka_unit_test(test_recursion_counts_outermost_only),
	        cmocka_unit_test(test_bucket_relative_error),
	        cmocka_unit_test(test_many_threads),
	        cmocka_unit_test(test_sampling_one_in_n),
	        cmocka_unit_test(test_reports_sorted),
	        cmocka_unit_test(test_metrics_export),
	        cmocka_unit_test(test_fork_child_starts_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
