/*
 * metrics.h - libsonde's metrics: counters, gauges, histograms and summaries that cost a
 * few nanoseconds to update, collected into the OpenTelemetry metrics model and served to
 * Prometheus.
 *
 * Objects and lifetimes. A meter (sonde_meter_get) stands for an instrumentation scope;
 * it creates instruments; an instrument and one attribute set make a series. Meters,
 * instruments and series live until the process exits: pointers to them never dangle,
 * and nothing here needs freeing except readers. Every constructor returns a usable
 * object even when out of memory or given bad arguments (a no-op that records nothing;
 * the reason goes to sonde_set_diagnostics), so instrumentation code needs no checks.
 *
 * Recording. An update either names its attributes on every call (unbound:
 * sonde_instrument_add(counter, 1, attrs, 3), the set looked up without a lock, through a
 * per-thread cache of the caller's array, then by hash) or goes through a series resolved
 * once (bound: sonde_series_add(s, 1)). Updates land in
 * cells owned by the calling thread - no lock, no allocation, no system call, and no cache
 * line shared with another thread - and are merged when a reader collects. A thread's
 * first update of a series it has not touched before may allocate its cell block (once
 * per 4096 cells), and the first use of a new attribute set takes the metrics lock to
 * create its series. Gauges (set) keep one value per series, written with a plain
 * atomic store.
 *
 * Cardinality. An instrument keeps at most cardinality_limit series (default 2000, as
 * OpenTelemetry says): once limit - 1 attribute sets exist, updates with a new set go to
 * one overflow series whose only attribute is otel.metric.overflow=true. Series are never
 * forgotten.
 *
 * Temporality. Readers collect cumulative values (since the process, or the fork that
 * made it, started) by default, deltas (since the reader's previous collection) on
 * request. Summaries report count and sum cumulatively and quantiles over a sliding time
 * window, as Prometheus summaries do.
 *
 * Threads and fork. Every function may be called from any thread. A thread's cells are
 * folded into the series when the thread exits, so nothing it counted is lost. After
 * fork() the child starts clean: its instruments and series (and the handles the program
 * holds) stay valid, every value starts again from zero with a new start time, the
 * child inherits no Prometheus endpoint (it may start its own), and it never reports what
 * the parent counted before the fork.
 *
 * libsonde never prints: problems (a bad name, a full cardinality table, memory) go to
 * the callback of sonde_set_diagnostics (trace.h).
 */
#ifndef SONDE_METRICS_H
#define SONDE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sonde/trace.h" /* sonde_attr, sonde_set_diagnostics */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sonde_meter sonde_meter;
typedef struct sonde_instrument sonde_instrument;
typedef struct sonde_series sonde_series;
typedef struct sonde_observer sonde_observer;
typedef struct sonde_metric_reader sonde_metric_reader;
struct sonde_batch; /* src/model/telemetry.h: the OpenTelemetry model sonde's tools use */

/* ---- Meters ----------------------------------------------------------------------- */

/* Returns the meter of an instrumentation scope (name required; version and schema_url
 * may be NULL). The same arguments return the same meter. Never NULL. */
sonde_meter *sonde_meter_get(const char *scope_name, const char *scope_version, const char *schema_url);

/* ---- Simple instruments ----------------------------------------------------------- */

/* Names follow OpenTelemetry's instrument name syntax (a letter, then up to 254 of
 * letters, digits, '_', '.', '-', '/'); units are UCUM ("s", "ms", "By", "1",
 * "{request}"); both are exported as given and mapped to Prometheus names by the
 * endpoint ("http.server.duration" in "s" becomes http_server_duration_seconds). unit and
 * description may be NULL. Creating an instrument whose name, kind and unit equal an
 * existing one of the same meter returns that instrument. */

/* A monotonic counter of int64 (or double) increments; negative increments are ignored. */
sonde_instrument *sonde_counter_new(sonde_meter *m, const char *name, const char *unit,
                                    const char *description);
sonde_instrument *sonde_counter_new_double(sonde_meter *m, const char *name, const char *unit,
                                           const char *description);
/* A counter that may go down (queue lengths, items in use). */
sonde_instrument *sonde_updown_counter_new(sonde_meter *m, const char *name, const char *unit,
                                           const char *description);
/* A gauge: the last value set wins (double). */
sonde_instrument *sonde_gauge_new(sonde_meter *m, const char *name, const char *unit,
                                  const char *description);
/* A histogram with explicit bucket bounds (ascending, finite; NULL: OpenTelemetry's
 * default 0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000).
 * Buckets are upper-inclusive: a value v falls in the first bucket whose bound is >= v. */
sonde_instrument *sonde_histogram_new(sonde_meter *m, const char *name, const char *unit,
                                      const char *description, const double *bounds, size_t bounds_count);
/* A base-2 exponential histogram (OpenTelemetry's Base2 Exponential Bucket Histogram:
 * at most 160 buckets per sign, scale starting at 20 and lowered as the data's range
 * needs, a zero bucket, min, max and sum). */
sonde_instrument *sonde_exp_histogram_new(sonde_meter *m, const char *name, const char *unit,
                                          const char *description);
/* A summary: count, sum, and the given quantiles (each in [0, 1]; NULL: 0.5, 0.9, 0.99)
 * over the last 10 minutes, estimated by a mergeable sketch with at most 1% relative
 * error for values in [1e-9, 9e12). */
sonde_instrument *sonde_summary_new(sonde_meter *m, const char *name, const char *unit,
                                    const char *description, const double *quantiles, size_t quantiles_count);

/* ---- Instruments with every option ------------------------------------------------ */

typedef enum sonde_instrument_kind {
	SONDE_INSTRUMENT_COUNTER = 1,
	SONDE_INSTRUMENT_UPDOWN_COUNTER,
	SONDE_INSTRUMENT_GAUGE,
	SONDE_INSTRUMENT_HISTOGRAM,
	SONDE_INSTRUMENT_SUMMARY,
	/* Asynchronous instruments: a callback reports their values at each collection. An
	 * observable counter reports a monotonic running total, an up-down counter a total,
	 * a gauge the current value. */
	SONDE_INSTRUMENT_OBSERVABLE_COUNTER,
	SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER,
	SONDE_INSTRUMENT_OBSERVABLE_GAUGE,
} sonde_instrument_kind;

/* The number type of counters and gauges (histograms and summaries are double). */
typedef enum sonde_metric_value_type {
	SONDE_METRIC_DOUBLE = 0,
	SONDE_METRIC_INT = 1,
} sonde_metric_value_type;

typedef enum sonde_histogram_buckets {
	SONDE_HISTOGRAM_EXPLICIT = 0,
	SONDE_HISTOGRAM_EXPONENTIAL = 1,
} sonde_histogram_buckets;

/* Called at every collection, on the collecting thread, with the metrics lock held: it
 * may call only sonde_observe*() (any other metrics call from it deadlocks). */
typedef void (*sonde_observe_fn)(sonde_observer *o, void *ud);

/* Options of sonde_instrument_new. Zero means the default given. Strings and arrays are
 * copied. */
typedef struct sonde_instrument_opts {
	sonde_instrument_kind kind; /* required */
	const char *name;           /* required */
	const char *unit;
	const char *description;
	sonde_metric_value_type value_type;
	uint32_t cardinality_limit; /* series, overflow included; default 2000 */
	/* Histograms. */
	sonde_histogram_buckets buckets;
	const double *bounds; /* explicit: ascending, finite, at most 256; NULL: defaults */
	size_t bounds_count;
	uint32_t max_size;  /* exponential: buckets per sign, 1..160; default 160 */
	int32_t max_scale;  /* exponential: -10..20, used when max_scale_set; default 20 */
	bool max_scale_set; /* (0 is a valid scale) */
	bool no_min_max;    /* histograms: leave min and max out */
	/* Summaries. */
	const double *quantiles; /* each in [0, 1], at most 16; NULL: 0.5, 0.9, 0.99 */
	size_t quantiles_count;
	uint32_t max_age_ms;  /* the quantiles' sliding window; default 600000 (10 min) */
	uint32_t age_buckets; /* the window moves in max_age_ms / age_buckets steps; 1..32, default 5 */
	/* Observable instruments. */
	sonde_observe_fn callback;
	void *callback_ud; /* borrowed for the process' lifetime */
} sonde_instrument_opts;

/* Creates an instrument; see the options above. Never NULL: a bad option gives a no-op
 * instrument (reported). */
sonde_instrument *sonde_instrument_new(sonde_meter *m, const sonde_instrument_opts *opts);

/* ---- Recording -------------------------------------------------------------------- */

/* Unbound updates: attrs (copied when a new series is made; NULL with n == 0 for none)
 * name the series on each call. Only string, bool, int and double attributes are kept;
 * array attributes are ignored. A key given twice keeps its last value.
 * add: counters and up-down counters; set: gauges; record: histograms and summaries. An
 * update of the wrong kind is ignored. */
void sonde_instrument_add(sonde_instrument *i, int64_t value, const sonde_attr *attrs, size_t n);
void sonde_instrument_add_double(sonde_instrument *i, double value, const sonde_attr *attrs, size_t n);
void sonde_instrument_set(sonde_instrument *i, double value, const sonde_attr *attrs, size_t n);
void sonde_instrument_record(sonde_instrument *i, double value, const sonde_attr *attrs, size_t n);

/* Bound series: resolves (instrument, attributes) once. The series lives as long as the
 * instrument; never NULL (the overflow series when the cardinality limit is reached, a
 * no-op when memory is short). */
sonde_series *sonde_instrument_bind(sonde_instrument *i, const sonde_attr *attrs, size_t n);

/* Bound updates: a few loads and stores into the calling thread's cell. An int counter
 * given a double rounds it; a double counter given an int converts it. */
void sonde_series_add(sonde_series *s, int64_t value);
void sonde_series_add_double(sonde_series *s, double value);
void sonde_series_set(sonde_series *s, double value);
void sonde_series_record(sonde_series *s, double value);

/* Timers: records a duration in nanoseconds into a histogram or summary, converted to
 * the instrument's unit ("s" by default when the unit is not a time unit; "ms", "us",
 * "ns", "min", "h" honoured). */
void sonde_series_record_ns(sonde_series *s, uint64_t duration_ns);
/* A timestamp for sonde_series_record_since (CPU ticks; cheap, no system call where the
 * TSC is invariant). */
uint64_t sonde_timer_start(void);
/* Records the time since start (from sonde_timer_start) as sonde_series_record_ns does. */
void sonde_series_record_since(sonde_series *s, uint64_t start);

typedef struct sonde__timer_scope {
	sonde_series *s;
	uint64_t start;
} sonde__timer_scope;
static inline void sonde__timer_scope_done(sonde__timer_scope *t)
{
	sonde_series_record_since(t->s, t->start);
}
/* Records how long the enclosing C block took into a bound histogram or summary:
 *     SONDE_TIMER_SCOPE(request_seconds_series);
 */
#define SONDE__CAT2(a, b) a##b
#define SONDE__CAT(a, b)  SONDE__CAT2(a, b)
#define SONDE_TIMER_SCOPE(series)                              \
	sonde__timer_scope SONDE__CAT(sonde__timer_, __LINE__) \
	        __attribute__((cleanup(sonde__timer_scope_done), unused)) = {(series), sonde_timer_start()}

/* Observations, from an observable instrument's callback only. */
void sonde_observe(sonde_observer *o, double value, const sonde_attr *attrs, size_t n);
void sonde_observe_int(sonde_observer *o, int64_t value, const sonde_attr *attrs, size_t n);

/* ---- Configuration ---------------------------------------------------------------- */

typedef struct sonde_metrics_config {
	/* The resource reported with the metrics, as in sonde_trace_config: service.name
	 * (else OTEL_SERVICE_NAME, else "unknown_service:<exe>"), service.version, and
	 * "k=v,k2=v2" attributes merged over OTEL_RESOURCE_ATTRIBUTES. */
	const char *service_name;
	const char *service_version;
	const char *resource_attributes;
	uint32_t cardinality_limit; /* default of instruments created afterwards; 0: 2000 */
} sonde_metrics_config;

/* Sets the resource and defaults; may be called at any time (the resource applies from
 * the next collection). Without it, the environment gives the resource. Returns 0 or
 * -ENOMEM. */
int sonde_metrics_configure(const sonde_metrics_config *cfg);

/* ---- Collection ------------------------------------------------------------------- */

typedef enum sonde_metric_temporality {
	SONDE_METRICS_CUMULATIVE = 0,
	SONDE_METRICS_DELTA = 1,
} sonde_metric_temporality;

/* A reader collects every instrument of every meter. A delta reader keeps, per series,
 * what it reported last (its own state: several readers may coexist). NULL when out of
 * memory. Free with sonde_metric_reader_free (NULL is a no-op). */
sonde_metric_reader *sonde_metric_reader_new(sonde_metric_temporality temporality);
void sonde_metric_reader_free(sonde_metric_reader *r);
/* Runs the observable callbacks and appends one metric per instrument with data (one
 * resource, one scope per meter) to b, a sonde_batch (src/model/telemetry.h). Sums are
 * monotonic for counters; delta histograms carry no min and max (they are not kept per
 * interval). Returns 0 or -ENOMEM (b may then hold part of the metrics). Readers may be
 * used from any thread; collections are serialised. */
int sonde_metric_reader_collect(sonde_metric_reader *r, struct sonde_batch *b);

/* ---- Prometheus ------------------------------------------------------------------- */

/* The exposition of every instrument, cumulative, as the endpoint serves it: Prometheus
 * text 0.0.4, or OpenMetrics 1.0 text when openmetrics. Names and units mapped as the
 * OpenTelemetry Prometheus exporter maps them, exponential histograms written as classic
 * histograms with their bucket boundaries, the resource as target_info. On success
 * returns 0 and *out (caller frees with free()) holding *len bytes, NUL-terminated;
 * -ENOMEM otherwise. */
int sonde_metrics_prometheus_text(bool openmetrics, char **out, size_t *len);

/* Serves GET /metrics over HTTP (libmicrohttpd, its own thread) at addr, "host:port"
 * with a numeric IPv4 host ("127.0.0.1:9464" when NULL; port 0 picks a free port); the
 * Accept header choosing OpenMetrics gets OpenMetrics. One endpoint per process.
 * Returns 0, -EALREADY when running, -EINVAL for a bad address, or the -errno of the
 * failure to listen (-EADDRINUSE ...). */
int sonde_metrics_prometheus_start(const char *addr);
/* The port the endpoint listens on, or 0 when it is not running. */
uint16_t sonde_metrics_prometheus_port(void);
/* Stops the endpoint (waits for the request being served); a no-op when it is not running. */
void sonde_metrics_prometheus_stop(void);

#ifdef __cplusplus
}
#endif
#endif
