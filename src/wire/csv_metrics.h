/*
 * csv_metrics.h - metric series in CSV (`csv`), as spreadsheets, exporters and benchmark
 * corpora such as NAB write them: a header line naming the columns, then one row per
 * time.
 *
 * The time column is the one whose header is timestamp, time, ts, date or datetime (any
 * case), else the first. Its cells are timestamps in any layout of logline.h, or epoch
 * numbers (seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude).
 * Every other column is a gauge named after its header cell, with one double point per
 * non-empty cell (finite numbers only: NaN and infinities are errors). Cells may be quoted ("1,5" with "" for a quote); a header cell is
 * trimmed of spaces. All series go under one resource with no attributes (ingest adds the
 * service name) and an empty scope.
 */
#ifndef SONDE_CSV_METRICS_H
#define SONDE_CSV_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry.h"
#include "wire_error.h"

/* Most columns a CSV file may have. */
#define SONDE_CSV_MAX_COLUMNS 256

/* Appends the series of buf to b. Returns 0, SONDE_EPARSE (err gives line, offset, the
 * column as field, and what was expected) or -ENOMEM; on failure b is as it was. */
int sonde_csv_metrics_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                           sonde_wire_error *err);
/* True when buf starts like such a file: a header of two or more non-numeric cells and a
 * first row with as many cells whose time cell parses. */
bool sonde_csv_metrics_sniff(const char *buf, size_t len);

#endif
