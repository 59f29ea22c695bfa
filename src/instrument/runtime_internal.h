/*
 * runtime_internal.h - libsonde's tracing runtime: span slots, per-thread buffers, the
 * rings between application threads and the exporter thread.
 *
 * Design notes.
 *
 * Slots. A span lives in a fixed-size slot (struct sonde_span, SONDE__SLOT_SIZE bytes)
 * from a slab each thread allocates on its first span. The slot holds the span's header
 * (ids, times in clock ticks, kind, status, counts) and the start of a byte stream of
 * items (attributes, events, links, name, trace state); a span whose items outgrow its
 * slot chains more slots from the same free list. Nothing is allocated per span.
 *
 * Ownership. Every slot has an owner thread. The owner pops free slots from its local
 * free stack (no atomics). An ended span goes, as a pointer, into the done ring of the
 * thread that ended it (single producer: that thread; single consumer: the exporter
 * thread). The exporter thread converts the span into the telemetry model and returns
 * each slot to its owner through the owner's free ring (single producer: the exporter;
 * single consumer: the owner, which refills its free stack from it when empty). So every
 * ring has one producer and one consumer, and the hot path needs only an acquire load
 * and a release store. A span lost at its end (the done ring full) gives its slots back at
 * once: its owner's to the free stack, another thread's to that thread's returned list,
 * which the exporter thread empties into the free ring. So once a force flush returns,
 * every slot of every span ended before it is where its owner can take it.
 *
 * States of a slot: FREE (in a free stack or free ring) -> RECORDING or NONRECORDING
 * (started) -> ENDED (in a done ring) -> FREE. A non-recording span ended by its owner goes
 * straight back to the local free stack; ended by another thread it travels through the
 * done ring like any span and is freed, not exported. Continuation slots are CHAINED.
 *
 * Current span. Each thread keeps a stack of span pointers; start pushes (unless
 * detached), end pops the span wherever it sits in the stack.
 *
 * Fast start. The common start (no options, the parent on this thread's stack or none)
 * asks no sampler when the sampler's fast plan (sampler_internal.h) already knows the
 * answer, and writes the slot header directly. A non-recording child of a non-recording
 * span of the same thread takes no slot at all: it shares its parent (the parent's nest
 * count goes up, and each end brings it down). Such children therefore report their
 * parent's context: an unsampled trace is never exported, and what crosses a process
 * boundary from it (trace id, the unsampled flag) is the same. The fast start makes no ids
 * either (SF_LAZY_IDS): a span's id, and a root's trace id unless a ratio sampler reads
 * it, are made on its owner thread when first asked for (a child starts, a context or a
 * log record is taken), else by the exporter thread as it decodes the ended span. The
 * common end of a recording span (the thread's current one) is inline too: stamp, pop,
 * count, push to the done ring.
 *
 * Root slot. A root the sampler drops (always off, parent-based off, a ratio's reject)
 * started on an empty stack takes no slot from the free stack: each thread has one extra
 * slot after its slab, th->root, kept ready (owner set, no items, flags RANDOM, parent id
 * zero, never chained) and flagged SF_ROOT_SLOT while in use. Starting it writes its state
 * and flags and pushes it; ending it (owner thread, alone on the stack) pops it and marks
 * it FREE: no header reset, no free-stack traffic, no clock. Its span id, and its trace id
 * unless the ratio sampler made it, are lazy as above, so its context is still valid and
 * stable while it runs. A second root while it is in use (after sonde_span_pop) takes an
 * ordinary slot. Ended on another thread it travels through the done ring like any
 * non-recording span, and the exporter thread marks it FREE (a release store; the owner
 * reads its state with an acquire load) instead of returning it to the free ring. Only a
 * span's head slot has meaningful sflags: a continuation slot's are stale (the span it
 * last headed, or the bytes of the allocation if it never headed one), so SF_ROOT_SLOT is
 * read on heads only; read on a continuation, it would keep that slot from its owner.
 *
 * Log records. A log record (log.h) travels in a slot too: SF_LOG set, state ENDED from the
 * start, status = severity number, start = its time, trace_id/span_id/trace_flags = the
 * current span's (zero when none), tracer NULL, items ITEM_BODY then ITEM_ATTRs. It goes
 * through the same done ring; the exporter thread decodes it into the batch's logs and
 * redacts it there (redact.h), so the caller only copies. Logs and spans share a thread's
 * slots: a log storm can crowd out spans, which is why call sites are rate limited.
 *
 * fork(). The child keeps only the forking thread: other threads' buffers are abandoned,
 * rings are emptied, spans in flight are forgotten (their parent exports them), spans
 * still open on the child's stack become non-recording (else parent and child would both
 * export them), and the exporter thread is restarted on the child's first ended span.
 */
#ifndef SONDE_RUNTIME_INTERNAL_H
#define SONDE_RUNTIME_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sonde/trace.h"

enum {
	SONDE__SLOT_SIZE = 512,
	SONDE__STACK_DEPTH = 128, /* current-span stack; deeper nesting still works, untracked */
};

enum sonde__slot_state {
	SLOT_FREE = 0,
	SLOT_RECORDING,
	SLOT_NONRECORDING,
	SLOT_ENDED,
	SLOT_CHAINED,
	SLOT_NOOP, /* the shared span returned when tracing is off or slots ran out */
};

/* Span flags (sonde_span.sflags). */
enum {
	SF_DETACHED = 1u << 0,
	SF_RUSAGE = 1u << 1,
	SF_START_NS = 1u << 2, /* start is epoch ns given by the caller, not ticks */
	SF_END_NS = 1u << 3,
	SF_HAS_PARENT = 1u << 4,
	SF_STATUS_FINAL = 1u << 5, /* status OK was set: later changes are ignored */
	SF_ON_STACK = 1u << 6,
	SF_REMOTE_PARENT = 1u << 7,
	/* The span id is not made yet: it is made when first asked for (a child, a context,
	 * a log record), else by the exporter thread. With SF_LAZY_TRACE_ID (roots) the trace
	 * id too. */
	SF_LAZY_IDS = 1u << 8,
	SF_LOG = 1u << 9, /* not a span: a log record (see "Log records" below) */
	SF_LAZY_TRACE_ID = 1u << 10,
	SF_ROOT_SLOT = 1u << 11, /* the thread's root slot, in use (see "Root slot"); heads only */
	/* A recording span not stamped by plain RDTSC (clock_gettime, or an ordered clock):
	 * its end takes the general path, so that the common end asks nothing about the clock. */
	SF_END_SLOW = 1u << 12,
};

/* Items of a span's byte stream. Each starts with a one-byte tag. */
enum sonde__item {
	ITEM_ATTR = 1,  /* u8 type, u16 key_len, key, value (see span.c) */
	ITEM_EVENT = 2, /* u16 name_len, u16 attrs, u8 time_is_ns, u64 time, name, attrs items */
	ITEM_LINK = 3,  /* 16 trace id, 8 span id, u32 flags, u16 ts_len, u16 attrs, trace state, attrs */
	ITEM_NAME = 4,  /* u16 len, bytes (the last one wins) */
	ITEM_STATUS_MSG = 5,  /* u16 len, bytes */
	ITEM_TRACE_STATE = 6, /* u16 len, bytes */
	ITEM_RUSAGE = 7,      /* u64 thread CPU ns, u64 minor faults, u64 major faults: at start,
	                       * then again at end (the exporter records the differences) */
	ITEM_BODY = 8,        /* a log record's body: u32 original length, u16 len, bytes */
	ITEM_CUT = 9,         /* u32: the original length of the next attribute's string value,
	                       * which was cut to fit (log records only) */
};

typedef struct sonde__thread sonde__thread;

/* The header of a slot: 112 bytes, so that a span with a name and a few attributes
 * touches three cache lines. Counts are 16-bit (the limits are clamped to fit). */
struct sonde_span {
	/* state, trace_flags and sflags first: the hot paths test and set them as one 32-bit
	 * word (sonde__head32). */
	uint8_t state;
	uint8_t trace_flags;
	uint16_t sflags;
	uint8_t kind;
	uint8_t status;
	/* Non-recording spans only: children started under this span on its owner thread
	 * that share it (and its context) instead of taking slots; each end of one of them
	 * decrements this instead of ending the span. (Apart from the first word: a load
	 * that overlaps a narrower store just made cannot take its value from the store
	 * buffer, and the fast start tests the first word right after an end wrote this.) */
	uint16_t nest;
	uint16_t used;                 /* bytes of data[] used in this slot */
	uint16_t attrs, events, links; /* counts kept (for limits) */
	uint32_t dropped_attrs, dropped_events, dropped_links;
	sonde_span *next; /* continuation slot, or NULL */
	sonde_span *tail; /* last slot of the chain (head slot only) */
	sonde__thread *owner;
	const sonde_tracer *tracer;
	uint64_t start, end; /* ticks, or epoch ns with SF_START_NS / SF_END_NS */
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint8_t data[];
};

#define SONDE__SLOT_DATA (SONDE__SLOT_SIZE - (int)sizeof(struct sonde_span))

/* The header's first 4 bytes (state, trace_flags, sflags) as one word in host order: the
 * value sonde__span_head reads for these fields. */
static inline uint32_t sonde__head32(uint8_t state, uint8_t trace_flags, uint16_t sflags)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (uint32_t)state | (uint32_t)trace_flags << 8 | (uint32_t)sflags << 16;
#else
	return (uint32_t)state << 24 | (uint32_t)trace_flags << 16 | sflags;
#endif
}

static inline uint32_t sonde__span_head(const sonde_span *s)
{
	_Static_assert(offsetof(struct sonde_span, trace_flags) == 1 &&
	                       offsetof(struct sonde_span, sflags) == 2,
	               "state, trace_flags, sflags make the first word");
	uint32_t w;
	memcpy(&w, s, sizeof(w));
	return w;
}

static inline void sonde__span_head_set(sonde_span *s, uint32_t w)
{
	memcpy(s, &w, sizeof(w));
}

/* Readies the header of a slot being freed (or made): a FREE slot in a free stack or free
 * ring is always clean (no chain, no items, kind INTERNAL, status UNSET, counts and parent
 * id zero), so the fast start writes only what differs per span. Whoever frees a slot
 * cleans it: the exporter thread (release_chain), the owner (a non-recording end, a lost
 * span, slots given back), thread creation and fork. */
static inline void sonde__slot_clean(sonde_span *s)
{
	s->next = NULL;
	s->tail = s;
	s->used = 0;
	s->kind = SONDE_SPAN_KIND_INTERNAL;
	s->status = SONDE_STATUS_UNSET;
	s->attrs = s->events = s->links = s->nest = 0;
	s->dropped_attrs = s->dropped_events = s->dropped_links = 0;
	memset(s->parent_id, 0, sizeof(s->parent_id));
}

/* wyrand: one multiply per 64 bits, good enough for ids (not for secrets). */
static inline uint64_t sonde__wyrand(uint64_t *state)
{
	*state += 0xa0761d6478bd642fULL;
	__uint128_t m = (__uint128_t)*state * (*state ^ 0xe7037ed1a0b428dbULL);
	return (uint64_t)m ^ (uint64_t)(m >> 64);
}

/* A new random trace id (never all zero) from the generator state. */
static inline void sonde__new_trace_id(uint64_t *state, uint8_t id[16])
{
	uint64_t hi = sonde__wyrand(state), lo = sonde__wyrand(state);
	lo |= (hi | lo) == 0;
	memcpy(id, &hi, 8);
	memcpy(id + 8, &lo, 8);
}

/* A single-producer single-consumer ring of pointers. */
typedef struct sonde__ring {
	_Alignas(64) _Atomic uint32_t head; /* consumer's position */
	uint32_t tail_cache;                /* consumer's copy of tail */
	_Alignas(64) _Atomic uint32_t tail; /* producer's position */
	uint32_t tail_limit;                /* producer's: head + capacity, head as last read */
	uint32_t mask;
	sonde_span **items;
} sonde__ring;

struct sonde__thread {
	/* Owner-only fields first: the hot path touches these. */
	sonde_span **free_stack;
	sonde_span *root; /* the root slot (see "Root slot"): after the slab's nslots */
	uint32_t free_count;
	uint32_t depth; /* current-span stack depth (may exceed the array) */
	sonde_span *stack[SONDE__STACK_DEPTH];
	uint64_t rng[2];
	uint8_t ratio_id[16]; /* a ratio root's trace id, made before its slot is chosen */
	unsigned fork_gen;
	_Atomic uint64_t started, ended, dropped; /* written by owner, read by exporter */
	_Atomic uint64_t logs, logs_dropped;      /* log records sent and lost, likewise */
	sonde__ring done;                         /* this thread -> exporter */
	sonde__ring freed;                        /* exporter -> this thread */
	sonde_span *slab;
	uint32_t nslots;
	_Atomic bool exited;
	sonde__thread *next; /* registry list */
	/* Slots of this thread in spans another thread ended but could not queue (its done
	 * ring was full), linked through next: any thread pushes (a CAS loop, on that cold
	 * path only), the exporter thread takes the list and returns the slots to the free
	 * ring, so they come back like any other (see "Ownership"). */
	_Atomic(sonde_span *) returned;
};

/* Puts s, a slot of th, back on th's free stack, clean and FREE (th's own thread). */
static inline void sonde__slot_free(sonde__thread *th, sonde_span *s)
{
	sonde__slot_clean(s);
	s->state = SLOT_FREE;
	th->free_stack[th->free_count++] = s;
}

/* The tracer: one per instrumentation scope. */
struct sonde_tracer {
	char *name, *version, *schema_url;
	uint32_t index;
	sonde_tracer *next;
};

/* Process-wide state shared by span.c and runtime.c. */
/* The provider's span limits: read-only between init and shutdown. */
/* Internal globals are hidden: inside libsonde.so the hot path reaches them directly,
 * not through the GOT. */
#define SONDE__HIDDEN __attribute__((visibility("hidden")))
extern SONDE__HIDDEN sonde_span_limits sonde__limits;
/* The longest string value the setters' fast path copies: the value length limit when one
 * is set, and never more than a slot holds (longer values take the general path). */
extern SONDE__HIDDEN uint32_t sonde__attr_vmax;

/* The calling thread's buffer, or &sonde__no_thread (never NULL) before its first span and
 * after its exit: that one has no slots, a depth of 0 and a root slot that is never free, so
 * the fast start and end fall through to paths that call sonde__thread_get, without a
 * test of their own. Nothing writes it. */
extern SONDE__HIDDEN sonde__thread sonde__no_thread;
extern SONDE__HIDDEN __thread sonde__thread *sonde__tls_thread __attribute__((tls_model("initial-exec")));
/* Slow path of sonde__thread_get: allocates and registers the thread's buffer. */
sonde__thread *sonde__thread_create(void);

/* Returns the calling thread's buffer, creating and registering it on first use (the
 * one allocation and lock a thread's tracing ever takes); NULL when tracing is off or
 * memory is short. */
static inline sonde__thread *sonde__thread_get(void)
{
	sonde__thread *th = sonde__tls_thread;
	if (__builtin_expect(th != &sonde__no_thread, 1))
		return th;
	return sonde__thread_create();
}
/* The provider's sampler (NULL: the default, parentbased_always_on, decided inline) and
 * rusage flag: read-only between init and shutdown, like sonde__limits. */
extern SONDE__HIDDEN sonde_sampler *sonde__sampler;
extern SONDE__HIDDEN bool sonde__rusage;
/* Log settings, read-only between init and shutdown: records per second per rate-limited
 * site (UINT32_MAX: no limit), the most bytes of a body or string value a record copies,
 * and clock ticks per second (for the rate limit's windows). Records lost to rate limits
 * are counted in sonde__log_suppressed. */
extern SONDE__HIDDEN uint32_t sonde__log_rate_limit;
extern SONDE__HIDDEN uint32_t sonde__log_value_max;
extern SONDE__HIDDEN uint64_t sonde__log_ticks_per_sec;
extern SONDE__HIDDEN _Atomic uint64_t sonde__log_suppressed;
/* The level set by sonde_log_set_level (0: none; it wins over config and environment). */
extern SONDE__HIDDEN int sonde__log_level_set;
/* What span start may decide without the general path (see sampler_internal.h); set
 * with the sampler. fast_ok is false when every start must take the general path. */
extern SONDE__HIDDEN struct sonde__fast_plan sonde__plan;
extern SONDE__HIDDEN bool sonde__fast_ok;
/* fast_ok and a plan whose roots are all dropped (SONDE__FAST_OFF): a root started on an
 * empty stack takes the thread's root slot without asking anything else. */
extern SONDE__HIDDEN bool sonde__fast_root_off;
/* When a child started on the fast path shares its parent, the thread's current span (see
 * "Fast start"): when (sonde__span_head(parent) & sonde__share_mask) == sonde__share_want,
 * the parent's owner is the thread and its nest count has room. The two words fold
 * fast_ok, the plan's child rule (OFF: any non-recording parent; FOLLOW: an unsampled one;
 * else never: the wanted state is no state) and "not detached". Set with the sampler
 * (runtime.c). */
extern SONDE__HIDDEN uint32_t sonde__share_mask, sonde__share_want;
/* Spans are stamped with plain RDTSC (span_tsc in span.c): ticks are TSC cycles
 * (sonde__clock_use_tsc) and sonde_trace_config.ordered_clock is off. Set at init. */
extern SONDE__HIDDEN bool sonde__span_fast_clock;
/* The CPU has RDTSCP, which an ordered clock reads (else LFENCE+RDTSC). Set at init. */
extern SONDE__HIDDEN bool sonde__span_rdtscp;
/* fast_ok and sonde__span_fast_clock: the one test start_slot makes before the fast start. */
extern SONDE__HIDDEN bool sonde__fast_tsc;
/* Called by the hot path when a done ring was found full or a thread's exporter is not
 * running (after fork): starts the exporter thread if needed. Not on the common path. */
void sonde__exporter_kick(void);

/* Ring operations (inline: both ends are hot). */
static inline bool sonde__ring_push(sonde__ring *r, sonde_span *s)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (__builtin_expect(tail == r->tail_limit, 0)) {
		r->tail_limit = atomic_load_explicit(&r->head, memory_order_acquire) + r->mask + 1;
		if (tail == r->tail_limit)
			return false;
	}
	r->items[tail & r->mask] = s;
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return true;
}

static inline sonde_span *sonde__ring_pop(sonde__ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (head == r->tail_cache) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head == r->tail_cache)
			return NULL;
	}
	sonde_span *s = r->items[head & r->mask];
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return s;
}

#endif
