/*
 * ptrmap.h - a hash map from pointer keys to objects, for readers that look up by
 * interned name.
 *
 * A key is up to two pointers and a number, compared by value: the pointers stand for
 * what they point to only when it is interned (equal strings, one pointer). Values are
 * non-NULL pointers the map borrows. Entries are never removed; the table is open
 * addressing with linear probing and doubles when half full, so lookups stay
 * constant-time however many keys the input names. A zero-filled sonde_ptrmap is an
 * empty map, as is one from sonde_ptrmap_init(). Not thread-safe.
 */
#ifndef SONDE_PTRMAP_H
#define SONDE_PTRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct sonde_ptrmap_key {
	const void *a, *b; /* compared as pointers; either may be NULL */
	uint64_t n;
} sonde_ptrmap_key;

typedef struct sonde_ptrmap_slot {
	sonde_ptrmap_key k;
	void *v; /* NULL: an empty slot */
} sonde_ptrmap_slot;

typedef struct sonde_ptrmap {
	sonde_ptrmap_slot *slots; /* owned; NULL until the first add */
	size_t mask;              /* capacity - 1 (capacity is a power of two), or 0 */
	size_t count;
} sonde_ptrmap;

/* Initialises an empty map; it allocates nothing until the first add. */
void sonde_ptrmap_init(sonde_ptrmap *m);
/* Frees the table (not the values, which the map only borrows) and leaves m empty. NULL
 * is a no-op. */
void sonde_ptrmap_release(sonde_ptrmap *m);
/* Returns the value stored under k (borrowed, as it was given to add), or NULL when k is
 * absent. */
void *sonde_ptrmap_find(const sonde_ptrmap *m, sonde_ptrmap_key k);
/* Stores v (borrowed; non-NULL) under k, which must be absent (check with find first).
 * Returns 0, -EINVAL when v is NULL, or -ENOMEM when the table could not grow; m is
 * unchanged on failure. */
int sonde_ptrmap_add(sonde_ptrmap *m, sonde_ptrmap_key k, void *v);

#endif
