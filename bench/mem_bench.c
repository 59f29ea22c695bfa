/*
 * mem_bench.c - what `sonde mem` costs a malloc-heavy program, beside heaptrack.
 *
 * The workload is this program re-executed with --work: PAIRS malloc/free pairs of 16 to
 * 527 bytes under a short call chain (the pattern that makes allocation profilers
 * slowest). It runs plain, under `sonde mem --all`, under `sonde mem` sampling (the
 * default 512 KiB), and under heaptrack when installed, RUNS times each, interleaved; the
 * median wall time of each (from the start of the command to its exit, recording and
 * writing included) is compared with the plain median. CPU time (user + system of the
 * command and its children) is printed beside it, as the machine may be shared. The
 * workload also times itself in chunks of 20,000 pairs and reports its fastest chunk
 * (through the file named by $MEM_BENCH_PAIR_NS): the cost of one pair with start-up,
 * writing and the other programs of a loaded machine left out, the steadiest figure of
 * the recorder's own cost. Prints "name: value unit" lines.
 *
 * usage: mem_bench [--pairs N] [--runs N] [--no-heaptrack]
 *        (sonde found beside the build's bench/ directory, or in $SONDE_BIN; the library
 *        in $SONDE_MEM_LIB when set, so that two builds of it can be compared)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

void *volatile mem_bench_sink;

enum { CHUNK = 20000 };

/* Returns the fastest chunk's nanoseconds per pair. */
__attribute__((noinline)) static double churn(uint64_t pairs)
{
	uint64_t x = 88172645463325252ull;
	double best = 0;
	for (uint64_t done = 0; done < pairs;) {
		uint64_t n = pairs - done < CHUNK ? pairs - done : CHUNK;
		double t0 = bench_now();
		for (uint64_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			void *p = malloc(16 + (x & 511));
			mem_bench_sink = p;
			free(p);
		}
		double ns = (bench_now() - t0) * 1e9 / (double)n;
		if (n == CHUNK && (best == 0 || ns < best))
			best = ns;
		done += n;
	}
	return best;
}

__attribute__((noinline)) static int work(uint64_t pairs)
{
	double best = churn(pairs);
	const char *out = getenv("MEM_BENCH_PAIR_NS");
	if (out && *out) {
		FILE *f = fopen(out, "w");
		if (!f || fprintf(f, "%.3f\n", best) < 0 || fclose(f) != 0)
			return 1;
	}
	return 0;
}

/* The fastest chunk's ns per pair that the last run wrote to path; 0 when none. */
static double read_pair_ns(const char *path)
{
	double v = 0;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%lf", &v) != 1)
			v = 0;
		fclose(f);
	}
	unlink(path);
	return v;
}

/* Runs argv with stdout and stderr to /dev/null; *wall and *cpu receive seconds. Returns
 * the exit status, or -1 when it could not run. */
static int run(char *const argv[], double *wall, double *cpu)
{
	double t0 = bench_now();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	struct rusage ru;
	if (wait4(pid, &status, 0, &ru) < 0)
		return -1;
	*wall = bench_now() - t0;
	*cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int have_heaptrack(void)
{
	return system("command -v heaptrack >/dev/null 2>&1") == 0;
}

enum { MAX_RUNS = 15, CONFIGS = 4 };

int main(int argc, char **argv)
{
	uint64_t pairs = 20000000;
	int runs = 3, heaptrack = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--work") == 0 && i + 1 < argc)
			return work(strtoull(argv[i + 1], NULL, 10));
		if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
			pairs = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--no-heaptrack") == 0)
			heaptrack = 0;
	}
	if (runs < 1 || runs > MAX_RUNS)
		runs = 3;
	char self[PATH_MAX], sonde[PATH_MAX], tmpl[] = "/tmp/mem_bench.XXXXXX";
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	const char *env = getenv("SONDE_BIN");
	if (env && *env) {
		snprintf(sonde, sizeof sonde, "%s", env);
	} else {
		char dir[PATH_MAX];
		snprintf(dir, sizeof dir, "%s", self);
		*strrchr(dir, '/') = 0; /* .../build/bench */
		char *up = strrchr(dir, '/');
		if (up)
			*up = 0;
		if ((size_t)snprintf(sonde, sizeof sonde, "%s/sonde", dir) >= sizeof sonde)
			return 1;
	}
	if (access(sonde, X_OK) != 0) {
		fprintf(stderr, "mem_bench: no sonde at %s (set SONDE_BIN)\n", sonde);
		return 1;
	}
	if (!mkdtemp(tmpl))
		return 1;
	char num[32], out_all[PATH_MAX], out_s[PATH_MAX], out_h[PATH_MAX], pair_ns[PATH_MAX];
	snprintf(num, sizeof num, "%llu", (unsigned long long)pairs);
	snprintf(out_all, sizeof out_all, "%s/all.mem", tmpl);
	snprintf(out_s, sizeof out_s, "%s/sampled.mem", tmpl);
	snprintf(out_h, sizeof out_h, "%s/heaptrack", tmpl);
	snprintf(pair_ns, sizeof pair_ns, "%s/pair_ns", tmpl);
	setenv("MEM_BENCH_PAIR_NS", pair_ns, 1);
	char *plain[] = {self, "--work", num, NULL};
	char *all[] = {sonde, "mem", "-q", "--all", "-o", out_all, "--", self, "--work", num, NULL};
	char *sampled[] = {sonde, "mem", "-q", "-o", out_s, "--", self, "--work", num, NULL};
	char *heap[] = {"heaptrack", "-o", out_h, self, "--work", num, NULL};
	char *const *cmds[CONFIGS] = {plain, all, sampled, heap};
	const char *names[CONFIGS] = {"plain", "all", "sampled", "heaptrack"};
	int use[CONFIGS] = {1, 1, 1, heaptrack && have_heaptrack()};
	double wall[CONFIGS][MAX_RUNS], cpu[CONFIGS][MAX_RUNS], pair[CONFIGS][MAX_RUNS];
	int rc = 0;
	for (int r = 0; r < runs && rc == 0; r++) {
		for (int c = 0; c < CONFIGS; c++) {
			if (!use[c])
				continue;
			int st = run(cmds[c], &wall[c][r], &cpu[c][r]);
			pair[c][r] = read_pair_ns(pair_ns);
			if (st != 0) {
				fprintf(stderr, "mem_bench: %s run failed (status %d)\n", names[c], st);
				rc = 1;
				break;
			}
		}
	}
	char cleanup[PATH_MAX + 16];
	snprintf(cleanup, sizeof cleanup, "rm -rf %s", tmpl);
	if (system(cleanup) != 0)
		fprintf(stderr, "mem_bench: could not remove %s\n", tmpl);
	if (rc)
		return rc;
	printf("mem_bench_pairs: %llu count\n", (unsigned long long)pairs);
	double base_wall = median(wall[0], runs), base_cpu = median(cpu[0], runs),
	       base_pair = median(pair[0], runs);
	for (int c = 0; c < CONFIGS; c++) {
		if (!use[c]) {
			printf("mem_bench_%s: %s\n", names[c], heaptrack ? "not installed" : "skipped");
			continue;
		}
		double w = median(wall[c], runs), u = median(cpu[c], runs), q = median(pair[c], runs);
		printf("mem_bench_%s_wall: %.3f s\n", names[c], w);
		printf("mem_bench_%s_cpu: %.3f s\n", names[c], u);
		printf("mem_bench_%s_pair: %.2f ns\n", names[c], q);
		if (c > 0) {
			printf("mem_bench_%s_slowdown: %.2f x\n", names[c], w / base_wall);
			printf("mem_bench_%s_cpu_slowdown: %.2f x\n", names[c], u / base_cpu);
			if (q > 0 && base_pair > 0)
				printf("mem_bench_%s_pair_slowdown: %.2f x\n", names[c], q / base_pair);
		}
	}
	printf("mem_bench_goal_all: 3.00 x\nmem_bench_goal_sampled: 1.20 x\n");
	return 0;
}
