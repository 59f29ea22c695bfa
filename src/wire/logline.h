/*
 * logline.h - log files as telemetry: JSON-lines logs, plain-text logs, and the timestamp
 * and level recognisers they share with the CSV metrics reader.
 *
 * JSON-lines logs (`logs-jsonl`): one JSON object per line, as structured loggers write
 * them (zap, zerolog, logrus, bunyan, pino, structlog, Serilog, ECS). Known members take
 * their OpenTelemetry place: ts/time/timestamp/@timestamp/t (RFC 3339 text, or epoch
 * seconds, milliseconds, microseconds or nanoseconds told apart by magnitude) the time;
 * level/severity/lvl/loglevel/levelname/log.level (a word, or a bunyan/pino number) the
 * severity; msg/message/body/log the body; trace_id/traceId/trace.id/traceid and
 * span_id/spanId/span.id the context; service/service.name/service_name the resource's
 * service.name. Every other member becomes an attribute (objects as their JSON text).
 *
 * Plain-text logs (`logs-text`): one record per line; a line that begins with white space
 * or with "Caused by:" continues the record before it (stack traces). The record's body is
 * its text as written; its time is the first timestamp found at a word boundary in the
 * first 128 bytes, in any of these layouts:
 *   ISO 8601 / RFC 3339  2024-05-01T12:00:00.123Z, 2024-05-01 12:00:00,123 (Python,
 *                        log4j), 2024/05/01 12:00:00, 2005-06-03-15.42.50.675872
 *   syslog (RFC 3164)    Jun 14 15:16:01 (the year from default_time_ns)
 *   Apache error / ctime [Sun Dec 04 04:47:44 2005]
 *   Apache access (CLF)  [10/Oct/2000:13:55:36 -0700]
 *   java.util.logging    Jan 02, 2006 3:04:05 PM
 *   yy/MM/dd HH:mm:ss    17/06/09 20:10:40 (Spark), yyMMdd HHmmss 081109 203615 (HDFS)
 *   yyyyMMdd-HH:mm:ss:SSS 20171223-22:15:29:606
 *   epoch seconds        a 10-digit number (1000000000..9999999999), as BGL writes
 * Times without a zone are UTC. Its severity is the first level word (TRACE, DEBUG, INFO,
 * NOTICE, WARN, WARNING, ERROR, ERR, SEVERE, CRITICAL, CRIT, FATAL, EMERG, ALERT, PANIC,
 * FINE, FINER, FINEST, CONFIG, any case, maybe in brackets) in the first 160 bytes.
 *
 * Both readers put each record under a resource with no attributes and an empty scope;
 * ingest adds the service name it knows. On a bad line they fail with SONDE_EPARSE and
 * the line, leaving the batch as it was.
 */
#ifndef SONDE_LOGLINE_H
#define SONDE_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "telemetry.h"
#include "wire_error.h"

/* Parses a timestamp that starts exactly at s[0] in one of the layouts above. Returns the
 * number of bytes it spans (0: none) and sets *ns to UTC epoch nanoseconds. Layouts
 * without a year take the year of default_time_ns (or the year before, when that would
 * put the time more than a day after default_time_ns). */
size_t sonde_logtime_parse(const char *s, size_t n, uint64_t default_time_ns, uint64_t *ns);
/* Finds the first timestamp at a word boundary in the first 128 bytes of line[0..n).
 * Returns true and sets *ns, *at (offset) and *len. */
bool sonde_logtime_find(const char *line, size_t n, uint64_t default_time_ns, uint64_t *ns, size_t *at,
                        size_t *len);
/* An epoch number of unknown unit as nanoseconds: below 1e11 seconds, below 1e14
 * milliseconds, below 1e17 microseconds, else nanoseconds. Negative, or past what int64
 * nanoseconds hold (the year 2262): false. */
bool sonde_logtime_epoch(double v, uint64_t *ns);
/* OpenTelemetry SeverityNumber of a level word (any case), 0 when s is not one. */
int32_t sonde_log_severity(const char *s, size_t n);
/* Finds the first level word in the first 160 bytes of line; returns its severity number
 * (0: none) and sets *at and *len to the word. */
int32_t sonde_log_severity_find(const char *line, size_t n, size_t *at, size_t *len);
/* True when the line continues the record before it (see above). */
bool sonde_logtext_is_continuation(const char *line, size_t n);

/* Appends the records of buf to b (see above). Returns 0, SONDE_EPARSE (err says where)
 * or -ENOMEM; on failure b holds what it held before. */
int sonde_logjson_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                       sonde_wire_error *err);
int sonde_logtext_read(sonde_batch *b, const char *buf, size_t len, uint64_t default_time_ns,
                       sonde_wire_error *err);

/* Appends every log record of b as one JSON line (see logline_write.c for the fields).
 * Returns 0 or -ENOMEM. */
int sonde_logjson_write(const sonde_batch *b, sonde_buf *out);

/* Content sniffing for formats.c: true when buf looks like JSON-lines logs (its first
 * line an object with a time, level or message member), or like plain-text logs (text,
 * with a timestamp or level on one of its first lines). */
bool sonde_logjson_sniff(const char *buf, size_t len);
bool sonde_logtext_sniff(const char *buf, size_t len);

#endif
