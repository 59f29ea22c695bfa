/*
 * cmd_traces.c - `sonde traces`: find traces in the store by service, operation, time,
 * duration, error and attribute, listed with their duration, span count, root, services
 * and error mark.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_query.h"
#include "term_report.h"

const char sonde_traces_usage[] =
        "usage: sonde traces [options]\n"
        "\n"
        "Finds traces in the store: those with a span matching --service, --operation and\n"
        "--attr, starting in the window, at least --min-duration long, with a failed span\n"
        "when --error is given. Lists each with its start, duration, span count, errors,\n"
        "root span and services. `sonde trace ID` shows one.\n"
        "\n"
        "options:\n" SONDE_QOPT_HELP
        "  --sort KEY          duration (longest first) or time (newest first, the default)\n"
        "  (--limit defaults to 20)\n"
        "\n"
        "examples:\n"
        "  sonde traces --service checkout --since 1h --sort duration\n"
        "  sonde traces --error --min-duration 500ms --limit 50\n"
        "  sonde traces --attr http.route=/cart --json\n"
        "  sonde traces --at-data --since 15m      # the last 15 minutes of stored data\n";

int sonde_cmd_traces(int argc, char **argv)
{
	enum { OPT_SORT = SONDE_QOPT_END };
	static const struct option longopts[] = {
	        SONDE_QOPT_LONGOPTS,
	        {"sort", required_argument, NULL, OPT_SORT},
	        {NULL, 0, NULL, 0},
	};
	sonde_qopts o;
	sonde_qopts_init(&o, "traces");
	sonde_sort sort = SONDE_SORT_TIME_DESC;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int h = sonde_qopts_parse(&o, c, optarg);
		if (h < 0)
			return SONDE_EXIT_USAGE;
		if (h)
			continue;
		if (c == OPT_SORT) {
			if (strcmp(optarg, "duration") == 0)
				sort = SONDE_SORT_DURATION_DESC;
			else if (strcmp(optarg, "time") == 0)
				sort = SONDE_SORT_TIME_DESC;
			else {
				sonde_cli_error("traces", "--sort '%s': expected duration or time", optarg);
				return SONDE_EXIT_USAGE;
			}
			continue;
		}
		sonde_cli_error("traces", "unknown option '%s'; see sonde traces --help", argv[optind - 1]);
		return SONDE_EXIT_USAGE;
	}
	if (optind < argc) {
		sonde_cli_error("traces", "unexpected argument '%s' (to show one trace: sonde trace ID)",
		                argv[optind]);
		return SONDE_EXIT_USAGE;
	}
	int rc = sonde_qopts_open(&o);
	if (rc != SONDE_EXIT_OK) {
		sonde_qopts_close(&o);
		return rc;
	}
	o.q.sort = sort;
	if (!o.limit_set)
		o.q.limit = 20;
	sonde_trace_list l;
	ssize_t n = sonde_store_find_traces(o.store, &o.q, &l);
	if (n < 0) {
		sonde_cli_error("traces", "%s", sonde_store_errmsg(o.store));
		sonde_trace_list_release(&l);
		sonde_qopts_close(&o);
		return SONDE_EXIT_USAGE;
	}
	sonde_buf out = SONDE_BUF_INIT;
	int r = o.json ? sonde_render_traces_json(&l, &out) : sonde_render_traces_text(&l, &o.term, &out);
	rc = r < 0 ? (sonde_cli_error("traces", "out of memory"), SONDE_EXIT_USAGE)
	           : sonde_cli_emit("traces", &out);
	sonde_buf_release(&out);
	sonde_trace_list_release(&l);
	sonde_qopts_close(&o);
	return rc;
}
