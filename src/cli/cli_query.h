/*
 * cli_query.h - what the investigation verbs (traces, trace, latency, queries) share:
 * the store they open (--db, SONDE_DB, ./sonde.db), the time window (--since, --until,
 * --at-data), filters (--service, --operation, --attr, --error, --min-duration), --json,
 * and the terminal (colour only on a terminal, its width).
 *
 * Times: absolute RFC 3339 ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.5+02:00", or a
 * date "2024-05-01", UTC) or relative ("15m", "2h", "1d", "90s", "1w", "500ms"): so long
 * before now, or, with --at-data, before the newest span in the store (for stored files
 * whose timestamps are not recent). --until takes the same forms.
 */
#ifndef SONDE_CLI_QUERY_H
#define SONDE_CLI_QUERY_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "term.h"

/* getopt_long codes of the shared options; a verb's own options use codes from
 * SONDE_QOPT_END up. */
enum {
	SONDE_QOPT_DB = 1000,
	SONDE_QOPT_JSON,
	SONDE_QOPT_SINCE,
	SONDE_QOPT_UNTIL,
	SONDE_QOPT_AT_DATA,
	SONDE_QOPT_SERVICE,
	SONDE_QOPT_OPERATION,
	SONDE_QOPT_ATTR,
	SONDE_QOPT_ERROR,
	SONDE_QOPT_MIN_DURATION,
	SONDE_QOPT_LIMIT,
	SONDE_QOPT_COLOR,
	SONDE_QOPT_END,
};

/* The long options above, to copy into a verb's option table. */
#define SONDE_QOPT_LONGOPTS                                                                           \
	{"db", required_argument, NULL, SONDE_QOPT_DB}, {"json", no_argument, NULL, SONDE_QOPT_JSON}, \
	        {"since", required_argument, NULL, SONDE_QOPT_SINCE},                                 \
	        {"until", required_argument, NULL, SONDE_QOPT_UNTIL},                                 \
	        {"at-data", no_argument, NULL, SONDE_QOPT_AT_DATA},                                   \
	        {"service", required_argument, NULL, SONDE_QOPT_SERVICE},                             \
	        {"operation", required_argument, NULL, SONDE_QOPT_OPERATION},                         \
	        {"attr", required_argument, NULL, SONDE_QOPT_ATTR},                                   \
	        {"error", no_argument, NULL, SONDE_QOPT_ERROR},                                       \
	        {"min-duration", required_argument, NULL, SONDE_QOPT_MIN_DURATION},                   \
	        {"limit", required_argument, NULL, SONDE_QOPT_LIMIT},                                 \
	{                                                                                             \
		"color", required_argument, NULL, SONDE_QOPT_COLOR                                    \
	}

/* Help text for the shared options. */
#define SONDE_QOPT_HELP                                                                                  \
	"  --db PATH           the store (default $SONDE_DB, else ./sonde.db)\n"                         \
	"  --since TIME        from TIME: RFC 3339, a date, or relative (15m, 2h, 1d ago)\n"             \
	"  --until TIME        up to TIME (same forms)\n"                                                \
	"  --at-data           relative times count back from the newest span stored, not now\n"         \
	"  --service NAME      only spans of this service\n"                                             \
	"  --operation NAME    only spans with this name\n"                                              \
	"  --attr KEY=VALUE    only spans (or resources) with this attribute value; KEY alone: has it\n" \
	"  --error             only failed spans (status ERROR)\n"                                       \
	"  --min-duration D    only spans at least this long (100ms, 2s, 1.5m)\n"                        \
	"  --limit N           at most N rows\n"                                                         \
	"  --json              JSON for scripts instead of tables\n"                                     \
	"  --color WHEN        auto (default: on a terminal), always, never\n"

typedef struct sonde_qopts {
	const char *verb;
	const char *db;
	bool json, at_data, error;
	const char *since, *until; /* as given; resolved by sonde_qopts_open() */
	const char *service, *operation;
	sonde_attr_match attrs[16];
	size_t attrs_count;
	uint64_t min_duration_ns;
	size_t limit;
	bool limit_set;
	int color; /* -1 auto, 0 never, 1 always */
	/* after sonde_qopts_open() */
	sonde_store *store;
	sonde_query q;
	sonde_term_opts term;
} sonde_qopts;

void sonde_qopts_init(sonde_qopts *o, const char *verb);
/* Handles one getopt_long result c (optarg) if it is a shared option. Returns 1 when
 * handled, 0 when c is not shared, or -1 after printing a usage error. */
int sonde_qopts_parse(sonde_qopts *o, int c, const char *arg);
/* Opens the store read-only, resolves the window and fills o->q and o->term. Returns an
 * exit code; on failure the problem was printed. */
int sonde_qopts_open(sonde_qopts *o);
void sonde_qopts_close(sonde_qopts *o);

/* Parses a duration ("250ms", "1.5s", "15m", "2h", "1d", "1w", "42us", "100ns"; a bare
 * number is seconds). Returns 0 or -1. */
int sonde_cli_parse_duration(const char *s, uint64_t *ns);
/* Parses an absolute time (RFC 3339, or a date YYYY-MM-DD, UTC) into Unix ns. Returns 0
 * or -1. */
int sonde_cli_parse_time(const char *s, uint64_t *ns);
/* Parses a time for --since/--until: absolute, or relative = ref_ns - duration. */
int sonde_cli_parse_when(const char *s, uint64_t ref_ns, uint64_t *ns);
/* Writes out to standard output. Returns an exit code. */
int sonde_cli_emit(const char *verb, const sonde_buf *out);

#endif
