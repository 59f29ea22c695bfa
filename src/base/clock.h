/*
 * clock.h - timestamps cheap enough for the hot path: raw TSC ticks where the TSC is
 * invariant, converted to Unix-epoch nanoseconds later, off the hot path.
 *
 * sonde_clock_ticks() reads the TSC (a few nanoseconds, no system call) when the CPU
 * reports an invariant TSC, and CLOCK_REALTIME through the vDSO otherwise (then ticks
 * already are nanoseconds). sonde_clock_to_ns() maps ticks to epoch nanoseconds with the
 * current calibration; sonde_clock_recalibrate() refines it against CLOCK_MONOTONIC over a
 * longer baseline (call it from a background thread now and then). Calibration is global
 * and read with acquire semantics, so any thread may convert.
 */
#ifndef SONDE_CLOCK_H
#define SONDE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define SONDE_CLOCK_HAVE_TSC 1
#else
#define SONDE_CLOCK_HAVE_TSC 0
#endif

/* Set once by sonde_clock_init(); true when ticks are TSC cycles. */
extern bool sonde__clock_use_tsc;

/* Calibrates (a few milliseconds the first time). Idempotent and thread-safe. */
void sonde_clock_init(void);

static inline uint64_t sonde_clock_ticks(void)
{
#if SONDE_CLOCK_HAVE_TSC
	if (__builtin_expect(sonde__clock_use_tsc, 1))
		return __rdtsc();
#endif
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Converts ticks to Unix-epoch nanoseconds. */
uint64_t sonde_clock_to_ns(uint64_t ticks);
/* Ticks per second (1e9 when ticks are nanoseconds). */
double sonde_clock_ticks_per_sec(void);
/* Re-measures the tick rate over the time since sonde_clock_init() and re-anchors the
 * epoch offset (follows NTP adjustments of CLOCK_REALTIME). */
void sonde_clock_recalibrate(void);
/* Unix-epoch nanoseconds now, via clock_gettime. */
uint64_t sonde_clock_realtime_ns(void);
/* CLOCK_MONOTONIC nanoseconds now, for durations and deadlines. */
uint64_t sonde_clock_monotonic_ns(void);
/* The CLOCK_REALTIME time ms milliseconds from now, as pthread_cond_timedwait takes it. */
void sonde_clock_realtime_after(struct timespec *out, uint64_t ms);

#endif
