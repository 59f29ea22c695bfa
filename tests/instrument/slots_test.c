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
	atomic_bool hang;       /* hold each delivery until cleared (at most 10 s) ... */
	atomic_bool delivering; /* ... and say that one is held */
} counter;

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int count_deliver(sonde_exporter *e, const sonde_batch *b, uint64_t deadline_ns)
{
	(void)deadline_ns;
	counter *c = (counter *)e;
	for (int i = 0; i < 10000 && atomic_load(&c->hang); i++) {
		atomic_store(&c->delivering, true);
		sleep_ms(1);
	}
	atomic_store(&c->delivering, false);
	atomic_fetch_add(&c->spans, b->spans_count);
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
			sleep_ms(100); /* lost for good, or only late? */
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

/* Spans handed to another thread whose queue to the exporter thread is full are lost, but
 * their slots are not: each goes back to its owner. Three owners make detached spans of two
 * slots each and hand them to the main thread, which ends them behind HANDED_OWN spans of
 * its own while the exporter thread is held in a delivery: its done ring (twice its slots)
 * overflows with the others' spans. */
enum { OWNERS = 3, HANDED = 120, HANDED_OWN = 250 };

static sonde_tracer *hand_tracer;
static sonde_span *handed[OWNERS][HANDED];
static pthread_barrier_t made, ended, counted;
static uint32_t owner_back[OWNERS];

static void *owner(void *arg)
{
	int k = (int)(intptr_t)arg;
	char big[400];
	memset(big, 'h', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < HANDED; i++) {
		sonde_span_opts o = {.flags = SONDE_SPAN_DETACHED, .root = true};
		handed[k][i] = sonde_span_start_ex(hand_tracer, "handed", &o);
		sonde_span_set_str(handed[k][i], "big", big);
	}
	pthread_barrier_wait(&made);
	pthread_barrier_wait(&ended); /* and flushed */
	owner_back[k] = slots_back(sonde__tls_thread);
	pthread_barrier_wait(&counted);
	return NULL;
}

static void test_spans_lost_elsewhere_give_their_slots_back(void **state)
{
	(void)state;
	sonde_trace_config cfg = {.service_name = "slots-test",
	                          .batch = {.max_queue_size = QUEUE, .max_export_batch_size = 1}};
	cfg.exporters[0] = &exported.base;
	cfg.exporters_count = 1;
	assert_int_equal(sonde_trace_init(&cfg), 0);
	hand_tracer = sonde_tracer_get("hand", NULL, NULL);
	pthread_barrier_init(&made, NULL, OWNERS + 1);
	pthread_barrier_init(&ended, NULL, OWNERS + 1);
	pthread_barrier_init(&counted, NULL, OWNERS + 1);
	pthread_t th[OWNERS];
	for (int k = 0; k < OWNERS; k++)
		assert_int_equal(pthread_create(&th[k], NULL, owner, (void *)(intptr_t)k), 0);
	pthread_barrier_wait(&made);
	/* Hold the exporter thread in a delivery of one span. */
	atomic_store(&exported.hang, true);
	sonde_span_end(sonde_span_start(hand_tracer, "first"));
	for (int i = 0; i < 5000 && !atomic_load(&exported.delivering); i++)
		sleep_ms(1);
	assert_true(atomic_load(&exported.delivering));
	uint64_t d0 = dropped_now();
	for (int i = 0; i < HANDED_OWN; i++)
		sonde_span_end(sonde_span_start(hand_tracer, "own"));
	for (int k = 0; k < OWNERS; k++)
		for (int i = 0; i < HANDED; i++)
			sonde_span_end(handed[k][i]);
	uint64_t lost = dropped_now() - d0;
	atomic_store(&exported.hang, false);
	assert_int_equal(sonde_trace_force_flush(10000), 0);
	pthread_barrier_wait(&ended);
	pthread_barrier_wait(&counted);
	for (int k = 0; k < OWNERS; k++)
		pthread_join(th[k], NULL);
	print_message("%llu spans lost at their end; slots back: %u %u %u of %d\n", (unsigned long long)lost,
	              owner_back[0], owner_back[1], owner_back[2], QUEUE);
	assert_true(lost > 0);
	for (int k = 0; k < OWNERS; k++)
		assert_int_equal(owner_back[k], QUEUE);
	assert_int_equal(slots_back(sonde__tls_thread), QUEUE);
	assert_int_equal(sonde_trace_shutdown(5000), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flush_gives_every_slot_back),
	        cmocka_unit_test(test_spans_lost_elsewhere_give_their_slots_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
