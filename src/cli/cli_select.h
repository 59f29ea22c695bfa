/*
 * cli_select.h - the SEL argument of `sonde compare` and `sonde canary` (--baseline,
 * --current): text into a sonde_selection (selector.h).
 *
 * SEL is one or more terms joined by commas, all of which must hold:
 *   version=V, service.version=V   spans of that release (V, or V followed by '.')
 *   service=S, service.name=S      spans of that service
 *   last:D                         the D (15m, 2h, ...) up to the newest span stored
 *   SINCE..UNTIL                   a window; either side may be empty; times as --since
 *                                  takes them (RFC 3339, a date, or a duration ago:
 *                                  before now, or before the newest span with --at-data)
 *   file:PATH, or PATH alone       a telemetry file (any format `sonde ingest` reads),
 *                                  read into a temporary in-memory store instead of --db
 * A SEL that is exactly the path of an existing file is that file.
 */
#ifndef SONDE_CLI_SELECT_H
#define SONDE_CLI_SELECT_H

#include <stdbool.h>

#include "selector.h"
#include "store.h"

typedef struct sonde_cli_sel {
	sonde_selection sel;
	char *text;         /* owned copy of the SEL; the selection's strings point into it */
	sonde_store *owned; /* a file's temporary store, or NULL */
} sonde_cli_sel;

/* Help text describing SEL, for the verbs' --help. */
#define SONDE_SEL_HELP                                                                             \
	"SEL (--baseline, --current): terms joined by commas, all of which must hold:\n"           \
	"  version=V | service.version=V   that release (V itself, or V.x: version=2 takes 2.1)\n" \
	"  service=S                       that service\n"                                         \
	"  last:D                          the last D (15m, 2h) up to the newest span stored\n"    \
	"  SINCE..UNTIL                    a window (RFC 3339, a date, or 2h..1h ago)\n"           \
	"  file:PATH | PATH                a telemetry file, read instead of the store\n"

/* Parses text (the value of option opt) into *out. The user's store is opened, read-only,
 * into *db (from db_uri, else $SONDE_DB, else ./sonde.db) when a selection needs it and
 * *db is still NULL; the caller closes it. Problems are printed ("sonde VERB: --opt 'SEL':
 * ..."). Returns an exit code (0 or 2). Release *out in any case. */
int sonde_cli_sel_parse(const char *verb, const char *opt, const char *text, const char *db_uri, bool at_data,
                        sonde_store **db, sonde_cli_sel *out);
void sonde_cli_sel_release(sonde_cli_sel *s);

/* Records a verdict in the store's event journal (journal.h) at now (sonde_cli_now_ns),
 * so that post-mortems and reports find it: kind "canary" or "compare", a one-line
 * summary and the verdict's JSON. Only when a selection read the user's store (db
 * non-NULL): the store named by db_uri / $SONDE_DB / ./sonde.db is then opened for
 * writing. A failure is a warning on stderr, never the verb's failure. */
void sonde_cli_record_verdict(const char *verb, const sonde_store *db, const char *db_uri,
                              const char *summary, const char *detail_json);

#endif
