/*
 * sampler_internal.h - how the runtime asks a sampler about a new span.
 *
 * The runtime calls sonde__sampler_should_sample at every span start, on the hot path:
 * implementations take no lock, allocate nothing and make no system call (the rate
 * limiter uses atomics, and reads the clock only when now_ns is 0). The parent's trace state is passed by
 * pointer; a sampler that changes the trace state (the probability sampler's "ot=th:")
 * writes the new list into out.
 */
#ifndef SONDE_SAMPLER_INTERNAL_H
#define SONDE_SAMPLER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sonde/propagation.h"
#include "sonde/trace.h"

typedef enum sonde__decision {
	SONDE__DROP = 0,
	SONDE__RECORD_ONLY = 1,
	SONDE__RECORD_AND_SAMPLE = 2,
} sonde__decision;

typedef struct sonde__sample_in {
	const uint8_t *trace_id; /* 16 bytes: the parent's, or the new trace's */
	bool has_parent;         /* a valid parent context exists */
	bool parent_remote;
	uint8_t parent_flags;           /* SONDE_TRACE_FLAG_* */
	const char *parent_trace_state; /* never NULL; "" when none */
	size_t parent_trace_state_len;
	const char *name;
	sonde_span_kind kind;
	const sonde_attr *attrs;
	size_t attrs_count;
	uint64_t now_ns; /* monotonic ns, or 0: the runtime did not read the clock, a sampler that
	                  * needs the time (the rate limiter) reads CLOCK_MONOTONIC itself */
} sonde__sample_in;

typedef struct sonde__sample_out {
	sonde__decision decision;
	bool trace_state_set; /* when true, trace_state replaces the parent's */
	uint16_t trace_state_len;
	char trace_state[SONDE_TRACESTATE_MAX_LEN + 1];
} sonde__sample_out;

/* The part of a sampler's decision the span-start fast path can take without building a
 * sonde__sample_in: what to do for a root span, and for a child of a local parent. */
typedef enum sonde__fast_rule {
	SONDE__FAST_GENERAL = 0, /* ask sonde__sampler_should_sample */
	SONDE__FAST_ON,          /* record and sample */
	SONDE__FAST_OFF,         /* drop */
	SONDE__FAST_FOLLOW,      /* children only: the parent's sampled flag */
	SONDE__FAST_RATIO,       /* sample iff the trace id's randomness >= threshold */
} sonde__fast_rule;

typedef struct sonde__fast_plan {
	uint8_t root, child; /* sonde__fast_rule */
	uint64_t threshold;  /* SONDE__FAST_RATIO */
} sonde__fast_plan;

/* Describes s (NULL: the default sampler) as a fast plan. A sampler that changes the trace
 * state or keeps state (probability, rate limiter) gives GENERAL. */
void sonde__sampler_fast_plan(const sonde_sampler *s, sonde__fast_plan *out);

/* The 56 bits of randomness of a trace id (its last 7 bytes, big-endian), which
 * TraceIdRatioBased and the probability sampler compare against their threshold. */
static inline uint64_t sonde__trace_id_randomness(const uint8_t *id)
{
	uint64_t v;
	memcpy(&v, id + 8, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v & 0x00ffffffffffffffULL;
}

/* Decides; sets out->decision and, when it changes the trace state, out->trace_state*.
 * out->trace_state_set must be false on entry. */
void sonde__sampler_should_sample(const sonde_sampler *s, const sonde__sample_in *in, sonde__sample_out *out);
/* The OpenTelemetry description string ("ParentBased{root=TraceIdRatioBased{0.25},...}"). */
void sonde__sampler_describe(const sonde_sampler *s, char *buf, size_t cap);

#endif
