/*
 * influx_read.h - reading InfluxDB line protocol into metrics (the writer is influx.h).
 *
 * Each line is `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, with
 * the escapes the protocol defines (backslash before comma, space and equals sign in
 * names; before quote and backslash in string fields); '#' starts a comment line. A
 * field named value becomes a point of the gauge named after the measurement, any other
 * field a point of the gauge measurement_field (so what influx.h writes for gauges and
 * sums reads back under the same names). Floats stay doubles, integers (42i) and unsigned
 * integers (42u) become integer points, booleans 1 or 0; string fields are not numbers
 * and are left out. The tag service.name becomes the resource's service.name; the other
 * tags are the point's attributes. Timestamps are nanoseconds; a line without one takes
 * default_time_ns.
 */
#ifndef SONDE_INFLUX_READ_H
#define SONDE_INFLUX_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "telemetry.h"
#include "wire_error.h"

/* Appends the points of buf to b. Returns 0, SONDE_EPARSE (err says line, offset, field)
 * or -ENOMEM; on failure b is as it was. */
int sonde_influx_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                      sonde_wire_error *err);
/* True when the first line that is not a comment has the shape of line protocol: a
 * measurement, then after a space a field with '='. */
bool sonde_influx_sniff(const char *buf, size_t len);

#endif
