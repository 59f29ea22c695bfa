/* intern.c - string interning (see intern.h). Linear probing; load factor kept under 1/2. */
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "intern.h"

void sonde_intern_init(sonde_intern *t, sonde_arena *arena)
{
	memset(t, 0, sizeof(*t));
	t->arena = arena;
}

void sonde_intern_release(sonde_intern *t)
{
	if (!t)
		return;
	free(t->slots);
	t->slots = NULL;
	t->mask = 0;
	t->count = 0;
}

static int rehash(sonde_intern *t, size_t cap)
{
	sonde_intern_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	size_t mask = cap - 1;
	if (t->slots) {
		for (size_t i = 0; i <= t->mask; i++) {
			sonde_intern_slot s = t->slots[i];
			if (!s.str)
				continue;
			size_t j = s.hash32 & mask;
			while (slots[j].str)
				j = (j + 1) & mask;
			slots[j] = s;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->mask = mask;
	return 0;
}

const char *sonde_intern_str(sonde_intern *t, const char *s, size_t n)
{
	if (n > UINT32_MAX)
		return NULL;
	if (!t->slots || (t->count + 1) * 2 > t->mask + 1) {
		size_t cap = t->slots ? (t->mask + 1) * 2 : 64;
		if (rehash(t, cap) < 0)
			return NULL;
	}
	uint32_t h = (uint32_t)sonde_hash_bytes(s, n, 0);
	size_t i = h & t->mask;
	for (;;) {
		sonde_intern_slot *slot = &t->slots[i];
		if (!slot->str)
			break;
		if (slot->hash32 == h && slot->len == n && memcmp(slot->str, s, n) == 0)
			return slot->str;
		i = (i + 1) & t->mask;
	}
	char *copy = sonde_arena_strndup(t->arena, s, n);
	if (!copy)
		return NULL;
	t->slots[i].str = copy;
	t->slots[i].len = (uint32_t)n;
	t->slots[i].hash32 = h;
	t->count++;
	return copy;
}
