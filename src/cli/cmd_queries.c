/*
 * cmd_queries.c - `sonde queries`: database calls grouped by normalised statement, with
 * count, total, mean, p95 and maximum time, slow calls over a threshold, and N+1
 * patterns (one statement repeated under a single parent span).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_query.h"
#include "sonde/status.h"
#include "term_report.h"

const char sonde_queries_usage[] =
        "usage: sonde queries [options]\n"
        "\n"
        "Database calls in the store (spans with db.system or db.system.name, and\n"
        "db.query.text or db.statement), grouped by statement with literals replaced by ?\n"
        "and IN lists collapsed, largest total time first: count, total, mean, p95, maximum,\n"
        "failures, calls at or over --slow, and N+1 patterns (parents under which the\n"
        "statement ran at least --nplus1 times). Then the slowest calls, with their trace.\n"
        "\n"
        "options:\n" SONDE_QOPT_HELP
        "  --slow D            a call this long or longer is slow (default 100ms)\n"
        "  --nplus1 N          runs under one parent that make an N+1 (default 5)\n"
        "  --fail-on-nplus1    exit 1 when any statement shows an N+1 pattern\n"
        "\n"
        "examples:\n"
        "  sonde queries --since 1h\n"
        "  sonde queries --service orders --slow 50ms --limit 20\n"
        "  sonde queries --fail-on-nplus1 --json > queries.json\n";

int sonde_cmd_queries(int argc, char **argv)
{
	enum { OPT_SLOW = SONDE_QOPT_END, OPT_NPLUS1, OPT_FAIL_NPLUS1 };
	static const struct option longopts[] = {
	        SONDE_QOPT_LONGOPTS,
	        {"slow", required_argument, NULL, OPT_SLOW},
	        {"nplus1", required_argument, NULL, OPT_NPLUS1},
	        {"fail-on-nplus1", no_argument, NULL, OPT_FAIL_NPLUS1},
	        {NULL, 0, NULL, 0},
	};
	sonde_qopts o;
	sonde_qopts_init(&o, "queries");
	sonde_queries acc;
	sonde_queries_init(&acc);
	bool fail_nplus1 = false;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int h = sonde_qopts_parse(&o, c, optarg);
		if (h < 0)
			return SONDE_EXIT_USAGE;
		if (h)
			continue;
		if (c == OPT_SLOW) {
			if (sonde_cli_parse_duration(optarg, &acc.slow_ns) < 0) {
				sonde_cli_error("queries",
				                "--slow '%s': expected a duration such as 50ms or 1s",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
		} else if (c == OPT_NPLUS1) {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (end == optarg || *end || *optarg == '-' || v < 2 || v > 1000000) {
				sonde_cli_error("queries", "--nplus1 '%s': expected a count of at least 2",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			acc.nplus1_min = (uint32_t)v;
		} else if (c == OPT_FAIL_NPLUS1) {
			fail_nplus1 = true;
		} else {
			sonde_cli_error("queries", "unknown option '%s'; see sonde queries --help",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		sonde_cli_error("queries", "unexpected argument '%s'", argv[optind]);
		return SONDE_EXIT_USAGE;
	}
	int rc = sonde_qopts_open(&o);
	if (rc != SONDE_EXIT_OK) {
		sonde_qopts_close(&o);
		return rc;
	}
	size_t limit = o.limit;
	o.q.limit = 0;
	int e = sonde_queries_run(o.store, &o.q, &acc);
	if (e < 0) {
		sonde_cli_error("queries", "%s",
		                sonde_store_errmsg(o.store)[0] ? sonde_store_errmsg(o.store)
		                                               : sonde_strerror(e));
		rc = SONDE_EXIT_USAGE;
	} else {
		sonde_buf out = SONDE_BUF_INIT;
		int w = o.json ? sonde_render_queries_json(&acc, limit, &out)
		               : sonde_render_queries_text(&acc, limit, &o.term, &out);
		rc = w < 0 ? (sonde_cli_error("queries", "out of memory"), SONDE_EXIT_USAGE)
		           : sonde_cli_emit("queries", &out);
		sonde_buf_release(&out);
		bool found = false;
		for (size_t i = 0; i < acc.count; i++)
			found |= acc.groups[i].nplus1_parents > 0;
		if (rc == SONDE_EXIT_OK && fail_nplus1 && found)
			rc = SONDE_EXIT_FINDING;
	}
	sonde_queries_release(&acc);
	sonde_qopts_close(&o);
	return rc;
}
