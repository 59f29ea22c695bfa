/*
 * cmd_anomalies.c - `sonde anomalies`: anomalies in the stored metric series (the
 * detector of anomaly.h), each with its context from the same store: error logs and their
 * most frequent messages, failed traces, services active.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anomaly_find.h"
#include "buf.h"
#include "cli.h"
#include "cli_query.h"
#include "json.h"
#include "sonde/status.h"

const char sonde_anomalies_usage[] =
        "usage: sonde anomalies [METRIC] [options]\n"
        "\n"
        "Runs a streaming anomaly detector over every stored metric series (a metric name\n"
        "with its resource and attributes; METRIC filters names and may be a glob such as\n"
        "'http_*'): a rolling median and MAD baseline, daily and weekly seasonality when the\n"
        "history covers it, and a CUSUM for level shifts. Each anomaly window is listed with\n"
        "its peak score, the value and the baseline expected, and the context around it:\n"
        "error logs (ERROR or worse) with their most frequent messages, failed traces, and\n"
        "the services active.\n"
        "\n"
        "options:\n"
        "  --db PATH           the store (default $SONDE_DB, else ./sonde.db)\n"
        "  --since TIME        points from TIME: RFC 3339, a date, or relative (15m, 2h, 1d ago)\n"
        "  --until TIME        up to TIME (same forms)\n"
        "  --service NAME      only series of this service\n"
        "  --threshold S       score (0-1) from which a point is anomalous (default 0.5)\n"
        "  --context D         how far around a window to look for context (default 5m)\n"
        "  --fail              exit 1 when any anomaly is found\n"
        "  --json              JSON for scripts instead of tables\n"
        "\n"
        "examples:\n"
        "  sonde ingest metrics.csv app.log traces.json && sonde anomalies\n"
        "  sonde anomalies 'http_server_*' --since 2024-05-01 --context 10m\n"
        "  sonde anomalies cpu --service api --json > anomalies.json\n";

static void fmt_time(uint64_t ns, char *out, size_t cap)
{
	time_t s = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t k = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + k, cap - k, ".%03uZ", (unsigned)(ns % 1000000000u / 1000000u));
}

static void render_json(const sonde_anomaly_report *r, sonde_buf *out)
{
	sonde_json_writer w;
	sonde_json_writer_init(&w, out, 1);
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "series");
	sonde_json_u64(&w, r->series);
	sonde_json_key_cstr(&w, "points");
	sonde_json_u64(&w, r->points);
	sonde_json_key_cstr(&w, "anomalies");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < r->count; i++) {
		const sonde_anomaly_found *f = &r->items[i];
		char ts[40];
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "metric");
		sonde_json_str(&w, f->metric, strlen(f->metric));
		sonde_json_key_cstr(&w, "service");
		sonde_json_str(&w, f->service, strlen(f->service));
		sonde_json_key_cstr(&w, "attributes");
		sonde_json_str(&w, f->attrs, strlen(f->attrs));
		fmt_time(f->window.start_ns, ts, sizeof ts);
		sonde_json_key_cstr(&w, "start");
		sonde_json_str(&w, ts, strlen(ts));
		fmt_time(f->window.end_ns, ts, sizeof ts);
		sonde_json_key_cstr(&w, "end");
		sonde_json_str(&w, ts, strlen(ts));
		sonde_json_key_cstr(&w, "start_ns");
		sonde_json_u64(&w, f->window.start_ns);
		sonde_json_key_cstr(&w, "end_ns");
		sonde_json_u64(&w, f->window.end_ns);
		sonde_json_key_cstr(&w, "peak_ns");
		sonde_json_u64(&w, f->window.peak_ns);
		sonde_json_key_cstr(&w, "score");
		sonde_json_f64(&w, f->window.peak_score);
		sonde_json_key_cstr(&w, "value");
		sonde_json_f64(&w, f->window.peak_value);
		sonde_json_key_cstr(&w, "expected");
		sonde_json_f64(&w, f->window.expected);
		sonde_json_key_cstr(&w, "kind");
		const char *kind = sonde_anomaly_kind_name(f->window.kind);
		sonde_json_str(&w, kind, strlen(kind));
		sonde_json_key_cstr(&w, "points");
		sonde_json_u64(&w, f->window.points);
		sonde_json_key_cstr(&w, "context");
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "since_ns");
		sonde_json_u64(&w, f->context_since_ns);
		sonde_json_key_cstr(&w, "until_ns");
		sonde_json_u64(&w, f->context_until_ns);
		sonde_json_key_cstr(&w, "error_logs");
		sonde_json_u64(&w, f->error_logs);
		sonde_json_key_cstr(&w, "top_errors");
		sonde_json_arr_begin(&w);
		for (size_t k = 0; k < f->top_errors_count; k++) {
			sonde_json_obj_begin(&w);
			sonde_json_key_cstr(&w, "message");
			sonde_json_str(&w, f->top_errors[k].name, strlen(f->top_errors[k].name));
			sonde_json_key_cstr(&w, "count");
			sonde_json_u64(&w, f->top_errors[k].count);
			sonde_json_obj_end(&w);
		}
		sonde_json_arr_end(&w);
		sonde_json_key_cstr(&w, "failed_spans");
		sonde_json_u64(&w, f->failed_spans);
		sonde_json_key_cstr(&w, "failed_traces");
		sonde_json_u64(&w, f->failed_traces_total);
		sonde_json_key_cstr(&w, "trace_ids");
		sonde_json_arr_begin(&w);
		for (size_t k = 0; k < f->failed_traces_count; k++)
			sonde_json_str(&w, f->failed_traces[k], 32);
		sonde_json_arr_end(&w);
		sonde_json_key_cstr(&w, "services");
		sonde_json_arr_begin(&w);
		for (size_t k = 0; k < f->services_count; k++) {
			sonde_json_obj_begin(&w);
			sonde_json_key_cstr(&w, "name");
			sonde_json_str(&w, f->services[k].name, strlen(f->services[k].name));
			sonde_json_key_cstr(&w, "records");
			sonde_json_u64(&w, f->services[k].count);
			sonde_json_obj_end(&w);
		}
		sonde_json_arr_end(&w);
		sonde_json_obj_end(&w);
		sonde_json_obj_end(&w);
	}
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	sonde_buf_append(out, "\n", 1);
}

static void render_text(const sonde_anomaly_report *r, sonde_buf *out)
{
	sonde_buf_printf(out, "%zu anomal%s in %zu series (%llu points)\n", r->count,
	                 r->count == 1 ? "y" : "ies", r->series, (unsigned long long)r->points);
	for (size_t i = 0; i < r->count; i++) {
		const sonde_anomaly_found *f = &r->items[i];
		char a[40], b[40];
		fmt_time(f->window.start_ns, a, sizeof a);
		fmt_time(f->window.end_ns, b, sizeof b);
		sonde_buf_printf(out, "\n%s%s%s%s%s%s\n", f->metric, *f->attrs ? " {" : "", f->attrs,
		                 *f->attrs ? "}" : "", *f->service ? "  service " : "", f->service);
		sonde_buf_printf(out, "  window    %s .. %s  (%zu point%s)\n", a, b, f->window.points,
		                 f->window.points == 1 ? "" : "s");
		sonde_buf_printf(out, "  peak      score %.2f  %s  value %g, expected %g\n",
		                 f->window.peak_score, sonde_anomaly_kind_name(f->window.kind),
		                 f->window.peak_value, f->window.expected);
		sonde_buf_printf(out, "  errors    %llu error logs", (unsigned long long)f->error_logs);
		for (size_t k = 0; k < f->top_errors_count; k++)
			sonde_buf_printf(out, "%s%llu x %.100s", k ? "; " : ": ",
			                 (unsigned long long)f->top_errors[k].count, f->top_errors[k].name);
		sonde_buf_printf(out, "\n  traces    %llu failed spans in %llu traces",
		                 (unsigned long long)f->failed_spans,
		                 (unsigned long long)f->failed_traces_total);
		for (size_t k = 0; k < f->failed_traces_count; k++)
			sonde_buf_printf(out, "%s%s", k ? " " : ": ", f->failed_traces[k]);
		sonde_buf_printf(out, "\n  services  ");
		for (size_t k = 0; k < f->services_count; k++)
			sonde_buf_printf(out, "%s%s (%llu)", k ? ", " : "", f->services[k].name,
			                 (unsigned long long)f->services[k].count);
		sonde_buf_printf(out, "%s\n", f->services_count ? "" : "none");
	}
}

int sonde_cmd_anomalies(int argc, char **argv)
{
	enum { OPT_THRESHOLD = SONDE_QOPT_END, OPT_CONTEXT, OPT_FAIL };
	static const struct option longopts[] = {
	        SONDE_QOPT_LONGOPTS,
	        {"threshold", required_argument, NULL, OPT_THRESHOLD},
	        {"context", required_argument, NULL, OPT_CONTEXT},
	        {"fail", no_argument, NULL, OPT_FAIL},
	        {NULL, 0, NULL, 0},
	};
	sonde_qopts o;
	sonde_qopts_init(&o, "anomalies");
	sonde_anomaly_find_opts fo = {0};
	bool fail = false;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int h = sonde_qopts_parse(&o, c, optarg);
		if (h < 0)
			return SONDE_EXIT_USAGE;
		if (h)
			continue;
		if (c == OPT_THRESHOLD) {
			char *end;
			double v = strtod(optarg, &end);
			if (end == optarg || *end || !(v > 0 && v <= 1)) {
				sonde_cli_error("anomalies", "--threshold '%s': expected a score in (0, 1]",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			fo.threshold = v;
		} else if (c == OPT_CONTEXT) {
			if (sonde_cli_parse_duration(optarg, &fo.context_ns) < 0 || !fo.context_ns) {
				sonde_cli_error("anomalies", "--context '%s': expected a duration such as 5m",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
		} else if (c == OPT_FAIL) {
			fail = true;
		} else {
			sonde_cli_error("anomalies", "unknown option '%s'; see sonde anomalies --help",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind < argc)
		fo.metric_glob = argv[optind++];
	if (optind < argc) {
		sonde_cli_error("anomalies", "unexpected argument '%s'", argv[optind]);
		return SONDE_EXIT_USAGE;
	}
	int rc = sonde_qopts_open(&o);
	if (rc != SONDE_EXIT_OK) {
		sonde_qopts_close(&o);
		return rc;
	}
	sonde_anomaly_report rep;
	ssize_t n = sonde_anomaly_find(o.store, &o.q, &fo, &rep);
	if (n < 0) {
		sonde_cli_error("anomalies", "%s",
		                sonde_store_errmsg(o.store)[0] ? sonde_store_errmsg(o.store)
		                                               : sonde_strerror((int)n));
		rc = SONDE_EXIT_USAGE;
	} else {
		sonde_buf out = SONDE_BUF_INIT;
		if (o.json)
			render_json(&rep, &out);
		else
			render_text(&rep, &out);
		rc = sonde_cli_emit("anomalies", &out);
		sonde_buf_release(&out);
		if (rc == SONDE_EXIT_OK && fail && n > 0)
			rc = SONDE_EXIT_FINDING;
	}
	sonde_anomaly_report_release(&rep);
	sonde_qopts_close(&o);
	return rc;
}
