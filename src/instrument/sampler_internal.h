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

/* Decides; sets out->decision and, when it changes the trace state, out->trace_state*.
 * out->trace_state_set must be false on entry. */
void sonde__sampler_should_sample(const sonde_sampler *s, const sonde__sample_in *in, sonde__sample_out *out);
/* The OpenTelemetry description string ("ParentBased{root=TraceIdRatioBased{0.25},...}"). */
void sonde__sampler_describe(const sonde_sampler *s, char *buf, size_t cap);

#endif
