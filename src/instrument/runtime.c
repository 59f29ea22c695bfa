/*
 * runtime.c - the tracing provider and its background thread (see runtime_internal.h).
 *
 * The provider holds what sonde_trace_init configured: resource, sampler, limits, batch
 * settings, exporters. Application threads register a buffer on their first span (the
 * one lock they ever take). The exporter thread drains every thread's done ring, decodes
 * each span's item stream into the telemetry model, hands the slots back to their owners,
 * applies the minimum-duration filter, and exports batches of max_export_batch_size spans
 * or whatever is pending every schedule_delay. It polls the rings: every millisecond
 * while spans arrive, backing off to 50 ms when idle, so producers never signal it.
 */
#define _GNU_SOURCE /* pthread_timedjoin_np, RUSAGE_THREAD */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#if SONDE_CLOCK_HAVE_TSC
#include <cpuid.h>
#endif
#include "config_internal.h"
#include "env_internal.h"
#include "exporter_internal.h"
#include "metrics_internal.h"
#include "runtime_internal.h"
#include "redact.h"
#include "sampler_internal.h"
#include "sonde/export.h"
#include "sonde/log.h"
#include "sonde/metrics.h"
#include "telemetry.h"

bool sonde__tracing_on;
sonde_sampler *sonde__sampler;
bool sonde__rusage;
sonde__fast_plan sonde__plan;
bool sonde__fast_ok;
bool sonde__fast_root_off;
/* Until init: a want no header matches (its state would be 0xff), so nothing is shared. */
uint32_t sonde__share_mask = UINT32_MAX, sonde__share_want = UINT32_MAX;
bool sonde__fast_tsc;
bool sonde__span_rdtscp;
bool sonde__span_fast_clock;
sonde_span_limits sonde__limits;
uint32_t sonde__attr_vmax;

static struct provider {
	pthread_mutex_t mu;  /* registry, tracers, exporter thread state */
	pthread_cond_t wake; /* exporter waits here */
	pthread_cond_t done; /* flushers wait here */
	bool initialised;
	sonde_batch_config batch;
	uint64_t min_duration_ns;
	sonde_exporter *exporters[8];
	size_t exporters_count;
	sonde_resource resource;
	sonde_kv resource_kv[64];
	char resource_strings[4096];
	sonde_tracer *tracers;
	uint32_t tracers_count;
	sonde__thread *threads;
	uint32_t slots_per_thread;
	/* Exporter thread. */
	pthread_t thread;
	bool running;
	/* The thread exists (it may outlive a shutdown that timed out: then it is detached,
	 * orphaned, and frees the exporters itself when its export call returns). */
	bool thread_alive;
	bool orphaned;
	bool stop;
	uint64_t stop_deadline;
	uint64_t flush_requested, flush_completed;
	_Atomic uint64_t exported, failed, filtered, batches;
	/* Counts of threads whose buffers were reclaimed after they exited. */
	_Atomic uint64_t started_dead, ended_dead, dropped_dead;
	unsigned fork_gen;
	/* Logs: how the exporter thread redacts them, and what became of them. */
	sonde__redactor redactor;
	int log_level;     /* the minimum severity init settled on */
	char *redact_keys; /* owned copy of the extra secret keys */
	_Atomic uint64_t logs_dead, logs_dropped_dead;
	_Atomic uint64_t logs_exported, logs_failed, logs_redacted;
	/* Metrics pushed to the exporters: the reader (NULL: not pushed) and its interval. */
	sonde_metric_reader *metric_reader;
	uint64_t metrics_interval_ns;
} P = {
        .mu = PTHREAD_MUTEX_INITIALIZER,
        .wake = PTHREAD_COND_INITIALIZER,
        .done = PTHREAD_COND_INITIALIZER,
};

/* No buffer: no slots, an empty stack, a root slot that is never free (the no-op span). */
sonde__thread sonde__no_thread = {.root = &sonde__noop_span};
__thread sonde__thread *sonde__tls_thread __attribute__((tls_model("initial-exec"))) = &sonde__no_thread;
static pthread_key_t thread_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* ---- Environment ------------------------------------------------------------------- */

static uint32_t pick(uint32_t configured, const char *env, const char *env2, uint32_t dflt)
{
	if (configured)
		return configured;
	uint32_t v = 0;
	if (sonde__env_u32(env, &v) <= 0 && env2)
		sonde__env_u32(env2, &v);
	return v ? v : dflt;
}

/* ---- Resource ---------------------------------------------------------------------- */

/* Copies a string into the provider's resource storage; NULL when it is full. */
static const char *rs_copy(size_t *used, const char *s, size_t n)
{
	if (*used + n + 1 > sizeof(P.resource_strings))
		return NULL;
	char *p = P.resource_strings + *used;
	memcpy(p, s, n);
	p[n] = '\0';
	*used += n + 1;
	return p;
}

static void rs_set(size_t *used, const char *key, size_t klen, const char *val, size_t vlen)
{
	/* Later settings win: replace an existing key. */
	sonde_kv *kv = NULL;
	for (uint32_t i = 0; i < P.resource.attrs.count; i++)
		if (P.resource_kv[i].key.len == klen && memcmp(P.resource_kv[i].key.ptr, key, klen) == 0)
			kv = &P.resource_kv[i];
	if (!kv) {
		if (P.resource.attrs.count == sizeof(P.resource_kv) / sizeof(P.resource_kv[0]))
			return;
		const char *k = rs_copy(used, key, klen);
		if (!k)
			return;
		kv = &P.resource_kv[P.resource.attrs.count++];
		kv->key = (sonde_str){k, klen};
	}
	const char *v = rs_copy(used, val, vlen);
	if (!v)
		return;
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = (sonde_str){v, vlen};
}

static void rs_set_int(size_t *used, const char *key, int64_t v)
{
	rs_set(used, key, strlen(key), "", 0);
	for (uint32_t i = 0; i < P.resource.attrs.count; i++)
		if (strcmp(P.resource_kv[i].key.ptr, key) == 0) {
			P.resource_kv[i].value.kind = SONDE_VAL_INT;
			P.resource_kv[i].value.u.i = v;
		}
}

static int rs_member(void *ud, const char *key, const char *value, size_t value_len)
{
	rs_set(ud, key, strlen(key), value, value_len);
	return 0;
}

/* Parses "k=v,k2=v2" (values percent-decoded, blanks around items ignored) into the
 * resource; bad members are reported and skipped. */
static void rs_parse_list(size_t *used, const char *list, const char *origin)
{
	sonde__kvlist_parse(list, origin, rs_member, used);
}

static void build_resource(const sonde_trace_config *cfg)
{
	size_t used = 0;
	memset(&P.resource, 0, sizeof(P.resource));
	P.resource.attrs.items = P.resource_kv;
	P.resource.schema_url = (sonde_str){"", 0};
	char exe[PATH_MAX] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *exe_name = "unknown";
	if (n > 0) {
		exe[n] = '\0';
		const char *slash = strrchr(exe, '/');
		exe_name = slash ? slash + 1 : exe;
	}
	char def_service[sizeof("unknown_service:") + PATH_MAX];
	snprintf(def_service, sizeof(def_service), "unknown_service:%s", exe_name);
	rs_set(&used, "service.name", 12, def_service, strlen(def_service));
	rs_set(&used, "telemetry.sdk.name", 18, "sonde", 5);
	rs_set(&used, "telemetry.sdk.language", 22, "c", 1);
	rs_set(&used, "telemetry.sdk.version", 21, SONDE_VERSION, strlen(SONDE_VERSION));
	char host[256] = "";
	if (gethostname(host, sizeof(host) - 1) == 0)
		rs_set(&used, "host.name", 9, host, strlen(host));
	rs_set(&used, "process.executable.name", 23, exe_name, strlen(exe_name));
	rs_set_int(&used, "process.pid", (int64_t)getpid());
	const char *env = getenv("OTEL_RESOURCE_ATTRIBUTES");
	if (env)
		rs_parse_list(&used, env, "OTEL_RESOURCE_ATTRIBUTES");
	const char *svc = getenv("OTEL_SERVICE_NAME");
	if (svc && *svc)
		rs_set(&used, "service.name", 12, svc, strlen(svc));
	if (cfg && cfg->resource_attributes)
		rs_parse_list(&used, cfg->resource_attributes, "resource_attributes");
	if (cfg && cfg->service_name)
		rs_set(&used, "service.name", 12, cfg->service_name, strlen(cfg->service_name));
	if (cfg && cfg->service_version)
		rs_set(&used, "service.version", 15, cfg->service_version, strlen(cfg->service_version));
}

/* ---- Tracers ----------------------------------------------------------------------- */

/* A tracer and its model scope, allocated together. */
typedef struct tracer_box {
	sonde_tracer t;
	sonde_scope scope;
} tracer_box;

static sonde_tracer noop_tracer = {.name = (char *)"", .version = (char *)"", .schema_url = (char *)""};

static bool str_eq_opt(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

sonde_tracer *sonde_tracer_get(const char *scope_name, const char *scope_version, const char *schema_url)
{
	if (!scope_name)
		scope_name = "";
	pthread_mutex_lock(&P.mu);
	for (sonde_tracer *t = P.tracers; t; t = t->next) {
		if (strcmp(t->name, scope_name) == 0 && str_eq_opt(t->version, scope_version) &&
		    str_eq_opt(t->schema_url, schema_url)) {
			pthread_mutex_unlock(&P.mu);
			return t;
		}
	}
	tracer_box *b = calloc(1, sizeof(*b));
	char *name = strdup(scope_name), *ver = strdup(scope_version ? scope_version : ""),
	     *url = strdup(schema_url ? schema_url : "");
	if (!b || !name || !ver || !url) {
		free(b);
		free(name);
		free(ver);
		free(url);
		pthread_mutex_unlock(&P.mu);
		return &noop_tracer;
	}
	b->t.name = name;
	b->t.version = ver;
	b->t.schema_url = url;
	b->t.index = P.tracers_count++;
	b->scope.name = (sonde_str){name, strlen(name)};
	b->scope.version = (sonde_str){ver, strlen(ver)};
	b->scope.schema_url = (sonde_str){url, strlen(url)};
	b->t.next = P.tracers;
	P.tracers = &b->t;
	pthread_mutex_unlock(&P.mu);
	return &b->t;
}

static const sonde_scope *tracer_scope(const sonde_tracer *t)
{
	static const sonde_scope empty_scope = {{"", 0}, {"", 0}, {NULL, 0}, 0, {"", 0}};
	if (!t || t == &noop_tracer)
		return &empty_scope;
	return &((const tracer_box *)t)->scope;
}

/* ---- Thread buffers ---------------------------------------------------------------- */

static void thread_exit(void *arg)
{
	sonde__thread *th = arg;
	atomic_store_explicit(&th->exited, true, memory_order_release);
	sonde__tls_thread = &sonde__no_thread;
}

static void make_key(void)
{
	pthread_key_create(&thread_key, thread_exit);
}

static int ring_init(sonde__ring *r, uint32_t cap)
{
	r->items = calloc(cap, sizeof(*r->items));
	if (!r->items)
		return -ENOMEM;
	r->mask = cap - 1;
	r->tail_limit = cap;
	return 0;
}

static void thread_free(sonde__thread *th)
{
	free(th->done.items);
	free(th->freed.items);
	free(th->free_stack);
	free(th->slab);
	free(th);
}

/* Whether the CPU has RDTSCP (CPUID 0x80000001, EDX bit 27): every CPU with an invariant
 * TSC does, but a hypervisor may hide it. */
static bool cpu_has_rdtscp(void)
{
#if SONDE_CLOCK_HAVE_TSC
	unsigned a, b, c, d;
	return __get_cpuid(0x80000001u, &a, &b, &c, &d) && ((d >> 27) & 1);
#else
	return false;
#endif
}

static void seed(sonde__thread *th)
{
	if (getrandom(th->rng, sizeof(th->rng), GRND_NONBLOCK) != (ssize_t)sizeof(th->rng)) {
		th->rng[0] = sonde_clock_ticks() ^ (uint64_t)(uintptr_t)th;
		th->rng[1] = (uint64_t)getpid();
	}
	th->rng[0] ^= th->rng[1];
}

/* Readies the thread's root slot (see "Root slot" in runtime_internal.h): the header fields
 * a non-recording root keeps, written once; starting it writes only its state and flags. */
static void root_slot_init(sonde__thread *th)
{
	sonde_span *r = (sonde_span *)((char *)th->slab + (size_t)th->nslots * SONDE__SLOT_SIZE);
	memset(r, 0, sizeof(*r));
	r->state = SLOT_FREE;
	r->kind = SONDE_SPAN_KIND_INTERNAL;
	r->status = SONDE_STATUS_UNSET;
	r->trace_flags = SONDE_TRACE_FLAG_RANDOM;
	r->owner = th;
	r->tail = r;
	r->data[0] = 0;
	th->root = r;
}

/* Slow path of sonde__thread_get: the thread's first span. */
static sonde__thread *thread_create(void)
{
	pthread_once(&key_once, make_key);
	uint32_t n = P.slots_per_thread ? P.slots_per_thread : 2048;
	sonde__thread *th = calloc(1, sizeof(*th));
	if (!th)
		return NULL;
	th->nslots = n;
	th->slab = aligned_alloc(64, (size_t)(n + 1) * SONDE__SLOT_SIZE); /* + the root slot */
	th->free_stack = malloc(n * sizeof(*th->free_stack));
	if (!th->slab || !th->free_stack || ring_init(&th->done, 2 * n) < 0 || ring_init(&th->freed, n) < 0) {
		thread_free(th);
		return NULL;
	}
	/* Stack order: the first slots pop first, so a quiet thread touches few pages. */
	for (uint32_t i = 0; i < n; i++) {
		sonde_span *s = (sonde_span *)((char *)th->slab + (size_t)(n - 1 - i) * SONDE__SLOT_SIZE);
		sonde__slot_clean(s);
		s->state = SLOT_FREE;
		s->owner = th; /* for good: see slot_reset */
		th->free_stack[i] = s;
	}
	th->free_count = n;
	root_slot_init(th);
	seed(th);
	pthread_mutex_lock(&P.mu);
	th->fork_gen = P.fork_gen;
	th->next = P.threads;
	P.threads = th;
	pthread_mutex_unlock(&P.mu);
	pthread_setspecific(thread_key, th);
	sonde__tls_thread = th;
	return th;
}

sonde__thread *sonde__thread_create(void)
{
	if (!__atomic_load_n(&sonde__tracing_on, __ATOMIC_RELAXED))
		return NULL;
	return thread_create();
}

/* ---- Decoding a span's item stream into the model ---------------------------------- */

typedef struct decoder {
	sonde_batch *b;
	sonde_buf stream; /* a span's items, gathered from its slots */
	sonde_kv *kvs;    /* scratch for span attributes */
	size_t kvs_cap;
	sonde_span_event *events;
	size_t events_cap;
	sonde_span_link *links;
	size_t links_cap;
	sonde_buf text; /* a log value being redacted */
	uint64_t rng;   /* ids of spans that ended without them (SF_LAZY_IDS) */
} decoder;

typedef struct cursor {
	const uint8_t *p, *end;
} cursor;

static bool take(cursor *c, void *out, size_t n)
{
	if ((size_t)(c->end - c->p) < n)
		return false;
	memcpy(out, c->p, n);
	c->p += n;
	return true;
}

static bool take_str(cursor *c, decoder *d, size_t n, bool intern, sonde_str *out)
{
	if ((size_t)(c->end - c->p) < n)
		return false;
	*out = intern ? sonde_batch_intern(d->b, (const char *)c->p, n)
	              : sonde_batch_strdup(d->b, (const char *)c->p, n);
	c->p += n;
	return out->ptr != NULL;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

/* Decodes one ATTR item's body (after its tag) into kv. */
static bool decode_attr(cursor *c, decoder *d, sonde_kv *kv)
{
	uint8_t type;
	uint16_t klen;
	if (!take(c, &type, 1) || !take(c, &klen, 2) || !take_str(c, d, klen, true, &kv->key))
		return false;
	sonde_value *v = &kv->value;
	uint32_t n;
	switch (type) {
	case SONDE_ATTR_STRING:
		v->kind = SONDE_VAL_STRING;
		return take(c, &n, 4) && take_str(c, d, n, n <= 16, &v->u.str);
	case SONDE_ATTR_BOOL: {
		uint8_t b;
		v->kind = SONDE_VAL_BOOL;
		if (!take(c, &b, 1))
			return false;
		v->u.b = b != 0;
		return true;
	}
	case SONDE_ATTR_INT: v->kind = SONDE_VAL_INT; return take(c, &v->u.i, 8);
	case SONDE_ATTR_DOUBLE: v->kind = SONDE_VAL_DOUBLE; return take(c, &v->u.d, 8);
	default: break;
	}
	if (!take(c, &n, 4) || n > (size_t)(c->end - c->p))
		return false;
	v->kind = SONDE_VAL_ARRAY;
	v->u.array.count = n;
	v->u.array.items = sonde_batch_alloc(d->b, (size_t)n * sizeof(sonde_value) + 1);
	if (!v->u.array.items)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		sonde_value *e = &v->u.array.items[i];
		uint32_t len;
		uint8_t b;
		switch (type) {
		case SONDE_ATTR_STRING_ARRAY:
			e->kind = SONDE_VAL_STRING;
			if (!take(c, &len, 4) || !take_str(c, d, len, len <= 16, &e->u.str))
				return false;
			break;
		case SONDE_ATTR_BOOL_ARRAY:
			e->kind = SONDE_VAL_BOOL;
			if (!take(c, &b, 1))
				return false;
			e->u.b = b != 0;
			break;
		case SONDE_ATTR_INT_ARRAY:
			e->kind = SONDE_VAL_INT;
			if (!take(c, &e->u.i, 8))
				return false;
			break;
		case SONDE_ATTR_DOUBLE_ARRAY:
			e->kind = SONDE_VAL_DOUBLE;
			if (!take(c, &e->u.d, 8))
				return false;
			break;
		default: return false;
		}
	}
	return true;
}

/* Reads n ATTR items into a new arena array (later duplicates of a key replace earlier). */
static bool decode_attr_list(cursor *c, decoder *d, uint32_t n, sonde_attrs *out)
{
	out->count = 0;
	out->items = n ? sonde_batch_alloc(d->b, n * sizeof(sonde_kv)) : NULL;
	if (n && !out->items)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		uint8_t tag;
		sonde_kv kv;
		if (!take(c, &tag, 1) || tag != ITEM_ATTR || !decode_attr(c, d, &kv))
			return false;
		uint32_t j;
		for (j = 0; j < out->count; j++)
			if (out->items[j].key.ptr == kv.key.ptr)
				break;
		out->items[j] = kv;
		if (j == out->count)
			out->count++;
	}
	return true;
}

static uint64_t to_ns(uint64_t t, bool is_ns)
{
	return is_ns ? t : sonde_clock_to_ns(t);
}

/* Copies the item stream of s's chain of slots into d->stream; false when out of memory. */
static bool gather(decoder *d, const sonde_span *s)
{
	sonde_buf_reset(&d->stream);
	for (const sonde_span *t = s; t; t = t->next)
		sonde_buf_append(&d->stream, t->data, t->used);
	return !d->stream.oom;
}

/* Converts one ended span into the batch. Returns 0, 1 when filtered out, or -ENOMEM. */
static int decode_span(decoder *d, const sonde_span *s)
{
	if (!gather(d, s))
		return -ENOMEM;
	uint64_t start = to_ns(s->start, s->sflags & SF_START_NS), end = to_ns(s->end, s->sflags & SF_END_NS);
	if (end < start)
		end = start;
	if (P.min_duration_ns && end - start < P.min_duration_ns && s->status != SONDE_STATUS_ERROR)
		return 1;
	size_t mark = d->b->spans_count;
	sonde_span_data *sp = sonde_batch_add_span(d->b, &P.resource, tracer_scope(s->tracer));
	if (!sp)
		return -ENOMEM;
	if (s->sflags & SF_LAZY_IDS) {
		/* Nothing asked for this span's ids while it ran: they are made here. */
		if (s->sflags & SF_LAZY_TRACE_ID) {
			sonde__new_trace_id(&d->rng, sp->trace_id);
		} else {
			memcpy(sp->trace_id, s->trace_id, 16);
		}
		uint64_t id = sonde__wyrand(&d->rng);
		id |= id == 0;
		memcpy(sp->span_id, &id, 8);
	} else {
		memcpy(sp->trace_id, s->trace_id, 16);
		memcpy(sp->span_id, s->span_id, 8);
	}
	memcpy(sp->parent_span_id, s->parent_id, 8);
	/* OTLP SpanFlags: bit 8 says whether the parent is remote is known, bit 9 says it is. */
	sp->flags = s->trace_flags | 0x100u | ((s->sflags & SF_REMOTE_PARENT) ? 0x200u : 0);
	sp->kind = (sonde_span_kind)s->kind;
	sp->start_ns = start;
	sp->end_ns = end;
	sp->status_code = (sonde_status_code)s->status;
	sp->dropped_attrs_count = s->dropped_attrs;
	sp->dropped_events_count = s->dropped_events;
	sp->dropped_links_count = s->dropped_links;

	size_t nkv = 0, nev = 0, nln = 0, nru = 0;
	uint64_t ru[2][3];
	cursor c = {(const uint8_t *)d->stream.data, (const uint8_t *)d->stream.data + d->stream.len};
	bool ok = true;
	while (ok && c.p < c.end) {
		uint8_t tag = *c.p++;
		uint16_t len;
		switch (tag) {
		case ITEM_NAME: ok = take(&c, &len, 2) && take_str(&c, d, len, true, &sp->name); break;
		case ITEM_STATUS_MSG:
			ok = take(&c, &len, 2) && take_str(&c, d, len, false, &sp->status_message);
			break;
		case ITEM_TRACE_STATE:
			ok = take(&c, &len, 2) && take_str(&c, d, len, true, &sp->trace_state);
			break;
		case ITEM_ATTR: {
			sonde_kv kv;
			ok = decode_attr(&c, d, &kv) &&
			     grow((void **)&d->kvs, &d->kvs_cap, nkv + 1, sizeof(sonde_kv)) == 0;
			if (!ok)
				break;
			size_t j;
			for (j = 0; j < nkv; j++)
				if (d->kvs[j].key.ptr == kv.key.ptr)
					break;
			d->kvs[j] = kv;
			if (j == nkv)
				nkv++;
			break;
		}
		case ITEM_EVENT: {
			uint8_t is_ns;
			uint16_t nlen;
			uint32_t nattrs, dropped;
			uint64_t t;
			ok = grow((void **)&d->events, &d->events_cap, nev + 1, sizeof(sonde_span_event)) ==
			     0;
			sonde_span_event *e = ok ? &d->events[nev] : NULL;
			ok = ok && take(&c, &is_ns, 1) && take(&c, &nlen, 2) && take(&c, &nattrs, 4) &&
			     take(&c, &dropped, 4) && take(&c, &t, 8) &&
			     take_str(&c, d, nlen, true, &e->name) &&
			     decode_attr_list(&c, d, nattrs, &e->attrs);
			if (ok) {
				e->time_ns = to_ns(t, is_ns);
				e->dropped_attrs_count = dropped;
				nev++;
			}
			break;
		}
		case ITEM_LINK: {
			uint16_t tslen;
			uint32_t flags, nattrs, dropped;
			ok = grow((void **)&d->links, &d->links_cap, nln + 1, sizeof(sonde_span_link)) == 0;
			sonde_span_link *l = ok ? &d->links[nln] : NULL;
			ok = ok && take(&c, l->trace_id, 16) && take(&c, l->span_id, 8) &&
			     take(&c, &flags, 4) && take(&c, &tslen, 2) && take(&c, &nattrs, 4) &&
			     take(&c, &dropped, 4) && take_str(&c, d, tslen, true, &l->trace_state) &&
			     decode_attr_list(&c, d, nattrs, &l->attrs);
			if (ok) {
				l->flags = flags | 0x100u;
				l->dropped_attrs_count = dropped;
				nln++;
			}
			break;
		}
		case ITEM_RUSAGE:
			ok = take(&c, ru[nru < 2 ? nru : 1], sizeof(ru[0]));
			nru++;
			break;
		default: ok = false; break;
		}
	}
	/* Resource usage: the start reading, then the end one (missing when the span's slots
	 * ran out at its end: then there is nothing to record). */
	if (ok && nru == 2 && grow((void **)&d->kvs, &d->kvs_cap, nkv + 3, sizeof(sonde_kv)) == 0) {
		static const char *const keys[] = {"thread.cpu_time_ns", "process.page_faults.minor",
		                                   "process.page_faults.major"};
		const uint64_t vals[] = {ru[1][0] - ru[0][0], ru[1][1] - ru[0][1], ru[1][2] - ru[0][2]};
		for (int i = 0; i < 3; i++) {
			d->kvs[nkv].key = sonde_batch_intern(d->b, keys[i], strlen(keys[i]));
			d->kvs[nkv].value.kind = SONDE_VAL_INT;
			d->kvs[nkv].value.u.i = (int64_t)vals[i];
			nkv++;
		}
	}
	if (ok) {
		sp->attrs.count = (uint32_t)nkv;
		sp->attrs.items = sonde_batch_alloc(d->b, nkv * sizeof(sonde_kv) + 1);
		sp->events_count = (uint32_t)nev;
		sp->events = sonde_batch_alloc(d->b, nev * sizeof(sonde_span_event) + 1);
		sp->links_count = (uint32_t)nln;
		sp->links = sonde_batch_alloc(d->b, nln * sizeof(sonde_span_link) + 1);
		ok = sp->attrs.items && sp->events && sp->links;
	}
	if (!ok) {
		d->b->spans_count = mark;
		return -ENOMEM;
	}
	/* The scratch arrays stay NULL until first needed: copy only what exists. */
	if (nkv)
		memcpy(sp->attrs.items, d->kvs, nkv * sizeof(sonde_kv));
	if (nev)
		memcpy(sp->events, d->events, nev * sizeof(sonde_span_event));
	if (nln)
		memcpy(sp->links, d->links, nln * sizeof(sonde_span_link));
	return 0;
}

/* OpenTelemetry's short severity names: TRACE, TRACE2 ... FATAL4. */
static sonde_str severity_text(int n)
{
	static const char *const names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
	static const char *const suffixed[6][3] = {
	        {"TRACE2", "TRACE3", "TRACE4"}, {"DEBUG2", "DEBUG3", "DEBUG4"},
	        {"INFO2", "INFO3", "INFO4"},    {"WARN2", "WARN3", "WARN4"},
	        {"ERROR2", "ERROR3", "ERROR4"}, {"FATAL2", "FATAL3", "FATAL4"}};
	if (n < 1 || n > 24)
		return SONDE_STR_LIT("");
	int range = (n - 1) / 4, step = (n - 1) % 4;
	const char *t = step ? suffixed[range][step - 1] : names[range];
	return (sonde_str){t, strlen(t)};
}

/* Redacts text (orig: its length before the hot path cut it) into the batch's arena. */
static bool redact_into(decoder *d, const char *p, size_t n, size_t orig, sonde_str *out)
{
	sonde_buf_reset(&d->text);
	int k = sonde__redact_text(&P.redactor, p, n, &d->text);
	if (k < 0)
		return false;
	if (orig > n) {
		sonde_buf_printf(&d->text, "...[truncated from %zu bytes]", orig);
		k++;
	} else if (P.redactor.max_value_len && n > P.redactor.max_value_len) {
		k++;
	}
	if (d->text.oom)
		return false;
	if (k)
		atomic_fetch_add_explicit(&P.logs_redacted, (uint64_t)k, memory_order_relaxed);
	char *mem = sonde_batch_alloc(d->b, d->text.len + 1);
	if (!mem)
		return false;
	memcpy(mem, d->text.data, d->text.len);
	*out = (sonde_str){mem, d->text.len};
	return true;
}

/* Applies the redaction rules to one decoded attribute: a secret key loses its value (of
 * any type); string values lose what looks like a secret. */
static bool redact_kv(decoder *d, sonde_kv *kv, size_t orig)
{
	if (P.redactor.flags & SONDE__REDACT_OFF)
		return true;
	if (sonde__redact_key(&P.redactor, kv->key.ptr, kv->key.len)) {
		sonde_buf_reset(&d->text);
		if (sonde__redact_key_marker(kv->key.ptr, kv->key.len, &d->text) < 0 || d->text.oom)
			return false;
		char *mem = sonde_batch_alloc(d->b, d->text.len + 1);
		if (!mem)
			return false;
		memcpy(mem, d->text.data, d->text.len);
		kv->value.kind = SONDE_VAL_STRING;
		kv->value.u.str = (sonde_str){mem, d->text.len};
		atomic_fetch_add_explicit(&P.logs_redacted, 1, memory_order_relaxed);
		return true;
	}
	if (kv->value.kind == SONDE_VAL_STRING)
		return redact_into(d, kv->value.u.str.ptr, kv->value.u.str.len, orig, &kv->value.u.str);
	if (kv->value.kind == SONDE_VAL_ARRAY)
		for (uint32_t i = 0; i < kv->value.u.array.count; i++) {
			sonde_value *e = &kv->value.u.array.items[i];
			if (e->kind == SONDE_VAL_STRING &&
			    !redact_into(d, e->u.str.ptr, e->u.str.len, 0, &e->u.str))
				return false;
		}
	return true;
}

/* Converts one log record slot into the batch's logs, redacting it. Returns 0 or -ENOMEM
 * (or -EINVAL for a stream that does not parse, which cannot happen). */
static int decode_log(decoder *d, const sonde_span *s)
{
	if (!gather(d, s))
		return -ENOMEM;
	size_t mark = d->b->logs_count;
	sonde_log_data *lg = sonde_batch_add_log(d->b, &P.resource, tracer_scope(NULL));
	if (!lg)
		return -ENOMEM;
	lg->time_ns = to_ns(s->start, false);
	lg->observed_time_ns = lg->time_ns;
	lg->severity_number = s->status;
	lg->severity_text = severity_text(s->status);
	memcpy(lg->trace_id, s->trace_id, 16);
	memcpy(lg->span_id, s->span_id, 8);
	lg->flags = s->trace_flags;
	lg->dropped_attrs_count = s->dropped_attrs;
	lg->body.kind = SONDE_VAL_STRING;
	lg->body.u.str = SONDE_STR_LIT("");
	size_t nkv = 0;
	uint32_t cut = 0;
	cursor c = {(const uint8_t *)d->stream.data, (const uint8_t *)d->stream.data + d->stream.len};
	bool ok = true;
	while (ok && c.p < c.end) {
		uint8_t tag = *c.p++;
		switch (tag) {
		case ITEM_BODY: {
			uint32_t orig;
			uint16_t len;
			ok = take(&c, &orig, 4) && take(&c, &len, 2) && len <= (size_t)(c.end - c.p);
			if (ok) {
				ok = redact_into(d, (const char *)c.p, len, orig, &lg->body.u.str);
				c.p += len;
			}
			break;
		}
		case ITEM_CUT: ok = take(&c, &cut, 4); break;
		case ITEM_ATTR: {
			sonde_kv kv;
			ok = decode_attr(&c, d, &kv) && redact_kv(d, &kv, cut) &&
			     grow((void **)&d->kvs, &d->kvs_cap, nkv + 1, sizeof(sonde_kv)) == 0;
			cut = 0;
			if (ok)
				d->kvs[nkv++] = kv;
			break;
		}
		default: ok = false; break;
		}
	}
	if (ok) {
		lg->attrs.count = (uint32_t)nkv;
		lg->attrs.items = sonde_batch_alloc(d->b, nkv * sizeof(sonde_kv) + 1);
		ok = lg->attrs.items != NULL;
	}
	if (!ok) {
		d->b->logs_count = mark;
		return -ENOMEM;
	}
	if (nkv)
		memcpy(lg->attrs.items, d->kvs, nkv * sizeof(sonde_kv));
	return 0;
}

/* Returns the slots linked from s (through next), clean and FREE, to their owners' free
 * rings (the exporter thread). */
static void return_slots(sonde_span *s)
{
	while (s) {
		sonde_span *next = s->next;
		sonde__slot_clean(s);
		s->state = SLOT_FREE;
		if (!sonde__ring_push(&s->owner->freed, s))
			atomic_fetch_add(&P.dropped_dead, 1); /* cannot happen: the ring holds every slot */
		s = next;
	}
}

/* Returns every slot of a chain to its owner. Only the head's flags say what the chain is:
 * a continuation slot's sflags are whatever its memory last held (a span it headed, or the
 * bytes of a reused allocation before the slot was ever a head), so a stray SF_ROOT_SLOT
 * there must not keep the slot out of its owner's free ring. */
static void release_chain(sonde_span *s)
{
	if (s->sflags & SF_ROOT_SLOT) {
		/* A root slot (never chained) ended on another thread: its owner takes it back
		 * when it reads FREE. */
		s->sflags = 0;
		__atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELEASE);
		return;
	}
	return_slots(s);
}

/* ---- The exporter thread ----------------------------------------------------------- */

static uint64_t now_mono(void)
{
	return sonde__mono_ns();
}

static void export_batch(sonde_batch *b, uint64_t deadline)
{
	size_t n = b->spans_count, nlogs = b->logs_count;
	if (n == 0 && nlogs == 0 && b->metrics_count == 0)
		return;
	/* Group by scope so writers emit one ScopeSpans per tracer (stable: index breaks ties). */
	for (size_t i = 1; i < n; i++) {
		sonde_span_data tmp = b->spans[i];
		size_t j = i;
		while (j > 0 && b->spans[j - 1].scope > tmp.scope) {
			b->spans[j] = b->spans[j - 1];
			j--;
		}
		b->spans[j] = tmp;
	}
	bool all_ok = true;
	for (size_t i = 0; i < P.exporters_count; i++) {
		sonde_exporter *e = P.exporters[i];
		int rc = e->ops->deliver(e, b, deadline);
		if (rc < 0) {
			all_ok = false;
			sonde__diag("libsonde: exporter %s failed to deliver %zu spans, %zu log records and "
			            "%zu metrics: %s",
			            e->ops->name, n, nlogs, b->metrics_count,
			            rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
		}
	}
	if (n) {
		atomic_fetch_add(all_ok ? &P.exported : &P.failed, n);
		atomic_fetch_add(&P.batches, 1);
	}
	if (nlogs)
		atomic_fetch_add(all_ok ? &P.logs_exported : &P.logs_failed, nlogs);
	sonde_batch_clear(b);
}

/* Drains every thread's done ring into b, exporting whenever b reaches the batch size.
 * Returns the number of spans taken. Frees the buffers of exited threads whose slots
 * are all back. */
static size_t drain(decoder *d, uint64_t deadline)
{
	size_t taken = 0;
	pthread_mutex_lock(&P.mu);
	sonde__thread *list = P.threads;
	pthread_mutex_unlock(&P.mu);
	for (sonde__thread *th = list; th; th = th->next) {
		/* Slots of th that another thread lost at a span's end (span.c, end_lost). */
		return_slots(atomic_exchange_explicit(&th->returned, NULL, memory_order_acquire));
		sonde_span *s;
		while ((s = sonde__ring_pop(&th->done)) != NULL) {
			taken++;
			if (s->state == SLOT_ENDED && (s->sflags & SF_LOG)) {
				if (decode_log(d, s) < 0)
					atomic_fetch_add(&P.logs_failed, 1);
			} else if (s->state == SLOT_ENDED) {
				int rc = decode_span(d, s);
				if (rc == 1)
					atomic_fetch_add(&P.filtered, 1);
				else if (rc < 0)
					atomic_fetch_add(&P.failed, 1);
			}
			release_chain(s);
			if (d->b->spans_count + d->b->logs_count >= P.batch.max_export_batch_size)
				export_batch(d->b,
				             deadline ? deadline
				                      : now_mono() + P.batch.export_timeout_ms * 1000000ull);
		}
	}
	/* Reclaim exited threads. New threads are only ever pushed at the head, so unlinking
	 * behind the head under the lock is safe against concurrent registration. */
	pthread_mutex_lock(&P.mu);
	for (sonde__thread **pp = &P.threads; *pp;) {
		sonde__thread *th = *pp;
		if (atomic_load_explicit(&th->exited, memory_order_acquire) &&
		    atomic_load_explicit(&th->done.tail, memory_order_acquire) ==
		            atomic_load_explicit(&th->done.head, memory_order_relaxed) &&
		    th->free_count + (atomic_load_explicit(&th->freed.tail, memory_order_acquire) -
		                      atomic_load_explicit(&th->freed.head, memory_order_relaxed)) ==
		            th->nslots &&
		    __atomic_load_n(&th->root->state, __ATOMIC_ACQUIRE) == SLOT_FREE) {
			*pp = th->next;
			atomic_fetch_add(&P.started_dead,
			                 atomic_load_explicit(&th->started, memory_order_relaxed));
			atomic_fetch_add(&P.ended_dead,
			                 atomic_load_explicit(&th->ended, memory_order_relaxed));
			atomic_fetch_add(&P.dropped_dead,
			                 atomic_load_explicit(&th->dropped, memory_order_relaxed));
			atomic_fetch_add(&P.logs_dead, atomic_load_explicit(&th->logs, memory_order_relaxed));
			atomic_fetch_add(&P.logs_dropped_dead,
			                 atomic_load_explicit(&th->logs_dropped, memory_order_relaxed));
			thread_free(th);
			continue;
		}
		pp = &th->next;
	}
	pthread_mutex_unlock(&P.mu);
	return taken;
}

/* Frees the provider's exporters (they are owned from init on). Called with P.mu held,
 * once no thread can use them. */
static void free_exporters(void)
{
	for (size_t i = 0; i < P.exporters_count; i++)
		sonde_exporter_free(P.exporters[i]);
	P.exporters_count = 0;
}

static void *exporter_main(void *arg)
{
	(void)arg;
	decoder d = {0};
	d.b = sonde_batch_new();
	if (getrandom(&d.rng, sizeof(d.rng), GRND_NONBLOCK) != (ssize_t)sizeof(d.rng))
		d.rng = sonde_clock_ticks() ^ (uint64_t)(uintptr_t)&d;
	uint64_t last_export = now_mono(), sleep_ns = 1000000, last_metrics = last_export;
	for (;;) {
		pthread_mutex_lock(&P.mu);
		bool stop = P.stop;
		uint64_t flush_ticket = P.flush_requested;
		bool flushing = flush_ticket != P.flush_completed;
		if (!stop && !flushing) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + sleep_ns;
			ts.tv_sec = (time_t)(at / 1000000000u);
			ts.tv_nsec = (long)(at % 1000000000u);
			pthread_cond_timedwait(&P.wake, &P.mu, &ts);
			stop = P.stop;
			flush_ticket = P.flush_requested;
			flushing = flush_ticket != P.flush_completed;
		}
		uint64_t stop_deadline = P.stop_deadline;
		pthread_mutex_unlock(&P.mu);

		uint64_t deadline = stop ? stop_deadline : 0;
		size_t got = drain(&d, deadline);
		sleep_ns = got ? 1000000 : (sleep_ns * 2 > 50000000 ? 50000000 : sleep_ns * 2);
		uint64_t now = now_mono();
		/* Metrics: collected every interval, and at a flush or the stop. */
		if (P.metric_reader && (flushing || stop || now - last_metrics >= P.metrics_interval_ns)) {
			if (sonde_metric_reader_collect(P.metric_reader, d.b) < 0)
				sonde__diag("libsonde: collecting metrics ran out of memory");
			last_metrics = now;
		}
		size_t pending = d.b->spans_count + d.b->logs_count + d.b->metrics_count;
		if (pending && (flushing || stop ||
		                now - last_export >= (uint64_t)P.batch.schedule_delay_ms * 1000000u)) {
			export_batch(d.b, deadline ? deadline
			                           : now + (uint64_t)P.batch.export_timeout_ms * 1000000u);
			last_export = now_mono();
		} else if (!pending) {
			last_export = now;
		}
		if (flushing || stop) {
			uint64_t fdl =
			        stop ? stop_deadline : now + (uint64_t)P.batch.export_timeout_ms * 1000000u;
			for (size_t i = 0; i < P.exporters_count; i++)
				if (P.exporters[i]->ops->force_flush)
					P.exporters[i]->ops->force_flush(P.exporters[i], fdl);
			sonde_clock_recalibrate();
			pthread_mutex_lock(&P.mu);
			P.flush_completed = flush_ticket;
			pthread_cond_broadcast(&P.done);
			pthread_mutex_unlock(&P.mu);
		}
		if (stop)
			break;
	}
	sonde_batch_free(d.b);
	sonde_buf_release(&d.stream);
	free(d.kvs);
	free(d.events);
	free(d.links);
	sonde_buf_release(&d.text);
	pthread_mutex_lock(&P.mu);
	if (P.orphaned) {
		free_exporters();
		P.orphaned = false;
	}
	P.thread_alive = false;
	pthread_mutex_unlock(&P.mu);
	return NULL;
}

/* Starts the exporter thread if it is not running. Called with P.mu held. */
static void ensure_exporter_locked(void)
{
	if (P.running || !P.initialised || P.stop)
		return;
	/* Block signals in the exporter thread: the application's handlers must not run there. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&P.thread, NULL, exporter_main, NULL) == 0)
		P.running = P.thread_alive = true;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void sonde__exporter_kick(void)
{
	pthread_cond_signal(&P.wake);
	if (!P.running) {
		pthread_mutex_lock(&P.mu);
		ensure_exporter_locked();
		pthread_mutex_unlock(&P.mu);
	}
}

/* Zeroes every counter behind sonde_tracer_stats_get (with P.mu held, or in a fork child). */
static void reset_stats(void)
{
	for (sonde__thread *th = P.threads; th; th = th->next) {
		atomic_store_explicit(&th->started, 0, memory_order_relaxed);
		atomic_store_explicit(&th->ended, 0, memory_order_relaxed);
		atomic_store_explicit(&th->dropped, 0, memory_order_relaxed);
	}
	atomic_store(&P.exported, 0);
	atomic_store(&P.failed, 0);
	atomic_store(&P.filtered, 0);
	atomic_store(&P.batches, 0);
	atomic_store(&P.dropped_dead, 0);
	atomic_store(&P.started_dead, 0);
	atomic_store(&P.ended_dead, 0);
	for (sonde__thread *th = P.threads; th; th = th->next) {
		atomic_store_explicit(&th->logs, 0, memory_order_relaxed);
		atomic_store_explicit(&th->logs_dropped, 0, memory_order_relaxed);
	}
	atomic_store(&P.logs_dead, 0);
	atomic_store(&P.logs_dropped_dead, 0);
	atomic_store(&P.logs_exported, 0);
	atomic_store(&P.logs_failed, 0);
	atomic_store(&P.logs_redacted, 0);
	atomic_store(&sonde__log_suppressed, 0);
}

/* ---- fork ---------------------------------------------------------------------------- */

static void atfork_prepare(void)
{
	pthread_mutex_lock(&P.mu);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&P.mu);
}

static void atfork_child(void)
{
	/* The mutex was held across fork by this thread: re-create rather than unlock, so
	 * nothing of the parent's waiters survives. */
	pthread_mutex_init(&P.mu, NULL);
	pthread_cond_init(&P.wake, NULL);
	pthread_cond_init(&P.done, NULL);
	P.running = P.thread_alive = P.orphaned = false;
	P.flush_completed = P.flush_requested;
	P.fork_gen++;
	sonde__thread *me = sonde__tls_thread != &sonde__no_thread ? sonde__tls_thread : NULL;
	/* Other threads do not exist here: forget their buffers (their memory is leaked on
	 * purpose: a slot of theirs may still be referenced from this thread's stack). */
	P.threads = NULL;
	if (me) {
		me->next = NULL;
		P.threads = me;
		/* Open spans on this thread's stack stay usable for propagation but record
		 * nothing: the parent exports them. Everything else becomes free. */
		uint32_t d = me->depth < SONDE__STACK_DEPTH ? me->depth : SONDE__STACK_DEPTH;
		for (uint32_t i = 0; i < d; i++)
			if (me->stack[i]->owner == me && me->stack[i]->state == SLOT_RECORDING)
				me->stack[i]->state = SLOT_NONRECORDING;
		atomic_store(&me->done.head, 0);
		atomic_store(&me->done.tail, 0);
		me->done.tail_limit = me->done.mask + 1;
		me->done.tail_cache = 0;
		atomic_store(&me->freed.head, 0);
		atomic_store(&me->freed.tail, 0);
		me->freed.tail_limit = me->freed.mask + 1;
		me->freed.tail_cache = 0;
		me->free_count = 0;
		atomic_store(&me->returned, NULL); /* its slots are freed below */
		for (uint32_t i = 0; i < me->nslots; i++) {
			sonde_span *s = (sonde_span *)((char *)me->slab +
			                               (size_t)(me->nslots - 1 - i) * SONDE__SLOT_SIZE);
			bool open = false;
			for (uint32_t k = 0; k < d; k++)
				for (sonde_span *c = me->stack[k]; c; c = c->next)
					open |= c == s;
			if (open)
				continue;
			sonde__slot_free(me, s);
		}
		/* The root slot likewise, unless open here (it may have been in flight). */
		bool root_open = false;
		for (uint32_t k = 0; k < d; k++)
			root_open |= me->stack[k] == me->root;
		if (!root_open) {
			me->root->state = SLOT_FREE;
			me->root->sflags = 0;
			me->root->nest = 0;
		}
		seed(me);
	}
	reset_stats();
	for (uint32_t i = 0; i < P.resource.attrs.count; i++)
		if (strcmp(P.resource_kv[i].key.ptr, "process.pid") == 0)
			P.resource_kv[i].value.u.i = (int64_t)getpid();
	for (size_t i = 0; i < P.exporters_count; i++)
		if (P.exporters[i]->ops->after_fork_child)
			P.exporters[i]->ops->after_fork_child(P.exporters[i]);
}

/* ---- Init, flush, shutdown, stats --------------------------------------------------- */

sonde_exporter *sonde__exporter_by_name(const char *name, size_t n)
{
	if (n == 4 && memcmp(name, "otlp", 4) == 0)
		return sonde_exporter_otlp_http_new(NULL);
	if (n == 6 && memcmp(name, "zipkin", 6) == 0)
		return sonde_exporter_zipkin_new(NULL, 0);
	if (n == 7 && memcmp(name, "console", 7) == 0)
		return sonde_exporter_console_new(2);
	sonde__diag("libsonde: OTEL_TRACES_EXPORTER names unknown exporter \"%.*s\"", (int)n, name);
	return NULL;
}

static void register_atfork(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

/* ---- libsonde's own metrics ----------------------------------------------------------- */

/* What the tracing pipeline did, as the OpenTelemetry semantic conventions for SDK
 * metrics name it, read from sonde_tracer_stats_get at each collection. */
enum { SELF_STARTED, SELF_LIVE, SELF_PROCESSED, SELF_EXPORTED, SELF_FILTERED, SELF_RETRIES };

static bool stats_try(sonde_tracer_stats *out);

static void observe_self(sonde_observer *o, void *ud)
{
	sonde_tracer_stats st;
	stats_try(&st);
	switch ((int)(intptr_t)ud) {
	case SELF_STARTED: sonde_observe_int(o, (int64_t)st.spans_started, NULL, 0); break;
	case SELF_LIVE: sonde_observe_int(o, (int64_t)(st.spans_started - st.spans_ended), NULL, 0); break;
	case SELF_PROCESSED: {
		/* Spans the processor handed on (to the exporters or the duration filter), and
		 * spans dropped because a buffer was full (at start, for want of a slot, or at
		 * end, the queue to the exporter thread being full). */
		sonde_attr full = SONDE_ATTR_STR("error.type", "queue_full");
		sonde_observe_int(o, (int64_t)(st.spans_exported + st.spans_failed + st.spans_filtered), NULL,
		                  0);
		sonde_observe_int(o, (int64_t)st.spans_dropped, &full, 1);
		break;
	}
	case SELF_EXPORTED: {
		sonde_attr failed = SONDE_ATTR_STR("error.type", "export_failed");
		sonde_observe_int(o, (int64_t)st.spans_exported, NULL, 0);
		sonde_observe_int(o, (int64_t)st.spans_failed, &failed, 1);
		break;
	}
	case SELF_FILTERED: sonde_observe_int(o, (int64_t)st.spans_filtered, NULL, 0); break;
	case SELF_RETRIES: sonde_observe_int(o, (int64_t)st.export_retries, NULL, 0); break;
	}
}

static void register_self_metrics(void)
{
	static const struct {
		sonde_instrument_kind kind;
		const char *name, *unit, *description;
	} defs[] = {
	        [SELF_STARTED] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, "otel.sdk.span.started", "{span}",
	                          "Sampled spans started by libsonde"},
	        [SELF_LIVE] = {SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER, "otel.sdk.span.live", "{span}",
	                       "Sampled spans started and not yet ended"},
	        [SELF_PROCESSED] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, "otel.sdk.processor.span.processed",
	                            "{span}", "Spans the batch processor took, or dropped (error.type)"},
	        [SELF_EXPORTED] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, "otel.sdk.exporter.span.exported",
	                           "{span}", "Spans every exporter accepted, or given up (error.type)"},
	        [SELF_FILTERED] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, "sonde.tracer.span.filtered",
	                           "{span}", "Spans shorter than the minimum duration, not exported"},
	        [SELF_RETRIES] = {SONDE_INSTRUMENT_OBSERVABLE_COUNTER, "sonde.tracer.export.retries",
	                          "{request}", "Export requests retried"},
	};
	sonde_meter *m = sonde_meter_get("libsonde", SONDE_VERSION, NULL);
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		sonde_instrument_opts o = {.kind = defs[i].kind,
		                           .name = defs[i].name,
		                           .unit = defs[i].unit,
		                           .description = defs[i].description,
		                           .value_type = SONDE_METRIC_INT,
		                           .callback = observe_self,
		                           .callback_ud = (void *)(intptr_t)i};
		sonde_instrument_new(m, &o);
	}
}

/* Log settings: programmatic, then environment, then defaults. Called with P.mu held. */
static void init_logs(const sonde_log_config *lc)
{
	static const char *const levels[] = {"trace", "debug", "info", "warn", "error", "fatal"};
	int level = __atomic_load_n(&sonde__log_level_set, __ATOMIC_RELAXED);
	if (!level)
		level = lc->level;
	if (!level) {
		int k = sonde__env_choice("SONDE_LOG_LEVEL", levels, 6);
		level = k >= 0 ? 1 + 4 * k : SONDE_LOG_INFO;
	}
	P.log_level = level;
	sonde__log_rate_limit = pick(lc->rate_limit, "SONDE_LOG_RATE_LIMIT", NULL, 100);
	uint32_t vmax = lc->max_value_length ? lc->max_value_length : 4096;
	sonde__log_value_max = vmax > UINT16_MAX ? UINT16_MAX : vmax;
	double tps = sonde_clock_ticks_per_sec();
	sonde__log_ticks_per_sec = tps >= 1 ? (uint64_t)tps : 1000000000u;
	unsigned flags = 0;
	bool b;
	if (lc->redact_off || (sonde__env_bool("SONDE_LOG_REDACT", &b) > 0 && !b))
		flags |= SONDE__REDACT_OFF;
	if (lc->redact_email || (sonde__env_bool("SONDE_LOG_REDACT_EMAIL", &b) > 0 && b))
		flags |= SONDE__REDACT_EMAIL;
	free(P.redact_keys);
	P.redact_keys = NULL;
	if (lc->redact_keys)
		P.redact_keys = strdup(lc->redact_keys);
	else
		sonde__env_str("SONDE_LOG_REDACT_KEYS", &P.redact_keys);
	P.redactor = (sonde__redactor){
	        .flags = flags, .max_value_len = sonde__log_value_max, .extra_keys = P.redact_keys};
}

/* Sets sonde__share_mask and sonde__share_want (runtime_internal.h) from fast_ok and the
 * plan's child rule. */
static void share_rule_set(void)
{
	uint8_t tf_mask = 0, want_state = SLOT_NONRECORDING;
	if (sonde__plan.child == SONDE__FAST_FOLLOW)
		tf_mask = SONDE_TRACE_FLAG_SAMPLED; /* an unsampled parent only */
	else if (sonde__plan.child != SONDE__FAST_OFF)
		want_state = 0xff; /* no span has this state: never shared */
	if (!sonde__fast_ok)
		want_state = 0xff;
	sonde__share_mask = sonde__head32(0xff, tf_mask, SF_DETACHED);
	sonde__share_want = sonde__head32(want_state, 0, 0);
}

int sonde_trace_init(const sonde_trace_config *cfg)
{
	static pthread_once_t self_metrics_once = PTHREAD_ONCE_INIT;
	pthread_once(&self_metrics_once, register_self_metrics);
	static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
	static const sonde_trace_config empty;
	/* OTEL_CONFIG_FILE: the file under the environment under cfg (config.h). */
	if (!sonde__config_applying()) {
		const char *file = sonde__env_get("OTEL_CONFIG_FILE");
		if (!file)
			file = sonde__env_get("OTEL_EXPERIMENTAL_CONFIG_FILE");
		if (file)
			return sonde__config_init_from_env(file, cfg);
		/* Exporters per signal: the configuration path without a file (config.c). */
		if (sonde__env_get("OTEL_METRICS_EXPORTER") || sonde__env_get("OTEL_LOGS_EXPORTER"))
			return sonde__config_init_from_env(NULL, cfg);
	}
	if (!cfg)
		cfg = &empty;
	const char *disabled = getenv("OTEL_SDK_DISABLED");
	pthread_mutex_lock(&P.mu);
	if (P.initialised || P.thread_alive) {
		/* Already running, or the exporter thread of a shutdown that timed out is still
		 * inside its export call. */
		bool busy = !P.initialised;
		pthread_mutex_unlock(&P.mu);
		return busy ? -EBUSY : -EALREADY;
	}
	sonde_clock_init();
	build_resource(cfg);
	const sonde_span_limits *l = &cfg->limits;
	sonde__limits.attribute_count = pick(l->attribute_count, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
	                                     "OTEL_ATTRIBUTE_COUNT_LIMIT", 128);
	sonde__limits.attribute_value_length =
	        pick(l->attribute_value_length, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT",
	             "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 0);
	sonde__limits.event_count = pick(l->event_count, "OTEL_SPAN_EVENT_COUNT_LIMIT", NULL, 128);
	sonde__limits.link_count = pick(l->link_count, "OTEL_SPAN_LINK_COUNT_LIMIT", NULL, 128);
	sonde__limits.event_attribute_count =
	        pick(l->event_attribute_count, "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", NULL, 128);
	sonde__limits.link_attribute_count =
	        pick(l->link_attribute_count, "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", NULL, 128);
	/* Slots count attributes, events and links in 16 bits. */
	uint32_t *counts[] = {&sonde__limits.attribute_count, &sonde__limits.event_count,
	                      &sonde__limits.link_count};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		if (*counts[i] > UINT16_MAX)
			*counts[i] = UINT16_MAX;
	sonde__attr_vmax = SONDE__SLOT_DATA;
	if (sonde__limits.attribute_value_length && sonde__limits.attribute_value_length < sonde__attr_vmax)
		sonde__attr_vmax = sonde__limits.attribute_value_length;
	const sonde_batch_config *bc = &cfg->batch;
	P.batch.max_queue_size = pick(bc->max_queue_size, "OTEL_BSP_MAX_QUEUE_SIZE", NULL, 2048);
	P.batch.schedule_delay_ms = pick(bc->schedule_delay_ms, "OTEL_BSP_SCHEDULE_DELAY", NULL, 5000);
	P.batch.max_export_batch_size =
	        pick(bc->max_export_batch_size, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", NULL, 512);
	P.batch.export_timeout_ms = pick(bc->export_timeout_ms, "OTEL_BSP_EXPORT_TIMEOUT", NULL, 30000);
	if (P.batch.max_export_batch_size > P.batch.max_queue_size)
		P.batch.max_export_batch_size = P.batch.max_queue_size;
	/* Per-thread slots: the queue size rounded up to a power of two (rings need one). */
	uint32_t slots = 256;
	while (slots < P.batch.max_queue_size && slots < (1u << 20))
		slots *= 2;
	P.slots_per_thread = slots;
	P.min_duration_ns = cfg->min_duration_ns;
	sonde__rusage = cfg->record_rusage;
	/* The previous provider's sampler is freed only now, not at its shutdown: threads
	 * still starting spans as it shut down may have been reading it. */
	if (sonde__sampler && sonde__sampler != cfg->sampler)
		sonde_sampler_free(sonde__sampler);
	sonde__sampler = cfg->sampler;
	if (!sonde__sampler && getenv("OTEL_TRACES_SAMPLER"))
		sonde__sampler = sonde_sampler_from_env();
	sonde__sampler_fast_plan(sonde__sampler, &sonde__plan);
	sonde__fast_ok = !sonde__rusage;
	sonde__fast_root_off = sonde__fast_ok && sonde__plan.root == SONDE__FAST_OFF;
	share_rule_set();
	sonde__span_rdtscp = cpu_has_rdtscp();
	sonde__span_fast_clock = sonde__clock_use_tsc && !cfg->ordered_clock;
	sonde__fast_tsc = sonde__fast_ok && sonde__span_fast_clock;
	P.exporters_count = 0;
	for (size_t i = 0; i < cfg->exporters_count && i < 8; i++)
		if (cfg->exporters[i])
			P.exporters[P.exporters_count++] = cfg->exporters[i];
	if (P.exporters_count == 0) {
		const char *list = getenv("OTEL_TRACES_EXPORTER");
		if (!list || !*list)
			list = "otlp";
		for (const char *p = list; *p && P.exporters_count < 8;) {
			size_t n = strcspn(p, ",");
			while (n && *p == ' ')
				p++, n--;
			size_t m = n;
			while (m && p[m - 1] == ' ')
				m--;
			if (m && !(m == 4 && memcmp(p, "none", 4) == 0)) {
				sonde_exporter *e = sonde__exporter_by_name(p, m);
				if (e)
					P.exporters[P.exporters_count++] = e;
			}
			p += n;
			if (*p == ',')
				p++;
		}
	}
	init_logs(&cfg->logs);
	if (cfg->metrics_off) {
		sonde_metric_reader_free(P.metric_reader);
		P.metric_reader = NULL;
	} else if (!P.metric_reader) {
		P.metric_reader = sonde_metric_reader_new(SONDE_METRICS_CUMULATIVE);
	}
	uint32_t mi = cfg->metrics_interval_ms;
	if (!mi && sonde__env_ms("OTEL_METRIC_EXPORT_INTERVAL", &mi) <= 0)
		mi = 0;
	P.metrics_interval_ns = (uint64_t)(mi ? mi : 60000u) * 1000000u;
	/* Statistics count from init (a process may init again after a shutdown). */
	reset_stats();
	P.initialised = true;
	P.stop = false;
	pthread_mutex_unlock(&P.mu);
	pthread_once(&atfork_once, register_atfork);
	sonde__metrics_resource_from_tracing(cfg->service_name, cfg->service_version,
	                                     cfg->resource_attributes);
	bool off = disabled && (strcmp(disabled, "true") == 0 || strcmp(disabled, "TRUE") == 0);
	__atomic_store_n(&sonde__tracing_on, !off, __ATOMIC_RELEASE);
	__atomic_store_n(&sonde__log_min, off ? INT_MAX : P.log_level, __ATOMIC_RELAXED);
	pthread_mutex_lock(&P.mu);
	ensure_exporter_locked();
	pthread_mutex_unlock(&P.mu);
	return 0;
}

/* Waits until the exporter completed a flush requested now, or until deadline. */
static int flush_until(uint64_t deadline_real)
{
	pthread_mutex_lock(&P.mu);
	if (!P.running) {
		ensure_exporter_locked();
		if (!P.running) {
			pthread_mutex_unlock(&P.mu);
			return P.initialised ? -ECHILD : 0;
		}
	}
	uint64_t ticket = ++P.flush_requested;
	pthread_cond_signal(&P.wake);
	int rc = 0;
	while (P.flush_completed < ticket && P.running) {
		struct timespec ts = {(time_t)(deadline_real / 1000000000u),
		                      (long)(deadline_real % 1000000000u)};
		if (pthread_cond_timedwait(&P.done, &P.mu, &ts) == ETIMEDOUT) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&P.mu);
	return rc;
}

int sonde_trace_force_flush(uint32_t timeout_ms)
{
	if (!P.initialised)
		return 0;
	return flush_until(sonde_clock_realtime_ns() + (uint64_t)timeout_ms * 1000000u);
}

int sonde_trace_shutdown(uint32_t timeout_ms)
{
	pthread_mutex_lock(&P.mu);
	if (!P.initialised) {
		pthread_mutex_unlock(&P.mu);
		return 0;
	}
	pthread_mutex_unlock(&P.mu);
	uint64_t real_deadline = sonde_clock_realtime_ns() + (uint64_t)timeout_ms * 1000000u;
	uint64_t mono_deadline = now_mono() + (uint64_t)timeout_ms * 1000000u;
	__atomic_store_n(&sonde__tracing_on, false, __ATOMIC_RELEASE);
	__atomic_store_n(&sonde__log_min, INT_MAX, __ATOMIC_RELAXED);
	pthread_mutex_lock(&P.mu);
	P.stop = true;
	P.stop_deadline = mono_deadline;
	pthread_cond_signal(&P.wake);
	bool running = P.running;
	pthread_mutex_unlock(&P.mu);
	int rc = 0;
	if (running) {
		struct timespec ts = {(time_t)(real_deadline / 1000000000u),
		                      (long)(real_deadline % 1000000000u)};
		if (pthread_timedjoin_np(P.thread, NULL, &ts) != 0) {
			pthread_detach(P.thread);
			rc = -ETIMEDOUT;
		}
	}
	pthread_mutex_lock(&P.mu);
	P.running = false;
	if (rc == 0) {
		for (size_t i = 0; i < P.exporters_count; i++) {
			sonde_exporter *e = P.exporters[i];
			if (e->ops->shutdown)
				e->ops->shutdown(e, mono_deadline);
		}
		free_exporters();
		P.thread_alive = false;
	} else {
		P.orphaned = true;
	}
	P.initialised = false;
	pthread_mutex_unlock(&P.mu);
	return rc;
}

/* The body of sonde_tracer_stats_get, with P.mu held (it releases it). */
static void stats_locked(sonde_tracer_stats *out);

void sonde_tracer_stats_get(sonde_tracer_stats *out)
{
	pthread_mutex_lock(&P.mu);
	stats_locked(out);
}

/* For the metrics callback, which runs with the metrics lock held: P.mu is only tried
 * (the fork handlers take the two locks in the other order); when it is busy, the last
 * reading is reported again. Collections are serialised by the metrics lock, so `last`
 * needs no lock of its own. */
static bool stats_try(sonde_tracer_stats *out)
{
	static sonde_tracer_stats last;
	if (pthread_mutex_trylock(&P.mu) != 0) {
		*out = last;
		return false;
	}
	stats_locked(out);
	last = *out;
	return true;
}

static void stats_locked(sonde_tracer_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (sonde__thread *th = P.threads; th; th = th->next) {
		out->spans_started += atomic_load_explicit(&th->started, memory_order_relaxed);
		out->spans_ended += atomic_load_explicit(&th->ended, memory_order_relaxed);
		out->spans_dropped += atomic_load_explicit(&th->dropped, memory_order_relaxed);
	}
	for (size_t i = 0; i < P.exporters_count; i++)
		out->export_retries += __atomic_load_n(&P.exporters[i]->retries, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&P.mu);
	out->spans_started += atomic_load(&P.started_dead);
	out->spans_ended += atomic_load(&P.ended_dead);
	out->spans_dropped += atomic_load(&P.dropped_dead);
	out->spans_filtered = atomic_load(&P.filtered);
	out->spans_exported = atomic_load(&P.exported);
	out->spans_failed = atomic_load(&P.failed);
	out->export_batches = atomic_load(&P.batches);
}

void sonde_log_stats_get(sonde_log_stats *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&P.mu);
	for (sonde__thread *th = P.threads; th; th = th->next) {
		out->recorded += atomic_load_explicit(&th->logs, memory_order_relaxed);
		out->dropped += atomic_load_explicit(&th->logs_dropped, memory_order_relaxed);
	}
	pthread_mutex_unlock(&P.mu);
	out->recorded += atomic_load(&P.logs_dead);
	out->dropped += atomic_load(&P.logs_dropped_dead);
	out->suppressed = atomic_load(&sonde__log_suppressed);
	out->exported = atomic_load(&P.logs_exported);
	out->failed = atomic_load(&P.logs_failed);
	out->redacted = atomic_load(&P.logs_redacted);
}
