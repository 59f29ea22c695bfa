/*
 * trace_bench.c - what a span costs the application thread, and how fast the background
 * thread turns spans into OTLP protobuf.
 *
 * Spans are produced in bursts that fit a thread's slots (so nothing is dropped and every
 * span measured is really exported), then flushed; only the producing loop is timed.
 * The exporter encodes each batch to OTLP protobuf and discards the bytes, so the figures
 * include the real background work but no network. Each figure is the median of RUNS.
 * Prints "name: value unit" lines.
 *
 * `trace_bench --count CASE` (CASE: disabled, unsampled_root, unsampled_child, ratio_root,
 * attrs2, attrs8) runs COUNT_SPANS spans of one case through count_CASE and times nothing: for
 * counting instructions, which this host's speed swings do not move:
 *   valgrind --tool=callgrind --toggle-collect='count_*' bench/trace_bench --count attrs8
 * then the total Ir / COUNT_SPANS is the cost of one span (start, setters, end, and the
 * loop around them) on the application thread.
 *
 * `trace_bench --clock-order` shows what an unordered TSC read gets wrong (span.c): how long
 * a region holding one cache miss (a pointer chase through 128 MB) reads with RDTSC, RDTSCP
 * and LFENCE+RDTSC around it, how long a region of a few adds right after a miss reads,
 * and the median exported duration of a libsonde span around one miss, with the default
 * clock (RDTSC) and with sonde_trace_config.ordered_clock (RDTSCP).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "clock.h"
#include "exporter_internal.h"
#include "otlp_pb.h"
#include "sonde/trace.h"

enum { RUNS = 15, BURST = 1536, BURSTS = 40 };

typedef struct pb_sink {
	sonde_exporter base;
	sonde_buf out;
	size_t spans, bytes;
	double *durations; /* when set: each exported span's duration in ns (--clock-order) */
	size_t durations_count, durations_cap;
} pb_sink;

static int sink_export(sonde_exporter *e, const sonde_batch *b, uint64_t deadline)
{
	pb_sink *s = (pb_sink *)e;
	(void)deadline;
	for (size_t i = 0; s->durations && i < b->spans_count && s->durations_count < s->durations_cap; i++)
		s->durations[s->durations_count++] = (double)(b->spans[i].end_ns - b->spans[i].start_ns);
	sonde_buf_reset(&s->out);
	int rc = sonde_otlp_pb_write(b, SONDE_SIGNAL_TRACES, &s->out);
	s->spans += b->spans_count;
	s->bytes += s->out.len;
	return rc;
}

static void sink_destroy(sonde_exporter *e)
{
	(void)e;
}

static const sonde_exporter_ops sink_ops = {
        .name = "pb-sink", .deliver = sink_export, .destroy = sink_destroy};
static pb_sink sink = {.base = {.ops = &sink_ops}};

static sonde_tracer *tracer;

typedef enum { K_ATTRS2, K_ATTRS8, K_PLAIN } kind;

/* The span every timed burst and every --count attrs case makes (inlined: with k a
 * constant, only that kind's calls remain). */
__attribute__((always_inline)) static inline void one_span(kind k, int i)
{
	sonde_span *s = sonde_span_start(tracer, "GET /api/orders");
	if (k != K_PLAIN) {
		sonde_span_set_int(s, "http.status_code", 200);
		sonde_span_set_str(s, "http.route", "/api/orders");
	}
	if (k == K_ATTRS8) {
		sonde_span_set_str(s, "http.method", "GET");
		sonde_span_set_str(s, "net.peer.name", "db-1");
		sonde_span_set_int(s, "net.peer.port", 5432);
		sonde_span_set_double(s, "load", 0.5);
		sonde_span_set_bool(s, "cache.hit", true);
		sonde_span_set_int(s, "rows", i);
	}
	sonde_span_end(s);
}

/* One burst; returns seconds spent producing. */
static double burst(kind k)
{
	double t0 = bench_now();
	for (int i = 0; i < BURST; i++)
		one_span(k, i);
	return bench_now() - t0;
}

/* ns per span for one run of BURSTS bursts, each flushed before the next. */
static double run(kind k)
{
	double busy = 0;
	for (int b = 0; b < BURSTS; b++) {
		busy += burst(k);
		sonde_trace_force_flush(10000);
	}
	return busy * 1e9 / (BURST * BURSTS);
}

static double measure(kind k)
{
	double v[RUNS];
	run(k); /* warm-up: page in slots, settle the exporter */
	for (int i = 0; i < RUNS; i++)
		v[i] = run(k);
	return bench_median(v, RUNS);
}

/* One thread against two, paired: a team of two threads runs, round by round, a 1-thread
 * run (thread 0 produces, thread 1 waits) and a 2-thread run (both produce), in alternating
 * order; every burst starts on both threads at once (a barrier), and the flush after it
 * runs while both wait, so the threads contend only with each other, never with the
 * exporter thread for this machine's two cores. Each round gives a ratio of the 2-thread
 * per-thread cost to the 1-thread cost measured moments apart, so the host's speed swings
 * (minutes long) cancel out of the ratio. */
enum { PAIR_ROUNDS = 15 };

typedef struct team {
	pthread_barrier_t barrier;
	double one[PAIR_ROUNDS];    /* ns per span, 1 thread */
	double two[2][PAIR_ROUNDS]; /* ns per span of each thread, 2 threads */
} team;

typedef struct member {
	team *tm;
	int id;
} member;

/* One run of BURSTS bursts by `producers` threads of the team; returns this thread's ns
 * per span (0 when it only waited). */
static double team_run(member *m, int producers)
{
	double busy = 0;
	for (int b = 0; b < BURSTS; b++) {
		pthread_barrier_wait(&m->tm->barrier);
		if (m->id < producers)
			busy += burst(K_ATTRS2);
		pthread_barrier_wait(&m->tm->barrier);
		if (m->id == 0)
			sonde_trace_force_flush(10000);
		pthread_barrier_wait(&m->tm->barrier);
	}
	return busy * 1e9 / (BURST * BURSTS);
}

static void *team_worker(void *arg)
{
	member *m = arg;
	team *tm = m->tm;
	for (int r = -1; r < PAIR_ROUNDS; r++) { /* round -1 warms up */
		double one = 0, two = 0;
		if (r & 1) {
			two = team_run(m, 2);
			one = team_run(m, 1);
		} else {
			one = team_run(m, 1);
			two = team_run(m, 2);
		}
		if (r < 0)
			continue;
		if (m->id == 0)
			tm->one[r] = one;
		tm->two[m->id][r] = two;
	}
	return NULL;
}

/* Medians of the 1-thread and the 2-thread per-thread ns per span, and the median and
 * range of the per-round ratios two/one. */
static void measure_pair(double *one, double *two, double *ratio, double *ratio_min, double *ratio_max)
{
	static team tm;
	pthread_t th[2];
	member mb[2];
	pthread_barrier_init(&tm.barrier, NULL, 2);
	for (int i = 0; i < 2; i++) {
		mb[i] = (member){&tm, i};
		pthread_create(&th[i], NULL, team_worker, &mb[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&tm.barrier);
	double a[PAIR_ROUNDS], b[PAIR_ROUNDS], q[PAIR_ROUNDS];
	for (int r = 0; r < PAIR_ROUNDS; r++) {
		a[r] = tm.one[r];
		b[r] = (tm.two[0][r] + tm.two[1][r]) / 2;
		q[r] = b[r] / a[r];
	}
	*ratio = bench_median(q, PAIR_ROUNDS); /* sorts q */
	*ratio_min = q[0];
	*ratio_max = q[PAIR_ROUNDS - 1];
	*one = bench_median(a, PAIR_ROUNDS);
	*two = bench_median(b, PAIR_ROUNDS);
}

/* Tight loops over a cheap path (disabled or unsampled): ns per start+end. */
static double loop_ns(void)
{
	double v[RUNS];
	for (int r = 0; r < RUNS; r++) {
		double t0 = bench_now();
		for (int i = 0; i < 1000000; i++) {
			sonde_span *s = sonde_span_start(tracer, "noop");
			sonde_span_end(s);
		}
		v[r] = (bench_now() - t0) * 1e9 / 1e6;
	}
	return bench_median(v, RUNS);
}

/* ---- --count: one case, untimed, for callgrind ------------------------------------ */

enum { COUNT_BURST = 1000, COUNT_BURSTS = 20, COUNT_SPANS = COUNT_BURST * COUNT_BURSTS };

/* Also the disabled case's loop (no sonde_trace_init: the same calls, tracing off). */
__attribute__((noinline)) static void count_unsampled_root(void)
{
	for (int i = 0; i < COUNT_BURST; i++)
		sonde_span_end(sonde_span_start(tracer, "noop"));
}

__attribute__((noinline)) static void count_attrs2(void)
{
	for (int i = 0; i < COUNT_BURST; i++)
		one_span(K_ATTRS2, i);
}

__attribute__((noinline)) static void count_attrs8(void)
{
	for (int i = 0; i < COUNT_BURST; i++)
		one_span(K_ATTRS8, i);
}

/* Starts tracing with cfg (service "bench", the protobuf sink as its one exporter) and
 * gets the bench's tracer. Returns 0, or 1 after saying why. */
static int start_tracing(sonde_trace_config *cfg)
{
	cfg->service_name = "bench";
	cfg->exporters[0] = &sink.base;
	cfg->exporters_count = 1;
	if (sonde_trace_init(cfg) != 0) {
		fprintf(stderr, "trace_bench: init failed\n");
		return 1;
	}
	tracer = sonde_tracer_get("bench", "1.0", NULL);
	return 0;
}

static int run_count_case(const char *which)
{
	sonde_trace_config cfg = {0};
	void (*loop)(void) = count_unsampled_root;
	bool in_trace = false, disabled = false;
	if (strcmp(which, "disabled") == 0) {
		disabled = true;
	} else if (strcmp(which, "unsampled_root") == 0 || strcmp(which, "unsampled_child") == 0) {
		cfg.sampler = sonde_sampler_parent_based(sonde_sampler_always_off(), NULL, NULL, NULL, NULL);
		in_trace = which[10] == 'c';
	} else if (strcmp(which, "ratio_root") == 0) {
		cfg.sampler = sonde_sampler_trace_id_ratio(0.0); /* every root rejected */
	} else if (strcmp(which, "attrs2") == 0) {
		loop = count_attrs2;
	} else if (strcmp(which, "attrs8") == 0) {
		loop = count_attrs8;
	} else {
		fprintf(stderr,
		        "trace_bench: unknown case '%s' (disabled, unsampled_root, unsampled_child, "
		        "ratio_root, attrs2, attrs8)\n",
		        which);
		return 2;
	}
	if (disabled)
		tracer = sonde_tracer_get("bench", "1.0", NULL);
	else if (start_tracing(&cfg) != 0)
		return 1;
	sonde_span *outer = in_trace ? sonde_span_start(tracer, "unsampled request") : NULL;
	for (int b = 0; b < COUNT_BURSTS; b++) {
		loop();
		sonde_trace_force_flush(10000); /* the slots come back between bursts */
	}
	if (outer)
		sonde_span_end(outer);
	if (!disabled)
		sonde_trace_shutdown(10000);
	sonde_buf_release(&sink.out);
	printf("trace_count_%s: %d spans\n", which, COUNT_SPANS);
	return 0;
}

/* ---- --clock-order: what an unordered TSC read gets wrong ---------------------------- */

enum { CHASE = 16u << 20, REGIONS = 100000 };

static inline uint64_t tsc_plain(void)
{
	return __rdtsc();
}

static inline uint64_t tsc_rdtscp(void)
{
	unsigned aux;
	return __rdtscp(&aux);
}

static inline uint64_t tsc_lfence(void)
{
	_mm_lfence();
	return __rdtsc();
}

/* Mean ticks of REGIONS regions [read; one dependent miss; read] (in) or [one miss; read;
 * a few adds; read] (after), with the reads made by rd. */
#define CLOCK_REGIONS(rd, after, out)                            \
	do {                                                     \
		uint64_t sum = 0, x = 1;                         \
		for (int i = 0; i < REGIONS; i++) {              \
			if (after)                               \
				p = (void **)*p;                 \
			uint64_t t0 = rd();                      \
			if (after)                               \
				x = (x * 3 + 1) ^ (x >> 7);      \
			else                                     \
				p = (void **)*p;                 \
			uint64_t t1 = rd();                      \
			sum += t1 - t0;                          \
			__asm__ volatile("" : "+r"(x), "+r"(p)); \
		}                                                \
		(out) = (double)sum / REGIONS * ns_per_tick;     \
	} while (0)

static int run_clock_order(void)
{
	sonde_clock_init();
	if (!sonde__clock_use_tsc) {
		fprintf(stderr, "trace_bench: no invariant TSC here\n");
		return 1;
	}
	double ns_per_tick = 1e9 / sonde_clock_ticks_per_sec();
	void **ring = malloc((size_t)CHASE * sizeof(void *));
	uint32_t *perm = malloc((size_t)CHASE * sizeof(uint32_t));
	if (!ring || !perm)
		return 1;
	for (uint32_t i = 0; i < CHASE; i++)
		perm[i] = i;
	for (uint32_t i = CHASE - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(bench_rand() % (i + 1)), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (uint32_t i = 0; i < CHASE; i++)
		ring[perm[i]] = &ring[perm[(i + 1) % CHASE]];
	free(perm);
	void **p = &ring[0];
	double in_plain, in_rdtscp, in_lfence, after_plain, after_rdtscp, after_lfence;
	for (int warm = 0; warm < 2; warm++) {
		CLOCK_REGIONS(tsc_plain, 0, in_plain);
		CLOCK_REGIONS(tsc_rdtscp, 0, in_rdtscp);
		CLOCK_REGIONS(tsc_lfence, 0, in_lfence);
		CLOCK_REGIONS(tsc_plain, 1, after_plain);
		CLOCK_REGIONS(tsc_rdtscp, 1, after_rdtscp);
		CLOCK_REGIONS(tsc_lfence, 1, after_lfence);
	}
	printf("trace_clock_miss_in_region: rdtsc %.0f ns, rdtscp %.0f ns, lfence+rdtsc %.0f ns\n", in_plain,
	       in_rdtscp, in_lfence);
	printf("trace_clock_adds_after_miss: rdtsc %.0f ns, rdtscp %.0f ns, lfence+rdtsc %.0f ns\n",
	       after_plain, after_rdtscp, after_lfence);

	/* A libsonde span around one miss, as exported: with the default clock, then with
	 * ordered_clock. */
	static double durations[REGIONS];
	for (int ordered = 0; ordered < 2; ordered++) {
		sink.durations = durations;
		sink.durations_cap = REGIONS;
		sink.durations_count = 0;
		sonde_trace_config cfg = {.ordered_clock = ordered};
		if (start_tracing(&cfg) != 0)
			return 1;
		for (int i = 0; i < REGIONS; i++) {
			sonde_span *s = sonde_span_start(tracer, "miss");
			p = (void **)*p;
			__asm__ volatile("" : "+r"(p));
			sonde_span_end(s);
			if (i % 1000 == 999)
				sonde_trace_force_flush(10000);
		}
		sonde_trace_shutdown(10000);
		size_t n = sink.durations_count;
		printf("trace_span_around_miss%s: %.0f ns (median of %zu spans)\n",
		       ordered ? "_ordered_clock" : "", n ? bench_median(durations, (int)n) : 0, n);
	}
	sonde_buf_release(&sink.out);
	free(ring);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--count") == 0)
		return run_count_case(argv[2]);
	if (argc == 2 && strcmp(argv[1], "--clock-order") == 0)
		return run_clock_order();
	if (argc != 1) {
		fprintf(stderr, "usage: trace_bench [--count CASE | --clock-order]\n");
		return 2;
	}
	tracer = sonde_tracer_get("bench", "1.0", NULL);
	printf("trace_disabled_start_end: %.2f ns/op\n", loop_ns());

	sonde_trace_config cfg = {0};
	if (start_tracing(&cfg) != 0)
		return 1;
	printf("trace_span_2attrs: %.1f ns/op\n", measure(K_ATTRS2));
	printf("trace_span_8attrs: %.1f ns/op\n", measure(K_ATTRS8));
	printf("trace_span_no_attrs: %.1f ns/op\n", measure(K_PLAIN));

	double one, two, ratio, rmin, rmax;
	measure_pair(&one, &two, &ratio, &rmin, &rmax);
	printf("trace_span_2attrs_1thread: %.1f ns/op\n", one);
	printf("trace_span_2attrs_2threads: %.1f ns/op per thread\n", two);
	printf("trace_span_2threads_vs_1: %+.1f %% per thread (median of %d paired rounds; range %+.1f .. "
	       "%+.1f)\n",
	       (ratio - 1) * 100, PAIR_ROUNDS, (rmin - 1) * 100, (rmax - 1) * 100);

	/* Exporter throughput: spans through decode + OTLP protobuf encode per second of
	 * wall time spent waiting for flushes after each burst. */
	sonde_tracer_stats st0, st1;
	sonde_tracer_stats_get(&st0);
	double wait = 0;
	size_t spans0 = sink.spans, bytes0 = sink.bytes;
	for (int r = 0; r < 20; r++) {
		burst(K_ATTRS2);
		double t0 = bench_now();
		sonde_trace_force_flush(10000);
		wait += bench_now() - t0;
	}
	sonde_tracer_stats_get(&st1);
	size_t spans = sink.spans - spans0;
	printf("trace_exporter_pb: %.0f spans/s (%.1f MB/s of OTLP protobuf; flush wait %.3f s for %zu "
	       "spans)\n",
	       (double)spans / wait, (double)(sink.bytes - bytes0) / wait / 1e6, wait, spans);
	printf("trace_dropped: %llu\n", (unsigned long long)(st1.spans_dropped - st0.spans_dropped));
	sonde_trace_shutdown(10000);

	/* Unsampled: the sampler says no; the span still carries a context. Roots (a new
	 * trace the sampler drops) and children inside an unsampled trace (what most
	 * unsampled spans are: ParentBased samplers decide once per trace). */
	sonde_trace_config off = cfg;
	off.sampler = sonde_sampler_parent_based(sonde_sampler_always_off(), NULL, NULL, NULL, NULL);
	sonde_trace_init(&off);
	tracer = sonde_tracer_get("bench", "1.0", NULL);
	printf("trace_unsampled_root_start_end: %.2f ns/op\n", loop_ns());
	sonde_span *outer = sonde_span_start(tracer, "unsampled request");
	printf("trace_unsampled_child_start_end: %.2f ns/op\n", loop_ns());
	sonde_span_end(outer);
	sonde_trace_shutdown(10000);
	sonde_buf_release(&sink.out);
	return 0;
}
