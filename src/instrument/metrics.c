/*
 * metrics.c - libsonde's metrics API: meters, instruments, series and their lookup by
 * attributes, the update hot path into per-thread cells, timers, thread exit and fork
 * (design notes in metrics_internal.h). Collection lives in metrics_collect.c.
 */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <errno.h>
#include <link.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config_internal.h"
#include "env_internal.h"
#include "exporter_internal.h"
#include "hash.h"
#include "metrics_internal.h"

struct sonde__metrics sonde__M = {
        .mu = PTHREAD_MUTEX_INITIALIZER,
        .default_limit = SONDE__M_DEFAULT_LIMIT,
};

sonde_series sonde__noop_series = {.op = SONDE__OP_NOOP};
static sonde_instrument noop_instrument = {.op = SONDE__OP_NOOP, .plain = &sonde__noop_series};
static sonde_meter noop_meter = {.name = (char *)"", .version = (char *)"", .schema_url = (char *)""};

#define M sonde__M

static __thread sonde__mthread *tls_mt __attribute__((tls_model("initial-exec")));
static pthread_key_t mt_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void after_fork_prepare(void);
static void after_fork_parent(void);
static void after_fork_child(void);
static void thread_exit(void *arg);

/* Read-only segments of the objects loaded at start-up (see sonde__mcache). Objects
 * loaded later are simply not known: their strings take the comparing path. */
enum { RO_MAX = 128 };
static struct {
	uintptr_t lo, hi;
} ro_seg[RO_MAX];
static int ro_count;

static int ro_collect(struct dl_phdr_info *info, size_t size, void *ud)
{
	(void)size;
	(void)ud;
	for (int i = 0; i < info->dlpi_phnum && ro_count < RO_MAX; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && !(ph->p_flags & PF_W) && ph->p_memsz) {
			ro_seg[ro_count].lo = info->dlpi_addr + ph->p_vaddr;
			ro_seg[ro_count].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
			ro_count++;
		}
	}
	return 0;
}

/* Whether the string at p (n bytes and its NUL) lies in a read-only segment. */
static bool in_ro(const char *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	for (int i = 0; i < ro_count; i++)
		if (a >= ro_seg[i].lo && a + n < ro_seg[i].hi)
			return true;
	return false;
}

static void init_once(void)
{
	dl_iterate_phdr(ro_collect, NULL);
	pthread_key_create(&mt_key, thread_exit);
	pthread_atfork(after_fork_prepare, after_fork_parent, after_fork_child);
	sonde_clock_init();
	M.start_ns = sonde_clock_realtime_ns();
	M.meters_tail = &M.meters;
}

static void ensure_init(void)
{
	pthread_once(&once, init_once);
}

/* ---- Meters ------------------------------------------------------------------------ */

static bool opt_eq(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

sonde_meter *sonde_meter_get(const char *scope_name, const char *scope_version, const char *schema_url)
{
	ensure_init();
	if (!scope_name)
		scope_name = "";
	pthread_mutex_lock(&M.mu);
	sonde_meter *m;
	for (m = M.meters; m; m = m->next)
		if (strcmp(m->name, scope_name) == 0 && opt_eq(m->version, scope_version) &&
		    opt_eq(m->schema_url, schema_url))
			goto out;
	m = calloc(1, sizeof(*m));
	char *n = strdup(scope_name), *v = strdup(scope_version ? scope_version : ""),
	     *u = strdup(schema_url ? schema_url : "");
	if (!m || !n || !v || !u) {
		free(m);
		free(n);
		free(v);
		free(u);
		m = &noop_meter;
		sonde__diag("metrics: out of memory creating meter %s", scope_name);
		goto out;
	}
	m->name = n;
	m->version = v;
	m->schema_url = u;
	m->instruments_tail = &m->instruments;
	*M.meters_tail = m;
	M.meters_tail = &m->next;
out:
	pthread_mutex_unlock(&M.mu);
	return m;
}

/* ---- Attributes -------------------------------------------------------------------- */

static bool attr_kept(const sonde_attr *a)
{
	return a->key && a->type >= SONDE_ATTR_STRING && a->type <= SONDE_ATTR_DOUBLE;
}

static const char *attr_str(const sonde_attr *a)
{
	return a->v.s ? a->v.s : "";
}

/* Attribute hashing. A set's hash is the sum of its attributes' hashes, so it does not
 * depend on the order the caller lists them in. The byte hash is a short multiply-mix
 * over 16-byte steps (one multiply for 16 bytes or less): lookups compare attributes after
 * a hash match anyway, so it needs to spread, not to resist. */
static inline uint64_t fp_bytes(const char *p, size_t n, uint64_t h)
{
	static const uint64_t k1 = 0xa0761d6478bd642fULL, k2 = 0xe7037ed1a0b428dbULL;
	const unsigned char *s = (const unsigned char *)p;
	h ^= (uint64_t)n * 0x8ebc6af09c88c6e3ULL;
	while (n > 16) {
		h = sonde_hash_mix(sonde__hash_rd8(s) ^ k1 ^ h, sonde__hash_rd8(s + 8) ^ k2);
		s += 16;
		n -= 16;
	}
	uint64_t a = 0, b = 0;
	if (n >= 8) {
		a = sonde__hash_rd8(s);
		b = sonde__hash_rd8(s + n - 8);
	} else if (n >= 4) {
		a = sonde__hash_rd4(s);
		b = sonde__hash_rd4(s + n - 4);
	} else if (n > 0) {
		a = ((uint64_t)s[0] << 16) | ((uint64_t)s[n >> 1] << 8) | s[n - 1];
	}
	return sonde_hash_mix(a ^ k1 ^ h, b ^ k2);
}

static uint64_t key_hash(const char *key, size_t klen)
{
	return fp_bytes(key, klen, 0x6d657472696373ULL);
}

/* One attribute's hash from its key's hash. */
static uint64_t attr_hash(uint64_t kh, const sonde_attr *a)
{
	switch (a->type) {
	case SONDE_ATTR_STRING: {
		const char *s = attr_str(a);
		return fp_bytes(s, strlen(s), kh ^ 1);
	}
	case SONDE_ATTR_BOOL:
		return sonde_hash_mix(kh ^ 2, a->v.b ? 0x9e3779b97f4a7c15ULL : 0x2545f4914f6cdd1dULL);
	case SONDE_ATTR_INT: return sonde_hash_mix(kh ^ 3, (uint64_t)a->v.i ^ 0x9e3779b97f4a7c15ULL);
	default: {
		double d = a->v.d == 0 ? 0 : a->v.d; /* -0 equals 0 */
		return sonde_hash_mix(kh ^ 4, sonde__bits(d) ^ 0x9e3779b97f4a7c15ULL);
	}
	}
}

static uint64_t set_hash(uint64_t sum, size_t n)
{
	return sonde_hash_u64(sum + n);
}

/* Equality of n bytes, inlined for the short keys and values attributes have. */
static inline bool bytes_eq(const char *a, const char *b, size_t n)
{
	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8)
			if (sonde__hash_rd8((const unsigned char *)a + i) !=
			    sonde__hash_rd8((const unsigned char *)b + i))
				return false;
		return sonde__hash_rd8((const unsigned char *)a + n - 8) ==
		       sonde__hash_rd8((const unsigned char *)b + n - 8);
	}
	if (n >= 4)
		return sonde__hash_rd4((const unsigned char *)a) ==
		               sonde__hash_rd4((const unsigned char *)b) &&
		       sonde__hash_rd4((const unsigned char *)a + n - 4) ==
		               sonde__hash_rd4((const unsigned char *)b + n - 4);
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* A caller's attribute, measured once by lookup_fast. */
typedef struct fast_attr {
	const sonde_attr *a;
	size_t klen, slen;
	uint64_t kh;
} fast_attr;

static inline __attribute__((always_inline)) bool fast_eq(const fast_attr *f, const sonde_kv *kv)
{
	if (f->klen != kv->key.len || !bytes_eq(f->a->key, kv->key.ptr, f->klen))
		return false;
	const sonde_attr *a = f->a;
	switch (a->type) {
	case SONDE_ATTR_STRING:
		return kv->value.kind == SONDE_VAL_STRING && kv->value.u.str.len == f->slen &&
		       bytes_eq(attr_str(a), kv->value.u.str.ptr, f->slen);
	case SONDE_ATTR_BOOL: return kv->value.kind == SONDE_VAL_BOOL && kv->value.u.b == a->v.b;
	case SONDE_ATTR_INT: return kv->value.kind == SONDE_VAL_INT && kv->value.u.i == a->v.i;
	default:
		return kv->value.kind == SONDE_VAL_DOUBLE &&
		       (kv->value.u.d == a->v.d || (isnan(kv->value.u.d) && isnan(a->v.d)));
	}
}

/* Whether the measured attributes f[0..n) (no key twice) are s's set; perm, when not
 * NULL, receives for each of them the index of the series attribute it matched. They
 * usually come in the same order as the set's (sorted) keys; otherwise each key is
 * searched. */
static bool series_matches(const sonde_series *s, const fast_attr *f, size_t n, uint8_t *perm)
{
	if (n != s->nattrs)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint32_t j = (uint32_t)i;
		if (!fast_eq(&f[i], &s->attrs[i])) {
			for (j = 0; j < s->nattrs; j++)
				if (j != i && fast_eq(&f[i], &s->attrs[j]))
					break;
			if (j == s->nattrs)
				return false;
		}
		if (perm)
			perm[i] = (uint8_t)j;
	}
	return true;
}

/* ---- Lookup ------------------------------------------------------------------------ */

enum { FAST_ATTRS = 16 };

/* Lock-free: the series of attrs, or NULL when it must be looked for (or made) under the
 * lock - not found, a key given twice, or more attributes than the fast path hashes. */
static sonde_series *lookup_fast(sonde_instrument *in, const sonde_attr *attrs, size_t n)
{
	sonde__mtable *t = atomic_load_explicit(&in->table, memory_order_acquire);
	if (!t || n > FAST_ATTRS)
		return NULL;
	fast_attr f[FAST_ATTRS];
	uint64_t sum = 0;
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		const sonde_attr *a = &attrs[i];
		if (!attr_kept(a))
			continue;
		fast_attr *fa = &f[kept];
		fa->a = a;
		fa->klen = strlen(a->key);
		fa->kh = key_hash(a->key, fa->klen);
		for (size_t j = 0; j < kept; j++)
			if (f[j].kh == fa->kh)
				return NULL; /* maybe a key twice: the slow path sorts it out */
		if (a->type == SONDE_ATTR_STRING) {
			fa->slen = strlen(attr_str(a));
			sum += fp_bytes(attr_str(a), fa->slen, fa->kh ^ 1);
		} else {
			sum += attr_hash(fa->kh, a);
		}
		kept++;
	}
	uint64_t h = set_hash(sum, kept);
	for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
		sonde_series *s = atomic_load_explicit(&t->slots[i].s, memory_order_acquire);
		if (!s)
			break;
		if (atomic_load_explicit(&t->slots[i].hash, memory_order_relaxed) == h &&
		    series_matches(s, f, kept, NULL))
			return s;
	}
	/* Not there. Once the limit is reached no set is ever added again: the overflow. */
	return atomic_load_explicit(&in->overflow, memory_order_acquire);
}

static int kv_cmp(const void *a, const void *b)
{
	const sonde_kv *x = a, *y = b;
	size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
	int c = memcmp(x->key.ptr, y->key.ptr, n);
	return c ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

/* The canonical form of attrs: kept attributes, last value of a key, sorted by key.
 * Strings are borrowed from attrs. Returns the count (at most SONDE__M_MAX_ATTRS). */
static uint32_t canon_attrs(const sonde_attr *attrs, size_t n, sonde_kv *out, uint64_t *hash)
{
	uint32_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const sonde_attr *a = &attrs[i];
		if (!attr_kept(a))
			continue;
		size_t klen = strlen(a->key);
		sonde_kv *kv = NULL;
		for (uint32_t j = 0; j < k; j++)
			if (out[j].key.len == klen && memcmp(out[j].key.ptr, a->key, klen) == 0)
				kv = &out[j];
		if (!kv) {
			if (k == SONDE__M_MAX_ATTRS)
				continue;
			kv = &out[k++];
		}
		kv->key = (sonde_str){a->key, klen};
		switch (a->type) {
		case SONDE_ATTR_STRING:
			kv->value.kind = SONDE_VAL_STRING;
			kv->value.u.str = (sonde_str){attr_str(a), strlen(attr_str(a))};
			break;
		case SONDE_ATTR_BOOL:
			kv->value.kind = SONDE_VAL_BOOL;
			kv->value.u.b = a->v.b;
			break;
		case SONDE_ATTR_INT:
			kv->value.kind = SONDE_VAL_INT;
			kv->value.u.i = a->v.i;
			break;
		default:
			kv->value.kind = SONDE_VAL_DOUBLE;
			kv->value.u.d = a->v.d;
			break;
		}
	}
	qsort(out, k, sizeof(*out), kv_cmp);
	/* Hash the canonical set the way lookup_fast hashes a caller's list. */
	uint64_t sum = 0;
	for (uint32_t i = 0; i < k; i++) {
		sonde_attr a = {.key = out[i].key.ptr};
		switch (out[i].value.kind) {
		case SONDE_VAL_STRING:
			a.type = SONDE_ATTR_STRING;
			a.v.s = out[i].value.u.str.ptr;
			break;
		case SONDE_VAL_BOOL:
			a.type = SONDE_ATTR_BOOL;
			a.v.b = out[i].value.u.b;
			break;
		case SONDE_VAL_INT:
			a.type = SONDE_ATTR_INT;
			a.v.i = out[i].value.u.i;
			break;
		default:
			a.type = SONDE_ATTR_DOUBLE;
			a.v.d = out[i].value.u.d;
			break;
		}
		sum += attr_hash(key_hash(out[i].key.ptr, out[i].key.len), &a);
	}
	*hash = set_hash(sum, k);
	return k;
}

static bool kv_equal_sets(const sonde_kv *a, uint32_t na, const sonde_kv *b, uint32_t nb)
{
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < na; i++)
		if (kv_cmp(&a[i], &b[i]) != 0 || !sonde_value_equal(&a[i].value, &b[i].value))
			return false;
	return true;
}

/* Copies a canonical set with its strings into one allocation. */
static sonde_kv *kv_copy(const sonde_kv *src, uint32_t n)
{
	size_t bytes = n * sizeof(sonde_kv);
	for (uint32_t i = 0; i < n; i++) {
		bytes += src[i].key.len + 1;
		if (src[i].value.kind == SONDE_VAL_STRING)
			bytes += src[i].value.u.str.len + 1;
	}
	sonde_kv *kv = malloc(bytes ? bytes : 1);
	if (!kv)
		return NULL;
	char *p = (char *)(kv + n);
	for (uint32_t i = 0; i < n; i++) {
		kv[i] = src[i];
		memcpy(p, src[i].key.ptr, src[i].key.len);
		p[src[i].key.len] = '\0';
		kv[i].key.ptr = p;
		p += src[i].key.len + 1;
		if (src[i].value.kind == SONDE_VAL_STRING) {
			memcpy(p, src[i].value.u.str.ptr, src[i].value.u.str.len);
			p[src[i].value.u.str.len] = '\0';
			kv[i].value.u.str.ptr = p;
			p += src[i].value.u.str.len + 1;
		}
	}
	return kv;
}

/* Allocates cell space (M.mu held): an offset whose words do not straddle a chunk. */
static int cells_alloc(uint32_t words, uint32_t *off)
{
	if (words == 0) {
		*off = 0;
		return 0;
	}
	uint32_t o = M.next_off;
	if ((o & (SONDE__M_CHUNK_WORDS - 1)) + words > SONDE__M_CHUNK_WORDS)
		o = (o | (SONDE__M_CHUNK_WORDS - 1)) + 1;
	if ((uint64_t)o + words > (uint64_t)SONDE__M_MAX_CHUNKS * SONDE__M_CHUNK_WORDS)
		return -ENOSPC;
	*off = o;
	M.next_off = o + words;
	return 0;
}

/* Makes a series (M.mu held); NULL when out of memory or cell space. */
static sonde_series *series_new(sonde_instrument *in, const sonde_kv *kv, uint32_t n, uint64_t hash)
{
	size_t size = (sizeof(sonde_series) + 63) & ~(size_t)63;
	sonde_series *s = aligned_alloc(64, size);
	if (!s)
		return NULL;
	memset(s, 0, size);
	s->attrs = kv_copy(kv, n);
	if (!s->attrs || cells_alloc(in->cell_words, &s->off) < 0) {
		free(s->attrs);
		free(s);
		return NULL;
	}
	s->op = in->op;
	s->inst = in;
	s->nattrs = n;
	s->hash = hash;
	s->index = in->nseries++;
	*in->series_tail = s;
	in->series_tail = &s->next;
	return s;
}

static int table_ensure(sonde_instrument *in)
{
	if (atomic_load_explicit(&in->table, memory_order_relaxed))
		return 0;
	uint32_t cap = 16;
	while (cap < 2 * in->limit)
		cap *= 2;
	sonde__mtable *t = calloc(1, sizeof(*t) + cap * sizeof(t->slots[0]));
	if (!t)
		return -ENOMEM;
	t->mask = cap - 1;
	atomic_store_explicit(&in->table, t, memory_order_release);
	return 0;
}

static void table_put(sonde_instrument *in, sonde_series *s)
{
	sonde__mtable *t = atomic_load_explicit(&in->table, memory_order_relaxed);
	uint32_t i = (uint32_t)s->hash & t->mask;
	while (atomic_load_explicit(&t->slots[i].s, memory_order_relaxed))
		i = (i + 1) & t->mask;
	atomic_store_explicit(&t->slots[i].hash, s->hash, memory_order_relaxed);
	atomic_store_explicit(&t->slots[i].s, s, memory_order_release);
}

sonde_series *sonde__series_get_locked(sonde_instrument *in, const sonde_attr *attrs, size_t n)
{
	if (in->op == SONDE__OP_NOOP)
		return &sonde__noop_series;
	sonde_kv kv[SONDE__M_MAX_ATTRS];
	uint64_t hash;
	uint32_t k = canon_attrs(attrs, n, kv, &hash);
	if (k == 0 && in->plain)
		return in->plain;
	if (table_ensure(in) < 0)
		return &sonde__noop_series;
	sonde__mtable *t = atomic_load_explicit(&in->table, memory_order_relaxed);
	for (uint32_t i = (uint32_t)hash & t->mask;; i = (i + 1) & t->mask) {
		sonde_series *s = atomic_load_explicit(&t->slots[i].s, memory_order_relaxed);
		if (!s)
			break;
		if (s->hash == hash && kv_equal_sets(s->attrs, s->nattrs, kv, k))
			return s;
	}
	sonde_series *over = atomic_load_explicit(&in->overflow, memory_order_relaxed);
	if (over)
		return over;
	if (in->nseries + 1 >= in->limit) {
		sonde_kv ov = {.key = SONDE_STR_LIT("otel.metric.overflow"),
		               .value = {.kind = SONDE_VAL_BOOL, .u.b = true}};
		sonde_series *s = series_new(in, &ov, 1, 0);
		if (!s)
			return &sonde__noop_series;
		s->overflow = true;
		atomic_store_explicit(&in->overflow, s, memory_order_release);
		sonde__diag("metrics: %s reached its cardinality limit of %u series; new attribute sets "
		            "go to the otel.metric.overflow series",
		            in->name, in->limit);
		return s;
	}
	sonde_series *s = series_new(in, kv, k, hash);
	if (!s) {
		sonde__diag("metrics: out of memory (or cell space) for a series of %s", in->name);
		return &sonde__noop_series;
	}
	atomic_store_explicit(&s->wanted, true, memory_order_relaxed);
	table_put(in, s);
	return s;
}

/* Measures the kept attributes of attrs[0..n) into f; returns how many, or -1 when there
 * are more than the fast paths handle. */
static ssize_t measure(const sonde_attr *attrs, size_t n, fast_attr *f)
{
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		const sonde_attr *a = &attrs[i];
		if (!attr_kept(a))
			continue;
		if (kept == FAST_ATTRS)
			return -1;
		f[kept].a = a;
		f[kept].klen = strlen(a->key);
		if (a->type == SONDE_ATTR_STRING)
			f[kept].slen = strlen(attr_str(a));
		kept++;
	}
	return (ssize_t)kept;
}

/* A cache hit's check: the caller's attributes, in the order recorded, are e->s's. One
 * pass, no hashing: each kept attribute is compared with the series attribute it matched
 * when the entry was filled. */
static bool cache_matches(const sonde__mcache *e, const sonde_attr *attrs, size_t n)
{
	const sonde_series *s = e->s;
	uint32_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const sonde_attr *a = &attrs[i];
		if (!attr_kept(a))
			continue;
		if (k == s->nattrs || k == FAST_ATTRS)
			return false;
		fast_attr f = {.a = a, .klen = strlen(a->key)};
		if (a->type == SONDE_ATTR_STRING)
			f.slen = strlen(attr_str(a));
		if (!fast_eq(&f, &s->attrs[e->perm[k]]))
			return false;
		k++;
	}
	return k == s->nattrs;
}

/* The value word a cache snapshot keeps: a string's pointer, an integer, a double's bits,
 * a bool (the union's other bytes are not set for it). */
static inline uint64_t attr_word(const sonde_attr *a)
{
	uint64_t w;
	memcpy(&w, &a->v, sizeof w);
	return w & (a->type == SONDE_ATTR_BOOL ? 0xff : ~(uint64_t)0);
}

/* Fills a cache entry after a lookup found s for attrs. */
static void cache_fill(sonde__mcache *e, sonde_instrument *in, const sonde_attr *attrs, size_t n,
                       sonde_series *s)
{
	fast_attr f[FAST_ATTRS] = {{0}};
	ssize_t kept = measure(attrs, n, f);
	e->in = NULL;
	if (kept < 0 || !series_matches(s, f, (size_t)kept, e->perm))
		return;
	e->snap = (size_t)kept == n && n <= SONDE__M_CACHE_PTRS;
	for (size_t i = 0; e->snap && i < n; i++) {
		const sonde_attr *x = f[i].a;
		bool vro = x->type != SONDE_ATTR_STRING || !x->v.s || in_ro(x->v.s, f[i].slen);
		e->kp[i] = in_ro(x->key, f[i].klen) ? x->key : NULL;
		e->ty[i] = vro ? (uint8_t)x->type : 0;
		e->vw[i] = attr_word(x);
	}
	e->in = in;
	e->attrs = attrs;
	e->n = (uint32_t)n;
	e->s = s;
}

/* Whether the NUL-terminated c equals p[0..len) (which holds no NUL). Reads c no further
 * than its NUL or len + 1 bytes, so it needs no strlen first. */
static inline bool cstr_eq(const char *c, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (c[i] != p[i])
			return false;
	return c[len] == '\0';
}

/* Whether the caller's attribute a equals the series attribute kv; its key (when key) and
 * its value (when value) are compared, the parts a snapshot vouched for are not. */
static bool attr_eq_kv(const sonde_attr *a, const sonde_kv *kv, bool key, bool value)
{
	if (!attr_kept(a) || (key && !cstr_eq(a->key, kv->key.ptr, kv->key.len)))
		return false;
	if (!value)
		return true;
	switch (a->type) {
	case SONDE_ATTR_STRING:
		return kv->value.kind == SONDE_VAL_STRING &&
		       cstr_eq(attr_str(a), kv->value.u.str.ptr, kv->value.u.str.len);
	case SONDE_ATTR_BOOL: return kv->value.kind == SONDE_VAL_BOOL && kv->value.u.b == a->v.b;
	case SONDE_ATTR_INT: return kv->value.kind == SONDE_VAL_INT && kv->value.u.i == a->v.i;
	default:
		return kv->value.kind == SONDE_VAL_DOUBLE &&
		       (kv->value.u.d == a->v.d || (isnan(kv->value.u.d) && isnan(a->v.d)));
	}
}

/* A hit's check for an entry with a snapshot. A key whose pointer was read-only and is
 * unchanged is the same key; a value whose type and word are unchanged is the same value
 * when the word is a number or a pointer that was read-only (that memory cannot have
 * changed). Anything else is compared with the series attribute the caller's matched at
 * fill time. Every caller attribute then equals a distinct one of the series' (perm is
 * one-to-one and n is the series' count), so the sets are equal. */
static inline bool cache_matches_snap(const sonde__mcache *e, const sonde_attr *attrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const sonde_attr *a = &attrs[i];
		bool k = a->key == e->kp[i] && a->key;
		bool v = a->type == (sonde_attr_type)e->ty[i] && attr_word(a) == e->vw[i];
		if (__builtin_expect(!(k && v), 0) && !attr_eq_kv(a, &e->s->attrs[e->perm[i]], !k, !v))
			return false;
	}
	return true;
}

static sonde__mthread *thread_register(void);

/* A cache miss (e is the two-entry set to fill, or NULL before the thread's first
 * update): the instrument's table, else the lock. The set's first entry moves to the
 * second, the new one takes the first. Out of line, so that a hit costs no more than its
 * check. */
static __attribute__((noinline)) sonde_series *lookup_miss(sonde_instrument *in, const sonde_attr *attrs,
                                                           size_t n, sonde__mcache *e)
{
	sonde_series *s = lookup_fast(in, attrs, n);
	if (__builtin_expect(s == NULL, 0)) {
		if (in->op == SONDE__OP_NOOP)
			return &sonde__noop_series;
		pthread_mutex_lock(&M.mu);
		s = sonde__series_get_locked(in, attrs, n);
		pthread_mutex_unlock(&M.mu);
	}
	if (e && s != &sonde__noop_series && !s->overflow) {
		e[1] = e[0];
		cache_fill(&e[0], in, attrs, n, s);
	}
	return s;
}

static inline __attribute__((always_inline)) bool cache_hit(const sonde__mcache *e,
                                                            const sonde_instrument *in,
                                                            const sonde_attr *attrs, size_t n)
{
	return e->in == in && e->attrs == attrs && e->n == n &&
	       (e->snap ? cache_matches_snap(e, attrs, n) : cache_matches(e, attrs, n));
}

static inline __attribute__((always_inline)) sonde_series *lookup(sonde_instrument *in,
                                                                  const sonde_attr *attrs, size_t n)
{
	if (n == 0)
		return in->plain;
	sonde__mthread *t = tls_mt;
	sonde__mcache *e = NULL;
	if (__builtin_expect(t != NULL, 1)) {
		/* Two entries per set: call sites that map to the same set, or one site whose
		 * attributes alternate between two sets, still hit. */
		uintptr_t k = ((uintptr_t)attrs >> 3) ^ ((uintptr_t)in >> 6) ^ n;
		e = &t->cache[((k ^ (k >> 8)) & (SONDE__M_CACHE / 2 - 1)) * 2];
		if (cache_hit(&e[0], in, attrs, n))
			return e[0].s;
		if (cache_hit(&e[1], in, attrs, n))
			return e[1].s;
	}
	return lookup_miss(in, attrs, n, e);
}

sonde_series *sonde_instrument_bind(sonde_instrument *in, const sonde_attr *attrs, size_t n)
{
	if (!in)
		return &sonde__noop_series;
	sonde_series *s = lookup(in, attrs, n);
	if (s != &sonde__noop_series && !atomic_load_explicit(&s->wanted, memory_order_relaxed))
		atomic_store_explicit(&s->wanted, true, memory_order_relaxed);
	return s;
}

/* ---- Instruments ------------------------------------------------------------------- */

static const double default_bounds[] = {0,   5,   10,   25,   50,   75,   100,  250,
                                        500, 750, 1000, 2500, 5000, 7500, 10000};
static const double default_quantiles[] = {0.5, 0.9, 0.99};

static bool name_valid(const char *n)
{
	size_t len = n ? strlen(n) : 0;
	if (len == 0 || len > 255 || !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z')))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = n[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		          c == '_' || c == '.' || c == '-' || c == '/';
		if (!ok)
			return false;
	}
	return true;
}

static double ns_factor(const char *unit)
{
	static const struct {
		const char *u;
		double f;
	} t[] = {{"ns", 1}, {"us", 1e-3}, {"ms", 1e-6}, {"s", 1e-9}, {"min", 1e-9 / 60}, {"h", 1e-9 / 3600}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (unit && strcmp(unit, t[i].u) == 0)
			return t[i].f;
	return 1e-9;
}

static uint8_t op_of(const sonde_instrument_opts *o)
{
	switch (o->kind) {
	case SONDE_INSTRUMENT_COUNTER:
	case SONDE_INSTRUMENT_UPDOWN_COUNTER:
		return o->value_type == SONDE_METRIC_INT ? SONDE__OP_SUM_INT : SONDE__OP_SUM_DOUBLE;
	case SONDE_INSTRUMENT_GAUGE: return SONDE__OP_GAUGE;
	case SONDE_INSTRUMENT_HISTOGRAM:
		return o->buckets == SONDE_HISTOGRAM_EXPONENTIAL ? SONDE__OP_EXP : SONDE__OP_HIST;
	case SONDE_INSTRUMENT_SUMMARY: return SONDE__OP_SUMMARY;
	case SONDE_INSTRUMENT_OBSERVABLE_COUNTER:
	case SONDE_INSTRUMENT_OBSERVABLE_UPDOWN_COUNTER:
	case SONDE_INSTRUMENT_OBSERVABLE_GAUGE: return SONDE__OP_OBSERVED;
	}
	return SONDE__OP_NOOP;
}

/* Checks the options; returns NULL or what is wrong. */
static const char *opts_problem(const sonde_instrument_opts *o)
{
	if (!name_valid(o->name))
		return "the name is not a valid instrument name";
	if (op_of(o) == SONDE__OP_NOOP)
		return "unknown instrument kind";
	if (o->bounds_count > SONDE__M_MAX_BOUNDS)
		return "more than 256 bucket bounds";
	for (size_t i = 0; o->bounds && i < o->bounds_count; i++)
		if (!isfinite(o->bounds[i]) || (i > 0 && !(o->bounds[i] > o->bounds[i - 1])))
			return "bucket bounds must be finite and strictly ascending";
	if (o->max_size > SONDE__EXP_MAX_SIZE)
		return "max_size above 160";
	if (o->max_scale_set && (o->max_scale < SONDE__EXP_MIN_SCALE || o->max_scale > SONDE__EXP_MAX_SCALE))
		return "max_scale outside -10..20";
	if (o->quantiles_count > SONDE__M_MAX_QUANTILES)
		return "more than 16 quantiles";
	for (size_t i = 0; o->quantiles && i < o->quantiles_count; i++)
		if (!(o->quantiles[i] >= 0 && o->quantiles[i] <= 1))
			return "quantiles must be within [0, 1]";
	if (o->age_buckets > 32)
		return "age_buckets above 32";
	if (op_of(o) == SONDE__OP_OBSERVED && !o->callback)
		return "an observable instrument needs a callback";
	return NULL;
}

static sonde_instrument *find_existing(sonde_meter *m, const sonde_instrument_opts *o)
{
	for (sonde_instrument *i = m->instruments; i; i = i->next)
		if (strcasecmp(i->name, o->name) == 0 && i->kind == o->kind && opt_eq(i->unit, o->unit) &&
		    i->op == op_of(o))
			return i;
	return NULL;
}

static void instrument_free(sonde_instrument *in)
{
	free(in->name);
	free(in->unit);
	free(in->description);
	free(in->bounds);
	free(in->quantiles);
	free(in);
}

sonde_instrument *sonde_instrument_new(sonde_meter *m, const sonde_instrument_opts *o)
{
	ensure_init();
	if (!m || m == &noop_meter || !o)
		return &noop_instrument;
	const char *problem = opts_problem(o);
	if (problem) {
		sonde__diag("metrics: instrument %s: %s; it will record nothing",
		            o->name ? o->name : "(null)", problem);
		return &noop_instrument;
	}
	pthread_mutex_lock(&M.mu);
	sonde_instrument *in = find_existing(m, o);
	if (in)
		goto out;
	in = calloc(1, sizeof(*in));
	if (!in)
		goto oom;
	in->kind = o->kind;
	in->op = op_of(o);
	in->vt = o->value_type;
	in->no_min_max = o->no_min_max;
	in->meter = m;
	in->name = strdup(o->name);
	in->unit = strdup(o->unit ? o->unit : "");
	in->description = strdup(o->description ? o->description : "");
	in->limit = o->cardinality_limit ? o->cardinality_limit : M.default_limit;
	if (in->limit < 2)
		in->limit = 2;
	in->ns_to_unit = ns_factor(o->unit);
	in->series_tail = &in->series;
	in->cb = o->callback;
	in->cb_ud = o->callback_ud;
	if (!in->name || !in->unit || !in->description)
		goto oom;
	switch (in->op) {
	case SONDE__OP_SUM_INT:
	case SONDE__OP_SUM_DOUBLE: in->cell_words = 1; break;
	case SONDE__OP_HIST: {
		const double *b = o->bounds ? o->bounds : default_bounds;
		size_t nb = o->bounds ? o->bounds_count : sizeof(default_bounds) / sizeof(default_bounds[0]);
		/* A view of the configuration file overrides the instrument's own bounds. */
		double vb[SONDE__M_MAX_BOUNDS];
		size_t vn;
		if (sonde__view_bounds(m->name, o->name, vb, &vn)) {
			b = vb;
			nb = vn;
		}
		in->bounds = malloc((nb ? nb : 1) * sizeof(double));
		if (!in->bounds)
			goto oom;
		if (nb)
			memcpy(in->bounds, b, nb * sizeof(double));
		in->nbounds = (uint32_t)nb;
		in->cell_words = 3 + in->nbounds + 1;
		break;
	}
	case SONDE__OP_EXP:
		in->exp_max_size = o->max_size ? o->max_size : SONDE__EXP_MAX_SIZE;
		in->exp_max_scale = o->max_scale_set ? o->max_scale : SONDE__EXP_MAX_SCALE;
		in->cell_words = (uint32_t)sonde__exp_cell_words(in->exp_max_size);
		break;
	case SONDE__OP_SUMMARY: {
		const double *q = o->quantiles ? o->quantiles : default_quantiles;
		size_t nq = o->quantiles ? o->quantiles_count : 3;
		in->quantiles = malloc((nq ? nq : 1) * sizeof(double));
		if (!in->quantiles)
			goto oom;
		if (nq)
			memcpy(in->quantiles, q, nq * sizeof(double));
		in->nquantiles = (uint32_t)nq;
		in->age_buckets = o->age_buckets ? o->age_buckets : 5;
		uint64_t max_age_ns = (uint64_t)(o->max_age_ms ? o->max_age_ms : 600000) * 1000000u;
		in->age_ns = max_age_ns / in->age_buckets;
		if (in->age_ns == 0)
			in->age_ns = 1;
		in->cell_words = SONDE__SUM_WORDS;
		break;
	}
	default: break;
	}
	/* The series without attributes exists from the start (observables make theirs
	 * only when observed). */
	if (in->op != SONDE__OP_OBSERVED) {
		in->plain = series_new(in, NULL, 0, set_hash(0, 0));
		if (!in->plain)
			goto oom;
	}
	*m->instruments_tail = in;
	m->instruments_tail = &in->next;
out:
	pthread_mutex_unlock(&M.mu);
	return in;
oom:
	pthread_mutex_unlock(&M.mu);
	sonde__diag("metrics: out of memory creating instrument %s", o->name);
	if (in)
		instrument_free(in);
	return &noop_instrument;
}

static sonde_instrument *simple(sonde_meter *m, sonde_instrument_kind kind, sonde_metric_value_type vt,
                                const char *name, const char *unit, const char *desc)
{
	sonde_instrument_opts o = {
	        .kind = kind, .name = name, .unit = unit, .description = desc, .value_type = vt};
	return sonde_instrument_new(m, &o);
}

sonde_instrument *sonde_counter_new(sonde_meter *m, const char *name, const char *unit,
                                    const char *description)
{
	return simple(m, SONDE_INSTRUMENT_COUNTER, SONDE_METRIC_INT, name, unit, description);
}

sonde_instrument *sonde_counter_new_double(sonde_meter *m, const char *name, const char *unit,
                                           const char *description)
{
	return simple(m, SONDE_INSTRUMENT_COUNTER, SONDE_METRIC_DOUBLE, name, unit, description);
}

sonde_instrument *sonde_updown_counter_new(sonde_meter *m, const char *name, const char *unit,
                                           const char *description)
{
	return simple(m, SONDE_INSTRUMENT_UPDOWN_COUNTER, SONDE_METRIC_INT, name, unit, description);
}

sonde_instrument *sonde_gauge_new(sonde_meter *m, const char *name, const char *unit, const char *description)
{
	return simple(m, SONDE_INSTRUMENT_GAUGE, SONDE_METRIC_DOUBLE, name, unit, description);
}

sonde_instrument *sonde_histogram_new(sonde_meter *m, const char *name, const char *unit,
                                      const char *description, const double *bounds, size_t bounds_count)
{
	sonde_instrument_opts o = {.kind = SONDE_INSTRUMENT_HISTOGRAM,
	                           .name = name,
	                           .unit = unit,
	                           .description = description,
	                           .bounds = bounds,
	                           .bounds_count = bounds_count};
	return sonde_instrument_new(m, &o);
}

sonde_instrument *sonde_exp_histogram_new(sonde_meter *m, const char *name, const char *unit,
                                          const char *description)
{
	sonde_instrument_opts o = {.kind = SONDE_INSTRUMENT_HISTOGRAM,
	                           .name = name,
	                           .unit = unit,
	                           .description = description,
	                           .buckets = SONDE_HISTOGRAM_EXPONENTIAL};
	return sonde_instrument_new(m, &o);
}

sonde_instrument *sonde_summary_new(sonde_meter *m, const char *name, const char *unit,
                                    const char *description, const double *quantiles, size_t quantiles_count)
{
	sonde_instrument_opts o = {.kind = SONDE_INSTRUMENT_SUMMARY,
	                           .name = name,
	                           .unit = unit,
	                           .description = description,
	                           .quantiles = quantiles,
	                           .quantiles_count = quantiles_count};
	return sonde_instrument_new(m, &o);
}

/* ---- Thread cells ------------------------------------------------------------------ */

static sonde__mthread *thread_register(void)
{
	ensure_init();
	sonde__mthread *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	pthread_mutex_lock(&M.mu);
	t->next = M.threads;
	M.threads = t;
	pthread_mutex_unlock(&M.mu);
	pthread_setspecific(mt_key, t);
	tls_mt = t;
	return t;
}

/* Slow path of cell(): the thread's first update, or its first in this chunk. */
static __attribute__((noinline)) sonde__word *cell_slow(const sonde_series *s)
{
	sonde__mthread *t = tls_mt;
	if (!t && !(t = thread_register()))
		return NULL;
	_Atomic(sonde__word *) *slot = &t->chunks[s->off >> SONDE__M_CHUNK_SHIFT];
	sonde__word *c = atomic_load_explicit(slot, memory_order_relaxed);
	if (!c) {
		c = aligned_alloc(64, SONDE__M_CHUNK_WORDS * sizeof(sonde__word));
		if (!c)
			return NULL;
		memset(c, 0, SONDE__M_CHUNK_WORDS * sizeof(sonde__word));
		atomic_store_explicit(slot, c, memory_order_release);
	}
	return c + (s->off & (SONDE__M_CHUNK_WORDS - 1));
}

/* The calling thread's cell of s (NULL when memory is short). */
static inline sonde__word *cell(const sonde_series *s)
{
	sonde__mthread *t = tls_mt;
	if (__builtin_expect(t != NULL, 1)) {
		sonde__word *c = atomic_load_explicit(&t->chunks[s->off >> SONDE__M_CHUNK_SHIFT],
		                                      memory_order_relaxed);
		if (__builtin_expect(c != NULL, 1))
			return c + (s->off & (SONDE__M_CHUNK_WORDS - 1));
	}
	return cell_slow(s);
}

/* Folds an exiting thread's cells into the series' retired accumulators and frees them. */
static void thread_exit(void *arg)
{
	sonde__mthread *t = arg;
	tls_mt = NULL;
	pthread_mutex_lock(&M.mu);
	for (sonde_meter *m = M.meters; m; m = m->next)
		for (sonde_instrument *in = m->instruments; in; in = in->next)
			for (sonde_series *s = in->series; s; s = s->next) {
				if (!in->cell_words)
					continue;
				const sonde__word *c = sonde__cell_of(t, s);
				if (!c)
					continue;
				if (!s->retired && !(s->retired = sonde__snap_new(in)))
					continue; /* out of memory: the thread's counts are lost */
				sonde__snap_add_cell(s->retired, s, c);
			}
	for (sonde__mthread **p = &M.threads; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			break;
		}
	pthread_mutex_unlock(&M.mu);
	for (size_t i = 0; i < SONDE__M_MAX_CHUNKS; i++)
		free(atomic_load_explicit(&t->chunks[i], memory_order_relaxed));
	free(t);
}

/* ---- Updates ----------------------------------------------------------------------- */

static inline void add_int(sonde_series *s, int64_t v)
{
	if (v < 0 && s->inst->kind == SONDE_INSTRUMENT_COUNTER)
		return;
	sonde__word *c = cell(s);
	if (__builtin_expect(c != NULL, 1))
		sonde__st(c, sonde__ld(c) + (uint64_t)v);
}

static inline void add_double(sonde_series *s, double v)
{
	if (!(v >= 0) && (s->inst->kind == SONDE_INSTRUMENT_COUNTER || isnan(v)))
		return;
	sonde__word *c = cell(s);
	if (__builtin_expect(c != NULL, 1))
		sonde__st(c, sonde__bits(sonde__d(sonde__ld(c)) + v));
}

static __attribute__((noinline)) void series_add_slow(sonde_series *s, int64_t value)
{
	if (s->op == SONDE__OP_SUM_INT)
		add_int(s, value);
	else if (s->op == SONDE__OP_SUM_DOUBLE)
		add_double(s, (double)value);
}

void sonde_series_add(sonde_series *s, int64_t value)
{
	/* The common case inline, without a stack frame; the rest (a thread's first update,
	 * negative values, doubles) in series_add_slow. */
	sonde__mthread *t = tls_mt;
	if (__builtin_expect(s->op == SONDE__OP_SUM_INT && value >= 0 && t != NULL, 1)) {
		sonde__word *c = atomic_load_explicit(&t->chunks[s->off >> SONDE__M_CHUNK_SHIFT],
		                                      memory_order_relaxed);
		if (__builtin_expect(c != NULL, 1)) {
			c += s->off & (SONDE__M_CHUNK_WORDS - 1);
			sonde__st(c, sonde__ld(c) + (uint64_t)value);
			return;
		}
	}
	series_add_slow(s, value);
}

void sonde_series_add_double(sonde_series *s, double value)
{
	if (s->op == SONDE__OP_SUM_DOUBLE)
		add_double(s, value);
	else if (s->op == SONDE__OP_SUM_INT && isfinite(value) && fabs(value) < 9.2e18)
		add_int(s, (int64_t)llround(value));
}

void sonde_series_set(sonde_series *s, double value)
{
	if (s->op != SONDE__OP_GAUGE || isnan(value))
		return;
	atomic_store_explicit(&s->gauge_bits, sonde__bits(value), memory_order_relaxed);
	if (!atomic_load_explicit(&s->gauge_set, memory_order_relaxed))
		atomic_store_explicit(&s->gauge_set, true, memory_order_release);
}

static void hist_record(sonde_series *s, double v)
{
	const sonde_instrument *in = s->inst;
	sonde__word *c = cell(s);
	if (__builtin_expect(c == NULL, 0))
		return;
	uint32_t i = 0, nb = in->nbounds;
	const double *b = in->bounds;
	while (i < nb && v > b[i])
		i++;
	sonde__st(&c[3 + i], sonde__ld(&c[3 + i]) + 1);
	sonde__st(&c[0], sonde__bits(sonde__d(sonde__ld(&c[0])) + v));
	if (!in->no_min_max) {
		if (v < sonde__d(sonde__ld(&c[1]) ^ SONDE__INF_BITS))
			sonde__st(&c[1], sonde__bits(v) ^ SONDE__INF_BITS);
		if (v > sonde__d(sonde__ld(&c[2]) ^ SONDE__NINF_BITS))
			sonde__st(&c[2], sonde__bits(v) ^ SONDE__NINF_BITS);
	}
}

static void summary_record(sonde_series *s, double v)
{
	sonde__word *c = cell(s);
	if (__builtin_expect(c == NULL, 0))
		return;
	sonde__st(&c[SONDE__SUM_W_COUNT], sonde__ld(&c[SONDE__SUM_W_COUNT]) + 1);
	sonde__st(&c[SONDE__SUM_W_SUM], sonde__bits(sonde__d(sonde__ld(&c[SONDE__SUM_W_SUM])) + v));
	if (!(v >= SONDE__SK_MIN)) {
		sonde__st(&c[SONDE__SUM_W_ZERO], sonde__ld(&c[SONDE__SUM_W_ZERO]) + 1);
		return;
	}
	_Atomic uint32_t *bins = (_Atomic uint32_t *)(void *)(c + SONDE__SUM_W_BINS);
	_Atomic uint32_t *b = &bins[sonde__sk_bin(v)];
	atomic_store_explicit(b, atomic_load_explicit(b, memory_order_relaxed) + 1, memory_order_relaxed);
}

void sonde_series_record(sonde_series *s, double value)
{
	switch (s->op) {
	case SONDE__OP_HIST:
		if (!isnan(value))
			hist_record(s, value);
		break;
	case SONDE__OP_EXP:
		if (isfinite(value)) {
			sonde__word *c = cell(s);
			if (c)
				sonde__exp_cell_record(c, s->inst->exp_max_size, s->inst->exp_max_scale,
				                       value, !s->inst->no_min_max);
		}
		break;
	case SONDE__OP_SUMMARY:
		if (!isnan(value))
			summary_record(s, value);
		break;
	default: break;
	}
}

void sonde_series_record_ns(sonde_series *s, uint64_t duration_ns)
{
	if (s->op == SONDE__OP_HIST || s->op == SONDE__OP_EXP || s->op == SONDE__OP_SUMMARY)
		sonde_series_record(s, (double)duration_ns * s->inst->ns_to_unit);
}

uint64_t sonde_timer_start(void)
{
	ensure_init();
	return sonde_clock_ticks();
}

void sonde_series_record_since(sonde_series *s, uint64_t start)
{
	uint64_t now = sonde_clock_ticks();
	double ns = now > start ? (double)(now - start) * (1e9 / sonde_clock_ticks_per_sec()) : 0;
	if (s->op == SONDE__OP_HIST || s->op == SONDE__OP_EXP || s->op == SONDE__OP_SUMMARY)
		sonde_series_record(s, ns * s->inst->ns_to_unit);
}

void sonde_instrument_add(sonde_instrument *i, int64_t value, const sonde_attr *attrs, size_t n)
{
	if (i && (i->op == SONDE__OP_SUM_INT || i->op == SONDE__OP_SUM_DOUBLE))
		sonde_series_add(lookup(i, attrs, n), value);
}

void sonde_instrument_add_double(sonde_instrument *i, double value, const sonde_attr *attrs, size_t n)
{
	if (i && (i->op == SONDE__OP_SUM_INT || i->op == SONDE__OP_SUM_DOUBLE))
		sonde_series_add_double(lookup(i, attrs, n), value);
}

void sonde_instrument_set(sonde_instrument *i, double value, const sonde_attr *attrs, size_t n)
{
	if (i && i->op == SONDE__OP_GAUGE)
		sonde_series_set(lookup(i, attrs, n), value);
}

void sonde_instrument_record(sonde_instrument *i, double value, const sonde_attr *attrs, size_t n)
{
	if (i && (i->op == SONDE__OP_HIST || i->op == SONDE__OP_EXP || i->op == SONDE__OP_SUMMARY))
		sonde_series_record(lookup(i, attrs, n), value);
}

/* ---- Configuration and resource ------------------------------------------------------ */

typedef struct res_builder {
	sonde_kv kv[64];
	uint32_t n;
	bool oom;
} res_builder;

static void res_set(res_builder *r, const char *key, size_t klen, const char *val, size_t vlen)
{
	sonde_kv *kv = NULL;
	for (uint32_t i = 0; i < r->n; i++)
		if (r->kv[i].key.len == klen && memcmp(r->kv[i].key.ptr, key, klen) == 0)
			kv = &r->kv[i];
	if (!kv) {
		if (r->n == 64)
			return;
		kv = &r->kv[r->n];
		char *k = strndup(key, klen);
		if (!k) {
			r->oom = true;
			return;
		}
		kv->key = (sonde_str){k, klen};
		kv->value.kind = SONDE_VAL_STRING;
		kv->value.u.str = (sonde_str){NULL, 0};
		r->n++;
	}
	char *v = malloc(vlen + 1);
	if (!v) {
		r->oom = true;
		return;
	}
	memcpy(v, val, vlen);
	v[vlen] = '\0';
	free((char *)kv->value.u.str.ptr);
	kv->value.kind = SONDE_VAL_STRING;
	kv->value.u.str = (sonde_str){v, vlen};
}

static int res_member(void *ud, const char *key, const char *value, size_t value_len)
{
	res_set(ud, key, strlen(key), value, value_len);
	return 0;
}

static void res_free(sonde_kv *kv, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free((char *)kv[i].key.ptr);
		if (kv[i].value.kind == SONDE_VAL_STRING)
			free((char *)kv[i].value.u.str.ptr);
	}
	free(kv);
}

/* Builds the resource (M.mu held). */
static int build_resource(const sonde_metrics_config *cfg)
{
	res_builder *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	char exe[PATH_MAX] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *exe_name = "unknown";
	if (n > 0) {
		exe[n] = '\0';
		const char *slash = strrchr(exe, '/');
		exe_name = slash ? slash + 1 : exe;
	}
	char svc[sizeof("unknown_service:") + PATH_MAX];
	snprintf(svc, sizeof(svc), "unknown_service:%s", exe_name);
	res_set(r, "service.name", 12, svc, strlen(svc));
	res_set(r, "telemetry.sdk.name", 18, "sonde", 5);
	res_set(r, "telemetry.sdk.language", 22, "c", 1);
	res_set(r, "telemetry.sdk.version", 21, SONDE_VERSION, strlen(SONDE_VERSION));
	const char *env = sonde__env_get("OTEL_RESOURCE_ATTRIBUTES");
	if (env)
		sonde__kvlist_parse(env, "OTEL_RESOURCE_ATTRIBUTES", res_member, r);
	const char *name = sonde__env_get("OTEL_SERVICE_NAME");
	if (name)
		res_set(r, "service.name", 12, name, strlen(name));
	if (cfg && cfg->resource_attributes)
		sonde__kvlist_parse(cfg->resource_attributes, "resource_attributes", res_member, r);
	if (cfg && cfg->service_name)
		res_set(r, "service.name", 12, cfg->service_name, strlen(cfg->service_name));
	if (cfg && cfg->service_version)
		res_set(r, "service.version", 15, cfg->service_version, strlen(cfg->service_version));
	sonde_kv *kv = r->oom ? NULL : malloc((r->n ? r->n : 1) * sizeof(*kv));
	if (!kv) {
		for (uint32_t i = 0; i < r->n; i++) {
			free((char *)r->kv[i].key.ptr);
			free((char *)r->kv[i].value.u.str.ptr);
		}
		free(r);
		return -ENOMEM;
	}
	memcpy(kv, r->kv, r->n * sizeof(*kv));
	res_free(M.resource, M.nresource);
	M.resource = kv;
	M.nresource = r->n;
	M.resource_built = true;
	free(r);
	return 0;
}

void sonde__metrics_resource_default(void)
{
	if (!M.resource_built)
		build_resource(NULL);
}

void sonde__metrics_resource_from_tracing(const char *service_name, const char *service_version,
                                          const char *resource_attributes)
{
	ensure_init();
	pthread_mutex_lock(&M.mu);
	if (!M.resource_configured) {
		sonde_metrics_config cfg = {.service_name = service_name,
		                            .service_version = service_version,
		                            .resource_attributes = resource_attributes};
		build_resource(&cfg);
	}
	pthread_mutex_unlock(&M.mu);
}

int sonde_metrics_configure(const sonde_metrics_config *cfg)
{
	ensure_init();
	pthread_mutex_lock(&M.mu);
	M.resource_configured = true;
	int rc = build_resource(cfg);
	if (rc == 0 && cfg && cfg->cardinality_limit)
		M.default_limit = cfg->cardinality_limit;
	pthread_mutex_unlock(&M.mu);
	return rc;
}

/* ---- fork ---------------------------------------------------------------------------- */

static void after_fork_prepare(void)
{
	pthread_mutex_lock(&M.mu);
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&M.mu);
}

static void after_fork_child(void)
{
	/* Only this thread exists. The mutex was held across fork by it: re-create it. */
	pthread_mutex_init(&M.mu, NULL);
	sonde__mthread *self = tls_mt;
	for (sonde__mthread *t = M.threads, *next; t; t = next) {
		next = t->next;
		if (t == self)
			continue;
		for (size_t i = 0; i < SONDE__M_MAX_CHUNKS; i++)
			free(atomic_load_explicit(&t->chunks[i], memory_order_relaxed));
		free(t);
	}
	M.threads = self;
	if (self) {
		self->next = NULL;
		for (size_t i = 0; i < SONDE__M_MAX_CHUNKS; i++) {
			sonde__word *c = atomic_load_explicit(&self->chunks[i], memory_order_relaxed);
			if (c)
				memset(c, 0, SONDE__M_CHUNK_WORDS * sizeof(*c));
		}
	}
	for (sonde_meter *m = M.meters; m; m = m->next)
		for (sonde_instrument *in = m->instruments; in; in = in->next)
			for (sonde_series *s = in->series; s; s = s->next) {
				sonde__snap_free(s->retired);
				s->retired = NULL;
				free(s->window);
				s->window = NULL;
				s->obs_gen = 0;
				atomic_store_explicit(&s->gauge_set, false, memory_order_relaxed);
				atomic_store_explicit(&s->gauge_bits, 0, memory_order_relaxed);
			}
	M.start_ns = sonde_clock_realtime_ns();
	sonde__metrics_collect_after_fork();
}
