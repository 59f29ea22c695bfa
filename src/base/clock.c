/*
 * clock.c - TSC calibration (see clock.h).
 *
 * A calibration is (tsc0, mono0, ns_per_tick, real_minus_mono): epoch ns of a tick count
 * t is mono0 + (t - tsc0) * ns_per_tick + real_minus_mono. Calibrations are immutable
 * once published; recalibration publishes a new one by swapping an atomic pointer between
 * two static slots, so a reader never sees a half-written calibration (a reader racing
 * two recalibrations in a row could, which the seconds between recalibrations rule out).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "clock.h"

#if SONDE_CLOCK_HAVE_TSC
#include <cpuid.h>
#endif

typedef struct calib {
	uint64_t tsc0;
	uint64_t mono0;
	double ns_per_tick;
	int64_t real_minus_mono;
} calib;

bool sonde__clock_use_tsc;
static calib slots[2];
static _Atomic(calib *) current;
static atomic_uint generation;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint64_t first_tsc, first_mono;

static uint64_t ts_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sonde_clock_realtime_ns(void)
{
	return ts_ns(CLOCK_REALTIME);
}

uint64_t sonde_clock_monotonic_ns(void)
{
	return ts_ns(CLOCK_MONOTONIC);
}

void sonde_clock_realtime_after(struct timespec *out, uint64_t ms)
{
	clock_gettime(CLOCK_REALTIME, out);
	uint64_t ns = (uint64_t)out->tv_nsec + ms % 1000 * 1000000u;
	out->tv_sec += (time_t)(ms / 1000 + ns / 1000000000u);
	out->tv_nsec = (long)(ns % 1000000000u);
}

static bool invariant_tsc(void)
{
#if SONDE_CLOCK_HAVE_TSC
	unsigned a, b, c, d;
	if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
		return false;
	__get_cpuid(0x80000007u, &a, &b, &c, &d);
	return (d >> 8) & 1;
#else
	return false;
#endif
}

/* Reads tsc and monotonic time as close together as possible (the tightest of a few). */
static void sample(uint64_t *tsc, uint64_t *mono)
{
#if SONDE_CLOCK_HAVE_TSC
	uint64_t best = UINT64_MAX;
	*tsc = *mono = 0;
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = __rdtsc();
		uint64_t m = ts_ns(CLOCK_MONOTONIC);
		uint64_t t1 = __rdtsc();
		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*mono = m;
		}
	}
#else
	*tsc = *mono = ts_ns(CLOCK_MONOTONIC);
#endif
}

static void publish(uint64_t tsc0, uint64_t mono0, double ns_per_tick)
{
	unsigned g = atomic_fetch_add(&generation, 1) + 1;
	calib *c = &slots[g & 1];
	c->tsc0 = tsc0;
	c->mono0 = mono0;
	c->ns_per_tick = ns_per_tick;
	c->real_minus_mono = (int64_t)(ts_ns(CLOCK_REALTIME) - ts_ns(CLOCK_MONOTONIC));
	atomic_store_explicit(&current, c, memory_order_release);
}

static void init_once(void)
{
	if (!invariant_tsc()) {
		sonde__clock_use_tsc = false;
		publish(0, 0, 1.0);
		return;
	}
	uint64_t t0, m0, t1, m1;
	sample(&t0, &m0);
	/* 5 ms is enough for a first estimate within about 0.01%; recalibration refines it. */
	struct timespec wait = {0, 5000000};
	nanosleep(&wait, NULL);
	sample(&t1, &m1);
	if (t1 <= t0 || m1 <= m0) {
		sonde__clock_use_tsc = false;
		publish(0, 0, 1.0);
		return;
	}
	first_tsc = t0;
	first_mono = m0;
	publish(t1, m1, (double)(m1 - m0) / (double)(t1 - t0));
	sonde__clock_use_tsc = true;
}

void sonde_clock_init(void)
{
	pthread_once(&once, init_once);
}

void sonde_clock_recalibrate(void)
{
	sonde_clock_init();
	if (!sonde__clock_use_tsc) {
		publish(0, 0, 1.0);
		return;
	}
	uint64_t t, m;
	sample(&t, &m);
	if (t <= first_tsc || m <= first_mono)
		return;
	publish(t, m, (double)(m - first_mono) / (double)(t - first_tsc));
}

uint64_t sonde_clock_to_ns(uint64_t ticks)
{
	const calib *c = atomic_load_explicit(&current, memory_order_acquire);
	if (!c || !sonde__clock_use_tsc)
		return ticks;
	double delta = ((double)(int64_t)(ticks - c->tsc0)) * c->ns_per_tick;
	return (uint64_t)((int64_t)c->mono0 + (int64_t)delta + c->real_minus_mono);
}

double sonde_clock_ticks_per_sec(void)
{
	const calib *c = atomic_load_explicit(&current, memory_order_acquire);
	if (!c || !sonde__clock_use_tsc)
		return 1e9;
	return 1e9 / c->ns_per_tick;
}
