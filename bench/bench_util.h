/*
 * bench_util.h - what the benchmark programs share: a monotonic clock in seconds, the
 * median of repeated runs (the figure the benches print, robust to a noisy machine), a
 * seeded xorshift generator (the same data every run), and helpers that build records of
 * the telemetry model.
 */
#ifndef SONDE_BENCH_UTIL_H
#define SONDE_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "telemetry.h"

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of v[0, n) (v is sorted in place). */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return v[n / 2];
}

/* The generator's state (one per program); assign to it to reseed. */
static inline uint64_t *bench_rng(void)
{
	static uint64_t state = 0x9e3779b97f4a7c15ULL;
	return &state;
}

/* xorshift64. */
static inline uint64_t bench_rand(void)
{
	uint64_t *r = bench_rng();
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

static inline sonde_str bench_str(sonde_batch *b, const char *s)
{
	return sonde_batch_intern(b, s, strlen(s));
}

static inline void bench_kv_str(sonde_batch *b, sonde_kv *kv, const char *k, const char *v)
{
	kv->key = bench_str(b, k);
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = sonde_batch_strdup(b, v, strlen(v));
}

static inline void bench_kv_int(sonde_batch *b, sonde_kv *kv, const char *k, int64_t v)
{
	kv->key = bench_str(b, k);
	kv->value.kind = SONDE_VAL_INT;
	kv->value.u.i = v;
}

#endif
