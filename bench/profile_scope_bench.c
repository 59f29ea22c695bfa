/*
 * profile_scope_bench.c - what SONDE_PROFILE_SCOPE costs the code it measures: an empty
 * scope entered and left (measured), the same nested in a measured parent, an empty loop
 * for reference, and a scope in a sampled-out tree (sample_every = 1000, so nearly every
 * entry is sampled out), plus the cost of a snapshot and, to read the others by, of one
 * clock read (sonde_clock_ticks; a measured scope reads it twice). Each figure is the median of RUNS
 * runs; the scope figures have the empty loop's cost subtracted. Prints "name: value unit"
 * lines.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"
#include "clock.h"
#include "sonde/profile.h"

enum { RUNS = 11, OPS = 2000000 };

typedef void (*loop_fn)(int ops);

/* ns per operation, median of RUNS. */
static double measure(loop_fn fn, int ops)
{
	double r[RUNS];
	fn(ops / 10); /* warm up: the thread's cells allocated */
	for (int i = 0; i < RUNS; i++) {
		double t0 = bench_now();
		fn(ops);
		r[i] = (bench_now() - t0) * 1e9 / ops;
	}
	return bench_median(r, RUNS);
}

static volatile int sink;

static void loop_empty(int ops)
{
	for (int i = 0; i < ops; i++)
		sink = i;
}

static void loop_clock(int ops)
{
	for (int i = 0; i < ops; i++)
		sink = (int)sonde_clock_ticks();
}

static void loop_scope(int ops)
{
	for (int i = 0; i < ops; i++) {
		SONDE_PROFILE_SCOPE("bench.scope");
		sink = i;
	}
}

static void loop_nested(int ops)
{
	SONDE_PROFILE_SCOPE("bench.parent");
	for (int i = 0; i < ops; i++) {
		SONDE_PROFILE_SCOPE("bench.child");
		sink = i;
	}
}

static void loop_sampled(int ops)
{
	for (int i = 0; i < ops; i++) {
		SONDE_PROFILE_SCOPE("bench.sampled");
		sink = i;
	}
}

int main(void)
{
	sonde_clock_init();
	double base = measure(loop_empty, OPS);
	double clock = measure(loop_clock, OPS);
	double scope = measure(loop_scope, OPS);
	double nested = measure(loop_nested, OPS);
	sonde_profile_configure(&(sonde_profile_config){.sample_every = 1000});
	double sampled = measure(loop_sampled, OPS);
	sonde_profile_configure(&(sonde_profile_config){.sample_every = 1});

	double r[RUNS];
	for (int i = 0; i < RUNS; i++) {
		double t0 = bench_now();
		sonde_profile_row *rows;
		size_t n;
		if (sonde_profile_snapshot(SONDE_PROFILE_SORT_CUMTIME, &rows, &n) == 0)
			free(rows);
		r[i] = (bench_now() - t0) * 1e6;
	}
	printf("profile_empty_loop: %.2f ns\n", base);
	printf("profile_clock_read: %.2f ns\n", clock - base);
	printf("profile_scope_enter_leave: %.2f ns\n", scope - base);
	printf("profile_scope_nested_enter_leave: %.2f ns\n", nested - base);
	printf("profile_scope_sampled_out: %.2f ns\n", sampled - base);
	printf("profile_snapshot_5_sites: %.1f us\n", bench_median(r, RUNS));
	return 0;
}
