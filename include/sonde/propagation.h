/*
 * propagation.h - W3C Trace Context (traceparent, tracestate) and W3C Baggage, injected
 * into and extracted from any carrier (HTTP headers, message metadata) through two
 * callbacks, so that any HTTP or messaging library can carry sonde's context.
 *
 * Everything here is pure computation on caller-owned memory: no allocation, no locks,
 * safe from any thread.
 */
#ifndef SONDE_PROPAGATION_H
#define SONDE_PROPAGATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	SONDE_TRACESTATE_MAX_MEMBERS = 32,
	SONDE_TRACESTATE_MAX_LEN = 512, /* what sonde keeps and propagates */
	SONDE_TRACE_FLAG_SAMPLED = 0x01,
	SONDE_TRACE_FLAG_RANDOM = 0x02, /* W3C Trace Context level 2: trace id is random */
};

/* The identity of a span as it crosses process and thread boundaries. */
typedef struct sonde_span_context {
	uint8_t trace_id[16]; /* all zero: invalid */
	uint8_t span_id[8];   /* all zero: invalid */
	uint8_t trace_flags;  /* SONDE_TRACE_FLAG_* bits; unknown bits are kept */
	bool is_remote;       /* extracted from a carrier */
	uint16_t trace_state_len;
	char trace_state[SONDE_TRACESTATE_MAX_LEN + 1]; /* the tracestate list, NUL-terminated */
} sonde_span_context;

/* True when both ids are non-zero. */
bool sonde_span_context_is_valid(const sonde_span_context *c);

/* ---- traceparent ---------------------------------------------------------------- */

/* Parses a traceparent header value ("00-<32 hex>-<16 hex>-<2 hex>") into c's ids and
 * flags, following the W3C rules: lower-case hex only, version ff invalid, all-zero ids
 * invalid, a version 00 value must be exactly 55 characters, a higher version may carry
 * more fields after a '-'. Returns 0, or -EINVAL (c untouched). */
int sonde_traceparent_parse(const char *s, size_t n, sonde_span_context *c);
/* Writes the version-00 traceparent of c (55 characters + NUL) into out[56]. */
void sonde_traceparent_format(const sonde_span_context *c, char out[56]);

/* ---- tracestate ----------------------------------------------------------------- */

/* Validates and normalises a tracestate header value (or several header values joined
 * with ','): checks each list member's key and value grammar (simple and multi-tenant
 * keys), drops empty members, rejects duplicate keys and more than 32 members, and
 * writes the list into c->trace_state, truncated by the W3C rules when over 512
 * characters (members over 128 characters first, then from the end). Returns 0, or
 * -EINVAL when the value is invalid (c->trace_state then empty, as the spec asks). */
int sonde_tracestate_parse(const char *s, size_t n, sonde_span_context *c);
/* Returns a pointer to the value of key in c's tracestate and its length in *len, or
 * NULL when absent. Borrowed from c. */
const char *sonde_tracestate_get(const sonde_span_context *c, const char *key, size_t *len);
/* Sets key=value as the first (most recent) member, removing an older one with the same
 * key, as a vendor updating its entry must. Returns 0, or -EINVAL for a bad key or value
 * (c unchanged). Truncates from the end if the result exceeds 512 characters. */
int sonde_tracestate_set(sonde_span_context *c, const char *key, const char *value);
/* Removes key's member. Returns 0 (also when absent). */
int sonde_tracestate_delete(sonde_span_context *c, const char *key);

/* ---- baggage -------------------------------------------------------------------- */

enum {
	SONDE_BAGGAGE_MAX_MEMBERS = 64,
	SONDE_BAGGAGE_MAX_LEN = 8192, /* W3C: at least 8192 bytes per baggage header */
};

typedef struct sonde_baggage_entry {
	char *key;        /* percent-decoded, NUL-terminated, points into the baggage's storage */
	char *value;      /* percent-decoded */
	char *properties; /* the raw ";"-separated properties, or "" */
} sonde_baggage_entry;

/* Entries point into storage: a sonde_baggage must not be copied by assignment; parse or
 * set into another one instead. */
typedef struct sonde_baggage {
	sonde_baggage_entry entries[SONDE_BAGGAGE_MAX_MEMBERS];
	uint32_t count;
	size_t used;
	char storage[SONDE_BAGGAGE_MAX_LEN + 1]; /* a full 8192-byte header fits */
} sonde_baggage;

void sonde_baggage_init(sonde_baggage *b);
/* Parses a baggage header value and appends its members (later duplicates replace earlier
 * ones). Invalid members are skipped, as W3C Baggage allows; returns the number of members
 * skipped (>= 0), or -EINVAL when the whole value is malformed, -E2BIG past the limits. */
int sonde_baggage_parse(sonde_baggage *b, const char *s, size_t n);
/* Sets key to value (copied). Returns 0, -E2BIG when full. */
int sonde_baggage_set(sonde_baggage *b, const char *key, const char *value);
/* Returns the value of key, or NULL (borrowed from b). */
const char *sonde_baggage_get(const sonde_baggage *b, const char *key);
/* Writes the header value (percent-encoding what must be) into out[0..cap). Members that
 * would take it past 8192 bytes are left out. Returns the length, or -E2BIG if cap is too
 * small for even one member. */
int sonde_baggage_format(const sonde_baggage *b, char *out, size_t cap);

/* ---- carriers ------------------------------------------------------------------- */

/* A carrier: whatever holds the headers. get returns the value of a header (case
 * insensitively, as HTTP header names are) or NULL; set stores one. Either may be NULL
 * when only the other direction is used. */
typedef struct sonde_carrier {
	void *ctx;
	const char *(*get)(void *ctx, const char *key);
	int (*set)(void *ctx, const char *key, const char *value);
} sonde_carrier;

/* Writes traceparent, tracestate (when non-empty) and baggage (when bag is non-NULL and
 * non-empty) into the carrier. Returns 0 or the first negative value set returned. */
int sonde_propagation_inject(const sonde_carrier *carrier, const sonde_span_context *c,
                             const sonde_baggage *bag);
/* Reads traceparent and tracestate (and baggage when bag is non-NULL) from the carrier.
 * Returns 0 and sets c (is_remote true) when a valid traceparent was found; -ENOENT when
 * there is none, -EINVAL when it is invalid (c then invalid: start a new trace). */
int sonde_propagation_extract(const sonde_carrier *carrier, sonde_span_context *c, sonde_baggage *bag);

#ifdef __cplusplus
}
#endif
#endif
