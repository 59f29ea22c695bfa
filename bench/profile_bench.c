/*
 * profile_bench.c - what `sonde record` costs the program it samples, and how fast the
 * profiler turns DWARF samples into a folded profile.
 *
 * Slowdown: this program re-executes itself as a workload (a fixed amount of CPU work in
 * two threads under a call chain twelve frames deep, built -O2 without frame pointers)
 * that reports its own CPU time (user + system, which includes the kernel's sampling
 * work charged to it). This host's speed swings by up to 2x between minutes (a shared KVM
 * guest), more than the effect measured, so runs are paired: an unprofiled run and a
 * profiled one back to back (~0.45 s of CPU each, so a pair sits inside one phase of the
 * host), the profiled one first in every other pair (PAIRS is even: as many pairs of
 * each order, so an effect of the order cancels), and the slowdown of a pair is the
 * ratio of their CPU times. Each configuration (99 Hz fp and auto; 999 Hz DWARF with the
 * default stack copy and with 8 KiB) gets PAIRS pairs, the configurations interleaved
 * round by round, and its figure is the median of its pairs' ratios, printed with their
 * inter-quartile range. A null configuration (two unprofiled runs per pair) shows what the
 * method reads when there is nothing to find. For the DWARF runs it also prints the
 * samples the kernel dropped, the share unwound to main or a thread's start, the user
 * stack bytes the kernel copied per sample (never past the stack's top), and what a sample
 * cost the target (the median over pairs of the CPU time added over the samples taken)
 * and the target's involuntary context switches, profiled and unprofiled (each switch of
 * a profiled thread also switches its sampling event out and in).
 *
 * Post-processing: a 4999 Hz DWARF recording of a longer workload; samples per second of
 * the profiler's own CPU time (it is single-threaded, so this is the time it is busy:
 * draining the rings and unwinding every sample's stack copy during the recording, then
 * stopping, symbolizing and writing folded stacks). Cold and warm runs alternate. A cold
 * run starts with the debug cache (symbolize.h) emptied, so glibc's compressed debug file
 * is inflated in that run (the page cache still holds the binaries and the compressed
 * file: no disk reads are measured); its copy is written to the cache when the profiler
 * is freed, after the output, and that write is reported on its own line. A warm run
 * opens the copy. Beside it, when perf is installed and permitted, `perf script` on a
 * `perf record --call-graph dwarf` recording of the same workload. Prints "name: value
 * unit" lines. `profile_bench --rate` measures the post-processing rate (and perf script)
 * only, skipping the slowdown runs; `profile_bench --slowdown` the slowdown only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "profile_formats.h"
#include "profiler.h"
#include "profsummary.h"

enum { PAIRS = 16, SLOW_UNITS = 4000, RUNS_RATE = 3, WORK_UNITS = 6000 };

static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t leaf_work(uint64_t n)
{
	uint64_t x = n;
	for (uint64_t i = 0; i < n * 1000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	return x;
}

__attribute__((noinline)) static uint64_t chain(int depth, uint64_t n)
{
	if (depth == 0)
		return leaf_work(n);
	uint64_t r = chain(depth - 1, n);
	sink += (uint64_t)depth; /* not a tail call */
	return r;
}

static void *work_thread(void *arg)
{
	uint64_t units = (uint64_t)(uintptr_t)arg, acc = 0;
	for (uint64_t i = 0; i < units; i++)
		acc += chain(10, 100);
	sink += acc;
	return NULL;
}

/* The workload: two threads; writes its CPU time in ns and its involuntary context
 * switches to path. */
static int workload(uint64_t units, const char *path)
{
	pthread_t t;
	pthread_create(&t, NULL, work_thread, (void *)(uintptr_t)(units / 2));
	work_thread((void *)(uintptr_t)(units / 2));
	pthread_join(t, NULL);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double ns = (double)ru.ru_utime.tv_sec * 1e9 + (double)ru.ru_utime.tv_usec * 1e3 +
	            (double)ru.ru_stime.tv_sec * 1e9 + (double)ru.ru_stime.tv_usec * 1e3;
	FILE *f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "%.0f %ld\n", ns, ru.ru_nivcsw);
	return fclose(f) != 0;
}

/* Reads what workload() wrote: its CPU time in ns (-1 when unreadable) and *switches. */
static double read_ns(const char *path, double *switches)
{
	double v = -1;
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%lf %lf", &v, switches) != 2)
			v = -1;
		fclose(f);
	}
	return v;
}

static double thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static char self_path[4096], out_path[256];

typedef struct result {
	double target_cpu_ns;
	double target_switches; /* involuntary context switches of the target */
	double profiler_cpu_ns;
	double final_cpu_ns; /* of it: stop, symbolization and the folded output */
	double free_cpu_ns;  /* after it: freeing the profiler (writes the debug cache) */
	uint64_t samples;
	uint64_t fast;   /* DWARF samples unwound without libunwind */
	double rooted;   /* share of samples unwound to main or a thread's start */
	uint64_t lost;   /* samples the kernel dropped */
	uint64_t copied; /* bytes of user stack the kernel copied */
} result;

/* Runs the workload (units of work) once, sampled with opts (NULL: not sampled). */
static int run(const sonde_profiler_opts *opts, int work_units, result *r)
{
	char units[32];
	snprintf(units, sizeof(units), "%d", work_units);
	char *argv[] = {self_path, "--workload", units, out_path, NULL};
	memset(r, 0, sizeof(*r));
	unlink(out_path);
	if (!opts) {
		pid_t pid = fork();
		if (pid == 0) {
			execv(self_path, argv);
			_exit(127);
		}
		int st;
		waitpid(pid, &st, 0);
		r->target_cpu_ns = read_ns(out_path, &r->target_switches);
		return r->target_cpu_ns > 0 ? 0 : -1;
	}
	sonde_profiler *pr;
	pid_t pid;
	if (sonde_profiler_new(opts, &pr) != 0)
		return -1;
	if (sonde_profiler_spawn(pr, argv, &pid) != 0 || sonde_profiler_start(pr) != 0) {
		sonde_profiler_free(pr);
		return -1;
	}
	double cpu = 0;
	while (sonde_profiler_alive(pr, NULL)) {
		double t0 = thread_cpu_ns();
		sonde_profiler_poll(pr, 50);
		cpu += thread_cpu_ns() - t0;
	}
	double t0 = thread_cpu_ns();
	sonde_profiler_stop(pr);
	const sonde_stacktab *tab = sonde_profiler_stacktab(pr);
	sonde_buf folded = SONDE_BUF_INIT;
	if (tab)
		sonde_folded_write(tab, 0, &folded);
	r->final_cpu_ns = thread_cpu_ns() - t0;
	cpu += r->final_cpu_ns;
	sonde_profiler_stats st;
	sonde_profiler_get_stats(pr, &st);
	r->profiler_cpu_ns = cpu;
	r->samples = st.samples;
	r->fast = st.unwind_fast;
	r->lost = st.lost;
	r->copied = st.stack_copied;
	r->rooted = tab ? sonde_profile_rooted_share(tab, 0) : 0;
	r->target_cpu_ns = read_ns(out_path, &r->target_switches);
	sonde_buf_release(&folded);
	t0 = thread_cpu_ns();
	sonde_profiler_free(pr);
	r->free_cpu_ns = thread_cpu_ns() - t0;
	return r->target_cpu_ns > 0 && tab ? 0 : -1;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), dbl_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints "name: MEDIAN unit (MIN-MAX over N runs)" for the RUNS_RATE values v (sorted). */
static void print_range(const char *name, double *v, const char *unit)
{
	double m = median(v, RUNS_RATE);
	printf("%s: %.*f %s (%.*f-%.*f over %d runs)\n", name, m < 100 ? 1 : 0, m, unit, m < 100 ? 1 : 0,
	       v[0], m < 100 ? 1 : 0, v[RUNS_RATE - 1], RUNS_RATE);
}

/* perf record --call-graph dwarf of the workload, then perf script timed: samples/s. */
static void perf_script_rate(void)
{
	char cmd[8192], data[300];
	snprintf(data, sizeof(data), "%s.perf.data", out_path);
	snprintf(
	        cmd, sizeof(cmd),
	        "perf record -q -e cpu-clock -F 4999 --call-graph dwarf,16384 -o %s -- %s --workload %d %s.p "
	        ">/dev/null 2>&1",
	        data, self_path, WORK_UNITS * 3, out_path);
	if (system(cmd) != 0) {
		printf("perf_script_dwarf_samples: unavailable (perf missing or not permitted)\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "perf script -i %s 2>/dev/null | grep -c '^[^ \t].*cpu-clock'", data);
	FILE *p = popen(cmd, "r");
	long samples = 0;
	if (p) {
		if (fscanf(p, "%ld", &samples) != 1)
			samples = 0;
		pclose(p);
	}
	snprintf(cmd, sizeof(cmd), "perf script -i %s >/dev/null 2>&1", data);
	struct rusage before, after;
	getrusage(RUSAGE_CHILDREN, &before);
	int rc = system(cmd);
	getrusage(RUSAGE_CHILDREN, &after);
	double cpu = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) * 1e9 +
	             (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) * 1e3 +
	             (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) * 1e9 +
	             (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec) * 1e3;
	unlink(data);
	if (rc != 0 || samples == 0 || cpu <= 0) {
		printf("perf_script_dwarf_samples: unavailable (perf script failed)\n");
		return;
	}
	printf("perf_script_dwarf_samples: %ld samples\n", samples);
	printf("perf_script_dwarf_rate: %.0f samples/s\n", (double)samples / (cpu / 1e9));
}

/* The value at quantile q (0..1) of the n sorted values v, interpolated. */
static double quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t i = (size_t)pos;
	return i + 1 < n ? v[i] + (pos - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

enum { NCFG = 6 };
static const char *const cfg_names[NCFG] = {
        "none", "99hz_fp", "99hz_auto", "999hz_dwarf", "999hz_dwarf_stack8k", "null"};

/* The paired slowdown runs; prints the profile_slowdown_* lines. Returns 0 or 1. */
static int slowdown(void)
{
	sonde_profiler_opts fp99 = {.freq_hz = 99, .callgraph = SONDE_CALLGRAPH_FP};
	sonde_profiler_opts auto99 = {.freq_hz = 99, .callgraph = SONDE_CALLGRAPH_AUTO};
	sonde_profiler_opts dwarf999 = {.freq_hz = 999, .callgraph = SONDE_CALLGRAPH_DWARF};
	sonde_profiler_opts dwarf999_8k = {
	        .freq_hz = 999, .callgraph = SONDE_CALLGRAPH_DWARF, .stack_bytes = 8192};
	/* cfg[0] (unprofiled) is the other half of every pair; "null" pairs it with itself. */
	const sonde_profiler_opts *cfg[NCFG] = {NULL, &fp99, &auto99, &dwarf999, &dwarf999_8k, NULL};
	double ratio[NCFG][PAIRS], cost_us[NCFG][PAIRS], base[(NCFG - 1) * PAIRS * 2];
	double sw[NCFG][PAIRS], sw_base[NCFG][PAIRS];
	size_t nbase = 0;
	uint64_t lost[NCFG] = {0}, nsamples[NCFG] = {0}, copied[NCFG] = {0};
	double rooted[NCFG] = {0};
	for (int r = 0; r < PAIRS; r++) {
		for (int c = 1; c < NCFG; c++) {
			result res[2]; /* [0] unprofiled, [1] profiled */
			bool profiled_first = (r + c) % 2;
			for (int k = 0; k < 2; k++) {
				int which = profiled_first ? 1 - k : k;
				if (run(which ? cfg[c] : NULL, SLOW_UNITS, &res[which]) != 0) {
					fprintf(stderr,
					        "profile_bench: run %s failed (is perf_event_open "
					        "permitted?)\n",
					        cfg_names[which ? c : 0]);
					return 1;
				}
			}
			ratio[c][r] = res[1].target_cpu_ns / res[0].target_cpu_ns - 1;
			cost_us[c][r] = res[1].samples ? (res[1].target_cpu_ns - res[0].target_cpu_ns) / 1e3 /
			                                         (double)res[1].samples
			                               : 0;
			sw[c][r] = res[1].target_switches;
			sw_base[c][r] = res[0].target_switches;
			base[nbase++] = res[0].target_cpu_ns;
			if (!cfg[c])
				base[nbase++] = res[1].target_cpu_ns;
			lost[c] += res[1].lost;
			nsamples[c] += res[1].samples;
			copied[c] += res[1].copied;
			rooted[c] += res[1].rooted / PAIRS;
		}
	}
	qsort(base, nbase, sizeof(*base), dbl_cmp);
	printf("profile_target_cpu_unprofiled: %.3f s (%.3f-%.3f over %zu runs)\n",
	       quantile(base, nbase, 0.5) / 1e9, base[0] / 1e9, base[nbase - 1] / 1e9, nbase);
	for (int c = 1; c < NCFG; c++) {
		double *v = ratio[c];
		qsort(v, PAIRS, sizeof(*v), dbl_cmp);
		printf("profile_slowdown_%s: %.2f %% (IQR %+.2f..%+.2f, pairs %+.2f..%+.2f, %d pairs)\n",
		       cfg_names[c], 100 * quantile(v, PAIRS, 0.5), 100 * quantile(v, PAIRS, 0.25),
		       100 * quantile(v, PAIRS, 0.75), 100 * v[0], 100 * v[PAIRS - 1], PAIRS);
	}
	for (int c = 3; c < 5; c++) {
		printf("profile_lost_%s: %llu of %llu samples\n", cfg_names[c], (unsigned long long)lost[c],
		       (unsigned long long)(nsamples[c] + lost[c]));
		printf("profile_rooted_share_%s: %.2f %%\n", cfg_names[c], 100.0 * rooted[c]);
		printf("profile_stack_copied_%s: %.0f bytes/sample\n", cfg_names[c],
		       nsamples[c] ? (double)copied[c] / (double)nsamples[c] : 0.0);
		double *v = cost_us[c];
		qsort(v, PAIRS, sizeof(*v), dbl_cmp);
		qsort(sw[c], PAIRS, sizeof(double), dbl_cmp);
		qsort(sw_base[c], PAIRS, sizeof(double), dbl_cmp);
		printf("profile_target_switches_%s: %.0f involuntary context switches/run (unprofiled "
		       "beside it: %.0f)\n",
		       cfg_names[c], quantile(sw[c], PAIRS, 0.5), quantile(sw_base[c], PAIRS, 0.5));
		printf("profile_sample_cost_%s: %.1f us of target CPU/sample (IQR %.1f..%.1f)\n",
		       cfg_names[c], quantile(v, PAIRS, 0.5), quantile(v, PAIRS, 0.25),
		       quantile(v, PAIRS, 0.75));
	}
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--workload") == 0)
		return workload(strtoull(argv[2], NULL, 10), argv[3]);
	ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
	if (n <= 0)
		return 1;
	self_path[n] = '\0';
	snprintf(out_path, sizeof(out_path), "/tmp/sonde-profile-bench-%d", (int)getpid());
	bool rate_only = argc == 2 && strcmp(argv[1], "--rate") == 0;
	bool slowdown_only = argc == 2 && strcmp(argv[1], "--slowdown") == 0;
	if (!rate_only && slowdown() != 0)
		return 1;
	if (slowdown_only) {
		unlink(out_path);
		return 0;
	}
	double rate[RUNS_RATE], rate_cold[RUNS_RATE], final_ms[RUNS_RATE], cache_write_ms[RUNS_RATE];
	uint64_t samples = 0, fast = 0;
	/* Throughput: a larger DWARF recording, so that opening and indexing the modules'
	 * debug information once is a small part of it (as in a real recording). */
	char cache[300], rm[400];
	snprintf(cache, sizeof(cache), "%s.debug-cache", out_path);
	snprintf(rm, sizeof(rm), "rm -rf '%s'", cache);
	sonde_profiler_opts dwarf_fast = {
	        .freq_hz = 4999, .callgraph = SONDE_CALLGRAPH_DWARF, .debug_cache = cache};
	for (int r = 0; r < RUNS_RATE; r++) {
		for (int warm = 0; warm < 2; warm++) {
			if (!warm && system(rm) != 0)
				fprintf(stderr, "profile_bench: cannot remove %s\n", cache);
			result res;
			if (run(&dwarf_fast, WORK_UNITS * 3, &res) != 0)
				return 1;
			double *to = warm ? rate : rate_cold;
			to[r] = (double)res.samples / (res.profiler_cpu_ns / 1e9);
			if (warm)
				final_ms[r] = res.final_cpu_ns / 1e6;
			else
				cache_write_ms[r] = res.free_cpu_ns / 1e6;
			samples += res.samples;
			fast += res.fast;
		}
	}
	printf("profile_dwarf_samples_per_run: %.0f samples\n", (double)samples / (2 * RUNS_RATE));
	print_range("profile_dwarf_postprocess_rate_warm_cache", rate, "samples/s");
	print_range("profile_dwarf_postprocess_rate_cold_cache", rate_cold, "samples/s");
	print_range("profile_dwarf_symbolize_fold_cpu_warm", final_ms, "ms");
	print_range("profile_dwarf_cache_write_after_output_cpu", cache_write_ms, "ms");
	printf("profile_dwarf_fast_unwind_share: %.1f %%\n",
	       samples ? 100.0 * (double)fast / (double)samples : 0.0);
	perf_script_rate();
	unlink(out_path);
	if (system(rm) != 0)
		fprintf(stderr, "profile_bench: cannot remove %s\n", cache);
	char p2[300];
	snprintf(p2, sizeof(p2), "%s.p", out_path);
	unlink(p2);
	return 0;
}
