/*
 * ptrmap.c - the pointer-keyed hash map (see ptrmap.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "hash.h"
#include "ptrmap.h"

enum { PTRMAP_MIN_CAP = 16 };

static uint64_t key_hash(sonde_ptrmap_key k)
{
	return sonde_hash_mix((uint64_t)(uintptr_t)k.a ^ 0xa0761d6478bd642full,
	                      ((uint64_t)(uintptr_t)k.b * 31) ^ k.n ^ 0xe7037ed1a0b428dbull);
}

static bool key_eq(sonde_ptrmap_key x, sonde_ptrmap_key y)
{
	return x.a == y.a && x.b == y.b && x.n == y.n;
}

void sonde_ptrmap_init(sonde_ptrmap *m)
{
	m->slots = NULL;
	m->mask = m->count = 0;
}

void sonde_ptrmap_release(sonde_ptrmap *m)
{
	if (!m)
		return;
	free(m->slots);
	sonde_ptrmap_init(m);
}

void *sonde_ptrmap_find(const sonde_ptrmap *m, sonde_ptrmap_key k)
{
	if (!m->slots)
		return NULL;
	for (size_t i = key_hash(k) & m->mask;; i = (i + 1) & m->mask) {
		if (!m->slots[i].v || key_eq(m->slots[i].k, k))
			return m->slots[i].v;
	}
}

/* Moves every entry into a new table of twice the capacity (PTRMAP_MIN_CAP for the
 * first). */
static int grow(sonde_ptrmap *m)
{
	size_t cap = m->slots ? (m->mask + 1) * 2 : PTRMAP_MIN_CAP;
	sonde_ptrmap_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; m->slots && i <= m->mask; i++) {
		if (!m->slots[i].v)
			continue;
		size_t j = key_hash(m->slots[i].k) & (cap - 1);
		while (slots[j].v)
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->mask = cap - 1;
	return 0;
}

int sonde_ptrmap_add(sonde_ptrmap *m, sonde_ptrmap_key k, void *v)
{
	if (!v)
		return -EINVAL;
	if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
		int rc = grow(m);
		if (rc < 0)
			return rc;
	}
	size_t j = key_hash(k) & m->mask;
	while (m->slots[j].v)
		j = (j + 1) & m->mask;
	m->slots[j] = (sonde_ptrmap_slot){k, v};
	m->count++;
	return 0;
}
