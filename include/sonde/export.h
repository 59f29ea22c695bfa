/*
 * export.h - where libsonde's telemetry goes: OTLP over HTTP (protobuf or JSON), Zipkin
 * over HTTP, a file of OTLP JSON lines, or a readable console stream.
 *
 * Exporters are created, handed to sonde_trace_init (which owns them from then on), and
 * run only on libsonde's background thread: an exporter may block, retry and back off
 * without ever delaying the application. Every exporter honours its deadline, so
 * shutdown returns in time even when the peer is gone.
 */
#ifndef SONDE_EXPORT_H
#define SONDE_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sonde_exporter sonde_exporter;

typedef enum sonde_otlp_protocol {
	SONDE_OTLP_HTTP_PROTOBUF = 0, /* default */
	SONDE_OTLP_HTTP_JSON = 1,
} sonde_otlp_protocol;

/* Settings of the OTLP/HTTP exporter. Zero/NULL fields take the OTEL_EXPORTER_OTLP_*
 * environment variables (the TRACES_-specific ones first), then the defaults. */
typedef struct sonde_otlp_http_config {
	/* Base URL ("http://collector:4318", "/v1/traces" appended) or, when it came from
	 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or full_url is set, the URL used as is.
	 * Default http://localhost:4318. */
	const char *endpoint;
	bool full_url;
	sonde_otlp_protocol protocol;
	bool protocol_set;   /* false: OTEL_EXPORTER_OTLP_PROTOCOL, else protobuf */
	const char *headers; /* "k1=v1,k2=v2" (values percent-decoded) */
	uint32_t timeout_ms; /* per export call including retries; default 10000 */
	bool gzip;           /* Content-Encoding: gzip (OTEL_EXPORTER_OTLP_COMPRESSION=gzip) */
	bool gzip_set;       /* false: gzip when gzip or the environment asks; true: gzip alone */
} sonde_otlp_http_config;

/* OTLP/HTTP: POSTs ExportTraceServiceRequest to the endpoint; retries 429, 502, 503 and
 * 504 with exponential backoff and jitter, honouring Retry-After, until the timeout;
 * reports partial success through sonde_set_diagnostics and does not retry it.
 * cfg may be NULL. Returns NULL when out of memory or when a setting is invalid
 * (reported). */
sonde_exporter *sonde_exporter_otlp_http_new(const sonde_otlp_http_config *cfg);
/* Zipkin v2 JSON over HTTP to url (NULL: OTEL_EXPORTER_ZIPKIN_ENDPOINT, else
 * http://localhost:9411/api/v2/spans); timeout_ms 0: OTEL_EXPORTER_ZIPKIN_TIMEOUT, else
 * 10000. */
sonde_exporter *sonde_exporter_zipkin_new(const char *url, uint32_t timeout_ms);
/* Appends one OTLP JSON export request per line to path (created if missing): the form
 * the OpenTelemetry Collector's file exporter writes, which `sonde ingest` reads. */
sonde_exporter *sonde_exporter_file_new(const char *path);
/* Settings of the InfluxDB line-protocol metric exporter: exactly one of path and endpoint. */
typedef struct sonde_influx_config {
	const char *path; /* append lines to this file (created if missing) */
	/* POST to InfluxDB: a URL naming the write path ("http://h:8086/api/v2/write?org=o&
	 * bucket=b&precision=ns", ".../write?db=d"), used as is; or a base URL
	 * ("http://h:8086") to which /write?db=<db> (db set) or /api/v2/write?bucket=<bucket>
	 * [&org=<org>] and &precision=ns are appended. */
	const char *endpoint;
	const char *org, *bucket; /* InfluxDB 2 */
	const char *db;           /* InfluxDB 1 (and Telegraf's listeners) */
	const char *token;        /* InfluxDB 2: "Authorization: Token <token>" */
	uint32_t timeout_ms;      /* per export including retries; default 10000 */
} sonde_influx_config;

/* Metrics in InfluxDB line protocol (one line per data point, see src/wire/influx.h), for
 * InfluxDB or Telegraf; spans and logs are ignored. HTTP failures are retried as the OTLP
 * exporter retries them. Returns NULL when out of memory or a setting is invalid
 * (reported). */
sonde_exporter *sonde_exporter_influx_new(const sonde_influx_config *cfg);
/* Writes each span as one readable line to fd (2 for stderr): for development. */
sonde_exporter *sonde_exporter_console_new(int fd);
/* Frees an exporter that was not handed to sonde_trace_init. NULL is a no-op. */
void sonde_exporter_free(sonde_exporter *e);

#ifdef __cplusplus
}
#endif
#endif
