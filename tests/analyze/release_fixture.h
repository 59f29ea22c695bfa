/*
 * release_fixture.h - test fixtures shared by compare_test.c and canary_test.c: an
 * in-memory store filled with server spans of one service at a given service.version, with
 * lognormal latencies and a share of errors, from a seeded generator (so every run builds
 * the same store). Include after cmocka.h, store.h and telemetry.h.
 */
#ifndef SONDE_TEST_RELEASE_FIXTURE_H
#define SONDE_TEST_RELEASE_FIXTURE_H

#include <math.h>
#include <string.h>

static uint64_t rng = 0x2545f4914f6cdd1dull;

static inline double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

/* A lognormal duration around median_ms with spread sigma. */
static inline uint64_t duration(double median_ms, double sigma)
{
	double z = sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform());
	return (uint64_t)(median_ms * 1e6 * exp(sigma * z));
}

static inline const sonde_resource *resource(sonde_batch *b, const char *svc, const char *ver)
{
	sonde_resource *r = sonde_batch_new_resource(b);
	r->attrs.items = sonde_batch_alloc(b, 2 * sizeof(sonde_kv));
	r->attrs.count = 2;
	r->attrs.items[0].key = sonde_batch_intern(b, "service.name", 12);
	r->attrs.items[0].value.kind = SONDE_VAL_STRING;
	r->attrs.items[0].value.u.str = sonde_batch_intern(b, svc, strlen(svc));
	r->attrs.items[1].key = sonde_batch_intern(b, "service.version", 15);
	r->attrs.items[1].value.kind = SONDE_VAL_STRING;
	r->attrs.items[1].value.u.str = sonde_batch_intern(b, ver, strlen(ver));
	return r;
}

static uint64_t next_id = 1;

/* Appends n spans of op to the store: version ver, median latency, error share. */
static inline void add_spans(sonde_store *st, const char *ver, const char *op, size_t n, double median_ms,
                             double sigma, double err_share)
{
	sonde_batch *b = sonde_batch_new();
	const sonde_resource *res = resource(b, "shop", ver);
	const sonde_scope *sc = sonde_batch_new_scope(b);
	uint64_t t0 = 1700000000000000000ull + (ver[0] == '2' ? 3600000000000ull : 0);
	for (size_t i = 0; i < n; i++) {
		sonde_span_data *sp = sonde_batch_add_span(b, res, sc);
		uint64_t id = next_id++;
		memcpy(sp->trace_id, &id, 8);
		memcpy(sp->span_id, &id, 8);
		sp->name = sonde_batch_intern(b, op, strlen(op));
		sp->kind = SONDE_SPAN_KIND_SERVER;
		sp->start_ns = t0 + i * 10000000ull;
		sp->end_ns = sp->start_ns + duration(median_ms, sigma);
		sp->status_code = uniform() < err_share ? SONDE_STATUS_ERROR : SONDE_STATUS_UNSET;
	}
	assert_int_equal(sonde_store_append(st, b, NULL, NULL), 0);
	sonde_batch_free(b);
}

static inline sonde_store *open_mem(void)
{
	sonde_store *st;
	char msg[256];
	assert_int_equal(sonde_store_open("sqlite::memory:", 0, &st, msg, sizeof msg), 0);
	return st;
}

#endif
