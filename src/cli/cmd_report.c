/*
 * cmd_report.c - `sonde report`: one self-contained HTML file over a window of the store
 * (src/render/report_html.h): overview, slowest traces with the waterfall and critical
 * path of the worst, error groups and their spikes, anomalies on their series, a flame
 * graph of a given profile, canary and compare verdicts, and the post-mortem.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_query.h"
#include "arena.h"
#include "journal.h"
#include "postmortem.h"
#include "profile_formats.h"
#include "report_html.h"
#include "sonde/status.h"
#include "stacktab.h"

const char sonde_report_usage[] =
        "usage: sonde report -o FILE.html [options]\n"
        "\n"
        "Writes one self-contained HTML file about a window of the store: an overview\n"
        "(services, throughput, error rate and p95 latency over time), the slowest traces\n"
        "with the waterfall of the worst and its critical path, error groups with their spike\n"
        "charts, anomalies plotted on their metric series, a flame graph of --profile, canary\n"
        "and compare verdicts, and the post-mortem of --incident. The file loads nothing: no\n"
        "network, no external script, font or style; it reads with scripts off and prints.\n"
        "Everything from the store is escaped. See docs/report.md.\n"
        "\n"
        "options:\n"
        "  -o, --output FILE   the HTML file to write (- for standard output)\n"
        "  --db PATH           the store (default $SONDE_DB, else ./sonde.db)\n"
        "  --since TIME        from TIME: RFC 3339, a date, or relative (15m, 2h, 1d ago);\n"
        "                      default: the oldest record stored\n"
        "  --until TIME        up to TIME (same forms); default: the newest record stored\n"
        "  --at-data           relative times count back from the newest span stored, not now\n"
        "  --service NAME      only this service's spans, errors and series\n"
        "  --incident ID       a report about this incident (INC-n), with its post-mortem;\n"
        "                      the window, unless given: an hour before it was created to\n"
        "                      ten minutes after it was resolved (or now)\n"
        "  --postmortem FILE   the post-mortem to include, in Markdown, instead of the one\n"
        "                      sonde postmortem writes for --incident\n"
        "  --profile FILE      a profile to draw as a flame graph (any format sonde flame reads:\n"
        "                      folded, perf script, pprof, ...)\n"
        "  --title TEXT        the report's title (default \"sonde report\")\n"
        "  --slowest N         rows in the slowest-traces table (default 10)\n"
        "\n"
        "examples:\n"
        "  sonde report -o report.html\n"
        "  sonde report --since 2h --at-data --profile cpu.folded -o report.html\n"
        "  sonde report --incident INC-3 -o incident-3.html\n";

/* ---- The incident, its post-mortem, and the journal's verdicts ------------------------ */

/* Sets *since and *until to the report window incident id suggests: from an hour before
 * it was created to ten minutes after it was resolved (or now, while it is open); and,
 * when md is non-NULL, appends its post-mortem to md. Returns an exit code. */
static int incident_postmortem(sonde_store *s, const char *id, sonde_buf *md, uint64_t *since,
                               uint64_t *until)
{
	sonde_incident_record rec;
	int e = sonde_incident_get(s, id, &rec);
	if (e == 0) {
		uint64_t hour = 3600000000000ull, end = rec.inc.resolved_ns;
		if (!end)
			end = (uint64_t)time(NULL) * 1000000000u;
		*since = rec.inc.created_ns > hour ? rec.inc.created_ns - hour : 0;
		*until = end + hour / 6;
	}
	sonde_incident_record_release(&rec);
	char err[256] = "";
	if (e == 0 && md)
		e = sonde_postmortem_markdown(s, id, NULL, md, NULL, err, sizeof err);
	if (e < 0) {
		const char *msg = err[0]                     ? err
		                  : sonde_store_errmsg(s)[0] ? sonde_store_errmsg(s)
		                                             : sonde_strerror(e);
		sonde_cli_error("report", "--incident %s: %s", id,
		                e == -ENOENT && !err[0] ? "no such incident" : msg);
		return SONDE_EXIT_USAGE;
	}
	return SONDE_EXIT_OK;
}

static int cmp_verdict_time(const void *a, const void *b)
{
	const sonde_report_verdict *x = a, *y = b;
	return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

/* Reads the canary and compare verdicts recorded in the journal within q's window into
 * *out (released by the caller), and fills the report's verdict list from it: the
 * verdict is the detail's "verdict" member, else the summary up to its first colon.
 * *verdicts is a malloc'd array the caller frees; its strings point into *out and *arena.
 * Returns an exit code. */
static int journal_verdicts(sonde_store *s, const sonde_query *q, sonde_event_list out[2], sonde_arena *arena,
                            sonde_report_opts *ro, sonde_report_verdict **verdicts)
{
	static const char *const kinds[2] = {"canary", "compare"};
	size_t total = 0;
	for (int k = 0; k < 2; k++) {
		sonde_event_query eq = {.since_ns = q->since_ns, .until_ns = q->until_ns, .kind = kinds[k]};
		ssize_t n = sonde_store_events(s, &eq, &out[k]);
		if (n == SONDE_EUNSUPPORTED)
			return SONDE_EXIT_OK; /* a backend without a journal: verdicts_known stays false */
		if (n < 0) {
			sonde_cli_error("report", "reading the journal: %s",
			                sonde_store_errmsg(s)[0] ? sonde_store_errmsg(s)
			                                         : sonde_strerror((int)n));
			return SONDE_EXIT_USAGE;
		}
		total += (size_t)n;
	}
	ro->verdicts_known = true;
	if (!total)
		return SONDE_EXIT_OK;
	sonde_report_verdict *v = calloc(total, sizeof *v);
	if (!v) {
		sonde_cli_error("report", "out of memory");
		return SONDE_EXIT_USAGE;
	}
	size_t n = 0;
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < out[k].count; i++) {
			const sonde_event *ev = &out[k].items[i];
			char word[64];
			const char *sum = ev->summary ? ev->summary : "";
			if (!sonde_incident_detail_get(ev->detail_json, "verdict", word, sizeof word)) {
				size_t w = strcspn(sum, ":");
				snprintf(word, sizeof word, "%.*s", (int)(w < 63 ? w : 63), sum);
			}
			v[n++] = (sonde_report_verdict){
			        .time_ns = ev->time_ns,
			        .kind = ev->kind,
			        .source = ev->source,
			        .verdict = sonde_arena_strndup(arena, word, strlen(word)),
			        .detail = sum};
		}
	qsort(v, n, sizeof *v, cmp_verdict_time);
	ro->verdicts = v;
	ro->verdicts_count = n;
	*verdicts = v;
	return SONDE_EXIT_OK;
}

/* False when a verdict's string could not be copied (out of memory). */
static bool verdicts_complete(const sonde_report_opts *ro)
{
	for (size_t i = 0; i < ro->verdicts_count; i++)
		if (!ro->verdicts[i].verdict)
			return false;
	return true;
}

/* ---- The verb -------------------------------------------------------------------------- */

int sonde_cmd_report(int argc, char **argv)
{
	enum {
		OPT_OUTPUT = SONDE_QOPT_END,
		OPT_PROFILE,
		OPT_INCIDENT,
		OPT_POSTMORTEM,
		OPT_TITLE,
		OPT_SLOWEST,
	};
	static const struct option longopts[] = {
	        SONDE_QOPT_LONGOPTS,
	        {"output", required_argument, NULL, OPT_OUTPUT},
	        {"profile", required_argument, NULL, OPT_PROFILE},
	        {"incident", required_argument, NULL, OPT_INCIDENT},
	        {"postmortem", required_argument, NULL, OPT_POSTMORTEM},
	        {"title", required_argument, NULL, OPT_TITLE},
	        {"slowest", required_argument, NULL, OPT_SLOWEST},
	        {NULL, 0, NULL, 0},
	};
	sonde_qopts o;
	sonde_qopts_init(&o, "report");
	sonde_report_opts ro = {0};
	const char *output = NULL, *profile_path = NULL, *pm_path = NULL;
	sonde_stacktab *prof = NULL;
	sonde_buf pm = SONDE_BUF_INIT;
	sonde_report_verdict *verdicts = NULL;
	sonde_event_list events[2];
	sonde_arena arena;
	sonde_buf out = SONDE_BUF_INIT;
	memset(events, 0, sizeof events);
	sonde_arena_init(&arena);
	int rc = SONDE_EXIT_OK, c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		int h = sonde_qopts_parse(&o, c, optarg);
		if (h < 0) {
			rc = SONDE_EXIT_USAGE;
			goto done;
		}
		if (h)
			continue;
		switch (c) {
		case 'o':
		case OPT_OUTPUT: output = optarg; break;
		case OPT_PROFILE: profile_path = optarg; break;
		case OPT_INCIDENT: ro.incident_id = optarg; break;
		case OPT_POSTMORTEM: pm_path = optarg; break;
		case OPT_TITLE: ro.title = optarg; break;
		case OPT_SLOWEST: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 1 || v > 1000) {
				sonde_cli_error("report", "--slowest '%s': expected a count from 1 to 1000",
				                optarg);
				rc = SONDE_EXIT_USAGE;
				goto done;
			}
			ro.slow_traces = (size_t)v;
			break;
		}
		default:
			sonde_cli_error("report", "unknown option '%s'; see sonde report --help",
			                argv[optind - 1]);
			rc = SONDE_EXIT_USAGE;
			goto done;
		}
	}
	if (optind < argc) {
		sonde_cli_error("report", "unexpected argument '%s'", argv[optind]);
		rc = SONDE_EXIT_USAGE;
		goto done;
	}
	if (!output) {
		sonde_cli_error("report", "no output file given: -o FILE.html (- for standard output)");
		rc = SONDE_EXIT_USAGE;
		goto done;
	}
	if (profile_path) {
		prof = sonde_stacktab_new();
		if (!prof) {
			sonde_cli_error("report", "out of memory");
			rc = SONDE_EXIT_USAGE;
			goto done;
		}
		sonde_profile_read_opts pro = {0};
		if ((rc = sonde_cli_read_profile("report", profile_path, 0, &pro, prof)) != SONDE_EXIT_OK ||
		    (rc = sonde_cli_profile_type("report", prof, NULL, &ro.profile_type)) != SONDE_EXIT_OK)
			goto done;
		ro.profile = prof;
		const char *slash = strrchr(profile_path, '/');
		ro.profile_name = slash && slash[1] ? slash + 1 : profile_path;
	}
	if (pm_path) {
		char *data = NULL;
		size_t len = 0;
		int e = sonde_cli_read_file(pm_path, &data, &len);
		if (e < 0) {
			sonde_cli_error("report", "--postmortem %s: %s", pm_path, strerror(-e));
			rc = SONDE_EXIT_USAGE;
			goto done;
		}
		sonde_buf_append(&pm, data, len);
		free(data);
	}
	if ((rc = sonde_qopts_open(&o)) != SONDE_EXIT_OK)
		goto done;
	if (ro.incident_id) {
		uint64_t since = 0, until = 0;
		sonde_buf md = SONDE_BUF_INIT;
		rc = incident_postmortem(o.store, ro.incident_id, pm_path ? NULL : &md, &since, &until);
		if (rc == SONDE_EXIT_OK && md.len)
			sonde_buf_append(&pm, md.data, md.len);
		sonde_buf_release(&md);
		if (rc != SONDE_EXIT_OK)
			goto done;
		/* The incident's window, unless the user gave one. */
		if (!o.since && !o.until) {
			o.q.since_ns = since;
			o.q.until_ns = until;
		}
	}
	if (pm_path || ro.incident_id) {
		ro.postmortem_md = pm.len ? pm.data : NULL;
		ro.postmortem_len = pm.len;
	}
	if ((rc = journal_verdicts(o.store, &o.q, events, &arena, &ro, &verdicts)) != SONDE_EXIT_OK)
		goto done;
	if (pm.oom || !verdicts_complete(&ro)) {
		sonde_cli_error("report", "out of memory");
		rc = SONDE_EXIT_USAGE;
		goto done;
	}
	ro.q = &o.q;
	ro.generated_ns = (uint64_t)time(NULL) * 1000000000u;
	int e = sonde_report_html(o.store, &ro, &out);
	if (e < 0) {
		const char *msg = sonde_store_errmsg(o.store);
		sonde_cli_error("report", "%s", e != -ENOMEM && msg[0] ? msg : sonde_strerror(e));
		rc = SONDE_EXIT_USAGE;
		goto done;
	}
	bool to_stdout = strcmp(output, "-") == 0;
	rc = sonde_cli_write_output("report", to_stdout ? NULL : output, &out, false);
	if (rc == SONDE_EXIT_OK && !to_stdout)
		fprintf(stderr, "sonde report: wrote %s (%zu KiB)\n", output, (out.len + 1023) / 1024);
done:
	sonde_buf_release(&out);
	free(verdicts);
	sonde_event_list_release(&events[0]);
	sonde_event_list_release(&events[1]);
	sonde_arena_release(&arena);
	sonde_buf_release(&pm);
	sonde_stacktab_free(prof);
	sonde_qopts_close(&o);
	return rc;
}
