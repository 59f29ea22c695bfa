/*
 * cmd_trace.c - `sonde trace ID`: one trace as a waterfall, with its critical path, self
 * times, the services and operations holding the path, the slowest span, errors,
 * repeated calls, its logs and the metric points of its services around it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_query.h"
#include "hex.h"
#include "sonde/status.h"
#include "term_report.h"

const char sonde_trace_usage[] =
        "usage: sonde trace [ID] [options]\n"
        "\n"
        "Shows trace ID (32 hex digits; 16 for a 64-bit id) from the store: the spans as a\n"
        "tree with a time bar each, the critical path (what the request waited on, as\n"
        "Jaeger's UI defines it: follows-from children left out, children clipped to their\n"
        "parent, walked back from the last child to finish), self time per span, each\n"
        "service's and operation's share of the critical path, the slowest span, failed\n"
        "spans with their exceptions, repeated identical calls under one parent (N+1), the\n"
        "trace's log records, and metric points of its services around its time.\n"
        "Without ID, shows the slowest trace matching the filters (--service, --since, ...).\n"
        "\n"
        "options:\n" SONDE_QOPT_HELP "  --rows N            waterfall rows to show (default 200; 0: all)\n"
        "  --nplus1 N          calls under one parent that count as repeated (default 5)\n"
        "  --metrics-window D  take metric points from D before the trace to D after (default 1m)\n"
        "\n"
        "--json writes every span with its parent, self time and critical time, and the\n"
        "critical path as ordered segments (span_id, start_ns, end_ns, self_ns).\n"
        "\n"
        "examples:\n"
        "  sonde trace 4bf92f3577b34da6a3ce929d0e0e4736\n"
        "  sonde trace --service checkout --since 1h     # the slowest checkout trace\n"
        "  sonde trace 4bf92f3577b34da6a3ce929d0e0e4736 --json | jq .critical_path\n";

static int parse_trace_id(const char *s, uint8_t id[16])
{
	size_t n = strlen(s);
	memset(id, 0, 16);
	if (n == 32)
		return sonde_hex_decode(id, 16, s, n);
	if (n == 16)
		return sonde_hex_decode(id + 8, 8, s, n);
	return -1;
}

int sonde_cmd_trace(int argc, char **argv)
{
	enum { OPT_ROWS = SONDE_QOPT_END, OPT_NPLUS1, OPT_METRICS_WINDOW };
	static const struct option longopts[] = {
	        SONDE_QOPT_LONGOPTS,
	        {"rows", required_argument, NULL, OPT_ROWS},
	        {"nplus1", required_argument, NULL, OPT_NPLUS1},
	        {"metrics-window", required_argument, NULL, OPT_METRICS_WINDOW},
	        {NULL, 0, NULL, 0},
	};
	sonde_qopts o;
	sonde_qopts_init(&o, "trace");
	size_t rows = 200;
	sonde_trace_report_opts ro = {.nplus1_min = 5, .metrics_margin_ns = 60000000000ull};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int h = sonde_qopts_parse(&o, c, optarg);
		if (h < 0)
			return SONDE_EXIT_USAGE;
		if (h)
			continue;
		char *end;
		switch (c) {
		case OPT_ROWS:
		case OPT_NPLUS1: {
			unsigned long v = strtoul(optarg, &end, 10);
			if (end == optarg || *end || *optarg == '-' || v > 100000000) {
				sonde_cli_error("trace", "--%s '%s': expected a count",
				                c == OPT_ROWS ? "rows" : "nplus1", optarg);
				return SONDE_EXIT_USAGE;
			}
			if (c == OPT_ROWS)
				rows = v;
			else
				ro.nplus1_min = (uint32_t)(v < 2 ? 2 : v);
			continue;
		}
		case OPT_METRICS_WINDOW:
			if (sonde_cli_parse_duration(optarg, &ro.metrics_margin_ns) < 0) {
				sonde_cli_error(
				        "trace",
				        "--metrics-window '%s': expected a duration such as 30s or 5m",
				        optarg);
				return SONDE_EXIT_USAGE;
			}
			continue;
		default:
			sonde_cli_error("trace", "unknown option '%s'; see sonde trace --help",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	uint8_t id[16];
	bool have_id = false;
	if (optind < argc) {
		if (parse_trace_id(argv[optind], id) < 0) {
			sonde_cli_error("trace", "'%s' is not a trace id: expected 32 (or 16) hex digits",
			                argv[optind]);
			return SONDE_EXIT_USAGE;
		}
		have_id = true;
		if (optind + 1 < argc) {
			sonde_cli_error("trace", "one trace at a time: unexpected '%s'", argv[optind + 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	int rc = sonde_qopts_open(&o);
	if (rc != SONDE_EXIT_OK) {
		sonde_qopts_close(&o);
		return rc;
	}
	if (!have_id) {
		sonde_trace_list l;
		o.q.sort = SONDE_SORT_DURATION_DESC;
		o.q.limit = 1;
		ssize_t n = sonde_store_find_traces(o.store, &o.q, &l);
		if (n > 0)
			memcpy(id, l.items[0].trace_id, 16);
		sonde_trace_list_release(&l);
		if (n <= 0) {
			if (n < 0)
				sonde_cli_error("trace", "%s", sonde_store_errmsg(o.store));
			else
				sonde_cli_error("trace",
				                "no trace matches; `sonde traces` lists what is stored");
			sonde_qopts_close(&o);
			return SONDE_EXIT_USAGE;
		}
	}
	sonde_trace_report r;
	int e = sonde_trace_report_build(o.store, id, &ro, &r);
	if (e < 0) {
		char hex[33];
		sonde_hex_encode(hex, id, 16);
		hex[32] = '\0';
		if (e == -ENOENT)
			sonde_cli_error("trace", "no trace %s in the store", hex);
		else
			sonde_cli_error("trace", "trace %s: %s", hex,
			                sonde_store_errmsg(o.store)[0] ? sonde_store_errmsg(o.store)
			                                               : sonde_strerror(e));
		sonde_trace_report_release(&r);
		sonde_qopts_close(&o);
		return SONDE_EXIT_USAGE;
	}
	sonde_buf out = SONDE_BUF_INIT;
	int w = o.json ? sonde_render_trace_json(&r, &out) : sonde_render_trace_text(&r, &o.term, rows, &out);
	rc = w < 0 ? (sonde_cli_error("trace", "out of memory"), SONDE_EXIT_USAGE)
	           : sonde_cli_emit("trace", &out);
	sonde_buf_release(&out);
	sonde_trace_report_release(&r);
	sonde_qopts_close(&o);
	return rc;
}
