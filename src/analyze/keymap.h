/*
 * keymap.h - a hash map from byte-string keys to small integers, for the analyses that
 * group records by a key they build (service, operation, normalised statement).
 *
 * The map copies each key into its own arena, so callers may pass keys from a scratch
 * buffer; the copy lives until sonde_keymap_release(). Values are uint32_t, usually an
 * index into the caller's array of groups. Entries are never removed; the table is open
 * addressing with linear probing and doubles when half full. A zero-filled map is empty.
 * Not thread-safe.
 */
#ifndef SONDE_KEYMAP_H
#define SONDE_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

typedef struct sonde_keymap_slot {
	const char *key; /* NULL: empty slot; else a NUL-terminated copy in the map's arena */
	uint32_t len;
	uint32_t value;
	uint64_t hash;
} sonde_keymap_slot;

typedef struct sonde_keymap {
	sonde_keymap_slot *slots; /* owned; NULL until the first add */
	size_t mask;              /* capacity - 1, or 0 */
	size_t count;
	sonde_arena arena; /* owns the key copies */
} sonde_keymap;

/* Initialises an empty map; nothing is allocated until the first add. */
void sonde_keymap_init(sonde_keymap *m);
/* Frees the table and the key copies; the map is empty and usable again. NULL is a no-op. */
void sonde_keymap_release(sonde_keymap *m);

/* Looks key[0..n) up. Returns 1 and sets *value when present, 0 when absent. */
int sonde_keymap_find(const sonde_keymap *m, const void *key, size_t n, uint32_t *value);

/* Looks key[0..n) up and, when absent, adds it with new_value. Sets *value to the stored
 * value and, when key_copy is non-NULL, *key_copy to the map's NUL-terminated copy of the
 * key (borrowed until sonde_keymap_release()). Returns 1 when the key was added, 0 when
 * it was present, -ENOMEM (map unchanged) or -E2BIG when n > UINT32_MAX. */
int sonde_keymap_upsert(sonde_keymap *m, const void *key, size_t n, uint32_t new_value, uint32_t *value,
                        const char **key_copy);

#endif
