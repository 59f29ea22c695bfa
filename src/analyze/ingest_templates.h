/*
 * ingest_templates.h - log templates at ingest: the glue between the store's ingest
 * engine (src/store/ingest.h, which cannot call the miner: analyze sits above store) and
 * the template miner (logmine.h).
 *
 * sonde_ingest_templates_new() loads the templates stored by earlier ingests into a fresh
 * miner (sonde_logmine_load), so later lines join them and keep their ids; set
 * opts.on_logs = sonde_ingest_templates_hook and opts.logs_ctx = the handle, and every
 * log record with a text body gets the id of the template its first line matched, stored
 * with the record; the templates are written in the same transaction.
 *
 * A template id is the one a record got when it was stored: the miner may later widen a
 * template (a constant becomes <*>), which gives the widened template a new id, while
 * records stored before keep the old one. No refinement runs at ingest, for that reason.
 *
 * Not thread-safe: one handle per ingest.
 */
#ifndef SONDE_INGEST_TEMPLATES_H
#define SONDE_INGEST_TEMPLATES_H

#include <stddef.h>

#include "ingest.h"
#include "store.h"

typedef struct sonde_ingest_templates sonde_ingest_templates;

/* Creates a handle whose miner holds s's stored templates. With a backend that keeps no
 * templates (ClickHouse) the hook does nothing. Returns 0 and *out (free with sonde_ingest_templates_free), or a negative
 * code with a sentence in err[0..errlen). */
int sonde_ingest_templates_new(sonde_store *s, sonde_ingest_templates **out, char *err, size_t errlen);
/* NULL is a no-op. */
void sonde_ingest_templates_free(sonde_ingest_templates *t);
/* The number of templates loaded from the store at creation. */
size_t sonde_ingest_templates_loaded(const sonde_ingest_templates *t);

/* The sonde_ingest_opts.on_logs hook; ctx is the handle. */
int sonde_ingest_templates_hook(void *ctx, const sonde_batch *b, sonde_ingest_log_templates *out);

#endif
