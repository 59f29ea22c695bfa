/*
 * stacktab.c - interned frames and stacks with per-type counts (see stacktab.h).
 *
 * Design: frames and stacks live in dense arrays indexed by id. Two open-addressing hash
 * indexes (id + 1 stored, 0 = empty, linear probing, load under 1/2) map a frame's or a
 * stack's content to its id. Stack frame ids are stored back to back in one uint32 pool;
 * a stack is (offset, depth) into it. Counts are a dense array of stacks x types.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "hash.h"
#include "intern.h"
#include "stacktab.h"

typedef struct stack_ref {
	size_t offset; /* into pool */
	uint32_t depth;
} stack_ref;

struct sonde_stacktab {
	sonde_arena arena;
	sonde_intern strings;
	sonde_sample_type types[16];
	size_t ntypes;

	sonde_frame *frames;
	size_t nframes, frames_cap;
	uint32_t *frame_index; /* hash -> id+1 */
	size_t frame_mask;

	stack_ref *stacks;
	size_t nstacks, stacks_cap;
	uint32_t *stack_index;
	size_t stack_mask;
	uint32_t *pool;
	size_t pool_len, pool_cap;

	int64_t *counts; /* stacks_cap x 16 */
};

enum { MAX_TYPES = 16 };

sonde_stacktab *sonde_stacktab_new(void)
{
	sonde_stacktab *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	sonde_arena_init(&t->arena);
	sonde_intern_init(&t->strings, &t->arena);
	return t;
}

void sonde_stacktab_free(sonde_stacktab *t)
{
	if (!t)
		return;
	sonde_intern_release(&t->strings);
	sonde_arena_release(&t->arena);
	free(t->frames);
	free(t->frame_index);
	free(t->stacks);
	free(t->stack_index);
	free(t->pool);
	free(t->counts);
	free(t);
}

int sonde_stacktab_add_type(sonde_stacktab *t, const char *name, const char *unit)
{
	for (size_t i = 0; i < t->ntypes; i++)
		if (strcmp(t->types[i].name, name) == 0)
			return (int)i;
	if (t->ntypes == MAX_TYPES)
		return -ENOSPC;
	const char *n = sonde_intern_str(&t->strings, name, strlen(name));
	const char *u = sonde_intern_str(&t->strings, unit ? unit : "", unit ? strlen(unit) : 0);
	if (!n || !u)
		return -ENOMEM;
	t->types[t->ntypes].name = n;
	t->types[t->ntypes].unit = u;
	return (int)t->ntypes++;
}

size_t sonde_stacktab_types_count(const sonde_stacktab *t)
{
	return t->ntypes;
}

const sonde_sample_type *sonde_stacktab_type(const sonde_stacktab *t, size_t index)
{
	return index < t->ntypes ? &t->types[index] : NULL;
}

/* Frame strings are interned, so equal strings are equal pointers. */
static uint64_t frame_hash(const sonde_frame *f)
{
	uint64_t h = sonde_hash_u64((uintptr_t)f->function);
	h = sonde_hash_mix(h ^ (uintptr_t)f->file, 0x9e3779b97f4a7c15ULL);
	h = sonde_hash_mix(h ^ (uintptr_t)f->module, 0xbf58476d1ce4e5b9ULL);
	h = sonde_hash_mix(h ^ f->address, 0x94d049bb133111ebULL);
	return sonde_hash_mix(h ^ ((uint64_t)f->line << 1 | f->inlined), 0x2545f4914f6cdd1dULL);
}

static bool frame_eq(const sonde_frame *a, const sonde_frame *b)
{
	return a->function == b->function && a->file == b->file && a->module == b->module &&
	       a->address == b->address && a->line == b->line && a->inlined == b->inlined;
}

/* Rebuilds an index of 2*cap slots; key_hash(i) gives the hash of id i. */
static int index_rebuild(uint32_t **index, size_t *mask, size_t n, size_t want,
                         uint64_t (*key_hash)(const sonde_stacktab *, size_t), const sonde_stacktab *t)
{
	size_t cap = 64;
	while (cap < want * 2)
		cap *= 2;
	uint32_t *idx = calloc(cap, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t j = key_hash(t, i) & (cap - 1);
		while (idx[j])
			j = (j + 1) & (cap - 1);
		idx[j] = (uint32_t)(i + 1);
	}
	free(*index);
	*index = idx;
	*mask = cap - 1;
	return 0;
}

static uint64_t frame_hash_at(const sonde_stacktab *t, size_t i)
{
	return frame_hash(&t->frames[i]);
}

static uint64_t stack_hash(const uint32_t *frames, size_t n)
{
	return sonde_hash_bytes(frames, n * sizeof(uint32_t), 0x5bd1e995);
}

static uint64_t stack_hash_at(const sonde_stacktab *t, size_t i)
{
	return stack_hash(t->pool + t->stacks[i].offset, t->stacks[i].depth);
}

static const char *intern_or_empty(sonde_stacktab *t, const char *s)
{
	if (!s)
		s = "";
	return sonde_intern_str(&t->strings, s, strlen(s));
}

int64_t sonde_stacktab_intern_frame(sonde_stacktab *t, const sonde_frame *in)
{
	sonde_frame f = *in;
	f.function = intern_or_empty(t, in->function);
	f.file = intern_or_empty(t, in->file);
	f.module = intern_or_empty(t, in->module);
	if (!f.function || !f.file || !f.module)
		return -ENOMEM;
	if (!t->frame_index || (t->nframes + 1) * 2 > t->frame_mask + 1) {
		if (index_rebuild(&t->frame_index, &t->frame_mask, t->nframes,
		                  t->nframes + 1 < 32 ? 32 : (t->nframes + 1) * 2, frame_hash_at, t) < 0)
			return -ENOMEM;
	}
	size_t j = frame_hash(&f) & t->frame_mask;
	while (t->frame_index[j]) {
		uint32_t id = t->frame_index[j] - 1;
		if (frame_eq(&t->frames[id], &f))
			return id;
		j = (j + 1) & t->frame_mask;
	}
	if (t->nframes >= UINT32_MAX - 1)
		return -ENOMEM;
	if (t->nframes == t->frames_cap) {
		size_t cap = t->frames_cap ? t->frames_cap * 2 : 256;
		sonde_frame *p = realloc(t->frames, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->frames = p;
		t->frames_cap = cap;
	}
	t->frames[t->nframes] = f;
	t->frame_index[j] = (uint32_t)(t->nframes + 1);
	return (int64_t)t->nframes++;
}

int64_t sonde_stacktab_intern_stack(sonde_stacktab *t, const uint32_t *frames, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (frames[i] >= t->nframes)
			return -EINVAL;
	if (n > UINT32_MAX)
		return -EINVAL;
	if (!t->stack_index || (t->nstacks + 1) * 2 > t->stack_mask + 1) {
		if (index_rebuild(&t->stack_index, &t->stack_mask, t->nstacks,
		                  t->nstacks + 1 < 32 ? 32 : (t->nstacks + 1) * 2, stack_hash_at, t) < 0)
			return -ENOMEM;
	}
	size_t j = stack_hash(frames, n) & t->stack_mask;
	while (t->stack_index[j]) {
		uint32_t id = t->stack_index[j] - 1;
		const stack_ref *s = &t->stacks[id];
		if (s->depth == n &&
		    (n == 0 || memcmp(t->pool + s->offset, frames, n * sizeof(uint32_t)) == 0))
			return id;
		j = (j + 1) & t->stack_mask;
	}
	if (t->nstacks >= UINT32_MAX - 1)
		return -ENOMEM;
	if (t->pool_cap - t->pool_len < n) {
		size_t cap = t->pool_cap ? t->pool_cap : 1024;
		while (cap - t->pool_len < n)
			cap *= 2;
		uint32_t *p = realloc(t->pool, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->pool = p;
		t->pool_cap = cap;
	}
	if (t->nstacks == t->stacks_cap) {
		size_t cap = t->stacks_cap ? t->stacks_cap * 2 : 256;
		stack_ref *p = realloc(t->stacks, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		t->stacks = p;
		int64_t *c = realloc(t->counts, cap * MAX_TYPES * sizeof(*c));
		if (!c)
			return -ENOMEM;
		memset(c + t->stacks_cap * MAX_TYPES, 0, (cap - t->stacks_cap) * MAX_TYPES * sizeof(*c));
		t->counts = c;
		t->stacks_cap = cap;
	}
	if (n)
		memcpy(t->pool + t->pool_len, frames, n * sizeof(uint32_t));
	t->stacks[t->nstacks].offset = t->pool_len;
	t->stacks[t->nstacks].depth = (uint32_t)n;
	t->pool_len += n;
	t->stack_index[j] = (uint32_t)(t->nstacks + 1);
	return (int64_t)t->nstacks++;
}

int sonde_stacktab_add(sonde_stacktab *t, uint32_t stack, size_t type, int64_t count)
{
	if (stack >= t->nstacks || type >= t->ntypes)
		return -EINVAL;
	t->counts[(size_t)stack * MAX_TYPES + type] += count;
	return 0;
}

size_t sonde_stacktab_frames_count(const sonde_stacktab *t)
{
	return t->nframes;
}

size_t sonde_stacktab_stacks_count(const sonde_stacktab *t)
{
	return t->nstacks;
}

const sonde_frame *sonde_stacktab_frame(const sonde_stacktab *t, uint32_t id)
{
	return id < t->nframes ? &t->frames[id] : NULL;
}

const uint32_t *sonde_stacktab_stack(const sonde_stacktab *t, uint32_t id, size_t *n)
{
	if (id >= t->nstacks)
		return NULL;
	*n = t->stacks[id].depth;
	return t->pool + t->stacks[id].offset;
}

int64_t sonde_stacktab_count(const sonde_stacktab *t, uint32_t stack, size_t type)
{
	if (stack >= t->nstacks || type >= t->ntypes)
		return 0;
	return t->counts[(size_t)stack * MAX_TYPES + type];
}

int64_t sonde_stacktab_total(const sonde_stacktab *t, size_t type)
{
	int64_t sum = 0;
	if (type >= t->ntypes)
		return 0;
	for (size_t i = 0; i < t->nstacks; i++)
		sum += t->counts[i * MAX_TYPES + type];
	return sum;
}

sonde_frame_kind sonde_frame_kind_of(const sonde_frame *f)
{
	const char *m = f->module ? f->module : "";
	if (strcmp(m, SONDE_MODULE_THREAD) == 0)
		return SONDE_FRAME_THREAD;
	if (f->inlined)
		return SONDE_FRAME_INLINED;
	if (strncmp(m, "[kernel", 7) == 0)
		return SONDE_FRAME_KERNEL;
	size_t n = strlen(m);
	if (strcmp(m, SONDE_MODULE_JIT) == 0 ||
	    (strncmp(m, "/tmp/perf-", 10) == 0 && n > 14 && strcmp(m + n - 4, ".map") == 0))
		return SONDE_FRAME_JIT;
	return SONDE_FRAME_USER;
}

int64_t sonde_stacktab_intern_thread(sonde_stacktab *t, const char *name, int64_t tid)
{
	size_t n = name && name[0] ? strlen(name) : 6;
	char small[128], *s = n + 32 <= sizeof(small) ? small : malloc(n + 32);
	if (!s)
		return -ENOMEM;
	snprintf(s, n + 32, "%s-%" PRId64, name && name[0] ? name : "thread", tid);
	sonde_frame f = {.function = s, .module = SONDE_MODULE_THREAD};
	int64_t id = sonde_stacktab_intern_frame(t, &f);
	if (s != small)
		free(s);
	return id;
}

const sonde_frame *sonde_stacktab_stack_thread(const sonde_stacktab *t, uint32_t stack)
{
	size_t n;
	const uint32_t *frames = sonde_stacktab_stack(t, stack, &n);
	if (!frames || n == 0)
		return NULL;
	const sonde_frame *root = &t->frames[frames[n - 1]];
	return sonde_frame_kind_of(root) == SONDE_FRAME_THREAD ? root : NULL;
}

void sonde_stacktab_clear(sonde_stacktab *t)
{
	sonde_intern_release(&t->strings);
	sonde_arena_release(&t->arena);
	free(t->frames);
	free(t->frame_index);
	free(t->stacks);
	free(t->stack_index);
	free(t->pool);
	free(t->counts);
	memset(t, 0, sizeof(*t));
	sonde_arena_init(&t->arena);
	sonde_intern_init(&t->strings, &t->arena);
}

/* Copies src's stacks into dst, whose types are given by tmap (src type -> dst type), and
 * whose frames by fmap (src frame -> dst frame, filled as needed; UINT32_MAX = not yet). */
static int merge_into(sonde_stacktab *dst, const sonde_stacktab *src, const size_t *tmap, uint32_t *fmap)
{
	uint32_t small[256], *ids = small;
	size_t ids_cap = 256;
	int rc = 0;
	for (size_t s = 0; s < src->nstacks; s++) {
		const stack_ref *ref = &src->stacks[s];
		bool any = false;
		for (size_t k = 0; k < src->ntypes; k++)
			any |= src->counts[s * MAX_TYPES + k] != 0;
		if (!any)
			continue;
		if (ref->depth > ids_cap) {
			uint32_t *p = ids == small ? malloc(ref->depth * sizeof(*p))
			                           : realloc(ids, ref->depth * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			ids = p;
			ids_cap = ref->depth;
		}
		for (uint32_t i = 0; i < ref->depth; i++) {
			uint32_t f = src->pool[ref->offset + i];
			if (fmap[f] == UINT32_MAX) {
				int64_t id = sonde_stacktab_intern_frame(dst, &src->frames[f]);
				if (id < 0) {
					rc = (int)id;
					goto out;
				}
				fmap[f] = (uint32_t)id;
			}
			ids[i] = fmap[f];
		}
		int64_t id = sonde_stacktab_intern_stack(dst, ids, ref->depth);
		if (id < 0) {
			rc = (int)id;
			break;
		}
		for (size_t k = 0; k < src->ntypes; k++)
			dst->counts[(size_t)id * MAX_TYPES + tmap[k]] += src->counts[s * MAX_TYPES + k];
	}
out:
	if (ids != small)
		free(ids);
	return rc;
}

static uint32_t *frame_map_new(const sonde_stacktab *src)
{
	uint32_t *fmap = malloc((src->nframes ? src->nframes : 1) * sizeof(*fmap));
	if (fmap)
		memset(fmap, 0xff, (src->nframes ? src->nframes : 1) * sizeof(*fmap));
	return fmap;
}

int sonde_stacktab_merge(sonde_stacktab *dst, const sonde_stacktab *src)
{
	size_t tmap[MAX_TYPES];
	for (size_t k = 0; k < src->ntypes; k++) {
		int ti = sonde_stacktab_add_type(dst, src->types[k].name, src->types[k].unit);
		if (ti < 0)
			return ti;
		tmap[k] = (size_t)ti;
	}
	uint32_t *fmap = frame_map_new(src);
	if (!fmap)
		return -ENOMEM;
	int rc = merge_into(dst, src, tmap, fmap);
	free(fmap);
	return rc;
}

static void say(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t n, const char *fmt, ...)
{
	if (!why || !n)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
}

/* Both tables go into one scratch table, a's counts under types 0..n-1 and b's under
 * n..2n-1, so stacks with equal content meet under one id. */
bool sonde_stacktab_equal(const sonde_stacktab *a, const sonde_stacktab *b, char *why, size_t why_len)
{
	say(why, why_len, "equal");
	if (a->ntypes != b->ntypes) {
		say(why, why_len, "%zu sample types against %zu", a->ntypes, b->ntypes);
		return false;
	}
	for (size_t k = 0; k < a->ntypes; k++) {
		if (strcmp(a->types[k].name, b->types[k].name) != 0 ||
		    strcmp(a->types[k].unit, b->types[k].unit) != 0) {
			say(why, why_len, "sample type %zu: %s/%s against %s/%s", k, a->types[k].name,
			    a->types[k].unit, b->types[k].name, b->types[k].unit);
			return false;
		}
	}
	if (a->ntypes > MAX_TYPES / 2) {
		say(why, why_len, "more than %d sample types cannot be compared", MAX_TYPES / 2);
		return false;
	}
	sonde_stacktab *t = sonde_stacktab_new();
	size_t ta[MAX_TYPES], tb[MAX_TYPES];
	bool ok = t != NULL;
	char name[16];
	for (size_t k = 0; ok && k < a->ntypes; k++) {
		snprintf(name, sizeof(name), "a%zu", k);
		ta[k] = (size_t)sonde_stacktab_add_type(t, name, "");
		snprintf(name, sizeof(name), "b%zu", k);
		tb[k] = (size_t)sonde_stacktab_add_type(t, name, "");
	}
	uint32_t *fa = ok ? frame_map_new(a) : NULL, *fb = ok ? frame_map_new(b) : NULL;
	if (!fa || !fb || merge_into(t, a, ta, fa) < 0 || merge_into(t, b, tb, fb) < 0) {
		say(why, why_len, "out of memory while comparing");
		ok = false;
	}
	for (size_t s = 0; ok && s < t->nstacks; s++) {
		for (size_t k = 0; k < a->ntypes; k++) {
			int64_t ca = t->counts[s * MAX_TYPES + ta[k]], cb = t->counts[s * MAX_TYPES + tb[k]];
			if (ca == cb)
				continue;
			const stack_ref *ref = &t->stacks[s];
			const char *leaf = ref->depth ? t->frames[t->pool[ref->offset]].function : "";
			say(why, why_len, "stack of depth %u with leaf '%s': %s %" PRId64 " against %" PRId64,
			    ref->depth, leaf, a->types[k].name, ca, cb);
			ok = false;
			break;
		}
	}
	free(fa);
	free(fb);
	sonde_stacktab_free(t);
	return ok;
}
