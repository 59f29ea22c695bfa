/*
 * slots_test.c - libsonde's span slots come back: after a burst that ran a thread out of
 * slots (drops, chained slots, nested children, chains that could not grow), a return
 * from sonde_trace_force_flush means every slot of every span ended before it is back
 * where its owner can take it, so a following burst that fits drops nothing. The slabs
 * come from an aligned_alloc that hands out memory as a reused heap block would, never
 * zeroed: the slots' first use must not depend on what their memory held.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exporter_internal.h"
#include "runtime_internal.h"
#include "sonde/trace.h"
#include "telemetry.h"

/* libsonde's slabs (and anything else it gets from aligned_alloc), filled as memory that
 * earlier spans used could be: 'x' bytes of an attribute value. (The test binary's
 * definition comes first; glibc, ASan and TSan all accept posix_memalign's blocks in free.) */
void *aligned_alloc(size_t align, size_t size)
{
	void *p = NULL;
	if (posix_memalign(&p, align < sizeof(void *) ? sizeof(void *) : align, size) != 0)
		return NULL;
	memset(p, 'x', size);
	return p;
}

/* An exporter that only counts the spans it is given. */
typedef struct counter {
	sonde_exporter base;
	_Atomic uint64_t spans;
} counter;

static int count_deliver(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	(void)deadline_ns;
	atomic_fetch_add(&((counter *)e)->spans, b->spans_count);
	return 0;
}

static void count_destroy(sonde_exporter *e)
{
	(void)e; /* static */
}

static const sonde_exporter_ops count_ops = {
        .name = "count", .deliver = count_deliver, .destroy = count_destroy};
static counter exported = {.base = {.ops = &count_ops}};

enum {
	QUEUE = 256,      /* max_queue_size: 256 slots a thread */
	ROUNDS = 60,      /* each: a burst that drops, a flush, a burst that must not */
	HELD = 150,       /* the first burst: roots held open, two slots each ... */
	CLEAN_NEST = 100, /* the second: nested spans on the stack (the fast start) ... */
	CLEAN_DET = 140,  /* ... and detached ones (the general start): 240 of 256 slots */
};

/* What the worker saw in the first round that went wrong (round 0: none). */
typedef struct outcome {
	int round;
	int flush_rc;
	uint32_t back;       /* slots the owner could take right after the flush */
	uint32_t back_later; /* the same after a pause and another flush */
	uint64_t dropped;    /* by the burst that fits */
	uint64_t exported;   /* of its spans, by the flush after it */
} outcome;

static uint64_t dropped_now(void)
{
	sonde_tracer_stats st;
	sonde_tracer_stats_get(&st);
	return st.spans_dropped;
}

/* The slots th's owner can take now: its free stack and what its free ring holds. */
static uint32_t slots_back(const sonde__thread *th)
{
	return th->free_count + (atomic_load_explicit(&th->freed.tail, memory_order_acquire) -
	                         atomic_load_explicit(&th->freed.head, memory_order_relaxed));
}

/* More than the thread's slots: detached roots held open with a long attribute (two slots
 * each); under each, pushed as current, a child with an event whose attributes chain a
 * slot and a grandchild with a long attribute, both ended at once. Then the roots end. */
static void burst_that_drops(sonde_tracer *t, int round)
{
	char big[400];
	memset(big, 'a' + round % 26, sizeof big - 1);
	big[sizeof big - 1] = '\0';
	sonde_span *held[HELD];
	sonde_attr ea[2] = {SONDE_ATTR_STR("payload", big), SONDE_ATTR_INT("n", round)};
	for (int i = 0; i < HELD; i++) {
		sonde_span_opts o = {.flags = SONDE_SPAN_DETACHED, .root = true};
		held[i] = sonde_span_start_ex(t, "held", &o);
		sonde_span_set_str(held[i], "big", big);
		sonde_span_set_int(held[i], "i", i);
		sonde_span_push(held[i]);
		sonde_span *c = sonde_span_start(t, "child");
		sonde_span_add_event(c, "ev", ea, 2);
		sonde_span *g = sonde_span_start(t, "grandchild");
		sonde_span_set_str(g, "big", big);
		sonde_span_add_event(g, "ev", ea, 1);
		sonde_span_end(g);
		sonde_span_end(c);
		sonde_span_pop();
	}
	for (int i = HELD; i-- > 0;)
		sonde_span_end(held[i]);
}

/* Fewer spans than the thread's slots, all open at once, one slot each. */
static void burst_that_fits(sonde_tracer *t)
{
	sonde_span *nest[CLEAN_NEST], *det[CLEAN_DET];
	for (int i = 0; i < CLEAN_NEST; i++)
		nest[i] = sonde_span_start(t, "nested");
	for (int i = 0; i < CLEAN_DET; i++) {
		sonde_span_opts o = {.flags = SONDE_SPAN_DETACHED};
		det[i] = sonde_span_start_ex(t, "detached", &o);
	}
	for (int i = CLEAN_DET; i-- > 0;)
		sonde_span_end(det[i]);
	for (int i = CLEAN_NEST; i-- > 0;)
		sonde_span_end(nest[i]);
}

static void *rounds(void *arg)
{
	outcome *out = arg;
	sonde_tracer *t = sonde_tracer_get("slots", NULL, NULL);
	for (int r = 1; r <= ROUNDS; r++) {
		uint64_t d0 = dropped_now();
		burst_that_drops(t, r);
		if (dropped_now() == d0) {
			out->round = -r; /* nothing dropped: the burst does not test what it should */
			return NULL;
		}
		int rc = sonde_trace_force_flush(10000);
		const sonde__thread *th = sonde__tls_thread;
		uint32_t back = slots_back(th);
		uint64_t e0 = atomic_load(&exported.spans), d1 = dropped_now();
		burst_that_fits(t);
		uint64_t d2 = dropped_now();
		int rc2 = sonde_trace_force_flush(10000);
		uint64_t e1 = atomic_load(&exported.spans);
		if (rc || rc2 || back != th->nslots || d2 != d1 || e1 - e0 != CLEAN_NEST + CLEAN_DET) {
			*out = (outcome){.round = r,
			                 .flush_rc = rc ? rc : rc2,
			                 .back = back,
			                 .dropped = d2 - d1,
			                 .exported = e1 - e0};
			/* Lost for good, or only late? */
			struct timespec pause = {0, 100 * 1000000L};
			nanosleep(&pause, NULL);
			sonde_trace_force_flush(10000);
			out->back_later = slots_back(th);
			return NULL;
		}
	}
	return NULL;
}

static void test_flush_gives_every_slot_back(void **state)
{
	(void)state;
	sonde_trace_config cfg = {.service_name = "slots-test", .batch = {.max_queue_size = QUEUE}};
	cfg.exporters[0] = &exported.base;
	cfg.exporters_count = 1;
	assert_int_equal(sonde_trace_init(&cfg), 0);
	outcome out = {0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, rounds, &out), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	if (out.round > 0)
		print_message("round %d: flush returned %d with %u of %d slots back (%u after a pause and "
		              "another flush); the burst that fits dropped %llu spans, exported %llu of %d\n",
		              out.round, out.flush_rc, out.back, QUEUE, out.back_later,
		              (unsigned long long)out.dropped, (unsigned long long)out.exported,
		              CLEAN_NEST + CLEAN_DET);
	assert_int_equal(out.round, 0);
	assert_int_equal(sonde_trace_shutdown(5000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flush_gives_every_slot_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
