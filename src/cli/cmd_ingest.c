/*
 * cmd_ingest.c - `sonde ingest`: telemetry files, directories or standard input into the
 * store, format detected from content, with a progress bar on a terminal and a summary
 * at the end. The work is done by the ingest engine (src/store/ingest.h).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "formats.h"
#include "ingest.h"
#include "json.h"
#include "sonde/status.h"
#include "ingest_templates.h"
#include "store.h"

const char sonde_ingest_usage[] =
        "usage: sonde ingest [--db PATH] [--format FORMAT] [--service NAME] [--strict]\n"
        "                    [--batch N] [--signal traces|metrics|logs] [--no-templates]\n"
        "                    [--json] [--quiet]\n"
        "                    FILE... | DIR | -\n"
        "\n"
        "Stores telemetry in the store (--db PATH, else $SONDE_DB, else ./sonde.db). Each FILE\n"
        "is read in the format its content shows: OTLP JSON, JSON lines and protobuf, Zipkin\n"
        "v2, Jaeger JSON, Chrome trace events, Prometheus text, JSON-lines logs, plain-text\n"
        "logs (ISO 8601, syslog, Apache, log4j, Python layouts), CSV metric series, Influx line\n"
        "protocol; --format names it instead. A DIR is read recursively (files whose format\n"
        "cannot be told are skipped); - reads standard input.\n"
        "\n"
        "Records go in batches (--batch, default 10000 per transaction): a batch is stored\n"
        "whole or not at all, and ingesting the same data again adds nothing. A bad record is\n"
        "skipped and reported as FILE:LINE: offset N: field F: message; with --strict the\n"
        "first one stops the ingest (exit 2). Logs and metrics whose resource names no\n"
        "service get --service, else the file's name without its extension. Every log record\n"
        "gets the id of its message's template (sonde logs templates mines the same way),\n"
        "stored with it; templates stored by earlier ingests are loaded first, so later lines\n"
        "match them and keep their ids.\n"
        "\n"
        "options:\n"
        "  --db PATH          the store to write\n"
        "  --format FORMAT    the input format (sonde convert --list-formats lists them)\n"
        "  --service NAME     service.name for records that have none\n"
        "  --signal SIGNAL    what OTLP protobuf input carries (default traces)\n"
        "  --strict           stop at the first bad record\n"
        "  --batch N          records per transaction\n"
        "  --no-templates     do not assign log templates (faster)\n"
        "  --json             the summary as JSON\n"
        "  -q, --quiet        no progress bar, no list of rejected records on stderr\n"
        "\n"
        "exit status: 0 ingested (bad records may have been skipped; the summary says), 2 bad\n"
        "usage, an input that cannot be read, or --strict and a bad record.\n"
        "\n"
        "examples:\n"
        "  sonde ingest traces.json                   # OTLP JSON from a collector\n"
        "  sonde ingest --db /tmp/t.db jaeger.json zipkin.json app.log metrics.prom\n"
        "  sonde ingest logs/                         # every file under logs/\n"
        "  kubectl logs api | sonde ingest --service api -\n"
        "  sonde ingest --format logs-text --strict --service hdfs HDFS.log\n";

typedef struct ictx {
	bool tty, quiet;
	size_t shown;     /* rejected records printed */
	time_t last_draw; /* progress bar */
	struct timespec t0;
	char first[5][512];
	size_t first_count;
	bool bar_drawn;
} ictx;

static void clear_bar(ictx *c)
{
	if (c->bar_drawn) {
		fputs("\r\033[K", stderr);
		c->bar_drawn = false;
	}
}

static void on_progress(void *ctx, const char *source, uint64_t done, uint64_t total)
{
	ictx *c = ctx;
	if (!c->tty || c->quiet)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec == c->last_draw && done < total)
		return;
	c->last_draw = now.tv_sec;
	int width = 30, fill = total ? (int)((double)done / (double)total * width) : width;
	const char *base = strrchr(source, '/');
	base = base ? base + 1 : source;
	fprintf(stderr, "\r\033[K[%.*s%*s] %3d%% %.40s", fill, "##############################", width - fill,
	        "", total ? (int)(100.0 * (double)done / (double)total) : 100, base);
	c->bar_drawn = true;
}

static void on_reject(void *ctx, const char *source, const char *format, const sonde_wire_error *err)
{
	ictx *c = ctx;
	char line[512];
	snprintf(line, sizeof line, "%s:%zu: offset %zu%s%s: %s (reading %s)", source, err->line, err->offset,
	         err->field[0] ? ": field " : "", err->field, err->msg, format);
	if (c->first_count < 5)
		snprintf(c->first[c->first_count++], sizeof c->first[0], "%s", line);
	if (!c->quiet && c->shown < 20) {
		clear_bar(c);
		fprintf(stderr, "sonde ingest: skipped %s\n", line);
		if (++c->shown == 20)
			fprintf(stderr, "sonde ingest: (more rejected records are not shown)\n");
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Collects the regular files under dir, sorted, into *list. */
static int walk(const char *dir, char ***list, size_t *n, size_t *cap, int depth)
{
	if (depth > 32)
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *e;
	char **names = NULL;
	size_t nn = 0, nc = 0, dl = strlen(dir);
	const char *sep = dl && dir[dl - 1] == '/' ? "" : "/"; /* "logs/": "logs/a.log", not "logs//a.log" */
	int rc = 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (nn == nc) {
			nc = nc ? nc * 2 : 32;
			char **x = realloc(names, nc * sizeof *x);
			if (!x) {
				rc = -ENOMEM;
				break;
			}
			names = x;
		}
		size_t len = strlen(dir) + strlen(e->d_name) + 2;
		names[nn] = malloc(len);
		if (!names[nn]) {
			rc = -ENOMEM;
			break;
		}
		snprintf(names[nn], len, "%s%s%s", dir, sep, e->d_name);
		nn++;
	}
	closedir(d);
	if (rc == 0)
		qsort(names, nn, sizeof *names, cmp_str);
	for (size_t i = 0; i < nn; i++) {
		struct stat st;
		if (rc == 0 && stat(names[i], &st) == 0) {
			if (S_ISDIR(st.st_mode)) {
				rc = walk(names[i], list, n, cap, depth + 1);
			} else if (S_ISREG(st.st_mode)) {
				if (*n == *cap) {
					*cap = *cap ? *cap * 2 : 64;
					char **x = realloc(*list, *cap * sizeof *x);
					if (!x) {
						rc = -ENOMEM;
						free(names[i]);
						continue;
					}
					*list = x;
				}
				(*list)[(*n)++] = names[i];
				continue;
			}
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static void fmt_time(uint64_t ns, char *out, size_t cap)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t k = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + k, cap - k, ".%03uZ", (unsigned)(ns / 1000000u % 1000u));
}

static void summary_text(const sonde_ingest_stats *st, const ictx *c, const char *db, size_t files)
{
	const sonde_append_stats *a = &st->appended;
	printf("ingested %zu input%s into %s (%llu batch%s)\n", files, files == 1 ? "" : "s", db,
	       (unsigned long long)st->batches, st->batches == 1 ? "" : "es");
	printf("  %-14s %10llu added %10llu already stored\n", "spans", (unsigned long long)a->spans_added,
	       (unsigned long long)a->spans_present);
	printf("  %-14s %10llu added %10llu already stored\n", "log records",
	       (unsigned long long)a->logs_added, (unsigned long long)a->logs_present);
	printf("  %-14s %10llu added %10llu already stored\n", "metric points",
	       (unsigned long long)a->points_added, (unsigned long long)a->points_present);
	if (st->min_time_ns) {
		char t1[40], t2[40];
		fmt_time(st->min_time_ns, t1, sizeof t1);
		fmt_time(st->max_time_ns, t2, sizeof t2);
		printf("  %-14s %s .. %s\n", "time range", t1, t2);
	}
	if (st->services_count) {
		printf("  %-14s ", "services");
		for (size_t i = 0; i < st->services_count; i++)
			printf("%s%s", i ? ", " : "", st->services[i]);
		printf("%s\n", st->services_truncated ? ", ..." : "");
	}
	printf("  %-14s %10llu\n", "rejected", (unsigned long long)st->rejected);
	for (size_t i = 0; i < c->first_count; i++)
		printf("    %s\n", c->first[i]);
}

static void summary_json(const sonde_ingest_stats *st, const ictx *c, const char *db, size_t files)
{
	sonde_buf out = SONDE_BUF_INIT;
	sonde_json_writer w;
	sonde_json_writer_init(&w, &out, 0);
	const sonde_append_stats *a = &st->appended;
	sonde_json_obj_begin(&w);
	sonde_json_key_cstr(&w, "db");
	sonde_json_str(&w, db, strlen(db));
	sonde_json_key_cstr(&w, "inputs");
	sonde_json_u64(&w, files);
	sonde_json_key_cstr(&w, "batches");
	sonde_json_u64(&w, st->batches);
	const struct {
		const char *k;
		uint64_t v;
	} nums[] = {{"spans_added", a->spans_added},   {"spans_present", a->spans_present},
	            {"logs_added", a->logs_added},     {"logs_present", a->logs_present},
	            {"points_added", a->points_added}, {"points_present", a->points_present},
	            {"rejected", st->rejected},        {"bytes", st->bytes},
	            {"min_time_ns", st->min_time_ns},  {"max_time_ns", st->max_time_ns}};
	for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		sonde_json_key_cstr(&w, nums[i].k);
		sonde_json_u64(&w, nums[i].v);
	}
	sonde_json_key_cstr(&w, "services");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < st->services_count; i++)
		sonde_json_str(&w, st->services[i], strlen(st->services[i]));
	sonde_json_arr_end(&w);
	sonde_json_key_cstr(&w, "first_rejected");
	sonde_json_arr_begin(&w);
	for (size_t i = 0; i < c->first_count; i++)
		sonde_json_str(&w, c->first[i], strlen(c->first[i]));
	sonde_json_arr_end(&w);
	sonde_json_obj_end(&w);
	if (!out.oom)
		printf("%s\n", out.data);
	sonde_buf_release(&out);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int sonde_cmd_ingest(int argc, char **argv)
{
	enum {
		OPT_DB = 256,
		OPT_FORMAT,
		OPT_SERVICE,
		OPT_STRICT,
		OPT_BATCH,
		OPT_SIGNAL,
		OPT_JSON,
		OPT_NO_TPL
	};
	static const struct option longopts[] = {
	        {"db", required_argument, NULL, OPT_DB},
	        {"format", required_argument, NULL, OPT_FORMAT},
	        {"service", required_argument, NULL, OPT_SERVICE},
	        {"strict", no_argument, NULL, OPT_STRICT},
	        {"batch", required_argument, NULL, OPT_BATCH},
	        {"signal", required_argument, NULL, OPT_SIGNAL},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"no-templates", no_argument, NULL, OPT_NO_TPL},
	        {"quiet", no_argument, NULL, 'q'},
	        {NULL, 0, NULL, 0},
	};
	const char *db = NULL;
	bool json = false, templates = true;
	ictx c = {.tty = isatty(2)};
	sonde_ingest_opts o = {.signal = SONDE_SIGNAL_TRACES, .default_time_ns = now_ns(), .ctx = &c};
	o.on_progress = on_progress;
	o.on_reject = on_reject;
	int opt;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_DB: db = optarg; break;
		case OPT_FORMAT:
			o.format = sonde_format_find(optarg);
			if (!o.format || !o.format->read) {
				sonde_cli_error("ingest",
				                "'%s' is not a format sonde can read; sonde convert "
				                "--list-formats lists them",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_SERVICE: o.service = optarg; break;
		case OPT_STRICT: o.strict = true; break;
		case OPT_BATCH: {
			char *end;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (*end || v == 0 || v > 10000000) {
				sonde_cli_error("ingest",
				                "--batch takes a count from 1 to 10000000, not '%s'", optarg);
				return SONDE_EXIT_USAGE;
			}
			o.batch_records = (size_t)v;
			break;
		}
		case OPT_SIGNAL:
			if (strcmp(optarg, "traces") == 0)
				o.signal = SONDE_SIGNAL_TRACES;
			else if (strcmp(optarg, "metrics") == 0)
				o.signal = SONDE_SIGNAL_METRICS;
			else if (strcmp(optarg, "logs") == 0)
				o.signal = SONDE_SIGNAL_LOGS;
			else {
				sonde_cli_error("ingest", "--signal takes traces, metrics or logs, not '%s'",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_JSON: json = true; break;
		case OPT_NO_TPL: templates = false; break;
		case 'q': c.quiet = true; break;
		default:
			sonde_cli_error("ingest",
			                "unknown option '%s'; sonde ingest --help shows the options",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		sonde_cli_error("ingest", "no FILE, DIR or - given; sonde ingest --help shows how");
		return SONDE_EXIT_USAGE;
	}
	if (!db)
		db = getenv("SONDE_DB");
	if (!db || !db[0])
		db = SONDE_STORE_DEFAULT_URI;

	/* Inputs: files as given, directories expanded. */
	char **files = NULL;
	bool *from_dir = NULL;
	size_t nfiles = 0, cap = 0;
	int rc = SONDE_EXIT_OK;
	for (int i = optind; i < argc && rc == SONDE_EXIT_OK; i++) {
		struct stat st;
		size_t before = nfiles;
		bool is_dir = strcmp(argv[i], "-") != 0 && stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode);
		if (is_dir) {
			int wrc = walk(argv[i], &files, &nfiles, &cap, 0);
			if (wrc < 0) {
				sonde_cli_error("ingest", "%s: %s", argv[i], strerror(-wrc));
				rc = SONDE_EXIT_USAGE;
			}
		} else {
			if (nfiles == cap) {
				cap = cap ? cap * 2 : 64;
				char **x = realloc(files, cap * sizeof *x);
				if (!x) {
					rc = SONDE_EXIT_USAGE;
					break;
				}
				files = x;
			}
			files[nfiles++] = strdup(argv[i]);
		}
		bool *fd = realloc(from_dir, (nfiles ? nfiles : 1) * sizeof *fd);
		if (!fd) {
			rc = SONDE_EXIT_USAGE;
			break;
		}
		from_dir = fd;
		for (size_t k = before; k < nfiles; k++)
			from_dir[k] = is_dir;
	}
	sonde_store *s = NULL;
	char msg[512];
	if (rc == SONDE_EXIT_OK) {
		int orc = sonde_store_open(db, SONDE_STORE_BG_CHECKPOINT, &s, msg, sizeof msg);
		if (orc < 0) {
			sonde_cli_error("ingest", "%s", msg[0] ? msg : sonde_strerror(orc));
			rc = SONDE_EXIT_USAGE;
		}
	}
	sonde_ingest_templates *tpl = NULL;
	if (rc == SONDE_EXIT_OK && templates) {
		msg[0] = '\0';
		int trc = sonde_ingest_templates_new(s, &tpl, msg, sizeof msg);
		if (trc < 0) {
			sonde_cli_error("ingest", "%s", msg[0] ? msg : sonde_strerror(trc));
			rc = SONDE_EXIT_USAGE;
		}
		o.on_logs = sonde_ingest_templates_hook;
		o.logs_ctx = tpl;
	}
	sonde_ingest_stats st;
	sonde_ingest_stats_init(&st);
	clock_gettime(CLOCK_MONOTONIC, &c.t0);
	size_t done = 0;
	for (size_t i = 0; i < nfiles && rc == SONDE_EXIT_OK; i++) {
		const sonde_format *fmt = NULL;
		int irc = sonde_ingest_file(s, files[i], &o, &st, &fmt, msg, sizeof msg);
		clear_bar(&c);
		if (irc == SONDE_EFORMAT && from_dir[i] && !o.format) {
			if (!c.quiet)
				fprintf(stderr,
				        "sonde ingest: %s: skipped, not a telemetry format sonde knows\n",
				        files[i]);
			continue;
		}
		if (irc < 0) {
			if (irc != SONDE_EPARSE || !c.quiet || o.strict)
				sonde_cli_error("ingest", "%s", msg[0] ? msg : sonde_strerror(irc));
			rc = SONDE_EXIT_USAGE;
			break;
		}
		done++;
	}
	clear_bar(&c);
	if (s) {
		if (json)
			summary_json(&st, &c, db, done);
		else
			summary_text(&st, &c, db, done);
	}
	sonde_ingest_stats_release(&st);
	sonde_ingest_templates_free(tpl);
	sonde_store_close(s);
	for (size_t i = 0; i < nfiles; i++)
		free(files[i]);
	free(files);
	free(from_dir);
	return rc;
}
