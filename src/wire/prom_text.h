/*
 * prom_text.h - the Prometheus text exposition format (0.0.4) and OpenMetrics 1.0 text:
 * a reader into sonde metrics, a writer from them, and the OpenTelemetry <-> Prometheus
 * name mapping of the OpenTelemetry "Prometheus and OpenMetrics Compatibility" spec.
 *
 * Reading maps families to metrics: counter -> monotonic cumulative SUM; gauge, unknown,
 * untyped, stateset and info -> GAUGE; histogram -> cumulative HISTOGRAM (cumulative
 * bucket counts become per-bucket counts, le values the bounds); gaugehistogram ->
 * HISTOGRAM with unspecified temporality; summary -> SUMMARY. A metric is named as its
 * family, except info ("build_info") and OpenMetrics counters ("requests_total"), named
 * as their samples so that both flavors give a counter the same name. HELP becomes the
 * description, UNIT the unit ("seconds" -> "s"). Each metric's metadata holds
 * prometheus.type (the family's TYPE, "unknown" when absent or untyped), which the writer
 * uses to give info, stateset and unknown families back their type. Values are read as
 * doubles. Samples sharing a label set (less le and quantile) and timestamp are one point,
 * with the labels as attributes; a repeated sample with another timestamp starts the
 * series' next point.
 *
 * Writing follows the compatibility spec: names sanitized and given unit and type
 * suffixes, one family per name (metrics whose families clash in type are dropped, and
 * a repeated series is written once), resource attributes as a target_info family,
 * scope name and version as otel_scope_name / otel_scope_version labels. Not written, as
 * the text formats cannot carry them: delta sums and histograms, exponential histograms,
 * and points flagged "no recorded value". Exemplars (OpenMetrics only) go on the counter
 * sample and on the histogram bucket holding their value, the largest per bucket.
 * Timestamps are omitted unless asked for, as Prometheus clients do.
 */
#ifndef SONDE_PROM_TEXT_H
#define SONDE_PROM_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "telemetry.h"
#include "wire_error.h"

typedef enum sonde_prom_flavor {
	SONDE_PROM_TEXT_004 = 0,      /* text/plain; version=0.0.4 */
	SONDE_PROM_OPENMETRICS_1 = 1, /* application/openmetrics-text; version=1.0.0 */
} sonde_prom_flavor;

/* Reads a Prometheus text exposition (0.0.4) or an OpenMetrics 1.0 document into metrics
 * of one new resource and scope (both empty). The flavor is detected: a "# EOF" line, a
 * "# UNIT" line or an OpenMetrics-only type (info, stateset, gaugehistogram) mean
 * OpenMetrics, which must then end with "# EOF". Timestamps are milliseconds in 0.0.4 and
 * seconds in OpenMetrics; samples without one get default_time_ns. A timestamp before
 * 1970 is kept as its int64 nanoseconds cast to uint64. Appends to b; on failure returns
 * SONDE_EPARSE (err says line, offset, field and what was expected) or -ENOMEM, and b
 * holds the metrics it held before. */
int sonde_prom_text_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                         sonde_wire_error *err);

typedef struct sonde_prom_write_opts {
	sonde_prom_flavor flavor;
	bool timestamps;      /* write each sample's time (ms in 0.0.4, s in OpenMetrics) */
	bool no_target_info;  /* leave out target_info */
	bool no_scope_labels; /* leave out otel_scope_name / otel_scope_version */
} sonde_prom_write_opts;

/* Appends b's metrics to out as an exposition of the given flavor (OpenMetrics ends with
 * "# EOF"), with default options. Returns 0 or -ENOMEM. */
int sonde_prom_text_write(const sonde_batch *b, sonde_prom_flavor flavor, sonde_buf *out);
/* As sonde_prom_text_write(), with options (NULL: defaults of 0.0.4). */
int sonde_prom_text_write_opts(const sonde_batch *b, const sonde_prom_write_opts *opts, sonde_buf *out);

/* ---- Name mapping (prom_names.c) --------------------------------------------------- */

/* Appends name with every character outside [a-zA-Z0-9_:] (metric names) or
 * [a-zA-Z0-9_] (label names, metric == false) replaced by '_', a run of them by one '_',
 * and '_' put before a leading digit. Underscores of the name itself are kept, so a valid
 * name comes out unchanged and Prometheus names survive a round trip. */
void sonde_prom_sanitize(sonde_buf *out, const char *name, size_t len, bool metric);
/* Appends the Prometheus unit for an OpenTelemetry (UCUM) unit: "s" -> "seconds",
 * "By/s" -> "bytes_per_second", "{packet}" -> "", "1" -> "ratio" when gauge, else "".
 * Units without a mapping are sanitized and kept. */
void sonde_prom_unit_suffix(sonde_buf *out, const char *unit, size_t len, bool gauge);
/* Appends the OpenTelemetry unit for a Prometheus UNIT: "milliseconds" -> "ms",
 * "ratio" -> "1", "bytes_per_second" -> "By/s"; unknown words are kept. */
void sonde_prom_unit_from_prom(sonde_buf *out, const char *unit, size_t len);
/* Appends the name of m's family as the TYPE line of the flavor names it ("requests" with
 * a monotonic sum: "requests_total" in 0.0.4, "requests" in OpenMetrics). Returns false,
 * appending nothing, when m is not written in that flavor. */
bool sonde_prom_family_name(sonde_buf *out, const sonde_metric_data *m, sonde_prom_flavor flavor);

/* ---- Shared by sonde's writers (internal) ------------------------------------------ */

/* How a metric is written: the Prometheus type of its family, or SKIP. */
typedef enum sonde__prom_kind {
	SONDE__PROM_SKIP = 0,
	SONDE__PROM_COUNTER,
	SONDE__PROM_GAUGE,
	SONDE__PROM_UNKNOWN,
	SONDE__PROM_INFO,
	SONDE__PROM_STATESET,
	SONDE__PROM_HISTOGRAM,
	SONDE__PROM_GAUGEHISTOGRAM,
	SONDE__PROM_SUMMARY,
} sonde__prom_kind;

sonde__prom_kind sonde__prom_kind_of(const sonde_metric_data *m);
/* sonde_prom_family_name() for a metric of the given kind. */
void sonde__prom_family_name(sonde_buf *out, const sonde_metric_data *m, sonde__prom_kind kind,
                             sonde_prom_flavor flavor);
/* Appends a double as Go's strconv.FormatFloat(d, 'g', -1, 64) does: shortest text that
 * reads back exactly ("0.005", "1e+06", "+Inf", "NaN"); canonical adds ".0" to integral
 * numbers written without exponent, as OpenMetrics wants for le and quantile labels. */
void sonde__prom_double(sonde_buf *out, double d, bool canonical);
/* Appends an attribute value as a label value: strings as they are, other kinds as the
 * OpenTelemetry attribute spec says (arrays and maps as JSON, bytes as base64). */
void sonde__prom_value_text(sonde_buf *out, const sonde_value *v);

#endif
