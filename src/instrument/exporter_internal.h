/*
 * exporter_internal.h - the contract between libsonde's runtime and its exporters.
 *
 * The runtime's background thread turns ended spans and log records into a sonde_batch
 * (the telemetry model) and calls deliver on every exporter in turn. An exporter encodes the batch
 * with src/wire and delivers it; it may block, retry and back off, but must return by the
 * deadline. Only the exporter thread calls these functions, one at a time, so exporters
 * need no locks of their own.
 */
#ifndef SONDE_EXPORTER_INTERNAL_H
#define SONDE_EXPORTER_INTERNAL_H

#include <stdint.h>

#include "sonde/export.h"
#include "telemetry.h"

typedef struct sonde_exporter_ops {
	const char *name; /* "otlp-http", "zipkin", "file", "console" */
	/* Delivers b's spans and log records (either may be none; an exporter that takes only
	 * one signal ignores the other). deadline_ns is CLOCK_MONOTONIC nanoseconds. Returns 0
	 * when the peer accepted the batch (a partial success counts as delivered), -ETIMEDOUT
	 * when the deadline passed while retrying, or another negative code when the batch was
	 * given up (the runtime counts it as failed; it never re-sends). */
	int (*deliver)(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns);
	/* Flushes anything the exporter buffers (files: fflush). May be NULL. */
	int (*force_flush)(sonde_exporter *e, uint64_t deadline_ns);
	/* Releases connections and files; no export follows. May be NULL. */
	int (*shutdown)(sonde_exporter *e, uint64_t deadline_ns);
	/* Frees e. */
	void (*destroy)(sonde_exporter *e);
	/* In a child after fork(): drop connections inherited from the parent without
	 * closing them (closing could disturb the parent's streams); the next export opens
	 * new ones. May be NULL. */
	void (*after_fork_child)(sonde_exporter *e);
} sonde_exporter_ops;

/* Every exporter embeds this as its first member. */
struct sonde_exporter {
	const sonde_exporter_ops *ops;
	uint64_t retries; /* retried requests so far (for sonde_tracer_stats; atomic access) */
};

/* Reports a problem through the callback of sonde_set_diagnostics (or nowhere).
 * Formats at most 512 bytes; never allocates. Safe from any thread. */
void sonde__diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC now, in ns. */
uint64_t sonde__mono_ns(void);

#endif
