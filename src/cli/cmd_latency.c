/*
 * cmd_latency.c - `sonde latency`: count, rate, error rate, quantiles, maximum and a
 * histogram sparkline per service, operation or attribute value; the operations holding
 * the most time; the latency each service sees from its downstream dependencies.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_query.h"
#include "sonde/status.h"
#include "term_report.h"

const char sonde_latency_usage[] =
        "usage: sonde latency [--by service|operation|ATTR] [options]\n"
        "\n"
        "Latency of the spans in the store, per group: count, rate (spans per second over\n"
        "the window), error rate, p50/p95/p99/p99.9, maximum and a histogram (log scale,\n"
        "fastest left). Quantiles are exact for groups up to 2048 spans and within 1% above\n"
        "(a mergeable DDSketch; marked ~). Then the operations holding the most time (sum of\n"
        "their span durations), and for each service the latency of its client spans, by\n"
        "the dependency they call (peer.service, db.system or server.address).\n"
        "\n"
        "options:\n"
        "  --by KEY            service (default), operation, or any attribute key\n" SONDE_QOPT_HELP
        "  --top N             rows of the top-operations table (default 10)\n"
        "  --no-downstream     leave out the downstream table\n"
        "\n"
        "examples:\n"
        "  sonde latency --since 1h\n"
        "  sonde latency --by operation --service checkout\n"
        "  sonde latency --by http.route --min-duration 100ms --json\n";

int sonde_cmd_latency(int argc, char **argv)
{
	enum { OPT_BY = SONDE_QOPT_END, OPT_TOP, OPT_NO_DOWNSTREAM };
	static const struct option longopts[] = {
	        SONDE_QOPT_LONGOPTS,
	        {"by", required_argument, NULL, OPT_BY},
	        {"top", required_argument, NULL, OPT_TOP},
	        {"no-downstream", no_argument, NULL, OPT_NO_DOWNSTREAM},
	        {NULL, 0, NULL, 0},
	};
	sonde_qopts o;
	sonde_qopts_init(&o, "latency");
	const char *by_name = "service";
	bool downstream = true;
	size_t top = 10;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int h = sonde_qopts_parse(&o, c, optarg);
		if (h < 0)
			return SONDE_EXIT_USAGE;
		if (h)
			continue;
		if (c == OPT_BY) {
			if (!*optarg) {
				sonde_cli_error("latency",
				                "--by: expected service, operation or an attribute key");
				return SONDE_EXIT_USAGE;
			}
			by_name = optarg;
		} else if (c == OPT_TOP) {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (end == optarg || *end || *optarg == '-') {
				sonde_cli_error("latency", "--top '%s': expected a count", optarg);
				return SONDE_EXIT_USAGE;
			}
			top = v;
		} else if (c == OPT_NO_DOWNSTREAM) {
			downstream = false;
		} else {
			sonde_cli_error("latency", "unknown option '%s'; see sonde latency --help",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		sonde_cli_error("latency", "unexpected argument '%s'", argv[optind]);
		return SONDE_EXIT_USAGE;
	}
	int rc = sonde_qopts_open(&o);
	if (rc != SONDE_EXIT_OK) {
		sonde_qopts_close(&o);
		return rc;
	}
	o.q.limit = 0;         /* --limit trims the printed rows, not the spans counted */
	o.q.read_ahead = true; /* the latency tables' callbacks leave the store alone */
	o.q.any_order = true;  /* and the tables are the same in any order of spans */
	sonde_latency_by by = strcmp(by_name, "service") == 0     ? SONDE_LATENCY_BY_SERVICE
	                      : strcmp(by_name, "operation") == 0 ? SONDE_LATENCY_BY_OPERATION
	                                                          : SONDE_LATENCY_BY_ATTR;
	sonde_latency_table main_t, ops, down;
	sonde_latency_table_init(&down);
	/* One scan of the spans gives every table. */
	int e = sonde_latency_run_all(o.store, &o.q, by, by_name, &main_t, &ops, downstream ? &down : NULL);
	if (e < 0) {
		sonde_cli_error("latency", "%s",
		                sonde_store_errmsg(o.store)[0] ? sonde_store_errmsg(o.store)
		                                               : sonde_strerror(e));
		rc = SONDE_EXIT_USAGE;
		goto out;
	}
	if (o.limit_set && o.limit && main_t.count > o.limit) {
		for (size_t i = o.limit; i < main_t.count; i++)
			sonde_latency_dist_release(&main_t.rows[i].dist);
		main_t.count = o.limit;
	}
	/* The window the rates are over: as asked, else the time the spans cover. */
	uint64_t first = 0, last = 0;
	for (size_t i = 0; i < ops.count; i++) {
		if (ops.rows[i].first_ns && (!first || ops.rows[i].first_ns < first))
			first = ops.rows[i].first_ns;
		if (ops.rows[i].last_ns > last)
			last = ops.rows[i].last_ns;
	}
	uint64_t from = o.q.since_ns ? o.q.since_ns : first, to = o.q.until_ns ? o.q.until_ns : last;
	sonde_latency_view v = {
	        .main = &main_t,
	        .ops = &ops,
	        .downstream = downstream ? &down : NULL,
	        .by_name = by_name,
	        .by_operation = by == SONDE_LATENCY_BY_OPERATION,
	        .window_ns = to > from ? to - from : 0,
	        .top_ops = top,
	};
	sonde_buf out = SONDE_BUF_INIT;
	int w = o.json ? sonde_render_latency_json(&v, &out) : sonde_render_latency_text(&v, &o.term, &out);
	rc = w < 0 ? (sonde_cli_error("latency", "out of memory"), SONDE_EXIT_USAGE)
	           : sonde_cli_emit("latency", &out);
	sonde_buf_release(&out);
out:
	sonde_latency_table_release(&main_t);
	sonde_latency_table_release(&ops);
	sonde_latency_table_release(&down);
	sonde_qopts_close(&o);
	return rc;
}
