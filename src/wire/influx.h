/*
 * influx.h - metrics in InfluxDB line protocol, for pushing to InfluxDB or Telegraf.
 *
 * One line per data point: the metric name as measurement, the point's attributes (and
 * the resource's service.name) as tags, the values as fields, the time in nanoseconds.
 * Gauges and sums have one field, value (integers with the i suffix); histograms have
 * count, sum, min, max and one le_<bound> field per bucket holding the cumulative count
 * (le_+Inf last); exponential histograms count, sum, min, max and zero_count; summaries
 * count, sum and one quantile_<q> field per quantile. Line protocol has no NaN or
 * infinity, so such fields are left out (and a line left without fields is not written).
 * Points without a time get no timestamp: the server stamps them.
 */
#ifndef SONDE_INFLUX_H
#define SONDE_INFLUX_H

#include "buf.h"
#include "telemetry.h"

/* Appends a line per data point of b's metrics to out. Returns 0 or -ENOMEM (out is then
 * as it was). */
int sonde_influx_write(const sonde_batch *b, sonde_buf *out);

#endif
