/*
 * intern.h - string interning: equal strings share one copy.
 *
 * A sonde_intern table maps byte strings to a single NUL-terminated copy kept in an arena
 * the caller owns (the table borrows it). Interned strings live as long as that arena;
 * equal interned strings from one table compare equal by pointer. The table itself is
 * an open-addressing hash set that grows by doubling. Not thread-safe.
 */
#ifndef SONDE_INTERN_H
#define SONDE_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

typedef struct sonde_intern_slot {
	const char *str; /* NULL: empty slot */
	uint32_t len;
	uint32_t hash32;
} sonde_intern_slot;

typedef struct sonde_intern {
	sonde_arena *arena;       /* borrowed: where the copies live */
	sonde_intern_slot *slots; /* owned */
	size_t mask;              /* capacity - 1 (capacity is a power of two), or 0 */
	size_t count;
} sonde_intern;

/* Initialises an empty table whose strings will be allocated in arena (borrowed; must
 * outlive every interned string). */
void sonde_intern_init(sonde_intern *t, sonde_arena *arena);
/* Frees the table's index; the strings stay in the arena. NULL is a no-op. */
void sonde_intern_release(sonde_intern *t);
/* Returns the single copy of s[0..n) (NUL-terminated), or NULL when out of memory or
 * n > UINT32_MAX. */
const char *sonde_intern_str(sonde_intern *t, const char *s, size_t n);

#endif
