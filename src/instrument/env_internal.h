/*
 * env_internal.h - reading OTEL_* environment variables the way the OpenTelemetry
 * specification (configuration/sdk-environment-variables.md) asks: an empty value means
 * unset, a bad value is reported through sonde__diag and ignored, never fatal.
 *
 * The getters read the process environment with getenv(), so they belong to the
 * configuration step (sonde_trace_init, the exporter constructors), not to code that may run
 * while another thread calls setenv(). The parsers take plain strings and never report, so
 * configuration values that come from code can share them.
 */
#ifndef SONDE_ENV_INTERNAL_H
#define SONDE_ENV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Returns the value of name when it is set and holds more than blanks, else NULL.
 * Borrowed from the environment: valid until the variable changes. */
const char *sonde__env_get(const char *name);

/* As sonde__env_get, with blanks around the value removed, into a heap copy. Returns 1 with
 * *out set (caller frees), 0 when unset (*out = NULL), or -ENOMEM. */
int sonde__env_str(const char *name, char **out);

/* Reads a duration: a non-negative integer count of milliseconds, blanks around it
 * allowed. Returns 1 with *out_ms set, 0 when unset, or -EINVAL (reported, naming the
 * variable; *out_ms untouched) when the value is not such a number or exceeds UINT32_MAX. */
int sonde__env_ms(const char *name, uint32_t *out_ms);

/* Reads a count (a span limit, a queue size): a non-negative integer, blanks around it
 * allowed. Returns 1 with *out set, 0 when unset, or -EINVAL (reported; *out untouched). */
int sonde__env_u32(const char *name, uint32_t *out);

/* Reads a boolean: "true" or "false" in any case. Returns 1 with *out set, 0 when unset,
 * or -EINVAL (reported; *out is then false, as the specification says any other value
 * means false). */
int sonde__env_bool(const char *name, bool *out);

/* Reads one of choices[0..n) (compared case-insensitively, blanks around the value
 * ignored). Returns its index, -ENOENT when unset, or -EINVAL for any other value
 * (reported with the variable's name and value). */
int sonde__env_choice(const char *name, const char *const *choices, size_t n);

/* Parses what sonde__env_ms accepts from s. Returns 0 with *out_ms set or -EINVAL. */
int sonde__parse_ms(const char *s, uint32_t *out_ms);

/* Percent-decodes s[0..n) ("%2C" -> ","; '+' stays '+') into out, which needs n + 1 bytes,
 * and NUL-terminates it. Returns the decoded length, or -EINVAL for '%' not followed by two
 * hex digits. The result may hold NUL bytes (from "%00"). */
ssize_t sonde__percent_decode(const char *s, size_t n, char *out);

/* Called once per member of a key/value list: key is trimmed and NUL-terminated; value is
 * trimmed, percent-decoded and NUL-terminated, value_len counting its bytes (it may hold
 * NULs). Both are borrowed for the call. A negative return stops the walk and is returned
 * by sonde__kvlist_parse. */
typedef int (*sonde__kv_fn)(void *ud, const char *key, const char *value, size_t value_len);

/*
 * Walks a list in the W3C Baggage syntax the OTEL_* variables use
 * (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES): "k1=v1,k2=v2", blanks around keys
 * and values ignored, values percent-encoded. Members split at the first '='. Empty members
 * (",,") are skipped silently; a member without '=', with an empty key, or with a bad
 * percent escape is reported through sonde__diag (naming what, e.g. the variable) and
 * skipped. ';' has no special meaning: properties are not part of these variables.
 * Returns the number of members passed to fn, -ENOMEM, or fn's negative return.
 */
int sonde__kvlist_parse(const char *list, const char *what, sonde__kv_fn fn, void *ud);

#endif
