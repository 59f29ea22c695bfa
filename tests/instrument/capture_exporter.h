/*
 * capture_exporter.h - for the runtime's tests: an exporter that keeps what libsonde's
 * background thread delivers, as a deep copy made by writing each batch as OTLP JSON and
 * reading it back (so the tests also see what a peer would see). It can stall like a slow
 * peer or hang like a broken exporter.
 */
#ifndef SONDE_TEST_CAPTURE_EXPORTER_H
#define SONDE_TEST_CAPTURE_EXPORTER_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "exporter_internal.h"
#include "otlp_json.h"
#include "telemetry.h"

typedef struct capture {
	sonde_exporter base;
	pthread_mutex_t mu;
	sonde_batch *got;     /* deep copies of every exported span and log record */
	_Atomic int stall_ms; /* sleep this long in each export (a slow peer) */
	_Atomic int hang;     /* ignore the deadline entirely (a broken exporter) */
	atomic_int exports;
} capture;

static int cap_copy(capture *c, const sonde_batch *b, sonde_signal sig)
{
	sonde_buf js = SONDE_BUF_INIT;
	assert_int_equal(sonde_otlp_json_write(b, sig, &js, 0), 0);
	int rc = 0;
	if (js.len) {
		pthread_mutex_lock(&c->mu);
		sonde_wire_error err;
		rc = sonde_otlp_json_read(c->got, js.data, js.len, &err);
		pthread_mutex_unlock(&c->mu);
	}
	sonde_buf_release(&js);
	return rc;
}

static int cap_export(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	capture *c = (capture *)e;
	int stall = atomic_load(&c->stall_ms);
	if (atomic_load(&c->hang)) {
		while (atomic_load(&c->hang))
			usleep(1000);
	} else if (stall) {
		struct timespec ts = {stall / 1000, (long)(stall % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	(void)deadline_ns;
	int rc = b->spans_count ? cap_copy(c, b, SONDE_SIGNAL_TRACES) : 0;
	if (rc == 0 && b->logs_count)
		rc = cap_copy(c, b, SONDE_SIGNAL_LOGS);
	atomic_fetch_add(&c->exports, 1);
	return rc;
}

static void cap_destroy(sonde_exporter *e)
{
	(void)e; /* static in the tests */
}

static const sonde_exporter_ops cap_ops = {
        .name = "capture",
        .deliver = cap_export,
        .destroy = cap_destroy,
};

/* Prepares c on first use and empties what it captured. */
static void capture_init(capture *c)
{
	if (!c->got) {
		pthread_mutex_init(&c->mu, NULL);
		c->base.ops = &cap_ops;
		c->got = sonde_batch_new();
	}
	pthread_mutex_lock(&c->mu);
	sonde_batch_clear(c->got);
	pthread_mutex_unlock(&c->mu);
	atomic_store(&c->stall_ms, 0);
	atomic_store(&c->hang, 0);
}

/* After a test, whatever its outcome: a failed assertion leaves the test by longjmp, maybe
 * holding c->mu and with the runtime still running, and the next test would then wait on
 * the mutex forever instead of failing. Releases the mutex if this thread holds it (a
 * default mutex: trylock fails only when it is held, and only this thread takes it in
 * between tests). */
static inline void capture_after_test(capture *c)
{
	if (c->got) {
		(void)pthread_mutex_trylock(&c->mu);
		pthread_mutex_unlock(&c->mu);
	}
}

#endif
