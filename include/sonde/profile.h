/*
 * profile.h - libsonde's scoped profiling: SONDE_PROFILE_SCOPE("name") around a block or
 * function counts its calls and measures its inclusive (cumulative) time, its self time
 * (time not spent in nested profiled scopes) and a latency histogram, reported like
 * Python's cProfile and exported as libsonde metrics.
 *
 * Lifetimes. A scope site is a static struct the macro declares; it registers itself on
 * its first entry and lives until exit. Nothing here needs freeing except the rows of
 * sonde_profile_snapshot.
 *
 * The hot path - entering and leaving a scope - touches only the calling thread's memory:
 * no lock, no allocation, no system call, timed with the TSC (sonde_clock_ticks). A
 * thread's first entry of a given scope allocates that thread's cell for it (once) and
 * takes the profile lock; so does the first entry of a scope in the process.
 *
 * Sampling. With sample_every = N > 1, one outermost scope entry in N on each thread is
 * measured, together with every scope nested in it (whole trees, so self times stay
 * exact); the entries of the other trees cost one per-thread counter. Counts and times
 * are then those of the sampled trees (multiply by N to estimate totals); rows carry the
 * rate.
 *
 * Thread safety: every function may be called from any thread; per-thread cells are
 * merged when reporting, and folded into their site when a thread exits. fork() is safe:
 * the child starts clean (nothing the parent measured is reported by the child; scopes
 * open in the forking thread count as entered at the fork).
 */
#ifndef SONDE_PROFILE_H
#define SONDE_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Scopes ----------------------------------------------------------------------- */

/* A scope site: one per SONDE_PROFILE_SCOPE, static. Fields are internal. */
typedef struct sonde_profile_site {
	const char *name;
	const char *file;
	int line;
	uint32_t id; /* 0 until registered */
} sonde_profile_site;

/* One open scope, on the stack of the code it measures. Internal. */
typedef struct sonde__profile_frame {
	struct sonde__profile_frame *parent;
	void *cell;           /* NULL: not measured (sampled out or out of memory) */
	uint64_t start;       /* ticks */
	uint64_t child_ticks; /* inclusive time of the measured scopes nested directly in it */
} sonde__profile_frame;

void sonde__profile_enter(sonde__profile_frame *f, sonde_profile_site *site);
void sonde__profile_leave(sonde__profile_frame *f);

#define SONDE__PCAT2(a, b) a##b
#define SONDE__PCAT(a, b)  SONDE__PCAT2(a, b)

/* Measures the rest of the enclosing C block, however it is left (return, break, goto;
 * not longjmp, which skips cleanups and must not cross a profiled scope):
 *     void parse(void) {
 *             SONDE_PROFILE_SCOPE("parse");
 *             ...
 *     }
 * name must be a string literal (or any static string): it is kept, not copied. At most
 * one scope per source line. Scopes with the same name at different places are
 * reported separately (their rows differ in file:line). */
#define SONDE_PROFILE_SCOPE(name)                                                                         \
	static sonde_profile_site SONDE__PCAT(sonde__psite_, __LINE__) = {(name), __FILE__, __LINE__, 0}; \
	sonde__profile_frame SONDE__PCAT(sonde__pframe_, __LINE__)                                        \
	        __attribute__((cleanup(sonde__profile_leave), unused));                                   \
	sonde__profile_enter(&SONDE__PCAT(sonde__pframe_, __LINE__), &SONDE__PCAT(sonde__psite_, __LINE__))

/* ---- Configuration ---------------------------------------------------------------- */

typedef struct sonde_profile_config {
	/* Measure one outermost scope entry in sample_every per thread (and everything
	 * nested in it). 0: the environment variable SONDE_PROFILE_SAMPLE, else 1 (all). */
	uint32_t sample_every;
} sonde_profile_config;

/* Sets the sampling rate; may be called at any time (takes effect at each thread's next
 * outermost entry). cfg may be NULL: from the environment. A bad SONDE_PROFILE_SAMPLE is
 * reported through sonde_set_diagnostics and ignored. Returns 0. */
int sonde_profile_configure(const sonde_profile_config *cfg);

/* ---- Reporting -------------------------------------------------------------------- */

typedef enum sonde_profile_sort {
	SONDE_PROFILE_SORT_CUMTIME = 0, /* descending, like the others except NAME */
	SONDE_PROFILE_SORT_TOTTIME,
	SONDE_PROFILE_SORT_CALLS,
	SONDE_PROFILE_SORT_PERCALL_TOT, /* tottime / calls */
	SONDE_PROFILE_SORT_PERCALL_CUM, /* cumtime / primitive calls */
	SONDE_PROFILE_SORT_P50,
	SONDE_PROFILE_SORT_P95,
	SONDE_PROFILE_SORT_P99,
	SONDE_PROFILE_SORT_NAME, /* ascending: name, then file, then line */
} sonde_profile_sort;

/* One scope site, merged over all threads (live and exited). Times in seconds. */
typedef struct sonde_profile_row {
	const char *name; /* borrowed from the site: static */
	const char *file;
	int line;
	uint64_t calls;           /* measured entries */
	uint64_t primitive_calls; /* measured entries not nested in the same site (cProfile's) */
	double tottime_s;         /* self time: not in nested measured scopes */
	double cumtime_s;         /* inclusive time of the primitive entries only */
	double percall_tot_s;     /* tottime_s / calls */
	double percall_cum_s;     /* cumtime_s / primitive_calls */
	/* Quantiles of the inclusive time of every measured entry (recursive ones too), within
	 * 1.6% relative error (a log-bucketed histogram of ticks, 32 buckets per octave). */
	double p50_s, p95_s, p99_s;
	uint32_t sample_every; /* the rate configured when the rows were taken */
} sonde_profile_row;

/* Takes the rows of every site measured at least once (in any thread), sorted by `by`.
 * On success returns 0 and *rows (caller frees with free()) holding *count rows; -ENOMEM
 * otherwise (*rows NULL). */
int sonde_profile_snapshot(sonde_profile_sort by, sonde_profile_row **rows, size_t *count);

/* Writes a cProfile-like table: ncalls (total/primitive when they differ), tottime,
 * percall, cumtime, percall, p50, p95, p99, name (file:line), with times in adaptive
 * units. Returns 0, -ENOMEM, or -EIO when writing out failed. */
int sonde_profile_report(FILE *out, sonde_profile_sort by);
/* The same rows as a JSON object {"sample_every":N,"scopes":[{...}]}, times in seconds,
 * followed by a newline. Returns 0, -ENOMEM or -EIO. */
int sonde_profile_report_json(FILE *out, sonde_profile_sort by);

/* Metrics. The first scope entered in the process registers, on the meter "sonde.profile",
 * observable counters sonde.profile.calls ({call}), sonde.profile.self_time and
 * sonde.profile.total_time (s), and an observable gauge sonde.profile.latency (s, with
 * attribute quantile = "0.5", "0.95", "0.99"); every series has the attributes scope
 * (the name), code.filepath and code.lineno. They show in sonde_metrics_prometheus_text
 * and on the Prometheus endpoint as sonde_profile_calls_total{scope="..."} and so on. */

#ifdef __cplusplus
}
#endif
#endif
