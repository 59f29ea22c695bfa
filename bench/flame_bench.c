/*
 * flame_bench.c - flame graph rendering speed and memory: folded stacks -> SVG, as `sonde
 * flame` does it (the file streamed through the folded reader in 1 MiB pieces, then the
 * renderer), on a generated profile of realistic shape.
 *
 * The profile is a random call tree: a pool of C and C++ function names, a depth of 6 to
 * 48 frames, a fan-out of a few callees per frame, so that lines share long prefixes as
 * real profiles do. It is written to a temporary file in pieces, so the generator adds nothing
 * to the peak memory. Size: SONDE_BENCH_MB megabytes (default 100). With FLAMEGRAPH_PL set
 * to a flamegraph.pl, the same file is rendered by it too, for comparison; with
 * SONDE_BENCH_KEEP set, the file is kept (its name goes to stderr) for timing `sonde flame`.
 *
 * Prints: flame_input_mb, flame_render_mb_per_s (wall clock) and flame_render_mb_per_cpu_s
 * (CPU time, which other processes on a shared machine do not inflate), flame_peak_rss_mb,
 * flame_peak_rss_vs_input (goal: >= 100 MB/s, memory under 2x the input), and the
 * reference figure when flamegraph.pl ran.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "flame_svg.h"
#include "profile_formats.h"

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double maxrss_mb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_maxrss / 1024.0;
}

enum { NAMES = 6000, FANOUT = 6 };

static char *names[NAMES];

static void make_names(void)
{
	static const char *const ns[] = {
	        "std::", "app::", "net::http::", "db::", "util::", "", "boost::asio::"};
	static const char *const verbs[] = {"parse",  "read",   "write",  "handle", "dispatch",
	                                    "encode", "decode", "lookup", "insert", "compute",
	                                    "flush",  "poll",   "run",    "visit"};
	static const char *const nouns[] = {"Request", "Buffer",  "Row",    "Index", "Frame", "Token",
	                                    "Node",    "Message", "Header", "Block", "Entry", "Session"};
	char buf[160];
	for (int i = 0; i < NAMES; i++) {
		/* Half C-style names (do_read_3), half C++ ones with templates and arguments. */
		if (i % 2)
			snprintf(buf, sizeof(buf), "%s_%s_%d", verbs[bench_rand() % 14],
			         nouns[bench_rand() % 12], i);
		else
			snprintf(buf, sizeof(buf), "%s%s%s<%s>::%s_%d(%s const&)", ns[bench_rand() % 7],
			         verbs[bench_rand() % 14], nouns[bench_rand() % 12], nouns[bench_rand() % 12],
			         verbs[bench_rand() % 14], i, nouns[bench_rand() % 12]);
		names[i] = strdup(buf);
	}
}

/* The callee number k of a frame (function f at depth d): a fixed function per (f, k). */
static int callee(int f, int k, int d)
{
	uint64_t h =
	        (uint64_t)f * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(k + 1) * 0xbf58476d1ce4e5b9ULL ^ (uint64_t)d;
	h ^= h >> 31;
	h *= 0x94d049bb133111ebULL;
	return (int)((h >> 20) % NAMES);
}

/* Writes about `bytes` of folded stacks to f. */
static size_t generate(FILE *f, size_t bytes)
{
	char *line = malloc(1 << 16);
	size_t total = 0;
	while (total < bytes) {
		int depth = 6 + (int)(bench_rand() % 43), fn = (int)(bench_rand() % 16);
		size_t n = 0;
		for (int d = 0; d < depth; d++) {
			/* Skewed fan-out: callee 0 is the hot path. */
			int k = (int)(bench_rand() % (FANOUT * FANOUT));
			k = k < FANOUT ? 0 : k % FANOUT;
			fn = d == 0 ? fn : callee(fn, k, d);
			size_t len = strlen(names[fn]);
			if (n)
				line[n++] = ';';
			memcpy(line + n, names[fn], len);
			n += len;
		}
		n += (size_t)sprintf(line + n, " %d\n", 1 + (int)(bench_rand() % 50));
		fwrite(line, 1, n, f);
		total += n;
	}
	free(line);
	return total;
}

int main(void)
{
	const char *mb_env = getenv("SONDE_BENCH_MB");
	size_t want_mb = mb_env ? (size_t)atoi(mb_env) : 100;
	if (want_mb == 0)
		want_mb = 100;
	char path[] = "/tmp/sonde-flame-bench.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		return 1;
	}
	FILE *f = fdopen(fd, "w+b");
	make_names();
	size_t size = generate(f, want_mb << 20);
	fflush(f);
	for (int i = 0; i < NAMES; i++)
		free(names[i]);
	double rss_before = maxrss_mb();

	/* The sonde flame pipeline: stream, parse, merge, render. */
	rewind(f);
	double c0 = cpu_s(), t0 = bench_now();
	sonde_stacktab *t = sonde_stacktab_new();
	sonde_folded_reader *r = sonde_folded_reader_new(t, NULL);
	char *piece = malloc(1 << 20);
	sonde_wire_error err = {0};
	size_t got;
	while ((got = fread(piece, 1, 1 << 20, f)) > 0)
		if (sonde_folded_reader_feed(r, piece, got, &err) != 0) {
			fprintf(stderr, "flame_bench: parse error at %zu: %s\n", err.offset, err.msg);
			return 1;
		}
	if (sonde_folded_reader_finish(r, &err) != 0)
		return 1;
	double t1 = bench_now();
	sonde_buf svg = SONDE_BUF_INIT;
	if (sonde_flame_svg(t, NULL, &svg) != 0)
		return 1;
	double t2 = bench_now(), c2 = cpu_s();
	double rss = maxrss_mb();
	double mb = (double)size / (1 << 20);
	printf("flame_input_mb: %.1f MB\n", mb);
	printf("flame_input_stacks: %zu stacks\n", sonde_stacktab_stacks_count(t));
	printf("flame_parse_mb_per_s: %.0f MB/s\n", mb / (t1 - t0));
	printf("flame_render_s: %.3f s\n", t2 - t0);
	printf("flame_render_mb_per_s: %.0f MB/s\n", mb / (t2 - t0));
	/* On a shared machine the wall clock counts other processes' time too. */
	printf("flame_render_cpu_s: %.3f s\n", c2 - c0);
	printf("flame_render_mb_per_cpu_s: %.0f MB/s\n", mb / (c2 - c0));
	printf("flame_svg_kb: %.0f KB\n", (double)svg.len / 1024);
	printf("flame_peak_rss_mb: %.0f MB\n", rss);
	printf("flame_peak_rss_vs_input: %.2f x\n", rss / mb);
	printf("flame_rss_before_render_mb: %.0f MB\n", rss_before);
	sonde_buf_release(&svg);
	sonde_folded_reader_free(r);
	sonde_stacktab_free(t);
	free(piece);
	fclose(f);

	const char *pl = getenv("FLAMEGRAPH_PL");
	if (pl && *pl) {
		char cmd[512];
		snprintf(cmd, sizeof(cmd), "perl '%s' '%s' > /dev/null", pl, path);
		double p0 = bench_now();
		int rc = system(cmd);
		double p1 = bench_now();
		if (rc == 0)
			printf("flamegraph_pl_mb_per_s: %.1f MB/s\n", mb / (p1 - p0));
		else
			fprintf(stderr, "flame_bench: %s failed\n", pl);
	}
	if (getenv("SONDE_BENCH_KEEP"))
		fprintf(stderr, "flame_bench: kept %s\n", path);
	else
		unlink(path);
	return 0;
}
