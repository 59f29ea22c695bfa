/*
 * cmd_serve.c - `sonde serve`: receive OTLP/HTTP and Zipkin v2 into the store until
 * SIGTERM or SIGINT, then flush what is in flight and exit 0. The server is
 * src/serve/serve.h; this file parses options, blocks the signals so that it can wait
 * for them, and reports on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "serve.h"
#include "store.h"

const char sonde_serve_usage[] =
        "usage: sonde serve [--listen HOST:PORT] [--db PATH|clickhouse://HOST:PORT/DB]\n"
        "                   [--max-body SIZE] [--queue N] [--batch N] [--committers N]\n"
        "                   [--threads N] [--retry-after SECONDS] [--drain SECONDS]\n"
        "                   [--journal DIR [--journal-sync] [--journal-max SIZE]]\n"
        "\n"
        "Receives telemetry over HTTP and writes it to the store (--db, else $SONDE_DB, else\n"
        "./sonde.db) until SIGTERM or SIGINT:\n"
        "  POST /v1/traces, /v1/metrics, /v1/logs   OTLP/HTTP, application/x-protobuf or\n"
        "                                           application/json, gzip or not\n"
        "  POST /api/v2/spans                       Zipkin v2 JSON\n"
        "  GET  /health                             200 while running\n"
        "  GET  /metrics                            its own metrics, Prometheus text\n"
        "\n"
        "A request is answered 200 (Zipkin: 202) only once its records are committed to the\n"
        "store; 400 when its body is bad, 413 over --max-body (also after gunzip), 415 for an\n"
        "unknown Content-Type, 429 with Retry-After when --queue requests are already waiting,\n"
        "503 with Retry-After when the store fails or the server is stopping. On SIGTERM or\n"
        "SIGINT it stops accepting, writes and answers every request it admitted, closes the\n"
        "store and exits 0. The address it listens on is printed to stderr (port 0: any free\n"
        "port, and the line says which). See docs/serve.md.\n"
        "\n"
        "With --journal DIR a request is answered 200 once it is in a local write-ahead\n"
        "journal (fdatasync'ed too with --journal-sync), before it is committed; the store has\n"
        "it within about one commit, or, if this server dies, at the next start on the same\n"
        "journal, which replays it before listening. Queries right after a 200 may not see it\n"
        "yet.\n"
        "\n"
        "options:\n"
        "  --listen HOST:PORT   where to listen (default 127.0.0.1:4318; [::1]:4318 for IPv6)\n"
        "  --db URI             the store: a SQLite file, clickhouse://HOST:PORT/DB, or\n"
        "                       clickhouse://H1:P1,H2:P2/DB?cluster=NAME for a sharded\n"
        "                       cluster (docs/SCALING.md)\n"
        "  --max-body SIZE      largest request body, on the wire and inflated (default 16M;\n"
        "                       suffixes k, M, G)\n"
        "  --queue N            export requests admitted at once (default 64)\n"
        "  --batch N            records per store transaction (default 10000; with --journal\n"
        "                       1000000)\n"
        "  --committers N       transactions in flight at once, each on its own connection\n"
        "                       (ClickHouse on hosts of its own; SQLite always 1; default 1)\n"
        "  --threads N          HTTP threads (default 2)\n"
        "  --retry-after S      the Retry-After of 429 and 503 answers (default 1)\n"
        "  --drain S            on stop, how long requests still uploading may take (default 10)\n"
        "  --journal DIR        acknowledge once journaled in DIR (created, mode 0700); replay\n"
        "                       what a previous server left there at start\n"
        "  --journal-sync       fdatasync the journal before acknowledging (survives a power\n"
        "                       cut; without it a 200 survives the process being killed)\n"
        "  --journal-max SIZE   journaled and not yet committed at most, else 429 (default 256M)\n"
        "\n"
        "exit status: 0 stopped by a signal after flushing, 2 bad usage or the store, the\n"
        "address or the journal could not be opened (or the journal not replayed).\n"
        "\n"
        "examples:\n"
        "  sonde serve --db /tmp/t.db &\n"
        "  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 ./my_service\n"
        "  sonde traces --db /tmp/t.db\n"
        "  sonde serve --listen 127.0.0.1:0 --db t.db        # any free port\n"
        "  sonde serve --db clickhouse://127.0.0.1:8123/sonde --journal /var/lib/sonde/wal\n"
        "  curl -s 127.0.0.1:4318/metrics | grep sonde_serve_records\n";

/* "16M", "512k", "1048576" -> bytes. Returns 0 or -EINVAL. */
static int parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	unsigned shift = 0;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if (shift)
		end++;
	if (*end == 'i' && shift)
		end++;
	if ((*end == 'b' || *end == 'B') && shift)
		end++;
	if (*end || v == 0 || v > (SIZE_MAX >> shift))
		return -EINVAL;
	*out = (size_t)(v << shift);
	return 0;
}

static int parse_count(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v == 0 || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

enum {
	OPT_LISTEN = 1000,
	OPT_DB,
	OPT_MAX_BODY,
	OPT_QUEUE,
	OPT_BATCH,
	OPT_COMMITTERS,
	OPT_THREADS,
	OPT_RETRY,
	OPT_DRAIN,
	OPT_JOURNAL,
	OPT_JOURNAL_SYNC,
	OPT_JOURNAL_MAX
};

int sonde_cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
	        {"listen", required_argument, NULL, OPT_LISTEN},
	        {"db", required_argument, NULL, OPT_DB},
	        {"max-body", required_argument, NULL, OPT_MAX_BODY},
	        {"queue", required_argument, NULL, OPT_QUEUE},
	        {"batch", required_argument, NULL, OPT_BATCH},
	        {"committers", required_argument, NULL, OPT_COMMITTERS},
	        {"threads", required_argument, NULL, OPT_THREADS},
	        {"retry-after", required_argument, NULL, OPT_RETRY},
	        {"drain", required_argument, NULL, OPT_DRAIN},
	        {"journal", required_argument, NULL, OPT_JOURNAL},
	        {"journal-sync", no_argument, NULL, OPT_JOURNAL_SYNC},
	        {"journal-max", required_argument, NULL, OPT_JOURNAL_MAX},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	const char *listen = SONDE_SERVE_DEFAULT_LISTEN, *db = NULL;
	sonde_serve_opts o;
	memset(&o, 0, sizeof o);
	unsigned long v, drain_s = 10;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN: listen = optarg; break;
		case OPT_DB: db = optarg; break;
		case OPT_JOURNAL: o.journal_dir = optarg; break;
		case OPT_JOURNAL_SYNC: o.journal_sync = true; break;
		case OPT_JOURNAL_MAX:
			if (parse_size(optarg, &o.journal_max_bytes) < 0) {
				sonde_cli_error(
				        "serve",
				        "--journal-max %s: expected a size such as 256M, 1G or 1048576",
				        optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_MAX_BODY:
			if (parse_size(optarg, &o.max_body_bytes) < 0) {
				sonde_cli_error("serve",
				                "--max-body %s: expected a size such as 16M, 512k or 1048576",
				                optarg);
				return SONDE_EXIT_USAGE;
			}
			break;
		case OPT_QUEUE:
		case OPT_BATCH:
		case OPT_COMMITTERS:
		case OPT_THREADS:
		case OPT_RETRY:
		case OPT_DRAIN: {
			unsigned long max = c == OPT_THREADS      ? 64
			                    : c == OPT_COMMITTERS ? SONDE_SERVE_MAX_COMMITTERS
			                                          : 100000000;
			const char *name = "";
			for (const struct option *lo = longopts; lo->name; lo++)
				if (lo->val == c)
					name = lo->name;
			if (parse_count(optarg, max, &v) < 0) {
				if (max < 100000000)
					sonde_cli_error("serve",
					                "--%s %s: expected a positive whole number up to %lu",
					                name, optarg, max);
				else
					sonde_cli_error("serve", "--%s %s: expected a positive whole number",
					                name, optarg);
				return SONDE_EXIT_USAGE;
			}
			if (c == OPT_QUEUE)
				o.queue_requests = v;
			else if (c == OPT_BATCH)
				o.batch_records = v;
			else if (c == OPT_COMMITTERS)
				o.committers = (unsigned)v;
			else if (c == OPT_THREADS)
				o.threads = (unsigned)v;
			else if (c == OPT_RETRY)
				o.retry_after_s = (unsigned)v;
			else
				drain_s = v;
			break;
		}
		case 'h': return sonde_cli_usage(sonde_cli_find("serve"));
		case ':':
			sonde_cli_error("serve", "%s needs a value", argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		default:
			sonde_cli_error("serve", "unknown option %s (see sonde serve --help)",
			                argv[optind - 1]);
			return SONDE_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		sonde_cli_error("serve", "unexpected argument %s (see sonde serve --help)", argv[optind]);
		return SONDE_EXIT_USAGE;
	}
	char host[256];
	if (sonde_serve_parse_listen(listen, host, sizeof host, &o.port) < 0) {
		sonde_cli_error("serve", "--listen %s: expected HOST:PORT, [IPV6]:PORT or :PORT", listen);
		return SONDE_EXIT_USAGE;
	}
	o.host = host;
	if (!db)
		db = getenv("SONDE_DB");
	if (!db || !*db)
		db = SONDE_STORE_DEFAULT_URI;
	o.db_uri = db;
	if ((o.journal_sync || o.journal_max_bytes) && !o.journal_dir) {
		sonde_cli_error("serve", "--journal-sync and --journal-max need --journal DIR");
		return SONDE_EXIT_USAGE;
	}

	/* The signals are waited for, not handled: blocked here, before any thread starts, so
	 * every thread of the server inherits the mask and only sigwait() receives them. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	sonde_serve *srv;
	char err[512];
	int rc = sonde_serve_start(&o, &srv, err, sizeof err);
	if (rc < 0) {
		sonde_cli_error("serve", "%s", err[0] ? err : "cannot start");
		return SONDE_EXIT_USAGE;
	}
	if (o.journal_dir) {
		sonde_serve_replay r;
		sonde_serve_replay_get(srv, &r);
		for (const char *w = r.warnings; *w;) {
			const char *nl = strchr(w, '\n');
			int n = nl ? (int)(nl - w) : (int)strlen(w);
			fprintf(stderr, "sonde serve: warning: %.*s\n", n, w);
			w += n + (nl != NULL);
		}
		if (r.segments)
			fprintf(stderr,
			        "sonde serve: replayed %llu requests (%llu spans, %llu log records, %llu "
			        "metric "
			        "points; %llu skipped) from %s\n",
			        (unsigned long long)r.requests, (unsigned long long)r.spans,
			        (unsigned long long)r.logs, (unsigned long long)r.points,
			        (unsigned long long)r.skipped, o.journal_dir);
	}
	bool v6 = strchr(host, ':') != NULL;
	fprintf(stderr, "sonde serve: listening on http://%s%s%s:%u (store %s)\n", v6 ? "[" : "", host,
	        v6 ? "]" : "", (unsigned)sonde_serve_port(srv), db);
	fflush(stderr);

	int sig = 0;
	while (sigwait(&set, &sig) != 0 || sig == SIGHUP)
		; /* SIGHUP: nothing to reload; keep serving */
	sonde_serve_totals t;
	sonde_serve_totals_get(srv, &t);
	fprintf(stderr, "sonde serve: %s: stopping; %zu request%s in flight\n",
	        sig == SIGINT ? "SIGINT" : "SIGTERM", t.queue_depth, t.queue_depth == 1 ? "" : "s");
	rc = sonde_serve_stop(srv, (uint32_t)(drain_s * 1000u), &t);
	if (rc == -ETIMEDOUT)
		fprintf(stderr,
		        "sonde serve: some requests were still uploading after %lus and were not stored\n",
		        drain_s);
	fprintf(stderr,
	        "sonde serve: stopped: %llu requests (%llu %s, %llu bad, %llu throttled, %llu "
	        "unavailable); "
	        "%llu spans, %llu log records, %llu metric points in %llu transactions; %llu records "
	        "rejected\n",
	        (unsigned long long)t.requests, (unsigned long long)t.accepted,
	        o.journal_dir ? "journaled" : "stored", (unsigned long long)t.bad,
	        (unsigned long long)t.throttled, (unsigned long long)t.unavailable,
	        (unsigned long long)t.spans, (unsigned long long)t.logs, (unsigned long long)t.points,
	        (unsigned long long)t.batches, (unsigned long long)t.rejected_records);
	if (t.journal_left)
		fprintf(stderr,
		        "sonde serve: %llu bytes of journaled records are not in the store yet; they stay "
		        "in %s and go in at the next start on it\n",
		        (unsigned long long)t.journal_left, o.journal_dir);
	return SONDE_EXIT_OK;
}
