/*
 * formats.h - the table of telemetry formats: each a reader, a writer, or both, behind
 * one small ops struct, and content sniffing to tell them apart.
 *
 * The CLI's convert verb (and later ingest) looks formats up by name or detects them from
 * the first bytes, then calls read/write without knowing which format it holds.
 * The table is static and immutable: safe from any thread.
 */
#ifndef SONDE_FORMATS_H
#define SONDE_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "telemetry.h"
#include "wire_error.h"

typedef struct sonde_read_opts {
	sonde_signal signal;      /* for formats that do not say (OTLP protobuf) */
	uint64_t default_time_ns; /* for samples without a time (Prometheus text) */
} sonde_read_opts;

typedef struct sonde_write_opts {
	sonde_signal signal; /* for formats with one signal per document */
	bool signal_set;     /* false: the only signal present in the batch */
	int pretty;          /* JSON indentation; 0 compact */
} sonde_write_opts;

typedef struct sonde_format {
	const char *name;        /* "otlp-json" */
	const char *description; /* one line for help */
	/* Appends what buf holds to b; on failure b is unchanged and err says where.
	 * NULL for write-only formats. */
	int (*read)(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *opts,
	            sonde_wire_error *err);
	/* Appends b's records to out. Returns 0, -ENOMEM, or -EINVAL when the batch cannot be
	 * expressed (several signals for a one-signal format without opts->signal_set).
	 * NULL for read-only formats. */
	int (*write)(const sonde_batch *b, const sonde_write_opts *opts, sonde_buf *out);
	bool binary; /* output is not text */
} sonde_format;

extern const sonde_format sonde_formats[];
extern const size_t sonde_formats_count;

/* Returns the format with this name, or NULL. */
const sonde_format *sonde_format_find(const char *name);
/* Guesses the format of buf from its first bytes and keys; NULL when nothing fits. */
const sonde_format *sonde_format_detect(const char *buf, size_t len);
/* The signal a one-signal writer should write: opts->signal when set, else the only
 * non-empty signal of b (traces when b is empty). -EINVAL when b holds several. */
int sonde_write_signal(const sonde_batch *b, const sonde_write_opts *opts, sonde_signal *out);

#endif
