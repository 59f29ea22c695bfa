/*
 * cli.h - what every command of the sonde CLI shares: the command table entry, exit
 * codes, and the small helpers for messages and option parsing.
 *
 * Only src/cli/ prints, exits, or reads the environment and the terminal.
 */
#ifndef SONDE_CLI_H
#define SONDE_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum {
	SONDE_EXIT_OK = 0,      /* success */
	SONDE_EXIT_FINDING = 1, /* the analysis found what the user asked to fail on */
	SONDE_EXIT_USAGE = 2,   /* bad usage or bad input */
};

typedef enum sonde_job {
	SONDE_JOB_INSTRUMENT,
	SONDE_JOB_PROFILE,
	SONDE_JOB_INVESTIGATE,
	SONDE_JOB_UTILITY,
} sonde_job;

typedef struct sonde_cmd {
	const char *name;
	sonde_job job;
	const char *summary;               /* one line for `sonde help` */
	int (*run)(int argc, char **argv); /* argv[0] is the verb; returns an exit code */
	const char *usage;                 /* full --help text */
} sonde_cmd;

/* The command table (sonde.c). */
extern const sonde_cmd sonde_commands[];
extern const size_t sonde_commands_count;

/* Prints "sonde VERB: message" to stderr. */
void sonde_cli_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv[i] is -h or --help. */
bool sonde_cli_is_help(const char *arg);
/* Prints the command's usage to stdout. Returns SONDE_EXIT_OK. */
int sonde_cli_usage(const sonde_cmd *cmd);
/* Looks a verb up in the table; NULL when unknown. */
const sonde_cmd *sonde_cli_find(const char *verb);
/* Flushes stdout and reports a write error (full disk, closed pipe). Returns the exit
 * code to use: rc, or SONDE_EXIT_USAGE... when stdout failed. */
int sonde_cli_finish(int rc);
/* Reads a whole file ("-" for stdin) into a malloc'd buffer. Returns 0 or -errno. */
int sonde_cli_read_file(const char *path, char **data, size_t *len);

int sonde_cmd_help(int argc, char **argv);
int sonde_cmd_version(int argc, char **argv);
int sonde_cmd_convert(int argc, char **argv);
extern const char sonde_convert_usage[];
int sonde_cmd_ingest(int argc, char **argv);
extern const char sonde_ingest_usage[];
int sonde_cmd_db(int argc, char **argv);
extern const char sonde_db_usage[];
int sonde_cmd_traces(int argc, char **argv);
extern const char sonde_traces_usage[];
int sonde_cmd_trace(int argc, char **argv);
extern const char sonde_trace_usage[];
int sonde_cmd_latency(int argc, char **argv);
extern const char sonde_latency_usage[];
int sonde_cmd_queries(int argc, char **argv);
extern const char sonde_queries_usage[];
int sonde_cmd_flame(int argc, char **argv);
extern const char sonde_flame_usage[];
int sonde_cmd_diff(int argc, char **argv);
extern const char sonde_diff_usage[];

/* Profile input and output shared by the profile verbs (cmd_flame.c). */
struct sonde_stacktab;
struct sonde_profile_read_opts;
struct sonde_buf;
/* Reads a profile file ("-" for standard input) into t: `from` is a sonde_profile_format,
 * or 0 to detect it from the content; folded input is streamed. Problems are printed
 * (FILE:LINE: offset N: field F: message). Returns an exit code. */
int sonde_cli_read_profile(const char *verb, const char *path, int from,
                           const struct sonde_profile_read_opts *ro, struct sonde_stacktab *t);
/* The index of the sample type called name (NULL: the first) in *type, or an error listing
 * the types. Returns an exit code. */
int sonde_cli_profile_type(const char *verb, const struct sonde_stacktab *t, const char *name, size_t *type);
/* Writes out to path (NULL: standard output). Returns an exit code. */
int sonde_cli_write_output(const char *verb, const char *path, const struct sonde_buf *out, bool binary);
int sonde_cmd_record(int argc, char **argv);
extern const char sonde_record_usage[];
int sonde_cmd_dump(int argc, char **argv);
extern const char sonde_dump_usage[];
int sonde_cmd_top(int argc, char **argv);
extern const char sonde_top_usage[];
int sonde_cmd_serve(int argc, char **argv);
extern const char sonde_serve_usage[];
int sonde_cmd_abtest(int argc, char **argv);
extern const char sonde_abtest_usage[];
int sonde_cmd_bench(int argc, char **argv);
extern const char sonde_bench_usage[];
int sonde_cmd_anomalies(int argc, char **argv);
extern const char sonde_anomalies_usage[];
int sonde_cmd_mem(int argc, char **argv);
extern const char sonde_mem_usage[];
int sonde_cmd_errors(int argc, char **argv);
extern const char sonde_errors_usage[];
int sonde_cmd_logs(int argc, char **argv);
extern const char sonde_logs_usage[];
int sonde_cmd_compare(int argc, char **argv);
extern const char sonde_compare_usage[];
int sonde_cmd_canary(int argc, char **argv);
extern const char sonde_canary_usage[];
int sonde_cmd_incident(int argc, char **argv);
extern const char sonde_incident_usage[];
int sonde_cmd_postmortem(int argc, char **argv);
extern const char sonde_postmortem_usage[];
/* Now in Unix ns: $SONDE_NOW (RFC 3339) when it is set and valid, else the clock
 * (cmd_incident.c). */
uint64_t sonde_cli_now_ns(void);
int sonde_cmd_report(int argc, char **argv);
extern const char sonde_report_usage[];

#endif
