/*
 * config.h - one configuration file for all of libsonde, in the OpenTelemetry declarative
 * configuration format (YAML, file_format "0.3" to "1.0"), with a `sonde:` block for what
 * OpenTelemetry does not cover (log level, sinks and redaction, scoped profiling,
 * runtime and host metrics). docs/configuration.md lists every key.
 *
 * Precedence: programmatic settings (the sonde_trace_config given to sonde_config_start)
 * over OTEL_* / SONDE_* environment variables over the file over the defaults.
 *
 * Without any call, sonde_trace_init() loads the file named by OTEL_CONFIG_FILE (or
 * OTEL_EXPERIMENTAL_CONFIG_FILE) itself: its cfg argument is then the programmatic layer.
 *
 * Errors: a bad file is refused with a message naming the file, line and key
 * ("config.yaml:12: tracer_provider.sampler: unknown sampler 'alwayz_on'"); keys libsonde
 * does not know are reported through sonde_set_diagnostics ("config.yaml:7:
 * tracer_provider.foo: unknown key, ignored") and otherwise ignored.
 *
 * Thread safety: a sonde_config is immutable once parsed; any thread may start from it.
 */
#ifndef SONDE_CONFIG_H
#define SONDE_CONFIG_H

#include <stddef.h>

#include "sonde/trace.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sonde_config sonde_config;

/* Reads and checks the file at path. Returns 0 with *out (free with sonde_config_free),
 * -errno when the file cannot be read, -EINVAL when it is malformed, -ENOMEM. On failure
 * err (when not NULL) holds one line saying why ("path:line: key: what"). */
int sonde_config_load(const char *path, sonde_config **out, char *err, size_t err_len);
/* As sonde_config_load, from memory; name stands for the file in messages. */
int sonde_config_parse(const char *text, size_t len, const char *name, sonde_config **out, char *err,
                       size_t err_len);
void sonde_config_free(sonde_config *c);

/* The number of unknown keys the parse reported (warnings). */
unsigned sonde_config_warnings(const sonde_config *c);

/*
 * Starts libsonde from c: creates the exporters and the sampler the file names, then calls
 * sonde_trace_init with program's settings (may be NULL) over the environment over the
 * file; then the metric views, the Prometheus endpoint of a pull reader, runtime and host
 * metrics, and scoped profiling. Returns what sonde_trace_init returns, -EINVAL when an
 * exporter cannot be made from the file's settings (reported), or the -errno of starting
 * the Prometheus endpoint.
 */
int sonde_config_start(const sonde_config *c, const sonde_trace_config *program);

#ifdef __cplusplus
}
#endif
#endif
