/*
 * span.c - the hot path of tracing: starting spans, recording attributes, events, links
 * and status into span slots, and ending spans into the thread's done ring.
 *
 * Nothing here locks, allocates or makes a system call (except with the opt-in rusage
 * flag); see runtime_internal.h for the design. A span's items are appended to a byte
 * stream that runs through its chain of slots; runtime.c decodes it on the exporter
 * thread. Values are stored in native byte order: writer and reader are one process.
 */
#define _GNU_SOURCE /* pthread_timedjoin_np, RUSAGE_THREAD */
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "clock.h"
#include "runtime_internal.h"
#include "sampler_internal.h"
#include "sonde/log.h"

struct sonde_span sonde__noop_span = {.state = SLOT_NOOP};

/* ---- Small helpers ------------------------------------------------------------- */

/* A span's timestamps (start, end, events) are TSC ticks. By default the common paths
 * read them with plain RDTSC (span_tsc), which is not ordered: it may execute while older
 * work is still in flight, so a stamp can be early by as long as that work takes, and
 * behind a cache miss that is hundreds of ns. `trace_bench --clock-order` shows it on this
 * project's host: a span around one pointer-chasing miss (about 250 ns) was exported as
 * 10 ns with RDTSC, 230-250 ns with RDTSCP. The error is bounded by the work the core has
 * in flight (its reorder window), so it matters for spans of a few hundred ns, not for
 * the microseconds and milliseconds an instrumented operation usually takes, and the
 * ordered read costs about 18 ns a span here (two RDTSCPs waiting for the pipeline to
 * drain), nearly half the cost of a sampled span. So ordering is opt-in:
 * sonde_trace_config.ordered_clock (traces.ordered_clock in the config file) reads every
 * stamp with RDTSCP, which reads the counter once every older instruction has completed
 * (AMD: retired), or LFENCE+RDTSC on a CPU without RDTSCP; those spans are stamped and
 * ended on the general path (SF_END_SLOW). Log records keep sonde_clock_ticks(): one
 * instant, no duration. docs/tracing.md has the measurements. */
static inline uint64_t span_tsc(void)
{
#if SONDE_CLOCK_HAVE_TSC
	return __rdtsc();
#else
	return sonde_clock_ticks();
#endif
}

/* The timestamp of the general paths (see span_tsc). */
static uint64_t span_ticks(void)
{
#if SONDE_CLOCK_HAVE_TSC
	if (__builtin_expect(sonde__span_fast_clock, 1))
		return __rdtsc();
	if (sonde__clock_use_tsc) {
		if (sonde__span_rdtscp) {
			unsigned aux;
			return __rdtscp(&aux);
		}
		_mm_lfence();
		return __rdtsc();
	}
#endif
	return sonde_clock_ticks();
}

static inline uint64_t rng_next(sonde__thread *th)
{
	return sonde__wyrand(&th->rng[0]);
}

static inline void new_span_id(sonde__thread *th, uint8_t id[8])
{
	uint64_t v = rng_next(th);
	v |= v == 0; /* an all-zero span id is invalid; 1 in 2^64 */
	memcpy(id, &v, 8);
}

static void make_lazy_ids(sonde_span *s);

/* Gives a lazily started non-recording root its trace and span ids (see the fast start). */
static inline void ensure_ids(sonde_span *s)
{
	if (__builtin_expect(s->sflags & SF_LAZY_IDS, 0))
		make_lazy_ids(s);
}

__attribute__((noinline)) static void make_lazy_ids(sonde_span *s)
{
	sonde__thread *th = sonde__tls_thread != &sonde__no_thread ? sonde__tls_thread : s->owner;
	if (s->sflags & SF_LAZY_TRACE_ID) {
		sonde__new_trace_id(&th->rng[0], s->trace_id);
		memset(s->parent_id, 0, 8);
	}
	new_span_id(th, s->span_id);
	s->sflags &= (uint16_t) ~(SF_LAZY_IDS | SF_LAZY_TRACE_ID);
}

static inline bool ids_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Refills the empty free stack from the free ring in one batch (one acquire load of the
 * ring's tail, one release store of its head) and pops a slot; NULL when none came back. */
__attribute__((noinline)) static sonde_span *slot_refill(sonde__thread *th)
{
	sonde__ring *r = &th->freed;
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint32_t n = tail - head, room = th->nslots - th->free_count;
	r->tail_cache = tail;
	if (n > room)
		n = room;
	sonde_span **dst = th->free_stack + th->free_count;
	for (uint32_t i = 0; i < n; i++)
		dst[i] = r->items[(head + i) & r->mask];
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	th->free_count += n;
	if (th->free_count == 0)
		return NULL;
	return th->free_stack[--th->free_count];
}

/* memcpy for the short strings of the hot path (names, keys, small values; n <= 32),
 * without a call, so the setters' fast paths need no frame: overlapping word moves. */
static inline void copy_upto32(uint8_t *d, const char *src, size_t n)
{
	if (n >= 16) {
		uint64_t a, b, c, e;
		memcpy(&a, src, 8);
		memcpy(&b, src + 8, 8);
		memcpy(&c, src + n - 16, 8);
		memcpy(&e, src + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + 8, &b, 8);
		memcpy(d + n - 16, &c, 8);
		memcpy(d + n - 8, &e, 8);
	} else if (n >= 8) {
		uint64_t a, b;
		memcpy(&a, src, 8);
		memcpy(&b, src + n - 8, 8);
		memcpy(d, &a, 8);
		memcpy(d + n - 8, &b, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, src, 4);
		memcpy(&b, src + n - 4, 4);
		memcpy(d, &a, 4);
		memcpy(d + n - 4, &b, 4);
	} else if (n) {
		d[0] = (uint8_t)src[0];
		d[n / 2] = (uint8_t)src[n / 2];
		d[n - 1] = (uint8_t)src[n - 1];
	}
}

/* Copies n bytes (at most a slot's worth) without a call: words, the last one overlapping. */
static inline void copy_nocall(uint8_t *d, const char *src, size_t n)
{
	if (__builtin_expect(n <= 32, 1)) {
		copy_upto32(d, src, n);
		return;
	}
	uint64_t w;
	for (size_t i = 0; i + 8 < n; i += 8) {
		memcpy(&w, src + i, 8);
		memcpy(d + i, &w, 8);
	}
	memcpy(&w, src + n - 8, 8);
	memcpy(d + n - 8, &w, 8);
}

static inline sonde_span *slot_pop(sonde__thread *th)
{
	if (__builtin_expect(th->free_count == 0, 0))
		return slot_refill(th);
	return th->free_stack[--th->free_count];
}

static inline bool recording(const sonde_span *s)
{
	return s->state == SLOT_RECORDING;
}

/* Resets the header of a slot taken for a new span of t from th's free stack (ids, state,
 * flags and times are the caller's). The owner is th already: a slot's owner is set once,
 * when its thread makes its slab, and only its owner's free stack ever holds it. */
static inline void slot_reset(sonde_span *s, sonde_tracer *t, uint16_t sflags)
{
	s->tracer = t;
	s->next = NULL;
	s->tail = s;
	s->used = 0;
	s->sflags = sflags;
	s->kind = SONDE_SPAN_KIND_INTERNAL;
	s->status = SONDE_STATUS_UNSET;
	s->attrs = s->events = s->links = s->nest = 0;
	s->dropped_attrs = s->dropped_events = s->dropped_links = 0;
}

/* ---- The item stream ------------------------------------------------------------- */

/* Makes room for n more bytes of stream in s's chain, chaining slots of th as needed.
 * Returns false (nothing changed) when slots ran out. */
static bool stream_reserve(sonde_span *s, size_t n)
{
	sonde_span *t = s->tail;
	size_t room = (size_t)SONDE__SLOT_DATA - t->used;
	if (room >= n)
		return true;
	/* Slots reserved earlier and not used yet (event attributes over their limit leave
	 * some) count; new slots go after them. */
	while (t->next) {
		t = t->next;
		room += (size_t)SONDE__SLOT_DATA - t->used;
	}
	if (room >= n)
		return true;
	sonde__thread *th = sonde__thread_get();
	if (!th)
		return false;
	sonde_span *first = NULL, *last = NULL;
	while (room < n) {
		sonde_span *c = slot_pop(th);
		if (!c) {
			/* Give the slots back: nothing was linked yet. */
			while (first) {
				sonde_span *nx = first->next;
				sonde__slot_free(th, first);
				first = nx;
			}
			return false;
		}
		c->state = SLOT_CHAINED;
		c->owner = th;
		c->used = 0;
		c->next = NULL;
		if (last)
			last->next = c;
		else
			first = c;
		last = c;
		room += SONDE__SLOT_DATA;
	}
	t->next = first;
	return true;
}

/* Appends n bytes (room must have been reserved). */
static void stream_put(sonde_span *s, const void *p, size_t n)
{
	const uint8_t *src = p;
	sonde_span *t = s->tail;
	while (n) {
		size_t room = (size_t)SONDE__SLOT_DATA - t->used;
		if (room == 0) {
			t = t->next;
			s->tail = t;
			continue;
		}
		size_t k = n < room ? n : room;
		memcpy(t->data + t->used, src, k);
		t->used += (uint16_t)k;
		src += k;
		n -= k;
	}
}

/* Reserves n contiguous bytes in the tail slot when it has them (the common case) and
 * returns where to write them; NULL sends the caller to the general path. Slots chained
 * after the tail (reserved and left unused, as an event's dropped attributes leave them)
 * are empty: stream_put moves the tail to a slot as it first writes there. So bytes that
 * fit the tail come next in the stream whatever follows it. */
static inline uint8_t *fast_reserve(sonde_span *s, size_t n)
{
	sonde_span *t = s->tail;
	size_t used = t->used;
	if (__builtin_expect(used + n <= (size_t)SONDE__SLOT_DATA, 1)) {
		t->used = (uint16_t)(used + n);
		return t->data + used;
	}
	return NULL;
}

static inline void put_u8(sonde_span *s, uint8_t v)
{
	stream_put(s, &v, 1);
}

static inline void put_u16(sonde_span *s, uint16_t v)
{
	stream_put(s, &v, 2);
}

static inline void put_u32(sonde_span *s, uint32_t v)
{
	stream_put(s, &v, 4);
}

static inline void put_u64(sonde_span *s, uint64_t v)
{
	stream_put(s, &v, 8);
}

static size_t clamp_len(size_t n, size_t limit)
{
	return limit && n > limit ? limit : n;
}

/* Size in the stream of one attribute value (with the value length limit applied). */
static size_t value_size(const sonde_attr *a, size_t vlimit)
{
	switch (a->type) {
	case SONDE_ATTR_STRING: return 4 + clamp_len(a->v.s ? strlen(a->v.s) : 0, vlimit);
	case SONDE_ATTR_BOOL: return 1;
	case SONDE_ATTR_INT:
	case SONDE_ATTR_DOUBLE: return 8;
	case SONDE_ATTR_BOOL_ARRAY: return 4 + a->v.array.count;
	case SONDE_ATTR_INT_ARRAY:
	case SONDE_ATTR_DOUBLE_ARRAY: return 4 + 8 * a->v.array.count;
	case SONDE_ATTR_STRING_ARRAY: {
		size_t n = 4;
		const char *const *v = a->v.array.items;
		for (size_t i = 0; i < a->v.array.count; i++)
			n += 4 + clamp_len(v[i] ? strlen(v[i]) : 0, vlimit);
		return n;
	}
	}
	return 0;
}

static void put_str32(sonde_span *s, const char *p, size_t vlimit)
{
	size_t n = clamp_len(p ? strlen(p) : 0, vlimit);
	put_u32(s, (uint32_t)n);
	stream_put(s, p, n);
}

static void put_value(sonde_span *s, const sonde_attr *a, size_t vlimit)
{
	switch (a->type) {
	case SONDE_ATTR_STRING: put_str32(s, a->v.s, vlimit); break;
	case SONDE_ATTR_BOOL: put_u8(s, a->v.b); break;
	case SONDE_ATTR_INT: stream_put(s, &a->v.i, 8); break;
	case SONDE_ATTR_DOUBLE: stream_put(s, &a->v.d, 8); break;
	case SONDE_ATTR_BOOL_ARRAY: {
		const bool *v = a->v.array.items;
		put_u32(s, (uint32_t)a->v.array.count);
		for (size_t i = 0; i < a->v.array.count; i++)
			put_u8(s, v[i]);
		break;
	}
	case SONDE_ATTR_INT_ARRAY:
	case SONDE_ATTR_DOUBLE_ARRAY:
		put_u32(s, (uint32_t)a->v.array.count);
		stream_put(s, a->v.array.items, 8 * a->v.array.count);
		break;
	case SONDE_ATTR_STRING_ARRAY: {
		const char *const *v = a->v.array.items;
		put_u32(s, (uint32_t)a->v.array.count);
		for (size_t i = 0; i < a->v.array.count; i++)
			put_str32(s, v[i], vlimit);
		break;
	}
	}
}

static bool valid_attr(const sonde_attr *a)
{
	return a->key && a->key[0] && a->type >= SONDE_ATTR_STRING && a->type <= SONDE_ATTR_DOUBLE_ARRAY &&
	       (a->type < SONDE_ATTR_STRING_ARRAY || a->v.array.count == 0 || a->v.array.items);
}

/* Appends one attribute item; false when it did not fit (slots ran out). */
static bool put_attr(sonde_span *s, const sonde_attr *a, size_t vlimit)
{
	size_t klen = strlen(a->key);
	if (klen > UINT16_MAX)
		klen = UINT16_MAX;
	size_t need = 4 + klen + value_size(a, vlimit);
	if (!stream_reserve(s, need))
		return false;
	uint8_t hdr[4] = {ITEM_ATTR, (uint8_t)a->type, (uint8_t)(klen & 0xff), (uint8_t)(klen >> 8)};
	stream_put(s, hdr, 4);
	stream_put(s, a->key, klen);
	put_value(s, a, vlimit);
	return true;
}

/* Appends a tag + u16 length + bytes item. */
static bool put_blob(sonde_span *s, uint8_t tag, const char *p, size_t n)
{
	if (n > UINT16_MAX)
		n = UINT16_MAX;
	if (!stream_reserve(s, 3 + n))
		return false;
	put_u8(s, tag);
	put_u16(s, (uint16_t)n);
	stream_put(s, p, n);
	return true;
}

static void add_attr(sonde_span *s, const sonde_attr *a)
{
	if (!recording(s) || !valid_attr(a))
		return;
	const sonde_span_limits *lim = &sonde__limits;
	if (s->attrs >= lim->attribute_count || !put_attr(s, a, lim->attribute_value_length)) {
		s->dropped_attrs++;
		return;
	}
	s->attrs++;
}

/* ---- Current-span stack ------------------------------------------------------------ */

static inline void stack_push(sonde__thread *th, sonde_span *s)
{
	if (th->depth < SONDE__STACK_DEPTH)
		th->stack[th->depth] = s;
	th->depth++;
}

/* Removes s from th's stack (normally the top). */
static inline void stack_remove(sonde__thread *th, sonde_span *s)
{
	uint32_t d = th->depth < SONDE__STACK_DEPTH ? th->depth : SONDE__STACK_DEPTH;
	if (d && th->depth <= SONDE__STACK_DEPTH && th->stack[d - 1] == s) {
		th->depth--;
		return;
	}
	for (uint32_t i = d; i-- > 0;) {
		if (th->stack[i] == s) {
			memmove(&th->stack[i], &th->stack[i + 1], (d - i - 1) * sizeof(th->stack[0]));
			th->depth--;
			return;
		}
	}
	if (th->depth > SONDE__STACK_DEPTH)
		th->depth--;
}

sonde_span *sonde_span_current(void)
{
	if (!__atomic_load_n(&sonde__tracing_on, __ATOMIC_RELAXED))
		return NULL;
	sonde__thread *th = sonde__thread_get();
	if (!th || th->depth == 0 || th->depth > SONDE__STACK_DEPTH)
		return NULL;
	return th->stack[th->depth - 1];
}

void sonde_span_push(sonde_span *s)
{
	if (!s || s->state == SLOT_NOOP)
		return;
	sonde__thread *th = sonde__thread_get();
	if (th)
		stack_push(th, s);
}

void sonde_span_pop(void)
{
	sonde__thread *th = sonde__thread_get();
	if (th && th->depth)
		th->depth--;
}

/* ---- Start ----------------------------------------------------------------------- */

/* Appends an ITEM_RUSAGE reading (thread CPU time, minor and major page faults). */
static void put_rusage(sonde_span *s)
{
	struct timespec ts;
	struct rusage ru;
	uint64_t v[3] = {0, 0, 0};
	if (!stream_reserve(s, 1 + sizeof(v)))
		return;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	v[0] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (getrusage(RUSAGE_THREAD, &ru) == 0) {
		v[1] = (uint64_t)ru.ru_minflt;
		v[2] = (uint64_t)ru.ru_majflt;
	}
	put_u8(s, ITEM_RUSAGE);
	stream_put(s, v, sizeof(v));
}

/* The trace state of a local span (stored as the first item when present). */
static size_t span_trace_state(const sonde_span *p, char *buf)
{
	if (p->data[0] != ITEM_TRACE_STATE || p->used < 3)
		return 0;
	uint16_t n;
	memcpy(&n, p->data + 1, 2);
	/* Gather across slots: a long trace state may run into the next slot. */
	size_t got = 0;
	const sonde_span *t = p;
	size_t off = 3;
	while (got < n && t) {
		size_t k = t->used > off ? t->used - off : 0;
		if (k > (size_t)n - got)
			k = (size_t)n - got;
		memcpy(buf + got, t->data + off, k);
		got += k;
		t = t->next;
		off = 0;
	}
	buf[got] = '\0';
	return got;
}

static const sonde_span_opts default_opts = {.kind = SONDE_SPAN_KIND_INTERNAL};

/* Writes a tag + u16 length + bytes item straight into the tail slot when it fits. */
static inline void put_blob_fast(sonde_span *s, uint8_t tag, const char *p, size_t n)
{
	uint8_t *d = n <= UINT16_MAX ? fast_reserve(s, 3 + n) : NULL;
	if (__builtin_expect(d != NULL, 1)) {
		uint16_t n16 = (uint16_t)n;
		d[0] = tag;
		memcpy(d + 1, &n16, 2);
		memcpy(d + 3, p, n);
		return;
	}
	put_blob(s, tag, p, n);
}

/* The sampling decision and trace state of a new span whose parent fields are filled. */
static sonde__decision sample(sonde_span *s, const sonde__sample_in *in, sonde__sample_out *out)
{
	const sonde_sampler *sampler = sonde__sampler;
	out->trace_state_set = false;
	if (!sampler)
		return !in->has_parent || (in->parent_flags & SONDE_TRACE_FLAG_SAMPLED)
		               ? SONDE__RECORD_AND_SAMPLE
		               : SONDE__DROP;
	(void)s;
	sonde__sampler_should_sample(sampler, in, out);
	return out->decision;
}

sonde_span *sonde__span_start(sonde_tracer *t, const char *name, const sonde_span_opts *o)
{
	if (!__atomic_load_n(&sonde__tracing_on, __ATOMIC_RELAXED))
		return &sonde__noop_span;
	sonde__thread *th = sonde__thread_get();
	if (__builtin_expect(!th, 0))
		return &sonde__noop_span;
	if (!o)
		o = &default_opts;
	sonde_span *s = slot_pop(th);
	if (__builtin_expect(!s, 0)) {
		atomic_store_explicit(&th->dropped,
		                      atomic_load_explicit(&th->dropped, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
		return &sonde__noop_span;
	}
	slot_reset(s, t, 0);
	if (o->kind)
		s->kind = (uint8_t)o->kind;
	if (!name)
		name = "";

	/* The parent: explicit, current, or none. */
	sonde__sample_in in;
	char ts_buf[SONDE_TRACESTATE_MAX_LEN + 1];
	in.has_parent = false;
	in.parent_remote = false;
	in.parent_flags = 0;
	in.parent_trace_state = "";
	in.parent_trace_state_len = 0;
	if (o->parent && !o->root) {
		if (!ids_zero(o->parent->trace_id, 16) && !ids_zero(o->parent->span_id, 8)) {
			in.has_parent = true;
			in.parent_remote = o->parent->is_remote;
			if (o->parent->is_remote)
				s->sflags |= SF_REMOTE_PARENT;
			in.parent_flags = o->parent->trace_flags;
			in.parent_trace_state = o->parent->trace_state;
			in.parent_trace_state_len = o->parent->trace_state_len;
			memcpy(s->trace_id, o->parent->trace_id, 16);
			memcpy(s->parent_id, o->parent->span_id, 8);
		}
	} else if (!o->root && th->depth && th->depth <= SONDE__STACK_DEPTH) {
		sonde_span *local = th->stack[th->depth - 1];
		ensure_ids(local);
		in.has_parent = true;
		in.parent_flags = local->trace_flags;
		memcpy(s->trace_id, local->trace_id, 16);
		memcpy(s->parent_id, local->span_id, 8);
		if (local->used && local->data[0] == ITEM_TRACE_STATE) {
			in.parent_trace_state_len = span_trace_state(local, ts_buf);
			in.parent_trace_state = ts_buf;
		}
	}
	if (!in.has_parent) {
		sonde__new_trace_id(&th->rng[0], s->trace_id);
		memset(s->parent_id, 0, 8);
	} else {
		s->sflags |= SF_HAS_PARENT;
	}
	new_span_id(th, s->span_id);

	in.trace_id = s->trace_id;
	in.name = name;
	in.kind = (sonde_span_kind)s->kind;
	in.attrs = o->attrs;
	in.attrs_count = o->attrs_count;
	in.now_ns = 0; /* samplers that need the time read it themselves */
	sonde__sample_out out;
	sonde__decision decision = sample(s, &in, &out);
	/* Trace flags: the parent's other bits carry over; the random bit marks our own ids. */
	uint8_t flags = in.has_parent ? (uint8_t)(in.parent_flags & ~SONDE_TRACE_FLAG_SAMPLED)
	                              : SONDE_TRACE_FLAG_RANDOM;
	if (decision == SONDE__RECORD_AND_SAMPLE)
		flags |= SONDE_TRACE_FLAG_SAMPLED;
	s->trace_flags = flags;

	const char *ts = out.trace_state_set ? out.trace_state : in.parent_trace_state;
	size_t ts_len = out.trace_state_set ? out.trace_state_len : in.parent_trace_state_len;
	if (ts_len)
		put_blob(s, ITEM_TRACE_STATE, ts, ts_len); /* first item: children read it there */

	if (decision == SONDE__DROP) {
		s->state = SLOT_NONRECORDING;
	} else {
		s->state = SLOT_RECORDING;
		put_blob_fast(s, ITEM_NAME, name, strlen(name));
		for (size_t i = 0; i < o->attrs_count; i++)
			add_attr(s, &o->attrs[i]);
		if ((o->flags & SONDE_SPAN_RUSAGE) || sonde__rusage) {
			s->sflags |= SF_RUSAGE;
			put_rusage(s);
		}
		if (SONDE_CLOCK_HAVE_TSC && !sonde__span_fast_clock)
			s->sflags |= SF_END_SLOW;
		atomic_store_explicit(&th->started,
		                      atomic_load_explicit(&th->started, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
		if (o->start_ns) {
			s->start = o->start_ns;
			s->sflags |= SF_START_NS;
		} else {
			s->start = span_ticks();
		}
	}
	if (o->flags & SONDE_SPAN_DETACHED) {
		s->sflags |= SF_DETACHED;
	} else {
		s->sflags |= SF_ON_STACK;
		stack_push(th, s);
	}
	return s;
}

/* Whether th's root slot (see "Root slot" in runtime_internal.h) is free. Acquire: a root
 * slot ended on another thread is handed back by the exporter thread's release store. */
static inline bool root_slot_free(const sonde__thread *th)
{
	return __atomic_load_n(&th->root->state, __ATOMIC_ACQUIRE) == SLOT_FREE;
}

/* Starts a non-recording root in th's free root slot, on th's empty stack. Every other
 * header field was readied by root_slot_init and is left as it was by the last use (a
 * non-recording span records nothing); lazy says which ids are still to be made. */
static inline sonde_span *root_slot_start(sonde__thread *th, sonde_span *r, uint16_t lazy)
{
	/* One store: the state, the flags (always RANDOM here) and sflags. */
	sonde__span_head_set(r, sonde__head32(SLOT_NONRECORDING, SONDE_TRACE_FLAG_RANDOM,
	                                      (uint16_t)(SF_ON_STACK | SF_ROOT_SLOT | lazy)));
	th->stack[0] = r;
	th->depth = 1;
	return r;
}

/* The common start: no options, a parent on this thread's stack (or none), a sampler the
 * fast plan covers, no trace state to carry. Anything else takes the general path. */
static sonde_span *start_slot(sonde_tracer *t, const char *name, size_t nlen, sonde__thread *th);

sonde_span *sonde__span_start_n(sonde_tracer *t, const char *name, size_t nlen)
{
	/* First the cheapest cases, kept apart so that they need no stack frame: a
	 * non-recording child of a non-recording span of this thread shares that span, and a
	 * root the sampler drops takes the thread's root slot. (A thread's first span makes
	 * its buffer on the general path: sonde__no_thread, with no slots, leads there.) */
	sonde__thread *th = sonde__tls_thread;
	uint32_t depth = th->depth;
	if (depth == 0) {
		/* A root the sampler drops whatever its ids, on an empty stack: the thread's root
		 * slot, when free, with ids made only if asked for. Laid out as the straight
		 * line: this path is a few instructions long, so its taken branches, not its
		 * instructions, are what it costs (a child's shared span below is bound by its
		 * counter's store and reload instead). */
		if (__builtin_expect(sonde__fast_root_off, 1)) {
			sonde_span *r = th->root;
			if (__builtin_expect(__atomic_load_n(&r->state, __ATOMIC_ACQUIRE) == SLOT_FREE, 1))
				return root_slot_start(th, r, SF_LAZY_IDS | SF_LAZY_TRACE_ID);
		}
	} else if (__builtin_expect(depth <= SONDE__STACK_DEPTH, 1)) {
		/* One word says: non-recording, shared under this sampler, not detached
		 * (sonde__share_mask in runtime_internal.h). */
		sonde_span *parent = th->stack[depth - 1];
		uint16_t nest;
		if (__builtin_expect((sonde__span_head(parent) & sonde__share_mask) == sonde__share_want,
		                     1) &&
		    __builtin_expect(parent->owner == th, 1) &&
		    __builtin_expect(!__builtin_add_overflow(parent->nest, 1, &nest), 1)) {
			parent->nest = nest;
			return parent;
		}
	}
	return start_slot(t, name, nlen, th);
}

/* The clock read of start_fast: tsc is a constant there. */
static inline uint64_t ticks_with(bool tsc)
{
	return tsc ? span_tsc() : span_ticks();
}

/* What start_slot, start_slot_refill and start_slot_lazy_parent call (in tail position, so
 * that start_slot's common path calls nothing and needs no saved registers). */
static sonde_span *start_slot_refill(sonde_tracer *t, const char *name, size_t nlen, sonde__thread *th);
static sonde_span *start_slot_lazy_parent(sonde_tracer *t, const char *name, size_t nlen, sonde__thread *th);
static sonde_span *start_slot_gettime(sonde_tracer *t, const char *name, size_t nlen, sonde__thread *th);
static sonde_span *start_slot_ratio_root(sonde_tracer *t, const char *name, size_t nlen, sonde__thread *th);

/* The body of the fast start on th, the calling thread's buffer; tsc says how the start is
 * stamped (a constant: the function is made twice, so the clock_gettime fallback costs
 * the TSC path no stack frame; with tsc, sonde__fast_tsc said yes, so fast_ok holds), and
 * ratio_id_made that a ratio root's trace id is already in th->ratio_id. */
__attribute__((always_inline)) static inline sonde_span *start_fast(sonde_tracer *t, const char *name,
                                                                    size_t nlen, sonde__thread *th, bool tsc,
                                                                    bool ratio_id_made)
{
	if (__builtin_expect((!tsc && !sonde__fast_ok) || nlen > 255, 0))
		return sonde__span_start(t, name, NULL);
	if (__builtin_expect(th->free_count == 0, 0))
		return start_slot_refill(t, name, nlen, th);
	const sonde__fast_plan *plan = &sonde__plan;
	uint32_t depth = th->depth;
	sonde_span *parent = NULL;
	uint8_t rule;
	if (depth) {
		if (__builtin_expect(depth > SONDE__STACK_DEPTH, 0))
			return sonde__span_start(t, name, NULL);
		parent = th->stack[depth - 1];
		if (__builtin_expect(parent->sflags & SF_LAZY_IDS, 0))
			return start_slot_lazy_parent(t, name, nlen, th);
		rule = plan->child;
		if (rule == SONDE__FAST_FOLLOW)
			rule = (parent->trace_flags & SONDE_TRACE_FLAG_SAMPLED) ? SONDE__FAST_ON
			                                                        : SONDE__FAST_OFF;
		if (__builtin_expect(parent->used && parent->data[0] == ITEM_TRACE_STATE, 0))
			return sonde__span_start(t, name, NULL);
	} else {
		rule = plan->root;
	}
	if (__builtin_expect(rule == SONDE__FAST_GENERAL, 0))
		return sonde__span_start(t, name, NULL);
	/* A ratio root: its trace id decides, so it is made first (out of line: the other
	 * starts need no registers for it); see start_slot_ratio_root. */
	if (!ratio_id_made && !parent && rule == SONDE__FAST_RATIO)
		return start_slot_ratio_root(t, name, nlen, th);
	sonde_span *s = th->free_stack[--th->free_count]; /* not empty: checked above */
	/* The span id, and a root's trace id unless the sampler reads it now, are made only
	 * when asked for (a child, a context, a log record), else by the exporter thread. */
	/* head: the header's first word (sonde__head32) but the state and the sampled flag. */
	uint32_t head;
	const uint16_t sf = SF_ON_STACK | SF_LAZY_IDS | (tsc || !SONDE_CLOCK_HAVE_TSC ? 0 : SF_END_SLOW);
	if (parent) {
		memcpy(s->trace_id, parent->trace_id, 16);
		memcpy(s->parent_id, parent->span_id, 8);
		head = sonde__head32(0, (uint8_t)(parent->trace_flags & ~SONDE_TRACE_FLAG_SAMPLED),
		                     sf | SF_HAS_PARENT);
	} else if (rule == SONDE__FAST_RATIO) {
		memcpy(s->trace_id, th->ratio_id, 16);                /* made by start_slot_ratio_root */
		head = sonde__head32(0, SONDE_TRACE_FLAG_RANDOM, sf); /* parent_id: zero in a clean slot */
	} else {
		head = sonde__head32(0, SONDE_TRACE_FLAG_RANDOM, sf | SF_LAZY_TRACE_ID);
	}
	if (rule == SONDE__FAST_RATIO)
		rule = sonde__trace_id_randomness(s->trace_id) >= plan->threshold ? SONDE__FAST_ON
		                                                                  : SONDE__FAST_OFF;
	s->tracer = t; /* the rest of the header is clean (sonde__slot_clean) */
	if (rule == SONDE__FAST_ON) {
		sonde__span_head_set(s, head | sonde__head32(SLOT_RECORDING, SONDE_TRACE_FLAG_SAMPLED, 0));
		/* The name is the first item: it always fits an empty slot. */
		uint16_t n16 = (uint16_t)nlen;
		s->data[0] = ITEM_NAME;
		memcpy(s->data + 1, &n16, 2);
		copy_nocall(s->data + 3, name, nlen);
		s->used = (uint16_t)(3 + nlen);
		atomic_store_explicit(&th->started,
		                      atomic_load_explicit(&th->started, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
		s->start = ticks_with(tsc);
	} else {
		sonde__span_head_set(s, head | sonde__head32(SLOT_NONRECORDING, 0, 0));
	}
	th->stack[depth] = s;
	th->depth = depth + 1;
	return s;
}

__attribute__((noinline)) static sonde_span *start_slot(sonde_tracer *t, const char *name, size_t nlen,
                                                        sonde__thread *th)
{
#if SONDE_CLOCK_HAVE_TSC
	if (__builtin_expect(sonde__fast_tsc, 1))
		return start_fast(t, name, nlen, th, true, false);
#endif
	return start_slot_gettime(t, name, nlen, th);
}

__attribute__((noinline)) static sonde_span *start_slot_gettime(sonde_tracer *t, const char *name,
                                                                size_t nlen, sonde__thread *th)
{
	return start_fast(t, name, nlen, th, false, false);
}

/* A root under a ratio sampler: its trace id is made and decides. Dropped, it takes the
 * thread's root slot (with that trace id) when free; otherwise the fast start goes on with
 * the id in th->ratio_id. */
__attribute__((noinline)) static sonde_span *start_slot_ratio_root(sonde_tracer *t, const char *name,
                                                                   size_t nlen, sonde__thread *th)
{
	/* A slot first, if the free stack is empty: whether this id is used must not depend
	 * on the decision it makes. */
	if (__builtin_expect(th->free_count == 0, 0)) {
		sonde_span *s = slot_refill(th);
		if (s)
			th->free_stack[th->free_count++] = s;
	}
	sonde__new_trace_id(&th->rng[0], th->ratio_id);
	if (sonde__trace_id_randomness(th->ratio_id) < sonde__plan.threshold && root_slot_free(th)) {
		memcpy(th->root->trace_id, th->ratio_id, 16);
		return root_slot_start(th, th->root, SF_LAZY_IDS);
	}
#if SONDE_CLOCK_HAVE_TSC
	if (__builtin_expect(sonde__fast_tsc, 1))
		return start_fast(t, name, nlen, th, true, true);
#endif
	return start_fast(t, name, nlen, th, false, true);
}

/* The thread's free stack is empty: refill it from the free ring and start again; with no
 * slot back, the general path counts the drop (or, for a thread without a buffer yet,
 * sonde__no_thread, makes one). */
__attribute__((noinline)) static sonde_span *start_slot_refill(sonde_tracer *t, const char *name, size_t nlen,
                                                               sonde__thread *th)
{
	sonde_span *s = th != &sonde__no_thread ? slot_refill(th) : NULL;
	if (!s)
		return sonde__span_start(t, name, NULL);
	th->free_stack[th->free_count++] = s; /* back on top: start_slot pops it again */
	return start_slot(t, name, nlen, th);
}

/* The parent is a lazily started root: give it its ids, then start as usual. */
__attribute__((noinline)) static sonde_span *start_slot_lazy_parent(sonde_tracer *t, const char *name,
                                                                    size_t nlen, sonde__thread *th)
{
	make_lazy_ids(th->stack[th->depth - 1]);
	return start_slot(t, name, nlen, th);
}

sonde_span *sonde_span_start_ex(sonde_tracer *t, const char *name, const sonde_span_opts *opts)
{
	return sonde__span_start(t, name, opts);
}

/* ---- End ---------------------------------------------------------------------------- */

static void end_slot(sonde_span *s, uint64_t end_ns);

/* The done ring was full: the exporter is behind (or not running after fork), so this
 * span is lost. Its slots go back at once: ours to the free stack, another thread's to
 * that thread's returned list (runtime_internal.h), for the exporter thread to hand on. */
__attribute__((noinline, cold)) static void end_lost(sonde__thread *th, sonde_span *s)
{
	atomic_store_explicit(&th->dropped, atomic_load_explicit(&th->dropped, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	if (s->sflags & SF_ROOT_SLOT) {
		/* Another thread's root slot (non-recording, never chained): hand it back. */
		__atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELEASE);
		sonde__exporter_kick();
		return;
	}
	for (sonde_span *c = s; c;) {
		sonde_span *nx = c->next;
		if (c->owner == th) {
			sonde__slot_free(th, c);
		} else {
			sonde__thread *o = c->owner;
			sonde_span *head = atomic_load_explicit(&o->returned, memory_order_relaxed);
			do
				c->next = head;
			while (!atomic_compare_exchange_weak_explicit(
			        &o->returned, &head, c, memory_order_release, memory_order_relaxed));
		}
		c = nx;
	}
	sonde__exporter_kick();
}

/* The common end of a recording span, the thread's current one: stamp it, pop it and hand
 * it to the exporter thread (what end_slot does, without its other cases). */
static inline void end_current_at(sonde__thread *th, sonde_span *s, uint64_t ticks)
{
	s->end = ticks;
	th->depth--;
	atomic_store_explicit(&th->ended, atomic_load_explicit(&th->ended, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	s->state = SLOT_ENDED;
	if (__builtin_expect(!sonde__ring_push(&th->done, s), 0))
		end_lost(th, s);
}

/* The common end: a span not stamped by plain RDTSC (clock_gettime, an ordered clock)
 * carries SF_END_SLOW and ends through end_slot, so this one needs no test of the clock. */
static inline void end_current(sonde__thread *th, sonde_span *s)
{
	end_current_at(th, s, span_tsc());
}

/* The end of sonde__span_end and sonde__span_end_now (where end_ns is the constant 0). */
__attribute__((always_inline)) static inline void span_end(sonde_span *s, uint64_t end_ns)
{
	if (__builtin_expect(!s, 0)) {
		end_slot(s, end_ns);
		return;
	}
	uint16_t nest = s->nest;
	if (__builtin_expect(nest != 0, 0)) {
		/* One of the children that share this non-recording span ended. (The
		 * expectation lays the root slot's end below out as the straight line, as in
		 * sonde__span_start_n; this end is bound by its counter's store and reload.) */
		s->nest = (uint16_t)(nest - 1);
		return;
	}
	sonde__thread *th = sonde__tls_thread; /* sonde__no_thread: on to end_slot */
	if (__builtin_expect(s == th->root, 1)) {
		/* The thread's own root slot (so in use: it is being ended), alone on the stack
		 * (the common case): pop it and mark it free; nothing else changed in it. */
		if (__builtin_expect(th->depth == 1 && th->stack[0] == s, 1)) {
			th->depth = 0;
			s->state = SLOT_FREE;
			return;
		}
		end_slot(s, end_ns);
		return;
	}
	uint32_t top = th->depth - 1;
	if (top < SONDE__STACK_DEPTH && th->stack[top] == s) {
		/* Recording, on the stack, no rusage, stamped by RDTSC: one word says it. */
		if (__builtin_expect((sonde__span_head(s) &
		                      sonde__head32(0xff, 0, SF_ON_STACK | SF_RUSAGE | SF_END_SLOW)) ==
		                             sonde__head32(SLOT_RECORDING, 0, SF_ON_STACK),
		                     1) &&
		    !end_ns) {
			end_current(th, s);
			return;
		}
		if (s->state == SLOT_NONRECORDING && s->owner == th && !s->next) {
			/* The common end of a non-recording span: back to the free stack at once. */
			th->depth = top;
			sonde__slot_free(th, s);
			return;
		}
	}
	end_slot(s, end_ns);
}

void sonde__span_end(sonde_span *s, uint64_t end_ns)
{
	span_end(s, end_ns);
}

void sonde__span_end_now(sonde_span *s)
{
	span_end(s, 0);
}

__attribute__((noinline)) static void end_slot(sonde_span *s, uint64_t end_ns)
{
	if (!s || (s->state != SLOT_RECORDING && s->state != SLOT_NONRECORDING))
		return;
	sonde__thread *th = sonde__thread_get();
	if (!th)
		return;
	if (s->sflags & SF_ON_STACK)
		stack_remove(th, s);
	if (s->state == SLOT_NONRECORDING && s->owner == th && !s->next) {
		if (!(s->sflags & SF_ROOT_SLOT)) {
			sonde__slot_clean(s);
			th->free_stack[th->free_count++] = s;
		}
		s->state = SLOT_FREE;
		return;
	}
	if (s->state == SLOT_RECORDING) {
		/* Only recording spans read the clock: it is the costliest thing on this path. */
		s->end = end_ns ? end_ns : span_ticks();
		if (end_ns)
			s->sflags |= SF_END_NS;
		if (s->sflags & SF_RUSAGE)
			put_rusage(s);
		atomic_store_explicit(&th->ended, atomic_load_explicit(&th->ended, memory_order_relaxed) + 1,
		                      memory_order_relaxed);
	}
	s->state = s->state == SLOT_RECORDING ? SLOT_ENDED : SLOT_NONRECORDING;
	if (!sonde__ring_push(&th->done, s))
		end_lost(th, s);
}

void sonde_span_end_at(sonde_span *s, uint64_t end_ns)
{
	sonde__span_end(s, end_ns);
}

/* ---- Setters ------------------------------------------------------------------------ */

bool sonde_span_is_recording(const sonde_span *s)
{
	return s && s->state == SLOT_RECORDING;
}

void sonde_span_context_get(const sonde_span *s, sonde_span_context *out)
{
	memset(out, 0, offsetof(sonde_span_context, trace_state) + 1);
	if (!s || s->state == SLOT_NOOP || s->state == SLOT_FREE)
		return;
	ensure_ids((sonde_span *)s);
	memcpy(out->trace_id, s->trace_id, 16);
	memcpy(out->span_id, s->span_id, 8);
	out->trace_flags = s->trace_flags;
	out->trace_state_len = (uint16_t)span_trace_state(s, out->trace_state);
}

__attribute__((noinline)) static void set_str_slow(sonde_span *s, const char *key, const char *value)
{
	sonde_attr a = {.key = key, .type = SONDE_ATTR_STRING, .v.s = value};
	add_attr(s, &a);
}

void sonde__span_set_str_n(sonde_span *s, const char *key, size_t klen, const char *value, size_t vlen)
{
	/* A NULL key comes with klen 0, a NULL value with vlen 0 (nothing is read from it). */
	if (!recording(s) || !klen)
		return;
	/* Keys up to 32 bytes (nearly all) are copied without a call; a longer value is
	 * copied last, by a memcpy in tail position, so the fast path needs no frame. One
	 * bound (sonde__attr_vmax) stands for the value length limit and the slot's size. */
	if (__builtin_expect(
	            s->attrs < sonde__limits.attribute_count && klen <= 32 && vlen <= sonde__attr_vmax, 1)) {
		uint8_t *p = fast_reserve(s, 8 + klen + vlen);
		if (p) {
			uint16_t k16 = (uint16_t)klen;
			uint32_t v32 = (uint32_t)vlen;
			p[0] = ITEM_ATTR;
			p[1] = SONDE_ATTR_STRING;
			memcpy(p + 2, &k16, 2);
			copy_upto32(p + 4, key, klen);
			memcpy(p + 4 + klen, &v32, 4);
			s->attrs++;
			if (vlen <= 32)
				copy_upto32(p + 8 + klen, value, vlen);
			else
				memcpy(p + 8 + klen, value, vlen);
			return;
		}
	}
	set_str_slow(s, key, value ? value : "");
}

void(sonde_span_set_str)(sonde_span *s, const char *key, const char *value)
{
	sonde__span_set_str_n(s, key, key ? strlen(key) : 0, value, value ? strlen(value) : 0);
}

void sonde_span_set_strn(sonde_span *s, const char *key, const char *value, size_t len)
{
	/* Copy into a NUL-terminated buffer in the stream: write the item by hand. */
	if (!recording(s) || !key || !key[0])
		return;
	const sonde_span_limits *lim = &sonde__limits;
	size_t n = clamp_len(len, lim->attribute_value_length), klen = strlen(key);
	if (klen > UINT16_MAX)
		klen = UINT16_MAX;
	if (s->attrs >= lim->attribute_count || n > UINT32_MAX || !stream_reserve(s, 8 + klen + n)) {
		s->dropped_attrs++;
		return;
	}
	uint8_t hdr[4] = {ITEM_ATTR, SONDE_ATTR_STRING, (uint8_t)(klen & 0xff), (uint8_t)(klen >> 8)};
	stream_put(s, hdr, 4);
	stream_put(s, key, klen);
	put_u32(s, (uint32_t)n);
	stream_put(s, value, n);
	s->attrs++;
}

/* Scalar attributes: header, key and an 8-byte (or 1-byte) value written in place.
 * Returns false when the general path must decide (limits, slot full). */
static inline bool set_scalar_fast(sonde_span *s, const char *key, size_t klen, uint8_t type, const void *v,
                                   size_t vlen)
{
	if (!recording(s))
		return true;
	/* Keys of 1 to 32 bytes (nearly all) are copied without a call; an empty one (a NULL
	 * key comes with klen 0) goes to the general path, which ignores it. */
	if (__builtin_expect(s->attrs >= sonde__limits.attribute_count || klen - 1 >= 32, 0))
		return false;
	uint8_t *p = fast_reserve(s, 4 + klen + vlen);
	if (__builtin_expect(!p, 0))
		return false;
	uint16_t k16 = (uint16_t)klen;
	p[0] = ITEM_ATTR;
	p[1] = type;
	memcpy(p + 2, &k16, 2);
	copy_upto32(p + 4, key, klen);
	memcpy(p + 4 + klen, v, vlen);
	s->attrs++;
	return true;
}

/* The general paths of the setters, out of line so that the fast paths need no frame. */
__attribute__((noinline)) static void set_int_slow(sonde_span *s, const char *key, int64_t value)
{
	sonde_attr a = {.key = key, .type = SONDE_ATTR_INT, .v.i = value};
	add_attr(s, &a);
}

__attribute__((noinline)) static void set_double_slow(sonde_span *s, const char *key, double value)
{
	sonde_attr a = {.key = key, .type = SONDE_ATTR_DOUBLE, .v.d = value};
	add_attr(s, &a);
}

__attribute__((noinline)) static void set_bool_slow(sonde_span *s, const char *key, bool value)
{
	sonde_attr a = {.key = key, .type = SONDE_ATTR_BOOL, .v.b = value};
	add_attr(s, &a);
}

void sonde__span_set_int_n(sonde_span *s, const char *key, size_t klen, int64_t value)
{
	if (__builtin_expect(!set_scalar_fast(s, key, klen, SONDE_ATTR_INT, &value, 8), 0))
		set_int_slow(s, key, value);
}

void sonde__span_set_double_n(sonde_span *s, const char *key, size_t klen, double value)
{
	if (__builtin_expect(!set_scalar_fast(s, key, klen, SONDE_ATTR_DOUBLE, &value, 8), 0))
		set_double_slow(s, key, value);
}

void sonde__span_set_bool_n(sonde_span *s, const char *key, size_t klen, bool value)
{
	uint8_t b = value;
	if (__builtin_expect(!set_scalar_fast(s, key, klen, SONDE_ATTR_BOOL, &b, 1), 0))
		set_bool_slow(s, key, value);
}

void(sonde_span_set_int)(sonde_span *s, const char *key, int64_t value)
{
	sonde__span_set_int_n(s, key, key ? strlen(key) : 0, value);
}

void(sonde_span_set_double)(sonde_span *s, const char *key, double value)
{
	sonde__span_set_double_n(s, key, key ? strlen(key) : 0, value);
}

void(sonde_span_set_bool)(sonde_span *s, const char *key, bool value)
{
	sonde__span_set_bool_n(s, key, key ? strlen(key) : 0, value);
}

void sonde_span_set_attrs(sonde_span *s, const sonde_attr *attrs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		add_attr(s, &attrs[i]);
}

void sonde_span_set_name(sonde_span *s, const char *name)
{
	if (recording(s) && name)
		put_blob(s, ITEM_NAME, name, strlen(name));
}

void sonde_span_set_status(sonde_span *s, sonde_status_code code, const char *message)
{
	if (!recording(s) || (s->sflags & SF_STATUS_FINAL) || code > SONDE_STATUS_ERROR)
		return;
	if (code == SONDE_STATUS_UNSET)
		return; /* setting Unset is ignored, as the API specifies */
	s->status = (uint8_t)code;
	if (code == SONDE_STATUS_OK)
		s->sflags |= SF_STATUS_FINAL;
	if (code == SONDE_STATUS_ERROR && message && message[0])
		put_blob(s, ITEM_STATUS_MSG, message, strlen(message));
}

/* Writes an event or link header and its attributes; returns false when nothing fit. */
static bool put_attrs_block(sonde_span *s, const sonde_attr *attrs, size_t n, uint32_t limit, uint32_t *kept,
                            uint32_t *dropped)
{
	const sonde_span_limits *lim = &sonde__limits;
	*kept = *dropped = 0;
	for (size_t i = 0; i < n; i++) {
		if (!valid_attr(&attrs[i]))
			continue;
		if (*kept >= limit || !put_attr(s, &attrs[i], lim->attribute_value_length)) {
			(*dropped)++;
			continue;
		}
		(*kept)++;
	}
	return true;
}

/* Event and link items carry their attribute counts in the header, which is written
 * before the attributes: it is patched through a pointer when the header sits in one
 * slot, which stream_reserve guarantees by reserving header and attributes together. */
static size_t attrs_size(const sonde_attr *attrs, size_t n)
{
	const sonde_span_limits *lim = &sonde__limits;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		if (valid_attr(&attrs[i]))
			total +=
			        4 + strlen(attrs[i].key) + value_size(&attrs[i], lim->attribute_value_length);
	return total;
}

void sonde_span_add_event_at(sonde_span *s, const char *name, uint64_t time_ns, const sonde_attr *attrs,
                             size_t n)
{
	if (!recording(s))
		return;
	const sonde_span_limits *lim = &sonde__limits;
	if (!name)
		name = "";
	size_t nlen = strlen(name);
	if (nlen > UINT16_MAX)
		nlen = UINT16_MAX;
	if (s->events >= lim->event_count || !stream_reserve(s, 20 + nlen + attrs_size(attrs, n))) {
		s->dropped_events++;
		return;
	}
	uint64_t t = time_ns ? time_ns : span_ticks();
	uint32_t kept = 0, dropped = 0;
	/* Count first, so the header is complete before the attributes follow it. */
	for (size_t i = 0; i < n; i++)
		if (valid_attr(&attrs[i]))
			kept < lim->event_attribute_count ? kept++ : dropped++;
	put_u8(s, ITEM_EVENT);
	put_u8(s, time_ns ? 1 : 0);
	put_u16(s, (uint16_t)nlen);
	put_u32(s, kept);
	put_u32(s, dropped);
	put_u64(s, t);
	stream_put(s, name, nlen);
	uint32_t k2, d2;
	put_attrs_block(s, attrs, n, kept, &k2, &d2);
	s->events++;
}

void sonde_span_add_event(sonde_span *s, const char *name, const sonde_attr *attrs, size_t n)
{
	sonde_span_add_event_at(s, name, 0, attrs, n);
}

void sonde_span_record_exception(sonde_span *s, const char *type, const char *message, const char *stacktrace)
{
	if (!recording(s))
		return;
	sonde_attr a[3];
	size_t n = 0;
	if (type)
		a[n++] = SONDE_ATTR_STR("exception.type", type);
	if (message)
		a[n++] = SONDE_ATTR_STR("exception.message", message);
	if (stacktrace)
		a[n++] = SONDE_ATTR_STR("exception.stacktrace", stacktrace);
	sonde_span_add_event(s, "exception", a, n);
	if (s->status == SONDE_STATUS_UNSET)
		sonde_span_set_status(s, SONDE_STATUS_ERROR, message ? message : type);
}

void sonde_span_add_link(sonde_span *s, const sonde_span_context *ctx, const sonde_attr *attrs, size_t n)
{
	if (!recording(s) || !ctx)
		return;
	const sonde_span_limits *lim = &sonde__limits;
	size_t tslen = ctx->trace_state_len <= SONDE_TRACESTATE_MAX_LEN ? ctx->trace_state_len : 0;
	if (s->links >= lim->link_count || !stream_reserve(s, 40 + tslen + attrs_size(attrs, n))) {
		s->dropped_links++;
		return;
	}
	uint32_t kept = 0, dropped = 0;
	for (size_t i = 0; i < n; i++)
		if (valid_attr(&attrs[i]))
			kept < lim->link_attribute_count ? kept++ : dropped++;
	put_u8(s, ITEM_LINK);
	stream_put(s, ctx->trace_id, 16);
	stream_put(s, ctx->span_id, 8);
	put_u32(s, ctx->trace_flags);
	put_u16(s, (uint16_t)tslen);
	put_u32(s, kept);
	put_u32(s, dropped);
	stream_put(s, ctx->trace_state, tslen);
	uint32_t k2, d2;
	put_attrs_block(s, attrs, n, kept, &k2, &d2);
	s->links++;
}

/* ---- Log records -------------------------------------------------------------------- */

int sonde__log_min = INT_MAX; /* nothing is recorded until init */
uint32_t sonde__log_rate_limit = 100;
uint32_t sonde__log_value_max = 4096;
uint64_t sonde__log_ticks_per_sec = 1000000000u;
_Atomic uint64_t sonde__log_suppressed;
int sonde__log_level_set;

static inline void count_add(_Atomic uint64_t *c)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

/* Takes a slot for a record of severity level, stamped now with the current span's
 * context; NULL (counted) when the thread has none free. */
static sonde_span *log_begin(sonde__thread *th, int level)
{
	sonde_span *s = slot_pop(th);
	if (__builtin_expect(!s, 0)) {
		count_add(&th->logs_dropped);
		return NULL;
	}
	slot_reset(s, NULL, SF_LOG);
	s->state = SLOT_ENDED;
	s->status = (uint8_t)level;
	s->start = sonde_clock_ticks();
	sonde_span *cur = th->depth && th->depth <= SONDE__STACK_DEPTH ? th->stack[th->depth - 1] : NULL;
	if (cur) {
		ensure_ids(cur);
		memcpy(s->trace_id, cur->trace_id, 16);
		memcpy(s->span_id, cur->span_id, 8);
		s->trace_flags = cur->trace_flags;
	} else {
		memset(s->trace_id, 0, 16);
		memset(s->span_id, 0, 8);
		s->trace_flags = 0;
	}
	return s;
}

/* Appends the body, cut to sonde__log_value_max bytes (the original length travels with
 * it). A body that does not fit the slots left is recorded empty. */
static void log_body(sonde_span *s, const char *p, size_t n)
{
	size_t keep = n > sonde__log_value_max ? sonde__log_value_max : n;
	if (!stream_reserve(s, 7 + keep)) {
		keep = 0;
		if (!stream_reserve(s, 7))
			return;
	}
	uint8_t hdr[7] = {ITEM_BODY};
	uint32_t orig = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	uint16_t k = (uint16_t)keep;
	memcpy(hdr + 1, &orig, 4);
	memcpy(hdr + 5, &k, 2);
	stream_put(s, hdr, 7);
	stream_put(s, p, keep);
}

static void log_attrs(sonde_span *s, const sonde_attr *attrs, size_t n)
{
	uint32_t limit = sonde__limits.attribute_count;
	for (size_t i = 0; i < n; i++) {
		const sonde_attr *a = &attrs[i];
		if (!valid_attr(a))
			continue;
		if (s->attrs >= limit) {
			s->dropped_attrs++;
			continue;
		}
		if (a->type == SONDE_ATTR_STRING && a->v.s) {
			size_t len = strlen(a->v.s);
			if (len > sonde__log_value_max && stream_reserve(s, 5)) {
				uint32_t orig = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
				put_u8(s, ITEM_CUT);
				put_u32(s, orig);
			}
		}
		if (!put_attr(s, a, sonde__log_value_max)) {
			s->dropped_attrs++;
			continue;
		}
		s->attrs++;
	}
}

/* Hands the record to the exporter thread; when the done ring is full it is lost and
 * counted, never waited for. */
static void log_send(sonde__thread *th, sonde_span *s)
{
	if (__builtin_expect(sonde__ring_push(&th->done, s), 1)) {
		count_add(&th->logs);
		return;
	}
	count_add(&th->logs_dropped);
	for (sonde_span *c = s; c;) {
		sonde_span *nx = c->next;
		sonde__slot_free(th, c);
		c = nx;
	}
	sonde__exporter_kick();
}

/* The common record - a short body and a few scalar or short string attributes - written
 * into its first slot in one pass, each length measured once. False (nothing written)
 * sends the caller to the general path. */
static bool log_fast(sonde_span *s, const char *body, size_t blen, const sonde_attr *attrs, size_t n)
{
	enum { MAX = 8 };
	if (n > MAX || n > sonde__limits.attribute_count || blen > sonde__log_value_max)
		return false;
	size_t klen[MAX], vlen[MAX];
	size_t total = 7 + blen;
	for (size_t i = 0; i < n; i++) {
		const sonde_attr *a = &attrs[i];
		if (!a->key || !a->key[0])
			return false;
		klen[i] = strlen(a->key);
		switch (a->type) {
		case SONDE_ATTR_STRING:
			if (!a->v.s)
				return false;
			vlen[i] = strlen(a->v.s);
			if (vlen[i] > sonde__log_value_max)
				return false;
			total += 4 + vlen[i];
			break;
		case SONDE_ATTR_INT:
		case SONDE_ATTR_DOUBLE: vlen[i] = 8; break;
		case SONDE_ATTR_BOOL: vlen[i] = 1; break;
		default: return false;
		}
		if (klen[i] > UINT16_MAX)
			return false;
		total += 4 + klen[i] + (a->type == SONDE_ATTR_STRING ? 0 : vlen[i]);
	}
	uint8_t *p = fast_reserve(s, total);
	if (!p)
		return false;
	uint32_t orig = (uint32_t)blen;
	uint16_t b16 = (uint16_t)blen;
	p[0] = ITEM_BODY;
	memcpy(p + 1, &orig, 4);
	memcpy(p + 5, &b16, 2);
	memcpy(p + 7, body, blen);
	p += 7 + blen;
	for (size_t i = 0; i < n; i++) {
		const sonde_attr *a = &attrs[i];
		uint16_t k16 = (uint16_t)klen[i];
		p[0] = ITEM_ATTR;
		p[1] = (uint8_t)a->type;
		memcpy(p + 2, &k16, 2);
		memcpy(p + 4, a->key, klen[i]);
		p += 4 + klen[i];
		switch (a->type) {
		case SONDE_ATTR_STRING: {
			uint32_t v32 = (uint32_t)vlen[i];
			memcpy(p, &v32, 4);
			memcpy(p + 4, a->v.s, vlen[i]);
			p += 4 + vlen[i];
			break;
		}
		case SONDE_ATTR_BOOL: *p++ = a->v.b; break;
		default:
			memcpy(p, &a->v.i, 8);
			p += 8;
			break;
		}
	}
	s->attrs = (uint16_t)n;
	return true;
}

static void log_emit(int level, const char *body, size_t blen, const sonde_attr *attrs, size_t n,
                     uint64_t suppressed)
{
	sonde__thread *th = sonde__thread_get();
	if (!th)
		return;
	sonde_span *s = log_begin(th, level);
	if (!s)
		return;
	if (!log_fast(s, body, blen, attrs, n)) {
		log_body(s, body, blen);
		log_attrs(s, attrs, n);
	}
	if (suppressed) {
		sonde_attr a = SONDE_ATTR_INT("sonde.log.suppressed", (int64_t)suppressed);
		log_attrs(s, &a, 1);
	}
	log_send(th, s);
}

/* vsnprintf into a stack buffer: the body of a formatted record is at most 4 KiB. */
static void log_emitv(int level, const char *fmt, va_list ap, uint64_t suppressed)
{
	char buf[4096];
	int k = vsnprintf(buf, sizeof buf, fmt ? fmt : "", ap);
	if (k < 0)
		k = 0;
	size_t n = (size_t)k < sizeof buf ? (size_t)k : sizeof buf - 1;
	log_emit(level, buf, n, NULL, 0, suppressed);
}

static inline bool log_on(int level)
{
	return level >= __atomic_load_n(&sonde__log_min, __ATOMIC_RELAXED);
}

void sonde_log(sonde_log_level level, const char *body, const sonde_attr *attrs, size_t n)
{
	if (!log_on((int)level))
		return;
	log_emit((int)level, body ? body : "", body ? strlen(body) : 0, attrs, attrs ? n : 0, 0);
}

void sonde_logv(sonde_log_level level, const char *fmt, va_list ap)
{
	if (log_on((int)level))
		log_emitv((int)level, fmt, ap, 0);
}

void sonde_logf(sonde_log_level level, const char *fmt, ...)
{
	if (!log_on((int)level))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emitv((int)level, fmt, ap, 0);
	va_end(ap);
}

/* The rate limit of a site: at most sonde__log_rate_limit records per second. Returns
 * false when this record must be dropped; otherwise *suppressed is how many the site lost
 * since its last record (to report on this one). */
static bool site_admit(sonde_log_site *site, uint64_t *suppressed)
{
	*suppressed = 0;
	uint32_t limit = sonde__log_rate_limit;
	if (limit == UINT32_MAX)
		return true;
	uint64_t win = sonde_clock_ticks() / sonde__log_ticks_per_sec + 1;
	uint64_t seen = atomic_load_explicit(&site->window, memory_order_relaxed);
	if (seen != win && atomic_compare_exchange_strong_explicit(
	                           &site->window, &seen, win, memory_order_relaxed, memory_order_relaxed))
		atomic_store_explicit(&site->count, 0, memory_order_relaxed);
	if (atomic_fetch_add_explicit(&site->count, 1, memory_order_relaxed) >= limit) {
		atomic_fetch_add_explicit(&site->suppressed, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&sonde__log_suppressed, 1, memory_order_relaxed);
		return false;
	}
	if (atomic_load_explicit(&site->suppressed, memory_order_relaxed))
		*suppressed = atomic_exchange_explicit(&site->suppressed, 0, memory_order_relaxed);
	return true;
}

void sonde_log_site_emit(sonde_log_site *site, sonde_log_level level, const char *body,
                         const sonde_attr *attrs, size_t n)
{
	uint64_t suppressed;
	if (!log_on((int)level) || !site_admit(site, &suppressed))
		return;
	log_emit((int)level, body ? body : "", body ? strlen(body) : 0, attrs, attrs ? n : 0, suppressed);
}

void sonde_log_site_emitf(sonde_log_site *site, sonde_log_level level, const char *fmt, ...)
{
	uint64_t suppressed;
	if (!log_on((int)level) || !site_admit(site, &suppressed))
		return;
	va_list ap;
	va_start(ap, fmt);
	log_emitv((int)level, fmt, ap, suppressed);
	va_end(ap);
}

void sonde_log_set_level(sonde_log_level level)
{
	int v = (int)level < 1 ? 1 : (int)level;
	__atomic_store_n(&sonde__log_level_set, v, __ATOMIC_RELAXED);
	if (__atomic_load_n(&sonde__tracing_on, __ATOMIC_RELAXED))
		__atomic_store_n(&sonde__log_min, v, __ATOMIC_RELAXED);
}
