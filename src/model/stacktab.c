/*
 * stacktab.c - interned frames and stacks with per-type counts (see stacktab.h).
 *
 * Design: frames and stacks live in dense arrays indexed by id. Two open-addressing hash
 * indexes (id + 1 stored, 0 = empty, linear probing, load under 1/2) map a frame's or a
 * stack's content to its id. Stack frame ids are stored back to back in one uint32 pool;
 * a stack is (offset, depth) into it. Counts are a dense array of stacks x types.
 */
#include <errno.h>
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
