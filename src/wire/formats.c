/*
 * formats.c - the table of telemetry formats and content sniffing (see formats.h).
 *
 * Adapters here give every reader and writer the one ops signature; the formats
 * themselves live in their own files.
 */
#include <errno.h>
#include <string.h>

#include "chrome_trace.h"
#include "csv_metrics.h"
#include "formats.h"
#include "influx.h"
#include "influx_read.h"
#include "jaeger.h"
#include "logline.h"
#include "otlp_json.h"
#include "otlp_pb.h"
#include "prom_text.h"
#include "sonde/status.h"
#include "text_write.h"
#include "zipkin.h"

int sonde_write_signal(const sonde_batch *b, const sonde_write_opts *opts, sonde_signal *out)
{
	if (opts && opts->signal_set) {
		*out = opts->signal;
		return 0;
	}
	int n = (b->spans_count > 0) + (b->metrics_count > 0) + (b->logs_count > 0);
	if (n > 1)
		return -EINVAL;
	*out = b->metrics_count ? SONDE_SIGNAL_METRICS
	       : b->logs_count  ? SONDE_SIGNAL_LOGS
	                        : SONDE_SIGNAL_TRACES;
	return 0;
}

static int otlp_json_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                          sonde_wire_error *err)
{
	return sonde_otlp_json_read(b, buf, len, err);
}

static int otlp_json_write(const sonde_batch *b, const sonde_write_opts *o, sonde_buf *out)
{
	sonde_signal sig;
	int rc = sonde_write_signal(b, o, &sig);
	return rc < 0 ? rc : sonde_otlp_json_write(b, sig, out, o ? o->pretty : 0);
}

static int otlp_jsonl_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                           sonde_wire_error *err)
{
	return sonde_otlp_jsonl_read(b, buf, len, err);
}

static int otlp_jsonl_write(const sonde_batch *b, const sonde_write_opts *o, sonde_buf *out)
{
	return sonde_otlp_jsonl_write(b, out);
}

static int otlp_pb_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                        sonde_wire_error *err)
{
	return sonde_otlp_pb_read(b, o ? o->signal : SONDE_SIGNAL_TRACES, buf, len, err);
}

static int otlp_pb_write(const sonde_batch *b, const sonde_write_opts *o, sonde_buf *out)
{
	sonde_signal sig;
	int rc = sonde_write_signal(b, o, &sig);
	return rc < 0 ? rc : sonde_otlp_pb_write(b, sig, out);
}

static int zipkin_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                       sonde_wire_error *err)
{
	return sonde_zipkin_read(b, buf, len, err);
}

static int zipkin_write(const sonde_batch *b, const sonde_write_opts *o, sonde_buf *out)
{
	return sonde_zipkin_write_pretty(b, out, o ? o->pretty : 0);
}

static int jaeger_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                       sonde_wire_error *err)
{
	return sonde_jaeger_read(b, buf, len, err);
}

static int chrome_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                       sonde_wire_error *err)
{
	return sonde_chrome_trace_read(b, buf, len, err);
}

static int prom_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                     sonde_wire_error *err)
{
	return sonde_prom_text_read(b, buf, len, o ? o->default_time_ns : 0, err);
}

static int prom_write(const sonde_batch *b, const sonde_write_opts *o, sonde_buf *out)
{
	return sonde_prom_text_write(b, SONDE_PROM_TEXT_004, out);
}

static int openmetrics_write(const sonde_batch *b, const sonde_write_opts *o, sonde_buf *out)
{
	return sonde_prom_text_write(b, SONDE_PROM_OPENMETRICS_1, out);
}

static int influx_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                       sonde_wire_error *err)
{
	return sonde_influx_read(b, buf, len, o ? o->default_time_ns : 0, err);
}

static int logs_jsonl_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                           sonde_wire_error *err)
{
	return sonde_logjson_read(b, buf, len, o ? o->default_time_ns : 0, err);
}

static int logs_text_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                          sonde_wire_error *err)
{
	return sonde_logtext_read(b, buf, len, o ? o->default_time_ns : 0, err);
}

static int csv_read(sonde_batch *b, const char *buf, size_t len, const sonde_read_opts *o,
                    sonde_wire_error *err)
{
	return sonde_csv_metrics_read(b, buf, len, o ? o->default_time_ns : 0, err);
}

static int influx_write(const sonde_batch *b, const sonde_write_opts *o, sonde_buf *out)
{
	return sonde_influx_write(b, out);
}

static int text_write(const sonde_batch *b, const sonde_write_opts *o, sonde_buf *out)
{
	return sonde_text_write(b, out);
}

const sonde_format sonde_formats[] = {
        {"otlp-json", "OTLP/HTTP JSON: one Export{Trace,Metrics,Logs}ServiceRequest", otlp_json_read,
         otlp_json_write, false},
        {"otlp-jsonl", "OTLP JSON lines, one request per line (Collector file exporter)", otlp_jsonl_read,
         otlp_jsonl_write, false},
        {"otlp-proto", "OTLP protobuf: one Export{Trace,Metrics,Logs}ServiceRequest (--signal)", otlp_pb_read,
         otlp_pb_write, true},
        {"zipkin", "Zipkin v2 JSON span list", zipkin_read, zipkin_write, false},
        {"jaeger", "Jaeger JSON, as its UI downloads it (read only)", jaeger_read, NULL, false},
        {"chrome", "Chrome trace events: torch.profiler, VizTracer, Perfetto (read only)", chrome_read, NULL,
         false},
        {"prom", "Prometheus text exposition 0.0.4 (reads OpenMetrics too)", prom_read, prom_write, false},
        {"openmetrics", "OpenMetrics 1.0 text", prom_read, openmetrics_write, false},
        {"influx", "InfluxDB line protocol", influx_read, influx_write, false},
        {"logs-jsonl", "JSON-lines logs: one object per line (ts, level, msg, trace_id, ...) (read only)",
         logs_jsonl_read, NULL, false},
        {"logs-text", "plain-text logs: ISO 8601, syslog, Apache, log4j, Python layouts (read only)",
         logs_text_read, NULL, false},
        {"csv", "CSV metric series: a time column and value columns, e.g. NAB (read only)", csv_read, NULL,
         false},
        {"text", "readable text, one line per record (write only)", NULL, text_write, false},
};
const size_t sonde_formats_count = sizeof(sonde_formats) / sizeof(sonde_formats[0]);

const sonde_format *sonde_format_find(const char *name)
{
	for (size_t i = 0; i < sonde_formats_count; i++)
		if (strcmp(sonde_formats[i].name, name) == 0)
			return &sonde_formats[i];
	return NULL;
}

/* Finds needle in the first `window` bytes of buf. */
static bool has(const char *buf, size_t len, const char *needle, size_t window)
{
	size_t n = strlen(needle);
	if (len > window)
		len = window;
	if (n > len)
		return false;
	for (const char *p = buf; (p = memchr(p, needle[0], len - (size_t)(p - buf) - n + 1)) != NULL; p++)
		if (memcmp(p, needle, n) == 0)
			return true;
	return false;
}

/* JSON lines: the first line closes a whole object ("...}" before the newline) and the
 * next non-blank line opens another. A pretty-printed document's first line ends in "{"
 * or "[", never "}". */
static bool is_json_lines(const char *p, size_t n)
{
	const char *nl = memchr(p, '\n', n);
	if (!nl)
		return false;
	const char *last = nl;
	while (last > p && (last[-1] == '\r' || last[-1] == ' ' || last[-1] == '\t'))
		last--;
	if (last == p || last[-1] != '}')
		return false;
	const char *q = nl + 1, *end = p + n;
	while (q < end && (*q == '\r' || *q == '\n' || *q == ' ' || *q == '\t'))
		q++;
	return q < end && *q == '{';
}

/* True when the first line that is not a comment is a Prometheus sample, `name value`
 * or `name{labels} value [timestamp]`, or when a # HELP or # TYPE line comes first. */
static bool is_prom_sample(const char *p, size_t n)
{
	if (n >= 6 && (memcmp(p, "# HELP", 6) == 0 || memcmp(p, "# TYPE", 6) == 0))
		return true;
	while (n && p[0] == '#') {
		const char *nl = memchr(p, '\n', n);
		if (!nl)
			return false;
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	size_t i = 0;
	while (i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
	                 (p[i] >= '0' && p[i] <= '9' && i > 0) || p[i] == '_' || p[i] == ':'))
		i++;
	if (i == 0)
		return false;
	if (i < n && p[i] == '{') {
		const char *close = memchr(p + i, '}', n - i);
		if (!close)
			return false;
		i = (size_t)(close - p) + 1;
	}
	if (i >= n || p[i] != ' ')
		return false;
	/* The rest of the line: one or two numbers. */
	int tokens = 0;
	while (i < n && p[i] != '\n') {
		while (i < n && p[i] == ' ')
			i++;
		if (i >= n || p[i] == '\n' || p[i] == '\r')
			break;
		size_t j = i;
		while (j < n && p[j] != ' ' && p[j] != '\n' && p[j] != '\r')
			j++;
		for (size_t k = i; k < j; k++)
			if (!strchr("0123456789.+-eEaNnIif", p[k]))
				return false;
		tokens++;
		i = j;
		while (i < n && p[i] == '\r')
			i++;
	}
	return tokens >= 1 && tokens <= 2;
}

const sonde_format *sonde_format_detect(const char *buf, size_t len)
{
	enum { WINDOW = 1 << 16 };
	/* Text formats are printable; OTLP protobuf starts with field 1, length-delimited
	 * (0x0a, also a newline), and has control bytes early. */
	if (len > 0 && (unsigned char)buf[0] == 0x0a) {
		for (size_t j = 1; j < len && j < 256; j++)
			if ((unsigned char)buf[j] < 0x09 ||
			    ((unsigned char)buf[j] > 0x0d && (unsigned char)buf[j] < 0x20))
				return sonde_format_find("otlp-proto");
	}
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
		i++;
	if (i == len)
		return NULL;
	const char *p = buf + i;
	size_t n = len - i;
	if (p[0] == '{') {
		if (has(p, n, "\"traceEvents\"", WINDOW))
			return sonde_format_find("chrome");
		if (has(p, n, "\"resourceSpans\"", WINDOW) || has(p, n, "\"resourceMetrics\"", WINDOW) ||
		    has(p, n, "\"resourceLogs\"", WINDOW) || has(p, n, "\"resource_spans\"", WINDOW) ||
		    has(p, n, "\"resource_metrics\"", WINDOW) || has(p, n, "\"resource_logs\"", WINDOW)) {
			if (is_json_lines(p, n))
				return sonde_format_find("otlp-jsonl");
			return sonde_format_find("otlp-json");
		}
		if (has(p, n, "\"data\"", WINDOW) && has(p, n, "\"traceID\"", WINDOW))
			return sonde_format_find("jaeger");
		if (sonde_logjson_sniff(p, n))
			return sonde_format_find("logs-jsonl");
		return NULL;
	}
	if (p[0] == '[') {
		if (has(p, n, "\"ph\"", WINDOW))
			return sonde_format_find("chrome");
		if (has(p, n, "\"traceId\"", WINDOW))
			return sonde_format_find("zipkin");
		return NULL;
	}
	if (has(p, n, "# EOF", n))
		return sonde_format_find("openmetrics");
	if (sonde_csv_metrics_sniff(p, n))
		return sonde_format_find("csv");
	if (!is_prom_sample(p, n) && sonde_influx_sniff(p, n))
		return sonde_format_find("influx");
	if (!is_prom_sample(p, n) && sonde_logtext_sniff(p, n))
		return sonde_format_find("logs-text");
	/* Prometheus text: its first sample, or a # HELP or # TYPE line first. Text that merely
	 * starts with a letter (a CSV header, prose) is not taken for it. */
	if (is_prom_sample(p, n))
		return sonde_format_find("prom");
	return NULL;
}
