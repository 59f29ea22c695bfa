/*
 * errors.c - the error analysis engine (see errors.h): one pass over the error records
 * into groups keyed by template id, then the finishing step that orders the groups and
 * computes categories, series, concentrations, common frames and cascades.
 *
 * Design notes. A record costs a template (the templater), one hash lookup of its group,
 * and a few counter updates; nothing per record is kept. Each group counts its records
 * in time buckets of one width shared by all groups (a ladder of widths, 1 s up, each
 * dividing the next): when a group would need more than MAX_BUCKETS buckets the width
 * moves up the ladder for every group, merging buckets, so memory stays bounded whatever
 * the time range and the report can still cut the counts into seconds, minutes or hours.
 * Values of users, endpoints and hosts are counted per group up to 1024 distinct ones;
 * stack traces are parsed for the first max_traces records of a group that carry one.
 * Trace ids (up to MAX_TRACES of them) remember the first error of each trace and the
 * services its errors touched, which is what tells where a cascade began.
 */
#include "errors.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "keymap.h"

enum {
	MAX_BUCKETS = 2048,    /* per group, at the shared width */
	MAX_DIM_VALUES = 1024, /* distinct values told apart per group and dimension */
	MAX_TRACES = 200000,   /* trace ids remembered for cascades */
	MAX_FRAMES = 64,       /* frames kept per stack trace */
	MAX_MESSAGE = 2048,    /* bytes of a message given to the templater */
	MAX_SERIES = 5000,     /* buckets of a reported series */
	TOP_VALUES = 5,
	MIN_SPIKE = 5, /* a spike bucket holds at least this many errors */
};

#define NS_PER_S   1000000000ull
#define VALUE_SEED 0xd1a /* of the hashes that stand for values */

/* An open-addressing table from 64-bit keys to an index: template id -> group, the hash
 * of a value -> its id, the hash of a trace id -> its trace_info. */
typedef struct islot {
	uint64_t key;
	uint32_t used, val;
} islot;

typedef struct itab {
	islot *slots;
	size_t mask, count; /* capacity - 1 (0 when none) */
} itab;

/* Finds key; when absent adds it (with val) unless the table holds cap keys already.
 * Returns the slot, or NULL when absent and full, or out of memory (*oom set). */
static islot *itab_get(itab *t, uint64_t key, uint32_t val, size_t cap, bool *oom)
{
	if (t->slots) {
		for (size_t i = sonde_hash_u64(key) & t->mask;; i = (i + 1) & t->mask) {
			islot *sl = &t->slots[i];
			if (!sl->used)
				break;
			if (sl->key == key)
				return sl;
		}
	}
	if (t->count >= cap)
		return NULL;
	if (!t->slots || (t->count + 1) * 2 > t->mask + 1) {
		size_t n = t->slots ? (t->mask + 1) * 2 : 16;
		islot *ns = calloc(n, sizeof(*ns));
		if (!ns) {
			*oom = true;
			return NULL;
		}
		for (size_t i = 0; t->slots && i <= t->mask; i++) {
			if (!t->slots[i].used)
				continue;
			size_t j = sonde_hash_u64(t->slots[i].key) & (n - 1);
			while (ns[j].used)
				j = (j + 1) & (n - 1);
			ns[j] = t->slots[i];
		}
		free(t->slots);
		t->slots = ns;
		t->mask = n - 1;
	}
	size_t i = sonde_hash_u64(key) & t->mask;
	while (t->slots[i].used)
		i = (i + 1) & t->mask;
	t->slots[i] = (islot){key, 1, val};
	t->count++;
	return &t->slots[i];
}

static const islot *itab_find(const itab *t, uint64_t key)
{
	if (!t->slots)
		return NULL;
	for (size_t i = sonde_hash_u64(key) & t->mask;; i = (i + 1) & t->mask) {
		const islot *sl = &t->slots[i];
		if (!sl->used)
			return NULL;
		if (sl->key == key)
			return sl;
	}
}

/* Per group and dimension: value id -> records, in 8-byte slots (id + 1, 0: empty) so
 * that the tables of many groups stay in cache. */
typedef struct cslot {
	uint32_t key1, count;
} cslot;

typedef struct dimtab {
	cslot *slots;
	size_t mask, count;
	uint64_t with_value;
} dimtab;

static uint32_t slot_of(uint32_t id, size_t mask)
{
	return (uint32_t)((id * 0x9e3779b1u) >> 8) & (uint32_t)mask;
}

static uint32_t add_sat(uint32_t a, uint64_t b)
{
	return b >= UINT32_MAX - a ? UINT32_MAX : a + (uint32_t)b;
}

/* Counts records of value id, unless the table holds MAX_DIM_VALUES others. Returns 0
 * or -ENOMEM. */
static int dimtab_count(dimtab *d, uint32_t id, uint64_t records)
{
	uint32_t k = id + 1;
	if (d->slots) {
		for (size_t i = slot_of(id, d->mask);; i = (i + 1) & d->mask) {
			if (d->slots[i].key1 == k) {
				d->slots[i].count = add_sat(d->slots[i].count, records);
				return 0;
			}
			if (!d->slots[i].key1)
				break;
		}
	}
	if (d->count >= MAX_DIM_VALUES)
		return 0;
	if (!d->slots || (d->count + 1) * 2 > d->mask + 1) {
		size_t n = d->slots ? (d->mask + 1) * 2 : 8;
		cslot *ns = calloc(n, sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		for (size_t i = 0; d->slots && i <= d->mask; i++) {
			if (!d->slots[i].key1)
				continue;
			size_t j = slot_of(d->slots[i].key1 - 1, n - 1);
			while (ns[j].key1)
				j = (j + 1) & (n - 1);
			ns[j] = d->slots[i];
		}
		free(d->slots);
		d->slots = ns;
		d->mask = n - 1;
	}
	size_t i = slot_of(id, d->mask);
	while (d->slots[i].key1)
		i = (i + 1) & d->mask;
	d->slots[i] = (cslot){k, add_sat(0, records)};
	d->count++;
	return 0;
}

/* The values of one dimension across groups, each once: a 64-bit hash of the value -> id
 * (two values with one hash would be counted as one: once in billions). */
typedef struct dimvals {
	itab map;
	sonde_arena arena;  /* the names */
	const char **names; /* by id */
	size_t n, cap;
	uint64_t last_hash; /* of the last value looked up, and its id */
	uint32_t last_id;
} dimvals;

typedef struct trace_rec {
	sonde_stack_frame *frames; /* strings in the engine's arena */
	size_t n;
} trace_rec;

typedef struct grp {
	uint64_t tid; /* the templater's key */
	uint64_t id;  /* the template's id (the key, for a simple templater) */
	const char *template_text, *example, *error_type, *status;
	sonde_attrs attrs; /* of the first record, for attribute rules */
	uint64_t count, logs, spans, first, last;
	uint32_t *svc;
	size_t svc_n, svc_cap;
	dimtab dims[SONDE_ERRDIM_COUNT];
	uint64_t hbase; /* bucket index (time / width) of h[0] */
	uint32_t *h;
	size_t hn, hcap;
	trace_rec *traces;
	size_t traces_n;
	sonde_stack_lang lang;
} grp;

typedef struct trace_info {
	uint64_t first_ns;
	uint32_t first_svc, first_group;
	uint64_t svc_mask; /* services with ids < 64 */
} trace_info;

struct sonde_errors {
	sonde_errors_opts o;
	sonde_errors_miner *miner; /* the engine's own templater, when none was given */
	sonde_buf scratch, msg;
	sonde_arena arena;
	itab gmap; /* template id -> group */
	dimvals vals[SONDE_ERRDIM_COUNT];
	grp *g;
	size_t gn, gcap;
	dimvals svc; /* service names */
	int ladder;  /* index into the width ladder */
	uint32_t last_group;
	itab tmap; /* hash of a trace id -> index into tr */
	trace_info *tr;
	size_t tr_n, tr_cap;
	bool finished;
	sonde_errors_result res;
};

/* Bucket widths in seconds; each divides the next, and 60 and 3600 are on it. Beyond
 * its end the width doubles. */
static const uint64_t ladder_s[] = {1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400};
#define LADDER_N (sizeof(ladder_s) / sizeof(ladder_s[0]))

static uint64_t width_ns(int k)
{
	if (k < (int)LADDER_N)
		return ladder_s[k] * NS_PER_S;
	return ladder_s[LADDER_N - 1] * NS_PER_S << (k - (int)LADDER_N + 1);
}

static const char *const dim_names[SONDE_ERRDIM_COUNT] = {"user", "endpoint", "host"};

const char *sonde_error_dim_name(int dim)
{
	return dim >= 0 && dim < SONDE_ERRDIM_COUNT ? dim_names[dim] : "";
}

sonde_errors *sonde_errors_new(const sonde_errors_opts *o)
{
	sonde_errors *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	if (o)
		e->o = *o;
	if (!e->o.templater.template_of) {
		if (sonde_errors_miner_new(&e->miner) < 0) {
			free(e);
			return NULL;
		}
		e->o.templater = sonde_errors_miner_templater(e->miner);
	}
	if (!e->o.cascade_window_ns)
		e->o.cascade_window_ns = 60 * NS_PER_S;
	if (!e->o.max_traces)
		e->o.max_traces = 32;
	sonde_arena_init(&e->arena);
	for (int d = 0; d < SONDE_ERRDIM_COUNT; d++)
		sonde_arena_init(&e->vals[d].arena);
	sonde_arena_init(&e->svc.arena);
	return e;
}

static void series_free(sonde_error_series *s)
{
	free(s->counts);
	free(s->spikes);
	memset(s, 0, sizeof(*s));
}

void sonde_error_series_release(sonde_error_series *s)
{
	if (s)
		series_free(s);
}

void sonde_errors_free(sonde_errors *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->gn; i++) {
		grp *g = &e->g[i];
		free(g->svc);
		free(g->h);
		free(g->traces);
		for (int d = 0; d < SONDE_ERRDIM_COUNT; d++)
			free(g->dims[d].slots);
	}
	free(e->g);
	sonde_errors_result *r = &e->res;
	for (size_t i = 0; i < r->groups_count; i++) {
		sonde_error_group *gr = &r->groups[i];
		free(gr->services);
		for (int d = 0; d < SONDE_ERRDIM_COUNT; d++)
			free(gr->dims[d].top);
		series_free(&gr->series);
		free(gr->common_frames);
	}
	free(r->groups);
	series_free(&r->overall);
	for (size_t i = 0; i < r->clusters_count; i++) {
		free(r->clusters[i].services);
		free(r->clusters[i].groups);
	}
	free(r->clusters);
	free(e->gmap.slots);
	for (int d = 0; d < SONDE_ERRDIM_COUNT; d++) {
		free(e->vals[d].map.slots);
		sonde_arena_release(&e->vals[d].arena);
		free(e->vals[d].names);
	}
	free(e->svc.map.slots);
	sonde_arena_release(&e->svc.arena);
	free(e->svc.names);
	free(e->tmap.slots);
	free(e->tr);
	sonde_buf_release(&e->scratch);
	sonde_buf_release(&e->msg);
	sonde_arena_release(&e->arena);
	sonde_errors_miner_free(e->miner);
	free(e);
}

const sonde_errors_result *sonde_errors_result_get(const sonde_errors *e)
{
	return e && e->finished ? &e->res : NULL;
}

/* ---- Adding records ------------------------------------------------------------------ */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

static const char *arena_str(sonde_errors *e, const char *s, size_t n)
{
	return sonde_arena_strndup(&e->arena, s ? s : "", s ? n : 0);
}

/* Moves every group to the next width of the ladder. */
static void coarsen(sonde_errors *e)
{
	uint64_t k = width_ns(e->ladder + 1) / width_ns(e->ladder);
	e->ladder++;
	for (size_t i = 0; i < e->gn; i++) {
		grp *g = &e->g[i];
		if (!g->hn)
			continue;
		uint64_t nb = g->hbase / k;
		for (size_t j = 0; j < g->hn; j++) {
			uint32_t v = g->h[j];
			g->h[j] = 0;
			size_t to = (size_t)((g->hbase + j) / k - nb);
			g->h[to] = add_sat(g->h[to], v);
		}
		g->hn = (size_t)((g->hbase + g->hn - 1) / k - nb + 1);
		g->hbase = nb;
	}
}

/* Counts n records at time t in g's buckets. */
static int count_time(sonde_errors *e, grp *g, uint64_t t, uint64_t n)
{
	for (;;) {
		uint64_t idx = t / width_ns(e->ladder);
		if (!g->hn) {
			if (grow((void **)&g->h, &g->hcap, 16, sizeof(*g->h)) < 0)
				return -ENOMEM;
			g->hbase = idx;
			g->hn = 1;
			g->h[0] = add_sat(0, n);
			return 0;
		}
		uint64_t lo = idx < g->hbase ? idx : g->hbase;
		uint64_t hi = idx >= g->hbase + g->hn ? idx + 1 : g->hbase + g->hn;
		if (hi - lo > MAX_BUCKETS) {
			coarsen(e);
			continue;
		}
		size_t need = (size_t)(hi - lo), shift = (size_t)(g->hbase - lo);
		if (grow((void **)&g->h, &g->hcap, need, sizeof(*g->h)) < 0)
			return -ENOMEM;
		if (shift) {
			memmove(g->h + shift, g->h, g->hn * sizeof(*g->h));
			memset(g->h, 0, shift * sizeof(*g->h));
		}
		if (need > g->hn + shift)
			memset(g->h + g->hn + shift, 0, (need - g->hn - shift) * sizeof(*g->h));
		g->hbase = lo;
		g->hn = need;
		g->h[idx - lo] = add_sat(g->h[idx - lo], n);
		return 0;
	}
}

static int value_id(dimvals *dv, const char *v, size_t n, uint32_t *id)
{
	uint64_t h = sonde_hash_bytes(v, n, VALUE_SEED);
	if (dv->n && h == dv->last_hash) {
		*id = dv->last_id;
		return 0;
	}
	if (grow((void **)&dv->names, &dv->cap, dv->n + 1, sizeof(*dv->names)) < 0)
		return -ENOMEM;
	bool oom = false;
	islot *sl = itab_get(&dv->map, h, (uint32_t)dv->n, SIZE_MAX, &oom);
	if (!sl)
		return -ENOMEM;
	if (sl->val == dv->n) {
		const char *copy = sonde_arena_strndup(&dv->arena, v, n);
		if (!copy) {
			sl->val = UINT32_MAX; /* never read: the next add of it fails again */
			return -ENOMEM;
		}
		dv->names[dv->n++] = copy;
	}
	if (sl->val == UINT32_MAX)
		return -ENOMEM;
	*id = sl->val;
	dv->last_hash = h;
	dv->last_id = *id;
	return 0;
}

/* The id of value v[0..n) (UINT32_MAX: none), with the slot it probes first fetched
 * into the cache while the caller does other work: the tables of many groups do not all
 * stay in cache, and waiting for them was the largest cost of a record. */
static int value_prefetch(dimvals *dv, const dimtab *d, const char *v, size_t n, uint32_t *id)
{
	*id = UINT32_MAX;
	if (!v || !n)
		return 0;
	int rc = value_id(dv, v, n, id);
	if (rc == 0 && d->slots)
		__builtin_prefetch(&d->slots[slot_of(*id, d->mask)]);
	return rc;
}

static int count_value(dimtab *d, uint32_t id)
{
	if (id == UINT32_MAX)
		return 0;
	d->with_value++;
	return dimtab_count(d, id, 1);
}

/* What one record says, gathered from its attributes and resource. */
typedef struct facts {
	bool is_span;
	uint64_t time_ns;
	const char *service;
	size_t service_len;
	sonde_str msg, etype, stack, status;
	sonde_str dim[SONDE_ERRDIM_COUNT];
	const sonde_attrs *attrs;
	const uint8_t *trace_id; /* NULL: none */
} rec_facts;

static bool key_is(const sonde_str *k, const char *lit, size_t n)
{
	return k->len == n && memcmp(k->ptr, lit, n) == 0;
}
#define KEY_IS(k, lit) key_is((k), lit, sizeof(lit) - 1)

/* Text of a scalar value; ints into num. */
static sonde_str value_text(const sonde_value *v, char *num, size_t cap)
{
	sonde_str s = {"", 0};
	if (v->kind == SONDE_VAL_STRING)
		s = v->u.str;
	else if (v->kind == SONDE_VAL_INT) {
		int k = snprintf(num, cap, "%lld", (long long)v->u.i);
		s.ptr = num;
		s.len = k > 0 ? (size_t)k : 0;
	} else if (v->kind == SONDE_VAL_BOOL) {
		s = v->u.b ? SONDE_STR_LIT("true") : SONDE_STR_LIT("false");
	}
	return s;
}

/* Reads the attributes the analysis uses. num holds the text of an integer status. */
static void read_attrs(rec_facts *f, const sonde_attrs *a, char *num, size_t cap, bool resource)
{
	for (uint32_t i = 0; a && i < a->count; i++) {
		const sonde_kv *kv = &a->items[i];
		const sonde_str *k = &kv->key;
		if (k->len < 7)
			continue;
		if (resource) {
			if (KEY_IS(k, "service.name") && kv->value.kind == SONDE_VAL_STRING) {
				f->service = kv->value.u.str.ptr;
				f->service_len = kv->value.u.str.len;
			} else if (KEY_IS(k, "host.name") && !f->dim[SONDE_ERRDIM_HOST].len) {
				f->dim[SONDE_ERRDIM_HOST] = value_text(&kv->value, num, cap);
			}
			continue;
		}
		if (KEY_IS(k, "exception.type") || KEY_IS(k, "error.type")) {
			if (!f->etype.len)
				f->etype = value_text(&kv->value, num, cap);
		} else if (KEY_IS(k, "exception.stacktrace")) {
			f->stack = value_text(&kv->value, num, cap);
		} else if (KEY_IS(k, "exception.message")) {
			if (!f->msg.len)
				f->msg = value_text(&kv->value, num, cap);
		} else if (KEY_IS(k, "http.route")) {
			f->dim[SONDE_ERRDIM_ENDPOINT] = value_text(&kv->value, num, cap);
		} else if (KEY_IS(k, "enduser.id") || KEY_IS(k, "user_id") || KEY_IS(k, "user.id")) {
			if (!f->dim[SONDE_ERRDIM_USER].len)
				f->dim[SONDE_ERRDIM_USER] = value_text(&kv->value, num, cap);
		} else if (KEY_IS(k, "host.name")) {
			f->dim[SONDE_ERRDIM_HOST] = value_text(&kv->value, num, cap);
		} else if (KEY_IS(k, "http.response.status_code") || KEY_IS(k, "http.status_code")) {
			f->status = value_text(&kv->value, num + 32, cap - 32);
		}
	}
}

/* Copies the scalar attributes of a (strings, integers, booleans) for attribute rules. */
static int copy_attrs(sonde_errors *e, const sonde_attrs *a, sonde_attrs *out)
{
	out->items = NULL;
	out->count = 0;
	if (!a || !a->count)
		return 0;
	sonde_kv *items = sonde_arena_zalloc(&e->arena, a->count * sizeof(*items));
	if (!items)
		return -ENOMEM;
	uint32_t k = 0;
	for (uint32_t i = 0; i < a->count; i++) {
		const sonde_kv *kv = &a->items[i];
		if (kv->value.kind != SONDE_VAL_STRING && kv->value.kind != SONDE_VAL_INT &&
		    kv->value.kind != SONDE_VAL_BOOL)
			continue;
		items[k].key.ptr = arena_str(e, kv->key.ptr, kv->key.len);
		items[k].key.len = kv->key.len;
		items[k].value = kv->value;
		if (kv->value.kind == SONDE_VAL_STRING) {
			size_t n = kv->value.u.str.len < 512 ? kv->value.u.str.len : 512;
			items[k].value.u.str.ptr = arena_str(e, kv->value.u.str.ptr, n);
			items[k].value.u.str.len = n;
			if (!items[k].value.u.str.ptr)
				return -ENOMEM;
		}
		if (!items[k].key.ptr)
			return -ENOMEM;
		k++;
	}
	out->items = items;
	out->count = k;
	return 0;
}

static int keep_trace(sonde_errors *e, grp *g, const char *text, size_t len)
{
	sonde_stack_frame fr[MAX_FRAMES];
	sonde_stack_lang lang;
	size_t n = sonde_stack_parse(text, len, fr, MAX_FRAMES, &lang);
	if (!n)
		return 0;
	if (!g->traces) {
		g->traces = calloc(e->o.max_traces, sizeof(*g->traces));
		if (!g->traces)
			return -ENOMEM;
	}
	sonde_stack_frame *copy = sonde_arena_alloc(&e->arena, n * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		copy[i] = fr[i];
		copy[i].function = arena_str(e, fr[i].function, fr[i].function_len);
		copy[i].file = arena_str(e, fr[i].file, fr[i].file_len);
		if (!copy[i].function || !copy[i].file)
			return -ENOMEM;
	}
	if (!g->traces_n)
		g->lang = lang;
	g->traces[g->traces_n].frames = copy;
	g->traces[g->traces_n].n = n;
	g->traces_n++;
	return 0;
}

/* The key that stands for a trace id: trace ids are random, so a 64-bit hash of one
 * stands for it (a collision merges two traces, once in billions). The slot it probes
 * first is fetched into the cache while the record's other work goes on: the table of
 * traces is megabytes, and waiting for it was a large cost of a record. */
static uint64_t trace_key_prefetch(const sonde_errors *e, const uint8_t *id)
{
	uint64_t key = sonde_hash_bytes(id, 16, 0x7ace);
	if (e->tmap.slots)
		__builtin_prefetch(&e->tmap.slots[sonde_hash_u64(key) & e->tmap.mask]);
	return key;
}

static int note_trace(sonde_errors *e, uint64_t key, uint64_t t, uint32_t svc, uint32_t group)
{
	if (grow((void **)&e->tr, &e->tr_cap, e->tr_n + 1, sizeof(*e->tr)) < 0)
		return -ENOMEM;
	bool oom = false;
	islot *sl = itab_get(&e->tmap, key, (uint32_t)e->tr_n, MAX_TRACES, &oom);
	if (oom)
		return -ENOMEM;
	if (!sl)
		return 0; /* MAX_TRACES remembered: later traces are left out */
	if (sl->val == e->tr_n)
		e->tr[e->tr_n++] = (trace_info){t, svc, group, 0};
	trace_info *ti = &e->tr[sl->val];
	if (t && (t < ti->first_ns || !ti->first_ns)) {
		ti->first_ns = t;
		ti->first_svc = svc;
		ti->first_group = group;
	}
	if (svc < 64)
		ti->svc_mask |= 1ull << svc;
	return 0;
}

static bool nonzero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return true;
	return false;
}

static int add_record(sonde_errors *e, rec_facts *f)
{
	int rc;
	uint64_t trace_key = f->trace_id ? trace_key_prefetch(e, f->trace_id) : 0;
	/* The message line (without a stack trace the body may carry) is what gets templated. */
	const char *m = f->msg.ptr ? f->msg.ptr : "";
	size_t mn = f->msg.len;
	sonde_str trace_text = f->stack;
	if (memchr(m, '\n', mn)) {
		if (!trace_text.len) {
			trace_text.ptr = m;
			trace_text.len = mn;
		}
		size_t off, n;
		sonde_stack_message(m, mn, &off, &n);
		m += off;
		mn = n;
	}
	if (!mn && f->etype.len) {
		m = f->etype.ptr;
		mn = f->etype.len;
	}
	if (mn > MAX_MESSAGE)
		mn = MAX_MESSAGE;
	const char *tt = NULL;
	uint64_t tid = e->o.templater.template_of(e->o.templater.ctx, m, mn, &tt);
	if (!tt)
		return -ENOMEM;
	if (grow((void **)&e->g, &e->gcap, e->gn + 1, sizeof(*e->g)) < 0)
		return -ENOMEM;
	uint32_t gi;
	if (e->gn && e->g[e->last_group].tid == tid) {
		gi = e->last_group; /* logs come in runs of one failure */
	} else {
		bool oom = false;
		islot *gs = itab_get(&e->gmap, tid, (uint32_t)e->gn, SIZE_MAX, &oom);
		if (!gs)
			return -ENOMEM;
		gi = gs->val;
	}
	e->last_group = gi;
	if (gi == e->gn) {
		grp *g = &e->g[e->gn];
		memset(g, 0, sizeof(*g));
		g->tid = g->id = tid;
		if (e->o.templater.describe &&
		    (rc = e->o.templater.describe(e->o.templater.ctx, tid, false, &g->id, &tt)) < 0 &&
		    rc != -ENOENT)
			return rc;
		g->template_text = arena_str(e, tt, strlen(tt));
		g->example = arena_str(e, m, mn);
		g->error_type = "";
		g->status = "";
		if (!g->template_text || !g->example || copy_attrs(e, f->attrs, &g->attrs) < 0)
			return -ENOMEM;
		e->gn++;
	}
	grp *g = &e->g[gi];
	g->count++;
	if (f->is_span)
		g->spans++;
	else
		g->logs++;
	if (!g->error_type[0] && f->etype.len && !(g->error_type = arena_str(e, f->etype.ptr, f->etype.len)))
		return -ENOMEM;
	if (!g->status[0] && f->status.len && !(g->status = arena_str(e, f->status.ptr, f->status.len)))
		return -ENOMEM;
	uint32_t vid[SONDE_ERRDIM_COUNT];
	for (int d = 0; d < SONDE_ERRDIM_COUNT; d++)
		if ((rc = value_prefetch(&e->vals[d], &g->dims[d], f->dim[d].ptr, f->dim[d].len, &vid[d])) <
		    0)
			return rc;
	uint32_t svc = UINT32_MAX;
	if (f->service_len && (rc = value_id(&e->svc, f->service, f->service_len, &svc)) < 0)
		return rc;
	if (svc != UINT32_MAX) {
		size_t k = 0;
		while (k < g->svc_n && g->svc[k] != svc)
			k++;
		if (k == g->svc_n) {
			if (grow((void **)&g->svc, &g->svc_cap, g->svc_n + 1, sizeof(*g->svc)) < 0)
				return -ENOMEM;
			g->svc[g->svc_n++] = svc;
		}
	}
	if (f->time_ns) {
		if (!g->first || f->time_ns < g->first)
			g->first = f->time_ns;
		if (f->time_ns > g->last)
			g->last = f->time_ns;
		if ((rc = count_time(e, g, f->time_ns, 1)) < 0)
			return rc;
	}
	for (int d = 0; d < SONDE_ERRDIM_COUNT; d++)
		if ((rc = count_value(&g->dims[d], vid[d])) < 0)
			return rc;
	if (g->traces_n < e->o.max_traces && trace_text.len &&
	    (rc = keep_trace(e, g, trace_text.ptr, trace_text.len)) < 0)
		return rc;
	if (f->trace_id && svc != UINT32_MAX && (rc = note_trace(e, trace_key, f->time_ns, svc, gi)) < 0)
		return rc;
	return 0;
}

int sonde_errors_add_log(sonde_errors *e, const sonde_log_data *lg)
{
	if (lg->severity_number < 17 || e->finished)
		return 0;
	char num[64];
	rec_facts f = {0};
	f.time_ns = lg->time_ns ? lg->time_ns : lg->observed_time_ns;
	f.attrs = &lg->attrs;
	if (lg->resource)
		read_attrs(&f, &lg->resource->attrs, num, sizeof(num), true);
	char bnum[32];
	sonde_str body = value_text(&lg->body, bnum, sizeof(bnum));
	read_attrs(&f, &lg->attrs, num, sizeof(num), false);
	if (body.len)
		f.msg = body; /* the body, when there is one, beats exception.message */
	if (nonzero(lg->trace_id, 16))
		f.trace_id = lg->trace_id;
	return add_record(e, &f);
}

int sonde_errors_add_span(sonde_errors *e, const sonde_span_data *sp)
{
	if (sp->status_code != SONDE_STATUS_ERROR || e->finished)
		return 0;
	char num[64], enum_[64];
	rec_facts f = {0};
	f.is_span = true;
	f.time_ns = sp->end_ns ? sp->end_ns : sp->start_ns; /* a failure is known when the span ends */
	f.attrs = &sp->attrs;
	if (sp->resource)
		read_attrs(&f, &sp->resource->attrs, num, sizeof(num), true);
	read_attrs(&f, &sp->attrs, num, sizeof(num), false);
	for (uint32_t i = 0; i < sp->events_count; i++) {
		const sonde_span_event *ev = &sp->events[i];
		if (ev->name.len != 9 || memcmp(ev->name.ptr, "exception", 9) != 0)
			continue;
		rec_facts x = {0};
		read_attrs(&x, &ev->attrs, enum_, sizeof(enum_), false);
		if (x.msg.len && !f.msg.len)
			f.msg = x.msg;
		if (x.etype.len && !f.etype.len)
			f.etype = x.etype;
		if (x.stack.len && !f.stack.len)
			f.stack = x.stack;
		break;
	}
	if (!f.msg.len)
		f.msg = sp->status_message;
	if (!f.msg.len && !f.etype.len)
		f.msg = sp->name;
	if (nonzero(sp->trace_id, 16))
		f.trace_id = sp->trace_id;
	return add_record(e, &f);
}

static int scan_log(void *ctx, const sonde_log_data *lg)
{
	return sonde_errors_add_log(ctx, lg);
}

static int scan_span(void *ctx, const sonde_span_data *sp)
{
	return sonde_errors_add_span(ctx, sp);
}

int sonde_errors_run(sonde_errors *e, sonde_store *s, const sonde_query *q)
{
	sonde_query lq = {0};
	if (q)
		lq = *q;
	lq.errors_only = true;
	lq.sort = SONDE_SORT_DEFAULT;
	lq.limit = 0;
	sonde_query sq = lq;
	lq.operation = NULL;  /* logs have no operation; it narrows the spans only */
	lq.read_ahead = true; /* scan_log() leaves the store alone */
	int rc = sonde_store_scan_logs(s, &lq, scan_log, e);
	if (rc == 0)
		rc = sonde_store_scan_spans(s, &sq, SONDE_FIELDS_ALL, scan_span, e);
	return rc;
}

/* ---- Merging ------------------------------------------------------------------------- */

/* Copies one of b's traces into a's arena and g. */
static int merge_trace(sonde_errors *a, grp *g, const trace_rec *t, sonde_stack_lang lang)
{
	if (!g->traces && !(g->traces = calloc(a->o.max_traces, sizeof(*g->traces))))
		return -ENOMEM;
	sonde_stack_frame *copy = sonde_arena_alloc(&a->arena, t->n * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		copy[i] = t->frames[i];
		copy[i].function = arena_str(a, t->frames[i].function, t->frames[i].function_len);
		copy[i].file = arena_str(a, t->frames[i].file, t->frames[i].file_len);
		if (!copy[i].function || !copy[i].file)
			return -ENOMEM;
	}
	if (!g->traces_n)
		g->lang = lang;
	g->traces[g->traces_n++] = (trace_rec){copy, t->n};
	return 0;
}

static int merge_group(sonde_errors *a, const sonde_errors *b, const grp *bg, const uint32_t *svc_map,
                       uint32_t *gi_out)
{
	int rc;
	if (grow((void **)&a->g, &a->gcap, a->gn + 1, sizeof(*a->g)) < 0)
		return -ENOMEM;
	/* A keyed templater's keys mean nothing to another: a adopts b's template by its text
	 * (as it stands in b; a's own finish refines). */
	const sonde_errors_templater *at = &a->o.templater, *bt = &b->o.templater;
	uint64_t key = bg->id; /* for a simple templater, the id is the key */
	const char *text = bg->template_text;
	if (bt->describe) {
		uint64_t id;
		const char *now = NULL;
		if ((rc = bt->describe(bt->ctx, bg->tid, false, &id, &now)) < 0 && rc != -ENOENT)
			return rc;
		if (rc == 0)
			text = now;
	}
	if (at->describe && !(key = at->adopt(at->ctx, text, strlen(text))))
		return -ENOMEM;
	bool oom = false;
	islot *gs = itab_get(&a->gmap, key, (uint32_t)a->gn, SIZE_MAX, &oom);
	if (!gs)
		return -ENOMEM;
	uint32_t gi = gs->val;
	if (gi == a->gn) {
		grp *g = &a->g[a->gn];
		memset(g, 0, sizeof(*g));
		g->tid = g->id = key;
		if (at->describe && (rc = at->describe(at->ctx, key, false, &g->id, &text)) < 0 &&
		    rc != -ENOENT)
			return rc;
		g->template_text = arena_str(a, text, strlen(text));
		g->example = arena_str(a, bg->example, strlen(bg->example));
		g->error_type = arena_str(a, bg->error_type, strlen(bg->error_type));
		g->status = arena_str(a, bg->status, strlen(bg->status));
		if (!g->template_text || !g->example || !g->error_type || !g->status ||
		    copy_attrs(a, &bg->attrs, &g->attrs) < 0)
			return -ENOMEM;
		a->gn++;
	}
	*gi_out = gi;
	grp *g = &a->g[gi];
	/* The example and the first record's facts come from whichever saw the group first. */
	if (bg->first && (!g->first || bg->first < g->first)) {
		const char *ex = arena_str(a, bg->example, strlen(bg->example));
		if (!ex || copy_attrs(a, &bg->attrs, &g->attrs) < 0)
			return -ENOMEM;
		g->example = ex;
	}
	if (!g->error_type[0] && bg->error_type[0] &&
	    !(g->error_type = arena_str(a, bg->error_type, strlen(bg->error_type))))
		return -ENOMEM;
	if (!g->status[0] && bg->status[0] && !(g->status = arena_str(a, bg->status, strlen(bg->status))))
		return -ENOMEM;
	g->count += bg->count;
	g->logs += bg->logs;
	g->spans += bg->spans;
	if (bg->first && (!g->first || bg->first < g->first))
		g->first = bg->first;
	if (bg->last > g->last)
		g->last = bg->last;
	for (size_t k = 0; k < bg->svc_n; k++) {
		uint32_t svc = svc_map[bg->svc[k]];
		size_t j = 0;
		while (j < g->svc_n && g->svc[j] != svc)
			j++;
		if (j < g->svc_n)
			continue;
		if (grow((void **)&g->svc, &g->svc_cap, g->svc_n + 1, sizeof(*g->svc)) < 0)
			return -ENOMEM;
		g->svc[g->svc_n++] = svc;
	}
	for (int d = 0; d < SONDE_ERRDIM_COUNT; d++) {
		const dimtab *bd = &bg->dims[d];
		g->dims[d].with_value += bd->with_value;
		for (size_t i = 0; bd->slots && i <= bd->mask; i++) {
			if (!bd->slots[i].key1)
				continue;
			const char *name = b->vals[d].names[bd->slots[i].key1 - 1];
			uint32_t id;
			if ((rc = value_id(&a->vals[d], name, strlen(name), &id)) < 0 ||
			    (rc = dimtab_count(&g->dims[d], id, bd->slots[i].count)) < 0)
				return rc;
		}
	}
	uint64_t w = width_ns(b->ladder);
	for (size_t i = 0; i < bg->hn; i++)
		if (bg->h[i] && (rc = count_time(a, &a->g[gi], (bg->hbase + i) * w, bg->h[i])) < 0)
			return rc;
	for (size_t i = 0; i < bg->traces_n && a->g[gi].traces_n < a->o.max_traces; i++)
		if ((rc = merge_trace(a, &a->g[gi], &bg->traces[i], bg->lang)) < 0)
			return rc;
	return 0;
}

int sonde_errors_merge(sonde_errors *a, const sonde_errors *b)
{
	if (a->finished || b->finished)
		return -EINVAL;
	if (a->o.templater.describe && !a->o.templater.adopt)
		return -ENOTSUP;
	int rc = 0;
	uint32_t *svc_map = malloc((b->svc.n ? b->svc.n : 1) * sizeof(*svc_map));
	uint32_t *g_map = malloc((b->gn ? b->gn : 1) * sizeof(*g_map));
	if (!svc_map || !g_map) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b->svc.n && rc == 0; i++)
		rc = value_id(&a->svc, b->svc.names[i], strlen(b->svc.names[i]), &svc_map[i]);
	/* Buckets of one width: a's grows to b's (b's buckets then fold into a's as counts). */
	while (rc == 0 && a->ladder < b->ladder)
		coarsen(a);
	for (size_t i = 0; i < b->gn && rc == 0; i++)
		rc = merge_group(a, b, &b->g[i], svc_map, &g_map[i]);
	for (size_t i = 0; b->tmap.slots && i <= b->tmap.mask && rc == 0; i++) {
		const islot *bs = &b->tmap.slots[i];
		if (!bs->used)
			continue;
		const trace_info *bt = &b->tr[bs->val];
		if (grow((void **)&a->tr, &a->tr_cap, a->tr_n + 1, sizeof(*a->tr)) < 0) {
			rc = -ENOMEM;
			break;
		}
		bool oom = false;
		islot *as = itab_get(&a->tmap, bs->key, (uint32_t)a->tr_n, MAX_TRACES, &oom);
		if (oom) {
			rc = -ENOMEM;
			break;
		}
		if (!as)
			continue;
		if (as->val == a->tr_n)
			a->tr[a->tr_n++] = (trace_info){0, 0, 0, 0};
		trace_info *at = &a->tr[as->val];
		if (bt->first_ns && (!at->first_ns || bt->first_ns < at->first_ns)) {
			at->first_ns = bt->first_ns;
			at->first_svc = svc_map[bt->first_svc];
			at->first_group = g_map[bt->first_group];
		}
		for (uint32_t k = 0; k < 64 && k < b->svc.n; k++)
			if (bt->svc_mask & (1ull << k) && svc_map[k] < 64)
				at->svc_mask |= 1ull << svc_map[k];
	}
out:
	free(svc_map);
	free(g_map);
	return rc;
}

/* ---- Series: spikes and periodicity -------------------------------------------------- */

int sonde_error_series_analyse(sonde_error_series *s, uint64_t start_ns, uint64_t bucket_ns, uint64_t *counts,
                               size_t n)
{
	memset(s, 0, sizeof(*s));
	s->start_ns = start_ns;
	s->bucket_ns = bucket_ns;
	s->counts = counts;
	s->count = n;
	if (!n)
		return 0;
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)counts[i];
	s->mean = sum / (double)n;
	/* Spikes: runs of buckets over three times the mean. */
	for (size_t i = 0; i < n;) {
		if (!((double)counts[i] > 3 * s->mean && counts[i] >= MIN_SPIKE)) {
			i++;
			continue;
		}
		size_t j = i;
		uint64_t peak = 0;
		while (j < n && (double)counts[j] > 3 * s->mean && counts[j] >= MIN_SPIKE) {
			if (counts[j] > peak)
				peak = counts[j];
			j++;
		}
		sonde_error_spike *p = realloc(s->spikes, (s->spikes_count + 1) * sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->spikes = p;
		p[s->spikes_count++] =
		        (sonde_error_spike){start_ns + i * bucket_ns, start_ns + j * bucket_ns, peak};
		i = j;
	}
	/* Periodicity: the autocorrelation of the counts at lags 2 .. n/3 (three periods at
	 * least); the smallest lag at a local peak within 90% of the highest, if that is at
	 * least 0.5. Errors must cover at least half of the window and three periods, so a
	 * short burst of evenly spaced errors is not called periodic. */
	size_t lo = 0, hi = n;
	while (lo < n && !counts[lo])
		lo++;
	while (hi > lo && !counts[hi - 1])
		hi--;
	size_t active = hi - lo;
	if (n < 8 || active * 2 < n)
		return 0;
	double var = 0;
	for (size_t i = 0; i < n; i++)
		var += ((double)counts[i] - s->mean) * ((double)counts[i] - s->mean);
	if (var <= 0)
		return 0;
	size_t maxlag = n / 3;
	double *r = malloc((maxlag + 2) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (size_t L = 1; L <= maxlag + 1 && L < n; L++) {
		double acc = 0;
		for (size_t i = 0; i + L < n; i++)
			acc += ((double)counts[i] - s->mean) * ((double)counts[i + L] - s->mean);
		r[L] = acc / var;
	}
	double best = 0;
	for (size_t L = 2; L <= maxlag; L++)
		if (r[L] > best && r[L] >= r[L - 1] && (L + 1 >= n || r[L] >= r[L + 1]))
			best = r[L];
	if (best >= 0.5) {
		for (size_t L = 2; L <= maxlag && 3 * L <= active; L++)
			if (r[L] >= 0.9 * best && r[L] >= r[L - 1] && (L + 1 >= n || r[L] >= r[L + 1])) {
				s->period_ns = L * bucket_ns;
				s->period_acf = r[L];
				break;
			}
	}
	free(r);
	return 0;
}

/* ---- Finishing ----------------------------------------------------------------------- */

static int cmp_share(const void *a, const void *b)
{
	const sonde_error_share *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->value, y->value);
}

static int finish_dim(const dimvals *dv, const dimtab *d, sonde_error_dim *out)
{
	memset(out, 0, sizeof(*out));
	out->with_value = d->with_value;
	out->distinct = d->count;
	if (!d->count)
		return 0;
	sonde_error_share *all = malloc(d->count * sizeof(*all));
	if (!all)
		return -ENOMEM;
	size_t k = 0;
	for (size_t i = 0; i <= d->mask; i++) {
		const cslot *sl = &d->slots[i];
		if (sl->key1)
			all[k++] = (sonde_error_share){dv->names[sl->key1 - 1], sl->count};
	}
	size_t n = k;
	qsort(all, n, sizeof(*all), cmp_share);
	out->top_count = n < TOP_VALUES ? n : TOP_VALUES;
	out->top = all; /* the first top_count are read */
	out->top_share = (double)out->top[0].count / (double)d->with_value;
	/* Concentrated: at least 5 records and 3 distinct values, and the top value carries
	 * over half of them, or at least three times the share an even spread would give. */
	out->concentrated =
	        d->with_value >= 5 && n >= 3 && (out->top_share > 0.5 || out->top_share >= 3.0 / (double)n);
	return 0;
}

typedef struct frame_count {
	const sonde_stack_frame *f;
	size_t traces;
	size_t last_trace; /* +1; so a frame counts once per trace */
} frame_count;

static int common_frames(const grp *g, sonde_error_group *out)
{
	out->traces = g->traces_n;
	out->trace_lang = g->lang;
	if (!g->traces_n)
		return 0;
	sonde_keymap m;
	sonde_keymap_init(&m);
	frame_count *fc = NULL;
	size_t fn = 0, fcap = 0;
	sonde_buf key = SONDE_BUF_INIT;
	int rc = 0;
	for (size_t t = 0; t < g->traces_n && rc == 0; t++) {
		for (size_t i = 0; i < g->traces[t].n; i++) {
			const sonde_stack_frame *f = &g->traces[t].frames[i];
			sonde_buf_reset(&key);
			sonde_buf_append(&key, f->function, f->function_len);
			sonde_buf_putc(&key, '\0');
			sonde_buf_append(&key, f->file, f->file_len);
			if (key.oom) {
				rc = -ENOMEM;
				break;
			}
			uint32_t idx;
			int r = sonde_keymap_upsert(&m, key.data, key.len, (uint32_t)fn, &idx, NULL);
			if (r < 0 || (r == 1 && grow((void **)&fc, &fcap, fn + 1, sizeof(*fc)) < 0)) {
				rc = -ENOMEM;
				break;
			}
			if (r == 1)
				fc[fn++] = (frame_count){f, 0, 0};
			if (fc[idx].last_trace != t + 1) {
				fc[idx].last_trace = t + 1;
				fc[idx].traces++;
			}
		}
	}
	if (rc == 0) {
		size_t k = 0;
		for (size_t i = 0; i < fn; i++)
			if (fc[i].traces * 2 >= g->traces_n)
				k++;
		if (k && !(out->common_frames = malloc(k * sizeof(*out->common_frames))))
			rc = -ENOMEM;
		for (size_t i = 0; rc == 0 && i < fn; i++)
			if (fc[i].traces * 2 >= g->traces_n)
				out->common_frames[out->common_count++] = *fc[i].f;
	}
	free(fc);
	sonde_buf_release(&key);
	sonde_keymap_release(&m);
	return rc;
}

/* A group's place in an ordering: by count (most first, then template, for a stable
 * order), or by onset (earliest first, then index). */
typedef struct order {
	uint64_t key; /* count, or onset */
	const char *text;
	uint64_t tid;
	size_t idx;
} order;

static int cmp_count(const void *a, const void *b)
{
	const order *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	int c = strcmp(x->text, y->text);
	return c ? c : (x->tid < y->tid ? -1 : x->tid > y->tid);
}

static int cmp_onset(const void *a, const void *b)
{
	const order *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* The window and bucket width of the reported series. */
static void choose_buckets(sonde_errors *e, uint64_t *start, uint64_t *bucket, size_t *n)
{
	sonde_errors_result *r = &e->res;
	uint64_t span = r->until_ns > r->since_ns ? r->until_ns - r->since_ns : 1;
	uint64_t b = span <= 600 * NS_PER_S     ? NS_PER_S
	             : span <= 86400 * NS_PER_S ? 60 * NS_PER_S
	                                        : 3600 * NS_PER_S;
	uint64_t w = width_ns(e->ladder);
	int k = 0;
	while (width_ns(k) < b)
		k++;
	if (b < w)
		b = w, k = e->ladder;
	for (;;) {
		uint64_t s0 = r->since_ns / b * b;
		uint64_t cnt = (r->until_ns - s0 + b - 1) / b;
		if (!cnt)
			cnt = 1;
		if (cnt <= MAX_SERIES) {
			*start = s0;
			*bucket = b;
			*n = (size_t)cnt;
			return;
		}
		b = width_ns(++k);
	}
}

static int build_series(sonde_errors *e, const grp *g, uint64_t start, uint64_t b, size_t n, uint64_t *total,
                        sonde_error_series *out)
{
	uint64_t *c = calloc(n ? n : 1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	uint64_t w = width_ns(e->ladder);
	for (size_t i = 0; i < g->hn; i++) {
		if (!g->h[i])
			continue;
		uint64_t t = (g->hbase + i) * w;
		if (t < start)
			continue;
		uint64_t j = (t - start) / b;
		if (j >= n)
			continue;
		c[j] += g->h[i];
		total[j] += g->h[i];
	}
	return sonde_error_series_analyse(out, start, b, c, n);
}

/* Where the first spike of g's series began, to the width of the engine's buckets (finer
 * than the report's when the window is long): the first of them inside the spike's first
 * bucket that holds at least half that bucket's average, so that a stray error early in
 * the bucket does not count, and that services whose spikes share a minute are told
 * apart in a cascade. */
static uint64_t spike_onset(const sonde_errors *e, const grp *g, const sonde_error_series *s)
{
	uint64_t b0 = s->spikes[0].onset_ns, w = width_ns(e->ladder);
	if (w >= s->bucket_ns || s->bucket_ns % w)
		return b0;
	uint64_t per = s->bucket_ns / w, total = 0, lo = b0 / w;
	for (uint64_t k = 0; k < per; k++)
		if (lo + k >= g->hbase && lo + k < g->hbase + g->hn)
			total += g->h[lo + k - g->hbase];
	for (uint64_t k = 0; k < per; k++) {
		if (lo + k < g->hbase || lo + k >= g->hbase + g->hn)
			continue;
		uint64_t c = g->h[lo + k - g->hbase];
		if (c && 2 * c * per >= total)
			return (lo + k) * w;
	}
	return b0;
}

/* sorted_of: the result index of each of the engine's groups. */
static int build_clusters(sonde_errors *e, const size_t *sorted_of)
{
	sonde_errors_result *r = &e->res;
	size_t n = r->groups_count;
	if (n < 2)
		return 0;
	order *ordv = malloc(n * sizeof(*ordv));
	size_t *ord = malloc(n * sizeof(*ord));
	size_t *cl_of = malloc(n * sizeof(*cl_of));
	int rc = 0;
	if (!ordv || !ord || !cl_of) {
		rc = -ENOMEM;
		goto out;
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		cl_of[i] = SIZE_MAX;
		if (r->groups[i].onset_ns && r->groups[i].services_count)
			ordv[m++] = (order){r->groups[i].onset_ns, NULL, 0, i};
	}
	qsort(ordv, m, sizeof(*ordv), cmp_onset);
	for (size_t i = 0; i < m; i++)
		ord[i] = ordv[i].idx;
	for (size_t a = 0; a < m;) {
		size_t b = a + 1;
		while (b < m &&
		       r->groups[ord[b]].onset_ns - r->groups[ord[b - 1]].onset_ns <= e->o.cascade_window_ns)
			b++;
		/* ord[a..b) chain; a cascade needs two services. */
		const char **svcs = NULL;
		size_t sn = 0, scap = 0;
		for (size_t i = a; i < b && rc == 0; i++) {
			const sonde_error_group *g = &r->groups[ord[i]];
			for (size_t k = 0; k < g->services_count; k++) {
				size_t j = 0;
				while (j < sn && strcmp(svcs[j], g->services[k]) != 0)
					j++;
				if (j < sn)
					continue;
				if (grow((void **)&svcs, &scap, sn + 1, sizeof(*svcs)) < 0) {
					rc = -ENOMEM;
					break;
				}
				svcs[sn++] = g->services[k];
			}
		}
		if (rc == 0 && sn >= 2) {
			sonde_error_cluster *p = realloc(r->clusters, (r->clusters_count + 1) * sizeof(*p));
			size_t *gs = malloc((b - a) * sizeof(*gs));
			if (!p || !gs) {
				free(gs);
				if (p)
					r->clusters = p;
				rc = -ENOMEM;
			} else {
				r->clusters = p;
				sonde_error_cluster *c = &p[r->clusters_count];
				memset(c, 0, sizeof(*c));
				for (size_t i = a; i < b; i++) {
					gs[i - a] = ord[i];
					cl_of[ord[i]] = r->clusters_count;
				}
				c->groups = gs;
				c->groups_count = b - a;
				c->services = svcs;
				c->services_count = sn;
				c->start_ns = r->groups[ord[a]].onset_ns;
				c->end_ns = r->groups[ord[b - 1]].onset_ns;
				c->origin_service = r->groups[ord[a]].services[0];
				r->clusters_count++;
				svcs = NULL;
			}
		}
		free(svcs);
		if (rc < 0)
			goto out;
		a = b;
	}
	/* Where traces link services, the first error of each trace names where it began. */
	if (r->clusters_count && e->tr_n) {
		uint64_t *votes = calloc(e->svc.n ? e->svc.n : 1, sizeof(*votes));
		if (!votes) {
			rc = -ENOMEM;
			goto out;
		}
		for (size_t c = 0; c < r->clusters_count; c++) {
			sonde_error_cluster *cl = &r->clusters[c];
			uint64_t mask = 0;
			for (size_t k = 0; k < cl->services_count; k++) {
				const char *nm = cl->services[k];
				const islot *sl =
				        itab_find(&e->svc.map, sonde_hash_bytes(nm, strlen(nm), VALUE_SEED));
				if (sl && sl->val < 64)
					mask |= 1ull << sl->val;
			}
			memset(votes, 0, (e->svc.n ? e->svc.n : 1) * sizeof(*votes));
			for (size_t t = 0; t < e->tr_n; t++) {
				const trace_info *ti = &e->tr[t];
				uint64_t in = ti->svc_mask & mask;
				if (!(in & (in - 1)) || ti->first_group >= e->gn)
					continue; /* fewer than two of the cluster's services */
				size_t gi = sorted_of[ti->first_group];
				if (gi == SIZE_MAX || cl_of[gi] != c)
					continue;
				cl->linked_traces++;
				votes[ti->first_svc]++;
			}
			if (cl->linked_traces) {
				size_t best = 0;
				for (size_t k = 1; k < e->svc.n; k++)
					if (votes[k] > votes[best])
						best = k;
				cl->origin_service = e->svc.names[best];
				cl->origin_by_traces = true;
			}
		}
		free(votes);
	}
out:
	free(ordv);
	free(ord);
	free(cl_of);
	return rc;
}

/* Adds src's counts, values, buckets and traces to dst (both groups of e, of one
 * template), and empties src. */
static int fold_group(sonde_errors *e, grp *dst, grp *src)
{
	int rc;
	if (src->first && (!dst->first || src->first < dst->first)) {
		dst->example = src->example; /* the first record's, as when one group saw all */
		dst->attrs = src->attrs;
	}
	if (!dst->error_type[0])
		dst->error_type = src->error_type;
	if (!dst->status[0])
		dst->status = src->status;
	dst->count += src->count;
	dst->logs += src->logs;
	dst->spans += src->spans;
	if (src->first && (!dst->first || src->first < dst->first))
		dst->first = src->first;
	if (src->last > dst->last)
		dst->last = src->last;
	for (size_t k = 0; k < src->svc_n; k++) {
		size_t j = 0;
		while (j < dst->svc_n && dst->svc[j] != src->svc[k])
			j++;
		if (j < dst->svc_n)
			continue;
		if (grow((void **)&dst->svc, &dst->svc_cap, dst->svc_n + 1, sizeof(*dst->svc)) < 0)
			return -ENOMEM;
		dst->svc[dst->svc_n++] = src->svc[k];
	}
	for (int d = 0; d < SONDE_ERRDIM_COUNT; d++) {
		const dimtab *sd = &src->dims[d];
		dst->dims[d].with_value += sd->with_value;
		for (size_t i = 0; sd->slots && i <= sd->mask; i++)
			if (sd->slots[i].key1 &&
			    (rc = dimtab_count(&dst->dims[d], sd->slots[i].key1 - 1, sd->slots[i].count)) < 0)
				return rc;
	}
	/* Counting into dst may coarsen every group, src too: its buckets are taken first. */
	uint32_t *h = src->h;
	size_t hn = src->hn;
	uint64_t hbase = src->hbase, w = width_ns(e->ladder);
	src->h = NULL;
	src->hn = src->hcap = 0;
	for (size_t i = 0; i < hn; i++)
		if (h[i] && (rc = count_time(e, dst, (hbase + i) * w, h[i])) < 0) {
			free(h);
			return rc;
		}
	free(h);
	for (size_t i = 0; i < src->traces_n && dst->traces_n < e->o.max_traces; i++) {
		if (!dst->traces && !(dst->traces = calloc(e->o.max_traces, sizeof(*dst->traces))))
			return -ENOMEM;
		if (!dst->traces_n)
			dst->lang = src->lang;
		dst->traces[dst->traces_n++] = src->traces[i]; /* frames live in the arena */
	}
	free(src->svc);
	free(src->traces);
	for (int d = 0; d < SONDE_ERRDIM_COUNT; d++)
		free(src->dims[d].slots);
	memset(src, 0, sizeof(*src));
	return 0;
}

/* With a keyed templater: asks it for the template each key ended in, and makes one
 * group of the groups whose templates became one (the first made survives). */
static int settle_templates(sonde_errors *e)
{
	const sonde_errors_templater *t = &e->o.templater;
	if (!t->describe || !e->gn)
		return 0;
	for (size_t i = 0; i < e->gn; i++) {
		grp *g = &e->g[i];
		const char *text = NULL;
		uint64_t id;
		int rc = t->describe(t->ctx, g->tid, true, &id, &text);
		if (rc == -ENOENT)
			continue; /* the templater forgot it: the group keeps what it had */
		if (rc < 0)
			return rc;
		g->id = id;
		if (strcmp(text, g->template_text) != 0 &&
		    !(g->template_text = arena_str(e, text, strlen(text))))
			return -ENOMEM;
	}
	itab byid = {0};
	uint32_t *remap = malloc(e->gn * sizeof(*remap));
	int rc = remap ? 0 : -ENOMEM;
	size_t live = 0;
	for (size_t i = 0; i < e->gn && rc == 0; i++) {
		bool oom = false;
		islot *sl = itab_get(&byid, e->g[i].id, (uint32_t)live, SIZE_MAX, &oom);
		if (!sl) {
			rc = -ENOMEM;
			break;
		}
		if (sl->val == live) {
			if (live != i) {
				e->g[live] = e->g[i];
				memset(&e->g[i], 0, sizeof(e->g[i]));
			}
			remap[i] = (uint32_t)live++;
		} else {
			remap[i] = sl->val;
			rc = fold_group(e, &e->g[sl->val], &e->g[i]);
		}
	}
	free(byid.slots);
	if (rc == 0) {
		for (size_t i = 0; i < e->tr_n; i++)
			if (e->tr[i].first_group < e->gn)
				e->tr[i].first_group = remap[e->tr[i].first_group];
		e->gn = live;
		free(e->gmap.slots); /* keyed by what no longer names the groups */
		e->gmap = (itab){0};
	}
	free(remap);
	return rc;
}

int sonde_errors_finish(sonde_errors *e)
{
	if (e->finished)
		return 0;
	sonde_errors_result *r = &e->res;
	int rc = settle_templates(e);
	if (rc < 0) {
		e->finished = true;
		return rc;
	}
	size_t n = e->gn;
	order *perm = malloc((n ? n : 1) * sizeof(*perm));
	r->groups = calloc(n ? n : 1, sizeof(*r->groups));
	if (!perm || !r->groups) {
		free(perm);
		e->finished = true;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		perm[i] = (order){e->g[i].count, e->g[i].template_text, e->g[i].id, i};
	qsort(perm, n, sizeof(*perm), cmp_count);
	uint64_t first = 0, last = 0;
	for (size_t i = 0; i < n; i++) {
		const grp *g = &e->g[i];
		r->total += g->count;
		r->logs += g->logs;
		r->spans += g->spans;
		if (g->first && (!first || g->first < first))
			first = g->first;
		if (g->last > last)
			last = g->last;
	}
	r->since_ns = e->o.since_ns ? e->o.since_ns : first;
	r->until_ns = e->o.until_ns ? e->o.until_ns : last + 1;
	if (r->until_ns <= r->since_ns)
		r->until_ns = r->since_ns + 1;
	uint64_t start, b;
	size_t nb;
	choose_buckets(e, &start, &b, &nb);
	uint64_t *total = calloc(nb, sizeof(*total));
	if (!total) {
		free(perm);
		e->finished = true;
		return -ENOMEM;
	}
	r->groups_count = n;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const grp *g = &e->g[perm[i].idx];
		sonde_error_group *o = &r->groups[i];
		o->template_id = g->id;
		o->template_text = g->template_text;
		o->example = g->example;
		o->error_type = g->error_type;
		o->count = g->count;
		o->logs = g->logs;
		o->spans = g->spans;
		o->first_ns = g->first;
		o->last_ns = g->last;
		if (g->svc_n && !(o->services = malloc(g->svc_n * sizeof(*o->services)))) {
			rc = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < g->svc_n; k++)
			o->services[k] = e->svc.names[g->svc[k]];
		o->services_count = g->svc_n;
		for (int d = 0; d < SONDE_ERRDIM_COUNT && rc == 0; d++)
			rc = finish_dim(&e->vals[d], &g->dims[d], &o->dims[d]);
		if (rc == 0)
			rc = build_series(e, g, start, b, nb, total, &o->series);
		if (rc == 0)
			rc = common_frames(g, o);
		o->onset_ns = o->series.spikes_count ? spike_onset(e, g, &o->series) : g->first;
		if (o->series.spikes_count && o->onset_ns < g->first)
			o->onset_ns = g->first; /* the bucket began before the group's first error */
		sonde_error_facts facts = {
		        .message = g->example,
		        .error_type = g->error_type,
		        .status = g->status,
		        .attrs = &g->attrs,
		        .service = g->svc_n ? e->svc.names[g->svc[0]] : NULL,
		};
		o->rule = sonde_error_rules_match(e->o.rules, &facts);
		o->category = o->rule ? o->rule->category : SONDE_ERRCAT_UNKNOWN;
	}
	size_t *sorted_of = rc == 0 ? malloc((n ? n : 1) * sizeof(*sorted_of)) : NULL;
	if (rc == 0 && !sorted_of)
		rc = -ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++)
		sorted_of[perm[i].idx] = i;
	free(perm);
	if (rc == 0)
		rc = sonde_error_series_analyse(&r->overall, start, b, total, nb);
	else
		free(total);
	if (rc == 0)
		rc = build_clusters(e, sorted_of);
	free(sorted_of);
	e->finished = true; /* even after a failure, so that free() releases what was built */
	return rc;
}
