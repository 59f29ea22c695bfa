/*
 * profiler.h - the CPU profiler: sample processes, unwind, symbolize, build a stack table.
 *
 * A sonde_profiler attaches to running processes (every thread, and threads started later)
 * or spawns a command, samples them with perf_events (perf_events.h), unwinds each sample
 * as it arrives (frame pointers, DWARF, or auto: DWARF when it reaches the outermost frame,
 * else whichever walk went deeper), and counts distinct raw stacks. sonde_profiler_stacktab()
 * symbolizes what is new (functions, files, lines, inlined frames, kernel and JIT symbols)
 * into a sonde_stacktab (stacktab.h) with two sample types, "samples" (count) and "cpu"
 * (nanoseconds). Addresses that cannot be symbolized become "module+0xOFFSET" frames.
 *
 * With threads set, every stack ends (outermost frame) in a frame of module "[thread]" and
 * function "<thread name>-<tid>", as perf's flamegraphs show threads.
 *
 * Lifecycle: new -> attach()/spawn() -> start() -> poll()... -> stop() -> stacktab(),
 * get_stats() -> free(). stacktab() may also be called while recording (sonde top). Not
 * thread-safe; the library never prints and installs no signal handlers.
 */
#ifndef SONDE_PROFILER_H
#define SONDE_PROFILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stacktab.h"

typedef enum sonde_callgraph {
	SONDE_CALLGRAPH_AUTO,
	SONDE_CALLGRAPH_FP,
	SONDE_CALLGRAPH_DWARF,
} sonde_callgraph;

/* How DWARF stacks are unwound. */
typedef enum sonde_unwinder {
	SONDE_UNWINDER_DEFAULT =
	        0, /* sonde's CFI walk with rules cached per address; libunwind where it gives up */
	SONDE_UNWINDER_LIBUNWIND, /* libunwind alone */
	SONDE_UNWINDER_CHECK, /* both on every sample, compared (stats.unwind_differ); the default's result */
} sonde_unwinder;

/* The default user stack copy per DWARF sample. The profile tests' programs and
 * examples/shop_service need <= 2.5 KiB for 99.8% of samples, but a frame with a big local
 * buffer (profile_bench's own main holds ~10 KiB) pushes the outermost frames further: with
 * 8 KiB the fast walk cannot read past it and gives up, and every sample of that thread is
 * walked again by libunwind (post-processing twice as slow). The copy costs the target
 * little (docs/profiler.md). */
#define SONDE_PROFILER_STACK_BYTES 16384u

typedef struct sonde_profiler_opts {
	uint32_t freq_hz;              /* default 99 */
	sonde_callgraph callgraph;     /* default auto */
	uint32_t stack_bytes;          /* user stack copied per sample for DWARF (default
	                                * SONDE_PROFILER_STACK_BYTES; at most 65528) */
	bool kernel;                   /* kernel frames too (needs perf_event_paranoid <= 1 or CAP_PERFMON) */
	bool threads;                  /* a root frame per thread */
	const char *const *debug_dirs; /* where separate debug files live; NULL: /usr/lib/debug */
	size_t debug_dirs_count;
	sonde_unwinder unwinder; /* default SONDE_UNWINDER_DEFAULT */
	const char *debug_cache; /* uncompressed copies of compressed debug files, written by
	                          * sonde_profiler_free() (symbolize.h); NULL: none */
} sonde_profiler_opts;

typedef struct sonde_profiler_stats {
	uint64_t samples;        /* samples counted into stacks */
	uint64_t lost;           /* samples the kernel dropped (ring full) */
	uint64_t duration_ns;    /* from start() to stop() (or now) */
	size_t threads;          /* distinct threads that were sampled */
	size_t processes;        /* distinct processes that were sampled */
	uint64_t dwarf_complete; /* DWARF walks that reached the outermost frame */
	uint64_t dwarf_used;     /* samples whose user stack came from DWARF */
	uint64_t fp_used;        /* samples whose user stack came from frame pointers */
	uint64_t unwind_fast;    /* DWARF samples unwound by sonde's CFI walk alone (no libunwind) */
	uint64_t unwind_checked; /* SONDE_UNWINDER_CHECK: samples both unwinders walked */
	uint64_t unwind_differ;  /* ... whose frames differed */
	uint64_t stack_copied;   /* bytes of user stack the kernel copied, over all samples (it
	                          * copies at most stack_bytes, and never past the stack's top) */
} sonde_profiler_stats;

typedef struct sonde_profiler sonde_profiler;

/* opts may be NULL. Returns 0 or -ENOMEM. Free with sonde_profiler_free(). */
int sonde_profiler_new(const sonde_profiler_opts *opts, sonde_profiler **out);
/* Stops sampling and frees everything. A spawned command that still runs is left running.
 * NULL is a no-op. */
void sonde_profiler_free(sonde_profiler *pr);

/* Samples every thread of process pid, and the threads it starts later. Returns 0, -ESRCH
 * when there is no such process, -EACCES/-EPERM when perf_events or /proc deny it. */
int sonde_profiler_attach(sonde_profiler *pr, pid_t pid);
/* Starts argv (argv[0] searched in PATH) as a child that is sampled from its exec on.
 * *pid receives the child's pid. Returns 0, -ENOENT/-EACCES when argv[0] cannot be
 * executed (nothing is left running), or the errors of sonde_profiler_attach(). */
int sonde_profiler_spawn(sonde_profiler *pr, char *const argv[], pid_t *pid);
/* Starts sampling (a spawned command runs from here on). Returns 0 or -errno. */
int sonde_profiler_start(sonde_profiler *pr);
/* Waits up to timeout_ms for samples and processes them. Returns 0, or -EINTR when a
 * signal interrupted the wait (nothing is lost), or another -errno. */
int sonde_profiler_poll(sonde_profiler *pr, int timeout_ms);
/* Stops sampling and processes what is left in the rings. Returns 0 or -errno. */
int sonde_profiler_stop(sonde_profiler *pr);
/* True while a target process is alive. A spawned child that exited is reaped and its wait
 * status stored in *status (when not NULL, and when it was the spawned child). */
bool sonde_profiler_alive(sonde_profiler *pr, int *status);

/* The stack table of everything counted so far, symbolized. Borrowed until the next call
 * on pr. Returns NULL when out of memory. Type 0 is "samples", type 1 "cpu". */
const sonde_stacktab *sonde_profiler_stacktab(sonde_profiler *pr);
void sonde_profiler_get_stats(const sonde_profiler *pr, sonde_profiler_stats *out);

#endif
