/*
 * sonde.c - the sonde command: the table of verbs and the dispatcher.
 *
 * Each verb lives in its own cmd_<verb>.c and is registered here, once. Verbs are grouped
 * by job (instrument, profile, investigate) for `sonde help`.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const sonde_cmd sonde_commands[] = {
        {"convert", SONDE_JOB_INVESTIGATE,
         "convert telemetry between formats (OTLP JSON/protobuf, Zipkin, Jaeger, Chrome, Prometheus, Influx)",
         sonde_cmd_convert, sonde_convert_usage},
        {"ingest", SONDE_JOB_INVESTIGATE,
         "store telemetry files (traces, logs, metrics in any format sonde reads) in the store",
         sonde_cmd_ingest, sonde_ingest_usage},
        {"serve", SONDE_JOB_INVESTIGATE,
         "receive OTLP/HTTP (traces, metrics, logs) and Zipkin into the store, acknowledged once stored "
         "or journaled",
         sonde_cmd_serve, sonde_serve_usage},
        {"db", SONDE_JOB_INVESTIGATE,
         "the store: sizes, counts and time range (info); delete old data (prune)", sonde_cmd_db,
         sonde_db_usage},
        {"traces", SONDE_JOB_INVESTIGATE,
         "find traces by service, operation, time, duration, error, attribute", sonde_cmd_traces,
         sonde_traces_usage},
        {"trace", SONDE_JOB_INVESTIGATE,
         "one trace: waterfall, critical path, self times, errors, N+1 calls, its logs and metrics",
         sonde_cmd_trace, sonde_trace_usage},
        {"latency", SONDE_JOB_INVESTIGATE,
         "latency per service, operation or attribute: rates, errors, p50-p99.9, histograms",
         sonde_cmd_latency, sonde_latency_usage},
        {"queries", SONDE_JOB_INVESTIGATE, "database calls by statement: time, slow calls, N+1 patterns",
         sonde_cmd_queries, sonde_queries_usage},
        {"logs", SONDE_JOB_INVESTIGATE,
         "log files as templates: counts, ids, examples, the template of each line", sonde_cmd_logs,
         sonde_logs_usage},
        {"errors", SONDE_JOB_INVESTIGATE,
         "errors grouped by template: categories, spikes, users and endpoints, common frames, cascades",
         sonde_cmd_errors, sonde_errors_usage},
        {"anomalies", SONDE_JOB_INVESTIGATE,
         "anomalies in metric series, with the errors, failed traces and services around them",
         sonde_cmd_anomalies, sonde_anomalies_usage},
        {"report", SONDE_JOB_INVESTIGATE,
         "one self-contained HTML report: overview, slowest traces, errors, anomalies, flame graph",
         sonde_cmd_report, sonde_report_usage},
        {"incident", SONDE_JOB_INVESTIGATE,
         "keep an investigation next to its evidence: repro, evidence, hypotheses, root cause, actions",
         sonde_cmd_incident, sonde_incident_usage},
        {"postmortem", SONDE_JOB_INVESTIGATE,
         "write an incident's blameless post-mortem (Markdown): impact, timeline, root cause, actions",
         sonde_cmd_postmortem, sonde_postmortem_usage},
        {"abtest", SONDE_JOB_INVESTIGATE,
         "analyse an A/B test: significance, intervals, lift, power, sample ratio mismatch, segments",
         sonde_cmd_abtest, sonde_abtest_usage},
        {"compare", SONDE_JOB_INVESTIGATE,
         "did a release get slower? per-operation latency and errors, baseline vs current, with tests",
         sonde_cmd_compare, sonde_compare_usage},
        {"canary", SONDE_JOB_INVESTIGATE,
         "canary analysis: score, pass/marginal/fail verdict, evidence bundle, rollback command",
         sonde_cmd_canary, sonde_canary_usage},
        {"bench", SONDE_JOB_INVESTIGATE,
         "benchmark a command: repeated runs, quantiles, outliers; compare two commands; SLO exit codes",
         sonde_cmd_bench, sonde_bench_usage},
        {"record", SONDE_JOB_PROFILE, "sample the CPU use of processes or a command into a profile",
         sonde_cmd_record, sonde_record_usage},
        {"mem", SONDE_JOB_PROFILE, "record a command's allocations; report peak, leaks and allocation sites",
         sonde_cmd_mem, sonde_mem_usage},
        {"dump", SONDE_JOB_PROFILE, "print the current stack of every thread of a running process",
         sonde_cmd_dump, sonde_dump_usage},
        {"top", SONDE_JOB_PROFILE, "watch the hottest functions of running processes, live", sonde_cmd_top,
         sonde_top_usage},
        {"flame", SONDE_JOB_PROFILE,
         "render a profile (folded, perf script, pprof) as a flame graph, or convert it (speedscope, pprof)",
         sonde_cmd_flame, sonde_flame_usage},
        {"diff", SONDE_JOB_PROFILE,
         "compare two profiles: functions that changed most, differential flame graph", sonde_cmd_diff,
         sonde_diff_usage},
        {"help", SONDE_JOB_UTILITY, "list the verbs, or show one verb's help", sonde_cmd_help,
         "usage: sonde help [VERB]\n\n"
         "Without VERB, lists every verb grouped by job. With VERB, prints that verb's help,\n"
         "the same as `sonde VERB --help`.\n"},
        {"version", SONDE_JOB_UTILITY, "print the version", sonde_cmd_version,
         "usage: sonde version\n       sonde --version\n"},
};
const size_t sonde_commands_count = sizeof(sonde_commands) / sizeof(sonde_commands[0]);

void sonde_cli_error(const char *verb, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "sonde%s%s: ", verb ? " " : "", verb ? verb : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

bool sonde_cli_is_help(const char *arg)
{
	return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

const sonde_cmd *sonde_cli_find(const char *verb)
{
	for (size_t i = 0; i < sonde_commands_count; i++)
		if (strcmp(sonde_commands[i].name, verb) == 0)
			return &sonde_commands[i];
	return NULL;
}

int sonde_cli_usage(const sonde_cmd *cmd)
{
	if (cmd->usage)
		fputs(cmd->usage, stdout);
	else
		printf("usage: sonde %s\n\n%s\n", cmd->name, cmd->summary);
	return SONDE_EXIT_OK;
}

int sonde_cli_finish(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			sonde_cli_error(NULL, "error writing to standard output: %s", strerror(errno));
		return rc ? rc : SONDE_EXIT_USAGE;
	}
	return rc;
}

int sonde_cli_read_file(const char *path, char **data, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return -errno;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		if (f != stdin)
			fclose(f);
		return -ENOMEM;
	}
	for (;;) {
		if (cap - n < 4096) {
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				if (f != stdin)
					fclose(f);
				return -ENOMEM;
			}
			buf = p;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0)
			break;
	}
	int err = ferror(f) ? -EIO : 0;
	if (f != stdin)
		fclose(f);
	if (err) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		sonde_cmd_help(1, argv);
		return SONDE_EXIT_USAGE;
	}
	const char *verb = argv[1];
	if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0)
		return sonde_cli_finish(sonde_cmd_version(1, argv + 1));
	if (sonde_cli_is_help(verb))
		return sonde_cli_finish(sonde_cmd_help(1, argv + 1));
	const sonde_cmd *cmd = sonde_cli_find(verb);
	if (!cmd) {
		sonde_cli_error(NULL, "'%s' is not a sonde verb; `sonde help` lists them", verb);
		return SONDE_EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (sonde_cli_is_help(argv[i]))
			return sonde_cli_finish(sonde_cli_usage(cmd));
	}
	return sonde_cli_finish(cmd->run(argc - 1, argv + 1));
}
