/*
 * cmd_postmortem.c - `sonde postmortem ID`: the blameless post-mortem of an incident as
 * Markdown (postmortem.h), from its journal entries and the telemetry in the same store.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "cli_query.h"
#include "postmortem.h"
#include "sonde/status.h"

const char sonde_postmortem_usage[] =
        "usage: sonde postmortem ID [-o FILE.md] [options]\n"
        "\n"
        "Writes the blameless post-mortem of incident ID (see `sonde incident`) as Markdown:\n"
        "a summary; the impact computed from the telemetry over the incident window\n"
        "(duration, requests and failed requests, error rate against the hour before,\n"
        "affected users from enduser.id / user_id, endpoints from http.route or the span\n"
        "name); a timeline that merges what the store shows (the first error, anomaly onsets,\n"
        "the first span of each new service.version, journal events such as canary verdicts,\n"
        "recovery) with the incident's entries; the investigation; the root cause;\n"
        "contributing factors; what went well and wrong; action items by priority.\n"
        "\n"
        "The window opens at the first error (failed span or ERROR log) in the lookback\n"
        "before the incident was opened, and closes at recovery: the first minute after the\n"
        "last one whose error rate was above the baseline. docs/incident.md has the rules.\n"
        "\n"
        "When the incident has no verified hypothesis, no root cause, or a root cause that\n"
        "restates a symptom, the post-mortem says so and sonde exits 1 (after writing it)\n"
        "unless --force.\n"
        "\n"
        "options:\n"
        "  -o, --output FILE   write the Markdown to FILE instead of standard output\n"
        "  --db PATH           the store (default $SONDE_DB, else ./sonde.db)\n"
        "  --since TIME        open the impact window at TIME (RFC 3339, or relative: 2h)\n"
        "  --until TIME        close it at TIME\n"
        "  --lookback D        how far before the incident to look for the first error (default 6h)\n"
        "  --force             exit 0 even when a guard rail is flagged\n"
        "\n"
        "environment:\n"
        "  SONDE_NOW           an RFC 3339 time used instead of the clock (the end of an open\n"
        "                      incident, the date written)\n"
        "\n"
        "examples:\n"
        "  sonde postmortem INC-1 -o postmortem.md\n"
        "  sonde postmortem INC-3 --since 2024-05-01T10:00:00Z --until 2024-05-01T11:30:00Z\n";

#define VERB "postmortem"

int sonde_cmd_postmortem(int argc, char **argv)
{
	enum { OPT_DB = 1000, OPT_SINCE, OPT_UNTIL, OPT_LOOKBACK, OPT_FORCE };
	static const struct option longopts[] = {
	        {"output", required_argument, NULL, 'o'},
	        {"db", required_argument, NULL, OPT_DB},
	        {"since", required_argument, NULL, OPT_SINCE},
	        {"until", required_argument, NULL, OPT_UNTIL},
	        {"lookback", required_argument, NULL, OPT_LOOKBACK},
	        {"force", no_argument, NULL, OPT_FORCE},
	        {NULL, 0, NULL, 0},
	};
	const char *output = NULL, *db = NULL, *since = NULL, *until = NULL;
	bool force = false;
	sonde_postmortem_opts po = {0};
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case OPT_DB: db = optarg; break;
		case OPT_SINCE: since = optarg; break;
		case OPT_UNTIL: until = optarg; break;
		case OPT_FORCE: force = true; break;
		case OPT_LOOKBACK:
			if (sonde_cli_parse_duration(optarg, &po.lookback_ns) < 0 || !po.lookback_ns) {
				sonde_cli_error(VERB, "--lookback '%s': expected a duration such as 6h",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		default:
			sonde_cli_error(VERB,
			                "unknown option or missing value '%s'; see sonde postmortem --help",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		sonde_cli_error(VERB, "which incident? sonde postmortem ID (sonde incident list shows them)");
		return SONDE_EXIT_USAGE;
	}
	const char *id = argv[optind++];
	if (optind < argc) {
		sonde_cli_error(VERB, "unexpected argument '%s'", argv[optind]);
		return SONDE_EXIT_USAGE;
	}
	const char *env = getenv("SONDE_NOW");
	uint64_t now = sonde_cli_now_ns();
	if (env && *env && sonde_cli_parse_time(env, &now) < 0) {
		sonde_cli_error(
		        VERB, "SONDE_NOW '%s': expected an RFC 3339 time such as 2024-05-01T10:00:00Z", env);
		return SONDE_EXIT_USAGE;
	}
	po.now_ns = now;
	if (since && sonde_cli_parse_when(since, now, &po.since_ns) < 0) {
		sonde_cli_error(VERB, "--since '%s': expected an RFC 3339 time, a date, or a duration (2h)",
		                since);
		return SONDE_EXIT_USAGE;
	}
	if (until && sonde_cli_parse_when(until, now, &po.until_ns) < 0) {
		sonde_cli_error(VERB, "--until '%s': expected an RFC 3339 time, a date, or a duration (2h)",
		                until);
		return SONDE_EXIT_USAGE;
	}
	if (!db)
		db = getenv("SONDE_DB");
	if (!db || !*db)
		db = SONDE_STORE_DEFAULT_URI;
	sonde_store *s;
	char msg[512];
	int rc = sonde_store_open(db, SONDE_STORE_READONLY, &s, msg, sizeof msg);
	if (rc < 0) {
		if (rc == -ENOENT)
			sonde_cli_error(VERB, "%s: no such store; --db names another", db);
		else
			sonde_cli_error(VERB, "%s", msg[0] ? msg : sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	sonde_buf out = SONDE_BUF_INIT;
	unsigned flags = 0;
	rc = sonde_postmortem_markdown(s, id, &po, &out, &flags, msg, sizeof msg);
	sonde_store_close(s);
	if (rc < 0) {
		sonde_cli_error(VERB, "%s: %s", id, msg);
		sonde_buf_release(&out);
		return SONDE_EXIT_USAGE;
	}
	rc = sonde_cli_write_output(VERB, output, &out, false);
	sonde_buf_release(&out);
	if (rc != SONDE_EXIT_OK)
		return rc;
	if (flags & SONDE_PM_NO_VERIFIED_HYPOTHESIS)
		sonde_cli_error(VERB, "%s%s: no hypothesis was verified", force ? "warning: " : "", id);
	if (flags & SONDE_PM_NO_ROOT_CAUSE)
		sonde_cli_error(VERB, "%s%s: no root cause was recorded", force ? "warning: " : "", id);
	if (flags & SONDE_PM_SYMPTOM_ROOT_CAUSE)
		sonde_cli_error(VERB, "%s%s: the root cause restates a symptom", force ? "warning: " : "",
		                id);
	return flags && !force ? SONDE_EXIT_FINDING : SONDE_EXIT_OK;
}
