/*
 * keymap.c - the byte-string keyed hash map of the analyses (see keymap.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "keymap.h"

enum { KEYMAP_MIN_CAP = 16 };

void sonde_keymap_init(sonde_keymap *m)
{
	m->slots = NULL;
	m->mask = m->count = 0;
	sonde_arena_init(&m->arena);
}

void sonde_keymap_release(sonde_keymap *m)
{
	if (!m)
		return;
	free(m->slots);
	sonde_arena_release(&m->arena);
	sonde_keymap_init(m);
}

static bool slot_is(const sonde_keymap_slot *s, uint64_t h, const void *key, size_t n)
{
	return s->hash == h && s->len == n && memcmp(s->key, key, n) == 0;
}

int sonde_keymap_find(const sonde_keymap *m, const void *key, size_t n, uint32_t *value)
{
	if (!m->slots)
		return 0;
	uint64_t h = sonde_hash_bytes(key, n, 0);
	for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
		const sonde_keymap_slot *s = &m->slots[i];
		if (!s->key)
			return 0;
		if (slot_is(s, h, key, n)) {
			*value = s->value;
			return 1;
		}
	}
}

static int grow(sonde_keymap *m)
{
	size_t cap = m->slots ? (m->mask + 1) * 2 : KEYMAP_MIN_CAP;
	sonde_keymap_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; m->slots && i <= m->mask; i++) {
		if (!m->slots[i].key)
			continue;
		size_t j = m->slots[i].hash & (cap - 1);
		while (slots[j].key)
			j = (j + 1) & (cap - 1);
		slots[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = slots;
	m->mask = cap - 1;
	return 0;
}

int sonde_keymap_upsert(sonde_keymap *m, const void *key, size_t n, uint32_t new_value, uint32_t *value,
                        const char **key_copy)
{
	if (n > UINT32_MAX)
		return -E2BIG;
	uint64_t h = sonde_hash_bytes(key, n, 0);
	if (m->slots) {
		for (size_t i = h & m->mask;; i = (i + 1) & m->mask) {
			const sonde_keymap_slot *s = &m->slots[i];
			if (!s->key)
				break;
			if (slot_is(s, h, key, n)) {
				*value = s->value;
				if (key_copy)
					*key_copy = s->key;
				return 0;
			}
		}
	}
	if (!m->slots || (m->count + 1) * 2 > m->mask + 1) {
		int rc = grow(m);
		if (rc < 0)
			return rc;
	}
	char *copy = sonde_arena_strndup(&m->arena, key, n);
	if (!copy)
		return -ENOMEM;
	size_t j = h & m->mask;
	while (m->slots[j].key)
		j = (j + 1) & m->mask;
	m->slots[j] = (sonde_keymap_slot){copy, (uint32_t)n, new_value, h};
	m->count++;
	*value = new_value;
	if (key_copy)
		*key_copy = copy;
	return 1;
}
