/*
 * errors_bench.c - `sonde errors` at scale: N error log records (default 10 million) from
 * 20 services, 40 message shapes with fresh ids, users, routes and (one in five) trace
 * ids, an hour of data with a spike, stored through the store API into a SQLite database
 * under $TMPDIR (kept between runs, keyed by schema version and size: delete
 * /tmp/sonde-errors-bench-* to regenerate). Then the analysis in-process (scan, group,
 * finish) and as the command `sonde errors --json` run as a process.
 *
 * Usage: errors_bench [records]. The sonde command is $SONDE_BIN, else ../sonde next to
 * this program. Prints "name: value unit" lines; timed figures are single runs (each is
 * seconds long): the store's scan alone (a callback that only counts; read in one thread,
 * then read ahead as sonde_errors_run() asks: two reader threads of the store, in blocks
 * of rowids taken in turn), the analysis
 * in-process, and the command's wall and CPU time (user + system: the steadier figure
 * on a shared machine).
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "errors.h"
#include "store.h"
#include "telemetry.h"

enum { SERVICES = 20, SHAPES = 40, USERS = 1000, ROUTES = 20, BATCH = 50000 };

static const uint64_t T0 = 1700000000000000000ull;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const shapes[] = {
        "payment %llu declined for order %llu",
        "connection refused to 10.0.%llu.%llu:5432",
        "timeout after %llu ms calling inventory (attempt %llu)",
        "user %llu not found in tenant %llu",
        "invalid field 'qty' = %llu in request %llu",
        "CUDA out of memory: tried to allocate %llu MiB on device %llu",
        "upstream returned 429 for key %llu after %llu retries",
        "model ranker-v%llu failed on batch %llu",
        "disk full writing segment %llu of %llu",
        "session %016llx expired at step %llu",
};

/* CPU time (user + system) so far, in seconds, of who: RUSAGE_SELF (this process) or
 * RUSAGE_THREAD (the calling thread). */
static double cpu_of(int who)
{
	struct rusage ru;
	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static double cpu(void)
{
	return cpu_of(RUSAGE_SELF);
}

static int count_log(void *ctx, const sonde_log_data *lg)
{
	(void)lg;
	(*(uint64_t *)ctx)++;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[PATH_MAX], sonde[PATH_MAX], msg[256];
	snprintf(path, sizeof(path), "%s/sonde-errors-bench-v%d-%llu.db", tmp, sonde_store_schema_version(),
	         (unsigned long long)n);
	if (getenv("SONDE_BIN")) {
		snprintf(sonde, sizeof(sonde), "%s", getenv("SONDE_BIN"));
	} else {
		char self[PATH_MAX];
		ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
		self[k > 0 ? k : 0] = '\0';
		snprintf(sonde, sizeof(sonde), "%s/../sonde", dirname(self));
	}
	struct stat sb;
	if (stat(path, &sb) != 0) {
		sonde_store *st;
		char part[PATH_MAX + 8];
		snprintf(part, sizeof(part), "%s.part", path);
		unlink(part);
		if (sonde_store_open(part, 0, &st, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "errors_bench: %s\n", msg);
			return 1;
		}
		sonde_batch *b = sonde_batch_new();
		sonde_scope *scope = sonde_batch_new_scope(b);
		sonde_resource *res[SERVICES];
		for (int i = 0; i < SERVICES; i++) {
			char name[32], host[32];
			int k = snprintf(name, sizeof(name), "service-%02d", i);
			int h = snprintf(host, sizeof(host), "host-%02d", i % 7);
			res[i] = sonde_batch_new_resource(b);
			sonde_kv *kv = sonde_batch_alloc(b, 2 * sizeof(*kv));
			kv[0].key = sonde_batch_intern(b, "service.name", 12);
			kv[0].value.kind = SONDE_VAL_STRING;
			kv[0].value.u.str = sonde_batch_intern(b, name, (size_t)k);
			kv[1].key = sonde_batch_intern(b, "host.name", 9);
			kv[1].value.kind = SONDE_VAL_STRING;
			kv[1].value.u.str = sonde_batch_intern(b, host, (size_t)h);
			res[i]->attrs = (sonde_attrs){kv, 2};
		}
		double t = now();
		for (uint64_t i = 0; i < n; i++) {
			uint64_t r = next();
			int svc = (int)(r % SERVICES), shape = (int)((r >> 8) % SHAPES);
			sonde_log_data *lg = sonde_batch_add_log(b, res[svc], scope);
			/* An hour, with minute 40 holding five times its share. */
			uint64_t sec = (i * 3600) / n;
			if ((r >> 20) % 10 == 0)
				sec = 2400 + (r >> 24) % 60;
			lg->time_ns = T0 + sec * 1000000000ull + (r >> 30) % 1000000000ull;
			lg->severity_number = 17 + (int)((r >> 40) % 8 == 0 ? 4 : 0);
			lg->severity_text =
			        lg->severity_number >= 21 ? SONDE_STR_LIT("FATAL") : SONDE_STR_LIT("ERROR");
			char body[160];
			uint64_t a = shape % 10 == 9 ? next() : next() % 100000; /* session ids: 64 bits */
			int bl = snprintf(body, sizeof(body), shapes[shape % 10], (unsigned long long)a,
			                  (unsigned long long)(next() % 1000));
			if (shape >= 10) /* 30 more shapes: the same messages in other components */
				bl += snprintf(
				        body + bl, sizeof(body) - (size_t)bl, " in %s",
				        (const char *[]){"", "billing", "search", "ledger"}[shape / 10]);
			lg->body.kind = SONDE_VAL_STRING;
			lg->body.u.str = sonde_batch_strdup(b, body, (size_t)bl);
			sonde_kv *kv = sonde_batch_alloc(b, 2 * sizeof(*kv));
			char u[32], route[32];
			int ul = snprintf(u, sizeof(u), "u%llu", (unsigned long long)(next() % USERS));
			int rl = snprintf(route, sizeof(route), "/api/v1/r%d", (int)(r >> 48) % ROUTES);
			kv[0].key = sonde_batch_intern(b, "user_id", 7);
			kv[0].value.kind = SONDE_VAL_STRING;
			kv[0].value.u.str = sonde_batch_intern(b, u, (size_t)ul);
			kv[1].key = sonde_batch_intern(b, "http.route", 10);
			kv[1].value.kind = SONDE_VAL_STRING;
			kv[1].value.u.str = sonde_batch_intern(b, route, (size_t)rl);
			lg->attrs = (sonde_attrs){kv, 2};
			if ((r >> 56) % 5 == 0) {
				uint64_t tr = i / 3 + 1;
				memcpy(lg->trace_id, &tr, 8);
				lg->trace_id[15] = 1;
			}
			if (b->logs_count >= BATCH || i + 1 == n) {
				sonde_append_opts ao = {.log_position = i + 1 - b->logs_count};
				if (sonde_store_append(st, b, &ao, NULL) < 0) {
					fprintf(stderr, "errors_bench: append: %s\n", sonde_store_errmsg(st));
					return 1;
				}
				b->logs_count = 0;
			}
		}
		sonde_batch_free(b);
		sonde_store_close(st);
		if (rename(part, path) != 0) {
			perror("errors_bench: rename");
			return 1;
		}
		printf("errors_generate: %.1f s\n", now() - t);
	}
	stat(path, &sb);
	printf("errors_store_size: %.0f MB\n", (double)sb.st_size / 1e6);

	/* The store's part: the same scan with a callback that only counts. */
	{
		sonde_store *ss;
		if (sonde_store_open(path, SONDE_STORE_READONLY, &ss, msg, sizeof(msg)) < 0) {
			fprintf(stderr, "errors_bench: %s\n", msg);
			return 1;
		}
		/* Read in this thread, then read ahead on threads of the scan (as the analysis
		 * does). */
		for (int ahead = 0; ahead < 2; ahead++) {
			uint64_t seen = 0;
			sonde_query sq = {.errors_only = true, .read_ahead = ahead};
			double t0 = now(), c0 = cpu();
			if (sonde_store_scan_logs(ss, &sq, count_log, &seen) < 0) {
				fprintf(stderr, "errors_bench: %s\n", sonde_store_errmsg(ss));
				return 1;
			}
			printf("errors_scan_only%s: %.2f s\n", ahead ? "_read_ahead" : "", now() - t0);
			printf("errors_scan_only%s_cpu: %.2f s\n", ahead ? "_read_ahead" : "", cpu() - c0);
		}
		sonde_store_close(ss);
	}

	/* In-process: scan, group, finish. */
	sonde_store *st;
	if (sonde_store_open(path, SONDE_STORE_READONLY, &st, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "errors_bench: %s\n", msg);
		return 1;
	}
	double t = now(), c = cpu(), ct = cpu_of(RUSAGE_THREAD);
	sonde_errors *e = sonde_errors_new(NULL);
	sonde_query q = {0};
	if (!e || sonde_errors_run(e, st, &q) < 0 || sonde_errors_finish(e) < 0) {
		fprintf(stderr, "errors_bench: %s\n", sonde_store_errmsg(st));
		return 1;
	}
	double dt = now() - t, dc = cpu() - c, dct = cpu_of(RUSAGE_THREAD) - ct;
	const sonde_errors_result *r = sonde_errors_result_get(e);
	printf("errors_records: %llu records\n", (unsigned long long)r->total);
	printf("errors_groups: %zu groups\n", r->groups_count);
	printf("errors_inprocess: %.2f s\n", dt);
	printf("errors_inprocess_cpu: %.2f s\n", dc);
	/* The store's two reader threads have the rest: on an idle 2-core machine the wall
	 * time would be about the total over two, or the caller's share when larger. */
	printf("errors_inprocess_cpu_caller_thread: %.2f s\n", dct);
	printf("errors_inprocess_rate: %.0f records/s\n", (double)r->total / dt);
	sonde_errors_free(e);
	sonde_store_close(st);

	/* The command, as a user runs it. */
	if (access(sonde, X_OK) == 0) {
		fflush(stdout);
		t = now();
		pid_t pid = fork();
		if (pid == 0) {
			if (!freopen("/dev/null", "w", stdout))
				_exit(127);
			execl(sonde, sonde, "errors", "--db", path, "--json", (char *)NULL);
			_exit(127);
		}
		int status = 0;
		struct rusage ru;
		wait4(pid, &status, 0, &ru);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("errors_command: %.2f s\n", now() - t);
			printf("errors_command_cpu: %.2f s\n",
			       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			               (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
		} else
			fprintf(stderr, "errors_bench: %s errors failed (status %d)\n", sonde, status);
	}
	return 0;
}
