/*
 * log.h - libsonde's structured logs: records stamped with the current span's trace
 * context, secrets removed before they leave the process, and a call site that cannot
 * flood the service.
 *
 * A record carries its time (ns), severity (OpenTelemetry SeverityNumber and text), body,
 * attributes, the process resource, and - when the calling thread has a current span -
 * that span's trace_id, span_id and trace flags. Records travel like spans: the caller
 * copies the record into a slot of its thread's buffer and hands it to libsonde's
 * background thread, which redacts, batches and delivers it to every exporter that takes
 * logs (OTLP/HTTP to /v1/logs, the OTLP JSON file, the console, and the JSON-lines log
 * sink of sonde_exporter_log_json_new). Logging never blocks: when the thread's slots
 * are used up the record is dropped and counted.
 *
 * Logs need the runtime: sonde_trace_init() starts it (its `logs` settings apply here).
 * Before init and after shutdown every call returns at once.
 *
 * Level filter: records below the minimum severity are not recorded. The minimum comes
 * from sonde_log_set_level(), else the config, else SONDE_LOG_LEVEL (trace, debug, info,
 * warn, error, fatal), else info. The check is one load and a compare.
 *
 * Rate limiting: SONDE_LOG / SONDE_LOGF sites allow at most N records per second each
 * (config logs.rate_limit, SONDE_LOG_RATE_LIMIT, default 100); the rest are counted, and
 * the site's next record carries sonde.log.suppressed = how many it lost since its last
 * record. The plain functions are not rate limited.
 *
 * Redaction (on by default, on the background thread): attributes whose key names a
 * secret lose their value; bearer tokens, JWTs, AWS access keys, PEM private keys, card
 * numbers that pass the Luhn check and US social security numbers in bodies and string
 * attributes are replaced by a marker naming what was removed; values longer than
 * logs.max_value_length are cut with their original length noted.
 *
 * Thread safety: every function may be called from any thread, and from a child after
 * fork() (its records are its own).
 */
#ifndef SONDE_LOG_H
#define SONDE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sonde/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Severities, as OpenTelemetry numbers them (the first number of each range). */
typedef enum sonde_log_level {
	SONDE_LOG_TRACE = 1,
	SONDE_LOG_DEBUG = 5,
	SONDE_LOG_INFO = 9,
	SONDE_LOG_WARN = 13,
	SONDE_LOG_ERROR = 17,
	SONDE_LOG_FATAL = 21,
} sonde_log_level;

/* The minimum severity recorded (read on every call; set by init and sonde_log_set_level). */
extern int sonde__log_min;

/* True when a record of this severity would be recorded. */
static inline bool sonde_log_enabled(sonde_log_level level)
{
	return (int)level >= __atomic_load_n(&sonde__log_min, __ATOMIC_RELAXED);
}

/* Sets the minimum severity from now on (programmatic settings win over config and
 * environment). */
void sonde_log_set_level(sonde_log_level level);

/* Records body (copied; NULL is an empty body) with n attributes. Severity numbers
 * between the named ones (e.g. 18 for ERROR2) are kept as given. */
void sonde_log(sonde_log_level level, const char *body, const sonde_attr *attrs, size_t n);
/* Records a body formatted like printf (vsnprintf into the record, at most 4 KiB). */
void sonde_logf(sonde_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sonde_logv(sonde_log_level level, const char *fmt, va_list ap);

/* ---- Rate-limited call sites ------------------------------------------------------- */

/* The state of one call site: a static variable the SONDE_LOG macros declare. */
typedef struct sonde_log_site {
	const char *file;
	int line;
	_Atomic uint64_t window;     /* the second the count belongs to (+1; 0: none yet) */
	_Atomic uint32_t count;      /* records in that second */
	_Atomic uint64_t suppressed; /* dropped by the limit, not yet reported */
} sonde_log_site;

#define SONDE_LOG_SITE_INIT                        \
	{                                          \
		.file = __FILE__, .line = __LINE__ \
	}

void sonde_log_site_emit(sonde_log_site *site, sonde_log_level level, const char *body,
                         const sonde_attr *attrs, size_t n);
void sonde_log_site_emitf(sonde_log_site *site, sonde_log_level level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* SONDE_LOG(SONDE_LOG_WARN, "cache miss", SONDE_ATTR_STR("key", k), SONDE_ATTR_INT("shard", 3));
 * A rate-limited site with attributes (none is fine). */
#define SONDE_LOG(level, body, ...)                                                            \
	do {                                                                                   \
		static sonde_log_site sonde_site_ = SONDE_LOG_SITE_INIT;                       \
		if (sonde_log_enabled(level)) {                                                \
			const sonde_attr sonde_attrs_[] = {{0}, ##__VA_ARGS__};                \
			sonde_log_site_emit(&sonde_site_, (level), (body), sonde_attrs_ + 1,   \
			                    sizeof sonde_attrs_ / sizeof sonde_attrs_[0] - 1); \
		}                                                                              \
	} while (0)

/* SONDE_LOGF(SONDE_LOG_ERROR, "order %d failed: %s", id, why); a rate-limited printf site. */
#define SONDE_LOGF(level, ...)                                                    \
	do {                                                                      \
		static sonde_log_site sonde_site_ = SONDE_LOG_SITE_INIT;          \
		if (sonde_log_enabled(level))                                     \
			sonde_log_site_emitf(&sonde_site_, (level), __VA_ARGS__); \
	} while (0)

/* ---- Statistics -------------------------------------------------------------------- */

typedef struct sonde_log_stats {
	uint64_t recorded;   /* records copied into buffers */
	uint64_t dropped;    /* lost because the thread's buffer was full */
	uint64_t suppressed; /* lost to per-site rate limits */
	uint64_t exported;   /* delivered to every exporter that takes logs */
	uint64_t failed;     /* given up by an exporter */
	uint64_t redacted;   /* values replaced or cut by redaction */
} sonde_log_stats;

void sonde_log_stats_get(sonde_log_stats *out);

/* A sink of JSON lines, one record per line, with the field names of OpenTelemetry's
 * guidance for trace context in non-OTLP logs: {"timestamp":"2026-11-22T09:41:07.123456789Z",
 * "severity_text":"ERROR","severity_number":17,"body":"...","trace_id":"<32 hex>",
 * "span_id":"<16 hex>","trace_flags":"01","service.name":"shop","attributes":{...}}.
 * Writes to path (appended, created if missing) or, when path is NULL, to fd (2 for
 * stderr). Takes only logs. Hand it to sonde_trace_init like any exporter. */
sonde_exporter *sonde_exporter_log_json_new(const char *path, int fd);

#ifdef __cplusplus
}
#endif
#endif
