/*
 * ingest.h - telemetry files into the store: detect the format, read in chunks, skip and
 * report bad records, append batch by batch.
 *
 * An input is a buffer (a mapped file) with a name. Line-oriented formats (OTLP JSON
 * lines, JSON-lines logs, text logs, CSV, Influx) are read a chunk of whole records at a
 * time, so memory stays bounded however large the file; a bad line is skipped, reported
 * with its file line, byte offset and field, and the rest of the chunk read on. Whole-
 * document formats (OTLP JSON and protobuf, Zipkin, Jaeger, Chrome, Prometheus) are read
 * whole, and a bad document is one rejected record. Every batch of at most batch_records
 * records is one store transaction, so an ingest killed at any moment leaves whole
 * batches, and re-running it adds only what is missing (the store's appends are
 * idempotent; log positions are counted the same way on every run).
 *
 * Line formats are pipelined: the caller's thread reads and decodes the next chunk while
 * a writer thread stores the previous batches, in input order (at most two batches wait).
 * So is an OTLP JSON document over 1 MB in a SQLite store: the writer stores its spans,
 * batch by batch, while the rest of the document is read, all in one transaction that is
 * committed once the document has been read whole (a bad document still stores nothing;
 * a killed ingest leaves none or all of those batches); the spans left over, the logs
 * and the metric points are stored after it, as when reading and storing alternate.
 * A failure on either side stops both; what was queued before a bad record (strict) is
 * still stored, exactly as when reading and storing alternate on one thread. (When the
 * store fails, the reader may have read, and reported bad records of, up to two batches
 * past the one that failed.)
 *
 * Not thread-safe; one ingest at a time per store handle (the handle is used by the
 * writer thread during the call, and by nothing else). The callbacks run on the
 * caller's thread.
 */
#ifndef SONDE_INGEST_H
#define SONDE_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "formats.h"
#include "store.h"
#include "wire_error.h"

/* What an on_logs hook gives back for one batch (see sonde_ingest_opts). */
typedef struct sonde_ingest_log_templates {
	uint64_t *template_ids; /* one per log record of the batch, zeroed by ingest: the hook
	                           sets the template id of each record it recognises */
	/* Set by the hook: one description per id it used (text with named placeholders).
	 * Borrowed until the hook's next call; ingest copies what it keeps. */
	const sonde_log_template *templates;
	size_t templates_count;
} sonde_ingest_log_templates;

typedef struct sonde_ingest_opts {
	const sonde_format *format; /* NULL: detected from each input's first bytes */
	sonde_signal signal;        /* what OTLP protobuf carries (it does not say) */
	uint64_t default_time_ns;   /* for records without a time (Prometheus, Influx) and
	                               for years that logs leave out */
	const char *service;        /* service.name for records whose resource has none;
	                               NULL: the input's file name without directory and
	                               extension ("-": none) */
	size_t batch_records;       /* records per transaction; 0: 10000 */
	bool strict;                /* stop at the first bad record */
	bool sequential;            /* read and store on the caller's thread only (else a line
	                               format input or an OTLP JSON document over 1 MB is read
	                               on the caller's thread while a second thread stores the
	                               previous batches, in order: the same records, positions
	                               and outcome) */
	/* After each batch: bytes of this input read so far, and its size. */
	void (*on_progress)(void *ctx, const char *source, uint64_t done_bytes, uint64_t total_bytes);
	/* For each bad record skipped (or, strict, the one that stops the ingest). err->line
	 * and err->offset are positions in the whole input. */
	void (*on_reject)(void *ctx, const char *source, const char *format, const sonde_wire_error *err);
	void *ctx;
	/* Log templates (issue 8): when non-NULL, called with every batch holding log
	 * records, in input order, before the batch is appended; the ids it sets are stored
	 * with the records and its templates in the same transaction (sonde_append_opts).
	 * The store layer cannot mine templates itself (the miner lives in analyze, above
	 * it): the CLI passes sonde_ingest_templates_hook() (ingest_templates.h). Returns 0
	 * or a negative code, which stops the ingest before the batch is stored. */
	int (*on_logs)(void *logs_ctx, const sonde_batch *b, sonde_ingest_log_templates *out);
	void *logs_ctx;
} sonde_ingest_opts;

#define SONDE_INGEST_MAX_SERVICES 64

typedef struct sonde_ingest_stats {
	sonde_append_stats appended;
	uint64_t rejected;                               /* bad records skipped */
	uint64_t batches;                                /* transactions committed */
	uint64_t bytes;                                  /* input read */
	uint64_t min_time_ns, max_time_ns;               /* over every record read; 0, 0 when none */
	const char *services[SONDE_INGEST_MAX_SERVICES]; /* distinct service names seen (the first
	                                                    SONDE_INGEST_MAX_SERVICES) */
	size_t services_count;
	bool services_truncated;
	sonde_arena arena; /* owns the service names */
} sonde_ingest_stats;

/* Zeroes stats; release with sonde_ingest_stats_release(). */
void sonde_ingest_stats_init(sonde_ingest_stats *st);
void sonde_ingest_stats_release(sonde_ingest_stats *st);

/* Ingests buf[0..len), named source (a path, or "-"), into s, adding to *st. Returns 0
 * (bad records may have been skipped: st->rejected), SONDE_EFORMAT when the format cannot
 * be told or read, SONDE_EPARSE when strict and a record is bad, or a store error. On
 * failure errmsg (when non-NULL) holds a sentence naming the source; batches appended
 * before the failure stay stored. *fmt_out (when non-NULL) is the format used. */
int sonde_ingest_buffer(sonde_store *s, const char *source, const char *buf, size_t len,
                        const sonde_ingest_opts *o, sonde_ingest_stats *st, const sonde_format **fmt_out,
                        char *errmsg, size_t errmsg_len);

/* As sonde_ingest_buffer() for the file at path ("-": standard input), which is mapped,
 * not read into memory (standard input is read whole). -errno when it cannot be opened. */
int sonde_ingest_file(sonde_store *s, const char *path, const sonde_ingest_opts *o, sonde_ingest_stats *st,
                      const sonde_format **fmt_out, char *errmsg, size_t errmsg_len);

#endif
