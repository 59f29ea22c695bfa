/*
 * cmd_errors.c - `sonde errors`: error log records and failed spans grouped by template,
 * with categories, rates and spikes, concentrations, common stack frames and cascades
 * across services (the engine is src/analyze/errors.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_query.h"
#include "errors.h"
#include "errors_report.h"
#include "sonde/status.h"

const char sonde_errors_usage[] =
        "usage: sonde errors [options]\n"
        "\n"
        "Error log records (severity ERROR or worse) and failed spans (status ERROR) in the\n"
        "store, grouped by the template the log template miner gives their messages (the\n"
        "template it ended with: ids, numbers, addresses masked, and what varied), most\n"
        "errors first. For each group: count, first and last seen, services, the users,\n"
        "endpoints (http.route) and hosts that carry it and whether one carries a\n"
        "disproportionate share, the error type, a category (input_validation,\n"
        "model_inference, infrastructure, resource_exhaustion, third_party, unknown) with a\n"
        "hypothesis and what to check next, the rate per second, minute or hour with spikes\n"
        "(a bucket over three times the mean) and their onset, a period when the errors\n"
        "repeat, and the stack frames common to at least half of its traces. Then cascades:\n"
        "groups of several services whose onsets follow each other within --cascade-window,\n"
        "earliest first, with the service where each began (from trace ids where errors of\n"
        "one trace touch several services, else the earliest onset). See docs/errors.md.\n"
        "\n"
        "options:\n"
        "  --rules FILE        category rules tried before the built-in ones, one per line:\n"
        "                      CATEGORY text|type|status|attr|service PATTERN (docs/errors.md)\n"
        "  --cascade-window D  onsets this close chain into one cascade (default 60s)\n" SONDE_QOPT_HELP
        "                      (--limit: groups shown; --error is implied)\n"
        "\n"
        "examples:\n"
        "  sonde errors --since 1h\n"
        "  sonde errors --at-data --since 30m --service checkout\n"
        "  sonde errors --rules team.rules --json | jq '.groups[] | {template, category, count}'\n";

static int load_rules(const char *path, sonde_error_rules *rules)
{
	char *data = NULL;
	size_t len = 0;
	int e = sonde_cli_read_file(path, &data, &len);
	if (e < 0) {
		sonde_cli_error("errors", "--rules %s: %s", path, strerror(-e));
		return SONDE_EXIT_USAGE;
	}
	char msg[512];
	e = sonde_error_rules_parse(rules, path, data, len, msg, sizeof(msg));
	free(data);
	if (e == -ENOMEM) {
		sonde_cli_error("errors", "out of memory");
		return SONDE_EXIT_USAGE;
	}
	if (e < 0) {
		sonde_cli_error("errors", "%s", msg);
		return SONDE_EXIT_USAGE;
	}
	return SONDE_EXIT_OK;
}

int sonde_cmd_errors(int argc, char **argv)
{
	enum { OPT_RULES = SONDE_QOPT_END, OPT_CASCADE_WINDOW };
	static const struct option longopts[] = {
	        SONDE_QOPT_LONGOPTS,
	        {"rules", required_argument, NULL, OPT_RULES},
	        {"cascade-window", required_argument, NULL, OPT_CASCADE_WINDOW},
	        {NULL, 0, NULL, 0},
	};
	sonde_qopts o;
	sonde_qopts_init(&o, "errors");
	sonde_error_rules rules;
	sonde_error_rules_init(&rules);
	uint64_t window_ns = 60000000000ull;
	int rc = SONDE_EXIT_OK, c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int h = sonde_qopts_parse(&o, c, optarg);
		if (h < 0) {
			rc = SONDE_EXIT_USAGE;
			goto done;
		}
		if (h)
			continue;
		if (c == OPT_RULES) {
			if ((rc = load_rules(optarg, &rules)) != SONDE_EXIT_OK)
				goto done;
		} else if (c == OPT_CASCADE_WINDOW) {
			if (sonde_cli_parse_duration(optarg, &window_ns) < 0 || !window_ns) {
				sonde_cli_error("errors",
				                "--cascade-window '%s': expected a duration (30s, 2m)",
				                optarg);
				rc = SONDE_EXIT_USAGE;
				goto done;
			}
		} else {
			sonde_cli_error("errors", "unknown option '%s'; see sonde errors --help",
			                argv[optind - 1]);
			rc = SONDE_EXIT_USAGE;
			goto done;
		}
	}
	if (optind < argc) {
		sonde_cli_error("errors", "unexpected argument '%s'", argv[optind]);
		rc = SONDE_EXIT_USAGE;
		goto done;
	}
	if ((rc = sonde_qopts_open(&o)) != SONDE_EXIT_OK)
		goto done;
	size_t limit = o.limit_set ? o.limit : 0;
	o.q.limit = 0; /* --limit trims the groups shown, not the records counted */
	sonde_errors_opts eo = {
	        .rules = &rules,
	        .since_ns = o.q.since_ns,
	        .until_ns = o.q.until_ns,
	        .cascade_window_ns = window_ns,
	};
	sonde_errors *e = sonde_errors_new(&eo);
	if (!e) {
		sonde_cli_error("errors", "out of memory");
		rc = SONDE_EXIT_USAGE;
		goto done;
	}
	int err = sonde_errors_run(e, o.store, &o.q);
	if (err == 0)
		err = sonde_errors_finish(e);
	if (err < 0) {
		sonde_cli_error("errors", "%s",
		                sonde_store_errmsg(o.store)[0] ? sonde_store_errmsg(o.store)
		                                               : sonde_strerror(err));
		rc = SONDE_EXIT_USAGE;
	} else {
		const sonde_errors_result *r = sonde_errors_result_get(e);
		sonde_buf out = SONDE_BUF_INIT;
		int w = o.json ? sonde_render_errors_json(r, limit, window_ns, &out)
		               : sonde_render_errors_text(r, limit, window_ns, &o.term, &out);
		rc = w < 0 ? (sonde_cli_error("errors", "out of memory"), SONDE_EXIT_USAGE)
		           : sonde_cli_emit("errors", &out);
		sonde_buf_release(&out);
	}
	sonde_errors_free(e);
done:
	sonde_qopts_close(&o);
	sonde_error_rules_release(&rules);
	return rc;
}
