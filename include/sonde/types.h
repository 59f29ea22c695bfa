/*
 * types.h - the OpenTelemetry vocabulary shared by libsonde's API and sonde's tools:
 * span kinds and status codes, with OTLP's numeric values.
 */
#ifndef SONDE_TYPES_H
#define SONDE_TYPES_H

typedef enum sonde_span_kind {
	SONDE_SPAN_KIND_UNSPECIFIED = 0,
	SONDE_SPAN_KIND_INTERNAL = 1,
	SONDE_SPAN_KIND_SERVER = 2,
	SONDE_SPAN_KIND_CLIENT = 3,
	SONDE_SPAN_KIND_PRODUCER = 4,
	SONDE_SPAN_KIND_CONSUMER = 5,
} sonde_span_kind;

typedef enum sonde_status_code {
	SONDE_STATUS_UNSET = 0,
	SONDE_STATUS_OK = 1,
	SONDE_STATUS_ERROR = 2,
} sonde_status_code;

#endif
