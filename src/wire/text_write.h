/*
 * text_write.h - telemetry as readable text, one line per span, log record or data point.
 *
 * For people, not programs: the development console exporter and `sonde convert --to text`
 * use it. Times are UTC ISO 8601 with milliseconds, durations in adaptive units, ids
 * abbreviated to their first 8 hex digits. Not a format anything reads back.
 */
#ifndef SONDE_TEXT_WRITE_H
#define SONDE_TEXT_WRITE_H

#include "buf.h"
#include "telemetry.h"

/* Appends every record of b to out. Returns 0 or -ENOMEM. */
int sonde_text_write(const sonde_batch *b, sonde_buf *out);
/* Appends one value the way the text writer shows attributes (strings unquoted). */
void sonde_text_value(sonde_buf *out, const sonde_value *v);
/* Appends a duration in ns as "812ns", "3.20us", "12.5ms", "1.204s", and from 100 s on in
 * its two largest units, "5m07s", "2h05m", "3d04h" (the second left out when zero: "2h"). */
void sonde_text_duration(sonde_buf *out, uint64_t ns);
/* Appends a Unix-epoch ns time as "2026-11-22T06:02:29.123Z" ("-" for 0). */
void sonde_text_time(sonde_buf *out, uint64_t ns);

#endif
