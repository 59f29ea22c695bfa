/*
 * config_internal.h - the configuration file's YAML as a tree (config_yaml.c) and the
 * hooks between config.c and the rest of libsonde.
 *
 * The tree. libyaml's event parser builds maps, sequences and scalars in an arena, each
 * node with its 1-based line. Scalars hold their text after the environment-variable
 * substitution of the OpenTelemetry configuration specification: ${VAR}, ${env:VAR},
 * ${VAR:-default} and $$ for a literal $, in scalar values only (never in keys); a plain
 * (unquoted) scalar keeps the YAML type its substituted text has (true, 42, null).
 * Anchors and aliases are resolved by sharing the anchored node (no copying, so nothing
 * grows exponentially). Limits: 64 levels, 100,000 nodes, 1 MiB of input.
 */
#ifndef SONDE_CONFIG_INTERNAL_H
#define SONDE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

struct sonde_trace_config;
struct sonde_exporter;

typedef enum sonde__cnode_kind {
	SONDE__CN_NULL = 0, /* an empty value, "~" or "null" */
	SONDE__CN_SCALAR,
	SONDE__CN_MAP,
	SONDE__CN_SEQ,
} sonde__cnode_kind;

typedef struct sonde__cnode sonde__cnode;
struct sonde__cnode {
	sonde__cnode_kind kind;
	uint32_t line;
	bool plain; /* scalar written without quotes: may be a bool or number */
	char *text; /* scalar: NUL-terminated (may not hold NUL bytes) */
	size_t len;
	uint32_t n;          /* map: pairs; seq: items */
	sonde__cnode **keys; /* map: scalar keys */
	sonde__cnode **vals; /* map: values; seq: items */
};

#define SONDE__CONFIG_MAX_BYTES (1u << 20)
#define SONDE__CONFIG_MAX_DEPTH 64
#define SONDE__CONFIG_MAX_NODES 100000

/* Parses text[0..len) (one YAML document; an empty input is an empty map) into a tree
 * allocated in a. Returns 0 with *root set, or -EINVAL with err holding
 * "<name>:<line>: <what>" (a YAML syntax error, a bad ${...} reference, a limit), or
 * -ENOMEM. */
int sonde__yaml_tree(const char *text, size_t len, const char *name, sonde_arena *a, sonde__cnode **root,
                     char *err, size_t err_len);

/* Substitutes environment references in s[0..n) (see above) into a NUL-terminated arena
 * string. Returns 0 with *out and *out_len, -EINVAL for a malformed reference (err says
 * which), or -ENOMEM. */
int sonde__config_subst(const char *s, size_t n, sonde_arena *a, char **out, size_t *out_len, char *err,
                        size_t err_len);

/* True on the thread that is inside sonde_config_start, whose sonde_trace_init must not
 * load OTEL_CONFIG_FILE again. */
bool sonde__config_applying(void);

/* sonde_trace_init without a configuration being applied, when OTEL_CONFIG_FILE (or
 * OTEL_EXPERIMENTAL_CONFIG_FILE) names a file: loads it and starts with program's settings
 * over it. Returns what sonde_trace_init returns, or -EINVAL for a bad file (reported).
 * path NULL: no file - starts through the same path from the environment alone (what
 * sonde_trace_init needs for OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER: exporters per
 * signal); a signal whose OTEL_*_EXPORTER is unset then goes where the traces go. */
int sonde__config_init_from_env(const char *path, const struct sonde_trace_config *program);

/* The explicit-bucket boundaries a view gives an instrument (config.c): copies them into
 * out (room for 256) and returns true with *count set, or returns false. */
bool sonde__view_bounds(const char *meter, const char *instrument, double *out, size_t *count);

/* Creates the exporter OTEL_TRACES_EXPORTER names ("otlp", "zipkin", "console"), or NULL
 * (reported): runtime.c's start without a configuration. config.c reads the
 * OTEL_{TRACES,METRICS,LOGS}_EXPORTER variables itself, per signal. */
struct sonde_exporter *sonde__exporter_by_name(const char *name, size_t n);

#endif
