/*
 * store_keymap.c - the backends' map from byte strings to integers (store_internal.h):
 * stored names, resources, scopes, series and traces to their ids, keys seen in a batch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "store_internal.h"

uint64_t sonde__keymap_hash(const void *k, size_t n)
{
	return sonde_hash_bytes(k, n, 0x636b);
}

void sonde__keymap_init(sonde__keymap *m)
{
	memset(m, 0, sizeof *m);
	sonde_arena_init(&m->arena);
}

void sonde__keymap_release(sonde__keymap *m)
{
	free(m->e);
	sonde_arena_release(&m->arena);
	sonde__keymap_init(m);
}

void sonde__keymap_clear(sonde__keymap *m)
{
	if (m->e)
		memset(m->e, 0, (m->mask + 1) * sizeof *m->e);
	m->count = 0;
	sonde_arena_reset(&m->arena, 1 << 20);
}

sonde__keymap_ent *sonde__keymap_get_h(const sonde__keymap *m, const void *k, size_t n, uint64_t h)
{
	if (!m->e)
		return NULL;
	for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
		sonde__keymap_ent *e = &m->e[i];
		if (!e->k)
			return NULL;
		if (e->h == h && e->klen == n && memcmp(e->k, k, n) == 0)
			return e;
	}
}

sonde__keymap_ent *sonde__keymap_get(const sonde__keymap *m, const void *k, size_t n)
{
	return sonde__keymap_get_h(m, k, n, sonde__keymap_hash(k, n));
}

int sonde__keymap_put_h(sonde__keymap *m, const void *k, size_t n, uint64_t h, uint64_t v,
                        sonde__keymap_ent **ent)
{
	sonde__keymap_ent *got = sonde__keymap_get_h(m, k, n, h);
	if (got) {
		if (ent)
			*ent = got;
		return 0;
	}
	if (n > UINT32_MAX)
		return -EINVAL;
	if ((m->count + 1) * 2 > m->mask + 1) {
		size_t cap = m->e ? (m->mask + 1) * 2 : 64;
		sonde__keymap_ent *ne = calloc(cap, sizeof *ne);
		if (!ne)
			return -ENOMEM;
		for (size_t i = 0; m->e && i <= m->mask; i++) {
			if (!m->e[i].k)
				continue;
			size_t j = m->e[i].h & (cap - 1);
			while (ne[j].k)
				j = (j + 1) & (cap - 1);
			ne[j] = m->e[i];
		}
		free(m->e);
		m->e = ne;
		m->mask = cap - 1;
	}
	const uint8_t *copy = sonde_arena_memdup(&m->arena, k, n ? n : 1);
	if (!copy)
		return -ENOMEM;
	size_t i = h & m->mask;
	while (m->e[i].k)
		i = (i + 1) & m->mask;
	m->e[i] = (sonde__keymap_ent){h, copy, (uint32_t)n, v};
	m->count++;
	if (ent)
		*ent = &m->e[i];
	return 1;
}

int sonde__keymap_put(sonde__keymap *m, const void *k, size_t n, uint64_t v, sonde__keymap_ent **ent)
{
	return sonde__keymap_put_h(m, k, n, sonde__keymap_hash(k, n), v, ent);
}
