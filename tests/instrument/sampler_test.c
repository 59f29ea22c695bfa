/* sampler_test.c - the OpenTelemetry samplers: decisions, the ratio's superset property
 * and rate, the probability sampler's thresholds and tracestate, the parent-based table,
 * the rate limiter's counts, OTEL_TRACES_SAMPLER, and descriptions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sampler_internal.h"
#include "sonde/propagation.h"
#include "sonde/trace.h"

/* ---- helpers ---------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
	/* xorshift64*: reproducible ids without libc's rand. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1du;
}

static void random_id(uint8_t id[16])
{
	uint64_t a = rng(), b = rng();
	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

/* A trace id whose low 56 bits (bytes 9..15) are r. */
static void id_with_randomness(uint8_t id[16], uint64_t r)
{
	memset(id, 0xab, 9);
	for (int i = 15; i >= 9; i--) {
		id[i] = (uint8_t)r;
		r >>= 8;
	}
}

static sonde__sample_in root_in(const uint8_t *id)
{
	return (sonde__sample_in){.trace_id = id, .parent_trace_state = "", .name = "op"};
}

static sonde__decision decide(const sonde_sampler *s, const sonde__sample_in *in, sonde__sample_out *out)
{
	memset(out, 0, sizeof(*out));
	sonde__sampler_should_sample(s, in, out);
	return out->decision;
}

static sonde__decision decide1(const sonde_sampler *s, const sonde__sample_in *in)
{
	sonde__sample_out out;
	return decide(s, in, &out);
}

static void assert_description(const sonde_sampler *s, const char *want)
{
	char buf[512];
	sonde__sampler_describe(s, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

/* ---- always on / off ---------------------------------------------------------------- */

static void always_on_off(void **state)
{
	(void)state;
	sonde_sampler *on = sonde_sampler_always_on(), *off = sonde_sampler_always_off();
	uint8_t id[16];
	random_id(id);
	sonde__sample_in in = root_in(id);
	sonde__sample_out out;
	assert_int_equal(decide(on, &in, &out), SONDE__RECORD_AND_SAMPLE);
	assert_false(out.trace_state_set);
	assert_int_equal(decide(off, &in, &out), SONDE__DROP);
	/* Parents do not matter to them. */
	in.has_parent = true;
	in.parent_flags = 0;
	assert_int_equal(decide1(on, &in), SONDE__RECORD_AND_SAMPLE);
	in.parent_flags = SONDE_TRACE_FLAG_SAMPLED;
	assert_int_equal(decide1(off, &in), SONDE__DROP);
	assert_description(on, "AlwaysOnSampler");
	assert_description(off, "AlwaysOffSampler");
	sonde_sampler_free(on);
	sonde_sampler_free(off);
	sonde_sampler_free(NULL);
}

/* ---- TraceIdRatioBased -------------------------------------------------------------- */

static void ratio_superset_and_rate(void **state)
{
	(void)state;
	sonde_sampler *r10 = sonde_sampler_trace_id_ratio(0.1), *r25 = sonde_sampler_trace_id_ratio(0.25),
	              *r50 = sonde_sampler_trace_id_ratio(0.5);
	const int n = 10000;
	int c10 = 0, c25 = 0, c50 = 0;
	uint8_t id[16];
	for (int i = 0; i < n; i++) {
		random_id(id);
		sonde__sample_in in = root_in(id);
		bool s10 = decide1(r10, &in) == SONDE__RECORD_AND_SAMPLE;
		bool s25 = decide1(r25, &in) == SONDE__RECORD_AND_SAMPLE;
		bool s50 = decide1(r50, &in) == SONDE__RECORD_AND_SAMPLE;
		/* Consistent: what a lower ratio samples, a higher one samples too. */
		if (s10 && !s25)
			fail_msg("id %d sampled at 0.1 but not at 0.25", i);
		if (s25 && !s50)
			fail_msg("id %d sampled at 0.25 but not at 0.5", i);
		c10 += s10;
		c25 += s25;
		c50 += s50;
	}
	/* Binomial: within 5 sigma of n * p. */
	double sigma = sqrt(n * 0.25 * 0.75);
	if (fabs(c25 - n * 0.25) > 5 * sigma)
		fail_msg("0.25 sampled %d of %d", c25, n);
	if (fabs(c10 - n * 0.1) > 5 * sqrt(n * 0.1 * 0.9))
		fail_msg("0.1 sampled %d of %d", c10, n);
	if (fabs(c50 - n * 0.5) > 5 * sqrt(n * 0.25))
		fail_msg("0.5 sampled %d of %d", c50, n);
	sonde_sampler_free(r10);
	sonde_sampler_free(r25);
	sonde_sampler_free(r50);
}

static void ratio_edges(void **state)
{
	(void)state;
	uint8_t id[16] = {0}; /* filled below; zeroed for gcc -Wmaybe-uninitialized */
	sonde__sample_in in = root_in(id);
	sonde_sampler *r0 = sonde_sampler_trace_id_ratio(0), *rneg = sonde_sampler_trace_id_ratio(-1),
	              *rnan = sonde_sampler_trace_id_ratio(NAN), *r1 = sonde_sampler_trace_id_ratio(1),
	              *r2 = sonde_sampler_trace_id_ratio(2), *r25 = sonde_sampler_trace_id_ratio(0.25);
	uint64_t max = (UINT64_C(1) << 56) - 1;
	id_with_randomness(id, max);
	assert_int_equal(decide1(r0, &in), SONDE__DROP);
	assert_int_equal(decide1(rneg, &in), SONDE__DROP);
	assert_int_equal(decide1(rnan, &in), SONDE__DROP);
	id_with_randomness(id, 0);
	assert_int_equal(decide1(r1, &in), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(decide1(r2, &in), SONDE__RECORD_AND_SAMPLE);
	/* 0.25: sampled iff the low 56 bits are >= 0.75 * 2^56; the high bytes do not count. */
	uint64_t t = UINT64_C(3) << 54;
	id_with_randomness(id, t);
	assert_int_equal(decide1(r25, &in), SONDE__RECORD_AND_SAMPLE);
	id_with_randomness(id, t - 1);
	assert_int_equal(decide1(r25, &in), SONDE__DROP);
	memset(id, 0xff, 9);
	assert_int_equal(decide1(r25, &in), SONDE__DROP);
	/* The parent's sampled flag is ignored. */
	id_with_randomness(id, t);
	in.has_parent = true;
	in.parent_flags = 0;
	assert_int_equal(decide1(r25, &in), SONDE__RECORD_AND_SAMPLE);
	in.parent_flags = SONDE_TRACE_FLAG_SAMPLED;
	id_with_randomness(id, t - 1);
	assert_int_equal(decide1(r25, &in), SONDE__DROP);

	assert_description(r25, "TraceIdRatioBased{0.250000}");
	assert_description(r0, "TraceIdRatioBased{0.000000}");
	assert_description(r2, "TraceIdRatioBased{1.000000}");
	sonde_sampler *r4 = sonde_sampler_trace_id_ratio(0.0001);
	assert_description(r4, "TraceIdRatioBased{0.000100}");
	sonde_sampler_free(r0), sonde_sampler_free(rneg), sonde_sampler_free(rnan);
	sonde_sampler_free(r1), sonde_sampler_free(r2), sonde_sampler_free(r25), sonde_sampler_free(r4);
}

/* ---- probability sampler ----------------------------------------------------------- */

/* The th a sampler writes, from a root decision forced to sample (randomness max). */
static void assert_th(double p, const char *want_th)
{
	sonde_sampler *s = sonde_sampler_probability(p);
	uint8_t id[16];
	id_with_randomness(id, (UINT64_C(1) << 56) - 1);
	sonde__sample_in in = root_in(id);
	sonde__sample_out out;
	if (decide(s, &in, &out) != SONDE__RECORD_AND_SAMPLE)
		fail_msg("p=%g: not sampled at maximal randomness", p);
	char want[64];
	snprintf(want, sizeof(want), "ot=th:%s", want_th);
	if (!out.trace_state_set || strcmp(out.trace_state, want) != 0)
		fail_msg("p=%g: got \"%s\", want \"%s\"", p, out.trace_state, want);
	assert_int_equal(out.trace_state_len, strlen(want));
	sonde_sampler_free(s);
}

static void probability_thresholds(void **state)
{
	(void)state;
	/* tracestate-probability-sampling.md, the 1-in-N table at precision 4, and the
	 * definition's example for 1% (fd70a4 at precision 5 is fd70a at 4). */
	assert_th(1, "0");
	assert_th(0.5, "8");
	assert_th(1.0 / 3, "aaab");
	assert_th(0.25, "c");
	assert_th(0.2, "cccd");
	assert_th(0.125, "e");
	assert_th(0.1, "e666");
	assert_th(0.0625, "f");
	assert_th(0.01, "fd70a");
	assert_th(0.001, "ffbe77");
	assert_th(0.0001, "fff9724");
	assert_th(0.00001, "ffff583a");
	assert_th(0.000001, "ffffef39");
	/* Out of range: clamped to 1, and to the smallest probability, 2^-56. */
	assert_th(7, "0");
	assert_th(ldexp(1, -60), "ffffffffffff");
}

static void probability_decisions(void **state)
{
	(void)state;
	sonde_sampler *s = sonde_sampler_probability(0.25);
	uint8_t id[16];
	sonde__sample_in in = root_in(id);
	sonde__sample_out out;
	/* Threshold c0000000000000: R >= T samples. */
	uint64_t t = UINT64_C(0xc0000000000000);
	id_with_randomness(id, t);
	assert_int_equal(decide(s, &in, &out), SONDE__RECORD_AND_SAMPLE);
	id_with_randomness(id, t - 1);
	assert_int_equal(decide(s, &in, &out), SONDE__DROP);
	/* A dropped span changes no trace state (and is never RECORD_ONLY). */
	assert_false(out.trace_state_set);

	/* An explicit rv in the parent's ot member wins over the trace id. */
	in.has_parent = true;
	in.parent_flags = SONDE_TRACE_FLAG_SAMPLED;
	in.parent_trace_state = "ot=rv:c0000000000000";
	in.parent_trace_state_len = strlen(in.parent_trace_state);
	assert_int_equal(decide(s, &in, &out), SONDE__RECORD_AND_SAMPLE);
	assert_string_equal(out.trace_state, "ot=th:c;rv:c0000000000000");
	in.parent_trace_state = "ot=rv:bfffffffffffff";
	in.parent_trace_state_len = strlen(in.parent_trace_state);
	id_with_randomness(id, (UINT64_C(1) << 56) - 1);
	assert_int_equal(decide(s, &in, &out), SONDE__DROP);
	/* A malformed rv (not 14 lower-case hex digits) is ignored. */
	const char *bad_rv[] = {"ot=rv:0", "ot=rv:BFFFFFFFFFFFFF", "ot=rv:bfffffffffffff0",
	                        "ot=rv:bffffffffffffg"};
	for (size_t i = 0; i < sizeof(bad_rv) / sizeof(bad_rv[0]); i++) {
		in.parent_trace_state = bad_rv[i];
		in.parent_trace_state_len = strlen(bad_rv[i]);
		if (decide(s, &in, &out) != SONDE__RECORD_AND_SAMPLE)
			fail_msg("%s: rv should have been ignored", bad_rv[i]);
	}

	/* Probability 0 never samples and writes nothing; 1 always samples with th:0. */
	sonde_sampler *never = sonde_sampler_probability(0), *always = sonde_sampler_probability(1);
	in = root_in(id);
	assert_int_equal(decide(never, &in, &out), SONDE__DROP);
	assert_false(out.trace_state_set);
	id_with_randomness(id, 0);
	assert_int_equal(decide(always, &in, &out), SONDE__RECORD_AND_SAMPLE);
	assert_string_equal(out.trace_state, "ot=th:0");

	assert_description(s, "ProbabilitySampler{0.250000,th:c}");
	assert_description(never, "ProbabilitySampler{0.000000}");
	assert_description(always, "ProbabilitySampler{1.000000,th:0}");
	sonde_sampler_free(s), sonde_sampler_free(never), sonde_sampler_free(always);
}

static void assert_ts_out(const sonde_sampler *s, const char *parent_ts, const char *want)
{
	uint8_t id[16];
	id_with_randomness(id, (UINT64_C(1) << 56) - 1);
	sonde__sample_in in = root_in(id);
	in.has_parent = true;
	in.parent_remote = true;
	in.parent_flags = SONDE_TRACE_FLAG_SAMPLED;
	in.parent_trace_state = parent_ts;
	in.parent_trace_state_len = strlen(parent_ts);
	sonde__sample_out out;
	assert_int_equal(decide(s, &in, &out), SONDE__RECORD_AND_SAMPLE);
	assert_true(out.trace_state_set);
	if (strcmp(out.trace_state, want) != 0)
		fail_msg("parent \"%s\": got \"%s\", want \"%s\"", parent_ts, out.trace_state, want);
	assert_int_equal(out.trace_state_len, strlen(want));
	assert_true(out.trace_state_len <= SONDE_TRACESTATE_MAX_LEN);
}

static void probability_tracestate(void **state)
{
	(void)state;
	sonde_sampler *s = sonde_sampler_probability(0.5);
	/* ot moves first; th replaced; other sub-keys and members kept in order. */
	assert_ts_out(s, "", "ot=th:8");
	assert_ts_out(s, "foo=1,bar=2", "ot=th:8,foo=1,bar=2");
	assert_ts_out(s, "foo=1,ot=th:c;rv:ffffffffffffff;x:y,bar=2",
	              "ot=th:8;rv:ffffffffffffff;x:y,foo=1,bar=2");
	assert_ts_out(s, "ot=p:8;th:0", "ot=th:8;p:8");
	assert_ts_out(s, "ot=foo:bar", "ot=th:8;foo:bar");
	assert_ts_out(s, "ot=x:1;rv:ffffffffffffff;y:2", "ot=th:8;rv:ffffffffffffff;x:1;y:2");
	/* Keys that merely start with "ot" are other vendors'. */
	assert_ts_out(s, "otx=1,o=2", "ot=th:8,otx=1,o=2");

	/* A full list: 32 members, so the oldest (last) one goes. */
	char ts[1024], want[1024];
	size_t n = 0, wn = snprintf(want, sizeof(want), "ot=th:8");
	for (int i = 1; i <= 32; i++) {
		n += (size_t)snprintf(ts + n, sizeof(ts) - n, "%sm%02d=%02d", i > 1 ? "," : "", i, i);
		if (i < 32)
			wn += (size_t)snprintf(want + wn, sizeof(want) - wn, ",m%02d=%02d", i, i);
	}
	assert_ts_out(s, ts, want);

	/* A long list: members past 512 characters go. */
	char v[251];
	memset(v, 'v', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	snprintf(ts, sizeof(ts), "a=%s,b=%s", v, v); /* 252 + 1 + 252 = 505 */
	snprintf(want, sizeof(want), "ot=th:8,a=%s", v);
	assert_ts_out(s, ts, want);

	/* The ot value stays within 256 characters: sub-keys that do not fit are left out,
	 * but never rv. */
	char big[300];
	snprintf(big, sizeof(big), "ot=a:%0240d;rv:ffffffffffffff;b:1", 0);
	snprintf(want, sizeof(want), "ot=th:8;rv:ffffffffffffff;b:1");
	assert_ts_out(s, big, want);
	sonde_sampler_free(s);
}

/* ---- ParentBased ------------------------------------------------------------------- */

static sonde__decision pb_decide(const sonde_sampler *s, bool has_parent, bool remote, bool sampled)
{
	uint8_t id[16];
	id_with_randomness(id, 0); /* a ratio delegate of 0.5 would drop this */
	sonde__sample_in in = root_in(id);
	in.has_parent = has_parent;
	in.parent_remote = remote;
	in.parent_flags =
	        sampled ? SONDE_TRACE_FLAG_SAMPLED | SONDE_TRACE_FLAG_RANDOM : SONDE_TRACE_FLAG_RANDOM;
	return decide1(s, &in);
}

static void parent_based_defaults(void **state)
{
	(void)state;
	sonde_sampler *s = sonde_sampler_parent_based(sonde_sampler_always_off(), NULL, NULL, NULL, NULL);
	assert_int_equal(pb_decide(s, false, false, false), SONDE__DROP); /* root */
	assert_int_equal(pb_decide(s, true, true, true), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(pb_decide(s, true, true, false), SONDE__DROP);
	assert_int_equal(pb_decide(s, true, false, true), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(pb_decide(s, true, false, false), SONDE__DROP);
	assert_description(s, "ParentBased{root=AlwaysOffSampler,remoteParentSampled=AlwaysOnSampler,"
	                      "remoteParentNotSampled=AlwaysOffSampler,localParentSampled=AlwaysOnSampler,"
	                      "localParentNotSampled=AlwaysOffSampler}");
	sonde_sampler_free(s);

	/* A NULL root is AlwaysOn. */
	s = sonde_sampler_parent_based(NULL, NULL, NULL, NULL, NULL);
	assert_int_equal(pb_decide(s, false, false, false), SONDE__RECORD_AND_SAMPLE);
	sonde_sampler_free(s);
}

static void parent_based_delegates(void **state)
{
	(void)state;
	/* Each of the five cases goes to its own delegate: invert the defaults. */
	sonde_sampler *s = sonde_sampler_parent_based(sonde_sampler_trace_id_ratio(0.5),
	                                              sonde_sampler_always_off(), sonde_sampler_always_on(),
	                                              sonde_sampler_always_off(), sonde_sampler_always_on());
	assert_int_equal(pb_decide(s, false, false, true), SONDE__DROP); /* ratio 0.5, R = 0 */
	assert_int_equal(pb_decide(s, true, true, true), SONDE__DROP);
	assert_int_equal(pb_decide(s, true, true, false), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(pb_decide(s, true, false, true), SONDE__DROP);
	assert_int_equal(pb_decide(s, true, false, false), SONDE__RECORD_AND_SAMPLE);
	assert_description(
	        s, "ParentBased{root=TraceIdRatioBased{0.500000},remoteParentSampled=AlwaysOffSampler,"
	           "remoteParentNotSampled=AlwaysOnSampler,localParentSampled=AlwaysOffSampler,"
	           "localParentNotSampled=AlwaysOnSampler}");
	sonde_sampler_free(s);

	/* Nested: a parent-based delegate inside a parent-based sampler. */
	s = sonde_sampler_parent_based(
	        sonde_sampler_parent_based(sonde_sampler_always_off(), NULL, NULL, NULL, NULL), NULL, NULL,
	        NULL, sonde_sampler_probability(1));
	assert_int_equal(pb_decide(s, false, false, false), SONDE__DROP);
	assert_int_equal(pb_decide(s, true, false, false), SONDE__RECORD_AND_SAMPLE);
	sonde_sampler_free(s);
}

static void parent_based_threshold_check(void **state)
{
	(void)state;
	sonde_sampler *s = sonde_sampler_parent_based(sonde_sampler_always_on(), NULL, NULL, NULL, NULL);
	uint8_t id[16];
	sonde__sample_in in = root_in(id);
	sonde__sample_out out;
	in.has_parent = true;
	in.parent_remote = true;
	in.parent_flags = SONDE_TRACE_FLAG_SAMPLED;
	/* Consistent (R >= th): the trace state is passed on untouched. */
	id_with_randomness(id, UINT64_C(0xc0000000000000));
	in.parent_trace_state = "ot=th:c,x=1";
	in.parent_trace_state_len = strlen(in.parent_trace_state);
	assert_int_equal(decide(s, &in, &out), SONDE__RECORD_AND_SAMPLE);
	assert_false(out.trace_state_set);
	/* Inconsistent: sampled although R < th. The threshold is erased, rv kept. */
	in.parent_trace_state = "x=1,ot=th:c;rv:10000000000000";
	in.parent_trace_state_len = strlen(in.parent_trace_state);
	assert_int_equal(decide(s, &in, &out), SONDE__RECORD_AND_SAMPLE);
	assert_true(out.trace_state_set);
	assert_string_equal(out.trace_state, "ot=rv:10000000000000,x=1");
	/* Unparseable threshold: erased; an ot member left empty goes. */
	in.parent_trace_state = "ot=th:zz,x=1";
	in.parent_trace_state_len = strlen(in.parent_trace_state);
	assert_int_equal(decide(s, &in, &out), SONDE__RECORD_AND_SAMPLE);
	assert_string_equal(out.trace_state, "x=1");
	/* Local parents are our own: not checked. */
	in.parent_remote = false;
	assert_int_equal(decide(s, &in, &out), SONDE__RECORD_AND_SAMPLE);
	assert_false(out.trace_state_set);
	sonde_sampler_free(s);
}

static void default_when_null(void **state)
{
	(void)state;
	assert_int_equal(pb_decide(NULL, false, false, false), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(pb_decide(NULL, true, true, true), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(pb_decide(NULL, true, false, false), SONDE__DROP);
	char buf[16];
	sonde__sampler_describe(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "ParentBased{roo");
}

/* ---- rate limiting ------------------------------------------------------------------ */

static int count_over(sonde_sampler *s, uint64_t start, uint64_t span_ns, int attempts)
{
	uint8_t id[16];
	random_id(id);
	sonde__sample_in in = root_in(id);
	int n = 0;
	for (int i = 0; i < attempts; i++) {
		in.now_ns = start + span_ns * (uint64_t)i / (uint64_t)attempts;
		n += decide1(s, &in) == SONDE__RECORD_AND_SAMPLE;
	}
	return n;
}

static void rate_limiting_counts(void **state)
{
	(void)state;
	const uint64_t t0 = UINT64_C(5000000000000), sec = 1000000000;
	sonde_sampler *s = sonde_sampler_rate_limiting(100);
	/* The first second spends the full bucket (100) plus what refills (100). */
	int first = count_over(s, t0, sec, 10000);
	if (first < 199 || first > 201)
		fail_msg("first second: %d sampled", first);
	/* Afterwards, 100 a second. */
	for (int k = 1; k <= 3; k++) {
		int n = count_over(s, t0 + (uint64_t)k * sec, sec, 10000);
		if (n < 99 || n > 101)
			fail_msg("second %d: %d sampled", k, n);
	}
	sonde_sampler_free(s);

	/* Burst: a full bucket takes exactly its capacity at one instant. */
	s = sonde_sampler_rate_limiting(100);
	uint8_t id[16];
	random_id(id);
	sonde__sample_in in = root_in(id);
	in.now_ns = t0;
	int burst = 0;
	for (int i = 0; i < 150; i++)
		burst += decide1(s, &in) == SONDE__RECORD_AND_SAMPLE;
	assert_int_equal(burst, 100);
	in.now_ns = t0 + 10000000 - 1; /* one token takes 10 ms */
	assert_int_equal(decide1(s, &in), SONDE__DROP);
	in.now_ns = t0 + 10000000;
	assert_int_equal(decide1(s, &in), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(decide1(s, &in), SONDE__DROP);
	/* After a long idle time the bucket is full again, and no fuller. */
	in.now_ns = t0 + 3600 * sec;
	burst = 0;
	for (int i = 0; i < 150; i++)
		burst += decide1(s, &in) == SONDE__RECORD_AND_SAMPLE;
	assert_int_equal(burst, 100);
	/* Only roots. */
	in.now_ns += 7200 * sec;
	in.has_parent = true;
	in.parent_flags = SONDE_TRACE_FLAG_SAMPLED;
	assert_int_equal(decide1(s, &in), SONDE__DROP);
	assert_description(s, "RateLimitingSampler{100}");
	sonde_sampler_free(s);
}

static void rate_limiting_slow_and_zero(void **state)
{
	(void)state;
	const uint64_t t0 = UINT64_C(1000), sec = 1000000000;
	/* Below one a second: capacity 1, one span per 1/n seconds. */
	sonde_sampler *s = sonde_sampler_rate_limiting(0.5);
	uint8_t id[16];
	random_id(id);
	sonde__sample_in in = root_in(id);
	in.now_ns = t0;
	assert_int_equal(decide1(s, &in), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(decide1(s, &in), SONDE__DROP);
	in.now_ns = t0 + 2 * sec - 1;
	assert_int_equal(decide1(s, &in), SONDE__DROP);
	in.now_ns = t0 + 2 * sec;
	assert_int_equal(decide1(s, &in), SONDE__RECORD_AND_SAMPLE);
	assert_description(s, "RateLimitingSampler{0.5}");
	sonde_sampler_free(s);
	/* Absurd rates: more than one a nanosecond is no limit, less than one a century none. */
	s = sonde_sampler_rate_limiting(1e10);
	in.now_ns = t0;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(decide1(s, &in), SONDE__RECORD_AND_SAMPLE);
	sonde_sampler_free(s);
	s = sonde_sampler_rate_limiting(1e-12);
	assert_int_equal(decide1(s, &in), SONDE__DROP);
	sonde_sampler_free(s);
	/* now_ns 0: the sampler reads the clock itself. */
	s = sonde_sampler_rate_limiting(2);
	in.now_ns = 0;
	assert_int_equal(decide1(s, &in), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(decide1(s, &in), SONDE__RECORD_AND_SAMPLE);
	assert_int_equal(decide1(s, &in), SONDE__DROP);
	sonde_sampler_free(s);
	/* Zero, negative, NaN: never. */
	double bad[] = {0, -5, NAN};
	for (int i = 0; i < 3; i++) {
		s = sonde_sampler_rate_limiting(bad[i]);
		in.now_ns = t0;
		assert_int_equal(decide1(s, &in), SONDE__DROP);
		in.now_ns = t0 + 1000 * sec;
		assert_int_equal(decide1(s, &in), SONDE__DROP);
		sonde_sampler_free(s);
	}
}

typedef struct race {
	sonde_sampler *s;
	atomic_int sampled;
	uint64_t now;
} race;

static void *race_thread(void *arg)
{
	race *r = arg;
	uint8_t id[16] = {1};
	sonde__sample_in in = root_in(id);
	in.now_ns = r->now;
	for (int i = 0; i < 20000; i++) {
		if (decide1(r->s, &in) == SONDE__RECORD_AND_SAMPLE)
			atomic_fetch_add(&r->sampled, 1);
	}
	return NULL;
}

static void rate_limiting_threads(void **state)
{
	(void)state;
	/* Threads contending at one instant share the bucket: exactly its capacity. */
	race r = {.s = sonde_sampler_rate_limiting(1000), .now = UINT64_C(777000000000)};
	atomic_init(&r.sampled, 0);
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_thread, &r), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&r.sampled), 1000);
	sonde_sampler_free(r.s);
}

/* ---- OTEL_TRACES_SAMPLER ------------------------------------------------------------- */

static char last_diag[512];
static int diag_count;

static void on_diag(void *ud, const char *msg)
{
	(void)ud;
	snprintf(last_diag, sizeof(last_diag), "%s", msg);
	diag_count++;
}

/* Builds the sampler from the environment and checks its description and diagnostics. */
static void assert_env(const char *sampler, const char *arg, const char *want, bool want_diag)
{
	if (sampler)
		setenv("OTEL_TRACES_SAMPLER", sampler, 1);
	else
		unsetenv("OTEL_TRACES_SAMPLER");
	if (arg)
		setenv("OTEL_TRACES_SAMPLER_ARG", arg, 1);
	else
		unsetenv("OTEL_TRACES_SAMPLER_ARG");
	diag_count = 0;
	last_diag[0] = '\0';
	sonde_sampler *s = sonde_sampler_from_env();
	assert_non_null(s);
	char buf[512];
	sonde__sampler_describe(s, buf, sizeof(buf));
	if (strcmp(buf, want) != 0)
		fail_msg("%s / %s: got %s, want %s", sampler ? sampler : "(unset)", arg ? arg : "(unset)",
		         buf, want);
	if (want_diag != (diag_count > 0))
		fail_msg("%s / %s: %d diagnostics (%s)", sampler ? sampler : "(unset)", arg ? arg : "(unset)",
		         diag_count, last_diag);
	sonde_sampler_free(s);
}

#define PB_TAIL                                                                                            \
	",remoteParentSampled=AlwaysOnSampler,remoteParentNotSampled=AlwaysOffSampler,localParentSampled=" \
	"AlwaysOnSampler,localParentNotSampled=AlwaysOffSampler}"

static void from_env(void **state)
{
	(void)state;
	sonde_set_diagnostics(on_diag, NULL);
	const char *dflt = "ParentBased{root=AlwaysOnSampler" PB_TAIL;
	assert_env(NULL, NULL, dflt, false);
	assert_env("", NULL, dflt, false);
	assert_env("parentbased_always_on", NULL, dflt, false);
	assert_env("always_on", NULL, "AlwaysOnSampler", false);
	assert_env("always_off", NULL, "AlwaysOffSampler", false);
	assert_env(" ALWAYS_OFF\t", NULL, "AlwaysOffSampler", false);
	assert_env("parentbased_always_off", NULL, "ParentBased{root=AlwaysOffSampler" PB_TAIL, false);
	/* Arguments are for the ratio samplers only. */
	assert_env("always_on", "0.5", "AlwaysOnSampler", false);
	assert_env("traceidratio", "0.5", "TraceIdRatioBased{0.500000}", false);
	assert_env("traceidratio", " 0.25 ", "TraceIdRatioBased{0.250000}", false);
	assert_env("traceidratio", "1e-3", "TraceIdRatioBased{0.001000}", false);
	assert_env("traceidratio", ".5", "TraceIdRatioBased{0.500000}", false);
	assert_env("traceidratio", "0", "TraceIdRatioBased{0.000000}", false);
	assert_env("traceidratio", "1", "TraceIdRatioBased{1.000000}", false);
	assert_env("traceidratio", "0.100000000000000000000001", "TraceIdRatioBased{0.100000}", false);
	/* Missing: 1.0, as the specification's default. Invalid: 1.0, reported. */
	assert_env("traceidratio", NULL, "TraceIdRatioBased{1.000000}", false);
	assert_env("traceidratio", "", "TraceIdRatioBased{1.000000}", false);
	assert_env("traceidratio", "abc", "TraceIdRatioBased{1.000000}", true);
	assert_non_null(strstr(last_diag, "OTEL_TRACES_SAMPLER_ARG"));
	assert_env("traceidratio", "1.5", "TraceIdRatioBased{1.000000}", true);
	assert_env("traceidratio", "-0.1", "TraceIdRatioBased{1.000000}", true);
	assert_env("traceidratio", "0.5x", "TraceIdRatioBased{1.000000}", true);
	assert_env("traceidratio", "0,5", "TraceIdRatioBased{1.000000}", true);
	assert_env("traceidratio", "nan", "TraceIdRatioBased{1.000000}", true);
	assert_env("traceidratio", "1e", "TraceIdRatioBased{1.000000}", true);
	assert_env("parentbased_traceidratio", "0.25", "ParentBased{root=TraceIdRatioBased{0.250000}" PB_TAIL,
	           false);
	assert_env("parentbased_traceidratio", "2", "ParentBased{root=TraceIdRatioBased{1.000000}" PB_TAIL,
	           true);
	/* Known to the specification but not to libsonde; unknown. Both fall back. */
	assert_env("jaeger_remote", NULL, dflt, true);
	assert_non_null(strstr(last_diag, "not supported"));
	assert_env("parentbased_jaeger_remote", NULL, dflt, true);
	assert_env("xray", NULL, dflt, true);
	assert_env("bogus", NULL, dflt, true);
	assert_non_null(strstr(last_diag, "bogus"));
	unsetenv("OTEL_TRACES_SAMPLER");
	unsetenv("OTEL_TRACES_SAMPLER_ARG");
	sonde_set_diagnostics(NULL, NULL);
}

static void describe_truncates(void **state)
{
	(void)state;
	sonde_sampler *s = sonde_sampler_trace_id_ratio(0.25);
	char buf[10];
	memset(buf, 'x', sizeof(buf));
	sonde__sampler_describe(s, buf, sizeof(buf));
	assert_string_equal(buf, "TraceIdRa");
	sonde__sampler_describe(s, buf, 1);
	assert_string_equal(buf, "");
	buf[0] = 'x';
	sonde__sampler_describe(s, buf, 0);
	assert_int_equal(buf[0], 'x');
	sonde_sampler_free(s);
}

static void hot_path_cost(void **state)
{
	(void)state;
	/* Not a benchmark gate: prints what ParentBased with a local sampled parent costs. */
	sonde_sampler *s = sonde_sampler_parent_based(sonde_sampler_always_on(), NULL, NULL, NULL, NULL);
	uint8_t id[16] = {1};
	sonde__sample_in in = root_in(id);
	in.has_parent = true;
	in.parent_flags = SONDE_TRACE_FLAG_SAMPLED;
	sonde__sample_out out;
	out.trace_state_set = false;
	const int n = 10000000;
	int sampled = 0;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < n; i++) {
		sonde__sampler_should_sample(s, &in, &out);
		sampled += out.decision == SONDE__RECORD_AND_SAMPLE;
		__asm__ volatile("" ::: "memory");
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
	print_message("parent-based, local sampled parent: %.2f ns per decision\n", ns);
	assert_int_equal(sampled, n);
	sonde_sampler_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(always_on_off),
	        cmocka_unit_test(ratio_superset_and_rate),
	        cmocka_unit_test(ratio_edges),
	        cmocka_unit_test(probability_thresholds),
	        cmocka_unit_test(probability_decisions),
	        cmocka_unit_test(probability_tracestate),
	        cmocka_unit_test(parent_based_defaults),
	        cmocka_unit_test(parent_based_delegates),
	        cmocka_unit_test(parent_based_threshold_check),
	        cmocka_unit_test(default_when_null),
	        cmocka_unit_test(rate_limiting_counts),
	        cmocka_unit_test(rate_limiting_slow_and_zero),
	        cmocka_unit_test(rate_limiting_threads),
	        cmocka_unit_test(from_env),
	        cmocka_unit_test(describe_truncates),
	        cmocka_unit_test(hot_path_cost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
