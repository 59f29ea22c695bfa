/*
 * trace.h - libsonde's distributed tracing: spans that cost tens of nanoseconds, with
 * W3C context propagation, OpenTelemetry samplers, and export by a background thread.
 *
 * Lifecycle: sonde_trace_init() configures the process-wide provider once (resource,
 * sampler, limits, exporters; OTEL_* environment variables fill what the config leaves
 * unset); sonde_tracer_get() returns a tracer per instrumentation scope; spans are
 * started and ended on any thread; sonde_trace_shutdown() flushes and stops. Without
 * init, tracing is disabled and every call costs one predicted branch.
 *
 * The hot path - starting a span, setting attributes, adding events, ending it - touches
 * only the calling thread's memory: no lock, no allocation, no system call. An ended span
 * is handed to the exporter thread through a per-thread ring; when a thread's span slots
 * run out, new spans are dropped and counted, never waited for.
 *
 * Thread safety: every function may be called from any thread. A sonde_span belongs to
 * the thread that started it until it ends, unless handed over explicitly (see
 * sonde_span_start_ex with SONDE_SPAN_DETACHED). fork() is safe: the child starts with
 * empty buffers and its own exporter thread.
 */
#ifndef SONDE_TRACE_H
#define SONDE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sonde/propagation.h"
#include "sonde/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sonde_tracer sonde_tracer;
typedef struct sonde_span sonde_span;
typedef struct sonde_sampler sonde_sampler;
typedef struct sonde_exporter sonde_exporter;

/* ---- Attributes as arguments ------------------------------------------------------ */

typedef enum sonde_attr_type {
	SONDE_ATTR_STRING = 1,
	SONDE_ATTR_BOOL,
	SONDE_ATTR_INT,
	SONDE_ATTR_DOUBLE,
	SONDE_ATTR_STRING_ARRAY,
	SONDE_ATTR_BOOL_ARRAY,
	SONDE_ATTR_INT_ARRAY,
	SONDE_ATTR_DOUBLE_ARRAY,
} sonde_attr_type;

/* One attribute passed to an event, a link, or sonde_span_set_attrs(). Strings and arrays
 * are copied; the caller's memory is borrowed only for the call. */
typedef struct sonde_attr {
	const char *key;
	sonde_attr_type type;
	union {
		const char *s;
		bool b;
		int64_t i;
		double d;
		struct {
			const void *items; /* const char *const[], bool[], int64_t[], double[] */
			size_t count;
		} array;
	} v;
} sonde_attr;

#define SONDE_ATTR_STR(k, val)  ((sonde_attr){.key = (k), .type = SONDE_ATTR_STRING, .v.s = (val)})
#define SONDE_ATTR_INT(k, val)  ((sonde_attr){.key = (k), .type = SONDE_ATTR_INT, .v.i = (val)})
#define SONDE_ATTR_DBL(k, val)  ((sonde_attr){.key = (k), .type = SONDE_ATTR_DOUBLE, .v.d = (val)})
#define SONDE_ATTR_BOOL(k, val) ((sonde_attr){.key = (k), .type = SONDE_ATTR_BOOL, .v.b = (val)})

/* ---- Configuration ---------------------------------------------------------------- */

/* Span limits (OpenTelemetry SpanLimits). Zero means the default given. What exceeds a
 * limit is dropped and counted in the span's dropped_*_count, as OTLP reports it. */
typedef struct sonde_span_limits {
	uint32_t attribute_count; /* per span; default 128 (OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT) */
	uint32_t
	        attribute_value_length; /* bytes; default unlimited (OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT) */
	uint32_t event_count;           /* default 128 (OTEL_SPAN_EVENT_COUNT_LIMIT) */
	uint32_t link_count;            /* default 128 (OTEL_SPAN_LINK_COUNT_LIMIT) */
	uint32_t event_attribute_count; /* default 128 (OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT) */
	uint32_t link_attribute_count;  /* default 128 (OTEL_LINK_ATTRIBUTE_COUNT_LIMIT) */
} sonde_span_limits;

/* Batch span processor settings (OpenTelemetry semantics). Zero means the default, or the
 * OTEL_BSP_* environment variable when set. */
typedef struct sonde_batch_config {
	uint32_t max_queue_size;        /* spans buffered per process; default 2048 */
	uint32_t schedule_delay_ms;     /* default 5000 */
	uint32_t max_export_batch_size; /* default 512 */
	uint32_t export_timeout_ms;     /* default 30000 */
} sonde_batch_config;

/* Log settings (see log.h). Zero means the environment variable named, else the default. */
typedef struct sonde_log_config {
	int level;                 /* minimum severity (sonde_log_level); SONDE_LOG_LEVEL, else info (9) */
	uint32_t rate_limit;       /* records per second per SONDE_LOG site; SONDE_LOG_RATE_LIMIT, else
	                      * 100; UINT32_MAX: no limit */
	uint32_t max_value_length; /* bytes of a body or string attribute kept; default 4096 */
	bool redact_off;           /* keep secrets (SONDE_LOG_REDACT=off); redaction is on by default */
	bool redact_email;         /* also replace e-mail addresses (SONDE_LOG_REDACT_EMAIL=true) */
	const char *redact_keys;   /* more secret attribute keys, "k1,k2" (SONDE_LOG_REDACT_KEYS) */
} sonde_log_config;

typedef struct sonde_trace_config {
	/* Resource: service.name (else OTEL_SERVICE_NAME, else "unknown_service:<exe>"),
	 * service.version, and "k=v,k2=v2" extra attributes (merged with
	 * OTEL_RESOURCE_ATTRIBUTES; the config wins). host.name, process.pid,
	 * process.executable.name, telemetry.sdk.* are added automatically. */
	const char *service_name;
	const char *service_version;
	const char *resource_attributes;
	/* Sampler (owned by the provider after init); NULL: OTEL_TRACES_SAMPLER, else
	 * parentbased_always_on. */
	sonde_sampler *sampler;
	/* Exporters (owned by the provider after init); none: OTEL_TRACES_EXPORTER, else otlp. */
	sonde_exporter *exporters[8];
	size_t exporters_count;
	sonde_span_limits limits;
	sonde_batch_config batch;
	/* Finished spans shorter than this are dropped unless their status is ERROR; their
	 * kept descendants keep pointing at them, nothing is invented. 0: keep all. */
	uint64_t min_duration_ns;
	/* Record thread CPU time and page faults of every span (attributes
	 * thread.cpu_time_ns, process.page_faults.minor/major): costs two system calls per
	 * span, so it is opt-in. */
	bool record_rusage;
	/* Read span timestamps with an ordered clock read (RDTSCP, or LFENCE+RDTSC), which
	 * waits for the work before it to complete: plain RDTSC may run ahead of work still in
	 * flight, so a span of a few hundred ns around cache misses can read much shorter. Costs
	 * about 18 ns a sampled span on this project's host (docs/tracing.md), so it is opt-in. */
	bool ordered_clock;
	/* Logs (log.h): they share the runtime and the exporters; an exporter that takes logs
	 * (OTLP/HTTP, file, console, the JSON-lines log sink) receives them. */
	sonde_log_config logs;
	/* Metrics (metrics.h) pushed to the exporters that take them (OTLP/HTTP to /v1/metrics,
	 * the file, the console), cumulative, every interval: OTEL_METRIC_EXPORT_INTERVAL, else
	 * 60000 ms; also at each force flush and at shutdown. metrics_off: never pushed (the
	 * Prometheus endpoint is unaffected). */
	uint32_t metrics_interval_ms;
	bool metrics_off;
} sonde_trace_config;

/* Configures and starts tracing (the exporter thread starts lazily, with the first ended
 * span). cfg may be NULL: everything from the environment. Returns 0, -EALREADY when
 * already initialised, -EBUSY while the exporter thread of a shutdown that timed out is
 * still inside its export call (retry later), -EINVAL for a bad setting (reported via
 * sonde_set_diagnostics). */
int sonde_trace_init(const sonde_trace_config *cfg);
/* Exports everything ended so far; waits at most timeout_ms. Returns 0, or -ETIMEDOUT. */
int sonde_trace_force_flush(uint32_t timeout_ms);
/* Flushes, stops the exporter thread, shuts the exporters down and frees them; returns
 * within timeout_ms even when a peer is gone. Tracing is disabled afterwards. Returns 0,
 * or -ETIMEDOUT: then the exporter thread is left to finish its current export call and
 * frees the exporters itself. */
int sonde_trace_shutdown(uint32_t timeout_ms);

/* libsonde never prints. To see what it would have said (bad OTEL_* values, export
 * failures, partial successes), install a callback; it runs on the thread that found the
 * problem (usually the exporter thread) and must not call back into libsonde. */
void sonde_set_diagnostics(void (*fn)(void *ud, const char *msg), void *ud);

/* Counters of the process-wide pipeline since sonde_trace_init. */
typedef struct sonde_tracer_stats {
	uint64_t spans_started;  /* recording spans started */
	uint64_t spans_ended;    /* recording spans ended and queued */
	uint64_t spans_dropped;  /* lost: no free slot or queue full */
	uint64_t spans_filtered; /* dropped by the minimum-duration filter */
	uint64_t spans_exported; /* accepted by every exporter */
	uint64_t spans_failed;   /* given up after retries */
	uint64_t export_batches;
	uint64_t export_retries;
} sonde_tracer_stats;
void sonde_tracer_stats_get(sonde_tracer_stats *out);

/* ---- Tracers and spans ------------------------------------------------------------ */

/* Returns the tracer of an instrumentation scope (name required; version and schema_url
 * may be NULL). The same arguments return the same tracer. Tracers live until exit; never
 * NULL (a no-op tracer when tracing is disabled or memory is short). */
sonde_tracer *sonde_tracer_get(const char *scope_name, const char *scope_version, const char *schema_url);

/* Options of sonde_span_start_ex. */
typedef struct sonde_span_opts {
	sonde_span_kind kind;             /* default INTERNAL */
	const sonde_span_context *parent; /* explicit parent (e.g. extracted); NULL: current span */
	bool root;                        /* ignore any current span: start a new trace */
	uint64_t start_ns;                /* explicit start, Unix epoch ns; 0: now */
	uint32_t flags;                   /* SONDE_SPAN_* */
	const sonde_attr *attrs;          /* attributes known at start (the sampler sees them) */
	size_t attrs_count;
} sonde_span_opts;

enum {
	/* Do not make the span the thread's current span: for work that hops threads.
	 * Such a span may be ended on another thread. */
	SONDE_SPAN_DETACHED = 1u << 0,
	/* Record thread CPU time and page faults for this span (see record_rusage). */
	SONDE_SPAN_RUSAGE = 1u << 1,
};

/* Internal, used by the inline functions below: whether tracing is on (so a disabled
 * span costs one predicted branch), the span returned when it is off, and the calls
 * behind start, end and the scalar setters. The inline wrappers pass string lengths so
 * that a literal's length is folded at compile time. */
extern bool sonde__tracing_on;
extern struct sonde_span sonde__noop_span;
sonde_span *sonde__span_start(sonde_tracer *t, const char *name, const sonde_span_opts *opts);
sonde_span *sonde__span_start_n(sonde_tracer *t, const char *name, size_t name_len);
void sonde__span_end(sonde_span *s, uint64_t end_ns);
void sonde__span_end_now(sonde_span *s); /* sonde__span_end(s, 0), one argument fewer */
/* (key and value may be NULL only with a length of 0, as the wrappers pass them.) */
void sonde__span_set_str_n(sonde_span *s, const char *key, size_t key_len, const char *value,
                           size_t value_len);
void sonde__span_set_int_n(sonde_span *s, const char *key, size_t key_len, int64_t value);
void sonde__span_set_double_n(sonde_span *s, const char *key, size_t key_len, double value);
void sonde__span_set_bool_n(sonde_span *s, const char *key, size_t key_len, bool value);

/* Starts a span as a child of this thread's current span (or a root) and makes it current.
 * name is copied. Never returns NULL: when not sampled or dropped, returns a span that
 * records nothing but still carries a context to propagate. (A non-recording child of a
 * non-recording span on the same thread is that span, shared: it carries the parent's
 * context and costs a counter; end it as usual.) */
static inline sonde_span *sonde_span_start(sonde_tracer *t, const char *name)
{
	/* The caller's code is laid out for tracing off, where it is the whole cost (a load
	 * and a branch, in a short straight line); on, the call behind it dominates. The load
	 * is atomic so that a caller's loop reads the flag every time. */
	if (__builtin_expect(!__atomic_load_n(&sonde__tracing_on, __ATOMIC_RELAXED), 1))
		return &sonde__noop_span;
	return sonde__span_start_n(t, name, name ? __builtin_strlen(name) : 0);
}
sonde_span *sonde_span_start_ex(sonde_tracer *t, const char *name, const sonde_span_opts *opts);

/* Ends the span now (or at end_ns, Unix epoch ns). If it is the thread's current span,
 * its parent becomes current again. The span must not be used afterwards. */
static inline void sonde_span_end(sonde_span *s)
{
	if (s != &sonde__noop_span)
		sonde__span_end_now(s);
}
void sonde_span_end_at(sonde_span *s, uint64_t end_ns);

/* True when the span is sampled and records what is set on it. */
bool sonde_span_is_recording(const sonde_span *s);
/* Copies the span's context (ids, flags, trace state) into out. */
void sonde_span_context_get(const sonde_span *s, sonde_span_context *out);

/* Attribute setters. Keys and values are copied. Setting a key again replaces its value.
 * (The four scalar setters are also macros over inline wrappers, so that the lengths of
 * literal keys are known at compile time; the functions exist for bindings.) */
void sonde_span_set_str(sonde_span *s, const char *key, const char *value);
void sonde_span_set_strn(sonde_span *s, const char *key, const char *value, size_t len);
void sonde_span_set_int(sonde_span *s, const char *key, int64_t value);
void sonde_span_set_double(sonde_span *s, const char *key, double value);
void sonde_span_set_bool(sonde_span *s, const char *key, bool value);

static inline void sonde__span_set_str_i(sonde_span *s, const char *key, const char *value)
{
	sonde__span_set_str_n(s, key, key ? __builtin_strlen(key) : 0, value,
	                      value ? __builtin_strlen(value) : 0);
}
static inline void sonde__span_set_int_i(sonde_span *s, const char *key, int64_t value)
{
	sonde__span_set_int_n(s, key, key ? __builtin_strlen(key) : 0, value);
}
static inline void sonde__span_set_double_i(sonde_span *s, const char *key, double value)
{
	sonde__span_set_double_n(s, key, key ? __builtin_strlen(key) : 0, value);
}
static inline void sonde__span_set_bool_i(sonde_span *s, const char *key, bool value)
{
	sonde__span_set_bool_n(s, key, key ? __builtin_strlen(key) : 0, value);
}
#define sonde_span_set_str(s, key, value)    sonde__span_set_str_i((s), (key), (value))
#define sonde_span_set_int(s, key, value)    sonde__span_set_int_i((s), (key), (value))
#define sonde_span_set_double(s, key, value) sonde__span_set_double_i((s), (key), (value))
#define sonde_span_set_bool(s, key, value)   sonde__span_set_bool_i((s), (key), (value))
void sonde_span_set_attrs(sonde_span *s, const sonde_attr *attrs, size_t n);
void sonde_span_set_name(sonde_span *s, const char *name);
/* Sets the status; message is kept only with SONDE_STATUS_ERROR, as OpenTelemetry says.
 * OK is final: a later ERROR does not override it. */
void sonde_span_set_status(sonde_span *s, sonde_status_code code, const char *message);
/* Adds an event now (or at time_ns). */
void sonde_span_add_event(sonde_span *s, const char *name, const sonde_attr *attrs, size_t n);
void sonde_span_add_event_at(sonde_span *s, const char *name, uint64_t time_ns, const sonde_attr *attrs,
                             size_t n);
/* Records an "exception" event (exception.type, exception.message, exception.stacktrace;
 * any may be NULL) and sets status ERROR with the message unless already set. */
void sonde_span_record_exception(sonde_span *s, const char *type, const char *message,
                                 const char *stacktrace);
void sonde_span_add_link(sonde_span *s, const sonde_span_context *ctx, const sonde_attr *attrs, size_t n);

/* ---- Current span, per thread ------------------------------------------------------- */

/* The thread's current span, or NULL. */
sonde_span *sonde_span_current(void);
/* Makes a span current on this thread without ending anything (e.g. a detached span
 * resumed on a worker thread); pop restores the previous one. Push/pop must pair. */
void sonde_span_push(sonde_span *s);
void sonde_span_pop(void);

static inline void sonde__span_scope_end(sonde_span **s)
{
	sonde_span_end(*s);
}

/* Starts a span that ends when the enclosing C block is left (by any path):
 *     SONDE_SPAN_SCOPE(span, tracer, "load config");
 *     sonde_span_set_int(span, "files", n);
 */
#define SONDE_SPAN_SCOPE(var, tracer, name) \
	sonde_span *var __attribute__((cleanup(sonde__span_scope_end))) = sonde_span_start((tracer), (name))

/* ---- Samplers ----------------------------------------------------------------------- */

/* Samplers are configured once and given to sonde_trace_init (which owns them). Each
 * returns NULL only when out of memory. */
sonde_sampler *sonde_sampler_always_on(void);
sonde_sampler *sonde_sampler_always_off(void);
/* TraceIdRatioBased: samples when the trace id's low 56 bits fall under ratio; consistent
 * (a higher ratio samples a superset). */
sonde_sampler *sonde_sampler_trace_id_ratio(double ratio);
/* The OpenTelemetry probability sampler with consistent thresholds (tracestate "ot=th:"),
 * writing the threshold into the span's tracestate. */
sonde_sampler *sonde_sampler_probability(double probability);
/* ParentBased: root decides for roots; the other four for each kind of parent (NULL
 * means the spec's default: always_on for sampled parents, always_off for unsampled). */
sonde_sampler *sonde_sampler_parent_based(sonde_sampler *root, sonde_sampler *remote_sampled,
                                          sonde_sampler *remote_not_sampled, sonde_sampler *local_sampled,
                                          sonde_sampler *local_not_sampled);
/* At most spans_per_second sampled root spans (token bucket); children follow parents
 * when wrapped in parent_based. */
sonde_sampler *sonde_sampler_rate_limiting(double spans_per_second);
/* The sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG describe (default
 * parentbased_always_on). Bad values fall back to the default and are reported. */
sonde_sampler *sonde_sampler_from_env(void);
void sonde_sampler_free(sonde_sampler *s);

#ifdef __cplusplus
}
#endif
#endif
