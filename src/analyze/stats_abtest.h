/*
 * stats_abtest.h - the input of an A/B test, read and tallied: per variant (and per
 * variant and segment) the users, the conversions and the metric values, from per-unit
 * outcomes or from aggregate counts. `sonde abtest` runs the tests of stats.h on it.
 *
 * Accepted input (sonde_abtest_read sniffs which):
 *   - CSV with a header line. Columns are found by name (any case, trimmed):
 *     variant (or group, arm); per-unit outcomes: converted (or conversion), value (or
 *     metric), segment; aggregate counts: users (or total, visitors, n) and conversions
 *     (or converted, successes), with an optional segment. Cells may be quoted.
 *     converted is 0/1/true/false/yes/no; value a finite number, or empty when the unit
 *     has none (it then does not count in the metric). Other columns are ignored.
 *   - JSON Lines: one object per line with the same names ("converted" may be a boolean
 *     or 0/1). Blank lines are skipped in both.
 * A per-unit row counts as one user of its variant. Aggregate rows add to their variant's
 * users and conversions (rows of one variant in several segments add up).
 *
 * Lifetime: caller-embedded sonde_abtest_data, _init/_release; names are copied. Not
 * thread-safe.
 */
#ifndef SONDE_STATS_ABTEST_H
#define SONDE_STATS_ABTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire_error.h"

#define SONDE_ABTEST_MAX_VARIANTS 64
#define SONDE_ABTEST_MAX_SEGMENTS 1024

typedef struct sonde_abtest_cell {
	uint64_t users, conversions;
} sonde_abtest_cell;

typedef struct sonde_abtest_variant {
	char *name; /* owned */
	uint64_t users, conversions;
	double *values; /* owned; the metric values of its units */
	size_t values_count, values_cap;
} sonde_abtest_variant;

typedef struct sonde_abtest_data {
	sonde_abtest_variant *variants; /* in order of first appearance */
	size_t variants_count;
	char **segments; /* owned; in order of first appearance */
	size_t segments_count;
	/* Users and conversions per segment and variant: cells[s * SONDE_ABTEST_MAX_VARIANTS +
	 * v] for s < segments_count (owned). */
	sonde_abtest_cell *cells;
	bool has_conversion; /* conversions were given (a column, or counts) */
	bool has_value;      /* a value column was given */
	bool aggregate;      /* the input was counts, not units */
} sonde_abtest_data;

void sonde_abtest_data_init(sonde_abtest_data *d);
void sonde_abtest_data_release(sonde_abtest_data *d);

/* Reads buf[0..len) (CSV or JSON Lines, as above) into d, adding to what it holds.
 * Returns 0, SONDE_EPARSE (err gives the line, offset, column and what was expected; d
 * may hold part of the input and is to be released), or -ENOMEM. */
int sonde_abtest_read(sonde_abtest_data *d, const char *buf, size_t len, sonde_wire_error *err);

/* Adds an aggregate count for variant name (segment NULL: none). Returns 0, -EINVAL
 * (conversions > users, too many variants or segments, or units already read), or
 * -ENOMEM. */
int sonde_abtest_add_counts(sonde_abtest_data *d, const char *name, size_t name_len, const char *segment,
                            size_t segment_len, uint64_t conversions, uint64_t users);

/* The variant called name, or -1. */
ssize_t sonde_abtest_find_variant(const sonde_abtest_data *d, const char *name);

#endif
