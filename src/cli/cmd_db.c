/*
 * cmd_db.c - `sonde db`: look after the store. `info` shows its size, what it holds and
 * the time it covers; `prune --before TIME` deletes what is older.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_query.h"
#include "json.h"
#include "sonde/status.h"
#include "store.h"

const char sonde_db_usage[] =
        "usage: sonde db info [--db PATH] [--json]\n"
        "       sonde db prune --before TIME [--vacuum] [--db PATH] [--json]\n"
        "\n"
        "info shows the store's backend, schema version, size on disk (with its write-ahead\n"
        "log), how many spans, traces, log records, metric points, series and services it\n"
        "holds, and the time each covers.\n"
        "\n"
        "prune deletes every trace that starts before TIME (all of its spans, so no trace is\n"
        "left partial), and every log record and metric point older than TIME, in one\n"
        "transaction. TIME is RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01, UTC), or\n"
        "relative to now (7d, 12h, 30m). The file keeps its size for reuse unless --vacuum\n"
        "rewrites it (slow on a large store).\n"
        "\n"
        "options:\n"
        "  --db PATH       the store (default $SONDE_DB, else ./sonde.db)\n"
        "  --before TIME   prune: what to delete\n"
        "  --vacuum        prune: give the space back to the file system\n"
        "  --json          JSON for scripts\n"
        "\n"
        "examples:\n"
        "  sonde db info\n"
        "  sonde db info --db /tmp/incident.db --json\n"
        "  sonde db prune --before 7d\n"
        "  sonde db prune --before 2024-05-01 --vacuum\n";

static void fmt_time(uint64_t ns, char *out, size_t cap)
{
	if (!ns) {
		snprintf(out, cap, "-");
		return;
	}
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t k = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + k, cap - k, ".%03uZ", (unsigned)(ns / 1000000u % 1000u));
}

static void fmt_bytes(uint64_t b, char *out, size_t cap)
{
	if (b >= 1u << 30)
		snprintf(out, cap, "%.1f GiB", (double)b / (1u << 30));
	else if (b >= 1u << 20)
		snprintf(out, cap, "%.1f MiB", (double)b / (1u << 20));
	else if (b >= 1u << 10)
		snprintf(out, cap, "%.1f KiB", (double)b / (1u << 10));
	else
		snprintf(out, cap, "%llu B", (unsigned long long)b);
}

static int info(sonde_store *s, const char *db, bool json)
{
	sonde_store_info in;
	int rc = sonde_store_info_get(s, &in);
	if (rc < 0) {
		sonde_cli_error("db", "%s",
		                sonde_store_errmsg(s)[0] ? sonde_store_errmsg(s) : sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	if (json) {
		sonde_buf out = SONDE_BUF_INIT;
		sonde_json_writer w;
		sonde_json_writer_init(&w, &out, 0);
		sonde_json_obj_begin(&w);
		sonde_json_key_cstr(&w, "db");
		sonde_json_str(&w, db, strlen(db));
		sonde_json_key_cstr(&w, "backend");
		sonde_json_str(&w, in.backend, strlen(in.backend));
		const struct {
			const char *k;
			uint64_t v;
		} nums[] = {
		        {"schema_version", (uint64_t)in.schema_version},
		        {"size_bytes", in.size_bytes},
		        {"wal_bytes", in.wal_bytes},
		        {"spans", in.spans},
		        {"traces", in.traces},
		        {"logs", in.logs},
		        {"points", in.points},
		        {"series", in.series},
		        {"services", in.services},
		        {"spans_min_ns", in.spans_min_ns},
		        {"spans_max_ns", in.spans_max_ns},
		        {"logs_min_ns", in.logs_min_ns},
		        {"logs_max_ns", in.logs_max_ns},
		        {"points_min_ns", in.points_min_ns},
		        {"points_max_ns", in.points_max_ns},
		};
		for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
			sonde_json_key_cstr(&w, nums[i].k);
			sonde_json_u64(&w, nums[i].v);
		}
		sonde_json_obj_end(&w);
		if (!out.oom)
			printf("%s\n", out.data);
		sonde_buf_release(&out);
		return SONDE_EXIT_OK;
	}
	char size[32], wal[32], a[40], b[40];
	fmt_bytes(in.size_bytes, size, sizeof size);
	fmt_bytes(in.wal_bytes, wal, sizeof wal);
	printf("store          %s (%s, schema version %d)\n", db, in.backend, in.schema_version);
	printf("size           %s (write-ahead log %s)\n", size, wal);
	printf("services       %llu\n", (unsigned long long)in.services);
	fmt_time(in.spans_min_ns, a, sizeof a);
	fmt_time(in.spans_max_ns, b, sizeof b);
	printf("spans          %-12llu in %llu traces, starting %s .. %s\n", (unsigned long long)in.spans,
	       (unsigned long long)in.traces, a, b);
	fmt_time(in.logs_min_ns, a, sizeof a);
	fmt_time(in.logs_max_ns, b, sizeof b);
	printf("log records    %-12llu %s .. %s\n", (unsigned long long)in.logs, a, b);
	fmt_time(in.points_min_ns, a, sizeof a);
	fmt_time(in.points_max_ns, b, sizeof b);
	printf("metric points  %-12llu in %llu series, %s .. %s\n", (unsigned long long)in.points,
	       (unsigned long long)in.series, a, b);
	return SONDE_EXIT_OK;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int sonde_cmd_db(int argc, char **argv)
{
	enum { OPT_DB = 256, OPT_JSON, OPT_BEFORE, OPT_VACUUM };
	static const struct option longopts[] = {
	        {"db", required_argument, NULL, OPT_DB},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"before", required_argument, NULL, OPT_BEFORE},
	        {"vacuum", no_argument, NULL, OPT_VACUUM},
	        {NULL, 0, NULL, 0},
	};
	const char *db = NULL, *before = NULL;
	bool json = false, vacuum = false;
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_DB: db = optarg; break;
		case OPT_JSON: json = true; break;
		case OPT_BEFORE: before = optarg; break;
		case OPT_VACUUM: vacuum = true; break;
		default:
			sonde_cli_error("db", "unknown option '%s'; sonde db --help shows the options",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		sonde_cli_error("db", "say what to do: sonde db info, or sonde db prune --before TIME");
		return SONDE_EXIT_USAGE;
	}
	const char *what = argv[optind];
	bool is_info = strcmp(what, "info") == 0, is_prune = strcmp(what, "prune") == 0;
	if (!is_info && !is_prune) {
		sonde_cli_error("db", "'%s' is not a db command; use info or prune", what);
		return SONDE_EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		sonde_cli_error("db", "unexpected argument '%s'", argv[optind + 1]);
		return SONDE_EXIT_USAGE;
	}
	uint64_t before_ns = 0;
	if (is_prune) {
		if (!before) {
			sonde_cli_error("db", "prune needs --before TIME (for example --before 7d)");
			return SONDE_EXIT_USAGE;
		}
		if (sonde_cli_parse_when(before, now_ns(), &before_ns) < 0) {
			sonde_cli_error(
			        "db",
			        "--before takes RFC 3339 (2024-05-01T12:00:00Z), a date (2024-05-01) or a "
			        "duration before now (7d, 12h), not '%s'",
			        before);
			return SONDE_EXIT_USAGE;
		}
	} else if (before || vacuum) {
		sonde_cli_error("db", "--before and --vacuum go with prune");
		return SONDE_EXIT_USAGE;
	}
	if (!db)
		db = getenv("SONDE_DB");
	if (!db || !db[0])
		db = SONDE_STORE_DEFAULT_URI;
	sonde_store *s;
	char msg[512];
	int rc = sonde_store_open(db, is_info ? SONDE_STORE_READONLY : SONDE_STORE_NOCREATE, &s, msg,
	                          sizeof msg);
	if (rc < 0) {
		sonde_cli_error("db", "%s", msg[0] ? msg : sonde_strerror(rc));
		return SONDE_EXIT_USAGE;
	}
	if (is_info) {
		rc = info(s, db, json);
		sonde_store_close(s);
		return rc;
	}
	sonde_prune_stats ps;
	rc = sonde_store_prune(s, before_ns, vacuum, &ps);
	if (rc < 0) {
		sonde_cli_error("db", "%s",
		                sonde_store_errmsg(s)[0] ? sonde_store_errmsg(s) : sonde_strerror(rc));
		sonde_store_close(s);
		return SONDE_EXIT_USAGE;
	}
	char t[40];
	fmt_time(before_ns, t, sizeof t);
	if (json)
		printf("{\"before_ns\":%llu,\"traces\":%llu,\"spans\":%llu,\"logs\":%llu,\"points\":%llu}\n",
		       (unsigned long long)before_ns, (unsigned long long)ps.traces,
		       (unsigned long long)ps.spans, (unsigned long long)ps.logs,
		       (unsigned long long)ps.points);
	else
		printf("pruned before %s: %llu traces (%llu spans), %llu log records, %llu metric points\n",
		       t, (unsigned long long)ps.traces, (unsigned long long)ps.spans,
		       (unsigned long long)ps.logs, (unsigned long long)ps.points);
	sonde_store_close(s);
	return SONDE_EXIT_OK;
}
